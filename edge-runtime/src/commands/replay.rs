//! `leukoscope-edge replay`: a folder of frames (a slide scanned elsewhere, or recorded on
//! the board) through the whole pipeline, as the board would see them from its camera.

use std::path::PathBuf;

use leukoscope_edge::io::settings::{BoardSettings, ClassifyDevice};
use leukoscope_edge::io::source::{Rate, ReadAhead, ReplaySource};
use leukoscope_edge::records::layout::DataDir;
use leukoscope_edge::scan::pipeline::{Control, Resume, ScanSettings};
use leukoscope_edge::scan::scale::ScaleSetting;
use leukoscope_edge::ui::DeskMode;

use super::slide::{
    ModelChoice, ScaleStart, SubtypeChoice, UiArgs, load_chosen_model, load_chosen_subtype,
    new_slide_id, print_result, scan_slide, slide_desk, start_ui, ui_token, write_slide,
};

/// Options of `replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The folder of frames.
    #[arg(long)]
    pub frames: PathBuf,
    #[command(flatten)]
    pub model: ModelChoice,
    #[command(flatten)]
    pub subtype: SubtypeChoice,
    /// Take thresholds, frame scale and trusted keys from this board's settings.
    #[arg(long)]
    pub board: Option<PathBuf>,
    /// The slide's id (default: from the clock). Replaying the same id again resumes
    /// that slide's journal.
    #[arg(long)]
    pub slide: Option<String>,
    /// Frames per second (default: as fast as possible).
    #[arg(long)]
    pub fps: Option<f64>,
    /// Micrometres per pixel of the frames, or `auto` to measure it from the red cells of
    /// the first frames (up to 30) before scanning (default: the board's, else `auto`).
    #[arg(long, value_name = "UM|auto")]
    pub um_per_px: Option<ScaleSetting>,
    /// Where the journal and the report go.
    #[arg(long, default_value = "out/replay")]
    pub out: PathBuf,
    /// Serve the technician's web UI at --listen during the slide and afterwards, for
    /// review (until Ctrl-C).
    #[arg(long)]
    pub serve: bool,
    #[command(flatten)]
    pub ui: UiArgs,
}

pub fn replay(options: ReplayArgs) -> anyhow::Result<()> {
    let board = options
        .board
        .as_deref()
        .map(BoardSettings::load)
        .transpose()?;
    let mut settings = board
        .as_ref()
        .map_or_else(ScanSettings::default, scan_settings);
    let calibrated = board.as_ref().and_then(|b| b.camera.um_per_px.given());
    let setting = options
        .um_per_px
        .or(board.as_ref().map(|b| b.camera.um_per_px))
        .unwrap_or(ScaleSetting::Auto);
    if let Some(ScaleSetting::Given(um)) = options.um_per_px {
        settings.set_given_scale(um);
    }
    settings.subtype_model =
        load_chosen_subtype(options.subtype, &options.model.trusted_keys, board.as_ref())?;
    let (_, model) = load_chosen_model(options.model, board.as_ref())?;
    let rate = options
        .fps
        .map(Rate::per_second)
        .transpose()?
        .unwrap_or_default();
    let mut source = ReadAhead::new(ReplaySource::open(&options.frames, rate)?);
    let slide_id = options.slide.unwrap_or_else(new_slide_id);
    let data = DataDir::new(&options.out);
    let serve = options.serve.then_some(options.ui.listen);
    let desk = serve.map(|_| slide_desk(DeskMode::Replay, &data, &model, &settings, false));
    let _server = match (serve, &desk) {
        (Some(listen), Some(desk)) => {
            let token_file = options
                .ui
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
        ScaleStart {
            auto: setting == ScaleSetting::Auto,
            calibrated,
        },
        Resume::SkipDone,
        &data,
        desk.as_ref(),
        |_, _| Control::Continue,
    )?;
    let reason = scanned.0.end.describe();
    let written = write_slide(scanned.0, scanned.1, &data);
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
