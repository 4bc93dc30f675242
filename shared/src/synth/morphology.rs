//! What a white cell of each class looks like, and painting one.
//!
//! The classes differ along the axes a haematologist reads: size, nucleus-to-cytoplasm
//! ratio, chromatin (condensed and coarse vs fine and open), nucleoli, and the contour of
//! the nucleus (round vs indented or cleft). Neighbouring classes overlap on every axis, as
//! real blasts do, but each axis moves in one direction from Benign to Pro-B so the classes
//! stay learnable.

use libm::{cosf, sinf, sqrtf};

use super::paint::{Canvas, EDGE, coverage, lerp3, scale3, value_noise};
use super::random::Dice;
use super::stain::Stain;

/// Number of classes in the b-all-4 taxonomy.
pub(crate) const CLASS_COUNT: u32 = 4;

/// The largest distance from a white cell's centre to its outline, for spatial queries.
pub(crate) const MAX_REACH: f32 = 28.0;

/// Per-class distributions. Sizes are pixels at 0.42 um per pixel; `[mean, sd, min, max]`
/// for normal draws, `[lo, hi]` for uniform ones.
struct Look {
    diameter: [f32; 4],
    /// Nucleus radius over cell radius.
    nucleus_ratio: [f32; 4],
    /// Amplitude of the harmonics that make the outline irregular, relative to the radius.
    body_irregularity: f32,
    nucleus_irregularity: f32,
    /// How far the nucleus may sit off centre, as a share of the room the cytoplasm leaves.
    eccentricity: f32,
    notch_chance: f32,
    second_notch_chance: f32,
    /// Depth of an indentation, relative to the nucleus radius.
    notch_depth: [f32; 2],
    /// Half-width of an indentation, relative to the nucleus radius: wide and shallow is an
    /// indentation, narrow and deep is a cleft.
    notch_width: [f32; 2],
    /// Size of chromatin clumps in pixels.
    chromatin_scale: [f32; 2],
    chromatin_contrast: [f32; 2],
    /// Nucleus density relative to the stain's: condensed chromatin stains darker.
    chromatin_density: [f32; 2],
    /// Probabilities of 0, 1, 2, 3 and 4 nucleoli.
    nucleoli: [f32; 5],
    nucleolus_strength: [f32; 2],
    nucleolus_radius: [f32; 2],
    vacuole_chance: f32,
    vacuole_max: u32,
    /// Cytoplasm density relative to the stain's: blasts have a deeper blue cytoplasm.
    basophilia: [f32; 2],
}

const LOOKS: [Look; CLASS_COUNT as usize] = [
    // Benign (hematogones): small, round, dense condensed nucleus, scant cytoplasm.
    Look {
        diameter: [21.0, 2.2, 16.0, 28.0],
        nucleus_ratio: [0.84, 0.04, 0.74, 0.92],
        body_irregularity: 0.015,
        nucleus_irregularity: 0.015,
        eccentricity: 0.5,
        notch_chance: 0.08,
        second_notch_chance: 0.0,
        notch_depth: [0.08, 0.15],
        notch_width: [0.3, 0.5],
        chromatin_scale: [1.8, 2.6],
        chromatin_contrast: [0.25, 0.35],
        chromatin_density: [1.2, 1.35],
        nucleoli: [1.0, 0.0, 0.0, 0.0, 0.0],
        nucleolus_strength: [0.0, 0.0],
        nucleolus_radius: [1.0, 1.0],
        vacuole_chance: 0.03,
        vacuole_max: 1,
        basophilia: [1.0, 1.4],
    },
    // Early pre-B: medium, round, fine homogeneous chromatin, sometimes a faint nucleolus.
    Look {
        diameter: [27.0, 2.5, 20.0, 35.0],
        nucleus_ratio: [0.86, 0.04, 0.76, 0.93],
        body_irregularity: 0.02,
        nucleus_irregularity: 0.02,
        eccentricity: 0.4,
        notch_chance: 0.12,
        second_notch_chance: 0.0,
        notch_depth: [0.08, 0.18],
        notch_width: [0.3, 0.5],
        chromatin_scale: [1.0, 1.4],
        chromatin_contrast: [0.10, 0.16],
        chromatin_density: [0.98, 1.1],
        nucleoli: [0.6, 0.4, 0.0, 0.0, 0.0],
        nucleolus_strength: [0.18, 0.3],
        nucleolus_radius: [1.3, 2.0],
        vacuole_chance: 0.08,
        vacuole_max: 2,
        basophilia: [1.0, 1.3],
    },
    // Pre-B: larger, more cytoplasm, slight indentation, vacuoles.
    Look {
        diameter: [31.0, 3.0, 23.0, 40.0],
        nucleus_ratio: [0.72, 0.05, 0.6, 0.84],
        body_irregularity: 0.03,
        nucleus_irregularity: 0.03,
        eccentricity: 0.7,
        notch_chance: 0.6,
        second_notch_chance: 0.1,
        notch_depth: [0.12, 0.28],
        notch_width: [0.35, 0.6],
        chromatin_scale: [1.3, 1.8],
        chromatin_contrast: [0.14, 0.22],
        chromatin_density: [0.92, 1.05],
        nucleoli: [0.5, 0.4, 0.1, 0.0, 0.0],
        nucleolus_strength: [0.25, 0.4],
        nucleolus_radius: [1.5, 2.3],
        vacuole_chance: 0.7,
        vacuole_max: 5,
        basophilia: [1.1, 1.6],
    },
    // Pro-B: largest, irregular outline, cleft nucleus, open chromatin, prominent nucleoli.
    Look {
        diameter: [36.0, 3.5, 27.0, 46.0],
        nucleus_ratio: [0.80, 0.05, 0.66, 0.9],
        body_irregularity: 0.075,
        nucleus_irregularity: 0.08,
        eccentricity: 0.5,
        notch_chance: 0.85,
        second_notch_chance: 0.4,
        notch_depth: [0.3, 0.55],
        notch_width: [0.18, 0.3],
        chromatin_scale: [2.4, 3.4],
        chromatin_contrast: [0.3, 0.42],
        chromatin_density: [0.8, 0.92],
        nucleoli: [0.0, 0.1, 0.35, 0.35, 0.2],
        nucleolus_strength: [0.45, 0.65],
        nucleolus_radius: [2.0, 3.0],
        vacuole_chance: 0.3,
        vacuole_max: 3,
        basophilia: [1.2, 1.7],
    },
];

/// A closed outline given by its radius as a function of angle: a circle bent by the
/// harmonics 2 to 5.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outline {
    pub(crate) radius: f32,
    /// `[cos, sin]` coefficients of harmonics 2..=5, relative to the radius.
    harmonics: [[f32; 2]; 4],
}

impl Outline {
    fn sample(dice: &mut Dice, radius: f32, irregularity: f32) -> Self {
        let mut harmonics = [[0.0; 2]; 4];
        // Low harmonics (oval, triangular) dominate real cell outlines.
        for (h, weight) in harmonics.iter_mut().zip([1.0, 0.8, 0.6, 0.4]) {
            let a = irregularity * weight * dice.range(0.3, 1.0);
            let phase = dice.angle();
            *h = [a * cosf(phase), a * sinf(phase)];
        }
        Outline { radius, harmonics }
    }

    /// The largest relative bulge or dent the harmonics can make.
    fn wobble(&self) -> f32 {
        self.harmonics
            .iter()
            .map(|[c, s]| sqrtf(c * c + s * s))
            .sum()
    }

    /// Radius in the direction `(c, s)` (a unit vector); powers of `c + is` give the
    /// harmonics without an `atan2` per pixel.
    #[inline]
    fn radius_at(&self, c: f32, s: f32) -> f32 {
        let (mut re, mut im) = (c, s);
        let mut bend = 0.0;
        for [hc, hs] in self.harmonics {
            (re, im) = (re * c - im * s, re * s + im * c);
            bend += hc * re + hs * im;
        }
        self.radius * (1.0 + bend)
    }

    /// Signed distance, negative inside; exact enough for an outline this smooth.
    #[inline]
    pub(crate) fn sd(&self, dx: f32, dy: f32) -> f32 {
        let rho = sqrtf(dx * dx + dy * dy);
        if rho < 1e-4 {
            return -self.radius;
        }
        rho - self.radius_at(dx / rho, dy / rho)
    }

    /// `[min x, min y, max x, max y]` of the outline around its centre.
    fn extent(&self) -> [f32; 4] {
        let mut ext = [0.0f32; 4];
        for i in 0..96 {
            let a = i as f32 * (core::f32::consts::TAU / 96.0);
            let (c, s) = (cosf(a), sinf(a));
            let r = self.radius_at(c, s);
            ext[0] = ext[0].min(r * c);
            ext[1] = ext[1].min(r * s);
            ext[2] = ext[2].max(r * c);
            ext[3] = ext[3].max(r * s);
        }
        ext
    }
}

/// An elliptical bite out of the nucleus: an indentation, or a cleft when narrow and deep.
#[derive(Clone, Copy, Debug, Default)]
struct Notch {
    center: [f32; 2],
    /// Unit vector from the nucleus centre outwards.
    axis: [f32; 2],
    half_length: f32,
    half_width: f32,
}

impl Notch {
    #[inline]
    fn sd(&self, dx: f32, dy: f32) -> f32 {
        let (x, y) = (dx - self.center[0], dy - self.center[1]);
        let u = (x * self.axis[0] + y * self.axis[1]) / self.half_length;
        let v = (-x * self.axis[1] + y * self.axis[0]) / self.half_width;
        (sqrtf(u * u + v * v) - 1.0) * self.half_width.min(self.half_length)
    }
}

/// A round spot: a nucleolus (relative to the nucleus centre) or a vacuole (relative to the
/// cell centre).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Spot {
    center: [f32; 2],
    radius: f32,
    strength: f32,
}

impl Spot {
    #[inline]
    fn cover(&self, dx: f32, dy: f32) -> f32 {
        let (x, y) = (dx - self.center[0], dy - self.center[1]);
        // Cheap reject before the square root: most pixels are far from every spot.
        let reach = self.radius + EDGE;
        if x * x + y * y > reach * reach {
            return 0.0;
        }
        coverage(sqrtf(x * x + y * y) - self.radius) * self.strength
    }
}

/// One white cell: its class, where it is, and everything its picture is painted from.
#[derive(Clone, Debug)]
pub(crate) struct WhiteCell {
    pub(crate) center: [f32; 2],
    pub(crate) class: u32,
    pub(crate) body: Outline,
    pub(crate) nucleus: Outline,
    nucleus_offset: [f32; 2],
    notches: [Notch; 2],
    notch_count: usize,
    chromatin_scale: f32,
    chromatin_contrast: f32,
    chromatin_density: f32,
    nucleoli: [Spot; 4],
    nucleolus_count: usize,
    vacuoles: [Spot; 5],
    vacuole_count: usize,
    basophilia: f32,
    texture_seed: u32,
    /// Extent of the body around the centre, `[min x, min y, max x, max y]`.
    extent: [f32; 4],
}

impl WhiteCell {
    /// Draws a cell of `class` (taken modulo the class count; callers check it) centred at
    /// the origin.
    pub(crate) fn sample(class: u32, dice: &mut Dice) -> Self {
        let class = class % CLASS_COUNT;
        let look = &LOOKS[class as usize];
        let radius = dice.normal_in(look.diameter) * 0.5;
        let body = Outline::sample(dice, radius, look.body_irregularity);
        let ratio = dice.normal_in(look.nucleus_ratio);
        let mut nucleus = Outline::sample(dice, body.radius * ratio, look.nucleus_irregularity);
        // Keep the nucleus inside the body with at least a hair of cytoplasm around it.
        let room = body.radius * (1.0 - body.wobble()) - 0.6;
        let fit = room / (1.0 + nucleus.wobble());
        nucleus.radius = nucleus.radius.min(fit).max(2.0);
        let slack = (room - nucleus.radius * (1.0 + nucleus.wobble())).max(0.0);
        let shift = slack * look.eccentricity * dice.unit();
        let direction = dice.angle();
        let nucleus_offset = [shift * cosf(direction), shift * sinf(direction)];

        let mut notches = [Notch::default(); 2];
        let mut notch_count = 0;
        if dice.chance(look.notch_chance) {
            let count = if dice.chance(look.second_notch_chance) {
                2
            } else {
                1
            };
            let first = dice.angle();
            for (i, notch) in notches.iter_mut().take(count).enumerate() {
                // A second cleft sits roughly opposite the first, as in lobulated nuclei.
                let angle = first + i as f32 * dice.range(2.2, 4.1);
                let axis = [cosf(angle), sinf(angle)];
                let edge = nucleus.radius_at(axis[0], axis[1]);
                let depth = dice.within(look.notch_depth) * edge;
                let half_width = (dice.within(look.notch_width) * nucleus.radius).max(1.2);
                let half_length = depth + 1.5;
                let reach = edge - depth + half_length;
                *notch = Notch {
                    center: [axis[0] * reach, axis[1] * reach],
                    axis,
                    half_length,
                    half_width,
                };
            }
            notch_count = count;
        }

        let mut nucleoli = [Spot::default(); 4];
        let nucleolus_count = dice.pick(&look.nucleoli).min(nucleoli.len());
        for spot in nucleoli.iter_mut().take(nucleolus_count) {
            let a = dice.angle();
            let r = sqrtf(dice.unit()) * 0.5 * nucleus.radius;
            *spot = Spot {
                center: [r * cosf(a), r * sinf(a)],
                radius: dice.within(look.nucleolus_radius),
                strength: dice.within(look.nucleolus_strength),
            };
        }

        let mut vacuoles = [Spot::default(); 5];
        let mut vacuole_count = 0;
        if dice.chance(look.vacuole_chance) {
            vacuole_count = (1 + dice.below(look.vacuole_max)) as usize;
            for spot in vacuoles.iter_mut().take(vacuole_count) {
                let a = dice.angle();
                let inner = nucleus.radius * 0.85;
                let outer = (body.radius * 0.88).max(inner);
                let r = dice.range(inner, outer);
                *spot = Spot {
                    center: [
                        nucleus_offset[0] * 0.5 + r * cosf(a),
                        nucleus_offset[1] * 0.5 + r * sinf(a),
                    ],
                    radius: dice.range(0.9, 2.0),
                    strength: 0.7,
                };
            }
        }

        WhiteCell {
            center: [0.0, 0.0],
            class,
            body,
            nucleus,
            nucleus_offset,
            notches,
            notch_count,
            chromatin_scale: dice.within(look.chromatin_scale),
            chromatin_contrast: dice.within(look.chromatin_contrast),
            chromatin_density: dice.within(look.chromatin_density),
            nucleoli,
            nucleolus_count,
            vacuoles,
            vacuole_count,
            basophilia: dice.within(look.basophilia),
            texture_seed: dice.next_u32(),
            extent: body.extent(),
        }
    }

    /// Distance from the centre to the farthest point of the outline.
    pub(crate) fn reach(&self) -> f32 {
        self.extent.iter().fold(0.0f32, |m, v| m.max(v.abs()))
    }

    /// `[min x, min y, max x, max y]` of the outline in world coordinates.
    pub(crate) fn bounds(&self) -> [f32; 4] {
        [
            self.center[0] + self.extent[0],
            self.center[1] + self.extent[1],
            self.center[0] + self.extent[2],
            self.center[1] + self.extent[3],
        ]
    }

    /// Whether a world point lies well inside the cell (where no red cell may sit).
    pub(crate) fn covers(&self, p: [f32; 2]) -> bool {
        let (dx, dy) = (p[0] - self.center[0], p[1] - self.center[1]);
        let r = self.body.radius * 1.3;
        dx * dx + dy * dy < r * r && self.body.sd(dx, dy) < -1.0
    }

    /// Number of nucleoli, for tests of the class statistics.
    #[cfg(test)]
    pub(crate) fn nucleolus_count(&self) -> usize {
        self.nucleolus_count
    }

    /// Paints the cell over whatever lies beneath: a white cell sits on top of the red cells
    /// around it rather than adding to their density.
    pub(crate) fn paint(&self, canvas: &mut Canvas, stain: &Stain) {
        let cytoplasm = scale3(stain.cytoplasm, self.basophilia);
        // Nucleoli stain like a paler, bluer nucleus: halfway to the cytoplasm.
        let pale = lerp3(stain.nucleus, scale3(cytoplasm, 1.3), 0.8);
        let inv_scale = 1.0 / self.chromatin_scale;
        let seed = self.texture_seed;
        let margin = EDGE * 0.5;
        let ext = [
            self.extent[0] - margin,
            self.extent[1] - margin,
            self.extent[2] + margin,
            self.extent[3] + margin,
        ];
        let notches = &self.notches[..self.notch_count];
        let nucleoli = &self.nucleoli[..self.nucleolus_count];
        let vacuoles = &self.vacuoles[..self.vacuole_count];
        canvas.each(self.center, ext, |dx, dy, px| {
            let cb = coverage(self.body.sd(dx, dy));
            if cb <= 0.0 {
                return;
            }
            let nx = dx - self.nucleus_offset[0];
            let ny = dy - self.nucleus_offset[1];
            let mut sd = self.nucleus.sd(nx, ny);
            for notch in notches {
                sd = sd.max(-notch.sd(nx, ny));
            }
            let cn = coverage(sd);
            let mut od = cytoplasm;
            if cn > 0.0 {
                let t = value_noise(nx * inv_scale, ny * inv_scale, seed) * 0.65
                    + value_noise(nx * inv_scale * 2.0, ny * inv_scale * 2.0, seed ^ 0x5EED) * 0.35;
                let m = self.chromatin_density * (1.0 + self.chromatin_contrast * (2.0 * t - 1.0));
                let mut nuc = scale3(stain.nucleus, m);
                for spot in nucleoli {
                    let c = spot.cover(nx, ny);
                    if c > 0.0 {
                        nuc = lerp3(nuc, pale, c);
                    }
                }
                od = lerp3(od, nuc, cn);
            }
            for spot in vacuoles {
                let c = spot.cover(dx, dy);
                if c > 0.0 {
                    od = scale3(od, 1.0 - c * (1.0 - 0.6 * cn));
                }
            }
            *px = lerp3(*px, od, cb);
        });
    }
}
