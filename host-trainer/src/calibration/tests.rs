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
