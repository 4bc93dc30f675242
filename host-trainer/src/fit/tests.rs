use leukoscope_core::preprocess::Preprocess;
use leukoscope_core::spec::{Preset, PresetOptions};
use leukoscope_core::synth::FieldOptions;

use super::*;
use crate::backend::CpuTrain;
use crate::examples::ExampleSet;
use crate::synthetic::synthetic_fields;

fn spec(size: u32) -> ModelSpec {
    Preset::TinyCnn.build(&PresetOptions {
        input_size: size,
        ..PresetOptions::field(4)
    })
}

fn fields(per_class: usize, seed: u64, size: u32) -> Arc<ExampleSet> {
    let options = FieldOptions {
        size,
        ..FieldOptions::default()
    };
    Arc::new(synthetic_fields(per_class, seed, &options, &Preprocess::field(size, size)).unwrap())
}

fn quiet(_: Progress<'_>) {}

#[test]
fn a_small_cnn_learns_synthetic_fields() {
    // 96x96 fields at the 224x224 data's scale: every cell fits and keeps its detail.
    // With seeds 11, 23 and 37 for data and weights this reached 0.96 to 0.99, so the
    // 0.90 bar is no lucky draw.
    let size = 96;
    let (train, valid) = (fields(400, 1, size), fields(100, 2, size));
    let recipe = Recipe {
        learning_rate: 3e-3,
        warmup_epochs: 0.0,
        ..Recipe::new(10, 16, 7)
    };
    let mut log = |p: Progress<'_>| {
        if let Progress::EpochFinished { record: e, .. } = p {
            eprintln!(
                "epoch {}: loss {:.3} acc {:.3} | valid loss {:.3} acc {:.3} F1 {:.3} | {:.0} img/s",
                e.epoch,
                e.train_loss,
                e.train_accuracy,
                e.valid_loss,
                e.valid_accuracy,
                e.valid_macro_f1,
                e.images_per_second
            )
        }
    };
    let trained = fit::<CpuTrain, _, _>(
        &spec(size),
        &Taxonomy::b_all_4(),
        train,
        Arc::clone(&valid),
        &recipe,
        &Default::default(),
        None,
        &mut log,
    )
    .unwrap();
    assert!(
        trained.evaluation.accuracy >= 0.90,
        "held-out accuracy {:.3}",
        trained.evaluation.accuracy
    );
    assert_eq!(trained.history.len(), 10);
    let best = &trained.history[trained.best_epoch - 1];
    assert_eq!(best.valid_macro_f1, trained.evaluation.macro_f1);
    assert!(
        trained
            .history
            .iter()
            .all(|e| e.valid_macro_f1 <= best.valid_macro_f1)
    );
    // The kept network is the best epoch's: predicting again gives its figures.
    let (probabilities, labels, failures) =
        predict_source(&trained.best, valid, 64, &Default::default());
    assert_eq!(
        (labels.as_slice(), failures),
        (trained.labels.as_slice(), 0)
    );
    let again = evaluate(&probabilities, &labels, &Taxonomy::b_all_4(), 0).unwrap();
    assert_eq!(again.confusion, trained.evaluation.confusion);
}

#[test]
fn an_interrupted_run_resumes_to_the_same_result() {
    let (train, valid) = (fields(6, 1, 64), fields(3, 2, 64));
    let spec = Preset::TinyCnn.build(&PresetOptions {
        input_size: 64,
        ..PresetOptions::field(4)
    });
    let taxonomy = Taxonomy::b_all_4();
    let device = Default::default();
    let recipe = Recipe {
        optimizer: OptimizerKind::Adamax,
        ..Recipe::new(3, 8, 5)
    };
    let dir = tempfile::tempdir().unwrap();
    let checkpoints = |name: &str, resume: bool, identity: &str| Checkpoints {
        dir: dir.path().join(name),
        resume,
        identity: identity.into(),
    };

    let straight = fit::<CpuTrain, _, _>(
        &spec,
        &taxonomy,
        Arc::clone(&train),
        Arc::clone(&valid),
        &recipe,
        &device,
        Some(&checkpoints("a", false, "x")),
        &mut quiet,
    )
    .unwrap();

    // The same run, killed right after the second epoch's checkpoint, then resumed.
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut crash = |p: Progress<'_>| {
            if let Progress::EpochFinished { record, .. } = p
                && record.epoch == 2
            {
                panic!("simulated power cut");
            }
        };
        fit::<CpuTrain, _, _>(
            &spec,
            &taxonomy,
            Arc::clone(&train),
            Arc::clone(&valid),
            &recipe,
            &device,
            Some(&checkpoints("b", false, "x")),
            &mut crash,
        )
    }));
    assert!(crashed.is_err());
    let mut resumed_from = None;
    let mut watch = |p: Progress<'_>| {
        if let Progress::Resumed { epoch } = p {
            resumed_from = Some(epoch);
        }
    };
    let resumed = fit::<CpuTrain, _, _>(
        &spec,
        &taxonomy,
        Arc::clone(&train),
        Arc::clone(&valid),
        &recipe,
        &device,
        Some(&checkpoints("b", true, "x")),
        &mut watch,
    )
    .unwrap();
    assert_eq!(resumed_from, Some(2));
    assert_eq!(resumed.history.len(), 3);
    assert_eq!(
        resumed.history[2].train_loss,
        straight.history[2].train_loss
    );
    assert_eq!(resumed.best.weights(), straight.best.weights());

    // A checkpoint of another configuration is refused, not silently continued.
    let err = fit::<CpuTrain, _, _>(
        &spec,
        &taxonomy,
        Arc::clone(&train),
        Arc::clone(&valid),
        &recipe,
        &device,
        Some(&checkpoints("b", true, "y")),
        &mut quiet,
    )
    .unwrap_err();
    assert!(matches!(err, FitError::ResumeMismatch { .. }), "{err}");
}

/// A run with a zero learning rate, which learns nothing, so no epoch after the first
/// scores better: early stopping (patience 2) ends it after three epochs.
fn a_run_that_learns_nothing(keep: Keep) -> Trained<<CpuTrain as AutodiffBackend>::InnerBackend> {
    let (train, valid) = (fields(4, 1, 64), fields(2, 2, 64));
    let recipe = Recipe {
        learning_rate: 0.0,
        schedule: Schedule::Constant,
        warmup_epochs: 0.0,
        early_stopping: Some(2),
        keep,
        ..Recipe::new(10, 8, 1)
    };
    fit::<CpuTrain, _, _>(
        &spec(64),
        &Taxonomy::b_all_4(),
        train,
        valid,
        &recipe,
        &Default::default(),
        None,
        &mut quiet,
    )
    .unwrap()
}

#[test]
fn early_stopping_ends_a_run_that_stopped_improving() {
    // The first epoch stays the best.
    let trained = a_run_that_learns_nothing(Keep::Best);
    assert!(trained.stopped_early);
    assert_eq!(trained.history.len(), 3);
    assert_eq!(trained.best_epoch, 1);
}

#[test]
fn keeping_the_last_epoch_ignores_validation_but_early_stopping_does_not() {
    // The best is epoch 1; the last is whichever ends the run.
    let trained = a_run_that_learns_nothing(Keep::Last);
    assert!(trained.stopped_early);
    assert_eq!(trained.history.len(), 3);
    assert_eq!(trained.best_epoch, 3);
}

#[test]
fn divergence_is_an_error_not_a_model() {
    let (train, valid) = (fields(4, 1, 64), fields(2, 2, 64));
    // Loss in the 1e20s: finite, but no model.
    let recipe = Recipe {
        learning_rate: 1e12,
        optimizer: OptimizerKind::Sgd {
            momentum: 0.9,
            weight_decay: 0.0,
        },
        warmup_epochs: 0.0,
        ..Recipe::new(5, 4, 1)
    };
    let err = fit::<CpuTrain, _, _>(
        &spec(64),
        &Taxonomy::b_all_4(),
        train,
        valid,
        &recipe,
        &Default::default(),
        None,
        &mut quiet,
    )
    .unwrap_err();
    assert!(matches!(err, FitError::Diverged { .. }), "{err}");
}

#[test]
fn bad_sets_are_refused_before_training() {
    let device = Default::default();
    let recipe = Recipe::new(1, 4, 1);
    let set = fields(1, 1, 64);
    let empty = Arc::new(ExampleSet::new([3, 64, 64]));
    let taxonomy = Taxonomy::b_all_4();
    let run =
        |train: &Arc<ExampleSet>, valid: &Arc<ExampleSet>, spec: &ModelSpec, recipe: &Recipe| {
            fit::<CpuTrain, _, _>(
                spec,
                &taxonomy,
                Arc::clone(train),
                Arc::clone(valid),
                recipe,
                &device,
                None,
                &mut quiet,
            )
            .map(|_| ())
        };
    assert!(matches!(
        run(&empty, &set, &spec(64), &recipe),
        Err(FitError::EmptySet("training"))
    ));
    assert!(matches!(
        run(&set, &empty, &spec(64), &recipe),
        Err(FitError::EmptySet("validation"))
    ));
    assert!(matches!(
        run(&set, &set, &spec(96), &recipe),
        Err(FitError::InputShape { .. })
    ));
    let binary = Preset::TinyCnn.build(&PresetOptions {
        input_size: 64,
        ..PresetOptions::field(2)
    });
    assert!(matches!(
        run(&set, &set, &binary, &recipe),
        Err(FitError::Label {
            label: 2,
            classes: 2
        })
    ));
    let zero = Recipe {
        batch_size: 0,
        ..recipe.clone()
    };
    assert!(matches!(
        run(&set, &set, &spec(64), &zero),
        Err(FitError::Config)
    ));
}
