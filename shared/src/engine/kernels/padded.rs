//! Padded input rows for the NEON depthwise kernel.
//!
//! The kernel computes a run of outputs of one row at once: for each group of kernel
//! taps it loads a fixed-size window of input bytes and shuffles out, per output lane, the
//! bytes at `x * stride + tap * dilation`. Near the borders those windows reach into the
//! padding, and for the last outputs past the end of the row. Copying the input columns a
//! chunk of outputs needs into a stack buffer, padding included, makes every load in bounds
//! and every padded position hold `pad`, so one branch-free loop covers borders and
//! interior alike, even for 7-pixel-wide maps. A ring of such rows keyed by input row copies
//! each input row once per chunk, although `kernel height / stride` output rows read it.

use super::DepthwiseShape;

/// Bytes of one padded row.
pub(super) const ROW_BYTES: usize = 1024;
/// Padded rows kept at once (the most input rows one output row may span).
pub(super) const RING: usize = 8;
/// Most weight words (groups of taps) per filter.
pub(super) const MAX_WORDS: usize = 64;

/// How a vector kernel walks one depthwise convolution.
#[derive(Clone, Copy, Debug)]
pub(super) struct Plan {
    /// Taps per weight word.
    pub taps: usize,
    /// Outputs per vector.
    pub lanes: usize,
    /// Bytes one window load reads.
    pub reach: usize,
    /// Weight words per kernel row.
    pub groups: usize,
    /// Most outputs per chunk of an output row (a multiple of `lanes`).
    pub chunk: usize,
    /// Ring slots in use: the input rows one output row's window spans.
    pub slots: usize,
}

impl Plan {
    /// The plan for `shape` with words of `taps` taps, vectors of `lanes` outputs, and
    /// window loads of `reach` bytes; `None` when the shape needs more room than the ring
    /// has (very wide kernels or dilations), in which case the caller runs the scalar kernel.
    pub fn new(shape: &DepthwiseShape, taps: usize, lanes: usize, reach: usize) -> Option<Plan> {
        let [kh, kw] = shape.kernel;
        let [sy, sx] = shape.stride;
        let [dy, dx] = shape.dilation;
        if kh == 0 || kw == 0 || sy == 0 || sx == 0 || dy == 0 || dx == 0 {
            return None;
        }
        let groups = kw.div_ceil(taps);
        let slots = (kh - 1).checked_mul(dy)? + 1;
        if kh.checked_mul(groups)? > MAX_WORDS || slots > RING {
            return None;
        }
        // The last vector of a chunk starts at output chunk - lanes and its last group's
        // load ends at (chunk - lanes) * sx + (groups - 1) * taps * dx + reach.
        let fixed = ((groups - 1) * taps).checked_mul(dx)?.checked_add(reach)?;
        let room = ROW_BYTES.checked_sub(fixed)? / sx;
        let chunk = (room / lanes) * lanes + lanes;
        let chunk = chunk.min(shape.out_width().div_ceil(lanes).max(1) * lanes);
        Some(Plan {
            taps,
            lanes,
            reach,
            groups,
            chunk,
            slots,
        })
    }

    /// Bytes of padded row that a chunk of `count` outputs reads.
    pub fn row_len(&self, shape: &DepthwiseShape, count: usize) -> usize {
        let vectors = count.div_ceil(self.lanes).max(1);
        (vectors - 1) * self.lanes * shape.stride[1]
            + (self.groups - 1) * self.taps * shape.dilation[1]
            + self.reach
    }

    /// One filter (`kh x kw`) as weight words, row by row, `groups` words per row; taps
    /// beyond the kernel width are zero. With 4 taps a word is 4 bytes; with 2 taps it is
    /// two little-endian i16.
    pub fn words(&self, filter: &[i8], kw: usize, words: &mut [i32; MAX_WORDS]) {
        let mut i = 0;
        for row in filter.chunks_exact(kw) {
            for g in 0..self.groups {
                let mut bytes = [0u8; 4];
                for (t, &w) in row.iter().skip(g * self.taps).take(self.taps).enumerate() {
                    if self.taps == 4 {
                        bytes[t] = w as u8;
                    } else {
                        bytes[2 * t..2 * t + 2].copy_from_slice(&i16::from(w).to_le_bytes());
                    }
                }
                words[i] = i32::from_le_bytes(bytes);
                i += 1;
            }
        }
    }
}

/// Padded copies of the input rows one output row needs.
pub(super) struct Ring {
    rows: [[i8; ROW_BYTES]; RING],
    /// The input row each slot holds (`isize::MIN`: none).
    tags: [isize; RING],
    slots: usize,
    /// XORed into every byte (0x80 turns int8 into the offset-binary u8 of `vpdpbusd`).
    flip: i8,
}

impl Ring {
    /// An empty ring of `slots` rows (at most [`RING`]) whose bytes are XORed with `flip`.
    pub fn new(slots: usize, flip: i8) -> Ring {
        Ring {
            rows: [[0; ROW_BYTES]; RING],
            tags: [isize::MIN; RING],
            slots: slots.clamp(1, RING),
            flip,
        }
    }

    /// Forgets every row (for a new channel or chunk).
    pub fn reset(&mut self) {
        self.tags = [isize::MIN; RING];
    }

    /// Makes a slot hold input row `iy` of `plane` (`width` columns), columns `x0..x0 + len`
    /// with `pad` outside the plane, and returns the slot. A row already there is reused:
    /// rows of one output row's window never share a slot, since they span at most `slots`
    /// consecutive input rows.
    #[inline(always)]
    pub fn load(
        &mut self,
        plane: &[i8],
        width: usize,
        iy: isize,
        x0: isize,
        len: usize,
        pad: i8,
    ) -> usize {
        let slot = iy.rem_euclid(self.slots as isize) as usize;
        if self.tags[slot] == iy {
            return slot;
        }
        self.tags[slot] = iy;
        let flip = self.flip;
        let dst = &mut self.rows[slot][..len.min(ROW_BYTES)];
        let height = plane.len() / width.max(1);
        if iy < 0 || iy as usize >= height {
            dst.fill(pad ^ flip);
            return slot;
        }
        let row = &plane[iy as usize * width..(iy as usize + 1) * width];
        // dst[i] holds column x0 + i: columns below 0 are dst[..start], at or past the
        // width dst[end..].
        let len = dst.len() as isize;
        let start = (-x0).clamp(0, len) as usize;
        let end = (width as isize - x0).clamp(start as isize, len) as usize;
        dst[..start].fill(pad ^ flip);
        dst[end..].fill(pad ^ flip);
        if start < end {
            // Both ends are inside the row: x0 + start >= 0 and x0 + end <= width.
            let src = &row[(x0 + start as isize) as usize..(x0 + end as isize) as usize];
            for (d, &s) in dst[start..end].iter_mut().zip(src) {
                *d = s ^ flip;
            }
        }
        slot
    }

    /// The bytes of a slot.
    #[inline(always)]
    pub fn row(&self, slot: usize) -> &[i8; ROW_BYTES] {
        &self.rows[slot]
    }
}
