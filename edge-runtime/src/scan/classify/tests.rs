use leukoscope_core::artifact::TrustPolicy;

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
    let probabilities = classifier.classify(&frame, &cells).expect("classify");
    assert_eq!(probabilities.len(), 3);
    for p in &probabilities {
        assert_eq!(p.len(), model.taxonomy.len());
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{p:?}");
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
