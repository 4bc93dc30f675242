//! Splits that keep every group whole and every class in proportion: stratified group
//! k-fold and a stratified group hold-out; and leave-one-source-out, which holds out whole
//! sources instead.
//!
//! Both place whole groups, largest first, each into the part it leaves closest to its
//! target share of every class (greedy, like scikit-learn's `StratifiedGroupKFold`). Groups
//! of equal size are taken in an order drawn from the seed, so another seed gives another
//! split and the same seed the same split, on every platform.

use std::fmt::Write as _;

use leukoscope_core::taxonomy::ClassId;

use super::{Dataset, DatasetError, percent};

/// One division of a dataset's samples.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// Indices into [`Dataset::samples`] to train on, ascending.
    pub train: Vec<usize>,
    /// Indices into [`Dataset::samples`] to validate on, ascending.
    pub valid: Vec<usize>,
}

/// `folds` splits whose validation parts cover every sample exactly once. No group is on
/// both sides of any split; each validation part holds about `1/folds` of every class, and
/// every class that has at least `folds` groups appears in every validation part when the
/// groups hold one class each (as they do when the label comes from a folder).
pub fn group_k_fold(
    dataset: &Dataset,
    folds: usize,
    seed: u64,
) -> Result<Vec<Split>, DatasetError> {
    if folds < 2 {
        return Err(DatasetError::InvalidSplit {
            reason: format!("{folds} folds; cross-validation needs at least 2"),
        });
    }
    if (dataset.groups as usize) < folds {
        return Err(DatasetError::TooFewGroups {
            groups: dataset.groups,
            parts: folds,
        });
    }
    let table = GroupTable::of(dataset);
    for (class, &groups) in table.groups_per_class().iter().enumerate() {
        if groups > 0 && groups < folds {
            tracing::warn!(
                class = dataset.taxonomy.class_name(class as ClassId),
                groups,
                folds,
                "a class has fewer groups than folds; some validation folds will not see it"
            );
        }
    }
    let part_of = table.assign(&vec![1.0 / folds as f64; folds], seed);
    Ok((0..folds)
        .map(|fold| table.split(dataset, &part_of, |part| part == fold))
        .collect())
}

/// One split per source, in the order of [`Dataset::sources`]: split `k` validates on every
/// image of source `k` and trains on every image of the others, so the held-out source is
/// never trained on. Groups never span sources, so no group is on both sides either.
///
/// A class the held-out source has but no other source has is one the model of that fold
/// never learns; that is warned about, not refused (it is what such a source measures).
pub fn leave_one_source_out(dataset: &Dataset) -> Result<Vec<Split>, DatasetError> {
    if dataset.sources.len() < 2 {
        return Err(DatasetError::InvalidSplit {
            reason: format!(
                "leave-one-source-out needs at least 2 sources, and {} has {}; give each with --source NAME=DIR",
                dataset.root.display(),
                dataset.sources.len()
            ),
        });
    }
    let per_source = dataset.source_class_counts();
    let splits = (0..dataset.sources.len() as u32)
        .map(|held_out| {
            for (class, &count) in per_source[held_out as usize].iter().enumerate() {
                let elsewhere: usize = per_source
                    .iter()
                    .enumerate()
                    .filter(|&(source, _)| source != held_out as usize)
                    .map(|(_, counts)| counts[class])
                    .sum();
                if count > 0 && elsewhere == 0 {
                    tracing::warn!(
                        source = dataset.source_name(held_out),
                        class = dataset.taxonomy.class_name(class as ClassId),
                        "only the held-out source has this class; its fold never learns it"
                    );
                }
            }
            let (valid, train) =
                (0..dataset.samples.len()).partition(|&i| dataset.samples[i].source == held_out);
            Split { train, valid }
        })
        .collect();
    Ok(splits)
}

/// One split with about `valid_fraction` of every class in the validation part, no group on
/// both sides, and neither side empty.
pub fn group_holdout(
    dataset: &Dataset,
    valid_fraction: f64,
    seed: u64,
) -> Result<Split, DatasetError> {
    if !(valid_fraction > 0.0 && valid_fraction < 1.0) {
        return Err(DatasetError::InvalidSplit {
            reason: format!("validation fraction {valid_fraction}; it must lie between 0 and 1"),
        });
    }
    if dataset.groups < 2 {
        return Err(DatasetError::TooFewGroups {
            groups: dataset.groups,
            parts: 2,
        });
    }
    let table = GroupTable::of(dataset);
    let mut part_of = table.assign(&[1.0 - valid_fraction, valid_fraction], seed);
    // Extreme fractions with few groups can leave a side empty; give it the smallest group
    // of the other side rather than return a split that cannot train or cannot validate.
    for side in [0, 1] {
        if !part_of.contains(&side) {
            let smallest = (0..part_of.len()).min_by_key(|&g| (table.sizes[g], g));
            if let Some(g) = smallest {
                part_of[g] = side;
            }
        }
    }
    Ok(table.split(dataset, &part_of, |part| part == 1))
}

/// `train: N images in G groups (Benign n p %, ...); valid: ...`, for logs and reports;
/// with several sources, each side also names the sources it draws from.
pub fn describe_split(dataset: &Dataset, split: &Split) -> String {
    let side = |name: &str, indices: &[usize]| {
        let mut counts = vec![0usize; dataset.taxonomy.len()];
        let mut groups: Vec<u32> = Vec::with_capacity(indices.len());
        let mut sources = vec![0usize; dataset.sources.len()];
        for sample in indices.iter().filter_map(|&i| dataset.samples.get(i)) {
            if let Some(count) = counts.get_mut(sample.label as usize) {
                *count += 1;
            }
            if let Some(count) = sources.get_mut(sample.source as usize) {
                *count += 1;
            }
            groups.push(sample.group);
        }
        groups.sort_unstable();
        groups.dedup();
        let mut text = format!(
            "{name}: {} images in {} groups (",
            indices.len(),
            groups.len()
        );
        for (class, &count) in counts.iter().enumerate() {
            if class > 0 {
                text.push_str(", ");
            }
            let _ = write!(
                text,
                "{} {count} {:.1} %",
                dataset.taxonomy.class_name(class as ClassId),
                percent(count, indices.len())
            );
        }
        text.push(')');
        if dataset.sources.len() > 1 {
            let named: Vec<String> = (0..sources.len())
                .filter(|&s| sources[s] > 0)
                .map(|s| format!("{} {}", dataset.source_name(s as u32), sources[s]))
                .collect();
            let _ = write!(text, " from {}", named.join(", "));
        }
        text
    };
    format!(
        "{}; {}",
        side("train", &split.train),
        side("valid", &split.valid)
    )
}

/// Images per class in every group.
struct GroupTable {
    /// `counts[group][class]`.
    counts: Vec<Vec<usize>>,
    /// Images in each group.
    sizes: Vec<usize>,
    /// Images in each class.
    class_totals: Vec<usize>,
}

impl GroupTable {
    fn of(dataset: &Dataset) -> Self {
        let classes = dataset.taxonomy.len();
        let mut counts = vec![vec![0usize; classes]; dataset.groups as usize];
        let mut class_totals = vec![0usize; classes];
        for sample in &dataset.samples {
            let group = counts.get_mut(sample.group as usize);
            if let Some(count) = group.and_then(|g| g.get_mut(sample.label as usize)) {
                *count += 1;
                class_totals[sample.label as usize] += 1;
            }
        }
        let sizes = counts.iter().map(|c| c.iter().sum()).collect();
        GroupTable {
            counts,
            sizes,
            class_totals,
        }
    }

    /// Groups holding at least one image of each class.
    fn groups_per_class(&self) -> Vec<usize> {
        let mut groups = vec![0; self.class_totals.len()];
        for counts in &self.counts {
            for (class, &count) in counts.iter().enumerate() {
                groups[class] += usize::from(count > 0);
            }
        }
        groups
    }

    /// The part of every group, for parts that should hold `shares` of every class.
    ///
    /// The imbalance is a chi-square: the sum over parts and classes of the squared gap
    /// between the part's fraction of the class and its share, divided by the share. Each
    /// group goes where adding it raises that sum least, which is the part whose fill of the
    /// group's classes is furthest behind its share, relative to that share. Without the
    /// division a large part would take every large group first and leave a small
    /// validation part only the singletons. Ties go to the part least filled relative to its
    /// share, then to the lower index.
    fn assign(&self, shares: &[f64], seed: u64) -> Vec<usize> {
        let classes = self.class_totals.len();
        let mut order: Vec<usize> = (0..self.counts.len()).collect();
        order.sort_by_key(|&g| (std::cmp::Reverse(self.sizes[g]), mix(seed, g as u64)));
        let mut fraction = vec![vec![0.0f64; classes]; shares.len()];
        let mut filled = vec![0usize; shares.len()];
        let mut part_of = vec![0usize; self.counts.len()];
        for g in order {
            let added: Vec<f64> = (0..classes)
                .map(|c| match self.class_totals[c] {
                    0 => 0.0,
                    total => self.counts[g][c] as f64 / total as f64,
                })
                .collect();
            let cost = |part: usize| -> f64 {
                added
                    .iter()
                    .zip(&fraction[part])
                    .map(|(&d, &x)| d * (2.0 * (x - shares[part]) + d))
                    .sum::<f64>()
                    / shares[part]
            };
            let fill = |part: usize| filled[part] as f64 / shares[part];
            let mut best = 0;
            for part in 1..shares.len() {
                let (a, b) = (cost(part), cost(best));
                // Costs that differ only by rounding are ties.
                let tie = (a - b).abs() <= 1e-12 * (1.0 + a.abs().max(b.abs()));
                if (!tie && a < b) || (tie && fill(part) < fill(best)) {
                    best = part;
                }
            }
            for (x, d) in fraction[best].iter_mut().zip(&added) {
                *x += d;
            }
            filled[best] += self.sizes[g];
            part_of[g] = best;
        }
        part_of
    }

    /// Samples whose group's part satisfies `is_valid` go to validation, the rest to training.
    fn split(
        &self,
        dataset: &Dataset,
        part_of: &[usize],
        is_valid: impl Fn(usize) -> bool,
    ) -> Split {
        let (mut train, mut valid) = (Vec::new(), Vec::new());
        for (i, sample) in dataset.samples.iter().enumerate() {
            let part = part_of.get(sample.group as usize).copied().unwrap_or(0);
            if is_valid(part) {
                valid.push(i);
            } else {
                train.push(i);
            }
        }
        Split { train, valid }
    }
}

/// A well-mixed 64-bit key for `value` under `seed` (SplitMix64's finaliser): a fixed
/// function, so a seed gives the same order wherever it runs and whatever `rand` does next.
fn mix(seed: u64, value: u64) -> u64 {
    let mut z = seed
        .wrapping_add(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(value.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
