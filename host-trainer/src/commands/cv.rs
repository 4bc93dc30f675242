//! `leukoscope-train cv`: k-fold cross-validation by group, or leave-one-source-out
//! (`--by-source`), one model per fold (each a run folder of its own), then the mean ± std of
//! every figure and the pooled out-of-fold ones.

use anyhow::bail;
use clap::Args;
use leukoscope_trainer::dataset::{ClassCoverage, group_k_fold, leave_one_source_out};
use leukoscope_trainer::metrics::{Evaluation, evaluate, summarize};
use leukoscope_trainer::report::{self, Figure, ReportInput};
use leukoscope_trainer::run_dir::{RunDir, write_json};
use serde_json::json;

use super::train::{Division, TrainArgs, run_split, setup};

/// `cv`'s flags: `train`'s, and how many folds (or one per source).
#[derive(Args, Clone, Debug)]
pub struct CvArgs {
    #[command(flatten)]
    pub train: TrainArgs,
    /// Number of folds.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Train only the first N folds of the --folds split (for models too slow for
    /// all of them); the summary is over those N and says so.
    #[arg(long)]
    pub run_folds: Option<usize>,
    /// Leave-one-source-out instead of --folds: one fold per --source, in the order given,
    /// trained on every other source and validated on the whole of the one held out, which
    /// it never trains on. The report and summary name each fold's held-out source.
    #[arg(long, alias = "leave-source-out", conflicts_with = "folds")]
    pub by_source: bool,
}

/// `cv`: k-fold cross-validation (or one fold per source), one model per fold, mean ± std
/// of every figure; only the first `run_folds` folds are trained when that is fewer.
pub fn run(args: CvArgs) -> anyhow::Result<()> {
    let by_source = args.by_source;
    let division = if by_source {
        Division::BySource {
            run_folds: args.run_folds,
        }
    } else {
        let (folds, run_folds) = (args.folds, args.run_folds.unwrap_or(args.folds));
        if run_folds == 0 || run_folds > folds {
            bail!("--run-folds must be between 1 and --folds ({folds})");
        }
        Division::Folds { folds, run_folds }
    };
    // From here on, the flags every fold trains with.
    let args = args.train;
    let setup = setup(&args, division, ClassCoverage::Every)?;
    // The folds as the setup resolved them (for --by-source, one per source).
    let Some((folds, run_folds)) = setup
        .config
        .image_run()
        .and_then(|run| run.folds.zip(run.run_folds))
    else {
        bail!("cross-validation needs image data");
    };
    let mut splits = if by_source {
        leave_one_source_out(&setup.dataset)?
    } else {
        group_k_fold(&setup.dataset, folds, args.seed)?
    };
    splits.truncate(run_folds);
    // The source each fold holds out, in leave-one-source-out.
    let held_out: Vec<&str> = if by_source {
        setup
            .dataset
            .sources
            .iter()
            .take(run_folds)
            .map(|s| s.name.as_str())
            .collect()
    } else {
        Vec::new()
    };
    let holding_out = |k: usize| {
        held_out
            .get(k)
            .map(|name| format!(", holding out {name}"))
            .unwrap_or_default()
    };
    let of_folds = if run_folds < folds {
        format!("{run_folds} of {folds}")
    } else {
        folds.to_string()
    };
    let cv = RunDir::new(&args.out);
    if cv.summary().exists() && !args.resume {
        bail!(
            "{} already holds a cross-validation; pass --resume or choose another --out",
            args.out.display()
        );
    }
    let mut results = Vec::with_capacity(run_folds);
    for (k, split) in splits.iter().enumerate() {
        println!("\n== fold {} of {folds}{} ==", k + 1, holding_out(k));
        let dir = cv.fold(k + 1);
        // A finished fold resumes at its last epoch and only re-exports its best model.
        let resume = args.resume && dir.config().exists();
        let name = format!(
            "{} fold {}/{folds}{} on {}",
            setup.spec.name,
            k + 1,
            holding_out(k),
            setup.dataset.root.display()
        );
        results.push(run_split(&setup, &args, split, name, dir, resume)?);
    }
    let evaluations: Vec<_> = results.iter().map(|r| r.evaluation.clone()).collect();
    let summary = summarize(&evaluations)?;
    // Every image (of the folds run) is validated exactly once: pool the out-of-fold
    // predictions too.
    let probabilities: Vec<Vec<f32>> = results
        .iter()
        .flat_map(|r| r.probabilities.clone())
        .collect();
    let labels: Vec<u32> = results.iter().flat_map(|r| r.labels.clone()).collect();
    let pooled = evaluate(
        &probabilities,
        &labels,
        &setup.taxonomy,
        setup.dataset.skipped.len() as u64,
    )?;
    let binaries: Vec<_> = results.iter().filter_map(|r| r.binary.clone()).collect();
    let binary_summary = (binaries.len() == results.len())
        .then(|| summarize(&binaries))
        .transpose()?;
    write_json(
        &cv.summary(),
        &json!({
            "folds": folds,
            "folds_run": run_folds,
            "by_source": by_source,
            "held_out_sources": by_source.then_some(&held_out),
            "summary": summary,
            "binary_summary": binary_summary,
            "pooled_out_of_fold": pooled,
            "per_fold": evaluations,
        }),
    )?;
    cv.write_config(&setup.config)?;
    report::plot_confusion(&cv.confusion_pooled_png(), &pooled)?;
    report::plot_roc(
        &cv.roc_pooled_png(),
        &probabilities,
        &labels,
        &setup.taxonomy,
    )?;
    report::write_report(
        cv.path(),
        &ReportInput {
            held_out: true,
            run_name: format!(
                "{}-fold {} of {} on {}",
                of_folds,
                if by_source {
                    "leave-one-source-out cross-validation"
                } else {
                    "cross-validation"
                },
                setup.spec.name,
                setup.dataset.root.display()
            ),
            dataset: setup.dataset.summary(),
            split: if by_source {
                format!(
                    "{of_folds} folds, one per source, each trained on the other sources and validated on the whole of the one held out: {}; figures below pool the out-of-fold predictions",
                    held_out_figures(&held_out, &evaluations)
                )
            } else {
                format!(
                    "{of_folds} stratified group folds (seed {}); figures below pool the out-of-fold predictions",
                    args.seed
                )
            },
            config_json: setup.config.to_json_pretty()?,
            epochs: Vec::new(),
            evaluation: pooled.clone(),
            binary: None,
            cross_validation: Some(summary.clone()),
            figures: vec![
                Figure::in_folder(
                    "Pooled out-of-fold confusion matrix",
                    &cv.confusion_pooled_png(),
                ),
                Figure::in_folder("Pooled out-of-fold ROC", &cv.roc_pooled_png()),
            ],
        },
    )?;
    if by_source {
        println!("\nheld out: {}", held_out_figures(&held_out, &evaluations));
    }
    println!("\n{of_folds}-fold cross-validation, mean ± std over folds:\n{summary}");
    if let Some(b) = &binary_summary {
        println!("binary screen (Benign vs ALL):\n{b}");
    }
    println!("results in {}", args.out.display());
    Ok(())
}

/// `fold 1 held out pbc (macro F1 0.912, accuracy 0.934), ...`: each held-out source with
/// what its fold measured on it.
fn held_out_figures(held_out: &[&str], evaluations: &[Evaluation]) -> String {
    held_out
        .iter()
        .zip(evaluations)
        .enumerate()
        .map(|(k, (name, e))| {
            format!(
                "fold {} held out {name} (macro F1 {:.3}, accuracy {:.3}, {} images)",
                k + 1,
                e.macro_f1,
                e.accuracy,
                e.n_images
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
