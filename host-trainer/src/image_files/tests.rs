use leukoscope_core::synth::{self, FieldOptions};

use super::*;

#[test]
fn files_are_read_augmented_repeatably_and_failures_named() {
    let dir = tempfile::tempdir().unwrap();
    let field = synth::field(2, 3, &FieldOptions::default()).unwrap().image;
    let good = dir.path().join("a.png");
    image::RgbImage::from_raw(field.width(), field.height(), field.as_raw().to_vec())
        .unwrap()
        .save(&good)
        .unwrap();
    let bad = dir.path().join("b.png");
    std::fs::write(&bad, b"not a png").unwrap();
    let plain = ImageFiles::new(
        [(good.clone(), 2), (bad.clone(), 1)],
        Preprocess::field(64, 64),
        None,
    );
    assert_eq!(plain.input_shape(), [3, 64, 64]);
    let x = plain.input(0, 0, 0).unwrap();
    assert_eq!(
        x,
        Preprocess::field(64, 64).run_to_vec(field.view()).unwrap()
    );
    assert!(plain.input(1, 0, 0).unwrap_err().contains("b.png"));

    let augmented = ImageFiles::new(
        [(good, 2)],
        Preprocess::field(64, 64),
        Some(Augment::default_recipe()),
    );
    assert_eq!(
        augmented.input(0, 1, 9).unwrap(),
        augmented.input(0, 1, 9).unwrap()
    );
    assert_ne!(
        augmented.input(0, 1, 9).unwrap(),
        augmented.input(0, 2, 9).unwrap()
    );
    assert_ne!(augmented.input(0, 1, 9).unwrap(), x);
}
