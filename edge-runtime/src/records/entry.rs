//! The entries of a slide's journal and of its review journal, as they are encoded.
//!
//! Postcard is not self-describing: a field added, removed or reordered here changes the
//! bytes of every entry, so any change of shape is a new journal format version
//! (`records/journal/tests.rs` holds the golden bytes of every entry and fails on one).

use serde::{Deserialize, Serialize};

use super::frame_quality::FrameQuality;

/// One classified white cell, as it was counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    /// The slide the cell is on.
    pub slide: String,
    /// The frame (field of view) of the slide the cell was found in.
    pub frame: u64,
    /// The cell's box in frame pixels: x, y, width, height.
    pub bbox: [u32; 4],
    /// The model's probability for each class of its taxonomy, in taxonomy order.
    pub probabilities: Vec<f32>,
    /// SHA-256 digest of the model artifact that classified the cell.
    pub model_digest: [u8; 32],
}

/// One journal entry.
///
/// Postcard encodes the variant as its position, so new kinds of entry (reviewer corrections,
/// slide start and end) are only ever added at the end; reordering or removing a variant is a
/// format break and needs a new [`FORMAT_VERSION`](super::journal::FORMAT_VERSION).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum JournalEntry {
    /// A classified cell.
    Cell(CellRecord),
    /// A frame fully dealt with: judged by the quality gate and, if accepted, every new
    /// cell in it recorded. After a restart the slide resumes after the last such frame.
    Frame(FrameRecord),
    /// The slide is finished; nothing more is recorded for it.
    SlideEnd(SlideEndRecord),
    /// A reviewer's verdict on a counted cell; only in a slide's review journal
    /// ([`super::review`]).
    Correction(CorrectionRecord),
    /// A reviewer signed the slide off; only in a slide's review journal.
    SignOff(SignOffRecord),
    /// A white cell never seen whole, recorded apart and not classified.
    PartialCell(PartialCellRecord),
    /// The frames' scale as measured from the slide's red cells when it began.
    Scale(ScaleRecord),
    /// A classified cell with its distance to the cells the model learnt from: a model
    /// with a familiarity profile writes these instead of [`Cell`](Self::Cell).
    ComparedCell(ComparedCellRecord),
    /// The B-ALL subtype model's reading of a cell the slide's model called malignant:
    /// written right after that cell's entry, in the same batch.
    Subtype(SubtypeRecord),
}

impl JournalEntry {
    /// The entry of a classified cell: [`ComparedCell`](Self::ComparedCell) when its
    /// distance was measured, else [`Cell`](Self::Cell), so a model without a familiarity
    /// profile writes the bytes it always wrote.
    pub fn cell(cell: CellRecord, distance: Option<f32>) -> Self {
        match distance {
            Some(distance) => JournalEntry::ComparedCell(ComparedCellRecord { cell, distance }),
            None => JournalEntry::Cell(cell),
        }
    }

    /// The classified cell this entry records and its distance, whichever kind it is.
    pub fn as_cell(&self) -> Option<(&CellRecord, Option<f32>)> {
        match self {
            JournalEntry::Cell(cell) => Some((cell, None)),
            JournalEntry::ComparedCell(r) => Some((&r.cell, Some(r.distance))),
            _ => None,
        }
    }

    /// As [`as_cell`](Self::as_cell), taking the entry.
    pub fn into_cell(self) -> Option<(CellRecord, Option<f32>)> {
        match self {
            JournalEntry::Cell(cell) => Some((cell, None)),
            JournalEntry::ComparedCell(r) => Some((r.cell, Some(r.distance))),
            _ => None,
        }
    }
}

/// A classified cell and how far its features lay from those of the cells the model
/// learnt from. Kept beside the probabilities so that a resumed slide or a rebuilt report
/// puts the cell in the bin the scan put it in, without running the model again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparedCellRecord {
    /// The cell, as [`JournalEntry::Cell`] records it.
    pub cell: CellRecord,
    /// Its distance to the nearest class of the training cells
    /// (`FamiliarityProfile::distance`); infinite or not a number when its features were
    /// not numbers.
    pub distance: f32,
}

/// What the second, subtype model made of a cell the slide's model took for a blast.
/// Apart from the cell's entry, so that a slide read without a subtype model writes the
/// bytes it always wrote; the cell is named by its frame and box, as no two cells of a
/// frame share a box.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubtypeRecord {
    /// The slide.
    pub slide: String,
    /// The frame of the cell typed, as its cell entry gives it.
    pub frame: u64,
    /// The box of the cell typed, as its cell entry gives it.
    pub bbox: [u32; 4],
    /// The subtype model's probability for each class of its taxonomy, in taxonomy order.
    pub probabilities: Vec<f32>,
    /// SHA-256 digest of the subtype model's artifact.
    pub model_digest: [u8; 32],
}

/// A frame of a slide, once every cell it brought is recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameRecord {
    /// The slide.
    pub slide: String,
    /// The frame's index in its source.
    pub frame: u64,
    /// What the quality gate measured and decided.
    pub quality: FrameQuality,
}

/// A white cell whose nucleus was cut by the frame's edge (or, in a scan, lay within the
/// border margin) in every frame that showed it: too little of it was seen to classify it,
/// so it is counted apart from the classified cells. Written when its tracker segment
/// ends, so a later frame could no longer show it whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialCellRecord {
    /// The slide.
    pub slide: String,
    /// The frame that showed most of its nucleus.
    pub frame: u64,
    /// Its nucleus' box in that frame, in pixels: x, y, width, height.
    pub bbox: [u32; 4],
}

/// The scale a slide's frames are read at, measured from its red cells before its first
/// frame: a resumed slide keeps it rather than measuring again from other frames, so its
/// cells are found, and its report states, one scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleRecord {
    /// The slide.
    pub slide: String,
    /// Micrometres per pixel.
    pub um_per_px: f32,
    /// Relative standard uncertainty (0.04: plus or minus 4 %).
    pub uncertainty: f32,
    /// The red cells it rests on.
    pub red_cells: u32,
}

/// The end of a slide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlideEndRecord {
    /// The slide.
    pub slide: String,
    /// Why it ended, in words ("200 cells classified", "stopped by the operator").
    pub reason: String,
}

/// What the reviewer says a counted cell is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewVerdict {
    /// A class of the slide's taxonomy, by index.
    Class(u32),
    /// The reviewer cannot tell either: the unidentified bin.
    Unidentified,
    /// Not a white cell (debris, stain, a smudge): left out of every count.
    NotACell,
}

impl ReviewVerdict {
    /// The verdict as the machine's call of a cell: its class, or unidentified.
    pub fn of_machine(class: Option<usize>) -> Self {
        class.map_or(ReviewVerdict::Unidentified, |c| {
            ReviewVerdict::Class(c as u32)
        })
    }
}

/// A reviewer's verdict on one cell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrectionRecord {
    /// The slide.
    pub slide: String,
    /// The cell's id on the slide ([`ReportCell::id`](super::ReportCell::id)).
    pub cell: u32,
    /// What the reviewer says it is.
    pub verdict: ReviewVerdict,
    /// When (RFC 3339, UTC).
    pub at: String,
}

/// A reviewer's sign-off of a slide.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignOffRecord {
    /// The slide.
    pub slide: String,
    /// The reviewer's initials (never a name: see [`Initials`](super::review::Initials)).
    pub initials: String,
    /// When (RFC 3339, UTC).
    pub at: String,
}
