//! Synthetic blood smears with ground truth, for tests and for training without patient
//! images.
//!
//! Two products share one renderer:
//! - [`field`]: a small square field (224x224 by default, about 0.42 um per pixel) whose
//!   white cells all belong to one class of the b-all-4 taxonomy, like the images of the
//!   4-class smear data set, with a box for every white cell.
//! - [`SyntheticSlide`]: a large virtual slide scanned frame by frame along a serpentine
//!   path, for the edge runtime's quality gate, tracker and counter.
//!
//! Pictures follow Beer-Lambert: every object adds optical density and the lamp shines
//! through, so overlapping red cells darken as on a real slide. The stain, lamp and
//! background come from the seed alone, never from the class, so only white-cell morphology
//! carries the class. Only a ChaCha8 stream, integer hashes and `libm` feed the pixels, so
//! a seed gives the same bytes on every platform.

mod field;
mod morphology;
mod paint;
mod random;
mod scalebar;
mod scene;
mod slide;
mod stain;
#[cfg(test)]
mod tests;

use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::raster::RgbImage;

pub use slide::{Defect, FrameCell, SlideFrame, SlideOptions, SyntheticSlide};

/// Names of the classes `field` and `SlideOptions::class_mix` index, in b-all-4 order.
pub const CLASS_NAMES: [&str; 4] = ["Benign", "Early Pre-B", "Pre-B", "Pro-B"];

/// Scale of the synthetic fields and, unless [`SlideOptions::um_per_px`] says otherwise,
/// of the slides: a 7.5 um red cell is about 18 pixels across, as in the 224x224 reference
/// fields. Shapes are sized in pixels at this scale.
pub const MICROMETRES_PER_PIXEL: f32 = 0.42;

/// Why a synthetic image could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SynthError {
    /// The class index is not one of the four b-all-4 classes.
    #[error("class {class} is not a b-all-4 class (0 Benign, 1 Early Pre-B, 2 Pre-B, 3 Pro-B)")]
    UnknownClass {
        /// The index given.
        class: u32,
    },
    /// A frame index past the end of the slide's scan.
    #[error("frame {index} is past the end of the scan ({count} frames)")]
    FrameOutOfRange {
        /// The index given.
        index: u32,
        /// Frames in the scan.
        count: u32,
    },
    /// An option outside the range the renderer supports.
    #[error("option `{option}` must be {expected}")]
    BadOption {
        /// The option's field name.
        option: &'static str,
        /// What it must be.
        expected: &'static str,
    },
}

/// A rectangle of whole pixels: columns `x..x + width`, rows `y..y + height`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BoundingBox {
    /// Leftmost column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
}

impl BoundingBox {
    /// Pixels inside.
    pub fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// Whether the pixel `(x, y)` lies inside.
    pub fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x && y >= self.y && x - self.x < self.width && y - self.y < self.height
    }
}

/// Ground truth for one white cell.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CellTruth {
    /// Unique within its field or slide; the same cell keeps its id in every frame.
    pub id: u32,
    /// b-all-4 class index (see [`CLASS_NAMES`]).
    pub class: u32,
    /// Centre of the cell, `[x, y]` in pixels of the image (or the world, for
    /// [`SyntheticSlide::cells`]); may lie outside a frame that shows only part of the cell.
    pub center: [f32; 2],
    /// The pixels whose centres lie inside the cell's outline (cytoplasm included), clipped
    /// to the image.
    pub bbox: BoundingBox,
}

/// What [`field`] draws.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FieldOptions {
    /// Side of the square image in pixels, 64 to 2048.
    pub size: u32,
    /// Whether to burn in the scale-bar label of the reference images (bottom right).
    pub scale_bar: bool,
    /// Fewest white cells; clamped to 1..=`max_white_cells`.
    pub min_white_cells: u32,
    /// Most white cells; clamped to at most 64. A field too crowded for the number drawn
    /// gets as many as fit, and always at least one.
    pub max_white_cells: u32,
}

impl Default for FieldOptions {
    fn default() -> Self {
        FieldOptions {
            size: 224,
            scale_bar: true,
            min_white_cells: 1,
            max_white_cells: 4,
        }
    }
}

/// A synthetic field and its ground truth.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticField {
    /// The picture, `size` x `size`.
    pub image: RgbImage,
    /// The class of every white cell in it.
    pub class: u32,
    /// One entry per white cell, ids counting from 0.
    pub cells: Vec<CellTruth>,
}

/// Renders a field of class `class` (0 Benign, 1 Early Pre-B, 2 Pre-B, 3 Pro-B).
///
/// The same `seed` and options give the same bytes everywhere. The stain, lamp and scale-bar
/// label depend on the seed only, so the same seed with another class gives the same colour
/// cast with other cells. Errors name a class or option out of range.
pub fn field(class: u32, seed: u64, options: &FieldOptions) -> Result<SyntheticField, SynthError> {
    field::compose(class, seed, options).map(|composed| composed.field)
}

/// The pixel box of the world-space extent `[x0, y0, x1, y1]`: pixels whose centres lie
/// within it, shifted by `-origin` and clipped to `width` x `height`; `None` when nothing is
/// left.
fn pixel_box(bounds: [f32; 4], origin: [i64; 2], width: u32, height: u32) -> Option<BoundingBox> {
    let x0 = (libm::ceilf(bounds[0] - 0.5) as i64 - origin[0]).max(0);
    let y0 = (libm::ceilf(bounds[1] - 0.5) as i64 - origin[1]).max(0);
    let x1 = (libm::floorf(bounds[2] - 0.5) as i64 - origin[0]).min(i64::from(width) - 1);
    let y1 = (libm::floorf(bounds[3] - 0.5) as i64 - origin[1]).min(i64::from(height) - 1);
    (x0 <= x1 && y0 <= y1).then(|| BoundingBox {
        x: x0 as u32,
        y: y0 as u32,
        width: (x1 - x0 + 1) as u32,
        height: (y1 - y0 + 1) as u32,
    })
}
