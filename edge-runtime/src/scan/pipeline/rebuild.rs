//! A finished slide's report made again from its journal. A full disk or a power cut while
//! the report was written leaves the journal whole, with its end record, and the slide can
//! no longer be scanned; but the journal holds every counted cell, every frame's verdict
//! and the scale, so the counts, the flag and the cells come out as the scan found them.
//! What only the scan had is left out: the annotated frames and the stage timings. The
//! thumbnails are the cells' review pictures, where they were kept, and a signed-off
//! review goes in as the sign-off wrote it.

use std::io::Cursor;
use std::path::PathBuf;

use leukoscope_core::artifact::VerifiedArtifact;
use leukoscope_core::raster::RgbImage;

use super::{
    PipelineError, Resume, ScanEnd, ScanSettings, SlideScanner, THUMBNAIL_SIDE, recorded_scale,
};
use crate::records::JournalEntry;
use crate::records::journal::{Journal, JournalError};
use crate::records::layout::DataDir;
use crate::records::review::{ReviewError, ReviewLog};
use crate::report::{CellThumbnail, ReportError, ReportFiles, ReportReview, write_report};

/// Why a slide's report could not be made again.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// No journal for the slide in the data folder.
    #[error("there is no journal of slide {slide} at {}", path.display())]
    NoJournal {
        /// The slide.
        slide: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The journal has no end record: the slide was cut short, not finished.
    #[error(
        "slide {0} was not finished (its journal has no end record): scan it again with the same id to resume it"
    )]
    NotFinished(String),
    /// The journal could not be read.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The journal's records could not be counted again (another model, another slide).
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The report could not be written.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The slide's review journal could not be read.
    #[error(transparent)]
    Review(#[from] ReviewError),
}

/// Writes the report of finished slide `slide` in `data` again from its journal, with the
/// model and settings it was scanned with (the journal's own scale wins); `generated` is
/// now (RFC 3339). The journal is only read.
pub fn rebuild_report(
    data: &DataDir,
    slide: &str,
    model: &VerifiedArtifact,
    mut settings: ScanSettings,
    generated: String,
) -> Result<ReportFiles, RebuildError> {
    let path = data.journal(slide);
    if !path.is_file() {
        return Err(RebuildError::NoJournal {
            slide: slide.to_string(),
            path,
        });
    }
    let bytes = std::fs::read(&path).map_err(|source| JournalError::Open {
        path: path.clone(),
        source,
    })?;
    let mut entries = Journal::read_bytes(&bytes, &path)?;
    // A copy in memory: nothing the scanner does can touch the finished journal.
    let (journal, _) = Journal::from_storage(Cursor::new(bytes), &path)?;
    let Some(JournalEntry::SlideEnd(end)) = entries.pop() else {
        return Err(RebuildError::NotFinished(slide.to_string()));
    };
    if let Some(scale) = recorded_scale(&entries) {
        settings.set_measured_scale(scale);
    }
    // Read first: a review journal that cannot be read must not leave a report without it.
    let review = ReviewLog::read(data, slide)?;
    let rules = settings.session;
    let scanner = SlideScanner::new(slide, model, settings, journal, entries, Resume::SkipDone)?;
    let end = scanner.recorded_end(&end.reason);
    let source = format!("rebuilt from journal {}", path.display());
    let mut finished = scanner.into_finished(&end, source, generated);
    finished.thumbnails = review_pictures(data, slide, &finished.report.cells);
    // A slide signed off before its report was lost keeps its review in the report, as
    // the sign-off wrote it.
    if review.sign_off.is_some() {
        let report = &finished.report;
        finished.report.review = Some(ReportReview::of(
            &report.summary,
            &report.cells,
            &review,
            &rules,
        ));
    }
    let files = write_report(
        &data.report(slide),
        &finished.report,
        &finished.thumbnails,
        &[],
    )?;
    Ok(files)
}

impl<S: crate::records::journal::JournalStorage> SlideScanner<S> {
    /// How the slide ended, from its end record: the stop rule and the advice are worked
    /// out again from the counts (they are what decided it), the rest read from `reason`.
    fn recorded_end(&self, reason: &str) -> ScanEnd {
        if let Some(end) = self.should_stop() {
            return end;
        }
        [ScanEnd::SourceDone, ScanEnd::Operator]
            .into_iter()
            .find(|end| end.describe() == reason)
            .unwrap_or_else(|| {
                if reason.ends_with(super::UNREADABLE_ADVICE) {
                    ScanEnd::Unreadable(reason.to_string())
                } else {
                    let failed = ScanEnd::SourceFailed(String::new()).describe();
                    ScanEnd::SourceFailed(
                        reason.strip_prefix(&failed).unwrap_or(reason).to_string(),
                    )
                }
            })
    }
}

/// The cells' review pictures, shrunk to thumbnails; a cell whose picture is missing or
/// does not decode has none.
fn review_pictures(
    data: &DataDir,
    slide: &str,
    cells: &[crate::records::ReportCell],
) -> Vec<CellThumbnail> {
    let pictures = data.cell_images(slide);
    cells
        .iter()
        .filter_map(|cell| {
            let jpeg = pictures.read(cell.id).ok()?;
            let image = image::load_from_memory(&jpeg).ok()?.to_rgb8();
            let small = image::imageops::resize(
                &image,
                THUMBNAIL_SIDE,
                THUMBNAIL_SIDE,
                image::imageops::FilterType::Triangle,
            );
            Some(CellThumbnail {
                id: cell.id,
                image: RgbImage::from_raw(THUMBNAIL_SIDE, THUMBNAIL_SIDE, small.into_raw()).ok()?,
            })
        })
        .collect()
}
