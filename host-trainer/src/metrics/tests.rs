use leukoscope_core::taxonomy::ClassInfo;

use super::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn abc() -> Taxonomy {
    let class = |name: &str| ClassInfo {
        name: name.into(),
        malignant: false,
        aliases: Vec::new(),
    };
    Taxonomy {
        name: "abc".into(),
        classes: vec![class("A"), class("B"), class("C")],
    }
}

/// Twelve images whose predictions give the confusion matrix
///
/// ```text
///          pred A  pred B  pred C
/// true A      5       1       0      (6)
/// true B      2       3       1      (6)
/// true C      0       0       0      (0)
/// ```
/// Class C never occurs as a label but is predicted once, so it counts in macro means.
fn twelve() -> (Vec<Vec<f32>>, Vec<u32>) {
    let probabilities = vec![
        vec![0.9, 0.05, 0.05],
        vec![0.8, 0.1, 0.1],
        vec![0.7, 0.2, 0.1],
        vec![0.6, 0.3, 0.1],
        vec![0.5, 0.4, 0.1],
        vec![0.3, 0.6, 0.1],   // A predicted as B
        vec![0.6, 0.3, 0.1],   // B predicted as A
        vec![0.45, 0.35, 0.2], // B predicted as A
        vec![0.1, 0.8, 0.1],
        vec![0.2, 0.7, 0.1],
        vec![0.3, 0.5, 0.2],
        vec![0.1, 0.3, 0.6], // B predicted as C
    ];
    let labels = vec![0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
    (probabilities, labels)
}

#[test]
fn figures_of_a_hand_made_confusion_matrix() {
    let (p, l) = twelve();
    let e = evaluate(&p, &l, &abc(), 2).unwrap();
    assert_eq!(
        e.confusion,
        vec![vec![5, 1, 0], vec![2, 3, 1], vec![0, 0, 0]]
    );
    assert_eq!((e.n_images, e.n_skipped), (12, 2));
    assert_eq!(e.classes, ["A", "B", "C"]);
    // 8 of 12 on the diagonal.
    assert!(close(e.accuracy, 8.0 / 12.0));

    // A: TP 5, FP 2 (B→A), FN 1, TN 12−5−2−1 = 4.
    let a = &e.per_class[0];
    assert!(close(a.precision, 5.0 / 7.0));
    assert!(close(a.recall, 5.0 / 6.0));
    assert!(close(a.f1, 10.0 / 13.0)); // 2·5 / (2·5 + 2 + 1)
    assert!(close(a.specificity, 4.0 / 6.0));
    assert_eq!(a.sensitivity, a.recall);
    assert_eq!(a.support, 6);
    // B: TP 3, FP 1 (A→B), FN 3, TN 5.
    let b = &e.per_class[1];
    assert!(close(b.precision, 3.0 / 4.0));
    assert!(close(b.recall, 3.0 / 6.0));
    assert!(close(b.f1, 6.0 / 10.0));
    assert!(close(b.specificity, 5.0 / 6.0));
    // C: TP 0, FP 1 (B→C), FN 0, TN 11: recall undefined → 0, precision 0/1 = 0.
    let c = &e.per_class[2];
    assert_eq!((c.precision, c.recall, c.f1, c.support), (0.0, 0.0, 0.0, 0));
    assert!(close(c.specificity, 11.0 / 12.0));

    // Macro over A, B, C (C is predicted, so it counts).
    assert!(close(e.macro_precision, (5.0 / 7.0 + 0.75 + 0.0) / 3.0)); // 0.488095
    assert!(close(e.macro_recall, (5.0 / 6.0 + 0.5 + 0.0) / 3.0)); // 0.444444
    assert!(close(e.macro_f1, (10.0 / 13.0 + 0.6 + 0.0) / 3.0)); // 0.456410
    // Support-weighted: (6·10/13 + 6·0.6 + 0·0) / 12 = 0.684615.
    assert!(close(e.weighted_f1, (6.0 * 10.0 / 13.0 + 6.0 * 0.6) / 12.0));

    // AUC of A over scores p_A, positives = first six. Pairs (pos, neg) won, ties ½:
    // 0.9→6, 0.8→6, 0.7→6, 0.6→5.5 (ties the negative 0.6), 0.5→5, 0.3→3.5 (ties 0.3)
    // = 32 of 36.
    assert!(close(a.auc.unwrap(), 32.0 / 36.0));
    // AUC of B over p_B, positives = last six, negatives {.05 .1 .2 .3 .4 .6}:
    // 0.3→3.5, 0.35→4, 0.8→6, 0.7→6, 0.5→5, 0.3→3.5 = 28 of 36.
    assert!(close(b.auc.unwrap(), 28.0 / 36.0));
    // C has no positive image: undefined, and left out of the macro mean.
    assert_eq!(c.auc, None);
    assert!(close(e.macro_auc.unwrap(), (32.0 + 28.0) / 72.0));
    // sklearn 1.9 agrees: precision_recall_fscore_support(y, pred, labels=[0, 1, 2],
    // zero_division=0) and roc_auc_score(y == k, p[:, k]) for k = 0, 1 give
    // P [0.714286 0.75 0], R [0.833333 0.5 0], F1 [0.769231 0.6 0], macro F1 0.456410,
    // weighted F1 0.684615, AUC 0.888889 and 0.777778.

    let json = serde_json::to_string(&e).unwrap();
    assert!(json.contains("\"auc\":null"), "{json}");
    let back: Evaluation = serde_json::from_str(&json).unwrap();
    assert_eq!(back, e);
}

#[test]
fn absent_classes_do_not_drag_macro_means() {
    // Only A and B occur, in labels and predictions: C is left out of the means.
    let p = vec![vec![0.8, 0.1, 0.1], vec![0.2, 0.7, 0.1]];
    let e = evaluate(&p, &[0, 1], &abc(), 0).unwrap();
    assert_eq!(e.macro_f1, 1.0);
    assert_eq!(e.macro_auc, Some(1.0));
    assert_eq!(e.per_class[2].auc, None);
}

#[test]
fn a_set_lacking_a_class_is_scored_over_its_own_classes_with_its_false_malignant_calls() {
    // C is the malignant class, never a label, predicted once (a B image): a lab held out
    // with only normal cells, one of them called a blast.
    let mut taxonomy = abc();
    taxonomy.classes[2].malignant = true;
    let (p, l) = twelve();
    let e = evaluate(&p, &l, &taxonomy, 0).unwrap();
    let (f1_a, f1_b) = (10.0 / 13.0, 0.6);
    assert!(close(e.macro_f1, (f1_a + f1_b) / 3.0), "{}", e.macro_f1);
    assert!(close(e.present_macro_f1, (f1_a + f1_b) / 2.0));
    assert!(close(e.false_malignant_rate.unwrap(), 1.0 / 12.0));
    assert_eq!(e.malignant_sensitivity, None);

    // C's images called A or C: sensitivity counts calls of any malignant class.
    let (mut p, mut l) = (p, l);
    p.extend([vec![0.1, 0.1, 0.8], vec![0.7, 0.2, 0.1]]);
    l.extend([2, 2]);
    let e = evaluate(&p, &l, &taxonomy, 0).unwrap();
    assert!(close(e.malignant_sensitivity.unwrap(), 0.5));
    assert!(close(e.false_malignant_rate.unwrap(), 1.0 / 12.0));

    // A taxonomy without a malignant class has no such rate.
    let e = evaluate(&p, &l, &abc(), 0).unwrap();
    assert_eq!(e.false_malignant_rate, None);
    assert_eq!(e.malignant_sensitivity, None);
}

#[test]
fn calibration_error_by_hand() {
    let binary = Taxonomy::all_binary();
    let p = vec![
        vec![0.1, 0.9],   // label 1, right,  confidence 0.90 → bin 13 (0.867, 0.933]
        vec![0.1, 0.9],   // label 0, wrong,  confidence 0.90 → bin 13
        vec![0.25, 0.75], // label 1, right,  confidence 0.75 → bin 11 (0.733, 0.8]
        vec![0.7, 0.3],   // label 0, right,  confidence 0.70 → bin 10 (0.667, 0.733]
        vec![0.55, 0.45], // label 1, wrong,  confidence 0.55 → bin 8 (0.533, 0.6]
    ];
    let e = evaluate(&p, &[1, 0, 1, 0, 1], &binary, 0).unwrap();
    // bin 13: 2/5·|0.5 − 0.9| = 0.16; bin 11: 1/5·|1 − 0.75| = 0.05;
    // bin 10: 1/5·|1 − 0.7| = 0.06; bin 8: 1/5·|0 − 0.55| = 0.11. Sum 0.38.
    assert!((e.expected_calibration_error - 0.38).abs() < 1e-6);

    // A perfectly confident, perfectly right model is perfectly calibrated.
    let sure = evaluate(&[vec![1.0, 0.0], vec![0.0, 1.0]], &[0, 1], &binary, 0).unwrap();
    assert_eq!(sure.expected_calibration_error, 0.0);
}

fn trapezoid(curve: &[(f64, f64)]) -> f64 {
    curve
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
        .sum()
}

#[test]
fn auc_known_values() {
    let pos = [false, false, true, true];
    assert_eq!(auc(&[0.1, 0.2, 0.3, 0.4], &pos), Ok(Some(1.0)));
    assert_eq!(auc(&[0.4, 0.3, 0.2, 0.1], &pos), Ok(Some(0.0)));
    assert_eq!(auc(&[0.5; 4], &pos), Ok(Some(0.5)));
    // sklearn's documentation example: roc_auc_score([0, 0, 1, 1], [.1, .4, .35, .8]) = 0.75.
    assert_eq!(auc(&[0.1, 0.4, 0.35, 0.8], &pos), Ok(Some(0.75)));
    assert_eq!(auc(&[0.1, 0.2], &[true, true]), Ok(None));

    // Ties across classes: positives {0.5, 0.9}, negatives {0.5, 0.2, 0.5}.
    // 0.5 beats 0.2 (1) and ties two 0.5s (½ + ½) → 2; 0.9 beats all three → 3. 5/6.
    // sklearn: roc_auc_score([1, 0, 0, 1, 0], [.5, .5, .2, .9, .5]) = 0.833333.
    let scores = [0.5, 0.5, 0.2, 0.9, 0.5];
    let pos = [true, false, false, true, false];
    assert!(close(auc(&scores, &pos).unwrap().unwrap(), 5.0 / 6.0));
    // Thresholds 0.9 → (0, ½); 0.5 → (⅔, 1); 0.2 → (1, 1).
    let curve = roc_curve(&scores, &pos).unwrap();
    assert_eq!(curve.len(), 4);
    assert_eq!(curve[0], (0.0, 0.0));
    assert_eq!(curve[1], (0.0, 0.5));
    assert!(close(curve[2].0, 2.0 / 3.0) && curve[2].1 == 1.0);
    assert_eq!(curve[3], (1.0, 1.0));
    assert!(close(trapezoid(&curve), 5.0 / 6.0));

    assert_eq!(roc_curve(&[0.3, 0.4], &[true, true]), Ok(Vec::new()));
    assert!(matches!(
        roc_curve(&[0.3, f32::NAN], &[true, false]),
        Err(MetricsError::NotFinite { index: 1, .. })
    ));
    assert!(matches!(
        auc(&[0.3], &[true, false]),
        Err(MetricsError::LengthMismatch { .. })
    ));
}

#[test]
fn rank_auc_matches_the_trapezoid_of_the_curve() {
    // Coarse scores force many ties; the two computations must agree on all of them.
    let mut state = 12345u32;
    for _ in 0..50 {
        let n = 40;
        let mut scores = Vec::with_capacity(n);
        let mut pos = Vec::with_capacity(n);
        for _ in 0..n {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            scores.push((state >> 28) as f32 / 16.0);
            pos.push(state & 0x100 != 0);
        }
        let (Ok(Some(rank)), Ok(curve)) = (auc(&scores, &pos), roc_curve(&scores, &pos)) else {
            continue;
        };
        assert!(
            close(rank, trapezoid(&curve)),
            "{rank} vs {}",
            trapezoid(&curve)
        );
    }
}

#[test]
fn bad_inputs_are_named() {
    let t = abc();
    let ok = vec![vec![0.2, 0.3, 0.5]];
    assert_eq!(
        evaluate(&ok, &[0, 1], &t, 0),
        Err(MetricsError::LengthMismatch {
            scores: 1,
            labels: 2
        })
    );
    assert_eq!(evaluate(&[], &[], &t, 0), Err(MetricsError::Empty));
    assert!(matches!(
        evaluate(&[vec![0.5, 0.5]], &[0], &t, 0),
        Err(MetricsError::Width {
            width: 2,
            classes: 3,
            ..
        })
    ));
    assert!(matches!(
        evaluate(&ok, &[3], &t, 0),
        Err(MetricsError::LabelOutOfRange { label: 3, .. })
    ));
    assert!(matches!(
        evaluate(&[vec![0.2, f32::NAN, 0.5]], &[0], &t, 0),
        Err(MetricsError::NotFinite { class: 1, .. })
    ));
    let err = evaluate(&[vec![2.5, -1.0, 0.5]], &[0], &t, 0).unwrap_err();
    assert!(err.to_string().contains("logits"), "{err}");
}

#[test]
fn four_subtypes_coarsen_onto_the_binary_screen() {
    let four = Taxonomy::b_all_4();
    let binary = Taxonomy::all_binary();
    let p = vec![
        vec![0.7, 0.1, 0.1, 0.1],
        vec![0.1, 0.2, 0.3, 0.4],
        vec![0.4, 0.0, 0.6, 0.0],
    ];
    let (coarse, labels) = coarsen(&p, &[0, 3, 2], &four, &binary).unwrap();
    assert_eq!(labels, [0, 1, 1]);
    let expected = [[0.7, 0.3], [0.1, 0.9], [0.4, 0.6]];
    for (row, want) in coarse.iter().zip(expected) {
        assert!((row[0] - want[0]).abs() < 1e-6 && (row[1] - want[1]).abs() < 1e-6);
    }
    let e = evaluate(&coarse, &labels, &binary, 0).unwrap();
    assert_eq!(e.accuracy, 1.0);
    // Subtypes cannot be recovered from the screen.
    assert!(matches!(
        coarsen(&coarse, &labels, &binary, &four),
        Err(MetricsError::Taxonomy(_))
    ));
}

#[test]
fn summary_mean_and_sample_std() {
    let (p, l) = twelve();
    let base = evaluate(&p, &l, &abc(), 0).unwrap();
    let folds: Vec<Evaluation> = [(0.9, Some(0.8)), (0.8, None), (0.7, Some(0.9))]
        .into_iter()
        .map(|(accuracy, auc)| {
            let mut e = base.clone();
            e.accuracy = accuracy;
            e.macro_f1 = 0.5;
            e.per_class[0].auc = auc;
            e
        })
        .collect();
    let s = summarize(&folds).unwrap();
    assert_eq!(s.folds, 3);
    // Mean 0.8; sample variance ((0.1)² + 0 + (0.1)²) / 2 = 0.01 → std 0.1.
    assert!(close(s.mean.accuracy, 0.8) && close(s.std.accuracy, 0.1));
    assert!(close(s.mean.macro_f1, 0.5) && close(s.std.macro_f1, 0.0));
    // A's AUC over the two folds that define it: mean 0.85, std √(2·0.05² / 1) = 0.070711.
    assert!(close(s.mean.per_class[0].auc.unwrap(), 0.85));
    assert!(close(s.std.per_class[0].auc.unwrap(), 0.005f64.sqrt()));
    assert_eq!(s.mean.per_class[2].auc, None);
    assert!(close(s.mean.per_class[0].support, 6.0));

    let text = s.to_string();
    assert!(text.contains("3 folds of abc"), "{text}");
    assert!(
        text.contains("accuracy") && text.contains("0.800 ± 0.100"),
        "{text}"
    );
    assert!(text.contains("A: precision 0.714 ± 0.000"), "{text}");
    assert!(text.contains("auc n/a"), "{text}");

    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<Summary>(&json).unwrap(), s);

    let one = summarize(&folds[..1]).unwrap();
    assert_eq!(one.std.accuracy, 0.0);
    assert_eq!(summarize(&[]), Err(MetricsError::NoFolds));
    let mut other = base.clone();
    other.taxonomy = "b-all-4".into();
    assert!(matches!(
        summarize(&[base, other]),
        Err(MetricsError::FoldMismatch { fold: 2, .. })
    ));
}
