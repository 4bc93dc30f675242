//! The one routine that turns an RGB image into the model's input tensor.
//!
//! Trainer and edge both call [`Preprocess::run`], and the [`Preprocess`] that produced the
//! training inputs travels inside the model artifact, so the device sees exactly what the
//! network was trained on. The steps, in order:
//!
//! 1. resize the source to `height`x`width` with the stated [`ResizeFilter`] (values 0..255);
//! 2. stain normalization ([`StainNormalization`]) on the resized pixels, with masked pixels
//!    left out of its statistics;
//! 3. scale to 0..1 and normalize each channel, `(v / 255 - mean) / std`;
//! 4. set masked pixels (the scale bar burnt into a corner, say) to exactly 0.0, the value of
//!    an average pixel after normalization, so the network cannot learn from the overlay.
//!
//! The output is channel-major (CHW) `f32`. Only `libm` and nalgebra-on-`libm` math is used,
//! so the same input gives the same bits on every platform.

mod resize;
mod stain;

use alloc::vec;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::raster::RgbView;

pub use resize::ResizeFilter;
pub use stain::{MacenkoTarget, ReinhardTarget, StainNormalization};

/// How an image becomes the model's input tensor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Preprocess {
    /// Rows of the model input.
    pub height: u32,
    /// Columns of the model input.
    pub width: u32,
    /// The resampling filter.
    pub resize: ResizeFilter,
    /// Regions of the output to blank, in fractions of the output size.
    pub masks: Vec<MaskRect>,
    /// Colour normalization between resizing and channel normalization.
    pub stain: StainNormalization,
    /// Per-channel normalization of RGB scaled to 0..1.
    pub normalize: ChannelNorm,
}

/// A rectangle of the output, in fractions of its width (`x`) and height (`y`), each in
/// `[0, 1]`. An output pixel belongs to it when its centre lies in `[x0, x1) x [y0, y1)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MaskRect {
    /// Left edge.
    pub x0: f32,
    /// Top edge.
    pub y0: f32,
    /// Right edge (exclusive).
    pub x1: f32,
    /// Bottom edge (exclusive).
    pub y1: f32,
}

/// Per-channel normalization: `(v / 255 - mean) / std` for R, G, B.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChannelNorm {
    /// Channel means, in 0..1 units.
    pub mean: [f32; 3],
    /// Channel standard deviations, in 0..1 units; each must be positive.
    pub std: [f32; 3],
}

/// Why preprocessing could not run. Every failure on caller input is one of these, never a panic.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PreprocessError {
    /// The input image has no pixels.
    #[error("the image is empty ({width}x{height}); pass a crop with at least one pixel")]
    EmptyImage {
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
    },
    /// The output buffer's length is not `3 * height * width`.
    #[error("the output buffer holds {found} values but the input tensor needs {expected}")]
    OutputLength {
        /// `3 * height * width`.
        expected: usize,
        /// The buffer's length.
        found: usize,
    },
    /// The configured output has a zero side.
    #[error("the output size {width}x{height} has a zero side")]
    ZeroSize {
        /// Configured height.
        height: u32,
        /// Configured width.
        width: u32,
    },
    /// The configured output is larger than [`Preprocess::MAX_SIDE`] on some side.
    #[error("the output size {width}x{height} exceeds {max} on a side", max = Preprocess::MAX_SIDE)]
    TooLarge {
        /// Configured height.
        height: u32,
        /// Configured width.
        width: u32,
    },
    /// A channel normalization mean is not finite or its std is not a positive finite number.
    #[error(
        "channel {channel} normalization has mean {mean} and std {std}; the mean must be finite and the std positive"
    )]
    InvalidChannelNorm {
        /// 0, 1, 2 for R, G, B.
        channel: u8,
        /// The configured mean.
        mean: f32,
        /// The configured std.
        std: f32,
    },
    /// A mask rectangle is not within `[0, 1]` or has its corners swapped.
    #[error(
        "mask {index} ({x0}, {y0})-({x1}, {y1}) must lie within [0, 1] with x0 <= x1 and y0 <= y1"
    )]
    InvalidMask {
        /// Position in [`Preprocess::masks`].
        index: u32,
        /// Left edge.
        x0: f32,
        /// Top edge.
        y0: f32,
        /// Right edge.
        x1: f32,
        /// Bottom edge.
        y1: f32,
    },
    /// A Reinhard target mean is not finite or its std is not a positive finite number.
    #[error(
        "Reinhard target channel {channel} has mean {mean} and std {std}; the mean must be finite and the std positive"
    )]
    InvalidReinhardTarget {
        /// 0, 1, 2 for l, α, β.
        channel: u8,
        /// The target mean.
        mean: f32,
        /// The target std.
        std: f32,
    },
    /// A Macenko target is unusable.
    #[error("invalid Macenko target: {reason}")]
    InvalidMacenkoTarget {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Fitting a Macenko target: too few pixels of the reference are stained.
    #[error(
        "only {found} pixels of the reference are stained, {needed} are needed; pick a reference with more tissue"
    )]
    TooFewStainedPixels {
        /// Stained pixels found.
        found: usize,
        /// Stained pixels needed.
        needed: usize,
    },
    /// Fitting a target: the reference image cannot define one.
    #[error("the reference image cannot serve as a stain target: {reason}")]
    DegenerateReference {
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Reusable working memory for [`Preprocess::run_with_scratch`], so a caller that preprocesses
/// many crops (the edge, per detected cell) allocates once.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    /// One source row, gathered vertically by the resize.
    row: Vec<f32>,
    /// Per-pixel values the stain estimate takes percentiles of.
    values: Vec<f32>,
    /// Which output pixels are masked.
    mask: Vec<bool>,
}

impl Scratch {
    /// Empty working memory; it grows to what the first run needs and is then reused.
    pub fn new() -> Self {
        Self::default()
    }
}

impl ChannelNorm {
    /// The ImageNet statistics most pretrained backbones expect.
    pub const IMAGENET: ChannelNorm = ChannelNorm {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };

    /// Checks that the means are finite and the stds positive and finite.
    pub fn validate(&self) -> Result<(), PreprocessError> {
        for channel in 0..3 {
            let (mean, std) = (self.mean[channel], self.std[channel]);
            if !mean.is_finite() || !std.is_finite() || std <= 0.0 {
                return Err(PreprocessError::InvalidChannelNorm {
                    channel: channel as u8,
                    mean,
                    std,
                });
            }
        }
        Ok(())
    }
}

impl MaskRect {
    /// The scale bar the 4-class B-ALL field images carry in their bottom-right corner.
    pub const FIELD_SCALE_BAR: MaskRect = MaskRect::new(0.80, 0.86, 1.0, 1.0);

    /// A rectangle from its edges, in fractions of the output.
    pub const fn new(x0: f32, y0: f32, x1: f32, y1: f32) -> Self {
        MaskRect { x0, y0, x1, y1 }
    }

    /// Checks that the edges are in `[0, 1]` and ordered.
    pub fn validate(&self, index: u32) -> Result<(), PreprocessError> {
        let unit = |v: f32| (0.0..=1.0).contains(&v);
        if !(unit(self.x0) && unit(self.y0) && unit(self.x1) && unit(self.y1))
            || self.x0 > self.x1
            || self.y0 > self.y1
        {
            return Err(PreprocessError::InvalidMask {
                index,
                x0: self.x0,
                y0: self.y0,
                x1: self.x1,
                y1: self.y1,
            });
        }
        Ok(())
    }

    /// The output pixels covered, as `(x_start..x_end, y_start..y_end)` for a
    /// `width`x`height` output: those whose centre lies inside.
    pub fn pixels(
        &self,
        width: u32,
        height: u32,
    ) -> (core::ops::Range<u32>, core::ops::Range<u32>) {
        // Centre x + 0.5 >= x0 * width  <=>  x >= ceil(x0 * width - 0.5), likewise for the end.
        let edge = |f: f32, size: u32| -> u32 {
            let v = libm::ceilf(f * size as f32 - 0.5);
            if v <= 0.0 { 0 } else { (v as u32).min(size) }
        };
        let (xs, xe) = (edge(self.x0, width), edge(self.x1, width));
        let (ys, ye) = (edge(self.y0, height), edge(self.y1, height));
        (xs..xe.max(xs), ys..ye.max(ys))
    }
}

impl Preprocess {
    /// The largest output side accepted, far above any model input, so a corrupt artifact
    /// cannot ask for a tensor that exhausts memory.
    pub const MAX_SIDE: u32 = 4096;

    /// Defaults for windows of the 4-class B-ALL field images: antialiased bilinear resize,
    /// the bottom-right scale bar masked ([`MaskRect::FIELD_SCALE_BAR`]), no stain
    /// normalization, ImageNet channel statistics.
    pub fn field(height: u32, width: u32) -> Self {
        Preprocess {
            height,
            width,
            resize: ResizeFilter::Triangle,
            masks: vec![MaskRect::FIELD_SCALE_BAR],
            stain: StainNormalization::None,
            normalize: ChannelNorm::IMAGENET,
        }
    }

    /// Defaults for crops centred on one cell (C-NMC, ALL-IDB 2): as [`Preprocess::field`]
    /// but with nothing masked, since the crops carry no overlay.
    pub fn cell(height: u32, width: u32) -> Self {
        Preprocess {
            masks: Vec::new(),
            ..Self::field(height, width)
        }
    }

    /// Checks every number of the configuration. [`Preprocess::run`] does this itself; call it
    /// early (when loading an artifact) to fail before the first image.
    pub fn validate(&self) -> Result<(), PreprocessError> {
        let (height, width) = (self.height, self.width);
        if height == 0 || width == 0 {
            return Err(PreprocessError::ZeroSize { height, width });
        }
        if height > Self::MAX_SIDE || width > Self::MAX_SIDE {
            return Err(PreprocessError::TooLarge { height, width });
        }
        self.normalize.validate()?;
        for (index, mask) in self.masks.iter().enumerate() {
            mask.validate(u32::try_from(index).unwrap_or(u32::MAX))?;
        }
        self.stain.validate()
    }

    /// Values in the output tensor: `3 * height * width`.
    pub fn output_len(&self) -> usize {
        (self.height as usize)
            .saturating_mul(self.width as usize)
            .saturating_mul(3)
    }

    /// Preprocesses `image` into `out` (channel-major, `output_len()` values).
    ///
    /// Allocates its working memory on each call; see [`Preprocess::run_with_scratch`] to reuse it.
    pub fn run(&self, image: RgbView<'_>, out: &mut [f32]) -> Result<(), PreprocessError> {
        self.run_with_scratch(image, out, &mut Scratch::new())
    }

    /// Preprocesses `image` into a new tensor of `output_len()` values.
    pub fn run_to_vec(&self, image: RgbView<'_>) -> Result<Vec<f32>, PreprocessError> {
        // Validating before allocating: the size comes from the configuration.
        self.validate()?;
        let mut out = vec![0.0; self.output_len()];
        self.run(image, &mut out)?;
        Ok(out)
    }

    /// As [`Preprocess::run`], with working memory kept between calls.
    ///
    /// When Macenko normalization finds too few stained pixels in the resized image (fewer
    /// than 16 or than 1 % of the unmasked pixels), or cannot tell two stains apart, that
    /// image's colours pass through unchanged rather than failing: a crop of plain background
    /// is a normal occurrence at the edge. Reinhard likewise leaves an image with every pixel
    /// masked unchanged, and does not stretch a channel with no spread.
    pub fn run_with_scratch(
        &self,
        image: RgbView<'_>,
        out: &mut [f32],
        scratch: &mut Scratch,
    ) -> Result<(), PreprocessError> {
        self.validate()?;
        if image.width() == 0 || image.height() == 0 {
            return Err(PreprocessError::EmptyImage {
                width: image.width(),
                height: image.height(),
            });
        }
        let expected = self.output_len();
        if out.len() != expected {
            return Err(PreprocessError::OutputLength {
                expected,
                found: out.len(),
            });
        }

        resize::resize_into(
            image,
            self.width,
            self.height,
            self.resize,
            out,
            &mut scratch.row,
        );

        if self.stain != StainNormalization::None {
            let pixels = expected / 3;
            scratch.mask.clear();
            if !self.masks.is_empty() {
                scratch.mask.resize(pixels, false);
                for mask in &self.masks {
                    let (xs, ys) = mask.pixels(self.width, self.height);
                    for y in ys {
                        let row = y as usize * self.width as usize;
                        scratch.mask[row + xs.start as usize..row + xs.end as usize].fill(true);
                    }
                }
            }
            self.stain.apply(out, &scratch.mask, &mut scratch.values);
        }

        let plane = expected / 3;
        for (c, values) in out.chunks_exact_mut(plane).enumerate() {
            let (mean, std) = (self.normalize.mean[c], self.normalize.std[c]);
            for v in values {
                *v = (*v / 255.0 - mean) / std;
            }
        }

        for mask in &self.masks {
            let (xs, ys) = mask.pixels(self.width, self.height);
            for c in 0..3 {
                for y in ys.clone() {
                    let row = c * plane + y as usize * self.width as usize;
                    out[row + xs.start as usize..row + xs.end as usize].fill(0.0);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
