use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;

/// Two features, two classes: `W = [[1, 0], [0.5, 2]]`, centres at the whitened origin
/// and at `W·(4, 0) = (4, 2)`.
fn two_class_profile() -> FamiliarityProfile {
    FamiliarityProfile {
        features: 2,
        whitening: vec![1.0, 0.5, 2.0],
        centres: vec![0.0, 0.0, 4.0, 2.0],
        unfamiliar_above: 3.0,
    }
}

#[test]
fn the_distance_is_to_the_nearest_centre_in_the_whitened_space() {
    let p = two_class_profile();
    assert!(p.validate(2).is_ok());
    // Wx = (1, 0.5 + 2·1) = (1, 2.5): from the origin √(1 + 6.25); from (4, 2) √(9 + 0.25).
    let d = p.distance(&[1.0, 1.0]);
    assert!((d - (7.25f32).sqrt()).abs() < 1e-6, "{d}");
    // Wx = (4, 2): on the second centre.
    assert_eq!(p.distance(&[4.0, 0.0]), 0.0);
    // Along the second feature the spread is half as wide, so the same step is twice as far.
    assert!((p.distance(&[0.0, 1.0]) - 2.0).abs() < 1e-6);
    assert!(p.distance(&[1.0, 0.0]) < p.distance(&[0.0, 1.0]));
}

#[test]
fn cells_beyond_the_threshold_and_unreadable_ones_are_unfamiliar() {
    let p = two_class_profile();
    assert!(!p.is_unfamiliar(p.distance(&[0.5, 0.5])));
    assert!(p.is_unfamiliar(p.distance(&[0.0, 10.0])));
    assert!(
        !p.is_unfamiliar(3.0),
        "the threshold itself is still familiar"
    );
    let nan = p.distance(&[f32::NAN, 0.0]);
    assert_eq!(nan, f32::INFINITY);
    assert!(p.is_unfamiliar(nan) && p.is_unfamiliar(f32::NAN));
}

#[test]
fn a_profile_that_does_not_fit_its_model_or_is_not_numbers_is_refused() {
    let good = two_class_profile();
    assert_eq!(
        good.validate(3),
        Err(FamiliarityError::FeatureCount {
            profile: 2,
            model: 3
        })
    );
    let short = FamiliarityProfile {
        whitening: vec![1.0, 0.5],
        ..good.clone()
    };
    assert_eq!(
        short.validate(2),
        Err(FamiliarityError::WhiteningLength {
            features: 2,
            expected: 3,
            found: 2
        })
    );
    for centres in [vec![], vec![1.0, 2.0, 3.0]] {
        let bad = FamiliarityProfile {
            centres: centres.clone(),
            ..good.clone()
        };
        assert_eq!(
            bad.validate(2),
            Err(FamiliarityError::Centres {
                features: 2,
                found: centres.len() as u64
            })
        );
    }
    let empty = FamiliarityProfile {
        features: 0,
        whitening: vec![],
        centres: vec![],
        unfamiliar_above: 1.0,
    };
    assert!(matches!(
        empty.validate(0),
        Err(FamiliarityError::Centres { .. })
    ));
    let nan = FamiliarityProfile {
        whitening: vec![1.0, f32::NAN, 2.0],
        ..good.clone()
    };
    assert_eq!(nan.validate(2), Err(FamiliarityError::NonFinite));
    for t in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        let bad = FamiliarityProfile {
            unfamiliar_above: t,
            ..good.clone()
        };
        assert!(
            matches!(bad.validate(2), Err(FamiliarityError::Threshold(_))),
            "{t}"
        );
    }
}

proptest! {
    /// The packed triangle computes `min_c (x − μ_c)ᵀ WᵀW (x − μ_c)` with `Wμ_c` the stored
    /// centres: checked against the full matrix product.
    #[test]
    fn the_distance_is_the_mahalanobis_distance_of_the_unpacked_matrix(
        d in 1usize..7,
        seed in proptest::collection::vec(-2.0f32..2.0, 7 * 8 / 2 + 3 * 7 + 7),
    ) {
        let mut values = seed.into_iter();
        let whitening: Vec<f32> = (0..packed_len(d)).map(|_| values.next().unwrap()).collect();
        let means: Vec<Vec<f32>> = (0..3).map(|_| (0..d).map(|_| values.next().unwrap()).collect()).collect();
        let x: Vec<f32> = (0..d).map(|_| values.next().unwrap()).collect();
        let w = |i: usize, j: usize| if j <= i { f64::from(whitening[i * (i + 1) / 2 + j]) } else { 0.0 };
        let apply = |v: &[f32]| -> Vec<f64> {
            (0..d).map(|i| (0..d).map(|j| w(i, j) * f64::from(v[j])).sum()).collect()
        };
        let centres: Vec<f32> = means.iter().flat_map(|m| apply(m)).map(|v| v as f32).collect();
        let profile = FamiliarityProfile { features: d as u32, whitening: whitening.clone(), centres, unfamiliar_above: 1.0 };
        prop_assert!(profile.validate(d).is_ok());
        let expected = means
            .iter()
            .map(|m| {
                let diff: Vec<f32> = x.iter().zip(m).map(|(a, b)| a - b).collect();
                apply(&diff).iter().map(|v| v * v).sum::<f64>()
            })
            .fold(f64::INFINITY, f64::min)
            .sqrt();
        let got = f64::from(profile.distance(&x));
        prop_assert!((got - expected).abs() <= 1e-4 * (1.0 + expected), "{} vs {}", got, expected);
    }
}
