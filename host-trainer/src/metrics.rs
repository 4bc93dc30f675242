//! How good a classifier is on labelled images: confusion matrix, one-vs-rest precision,
//! recall, F1, sensitivity, specificity and ROC AUC per class, their macro and weighted
//! means, calibration, the coarsening of a fine class set onto the binary screen, and the
//! mean ± spread of all of it across cross-validation folds.
//!
//! Conventions, chosen to agree with scikit-learn so that numbers can be cross-checked:
//! - The prediction is the class of highest probability; ties go to the lower class index.
//! - A ratio whose denominator is zero (precision of a class never predicted, recall of a
//!   class with no images) is reported as 0, as sklearn's `zero_division=0` does.
//! - Macro means are unweighted means over the classes that occur among the labels or the
//!   predictions (sklearn's default label set): a class absent from both has nothing to
//!   score, and counting it as 0 would punish a test set for lacking it.
//! - Beside them, [`Evaluation::present_macro_f1`] averages over the classes among the labels
//!   only, the figure for a lab held out that lacks classes it is wrongly called; and the
//!   false-malignant rate and malignant sensitivity pool every malignant class.
//! - AUC is undefined for a class with no positive or no negative image; it is `None`
//!   (JSON `null`) and left out of the macro AUC.

use std::fmt;

use leukoscope_core::taxonomy::{Taxonomy, TaxonomyError};
use serde::{Deserialize, Serialize};

/// Number of equal-width bins of top-1 confidence behind the expected calibration error.
pub const CALIBRATION_BINS: usize = 15;

/// How far outside [0, 1] a probability may stray: f32 softmax outputs and their sums after
/// coarsening overshoot 1 by a few ulps, while logits passed by mistake overshoot by far more.
const PROBABILITY_SLACK: f32 = 1e-3;

/// Inputs that cannot be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// Scores and labels do not pair up one to one.
    #[error("{scores} score rows but {labels} labels; every image needs both")]
    LengthMismatch {
        /// Rows of probabilities (or scores).
        scores: usize,
        /// Labels.
        labels: usize,
    },
    /// No images at all.
    #[error("nothing to evaluate: no images")]
    Empty,
    /// A probability row that does not have one entry per class.
    #[error("image {index} has {width} probabilities but {taxonomy} has {classes} classes")]
    Width {
        /// Image index.
        index: usize,
        /// Entries in its row.
        width: usize,
        /// The taxonomy's name.
        taxonomy: String,
        /// Classes in the taxonomy.
        classes: usize,
    },
    /// A label that names no class of the taxonomy.
    #[error("image {index} has label {label}, but {taxonomy} has only {classes} classes")]
    LabelOutOfRange {
        /// Image index.
        index: usize,
        /// The label.
        label: u32,
        /// The taxonomy's name.
        taxonomy: String,
        /// Classes in the taxonomy.
        classes: usize,
    },
    /// A NaN or infinite score.
    #[error(
        "image {index}, class {class}: score is {value}; the model diverged or the input is corrupt"
    )]
    NotFinite {
        /// Image index.
        index: usize,
        /// Class index (0 for a single column of scores).
        class: usize,
        /// The value.
        value: f32,
    },
    /// A probability outside [0, 1].
    #[error(
        "image {index}, class {class}: {value} is not a probability; pass softmax outputs, not logits"
    )]
    NotAProbability {
        /// Image index.
        index: usize,
        /// Class index.
        class: usize,
        /// The value.
        value: f32,
    },
    /// The class sets cannot be mapped onto each other.
    #[error(transparent)]
    Taxonomy(#[from] TaxonomyError),
    /// Nothing to summarize.
    #[error("no folds to summarize")]
    NoFolds,
    /// Folds that evaluated different class sets.
    #[error(
        "fold {fold} evaluates {found} but fold 1 evaluates {expected}; folds must share a taxonomy"
    )]
    FoldMismatch {
        /// 1-based fold number.
        fold: usize,
        /// Taxonomy and classes of the first fold.
        expected: String,
        /// Taxonomy and classes of this fold.
        found: String,
    },
}

/// One-vs-rest figures of one class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// The class's display name.
    pub class: String,
    /// TP / (TP + FP); 0 when the class is never predicted.
    pub precision: f64,
    /// TP / (TP + FN); 0 when the class has no images.
    pub recall: f64,
    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub f1: f64,
    /// Images whose label is this class.
    pub support: u64,
    /// Same as recall, under the name screening uses.
    pub sensitivity: f64,
    /// TN / (TN + FP); 0 when every image belongs to this class.
    pub specificity: f64,
    /// Area under the one-vs-rest ROC curve; `None` when the class has no positive or no
    /// negative image.
    pub auc: Option<f64>,
}

/// Everything measured on one labelled set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The taxonomy's name.
    pub taxonomy: String,
    /// Class names in taxonomy order.
    pub classes: Vec<String>,
    /// Fraction of images predicted correctly.
    pub accuracy: f64,
    /// Unweighted mean of per-class precision (see the module notes for which classes count).
    pub macro_precision: f64,
    /// Unweighted mean of per-class recall.
    pub macro_recall: f64,
    /// Unweighted mean of per-class F1.
    pub macro_f1: f64,
    /// Mean of per-class F1 weighted by support.
    pub weighted_f1: f64,
    /// Unweighted mean of F1 over the classes with at least one image: the figure for a set
    /// that lacks some of the taxonomy's classes, such as a lab held out, where
    /// [`Evaluation::macro_f1`] also counts the absent classes it was wrongly called.
    #[serde(default)]
    pub present_macro_f1: f64,
    /// Share of the images of benign classes called a malignant class (for `wbc-blast`,
    /// normal cells called blasts); `None` when there are none or the taxonomy has no
    /// malignant class.
    #[serde(default)]
    pub false_malignant_rate: Option<f64>,
    /// Share of the images of malignant classes called a malignant class, whichever;
    /// `None` when there are none.
    #[serde(default)]
    pub malignant_sensitivity: Option<f64>,
    /// Unweighted mean of the defined per-class AUCs; `None` when no class has one.
    pub macro_auc: Option<f64>,
    /// Expected calibration error: over [`CALIBRATION_BINS`] equal-width bins of top-1
    /// confidence, the image-weighted mean of |accuracy − mean confidence| per bin.
    pub expected_calibration_error: f64,
    /// One entry per class, in taxonomy order.
    pub per_class: Vec<ClassMetrics>,
    /// Counts; rows are the true class, columns the predicted class, both in taxonomy order.
    pub confusion: Vec<Vec<u64>>,
    /// Images evaluated.
    pub n_images: u64,
    /// Images that could not be evaluated (unreadable, rejected) and are in no figure here.
    pub n_skipped: u64,
}

/// Checks that `probabilities` and `labels` describe the same images under `taxonomy`.
pub(crate) fn validate(
    probabilities: &[Vec<f32>],
    labels: &[u32],
    taxonomy: &Taxonomy,
) -> Result<(), MetricsError> {
    if probabilities.len() != labels.len() {
        return Err(MetricsError::LengthMismatch {
            scores: probabilities.len(),
            labels: labels.len(),
        });
    }
    if probabilities.is_empty() {
        return Err(MetricsError::Empty);
    }
    let classes = taxonomy.len();
    for (index, (row, &label)) in probabilities.iter().zip(labels).enumerate() {
        if row.len() != classes {
            return Err(MetricsError::Width {
                index,
                width: row.len(),
                taxonomy: taxonomy.name.clone(),
                classes,
            });
        }
        for (class, &value) in row.iter().enumerate() {
            if !value.is_finite() {
                return Err(MetricsError::NotFinite {
                    index,
                    class,
                    value,
                });
            }
            if !(-PROBABILITY_SLACK..=1.0 + PROBABILITY_SLACK).contains(&value) {
                return Err(MetricsError::NotAProbability {
                    index,
                    class,
                    value,
                });
            }
        }
        if label as usize >= classes {
            return Err(MetricsError::LabelOutOfRange {
                index,
                label,
                taxonomy: taxonomy.name.clone(),
                classes,
            });
        }
    }
    Ok(())
}

/// Index of the largest entry; the first one on ties, so equal scores favour class order.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &value) in row.iter().enumerate() {
        if value > row[best] {
            best = i;
        }
    }
    best
}

/// `numerator / denominator`, or 0 where the ratio is undefined (see the module notes).
fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// Scores a classifier: `probabilities[i]` are its outputs for image `i` (one per class of
/// `taxonomy`, in its order) and `labels[i]` its true class. `n_skipped` is carried through
/// so that reports can say how many images were left out before this point.
pub fn evaluate(
    probabilities: &[Vec<f32>],
    labels: &[u32],
    taxonomy: &Taxonomy,
    n_skipped: u64,
) -> Result<Evaluation, MetricsError> {
    validate(probabilities, labels, taxonomy)?;
    let classes = taxonomy.len();
    let n = labels.len() as u64;
    let predictions: Vec<usize> = probabilities.iter().map(|row| argmax(row)).collect();

    let mut confusion = vec![vec![0u64; classes]; classes];
    for (&label, &predicted) in labels.iter().zip(&predictions) {
        confusion[label as usize][predicted] += 1;
    }
    let correct: u64 = (0..classes).map(|k| confusion[k][k]).sum();

    let mut per_class = Vec::with_capacity(classes);
    let mut present = Vec::with_capacity(classes);
    for (k, info) in taxonomy.classes.iter().enumerate() {
        let tp = confusion[k][k];
        let support: u64 = confusion[k].iter().sum();
        let predicted: u64 = confusion.iter().map(|row| row[k]).sum();
        let (fp, fn_) = (predicted - tp, support - tp);
        let tn = n - tp - fp - fn_;
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, tp + fn_);
        // 2PR/(P+R) written with counts, which is exact and needs no special case for P+R=0
        // beyond the empty denominator.
        let f1 = ratio(2 * tp, 2 * tp + fp + fn_);
        let scores: Vec<f32> = probabilities.iter().map(|row| row[k]).collect();
        let positives: Vec<bool> = labels.iter().map(|&l| l as usize == k).collect();
        per_class.push(ClassMetrics {
            class: info.name.clone(),
            precision,
            recall,
            f1,
            support,
            sensitivity: recall,
            specificity: ratio(tn, tn + fp),
            auc: auc_unchecked(&scores, &positives),
        });
        present.push(support > 0 || predicted > 0);
    }

    let counted: Vec<&ClassMetrics> = per_class
        .iter()
        .zip(&present)
        .filter_map(|(m, &p)| p.then_some(m))
        .collect();
    let macro_of = |figure: fn(&ClassMetrics) -> f64| {
        counted.iter().map(|m| figure(m)).sum::<f64>() / counted.len() as f64
    };
    let aucs: Vec<f64> = per_class.iter().filter_map(|m| m.auc).collect();
    let with_images: Vec<&ClassMetrics> = per_class.iter().filter(|m| m.support > 0).collect();
    let malignant: Vec<bool> = taxonomy.classes.iter().map(|c| c.malignant).collect();
    // Images of one status (true class malignant or not) and how many were called malignant.
    let called_malignant = |status: bool| {
        let (mut images, mut called) = (0u64, 0u64);
        for (row, _) in confusion
            .iter()
            .zip(&malignant)
            .filter(|(_, m)| **m == status)
        {
            images += row.iter().sum::<u64>();
            called += row
                .iter()
                .zip(&malignant)
                .filter_map(|(count, m)| m.then_some(count))
                .sum::<u64>();
        }
        (images > 0 && malignant.contains(&true)).then(|| ratio(called, images))
    };

    Ok(Evaluation {
        taxonomy: taxonomy.name.clone(),
        classes: taxonomy.classes.iter().map(|c| c.name.clone()).collect(),
        accuracy: ratio(correct, n),
        macro_precision: macro_of(|m| m.precision),
        macro_recall: macro_of(|m| m.recall),
        macro_f1: macro_of(|m| m.f1),
        weighted_f1: per_class
            .iter()
            .map(|m| m.f1 * m.support as f64)
            .sum::<f64>()
            / n as f64,
        present_macro_f1: if with_images.is_empty() {
            0.0
        } else {
            with_images.iter().map(|m| m.f1).sum::<f64>() / with_images.len() as f64
        },
        false_malignant_rate: called_malignant(false),
        malignant_sensitivity: called_malignant(true),
        macro_auc: (!aucs.is_empty()).then(|| aucs.iter().sum::<f64>() / aucs.len() as f64),
        expected_calibration_error: calibration_error(probabilities, labels, &predictions),
        per_class,
        confusion,
        n_images: n,
        n_skipped,
    })
}

/// Expected calibration error over [`CALIBRATION_BINS`] bins of top-1 confidence.
///
/// Bin `b` holds confidences in (b/15, (b+1)/15], with 0 in the first bin, as in Guo et al.
/// (2017) "On calibration of modern neural networks".
fn calibration_error(probabilities: &[Vec<f32>], labels: &[u32], predictions: &[usize]) -> f64 {
    let mut count = [0u64; CALIBRATION_BINS];
    let mut correct = [0u64; CALIBRATION_BINS];
    let mut confidence = [0f64; CALIBRATION_BINS];
    for ((row, &label), &predicted) in probabilities.iter().zip(labels).zip(predictions) {
        // Clamped because validation lets values overshoot [0, 1] by rounding slack.
        let top = f64::from(row[predicted]).clamp(0.0, 1.0);
        let bin = ((top * CALIBRATION_BINS as f64).ceil() as usize).clamp(1, CALIBRATION_BINS) - 1;
        count[bin] += 1;
        correct[bin] += u64::from(label as usize == predicted);
        confidence[bin] += top;
    }
    let n = labels.len() as f64;
    (0..CALIBRATION_BINS)
        .filter(|&b| count[b] > 0)
        .map(|b| {
            let size = count[b] as f64;
            (size / n) * (correct[b] as f64 / size - confidence[b] / size).abs()
        })
        .sum()
}

fn check_scores(scores: &[f32], positives: &[bool]) -> Result<(), MetricsError> {
    if scores.len() != positives.len() {
        return Err(MetricsError::LengthMismatch {
            scores: scores.len(),
            labels: positives.len(),
        });
    }
    match scores.iter().position(|s| !s.is_finite()) {
        Some(index) => Err(MetricsError::NotFinite {
            index,
            class: 0,
            value: scores[index],
        }),
        None => Ok(()),
    }
}

/// Area under the ROC curve of `scores` for telling `positives` from the rest; `None` when
/// either side is empty.
///
/// Computed exactly as the Mann–Whitney statistic with mid-ranks for tied scores, which
/// equals the trapezoid area under the ROC curve over distinct thresholds (what sklearn's
/// `roc_auc_score` computes): a tied positive/negative pair counts one half.
pub fn auc(scores: &[f32], positives: &[bool]) -> Result<Option<f64>, MetricsError> {
    check_scores(scores, positives)?;
    Ok(auc_unchecked(scores, positives))
}

fn auc_unchecked(scores: &[f32], positives: &[bool]) -> Option<f64> {
    let n_pos = positives.iter().filter(|&&p| p).count() as f64;
    let n_neg = positives.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        // Ranks start+1 ..= end share their mean.
        let mid_rank = (start + 1 + end) as f64 / 2.0;
        let tied_positives = order[start..end].iter().filter(|&&i| positives[i]).count();
        positive_rank_sum += mid_rank * tied_positives as f64;
        start = end;
    }
    Some((positive_rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg))
}

/// The ROC curve of `scores` for telling `positives` from the rest, as (false positive
/// rate, true positive rate) points from (0, 0) to (1, 1), one per distinct score taken as
/// threshold (highest first). Empty when there is no positive or no negative image, where
/// one of the rates is undefined.
pub fn roc_curve(scores: &[f32], positives: &[bool]) -> Result<Vec<(f64, f64)>, MetricsError> {
    check_scores(scores, positives)?;
    let n_pos = positives.iter().filter(|&&p| p).count();
    let n_neg = positives.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return Ok(Vec::new());
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut curve = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        // Every image at this score crosses the threshold together.
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            if positives[order[end]] {
                tp += 1;
            } else {
                fp += 1;
            }
            end += 1;
        }
        curve.push((fp as f64 / n_neg as f64, tp as f64 / n_pos as f64));
        start = end;
    }
    Ok(curve)
}

/// Re-expresses fine-grained outputs on a coarser class set (the 4-class subtype model as a
/// Normal/ALL screen): each coarse probability is the sum of the fine probabilities that
/// [`Taxonomy::mapping_to`] sends to it, and each label is mapped the same way.
pub fn coarsen(
    probabilities: &[Vec<f32>],
    labels: &[u32],
    from: &Taxonomy,
    to: &Taxonomy,
) -> Result<(Vec<Vec<f32>>, Vec<u32>), MetricsError> {
    validate(probabilities, labels, from)?;
    let mapping = from.mapping_to(to)?;
    let coarse = probabilities
        .iter()
        .map(|row| {
            // Summed in f64 so the coarse row loses no more precision than one rounding.
            let mut sums = vec![0f64; to.len()];
            for (&value, &target) in row.iter().zip(&mapping) {
                sums[target as usize] += f64::from(value);
            }
            sums.into_iter().map(|s| s as f32).collect()
        })
        .collect();
    let coarse_labels = labels.iter().map(|&l| mapping[l as usize]).collect();
    Ok((coarse, coarse_labels))
}

/// Per-class figures of a [`Summary`]: the fields of [`ClassMetrics`], as means or spreads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassFigures {
    /// The class's display name.
    pub class: String,
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
    /// Images of the class per fold.
    pub support: f64,
    /// Sensitivity.
    pub sensitivity: f64,
    /// Specificity.
    pub specificity: f64,
    /// AUC over the folds that define it; `None` when none does.
    pub auc: Option<f64>,
}

/// The scalar figures of an [`Evaluation`], as means or spreads across folds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Accuracy.
    pub accuracy: f64,
    /// Macro precision.
    pub macro_precision: f64,
    /// Macro recall.
    pub macro_recall: f64,
    /// Macro F1.
    pub macro_f1: f64,
    /// Support-weighted F1.
    pub weighted_f1: f64,
    /// Macro F1 over the classes each fold's validation set has.
    #[serde(default)]
    pub present_macro_f1: f64,
    /// False-malignant rate over the folds that define it.
    #[serde(default)]
    pub false_malignant_rate: Option<f64>,
    /// Malignant sensitivity over the folds that define it.
    #[serde(default)]
    pub malignant_sensitivity: Option<f64>,
    /// Macro AUC over the folds that define it; `None` when none does.
    pub macro_auc: Option<f64>,
    /// Expected calibration error.
    pub expected_calibration_error: f64,
    /// Per class, in taxonomy order.
    pub per_class: Vec<ClassFigures>,
}

/// Cross-validation results: mean and sample standard deviation (n − 1 in the denominator)
/// of every figure across folds. A single fold has no spread; its deviations are 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of folds summarized.
    pub folds: usize,
    /// The taxonomy's name.
    pub taxonomy: String,
    /// Class names in taxonomy order.
    pub classes: Vec<String>,
    /// Means across folds.
    pub mean: Figures,
    /// Sample standard deviations across folds.
    pub std: Figures,
}

/// Mean and sample standard deviation; (0, 0) for no values, deviation 0 for one value.
fn spread(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, variance.sqrt())
}

/// [`spread`] over the defined values only; `None` when none is defined.
fn spread_defined(values: impl Iterator<Item = Option<f64>>) -> (Option<f64>, Option<f64>) {
    let defined: Vec<f64> = values.flatten().collect();
    if defined.is_empty() {
        return (None, None);
    }
    let (mean, std) = spread(&defined);
    (Some(mean), Some(std))
}

/// Mean ± sample standard deviation of every figure across cross-validation folds, which
/// must all have evaluated the same taxonomy.
pub fn summarize(folds: &[Evaluation]) -> Result<Summary, MetricsError> {
    let first = folds.first().ok_or(MetricsError::NoFolds)?;
    let describe = |e: &Evaluation| format!("{} ({})", e.taxonomy, e.classes.join(", "));
    for (i, fold) in folds.iter().enumerate().skip(1) {
        // The per-class length check guards against hand-built evaluations; `evaluate`
        // always gives one entry per class.
        if fold.taxonomy != first.taxonomy
            || fold.classes != first.classes
            || fold.per_class.len() != first.per_class.len()
        {
            return Err(MetricsError::FoldMismatch {
                fold: i + 1,
                expected: describe(first),
                found: describe(fold),
            });
        }
    }
    let over =
        |figure: &dyn Fn(&Evaluation) -> f64| spread(&folds.iter().map(figure).collect::<Vec<_>>());
    let (accuracy, accuracy_std) = over(&|e| e.accuracy);
    let (macro_precision, macro_precision_std) = over(&|e| e.macro_precision);
    let (macro_recall, macro_recall_std) = over(&|e| e.macro_recall);
    let (macro_f1, macro_f1_std) = over(&|e| e.macro_f1);
    let (weighted_f1, weighted_f1_std) = over(&|e| e.weighted_f1);
    let (ece, ece_std) = over(&|e| e.expected_calibration_error);
    let (macro_auc, macro_auc_std) = spread_defined(folds.iter().map(|e| e.macro_auc));
    let (present_macro_f1, present_macro_f1_std) = over(&|e| e.present_macro_f1);
    let (false_malignant, false_malignant_std) =
        spread_defined(folds.iter().map(|e| e.false_malignant_rate));
    let (sensitivity, sensitivity_std) =
        spread_defined(folds.iter().map(|e| e.malignant_sensitivity));

    let (mut class_mean, mut class_std) = (Vec::new(), Vec::new());
    for (k, name) in first.per_class.iter().map(|m| &m.class).enumerate() {
        let of = |figure: fn(&ClassMetrics) -> f64| {
            spread(
                &folds
                    .iter()
                    .map(|e| figure(&e.per_class[k]))
                    .collect::<Vec<_>>(),
            )
        };
        let (precision, precision_std) = of(|m| m.precision);
        let (recall, recall_std) = of(|m| m.recall);
        let (f1, f1_std) = of(|m| m.f1);
        let (support, support_std) = of(|m| m.support as f64);
        let (sensitivity, sensitivity_std) = of(|m| m.sensitivity);
        let (specificity, specificity_std) = of(|m| m.specificity);
        let (auc, auc_std) = spread_defined(folds.iter().map(|e| e.per_class[k].auc));
        class_mean.push(ClassFigures {
            class: name.clone(),
            precision,
            recall,
            f1,
            support,
            sensitivity,
            specificity,
            auc,
        });
        class_std.push(ClassFigures {
            class: name.clone(),
            precision: precision_std,
            recall: recall_std,
            f1: f1_std,
            support: support_std,
            sensitivity: sensitivity_std,
            specificity: specificity_std,
            auc: auc_std,
        });
    }

    Ok(Summary {
        folds: folds.len(),
        taxonomy: first.taxonomy.clone(),
        classes: first.classes.clone(),
        mean: Figures {
            accuracy,
            macro_precision,
            macro_recall,
            macro_f1,
            weighted_f1,
            present_macro_f1,
            false_malignant_rate: false_malignant,
            malignant_sensitivity: sensitivity,
            macro_auc,
            expected_calibration_error: ece,
            per_class: class_mean,
        },
        std: Figures {
            accuracy: accuracy_std,
            macro_precision: macro_precision_std,
            macro_recall: macro_recall_std,
            macro_f1: macro_f1_std,
            weighted_f1: weighted_f1_std,
            present_macro_f1: present_macro_f1_std,
            false_malignant_rate: false_malignant_std,
            malignant_sensitivity: sensitivity_std,
            macro_auc: macro_auc_std,
            expected_calibration_error: ece_std,
            per_class: class_std,
        },
    })
}

/// `0.953 ± 0.012`, or `n/a` for a figure no fold defines.
pub(crate) fn plus_minus(mean: Option<f64>, std: Option<f64>) -> String {
    match (mean, std) {
        (Some(mean), Some(std)) => format!("{mean:.3} ± {std:.3}"),
        _ => "n/a".into(),
    }
}

impl Summary {
    /// The overall figures as (name, mean, std) rows, named as in [`Evaluation`]'s fields.
    pub fn rows(&self) -> Vec<(&'static str, Option<f64>, Option<f64>)> {
        let (m, s) = (&self.mean, &self.std);
        vec![
            ("accuracy", Some(m.accuracy), Some(s.accuracy)),
            (
                "macro_precision",
                Some(m.macro_precision),
                Some(s.macro_precision),
            ),
            ("macro_recall", Some(m.macro_recall), Some(s.macro_recall)),
            ("macro_f1", Some(m.macro_f1), Some(s.macro_f1)),
            ("weighted_f1", Some(m.weighted_f1), Some(s.weighted_f1)),
            (
                "present_macro_f1",
                Some(m.present_macro_f1),
                Some(s.present_macro_f1),
            ),
            (
                "false_malignant_rate",
                m.false_malignant_rate,
                s.false_malignant_rate,
            ),
            (
                "malignant_sensitivity",
                m.malignant_sensitivity,
                s.malignant_sensitivity,
            ),
            ("macro_auc", m.macro_auc, s.macro_auc),
            (
                "expected_calibration_error",
                Some(m.expected_calibration_error),
                Some(s.expected_calibration_error),
            ),
        ]
    }
}

impl fmt::Display for Summary {
    /// One `name mean ± std` line per figure, then one line per class.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.folds == 1 { "" } else { "s" };
        writeln!(
            f,
            "{} fold{plural} of {} (mean ± sample std)",
            self.folds, self.taxonomy
        )?;
        for (name, mean, std) in self.rows() {
            writeln!(f, "{name:<27}{}", plus_minus(mean, std))?;
        }
        for (mean, std) in self.mean.per_class.iter().zip(&self.std.per_class) {
            let pm = |a: f64, b: f64| plus_minus(Some(a), Some(b));
            writeln!(
                f,
                "{}: precision {}, recall {}, f1 {}, specificity {}, auc {}",
                mean.class,
                pm(mean.precision, std.precision),
                pm(mean.recall, std.recall),
                pm(mean.f1, std.f1),
                pm(mean.specificity, std.specificity),
                plus_minus(mean.auc, std.auc),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
