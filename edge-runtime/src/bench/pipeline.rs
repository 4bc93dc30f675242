//! The whole pipeline on full frames: quality gate, detection, tracking, classification
//! and the journal (with its syncs), frame after frame as a slide is scanned.

use std::path::Path;
use std::time::{Duration, Instant};

use leukoscope_core::artifact::VerifiedArtifact;
use serde::Serialize;

use crate::io::source::Frame;
use crate::records::Verdict;
use crate::records::cell_images::CellImages;
use crate::records::journal::Journal;
use crate::scan::detect::CellDetector;
use crate::scan::pipeline::{PipelineError, Resume, ScanSettings, SlideScanner};
use crate::scan::quality::QualityGate;
use crate::scan::session::SessionRules;
use crate::scan::track::CellTracker;

/// What `bench --pipeline` measures, as its `--json` writes it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PipelineBench {
    /// Frames per second over the whole run.
    pub frames_per_s: f64,
    /// Median time of one frame, all stages.
    pub p50_frame_ms: f64,
    /// 99th percentile of the same.
    pub p99_frame_ms: f64,
    /// Mean milliseconds per frame in each stage.
    pub stages: Stages,
    /// Frames measured.
    pub frames: usize,
    /// Frame size.
    pub width: u32,
    /// Frame size.
    pub height: u32,
    /// Cells found per frame, on average.
    pub cells_per_frame: f64,
    /// Cells classified (each once).
    pub cells_classified: u32,
    /// Threads classifying.
    pub threads: usize,
    /// The model.
    pub model: String,
}

/// Mean milliseconds per frame in each stage.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stages {
    /// The quality gate.
    pub quality: f64,
    /// Finding cells.
    pub detect: f64,
    /// Registering frames and matching cells.
    pub track: f64,
    /// Cutting windows and running the model.
    pub classify: f64,
    /// Writing and syncing the journal.
    pub journal: f64,
    /// Thumbnails and annotated frames for the report.
    pub report: f64,
}

/// Runs `frames` (consecutive frames of one scan) through a slide with `model`, the
/// journal in `journal_dir`: the first `warmup` untimed, as a slide of their own, the rest
/// timed.
pub fn measure_pipeline(
    model: &VerifiedArtifact,
    frames: &[Frame],
    settings: ScanSettings,
    journal_dir: &Path,
    warmup: usize,
) -> Result<PipelineBench, PipelineError> {
    let settings = ScanSettings {
        // Never stop early: every frame is measured.
        session: SessionRules {
            stop_after_cells: u32::MAX,
            max_fields: u32::MAX,
            ..settings.session
        },
        ..settings
    };
    let threads = settings.threads;
    let run = |name: &str, frames: &[Frame]| -> Result<_, PipelineError> {
        let (journal, _) = Journal::open(journal_dir.join(format!("{name}.journal")))?;
        let mut scanner = SlideScanner::new(
            name,
            model,
            settings.clone(),
            journal,
            Vec::new(),
            Resume::SkipDone,
        )?
        // As on the board: every counted cell's picture is kept for review.
        .keep_cell_images(CellImages::new(&journal_dir.join("cells"), name));
        let mut detected = 0;
        let started = Instant::now();
        for frame in frames {
            detected += scanner.process(frame)?.detected;
        }
        Ok((scanner, started.elapsed(), detected))
    };
    let (warmup, frames) = frames.split_at(warmup.min(frames.len()));
    run("warm-up", warmup)?;
    let (scanner, elapsed, detected) = run("measured", frames)?;
    let mut times = scanner.frame_times_ms().to_vec();
    times.sort_by(f64::total_cmp);
    let n = frames.len().max(1) as f64;
    let sums = scanner.stage_sums();
    let mean = |d: std::time::Duration| d.as_secs_f64() * 1e3 / n;
    Ok(PipelineBench {
        frames_per_s: frames.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        p50_frame_ms: percentile(&times, 0.50),
        p99_frame_ms: percentile(&times, 0.99),
        stages: Stages {
            quality: mean(sums.quality),
            detect: mean(sums.detect),
            track: mean(sums.track),
            classify: mean(sums.classify),
            journal: mean(sums.journal),
            report: mean(sums.report),
        },
        frames: frames.len(),
        width: frames.first().map_or(0, |f| f.image.width()),
        height: frames.first().map_or(0, |f| f.image.height()),
        cells_per_frame: detected as f64 / n,
        cells_classified: scanner.session().summary().classified,
        threads,
        model: model.artifact.spec.name.clone(),
    })
}

/// The stages that read a frame coarsely (the quality gate, detection, tracking), timed two
/// ways on the same frames in the same run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FrontStages {
    /// Milliseconds per frame with the frame shrunk once and its blocks shared, as the
    /// pipeline runs them.
    pub shared_ms: f64,
    /// Milliseconds per frame with each stage shrinking the frame itself.
    pub separate_ms: f64,
}

/// Times the gate, detection and tracking over `frames`, `rounds` times each way,
/// alternating, so that both ways see the same load on the machine.
pub fn measure_front_stages(
    frames: &[Frame],
    settings: &ScanSettings,
    rounds: usize,
) -> Result<FrontStages, PipelineError> {
    let mut gate = QualityGate::new(settings.quality, settings.detect.um_per_px);
    let mut detector = CellDetector::new(settings.detect)?;
    let mut tracker = CellTracker::new(settings.track)?;
    let mut blocks = detector.frame_blocks();
    let (mut shared, mut separate) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds.max(1) {
        tracker.reset();
        let started = Instant::now();
        for frame in frames {
            blocks.shrink(&frame.image);
            if gate.assess_in(&frame.image, &blocks).verdict == Verdict::Accepted {
                let cells = detector.detect_in(&blocks);
                tracker.observe_in(&blocks, &cells, None);
            }
        }
        shared += started.elapsed();
        tracker.reset();
        let started = Instant::now();
        for frame in frames {
            if gate.assess(&frame.image).verdict == Verdict::Accepted {
                let cells = detector.detect(&frame.image);
                tracker.observe(&frame.image, &cells);
            }
        }
        separate += started.elapsed();
    }
    let per_frame =
        |d: Duration| d.as_secs_f64() * 1e3 / (rounds.max(1) * frames.len().max(1)) as f64;
    Ok(FrontStages {
        shared_ms: per_frame(shared),
        separate_ms: per_frame(separate),
    })
}

/// The `q` quantile of sorted `values` (nearest rank); 0 when empty.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests;
