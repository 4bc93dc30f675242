use leukoscope_core::synth::{SlideOptions, SyntheticSlide};

use super::*;

const GLASS: f32 = 240.0;

/// A frame of 4x4-pixel patches, each a mix `a * first + b * second` of two stains' unit
/// optical densities, `a` and `b` running from 0 to `max` across and down: every mix from
/// glass to each pure stain; below them, bare glass (a fifth of the frame, as on a smear,
/// so that the glass level is the glass's).
fn mixtures(first: [f32; 3], second: [f32; 3], max: f32) -> RgbImage {
    let (f, s) = (
        Vector3::from(first).normalize(),
        Vector3::from(second).normalize(),
    );
    let steps = 64;
    let side = steps * BLOCK;
    let glass = GLASS as u8;
    let mut image = RgbImage::filled(side, side + side / 4, [glass; 3]);
    for y in 0..side {
        for x in 0..side {
            let a = max * (x / BLOCK) as f32 / (steps - 1) as f32;
            let b = max * (y / BLOCK) as f32 / (steps - 1) as f32;
            let od = f * a + s * b;
            let rgb = od.map(|d| (GLASS * (-d).exp()).round().clamp(0.0, 255.0) as u8);
            image.put(x, y, [rgb.x, rgb.y, rgb.z]);
        }
    }
    image
}

fn degrees(a: [f32; 3], b: [f32; 3]) -> f32 {
    let (a, b) = (Vector3::from(a).normalize(), Vector3::from(b).normalize());
    a.dot(&b).clamp(-1.0, 1.0).acos().to_degrees()
}

#[test]
fn two_known_stains_are_found_and_told_apart() {
    // A Giemsa-like pair other than the defaults, 32 degrees apart; the nuclear stain 14
    // degrees off the default.
    let nucleus = [0.45, 0.85, 0.27];
    let counterstain = [0.30, 0.60, 0.74];
    let mut meter = StainMeter::new(&DetectorConfig::default());
    // Given in either order, the nuclear stain is the one nearer the default.
    meter.measure(&mixtures(counterstain, nucleus, 2.0));
    let found = meter.estimate().expect("two stains");
    assert!(
        degrees(found.nucleus, nucleus) < 2.0,
        "{found:?} against {nucleus:?}"
    );
    assert!(
        degrees(found.counterstain, counterstain) < 2.0,
        "{found:?} against {counterstain:?}"
    );
    let mut config = DetectorConfig::default();
    found.apply(&mut config);
    assert_eq!(config.nucleus_stain, found.nucleus);
    assert_eq!(config.counterstain, found.counterstain);
}

#[test]
fn glass_or_one_stain_alone_keeps_the_defaults() {
    let config = DetectorConfig::default();
    let mut meter = StainMeter::new(&config);
    meter.measure(&RgbImage::filled(320, 240, [240, 242, 245]));
    assert!(
        matches!(
            meter.estimate(),
            Err(StainError::TooFewStained { found: 0 })
        ),
        "{:?}",
        meter.estimate()
    );
    // Red cells of one colour at many depths: one direction, nothing to unmix.
    let mut meter = StainMeter::new(&config);
    meter.measure(&mixtures([0.30, 0.60, 0.74], [0.30, 0.60, 0.74], 2.0));
    assert!(
        matches!(meter.estimate(), Err(StainError::OneStain { .. })),
        "{:?}",
        meter.estimate()
    );
}

#[test]
fn a_stain_unlike_a_romanowsky_one_is_refused() {
    // Two stains that both absorb blue far more than chromatin under Giemsa does (about
    // 50 degrees off it): not what the detector's thresholds were set for.
    let mut meter = StainMeter::new(&DetectorConfig::default());
    meter.measure(&mixtures([0.80, 0.20, 0.57], [0.27, 0.57, 0.78], 2.0));
    assert!(
        matches!(meter.estimate(), Err(StainError::NotRomanowsky { .. })),
        "{:?}",
        meter.estimate()
    );
}

#[test]
fn a_synthetic_slide_gives_its_own_giemsa_stains() {
    let slide = SyntheticSlide::new(3, SlideOptions::default()).expect("a slide");
    let config = DetectorConfig::default();
    let mut meter = StainMeter::new(&config);
    for index in 0..4 {
        meter.measure(&slide.frame(index).expect("a frame").image);
    }
    let found = meter.estimate().expect("the slide's stains");
    let drift = degrees(found.nucleus, config.nucleus_stain);
    assert!(drift < 20.0, "{found:?}: {drift:.1} degrees off");
    assert!(
        degrees(found.nucleus, found.counterstain) > MIN_SEPARATION_DEG,
        "{found:?}"
    );
    // The detector takes them.
    let mut estimated = config;
    found.apply(&mut estimated);
    assert!(crate::scan::detect::CellDetector::new(estimated).is_ok());
}
