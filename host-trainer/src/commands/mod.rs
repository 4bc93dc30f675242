//! The subcommands of `leukoscope-train`.

pub mod bench;
pub mod calibrate;
pub mod cv_int8;
pub mod demo;
pub mod eval;
pub mod export_onnx;
pub mod keys;
pub mod quantize;
pub mod results;
pub mod run;
pub mod train;
