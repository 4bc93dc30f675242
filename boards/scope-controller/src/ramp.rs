//! How fast a stepper may step: a trapezoidal profile, speeding up at a constant
//! acceleration from rest, cruising at the top rate, slowing down as it came so that it
//! stops on the target step. A stepper asked to start or stop at full rate skips steps (the
//! rotor cannot follow), and a skipped step is a position the controller no longer knows.
//!
//! The rate for each step comes from distance alone, `v = sqrt(2 a n)` with `n` the steps
//! run or the steps left, whichever is fewer: integer arithmetic, no state beyond the two
//! counts, the same on the host and the microcontroller.

/// A motor's speed limits, in steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ramp {
    /// The top step rate, steps per second.
    pub max_rate: u32,
    /// The acceleration and deceleration, steps per second squared.
    pub accel: u32,
}

impl Ramp {
    /// The rate for the next step, steps per second, after `done` steps from rest with
    /// `remaining` steps to go (this one included). Never zero.
    pub fn rate(&self, done: u32, remaining: u32) -> u32 {
        let n = u64::from(done.saturating_add(1).min(remaining.max(1)));
        let v = (2 * u64::from(self.accel.max(1)) * n).isqrt();
        v.min(u64::from(self.max_rate.max(1))) as u32
    }

    /// The time to wait before the next step, in microseconds.
    pub fn interval_us(&self, done: u32, remaining: u32) -> u32 {
        1_000_000 / self.rate(done, remaining)
    }

    /// The steps a motor that ran `done` steps from rest needs to stop without skipping
    /// (at least one: the step under way).
    pub fn stopping_steps(&self, done: u32) -> u32 {
        let v = u64::from(self.rate(done, u32::MAX));
        let steps = v * v / (2 * u64::from(self.accel.max(1)));
        (steps.max(1)).min(u64::from(u32::MAX)) as u32
    }
}

#[cfg(test)]
mod tests;
