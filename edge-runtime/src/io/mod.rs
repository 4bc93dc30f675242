//! The board's side of the world: where frames come from, what the board's settings say,
//! the controls wired to it and the model file it runs.
//!
//! Frames are decoded by the core's one image decoder (`leukoscope_core::files`), the
//! trainer's too: a file the trainer refuses (a truncated JPEG) is refused here as well.
//!
//! - [`source`]: where frames come from (V4L2 camera, replayed folder, synthetic slide),
//!   riding out a lost camera.
//! - [`settings`]: the board's settings (`board.toml`): camera, model and trusted keys,
//!   storage, thresholds, pins.
//! - [`board_io`]: status LED, buzzer, illumination and start/stop button over embedded-hal.
//! - [`model`]: loading and verifying the `.lsm` model a board runs.
//! - [`scope`]: the scope controller that moves the stage and the focus and sets the
//!   lamp, over a serial line.

pub mod board_io;
pub mod model;
pub mod scope;
pub mod settings;
pub mod source;
