//! `leukoscope-train quantize --model CV_FOLDER`: every fold of a cross-validation
//! quantized to int8 and measured on its own held-out fold, so the figures are those of
//! the model that ships (int8) and not of its float parent.
//!
//! Each fold's *last* epoch is used whatever the run kept: the shipped model is trained on
//! all the data and can only keep its last epoch, and choosing the best epoch on the fold
//! that then measures it would flatter the figures.

use anyhow::{Context, bail};
use leukoscope_core::engine::Engine;
use leukoscope_core::taxonomy::Taxonomy;
use leukoscope_trainer::calibration::probabilities;
use leukoscope_trainer::dataset::{Dataset, group_k_fold};
use leukoscope_trainer::fit::Keep;
use leukoscope_trainer::image_files::ImageFiles;
use leukoscope_trainer::metrics::{coarsen, evaluate, summarize};
use leukoscope_trainer::quantization::{compare, engine_logits, quantize_artifact};
use leukoscope_trainer::run_dir::{Int8CrossValidation, OutOfFoldLogits, RunDir, write_json};

use super::{QuantizeArgs, spread};
use crate::commands::model::checkpoint_artifact;
use crate::commands::write_file;

/// Quantizes and measures every fold of the cross-validation `args.model`.
pub fn run(args: &QuantizeArgs) -> anyhow::Result<()> {
    let cv = RunDir::new(&args.model);
    if args.valid.is_some() || args.out.is_some() || args.qat_epochs > 0 {
        bail!(
            "{} is a cross-validation folder: each fold is measured on its own held-out fold and written as fold-k/model-int8.lsm, so --valid, --out and --qat-epochs do not apply",
            cv.path().display()
        );
    }
    let dirs = cv.folds();
    let first = dirs.first().context("the cross-validation has no fold")?;
    let config = first.read_config()?;
    let Some(folds) = config.folds() else {
        bail!(
            "{} is of a `{}` run, not of a fold of `cv`",
            first.config().display(),
            config.mode()
        );
    };
    if config
        .image_run()
        .is_some_and(|run| !run.sources.is_empty())
    {
        bail!(
            "the folds were trained on several sources ({}); `quantize --model CV` reads one --calib folder and cannot rebuild these folds yet",
            config.data.display()
        );
    }
    if !config.trained_on(&args.calib) {
        bail!(
            "the folds were trained on {}; pass that folder as --calib so each fold is measured on its own held-out part",
            config.data.display()
        );
    }
    let taxonomy = Taxonomy::named(&config.taxonomy)?;
    let scan = config.scan_options(args.format);
    let dataset = Dataset::open(&args.calib, &taxonomy, &scan)?;
    println!("{}", dataset.summary());
    let splits = group_k_fold(&dataset, folds, config.recipe.seed)?;
    let binary_taxonomy = Taxonomy::all_binary();
    let (mut floats, mut int8s, mut binaries) = (Vec::new(), Vec::new(), Vec::new());
    let (mut agreement, mut sizes) = (Vec::new(), Vec::new());
    let mut pooled = OutOfFoldLogits {
        taxonomy: taxonomy.name.clone(),
        labels: Vec::new(),
        logits: Vec::new(),
    };
    for (dir, split) in dirs.iter().zip(&splits) {
        println!("\n== {} (last epoch) ==", dir.path().display());
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
        let calibration = files(&spread(&split.train, args.calib_images));
        let held_out = files(&split.valid);
        let (mut int8, _) = quantize_artifact(&float, &calibration, args.calibrator)?;
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
        write_file(&dir.model_int8(), &bytes)?;
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
        folds: folds as u64,
        folds_run: dirs.len() as u64,
        epoch: "last".into(),
        calibrator: args.calibrator.name(),
        calib_images: args.calib_images,
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
    write_json(&cv.int8_summary(), &summary)?;
    write_json(&cv.int8_out_of_fold_logits(), &pooled)?;
    println!(
        "wrote {} and each fold's model-int8.lsm",
        cv.int8_summary().display()
    );
    Ok(())
}
