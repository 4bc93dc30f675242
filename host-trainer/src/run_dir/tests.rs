use std::error::Error;
use std::path::{Path, PathBuf};

use leukoscope_core::network::Initialization;
use leukoscope_core::spec::InputKind;
use leukoscope_core::synth::{self, CLASS_NAMES, FieldOptions};
use leukoscope_core::taxonomy::Taxonomy;

use super::*;
use crate::backend::DeviceChoice;
use crate::dataset::{
    ClassCoverage, Dataset, DatasetFormat, ScanOptions, Source, Split, group_holdout,
};
use crate::fit::Keep;

/// A `config.json` written by the version before [`RunConfig`] existed.
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/run_dir/fixtures")
        .join(name)
}

/// An error with all its causes, as the binary prints it.
fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// `text` as a run folder's `config.json`, read back.
fn read_text(dir: &Path, text: &str) -> Result<RunConfig, RunDirError> {
    let run = RunDir::new(dir);
    std::fs::write(run.config(), text).unwrap();
    run.read_config()
}

#[test]
fn configurations_written_before_the_type_read_and_write_back_byte_for_byte() {
    for name in [
        "train-config.json",
        "train-all-data-config.json",
        "cv-fold-config.json",
        "demo-config.json",
    ] {
        let text = std::fs::read_to_string(fixture(name)).unwrap();
        let config = RunConfig::read(&fixture(name)).unwrap();
        assert_eq!(config.to_json_pretty().unwrap(), text, "{name}");
        let compact: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(config.to_json().unwrap(), compact.to_string(), "{name}");
    }
}

#[test]
fn a_train_configuration_reads_typed() {
    let config = RunConfig::read(&fixture("train-config.json")).unwrap();
    assert_eq!(config.mode(), "train");
    assert_eq!(config.data, Path::new("/tmp/mini-data"));
    assert_eq!(
        (config.taxonomy.as_str(), config.model.as_str()),
        ("b-all-4", "tiny-cnn")
    );
    assert_eq!(config.input_size, 32);
    assert_eq!(config.device, DeviceChoice::Cpu);
    assert_eq!((config.recipe.seed, config.recipe.epochs), (42, 1));
    assert_eq!(config.recipe.keep, Keep::Best);
    let run = config.image_run().unwrap();
    assert_eq!(run.format, DatasetFormat::Folders);
    assert_eq!(run.input_kind, InputKind::Field);
    assert_eq!(run.near_duplicate_distance, 8);
    assert_eq!((run.valid_fraction, run.folds), (Some(0.2), None));
    assert_eq!((run.images, run.groups, run.skipped), (48, 44, 0));
    assert_eq!(
        hex::encode(run.dataset_sha256),
        "c54f5847a27836cedd94a633907238f663a8a69b633a3f43028277837444a2f9"
    );
    assert!(!config.validated_on_training_images());
    assert_eq!(config.folds(), None);
    assert_eq!(
        config
            .scan_options(DatasetFormat::Auto)
            .near_duplicate_distance,
        8
    );
    let fingerprint = config.fingerprint();
    assert_eq!(
        (fingerprint.name.as_str(), fingerprint.images),
        ("/tmp/mini-data", 48)
    );
    assert_eq!(fingerprint.sha256, run.dataset_sha256);

    let all = RunConfig::read(&fixture("train-all-data-config.json")).unwrap();
    assert!(all.validated_on_training_images());
    assert_eq!(all.image_run().unwrap().input_kind, InputKind::Cell);

    let fold = RunConfig::read(&fixture("cv-fold-config.json")).unwrap();
    assert_eq!(fold.mode(), "cv");
    assert_eq!(fold.folds(), Some(3));
    assert_eq!(fold.image_run().unwrap().run_folds, Some(2));
    assert_eq!(fold.recipe.keep, Keep::Last);

    let demo = RunConfig::read(&fixture("demo-config.json")).unwrap();
    assert_eq!(demo.kind, RunKind::Demo(SyntheticRun { per_class: 8 }));
    assert_eq!(demo.image_run(), None);
    assert_eq!(demo.fingerprint().sha256, [0; 32]);
}

#[test]
fn a_checkpoint_made_before_the_type_still_resumes() {
    // The identity the checkpoint of the fixture's run recorded (checkpoint/state.json).
    let recorded = std::fs::read_to_string(fixture("train-checkpoint-identity.txt")).unwrap();
    let mut config = RunConfig::read(&fixture("train-config.json")).unwrap();
    assert_eq!(config.resume_identity().unwrap(), recorded);
    config.recipe.epochs = 30;
    assert_eq!(
        config.resume_identity().unwrap(),
        recorded,
        "--epochs may change"
    );
    config.recipe.initialization = Initialization::He;
    assert_ne!(
        config.resume_identity().unwrap(),
        recorded,
        "other initial weights are another run"
    );
    config.recipe.initialization = Initialization::Uniform;
    config.recipe.backbone = Some(crate::fit::Backbone {
        model: "simple-cnn".into(),
        taxonomy: "wbc-blast".into(),
        data: "pbc".into(),
        images: 1,
    });
    assert_ne!(
        config.resume_identity().unwrap(),
        recorded,
        "a pretrained backbone is another run"
    );
    config.recipe.backbone = None;
    assert_eq!(config.resume_identity().unwrap(), recorded);
    config.recipe.seed = 1;
    assert_ne!(config.resume_identity().unwrap(), recorded);
}

#[test]
fn a_written_configuration_reads_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path().join("run"));
    for name in [
        "train-config.json",
        "cv-fold-config.json",
        "demo-config.json",
        "cv-pretrained-config.json",
    ] {
        let config = RunConfig::read(&fixture(name)).unwrap();
        run.write_config(&config).unwrap();
        assert_eq!(run.read_config().unwrap(), config, "{name}");
    }
}

#[test]
fn a_fine_tuned_run_names_its_backbone() {
    // Written by `cv --init PRE/model.lsm --new-head` from a `pretrain` on three sources.
    let config = RunConfig::read(&fixture("cv-pretrained-config.json")).unwrap();
    assert_eq!(
        config.recipe.backbone,
        Some(crate::fit::Backbone {
            model: "simple-cnn".into(),
            taxonomy: "wbc-blast".into(),
            data: "pbc, zheng1, zheng2".into(),
            images: 16_972,
        })
    );
    assert_eq!(config.taxonomy, "b-all-4");
    let fresh = RunConfig::read(&fixture("cv-fold-config.json")).unwrap();
    assert_eq!(fresh.recipe.backbone, None);
}

#[test]
fn a_missing_or_renamed_field_is_refused_naming_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("train-config.json")).unwrap();
    let cases = [
        // The hold-out split of `quantize` and `calibrate` hangs on these two.
        ("\"valid_fraction\"", "\"holdout\"", "valid_fraction"),
        ("\"seed\"", "\"random_seed\"", "seed"),
        ("\"preprocess\"", "\"preprocessing\"", "preprocess"),
        ("\"taxonomy\"", "\"classes\"", "taxonomy"),
        ("\"mode\"", "\"command\"", "mode"),
        ("\"folds\"", "\"k\"", "folds"),
    ];
    for (key, renamed, field) in cases {
        assert!(text.contains(key), "{key}");
        let err = read_text(dir.path(), &text.replacen(key, renamed, 1)).unwrap_err();
        let message = chain(&err);
        assert!(matches!(err, RunDirError::Parse { .. }), "{message}");
        assert!(message.contains("config.json"), "{message}");
        assert!(message.contains(&format!("`{field}`")), "{message}");
    }

    // Present but null where the mode needs a value.
    let err = read_text(
        dir.path(),
        &text.replace("\"valid_fraction\": 0.2", "\"valid_fraction\": null"),
    )
    .unwrap_err();
    assert!(matches!(err, RunDirError::Incomplete { .. }), "{err}");
    assert!(
        err.to_string().contains("config.json") && err.to_string().contains("valid_fraction"),
        "{err}"
    );

    for (from, to, what) in [
        ("\"mode\": \"train\"", "\"mode\": \"fit\"", "fit"),
        (
            "\"input_kind\": \"field\"",
            "\"input_kind\": \"slide\"",
            "slide",
        ),
        ("\"device\": \"cpu\"", "\"device\": \"tpu\"", "tpu"),
        (
            "\"dataset_sha256\": \"c5",
            "\"dataset_sha256\": \"z5",
            "SHA-256",
        ),
    ] {
        assert!(text.contains(from), "{from}");
        let message = chain(&read_text(dir.path(), &text.replace(from, to)).unwrap_err());
        assert!(
            message.contains("config.json") && message.contains(what),
            "{message}"
        );
    }

    let missing = RunDir::new(dir.path().join("nowhere"))
        .read_config()
        .unwrap_err();
    assert!(matches!(missing, RunDirError::Read { .. }), "{missing}");
    assert!(missing.to_string().contains("nowhere"), "{missing}");
}

#[test]
fn the_layout_names_every_file_once() {
    let run = RunDir::new("runs/cv");
    assert_eq!(run.config(), Path::new("runs/cv/config.json"));
    assert_eq!(run.model(), Path::new("runs/cv/model.lsm"));
    assert_eq!(run.model_int8(), Path::new("runs/cv/model-int8.lsm"));
    assert_eq!(run.checkpoint(), Path::new("runs/cv/checkpoint"));
    assert_eq!(run.fold(2).path(), Path::new("runs/cv/fold-2"));
    assert_eq!(
        run.fold(2).model_int8(),
        Path::new("runs/cv/fold-2/model-int8.lsm")
    );
    assert_eq!(run.int8_summary(), Path::new("runs/cv/int8/summary.json"));
    assert_eq!(
        run.int8_out_of_fold_logits(),
        Path::new("runs/cv/int8/out-of-fold-logits.json")
    );
}

#[test]
fn a_cross_validation_lists_the_folds_that_started() {
    let dir = tempfile::tempdir().unwrap();
    let cv = RunDir::new(dir.path());
    assert!(!cv.is_cross_validation());
    assert!(cv.folds().is_empty());
    let config = RunConfig::read(&fixture("cv-fold-config.json")).unwrap();
    for k in [1, 2] {
        cv.fold(k).write_config(&config).unwrap();
    }
    // A fourth fold without a third is not reached.
    cv.fold(4).write_config(&config).unwrap();
    assert!(cv.is_cross_validation());
    assert_eq!(cv.folds(), vec![cv.fold(1), cv.fold(2)]);
    assert!(!cv.fold(1).is_cross_validation());
}

#[test]
fn json_files_are_written_atomically_and_read_back_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cv = RunDir::new(dir.path());
    let logits = OutOfFoldLogits {
        taxonomy: "all-binary".into(),
        labels: vec![0, 1],
        logits: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
    };
    write_json(&cv.int8_out_of_fold_logits(), &logits).unwrap();
    let back: OutOfFoldLogits = read_json(&cv.int8_out_of_fold_logits()).unwrap();
    assert_eq!((back.labels, back.logits), (logits.labels, logits.logits));
    assert_eq!(
        std::fs::read_dir(dir.path().join("int8")).unwrap().count(),
        1
    );

    std::fs::write(cv.int8_summary(), "{}").unwrap();
    let err = read_json::<Int8CrossValidation>(&cv.int8_summary()).unwrap_err();
    assert!(chain(&err).contains("summary.json"), "{}", chain(&err));
}

#[test]
fn the_hold_out_split_is_reproduced_only_on_the_run_s_own_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_fields(&data, 0);
    let mut config = RunConfig::read(&fixture("train-config.json")).unwrap();
    config.data = data.clone();
    let scan = config.scan_options(DatasetFormat::Auto);
    let dataset = Dataset::open(&data, &Taxonomy::b_all_4(), &scan).unwrap();

    let split = config.holdout_split(&data, &dataset).unwrap().unwrap();
    assert_eq!(split, group_holdout(&dataset, 0.2, 42).unwrap());
    assert!(!split.valid.is_empty());
    // Another folder, no hold-out, or folds instead: nothing to reproduce.
    assert_eq!(config.holdout_split(dir.path(), &dataset).unwrap(), None);
    let mut all = RunConfig::read(&fixture("train-all-data-config.json")).unwrap();
    all.data = data.clone();
    assert_eq!(all.holdout_split(&data, &dataset).unwrap(), None);
    let mut fold = RunConfig::read(&fixture("cv-fold-config.json")).unwrap();
    fold.data = data.clone();
    assert!(fold.trained_on(&data));
    assert_eq!(fold.holdout_split(&data, &dataset).unwrap(), None);
}

/// Five synthetic fields of each class under `root/<class>/`, drawn from `seed`.
fn write_fields(root: &Path, seed: u64) {
    let options = FieldOptions {
        size: 64,
        ..FieldOptions::default()
    };
    for (class, name) in CLASS_NAMES.iter().enumerate() {
        std::fs::create_dir_all(root.join(name)).unwrap();
        for i in 0..5 {
            let field =
                synth::field(class as u32, seed + 100 * class as u64 + i, &options).unwrap();
            image::RgbImage::from_raw(
                field.image.width(),
                field.image.height(),
                field.image.as_raw().to_vec(),
            )
            .unwrap()
            .save(root.join(name).join(format!("{i}.png")))
            .unwrap();
        }
    }
}

#[test]
fn a_run_s_split_lists_read_back_as_the_same_images_labels_and_groups() {
    let dir = tempfile::tempdir().unwrap();
    write_fields(&dir.path().join("lab-a"), 0);
    write_fields(&dir.path().join("lab-b"), 1000);
    let sources: Vec<Source> = ["lab-a", "lab-b"]
        .iter()
        .map(|name| Source {
            name: (*name).into(),
            path: dir.path().join(name),
            format: DatasetFormat::Auto,
        })
        .collect();
    let taxonomy = Taxonomy::b_all_4();
    let dataset = Dataset::open_sources(&sources, &taxonomy, &ScanOptions::default()).unwrap();
    let split = group_holdout(&dataset, 0.3, 7).unwrap();
    let run = RunDir::new(dir.path().join("run"));
    std::fs::create_dir_all(run.path()).unwrap();
    SplitLists::new(&dataset, &split)
        .unwrap()
        .write(&run)
        .unwrap();

    let csv = ScanOptions {
        format: DatasetFormat::Csv,
        classes: ClassCoverage::Any,
        ..ScanOptions::default()
    };
    for (list, side) in [
        (run.train_list(), &split.train),
        (run.valid_list(), &split.valid),
    ] {
        let read = Dataset::open(&list, &taxonomy, &csv).unwrap();
        let mut expected: Vec<(PathBuf, u32)> = side
            .iter()
            .map(|&i| {
                let s = &dataset.samples[i];
                (std::path::absolute(&s.path).unwrap(), s.label)
            })
            .collect();
        let mut got: Vec<(PathBuf, u32)> = read
            .samples
            .iter()
            .map(|s| (s.path.clone(), s.label))
            .collect();
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "{}", list.display());
        // Images that shared a group share one read back, and no others do.
        for (a, sa) in read.samples.iter().enumerate() {
            for sb in &read.samples[a + 1..] {
                let original = |p: &Path| {
                    dataset
                        .samples
                        .iter()
                        .find(|s| std::path::absolute(&s.path).unwrap() == p)
                        .unwrap()
                        .group
                };
                assert_eq!(
                    sa.group == sb.group,
                    original(&sa.path) == original(&sb.path)
                );
            }
        }
    }
    let text = std::fs::read_to_string(run.valid_list()).unwrap();
    assert!(text.starts_with("path,label,group\n"), "{text}");
    assert!(
        text.contains(",lab-a/g") && text.contains(",lab-b/g"),
        "{text}"
    );

    // Nothing held out: no valid.csv, and the one an earlier run left is gone.
    let all: Vec<usize> = (0..dataset.samples.len()).collect();
    let everything = Split {
        train: all.clone(),
        valid: all,
    };
    SplitLists::new(&dataset, &everything)
        .unwrap()
        .write(&run)
        .unwrap();
    assert!(!run.valid_list().exists());
    let listed = Dataset::open(&run.train_list(), &taxonomy, &csv).unwrap();
    assert_eq!(listed.samples.len(), dataset.samples.len());
}
