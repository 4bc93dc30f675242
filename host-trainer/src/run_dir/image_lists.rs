//! `train.csv` and `valid.csv`: the images on each side of a run's split, in the CSV layout
//! that `--data` reads (`path,label,group`).
//!
//! A run on several sources cannot rebuild its split from one `--data` folder, and a folder
//! that changed since cannot rebuild it at all; the lists say which cells the model learnt
//! from and which it never saw, so `eval --data RUN/valid.csv` and `calibrate` score the
//! run's own held-out cells whatever their sources. Paths are absolute; the group is the
//! source's name and the near-duplicate group (`pbc/g17`), so a list read back keeps
//! related images together and says where each came from.

use std::path::Path;

use crate::dataset::{Dataset, Split};

use super::{RunDir, RunDirError};

/// A split's two lists, rendered before training starts so that a path no list can name
/// stops the run before it has cost anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitLists {
    train: Vec<u8>,
    /// `None` when nothing is held out (`train --valid-fraction 0`): both sides are every
    /// image, and a `valid.csv` would pass training images off as held out.
    valid: Option<Vec<u8>>,
}

impl SplitLists {
    /// The lists of `split` of `dataset`.
    pub fn new(dataset: &Dataset, split: &Split) -> Result<Self, RunDirError> {
        Ok(SplitLists {
            train: render(dataset, &split.train)?,
            valid: (split.train != split.valid)
                .then(|| render(dataset, &split.valid))
                .transpose()?,
        })
    }

    /// Writes `train.csv` and `valid.csv` into `run`, removing a `valid.csv` an earlier run
    /// in the folder left when this one holds nothing out.
    pub fn write(&self, run: &RunDir) -> Result<(), RunDirError> {
        super::write_file(&run.train_list(), &self.train)?;
        let valid = run.valid_list();
        match &self.valid {
            Some(bytes) => super::write_file(&valid, bytes),
            None => match std::fs::remove_file(&valid) {
                Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
                    Err(RunDirError::Write {
                        path: valid,
                        source,
                    })
                }
                _ => Ok(()),
            },
        }
    }
}

/// `dataset`'s images at `indices` as CSV text with a header.
fn render(dataset: &Dataset, indices: &[usize]) -> Result<Vec<u8>, RunDirError> {
    let mut list = ::csv::Writer::from_writer(Vec::new());
    let unlisted = |path: &Path, reason: String| RunDirError::Unlisted {
        path: path.to_owned(),
        reason,
    };
    let in_memory = |e: ::csv::Error| unlisted(Path::new("train.csv"), e.to_string());
    list.write_record(["path", "label", "group"])
        .map_err(in_memory)?;
    for &i in indices {
        let sample = &dataset.samples[i];
        let absolute =
            std::path::absolute(&sample.path).map_err(|e| unlisted(&sample.path, e.to_string()))?;
        let text = absolute
            .to_str()
            .ok_or_else(|| unlisted(&sample.path, "the path is not UTF-8".into()))?;
        let class = &dataset.taxonomy.classes[sample.label as usize].name;
        let group = format!("{}/g{}", dataset.source_name(sample.source), sample.group);
        list.write_record([text, class, &group])
            .map_err(in_memory)?;
    }
    list.into_inner()
        .map_err(|e| unlisted(Path::new("train.csv"), e.error().to_string()))
}
