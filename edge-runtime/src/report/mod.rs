//! The slide's report: `report.json` for machines, one self-contained `report.html` for
//! people, the cell thumbnails and annotated frame snapshots as PNG files beside them.
//!
//! The HTML page carries everything inline (styles, and every image as a `data:` URI) so it
//! can be copied alone onto a USB stick, opened on a machine with no network, or printed to
//! PDF. Every file is written atomically (temporary name, `sync_all`, rename, directory
//! fsync) because boards lose power: after a cut there is either the old file or the whole
//! new one, never half of one.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::io::model::{DEVELOPMENT_KEY_WARNING, is_development_key};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};
use leukoscope_core::raster::RgbImage;
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use crate::records::review::{ReviewVerdict, ReviewedCounts, SignOffRecord};
use crate::scan::quality::{QualityTally, RejectReason};
use crate::scan::session::{ClassCount, SlideFlag, SlideSummary};

/// What every page and the JSON of a report made with the synthetic demo model say first.
pub const DEMONSTRATION_WARNING: &str = "SYNTHETIC DEMONSTRATION MODEL — not for patients";

/// The report's JSON file, in the report folder.
pub const JSON_FILE: &str = "report.json";
/// The report's HTML page, in the report folder.
pub const HTML_FILE: &str = "report.html";
/// The folder of cell thumbnails, in the report folder.
pub const CELLS_DIR: &str = "cells";
/// The folder of annotated frame snapshots, in the report folder.
pub const SNAPSHOTS_DIR: &str = "snapshots";

/// Thickness of the box outlines [`annotate`] draws, in pixels.
const OUTLINE: u64 = 3;

/// Box colours per class: the Okabe–Ito palette (told apart with the common colour-vision
/// deficiencies), its black swapped for magenta because stained nuclei are dark. The web
/// UI's `CLASS_COLOURS` (`edge-runtime/ui/common.js`) is the same list, in the same order.
const PALETTE: [[u8; 3]; 8] = [
    [230, 159, 0],
    [86, 180, 233],
    [0, 158, 115],
    [240, 228, 66],
    [0, 114, 178],
    [213, 94, 0],
    [204, 121, 167],
    [255, 0, 255],
];

/// The colour of unidentified cells: a grey, unlike every class colour.
const UNIDENTIFIED_COLOUR: [u8; 3] = [128, 128, 128];

/// Everything one slide's report says.
///
/// Serialized with a leading `"warning"` field ([`DEMONSTRATION_WARNING`]) when the model
/// is the synthetic demonstration model, so no reader of the JSON can miss it; read back
/// (the review UI re-renders the page at sign-off) that field is ignored.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct SlideReport {
    /// The slide's identifier, as the operator typed it.
    pub slide_id: String,
    /// When the report was made, as the caller formats it (RFC 3339, UTC).
    pub generated: String,
    /// The program that made it, e.g. `leukoscope-edge 0.1.0`.
    pub tool: String,
    /// Where the frames came from, e.g. `replay of /data/x, 40 files`.
    pub source: String,
    /// The model that classified the cells.
    pub model: ModelInfo,
    /// Counts, malignant share with its interval, flag and disclaimer.
    pub summary: SlideSummary,
    /// Set when most frames were rejected (the re-focus / re-stain message): the page then
    /// shows it instead of a result, and lists the counts only as "not a result".
    pub advice: Option<String>,
    /// What the quality gate made of the frames.
    pub quality: QualityStats,
    /// Every cell counted.
    pub cells: Vec<ReportCell>,
    /// Mean time per frame in each stage.
    pub timings_ms: StageTimings,
    /// The true counts of a synthetic slide (demonstration), shown beside the counts.
    pub truth: Option<Vec<ClassCount>>,
    /// The reviewer's corrections and sign-off, once a reviewer has looked at the slide.
    #[serde(default)]
    pub review: Option<ReportReview>,
}

/// A slide's review, as its report shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportReview {
    /// The counts with the reviewer's verdicts applied.
    pub counts: ReviewedCounts,
    /// Every verdict the reviewer gave: `(cell id, verdict)`.
    pub verdicts: Vec<(u32, ReviewVerdict)>,
    /// The sign-off; `None` while the review is in progress.
    pub sign_off: Option<SignOffRecord>,
}

impl Serialize for SlideReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Written by hand only to put the demonstration warning first, as a field of its
        // own, whenever the model is the demo model.
        let warning = self.model.demonstration.then_some(DEMONSTRATION_WARNING);
        let fields = 12 + usize::from(warning.is_some());
        let mut s = serializer.serialize_struct("SlideReport", fields)?;
        if let Some(warning) = warning {
            s.serialize_field("warning", warning)?;
        } else {
            s.skip_field("warning")?;
        }
        s.serialize_field("slide_id", &self.slide_id)?;
        s.serialize_field("generated", &self.generated)?;
        s.serialize_field("tool", &self.tool)?;
        s.serialize_field("source", &self.source)?;
        s.serialize_field("model", &self.model)?;
        s.serialize_field("summary", &self.summary)?;
        s.serialize_field("advice", &self.advice)?;
        s.serialize_field("quality", &self.quality)?;
        s.serialize_field("cells", &self.cells)?;
        s.serialize_field("timings_ms", &self.timings_ms)?;
        s.serialize_field("truth", &self.truth)?;
        s.serialize_field("review", &self.review)?;
        s.end()
    }
}

/// The model behind a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The model's name.
    pub name: String,
    /// The artifact's SHA-256 digest, in hex.
    pub digest: String,
    /// Who signed the artifact, `None` when it is unsigned.
    pub signed_by: Option<String>,
    /// The taxonomy's name.
    pub taxonomy: String,
    /// The weights' precision, e.g. `int8` or `f32`.
    pub precision: String,
    /// Whether this is the synthetic demonstration model; its reports then say
    /// [`DEMONSTRATION_WARNING`] prominently.
    pub demonstration: bool,
}

/// What the quality gate made of a slide's frames.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualityStats {
    /// Frames seen.
    pub frames: u32,
    /// Frames accepted and classified.
    pub accepted: u32,
    /// Frames rejected, one row per reason.
    pub rejected: Vec<RejectedCount>,
    /// Mean focus measure over the frames.
    pub mean_focus: f32,
    /// Mean fraction of clipped pixels over the frames (0 to 1).
    pub mean_clipped: f32,
}

impl QualityStats {
    /// The statistics of `tally`, with one row per [`RejectReason`] (in the order the gate
    /// tests them) carrying its count and its remedy.
    pub fn from_tally(tally: &QualityTally, mean_focus: f32, mean_clipped: f32) -> Self {
        QualityStats {
            frames: tally.frames(),
            accepted: tally.accepted,
            rejected: RejectReason::ALL
                .iter()
                .map(|&reason| RejectedCount {
                    reason: reason.to_string(),
                    remedy: reason.remedy().to_string(),
                    frames: tally.rejected_for(reason),
                })
                .collect(),
            mean_focus,
            mean_clipped,
        }
    }
}

/// Frames rejected for one reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedCount {
    /// The reason, e.g. `out of focus`.
    pub reason: String,
    /// What the operator does about it.
    pub remedy: String,
    /// Frames rejected for it.
    pub frames: u32,
}

/// One counted cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportCell {
    /// The cell's number on the slide (the tracker's id).
    pub id: u32,
    /// The frame the cell was classified in.
    pub frame: u64,
    /// The cell's box in frame pixels: `[x, y, width, height]`.
    pub bbox: [u32; 4],
    /// The class counted, `None` when the cell went to the unidentified bin.
    pub class: Option<usize>,
    /// The class's display name (or "unidentified").
    pub class_name: String,
    /// The top probability.
    pub confidence: f32,
    /// The probability of each class, in the taxonomy's order.
    pub probabilities: Vec<f32>,
    /// The thumbnail's file name under the report folder, e.g. `cells/cell-0007.png`.
    /// [`write_report`] sets it from the thumbnails it writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<String>,
}

/// Mean milliseconds per frame in each stage of the pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimings {
    /// Frames the means are over.
    pub frames: u32,
    /// Quality gate.
    pub quality: f64,
    /// Cell detection.
    pub detect: f64,
    /// Tracking across frames.
    pub track: f64,
    /// Classification.
    pub classify: f64,
    /// Journal writes.
    pub journal: f64,
    /// The whole frame, end to end.
    pub total: f64,
}

/// The image of one cell, for the report's gallery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellThumbnail {
    /// The cell's id ([`ReportCell::id`]).
    pub id: u32,
    /// The crop around the cell.
    pub image: RgbImage,
}

/// One frame with its cells' boxes drawn in (see [`annotate`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The frame's number.
    pub frame: u64,
    /// The annotated frame.
    pub image: RgbImage,
}

/// The files [`write_report`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportFiles {
    /// `report.json`.
    pub json: PathBuf,
    /// `report.html`.
    pub html: PathBuf,
    /// The snapshots' PNG files, in the order given.
    pub snapshots: Vec<PathBuf>,
}

/// A report that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file or folder could not be created, written, synced or renamed into place (a full
    /// disk, a read-only card, a path through a file). No half-written file is left under
    /// the name.
    #[error("cannot write report file {}: {source}; check that the folder is writable and the card is not full", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// An image could not be encoded as PNG (e.g. it has no pixels).
    #[error("cannot encode the {what} as PNG")]
    Encode {
        /// Which image, e.g. `thumbnail of cell 7`.
        what: String,
        /// Why.
        #[source]
        source: image::ImageError,
    },
    /// A report written earlier could not be read back.
    #[error("cannot read the report {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A report written earlier is not a report this program wrote.
    #[error("{} is not a slide report this program can read", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The report could not be encoded as JSON.
    #[error("cannot encode the report as JSON")]
    Json {
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// The colour [`annotate`] and the report use for `class`: one fixed colour per class
/// (the palette repeats after 8 classes), grey for unidentified cells.
pub fn class_colour(class: Option<usize>) -> [u8; 3] {
    match class {
        Some(i) => PALETTE[i % PALETTE.len()],
        None => UNIDENTIFIED_COLOUR,
    }
}

/// A copy of `frame` with a 3-pixel outline around each cell's box `[x, y, width, height]`
/// in its class's colour ([`class_colour`]).
///
/// The outline lies inside the box, its outer edge on the box's edge, so it never covers
/// pixels outside what the detector claimed. Boxes may lie partly or wholly outside the
/// frame; only the part inside is drawn.
pub fn annotate(frame: &RgbImage, cells: &[([u32; 4], Option<usize>)]) -> RgbImage {
    let mut out = frame.clone();
    let (width, height) = (u64::from(frame.width()), u64::from(frame.height()));
    for &([x, y, w, h], class) in cells {
        let colour = class_colour(class);
        // u64 so a box near u32::MAX cannot overflow.
        let (x0, y0) = (u64::from(x), u64::from(y));
        let (x1, y1) = (x0 + u64::from(w), y0 + u64::from(h));
        let mut paint = |from: u64, to: u64, row: u64| {
            for px in from.max(x0)..to.min(x1).min(width) {
                // In range: px < width and row < height, both from u32.
                out.put(px as u32, row as u32, colour);
            }
        };
        for row in y0..y1.min(height) {
            if row < y0 + OUTLINE || row + OUTLINE >= y1 {
                paint(x0, x1, row);
            } else {
                paint(x0, x0 + OUTLINE, row);
                paint(x1.saturating_sub(OUTLINE), x1, row);
            }
        }
    }
    out
}

/// One image encoded for the report.
struct EncodedImage {
    /// File name relative to the report folder, with `/` (as in the JSON).
    name: String,
    /// The PNG bytes.
    png: Vec<u8>,
}

/// Writes a slide's report into `dir` (created if missing): `report.json`,
/// `cells/cell-NNNN.png` for each thumbnail, `snapshots/frame-NNNNNN.png` for each
/// snapshot, and a self-contained `report.html` with every image inlined.
///
/// Each cell's [`ReportCell::thumbnail`] is set in the JSON to the file written for its id,
/// or left out when no thumbnail was given. Files are replaced atomically; on an error no
/// half-written file is left, though files finished before it stay (each whole).
pub fn write_report(
    dir: &Path,
    report: &SlideReport,
    thumbnails: &[CellThumbnail],
    snapshots: &[Snapshot],
) -> Result<ReportFiles, ReportError> {
    // Everything is encoded before anything is written, so a bad image writes nothing.
    let thumbs = thumbnails
        .iter()
        .map(|t| {
            Ok((
                t.id,
                EncodedImage {
                    name: format!("{CELLS_DIR}/{}", thumbnail_file(t.id)),
                    png: encode_png(&t.image, || format!("thumbnail of cell {}", t.id))?,
                },
            ))
        })
        .collect::<Result<Vec<_>, ReportError>>()?;
    let snaps = snapshots
        .iter()
        .map(|s| {
            Ok((
                s.frame,
                EncodedImage {
                    name: format!("{SNAPSHOTS_DIR}/{}", snapshot_file(s.frame)),
                    png: encode_png(&s.image, || format!("snapshot of frame {}", s.frame))?,
                },
            ))
        })
        .collect::<Result<Vec<_>, ReportError>>()?;

    // The JSON names exactly the thumbnails written, whatever the caller had set.
    let by_id: HashMap<u32, &EncodedImage> = thumbs.iter().map(|(id, e)| (*id, e)).collect();
    let mut report = report.clone();
    for cell in &mut report.cells {
        cell.thumbnail = by_id.get(&cell.id).map(|e| e.name.clone());
    }
    let mut json =
        serde_json::to_vec_pretty(&report).map_err(|source| ReportError::Json { source })?;
    json.push(b'\n');
    let html = render_html(&report, &by_id, &snaps);

    create_dir(dir)?;
    if !thumbs.is_empty() {
        let cells_dir = dir.join(CELLS_DIR);
        create_dir(&cells_dir)?;
        for (id, image) in &thumbs {
            write_atomic(&cells_dir, &thumbnail_file(*id), &image.png)?;
        }
        // One directory sync for all thumbnails instead of one each: the JSON that names
        // them is written only after this.
        sync_dir(&cells_dir)?;
    }
    let mut snapshot_paths = Vec::with_capacity(snaps.len());
    if !snaps.is_empty() {
        let snapshots_dir = dir.join(SNAPSHOTS_DIR);
        create_dir(&snapshots_dir)?;
        for (frame, image) in &snaps {
            let file = snapshot_file(*frame);
            write_atomic(&snapshots_dir, &file, &image.png)?;
            snapshot_paths.push(snapshots_dir.join(file));
        }
        sync_dir(&snapshots_dir)?;
    }
    // The report folder's entries for the new subfolders.
    sync_dir(dir)?;
    write_json_and_page(dir, &json, &html)?;
    Ok(ReportFiles {
        json: dir.join(JSON_FILE),
        html: dir.join(HTML_FILE),
        snapshots: snapshot_paths,
    })
}

/// Writes `report.json`, then `report.html` (the page last: it is what people open), each
/// whole and synced into the folder before the next.
fn write_json_and_page(dir: &Path, json: &[u8], html: &str) -> Result<(), ReportError> {
    write_atomic(dir, JSON_FILE, json)?;
    sync_dir(dir)?;
    write_atomic(dir, HTML_FILE, html.as_bytes())?;
    sync_dir(dir)
}

/// Now, as reports and review records write times: RFC 3339, UTC, whole seconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Reads the report in `dir` back from its `report.json`.
pub fn read_report(dir: &Path) -> Result<SlideReport, ReportError> {
    let path = dir.join(JSON_FILE);
    let bytes = fs::read(&path).map_err(|source| ReportError::Read {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| ReportError::Parse { path, source })
}

/// Rewrites the report in `dir` with `review` in it: `report.json` and `report.html`
/// again, the page with the thumbnails and snapshots already in the folder inlined as
/// before. Atomic like [`write_report`]: a power cut leaves the old report or the new one.
pub fn write_review(dir: &Path, review: ReportReview) -> Result<ReportFiles, ReportError> {
    let (report, thumbs, snaps) = with_review(dir, Some(review))?;
    let by_id: HashMap<u32, &EncodedImage> = thumbs.iter().map(|(id, e)| (*id, e)).collect();
    let mut json =
        serde_json::to_vec_pretty(&report).map_err(|source| ReportError::Json { source })?;
    json.push(b'\n');
    let html = render_html(&report, &by_id, &snaps);
    write_json_and_page(dir, &json, &html)?;
    Ok(ReportFiles {
        json: dir.join(JSON_FILE),
        html: dir.join(HTML_FILE),
        snapshots: snaps
            .iter()
            .map(|(_, image)| dir.join(&image.name))
            .collect(),
    })
}

/// The page of the report in `dir` with `review` in it (a review in progress, shown
/// without writing anything).
pub fn review_page(dir: &Path, review: Option<ReportReview>) -> Result<String, ReportError> {
    let (report, thumbs, snaps) = with_review(dir, review)?;
    let by_id: HashMap<u32, &EncodedImage> = thumbs.iter().map(|(id, e)| (*id, e)).collect();
    Ok(render_html(&report, &by_id, &snaps))
}

/// The report in `dir` read back with `review` set, and its images read from their files.
#[allow(clippy::type_complexity)]
fn with_review(
    dir: &Path,
    review: Option<ReportReview>,
) -> Result<
    (
        SlideReport,
        Vec<(u32, EncodedImage)>,
        Vec<(u64, EncodedImage)>,
    ),
    ReportError,
> {
    let mut report = read_report(dir)?;
    report.review = review;
    let read = |name: &str| {
        let path = dir.join(name);
        fs::read(&path).map_err(|source| ReportError::Read { path, source })
    };
    let thumbs = report
        .cells
        .iter()
        .filter_map(|cell| cell.thumbnail.as_ref().map(|name| (cell.id, name)))
        .map(|(id, name)| {
            Ok((
                id,
                EncodedImage {
                    name: name.clone(),
                    png: read(name)?,
                },
            ))
        })
        .collect::<Result<Vec<_>, ReportError>>()?;
    let mut snaps = Vec::new();
    if let Ok(entries) = fs::read_dir(dir.join(SNAPSHOTS_DIR)) {
        let mut frames: Vec<u64> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix("frame-")?
                    .strip_suffix(".png")?
                    .parse()
                    .ok()
            })
            .collect();
        frames.sort_unstable();
        for frame in frames {
            let name = format!("{SNAPSHOTS_DIR}/{}", snapshot_file(frame));
            let png = read(&name)?;
            snaps.push((frame, EncodedImage { name, png }));
        }
    }
    Ok((report, thumbs, snaps))
}

/// The thumbnail's file name in `cells/`.
fn thumbnail_file(id: u32) -> String {
    format!("cell-{id:04}.png")
}

/// The snapshot's file name in `snapshots/`.
fn snapshot_file(frame: u64) -> String {
    format!("frame-{frame:06}.png")
}

fn encode_png(image: &RgbImage, what: impl FnOnce() -> String) -> Result<Vec<u8>, ReportError> {
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .map_err(|source| ReportError::Encode {
            what: what(),
            source,
        })?;
    Ok(png)
}

fn create_dir(dir: &Path) -> Result<(), ReportError> {
    fs::create_dir_all(dir).map_err(|source| ReportError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// Makes renames and new entries in `dir` survive a power cut.
fn sync_dir(dir: &Path) -> Result<(), ReportError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| ReportError::Write {
            path: dir.to_path_buf(),
            source,
        })
}

/// Writes `bytes` to `dir/name` through a temporary file in the same folder (so the rename
/// cannot cross file systems), synced before the rename; the temporary file is removed on
/// any error. The caller syncs `dir` afterwards.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), ReportError> {
    let path = dir.join(name);
    let temp = dir.join(format!(".{name}.tmp"));
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temp, &path));
    written.map_err(|source| {
        // Best effort: the error to report is the write's, not the clean-up's.
        let _ = fs::remove_file(&temp);
        ReportError::Write { path, source }
    })
}

/// A string with HTML's special characters escaped, for text and attribute values.
struct Esc<'a>(&'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// A share as a percentage with one decimal.
struct Percent(f64);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1}&nbsp;%", self.0 * 100.0)
    }
}

/// A colour as CSS `#rrggbb`.
struct Css([u8; 3]);

impl fmt::Display for Css {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02x}{g:02x}{b:02x}")
    }
}

const STYLE: &str = "
body { font-family: system-ui, 'Segoe UI', 'DejaVu Sans', sans-serif; font-size: 20px;
  line-height: 1.45; margin: 1.5em auto; max-width: 70em; padding: 0 1em; color: #111; }
h1 { font-size: 1.8em; margin-bottom: 0.2em; }
h2 { font-size: 1.35em; border-bottom: 2px solid #ccc; margin-top: 1.6em; }
.meta { color: #444; }
.demo { background: #6a1b9a; color: #fff; font-size: 1.5em; font-weight: bold;
  text-align: center; padding: 0.5em; border: 4px solid #000; }
.flag { font-size: 2.2em; font-weight: bold; padding: 0.5em 0.7em; border-radius: 0.3em;
  color: #fff; margin: 0.6em 0; }
.flag-refer { background: #c62828; }
.flag-clear { background: #2e7d32; }
.flag-insufficient, .advice { background: #ef8f00; color: #111; }
.advice { font-size: 1.8em; font-weight: bold; padding: 0.5em 0.7em; border-radius: 0.3em;
  margin: 0.6em 0; }
.disclaimer { font-size: 1.2em; font-weight: bold; border: 3px solid #111; padding: 0.6em; }
.signed { font-size: 1.3em; border-left: 8px solid #2e7d32; padding-left: 0.5em; }
.unsigned, .unreviewed { font-size: 1.1em; border-left: 8px solid #ef8f00; padding-left: 0.5em; }
.not-result { color: #888; }
.not-result-label { font-weight: bold; text-transform: uppercase; color: #888; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.7em; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; border: 1px solid #000;
  vertical-align: middle; margin-right: 0.3em; }
.gallery { display: flex; flex-wrap: wrap; gap: 0.6em; }
figure { margin: 0; text-align: center; break-inside: avoid; page-break-inside: avoid; }
.gallery img { width: 96px; height: 96px; object-fit: contain; image-rendering: pixelated;
  border: 1px solid #999; }
.snapshot img { max-width: 100%; border: 1px solid #999; }
figcaption { font-size: 0.85em; }
@media print {
  body { font-size: 12pt; max-width: none; margin: 0; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .gallery img { width: 20mm; height: 20mm; }
  .snapshot { break-before: page; page-break-before: always; }
  .snapshot img { max-height: 24cm; }
}
";

/// The self-contained page. `thumbs` maps cell ids to their encoded thumbnails.
fn render_html(
    report: &SlideReport,
    thumbs: &HashMap<u32, &EncodedImage>,
    snaps: &[(u64, EncodedImage)],
) -> String {
    let mut out = String::new();
    // Writing into a String fails only when a Display impl does, and ours never do.
    write_page(&mut out, report, thumbs, snaps).expect("formatting into a String cannot fail");
    out
}

fn write_page(
    out: &mut String,
    r: &SlideReport,
    thumbs: &HashMap<u32, &EncodedImage>,
    snaps: &[(u64, EncodedImage)],
) -> fmt::Result {
    let s = &r.summary;
    let demo = r.model.demonstration;
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}leukoscope report: slide {}</title>\n<style>{STYLE}</style>\n</head>\n<body>",
        if demo { "DEMONSTRATION — " } else { "" },
        Esc(&r.slide_id)
    )?;
    if demo {
        writeln!(out, "<div class=\"demo\">{DEMONSTRATION_WARNING}</div>")?;
    }
    writeln!(
        out,
        "<h1>Slide {}</h1>\n<p class=\"meta\">Generated {} by {} · source: {}</p>",
        Esc(&r.slide_id),
        Esc(&r.generated),
        Esc(&r.tool),
        Esc(&r.source)
    )?;

    // The headline: the flag, or the advice instead of any result.
    match &r.advice {
        Some(advice) => writeln!(
            out,
            "<div class=\"advice\">No result for this slide: {}</div>",
            Esc(advice)
        )?,
        None => {
            writeln!(
                out,
                "<div class=\"flag {}\">{}{}</div>",
                flag_class(&s.flag),
                if r.review.is_some() { "Machine: " } else { "" },
                Esc(&s.flag.to_string())
            )?;
        }
    }
    writeln!(out, "<p class=\"disclaimer\">{}</p>", Esc(s.disclaimer))?;

    write_review_section(out, r)?;
    write_counts(out, r)?;
    write_model(out, &r.model)?;
    write_quality(out, &r.quality)?;
    write_gallery(out, r, thumbs)?;
    write_snapshots(out, r, snaps)?;
    write_timings(out, &r.timings_ms)?;

    if demo {
        writeln!(out, "<div class=\"demo\">{DEMONSTRATION_WARNING}</div>")?;
    }
    writeln!(
        out,
        "<p class=\"disclaimer\">{}</p>\n</body>\n</html>",
        Esc(s.disclaimer)
    )
}

fn write_counts(out: &mut String, r: &SlideReport) -> fmt::Result {
    let s = &r.summary;
    let not_result = r.advice.is_some();
    writeln!(
        out,
        "<section{}>\n<h2>Counts{}</h2>",
        if not_result {
            " class=\"not-result\""
        } else {
            ""
        },
        if not_result {
            " <span class=\"not-result-label\">(not a result)</span>"
        } else {
            ""
        }
    )?;
    let truth_total = r
        .truth
        .as_ref()
        .map(|t| t.iter().fold(0u32, |n, c| n.saturating_add(c.cells)));
    let share = |cells: u32, of: u32| -> String {
        if of == 0 {
            "—".to_string()
        } else {
            Percent(f64::from(cells) / f64::from(of)).to_string()
        }
    };
    writeln!(
        out,
        "<table>\n<tr><th>class</th><th>malignant?</th><th>cells</th><th>share of classified</th>{}</tr>",
        if r.truth.is_some() {
            "<th>ground truth (synthetic slide)</th>"
        } else {
            ""
        }
    )?;
    for (i, c) in s.counts.iter().enumerate() {
        write!(
            out,
            "<tr><td><span class=\"swatch\" style=\"background:{}\"></span>{}</td><td>{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td>",
            Css(class_colour(Some(i))),
            Esc(&c.name),
            if c.malignant { "yes" } else { "no" },
            c.cells,
            share(c.cells, s.classified)
        )?;
        if let (Some(truth), Some(total)) = (&r.truth, truth_total) {
            match truth.iter().find(|t| t.name == c.name) {
                Some(t) => write!(
                    out,
                    "<td class=\"n\">{} ({})</td>",
                    t.cells,
                    share(t.cells, total)
                )?,
                None => write!(out, "<td class=\"n\">—</td>")?,
            }
        }
        writeln!(out, "</tr>")?;
    }
    writeln!(
        out,
        "<tr><td><span class=\"swatch\" style=\"background:{}\"></span>unidentified \
         (below {} confidence, counted in no class)</td><td>—</td><td class=\"n\">{}</td>\
         <td class=\"n\">—</td>{}</tr>",
        Css(class_colour(None)),
        Percent(f64::from(s.unidentified_below)),
        s.unidentified,
        if r.truth.is_some() {
            "<td class=\"n\">—</td>"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "<tr><th>classified</th><td></td><td class=\"n\">{}</td><td></td>{}</tr>\n</table>",
        s.classified,
        match truth_total {
            Some(total) => format!("<td class=\"n\">{total}</td>"),
            None => String::new(),
        }
    )?;
    writeln!(
        out,
        "<p>Malignant share: <strong>{}</strong> of {} classified cells \
         (95&nbsp;% Wilson interval {} to {}); {} fields visited.</p>\n</section>",
        Percent(s.malignant_share),
        s.classified,
        Percent(s.wilson_95.0),
        Percent(s.wilson_95.1),
        s.fields
    )
}

/// The reviewer's counts beside the machine's, and who signed the slide off.
fn write_review_section(out: &mut String, r: &SlideReport) -> fmt::Result {
    let Some(review) = &r.review else {
        return writeln!(
            out,
            "<p class=\"unreviewed\">Not reviewed: every count below is the machine's alone.</p>"
        );
    };
    let reviewed = &review.counts.summary;
    let machine = &r.summary;
    writeln!(out, "<section class=\"review\">\n<h2>Review</h2>")?;
    match &review.sign_off {
        Some(sign) => writeln!(
            out,
            "<p class=\"signed\">Reviewed and signed off by <strong>{}</strong> at {}.</p>",
            Esc(&sign.initials),
            Esc(&sign.at)
        )?,
        None => writeln!(
            out,
            "<p class=\"unsigned\"><strong>Review in progress: not signed off.</strong></p>"
        )?,
    }
    if r.advice.is_none() {
        writeln!(
            out,
            "<div class=\"flag {}\">After review: {}</div>",
            flag_class(&reviewed.flag),
            Esc(&reviewed.flag.to_string())
        )?;
    }
    writeln!(
        out,
        "<table>\n<tr><th>class</th><th>machine count</th><th>reviewed count</th></tr>"
    )?;
    for (i, (m, c)) in machine.counts.iter().zip(&reviewed.counts).enumerate() {
        writeln!(
            out,
            "<tr><td><span class=\"swatch\" style=\"background:{}\"></span>{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            Css(class_colour(Some(i))),
            Esc(&m.name),
            m.cells,
            c.cells
        )?;
    }
    writeln!(
        out,
        "<tr><td>unidentified</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n\
         <tr><td>not a white cell (left out)</td><td class=\"n\">0</td><td class=\"n\">{}</td></tr>\n\
         <tr><th>classified</th><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n\
         <tr><th>malignant share</th><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n</table>",
        machine.unidentified,
        reviewed.unidentified,
        review.counts.excluded,
        machine.classified,
        reviewed.classified,
        Percent(machine.malignant_share),
        Percent(reviewed.malignant_share)
    )?;
    writeln!(
        out,
        "<p>The reviewer changed {} of {} cells; the machine's prediction of every cell is kept unchanged in the slide's journal.</p>\n</section>",
        review.counts.changed,
        r.cells.len()
    )
}

fn flag_class(flag: &SlideFlag) -> &'static str {
    match flag {
        SlideFlag::SuspiciousRefer { .. } => "flag-refer",
        SlideFlag::NoEvidence { .. } => "flag-clear",
        SlideFlag::Insufficient { .. } => "flag-insufficient",
    }
}

fn write_model(out: &mut String, m: &ModelInfo) -> fmt::Result {
    // 12 hex digits tell artifacts apart at a glance; the title attribute has them all.
    let short: String = m.digest.chars().take(12).collect();
    let ellipsis = if m.digest.chars().count() > 12 {
        "…"
    } else {
        ""
    };
    writeln!(
        out,
        "<h2>Model</h2>\n<table>\n<tr><th>name</th><td>{}</td></tr>\n\
         <tr><th>digest (SHA-256)</th><td><code title=\"{}\">{}{ellipsis}</code></td></tr>\n\
         <tr><th>signature</th><td>{}</td></tr>\n<tr><th>taxonomy</th><td>{}</td></tr>\n\
         <tr><th>precision</th><td>{}</td></tr>",
        Esc(&m.name),
        Esc(&m.digest),
        Esc(&short),
        match &m.signed_by {
            Some(by) if is_development_key(by) => format!(
                "signed by {} <strong>({})</strong>",
                Esc(by),
                DEVELOPMENT_KEY_WARNING
            ),
            Some(by) => format!("signed by {}", Esc(by)),
            None => "<strong>UNSIGNED</strong>".to_string(),
        },
        Esc(&m.taxonomy),
        Esc(&m.precision)
    )?;
    if m.demonstration {
        writeln!(
            out,
            "<tr><th>kind</th><td><strong>{DEMONSTRATION_WARNING}</strong></td></tr>"
        )?;
    }
    writeln!(out, "</table>")
}

fn write_quality(out: &mut String, q: &QualityStats) -> fmt::Result {
    writeln!(
        out,
        "<h2>Frame quality</h2>\n<p>{} frames seen, {} accepted; mean focus {:.1}, \
         mean clipped {}.</p>\n<table>\n<tr><th>rejected as</th><th>frames</th><th>remedy</th></tr>",
        q.frames,
        q.accepted,
        q.mean_focus,
        Percent(f64::from(q.mean_clipped))
    )?;
    for row in &q.rejected {
        writeln!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            Esc(&row.reason),
            row.frames,
            Esc(&row.remedy)
        )?;
    }
    writeln!(out, "</table>")
}

fn write_gallery(
    out: &mut String,
    r: &SlideReport,
    thumbs: &HashMap<u32, &EncodedImage>,
) -> fmt::Result {
    // `None` sorts before `Some`, so the unidentified cells come first.
    let mut groups: BTreeMap<Option<usize>, Vec<(&ReportCell, &EncodedImage)>> = BTreeMap::new();
    for cell in &r.cells {
        if let Some(image) = thumbs.get(&cell.id) {
            groups.entry(cell.class).or_default().push((cell, image));
        }
    }
    if groups.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "<h2>Cells</h2>\n<p>Grouped by class, least confident first within each: check those.</p>"
    )?;
    for (class, mut cells) in groups {
        cells.sort_by(|a, b| a.0.confidence.total_cmp(&b.0.confidence));
        let name = match class {
            None => "unidentified",
            Some(_) => cells[0].0.class_name.as_str(),
        };
        writeln!(
            out,
            "<h3><span class=\"swatch\" style=\"background:{}\"></span>{} ({})</h3>\n<div class=\"gallery\">",
            Css(class_colour(class)),
            Esc(name),
            cells.len()
        )?;
        for (cell, image) in cells {
            let [x, y, w, h] = cell.bbox;
            let reviewed = r
                .review
                .as_ref()
                .and_then(|review| review.verdicts.iter().find(|(id, _)| *id == cell.id))
                .map(|(_, verdict)| verdict.name(&r.summary.counts))
                .filter(|name| *name != cell.class_name)
                .map(|name| format!(" → <strong>{}</strong>", Esc(name)))
                .unwrap_or_default();
            writeln!(
                out,
                "<figure id=\"cell-{id}\"><img src=\"data:image/png;base64,{}\" alt=\"cell {id}\" \
                 title=\"cell {id}, frame {}, box {x},{y} {w}×{h}\"><figcaption>#{id} · {:.0}&nbsp;%{reviewed}</figcaption></figure>",
                BASE64.encode(&image.png),
                cell.frame,
                f64::from(cell.confidence) * 100.0,
                id = cell.id
            )?;
        }
        writeln!(out, "</div>")?;
    }
    Ok(())
}

fn write_snapshots(
    out: &mut String,
    r: &SlideReport,
    snaps: &[(u64, EncodedImage)],
) -> fmt::Result {
    if snaps.is_empty() {
        return Ok(());
    }
    write!(out, "<h2>Frames</h2>\n<p>Box colours: ")?;
    for (i, c) in r.summary.counts.iter().enumerate() {
        write!(
            out,
            "<span class=\"swatch\" style=\"background:{}\"></span>{} ",
            Css(class_colour(Some(i))),
            Esc(&c.name)
        )?;
    }
    writeln!(
        out,
        "<span class=\"swatch\" style=\"background:{}\"></span>unidentified</p>",
        Css(class_colour(None))
    )?;
    for (frame, image) in snaps {
        writeln!(
            out,
            "<figure class=\"snapshot\" id=\"frame-{frame}\"><img src=\"data:image/png;base64,{}\" \
             alt=\"frame {frame}\"><figcaption>frame {frame}</figcaption></figure>",
            BASE64.encode(&image.png)
        )?;
    }
    Ok(())
}

fn write_timings(out: &mut String, t: &StageTimings) -> fmt::Result {
    writeln!(
        out,
        "<h2>Timings</h2>\n<p>Mean milliseconds per frame over {} frames.</p>\n<table>",
        t.frames
    )?;
    for (stage, ms) in [
        ("quality gate", t.quality),
        ("detection", t.detect),
        ("tracking", t.track),
        ("classification", t.classify),
        ("journal", t.journal),
        ("total", t.total),
    ] {
        writeln!(out, "<tr><th>{stage}</th><td class=\"n\">{ms:.1}</td></tr>")?;
    }
    writeln!(out, "</table>")
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::scan::quality::{QualityThresholds, Verdict};
    use crate::scan::session::{DISCLAIMER, StopReason};

    const NASTY_ID: &str = "<script>alert(1)</script>";

    fn cell(id: u32, class: Option<usize>, confidence: f32) -> ReportCell {
        let class_name = match class {
            Some(0) => "lymphocyte",
            Some(1) => "lymphoblast",
            _ => "unidentified",
        };
        ReportCell {
            id,
            frame: u64::from(id) * 3,
            bbox: [id, 2 * id, 20, 22],
            class,
            class_name: class_name.to_string(),
            confidence,
            probabilities: vec![confidence, 1.0 - confidence],
            thumbnail: None,
        }
    }

    fn sample(demonstration: bool, advice: Option<&str>) -> SlideReport {
        let mut tally = QualityTally::default();
        for verdict in [
            Verdict::Accepted,
            Verdict::Accepted,
            Verdict::Rejected(RejectReason::OutOfFocus),
        ] {
            tally.record(verdict);
        }
        SlideReport {
            slide_id: "S-17".into(),
            generated: "2025-01-02T03:04:05Z".into(),
            tool: "leukoscope-edge 0.1.0".into(),
            source: "replay of /data/x, 40 files".into(),
            model: ModelInfo {
                name: "edge-s".into(),
                digest: "0123456789abcdef0123456789abcdef".into(),
                signed_by: None,
                taxonomy: "lymph-2".into(),
                precision: "int8".into(),
                demonstration,
            },
            summary: SlideSummary {
                slide_id: "S-17".into(),
                taxonomy: "lymph-2".into(),
                counts: vec![
                    ClassCount {
                        name: "lymphocyte".into(),
                        malignant: false,
                        cells: 2,
                    },
                    ClassCount {
                        name: "lymphoblast".into(),
                        malignant: true,
                        cells: 1,
                    },
                ],
                unidentified: 1,
                classified: 3,
                fields: 3,
                malignant_share: 1.0 / 3.0,
                wilson_95: (0.06, 0.79),
                unidentified_below: 0.5,
                flag: SlideFlag::Insufficient {
                    cells: 3,
                    needed: 100,
                },
                stopped: Some(StopReason::FieldLimit { fields: 3 }),
                disclaimer: DISCLAIMER,
            },
            advice: advice.map(str::to_string),
            quality: QualityStats::from_tally(&tally, 12.5, 0.01),
            cells: vec![
                cell(1, Some(0), 0.9),
                cell(2, Some(0), 0.7),
                cell(3, Some(1), 0.8),
                cell(4, None, 0.4),
            ],
            timings_ms: StageTimings {
                frames: 3,
                quality: 1.0,
                detect: 2.0,
                track: 0.5,
                classify: 4.0,
                journal: 0.2,
                total: 7.7,
            },
            truth: None,
            review: None,
        }
    }

    fn thumbnails() -> Vec<CellThumbnail> {
        (1..=4)
            .map(|id| CellThumbnail {
                id,
                image: RgbImage::filled(8, 6, [id as u8 * 40, 10, 200]),
            })
            .collect()
    }

    fn snapshot() -> Snapshot {
        let frame = RgbImage::filled(40, 30, [250, 240, 245]);
        Snapshot {
            frame: 12,
            image: annotate(
                &frame,
                &[([2, 3, 10, 10], Some(0)), ([20, 10, 12, 12], None)],
            ),
        }
    }

    #[test]
    fn a_review_rewrites_the_report_with_both_counts_and_the_reviewer() {
        use crate::records::review::{ReviewState, reviewed_counts};
        use crate::scan::session::SessionRules;
        let dir = tempfile::tempdir().unwrap();
        let report = sample(false, None);
        write_report(dir.path(), &report, &thumbnails(), &[snapshot()]).unwrap();
        let first = fs::read_to_string(dir.path().join(HTML_FILE)).unwrap();
        assert!(first.contains("Not reviewed"));

        // Read back exactly as written (the disclaimer is this program's own).
        assert_eq!(read_report(dir.path()).unwrap().summary, report.summary);

        let mut review = ReviewState::default();
        review.verdicts.insert(2, ReviewVerdict::Class(1));
        review.verdicts.insert(4, ReviewVerdict::NotACell);
        review.sign_off = Some(SignOffRecord {
            slide: "S-17".into(),
            initials: "KM".into(),
            at: "2025-01-02T04:00:00Z".into(),
        });
        let counts = reviewed_counts(
            &report.summary,
            &report.cells,
            &review,
            &SessionRules::default(),
        );
        assert_eq!(counts.summary.counts[1].cells, 2);
        assert_eq!(counts.excluded, 1);
        write_review(
            dir.path(),
            ReportReview {
                counts,
                verdicts: review.verdicts.clone().into_iter().collect(),
                sign_off: review.sign_off.clone(),
            },
        )
        .unwrap();

        let again = read_report(dir.path()).unwrap();
        let stored = again.review.expect("the review is in the JSON");
        assert_eq!(stored.sign_off.unwrap().initials, "KM");
        assert_eq!(stored.counts.summary.counts[0].cells, 1);
        // The machine's counts stay the machine's.
        assert_eq!(again.summary, report.summary);
        let html = fs::read_to_string(dir.path().join(HTML_FILE)).unwrap();
        assert!(html.contains("signed off by <strong>KM</strong>"), "{html}");
        assert!(html.contains("<th>machine count</th><th>reviewed count</th>"));
        assert!(html.contains("→ <strong>lymphoblast</strong>"));
        assert!(html.contains("→ <strong>not a cell</strong>"));
        // The thumbnails and the snapshot are still inlined.
        assert_eq!(html.matches("data:image/png;base64,").count(), 5);
        assert!(!html.contains("Not reviewed"));
    }

    #[test]
    fn reading_back_what_is_not_a_report_says_so() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_report(dir.path()),
            Err(ReportError::Read { .. })
        ));
        fs::write(dir.path().join(JSON_FILE), b"{\"slide_id\": 3}").unwrap();
        assert!(matches!(
            read_report(dir.path()),
            Err(ReportError::Parse { .. })
        ));
    }

    fn write(report: &SlideReport) -> (tempfile::TempDir, ReportFiles, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = write_report(
            &dir.path().join("out"),
            report,
            &thumbnails(),
            &[snapshot()],
        )
        .expect("report written");
        let html = fs::read_to_string(&files.html).expect("html");
        (dir, files, html)
    }

    #[test]
    fn json_round_trips_counts_flag_disclaimer_and_thumbnails() {
        let (dir, files, _) = write(&sample(false, None));
        let out = dir.path().join("out");
        assert_eq!(files.json, out.join("report.json"));
        assert_eq!(files.html, out.join("report.html"));
        assert_eq!(
            files.snapshots,
            vec![out.join("snapshots/frame-000012.png")]
        );

        let json: Value =
            serde_json::from_slice(&fs::read(&files.json).expect("json")).expect("parses");
        assert!(json.get("warning").is_none());
        assert_eq!(json["slide_id"], "S-17");
        let summary = &json["summary"];
        assert_eq!(summary["counts"][0]["name"], "lymphocyte");
        assert_eq!(summary["counts"][0]["cells"], 2);
        assert_eq!(summary["counts"][1]["cells"], 1);
        assert_eq!(summary["counts"][1]["malignant"], true);
        assert_eq!(summary["unidentified"], 1);
        assert_eq!(summary["flag"]["flag"], "insufficient");
        assert_eq!(summary["flag"]["needed"], 100);
        assert_eq!(summary["disclaimer"], DISCLAIMER);
        assert_eq!(json["quality"]["frames"], 3);
        assert_eq!(json["quality"]["rejected"][3]["reason"], "out of focus");
        assert_eq!(json["quality"]["rejected"][3]["frames"], 1);

        let cells = json["cells"].as_array().expect("cells");
        assert_eq!(cells.len(), 4);
        for (i, c) in cells.iter().enumerate() {
            let name = format!("cells/cell-{:04}.png", i + 1);
            assert_eq!(c["thumbnail"], name.as_str());
            let png = image::open(out.join(&name))
                .expect("thumbnail is a PNG")
                .to_rgb8();
            assert_eq!(png.dimensions(), (8, 6));
            assert_eq!(png.get_pixel(0, 0).0, [(i as u8 + 1) * 40, 10, 200]);
        }
        assert_eq!(cells[3]["class"], Value::Null);
        let snap = image::open(&files.snapshots[0])
            .expect("snapshot is a PNG")
            .to_rgb8();
        assert_eq!(snap.get_pixel(2, 3).0, class_colour(Some(0)));

        // No temporary file survives a good write.
        let leftovers: Vec<_> = fs::read_dir(&out)
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn json_names_only_thumbnails_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut report = sample(false, None);
        report.cells[1].thumbnail = Some("cells/made-up.png".into());
        let files = write_report(dir.path(), &report, &thumbnails()[..1], &[]).expect("written");
        let json: Value =
            serde_json::from_slice(&fs::read(&files.json).expect("json")).expect("parses");
        assert_eq!(json["cells"][0]["thumbnail"], "cells/cell-0001.png");
        assert!(json["cells"][1].get("thumbnail").is_none());
        assert!(files.snapshots.is_empty());
        assert!(!dir.path().join("snapshots").exists());
    }

    #[test]
    fn html_is_self_contained_and_says_what_matters() {
        let (dir, _, html) = write(&sample(false, None));
        for external in [
            "src=\"http",
            "href=\"http",
            "src='http",
            "href='http",
            "url(",
            "@import",
        ] {
            assert!(
                !html.contains(external),
                "page refers outside itself: {external}"
            );
        }
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(html.contains(DISCLAIMER));
        let flag = sample(false, None).summary.flag.to_string();
        assert!(html.contains(&format!(
            "<div class=\"flag flag-insufficient\">{}</div>",
            Esc(&flag)
        )));
        assert!(html.contains("@media print"));
        assert!(html.contains("UNSIGNED"));
        assert!(html.contains("title=\"0123456789abcdef0123456789abcdef\">0123456789ab…"));
        assert!(html.contains("re-focus the microscope"));
        for id in 1..=4 {
            let png =
                fs::read(dir.path().join(format!("out/cells/cell-{id:04}.png"))).expect("png");
            assert!(html.contains(&format!("data:image/png;base64,{}", BASE64.encode(&png))));
        }
        let snap = fs::read(dir.path().join("out/snapshots/frame-000012.png")).expect("png");
        assert!(html.contains(&format!("data:image/png;base64,{}", BASE64.encode(&snap))));
        assert!(!html.contains("ground truth"));
        assert!(!html.contains(DEMONSTRATION_WARNING));
    }

    #[test]
    fn gallery_puts_unidentified_first_and_doubtful_cells_first() {
        let (_, _, html) = write(&sample(false, None));
        let at = |id: u32| {
            html.find(&format!("id=\"cell-{id}\""))
                .expect("cell in gallery")
        };
        // unidentified (4), then lymphocytes by confidence (2 at 0.7, 1 at 0.9), then 3.
        assert!(at(4) < at(2), "unidentified first");
        assert!(at(2) < at(1), "least confident first");
        assert!(at(1) < at(3), "classes in taxonomy order");
        assert!(html.contains("#2 · 70&nbsp;%"));
    }

    #[test]
    fn flag_colour_follows_the_call() {
        for (flag, class) in [
            (SlideFlag::SuspiciousRefer { cells: 150 }, "flag-refer"),
            (SlideFlag::NoEvidence { cells: 150 }, "flag-clear"),
            (
                SlideFlag::Insufficient {
                    cells: 3,
                    needed: 100,
                },
                "flag-insufficient",
            ),
        ] {
            let mut report = sample(false, None);
            report.summary.flag = flag;
            let (_, _, html) = write(&report);
            assert!(html.contains(&format!(
                "class=\"flag {class}\">{}",
                Esc(&flag.to_string())
            )));
        }
    }

    #[test]
    fn user_strings_are_escaped() {
        let mut report = sample(false, None);
        report.slide_id = NASTY_ID.into();
        report.source = NASTY_ID.into();
        report.summary.counts[0].name = NASTY_ID.into();
        report.model.signed_by = Some("\"><img src=x onerror=alert(1)>".into());
        let (_, _, html) = write(&report);
        assert!(!html.contains("<script>"), "raw script tag in the page");
        assert!(!html.contains("<img src=x"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert_eq!(
            Esc("a&b<c>d\"e'f").to_string(),
            "a&amp;b&lt;c&gt;d&quot;e&#39;f"
        );
    }

    #[test]
    fn a_model_signed_with_the_development_key_says_so() {
        let mut report = sample(false, None);
        report.model.signed_by = Some(crate::io::model::DEVELOPMENT_KEY.into());
        let (_dir, _, html) = write(&report);
        assert!(
            html.contains(DEVELOPMENT_KEY_WARNING),
            "no development-key warning"
        );
        report.model.signed_by = Some("11".repeat(32));
        let (_dir, _, html) = write(&report);
        assert!(!html.contains(DEVELOPMENT_KEY_WARNING));
    }

    #[test]
    fn demonstration_banner_iff_demonstration() {
        // Bound, not `_`: the folder must outlive the reads below.
        let (_dir, files, html) = write(&sample(true, None));
        assert!(html.contains(&format!(
            "<div class=\"demo\">{DEMONSTRATION_WARNING}</div>"
        )));
        assert!(html.contains("<title>DEMONSTRATION"));
        let json: Value =
            serde_json::from_slice(&fs::read(&files.json).expect("json")).expect("parses");
        assert_eq!(json["warning"], DEMONSTRATION_WARNING);
        // First in the file, where a reader looks.
        let text = fs::read_to_string(&files.json).expect("json");
        assert!(text.find("\"warning\"") < text.find("\"slide_id\""));

        let (_dir, files, html) = write(&sample(false, None));
        assert!(!html.contains(DEMONSTRATION_WARNING));
        assert!(
            !fs::read_to_string(&files.json)
                .expect("json")
                .contains(DEMONSTRATION_WARNING)
        );
    }

    #[test]
    fn advice_replaces_the_flag() {
        let advice = "most frames are out of focus: re-focus the microscope";
        let report = sample(false, Some(advice));
        let (_, _, html) = write(&report);
        assert!(html.contains(&format!("No result for this slide: {advice}")));
        assert!(!html.contains(&Esc(&report.summary.flag.to_string()).to_string()));
        assert!(!html.contains("class=\"flag"));
        assert!(html.contains("(not a result)"));
        assert!(html.contains("<section class=\"not-result\">"));
        assert!(html.contains(DISCLAIMER));
    }

    #[test]
    fn truth_column_when_given() {
        let mut report = sample(false, None);
        report.truth = Some(vec![
            ClassCount {
                name: "lymphocyte".into(),
                malignant: false,
                cells: 3,
            },
            ClassCount {
                name: "lymphoblast".into(),
                malignant: true,
                cells: 1,
            },
        ]);
        let (_, _, html) = write(&report);
        assert!(html.contains("ground truth"));
        assert!(html.contains("<td class=\"n\">3 (75.0&nbsp;%)</td>"));
        assert!(html.contains("<td class=\"n\">1 (25.0&nbsp;%)</td>"));
    }

    #[test]
    fn quality_stats_have_a_row_per_reason() {
        let mut tally = QualityTally::default();
        tally.record(Verdict::Accepted);
        tally.record(Verdict::Rejected(RejectReason::Empty));
        tally.record(Verdict::Rejected(RejectReason::Empty));
        tally.record(Verdict::Rejected(RejectReason::Overexposed));
        let stats = QualityStats::from_tally(&tally, 3.0, 0.2);
        assert_eq!((stats.frames, stats.accepted), (4, 1));
        assert_eq!(stats.rejected.len(), RejectReason::ALL.len());
        for (row, reason) in stats.rejected.iter().zip(RejectReason::ALL) {
            assert_eq!(row.reason, reason.to_string());
            assert_eq!(row.remedy, reason.remedy());
            assert_eq!(row.frames, tally.rejected_for(reason));
        }
        assert_eq!(stats.rejected[2].frames, 2);
        assert!(tally.advice(&QualityThresholds::default()).is_none());
    }

    #[test]
    fn annotate_outlines_the_box_and_leaves_its_inside() {
        let white = [255, 255, 255];
        let frame = RgbImage::filled(40, 30, white);
        let out = annotate(&frame, &[([5, 5, 20, 15], Some(1))]);
        let colour = class_colour(Some(1));
        for (x, y) in [
            (5, 5),
            (24, 19),
            (24, 5),
            (5, 19),
            (7, 12),
            (15, 7),
            (22, 12),
            (15, 17),
        ] {
            assert_eq!(out.get(x, y), Some(colour), "edge pixel ({x}, {y})");
        }
        for (x, y) in [(15, 12), (8, 8), (21, 16), (4, 5), (25, 12), (15, 20)] {
            assert_eq!(
                out.get(x, y),
                Some(white),
                "pixel ({x}, {y}) should be untouched"
            );
        }
        assert_eq!(frame.get(5, 5), Some(white), "the input is not drawn on");
    }

    #[test]
    fn annotate_clips_boxes_outside_the_frame() {
        let white = [255, 255, 255];
        let frame = RgbImage::filled(40, 30, white);
        let out = annotate(
            &frame,
            &[
                ([30, 20, 50, 50], None),
                ([u32::MAX - 1, u32::MAX - 1, u32::MAX, u32::MAX], Some(0)),
                ([0, 0, u32::MAX, 2], Some(2)),
                ([100, 100, 5, 5], Some(3)),
                ([10, 10, 0, 0], Some(4)),
            ],
        );
        assert_eq!(out.get(30, 25), Some(class_colour(None)));
        assert_eq!(out.get(35, 20), Some(class_colour(None)));
        assert_eq!(out.get(39, 29), Some(white), "inside the clipped box");
        assert_eq!(out.get(39, 1), Some(class_colour(Some(2))));
        assert_eq!(out.get(10, 10), Some(white), "an empty box draws nothing");
    }

    #[test]
    fn class_colours_are_distinct_and_grey_for_unidentified() {
        let colours: Vec<_> = (0..8).map(|i| class_colour(Some(i))).collect();
        for (i, a) in colours.iter().enumerate() {
            assert_ne!(*a, class_colour(None));
            for b in &colours[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(class_colour(Some(8)), class_colour(Some(0)));
    }

    #[test]
    fn a_folder_under_a_file_is_a_write_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("plain-file");
        fs::write(&file, b"x").expect("file");
        let target = file.join("report");
        let err = write_report(&target, &sample(false, None), &thumbnails(), &[snapshot()])
            .expect_err("cannot create a folder under a file");
        match &err {
            ReportError::Write { path, .. } => assert_eq!(path, &target),
            other => panic!("expected Write, got {other:?}"),
        }
        assert!(err.to_string().contains(&target.display().to_string()));
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_or_partial_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A folder where report.html goes makes the final rename fail.
        let blocker = dir.path().join(HTML_FILE);
        fs::create_dir(&blocker).expect("blocker");
        fs::write(blocker.join("keep"), b"x").expect("non-empty");
        let err = write_report(dir.path(), &sample(false, None), &thumbnails(), &[])
            .expect_err("report.html is a folder");
        match &err {
            ReportError::Write { path, .. } => assert_eq!(path, &blocker),
            other => panic!("expected Write, got {other:?}"),
        }
        assert!(
            !dir.path().join(".report.html.tmp").exists(),
            "temp file left behind"
        );
        assert!(blocker.join("keep").exists());
        // What was finished before is whole.
        let json: Value =
            serde_json::from_slice(&fs::read(dir.path().join(JSON_FILE)).expect("json"))
                .expect("whole JSON");
        assert_eq!(json["slide_id"], "S-17");
    }

    #[test]
    fn an_empty_image_is_an_encode_error_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out");
        let bad = CellThumbnail {
            id: 9,
            image: RgbImage::filled(0, 0, [0, 0, 0]),
        };
        match write_report(&target, &sample(false, None), &[bad], &[]) {
            Err(ReportError::Encode { what, .. }) => assert_eq!(what, "thumbnail of cell 9"),
            other => panic!("expected Encode, got {other:?}"),
        }
        assert!(!target.exists());
    }
}
