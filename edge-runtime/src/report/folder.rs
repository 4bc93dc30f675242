//! A report's folder: `report.json`, `report.html`, `cells/` and `snapshots/`, written whole
//! (each file atomically, the folder synced before the page that names its files), read
//! back, and rewritten with a review.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};
use leukoscope_core::files::{self, AtomicWrite};
use leukoscope_core::raster::RgbImage;

use super::html::{EncodedImage, render_html};
use super::model::{CellThumbnail, ReportReview, SlideReport, Snapshot};

/// The report's JSON file, in the report folder.
pub const JSON_FILE: &str = "report.json";
/// The report's HTML page, in the report folder.
pub const HTML_FILE: &str = "report.html";
/// The folder of cell thumbnails, in the report folder.
pub const CELLS_DIR: &str = "cells";
/// The folder of annotated frame snapshots, in the report folder.
pub const SNAPSHOTS_DIR: &str = "snapshots";

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
    files::sync_dir(dir).map_err(|source| ReportError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes `bytes` to `dir/name` whole, synced; the caller syncs `dir` afterwards, once for
/// a batch of files.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), ReportError> {
    let path = dir.join(name);
    AtomicWrite::durable()
        .folder_synced_by_caller()
        .write(&path, bytes)
        .map_err(|source| ReportError::Write { path, source })
}
