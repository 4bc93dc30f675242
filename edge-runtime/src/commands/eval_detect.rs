//! `leukoscope-edge eval-detect`: the cell detector scored on frames whose every cell has a
//! box drawn around it (`bench::scoring`), frame by frame and in all.

use std::fs::File;
use std::path::PathBuf;

use anyhow::Context;
use leukoscope_core::files::load_rgb;
use leukoscope_edge::bench::scoring::{
    DetectionScore, read_boxes, scale_from_diameters, score_frame, whole_red_cell_diameters,
};
use leukoscope_edge::io::settings::BoardSettings;
use leukoscope_edge::io::source::{Rate, ReplaySource};
use leukoscope_edge::scan::detect::{CellDetector, DetectorConfig, StainSource};
use leukoscope_edge::scan::scale::RED_CELL_UM;
use leukoscope_edge::scan::scale::ScaleSetting;
use leukoscope_edge::scan::stain::StainMeter;

use super::scale::{LOOKAHEAD_FRAMES, describe, describe_stains, measure_folder};

/// Options of `eval-detect`.
#[derive(clap::Args)]
pub struct EvalDetectArgs {
    /// The folder of frames; frames without a row in --boxes are left out (and counted).
    #[arg(long)]
    pub frames: PathBuf,
    /// The boxes: CSV with a header, `image,x_min,y_min,x_max,y_max,label` in frame
    /// pixels, label WBC, RBC or Platelets (as ../shared/data-sources writes them).
    #[arg(long)]
    pub boxes: PathBuf,
    /// Micrometres per pixel of the frames, or `auto` to measure it from their red cells
    /// first (default: the board's, else `auto`).
    #[arg(long, value_name = "UM|auto")]
    pub um_per_px: Option<ScaleSetting>,
    /// Detector settings from this board's settings (`[detect]`, `[camera]`).
    #[arg(long)]
    pub board: Option<PathBuf>,
    /// Estimate the stain directions from the folder's first frames, as a board with
    /// `detect.stains = "slide"` does for each slide (the board's setting is followed too).
    #[arg(long)]
    pub slide_stains: bool,
    /// Print only the totals, not a line per frame.
    #[arg(long)]
    pub quiet: bool,
}

pub fn eval_detect(args: EvalDetectArgs) -> anyhow::Result<()> {
    let board = args.board.as_deref().map(BoardSettings::load).transpose()?;
    let mut config = board
        .as_ref()
        .map_or_else(DetectorConfig::default, |b| b.detect);
    // The boxes first: a malformed file is named before the frames are read for their
    // scale.
    let truth = File::open(&args.boxes)
        .map_err(anyhow::Error::from)
        .and_then(|f| Ok(read_boxes(f)?))
        .with_context(|| format!("reading the boxes in {}", args.boxes.display()))?;
    let setting = args
        .um_per_px
        .or(board.as_ref().map(|b| b.camera.um_per_px))
        .unwrap_or(ScaleSetting::Auto);
    match setting {
        ScaleSetting::Given(um) => config.um_per_px = um,
        ScaleSetting::Auto => {
            let measured = measure_folder(&args.frames)?;
            println!("{}", describe(&measured));
            config.um_per_px = measured.um_per_px;
        }
    }
    if args.slide_stains || config.stains == StainSource::Slide {
        estimate_stains(&args.frames, &mut config)?;
    }
    let mut detector = CellDetector::new(config)?;
    let source = ReplaySource::open(&args.frames, Rate::default())?;
    if !args.quiet {
        println!("frame  white found detections twice outside  scale_um_per_px(red boxes)");
    }
    let (mut total, mut scored, mut unboxed, mut unreadable) = (DetectionScore::default(), 0, 0, 0);
    let mut diameters = Vec::new();
    for path in source.files() {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let Some(boxes) = name.as_deref().and_then(|n| truth.get(n)) else {
            unboxed += 1;
            continue;
        };
        let frame = match load_rgb(path) {
            Ok(frame) => frame,
            Err(e) => {
                eprintln!("{}: left out: {e}", path.display());
                unreadable += 1;
                continue;
            }
        };
        let centres: Vec<_> = detector.detect(&frame).iter().map(|c| c.centre).collect();
        let score = score_frame(&boxes.white, &centres);
        let red = whole_red_cell_diameters(&boxes.red, frame.width(), frame.height());
        if !args.quiet {
            let scale = scale_from_diameters(&red).map_or("-".into(), |s| format!("{s:.4}"));
            println!(
                "{}  {} {} {} {} {}  {scale}",
                name.unwrap_or_default(),
                score.white_cells,
                score.found,
                score.detections,
                score.twice,
                score.outside
            );
        }
        diameters.extend(red);
        total.add(&score);
        scored += 1;
    }
    if scored == 0 {
        anyhow::bail!(
            "no frame in {} has a box in {} ({unboxed} frames without one, {unreadable} unreadable)",
            args.frames.display(),
            args.boxes.display()
        );
    }
    println!(
        "all {scored} frames ({unboxed} without boxes left out, {unreadable} unreadable): {} white cells ({} more boxes drawn around a cell already boxed left out), recall {:.3}, precision {:.3}, {} detections, {} counted twice, {} outside any white cell",
        total.white_cells,
        total.drawn_twice,
        total.recall(),
        total.precision(),
        total.detections,
        total.twice,
        total.outside
    );
    match scale_from_diameters(&diameters) {
        Some(truth) => println!(
            "scale: {:.4} um/px used; the red-cell boxes say {truth:.4} ({} whole red cells taken as {RED_CELL_UM} um): {:+.1} %",
            config.um_per_px,
            diameters.len(),
            (config.um_per_px / truth - 1.0) * 100.0
        ),
        None => println!(
            "scale: {:.4} um/px used; too few whole red-cell boxes to check it",
            config.um_per_px
        ),
    }
    Ok(())
}

/// Sets `config`'s stain directions to those of the first frames of `folder`, as `replay`
/// reads them ahead for a slide, or says why the set ones stay.
fn estimate_stains(folder: &std::path::Path, config: &mut DetectorConfig) -> anyhow::Result<()> {
    let source = ReplaySource::open(folder, Rate::default())?;
    let mut meter = StainMeter::new(config);
    for path in source.files().iter().take(LOOKAHEAD_FRAMES) {
        if let Ok(frame) = load_rgb(path) {
            meter.measure(&frame);
        }
    }
    match meter.estimate() {
        Ok(found) => {
            println!("{}", describe_stains(&found));
            found.apply(config);
        }
        Err(e) => println!("stains: the set ones kept: {e}"),
    }
    Ok(())
}
