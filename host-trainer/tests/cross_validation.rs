//! The shipping path as a user runs it on an image folder: cross-validate the recipe
//! keeping each fold's last epoch, measure every fold in int8 on its own held-out images,
//! train on all the data, and calibrate that model from the folds' out-of-fold logits.

use std::path::Path;
use std::process::{Command, Output};

use leukoscope_core::artifact::{ModelArtifact, TrustPolicy};
use leukoscope_core::spec::{FIELD_UM_PER_PX, ParamRole};
use leukoscope_core::synth::{self, CLASS_NAMES, FieldOptions};

const PER_CLASS: u64 = 9;

fn train_cli(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_leukoscope-train"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "leukoscope-train {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A class-folder dataset of small synthetic fields.
fn write_dataset(root: &Path) {
    let options = FieldOptions {
        size: 64,
        ..FieldOptions::default()
    };
    for (class, name) in CLASS_NAMES.iter().enumerate() {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..PER_CLASS {
            let field = synth::field(class as u32, 1000 * class as u64 + i, &options).unwrap();
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

fn model(path: &Path) -> ModelArtifact {
    ModelArtifact::decode(&std::fs::read(path).unwrap(), &TrustPolicy::any())
        .unwrap()
        .artifact
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn folds_in_int8_then_all_data_then_calibration_from_the_folds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_dataset(&data);
    let (data_arg, cv) = (data.to_str().unwrap(), dir.path().join("cv"));
    let common = [
        "--data",
        data_arg,
        "--model",
        "tiny-cnn",
        "--input-size",
        "32",
        "--epochs",
        "2",
        "--batch",
        "8",
    ];

    // Two of three folds, keeping each fold's last epoch.
    let mut args = vec!["cv"];
    args.extend(common);
    args.extend([
        "--folds",
        "3",
        "--run-folds",
        "2",
        "--keep",
        "last",
        "--out",
        cv.to_str().unwrap(),
    ]);
    train_cli(&args);
    assert!(cv.join("fold-2").is_dir() && !cv.join("fold-3").exists());
    let summary = json(&cv.join("summary.json"));
    assert_eq!(summary["folds_run"], 2);
    assert_eq!(summary["per_fold"].as_array().unwrap().len(), 2);
    let kept = model(&cv.join("fold-1/model.lsm"));
    let epoch = kept
        .provenance
        .metrics
        .iter()
        .find(|m| m.name == "best_epoch");
    assert_eq!(epoch.map(|m| m.value), Some(2.0), "the last epoch is kept");

    // Each fold in int8, on its own held-out images; nothing else applies to a cv folder.
    let refused = Command::new(env!("CARGO_BIN_EXE_leukoscope-train"))
        .args([
            "quantize",
            "--model",
            cv.to_str().unwrap(),
            "--calib",
            data_arg,
        ])
        .args(["--out", "x.lsm"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cross-validation folder"));
    train_cli(&[
        "quantize",
        "--model",
        cv.to_str().unwrap(),
        "--calib",
        data_arg,
    ]);
    let int8 = json(&cv.join("int8/summary.json"));
    assert_eq!(int8["folds_run"], 2);
    assert_eq!(int8["int8_per_fold"].as_array().unwrap().len(), 2);
    let held_out: u64 = int8["int8_per_fold"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["n_images"].as_u64().unwrap())
        .sum();
    let logits = json(&cv.join("int8/out-of-fold-logits.json"));
    assert_eq!(logits["labels"].as_array().unwrap().len() as u64, held_out);
    // Two folds of three hold out about two thirds of the images, each once.
    let total = PER_CLASS * 4;
    assert!(
        held_out > total / 2 && held_out < total,
        "{held_out} held out"
    );
    for k in [1, 2] {
        let fold = model(&cv.join(format!("fold-{k}/model-int8.lsm")));
        assert!(fold.quantized.is_some(), "fold {k} is not int8");
    }

    // The results table row says what the summaries and the files say.
    let rows = dir.path().join("rows.json");
    let table = dir.path().join("table.md");
    train_cli(&[
        "results",
        "--cv",
        cv.to_str().unwrap(),
        "--latency-runs",
        "3",
        "--out",
        table.to_str().unwrap(),
        "--json",
        rows.to_str().unwrap(),
    ]);
    let row = &json(&rows)[0];
    assert_eq!(
        row["int8"]["mean"]["macro_f1"],
        int8["int8"]["mean"]["macro_f1"]
    );
    assert_eq!(row["folds_run"], 2);
    let size = std::fs::metadata(cv.join("fold-1/model-int8.lsm"))
        .unwrap()
        .len();
    assert_eq!(row["int8_bytes"].as_u64(), Some(size));
    assert!(row["int8_latency_ms"].as_f64().unwrap() > 0.0);
    let markdown = std::fs::read_to_string(&table).unwrap();
    assert!(
        markdown.contains("| cv | tiny-cnn | b-all-4 | 2 of 3 × 2, 32px | adam,"),
        "{markdown}"
    );

    // All the data, no hold-out: the last epoch, at the scale its input size gives.
    let all = dir.path().join("all");
    let mut args = vec!["train"];
    args.extend(common);
    args.extend(["--valid-fraction", "0", "--out", all.to_str().unwrap()]);
    train_cli(&args);
    let all_int8 = dir.path().join("all-int8.lsm");
    train_cli(&[
        "quantize",
        "--model",
        all.to_str().unwrap(),
        "--calib",
        data_arg,
        "--out",
        all_int8.to_str().unwrap(),
    ]);
    let report = std::fs::read_to_string(all.join("report.md")).unwrap();
    assert!(report.contains("training images (no hold-out)"), "{report}");
    assert!(!report.contains("held-out set"));
    let config = json(&all.join("config.json"));
    assert_eq!(config["recipe"]["keep"], "Last");
    let float = model(&all.join("model.lsm"));
    let expected = FIELD_UM_PER_PX * 224.0 / 32.0;
    assert!((float.spec.input.um_per_px - expected).abs() < 1e-4);

    // Evaluating it on the images it learnt from is allowed, but says what the figures are.
    let out = train_cli(&["eval", "--model", all.to_str().unwrap(), "--data", data_arg]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("trained on this dataset"), "{stdout}");
    let other = dir.path().join("other");
    write_dataset(&other);
    std::fs::remove_file(other.join("Benign/0.png")).unwrap();
    let out = train_cli(&[
        "eval",
        "--model",
        all.to_str().unwrap(),
        "--data",
        other.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("trained on this dataset"), "{stdout}");

    // A lab with normal cells only (no blasts) is scored over the class it has, with the
    // share of its cells called malignant.
    let normal_only = dir.path().join("normal-only");
    std::fs::create_dir_all(&normal_only).unwrap();
    let benign = normal_only.join("Benign");
    std::fs::rename(other.join("Benign"), &benign).unwrap();
    let out = train_cli(&[
        "eval",
        "--model",
        all.to_str().unwrap(),
        "--data",
        normal_only.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("macro F1 over the classes present (1)")
            && stdout.contains("false-malignant rate 0.")
            && stdout.contains("malignant sensitivity n/a"),
        "{stdout}"
    );
    std::fs::rename(&benign, other.join("Benign")).unwrap();

    // The same folder read as cells without labels: what the int8 model calls each cell.
    let images = walk_pngs(&other);
    let calls_json = dir.path().join("calls.json");
    let calls_csv = dir.path().join("calls.csv");
    let out = train_cli(&[
        "eval",
        "--model",
        all_int8.to_str().unwrap(),
        "--unlabelled",
        other.to_str().unwrap(),
        "--json",
        calls_json.to_str().unwrap(),
        "--predictions",
        calls_csv.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{images} cells without labels"))
            && stdout.contains("called malignant"),
        "{stdout}"
    );
    let calls = json(&calls_json);
    let per_class: Vec<(String, u64)> = calls["per_class"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e[0].as_str().unwrap().to_owned(), e[1].as_u64().unwrap()))
        .collect();
    assert_eq!(per_class.iter().map(|(_, n)| n).sum::<u64>(), images as u64);
    let malignant: u64 = per_class
        .iter()
        .filter(|(name, _)| name != "Benign")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(calls["malignant"], malignant);
    // Every cell's own call, as many of each class as the counts say, without labels.
    let rows = predictions(&calls_csv);
    assert_eq!(rows.len(), images);
    for (name, n) in &per_class {
        let called = rows.iter().filter(|r| r.called == *name).count();
        assert_eq!(called as u64, *n, "{name}");
    }
    assert!(rows.iter().all(|r| r.label.is_empty()
        && r.confidence > 0.0
        && r.confidence <= 1.0
        && r.energy.is_finite()));

    // With labels, the rows give back the accuracy printed.
    let labelled_csv = dir.path().join("labelled.csv");
    let out = train_cli(&[
        "eval",
        "--model",
        all_int8.to_str().unwrap(),
        "--data",
        other.to_str().unwrap(),
        "--predictions",
        labelled_csv.to_str().unwrap(),
        "--familiar",
        data_arg,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rows = predictions(&labelled_csv);
    assert_eq!(rows.len(), images);
    let right = rows.iter().filter(|r| r.label == r.called).count();
    let accuracy = format!("accuracy {:.4}", right as f64 / images as f64);
    assert!(stdout.contains(&accuracy), "{accuracy} not in {stdout}");
    assert!(
        rows.iter()
            .all(|r| r.image.starts_with(other.to_str().unwrap()))
    );
    assert_eq!(
        calls["classified"].as_u64().unwrap() + calls["unidentified"].as_u64().unwrap(),
        images as u64
    );

    // Measured against the cells it learnt from, fields like them lie near and images
    // unlike any smear (green checkerboards) far.
    assert!(stdout.contains("familiar cells:"), "{stdout}");
    let strange = dir.path().join("strange");
    std::fs::create_dir_all(&strange).unwrap();
    for i in 0..6u32 {
        image::RgbImage::from_fn(64, 64, |x, y| {
            let on = (x / (2 + i) + y / (2 + i)) % 2 == 0;
            image::Rgb(if on { [0, 255, 0] } else { [255, 255, 0] })
        })
        .save(strange.join(format!("{i}.png")))
        .unwrap();
    }
    let strange_csv = dir.path().join("strange.csv");
    let out = train_cli(&[
        "eval",
        "--model",
        all_int8.to_str().unwrap(),
        "--unlabelled",
        strange.to_str().unwrap(),
        "--predictions",
        strange_csv.to_str().unwrap(),
        "--familiar",
        data_arg,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let median = |rows: &[PredictionRow]| {
        let mut d: Vec<f64> = rows.iter().map(|r| r.distance.unwrap()).collect();
        d.sort_by(f64::total_cmp);
        d[d.len() / 2]
    };
    let (near, far) = (median(&rows), median(&predictions(&strange_csv)));
    assert!(far > 3.0 * near, "smear fields {near}, checkerboards {far}");

    // `familiar` stores that measure in the model, its threshold set on held-out fields
    // like the training ones; the model then tells the checkerboards by itself.
    let profiled = dir.path().join("profiled.lsm");
    let out = train_cli(&[
        "familiar",
        "--model",
        all_int8.to_str().unwrap(),
        "--familiar",
        data_arg,
        "--held-out",
        other.to_str().unwrap(),
        "--out",
        profiled.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("unfamiliar above"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&profiled).unwrap();
    assert_eq!(bytes[8..10], [3, 0], "a profiled model is format version 3");
    let profile = model(&profiled).familiarity.expect("a familiarity profile");
    let held_out_flagged = rows
        .iter()
        .filter(|r| r.distance.unwrap() > f64::from(profile.unfamiliar_above) * 1.001)
        .count();
    assert!(
        held_out_flagged <= images.div_ceil(20),
        "{held_out_flagged} of {images} held-out fields flagged"
    );
    let out = train_cli(&[
        "eval",
        "--model",
        profiled.to_str().unwrap(),
        "--unlabelled",
        strange.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("unfamiliar: 6 of 6 cells"), "{stdout}");

    // A lab's own cells, without labels, give the float model its batch-norm statistics;
    // the int8 one is refused.
    let adapted = dir.path().join("adapted.lsm");
    let out = train_cli(&[
        "adapt",
        "--model",
        all.to_str().unwrap(),
        "--cells",
        other.to_str().unwrap(),
        "--batch",
        "4",
        "--out",
        adapted.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("batch norm  1"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (before, after) = (model(&all.join("model.lsm")), model(&adapted));
    let layout = before.spec.parameter_layout().unwrap();
    for (k, tensor) in layout.iter().enumerate() {
        let statistic = matches!(tensor.role, ParamRole::RunningMean | ParamRole::RunningVar);
        let moved = before.weights.tensors[k] != after.weights.tensors[k];
        assert_eq!(moved, statistic, "{:?}", tensor.role);
    }
    let adapted_cells = after
        .provenance
        .metrics
        .iter()
        .find(|m| m.name == "adapted_cells")
        .map(|m| m.value);
    assert_eq!(adapted_cells, Some(images as f64));
    let refused = Command::new(env!("CARGO_BIN_EXE_leukoscope-train"))
        .args(["adapt", "--model", all_int8.to_str().unwrap(), "--cells"])
        .args([other.to_str().unwrap(), "--out"])
        .arg(dir.path().join("never.lsm"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("int8 model"),
        "{stderr}"
    );

    // Fine-tuning starts from the model given: its network, input and weights (a rate too
    // small to move the learnt weights leaves them where they were), not a fresh network.
    let tuned = dir.path().join("tuned");
    let out = train_cli(&[
        "train",
        "--init",
        all.join("model.lsm").to_str().unwrap(),
        "--data",
        other.to_str().unwrap(),
        "--model",
        "resnet18",
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
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("starting from"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tuned_model = model(&tuned.join("model.lsm"));
    assert_eq!(
        tuned_model.spec, before.spec,
        "--model is not used with --init"
    );
    assert_eq!(tuned_model.preprocess, before.preprocess);
    let backbone = &json(&tuned.join("config.json"))["recipe"]["backbone"];
    assert_eq!(backbone["model"], before.spec.name.as_str());
    assert_eq!(backbone["taxonomy"], "b-all-4");
    for (k, tensor) in layout.iter().enumerate() {
        if tensor.role == ParamRole::Weight {
            let moved = before.weights.tensors[k]
                .iter()
                .zip(&tuned_model.weights.tensors[k])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(moved < 1e-3, "tensor {k} moved {moved}");
        }
    }
    for (init, says) in [(&all_int8, "int8 only"), (&profiled, "int8 only")] {
        let refused = Command::new(env!("CARGO_BIN_EXE_leukoscope-train"))
            .args(["train", "--init", init.to_str().unwrap(), "--data"])
            .args([other.to_str().unwrap(), "--out"])
            .arg(dir.path().join("never"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            !refused.status.success() && stderr.contains(says),
            "{stderr}"
        );
    }
    let refused = Command::new(env!("CARGO_BIN_EXE_leukoscope-train"))
        .args(["train", "--init", all.join("model.lsm").to_str().unwrap()])
        .args([
            "--taxonomy",
            "all-binary",
            "--data",
            other.to_str().unwrap(),
            "--out",
        ])
        .arg(dir.path().join("never"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("classifies in b-all-4"),
        "{stderr}"
    );

    // Calibrated from the folds' out-of-fold logits, since it has no held-out images.
    let calibrated = dir.path().join("calibrated.lsm");
    let out = train_cli(&[
        "calibrate",
        "--model",
        all_int8.to_str().unwrap(),
        "--cv",
        cv.to_str().unwrap(),
        "--out",
        calibrated.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{held_out} held-out images")),
        "{stdout}"
    );
    let shipped = model(&calibrated);
    let figure = |name: &str| {
        shipped
            .provenance
            .metrics
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.value)
    };
    assert_eq!(
        figure("cv_int8_macro_f1"),
        int8["int8"]["mean"]["macro_f1"].as_f64()
    );
    assert_eq!(figure("cv_folds"), Some(2.0));
    assert!(figure("calibration_unidentified_share").is_some());
    // Its own figures were on its training images, and say so.
    assert!(figure("training_images_accuracy").is_some());
    assert!(figure("valid_accuracy").is_none() && figure("int8_accuracy").is_none());
    let calibration = shipped.calibration;
    assert!(calibration.temperature > 0.0 && calibration.temperature != 1.0);
    assert!((0.0..=1.0).contains(&calibration.unidentified_below));
}

#[test]
fn calibration_refuses_folds_of_another_class_set() {
    let dir = tempfile::tempdir().unwrap();
    let cv = dir.path().join("cv");
    std::fs::create_dir_all(cv.join("int8")).unwrap();
    std::fs::write(
        cv.join("int8/out-of-fold-logits.json"),
        r#"{"taxonomy":"all-binary","labels":[0,1],"logits":[[1.0,0.0],[0.0,1.0]]}"#,
    )
    .unwrap();
    let demo =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../edge-runtime/demo/synthetic-demo-int8.lsm");
    let out = Command::new(env!("CARGO_BIN_EXE_leukoscope-train"))
        .args(["calibrate", "--model"])
        .arg(&demo)
        .arg("--cv")
        .arg(&cv)
        .args(["--out"])
        .arg(dir.path().join("x.lsm"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("all-binary") && stderr.contains("b-all-4"),
        "{stderr}"
    );
    assert!(!dir.path().join("x.lsm").exists());
}

/// How many PNG files lie under `dir`, at any depth.
fn walk_pngs(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .map(|path| {
            if path.is_dir() {
                walk_pngs(&path)
            } else {
                usize::from(path.extension().is_some_and(|e| e == "png"))
            }
        })
        .sum()
}

/// One row of `eval --predictions`.
struct PredictionRow {
    image: String,
    label: String,
    called: String,
    confidence: f64,
    energy: f64,
    /// With `--familiar`.
    distance: Option<f64>,
}

fn predictions(path: &Path) -> Vec<PredictionRow> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let columns = match header {
        "image,label,called,confidence,energy" => 5,
        "image,label,called,confidence,energy,distance" => 6,
        _ => panic!("{header}"),
    };
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), columns, "{line}");
            PredictionRow {
                image: f[0].to_owned(),
                label: f[1].to_owned(),
                called: f[2].to_owned(),
                confidence: f[3].parse().unwrap(),
                energy: f[4].parse().unwrap(),
                distance: f.get(5).map(|d| d.parse().unwrap()),
            }
        })
        .collect()
}
