use leukoscope_core::synth::{SlideOptions, SyntheticSlide};

use super::*;

/// The first `frames` frames of a synthetic slide at `um_per_px`, 1280 x 960 each, side by
/// side, so no red cell is measured twice.
fn synthetic_frames(um_per_px: f32, frames: u32) -> Vec<RgbImage> {
    let options = SlideOptions {
        um_per_px,
        world_width: 7680,
        world_height: 3840,
        step_fraction: 1.0,
        frame_width: 1280,
        frame_height: 960,
        white_cells_per_frame: 1.0,
        ..SlideOptions::default()
    };
    let slide = SyntheticSlide::new(3, options).expect("valid slide options");
    (0..frames)
        .map(|i| slide.frame(i).expect("frame in range").image)
        .collect()
}

fn measured(frames: &[RgbImage]) -> SlideScale {
    let mut meter = RedCellMeter::new();
    for f in frames {
        meter.measure(f);
    }
    meter.scale().expect("enough red cells")
}

#[test]
fn the_scale_of_synthetic_slides_is_found_at_every_magnification() {
    // From 100x oil on a full-HD camera (0.05) to a 20x objective (0.6): the synthetic red
    // cells are 7.56 um across on average, edge to edge. Measured: +4.4 % at 0.05, +1.9,
    // +2.0, +1.7, -0.5, -0.7 and -3.2 % at 0.6.
    for um_per_px in [0.05, 0.08, 0.12, 0.2, 0.3, 0.42, 0.6] {
        let scale = measured(&synthetic_frames(um_per_px, 24));
        let ratio = scale.um_per_px / um_per_px;
        assert!(scale.red_cells >= 20, "{um_per_px}: {scale:?}");
        assert!(
            scale.uncertainty > 0.03 && scale.uncertainty < 0.05,
            "{um_per_px}: {scale:?}"
        );
        assert!(
            (ratio - 1.0).abs() < 0.05,
            "{um_per_px}: read {ratio} of the true scale ({scale:?})"
        );
    }
}

#[test]
fn real_red_cells_are_measured_as_big_as_their_boxes() {
    // Each red cell measured in the committed frames of two labs, against the box drawn
    // around it (`fixtures/txl-pbc/boxes.csv`): the boxes sit a little outside the cell
    // (over all 219 bcd and 500 raabin frames, the slides' diameters come to 0.95 and 0.93 of
    // the boxes').
    let boxes_csv =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/txl-pbc/boxes.csv");
    let boxes = crate::bench::scoring::read_boxes(
        std::fs::File::open(boxes_csv).expect("the fixture's boxes"),
    )
    .expect("a valid box file");
    let (mut ratios, mut strays) = (Vec::new(), 0);
    for lab in ["bcd", "raabin"] {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/txl-pbc")
            .join(lab);
        let mut names: Vec<_> = std::fs::read_dir(&folder)
            .expect("the fixture folder")
            .map(|e| e.expect("a fixture").file_name())
            .collect();
        names.sort();
        let mut meter = RedCellMeter::new();
        for name in names {
            let frame = leukoscope_core::files::load_rgb(&folder.join(&name)).expect("a frame");
            meter.measure(&frame);
            let red = &boxes[name.to_str().expect("a plain name")].red;
            for cell in meter.last_frame() {
                let (x, y) = cell.centre;
                let Some(around) = red
                    .iter()
                    .find(|b| (b.x0..=b.x1).contains(&x) && (b.y0..=b.y1).contains(&y))
                else {
                    // A platelet or a speck passed as a small red cell: the slide's
                    // trimmed median leaves such outliers out.
                    strays += 1;
                    continue;
                };
                let boxed = ((around.x1 - around.x0) * (around.y1 - around.y0)).sqrt();
                ratios.push(cell.diameter / boxed);
            }
        }
        // Six frames hold too few whole single red cells for a slide's scale.
        assert!(matches!(
            meter.scale(),
            Err(ScaleError::TooFewRedCells { found }) if found < MIN_RED_CELLS
        ));
    }
    assert!(
        ratios.len() >= 6 && strays < ratios.len(),
        "{strays} strays, {ratios:?}"
    );
    let typical = median(&mut ratios.clone());
    assert!(typical > 0.88 && typical < 1.0, "{typical}: {ratios:?}");
}

#[test]
fn glass_alone_or_a_tiny_frame_has_no_red_cells() {
    let mut meter = RedCellMeter::new();
    assert_eq!(
        meter.measure(&RgbImage::filled(640, 480, [230, 225, 235])),
        0
    );
    assert_eq!(meter.measure(&RgbImage::filled(3, 3, [10, 10, 10])), 0);
    assert_eq!(meter.measure(&RgbImage::filled(0, 0, [10, 10, 10])), 0);
    assert_eq!(meter.scale(), Err(ScaleError::TooFewRedCells { found: 0 }));
}

#[test]
fn a_scale_setting_is_auto_or_a_sane_number() {
    assert_eq!("auto".parse(), Ok(ScaleSetting::Auto));
    assert_eq!("AUTO".parse(), Ok(ScaleSetting::Auto));
    assert_eq!("0.1".parse(), Ok(ScaleSetting::Given(0.1)));
    for bad in ["1e30", "0", "-0.2", "NaN", "inf", "wide", ""] {
        let error = bad.parse::<ScaleSetting>().expect_err(bad);
        assert!(error.contains("neither `auto`"), "{bad}: {error}");
    }
    let long = "9".repeat(3000);
    assert!(long.parse::<ScaleSetting>().expect_err("huge").len() < 200);
}
