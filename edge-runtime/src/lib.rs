//! leukoscope-edge: the program on the microscope's board.
//!
//! - [`frame`]: decoding captured or replayed frames into the core's pixel buffers.
//! - [`model`]: loading and verifying the `.lsm` model a board runs.

pub mod frame;
pub mod model;
