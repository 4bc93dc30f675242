//! `leukoscope-train eval`: a model's figures on a labelled folder.

use std::path::PathBuf;
use std::sync::Arc;

use leukoscope_core::engine::Engine;
use leukoscope_core::network::Network;
use leukoscope_core::taxonomy::Taxonomy;
use leukoscope_trainer::backend::Cpu;
use leukoscope_trainer::dataset::{Dataset, DatasetFormat, ScanOptions};
use leukoscope_trainer::fit::predict_source;
use leukoscope_trainer::image_files::ImageFiles;
use leukoscope_trainer::metrics::{coarsen, evaluate};
use leukoscope_trainer::quantization::engine_probabilities;
use leukoscope_trainer::run_dir::write_json;

use super::model::load;

/// `eval`'s flags: the model, the labelled images and the class set to score in.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// The .lsm model, or a run folder holding model.lsm (default: the shipped
    /// model, from the repository's root).
    #[arg(long, default_value = "models/b-all-4-edge-s.lsm")]
    pub model: PathBuf,
    /// The labelled dataset (same layouts as `train`).
    #[arg(long)]
    pub data: PathBuf,
    /// How to read --data: auto, folders, cnmc, all-idb or csv.
    #[arg(long, default_value = "auto")]
    pub format: DatasetFormat,
    /// Score in this class set instead of the model's (all-binary maps Benign to
    /// Normal and the B-ALL subtypes to ALL).
    #[arg(long)]
    pub taxonomy: Option<String>,
    /// Write the figures here as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Images per inference batch.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
}

/// Scores the model on every image of `--data` and prints (and writes) the figures.
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let (model, origin) = load(&args.model)?;

    let target = match &args.taxonomy {
        Some(name) if *name != model.taxonomy.name => Some(Taxonomy::named(name)?),
        _ => None,
    };
    // Labels are read in the model's own classes when the folders name them (then mapped
    // to a coarser --taxonomy after prediction), else in the --taxonomy's (C-NMC's
    // hem/all folders for a 4-class model, say).
    let scan = ScanOptions {
        format: args.format,
        ..ScanOptions::default()
    };
    let (dataset, labelled_in_target) =
        match (Dataset::open(&args.data, &model.taxonomy, &scan), &target) {
            (Ok(d), _) => (d, false),
            (Err(_), Some(t)) => (Dataset::open(&args.data, t, &scan)?, true),
            (Err(e), None) => return Err(e.into()),
        };
    println!("{}", dataset.summary());
    let files = Arc::new(ImageFiles::new(
        dataset.samples.iter().map(|s| (s.path.clone(), s.label)),
        model.preprocess.clone(),
        None,
    ));
    // An int8 model runs in the core's integer engine, as on the board; a float one in burn.
    let (probabilities, labels, unreadable) = if model.quantized.is_some() {
        let engine = Engine::new(&model)?;
        engine_probabilities(&engine, model.calibration.temperature, files.as_ref())
    } else {
        let device = Default::default();
        let network = Network::<Cpu>::from_weights(&model.spec, &model.weights, &device)?;
        predict_source(&network, files, args.batch, &device)
    };
    let skipped = (dataset.skipped.len() + unreadable) as u64;
    let evaluation = match &target {
        Some(t) if labelled_in_target => {
            let mapping = model.taxonomy.mapping_to(t)?;
            let coarse: Vec<Vec<f32>> = probabilities
                .iter()
                .map(|p| {
                    let mut q = vec![0.0; t.len()];
                    for (i, &v) in p.iter().enumerate() {
                        q[mapping[i] as usize] += v;
                    }
                    q
                })
                .collect();
            evaluate(&coarse, &labels, t, skipped)?
        }
        Some(t) => {
            let (p, l) = coarsen(&probabilities, &labels, &model.taxonomy, t)?;
            evaluate(&p, &l, t, skipped)?
        }
        None => evaluate(&probabilities, &labels, &model.taxonomy, skipped)?,
    };
    println!("model {} ({origin})", model.spec.name);
    println!(
        "{} images ({} skipped): accuracy {:.4}, macro F1 {:.4}, weighted F1 {:.4}",
        evaluation.n_images,
        evaluation.n_skipped,
        evaluation.accuracy,
        evaluation.macro_f1,
        evaluation.weighted_f1
    );
    for c in &evaluation.per_class {
        println!(
            "  {:<12} precision {:.4} recall {:.4} F1 {:.4} specificity {:.4} AUC {} (n = {})",
            c.class,
            c.precision,
            c.recall,
            c.f1,
            c.specificity,
            c.auc.map_or("n/a".into(), |a| format!("{a:.4}")),
            c.support
        );
    }
    if dataset.fingerprint.sha256 == model.provenance.dataset.sha256 {
        println!(
            "note: the model was trained on this dataset (same fingerprint), so these figures include images it learnt from and flatter it; held-out figures are in its run's report and, for the shipped model, in docs/results.md"
        );
    }
    if let Some(path) = &args.json {
        write_json(path, &evaluation)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
