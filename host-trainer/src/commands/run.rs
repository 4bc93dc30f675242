//! One training run into a run folder: the resolved configuration, per-epoch metrics,
//! a checkpoint every epoch, the best model as a `.lsm`, validation figures, plots and
//! `report.md`. `train`, each fold of `cv` and `demo` all go through here.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use burn::tensor::backend::AutodiffBackend;
use indicatif::{ProgressBar, ProgressStyle};
use leukoscope_core::artifact::{DatasetFingerprint, Metric};
use leukoscope_core::spec::ModelSpec;
use leukoscope_core::taxonomy::Taxonomy;
use leukoscope_trainer::backend::{CpuTrain, DeviceChoice};
use leukoscope_trainer::export::{artifact, provenance, write_artifact};
use leukoscope_trainer::fit::{Checkpoints, Progress, Trained, fit};
use leukoscope_trainer::loader::SampleSource;
use leukoscope_trainer::metrics::{Evaluation, coarsen, evaluate};
use leukoscope_trainer::report::{self, Figure, ReportInput};
use leukoscope_trainer::run_dir::{RunConfig, RunDir, SplitLists, write_json};

/// Everything a run needs besides its data.
pub struct RunPlan {
    /// Shown in reports.
    pub name: String,
    /// The run folder.
    pub dir: RunDir,
    /// The network.
    pub spec: ModelSpec,
    /// Its classes.
    pub taxonomy: Taxonomy,
    /// Continue from the run folder's checkpoint.
    pub resume: bool,
    /// One line on the data.
    pub dataset_summary: String,
    /// How it was split.
    pub split_summary: String,
    /// Whether the validation images are held out (false: it trains on them too).
    pub held_out: bool,
    /// The images on each side of the split, written beside `config.json` (`None` for
    /// synthetic fields, which are drawn, not read).
    pub split_lists: Option<SplitLists>,
    /// The data's identity.
    pub fingerprint: DatasetFingerprint,
    /// The resolved configuration (the preprocessing stored in the model, the recipe, the
    /// device), written to `config.json` and into the model.
    pub config: RunConfig,
}

/// What a run produced.
pub struct RunResult {
    /// Validation figures of the best epoch.
    pub evaluation: Evaluation,
    /// The same, on the binary screen, when the taxonomy maps onto it.
    pub binary: Option<Evaluation>,
    /// The best model's file.
    pub model: PathBuf,
    /// Validation probabilities and labels (for pooled cross-validation figures).
    pub probabilities: Vec<Vec<f32>>,
    /// Labels in the same order.
    pub labels: Vec<u32>,
}

/// Trains on `train`, validates on `valid`, and writes the run folder.
pub fn execute<S: SampleSource, V: SampleSource>(
    plan: &RunPlan,
    train: Arc<S>,
    valid: Arc<V>,
) -> anyhow::Result<RunResult> {
    match plan.config.device {
        DeviceChoice::Cpu => execute_on::<CpuTrain, S, V>(plan, train, valid, &Default::default()),
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda(index) => execute_on::<leukoscope_trainer::backend::GpuTrain, S, V>(
            plan,
            train,
            valid,
            &burn::backend::cuda::CudaDevice::new(index),
        ),
        #[cfg(not(feature = "cuda"))]
        DeviceChoice::Cuda(_) => {
            bail!(
                "this build has no CUDA support; rebuild with `--features cuda` or use --device cpu"
            )
        }
    }
}

fn execute_on<B: AutodiffBackend, S: SampleSource, V: SampleSource>(
    plan: &RunPlan,
    train: Arc<S>,
    valid: Arc<V>,
    device: &B::Device,
) -> anyhow::Result<RunResult> {
    let run = &plan.dir;
    std::fs::create_dir_all(run.path())
        .with_context(|| format!("cannot create the run folder {}", run.path().display()))?;
    if run.config().exists() && !plan.resume {
        bail!(
            "{} already holds a run; pass --resume to continue it or choose another --out",
            run.path().display()
        );
    }
    run.write_config(&plan.config)?;
    if let Some(lists) = &plan.split_lists {
        lists.write(run)?;
    }

    let checkpoints = Checkpoints {
        dir: run.checkpoint(),
        resume: plan.resume,
        identity: plan.config.resume_identity()?,
    };
    let epochs = plan.config.recipe.epochs;
    let train_len = train.len() as u64;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} img  {per_sec}  ETA {eta}  loss {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let mut observer = |event: Progress<'_>| match event {
        Progress::EpochStarted { epoch, .. } => {
            bar.reset();
            bar.set_length(train_len);
            bar.set_prefix(format!("epoch {epoch}/{epochs}"));
        }
        Progress::Step { images, loss } => {
            bar.set_position(images as u64);
            bar.set_message(format!("{loss:.4}"));
        }
        Progress::EpochFinished { record: e, best } => {
            bar.finish_and_clear();
            println!(
                "epoch {:>3}/{epochs}  train loss {:.4} acc {:.3}  valid loss {:.4} acc {:.3} macro F1 {:.3}{}  lr {:.2e}  {:.0} img/s  {:.0} s",
                e.epoch,
                e.train_loss,
                e.train_accuracy,
                e.valid_loss,
                e.valid_accuracy,
                e.valid_macro_f1,
                if best { " *" } else { "  " },
                e.learning_rate,
                e.images_per_second,
                e.seconds
            );
        }
        Progress::Skipped { failures } => {
            for (index, reason) in failures {
                bar.println(format!("warning: sample {index} skipped: {reason}"));
            }
        }
        Progress::Resumed { epoch } => {
            println!("resuming {} after epoch {epoch}", run.path().display());
        }
    };
    let trained: Trained<B::InnerBackend> = fit::<B, S, V>(
        &plan.spec,
        &plan.taxonomy,
        train,
        valid,
        &plan.config.recipe,
        device,
        Some(&checkpoints),
        &mut observer,
    )?;
    bar.finish_and_clear();

    // The binary screen (Normal vs ALL), whenever this taxonomy maps onto it.
    let binary_taxonomy = Taxonomy::all_binary();
    let binary = if plan.taxonomy.name != binary_taxonomy.name {
        coarsen(
            &trained.probabilities,
            &trained.labels,
            &plan.taxonomy,
            &binary_taxonomy,
        )
        .ok()
        .map(|(p, l)| evaluate(&p, &l, &binary_taxonomy, trained.evaluation.n_skipped))
        .transpose()?
    } else {
        None
    };

    let mut provenance = provenance(plan.config.to_json()?);
    provenance.dataset = plan.fingerprint.clone();
    let e = &trained.evaluation;
    // Figures on images the model trained on must not pass for validation figures in
    // the model file, where `check` shows them.
    let on = if plan.held_out {
        "valid"
    } else {
        "training_images"
    };
    provenance.metrics = vec![
        metric(&format!("{on}_accuracy"), e.accuracy),
        metric(&format!("{on}_macro_f1"), e.macro_f1),
        metric(&format!("{on}_weighted_f1"), e.weighted_f1),
        metric("best_epoch", trained.best_epoch as f64),
    ];
    if let Some(b) = &binary {
        provenance.metrics.push(metric(
            &format!("{on}_binary_sensitivity"),
            b.per_class[1].sensitivity,
        ));
        provenance.metrics.push(metric(
            &format!("{on}_binary_specificity"),
            b.per_class[1].specificity,
        ));
    }
    let model = artifact(
        &trained.best,
        plan.taxonomy.clone(),
        plan.config.preprocess.clone(),
        provenance,
    );
    let model_path = run.model();
    write_artifact(&model, &model_path)?;

    write_json(&run.evaluation(), e)?;
    if let Some(b) = &binary {
        write_json(&run.evaluation_binary(), b)?;
    }
    report::write_epoch_metrics(run.path(), &trained.history)?;
    let mut figures = Vec::new();
    let mut figure = |path: PathBuf, caption: &str| {
        figures.push(Figure::in_folder(caption, &path));
        path
    };
    report::plot_curves(
        &figure(run.curves_png(), "Learning curves"),
        &trained.history,
    )?;
    report::plot_confusion(
        &figure(run.confusion_png(), "Validation confusion matrix"),
        e,
    )?;
    report::plot_roc(
        &figure(run.roc_png(), "Validation ROC, one class against the rest"),
        &trained.probabilities,
        &trained.labels,
        &plan.taxonomy,
    )?;
    if let Some(b) = &binary {
        report::plot_confusion(
            &figure(run.confusion_binary_png(), "Binary screen confusion matrix"),
            b,
        )?;
    }
    report::write_report(
        run.path(),
        &ReportInput {
            held_out: plan.held_out,
            run_name: plan.name.clone(),
            dataset: plan.dataset_summary.clone(),
            split: plan.split_summary.clone(),
            config_json: plan.config.to_json_pretty()?,
            epochs: trained.history.clone(),
            evaluation: e.clone(),
            binary: binary.clone(),
            cross_validation: None,
            figures,
        },
    )?;
    if trained.stopped_early {
        println!(
            "stopped early: no better validation macro F1 for {} epochs",
            plan.config.recipe.early_stopping.unwrap_or(0)
        );
    }
    println!(
        "best epoch {}: accuracy {:.4}, macro F1 {:.4}, weighted F1 {:.4}{}",
        trained.best_epoch,
        e.accuracy,
        e.macro_f1,
        e.weighted_f1,
        binary.as_ref().map_or(String::new(), |b| format!(
            "; binary screen sensitivity {:.4}, specificity {:.4}",
            b.per_class[1].sensitivity, b.per_class[1].specificity
        ))
    );
    println!("run folder {} (model.lsm, report.md)", run.path().display());
    Ok(RunResult {
        evaluation: trained.evaluation,
        binary,
        model: model_path,
        probabilities: trained.probabilities,
        labels: trained.labels,
    })
}

fn metric(name: &str, value: f64) -> Metric {
    Metric {
        name: name.into(),
        value,
    }
}
