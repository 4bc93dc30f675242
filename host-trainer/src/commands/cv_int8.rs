//! `leukoscope-train quantize --model CV_FOLDER`: every fold of a cross-validation
//! quantized to int8 and measured on its own held-out fold, so the figures are those of
//! the model that ships (int8) and not of its float parent.
//!
//! Each fold's *last* epoch is used whatever the run kept: the shipped model is trained on
//! all the data and can only keep its last epoch, and choosing the best epoch on the fold
//! that then measures it would flatter the figures.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use leukoscope_core::engine::Engine;
use leukoscope_core::taxonomy::Taxonomy;
use leukoscope_trainer::calibration::probabilities;
use leukoscope_trainer::dataset::{Dataset, ScanOptions, group_k_fold};
use leukoscope_trainer::files::ImageFiles;
use leukoscope_trainer::fit::Keep;
use leukoscope_trainer::metrics::{Evaluation, Summary, coarsen, evaluate, summarize};
use leukoscope_trainer::quantization::{compare, engine_logits, quantize_artifact};
use serde::{Deserialize, Serialize};

use super::eval::checkpoint_artifact;
use super::quantize::{QuantizeArgs, run_config, same_folder, spread};
use super::run::write_json;

/// Where the pooled out-of-fold int8 logits go, for `calibrate --cv`.
pub const OUT_OF_FOLD_LOGITS: &str = "int8/out-of-fold-logits.json";

/// Where the fold-by-fold figures go.
pub const SUMMARY: &str = "int8/summary.json";

/// What `quantize --model CV` measured: float and int8 figures of each fold's last
/// epoch on its own held-out fold.
#[derive(Serialize, Deserialize)]
pub struct Int8CrossValidation {
    /// Folds of the split.
    pub folds: u64,
    /// Folds trained and measured (the first ones).
    pub folds_run: u64,
    /// The epoch measured in each fold: always "last".
    pub epoch: String,
    /// The activation calibrator of the int8 models.
    pub calibrator: String,
    /// Training images each fold calibrated on.
    pub calib_images: usize,
    /// Float figures, mean and std over folds.
    pub float: Summary,
    /// Int8 figures, mean and std over folds.
    pub int8: Summary,
    /// The int8 Benign-vs-ALL screen; `None` when the class set is already binary.
    pub int8_binary: Option<Summary>,
    /// Int8 figures of every held-out image at once.
    pub int8_pooled_out_of_fold: Evaluation,
    /// Share of held-out images where float and int8 agree, per fold.
    pub top1_agreement: Vec<f64>,
    /// Size of each fold's int8 artifact.
    pub int8_bytes: Vec<usize>,
    /// Per-fold figures behind the summaries.
    pub float_per_fold: Vec<Evaluation>,
    /// Per-fold int8 figures.
    pub int8_per_fold: Vec<Evaluation>,
    /// Per-fold int8 screen figures.
    pub int8_binary_per_fold: Vec<Evaluation>,
}

/// Every held-out image's int8 logits, each scored by the fold model that did not train
/// on it.
#[derive(Serialize, Deserialize)]
pub struct OutOfFoldLogits {
    /// The class set the logits score.
    pub taxonomy: String,
    /// True classes.
    pub labels: Vec<u32>,
    /// Raw int8-engine logits (temperature 1), one row per image.
    pub logits: Vec<Vec<f32>>,
}

/// Whether `path` is a cross-validation folder (holds `fold-1`).
pub fn is_cv_folder(path: &Path) -> bool {
    path.join("fold-1").join("config.json").is_file()
}

/// The fold folders of `cv`, in order.
fn fold_dirs(cv: &Path) -> Vec<PathBuf> {
    (1..)
        .map(|k| cv.join(format!("fold-{k}")))
        .take_while(|d| d.join("config.json").is_file())
        .collect()
}

pub fn run(options: &QuantizeArgs) -> anyhow::Result<()> {
    let cv = &options.model;
    if options.valid.is_some() || options.out.is_some() || options.qat_epochs > 0 {
        bail!(
            "{} is a cross-validation folder: each fold is measured on its own held-out fold and written as fold-k/model-int8.lsm, so --valid, --out and --qat-epochs do not apply",
            cv.display()
        );
    }
    let dirs = fold_dirs(cv);
    let config = run_config(&dirs[0])?.context("the first fold has no config.json")?;
    let (Some(folds), Some(seed), Some(data)) = (
        config["folds"].as_u64(),
        config["recipe"]["seed"].as_u64(),
        config["data"].as_str(),
    ) else {
        bail!(
            "{} does not say its folds, seed and data",
            dirs[0].join("config.json").display()
        );
    };
    if !same_folder(Path::new(data), &options.calib) {
        bail!(
            "the folds were trained on {data}; pass that folder as --calib so each fold is measured on its own held-out part"
        );
    }
    let taxonomy = Taxonomy::named(config["taxonomy"].as_str().unwrap_or_default())?;
    let mut scan = ScanOptions {
        format: options.format,
        ..ScanOptions::default()
    };
    if let Some(d) = config["near_duplicate_distance"].as_u64() {
        scan.near_duplicate_distance = d as u32;
    }
    let dataset = Dataset::open(&options.calib, &taxonomy, &scan)?;
    println!("{}", dataset.summary());
    let splits = group_k_fold(&dataset, folds as usize, seed)?;
    let binary_taxonomy = Taxonomy::all_binary();
    let (mut floats, mut int8s, mut binaries) = (Vec::new(), Vec::new(), Vec::new());
    let (mut agreement, mut sizes) = (Vec::new(), Vec::new());
    let mut pooled = OutOfFoldLogits {
        taxonomy: taxonomy.name.clone(),
        labels: Vec::new(),
        logits: Vec::new(),
    };
    for (dir, split) in dirs.iter().zip(&splits) {
        println!("\n== {} (last epoch) ==", dir.display());
        let float = checkpoint_artifact(dir, Keep::Last)?;
        let files = |indices: &[usize]| {
            ImageFiles::new(
                indices
                    .iter()
                    .map(|&i| (dataset.samples[i].path.clone(), dataset.samples[i].label)),
                float.preprocess.clone(),
                None,
            )
        };
        let calibration = files(&spread(&split.train, options.calib_images));
        let held_out = files(&split.valid);
        let (mut int8, _) = quantize_artifact(&float, &calibration, options.calibrator)?;
        let comparison = compare(&float, &int8, &held_out)?;
        println!(
            "held-out fold of {} images: macro F1 f32 {:.4}, int8 {:.4}; top-1 agreement {:.4}",
            comparison.float.n_images,
            comparison.float.macro_f1,
            comparison.int8.macro_f1,
            comparison.top1_agreement
        );
        let (logits, labels, _) = engine_logits(&Engine::new(&int8)?, &held_out);
        if taxonomy.name != binary_taxonomy.name {
            let (p, l) = coarsen(
                &probabilities(&logits, 1.0),
                &labels,
                &taxonomy,
                &binary_taxonomy,
            )?;
            binaries.push(evaluate(&p, &l, &binary_taxonomy, 0)?);
        }
        pooled.labels.extend(labels);
        pooled.logits.extend(logits);
        int8.provenance.metrics.extend(comparison.metrics());
        let bytes = int8.encode().context("the int8 model is inconsistent")?;
        sizes.push(bytes.len());
        super::write_file(&dir.join("model-int8.lsm"), &bytes)?;
        agreement.push(comparison.top1_agreement);
        floats.push(comparison.float);
        int8s.push(comparison.int8);
    }
    let pooled_eval = evaluate(
        &probabilities(&pooled.logits, 1.0),
        &pooled.labels,
        &taxonomy,
        0,
    )?;
    let binary_summary = (!binaries.is_empty())
        .then(|| summarize(&binaries))
        .transpose()?;
    let float_summary = summarize(&floats)?;
    let int8_summary = summarize(&int8s)?;
    println!(
        "\n{} of {folds} folds, last epoch, mean ± std over folds\nf32:\n{float_summary}\nint8:\n{int8_summary}",
        dirs.len()
    );
    if let Some(b) = &binary_summary {
        println!("int8 binary screen (Benign vs ALL):\n{b}");
    }
    let summary = Int8CrossValidation {
        folds,
        folds_run: dirs.len() as u64,
        epoch: "last".into(),
        calibrator: options.calibrator.name(),
        calib_images: options.calib_images,
        float: float_summary,
        int8: int8_summary,
        int8_binary: binary_summary,
        int8_pooled_out_of_fold: pooled_eval,
        top1_agreement: agreement,
        int8_bytes: sizes,
        float_per_fold: floats,
        int8_per_fold: int8s,
        int8_binary_per_fold: binaries,
    };
    std::fs::create_dir_all(cv.join("int8"))?;
    write_json(&cv.join(SUMMARY), &summary)?;
    write_json(&cv.join(OUT_OF_FOLD_LOGITS), &pooled)?;
    println!(
        "wrote {} and each fold's model-int8.lsm",
        cv.join(SUMMARY).display()
    );
    Ok(())
}
