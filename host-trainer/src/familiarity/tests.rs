use leukoscope_core::artifact::{ModelArtifact, TrustPolicy};
use leukoscope_core::engine::Engine;
use leukoscope_core::synth::FieldOptions;

use super::*;
use crate::quantization::engine_logits_each;

/// Cells of two classes around (0, 0) and (10, 0), on a grid spread ten times wider along
/// x than along y.
fn two_classes() -> (Vec<Vec<f32>>, Vec<u32>) {
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for class in 0..2u32 {
        for k in 0..100 {
            let (a, b) = ((k % 10) as f32 / 9.0 - 0.5, (k / 10) as f32 / 9.0 - 0.5);
            features.push(vec![10.0 * class as f32 + 10.0 * a, b]);
            labels.push(class);
        }
    }
    (features, labels)
}

#[test]
fn the_distance_is_measured_in_the_training_cells_spread_from_the_nearest_class() {
    let (features, labels) = two_classes();
    let profile = FeatureProfile::fit(&features, &labels).unwrap();
    // At a class mean, nothing; the same step is ten times farther across the narrow axis.
    assert!(profile.distance(&[10.0, 0.0]) < 0.05);
    let along = profile.distance(&[2.0, 0.0]);
    let across = profile.distance(&[0.0, 2.0]);
    assert!(across > 5.0 * along, "along {along}, across {across}");
    // The nearest class counts: beside class 1 is near, whatever class 0 says.
    assert!(profile.distance(&[11.0, 0.0]) < profile.distance(&[5.0, 0.0]));
    // Far from both: large.
    assert!(profile.distance(&[5.0, 30.0]) > 20.0);
}

#[test]
fn the_threshold_flags_the_share_asked_for_and_the_board_profile_measures_alike() {
    let distances: Vec<f32> = (1..=200).map(|k| k as f32).collect();
    // 5 % of 200: the ten largest lie beyond it.
    let t = threshold_flagging(&distances, 0.05).unwrap();
    assert_eq!(distances.iter().filter(|&&d| d > t).count(), 10);
    assert_eq!(threshold_flagging(&distances, 0.0), Some(200.0));
    // Ties stay familiar: never more flagged than asked.
    let tied = vec![3.0; 50];
    assert_eq!(threshold_flagging(&tied, 0.1), Some(3.0));
    assert_eq!(threshold_flagging(&[], 0.05), None);
    assert_eq!(threshold_flagging(&distances, 1.0), None);
    assert_eq!(threshold_flagging(&[0.0, 0.0], 0.05), None);

    let (features, labels) = two_classes();
    let fitted = FeatureProfile::fit(&features, &labels).unwrap();
    let far = fitted.distance(&[5.0, 30.0]);
    let board = fitted.clone().with_threshold(4.0);
    assert!(board.validate(2).is_ok());
    assert_eq!(board.distance(&[5.0, 30.0]), far);
    assert!(board.is_unfamiliar(far));
    assert!(!board.is_unfamiliar(board.distance(&[10.0, 0.1])));
}

#[test]
fn a_profile_of_fewer_cells_than_features_or_of_an_absent_class_still_measures() {
    // Three cells in eight dimensions, class 2 never seen: the covariance is singular
    // without its shrinkage.
    let features = vec![
        vec![1.0; 8],
        vec![2.0; 8],
        vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
    ];
    let profile = FeatureProfile::fit(&features, &[0, 0, 3]).unwrap();
    let near = profile.distance(&[1.5; 8]);
    let far = profile.distance(&[50.0; 8]);
    assert!(
        near.is_finite() && far > 10.0 * near,
        "near {near}, far {far}"
    );
}

#[test]
fn profiles_that_cannot_measure_are_refused() {
    assert_eq!(
        FeatureProfile::fit(&[vec![1.0]], &[0]).unwrap_err(),
        FamiliarityError::TooFewCells { cells: 1 }
    );
    assert_eq!(
        FeatureProfile::fit(&[vec![1.0], vec![1.0, 2.0]], &[0, 1]).unwrap_err(),
        FamiliarityError::Ragged { first: 1, other: 2 }
    );
    assert_eq!(
        FeatureProfile::fit(&[vec![1.0, 1.0], vec![1.0, 1.0]], &[0, 0]).unwrap_err(),
        FamiliarityError::NoSpread
    );
}

#[test]
fn the_features_are_what_the_last_layer_reads_and_the_logits_are_unchanged() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/b-all-4-edge-s.lsm"
    ))
    .unwrap();
    let model = ModelArtifact::decode(&bytes, &TrustPolicy::any())
        .unwrap()
        .artifact;
    let engine = Engine::new(&model).unwrap();
    let options = FieldOptions {
        size: 96,
        ..FieldOptions::default()
    };
    let cells = crate::synthetic::synthetic_fields(2, 11, &options, &model.preprocess).unwrap();
    let with_features = engine_features_each(&engine, &cells);
    let plain = engine_logits_each(&engine, &cells);
    let graph = engine.graph();
    let last = graph.steps.last().unwrap();
    let [channels, height, width] = graph.values[last.inputs[0]];
    for (a, b) in with_features.iter().zip(&plain) {
        let (cell, (index, logits)) = (a.as_ref().unwrap(), b.as_ref().unwrap());
        assert_eq!((&cell.index, &cell.logits), (index, logits));
        let features = &cell.features;
        assert_eq!(features.len(), channels * height * width);
        assert!(features.len() > cell.logits.len());
        assert!(features.iter().any(|&v| v != 0.0));
    }
}
