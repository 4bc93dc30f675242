//! Feeding the training loop: samples are read, augmented and preprocessed on worker
//! threads while the previous batch trains, and every sample's randomness comes from
//! `(seed, epoch, sample)` alone, so a run is repeatable whatever the thread timing.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use rand::SeedableRng;
use rand::distr::{Distribution, weighted::WeightedIndex};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::examples::ExampleSet;

/// Something that can produce model inputs for numbered samples.
pub trait SampleSource: Send + Sync + 'static {
    /// Number of samples.
    fn len(&self) -> usize;

    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `[channels, height, width]` of every input.
    fn input_shape(&self) -> [usize; 3];

    /// Class of sample `index`.
    fn label(&self, index: usize) -> u32;

    /// The source (lab) sample `index` comes from; one source unless the set says otherwise.
    fn source(&self, _index: usize) -> u32 {
        0
    }

    /// The preprocessed input of sample `index` for `epoch` (augmented when the source
    /// augments), or why it could not be read.
    fn input(&self, index: usize, epoch: u64, seed: u64) -> Result<Vec<f32>, String>;
}

impl SampleSource for ExampleSet {
    fn len(&self) -> usize {
        ExampleSet::len(self)
    }

    fn input_shape(&self) -> [usize; 3] {
        self.input_shape
    }

    fn label(&self, index: usize) -> u32 {
        self.labels()[index]
    }

    fn input(&self, index: usize, _epoch: u64, _seed: u64) -> Result<Vec<f32>, String> {
        Ok(ExampleSet::input(self, index).to_vec())
    }
}

/// How an epoch visits the samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Order {
    /// In index order (evaluation).
    Sequential,
    /// A fresh permutation every epoch.
    Shuffled,
    /// As many draws as samples, with replacement, each class equally likely (for
    /// imbalanced data).
    Balanced,
    /// As [`Order::Balanced`], and within a class each source that has it equally likely:
    /// a lab's 30 neutrophils are drawn as often as another's 3,000, so no lab's look
    /// stands for a class.
    BalancedBySource,
}

/// The sample indices one epoch visits, in order; `sources` gives each sample's source
/// (empty: one source).
pub fn epoch_order(
    labels: &[u32],
    sources: &[u32],
    order: Order,
    seed: u64,
    epoch: u64,
) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ epoch.wrapping_mul(0xD134_2543_DE82_EF95));
    match order {
        Order::Sequential => (0..labels.len()).collect(),
        Order::Shuffled => {
            let mut indices: Vec<usize> = (0..labels.len()).collect();
            indices.shuffle(&mut rng);
            indices
        }
        Order::Balanced => {
            let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
            let mut counts = vec![0usize; classes];
            for &l in labels {
                counts[l as usize] += 1;
            }
            let weights: Vec<f64> = labels
                .iter()
                .map(|&l| 1.0 / counts[l as usize] as f64)
                .collect();
            draws(&weights, &mut rng, labels.len())
        }
        Order::BalancedBySource => {
            let source = |i: usize| sources.get(i).copied().unwrap_or(0);
            let mut counts = HashMap::<(u32, u32), usize>::new();
            for (i, &l) in labels.iter().enumerate() {
                *counts.entry((l, source(i))).or_default() += 1;
            }
            // Each class's weight is shared equally by the sources that have it.
            let mut sources_in_class = HashMap::<u32, usize>::new();
            for &(l, _) in counts.keys() {
                *sources_in_class.entry(l).or_default() += 1;
            }
            let weights: Vec<f64> = labels
                .iter()
                .enumerate()
                .map(|(i, &l)| 1.0 / (sources_in_class[&l] * counts[&(l, source(i))]) as f64)
                .collect();
            draws(&weights, &mut rng, labels.len())
        }
    }
}

/// `n` draws with replacement, sample `i` with probability proportional to `weights[i]`;
/// none when no weight is positive.
fn draws(weights: &[f64], rng: &mut ChaCha8Rng, n: usize) -> Vec<usize> {
    match WeightedIndex::new(weights) {
        Ok(dist) => (0..n).map(|_| dist.sample(rng)).collect(),
        Err(_) => Vec::new(),
    }
}

/// One batch prepared on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct HostBatch {
    /// Inputs, `[batch, channels, height, width]` flattened.
    pub inputs: Vec<f32>,
    /// Class per example.
    pub labels: Vec<u32>,
    /// Which samples these are.
    pub indices: Vec<usize>,
    /// Samples of this batch that could not be read (left out of it).
    pub failed: Vec<(usize, String)>,
}

/// Batches of one epoch, prepared `prefetch` batches ahead on a background thread that
/// spreads each batch over rayon's workers.
pub struct Batches {
    receiver: Receiver<HostBatch>,
    worker: Option<JoinHandle<()>>,
}

impl Batches {
    /// Starts preparing the batches of `order` (cut into `batch_size` pieces).
    pub fn start<S: SampleSource>(
        source: Arc<S>,
        order: Vec<usize>,
        batch_size: usize,
        epoch: u64,
        seed: u64,
        prefetch: usize,
    ) -> Self {
        let (sender, receiver) = sync_channel(prefetch.max(1));
        let batch_size = batch_size.max(1);
        let worker = std::thread::spawn(move || {
            for chunk in order.chunks(batch_size) {
                let loaded: Vec<(usize, Result<Vec<f32>, String>)> = chunk
                    .par_iter()
                    .map(|&i| (i, source.input(i, epoch, seed)))
                    .collect();
                let mut batch = HostBatch {
                    inputs: Vec::with_capacity(
                        chunk.len() * source.input_shape().iter().product::<usize>(),
                    ),
                    labels: Vec::with_capacity(chunk.len()),
                    indices: Vec::with_capacity(chunk.len()),
                    failed: Vec::new(),
                };
                for (i, input) in loaded {
                    match input {
                        Ok(values) => {
                            batch.inputs.extend_from_slice(&values);
                            batch.labels.push(source.label(i));
                            batch.indices.push(i);
                        }
                        Err(reason) => batch.failed.push((i, reason)),
                    }
                }
                // The consumer stopped early (an error, or early stopping): nothing to do.
                if sender.send(batch).is_err() {
                    return;
                }
            }
        });
        Batches {
            receiver,
            worker: Some(worker),
        }
    }
}

impl Iterator for Batches {
    type Item = HostBatch;

    fn next(&mut self) -> Option<HostBatch> {
        match self.receiver.recv() {
            Ok(batch) => Some(batch),
            Err(_) => {
                if let Some(worker) = self.worker.take() {
                    // A panicking worker is a bug in a source; surface it rather than
                    // train on a silently shortened epoch.
                    if let Err(panic) = worker.join() {
                        std::panic::resume_unwind(panic);
                    }
                }
                None
            }
        }
    }
}

impl Drop for Batches {
    fn drop(&mut self) {
        // Unblock the worker (its send fails once the receiver is gone) and wait for it.
        let (_, dead) = sync_channel(0);
        let receiver = std::mem::replace(&mut self.receiver, dead);
        drop(receiver);
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests;
