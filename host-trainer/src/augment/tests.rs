use leukoscope_core::synth::{self, FieldOptions};

use super::*;

/// A synthetic 224x224 field, as the 4-class data looks.
fn field(class: u32, seed: u64) -> RgbImage {
    synth::field(class, seed, &FieldOptions::default())
        .unwrap()
        .image
}

/// A small image whose every pixel is distinct.
fn numbered(width: u32, height: u32) -> RgbImage {
    let data = (0..width * height)
        .flat_map(|i| [(i % 251) as u8, (i / 251) as u8, (i * 7 % 256) as u8])
        .collect();
    RgbImage::from_raw(width, height, data).unwrap()
}

fn sorted_pixels(image: &RgbImage) -> Vec<[u8; 3]> {
    let mut pixels: Vec<[u8; 3]> = image
        .as_raw()
        .chunks_exact(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    pixels.sort_unstable();
    pixels
}

fn max_abs_diff(a: &RgbImage, b: &RgbImage) -> u8 {
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

fn only(transform: impl FnOnce(&mut Transform)) -> Transform {
    let mut t = Transform::IDENTITY;
    transform(&mut t);
    t
}

#[test]
fn none_is_the_identity() {
    let image = field(1, 7);
    for index in 0..8 {
        let out = Augment::none().apply(&image, &mut sample_rng(1, 0, index));
        assert_eq!(out, image);
    }
    assert_eq!(Transform::IDENTITY.apply(&image), image);
    // A recipe whose amplitudes are all zero draws only neutral transforms.
    let sample = Augment::none().sample(&mut sample_rng(3, 4, 5));
    assert_eq!(sample, Transform::IDENTITY);
}

#[test]
fn flips_and_quarter_turns_are_invertible_permutations() {
    for (w, h) in [(5, 3), (4, 4)] {
        let image = numbered(w, h);
        let pixels = sorted_pixels(&image);
        let mut seen = vec![image.clone()];
        for turned in [
            flip_horizontal(&image),
            flip_vertical(&image),
            rotate_quarter(&image, 1),
            rotate_quarter(&image, 2),
            rotate_quarter(&image, 3),
        ] {
            assert_eq!(
                sorted_pixels(&turned),
                pixels,
                "a permutation of the pixels"
            );
            assert!(
                !seen.contains(&turned),
                "each symmetry moves pixels differently"
            );
            seen.push(turned);
        }
        assert_eq!(flip_horizontal(&flip_horizontal(&image)), image);
        assert_eq!(flip_vertical(&flip_vertical(&image)), image);
        for k in 0..4 {
            assert_eq!(rotate_quarter(&rotate_quarter(&image, k), 4 - k), image);
        }
        assert_eq!(rotate_quarter(&image, 4), image);
        assert_eq!(
            (
                rotate_quarter(&image, 1).width(),
                rotate_quarter(&image, 1).height()
            ),
            (h, w)
        );
        // Counterclockwise: the top-right pixel goes to the top left.
        assert_eq!(rotate_quarter(&image, 1).get(0, 0), image.get(w - 1, 0));
        assert_eq!(flip_horizontal(&image).get(0, 0), image.get(w - 1, 0));
        assert_eq!(flip_vertical(&image).get(0, 0), image.get(0, h - 1));
    }
    // A transform never changes a non-square image's size: odd turns become half turns.
    let wide = numbered(6, 3);
    for turns in 0..4 {
        let out = only(|t| t.quarter_turns = turns).apply(&wide);
        assert_eq!((out.width(), out.height()), (6, 3));
        assert_eq!(sorted_pixels(&out), sorted_pixels(&wide));
    }
}

#[test]
fn a_warp_without_rotation_or_zoom_is_the_identity() {
    for image in [field(0, 3), numbered(7, 5)] {
        assert_eq!(geometry::warp(&image, 0.0, 1.0), image);
    }
}

#[test]
fn free_rotation_by_right_angles_matches_the_exact_turns() {
    let image = field(2, 11);
    for (degrees, turns) in [(90.0, 1), (180.0, 2), (-90.0, 3), (270.0, 3)] {
        let free = geometry::warp(&image, degrees, 1.0);
        let exact = rotate_quarter(&image, turns);
        // Pixel centres land on pixel centres; only sin/cos rounding separates the two.
        assert!(
            max_abs_diff(&free, &exact) <= 1,
            "{degrees} degrees vs {turns} turns"
        );
    }
}

/// Dark pixels of a grey image with one dark disc of radius `radius` at its centre.
fn disc_image(size: u32, radius: f32) -> RgbImage {
    let mut image = RgbImage::filled(size, size, [220, 220, 220]);
    let c = size as f32 / 2.0;
    for y in 0..size {
        for x in 0..size {
            let (dx, dy) = (x as f32 + 0.5 - c, y as f32 + 0.5 - c);
            if dx * dx + dy * dy <= radius * radius {
                image.put(x, y, [90, 40, 120]);
            }
        }
    }
    image
}

fn dark_pixels(image: &RgbImage) -> usize {
    image
        .as_raw()
        .chunks_exact(3)
        .filter(|p| p[0] < 155)
        .count()
}

#[test]
fn zoom_scales_areas_by_its_square() {
    let image = disc_image(160, 30.0);
    let before = dark_pixels(&image) as f32;
    for zoom in [0.8f32, 1.25, 1.5] {
        let after = dark_pixels(&geometry::warp(&image, 17.0, zoom)) as f32;
        let ratio = after / before;
        assert!(
            (ratio / (zoom * zoom) - 1.0).abs() < 0.03,
            "zoom {zoom}: area ratio {ratio}, expected {}",
            zoom * zoom
        );
    }
}

#[test]
fn the_outside_is_filled_by_reflection_not_black() {
    let image = field(3, 5);
    let min = |img: &RgbImage, ch: usize| {
        img.as_raw()
            .iter()
            .skip(ch)
            .step_by(3)
            .copied()
            .min()
            .unwrap()
    };
    for (degrees, zoom) in [(45.0, 1.0), (30.0, 0.7), (-60.0, 0.9), (10.0, 0.3)] {
        let out = geometry::warp(&image, degrees, zoom);
        // Bilinear mixes of source pixels: no channel can fall below the source's darkest.
        for ch in 0..3 {
            assert!(
                min(&out, ch) >= min(&image, ch),
                "{degrees} deg, zoom {zoom}: darker than the source"
            );
        }
        let s = image.width() - 1;
        for (x, y) in [(0, 0), (s, 0), (0, s), (s, s)] {
            let p = out.get(x, y).unwrap();
            assert!(p.iter().all(|&v| v > 60), "corner ({x}, {y}) is {p:?}");
        }
    }
    // Just past an edge reads the mirror image: the pixel half a turn from a corner sits
    // next to its own reflection.
    assert_eq!(geometry::reflect(-1, 5), 0);
    assert_eq!(geometry::reflect(-5, 5), 4);
    assert_eq!(geometry::reflect(5, 5), 4);
    assert_eq!(geometry::reflect(9, 5), 0);
    assert_eq!(geometry::reflect(10, 5), 0);
    assert_eq!(geometry::reflect(-11, 5), 0);
    assert_eq!(geometry::reflect(23, 5), 3);
}

/// A grey background with a purple nucleus-like block and a pink eosin-like block.
fn stain_card() -> RgbImage {
    let mut image = RgbImage::filled(40, 20, [232, 232, 232]);
    for y in 5..15 {
        for x in 5..15 {
            image.put(x, y, [110, 70, 170]);
            image.put(x + 20, y, [225, 150, 180]);
        }
    }
    image
}

#[test]
fn stain_jitter_is_neutral_at_zero_and_keeps_grey_grey() {
    let image = stain_card();
    // Through the full optical-density round trip, not just the skip.
    let mut same = image.clone();
    colour::stain_jitter(&mut same, [1.0; 3], [0.0; 3]);
    assert_eq!(same, image);
    let recipe = Augment {
        stain_jitter: 0.0,
        ..Augment::none()
    };
    assert_eq!(recipe.apply(&image, &mut sample_rng(0, 0, 0)), image);

    let mut changed = image.clone();
    colour::stain_jitter(&mut changed, [1.3, 0.7, 1.0], [0.0; 3]);
    let nucleus = |img: &RgbImage| img.get(8, 8).unwrap();
    let moved: u32 = (0..3)
        .map(|c| u32::from(nucleus(&changed)[c].abs_diff(nucleus(&image)[c])))
        .sum();
    assert!(
        moved > 20,
        "the stained block moved by only {moved}: {:?}",
        nucleus(&changed)
    );

    // At the default amplitude the background stays near grey (its channels within a few
    // levels of each other; its level may move about as much as the brightness jitter moves
    // it) while the nucleus changes.
    let default = Augment {
        stain_jitter: Augment::default_recipe().stain_jitter,
        ..Augment::none()
    };
    let (mut worst_spread, mut worst_shift, mut nucleus_moved) = (0, 0, 0);
    for index in 0..200 {
        let out = default.apply(&image, &mut sample_rng(9, 0, index));
        let bg = out.get(1, 1).unwrap();
        worst_spread = worst_spread.max(bg.iter().max().unwrap() - bg.iter().min().unwrap());
        worst_shift = worst_shift.max(bg.iter().map(|v| v.abs_diff(232)).max().unwrap());
        let moved: u32 = (0..3)
            .map(|c| u32::from(nucleus(&out)[c].abs_diff(nucleus(&image)[c])))
            .sum();
        nucleus_moved += u32::from(moved >= 10);
    }
    assert!(
        worst_spread <= 12,
        "grey background spread to {worst_spread} levels"
    );
    assert!(
        worst_shift <= 25,
        "grey background moved by {worst_shift} levels"
    );
    assert!(
        nucleus_moved >= 100,
        "only {nucleus_moved} of 200 nuclei changed visibly"
    );
    // Even the strongest jitter the validation allows keeps the background light.
    let strong = Augment {
        stain_jitter: 1.0,
        ..Augment::none()
    };
    let mut changed_any = false;
    for index in 0..50 {
        let out = strong.apply(&image, &mut sample_rng(9, 0, index));
        let bg = out.get(1, 1).unwrap();
        assert!(
            bg.iter().all(|&v| v >= 180),
            "background {bg:?} turned dark"
        );
        changed_any |= out != image;
    }
    eprintln!(
        "stain background: spread {worst_spread}, shift {worst_shift}, nuclei moved {nucleus_moved}"
    );
    assert!(changed_any);
}

#[test]
fn colour_jitter_keeps_greys_grey_and_moves_colours() {
    let image = stain_card();
    let mut out = image.clone();
    colour::colour_jitter(&mut out, 1.0, 1.0, 1.0, 0.0);
    assert_eq!(out, image, "neutral factors change nothing");

    let mut out = image.clone();
    colour::colour_jitter(&mut out, 0.9, 1.2, 0.6, 30.0);
    let bg = out.get(1, 1).unwrap();
    assert!(
        bg.iter().max().unwrap() - bg.iter().min().unwrap() <= 1,
        "{bg:?}"
    );
    assert!(bg[0] < 232, "brightness 0.9 darkens the background: {bg:?}");
    assert!(max_abs_diff(&out, &image) > 20);

    // Zero saturation leaves only greys.
    let mut grey = image.clone();
    colour::colour_jitter(&mut grey, 1.0, 1.0, 0.0, 0.0);
    for p in grey.as_raw().chunks_exact(3) {
        assert!(
            p.iter().max().unwrap() - p.iter().min().unwrap() <= 1,
            "{p:?}"
        );
    }
}

#[test]
fn blur_smooths_and_keeps_flat_images_flat() {
    let flat = RgbImage::filled(9, 7, [120, 130, 140]);
    let mut out = flat.clone();
    colour::gaussian_blur(&mut out, 1.5);
    assert_eq!(out, flat);

    let image = field(0, 21);
    let mut blurred = image.clone();
    colour::gaussian_blur(&mut blurred, 1.0);
    // Neighbouring pixels get closer: the summed horizontal gradient drops.
    let roughness = |img: &RgbImage| -> u64 {
        img.as_raw()
            .windows(4)
            .map(|w| u64::from(w[0].abs_diff(w[3])))
            .sum()
    };
    assert!(roughness(&blurred) * 10 < roughness(&image) * 8);
    // The mean level survives (mirrored edges lose nothing).
    let mean = |img: &RgbImage| {
        img.as_raw().iter().map(|&v| f64::from(v)).sum::<f64>() / img.as_raw().len() as f64
    };
    assert!((mean(&blurred) - mean(&image)).abs() < 0.5);

    // Tiny images and absurd sigmas neither panic nor change the size.
    for (w, h) in [(1, 1), (2, 5), (0, 0)] {
        let mut small = numbered(w, h);
        colour::gaussian_blur(&mut small, 50.0);
        assert_eq!((small.width(), small.height()), (w, h));
    }
}

#[test]
fn masks_keep_the_scale_bar_from_travelling() {
    // A bright red bar in the bottom-right corner, where the 4-class images carry theirs.
    let mut image = field(1, 2);
    let size = image.width();
    for y in size - 16..size - 8 {
        for x in size - 28..size - 6 {
            image.put(x, y, [250, 0, 0]);
        }
    }
    let red = |img: &RgbImage| {
        img.as_raw()
            .chunks_exact(3)
            .filter(|p| p[0] > 200 && p[1] < 60)
            .count()
    };
    let recipe = Augment {
        rotation_degrees: 180.0,
        flips: true,
        ..Augment::none()
    };
    let masked = recipe.clone().with_masks(&[MaskRect::FIELD_SCALE_BAR]);
    let mut unmasked_red = 0;
    for index in 0..10 {
        unmasked_red += red(&recipe.apply(&image, &mut sample_rng(4, 0, index)));
        assert_eq!(red(&masked.apply(&image, &mut sample_rng(4, 0, index))), 0);
    }
    assert!(unmasked_red > 0, "without the mask the bar shows up turned");

    // The fill continues the smear across the bar's inner (top and left) edges, mostly the
    // mirror image across the nearer one, and nothing outside the bar changes.
    let mut filled = image.clone();
    geometry::fill_masks(&mut filled, &[MaskRect::FIELD_SCALE_BAR]);
    let (xs, ys) = MaskRect::FIELD_SCALE_BAR.pixels(size, size);
    let close = |a: Option<[u8; 3]>, b: Option<[u8; 3]>| {
        let (a, b) = (a.unwrap(), b.unwrap());
        (0..3).all(|c| a[c].abs_diff(b[c]) <= 4)
    };
    for y in 0..size {
        for x in 0..size {
            let (dx, dy) = (x.wrapping_sub(xs.start), y.wrapping_sub(ys.start));
            if !(xs.contains(&x) && ys.contains(&y)) {
                assert_eq!(filled.get(x, y), image.get(x, y), "({x}, {y}) changed");
            } else if dy == 0 && dx >= 8 {
                let mirror = image.get(x, ys.start - 1);
                assert!(close(filled.get(x, y), mirror), "top edge at ({x}, {y})");
            } else if dx == 0 && dy >= 8 {
                let mirror = image.get(xs.start - 1, y);
                assert!(close(filled.get(x, y), mirror), "left edge at ({x}, {y})");
            }
        }
    }
    // A mask along a whole side mirrors exactly across its one inner edge; a mask over
    // everything leaves one flat colour.
    let mut left = image.clone();
    geometry::fill_masks(&mut left, &[MaskRect::new(0.0, 0.0, 0.1, 1.0)]);
    let edge = MaskRect::new(0.0, 0.0, 0.1, 1.0).pixels(size, size).0.end;
    for y in [0, 50, size - 1] {
        assert_eq!(left.get(edge - 1, y), image.get(edge, y));
        assert_eq!(left.get(0, y), image.get(2 * edge - 1, y));
    }
    let mut everything = image.clone();
    geometry::fill_masks(&mut everything, &[MaskRect::new(0.0, 0.0, 1.0, 1.0)]);
    assert_eq!(
        sorted_pixels(&everything).first(),
        sorted_pixels(&everything).last()
    );
}

#[test]
fn the_same_sample_always_gets_the_same_augmentation() {
    let image = field(0, 1);
    let recipe = Augment::default_recipe().with_masks(&[MaskRect::FIELD_SCALE_BAR]);
    let a = recipe.apply(&image, &mut sample_rng(42, 3, 17));
    let b = recipe.apply(&image, &mut sample_rng(42, 3, 17));
    assert_eq!(a, b);
    assert_ne!(a, recipe.apply(&image, &mut sample_rng(42, 3, 18)));
    assert_ne!(a, recipe.apply(&image, &mut sample_rng(42, 4, 17)));
    assert_ne!(a, recipe.apply(&image, &mut sample_rng(43, 3, 17)));
    // Whichever thread does it.
    let threaded = std::thread::spawn(move || recipe.apply(&image, &mut sample_rng(42, 3, 17)))
        .join()
        .unwrap();
    assert_eq!(a, threaded);
    // Turning a component off leaves the others' draws alone.
    let full = Augment::default_recipe().sample(&mut sample_rng(1, 2, 3));
    let no_stain = Augment {
        stain_jitter: 0.0,
        ..Augment::default_recipe()
    }
    .sample(&mut sample_rng(1, 2, 3));
    assert_eq!(full.rotation_degrees, no_stain.rotation_degrees);
    assert_eq!(full.hue_degrees, no_stain.hue_degrees);
    assert_eq!(full.blur_sigma, no_stain.blur_sigma);
}

#[test]
fn draws_cover_their_ranges() {
    let recipe = Augment::default_recipe();
    let draws: Vec<Transform> = (0..2000)
        .map(|i| recipe.sample(&mut sample_rng(5, 0, i)))
        .collect();
    let turns: Vec<usize> = (0..4)
        .map(|k| draws.iter().filter(|t| t.quarter_turns == k).count())
        .collect();
    assert!(turns.iter().all(|&n| (400..600).contains(&n)), "{turns:?}");
    let flips = draws.iter().filter(|t| t.flip_horizontal).count();
    assert!((900..1100).contains(&flips));
    assert!(
        draws
            .iter()
            .all(|t| t.rotation_degrees.abs() <= 45.0 && (0.9..=1.1).contains(&t.zoom))
    );
    let zoomed_in = draws.iter().filter(|t| t.zoom > 1.0).count();
    assert!(
        (900..1100).contains(&zoomed_in),
        "log-uniform zoom is symmetric: {zoomed_in}"
    );
    let blurred: Vec<f32> = draws
        .iter()
        .map(|t| t.blur_sigma)
        .filter(|&s| s > 0.0)
        .collect();
    assert!((300..500).contains(&blurred.len()), "{}", blurred.len());
    assert!(blurred.iter().all(|s| (0.3..=1.0).contains(s)));
    assert!(
        draws
            .iter()
            .all(|t| t.stain_scale.iter().all(|s| (0.7..=1.3).contains(s)))
    );
    assert!(draws.iter().all(|t| t.hue_degrees.abs() <= 6.0));
    // The default recipe keeps the camera's white balance.
    assert!(draws.iter().all(|t| t.channel_gain == [1.0; 3]));
}

#[test]
fn white_balance_tints_the_glass_without_clipping_and_leaves_other_draws_alone() {
    let recipe: Augment = "flip,turn,rotate,zoom,stain,colour,blur,balance"
        .parse()
        .unwrap();
    assert_eq!(recipe.white_balance, Augment::WHITE_BALANCE);
    recipe.validate().unwrap();
    let draws: Vec<Transform> = (0..2000)
        .map(|i| recipe.sample(&mut sample_rng(5, 0, i)))
        .collect();
    let low = (1.0 - Augment::WHITE_BALANCE) / (1.0 + Augment::WHITE_BALANCE);
    for t in &draws {
        // The brightest channel keeps its gain; the others lose up to 0.6 of theirs.
        assert_eq!(t.channel_gain.iter().copied().fold(0.0, f32::max), 1.0);
        assert!(t.channel_gain.iter().all(|&g| g >= low - 1e-6), "{t}");
    }
    // Yellow glass as Zheng's first set has (blue 0.76 of red) is among the draws.
    assert!(
        draws
            .iter()
            .any(|t| t.channel_gain[0] == 1.0 && t.channel_gain[2] < 0.76)
    );
    // Every other draw is what the recipe without it draws.
    let without = Augment {
        white_balance: 0.0,
        ..recipe.clone()
    };
    for i in 0..50 {
        let (a, b) = (
            recipe.sample(&mut sample_rng(9, 1, i)),
            without.sample(&mut sample_rng(9, 1, i)),
        );
        assert_eq!(
            Transform {
                channel_gain: [1.0; 3],
                ..a
            },
            b
        );
    }

    // White glass takes the gains' tint; black stays black.
    let mut image = RgbImage::filled(4, 2, [250, 250, 250]);
    image.put(0, 0, [0, 0, 0]);
    let tinted = Transform {
        channel_gain: [1.0, 0.9, 0.7],
        ..Transform::IDENTITY
    }
    .apply(&image);
    assert_eq!(tinted.get(1, 1), Some([250, 225, 175]));
    assert_eq!(tinted.get(0, 0), Some([0, 0, 0]));
}

#[test]
fn recipes_parse_by_name_and_by_component() {
    assert_eq!("none".parse::<Augment>().unwrap(), Augment::none());
    assert_eq!("studies".parse::<Augment>().unwrap(), Augment::studies());
    assert_eq!(
        " Default ".parse::<Augment>().unwrap(),
        Augment::default_recipe()
    );
    let full = Augment::default_recipe();
    let all: Augment = "flip,turn,rotate,zoom,stain,colour,blur".parse().unwrap();
    assert_eq!(all, full);
    let some: Augment = "flip, Rotate ,color,".parse().unwrap();
    assert_eq!(
        some,
        Augment {
            flips: true,
            rotation_degrees: full.rotation_degrees,
            brightness: full.brightness,
            contrast: full.contrast,
            saturation: full.saturation,
            hue_degrees: full.hue_degrees,
            ..Augment::none()
        }
    );
    assert_eq!("".parse::<Augment>(), Err(ParseAugmentError::Empty));
    assert_eq!(" , ".parse::<Augment>(), Err(ParseAugmentError::Empty));
    assert_eq!(
        "flip,Sharpen".parse::<Augment>(),
        Err(ParseAugmentError::UnknownWord {
            word: "Sharpen".into()
        })
    );
    let err = "flip,sharpen".parse::<Augment>().unwrap_err();
    assert_eq!(
        err,
        ParseAugmentError::UnknownWord {
            word: "sharpen".into()
        }
    );
    let message = err.to_string();
    for word in [
        "sharpen", "none", "studies", "default", "flip", "turn", "rotate", "zoom", "stain",
        "colour", "blur",
    ] {
        assert!(message.contains(word), "{message:?} lacks {word}");
    }
    // Recipe names only stand alone.
    assert!("studies,blur".parse::<Augment>().is_err());
}

#[test]
fn validation_names_what_is_out_of_range() {
    for recipe in [
        Augment::none(),
        Augment::studies(),
        Augment::default_recipe(),
    ] {
        recipe.validate().unwrap();
        recipe
            .with_masks(&[MaskRect::FIELD_SCALE_BAR])
            .validate()
            .unwrap();
    }
    let base = Augment::default_recipe;
    let field_of = |augment: Augment| match augment.validate() {
        Err(AugmentError::OutOfRange { field, .. }) | Err(AugmentError::Reversed { field, .. }) => {
            field
        }
        other => panic!("expected a range error, got {other:?}"),
    };
    assert_eq!(
        field_of(Augment {
            rotation_degrees: -1.0,
            ..base()
        }),
        "rotation_degrees"
    );
    assert_eq!(
        field_of(Augment {
            rotation_degrees: f32::NAN,
            ..base()
        }),
        "rotation_degrees"
    );
    assert_eq!(
        field_of(Augment {
            zoom: [0.0, 1.1],
            ..base()
        }),
        "zoom"
    );
    assert_eq!(
        field_of(Augment {
            zoom: [-0.5, 1.1],
            ..base()
        }),
        "zoom"
    );
    assert_eq!(
        field_of(Augment {
            zoom: [1.2, 1.1],
            ..base()
        }),
        "zoom"
    );
    assert_eq!(
        field_of(Augment {
            zoom: [1.0, f32::INFINITY],
            ..base()
        }),
        "zoom"
    );
    assert_eq!(
        field_of(Augment {
            stain_jitter: -0.1,
            ..base()
        }),
        "stain_jitter"
    );
    assert_eq!(
        field_of(Augment {
            stain_jitter: 1.5,
            ..base()
        }),
        "stain_jitter"
    );
    assert_eq!(
        field_of(Augment {
            brightness: -0.1,
            ..base()
        }),
        "brightness"
    );
    assert_eq!(
        field_of(Augment {
            contrast: -0.1,
            ..base()
        }),
        "contrast"
    );
    assert_eq!(
        field_of(Augment {
            saturation: -0.1,
            ..base()
        }),
        "saturation"
    );
    assert_eq!(
        field_of(Augment {
            hue_degrees: -3.0,
            ..base()
        }),
        "hue_degrees"
    );
    assert_eq!(
        field_of(Augment {
            white_balance: 1.5,
            ..base()
        }),
        "white_balance"
    );
    assert_eq!(
        field_of(Augment {
            blur_probability: 1.5,
            ..base()
        }),
        "blur_probability"
    );
    assert_eq!(
        field_of(Augment {
            blur_probability: -0.1,
            ..base()
        }),
        "blur_probability"
    );
    assert_eq!(
        field_of(Augment {
            blur_sigma: [-0.1, 1.0],
            ..base()
        }),
        "blur_sigma"
    );
    assert_eq!(
        field_of(Augment {
            blur_sigma: [1.0, 0.5],
            ..base()
        }),
        "blur_sigma"
    );
    let bad_mask = base().with_masks(&[MaskRect::new(0.5, 0.5, 0.4, 1.0)]);
    assert!(matches!(
        bad_mask.validate(),
        Err(AugmentError::Mask { index: 0, .. })
    ));
    let message = Augment {
        blur_probability: 2.0,
        ..base()
    }
    .validate()
    .unwrap_err()
    .to_string();
    assert!(
        message.contains("blur_probability") && message.contains('2'),
        "{message}"
    );

    // Unvalidated nonsense degrades, it does not panic.
    let nonsense = Augment {
        rotation_degrees: f32::NAN,
        zoom: [-1.0, f32::INFINITY],
        stain_jitter: 50.0,
        brightness: f32::INFINITY,
        blur_probability: 1.0,
        blur_sigma: [f32::NAN, 1e9],
        ..base()
    };
    let image = numbered(9, 6);
    for index in 0..8 {
        let out = nonsense.apply(&image, &mut sample_rng(0, 0, index));
        assert_eq!((out.width(), out.height()), (9, 6));
    }
    let empty = RgbImage::filled(0, 0, [0, 0, 0]);
    assert_eq!(base().apply(&empty, &mut sample_rng(0, 0, 0)), empty);
}

#[test]
fn serde_round_trip_and_missing_masks() {
    let recipe = Augment::default_recipe().with_masks(&[MaskRect::FIELD_SCALE_BAR]);
    let json = serde_json::to_string(&recipe).unwrap();
    assert_eq!(serde_json::from_str::<Augment>(&json).unwrap(), recipe);
    let mut value = serde_json::to_value(Augment::studies()).unwrap();
    value.as_object_mut().unwrap().remove("masks");
    assert_eq!(
        serde_json::from_value::<Augment>(value).unwrap(),
        Augment::studies()
    );
}

/// Prints the time per 224x224 image, whole and by stage, as wall time and as this thread's
/// CPU time (which a busy machine inflates less). No assertion: timing depends on the machine.
#[test]
fn timing_of_the_default_recipe() {
    let image = field(2, 8);
    let n = 200u32;
    let time = |name: &str, f: &mut dyn FnMut(u64)| {
        let cpu = thread_cpu_ns();
        let start = std::time::Instant::now();
        for index in 0..n {
            f(u64::from(index));
        }
        let cpu_us = thread_cpu_ns().saturating_sub(cpu) / u64::from(n) / 1000;
        println!(
            "augment {name}: {:?} wall, {cpu_us} us CPU per image",
            start.elapsed() / n
        );
    };
    let recipe = Augment::default_recipe().with_masks(&[MaskRect::FIELD_SCALE_BAR]);
    time("default recipe", &mut |i| {
        std::hint::black_box(recipe.apply(&image, &mut sample_rng(0, 0, i)));
    });
    time("- mask fill", &mut |_| {
        let mut copy = image.clone();
        geometry::fill_masks(&mut copy, &[MaskRect::FIELD_SCALE_BAR]);
        std::hint::black_box(copy);
    });
    time("- quarter turn", &mut |_| {
        std::hint::black_box(rotate_quarter(&image, 1));
    });
    time("- rotation and zoom", &mut |_| {
        std::hint::black_box(geometry::warp(&image, 23.0, 1.05));
    });
    time("- stain jitter", &mut |_| {
        let mut copy = image.clone();
        colour::stain_jitter(&mut copy, [1.1, 0.9, 1.05], [0.01, 0.0, -0.01]);
        std::hint::black_box(copy);
    });
    time("- colour jitter", &mut |_| {
        let mut copy = image.clone();
        colour::colour_jitter(&mut copy, 1.1, 0.9, 1.05, 3.0);
        std::hint::black_box(copy);
    });
    time("- blur (sigma 1)", &mut |_| {
        let mut copy = image.clone();
        colour::gaussian_blur(&mut copy, 1.0);
        std::hint::black_box(copy);
    });
}

/// Nanoseconds this thread has run on a CPU (Linux; 0 elsewhere).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Writes `/tmp/augment_sheet.png`: a synthetic field (or the image file named by
/// `AUGMENT_SHEET_SOURCE`), then 15 draws of the default recipe (or the JSON recipe in
/// `AUGMENT_SHEET_RECIPE`).
#[test]
#[ignore = "writes a contact sheet to look at"]
fn contact_sheet() {
    let image = match std::env::var_os("AUGMENT_SHEET_SOURCE") {
        Some(path) => leukoscope_core::files::load_rgb(std::path::Path::new(&path)).unwrap(),
        None => field(1, 1234),
    };
    // A recipe as JSON, to try other amplitudes by eye.
    let recipe = match std::env::var("AUGMENT_SHEET_RECIPE") {
        Ok(json) => serde_json::from_str(&json).unwrap(),
        Err(_) => Augment::default_recipe(),
    }
    .with_masks(&[MaskRect::FIELD_SCALE_BAR]);
    let (w, h) = (image.width(), image.height());
    let mut sheet = image::RgbImage::new(w * 4 + 12, h * 4 + 12);
    for k in 0..16u32 {
        let tile = if k == 0 {
            image.clone()
        } else {
            let transform = recipe.sample(&mut sample_rng(7, 0, u64::from(k)));
            println!("{k:2}: {transform}");
            recipe.apply(&image, &mut sample_rng(7, 0, u64::from(k)))
        };
        let (ox, oy) = ((k % 4) * (w + 4), (k / 4) * (h + 4));
        for y in 0..h {
            for x in 0..w {
                sheet.put_pixel(ox + x, oy + y, image::Rgb(tile.get(x, y).unwrap()));
            }
        }
    }
    sheet.save("/tmp/augment_sheet.png").unwrap();
}
