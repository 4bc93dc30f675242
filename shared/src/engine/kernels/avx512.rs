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
    /// Shift 33..=62: i32 lanes from the high words of the products.
    High,
    /// Other shifts in 1..=62: i64 lanes.
    Wide,
    /// Shifts outside the engine's range: the reference, lane by lane.
    Scalar,
}

/// One row's output stage in broadcast registers.
#[derive(Clone, Copy)]
struct Stage {
    bias: __m512i,
    multiplier: __m512i,
    /// `2^(t-1)` in i32 lanes (high mode) or `2^(shift-1)` in i64 lanes (wide mode).
    round: __m512i,
    /// `t` (high mode) or the shift (wide mode).
    shift: __m128i,
    /// `min - zero_point` in i64 lanes (wide mode).
    lo: __m512i,
    /// `max - zero_point` in i64 lanes (wide mode).
    hi: __m512i,
    zero_point: __m512i,
    /// The int8 clamp (high mode).
    min: __m128i,
    max: __m128i,
    mode: Mode,
    row: RowStage,
}

impl Stage {
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn new(row: RowStage) -> Stage {
        let high = row.high_word_shift();
        let mode = match high {
            Some(_) => Mode::High,
            None if row.vector => Mode::Wide,
            None => Mode::Scalar,
        };
        let (round, shift) = match high {
            Some(t) => (_mm512_set1_epi32(1 << (t - 1)), i64::from(t)),
            None => (_mm512_set1_epi64(row.round), i64::from(row.requant.shift)),
        };
        Stage {
            bias: _mm512_set1_epi32(row.bias),
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

    /// The 16 outputs of 16 accumulators in high mode: the high words of the even and odd
    /// lanes' i64 products (`vpmuldq` multiplies the low halves of 64-bit lanes), rounded
    /// and shifted in i32, narrowed with saturation and clamped as bytes.
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn apply_high(&self, acc: __m512i) -> __m128i {
        let x = _mm512_add_epi32(acc, self.bias);
        let even = _mm512_mul_epi32(x, self.multiplier);
        let odd = _mm512_mul_epi32(_mm512_srli_epi64::<32>(x), self.multiplier);
        let high = _mm512_mask_mov_epi32(_mm512_srli_epi64::<32>(even), 0xAAAA, odd);
        let r = _mm512_sra_epi32(_mm512_add_epi32(high, self.round), self.shift);
        let bytes = _mm512_cvtsepi32_epi8(_mm512_add_epi32(r, self.zero_point));
        _mm_min_epi8(_mm_max_epi8(bytes, self.min), self.max)
    }

    /// The 16 outputs of 16 accumulators in wide mode: even and odd lanes widened to i64
    /// separately, rounded, shifted, clamped, and put back together.
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn apply_wide(&self, acc: __m512i) -> __m128i {
        let x = _mm512_add_epi32(acc, self.bias);
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

    /// Writes the outputs of `acc` to `dst` (at most 16).
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn store(&self, acc: __m512i, dst: &mut [i8]) {
        let valid = dst.len().min(LANES);
        let bytes = match self.mode {
            Mode::High => self.apply_high(acc),
            Mode::Wide => self.apply_wide(acc),
            Mode::Scalar => {
                let mut lanes = [0i32; LANES];
                // SAFETY: `lanes` has 64 bytes.
                unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), acc) };
                for (d, &a) in dst[..valid].iter_mut().zip(&lanes) {
                    *d = self.row.scalar(a);
                }
                return;
            }
        };
        if valid == LANES {
            // SAFETY: `dst` has at least 16 bytes.
            unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), bytes) };
        } else {
            let mask = (1u16 << valid) - 1;
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
    assert_eq!(weights.len(), tiles * tile_bytes, "avx512 gemm: packing mismatch");
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
    for g in 0..t.groups {
        let mut bv = [_mm512_setzero_si512(); V];
        for (j, v) in bv.iter_mut().enumerate() {
            // SAFETY: block j < V, group g < groups: inside `panel` (asserted above).
            *v = unsafe { _mm512_loadu_si512(bp.add(j * t.block_bytes + g * GROUP_BYTES).cast()) };
        }
        for (r, row) in acc.iter_mut().enumerate() {
            // SAFETY: word (g, r) with r < TILE_ROWS, g < groups: inside `weights`.
            let word = unsafe { wp.add((g * TILE_ROWS + r) * 4).cast::<i32>().read_unaligned() };
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
            store256(&mut dst[lo + 32..], _mm256_permute2x128_si256::<0x20>(e2, e3));
            store256(&mut dst[hi..], _mm256_permute2x128_si256::<0x31>(e0, e1));
            store256(&mut dst[hi + 32..], _mm256_permute2x128_si256::<0x31>(e2, e3));
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
/// No copies: each window is a masked load straight from the input row, lanes outside the
/// row (padding, or past its end) taking `pad` from the load's pass-through operand.
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
    let [sy, sx] = shape.stride;
    let [dy, dx] = shape.dilation;
    let groups = kw.div_ceil(4);
    // The shuffle gathers bytes sx * j + dx * t (j, t < 4) from a 16-byte lane; the filter's
    // words must fit the stack array.
    if sx + dx > 5 || kh * groups > MAX_WORDS {
        return false;
    }
    let (h, w) = (shape.height, shape.width);
    let (oh, ow) = (shape.out_height(), shape.out_width());
    // Lane L of the permuted load holds input dwords sx*L .. sx*L + 3, i.e. the bytes from
    // its first output's position (4 * sx * L) on; the shuffle then picks, for output j of
    // the lane and tap t, byte sx * j + dx * t.
    let mut index = [0i32; 16];
    let mut pattern = [0i8; 64];
    for lane in 0..4 {
        for i in 0..4 {
            index[4 * lane + i] = (sx * lane + i) as i32;
            for t in 0..4 {
                pattern[16 * lane + 4 * i + t] = (sx * i + dx * t) as i8;
            }
        }
    }
    // SAFETY: both arrays have 64 bytes.
    let (index, pattern) = unsafe {
        (
            _mm512_loadu_si512(index.as_ptr().cast()),
            _mm512_loadu_si512(pattern.as_ptr().cast()),
        )
    };
    let flip = _mm512_set1_epi8(-128);
    let padding = _mm512_set1_epi8(pad);
    // Bytes a window load needs: lane 3 reads dwords up to 3 * sx + 3.
    let reach = (12 * sx + 16).min(64) as u32;
    let mut words = [_mm512_setzero_si512(); MAX_WORDS];
    // Per kernel row: whether its input row is inside the plane, and where it starts.
    let mut rows = [(false, 0isize); MAX_WORDS];
    for c in 0..shape.channels {
        let filter = &weights[c * kh * kw..(c + 1) * kh * kw];
        let mut sum = 0i32;
        for (ky, taps) in filter.chunks_exact(kw).enumerate() {
            for (g, group) in taps.chunks(4).enumerate() {
                let mut word = 0u32;
                for (i, &t) in group.iter().enumerate() {
                    word |= u32::from(t as u8) << (8 * i);
                    sum += i32::from(t);
                }
                words[ky * groups + g] = _mm512_set1_epi32(word as i32);
            }
        }
        let st = Stage::new(stage.row(c, sum.wrapping_mul(128)));
        let dst = &mut out[c * oh * ow..(c + 1) * oh * ow];
        for oy in 0..oh {
            // Rows outside the plane are empty: all their lanes are padding.
            for (ky, row) in rows.iter_mut().enumerate().take(kh) {
                let iy = (oy * sy + ky * dy).wrapping_sub(shape.padding[0]);
                *row = (iy < h, ((c * h + iy.min(h)) * w) as isize);
            }
            let line = &mut dst[oy * ow..(oy + 1) * ow];
            for x in (0..ow).step_by(LANES) {
                let mut acc = _mm512_setzero_si512();
                for g in 0..groups {
                    let cx = (x * sx + g * 4 * dx) as isize - shape.padding[1] as isize;
                    let mask = lane_mask(cx, w as isize, reach);
                    for (ky, &(row, at)) in rows.iter().enumerate().take(kh) {
                        let raw = window(input, at + cx, if row { mask } else { 0 }, padding);
                        let taps = _mm512_shuffle_epi8(
                            _mm512_permutexvar_epi32(index, raw),
                            pattern,
                        );
                        let taps = _mm512_xor_si512(taps, flip);
                        acc = _mm512_dpbusd_epi32(acc, taps, words[ky * groups + g]);
                    }
                }
                st.store(acc, &mut line[x..ow.min(x + LANES)]);
            }
        }
    }
    true
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
/// `mask` must only enable lanes whose indices lie inside `input` (see [`lane_mask`]).
/// Away from the ends of `input` this is a plain load and a blend: masked loads that do
/// mask lanes off are slow on some CPUs (AMD Zen 4).
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn window(input: &[i8], at: isize, mask: u64, pad: __m512i) -> __m512i {
    if at >= 0 && at as usize + 64 <= input.len() {
        // SAFETY: the 64 bytes from `at` lie inside `input` (just checked).
        let raw = unsafe { _mm512_loadu_si512(input.as_ptr().add(at as usize).cast()) };
        _mm512_mask_blend_epi8(mask, pad, raw)
    } else {
        let ptr = input.as_ptr().wrapping_offset(at);
        // SAFETY: the mask enables only lanes whose indices lie inside `input` (the caller's
        // contract); masked-off lanes are not accessed (AVX-512 masked loads suppress their
        // faults), so `ptr` itself may point outside it.
        unsafe { _mm512_mask_loadu_epi8(pad, mask, ptr) }
    }
}
