//! `leukoscope-edge replay`: a folder of frames (a slide scanned elsewhere, or recorded on
//! the board) through the whole pipeline, as the board would see them from its camera.

use std::path::PathBuf;

use leukoscope_core::artifact::PublicKey;
use leukoscope_edge::pipeline::{Control, Resume, ScanSettings};
use leukoscope_edge::settings::{BoardSettings, ClassifyDevice};
use leukoscope_edge::source::{Rate, ReplaySource};

use super::slide::{
    SlidePaths, load_chosen_model, new_slide_id, print_result, scan_slide, write_slide,
};

/// Options of `replay`.
pub struct ReplayOptions {
    pub frames: PathBuf,
    pub model: Option<PathBuf>,
    pub board: Option<PathBuf>,
    pub trusted_keys: Vec<PublicKey>,
    pub slide: Option<String>,
    pub fps: Option<f64>,
    pub micrometres_per_pixel: Option<f32>,
    pub out: PathBuf,
}

pub fn replay(options: ReplayOptions) -> anyhow::Result<()> {
    let board = options
        .board
        .as_deref()
        .map(BoardSettings::load)
        .transpose()?;
    let mut settings = board
        .as_ref()
        .map_or_else(ScanSettings::default, scan_settings);
    if let Some(um) = options.micrometres_per_pixel {
        settings.detect.um_per_px = um;
        settings.track.um_per_px = um;
    }
    let (_, model) = load_chosen_model(options.model, options.trusted_keys, board.as_ref())?;
    let rate = options
        .fps
        .map(Rate::per_second)
        .transpose()?
        .unwrap_or_default();
    let mut source = ReplaySource::open(&options.frames, rate)?;
    let slide_id = options.slide.unwrap_or_else(new_slide_id);
    let paths = SlidePaths {
        journals: options.out.join("journals"),
        reports: options.out.join("reports"),
    };
    let scanned = scan_slide(
        &slide_id,
        &model,
        settings,
        &mut source,
        Resume::SkipDone,
        &paths,
        |_, _| Control::Continue,
    )?;
    print_result(&write_slide(scanned.0, scanned.1, &paths)?);
    Ok(())
}

/// The scan settings a board's file sets.
pub fn scan_settings(board: &BoardSettings) -> ScanSettings {
    let threads = match board.model.threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    ScanSettings {
        quality: board.quality,
        detect: board.detect,
        track: board.track,
        session: board.session,
        threads,
        batch: board.model.batch,
        gpu: board.model.device == ClassifyDevice::Cuda,
        ..ScanSettings::default()
    }
}
