use super::*;
use crate::metrics::evaluate;

/// Deterministic, plausible 4-class outputs: each image's true class gets a logit boost
/// whose size varies, so some images are confidently right and some wrong.
pub(crate) fn four_class_outputs(n: usize) -> (Vec<Vec<f32>>, Vec<u32>) {
    let mut state = 0x2545_f491u64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut probabilities = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        // Class sizes 1 : 2 : 2 : 1.5, roughly as in the public 4-class data.
        let label = [0, 1, 1, 2, 2, 3, 3][i % 7] as u32;
        let boost = [2.2, 2.8, 3.2, 3.8][label as usize] * uniform() + 0.6;
        let logits: Vec<f64> = (0..4)
            .map(|k| {
                let neighbour = if k as u32 == label + 1 || k as u32 + 1 == label {
                    0.8
                } else {
                    0.0
                };
                uniform() * 1.5
                    + neighbour * uniform()
                    + if k as u32 == label { boost } else { 0.0 }
            })
            .collect();
        let top = logits.iter().cloned().fold(f64::MIN, f64::max);
        let exp: Vec<f64> = logits.iter().map(|l| (l - top).exp()).collect();
        let sum: f64 = exp.iter().sum();
        probabilities.push(exp.iter().map(|e| (e / sum) as f32).collect());
        labels.push(label);
    }
    (probabilities, labels)
}

fn decode(path: &Path) -> image::DynamicImage {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).unwrap()
}

/// Fraction of pixels that are not white: a blank canvas means nothing was drawn.
fn ink(image: &image::DynamicImage) -> f64 {
    let rgb = image.to_rgb8();
    let inked = rgb.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    inked as f64 / (rgb.width() * rgb.height()) as f64
}

/// Where the sample plots go: `LEUKOSCOPE_PLOT_DIR` to keep them for a look, otherwise
/// a temporary folder.
fn plot_dir() -> (Option<tempfile::TempDir>, std::path::PathBuf) {
    match std::env::var_os("LEUKOSCOPE_PLOT_DIR") {
        Some(dir) => (None, dir.into()),
        None => {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().to_owned();
            (Some(tmp), path)
        }
    }
}

#[test]
fn plots_are_valid_pngs() {
    let (_keep, dir) = plot_dir();
    let four = Taxonomy::b_all_4();
    let (p, l) = four_class_outputs(700);
    let evaluation = evaluate(&p, &l, &four, 0).unwrap();

    plot_curves(&dir.join("curves.png"), &super::super::tests::records()).unwrap();
    plot_confusion(&dir.join("confusion.png"), &evaluation).unwrap();
    plot_roc(&dir.join("roc.png"), &p, &l, &four).unwrap();
    let binary = Taxonomy::all_binary();
    let (bp, bl) = crate::metrics::coarsen(&p, &l, &four, &binary).unwrap();
    let binary_evaluation = evaluate(&bp, &bl, &binary, 0).unwrap();
    plot_confusion(&dir.join("confusion-binary.png"), &binary_evaluation).unwrap();
    plot_roc(&dir.join("roc-binary.png"), &bp, &bl, &binary).unwrap();

    for (name, size) in [
        ("curves.png", (1400, 560)),
        ("confusion.png", (1100, 900)),
        ("roc.png", (1000, 900)),
        ("confusion-binary.png", (1100, 900)),
        ("roc-binary.png", (1000, 900)),
    ] {
        let image = decode(&dir.join(name));
        assert_eq!((image.width(), image.height()), size, "{name}");
        assert!(ink(&image) > 0.02, "{name} is nearly blank");
    }
}

#[test]
fn degenerate_inputs_still_plot_or_say_why() {
    let (_keep, dir) = plot_dir();
    let dir = dir.join("degenerate");
    // One epoch, with a diverged validation loss.
    let mut one = super::super::tests::records()[..1].to_vec();
    one[0].valid_loss = f64::NAN;
    plot_curves(&dir.join("one.png"), &one).unwrap();
    decode(&dir.join("one.png"));
    assert!(matches!(
        plot_curves(&dir.join("none.png"), &[]),
        Err(ReportError::Empty { .. })
    ));

    // A class with no images: its ROC curve is missing but the plot is drawn.
    let four = Taxonomy::b_all_4();
    let p = vec![vec![0.7, 0.1, 0.1, 0.1], vec![0.1, 0.7, 0.1, 0.1]];
    plot_roc(&dir.join("roc.png"), &p, &[0, 1], &four).unwrap();
    decode(&dir.join("roc.png"));
    assert!(matches!(
        plot_roc(&dir.join("bad.png"), &p, &[0, 9], &four),
        Err(ReportError::Metrics(_))
    ));
    let mut e = evaluate(&p, &[0, 1], &four, 0).unwrap();
    plot_confusion(&dir.join("sparse.png"), &e).unwrap();
    e.confusion.pop();
    assert!(matches!(
        plot_confusion(&dir.join("broken.png"), &e),
        Err(ReportError::Empty { .. })
    ));
}
