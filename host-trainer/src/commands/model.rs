//! The model behind a `--model` path: a `.lsm` file, a run folder's `model.lsm`, or the
//! network in the checkpoint of a run folder that has none yet.

use std::path::Path;

use anyhow::{Context, bail};
use leukoscope_core::artifact::{Metric, ModelArtifact, Provenance, TrustPolicy};
use leukoscope_core::taxonomy::Taxonomy;
use leukoscope_trainer::backend::Cpu;
use leukoscope_trainer::fit::{Keep, has_checkpoint, network_from_checkpoint};
use leukoscope_trainer::metrics::Evaluation;
use leukoscope_trainer::run_dir::{RunConfig, RunDir, RunDirError, read_json};

/// The model behind `path`, with a line saying where it came from: a `.lsm` file; a run
/// folder's `model.lsm`; or, for a run that has not finished, the best network of its
/// checkpoint.
pub fn load(path: &Path) -> anyhow::Result<(ModelArtifact, String)> {
    let run = RunDir::new(path);
    let file = if path.is_dir() {
        run.model()
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
    let artifact = checkpoint_artifact(&run, Keep::Best)?;
    Ok((
        artifact,
        format!(
            "best network of the checkpoint in {}",
            run.checkpoint().display()
        ),
    ))
}

/// The configuration of the run folder `model`, when it is one.
pub fn run_config(model: &Path) -> anyhow::Result<Option<RunConfig>> {
    let run = RunDir::new(model);
    if !model.is_dir() || !run.config().exists() {
        return Ok(None);
    }
    Ok(Some(run.read_config()?))
}

/// The kept (`Best`) or latest (`Last`) network of the run's checkpoint, as a float
/// artifact carrying the run's preprocessing and provenance.
pub fn checkpoint_artifact(run: &RunDir, which: Keep) -> anyhow::Result<ModelArtifact> {
    if !has_checkpoint(&run.checkpoint()) || !run.config().exists() {
        bail!(
            "{} is neither a model file nor a run folder with a model or a checkpoint",
            run.path().display()
        );
    }
    let config = run.read_config()?;
    let taxonomy = Taxonomy::named(&config.taxonomy)?;
    let network = network_from_checkpoint::<Cpu>(&run.checkpoint(), which, &Default::default())?;
    let artifact = leukoscope_trainer::export::artifact(
        &network,
        taxonomy,
        config.preprocess.clone(),
        run_provenance(run, &config)?,
    );
    artifact.validate()?;
    Ok(artifact)
}

/// What a run folder says about its model: the configuration, the dataset fingerprint and
/// the validation figures of its best epoch (when the run got that far).
fn run_provenance(run: &RunDir, config: &RunConfig) -> anyhow::Result<Provenance> {
    let mut provenance = leukoscope_trainer::export::provenance(config.to_json()?);
    provenance.dataset = config.fingerprint();
    // As the run itself names them: a run without hold-out evaluated its training images.
    let on = if config.validated_on_training_images() {
        "training_images"
    } else {
        "valid"
    };
    let evaluation: Evaluation = match read_json(&run.evaluation()) {
        Ok(evaluation) => evaluation,
        Err(RunDirError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(provenance);
        }
        Err(e) => return Err(e.into()),
    };
    for (name, value) in [
        ("accuracy", evaluation.accuracy),
        ("macro_f1", evaluation.macro_f1),
        ("weighted_f1", evaluation.weighted_f1),
    ] {
        provenance.metrics.push(Metric {
            name: format!("{on}_{name}"),
            value,
        });
    }
    Ok(provenance)
}
