//! `leukoscope-edge crops`: the white cells of a folder of frames, cut by the board's own
//! detector and classifier window, as an image folder the trainer reads (one sub-folder
//! per class), so a model learns cells exactly as the board will show them to it.
//!
//! A frame's class is its sub-folder's name (a field-labelled set such as aria-4class, whose
//! fields sit in one folder per class); frames directly in the folder are `unlabelled`.
//! Each whole cell's window is written at the frames' own pixels, edges repeated where it
//! leaves the frame, so the trainer's preprocessing resizes it exactly as the board's
//! does. Cells whose nucleus touches the frame's edge are partial and left out, as the
//! board leaves them out of its counts.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use image::ExtendedColorType;
use image::ImageEncoder;
use image::codecs::png::PngEncoder;
use leukoscope_core::files::load_rgb;
use leukoscope_core::raster::RgbImage;
use leukoscope_edge::io::settings::BoardSettings;
use leukoscope_edge::io::source::{Rate, ReplaySource};
use leukoscope_edge::scan::classify::{CellClassifier, cut_window};
use leukoscope_edge::scan::detect::{CellDetector, DetectedCell, DetectorConfig};
use leukoscope_edge::scan::scale::{RedCellMeter, ScaleSetting};

use super::scale::describe;
use super::slide::{ModelChoice, load_chosen_model};

/// Options of `crops`.
#[derive(clap::Args)]
pub struct CropsArgs {
    /// The folder of frames, or of one sub-folder of frames per class.
    #[arg(long)]
    pub frames: PathBuf,
    /// Where the class folders and crops.csv go (made if missing; must hold no crops.csv).
    #[arg(long)]
    pub out: PathBuf,
    /// Micrometres per pixel of the frames, or `auto` to measure it from the red cells of
    /// all of them, pooled: one source, one scale (default: the board's, else `auto`).
    #[arg(long, value_name = "UM|auto")]
    pub um_per_px: Option<ScaleSetting>,
    /// Side of the square cut around each nucleus, in micrometres (default: the window of
    /// the model, which is what the board cuts for it).
    #[arg(long, value_name = "UM", conflicts_with = "model")]
    pub window_um: Option<f32>,
    // The model whose window is cut, when --window-um is not given.
    #[command(flatten)]
    pub model: ModelChoice,
    /// Detector settings, frame scale and trusted keys from this board's settings.
    #[arg(long)]
    pub board: Option<PathBuf>,
}

/// What `crops` found in one class.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClassCrops {
    /// The class: its sub-folder's name.
    pub label: String,
    /// Frames read.
    pub frames: usize,
    /// Cells written.
    pub cells: usize,
    /// Cells left out because the frame's edge cuts their nucleus.
    pub partial: usize,
    /// Frames in which no white cell was found.
    pub empty: usize,
    /// Files that did not decode.
    pub unreadable: usize,
}

/// Widest window, in frame pixels: a wrong scale or unit should not fill the disk.
const MAX_WINDOW_PX: u16 = 4096;

/// The index of the crops, in `--out`.
const INDEX: &str = "crops.csv";

/// The label of frames lying directly in `--frames`.
pub const UNLABELLED: &str = "unlabelled";

pub fn crops(args: CropsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.out.join(INDEX).exists(),
        "{} already holds {INDEX}: give an empty --out so two runs do not mix",
        args.out.display()
    );
    let board = args.board.as_deref().map(BoardSettings::load).transpose()?;
    let classes = class_folders(&args.frames)?;
    let setting = args
        .um_per_px
        .or(board.as_ref().map(|b| b.camera.um_per_px))
        .unwrap_or(ScaleSetting::Auto);
    let um_per_px = match setting {
        ScaleSetting::Given(um) => um,
        ScaleSetting::Auto => {
            let mut meter = RedCellMeter::new();
            for path in classes.iter().flat_map(|(_, files)| files) {
                if let Ok(frame) = load_rgb(path) {
                    meter.measure(&frame);
                }
            }
            let measured = meter
                .scale()
                .with_context(|| format!("measuring the scale of {}", args.frames.display()))?;
            println!("{}", describe(&measured));
            measured.um_per_px
        }
    };
    let side = match args.window_um {
        Some(um) => {
            let side = (um / um_per_px).round();
            anyhow::ensure!(
                um.is_finite() && (1.0..=f32::from(MAX_WINDOW_PX)).contains(&side),
                "--window-um {um} is {side} frame pixels at {um_per_px} um/px; give 1 to {MAX_WINDOW_PX} pixels' worth"
            );
            side as u32
        }
        None => {
            let (_, model) = load_chosen_model(args.model, board.as_ref())?;
            let classifier = CellClassifier::new(&model.artifact, um_per_px, 1)?;
            let input = classifier.input();
            println!(
                "window: the model's, {} px at {} um/px",
                input.width, input.um_per_px
            );
            classifier.window_side()
        }
    };
    println!(
        "window: {side} frame pixels ({:.1} um) around each nucleus",
        side as f32 * um_per_px
    );
    let mut config = board
        .as_ref()
        .map_or_else(DetectorConfig::default, |b| b.detect);
    config.um_per_px = um_per_px;
    let mut detector = CellDetector::new(config)?;
    let found = write_crops(&classes, &args.out, um_per_px, |frame| {
        detector
            .detect(frame)
            .into_iter()
            .map(|cell| Found {
                window: (!cell.touches_border).then(|| cut_window(frame, &cell, side)),
                cell,
            })
            .collect()
    })?;
    for class in &found {
        println!(
            "{}: {} frames, {} cells written, {} cut by the frame's edge left out, {} frames without a white cell, {} unreadable",
            class.label, class.frames, class.cells, class.partial, class.empty, class.unreadable
        );
    }
    println!("written to {} (index: {INDEX})", args.out.display());
    Ok(())
}

/// A cell a frame shows, with its window when it is whole.
struct Found {
    cell: DetectedCell,
    window: Option<RgbImage>,
}

/// The frames of `folder` by class: each sub-folder holding frames is a class, and frames
/// lying in `folder` itself are [`UNLABELLED`]; classes in name order.
fn class_folders(folder: &Path) -> anyhow::Result<Vec<(String, Vec<PathBuf>)>> {
    let listing = |dir: &Path| -> anyhow::Result<Vec<PathBuf>> {
        Ok(ReplaySource::open(dir, Rate::default())?.files().to_vec())
    };
    let mut classes = Vec::new();
    let top = listing(folder)?;
    let mut subfolders: Vec<PathBuf> = fs::read_dir(folder)
        .with_context(|| format!("listing {}", folder.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    subfolders.sort();
    for dir in subfolders {
        let files = listing(&dir)?;
        let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
            anyhow::bail!("{}: a class folder's name must be text", dir.display());
        };
        if !files.is_empty() && !name.starts_with('.') {
            classes.push((name.to_owned(), files));
        }
    }
    if !top.is_empty() {
        anyhow::ensure!(
            classes.iter().all(|(name, _)| name != UNLABELLED),
            "{}: frames lie beside a class folder named {UNLABELLED}; move them into a class folder",
            folder.display()
        );
        classes.push((UNLABELLED.to_owned(), top));
    }
    anyhow::ensure!(
        !classes.is_empty(),
        "no frames (JPEG, PNG, BMP, TIFF) in {} or its sub-folders",
        folder.display()
    );
    Ok(classes)
}

/// Writes the whole cells `find` gives for each frame of `classes` under `out`, one
/// sub-folder per class, with `crops.csv`; counts by class.
fn write_crops(
    classes: &[(String, Vec<PathBuf>)],
    out: &Path,
    um_per_px: f32,
    mut find: impl FnMut(&RgbImage) -> Vec<Found>,
) -> anyhow::Result<Vec<ClassCrops>> {
    let index_path = out.join(INDEX);
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut index = csv::Writer::from_path(&index_path)
        .with_context(|| format!("creating {}", index_path.display()))?;
    index.write_record([
        "crop",
        "frame",
        "label",
        "centre_x",
        "centre_y",
        "nucleus_x",
        "nucleus_y",
        "nucleus_w",
        "nucleus_h",
        "nucleus_um2",
        "um_per_px",
        "window_px",
    ])?;
    let mut counts = Vec::new();
    for (label, files) in classes {
        let dir = out.join(label);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut class = ClassCrops {
            label: label.clone(),
            ..ClassCrops::default()
        };
        let mut stems = std::collections::HashSet::new();
        for path in files {
            let frame = match load_rgb(path) {
                Ok(frame) => frame,
                Err(e) => {
                    eprintln!("{}: left out: {e}", path.display());
                    class.unreadable += 1;
                    continue;
                }
            };
            class.frames += 1;
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            anyhow::ensure!(
                stems.insert(stem.clone()),
                "two frames of class {label} are named {stem}: their crops would share names",
            );
            let found = find(&frame);
            if found.is_empty() {
                class.empty += 1;
            }
            let mut k = 0;
            for Found { cell, window } in found {
                let Some(window) = window else {
                    class.partial += 1;
                    continue;
                };
                let name = format!("{stem}-{k}.png");
                k += 1;
                let crop = dir.join(&name);
                write_png(&crop, &window)?;
                let [x, y, w, h] = cell.bbox;
                index.write_record([
                    format!("{label}/{name}"),
                    path.display().to_string(),
                    label.clone(),
                    format!("{:.1}", cell.centre.0),
                    format!("{:.1}", cell.centre.1),
                    x.to_string(),
                    y.to_string(),
                    w.to_string(),
                    h.to_string(),
                    format!("{:.1}", cell.area_um2),
                    format!("{um_per_px:.5}"),
                    window.width().to_string(),
                ])?;
                class.cells += 1;
            }
        }
        counts.push(class);
    }
    index
        .flush()
        .with_context(|| format!("writing {}", index_path.display()))?;
    Ok(counts)
}

fn write_png(path: &Path, image: &RgbImage) -> anyhow::Result<()> {
    let mut png = Vec::new();
    PngEncoder::new(&mut png).write_image(
        image.as_raw(),
        image.width(),
        image.height(),
        ExtendedColorType::Rgb8,
    )?;
    fs::write(path, png).with_context(|| format!("writing {}", path.display()))
}
