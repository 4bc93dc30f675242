//! The scope controller's firmware: a microcontroller that moves the stage and the focus
//! with stepper motors, dims the lamp, and answers the board over a serial line in the
//! core's [`protocol`](leukoscope_core::protocol). Every piece of hardware is behind an
//! embedded-hal 1.0 trait, so the same logic runs on any Cortex-M with a HAL, under qemu
//! (the `mps2` binary), and on the host in tests.
//!
//! - [`ramp`]: how fast a stepper may step (a trapezoidal profile).
//! - [`axis`]: one stepper axis, its limit switch and its motion, a step at a time.
//! - [`controller`]: what each request does, the motions' ends, the link's watchdog.
//! - [`link`]: requests and replies as frames over an `embedded-io` serial port.
//! - [`firmware`]: the main loop's one pass: the link, the controller, the LED, the
//!   watchdog.
//! - [`sim`]: a stage in software behind the same traits, for qemu and the tests.
#![cfg_attr(not(test), no_std)]
#![warn(missing_docs)]

/// Logs through defmt when the firmware is built with it; nothing otherwise (the host
/// tests have no defmt logger to link).
macro_rules! note {
    ($($t:tt)*) => {{
        #[cfg(feature = "defmt")]
        defmt::info!($($t)*);
    }};
}

pub mod axis;
pub mod controller;
pub mod firmware;
pub mod link;
pub mod ramp;
pub mod sim;
#[cfg(test)]
mod testing;
