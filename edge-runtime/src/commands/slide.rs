//! Scanning one slide from a source to a written report: shared by `run`, `replay` and
//! `demo`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use leukoscope_core::artifact::{PublicKey, TrustPolicy, VerifiedArtifact};
use leukoscope_core::files::read_capped;
use leukoscope_edge::io::model::load_model;
use leukoscope_edge::io::settings::BoardSettings;
use leukoscope_edge::io::source::{FrameSource, ReadAhead};
use leukoscope_edge::records::JournalEntry;
use leukoscope_edge::records::journal::{Journal, open_slide_journal};
use leukoscope_edge::records::layout::{DataDir, is_slide_id};
use leukoscope_edge::records::now_rfc3339;
use leukoscope_edge::report::{ReportFiles, write_report};
use leukoscope_edge::scan::pipeline::{
    Control, FinishedSlide, Resume, ScanSettings, SlideScanner, recorded_scale,
};
use leukoscope_edge::scan::session::{SlideFlag, SubtypeCall};
use leukoscope_edge::ui::{Desk, DeskConfig, DeskMode, ReportRebuild};

use super::scale::measure_ahead;

/// Where the web UI listens, for `demo --serve` and `replay --serve`.
#[derive(clap::Args)]
pub struct UiArgs {
    /// Where the web UI listens. An address other than loopback needs an access token.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// File holding the UI's access token (default: the LEUKOSCOPE_UI_TOKEN variable).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

/// A slide scanned and reported.
pub struct ScannedSlide {
    pub finished: FinishedSlide,
    pub files: ReportFiles,
    pub journal: PathBuf,
}

/// How the slide's scale is found before its first frame.
#[derive(Clone, Copy, Debug)]
pub struct ScaleStart {
    /// Measure it from the red cells of the frames read ahead (`um_per_px = "auto"`).
    pub auto: bool,
    /// The board's calibrated scale, which a measurement is checked against.
    pub calibrated: Option<f32>,
}

/// Scans `slide_id` from `source` with `model`, resuming its journal if an earlier run was
/// cut short. Before the first frame, the scale (and, with `detect.stains = "slide"`, the
/// stains) is measured from the frames read ahead, unless the journal of a resumed slide
/// holds the scale it began with. `on_frame` sees each frame (progress, the button); with a
/// `desk`, the UI sees each frame too and its Stop button ends the slide.
#[allow(clippy::too_many_arguments)]
pub fn scan_slide<S: FrameSource>(
    slide_id: &str,
    model: &VerifiedArtifact,
    settings: ScanSettings,
    source: &mut ReadAhead<S>,
    scale: ScaleStart,
    resume: Resume,
    data: &DataDir,
    desk: Option<&Arc<Desk>>,
    mut on_frame: impl FnMut(&SlideScanner, &leukoscope_edge::scan::pipeline::FrameOutcome) -> Control,
) -> anyhow::Result<(FinishedSlide, PathBuf)> {
    check_slide_id(slide_id)?;
    let (journal, earlier, journal_path) = open_slide_journal(data, slide_id)?;
    if let Some(note) = journal.recovery().torn_tail_note(&journal_path) {
        println!("slide {slide_id}: {note}");
    }
    // The UI shows the slide as scanning from here: measuring its scale takes a while,
    // and its journal, already open, would otherwise list it as cut short.
    if let Some(desk) = desk {
        desk.slide_starting(slide_id);
    }
    let started = start_scanner(
        slide_id, model, settings, source, scale, resume, journal, earlier,
    );
    let scanner = match started {
        Ok(scanner) => scanner,
        Err(e) => {
            if let Some(desk) = desk {
                desk.slide_ended(format!("failed: {e:#}"));
            }
            return Err(e);
        }
    };
    let mut scanner = scanner.keep_cell_images(data.cell_images(slide_id));
    println!("slide {slide_id}: scanning {}", source.describe());
    let described = source.describe();
    let end = match desk {
        Some(desk) => {
            let mut watched = desk.watch(source);
            scanner.scan(&mut watched, |scanner, outcome| {
                desk.frame_done(scanner, outcome);
                if desk.take_stop() {
                    Control::Stop
                } else {
                    on_frame(scanner, outcome)
                }
            })
        }
        None => scanner.scan(source, on_frame),
    };
    let end = match end {
        Ok(end) => end,
        Err(e) => {
            if let Some(desk) = desk {
                desk.slide_ended(format!("failed: {e}"));
            }
            return Err(e.into());
        }
    };
    let missing = scanner.flush_cell_images();
    if missing > 0 {
        println!(
            "slide {slide_id}: {missing} cell pictures could not be written (the cells are counted; their review pictures are missing)"
        );
    }
    let finished = scanner.finish(&end, described, now_rfc3339())?;
    Ok((finished, journal_path))
}

/// Measures the scale (unless the journal of a resumed slide holds it) and makes the
/// slide's scanner on its open `journal`.
#[allow(clippy::too_many_arguments)]
fn start_scanner<S: FrameSource>(
    slide_id: &str,
    model: &VerifiedArtifact,
    settings: ScanSettings,
    source: &mut ReadAhead<S>,
    scale: ScaleStart,
    resume: Resume,
    journal: Journal,
    earlier: Vec<JournalEntry>,
) -> anyhow::Result<SlideScanner> {
    let mut settings = settings;
    let mut recorded = None;
    if !earlier.is_empty() {
        println!(
            "slide {slide_id}: resuming from its journal ({} records kept)",
            earlier.len()
        );
        // Measured again from other frames, the scale would move under the slide's
        // recorded cells; the one measured when it began stays.
        recorded = recorded_scale(&earlier).filter(|_| scale.auto);
    }
    measure_ahead(
        source,
        &mut settings,
        scale.auto && recorded.is_none(),
        scale.calibrated,
    )
    .with_context(|| format!("slide {slide_id}: measuring the frame scale"))?;
    if let Some(recorded) = recorded {
        println!(
            "slide {slide_id}: at the scale recorded when it began, {:.4} um/px (+/- {:.1} %, {} red cells)",
            recorded.um_per_px,
            recorded.uncertainty * 100.0,
            recorded.red_cells
        );
        settings.set_measured_scale(recorded);
    }
    Ok(SlideScanner::new(
        slide_id, model, settings, journal, earlier, resume,
    )?)
}

/// Writes the slide's report in the data folder.
pub fn write_slide(
    finished: FinishedSlide,
    journal: PathBuf,
    data: &DataDir,
) -> anyhow::Result<ScannedSlide> {
    let dir = data.report(&finished.report.slide_id);
    let files = write_report(
        &dir,
        &finished.report,
        &finished.thumbnails,
        &finished.snapshots,
    )
    .with_context(|| format!("writing the report of slide {}", finished.report.slide_id))?;
    Ok(ScannedSlide {
        finished,
        files,
        journal,
    })
}

/// The shipped B-ALL model, relative to the repository's root: what `replay` and `check`
/// use when given neither --model nor --board.
pub const DEFAULT_MODEL: &str = "models/b-all-4-edge-s.lsm";

/// `--model` and `--trust`, for every command that loads a model.
#[derive(clap::Args)]
pub struct ModelChoice {
    /// The .lsm model (default: the --board's, else the shipped models/b-all-4-edge-s.lsm
    /// when run from the repository's root).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Ed25519 public key (64 hex digits) the model must be signed by; repeatable.
    /// Default: the --board's trusted keys; without either, unsigned models pass.
    #[arg(long = "trust", value_name = "KEY")]
    pub trusted_keys: Vec<PublicKey>,
}

/// The model a command runs: `--model`, else the board's, else [`DEFAULT_MODEL`];
/// verified under `--trust` keys, else the board's trusted keys, else accepting unsigned
/// models.
pub fn load_chosen_model(
    choice: ModelChoice,
    board: Option<&BoardSettings>,
) -> anyhow::Result<(PathBuf, VerifiedArtifact)> {
    let ModelChoice {
        model,
        trusted_keys,
    } = choice;
    let path = match model.or_else(|| board.map(|b| b.model.path.clone())) {
        Some(path) => path,
        None => {
            let default = PathBuf::from(DEFAULT_MODEL);
            anyhow::ensure!(
                default.is_file(),
                "no model: give --model FILE or a --board; the default, {DEFAULT_MODEL}, is found only from the repository's root"
            );
            default
        }
    };
    let verified = load_model(&path, &trust_policy(&trusted_keys, board))?;
    Ok((path, verified))
}

/// `--subtype-model`, for the commands that scan slides or write their reports.
#[derive(clap::Args)]
pub struct SubtypeChoice {
    /// A B-ALL subtype model (.lsm with two or more malignant classes, such as the
    /// shipped b-all-4 model) that names the subtype of the cells the model counts as
    /// blasts, verified as the model is (default: the --board's model.subtype_path; else
    /// none, and no subtype is named).
    #[arg(long = "subtype-model", value_name = "FILE")]
    pub path: Option<PathBuf>,
}

/// The subtype model a command runs beside its model: `--subtype-model`, else the board's
/// `model.subtype_path`, else none; verified under the same keys as the model
/// ([`load_chosen_model`]).
pub fn load_chosen_subtype(
    choice: SubtypeChoice,
    trusted_keys: &[PublicKey],
    board: Option<&BoardSettings>,
) -> anyhow::Result<Option<Arc<VerifiedArtifact>>> {
    let Some(path) = choice
        .path
        .or_else(|| board.and_then(|b| b.model.subtype_path.clone()))
    else {
        return Ok(None);
    };
    let verified = load_model(&path, &trust_policy(trusted_keys, board))
        .with_context(|| format!("the subtype model {}", path.display()))?;
    Ok(Some(Arc::new(verified)))
}

/// `--trust` keys, else the board's trusted keys, else any model, signed or not.
fn trust_policy(trusted_keys: &[PublicKey], board: Option<&BoardSettings>) -> TrustPolicy {
    if trusted_keys.is_empty() {
        board.map_or_else(TrustPolicy::any, BoardSettings::trust_policy)
    } else {
        TrustPolicy::only(trusted_keys.to_vec())
    }
}

/// The data folder a command reads: `--data`, else the `--board`'s storage folder.
pub fn data_folder(
    data: Option<&std::path::Path>,
    board: Option<&BoardSettings>,
) -> anyhow::Result<DataDir> {
    match (data, board) {
        (Some(dir), None) => Ok(DataDir::new(dir)),
        (None, Some(board)) => Ok(board.data_dir()),
        _ => anyhow::bail!("give the data folder (--data) or the board's settings (--board)"),
    }
}

/// Refuses a slide id that cannot name files ([`is_slide_id`]).
pub fn check_slide_id(id: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        is_slide_id(id),
        "slide id `{id}` must be 1 to 64 letters, digits, '-', '_' or '.' (and not start with '.'); no patient names"
    );
    Ok(())
}

/// A new slide id from the clock: `slide-20261122T101500Z`.
pub fn new_slide_id() -> String {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    format!("slide-{}", stamp.replace(['-', ':'], ""))
}

/// Prints the slide's result for the operator.
pub fn print_result(slide: &ScannedSlide) {
    let report = &slide.finished.report;
    let summary = &report.summary;
    if report.model.demonstration {
        println!("SYNTHETIC DEMONSTRATION MODEL - not for patients");
    }
    println!();
    println!(
        "slide {}: {}",
        summary.slide_id,
        slide.finished.end.describe()
    );
    let truth = report.truth.as_ref();
    // 14 wide, or as wide as a longer class name (wbc-blast's "Immature granulocyte").
    let width = summary.class_name_width().max(14);
    print!("  {:<width$} {:>6}", "class", "cells");
    if truth.is_some() {
        print!(" {:>7}", "truth");
    }
    println!();
    for (i, count) in summary.counts.iter().enumerate() {
        print!("  {:<width$} {:>6}", count.name, count.cells);
        if let Some(t) = truth.and_then(|t| t.get(i)) {
            print!(" {:>7}", t.cells);
        }
        println!("{}", if count.malignant { "  (malignant)" } else { "" });
    }
    println!("  {:<width$} {:>6}", "unidentified", summary.unidentified);
    if summary.unfamiliar_above.is_some() || summary.unfamiliar > 0 {
        println!(
            "  {:<width$} {:>6}  (unlike the cells the model learnt from: not classified)",
            "unfamiliar", summary.unfamiliar
        );
    }
    if summary.partial > 0 {
        println!(
            "  {:<width$} {:>6}  (cut by the frame's edge wherever seen: not classified)",
            "partial", summary.partial
        );
    }
    println!(
        "  malignant share {:.1} % (95 % interval {:.1} to {:.1} %) over {} classified cells, {} fields",
        summary.malignant_share * 100.0,
        summary.wilson_95.0 * 100.0,
        summary.wilson_95.1 * 100.0,
        summary.classified,
        summary.fields
    );
    let skipped = &report.quality.unreadable;
    if skipped.total() > 0 {
        println!(
            "  {} frames could not be read ({}); the first: {}",
            skipped.total(),
            skipped.by_reason_text(),
            skipped.first.as_deref().unwrap_or("")
        );
    }
    match &report.advice {
        Some(advice) => println!("  NO RESULT: {advice}"),
        None => println!("  {}", flag_line(&summary.flag)),
    }
    if let Some(subtype) = summary
        .subtype
        .as_ref()
        .filter(|s| s.call != SubtypeCall::NotReferred)
    {
        println!("  B-ALL subtype: {}", subtype.call);
        println!(
            "    blasts typed by the subtype model: {}",
            subtype.counts_line()
        );
    }
    println!("  {}", summary.disclaimer);
    println!(
        "  per frame: quality {:.1} ms, detect {:.1} ms, track {:.1} ms, classify {:.1} ms, journal {:.1} ms",
        report.timings_ms.quality,
        report.timings_ms.detect,
        report.timings_ms.track,
        report.timings_ms.classify,
        report.timings_ms.journal
    );
    println!("report  {}", slide.files.html.display());
    println!("json    {}", slide.files.json.display());
    println!("journal {}", slide.journal.display());
}

fn flag_line(flag: &SlideFlag) -> String {
    match flag {
        SlideFlag::SuspiciousRefer { .. } | SlideFlag::Unfamiliar { .. } => format!("FLAG: {flag}"),
        _ => flag.to_string(),
    }
}

/// The UI's access token: from `token_file` if given, else `LEUKOSCOPE_UI_TOKEN`, else none.
pub fn ui_token(token_file: Option<&std::path::Path>) -> anyhow::Result<Option<String>> {
    if let Some(file) = token_file {
        // A token is a line; a kilobyte is room enough for any.
        let bytes = read_capped(file, 1024)
            .with_context(|| format!("reading the UI access token from {}", file.display()))?;
        let token = String::from_utf8(bytes)
            .with_context(|| format!("the UI access token in {} is not text", file.display()))?;
        return Ok(Some(token.trim().to_string()));
    }
    Ok(std::env::var("LEUKOSCOPE_UI_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty()))
}

/// Starts the UI on `desk` and says where it is (tests and scripts read the line).
pub fn start_ui(
    listen: SocketAddr,
    token: Option<String>,
    desk: Arc<Desk>,
) -> anyhow::Result<leukoscope_edge::ui::UiServer> {
    let server = leukoscope_edge::ui::serve(listen, token, desk)?;
    println!("review UI at {}", server.url());
    Ok(server)
}

/// The UI's desk for slides kept in `data`, scanned with `model` and `settings` (whose
/// rules judge them); `can_start` when the UI's Start can begin a slide.
pub fn slide_desk(
    mode: DeskMode,
    data: &DataDir,
    model: &VerifiedArtifact,
    settings: &ScanSettings,
    can_start: bool,
) -> Arc<Desk> {
    Desk::new(DeskConfig {
        mode,
        data: data.clone(),
        taxonomy: model.artifact.taxonomy.clone(),
        rules: settings.session,
        demonstration: leukoscope_edge::io::model::is_demonstration(&model.artifact),
        can_start,
        rebuild: Some(ReportRebuild {
            model: Arc::new(model.clone()),
            settings: settings.clone(),
        }),
    })
}
