//! One slide's session: the cells counted per class, the malignant share with its 95 %
//! interval, when to stop scanning, and the slide-level flag.
//!
//! A cell the model cannot read is counted in no class: *unfamiliar* when its features lie
//! farther from the training cells than the model's familiarity profile allows (the model
//! has never seen its like, however sure it sounds), else *unidentified* when the model is
//! unsure. A slide with too many of either ends "review every cell by hand" instead of a
//! call.
//!
//! Every summary carries [`DISCLAIMER`]: the device supports a decision a trained reader
//! makes; it does not make it.

use std::fmt;

use leukoscope_core::artifact::Calibration;
use leukoscope_core::familiarity::FamiliarityProfile;
use leukoscope_core::taxonomy::Taxonomy;
use serde::{Deserialize, Serialize};

use crate::records::ReportCell;

/// Printed with every slide result, on screen and in reports.
pub const DISCLAIMER: &str = "Decision support only, not a diagnosis: every count and flag must be confirmed by a trained reader.";

/// The normal quantile for a two-sided 95 % interval.
const Z_95: f64 = 1.959_963_984_540_054;

/// When a slide is done and what it takes to flag it, as `[session]` in `board.toml` sets
/// them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionRules {
    /// Stop once this many cells are classified (default 200, the size of a manual
    /// differential count that reads a blast share to within about 5 percentage points).
    pub stop_after_cells: u32,
    /// Stop after this many fields visited, accepted by the quality gate or not, so a
    /// sparse or poor slide still ends (default 400; a monolayer yields 200 white cells in
    /// about 40 full-HD fields).
    pub max_fields: u32,
    /// Cells whose top probability is below this go to the unidentified bin. `None`
    /// (the default) takes the threshold the model was calibrated with.
    pub unidentified_below: Option<f32>,
    /// The slide is flagged for referral when the lower end of the 95 % interval of the
    /// malignant share is above this (default 0.10).
    ///
    /// Normal peripheral blood has no blasts, so the limit only has to absorb the
    /// classifier's own false calls on benign cells; 0.10 leaves room for a false-call rate
    /// of about 5 %, and using the interval's lower end means a few unlucky cells on a
    /// small count cannot raise the flag alone. The WHO's 20 % blast threshold is a
    /// diagnostic criterion for marrow; a screen should refer earlier than that.
    pub refer_above_malignant_share: f32,
    /// Fewest classified cells a slide-level call rests on (default 100, the classic
    /// manual differential); fewer and the slide is reported as insufficient.
    pub min_cells_for_call: u32,
    /// The slide ends "review every cell by hand" instead of any call when the lower end
    /// of the 95 % interval of the unidentified share (unidentified over unidentified and
    /// classified) is above this (default 0.20).
    ///
    /// A model that reads a slide as it read the slides it learnt from leaves few cells
    /// unidentified: the shipped model left 7 % and 15 % of two aria slides (its own
    /// lab); on a lab it never saw (bcd's healthy donors) it left 28 % and called 39 % of
    /// the rest malignant. When that many cells are strangers, the count of the others
    /// says nothing either way.
    pub review_by_hand_above_unidentified_share: f32,
    /// The slide ends "review every cell by hand" instead of any call when the lower end
    /// of the 95 % interval of the unfamiliar share (unfamiliar over every cell read:
    /// unfamiliar, unidentified and classified) is above this (default 0.20). Only a model
    /// with a familiarity profile, run on the CPU, finds unfamiliar cells.
    ///
    /// At a per-cell threshold that flags 5 % of held-out cells of the training labs, the
    /// distance flagged 35 to 78 % of the cells of three labs the model never saw and 0.4
    /// to 10 % of the training labs' own; slides of 100 cells with more than a fifth
    /// flagged were 99.9 to 100 % of every unseen lab's and at most 0.1 % of a training
    /// lab's (docs/results.md, "Telling a lab the model never saw"). The lower end of the
    /// interval is stricter than that share, so a familiar slide stops more rarely still.
    pub review_by_hand_above_unfamiliar_share: f32,
}

impl Default for SessionRules {
    fn default() -> Self {
        SessionRules {
            stop_after_cells: 200,
            max_fields: 400,
            unidentified_below: None,
            refer_above_malignant_share: 0.10,
            min_cells_for_call: 100,
            review_by_hand_above_unidentified_share: 0.20,
            review_by_hand_above_unfamiliar_share: 0.20,
        }
    }
}

/// A cell the session could not count.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SessionError {
    /// The model gave scores for another number of classes than the taxonomy has: the
    /// model and the taxonomy do not belong together.
    #[error("the model gave {got} scores but taxonomy {taxonomy} has {expected} classes")]
    ClassCount {
        /// Scores given.
        got: usize,
        /// Classes in the taxonomy.
        expected: usize,
        /// The taxonomy's name.
        taxonomy: String,
    },
    /// A score that is not a probability (NaN, infinite, negative or above 1).
    #[error("score {value} for class {class} is not a probability")]
    NotAProbability {
        /// Index of the class.
        class: usize,
        /// The score.
        value: f32,
    },
}

/// What the session made of one cell.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CellCall {
    /// The class counted, or `None` when the cell went to the unfamiliar or the
    /// unidentified bin.
    pub class: Option<usize>,
    /// The top probability.
    pub confidence: f32,
    /// The cell went to the unfamiliar bin: unlike the cells the model learnt from.
    pub unfamiliar: bool,
}

/// Why the session says to stop scanning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum StopReason {
    /// Enough cells classified.
    EnoughCells {
        /// Cells classified.
        cells: u32,
    },
    /// The field limit was reached.
    FieldLimit {
        /// Fields visited.
        fields: u32,
    },
    /// As many cells read as a count needs, and too many of them strangers to the model
    /// for any count: more fields would only keep the technician waiting for "review
    /// every cell by hand".
    ReviewByHand {
        /// Cells read: unfamiliar, unidentified and classified.
        read: u32,
    },
}

/// The slide-level call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "flag", rename_all = "snake_case")]
pub enum SlideFlag {
    /// The malignant share is above the referral limit beyond reasonable doubt: suspicious
    /// for ALL, refer.
    SuspiciousRefer {
        /// Classified cells the call rests on.
        cells: u32,
    },
    /// The count does not show a malignant share above the referral limit.
    NoEvidence {
        /// Classified cells the call rests on.
        cells: u32,
    },
    /// Too few classified cells for a call.
    Insufficient {
        /// Cells classified.
        cells: u32,
        /// Cells a call needs.
        needed: u32,
    },
    /// Too many cells the model could not read: the slide does not look like those it
    /// learnt from (another stain, camera or lab), so no count is given; every cell is
    /// for a reader.
    Unfamiliar {
        /// Cells left unidentified.
        unidentified: u32,
        /// Cells read: unfamiliar, unidentified and classified.
        read: u32,
        /// Cells unlike those the model learnt from (absent from reports made before they
        /// were counted).
        #[serde(default)]
        unfamiliar: u32,
    },
}

impl fmt::Display for SlideFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SlideFlag::SuspiciousRefer { cells } => {
                write!(
                    f,
                    "suspicious for ALL: refer (based on {cells} classified cells)"
                )
            }
            SlideFlag::NoEvidence { cells } => write!(
                f,
                "no evidence of ALL in this count (based on {cells} classified cells)"
            ),
            SlideFlag::Insufficient { cells, needed } => write!(
                f,
                "insufficient: {cells} classified cells, a call needs {needed}; scan more fields or another slide"
            ),
            SlideFlag::Unfamiliar {
                unidentified,
                read,
                unfamiliar: 0,
            } => write!(
                f,
                "{REVIEW_BY_HAND} ({unidentified} of {read} cells unidentified)"
            ),
            SlideFlag::Unfamiliar {
                unidentified,
                read,
                unfamiliar,
            } => write!(
                f,
                "{REVIEW_BY_HAND} ({unfamiliar} of {read} cells unfamiliar, {unidentified} unidentified)"
            ),
        }
    }
}

/// What a slide too strange to the model ends with.
const REVIEW_BY_HAND: &str =
    "these images do not look like the slides the model learnt from: review every cell by hand";

/// One class's count in a summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassCount {
    /// The class's display name.
    pub name: String,
    /// Whether the class is malignant.
    pub malignant: bool,
    /// Cells counted in it.
    pub cells: u32,
}

/// A slide's result, as the report and UI show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlideSummary {
    /// The slide's identifier.
    pub slide_id: String,
    /// The taxonomy's name.
    pub taxonomy: String,
    /// Cells per class, in the taxonomy's order.
    pub counts: Vec<ClassCount>,
    /// Cells below the confidence threshold, counted in no class.
    pub unidentified: u32,
    /// Cells farther from the training cells than the model's familiarity profile allows,
    /// counted in no class and left out of the share (absent from reports made before
    /// they were counted).
    #[serde(default)]
    pub unfamiliar: u32,
    /// Cells counted in a class.
    pub classified: u32,
    /// White cells never seen whole (cut by the frame's edge), counted in no class and
    /// left out of the share (absent from reports made before it was counted).
    #[serde(default)]
    pub partial: u32,
    /// Fields visited.
    pub fields: u32,
    /// Share of classified cells in malignant classes (0 when none are classified);
    /// unidentified cells are left out of both sides.
    pub malignant_share: f64,
    /// The share's 95 % Wilson score interval, `(low, high)`.
    pub wilson_95: (f64, f64),
    /// The confidence threshold used for the unidentified bin.
    pub unidentified_below: f32,
    /// The distance beyond which a cell went to the unfamiliar bin; `None` when no cell
    /// was measured (a model without a familiarity profile, or one run on the GPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfamiliar_above: Option<f32>,
    /// The slide-level call.
    pub flag: SlideFlag,
    /// The blasts' B-ALL subtype, when a subtype model typed them; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype: Option<SubtypeSummary>,
    /// Why scanning stopped, if it has.
    pub stopped: Option<StopReason>,
    /// The reminder that a trained reader confirms every result ([`DISCLAIMER`]); a
    /// summary read back from a report gets this program's.
    #[serde(skip_deserializing, default = "disclaimer")]
    pub disclaimer: &'static str,
}

impl SlideSummary {
    /// Characters in the longest class name counted: the width of a table's class column.
    pub fn class_name_width(&self) -> usize {
        self.counts
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0)
    }
}

fn disclaimer() -> &'static str {
    DISCLAIMER
}

/// Counts one slide's cells and fields and decides when it is done.
#[derive(Clone, Debug)]
pub struct SlideSession {
    slide_id: String,
    taxonomy: Taxonomy,
    rules: SessionRules,
    unidentified_below: f32,
    unfamiliar_above: Option<f32>,
    counts: Vec<u32>,
    unidentified: u32,
    unfamiliar: u32,
    classified: u32,
    partial: u32,
    fields: u32,
    subtypes: Option<SubtypeTally>,
}

impl SlideSession {
    /// A session for one slide. The unidentified threshold is the rules' own, or else the
    /// model's `calibration`; the unfamiliar threshold is `familiarity`'s, the profile the
    /// cells' distances are measured against (`None`: no cell is measured).
    pub fn new(
        slide_id: impl Into<String>,
        taxonomy: Taxonomy,
        rules: SessionRules,
        calibration: &Calibration,
        familiarity: Option<&FamiliarityProfile>,
    ) -> Self {
        let unidentified_below = rules
            .unidentified_below
            .unwrap_or(calibration.unidentified_below);
        SlideSession {
            slide_id: slide_id.into(),
            counts: vec![0; taxonomy.len()],
            taxonomy,
            rules,
            unidentified_below,
            unfamiliar_above: familiarity.map(|p| p.unfamiliar_above),
            unidentified: 0,
            unfamiliar: 0,
            classified: 0,
            partial: 0,
            fields: 0,
            subtypes: None,
        }
    }

    /// The session with a subtype model: the cells counted in a malignant class are typed
    /// by a second model of `taxonomy` (its malignant classes are the subtypes), a call
    /// below the `calibration`'s confidence threshold leaving a blast untyped.
    pub fn with_subtypes(mut self, taxonomy: Taxonomy, calibration: &Calibration) -> Self {
        self.subtypes = Some(SubtypeTally {
            counts: vec![0; taxonomy.len()],
            taxonomy,
            unidentified_below: calibration.unidentified_below,
            undetermined: 0,
        });
        self
    }

    /// Types one cell from the subtype model's probabilities (after calibration, in its
    /// taxonomy's order), given what [`record_cell`](Self::record_cell) made of it. Only a
    /// cell counted in a malignant class is typed; the others, and every cell of a session
    /// without a subtype model, count nowhere (`Ok(None)`). A typed blast is counted in its
    /// subtype, or as undetermined when the subtype model calls it benign or is unsure.
    pub fn record_subtype(
        &mut self,
        call: &CellCall,
        probabilities: &[f32],
    ) -> Result<Option<Subtyped>, SessionError> {
        let Some(tally) = &mut self.subtypes else {
            return Ok(None);
        };
        let counted_malignant = call
            .class
            .is_some_and(|class| self.taxonomy.classes[class].malignant);
        if !counted_malignant {
            return Ok(None);
        }
        let (top, confidence) = top_class(probabilities, &tally.taxonomy)?;
        if confidence < tally.unidentified_below || !tally.taxonomy.classes[top].malignant {
            tally.undetermined = tally.undetermined.saturating_add(1);
            return Ok(Some(Subtyped::Undetermined));
        }
        tally.counts[top] = tally.counts[top].saturating_add(1);
        Ok(Some(Subtyped::Class(top)))
    }

    /// Counts one cell from the model's class probabilities (after calibration), in the
    /// taxonomy's order, and its distance to the training cells when it was measured. A
    /// cell beyond the unfamiliar threshold (or at a distance that is not a number) goes
    /// to the unfamiliar bin, whatever its probabilities; else a cell whose top probability
    /// is below the threshold goes to the unidentified bin. Scores that do not fit the
    /// taxonomy or are not probabilities are refused and count nowhere.
    pub fn record_cell(
        &mut self,
        probabilities: &[f32],
        distance: Option<f32>,
    ) -> Result<CellCall, SessionError> {
        let (top, confidence) = top_class(probabilities, &self.taxonomy)?;
        // Before the confidence: a stranger's confidence says nothing about it.
        if let (Some(above), Some(distance)) = (self.unfamiliar_above, distance) {
            // `FamiliarityProfile::is_unfamiliar`'s rule, on the threshold alone.
            if distance.is_nan() || distance > above {
                self.unfamiliar = self.unfamiliar.saturating_add(1);
                return Ok(CellCall {
                    class: None,
                    confidence,
                    unfamiliar: true,
                });
            }
        }
        if confidence < self.unidentified_below {
            self.unidentified = self.unidentified.saturating_add(1);
            return Ok(CellCall {
                class: None,
                confidence,
                unfamiliar: false,
            });
        }
        self.counts[top] = self.counts[top].saturating_add(1);
        self.classified = self.classified.saturating_add(1);
        Ok(CellCall {
            class: Some(top),
            confidence,
            unfamiliar: false,
        })
    }

    /// Counts one white cell never seen whole: in no class, and not towards the stop rule.
    pub fn record_partial(&mut self) {
        self.partial = self.partial.saturating_add(1);
    }

    /// Counts one field visited, whether or not the quality gate accepted it.
    pub fn record_field(&mut self) {
        self.fields = self.fields.saturating_add(1);
    }

    /// Whether to stop scanning, and why; enough cells wins over the field limit. A slide
    /// whose cells the model cannot read stops once it has read as many as a count needs
    /// (`stop_after_cells`), if they already end it "review every cell by hand".
    pub fn should_stop(&self) -> Option<StopReason> {
        let unread = self.unread();
        let read = unread.read();
        if self.classified >= self.rules.stop_after_cells {
            Some(StopReason::EnoughCells {
                cells: self.classified,
            })
        } else if read >= self.rules.stop_after_cells && unfamiliar(unread, &self.rules).is_some() {
            Some(StopReason::ReviewByHand { read })
        } else if self.fields >= self.rules.max_fields {
            Some(StopReason::FieldLimit {
                fields: self.fields,
            })
        } else {
            None
        }
    }

    fn unread(&self) -> Unread {
        Unread {
            unfamiliar: self.unfamiliar,
            unidentified: self.unidentified,
            classified: self.classified,
        }
    }

    /// The slide's result so far.
    pub fn summary(&self) -> SlideSummary {
        let malignant: u32 = self
            .taxonomy
            .classes
            .iter()
            .zip(&self.counts)
            .filter(|(class, _)| class.malignant)
            .map(|(_, &n)| n)
            .fold(0, u32::saturating_add);
        let n = self.classified;
        let SlideCall {
            malignant_share,
            wilson_95,
            flag,
        } = slide_call(malignant, n, &self.rules);
        let flag = unfamiliar(self.unread(), &self.rules).unwrap_or(flag);
        let subtype = self.subtypes.as_ref().map(|tally| tally.summary(&flag));
        SlideSummary {
            slide_id: self.slide_id.clone(),
            taxonomy: self.taxonomy.name.clone(),
            counts: self
                .taxonomy
                .classes
                .iter()
                .zip(&self.counts)
                .map(|(class, &cells)| ClassCount {
                    name: class.name.clone(),
                    malignant: class.malignant,
                    cells,
                })
                .collect(),
            unidentified: self.unidentified,
            unfamiliar: self.unfamiliar,
            classified: n,
            partial: self.partial,
            fields: self.fields,
            malignant_share,
            wilson_95,
            unidentified_below: self.unidentified_below,
            unfamiliar_above: self.unfamiliar_above,
            flag,
            subtype,
            stopped: self.should_stop(),
            disclaimer: DISCLAIMER,
        }
    }
}

/// The top class of `probabilities` and its probability, once they are checked to be one
/// probability per class of `taxonomy`. The first of equal tops wins, so the same scores
/// always give the same class.
pub(crate) fn top_class(
    probabilities: &[f32],
    taxonomy: &Taxonomy,
) -> Result<(usize, f32), SessionError> {
    if probabilities.len() != taxonomy.len() || probabilities.is_empty() {
        return Err(SessionError::ClassCount {
            got: probabilities.len(),
            expected: taxonomy.len(),
            taxonomy: taxonomy.name.clone(),
        });
    }
    if let Some((class, &value)) = probabilities
        .iter()
        .enumerate()
        .find(|&(_, &p)| !(0.0..=1.0).contains(&p))
    {
        return Err(SessionError::NotAProbability { class, value });
    }
    Ok(probabilities
        .iter()
        .copied()
        .enumerate()
        .fold((0, probabilities[0]), |best, (i, p)| {
            if p > best.1 { (i, p) } else { best }
        }))
}

/// Fewest blasts a subtype is named on. The call is the subtype most of them have, and on
/// fewer than ten a single cell moves that share by more than ten points.
pub const MIN_BLASTS_FOR_SUBTYPE: u32 = 10;

/// What the subtype model made of one blast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subtyped {
    /// Counted in this class of the subtype model's taxonomy (a malignant one).
    Class(usize),
    /// The subtype model called it benign, or was unsure of it.
    Undetermined,
}

/// The blasts typed by the subtype model so far.
#[derive(Clone, Debug)]
struct SubtypeTally {
    taxonomy: Taxonomy,
    unidentified_below: f32,
    counts: Vec<u32>,
    undetermined: u32,
}

impl SubtypeTally {
    /// The tally as a report shows it, with the call `flag` allows: a subtype is named
    /// only on a slide referred for ALL.
    fn summary(&self, flag: &SlideFlag) -> SubtypeSummary {
        let counts: Vec<ClassCount> = self
            .taxonomy
            .classes
            .iter()
            .zip(&self.counts)
            .filter(|(class, _)| class.malignant)
            .map(|(class, &cells)| ClassCount {
                name: class.name.clone(),
                malignant: true,
                cells,
            })
            .collect();
        let blasts = counts
            .iter()
            .map(|c| c.cells)
            .fold(self.undetermined, u32::saturating_add);
        // The first of equal counts: a tie is no majority anyway.
        let leader = counts
            .iter()
            .fold(None::<&ClassCount>, |best, c| match best {
                Some(b) if b.cells >= c.cells => Some(b),
                _ => Some(c),
            });
        let call = match (flag, leader) {
            (SlideFlag::SuspiciousRefer { .. }, _) if blasts < MIN_BLASTS_FOR_SUBTYPE => {
                SubtypeCall::TooFew {
                    blasts,
                    needed: MIN_BLASTS_FOR_SUBTYPE,
                }
            }
            (SlideFlag::SuspiciousRefer { .. }, Some(leader))
                if u64::from(leader.cells) * 2 > u64::from(blasts) =>
            {
                SubtypeCall::Named {
                    subtype: leader.name.clone(),
                    cells: leader.cells,
                    blasts,
                }
            }
            (SlideFlag::SuspiciousRefer { .. }, _) => SubtypeCall::Mixed { blasts },
            _ => SubtypeCall::NotReferred,
        };
        SubtypeSummary {
            taxonomy: self.taxonomy.name.clone(),
            counts,
            undetermined: self.undetermined,
            call,
        }
    }
}

/// The blasts' subtypes on a slide, as the report shows them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubtypeSummary {
    /// The subtype model's taxonomy.
    pub taxonomy: String,
    /// Blasts per subtype: the subtype model's malignant classes, in its taxonomy's order.
    pub counts: Vec<ClassCount>,
    /// Blasts the subtype model called benign or was unsure of.
    pub undetermined: u32,
    /// Which subtype the report names.
    pub call: SubtypeCall,
}

/// The subtype a slide's report names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum SubtypeCall {
    /// Most of the blasts (more than half, undetermined ones included) are of one subtype.
    Named {
        /// The subtype's display name.
        subtype: String,
        /// Blasts of that subtype.
        cells: u32,
        /// Blasts typed, undetermined ones included.
        blasts: u32,
    },
    /// No subtype holds most of the blasts.
    Mixed {
        /// Blasts typed, undetermined ones included.
        blasts: u32,
    },
    /// Too few blasts to name a subtype.
    TooFew {
        /// Blasts typed, undetermined ones included.
        blasts: u32,
        /// Blasts a subtype is named on ([`MIN_BLASTS_FOR_SUBTYPE`]).
        needed: u32,
    },
    /// The slide is not referred for ALL, so no subtype is named: a few false blasts on a
    /// normal slide would otherwise name one.
    NotReferred,
}

impl SubtypeSummary {
    /// The blasts per subtype in one line: "Early Pre-B 2, Pre-B 31, Pro-B 5, undetermined 10".
    pub fn counts_line(&self) -> String {
        let mut parts: Vec<String> = self
            .counts
            .iter()
            .map(|c| format!("{} {}", c.name, c.cells))
            .collect();
        parts.push(format!(
            "{} {}",
            ReportCell::UNDETERMINED,
            self.undetermined
        ));
        parts.join(", ")
    }
}

impl fmt::Display for SubtypeCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubtypeCall::Named {
                subtype,
                cells,
                blasts,
            } => write!(f, "{subtype} ({cells} of {blasts} blasts typed)"),
            SubtypeCall::Mixed { blasts } => write!(
                f,
                "not determined: no subtype holds most of the {blasts} blasts typed"
            ),
            SubtypeCall::TooFew { blasts, needed } => write!(
                f,
                "not determined: {blasts} blasts typed, a subtype is named on {needed}"
            ),
            SubtypeCall::NotReferred => write!(f, "not named: the slide is not referred"),
        }
    }
}

/// The malignant share of a count, its interval and the flag it raises.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlideCall {
    /// Share of classified cells in malignant classes (0 when none are classified).
    pub malignant_share: f64,
    /// The share's 95 % Wilson score interval, `(low, high)`.
    pub wilson_95: (f64, f64),
    /// The slide-level call.
    pub flag: SlideFlag,
}

/// The call `rules` make of `malignant` cells out of `classified`: the one rule for the
/// machine's count and for a reviewer's corrected count alike.
pub fn slide_call(malignant: u32, classified: u32, rules: &SessionRules) -> SlideCall {
    let n = classified;
    let malignant_share = if n == 0 {
        0.0
    } else {
        f64::from(malignant.min(n)) / f64::from(n)
    };
    let wilson_95 = wilson_interval(malignant, n, Z_95);
    let flag = if n < rules.min_cells_for_call {
        SlideFlag::Insufficient {
            cells: n,
            needed: rules.min_cells_for_call,
        }
    } else if wilson_95.0 > f64::from(rules.refer_above_malignant_share) {
        SlideFlag::SuspiciousRefer { cells: n }
    } else {
        SlideFlag::NoEvidence { cells: n }
    };
    SlideCall {
        malignant_share,
        wilson_95,
        flag,
    }
}

/// A machine count's cells by how far the model could read them.
#[derive(Clone, Copy, Debug)]
struct Unread {
    unfamiliar: u32,
    unidentified: u32,
    classified: u32,
}

impl Unread {
    /// Every cell read: unfamiliar, unidentified and classified.
    fn read(self) -> u32 {
        self.unfamiliar
            .saturating_add(self.unidentified)
            .saturating_add(self.classified)
    }
}

/// The flag a slide gets when too many of its cells are strangers to the model, whatever
/// the count of the others says: too many unfamiliar among all it read, or too many
/// unidentified among those it knew. Only the machine's count takes it: a reviewer's
/// count has had every cell looked at.
fn unfamiliar(cells: Unread, rules: &SessionRules) -> Option<SlideFlag> {
    let Unread {
        unfamiliar,
        unidentified,
        classified,
    } = cells;
    let known = unidentified.saturating_add(classified);
    let read = cells.read();
    // `wilson_interval` gives a lower end of 0 for 0 trials, never above a limit.
    let above = |part, whole, limit: f32| wilson_interval(part, whole, Z_95).0 > f64::from(limit);
    let strange = above(
        unfamiliar,
        read,
        rules.review_by_hand_above_unfamiliar_share,
    ) || above(
        unidentified,
        known,
        rules.review_by_hand_above_unidentified_share,
    );
    strange.then_some(SlideFlag::Unfamiliar {
        unidentified,
        read,
        unfamiliar,
    })
}

/// The Wilson score interval for `successes` out of `trials` at normal quantile `z`,
/// clamped to `[0, 1]`; `(0, 1)` when there are no trials.
///
/// Wilson rather than the plain normal interval because that one collapses to a point at
/// 0 and at 1 successes, exactly the counts a screen sees most.
pub fn wilson_interval(successes: u32, trials: u32, z: f64) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 1.0);
    }
    let n = f64::from(trials);
    let p = f64::from(successes.min(trials)) / n;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = z / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // Clamping also guards the ends against rounding (p = 1 must give exactly 1).
    let low = if successes == 0 {
        0.0
    } else {
        (centre - half).clamp(0.0, p)
    };
    let high = if successes >= trials {
        1.0
    } else {
        (centre + half).clamp(p, 1.0)
    };
    (low, high)
}

#[cfg(test)]
mod tests;
