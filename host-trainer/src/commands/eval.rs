//! `leukoscope-train eval`: a model's figures on a labelled folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use leukoscope_core::artifact::{ModelArtifact, TrustPolicy};
use leukoscope_core::engine::Engine;
use leukoscope_core::network::Network;
use leukoscope_core::preprocess::Preprocess;
use leukoscope_core::taxonomy::Taxonomy;
use leukoscope_trainer::backend::Cpu;
use leukoscope_trainer::dataset::{Dataset, DatasetFormat, ScanOptions};
use leukoscope_trainer::files::ImageFiles;
use leukoscope_trainer::fit::{Keep, network_from_checkpoint, predict_source};
use leukoscope_trainer::metrics::{coarsen, evaluate};
use leukoscope_trainer::quantization::engine_probabilities;

use super::run::{read_json, write_json};

/// Options of `eval`.
pub struct EvalOptions {
    pub model: PathBuf,
    pub data: PathBuf,
    pub format: DatasetFormat,
    pub taxonomy: Option<String>,
    pub json: Option<PathBuf>,
    pub batch: usize,
}

/// The model behind `path`: a `.lsm` file; a run folder's `model.lsm`; or, for a run
/// that has not finished, the best network of its checkpoint.
pub(super) fn load(path: &Path) -> anyhow::Result<(ModelArtifact, String)> {
    let file = if path.is_dir() {
        path.join("model.lsm")
    } else {
        path.to_owned()
    };
    if file.exists() || !path.is_dir() {
        let bytes =
            std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let verified = ModelArtifact::decode(&bytes, &TrustPolicy::any())
            .with_context(|| format!("{} is refused", file.display()))?;
        return Ok((
            verified.artifact,
            format!("{} (digest {})", file.display(), verified.digest),
        ));
    }
    let artifact = checkpoint_artifact(path, Keep::Best)?;
    Ok((
        artifact,
        format!(
            "best network of the checkpoint in {}",
            path.join("checkpoint").display()
        ),
    ))
}

/// The kept (`Best`) or latest (`Last`) network of the run folder `run`'s checkpoint, as
/// a float artifact carrying the run's preprocessing and provenance.
pub(super) fn checkpoint_artifact(run: &Path, which: Keep) -> anyhow::Result<ModelArtifact> {
    let checkpoint = run.join("checkpoint");
    let config_path = run.join("config.json");
    if !checkpoint.join("state.json").exists() || !config_path.exists() {
        bail!(
            "{} is neither a model file nor a run folder with a model or a checkpoint",
            run.display()
        );
    }
    let config: serde_json::Value = read_json(&config_path)?;
    let taxonomy = Taxonomy::named(config["taxonomy"].as_str().unwrap_or_default())?;
    let preprocess: Preprocess = serde_json::from_value(config["preprocess"].clone())
        .with_context(|| format!("{} has no valid preprocessing", config_path.display()))?;
    let network = network_from_checkpoint::<Cpu>(&checkpoint, which, &Default::default())?;
    let artifact = leukoscope_trainer::export::artifact(
        &network,
        taxonomy,
        preprocess,
        run_provenance(run, &config)?,
    );
    artifact.validate()?;
    Ok(artifact)
}

/// What a run folder says about its model: the configuration, the dataset fingerprint and
/// the validation figures of its best epoch (when the run got that far).
fn run_provenance(
    run: &Path,
    config: &serde_json::Value,
) -> anyhow::Result<leukoscope_core::artifact::Provenance> {
    use leukoscope_core::artifact::{DatasetFingerprint, Metric};
    let mut provenance = leukoscope_trainer::export::provenance(config.to_string());
    let mut sha256 = [0u8; 32];
    if let Some(hex_digest) = config["dataset_sha256"].as_str() {
        // A run folder written by this tool always holds a valid digest; anything else is
        // left as zeros rather than refused, since the model itself is intact.
        let _ = hex::decode_to_slice(hex_digest, &mut sha256);
    }
    provenance.dataset = DatasetFingerprint {
        name: config["data"].as_str().unwrap_or_default().into(),
        images: config["images"].as_u64().unwrap_or_default(),
        sha256,
    };
    // As the run itself names them: a run without hold-out evaluated its training images.
    let on = if config["valid_fraction"].as_f64() == Some(0.0) {
        "training_images"
    } else {
        "valid"
    };
    if let Ok(bytes) = std::fs::read(run.join("evaluation.json"))
        && let Ok(evaluation) = serde_json::from_slice::<serde_json::Value>(&bytes)
    {
        for name in ["accuracy", "macro_f1", "weighted_f1"] {
            if let Some(value) = evaluation[name].as_f64() {
                provenance.metrics.push(Metric {
                    name: format!("{on}_{name}"),
                    value,
                });
            }
        }
    }
    Ok(provenance)
}

/// `export`: the model behind `path` written to `out` in this version's format.
pub fn export(path: &Path, out: &Path) -> anyhow::Result<()> {
    let (model, origin) = load(path)?;
    leukoscope_trainer::export::write_artifact(&model, out)?;
    println!("wrote {} from {origin}", out.display());
    Ok(())
}

pub fn run(options: EvalOptions) -> anyhow::Result<()> {
    let (model, origin) = load(&options.model)?;

    let target = match &options.taxonomy {
        Some(name) if *name != model.taxonomy.name => Some(Taxonomy::named(name)?),
        _ => None,
    };
    // Labels are read in the model's own classes when the folders name them (then mapped
    // to a coarser --taxonomy after prediction), else in the --taxonomy's (C-NMC's
    // hem/all folders for a 4-class model, say).
    let scan = ScanOptions {
        format: options.format,
        ..ScanOptions::default()
    };
    let (dataset, labelled_in_target) = match (
        Dataset::open(&options.data, &model.taxonomy, &scan),
        &target,
    ) {
        (Ok(d), _) => (d, false),
        (Err(_), Some(t)) => (Dataset::open(&options.data, t, &scan)?, true),
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
        predict_source(&network, files, options.batch, &device)
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
    if let Some(path) = &options.json {
        write_json(path, &evaluation)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
