//! The desk: what the technician's screen shows and asks for, shared between the scan loop
//! (which reports every frame and takes start and stop requests) and the web server (which
//! reads it and records the reviewer's verdicts).
//!
//! The scan loop never waits on the server's disk work: it takes the live state's lock
//! for a few field copies per frame, and copies the frame itself only while someone is
//! watching the live page; the reports and review journals have a lock of their own.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use leukoscope_core::artifact::VerifiedArtifact;
use leukoscope_core::raster::RgbImage;
use leukoscope_core::taxonomy::Taxonomy;

use crate::io::source::{Frame, FrameSource, SourceError};
use crate::records::journal::JournalStorage;
use crate::records::layout::DataDir;
use crate::records::review::ReviewLog;
use crate::records::{FrameQuality, ReportCell};
use crate::report::SlideReport;
use crate::scan::pipeline::{FrameOutcome, ScanSettings, SlideScanner};
use crate::scan::scale::FrameScale;
use crate::scan::session::{SessionRules, SlideSummary};

/// How long after the live page last asked for the frame the scan loop keeps copying
/// frames for it.
const WATCHED_FOR: Duration = Duration::from_secs(5);

/// Which command serves the desk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeskMode {
    /// `demo --serve`: synthetic slides, a new one on each start.
    Demo,
    /// `run`: the board's service, a slide per start.
    Run,
    /// `replay --serve`: one folder, scanned once.
    Replay,
}

impl DeskMode {
    /// The mode's name in the API.
    pub fn name(self) -> &'static str {
        match self {
            DeskMode::Demo => "demo",
            DeskMode::Run => "run",
            DeskMode::Replay => "replay",
        }
    }
}

/// Where a desk's slides are kept, and the rules they are judged by.
#[derive(Clone, Debug)]
pub struct DeskConfig {
    /// Which command serves it.
    pub mode: DeskMode,
    /// Where the slides' journals, reports and cell pictures are.
    pub data: DataDir,
    /// The model's classes.
    pub taxonomy: Taxonomy,
    /// The stop rule and the flag's rule: the reviewed counts are judged by the same.
    pub rules: SessionRules,
    /// Whether the model is the synthetic demonstration model.
    pub demonstration: bool,
    /// Whether the Start button can start a slide.
    pub can_start: bool,
    /// What a slide's report is written again with, when the UI offers that.
    pub rebuild: Option<ReportRebuild>,
}

/// The model and settings the desk's slides are scanned with: enough to write a finished
/// slide's report again from its journal ([`crate::scan::pipeline::rebuild_report`]).
#[derive(Clone, Debug)]
pub struct ReportRebuild {
    /// The model.
    pub model: Arc<VerifiedArtifact>,
    /// The board's settings.
    pub settings: ScanSettings,
}

/// One box on the live frame.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveBox {
    /// `[x, y, width, height]` in frame pixels.
    pub bbox: [u32; 4],
    /// The class counted, `None` for unidentified or unfamiliar, or a cell counted in an
    /// earlier frame.
    pub class: Option<usize>,
    /// Counted in this frame (else seen before).
    pub new: bool,
    /// What to write beside it: the class and confidence, or "counted".
    pub label: String,
}

/// The latest frame and its boxes.
#[derive(Debug)]
pub struct LiveFrame {
    /// The frame as the camera gave it.
    pub image: RgbImage,
    /// Every cell found in it.
    pub boxes: Vec<LiveBox>,
    /// Increases with every frame shown.
    pub version: u64,
}

/// The slide the scan loop is on (or was last on).
#[derive(Clone, Debug)]
pub struct LiveSlide {
    /// Its id.
    pub id: String,
    /// Still being scanned.
    pub running: bool,
    /// Why it ended, once it has.
    pub ended: Option<String>,
    /// Every cell counted so far.
    pub cells: Vec<ReportCell>,
    /// The counts and flag so far.
    pub summary: Option<SlideSummary>,
    /// The last frame's quality.
    pub quality: Option<FrameQuality>,
    /// Frames accepted and rejected so far.
    pub accepted: u32,
    /// Frames rejected so far.
    pub rejected: u32,
    /// Frames that could not be read so far, by reason.
    pub unreadable: crate::report::SkippedFrames,
    /// The last frame's number.
    pub frame: Option<u64>,
    /// The frames' scale, once the first frame is in.
    pub scale: Option<FrameScale>,
}

/// Everything behind the desk's lock.
#[derive(Default)]
pub struct DeskState {
    /// The current or last slide.
    pub live: Option<LiveSlide>,
    /// The latest frame, while someone watches.
    pub frame: Option<Arc<LiveFrame>>,
    /// The latest frame as JPEG, made on the first request for it.
    pub jpeg: Option<(u64, Arc<Vec<u8>>)>,
    frame_version: u64,
    pending: Option<RgbImage>,
    watched_until: Option<Instant>,
    start_requested: bool,
    stop_requested: bool,
}

/// The slides' records the server reads and writes (files behind them), under a lock of
/// their own: the scan loop never waits on their disk reads and syncs.
#[derive(Default)]
pub struct Records {
    /// Review journals opened so far, by slide.
    pub reviews: HashMap<String, ReviewLog>,
    /// Reports of finished slides read so far, by slide.
    pub reports: HashMap<String, Arc<SlideReport>>,
}

/// The shared desk.
pub struct Desk {
    /// Where slides are kept and how they are judged.
    pub config: DeskConfig,
    state: Mutex<DeskState>,
    records: Mutex<Records>,
    start: Condvar,
}

impl Desk {
    /// An empty desk.
    pub fn new(config: DeskConfig) -> Arc<Self> {
        Arc::new(Desk {
            config,
            state: Mutex::new(DeskState::default()),
            records: Mutex::new(Records::default()),
            start: Condvar::new(),
        })
    }

    /// The desk's state, locked. A panic while the lock was held leaves plain data behind,
    /// still worth showing, so a poisoned lock is taken over rather than spread.
    pub fn lock(&self) -> MutexGuard<'_, DeskState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The slides' records, locked (poisoning taken over as for [`Desk::lock`]).
    pub fn records(&self) -> MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slide is about to be scanned.
    pub fn slide_starting(&self, id: &str) {
        let mut state = self.lock();
        state.live = Some(LiveSlide {
            id: id.to_string(),
            running: true,
            ended: None,
            cells: Vec::new(),
            summary: None,
            quality: None,
            accepted: 0,
            rejected: 0,
            unreadable: Default::default(),
            frame: None,
            scale: None,
        });
        state.stop_requested = false;
        state.start_requested = false;
        state.frame = None;
        state.jpeg = None;
        drop(state);
        self.records().reports.remove(id);
    }

    /// The scan loop dealt with a frame: the counts, the quality, and (while someone
    /// watches) the frame with its boxes.
    pub fn frame_done<S: JournalStorage>(&self, scanner: &SlideScanner<S>, outcome: &FrameOutcome) {
        let mut state = self.lock();
        let pending = state.pending.take();
        let Some(live) = state.live.as_mut().filter(|l| l.id == scanner.slide_id()) else {
            return;
        };
        // Cells only ever join the end: copy the new ones (and, after a resume, the
        // earlier run's on the first frame).
        let known = live.cells.len();
        live.cells
            .extend_from_slice(scanner.cells().get(known..).unwrap_or_default());
        live.summary = Some(scanner.session().summary());
        live.scale = Some(scanner.settings().frame_scale());
        let tally = scanner.tally();
        live.accepted = tally.accepted;
        live.rejected = tally.frames().saturating_sub(tally.accepted);
        live.unreadable = scanner.skipped_frames().clone();
        if let Some(quality) = outcome.quality {
            live.quality = Some(quality);
            live.frame = Some(outcome.frame);
        }
        let Some(image) = pending else {
            return;
        };
        let taxonomy = scanner.taxonomy();
        let mut boxes: Vec<LiveBox> = outcome
            .boxes
            .iter()
            .filter(|b| !outcome.counted.iter().any(|(c, _)| c == *b))
            .map(|&bbox| LiveBox {
                bbox,
                class: None,
                new: false,
                label: "counted".to_string(),
            })
            .collect();
        boxes.extend(outcome.counted.iter().map(|(bbox, call)| LiveBox {
            bbox: *bbox,
            class: call.class,
            new: true,
            label: format!(
                "{} {:.0}%",
                match call.class {
                    Some(c) => taxonomy.class_name(c as _),
                    None if call.unfamiliar => ReportCell::UNFAMILIAR,
                    None => ReportCell::UNIDENTIFIED,
                },
                call.confidence * 100.0
            ),
        }));
        state.frame_version += 1;
        state.frame = Some(Arc::new(LiveFrame {
            image,
            boxes,
            version: state.frame_version,
        }));
    }

    /// The slide ended (its report is written, if it got one) for `reason`.
    pub fn slide_ended(&self, reason: String) {
        let mut state = self.lock();
        let Some(live) = state.live.as_mut() else {
            return;
        };
        live.running = false;
        live.ended = Some(reason);
        let id = live.id.clone();
        drop(state);
        self.records().reports.remove(&id);
    }

    /// Whether someone asked to stop the running slide (asked once, answered once).
    pub fn take_stop(&self) -> bool {
        std::mem::take(&mut self.lock().stop_requested)
    }

    /// Asks the scan loop to stop the running slide; `false` when none is running.
    pub fn request_stop(&self) -> bool {
        let mut state = self.lock();
        let running = state.live.as_ref().is_some_and(|l| l.running);
        state.stop_requested |= running;
        running
    }

    /// Asks the scan loop for a new slide; `false` when one is running or the desk cannot
    /// start slides.
    pub fn request_start(&self) -> bool {
        let mut state = self.lock();
        let running = state.live.as_ref().is_some_and(|l| l.running);
        if running || !self.config.can_start {
            return false;
        }
        state.start_requested = true;
        self.start.notify_all();
        true
    }

    /// Waits until someone asks for a new slide (`true`), or `timeout` passes (`false`).
    pub fn wait_for_start(&self, timeout: Duration) -> bool {
        let state = self.lock();
        let (mut state, _) = self
            .start
            .wait_timeout_while(state, timeout, |s| !s.start_requested)
            .unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut state.start_requested)
    }

    /// Someone looked at the live frame: keep copying frames for a while.
    pub fn watched(&self) {
        self.lock().watched_until = Some(Instant::now() + WATCHED_FOR);
    }

    fn keep_frame(&self, frame: &Frame) {
        let mut state = self.lock();
        if state
            .watched_until
            .is_some_and(|until| Instant::now() < until)
        {
            state.pending = Some(frame.image.clone());
        }
    }

    /// `source` with every frame it gives also kept for the live page (while watched).
    pub fn watch<'a>(self: &Arc<Self>, source: &'a mut dyn FrameSource) -> WatchedSource<'a> {
        WatchedSource {
            desk: self.clone(),
            inner: source,
        }
    }
}

/// A frame source whose frames the live page also sees ([`Desk::watch`]).
pub struct WatchedSource<'a> {
    desk: Arc<Desk>,
    inner: &'a mut dyn FrameSource,
}

impl FrameSource for WatchedSource<'_> {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let frame = self.inner.next_frame()?;
        if let Some(frame) = &frame {
            self.desk.keep_frame(frame);
        }
        Ok(frame)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests;
