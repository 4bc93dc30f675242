//! `leukoscope-train calibrate`: temperature scaling and the unidentified threshold, fit on
//! held-out images and stored in the model's artifact.

use std::path::PathBuf;

use anyhow::Context;
use leukoscope_core::engine::Engine;
use leukoscope_trainer::calibration::{fit_temperature, probabilities, unidentified_threshold};
use leukoscope_trainer::dataset::{Dataset, DatasetFormat, ScanOptions};
use leukoscope_trainer::export::write_atomically;
use leukoscope_trainer::files::ImageFiles;
use leukoscope_trainer::metrics::evaluate;
use leukoscope_trainer::quantization::engine_logits;

use super::eval::load;
use super::quantize::{run_config, run_split};

/// Options of `calibrate`.
#[derive(clap::Args)]
pub struct CalibrateArgs {
    /// The model: a .lsm file (float or int8) or a run folder.
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled images the model did not train on (same layouts as `train`). When
    /// --model is a run folder trained on this folder, only the run's validation split
    /// is used.
    #[arg(long)]
    pub data: PathBuf,
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

pub fn run(args: CalibrateArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.precision > 0.0 && args.precision <= 1.0,
        "--precision must be in (0, 1]"
    );
    let (mut model, origin) = load(&args.model)?;
    println!("model {} ({origin})", model.spec.name);
    let scan = ScanOptions {
        format: args.format,
        ..ScanOptions::default()
    };
    let dataset = Dataset::open(&args.data, &model.taxonomy, &scan)?;
    let indices = match run_config(&args.model)? {
        Some(config) => match run_split(&config, &args.data, &dataset)? {
            Some((_, valid)) => {
                println!("the run's validation split: {} images", valid.len());
                valid
            }
            None => (0..dataset.samples.len()).collect(),
        },
        None => (0..dataset.samples.len()).collect(),
    };
    let held_out = ImageFiles::new(
        indices
            .iter()
            .map(|&i| (dataset.samples[i].path.clone(), dataset.samples[i].label)),
        model.preprocess.clone(),
        None,
    );
    let engine = Engine::new(&model)?;
    let (logits, labels, unreadable) = engine_logits(&engine, &held_out);
    if unreadable > 0 {
        println!("{unreadable} images could not be read and were skipped");
    }
    let temperature = fit_temperature(&logits, &labels)?;
    let before = probabilities(&logits, 1.0);
    let after = probabilities(&logits, temperature);
    let ece_before = evaluate(&before, &labels, &model.taxonomy, 0)?.expected_calibration_error;
    let ece_after = evaluate(&after, &labels, &model.taxonomy, 0)?.expected_calibration_error;
    let threshold = unidentified_threshold(&after, &labels, args.precision)?;
    println!("{} held-out images", labels.len());
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
    write_atomically(&args.out, &model.encode()?)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("wrote {} (unsigned: sign it again)", args.out.display());
    Ok(())
}
