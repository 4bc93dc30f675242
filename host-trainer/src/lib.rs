//! leukoscope-trainer: turns smear images into a validated, exportable classifier.
//!
//! - [`backend`]: which burn backend trains (CPU through `flex`, NVIDIA GPUs through `cuda`).
//! - [`bench`](mod@bench): training throughput, measured the way the PyTorch peer measures it.
//! - [`loader`]: batches prepared on worker threads, repeatable under a seed.
//! - [`dataset`]: labelled image sets on disk, their near-duplicate groups, group-aware splits.
//! - [`augment`]: random flips, turns, rotation, zoom, stain and colour jitter and blur of source images.
//! - [`examples`]: preprocessed examples held in memory.
//! - [`synthetic`]: training sets drawn from the core's synthetic smear generator.
//! - [`image_files`]: labelled image files as training samples: decoded, augmented, preprocessed.
//! - [`fit`]: the training loop: losses, optimizers, schedules, validation, checkpoints.
//! - [`adaptation`]: a network's batch-norm statistics re-estimated on a lab's own unlabelled
//!   cells.
//! - [`loss`]: cross-entropy, Tversky, KL-divergence and focal losses, with class weights.
//! - [`optim`]: Adam, Adamax and SGD behind one optimizer type whose state can be saved.
//! - [`schedule`]: learning-rate warm-up and constant, cosine or step decay.
//! - [`export`]: a trained network packed into a `.lsm` artifact.
//! - [`familiarity`]: how far a cell's features lie from those of the cells a model learnt
//!   from.
//! - [`calibration`]: temperature scaling and the confidence threshold of the unidentified bin.
//! - [`quantization`]: int8 post-training quantization and the float/int8 comparison.
//! - [`onnx`]: a model written as ONNX (float, or int8 in QDQ form) for other runtimes.
//! - [`metrics`]: confusion matrices, per-class and macro figures, ROC AUC, calibration, fold summaries.
//! - [`report`]: epoch metrics files, PNG plots and the markdown run report.
//! - [`run_dir`]: the run folder's layout and its typed `config.json`, for every command that
//!   writes or reads one.

pub mod adaptation;
pub mod augment;
pub mod backend;
pub mod bench;
pub mod calibration;
pub mod dataset;
pub mod examples;
pub mod export;
pub mod familiarity;
pub mod fit;
pub mod image_files;
pub mod loader;
pub mod loss;
pub mod metrics;
pub mod onnx;
pub mod optim;
pub mod quantization;
pub mod report;
pub mod run_dir;
pub mod schedule;
pub mod synthetic;
