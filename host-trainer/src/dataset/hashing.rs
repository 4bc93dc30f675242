//! The difference hash (dHash) of a picture, and the groups of images that are one subject
//! or one field: the units a split must keep whole, or validation scores memory, not skill.
//!
//! The hash is written here rather than taken from `image_hasher`: it is twenty lines on
//! the core's own pixel buffer, needs no copy into the `image` crate's types, and its bits
//! are fixed by this file rather than by a dependency's resize filter, so group ids (and the
//! splits built on them) stay the same across dependency updates. `image_hasher` would also
//! bring `rustdct`/`rustfft` into the build for hashes this crate does not use.

use std::collections::HashMap;

use leukoscope_core::raster::RgbImage;
use rayon::prelude::*;

/// Columns of the grey thumbnail; one more than the bits per row, as each bit compares two
/// neighbours.
const COLUMNS: usize = 9;
/// Rows of the grey thumbnail, one byte of hash each.
const ROWS: usize = 8;

/// The 64-bit difference hash of `image`: the picture is averaged down to 9x8 grey cells
/// (box filter, integer luma) and bit `8 * row + column` is set where a cell is brighter than
/// its right-hand neighbour. Re-encoding, small noise or a small brightness change flips few
/// bits; another field flips about half. An empty image hashes to 0.
pub fn difference_hash(image: &RgbImage) -> u64 {
    let (width, height) = (image.width() as usize, image.height() as usize);
    if width == 0 || height == 0 {
        return 0;
    }
    let column_of: Vec<usize> = (0..width).map(|x| x * COLUMNS / width).collect();
    let mut sums = [0u64; COLUMNS * ROWS];
    let mut counts = [0u64; COLUMNS * ROWS];
    for (y, row) in image.as_raw().chunks_exact(width * 3).enumerate() {
        let cells = y * ROWS / height * COLUMNS;
        for (pixel, &column) in row.chunks_exact(3).zip(&column_of) {
            let luma =
                299 * u64::from(pixel[0]) + 587 * u64::from(pixel[1]) + 114 * u64::from(pixel[2]);
            sums[cells + column] += luma;
            counts[cells + column] += 1;
        }
    }
    let mut hash = 0u64;
    for row in 0..ROWS {
        for column in 0..COLUMNS - 1 {
            let (left, right) = (row * COLUMNS + column, row * COLUMNS + column + 1);
            // Means compared by cross-multiplying, exactly; u128 because a huge image's sums
            // times counts would overflow u64.
            let brighter = u128::from(sums[left]) * u128::from(counts[right])
                > u128::from(sums[right]) * u128::from(counts[left]);
            if brighter {
                hash |= 1 << (row * (COLUMNS - 1) + column);
            }
        }
    }
    hash
}

/// Bits in which two hashes differ.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// For each hash, the Hamming distance to the nearest other hash (64 when it is alone):
/// what to look at when choosing a near-duplicate distance. Quadratic, like the grouping.
pub fn nearest_neighbour_distances(hashes: &[u64]) -> Vec<u32> {
    hashes
        .par_iter()
        .enumerate()
        .map(|(i, &hash)| {
            hashes
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, &other)| hamming(hash, other))
                .min()
                .unwrap_or(64)
        })
        .collect()
}

/// What grouping needs to know of one image.
#[derive(Clone, Copy, Debug)]
pub(super) struct Hashed<'a> {
    /// SHA-256 of the file's bytes.
    pub sha256: &'a [u8; 32],
    /// Its difference hash.
    pub dhash: u64,
    /// The subject the dataset names, if any.
    pub subject: Option<&'a str>,
}

/// The group of every item and the number of groups. Items are joined when they name the
/// same subject, when their bytes are identical, and, if at least one of the two names no
/// subject, when their hashes differ in at most `distance` bits. Named subjects are not
/// joined by hash: cell crops of different patients can look alike, and the subject is the
/// better authority. Group ids count up in order of each group's first item.
///
/// The near-duplicate search compares every pair: n²/2 popcounts, about 0.2 s for 20,000
/// images; far larger sets would want a BK-tree or multi-index hashing.
pub(super) fn group(items: &[Hashed<'_>], distance: u32) -> (Vec<u32>, u32) {
    let mut sets = DisjointSets::new(items.len());
    let mut first_of_subject: HashMap<&str, usize> = HashMap::new();
    let mut first_of_content: HashMap<&[u8; 32], usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        if let Some(subject) = item.subject {
            let first = *first_of_subject.entry(subject).or_insert(i);
            sets.union(first, i);
        }
        let first = *first_of_content.entry(item.sha256).or_insert(i);
        sets.union(first, i);
    }
    for (i, a) in items.iter().enumerate() {
        for (j, b) in items.iter().enumerate().skip(i + 1) {
            let both_named = a.subject.is_some() && b.subject.is_some();
            if !both_named && hamming(a.dhash, b.dhash) <= distance {
                sets.union(i, j);
            }
        }
    }
    sets.ids()
}

/// Union-find with path halving and union by size.
pub(super) struct DisjointSets {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl DisjointSets {
    pub(super) fn new(len: usize) -> Self {
        DisjointSets {
            parent: (0..len).collect(),
            size: vec![1; len],
        }
    }

    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    /// The set id of every item and the number of sets, ids counting up in order of each
    /// set's first item.
    pub(super) fn ids(&mut self) -> (Vec<u32>, u32) {
        let mut id_of_root: HashMap<usize, u32> = HashMap::new();
        let ids = (0..self.parent.len())
            .map(|i| {
                let next = id_of_root.len() as u32;
                *id_of_root.entry(self.find(i)).or_insert(next)
            })
            .collect();
        (ids, id_of_root.len() as u32)
    }

    pub(super) fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        let (small, large) = if self.size[a] < self.size[b] {
            (a, b)
        } else {
            (b, a)
        };
        self.parent[small] = large;
        self.size[large] += self.size[small];
    }
}

#[cfg(test)]
mod tests;
