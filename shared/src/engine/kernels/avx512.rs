//! AVX-512 VNNI kernels (x86-64 with AVX-512 F, BW, VL and VNNI).
//!
//! `vpdpbusd` multiplies unsigned bytes by signed bytes, four per i32 lane, and adds them
//! to the lane (wrapping, never saturating). Activations become unsigned by adding 128 (an
//! XOR with 0x80) when they are packed or loaded, and each row's accumulator then exceeds
//! the true one by exactly `128 * sum(weights of the row)`, which is taken off its bias.
//! Every step is exact, so the result equals the scalar reference bit for bit.
//!
//! GEMM: the right-hand side is packed into scratch as blocks of 16 columns, each column
//! holding 4 consecutive K values per 4-byte lane; a micro-kernel computes up to 8 rows by
//! 48 columns (24 accumulators in registers), broadcasting one weight word per row and
//! K-group, and requantizes the tile in registers. Depthwise: for 16 outputs at once, a
//! masked load straight from the input (padding from the pass-through operand), a dword
//! permutation and a byte shuffle gather each output's taps of a kernel row into its lane.
//!
//! Every function here requires the CPU features in its `target_feature` attribute; the
//! module's entry points are only called after `Isa::is_available` confirmed them. The
//! loops around the kernels are the generic drivers' (`tile`, `depthwise`).

use core::arch::x86_64::*;

use super::depthwise::{self, DepthwiseKernel};
use super::tile::{self, MicroKernel, Tile, tile_sizes};
#[cfg(doc)]
use super::vector_stage::HighWord;
use super::vector_stage::{Mode, RowFormula, StageRegisters, reference_lanes};
use super::{DepthwiseShape, OutputStage, PackedMatrix};

/// i32 lanes per vector: columns per packed block of the right-hand side.
const LANES: usize = 16;
/// Entries of the depthwise row table (output rows x kernel rows).
const ROW_TABLE: usize = 256;
/// Bytes of one K-group of one block: 16 columns x 4 K values.
const GROUP_BYTES: usize = 64;
/// Most weight words (groups of 4 taps) per depthwise filter.
const MAX_WORDS: usize = 64;

/// The AVX-512 VNNI kernels, as the generic drivers see them.
pub(super) struct Avx512Vnni;

impl StageRegisters for Avx512Vnni {
    const INPUT_OFFSET: i32 = 128;
    type Shared<'s> = Shared<'s>;
    type Stage<'s> = Stage<'s>;

    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn shared<'s>(stage: &'s OutputStage<'s>) -> Shared<'s> {
        Shared::new(stage)
    }

    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn stage<'s>(shared: &'s Shared<'_>, row: usize, offset: i32) -> Stage<'s> {
        shared.row(row, offset)
    }

    fn mode(stage: &Stage<'_>) -> Mode {
        stage.mode
    }
}

impl MicroKernel for Avx512Vnni {
    const TILE_ROWS: usize = 6;
    const K_GROUP: usize = 4;
    const LANES: usize = LANES;
    /// A row of a tile is one 64-byte store.
    const PANEL: usize = 4;

    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn pack_rhs(b: &[i8], k: usize, n: usize, dst: &mut [i8]) {
        pack_rhs(b, k, n, dst);
    }

    #[inline(always)]
    unsafe fn tile(height: usize, width: usize, t: &Tile<'_, Stage<'_>>, dst: &mut [i8]) {
        // SAFETY: the CPU has the kernels' features (this function's contract).
        unsafe {
            if t.folded {
                micro_any::<true>(height, width, t, dst);
            } else {
                micro_any::<false>(height, width, t, dst);
            }
        }
    }
}

/// The output stage's constants common to all rows, in broadcast registers.
pub(super) struct Shared<'s> {
    stage: &'s OutputStage<'s>,
    zero_point: __m512i,
    /// `min - zero_point` and `max - zero_point` in i64 lanes (wide mode).
    lo: __m512i,
    hi: __m512i,
    /// The int8 clamp (high modes), in 16 and 64 lanes.
    min: __m128i,
    max: __m128i,
    min64: __m512i,
    max64: __m512i,
    /// Puts the dwords of two rounds of `vpackssdw` and `vpacksswb` (which interleave
    /// 128-bit lanes) back in column order.
    unpack: __m512i,
}

impl<'s> Shared<'s> {
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn new(stage: &'s OutputStage<'s>) -> Shared<'s> {
        let zero_point = i64::from(stage.zero_point);
        Shared {
            stage,
            zero_point: _mm512_set1_epi32(stage.zero_point),
            lo: _mm512_set1_epi64(i64::from(stage.min) - zero_point),
            hi: _mm512_set1_epi64(i64::from(stage.max) - zero_point),
            min: _mm_set1_epi8(stage.min),
            max: _mm_set1_epi8(stage.max),
            min64: _mm512_set1_epi8(stage.min),
            max64: _mm512_set1_epi8(stage.max),
            unpack: _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15),
        }
    }

    /// Row `row`'s stage, for accumulators that exceed the true ones by `offset`. Cheap:
    /// depthwise convolutions make one per channel.
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn row(&self, row: usize, offset: i32) -> Stage<'_> {
        let f = RowFormula::new(self.stage, row, offset, true);
        Stage {
            init: _mm512_set1_epi32(f.init),
            multiplier: _mm512_set1_epi32(f.multiplier),
            round: match f.mode {
                Mode::HighFolded | Mode::High => _mm512_set1_epi32(f.round as i32),
                Mode::Wide => _mm512_set1_epi64(f.round),
                Mode::Scalar => _mm512_setzero_si512(),
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
/// or 0 in scalar mode where [`reference_lanes`] adds it), which saves an addition.
#[derive(Clone, Copy)]
pub(super) struct Stage<'s> {
    init: __m512i,
    multiplier: __m512i,
    /// The rounding constant: i32 lanes (high modes) or i64 lanes (wide mode).
    round: __m512i,
    /// `t` (high modes) or the shift (wide mode).
    shift: __m128i,
    mode: Mode,
    shared: &'s Shared<'s>,
    /// For the scalar mode: the row and its accumulator offset.
    row: usize,
    offset: i32,
}

impl Stage<'_> {
    /// The 16 outputs of 16 accumulators (bias included) in the high modes: the high words
    /// of the even and odd lanes' i64 products (`vpmuldq` multiplies the low halves of
    /// 64-bit lanes) are rounded and shifted in i32, narrowed with saturation and clamped as
    /// bytes.
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn apply_high(&self, x: __m512i, folded: bool) -> __m128i {
        let mut r = self.high(x);
        if !folded {
            r = _mm512_add_epi32(r, self.shared.zero_point);
        }
        let bytes = _mm512_cvtsepi32_epi8(r);
        _mm_min_epi8(_mm_max_epi8(bytes, self.shared.min), self.shared.max)
    }

    /// `(high word of x * multiplier + round) >> t` in i32 lanes (see
    /// [`HighWord`]).
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn high(&self, x: __m512i) -> __m512i {
        let even = _mm512_mul_epi32(x, self.multiplier);
        let odd = _mm512_mul_epi32(_mm512_srli_epi64::<32>(x), self.multiplier);
        // Lane 2i: dword 2i + 1 of `even` (its high word); lane 2i + 1: that of `odd`.
        let high = _mm512_mask_shuffle_epi32::<0b1111_0101>(odd, 0x5555, even);
        _mm512_sra_epi32(_mm512_add_epi32(high, self.round), self.shift)
    }

    /// Writes the outputs of up to 4 vectors of accumulators (one row of a tile) to `dst`
    /// (at most 64 bytes), in folded high mode: narrowed with saturation by two rounds of
    /// packing, clamped and stored at once.
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn store_folded_row<const V: usize>(&self, acc: &[__m512i; V], dst: &mut [i8]) {
        let mut r = [_mm512_setzero_si512(); 4];
        for (r, &a) in r.iter_mut().zip(acc) {
            *r = self.high(a);
        }
        let words = [
            _mm512_packs_epi32(r[0], r[1]),
            _mm512_packs_epi32(r[2], r[3]),
        ];
        let bytes = _mm512_packs_epi16(words[0], words[1]);
        let bytes = _mm512_permutexvar_epi32(self.shared.unpack, bytes);
        let bytes = _mm512_min_epi8(_mm512_max_epi8(bytes, self.shared.min64), self.shared.max64);
        let len = dst.len().min(64);
        if len == 64 {
            // SAFETY: `dst` has at least 64 bytes.
            unsafe { _mm512_storeu_si512(dst.as_mut_ptr().cast(), bytes) };
        } else {
            let mask = (1u64 << len) - 1;
            // SAFETY: the mask selects the first `len` bytes, all inside `dst`; masked-off
            // bytes are not accessed.
            unsafe { _mm512_mask_storeu_epi8(dst.as_mut_ptr(), mask, bytes) };
        }
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
        let (lo, hi) = (self.shared.lo, self.shared.hi);
        let even = _mm512_min_epi64(_mm512_max_epi64(even, lo), hi);
        let odd = _mm512_min_epi64(_mm512_max_epi64(odd, lo), hi);
        // Odd results to the odd dwords (the low dword of each qword, moved up by one).
        let both = _mm512_mask_shuffle_epi32::<0b1010_0000>(even, 0xAAAA, odd);
        // Clamped to [lo, hi], the sum lies in [min, max]: wrapping i32 lanes are exact.
        _mm512_cvtepi32_epi8(_mm512_add_epi32(both, self.shared.zero_point))
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
                let mut bytes = [0i8; LANES];
                reference_lanes(self.shared.stage, self.row, self.offset, &lanes, &mut bytes);
                // SAFETY: `bytes` has 16 bytes.
                unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
            }
        }
    }

    /// [`Stage::bytes`], known to be in folded high mode when `FOLDED` (the common case,
    /// which the callers hoist out of their loops).
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn bytes_as<const FOLDED: bool>(&self, acc: __m512i) -> __m128i {
        if FOLDED {
            self.apply_high(acc, true)
        } else {
            self.bytes(acc)
        }
    }

    /// Writes the outputs of accumulators that started at `init` to `dst` (at most 16);
    /// `FOLDED` as for [`Stage::bytes_as`].
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn store<const FOLDED: bool>(&self, acc: __m512i, dst: &mut [i8]) {
        let valid = dst.len().min(LANES);
        let bytes = self.bytes_as::<FOLDED>(acc);
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
    // SAFETY: the CPU has the kernels' features (this function's), and a PackedMatrix
    // records AVX-512 VNNI only when packed in its layout.
    unsafe { tile::gemm::<Avx512Vnni>(w, b, n, stage, out, scratch) }
}

/// [`micro`] for `height` rows and `width` blocks (kept out of line: the 24 tile sizes are
/// too much code for the driver's loop).
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn micro_any<const F: bool>(height: usize, width: usize, t: &Tile<'_, Stage<'_>>, dst: &mut [i8]) {
    tile_sizes!(height, width; rows 6 5 4 3 2 else 1; blocks [4 3 2 else 1]; micro [F] (t, dst));
}

/// `R` rows by `V` blocks of 16 columns; `dst` starts at the tile's first output. `F`: all
/// rows are in folded high mode.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn micro<const R: usize, const V: usize, const F: bool>(t: &Tile<'_, Stage<'_>>, dst: &mut [i8]) {
    const TILE_ROWS: usize = Avx512Vnni::TILE_ROWS;
    // The raw reads below stay inside these slices.
    assert!(t.weights.len() >= t.groups * TILE_ROWS * 4 && R <= TILE_ROWS);
    assert!(t.stages.len() >= R);
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
        if F {
            t.stages[r].store_folded_row(row, &mut dst[r * t.n..r * t.n + t.cols]);
            continue;
        }
        for (j, &a) in row.iter().enumerate() {
            let start = r * t.n + j * LANES;
            let len = LANES.min(t.cols - j * LANES);
            t.stages[r].store::<false>(a, &mut dst[start..start + len]);
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
    let mut table = [(0, 0); ROW_TABLE];
    let mut kernel = Depthwise {
        g: Geometry::new(shape, pad, &mut table),
        kw,
        groups,
        plane: shape.height * shape.width,
        words: [_mm512_setzero_si512(); MAX_WORDS],
        rows: [(0, 0); MAX_WORDS],
    };
    // SAFETY: the CPU has the kernel's features (this function's).
    unsafe { depthwise::run(&mut kernel, shape, input, weights, stage, out) };
    true
}

/// The depthwise kernel prepared for one call.
struct Depthwise<'a> {
    g: Geometry<'a>,
    kw: usize,
    /// Groups of 4 taps per kernel row.
    groups: usize,
    /// Bytes of one input channel.
    plane: usize,
    /// The filter loaded last: 4 taps per word.
    words: [__m512i; MAX_WORDS],
    /// Where each kernel row of the current output row starts (general kernels).
    rows: [(isize, u64); MAX_WORDS],
}

impl DepthwiseKernel for Depthwise<'_> {
    type Isa = Avx512Vnni;

    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn load_filter(&mut self, filter: &[i8]) -> i32 {
        // Weight words built in registers (bytes stored and reloaded as a word would stall
        // store forwarding, once per channel).
        let (kw, groups, words) = (self.kw, self.groups, &mut self.words);
        let mut sum = 0i32;
        if kw == 3 {
            for (ky, taps) in filter.chunks_exact(3).enumerate() {
                let [a, b, c] = [taps[0], taps[1], taps[2]];
                let word = u32::from(a as u8) | u32::from(b as u8) << 8 | u32::from(c as u8) << 16;
                sum += i32::from(a) + i32::from(b) + i32::from(c);
                words[ky] = _mm512_set1_epi32(word as i32);
            }
        } else {
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
        }
        sum.wrapping_mul(Avx512Vnni::INPUT_OFFSET)
    }

    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn channel(&mut self, input: &[i8], c: usize, st: &Stage<'_>, dst: &mut [i8]) {
        let Depthwise {
            g,
            groups,
            plane,
            words,
            rows,
            ..
        } = self;
        let (kh, groups) = (g.kh, *groups);
        let base = (c * *plane) as isize;
        if kh == 3 && groups == 1 {
            let w = [words[0], words[1], words[2]];
            if st.mode == Mode::HighFolded {
                g.channel3::<true>(input, base, &w, st, dst);
            } else {
                g.channel3::<false>(input, base, &w, st, dst);
            }
            return;
        }
        for (oy, line) in dst.chunks_exact_mut(g.ow).enumerate() {
            for (ky, row) in rows.iter_mut().enumerate().take(kh) {
                *row = g.row(base, oy, ky);
            }
            g.line_any(input, &rows[..kh], groups, words, st, line);
        }
    }
}

/// The shape-dependent constants of the depthwise inner loops.
struct Geometry<'a> {
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
    kh: usize,
    /// [`Geometry::row`] for plane start 0, per output row and kernel row, when the table
    /// is large enough (small maps, where the per-channel work matters most); else empty.
    rows: &'a [(isize, u64)],
}

impl<'a> Geometry<'a> {
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn new(
        shape: &DepthwiseShape,
        pad: i8,
        table: &'a mut [(isize, u64); ROW_TABLE],
    ) -> Geometry<'a> {
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
        let mut g = Geometry {
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
            kh: shape.kernel[0],
            rows: &[],
        };
        let entries = g.oh * g.kh;
        if entries <= ROW_TABLE {
            for (i, entry) in table.iter_mut().enumerate().take(entries) {
                *entry = g.row_computed(0, i / g.kh, i % g.kh);
            }
            g.rows = &table[..entries];
        }
        g
    }

    /// Where kernel row `ky` of output row `oy` starts in the input (`base` is the plane's
    /// start), and all-ones if that row is inside the plane, else 0 (all padding).
    #[inline(always)]
    fn row(&self, base: isize, oy: usize, ky: usize) -> (isize, u64) {
        if let Some(&(offset, mask)) = self.rows.get(oy * self.kh + ky) {
            return (base + offset, mask);
        }
        self.row_computed(base, oy, ky)
    }

    /// [`Geometry::row`] without the table.
    #[inline(always)]
    fn row_computed(&self, base: isize, oy: usize, ky: usize) -> (isize, u64) {
        let iy = (oy * self.sy + ky * self.dy).wrapping_sub(self.py);
        // Branch-free: which rows are padding changes along the channel's rows.
        let inside = iy < self.height;
        let offset = if inside { iy * self.width } else { 0 };
        (base + offset as isize, u64::from(inside).wrapping_neg())
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

    /// One channel of a 3-row kernel at most 4 taps wide; `F`: the stage is in folded high
    /// mode.
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn channel3<const F: bool>(
        &self,
        input: &[i8],
        base: isize,
        w: &[__m512i; 3],
        st: &Stage,
        dst: &mut [i8],
    ) {
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
                let bytes = _mm_shuffle_epi8(st.bytes_as::<F>(acc), self.squeeze);
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
                    st.store::<F>(a0, d0);
                    st.store::<F>(a1, d1);
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
                st.store::<F>(acc, d);
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
            st.store::<false>(acc, dst);
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
