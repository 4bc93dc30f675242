//! Trustworthy confidences: temperature scaling fit on held-out logits (Guo et al. 2017,
//! "On calibration of modern neural networks"), and the confidence below which the edge
//! calls a cell unidentified, chosen so the cells it does classify are right often enough.

use leukoscope_core::artifact::softmax;

/// Why a calibration could not be fit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibrationError {
    /// No held-out images.
    #[error("no held-out images to calibrate on")]
    Empty,
    /// Rows of logits and labels disagree.
    #[error("{logits} rows of logits but {labels} labels")]
    LengthMismatch {
        /// Rows of logits.
        logits: usize,
        /// Labels.
        labels: usize,
    },
    /// A label beyond the classes, or a row of another width.
    #[error("image {index}: label {label} or its {width} logits do not fit {classes} classes")]
    BadRow {
        /// The image.
        index: usize,
        /// Its label.
        label: u32,
        /// Its logits.
        width: usize,
        /// Classes.
        classes: usize,
    },
    /// A logit that is not a finite number.
    #[error("image {0} has a logit that is not a finite number")]
    NotFinite(usize),
}

/// Temperatures searched: `exp` of this range (0.05 to 20), far wider than networks need
/// (Guo et al. report 1.1 to 3.5).
const LOG_T_RANGE: (f64, f64) = (-3.0, 3.0);

/// The temperature `T` minimizing the negative log-likelihood of `labels` under
/// `softmax(logits / T)`. The NLL is convex in `1 / T`, so a golden-section search over
/// `ln T` finds its minimum to well under 0.1 %.
pub fn fit_temperature(logits: &[Vec<f32>], labels: &[u32]) -> Result<f32, CalibrationError> {
    check(logits, labels)?;
    let nll = |log_t: f64| mean_nll(logits, labels, log_t.exp());
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = LOG_T_RANGE;
    let mut c = b - phi * (b - a);
    let mut d = a + phi * (b - a);
    let (mut fc, mut fd) = (nll(c), nll(d));
    while b - a > 1e-5 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - phi * (b - a);
            fc = nll(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + phi * (b - a);
            fd = nll(d);
        }
    }
    Ok(((a + b) / 2.0).exp() as f32)
}

/// Mean negative log-likelihood of `labels` under `softmax(logits / t)`.
pub fn mean_nll(logits: &[Vec<f32>], labels: &[u32], t: f64) -> f64 {
    let total: f64 = logits
        .iter()
        .zip(labels)
        .map(|(row, &label)| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let log_sum = row
                .iter()
                .map(|&l| ((f64::from(l) - max) / t).exp())
                .sum::<f64>()
                .ln();
            log_sum - (f64::from(row[label as usize]) - max) / t
        })
        .sum();
    total / logits.len().max(1) as f64
}

/// Softmax of every row at temperature `t`.
pub fn probabilities(logits: &[Vec<f32>], t: f32) -> Vec<Vec<f32>> {
    logits.iter().map(|row| softmax(row, t)).collect()
}

/// The confidence threshold of the unidentified bin, and what it costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// Cells whose top probability is below this are not classified.
    pub unidentified_below: f32,
    /// Share of the cells the device does classify that are right (on these images).
    pub precision: f64,
    /// Share of the images sent to the unidentified bin.
    pub unidentified_share: f64,
}

/// The lowest confidence threshold at which the images at or above it are classified
/// right at least `target` of the time (so as few as possible go unidentified), on
/// `probabilities` with `labels`. When no threshold reaches the target, the one with the
/// best precision (all but the single most confident image unidentified, at worst).
pub fn unidentified_threshold(
    probabilities: &[Vec<f32>],
    labels: &[u32],
    target: f64,
) -> Result<Threshold, CalibrationError> {
    check(probabilities, labels)?;
    // (confidence, right), most confident first.
    let mut calls: Vec<(f32, bool)> = probabilities
        .iter()
        .zip(labels)
        .map(|(row, &label)| {
            let (top, confidence) =
                row.iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (i, &p)| {
                        if p > best.1 { (i, p) } else { best }
                    });
            (confidence, top == label as usize)
        })
        .collect();
    calls.sort_by(|a, b| b.0.total_cmp(&a.0));
    let n = calls.len();
    let mut right = 0usize;
    let mut best: Option<(usize, f64)> = None;
    let mut reaching: Option<usize> = None;
    for (i, &(confidence, ok)) in calls.iter().enumerate() {
        right += usize::from(ok);
        // Only cut between different confidences: a threshold cannot split ties.
        if i + 1 < n && calls[i + 1].0 == confidence {
            continue;
        }
        let kept = i + 1;
        let precision = right as f64 / kept as f64;
        if precision >= target {
            reaching = Some(kept);
        }
        if best.is_none_or(|(_, p)| precision > p) {
            best = Some((kept, precision));
        }
    }
    let kept = reaching.or(best.map(|(k, _)| k)).unwrap_or(n);
    let right_kept = calls[..kept].iter().filter(|c| c.1).count();
    Ok(Threshold {
        unidentified_below: calls[kept - 1].0,
        precision: right_kept as f64 / kept as f64,
        unidentified_share: (n - kept) as f64 / n as f64,
    })
}

fn check(rows: &[Vec<f32>], labels: &[u32]) -> Result<(), CalibrationError> {
    if rows.is_empty() {
        return Err(CalibrationError::Empty);
    }
    if rows.len() != labels.len() {
        return Err(CalibrationError::LengthMismatch {
            logits: rows.len(),
            labels: labels.len(),
        });
    }
    let classes = rows[0].len();
    for (index, (row, &label)) in rows.iter().zip(labels).enumerate() {
        if row.len() != classes || label as usize >= classes || classes == 0 {
            return Err(CalibrationError::BadRow {
                index,
                label,
                width: row.len(),
                classes,
            });
        }
        if row.iter().any(|v| !v.is_finite()) {
            return Err(CalibrationError::NotFinite(index));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
