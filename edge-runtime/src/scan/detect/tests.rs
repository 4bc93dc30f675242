use super::*;
use leukoscope_core::synth::{Defect, SlideFrame, SlideOptions, SyntheticSlide};

/// Detections and truths of one frame, matched one to one, nearest first.
#[derive(Debug, Default)]
struct Score {
    /// Fully visible cells, and how many of them were found.
    whole: usize,
    found: usize,
    /// Detections, and how many lie on some cell of the frame.
    detections: usize,
    true_positives: usize,
    /// Detections left over inside a cell another detection already stands for.
    twice: usize,
}

impl Score {
    fn add(&mut self, other: &Score) {
        self.whole += other.whole;
        self.found += other.found;
        self.detections += other.detections;
        self.true_positives += other.true_positives;
        self.twice += other.twice;
    }

    fn recall(&self) -> f64 {
        self.found as f64 / self.whole.max(1) as f64
    }

    fn precision(&self) -> f64 {
        self.true_positives as f64 / self.detections.max(1) as f64
    }
}

/// A detection belongs to a cell when its centre lies within the cell's radius of the
/// cell's centre (the nucleus may sit off centre, never outside the cell).
fn score(frame: &SlideFrame, cells: &[DetectedCell]) -> Score {
    let mut pairs = Vec::new();
    for (t, truth) in frame.cells.iter().enumerate() {
        let b = truth.truth.bbox;
        let radius = 0.5 * b.width.max(b.height) as f32;
        for (d, cell) in cells.iter().enumerate() {
            let dx = cell.centre.0 - truth.truth.center[0];
            let dy = cell.centre.1 - truth.truth.center[1];
            let dist = (dx * dx + dy * dy).sqrt();
            if dist <= radius {
                pairs.push((dist, t, d));
            }
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut truth_used = vec![false; frame.cells.len()];
    let mut cell_used = vec![false; cells.len()];
    for &(_, t, d) in &pairs {
        if !truth_used[t] && !cell_used[d] {
            truth_used[t] = true;
            cell_used[d] = true;
        }
    }
    let whole: Vec<usize> = (0..frame.cells.len())
        .filter(|&t| frame.cells[t].fully_visible)
        .collect();
    Score {
        whole: whole.len(),
        found: whole.iter().filter(|&&t| truth_used[t]).count(),
        detections: cells.len(),
        true_positives: cell_used.iter().filter(|&&u| u).count(),
        twice: (0..cells.len())
            .filter(|&d| !cell_used[d] && pairs.iter().any(|p| p.2 == d))
            .count(),
    }
}

fn slide(seed: u64) -> SyntheticSlide {
    let options = SlideOptions {
        world_width: 4200,
        world_height: 2400,
        white_cells_per_frame: 14.0,
        ..SlideOptions::default()
    };
    SyntheticSlide::new(seed, options).expect("valid slide options")
}

const GLASS: [u8; 3] = [250, 250, 252];
const NUCLEUS: [u8; 3] = [112, 70, 232];
const RED_CELL: [u8; 3] = [190, 186, 218];

/// A disc of `rgb` on `image`, optical densities multiplying as on glass.
fn disc(image: &mut RgbImage, centre: (f32, f32), radius: f32, rgb: [u8; 3]) {
    for y in 0..image.height() {
        for x in 0..image.width() {
            let (dx, dy) = (x as f32 + 0.5 - centre.0, y as f32 + 0.5 - centre.1);
            if dx * dx + dy * dy <= radius * radius {
                let old = image.get(x, y).unwrap_or(GLASS);
                let mut px = [0u8; 3];
                for c in 0..3 {
                    let t = f32::from(rgb[c]) / f32::from(GLASS[c]);
                    px[c] = (f32::from(old[c]) * t).round() as u8;
                }
                image.put(x, y, px);
            }
        }
    }
}

fn detector() -> CellDetector {
    CellDetector::new(DetectorConfig::default()).expect("defaults are valid")
}

#[test]
fn glass_alone_has_no_cells() {
    let frame = RgbImage::filled(640, 480, GLASS);
    assert!(detector().detect(&frame).is_empty());
}

#[test]
fn a_round_nucleus_is_one_cell_of_its_area() {
    let mut frame = RgbImage::filled(320, 240, GLASS);
    disc(&mut frame, (150.0, 110.0), 20.0, NUCLEUS);
    let cells = detector().detect(&frame);
    assert_eq!(cells.len(), 1, "{cells:?}");
    let cell = cells[0];
    let area = std::f32::consts::PI * 20.0 * 20.0 * 0.42 * 0.42;
    assert!(
        (cell.area_um2 / area - 1.0).abs() < 0.15,
        "{cell:?} vs {area}"
    );
    assert!((cell.centre.0 - 150.0).abs() < 2.0 && (cell.centre.1 - 110.0).abs() < 2.0);
    assert!(cell.solidity > 0.85, "{cell:?}");
    assert!(cell.density > 1.0, "{cell:?}");
    assert!(!cell.touches_border);
    let [x, y, w, h] = cell.bbox;
    // Blocks of 3 pixels, half covered at the rim, may fall either way.
    assert!(
        x <= 134 && y <= 94 && x + w >= 166 && y + h >= 126,
        "{cell:?}"
    );
}

#[test]
fn touching_nuclei_are_split() {
    let mut frame = RgbImage::filled(320, 240, GLASS);
    // Overlapping by 5 pixels: one blob in the mask, with a neck.
    disc(&mut frame, (130.0, 120.0), 15.0, NUCLEUS);
    disc(&mut frame, (155.0, 120.0), 15.0, NUCLEUS);
    let mut cells = detector().detect(&frame);
    assert_eq!(cells.len(), 2, "{cells:?}");
    cells.sort_by(|a, b| a.centre.0.total_cmp(&b.centre.0));
    assert!((cells[0].centre.0 - 130.0).abs() < 3.0, "{cells:?}");
    assert!((cells[1].centre.0 - 155.0).abs() < 3.0, "{cells:?}");
}

#[test]
fn a_cleft_nucleus_stays_whole() {
    let mut frame = RgbImage::filled(320, 240, GLASS);
    disc(&mut frame, (160.0, 120.0), 20.0, NUCLEUS);
    // A cleft 4 pixels wide, half the radius deep, from the right.
    for y in 118..122 {
        for x in 170..181 {
            frame.put(x, y, GLASS);
        }
    }
    let cells = detector().detect(&frame);
    assert_eq!(cells.len(), 1, "{cells:?}");
}

#[test]
fn platelets_and_red_cells_are_not_white_cells() {
    let mut frame = RgbImage::filled(480, 320, GLASS);
    for i in 0..8 {
        let x = 30.0 + 50.0 * i as f32;
        disc(&mut frame, (x, 40.0), 1.8, NUCLEUS);
        disc(&mut frame, (x, 120.0), 9.0, RED_CELL);
        // Overlapping pairs darken where they overlap, as on a thick smear.
        disc(&mut frame, (x, 200.0), 9.0, RED_CELL);
        disc(&mut frame, (x + 8.0, 206.0), 9.0, RED_CELL);
    }
    let cells = detector().detect(&frame);
    assert!(cells.is_empty(), "{cells:?}");
}

/// A detector for a 100x oil frame, 0.1 micrometres per pixel.
fn detector_at_100x() -> CellDetector {
    CellDetector::new(DetectorConfig {
        um_per_px: 0.1,
        ..DetectorConfig::default()
    })
    .expect("valid settings")
}

#[test]
fn the_lobes_of_a_neutrophil_are_one_cell() {
    // Three lobes 4 um across in an arc, 1.2 um apart (too far for the mask to join
    // them): at 100x, as in the BCD frames where each lobe was counted as a cell.
    let mut frame = RgbImage::filled(480, 400, GLASS);
    for k in 0..3 {
        let a = 0.6 * k as f32;
        disc(
            &mut frame,
            (160.0 + 88.0 * a.cos(), 120.0 + 88.0 * a.sin()),
            20.0,
            NUCLEUS,
        );
    }
    let cells = detector_at_100x().detect(&frame);
    assert_eq!(cells.len(), 1, "{cells:?}");
    assert!(
        cells[0].area_um2 > 2.0 * 12.6,
        "more than one lobe: {cells:?}"
    );
    // Two lymphocytes whose nuclei touch stay two cells.
    let mut frame = RgbImage::filled(480, 400, GLASS);
    disc(&mut frame, (200.0, 200.0), 35.0, NUCLEUS);
    disc(&mut frame, (271.0, 200.0), 35.0, NUCLEUS);
    assert_eq!(detector_at_100x().detect(&frame).len(), 2);
}

/// Pale cytoplasm: stained, with little of the nuclear stain.
const CYTOPLASM: [u8; 3] = [236, 200, 206];

#[test]
fn an_eosinophils_two_lobes_are_one_cell_and_two_lymphocytes_stay_two() {
    // Two lobes of 38 um^2, 0.4 um apart, in one cell body 19 um across, at 100x: as
    // big and round as a lymphocyte's nucleus each, as on raabin's eosinophils.
    let mut frame = RgbImage::filled(480, 400, GLASS);
    disc(&mut frame, (240.0, 200.0), 95.0, CYTOPLASM);
    disc(&mut frame, (203.0, 200.0), 35.0, NUCLEUS);
    disc(&mut frame, (277.0, 200.0), 35.0, NUCLEUS);
    let cells = detector_at_100x().detect(&frame);
    assert_eq!(cells.len(), 1, "{cells:?}");
    assert!(cells[0].area_um2 > 60.0, "both lobes: {cells:?}");
    // Two lymphocytes with the same nuclei 1.6 um apart, each in a rim of 0.8 um.
    let mut frame = RgbImage::filled(480, 400, GLASS);
    for x in [197.0, 283.0] {
        disc(&mut frame, (x, 200.0), 43.0, CYTOPLASM);
        disc(&mut frame, (x, 200.0), 35.0, NUCLEUS);
    }
    let cells = detector_at_100x().detect(&frame);
    assert_eq!(cells.len(), 2, "{cells:?}");
}

#[test]
fn a_clump_of_platelets_is_not_a_cell() {
    // Platelets 2.4 um across, 1.5 um apart: together as big as a small nucleus, but
    // scattered, they leave their joint hull mostly empty.
    let mut frame = RgbImage::filled(480, 400, GLASS);
    for (dx, dy) in [
        (0.0, 0.0),
        (40.0, 5.0),
        (10.0, 40.0),
        (50.0, 45.0),
        (-30.0, 30.0),
    ] {
        disc(&mut frame, (240.0 + dx, 180.0 + dy), 12.0, NUCLEUS);
    }
    let cells = detector_at_100x().detect(&frame);
    assert!(cells.is_empty(), "{cells:?}");
}

#[test]
fn a_nucleus_cut_by_the_edge_says_so() {
    let mut frame = RgbImage::filled(320, 240, GLASS);
    disc(&mut frame, (8.0, 120.0), 18.0, NUCLEUS);
    disc(&mut frame, (200.0, 120.0), 18.0, NUCLEUS);
    let mut cells = detector().detect(&frame);
    cells.sort_by(|a, b| a.centre.0.total_cmp(&b.centre.0));
    assert_eq!(cells.len(), 2, "{cells:?}");
    assert!(
        cells[0].touches_border && !cells[1].touches_border,
        "{cells:?}"
    );
}

#[test]
fn bad_settings_are_named() {
    let key = |config: DetectorConfig| match CellDetector::new(config) {
        Err(DetectError::BadSetting { key, .. }) => key,
        Err(DetectError::Stains { .. }) => "stains",
        Ok(_) => "accepted",
    };
    let d = DetectorConfig::default();
    assert_eq!(key(d), "accepted");
    let cases = [
        (
            DetectorConfig {
                um_per_px: -1.0,
                ..d
            },
            "um_per_px",
        ),
        (
            DetectorConfig {
                mask_um_per_px: f32::NAN,
                ..d
            },
            "mask_um_per_px",
        ),
        (
            DetectorConfig {
                glass_percentile: 20.0,
                ..d
            },
            "glass_percentile",
        ),
        (
            DetectorConfig {
                max_nucleus_um2: 5.0,
                ..d
            },
            "max_nucleus_um2",
        ),
        (
            DetectorConfig {
                min_solidity: 1.5,
                ..d
            },
            "min_solidity",
        ),
        (
            DetectorConfig {
                nucleus_stain: [0.0; 3],
                ..d
            },
            "stains",
        ),
        (
            DetectorConfig {
                counterstain: [1.1, 1.66, 0.12],
                ..d
            },
            "stains",
        ),
        (
            DetectorConfig {
                nucleus_stain: [f32::INFINITY, 0.0, 0.0],
                ..d
            },
            "stains",
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(key(config), expected, "{config:?}");
    }
    let parsed: DetectorConfig =
        serde_json::from_str(r#"{"um_per_px": 0.25, "min_nucleus_um2": 20}"#).expect("partial");
    assert_eq!(parsed.um_per_px, 0.25);
    assert_eq!(parsed.max_nucleus_um2, d.max_nucleus_um2);
    assert!(serde_json::from_str::<DetectorConfig>(r#"{"scale": 1}"#).is_err());
    // The shrink factor follows the scale: about 1.25 um per mask pixel.
    let fine = CellDetector::new(DetectorConfig {
        um_per_px: 0.21,
        ..d
    })
    .expect("valid");
    assert_eq!(fine.shrink_factor(), 6);
    assert_eq!(detector().shrink_factor(), 3);
}

/// One full-HD frame per seed, under red-cell crowding `crowding` and with `defect`.
fn score_frames(
    detector: &mut CellDetector,
    seeds: std::ops::Range<u64>,
    crowding: f32,
    defect: Option<Defect>,
) -> Score {
    let mut total = Score::default();
    for seed in seeds {
        let options = SlideOptions {
            world_width: 1920,
            world_height: 1080,
            white_cells_per_frame: 16.0,
            red_cell_crowding: crowding,
            defects: defect.map(|d| vec![(0, d)]).unwrap_or_default(),
            ..SlideOptions::default()
        };
        let slide = SyntheticSlide::new(seed, options).expect("valid slide options");
        let frame = slide.frame(0).expect("frame 0");
        total.add(&score(&frame, &detector.detect(&frame.image)));
    }
    total
}

#[test]
fn holds_up_across_stains_crowding_and_slight_blur() {
    let mut detector = detector();
    let conditions = [
        ("thin smear", 0.3, None),
        ("thick smear", 1.6, None),
        ("slight blur", 0.8, Some(Defect::Defocus(2))),
    ];
    for (name, crowding, defect) in conditions {
        let s = score_frames(&mut detector, 100..110, crowding, defect);
        eprintln!(
            "{name}: recall {:.3} precision {:.3} {s:?}",
            s.recall(),
            s.precision()
        );
        assert!(s.recall() >= 0.95 && s.precision() >= 0.95, "{name}: {s:?}");
    }
    // Overexposed frames (which the quality gate turns away) lose pale nuclei, but
    // what is found is still a cell.
    let s = score_frames(&mut detector, 100..110, 0.8, Some(Defect::Overexposed));
    eprintln!(
        "overexposed: recall {:.3} precision {:.3}",
        s.recall(),
        s.precision()
    );
    assert!(s.precision() >= 0.95, "overexposed: {s:?}");
}

#[test]
fn finds_white_cells_on_synthetic_slides() {
    let mut detector = CellDetector::new(DetectorConfig::default()).expect("defaults");
    let mut total = Score::default();
    for seed in 0..6u64 {
        let slide = slide(seed);
        for index in (0..slide.frame_count()).step_by(3) {
            let frame = slide.frame(index).expect("frame in range");
            let cells = detector.detect(&frame.image);
            let s = score(&frame, &cells);
            eprintln!(
                "seed {seed} frame {index}: {s:?} stats {:?}",
                detector.last_stats()
            );
            total.add(&s);
        }
    }
    eprintln!(
        "recall {:.3} precision {:.3} {total:?}",
        total.recall(),
        total.precision()
    );
    assert!(total.whole >= 150, "too few cells to judge: {total:?}");
    assert!(total.recall() >= 0.95, "recall {:.3}", total.recall());
    assert!(
        total.precision() >= 0.95,
        "precision {:.3}",
        total.precision()
    );
}

#[test]
fn finds_white_cells_at_every_magnification() {
    // The same kind of slide through a 100x oil objective on a full-HD camera (0.05 to
    // 0.1 um per pixel), a 40x (0.2 to 0.42) and a 20x (0.6): nuclei from about 30 to 300
    // pixels across.
    for um_per_px in [0.05, 0.1, 0.2, 0.42, 0.6] {
        let mut detector = CellDetector::new(DetectorConfig {
            um_per_px,
            ..DetectorConfig::default()
        })
        .expect("a valid scale");
        let mut total = Score::default();
        for seed in 0..8u64 {
            let options = SlideOptions {
                um_per_px,
                world_width: 2600,
                world_height: 1600,
                white_cells_per_frame: 12.0,
                ..SlideOptions::default()
            };
            let slide = SyntheticSlide::new(seed, options).expect("valid slide options");
            let frame = slide.frame(0).expect("frame 0");
            total.add(&score(&frame, &detector.detect(&frame.image)));
        }
        eprintln!(
            "{um_per_px} um/px: recall {:.3} precision {:.3} {total:?}",
            total.recall(),
            total.precision()
        );
        assert!(total.whole >= 15, "{um_per_px}: {total:?}");
        assert!(
            total.recall() >= 0.97 && total.precision() >= 0.97,
            "{um_per_px}: {total:?}"
        );
        assert_eq!(total.twice, 0, "{um_per_px}: {total:?}");
    }
}
