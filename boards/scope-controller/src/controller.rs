//! What the controller does with each request: starts, checks and ends the motions of
//! the three axes, sets the lamp, answers, and stops everything when the link goes quiet.
//! Requests arrive already decoded and replies leave through a callback, so this is the
//! firmware's whole behaviour with no wire and no clock of its own: the host tests drive
//! it with a counter for time.

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{InputPin, OutputPin};
use embedded_hal::pwm::SetDutyCycle;
use leukoscope_core::protocol::{Axis, PROTOCOL_VERSION, Position, Refusal, Reply, Request};

use crate::axis::{AxisEvent, StepperAxis};

/// The three axes, in protocol order.
const AXES: [Axis; 3] = [Axis::X, Axis::Y, Axis::Z];
const STAGE: u8 = 0b011;
const FOCUS: u8 = 0b100;

/// A request that takes time, waiting for its axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    seq: u16,
    /// The axes it waits for, one bit each in protocol order.
    axes: u8,
    /// Why it will be refused, once something cut it short.
    outcome: Option<Refusal>,
}

/// What the controller is doing, for the status LED.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// Not homed since power-up, or a limit hit or fault lost the zero.
    NotHomed,
    /// Homed and still.
    Ready,
    /// An axis is moving.
    Moving,
    /// The link went quiet during a motion and everything stopped; cleared by the next
    /// request.
    LinkLost,
}

/// The scope controller: three stepper axes, the drivers' enable line and the lamp.
pub struct Controller<S, D, L, E, P> {
    axes: [StepperAxis<S, D, L>; 3],
    enable: E,
    lamp: P,
    link_timeout_us: u64,
    link_timeout_ms: u16,
    last_heard_us: u64,
    link_lost: bool,
    stage: Option<Pending>,
    focus: Option<Pending>,
    /// Homing runs Z first (away from the slide), then X and Y together.
    home: Option<(Pending, bool)>,
    /// Presses of the start button since power-up.
    presses: u16,
}

/// The firmware's version, as `Hello` reports it.
pub const FIRMWARE_VERSION: [u8; 3] = {
    const fn digit(s: &str) -> u8 {
        let b = s.as_bytes();
        let mut i = 0;
        let mut v: u8 = 0;
        while i < b.len() {
            v = v * 10 + (b[i] - b'0');
            i += 1;
        }
        v
    }
    [
        digit(env!("CARGO_PKG_VERSION_MAJOR")),
        digit(env!("CARGO_PKG_VERSION_MINOR")),
        digit(env!("CARGO_PKG_VERSION_PATCH")),
    ]
};

impl<S, D, L, E, P> Controller<S, D, L, E, P>
where
    S: OutputPin,
    D: OutputPin,
    L: InputPin,
    E: OutputPin,
    P: SetDutyCycle,
{
    /// A controller of axes X, Y, Z (in that order), drivers enabled by `enable` low
    /// (A4988, DRV8825 and TMC2209 all enable on low), and a dimmable `lamp`.
    pub fn new(axes: [StepperAxis<S, D, L>; 3], enable: E, lamp: P, link_timeout_ms: u16) -> Self {
        Controller {
            axes,
            enable,
            lamp,
            link_timeout_us: u64::from(link_timeout_ms.max(1)) * 1_000,
            link_timeout_ms: link_timeout_ms.max(1),
            last_heard_us: 0,
            link_lost: false,
            stage: None,
            focus: None,
            home: None,
            presses: 0,
        }
    }

    /// The start button was pressed: counted, for the board to read (`Presses`).
    pub fn pressed(&mut self) {
        self.presses = self.presses.wrapping_add(1);
        note!("start button pressed ({})", self.presses);
    }

    /// Where the axes are.
    pub fn position(&self) -> Position {
        Position {
            x_nm: self.axes[0].position_nm(),
            y_nm: self.axes[1].position_nm(),
            z_nm: self.axes[2].position_nm(),
            homed: self.axes.iter().all(StepperAxis::homed),
        }
    }

    /// What it is doing, for the LED.
    pub fn state(&self) -> State {
        if self.axes.iter().any(StepperAxis::busy) {
            State::Moving
        } else if self.link_lost {
            State::LinkLost
        } else if self.position().homed {
            State::Ready
        } else {
            State::NotHomed
        }
    }

    /// The axes and outputs, back (for tests that check what was driven).
    pub fn release(self) -> ([StepperAxis<S, D, L>; 3], E, P) {
        (self.axes, self.enable, self.lamp)
    }

    /// A frame that could not be read: answered with sequence number 0, as its own was
    /// lost with it. It still shows the board is there.
    pub fn unreadable(&mut self, now_us: u64, out: &mut impl FnMut(u16, Reply)) {
        self.heard(now_us);
        out(0, Reply::Refused(Refusal::Unreadable));
    }

    /// Carries out `request` number `seq`, answering through `out` at once; a motion is
    /// answered again when it ends, from [`tick`](Self::tick).
    pub fn handle(
        &mut self,
        seq: u16,
        request: Request,
        now_us: u64,
        delay: &mut impl DelayNs,
        out: &mut impl FnMut(u16, Reply),
    ) {
        self.heard(now_us);
        let reply = match request {
            Request::Hello => Reply::Hello {
                protocol: PROTOCOL_VERSION,
                firmware: FIRMWARE_VERSION,
                link_timeout_ms: self.link_timeout_ms,
            },
            Request::Home => self.start_homing(seq, now_us, delay),
            Request::MoveTo { x_nm, y_nm } => {
                self.start_motion(seq, STAGE, [Some(x_nm), Some(y_nm), None], now_us, delay)
            }
            Request::FocusTo { z_nm } => {
                self.start_motion(seq, FOCUS, [None, None, Some(z_nm)], now_us, delay)
            }
            Request::Lamp { permille } if permille <= 1000 => {
                match self.lamp.set_duty_cycle_fraction(permille, 1000) {
                    Ok(()) => Reply::Done,
                    // The PWM refused the duty cycle it was given.
                    Err(_) => Reply::Refused(Refusal::BadValue),
                }
            }
            Request::Lamp { .. } => Reply::Refused(Refusal::BadValue),
            Request::Where => Reply::At(self.position()),
            Request::Stop => {
                self.stop_all(Refusal::Stopped);
                Reply::Done
            }
            Request::Ping => Reply::Done,
            Request::Presses => Reply::Presses {
                count: self.presses,
            },
        };
        out(seq, reply);
    }

    /// Makes the steps that are due, ends the motions that are over (answering their
    /// requests), and stops every axis if the link has been quiet too long. Call it as
    /// often as the fastest step rate, or the motors run slower than planned.
    pub fn tick(
        &mut self,
        now_us: u64,
        delay: &mut impl DelayNs,
        out: &mut impl FnMut(u16, Reply),
    ) {
        if self.axes.iter().any(StepperAxis::busy)
            && now_us.saturating_sub(self.last_heard_us) > self.link_timeout_us
            && !self.link_lost
        {
            self.link_lost = true;
            self.stop_all(Refusal::LinkLost);
        }
        for i in 0..AXES.len() {
            if let Some(event) = self.axes[i].tick(now_us, delay) {
                self.ended(i, event);
            }
        }
        self.answer_ended(now_us, delay, out);
    }

    fn heard(&mut self, now_us: u64) {
        self.last_heard_us = now_us;
        self.link_lost = false;
    }

    fn busy(&self, mask: u8) -> bool {
        self.home.is_some()
            || (mask & STAGE != 0 && self.stage.is_some())
            || (mask & FOCUS != 0 && self.focus.is_some())
    }

    fn start_homing(&mut self, seq: u16, now_us: u64, delay: &mut impl DelayNs) -> Reply {
        if self.home.is_some() || self.stage.is_some() || self.focus.is_some() {
            return Reply::Refused(Refusal::Busy);
        }
        let pending = Pending {
            seq,
            axes: FOCUS,
            outcome: None,
        };
        if let Err(refusal) = self.enable_drivers(2) {
            return Reply::Refused(refusal);
        }
        if let Err(event) = self.axes[2].start_homing(now_us, delay) {
            return Reply::Refused(refusal_of(2, event));
        }
        note!("homing Z");
        self.home = Some((pending, true));
        Reply::Accepted
    }

    fn start_motion(
        &mut self,
        seq: u16,
        mask: u8,
        targets: [Option<i32>; 3],
        now_us: u64,
        delay: &mut impl DelayNs,
    ) -> Reply {
        if self.busy(mask) {
            return Reply::Refused(Refusal::Busy);
        }
        let moving = || {
            targets
                .iter()
                .enumerate()
                .filter_map(|(i, t)| t.map(|t| (i, t)))
        };
        if moving().any(|(i, _)| !self.axes[i].homed()) {
            return Reply::Refused(Refusal::NotHomed);
        }
        if let Some((i, _)) = moving().find(|&(i, t)| !self.axes[i].reaches(t)) {
            return Reply::Refused(Refusal::OutOfRange { axis: AXES[i] });
        }
        for (i, target) in moving() {
            let started = self.enable_drivers(i).and_then(|()| {
                self.axes[i]
                    .start_move(target, now_us, delay)
                    .map_err(|e| refusal_of(i, e))
            });
            if let Err(refusal) = started {
                self.halt_all();
                return Reply::Refused(refusal);
            }
        }
        match targets {
            [Some(_x), Some(_y), _] => note!("stage to ({}, {}) nm", _x, _y),
            [_, _, Some(_z)] => note!("focus to {} nm", _z),
            _ => {}
        }
        let pending = Some(Pending {
            seq,
            axes: mask,
            outcome: None,
        });
        if mask == STAGE {
            self.stage = pending;
        } else {
            self.focus = pending;
        }
        Reply::Accepted
    }

    fn enable_drivers(&mut self, axis: usize) -> Result<(), Refusal> {
        self.enable
            .set_low()
            .map_err(|_| Refusal::DriverFault { axis: AXES[axis] })
    }

    /// Ramps every axis down, and gives every waiting request `why` as its end.
    fn stop_all(&mut self, why: Refusal) {
        note!("stopping every axis: {}", why);
        for axis in &mut self.axes {
            axis.stop();
        }
        self.set_outcome(why, false);
    }

    /// Stops every axis at once and forgets the zero: a limit hit or a fault.
    fn halt_all(&mut self) {
        for axis in &mut self.axes {
            axis.halt();
        }
    }

    fn set_outcome(&mut self, why: Refusal, overrule: bool) {
        let pendings = [
            self.stage.as_mut(),
            self.focus.as_mut(),
            self.home.as_mut().map(|(p, _)| p),
        ];
        for pending in pendings.into_iter().flatten() {
            if overrule || pending.outcome.is_none() {
                pending.outcome = Some(why);
            }
        }
    }

    fn ended(&mut self, i: usize, event: AxisEvent) {
        match event {
            AxisEvent::Arrived | AxisEvent::Stopped => {}
            AxisEvent::LimitHit | AxisEvent::Fault => {
                note!("axis {} ended: {}", AXES[i], event);
                self.halt_all();
                self.set_outcome(refusal_of(i, event), true);
            }
            AxisEvent::SwitchNotFound => {
                note!("axis {}: no limit switch", AXES[i]);
                for axis in &mut self.axes {
                    axis.stop();
                }
                if let Some((pending, _)) = &mut self.home {
                    pending.outcome = Some(refusal_of(i, event));
                }
            }
        }
    }

    /// Answers every waiting request whose axes are all still, and starts homing X and Y
    /// once Z is home.
    fn answer_ended(
        &mut self,
        now_us: u64,
        delay: &mut impl DelayNs,
        out: &mut impl FnMut(u16, Reply),
    ) {
        let still = |axes: &[StepperAxis<S, D, L>; 3], mask: u8| {
            (0..3).all(|i| mask & (1 << i) == 0 || !axes[i].busy())
        };
        if let Some((pending, z_first)) = self.home
            && still(&self.axes, pending.axes)
        {
            if z_first && pending.outcome.is_none() {
                note!("Z home, homing X and Y");
                let started = (0..2).try_for_each(|i| {
                    self.axes[i]
                        .start_homing(now_us, delay)
                        .map_err(|e| refusal_of(i, e))
                });
                let outcome = started.err();
                self.home = Some((
                    Pending {
                        axes: STAGE,
                        outcome,
                        ..pending
                    },
                    false,
                ));
                if outcome.is_some() {
                    self.halt_all();
                }
            } else {
                self.home = None;
                self.answer(pending, out);
            }
        }
        for mask in [STAGE, FOCUS] {
            let slot = if mask == STAGE {
                self.stage
            } else {
                self.focus
            };
            if let Some(pending) = slot
                && still(&self.axes, pending.axes)
            {
                if mask == STAGE {
                    self.stage = None;
                } else {
                    self.focus = None;
                }
                self.answer(pending, out);
            }
        }
    }

    fn answer(&self, pending: Pending, out: &mut impl FnMut(u16, Reply)) {
        let reply = match pending.outcome {
            None => Reply::Arrived(self.position()),
            Some(why) => Reply::Refused(why),
        };
        note!("request {} ends: {}", pending.seq, reply);
        out(pending.seq, reply);
    }
}

fn refusal_of(i: usize, event: AxisEvent) -> Refusal {
    let axis = AXES[i];
    match event {
        AxisEvent::LimitHit => Refusal::LimitHit { axis },
        AxisEvent::SwitchNotFound => Refusal::SwitchNotFound { axis },
        AxisEvent::Fault => Refusal::DriverFault { axis },
        AxisEvent::Arrived | AxisEvent::Stopped => Refusal::Stopped,
    }
}

#[cfg(test)]
mod tests;
