//! The GEMM's one tile driver, generic over each instruction set's micro-kernel (the shape
//! of tract's `linalg::frame::mmm`).
//!
//! The driver packs the right-hand side into the kernel's layout, walks the packed weights
//! tile by tile (`TILE_ROWS` rows) and the packed columns panel by panel (`PANEL` blocks
//! of `LANES` columns), broadcasts each tile's output stage once, and hands every tile and
//! panel, edges included, to the micro-kernel, which accumulates it in registers and
//! requantizes it in place. An instruction set supplies only what is its own: the layout's
//! sizes, the packing, the micro-kernel and the output stage in its registers
//! ([`StageRegisters`]).
//!
//! The driver is `#[inline(always)]` and each instruction set calls it from a function
//! compiled for its features, so the whole loop nest is compiled for them and the
//! micro-kernels inline into it.

use super::OutputStage;
use super::packed::{Layout, PackedMatrix};
use super::vector_stage::{Mode, StageRegisters};

/// Most rows of any micro-kernel's tile (NEON's).
const MAX_TILE_ROWS: usize = 8;

/// One instruction set's GEMM micro-kernel and the layouts it reads.
///
/// Its methods carry the instruction set's `#[target_feature]` (or inline into code that
/// does), so calling them is only sound on a CPU that has it.
pub(super) trait MicroKernel: StageRegisters {
    /// Rows of a tile: the micro-kernel's height, and the packed weights' tile height.
    const TILE_ROWS: usize;
    /// Reduction indices per 4-byte word of both operands: 4 for the dot-product
    /// instructions, 2 for `vpmaddwd` (two i16).
    const K_GROUP: usize;
    /// Columns per packed block of the right-hand side: the i32 lanes of one vector.
    const LANES: usize;
    /// Blocks per micro-kernel call.
    const PANEL: usize;

    /// Packs `b` (`k x n`, row-major) into blocks of `LANES` columns: block `j` holds, per
    /// group `g` of `K_GROUP` reduction indices, one 4-byte word per column. Bytes past `k`
    /// or `n` may hold anything: they meet zero weights or are never stored.
    ///
    /// # Safety
    /// The CPU has the instruction set's features.
    unsafe fn pack_rhs(b: &[i8], k: usize, n: usize, dst: &mut [i8]);

    /// Computes one tile of `height` rows (`1..=TILE_ROWS`) by `width` blocks
    /// (`1..=PANEL`) and writes its outputs to `dst`, which starts at the tile's first
    /// output.
    ///
    /// Implementations are `#[inline(always)]`, without `#[target_feature]`: inlined into
    /// the driver's loop, which is compiled for the instruction set, they dispatch to
    /// micro-kernels that can inline there as if written in it.
    ///
    /// # Safety
    /// The CPU has the instruction set's features.
    unsafe fn tile(height: usize, width: usize, tile: &Tile<'_, Self::Stage<'_>>, dst: &mut [i8]);
}

/// What one micro-kernel call reads.
pub(super) struct Tile<'a, S> {
    /// The tile's packed weights: `groups x TILE_ROWS` words.
    pub weights: &'a [i8],
    /// The panel's packed blocks, `block_bytes` each.
    pub panel: &'a [i8],
    /// Bytes of one packed block: `groups` words per column.
    pub block_bytes: usize,
    /// Groups of `K_GROUP` reduction indices.
    pub groups: usize,
    /// The output stage of each of the tile's rows.
    pub stages: &'a [S],
    /// Whether every row takes the folded high-word form, the common case, which the
    /// micro-kernels specialize on.
    pub folded: bool,
    /// Row length of the output.
    pub n: usize,
    /// Valid columns of the panel (the last block may be partial).
    pub cols: usize,
}

/// How `K` wants its weights packed.
pub(super) fn layout<K: MicroKernel>() -> Layout {
    Layout {
        tile_rows: K::TILE_ROWS,
        group: K::K_GROUP,
    }
}

/// Bytes of scratch the packed `k x n` right-hand side takes in `K`'s layout.
pub(super) fn scratch_len<K: MicroKernel>(k: usize, n: usize) -> usize {
    n.div_ceil(K::LANES) * k.div_ceil(K::K_GROUP) * K::LANES * 4
}

/// See [`super::gemm_i8`], with `K`'s micro-kernel; `scratch` receives the packed
/// right-hand side.
///
/// # Safety
/// The CPU has `K`'s features, and `w` is packed in `K`'s [`layout`].
#[inline(always)]
pub(super) unsafe fn gemm<K: MicroKernel>(
    w: &PackedMatrix,
    b: &[i8],
    n: usize,
    stage: &OutputStage,
    out: &mut [i8],
    scratch: &mut [i8],
) {
    const { assert!(K::TILE_ROWS <= MAX_TILE_ROWS) };
    let (rows, k) = (w.rows(), w.cols());
    if rows == 0 || n == 0 {
        return;
    }
    let groups = k.div_ceil(K::K_GROUP);
    let blocks = n.div_ceil(K::LANES);
    let block_bytes = groups * K::LANES * 4;
    let packed = &mut scratch[..blocks * block_bytes];
    // SAFETY (of every call to `K` below): the CPU has `K`'s features (this function's
    // contract).
    unsafe { K::pack_rhs(b, k, n, packed) };
    let packed: &[i8] = packed;
    let tiles = rows.div_ceil(K::TILE_ROWS);
    let tile_bytes = K::TILE_ROWS * groups * 4;
    let weights = w.data();
    assert_eq!(weights.len(), tiles * tile_bytes, "gemm: packing mismatch");
    let sums = w.row_sums();
    let shared = unsafe { K::shared(stage) };
    let mut stages = [unsafe { K::stage(&shared, 0, 0) }; MAX_TILE_ROWS];
    for t in 0..tiles {
        let first = t * K::TILE_ROWS;
        let height = K::TILE_ROWS.min(rows - first);
        for (r, s) in stages.iter_mut().enumerate().take(height) {
            // Wrapping is harmless: accumulators and bias are taken modulo 2^32 alike.
            let offset = sums[first + r].wrapping_mul(K::INPUT_OFFSET);
            *s = unsafe { K::stage(&shared, first + r, offset) };
        }
        let stages = &stages[..height];
        let folded = stages.iter().all(|s| K::mode(s) == Mode::HighFolded);
        let tile = &weights[t * tile_bytes..(t + 1) * tile_bytes];
        let mut j0 = 0;
        while j0 < blocks {
            let width = K::PANEL.min(blocks - j0);
            let cols = (width * K::LANES).min(n - j0 * K::LANES);
            let args = Tile {
                weights: tile,
                panel: &packed[j0 * block_bytes..(j0 + width) * block_bytes],
                block_bytes,
                groups,
                stages,
                folded,
                n,
                cols,
            };
            let dst = &mut out[first * n + j0 * K::LANES..];
            unsafe { K::tile(height, width, &args, dst) };
            j0 += width;
        }
    }
}

/// Calls the micro-kernel instantiated for a tile's `height` and `width` (accumulators stay
/// in registers only when both are constants):
/// `tile_sizes!(height, width; rows 4 3 2 else 1; blocks [2 else 1]; micro [] (t, dst))`
/// calls `micro::<4, 2>(t, dst)` for a full tile and `micro::<1, 1>(t, dst)` for the
/// smallest; generic arguments in the brackets follow the two sizes.
macro_rules! tile_sizes {
    ($height:expr, $width:expr; rows $($r:literal)* else $r1:literal; blocks $blocks:tt;
     $f:ident $extra:tt $args:tt) => {
        match $height {
            $($r => tile_sizes!(@blocks $width; $r; $blocks; $f $extra $args),)*
            _ => tile_sizes!(@blocks $width; $r1; $blocks; $f $extra $args),
        }
    };
    (@blocks $width:expr; $r:literal; [$($v:literal)* else $v1:literal];
     $f:ident $extra:tt $args:tt) => {
        match $width {
            $($v => tile_sizes!(@call $f $extra $r $v $args),)*
            _ => tile_sizes!(@call $f $extra $r $v1 $args),
        }
    };
    (@call $f:ident [$($e:tt)*] $r:literal $v:literal ($($a:expr),*)) => {
        $f::<$r, $v $(, $e)*>($($a),*)
    };
}
pub(super) use tile_sizes;
