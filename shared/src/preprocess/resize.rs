//! Resampling an 8-bit RGB view into channel-major `f32` planes.
//!
//! The resize is separable: each output row is first gathered vertically into one source-width
//! row of `f32`, then filtered horizontally into the planes. That keeps the working memory to a
//! single source row whatever the scale factor, and the arithmetic (plain `f32` adds and
//! multiplies plus `libm::floorf`, in a fixed order) gives the same bits on every platform.

use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::raster::RgbView;

/// How source pixels are combined into an output pixel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ResizeFilter {
    /// Antialiased bilinear, as PIL's `BILINEAR`: a triangle filter whose support widens with
    /// the downscale factor, so shrinking averages every source pixel instead of skipping
    /// some. Equal sizes give the input back exactly.
    Triangle,
    /// Area averaging: each output pixel is the mean of the source area its footprint covers,
    /// partly covered pixels weighted by the covered fraction (OpenCV's `INTER_AREA` when
    /// shrinking). Equal sizes give the input back exactly.
    Box,
}

/// The source pixels that feed one output pixel along one axis, and what the weights need.
#[derive(Clone, Copy)]
struct Window {
    start: usize,
    end: usize,
    /// Triangle: the centre in source coordinates. Box: the footprint's left edge.
    a: f32,
    /// Box: the footprint's right edge.
    b: f32,
}

/// The mapping from output to source coordinates along one axis.
struct Axis {
    filter: ResizeFilter,
    in_size: usize,
    scale: f32,
    /// Triangle only: half-width of the filter in source pixels.
    support: f32,
    /// Triangle only: 1 / (the factor the filter is widened by).
    inv_width: f32,
}

impl Axis {
    fn new(filter: ResizeFilter, in_size: u32, out_size: u32) -> Self {
        let scale = in_size as f32 / out_size as f32;
        // Widening only when shrinking is what makes the filter antialias; when enlarging it
        // stays an ordinary bilinear interpolation.
        let width = scale.max(1.0);
        Axis {
            filter,
            in_size: in_size as usize,
            scale,
            support: width,
            inv_width: 1.0 / width,
        }
    }

    fn window(&self, out: usize) -> Window {
        let clamp = |v: f32| -> usize {
            if v <= 0.0 {
                0
            } else {
                (v as usize).min(self.in_size)
            }
        };
        match self.filter {
            ResizeFilter::Triangle => {
                // PIL's window: every pixel whose centre lies within the support.
                let center = (out as f32 + 0.5) * self.scale;
                let start = clamp(libm::floorf(center - self.support + 0.5));
                let end = clamp(libm::floorf(center + self.support + 0.5)).max(start);
                Window {
                    start,
                    end,
                    a: center,
                    b: 0.0,
                }
            }
            ResizeFilter::Box => {
                let lo = out as f32 * self.scale;
                let hi = (out as f32 + 1.0) * self.scale;
                let start = clamp(libm::floorf(lo));
                let end = clamp(libm::ceilf(hi)).max(start + 1).min(self.in_size);
                Window {
                    start: start.min(end.saturating_sub(1)),
                    end,
                    a: lo,
                    b: hi,
                }
            }
        }
    }

    fn weight(&self, window: &Window, i: usize) -> f32 {
        let x = i as f32;
        match self.filter {
            ResizeFilter::Triangle => {
                let t = libm::fabsf((x + 0.5 - window.a) * self.inv_width);
                if t < 1.0 { 1.0 - t } else { 0.0 }
            }
            ResizeFilter::Box => ((x + 1.0).min(window.b) - x.max(window.a)).max(0.0),
        }
    }

    /// The sum of the window's weights, to normalize them so edges and odd ratios keep the
    /// image's brightness.
    fn total(&self, window: &Window) -> f32 {
        let mut total = 0.0;
        for i in window.start..window.end {
            total += self.weight(window, i);
        }
        total
    }
}

/// Resamples `image` to `width`x`height` into `planes` (channel-major, values 0..255).
///
/// The caller guarantees a non-empty image, non-zero output size and
/// `planes.len() == 3 * width * height`; `row` is reused working memory.
pub(crate) fn resize_into(
    image: RgbView<'_>,
    width: u32,
    height: u32,
    filter: ResizeFilter,
    planes: &mut [f32],
    row: &mut Vec<f32>,
) {
    let src_w = image.width() as usize;
    let out_w = width as usize;
    let plane = out_w * height as usize;
    let horizontal = Axis::new(filter, image.width(), width);
    let vertical = Axis::new(filter, image.height(), height);
    row.clear();
    row.resize(src_w * 3, 0.0);

    for oy in 0..height as usize {
        let window = vertical.window(oy);
        let total = vertical.total(&window);
        row.fill(0.0);
        for y in window.start..window.end {
            let k = normalized(vertical.weight(&window, y), total);
            let src = image.row(y as u32);
            for (acc, &v) in row.iter_mut().zip(src) {
                *acc += k * v as f32;
            }
        }

        for ox in 0..out_w {
            let window = horizontal.window(ox);
            let total = horizontal.total(&window);
            let mut sum = [0.0f32; 3];
            for x in window.start..window.end {
                let k = normalized(horizontal.weight(&window, x), total);
                let px = &row[x * 3..x * 3 + 3];
                for (s, &v) in sum.iter_mut().zip(px) {
                    *s += k * v;
                }
            }
            let at = oy * out_w + ox;
            for (c, s) in sum.into_iter().enumerate() {
                planes[c * plane + at] = s;
            }
        }
    }
}

fn normalized(weight: f32, total: f32) -> f32 {
    // Normalizing each weight before use (as PIL does) rather than dividing the sum keeps an
    // equal-size resize exact: the weights come out as exactly 1 and 0.
    if total > 0.0 { weight / total } else { 0.0 }
}
