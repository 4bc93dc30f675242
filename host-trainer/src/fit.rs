//! The training loop: mini-batches from a [`SampleSource`] prepared on worker threads,
//! any of our losses and optimizers, a learning-rate schedule, validation after every
//! epoch, the best epoch kept by validation macro F1, early stopping, and a checkpoint
//! after every epoch from which an interrupted run resumes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::optim::{GradientsParams, Optimizer};
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::activation::softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use leukoscope_core::network::{FakeQuant, Initialization, Network};
use leukoscope_core::params::Weights;
use leukoscope_core::spec::{ModelSpec, SpecError};
use leukoscope_core::taxonomy::Taxonomy;
use serde::{Deserialize, Serialize};

use crate::loader::{Batches, HostBatch, Order, SampleSource, epoch_order};
use crate::loss::{Loss, LossError, LossKind, class_weights_inverse_frequency};
use crate::metrics::{Evaluation, MetricsError, evaluate};
use crate::optim::{AnyOptimizer, OptimizerError, OptimizerKind};
use crate::report::EpochRecord;
use crate::schedule::{LearningRate, Schedule, ScheduleError};

/// How class imbalance is countered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Imbalance {
    /// Not at all.
    None,
    /// Loss weights inversely proportional to class frequency.
    Weights,
    /// A sampler that draws every class equally often.
    Sampler,
    /// A sampler that draws every class equally often, and within a class every source
    /// (lab) that has it.
    Sources,
}

/// Which epoch's network a run keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Keep {
    /// The epoch with the best validation macro F1. Choosing on the validation set makes
    /// its figures slightly optimistic.
    #[default]
    Best,
    /// The last epoch: what training on all the data yields, so cross-validation of the
    /// shipped recipe keeps it, and a run without hold-out must.
    Last,
}

/// How to train: everything that decides the result, and nothing else.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// Passes over the training set.
    pub epochs: usize,
    /// Examples per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Its decay.
    pub schedule: Schedule,
    /// Linear warm-up, in epochs (fractions allowed).
    pub warmup_epochs: f64,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// L2 weight decay (for SGD without its own, Adam and Adamax).
    pub weight_decay: f64,
    /// The loss.
    pub loss: LossKind,
    /// Countering class imbalance.
    pub imbalance: Imbalance,
    /// Stop after this many epochs without a better validation macro F1.
    pub early_stopping: Option<usize>,
    /// Seeds initialization, sampling order and augmentation.
    pub seed: u64,
    /// How fresh weights are drawn. The default is left out of the JSON, so that a
    /// configuration reads, and a checkpoint's identity is, as before there was a choice.
    #[serde(default, skip_serializing_if = "is_uniform")]
    pub initialization: Initialization,
    /// Which epoch's network the run keeps (older configurations: the best).
    #[serde(default)]
    pub keep: Keep,
    /// The trained network whose weights the run started from (`--init`, with or without
    /// `--new-head`). Left out of the JSON when there is none, for the same reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backbone: Option<Backbone>,
    /// Start from these weights instead of a fresh initialization (fine-tuning).
    #[serde(skip)]
    pub initial_weights: Option<Weights>,
    /// Simulate int8 rounding while training (quantization-aware fine-tuning).
    #[serde(skip)]
    pub fake_quant: Option<FakeQuant>,
}

impl Recipe {
    /// Adam at 1e-3 with cosine decay and one warm-up epoch, cross-entropy, no imbalance
    /// handling, no early stopping.
    pub fn new(epochs: usize, batch_size: usize, seed: u64) -> Self {
        Recipe {
            epochs,
            batch_size,
            learning_rate: 1e-3,
            schedule: Schedule::Cosine,
            warmup_epochs: 1.0,
            optimizer: OptimizerKind::Adam,
            weight_decay: 0.0,
            loss: LossKind::CrossEntropy {
                label_smoothing: 0.0,
            },
            imbalance: Imbalance::None,
            early_stopping: None,
            seed,
            initialization: Initialization::Uniform,
            keep: Keep::Best,
            backbone: None,
            initial_weights: None,
            fake_quant: None,
        }
    }
}

/// A trained network a run started from (`--init`: all its weights, or with `--new-head`
/// all but its head), as the run's tables name it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Backbone {
    /// Its architecture (`simple-cnn`).
    pub model: String,
    /// The class set it learnt (`wbc-blast`).
    pub taxonomy: String,
    /// What it learnt from: its sources' names (`pbc, zheng1, zheng2`), or its data's.
    pub data: String,
    /// Images it was trained and validated on.
    pub images: u64,
}

fn is_uniform(initialization: &Initialization) -> bool {
    *initialization == Initialization::Uniform
}

/// Why training stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// The model is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The weights to start from do not fit the network.
    #[error("the starting weights do not fit the network")]
    InitialWeights(#[source] leukoscope_core::artifact::ArtifactError),
    /// Nothing to train on or to validate with.
    #[error("the {0} set is empty")]
    EmptySet(&'static str),
    /// Inputs do not match the network.
    #[error("examples are {examples:?} but the network reads {network:?}")]
    InputShape {
        /// Shape of the examples.
        examples: [usize; 3],
        /// Shape the network reads.
        network: [usize; 3],
    },
    /// A label outside the network's classes.
    #[error("label {label} is outside the network's {classes} classes")]
    Label {
        /// The label.
        label: u32,
        /// Classes the network scores.
        classes: u32,
    },
    /// Batch size or epochs of zero.
    #[error("batch size and epochs must be positive")]
    Config,
    /// The loss is misconfigured.
    #[error("invalid loss")]
    Loss(#[from] LossError),
    /// The optimizer is misconfigured or its saved state does not fit.
    #[error("invalid optimizer")]
    Optimizer(#[from] OptimizerError),
    /// The schedule is misconfigured.
    #[error("invalid learning-rate schedule")]
    Schedule(#[from] ScheduleError),
    /// Validation figures could not be computed.
    #[error("validation failed")]
    Metrics(#[from] MetricsError),
    /// The loss exploded (above a million) or became NaN or infinite.
    #[error("training diverged at epoch {epoch} (loss {loss}); lower the learning rate")]
    Diverged {
        /// The epoch.
        epoch: usize,
        /// The loss.
        loss: f64,
    },
    /// No sample of the training set could be read in an epoch.
    #[error("no training sample could be read in epoch {0}")]
    NothingRead(usize),
    /// A checkpoint could not be written or read.
    #[error("checkpoint {}: {reason}", path.display())]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The checkpoint was made with another recipe, model or data.
    #[error("cannot resume: the checkpoint in {} was made with a different {what}; start a new run folder or drop --resume", dir.display())]
    ResumeMismatch {
        /// The checkpoint folder.
        dir: PathBuf,
        /// What differs.
        what: &'static str,
    },
}

/// What the loop reports as it goes.
#[derive(Clone, Debug)]
pub enum Progress<'a> {
    /// An epoch starts with this many steps.
    EpochStarted {
        /// 1-based epoch.
        epoch: usize,
        /// Steps it will take.
        steps: usize,
    },
    /// A step finished.
    Step {
        /// Images trained on so far in this epoch.
        images: usize,
        /// Mean loss so far in this epoch.
        loss: f64,
    },
    /// An epoch finished and was validated.
    EpochFinished {
        /// Its figures.
        record: &'a EpochRecord,
        /// Whether its network is the one kept (the best so far, or every epoch with
        /// [`Keep::Last`]).
        best: bool,
    },
    /// Samples could not be read and were left out.
    Skipped {
        /// Sample index and reason.
        failures: &'a [(usize, String)],
    },
    /// Training resumes from a checkpoint after this epoch.
    Resumed {
        /// Last completed epoch.
        epoch: usize,
    },
}

/// The result of training.
#[derive(Debug)]
pub struct Trained<B: Backend> {
    /// The network kept: of the best epoch by validation macro F1, or of the last (see
    /// [`Keep`]).
    pub best: Network<B>,
    /// That epoch, 1-based.
    pub best_epoch: usize,
    /// Validation figures of the best epoch.
    pub evaluation: Evaluation,
    /// Validation probabilities of the best epoch, in validation order.
    pub probabilities: Vec<Vec<f32>>,
    /// Validation labels, in validation order.
    pub labels: Vec<u32>,
    /// One record per epoch run (resumed epochs included).
    pub history: Vec<EpochRecord>,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// Training or validation samples that could not be read, over the whole run.
    pub unreadable: usize,
}

/// Where the loop keeps its per-epoch state, and the identity of the run it belongs to.
#[derive(Clone, Debug)]
pub struct Checkpoints {
    /// The folder (created if needed).
    pub dir: PathBuf,
    /// Continue from the checkpoint in `dir` if there is one.
    pub resume: bool,
    /// What must match for a resume: the resolved configuration without the epoch count,
    /// and the data's fingerprint.
    pub identity: String,
}

#[derive(Serialize, Deserialize)]
struct CheckpointState {
    identity: String,
    model: ModelSpec,
    epoch: usize,
    best_epoch: usize,
    best_macro_f1: f64,
    best_evaluation: Option<Evaluation>,
    best_probabilities: Vec<Vec<f32>>,
    epochs_without_improvement: usize,
    history: Vec<EpochRecord>,
    unreadable: usize,
}

type Files = BinFileRecorder<FullPrecisionSettings>;

/// Trains `spec` from scratch (or from the checkpoint) on `train`, validating on `valid`.
#[allow(clippy::too_many_arguments)]
pub fn fit<B, S, V>(
    spec: &ModelSpec,
    taxonomy: &Taxonomy,
    train: Arc<S>,
    valid: Arc<V>,
    recipe: &Recipe,
    device: &B::Device,
    checkpoints: Option<&Checkpoints>,
    observer: &mut dyn FnMut(Progress<'_>),
) -> Result<Trained<B::InnerBackend>, FitError>
where
    B: AutodiffBackend,
    S: SampleSource,
    V: SampleSource,
{
    let classes = spec.classes()?;
    check_source(spec, train.as_ref(), "training", classes)?;
    check_source(spec, valid.as_ref(), "validation", classes)?;
    if recipe.batch_size == 0 || recipe.epochs == 0 {
        return Err(FitError::Config);
    }
    let train_labels: Vec<u32> = (0..train.len()).map(|i| train.label(i)).collect();
    let train_sources: Vec<u32> = (0..train.len()).map(|i| train.source(i)).collect();
    let valid_labels: Vec<u32> = (0..valid.len()).map(|i| valid.label(i)).collect();
    let weights = match recipe.imbalance {
        Imbalance::Weights => {
            let mut counts = vec![0usize; classes as usize];
            for &l in &train_labels {
                counts[l as usize] += 1;
            }
            Some(class_weights_inverse_frequency(&counts))
        }
        _ => None,
    };
    let loss_fn = Loss::new(recipe.loss.clone(), weights)?;
    loss_fn.check_classes(classes as usize)?;
    let order = match recipe.imbalance {
        Imbalance::Sampler => Order::Balanced,
        Imbalance::Sources => Order::BalancedBySource,
        Imbalance::None | Imbalance::Weights => Order::Shuffled,
    };
    let steps_per_epoch = train.len().div_ceil(recipe.batch_size);
    let rate = LearningRate {
        base: recipe.learning_rate,
        schedule: recipe.schedule.clone(),
        warmup_steps: (recipe.warmup_epochs * steps_per_epoch as f64).round() as usize,
        total_steps: recipe.epochs * steps_per_epoch,
        steps_per_epoch,
        min_factor: 0.0,
    };
    rate.validate()?;

    // The backend's own generator drives dropout; the weights come from our own stream.
    B::seed(device, recipe.seed);
    let mut network = match &recipe.initial_weights {
        Some(weights) => {
            Network::<B>::from_weights(spec, weights, device).map_err(FitError::InitialWeights)?
        }
        None => Network::<B>::initialized(spec, recipe.seed, recipe.initialization, device)?,
    }
    .with_fake_quant(recipe.fake_quant.clone());
    let mut optimizer: AnyOptimizer<Network<B>, B> = recipe.optimizer.build(recipe.weight_decay)?;
    let mut state = CheckpointState {
        identity: checkpoints.map(|c| c.identity.clone()).unwrap_or_default(),
        model: spec.clone(),
        epoch: 0,
        best_epoch: 0,
        best_macro_f1: f64::NEG_INFINITY,
        best_evaluation: None,
        best_probabilities: Vec::new(),
        epochs_without_improvement: 0,
        history: Vec::new(),
        unreadable: 0,
    };
    let mut best = network.valid();
    if let Some(c) = checkpoints {
        std::fs::create_dir_all(&c.dir).map_err(|e| checkpoint_error(&c.dir, e))?;
        if c.resume && c.dir.join(STATE).exists() {
            let restored = restore::<B>(c, spec, network, optimizer, device)?;
            (network, optimizer, state, best) = restored;
            observer(Progress::Resumed { epoch: state.epoch });
        }
    }

    let mut stopped_early = false;
    let mut step = state.epoch * steps_per_epoch;
    for epoch in state.epoch + 1..=recipe.epochs {
        if let Some(patience) = recipe.early_stopping
            && state.epochs_without_improvement >= patience
        {
            stopped_early = true;
            break;
        }
        observer(Progress::EpochStarted {
            epoch,
            steps: steps_per_epoch,
        });
        let started = Instant::now();
        let visit = epoch_order(
            &train_labels,
            &train_sources,
            order,
            recipe.seed,
            epoch as u64,
        );
        let batches = Batches::start(
            Arc::clone(&train),
            visit,
            recipe.batch_size,
            epoch as u64,
            recipe.seed,
            2,
        );
        let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
        let mut learning_rate = rate.at(step);
        for batch in batches {
            if !batch.failed.is_empty() {
                state.unreadable += batch.failed.len();
                observer(Progress::Skipped {
                    failures: &batch.failed,
                });
            }
            if batch.labels.is_empty() {
                continue;
            }
            let n = batch.labels.len();
            let (inputs, labels) = to_tensors::<B>(&batch, train.input_shape(), device);
            let logits = network.forward(inputs);
            let loss = loss_fn.forward(logits.clone(), labels.clone());
            correct += count_correct::<B>(logits, labels);
            let value = loss.clone().into_scalar().elem::<f64>();
            // Our losses start near ln(classes) or below 1; a million is an explosion even
            // while it is still finite.
            if !value.is_finite() || value > 1e6 {
                return Err(FitError::Diverged { epoch, loss: value });
            }
            loss_sum += value * n as f64;
            seen += n;
            learning_rate = rate.at(step);
            let grads = GradientsParams::from_grads(loss.backward(), &network);
            network = optimizer.step(learning_rate, network, grads);
            step += 1;
            observer(Progress::Step {
                images: seen,
                loss: loss_sum / seen as f64,
            });
        }
        if seen == 0 {
            return Err(FitError::NothingRead(epoch));
        }
        let train_seconds = started.elapsed().as_secs_f64();
        let current = network.valid();
        let (probabilities, labels, failures) =
            predict_source(&current, Arc::clone(&valid), recipe.batch_size, device);
        state.unreadable += failures;
        let evaluation = evaluate(&probabilities, &labels, taxonomy, failures as u64)?;
        let valid_loss = mean_cross_entropy(&probabilities, &labels);
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / seen as f64,
            train_accuracy: correct as f64 / seen as f64,
            valid_loss,
            valid_accuracy: evaluation.accuracy,
            valid_macro_f1: evaluation.macro_f1,
            learning_rate,
            seconds: started.elapsed().as_secs_f64(),
            images_per_second: seen as f64 / train_seconds.max(1e-9),
        };
        let improved = evaluation.macro_f1 > state.best_macro_f1;
        if improved {
            state.best_macro_f1 = evaluation.macro_f1;
            state.epochs_without_improvement = 0;
        } else {
            state.epochs_without_improvement += 1;
        }
        let kept = improved || recipe.keep == Keep::Last;
        if kept {
            state.best_epoch = epoch;
            state.best_evaluation = Some(evaluation);
            state.best_probabilities = probabilities;
            best = current;
        }
        state.epoch = epoch;
        state.history.push(record);
        if let Some(c) = checkpoints {
            save(c, &state, &network, &optimizer, kept.then_some(&best))?;
        }
        if let Some(record) = state.history.last() {
            observer(Progress::EpochFinished { record, best: kept });
        }
    }
    let evaluation = state.best_evaluation.ok_or(FitError::Config)?;
    Ok(Trained {
        best,
        best_epoch: state.best_epoch,
        evaluation,
        probabilities: state.best_probabilities,
        labels: valid_labels,
        history: state.history,
        stopped_early,
        unreadable: state.unreadable,
    })
}

const STATE: &str = "state.json";
const NETWORK: &str = "network";
const OPTIMIZER: &str = "optimizer";
const BEST: &str = "best-network";

fn checkpoint_error(path: &Path, error: impl std::fmt::Display) -> FitError {
    FitError::Checkpoint {
        path: path.to_owned(),
        reason: error.to_string(),
    }
}

/// Writes the epoch's state into a fresh folder, then swaps it in, so a crash mid-write
/// leaves the previous checkpoint whole.
fn save<B: AutodiffBackend>(
    c: &Checkpoints,
    state: &CheckpointState,
    network: &Network<B>,
    optimizer: &AnyOptimizer<Network<B>, B>,
    new_best: Option<&Network<B::InnerBackend>>,
) -> Result<(), FitError> {
    let staging = c.dir.join(".next");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| checkpoint_error(&staging, e))?;
    let recorder = Files::new();
    network
        .clone()
        .save_file(staging.join(NETWORK), &recorder)
        .map_err(|e| checkpoint_error(&staging.join(NETWORK), e))?;
    recorder
        .record(optimizer.to_record(), staging.join(OPTIMIZER))
        .map_err(|e| checkpoint_error(&staging.join(OPTIMIZER), e))?;
    match new_best {
        Some(best) => best
            .clone()
            .save_file(staging.join(BEST), &recorder)
            .map_err(|e| checkpoint_error(&staging.join(BEST), e))?,
        None => {
            let old = c.dir.join(format!("{BEST}.bin"));
            std::fs::copy(&old, staging.join(format!("{BEST}.bin")))
                .map_err(|e| checkpoint_error(&old, e))?;
        }
    }
    let json = serde_json::to_vec(state).map_err(|e| checkpoint_error(&staging.join(STATE), e))?;
    std::fs::write(staging.join(STATE), json)
        .map_err(|e| checkpoint_error(&staging.join(STATE), e))?;
    for name in [
        format!("{NETWORK}.bin"),
        format!("{OPTIMIZER}.bin"),
        format!("{BEST}.bin"),
        STATE.to_string(),
    ] {
        let file = std::fs::File::open(staging.join(&name))
            .map_err(|e| checkpoint_error(&staging.join(&name), e))?;
        file.sync_all()
            .map_err(|e| checkpoint_error(&staging.join(&name), e))?;
    }
    // The state file goes last: it is what marks a checkpoint as complete.
    let _ = std::fs::remove_file(c.dir.join(STATE));
    for name in [
        format!("{NETWORK}.bin"),
        format!("{OPTIMIZER}.bin"),
        format!("{BEST}.bin"),
        STATE.to_string(),
    ] {
        std::fs::rename(staging.join(&name), c.dir.join(&name))
            .map_err(|e| checkpoint_error(&c.dir.join(&name), e))?;
    }
    let _ = std::fs::remove_dir(&staging);
    Ok(())
}

type Restored<B> = (
    Network<B>,
    AnyOptimizer<Network<B>, B>,
    CheckpointState,
    Network<<B as AutodiffBackend>::InnerBackend>,
);

fn restore<B: AutodiffBackend>(
    c: &Checkpoints,
    spec: &ModelSpec,
    network: Network<B>,
    optimizer: AnyOptimizer<Network<B>, B>,
    device: &B::Device,
) -> Result<Restored<B>, FitError> {
    let state_path = c.dir.join(STATE);
    let bytes = std::fs::read(&state_path).map_err(|e| checkpoint_error(&state_path, e))?;
    let state: CheckpointState =
        serde_json::from_slice(&bytes).map_err(|e| checkpoint_error(&state_path, e))?;
    if &state.model != spec {
        return Err(FitError::ResumeMismatch {
            dir: c.dir.clone(),
            what: "model",
        });
    }
    if state.identity != c.identity {
        return Err(FitError::ResumeMismatch {
            dir: c.dir.clone(),
            what: "configuration or dataset",
        });
    }
    let recorder = Files::new();
    let network = network
        .load_file(c.dir.join(NETWORK), &recorder, device)
        .map_err(|e| checkpoint_error(&c.dir.join(NETWORK), e))?;
    let record = recorder
        .load(c.dir.join(OPTIMIZER), device)
        .map_err(|e| checkpoint_error(&c.dir.join(OPTIMIZER), e))?;
    let optimizer = optimizer.try_load_record(record)?;
    let best = Network::<B::InnerBackend>::new(spec, 0, device)?
        .load_file(c.dir.join(BEST), &recorder, device)
        .map_err(|e| checkpoint_error(&c.dir.join(BEST), e))?;
    Ok((network, optimizer, state, best))
}

/// Whether the checkpoint folder `dir` holds a complete checkpoint (its state file is
/// written last).
pub fn has_checkpoint(dir: &Path) -> bool {
    dir.join(STATE).is_file()
}

/// The kept (`Best`) or the latest (`Last`) network saved in the checkpoint folder `dir`,
/// of a run that may still be going or was interrupted.
pub fn network_from_checkpoint<B: Backend>(
    dir: &Path,
    which: Keep,
    device: &B::Device,
) -> Result<Network<B>, FitError> {
    let state_path = dir.join(STATE);
    let bytes = std::fs::read(&state_path).map_err(|e| checkpoint_error(&state_path, e))?;
    let state: CheckpointState =
        serde_json::from_slice(&bytes).map_err(|e| checkpoint_error(&state_path, e))?;
    let file = match which {
        Keep::Best => BEST,
        Keep::Last => NETWORK,
    };
    Network::<B>::new(&state.model, 0, device)?
        .load_file(dir.join(file), &Files::new(), device)
        .map_err(|e| checkpoint_error(&dir.join(file), e))
}

fn check_source<S: SampleSource>(
    spec: &ModelSpec,
    set: &S,
    name: &'static str,
    classes: u32,
) -> Result<(), FitError> {
    if set.is_empty() {
        return Err(FitError::EmptySet(name));
    }
    let i = spec.input;
    let network = [i.channels as usize, i.height as usize, i.width as usize];
    if set.input_shape() != network {
        return Err(FitError::InputShape {
            examples: set.input_shape(),
            network,
        });
    }
    if let Some(label) = (0..set.len()).map(|i| set.label(i)).find(|&l| l >= classes) {
        return Err(FitError::Label { label, classes });
    }
    Ok(())
}

fn to_tensors<B: Backend>(
    batch: &HostBatch,
    [c, h, w]: [usize; 3],
    device: &B::Device,
) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let n = batch.labels.len();
    let labels: Vec<i64> = batch.labels.iter().map(|&l| i64::from(l)).collect();
    (
        Tensor::from_data(TensorData::new(batch.inputs.clone(), [n, c, h, w]), device),
        Tensor::from_data(TensorData::new(labels, [n]), device),
    )
}

fn count_correct<B: Backend>(logits: Tensor<B, 2>, labels: Tensor<B, 1, Int>) -> usize {
    let predicted = logits.argmax(1).flatten::<1>(0, 1);
    predicted
        .equal(labels)
        .int()
        .sum()
        .into_scalar()
        .elem::<i64>() as usize
}

/// Mean cross-entropy of probabilities against labels (probabilities floored at 1e-7).
pub fn mean_cross_entropy(probabilities: &[Vec<f32>], labels: &[u32]) -> f64 {
    let total: f64 = probabilities
        .iter()
        .zip(labels)
        .map(|(p, &l)| -f64::from(p.get(l as usize).copied().unwrap_or(0.0).max(1e-7)).ln())
        .sum();
    total / labels.len().max(1) as f64
}

/// Class probabilities for every readable sample of `source`, in order, with their
/// labels and the number of samples that could not be read.
pub fn predict_source<B: Backend, S: SampleSource>(
    network: &Network<B>,
    source: Arc<S>,
    batch_size: usize,
    device: &B::Device,
) -> (Vec<Vec<f32>>, Vec<u32>, usize) {
    let shape = source.input_shape();
    let order = (0..source.len()).collect();
    let mut probabilities = Vec::with_capacity(source.len());
    let mut labels = Vec::with_capacity(source.len());
    let mut failures = 0;
    for batch in Batches::start(source, order, batch_size, 0, 0, 2) {
        failures += batch.failed.len();
        if batch.labels.is_empty() {
            continue;
        }
        let (inputs, _) = to_tensors::<B>(&batch, shape, device);
        let p = softmax(network.forward(inputs), 1);
        let [n, c] = p.dims();
        let values: Vec<f32> = p
            .into_data()
            .convert::<f32>()
            .into_vec()
            .expect("converted to f32 just above");
        probabilities.extend((0..n).map(|i| values[i * c..(i + 1) * c].to_vec()));
        labels.extend_from_slice(&batch.labels);
    }
    (probabilities, labels, failures)
}

#[cfg(test)]
mod tests;
