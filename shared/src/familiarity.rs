//! How familiar a cell looks to a model: the Mahalanobis distance of its features (what the
//! network's last layer reads) to the nearest class of the cells it learnt from, with one
//! covariance shared by the classes (Lee et al., NeurIPS 2018).
//!
//! A network's confidence says how far a cell sits from its decision boundaries, not from
//! its training data: a neutrophil from another lab's glass can be called eosinophil at
//! 0.99. The distance asks whether the cell's features lie where the training cells' did,
//! and the edge leaves a cell beyond [`FamiliarityProfile::unfamiliar_above`] out of the
//! count, as it does a cell the model is unsure of.
//!
//! The trainer fits the profile (`leukoscope-train familiar`) and stores it whitened: with
//! `Σ⁻¹ = WᵀW` for a lower-triangular `W`, the distance to class `c` is `|Wx − Wμ_c|`, so a
//! cell costs one triangular product (`d(d+1)/2` multiply-adds, 131 k for 512 features:
//! under a thousandth of the network) and the stored matrix is half a full inverse.

use alloc::vec;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

/// The training cells' features summarised for measuring how far a new cell lies from them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FamiliarityProfile {
    /// Length `d` of the feature vector it measures (the model's [`features_len`]).
    ///
    /// [`features_len`]: crate::engine::Engine::features_len
    pub features: u32,
    /// `W`, lower triangular, packed by rows (row `i` holds its `i + 1` values from the
    /// diagonal's left): `d(d+1)/2` values whose `WᵀW` is the pooled covariance's inverse.
    pub whitening: Vec<f32>,
    /// Each class's mean feature vector times `W`, `d` values per class present in
    /// training (classes without training cells have none).
    pub centres: Vec<f32>,
    /// Cells farther than this from every centre are unfamiliar. The trainer sets it so
    /// that a chosen share (5 % by default) of held-out cells of the training labs lie
    /// beyond it.
    pub unfamiliar_above: f32,
}

/// Why a profile cannot be used.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FamiliarityError {
    /// The whitening matrix does not have `d(d+1)/2` values.
    #[error(
        "the familiarity profile's whitening has {found} values; {features} features need {expected}"
    )]
    WhiteningLength {
        /// The profile's feature count.
        features: u32,
        /// Values a packed triangle of that side holds.
        expected: u64,
        /// Values present.
        found: u64,
    },
    /// No class centre, or a partial one.
    #[error(
        "the familiarity profile's centres ({found} values) are not a whole number of at least one {features}-feature vectors"
    )]
    Centres {
        /// The profile's feature count.
        features: u32,
        /// Values present.
        found: u64,
    },
    /// A value that is not a finite number.
    #[error("the familiarity profile holds a value that is not a finite number")]
    NonFinite,
    /// The threshold is not a positive number.
    #[error("the familiarity threshold {0} is not a positive number")]
    Threshold(f32),
    /// The profile measures another feature vector than the model has.
    #[error(
        "the familiarity profile measures {profile} features but the model's last layer reads {model}"
    )]
    FeatureCount {
        /// The profile's feature count.
        profile: u32,
        /// The model's.
        model: u64,
    },
}

/// Values in a packed lower triangle of side `d`.
pub fn packed_len(d: usize) -> usize {
    d * (d + 1) / 2
}

impl FamiliarityProfile {
    /// Checks the parts fit together and are numbers; `model_features` is the model's
    /// feature count.
    pub fn validate(&self, model_features: usize) -> Result<(), FamiliarityError> {
        let d = self.features as usize;
        if d as u64 != model_features as u64 {
            return Err(FamiliarityError::FeatureCount {
                profile: self.features,
                model: model_features as u64,
            });
        }
        let expected = (d as u64) * (d as u64 + 1) / 2;
        if self.whitening.len() as u64 != expected {
            return Err(FamiliarityError::WhiteningLength {
                features: self.features,
                expected,
                found: self.whitening.len() as u64,
            });
        }
        if d == 0 || self.centres.is_empty() || !self.centres.len().is_multiple_of(d) {
            return Err(FamiliarityError::Centres {
                features: self.features,
                found: self.centres.len() as u64,
            });
        }
        if !self
            .whitening
            .iter()
            .chain(&self.centres)
            .all(|v| v.is_finite())
        {
            return Err(FamiliarityError::NonFinite);
        }
        if !(self.unfamiliar_above.is_finite() && self.unfamiliar_above > 0.0) {
            return Err(FamiliarityError::Threshold(self.unfamiliar_above));
        }
        Ok(())
    }

    /// The distance from `features` to the nearest class centre, in the training cells'
    /// spread: about `√d` for a typical training cell, far more for a cell unlike any.
    /// Not-a-number features give infinity, which is unfamiliar.
    ///
    /// # Panics
    /// If `features` is not [`features`](Self::features) long (a profile that passed
    /// [`validate`](Self::validate) against the model gives the model's length).
    pub fn distance(&self, features: &[f32]) -> f32 {
        let d = self.features as usize;
        assert_eq!(features.len(), d, "features length");
        let mut whitened = vec![0.0f32; d];
        let mut row = 0;
        for (i, z) in whitened.iter_mut().enumerate() {
            let weights = &self.whitening[row..row + i + 1];
            // Summed in f64: 512 products of mixed sign lose a few bits in f32, and the
            // threshold is fitted on these very numbers in the trainer.
            *z = weights
                .iter()
                .zip(features)
                .map(|(&w, &x)| f64::from(w) * f64::from(x))
                .sum::<f64>() as f32;
            row += i + 1;
        }
        let nearest = self
            .centres
            .chunks_exact(d)
            .map(|centre| {
                whitened
                    .iter()
                    .zip(centre)
                    .map(|(&z, &c)| {
                        let e = f64::from(z) - f64::from(c);
                        e * e
                    })
                    .sum::<f64>()
            })
            .fold(f64::INFINITY, f64::min);
        // NaN features make every sum NaN, which `min` passes over: infinity, unfamiliar.
        libm::sqrt(nearest) as f32
    }

    /// Whether a cell at `distance` is unlike the cells the model learnt from.
    pub fn is_unfamiliar(&self, distance: f32) -> bool {
        distance.is_nan() || distance > self.unfamiliar_above
    }
}

#[cfg(test)]
mod tests;
