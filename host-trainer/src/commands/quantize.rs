//! `leukoscope-train quantize`: a trained float model to an int8 artifact, with its float and
//! int8 figures side by side; every fold of a cross-validation at once
//! ([`cross_validation`]).

mod cross_validation;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use leukoscope_core::engine::quantize::Calibrator;
use leukoscope_trainer::augment::Augment;
use leukoscope_trainer::dataset::{Dataset, DatasetFormat, ScanOptions};
use leukoscope_trainer::fit::{Progress, Recipe};
use leukoscope_trainer::image_files::ImageFiles;
use leukoscope_trainer::quantization::{
    Comparison, compare, engine_matches_burn, fine_tune_quantized, quantize_artifact,
};

use leukoscope_trainer::run_dir::RunDir;

use super::model::{load, run_config};

/// Macro F1 points int8 may lose before the command warns.
const TOLERATED_DROP_POINTS: f64 = 1.0;

/// `quantize`'s flags: the float model, the images to calibrate and measure on, the
/// calibrator and the optional fine-tuning.
#[derive(clap::Args)]
pub struct QuantizeArgs {
    /// The float model: a .lsm file, a run folder, or a run folder's checkpoint. A
    /// cross-validation folder (of `cv`) quantizes each fold's last epoch, measures it on
    /// its held-out fold and writes int8/summary.json (mean ± std over folds) and the
    /// pooled out-of-fold logits for `calibrate --cv`.
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled images to calibrate activation ranges on (same layouts as `train`).
    #[arg(long)]
    pub calib: PathBuf,
    /// Labelled images to measure float and int8 figures on (default: the run's
    /// validation split, else --calib itself, which the command then says).
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// How to read the folders: auto, folders, cnmc, all-idb or csv.
    #[arg(long, default_value = "auto")]
    pub format: DatasetFormat,
    /// min-max (observed extremes), percentile[:P] (keep P % of values, default
    /// 99.99) or mse (clipping with the least expected squared error).
    #[arg(long, default_value = "percentile:99.99")]
    pub calibrator: Calibrator,
    /// Calibration images used (spread evenly over the calibration set).
    #[arg(long, default_value_t = 256)]
    pub calib_images: usize,
    /// Epochs of quantization-aware fine-tuning (int8 rounding simulated with a
    /// straight-through estimator) on the training images, then quantize again; for
    /// when post-training quantization loses too much. 0: none.
    #[arg(long, default_value_t = 0)]
    pub qat_epochs: usize,
    /// Learning rate of the fine-tuning (Adam, cosine decay).
    #[arg(long, default_value_t = 1e-4)]
    pub qat_lr: f64,
    /// Images per fine-tuning step.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Seeds the fine-tuning's sampling and augmentation.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where to write the int8 .lsm model (required unless --model is a
    /// cross-validation folder, whose folds get model-int8.lsm each).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `count` indices spread evenly over `indices` (all of them if there are fewer).
fn spread(indices: &[usize], count: usize) -> Vec<usize> {
    if indices.len() <= count {
        return indices.to_vec();
    }
    (0..count)
        .map(|i| indices[i * indices.len() / count])
        .collect()
}

/// Quantizes the model (every fold of a cross-validation folder), prints the float and
/// int8 figures and writes the int8 model.
pub fn run(args: QuantizeArgs) -> anyhow::Result<()> {
    if RunDir::new(&args.model).is_cross_validation() {
        return cross_validation::run(&args);
    }
    let out = args
        .out
        .clone()
        .context("--out is required: where to write the int8 model")?;
    let (float, origin) = load(&args.model)?;
    if float.quantized.is_some() {
        bail!("{} is already an int8 model", args.model.display());
    }
    println!("model {} ({origin})", float.spec.name);
    let config = run_config(&args.model)?;
    // The run's own grouping, so its split is reproduced exactly.
    let scan = match &config {
        Some(config) => config.scan_options(args.format),
        None => ScanOptions {
            format: args.format,
            ..ScanOptions::default()
        },
    };
    let dataset = Dataset::open(&args.calib, &float.taxonomy, &scan)?;
    println!("{}", dataset.summary());
    let files = |indices: &[usize], data: &Dataset| {
        ImageFiles::new(
            indices
                .iter()
                .map(|&i| (data.samples[i].path.clone(), data.samples[i].label)),
            float.preprocess.clone(),
            None,
        )
    };
    let all: Vec<usize> = (0..dataset.samples.len()).collect();
    let valid_dataset;
    let split = match &config {
        Some(config) => config.holdout_split(&args.calib, &dataset)?,
        None => None,
    };
    let on_calibration_images = args.valid.is_none() && split.is_none();
    let (calibration, validation, training) = match (&args.valid, split) {
        (None, Some(split)) => {
            println!(
                "calibrating on the run's training split, measuring on its validation split ({} images)",
                split.valid.len()
            );
            (
                files(&spread(&split.train, args.calib_images), &dataset),
                files(&split.valid, &dataset),
                split.train,
            )
        }
        (Some(valid), _) => {
            valid_dataset = Dataset::open(valid, &float.taxonomy, &scan)?;
            let indices: Vec<usize> = (0..valid_dataset.samples.len()).collect();
            (
                files(&spread(&all, args.calib_images), &dataset),
                files(&indices, &valid_dataset),
                all.clone(),
            )
        }
        (None, None) => {
            println!(
                "note: no --valid folder and no run split: the figures below are measured on the calibration folder"
            );
            (
                files(&spread(&all, args.calib_images), &dataset),
                files(&all, &dataset),
                all.clone(),
            )
        }
    };
    println!(
        "calibrating ({}) on {} images ...",
        args.calibrator.name(),
        leukoscope_trainer::loader::SampleSource::len(&calibration)
    );
    let (mut int8, unreadable) = quantize_artifact(&float, &calibration, args.calibrator)?;
    if unreadable > 0 {
        println!("  {unreadable} calibration images could not be read and were skipped");
    }
    println!(
        "f32 engine vs the burn network on 32 validation images: largest logit difference {:.2e}",
        engine_matches_burn(&float, &validation, 32)?
    );
    let mut comparison = compare(&float, &int8, &validation)?;
    print_comparison(&comparison);
    if args.qat_epochs > 0 {
        println!();
        println!(
            "quantization-aware fine-tuning: {} epochs at learning rate {} ...",
            args.qat_epochs, args.qat_lr
        );
        let augment = Augment::default_recipe().with_masks(&float.preprocess.masks);
        let train = Arc::new(ImageFiles::new(
            training
                .iter()
                .map(|&i| (dataset.samples[i].path.clone(), dataset.samples[i].label)),
            float.preprocess.clone(),
            Some(augment),
        ));
        let recipe = Recipe {
            learning_rate: args.qat_lr,
            warmup_epochs: 0.0,
            ..Recipe::new(args.qat_epochs, args.batch, args.seed)
        };
        let tuned = fine_tune_quantized(
            &float,
            &int8,
            train,
            Arc::new(validation.clone()),
            &recipe,
            &mut |p| {
                if let Progress::EpochFinished { record, .. } = p {
                    println!(
                        "  epoch {}: train loss {:.4}, simulated-int8 validation macro F1 {:.4}",
                        record.epoch, record.train_loss, record.valid_macro_f1
                    );
                }
            },
        )?;
        let (tuned_int8, _) = quantize_artifact(&tuned, &calibration, args.calibrator)?;
        let tuned_comparison = compare(&float, &tuned_int8, &validation)?;
        println!("after fine-tuning (f32 column: the model before fine-tuning):");
        print_comparison(&tuned_comparison);
        int8 = tuned_int8;
        comparison = tuned_comparison;
    }
    int8.provenance
        .metrics
        .retain(|m| !m.name.starts_with("int8_") && !m.name.starts_with("f32_"));
    // Figures on the calibration images would pass for held-out ones in the model file.
    if !on_calibration_images {
        int8.provenance.metrics.extend(comparison.metrics());
    }
    let bytes = int8.encode().context("the int8 model is inconsistent")?;
    let float_size = float.encode()?.len();
    super::write_file(&out, &bytes)?;
    println!(
        "wrote {} ({:.2} MB, {:.2}x smaller than the float artifact)",
        out.display(),
        bytes.len() as f64 / 1e6,
        float_size as f64 / bytes.len() as f64
    );
    Ok(())
}

fn print_comparison(c: &Comparison) {
    println!(
        "{:<22} {:>8} {:>8} {:>8}",
        "on validation", "f32", "int8", "change"
    );
    let rows = [
        ("accuracy", c.float.accuracy, c.int8.accuracy),
        ("macro F1", c.float.macro_f1, c.int8.macro_f1),
        ("weighted F1", c.float.weighted_f1, c.int8.weighted_f1),
        ("macro recall", c.float.macro_recall, c.int8.macro_recall),
    ];
    for (name, f, q) in rows {
        println!("{name:<22} {f:>8.4} {q:>8.4} {:>+8.4}", q - f);
    }
    println!(
        "top-1 agreement        {:.4} of {} images",
        c.top1_agreement, c.float.n_images
    );
    let drop = c.macro_f1_drop_points();
    if drop > TOLERATED_DROP_POINTS {
        println!();
        println!(
            "WARNING: int8 loses {drop:.1} points of macro F1 (more than {TOLERATED_DROP_POINTS}). Do not ship this model as is:"
        );
        println!(
            "         try --calibrator mse or percentile:99.9, more --calib-images, or quantization-aware fine-tuning (--qat-epochs N)."
        );
    }
}
