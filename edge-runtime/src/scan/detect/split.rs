//! Splitting a component of the mask into nuclei (an h-maxima watershed on its distance
//! map) and measuring each: area, centre, box, density and solidity.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::scan::mask::find;

/// Working memory of [`split`].
#[derive(Clone, Debug, Default)]
pub(super) struct Flood {
    /// Object pixels by falling distance.
    order: Vec<(u16, u32)>,
    /// Region of each pixel in the first pass, nucleus in the second (`u32::MAX`: none).
    pub(super) label: Vec<u32>,
    parent: Vec<u32>,
    peak: Vec<u16>,
    /// The pixel each region started from: its maximum.
    seed: Vec<u32>,
    /// Nucleus of each root region.
    nucleus: Vec<u32>,
    heap: BinaryHeap<(u16, Reverse<u32>, u32)>,
}

/// Splits the object pixels of a local box (`distance` > 0, with a background border) into
/// nuclei; returns their number, and `flood.label` holds each pixel's nucleus.
///
/// First pass: the pixels, by falling distance, grow regions from the maxima; where two
/// regions meet, the one whose peak rises less than `depth` above the meeting level joins
/// the higher (h-maxima). Second pass: a watershed from the maxima of the regions left,
/// always growing the frontier at the largest distance and, within a level, the oldest
/// first, so that regions grow evenly over plateaus of the chamfer distance.
pub(super) fn split(distance: &[u16], w: usize, depth: u16, flood: &mut Flood) -> u32 {
    let offsets = [
        -(w as isize) - 1,
        -(w as isize),
        -(w as isize) + 1,
        -1,
        1,
        w as isize - 1,
        w as isize,
        w as isize + 1,
    ];
    let Flood {
        order,
        label,
        parent,
        peak,
        seed,
        nucleus,
        heap,
    } = flood;
    order.clear();
    order.extend(
        distance
            .iter()
            .enumerate()
            .filter(|&(_, &d)| d > 0)
            .map(|(i, &d)| (d, i as u32)),
    );
    order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    label.clear();
    label.resize(distance.len(), u32::MAX);
    parent.clear();
    peak.clear();
    seed.clear();
    for &(d, i) in order.iter() {
        let mut roots = [u32::MAX; 8];
        let mut count = 0;
        for off in offsets {
            let r = label[(i as isize + off) as usize];
            if r == u32::MAX {
                continue;
            }
            let root = find(parent, r);
            if !roots[..count].contains(&root) {
                roots[count] = root;
                count += 1;
            }
        }
        let roots = &mut roots[..count];
        if roots.is_empty() {
            label[i as usize] = parent.len() as u32;
            parent.push(parent.len() as u32);
            peak.push(d);
            seed.push(i);
            continue;
        }
        roots.sort_unstable_by(|&a, &b| peak[b as usize].cmp(&peak[a as usize]).then(a.cmp(&b)));
        let main = roots[0];
        for &r in &roots[1..] {
            if peak[r as usize] - d < depth {
                parent[r as usize] = main;
            }
        }
        label[i as usize] = main;
    }

    label.fill(u32::MAX);
    nucleus.clear();
    heap.clear();
    let mut count = 0u32;
    for r in 0..parent.len() as u32 {
        if find(parent, r) == r {
            let at = seed[r as usize];
            label[at as usize] = count;
            heap.push((peak[r as usize], Reverse(count), at));
            count += 1;
        }
    }
    let mut pushed = count;
    while let Some((_, _, i)) = heap.pop() {
        let k = label[i as usize];
        for off in offsets {
            let j = (i as isize + off) as usize;
            if distance[j] > 0 && label[j] == u32::MAX {
                label[j] = k;
                heap.push((distance[j], Reverse(pushed), j as u32));
                pushed += 1;
            }
        }
    }
    count
}

/// Running statistics of one region, in mask pixels.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RegionStats {
    /// The nucleus' number in the component.
    pub(super) label: u32,
    pub(super) area: u32,
    pub(super) sum_x: u64,
    pub(super) sum_y: u64,
    pub(super) density: f32,
    pub(super) x0: u32,
    pub(super) y0: u32,
    pub(super) x1: u32,
    pub(super) y1: u32,
}

impl RegionStats {
    pub(super) fn new(label: u32) -> Self {
        RegionStats {
            label,
            x0: u32::MAX,
            y0: u32::MAX,
            ..RegionStats::default()
        }
    }

    pub(super) fn add(&mut self, x: u32, y: u32, density: f32) {
        self.area += 1;
        self.sum_x += u64::from(x);
        self.sum_y += u64::from(y);
        self.density += density;
        self.x0 = self.x0.min(x);
        self.y0 = self.y0.min(y);
        self.x1 = self.x1.max(x);
        self.y1 = self.y1.max(y);
    }
}

/// Area over convex-hull area of the pixels labelled `root` within the local box
/// `lo..=hi`; the hull is taken over pixel corners, so a filled square scores 1.
#[allow(clippy::too_many_arguments)]
pub(super) fn solidity(
    label: &[u32],
    w: usize,
    root: u32,
    lo: [u32; 2],
    hi: [u32; 2],
    area: u32,
    points: &mut Vec<(i32, i32)>,
    hull: &mut Vec<(i32, i32)>,
) -> f32 {
    points.clear();
    for y in lo[1]..=hi[1] {
        let row = &label[y as usize * w..][..w];
        let mut span: Option<(u32, u32)> = None;
        for x in lo[0]..=hi[0] {
            if row[x as usize] == root {
                span = Some(span.map_or((x, x), |(a, _)| (a, x)));
            }
        }
        if let Some((a, b)) = span {
            let (a, b, y) = (a as i32, b as i32 + 1, y as i32);
            points.extend_from_slice(&[(a, y), (a, y + 1), (b, y), (b, y + 1)]);
        }
    }
    let hull_area = convex_hull_area(points, hull);
    if hull_area <= 0.0 {
        return 0.0;
    }
    (area as f32 / hull_area).min(1.0)
}

/// Area of the convex hull of `points` (Andrew's monotone chain; sorts `points`); the
/// hull's vertices are left in `hull`, counter-clockwise.
pub(super) fn convex_hull_area(points: &mut [(i32, i32)], hull: &mut Vec<(i32, i32)>) -> f32 {
    points.sort_unstable();
    hull.clear();
    if points.len() < 3 {
        return 0.0;
    }
    let cross = |o: (i32, i32), a: (i32, i32), b: (i32, i32)| -> i64 {
        i64::from(a.0 - o.0) * i64::from(b.1 - o.1) - i64::from(a.1 - o.1) * i64::from(b.0 - o.0)
    };
    for &p in points.iter() {
        while hull.len() >= 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0 {
            hull.pop();
        }
        hull.push(p);
    }
    let lower = hull.len() + 1;
    for &p in points.iter().rev().skip(1) {
        while hull.len() >= lower && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0 {
            hull.pop();
        }
        hull.push(p);
    }
    hull.pop();
    let mut twice = 0i64;
    for (k, &a) in hull.iter().enumerate() {
        let b = hull[(k + 1) % hull.len()];
        twice += i64::from(a.0) * i64::from(b.1) - i64::from(b.0) * i64::from(a.1);
    }
    twice.unsigned_abs() as f32 * 0.5
}
