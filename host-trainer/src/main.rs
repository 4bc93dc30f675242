//! `leukoscope-train`: trains, evaluates and exports leukoscope's classifiers.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use leukoscope_core::spec::{Preset, PresetOptions};
use leukoscope_trainer::backend::DeviceChoice;
use leukoscope_trainer::dataset::DatasetFormat;

use commands::train::TrainArgs;

/// Train, cross-validate, evaluate and export leukoscope's white-cell classifiers.
/// Models are decision support, to be confirmed by a trained reader.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train one model with a group-aware hold-out split; writes a run folder with the
    /// resolved config, per-epoch metrics (CSV, JSON), checkpoints, the best model
    /// (model.lsm), validation figures, plots and report.md.
    Train(TrainArgs),
    /// k-fold cross-validation by group: one model per fold (in --out/fold-k), then the
    /// mean ± std of every figure and pooled out-of-fold figures.
    Cv {
        #[command(flatten)]
        args: TrainArgs,
        /// Number of folds.
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// Train only the first N folds of the --folds split (for models too slow for
        /// all of them); the summary is over those N and says so.
        #[arg(long)]
        run_folds: Option<usize>,
    },
    /// Evaluate a model (.lsm, or a run folder) on a labelled dataset.
    Eval {
        /// The .lsm model, or a run folder holding model.lsm (default: the shipped
        /// model, from the repository's root).
        #[arg(long, default_value = "models/b-all-4-edge-s.lsm")]
        model: PathBuf,
        /// The labelled dataset (same layouts as `train`).
        #[arg(long)]
        data: PathBuf,
        /// How to read --data: auto, folders, cnmc, all-idb or csv.
        #[arg(long, default_value = "auto")]
        format: DatasetFormat,
        /// Score in this class set instead of the model's (all-binary maps Benign to
        /// Normal and the B-ALL subtypes to ALL).
        #[arg(long)]
        taxonomy: Option<String>,
        /// Write the figures here as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Images per inference batch.
        #[arg(long, default_value_t = 32)]
        batch: usize,
    },
    /// Train a small CNN on synthetic smear fields (no patient images), check it on
    /// held-out synthetic fields and export it as a .lsm model: the whole training path
    /// in about a minute. The model knows nothing of real blood.
    Demo {
        /// Run folder.
        #[arg(long, default_value = "runs/demo")]
        out: PathBuf,
        /// Synthetic training fields per class (validation uses a quarter as many).
        #[arg(long, default_value_t = 400)]
        per_class: usize,
        /// Passes over the training fields.
        #[arg(long, default_value_t = 10)]
        epochs: usize,
        /// Side of the synthetic fields and of the network input, in pixels at the
        /// 4-class data's scale (0.42 um per pixel).
        #[arg(long, default_value_t = 96)]
        size: u32,
        /// Seeds the fields, the weights and the shuffling.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// cpu, or cuda[:N] in a build with the `cuda` feature.
        #[arg(long, default_value = "cpu")]
        device: DeviceChoice,
    },
    /// Measure training throughput (images/s) beside PyTorch on the same network, batch,
    /// threads and device, in the same run; prints the ratio. A benchmark, not a test.
    BenchTrain {
        /// Presets to measure (repeat the flag).
        #[arg(long = "model", default_values = ["edge-s", "resnet50"])]
        models: Vec<Preset>,
        /// Side of the square input.
        #[arg(long, default_value_t = 224)]
        size: u32,
        /// Examples per step.
        #[arg(long, default_value_t = 16)]
        batch: usize,
        /// Timed steps (the median is reported).
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// Untimed steps first.
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        /// CPU threads for both engines (0: all cores).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// cpu, or cuda[:N] in a build with the `cuda` feature.
        #[arg(long, default_value = "cpu")]
        device: DeviceChoice,
        /// The PyTorch peer script.
        #[arg(long, default_value = "bench/pytorch_peer.py")]
        peer: PathBuf,
        /// Python interpreter with torch installed.
        #[arg(long, default_value = "python3")]
        python: String,
        /// Also write the figures here as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Quantize a trained float model to int8 (post-training: batch norm folded, weights
    /// int8 per output channel, activations int8 per tensor from calibration images,
    /// integer-only requantization) and print its float and int8 validation figures side
    /// by side. Given a run folder trained on --calib, calibration uses the run's training
    /// split and the figures its validation split.
    Quantize(commands::quantize::QuantizeArgs),
    /// Fit temperature scaling on held-out images (expected calibration error before and
    /// after) and the confidence below which the edge calls a cell unidentified, so the
    /// cells it classifies are right at least --precision of the time; both are stored in
    /// the artifact.
    Calibrate(commands::calibrate::CalibrateArgs),
    /// One Markdown table row per cross-validated model (folders of `cv`, quantized with
    /// `quantize --model CV`): int8 figures on held-out folds as mean ± std, the binary
    /// screen, float macro F1 and the change int8 makes, parameters, MACs, int8 size and
    /// single-thread int8 latency on this machine.
    Results(commands::results::ResultsArgs),
    /// Write a model as a .lsm file in this version's format: a run folder's best
    /// checkpoint (of a run that was interrupted, or trained by an older version), or a
    /// .lsm file to re-encode.
    Export {
        /// A run folder (its checkpoint), or a .lsm file.
        #[arg(long)]
        model: PathBuf,
        /// Where to write the .lsm model.
        #[arg(long)]
        out: PathBuf,
    },
    /// Make an ed25519 key pair for signing models: NAME.key (secret; keep it off the
    /// boards) and NAME.pub (list it in a board's trusted keys).
    Keygen {
        /// Path and name of the pair, without extension.
        #[arg(long)]
        out: PathBuf,
        /// Replace existing key files.
        #[arg(long)]
        force: bool,
    },
    /// Sign a .lsm model (ed25519 over its digest; the model's identity does not change).
    /// Replaces any earlier signature.
    Sign {
        /// Secret key file from `keygen`.
        #[arg(long)]
        key: PathBuf,
        /// The model to sign.
        model: PathBuf,
        /// Write the signed model here instead of in place.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a model as ONNX (opset 13) for onnxruntime, TensorRT and other runtimes:
    /// float from a float model, run folder or checkpoint; int8 QDQ (--int8) from a
    /// quantized model, which is written as QDQ even without the flag. See docs/onnx.md.
    ExportOnnx(commands::export_onnx::ExportOnnxArgs),
    /// List the model presets with their cost at a given input size.
    Presets {
        /// Side of the square input.
        #[arg(long, default_value_t = 224)]
        size: u32,
        /// Classes scored.
        #[arg(long, default_value_t = 4)]
        classes: u32,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("leukoscope-train: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(args) => commands::train::train(args),
        Command::Quantize(args) => commands::quantize::run(args),
        Command::Calibrate(args) => commands::calibrate::run(args),
        Command::Results(args) => commands::results::run(args),
        Command::Export { model, out } => commands::export::export(&model, &out),
        Command::Keygen { out, force } => commands::keys::keygen(&out, force),
        Command::Sign { key, model, out } => commands::keys::sign_model(&key, &model, out),
        Command::Cv {
            args,
            folds,
            run_folds,
        } => commands::train::cross_validate(args, folds, run_folds.unwrap_or(folds)),
        Command::Eval {
            model,
            data,
            format,
            taxonomy,
            json,
            batch,
        } => commands::eval::run(commands::eval::EvalOptions {
            model,
            data,
            format,
            taxonomy,
            json,
            batch,
        }),
        Command::Demo {
            out,
            per_class,
            epochs,
            size,
            seed,
            device,
        } => commands::demo::demo(commands::demo::DemoOptions {
            out,
            per_class,
            epochs,
            size,
            seed,
            device,
        }),
        Command::BenchTrain {
            models,
            size,
            batch,
            steps,
            warmup,
            threads,
            device,
            peer,
            python,
            json,
        } => commands::bench::run(commands::bench::BenchOptions {
            models,
            size,
            batch,
            steps,
            warmup,
            threads,
            device,
            peer_script: peer,
            python,
            json,
        }),
        Command::ExportOnnx(args) => commands::export_onnx::run(args),
        Command::Presets { size, classes } => {
            println!(
                "{:<16} {:>12} {:>12}  description",
                "preset", "MACs (M)", "params (M)"
            );
            for preset in Preset::ALL {
                let spec = preset.build(&PresetOptions {
                    input_size: size,
                    ..PresetOptions::field(classes)
                });
                match spec.analyze() {
                    Ok(a) => println!(
                        "{:<16} {:>12.1} {:>12.2}  {}",
                        preset.name(),
                        a.macs as f64 / 1e6,
                        a.params as f64 / 1e6,
                        preset.describe()
                    ),
                    Err(e) => println!("{:<16} not valid at {size}x{size}: {e}", preset.name()),
                }
            }
            Ok(())
        }
    }
}
