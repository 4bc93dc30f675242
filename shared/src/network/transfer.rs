//! A network started from another one's weights where they fit: a backbone trained on one
//! class set (or at one scale) carries over to another, and what does not fit, the new
//! head above all, is drawn fresh.

use alloc::vec::Vec;

use super::{Initialization, initial_weights};
use crate::artifact::{ArtifactError, check_fits};
use crate::params::Weights;
use crate::spec::{ModelSpec, ParamTensor};

/// Weights for a target spec, carried from a trained one where they fit.
#[derive(Clone, Debug, PartialEq)]
pub struct Transfer {
    /// One tensor per entry of the target's layout.
    pub weights: Weights,
    /// The target's tensors drawn fresh, in layout order: those of a node and role the
    /// trained network lacks, or of another shape.
    pub fresh: Vec<ParamTensor>,
}

/// Weights for `to` that take `trained`'s values (the weights of `from`) for every tensor
/// of the same node, role and shape, and draw the rest as [`Network::initialized`] would
/// for `to` with `seed` and `initialization`.
///
/// [`Network::initialized`]: super::Network::initialized
pub fn transfer(
    from: &ModelSpec,
    trained: &Weights,
    to: &ModelSpec,
    seed: u64,
    initialization: Initialization,
) -> Result<Transfer, ArtifactError> {
    let source = from.parameter_layout()?;
    check_fits(&source, trained)?;
    let target = to.parameter_layout()?;
    let mut weights = initial_weights(to, seed, initialization)?;
    let mut fresh = Vec::new();
    for (tensor, values) in target.iter().zip(&mut weights.tensors) {
        let carried = source
            .iter()
            .zip(&trained.tensors)
            .find(|(s, _)| s.node == tensor.node && s.role == tensor.role)
            .filter(|(s, _)| s.shape == tensor.shape);
        match carried {
            Some((_, trained)) => values.clone_from(trained),
            None => fresh.push(tensor.clone()),
        }
    }
    Ok(Transfer { weights, fresh })
}
