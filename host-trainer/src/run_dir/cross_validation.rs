//! What `quantize --model CV` leaves in a cross-validation folder for `calibrate --cv` and
//! `results` to read: the folds' int8 figures and their pooled out-of-fold logits.

use serde::{Deserialize, Serialize};

use crate::metrics::{Evaluation, Summary};

/// What `quantize --model CV` measured: float and int8 figures of each fold's last
/// epoch on its own held-out fold.
#[derive(Debug, Serialize, Deserialize)]
pub struct Int8CrossValidation {
    /// Folds of the split.
    pub folds: u64,
    /// Folds trained and measured (the first ones).
    pub folds_run: u64,
    /// The epoch measured in each fold: always "last".
    pub epoch: String,
    /// The activation calibrator of the int8 models.
    pub calibrator: String,
    /// Training images each fold calibrated on.
    pub calib_images: usize,
    /// Float figures, mean and std over folds.
    pub float: Summary,
    /// Int8 figures, mean and std over folds.
    pub int8: Summary,
    /// The int8 Benign-vs-ALL screen; `None` when the class set is already binary.
    pub int8_binary: Option<Summary>,
    /// Int8 figures of every held-out image at once.
    pub int8_pooled_out_of_fold: Evaluation,
    /// Share of held-out images where float and int8 agree, per fold.
    pub top1_agreement: Vec<f64>,
    /// Size of each fold's int8 artifact.
    pub int8_bytes: Vec<usize>,
    /// Per-fold figures behind the summaries.
    pub float_per_fold: Vec<Evaluation>,
    /// Per-fold int8 figures.
    pub int8_per_fold: Vec<Evaluation>,
    /// Per-fold int8 screen figures.
    pub int8_binary_per_fold: Vec<Evaluation>,
}

/// Every held-out image's int8 logits, each scored by the fold model that did not train
/// on it.
#[derive(Debug, Serialize, Deserialize)]
pub struct OutOfFoldLogits {
    /// The class set the logits score.
    pub taxonomy: String,
    /// True classes.
    pub labels: Vec<u32>,
    /// Raw int8-engine logits (temperature 1), one row per image.
    pub logits: Vec<Vec<f32>>,
}
