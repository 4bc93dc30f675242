//! AVX-512 VNNI kernels (x86-64 with AVX-512 F, BW, VL and VNNI).
//!
//! `vpdpbusd` multiplies unsigned bytes by signed bytes, four per i32 lane, and adds them
//! to the lane (wrapping, never saturating). Activations become unsigned by adding 128 (an
//! XOR with 0x80) when they are packed or copied, and each row's accumulator then exceeds
//! the true one by exactly `128 * sum(weights of the row)`, which the output stage
//! subtracts. Every step is exact, so the result equals the scalar reference bit for bit.
//!
//! GEMM: the right-hand side is packed into scratch as blocks of 16 columns, each column
//! holding 4 consecutive K values per 4-byte lane; a micro-kernel computes up to 8 rows by
//! 48 columns (24 accumulators in registers), broadcasting one weight word per row and
//! K-group. Depthwise: rows are copied with their padding into a small ring (see
//! `padded`), and for 16 outputs at once one load, a dword permutation and a byte shuffle
//! gather each output's 4 taps of a kernel row into its lane.
//!
//! Every function here requires the CPU features in its `target_feature` attribute; the
//! module's entry points are only called after `Isa::is_available` confirmed them.

use core::arch::x86_64::*;

use super::padded::MAX_WORDS;
use super::requant::RowStage;
use super::{DepthwiseShape, OutputStage, PackedMatrix};

/// Rows per GEMM micro-kernel (and per packed weight tile).
pub(super) const TILE_ROWS: usize = 8;
/// i32 lanes per vector: columns per packed block of the right-hand side.
const LANES: usize = 16;
/// Blocks of 16 columns per micro-kernel.
const PANEL: usize = 3;
/// Bytes of one K-group of one block: 16 columns x 4 K values.
const GROUP_BYTES: usize = 64;

/// How a row's outputs are computed (see [`RowStage`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Shift 33..=62: i32 lanes from the high words of the products, the zero point folded
    /// into the rounding constant.
    HighFolded,
    /// The same, adding the zero point separately (extreme zero points).
    High,
    /// Other shifts in 1..=62: i64 lanes.
    Wide,
    /// Shifts outside the engine's range: the reference, lane by lane.
    Scalar,
}

/// One row's output stage in broadcast registers. Accumulators start at `init` (the bias,
/// or 0 in scalar mode where [`RowStage::scalar`] adds it), which saves an addition.
#[derive(Clone, Copy)]
struct Stage {
    init: __m512i,
    multiplier: __m512i,
    /// The rounding constant: i32 lanes (high modes) or i64 lanes (wide mode).
    round: __m512i,
    /// `t` (high modes) or the shift (wide mode).
    shift: __m128i,
    /// `min - zero_point` in i64 lanes (wide mode).
    lo: __m512i,
    /// `max - zero_point` in i64 lanes (wide mode).
    hi: __m512i,
    zero_point: __m512i,
    /// The int8 clamp (high modes).
    min: __m128i,
    max: __m128i,
    mode: Mode,
    row: RowStage,
}

impl Stage {
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn new(row: RowStage) -> Stage {
        let (mode, round, shift) = match row.high_word_shift() {
            Some(t) => {
                let (round, folded) = row.high_round(t);
                let mode = if folded { Mode::HighFolded } else { Mode::High };
                (mode, _mm512_set1_epi32(round), t.into())
            }
            None if row.vector => (
                Mode::Wide,
                _mm512_set1_epi64(row.round),
                row.requant.shift.into(),
            ),
            None => (Mode::Scalar, _mm512_setzero_si512(), 0),
        };
        Stage {
            init: if mode == Mode::Scalar {
                _mm512_setzero_si512()
            } else {
                _mm512_set1_epi32(row.bias)
            },
            multiplier: _mm512_set1_epi32(row.requant.multiplier),
            round,
            shift: _mm_cvtsi64_si128(shift),
            lo: _mm512_set1_epi64(row.lo),
            hi: _mm512_set1_epi64(row.hi),
            zero_point: _mm512_set1_epi32(row.zero_point),
            min: _mm_set1_epi8(row.min as i8),
            max: _mm_set1_epi8(row.max as i8),
            mode,
            row,
        }
    }

    /// The 16 outputs of 16 accumulators (bias included) in the high modes: the high words
    /// of the even and odd lanes' i64 products (`vpmuldq` multiplies the low halves of
    /// 64-bit lanes) are rounded and shifted in i32, narrowed with saturation and clamped as
    /// bytes.
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn apply_high(&self, x: __m512i, folded: bool) -> __m128i {
        let even = _mm512_mul_epi32(x, self.multiplier);
        let odd = _mm512_mul_epi32(_mm512_srli_epi64::<32>(x), self.multiplier);
        // Lane 2i: dword 2i + 1 of `even` (its high word); lane 2i + 1: that of `odd`.
        let high = _mm512_mask_shuffle_epi32::<0b1111_0101>(odd, 0x5555, even);
        let mut r = _mm512_sra_epi32(_mm512_add_epi32(high, self.round), self.shift);
        if !folded {
            r = _mm512_add_epi32(r, self.zero_point);
        }
        let bytes = _mm512_cvtsepi32_epi8(r);
        _mm_min_epi8(_mm_max_epi8(bytes, self.min), self.max)
    }

    /// The 16 outputs of 16 accumulators (bias included) in wide mode: even and odd lanes
    /// widened to i64 separately, rounded, shifted, clamped, and put back together.
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn apply_wide(&self, x: __m512i) -> __m128i {
        let even = _mm512_mul_epi32(x, self.multiplier);
        let odd = _mm512_mul_epi32(_mm512_srli_epi64::<32>(x), self.multiplier);
        let even = _mm512_sra_epi64(_mm512_add_epi64(even, self.round), self.shift);
        let odd = _mm512_sra_epi64(_mm512_add_epi64(odd, self.round), self.shift);
        let even = _mm512_min_epi64(_mm512_max_epi64(even, self.lo), self.hi);
        let odd = _mm512_min_epi64(_mm512_max_epi64(odd, self.lo), self.hi);
        // Odd results to the odd dwords (the low dword of each qword, moved up by one).
        let both = _mm512_mask_shuffle_epi32::<0b1010_0000>(even, 0xAAAA, odd);
        // Clamped to [lo, hi], the sum lies in [min, max]: wrapping i32 lanes are exact.
        _mm512_cvtepi32_epi8(_mm512_add_epi32(both, self.zero_point))
    }

    /// The 16 outputs of accumulators that started at `init`, whatever the mode.
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn bytes(&self, acc: __m512i) -> __m128i {
        match self.mode {
            Mode::HighFolded => self.apply_high(acc, true),
            Mode::High => self.apply_high(acc, false),
            Mode::Wide => self.apply_wide(acc),
            Mode::Scalar => {
                let mut lanes = [0i32; LANES];
                // SAFETY: `lanes` has 64 bytes.
                unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), acc) };
                let bytes = lanes.map(|a| self.row.scalar(a));
                // SAFETY: `bytes` has 16 bytes.
                unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
            }
        }
    }

    /// Writes the outputs of accumulators that started at `init` to `dst` (at most 16).
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn store(&self, acc: __m512i, dst: &mut [i8]) {
        let valid = dst.len().min(LANES);
        let bytes = self.bytes(acc);
        if valid == LANES {
            // SAFETY: `dst` has at least 16 bytes.
            unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), bytes) };
        } else {
            let mask = ((1u32 << valid) - 1) as u16;
            // SAFETY: the mask selects the first `valid` bytes, all inside `dst`; masked off
            // bytes are not accessed.
            unsafe { _mm_mask_storeu_epi8(dst.as_mut_ptr(), mask, bytes) };
        }
    }
}

/// See [`super::gemm_i8`]; `scratch` receives the packed right-hand side.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) fn gemm(
    w: &PackedMatrix,
    b: &[i8],
    n: usize,
    stage: &OutputStage,
    out: &mut [i8],
    scratch: &mut [i8],
) {
    let (rows, k) = (w.rows(), w.cols());
    if rows == 0 || n == 0 {
        return;
    }
    let groups = k.div_ceil(4);
    let blocks = n.div_ceil(LANES);
    let block_bytes = groups * GROUP_BYTES;
    let packed = &mut scratch[..blocks * block_bytes];
    pack_rhs(b, k, n, packed);
    let packed: &[i8] = packed;
    let tiles = rows.div_ceil(TILE_ROWS);
    let tile_bytes = TILE_ROWS * groups * 4;
    let weights = w.data();
    assert_eq!(
        weights.len(),
        tiles * tile_bytes,
        "avx512 gemm: packing mismatch"
    );
    let sums = w.row_sums();
    let mut stages = [Stage::new(stage.row(0, 0)); TILE_ROWS];
    for t in 0..tiles {
        let first = t * TILE_ROWS;
        let height = TILE_ROWS.min(rows - first);
        for (r, s) in stages.iter_mut().enumerate().take(height) {
            // 128 * sum fits easily: |sum| <= 128 * k.
            *s = Stage::new(stage.row(first + r, sums[first + r].wrapping_mul(128)));
        }
        let tile = &weights[t * tile_bytes..(t + 1) * tile_bytes];
        let mut j0 = 0;
        while j0 < blocks {
            let width = PANEL.min(blocks - j0);
            let cols = (width * LANES).min(n - j0 * LANES);
            let panel = &packed[j0 * block_bytes..(j0 + width) * block_bytes];
            let args = Tile {
                weights: tile,
                panel,
                block_bytes,
                groups,
                stages: &stages,
                n,
                cols,
            };
            let dst = &mut out[first * n + j0 * LANES..];
            match (height, width) {
                (8, 3) => micro::<8, 3>(&args, dst),
                (8, 2) => micro::<8, 2>(&args, dst),
                (8, _) => micro::<8, 1>(&args, dst),
                (7, 3) => micro::<7, 3>(&args, dst),
                (7, 2) => micro::<7, 2>(&args, dst),
                (7, _) => micro::<7, 1>(&args, dst),
                (6, 3) => micro::<6, 3>(&args, dst),
                (6, 2) => micro::<6, 2>(&args, dst),
                (6, _) => micro::<6, 1>(&args, dst),
                (5, 3) => micro::<5, 3>(&args, dst),
                (5, 2) => micro::<5, 2>(&args, dst),
                (5, _) => micro::<5, 1>(&args, dst),
                (4, 3) => micro::<4, 3>(&args, dst),
                (4, 2) => micro::<4, 2>(&args, dst),
                (4, _) => micro::<4, 1>(&args, dst),
                (3, 3) => micro::<3, 3>(&args, dst),
                (3, 2) => micro::<3, 2>(&args, dst),
                (3, _) => micro::<3, 1>(&args, dst),
                (2, 3) => micro::<2, 3>(&args, dst),
                (2, 2) => micro::<2, 2>(&args, dst),
                (2, _) => micro::<2, 1>(&args, dst),
                (_, 3) => micro::<1, 3>(&args, dst),
                (_, 2) => micro::<1, 2>(&args, dst),
                (_, _) => micro::<1, 1>(&args, dst),
            }
            j0 += width;
        }
    }
}

/// What one micro-kernel call reads.
struct Tile<'a> {
    /// The tile's packed weights: `groups x TILE_ROWS` words.
    weights: &'a [i8],
    /// The panel's packed blocks, `block_bytes` each.
    panel: &'a [i8],
    block_bytes: usize,
    groups: usize,
    stages: &'a [Stage; TILE_ROWS],
    /// Row length of the output.
    n: usize,
    /// Valid columns of the panel (the last block may be partial).
    cols: usize,
}

/// `R` rows by `V` blocks of 16 columns; `dst` starts at the tile's first output.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn micro<const R: usize, const V: usize>(t: &Tile, dst: &mut [i8]) {
    // The raw reads below stay inside these slices.
    assert!(t.weights.len() >= t.groups * TILE_ROWS * 4 && R <= TILE_ROWS);
    assert!(t.panel.len() >= V * t.block_bytes && t.block_bytes >= t.groups * GROUP_BYTES);
    assert!(dst.len() >= (R - 1) * t.n + t.cols && t.cols <= V * LANES);
    let (wp, bp) = (t.weights.as_ptr(), t.panel.as_ptr());
    let mut acc = [[_mm512_setzero_si512(); V]; R];
    for (row, stage) in acc.iter_mut().zip(t.stages) {
        *row = [stage.init; V];
    }
    for g in 0..t.groups {
        let mut bv = [_mm512_setzero_si512(); V];
        for (j, v) in bv.iter_mut().enumerate() {
            // SAFETY: block j < V, group g < groups: inside `panel` (asserted above).
            *v = unsafe { _mm512_loadu_si512(bp.add(j * t.block_bytes + g * GROUP_BYTES).cast()) };
        }
        for (r, row) in acc.iter_mut().enumerate() {
            // SAFETY: word (g, r) with r < TILE_ROWS, g < groups: inside `weights`.
            let word = unsafe {
                wp.add((g * TILE_ROWS + r) * 4)
                    .cast::<i32>()
                    .read_unaligned()
            };
            let wv = _mm512_set1_epi32(word);
            for (a, &v) in row.iter_mut().zip(&bv) {
                *a = _mm512_dpbusd_epi32(*a, v, wv);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (j, &a) in row.iter().enumerate() {
            let start = r * t.n + j * LANES;
            let len = LANES.min(t.cols - j * LANES);
            t.stages[r].store(a, &mut dst[start..start + len]);
        }
    }
}

/// Packs `b` (`k x n`) into blocks of 16 columns; block `j` holds, per K-group `g`, 64
/// bytes: column `16j + c` at `4c..4c + 4`, its K values `4g..4g + 4` XOR 0x80. Positions
/// past `k` or `n` are left as they are: they meet zero weights or are never stored.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
fn pack_rhs(b: &[i8], k: usize, n: usize, dst: &mut [i8]) {
    let groups = k.div_ceil(4);
    let block_bytes = groups * GROUP_BYTES;
    let flip = _mm256_set1_epi8(-128);
    let full = n / 32 * 32;
    for c0 in (0..full).step_by(32) {
        let at = c0 / LANES * block_bytes;
        for g in 0..groups {
            let mut r = [_mm256_setzero_si256(); 4];
            for (q, v) in r.iter_mut().enumerate() {
                let p = 4 * g + q;
                if p < k {
                    *v = _mm256_xor_si256(load256(&b[p * n + c0..]), flip);
                }
            }
            // Interleave bytes of rows (0, 1) and (2, 3), then 16-bit pairs: within each
            // 128-bit lane, e0..e3 hold columns 0-3, 4-7, 8-11, 12-15 of that lane's 16.
            let a = _mm256_unpacklo_epi8(r[0], r[1]);
            let bb = _mm256_unpackhi_epi8(r[0], r[1]);
            let c = _mm256_unpacklo_epi8(r[2], r[3]);
            let d = _mm256_unpackhi_epi8(r[2], r[3]);
            let e0 = _mm256_unpacklo_epi16(a, c);
            let e1 = _mm256_unpackhi_epi16(a, c);
            let e2 = _mm256_unpacklo_epi16(bb, d);
            let e3 = _mm256_unpackhi_epi16(bb, d);
            let lo = at + g * GROUP_BYTES;
            let hi = lo + block_bytes;
            store256(&mut dst[lo..], _mm256_permute2x128_si256::<0x20>(e0, e1));
            store256(
                &mut dst[lo + 32..],
                _mm256_permute2x128_si256::<0x20>(e2, e3),
            );
            store256(&mut dst[hi..], _mm256_permute2x128_si256::<0x31>(e0, e1));
            store256(
                &mut dst[hi + 32..],
                _mm256_permute2x128_si256::<0x31>(e2, e3),
            );
        }
    }
    for c in full..n {
        let at = c / LANES * block_bytes + c % LANES * 4;
        for p in 0..k {
            dst[at + p / 4 * GROUP_BYTES + p % 4] = b[p * n + c] ^ -128;
        }
    }
}

#[target_feature(enable = "avx2")]
#[inline]
fn load256(s: &[i8]) -> __m256i {
    let s = &s[..32];
    // SAFETY: `s` has 32 bytes.
    unsafe { _mm256_loadu_si256(s.as_ptr().cast()) }
}

#[target_feature(enable = "avx2")]
#[inline]
fn store256(d: &mut [i8], v: __m256i) {
    let d = &mut d[..32];
    // SAFETY: `d` has 32 bytes.
    unsafe { _mm256_storeu_si256(d.as_mut_ptr().cast(), v) }
}

/// See [`super::depthwise_i8`]; returns false (having written nothing) for shapes this
/// kernel does not cover, which the caller hands to the scalar kernel.
///
/// No copies: each window is a masked load straight from the input, lanes outside the row
/// (padding, or past its end) taking `pad` from the load's pass-through operand. 3-row
/// kernels up to 4 taps wide (3x3 above all) have unrolled paths that also share windows
/// between two output rows (stride 1) or put two output rows in one vector (maps at most
/// 8 wide).
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) fn depthwise(
    shape: &DepthwiseShape,
    input: &[i8],
    pad: i8,
    weights: &[i8],
    stage: &OutputStage,
    out: &mut [i8],
) -> bool {
    let [kh, kw] = shape.kernel;
    let [sx, dx] = [shape.stride[1], shape.dilation[1]];
    let groups = kw.div_ceil(4);
    // The shuffle gathers bytes sx * j + dx * t (j, t < 4) from a 16-byte lane; the filter's
    // words must fit the stack array.
    if sx + dx > 5 || kh * groups > MAX_WORDS {
        return false;
    }
    let g = Geometry::new(shape, pad);
    let (oh, ow) = (g.oh, g.ow);
    let plane = shape.height * shape.width;
    let mut words = [_mm512_setzero_si512(); MAX_WORDS];
    let mut rows = [(0isize, 0u64); MAX_WORDS];
    for c in 0..shape.channels {
        let filter = &weights[c * kh * kw..(c + 1) * kh * kw];
        let mut sum = 0i32;
        for (ky, taps) in filter.chunks_exact(kw).enumerate() {
            for (i, group) in taps.chunks(4).enumerate() {
                let mut word = 0u32;
                for (b, &t) in group.iter().enumerate() {
                    word |= u32::from(t as u8) << (8 * b);
                    sum += i32::from(t);
                }
                words[ky * groups + i] = _mm512_set1_epi32(word as i32);
            }
        }
        let st = Stage::new(stage.row(c, sum.wrapping_mul(128)));
        let dst = &mut out[c * oh * ow..(c + 1) * oh * ow];
        let base = (c * plane) as isize;
        if kh == 3 && groups == 1 {
            g.channel3(input, base, &[words[0], words[1], words[2]], &st, dst);
            continue;
        }
        for (oy, line) in dst.chunks_exact_mut(ow).enumerate() {
            for (ky, row) in rows.iter_mut().enumerate().take(kh) {
                *row = g.row(base, oy, ky);
            }
            g.line_any(input, &rows[..kh], groups, &words, &st, line);
        }
    }
    true
}

/// The shape-dependent constants of the depthwise inner loops.
struct Geometry {
    /// Dword permutation of a window load: lane L holds input dwords `sx * L ..= sx * L + 3`,
    /// the bytes from its first output's position (`4 * sx * L`) on.
    index: __m512i,
    /// The same for two output rows per vector: lanes 2 and 3 take the second load's
    /// dwords of lanes 0 and 1 (the row below).
    index2: __m512i,
    /// Byte shuffle of the permuted window: for output `j` of a lane and tap `t`, byte
    /// `sx * j + dx * t`.
    pattern: __m512i,
    /// Moves the second row's outputs (bytes 8..) next to the first row's (`ow <= 8`).
    squeeze: __m128i,
    /// 0x80 in every byte: int8 to offset-binary.
    flip: __m512i,
    /// The padding value in every byte.
    pad: __m512i,
    /// Lanes of a window load that are used.
    reach: u32,
    height: usize,
    width: usize,
    oh: usize,
    ow: usize,
    sy: usize,
    sx: usize,
    dy: usize,
    dx: usize,
    py: usize,
    px: isize,
}

impl Geometry {
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn new(shape: &DepthwiseShape, pad: i8) -> Geometry {
        let [sy, sx] = shape.stride;
        let [dy, dx] = shape.dilation;
        let ow = shape.out_width();
        let mut index = [0i32; 16];
        let mut index2 = [0i32; 16];
        let mut pattern = [0i8; 64];
        for lane in 0..4 {
            for i in 0..4 {
                index[4 * lane + i] = (sx * lane + i) as i32;
                index2[4 * lane + i] = if lane < 2 {
                    (sx * lane + i) as i32
                } else {
                    16 + (sx * (lane - 2) + i) as i32
                };
                for t in 0..4 {
                    pattern[16 * lane + 4 * i + t] = (sx * i + dx * t) as i8;
                }
            }
        }
        let mut squeeze = [-1i8; 16];
        for (i, b) in squeeze.iter_mut().enumerate().take(2 * ow.min(8)) {
            *b = if i < ow { i } else { i - ow + 8 } as i8;
        }
        // SAFETY: the arrays have 64, 64, 64 and 16 bytes.
        let (index, index2, pattern, squeeze) = unsafe {
            (
                _mm512_loadu_si512(index.as_ptr().cast()),
                _mm512_loadu_si512(index2.as_ptr().cast()),
                _mm512_loadu_si512(pattern.as_ptr().cast()),
                _mm_loadu_si128(squeeze.as_ptr().cast()),
            )
        };
        Geometry {
            index,
            index2,
            pattern,
            squeeze,
            flip: _mm512_set1_epi8(-128),
            pad: _mm512_set1_epi8(pad),
            // Lane 3 of the permutation reads dwords up to 3 * sx + 3.
            reach: (12 * sx + 16).min(64) as u32,
            height: shape.height,
            width: shape.width,
            oh: shape.out_height(),
            ow,
            sy,
            sx,
            dy,
            dx,
            py: shape.padding[0],
            px: shape.padding[1] as isize,
        }
    }

    /// Where kernel row `ky` of output row `oy` starts in the input (`base` is the plane's
    /// start), and all-ones if that row is inside the plane, else 0 (all padding).
    #[inline(always)]
    fn row(&self, base: isize, oy: usize, ky: usize) -> (isize, u64) {
        let iy = (oy * self.sy + ky * self.dy).wrapping_sub(self.py);
        if iy < self.height {
            (base + (iy * self.width) as isize, u64::MAX)
        } else {
            (0, 0)
        }
    }

    /// Column of the first input byte of the window of vector `x` (16 outputs), tap group `g`.
    #[inline(always)]
    fn column(&self, x: usize, g: usize) -> isize {
        (x * LANES * self.sx + g * 4 * self.dx) as isize - self.px
    }

    /// The lanes of a window load from column `cx` that are used and inside the row.
    #[inline(always)]
    fn mask(&self, cx: isize) -> u64 {
        lane_mask(cx, self.width as isize, self.reach)
    }

    /// The taps of one kernel row for 16 outputs from column `cx`, as offset-binary bytes.
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn taps(&self, input: &[i8], row: (isize, u64), cx: isize, mask: u64) -> __m512i {
        let raw = masked_load(input, row.0 + cx, mask & row.1, self.pad);
        let taps = _mm512_shuffle_epi8(_mm512_permutexvar_epi32(self.index, raw), self.pattern);
        _mm512_xor_si512(taps, self.flip)
    }

    /// As [`Geometry::taps`], outputs 0..8 from row `a` and outputs 8..16 (the same
    /// columns) from row `b`.
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn taps2(
        &self,
        input: &[i8],
        a: (isize, u64),
        b: (isize, u64),
        cx: isize,
        mask: u64,
    ) -> __m512i {
        let ra = masked_load(input, a.0 + cx, mask & a.1, self.pad);
        let rb = masked_load(input, b.0 + cx, mask & b.1, self.pad);
        let both = _mm512_permutex2var_epi32(ra, self.index2, rb);
        _mm512_xor_si512(_mm512_shuffle_epi8(both, self.pattern), self.flip)
    }

    /// One channel of a 3-row kernel at most 4 taps wide.
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn channel3(&self, input: &[i8], base: isize, w: &[__m512i; 3], st: &Stage, dst: &mut [i8]) {
        let (oh, ow) = (self.oh, self.ow);
        let mut oy = 0;
        if ow <= 8 {
            // Two output rows per vector.
            let cx = self.column(0, 0);
            let mask = self.mask(cx);
            while oy + 2 <= oh {
                let mut acc = st.init;
                for (ky, &word) in w.iter().enumerate() {
                    let (a, b) = (self.row(base, oy, ky), self.row(base, oy + 1, ky));
                    acc = _mm512_dpbusd_epi32(acc, self.taps2(input, a, b, cx, mask), word);
                }
                let bytes = _mm_shuffle_epi8(st.bytes(acc), self.squeeze);
                let out = &mut dst[oy * ow..(oy + 2) * ow];
                let m = ((1u32 << out.len()) - 1) as u16;
                // SAFETY: the mask selects the first 2 * ow <= 16 bytes, all inside `out`;
                // masked-off bytes are not accessed.
                unsafe { _mm_mask_storeu_epi8(out.as_mut_ptr(), m, bytes) };
                oy += 2;
            }
        } else if self.sy == 1 && self.dy == 1 {
            // Two output rows share two of their three input rows.
            while oy + 2 <= oh {
                let rows = [
                    self.row(base, oy, 0),
                    self.row(base, oy, 1),
                    self.row(base, oy, 2),
                    self.row(base, oy + 1, 2),
                ];
                let (first, second) = dst[oy * ow..(oy + 2) * ow].split_at_mut(ow);
                let lines = first.chunks_mut(LANES).zip(second.chunks_mut(LANES));
                for (x, (d0, d1)) in lines.enumerate() {
                    let cx = self.column(x, 0);
                    let mask = self.mask(cx);
                    let t = [
                        self.taps(input, rows[0], cx, mask),
                        self.taps(input, rows[1], cx, mask),
                        self.taps(input, rows[2], cx, mask),
                        self.taps(input, rows[3], cx, mask),
                    ];
                    let (mut a0, mut a1) = (st.init, st.init);
                    for ky in 0..3 {
                        a0 = _mm512_dpbusd_epi32(a0, t[ky], w[ky]);
                        a1 = _mm512_dpbusd_epi32(a1, t[ky + 1], w[ky]);
                    }
                    st.store(a0, d0);
                    st.store(a1, d1);
                }
                oy += 2;
            }
        }
        while oy < oh {
            let rows = [
                self.row(base, oy, 0),
                self.row(base, oy, 1),
                self.row(base, oy, 2),
            ];
            for (x, d) in dst[oy * ow..(oy + 1) * ow].chunks_mut(LANES).enumerate() {
                let cx = self.column(x, 0);
                let mask = self.mask(cx);
                let mut acc = st.init;
                for (&row, &word) in rows.iter().zip(w) {
                    acc = _mm512_dpbusd_epi32(acc, self.taps(input, row, cx, mask), word);
                }
                st.store(acc, d);
            }
            oy += 1;
        }
    }

    /// One output row of any kernel (`groups` words per kernel row).
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn line_any(
        &self,
        input: &[i8],
        rows: &[(isize, u64)],
        groups: usize,
        words: &[__m512i; MAX_WORDS],
        st: &Stage,
        line: &mut [i8],
    ) {
        for (x, dst) in line.chunks_mut(LANES).enumerate() {
            let mut acc = st.init;
            for g in 0..groups {
                let cx = self.column(x, g);
                let mask = self.mask(cx);
                for (ky, &row) in rows.iter().enumerate() {
                    let taps = self.taps(input, row, cx, mask);
                    acc = _mm512_dpbusd_epi32(acc, taps, words[ky * groups + g]);
                }
            }
            st.store(acc, dst);
        }
    }
}

/// The lanes `l < reach` of a 64-byte load from column `cx` whose columns `cx + l` lie in
/// `0..width`.
#[inline(always)]
fn lane_mask(cx: isize, width: isize, reach: u32) -> u64 {
    let below = |n: u32| if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
    if cx >= 0 && cx + reach as isize <= width {
        return below(reach);
    }
    // Lanes lo..hi are columns 0..width.
    let lo = (-cx).clamp(0, 64) as u32;
    let hi = ((width - cx).clamp(0, 64) as u32).min(reach);
    if lo >= hi { 0 } else { below(hi) & !below(lo) }
}

/// The 64 bytes of `input` from index `at` on (`at` may be out of range), `pad` in the
/// lanes not in `mask`.
///
/// `mask` must only enable lanes whose indices lie inside `input`: the callers combine
/// [`lane_mask`] (columns inside the row) with a row inside the plane.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn masked_load(input: &[i8], at: isize, mask: u64, pad: __m512i) -> __m512i {
    let ptr = input.as_ptr().wrapping_offset(at);
    // SAFETY: the mask enables only lanes whose indices lie inside `input` (the caller's
    // contract); masked-off lanes are not accessed (AVX-512 masked loads suppress their
    // faults), so `ptr` itself may point outside it.
    unsafe { _mm512_mask_loadu_epi8(pad, mask, ptr) }
}
