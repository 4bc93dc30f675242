//! Checks of the synthetic smears against their ground truth and their design.

extern crate std;

use alloc::vec;
use alloc::vec::Vec;
use std::collections::BTreeSet;

use super::*;
use crate::raster::RgbImage;

/// Dark purple nucleus, by the same rule that picks nuclei out of the reference images.
fn is_nucleus(px: [u8; 3]) -> bool {
    px[1] < 150 && i32::from(px[2]) - i32::from(px[1]) > 50
}

fn nucleus_pixels_near(image: &RgbImage, center: [f32; 2], half: i64) -> usize {
    let (cx, cy) = (center[0] as i64, center[1] as i64);
    let mut n = 0;
    for y in cy - half..=cy + half {
        for x in cx - half..=cx + half {
            if x >= 0 && y >= 0 && image.get(x as u32, y as u32).is_some_and(is_nucleus) {
                n += 1;
            }
        }
    }
    n
}

fn luma(px: [u8; 3]) -> f32 {
    0.299 * f32::from(px[0]) + 0.587 * f32::from(px[1]) + 0.114 * f32::from(px[2])
}

fn laplacian_variance(image: &RgbImage) -> f64 {
    let (w, h) = (image.width(), image.height());
    let at = |x: u32, y: u32| f64::from(luma(image.get(x, y).unwrap_or([0; 3])));
    let mut values = Vec::new();
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            values.push(at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4.0 * at(x, y));
        }
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / values.len() as f64
}

fn saturated_share(image: &RgbImage) -> f64 {
    let raw = image.as_raw();
    let n = raw
        .chunks_exact(3)
        .filter(|p| p.iter().all(|&v| v == 255))
        .count();
    n as f64 / (raw.len() / 3) as f64
}

#[test]
fn fields_are_deterministic() {
    let options = FieldOptions::default();
    for class in 0..4 {
        let a = field(class, 42, &options).unwrap();
        let b = field(class, 42, &options).unwrap();
        assert_eq!(a, b);
        let c = field(class, 43, &options).unwrap();
        assert_ne!(a.image, c.image);
        assert_eq!((a.image.width(), a.image.height()), (224, 224));
    }
}

#[test]
fn bad_field_requests_are_errors() {
    let options = FieldOptions::default();
    assert_eq!(
        field(4, 1, &options),
        Err(SynthError::UnknownClass { class: 4 })
    );
    let tiny = FieldOptions {
        size: 10,
        ..FieldOptions::default()
    };
    assert!(matches!(
        field(0, 1, &tiny),
        Err(SynthError::BadOption { option: "size", .. })
    ));
    // Silly counts are clamped, not rejected.
    let odd = FieldOptions {
        size: 64,
        min_white_cells: 9,
        max_white_cells: 0,
        scale_bar: true,
    };
    let f = field(3, 1, &odd).unwrap();
    assert_eq!(f.cells.len(), 1);
}

#[test]
fn every_box_holds_a_nucleus_and_lies_inside() {
    for class in 0..4 {
        for seed in 0..25 {
            let f = field(class, seed, &FieldOptions::default()).unwrap();
            assert!(!f.cells.is_empty() && f.cells.len() <= 4);
            let mut ids = BTreeSet::new();
            for cell in &f.cells {
                assert!(ids.insert(cell.id));
                assert_eq!(cell.class, class);
                let b = cell.bbox;
                assert!(b.width >= 10 && b.height >= 10, "{b:?}");
                assert!(b.x + b.width <= 224 && b.y + b.height <= 224, "{b:?}");
                assert!(b.contains(cell.center[0] as u32, cell.center[1] as u32));
                let found = nucleus_pixels_near(&f.image, cell.center, 2);
                assert!(
                    found >= 13,
                    "class {class} seed {seed} cell {cell:?}: {found}/25"
                );
                // Just outside the box there is no more of this cell: the box is tight on
                // the side facing away from any other white cell.
            }
        }
    }
}

struct ClassStats {
    box_area: f64,
    nucleoli: f64,
    /// Nucleus pixels over box pixels.
    nucleus_share: f64,
    /// Relative spread of brightness over the middle of the cell: chromatin texture,
    /// nucleoli and clefts.
    nucleus_texture: f64,
}

fn class_stats(class: u32, fields: u64) -> ClassStats {
    let (mut area, mut nucleoli, mut share, mut texture, mut cells) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for seed in 0..fields {
        let c = field::compose(class, 1000 + seed, &FieldOptions::default()).unwrap();
        for (truth, white) in c.field.cells.iter().zip(&c.whites) {
            let b = truth.bbox;
            let mut nucleus = 0usize;
            let mut inner = Vec::new();
            let reach = 0.3 * b.width.min(b.height) as f32;
            for y in b.y..b.y + b.height {
                for x in b.x..b.x + b.width {
                    let px = c.field.image.get(x, y).unwrap();
                    if is_nucleus(px) {
                        nucleus += 1;
                    }
                    let (dx, dy) = (
                        x as f32 + 0.5 - truth.center[0],
                        y as f32 + 0.5 - truth.center[1],
                    );
                    if dx * dx + dy * dy <= reach * reach {
                        inner.push(f64::from(luma(px)));
                    }
                }
            }
            let mean = inner.iter().sum::<f64>() / inner.len().max(1) as f64;
            let var = inner.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>()
                / inner.len().max(1) as f64;
            area += b.area() as f64;
            nucleoli += white.nucleolus_count() as f64;
            share += nucleus as f64 / b.area() as f64;
            texture += libm::sqrt(var) / mean.max(1.0);
            cells += 1.0;
        }
    }
    ClassStats {
        box_area: area / cells,
        nucleoli: nucleoli / cells,
        nucleus_share: share / cells,
        nucleus_texture: texture / cells,
    }
}

#[test]
fn classes_differ_in_the_designed_directions() {
    let stats: Vec<ClassStats> = (0..4).map(|c| class_stats(c, 50)).collect();
    for (c, s) in stats.iter().enumerate() {
        std::println!(
            "{:>12}: box area {:7.1}  nucleoli {:.2}  nucleus share {:.3}  texture {:.4}",
            CLASS_NAMES[c],
            s.box_area,
            s.nucleoli,
            s.nucleus_share,
            s.nucleus_texture
        );
    }
    let [benign, early, pre, pro] = [&stats[0], &stats[1], &stats[2], &stats[3]];
    assert!(benign.box_area < early.box_area);
    assert!(early.box_area < pre.box_area);
    assert!(pre.box_area < pro.box_area);
    assert_eq!(benign.nucleoli, 0.0);
    assert!(early.nucleoli < pro.nucleoli && pro.nucleoli >= 2.0);
    // More cytoplasm around a Pre-B nucleus than around a hematogone's.
    assert!(benign.nucleus_share > pre.nucleus_share);
    // Fine, even chromatin in Early pre-B; open, clumped chromatin and nucleoli in Pro-B.
    assert!(early.nucleus_texture < pro.nucleus_texture);
}

#[test]
fn colour_cast_does_not_depend_on_class() {
    for seed in 0..8 {
        let bright: Vec<[u8; 3]> = (0..4)
            .map(|class| {
                let f = field(
                    class,
                    seed,
                    &FieldOptions {
                        scale_bar: false,
                        ..FieldOptions::default()
                    },
                )
                .unwrap();
                // The 95th percentile per channel is the glass under the lamp.
                let mut out = [0u8; 3];
                for (c, o) in out.iter_mut().enumerate() {
                    let mut v: Vec<u8> = f
                        .image
                        .as_raw()
                        .iter()
                        .skip(c)
                        .step_by(3)
                        .copied()
                        .collect();
                    v.sort_unstable();
                    *o = v[v.len() * 95 / 100];
                }
                out
            })
            .collect();
        for b in &bright[1..] {
            for c in 0..3 {
                assert!(b[c].abs_diff(bright[0][c]) <= 6, "seed {seed}: {bright:?}");
            }
        }
    }
}

fn small_slide() -> SlideOptions {
    SlideOptions {
        world_width: 2400,
        world_height: 1500,
        frame_width: 640,
        frame_height: 360,
        ..SlideOptions::default()
    }
}

#[test]
fn slides_are_deterministic() {
    let a = SyntheticSlide::new(7, small_slide()).unwrap();
    let b = SyntheticSlide::new(7, small_slide()).unwrap();
    assert_eq!(a.cells(), b.cells());
    assert_eq!(a.frame(3).unwrap(), b.frame(3).unwrap());
    let c = SyntheticSlide::new(8, small_slide()).unwrap();
    assert_ne!(a.frame(3).unwrap().image, c.frame(3).unwrap().image);
    assert!(matches!(
        a.frame(a.frame_count()),
        Err(SynthError::FrameOutOfRange { .. })
    ));
    let bad = SlideOptions {
        step_fraction: 0.0,
        ..small_slide()
    };
    assert!(SyntheticSlide::new(1, bad).is_err());
    let bad = SlideOptions {
        class_mix: [0.0; 4],
        ..small_slide()
    };
    assert!(SyntheticSlide::new(1, bad).is_err());
    let bad = SlideOptions {
        world_width: 100,
        ..small_slide()
    };
    assert!(SyntheticSlide::new(1, bad).is_err());
}

#[test]
fn scans_see_every_cell_with_consistent_ids_and_boxes() {
    let slide = SyntheticSlide::new(11, small_slide()).unwrap();
    let o = slide.options().clone();
    let world = slide.cells();
    assert!(!world.is_empty());
    let mut seen = BTreeSet::new();
    let mut shared = 0;
    let mut previous: Option<SlideFrame> = None;
    for index in 0..slide.frame_count() {
        let frame = slide.frame(index).unwrap();
        let [sx, sy] = [frame.stage[0] as u32, frame.stage[1] as u32];
        assert!(sx + o.frame_width <= o.world_width && sy + o.frame_height <= o.world_height);
        for cell in &frame.cells {
            let t = cell.truth;
            let w = world[t.id as usize];
            assert_eq!((w.id, w.class), (t.id, t.class));
            // The world box shifted by the stage and clipped to the frame is the frame box.
            let x0 = w.bbox.x.max(sx);
            let y0 = w.bbox.y.max(sy);
            let x1 = (w.bbox.x + w.bbox.width).min(sx + o.frame_width);
            let y1 = (w.bbox.y + w.bbox.height).min(sy + o.frame_height);
            assert_eq!(
                t.bbox,
                BoundingBox {
                    x: x0 - sx,
                    y: y0 - sy,
                    width: x1 - x0,
                    height: y1 - y0
                }
            );
            assert_eq!(cell.fully_visible, t.bbox.area() == w.bbox.area());
            if cell.fully_visible {
                assert!(
                    nucleus_pixels_near(&frame.image, t.center, 2) >= 13,
                    "{cell:?}"
                );
            }
            seen.insert(t.id);
        }
        // Any cell wholly inside the overlap of two consecutive frames is in both, by id.
        if let Some(prev) = &previous {
            let ox0 = prev.stage[0].max(frame.stage[0]) as u32;
            let oy0 = prev.stage[1].max(frame.stage[1]) as u32;
            let ox1 = (prev.stage[0].min(frame.stage[0]) as u32) + o.frame_width;
            let oy1 = (prev.stage[1].min(frame.stage[1]) as u32) + o.frame_height;
            let ids = |f: &SlideFrame| f.cells.iter().map(|c| c.truth.id).collect::<BTreeSet<_>>();
            let (a, b) = (ids(prev), ids(&frame));
            for w in world {
                let inside = w.bbox.x >= ox0
                    && w.bbox.y >= oy0
                    && w.bbox.x + w.bbox.width <= ox1
                    && w.bbox.y + w.bbox.height <= oy1;
                if inside {
                    assert!(
                        a.contains(&w.id) && b.contains(&w.id),
                        "cell {} frame {index}",
                        w.id
                    );
                    shared += 1;
                }
            }
        }
        previous = Some(frame);
    }
    assert!(shared > 0);
    assert_eq!(seen.len(), world.len());
}

#[test]
fn default_slide_holds_about_five_cells_per_frame() {
    let slide = SyntheticSlide::new(3, SlideOptions::default()).unwrap();
    let o = slide.options();
    let frames = (o.world_width * o.world_height) as f32 / (o.frame_width * o.frame_height) as f32;
    let per_frame = slide.cells().len() as f32 / frames;
    assert!((4.5..=5.5).contains(&per_frame), "{per_frame}");
    let mut classes = [0u32; 4];
    for c in slide.cells() {
        classes[c.class as usize] += 1;
    }
    assert!(classes.iter().all(|&n| n > 20), "{classes:?}");

    // Timing is printed, not asserted: test machines are shared.
    let mut cells = 0;
    let start = std::time::Instant::now();
    for index in 0..6 {
        cells += slide.frame(index).unwrap().cells.len();
    }
    std::println!(
        "1920x1080 frames: {:.1} ms each on average ({} white cells in 6)",
        start.elapsed().as_secs_f64() * 1e3 / 6.0,
        cells
    );
    let frame = slide.frame(0).unwrap();
    assert_eq!((frame.image.width(), frame.image.height()), (1920, 1080));
}

#[test]
fn defects_appear_where_requested() {
    let clean = SyntheticSlide::new(5, small_slide()).unwrap();
    // A frame with cells in it, so the defocus has edges to soften.
    let index = (0..clean.frame_count())
        .find(|&i| clean.frame(i).unwrap().cells.len() >= 2)
        .unwrap();
    let defects = vec![
        (index, Defect::Defocus(4)),
        (index + 1, Defect::Overexposed),
        (index + 2, Defect::Empty),
    ];
    let faulty = SyntheticSlide::new(
        5,
        SlideOptions {
            defects,
            ..small_slide()
        },
    )
    .unwrap();

    let sharp = clean.frame(index).unwrap();
    let blurred = faulty.frame(index).unwrap();
    assert_eq!(sharp.defect, None);
    assert_eq!(blurred.defect, Some(Defect::Defocus(4)));
    assert_eq!(sharp.cells, blurred.cells);
    let (vs, vb) = (
        laplacian_variance(&sharp.image),
        laplacian_variance(&blurred.image),
    );
    assert!(vb * 10.0 < vs, "sharp {vs} blurred {vb}");

    let normal = clean.frame(index + 1).unwrap();
    let bright = faulty.frame(index + 1).unwrap();
    assert_eq!(bright.defect, Some(Defect::Overexposed));
    let (ns, bs) = (
        saturated_share(&normal.image),
        saturated_share(&bright.image),
    );
    // Bright glass clips a little even in a good frame, as in the reference images.
    assert!(ns < 0.4 && bs > 0.8, "normal {ns} overexposed {bs}");

    let empty = faulty.frame(index + 2).unwrap();
    assert_eq!(empty.defect, Some(Defect::Empty));
    assert!(empty.cells.is_empty());
    assert!(
        !empty
            .image
            .as_raw()
            .chunks_exact(3)
            .any(|p| is_nucleus([p[0], p[1], p[2]]))
    );
    assert!(laplacian_variance(&empty.image) < laplacian_variance(&normal.image) / 4.0);

    // Random defects are drawn per frame, the same every time.
    let random = SyntheticSlide::new(
        5,
        SlideOptions {
            defect_rate: 0.5,
            ..small_slide()
        },
    )
    .unwrap();
    let drawn: Vec<_> = (0..random.frame_count())
        .map(|i| random.defect(i))
        .collect();
    let again: Vec<_> = (0..random.frame_count())
        .map(|i| random.defect(i))
        .collect();
    assert_eq!(drawn, again);
    let hit = drawn.iter().filter(|d| d.is_some()).count();
    assert!(hit > 0 && hit < drawn.len());
}

/// Writes 4 rows (one per class) of 5 fields to `/tmp/synth_fields.ppm` and a slide frame to
/// `/tmp/synth_frame.ppm`, for looking at beside the reference images.
#[test]
#[ignore = "writes images to /tmp for a human to look at"]
fn write_contact_sheet() {
    let (n, side) = (5u32, 224u32);
    let mut sheet = RgbImage::filled(n * side, 4 * side, [0; 3]);
    for class in 0..4 {
        for i in 0..n {
            let f = field(class, u64::from(i) * 7 + 1, &FieldOptions::default()).unwrap();
            for y in 0..side {
                for x in 0..side {
                    sheet.put(i * side + x, class * side + y, f.image.get(x, y).unwrap());
                }
            }
        }
    }
    write_ppm("/tmp/synth_fields.ppm", &sheet);
    let slide = SyntheticSlide::new(1, SlideOptions::default()).unwrap();
    write_ppm("/tmp/synth_frame.ppm", &slide.frame(7).unwrap().image);
}

fn write_ppm(path: &str, image: &RgbImage) {
    let mut bytes = std::format!("P6\n{} {}\n255\n", image.width(), image.height()).into_bytes();
    bytes.extend_from_slice(image.as_raw());
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_slide_at_higher_magnification_shows_the_same_cells_larger() {
    // The same world (same seed, same area in micrometres) through a 100x oil camera at a
    // quarter of the reference scale: the same white cells, four times as many pixels
    // across, in the same places.
    let coarse = small_slide();
    let fine = SlideOptions {
        um_per_px: MICROMETRES_PER_PIXEL / 4.0,
        world_width: coarse.world_width * 4,
        world_height: coarse.world_height * 4,
        frame_width: coarse.frame_width * 4,
        frame_height: coarse.frame_height * 4,
        ..coarse.clone()
    };
    let (a, b) = (
        SyntheticSlide::new(5, coarse).unwrap(),
        SyntheticSlide::new(5, fine).unwrap(),
    );
    assert_eq!(a.cells().len(), b.cells().len());
    assert!(!a.cells().is_empty());
    for (c, f) in a.cells().iter().zip(b.cells()) {
        assert_eq!((c.id, c.class), (f.id, f.class));
        for k in 0..2 {
            assert!(
                (f.center[k] - 4.0 * c.center[k]).abs() < 0.01,
                "{c:?} {f:?}"
            );
        }
        assert!(f.bbox.width.abs_diff(4 * c.bbox.width) <= 4, "{c:?} {f:?}");
        assert!(
            f.bbox.height.abs_diff(4 * c.bbox.height) <= 4,
            "{c:?} {f:?}"
        );
    }
    // The first frame shows the same area at both scales: a whole white cell there looks
    // the same, on average over its box, sampled sixteen times as densely.
    let (fa, fb) = (a.frame(0).unwrap(), b.frame(0).unwrap());
    let mean = |frame: &SlideFrame, id: u32| {
        let t = frame
            .cells
            .iter()
            .find(|c| c.truth.id == id)
            .unwrap()
            .truth
            .bbox;
        let mut sum = [0f64; 3];
        for y in t.y..t.y + t.height {
            for x in t.x..t.x + t.width {
                let p = frame.image.get(x, y).unwrap();
                for c in 0..3 {
                    sum[c] += f64::from(p[c]);
                }
            }
        }
        sum.map(|v| v / t.area() as f64)
    };
    let whole: Vec<u32> = fa
        .cells
        .iter()
        .filter(|c| c.fully_visible)
        .map(|c| c.truth.id)
        .collect();
    assert!(!whole.is_empty());
    for id in whole {
        let (ma, mb) = (mean(&fa, id), mean(&fb, id));
        for c in 0..3 {
            assert!((ma[c] - mb[c]).abs() < 6.0, "cell {id}: {ma:?} {mb:?}");
        }
    }
    let bad = SlideOptions {
        um_per_px: 5.0,
        ..small_slide()
    };
    assert!(SyntheticSlide::new(1, bad).is_err());
}
