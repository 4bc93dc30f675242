//! The subcommands of `leukoscope-train`, one file each with its flags (a clap `Args`
//! struct) and its `run`, plus what several share: a training run into its folder
//! ([`run`]) and the model behind a `--model` path ([`model`]).

pub mod adapt;
pub mod bench_train;
pub mod calibrate;
pub mod cv;
pub mod demo;
pub mod eval;
pub mod export;
pub mod export_onnx;
pub mod familiar;
pub mod keygen;
pub mod model;
pub mod presets;
pub mod quantize;
pub mod results;
pub mod run;
pub mod sign;
pub mod train;

use std::path::Path;

use anyhow::Context;

/// Replaces `path` with `bytes` atomically (the core's one way to), naming the file in any
/// error.
fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    leukoscope_core::files::write_atomically(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}
