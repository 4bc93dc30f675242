//! Inference benchmark: latency and throughput of the core's engines on this CPU, and of
//! ONNX Runtime on the same model in the same run (through `bench/onnxruntime_peer.py`), so
//! that the figures compare like with like on a shared, noisy machine.
//!
//! - [`pipeline`]: the whole pipeline on full frames, per stage.
//! - [`detection`]: the cell detector beside the same steps in OpenCV
//!   (`bench/opencv_detect_peer.py`), on the same frames.
//! - [`scoring`]: the detector's recall and precision on frames with boxed cells.

pub mod detection;
pub mod pipeline;
pub mod scoring;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use leukoscope_core::engine::{Engine, Isa};
use serde::{Deserialize, Serialize};

/// One measured configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchRow {
    /// `int8`, `f32`, `onnxruntime-fp32` or `onnxruntime-int8`.
    pub engine: String,
    /// Images per call.
    pub batch: usize,
    /// Threads.
    pub threads: usize,
    /// Median per-image latency: the time of one call divided by its batch.
    pub p50_ms: f64,
    /// 99th-percentile per-image latency, the same way.
    pub p99_ms: f64,
    /// Images per second over all timed calls.
    pub images_per_s: f64,
}

/// The whole benchmark, as `--json` writes it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    /// The network's name.
    pub model: String,
    /// Multiply-accumulates per image.
    pub macs: u64,
    /// Every configuration measured.
    pub results: Vec<BenchRow>,
}

/// How long to measure.
#[derive(Clone, Copy, Debug)]
pub struct BenchOptions {
    /// Untimed calls first.
    pub warmup: usize,
    /// Timed calls.
    pub iterations: usize,
}

/// Deterministic inputs with the spread of normalized images.
pub fn inputs(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}

/// Times `engine` on batches of `batch` images on `threads` threads. Our engines spread a
/// batch's images over threads; one image runs on one thread.
pub fn measure(
    engine: &Engine,
    name: &str,
    batch: usize,
    threads: usize,
    options: BenchOptions,
) -> anyhow::Result<BenchRow> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let mut workspaces: Vec<_> = (0..threads.min(batch))
        .map(|_| engine.workspace())
        .collect();
    let x = inputs(batch * engine.input_len(), 1);
    let mut logits = vec![0.0; batch * engine.classes()];
    let mut times = Vec::with_capacity(options.iterations);
    pool.install(|| {
        for i in 0..options.warmup + options.iterations {
            let start = Instant::now();
            engine.run_batch(&mut workspaces, &x, &mut logits);
            if i >= options.warmup {
                times.push(start.elapsed().as_secs_f64());
            }
        }
    });
    Ok(row(name, batch, threads, &mut times))
}

/// A row from call times in seconds.
pub fn row(name: &str, batch: usize, threads: usize, times: &mut [f64]) -> BenchRow {
    times.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        let i = ((times.len() as f64 - 1.0) * q).round() as usize;
        times.get(i).copied().unwrap_or(f64::NAN) * 1e3 / batch as f64
    };
    let total: f64 = times.iter().sum();
    BenchRow {
        engine: name.into(),
        batch,
        threads,
        p50_ms: quantile(0.5),
        p99_ms: quantile(0.99),
        images_per_s: (times.len() * batch) as f64 / total,
    }
}

/// Runs the ONNX Runtime peer on `onnx` models (fp32 and/or int8) and returns its rows, or
/// why there are none.
#[allow(clippy::too_many_arguments)]
pub fn onnxruntime_rows(
    python: &str,
    script: &Path,
    fp32: Option<&Path>,
    int8: Option<&Path>,
    batches: &[usize],
    threads: &[usize],
    input: [usize; 3],
    options: BenchOptions,
) -> Result<Vec<BenchRow>, String> {
    if fp32.is_none() && int8.is_none() {
        return Err(
            "no ONNX model given (export one with `leukoscope-train export-onnx`, then pass --onnx/--onnx-int8)"
                .into(),
        );
    }
    let list = |v: &[usize]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut command = Command::new(python);
    command.arg(script);
    if let Some(p) = fp32 {
        command.arg("--model").arg(p);
    }
    if let Some(p) = int8 {
        command.arg("--int8-model").arg(p);
    }
    command
        .args(["--threads", &list(threads), "--batches", &list(batches)])
        .args(["--warmup", &options.warmup.to_string()])
        .args(["--iters", &options.iterations.to_string()])
        .args(["--channels", &input[0].to_string()])
        .args(["--height", &input[1].to_string()])
        .args(["--width", &input[2].to_string()]);
    let output = command
        .output()
        .map_err(|e| format!("cannot run {python} {}: {e}", script.display()))?;
    // Under qemu-user a program that cannot be started exits 127 rather than failing to spawn.
    if output.status.code() == Some(127) {
        return Err(format!(
            "cannot run {python} {}: it exited with status 127 (not found)",
            script.display()
        ));
    }
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "the ONNX Runtime peer failed ({}): {}",
            output.status,
            stderr.trim().lines().last().unwrap_or("no message")
        ));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .map(|l| serde_json::from_str(l).map_err(|e| format!("unreadable peer line {l:?}: {e}")))
        .collect()
}

/// This CPU's clock in GHz, as the kernel reports it (the first core's current MHz).
pub fn cpu_ghz() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|mhz| mhz / 1e3)
}

/// Multiply-accumulates one core can issue per cycle with `isa`, for the peak figure:
/// int8 dot-product units (VNNI: 64 per 512-bit instruction; AVX2's madd: 16 per 256-bit
/// instruction, two ports) and two 8-lane f32 FMA ports for the float engine.
pub fn peak_macs_per_cycle(isa: Isa, int8: bool) -> f64 {
    match (int8, isa) {
        (true, Isa::Avx512Vnni) => 64.0,
        (true, Isa::Avx2) => 32.0,
        (true, Isa::NeonDot) => 32.0,
        (true, Isa::Scalar) => 1.0,
        (false, _) => 16.0,
    }
}

#[cfg(test)]
mod tests;
