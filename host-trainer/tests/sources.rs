//! Several named sources as a user gives them: `cv --by-source` holds out one whole source
//! per fold, every record names it, and each fold lists the images it trained and validated
//! on; a source with a label the taxonomy does not know is
//! refused with the source named; a backbone pretrained on sources lacking classes takes a
//! new head for another class set.

use std::path::Path;
use std::process::{Command, Output};

use leukoscope_core::spec::InputKind;
use leukoscope_core::synth::{self, CLASS_NAMES, FieldOptions};

const PER_CLASS: u64 = 4;
const SOURCES: [&str; 3] = ["lab-a", "lab-b", "lab-c"];

fn train_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leukoscope-train"))
        .args(args)
        .output()
        .unwrap()
}

/// A class-folder source of small synthetic fields, its own seeds per `source`.
fn write_source(root: &Path, source: u64) {
    let options = FieldOptions {
        size: 64,
        ..FieldOptions::default()
    };
    for (class, name) in CLASS_NAMES.iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..PER_CLASS {
            let seed = 10_000 * source + 100 * class as u64 + i;
            let field = synth::field(class as u32, seed, &options).unwrap();
            let image = image::RgbImage::from_raw(
                field.image.width(),
                field.image.height(),
                field.image.as_raw().to_vec(),
            )
            .unwrap();
            image.save(dir.join(format!("{i}.png"))).unwrap();
        }
    }
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn cv_by_source_holds_out_each_source_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let flags: Vec<String> = SOURCES
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let root = dir.path().join(name);
            write_source(&root, k as u64 + 1);
            format!("{name}={}", root.display())
        })
        .collect();
    let cv = dir.path().join("cv");
    let mut args = vec!["cv", "--by-source"];
    for flag in &flags {
        args.extend(["--source", flag.as_str()]);
    }
    args.extend([
        "--model",
        "tiny-cnn",
        "--input-size",
        "32",
        "--epochs",
        "1",
        "--batch",
        "8",
        "--keep",
        "last",
        "--stain",
        "reinhard",
        "--imbalance",
        "sources",
        "--out",
        cv.to_str().unwrap(),
    ]);
    let out = train_cli(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The dataset summary counts every class per source.
    for name in SOURCES {
        assert!(stdout.contains(&format!("source {name}:")), "{stdout}");
    }
    let summary = json(&cv.join("summary.json"));
    assert_eq!(summary["by_source"], true);
    assert_eq!(summary["folds"], 3);
    assert_eq!(summary["held_out_sources"], serde_json::json!(SOURCES));
    let report = std::fs::read_to_string(cv.join("report.md")).unwrap();
    for (k, name) in SOURCES.iter().enumerate() {
        assert!(stdout.contains(&format!("fold {} of 3, holding out {name}", k + 1)));
        assert!(
            report.contains(&format!("fold {} held out {name}", k + 1)),
            "{report}"
        );
        // The fold validates on the whole held-out source and on nothing else.
        let per_class = PER_CLASS as usize * CLASS_NAMES.len();
        let fold = cv.join(format!("fold-{}", k + 1));
        let fold_report = std::fs::read_to_string(fold.join("report.md")).unwrap();
        assert!(
            fold_report.contains(&format!("valid: {per_class} images"))
                && fold_report.contains(&format!("from {name} {per_class}")),
            "{fold_report}"
        );
        let config = json(&fold.join("config.json"));
        assert_eq!(config["by_source"], true);
        assert_eq!(config["recipe"]["imbalance"], "Sources");
        // Cells from several labs are brought to one colour, by the model's own preprocessing.
        let target = &config["preprocess"]["stain"]["Reinhard"];
        assert!(
            (target["mean"][0].as_f64().unwrap() + 0.29).abs() < 1e-6,
            "{config}"
        );
        assert_eq!(config["sources"][k]["name"], *name);
        // Its lists name the held-out source's images as validation, the others' as training.
        let groups = |list: &str| -> Vec<String> {
            let text = std::fs::read_to_string(fold.join(list)).unwrap();
            text.lines()
                .skip(1)
                .map(|row| row.rsplit(',').next().unwrap().to_owned())
                .collect()
        };
        let own = format!("{name}/g");
        let valid = groups("valid.csv");
        assert_eq!(valid.len(), per_class);
        assert!(valid.iter().all(|g| g.starts_with(&own)), "{valid:?}");
        let train = groups("train.csv");
        assert_eq!(train.len(), 2 * per_class);
        assert!(!train.iter().any(|g| g.starts_with(&own)), "{train:?}");
    }

    // A fold's own held-out cells are scored through its list, whatever their source.
    let fold = cv.join("fold-2");
    let scored = train_cli(&[
        "eval",
        "--model",
        fold.to_str().unwrap(),
        "--data",
        fold.join("valid.csv").to_str().unwrap(),
    ]);
    let printed = String::from_utf8_lossy(&scored.stdout);
    assert!(
        scored.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&scored.stderr)
    );
    let per_class = PER_CLASS as usize * CLASS_NAMES.len();
    assert!(
        printed.contains(&format!("{per_class} images (0 skipped)")),
        "{printed}"
    );

    // Such a cross-validation cannot be rebuilt from one --calib folder, and says so.
    let refused = train_cli(&[
        "quantize",
        "--model",
        cv.to_str().unwrap(),
        "--calib",
        dir.path().join(SOURCES[0]).to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("several sources"));
}

#[test]
fn a_source_with_an_unknown_label_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (good, bad) = (dir.path().join("good"), dir.path().join("bad"));
    write_source(&good, 1);
    write_source(&bad, 2);
    std::fs::rename(bad.join(CLASS_NAMES[1]), bad.join("Blasts")).unwrap();
    let out = train_cli(&[
        "train",
        "--source",
        &format!("good={}", good.display()),
        "--source",
        &format!("lab2={}", bad.display()),
        "--epochs",
        "1",
        "--out",
        dir.path().join("run").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in ["source lab2", "Blasts", "b-all-4"] {
        assert!(stderr.contains(needle), "{needle} in {stderr}");
    }
}

/// The model.lsm of a run folder.
fn model(run: &Path) -> leukoscope_core::artifact::ModelArtifact {
    let bytes = std::fs::read(run.join("model.lsm")).unwrap();
    let policy = leukoscope_core::artifact::TrustPolicy::any();
    leukoscope_core::artifact::ModelArtifact::decode(&bytes, &policy)
        .unwrap()
        .artifact
}

#[test]
fn a_backbone_pretrained_on_sources_lacking_classes_takes_a_new_head() {
    let dir = tempfile::tempdir().unwrap();
    let (some, all) = (dir.path().join("some"), dir.path().join("all"));
    write_source(&some, 1);
    for lacking in &CLASS_NAMES[1..3] {
        std::fs::remove_dir_all(some.join(lacking)).unwrap();
    }
    write_source(&all, 2);
    let pre = dir.path().join("pre");
    let source = format!("some={}", some.display());
    let pretrain = |command| {
        train_cli(&[
            command,
            "--source",
            &source,
            "--model",
            "simple-cnn",
            "--input-size",
            "32",
            "--epochs",
            "1",
            "--batch",
            "4",
            "--valid-fraction",
            "0",
            "--out",
            pre.to_str().unwrap(),
        ])
    };
    let refused = pretrain("train");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("Early Pre-B"),
        "{stderr}"
    );
    let out = pretrain("pretrain");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Fine-tuned on fields in another class set: the backbone's weights carry over (a
    // rate too small to move them leaves them where they were), the head is new.
    let tuned = dir.path().join("tuned");
    let fine_tune = |new_head: &[&str]| {
        let pretrained = pre.join("model.lsm");
        let mut args = vec!["train", "--init", pretrained.to_str().unwrap()];
        args.extend_from_slice(new_head);
        args.extend_from_slice(&[
            "--taxonomy",
            "all-binary",
            "--data",
            all.to_str().unwrap(),
            "--epochs",
            "1",
            "--lr",
            "0.0000001",
            "--batch",
            "4",
            "--valid-fraction",
            "0",
            "--out",
            tuned.to_str().unwrap(),
        ]);
        train_cli(&args)
    };
    let refused = fine_tune(&[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("give --new-head"),
        "{stderr}"
    );
    let out = fine_tune(&["--new-head"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("drawn fresh for 2 classes of all-binary"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recipe = &json(&tuned.join("config.json"))["recipe"];
    assert_eq!(recipe["backbone"]["model"], "simple-cnn");
    assert_eq!(recipe["backbone"]["taxonomy"], "b-all-4");
    assert_eq!(recipe["backbone"]["data"], "some");
    assert_eq!(recipe["backbone"]["images"], 2 * PER_CLASS);
    let (before, after) = (model(&pre), model(&tuned));
    assert_eq!(before.taxonomy.name, "b-all-4");
    assert_eq!(after.taxonomy.name, "all-binary");
    assert_eq!(after.spec.classes().unwrap(), 2);
    assert_eq!(before.spec.input.kind, InputKind::Cell);
    assert_eq!(
        after.spec.input.kind,
        InputKind::Field,
        "the run's input kind"
    );
    assert_eq!(after.spec.input.width, 32, "the model's input size");
    let head = after.spec.nodes.len() as u32 - 1;
    let layout = after.spec.parameter_layout().unwrap();
    for (k, tensor) in layout.iter().enumerate() {
        let (was, is) = (&before.weights.tensors[k], &after.weights.tensors[k]);
        if tensor.node == head {
            assert_eq!(is.len(), was.len() / 4 * 2, "tensor {k}: the head scores 2");
        } else {
            let moved = was.iter().zip(is).map(|(a, b)| (a - b).abs());
            let moved = moved.fold(0.0f32, f32::max);
            assert!(moved < 1e-3, "tensor {k} moved {moved}");
        }
    }
}
