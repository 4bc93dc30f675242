//! `leukoscope-edge run`: the board's service. Checks its storage and model, then scans
//! slides from the camera: one slide per press of the start button (or one slide and exit
//! on a board without controls), resuming a slide a power cut interrupted.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::Context;
use leukoscope_edge::journal::{Journal, JournalEntry};
use leukoscope_edge::model::load_model;
use leukoscope_edge::pipeline::{Control, Resume};
use leukoscope_edge::session::SlideFlag;
use leukoscope_edge::settings::BoardSettings;
use leukoscope_edge::source::{FrameSource, Rate, ReplaySource};

use super::panel::Panel;
use super::replay::scan_settings;
use super::slide::{SlidePaths, new_slide_id, print_result, scan_slide, write_slide};

/// Options of `run`.
pub struct RunOptions {
    pub board: PathBuf,
    pub slide: Option<String>,
    pub frames: Option<PathBuf>,
    pub fps: Option<f64>,
}

pub fn run(options: RunOptions) -> anyhow::Result<()> {
    let board = BoardSettings::load(&options.board)?;
    check_storage(&board)?;
    let model = load_model(&board.model.path, &board.trust_policy())?;
    let paths = SlidePaths {
        journals: board.journal_dir(),
        reports: board.reports_dir(),
    };
    let panel = Rc::new(RefCell::new(Panel::open(&board)?));
    let mut slide = options.slide.clone();
    // Read once: a slide this process scans ends before the next starts, so only one found
    // at start-up can be unfinished (a slide named with --slide goes first).
    let mut resumed = unfinished_slide(&paths.journals)?;
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
                    if !panel.borrow_mut().wait_for_start()? {
                        return Ok(());
                    }
                    new_slide_id()
                }
            },
        };
        let (mut source, resume): (Box<dyn FrameSource>, Resume) = match &options.frames {
            Some(dir) => {
                let rate = options
                    .fps
                    .map(Rate::per_second)
                    .transpose()?
                    .unwrap_or_default();
                (Box::new(ReplaySource::open(dir, rate)?), Resume::SkipDone)
            }
            None => (Panel::camera(&panel, &board)?, Resume::Continue),
        };
        panel.borrow_mut().working()?;
        let scanned = scan_slide(
            &slide_id,
            &model,
            scan_settings(&board),
            &mut source,
            resume,
            &paths,
            |_, _| {
                if panel.borrow_mut().stop_pressed() {
                    Control::Stop
                } else {
                    Control::Continue
                }
            },
        );
        let scanned =
            match scanned.and_then(|(finished, journal)| write_slide(finished, journal, &paths)) {
                Ok(scanned) => scanned,
                Err(e) => {
                    let _ = panel.borrow_mut().attention();
                    return Err(e);
                }
            };
        print_result(&scanned);
        let report = &scanned.finished.report;
        let needs_reader = report.advice.is_some()
            || matches!(report.summary.flag, SlideFlag::SuspiciousRefer { .. });
        panel.borrow_mut().slide_done(needs_reader)?;
        if !panel.borrow().has_controls() {
            return Ok(());
        }
    }
}

/// The storage folder exists, is writable and has the configured free space.
pub fn check_storage(board: &BoardSettings) -> anyhow::Result<()> {
    let dir = &board.storage.dir;
    std::fs::create_dir_all(board.journal_dir())
        .and_then(|()| std::fs::create_dir_all(board.reports_dir()))
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
fn unfinished_slide(journals: &Path) -> anyhow::Result<Option<String>> {
    let Ok(entries) = std::fs::read_dir(journals) else {
        return Ok(None);
    };
    let mut newest: Option<(std::time::SystemTime, String)> = None;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("journal") {
            continue;
        }
        let records =
            Journal::read_all(&path).with_context(|| format!("reading {}", path.display()))?;
        let finished = matches!(records.last(), Some(JournalEntry::SlideEnd(_)));
        let modified = entry.metadata().and_then(|m| m.modified()).ok();
        if let (false, Some(stem), Some(modified)) = (
            finished,
            path.file_stem().and_then(|s| s.to_str()),
            modified,
        ) && newest.as_ref().is_none_or(|(t, _)| modified > *t)
        {
            newest = Some((modified, stem.to_string()));
        }
    }
    Ok(newest.map(|(_, id)| id))
}
