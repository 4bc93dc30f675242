//! The data folder: where a slide's journal, review journal, report and cell pictures go.
//!
//! One layout for the board (`storage.dir` in `board.toml`) and for the data folders of
//! `demo` and `replay` (`--out`), so every command that reads slides back (the UI,
//! `export-corrections`) finds them in the same place:
//!
//! ```text
//! <data>/slides/<slide>.journal    every classified cell, appended and synced
//! <data>/slides/<slide>.review     the reviewer's verdicts and sign-off
//! <data>/reports/<slide>/          report.json, report.html, cells/, snapshots/
//! <data>/cells/<slide>/            the picture of every counted cell
//! ```

use std::io;
use std::path::{Path, PathBuf};

use super::cell_images::CellImages;

/// Extension of a slide's journal.
pub const JOURNAL_EXTENSION: &str = "journal";

/// Extension of a slide's review journal.
pub const REVIEW_EXTENSION: &str = "review";

/// A data folder: the root every slide's files hang from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data folder at `root` (nothing is created until a slide writes).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of the slides' journals and review journals.
    pub fn journals(&self) -> PathBuf {
        self.root.join("slides")
    }

    /// The journal of `slide`.
    pub fn journal(&self, slide: &str) -> PathBuf {
        self.journals().join(format!("{slide}.{JOURNAL_EXTENSION}"))
    }

    /// The review journal of `slide`.
    pub fn review_journal(&self, slide: &str) -> PathBuf {
        self.journals().join(format!("{slide}.{REVIEW_EXTENSION}"))
    }

    /// The folder the slides' report folders are made in.
    pub fn reports(&self) -> PathBuf {
        self.root.join("reports")
    }

    /// The report folder of `slide`.
    pub fn report(&self, slide: &str) -> PathBuf {
        self.reports().join(slide)
    }

    /// The folder of the slides' cell pictures.
    pub fn cells(&self) -> PathBuf {
        self.root.join("cells")
    }

    /// The cell pictures of `slide`.
    pub fn cell_images(&self, slide: &str) -> CellImages {
        CellImages::new(&self.cells(), slide)
    }

    /// The slide journals (`<slide>.journal`) in the folder, newest first.
    pub fn slide_journals(&self) -> io::Result<Vec<SlideJournalFile>> {
        let mut found: Vec<SlideJournalFile> = std::fs::read_dir(self.journals())?
            .flatten()
            .filter_map(|entry| {
                let path = entry.path();
                if path.extension().and_then(|e| e.to_str()) != Some(JOURNAL_EXTENSION) {
                    return None;
                }
                Some(SlideJournalFile {
                    slide: path.file_stem()?.to_str()?.to_string(),
                    modified: entry.metadata().and_then(|m| m.modified()).ok()?,
                    path,
                })
            })
            .collect();
        found.sort_by(|a, b| b.modified.cmp(&a.modified).then(b.slide.cmp(&a.slide)));
        Ok(found)
    }
}

/// Whether `id` may name a slide. Slide ids become file names (the journal, the report
/// folder, the cell pictures): letters, digits, `-`, `_` and `.` only, 1 to 64 of them,
/// not starting with `.`, so no id reaches outside the storage folder and none is a name.
pub fn is_slide_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A slide's journal file in a data folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlideJournalFile {
    /// The slide (the file's name without `.journal`).
    pub slide: String,
    /// The file.
    pub path: PathBuf,
    /// When it was last written.
    pub modified: std::time::SystemTime,
}

#[cfg(test)]
mod tests;
