//! One stepper axis: its step and direction pins, its limit switch, where it is in steps,
//! and the motion under way. Non-blocking: [`StepperAxis::tick`] makes at most one step
//! and returns at once, so that the controller keeps reading the link while three axes
//! move.

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{InputPin, OutputPin};

use crate::ramp::Ramp;

/// An axis' mechanics and limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AxisConfig {
    /// Travel per (micro)step, nanometres: lead screw pitch / (full steps per turn ×
    /// microsteps).
    pub nm_per_step: u32,
    /// The soft limit: positions from 0 (the limit switch) to this, nanometres.
    pub travel_nm: i32,
    /// How fast it may move.
    pub ramp: Ramp,
    /// The slow, constant rate of homing, steps per second: slow enough to stop within a
    /// step when the switch closes.
    pub home_rate: u32,
    /// Whether the switch pin reads low when pressed (a normally-open switch to ground
    /// with a pull-up).
    pub switch_active_low: bool,
}

impl AxisConfig {
    /// The axis' travel in steps.
    pub fn travel_steps(&self) -> i32 {
        self.travel_nm / self.nm_per_step.max(1) as i32
    }

    /// The step nearest to `nm`.
    pub fn steps_of(&self, nm: i32) -> i32 {
        let per = i64::from(self.nm_per_step.max(1));
        let nm = i64::from(nm);
        ((nm + per / 2).div_euclid(per)) as i32
    }
}

/// How a motion of one axis ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AxisEvent {
    /// At its target, or homed.
    Arrived,
    /// Ramped down early because it was told to stop.
    Stopped,
    /// The limit switch closed during a move: stopped at once, no longer homed.
    LimitHit,
    /// Homing ran its whole travel without the switch closing, or backed off as far
    /// without it opening.
    SwitchNotFound,
    /// A pin could not be driven or read: stopped, no longer homed.
    Fault,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Motion {
    Idle,
    /// A ramped move: `done` steps made, `remaining` to go.
    Moving {
        forward: bool,
        done: u32,
        remaining: u32,
        next_at: u64,
        stopping: bool,
    },
    /// Homing, first towards the switch until it closes, then away until it opens.
    Homing {
        seeking: bool,
        taken: u32,
        next_at: u64,
    },
    /// Told to stop while homing: ends at the next tick.
    Halted,
}

/// A stepper axis behind embedded-hal pins: step and direction outputs to a driver
/// (A4988, DRV8825, TMC2209 in step/dir mode) and the limit switch at its zero end.
pub struct StepperAxis<S, D, L> {
    step: S,
    dir: D,
    switch: L,
    config: AxisConfig,
    at: i32,
    homed: bool,
    motion: Motion,
}

/// The step pulse's width: drivers need about 1 µs high (A4988), 1.9 µs (DRV8825).
const PULSE_NS: u32 = 2_000;
/// Time between setting the direction and the next step edge (DRV8825: 650 ns).
const DIR_SETUP_NS: u32 = 1_000;

impl<S: OutputPin, D: OutputPin, L: InputPin> StepperAxis<S, D, L> {
    /// An axis at an unknown position (0, not homed), idle.
    pub fn new(step: S, dir: D, switch: L, config: AxisConfig) -> Self {
        StepperAxis {
            step,
            dir,
            switch,
            config,
            at: 0,
            homed: false,
            motion: Motion::Idle,
        }
    }

    /// Its mechanics.
    pub fn config(&self) -> &AxisConfig {
        &self.config
    }

    /// Where it is, nanometres from the switch (or from power-up before homing).
    pub fn position_nm(&self) -> i32 {
        self.at.saturating_mul(self.config.nm_per_step as i32)
    }

    /// Whether homing found its zero since power-up, and no limit hit or fault lost it.
    pub fn homed(&self) -> bool {
        self.homed
    }

    /// Whether a motion is under way.
    pub fn busy(&self) -> bool {
        self.motion != Motion::Idle
    }

    /// Whether `nm` lies within the soft limit.
    pub fn reaches(&self, nm: i32) -> bool {
        (0..=self.config.travel_nm).contains(&nm)
    }

    /// The pins, back (for tests that check what was driven).
    pub fn release(self) -> (S, D, L) {
        (self.step, self.dir, self.switch)
    }

    /// Starts a ramped move to `nm`. The caller has checked the soft limit.
    pub fn start_move(
        &mut self,
        nm: i32,
        now_us: u64,
        delay: &mut impl DelayNs,
    ) -> Result<(), AxisEvent> {
        let target = self.config.steps_of(nm);
        let distance = target - self.at;
        let forward = distance > 0;
        self.set_direction(forward, delay)?;
        self.motion = Motion::Moving {
            forward,
            done: 0,
            remaining: distance.unsigned_abs(),
            next_at: now_us,
            stopping: false,
        };
        Ok(())
    }

    /// Starts homing: towards the switch at the homing rate.
    pub fn start_homing(&mut self, now_us: u64, delay: &mut impl DelayNs) -> Result<(), AxisEvent> {
        self.homed = false;
        self.set_direction(false, delay)?;
        self.motion = Motion::Homing {
            seeking: true,
            taken: 0,
            next_at: now_us,
        };
        Ok(())
    }

    /// Slows a move down to a stop within the steps its speed needs; stops homing at once.
    pub fn stop(&mut self) {
        match &mut self.motion {
            Motion::Moving {
                done,
                remaining,
                stopping,
                ..
            } => {
                *remaining = (*remaining).min(self.config.ramp.stopping_steps(*done));
                *stopping = true;
            }
            Motion::Homing { .. } => self.motion = Motion::Halted,
            Motion::Idle | Motion::Halted => {}
        }
    }

    /// Ends any motion at once, without a ramp, and forgets the zero: what a limit hit or
    /// a fault on another axis calls for.
    pub fn halt(&mut self) {
        self.motion = Motion::Idle;
        self.homed = false;
    }

    /// Makes the step that is due at `now_us`, if one is, and says how the motion ended
    /// if it did.
    pub fn tick(&mut self, now_us: u64, delay: &mut impl DelayNs) -> Option<AxisEvent> {
        match self.advance(now_us, delay) {
            Ok(ended) => ended,
            Err(event) => {
                self.halt();
                Some(event)
            }
        }
    }

    fn advance(
        &mut self,
        now_us: u64,
        delay: &mut impl DelayNs,
    ) -> Result<Option<AxisEvent>, AxisEvent> {
        match self.motion {
            Motion::Idle => Ok(None),
            Motion::Halted => {
                self.motion = Motion::Idle;
                Ok(Some(AxisEvent::Stopped))
            }
            Motion::Moving {
                forward,
                done,
                remaining,
                next_at,
                stopping,
            } => {
                if remaining == 0 {
                    self.motion = Motion::Idle;
                    return Ok(Some(Self::ended(stopping)));
                }
                if now_us < next_at {
                    return Ok(None);
                }
                // Read before each step towards the switch: only a step can close it.
                if !forward && self.switch_pressed()? {
                    return Err(AxisEvent::LimitHit);
                }
                self.pulse(delay)?;
                self.at += if forward { 1 } else { -1 };
                let (done, remaining) = (done + 1, remaining - 1);
                if remaining == 0 {
                    self.motion = Motion::Idle;
                    return Ok(Some(Self::ended(stopping)));
                }
                self.motion = Motion::Moving {
                    forward,
                    done,
                    remaining,
                    // From now, not from when the step was due: a late tick slows the
                    // motor down rather than piling steps up faster than it can take them.
                    next_at: now_us + u64::from(self.config.ramp.interval_us(done, remaining)),
                    stopping,
                };
                Ok(None)
            }
            Motion::Homing {
                seeking,
                taken,
                next_at,
            } => self.home_step(seeking, taken, next_at, now_us, delay),
        }
    }

    fn home_step(
        &mut self,
        seeking: bool,
        taken: u32,
        next_at: u64,
        now_us: u64,
        delay: &mut impl DelayNs,
    ) -> Result<Option<AxisEvent>, AxisEvent> {
        if now_us < next_at {
            return Ok(None);
        }
        let pressed = self.switch_pressed()?;
        if seeking && pressed {
            // Back off slowly until it opens: its opening edge is the zero, the same
            // wherever the approach started.
            self.set_direction(true, delay)?;
            self.motion = Motion::Homing {
                seeking: false,
                taken: 0,
                next_at: now_us,
            };
            return Ok(None);
        }
        if !seeking && !pressed {
            self.at = 0;
            self.homed = true;
            self.motion = Motion::Idle;
            return Ok(Some(AxisEvent::Arrived));
        }
        // Seeking may run the whole travel and a tenth; a switch that stays closed over a
        // hundredth of it when backing off is stuck.
        let limit = self.config.travel_steps().unsigned_abs();
        let limit = if seeking {
            limit + limit / 10
        } else {
            limit / 100 + 10
        };
        if taken >= limit {
            self.motion = Motion::Idle;
            return Ok(Some(AxisEvent::SwitchNotFound));
        }
        self.pulse(delay)?;
        self.at += if seeking { -1 } else { 1 };
        self.motion = Motion::Homing {
            seeking,
            taken: taken + 1,
            next_at: now_us + 1_000_000 / u64::from(self.config.home_rate.max(1)),
        };
        Ok(None)
    }

    fn ended(stopping: bool) -> AxisEvent {
        if stopping {
            AxisEvent::Stopped
        } else {
            AxisEvent::Arrived
        }
    }

    fn switch_pressed(&mut self) -> Result<bool, AxisEvent> {
        let low = self.switch.is_low().map_err(|_| AxisEvent::Fault)?;
        Ok(low == self.config.switch_active_low)
    }

    fn set_direction(&mut self, forward: bool, delay: &mut impl DelayNs) -> Result<(), AxisEvent> {
        if forward {
            self.dir.set_high()
        } else {
            self.dir.set_low()
        }
        .map_err(|_| AxisEvent::Fault)?;
        delay.delay_ns(DIR_SETUP_NS);
        Ok(())
    }

    fn pulse(&mut self, delay: &mut impl DelayNs) -> Result<(), AxisEvent> {
        self.step.set_high().map_err(|_| AxisEvent::Fault)?;
        delay.delay_ns(PULSE_NS);
        self.step.set_low().map_err(|_| AxisEvent::Fault)
    }
}

#[cfg(test)]
mod tests;
