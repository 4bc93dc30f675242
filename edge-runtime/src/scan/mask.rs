//! Binary masks of a frame (the detector's nuclei, the scale's red cells): Otsu's
//! threshold, opening (by reconstruction), hole filling, connected components and the distance of each pixel of
//! a component to its edge.

/// A connected component of the mask: its box (inclusive) in mask pixels.
#[derive(Clone, Copy, Debug)]
pub(super) struct Component {
    pub(super) x0: u32,
    pub(super) y0: u32,
    pub(super) x1: u32,
    pub(super) y1: u32,
    pub(super) area: u32,
}

#[derive(Clone, Copy)]
pub(super) enum Morph {
    Erode,
    Dilate,
}

/// 3x3 erosion or dilation of a 0/1 mask; outside the frame counts as background for a
/// dilation and as foreground for an erosion, so objects at the edge keep their size.
pub(super) fn morph(src: &[u8], dst: &mut [u8], w: u32, h: u32, op: Morph) {
    let (w, h) = (w as usize, h as usize);
    for y in 0..h {
        let up = &src[y.saturating_sub(1) * w..][..w];
        let mid = &src[y * w..][..w];
        let down = &src[(y + 1).min(h - 1) * w..][..w];
        let out = &mut dst[y * w..][..w];
        for x in 0..w {
            let (l, r) = (x.saturating_sub(1), (x + 1).min(w - 1));
            let v = match op {
                Morph::Erode => {
                    up[l] & up[x] & up[r] & mid[l] & mid[x] & mid[r] & down[l] & down[x] & down[r]
                }
                Morph::Dilate => {
                    up[l] | up[x] | up[r] | mid[l] | mid[x] | mid[r] | down[l] | down[x] | down[r]
                }
            };
            out[x] = v;
        }
    }
}

/// Keeps the 8-connected components of `mask` in which at least `1 / min_share_inv` of
/// the pixels are `seeds` (each a subset of `mask`), and clears the rest: an opening by
/// reconstruction, when `seeds` is the mask's erosion, that removes what is thin
/// throughout or ragged (specks, streaks, noise) and gives back every kept object whole,
/// thin parts and all. `members` is working memory.
pub(super) fn reconstruct(
    seeds: &[u8],
    mask: &mut [u8],
    w: u32,
    h: u32,
    min_share_inv: usize,
    stack: &mut Vec<u32>,
    members: &mut Vec<u32>,
) {
    let (w, h) = (w as usize, h as usize);
    // 0 background, 1 object not reached, 2 kept, 3 dropped.
    for start in 0..mask.len() {
        if seeds[start] == 0 || mask[start] != 1 {
            continue;
        }
        stack.clear();
        members.clear();
        mask[start] = 2;
        stack.push(start as u32);
        let mut seeded = 0usize;
        while let Some(i) = stack.pop() {
            members.push(i);
            let i = i as usize;
            seeded += usize::from(seeds[i] != 0);
            let (x, y) = (i % w, i / w);
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let j = ny * w + nx;
                    if mask[j] == 1 {
                        mask[j] = 2;
                        stack.push(j as u32);
                    }
                }
            }
        }
        if seeded * min_share_inv < members.len() {
            for &i in members.iter() {
                mask[i as usize] = 3;
            }
        }
    }
    for v in mask.iter_mut() {
        *v = u8::from(*v == 2);
    }
}

/// `dst` = the pixels of `src` whose 2x2 square (with the pixels right, below, and right
/// below; the last column and row pair with themselves) is all set: the cores of what is
/// at least two pixels thick.
pub(super) fn erode_2x2(src: &[u8], dst: &mut [u8], w: u32, h: u32) {
    let (w, h) = (w as usize, h as usize);
    for y in 0..h {
        let row = &src[y * w..][..w];
        let below = &src[(y + 1).min(h - 1) * w..][..w];
        let out = &mut dst[y * w..][..w];
        for x in 0..w {
            let r = (x + 1).min(w - 1);
            out[x] = row[x] & row[r] & below[x] & below[r];
        }
    }
}

/// Sets every background pixel not 4-connected to the frame's edge: holes in nuclei
/// (pale nucleoli, vacuoles) become nucleus.
pub(super) fn fill_holes(mask: &mut [u8], w: u32, h: u32, stack: &mut Vec<u32>) {
    let (w, h) = (w as usize, h as usize);
    // 0 background, 1 object, 2 background reached from the edge.
    stack.clear();
    let seed = |i: usize, mask: &mut [u8], stack: &mut Vec<u32>| {
        if mask[i] == 0 {
            mask[i] = 2;
            stack.push(i as u32);
        }
    };
    for x in 0..w {
        seed(x, mask, stack);
        seed((h - 1) * w + x, mask, stack);
    }
    for y in 0..h {
        seed(y * w, mask, stack);
        seed(y * w + w - 1, mask, stack);
    }
    while let Some(i) = stack.pop() {
        let i = i as usize;
        let (x, y) = (i % w, i / w);
        if x > 0 {
            seed(i - 1, mask, stack);
        }
        if x + 1 < w {
            seed(i + 1, mask, stack);
        }
        if y > 0 {
            seed(i - w, mask, stack);
        }
        if y + 1 < h {
            seed(i + w, mask, stack);
        }
    }
    for v in mask.iter_mut() {
        *v = u8::from(*v != 2);
    }
}

/// Two-pass 8-connected labelling: `labels` gets `1..=n` (0 background), `components`
/// their boxes and areas in label order.
pub(super) fn label(
    mask: &[u8],
    w: u32,
    h: u32,
    labels: &mut Vec<u32>,
    parents: &mut Vec<u32>,
    components: &mut Vec<Component>,
) {
    let (w, h) = (w as usize, h as usize);
    labels.clear();
    labels.resize(w * h, 0);
    parents.clear();
    parents.push(0);
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if mask[i] == 0 {
                continue;
            }
            // Already-labelled neighbours: left, and the three above.
            let mut found = 0u32;
            let mut neighbours = [0u32; 4];
            if x > 0 {
                neighbours[0] = labels[i - 1];
            }
            if y > 0 {
                let above = i - w;
                if x > 0 {
                    neighbours[1] = labels[above - 1];
                }
                neighbours[2] = labels[above];
                if x + 1 < w {
                    neighbours[3] = labels[above + 1];
                }
            }
            for n in neighbours.into_iter().filter(|&n| n != 0) {
                if found == 0 {
                    found = find(parents, n);
                } else {
                    let root = find(parents, n);
                    if root != found {
                        let (low, high) = (root.min(found), root.max(found));
                        parents[high as usize] = low;
                        found = low;
                    }
                }
            }
            if found == 0 {
                found = parents.len() as u32;
                parents.push(found);
            }
            labels[i] = found;
        }
    }
    // Roots to consecutive labels.
    let mut next = 0u32;
    let mut renumber = vec![0u32; parents.len()];
    for (l, slot) in renumber.iter_mut().enumerate().skip(1) {
        if find(parents, l as u32) == l as u32 {
            next += 1;
            *slot = next;
        }
    }
    components.clear();
    components.resize(
        next as usize,
        Component {
            x0: u32::MAX,
            y0: u32::MAX,
            x1: 0,
            y1: 0,
            area: 0,
        },
    );
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if labels[i] == 0 {
                continue;
            }
            let root = find(parents, labels[i]);
            let l = renumber[root as usize];
            labels[i] = l;
            let c = &mut components[l as usize - 1];
            let (x, y) = (x as u32, y as u32);
            c.x0 = c.x0.min(x);
            c.y0 = c.y0.min(y);
            c.x1 = c.x1.max(x);
            c.y1 = c.y1.max(y);
            c.area += 1;
        }
    }
}

/// Root of `i` with path halving.
pub(super) fn find(parents: &mut [u32], mut i: u32) -> u32 {
    while parents[i as usize] != i {
        let grand = parents[parents[i as usize] as usize];
        parents[i as usize] = grand;
        i = grand;
    }
    i
}

/// Chamfer (3-4) distance of every object pixel to the nearest background pixel; the box
/// has a background border, so no look-up leaves it.
pub(super) fn chamfer(local: &[u8], w: usize, h: usize, distance: &mut Vec<u16>) {
    const FAR: u16 = u16::MAX / 2;
    distance.clear();
    distance.extend(local.iter().map(|&v| if v == 0 { 0 } else { FAR }));
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            if distance[i] == 0 {
                continue;
            }
            let d = (distance[i - 1] + 3)
                .min(distance[i - w] + 3)
                .min(distance[i - w - 1] + 4)
                .min(distance[i - w + 1] + 4);
            distance[i] = distance[i].min(d);
        }
    }
    for y in (1..h - 1).rev() {
        for x in (1..w - 1).rev() {
            let i = y * w + x;
            if distance[i] == 0 {
                continue;
            }
            let d = (distance[i + 1] + 3)
                .min(distance[i + w] + 3)
                .min(distance[i + w + 1] + 4)
                .min(distance[i + w - 1] + 4);
            distance[i] = distance[i].min(d);
        }
    }
}

/// Otsu's threshold: the bin that best splits `histogram` into two classes (the first bin
/// of the upper class); 0 for an empty histogram.
pub(super) fn otsu(histogram: &[u32]) -> usize {
    let total: f64 = histogram.iter().map(|&n| f64::from(n)).sum();
    if total == 0.0 {
        return 0;
    }
    let sum_all: f64 = histogram
        .iter()
        .enumerate()
        .map(|(i, &n)| i as f64 * f64::from(n))
        .sum();
    let (mut weight_low, mut sum_low) = (0.0, 0.0);
    let (mut best, mut best_at) = (-1.0, 0);
    for (i, &n) in histogram.iter().enumerate() {
        weight_low += f64::from(n);
        sum_low += i as f64 * f64::from(n);
        let weight_high = total - weight_low;
        if weight_low == 0.0 || weight_high == 0.0 {
            continue;
        }
        let mean_low = sum_low / weight_low;
        let mean_high = (sum_all - sum_low) / weight_high;
        let between = weight_low * weight_high * (mean_low - mean_high) * (mean_low - mean_high);
        if between > best {
            best = between;
            best_at = i + 1;
        }
    }
    best_at
}
