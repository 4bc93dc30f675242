//! One slide, frame by frame: the quality gate, finding white cells, counting each once
//! across overlapping frames, classifying the new ones, recording each in the journal
//! before it is counted, and the slide's report at the end.
//!
//! A slide's journal is the truth about it. [`SlideScanner::new`] takes what an earlier
//! run of the same slide committed (after a power cut or a crash) and carries on from
//! there: every committed cell is counted again, the quality tally is rebuilt from the
//! frame records, and frames already dealt with are skipped when the source numbers its
//! frames the same way again ([`Resume::SkipDone`], a replayed folder or the synthetic
//! slide). Cells of a frame that was cut short are not recorded twice. A camera cannot
//! show the same frames again ([`Resume::Continue`]); its frames are numbered on from the
//! last one recorded, and the stage position is lost with the process, so cells in the
//! overlap of the first frame after the restart with earlier ones may be counted again.

use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant};

use leukoscope_core::artifact::{Digest, VerifiedArtifact};
use leukoscope_core::raster::RgbImage;
use leukoscope_core::taxonomy::Taxonomy;
use serde::Serialize;

use crate::io::model::is_demonstration;
use crate::io::source::{ErrorKind, Frame, FrameSource};
use crate::records::cell_images::{CellImageWriter, CellImages};
use crate::records::journal::{Journal, JournalError, JournalStorage};
use crate::records::{
    CellRecord, FrameQuality, FrameRecord, JournalEntry, PartialCellRecord, ReportCell,
    ScaleRecord, SlideEndRecord, SubtypeRecord, Verdict,
};
use crate::report::{
    CellThumbnail, ModelInfo, PartialCell, QualityStats, SkippedFrames, SlideReport, Snapshot,
    StageTimings, annotate, error_chain, shrink,
};
use crate::scan::blocks::FrameBlocks;
use crate::scan::classify::{CellClassifier, ClassifyError};
use crate::scan::detect::{CellDetector, DetectError, DetectorConfig};
use crate::scan::quality::{QualityGate, QualityTally, QualityThresholds, SlideAdvice};
use crate::scan::scale::{FrameScale, SlideScale};
use crate::scan::session::{CellCall, SessionError, SessionRules, SlideSession, StopReason};
use crate::scan::track::{CellTracker, TrackError, TrackerConfig};

/// Side, in pixels, of the cell thumbnails in the report.
const THUMBNAIL_SIDE: u32 = 96;

/// Width, in pixels, of the annotated frames in the report: enough to see which cells were
/// counted, small enough that the self-contained page stays a few megabytes.
const SNAPSHOT_WIDTH: u32 = 800;

/// How one slide is scanned: the board's thresholds and settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanSettings {
    /// The quality gate's thresholds.
    pub quality: QualityThresholds,
    /// How cells are found.
    pub detect: DetectorConfig,
    /// How frames are registered and cells matched.
    pub track: TrackerConfig,
    /// The stop rule, the unidentified threshold and the flag.
    pub session: SessionRules,
    /// Threads classifying a frame's cells.
    pub threads: usize,
    /// Most cell windows classified in one call.
    pub batch: usize,
    /// Annotated frames kept for the report.
    pub snapshots: usize,
    /// Classify on the GPU (`model.device = "cuda"`; needs the `cuda` feature and a float
    /// model).
    pub gpu: bool,
    /// The measurement behind `detect.um_per_px` when it was measured from the slide's red
    /// cells, for the report; `None` when the scale was given.
    pub measured_scale: Option<SlideScale>,
    /// The second model that names the B-ALL subtype of the cells the slide's model counts
    /// as blasts (`model.subtype_path`); always run on the CPU, as blasts are few.
    pub subtype_model: Option<Arc<VerifiedArtifact>>,
}

impl ScanSettings {
    /// Reads the frames at `um_per_px`, a scale given rather than measured.
    pub fn set_given_scale(&mut self, um_per_px: f32) {
        self.detect.um_per_px = um_per_px;
        self.track.um_per_px = um_per_px;
    }

    /// Reads the frames at `measured`, the scale of the slide's red cells.
    pub fn set_measured_scale(&mut self, measured: SlideScale) {
        self.set_given_scale(measured.um_per_px);
        self.measured_scale = Some(measured);
    }

    /// The frames' scale and where it came from, as reports state it.
    pub fn frame_scale(&self) -> FrameScale {
        match self.measured_scale {
            Some(measured) => FrameScale::RedCells(measured),
            None => FrameScale::Given {
                um_per_px: self.detect.um_per_px,
            },
        }
    }
}

impl Default for ScanSettings {
    fn default() -> Self {
        ScanSettings {
            quality: QualityThresholds::default(),
            detect: DetectorConfig::default(),
            track: TrackerConfig::default(),
            session: SessionRules::default(),
            threads: 1,
            batch: crate::scan::classify::DEFAULT_BATCH,
            snapshots: 4,
            gpu: false,
            measured_scale: None,
            subtype_model: None,
        }
    }
}

/// What to do with frames an interrupted run of the slide already dealt with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// The source delivers the same frames with the same numbers again (a replayed folder,
    /// the synthetic slide): skip those already recorded.
    SkipDone,
    /// The source's frames are new (a camera): number them on from the last one recorded.
    Continue,
}

/// Why a slide could not be scanned.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Recording failed (a full disk among others); every cell counted so far is on disk.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The model cannot classify here.
    #[error(transparent)]
    Classify(#[from] ClassifyError),
    /// A count did not fit the session.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A detection setting is out of range.
    #[error(transparent)]
    Detect(#[from] DetectError),
    /// A tracking setting is out of range.
    #[error(transparent)]
    Track(#[from] TrackError),
    /// The journal holds another slide's records.
    #[error(
        "the journal holds records of slide `{found}`, not `{expected}`; each slide needs its own journal"
    )]
    ForeignJournal {
        /// The slide being scanned.
        expected: String,
        /// The slide the journal belongs to.
        found: String,
    },
    /// The journal's cells were classified by another model.
    #[error(
        "slide `{slide}` was begun with model {recorded}, not the loaded {loaded}; finish it with that model or start a new slide"
    )]
    ModelChanged {
        /// The slide.
        slide: String,
        /// Digest of the model in the journal.
        recorded: String,
        /// Digest of the model loaded now.
        loaded: String,
    },
    /// The subtype model has fewer than two malignant classes, so it names no subtype.
    #[error(
        "the subtype model's classes ({taxonomy}) hold fewer than two malignant subtypes; model.subtype_path takes a B-ALL subtype model such as b-all-4"
    )]
    NotASubtypeModel {
        /// The subtype model's taxonomy.
        taxonomy: String,
    },
    /// The slide was already finished.
    #[error(
        "slide `{0}` is already finished; start a new slide (if its report is missing, `leukoscope-edge report --slide {0}` writes it again from the journal)"
    )]
    AlreadyFinished(String),
}

/// What happened to one frame.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FrameOutcome {
    /// The frame's number in the journal.
    pub frame: u64,
    /// The quality gate's measurements and verdict; `None` when the frame was skipped
    /// because an earlier run of the slide dealt with it.
    pub quality: Option<FrameQuality>,
    /// White cells found in it.
    pub detected: usize,
    /// The box of every white cell found in it (counted now or before), in frame pixels:
    /// `[x, y, width, height]`.
    pub boxes: Vec<[u32; 4]>,
    /// Cells seen for the first time, classified and counted: `(box, call)`.
    pub counted: Vec<([u32; 4], CellCall)>,
    /// Time spent on it, per stage.
    pub stages: StageTimes,
}

/// Time spent on one frame, per stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct StageTimes {
    /// The quality gate.
    pub quality: Duration,
    /// Finding cells.
    pub detect: Duration,
    /// Registering the frame and matching cells.
    pub track: Duration,
    /// Cutting windows and running the model.
    pub classify: Duration,
    /// Writing and syncing journal records.
    pub journal: Duration,
    /// Thumbnails and annotated frames for the report.
    pub report: Duration,
}

impl StageTimes {
    /// The whole frame.
    pub fn total(&self) -> Duration {
        self.quality + self.detect + self.track + self.classify + self.journal + self.report
    }

    fn add(&mut self, other: &StageTimes) {
        self.quality += other.quality;
        self.detect += other.detect;
        self.track += other.track;
        self.classify += other.classify;
        self.journal += other.journal;
        self.report += other.report;
    }
}

/// Why a slide's scan ended.
#[derive(Clone, Debug, PartialEq)]
pub enum ScanEnd {
    /// The stop rule was met.
    Stopped(StopReason),
    /// Most frames were rejected: the slide ends with advice instead of a result.
    Advice(SlideAdvice),
    /// The source had no more frames.
    SourceDone,
    /// The operator stopped it.
    Operator,
    /// The source failed and cannot go on.
    SourceFailed(String),
    /// Most frames could not be read (files cut short or not images, a damaged camera
    /// stream): no result, and why, in words.
    Unreadable(String),
}

/// How the words of an [`ScanEnd::Unreadable`] end, in the journal too.
const UNREADABLE_ADVICE: &str =
    "check the files (a bad copy?) or the camera's cable and scan the slide again; no result";

impl ScanEnd {
    /// In words, for the journal and the log.
    pub fn describe(&self) -> String {
        match self {
            ScanEnd::Stopped(StopReason::EnoughCells { cells }) => {
                format!("{cells} cells classified")
            }
            ScanEnd::Stopped(StopReason::FieldLimit { fields }) => {
                format!("field limit reached ({fields} fields)")
            }
            ScanEnd::Stopped(StopReason::ReviewByHand { read }) => {
                format!("{read} cells read, too many unlike the model's training slides to count")
            }
            ScanEnd::Advice(advice) => advice.to_string(),
            ScanEnd::SourceDone => "no more frames".into(),
            ScanEnd::Operator => "stopped by the operator".into(),
            ScanEnd::SourceFailed(why) => format!("frame source failed: {why}"),
            ScanEnd::Unreadable(why) => why.clone(),
        }
    }
}

/// What the operator's loop says after each frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop the slide now.
    Stop,
}

/// One slide being scanned.
pub struct SlideScanner<S: JournalStorage = File> {
    slide_id: String,
    settings: ScanSettings,
    gate: QualityGate,
    /// The frame's block sums, made once per frame for the gate, the detector and the
    /// tracker.
    blocks: FrameBlocks,
    tally: QualityTally,
    focus_sum: f64,
    clipped_sum: f64,
    detector: CellDetector,
    tracker: CellTracker,
    classifier: CellClassifier,
    /// The subtype model, when the board has one.
    subtyper: Option<Subtyper>,
    model: ModelInfo,
    digest: [u8; 32],
    taxonomy: Taxonomy,
    session: SlideSession,
    journal: Journal<S>,
    cells: Vec<ReportCell>,
    thumbnails: Vec<CellThumbnail>,
    snapshots: Vec<Snapshot>,
    stage_sums: StageTimes,
    frame_ms: Vec<f64>,
    frames_done: u32,
    resume: Resume,
    /// The last frame recorded as done by an earlier run.
    done_before: Option<u64>,
    /// The last frame an earlier run recorded anything of.
    last_recorded: Option<u64>,
    /// Cells an earlier run recorded in a frame it did not finish: `(frame, box)`.
    recorded_unfinished: Vec<(u64, [u32; 4])>,
    /// Frames an earlier run accepted: shown to the tracker again when skipped, so it
    /// knows their cells and does not count them twice.
    accepted_before: std::collections::HashSet<u64>,
    /// Every frame shown to the tracker, in order: a partial cell's sighting number is
    /// its index here.
    tracked_frames: Vec<u64>,
    /// Cells never seen whole, recorded so far, earlier runs included: `(frame, box)`.
    partial_cells: Vec<(u64, [u32; 4])>,
    /// Writes the picture of each counted cell, if asked to.
    cell_images: Option<CellImageWriter>,
    /// Frames the source could not deliver, this run.
    skipped: SkippedFrames,
}

impl<S: JournalStorage> SlideScanner<S> {
    /// Starts or resumes slide `slide_id` with `model`: `journal` is the slide's journal,
    /// `earlier` what it held when opened (empty for a new slide).
    pub fn new(
        slide_id: impl Into<String>,
        model: &VerifiedArtifact,
        settings: ScanSettings,
        journal: Journal<S>,
        earlier: Vec<JournalEntry>,
        resume: Resume,
    ) -> Result<Self, PipelineError> {
        let slide_id = slide_id.into();
        let artifact = &model.artifact;
        let classifier = CellClassifier::on(
            artifact,
            settings.detect.um_per_px,
            settings.threads,
            settings.gpu,
        )?
        .with_batch(settings.batch);
        let detector = CellDetector::new(settings.detect)?;
        let subtyper = settings
            .subtype_model
            .as_deref()
            .map(|model| Subtyper::new(model, &settings))
            .transpose()?;
        // The classifier's profile, not the model's: on the GPU no cell is measured, and
        // the summary must not claim a threshold no cell was held to.
        let session = SlideSession::new(
            slide_id.clone(),
            artifact.taxonomy.clone(),
            settings.session,
            &artifact.calibration,
            classifier.familiarity(),
        );
        let session = match &subtyper {
            Some(subtyper) => {
                session.with_subtypes(subtyper.taxonomy.clone(), &subtyper.calibration)
            }
            None => session,
        };
        let mut scanner = SlideScanner {
            gate: QualityGate::new(settings.quality, settings.detect.um_per_px),
            blocks: detector.frame_blocks(),
            tally: QualityTally::default(),
            focus_sum: 0.0,
            clipped_sum: 0.0,
            detector,
            tracker: CellTracker::new(settings.track)?,
            model: ModelInfo {
                name: artifact.spec.name.clone(),
                digest: model.digest.to_string(),
                signed_by: model.signed_by.map(|key| key.to_string()),
                taxonomy: artifact.taxonomy.name.clone(),
                precision: classifier.runs_on().to_string(),
                demonstration: is_demonstration(artifact),
                subtype: subtyper.as_ref().map(|s| s.info.clone()),
            },
            classifier,
            subtyper,
            digest: model.digest.0,
            taxonomy: artifact.taxonomy.clone(),
            session,
            journal,
            cells: Vec::new(),
            thumbnails: Vec::new(),
            snapshots: Vec::new(),
            stage_sums: StageTimes::default(),
            frame_ms: Vec::new(),
            frames_done: 0,
            resume,
            done_before: None,
            last_recorded: None,
            recorded_unfinished: Vec::new(),
            accepted_before: Default::default(),
            tracked_frames: Vec::new(),
            partial_cells: Vec::new(),
            cell_images: None,
            skipped: SkippedFrames::default(),
            settings,
            slide_id,
        };
        let scale_recorded = recorded_scale(&earlier).is_some();
        scanner.replay(earlier)?;
        if let (Some(measured), false) = (scanner.settings.measured_scale, scale_recorded) {
            scanner.journal.append(&JournalEntry::Scale(ScaleRecord {
                slide: scanner.slide_id.clone(),
                um_per_px: measured.um_per_px,
                uncertainty: measured.uncertainty,
                red_cells: u32::try_from(measured.red_cells).unwrap_or(u32::MAX),
            }))?;
        }
        Ok(scanner)
    }

    /// Counts again what an earlier run committed.
    fn replay(&mut self, earlier: Vec<JournalEntry>) -> Result<(), PipelineError> {
        let mut last_cell_frame = None;
        for entry in earlier {
            let slide = match &entry {
                JournalEntry::Cell(r) => &r.slide,
                JournalEntry::ComparedCell(r) => &r.cell.slide,
                JournalEntry::Frame(r) => &r.slide,
                JournalEntry::SlideEnd(r) => &r.slide,
                // The reviewer's entries live in the review journal, never in this one.
                JournalEntry::Correction(r) => &r.slide,
                JournalEntry::SignOff(r) => &r.slide,
                JournalEntry::PartialCell(r) => &r.slide,
                JournalEntry::Scale(r) => &r.slide,
                JournalEntry::Subtype(r) => &r.slide,
            };
            if *slide != self.slide_id {
                return Err(PipelineError::ForeignJournal {
                    expected: self.slide_id.clone(),
                    found: slide.clone(),
                });
            }
            match entry {
                JournalEntry::Cell(record) => {
                    last_cell_frame = Some(record.frame);
                    self.replay_cell(record, None)?;
                }
                JournalEntry::ComparedCell(r) => {
                    last_cell_frame = Some(r.cell.frame);
                    self.replay_cell(r.cell, Some(r.distance))?;
                }
                JournalEntry::Frame(record) => {
                    self.count_quality(&record.quality);
                    self.gate.recall(&record.quality);
                    if record.quality.verdict == Verdict::Accepted {
                        self.accepted_before.insert(record.frame);
                    }
                    self.done_before = Some(record.frame);
                }
                JournalEntry::PartialCell(record) => {
                    self.session.record_partial();
                    self.partial_cells.push((record.frame, record.bbox));
                }
                JournalEntry::SlideEnd(_) => {
                    return Err(PipelineError::AlreadyFinished(self.slide_id.clone()));
                }
                // Read before the scanner is made (`recorded_scale`): the settings carry it.
                JournalEntry::Scale(_) => {}
                JournalEntry::Subtype(record) => self.replay_subtype(record)?,
                JournalEntry::Correction(_) | JournalEntry::SignOff(_) => {}
            }
        }
        self.last_recorded = last_cell_frame.max(self.done_before);
        // A camera's new frames are numbered after every recorded one, so only a replayed
        // source shows a frame an earlier run began again.
        if let (Resume::SkipDone, Some(frame)) = (
            self.resume,
            last_cell_frame.filter(|&f| Some(f) > self.done_before),
        ) {
            self.recorded_unfinished = self
                .cells
                .iter()
                .filter(|c| c.frame == frame)
                .map(|c| (c.frame, c.bbox))
                .collect();
        }
        Ok(())
    }

    /// Counts again a cell an earlier run recorded, with its distance when it had one.
    fn replay_cell(
        &mut self,
        record: CellRecord,
        distance: Option<f32>,
    ) -> Result<(), PipelineError> {
        if record.model_digest != self.digest {
            return Err(PipelineError::ModelChanged {
                slide: self.slide_id.clone(),
                recorded: Digest(record.model_digest).to_string(),
                loaded: self.model.digest.clone(),
            });
        }
        let call = self.session.record_cell(&record.probabilities, distance)?;
        self.push_cell(&record, call, distance);
        Ok(())
    }

    /// Keeps the picture of every cell counted from now on in `images` (for review and
    /// for exporting corrections).
    pub fn keep_cell_images(mut self, images: CellImages) -> Self {
        self.cell_images = Some(CellImageWriter::start(images));
        self
    }

    /// Waits until every cell picture queued so far is written; the pictures that could
    /// not be (a full or failing card; the cells still count).
    pub fn flush_cell_images(&mut self) -> u32 {
        self.cell_images.as_mut().map_or(0, CellImageWriter::finish)
    }

    /// The slide's id.
    pub fn slide_id(&self) -> &str {
        &self.slide_id
    }

    /// The model's classes.
    pub fn taxonomy(&self) -> &Taxonomy {
        &self.taxonomy
    }

    /// The scan's settings.
    pub fn settings(&self) -> &ScanSettings {
        &self.settings
    }

    /// The session so far (counts, flag).
    pub fn session(&self) -> &SlideSession {
        &self.session
    }

    /// The quality tally so far.
    pub fn tally(&self) -> &QualityTally {
        &self.tally
    }

    /// The focus this slide's frames are judged against: that of its best frames so far,
    /// earlier runs' included; `None` before a frame with cells in it.
    pub fn focus_reference(&self) -> Option<f32> {
        self.gate.reference_focus()
    }

    /// Cells counted so far, earlier runs included.
    pub fn cells(&self) -> &[ReportCell] {
        &self.cells
    }

    /// Cells never seen whole recorded so far, earlier runs included: `(frame, box)`.
    pub fn partial_cells(&self) -> &[(u64, [u32; 4])] {
        &self.partial_cells
    }

    /// Total time of each frame processed by this run, in milliseconds.
    pub fn frame_times_ms(&self) -> &[f64] {
        &self.frame_ms
    }

    /// Time spent per stage over the frames of this run.
    pub fn stage_sums(&self) -> StageTimes {
        self.stage_sums
    }

    /// Deals with one frame.
    pub fn process(&mut self, frame: &Frame) -> Result<FrameOutcome, PipelineError> {
        let index = match (self.resume, self.done_before) {
            (Resume::SkipDone, Some(done)) if frame.index <= done => {
                if self.accepted_before.contains(&frame.index) {
                    self.blocks.shrink(&frame.image);
                    let detections = self.detector.detect_in(&self.blocks);
                    self.tracker
                        .observe_in(&self.blocks, &detections, frame.stage_um);
                    self.tracked_frames.push(frame.index);
                    // Given back at a frame the earlier run finished, so recorded then.
                    self.tracker.take_partial();
                }
                return Ok(FrameOutcome {
                    frame: frame.index,
                    quality: None,
                    detected: 0,
                    boxes: Vec::new(),
                    counted: Vec::new(),
                    stages: StageTimes::default(),
                });
            }
            (Resume::Continue, _) => self
                .last_recorded
                .map_or(frame.index, |last| last + 1 + frame.index),
            _ => frame.index,
        };
        let image = &frame.image;
        let mut stages = StageTimes::default();
        let mut clock = Instant::now();
        let mut lap = |slot: &mut Duration| {
            let now = Instant::now();
            *slot += now - clock;
            clock = now;
        };

        self.blocks.shrink(image);
        let quality = self.gate.assess_in(image, &self.blocks);
        lap(&mut stages.quality);
        let mut counted = Vec::new();
        let mut detected = 0;
        let mut boxes = Vec::new();
        if quality.verdict == Verdict::Accepted {
            let detections = self.detector.detect_in(&self.blocks);
            detected = detections.len();
            boxes = detections.iter().map(|d| d.bbox).collect();
            lap(&mut stages.detect);
            let mut new = self
                .tracker
                .observe_in(&self.blocks, &detections, frame.stage_um);
            self.tracked_frames.push(index);
            let partial = self.new_partial_cells();
            if !self.recorded_unfinished.is_empty() {
                let recorded = std::mem::take(&mut self.recorded_unfinished);
                new.retain(|n| !recorded.contains(&(index, n.cell.bbox)));
            }
            lap(&mut stages.track);
            let cells: Vec<_> = new.iter().map(|n| n.cell).collect();
            let scores = self.classifier.classify(image, &cells)?;
            let subtypes = self.type_blasts(image, &cells, &scores)?;
            lap(&mut stages.classify);
            // Before the records: a cell whose record is on disk almost surely has its
            // picture too (the ids are the positions the cells will take).
            if let Some(writer) = &self.cell_images {
                // Kept at least as fine as the model's input, and less than twice as fine:
                // at 100x the window is some 500 pixels across, and encoding it whole took
                // the writer thread longer than a frame (27 frames/s at 0.1 um/px).
                let block = self.classifier.window_side() / self.classifier.input().width;
                for (i, cell) in cells.iter().enumerate() {
                    let id = (self.cells.len() + i) as u32;
                    let window = self.classifier.cut_window(image, cell);
                    writer.write(id, block_average(window, block));
                }
                lap(&mut stages.report);
            }
            // A typed blast's subtype entry follows its cell's, in the same batch.
            let typed_blasts = subtypes.iter().flatten().count();
            let mut batch = Vec::with_capacity(cells.len() + typed_blasts + partial.len() + 1);
            for ((cell, scores), subtype) in cells.iter().zip(scores).zip(&subtypes) {
                let record = CellRecord {
                    slide: self.slide_id.clone(),
                    frame: index,
                    bbox: cell.bbox,
                    probabilities: scores.probabilities,
                    model_digest: self.digest,
                };
                batch.push(JournalEntry::cell(record, scores.distance));
                if let (Some(probabilities), Some(subtyper)) = (subtype, &self.subtyper) {
                    batch.push(JournalEntry::Subtype(SubtypeRecord {
                        slide: self.slide_id.clone(),
                        frame: index,
                        bbox: cell.bbox,
                        probabilities: probabilities.clone(),
                        model_digest: subtyper.digest,
                    }));
                }
            }
            batch.extend(partial.iter().map(|&p| self.partial_record(p)));
            batch.push(self.frame_record(index, quality));
            self.journal.append_all(&batch)?;
            self.count_partial(partial);
            lap(&mut stages.journal);
            // Counted only now that the records are on disk.
            let mut entries = batch.into_iter().filter_map(JournalEntry::into_cell);
            for (cell, subtype) in cells.iter().zip(subtypes) {
                let Some((record, distance)) = entries.next() else {
                    break;
                };
                let call = self.session.record_cell(&record.probabilities, distance)?;
                self.thumbnails.push(CellThumbnail {
                    id: self.cells.len() as u32,
                    image: thumbnail(image, cell.centre, cell.bbox, self.classifier.window_side()),
                });
                self.push_cell(&record, call, distance);
                if let (Some(probabilities), Some(subtyper)) = (subtype, &self.subtyper) {
                    let typed = self.session.record_subtype(&call, &probabilities)?;
                    if let Some(cell) = self.cells.last_mut() {
                        cell.subtype = typed.map(|t| subtyper.name(t));
                    }
                }
                counted.push((cell.bbox, call));
            }
            lap(&mut stages.report);
        } else {
            self.journal.append(&self.frame_record(index, quality))?;
            lap(&mut stages.journal);
        }
        self.count_quality(&quality);

        if !counted.is_empty() && self.snapshots.len() < self.settings.snapshots {
            let boxes: Vec<_> = counted.iter().map(|(b, call)| (*b, call.class)).collect();
            self.snapshots.push(Snapshot {
                frame: index,
                image: shrink(&annotate(image, &boxes), SNAPSHOT_WIDTH),
            });
        }
        lap(&mut stages.report);
        self.stage_sums.add(&stages);
        self.frame_ms.push(stages.total().as_secs_f64() * 1e3);
        self.frames_done += 1;
        Ok(FrameOutcome {
            frame: index,
            quality: Some(quality),
            detected,
            boxes,
            counted,
            stages,
        })
    }

    /// The cells the tracker has just found partial, as `(frame, box)`, less those an
    /// earlier run recorded (in a frame it did not finish).
    fn new_partial_cells(&mut self) -> Vec<(u64, [u32; 4])> {
        self.tracker
            .take_partial()
            .into_iter()
            .filter_map(|p| {
                let frame = *self.tracked_frames.get(p.sighting as usize)?;
                Some((frame, p.cell.bbox))
            })
            .filter(|p| !self.partial_cells.contains(p))
            .collect()
    }

    fn partial_record(&self, (frame, bbox): (u64, [u32; 4])) -> JournalEntry {
        JournalEntry::PartialCell(PartialCellRecord {
            slide: self.slide_id.clone(),
            frame,
            bbox,
        })
    }

    /// Counts partial cells whose records are on disk.
    fn count_partial(&mut self, partial: Vec<(u64, [u32; 4])>) {
        for p in partial {
            self.session.record_partial();
            self.partial_cells.push(p);
        }
    }

    fn frame_record(&self, frame: u64, quality: FrameQuality) -> JournalEntry {
        JournalEntry::Frame(FrameRecord {
            slide: self.slide_id.clone(),
            frame,
            quality,
        })
    }

    fn count_quality(&mut self, quality: &FrameQuality) {
        self.session.record_field();
        self.tally.record(quality.verdict);
        self.focus_sum += f64::from(quality.focus);
        self.clipped_sum += f64::from(quality.clipped_fraction);
    }

    fn push_cell(&mut self, record: &CellRecord, call: CellCall, distance: Option<f32>) {
        let id = self.cells.len() as u32;
        let has_thumbnail = self.thumbnails.last().is_some_and(|t| t.id == id);
        let class_name = match call.class {
            Some(c) => self.taxonomy.classes[c].name.clone(),
            None if call.unfamiliar => ReportCell::UNFAMILIAR.to_string(),
            None => ReportCell::UNIDENTIFIED.to_string(),
        };
        self.cells.push(ReportCell {
            id,
            frame: record.frame,
            bbox: record.bbox,
            class: call.class,
            class_name,
            confidence: call.confidence,
            probabilities: record.probabilities.clone(),
            thumbnail: has_thumbnail.then(|| format!("cells/cell-{id:04}.png")),
            unfamiliar: call.unfamiliar,
            distance,
            subtype: None,
        });
    }

    /// Whether the slide should end now, and why: the stop rule, or advice when most
    /// frames are rejected.
    pub fn should_stop(&self) -> Option<ScanEnd> {
        if let Some(advice) = self.tally.advice(&self.settings.quality) {
            return Some(ScanEnd::Advice(advice));
        }
        self.session.should_stop().map(ScanEnd::Stopped)
    }

    /// Scans frames from `source` until the slide should stop, the source ends or fails,
    /// or `after_frame` says to stop. Frames the source could not deliver (a bad file) are
    /// skipped; a lost camera is the source's to ride out ([`crate::io::source::Reconnecting`]).
    pub fn scan(
        &mut self,
        source: &mut dyn FrameSource,
        mut after_frame: impl FnMut(&Self, &FrameOutcome) -> Control,
    ) -> Result<ScanEnd, PipelineError> {
        loop {
            if let Some(end) = self.should_stop() {
                return Ok(end);
            }
            let frame = match source.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(self.unreadable(true).unwrap_or(ScanEnd::SourceDone)),
                Err(e) if e.kind() == ErrorKind::Skip => {
                    let reason = e.skip_reason().unwrap_or("unreadable");
                    // The error's own words repeat its cause's; the cause names the file.
                    let cause = std::error::Error::source(&e);
                    self.skipped
                        .record(reason, || cause.map_or_else(|| e.to_string(), error_chain));
                    match self.unreadable(false) {
                        Some(end) => return Ok(end),
                        None => continue,
                    }
                }
                Err(e) => return Ok(ScanEnd::SourceFailed(error_chain(&e))),
            };
            let outcome = self.process(&frame)?;
            if after_frame(self, &outcome) == Control::Stop {
                return Ok(ScanEnd::Operator);
            }
        }
    }

    /// The end of a slide made mostly of frames that could not be read: once they are as
    /// many as the quality gate needs for its advice and more than the frames read, or, at
    /// the source's end (`done`), more than the frames read.
    fn unreadable(&self, done: bool) -> Option<ScanEnd> {
        let skipped = self.skipped.total();
        let read = self.tally.frames();
        let enough = done || skipped >= self.settings.quality.min_frames_for_advice;
        (enough && skipped > read).then(|| {
            ScanEnd::Unreadable(format!(
                "{skipped} of {} frames could not be read ({}); {UNREADABLE_ADVICE}",
                skipped + read,
                self.skipped.by_reason_text()
            ))
        })
    }

    /// Frames the source could not deliver so far, by reason.
    pub fn skipped_frames(&self) -> &SkippedFrames {
        &self.skipped
    }

    /// Ends the slide: records the end in the journal and returns its report with the
    /// thumbnails and snapshots. `source` says where the frames came from, `generated`
    /// when (RFC 3339).
    pub fn finish(
        mut self,
        end: &ScanEnd,
        source: String,
        generated: String,
    ) -> Result<FinishedSlide, PipelineError> {
        // The last segment ends with the slide: its cells never seen whole are recorded
        // with the end.
        self.tracker.end_slide();
        let partial = self.new_partial_cells();
        let mut records: Vec<JournalEntry> =
            partial.iter().map(|&p| self.partial_record(p)).collect();
        records.push(JournalEntry::SlideEnd(SlideEndRecord {
            slide: self.slide_id.clone(),
            reason: end.describe(),
        }));
        self.journal.append_all(&records)?;
        self.count_partial(partial);
        Ok(self.into_finished(end, source, generated))
    }

    /// The report of what the scanner has counted, ended by `end`.
    fn into_finished(self, end: &ScanEnd, source: String, generated: String) -> FinishedSlide {
        let judged = self.tally.frames().max(1);
        let frames = self.frames_done.max(1);
        let mean_ms = |d: Duration| d.as_secs_f64() * 1e3 / f64::from(frames);
        let s = self.stage_sums;
        let advice = match end {
            ScanEnd::Advice(advice) => Some(advice.to_string()),
            ScanEnd::Unreadable(why) => Some(why.clone()),
            _ => None,
        };
        let report = SlideReport {
            slide_id: self.slide_id.clone(),
            generated,
            tool: format!("leukoscope-edge {}", env!("CARGO_PKG_VERSION")),
            source,
            model: self.model,
            summary: self.session.summary(),
            advice,
            quality: QualityStats::from_tally(
                &self.tally,
                (self.focus_sum / f64::from(judged)) as f32,
                (self.clipped_sum / f64::from(judged)) as f32,
                self.skipped,
            ),
            cells: self.cells,
            partial_cells: self
                .partial_cells
                .iter()
                .map(|&(frame, bbox)| PartialCell { frame, bbox })
                .collect(),
            timings_ms: StageTimings {
                frames: self.frames_done,
                quality: mean_ms(s.quality),
                detect: mean_ms(s.detect),
                track: mean_ms(s.track),
                classify: mean_ms(s.classify),
                journal: mean_ms(s.journal),
                total: mean_ms(s.total()),
            },
            truth: None,
            review: None,
            scale: Some(self.settings.frame_scale()),
        };
        FinishedSlide {
            report,
            thumbnails: self.thumbnails,
            snapshots: self.snapshots,
            end: end.clone(),
        }
    }
}

/// The scale an earlier run of the slide measured and recorded, if any: a resumed slide
/// is read at it (set it in [`ScanSettings`] before making the scanner).
pub fn recorded_scale(earlier: &[JournalEntry]) -> Option<SlideScale> {
    earlier.iter().find_map(|entry| match entry {
        JournalEntry::Scale(r) => Some(SlideScale {
            um_per_px: r.um_per_px,
            uncertainty: r.uncertainty,
            red_cells: r.red_cells as usize,
        }),
        _ => None,
    })
}

/// A finished slide, ready to be written out with [`crate::report::write_report`].
pub struct FinishedSlide {
    /// The report.
    pub report: SlideReport,
    /// Thumbnails of the cells this run counted.
    pub thumbnails: Vec<CellThumbnail>,
    /// Annotated frames.
    pub snapshots: Vec<Snapshot>,
    /// Why the scan ended.
    pub end: ScanEnd,
}

/// A square thumbnail around a cell: twice the nucleus' box, at least a quarter of the
/// model's window, shrunk to [`THUMBNAIL_SIDE`].
fn thumbnail(frame: &RgbImage, centre: (f32, f32), bbox: [u32; 4], window: u32) -> RgbImage {
    let side = (bbox[2].max(bbox[3]) * 2)
        .max(window / 4)
        .clamp(8, frame.width().min(frame.height()).max(1));
    let x =
        (centre.0 as i64 - i64::from(side) / 2).clamp(0, i64::from(frame.width() - side)) as u32;
    let y =
        (centre.1 as i64 - i64::from(side) / 2).clamp(0, i64::from(frame.height() - side)) as u32;
    // Averaged down by whole blocks first to under twice the thumbnail's side: the
    // filtered resize costs in proportion to the pixels it reads, and at 100x a cell's
    // crop is some 500 pixels across.
    let block = (side / (2 * THUMBNAIL_SIDE)).max(1);
    let crop = block_average(frame.view().window(x, y, side, side).to_image(), block);
    let small_side = crop.width();
    let crop = image::RgbImage::from_raw(small_side, small_side, crop.into_raw())
        .expect("a view's pixels fill its size");
    let small = image::imageops::resize(
        &crop,
        THUMBNAIL_SIDE,
        THUMBNAIL_SIDE,
        image::imageops::FilterType::Triangle,
    );
    RgbImage::from_raw(THUMBNAIL_SIDE, THUMBNAIL_SIDE, small.into_raw())
        .expect("the resize fills its size")
}

/// `image` averaged over `block` x `block` pixel blocks (the right and bottom remainders
/// dropped; at most [`crate::scan::blocks::MAX_FACTOR`] a side).
fn block_average(image: RgbImage, block: u32) -> RgbImage {
    if block <= 1 {
        return image;
    }
    // The glass level that comes with the blocks is not read here.
    let mut blocks = FrameBlocks::new(block, 100.0);
    blocks.shrink(&image);
    blocks.means()
}

mod rebuild;
mod subtype;
pub use rebuild::{RebuildError, rebuild_report};
use subtype::Subtyper;
pub use subtype::subtypes_of;

#[cfg(test)]
mod tests;
