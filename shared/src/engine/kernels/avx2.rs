//! AVX2 kernels (x86-64 without AVX-512).
//!
//! Products are formed by `vpmaddwd` on int8 values sign-extended to i16: it multiplies 16
//! pairs of i16 and adds adjacent products into 8 i32 lanes, exactly (two products of at
//! most 2^14 cannot overflow). `vpmaddubsw` would be faster but saturates at i16, which
//! would break the bit-for-bit contract.
//!
//! GEMM: the right-hand side is packed into scratch as blocks of 8 columns, each column
//! holding 2 consecutive K values as i16 per 4-byte lane; a micro-kernel computes 4 rows by
//! 16 columns and requantizes the tile in registers. Depthwise: for 8 outputs at once, two
//! 16-byte windows loaded straight from the input (moved and padded with a byte shuffle
//! near the borders) and one shuffle per pair of taps place each output's taps,
//! sign-extended to i16, in its lane.
//!
//! Every function here requires AVX2; the module's entry points are only called after
//! `Isa::is_available` confirmed it. The loops around the kernels are the generic drivers'
//! (`tile`, `depthwise`).

use core::arch::x86_64::*;

use super::depthwise::{self, DepthwiseKernel};
use super::tile::{self, MicroKernel, Tile, tile_sizes};
use super::vector_stage::{Mode, RowFormula, StageRegisters, reference_lanes};
use super::{DepthwiseShape, OutputStage, PackedMatrix};

/// i32 lanes per vector: columns per packed block of the right-hand side.
const LANES: usize = 8;
/// Bytes of one K-pair of one block: 8 columns x 2 K values x i16.
const GROUP_BYTES: usize = 32;
/// Most weight words (pairs of taps) per depthwise filter.
const MAX_WORDS: usize = 64;

/// The AVX2 kernels, as the generic drivers see them.
pub(super) struct Avx2;

impl StageRegisters for Avx2 {
    const INPUT_OFFSET: i32 = 0;
    type Shared<'s> = Shared<'s>;
    type Stage<'s> = Stage<'s>;

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn shared<'s>(stage: &'s OutputStage<'s>) -> Shared<'s> {
        Shared::new(stage)
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn stage<'s>(shared: &'s Shared<'_>, row: usize, offset: i32) -> Stage<'s> {
        shared.row(row, offset)
    }

    fn mode(stage: &Stage<'_>) -> Mode {
        stage.mode
    }
}

impl MicroKernel for Avx2 {
    const TILE_ROWS: usize = 4;
    const K_GROUP: usize = 2;
    const LANES: usize = LANES;
    const PANEL: usize = 2;

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn pack_rhs(b: &[i8], k: usize, n: usize, dst: &mut [i8]) {
        pack_rhs(b, k, n, dst);
    }

    #[inline(always)]
    unsafe fn tile(height: usize, width: usize, t: &Tile<'_, Stage<'_>>, dst: &mut [i8]) {
        // SAFETY: the CPU has AVX2 (this function's contract).
        unsafe {
            if t.folded {
                tile_sizes!(height, width; rows 4 3 2 else 1; blocks [2 else 1];
                    micro [true] (t, dst));
            } else {
                tile_sizes!(height, width; rows 4 3 2 else 1; blocks [2 else 1];
                    micro [false] (t, dst));
            }
        }
    }
}

/// The output stage's constants common to all rows, in broadcast registers.
pub(super) struct Shared<'s> {
    stage: &'s OutputStage<'s>,
    zero_point: __m256i,
    /// `min - zero_point` and `max - zero_point` in i64 lanes (wide mode).
    lo: __m256i,
    hi: __m256i,
    /// The clamp in i32 lanes (high modes).
    min: __m256i,
    max: __m256i,
    /// Gathers the low byte of each dword into the low 4 bytes of each 128-bit lane.
    gather: __m256i,
}

impl<'s> Shared<'s> {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn new(stage: &'s OutputStage<'s>) -> Shared<'s> {
        let zero_point = i64::from(stage.zero_point);
        Shared {
            stage,
            zero_point: _mm256_set1_epi32(stage.zero_point),
            lo: _mm256_set1_epi64x(i64::from(stage.min) - zero_point),
            hi: _mm256_set1_epi64x(i64::from(stage.max) - zero_point),
            min: _mm256_set1_epi32(stage.min.into()),
            max: _mm256_set1_epi32(stage.max.into()),
            gather: _mm256_setr_epi8(
                0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, //
                0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
            ),
        }
    }

    /// Row `row`'s stage, for accumulators that exceed the true ones by `offset`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn row(&self, row: usize, offset: i32) -> Stage<'_> {
        let f = RowFormula::new(self.stage, row, offset, true);
        Stage {
            init: _mm256_set1_epi32(f.init),
            multiplier: _mm256_set1_epi32(f.multiplier),
            round: match f.mode {
                Mode::HighFolded | Mode::High => _mm256_set1_epi32(f.round as i32),
                Mode::Wide => _mm256_set1_epi64x(f.round),
                Mode::Scalar => _mm256_setzero_si256(),
            },
            shift: _mm_cvtsi64_si128(f.shift.into()),
            mode: f.mode,
            shared: self,
            row,
            offset,
        }
    }
}

/// One row's output stage in broadcast registers. Accumulators start at `init` (the bias,
/// or 0 in scalar mode where the reference adds it), which saves an addition.
#[derive(Clone, Copy)]
pub(super) struct Stage<'s> {
    init: __m256i,
    multiplier: __m256i,
    /// The rounding constant: i32 lanes (high modes) or i64 lanes (wide mode).
    round: __m256i,
    /// `t` (high modes) or the shift (wide mode).
    shift: __m128i,
    mode: Mode,
    shared: &'s Shared<'s>,
    /// For the scalar mode: the row and its accumulator offset.
    row: usize,
    offset: i32,
}

impl Stage<'_> {
    /// Arithmetic shift right of i64 lanes (AVX2 has none): flip negative lanes to their
    /// complement, shift logically, flip back; `!(!x >> s) == x >> s` for negative x.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn sra64(&self, v: __m256i) -> __m256i {
        let sign = _mm256_cmpgt_epi64(_mm256_setzero_si256(), v);
        _mm256_xor_si256(
            _mm256_srl_epi64(_mm256_xor_si256(v, sign), self.shift),
            sign,
        )
    }

    /// `max(v, lo)` then `min(_, hi)` on i64 lanes.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn clamp64(&self, v: __m256i) -> __m256i {
        let (lo, hi) = (self.shared.lo, self.shared.hi);
        let v = _mm256_blendv_epi8(v, lo, _mm256_cmpgt_epi64(lo, v));
        _mm256_blendv_epi8(v, hi, _mm256_cmpgt_epi64(v, hi))
    }

    /// The outputs of 8 accumulators (bias included) as i32 in the high modes: the high
    /// words of the even and odd lanes' i64 products (`vpmuldq` multiplies the low halves
    /// of 64-bit lanes), rounded, shifted and clamped in i32.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn apply_high(&self, x: __m256i, folded: bool) -> __m256i {
        let even = _mm256_mul_epi32(x, self.multiplier);
        let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), self.multiplier);
        // Lane 2i: dword 2i + 1 of `even` (its high word); lane 2i + 1: that of `odd`.
        let high =
            _mm256_blend_epi32::<0b1010_1010>(_mm256_shuffle_epi32::<0b1111_0101>(even), odd);
        let mut r = _mm256_sra_epi32(_mm256_add_epi32(high, self.round), self.shift);
        if !folded {
            r = _mm256_add_epi32(r, self.shared.zero_point);
        }
        _mm256_min_epi32(_mm256_max_epi32(r, self.shared.min), self.shared.max)
    }

    /// The outputs of 8 accumulators (bias included) as i32 in wide mode: even and odd
    /// lanes widened to i64 separately, rounded, shifted, clamped, and put back together.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn apply_wide(&self, x: __m256i) -> __m256i {
        let even = _mm256_mul_epi32(x, self.multiplier);
        let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), self.multiplier);
        let even = self.clamp64(self.sra64(_mm256_add_epi64(even, self.round)));
        let odd = self.clamp64(self.sra64(_mm256_add_epi64(odd, self.round)));
        let both = _mm256_blend_epi32::<0b1010_1010>(even, _mm256_slli_epi64::<32>(odd));
        // Clamped to [lo, hi], the sum lies in [min, max]: wrapping i32 lanes are exact.
        _mm256_add_epi32(both, self.shared.zero_point)
    }

    /// Writes the outputs of accumulators that started at `init` to `dst` (at most 8);
    /// `FOLDED`: the row is known to be in folded high mode (the common case, which the
    /// callers hoist out of their loops and which keeps this small enough to inline).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn store<const FOLDED: bool>(&self, acc: __m256i, dst: &mut [i8]) {
        let valid = dst.len().min(LANES);
        let v = match self.mode {
            _ if FOLDED => self.apply_high(acc, true),
            Mode::HighFolded => self.apply_high(acc, true),
            Mode::High => self.apply_high(acc, false),
            Mode::Wide => self.apply_wide(acc),
            Mode::Scalar => {
                let mut lanes = [0i32; LANES];
                // SAFETY: `lanes` has 32 bytes.
                unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc) };
                return reference_lanes(self.shared.stage, self.row, self.offset, &lanes, dst);
            }
        };
        // The values lie in [min, max]: their low bytes are the outputs.
        let bytes = _mm256_shuffle_epi8(v, self.shared.gather);
        let bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0));
        let bytes = _mm256_castsi256_si128(bytes);
        if valid == LANES {
            // SAFETY: `dst` has at least 8 bytes.
            unsafe { _mm_storel_epi64(dst.as_mut_ptr().cast(), bytes) };
        } else {
            write_partial(_mm_cvtsi128_si64(bytes) as u64, &mut dst[..valid]);
        }
    }
}

/// Writes the first `dst.len()` (< 8) bytes of `bytes`, little-endian, in pieces of 4, 2
/// and 1 (a variable-length copy would call memcpy).
#[inline]
fn write_partial(mut bytes: u64, dst: &mut [i8]) {
    let mut at = 0;
    for piece in [4, 2, 1] {
        if dst.len() & piece != 0 {
            let le = bytes.to_le_bytes();
            for (d, &b) in dst[at..at + piece].iter_mut().zip(&le) {
                *d = b as i8;
            }
            bytes >>= 8 * piece;
            at += piece;
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
    // SAFETY: the CPU has AVX2 (this function's feature), and a PackedMatrix records AVX2
    // only when packed in its layout.
    unsafe { tile::gemm::<Avx2>(w, b, n, stage, out, scratch) }
}

/// `R` rows by `V` blocks of 8 columns; `dst` starts at the tile's first output. `F`: all
/// rows are in folded high mode.
#[target_feature(enable = "avx2")]
#[inline]
fn micro<const R: usize, const V: usize, const F: bool>(t: &Tile<'_, Stage<'_>>, dst: &mut [i8]) {
    const TILE_ROWS: usize = Avx2::TILE_ROWS;
    // The raw reads below stay inside these slices.
    assert!(t.weights.len() >= t.groups * TILE_ROWS * 4 && R <= TILE_ROWS);
    assert!(t.stages.len() >= R);
    assert!(t.panel.len() >= V * t.block_bytes && t.block_bytes >= t.groups * GROUP_BYTES);
    assert!(dst.len() >= (R - 1) * t.n + t.cols && t.cols <= V * LANES);
    let (wp, bp) = (t.weights.as_ptr(), t.panel.as_ptr());
    let mut acc = [[_mm256_setzero_si256(); V]; R];
    for (row, stage) in acc.iter_mut().zip(t.stages) {
        *row = [stage.init; V];
    }
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
    // Unrolled by hand: a rolled loop spills the accumulators and reloads each row's stage.
    macro_rules! store_rows {
        ($($r:literal)*) => {$(
            if $r < R {
                for (j, &a) in acc[$r].iter().enumerate() {
                    let start = $r * t.n + j * LANES;
                    let len = LANES.min(t.cols - j * LANES);
                    t.stages[$r].store::<F>(a, &mut dst[start..start + len]);
                }
            }
        )*};
    }
    store_rows!(0 1 2 3);
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
///
/// No copies: each 16-byte window is loaded straight from the input; near the borders the
/// load is moved inside the input and a byte shuffle puts the row's bytes in place, the
/// others taking `pad`.
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
    let [sx, dx] = [shape.stride[1], shape.dilation[1]];
    let groups = kw.div_ceil(2);
    // A 16-byte window serves 4 outputs: output j reads byte sx * j + dx * t for tap t.
    if 3 * sx + dx > 15 || kh * groups > MAX_WORDS || input.len() < 16 {
        return false;
    }
    let mut kernel = Depthwise {
        g: Geometry::new(shape, pad),
        kh,
        kw,
        groups,
        ow: shape.out_width(),
        plane: shape.height * shape.width,
        words: [_mm256_setzero_si256(); MAX_WORDS],
        rows: [(0, false); MAX_WORDS],
    };
    // SAFETY: the CPU has AVX2 (this function's feature).
    unsafe { depthwise::run(&mut kernel, shape, input, weights, stage, out) };
    true
}

/// The depthwise kernel prepared for one call.
struct Depthwise {
    g: Geometry,
    kh: usize,
    kw: usize,
    /// Pairs of taps per kernel row.
    groups: usize,
    ow: usize,
    /// Bytes of one input channel.
    plane: usize,
    /// The filter loaded last: pairs of taps as two little-endian i16 per word.
    words: [__m256i; MAX_WORDS],
    /// Where each kernel row of the current output row starts (general kernels).
    rows: [(isize, bool); MAX_WORDS],
}

impl DepthwiseKernel for Depthwise {
    type Isa = Avx2;

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn load_filter(&mut self, filter: &[i8]) -> i32 {
        // Built in registers.
        for (ky, taps) in filter.chunks_exact(self.kw).enumerate() {
            for (i, pair) in taps.chunks(2).enumerate() {
                let first = u32::from(i16::from(pair[0]) as u16);
                let second = pair.get(1).map_or(0, |&t| u32::from(i16::from(t) as u16));
                self.words[ky * self.groups + i] = _mm256_set1_epi32((first | second << 16) as i32);
            }
        }
        0
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn channel(&mut self, input: &[i8], c: usize, st: &Stage<'_>, dst: &mut [i8]) {
        let Depthwise {
            g,
            kh,
            groups,
            ow,
            plane,
            words,
            rows,
            ..
        } = self;
        let (kh, groups, ow, sx) = (*kh, *groups, *ow, g.sx);
        let base = (c * *plane) as isize;
        if kh == 3 && groups == 2 && g.one_window {
            let w = [words[0], words[1], words[2], words[3], words[4], words[5]];
            let (len, width) = (input.len() as isize, g.width as isize);
            for (oy, line) in dst.chunks_exact_mut(ow).enumerate() {
                let rows = [g.row(base, oy, 0), g.row(base, oy, 1), g.row(base, oy, 2)];
                let all_inside = rows.iter().all(|r| r.1);
                for (x, d) in line.chunks_mut(LANES).enumerate() {
                    let cx = (x * LANES * sx) as isize - g.px;
                    // Interior: every used byte in its row, every loaded byte in `input`
                    // (the rows' starts increase, so the last row bounds the loads).
                    let far = cx + 4 * sx as isize;
                    let interior = all_inside
                        && cx >= 0
                        && far + g.reach <= width
                        && rows[2].0 + far + 16 <= len;
                    let acc = if interior {
                        // SAFETY: just checked (rows inside the plane start at >= 0).
                        unsafe { g.vector3_interior(input, &rows, &w, cx, st.init) }
                    } else {
                        g.vector3(input, &rows, &w, cx, st.init)
                    };
                    st.store::<false>(acc, d);
                }
            }
            return;
        }
        for (oy, line) in dst.chunks_exact_mut(ow).enumerate() {
            for (ky, row) in rows.iter_mut().enumerate().take(kh) {
                *row = g.row(base, oy, ky);
            }
            for (x, d) in line.chunks_mut(LANES).enumerate() {
                let cx = (x * LANES * sx) as isize - g.px;
                let mut acc = st.init;
                for (ky, &row) in rows[..kh].iter().enumerate() {
                    let mut v = _mm256_setzero_si256();
                    for i in 0..groups {
                        if i == 0 || !g.one_window {
                            let at = cx + (i * g.step) as isize;
                            v = g.windows(input, row, at);
                        }
                        let pattern = g.patterns[if g.one_window { i } else { 0 }];
                        let taps = _mm256_srai_epi16::<8>(_mm256_shuffle_epi8(v, pattern));
                        acc =
                            _mm256_add_epi32(acc, _mm256_madd_epi16(taps, words[ky * groups + i]));
                    }
                }
                st.store::<false>(acc, d);
            }
        }
    }
}

/// Most pairs of taps one window serves.
const MAX_PAIRS: usize = 8;

/// The shape-dependent constants of the depthwise loops.
struct Geometry {
    /// Per pair of taps `i`: for output `j` of a 128-bit half and tap `t` of the pair, i16
    /// slot `2j + t` gets window byte `sx * j + dx * (2i + t)` (or `dx * t` when each pair
    /// has its own window) in its high byte and zero below; an arithmetic shift by 8 then
    /// sign-extends it. A pair's missing second tap (odd widths) reads its first tap's byte
    /// and meets a zero weight.
    patterns: [__m256i; MAX_PAIRS],
    /// Whether one window per kernel row serves all pairs (kernels up to 4 or so wide).
    one_window: bool,
    /// Columns between the windows of successive pairs when each has its own.
    step: usize,
    /// Window bytes the patterns read.
    reach: isize,
    /// The padding value in every byte.
    pad: __m128i,
    /// 0, 1, .., 15.
    iota: __m128i,
    height: usize,
    width: usize,
    sy: usize,
    sx: usize,
    dy: usize,
    py: usize,
    px: isize,
}

impl Geometry {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn new(shape: &DepthwiseShape, pad: i8) -> Geometry {
        let [kw, sx, dx] = [shape.kernel[1], shape.stride[1], shape.dilation[1]];
        let pairs = kw.div_ceil(2);
        let one_window = pairs <= MAX_PAIRS && 3 * sx + (kw - 1) * dx <= 15;
        let mut patterns = [_mm256_setzero_si256(); MAX_PAIRS];
        for (i, p) in patterns.iter_mut().enumerate() {
            let mut bytes = [0i8; 32];
            for half in 0..2 {
                for j in 0..4 {
                    for t in 0..2 {
                        let tap = if one_window { 2 * i + t } else { t };
                        // Missing taps read the first tap of the pair.
                        let tap = if 2 * i + t < kw { tap } else { tap - t };
                        let slot = 16 * half + 2 * (2 * j + t);
                        bytes[slot] = -128;
                        bytes[slot + 1] = ((sx * j + dx * tap) % 16) as i8;
                    }
                }
            }
            // SAFETY: `bytes` has 32 bytes.
            *p = unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) };
        }
        let last_tap = if one_window { kw - 1 } else { 1.min(kw - 1) };
        let iota: [i8; 16] = core::array::from_fn(|i| i as i8);
        Geometry {
            patterns,
            one_window,
            step: 2 * dx,
            reach: (3 * sx + last_tap * dx + 1) as isize,
            pad: _mm_set1_epi8(pad),
            // SAFETY: `iota` has 16 bytes.
            iota: unsafe { _mm_loadu_si128(iota.as_ptr().cast()) },
            height: shape.height,
            width: shape.width,
            sy: shape.stride[0],
            sx,
            dy: shape.dilation[0],
            py: shape.padding[0],
            px: shape.padding[1] as isize,
        }
    }

    /// Where kernel row `ky` of output row `oy` starts in the input (`base` is the plane's
    /// start), and whether it is inside the plane (else it is all padding).
    #[inline(always)]
    fn row(&self, base: isize, oy: usize, ky: usize) -> (isize, bool) {
        let iy = (oy * self.sy + ky * self.dy).wrapping_sub(self.py);
        let inside = iy < self.height;
        let offset = if inside { iy * self.width } else { 0 };
        (base + offset as isize, inside)
    }

    /// The windows of the two halves of a vector (8 outputs) from column `cx`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn windows(&self, input: &[i8], row: (isize, bool), cx: isize) -> __m256i {
        let far = cx + 4 * self.sx as isize;
        let lo = self.window(input, row, cx, self.inside(cx));
        let hi = self.window(input, row, far, self.inside(far));
        _mm256_set_m128i(hi, lo)
    }

    /// 8 outputs of a 3-row kernel whose pairs of taps share one window per row (3x3).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn vector3(
        &self,
        input: &[i8],
        rows: &[(isize, bool); 3],
        words: &[__m256i; 6],
        cx: isize,
        init: __m256i,
    ) -> __m256i {
        let mut acc = init;
        let far = cx + 4 * self.sx as isize;
        let (near_inside, far_inside) = (self.inside(cx), self.inside(far));
        for (ky, &row) in rows.iter().enumerate() {
            let v = _mm256_set_m128i(
                self.window(input, row, far, far_inside),
                self.window(input, row, cx, near_inside),
            );
            for i in 0..2 {
                let taps = _mm256_srai_epi16::<8>(_mm256_shuffle_epi8(v, self.patterns[i]));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(taps, words[2 * ky + i]));
            }
        }
        acc
    }

    /// [`Geometry::vector3`] away from every border.
    ///
    /// # Safety
    /// For every row, `row.0 + cx >= 0` and `row.0 + cx + 4 * sx + 16 <= input.len()`.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn vector3_interior(
        &self,
        input: &[i8],
        rows: &[(isize, bool); 3],
        words: &[__m256i; 6],
        cx: isize,
        init: __m256i,
    ) -> __m256i {
        let mut acc = init;
        let far = 4 * self.sx;
        for (ky, &(start, _)) in rows.iter().enumerate() {
            let at = (start + cx) as usize;
            // SAFETY: both 16-byte loads lie inside `input` (the caller's contract).
            let v = unsafe {
                let p = input.as_ptr().add(at);
                _mm256_set_m128i(
                    _mm_loadu_si128(p.add(far).cast()),
                    _mm_loadu_si128(p.cast()),
                )
            };
            for i in 0..2 {
                let taps = _mm256_srai_epi16::<8>(_mm256_shuffle_epi8(v, self.patterns[i]));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(taps, words[2 * ky + i]));
            }
        }
        acc
    }

    /// Which of the 16 bytes from column `cx` lie inside the row (all-ones lanes).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn inside(&self, cx: isize) -> __m128i {
        // Lanes lo..hi are columns 0..width.
        let lo = (-cx).clamp(0, 16) as i8;
        let hi = (self.width as isize - cx).clamp(0, 16) as i8;
        _mm_and_si128(
            _mm_cmpgt_epi8(self.iota, _mm_set1_epi8(lo - 1)),
            _mm_cmpgt_epi8(_mm_set1_epi8(hi), self.iota),
        )
    }

    /// The 16 bytes of `row` from column `cx` on, `pad` outside the row; `inside` is
    /// [`Geometry::inside`]`(cx)`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn window(&self, input: &[i8], row: (isize, bool), cx: isize, inside: __m128i) -> __m128i {
        let (start, in_plane) = row;
        if !in_plane {
            return self.pad;
        }
        let at = start + cx;
        let len = input.len() as isize;
        if at >= 0 && at + 16 <= len {
            // SAFETY: the 16 bytes from `at` lie inside `input` (just checked).
            let raw = unsafe { _mm_loadu_si128(input.as_ptr().add(at as usize).cast()) };
            return _mm_blendv_epi8(self.pad, raw, inside);
        }
        // At the ends of `input`: load its 16 bytes nearest the window (it has at least 16)
        // and move the window's bytes into place; the row's bytes all lie within that load.
        let from = at.clamp(0, len - 16);
        let raw = load128(&input[from as usize..]);
        let index = _mm_add_epi8(self.iota, _mm_set1_epi8((at - from) as i8));
        _mm_blendv_epi8(self.pad, _mm_shuffle_epi8(raw, index), inside)
    }
}
