//! The reviewer's pass over a slide: a verdict on any counted cell and a sign-off, kept in
//! a review journal beside the slide's own, and the counts and flag they give.
//!
//! The review journal (`<slide>.review`) has the cell journal's format and guarantees
//! (append-only, each record synced before it counts, a torn tail cut off on opening) but
//! its own file: the machine's journal keeps a single writer, the scanner, and is never
//! touched once the slide ends, so the original prediction of every cell stays exactly as
//! it was recorded. A later verdict on the same cell supersedes an earlier one; both stay
//! in the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::records::journal::{Journal, JournalEntry, JournalError};
use crate::report::ReportCell;
use crate::scan::session::{ClassCount, SessionRules, SlideSummary, slide_call};

/// The review journal's file extension.
pub const REVIEW_EXTENSION: &str = "review";

/// Longest initials a sign-off takes.
pub const MAX_INITIALS: usize = 8;

/// What the reviewer says a counted cell is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewVerdict {
    /// A class of the slide's taxonomy, by index.
    Class(u32),
    /// The reviewer cannot tell either: the unidentified bin.
    Unidentified,
    /// Not a white cell (debris, stain, a smudge): left out of every count.
    NotACell,
}

impl ReviewVerdict {
    /// The verdict as the machine's call of a cell: its class, or unidentified.
    pub fn of_machine(class: Option<usize>) -> Self {
        class.map_or(ReviewVerdict::Unidentified, |c| {
            ReviewVerdict::Class(c as u32)
        })
    }

    /// What pages and reports call it, with the class names of a summary's `counts`.
    pub fn name(self, counts: &[ClassCount]) -> &str {
        match self {
            ReviewVerdict::Class(c) => counts
                .get(c as usize)
                .map_or("unknown class", |count| count.name.as_str()),
            ReviewVerdict::Unidentified => "unidentified",
            ReviewVerdict::NotACell => "not a cell",
        }
    }
}

/// A reviewer's verdict on one cell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrectionRecord {
    /// The slide.
    pub slide: String,
    /// The cell's id on the slide ([`ReportCell::id`]).
    pub cell: u32,
    /// What the reviewer says it is.
    pub verdict: ReviewVerdict,
    /// When (RFC 3339, UTC).
    pub at: String,
}

/// A reviewer's sign-off of a slide.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignOffRecord {
    /// The slide.
    pub slide: String,
    /// The reviewer's initials (never a name: see [`Initials`]).
    pub initials: String,
    /// When (RFC 3339, UTC).
    pub at: String,
}

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
    /// The review journal of `slide` in the journal folder `dir`.
    pub fn path(dir: &Path, slide: &str) -> PathBuf {
        dir.join(format!("{slide}.{REVIEW_EXTENSION}"))
    }

    /// Opens (creating it if absent) the review journal of `slide` in `dir`.
    pub fn open(dir: &Path, slide: &str) -> Result<Self, ReviewError> {
        let path = Self::path(dir, slide);
        std::fs::create_dir_all(dir).map_err(|source| JournalError::Open {
            path: dir.to_path_buf(),
            source,
        })?;
        let (journal, _) = Journal::open(&path)?;
        let state = Self::read(dir, slide)?;
        Ok(ReviewLog {
            slide: slide.to_string(),
            path,
            journal,
            state,
        })
    }

    /// What the review journal of `slide` in `dir` holds, without creating or repairing it
    /// (none yet: an empty review).
    pub fn read(dir: &Path, slide: &str) -> Result<ReviewState, ReviewError> {
        let path = Self::path(dir, slide);
        let mut state = ReviewState::default();
        if !path.exists() {
            return Ok(state);
        }
        for entry in Journal::read_all(&path)? {
            state.apply(entry, slide, &path)?;
        }
        Ok(state)
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

/// A slide's counts after its review.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewedCounts {
    /// The counts, share and flag with every verdict applied (fields and the stop reason
    /// are the machine's).
    pub summary: SlideSummary,
    /// Cells the reviewer said are not white cells, left out of every count.
    pub excluded: u32,
    /// Cells whose final verdict differs from the machine's call.
    pub changed: u32,
}

/// The machine's count `machine` of `cells` with the reviewer's verdicts in `review`
/// applied, the flag decided by `rules` as for the machine's count.
pub fn reviewed_counts(
    machine: &SlideSummary,
    cells: &[ReportCell],
    review: &ReviewState,
    rules: &SessionRules,
) -> ReviewedCounts {
    let mut summary = machine.clone();
    for count in &mut summary.counts {
        count.cells = 0;
    }
    summary.unidentified = 0;
    let (mut excluded, mut changed, mut classified, mut malignant) = (0u32, 0u32, 0u32, 0u32);
    for cell in cells {
        let verdict = review.final_verdict(cell);
        if verdict != ReviewVerdict::of_machine(cell.class) {
            changed += 1;
        }
        match verdict {
            ReviewVerdict::Class(class) => match summary.counts.get_mut(class as usize) {
                Some(count) => {
                    count.cells += 1;
                    classified += 1;
                    malignant += u32::from(count.malignant);
                }
                // Only a record naming a class the taxonomy lacks gets here, and
                // `ReviewLog::correct` refuses those: count it where no class claims it.
                None => summary.unidentified += 1,
            },
            ReviewVerdict::Unidentified => summary.unidentified += 1,
            ReviewVerdict::NotACell => excluded += 1,
        }
    }
    let call = slide_call(malignant, classified, rules);
    summary.classified = classified;
    summary.malignant_share = call.malignant_share;
    summary.wilson_95 = call.wilson_95;
    summary.flag = call.flag;
    ReviewedCounts {
        summary,
        excluded,
        changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::session::{SlideFlag, SlideSession};
    use leukoscope_core::artifact::Calibration;
    use leukoscope_core::taxonomy::Taxonomy;

    fn cell(id: u32, class: Option<usize>) -> ReportCell {
        ReportCell {
            id,
            frame: 0,
            bbox: [0, 0, 10, 10],
            class,
            class_name: String::new(),
            confidence: 0.9,
            probabilities: vec![0.25; 4],
            thumbnail: None,
        }
    }

    /// A machine count of `cells` (class per cell) made by a real session, so the review's
    /// arithmetic is checked against the session's own.
    fn machine(classes: &[Option<usize>], rules: SessionRules) -> (SlideSummary, Vec<ReportCell>) {
        let mut session =
            SlideSession::new("s1", Taxonomy::b_all_4(), rules, &Calibration::default());
        let cells = classes
            .iter()
            .enumerate()
            .map(|(i, &class)| {
                let mut p = vec![0.0; 4];
                match class {
                    Some(c) => p[c] = 1.0,
                    None => p = vec![0.25; 4],
                }
                let call = session.record_cell(&p).unwrap();
                assert_eq!(call.class, class);
                cell(i as u32, class)
            })
            .collect();
        (session.summary(), cells)
    }

    fn counts(s: &SlideSummary) -> Vec<u32> {
        s.counts.iter().map(|c: &ClassCount| c.cells).collect()
    }

    fn rules() -> SessionRules {
        SessionRules {
            unidentified_below: Some(0.5),
            min_cells_for_call: 4,
            ..SessionRules::default()
        }
    }

    #[test]
    fn with_no_verdicts_the_reviewed_count_is_the_machines() {
        let (summary, cells) = machine(&[Some(0), Some(0), Some(2), None, Some(1)], rules());
        let reviewed = reviewed_counts(&summary, &cells, &ReviewState::default(), &rules());
        assert_eq!(reviewed.summary, summary);
        assert_eq!((reviewed.excluded, reviewed.changed), (0, 0));
    }

    #[test]
    fn verdicts_move_cells_between_classes_and_change_the_flag() {
        // Ten benign cells: no evidence. The reviewer calls five of them Pre-B blasts and
        // one debris: the flag must follow the corrected count, not the machine's.
        let (summary, cells) = machine(&[Some(0); 10], rules());
        assert!(matches!(summary.flag, SlideFlag::NoEvidence { cells: 10 }));
        let mut review = ReviewState::default();
        for id in 0..5 {
            review.verdicts.insert(id, ReviewVerdict::Class(2));
        }
        review.verdicts.insert(5, ReviewVerdict::NotACell);
        review.verdicts.insert(6, ReviewVerdict::Class(0)); // agrees with the machine
        let reviewed = reviewed_counts(&summary, &cells, &review, &rules());
        assert_eq!(counts(&reviewed.summary), vec![4, 0, 5, 0]);
        assert_eq!(reviewed.summary.classified, 9);
        assert_eq!(reviewed.excluded, 1);
        assert_eq!(reviewed.changed, 6);
        assert!((reviewed.summary.malignant_share - 5.0 / 9.0).abs() < 1e-12);
        assert!(matches!(
            reviewed.summary.flag,
            SlideFlag::SuspiciousRefer { cells: 9 }
        ));
        // The machine's record is untouched.
        assert_eq!(counts(&summary), vec![10, 0, 0, 0]);
    }

    #[test]
    fn an_unidentified_cell_can_be_named_and_a_named_one_unidentified() {
        let (summary, cells) = machine(&[None, Some(3)], rules());
        let mut review = ReviewState::default();
        review.verdicts.insert(0, ReviewVerdict::Class(1));
        review.verdicts.insert(1, ReviewVerdict::Unidentified);
        let reviewed = reviewed_counts(&summary, &cells, &review, &rules());
        assert_eq!(counts(&reviewed.summary), vec![0, 1, 0, 0]);
        assert_eq!(reviewed.summary.unidentified, 1);
        assert_eq!(reviewed.changed, 2);
    }

    #[test]
    fn corrections_and_sign_off_survive_reopening_and_later_verdicts_win() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut log = ReviewLog::open(dir.path(), "s1").unwrap();
            log.correct(3, ReviewVerdict::Class(1), 10, 4, "t1".into())
                .unwrap();
            log.correct(3, ReviewVerdict::NotACell, 10, 4, "t2".into())
                .unwrap();
            log.correct(7, ReviewVerdict::Unidentified, 10, 4, "t3".into())
                .unwrap();
        }
        let mut log = ReviewLog::open(dir.path(), "s1").unwrap();
        assert_eq!(log.state().verdict(3), Some(ReviewVerdict::NotACell));
        assert_eq!(log.state().verdict(7), Some(ReviewVerdict::Unidentified));
        assert_eq!(log.state().verdict(0), None);
        // Every verdict stays in the file: the earlier one is superseded, not overwritten.
        assert_eq!(Journal::read_all(log.file()).unwrap().len(), 3);

        log.sign_off(&Initials::parse("A.B").unwrap(), true, "t4".into())
            .unwrap();
        let state = ReviewLog::read(dir.path(), "s1").unwrap();
        assert_eq!(state.sign_off.as_ref().unwrap().initials, "A.B");
        assert_eq!(state.verdicts.len(), 2);
    }

    #[test]
    fn bad_requests_are_refused_and_record_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = ReviewLog::open(dir.path(), "s1").unwrap();
        assert!(matches!(
            log.correct(10, ReviewVerdict::Class(0), 10, 4, "t".into()),
            Err(ReviewError::UnknownCell {
                cell: 10,
                cells: 10,
                ..
            })
        ));
        assert!(matches!(
            log.correct(0, ReviewVerdict::Class(4), 10, 4, "t".into()),
            Err(ReviewError::UnknownClass {
                class: 4,
                classes: 4
            })
        ));
        let initials = Initials::parse("AB").unwrap();
        assert!(matches!(
            log.sign_off(&initials, false, "t".into()),
            Err(ReviewError::StillScanning { .. })
        ));
        assert_eq!(Journal::read_all(log.file()).unwrap().len(), 0);

        log.sign_off(&initials, true, "t".into()).unwrap();
        assert!(matches!(
            log.correct(0, ReviewVerdict::Class(0), 10, 4, "t".into()),
            Err(ReviewError::SignedOff { .. })
        ));
        assert!(matches!(
            log.sign_off(&initials, true, "t".into()),
            Err(ReviewError::SignedOff { .. })
        ));
        assert_eq!(Journal::read_all(log.file()).unwrap().len(), 1);
    }

    #[test]
    fn a_review_journal_of_another_slide_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        ReviewLog::open(dir.path(), "s1")
            .unwrap()
            .correct(0, ReviewVerdict::Class(0), 1, 4, "t".into())
            .unwrap();
        std::fs::rename(
            ReviewLog::path(dir.path(), "s1"),
            ReviewLog::path(dir.path(), "s2"),
        )
        .unwrap();
        assert!(matches!(
            ReviewLog::read(dir.path(), "s2"),
            Err(ReviewError::Foreign { .. })
        ));
        assert!(ReviewLog::read(dir.path(), "s3").unwrap() == ReviewState::default());
    }

    proptest::proptest! {
        /// Whatever the verdicts, every cell is counted exactly once (in a class, as
        /// unidentified, or left out), and "changed" counts exactly the verdicts that
        /// differ from the machine's call.
        #[test]
        fn every_cell_is_counted_once_whatever_the_verdicts(
            machine_calls in proptest::collection::vec(proptest::option::of(0usize..4), 0..60),
            verdicts in proptest::collection::vec((0u32..60, 0u32..6), 0..40),
        ) {
            let (summary, cells) = machine(&machine_calls, rules());
            let mut review = ReviewState::default();
            for (cell, v) in verdicts {
                if (cell as usize) < cells.len() {
                    let verdict = match v {
                        4 => ReviewVerdict::Unidentified,
                        5 => ReviewVerdict::NotACell,
                        c => ReviewVerdict::Class(c),
                    };
                    review.verdicts.insert(cell, verdict);
                }
            }
            let reviewed = reviewed_counts(&summary, &cells, &review, &rules());
            let s = &reviewed.summary;
            proptest::prop_assert_eq!(counts(s).iter().sum::<u32>(), s.classified);
            proptest::prop_assert_eq!(
                (s.classified + s.unidentified + reviewed.excluded) as usize,
                cells.len()
            );
            let changed = cells
                .iter()
                .filter(|c| review.final_verdict(c) != ReviewVerdict::of_machine(c.class))
                .count();
            proptest::prop_assert_eq!(reviewed.changed as usize, changed);
            proptest::prop_assert!((0.0..=1.0).contains(&s.malignant_share));
        }
    }

    #[test]
    fn initials_are_letters_only() {
        for good in ["A", "AB", "a.b.", "J-P", " KM "] {
            assert!(Initials::parse(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "-AB", "Anne Marie", "ABCDEFGHI", "A1", "<b>", "ÅB"] {
            assert!(Initials::parse(bad).is_err(), "{bad}");
        }
    }
}
