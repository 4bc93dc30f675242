use leukoscope_core::taxonomy::Taxonomy;

use super::*;
use crate::metrics::{coarsen, evaluate, summarize};
use crate::report::plots::tests::four_class_outputs;
use crate::report::{
    CONFUSION_PNG, CURVES_PNG, ROC_PNG, plot_confusion, plot_curves, plot_roc, write_epoch_metrics,
};

#[test]
fn report_holds_the_numbers() {
    let dir = match std::env::var_os("LEUKOSCOPE_PLOT_DIR") {
        Some(dir) => (None, PathBuf::from(dir)),
        None => {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().to_owned();
            (Some(tmp), path)
        }
    };
    let out = &dir.1;
    let four = Taxonomy::b_all_4();
    let binary = Taxonomy::all_binary();
    let (p, l) = four_class_outputs(700);
    let evaluation = evaluate(&p, &l, &four, 3).unwrap();
    let (bp, bl) = coarsen(&p, &l, &four, &binary).unwrap();
    let screen = evaluate(&bp, &bl, &binary, 3).unwrap();
    let halves = [
        evaluate(&p[..350], &l[..350], &four, 0).unwrap(),
        evaluate(&p[350..], &l[350..], &four, 0).unwrap(),
    ];
    let epochs = crate::report::tests::records();
    write_epoch_metrics(out, &epochs).unwrap();
    plot_curves(&out.join(CURVES_PNG), &epochs).unwrap();
    plot_confusion(&out.join(CONFUSION_PNG), &evaluation).unwrap();
    plot_roc(&out.join(ROC_PNG), &p, &l, &four).unwrap();
    let input = ReportInput {
        held_out: true,
        run_name: "edge-s on b-all-4 | demo".into(),
        dataset: "synthetic b-all-4 outputs, 700 images".into(),
        split: "first 350 / last 350".into(),
        config_json: "{\n  \"epochs\": 12,\n  \"note\": \"```\"\n}".into(),
        epochs: epochs.clone(),
        evaluation: evaluation.clone(),
        binary: Some(screen.clone()),
        cross_validation: Some(summarize(&halves).unwrap()),
        figures: vec![
            Figure::new("Learning curves", CURVES_PNG),
            Figure::new("Confusion matrix", CONFUSION_PNG),
            Figure::new("ROC curves", ROC_PNG),
        ],
    };
    let path = write_report(out, &input).unwrap();
    let md = std::fs::read_to_string(&path).unwrap();

    assert!(md.contains("edge-s on b-all-4 | demo"), "{md}");
    assert!(md.contains("decision support to be confirmed by a trained reader"));
    assert!(md.contains(&format!("| accuracy | {:.3} |", evaluation.accuracy)));
    assert!(md.contains(&format!("| macro_f1 | {:.3} |", evaluation.macro_f1)));
    let pre_b = &evaluation.per_class[2];
    assert!(md.contains(&format!(
        "| Pre-B | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {} |",
        pre_b.precision,
        pre_b.recall,
        pre_b.f1,
        pre_b.sensitivity,
        pre_b.specificity,
        pre_b.auc.unwrap(),
        pre_b.support
    )));
    let row: String = evaluation.confusion[1]
        .iter()
        .map(|c| format!(" {c} |"))
        .collect();
    assert!(md.contains(&format!("| **Early Pre-B** |{row}")), "{md}");
    assert!(md.contains(&format!(
        "Screen for **ALL**: sensitivity {:.3}, specificity {:.3}",
        screen.per_class[1].sensitivity, screen.per_class[1].specificity
    )));
    assert!(md.contains("## Cross-validation (2 folds"));
    assert!(md.contains("(<curves.png>)") && md.contains("(<roc.png>)"));
    // The best epoch of the sample curves is the last (F1 rises throughout).
    assert!(
        md.contains("| best epoch (by valid_macro_f1) | 12:"),
        "{md}"
    );
    // The config's own ``` does not close its block early.
    assert!(md.contains("````json\n{\n  \"epochs\": 12,"), "{md}");
    assert!(md.contains("(3 skipped)"));
}

#[test]
fn report_without_optional_parts() {
    let p = vec![vec![0.9, 0.1], vec![0.2, 0.8]];
    let e = evaluate(&p, &[0, 1], &Taxonomy::all_binary(), 0).unwrap();
    let md = render_report(&ReportInput {
        held_out: true,
        run_name: "tiny".into(),
        dataset: "two images".into(),
        split: "none".into(),
        config_json: "{}".into(),
        epochs: Vec::new(),
        evaluation: e,
        binary: None,
        cross_validation: None,
        figures: Vec::new(),
    });
    assert!(md.contains("| accuracy | 1.000 |"), "{md}");
    assert!(!md.contains("Binary screen") && !md.contains("Cross-validation"));
    assert!(!md.contains("## Figures") && !md.contains("best epoch"));
    assert!(md.contains("```json\n{}\n```"), "{md}");
}
