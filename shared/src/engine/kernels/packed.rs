//! GEMM weights packed once, at load, in the order the chosen kernel reads them.
//!
//! The SIMD layouts cut the rows into tiles of `tile_rows` (the micro-kernel's height; the
//! last tile is padded with zero rows) and the columns (the reduction dimension K) into
//! groups of `group` (4 for the dot-product instructions, 2 for `vpmaddwd`; the last group
//! is padded with zeros). Within a tile, group `g` holds one 4-byte word per row, rows
//! consecutive: the word a kernel broadcasts (x86) or picks by lane (NEON).

use alloc::vec;
use alloc::vec::Vec;

use super::Isa;

/// Weights of a GEMM, packed once at load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedMatrix {
    rows: usize,
    cols: usize,
    isa: Isa,
    /// Scalar: row-major `rows x cols`. SIMD: tiles as described in the module doc.
    data: Vec<i8>,
    /// Per row, the sum of its weights (the VNNI kernels' correction for unsigned inputs).
    row_sums: Vec<i32>,
}

/// How the SIMD kernels of one ISA want their weights (see `tile::layout`).
#[derive(Clone, Copy, Debug)]
pub(super) struct Layout {
    /// Rows per tile.
    pub tile_rows: usize,
    /// Reduction indices per 4-byte word.
    pub group: usize,
}

impl PackedMatrix {
    /// Packs `a`, `rows x cols` row-major int8 (rows = output channels, cols = K), for `isa`.
    ///
    /// An ISA this CPU lacks is packed for (and later run by) [`Isa::Scalar`] instead, so
    /// the kernels never execute instructions the CPU does not have; [`PackedMatrix::isa`]
    /// says which one was used.
    ///
    /// # Panics
    /// If `a.len() != rows * cols`.
    pub fn new(a: &[i8], rows: usize, cols: usize, isa: Isa) -> PackedMatrix {
        assert_eq!(
            a.len(),
            rows * cols,
            "PackedMatrix::new: {} weights for a {rows} x {cols} matrix",
            a.len()
        );
        let layout = if isa.is_available() {
            super::weight_layout(isa)
        } else {
            None
        };
        let isa = if layout.is_some() { isa } else { Isa::Scalar };
        let row_sums = (0..rows)
            .map(|r| {
                a[r * cols..(r + 1) * cols]
                    .iter()
                    .map(|&w| i32::from(w))
                    .sum()
            })
            .collect();
        let data = match layout {
            None => a.to_vec(),
            Some(layout) => pack(a, rows, cols, layout),
        };
        PackedMatrix {
            rows,
            cols,
            isa,
            data,
            row_sums,
        }
    }

    /// Rows (output channels).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns (the reduction dimension K).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The instruction set the weights are packed for, and that [`super::gemm_i8`] uses.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The packed bytes.
    pub(super) fn data(&self) -> &[i8] {
        &self.data
    }

    /// Per row, the sum of its weights.
    #[cfg_attr(
        not(any(target_arch = "x86_64", target_arch = "aarch64")),
        allow(dead_code)
    )]
    pub(super) fn row_sums(&self) -> &[i32] {
        &self.row_sums
    }
}

/// Tiles of `layout.tile_rows` rows, groups of `layout.group` columns, one word per row
/// and group.
fn pack(a: &[i8], rows: usize, cols: usize, layout: Layout) -> Vec<i8> {
    let Layout { tile_rows, group } = layout;
    let groups = cols.div_ceil(group);
    let tiles = rows.div_ceil(tile_rows);
    let mut data = vec![0i8; tiles * tile_rows * groups * 4];
    for r in 0..rows {
        let (tile, within) = (r / tile_rows, r % tile_rows);
        for g in 0..groups {
            let at = ((tile * groups + g) * tile_rows + within) * 4;
            let word = &mut data[at..at + 4];
            for q in 0..group.min(cols - g * group) {
                let w = a[r * cols + g * group + q];
                if group == 4 {
                    word[q] = w;
                } else {
                    // Two little-endian i16.
                    word[2 * q] = w;
                    word[2 * q + 1] = if w < 0 { -1 } else { 0 };
                }
            }
        }
    }
    data
}

#[cfg(test)]
mod tests;
