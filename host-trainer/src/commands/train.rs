//! `leukoscope-train train`: one model trained on image folders (one path, or several named
//! sources) with a group-aware hold-out split; the data, model and recipe flags and the
//! setup it shares with `cv`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use leukoscope_core::artifact::{ModelArtifact, TrustPolicy};
use leukoscope_core::network::{Initialization, transfer};
use leukoscope_core::params::Weights;
use leukoscope_core::preprocess::{MacenkoTarget, Preprocess, ReinhardTarget, StainNormalization};
use leukoscope_core::spec::{FIELD_UM_PER_PX, InputKind, ModelSpec, Preset, PresetOptions};
use leukoscope_core::taxonomy::Taxonomy;
use leukoscope_trainer::augment::Augment;
use leukoscope_trainer::backend::DeviceChoice;
use leukoscope_trainer::dataset::{
    ClassCoverage, Dataset, DatasetFormat, ScanOptions, Source, Split, describe_split,
    group_holdout,
};
use leukoscope_trainer::export::TOOL;
use leukoscope_trainer::fit::{Backbone, Imbalance, Keep, Recipe};
use leukoscope_trainer::image_files::ImageFiles;
use leukoscope_trainer::loss::LossKind;
use leukoscope_trainer::optim::OptimizerKind;
use leukoscope_trainer::run_dir::{ImageRun, RunConfig, RunDir, RunKind, SplitLists};
use leukoscope_trainer::schedule::Schedule;

use super::run::{RunPlan, RunResult, execute};

/// The data, model and recipe flags shared by `train` and `cv`.
#[derive(Args, Clone, Debug)]
pub struct TrainArgs {
    /// Dataset: a folder of class folders, a C-NMC 2019 or ALL-IDB folder, or a
    /// `path,label[,group]` CSV file. For several labs or scopes, give --source instead.
    #[arg(long, required_unless_present = "source", conflicts_with = "source")]
    pub data: Option<PathBuf>,
    /// One named source of labelled images, NAME=DIR, in any layout --data reads; repeat it
    /// for each lab or scope (--source pbc=/data/crops-pbc --source zheng1=/data/crops-zheng1).
    /// Each image records its source, near-duplicate groups never span two sources, the
    /// summary counts every class per source, and `cv --by-source` holds out one source per
    /// fold. Sources differ up to five-fold in µm/px: cut each to one scale first with
    /// `leukoscope-edge crops --frames DIR --out DIR --window-um 24`, which measures the
    /// source's scale from its red cells (see docs/training.md). Sources default to
    /// --input-kind cell.
    #[arg(long = "source", id = "source", value_name = "NAME=DIR")]
    pub sources: Vec<Source>,
    /// How to read --data (and every --source): auto, folders, cnmc, all-idb or csv.
    #[arg(long, default_value = "auto")]
    pub format: DatasetFormat,
    /// Class set: b-all-4 (Benign, Early Pre-B, Pre-B, Pro-B), all-binary (Normal, ALL) or
    /// wbc-blast (neutrophil, lymphocyte, monocyte, eosinophil, basophil, immature
    /// granulocyte, blast, hematogone, not a white cell; reads the PBC, Zheng and 4-class
    /// folder names, and maps onto all-binary as blast = ALL, every other class Normal).
    #[arg(long, default_value = "b-all-4")]
    pub taxonomy: String,
    /// Architecture (see `leukoscope-train presets`).
    #[arg(long, default_value = "edge-s")]
    pub model: Preset,
    /// Side of the square network input in pixels; images are resized to it.
    #[arg(long, default_value_t = 224)]
    pub input_size: u32,
    /// Whether a sample is a smear field or a single-cell crop (default: cell for --source,
    /// for crop folders and for C-NMC and ALL-IDB, field for other folders and CSV given as
    /// --data). A cell model trained on crop folders takes its scale from their crops.csv:
    /// the edge cuts the window the crops were cut at.
    #[arg(long)]
    pub input_kind: Option<InputKindArg>,
    /// Stain normalization of every image, part of the model's preprocessing (the edge runs
    /// it too): none, reinhard (each image's lαβ colour statistics moved to a blood smear's
    /// between labs), macenko (each image's two stains unmixed and remixed as the standard
    /// reference's) or grey (colour dropped: each pixel's luma). For cells from labs whose
    /// stains differ.
    #[arg(long, value_enum, default_value_t = StainArg::None)]
    pub stain: StainArg,
    /// Passes over the training set.
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Examples per step.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// adam, adamax, or sgd (plain; `sgd:M` for heavy-ball momentum M, e.g. sgd:0.9).
    #[arg(long, default_value = "adam")]
    pub optimizer: OptimizerKind,
    /// L2 weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Learning-rate decay: cosine, step (x0.1 every 10 epochs; `step:E:G` for others) or
    /// constant.
    #[arg(long, default_value = "cosine")]
    pub schedule: Schedule,
    /// Linear warm-up at the start, in epochs.
    #[arg(long, default_value_t = 1.0)]
    pub warmup_epochs: f64,
    /// ce (cross-entropy), tversky (study 003), kl (KL divergence to smoothed targets,
    /// study 004) or focal.
    #[arg(long, default_value = "ce")]
    pub loss: String,
    /// Label smoothing for ce, and the target smoothing of kl (default 0.1 for kl).
    #[arg(long)]
    pub label_smoothing: Option<f32>,
    /// Tversky weight of false positives.
    #[arg(long, default_value_t = 0.3)]
    pub tversky_alpha: f32,
    /// Tversky weight of false negatives.
    #[arg(long, default_value_t = 0.7)]
    pub tversky_beta: f32,
    /// Weight of a cross-entropy term added to the Tversky loss (0: Tversky alone, as
    /// study 003). Tversky alone collapsed to one class on aria-4class; with 1 it trained
    /// (docs/results.md).
    #[arg(long, default_value_t = 0.0)]
    pub tversky_ce: f32,
    /// Focal loss focusing parameter.
    #[arg(long, default_value_t = 2.0)]
    pub focal_gamma: f32,
    /// Class imbalance: none, weights (class-weighted loss), sampler (balanced batches) or
    /// sources (balanced batches, and within a class each source drawn equally often).
    #[arg(long, value_enum, default_value_t = Imbalance::None)]
    pub imbalance: Imbalance,
    /// Augmentation of training images: default (flips, turns, rotation, zoom, stain and
    /// colour jitter, slight blur), studies (flips, rotation, zoom), none, or a comma list
    /// of flip, turn, rotate, zoom, stain, colour, balance (white balance: another lamp's or
    /// camera's tint), blur.
    #[arg(long, default_value = "default")]
    pub augment: Augment,
    /// Stop after this many epochs without a better validation macro F1.
    #[arg(long)]
    pub early_stopping: Option<usize>,
    /// Which epoch's network to keep: best (by validation macro F1) or last. Choosing
    /// the best on the validation set flatters its figures; cross-validation of a recipe
    /// that will be trained on all the data should keep the last.
    #[arg(long, value_enum, default_value_t = Keep::Best)]
    pub keep: Keep,
    /// Share of the groups held out for validation (train only). 0 trains on every image
    /// and keeps the last epoch; its figures are then on the training images themselves.
    #[arg(long, default_value_t = 0.2)]
    pub valid_fraction: f64,
    /// Largest difference-hash distance at which two images count as the same field and
    /// stay on one side of every split (in a crop folder with crops.csv, the frames the
    /// crops were cut from, never the crops).
    #[arg(long)]
    pub near_duplicate_distance: Option<u32>,
    /// Seeds the split, initialization, sampling and augmentation.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// How fresh weights are drawn: uniform (PyTorch's default, ±1/sqrt(fan-in)) or he
    /// (variance 2/fan-in, zero biases), which keeps the signal's scale through a deep
    /// stack of ReLU layers without batch norm (VGG-16), where the default lets it fade.
    #[arg(long, default_value = "uniform")]
    pub weight_init: Initialization,
    /// Start from this float model's network and weights instead of a fresh one
    /// (fine-tuning, e.g. on a clinic's reviewed cells from `export-corrections`): its
    /// architecture, input and preprocessing are used, so --model, --input-size,
    /// --input-kind and --stain are not. Its class set must be --taxonomy's, unless
    /// --new-head.
    #[arg(long, value_name = "MODEL.lsm")]
    pub init: Option<PathBuf>,
    /// With --init: keep the model's backbone and give it a new last layer, drawn fresh,
    /// for --taxonomy's classes (a backbone from `pretrain` fine-tuned on another class
    /// set). The input size stays the model's; the input kind, scale and stain
    /// normalization are this run's, as for a fresh network (--input-kind, --stain).
    #[arg(long, requires = "init")]
    pub new_head: bool,
    /// cpu, or cuda[:N] in a build with the `cuda` feature.
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
    /// Run folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
}

/// Micrometres per input pixel of a field model at `input_size`: the B-ALL fields are
/// 224 pixels across at [`FIELD_UM_PER_PX`], and resizing them changes the scale the edge
/// must cut its windows at.
fn field_um_per_px(input_size: u32) -> f32 {
    FIELD_UM_PER_PX * 224.0 / input_size as f32
}

/// `--input-kind` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InputKindArg {
    /// A window of the smear.
    Field,
    /// A crop centred on one cell.
    Cell,
}

/// `--stain` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StainArg {
    /// Colours as the camera saw them.
    None,
    /// Reinhard colour transfer toward [`ReinhardTarget::blood_smear`].
    Reinhard,
    /// Macenko stain normalization toward [`MacenkoTarget::standard`].
    Macenko,
    /// Colour dropped: each pixel's luma in all three channels.
    Grey,
}

impl StainArg {
    fn normalization(self) -> StainNormalization {
        match self {
            StainArg::None => StainNormalization::None,
            StainArg::Reinhard => StainNormalization::Reinhard(ReinhardTarget::blood_smear()),
            StainArg::Macenko => StainNormalization::Macenko(MacenkoTarget::standard()),
            StainArg::Grey => StainNormalization::Grey,
        }
    }
}

/// How a run divides its data into training and validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Division {
    /// `train`: a group hold-out of --valid-fraction (or none at 0).
    Holdout,
    /// `cv`: `folds` stratified group folds, of which the first `run_folds` are trained.
    Folds { folds: usize, run_folds: usize },
    /// `cv --by-source`: one fold per source, each holding out its source; the first
    /// `run_folds` are trained (all when `None`).
    BySource { run_folds: Option<usize> },
}

/// The parts every run of one invocation shares.
pub(super) struct Setup {
    pub dataset: Dataset,
    pub taxonomy: Taxonomy,
    pub spec: leukoscope_core::spec::ModelSpec,
    /// Also the preprocessing and recipe every run uses.
    pub config: RunConfig,
}

/// Reads the data (the --data path, or every --source) and resolves the run's
/// configuration for `division`, the data having the taxonomy's `classes`.
pub(super) fn setup(
    args: &TrainArgs,
    division: Division,
    classes: ClassCoverage,
) -> anyhow::Result<Setup> {
    let taxonomy = Taxonomy::named(&args.taxonomy)?;
    // Before the data: a wrong model should not wait for a scan of thousands of images.
    let init = args
        .init
        .as_deref()
        .map(|path| initial_model(path, (!args.new_head).then_some(&taxonomy)))
        .transpose()?;
    let smoothing = args
        .label_smoothing
        .unwrap_or(if args.loss == "kl" { 0.1 } else { 0.0 });
    let loss = LossKind::parse(
        &args.loss,
        smoothing,
        [args.tversky_alpha, args.tversky_beta, args.tversky_ce],
        args.focal_gamma,
    )?;
    args.augment.validate()?;
    let mut scan = ScanOptions {
        format: args.format,
        classes,
        ..ScanOptions::default()
    };
    if let Some(d) = args.near_duplicate_distance {
        scan.near_duplicate_distance = d;
    }
    let dataset = if args.sources.is_empty() {
        let data = args
            .data
            .as_deref()
            .ok_or_else(|| anyhow!("give the data with --data DIR or --source NAME=DIR"))?;
        println!("reading {} ...", data.display());
        Dataset::open(data, &taxonomy, &scan)?
    } else {
        for source in &args.sources {
            println!(
                "reading source {} ({}) ...",
                source.name,
                source.path.display()
            );
        }
        Dataset::open_sources(&args.sources, &taxonomy, &scan)?
    };
    println!("{}", dataset.summary());
    let folds = match division {
        Division::Holdout => None,
        Division::Folds { folds, run_folds } => Some((folds, run_folds)),
        Division::BySource { run_folds } => {
            let folds = dataset.sources.len();
            let run_folds = run_folds.unwrap_or(folds);
            if run_folds == 0 || run_folds > folds {
                bail!("--run-folds must be between 1 and the number of sources ({folds})");
            }
            Some((folds, run_folds))
        }
    };
    for skipped in &dataset.skipped {
        println!("  skipped {}: {}", skipped.path.display(), skipped.reason);
    }
    let crop_window_um = dataset.crop_window_um()?;
    // Whatever the run keeps of it, the model it starts from is named in its recipe.
    let backbone = init.as_ref().map(backbone_of);
    let (spec, preprocess, initial_weights) = match (init, &args.init) {
        (Some(model), Some(path)) if args.new_head => {
            let (spec, preprocess, weights) =
                new_head(args, &dataset, &taxonomy, crop_window_um, model)
                    .with_context(|| format!("cannot start from {}", path.display()))?;
            (spec, preprocess, Some(weights))
        }
        (Some(model), Some(path)) => {
            let window = model.spec.input.um_per_px * model.spec.input.width as f32;
            if let Some(crops) = crop_window_um
                && (crops - window).abs() > 0.01 * window
            {
                bail!(
                    "{} sees {window:.1} um windows, and these crops were cut at {crops:.1} um: cut them again with `leukoscope-edge crops --window-um {window:.1}`",
                    path.display()
                );
            }
            println!(
                "starting from {}: {} at {} px, its preprocessing and weights",
                path.display(),
                model.spec.name,
                model.spec.input.width
            );
            (model.spec, model.preprocess, Some(model.weights))
        }
        _ => {
            let (spec, preprocess) = fresh_network(args, &dataset, &taxonomy, crop_window_um)?;
            (spec, preprocess, None)
        }
    };
    let kind = spec.input.kind;
    let recipe = Recipe {
        epochs: args.epochs,
        batch_size: args.batch,
        learning_rate: args.lr,
        schedule: args.schedule.clone(),
        warmup_epochs: args.warmup_epochs,
        optimizer: args.optimizer.clone(),
        weight_decay: args.weight_decay,
        loss,
        imbalance: args.imbalance,
        early_stopping: args.early_stopping,
        seed: args.seed,
        initialization: args.weight_init,
        backbone,
        keep: if folds.is_none() && args.valid_fraction == 0.0 {
            Keep::Last
        } else {
            args.keep
        },
        initial_weights,
        fake_quant: None,
    };
    let images = ImageRun {
        format: dataset.format,
        input_kind: kind,
        augment: args.augment.clone(),
        near_duplicate_distance: scan.near_duplicate_distance,
        valid_fraction: folds.is_none().then_some(args.valid_fraction),
        folds: folds.map(|(folds, _)| folds),
        run_folds: folds.map(|(_, run_folds)| run_folds),
        by_source: matches!(division, Division::BySource { .. }),
        sources: if args.sources.is_empty() {
            Vec::new()
        } else {
            dataset.sources.clone()
        },
        dataset_sha256: dataset.fingerprint.sha256,
        images: dataset.samples.len(),
        groups: dataset.groups,
        skipped: dataset.skipped.len(),
    };
    let config = RunConfig {
        tool: TOOL.into(),
        kind: match folds {
            None => RunKind::Train(images),
            Some(_) => RunKind::Cv(images),
        },
        data: dataset.root.clone(),
        taxonomy: taxonomy.name.clone(),
        model: spec.name.clone(),
        input_size: spec.input.width,
        preprocess,
        device: args.device,
        recipe,
    };
    Ok(Setup {
        dataset,
        taxonomy,
        spec,
        config,
    })
}

/// A new network of `--model` at `--input-size`, and its preprocessing, for the data read.
fn fresh_network(
    args: &TrainArgs,
    dataset: &Dataset,
    taxonomy: &Taxonomy,
    crop_window_um: Option<f32>,
) -> anyhow::Result<(ModelSpec, Preprocess)> {
    let (kind, um_per_px, preprocess) =
        run_input(args, dataset, crop_window_um, [args.input_size; 2]);
    let spec = args.model.build(&PresetOptions {
        classes: taxonomy.len() as u32,
        input_size: args.input_size,
        kind,
        um_per_px,
        ..PresetOptions::field(taxonomy.len() as u32)
    });
    if let (InputKind::Cell, Some(window)) = (kind, crop_window_um) {
        println!(
            "model scale: {:.4} um per input pixel (the crops' {window:.1} um window at {} px)",
            spec.input.um_per_px, args.input_size
        );
    }
    spec.analyze().with_context(|| {
        format!(
            "{} does not fit a {1}x{1} input",
            args.model, args.input_size
        )
    })?;
    Ok((spec, preprocess))
}

/// `--init`'s network with a new head for `taxonomy` and this run's input kind, scale and
/// stain normalization at its own input size, its preprocessing, and the weights: the
/// model's where they fit, the head's drawn fresh.
fn new_head(
    args: &TrainArgs,
    dataset: &Dataset,
    taxonomy: &Taxonomy,
    crop_window_um: Option<f32>,
    model: ModelArtifact,
) -> anyhow::Result<(ModelSpec, Preprocess, Weights)> {
    let size = [model.spec.input.width, model.spec.input.height];
    let (kind, um_per_px, preprocess) = run_input(args, dataset, crop_window_um, size);
    let mut spec = model.spec.with_classes(taxonomy.len() as u32)?;
    spec.input.kind = kind;
    spec.input.um_per_px = um_per_px;
    let moved = transfer(
        &model.spec,
        &model.weights,
        &spec,
        args.seed,
        args.weight_init,
    )?;
    let fresh: Vec<String> = moved
        .fresh
        .iter()
        .map(|t| format!("node {} {:?}", t.node, t.role))
        .collect();
    println!(
        "starting from the backbone of {} ({} classes of {}) at {}x{} px: {} of {} weight tensors carried over; drawn fresh for {} classes of {}: {}",
        model.spec.name,
        model.taxonomy.len(),
        model.taxonomy.name,
        size[0],
        size[1],
        moved.weights.tensors.len() - fresh.len(),
        moved.weights.tensors.len(),
        taxonomy.len(),
        taxonomy.name,
        fresh.join(", ")
    );
    Ok((spec, preprocess, moved.weights))
}

/// What `model` is and learnt from, as a run started from it records it: its sources'
/// names from its training configuration, else its data's name.
fn backbone_of(model: &ModelArtifact) -> Backbone {
    let config = serde_json::from_str::<RunConfig>(&model.provenance.training_config).ok();
    let sources = config.and_then(|c| match c.kind {
        RunKind::Train(run) | RunKind::Cv(run) if !run.sources.is_empty() => Some(run.sources),
        _ => None,
    });
    Backbone {
        model: model.spec.name.clone(),
        taxonomy: model.taxonomy.name.clone(),
        data: match sources {
            Some(sources) => sources
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            None => model.provenance.dataset.name.clone(),
        },
        images: model.provenance.dataset.images,
    }
}

/// The input kind, scale (µm per input pixel) and preprocessing of a network reading
/// `size` (width, height) pixels, for the data read and the run's flags.
fn run_input(
    args: &TrainArgs,
    dataset: &Dataset,
    crop_window_um: Option<f32>,
    size: [u32; 2],
) -> (InputKind, f32, Preprocess) {
    let kind = match args.input_kind {
        Some(InputKindArg::Field) => InputKind::Field,
        Some(InputKindArg::Cell) => InputKind::Cell,
        None if !args.sources.is_empty() || crop_window_um.is_some() => InputKind::Cell,
        None => match dataset.format {
            DatasetFormat::Cnmc | DatasetFormat::AllIdb => InputKind::Cell,
            _ => InputKind::Field,
        },
    };
    let [width, height] = size;
    let preprocess = Preprocess {
        stain: args.stain.normalization(),
        ..match kind {
            InputKind::Field => Preprocess::field(height, width),
            InputKind::Cell => Preprocess::cell(height, width),
        }
    };
    let um_per_px = match (kind, crop_window_um) {
        (InputKind::Field, _) => field_um_per_px(width),
        // The edge cuts the window the crops were cut at.
        (InputKind::Cell, Some(window)) => window / width as f32,
        (InputKind::Cell, None) => FIELD_UM_PER_PX,
    };
    (kind, um_per_px, preprocess)
}

/// A float model to start from, checked against the run's class set if it keeps the
/// model's head.
fn initial_model(path: &Path, taxonomy: Option<&Taxonomy>) -> anyhow::Result<ModelArtifact> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let model = ModelArtifact::decode(&bytes, &TrustPolicy::any())
        .with_context(|| format!("{} is refused", path.display()))?
        .artifact;
    if model.weights.tensors.is_empty() {
        bail!(
            "{} is int8 only; --init needs the float model it was quantized from (a run's model.lsm)",
            path.display()
        );
    }
    if let Some(taxonomy) = taxonomy
        && model.taxonomy.name != taxonomy.name
    {
        bail!(
            "{} classifies in {}, and --taxonomy is {}: give --new-head to train a new last layer for --taxonomy on its backbone",
            path.display(),
            model.taxonomy.name,
            taxonomy.name
        );
    }
    Ok(model)
}

/// Trains one model of `setup` on `split` into the run folder `dir`.
pub(super) fn run_split(
    setup: &Setup,
    args: &TrainArgs,
    split: &Split,
    name: String,
    dir: RunDir,
    resume: bool,
) -> anyhow::Result<RunResult> {
    let mut split_summary = describe_split(&setup.dataset, split);
    if split.train == split.valid {
        split_summary = format!("no hold-out, validated on the training images: {split_summary}");
    }
    println!("{split_summary}");
    let samples = |indices: &[usize]| -> Vec<(PathBuf, u32)> {
        indices
            .iter()
            .map(|&i| {
                let s = &setup.dataset.samples[i];
                (s.path.clone(), s.label)
            })
            .collect()
    };
    let augment = (args.augment != Augment::none()).then(|| {
        args.augment
            .clone()
            .with_masks(&setup.config.preprocess.masks)
    });
    let sources = split
        .train
        .iter()
        .map(|&i| setup.dataset.samples[i].source)
        .collect();
    let train = Arc::new(
        ImageFiles::new(
            samples(&split.train),
            setup.config.preprocess.clone(),
            augment,
        )
        .with_sources(sources),
    );
    let valid = Arc::new(ImageFiles::new(
        samples(&split.valid),
        setup.config.preprocess.clone(),
        None,
    ));
    let plan = RunPlan {
        held_out: split.train != split.valid,
        split_lists: Some(SplitLists::new(&setup.dataset, split)?),
        name,
        dir,
        spec: setup.spec.clone(),
        taxonomy: setup.taxonomy.clone(),
        resume,
        dataset_summary: setup.dataset.summary(),
        split_summary,
        fingerprint: setup.dataset.fingerprint.clone(),
        config: setup.config.clone(),
    };
    execute(&plan, train, valid)
}

/// `train`: one model on a group-aware hold-out split.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    train(args, ClassCoverage::Every)
}

/// `leukoscope-train pretrain`: `train` on data that may lack some of the class set's
/// classes (the cells of other labs), for `train --init MODEL --new-head` to start from.
pub fn pretrain(args: TrainArgs) -> anyhow::Result<()> {
    train(args, ClassCoverage::Several)
}

fn train(args: TrainArgs, classes: ClassCoverage) -> anyhow::Result<()> {
    let setup = setup(&args, Division::Holdout, classes)?;
    let split = if args.valid_fraction == 0.0 {
        println!(
            "no hold-out: training on all {} images and keeping the last epoch; the figures below are on the training images and say nothing about new ones",
            setup.dataset.samples.len()
        );
        let all: Vec<usize> = (0..setup.dataset.samples.len()).collect();
        Split {
            train: all.clone(),
            valid: all,
        }
    } else {
        group_holdout(&setup.dataset, args.valid_fraction, args.seed)?
    };
    let name = format!("{} on {}", setup.spec.name, setup.dataset.root.display());
    let run = RunDir::new(&args.out);
    run_split(&setup, &args, &split, name, run, args.resume)?;
    Ok(())
}
