//! One pass of the firmware's main loop: feed the watchdog, read the start button and the
//! link, carry out what arrived, step the motors, answer, and show the state on the LED. The binary calls
//! [`Firmware::poll`] with its clock, forever.

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{InputPin, OutputPin};
use embedded_hal::pwm::SetDutyCycle;
use embedded_io::{Read, ReadReady, Write};

use leukoscope_core::protocol::Reply;

use crate::controller::{Controller, State};
use crate::link::{Incoming, SerialLink};

/// A hardware watchdog: resets the microcontroller unless fed in time, so that a hung
/// firmware cannot leave a motor running (embedded-hal 1.0 has no watchdog trait).
pub trait Watchdog {
    /// Restarts its countdown.
    fn feed(&mut self);
}

/// How long the start button must read the same before it counts: contacts bounce for a
/// few milliseconds.
const DEBOUNCE_US: u64 = 30_000;

/// The start button, debounced: a press is the button reading pressed for 30 ms after
/// reading released for as long.
pub struct StartButton<B> {
    pin: B,
    active_low: bool,
    /// The last reading, and since when it has read so.
    reading: bool,
    since_us: u64,
    /// The debounced state.
    pressed: bool,
}

impl<B: InputPin> StartButton<B> {
    /// A button on `pin`, pressed when the pin reads low if `active_low` (a switch to
    /// ground with a pull-up).
    pub fn new(pin: B, active_low: bool) -> Self {
        StartButton {
            pin,
            active_low,
            reading: false,
            since_us: 0,
            pressed: false,
        }
    }

    /// Reads the pin at `now_us`; true once for each press. A pin that cannot be read
    /// presses nothing.
    fn pressed_now(&mut self, now_us: u64) -> bool {
        let Ok(low) = self.pin.is_low() else {
            return false;
        };
        let reading = low == self.active_low;
        if reading != self.reading {
            (self.reading, self.since_us) = (reading, now_us);
        }
        if self.reading != self.pressed && now_us.saturating_sub(self.since_us) >= DEBOUNCE_US {
            self.pressed = self.reading;
            return self.pressed;
        }
        false
    }
}

/// The controller, its link, its LED, its start button and its watchdog.
pub struct Firmware<U, S, D, L, E, P, Led, B, W, Dl> {
    link: SerialLink<U>,
    controller: Controller<S, D, L, E, P>,
    led: Led,
    lit: Option<bool>,
    button: StartButton<B>,
    watchdog: W,
    delay: Dl,
}

impl<U, S, D, L, E, P, Led, B, W, Dl> Firmware<U, S, D, L, E, P, Led, B, W, Dl>
where
    U: Read + ReadReady + Write,
    S: OutputPin,
    D: OutputPin,
    L: InputPin,
    E: OutputPin,
    P: SetDutyCycle,
    Led: OutputPin,
    B: InputPin,
    W: Watchdog,
    Dl: DelayNs,
{
    /// Everything the main loop drives.
    pub fn new(
        link: SerialLink<U>,
        controller: Controller<S, D, L, E, P>,
        led: Led,
        button: StartButton<B>,
        watchdog: W,
        delay: Dl,
    ) -> Self {
        Firmware {
            link,
            controller,
            led,
            lit: None,
            button,
            watchdog,
            delay,
        }
    }

    /// The controller, to read its state.
    pub fn controller(&self) -> &Controller<S, D, L, E, P> {
        &self.controller
    }

    /// One pass at time `now_us` (microseconds from any fixed start). An error is the
    /// serial port's own; the caller logs it and goes on.
    pub fn poll(&mut self, now_us: u64) -> Result<(), U::Error> {
        self.watchdog.feed();
        if self.button.pressed_now(now_us) {
            self.controller.pressed();
        }
        let incoming = self.link.poll()?;
        let mut failed = None;
        let link = &mut self.link;
        let mut send = |seq: u16, reply: Reply| {
            if let Err(e) = link.send(seq, &reply) {
                failed.get_or_insert(e);
            }
        };
        match incoming {
            Some(Incoming::Request(seq, request)) => {
                self.controller
                    .handle(seq, request, now_us, &mut self.delay, &mut send);
            }
            Some(Incoming::Unreadable(_why)) => {
                note!("unreadable frame: {}", _why);
                self.controller.unreadable(now_us, &mut send);
            }
            None => {}
        }
        self.controller.tick(now_us, &mut self.delay, &mut send);
        self.show(now_us);
        failed.map_or(Ok(()), Err)
    }

    /// The LED: steady when homed and still, blinking at 1 Hz before homing, at 4 Hz while
    /// moving, at 10 Hz after the link was lost.
    fn show(&mut self, now_us: u64) {
        let period_ms = match self.controller.state() {
            State::Ready => None,
            State::NotHomed => Some(1_000),
            State::Moving => Some(250),
            State::LinkLost => Some(100),
        };
        let lit = period_ms.is_none_or(|p| (now_us / 1_000) % p < p / 2);
        if self.lit != Some(lit) {
            let set = if lit {
                self.led.set_high()
            } else {
                self.led.set_low()
            };
            // An LED that cannot be set is not worth stopping a scan for; it is tried
            // again at the next pass.
            if set.is_ok() {
                self.lit = Some(lit);
            }
        }
    }
}

#[cfg(test)]
mod tests;
