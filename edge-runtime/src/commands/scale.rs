//! `leukoscope-edge scale`: the frames' micrometres per pixel, measured from the slide's
//! red cells (`scan::scale`), beside the board's calibrated value.

use std::path::PathBuf;

use leukoscope_core::files::load_rgb;
use leukoscope_edge::io::settings::BoardSettings;
use leukoscope_edge::io::source::{FrameSource, Rate, ReadAhead, ReplaySource};
use leukoscope_edge::scan::detect::StainSource;
use leukoscope_edge::scan::pipeline::ScanSettings;
use leukoscope_edge::scan::scale::{RED_CELL_UM, RedCellMeter, SlideScale};
use leukoscope_edge::scan::stain::{StainMeter, StainVectors};

/// Options of `scale`.
#[derive(clap::Args)]
pub struct ScaleArgs {
    /// The folder of frames (every frame is read).
    #[arg(long)]
    pub frames: PathBuf,
    /// Compare with this board's calibrated `camera.um_per_px`.
    #[arg(long)]
    pub board: Option<PathBuf>,
}

/// A measured scale and a calibrated one differ by more than this share: a wrong objective
/// or a stale calibration.
pub const MISMATCH: f32 = 0.15;

pub fn scale(args: ScaleArgs) -> anyhow::Result<()> {
    let board = args.board.as_deref().map(BoardSettings::load).transpose()?;
    let measured = measure_folder(&args.frames)?;
    println!("{}", describe(&measured));
    match board.and_then(|b| b.camera.um_per_px.given()) {
        Some(given) => {
            println!("the board's calibration: {given:.4} um/px");
            if let Some(warning) = mismatch(given, &measured) {
                println!("{warning}");
            }
        }
        None if args.board.is_some() => {
            println!("the board measures each slide's scale (\"auto\")")
        }
        None => {}
    }
    Ok(())
}

/// The scale of the frames in `folder`, from all their red cells.
pub fn measure_folder(folder: &std::path::Path) -> anyhow::Result<SlideScale> {
    let source = ReplaySource::open(folder, Rate::default())?;
    let mut meter = RedCellMeter::new();
    for path in source.files() {
        match load_rgb(path) {
            Ok(frame) => {
                meter.measure(&frame);
            }
            Err(e) => eprintln!("{}: left out: {e}", path.display()),
        }
    }
    Ok(meter.scale()?)
}

/// The measurement in one line.
pub fn describe(scale: &SlideScale) -> String {
    format!(
        "scale: {:.4} um/px +/- {:.1} % (from {} whole red cells taken as {RED_CELL_UM} um)",
        scale.um_per_px,
        scale.uncertainty * 100.0,
        scale.red_cells
    )
}

/// A warning when a calibrated `given` scale and the measured one disagree by more than
/// [`MISMATCH`].
pub fn mismatch(given: f32, measured: &SlideScale) -> Option<String> {
    let off = given / measured.um_per_px - 1.0;
    (off.abs() > MISMATCH).then(|| {
        format!(
            "WARNING: the calibrated scale {given:.4} um/px is {:+.0} % off the red cells' {:.4}: is the right objective in place, or the calibration stale?",
            off * 100.0,
            measured.um_per_px
        )
    })
}

/// The estimated stains in one line.
pub fn describe_stains(stains: &StainVectors) -> String {
    format!(
        "stains: nuclear {:.3?}, counterstain {:.3?} (from {} stained blocks)",
        stains.nucleus, stains.counterstain, stains.samples
    )
}

/// Frames a slide's scale is measured from at most, before scanning starts.
pub const LOOKAHEAD_FRAMES: usize = 30;
/// Red cells after which the read-ahead stops early.
const ENOUGH_RED_CELLS: usize = 60;

/// Measures what the slide's settings leave to its first frames of `source` (held, then
/// scanned as they came): the scale when `auto_scale`, and the stain directions when
/// `detect.stains` is `slide`, and sets them in `settings`, saying so. A `calibrated`
/// scale more than [`MISMATCH`] off the measured one is warned about.
pub fn measure_ahead<S: FrameSource>(
    source: &mut ReadAhead<S>,
    settings: &mut ScanSettings,
    auto_scale: bool,
    calibrated: Option<f32>,
) -> anyhow::Result<()> {
    let stains = settings.detect.stains == StainSource::Slide;
    if !auto_scale && !stains {
        return Ok(());
    }
    let mut meter = RedCellMeter::new();
    let mut stain_meter = StainMeter::new(&settings.detect);
    source.fill(LOOKAHEAD_FRAMES, |frame| {
        if auto_scale {
            meter.measure(&frame.image);
        }
        if stains {
            stain_meter.measure(&frame.image);
        }
        // The stains want every frame read ahead: nuclei are few.
        !stains && meter.red_cells() >= ENOUGH_RED_CELLS
    });
    if auto_scale {
        let measured = meter.scale()?;
        println!("{}", describe(&measured));
        if let Some(warning) = calibrated.and_then(|g| mismatch(g, &measured)) {
            println!("{warning}");
        }
        settings.set_measured_scale(measured);
    }
    if stains {
        match stain_meter.estimate() {
            Ok(found) => {
                println!("{}", describe_stains(&found));
                found.apply(&mut settings.detect);
            }
            Err(e) => println!("stains: the board's kept: {e}"),
        }
    }
    Ok(())
}
