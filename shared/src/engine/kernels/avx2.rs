//! AVX2 kernels (x86-64 without AVX-512).
//!
//! Products are formed by `vpmaddwd` on int8 values sign-extended to i16: it multiplies 16
//! pairs of i16 and adds adjacent products into 8 i32 lanes, exactly (two products of at
//! most 2^14 cannot overflow). `vpmaddubsw` would be faster but saturates at i16, which
//! would break the bit-for-bit contract.
//!
//! GEMM: the right-hand side is packed into scratch as blocks of 8 columns, each column
//! holding 2 consecutive K values as i16 per 4-byte lane; a micro-kernel computes 4 rows by
//! 16 columns. Depthwise: rows are copied with their padding into a small ring (see
//! `padded`), and for 8 outputs at once two loads and a byte shuffle place each output's
//! pair of taps, sign-extended to i16, in its lane.
//!
//! Every function here requires AVX2; the module's entry points are only called after
//! `Isa::is_available` confirmed it.

use core::arch::x86_64::*;

use super::padded::{MAX_WORDS, Plan, RING, Ring};
use super::requant::RowStage;
use super::{DepthwiseShape, OutputStage, PackedMatrix};

/// Rows per GEMM micro-kernel (and per packed weight tile).
pub(super) const TILE_ROWS: usize = 4;
/// i32 lanes per vector: columns per packed block of the right-hand side.
const LANES: usize = 8;
/// Blocks of 8 columns per micro-kernel.
const PANEL: usize = 2;
/// Bytes of one K-pair of one block: 8 columns x 2 K values x i16.
const GROUP_BYTES: usize = 32;

/// One row's output stage in broadcast registers.
#[derive(Clone, Copy)]
struct Stage {
    bias: __m256i,
    multiplier: __m256i,
    round: __m256i,
    shift: __m128i,
    lo: __m256i,
    hi: __m256i,
    zero_point: __m256i,
    /// Gathers the low byte of each dword into the low 4 bytes of each 128-bit lane.
    gather: __m256i,
    row: RowStage,
}

impl Stage {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn new(row: RowStage) -> Stage {
        Stage {
            bias: _mm256_set1_epi32(row.bias),
            multiplier: _mm256_set1_epi32(row.requant.multiplier),
            round: _mm256_set1_epi64x(row.round),
            shift: _mm_cvtsi64_si128(i64::from(row.requant.shift)),
            lo: _mm256_set1_epi64x(row.lo),
            hi: _mm256_set1_epi64x(row.hi),
            zero_point: _mm256_set1_epi32(row.zero_point),
            gather: _mm256_setr_epi8(
                0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, //
                0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
            ),
            row,
        }
    }

    /// Arithmetic shift right of i64 lanes (AVX2 has none): flip negative lanes to their
    /// complement, shift logically, flip back; `!(!x >> s) == x >> s` for negative x.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn sra(&self, v: __m256i) -> __m256i {
        let sign = _mm256_cmpgt_epi64(_mm256_setzero_si256(), v);
        _mm256_xor_si256(
            _mm256_srl_epi64(_mm256_xor_si256(v, sign), self.shift),
            sign,
        )
    }

    /// `max(v, lo)` then `min(_, hi)` on i64 lanes.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn clamp(&self, v: __m256i) -> __m256i {
        let v = _mm256_blendv_epi8(v, self.lo, _mm256_cmpgt_epi64(self.lo, v));
        _mm256_blendv_epi8(v, self.hi, _mm256_cmpgt_epi64(v, self.hi))
    }

    /// The 8 outputs of 8 accumulators, as bytes 0..8, for a row whose `vector` flag is
    /// set: even and odd lanes are widened to i64 separately (`vpmuldq` multiplies the low
    /// halves of 64-bit lanes), rounded, shifted, clamped, and put back together.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn apply(&self, acc: __m256i) -> __m128i {
        let x = _mm256_add_epi32(acc, self.bias);
        let even = _mm256_mul_epi32(x, self.multiplier);
        let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), self.multiplier);
        let even = self.clamp(self.sra(_mm256_add_epi64(even, self.round)));
        let odd = self.clamp(self.sra(_mm256_add_epi64(odd, self.round)));
        let both = _mm256_blend_epi32::<0b1010_1010>(even, _mm256_slli_epi64::<32>(odd));
        // Clamped to [lo, hi], the sum lies in [min, max]: wrapping i32 lanes are exact.
        let v = _mm256_add_epi32(both, self.zero_point);
        let bytes = _mm256_shuffle_epi8(v, self.gather);
        let bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0));
        _mm256_castsi256_si128(bytes)
    }

    /// Writes the outputs of `acc` to `dst` (at most 8).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn store(&self, acc: __m256i, dst: &mut [i8]) {
        let valid = dst.len().min(LANES);
        if self.row.vector {
            let bytes = self.apply(acc);
            if valid == LANES {
                // SAFETY: `dst` has at least 8 bytes.
                unsafe { _mm_storel_epi64(dst.as_mut_ptr().cast(), bytes) };
            } else {
                let mut tmp = [0i8; 16];
                // SAFETY: `tmp` has 16 bytes.
                unsafe { _mm_storeu_si128(tmp.as_mut_ptr().cast(), bytes) };
                dst[..valid].copy_from_slice(&tmp[..valid]);
            }
        } else {
            let mut lanes = [0i32; LANES];
            // SAFETY: `lanes` has 32 bytes.
            unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc) };
            for (d, &a) in dst[..valid].iter_mut().zip(&lanes) {
                *d = self.row.scalar(a);
            }
        }
    }
}

/// See [`super::gemm_i8`]; `scratch` receives the packed right-hand side.
#[target_feature(enable = "avx2")]
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
    let groups = k.div_ceil(2);
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
        "avx2 gemm: packing mismatch"
    );
    let mut stages = [Stage::new(stage.row(0, 0)); TILE_ROWS];
    for t in 0..tiles {
        let first = t * TILE_ROWS;
        let height = TILE_ROWS.min(rows - first);
        for (r, s) in stages.iter_mut().enumerate().take(height) {
            *s = Stage::new(stage.row(first + r, 0));
        }
        let tile = &weights[t * tile_bytes..(t + 1) * tile_bytes];
        let mut j0 = 0;
        while j0 < blocks {
            let width = PANEL.min(blocks - j0);
            let cols = (width * LANES).min(n - j0 * LANES);
            let args = Tile {
                weights: tile,
                panel: &packed[j0 * block_bytes..(j0 + width) * block_bytes],
                block_bytes,
                groups,
                stages: &stages,
                n,
                cols,
            };
            let dst = &mut out[first * n + j0 * LANES..];
            match (height, width) {
                (4, 2) => micro::<4, 2>(&args, dst),
                (4, _) => micro::<4, 1>(&args, dst),
                (3, 2) => micro::<3, 2>(&args, dst),
                (3, _) => micro::<3, 1>(&args, dst),
                (2, 2) => micro::<2, 2>(&args, dst),
                (2, _) => micro::<2, 1>(&args, dst),
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

/// `R` rows by `V` blocks of 8 columns; `dst` starts at the tile's first output.
#[target_feature(enable = "avx2")]
#[inline]
fn micro<const R: usize, const V: usize>(t: &Tile, dst: &mut [i8]) {
    // The raw reads below stay inside these slices.
    assert!(t.weights.len() >= t.groups * TILE_ROWS * 4 && R <= TILE_ROWS);
    assert!(t.panel.len() >= V * t.block_bytes && t.block_bytes >= t.groups * GROUP_BYTES);
    assert!(dst.len() >= (R - 1) * t.n + t.cols && t.cols <= V * LANES);
    let (wp, bp) = (t.weights.as_ptr(), t.panel.as_ptr());
    let mut acc = [[_mm256_setzero_si256(); V]; R];
    for g in 0..t.groups {
        let mut bv = [_mm256_setzero_si256(); V];
        for (j, v) in bv.iter_mut().enumerate() {
            // SAFETY: block j < V, pair g < groups: inside `panel` (asserted above).
            *v = unsafe { _mm256_loadu_si256(bp.add(j * t.block_bytes + g * GROUP_BYTES).cast()) };
        }
        for (r, row) in acc.iter_mut().enumerate() {
            // SAFETY: word (g, r) with r < TILE_ROWS, g < groups: inside `weights`.
            let word = unsafe {
                wp.add((g * TILE_ROWS + r) * 4)
                    .cast::<i32>()
                    .read_unaligned()
            };
            let wv = _mm256_set1_epi32(word);
            for (a, &v) in row.iter_mut().zip(&bv) {
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(v, wv));
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

/// Packs `b` (`k x n`) into blocks of 8 columns; block `j` holds, per K-pair `g`, 32 bytes:
/// column `8j + c` at `4c..4c + 4`, its K values `2g` and `2g + 1` as little-endian i16.
/// Positions past `k` or `n` are left as they are: they meet zero weights or are never
/// stored.
#[target_feature(enable = "avx2")]
fn pack_rhs(b: &[i8], k: usize, n: usize, dst: &mut [i8]) {
    let groups = k.div_ceil(2);
    let block_bytes = groups * GROUP_BYTES;
    let full = n / 16 * 16;
    for c0 in (0..full).step_by(16) {
        let at = c0 / LANES * block_bytes;
        for g in 0..groups {
            let r0 = load128(&b[2 * g * n + c0..]);
            let r1 = if 2 * g + 1 < k {
                load128(&b[(2 * g + 1) * n + c0..])
            } else {
                _mm_setzero_si128()
            };
            let lo = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(r0, r1));
            let hi = _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(r0, r1));
            store256(&mut dst[at + g * GROUP_BYTES..], lo);
            store256(&mut dst[at + block_bytes + g * GROUP_BYTES..], hi);
        }
    }
    for c in full..n {
        let at = c / LANES * block_bytes + c % LANES * 4;
        for p in 0..k {
            let [lo, hi] = i16::from(b[p * n + c]).to_le_bytes();
            let i = at + p / 2 * GROUP_BYTES + p % 2 * 2;
            dst[i] = lo as i8;
            dst[i + 1] = hi as i8;
        }
    }
}

#[target_feature(enable = "avx2")]
#[inline]
fn load128(s: &[i8]) -> __m128i {
    let s = &s[..16];
    // SAFETY: `s` has 16 bytes.
    unsafe { _mm_loadu_si128(s.as_ptr().cast()) }
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
#[target_feature(enable = "avx2")]
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
    // Each 128-bit half gathers bytes sx * j + dx * t (j < 4, t < 2) from its own load.
    if 3 * sx + dx > 15 {
        return false;
    }
    let Some(plan) = Plan::new(shape, 2, LANES, 4 * sx + 16) else {
        return false;
    };
    let (h, w) = (shape.height, shape.width);
    let (oh, ow) = (shape.out_height(), shape.out_width());
    // Half 0 loads from the vector's first output, half 1 from its fifth (4 * sx bytes on).
    // In each, i16 slot 2j + t (output j, tap t) gets byte sx * j + dx * t in its high
    // byte and zero in its low byte; an arithmetic shift by 8 then sign-extends it.
    let mut pattern = [0i8; 32];
    for half in 0..2 {
        for j in 0..4 {
            for t in 0..2 {
                let slot = 16 * half + 2 * (2 * j + t);
                pattern[slot] = -128;
                pattern[slot + 1] = (sx * j + dx * t) as i8;
            }
        }
    }
    // SAFETY: `pattern` has 32 bytes.
    let pattern = unsafe { _mm256_loadu_si256(pattern.as_ptr().cast()) };
    let mut ring = Ring::new(plan.slots, 0);
    let mut words = [0i32; MAX_WORDS];
    let groups = plan.groups;
    for c in 0..shape.channels {
        let plane = &input[c * h * w..(c + 1) * h * w];
        let filter = &weights[c * kh * kw..(c + 1) * kh * kw];
        plan.words(filter, kw, &mut words);
        let st = Stage::new(stage.row(c, 0));
        let dst = &mut out[c * oh * ow..(c + 1) * oh * ow];
        for xc in (0..ow).step_by(plan.chunk) {
            let count = plan.chunk.min(ow - xc);
            let len = plan.row_len(shape, count);
            let x0 = (xc * sx) as isize - shape.padding[1] as isize;
            ring.reset();
            for oy in 0..oh {
                let mut slots = [0usize; RING];
                for (ky, slot) in slots.iter_mut().enumerate().take(kh) {
                    let iy = (oy * sy + ky * dy) as isize - shape.padding[0] as isize;
                    *slot = ring.load(plane, w, iy, x0, len, pad);
                }
                let line = &mut dst[oy * ow + xc..oy * ow + xc + count];
                for x in (0..count).step_by(LANES) {
                    let mut acc = _mm256_setzero_si256();
                    for (ky, &slot) in slots.iter().enumerate().take(kh) {
                        let row = ring.row(slot);
                        for g in 0..groups {
                            let at = x * sx + g * 2 * dx;
                            // In bounds: the plan keeps at + 4 * sx + 16 <= len <= ROW_BYTES.
                            let lo = load128(&row[at..]);
                            let hi = load128(&row[at + 4 * sx..]);
                            let taps = _mm256_srai_epi16::<8>(_mm256_shuffle_epi8(
                                _mm256_set_m128i(hi, lo),
                                pattern,
                            ));
                            let wv = _mm256_set1_epi32(words[ky * groups + g]);
                            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(taps, wv));
                        }
                    }
                    st.store(acc, &mut line[x..count.min(x + LANES)]);
                }
            }
        }
    }
    true
}
