//! Fixed-point requantization: how an i32 accumulator becomes an int8 output.
//!
//! [`Requant::apply`] and [`OutputStage::apply`] are the definition; the vector kernels
//! compute the same thing lane by lane from a [`RowStage`], which folds the per-row
//! constants once per tile so that the inner loops only see broadcast registers.

use serde::{Deserialize, Serialize};

/// Fixed-point multiplier: real value = `multiplier / 2^shift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Requant {
    /// The integer numerator; `[2^30, 2^31)` when built by [`Requant::from_real`] from a
    /// representable value.
    pub multiplier: i32,
    /// Power of two of the denominator; the engine accepts `1..=62`.
    pub shift: u8,
}

impl Requant {
    /// The nearest representation of a positive real `m`: `multiplier` in `[2^30, 2^31)` and
    /// `shift` in `1..=62` where possible.
    ///
    /// Below `2^-32` the multiplier loses leading bits (shift stays 62) and anything that
    /// rounds to nothing, as well as zero, negative numbers and NaN, becomes multiplier 0,
    /// shift 1. From `2^30` up the multiplier saturates at `i32::MAX` with shift 1. Used when
    /// quantizing a model, never at inference, so floats are fine here.
    pub fn from_real(m: f64) -> Requant {
        const ZERO: Requant = Requant {
            multiplier: 0,
            shift: 1,
        };
        if m.is_nan() || m <= 0.0 {
            return ZERO;
        }
        if m >= f64::from(1u32 << 30) {
            return Requant {
                multiplier: i32::MAX,
                shift: 1,
            };
        }
        // m = mantissa * 2^exp with mantissa in [0.5, 1): the multiplier mantissa * 2^31 is
        // then in [2^30, 2^31) and the shift is 31 - exp.
        let (mantissa, exp) = libm::frexp(m);
        let mut shift = 31 - exp;
        let mut scaled = mantissa * f64::from(1u32 << 31);
        if shift > 62 {
            // Too small for a full-width multiplier: keep the largest shift.
            scaled = libm::ldexp(scaled, 62 - shift);
            shift = 62;
        }
        let mut multiplier = libm::round(scaled) as i64;
        if multiplier == 1 << 31 {
            // Rounding carried into bit 31: halve (exact, the low bit is 0).
            multiplier >>= 1;
            shift -= 1;
        }
        if multiplier == 0 {
            return ZERO;
        }
        if shift < 1 {
            // Only m just below 2^30 gets here: saturate like larger values.
            return Requant {
                multiplier: i32::MAX,
                shift: 1,
            };
        }
        Requant {
            multiplier: multiplier as i32,
            shift: shift as u8,
        }
    }

    /// `round_half_up(acc * multiplier / 2^shift)`, exactly, for every input.
    ///
    /// For the engine's shifts (`1..=62`) that is
    /// `((acc as i64 * multiplier as i64) + (1 << (shift - 1))) >> shift` with an arithmetic
    /// shift; it cannot overflow because `|acc * multiplier| <= 2^62`. Shift 0 is the plain
    /// product, and shifts beyond 62 are still rounded exactly (in i128).
    pub fn apply(self, acc: i32) -> i64 {
        let product = i64::from(acc) * i64::from(self.multiplier);
        match self.shift {
            0 => product,
            s @ 1..=62 => (product + (1 << (s - 1))) >> s,
            s => {
                // Beyond 64 the quotient is below 1/4 in magnitude: same result as 64.
                let s = u32::from(s.min(64));
                ((i128::from(product) + (1i128 << (s - 1))) >> s) as i64
            }
        }
    }

    /// The real number this stands for (for tests and reports).
    pub fn to_real(self) -> f64 {
        f64::from(self.multiplier) / libm::ldexp(1.0, i32::from(self.shift))
    }
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

    /// Row `row`'s constants for a kernel whose accumulators exceed the true ones by
    /// `offset` (the VNNI kernels' `128 * sum(weights)`).
    pub(super) fn row(&self, row: usize, offset: i32) -> RowStage {
        let requant = self.requant[row];
        let zero_point = i64::from(self.zero_point);
        let (min, max) = (i64::from(self.min), i64::from(self.max));
        let shift = requant.shift;
        RowStage {
            bias: self.bias[row].wrapping_sub(offset),
            requant,
            round: if (1..=62).contains(&shift) {
                1 << (shift - 1)
            } else {
                0
            },
            lo: min - zero_point,
            hi: max - zero_point,
            min,
            max,
            zero_point: self.zero_point,
            vector: (1..=62).contains(&shift),
        }
    }
}

/// One row's output stage, prepared for the vector kernels.
///
/// The vectors compute `clamp(r, lo, hi) + zero_point` with `r = (x * multiplier + round)
/// >> shift` in i64 lanes: the same as clamping `zero_point + r` to `[min, max]`, but the
/// sum is then known to fit in int8, so it can be formed in wrapping i32 lanes.
#[derive(Clone, Copy, Debug)]
pub(super) struct RowStage {
    /// The row's bias minus the kernel's accumulator offset (wrapping, like the sum).
    pub bias: i32,
    /// The row's multiplier and shift.
    pub requant: Requant,
    /// `2^(shift - 1)`.
    pub round: i64,
    /// `min - zero_point`.
    pub lo: i64,
    /// `max - zero_point`.
    pub hi: i64,
    /// The output clamp, for [`RowStage::scalar`].
    pub min: i64,
    /// The output clamp, for [`RowStage::scalar`].
    pub max: i64,
    /// The output zero point.
    pub zero_point: i32,
    /// Whether the vector formula is exact for this row (shift in `1..=62`, so the rounding
    /// term is a power of two and the sum cannot overflow i64); otherwise the kernels call
    /// [`RowStage::scalar`] for the row.
    pub vector: bool,
}

impl RowStage {
    /// The output for a kernel accumulator (offset included), by the reference formula.
    pub fn scalar(&self, acc: i32) -> i8 {
        let x = acc.wrapping_add(self.bias);
        let v = i64::from(self.zero_point) + self.requant.apply(x);
        v.max(self.min).min(self.max) as i8
    }

    /// For shifts of 33 and more, the shift applied to the high word of the product, `t =
    /// shift - 32`, with which the row's output is computed in i32 lanes:
    ///
    /// With `P = x * multiplier = 2^32 * H + L` (`H` the signed high word, `0 <= L < 2^32`),
    /// `(P + 2^(s-1)) >> s = floor((2^32 (H + 2^(t-1)) + L) / 2^(32 + t))
    /// = (H + 2^(t-1)) >> t`, because adding `L / 2^32 < 1` to the integer `H + 2^(t-1)`
    /// cannot carry it past a multiple of `2^t`. `|P| <= 2^62` keeps `|H| <= 2^30`, so
    /// neither the rounding add nor, for `|zero_point| <= 2^30`, adding the zero point
    /// overflows i32; the int8 clamp can then follow a saturating narrowing.
    ///
    /// Realistic rows (a multiplier in `[2^30, 2^31)` for a scale below 1/2) have shifts of
    /// 33 and more; the others take the i64 formula.
    #[cfg_attr(target_arch = "aarch64", allow(dead_code))]
    pub fn high_word_shift(&self) -> Option<u32> {
        let shift = u32::from(self.requant.shift);
        let small_zero = self.zero_point.unsigned_abs() <= 1 << 30;
        ((33..=62).contains(&shift) && small_zero).then(|| shift - 32)
    }

    /// The rounding constant of the high-word formula for `t = shift - 32`, with the zero
    /// point folded in (`2^(t-1) + zero_point * 2^t`, then `true`) when the sum with any
    /// high word (`|H| <= 2^30`) stays in i32: `(H + 2^(t-1) + z 2^t) >> t = ((H + 2^(t-1))
    /// >> t) + z` exactly. Otherwise `2^(t-1)` and `false`.
    #[cfg_attr(target_arch = "aarch64", allow(dead_code))]
    pub fn high_round(&self, t: u32) -> (i32, bool) {
        let half = 1i64 << (t - 1);
        let folded = half + i64::from(self.zero_point) * (1i64 << t);
        if (-(1i64 << 30)..1i64 << 30).contains(&folded) {
            (folded as i32, true)
        } else {
            (half as i32, false)
        }
    }

    /// Whether `lo` and `hi` fit in i32, which the NEON kernels need for their saturating
    /// narrowing (false only for zero points beyond about ±2^31 - 128).
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    pub fn bounds_fit_i32(&self) -> bool {
        i32::try_from(self.lo).is_ok() && i32::try_from(self.hi).is_ok()
    }
}
