//! What a slide leaves on disk, and the types it is written in.
//!
//! Every type here is persisted (in a journal, a review journal or `report.json`) and
//! nothing here imports from the rest of the crate, so a record's shape is decided in one
//! place and every reader and writer sees the same one.
//!
//! - [`journal`]: the append-only, crash-safe record of every classified cell.
//! - [`review`]: the reviewer's verdicts on cells and sign-off, in a review journal.
//! - [`cell_images`]: the picture of every counted cell as the model saw it.

pub mod cell_images;
pub mod journal;
pub mod review;
