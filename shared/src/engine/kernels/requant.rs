//! Fixed-point requantization: how an i32 accumulator becomes an int8 output.
//! [`Requant::apply`] and [`OutputStage::apply`] are the definition every kernel matches
//! (the vector kernels' exact forms of it are in `vector_stage`).

use crate::params::Requant;

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
}
