use leukoscope_core::artifact::TrustPolicy;
use leukoscope_core::familiarity::FamiliarityProfile;

use super::*;

fn demo() -> ModelArtifact {
    ModelArtifact::decode(
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/demo/synthetic-demo-int8.lsm"
        )),
        &TrustPolicy::any(),
    )
    .expect("demo model")
    .artifact
}

fn cell_at(x: f32, y: f32) -> DetectedCell {
    DetectedCell {
        centre: (x, y),
        bbox: [x as u32 - 5, y as u32 - 5, 10, 10],
        area_um2: 40.0,
        solidity: 0.9,
        density: 1.0,
        touches_border: false,
    }
}

#[test]
fn the_window_covers_what_the_model_saw_at_the_frames_scale() {
    let model = demo();
    let input = model.spec.input;
    let same = CellClassifier::new(&model, input.um_per_px, 1).expect("classifier");
    assert_eq!(same.window_side(), input.width);
    // Frames twice as fine (a stronger objective) need twice the pixels.
    let fine = CellClassifier::new(&model, input.um_per_px / 2.0, 1).expect("classifier");
    assert_eq!(fine.window_side(), input.width * 2);
    assert!(matches!(
        CellClassifier::new(&model, 0.0, 1),
        Err(ClassifyError::FrameScale(_))
    ));
    assert!(matches!(
        CellClassifier::new(&model, 1e-6, 1),
        Err(ClassifyError::WindowTooLarge { .. })
    ));
    let w = same.window_of(&cell_at(100.0, 60.0));
    assert_eq!(
        w,
        [
            100 - i64::from(input.width) / 2,
            60 - i64::from(input.width) / 2,
            96,
            96
        ]
    );
}

#[test]
fn windows_past_the_edge_repeat_the_edge_pixels() {
    let mut frame = RgbImage::filled(40, 30, [200, 200, 200]);
    for y in 0..30 {
        frame.put(0, y, [10, 20, 30]);
    }
    frame.put(39, 29, [1, 2, 3]);
    let mut out = vec![0; 10 * 10 * 3];
    cut(&frame, [-5, 25, 10, 10], &mut out);
    // Columns -5..=0 repeat column 0; rows past 29 repeat row 29.
    assert_eq!(&out[..3], &[10, 20, 30]);
    assert_eq!(&out[5 * 3..6 * 3], &[10, 20, 30]);
    assert_eq!(&out[6 * 3..7 * 3], &[200, 200, 200]);
    let last_row = &out[9 * 30..];
    assert_eq!(&last_row[..3], &[10, 20, 30]);
    let mut corner = vec![0; 4 * 4 * 3];
    cut(&frame, [38, 28, 4, 4], &mut corner);
    assert_eq!(&corner[corner.len() - 3..], &[1, 2, 3]);
}

#[test]
fn every_cell_gets_probabilities_even_at_the_frame_edge() {
    let model = demo();
    let mut classifier = CellClassifier::new(&model, 0.42, 2).expect("classifier");
    let frame = RgbImage::filled(300, 200, [220, 200, 210]);
    let cells = [
        cell_at(10.0, 10.0),
        cell_at(150.0, 100.0),
        cell_at(295.0, 195.0),
    ];
    let scores = classifier.classify(&frame, &cells).expect("classify");
    assert_eq!(scores.len(), 3);
    for s in &scores {
        let p = &s.probabilities;
        assert_eq!(p.len(), model.taxonomy.len());
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{p:?}");
        // The demo model has no familiarity profile.
        assert_eq!(s.distance, None);
    }
    assert!(classifier.classify(&frame, &[]).expect("none").is_empty());
}

#[cfg(not(feature = "cuda"))]
#[test]
fn a_gpu_asked_of_a_build_without_cuda_is_a_named_error() {
    let err = CellClassifier::on(&demo(), 0.42, 1, true)
        .err()
        .expect("refused");
    assert!(matches!(err, ClassifyError::NoGpuSupport));
    assert!(err.to_string().contains("--features cuda"), "{err}");
}

/// The demo model with a profile whose class centre is the origin and whose whitening is
/// the identity: a cell's distance is the length of its feature vector.
fn profiled(unfamiliar_above: f32) -> ModelArtifact {
    let mut model = demo();
    let d = Engine::new(&model).expect("engine").features_len();
    let mut whitening = Vec::new();
    for i in 0..d {
        whitening.extend(std::iter::repeat_n(0.0, i));
        whitening.push(1.0);
    }
    model.familiarity = Some(FamiliarityProfile {
        features: d as u32,
        whitening,
        centres: vec![0.0; d],
        unfamiliar_above,
    });
    model
}

/// Varied cells, some past the frame's edge, on a frame with something to see.
fn varied_frame_and_cells() -> (RgbImage, Vec<DetectedCell>) {
    let mut frame = RgbImage::filled(300, 200, [220, 200, 210]);
    for y in 0..200 {
        for x in 0..300 {
            if (x / 17 + y / 13) % 3 == 0 {
                frame.put(x, y, [90 + (x % 50) as u8, 40, 140 + (y % 60) as u8]);
            }
        }
    }
    let cells = (0..7)
        .map(|i| cell_at(10.0 + 45.0 * i as f32, 15.0 + 28.0 * i as f32))
        .collect();
    (frame, cells)
}

#[test]
fn a_profiled_model_gives_each_cell_its_distance_whatever_the_batching() {
    let (frame, cells) = varied_frame_and_cells();
    let plain = CellClassifier::new(&demo(), 0.42, 1)
        .expect("classifier")
        .classify(&frame, &cells)
        .expect("classify");
    let model = profiled(1e9);
    let mut one = CellClassifier::new(&model, 0.42, 1)
        .expect("classifier")
        .with_batch(1);
    assert!(one.familiarity().is_some());
    let reference = one.classify(&frame, &cells).expect("classify");
    for s in &reference {
        let d = s.distance.expect("measured");
        assert!(d.is_finite() && d > 0.0, "{d}");
    }
    // Cells differ, so their distances do.
    assert!(reference.windows(2).any(|w| w[0].distance != w[1].distance));
    // The features are read beside the logits: the probabilities are the model's own.
    for (a, b) in plain.iter().zip(&reference) {
        assert_eq!(a.probabilities, b.probabilities);
    }
    // Batches that split the cells unevenly, over threads, give each cell its own.
    for (batch, threads) in [(3, 2), (16, 3), (2, 1)] {
        let got = CellClassifier::new(&model, 0.42, threads)
            .expect("classifier")
            .with_batch(batch)
            .classify(&frame, &cells)
            .expect("classify");
        assert_eq!(got, reference, "batch {batch}, {threads} threads");
    }
}

#[test]
fn a_profile_that_does_not_fit_the_model_is_refused() {
    let mut model = profiled(10.0);
    if let Some(profile) = &mut model.familiarity {
        profile.features += 1;
    }
    assert!(matches!(
        CellClassifier::new(&model, 0.42, 1),
        Err(ClassifyError::Familiarity(_))
    ));
}
