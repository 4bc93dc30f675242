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
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Logits of a model `scale` times too confident about calls right `accuracy` of the
    /// time: `n` images, 3 classes.
    fn overconfident(n: usize, scale: f32, accuracy: f64) -> (Vec<Vec<f32>>, Vec<u32>) {
        let mut logits = Vec::new();
        let mut labels = Vec::new();
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for i in 0..n {
            let label = (i % 3) as u32;
            let predicted = if next() < accuracy {
                label
            } else {
                (label + 1) % 3
            };
            let margin = 1.0 + 2.0 * next() as f32;
            let mut row = vec![0.0f32; 3];
            row[predicted as usize] = margin * scale;
            logits.push(row);
            labels.push(label);
        }
        (logits, labels)
    }

    #[test]
    fn an_overconfident_model_is_cooled_and_its_likelihood_improves() {
        let (logits, labels) = overconfident(3000, 4.0, 0.8);
        let t = fit_temperature(&logits, &labels).expect("fit");
        assert!(t > 2.0, "temperature {t}");
        let before = mean_nll(&logits, &labels, 1.0);
        let after = mean_nll(&logits, &labels, f64::from(t));
        assert!(after < before * 0.8, "{before} -> {after}");
        // The minimum: nearby temperatures do worse.
        for nearby in [t * 0.9, t * 1.1] {
            assert!(mean_nll(&logits, &labels, f64::from(nearby)) >= after);
        }
    }

    #[test]
    fn a_calibrated_model_keeps_a_temperature_near_one() {
        // Labels drawn from the model's own probabilities: calibrated by construction.
        let mut state = 7u64;
        let mut logits = Vec::new();
        let mut labels = Vec::new();
        for i in 0..6000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            let row = vec![(i % 5) as f32 * 0.7, 0.0, -0.5];
            let p = softmax(&row, 1.0);
            let label = if u < f64::from(p[0]) {
                0
            } else if u < f64::from(p[0] + p[1]) {
                1
            } else {
                2
            };
            logits.push(row);
            labels.push(label);
        }
        let t = fit_temperature(&logits, &labels).expect("fit");
        assert!((t - 1.0).abs() < 0.1, "temperature {t}");
    }

    #[test]
    fn the_threshold_reaches_the_precision_with_the_fewest_left_out() {
        // Class 0 called with confidence 0.9 (all right), 0.6 (3 of 4 right) and 0.4 (1 of
        // 4 right).
        let rows = |p: f32, n: usize| vec![vec![p, (1.0 - p) / 2.0, (1.0 - p) / 2.0]; n];
        let mut probabilities = rows(0.9, 8);
        probabilities.extend(rows(0.6, 4));
        probabilities.extend(rows(0.4, 4));
        let mut labels = vec![0; 8];
        labels.extend([0, 0, 0, 1]);
        labels.extend([0, 1, 2, 1]);
        let strict = unidentified_threshold(&probabilities, &labels, 0.99).expect("t");
        assert_eq!(strict.unidentified_below, 0.9);
        assert_eq!(strict.precision, 1.0);
        assert_eq!(strict.unidentified_share, 0.5);
        let loose = unidentified_threshold(&probabilities, &labels, 0.9).expect("t");
        assert_eq!(loose.unidentified_below, 0.6);
        assert!((loose.precision - 11.0 / 12.0).abs() < 1e-12);
        assert_eq!(loose.unidentified_share, 0.25);
        let none = unidentified_threshold(&probabilities, &labels, 0.5).expect("t");
        assert_eq!(none.unidentified_share, 0.0);
    }

    #[test]
    fn bad_inputs_are_named() {
        assert_eq!(fit_temperature(&[], &[]), Err(CalibrationError::Empty));
        assert!(matches!(
            fit_temperature(&[vec![0.0, 1.0]], &[0, 1]),
            Err(CalibrationError::LengthMismatch { .. })
        ));
        assert!(matches!(
            fit_temperature(&[vec![0.0, 1.0]], &[2]),
            Err(CalibrationError::BadRow { .. })
        ));
        assert_eq!(
            fit_temperature(&[vec![0.0, f32::NAN]], &[0]),
            Err(CalibrationError::NotFinite(0))
        );
    }

    proptest! {
        #[test]
        fn the_threshold_keeps_its_promise(
            rows in prop::collection::vec((0.0f32..1.0, any::<bool>()), 1..200),
            target in 0.5f64..1.0,
        ) {
            let probabilities: Vec<Vec<f32>> = rows.iter().map(|&(p, _)| vec![p, 1.0 - p]).collect();
            let labels: Vec<u32> = rows
                .iter()
                .map(|&(p, right)| {
                    let top = if p >= 1.0 - p { 0 } else { 1 };
                    if right { top } else { 1 - top }
                })
                .collect();
            let t = unidentified_threshold(&probabilities, &labels, target).expect("t");
            // What it reports is what happens at that threshold.
            let kept: Vec<bool> = rows
                .iter()
                .zip(&probabilities)
                .filter(|(_, p)| p[0].max(p[1]) >= t.unidentified_below)
                .map(|(&(_, right), _)| right)
                .collect();
            prop_assert!(!kept.is_empty());
            let precision = kept.iter().filter(|&&r| r).count() as f64 / kept.len() as f64;
            prop_assert!((precision - t.precision).abs() < 1e-9);
            prop_assert!(
                ((rows.len() - kept.len()) as f64 / rows.len() as f64 - t.unidentified_share).abs() < 1e-9
            );
        }
    }
}
