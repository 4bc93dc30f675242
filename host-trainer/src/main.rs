//! `leukoscope-train`: trains, evaluates and exports leukoscope's classifiers.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Train one model with a group-aware hold-out split, on one --data folder or several
    /// named --source folders (cut to one scale by `leukoscope-edge crops`); writes a run
    /// folder with the resolved config, per-epoch metrics (CSV, JSON), checkpoints, the
    /// best model (model.lsm), validation figures, plots and report.md.
    Train(commands::train::TrainArgs),
    /// `train` on data that may lack some of --taxonomy's classes, such as the cells of
    /// other labs (--taxonomy wbc-blast --source pbc=... --source zheng1=...), whose
    /// model.lsm is a backbone for `train` or `cv --init MODEL.lsm --new-head` to
    /// fine-tune on another class set. The classes the data lacks are never learnt; it
    /// needs two or more.
    Pretrain(commands::train::TrainArgs),
    /// k-fold cross-validation by group, or leave-one-source-out over several --source
    /// folders (--by-source): one model per fold (in --out/fold-k), then the mean ± std of
    /// every figure and pooled out-of-fold figures.
    Cv(commands::cv::CvArgs),
    /// Evaluate a model (.lsm, or a run folder) on a labelled dataset, or count what it calls
    /// cells without labels (--unlabelled).
    Eval(commands::eval::EvalArgs),
    /// Train a small CNN on synthetic smear fields (no patient images), check it on
    /// held-out synthetic fields and export it as a .lsm model: the whole training path
    /// in about a minute. The model knows nothing of real blood.
    Demo(commands::demo::DemoArgs),
    /// Measure training throughput (images/s) beside PyTorch on the same network, batch,
    /// threads and device, in the same run; prints the ratio. A benchmark, not a test.
    BenchTrain(commands::bench_train::BenchTrainArgs),
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
    /// Fit the profile the board tells unfamiliar cells with: the Mahalanobis distance of a
    /// cell's features to the nearest class of the cells the model learnt from (--familiar),
    /// with the threshold that flags --flag-share of held-out cells of the same labs
    /// (--held-out); stored in the artifact (format 3). The board counts a cell beyond it
    /// in no class, and a slide of mostly such cells ends "review every cell by hand".
    Familiar(commands::familiar::FamiliarArgs),
    /// Re-estimate a float model's batch-norm statistics on a lab's own cells, without
    /// labels (AdaBN), and print how far the lab moved them: the learnt weights stay, the
    /// spreads each layer divides by become the lab's. Quantize the result to run it.
    Adapt(commands::adapt::AdaptArgs),
    /// One Markdown table row per cross-validated model (folders of `cv`, quantized with
    /// `quantize --model CV`): int8 figures on held-out folds as mean ± std, the binary
    /// screen, float macro F1 and the change int8 makes, parameters, MACs, int8 size and
    /// single-thread int8 latency on this machine.
    Results(commands::results::ResultsArgs),
    /// Write a model as a .lsm file in this version's format: a run folder's best
    /// checkpoint (of a run that was interrupted, or trained by an older version), or a
    /// .lsm file to re-encode.
    Export(commands::export::ExportArgs),
    /// Make an ed25519 key pair for signing models: NAME.key (secret; keep it off the
    /// boards) and NAME.pub (list it in a board's trusted keys).
    Keygen(commands::keygen::KeygenArgs),
    /// Sign a .lsm model (ed25519 over its digest; the model's identity does not change).
    /// Replaces any earlier signature.
    Sign(commands::sign::SignArgs),
    /// Write a model as ONNX (opset 13) for onnxruntime, TensorRT and other runtimes:
    /// float from a float model, run folder or checkpoint; int8 QDQ (--int8) from a
    /// quantized model, which is written as QDQ even without the flag. See docs/onnx.md.
    ExportOnnx(commands::export_onnx::ExportOnnxArgs),
    /// List the model presets with their cost at a given input size.
    Presets(commands::presets::PresetsArgs),
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
        Command::Train(args) => commands::train::run(args),
        Command::Pretrain(args) => commands::train::pretrain(args),
        Command::Cv(args) => commands::cv::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::BenchTrain(args) => commands::bench_train::run(args),
        Command::Quantize(args) => commands::quantize::run(args),
        Command::Calibrate(args) => commands::calibrate::run(args),
        Command::Familiar(args) => commands::familiar::run(args),
        Command::Adapt(args) => commands::adapt::run(args),
        Command::Results(args) => commands::results::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Keygen(args) => commands::keygen::run(args),
        Command::Sign(args) => commands::sign::run(args),
        Command::ExportOnnx(args) => commands::export_onnx::run(args),
        Command::Presets(args) => commands::presets::run(args),
    }
}
