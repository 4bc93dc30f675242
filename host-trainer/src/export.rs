//! Packing a trained network into a `.lsm` artifact.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use leukoscope_core::artifact::{ArtifactError, Calibration, ModelArtifact, Provenance};
use leukoscope_core::files::write_atomically;
use leukoscope_core::network::Network;
use leukoscope_core::preprocess::Preprocess;
use leukoscope_core::taxonomy::Taxonomy;

/// The artifact for `network`, refusing one the edge would refuse.
pub fn artifact<B: Backend>(
    network: &Network<B>,
    taxonomy: Taxonomy,
    preprocess: Preprocess,
    provenance: Provenance,
) -> ModelArtifact {
    ModelArtifact {
        spec: network.spec().clone(),
        taxonomy,
        preprocess,
        weights: network.weights(),
        quantized: None,
        calibration: Calibration::default(),
        provenance,
        familiarity: None,
    }
}

/// Why a model could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Its parts disagree, so it does not encode (the edge would refuse it).
    #[error("the trained model is inconsistent")]
    Inconsistent(#[source] ArtifactError),
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

/// Encodes `artifact` and writes it to `path` atomically: a crash or a full disk leaves
/// either the old file or the new one, never half of one.
pub fn write_artifact(artifact: &ModelArtifact, path: &Path) -> Result<(), ExportError> {
    let bytes = artifact.encode().map_err(ExportError::Inconsistent)?;
    write_atomically(path, &bytes).map_err(|source| ExportError::Write {
        path: path.to_owned(),
        source,
    })
}

/// This program and its version, as models and run folders record it.
pub const TOOL: &str = concat!("leukoscope-train ", env!("CARGO_PKG_VERSION"));

/// Provenance stamped with this program's name, version and the time.
pub fn provenance(training_config: String) -> Provenance {
    Provenance {
        tool: TOOL.into(),
        git_commit: option_env!("LEUKOSCOPE_GIT_COMMIT")
            .unwrap_or("unknown")
            .into(),
        created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        training_config,
        ..Provenance::default()
    }
}
