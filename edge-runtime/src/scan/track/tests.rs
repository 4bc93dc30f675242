use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::scan::detect::{CellDetector, DetectorConfig};
use leukoscope_core::synth::{SlideFrame, SlideOptions, SyntheticSlide};

fn slide(seed: u64, step_fraction: f32) -> SyntheticSlide {
    let options = SlideOptions {
        world_width: 4200,
        world_height: 2400,
        step_fraction,
        white_cells_per_frame: 12.0,
        ..SlideOptions::default()
    };
    SyntheticSlide::new(seed, options).expect("valid slide options")
}

/// The id of the cell of `frame` whose centre lies nearest `centre`, within its radius.
fn truth_at(frame: &SlideFrame, centre: (f32, f32)) -> Option<u32> {
    frame
        .cells
        .iter()
        .filter_map(|c| {
            let b = c.truth.bbox;
            let radius = 0.5 * b.width.max(b.height) as f32;
            let dx = centre.0 - c.truth.center[0];
            let dy = centre.1 - c.truth.center[1];
            let d = (dx * dx + dy * dy).sqrt();
            (d <= radius).then_some((d, c.truth.id))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, id)| id)
}

#[test]
fn registration_follows_the_stage() {
    // 0.57 of a frame is 1094 x 615 pixels: not whole blocks of the shrunk copy.
    for (seed, step) in [(11, 0.6), (12, 0.57), (13, 0.33)] {
        let slide = slide(seed, step);
        let mut tracker = CellTracker::new(TrackerConfig::default()).expect("defaults");
        let start = slide.stage(0).expect("first frame");
        let (mut worst, mut worst_step, mut lowest) = (0.0f64, 0.0f64, 1.0f32);
        let mut before = (0.0, 0.0);
        for index in 0..slide.frame_count() {
            let frame = slide.frame(index).expect("frame in range");
            tracker.observe(&frame.image, &[]);
            let r = tracker.last_registration().expect("registered");
            assert!(
                r.registered,
                "seed {seed} frame {index} not registered: {r:?}"
            );
            let (ox, oy) = tracker.frame_origin();
            let truth = (
                f64::from(frame.stage[0] - start[0]),
                f64::from(frame.stage[1] - start[1]),
            );
            let error = (ox - truth.0).hypot(oy - truth.1);
            let step_error =
                (r.motion.0 - (truth.0 - before.0)).hypot(r.motion.1 - (truth.1 - before.1));
            before = truth;
            worst = worst.max(error);
            worst_step = worst_step.max(step_error);
            if index > 0 {
                lowest = lowest.min(r.correlation);
            }
        }
        eprintln!(
            "seed {seed} step {step}: {} frames, worst step error {worst_step:.2} px, \
             worst accumulated {worst:.2} px, lowest correlation {lowest:.3}",
            slide.frame_count()
        );
        assert_eq!(tracker.segment(), 0);
        assert!(worst_step < 0.5, "registration error {worst_step:.2} px");
        assert!(worst < 1.5, "accumulated registration error {worst:.2} px");
    }
}

/// What a scan of `slide` counted against its truth.
struct ScanCount {
    /// Cells whole in some frame.
    whole: usize,
    /// Of those, cells whole with room to spare in some frame: the margin the tracker asks
    /// of a nucleus, around the whole cell. Cells at the edge of the synthetic world may be
    /// neither (a real scan has no such edge).
    countable: usize,
    /// Distinct cells counted.
    distinct: usize,
    /// Counts after the first of the same cell.
    double: u32,
    /// Counted cells that are no cell.
    false_cells: usize,
    /// Countable cells never counted.
    missed: usize,
    /// Cells given back as partial (never seen whole).
    partial: usize,
    /// Partial cells that were also counted whole: counted twice.
    partial_and_counted: usize,
}

/// Scans every frame of `slide` through `detector` and `tracker`, matching each newly
/// counted cell to the slide's truth.
fn count_scan(
    slide: &SyntheticSlide,
    detector: &mut CellDetector,
    tracker: &mut CellTracker,
) -> ScanCount {
    let margin = (tracker.config().border_margin_um / tracker.config().um_per_px).ceil() as u32;
    let (fw, fh) = (slide.options().frame_width, slide.options().frame_height);
    let (mut whole, mut countable) = (BTreeSet::new(), BTreeSet::new());
    let mut counted: BTreeMap<u32, u32> = BTreeMap::new();
    let mut false_cells = 0;
    let mut partial = Vec::new();
    for index in 0..slide.frame_count() {
        let frame = slide.frame(index).expect("frame in range");
        for c in frame.cells.iter().filter(|c| c.fully_visible) {
            whole.insert(c.truth.id);
            let b = c.truth.bbox;
            if b.x >= margin
                && b.y >= margin
                && b.x + b.width + margin <= fw
                && b.y + b.height + margin <= fh
            {
                countable.insert(c.truth.id);
            }
        }
        let cells = detector.detect(&frame.image);
        for new in tracker.observe(&frame.image, &cells) {
            match truth_at(&frame, new.cell.centre) {
                Some(id) => *counted.entry(id).or_default() += 1,
                None => false_cells += 1,
            }
        }
        partial.extend(tracker.take_partial());
    }
    tracker.end_slide();
    partial.extend(tracker.take_partial());
    // A partial cell is named by the frame that showed most of it; every frame of the
    // scan went to the tracker, so its sighting number is that frame's index.
    let partial_and_counted = partial
        .iter()
        .filter(|cut| {
            let frame = slide.frame(cut.sighting as u32).expect("a scanned frame");
            truth_at(&frame, cut.cell.centre).is_some_and(|id| counted.contains_key(&id))
        })
        .count();
    ScanCount {
        partial: partial.len(),
        partial_and_counted,
        whole: whole.len(),
        countable: countable.len(),
        distinct: counted.len(),
        double: counted.values().map(|&n| n - 1).sum(),
        false_cells,
        missed: countable
            .iter()
            .filter(|id| !counted.contains_key(id))
            .count(),
    }
}

#[test]
fn counts_each_cell_once_over_a_scan() {
    let mut detector = CellDetector::new(DetectorConfig::default()).expect("defaults");
    let config = TrackerConfig::default();
    let mut totals = [0usize; 5];
    let runs = [
        (1, 0.6),
        (2, 0.6),
        (3, 0.5),
        (4, 0.75),
        (5, 0.6),
        (6, 0.45),
        (7, 0.6),
    ];
    for (seed, step) in runs {
        let slide = slide(seed, step);
        let mut tracker = CellTracker::new(config).expect("defaults");
        let ScanCount {
            whole,
            countable,
            distinct,
            double,
            false_cells,
            missed,
            partial,
            partial_and_counted,
        } = count_scan(&slide, &mut detector, &mut tracker);
        eprintln!(
            "seed {seed} step {step}: {} frames, {whole} cells whole in some frame \
             ({countable} with room), {} counted ({distinct} distinct, {double} double, \
             {false_cells} false), {missed} missed, {partial} partial \
             ({partial_and_counted} also counted)",
            slide.frame_count(),
            tracker.counted(),
        );
        assert_eq!(tracker.segment(), 0, "every frame registered");
        assert_eq!(double, 0, "seed {seed}: cells counted twice");
        assert_eq!(
            partial_and_counted, 0,
            "seed {seed}: partial cells also counted"
        );
        assert!(missed <= 1, "seed {seed}: {missed} missed");
        assert!(
            tracker.counted() as usize <= whole + 1,
            "seed {seed}: counted {} of {}",
            tracker.counted(),
            whole
        );
        for (total, n) in totals.iter_mut().zip([
            countable,
            tracker.counted() as usize,
            missed,
            false_cells,
            whole,
        ]) {
            *total += n;
        }
    }
    let [countable, counted, missed, false_cells, whole] = totals;
    eprintln!(
        "all: {whole} cells whole, {countable} with room, {counted} counted, {missed} \
         missed, {false_cells} false, 0 double"
    );
    assert!(false_cells <= 1, "{false_cells} counted cells are no cell");
    assert!(missed * 50 <= countable, "{missed} of {countable} missed");
}

#[test]
fn the_same_frame_twice_counts_nothing_new() {
    let slide = slide(7, 0.6);
    let frame = slide.frame(0).expect("frame 0");
    let mut detector = CellDetector::new(DetectorConfig::default()).expect("defaults");
    let mut tracker = CellTracker::new(TrackerConfig::default()).expect("defaults");
    let cells = detector.detect(&frame.image);
    let first = tracker.observe(&frame.image, &cells);
    assert!(!first.is_empty());
    assert!(first.iter().all(|c| !c.cell.touches_border));
    let ids: Vec<u32> = first.iter().map(|c| c.id).collect();
    assert_eq!(ids, (0..first.len() as u32).collect::<Vec<_>>());
    let again = tracker.observe(&frame.image, &cells);
    assert!(again.is_empty(), "{again:?}");
    let r = tracker.last_registration().expect("registered");
    assert!(
        r.registered && r.motion.0.abs() < 0.5 && r.motion.1.abs() < 0.5,
        "{r:?}"
    );
    tracker.reset();
    assert_eq!(tracker.observe(&frame.image, &cells).len(), first.len());
}

#[test]
fn a_frame_that_cannot_be_placed_starts_a_new_segment() {
    let slide = slide(8, 0.6);
    let mut tracker = CellTracker::new(TrackerConfig::default()).expect("defaults");
    tracker.observe(&slide.frame(0).expect("frame 0").image, &[]);
    let glass = RgbImage::filled(1920, 1080, [240, 244, 250]);
    tracker.observe(&glass, &[]);
    let r = tracker.last_registration().expect("placed or not");
    assert!(!r.registered, "{r:?}");
    assert_eq!(tracker.segment(), 1);
    assert_eq!(tracker.frame_origin(), (0.0, 0.0));
}

#[test]
fn odd_frames_do_not_panic() {
    let mut detector = CellDetector::new(DetectorConfig::default()).expect("defaults");
    let mut tracker = CellTracker::new(TrackerConfig::default()).expect("defaults");
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut noise = |w: u32, h: u32| {
        let bytes = (0..w as usize * h as usize * 3)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 56) as u8
            })
            .collect();
        RgbImage::from_raw(w, h, bytes).expect("sized")
    };
    let frames = [
        RgbImage::filled(0, 0, [0; 3]),
        RgbImage::filled(1, 1, [255; 3]),
        RgbImage::filled(2, 7, [0; 3]),
        noise(7, 7),
        noise(31, 17),
        noise(640, 480),
        RgbImage::filled(640, 480, [0; 3]),
        RgbImage::filled(640, 480, [255; 3]),
        noise(1920, 1080),
        RgbImage::filled(1920, 1080, [250, 250, 250]),
    ];
    for frame in &frames {
        let cells = detector.detect(frame);
        let new = tracker.observe(frame, &cells);
        // Noise, black, white and glass: none of them shows a white cell.
        assert!(
            cells.is_empty() && new.is_empty(),
            "{}x{}: {cells:?}",
            frame.width(),
            frame.height()
        );
    }
}

#[test]
fn a_scan_frame_squeezed_to_any_size_does_not_panic() {
    // Each size change is registered across scales against the frame before: slivers,
    // specks, stretched and enlarged copies of a real scan frame must place or not,
    // never panic, and the scan goes on after them.
    let slide = slide(13, 0.5);
    let frame = slide.frame(2).expect("frame");
    let (w, h) = (frame.image.width(), frame.image.height());
    let full = image::RgbImage::from_raw(w, h, frame.image.as_raw().to_vec()).expect("size");
    let mut tracker = CellTracker::new(TrackerConfig::default()).expect("defaults");
    let mut detector = CellDetector::new(DetectorConfig::default()).expect("defaults");
    for (sw, sh) in [
        (w, h),
        (w, 9),
        (9, h),
        (17, 17),
        (w / 3, h),
        (2 * w, 2 * h),
        (w / 8 + 1, h / 8),
        (1, 1),
        (w, h),
    ] {
        let squeezed =
            image::imageops::resize(&full, sw, sh, image::imageops::FilterType::Triangle);
        let image = RgbImage::from_raw(sw, sh, squeezed.into_raw()).expect("size");
        let cells = detector.detect(&image);
        tracker.observe(&image, &cells);
    }
    let r = tracker.last_registration().expect("placed or not");
    assert!(r.registered, "the scan's own frame again is placed: {r:?}");
}

#[test]
fn bad_settings_are_named() {
    let bad = |config: TrackerConfig| match CellTracker::new(config) {
        Err(TrackError::BadSetting { key, .. }) => key,
        Ok(_) => "accepted",
    };
    let d = TrackerConfig::default();
    assert_eq!(
        bad(TrackerConfig {
            um_per_px: 0.0,
            ..d
        }),
        "um_per_px"
    );
    assert_eq!(
        bad(TrackerConfig {
            register_width: 4,
            ..d
        }),
        "register_width"
    );
    assert_eq!(
        bad(TrackerConfig {
            match_radius_um: f32::NAN,
            ..d
        }),
        "match_radius_um"
    );
    let parsed: TrackerConfig =
        serde_json::from_str(r#"{"match_radius_um": 6.0}"#).expect("partial config");
    assert_eq!(parsed.match_radius_um, 6.0);
    assert_eq!(parsed.register_width, 320);
    assert!(serde_json::from_str::<TrackerConfig>(r#"{"radius": 6.0}"#).is_err());
}

mod timing {
    use super::*;
    use std::time::Instant;

    use crate::scan::detect::{CellDetector, DetectorConfig};
    use leukoscope_core::synth::{SlideOptions, SyntheticSlide};

    /// Time per 1920x1080 frame of detection and of tracking, one thread; run with
    /// `cargo test -p leukoscope-edge --release time_per_frame -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing, not a check"]
    fn time_per_frame() {
        let slide = SyntheticSlide::new(
            3,
            SlideOptions {
                world_width: 4200,
                world_height: 2400,
                white_cells_per_frame: 12.0,
                ..SlideOptions::default()
            },
        )
        .expect("valid slide options");
        let frames: Vec<_> = (0..slide.frame_count())
            .map(|i| slide.frame(i).expect("frame in range").image)
            .collect();
        let mut detector = CellDetector::new(DetectorConfig::default()).expect("defaults");
        let mut tracker = CellTracker::new(TrackerConfig::default()).expect("defaults");
        let (mut detect, mut track) = (0.0f64, 0.0f64);
        let rounds = 5;
        for _ in 0..rounds {
            tracker.reset();
            for frame in &frames {
                let t = Instant::now();
                let cells = detector.detect(frame);
                detect += t.elapsed().as_secs_f64();
                let t = Instant::now();
                tracker.observe(frame, &cells);
                track += t.elapsed().as_secs_f64();
            }
        }
        let n = (rounds * frames.len()) as f64;
        eprintln!(
            "per 1920x1080 frame: detect {:.2} ms, track {:.2} ms",
            1e3 * detect / n,
            1e3 * track / n
        );
    }
}

#[test]
fn separate_photographs_count_every_whole_nucleus_once() {
    // Frames of three different slides: no two overlap, so each is a photograph of
    // its own field, and a cell near its edge is counted as long as its nucleus is whole.
    let mut detector = CellDetector::new(DetectorConfig::default()).expect("defaults");
    let mut tracker = CellTracker::new(TrackerConfig::default()).expect("defaults");
    let mut near_edge = 0;
    let mut cut_off = Vec::new();
    let mut partial = Vec::new();
    for (k, seed) in [21, 22, 23].into_iter().enumerate() {
        // Frame 3 of these slides has whole nuclei near its edges and nuclei cut by them.
        let frame = slide(seed, 0.6).frame(3).expect("frame 3");
        let found = detector.detect(&frame.image);
        let whole: Vec<_> = found.iter().filter(|d| !d.touches_border).collect();
        // Each photograph ends the one before: its cut cells are given back as partial.
        partial.extend(tracker.take_partial());
        cut_off.extend(
            found
                .iter()
                .filter(|d| d.touches_border)
                .map(|d| (2 * k as u64, d.bbox)),
        );
        let margin = 4.0 / 0.42;
        near_edge += whole
            .iter()
            .filter(|d| {
                let [x, y, w, h] = d.bbox;
                (x as f32) < margin
                    || (y as f32) < margin
                    || (x + w) as f32 + margin > frame.image.width() as f32
                    || (y + h) as f32 + margin > frame.image.height() as f32
            })
            .count();
        let new = tracker.observe(&frame.image, &found);
        assert_eq!(new.len(), whole.len(), "seed {seed}");
        // The same photograph again is the same field: nothing new.
        assert!(
            tracker.observe(&frame.image, &found).is_empty(),
            "seed {seed}"
        );
    }
    assert!(
        near_edge > 0,
        "the frames hold no cell near the edge to test with"
    );
    assert!(!cut_off.is_empty(), "no cell cut by the edge to test with");
    tracker.end_slide();
    partial.extend(tracker.take_partial());
    // Each cut cell once, named by the first of the two identical sightings.
    let partial: Vec<_> = partial.iter().map(|p| (p.sighting, p.cell.bbox)).collect();
    assert_eq!(partial, cut_off);
    assert!(tracker.take_partial().is_empty(), "given back twice");
}

#[test]
fn counts_each_cell_once_at_every_magnification() {
    // Scans at 100x oil on a full-HD camera (0.05 and 0.1 um per pixel) and at 20x (0.6):
    // the stage moves 60 % of a frame, registration and matching work in micrometres.
    for (seed, um_per_px) in [(31, 0.05), (32, 0.1), (33, 0.6)] {
        let options = SlideOptions {
            um_per_px,
            world_width: 4200,
            world_height: 2400,
            white_cells_per_frame: 8.0,
            ..SlideOptions::default()
        };
        let slide = SyntheticSlide::new(seed, options).expect("valid slide options");
        let mut detector = CellDetector::new(DetectorConfig {
            um_per_px,
            ..DetectorConfig::default()
        })
        .expect("a valid scale");
        let config = TrackerConfig {
            um_per_px,
            ..TrackerConfig::default()
        };
        let mut tracker = CellTracker::new(config).expect("a valid scale");
        let ScanCount {
            whole,
            countable,
            distinct,
            double,
            false_cells,
            missed,
            partial,
            partial_and_counted,
        } = count_scan(&slide, &mut detector, &mut tracker);
        eprintln!(
            "{um_per_px} um/px: {} frames, {whole} whole, {countable} with room, {distinct} \
             counted, {double} double, {false_cells} false, {missed} missed, {partial} \
             partial ({partial_and_counted} also counted)",
            slide.frame_count(),
        );
        assert_eq!(
            partial_and_counted, 0,
            "{um_per_px}: partial cells also counted"
        );
        assert!(countable >= 20, "{um_per_px}: {countable}");
        assert_eq!(tracker.segment(), 0, "{um_per_px}: every frame registered");
        assert_eq!(double, 0, "{um_per_px}: cells counted twice");
        assert_eq!(
            false_cells, 0,
            "{um_per_px}: counted cells that are no cell"
        );
        assert!(
            missed * 33 <= countable,
            "{um_per_px}: {missed} of {countable} missed"
        );
    }
}

/// How a frame of a synthetic scan reaches the tracker.
#[derive(Clone, Copy)]
enum View {
    /// As it is.
    Whole,
    /// Shrunk by this factor each way.
    Shrunk(u32),
    /// Its window of this width and height at this top-left corner: a camera's smaller
    /// window at the same magnification.
    Window(u32, u32, u32, u32),
}

impl View {
    /// The picture of `frame` this view gives.
    fn of(self, frame: &SlideFrame) -> RgbImage {
        let (w, h) = (frame.image.width(), frame.image.height());
        let full = image::RgbImage::from_raw(w, h, frame.image.as_raw().to_vec()).expect("size");
        let part = match self {
            View::Whole => return frame.image.clone(),
            View::Shrunk(k) => {
                image::imageops::resize(&full, w / k, h / k, image::imageops::FilterType::Triangle)
            }
            View::Window(x, y, cw, ch) => image::imageops::crop_imm(&full, x, y, cw, ch).to_image(),
        };
        let (pw, ph) = part.dimensions();
        RgbImage::from_raw(pw, ph, part.into_raw()).expect("size")
    }

    /// Where a point of the view lies in the whole frame.
    fn in_frame(self, p: (f32, f32)) -> (f32, f32) {
        match self {
            View::Whole => p,
            View::Shrunk(k) => (p.0 * k as f32, p.1 * k as f32),
            View::Window(x, y, _, _) => (p.0 + x as f32, p.1 + y as f32),
        }
    }
}

/// Cells counted on `frames` of `slide` (each a frame's index and how it is seen), by
/// true id, and the cells counted that are no true cell.
fn count_by_truth(slide: &SyntheticSlide, frames: &[(u32, View)]) -> (BTreeMap<u32, u32>, usize) {
    let mut tracker = CellTracker::new(TrackerConfig::default()).expect("defaults");
    let mut detector = CellDetector::new(DetectorConfig::default()).expect("defaults");
    let mut counted: BTreeMap<u32, u32> = BTreeMap::new();
    let mut stray = 0;
    for &(index, view) in frames {
        let frame = slide.frame(index).expect("frame");
        let image = view.of(&frame);
        let cells = detector.detect(&image);
        for new in tracker.observe(&image, &cells) {
            match truth_at(&frame, view.in_frame(new.cell.centre)) {
                Some(id) => *counted.entry(id).or_default() += 1,
                None => stray += 1,
            }
        }
    }
    (counted, stray)
}

#[test]
fn a_frame_of_another_size_in_a_scan_counts_no_cell_twice() {
    // A half-size copy of one frame slipped into a scan (a thumbnail in the folder) is
    // the same field at half the resolution; a smaller window of it is the same field at
    // the same magnification. Each is placed on the scan's map, shows no cell the scan has
    // not counted, and the frames after it go on where the scan was.
    let slide = slide(11, 0.6);
    let steady: Vec<(u32, View)> = (0..10).map(|i| (i, View::Whole)).collect();
    let (truth, stray) = count_by_truth(&slide, &steady);
    assert!(truth.len() > 20, "{}", truth.len());
    assert_eq!(stray, 0);
    let frame = slide.frame(4).expect("frame");
    let (w, h) = (frame.image.width(), frame.image.height());
    for odd in [View::Shrunk(2), View::Window(w / 5, h / 4, w / 2, h / 2)] {
        let mut frames = steady.clone();
        frames.insert(5, (4, odd));
        let (counted, stray) = count_by_truth(&slide, &frames);
        assert_eq!(stray, 0, "stray cells counted in the odd frame");
        assert_eq!(
            counted, truth,
            "cells counted twice or lost around the odd frame"
        );
    }
}

#[test]
fn a_camera_that_halves_its_resolution_mid_scan_counts_each_cell_once() {
    // The camera drops to half its resolution for three frames while the stage moves on,
    // then comes back: each frame of the other size is placed on the scan's map, and the
    // cells the small frames show first are counted there, once.
    let slide = slide(12, 0.5);
    let frames: Vec<(u32, View)> = (0..10)
        .map(|i| {
            let view = if (4..7).contains(&i) {
                View::Shrunk(2)
            } else {
                View::Whole
            };
            (i, view)
        })
        .collect();
    let (counted, stray) = count_by_truth(&slide, &frames);
    let twice: Vec<_> = counted.iter().filter(|&(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "counted twice: {twice:?}");
    assert!(stray <= 1, "{stray} stray cells");
    let steady: Vec<(u32, View)> = (0..10).map(|i| (i, View::Whole)).collect();
    let (truth, _) = count_by_truth(&slide, &steady);
    let lost = truth.keys().filter(|id| !counted.contains_key(id)).count();
    assert!(
        lost * 10 <= truth.len(),
        "{lost} of {} cells lost",
        truth.len()
    );
}

/// Scans `slide` frame by frame with each frame's stage position (or none), frame 4's
/// pixels replaced by glass so that phase correlation can place neither it nor the frame
/// after it (its cells still detected in the true frame); returns the segments and the
/// cells counted.
fn scan_with_a_blank_frame(slide: &SyntheticSlide, with_stage: bool) -> (u32, u32) {
    let config = TrackerConfig::default();
    let mut detector = CellDetector::new(DetectorConfig::default()).expect("defaults");
    let mut tracker = CellTracker::new(config).expect("defaults");
    let um = f64::from(config.um_per_px);
    for index in 0..slide.frame_count() {
        let frame = slide.frame(index).expect("frame");
        let cells = detector.detect(&frame.image);
        let stage = with_stage.then(|| frame.stage.map(|px| f64::from(px) * um));
        let image = if index == 4 {
            RgbImage::filled(frame.image.width(), frame.image.height(), [240, 244, 250])
        } else {
            frame.image
        };
        tracker.observe_at(&image, &cells, stage);
    }
    (tracker.segment(), tracker.counted())
}

#[test]
fn the_stage_places_a_frame_phase_correlation_cannot_and_its_cells_are_not_counted_again() {
    let slide = slide(21, 0.6);
    // Three fields a row: the move from 0 to 1 teaches the prior x, the move from 2 to 3
    // y; 3 to 4 and 4 to 5 run along x again.
    let at = |i: u32| slide.stage(i).expect("a field");
    assert_eq!(
        (at(1)[1], at(4)[1], at(5)[1]),
        (at(0)[1], at(3)[1], at(3)[1])
    );
    assert!(
        at(3)[1] > at(2)[1],
        "{:?}",
        (0..6).map(at).collect::<Vec<_>>()
    );
    let mut detector = CellDetector::new(DetectorConfig::default()).expect("defaults");
    let mut tracker = CellTracker::new(TrackerConfig::default()).expect("defaults");
    for index in 0..slide.frame_count() {
        let frame = slide.frame(index).expect("frame");
        let cells = detector.detect(&frame.image);
        tracker.observe(&frame.image, &cells);
    }
    let all_placed = tracker.counted();
    assert_eq!(tracker.segment(), 0);

    let (segments, counted) = scan_with_a_blank_frame(&slide, false);
    assert_eq!(
        segments, 2,
        "without the stage the blank frame and the next start maps"
    );
    assert!(
        counted > all_placed,
        "{counted} vs {all_placed}: cells counted again"
    );

    let (segments, counted) = scan_with_a_blank_frame(&slide, true);
    assert_eq!(segments, 0, "the stage placed the blank frame");
    assert_eq!(counted, all_placed);
}

#[test]
fn the_stage_overrules_a_placement_it_contradicts() {
    let slide = slide(22, 0.6);
    let config = TrackerConfig::default();
    let um = f64::from(config.um_per_px);
    let mut tracker = CellTracker::new(config).expect("defaults");
    for index in 0..3 {
        let frame = slide.frame(index).expect("frame");
        tracker.observe_at(
            &frame.image,
            &[],
            Some(frame.stage.map(|px| f64::from(px) * um)),
        );
    }
    let before = tracker.frame_origin();
    // The same field again, but the stage says it moved 80 um right: believed.
    let frame = slide.frame(2).expect("frame 2");
    let [x, y] = frame.stage.map(|px| f64::from(px) * um);
    tracker.observe_at(&frame.image, &[], Some([x + 80.0, y]));
    let r = tracker.last_registration().expect("placed");
    assert!(r.registered);
    let moved = tracker.frame_origin().0 - before.0;
    assert!((moved - 80.0 / um).abs() < 0.5, "moved {moved} px");
}
