//! A stage in software behind the embedded-hal traits: motors that count the step pulses
//! they are sent, limit switches that close at their end of travel, a lamp and an enable
//! line that remember their setting. The `mps2` binary runs the firmware on it under qemu,
//! and the host tests run it on it directly, so both exercise the real controller with
//! the real pins' protocol (a step is a rising edge, in the direction last set).

use core::cell::Cell;
use core::convert::Infallible;

use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
use embedded_hal::pwm::{self, SetDutyCycle};

use crate::axis::AxisConfig;
use crate::ramp::Ramp;

/// A stepper motor on a lead screw, its position in steps from its limit switch, which is
/// closed at 0 and below.
#[derive(Debug, Default)]
pub struct SimMotor {
    position: Cell<i32>,
    forward: Cell<bool>,
    high: Cell<bool>,
    steps: Cell<u32>,
}

impl SimMotor {
    /// A motor standing `steps` from its switch.
    pub const fn at(steps: i32) -> Self {
        SimMotor {
            position: Cell::new(steps),
            forward: Cell::new(false),
            high: Cell::new(false),
            steps: Cell::new(0),
        }
    }

    /// Where it really is, steps from the switch.
    pub fn position(&self) -> i32 {
        self.position.get()
    }

    /// Moves it `steps` without a pulse: a hand on the stage, a belt that slipped.
    pub fn push(&self, steps: i32) {
        self.position.set(self.position.get() + steps);
    }

    /// Pulses it took since power-up.
    pub fn steps(&self) -> u32 {
        self.steps.get()
    }

    /// Its step input.
    pub fn step_pin(&self) -> SimStep<'_> {
        SimStep(self)
    }

    /// Its direction input: high is away from the switch.
    pub fn dir_pin(&self) -> SimDir<'_> {
        SimDir(self)
    }

    /// Its limit switch, low when closed (a normally-open switch with a pull-up).
    pub fn switch_pin(&self) -> SimSwitch<'_> {
        SimSwitch(self)
    }
}

/// A driver's step input: moves the motor one step on each rising edge.
pub struct SimStep<'a>(&'a SimMotor);
/// A driver's direction input.
pub struct SimDir<'a>(&'a SimMotor);
/// A limit switch input.
pub struct SimSwitch<'a>(&'a SimMotor);

impl ErrorType for SimStep<'_> {
    type Error = Infallible;
}
impl ErrorType for SimDir<'_> {
    type Error = Infallible;
}
impl ErrorType for SimSwitch<'_> {
    type Error = Infallible;
}

impl OutputPin for SimStep<'_> {
    fn set_high(&mut self) -> Result<(), Infallible> {
        let motor = self.0;
        if !motor.high.replace(true) {
            let delta = if motor.forward.get() { 1 } else { -1 };
            motor.position.set(motor.position.get() + delta);
            motor.steps.set(motor.steps.get().wrapping_add(1));
        }
        Ok(())
    }

    fn set_low(&mut self) -> Result<(), Infallible> {
        self.0.high.set(false);
        Ok(())
    }
}

impl OutputPin for SimDir<'_> {
    fn set_high(&mut self) -> Result<(), Infallible> {
        self.0.forward.set(true);
        Ok(())
    }

    fn set_low(&mut self) -> Result<(), Infallible> {
        self.0.forward.set(false);
        Ok(())
    }
}

impl InputPin for SimSwitch<'_> {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(self.0.position.get() > 0)
    }

    fn is_low(&mut self) -> Result<bool, Infallible> {
        Ok(self.0.position.get() <= 0)
    }
}

/// An output that remembers its level: the drivers' enable line, the LED; or a button's
/// line (high when released, as with a pull-up).
#[derive(Debug, Default)]
pub struct SimLine(pub Cell<bool>);

impl ErrorType for &SimLine {
    type Error = Infallible;
}

impl OutputPin for &SimLine {
    fn set_high(&mut self) -> Result<(), Infallible> {
        self.0.set(true);
        Ok(())
    }

    fn set_low(&mut self) -> Result<(), Infallible> {
        self.0.set(false);
        Ok(())
    }
}

/// ... and reads back as an input: a button a test presses by setting it.
impl InputPin for &SimLine {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(self.0.get())
    }

    fn is_low(&mut self) -> Result<bool, Infallible> {
        Ok(!self.0.get())
    }
}

/// A dimmable lamp: remembers its duty cycle out of 1000.
#[derive(Debug, Default)]
pub struct SimLamp(pub Cell<u16>);

impl pwm::ErrorType for &SimLamp {
    type Error = Infallible;
}

impl SetDutyCycle for &SimLamp {
    fn max_duty_cycle(&self) -> u16 {
        1000
    }

    fn set_duty_cycle(&mut self, duty: u16) -> Result<(), Infallible> {
        self.0.set(duty);
        Ok(())
    }
}

/// The simulated stage's axes, X, Y, Z, and a plausible real one: X and Y on 2 mm lead
/// screws at 3,200 microsteps a turn (625 nm a step) over 50 mm, the focus at 100 nm a
/// step over 5 mm.
pub const STAGE_AXES: [AxisConfig; 3] = [STAGE_XY, STAGE_XY, FOCUS_Z];

const STAGE_XY: AxisConfig = AxisConfig {
    nm_per_step: 625,
    travel_nm: 50_000_000,
    ramp: Ramp {
        max_rate: 16_000,
        accel: 80_000,
    },
    home_rate: 3_200,
    switch_active_low: true,
};

const FOCUS_Z: AxisConfig = AxisConfig {
    nm_per_step: 100,
    travel_nm: 5_000_000,
    ramp: Ramp {
        max_rate: 20_000,
        accel: 200_000,
    },
    home_rate: 5_000,
    switch_active_low: true,
};
