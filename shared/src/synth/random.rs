//! Seeded draws. Only raw `u32`s come from the generator and every conversion to a float is
//! written here, so a seed gives the same smear on every platform and with every `rand`
//! release that keeps ChaCha8's stream.

use core::f32::consts::TAU;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A ChaCha8 stream with the few distributions the renderer draws from.
pub(crate) struct Dice(ChaCha8Rng);

impl Dice {
    pub(crate) fn new(seed: u64) -> Self {
        Dice(ChaCha8Rng::seed_from_u64(seed))
    }

    pub(crate) fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    /// Uniform in `[0, 1)`, with 24 bits so every value is exact in an `f32`.
    pub(crate) fn unit(&mut self) -> f32 {
        (self.0.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    pub(crate) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in `[lo, hi]` drawn from a `[lo, hi]` pair, the form the look tables use.
    pub(crate) fn within(&mut self, span: [f32; 2]) -> f32 {
        self.range(span[0], span[1])
    }

    /// Uniform integer in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u32) -> u32 {
        ((u64::from(self.0.next_u32()) * u64::from(n)) >> 32) as u32
    }

    pub(crate) fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }

    pub(crate) fn angle(&mut self) -> f32 {
        self.unit() * TAU
    }

    /// Box-Muller; `rand_distr` would add a dependency for one line.
    pub(crate) fn normal(&mut self, mean: f32, sd: f32) -> f32 {
        // Shifted by one so the logarithm never sees zero.
        let u1 = ((self.0.next_u32() >> 8) as f32 + 1.0) * (1.0 / 16_777_216.0);
        let u2 = self.unit();
        mean + sd * libm::sqrtf(-2.0 * libm::logf(u1)) * libm::cosf(TAU * u2)
    }

    /// A normal draw clipped to `[lo, hi]`, for sizes that must stay physical.
    pub(crate) fn normal_in(&mut self, spec: [f32; 4]) -> f32 {
        self.normal(spec[0], spec[1]).clamp(spec[2], spec[3])
    }

    /// An index drawn with the given probabilities (they need not sum to one).
    pub(crate) fn pick(&mut self, weights: &[f32]) -> usize {
        let total: f32 = weights.iter().map(|w| w.max(0.0)).sum();
        let mut left = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            left -= w.max(0.0);
            if left < 0.0 {
                return i;
            }
        }
        // Rounding can leave a sliver past the last weight; it belongs to the last non-zero one.
        weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
    }
}

/// Combines a seed with a tag into a new, well-mixed seed, so independent parts of a scene
/// (stain, layout, one tile of a slide) get independent streams.
pub(crate) fn mix(seed: u64, tag: u64) -> u64 {
    splitmix64(seed ^ splitmix64(tag))
}

fn splitmix64(z: u64) -> u64 {
    let mut z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
