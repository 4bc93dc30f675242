//! A slide's counts after its review: the machine's count with every verdict of the
//! reviewer applied, and the flag the same rule gives them.

use serde::{Deserialize, Serialize};

use crate::records::review::ReviewState;
use crate::records::{ReportCell, ReviewVerdict};
use crate::scan::session::{ClassCount, SessionRules, SlideSummary, slide_call};

/// What pages and reports call `verdict`, with the class names of a summary's `counts`.
pub fn verdict_name(verdict: ReviewVerdict, counts: &[ClassCount]) -> &str {
    match verdict {
        ReviewVerdict::Class(c) => counts
            .get(c as usize)
            .map_or("unknown class", |count| count.name.as_str()),
        ReviewVerdict::Unidentified => "unidentified",
        ReviewVerdict::NotACell => "not a cell",
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
    summary.unfamiliar = 0;
    // The subtypes are the subtype model's reading of the machine's blasts; a reviewer's
    // count does not type the cells it moves, so it names none.
    summary.subtype = None;
    let (mut excluded, mut changed, mut classified, mut malignant) = (0u32, 0u32, 0u32, 0u32);
    for cell in cells {
        let Some(verdict) = review.verdict(cell.id) else {
            // Left as the machine put it: an unfamiliar cell nobody looked at is still
            // one, not an unidentified one.
            match cell.class {
                Some(class) => count_class(&mut summary, class, &mut classified, &mut malignant),
                None if cell.unfamiliar => summary.unfamiliar += 1,
                None => summary.unidentified += 1,
            }
            continue;
        };
        if verdict != ReviewVerdict::of_machine(cell.class) || cell.unfamiliar {
            changed += 1;
        }
        match verdict {
            ReviewVerdict::Class(class) => count_class(
                &mut summary,
                class as usize,
                &mut classified,
                &mut malignant,
            ),
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

/// Counts one cell in `class` of `summary`.
fn count_class(
    summary: &mut SlideSummary,
    class: usize,
    classified: &mut u32,
    malignant: &mut u32,
) {
    match summary.counts.get_mut(class) {
        Some(count) => {
            count.cells += 1;
            *classified += 1;
            *malignant += u32::from(count.malignant);
        }
        // Only a record naming a class the taxonomy lacks gets here, and
        // `ReviewLog::correct` refuses those: count it where no class claims it.
        None => summary.unidentified += 1,
    }
}

#[cfg(test)]
mod tests;
