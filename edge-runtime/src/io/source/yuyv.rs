//! YUYV (YUV 4:2:2, the uncompressed format of most USB cameras) to RGB.
//!
//! Each four bytes `Y0 U Y1 V` carry two pixels that share one colour pair. The camera's
//! values are taken as ITU-R BT.601 "studio range" (Y 16..235, U/V 16..240), which is what
//! UVC cameras send; the integer coefficients are the usual 8-bit fixed-point ones, so the
//! result is the same on every board.

use leukoscope_core::raster::RgbImage;

/// A raw YUYV buffer that does not match its stated size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum YuyvError {
    /// Fewer bytes than the size and row stride need (a frame cut short).
    #[error("a YUYV frame needs {needed} bytes but only {got} came")]
    Short {
        /// Bytes needed.
        needed: usize,
        /// Bytes delivered.
        got: usize,
    },
    /// A row stride shorter than two bytes per pixel, or a zero size.
    #[error("a {width}x{height} YUYV frame cannot have rows of {stride} bytes")]
    BadLayout {
        /// Pixels per row.
        width: u32,
        /// Rows.
        height: u32,
        /// Bytes per row, as the driver reported it.
        stride: usize,
    },
}

/// Converts a `width` x `height` YUYV frame whose rows start `stride` bytes apart (the
/// driver's `bytesperline`, at least `2 * width` rounded up to whole pixel pairs).
pub fn yuyv_to_rgb(
    data: &[u8],
    width: u32,
    height: u32,
    stride: usize,
) -> Result<RgbImage, YuyvError> {
    let (w, h) = (width as usize, height as usize);
    // An odd width still comes in whole pairs: the last pair carries one pixel of padding.
    let row_bytes = w.div_ceil(2) * 4;
    if w == 0 || h == 0 || stride < row_bytes {
        return Err(YuyvError::BadLayout {
            width,
            height,
            stride,
        });
    }
    let needed = stride * (h - 1) + row_bytes;
    if data.len() < needed {
        return Err(YuyvError::Short {
            needed,
            got: data.len(),
        });
    }
    let mut rgb = Vec::with_capacity(w * h * 3);
    for row in data.chunks(stride).take(h) {
        let mut left = w;
        for quad in row[..row_bytes].chunks_exact(4) {
            let (u, v) = (quad[1], quad[3]);
            rgb.extend_from_slice(&pixel(quad[0], u, v));
            if left >= 2 {
                rgb.extend_from_slice(&pixel(quad[2], u, v));
            }
            left = left.saturating_sub(2);
        }
    }
    Ok(RgbImage::from_raw(width, height, rgb)
        .expect("three bytes were written for each of the width x height pixels"))
}

/// One BT.601 studio-range pixel to full-range RGB.
fn pixel(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = 298 * (i32::from(y) - 16);
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [
        clamp(c + 409 * e),
        clamp(c - 100 * d - 208 * e),
        clamp(c + 516 * d),
    ]
}

#[cfg(test)]
mod tests;
