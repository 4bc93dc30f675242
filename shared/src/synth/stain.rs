//! The look of one slide under one lamp: stain colours and illumination.
//!
//! Drawn only from the seed, never from the class: in the real data set the colour cast
//! happens to differ between classes (one lab batch per class), and a model trained on
//! synthetic fields must not be able to learn that shortcut.

use super::paint::{Light, scale3};
use super::random::Dice;

/// Optical densities (per unit thickness, RGB) of what lies on the glass.
#[derive(Clone, Debug)]
pub(crate) struct Stain {
    /// Colour of clean glass under the lamp, each channel in `0..=1`.
    pub(crate) glass: [f32; 3],
    /// The thin plasma film between cells.
    pub(crate) plasma: [f32; 3],
    pub(crate) red: [f32; 3],
    pub(crate) nucleus: [f32; 3],
    pub(crate) cytoplasm: [f32; 3],
    pub(crate) platelet: [f32; 3],
}

/// A stain batch as seen in the reference images: glass, red cell, nucleus, cytoplasm and
/// platelet colours in 8-bit RGB.
struct Palette {
    glass: [f32; 3],
    red: [f32; 3],
    nucleus: [f32; 3],
    cytoplasm: [f32; 3],
    platelet: [f32; 3],
}

/// Lavender, blue-grey, magenta on pale glass, and grey on yellowish glass: the casts of
/// the reference images. Every slide is a random blend of them.
const PALETTES: [Palette; 4] = [
    Palette {
        glass: [253.0, 252.0, 253.0],
        red: [190.0, 186.0, 218.0],
        nucleus: [112.0, 70.0, 232.0],
        cytoplasm: [176.0, 178.0, 240.0],
        platelet: [130.0, 80.0, 220.0],
    },
    Palette {
        glass: [240.0, 254.0, 252.0],
        red: [150.0, 172.0, 228.0],
        nucleus: [118.0, 100.0, 242.0],
        cytoplasm: [158.0, 178.0, 246.0],
        platelet: [110.0, 90.0, 225.0],
    },
    Palette {
        glass: [254.0, 254.0, 252.0],
        red: [205.0, 208.0, 228.0],
        nucleus: [172.0, 100.0, 232.0],
        cytoplasm: [205.0, 185.0, 242.0],
        platelet: [165.0, 100.0, 228.0],
    },
    Palette {
        glass: [250.0, 254.0, 236.0],
        red: [172.0, 182.0, 212.0],
        nucleus: [125.0, 98.0, 232.0],
        cytoplasm: [172.0, 186.0, 236.0],
        platelet: [125.0, 100.0, 218.0],
    },
];

/// Density that turns `glass` into `rgb`; a colour brighter than the glass absorbs nothing.
fn density(rgb: [f32; 3], glass: [f32; 3]) -> [f32; 3] {
    let mut od = [0.0; 3];
    for c in 0..3 {
        od[c] = -libm::logf((rgb[c] / glass[c]).clamp(0.01, 1.0));
    }
    od
}

fn jitter(dice: &mut Dice, od: [f32; 3], strength: [f32; 2], hue: f32) -> [f32; 3] {
    let k = dice.within(strength);
    let mut out = scale3(od, k);
    for v in &mut out {
        *v = (*v * (1.0 + dice.normal(0.0, hue)).max(0.5)).max(0.0);
    }
    out
}

impl Stain {
    pub(crate) fn draw(dice: &mut Dice) -> Stain {
        // Cubed weights: most slides lean towards one batch, some sit between two.
        let mut weights = [0.0f32; 4];
        for w in &mut weights {
            let u = dice.unit();
            *w = u * u * u;
        }
        let total: f32 = weights.iter().sum::<f32>().max(1e-6);
        let mut glass = [0.0; 3];
        let mut red = [0.0; 3];
        let mut nucleus = [0.0; 3];
        let mut cytoplasm = [0.0; 3];
        let mut platelet = [0.0; 3];
        for (p, w) in PALETTES.iter().zip(weights) {
            let w = w / total;
            let g = scale3(p.glass, 1.0 / 255.0);
            let parts = [
                (&mut red, p.red),
                (&mut nucleus, p.nucleus),
                (&mut cytoplasm, p.cytoplasm),
                (&mut platelet, p.platelet),
            ];
            for (acc, rgb) in parts {
                let od = density(scale3(rgb, 1.0 / 255.0), g);
                for c in 0..3 {
                    acc[c] += w * od[c];
                }
            }
            for c in 0..3 {
                glass[c] += w * g[c];
            }
        }
        for g in &mut glass {
            *g = (*g * (1.0 + dice.normal(0.0, 0.012))).clamp(0.85, 1.0);
        }
        let red = jitter(dice, red, [0.75, 1.15], 0.06);
        let plasma = scale3(red, dice.range(0.0, 0.08));
        Stain {
            glass,
            plasma,
            red,
            nucleus: jitter(dice, nucleus, [0.85, 1.2], 0.05),
            cytoplasm: jitter(dice, cytoplasm, [0.8, 1.25], 0.06),
            platelet: jitter(dice, platelet, [0.9, 1.2], 0.05),
        }
    }

    /// A lamp for this slide; `gain` lets a defect overexpose it.
    pub(crate) fn light(&self, dice: &mut Dice, gain: f32) -> Light {
        Light {
            white: self.glass,
            gain: gain * dice.range(0.98, 1.05),
            slope: [dice.normal(0.0, 0.04), dice.normal(0.0, 0.04)],
            vignette: dice.range(0.0, 0.07),
            grain: dice.range(1.0, 3.0),
            seed: dice.next_u32(),
        }
    }
}
