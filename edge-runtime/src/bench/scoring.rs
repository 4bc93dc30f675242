//! Detection scored against frames with a box drawn around every cell (`eval-detect`).
//!
//! The truth is a CSV file with a header and one box per row,
//! `image,x_min,y_min,x_max,y_max,label` in frame pixels, as `../shared/data-sources`
//! writes it; the label is `WBC`, `RBC` or `Platelets` (any case; `white`, `red` and
//! `platelet` too). A detection is a nucleus centre; it is matched to the white-cell box it
//! falls in (the box whose centre is nearest, where boxes overlap):
//!
//! - a box with at least one detection is **found** (recall: found over boxes);
//! - every detection after the first in the same box is **twice**: a lobed nucleus read
//!   as several cells;
//! - a detection in no white-cell box is **outside**: a red cell, a platelet clump,
//!   debris;
//! - precision is found over all detections, so cells counted twice cost precision too.
//!
//! A white cell boxed twice (two boxes overlapping by at least [`SAME_CELL_IOU`] of their
//! union: in the TXL-PBC boxes 7 such pairs in `bcd` overlap by 0.54 to 0.74, 5 copies of
//! one box in `raabin`, and no two other boxes by more than 0.2) is one cell, counted in
//! **drawn twice**.
//!
//! The red-cell boxes give each frame's true scale: a normal red cell is
//! [`RED_CELL_UM`] across, and the median box over whole, roughly round red cells (not
//! cut by the frame's edge, not a clump) says how many pixels that is.

use std::collections::BTreeMap;
use std::io::Read;

use serde::Serialize;

use crate::scan::scale::RED_CELL_UM;

/// Overlap, as intersection over union, from which two white-cell boxes are one cell drawn
/// twice.
pub const SAME_CELL_IOU: f32 = 0.5;

/// Least red-cell boxes a frame needs for its own scale.
const MIN_RED_BOXES: usize = 3;
/// Widest width-to-height ratio of a box read as one red cell (wider: overlapping cells).
const MAX_RED_ASPECT: f32 = 1.3;

/// What a box surrounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoxLabel {
    /// A white cell: what the detector must find.
    White,
    /// A red cell: the scale's truth.
    Red,
    /// A platelet or platelet clump: never to be counted.
    Platelet,
}

/// A box in frame pixels, edges included.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelBox {
    /// Left edge.
    pub x0: f32,
    /// Top edge.
    pub y0: f32,
    /// Right edge.
    pub x1: f32,
    /// Bottom edge.
    pub y1: f32,
}

impl PixelBox {
    fn contains(&self, (x, y): (f32, f32)) -> bool {
        (self.x0..=self.x1).contains(&x) && (self.y0..=self.y1).contains(&y)
    }

    /// Intersection over union with `other`.
    fn iou(&self, other: &PixelBox) -> f32 {
        let w = (self.x1.min(other.x1) - self.x0.max(other.x0)).max(0.0);
        let h = (self.y1.min(other.y1) - self.y0.max(other.y0)).max(0.0);
        let area = |b: &PixelBox| (b.x1 - b.x0) * (b.y1 - b.y0);
        let union = area(self) + area(other) - w * h;
        if union > 0.0 { w * h / union } else { 1.0 }
    }

    fn centre_distance2(&self, (x, y): (f32, f32)) -> f32 {
        let (cx, cy) = ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0);
        (x - cx).powi(2) + (y - cy).powi(2)
    }
}

/// The boxes of one frame, by label.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrameBoxes {
    /// White cells.
    pub white: Vec<PixelBox>,
    /// Red cells.
    pub red: Vec<PixelBox>,
    /// Platelets.
    pub platelets: Vec<PixelBox>,
}

/// Why a box file was refused; rows are counted from 1, the header being row 1.
#[derive(Debug, thiserror::Error)]
pub enum BoxFileError {
    /// The file is not CSV, or a row has the wrong number of fields.
    #[error("the box file is not CSV as expected: {0}")]
    Csv(#[from] csv::Error),
    /// The header lacks a column.
    #[error("the box file has no `{0}` column (expected image,x_min,y_min,x_max,y_max,label)")]
    MissingColumn(&'static str),
    /// A coordinate is not a finite number, or the box is upside down.
    #[error("row {row}: {reason}")]
    BadBox {
        /// The row.
        row: u64,
        /// What is wrong, with the value (cut to 40 characters).
        reason: String,
    },
    /// A label that is none of the three.
    #[error("row {row}: unknown label `{label}` (expected WBC, RBC or Platelets)")]
    UnknownLabel {
        /// The row.
        row: u64,
        /// The label (cut to 40 characters).
        label: String,
    },
}

/// Every frame's boxes, by the frame's file name.
pub fn read_boxes(reader: impl Read) -> Result<BTreeMap<String, FrameBoxes>, BoxFileError> {
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(reader);
    let header = csv.headers()?.clone();
    let column = |name: &'static str| {
        header
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or(BoxFileError::MissingColumn(name))
    };
    let image = column("image")?;
    let corners = [
        column("x_min")?,
        column("y_min")?,
        column("x_max")?,
        column("y_max")?,
    ];
    let label_at = column("label")?;
    let mut frames: BTreeMap<String, FrameBoxes> = BTreeMap::new();
    for (i, record) in csv.records().enumerate() {
        let record = record?;
        let row = i as u64 + 2;
        let field = |at: usize| record.get(at).unwrap_or("");
        let mut values = [0f32; 4];
        for (value, &at) in values.iter_mut().zip(&corners) {
            *value = field(at)
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| BoxFileError::BadBox {
                    row,
                    reason: format!("`{}` is not a coordinate", cut(field(at))),
                })?;
        }
        let [x0, y0, x1, y1] = values;
        if x1 < x0 || y1 < y0 {
            return Err(BoxFileError::BadBox {
                row,
                reason: format!("the box ({x0}, {y0})-({x1}, {y1}) ends before it starts"),
            });
        }
        let label = field(label_at);
        let kind = parse_label(label).ok_or_else(|| BoxFileError::UnknownLabel {
            row,
            label: cut(label),
        })?;
        let boxes = frames.entry(field(image).to_owned()).or_default();
        let pixel_box = PixelBox { x0, y0, x1, y1 };
        match kind {
            BoxLabel::White => boxes.white.push(pixel_box),
            BoxLabel::Red => boxes.red.push(pixel_box),
            BoxLabel::Platelet => boxes.platelets.push(pixel_box),
        }
    }
    Ok(frames)
}

fn parse_label(label: &str) -> Option<BoxLabel> {
    let l = label.to_ascii_lowercase();
    match l.as_str() {
        "wbc" | "white" => Some(BoxLabel::White),
        "rbc" | "red" => Some(BoxLabel::Red),
        "platelets" | "platelet" | "plt" => Some(BoxLabel::Platelet),
        _ => None,
    }
}

fn cut(text: &str) -> String {
    text.chars().take(40).collect()
}

/// How one frame's detections fare against its white-cell boxes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DetectionScore {
    /// Boxed white cells.
    pub white_cells: usize,
    /// Boxed white cells with at least one detection.
    pub found: usize,
    /// All detections.
    pub detections: usize,
    /// Detections after the first in the same white cell.
    pub twice: usize,
    /// Detections in no white cell.
    pub outside: usize,
    /// Boxes left out as a second box around a cell already boxed.
    pub drawn_twice: usize,
}

impl DetectionScore {
    /// Found over boxed white cells (1 when there are none).
    pub fn recall(&self) -> f64 {
        ratio(self.found, self.white_cells)
    }

    /// Found over detections (1 when there are none).
    pub fn precision(&self) -> f64 {
        ratio(self.found, self.detections)
    }

    /// The two scores summed, for a total over frames.
    pub fn add(&mut self, other: &DetectionScore) {
        self.white_cells += other.white_cells;
        self.found += other.found;
        self.detections += other.detections;
        self.twice += other.twice;
        self.outside += other.outside;
        self.drawn_twice += other.drawn_twice;
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

/// Scores detections, given by their centres in frame pixels, against `white` boxes.
pub fn score_frame(white: &[PixelBox], centres: &[(f32, f32)]) -> DetectionScore {
    let mut cells: Vec<PixelBox> = Vec::with_capacity(white.len());
    for b in white {
        if !cells.iter().any(|c| c.iou(b) >= SAME_CELL_IOU) {
            cells.push(*b);
        }
    }
    let drawn_twice = white.len() - cells.len();
    let white = &cells;
    let mut hits = vec![0usize; white.len()];
    let mut outside = 0;
    for &c in centres {
        let nearest = white
            .iter()
            .enumerate()
            .filter(|(_, b)| b.contains(c))
            .min_by(|(_, a), (_, b)| a.centre_distance2(c).total_cmp(&b.centre_distance2(c)));
        match nearest {
            Some((i, _)) => hits[i] += 1,
            None => outside += 1,
        }
    }
    DetectionScore {
        white_cells: white.len(),
        found: hits.iter().filter(|&&n| n > 0).count(),
        detections: centres.len(),
        twice: hits.iter().map(|&n| n.saturating_sub(1)).sum(),
        outside,
        drawn_twice,
    }
}

/// The diameters, in pixels, of the red-cell boxes that show one whole red cell: not
/// within 2 pixels of the edge of a `width` x `height` frame, and no more than
/// [`MAX_RED_ASPECT`] times wider one way than the other. The diameter of a box is the
/// geometric mean of its sides.
pub fn whole_red_cell_diameters(red: &[PixelBox], width: u32, height: u32) -> Vec<f32> {
    let (w, h) = (width as f32, height as f32);
    red.iter()
        .filter(|b| b.x0 >= 2.0 && b.y0 >= 2.0 && b.x1 <= w - 3.0 && b.y1 <= h - 3.0)
        .map(|b| (b.x1 - b.x0, b.y1 - b.y0))
        .filter(|&(bw, bh)| bw > 0.0 && bh > 0.0 && bw.max(bh) <= MAX_RED_ASPECT * bw.min(bh))
        .map(|(bw, bh)| (bw * bh).sqrt())
        .collect()
}

/// Micrometres per pixel that red-cell `diameters` (pixels) imply: [`RED_CELL_UM`] over
/// their median; `None` under [`MIN_RED_BOXES`] of them.
pub fn scale_from_diameters(diameters: &[f32]) -> Option<f32> {
    if diameters.len() < MIN_RED_BOXES {
        return None;
    }
    let mut sorted = diameters.to_vec();
    sorted.sort_by(f32::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    Some(RED_CELL_UM / median)
}

#[cfg(test)]
mod tests;
