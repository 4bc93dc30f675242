//! What a slide leaves on disk, and the types it is written in.
//!
//! Every type re-exported here is persisted (in a slide's journal, its review journal or
//! its `report.json`), and nothing in this module imports from the rest of the crate: a
//! record's shape is decided here once, for every reader and writer.
//!
//! - [`JournalEntry`] and its records ([`CellRecord`], [`ComparedCellRecord`], [`PartialCellRecord`], [`ScaleRecord`], [`FrameRecord`], [`SlideEndRecord`],
//!   [`CorrectionRecord`], [`SignOffRecord`] with its [`ReviewVerdict`]); the gate's
//!   [`FrameQuality`] inside a frame record; the counted cell of a report, [`ReportCell`].
//! - [`journal`]: the append-only, crash-safe file those entries are written to.
//! - [`review`]: the reviewer's verdicts and sign-off, in a review journal beside the slide's.
//! - [`cell_images`]: the picture of every counted cell as the model saw it.
//! - [`layout`]: the data folder: where each slide's files go.

pub mod cell_images;
mod counted_cell;
mod entry;
mod frame_quality;
pub mod journal;
pub mod layout;
pub mod review;
mod time;

pub use counted_cell::ReportCell;
pub use entry::{
    CellRecord, ComparedCellRecord, CorrectionRecord, FrameRecord, JournalEntry, PartialCellRecord,
    ReviewVerdict, ScaleRecord, SignOffRecord, SlideEndRecord, SubtypeRecord,
};
pub use frame_quality::{FrameQuality, RejectReason, Verdict};
pub use time::now_rfc3339;
