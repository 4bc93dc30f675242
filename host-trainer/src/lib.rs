//! leukoscope-trainer: turns smear images into a validated, exportable classifier.
//!
//! - [`backend`]: which burn backend trains (CPU through `flex`, NVIDIA GPUs through `cuda`).
//! - [`images`]: decoding image files into the core's pixel buffers.
//! - [`examples`]: preprocessed examples in memory, and their batches.
//! - [`synthetic`]: training sets drawn from the core's synthetic smear generator.
//! - [`fit`]: the training loop.
//! - [`export`]: a trained network packed into a `.lsm` artifact.

pub mod backend;
pub mod examples;
pub mod export;
pub mod fit;
pub mod images;
pub mod synthetic;
