//! Fixed-point multipliers: how an int8 network rescales an integer result without
//! floating point. [`Requant::apply`] is the definition every kernel matches.

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
