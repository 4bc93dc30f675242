//! How familiar a cell looks to a model: the Mahalanobis distance of its features (the
//! values the network's last layer reads) to the nearest class of the cells it learnt from,
//! with one covariance shared by the classes (Lee et al., NeurIPS 2018).
//!
//! A network's confidence says how far a cell sits from its decision boundaries, not from
//! its training data: a neutrophil from another lab's glass can be called eosinophil at
//! 0.99. The distance asks instead whether the cell's features lie where training cells'
//! did.
//!
//! This module fits the profile; the core measures it ([`FamiliarityProfile::distance`]),
//! so the figures the trainer prints and the calls the board makes come from one distance.

use leukoscope_core::engine::Engine;
use leukoscope_core::familiarity::FamiliarityProfile;
use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use crate::loader::SampleSource;

/// Why a profile could not be fitted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FamiliarityError {
    /// Fewer cells than two, or none with a label in range.
    #[error("a feature profile needs at least two cells; got {cells}")]
    TooFewCells {
        /// Cells given.
        cells: usize,
    },
    /// Feature vectors of different lengths.
    #[error("feature vectors of different lengths ({first} and {other})")]
    Ragged {
        /// The first vector's length.
        first: usize,
        /// A later one's.
        other: usize,
    },
    /// The features do not vary at all, so no distance can be measured in their spread.
    #[error("the features do not vary across the cells; no spread to measure a distance in")]
    NoSpread,
}

/// The training cells' features summarised for the core's distance: each class's mean and
/// the pooled covariance, whitened ([`FamiliarityProfile`]), before a threshold is chosen.
#[derive(Clone, Debug)]
pub struct FeatureProfile {
    whitened: FamiliarityProfile,
}

/// The share of the covariance's mean variance added to its diagonal, so that a profile of
/// fewer cells than feature dimensions (or of dimensions that never vary) still inverts;
/// small enough that the distance stays dominated by the spread the cells show.
const SHRINKAGE: f64 = 0.01;

impl FeatureProfile {
    /// Fits the profile to `features` of cells whose classes are `labels`; a class with no
    /// cell has no mean and is never the nearest.
    pub fn fit(features: &[Vec<f32>], labels: &[u32]) -> Result<Self, FamiliarityError> {
        let cells = features.len().min(labels.len());
        if cells < 2 {
            return Err(FamiliarityError::TooFewCells { cells });
        }
        let dims = features[0].len();
        if let Some(other) = features.iter().map(Vec::len).find(|&n| n != dims) {
            return Err(FamiliarityError::Ragged { first: dims, other });
        }
        let classes = labels.iter().max().map_or(0, |&c| c as usize + 1);
        let mut sums = vec![DVector::<f64>::zeros(dims); classes];
        let mut counts = vec![0usize; classes];
        let vector = |f: &[f32]| DVector::from_iterator(dims, f.iter().map(|&v| f64::from(v)));
        for (f, &label) in features.iter().zip(labels) {
            sums[label as usize] += vector(f);
            counts[label as usize] += 1;
        }
        let means: Vec<DVector<f64>> = sums
            .into_iter()
            .zip(&counts)
            .filter(|(_, n)| **n > 0)
            .map(|(sum, &n)| sum / n as f64)
            .collect();
        let mut index = vec![usize::MAX; classes];
        for (k, class) in (0..classes).filter(|&c| counts[c] > 0).enumerate() {
            index[class] = k;
        }
        let mut covariance = DMatrix::<f64>::zeros(dims, dims);
        for (f, &label) in features.iter().zip(labels) {
            let d = vector(f) - &means[index[label as usize]];
            covariance.ger(1.0, &d, &d, 1.0);
        }
        covariance /= cells as f64;
        let spread = covariance.trace() / dims as f64;
        if spread <= 0.0 || !spread.is_finite() {
            return Err(FamiliarityError::NoSpread);
        }
        for i in 0..dims {
            covariance[(i, i)] += SHRINKAGE * spread;
        }
        // Σ = LLᵀ, so Σ⁻¹ = (L⁻¹)ᵀL⁻¹ and W = L⁻¹ whitens: lower triangular like L.
        let lower = covariance
            .cholesky()
            .ok_or(FamiliarityError::NoSpread)?
            .unpack();
        let whitening = lower
            .solve_lower_triangular(&DMatrix::identity(dims, dims))
            .ok_or(FamiliarityError::NoSpread)?;
        let packed = (0..dims)
            .flat_map(|i| (0..=i).map(move |j| (i, j)))
            .map(|(i, j)| whitening[(i, j)] as f32)
            .collect();
        let centres = means
            .iter()
            .flat_map(|mean| {
                (&whitening * mean)
                    .iter()
                    .map(|&v| v as f32)
                    .collect::<Vec<_>>()
            })
            .collect();
        let whitened = FamiliarityProfile {
            features: dims as u32,
            whitening: packed,
            centres,
            // A placeholder until `with_threshold`: every cell is familiar.
            unfamiliar_above: f32::MAX,
        };
        if whitened.validate(dims).is_err() {
            return Err(FamiliarityError::NoSpread);
        }
        Ok(FeatureProfile { whitened })
    }

    /// The distance from `feature` to the nearest class mean, as the board measures it
    /// ([`FamiliarityProfile::distance`]): about the square root of the feature count for a
    /// typical training cell, far more for a cell unlike any.
    ///
    /// # Panics
    /// If `feature`'s length is not the profile's.
    pub fn distance(&self, feature: &[f32]) -> f32 {
        self.whitened.distance(feature)
    }

    /// The profile the board uses, with cells beyond `unfamiliar_above` unfamiliar.
    pub fn with_threshold(self, unfamiliar_above: f32) -> FamiliarityProfile {
        FamiliarityProfile {
            unfamiliar_above,
            ..self.whitened
        }
    }
}

/// The distance beyond which `share` of `distances` lie (at most that share, ties kept
/// familiar): the threshold that flags `share` of cells like these. `None` for no
/// distances, a share outside `[0, 1)`, or a threshold that is not a positive number.
pub fn threshold_flagging(distances: &[f32], share: f64) -> Option<f32> {
    if distances.is_empty() || !(0.0..1.0).contains(&share) {
        return None;
    }
    let mut sorted: Vec<f32> = distances.to_vec();
    sorted.sort_by(f32::total_cmp);
    // The smallest t with #{d > t} <= share · n: the value at rank ceil((1 - share) · n).
    let n = sorted.len();
    let flagged = (share * n as f64).floor() as usize;
    let threshold = sorted[n - 1 - flagged.min(n - 1)];
    (threshold.is_finite() && threshold > 0.0).then_some(threshold)
}

/// What the engine made of one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct CellFeatures {
    /// The sample's position in its source.
    pub index: usize,
    /// The network's output.
    pub logits: Vec<f32>,
    /// The values the network's last step reads.
    pub features: Vec<f32>,
}

/// Each sample's logits and features, `None` where it could not be read; images run in
/// parallel.
pub fn engine_features_each<S: SampleSource>(
    engine: &Engine,
    source: &S,
) -> Vec<Option<CellFeatures>> {
    (0..source.len())
        .into_par_iter()
        .map_init(
            || engine.workspace(),
            |workspace, i| {
                let x = source.input(i, 0, 0).ok()?;
                let mut logits = vec![0.0; engine.classes()];
                let mut features = vec![0.0; engine.features_len()];
                engine.run(workspace, &x, &mut logits);
                engine.features(workspace, &mut features);
                Some(CellFeatures {
                    index: i,
                    logits,
                    features,
                })
            },
        )
        .collect()
}

#[cfg(test)]
mod tests;
