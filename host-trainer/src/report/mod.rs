//! What a training run leaves behind for people: the per-epoch figures as `metrics.csv` and
//! `metrics.json`, PNG plots ([`plots`]) and the `report.md` that ties them together
//! ([`markdown`]).
//!
//! Every file is written atomically (a temporary file beside it, synced, then renamed), so
//! a run killed mid-write leaves the previous version rather than half a file.

pub mod markdown;
pub mod plots;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::metrics::MetricsError;

pub use markdown::{Figure, ReportInput, render_report, write_report};
pub use plots::{plot_confusion, plot_curves, plot_roc};

/// File name of the per-epoch figures as CSV.
pub const METRICS_CSV: &str = "metrics.csv";
/// File name of the per-epoch figures as JSON.
pub const METRICS_JSON: &str = "metrics.json";
/// File name of the markdown report.
pub const REPORT_FILE: &str = "report.md";
/// Conventional file name of the training-curves plot.
pub const CURVES_PNG: &str = "curves.png";
/// Conventional file name of the confusion-matrix plot.
pub const CONFUSION_PNG: &str = "confusion.png";
/// Conventional file name of the ROC plot.
pub const ROC_PNG: &str = "roc.png";

/// Why a report file could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The file or its folder could not be written.
    #[error("cannot write {}; check that the folder exists and is writable", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// plotters failed while drawing.
    #[error("cannot draw {}: {message}", path.display())]
    Plot {
        /// The image being drawn.
        path: PathBuf,
        /// plotters' description.
        message: String,
    },
    /// The drawn image could not be encoded as PNG.
    #[error("cannot encode {} as PNG", path.display())]
    Encode {
        /// The image.
        path: PathBuf,
        /// The cause.
        #[source]
        source: image::ImageError,
    },
    /// Figures that cannot be serialized.
    #[error("cannot serialize {}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// Nothing to draw.
    #[error("nothing to plot in {}: {what}", path.display())]
    Empty {
        /// The image.
        path: PathBuf,
        /// What is missing.
        what: &'static str,
    },
    /// The scores behind a plot are invalid.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// The font built into the program could not be loaded (a corrupt build).
    #[error("the plot font built into this program is invalid")]
    Font,
}

/// Figures of one training epoch, as the training loop records them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss.
    #[serde(deserialize_with = "nan_from_null")]
    pub train_loss: f64,
    /// Training accuracy (with augmentation, dropout and batch statistics active).
    #[serde(deserialize_with = "nan_from_null")]
    pub train_accuracy: f64,
    /// Mean validation loss.
    #[serde(deserialize_with = "nan_from_null")]
    pub valid_loss: f64,
    /// Validation accuracy.
    #[serde(deserialize_with = "nan_from_null")]
    pub valid_accuracy: f64,
    /// Validation macro F1 (see [`crate::metrics::Evaluation::macro_f1`]).
    #[serde(deserialize_with = "nan_from_null")]
    pub valid_macro_f1: f64,
    /// Learning rate at the end of the epoch.
    #[serde(deserialize_with = "nan_from_null")]
    pub learning_rate: f64,
    /// Wall time of the epoch, validation included.
    #[serde(deserialize_with = "nan_from_null")]
    pub seconds: f64,
    /// Training throughput.
    #[serde(deserialize_with = "nan_from_null")]
    pub images_per_second: f64,
}

/// The CSV header, in field order; the same words as the JSON keys.
const CSV_HEADER: &str = "epoch,train_loss,train_accuracy,valid_loss,valid_accuracy,\
                          valid_macro_f1,learning_rate,seconds,images_per_second";

/// serde_json writes a NaN (a diverged loss) as `null`; reads it back as NaN so that the
/// file of a failed run still loads.
fn nan_from_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// Writes `records` to `dir/metrics.csv` and `dir/metrics.json`, creating `dir` if needed.
///
/// Numbers are written in Rust's shortest round-trip form, so reading them back gives the
/// same values bit for bit.
pub fn write_epoch_metrics(dir: &Path, records: &[EpochRecord]) -> Result<(), ReportError> {
    let mut csv = String::from(CSV_HEADER);
    csv.push('\n');
    for r in records {
        // Writing to a String cannot fail.
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{}",
            r.epoch,
            r.train_loss,
            r.train_accuracy,
            r.valid_loss,
            r.valid_accuracy,
            r.valid_macro_f1,
            r.learning_rate,
            r.seconds,
            r.images_per_second
        );
    }
    write_atomically(&dir.join(METRICS_CSV), csv.as_bytes())?;

    let path = dir.join(METRICS_JSON);
    let mut json = serde_json::to_vec_pretty(records).map_err(|source| ReportError::Json {
        path: path.clone(),
        source,
    })?;
    json.push(b'\n');
    write_atomically(&path, &json)
}

/// Replaces `path` with `bytes` atomically, naming the file in the error.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    leukoscope_core::files::write_atomically(path, bytes).map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests;
