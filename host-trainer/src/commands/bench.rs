//! `leukoscope-train bench-train`: our training throughput beside PyTorch's, same
//! network, same batch, same threads, same run.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use leukoscope_core::spec::{Preset, PresetOptions};
use leukoscope_trainer::backend::{CpuTrain, DeviceChoice};
use leukoscope_trainer::bench::{Throughput, train_throughput};

/// Options of the benchmark.
pub struct BenchOptions {
    pub models: Vec<Preset>,
    pub size: u32,
    pub batch: usize,
    pub steps: usize,
    pub warmup: usize,
    pub threads: usize,
    pub device: DeviceChoice,
    pub peer_script: PathBuf,
    pub python: String,
    pub json: Option<PathBuf>,
}

#[derive(serde::Serialize)]
struct Row {
    model: String,
    input: u32,
    macs: u64,
    ours: Throughput,
    pytorch: Option<Throughput>,
    ratio: Option<f64>,
}

pub fn run(options: BenchOptions) -> anyhow::Result<()> {
    if options.threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(options.threads)
            .build_global()
            .context("setting the thread count")?;
    }
    let threads = rayon::current_num_threads();
    println!(
        "training throughput, batch {}, {}x{} input, {} threads, median of {} steps after {} warm-up",
        options.batch, options.size, options.size, threads, options.steps, options.warmup
    );
    println!(
        "{:<14} {:>9} {:>16} {:>16} {:>8}",
        "model", "GMACs", "leukoscope img/s", "pytorch img/s", "ratio"
    );
    let mut rows = Vec::new();
    for preset in &options.models {
        let spec = preset.build(&PresetOptions {
            input_size: options.size,
            ..PresetOptions::field(4)
        });
        let ours = match options.device {
            DeviceChoice::Cpu => train_throughput::<CpuTrain>(
                &spec,
                options.batch,
                options.warmup,
                options.steps,
                &Default::default(),
                "cpu",
            )?,
            #[cfg(feature = "cuda")]
            DeviceChoice::Cuda(index) => train_throughput::<leukoscope_trainer::backend::GpuTrain>(
                &spec,
                options.batch,
                options.warmup,
                options.steps,
                &burn::backend::cuda::CudaDevice::new(index),
                &format!("cuda:{index}"),
            )?,
            #[cfg(not(feature = "cuda"))]
            DeviceChoice::Cuda(_) => {
                bail!("this build has no CUDA support; build with --features cuda")
            }
        };
        let peer = peer(&options, &spec, threads);
        let pytorch = match peer {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("PyTorch peer not measured for {preset}: {e:#}");
                None
            }
        };
        let ratio = pytorch.as_ref().map(|p| ours.images_per_s / p.images_per_s);
        println!(
            "{:<14} {:>9.2} {:>16.1} {:>16} {:>8}",
            preset.name(),
            spec.macs()? as f64 / 1e9,
            ours.images_per_s,
            pytorch
                .as_ref()
                .map_or("-".into(), |p| format!("{:.1}", p.images_per_s)),
            ratio.map_or("-".into(), |r| format!("{r:.2}x")),
        );
        rows.push(Row {
            model: preset.name().into(),
            input: options.size,
            macs: spec.macs()?,
            ours,
            pytorch,
            ratio,
        });
    }
    if let Some(path) = &options.json {
        super::write_file(path, serde_json::to_string_pretty(&rows)?.as_bytes())?;
    }
    Ok(())
}

/// Runs the PyTorch script on the same spec and parses its one-line JSON answer.
fn peer(
    options: &BenchOptions,
    spec: &leukoscope_core::spec::ModelSpec,
    threads: usize,
) -> anyhow::Result<Throughput> {
    if !Path::new(&options.peer_script).exists() {
        bail!(
            "{} not found (run from the repository root)",
            options.peer_script.display()
        );
    }
    let dir = tempfile::tempdir()?;
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, serde_json::to_vec(spec)?)?;
    let device = match options.device {
        DeviceChoice::Cpu => "cpu".to_string(),
        DeviceChoice::Cuda(i) => format!("cuda:{i}"),
    };
    let output = Command::new(&options.python)
        .arg(&options.peer_script)
        .args(["--spec", &spec_path.to_string_lossy()])
        .args(["--batch", &options.batch.to_string()])
        .args(["--steps", &options.steps.to_string()])
        .args(["--warmup", &options.warmup.to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--device", &device])
        .output()
        .with_context(|| format!("running {}", options.python))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!(
            "the peer failed: {}",
            stderr.lines().last().unwrap_or("no message")
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().context("the peer printed nothing")?;
    serde_json::from_str(line).context("the peer's answer is not the expected JSON")
}
