//! Replay of a folder of frame files: for tests, and for slides scanned elsewhere.
//!
//! Files play in natural name order (`frame2.png` before `frame10.png`), because scanners
//! and cameras rarely zero-pad their counters. A file that will not decode is reported and
//! counted, never a reason to stop: one corrupt frame should not cost a whole slide.

use std::cmp::Ordering;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use leukoscope_core::files::load_rgb;

use super::clock::{Clock, Pacer, SystemClock};
use super::{Frame, FrameSource, Rate, SourceError};

/// File name endings the frame decoder reads (compared without regard to case).
const FRAME_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "bmp", "tif", "tiff"];

/// Frames replayed from the image files of one folder (not its subfolders).
#[derive(Debug)]
pub struct ReplaySource<C: Clock = SystemClock> {
    folder: PathBuf,
    files: Vec<PathBuf>,
    next: usize,
    ignored: usize,
    skipped: usize,
    pacer: Pacer,
    clock: C,
}

impl ReplaySource {
    /// Lists `folder`'s frame files. Hidden files and files that are not images by their
    /// name (notes, checksums) are left out and counted in [`ReplaySource::ignored`].
    pub fn open(folder: &Path, rate: Rate) -> Result<Self, SourceError> {
        Self::with_clock(folder, rate, SystemClock)
    }
}

impl<C: Clock> ReplaySource<C> {
    /// As [`ReplaySource::open`], waiting on `clock` (tests pass a fake one).
    pub fn with_clock(folder: &Path, rate: Rate, clock: C) -> Result<Self, SourceError> {
        let listing_error = |cause| SourceError::Folder {
            path: folder.to_owned(),
            cause,
        };
        let mut names: Vec<OsString> = Vec::new();
        let mut ignored = 0;
        for entry in std::fs::read_dir(folder).map_err(listing_error)? {
            let entry = entry.map_err(listing_error)?;
            // Follows links, as a scanner's export folder may be a folder of links.
            let is_file = std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file());
            if !is_file {
                continue;
            }
            let name = entry.file_name();
            if is_frame_name(Path::new(&name)) {
                names.push(name);
            } else {
                ignored += 1;
            }
        }
        names.sort_by(|a, b| {
            natural_order(&a.to_string_lossy(), &b.to_string_lossy()).then_with(|| a.cmp(b))
        });
        Ok(ReplaySource {
            folder: folder.to_owned(),
            files: names.into_iter().map(|n| folder.join(n)).collect(),
            next: 0,
            ignored,
            skipped: 0,
            pacer: Pacer::new(rate),
            clock,
        })
    }

    /// The frame files, in the order they play.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Files left out of the replay because their names are not images'.
    pub fn ignored(&self) -> usize {
        self.ignored
    }

    /// Frame files skipped so far because they would not decode.
    pub fn skipped(&self) -> usize {
        self.skipped
    }
}

impl<C: Clock> FrameSource for ReplaySource<C> {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let Some(path) = self.files.get(self.next) else {
            return Ok(None);
        };
        let index = self.next as u64;
        // Moves on before decoding, so a bad file is passed over on the next call.
        self.next += 1;
        self.pacer.wait(&self.clock);
        let image = load_rgb(path).inspect_err(|_| self.skipped += 1)?;
        Ok(Some(Frame {
            index,
            image,
            captured: self.clock.now(),
            origin: path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            stage_um: None,
        }))
    }

    fn describe(&self) -> String {
        let rate = match self.pacer.rate() {
            Rate::Unlimited => "as fast as possible".to_owned(),
            Rate::Every(interval) => format!("at {:.1} frames/s", 1.0 / interval.as_secs_f64()),
        };
        format!(
            "replay of {} ({} frames, {rate})",
            self.folder.display(),
            self.files.len()
        )
    }
}

fn is_frame_name(name: &Path) -> bool {
    let hidden = name.to_string_lossy().starts_with('.');
    let extension = name.extension().map(|e| e.to_string_lossy().to_lowercase());
    !hidden && extension.is_some_and(|e| FRAME_EXTENSIONS.contains(&e.as_str()))
}

/// Compares names the way people read them: runs of digits by their value
/// (`frame2` < `frame10`), everything else character by character. Equal values with
/// different zero padding (`f01`, `f1`) order the shorter first, so the order is total.
pub fn natural_order(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    let mut padding = Ordering::Equal;
    loop {
        let (Some(ca), Some(cb)) = (a.chars().next(), b.chars().next()) else {
            return a.len().cmp(&b.len()).then(padding);
        };
        if ca.is_ascii_digit() && cb.is_ascii_digit() {
            let (da, rest_a) = split_digits(a);
            let (db, rest_b) = split_digits(b);
            let (va, vb) = (da.trim_start_matches('0'), db.trim_start_matches('0'));
            // Longer runs of significant digits are larger numbers; equal lengths compare
            // digit by digit, with no overflow on long counters.
            match va.len().cmp(&vb.len()).then_with(|| va.cmp(vb)) {
                Ordering::Equal => {
                    padding = padding.then(da.len().cmp(&db.len()));
                    (a, b) = (rest_a, rest_b);
                }
                unequal => return unequal,
            }
        } else if ca != cb {
            return ca.cmp(&cb);
        } else {
            (a, b) = (&a[ca.len_utf8()..], &b[cb.len_utf8()..]);
        }
    }
}

fn split_digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

#[cfg(test)]
mod tests;
