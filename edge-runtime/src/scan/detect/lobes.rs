//! Nuclear parts grouped into cells: a neutrophil's lobes, a band's bends and an
//! eosinophil's two lobes are joined by strands thinner than the mask's blocks, so the
//! opening leaves them as separate parts, each of which would otherwise count as a cell.
//!
//! Two parts belong to one cell when their convex hulls come within the lobe gap of each
//! other, unless both are whole nuclei in their own right (big and round: two lymphocytes
//! side by side), and as long as the group stays within the widest a nucleus can be
//! (so a chain of cells in a clump does not become one). Pairs join nearest first.
//!
//! An eosinophil's two lobes are each as big and as round as a small lymphocyte's
//! nucleus, so size and shape cannot tell them from two lymphocytes. What can is the
//! cytoplasm: the lobes lie in one cell body, so the band just outside their joint hull
//! is stained all round, where two lymphocytes' scant rims leave it mostly glass. Two
//! whole parts are still lobes when both are lobe-sized, they come closer than two cells'
//! cytoplasm lets two nuclei come, and that band is mostly stained. In a crowded field the
//! band is stained around two cells too (their neighbours' cytoplasm, red cells): there
//! the gap is what keeps them two. On blocks as coarse as a micrometre the band is one
//! block wide and the gap cannot be read, so there whole parts always stay apart.

use std::ops::Range;

use super::split::{RegionStats, convex_hull_area};
use crate::scan::mask::find;

/// One part of a nucleus: a region of the split mask, in mask blocks.
#[derive(Clone, Debug)]
pub(super) struct Part {
    pub(super) stats: RegionStats,
    /// Area over convex-hull area.
    pub(super) solidity: f32,
    /// Its convex hull's vertices (pixel corners, frame blocks) in [`Parts::vertices`].
    pub(super) hull: Range<usize>,
}

/// How parts are grouped, in mask blocks.
#[derive(Clone, Copy, Debug)]
pub(super) struct LobeRule {
    /// Parts whose hulls come this close (or closer) are one cell.
    pub(super) gap: f32,
    /// A group's bounding box may be no wider or taller than this.
    pub(super) max_extent: u32,
    /// A part at least this big, and at least [`WHOLE_SOLIDITY`] solid, is a whole nucleus.
    pub(super) whole_area: u32,
    /// When two whole parts are still one cell's lobes; `None` where the blocks are too
    /// coarse to tell.
    pub(super) wrapped: Option<WrappedLobes>,
}

/// Two whole parts are one cell's lobes when both are lobe-sized, they come close, and one
/// cell body wraps them (in mask blocks).
#[derive(Clone, Copy, Debug)]
pub(super) struct WrappedLobes {
    /// The smaller part is at most this big...
    pub(super) smaller_area: u32,
    /// ...the larger at most this big...
    pub(super) larger_area: u32,
    /// ...their hulls come at most this far apart...
    pub(super) gap: f32,
    /// ...and the blocks more than `body[0]` and at most `body[1]` outside their joint
    /// hull are at least [`WRAPPED_SHARE`] stained.
    pub(super) body: [f32; 2],
}

/// The stained blocks of a frame (1 stained, 0 glass), row by row.
#[derive(Clone, Copy, Debug)]
pub(super) struct StainedBlocks<'a> {
    pub(super) blocks: &'a [u8],
    pub(super) width: u32,
    pub(super) height: u32,
}

/// Share of the band around two whole parts that must be stained for them to be one
/// cell's lobes: an eosinophil's lobes scored 0.63 to 0.99 on raabin's and bcd's frames
/// (band 1 to 2 µm out), two lymphocytes on glass score near 0.
const WRAPPED_SHARE: f32 = 0.6;

/// Solidity above which a big part is a whole round nucleus, not a lobe.
const WHOLE_SOLIDITY: f32 = 0.85;

/// A cell made of one or more parts.
#[derive(Clone, Copy, Debug)]
pub(super) struct Group {
    pub(super) stats: RegionStats,
    /// Solidity of the single part, or of the parts together over their joint hull.
    pub(super) solidity: f32,
    pub(super) parts: u32,
}

/// The parts of one frame and the working memory of their grouping.
#[derive(Clone, Debug, Default)]
pub(super) struct Parts {
    pub(super) parts: Vec<Part>,
    pub(super) vertices: Vec<(i32, i32)>,
    parents: Vec<u32>,
    pairs: Vec<(f32, u32, u32)>,
    points: Vec<(i32, i32)>,
    hull: Vec<(i32, i32)>,
}

impl Parts {
    pub(super) fn clear(&mut self) {
        self.parts.clear();
        self.vertices.clear();
    }

    /// Adds a part whose hull vertices are `hull`, shifted by `offset`.
    pub(super) fn push(
        &mut self,
        stats: RegionStats,
        solidity: f32,
        hull: &[(i32, i32)],
        offset: (i32, i32),
    ) {
        let start = self.vertices.len();
        self.vertices
            .extend(hull.iter().map(|&(x, y)| (x + offset.0, y + offset.1)));
        self.parts.push(Part {
            stats,
            solidity,
            hull: start..self.vertices.len(),
        });
    }

    /// The parts grouped into cells by `rule`, appended to `groups`.
    pub(super) fn group(
        &mut self,
        rule: LobeRule,
        stained: StainedBlocks,
        groups: &mut Vec<Group>,
    ) {
        let n = self.parts.len();
        self.pairs.clear();
        for i in 0..n {
            for j in i + 1..n {
                let (a, b) = (&self.parts[i], &self.parts[j]);
                if box_gap(&a.stats, &b.stats) > rule.gap {
                    continue;
                }
                let gap = hull_gap(
                    &self.vertices[a.hull.clone()],
                    &self.vertices[b.hull.clone()],
                );
                if gap > rule.gap {
                    continue;
                }
                if is_whole(a, rule) && is_whole(b, rule) {
                    let Some(w) = rule.wrapped else { continue };
                    let (smaller, larger) = (
                        a.stats.area.min(b.stats.area),
                        a.stats.area.max(b.stats.area),
                    );
                    if smaller > w.smaller_area
                        || larger > w.larger_area
                        || gap > w.gap
                        || self.body_share(i, j, w.body, stained) < WRAPPED_SHARE
                    {
                        continue;
                    }
                }
                self.pairs.push((gap, i as u32, j as u32));
            }
        }
        self.pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.parents.clear();
        self.parents.extend(0..n as u32);
        let mut merged: Vec<RegionStats> = self.parts.iter().map(|p| p.stats).collect();
        for &(_, i, j) in &self.pairs {
            let (ri, rj) = (find(&mut self.parents, i), find(&mut self.parents, j));
            if ri == rj {
                continue;
            }
            let joint = join(&merged[ri as usize], &merged[rj as usize]);
            if (joint.x1 - joint.x0 + 1).max(joint.y1 - joint.y0 + 1) > rule.max_extent {
                continue;
            }
            self.parents[rj as usize] = ri;
            merged[ri as usize] = joint;
        }
        for root in 0..n as u32 {
            if find(&mut self.parents, root) != root {
                continue;
            }
            self.points.clear();
            let mut parts = 0;
            let mut solidity = 0.0;
            for k in 0..n as u32 {
                if find(&mut self.parents, k) == root {
                    let part = &self.parts[k as usize];
                    self.points
                        .extend_from_slice(&self.vertices[part.hull.clone()]);
                    solidity = part.solidity;
                    parts += 1;
                }
            }
            let stats = merged[root as usize];
            if parts > 1 {
                let hull_area = convex_hull_area(&mut self.points, &mut self.hull);
                solidity = if hull_area > 0.0 {
                    (stats.area as f32 / hull_area).min(1.0)
                } else {
                    0.0
                };
            }
            groups.push(Group {
                stats,
                solidity,
                parts,
            });
        }
    }

    /// Share of stained blocks among those more than `band[0]` and at most `band[1]`
    /// blocks outside the joint hull of parts `i` and `j` (blocks off the frame left out).
    fn body_share(&mut self, i: usize, j: usize, band: [f32; 2], stained: StainedBlocks) -> f32 {
        let (a, b) = (&self.parts[i], &self.parts[j]);
        let joint = join(&a.stats, &b.stats);
        self.points.clear();
        self.points
            .extend_from_slice(&self.vertices[a.hull.clone()]);
        self.points
            .extend_from_slice(&self.vertices[b.hull.clone()]);
        convex_hull_area(&mut self.points, &mut self.hull);
        let reach = band[1].ceil() as u32;
        let (mut inside, mut total) = (0u32, 0u32);
        for y in joint.y0.saturating_sub(reach)..(joint.y1 + reach + 1).min(stained.height) {
            for x in joint.x0.saturating_sub(reach)..(joint.x1 + reach + 1).min(stained.width) {
                let d = outside_distance(&self.hull, (x as f32 + 0.5, y as f32 + 0.5));
                if d > band[0] && d <= band[1] {
                    total += 1;
                    inside += u32::from(stained.blocks[(y * stained.width + x) as usize]);
                }
            }
        }
        if total == 0 {
            0.0
        } else {
            inside as f32 / total as f32
        }
    }
}

fn is_whole(part: &Part, rule: LobeRule) -> bool {
    part.stats.area >= rule.whole_area && part.solidity >= WHOLE_SOLIDITY
}

/// Two regions' statistics as one region's.
fn join(a: &RegionStats, b: &RegionStats) -> RegionStats {
    RegionStats {
        label: a.label,
        area: a.area + b.area,
        sum_x: a.sum_x + b.sum_x,
        sum_y: a.sum_y + b.sum_y,
        density: a.density + b.density,
        x0: a.x0.min(b.x0),
        y0: a.y0.min(b.y0),
        x1: a.x1.max(b.x1),
        y1: a.y1.max(b.y1),
    }
}

/// The gap between two regions' bounding boxes (0 where they overlap): a lower bound of
/// their hulls' gap.
fn box_gap(a: &RegionStats, b: &RegionStats) -> f32 {
    let dx =
        b.x0.saturating_sub(a.x1 + 1)
            .max(a.x0.saturating_sub(b.x1 + 1));
    let dy =
        b.y0.saturating_sub(a.y1 + 1)
            .max(a.y0.saturating_sub(b.y1 + 1));
    (dx as f32).hypot(dy as f32)
}

/// The distance between two convex polygons given by their vertices in order: 0 when
/// one holds a vertex of the other, else the least vertex-to-edge distance.
pub(super) fn hull_gap(a: &[(i32, i32)], b: &[(i32, i32)]) -> f32 {
    if a.is_empty() || b.is_empty() {
        return f32::INFINITY;
    }
    if a.iter().any(|&p| inside(b, p)) || b.iter().any(|&p| inside(a, p)) {
        return 0.0;
    }
    let one_way = |from: &[(i32, i32)], to: &[(i32, i32)]| {
        from.iter()
            .flat_map(|&p| {
                (0..to.len()).map(move |k| segment_distance(p, to[k], to[(k + 1) % to.len()]))
            })
            .fold(f32::INFINITY, f32::min)
    };
    one_way(a, b).min(one_way(b, a))
}

/// Whether `p` lies in the convex polygon `poly` (either winding), edges included.
fn inside(poly: &[(i32, i32)], p: (i32, i32)) -> bool {
    if poly.len() < 3 {
        return false;
    }
    let (mut positive, mut negative) = (false, false);
    for k in 0..poly.len() {
        let (a, b) = (poly[k], poly[(k + 1) % poly.len()]);
        let cross = i64::from(b.0 - a.0) * i64::from(p.1 - a.1)
            - i64::from(b.1 - a.1) * i64::from(p.0 - a.0);
        positive |= cross > 0;
        negative |= cross < 0;
    }
    !(positive && negative)
}

/// How far `p` lies outside the convex polygon `poly` (counter-clockwise, as
/// [`convex_hull_area`] leaves it): 0 inside or on it.
fn outside_distance(poly: &[(i32, i32)], p: (f32, f32)) -> f32 {
    let n = poly.len();
    let mut outside = n < 3;
    let mut nearest = f32::INFINITY;
    for k in 0..n {
        let (a, b) = (poly[k], poly[(k + 1) % n]);
        let (ax, ay, bx, by) = (a.0 as f32, a.1 as f32, b.0 as f32, b.1 as f32);
        outside |= (bx - ax) * (p.1 - ay) - (by - ay) * (p.0 - ax) < 0.0;
        nearest = nearest.min(point_segment_distance(p, (ax, ay), (bx, by)));
    }
    if outside { nearest } else { 0.0 }
}

fn segment_distance(p: (i32, i32), a: (i32, i32), b: (i32, i32)) -> f32 {
    let float = |q: (i32, i32)| (q.0 as f32, q.1 as f32);
    point_segment_distance(float(p), float(a), float(b))
}

fn point_segment_distance(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let ((px, py), (ax, ay), (bx, by)) = (p, a, b);
    let (dx, dy) = (bx - ax, by - ay);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((px - ax) * dx + (py - ay) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (px - ax - t * dx).hypot(py - ay - t * dy)
}

#[cfg(test)]
mod tests;
