//! Everything that can be wrong with an artifact file, by name.

use crate::familiarity::FamiliarityError;
use crate::params::QuantizationMismatch;
use crate::preprocess::PreprocessError;
use crate::spec::SpecError;

use super::keys::{Digest, KeyList, PublicKey, Refusal};

/// Why an artifact was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ArtifactError {
    /// The file does not start with the `.lsm` magic bytes.
    #[error("not a leukoscope model file (.lsm): the magic bytes are missing")]
    BadMagic,
    /// A format version this build does not read.
    #[error("model file format version {found} is not supported (this build reads versions {oldest} to {newest}); {}",
        if found > newest { "update leukoscope to read it" } else { "re-export the model with this version's trainer" })]
    UnsupportedVersion {
        /// Version in the file.
        found: u16,
        /// The oldest version this build reads.
        oldest: u16,
        /// The newest.
        newest: u16,
    },
    /// Header flags this version does not define.
    #[error("model file header has unknown flags {flags:#06x}")]
    UnknownFlags {
        /// The flags found.
        flags: u16,
    },
    /// The file ends before its declared length.
    #[error(
        "model file is truncated: it has {available} bytes, a complete one needs {needed}; copy it again"
    )]
    Truncated {
        /// Bytes a complete file has (at least).
        needed: u64,
        /// Bytes present.
        available: u64,
    },
    /// Bytes after the signature.
    #[error("model file has {extra} unexpected bytes at its end")]
    TrailingBytes {
        /// How many.
        extra: u64,
    },
    /// The content does not match its SHA-256: corrupted or altered.
    #[error(
        "model file is corrupted or altered: its content hashes to {computed}, the file says {stored}"
    )]
    DigestMismatch {
        /// Digest stored in the file.
        stored: Digest,
        /// Digest of the content.
        computed: Digest,
    },
    /// This device trusts specific keys and the file carries no signature.
    #[error("model file is not signed; this device only runs models signed by {expected}")]
    MissingSignature {
        /// The keys that would be accepted.
        expected: KeyList,
    },
    /// Signed, but by a key this device does not trust.
    #[error(
        "model file is signed by {found}, which this device does not trust; expected {expected}"
    )]
    UntrustedSigner {
        /// The signer's key.
        found: PublicKey,
        /// The keys that would be accepted.
        expected: KeyList,
    },
    /// The signature does not verify.
    #[error("model file's signature by {key} does not verify: the file was altered after signing")]
    InvalidSignature {
        /// The key named in the file.
        key: PublicKey,
    },
    /// The body does not decode.
    #[error("model file is malformed: {reason}")]
    Malformed {
        /// What went wrong.
        reason: &'static str,
    },
    /// The network itself is invalid.
    #[error("model file holds an invalid network")]
    InvalidSpec(#[from] SpecError),
    /// The int8 parameters do not fit the network.
    #[error("model file's int8 network is inconsistent")]
    InvalidQuantization(#[from] QuantizationMismatch),
    /// Float and int8 weights at once: which one runs would be ambiguous.
    #[error("model file holds both float and int8 weights; an artifact carries one kind")]
    BothWeightKinds,
    /// The preprocessing is invalid.
    #[error("model file holds an invalid preprocessing")]
    InvalidPreprocess(#[from] PreprocessError),
    /// The network's output and the taxonomy disagree.
    #[error("the network scores {outputs} classes but the taxonomy names {classes}")]
    ClassCount {
        /// Network outputs.
        outputs: u32,
        /// Taxonomy classes.
        classes: u32,
    },
    /// The preprocessing does not produce the network's input.
    #[error(
        "the preprocessing makes a {preprocess:?} input but the network reads {spec:?} (channels, height, width)"
    )]
    InputMismatch {
        /// Made by the preprocessing.
        preprocess: [u32; 3],
        /// Read by the network.
        spec: [u32; 3],
    },
    /// Too many or too few weight tensors.
    #[error("the network needs {expected} weight tensors, the file has {found}")]
    TensorCount {
        /// Tensors the spec lays out.
        expected: u32,
        /// Tensors present.
        found: u32,
    },
    /// A weight tensor of the wrong size.
    #[error("weight tensor {tensor} (node {node}) should hold {expected} values, it holds {found}")]
    TensorSize {
        /// Tensor index.
        tensor: u32,
        /// Node that owns it.
        node: u32,
        /// Values the spec needs.
        expected: u64,
        /// Values present.
        found: u64,
    },
    /// NaN or infinity among the weights.
    #[error("weight tensor {tensor} (node {node}) holds NaN or infinite values")]
    NonFiniteWeight {
        /// Tensor index.
        tensor: u32,
        /// Node that owns it.
        node: u32,
    },
    /// Temperature or threshold out of range.
    #[error(
        "calibration out of range: temperature {temperature} (must be > 0), unidentified threshold {unidentified_below} (must be in [0, 1])"
    )]
    InvalidCalibration {
        /// The temperature.
        temperature: f32,
        /// The threshold.
        unidentified_below: f32,
    },
    /// The familiarity profile does not fit the model or is not numbers.
    #[error("the model's familiarity profile is unusable")]
    Familiarity(#[from] FamiliarityError),
}

impl From<Refusal> for ArtifactError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::MissingSignature { expected } => ArtifactError::MissingSignature { expected },
            Refusal::UntrustedSigner { found, expected } => {
                ArtifactError::UntrustedSigner { found, expected }
            }
            Refusal::InvalidSignature { key } => ArtifactError::InvalidSignature { key },
        }
    }
}
