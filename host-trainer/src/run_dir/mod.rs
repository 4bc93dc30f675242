//! The run folder (`--out`): every file that `train`, `cv` and `demo` write and that
//! `eval`, `export`, `quantize`, `calibrate`, `results` and `export-onnx` read back, named
//! once, and its configuration ([`RunConfig`]) read and written as one typed record.
//!
//! | path | what |
//! | --- | --- |
//! | `config.json` | the resolved configuration ([`RunConfig`]) |
//! | `train.csv`, `valid.csv` | the images the run trained and validated on, as a CSV list `--data` reads (`image_lists`) |
//! | `metrics.csv`, `metrics.json` | one row per epoch (named and written by [`report`](crate::report)) |
//! | `checkpoint/` | the training loop's state after every epoch (its files are the loop's) |
//! | `model.lsm`, `model-int8.lsm` | the kept float model; its int8 form (`demo`, `quantize --model CV`) |
//! | `evaluation.json`, `evaluation-binary.json` | validation figures; on the binary screen |
//! | `curves.png`, `confusion.png`, `roc.png`, `confusion-binary.png` | plots |
//! | `report.md` | the page that ties them together (named and written by [`report`](crate::report)) |
//!
//! A cross-validation folder (of `cv`) holds one such folder per fold (`fold-1`, ...) and,
//! beside them, its own `config.json`, `summary.json`, `report.md`, `confusion-pooled.png`,
//! `roc-pooled.png`, and after `quantize --model CV` the [`int8`](RunDir::int8_summary)
//! figures.

mod config;
mod cross_validation;
mod image_lists;

use std::path::{Path, PathBuf};

use crate::report::{CONFUSION_PNG, CURVES_PNG, ROC_PNG};

pub use config::{ImageRun, RunConfig, RunKind, SyntheticRun};
pub use cross_validation::{Int8CrossValidation, OutOfFoldLogits};
pub use image_lists::SplitLists;

/// Why a run folder's file could not be read or written. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not the JSON it should be: malformed, or a field missing, renamed or of
    /// the wrong type (the cause names it).
    #[error("{} is not valid", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What serde said, with the field and the line.
        #[source]
        source: serde_json::Error,
    },
    /// A configuration with `null` where its `mode` needs a value.
    #[error("{} is not valid: `{field}` is null, and a `{mode}` run sets it", path.display())]
    Incomplete {
        /// The file.
        path: PathBuf,
        /// The run's mode.
        mode: &'static str,
        /// The field that is null.
        field: &'static str,
    },
    /// The value could not be written as JSON (a path that is not UTF-8).
    #[error("cannot write {} as JSON", path.display())]
    Serialize {
        /// The file.
        path: PathBuf,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// An image the run's `train.csv` or `valid.csv` cannot name.
    #[error("cannot list {} in the run's train.csv and valid.csv: {reason}", path.display())]
    Unlisted {
        /// The image (or the list, when writing it in memory failed).
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// A run folder: of one training run, of one fold, or of a whole cross-validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// The run folder at `path` (nothing is read or created).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        RunDir { path: path.into() }
    }

    /// The folder itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `config.json`: the resolved configuration; its presence marks a started run.
    pub fn config(&self) -> PathBuf {
        self.path.join("config.json")
    }

    /// `model.lsm`: the kept epoch's float model.
    pub fn model(&self) -> PathBuf {
        self.path.join("model.lsm")
    }

    /// `model-int8.lsm`: the int8 form of the model, written by `demo` and by
    /// `quantize --model CV` in each fold.
    pub fn model_int8(&self) -> PathBuf {
        self.path.join("model-int8.lsm")
    }

    /// `checkpoint/`: the training loop's state, from which a run resumes.
    pub fn checkpoint(&self) -> PathBuf {
        self.path.join("checkpoint")
    }

    /// `train.csv`: the images the run trained on, as a CSV list (`path,label,group`).
    pub fn train_list(&self) -> PathBuf {
        self.path.join("train.csv")
    }

    /// `valid.csv`: the images the run held out and validated on, as a CSV list that
    /// `eval --data` and `calibrate --data` read; absent when nothing was held out.
    pub fn valid_list(&self) -> PathBuf {
        self.path.join("valid.csv")
    }

    /// `evaluation.json`: the kept epoch's validation figures.
    pub fn evaluation(&self) -> PathBuf {
        self.path.join("evaluation.json")
    }

    /// `evaluation-binary.json`: the same on the Normal-vs-ALL screen.
    pub fn evaluation_binary(&self) -> PathBuf {
        self.path.join("evaluation-binary.json")
    }

    /// `curves.png`: the learning curves.
    pub fn curves_png(&self) -> PathBuf {
        self.path.join(CURVES_PNG)
    }

    /// `confusion.png`: the validation confusion matrix.
    pub fn confusion_png(&self) -> PathBuf {
        self.path.join(CONFUSION_PNG)
    }

    /// `roc.png`: one-vs-rest ROC curves.
    pub fn roc_png(&self) -> PathBuf {
        self.path.join(ROC_PNG)
    }

    /// `confusion-binary.png`: the confusion matrix of the Normal-vs-ALL screen.
    pub fn confusion_binary_png(&self) -> PathBuf {
        self.path.join("confusion-binary.png")
    }

    /// The folder of fold `k` (1-based) of a cross-validation.
    pub fn fold(&self, k: usize) -> RunDir {
        RunDir::new(self.path.join(format!("fold-{k}")))
    }

    /// The folds of a cross-validation that have started, in order (`fold-1`, `fold-2`,
    /// ... up to the first without a `config.json`).
    pub fn folds(&self) -> Vec<RunDir> {
        (1..)
            .map(|k| self.fold(k))
            .take_while(|fold| fold.config().is_file())
            .collect()
    }

    /// Whether this is a cross-validation folder (its first fold has started).
    pub fn is_cross_validation(&self) -> bool {
        self.fold(1).config().is_file()
    }

    /// `summary.json` of a cross-validation: mean ± std over folds, pooled figures.
    pub fn summary(&self) -> PathBuf {
        self.path.join("summary.json")
    }

    /// `confusion-pooled.png` of a cross-validation.
    pub fn confusion_pooled_png(&self) -> PathBuf {
        self.path.join("confusion-pooled.png")
    }

    /// `roc-pooled.png` of a cross-validation.
    pub fn roc_pooled_png(&self) -> PathBuf {
        self.path.join("roc-pooled.png")
    }

    /// `int8/summary.json` of a cross-validation: the folds' int8 figures
    /// ([`Int8CrossValidation`]).
    pub fn int8_summary(&self) -> PathBuf {
        self.path.join("int8").join("summary.json")
    }

    /// `int8/out-of-fold-logits.json` of a cross-validation ([`OutOfFoldLogits`]).
    pub fn int8_out_of_fold_logits(&self) -> PathBuf {
        self.path.join("int8").join("out-of-fold-logits.json")
    }

    /// Reads `config.json`, refusing one with a field missing, renamed or contradicting
    /// its mode.
    pub fn read_config(&self) -> Result<RunConfig, RunDirError> {
        RunConfig::read(&self.config())
    }

    /// Writes `config.json` atomically, in the layout [`RunConfig::to_json_pretty`] gives.
    pub fn write_config(&self, config: &RunConfig) -> Result<(), RunDirError> {
        let path = self.config();
        let text = config
            .to_json_pretty()
            .map_err(|source| RunDirError::Serialize {
                path: path.clone(),
                source,
            })?;
        write_file(&path, text.as_bytes())
    }
}

/// Reads a JSON file of the run folder into `T`.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RunDirError> {
    let bytes = std::fs::read(path).map_err(|source| RunDirError::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| RunDirError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// Writes `value` as pretty JSON, atomically (the folder is created if needed).
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), RunDirError> {
    let text = serde_json::to_string_pretty(value).map_err(|source| RunDirError::Serialize {
        path: path.to_owned(),
        source,
    })?;
    write_file(path, text.as_bytes())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), RunDirError> {
    leukoscope_core::files::write_atomically(path, bytes).map_err(|source| RunDirError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests;
