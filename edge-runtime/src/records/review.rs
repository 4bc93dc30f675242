//! The reviewer's pass over a slide: a verdict on any counted cell and a sign-off, kept in
//! a review journal beside the slide's own. The counts they give are the report's
//! ([`crate::report::reviewed`]).
//!
//! The review journal (`<slide>.review`) has the cell journal's format and guarantees
//! (append-only, each record synced before it counts, a torn tail cut off on opening) but
//! its own file: the machine's journal keeps a single writer, the scanner, and is never
//! touched once the slide ends, so the original prediction of every cell stays exactly as
//! it was recorded. A later verdict on the same cell supersedes an earlier one; both stay
//! in the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::counted_cell::ReportCell;
use super::entry::{CorrectionRecord, JournalEntry, ReviewVerdict, SignOffRecord};
use super::journal::{Journal, JournalError};
use super::layout::DataDir;

/// Longest initials a sign-off takes.
pub const MAX_INITIALS: usize = 8;

/// A reviewer's initials: 1 to [`MAX_INITIALS`] ASCII letters, with `.` or `-` between
/// them. Initials, not a name, so the board stores no one's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Initials(String);

impl Initials {
    /// Checks `text` (surrounding spaces ignored).
    pub fn parse(text: &str) -> Result<Self, ReviewError> {
        let text = text.trim();
        let ok = (1..=MAX_INITIALS).contains(&text.len())
            && text.starts_with(|c: char| c.is_ascii_alphabetic())
            && text
                .chars()
                .all(|c| c.is_ascii_alphabetic() || c == '.' || c == '-');
        if ok {
            Ok(Initials(text.to_string()))
        } else {
            Err(ReviewError::BadInitials(text.chars().take(40).collect()))
        }
    }

    /// The initials.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a review could not be read or recorded.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The review journal could not be opened, read or appended to.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The cell is not on the slide.
    #[error("slide {slide} has no cell {cell} (its cells are numbered 0 to {last})", last = cells.saturating_sub(1))]
    UnknownCell {
        /// The slide.
        slide: String,
        /// The cell asked for.
        cell: u32,
        /// Cells on the slide.
        cells: u32,
    },
    /// The class is not in the slide's taxonomy.
    #[error("there is no class {class}: the slide's taxonomy has {classes} classes")]
    UnknownClass {
        /// The class asked for.
        class: u32,
        /// Classes in the taxonomy.
        classes: usize,
    },
    /// The slide was signed off: its review is closed.
    #[error(
        "slide {slide} was signed off by {initials} at {at}; a signed-off review is not changed"
    )]
    SignedOff {
        /// The slide.
        slide: String,
        /// Who signed it off.
        initials: String,
        /// When.
        at: String,
    },
    /// A slide still being scanned cannot be signed off.
    #[error("slide {slide} is still being scanned; sign it off once it has finished")]
    StillScanning {
        /// The slide.
        slide: String,
    },
    /// Initials that are not initials.
    #[error(
        "initials must be 1 to {MAX_INITIALS} letters (with '.' or '-' between them), not {0:?}"
    )]
    BadInitials(String),
    /// The review journal holds a record that does not belong in it.
    #[error("review journal {} holds {what}; it was left untouched: is it the right folder?", path.display())]
    Foreign {
        /// The file.
        path: PathBuf,
        /// What was found.
        what: String,
    },
}

/// What the reviewer has said about a slide so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReviewState {
    /// The latest verdict on each cell the reviewer touched.
    pub verdicts: BTreeMap<u32, ReviewVerdict>,
    /// The sign-off, once given.
    pub sign_off: Option<SignOffRecord>,
}

impl ReviewState {
    fn apply(&mut self, entry: JournalEntry, slide: &str, path: &Path) -> Result<(), ReviewError> {
        let foreign = |what: String| ReviewError::Foreign {
            path: path.to_path_buf(),
            what,
        };
        match entry {
            JournalEntry::Correction(c) if c.slide == slide => {
                self.verdicts.insert(c.cell, c.verdict);
            }
            JournalEntry::SignOff(s) if s.slide == slide => self.sign_off = Some(s),
            JournalEntry::Correction(CorrectionRecord { slide: other, .. })
            | JournalEntry::SignOff(SignOffRecord { slide: other, .. }) => {
                return Err(foreign(format!("a record of slide {other}")));
            }
            _ => return Err(foreign("a record of the cell journal".to_string())),
        }
        Ok(())
    }

    /// What a review journal's `bytes` say of `slide` (the file at `path`, named in
    /// errors): a record of another slide or of the cell journal is refused.
    pub fn from_journal(bytes: &[u8], slide: &str, path: &Path) -> Result<Self, ReviewError> {
        let mut state = ReviewState::default();
        for entry in Journal::read_bytes(bytes, path)? {
            state.apply(entry, slide, path)?;
        }
        Ok(state)
    }

    /// The reviewer's verdict on `cell`, if they gave one.
    pub fn verdict(&self, cell: u32) -> Option<ReviewVerdict> {
        self.verdicts.get(&cell).copied()
    }

    /// What counts for `cell` after the review: the reviewer's verdict, else the machine's
    /// call.
    pub fn final_verdict(&self, cell: &ReportCell) -> ReviewVerdict {
        self.verdict(cell.id)
            .unwrap_or_else(|| ReviewVerdict::of_machine(cell.class))
    }
}

/// A slide's review journal, open for the reviewer's records.
#[derive(Debug)]
pub struct ReviewLog {
    slide: String,
    path: PathBuf,
    journal: Journal,
    state: ReviewState,
}

impl ReviewLog {
    /// Opens (creating it if absent) the review journal of `slide` in the data folder.
    pub fn open(data: &DataDir, slide: &str) -> Result<Self, ReviewError> {
        let path = data.review_journal(slide);
        let dir = data.journals();
        std::fs::create_dir_all(&dir).map_err(|source| JournalError::Open { path: dir, source })?;
        let (journal, _) = Journal::open(&path)?;
        let state = Self::read(data, slide)?;
        Ok(ReviewLog {
            slide: slide.to_string(),
            path,
            journal,
            state,
        })
    }

    /// What the review journal of `slide` in the data folder holds, without creating or
    /// repairing it (none yet: an empty review).
    pub fn read(data: &DataDir, slide: &str) -> Result<ReviewState, ReviewError> {
        let path = data.review_journal(slide);
        if !path.exists() {
            return Ok(ReviewState::default());
        }
        let bytes = std::fs::read(&path).map_err(|source| JournalError::Open {
            path: path.clone(),
            source,
        })?;
        ReviewState::from_journal(&bytes, slide, &path)
    }

    /// The review so far.
    pub fn state(&self) -> &ReviewState {
        &self.state
    }

    /// The review journal's file.
    pub fn file(&self) -> &Path {
        &self.path
    }

    /// Records the reviewer's `verdict` on `cell` of a slide with `cells` cells and
    /// `classes` classes; it counts once this returns. Refused after the sign-off.
    pub fn correct(
        &mut self,
        cell: u32,
        verdict: ReviewVerdict,
        cells: u32,
        classes: usize,
        at: String,
    ) -> Result<(), ReviewError> {
        self.refuse_if_signed()?;
        if cell >= cells {
            return Err(ReviewError::UnknownCell {
                slide: self.slide.clone(),
                cell,
                cells,
            });
        }
        if let ReviewVerdict::Class(class) = verdict
            && class as usize >= classes
        {
            return Err(ReviewError::UnknownClass { class, classes });
        }
        self.journal
            .append(&JournalEntry::Correction(CorrectionRecord {
                slide: self.slide.clone(),
                cell,
                verdict,
                at,
            }))?;
        self.state.verdicts.insert(cell, verdict);
        Ok(())
    }

    /// Records the sign-off of a finished slide by `initials`; once this returns the review
    /// is closed.
    pub fn sign_off(
        &mut self,
        initials: &Initials,
        finished: bool,
        at: String,
    ) -> Result<(), ReviewError> {
        self.refuse_if_signed()?;
        if !finished {
            return Err(ReviewError::StillScanning {
                slide: self.slide.clone(),
            });
        }
        let record = SignOffRecord {
            slide: self.slide.clone(),
            initials: initials.as_str().to_string(),
            at,
        };
        self.journal
            .append(&JournalEntry::SignOff(record.clone()))?;
        self.state.sign_off = Some(record);
        Ok(())
    }

    fn refuse_if_signed(&self) -> Result<(), ReviewError> {
        match &self.state.sign_off {
            Some(s) => Err(ReviewError::SignedOff {
                slide: self.slide.clone(),
                initials: s.initials.clone(),
                at: s.at.clone(),
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
