//! The frame shrunk once, by summing square blocks of pixels, and its glass level: what the
//! quality gate, the detector and the tracker read of a frame.
//!
//! Each stage needs the frame only coarsely (averaging blocks also removes the sensor noise
//! that would pass for detail), so the pipeline makes one pass over a full-HD frame's six
//! megabytes, at the detector's block size, and the gate and the tracker read coarser
//! blocks from those sums ([`FrameBlocks::coarsen`]). The glass level, the light of bare
//! glass in each channel, is measured once here, for the gate's stain measure and for the
//! detector's optical density alike.

use leukoscope_core::raster::RgbImage;

/// Largest block side: sums of a block's channel must fit in `u16` (255 x 16 x 16).
pub const MAX_FACTOR: u32 = 16;

/// A frame's block sums and glass level; also the working memory reused from frame to frame.
#[derive(Clone, Debug)]
pub struct FrameBlocks {
    factor: u32,
    glass_percentile: f32,
    frame_size: (u32, u32),
    size: (u32, u32),
    /// Block sums, interleaved RGB, row-major.
    sums: Vec<u16>,
    /// One row of column sums while shrinking (`u16`: twice the lanes of `u32` in the
    /// vectorized add).
    row: Vec<u16>,
    /// Histograms of the block sums, per channel.
    levels: Vec<u32>,
    glass: [f32; 3],
}

impl FrameBlocks {
    /// Blocks of `factor` x `factor` pixels (clamped to 1..=[`MAX_FACTOR`]), the glass level
    /// taken at `glass_percentile` (50 to 100) of the blocks' brightness.
    pub fn new(factor: u32, glass_percentile: f32) -> Self {
        FrameBlocks {
            factor: factor.clamp(1, MAX_FACTOR),
            glass_percentile: glass_percentile.clamp(50.0, 100.0),
            frame_size: (0, 0),
            size: (0, 0),
            sums: Vec::new(),
            row: Vec::new(),
            levels: Vec::new(),
            glass: [255.0; 3],
        }
    }

    /// Sums the blocks of `frame` and measures its glass level; the right and bottom
    /// remainders (less than a block) are left out.
    pub fn shrink(&mut self, frame: &RgbImage) {
        let f = self.factor as usize;
        let (mw, mh) = (
            (frame.width() / self.factor) as usize,
            (frame.height() / self.factor) as usize,
        );
        self.frame_size = (frame.width(), frame.height());
        self.size = (mw as u32, mh as u32);
        let width = frame.width() as usize * 3;
        let raw = frame.as_raw();
        self.sums.clear();
        self.sums.reserve(mw * mh * 3);
        self.row.clear();
        self.row.resize(mw * f * 3, 0);
        for by in 0..mh {
            self.row.fill(0);
            // Column sums of the block row over its `f` rows; the used part of each row only.
            for y in by * f..(by + 1) * f {
                let src = &raw[y * width..y * width + mw * f * 3];
                for (acc, &v) in self.row.iter_mut().zip(src) {
                    *acc += u16::from(v);
                }
            }
            for block in self.row.chunks_exact(f * 3) {
                // At most 255 * 256 with `f` at most 16.
                let mut rgb = [0u16; 3];
                for px in block.chunks_exact(3) {
                    rgb[0] += px[0];
                    rgb[1] += px[1];
                    rgb[2] += px[2];
                }
                self.sums.extend_from_slice(&rgb);
            }
        }
        self.glass = self.measure_glass();
    }

    /// The side of a block, in frame pixels.
    pub fn factor(&self) -> u32 {
        self.factor
    }

    /// The last frame's size, in pixels.
    pub fn frame_size(&self) -> (u32, u32) {
        self.frame_size
    }

    /// The last frame's size, in blocks.
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// The block sums, interleaved RGB, row-major; each at most `255 * factor^2`.
    pub fn sums(&self) -> &[u16] {
        &self.sums
    }

    /// The frame averaged over each block: a picture `factor` times smaller.
    pub fn means(&self) -> RgbImage {
        let n = self.factor * self.factor;
        let data = self
            .sums
            .iter()
            .map(|&sum| ((u32::from(sum) + n / 2) / n) as u8)
            .collect();
        RgbImage::from_raw(self.size.0, self.size.1, data).expect("three sums per block")
    }

    /// The glass level per channel, 0 to 255: the light of bare glass, the brightest thing
    /// on a slide, read past the brightest few blocks so a specular or hot pixel does not
    /// set it.
    pub fn glass(&self) -> [f32; 3] {
        self.glass
    }

    /// The whole number of blocks per side nearest to `factor` pixels (at least one): the
    /// coarser grid a stage that wants blocks of about `factor` pixels reads.
    pub fn per_side(&self, factor: u32) -> u32 {
        ((factor as f32 / self.factor as f32).round() as u32).max(1)
    }

    /// Sums of `k` x `k` groups of blocks (the right and bottom remainders left out), each
    /// handed to `each` with its grid position, row by row; returns the coarse grid's size.
    pub fn coarsen(&self, k: u32, mut each: impl FnMut(u32, u32, [u32; 3])) -> (u32, u32) {
        let k = k.max(1) as usize;
        let (mw, mh) = (self.size.0 as usize, self.size.1 as usize);
        let (cw, ch) = (mw / k, mh / k);
        let mut row = vec![[0u32; 3]; cw];
        for cy in 0..ch {
            row.iter_mut().for_each(|s| *s = [0; 3]);
            for y in cy * k..(cy + 1) * k {
                let line = &self.sums[y * mw * 3..][..cw * k * 3];
                for (acc, group) in row.iter_mut().zip(line.chunks_exact(k * 3)) {
                    for px in group.chunks_exact(3) {
                        acc[0] += u32::from(px[0]);
                        acc[1] += u32::from(px[1]);
                        acc[2] += u32::from(px[2]);
                    }
                }
            }
            for (cx, &sum) in row.iter().enumerate() {
                each(cx as u32, cy as u32, sum);
            }
        }
        (cw as u32, ch as u32)
    }

    /// The glass percentile of each channel's block means, 0 to 255. The histograms count
    /// block sums as they are (`255 f^2 + 1` bins a channel), which spares a division per
    /// value.
    fn measure_glass(&mut self) -> [f32; 3] {
        let f2 = self.factor * self.factor;
        let bins = 255 * f2 as usize + 1;
        self.levels.clear();
        self.levels.resize(3 * bins, 0);
        let (red, rest) = self.levels.split_at_mut(bins);
        let (green, blue) = rest.split_at_mut(bins);
        for px in self.sums.chunks_exact(3) {
            // Sums are at most 255 f^2, so every index is in range.
            red[usize::from(px[0])] += 1;
            green[usize::from(px[1])] += 1;
            blue[usize::from(px[2])] += 1;
        }
        let count = (self.sums.len() / 3) as f32;
        let wanted = (count * self.glass_percentile / 100.0).ceil().max(1.0) as u32;
        let mut glass = [255.0; 3];
        for (level, channel) in glass.iter_mut().zip(self.levels.chunks_exact(bins)) {
            let mut seen = 0;
            for (sum, &n) in channel.iter().enumerate() {
                seen += n;
                if seen >= wanted {
                    *level = sum as f32 / f2 as f32;
                    break;
                }
            }
        }
        glass
    }
}

#[cfg(test)]
mod tests;
