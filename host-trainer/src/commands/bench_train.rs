//! `leukoscope-train bench-train`: our training throughput beside PyTorch's, same
//! network, same batch, same threads, same run.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use leukoscope_core::spec::{Preset, PresetOptions};
use leukoscope_trainer::backend::{CpuTrain, DeviceChoice};
use leukoscope_trainer::bench::{Throughput, train_throughput};

/// `bench-train`'s flags: the networks, the batch and input, the steps, the device and the
/// PyTorch peer.
#[derive(clap::Args)]
pub struct BenchTrainArgs {
    /// Presets to measure (repeat the flag).
    #[arg(long = "model", default_values = ["edge-s", "resnet50"])]
    pub models: Vec<Preset>,
    /// Side of the square input.
    #[arg(long, default_value_t = 224)]
    pub size: u32,
    /// Examples per step.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Timed steps (the median is reported).
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// CPU threads for both engines (0: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// cpu, or cuda[:N] in a build with the `cuda` feature.
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
    /// The PyTorch peer script.
    #[arg(long, default_value = "bench/pytorch_peer.py")]
    pub peer: PathBuf,
    /// Python interpreter with torch installed.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Also write the figures here as JSON.
    #[arg(long)]
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

/// Measures every `--model` on both sides and prints the table.
pub fn run(args: BenchTrainArgs) -> anyhow::Result<()> {
    if args.threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(args.threads)
            .build_global()
            .context("setting the thread count")?;
    }
    let threads = rayon::current_num_threads();
    println!(
        "training throughput, batch {}, {}x{} input, {} threads, median of {} steps after {} warm-up",
        args.batch, args.size, args.size, threads, args.steps, args.warmup
    );
    println!(
        "{:<14} {:>9} {:>16} {:>16} {:>8}",
        "model", "GMACs", "leukoscope img/s", "pytorch img/s", "ratio"
    );
    let mut rows = Vec::new();
    for preset in &args.models {
        let spec = preset.build(&PresetOptions {
            input_size: args.size,
            ..PresetOptions::field(4)
        });
        let ours = match args.device {
            DeviceChoice::Cpu => train_throughput::<CpuTrain>(
                &spec,
                args.batch,
                args.warmup,
                args.steps,
                &Default::default(),
                "cpu",
            )?,
            #[cfg(feature = "cuda")]
            DeviceChoice::Cuda(index) => train_throughput::<leukoscope_trainer::backend::GpuTrain>(
                &spec,
                args.batch,
                args.warmup,
                args.steps,
                &burn::backend::cuda::CudaDevice::new(index),
                &format!("cuda:{index}"),
            )?,
            #[cfg(not(feature = "cuda"))]
            DeviceChoice::Cuda(_) => {
                bail!("this build has no CUDA support; build with --features cuda")
            }
        };
        let peer = peer(&args, &spec, threads);
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
            input: args.size,
            macs: spec.macs()?,
            ours,
            pytorch,
            ratio,
        });
    }
    if let Some(path) = &args.json {
        super::write_file(path, serde_json::to_string_pretty(&rows)?.as_bytes())?;
    }
    Ok(())
}

/// Runs the PyTorch script on the same spec and parses its one-line JSON answer.
fn peer(
    args: &BenchTrainArgs,
    spec: &leukoscope_core::spec::ModelSpec,
    threads: usize,
) -> anyhow::Result<Throughput> {
    if !Path::new(&args.peer).exists() {
        bail!(
            "{} not found (run from the repository root)",
            args.peer.display()
        );
    }
    let dir = tempfile::tempdir()?;
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, serde_json::to_vec(spec)?)?;
    let device = match args.device {
        DeviceChoice::Cpu => "cpu".to_string(),
        DeviceChoice::Cuda(i) => format!("cuda:{i}"),
    };
    let output = Command::new(&args.python)
        .arg(&args.peer)
        .args(["--spec", &spec_path.to_string_lossy()])
        .args(["--batch", &args.batch.to_string()])
        .args(["--steps", &args.steps.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--device", &device])
        .output()
        .with_context(|| format!("running {}", args.python))?;
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
