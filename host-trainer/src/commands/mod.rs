//! The subcommands of `leukoscope-train`.

pub mod bench;
pub mod calibrate;
pub mod demo;
pub mod eval;
pub mod export;
pub mod export_onnx;
pub mod keys;
pub mod model;
pub mod quantize;
pub mod results;
pub mod run;
pub mod train;

use std::path::Path;

use anyhow::Context;

/// Replaces `path` with `bytes` atomically (the core's one way to), naming the file in any
/// error.
fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    leukoscope_core::files::write_atomically(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}
