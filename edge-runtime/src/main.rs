//! `leukoscope-edge`: the board's program.

mod commands;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use leukoscope_core::artifact::PublicKey;
use leukoscope_edge::bench::BenchOptions;

use commands::bench::{BenchArgs, PipelineArgs};

/// leukoscope on the microscope's board: decision support for ALL screening, to be
/// confirmed by a trained reader.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A synthetic slide classified end to end by the bundled demonstration model (trained
    /// on synthetic smears only: not for patients), its counts printed beside the slide's
    /// ground truth, with the HTML report. Takes seconds.
    Demo {
        /// Where the journal and the report go.
        #[arg(long, default_value = "out/demo")]
        out: PathBuf,
        /// Seeds the synthetic slide.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Share of the slide's white cells that are blasts (Early Pre-B, Pre-B, Pro-B in
        /// equal parts), 0 to 1.
        #[arg(long, default_value_t = 0.4)]
        blast_share: f32,
        /// Cells whose top probability is below this go to the unidentified bin (the demo
        /// model carries no calibrated threshold).
        #[arg(long, default_value_t = 0.6)]
        unidentified_below: f32,
        /// Serve the technician's web UI at --listen while the slide is scanned (at a
        /// camera's pace), and keep serving for review; Start there scans another slide.
        #[arg(long)]
        serve: bool,
        #[command(flatten)]
        ui: UiArgs,
    },
    /// The board's service: self-test, then scan slides from the camera, one per press of
    /// the start button or of Start slide in the web UI (on a board without a button the
    /// first starts at once; with --frames, one slide and exit), resuming a slide a power
    /// cut interrupted. Serves the technician's web UI at --listen. Reports, journals and
    /// cell pictures go under the board's storage folder.
    Run {
        /// The board's settings.
        #[arg(long)]
        board: PathBuf,
        /// The slide's id (letters, digits, '-', '_', '.'; never a patient's name).
        /// Default: from the clock.
        #[arg(long)]
        slide: Option<String>,
        /// Read frames from this folder instead of the camera (a bench test of a board).
        #[arg(long)]
        frames: Option<PathBuf>,
        /// With --frames: frames per second to replay at (default: as fast as possible).
        #[arg(long)]
        fps: Option<f64>,
        /// Where the technician's web UI listens (default: the board's [ui] listen, else
        /// 127.0.0.1:8080). An address other than loopback needs an access token.
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// File holding the UI's access token (default: the board's [ui] token_file, else
        /// the LEUKOSCOPE_UI_TOKEN variable).
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
    /// A folder of frames (JPEG, PNG, BMP, TIFF; in natural name order) through the whole
    /// pipeline, as if from the camera: quality gate, cells found, counted once,
    /// classified, journal, report.
    Replay {
        /// The folder of frames.
        #[arg(long)]
        frames: PathBuf,
        /// The .lsm model (default: the --board's model, else the shipped
        /// models/b-all-4-edge-s.lsm when run from the repository's root).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Take thresholds, frame scale and trusted keys from this board's settings.
        #[arg(long)]
        board: Option<PathBuf>,
        /// Ed25519 public key (64 hex digits) the model must be signed by; repeatable.
        #[arg(long = "trust", value_name = "KEY")]
        trusted_keys: Vec<PublicKey>,
        /// The slide's id (default: from the clock). Replaying the same id again resumes
        /// that slide's journal.
        #[arg(long)]
        slide: Option<String>,
        /// Frames per second (default: as fast as possible).
        #[arg(long)]
        fps: Option<f64>,
        /// Micrometres per pixel of the frames (default: the board's, else 0.42).
        #[arg(long)]
        um_per_px: Option<f32>,
        /// Where the journal and the report go.
        #[arg(long, default_value = "out/replay")]
        out: PathBuf,
        /// Serve the technician's web UI at --listen during the slide and afterwards, for
        /// review (until Ctrl-C).
        #[arg(long)]
        serve: bool,
        #[command(flatten)]
        ui: UiArgs,
    },
    /// The cells of every signed-off slide as an image folder the trainer reads (one
    /// sub-folder per class, the reviewer's class where they changed it), with
    /// corrections.csv; unidentified cells and those marked "not a cell" are left out.
    ExportCorrections {
        /// The data folder holding journals/, reports/ and cells/ (a demo's or replay's --out).
        #[arg(long, conflicts_with = "board", required_unless_present = "board")]
        data: Option<PathBuf>,
        /// The board's settings: export from its storage folder.
        #[arg(long)]
        board: Option<PathBuf>,
        /// Where the class folders and corrections.csv go.
        #[arg(long)]
        out: PathBuf,
        /// Only the cells the reviewer changed.
        #[arg(long)]
        corrected_only: bool,
    },
    /// The board's self-test: the model (digest, signature, engine), and with --board the
    /// camera (one frame), the pins and the storage. Exits non-zero with a one-line
    /// reason on the first failure.
    Check {
        /// The board's settings.
        #[arg(long)]
        board: Option<PathBuf>,
        /// The .lsm model (default: the --board's, else the shipped
        /// models/b-all-4-edge-s.lsm when run from the repository's root).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Ed25519 public key (64 hex digits) whose signature is required; repeatable.
        /// Default: the --board's trusted keys; without either, unsigned models pass.
        #[arg(long = "trust", value_name = "KEY")]
        trusted_keys: Vec<PublicKey>,
    },
    /// Benchmarks, not tests. Default: inference latency and throughput of the int8 and
    /// f32 engines beside ONNX Runtime on the same model. With --pipeline: the whole
    /// pipeline on synthetic 1920x1080 frames (frames/s, p50/p99 frame latency, per-stage
    /// times) and the detection stage beside OpenCV on the same frames.
    Bench {
        /// The .lsm model (int8 or float); with --pipeline, default the demo model.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Measure the whole pipeline instead of inference alone.
        #[arg(long)]
        pipeline: bool,
        /// With --pipeline: frames measured.
        #[arg(long, default_value_t = 120)]
        frames: usize,
        /// With --pipeline: frames given to the OpenCV comparison.
        #[arg(long, default_value_t = 20)]
        detection_frames: usize,
        /// With --pipeline: seeds the synthetic slide.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// With --pipeline: the OpenCV peer script.
        #[arg(long, default_value = "bench/opencv_detect_peer.py")]
        opencv_peer: PathBuf,
        /// The float .lsm of the same model, for the f32 engine's rows when --model is int8.
        #[arg(long)]
        float_model: Option<PathBuf>,
        /// The model as float ONNX (`leukoscope-train export-onnx`), for ONNX Runtime fp32.
        #[arg(long)]
        onnx: Option<PathBuf>,
        /// The model as int8 QDQ ONNX (`export-onnx --int8`), for ONNX Runtime int8.
        #[arg(long)]
        onnx_int8: Option<PathBuf>,
        /// Images per call (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "1,8")]
        batches: Vec<usize>,
        /// Thread counts (comma-separated); with --pipeline the first is used, 0 for all
        /// cores.
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        threads: Vec<usize>,
        /// Untimed calls per configuration.
        #[arg(long, default_value_t = 5)]
        warmup: usize,
        /// Timed calls per configuration.
        #[arg(long, default_value_t = 40)]
        iters: usize,
        /// Also write the figures here as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// The ONNX Runtime peer script.
        #[arg(long, default_value = "bench/onnxruntime_peer.py")]
        peer: PathBuf,
        /// Python interpreter with onnxruntime (and OpenCV for --pipeline) installed.
        #[arg(long, default_value = "python3")]
        python: String,
    },
}

/// Where the web UI listens, for `demo --serve` and `replay --serve`.
#[derive(clap::Args)]
struct UiArgs {
    /// Where the web UI listens. An address other than loopback needs an access token.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// File holding the UI's access token (default: the LEUKOSCOPE_UI_TOKEN variable).
    #[arg(long)]
    token_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("leukoscope-edge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo {
            out,
            seed,
            blast_share,
            unidentified_below,
            serve,
            ui,
        } => commands::demo::demo(commands::demo::DemoOptions {
            out,
            seed,
            blast_share,
            unidentified_below,
            serve: serve.then_some(ui.listen),
            token_file: ui.token_file,
        }),
        Command::Run {
            board,
            slide,
            frames,
            fps,
            listen,
            token_file,
        } => commands::run::run(commands::run::RunOptions {
            board,
            slide,
            frames,
            fps,
            listen,
            token_file,
        }),
        Command::ExportCorrections {
            data,
            board,
            out,
            corrected_only,
        } => commands::export::export_corrections(commands::export::ExportOptions {
            data,
            board,
            out,
            corrected_only,
        }),
        Command::Replay {
            frames,
            model,
            board,
            trusted_keys,
            slide,
            fps,
            um_per_px,
            out,
            serve,
            ui,
        } => commands::replay::replay(commands::replay::ReplayOptions {
            frames,
            model,
            board,
            trusted_keys,
            slide,
            fps,
            micrometres_per_pixel: um_per_px,
            out,
            serve: serve.then_some(ui.listen),
            token_file: ui.token_file,
        }),
        Command::Check {
            board,
            model,
            trusted_keys,
        } => commands::check::check(commands::check::CheckOptions {
            board,
            model,
            trusted_keys,
        }),
        Command::Bench {
            model,
            pipeline: true,
            frames,
            detection_frames,
            seed,
            opencv_peer,
            threads,
            json,
            python,
            ..
        } => commands::bench::bench_pipeline(PipelineArgs {
            model,
            frames,
            threads: threads.first().copied().unwrap_or(0),
            seed,
            json,
            python,
            opencv_peer,
            detection_frames,
        }),
        Command::Bench {
            model,
            pipeline: false,
            float_model,
            onnx,
            onnx_int8,
            batches,
            threads,
            warmup,
            iters,
            json,
            peer,
            python,
            ..
        } => commands::bench::bench(BenchArgs {
            model,
            float_model,
            onnx,
            onnx_int8,
            batches,
            threads,
            options: BenchOptions {
                warmup,
                iterations: iters,
            },
            json,
            peer,
            python,
        }),
    }
}
