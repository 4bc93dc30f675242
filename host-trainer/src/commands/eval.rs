//! `leukoscope-train eval`: a model's figures on a labelled folder, or its calls on a
//! folder of cells without labels.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use leukoscope_core::artifact::{ModelArtifact, softmax};
use leukoscope_core::engine::Engine;
use leukoscope_core::taxonomy::Taxonomy;
use leukoscope_trainer::dataset::{
    ClassCoverage, Dataset, DatasetFormat, ScanOptions, unlabelled_images,
};
use leukoscope_trainer::familiarity::engine_features_each;
use leukoscope_trainer::image_files::ImageFiles;
use leukoscope_trainer::loader::SampleSource;
use leukoscope_trainer::metrics::{argmax, coarsen, evaluate};
use leukoscope_trainer::quantization::engine_logits_each;
use leukoscope_trainer::run_dir::write_json;

use super::familiar::fit_profile;
use super::model::load;

/// `eval`'s flags: the model, the labelled images and the class set to score in.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// The .lsm model, or a run folder holding model.lsm (default: the shipped
    /// model, from the repository's root).
    #[arg(long, default_value = "models/b-all-4-edge-s.lsm")]
    pub model: PathBuf,
    /// The labelled dataset (same layouts as `train`).
    #[arg(long, required_unless_present = "unlabelled")]
    pub data: Option<PathBuf>,
    /// Instead of --data: a folder of cells without labels (any depth), such as a healthy
    /// donor's cells cut by `leukoscope-edge crops`. Prints the share of cells the model
    /// calls each class, the share it calls malignant (on normal cells, its false-blast
    /// rate) and the share the board would leave unidentified at the model's calibrated
    /// threshold.
    #[arg(long, conflicts_with_all = ["data", "taxonomy"])]
    pub unlabelled: Option<PathBuf>,
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
    /// Write every image's call here as CSV: image, label (empty without labels), the class
    /// called, its confidence, and its energy (−T·log Σ exp(logit/T) at the model's
    /// temperature T: the lower, the more the image looks like what the model learnt from).
    #[arg(long)]
    pub predictions: Option<PathBuf>,
    /// With --predictions: cells the model learnt from (a run's train.csv, or a labelled
    /// folder), to which each image's distance is measured in the network's features: a
    /// `distance` column, the Mahalanobis distance to the nearest class of those cells
    /// (about the square root of the feature count for a cell like them, far more for one
    /// unlike any). At most 4,000 of them, spread evenly over the list, are read. Without
    /// it, a model with a familiarity profile (`familiar`) measures with its own.
    #[arg(long, requires = "predictions")]
    pub familiar: Option<PathBuf>,
}

/// Scores the model on every image of `--data` and prints (and writes) the figures.
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let (model, origin) = load(&args.model)?;
    if let Some(dir) = &args.unlabelled {
        return calls(&model, &origin, dir, &args);
    }
    let data = args.data.as_deref().context(
        "give the labelled images with --data, or cells without labels with --unlabelled",
    )?;

    let target = match &args.taxonomy {
        Some(name) if *name != model.taxonomy.name => Some(Taxonomy::named(name)?),
        _ => None,
    };
    // Labels are read in the model's own classes when the folders name them (then mapped
    // to a coarser --taxonomy after prediction), else in the --taxonomy's (C-NMC's
    // hem/all folders for a 4-class model, say).
    // A lab held out may have only some of the model's classes (no blasts, say).
    let scan = ScanOptions {
        format: args.format,
        classes: ClassCoverage::Any,
        ..ScanOptions::default()
    };
    let (dataset, labelled_in_target) = match (Dataset::open(data, &model.taxonomy, &scan), &target)
    {
        (Ok(d), _) => (d, false),
        (Err(_), Some(t)) => (Dataset::open(data, t, &scan)?, true),
        (Err(e), None) => return Err(e.into()),
    };
    println!("{}", dataset.summary());
    let files = ImageFiles::new(
        dataset.samples.iter().map(|s| (s.path.clone(), s.label)),
        model.preprocess.clone(),
        None,
    );
    let predictions = predict(&model, &files, args.familiar.as_deref())?;
    let labels_in = if labelled_in_target {
        target.as_ref().unwrap_or(&model.taxonomy)
    } else {
        &model.taxonomy
    };
    if let Some(path) = &args.predictions {
        write_predictions(path, &model, &files, &predictions, Some(labels_in))?;
    }
    let (probabilities, labels) = predictions
        .calls
        .iter()
        .map(|call| (call.probabilities.clone(), files.label(call.index)))
        .unzip::<_, _, Vec<_>, Vec<_>>();
    let skipped = (dataset.skipped.len() + predictions.unreadable) as u64;
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
    let share = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.4}"));
    println!(
        "macro F1 over the classes present ({}) {:.4}; false-malignant rate {}, malignant sensitivity {}",
        evaluation
            .per_class
            .iter()
            .filter(|c| c.support > 0)
            .count(),
        evaluation.present_macro_f1,
        share(evaluation.false_malignant_rate),
        share(evaluation.malignant_sensitivity)
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

/// What the model makes of each readable image of a folder.
struct Predictions {
    calls: Vec<Call>,
    unreadable: usize,
}

/// One image's logits and calibrated probabilities.
struct Call {
    /// Its position among the folder's images.
    index: usize,
    logits: Vec<f32>,
    probabilities: Vec<f32>,
    /// Its distance to the `--familiar` cells' features, or to the model's own profile.
    distance: Option<f32>,
}

impl Call {
    /// The top class and its probability.
    fn top(&self) -> (usize, f32) {
        let class = argmax(&self.probabilities);
        (class, self.probabilities[class])
    }
}

/// Runs the model on every image of `files` in the core's engine, as the board does: int8
/// when the model is quantized, else the f32 reference; probabilities at its temperature;
/// each image's distance to the `familiar` cells' features, or else to the model's own
/// familiarity profile when it has one (then the share beyond its threshold is printed).
fn predict(
    model: &ModelArtifact,
    files: &ImageFiles,
    familiar: Option<&Path>,
) -> anyhow::Result<Predictions> {
    let engine = Engine::new(model)?;
    let temperature = model.calibration.temperature;
    let call = |index, logits: Vec<f32>, distance| Call {
        index,
        probabilities: softmax(&logits, temperature),
        logits,
        distance,
    };
    let measure = match familiar {
        Some(list) => Some(fit_profile(model, &engine, list)?.with_threshold(f32::MAX)),
        None => model.familiarity.clone(),
    };
    let each: Vec<Option<Call>> = match &measure {
        Some(profile) => engine_features_each(&engine, files)
            .into_iter()
            .map(|r| r.map(|c| call(c.index, c.logits, Some(profile.distance(&c.features)))))
            .collect(),
        None => engine_logits_each(&engine, files)
            .into_iter()
            .map(|r| r.map(|(index, logits)| call(index, logits, None)))
            .collect(),
    };
    if let (None, Some(profile)) = (familiar, &model.familiarity) {
        let distances: Vec<f32> = each.iter().flatten().filter_map(|c| c.distance).collect();
        let beyond = distances
            .iter()
            .filter(|&&d| profile.is_unfamiliar(d))
            .count();
        println!(
            "unfamiliar: {beyond} of {} cells ({:.1} %) lie beyond the model's familiarity threshold {:.3}; the board counts them in no class",
            distances.len(),
            100.0 * beyond as f64 / distances.len().max(1) as f64,
            profile.unfamiliar_above
        );
    }
    let unreadable = each.iter().filter(|r| r.is_none()).count();
    let calls = each.into_iter().flatten().collect();
    Ok(Predictions { calls, unreadable })
}

/// The free energy of a cell's logits at temperature `t` (Liu et al., NeurIPS 2020):
/// −t·log Σ exp(logit/t). Low where the network's logits are large, which is where it has
/// seen cells like this one; an image unlike its training data tends to score higher.
fn energy(logits: &[f32], t: f32) -> f64 {
    let scaled = logits.iter().map(|&z| f64::from(z) / f64::from(t));
    let max = scaled.clone().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = scaled.map(|z| (z - max).exp()).sum();
    -f64::from(t) * (max + sum.ln())
}

/// `--predictions`: one CSV row per readable image; `labels` names the label column's
/// classes (`None`: the images have no labels).
fn write_predictions(
    path: &Path,
    model: &ModelArtifact,
    files: &ImageFiles,
    predictions: &Predictions,
    labels: Option<&Taxonomy>,
) -> anyhow::Result<()> {
    let mut out = csv::Writer::from_path(path)
        .with_context(|| format!("cannot write the predictions to {}", path.display()))?;
    let mut header = vec!["image", "label", "called", "confidence", "energy"];
    let with_distance = predictions.calls.iter().any(|c| c.distance.is_some());
    if with_distance {
        header.push("distance");
    }
    out.write_record(&header)?;
    for call in &predictions.calls {
        let (top, confidence) = call.top();
        let label = labels.map_or("", |t| {
            t.classes[files.label(call.index) as usize].name.as_str()
        });
        let mut row = vec![
            files.path(call.index).display().to_string(),
            label.to_owned(),
            model.taxonomy.classes[top].name.clone(),
            format!("{confidence:.6}"),
            format!("{:.6}", energy(&call.logits, model.calibration.temperature)),
        ];
        if with_distance {
            row.push(call.distance.map_or(String::new(), |d| format!("{d:.4}")));
        }
        out.write_record(&row)?;
    }
    out.flush()
        .with_context(|| format!("cannot write the predictions to {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// What the model calls each cell under `dir`, which has no labels.
#[derive(Debug, serde::Serialize)]
struct Calls {
    /// Cells read.
    cells: usize,
    /// Files skipped: not images by their name, or not decodable.
    skipped: usize,
    /// Cells whose top class each class is, in the taxonomy's order.
    per_class: Vec<(String, usize)>,
    /// Cells whose top class is malignant, and their share.
    malignant: usize,
    malignant_share: f64,
    /// Cells beyond the model's familiarity threshold (0 without a profile, or with
    /// `--familiar`): the board counts them in no class.
    unfamiliar: usize,
    /// Of the others, cells whose top probability is under the model's unidentified
    /// threshold.
    unidentified: usize,
    unidentified_below: f32,
    /// Cells neither unfamiliar nor unidentified, and those of them whose top class is
    /// malignant: the share the board's count would carry.
    classified: usize,
    malignant_classified: usize,
}

fn calls(model: &ModelArtifact, origin: &str, dir: &Path, args: &EvalArgs) -> anyhow::Result<()> {
    let (images, skipped) = unlabelled_images(dir)?;
    if images.is_empty() {
        bail!("no image files under {}", dir.display());
    }
    let files = ImageFiles::new(
        images.into_iter().map(|path| (path, 0)),
        model.preprocess.clone(),
        None,
    );
    let predictions = predict(model, &files, args.familiar.as_deref())?;
    if let Some(path) = &args.predictions {
        write_predictions(path, model, &files, &predictions, None)?;
    }
    let taxonomy = &model.taxonomy;
    let threshold = model.calibration.unidentified_below;
    let mut per_class = vec![0usize; taxonomy.len()];
    let (mut unfamiliar, mut unidentified, mut classified, mut malignant_classified) = (0, 0, 0, 0);
    // The board's own profile only: distances to `--familiar` cells have no threshold.
    let profile = model
        .familiarity
        .as_ref()
        .filter(|_| args.familiar.is_none());
    for call in &predictions.calls {
        let (top, confidence) = call.top();
        per_class[top] += 1;
        let is_malignant = taxonomy.classes[top].malignant;
        if let (Some(profile), Some(d)) = (profile, call.distance)
            && profile.is_unfamiliar(d)
        {
            unfamiliar += 1;
        } else if confidence < threshold {
            unidentified += 1;
        } else {
            classified += 1;
            malignant_classified += usize::from(is_malignant);
        }
    }
    let cells = predictions.calls.len();
    let malignant: usize = taxonomy
        .classes
        .iter()
        .zip(&per_class)
        .filter(|(class, _)| class.malignant)
        .map(|(_, &n)| n)
        .sum();
    let share = |k: usize, n: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    let result = Calls {
        cells,
        skipped: skipped.len() + predictions.unreadable,
        per_class: taxonomy
            .classes
            .iter()
            .zip(&per_class)
            .map(|(class, &n)| (class.name.clone(), n))
            .collect(),
        malignant,
        malignant_share: share(malignant, cells),
        unfamiliar,
        unidentified,
        unidentified_below: threshold,
        classified,
        malignant_classified,
    };
    println!("model {} ({origin})", model.spec.name);
    println!(
        "{} cells without labels under {} ({} files skipped)",
        cells,
        dir.display(),
        result.skipped
    );
    let width = taxonomy.name_width();
    for (name, n) in &result.per_class {
        println!(
            "  {name:<width$}  {n:>6}  {:>5.1} %",
            100.0 * share(*n, cells)
        );
    }
    println!(
        "called malignant: {malignant} of {cells} ({:.2} %); as the board counts: {unfamiliar} unfamiliar ({:.1} %), {unidentified} unidentified below {threshold:.3} ({:.1} %), {malignant_classified} malignant of {classified} classified ({:.2} %)",
        100.0 * result.malignant_share,
        100.0 * share(unfamiliar, cells),
        100.0 * share(unidentified, cells),
        100.0 * share(malignant_classified, classified),
    );
    if let Some(path) = &args.json {
        write_json(path, &result)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
