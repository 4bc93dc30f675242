//! The unfamiliar-slide guard with a lab left out: a model profiled (by the trainer's
//! `familiarity`) on the cells of one lab's slides, its threshold set on another of that
//! lab's slides, reads a third slide of the same lab as ever, and ends a slide from a lab it
//! never saw (the same smear on another lab's glass and lamp) "review every cell by hand"
//! instead of the count it gives without the guard, through the whole edge pipeline.

use leukoscope_core::artifact::{ModelArtifact, TrustPolicy, VerifiedArtifact};
use leukoscope_core::engine::Engine;
use leukoscope_core::raster::RgbImage;
use leukoscope_core::synth::{SlideOptions, SyntheticSlide};
use leukoscope_edge::io::source::{Frame, FrameSource, Rate, SourceError, SyntheticSource};
use leukoscope_edge::records::journal::open_slide_journal;
use leukoscope_edge::records::layout::DataDir;
use leukoscope_edge::scan::classify::{CellClassifier, cut_window};
use leukoscope_edge::scan::detect::DetectedCell;
use leukoscope_edge::scan::pipeline::{Control, Resume, ScanSettings, SlideScanner};
use leukoscope_edge::scan::session::{SlideFlag, SlideSummary};
use leukoscope_trainer::familiarity::{FeatureProfile, threshold_flagging};

const FRAMES: u32 = 40;

fn demo_model() -> ModelArtifact {
    ModelArtifact::decode(
        include_bytes!("../../edge-runtime/demo/synthetic-demo-int8.lsm"),
        &TrustPolicy::any(),
    )
    .expect("the demo model verifies")
    .artifact
}

fn options() -> SlideOptions {
    SlideOptions {
        class_mix: [0.5, 0.2, 0.2, 0.1],
        ..SlideOptions::default()
    }
}

/// Another lab's look: the same smear on yellow-orange glass under a warmer lamp, as
/// Zheng dataset1's photos are (blue cut to two fifths, red lifted halfway to full). The
/// board still finds the cells; nothing the model learnt from looks like them.
fn other_stain(image: &mut RgbImage) {
    for px in image.as_raw_mut().chunks_exact_mut(3) {
        px[0] = 255 - (255 - px[0]) / 2;
        px[2] = (u32::from(px[2]) * 2 / 5) as u8;
    }
}

/// The features of every whole white cell of slide `seed`'s first frames, in a window cut
/// as the board cuts it, and each cell's class.
fn cell_features(model: &ModelArtifact, seed: u64) -> (Vec<Vec<f32>>, Vec<u32>) {
    let slide = SyntheticSlide::new(seed, options()).expect("slide");
    let side = CellClassifier::new(model, options().um_per_px, 1)
        .expect("classifier")
        .window_side();
    let engine = Engine::new(model).expect("engine");
    let mut workspace = engine.workspace();
    let (mut features, mut labels) = (Vec::new(), Vec::new());
    for i in 0..FRAMES {
        let frame = slide.frame(i).expect("frame");
        for cell in frame.cells.iter().filter(|c| c.fully_visible) {
            let b = cell.truth.bbox;
            let detected = DetectedCell {
                centre: (
                    b.x as f32 + b.width as f32 / 2.0,
                    b.y as f32 + b.height as f32 / 2.0,
                ),
                bbox: [b.x, b.y, b.width, b.height],
                area_um2: 0.0,
                solidity: 1.0,
                density: 1.0,
                touches_border: false,
            };
            let window = cut_window(&frame.image, &detected, side);
            let input = model
                .preprocess
                .run_to_vec(window.view())
                .expect("preprocess");
            let mut logits = vec![0.0; engine.classes()];
            engine.run(&mut workspace, &input, &mut logits);
            let mut f = vec![0.0; engine.features_len()];
            engine.features(&workspace, &mut f);
            features.push(f);
            labels.push(cell.truth.class);
        }
    }
    (features, labels)
}

/// The model through its file, as the board gets it.
fn as_the_board_reads_it(model: &ModelArtifact) -> VerifiedArtifact {
    ModelArtifact::decode(&model.encode().expect("encodes"), &TrustPolicy::any()).expect("decodes")
}

/// A slide's frames with each picture changed by `look`.
struct Restained<S> {
    inner: S,
    look: fn(&mut RgbImage),
}

impl<S: FrameSource> FrameSource for Restained<S> {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let frame = self.inner.next_frame()?;
        Ok(frame.map(|mut f| {
            (self.look)(&mut f.image);
            f
        }))
    }

    fn describe(&self) -> String {
        format!("{}, restained", self.inner.describe())
    }
}

/// Scans slide `seed` with `model` through the pipeline, its frames changed by `look`.
fn scan(model: &VerifiedArtifact, seed: u64, look: fn(&mut RgbImage)) -> SlideSummary {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, earlier, _) =
        open_slide_journal(&DataDir::new(dir.path()), "lab").expect("journal");
    let mut scanner = SlideScanner::new(
        "lab",
        model,
        ScanSettings::default(),
        journal,
        earlier,
        Resume::SkipDone,
    )
    .expect("scanner");
    let source = SyntheticSource::new(seed, options(), Rate::Unlimited)
        .expect("source")
        .frames(0..FRAMES);
    let mut source = Restained {
        inner: source,
        look,
    };
    scanner
        .scan(&mut source, |_, _| Control::Continue)
        .expect("scan");
    scanner.session().summary()
}

#[test]
fn a_lab_the_model_never_saw_ends_in_review_by_hand_and_its_own_lab_does_not() {
    let mut model = demo_model();
    let (features, labels) = cell_features(&model, 11);
    let profile = FeatureProfile::fit(&features, &labels).expect("profile");
    let (held_out, _) = cell_features(&model, 12);
    let distances: Vec<f32> = held_out.iter().map(|f| profile.distance(f)).collect();
    let threshold = threshold_flagging(&distances, 0.05).expect("threshold");
    model.familiarity = Some(profile.with_threshold(threshold));
    let guarded = as_the_board_reads_it(&model);

    let keep = |_: &mut RgbImage| {};
    let own = scan(&guarded, 13, keep);
    let read = own.unfamiliar + own.unidentified + own.classified;
    println!(
        "own lab: {} of {read} unfamiliar, flag {}",
        own.unfamiliar, own.flag
    );
    assert!(read >= 50, "{read} cells read");
    assert!(
        f64::from(own.unfamiliar) <= 0.15 * f64::from(read),
        "{} of {read} of the model's own lab unfamiliar",
        own.unfamiliar
    );
    assert!(
        !matches!(own.flag, SlideFlag::Unfamiliar { .. }),
        "{}",
        own.flag
    );

    let other = scan(&guarded, 13, other_stain);
    let read = other.unfamiliar + other.unidentified + other.classified;
    println!(
        "other lab: {} of {read} unfamiliar, flag {}",
        other.unfamiliar, other.flag
    );
    assert!(read >= 50, "{read} cells read");
    assert!(
        matches!(other.flag, SlideFlag::Unfamiliar { unfamiliar, .. } if unfamiliar > read / 2),
        "{}",
        other.flag
    );
    assert!(
        other
            .flag
            .to_string()
            .starts_with("these images do not look like the slides the model learnt from: review every cell by hand"),
        "{}",
        other.flag
    );
    // The same slide without the guard: a count, which is what the guard replaces.
    model.familiarity = None;
    let counted = scan(&as_the_board_reads_it(&model), 13, other_stain);
    println!("other lab, no guard: flag {}", counted.flag);
    assert_eq!(counted.unfamiliar, 0);
    assert!(
        !matches!(counted.flag, SlideFlag::Unfamiliar { .. }),
        "{}",
        counted.flag
    );
}
