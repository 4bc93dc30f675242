//! Samples read from image files: decoded, augmented when training, then preprocessed by
//! the core's one routine.

use std::path::PathBuf;

use leukoscope_core::files::load_rgb;
use leukoscope_core::preprocess::Preprocess;

use crate::augment::{Augment, sample_rng};
use crate::loader::SampleSource;

/// Image files with labels, as a [`SampleSource`].
#[derive(Clone, Debug)]
pub struct ImageFiles {
    paths: Vec<PathBuf>,
    labels: Vec<u32>,
    /// Each sample's source; empty for one source.
    sources: Vec<u32>,
    preprocess: Preprocess,
    augment: Option<Augment>,
}

impl ImageFiles {
    /// `samples` as (path, label); `augment` is applied to training samples only, with
    /// randomness drawn from `(seed, epoch, position in this list)`.
    pub fn new(
        samples: impl IntoIterator<Item = (PathBuf, u32)>,
        preprocess: Preprocess,
        augment: Option<Augment>,
    ) -> Self {
        let (paths, labels) = samples.into_iter().unzip();
        ImageFiles {
            paths,
            labels,
            sources: Vec::new(),
            preprocess,
            augment,
        }
    }

    /// The same samples, each from the source (lab) `sources` gives in order.
    pub fn with_sources(self, sources: Vec<u32>) -> Self {
        ImageFiles { sources, ..self }
    }

    /// The file of sample `index`.
    pub fn path(&self, index: usize) -> &std::path::Path {
        &self.paths[index]
    }
}

impl SampleSource for ImageFiles {
    fn len(&self) -> usize {
        self.paths.len()
    }

    fn input_shape(&self) -> [usize; 3] {
        [
            3,
            self.preprocess.height as usize,
            self.preprocess.width as usize,
        ]
    }

    fn label(&self, index: usize) -> u32 {
        self.labels[index]
    }

    fn source(&self, index: usize) -> u32 {
        self.sources.get(index).copied().unwrap_or(0)
    }

    fn input(&self, index: usize, epoch: u64, seed: u64) -> Result<Vec<f32>, String> {
        let image = load_rgb(&self.paths[index]).map_err(|e| {
            let cause = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_default();
            format!("{e}: {cause}")
        })?;
        let image = match &self.augment {
            Some(augment) => augment.apply(&image, &mut sample_rng(seed, epoch, index as u64)),
            None => image,
        };
        self.preprocess
            .run_to_vec(image.view())
            .map_err(|e| format!("{}: {e}", self.paths[index].display()))
    }
}

#[cfg(test)]
mod tests;
