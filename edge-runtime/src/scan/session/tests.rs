use proptest::prelude::*;

use super::*;

fn close(actual: (f64, f64), expected: (f64, f64)) -> bool {
    (actual.0 - expected.0).abs() < 1e-5 && (actual.1 - expected.1).abs() < 1e-5
}

#[test]
fn wilson_matches_hand_computed_values() {
    // (k, n, low, high), from centre = (p + z²/2n) / (1 + z²/n) and
    // half = z / (1 + z²/n) * sqrt(p(1-p)/n + z²/4n²) with z = 1.959964.
    for (k, n, low, high) in [
        (0, 10, 0.0, 0.27753),
        (5, 10, 0.23659, 0.76341),
        (10, 10, 0.72247, 1.0),
        (20, 200, 0.06567, 0.14941),
        (1, 1, 0.20655, 1.0),
    ] {
        let got = wilson_interval(k, n, Z_95);
        assert!(close(got, (low, high)), "{k}/{n}: {got:?}");
    }
    assert_eq!(wilson_interval(0, 0, Z_95), (0.0, 1.0));
}

proptest! {
    #[test]
    fn wilson_brackets_the_share(trials in 1u32..100_000, k in 0u32..100_000) {
        let k = k % (trials + 1);
        let p = f64::from(k) / f64::from(trials);
        let (low, high) = wilson_interval(k, trials, Z_95);
        prop_assert!((0.0..=1.0).contains(&low) && (0.0..=1.0).contains(&high));
        prop_assert!(low <= p && p <= high, "{low} {p} {high}");
    }
}

fn session(rules: SessionRules) -> SlideSession {
    SlideSession::new(
        "slide-7",
        Taxonomy::b_all_4(),
        rules,
        &Calibration {
            temperature: 1.0,
            unidentified_below: 0.6,
        },
        None,
    )
}

/// A profile of one feature whose cells are unfamiliar beyond `above`.
fn profile(above: f32) -> FamiliarityProfile {
    FamiliarityProfile {
        features: 1,
        whitening: vec![1.0],
        centres: vec![0.0],
        unfamiliar_above: above,
    }
}

/// A session whose cells farther than 10 from the training cells are unfamiliar.
fn measured(rules: SessionRules) -> SlideSession {
    SlideSession::new(
        "slide-7",
        Taxonomy::b_all_4(),
        rules,
        &Calibration {
            temperature: 1.0,
            unidentified_below: 0.6,
        },
        Some(&profile(10.0)),
    )
}

/// A cell as near the training cells as most of them.
const NEAR: Option<f32> = Some(3.0);
/// A cell far from every training cell.
const FAR: Option<f32> = Some(40.0);

/// A confident call for `class` of the four.
fn sure(class: usize) -> [f32; 4] {
    let mut p = [0.02; 4];
    p[class] = 0.94;
    p
}

#[test]
fn unsure_cells_go_to_the_unidentified_bin() {
    let mut s = session(SessionRules::default());
    assert_eq!(
        s.record_cell(&[0.5, 0.3, 0.1, 0.1], None),
        Ok(CellCall {
            class: None,
            confidence: 0.5,
            unfamiliar: false,
        })
    );
    assert_eq!(s.record_cell(&sure(2), None).map(|c| c.class), Ok(Some(2)));
    // The calibration's threshold applies unless the rules set their own.
    let mut strict = session(SessionRules {
        unidentified_below: Some(0.95),
        ..SessionRules::default()
    });
    assert_eq!(
        strict.record_cell(&sure(2), None).map(|c| c.class),
        Ok(None)
    );

    let summary = s.summary();
    assert_eq!((summary.unidentified, summary.classified), (1, 1));
    assert_eq!(summary.counts[2].cells, 1);
    assert_eq!(summary.counts[2].name, "Pre-B");
    assert_eq!(summary.unidentified_below, 0.6);
}

#[test]
fn scores_that_do_not_fit_are_refused_and_not_counted() {
    let mut s = session(SessionRules::default());
    assert!(matches!(
        s.record_cell(&[0.5, 0.5], None),
        Err(SessionError::ClassCount {
            got: 2,
            expected: 4,
            ..
        })
    ));
    assert!(matches!(
        s.record_cell(&[f32::NAN, 0.9, 0.0, 0.0], None),
        Err(SessionError::NotAProbability { class: 0, .. })
    ));
    assert!(s.record_cell(&[0.1, 1.5, 0.0, 0.0], None).is_err());
    let summary = s.summary();
    assert_eq!((summary.unidentified, summary.classified), (0, 0));
}

#[test]
fn stops_after_enough_cells_or_fields() {
    let rules = SessionRules {
        stop_after_cells: 5,
        max_fields: 3,
        ..SessionRules::default()
    };
    let mut by_cells = session(rules);
    by_cells.record_field();
    for _ in 0..4 {
        by_cells.record_cell(&sure(0), None).expect("valid scores");
    }
    // Unidentified cells do not count towards the stop.
    by_cells
        .record_cell(&[0.4, 0.4, 0.1, 0.1], None)
        .expect("valid scores");
    assert_eq!(by_cells.should_stop(), None);
    by_cells.record_cell(&sure(0), None).expect("valid scores");
    assert_eq!(
        by_cells.should_stop(),
        Some(StopReason::EnoughCells { cells: 5 })
    );

    let mut by_fields = session(rules);
    by_fields.record_cell(&sure(1), None).expect("valid scores");
    by_fields.record_field();
    by_fields.record_field();
    assert_eq!(by_fields.should_stop(), None);
    by_fields.record_field();
    assert_eq!(
        by_fields.should_stop(),
        Some(StopReason::FieldLimit { fields: 3 })
    );
    assert_eq!(
        by_fields.summary().stopped,
        Some(StopReason::FieldLimit { fields: 3 })
    );
}

/// A session with `benign` Benign cells and `malignant` Pre-B cells.
fn counted(benign: u32, malignant: u32) -> SlideSummary {
    let mut s = session(SessionRules::default());
    for _ in 0..benign {
        s.record_cell(&sure(0), None).expect("valid scores");
    }
    for _ in 0..malignant {
        s.record_cell(&sure(2), None).expect("valid scores");
    }
    s.summary()
}

#[test]
fn flag_follows_the_interval_and_the_count() {
    // 40 of 200: share 0.20, interval about (0.151, 0.261), low end above 0.10.
    let high = counted(160, 40);
    assert_eq!(high.flag, SlideFlag::SuspiciousRefer { cells: 200 });
    assert!((high.malignant_share - 0.2).abs() < 1e-12);
    assert!(high.wilson_95.0 > 0.15 && high.wilson_95.1 < 0.27);

    // 20 of 200: share 0.10, but its interval reaches down to 0.066.
    assert_eq!(counted(180, 20).flag, SlideFlag::NoEvidence { cells: 200 });
    assert_eq!(counted(200, 0).flag, SlideFlag::NoEvidence { cells: 200 });

    // All malignant, but on too few cells for a call.
    assert_eq!(
        counted(0, 60).flag,
        SlideFlag::Insufficient {
            cells: 60,
            needed: 100
        }
    );
    let empty = counted(0, 0);
    assert_eq!((empty.malignant_share, empty.wilson_95), (0.0, (0.0, 1.0)));
    assert!(matches!(
        empty.flag,
        SlideFlag::Insufficient { cells: 0, .. }
    ));
}

#[test]
fn a_slide_of_mostly_unfamiliar_cells_is_for_review_by_hand_never_clear() {
    // 60 of 200 cells unidentified (30 %, interval from 0.24): no call on the other 140,
    // however clear they look.
    let mut s = session(SessionRules::default());
    for _ in 0..140 {
        s.record_cell(&sure(0), None).expect("valid scores");
    }
    for _ in 0..60 {
        s.record_cell(&[0.4, 0.2, 0.2, 0.2], None)
            .expect("valid scores");
    }
    let summary = s.summary();
    assert_eq!(
        summary.flag,
        SlideFlag::Unfamiliar {
            unidentified: 60,
            read: 200,
            unfamiliar: 0,
        }
    );
    assert!(
        summary
            .flag
            .to_string()
            .contains("review every cell by hand")
    );
    let json = serde_json::to_value(&summary).expect("summary serializes");
    assert_eq!(json["flag"]["flag"], "unfamiliar");
    // It outranks a referral and an insufficient count alike.
    for _ in 0..100 {
        s.record_cell(&sure(2), None).expect("valid scores");
        s.record_cell(&[0.4, 0.2, 0.2, 0.2], None)
            .expect("valid scores");
    }
    assert!(matches!(s.summary().flag, SlideFlag::Unfamiliar { .. }));
    let mut few = session(SessionRules::default());
    for _ in 0..20 {
        few.record_cell(&[0.4, 0.2, 0.2, 0.2], None)
            .expect("valid scores");
    }
    assert!(matches!(few.summary().flag, SlideFlag::Unfamiliar { .. }));
    // As many unidentified as the model's own lab leaves (15 %, interval up to 0.20 from
    // 0.11): the count stands.
    let mut familiar = session(SessionRules::default());
    for k in 0..200 {
        let scores = if k % 20 < 3 {
            [0.4, 0.2, 0.2, 0.2]
        } else {
            sure(0)
        };
        familiar.record_cell(&scores, None).expect("valid scores");
    }
    assert_eq!(
        familiar.summary().flag,
        SlideFlag::NoEvidence { cells: 170 }
    );
    // A reader's corrected count is never unfamiliar: every cell was looked at.
    assert!(matches!(
        slide_call(0, 200, &SessionRules::default()).flag,
        SlideFlag::NoEvidence { .. }
    ));
}

#[test]
fn every_output_says_a_reader_must_confirm() {
    let summary = counted(160, 40);
    assert!(summary.disclaimer.contains("trained reader"));
    let json = serde_json::to_value(&summary).expect("summary serializes");
    assert_eq!(json["disclaimer"], DISCLAIMER);
    assert_eq!(json["flag"]["flag"], "suspicious_refer");
    assert_eq!(json["flag"]["cells"], 200);
    assert_eq!(json["counts"][2]["name"], "Pre-B");
    assert!(
        SlideFlag::SuspiciousRefer { cells: 200 }
            .to_string()
            .contains("refer (based on 200 classified cells)")
    );
}

#[test]
fn rules_read_from_config_with_defaults_for_missing_keys() {
    let rules: SessionRules =
        serde_json::from_str(r#"{"stop_after_cells": 300, "unidentified_below": 0.7}"#)
            .expect("valid rules");
    assert_eq!(rules.stop_after_cells, 300);
    assert_eq!(rules.unidentified_below, Some(0.7));
    assert_eq!(rules.min_cells_for_call, 100);
    assert!(serde_json::from_str::<SessionRules>(r#"{"stop_after": 3}"#).is_err());
}

#[test]
fn an_unfamiliar_cell_is_counted_in_no_class_however_sure_the_model_is() {
    let mut s = measured(SessionRules::default());
    let call = s.record_cell(&sure(2), FAR).expect("valid scores");
    assert_eq!(
        call,
        CellCall {
            class: None,
            confidence: 0.94,
            unfamiliar: true,
        }
    );
    // Unsure and far: a stranger first.
    assert!(
        s.record_cell(&[0.4, 0.2, 0.2, 0.2], FAR)
            .expect("valid")
            .unfamiliar
    );
    // Near: counted as ever, by its confidence.
    assert_eq!(s.record_cell(&sure(2), NEAR).expect("valid").class, Some(2));
    let unsure = s.record_cell(&[0.4, 0.2, 0.2, 0.2], NEAR).expect("valid");
    assert_eq!((unsure.class, unsure.unfamiliar), (None, false));
    // At the threshold is still familiar; a distance that is not a number is not.
    assert!(
        !s.record_cell(&sure(0), Some(10.0))
            .expect("valid")
            .unfamiliar
    );
    assert!(
        s.record_cell(&sure(0), Some(f32::NAN))
            .expect("valid")
            .unfamiliar
    );
    assert!(
        s.record_cell(&sure(0), Some(f32::INFINITY))
            .expect("valid")
            .unfamiliar
    );
    // No distance measured (the GPU): counted by its confidence.
    assert_eq!(s.record_cell(&sure(2), None).expect("valid").class, Some(2));

    let summary = s.summary();
    assert_eq!(
        (summary.unfamiliar, summary.unidentified, summary.classified),
        (4, 1, 3)
    );
    // Neither in a class nor in the malignant share: two Pre-B of three classified.
    assert_eq!(summary.counts[2].cells, 2);
    assert_eq!(summary.counts[0].cells, 1);
    assert!((summary.malignant_share - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(summary.unfamiliar_above, Some(10.0));
    // Nor towards the count's stop rule: they end a slide only as one for review by hand,
    // once as many cells are read as a count needs.
    let rules = SessionRules {
        stop_after_cells: 4,
        min_cells_for_call: 1,
        ..SessionRules::default()
    };
    let mut few = measured(rules);
    few.record_cell(&sure(0), FAR).expect("valid");
    for _ in 0..3 {
        few.record_cell(&sure(0), NEAR).expect("valid");
    }
    assert_eq!(few.should_stop(), None, "1 stranger of 4 does not end it");
    let mut strangers = measured(rules);
    strangers.record_cell(&sure(0), NEAR).expect("valid");
    for _ in 0..2 {
        strangers.record_cell(&sure(0), FAR).expect("valid");
    }
    assert_eq!(strangers.should_stop(), None, "3 read of the 4 needed");
    strangers.record_cell(&sure(0), FAR).expect("valid");
    assert_eq!(
        strangers.should_stop(),
        Some(StopReason::ReviewByHand { read: 4 })
    );
    let summary = strangers.summary();
    assert!(matches!(
        summary.flag,
        SlideFlag::Unfamiliar { unfamiliar: 3, .. }
    ));
    assert_eq!(summary.stopped, Some(StopReason::ReviewByHand { read: 4 }));
}

#[test]
fn the_session_agrees_with_the_profile_on_who_is_unfamiliar() {
    let p = profile(10.0);
    for distance in [0.0, 9.99, 10.0, 10.01, 1e9, f32::INFINITY, f32::NAN] {
        let mut s = measured(SessionRules::default());
        let call = s.record_cell(&sure(0), Some(distance)).expect("valid");
        assert_eq!(call.unfamiliar, p.is_unfamiliar(distance), "{distance}");
    }
}

#[test]
fn a_slide_of_mostly_strangers_is_for_review_by_hand_even_if_the_rest_look_benign() {
    // 150 cells far from the training cells (the model called them all benign, sure of
    // itself) and 100 near ones it called benign too: without the guard, "no evidence".
    let mut s = measured(SessionRules::default());
    for _ in 0..150 {
        s.record_cell(&sure(0), FAR).expect("valid");
    }
    for _ in 0..100 {
        s.record_cell(&sure(0), NEAR).expect("valid");
    }
    let summary = s.summary();
    assert_eq!(
        summary.flag,
        SlideFlag::Unfamiliar {
            unidentified: 0,
            read: 250,
            unfamiliar: 150,
        }
    );
    let text = summary.flag.to_string();
    assert!(
        text.starts_with(
            "these images do not look like the slides the model learnt from: review every cell by hand"
        ),
        "{text}"
    );
    assert!(
        text.contains("150 of 250 cells unfamiliar, 0 unidentified"),
        "{text}"
    );
    assert_eq!(summary.classified, 100);
    assert_eq!(summary.malignant_share, 0.0);
    // Nor a referral, however malignant the rest look.
    let mut refer = measured(SessionRules::default());
    for _ in 0..150 {
        refer.record_cell(&sure(0), FAR).expect("valid");
    }
    for _ in 0..100 {
        refer.record_cell(&sure(2), NEAR).expect("valid");
    }
    assert!(matches!(
        refer.summary().flag,
        SlideFlag::Unfamiliar {
            unfamiliar: 150,
            ..
        }
    ));
    // Nor does a pile of strangers make a slide insufficient rather than strange.
    let mut only = measured(SessionRules::default());
    for _ in 0..30 {
        only.record_cell(&sure(0), FAR).expect("valid");
    }
    assert!(matches!(only.summary().flag, SlideFlag::Unfamiliar { .. }));
    let json = serde_json::to_value(s.summary()).expect("serializes");
    assert_eq!(json["flag"]["flag"], "unfamiliar");
    assert_eq!(json["flag"]["unfamiliar"], 150);
    assert_eq!(json["unfamiliar"], 150);
}

#[test]
fn a_few_strangers_leave_the_call_standing() {
    // 10 of 210 cells unfamiliar (under 5 %, as many as the training labs' own leave):
    // the count of the other 200 stands, either way.
    for (malignant, expected) in [
        (0, SlideFlag::NoEvidence { cells: 200 }),
        (60, SlideFlag::SuspiciousRefer { cells: 200 }),
    ] {
        let mut s = measured(SessionRules::default());
        for k in 0..210 {
            let far = k % 21 == 0;
            let class = if k < malignant && !far { 2 } else { 0 };
            s.record_cell(&sure(class), if far { FAR } else { NEAR })
                .expect("valid");
        }
        let summary = s.summary();
        assert_eq!(summary.unfamiliar, 10);
        assert_eq!(summary.flag, expected);
    }
    // Just under the limit on the interval's lower end, just over.
    let share = |unfamiliar: u32| {
        let mut s = measured(SessionRules::default());
        for k in 0..200 {
            s.record_cell(&sure(0), if k < unfamiliar { FAR } else { NEAR })
                .expect("valid");
        }
        s.summary().flag
    };
    // 50 of 200: interval from 0.196; 52: from 0.205.
    assert!(matches!(share(50), SlideFlag::NoEvidence { .. }));
    assert!(matches!(
        share(52),
        SlideFlag::Unfamiliar { unfamiliar: 52, .. }
    ));
}

#[test]
fn without_a_profile_distances_change_nothing() {
    let mut plain = session(SessionRules::default());
    let mut with_distances = session(SessionRules::default());
    for k in 0..300 {
        let scores = match k % 7 {
            0 => [0.4, 0.2, 0.2, 0.2],
            1 => sure(2),
            _ => sure(0),
        };
        let a = plain.record_cell(&scores, None).expect("valid");
        let b = with_distances
            .record_cell(&scores, if k % 2 == 0 { FAR } else { Some(f32::NAN) })
            .expect("valid");
        assert_eq!(a, b);
        assert!(!b.unfamiliar);
    }
    assert_eq!(plain.summary(), with_distances.summary());
    let summary = plain.summary();
    assert_eq!((summary.unfamiliar, summary.unfamiliar_above), (0, None));
    // A report made before these fields still reads, and one without a profile is
    // written as before.
    let mut json = serde_json::to_value(&summary).expect("serializes");
    assert!(json.get("unfamiliar_above").is_none());
    let object = json.as_object_mut().expect("an object");
    object.remove("unfamiliar");
    let old: SlideSummary = serde_json::from_value(json).expect("an old summary reads");
    assert_eq!(old, summary);
    let old_flag: SlideFlag =
        serde_json::from_str(r#"{"flag":"unfamiliar","unidentified":60,"read":200}"#)
            .expect("an old flag reads");
    assert_eq!(
        old_flag,
        SlideFlag::Unfamiliar {
            unidentified: 60,
            read: 200,
            unfamiliar: 0,
        }
    );
    assert!(
        old_flag
            .to_string()
            .ends_with("review every cell by hand (60 of 200 cells unidentified)")
    );
}

/// A `wbc-blast` session whose blasts a `b-all-4` model types, unsure below 0.5; a call
/// needs 20 cells.
fn typed() -> SlideSession {
    SlideSession::new(
        "slide-9",
        Taxonomy::wbc_blast(),
        SessionRules {
            min_cells_for_call: 20,
            ..SessionRules::default()
        },
        &Calibration {
            temperature: 1.0,
            unidentified_below: 0.6,
        },
        Some(&profile(10.0)),
    )
    .with_subtypes(
        Taxonomy::b_all_4(),
        &Calibration {
            temperature: 1.0,
            unidentified_below: 0.5,
        },
    )
}

/// `wbc-blast`'s neutrophil and blast.
const NEUTROPHIL: usize = 0;
const BLAST: usize = 6;
/// `b-all-4`'s classes.
const BENIGN: usize = 0;
const PRE_B: usize = 2;
const PRO_B: usize = 3;

/// A confident `wbc-blast` call for `class` of the nine.
fn sure_wbc(class: usize) -> [f32; 9] {
    let mut p = [0.01; 9];
    p[class] = 0.92;
    p
}

/// Counts a confident, familiar `wbc-blast` cell of `class`, typed as `subtype` says.
fn typed_cell(s: &mut SlideSession, class: usize, subtype: &[f32]) -> Option<Subtyped> {
    let call = s.record_cell(&sure_wbc(class), NEAR).expect("counted");
    s.record_subtype(&call, subtype).expect("typed")
}

#[test]
fn only_a_cell_counted_as_a_blast_is_typed() {
    let mut s = typed();
    assert_eq!(typed_cell(&mut s, NEUTROPHIL, &sure(PRE_B)), None);
    // A blast the model has never seen the like of, or is unsure of, counts nowhere, so
    // it types nothing either.
    let stranger = s.record_cell(&sure_wbc(BLAST), FAR).expect("counted");
    assert!(stranger.unfamiliar);
    assert_eq!(s.record_subtype(&stranger, &sure(PRE_B)), Ok(None));
    let mut unsure = [0.1; 9];
    unsure[BLAST] = 0.2;
    let unsure = s.record_cell(&unsure, NEAR).expect("counted");
    assert_eq!(unsure.class, None);
    assert_eq!(s.record_subtype(&unsure, &sure(PRE_B)), Ok(None));

    assert_eq!(
        typed_cell(&mut s, BLAST, &sure(PRE_B)),
        Some(Subtyped::Class(PRE_B))
    );
    // The subtype model sees no blast, or is unsure which: undetermined.
    assert_eq!(
        typed_cell(&mut s, BLAST, &sure(BENIGN)),
        Some(Subtyped::Undetermined)
    );
    assert_eq!(
        typed_cell(&mut s, BLAST, &[0.05, 0.45, 0.4, 0.1]),
        Some(Subtyped::Undetermined)
    );
    // Scores that do not fit the subtype model are refused and counted nowhere.
    let blast = s.record_cell(&sure_wbc(BLAST), NEAR).expect("counted");
    assert!(matches!(
        s.record_subtype(&blast, &[0.5, 0.5]),
        Err(SessionError::ClassCount { got: 2, .. })
    ));
    assert!(matches!(
        s.record_subtype(&blast, &[0.5, f32::NAN, 0.0, 0.0]),
        Err(SessionError::NotAProbability { class: 1, .. })
    ));

    let subtype = s.summary().subtype.expect("a subtype model");
    assert_eq!(subtype.taxonomy, "b-all-4");
    let counts: Vec<_> = subtype
        .counts
        .iter()
        .map(|c| (c.name.as_str(), c.cells))
        .collect();
    assert_eq!(counts, [("Early Pre-B", 0), ("Pre-B", 1), ("Pro-B", 0)]);
    assert_eq!(subtype.undetermined, 2);
    assert_eq!(
        subtype.counts_line(),
        "Early Pre-B 0, Pre-B 1, Pro-B 0, undetermined 2"
    );
}

#[test]
fn a_subtype_is_named_only_on_a_referred_slide_where_most_blasts_have_it() {
    // (Pre-B, Pro-B, undetermined, neutrophils) counted, and the call.
    let named = |cells, blasts| SubtypeCall::Named {
        subtype: "Pre-B".into(),
        cells,
        blasts,
    };
    for (pre_b, pro_b, undetermined, neutrophils, call) in [
        (14, 6, 0, 5, named(14, 20)),
        (11, 0, 9, 5, named(11, 20)),
        // Half is no majority: a tie, or as many undetermined.
        (10, 10, 0, 5, SubtypeCall::Mixed { blasts: 20 }),
        (10, 0, 10, 5, SubtypeCall::Mixed { blasts: 20 }),
        // Referred (9 of 30 blasts), on too few blasts to name one.
        (
            9,
            0,
            0,
            21,
            SubtypeCall::TooFew {
                blasts: 9,
                needed: 10,
            },
        ),
        // 12 blasts among 200 cells: no referral, so no subtype, however clear.
        (12, 0, 0, 188, SubtypeCall::NotReferred),
    ] {
        let mut s = typed();
        for _ in 0..pre_b {
            typed_cell(&mut s, BLAST, &sure(PRE_B));
        }
        for _ in 0..pro_b {
            typed_cell(&mut s, BLAST, &sure(PRO_B));
        }
        for _ in 0..undetermined {
            typed_cell(&mut s, BLAST, &sure(BENIGN));
        }
        for _ in 0..neutrophils {
            typed_cell(&mut s, NEUTROPHIL, &sure(PRE_B));
        }
        let summary = s.summary();
        let referred = matches!(summary.flag, SlideFlag::SuspiciousRefer { .. });
        assert_eq!(referred, call != SubtypeCall::NotReferred, "{summary:?}");
        assert_eq!(summary.subtype.expect("typed").call, call);
    }
    assert_eq!(named(14, 20).to_string(), "Pre-B (14 of 20 blasts typed)");
}

#[test]
fn without_a_subtype_model_nothing_is_typed() {
    let mut s = session(SessionRules::default());
    let call = s.record_cell(&sure(PRE_B), None).expect("counted");
    assert_eq!(call.class, Some(PRE_B));
    assert_eq!(s.record_subtype(&call, &sure(PRO_B)), Ok(None));
    assert_eq!(s.summary().subtype, None);
}
