//! The output stage as the vector kernels compute it: exact 32-bit and 64-bit forms of
//! [`OutputStage::apply`], which form each row takes, and the trait an instruction set
//! implements to hold a stage in its registers (shared by the GEMM and depthwise drivers).
//!
//! Realistic rows (a scale below 1/2) take the i32 form ([`HighWord`], with the proof),
//! the other shifts the engine accepts take i64 lanes, and anything else takes the
//! reference itself ([`RowStage`]), so every row of every kernel gives the reference's bits.

use super::OutputStage;
use crate::params::Requant;

/// The i32 form of a requantization: `((high word of x * multiplier) + round) >> shift`,
/// plus the zero point unless `folded`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct HighWord {
    /// `shift - 32`, in `1..=30`.
    pub shift: u32,
    /// `2^(shift-1)`, plus `zero_point * 2^shift` when `folded`.
    pub round: i32,
    /// Whether `round` includes the zero point.
    pub folded: bool,
}

impl HighWord {
    /// The i32 form of [`Requant::apply`] followed by adding `zero_point`, for shifts of 33
    /// and more, which the vector kernels use for realistic rows (a multiplier in
    /// `[2^30, 2^31)` for a scale below 1/2); `None` for other shifts or extreme zero points.
    ///
    /// With `t = shift - 32` and `P = x * multiplier = 2^32 H + L` (`H` the signed high
    /// word, `0 <= L < 2^32`): `(P + 2^(s-1)) >> s = floor((2^32 (H + 2^(t-1)) + L) /
    /// 2^(32+t)) = (H + 2^(t-1)) >> t`, because adding `L / 2^32 < 1` to the integer
    /// `H + 2^(t-1)` cannot carry it past a multiple of `2^t`. `|P| <= 2^62` keeps
    /// `|H| <= 2^30`, so the rounding add cannot overflow i32, nor can adding a zero point
    /// of at most 2^30 afterwards. When `|2^(t-1) + zero_point * 2^t| < 2^30` the zero point
    /// is folded into the rounding constant instead (`folded`): `(H + 2^(t-1) + z 2^t) >> t
    /// = ((H + 2^(t-1)) >> t) + z` exactly, and the sum still fits.
    pub fn of(requant: Requant, zero_point: i32) -> Option<HighWord> {
        if !(33..=62).contains(&requant.shift) || zero_point.unsigned_abs() > 1 << 30 {
            return None;
        }
        let t = u32::from(requant.shift) - 32;
        let half = 1i64 << (t - 1);
        let with_zero = half + i64::from(zero_point) * (1i64 << t);
        let folded = (-(1i64 << 30)..1i64 << 30).contains(&with_zero);
        Some(HighWord {
            shift: t,
            round: if folded { with_zero } else { half } as i32,
            folded,
        })
    }
}

/// How a vector kernel computes one row's outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Shift 33..=62: i32 lanes from the high words of the products, the zero point folded
    /// into the rounding constant.
    HighFolded,
    /// The same, adding the zero point separately (extreme zero points).
    High,
    /// Other shifts in 1..=62 (where the kernel's i64 path covers the clamp): i64 lanes.
    Wide,
    /// Anything else: the reference, lane by lane.
    Scalar,
}

/// One row's output stage as plain numbers, which a kernel broadcasts into its registers.
#[derive(Clone, Copy, Debug)]
pub(super) struct RowFormula {
    /// Which form the row takes.
    pub mode: Mode,
    /// What the row's accumulators start at: its bias minus the kernel's accumulator offset
    /// (wrapping, like the sum), which saves an addition; 0 in scalar mode, where
    /// [`reference_lanes`] adds it.
    pub init: i32,
    /// The requantization's multiplier.
    pub multiplier: i32,
    /// The rounding constant: [`HighWord::round`] (high modes), `2^(shift - 1)` (wide), 0.
    pub round: i64,
    /// [`HighWord::shift`] (high modes), the requantization's shift (wide), 0.
    pub shift: u32,
}

impl RowFormula {
    /// Row `row` of `stage`, for a kernel whose accumulators exceed the true ones by
    /// `offset` and whose i64 path covers this stage's clamp when `wide`.
    #[inline(always)]
    pub fn new(stage: &OutputStage, row: usize, offset: i32, wide: bool) -> RowFormula {
        let requant = stage.requant[row];
        let (mode, round, shift) = match HighWord::of(requant, stage.zero_point) {
            Some(h) => {
                let mode = if h.folded {
                    Mode::HighFolded
                } else {
                    Mode::High
                };
                (mode, i64::from(h.round), h.shift)
            }
            None if wide && (1..=62).contains(&requant.shift) => (
                Mode::Wide,
                1 << (requant.shift - 1),
                u32::from(requant.shift),
            ),
            None => (Mode::Scalar, 0, 0),
        };
        RowFormula {
            mode,
            init: if mode == Mode::Scalar {
                0
            } else {
                stage.bias[row].wrapping_sub(offset)
            },
            multiplier: requant.multiplier,
            round,
            shift,
        }
    }
}

/// One row's output stage, for kernels whose accumulators exceed the true ones by a known
/// offset: the reference formula for the rows that the vector formulas do not cover.
#[derive(Clone, Copy, Debug)]
struct RowStage {
    /// The row's bias minus the kernel's accumulator offset (wrapping, like the sum).
    bias: i32,
    /// The row's multiplier and shift.
    requant: Requant,
    /// The output zero point.
    zero_point: i32,
    /// Lowest output.
    min: i8,
    /// Highest output.
    max: i8,
}

impl RowStage {
    /// Row `row`'s constants, for a kernel whose accumulators exceed the true ones by
    /// `offset` (the VNNI kernels' `128 * sum(weights)`).
    fn new(stage: &OutputStage, row: usize, offset: i32) -> RowStage {
        RowStage {
            bias: stage.bias[row].wrapping_sub(offset),
            requant: stage.requant[row],
            zero_point: stage.zero_point,
            min: stage.min,
            max: stage.max,
        }
    }

    /// The output for a kernel accumulator (offset included), by the reference formula.
    fn scalar(&self, acc: i32) -> i8 {
        let x = acc.wrapping_add(self.bias);
        let v = i64::from(self.zero_point) + self.requant.apply(x);
        v.max(i64::from(self.min)).min(i64::from(self.max)) as i8
    }
}

/// Writes the outputs of a scalar-mode row's accumulators `lanes` (offset included) to
/// `dst`, by the reference (rare: kept out of line so that the vector paths stay small
/// enough to inline).
#[cold]
#[inline(never)]
pub(super) fn reference_lanes<const N: usize>(
    stage: &OutputStage,
    row: usize,
    offset: i32,
    lanes: &[i32; N],
    dst: &mut [i8],
) {
    let row = RowStage::new(stage, row, offset);
    for (d, &a) in dst.iter_mut().zip(lanes) {
        *d = row.scalar(a);
    }
}

/// The output stage held in one instruction set's registers: constants common to all rows
/// ([`Shared`](Self::Shared)), broadcast once per call, and each row's
/// ([`Stage`](Self::Stage)), broadcast once per tile row or channel.
///
/// Implemented by a marker type per instruction set; its methods carry that set's
/// `#[target_feature]`, so calling them is only sound on a CPU that has it.
pub(super) trait StageRegisters {
    /// Added to every input byte before multiplying (128 for `vpdpbusd`, which reads
    /// unsigned bytes), so that a row's accumulators exceed the true ones by this times the
    /// sum of its weights; 0 for kernels that multiply signed bytes.
    const INPUT_OFFSET: i32;
    /// The constants common to all rows.
    type Shared<'s>;
    /// One row's constants.
    type Stage<'s>: Copy;

    /// Broadcasts `stage`'s common constants.
    ///
    /// # Safety
    /// The CPU has the instruction set's features.
    unsafe fn shared<'s>(stage: &'s OutputStage<'s>) -> Self::Shared<'s>;

    /// Broadcasts row `row`'s constants, for accumulators that exceed the true ones by
    /// `offset`.
    ///
    /// # Safety
    /// The CPU has the instruction set's features.
    unsafe fn stage<'s>(shared: &'s Self::Shared<'_>, row: usize, offset: i32) -> Self::Stage<'s>;

    /// Which form the row takes.
    fn mode(stage: &Self::Stage<'_>) -> Mode;
}
