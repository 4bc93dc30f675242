use super::*;
use crate::records::review::ReviewState;
use crate::scan::session::{SlideFlag, SlideSession};
use leukoscope_core::artifact::Calibration;
use leukoscope_core::familiarity::FamiliarityProfile;
use leukoscope_core::taxonomy::Taxonomy;

fn cell(id: u32, class: Option<usize>, unfamiliar: bool) -> ReportCell {
    ReportCell {
        id,
        frame: 0,
        bbox: [0, 0, 10, 10],
        class,
        class_name: String::new(),
        confidence: 0.9,
        probabilities: vec![0.25; 4],
        thumbnail: None,
        unfamiliar,
        distance: None,
        subtype: None,
    }
}

/// A machine count of `cells` (class per cell) made by a real session, so the review's
/// arithmetic is checked against the session's own.
fn machine(classes: &[Option<usize>], rules: SessionRules) -> (SlideSummary, Vec<ReportCell>) {
    let calls: Vec<_> = classes.iter().map(|&class| (class, false)).collect();
    measured(&calls, rules)
}

/// The same with cells that may be unfamiliar: `(class, unfamiliar)` per cell, the class
/// the model would have called an unfamiliar one.
fn measured(
    calls: &[(Option<usize>, bool)],
    rules: SessionRules,
) -> (SlideSummary, Vec<ReportCell>) {
    let profile = FamiliarityProfile {
        features: 1,
        whitening: vec![1.0],
        centres: vec![0.0],
        unfamiliar_above: 10.0,
    };
    let mut session = SlideSession::new(
        "s1",
        Taxonomy::b_all_4(),
        rules,
        &Calibration::default(),
        Some(&profile),
    );
    let cells = calls
        .iter()
        .enumerate()
        .map(|(i, &(class, far))| {
            let mut p = vec![0.0; 4];
            match class {
                Some(c) => p[c] = 1.0,
                None => p = vec![0.25; 4],
            }
            let distance = if far { 20.0 } else { 1.0 };
            let call = session.record_cell(&p, Some(distance)).unwrap();
            assert_eq!(call.unfamiliar, far);
            let class = class.filter(|_| !far);
            assert_eq!(call.class, class);
            cell(i as u32, class, far)
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

proptest::proptest! {
    /// Whatever the verdicts, every cell is counted exactly once (in a class, as
    /// unidentified or unfamiliar, or left out), and "changed" counts exactly the verdicts
    /// that differ from the machine's call, and every verdict on an unfamiliar cell.
    #[test]
    fn every_cell_is_counted_once_whatever_the_verdicts(
        machine_calls in proptest::collection::vec(
            (proptest::option::of(0usize..4), proptest::bool::weighted(0.2)),
            0..60,
        ),
        verdicts in proptest::collection::vec((0u32..60, 0u32..6), 0..40),
    ) {
        let (summary, cells) = measured(&machine_calls, rules());
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
            (s.classified + s.unidentified + s.unfamiliar + reviewed.excluded) as usize,
            cells.len()
        );
        let untouched_strangers = cells
            .iter()
            .filter(|c| c.unfamiliar && review.verdict(c.id).is_none())
            .count();
        proptest::prop_assert_eq!(s.unfamiliar as usize, untouched_strangers);
        let changed = cells
            .iter()
            .filter(|c| {
                review.final_verdict(c) != ReviewVerdict::of_machine(c.class)
                    || (c.unfamiliar && review.verdict(c.id).is_some())
            })
            .count();
        proptest::prop_assert_eq!(reviewed.changed as usize, changed);
        proptest::prop_assert!((0.0..=1.0).contains(&s.malignant_share));
    }
}

#[test]
fn unfamiliar_cells_stay_so_until_the_reviewer_names_them() {
    // Six strangers beside four benign cells: the machine's count ends "review by hand".
    let calls = [
        (Some(0), true),
        (Some(0), true),
        (Some(0), true),
        (Some(2), true),
        (None, true),
        (Some(0), true),
        (Some(0), false),
        (Some(0), false),
        (Some(0), false),
        (Some(0), false),
    ];
    let (summary, cells) = measured(&calls, rules());
    assert_eq!((summary.unfamiliar, summary.classified), (6, 4));
    assert!(matches!(summary.flag, SlideFlag::Unfamiliar { .. }));
    let untouched = reviewed_counts(&summary, &cells, &ReviewState::default(), &rules());
    assert_eq!(untouched.summary.unfamiliar, 6);
    assert_eq!(untouched.summary.unidentified, 0);
    assert_eq!(untouched.changed, 0);
    // The reviewer names three blasts and leaves one unidentified.
    let mut review = ReviewState::default();
    review.verdicts.insert(0, ReviewVerdict::Class(2));
    review.verdicts.insert(1, ReviewVerdict::Class(2));
    review.verdicts.insert(2, ReviewVerdict::Class(2));
    review.verdicts.insert(3, ReviewVerdict::Unidentified);
    let reviewed = reviewed_counts(&summary, &cells, &review, &rules());
    assert_eq!(counts(&reviewed.summary), vec![4, 0, 3, 0]);
    assert_eq!(
        (reviewed.summary.unfamiliar, reviewed.summary.unidentified),
        (2, 1)
    );
    assert_eq!(reviewed.changed, 4);
    // The reviewer's count takes the usual rule: it is never "unfamiliar".
    assert!(matches!(
        reviewed.summary.flag,
        SlideFlag::SuspiciousRefer { cells: 7 }
    ));
}
