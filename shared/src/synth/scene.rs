//! What lies on the glass besides white cells: red cells and platelets, scattered tile by
//! tile so a slide of any size can make the few tiles a frame needs on demand.

use alloc::vec::Vec;

use core::f32::consts::PI;
use libm::{cosf, sinf, sqrtf};

use super::MICROMETRES_PER_PIXEL;
use super::paint::{Canvas, coverage, scale3};
use super::random::Dice;

/// Side of a scatter tile in pixels.
pub(crate) const TILE: f32 = 128.0;

/// How far a red cell or platelet reaches from its centre, at most.
pub(crate) const RED_REACH: f32 = 15.0;

/// Mean red cell radius: 7.5 um across at 0.42 um per pixel.
const RED_RADIUS: f32 = 9.0;

/// Width of a red cell's soft edge in the 4-class reference images, in pixels, centred on
/// the outline: red cells lie a little off the focal plane of the white cells.
const REFERENCE_EDGE: f32 = 2.2;

/// Width of a red cell's outer rim on a slide, over which its density falls to nothing, in
/// micrometres. The rim lies inside the cell's outline, so a cell is as wide as the glass
/// it darkens, whatever the optics (as an annotator's box around it is).
const RED_EDGE_UM: f32 = 0.4;

/// Fewest pixels a slide's red-cell rim spans, so that coarse pictures do not alias.
const RED_EDGE_PX: f32 = 1.5;

/// How a red cell's edge falls off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RedRim {
    /// As in the 4-class reference images that synthetic fields imitate: soft over
    /// [`REFERENCE_EDGE`] pixels, centred on the outline.
    Reference,
    /// As the optics of a slide at the canvas' scale: over [`RED_EDGE_UM`] (at least
    /// [`RED_EDGE_PX`] pixels), inside the outline.
    Optical,
}

/// Chance that a red cell settles against the previous one rather than anywhere: smears
/// show red cells in touching chains and clumps with clear glass between.
const CHAINING: f32 = 0.55;

/// A biconcave disc seen from above: an ellipse, thicker at the rim than at its pale centre.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RedCell {
    center: [f32; 2],
    semi: [f32; 2],
    /// Cosine and sine of the major axis' angle.
    rot: [f32; 2],
    /// How much thinner the centre is than the rim, 0 to 1.
    pallor: f32,
    /// Radius of the pale centre relative to the cell's.
    pallor_size: f32,
    density: f32,
}

impl RedCell {
    fn sample(dice: &mut Dice, center: [f32; 2]) -> Self {
        let radius = dice.normal_in([RED_RADIUS, 0.65, 7.0, 11.0]);
        let stretch = 1.0 + dice.normal(0.0, 0.05).abs().min(0.2);
        let angle = dice.angle();
        RedCell {
            center,
            semi: [radius * sqrtf(stretch), radius / sqrtf(stretch)],
            rot: [cosf(angle), sinf(angle)],
            pallor: dice.range(0.3, 0.75),
            pallor_size: dice.range(0.5, 0.75),
            density: dice.normal_in([1.0, 0.08, 0.75, 1.25]),
        }
    }

    fn paint(&self, canvas: &mut Canvas, od: [f32; 3], rim_kind: RedRim) {
        let [c, s] = self.rot;
        let (ia2, ib2) = (
            1.0 / (self.semi[0] * self.semi[0]),
            1.0 / (self.semi[1] * self.semi[1]),
        );
        // Work with q squared, q being the distance in units of the disc's radius (the
        // outline is q = 1): along a row q^2 is a quadratic in dx, so each row knows its span
        // and steps q^2 with two additions, and only pixels on the soft edge need a root.
        let (qa, qb, qc) = (
            c * c * ia2 + s * s * ib2,
            2.0 * c * s * (ia2 - ib2),
            s * s * ia2 + c * c * ib2,
        );
        let scale = self.semi[1];
        let step = canvas.step();
        let (inner, outer, inv_edge, r) = match rim_kind {
            RedRim::Reference => {
                let half = 0.5 * REFERENCE_EDGE / scale;
                (
                    (1.0 - half) * (1.0 - half),
                    (1.0 + half) * (1.0 + half),
                    scale / REFERENCE_EDGE,
                    self.semi[0] + REFERENCE_EDGE,
                )
            }
            RedRim::Optical => {
                let edge = (RED_EDGE_UM / MICROMETRES_PER_PIXEL).max(RED_EDGE_PX * step);
                let inner = (1.0 - edge / scale).max(0.0);
                (inner * inner, 1.0, scale / edge, self.semi[0] + step)
            }
        };
        let inv_pallor2 = 1.0 / (self.pallor_size * self.pallor_size);
        let span = |dy: f32| {
            let (b, k) = (qb * dy, qc * dy * dy - outer);
            let disc = b * b - 4.0 * qa * k;
            (disc > 0.0).then(|| {
                let root = sqrtf(disc);
                [(-b - root) / (2.0 * qa), (-b + root) / (2.0 * qa)]
            })
        };
        canvas.each_row(self.center, [-r, r], span, |dx, dy, row| {
            // q^2 at dx + step, less q^2 at dx, and how that difference grows.
            let mut q2 = (qa * dx + qb * dy) * dx + qc * dy * dy;
            let mut next = (qa * (2.0 * dx + step) + qb * dy) * step;
            let accel = 2.0 * qa * step * step;
            for px in row {
                let cov = if q2 <= inner {
                    1.0
                } else if rim_kind == RedRim::Reference {
                    (0.5 - (sqrtf(q2) - 1.0) * inv_edge).clamp(0.0, 1.0)
                } else {
                    ((1.0 - sqrtf(q2)) * inv_edge).clamp(0.0, 1.0)
                };
                let dip = (1.0 - q2 * inv_pallor2).max(0.0);
                // The rim, where light crosses more haemoglobin, is a little darker (q
                // near 0.8).
                let e = (q2 - 0.64) * 3.0;
                let rim = (1.0 - e * e).max(0.0);
                let thick = self.density * (1.0 - self.pallor * dip * dip + 0.15 * rim) * cov;
                px[0] += od[0] * thick;
                px[1] += od[1] * thick;
                px[2] += od[2] * thick;
                q2 += next;
                next += accel;
            }
        });
    }
}

/// A platelet: a small dense purple blob, sometimes with a granule beside it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Platelet {
    center: [f32; 2],
    radius: f32,
    granule: [f32; 3],
    density: f32,
}

impl Platelet {
    fn sample(dice: &mut Dice, center: [f32; 2]) -> Self {
        let a = dice.angle();
        let d = dice.range(1.0, 2.5);
        Platelet {
            center,
            radius: dice.range(0.9, 1.8),
            granule: if dice.chance(0.5) {
                [d * cosf(a), d * sinf(a), dice.range(0.5, 1.0)]
            } else {
                [0.0, 0.0, 0.0]
            },
            density: dice.range(0.8, 1.4),
        }
    }

    fn paint(&self, canvas: &mut Canvas, od: [f32; 3]) {
        let r = self.radius + 3.5;
        let g = self.granule;
        canvas.each(self.center, [-r, -r, r, r], |dx, dy, px| {
            let mut cov = coverage(sqrtf(dx * dx + dy * dy) - self.radius);
            if g[2] > 0.0 {
                let (x, y) = (dx - g[0], dy - g[1]);
                cov = cov.max(coverage(sqrtf(x * x + y * y) - g[2]));
            }
            if cov > 0.0 {
                let k = cov * self.density;
                px[0] += od[0] * k;
                px[1] += od[1] * k;
                px[2] += od[2] * k;
            }
        });
    }
}

/// The red cells and platelets of some area.
#[derive(Default)]
pub(crate) struct Crowd {
    reds: Vec<RedCell>,
    platelets: Vec<Platelet>,
}

impl Crowd {
    /// Scatters one tile at `origin`. `crowding` is the cells' total disc area over the tile's
    /// area (overlaps make the covered share smaller); points where `blocked` is true stay
    /// free, as red cells are pushed aside by a white cell rather than lying under it.
    pub(crate) fn scatter_tile(
        &mut self,
        dice: &mut Dice,
        origin: [f32; 2],
        crowding: f32,
        platelets_per_px: f32,
        blocked: impl Fn([f32; 2]) -> bool,
    ) {
        let area = TILE * TILE;
        let wanted = crowding * area / (PI * RED_RADIUS * RED_RADIUS) * dice.range(0.9, 1.1);
        let count = (wanted + dice.unit()) as usize;
        let first = self.reds.len();
        for _ in 0..count {
            // A few tries to keep discs from stacking much; a crowded tile simply ends up
            // with fewer.
            for _ in 0..4 {
                let last = self.reds[first..].last().map(|c| c.center);
                let p = match last {
                    Some(l) if dice.chance(CHAINING) => {
                        let a = dice.angle();
                        let d = 2.0 * RED_RADIUS * dice.range(0.8, 1.0);
                        [l[0] + d * cosf(a), l[1] + d * sinf(a)]
                    }
                    _ => [
                        origin[0] + dice.unit() * TILE,
                        origin[1] + dice.unit() * TILE,
                    ],
                };
                let cell = RedCell::sample(dice, p);
                // Each tile keeps its own cells, so that a frame can find them by tile.
                let outside = p[0] < origin[0]
                    || p[1] < origin[1]
                    || p[0] >= origin[0] + TILE
                    || p[1] >= origin[1] + TILE;
                let close = self.reds[first..].iter().any(|o| {
                    let (dx, dy) = (o.center[0] - p[0], o.center[1] - p[1]);
                    let near = 0.8 * (o.semi[1] + cell.semi[1]);
                    dx * dx + dy * dy < near * near
                });
                if !outside && !close && !blocked(p) {
                    self.reds.push(cell);
                    break;
                }
            }
        }
        let platelets = (platelets_per_px * area + dice.unit()) as usize;
        for _ in 0..platelets {
            let p = [
                origin[0] + dice.unit() * TILE,
                origin[1] + dice.unit() * TILE,
            ];
            let platelet = Platelet::sample(dice, p);
            if !blocked(p) {
                self.platelets.push(platelet);
            }
        }
    }

    pub(crate) fn paint(
        &self,
        canvas: &mut Canvas,
        red: [f32; 3],
        platelet: [f32; 3],
        rim: RedRim,
    ) {
        for cell in &self.reds {
            cell.paint(canvas, red, rim);
        }
        let platelet = scale3(platelet, 1.4);
        for p in &self.platelets {
            p.paint(canvas, platelet);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.reds.clear();
        self.platelets.clear();
    }
}
