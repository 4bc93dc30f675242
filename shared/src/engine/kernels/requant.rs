//! Fixed-point requantization: how an i32 accumulator becomes an int8 output.
//!
//! [`Requant::apply`] and [`OutputStage::apply`] are the definition. The vector kernels
//! compute the same bits in i32 lanes for realistic rows ([`Requant::high_word`], with the
//! proof), in i64 lanes for the other shifts the engine accepts, and by the reference itself
//! ([`RowStage`]) for anything else.

use crate::params::Requant;

impl Requant {
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
    #[cfg_attr(
        not(any(target_arch = "x86_64", target_arch = "aarch64")),
        allow(dead_code)
    )]
    pub(super) fn high_word(self, zero_point: i32) -> Option<HighWord> {
        if !(33..=62).contains(&self.shift) || zero_point.unsigned_abs() > 1 << 30 {
            return None;
        }
        let t = u32::from(self.shift) - 32;
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

/// The i32 form of a requantization (see [`Requant::high_word`]):
/// `((high word of x * multiplier) + round) >> shift`, plus the zero point unless `folded`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct HighWord {
    /// `shift - 32`, in `1..=30`.
    pub shift: u32,
    /// `2^(shift-1)`, plus `zero_point * 2^shift` when `folded`.
    pub round: i32,
    /// Whether `round` includes the zero point.
    pub folded: bool,
}

/// How i32 accumulators become int8 outputs, per output channel (= per matrix row):
/// `out = clamp(zero_point + requant[r].apply(acc + bias[r]), min, max)`.
///
/// `acc + bias[r]` wraps in i32. The engine guarantees it does not overflow (at most ~5000
/// products of at most 2^14 each, plus a bias of a similar size), so the wrap never shows;
/// it is specified only so that every kernel gives the same bits even for inputs the engine
/// never produces. The clamp takes the maximum with `min` first, then the minimum with `max`,
/// so a clamp with `min > max` yields `max` instead of panicking.
#[derive(Clone, Copy, Debug)]
pub struct OutputStage<'a> {
    /// One per row; added to the accumulator before requantization.
    pub bias: &'a [i32],
    /// One per row.
    pub requant: &'a [Requant],
    /// The output's zero point.
    pub zero_point: i32,
    /// Lowest output (the zero point under a fused ReLU).
    pub min: i8,
    /// Highest output (the image of 6.0 under a fused ReLU6).
    pub max: i8,
}

impl OutputStage<'_> {
    /// The output for accumulator `acc` of row `row`: the definition every kernel matches.
    ///
    /// # Panics
    /// If `row` is out of range of `bias` or `requant`.
    pub fn apply(&self, row: usize, acc: i32) -> i8 {
        let x = acc.wrapping_add(self.bias[row]);
        let v = i64::from(self.zero_point) + self.requant[row].apply(x);
        v.max(i64::from(self.min)).min(i64::from(self.max)) as i8
    }

    /// Row `row`'s constants, for a kernel whose accumulators exceed the true ones by
    /// `offset` (the VNNI kernels' `128 * sum(weights)`).
    #[cfg_attr(
        not(any(target_arch = "x86_64", target_arch = "aarch64")),
        allow(dead_code)
    )]
    pub(super) fn row(&self, row: usize, offset: i32) -> RowStage {
        RowStage {
            bias: self.bias[row].wrapping_sub(offset),
            requant: self.requant[row],
            zero_point: self.zero_point,
            min: self.min,
            max: self.max,
        }
    }
}

/// One row's output stage, for kernels whose accumulators exceed the true ones by a known
/// offset: the reference formula for the rows that the vector formulas do not cover.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(super) struct RowStage {
    /// The row's bias minus the kernel's accumulator offset (wrapping, like the sum).
    pub bias: i32,
    /// The row's multiplier and shift.
    pub requant: Requant,
    /// The output zero point.
    pub zero_point: i32,
    /// Lowest output.
    pub min: i8,
    /// Highest output.
    pub max: i8,
}

#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
impl RowStage {
    /// The output for a kernel accumulator (offset included), by the reference formula.
    pub fn scalar(&self, acc: i32) -> i8 {
        let x = acc.wrapping_add(self.bias);
        let v = i64::from(self.zero_point) + self.requant.apply(x);
        v.max(i64::from(self.min)).min(i64::from(self.max)) as i8
    }
}
