//! A counted cell as the report, the review and the UI see it.

use serde::{Deserialize, Serialize};

/// One counted cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportCell {
    /// The cell's number on the slide (the tracker's id).
    pub id: u32,
    /// The frame the cell was classified in.
    pub frame: u64,
    /// The cell's box in frame pixels: `[x, y, width, height]`.
    pub bbox: [u32; 4],
    /// The class counted, `None` when the cell went to the unfamiliar or the unidentified
    /// bin.
    pub class: Option<usize>,
    /// The class's display name, or [`UNFAMILIAR`](Self::UNFAMILIAR) or
    /// [`UNIDENTIFIED`](Self::UNIDENTIFIED).
    pub class_name: String,
    /// The top probability.
    pub confidence: f32,
    /// The probability of each class, in the taxonomy's order.
    pub probabilities: Vec<f32>,
    /// The thumbnail's file name under the report folder, e.g. `cells/cell-0007.png`.
    /// [`write_report`](crate::report::write_report) sets it from the thumbnails it writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<String>,
    /// The cell went to the unfamiliar bin: unlike the cells the model learnt from.
    /// Written only when true, so reports of models without a familiarity profile read
    /// as before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unfamiliar: bool,
    /// Its distance to the nearest class of the training cells, when it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<f32>,
    /// What the subtype model made of the cell, when the slide's model counted it a blast
    /// and a subtype model typed it: the subtype's name, or
    /// [`UNDETERMINED`](Self::UNDETERMINED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype: Option<String>,
}

impl ReportCell {
    /// The name of a cell's bin when it is unlike the cells the model learnt from.
    pub const UNFAMILIAR: &'static str = "unfamiliar";
    /// The name of a cell's bin when the model was unsure of it.
    pub const UNIDENTIFIED: &'static str = "unidentified";
    /// A blast's subtype when the subtype model called it benign or was unsure of it.
    pub const UNDETERMINED: &'static str = "undetermined";
}
