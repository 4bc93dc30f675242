//! `leukoscope-edge replay`: a folder of frames (a slide scanned elsewhere, or recorded on
//! the board) through the whole pipeline, as the board would see them from its camera.

use std::net::SocketAddr;
use std::path::PathBuf;

use leukoscope_core::artifact::PublicKey;
use leukoscope_edge::io::settings::{BoardSettings, ClassifyDevice};
use leukoscope_edge::io::source::{Rate, ReplaySource};
use leukoscope_edge::scan::pipeline::{Control, Resume, ScanSettings};
use leukoscope_edge::ui::DeskMode;

use super::slide::{
    SlidePaths, load_chosen_model, new_slide_id, print_result, scan_slide, slide_desk, start_ui,
    ui_token, write_slide,
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
    /// Serve the UI here during the slide and keep serving it afterwards, for review.
    pub serve: Option<SocketAddr>,
    /// The UI's access token file (default: the board's).
    pub token_file: Option<PathBuf>,
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
    let paths = SlidePaths::under(&options.out);
    let desk = options
        .serve
        .map(|_| slide_desk(DeskMode::Replay, &paths, &model, settings.session, false));
    let _server = match (options.serve, &desk) {
        (Some(listen), Some(desk)) => {
            let token_file = options
                .token_file
                .or_else(|| board.as_ref().and_then(|b| b.ui.token_file.clone()));
            Some(start_ui(
                listen,
                ui_token(token_file.as_deref())?,
                desk.clone(),
            )?)
        }
        _ => None,
    };
    let scanned = scan_slide(
        &slide_id,
        &model,
        settings,
        &mut source,
        Resume::SkipDone,
        &paths,
        desk.as_ref(),
        |_, _| Control::Continue,
    )?;
    let reason = scanned.0.end.describe();
    let written = write_slide(scanned.0, scanned.1, &paths);
    if let Some(desk) = &desk {
        desk.slide_ended(match &written {
            Ok(_) => reason,
            Err(e) => format!("the report could not be written: {e:#}"),
        });
    }
    print_result(&written?);
    if desk.is_some() {
        println!("the slide stays open for review in the UI; Ctrl-C ends the replay");
        loop {
            std::thread::park();
        }
    }
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
