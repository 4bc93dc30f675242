//! `leukoscope-train familiar`: the profile the board measures a cell's familiarity with,
//! fitted to the cells a model learnt from, its threshold set on cells of the same labs it
//! did not learn from, and stored in the model's artifact.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use leukoscope_core::artifact::{Metric, ModelArtifact};
use leukoscope_core::engine::Engine;
use leukoscope_trainer::dataset::{ClassCoverage, Dataset, ScanOptions};
use leukoscope_trainer::familiarity::{FeatureProfile, engine_features_each, threshold_flagging};
use leukoscope_trainer::image_files::ImageFiles;
use leukoscope_trainer::loader::SampleSource;

use super::model::load;

/// `familiar`'s flags: the model, the cells it learnt from, held-out cells of the same labs
/// and the share of those to flag.
#[derive(clap::Args)]
pub struct FamiliarArgs {
    /// The model to profile: a .lsm file or a run folder. Profile the model the board will
    /// run (the int8 one, after `quantize` and `calibrate`): its features are the ones
    /// measured.
    #[arg(long)]
    pub model: PathBuf,
    /// Cells the model learnt from, labelled: a run's train.csv, or a folder in `train`'s
    /// layouts. At most 4,000, spread evenly over the list, are read.
    #[arg(long)]
    pub familiar: PathBuf,
    /// Labelled cells of the same labs the model did not learn from (a run's valid.csv):
    /// the threshold is set on their distances. Never cells of a lab held out to judge the
    /// model: the threshold would be tuned on it.
    #[arg(long)]
    pub held_out: PathBuf,
    /// Share of the --held-out cells to flag as unfamiliar: the guard's false-alarm rate on
    /// the labs the model knows.
    #[arg(long, default_value_t = 0.05)]
    pub flag_share: f64,
    /// Where to write the profiled .lsm (sign it again afterwards: the digest changes).
    #[arg(long)]
    pub out: PathBuf,
}

/// The most familiar cells read: enough for a covariance of a few hundred features, a
/// minute of the engine on two cores.
pub const FAMILIAR_CELLS: usize = 4000;

/// Fits the profile, sets the threshold, prints what it flags and writes the model.
pub fn run(args: FamiliarArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.flag_share > 0.0 && args.flag_share < 1.0,
        "--flag-share must be in (0, 1)"
    );
    let (mut model, origin) = load(&args.model)?;
    println!("model {} ({origin})", model.spec.name);
    let engine = Engine::new(&model)?;
    let profile = fit_profile(&model, &engine, &args.familiar)?;
    let held_out = labelled_cells(&model, &args.held_out, usize::MAX)?;
    let distances: Vec<f32> = engine_features_each(&engine, &held_out)
        .into_iter()
        .flatten()
        .map(|cell| profile.distance(&cell.features))
        .collect();
    if distances.is_empty() {
        bail!("no readable cell in {}", args.held_out.display());
    }
    let threshold = threshold_flagging(&distances, args.flag_share).with_context(|| {
        format!(
            "the held-out cells' distances give no threshold flagging {} of them",
            args.flag_share
        )
    })?;
    let flagged = distances.iter().filter(|&&d| d > threshold).count();
    let median = {
        let mut sorted = distances.clone();
        sorted.sort_by(f32::total_cmp);
        sorted[sorted.len() / 2]
    };
    println!(
        "held-out cells: {} in {}; median distance {median:.2}",
        distances.len(),
        args.held_out.display()
    );
    println!(
        "unfamiliar above {threshold:.3}: {flagged} of them flagged ({:.1} %)",
        100.0 * flagged as f64 / distances.len() as f64
    );
    model.familiarity = Some(profile.with_threshold(threshold));
    let fresh = [
        ("familiarity_held_out_cells", distances.len() as f64),
        (
            "familiarity_held_out_flagged",
            flagged as f64 / distances.len() as f64,
        ),
        ("familiarity_threshold", f64::from(threshold)),
    ];
    model
        .provenance
        .metrics
        .retain(|m| !m.name.starts_with("familiarity_"));
    model
        .provenance
        .metrics
        .extend(fresh.iter().map(|&(name, value)| Metric {
            name: name.into(),
            value,
        }));
    super::write_file(&args.out, &model.encode()?)?;
    println!("wrote {} (unsigned: sign it again)", args.out.display());
    Ok(())
}

/// The profile of at most [`FAMILIAR_CELLS`] labelled cells of `list`, spread evenly over
/// it (its order is by path, so over its classes and sources).
pub fn fit_profile(
    model: &ModelArtifact,
    engine: &Engine,
    list: &Path,
) -> anyhow::Result<FeatureProfile> {
    let files = labelled_cells(model, list, FAMILIAR_CELLS)?;
    let (features, labels): (Vec<Vec<f32>>, Vec<u32>) = engine_features_each(engine, &files)
        .into_iter()
        .flatten()
        .map(|c| (c.features, files.label(c.index)))
        .unzip();
    println!(
        "familiar cells: {} from {}, {} features each",
        features.len(),
        list.display(),
        features.first().map_or(0, Vec::len)
    );
    FeatureProfile::fit(&features, &labels)
        .with_context(|| format!("cannot profile the familiar cells {}", list.display()))
}

/// At most `most` labelled cells of `list` in the model's classes, spread evenly over it.
fn labelled_cells(model: &ModelArtifact, list: &Path, most: usize) -> anyhow::Result<ImageFiles> {
    let scan = ScanOptions {
        classes: ClassCoverage::Any,
        ..ScanOptions::default()
    };
    let dataset = Dataset::open(list, &model.taxonomy, &scan)
        .with_context(|| format!("cannot read the cells {}", list.display()))?;
    let step = dataset.samples.len().div_ceil(most.max(1)).max(1);
    Ok(ImageFiles::new(
        dataset
            .samples
            .iter()
            .step_by(step)
            .map(|s| (s.path.clone(), s.label)),
        model.preprocess.clone(),
        None,
    ))
}
