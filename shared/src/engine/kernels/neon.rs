//! AArch64 NEON kernels with the dot-product extension (Armv8.2 `dotprod`: Cortex-A55,
//! A76 and later, e.g. Jetson Orin and Raspberry Pi 5).
//!
//! `sdot` multiplies signed bytes by signed bytes, four per i32 lane, and adds them to the
//! lane; the by-element form takes the four weights of one row from a lane of a register.
//! Its intrinsics (`vdotq_s32`, `vdotq_laneq_s32`) are still unstable in Rust 1.95, so the
//! two instructions are written as inline assembly; everything else uses the stable
//! intrinsics.
//!
//! GEMM: the right-hand side is packed into scratch as blocks of 4 columns, each column
//! holding 4 consecutive K values per 4-byte lane; a micro-kernel computes up to 8 rows by
//! 12 columns (24 accumulators). Depthwise: rows are copied with their padding into a
//! small ring (see `padded`), and for 4 outputs at once one load and a table lookup gather
//! each output's 4 taps of a kernel row into its lane.
//!
//! Every function here requires NEON and `dotprod`; the module's entry points are only
//! called after `Isa::is_available` confirmed them. The loops around the kernels are the
//! generic drivers' (`tile`, `depthwise`).

use core::arch::aarch64::*;
use core::arch::asm;

use super::depthwise::{self, DepthwiseKernel};
use super::padded::{MAX_WORDS, Plan, RING, Ring};
use super::tile::{self, MicroKernel, Tile, tile_sizes};
use super::vector_stage::{Mode, RowFormula, StageRegisters, reference_lanes};
use super::{DepthwiseShape, OutputStage, PackedMatrix};

/// i32 lanes per vector: columns per packed block of the right-hand side.
const LANES: usize = 4;
/// Bytes of one K-group of one block: 4 columns x 4 K values.
const GROUP_BYTES: usize = 16;

/// The NEON kernels with the dot-product extension, as the generic drivers see them.
pub(super) struct NeonDot;

impl StageRegisters for NeonDot {
    const INPUT_OFFSET: i32 = 0;
    type Shared<'s> = Shared<'s>;
    type Stage<'s> = Stage<'s>;

    #[target_feature(enable = "neon,dotprod")]
    #[inline]
    unsafe fn shared<'s>(stage: &'s OutputStage<'s>) -> Shared<'s> {
        Shared::new(stage)
    }

    #[target_feature(enable = "neon,dotprod")]
    #[inline]
    unsafe fn stage<'s>(shared: &'s Shared<'_>, row: usize, offset: i32) -> Stage<'s> {
        shared.row(row, offset)
    }

    fn mode(stage: &Stage<'_>) -> Mode {
        stage.mode
    }
}

impl MicroKernel for NeonDot {
    const TILE_ROWS: usize = 8;
    const K_GROUP: usize = 4;
    const LANES: usize = LANES;
    /// At most 3: the unrolled kernel.
    const PANEL: usize = 3;

    #[target_feature(enable = "neon,dotprod")]
    #[inline]
    unsafe fn pack_rhs(b: &[i8], k: usize, n: usize, dst: &mut [i8]) {
        pack_rhs(b, k, n, dst);
    }

    #[inline(always)]
    unsafe fn tile(height: usize, width: usize, t: &Tile<'_, Stage<'_>>, dst: &mut [i8]) {
        // SAFETY: the CPU has NEON and `dotprod` (this function's contract).
        unsafe {
            if t.folded {
                tile_sizes!(height, width; rows 8 7 6 5 4 3 2 else 1; blocks [3 2 else 1];
                    micro [true] (t, dst));
            } else {
                tile_sizes!(height, width; rows 8 7 6 5 4 3 2 else 1; blocks [3 2 else 1];
                    micro [false] (t, dst));
            }
        }
    }
}

/// `acc[i] += sum(a[4i + q] * b[4i + q] for q < 4)`.
#[target_feature(enable = "neon,dotprod")]
#[inline]
fn sdot(mut acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: `sdot` exists on this CPU (the function's target features) and only reads and
    // writes the named registers.
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

/// `acc[i] += sum(a[4i + q] * b[4L + q] for q < 4)`: one row's weights from lane `L`.
#[target_feature(enable = "neon,dotprod")]
#[inline]
fn sdot_lane<const L: usize>(mut acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: as for `sdot`; `L < 4` is a valid lane for the `.4b[L]` form.
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.4b[{lane}]",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            lane = const L,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

#[target_feature(enable = "neon,dotprod")]
#[inline]
fn load16(s: &[i8]) -> int8x16_t {
    let s = &s[..16];
    // SAFETY: `s` has 16 bytes.
    unsafe { vld1q_s8(s.as_ptr()) }
}

#[target_feature(enable = "neon,dotprod")]
#[inline]
fn store16(d: &mut [i8], v: int8x16_t) {
    let d = &mut d[..16];
    // SAFETY: `d` has 16 bytes.
    unsafe { vst1q_s8(d.as_mut_ptr(), v) }
}

/// The output stage's constants common to all rows, in broadcast registers.
pub(super) struct Shared<'s> {
    stage: &'s OutputStage<'s>,
    zero_point: int32x4_t,
    /// `min - zero_point` and `max - zero_point` (wide mode, when they fit in i32).
    lo: int32x4_t,
    hi: int32x4_t,
    wide: bool,
    /// The int8 clamp (high modes).
    min: int8x8_t,
    max: int8x8_t,
}

impl<'s> Shared<'s> {
    #[target_feature(enable = "neon,dotprod")]
    #[inline]
    fn new(stage: &'s OutputStage<'s>) -> Shared<'s> {
        let zero_point = i64::from(stage.zero_point);
        let lo = i32::try_from(i64::from(stage.min) - zero_point);
        let hi = i32::try_from(i64::from(stage.max) - zero_point);
        Shared {
            stage,
            zero_point: vdupq_n_s32(stage.zero_point),
            lo: vdupq_n_s32(lo.unwrap_or(0)),
            hi: vdupq_n_s32(hi.unwrap_or(0)),
            wide: lo.is_ok() && hi.is_ok(),
            min: vdup_n_s8(stage.min),
            max: vdup_n_s8(stage.max),
        }
    }

    /// Row `row`'s stage, for accumulators that exceed the true ones by `offset`.
    #[target_feature(enable = "neon,dotprod")]
    #[inline]
    fn row(&self, row: usize, offset: i32) -> Stage<'_> {
        let f = RowFormula::new(self.stage, row, offset, self.wide);
        let high = matches!(f.mode, Mode::HighFolded | Mode::High);
        let wide = f.mode == Mode::Wide;
        Stage {
            init: vdupq_n_s32(f.init),
            multiplier: vdupq_n_s32(f.multiplier),
            round32: vdupq_n_s32(if high { f.round as i32 } else { 0 }),
            shift32: vdupq_n_s32(if high { -(f.shift as i32) } else { 0 }),
            round64: vdupq_n_s64(if wide { f.round } else { 0 }),
            shift64: vdupq_n_s64(if wide { -i64::from(f.shift) } else { 0 }),
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
    init: int32x4_t,
    multiplier: int32x4_t,
    /// High modes: the rounding constant and minus `t` (`sshl` by a negative count is an
    /// arithmetic shift right).
    round32: int32x4_t,
    shift32: int32x4_t,
    /// Wide mode: the same in i64 lanes.
    round64: int64x2_t,
    shift64: int64x2_t,
    mode: Mode,
    shared: &'s Shared<'s>,
    /// For the scalar mode: the row and its accumulator offset.
    row: usize,
    offset: i32,
}

impl Stage<'_> {
    /// The outputs of 4 accumulators (bias included) in the high modes: the high words of
    /// the i64 products, rounded and shifted in i32, narrowed with saturation and clamped
    /// as bytes (in lanes 0..4).
    #[target_feature(enable = "neon,dotprod")]
    #[inline]
    fn apply_high(&self, x: int32x4_t, folded: bool) -> int8x8_t {
        let low = vmull_s32(vget_low_s32(x), vget_low_s32(self.multiplier));
        let high = vmull_high_s32(x, self.multiplier);
        let words = vshrn_high_n_s64::<32>(vshrn_n_s64::<32>(low), high);
        let mut r = vshlq_s32(vaddq_s32(words, self.round32), self.shift32);
        if !folded {
            r = vaddq_s32(r, self.shared.zero_point);
        }
        let n = vqmovn_s32(r);
        let b = vqmovn_s16(vcombine_s16(n, n));
        vmin_s8(vmax_s8(b, self.shared.min), self.shared.max)
    }

    /// The outputs of 4 accumulators (bias included) in wide mode: i64 products, rounded
    /// and shifted, saturated to i32 (harmless: the clamp bounds lie inside i32), clamped,
    /// the zero point added and narrowed (in lanes 0..4).
    #[target_feature(enable = "neon,dotprod")]
    #[inline]
    fn apply_wide(&self, x: int32x4_t) -> int8x8_t {
        let low = vmull_s32(vget_low_s32(x), vget_low_s32(self.multiplier));
        let high = vmull_high_s32(x, self.multiplier);
        let low = vshlq_s64(vaddq_s64(low, self.round64), self.shift64);
        let high = vshlq_s64(vaddq_s64(high, self.round64), self.shift64);
        let v = vcombine_s32(vqmovn_s64(low), vqmovn_s64(high));
        let v = vminq_s32(vmaxq_s32(v, self.shared.lo), self.shared.hi);
        // Clamped to [lo, hi], the sum lies in [min, max]: wrapping i32 lanes are exact.
        let v = vmovn_s32(vaddq_s32(v, self.shared.zero_point));
        vmovn_s16(vcombine_s16(v, v))
    }

    /// Writes the outputs of accumulators that started at `init` to `dst` (at most 4);
    /// `FOLDED`: the row is known to be in folded high mode (the common case, which the
    /// callers hoist out of their loops and which keeps this small enough to inline).
    #[target_feature(enable = "neon,dotprod")]
    #[inline]
    fn store<const FOLDED: bool>(&self, acc: int32x4_t, dst: &mut [i8]) {
        let bytes = match self.mode {
            _ if FOLDED => self.apply_high(acc, true),
            Mode::HighFolded => self.apply_high(acc, true),
            Mode::High => self.apply_high(acc, false),
            Mode::Wide => self.apply_wide(acc),
            Mode::Scalar => {
                let lanes = [
                    vgetq_lane_s32::<0>(acc),
                    vgetq_lane_s32::<1>(acc),
                    vgetq_lane_s32::<2>(acc),
                    vgetq_lane_s32::<3>(acc),
                ];
                return reference_lanes(self.shared.stage, self.row, self.offset, &lanes, dst);
            }
        };
        let bytes = vget_lane_u32::<0>(vreinterpret_u32_s8(bytes)).to_le_bytes();
        if let Ok(dst) = <&mut [i8; LANES]>::try_from(&mut *dst) {
            *dst = bytes.map(|b| b as i8);
        } else {
            for (d, &b) in dst.iter_mut().zip(&bytes) {
                *d = b as i8;
            }
        }
    }
}

/// See [`super::gemm_i8`]; `scratch` receives the packed right-hand side.
#[target_feature(enable = "neon,dotprod")]
pub(super) fn gemm(
    w: &PackedMatrix,
    b: &[i8],
    n: usize,
    stage: &OutputStage,
    out: &mut [i8],
    scratch: &mut [i8],
) {
    // SAFETY: the CPU has NEON and `dotprod` (this function's features), and a
    // PackedMatrix records NEON only when packed in its layout.
    unsafe { tile::gemm::<NeonDot>(w, b, n, stage, out, scratch) }
}

/// `R` rows by `V` blocks of 4 columns; `dst` starts at the tile's first output. `F`: all
/// rows are in folded high mode.
#[target_feature(enable = "neon,dotprod")]
#[inline]
fn micro<const R: usize, const V: usize, const F: bool>(t: &Tile<'_, Stage<'_>>, dst: &mut [i8]) {
    const TILE_ROWS: usize = NeonDot::TILE_ROWS;
    // The raw reads below stay inside these slices.
    assert!(t.weights.len() >= t.groups * TILE_ROWS * 4 && R <= TILE_ROWS);
    assert!(t.stages.len() >= R);
    assert!(t.panel.len() >= V * t.block_bytes && t.block_bytes >= t.groups * GROUP_BYTES);
    assert!(dst.len() >= (R - 1) * t.n + t.cols && t.cols <= V * LANES);
    let (wp, bp) = (t.weights.as_ptr(), t.panel.as_ptr());
    let mut acc = [[vdupq_n_s32(0); V]; R];
    for (row, stage) in acc.iter_mut().zip(t.stages) {
        *row = [stage.init; V];
    }
    for g in 0..t.groups {
        let mut bv = [vdupq_n_s8(0); V];
        for (j, v) in bv.iter_mut().enumerate() {
            // SAFETY: block j < V, group g < groups: inside `panel` (asserted above).
            *v = unsafe { vld1q_s8(bp.add(j * t.block_bytes + g * GROUP_BYTES)) };
        }
        // SAFETY: the tile's 8 words of group g (32 bytes) lie inside `weights`.
        let (w0, w1) = unsafe {
            let at = wp.add(g * TILE_ROWS * 4);
            (vld1q_s8(at), vld1q_s8(at.add(16)))
        };
        // Unrolled by hand: LLVM does not unroll loops around inline assembly, and the
        // rolled loop keeps the accumulators in memory and picks lanes via a jump table.
        macro_rules! rows {
            ($($r:literal: lane $lane:literal of $w:ident),*) => {$(
                if $r < R {
                    if V > 0 {
                        acc[$r][0] = sdot_lane::<$lane>(acc[$r][0], bv[0], $w);
                    }
                    if V > 1 {
                        acc[$r][1] = sdot_lane::<$lane>(acc[$r][1], bv[1], $w);
                    }
                    if V > 2 {
                        acc[$r][2] = sdot_lane::<$lane>(acc[$r][2], bv[2], $w);
                    }
                }
            )*};
        }
        rows!(
            0: lane 0 of w0,
            1: lane 1 of w0,
            2: lane 2 of w0,
            3: lane 3 of w0,
            4: lane 0 of w1,
            5: lane 1 of w1,
            6: lane 2 of w1,
            7: lane 3 of w1
        );
    }
    for (r, row) in acc.iter().enumerate() {
        for (j, &a) in row.iter().enumerate() {
            let start = r * t.n + j * LANES;
            let len = LANES.min(t.cols - j * LANES);
            t.stages[r].store::<F>(a, &mut dst[start..start + len]);
        }
    }
}

/// Packs `b` (`k x n`) into blocks of 4 columns; block `j` holds, per K-group `g`, 16
/// bytes: column `4j + c` at `4c..4c + 4`, its K values `4g..4g + 4`. Positions past `k`
/// or `n` are left as they are: they meet zero weights or are never stored.
#[target_feature(enable = "neon,dotprod")]
fn pack_rhs(b: &[i8], k: usize, n: usize, dst: &mut [i8]) {
    let groups = k.div_ceil(4);
    let block_bytes = groups * GROUP_BYTES;
    let full = n / 16 * 16;
    for c0 in (0..full).step_by(16) {
        let at = c0 / LANES * block_bytes;
        for g in 0..groups {
            let mut r = [vdupq_n_s8(0); 4];
            for (q, v) in r.iter_mut().enumerate() {
                let p = 4 * g + q;
                if p < k {
                    *v = load16(&b[p * n + c0..]);
                }
            }
            // Interleave bytes of rows (0, 1) and (2, 3), then 16-bit pairs: e0..e3 hold
            // columns 0-3, 4-7, 8-11, 12-15, four K values each.
            let a = vreinterpretq_s16_s8(vzip1q_s8(r[0], r[1]));
            let bb = vreinterpretq_s16_s8(vzip2q_s8(r[0], r[1]));
            let c = vreinterpretq_s16_s8(vzip1q_s8(r[2], r[3]));
            let d = vreinterpretq_s16_s8(vzip2q_s8(r[2], r[3]));
            let e = [
                vzip1q_s16(a, c),
                vzip2q_s16(a, c),
                vzip1q_s16(bb, d),
                vzip2q_s16(bb, d),
            ];
            for (i, &v) in e.iter().enumerate() {
                store16(
                    &mut dst[at + i * block_bytes + g * GROUP_BYTES..],
                    vreinterpretq_s8_s16(v),
                );
            }
        }
    }
    for c in full..n {
        let at = c / LANES * block_bytes + c % LANES * 4;
        for p in 0..k {
            dst[at + p / 4 * GROUP_BYTES + p % 4] = b[p * n + c];
        }
    }
}

/// See [`super::depthwise_i8`]; returns false (having written nothing) for shapes this
/// kernel does not cover, which the caller hands to the scalar kernel.
#[target_feature(enable = "neon,dotprod")]
pub(super) fn depthwise(
    shape: &DepthwiseShape,
    input: &[i8],
    pad: i8,
    weights: &[i8],
    stage: &OutputStage,
    out: &mut [i8],
) -> bool {
    let [sx, dx] = [shape.stride[1], shape.dilation[1]];
    // The table lookup gathers bytes sx * j + dx * t (j, t < 4) from one 16-byte load.
    if 3 * (sx + dx) > 15 {
        return false;
    }
    let Some(plan) = Plan::new(shape, 4, LANES, 16) else {
        return false;
    };
    let mut pattern = [0u8; 16];
    for j in 0..4 {
        for t in 0..4 {
            pattern[4 * j + t] = (sx * j + dx * t) as u8;
        }
    }
    let mut kernel = Depthwise {
        shape: *shape,
        plan,
        // SAFETY: `pattern` has 16 bytes.
        pattern: unsafe { vld1q_u8(pattern.as_ptr()) },
        pad,
        ring: Ring::new(plan.slots, 0),
        words: [0; MAX_WORDS],
        wv: [vdupq_n_s8(0); MAX_WORDS],
    };
    // SAFETY: the CPU has NEON and `dotprod` (this function's features).
    unsafe { depthwise::run(&mut kernel, shape, input, weights, stage, out) };
    true
}

/// The depthwise kernel prepared for one call.
struct Depthwise {
    shape: DepthwiseShape,
    plan: Plan,
    /// Per output `j` of a vector and tap `t`, the byte `sx * j + dx * t` of a window.
    pattern: uint8x16_t,
    pad: i8,
    ring: Ring,
    /// The filter loaded last, as words of 4 taps and broadcast.
    words: [i32; MAX_WORDS],
    wv: [int8x16_t; MAX_WORDS],
}

impl DepthwiseKernel for Depthwise {
    type Isa = NeonDot;

    #[target_feature(enable = "neon,dotprod")]
    #[inline]
    unsafe fn load_filter(&mut self, filter: &[i8]) -> i32 {
        let [kh, kw] = self.shape.kernel;
        self.plan.words(filter, kw, &mut self.words);
        for (v, &word) in self
            .wv
            .iter_mut()
            .zip(&self.words)
            .take(kh * self.plan.groups)
        {
            *v = vreinterpretq_s8_s32(vdupq_n_s32(word));
        }
        0
    }

    #[target_feature(enable = "neon,dotprod")]
    #[inline]
    unsafe fn channel(&mut self, input: &[i8], c: usize, st: &Stage<'_>, dst: &mut [i8]) {
        let Depthwise {
            shape,
            plan,
            pattern,
            pad,
            ring,
            wv,
            ..
        } = self;
        let (pattern, pad) = (*pattern, *pad);
        let [kh, _] = shape.kernel;
        let [sy, sx] = shape.stride;
        let [dy, dx] = shape.dilation;
        let (h, w) = (shape.height, shape.width);
        let (oh, ow) = (shape.out_height(), shape.out_width());
        let groups = plan.groups;
        let plane = &input[c * h * w..(c + 1) * h * w];
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
                    let mut acc = st.init;
                    for (ky, &slot) in slots.iter().enumerate().take(kh) {
                        let row = ring.row(slot);
                        for g in 0..groups {
                            let at = x * sx + g * 4 * dx;
                            // In bounds: the plan keeps at + 16 <= len <= ROW_BYTES.
                            let taps = vqtbl1q_s8(load16(&row[at..]), pattern);
                            acc = sdot(acc, taps, wv[ky * groups + g]);
                        }
                    }
                    st.store::<false>(acc, &mut line[x..count.min(x + LANES)]);
                }
            }
        }
    }
}
