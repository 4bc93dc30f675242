//! RGB pixel buffers: owned images and borrowed windows into them.

use alloc::vec;
use alloc::vec::Vec;

/// An owned 8-bit RGB image, rows top to bottom, pixels interleaved `R, G, B`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RgbImage {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

/// A pixel buffer whose length does not match its dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[error("{len} bytes do not hold a {width}x{height} RGB image")]
pub struct SizeMismatch {
    /// Claimed width.
    pub width: u32,
    /// Claimed height.
    pub height: u32,
    /// Bytes given.
    pub len: usize,
}

impl RgbImage {
    /// A `width`x`height` image filled with one colour.
    pub fn filled(width: u32, height: u32, rgb: [u8; 3]) -> Self {
        let mut data = vec![0u8; width as usize * height as usize * 3];
        for px in data.chunks_exact_mut(3) {
            px.copy_from_slice(&rgb);
        }
        RgbImage {
            width,
            height,
            data,
        }
    }

    /// Wraps interleaved RGB bytes, checking their length.
    pub fn from_raw(width: u32, height: u32, data: Vec<u8>) -> Result<Self, SizeMismatch> {
        if (width as usize)
            .checked_mul(height as usize)
            .and_then(|n| n.checked_mul(3))
            != Some(data.len())
        {
            return Err(SizeMismatch {
                width,
                height,
                len: data.len(),
            });
        }
        Ok(RgbImage {
            width,
            height,
            data,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The interleaved bytes.
    pub fn as_raw(&self) -> &[u8] {
        &self.data
    }

    /// The interleaved bytes, mutably.
    pub fn as_raw_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Gives the bytes back.
    pub fn into_raw(self) -> Vec<u8> {
        self.data
    }

    /// The pixel at `(x, y)`, or `None` outside the image.
    pub fn get(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        self.view().get(x, y)
    }

    /// Sets the pixel at `(x, y)`; positions outside the image are ignored.
    pub fn put(&mut self, x: u32, y: u32, rgb: [u8; 3]) {
        if x < self.width && y < self.height {
            let i = (y as usize * self.width as usize + x as usize) * 3;
            self.data[i..i + 3].copy_from_slice(&rgb);
        }
    }

    /// The whole image as a view.
    pub fn view(&self) -> RgbView<'_> {
        RgbView {
            width: self.width,
            height: self.height,
            stride: self.width as usize * 3,
            data: &self.data,
        }
    }
}

/// A borrowed rectangle of RGB pixels (a whole image or a window of a larger frame).
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RgbView<'a> {
    width: u32,
    height: u32,
    /// Bytes from one row to the next.
    stride: usize,
    data: &'a [u8],
}

impl<'a> RgbView<'a> {
    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// One row's pixels, interleaved.
    pub fn row(&self, y: u32) -> &'a [u8] {
        let start = y as usize * self.stride;
        &self.data[start..start + self.width as usize * 3]
    }

    /// The pixel at `(x, y)`, or `None` outside the view.
    pub fn get(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = y as usize * self.stride + x as usize * 3;
        Some([self.data[i], self.data[i + 1], self.data[i + 2]])
    }

    /// The window `width`x`height` at `(x, y)`, clipped to the view.
    pub fn window(&self, x: u32, y: u32, width: u32, height: u32) -> RgbView<'a> {
        let x = x.min(self.width);
        let y = y.min(self.height);
        let width = width.min(self.width - x);
        let height = height.min(self.height - y);
        if width == 0 || height == 0 {
            return RgbView {
                width: 0,
                height: 0,
                stride: self.stride,
                data: &[],
            };
        }
        let start = y as usize * self.stride + x as usize * 3;
        let end = start + (height as usize - 1) * self.stride + width as usize * 3;
        RgbView {
            width,
            height,
            stride: self.stride,
            data: &self.data[start..end],
        }
    }

    /// Copies the view into an owned image.
    pub fn to_image(&self) -> RgbImage {
        let mut data = Vec::with_capacity(self.width as usize * self.height as usize * 3);
        for y in 0..self.height {
            data.extend_from_slice(self.row(y));
        }
        RgbImage {
            width: self.width,
            height: self.height,
            data,
        }
    }
}

#[cfg(test)]
mod tests;
