//! Loading the model a board runs: read, verify digest and signature, check consistency.

use std::path::{Path, PathBuf};

use leukoscope_core::artifact::{ArtifactError, ModelArtifact, TrustPolicy, VerifiedArtifact};
use leukoscope_core::files::{ReadError, read_capped};

/// Largest model file the edge reads: far above any model we ship (VGG-16 in f32 is about
/// 550 MB), and it keeps a wrong path (a disk image, a video) from filling memory.
pub const MAX_MODEL_BYTES: u64 = 1 << 30;

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelLoadError {
    /// The file could not be read: missing, not a regular file (a FIFO, a device), or
    /// larger than any model.
    #[error("cannot read model {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: ReadError,
    },
    /// The artifact was refused.
    #[error("model {} is refused", path.display())]
    Refused {
        /// The file.
        path: PathBuf,
        /// The named reason.
        #[source]
        source: ArtifactError,
    },
}

/// Whether `model` is a demonstration model trained on synthetic smears (`leukoscope-train
/// demo`), which every output must say, since it has never seen a patient's cells.
pub fn is_demonstration(model: &ModelArtifact) -> bool {
    model
        .provenance
        .dataset
        .name
        .to_ascii_lowercase()
        .starts_with("synthetic")
}

/// The public half of the development key that signs the shipped
/// `models/b-all-4-edge-s.lsm` (`models/leukoscope-dev-not-for-clinical.pub`). Its secret
/// half never left a developer's machine, but a clinic must trust its own release key,
/// not this one; everything the edge prints about a model signed with it says so.
pub const DEVELOPMENT_KEY: &str =
    "276371a6bcf496eb530ac1a21a963280496e2597d07cf70aec148cf8e6773897";

/// What to say beside a model signed with [`DEVELOPMENT_KEY`].
pub const DEVELOPMENT_KEY_WARNING: &str =
    "signed with the development key: not for clinical deployment";

/// Whether `signed_by` (a key in hex) is [`DEVELOPMENT_KEY`].
pub fn is_development_key(signed_by: &str) -> bool {
    signed_by.eq_ignore_ascii_case(DEVELOPMENT_KEY)
}

/// Reads and verifies the model at `path` under the board's `trust` policy.
pub fn load_model(path: &Path, trust: &TrustPolicy) -> Result<VerifiedArtifact, ModelLoadError> {
    let bytes = read_capped(path, MAX_MODEL_BYTES).map_err(|source| ModelLoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    ModelArtifact::decode(&bytes, trust).map_err(|source| ModelLoadError::Refused {
        path: path.to_owned(),
        source,
    })
}
