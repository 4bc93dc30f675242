//! `config.json`: everything that decided a run, as `train`, `cv` and `demo` resolved it.
//!
//! The keys and their shapes are the ones this tool has always written (the files in
//! `fixtures/` were written by the version before this type existed), so every run folder
//! reads. A field missing, renamed or of the wrong type is refused with the file and the
//! field named: read by key, a renamed `valid_fraction` used to drop a run's hold-out split
//! without a word.

use std::path::{Path, PathBuf};

use leukoscope_core::artifact::DatasetFingerprint;
use leukoscope_core::preprocess::Preprocess;
use leukoscope_core::spec::InputKind;
use serde::{Deserialize, Deserializer, Serialize};

use super::RunDirError;
use crate::augment::Augment;
use crate::backend::DeviceChoice;
use crate::dataset::{
    Dataset, DatasetError, DatasetFormat, ScanOptions, Source, Split, group_holdout,
};
use crate::fit::Recipe;

/// A run's resolved configuration (`config.json`), also stored in its model's provenance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// The program and version that trained (`leukoscope-train 0.1.0`).
    pub tool: String,
    /// The command (the JSON's `mode`) with what only it records.
    #[serde(flatten)]
    pub kind: RunKind,
    /// The dataset as given to `--data`; for several `--source`s, their `NAME=DIR` list
    /// joined by commas; for `demo`, a description of its synthetic fields.
    pub data: PathBuf,
    /// The class set's name (`b-all-4`).
    pub taxonomy: String,
    /// The network's name (`edge-s`).
    pub model: String,
    /// Side of the square network input, in pixels.
    pub input_size: u32,
    /// How images became inputs.
    pub preprocess: Preprocess,
    /// Where it trained.
    pub device: DeviceChoice,
    /// Everything that decided the weights besides the data.
    pub recipe: Recipe,
}

/// Which command wrote the run, written as its `mode`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum RunKind {
    /// `train`: one model on a group-aware hold-out split, or on every image.
    Train(ImageRun),
    /// `cv`: one fold of a k-fold cross-validation, or the cross-validation's own folder.
    Cv(ImageRun),
    /// `demo`: synthetic fields drawn in memory.
    Demo(SyntheticRun),
}

/// What a run on image files records about its data and how it split them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageRun {
    /// The layout `--data` was read as (never `auto`).
    pub format: DatasetFormat,
    /// Whether a sample is a smear field or a single-cell crop (`field`, `cell`).
    #[serde(with = "input_kind_word")]
    pub input_kind: InputKind,
    /// The augmentation of training images.
    pub augment: Augment,
    /// The difference-hash distance that grouped near-duplicates: a split reproduced with
    /// another one is another split.
    pub near_duplicate_distance: u32,
    /// `train`: the share of groups held out for validation, 0 for none; `null` in `cv`.
    #[serde(deserialize_with = "present")]
    pub valid_fraction: Option<f64>,
    /// `cv`: the number of folds; `null` in `train`.
    #[serde(deserialize_with = "present")]
    pub folds: Option<usize>,
    /// `cv`: how many of the folds were trained (the first ones). Configurations written
    /// before `--run-folds` existed lack it; they trained every fold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_folds: Option<usize>,
    /// `cv --by-source`: the folds are the sources, each held out in turn. Absent (false)
    /// from other runs' configurations and from those of earlier versions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_source: bool,
    /// The named sources (`--source`), in order, each with the layout it was read as; absent
    /// when the data was one `--data` path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Source>,
    /// The dataset's fingerprint, as 64 hex digits.
    #[serde(with = "sha256_hex")]
    pub dataset_sha256: [u8; 32],
    /// Readable images in the dataset.
    pub images: usize,
    /// Near-duplicate groups among them.
    pub groups: u32,
    /// Files found but not used.
    pub skipped: usize,
}

/// What `demo` records about its synthetic data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyntheticRun {
    /// Training fields per class.
    pub per_class: usize,
}

impl RunConfig {
    /// Reads a `config.json`, refusing one with a field missing, renamed, of the wrong type
    /// or contradicting its `mode`.
    pub fn read(path: &Path) -> Result<Self, RunDirError> {
        let config: RunConfig = super::read_json(path)?;
        let incomplete = |mode, field| RunDirError::Incomplete {
            path: path.to_owned(),
            mode,
            field,
        };
        match &config.kind {
            RunKind::Train(run) if run.valid_fraction.is_none() => {
                Err(incomplete("train", "valid_fraction"))
            }
            RunKind::Cv(run) if run.folds.is_none() => Err(incomplete("cv", "folds")),
            _ => Ok(config),
        }
    }

    /// The configuration as JSON text on one line, keys in alphabetical order: what a
    /// model's provenance stores.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&self.to_json_value()?)
    }

    /// The configuration as indented JSON text, keys in alphabetical order: what
    /// `config.json` and the report hold.
    pub fn to_json_pretty(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(&self.to_json_value()?)
    }

    /// What a checkpoint must have been made with for `--resume` to continue it: the
    /// configuration without the epoch count, the only thing a resume may change.
    pub fn resume_identity(&self) -> Result<String, serde_json::Error> {
        let mut value = self.to_json_value()?;
        if let Some(recipe) = value.get_mut("recipe").and_then(|r| r.as_object_mut()) {
            recipe.remove("epochs");
        }
        serde_json::to_string(&value)
    }

    /// Through a JSON value, whose map keeps keys sorted: the text is then the same as the
    /// one earlier versions wrote, and checkpoints they made still resume.
    fn to_json_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(self)
    }

    /// `train`, `cv` or `demo`.
    pub fn mode(&self) -> &'static str {
        match self.kind {
            RunKind::Train(_) => "train",
            RunKind::Cv(_) => "cv",
            RunKind::Demo(_) => "demo",
        }
    }

    /// What a run on image files records of them (`None` for `demo`).
    pub fn image_run(&self) -> Option<&ImageRun> {
        match &self.kind {
            RunKind::Train(run) | RunKind::Cv(run) => Some(run),
            RunKind::Demo(_) => None,
        }
    }

    /// The number of folds of a cross-validation (`None` unless `cv`).
    pub fn folds(&self) -> Option<usize> {
        match &self.kind {
            RunKind::Cv(run) => run.folds,
            _ => None,
        }
    }

    /// Whether the run validated on its own training images (`train --valid-fraction 0`),
    /// so its figures say nothing about new images.
    pub fn validated_on_training_images(&self) -> bool {
        matches!(&self.kind, RunKind::Train(run) if run.valid_fraction == Some(0.0))
    }

    /// Whether the run trained on the folder `data`.
    pub fn trained_on(&self, data: &Path) -> bool {
        same_folder(&self.data, data)
    }

    /// How to read `data` the way the run read its own: the given layout, grouped at the
    /// run's near-duplicate distance, so its splits come out the same.
    pub fn scan_options(&self, format: DatasetFormat) -> ScanOptions {
        let mut scan = ScanOptions {
            format,
            ..ScanOptions::default()
        };
        if let Some(run) = self.image_run() {
            scan.near_duplicate_distance = run.near_duplicate_distance;
        }
        scan
    }

    /// The run's hold-out split of `dataset`, when it is the run's own data (read from
    /// `data`) and the run held some of it out.
    pub fn holdout_split(
        &self,
        data: &Path,
        dataset: &Dataset,
    ) -> Result<Option<Split>, DatasetError> {
        let RunKind::Train(run) = &self.kind else {
            return Ok(None);
        };
        match run.valid_fraction {
            Some(fraction) if fraction != 0.0 && self.trained_on(data) => {
                group_holdout(dataset, fraction, self.recipe.seed).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The data's identity as a model's provenance records it (zero digest and count for
    /// `demo`, whose fields are drawn, not read).
    pub fn fingerprint(&self) -> DatasetFingerprint {
        let run = self.image_run();
        DatasetFingerprint {
            name: self.data.to_string_lossy().into_owned(),
            images: run.map_or(0, |r| r.images as u64),
            sha256: run.map_or([0; 32], |r| r.dataset_sha256),
        }
    }
}

/// Whether `a` and `b` name the same existing folder.
fn same_folder(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// A field that must be present, though it may be `null` (serde would otherwise take a
/// missing `Option` for `None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Option::deserialize(deserializer)
}

/// [`InputKind`] as the word the command line uses (`field`, `cell`).
mod input_kind_word {
    use leukoscope_core::spec::InputKind;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    const WORDS: [InputKind; 2] = [InputKind::Field, InputKind::Cell];

    pub fn serialize<S: Serializer>(kind: &InputKind, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(kind.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<InputKind, D::Error> {
        let word = String::deserialize(deserializer)?;
        WORDS
            .into_iter()
            .find(|kind| kind.as_str() == word)
            .ok_or_else(|| D::Error::unknown_variant(&word, &["field", "cell"]))
    }
}

/// A SHA-256 digest as 64 hex digits.
mod sha256_hex {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(digest: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(digest))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(deserializer)?;
        let mut digest = [0; 32];
        hex::decode_to_slice(&text, &mut digest)
            .map_err(|e| D::Error::custom(format!("not a SHA-256 digest ({e}): {text:?}")))?;
        Ok(digest)
    }
}
