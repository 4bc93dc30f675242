//! leukoscope-core: what the trainer and the edge device must agree on, defined once.
//!
//! - [`spec`]: the model as data (layers, presets, shapes, cost).
//! - [`taxonomy`]: the class sets and how their labels map onto each other.
//! - [`raster`]: RGB pixel buffers.
//! - [`preprocess`]: the one routine that turns an image into the model's input.
//! - [`params`]: a network's weights and int8 quantization parameters, as data.
//! - [`familiarity`]: how far a cell's features lie from the cells a model learnt from.
//! - [`artifact`]: the `.lsm` model file.
//! - [`engine`]: runs a model on a CPU, in f32 (the reference) or int8, with kernels per
//!   instruction set.
//! - [`protocol`]: the messages between the board and the scope controller (stage, focus,
//!   lamp), and the frames that carry them over a serial line.
//! - `files` (feature `files`): decoding image files and replacing files atomically, one way
//!   for both sides.
//! - `network` (feature `burn`): a spec built as a trainable burn module (feature
//!   `fused-cpu`: its costliest layers trained as single operations on the CPU).
//! - `synth` (feature `synth`): synthetic smears with ground truth.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod artifact;
pub mod engine;
pub mod familiarity;
#[cfg(feature = "files")]
pub mod files;
#[cfg(feature = "burn")]
pub mod network;
pub mod params;
pub mod preprocess;
pub mod protocol;
pub mod raster;
pub mod spec;
#[cfg(feature = "synth")]
pub mod synth;
pub mod taxonomy;
