//! `leukoscope-edge`: the board's program.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::bench::BenchArgs;
use commands::check::CheckArgs;
use commands::crops::CropsArgs;
use commands::demo::DemoArgs;
use commands::eval_detect::EvalDetectArgs;
use commands::export::ExportArgs;
use commands::replay::ReplayArgs;
use commands::report::ReportArgs;
use commands::run::RunArgs;
use commands::scale::ScaleArgs;
use commands::scope::ScopeArgs;

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
    Demo(DemoArgs),
    /// The board's service: self-test, then scan slides from the camera, one per press of
    /// the start button or of Start slide in the web UI (on a board without a button the
    /// first starts at once; with --frames, one slide and exit), resuming a slide a power
    /// cut interrupted. Serves the technician's web UI at --listen. Reports, journals and
    /// cell pictures go under the board's storage folder.
    Run(RunArgs),
    /// A folder of frames (JPEG, PNG, BMP, TIFF; in natural name order) through the whole
    /// pipeline, as if from the camera: quality gate, cells found, counted once,
    /// classified, journal, report.
    Replay(ReplayArgs),
    /// The cells of every signed-off slide as an image folder the trainer reads (one
    /// sub-folder per class, the reviewer's class where they changed it), with
    /// corrections.csv; unidentified cells and those marked "not a cell" are left out.
    ExportCorrections(ExportArgs),
    /// The board's self-test: the model (digest, signature, engine), and with --board the
    /// camera (one frame), the pins and the storage. Exits non-zero with a one-line
    /// reason on the first failure.
    Check(CheckArgs),
    /// Benchmarks, not tests. Default: inference latency and throughput of the int8 and
    /// f32 engines beside ONNX Runtime on the same model. With --pipeline: the whole
    /// pipeline on synthetic 1920x1080 frames (frames/s, p50/p99 frame latency, per-stage
    /// times) and the detection stage beside OpenCV on the same frames.
    Bench(BenchArgs),
    /// The cell detector scored on frames with a box around every cell (CSV
    /// `image,x_min,y_min,x_max,y_max,label`): recall, precision, cells counted twice,
    /// detections outside any white cell, and the scale against the red-cell boxes, per
    /// frame and in all.
    EvalDetect(EvalDetectArgs),
    /// The frames' micrometres per pixel, measured from the slide's red cells (a normal
    /// one is 7.5 um across), with its uncertainty; with --board, beside the board's
    /// calibration, with a warning when they differ by more than 15 %.
    Scale(ScaleArgs),
    /// The white cells of a folder of frames (or of one sub-folder per class, such as a
    /// field-labelled set) cut by the board's own detector and model window, as an image
    /// folder the trainer reads (one sub-folder per class) with crops.csv: training sees
    /// cells exactly as the board cuts them. Cells cut by the frame's edge are left out.
    Crops(CropsArgs),
    /// A finished slide's report written again from its journal, when a full disk or a
    /// power cut kept it from being written: the same counts, flag and cells (with their
    /// review pictures), without the annotated frames.
    Report(ReportArgs),
    /// The scope controller of a motorized stage by hand: home, move, focus, lamp, where.
    /// How the scan area and the nominal focus of a board's [scope] are measured.
    Scope(ScopeArgs),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Demo(args) => commands::demo::demo(args),
        Command::Run(args) => commands::run::run(args),
        Command::Replay(args) => commands::replay::replay(args),
        Command::Report(args) => commands::report::report(args),
        Command::ExportCorrections(args) => commands::export::export_corrections(args),
        Command::Check(args) => commands::check::check(args),
        Command::Bench(args) => commands::bench::bench(args),
        Command::EvalDetect(args) => commands::eval_detect::eval_detect(args),
        Command::Crops(args) => commands::crops::crops(args),
        Command::Scale(args) => commands::scale::scale(args),
        Command::Scope(args) => commands::scope::scope(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("leukoscope-edge: {e:#}");
            ExitCode::FAILURE
        }
    }
}
