//! `leukoscope-edge run`: the board's service. Checks its storage and model, then scans
//! slides from the camera: one slide per press of the start button (or one slide and exit
//! on a board without controls), resuming a slide a power cut interrupted. With a scope
//! controller (`[scope]`) the stage is moved and focused field by field.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use anyhow::Context;
use leukoscope_edge::io::model::load_model;
use leukoscope_edge::io::scope::{
    ReopeningScope, Scope, ScopeLinkEvent, ScopeTimeouts, open_serial,
};
use leukoscope_edge::io::settings::{BoardSettings, ScopeSettings};
use leukoscope_edge::io::source::{Backoff, FrameSource, Rate, ReadAhead, ReplaySource};
use leukoscope_edge::records::JournalEntry;
use leukoscope_edge::records::journal::Journal;
use leukoscope_edge::records::layout::DataDir;
use leukoscope_edge::scan::autofocus::FocusSweep;
use leukoscope_edge::scan::pipeline::{Control, Resume, ScanSettings};
use leukoscope_edge::scan::scale::ScaleSetting;
use leukoscope_edge::scan::session::SlideFlag;
use leukoscope_edge::scan::stage_scan::StageScan;
use leukoscope_edge::ui::{Desk, DeskMode};

use super::panel::Panel;
use super::replay::scan_settings;
use super::slide::{
    ScaleStart, SubtypeChoice, load_chosen_subtype, new_slide_id, print_result, scan_slide,
    slide_desk, start_ui, ui_token, write_slide,
};

/// Options of `run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The board's settings.
    #[arg(long)]
    pub board: PathBuf,
    /// The slide's id (letters, digits, '-', '_', '.'; never a patient's name).
    /// Default: from the clock.
    #[arg(long)]
    pub slide: Option<String>,
    /// Read frames from this folder instead of the camera (a bench test of a board).
    #[arg(long)]
    pub frames: Option<PathBuf>,
    /// With --frames: frames per second to replay at (default: as fast as possible).
    #[arg(long)]
    pub fps: Option<f64>,
    /// Where the technician's web UI listens (default: the board's [ui] listen, else
    /// 127.0.0.1:8080). An address other than loopback needs an access token.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// File holding the UI's access token (default: the board's [ui] token_file, else
    /// the LEUKOSCOPE_UI_TOKEN variable).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

pub fn run(options: RunArgs) -> anyhow::Result<()> {
    let board = BoardSettings::load(&options.board)?;
    check_storage(&board)?;
    let model = load_model(&board.model.path, &board.trust_policy())?;
    let subtype_model = load_chosen_subtype(SubtypeChoice { path: None }, &[], Some(&board))?;
    let board_settings = || ScanSettings {
        subtype_model: subtype_model.clone(),
        ..scan_settings(&board)
    };
    let data = board.data_dir();
    let desk = slide_desk(DeskMode::Run, &data, &model, &board_settings(), true);
    let token_file = options.token_file.clone().or(board.ui.token_file.clone());
    let _server = start_ui(
        options.listen.unwrap_or(board.ui.listen),
        ui_token(token_file.as_deref())?,
        desk.clone(),
    )?;
    let panel = Rc::new(RefCell::new(Panel::open(&board)?));
    let mut first = true;
    let mut slide = options.slide.clone();
    // Read once: a slide this process scans ends before the next starts, so only one found
    // at start-up can be unfinished (a slide named with --slide goes first).
    let mut resumed = unfinished_slide(&data)?;
    loop {
        let slide_id = match slide.take() {
            Some(id) => {
                if resumed.as_deref() == Some(id.as_str()) {
                    resumed = None;
                }
                id
            }
            None => match resumed.take() {
                Some(id) => {
                    println!("slide {id} was interrupted (power cut or crash); resuming it");
                    id
                }
                None => {
                    let has_controls = panel.borrow().has_controls();
                    if has_controls {
                        if !panel
                            .borrow_mut()
                            .wait_for_start(|| desk.wait_for_start(Duration::ZERO))?
                        {
                            return Ok(());
                        }
                    } else if let (Some(scope), false) = (&board.scope, first) {
                        wait_for_scope_start(scope, &desk)?;
                    } else if !first {
                        // No button: the UI's Start begins the next slide.
                        println!("ready: press Start slide in the UI to scan another slide");
                        while !desk.wait_for_start(Duration::from_secs(3600)) {}
                    }
                    new_slide_id()
                }
            },
        };
        let (source, resume): (Box<dyn FrameSource>, Resume) = match &options.frames {
            Some(dir) => {
                let rate = options
                    .fps
                    .map(Rate::per_second)
                    .transpose()?
                    .unwrap_or_default();
                (Box::new(ReplaySource::open(dir, rate)?), Resume::SkipDone)
            }
            None => match &board.scope {
                None => (Panel::camera(&panel, &board)?, Resume::Continue),
                // A resumed slide's fields come again with their numbers: those already
                // recorded are passed over.
                Some(scope) => (
                    motorized_scan(&board, scope, Panel::camera(&panel, &board)?)?,
                    Resume::SkipDone,
                ),
            },
        };
        panel.borrow_mut().working()?;
        first = false;
        let settings = board_settings();
        let mut source = ReadAhead::new(source);
        let scanned = scan_slide(
            &slide_id,
            &model,
            settings,
            &mut source,
            ScaleStart {
                auto: board.camera.um_per_px == ScaleSetting::Auto,
                calibrated: None,
            },
            resume,
            &data,
            Some(&desk),
            |_, _| {
                if panel.borrow_mut().stop_pressed() {
                    Control::Stop
                } else {
                    Control::Continue
                }
            },
        );
        let scanned =
            match scanned.and_then(|(finished, journal)| write_slide(finished, journal, &data)) {
                Ok(scanned) => scanned,
                Err(e) => {
                    desk.slide_ended(format!("failed: {e:#}"));
                    let _ = panel.borrow_mut().attention();
                    return Err(e);
                }
            };
        desk.slide_ended(scanned.finished.end.describe());
        print_result(&scanned);
        let report = &scanned.finished.report;
        let needs_reader = report.advice.is_some()
            || matches!(
                report.summary.flag,
                SlideFlag::SuspiciousRefer { .. } | SlideFlag::Unfamiliar { .. }
            );
        panel.borrow_mut().slide_done(needs_reader)?;
        // A bench test of a board scans its folder once.
        if options.frames.is_some() && !panel.borrow().has_controls() {
            return Ok(());
        }
    }
}

/// Waits for the scope controller's start button (a board without buttons of its own) or
/// the UI's Start, whichever comes first.
fn wait_for_scope_start(scope: &ScopeSettings, desk: &Desk) -> anyhow::Result<()> {
    let mut controller = open_serial(&scope.device, scope.baud, ScopeTimeouts::default())
        .with_context(|| format!("opening the scope controller on {}", scope.device.display()))?;
    println!("ready: press the scope's start button, or Start slide in the UI");
    controller
        .wait_for_press(|| desk.wait_for_start(Duration::from_millis(200)))
        .context("waiting for the scope's start button")?;
    Ok(())
}

/// The fields of `[scope]`'s plan, moved to and focused by its controller, seen by
/// `camera`.
fn motorized_scan(
    board: &BoardSettings,
    scope: &ScopeSettings,
    camera: Box<dyn FrameSource>,
) -> anyhow::Result<Box<dyn FrameSource>> {
    let um_per_px = board
        .camera
        .um_per_px
        .given()
        .context("a motorized scan needs camera.um_per_px")?;
    let plan = scope.plan((board.camera.width, board.camera.height), um_per_px)?;
    let (device, baud) = (scope.device.clone(), scope.baud);
    // A pulled cable or a restarted controller is reopened, homed and put back where it
    // was; two minutes away ends the slide with what it has.
    let mut controller = ReopeningScope::open(
        move || open_serial(&device, baud, ScopeTimeouts::default()),
        Backoff {
            patience: Some(Duration::from_secs(120)),
            ..Backoff::default()
        },
        |event: &ScopeLinkEvent| println!("scope: {event}"),
    )
    .with_context(|| format!("opening the scope controller on {}", scope.device.display()))?;
    controller
        .lamp(scope.lamp_permille())
        .context("setting the scope's lamp")?;
    let [major, minor, patch] = controller
        .current()
        .map(|opened| opened.info().firmware)
        .unwrap_or_default();
    println!(
        "scope: controller firmware {major}.{minor}.{patch} on {}; {} fields",
        scope.device.display(),
        plan.len()
    );
    Ok(Box::new(StageScan::new(
        controller,
        camera,
        plan,
        scope.focus_from_nm(),
        FocusSweep::default(),
        board.quality,
        um_per_px,
    )))
}

/// The storage folder exists, is writable and has the configured free space.
pub fn check_storage(board: &BoardSettings) -> anyhow::Result<()> {
    let dir = &board.storage.dir;
    let data = board.data_dir();
    std::fs::create_dir_all(data.journals())
        .and_then(|()| std::fs::create_dir_all(data.reports()))
        .with_context(|| format!("storage {}: cannot create its folders", dir.display()))?;
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"ok")
        .and_then(|()| std::fs::remove_file(&probe))
        .with_context(|| format!("storage {}: not writable", dir.display()))?;
    let free = free_bytes(dir)?;
    let needed = board.storage.min_free_mb * 1024 * 1024;
    anyhow::ensure!(
        free >= needed,
        "storage {}: {} MB free, the board needs {} MB; copy old reports off and delete them",
        dir.display(),
        free / (1024 * 1024),
        board.storage.min_free_mb
    );
    Ok(())
}

/// Bytes an unprivileged program may still write on the file system holding `path`.
pub fn free_bytes(path: &Path) -> anyhow::Result<u64> {
    let stats = rustix::fs::statvfs(path)
        .with_context(|| format!("cannot read the free space of {}", path.display()))?;
    Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
}

/// The newest slide whose journal has no end record.
fn unfinished_slide(data: &DataDir) -> anyhow::Result<Option<String>> {
    for file in data.slide_journals().unwrap_or_default() {
        let records = Journal::read_all(&file.path)
            .with_context(|| format!("reading {}", file.path.display()))?;
        if !matches!(records.last(), Some(JournalEntry::SlideEnd(_))) {
            return Ok(Some(file.slide));
        }
    }
    Ok(None)
}
