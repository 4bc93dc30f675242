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
    let mut id_of_root: HashMap<usize, u32> = HashMap::new();
    let ids = (0..items.len())
        .map(|i| {
            let next = id_of_root.len() as u32;
            *id_of_root.entry(sets.find(i)).or_insert(next)
        })
        .collect();
    (ids, id_of_root.len() as u32)
}

/// Union-find with path halving and union by size.
struct DisjointSets {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl DisjointSets {
    fn new(len: usize) -> Self {
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

    fn union(&mut self, a: usize, b: usize) {
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
mod tests {
    use super::*;

    fn gradient(width: u32, height: u32, shift: i32) -> RgbImage {
        let mut data = Vec::new();
        for y in 0..height {
            for x in 0..width {
                // Blocks of scattered brightness, so that about half the bits are set.
                let v = (((x / 7) * 73 + (y / 6) * 151) % 181) as i32 + shift;
                let v = v.clamp(0, 255) as u8;
                data.extend_from_slice(&[v, v / 2, 255 - v]);
            }
        }
        RgbImage::from_raw(width, height, data).unwrap()
    }

    #[test]
    fn brightness_does_not_move_the_hash_and_other_pictures_do() {
        let a = gradient(64, 48, 0);
        let brighter = gradient(64, 48, 6);
        let flipped = {
            let mut data = Vec::new();
            for y in 0..48 {
                for x in (0..64).rev() {
                    let i = (y * 64 + x) * 3;
                    data.extend_from_slice(&a.as_raw()[i..i + 3]);
                }
            }
            RgbImage::from_raw(64, 48, data).unwrap()
        };
        let h = difference_hash(&a);
        assert_ne!(h, 0);
        assert!(hamming(h, difference_hash(&brighter)) <= 2);
        assert!(hamming(h, difference_hash(&flipped)) >= 16);
        assert_eq!(difference_hash(&RgbImage::filled(0, 0, [0; 3])), 0);
        // Tiny images still hash without panicking.
        let _ = difference_hash(&RgbImage::filled(3, 2, [9; 3]));
    }

    #[test]
    fn groups_join_subjects_copies_and_near_copies() {
        let [s1, s2, s3, s4] = [[1u8; 32], [2; 32], [3; 32], [4; 32]];
        let items = [
            Hashed {
                sha256: &s1,
                dhash: 0,
                subject: None,
            },
            // Same bytes as the first: joined by the bytes, whatever the hash says.
            Hashed {
                sha256: &s1,
                dhash: u64::MAX,
                subject: None,
            },
            Hashed {
                sha256: &s2,
                dhash: 0b111,
                subject: None,
            },
            Hashed {
                sha256: &s3,
                dhash: 0xFFFF_0000,
                subject: Some("p1"),
            },
            Hashed {
                sha256: &s4,
                dhash: 0xFFFF_0000,
                subject: Some("p2"),
            },
            Hashed {
                sha256: &s2,
                dhash: 0xF0F0,
                subject: Some("p1"),
            },
        ];
        let (ids, groups) = group(&items, 3);
        // 0,1 same bytes; 2 within 3 bits of 0; 5 same bytes as 2 and same subject as 3.
        assert_eq!(ids, vec![0, 0, 0, 0, 1, 0]);
        assert_eq!(groups, 2);
        let (ids, groups) = group(&items[3..5], 64);
        assert_eq!(
            (ids, groups),
            (vec![0, 1], 2),
            "named subjects are not joined by hash"
        );
        assert_eq!(nearest_neighbour_distances(&[0, 1, 0xFF]), vec![1, 1, 7]);
        assert_eq!(nearest_neighbour_distances(&[5]), vec![64]);
    }
}
