//! A network's batch-norm statistics re-estimated on a lab's own cells, without labels
//! (AdaBN: Li et al., "Revisiting batch normalization for practical domain adaptation",
//! 2016).
//!
//! A batch norm divides each channel by the spread it saw in training. Another lab's
//! stain, lamp and camera shift those spreads, and every layer after the first then reads
//! features off their scale: what Tsutsui et al. (2023) find breaks white-cell classifiers
//! across labs. The lab's own cells, which a clinic has without anyone labelling them, give
//! the statistics back; the learnt weights stay as they are.

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::Arc;

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};
use leukoscope_core::network::Network;

use crate::loader::{Batches, Order, SampleSource, epoch_order};

/// Batches of the lab's cells a network runs, so that the statistics it came with keep
/// under 1 % of their weight (each batch blends in at 0.1, and 0.9^44 < 0.01).
pub const ADAPTATION_BATCHES: usize = 44;

/// Fewest cells in a batch: the spread of a single cell's pooled features is zero.
pub const MIN_BATCH: usize = 2;

/// The shuffles' seed: an adaptation is repeatable.
const SEED: u64 = 0x0ADA_B0B0;

/// What an adaptation ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adaptation {
    /// Cells that were read.
    pub cells: usize,
    /// Cells that could not be read, left out.
    pub unreadable: usize,
    /// Batches run through the network.
    pub batches: usize,
}

/// Why the statistics cannot be re-estimated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AdaptationError {
    /// Fewer readable cells than one batch.
    #[error(
        "{found} readable cells; re-estimating batch-norm statistics needs at least one batch of {needed}"
    )]
    TooFewCells { found: usize, needed: usize },
}

/// Runs `cells` through `network` in training mode, `batch_size` at a time in fresh
/// shuffles, until [`ADAPTATION_BATCHES`] batches have blended their statistics into every
/// batch norm's running mean and variance. Nothing is learnt: no gradient is taken, and
/// only the running statistics change. Dropout drops as in training.
pub fn adapt_statistics<B: AutodiffBackend, S: SampleSource>(
    network: &Network<B>,
    cells: Arc<S>,
    batch_size: usize,
    device: &B::Device,
) -> Result<Adaptation, AdaptationError> {
    let batch_size = batch_size.max(MIN_BATCH);
    let too_few = |found| AdaptationError::TooFewCells {
        found,
        needed: batch_size,
    };
    let full_batches = cells.len() / batch_size;
    if full_batches == 0 {
        return Err(too_few(cells.len()));
    }
    let [c, h, w] = cells.input_shape();
    let unlabelled = vec![0; cells.len()];
    let mut unreadable = BTreeSet::new();
    let mut batches = 0;
    let mut pass = 0u64;
    while batches < ADAPTATION_BATCHES {
        let mut order = epoch_order(&unlabelled, &[], Order::Shuffled, SEED, pass);
        order.truncate(full_batches * batch_size);
        let (before, mut read) = (batches, 0);
        for batch in Batches::start(Arc::clone(&cells), order, batch_size, pass, SEED, 2) {
            unreadable.extend(batch.failed.iter().map(|(i, _)| *i));
            let n = batch.labels.len();
            read += n;
            if n < MIN_BATCH {
                continue;
            }
            let input = TensorData::new(batch.inputs, [n, c, h, w]);
            drop(network.forward(Tensor::from_data(input, device)));
            batches += 1;
            if batches == ADAPTATION_BATCHES {
                break;
            }
        }
        if batches == before {
            // A whole pass without one usable batch: the cells cannot be read.
            return Err(too_few(read));
        }
        pass += 1;
    }
    Ok(Adaptation {
        cells: cells.len() - unreadable.len(),
        unreadable: unreadable.len(),
        batches,
    })
}
