//! The slide's report: `report.json` for machines, one self-contained `report.html` for
//! people, the cell thumbnails and annotated frame snapshots as PNG files beside them.
//!
//! The HTML page carries everything inline (styles, and every image as a `data:` URI) so it
//! can be copied alone onto a USB stick, opened on a machine with no network, or printed to
//! PDF. Every file is written atomically (temporary name, `sync_all`, rename, directory
//! fsync) because boards lose power: after a cut there is either the old file or the whole
//! new one, never half of one.
//!
//! - [`model`]: everything a report says ([`SlideReport`]), as `report.json` holds it.
//! - [`folder`]: the report's folder: writing it whole, reading it back, rewriting it with a
//!   review.
//! - [`html`](mod@html): the self-contained page.
//! - [`annotate`](mod@annotate): frames with their cells' boxes drawn in, one colour per class.
//! - [`reviewed`]: the counts and flag after a reviewer's verdicts.
//! - [`text`]: errors put into words for people.

pub mod annotate;
pub mod folder;
pub mod html;
pub mod model;
pub mod reviewed;
pub mod text;

pub use annotate::{annotate, class_colour, shrink};
pub use folder::{
    CELLS_DIR, HTML_FILE, JSON_FILE, ReportError, ReportFiles, SNAPSHOTS_DIR, read_report,
    review_page, write_report, write_review,
};
pub use model::{
    CellThumbnail, DEMONSTRATION_WARNING, ModelInfo, PartialCell, QualityStats, RejectedCount,
    ReportReview, SkippedFrames, SlideReport, Snapshot, StageTimings, SubtypeModelInfo,
};
pub use reviewed::{ReviewedCounts, reviewed_counts, verdict_name};
pub use text::error_chain;

#[cfg(test)]
mod tests;
