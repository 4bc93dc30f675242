//! `leukoscope-train calibrate`: temperature scaling and the unidentified threshold, fit on
//! held-out images and stored in the model's artifact.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use leukoscope_core::artifact::{Metric, ModelArtifact};
use leukoscope_core::engine::Engine;
use leukoscope_trainer::calibration::{fit_temperature, probabilities, unidentified_threshold};
use leukoscope_trainer::dataset::{Dataset, DatasetFormat, ScanOptions};
use leukoscope_trainer::image_files::ImageFiles;
use leukoscope_trainer::metrics::evaluate;
use leukoscope_trainer::quantization::engine_logits;
use leukoscope_trainer::run_dir::{Int8CrossValidation, OutOfFoldLogits, RunDir, read_json};

use super::model::{load, run_config};

/// `calibrate`'s flags: the model, the held-out images (or folds) and the precision to keep.
#[derive(clap::Args)]
pub struct CalibrateArgs {
    /// The model: a .lsm file (float or int8) or a run folder.
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled images the model did not train on (same layouts as `train`). When
    /// --model is a run folder trained on this folder, only the run's validation split
    /// is used.
    #[arg(long, required_unless_present = "cv", conflicts_with = "cv")]
    pub data: Option<PathBuf>,
    /// Instead of --data: a cross-validation folder of the same recipe, quantized with
    /// `quantize --model CV`; the fit uses its pooled out-of-fold int8 logits. For a model
    /// trained on all the data, which has no held-out images of its own.
    #[arg(long)]
    pub cv: Option<PathBuf>,
    /// How to read the folder: auto, folders, cnmc, all-idb or csv.
    #[arg(long, default_value = "auto")]
    pub format: DatasetFormat,
    /// Share of the cells the device classifies that must be right on these images; the
    /// unidentified threshold is the lowest confidence that keeps it.
    #[arg(long, default_value_t = 0.99)]
    pub precision: f64,
    /// Where to write the calibrated .lsm (sign it again afterwards: the digest changes).
    #[arg(long)]
    pub out: PathBuf,
}

/// Fits the temperature and the threshold, prints what they change and writes the model.
pub fn run(args: CalibrateArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.precision > 0.0 && args.precision <= 1.0,
        "--precision must be in (0, 1]"
    );
    let (mut model, origin) = load(&args.model)?;
    println!("model {} ({origin})", model.spec.name);
    let (logits, labels) = match (&args.cv, &args.data) {
        (Some(cv), _) => out_of_fold_logits(cv, &model.taxonomy.name)?,
        (None, Some(data)) => held_out_logits(&model, &args.model, data, args.format)?,
        (None, None) => bail!("give --data or --cv"),
    };
    let temperature = fit_temperature(&logits, &labels)?;
    let before = probabilities(&logits, 1.0);
    let after = probabilities(&logits, temperature);
    let ece_before = evaluate(&before, &labels, &model.taxonomy, 0)?.expected_calibration_error;
    let ece_after = evaluate(&after, &labels, &model.taxonomy, 0)?.expected_calibration_error;
    let threshold = unidentified_threshold(&after, &labels, args.precision)?;
    println!("{} held-out images", labels.len());
    if args.cv.is_some() {
        println!("(each scored by the fold model that did not train on it)");
    }
    println!(
        "temperature {temperature:.3}: expected calibration error {ece_before:.4} -> {ece_after:.4}"
    );
    println!(
        "unidentified below {:.3}: the cells classified are right {:.2} % of the time (target {:.2} %); {:.1} % go unidentified",
        threshold.unidentified_below,
        threshold.precision * 100.0,
        args.precision * 100.0,
        threshold.unidentified_share * 100.0
    );
    if threshold.precision < args.precision {
        println!(
            "warning: no threshold reaches the target on these images; the best one is stored"
        );
    }
    model.calibration.temperature = temperature;
    model.calibration.unidentified_below = threshold.unidentified_below;
    // What the calibration was fit on travels with it, so `check` shows it.
    let fresh = [
        ("calibration_ece_before", ece_before),
        ("calibration_ece_after", ece_after),
        ("calibration_classified_precision", threshold.precision),
        (
            "calibration_unidentified_share",
            threshold.unidentified_share,
        ),
    ];
    let mut metrics: Vec<Metric> = fresh
        .iter()
        .map(|&(name, value)| Metric {
            name: name.into(),
            value,
        })
        .collect();
    if let Some(cv) = &args.cv {
        metrics.extend(cross_validation_metrics(cv)?);
    }
    model
        .provenance
        .metrics
        .retain(|m| !m.name.starts_with("calibration_") && !m.name.starts_with("cv_"));
    model.provenance.metrics.extend(metrics);
    super::write_file(&args.out, &model.encode()?)?;
    println!("wrote {} (unsigned: sign it again)", args.out.display());
    Ok(())
}

/// The int8 cross-validation figures of the recipe (`quantize --model CV`), for the
/// provenance of a model trained with it on all the data.
fn cross_validation_metrics(cv: &Path) -> anyhow::Result<Vec<Metric>> {
    let summary: Int8CrossValidation = read_json(&RunDir::new(cv).int8_summary())?;
    let (mean, std) = (&summary.int8.mean, &summary.int8.std);
    let mut figures = vec![
        ("cv_folds", summary.folds_run as f64),
        ("cv_int8_accuracy", mean.accuracy),
        ("cv_int8_accuracy_std", std.accuracy),
        ("cv_int8_macro_f1", mean.macro_f1),
        ("cv_int8_macro_f1_std", std.macro_f1),
        ("cv_int8_weighted_f1", mean.weighted_f1),
        ("cv_int8_weighted_f1_std", std.weighted_f1),
    ];
    if let Some(screen) = &summary.int8_binary
        && let Some(k) = screen.classes.iter().position(|c| c == "ALL")
    {
        let all = &screen.mean.per_class[k];
        figures.push(("cv_int8_screen_sensitivity", all.recall));
        figures.push(("cv_int8_screen_specificity", all.specificity));
    }
    Ok(figures
        .into_iter()
        .map(|(name, value)| Metric {
            name: name.into(),
            value,
        })
        .collect())
}

/// The pooled out-of-fold int8 logits that `quantize --model CV` wrote into `cv`.
fn out_of_fold_logits(cv: &Path, taxonomy: &str) -> anyhow::Result<(Vec<Vec<f32>>, Vec<u32>)> {
    let path = RunDir::new(cv).int8_out_of_fold_logits();
    let pooled: OutOfFoldLogits = read_json(&path).with_context(|| {
        format!(
            "run `leukoscope-train quantize --model {} --calib DATA` first",
            cv.display()
        )
    })?;
    if pooled.taxonomy != taxonomy {
        bail!(
            "{} scores {}, the model {taxonomy}",
            path.display(),
            pooled.taxonomy
        );
    }
    println!(
        "pooled out-of-fold int8 logits of {}: {} images",
        cv.display(),
        pooled.labels.len()
    );
    Ok((pooled.logits, pooled.labels))
}

/// `model`'s logits on `data`: the run's validation split when `path` is a run folder
/// trained on it, else every image.
fn held_out_logits(
    model: &ModelArtifact,
    path: &Path,
    data: &Path,
    format: DatasetFormat,
) -> anyhow::Result<(Vec<Vec<f32>>, Vec<u32>)> {
    let scan = ScanOptions {
        format,
        ..ScanOptions::default()
    };
    let dataset = Dataset::open(data, &model.taxonomy, &scan)?;
    let split = match run_config(path)? {
        Some(config) => config.holdout_split(data, &dataset)?,
        None => None,
    };
    let indices = match split {
        Some(split) => {
            println!("the run's validation split: {} images", split.valid.len());
            split.valid
        }
        None => (0..dataset.samples.len()).collect(),
    };
    let held_out = ImageFiles::new(
        indices
            .iter()
            .map(|&i| (dataset.samples[i].path.clone(), dataset.samples[i].label)),
        model.preprocess.clone(),
        None,
    );
    let engine = Engine::new(model)?;
    let (logits, labels, unreadable) = engine_logits(&engine, &held_out);
    if unreadable > 0 {
        println!("{unreadable} images could not be read and were skipped");
    }
    Ok((logits, labels))
}
