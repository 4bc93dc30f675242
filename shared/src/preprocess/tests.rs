use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::stain::{
    Mapped, PixelSource, PlanePixels, estimate_stains, lab_to_rgb, od_to_rgb, percentile,
    rgb_to_lab, rgb_to_od,
};
use super::*;
use crate::raster::RgbImage;

/// A small deterministic generator, so the tests need no extra dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn byte(&mut self, lo: u8, hi: u8) -> u8 {
        lo + (self.next() % (hi as u64 - lo as u64 + 1)) as u8
    }
}

fn random_image(width: u32, height: u32, seed: u64, lo: [u8; 3], hi: [u8; 3]) -> RgbImage {
    let mut rng = Rng(seed);
    let mut image = RgbImage::filled(width, height, [0; 3]);
    for y in 0..height {
        for x in 0..width {
            let px = core::array::from_fn(|c| rng.byte(lo[c], hi[c]));
            image.put(x, y, px);
        }
    }
    image
}

/// Output = the 0..255 values divided by 255: no mean shift, unit std.
const PLAIN: ChannelNorm = ChannelNorm {
    mean: [0.0; 3],
    std: [1.0; 3],
};

fn plain(height: u32, width: u32, resize: ResizeFilter) -> Preprocess {
    Preprocess {
        resize,
        normalize: PLAIN,
        ..Preprocess::cell(height, width)
    }
}

fn resized(image: &RgbImage, width: u32, height: u32, filter: ResizeFilter) -> Vec<f32> {
    let mut planes = vec![0.0; 3 * width as usize * height as usize];
    resize::resize_into(
        image.view(),
        width,
        height,
        filter,
        &mut planes,
        &mut Vec::new(),
    );
    planes
}

fn planes_of(image: &RgbImage) -> Vec<f32> {
    resized(image, image.width(), image.height(), ResizeFilter::Box)
}

const FILTERS: [ResizeFilter; 2] = [ResizeFilter::Triangle, ResizeFilter::Box];

// --- resize ----------------------------------------------------------------------------------

#[test]
fn equal_size_resize_is_exact_identity() {
    let image = random_image(7, 5, 1, [0; 3], [255; 3]);
    for filter in FILTERS {
        let planes = resized(&image, 7, 5, filter);
        for y in 0..5 {
            for x in 0..7 {
                let px = image.get(x, y).unwrap();
                for c in 0..3 {
                    let v = planes[c * 35 + (y * 7 + x) as usize];
                    assert_eq!(v, px[c] as f32, "{filter:?} ({x}, {y}) channel {c}");
                }
            }
        }
    }
}

#[test]
fn shrinking_a_constant_image_keeps_it_constant() {
    let image = RgbImage::filled(37, 23, [12, 140, 251]);
    for filter in FILTERS {
        for (w, h) in [(5, 7), (1, 1), (36, 22), (19, 2)] {
            let planes = resized(&image, w, h, filter);
            let n = (w * h) as usize;
            for (c, want) in [12.0f32, 140.0, 251.0].into_iter().enumerate() {
                for &v in &planes[c * n..(c + 1) * n] {
                    assert!((v - want).abs() < 1e-3, "{filter:?} {w}x{h}: {v} vs {want}");
                }
            }
        }
    }
}

#[test]
fn box_halving_a_checkerboard_gives_its_mean() {
    let mut image = RgbImage::filled(8, 6, [0; 3]);
    for y in 0..6 {
        for x in 0..8 {
            if (x + y) % 2 == 0 {
                image.put(x, y, [255, 100, 7]);
            }
        }
    }
    let planes = resized(&image, 4, 3, ResizeFilter::Box);
    for (c, want) in [127.5f32, 50.0, 3.5].into_iter().enumerate() {
        assert!(planes[c * 12..(c + 1) * 12].iter().all(|&v| v == want));
    }
}

#[test]
fn box_averages_partly_covered_pixels_by_area() {
    // 3 -> 2: the middle source pixel is split half and half.
    let mut image = RgbImage::filled(3, 1, [0; 3]);
    image.put(0, 0, [30, 30, 30]);
    image.put(1, 0, [90, 90, 90]);
    image.put(2, 0, [150, 150, 150]);
    let planes = resized(&image, 2, 1, ResizeFilter::Box);
    assert!((planes[0] - 50.0).abs() < 1e-4, "{}", planes[0]);
    assert!((planes[1] - 130.0).abs() < 1e-4, "{}", planes[1]);
}

#[test]
fn triangle_shrink_antialiases_instead_of_skipping() {
    // Alternating columns: a plain bilinear 4x shrink would sample only some of them; the
    // widened triangle averages them all, close to the mean.
    let mut image = RgbImage::filled(64, 4, [0; 3]);
    for y in 0..4 {
        for x in (0..64).step_by(2) {
            image.put(x, y, [255; 3]);
        }
    }
    let planes = resized(&image, 16, 1, ResizeFilter::Triangle);
    for &v in &planes[..16] {
        assert!((v - 127.5).abs() < 20.0, "{v}");
    }
}

#[test]
fn enlarging_one_pixel_gives_a_constant_image() {
    let image = RgbImage::filled(1, 1, [9, 99, 199]);
    for filter in FILTERS {
        let planes = resized(&image, 4, 4, filter);
        for (c, want) in [9.0f32, 99.0, 199.0].into_iter().enumerate() {
            assert!(planes[c * 16..(c + 1) * 16].iter().all(|&v| v == want));
        }
    }
}

#[test]
fn enlarging_interpolates_between_pixels() {
    let mut image = RgbImage::filled(2, 1, [0; 3]);
    image.put(1, 0, [200; 3]);
    let planes = resized(&image, 4, 1, ResizeFilter::Triangle);
    // Output centres at 0.25, 0.75, 1.25, 1.75 source pixels; PIL gives 0, 50, 150, 200.
    let want = [0.0, 50.0, 150.0, 200.0];
    for (v, w) in planes[..4].iter().zip(want) {
        assert!((v - w).abs() < 1e-3, "{:?}", &planes[..4]);
    }
}

#[test]
fn a_window_of_a_frame_gives_the_same_output_as_its_copy() {
    let frame = random_image(40, 30, 2, [0; 3], [255; 3]);
    let window = frame.view().window(5, 3, 17, 11);
    let copy = window.to_image();
    let target =
        ReinhardTarget::fit(random_image(9, 9, 3, [80, 20, 90], [230, 180, 240]).view()).unwrap();
    for filter in FILTERS {
        let mut config = Preprocess::field(9, 13);
        config.resize = filter;
        config.stain = StainNormalization::Reinhard(target.clone());
        let a = config.run_to_vec(window).unwrap();
        let b = config.run_to_vec(copy.view()).unwrap();
        assert_eq!(a, b);
    }
}

// --- normalization and masks -----------------------------------------------------------------

#[test]
fn a_known_pixel_maps_to_its_normalized_value() {
    let rgb = [10u8, 200, 31];
    let config = Preprocess::cell(4, 3);
    let out = config
        .run_to_vec(RgbImage::filled(6, 8, rgb).view())
        .unwrap();
    assert_eq!(out.len(), config.output_len());
    assert_eq!(config.output_len(), 36);
    for c in 0..3 {
        let want =
            (rgb[c] as f32 / 255.0 - ChannelNorm::IMAGENET.mean[c]) / ChannelNorm::IMAGENET.std[c];
        assert!(out[c * 12..(c + 1) * 12].iter().all(|&v| v == want));
    }
}

#[test]
fn masked_pixels_are_exactly_zero_and_only_they() {
    let image = RgbImage::filled(300, 300, [0, 0, 0]);
    for (size, x_from, y_from) in [(50u32, 40u32, 43u32), (224, 179, 193)] {
        let config = Preprocess::field(size, size);
        let out = config.run_to_vec(image.view()).unwrap();
        let plane = (size * size) as usize;
        for y in 0..size {
            for x in 0..size {
                let masked = x >= x_from && y >= y_from;
                for c in 0..3 {
                    let v = out[c * plane + (y * size + x) as usize];
                    if masked {
                        assert_eq!(v, 0.0, "({x}, {y})");
                    } else {
                        assert!(v < -1.5, "({x}, {y}): {v}");
                    }
                }
            }
        }
    }
}

#[test]
fn mask_pixels_follow_pixel_centres() {
    let rect = MaskRect::new(0.25, 0.0, 0.5, 1.0);
    assert_eq!(rect.pixels(8, 3), (2..4, 0..3));
    // Centres of pixels 1 and 2 of 5 sit at 0.3 and 0.5: only pixel 1 is inside [0.25, 0.5).
    assert_eq!(rect.pixels(5, 1), (1..2, 0..1));
    assert_eq!(MaskRect::new(0.5, 0.5, 0.5, 0.5).pixels(4, 4), (2..2, 2..2));
    assert_eq!(MaskRect::new(0.0, 0.0, 1.0, 1.0).pixels(7, 9), (0..7, 0..9));
}

#[test]
fn masked_pixels_take_no_part_in_stain_statistics() {
    let base = random_image(20, 20, 4, [90, 40, 110], [220, 170, 230]);
    let mut other = base.clone();
    // Paint the masked corner (x >= 16, y >= 18 at 20x20) a wildly different colour.
    for y in 17..20 {
        for x in 16..20 {
            other.put(x, y, [0, 255, 0]);
        }
    }
    let reference = random_image(12, 12, 5, [60, 20, 60], [200, 150, 255]);
    let stains = [
        StainNormalization::Reinhard(ReinhardTarget::fit(reference.view()).unwrap()),
        StainNormalization::Macenko(MacenkoTarget::standard()),
        StainNormalization::Grey,
    ];
    for stain in stains {
        let config = Preprocess {
            masks: vec![MaskRect::new(0.8, 0.85, 1.0, 1.0)],
            stain,
            ..Preprocess::cell(20, 20)
        };
        let a = config.run_to_vec(base.view()).unwrap();
        let b = config.run_to_vec(other.view()).unwrap();
        assert_eq!(a, b, "{:?}", config.stain);
    }
}

// --- grey ----------------------------------------------------------------------------------

/// The pixel of hue `tint` (its luma near 1) whose luma is `luma`, rounded to bytes.
fn tinted(luma: f32, tint: [f32; 3]) -> [u8; 3] {
    let unit = 0.299 * tint[0] + 0.587 * tint[1] + 0.114 * tint[2];
    core::array::from_fn(|c| (luma * tint[c] / unit).round().clamp(0.0, 255.0) as u8)
}

#[test]
fn grey_gives_each_pixel_its_luma_in_every_channel() {
    let config = Preprocess {
        stain: StainNormalization::Grey,
        normalize: ChannelNorm {
            mean: [0.0; 3],
            std: [1.0; 3],
        },
        ..Preprocess::cell(4, 4)
    };
    let out = config
        .run_to_vec(RgbImage::filled(4, 4, [200, 100, 50]).view())
        .unwrap();
    let luma = (0.299 * 200.0 + 0.587 * 100.0 + 0.114 * 50.0) / 255.0;
    for v in out {
        assert!((v - luma).abs() < 1e-6, "{v} against {luma}");
    }
}

#[test]
fn grey_reads_a_purple_cell_on_pink_and_a_brown_cell_on_yellow_alike() {
    // One picture, a dark round nucleus on a light background, stained two ways with the
    // same lightness: PBC's purple on pink, and Zheng's first lab's brown on yellow.
    let (mut purple, mut brown) = (
        RgbImage::filled(16, 16, [0; 3]),
        RgbImage::filled(16, 16, [0; 3]),
    );
    for y in 0..16u32 {
        for x in 0..16u32 {
            let r2 = (x as f32 - 7.5).powi(2) + (y as f32 - 7.5).powi(2);
            let (luma, [on_pink, on_yellow]) = if r2 < 25.0 {
                (
                    70.0 + 2.0 * (x + y) as f32,
                    [[0.9, 0.75, 1.9], [1.5, 0.8, 0.45]],
                )
            } else {
                (
                    215.0 - (x % 3) as f32,
                    [[1.1, 0.95, 1.05], [1.05, 1.02, 0.7]],
                )
            };
            purple.put(x, y, tinted(luma, on_pink));
            brown.put(x, y, tinted(luma, on_yellow));
        }
    }
    let difference = |stain: StainNormalization| {
        let config = Preprocess {
            stain,
            ..Preprocess::cell(16, 16)
        };
        let a = config.run_to_vec(purple.view()).unwrap();
        let b = config.run_to_vec(brown.view()).unwrap();
        a.iter()
            .zip(&b)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max)
    };
    // Rounding to bytes moves a pixel's luma by at most half a grey level: 0.002 over the
    // default spread of about 0.23.
    let grey = difference(StainNormalization::Grey);
    assert!(grey < 0.01, "grey: {grey}");
    assert!(difference(StainNormalization::None) > 1.0);
}

#[test]
fn stain_normalizations_keep_their_wire_numbers() {
    // The variant index is what a `.lsm` file stores: models already written depend on it.
    let first_byte = |stain: &StainNormalization| postcard::to_allocvec(stain).unwrap()[0];
    assert_eq!(first_byte(&StainNormalization::None), 0);
    assert_eq!(
        first_byte(&StainNormalization::Reinhard(ReinhardTarget::blood_smear())),
        1
    );
    assert_eq!(
        first_byte(&StainNormalization::Macenko(MacenkoTarget::standard())),
        2
    );
    assert_eq!(
        postcard::to_allocvec(&StainNormalization::Grey).unwrap(),
        [3]
    );
}

// --- Reinhard --------------------------------------------------------------------------------

#[test]
fn lab_round_trip_is_close() {
    for rgb in [
        [10.0, 200.0, 31.0],
        [255.0, 255.0, 255.0],
        [120.0, 60.0, 200.0],
    ] {
        let back = lab_to_rgb(rgb_to_lab(rgb));
        for c in 0..3 {
            assert!((back[c] - rgb[c]).abs() < 0.05, "{rgb:?} -> {back:?}");
        }
    }
}

fn lab_stats(planes: &[f32]) -> ([f32; 3], [f32; 3]) {
    let mut labs = planes.to_vec();
    let n = labs.len() / 3;
    for i in 0..n {
        let lab = rgb_to_lab([planes[i], planes[n + i], planes[2 * n + i]]);
        for c in 0..3 {
            labs[c * n + i] = lab[c];
        }
    }
    let mut mean = [0.0f32; 3];
    let mut std = [0.0f32; 3];
    for c in 0..3 {
        let values = &labs[c * n..(c + 1) * n];
        mean[c] = values.iter().sum::<f32>() / n as f32;
        std[c] = libm::sqrtf(
            values
                .iter()
                .map(|v| (v - mean[c]) * (v - mean[c]))
                .sum::<f32>()
                / n as f32,
        );
    }
    (mean, std)
}

#[test]
fn reinhard_moves_an_image_to_the_target_statistics() {
    let source = random_image(32, 24, 6, [150, 60, 120], [230, 150, 210]);
    let reference = random_image(20, 20, 7, [90, 70, 150], [170, 160, 230]);
    let target = ReinhardTarget::fit(reference.view()).unwrap();
    let config = Preprocess {
        stain: StainNormalization::Reinhard(target.clone()),
        ..plain(24, 32, ResizeFilter::Triangle)
    };
    let out = config.run_to_vec(source.view()).unwrap();
    let planes: Vec<f32> = out.iter().map(|v| v * 255.0).collect();
    let (mean, std) = lab_stats(&planes);
    for c in 0..3 {
        assert!(
            (mean[c] - target.mean[c]).abs() < 0.01,
            "{mean:?} vs {target:?}"
        );
        assert!(
            (std[c] - target.std[c]).abs() < 0.05 * target.std[c],
            "{std:?} vs {target:?}"
        );
    }
    // And the source really was elsewhere.
    let (before, _) = lab_stats(&planes_of(&source));
    assert!((0..3).any(|c| (before[c] - target.mean[c]).abs() > 0.05));
}

#[test]
fn reinhard_toward_its_own_statistics_changes_little() {
    let image = random_image(16, 16, 8, [60, 30, 90], [230, 200, 250]);
    let target = ReinhardTarget::fit(image.view()).unwrap();
    let config = Preprocess {
        stain: StainNormalization::Reinhard(target),
        ..plain(16, 16, ResizeFilter::Box)
    };
    let out = config.run_to_vec(image.view()).unwrap();
    for (v, w) in out.iter().zip(planes_of(&image)) {
        assert!((v * 255.0 - w).abs() < 0.1, "{} vs {w}", v * 255.0);
    }
}

#[test]
fn the_blood_smear_target_brings_two_labs_tints_of_one_smear_together() {
    let smear = synthetic_smear(48, 48, 21);
    // One lab's yellowish light, another's bluish and paler camera.
    let tinted = |gain: [f32; 3], lift: f32| {
        let mut image = smear.clone();
        for y in 0..image.height() {
            for x in 0..image.width() {
                let rgb = image.get(x, y).unwrap();
                let v = core::array::from_fn(|c| {
                    (f32::from(rgb[c]) * gain[c] + lift).clamp(0.0, 255.0) as u8
                });
                image.put(x, y, v);
            }
        }
        image
    };
    let yellow = tinted([1.0, 0.95, 0.7], 0.0);
    let blue = tinted([0.8, 0.85, 1.0], 30.0);
    let target = ReinhardTarget::blood_smear();
    target.validate().unwrap();
    let distance = |config: &Preprocess| {
        let a = config.run_to_vec(yellow.view()).unwrap();
        let b = config.run_to_vec(blue.view()).unwrap();
        a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
    };
    let raw = distance(&Preprocess::cell(32, 32));
    let normalized = distance(&Preprocess {
        stain: StainNormalization::Reinhard(target),
        ..Preprocess::cell(32, 32)
    });
    assert!(normalized < raw / 3.0, "{normalized} vs {raw}");
}

// --- Macenko ---------------------------------------------------------------------------------

// Ruifrok and Johnston's haematoxylin, and an eosin close to theirs but with enough red and
// blue absorption that eosin-rich pixels clear the 0.15 background threshold in every channel.
const H: [f32; 3] = [0.65, 0.70, 0.29];
const E: [f32; 3] = [0.25, 0.85, 0.46];

fn unit(v: [f32; 3]) -> [f32; 3] {
    let n = libm::sqrtf(v.iter().map(|x| x * x).sum());
    v.map(|x| x / n)
}

fn cosine(a: [f32; 3], b: [f32; 3]) -> f32 {
    let (a, b) = (unit(a), unit(b));
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// A smear-like mixture: background, haematoxylin-rich (nuclei), eosin-rich (cytoplasm, red
/// cells) and mixed pixels, quantized to 8 bits.
fn synthetic_smear(width: u32, height: u32, seed: u64) -> RgbImage {
    let (h, e) = (unit(H), unit(E));
    let mut rng = Rng(seed);
    let mut image = RgbImage::filled(width, height, [0; 3]);
    for y in 0..height {
        for x in 0..width {
            let kind = rng.unit();
            let (a, b) = (rng.unit(), rng.unit());
            let (ch, ce) = if kind < 0.2 {
                (0.0, 0.0)
            } else if kind < 0.55 {
                (0.4 + 1.4 * a, 0.1 * b)
            } else if kind < 0.85 {
                (0.1 * a, 0.7 + 0.5 * b)
            } else {
                (0.2 + 1.0 * a, 0.2 + 0.8 * b)
            };
            let rgb = if kind < 0.2 {
                [rng.byte(235, 250), rng.byte(235, 250), rng.byte(235, 250)]
            } else {
                let od = core::array::from_fn(|c| h[c] * ch + e[c] * ce);
                od_to_rgb(od).map(|v| libm::roundf(v) as u8)
            };
            image.put(x, y, rgb);
        }
    }
    image
}

#[test]
fn od_round_trip_is_close() {
    for v in [0.0f32, 1.0, 128.0, 254.0, 255.0] {
        let back = od_to_rgb(rgb_to_od([v; 3]));
        assert!((back[0] - v).abs() < 1e-3, "{v} -> {back:?}");
    }
}

#[test]
fn percentile_matches_numpy() {
    let mut values = [5.0f32, 1.0, 4.0, 2.0, 3.0];
    assert_eq!(percentile(&mut values, 50.0), 3.0);
    assert!((percentile(&mut values, 99.0) - 4.96).abs() < 1e-5);
    assert!((percentile(&mut values, 1.0) - 1.04).abs() < 1e-5);
    assert_eq!(percentile(&mut [7.0], 99.0), 7.0);
}

#[test]
fn macenko_fit_recovers_the_stains_in_order() {
    for seed in [9, 10, 11] {
        let image = synthetic_smear(64, 48, seed);
        let target = MacenkoTarget::fit(image.view()).unwrap();
        let [h, e] = target.stains;
        assert!(cosine(h, H) > 0.99, "H {h:?} vs {H:?}");
        assert!(cosine(e, E) > 0.99, "E {e:?} vs {E:?}");
        for stain in target.stains {
            assert!((stain.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4);
        }
        // The 99th percentile of amounts drawn up to 1.8 and 1.2 (background included).
        assert!(
            (1.5..1.9).contains(&target.max_concentration[0]),
            "{target:?}"
        );
        assert!(
            (1.0..1.3).contains(&target.max_concentration[1]),
            "{target:?}"
        );
    }
}

#[test]
fn macenko_toward_its_own_target_changes_little() {
    let image = synthetic_smear(40, 40, 12);
    let target = MacenkoTarget::fit(image.view()).unwrap();
    let config = Preprocess {
        stain: StainNormalization::Macenko(target),
        ..plain(40, 40, ResizeFilter::Triangle)
    };
    let out = config.run_to_vec(image.view()).unwrap();
    let before = planes_of(&image);
    let diffs: Vec<f32> = out
        .iter()
        .zip(&before)
        .map(|(v, w)| (v * 255.0 - w).abs())
        .collect();
    let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
    let max = diffs.iter().copied().fold(0.0, f32::max);
    assert!(mean < 2.0, "mean change {mean}");
    assert!(max < 20.0, "max change {max}");
}

#[test]
fn macenko_moves_stains_toward_the_target() {
    let image = synthetic_smear(40, 40, 13);
    let target = MacenkoTarget::standard();
    let config = Preprocess {
        stain: StainNormalization::Macenko(target.clone()),
        ..plain(40, 40, ResizeFilter::Box)
    };
    let out = config.run_to_vec(image.view()).unwrap();
    let normalized = RgbImage::from_raw(
        40,
        40,
        (0..1600)
            .flat_map(|i| (0..3).map(move |c| (c, i)))
            .map(|(c, i)| libm::roundf(out[c * 1600 + i] * 255.0) as u8)
            .collect(),
    )
    .unwrap();
    let refit = MacenkoTarget::fit(normalized.view()).unwrap();
    for k in 0..2 {
        assert!(
            cosine(refit.stains[k], target.stains[k]) > 0.99,
            "{refit:?} vs {target:?}"
        );
        let ratio = refit.max_concentration[k] / target.max_concentration[k];
        assert!((0.9..1.1).contains(&ratio), "{refit:?} vs {target:?}");
    }
}

#[test]
fn macenko_passes_background_through_unchanged() {
    let mut image = random_image(30, 30, 14, [225; 3], [255; 3]);
    // A few stained pixels, below the 16 needed.
    for x in 0..10 {
        image.put(x, 0, [120, 40, 140]);
    }
    let with = Preprocess {
        stain: StainNormalization::Macenko(MacenkoTarget::standard()),
        ..Preprocess::cell(30, 30)
    };
    let without = Preprocess::cell(30, 30);
    assert_eq!(
        with.run_to_vec(image.view()).unwrap(),
        without.run_to_vec(image.view()).unwrap()
    );
    // A flat stained image has a single stain colour: also unchanged.
    let flat = RgbImage::filled(10, 10, [120, 40, 140]);
    assert_eq!(
        with.run_to_vec(flat.view()).unwrap(),
        without.run_to_vec(flat.view()).unwrap()
    );
}

#[test]
fn stain_estimate_reports_why_it_gives_up() {
    let planes = planes_of(&RgbImage::filled(10, 10, [250; 3]));
    let source = Mapped(
        PlanePixels {
            planes: &planes,
            mask: &[],
        },
        rgb_to_od,
    );
    assert_eq!(
        estimate_stains(&source, &mut Vec::new()).unwrap_err(),
        super::stain::Unfit::TooFew {
            found: 0,
            needed: 16
        }
    );
    // 1 % of 4000 pixels is 40.
    let planes = vec![100.0; 3 * 4000];
    let mut count = 0;
    PlanePixels {
        planes: &planes,
        mask: &[],
    }
    .for_each(|_| count += 1);
    assert_eq!(count, 4000);
    let mut sparse = vec![250.0f32; 3 * 4000];
    for i in 0..30 {
        sparse[i] = 100.0;
        sparse[4000 + i] = 100.0;
        sparse[8000 + i] = 100.0;
    }
    let source = Mapped(
        PlanePixels {
            planes: &sparse,
            mask: &[],
        },
        rgb_to_od,
    );
    assert_eq!(
        estimate_stains(&source, &mut Vec::new()).unwrap_err(),
        super::stain::Unfit::TooFew {
            found: 30,
            needed: 40
        }
    );
}

// --- errors ----------------------------------------------------------------------------------

#[test]
fn every_error_variant_comes_from_some_input() {
    let image = RgbImage::filled(8, 8, [100; 3]);
    let empty = RgbImage::filled(0, 5, [0; 3]);
    let config = Preprocess::field(4, 4);

    assert_eq!(
        config.run_to_vec(empty.view()),
        Err(PreprocessError::EmptyImage {
            width: 0,
            height: 5
        })
    );
    assert!(matches!(
        ReinhardTarget::fit(empty.view()),
        Err(PreprocessError::EmptyImage { .. })
    ));
    assert!(matches!(
        MacenkoTarget::fit(empty.view()),
        Err(PreprocessError::EmptyImage { .. })
    ));

    assert_eq!(
        config.run(image.view(), &mut [0.0; 47]),
        Err(PreprocessError::OutputLength {
            expected: 48,
            found: 47
        })
    );

    let mut bad = config.clone();
    bad.width = 0;
    assert_eq!(
        bad.run_to_vec(image.view()),
        Err(PreprocessError::ZeroSize {
            height: 4,
            width: 0
        })
    );
    bad.width = Preprocess::MAX_SIDE + 1;
    bad.height = u32::MAX;
    assert!(matches!(
        bad.run_to_vec(image.view()),
        Err(PreprocessError::TooLarge { .. })
    ));

    for (mean, std) in [
        (0.5, 0.0),
        (0.5, -1.0),
        (0.5, f32::NAN),
        (f32::INFINITY, 1.0),
    ] {
        let mut bad = config.clone();
        bad.normalize.mean[2] = mean;
        bad.normalize.std[2] = std;
        assert!(matches!(
            bad.run(image.view(), &mut [0.0; 48]),
            Err(PreprocessError::InvalidChannelNorm { channel: 2, .. })
        ));
    }

    for rect in [
        MaskRect::new(-0.1, 0.0, 1.0, 1.0),
        MaskRect::new(0.0, 0.0, 1.5, 1.0),
        MaskRect::new(0.6, 0.0, 0.5, 1.0),
        MaskRect::new(0.0, 0.9, 1.0, 0.1),
        MaskRect::new(0.0, f32::NAN, 1.0, 1.0),
    ] {
        let mut bad = config.clone();
        bad.masks.push(rect);
        assert!(matches!(
            bad.run_to_vec(image.view()),
            Err(PreprocessError::InvalidMask { index: 1, .. })
        ));
    }

    for std in [0.0, f32::NAN] {
        let mut bad = config.clone();
        bad.stain = StainNormalization::Reinhard(ReinhardTarget {
            mean: [0.0; 3],
            std: [0.1, std, 0.1],
        });
        assert!(matches!(
            bad.run_to_vec(image.view()),
            Err(PreprocessError::InvalidReinhardTarget { channel: 1, .. })
        ));
    }

    let standard = MacenkoTarget::standard();
    let mut nan = standard.clone();
    nan.stains[0][1] = f32::NAN;
    let mut zero = standard.clone();
    zero.stains[1] = [0.0; 3];
    let mut negative = standard.clone();
    negative.max_concentration[1] = -1.0;
    for target in [nan, zero, negative] {
        let mut bad = config.clone();
        bad.stain = StainNormalization::Macenko(target);
        assert!(matches!(
            bad.run_to_vec(image.view()),
            Err(PreprocessError::InvalidMacenkoTarget { .. })
        ));
    }

    let white = RgbImage::filled(20, 20, [245; 3]);
    assert_eq!(
        MacenkoTarget::fit(white.view()),
        Err(PreprocessError::TooFewStainedPixels {
            found: 0,
            needed: 16
        })
    );

    assert!(matches!(
        ReinhardTarget::fit(image.view()),
        Err(PreprocessError::DegenerateReference { .. })
    ));
    let flat_stain = RgbImage::filled(20, 20, [120, 40, 140]);
    assert!(matches!(
        MacenkoTarget::fit(flat_stain.view()),
        Err(PreprocessError::DegenerateReference { .. })
    ));
}

#[test]
fn configurations_survive_postcard() {
    let mut config = Preprocess::field(224, 224);
    config.stain = StainNormalization::Macenko(MacenkoTarget::standard());
    let bytes = postcard::to_allocvec(&config).unwrap();
    assert_eq!(postcard::from_bytes::<Preprocess>(&bytes).unwrap(), config);
    config.stain = StainNormalization::Reinhard(ReinhardTarget {
        mean: [8.0, 0.01, -0.02],
        std: [0.3, 0.05, 0.02],
    });
    config.resize = ResizeFilter::Box;
    let bytes = postcard::to_allocvec(&config).unwrap();
    assert_eq!(postcard::from_bytes::<Preprocess>(&bytes).unwrap(), config);
}

#[test]
fn scratch_reuse_gives_the_same_output() {
    let mut scratch = Scratch::new();
    let config = Preprocess {
        stain: StainNormalization::Macenko(MacenkoTarget::standard()),
        ..Preprocess::field(24, 24)
    };
    for seed in [15, 16] {
        let image = synthetic_smear(50 + seed as u32, 40, seed);
        let mut a = vec![0.0; config.output_len()];
        config
            .run_with_scratch(image.view(), &mut a, &mut scratch)
            .unwrap();
        assert_eq!(a, config.run_to_vec(image.view()).unwrap());
    }
}

// --- properties ------------------------------------------------------------------------------

fn any_stain() -> impl Strategy<Value = StainNormalization> {
    prop_oneof![
        Just(StainNormalization::None),
        Just(StainNormalization::Grey),
        (
            prop::array::uniform3(-3.0f32..3.0),
            prop::array::uniform3(0.001f32..2.0)
        )
            .prop_map(|(mean, std)| StainNormalization::Reinhard(ReinhardTarget { mean, std })),
        Just(StainNormalization::Macenko(MacenkoTarget::standard())),
        (
            prop::array::uniform2(prop::array::uniform3(-1.0f32..1.0)),
            prop::array::uniform2(0.01f32..5.0)
        )
            .prop_filter("zero stain", |(stains, _)| stains.iter().all(|s| s
                .iter()
                .map(|x| x * x)
                .sum::<f32>()
                > 1e-3))
            .prop_map(|(stains, max_concentration)| {
                StainNormalization::Macenko(MacenkoTarget {
                    stains,
                    max_concentration,
                })
            }),
    ]
}

fn any_mask() -> impl Strategy<Value = MaskRect> {
    (0.0f32..=1.0, 0.0f32..=1.0, 0.0f32..=1.0, 0.0f32..=1.0)
        .prop_map(|(a, b, c, d)| MaskRect::new(a.min(c), b.min(d), a.max(c), b.max(d)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn run_is_total_and_finite(
        (sw, sh, pixels) in (1u32..64, 1u32..64).prop_flat_map(|(w, h)| {
            (Just(w), Just(h), prop::collection::vec(any::<u8>(), (w * h * 3) as usize))
        }),
        ow in 1u32..32,
        oh in 1u32..32,
        filter in prop_oneof![Just(ResizeFilter::Triangle), Just(ResizeFilter::Box)],
        stain in any_stain(),
        masks in prop::collection::vec(any_mask(), 0..3),
        stained in any::<bool>(),
    ) {
        let mut image = RgbImage::from_raw(sw, sh, pixels).unwrap();
        if stained {
            // Random bytes are mostly too bright to count as stained; darken them so the
            // Macenko path is exercised too.
            for v in image.as_raw_mut() {
                *v /= 2;
            }
        }
        let config = Preprocess { height: oh, width: ow, resize: filter, masks, stain,
            normalize: ChannelNorm::IMAGENET };
        let out = config.run_to_vec(image.view()).unwrap();
        prop_assert_eq!(out.len(), 3 * (ow * oh) as usize);
        prop_assert!(out.iter().all(|v| v.is_finite()));
        // Every value is a normalized 0..255 intensity (or a masked 0.0).
        for (i, v) in out.iter().enumerate() {
            let c = i / (ow * oh) as usize;
            let (m, s) = (ChannelNorm::IMAGENET.mean[c], ChannelNorm::IMAGENET.std[c]);
            prop_assert!(*v >= (0.0 - m) / s - 1e-4 && *v <= (1.0 - m) / s + 1e-4, "{}", v);
        }
    }

    #[test]
    fn fits_never_panic(
        (w, h, pixels) in (1u32..24, 1u32..24).prop_flat_map(|(w, h)| {
            (Just(w), Just(h), prop::collection::vec(any::<u8>(), (w * h * 3) as usize))
        }),
    ) {
        let image = RgbImage::from_raw(w, h, pixels).unwrap();
        if let Ok(target) = ReinhardTarget::fit(image.view()) {
            prop_assert!(target.validate().is_ok());
        }
        if let Ok(target) = MacenkoTarget::fit(image.view()) {
            prop_assert!(target.validate().is_ok());
        }
    }
}
