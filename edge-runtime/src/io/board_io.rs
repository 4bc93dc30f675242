//! The board's own controls: status LED, buzzer, illumination LED and start/stop button.
//!
//! [`BoardIo`] is generic over the embedded-hal 1.0 traits (`OutputPin`, `SetDutyCycle`,
//! `InputPin`), as embassy's drivers are: the hardware is a type parameter, the tests pass
//! embedded-hal-mock pins, and the boards pass Linux GPIO lines and a sysfs PWM channel
//! (`linux`, feature `linux-board`).
//!
//! Nothing here sleeps. Blinking, the end of a beep and button debouncing are driven by the
//! caller's clock: every call that needs time takes `now` (time since any fixed start, e.g.
//! the session's), and [`BoardIo::tick`] should be called every few tens of milliseconds,
//! for instance once per frame and while waiting.
//!
//! # The status LED
//! One single-colour LED tells the operator the state from across the bench:
//!
//! | status | pattern | meaning |
//! | --- | --- | --- |
//! | [`Status::Ready`] | steady on | idle, everything fine: insert a slide and press start |
//! | [`Status::Working`] | slow blink, 1 Hz (0.5 s on, 0.5 s off) | scanning a slide |
//! | [`Status::Attention`] | fast blink, 4 Hz (0.125 s on, 0.125 s off) | something needs the operator: camera lost, slide finished with a referral, an error |
//!
//! Each pattern starts with the LED on at the moment the status changes, so a change is
//! visible at once.

#[cfg(feature = "linux-board")]
pub mod linux;

use std::time::Duration;

use embedded_hal::digital::{self, InputPin, OutputPin};
use embedded_hal::pwm::{self, SetDutyCycle};

/// What the status LED shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Status {
    /// Idle and fine: steady on.
    #[default]
    Ready,
    /// Scanning: slow blink (1 Hz).
    Working,
    /// The operator is needed: fast blink (4 Hz).
    Attention,
}

impl Status {
    /// `(on, period)`: the LED is on for the first `on` of every `period`.
    fn pattern(self) -> (Duration, Duration) {
        let ms = Duration::from_millis;
        match self {
            Status::Ready => (ms(1000), ms(1000)),
            Status::Working => (ms(500), ms(1000)),
            Status::Attention => (ms(125), ms(250)),
        }
    }

    /// Whether the LED is on `elapsed` after the status was set.
    fn led_on(self, elapsed: Duration) -> bool {
        let (on, period) = self.pattern();
        elapsed.as_nanos() % period.as_nanos() < on.as_nanos()
    }
}

/// How the start/stop button is wired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ButtonWiring {
    /// Pulled up, pressing connects it to ground (reads low when pressed): the usual way.
    #[default]
    ActiveLow,
    /// Pulled down, pressing connects it to the supply (reads high when pressed).
    ActiveHigh,
}

/// Timing and wiring of the board's controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardConfig {
    /// How the button is wired.
    pub button: ButtonWiring,
    /// How long the button must read the same before it counts: longer than the contacts
    /// bounce (a few milliseconds), shorter than a deliberate press.
    pub debounce: Duration,
    /// How long one beep lasts.
    pub beep: Duration,
}

impl Default for BoardConfig {
    fn default() -> Self {
        BoardConfig {
            button: ButtonWiring::ActiveLow,
            debounce: Duration::from_millis(30),
            beep: Duration::from_millis(120),
        }
    }
}

/// A pin of the board failed; each variant holds the pin driver's own error.
#[derive(Debug, thiserror::Error)]
pub enum BoardIoError<LedError, BuzzerError, LightError, ButtonError> {
    /// Driving the status LED failed.
    #[error("status LED pin failed ({0:?}); check its GPIO line in the board's config")]
    StatusLed(LedError),
    /// Driving the buzzer failed.
    #[error("buzzer pin failed ({0:?}); check its GPIO line in the board's config")]
    Buzzer(BuzzerError),
    /// Setting the illumination's duty cycle failed.
    #[error(
        "illumination PWM failed ({0:?}); check its PWM chip and channel in the board's config"
    )]
    Illumination(LightError),
    /// Reading the button failed.
    #[error("start/stop button pin failed ({0:?}); check its GPIO line in the board's config")]
    Button(ButtonError),
}

/// The [`BoardIoError`] of a [`BoardIo`] with these pin types.
pub type BoardIoErrorOf<Led, Buzzer, Light, Button> = BoardIoError<
    <Led as digital::ErrorType>::Error,
    <Buzzer as digital::ErrorType>::Error,
    <Light as pwm::ErrorType>::Error,
    <Button as digital::ErrorType>::Error,
>;

/// Debouncing as pure logic: a level counts once it has held for the settle time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Debouncer {
    settle: Duration,
    stable: bool,
    candidate: bool,
    candidate_since: Duration,
}

impl Debouncer {
    /// Starts released (so a button held at power-up counts as a press once it settles).
    pub fn new(settle: Duration) -> Self {
        Debouncer {
            settle,
            stable: false,
            candidate: false,
            candidate_since: Duration::ZERO,
        }
    }

    /// The debounced level.
    pub fn level(&self) -> bool {
        self.stable
    }

    /// Feeds a raw reading taken at `now`; returns the new debounced level when it changes.
    pub fn update(&mut self, raw: bool, now: Duration) -> Option<bool> {
        if raw != self.candidate {
            self.candidate = raw;
            self.candidate_since = now;
        }
        let held = now.saturating_sub(self.candidate_since);
        if self.candidate != self.stable && held >= self.settle {
            self.stable = self.candidate;
            return Some(self.stable);
        }
        None
    }
}

/// The board's status LED, buzzer, illumination and button.
///
/// Making one touches no pin; call [`BoardIo::set_status`] and
/// [`BoardIo::set_illumination`] to put the board in a known state. Pins are written only
/// when their level changes, so ticking often costs no GPIO traffic.
#[derive(Debug)]
pub struct BoardIo<Led, Buzzer, Light, Button> {
    led: Led,
    buzzer: Buzzer,
    light: Light,
    button: Button,
    config: BoardConfig,
    status: Status,
    status_since: Duration,
    /// The LED's level as last written; `None` before the first write.
    led_level: Option<bool>,
    /// When the current beep ends.
    beep_until: Option<Duration>,
    debouncer: Debouncer,
}

impl<Led, Buzzer, Light, Button> BoardIo<Led, Buzzer, Light, Button>
where
    Led: OutputPin,
    Buzzer: OutputPin,
    Light: SetDutyCycle,
    Button: InputPin,
{
    /// Takes the pins.
    pub fn new(
        led: Led,
        buzzer: Buzzer,
        light: Light,
        button: Button,
        config: BoardConfig,
    ) -> Self {
        BoardIo {
            led,
            buzzer,
            light,
            button,
            debouncer: Debouncer::new(config.debounce),
            config,
            status: Status::Ready,
            status_since: Duration::ZERO,
            led_level: None,
            beep_until: None,
        }
    }

    /// The status shown.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Shows `status` from `now`: the LED comes on at once and follows the pattern as
    /// [`BoardIo::tick`] is called. Setting the status already shown changes nothing (the
    /// blink keeps its rhythm).
    pub fn set_status(
        &mut self,
        status: Status,
        now: Duration,
    ) -> Result<(), BoardIoErrorOf<Led, Buzzer, Light, Button>> {
        if status != self.status || self.led_level.is_none() {
            self.status = status;
            self.status_since = now;
        }
        self.drive_led(now)
    }

    /// Starts a beep, which [`BoardIo::tick`] ends after the configured length. A beep
    /// during a beep extends it.
    pub fn beep(
        &mut self,
        now: Duration,
    ) -> Result<(), BoardIoErrorOf<Led, Buzzer, Light, Button>> {
        if self.beep_until.is_none() {
            self.buzzer.set_high().map_err(BoardIoError::Buzzer)?;
        }
        self.beep_until = Some(now + self.config.beep);
        Ok(())
    }

    /// Whether a beep is sounding.
    pub fn beeping(&self) -> bool {
        self.beep_until.is_some()
    }

    /// Sets the illumination LED's brightness in percent; above 100 is taken as 100.
    pub fn set_illumination(
        &mut self,
        percent: u8,
    ) -> Result<(), BoardIoErrorOf<Led, Buzzer, Light, Button>> {
        self.light
            .set_duty_cycle_percent(percent.min(100))
            .map_err(BoardIoError::Illumination)
    }

    /// Reads the button; true once per debounced press (on the press, not the release).
    /// Call it often (every few milliseconds to tens of milliseconds): a press shorter
    /// than the debounce time, or one between two calls, is not seen.
    pub fn button_pressed(
        &mut self,
        now: Duration,
    ) -> Result<bool, BoardIoErrorOf<Led, Buzzer, Light, Button>> {
        let raw = match self.config.button {
            ButtonWiring::ActiveLow => self.button.is_low(),
            ButtonWiring::ActiveHigh => self.button.is_high(),
        }
        .map_err(BoardIoError::Button)?;
        Ok(self.debouncer.update(raw, now) == Some(true))
    }

    /// Advances the blink pattern and ends a finished beep.
    pub fn tick(
        &mut self,
        now: Duration,
    ) -> Result<(), BoardIoErrorOf<Led, Buzzer, Light, Button>> {
        if self.beep_until.is_some_and(|end| now >= end) {
            self.buzzer.set_low().map_err(BoardIoError::Buzzer)?;
            self.beep_until = None;
        }
        if self.led_level.is_some() {
            self.drive_led(now)?;
        }
        Ok(())
    }

    /// Gives the pins back.
    pub fn release(self) -> (Led, Buzzer, Light, Button) {
        (self.led, self.buzzer, self.light, self.button)
    }

    fn drive_led(
        &mut self,
        now: Duration,
    ) -> Result<(), BoardIoErrorOf<Led, Buzzer, Light, Button>> {
        let on = self.status.led_on(now.saturating_sub(self.status_since));
        if self.led_level != Some(on) {
            if on {
                self.led.set_high()
            } else {
                self.led.set_low()
            }
            .map_err(BoardIoError::StatusLed)?;
            self.led_level = Some(on);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
