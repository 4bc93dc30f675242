//! Composing one field: pick the look, place the white cells, crowd red cells and platelets
//! around them, develop, label.

use alloc::vec::Vec;

use super::morphology::{CLASS_COUNT, WhiteCell};
use super::paint::Canvas;
use super::random::{Dice, mix};
use super::scene::{Crowd, RED_REACH, RedRim, TILE};
use super::stain::Stain;
use super::{CellTruth, FieldOptions, SynthError, SyntheticField, pixel_box, scalebar};

/// Stream tags: the look stream ignores the class, the scene stream does not.
const LOOK: u64 = 0x4C4F_4F4B;
const SCENE: u64 = 0x5343_454E;

/// Most white cells a field may ask for.
const MAX_WHITE_CELLS: u32 = 64;

/// A field together with the cells it was painted from, which tests inspect.
pub(crate) struct Composition {
    pub(crate) field: SyntheticField,
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) whites: Vec<WhiteCell>,
}

pub(crate) fn compose(
    class: u32,
    seed: u64,
    options: &FieldOptions,
) -> Result<Composition, SynthError> {
    if class >= CLASS_COUNT {
        return Err(SynthError::UnknownClass { class });
    }
    if !(64..=2048).contains(&options.size) {
        return Err(SynthError::BadOption {
            option: "size",
            expected: "between 64 and 2048 pixels",
        });
    }
    let size = options.size;
    let side = size as f32;

    let mut look = Dice::new(mix(seed, LOOK));
    let stain = Stain::draw(&mut look);
    let light = stain.light(&mut look, 1.0);
    let mut dice = Dice::new(mix(mix(seed, SCENE), u64::from(class)));

    let most = options.max_white_cells.clamp(1, MAX_WHITE_CELLS);
    let fewest = options.min_white_cells.clamp(1, most);
    let wanted = fewest + dice.below(most - fewest + 1);
    let keep_out = options.scale_bar.then(|| {
        let [x, y, w, h] = scalebar::area(size, size);
        [x as f32, y as f32, (x + w) as f32, (y + h) as f32]
    });
    let mut whites: Vec<WhiteCell> = Vec::new();
    for _ in 0..wanted {
        let mut cell = WhiteCell::sample(class, &mut dice);
        let reach = cell.reach() + 1.0;
        // A 64-pixel field always fits the largest cell, so the first one always lands.
        for _ in 0..40 {
            cell.center = [
                dice.range(reach, side - reach),
                dice.range(reach, side - reach),
            ];
            let b = cell.bounds();
            let on_label =
                keep_out.is_some_and(|k| b[2] > k[0] && b[0] < k[2] && b[3] > k[1] && b[1] < k[3]);
            // Neighbours may touch but not overlap much, as in a smear's monolayer.
            let crowded = whites.iter().any(|o| {
                let (dx, dy) = (o.center[0] - cell.center[0], o.center[1] - cell.center[1]);
                let near = 0.9 * (o.reach() + cell.reach());
                dx * dx + dy * dy < near * near
            });
            if !on_label && !crowded {
                whites.push(cell.clone());
                break;
            }
        }
    }

    let crowding = dice.range(0.45, 1.1);
    let platelets = dice.range(0.0, 0.8e-4);
    let mut crowd = Crowd::default();
    let tiles = ((side + 2.0 * RED_REACH) / TILE) as u32 + 1;
    for ty in 0..tiles {
        for tx in 0..tiles {
            let origin = [tx as f32 * TILE - RED_REACH, ty as f32 * TILE - RED_REACH];
            crowd.scatter_tile(&mut dice, origin, crowding, platelets, |p| {
                whites.iter().any(|w| w.covers(p))
            });
        }
    }

    let mut canvas = Canvas::new(size, size, [0.0, 0.0], 1.0, stain.plasma);
    crowd.paint(&mut canvas, stain.red, stain.platelet, RedRim::Reference);
    for cell in &whites {
        cell.paint(&mut canvas, &stain);
    }
    let mut image = canvas.develop(&light);
    if options.scale_bar {
        scalebar::draw(&mut image, &mut look);
    }

    let cells = whites
        .iter()
        .enumerate()
        .filter_map(|(i, cell)| {
            pixel_box(cell.bounds(), [0, 0], size, size).map(|bbox| CellTruth {
                id: i as u32,
                class,
                center: cell.center,
                bbox,
            })
        })
        .collect();
    Ok(Composition {
        field: SyntheticField {
            image,
            class,
            cells,
        },
        whites,
    })
}
