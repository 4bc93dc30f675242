//! Training losses: cross-entropy with label smoothing, Tversky (study 003), KL
//! divergence to smoothed targets (study 004) and focal loss, each with optional class
//! weights for imbalanced data.
//!
//! Every loss reads raw logits and works from `log_softmax` (or `softmax` for the
//! soft counts of Tversky), never `log(softmax)`, so a confident wrong logit gives a
//! large finite loss instead of `inf`.

use std::fmt;
use std::str::FromStr;

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{IndexingUpdateOp, Int, Tensor};
use serde::{Deserialize, Serialize};

/// Added to the numerator and denominator of every Tversky index, so a class with
/// no samples and no predicted mass in a batch scores 1 instead of 0/0.
pub const TVERSKY_SMOOTHING: f32 = 1e-5;

/// Floor on `1 - p_t` in the focal factor: `(1 - p_t)^γ` has an infinite slope at 0
/// for γ < 1, and a perfectly classified sample would turn it into a NaN gradient.
const FOCAL_FLOOR: f32 = 1e-12;

/// Floor on the sum of the batch's class weights, so a batch made only of
/// zero-weight classes gives a loss of 0 rather than 0/0.
const WEIGHT_SUM_FLOOR: f32 = 1e-12;

/// Which loss to minimize, with its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LossKind {
    /// Cross-entropy to targets `(1 - ε)·onehot + ε/K` (ε = `label_smoothing`).
    CrossEntropy {
        /// ε in `[0, 1]`; 0 is plain cross-entropy.
        label_smoothing: f32,
    },
    /// `1 - mean over classes of TP / (TP + α·FP + β·FN)` with soft counts over the
    /// batch (study 003). α = β = 0.5 is the Dice loss; β > α weighs missed positives
    /// more than false alarms, which favours recall on rare classes. Plus
    /// `cross_entropy` times the (weighted) cross-entropy, when it is positive.
    Tversky {
        /// Weight of false positives, `>= 0`.
        alpha: f32,
        /// Weight of false negatives, `>= 0`; `alpha + beta` must be positive.
        beta: f32,
        /// Weight of a cross-entropy term added to the Tversky loss, `>= 0` (0: Tversky
        /// alone, as study 003). The soft counts lose their gradient on a cell the
        /// softmax calls confidently wrong, and Tversky alone collapsed to one class on
        /// aria-4class (docs/results.md); the cross-entropy's gradient does not vanish.
        /// Left out of the JSON when 0, so earlier runs' configurations and checkpoint
        /// identities stay as they were.
        #[serde(default, skip_serializing_if = "is_zero")]
        cross_entropy: f32,
    },
    /// `KL(target ‖ softmax)` summed over classes, mean over the batch, to targets
    /// smoothed like [`LossKind::CrossEntropy`] (study 004). It equals the smoothed
    /// cross-entropy minus the targets' entropy, a constant: same gradients, but the
    /// loss reaches 0 at the targets.
    KlDivergence {
        /// ε in `[0, 1]`; 0 makes this plain cross-entropy.
        smoothing: f32,
    },
    /// `-α_t (1 - p_t)^γ log p_t` (Lin et al. 2017), with the class weights as α.
    Focal {
        /// γ `>= 0`; 0 is (weighted) cross-entropy.
        gamma: f32,
    },
}

fn is_zero(weight: &f32) -> bool {
    *weight == 0.0
}

/// Why a loss could not be built or applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LossError {
    /// Label smoothing outside `[0, 1]` or not a number.
    #[error("label smoothing {0} is outside [0, 1]; use a value such as 0.1")]
    Smoothing(f32),
    /// Tversky weights negative, not finite, or both zero.
    #[error(
        "Tversky alpha {alpha} and beta {beta} must be >= 0 with a positive sum; \
         try alpha 0.3, beta 0.7"
    )]
    Tversky {
        /// Weight of false positives.
        alpha: f32,
        /// Weight of false negatives.
        beta: f32,
    },
    /// The weight of Tversky's cross-entropy term negative or not finite.
    #[error("the cross-entropy weight {0} added to Tversky must be a finite number >= 0")]
    TverskyCrossEntropy(f32),
    /// Focal γ negative or not finite.
    #[error("focal gamma {0} must be a finite number >= 0; 2 is the usual choice")]
    FocalGamma(f32),
    /// Class weights for a different number of classes than the network scores.
    #[error("{found} class weights given for {classes} classes")]
    WeightCount {
        /// Weights given.
        found: usize,
        /// Classes the logits score.
        classes: usize,
    },
    /// A class weight below zero or not finite.
    #[error("class weight {value} of class {class} must be a finite number >= 0")]
    NegativeWeight {
        /// Index of the class.
        class: usize,
        /// Its weight.
        value: f32,
    },
    /// No class weight is positive: every sample would count for nothing.
    #[error("class weights are all zero (or there are none)")]
    ZeroWeights,
    /// A loss name that is none of the known ones.
    #[error("unknown loss {0:?}; use ce, tversky, kl or focal")]
    Unknown(String),
    /// Logits and targets of different batch sizes.
    #[error("{rows} rows of logits for {targets} targets")]
    Batch {
        /// Rows of the logits.
        rows: usize,
        /// Number of targets.
        targets: usize,
    },
}

impl LossKind {
    /// Builds a loss kind from its command-line name (`ce`, `tversky`, `kl`, `focal`;
    /// also `cross-entropy`, `kl-divergence`), taking the parameters that kind uses
    /// and ignoring the others. `label_smoothing` serves both `ce` and `kl`; the
    /// Tversky parameters are alpha, beta and the cross-entropy term's weight.
    pub fn parse(
        name: &str,
        label_smoothing: f32,
        [alpha, beta, cross_entropy]: [f32; 3],
        focal_gamma: f32,
    ) -> Result<Self, LossError> {
        let kind = match name.trim().to_ascii_lowercase().as_str() {
            "ce" | "cross-entropy" | "crossentropy" => LossKind::CrossEntropy { label_smoothing },
            "tversky" => LossKind::Tversky {
                alpha,
                beta,
                cross_entropy,
            },
            "kl" | "kl-divergence" | "kld" => LossKind::KlDivergence {
                smoothing: label_smoothing,
            },
            "focal" => LossKind::Focal { gamma: focal_gamma },
            _ => return Err(LossError::Unknown(name.to_owned())),
        };
        kind.validate()?;
        Ok(kind)
    }

    /// The short name used on the command line, in configs and in reports.
    pub fn name(&self) -> &'static str {
        match self {
            LossKind::CrossEntropy { .. } => "ce",
            LossKind::Tversky { .. } => "tversky",
            LossKind::KlDivergence { .. } => "kl",
            LossKind::Focal { .. } => "focal",
        }
    }

    /// Checks the parameters without building a loss.
    pub fn validate(&self) -> Result<(), LossError> {
        match *self {
            LossKind::CrossEntropy { label_smoothing: s }
            | LossKind::KlDivergence { smoothing: s } => {
                // `contains` is false for NaN, so NaN is refused too.
                if !(0.0..=1.0).contains(&s) {
                    return Err(LossError::Smoothing(s));
                }
            }
            LossKind::Tversky {
                alpha,
                beta,
                cross_entropy,
            } => {
                let valid = |x: f32| x.is_finite() && x >= 0.0;
                if !(valid(alpha) && valid(beta) && alpha + beta > 0.0) {
                    return Err(LossError::Tversky { alpha, beta });
                }
                if !valid(cross_entropy) {
                    return Err(LossError::TverskyCrossEntropy(cross_entropy));
                }
            }
            LossKind::Focal { gamma } => {
                if !(gamma.is_finite() && gamma >= 0.0) {
                    return Err(LossError::FocalGamma(gamma));
                }
            }
        }
        Ok(())
    }
}

/// The defaults of each kind: `ce` unsmoothed, `tversky` α 0.3 β 0.7 (Salehi et al.
/// 2017, who found it the best trade-off for rare classes) without a cross-entropy
/// term, `kl` ε 0.1, `focal` γ 2
/// (Lin et al. 2017). Use [`LossKind::parse`] to choose the parameters.
impl FromStr for LossKind {
    type Err = LossError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let mut kind = LossKind::parse(name, 0.0, [0.3, 0.7, 0.0], 2.0)?;
        if let LossKind::KlDivergence { smoothing } = &mut kind {
            *smoothing = 0.1;
        }
        Ok(kind)
    }
}

impl fmt::Display for LossKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LossKind::CrossEntropy { label_smoothing } => {
                write!(f, "ce (label smoothing {label_smoothing})")
            }
            LossKind::Tversky {
                alpha,
                beta,
                cross_entropy,
            } => {
                write!(f, "tversky (alpha {alpha}, beta {beta})")?;
                if *cross_entropy > 0.0 {
                    write!(f, " + {cross_entropy} ce")?;
                }
                Ok(())
            }
            LossKind::KlDivergence { smoothing } => write!(f, "kl (smoothing {smoothing})"),
            LossKind::Focal { gamma } => write!(f, "focal (gamma {gamma})"),
        }
    }
}

/// A validated loss: its kind and optional per-class weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Loss {
    /// Which loss.
    pub kind: LossKind,
    /// One weight per class, `>= 0`, at least one positive. Losses over samples take
    /// the weighted mean `Σ w_y·l / Σ w_y` (as PyTorch does); Tversky takes the
    /// weighted mean over classes.
    pub class_weights: Option<Vec<f32>>,
}

impl Loss {
    /// Checks the parameters and the weights. The number of weights can only be
    /// checked against the network: see [`Loss::check_classes`].
    pub fn new(kind: LossKind, class_weights: Option<Vec<f32>>) -> Result<Self, LossError> {
        kind.validate()?;
        if let Some(weights) = &class_weights {
            if let Some((class, &value)) = weights
                .iter()
                .enumerate()
                .find(|(_, w)| !(w.is_finite() && **w >= 0.0))
            {
                return Err(LossError::NegativeWeight { class, value });
            }
            if !weights.iter().any(|&w| w > 0.0) {
                return Err(LossError::ZeroWeights);
            }
        }
        Ok(Self {
            kind,
            class_weights,
        })
    }

    /// Checks that the class weights (if any) match a network scoring `classes`
    /// classes. Call it once before training; [`Loss::forward`] panics on a mismatch.
    pub fn check_classes(&self, classes: usize) -> Result<(), LossError> {
        match &self.class_weights {
            Some(weights) if weights.len() != classes => Err(LossError::WeightCount {
                found: weights.len(),
                classes,
            }),
            _ => Ok(()),
        }
    }

    /// The mean loss of a batch, as a one-element tensor that can be back-propagated.
    ///
    /// `logits` is `[batch, classes]`, `targets` holds class indices `< classes`.
    ///
    /// # Panics
    ///
    /// When the batch sizes differ or the class weights do not match the logits'
    /// width; [`Loss::try_forward`] returns these as errors.
    pub fn forward<B: Backend>(
        &self,
        logits: Tensor<B, 2>,
        targets: Tensor<B, 1, Int>,
    ) -> Tensor<B, 1> {
        match self.try_forward(logits, targets) {
            Ok(loss) => loss,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`Loss::forward`] with shape mismatches returned as errors.
    pub fn try_forward<B: Backend>(
        &self,
        logits: Tensor<B, 2>,
        targets: Tensor<B, 1, Int>,
    ) -> Result<Tensor<B, 1>, LossError> {
        let [rows, classes] = logits.dims();
        let [n] = targets.dims();
        if rows != n {
            return Err(LossError::Batch { rows, targets: n });
        }
        self.check_classes(classes)?;
        let weights = self
            .class_weights
            .as_ref()
            .map(|w| Tensor::<B, 1>::from_floats(w.as_slice(), &logits.device()));
        Ok(match self.kind {
            LossKind::CrossEntropy { label_smoothing } => {
                cross_entropy(logits, targets, label_smoothing, weights)
            }
            LossKind::KlDivergence { smoothing } => {
                kl_divergence(logits, targets, smoothing, weights)
            }
            LossKind::Tversky {
                alpha,
                beta,
                cross_entropy,
            } => {
                let overlap = tversky(
                    logits.clone(),
                    targets.clone(),
                    alpha,
                    beta,
                    weights.clone(),
                );
                if cross_entropy > 0.0 {
                    overlap + self::cross_entropy(logits, targets, 0.0, weights) * cross_entropy
                } else {
                    overlap
                }
            }
            LossKind::Focal { gamma } => focal(logits, targets, gamma, weights),
        })
    }
}

/// Class weights `N / (K'·n_c)` for classes counted `n_c` times out of `N` (`K'` the
/// classes present), so the weighted mean of the weights over the training samples,
/// `Σ n_c·w_c / N`, is 1 and the loss keeps its usual scale. A class with no samples
/// gets 0: nothing to learn it from. All-zero (or no) counts give weights of 1.
pub fn class_weights_inverse_frequency(counts: &[usize]) -> Vec<f32> {
    let total: usize = counts.iter().sum();
    let present = counts.iter().filter(|&&n| n > 0).count();
    if total == 0 {
        return vec![1.0; counts.len()];
    }
    counts
        .iter()
        .map(|&n| {
            if n == 0 {
                0.0
            } else {
                // f64 so that large, uneven counts keep their ratio exactly enough.
                (total as f64 / (present as f64 * n as f64)) as f32
            }
        })
        .collect()
}

/// `[batch, classes]` targets `(1 - ε)·onehot + ε/K`.
fn smoothed_targets<B: Backend>(
    targets: Tensor<B, 1, Int>,
    classes: usize,
    smoothing: f32,
) -> Tensor<B, 2> {
    let [n] = targets.dims();
    let device = targets.device();
    let onehot = Tensor::<B, 2>::zeros([n, classes], &device).scatter(
        1,
        targets.reshape([n, 1]),
        Tensor::ones([n, 1], &device),
        IndexingUpdateOp::Add,
    );
    if smoothing == 0.0 {
        onehot
    } else {
        onehot * (1.0 - smoothing) + smoothing / classes as f32
    }
}

/// `Σ w_{y_i}·l_i / Σ w_{y_i}`, or the plain mean without weights.
fn weighted_mean<B: Backend>(
    per_sample: Tensor<B, 1>,
    targets: Tensor<B, 1, Int>,
    weights: Option<Tensor<B, 1>>,
) -> Tensor<B, 1> {
    match weights {
        Some(weights) => {
            let w = weights.gather(0, targets);
            (per_sample * w.clone()).sum() / w.sum().clamp_min(WEIGHT_SUM_FLOOR)
        }
        None => per_sample.mean(),
    }
}

/// Smoothed cross-entropy with PyTorch's weighting: `-Σ_i Σ_c w_c·t_ic·log p_ic / Σ_i w_{y_i}`
/// (for ε = 0 this is `Σ w_y·l / Σ w_y`). burn's `CrossEntropyLoss` computes the same.
fn cross_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
    smoothing: f32,
    weights: Option<Tensor<B, 1>>,
) -> Tensor<B, 1> {
    let [n, classes] = logits.dims();
    let log_p = log_softmax(logits, 1);
    let t = smoothed_targets(targets.clone(), classes, smoothing);
    match weights {
        Some(weights) => {
            let per_class = weights.clone().reshape([1, classes]).expand([n, classes]);
            let w_y = weights.gather(0, targets);
            -(t * per_class * log_p).sum() / w_y.sum().clamp_min(WEIGHT_SUM_FLOOR)
        }
        None => -(t * log_p).sum_dim(1).mean(),
    }
}

/// Entropy (nats) of one row of smoothed targets: `1 - ε + ε/K` once and `ε/K`
/// `K - 1` times, with `0·ln 0 = 0`. Every row has the same entropy, so it is a
/// constant computed on the host, in f64 to keep its digits.
fn smoothed_target_entropy(classes: usize, smoothing: f32) -> f64 {
    let k = classes as f64;
    let eps = f64::from(smoothing);
    let h = |x: f64| if x > 0.0 { -x * x.ln() } else { 0.0 };
    h(1.0 - eps + eps / k) + (k - 1.0) * h(eps / k)
}

/// `KL(t ‖ p) = Σ_c t_c (ln t_c - ln p_c)` per sample, computed as the smoothed
/// cross-entropy minus the targets' entropy (which avoids `ln 0` for ε = 0), then
/// the (weighted) mean over samples.
fn kl_divergence<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
    smoothing: f32,
    weights: Option<Tensor<B, 1>>,
) -> Tensor<B, 1> {
    let [n, classes] = logits.dims();
    let t = smoothed_targets(targets.clone(), classes, smoothing);
    let cross = -(t * log_softmax(logits, 1)).sum_dim(1).reshape([n]);
    let entropy = smoothed_target_entropy(classes, smoothing) as f32;
    weighted_mean(cross - entropy, targets, weights)
}

/// Multi-class Tversky loss with soft counts over the batch, per class `c`:
/// `TP = Σ_i p_ic·t_ic`, `FP = Σ_i p_ic·(1 - t_ic)`, `FN = Σ_i (1 - p_ic)·t_ic`,
/// `TI = (TP + s) / (TP + α·FP + β·FN + s)`; loss `1 - mean_c TI` (or weighted mean).
fn tversky<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
    alpha: f32,
    beta: f32,
    weights: Option<Tensor<B, 1>>,
) -> Tensor<B, 1> {
    let [_, classes] = logits.dims();
    let p = softmax(logits, 1);
    let t = smoothed_targets(targets, classes, 0.0);
    let tp = (p.clone() * t.clone()).sum_dim(0).reshape([classes]);
    // Σ p·(1 - t) = Σ p - TP and Σ (1 - p)·t = Σ t - TP: two fewer [batch, classes] products.
    let fp = p.sum_dim(0).reshape([classes]) - tp.clone();
    let fn_ = t.sum_dim(0).reshape([classes]) - tp.clone();
    let index =
        (tp.clone() + TVERSKY_SMOOTHING) / (tp + fp * alpha + fn_ * beta + TVERSKY_SMOOTHING);
    let mean_index = match weights {
        Some(w) => (index * w.clone()).sum() / w.sum().clamp_min(WEIGHT_SUM_FLOOR),
        None => index.mean(),
    };
    -mean_index + 1.0
}

/// Focal loss `-α_t (1 - p_t)^γ log p_t` with `α_t = w_{y}`, averaged like the
/// weighted cross-entropy so that γ = 0 gives exactly that.
fn focal<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
    gamma: f32,
    weights: Option<Tensor<B, 1>>,
) -> Tensor<B, 1> {
    let [n, _] = logits.dims();
    let log_pt = log_softmax(logits, 1)
        .gather(1, targets.clone().reshape([n, 1]))
        .reshape([n]);
    let per_sample = if gamma == 0.0 {
        -log_pt
    } else {
        let factor = (-log_pt.clone().exp() + 1.0)
            .clamp_min(FOCAL_FLOOR)
            .powf_scalar(gamma);
        -(factor * log_pt)
    };
    weighted_mean(per_sample, targets, weights)
}

#[cfg(test)]
mod tests;
