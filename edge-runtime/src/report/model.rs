//! Everything one slide's report says, as `report.json` holds it and the page shows it.

use leukoscope_core::raster::RgbImage;
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use super::reviewed::{ReviewedCounts, reviewed_counts};
use crate::records::review::ReviewState;
use crate::records::{RejectReason, ReportCell, ReviewVerdict, SignOffRecord};
use crate::scan::quality::QualityTally;
use crate::scan::scale::FrameScale;
use crate::scan::session::{ClassCount, SessionRules, SlideSummary};

/// What every page and the JSON of a report made with the synthetic demo model say first.
pub const DEMONSTRATION_WARNING: &str = "SYNTHETIC DEMONSTRATION MODEL — not for patients";

/// Everything one slide's report says.
///
/// Serialized with a leading `"warning"` field ([`DEMONSTRATION_WARNING`]) when the model
/// is the synthetic demonstration model, so no reader of the JSON can miss it; read back
/// (the review UI re-renders the page at sign-off) that field is ignored.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct SlideReport {
    /// The slide's identifier, as the operator typed it.
    pub slide_id: String,
    /// When the report was made, as the caller formats it (RFC 3339, UTC).
    pub generated: String,
    /// The program that made it, e.g. `leukoscope-edge 0.1.0`.
    pub tool: String,
    /// Where the frames came from, e.g. `replay of /data/x, 40 files`.
    pub source: String,
    /// The model that classified the cells.
    pub model: ModelInfo,
    /// Counts, malignant share with its interval, flag and disclaimer.
    pub summary: SlideSummary,
    /// Set when most frames were rejected (the re-focus / re-stain message): the page then
    /// shows it instead of a result, and lists the counts only as "not a result".
    pub advice: Option<String>,
    /// What the quality gate made of the frames.
    pub quality: QualityStats,
    /// Every cell counted.
    pub cells: Vec<ReportCell>,
    /// Every white cell never seen whole, where it was seen most (absent from reports
    /// made before such cells were recorded).
    #[serde(default)]
    pub partial_cells: Vec<PartialCell>,
    /// Mean time per frame in each stage.
    pub timings_ms: StageTimings,
    /// The true counts of a synthetic slide (demonstration), shown beside the counts.
    pub truth: Option<Vec<ClassCount>>,
    /// The reviewer's corrections and sign-off, once a reviewer has looked at the slide.
    #[serde(default)]
    pub review: Option<ReportReview>,
    /// The frames' scale and where it came from (absent from reports made before it was
    /// recorded).
    #[serde(default)]
    pub scale: Option<FrameScale>,
}

/// A white cell never seen whole: cut by the frame's edge in every frame that showed it,
/// so recorded but not classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialCell {
    /// The frame that showed most of its nucleus.
    pub frame: u64,
    /// Its nucleus' box in that frame's pixels: `[x, y, width, height]`.
    pub bbox: [u32; 4],
}

/// A slide's review, as its report shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportReview {
    /// The counts with the reviewer's verdicts applied.
    pub counts: ReviewedCounts,
    /// Every verdict the reviewer gave: `(cell id, verdict)`.
    pub verdicts: Vec<(u32, ReviewVerdict)>,
    /// The sign-off; `None` while the review is in progress.
    pub sign_off: Option<SignOffRecord>,
}

impl ReportReview {
    /// The review in `review` of a slide whose machine count `machine` of `cells` the
    /// flag's `rules` judged, as the report shows it.
    pub fn of(
        machine: &SlideSummary,
        cells: &[ReportCell],
        review: &ReviewState,
        rules: &SessionRules,
    ) -> Self {
        ReportReview {
            counts: reviewed_counts(machine, cells, review, rules),
            verdicts: review.verdicts.iter().map(|(&c, &v)| (c, v)).collect(),
            sign_off: review.sign_off.clone(),
        }
    }
}

impl Serialize for SlideReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Written by hand only to put the demonstration warning first, as a field of its
        // own, whenever the model is the demo model.
        let warning = self.model.demonstration.then_some(DEMONSTRATION_WARNING);
        let fields = 14 + usize::from(warning.is_some());
        let mut s = serializer.serialize_struct("SlideReport", fields)?;
        if let Some(warning) = warning {
            s.serialize_field("warning", warning)?;
        } else {
            s.skip_field("warning")?;
        }
        s.serialize_field("slide_id", &self.slide_id)?;
        s.serialize_field("generated", &self.generated)?;
        s.serialize_field("tool", &self.tool)?;
        s.serialize_field("source", &self.source)?;
        s.serialize_field("model", &self.model)?;
        s.serialize_field("summary", &self.summary)?;
        s.serialize_field("advice", &self.advice)?;
        s.serialize_field("quality", &self.quality)?;
        s.serialize_field("cells", &self.cells)?;
        s.serialize_field("partial_cells", &self.partial_cells)?;
        s.serialize_field("timings_ms", &self.timings_ms)?;
        s.serialize_field("truth", &self.truth)?;
        s.serialize_field("review", &self.review)?;
        s.serialize_field("scale", &self.scale)?;
        s.end()
    }
}

/// The model behind a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The model's name.
    pub name: String,
    /// The artifact's SHA-256 digest, in hex.
    pub digest: String,
    /// Who signed the artifact, `None` when it is unsigned.
    pub signed_by: Option<String>,
    /// The taxonomy's name.
    pub taxonomy: String,
    /// The weights' precision, e.g. `int8` or `f32`.
    pub precision: String,
    /// Whether this is the synthetic demonstration model; its reports then say
    /// [`DEMONSTRATION_WARNING`] prominently.
    pub demonstration: bool,
    /// The second model that typed the blasts' subtype, when the board has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype: Option<SubtypeModelInfo>,
}

/// The model that named the blasts' B-ALL subtype.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtypeModelInfo {
    /// The model's name.
    pub name: String,
    /// The artifact's SHA-256 digest, in hex.
    pub digest: String,
    /// Who signed the artifact, `None` when it is unsigned.
    pub signed_by: Option<String>,
    /// The taxonomy's name.
    pub taxonomy: String,
}

/// What the quality gate made of a slide's frames.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualityStats {
    /// Frames seen.
    pub frames: u32,
    /// Frames accepted and classified.
    pub accepted: u32,
    /// Frames rejected, one row per reason.
    pub rejected: Vec<RejectedCount>,
    /// Mean focus measure over the frames.
    pub mean_focus: f32,
    /// Mean fraction of clipped pixels over the frames (0 to 1).
    pub mean_clipped: f32,
    /// Frames the source could not deliver, by reason (absent from reports written before
    /// they were counted).
    #[serde(default)]
    pub unreadable: SkippedFrames,
}

/// Frames the source could not deliver (a file that is empty, cut short or not an image; a
/// damaged camera frame), by reason, with the first one's error: a slide read from a bad
/// copy must say so, not look like an empty smear.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SkippedFrames {
    /// How many for each reason.
    pub by_reason: std::collections::BTreeMap<String, u32>,
    /// The first one's error, in words.
    pub first: Option<String>,
}

impl SkippedFrames {
    /// Counts one more frame skipped for `reason`, whose error reads `error`.
    pub fn record(&mut self, reason: &str, error: impl FnOnce() -> String) {
        *self.by_reason.entry(reason.to_string()).or_default() += 1;
        if self.first.is_none() {
            self.first = Some(error());
        }
    }

    /// Frames skipped, all reasons together.
    pub fn total(&self) -> u32 {
        self.by_reason.values().sum()
    }

    /// "3 truncated JPEG, 2 not an image".
    pub fn by_reason_text(&self) -> String {
        self.by_reason
            .iter()
            .map(|(reason, n)| format!("{n} {reason}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl QualityStats {
    /// The statistics of `tally`, with one row per [`RejectReason`] (in the order the gate
    /// tests them) carrying its count and its remedy.
    pub fn from_tally(
        tally: &QualityTally,
        mean_focus: f32,
        mean_clipped: f32,
        unreadable: SkippedFrames,
    ) -> Self {
        QualityStats {
            frames: tally.frames(),
            accepted: tally.accepted,
            rejected: RejectReason::ALL
                .iter()
                .map(|&reason| RejectedCount {
                    reason: reason.to_string(),
                    remedy: reason.remedy().to_string(),
                    frames: tally.rejected_for(reason),
                })
                .collect(),
            mean_focus,
            mean_clipped,
            unreadable,
        }
    }
}

/// Frames rejected for one reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedCount {
    /// The reason, e.g. `out of focus`.
    pub reason: String,
    /// What the operator does about it.
    pub remedy: String,
    /// Frames rejected for it.
    pub frames: u32,
}

/// Mean milliseconds per frame in each stage of the pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimings {
    /// Frames the means are over.
    pub frames: u32,
    /// Quality gate.
    pub quality: f64,
    /// Cell detection.
    pub detect: f64,
    /// Tracking across frames.
    pub track: f64,
    /// Classification.
    pub classify: f64,
    /// Journal writes.
    pub journal: f64,
    /// The whole frame, end to end.
    pub total: f64,
}

/// The image of one cell, for the report's gallery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellThumbnail {
    /// The cell's id ([`ReportCell::id`]).
    pub id: u32,
    /// The crop around the cell.
    pub image: RgbImage,
}

/// One frame with its cells' boxes drawn in (see [`annotate`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The frame's number.
    pub frame: u64,
    /// The annotated frame.
    pub image: RgbImage,
}
