//! The `.lsm` model artifact: everything the edge needs to run a model, in one file that
//! proves its own integrity. The byte layout is specified in `docs/artifact-format.md`.
//!
//! Decoding outside bytes never panics and never allocates more than the input can
//! justify; every failure is an [`ArtifactError`] that says what is wrong.

mod error;
mod keys;

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::engine::graph;
use crate::familiarity::FamiliarityProfile;
use crate::params::{QuantizedModel, Weights};
use crate::preprocess::Preprocess;
use crate::spec::ModelSpec;
use crate::taxonomy::Taxonomy;

pub use error::ArtifactError;
pub use keys::{Digest, KeyList, PublicKey, SigningKey, TrustPolicy};

/// First bytes of every artifact. Like PNG's, it catches text-mode transfers (CR/LF, 8-bit).
pub const MAGIC: [u8; 8] = *b"\x89LSM\r\n\x1a\n";
/// The newest format version this build writes and reads: version 2 with a
/// [`FamiliarityProfile`] after the provenance.
pub const FORMAT_VERSION: u16 = 3;
/// The oldest version this build reads. An artifact without a familiarity profile is
/// written as version 2, byte for byte what earlier builds wrote and read.
pub const OLDEST_FORMAT_VERSION: u16 = 2;
/// Magic, version, flags, body length.
pub const HEADER_LEN: usize = 8 + 2 + 2 + 8;
/// SHA-256 of header and body.
pub const DIGEST_LEN: usize = 32;
/// Signer's ed25519 public key, then the signature over the digest.
pub const SIGNATURE_LEN: usize = 32 + 64;

/// A trained model with everything needed to run it and to know where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ModelArtifact {
    /// The network.
    pub spec: ModelSpec,
    /// What its outputs mean, in output order.
    pub taxonomy: Taxonomy,
    /// How images become its input.
    pub preprocess: Preprocess,
    /// Its float parameters; empty in an int8 artifact.
    pub weights: Weights,
    /// Its int8 form, present in an int8 artifact (which then carries no float weights).
    pub quantized: Option<QuantizedModel>,
    /// How to turn its scores into trustworthy confidences.
    pub calibration: Calibration,
    /// Where it came from and how well it did.
    pub provenance: Provenance,
    /// What the cells it learnt from look like in its features, for telling cells unlike
    /// them; `None` in version 2 files and models never profiled.
    pub familiarity: Option<FamiliarityProfile>,
}

/// Post-hoc calibration of the scores.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Calibration {
    /// Logits are divided by this before the softmax (temperature scaling); 1 is none.
    pub temperature: f32,
    /// Cells whose top probability is below this go to the "unidentified" bin; 0 sends none.
    pub unidentified_below: f32,
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration {
            temperature: 1.0,
            unidentified_below: 0.0,
        }
    }
}

impl Calibration {
    /// Class probabilities from a model's logits: [`softmax`] at the calibrated temperature.
    /// The trainer's figures and the edge's counts both come from here, so they agree.
    pub fn probabilities(&self, logits: &[f32]) -> Vec<f32> {
        softmax(logits, self.temperature)
    }
}

/// `softmax(logits / temperature)`, stable for large logits; a temperature that is not a
/// positive number counts as 1.
pub fn softmax(logits: &[f32], temperature: f32) -> Vec<f32> {
    let t = if temperature.is_finite() && temperature > 0.0 {
        temperature
    } else {
        1.0
    };
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|&l| libm::expf((l - max) / t)).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

/// Where a model came from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Provenance {
    /// The program and version that wrote it (`leukoscope-train 0.1.0`).
    pub tool: String,
    /// Source revision of that program, if known.
    pub git_commit: String,
    /// When it was written (RFC 3339, UTC).
    pub created: String,
    /// What it was trained on.
    pub dataset: DatasetFingerprint,
    /// The resolved training configuration, as JSON text.
    pub training_config: String,
    /// Validation figures (`accuracy`, `macro_f1`, ...).
    pub metrics: Vec<Metric>,
}

/// Identifies a training set without containing it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DatasetFingerprint {
    /// Name or path the user gave.
    pub name: String,
    /// Images used.
    pub images: u64,
    /// SHA-256 over the sorted (relative path, label, content digest) of every image.
    pub sha256: [u8; 32],
}

/// One named figure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Metric {
    /// What it measures (`macro_f1`).
    pub name: String,
    /// Its value.
    pub value: f64,
}

/// A decoded artifact with what was verified about it.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct VerifiedArtifact {
    /// The model.
    pub artifact: ModelArtifact,
    /// SHA-256 of header and body: the model's identity in journals and reports.
    pub digest: Digest,
    /// The key whose signature verified, if the file is signed.
    pub signed_by: Option<PublicKey>,
}

impl ModelArtifact {
    /// Checks the parts agree with each other: a valid spec, weights of its layout, a class
    /// per output, a preprocessing that produces its input.
    pub fn validate(&self) -> Result<(), ArtifactError> {
        let analysis = self.spec.analyze()?;
        if analysis.classes as usize != self.taxonomy.len() {
            return Err(ArtifactError::ClassCount {
                outputs: analysis.classes,
                classes: self.taxonomy.len() as u32,
            });
        }
        self.preprocess.validate()?;
        let input = self.spec.input;
        if (self.preprocess.height, self.preprocess.width) != (input.height, input.width)
            || input.channels != 3
        {
            return Err(ArtifactError::InputMismatch {
                preprocess: [3, self.preprocess.height, self.preprocess.width],
                spec: [input.channels, input.height, input.width],
            });
        }
        if let Some(quantized) = &self.quantized {
            if !self.weights.tensors.is_empty() {
                return Err(ArtifactError::BothWeightKinds);
            }
            let (lowered, _) = graph::lower(&self.spec, None)?;
            quantized.check(&lowered)?;
        } else {
            self.validate_float_weights(&analysis.layout)?;
        }
        if let Some(profile) = &self.familiarity {
            let (lowered, _) = graph::lower(&self.spec, None)?;
            profile.validate(lowered.elements(lowered.features()))?;
        }
        let c = self.calibration;
        let temperature_ok = c.temperature.is_finite() && c.temperature > 0.0;
        if !(temperature_ok && (0.0..=1.0).contains(&c.unidentified_below)) {
            return Err(ArtifactError::InvalidCalibration {
                temperature: c.temperature,
                unidentified_below: c.unidentified_below,
            });
        }
        Ok(())
    }

    fn validate_float_weights(
        &self,
        layout: &[crate::spec::ParamTensor],
    ) -> Result<(), ArtifactError> {
        check_fits(layout, &self.weights)?;
        for (index, (tensor, values)) in layout.iter().zip(&self.weights.tensors).enumerate() {
            if values.iter().any(|v| !v.is_finite()) {
                return Err(ArtifactError::NonFiniteWeight {
                    tensor: index as u32,
                    node: tensor.node,
                });
            }
        }
        Ok(())
    }

    /// Encodes an unsigned artifact; refuses one that does not [`validate`](Self::validate).
    /// Written as version 2 when it has no familiarity profile, so that older builds still
    /// read it, else as version 3.
    pub fn encode(&self) -> Result<Vec<u8>, ArtifactError> {
        self.validate()?;
        let mut body = postcard::to_allocvec(self).map_err(|_| ArtifactError::Malformed {
            reason: "the model could not be serialized",
        })?;
        let version = if self.familiarity.is_none() {
            // Version 3 is version 2 followed by the profile as a postcard option: its
            // absence is one 0 byte at the very end.
            body.pop();
            OLDEST_FORMAT_VERSION
        } else {
            FORMAT_VERSION
        };
        let mut bytes = Vec::with_capacity(HEADER_LEN + body.len() + DIGEST_LEN);
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&version.to_le_bytes());
        bytes.extend_from_slice(&0u16.to_le_bytes());
        bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&body);
        let digest = Sha256::digest(&bytes);
        bytes.extend_from_slice(&digest);
        Ok(bytes)
    }

    /// Decodes and verifies an artifact under `trust`.
    ///
    /// Checks run cheapest first and before anything is allocated for the body: header,
    /// lengths, digest, signature, then the body's structure and its consistency.
    pub fn decode(bytes: &[u8], trust: &TrustPolicy) -> Result<VerifiedArtifact, ArtifactError> {
        let frame = Frame::parse(bytes)?;
        let signed_by = trust.check(&frame.digest, frame.signature)?;
        let body = if frame.version == OLDEST_FORMAT_VERSION {
            // A version 2 body is a version 3 one without the profile's "absent" byte.
            let mut body = Vec::with_capacity(frame.body.len() + 1);
            body.extend_from_slice(frame.body);
            body.push(0);
            alloc::borrow::Cow::Owned(body)
        } else {
            alloc::borrow::Cow::Borrowed(frame.body)
        };
        let (artifact, rest) = postcard::take_from_bytes::<ModelArtifact>(&body).map_err(|e| {
            ArtifactError::Malformed {
                reason: postcard_reason(e),
            }
        })?;
        if !rest.is_empty() {
            return Err(ArtifactError::Malformed {
                reason: "the body has bytes after the model",
            });
        }
        artifact.validate()?;
        Ok(VerifiedArtifact {
            artifact,
            digest: frame.digest,
            signed_by,
        })
    }

    /// Reads only the digest of an artifact, after checking header, lengths and digest.
    pub fn digest_of(bytes: &[u8]) -> Result<Digest, ArtifactError> {
        Ok(Frame::parse(bytes)?.digest)
    }
}

/// Signs an encoded artifact (replacing any earlier signature): ed25519 over its digest.
/// The digest, and so the model's identity, does not change.
pub fn sign(bytes: &[u8], key: &SigningKey) -> Result<Vec<u8>, ArtifactError> {
    let frame = Frame::parse(bytes)?;
    let unsigned_len = bytes.len() - frame.signature.map_or(0, |_| SIGNATURE_LEN);
    let mut signed = Vec::with_capacity(unsigned_len + SIGNATURE_LEN);
    signed.extend_from_slice(&bytes[..unsigned_len]);
    signed.extend_from_slice(&key.public_key().0);
    signed.extend_from_slice(&key.sign_digest(&frame.digest));
    Ok(signed)
}

/// The parts of an artifact file, checked for length and digest but not yet decoded.
struct Frame<'a> {
    version: u16,
    body: &'a [u8],
    digest: Digest,
    signature: Option<(&'a [u8; 32], &'a [u8; 64])>,
}

impl<'a> Frame<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, ArtifactError> {
        let available = bytes.len() as u64;
        let truncated = |needed: u64| ArtifactError::Truncated { needed, available };
        if bytes.len() < MAGIC.len() {
            // A prefix of the magic (or nothing) is a cut file; anything else is not ours at all.
            return Err(if MAGIC.starts_with(bytes) {
                truncated(HEADER_LEN as u64)
            } else {
                ArtifactError::BadMagic
            });
        }
        if bytes[..8] != MAGIC {
            return Err(ArtifactError::BadMagic);
        }
        if bytes.len() < HEADER_LEN {
            return Err(truncated(HEADER_LEN as u64));
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(ArtifactError::UnsupportedVersion {
                found: version,
                oldest: OLDEST_FORMAT_VERSION,
                newest: FORMAT_VERSION,
            });
        }
        let flags = u16::from_le_bytes([bytes[10], bytes[11]]);
        if flags != 0 {
            return Err(ArtifactError::UnknownFlags { flags });
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[12..20]);
        let body_len = u64::from_le_bytes(len);
        let signed_part =
            (HEADER_LEN as u64)
                .checked_add(body_len)
                .ok_or(ArtifactError::Malformed {
                    reason: "the body length overflows",
                })?;
        let unsigned_len = signed_part.saturating_add(DIGEST_LEN as u64);
        if available < unsigned_len {
            return Err(truncated(unsigned_len));
        }
        // In range: checked against the slice's own length above.
        let signed_part = signed_part as usize;
        let unsigned_len = unsigned_len as usize;
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&bytes[signed_part..unsigned_len]);
        let computed: [u8; 32] = Sha256::digest(&bytes[..signed_part]).into();
        if computed != digest {
            return Err(ArtifactError::DigestMismatch {
                stored: Digest(digest),
                computed: Digest(computed),
            });
        }
        let tail = &bytes[unsigned_len..];
        let signature = match tail.len() {
            0 => None,
            SIGNATURE_LEN => tail
                .split_first_chunk::<32>()
                .and_then(|(key, rest)| Some((key, rest.first_chunk::<64>()?))),
            n if n < SIGNATURE_LEN => {
                return Err(truncated((unsigned_len + SIGNATURE_LEN) as u64));
            }
            n => {
                return Err(ArtifactError::TrailingBytes {
                    extra: (n - SIGNATURE_LEN) as u64,
                });
            }
        };
        Ok(Frame {
            version,
            body: &bytes[HEADER_LEN..signed_part],
            digest: Digest(digest),
            signature,
        })
    }
}

fn postcard_reason(error: postcard::Error) -> &'static str {
    use postcard::Error as E;
    match error {
        E::DeserializeUnexpectedEnd => "the body ends in the middle of a field",
        E::DeserializeBadVarint => "a length or number in the body is malformed",
        E::DeserializeBadBool => "a flag in the body is neither 0 nor 1",
        E::DeserializeBadChar | E::DeserializeBadUtf8 => "a text field in the body is not UTF-8",
        E::DeserializeBadOption => "an optional field in the body is malformed",
        E::DeserializeBadEnum => {
            "the body names a layer, option or variant this version does not know"
        }
        _ => "the body does not decode as a model",
    }
}

/// Whether `weights` hold one tensor of the right size for every entry of `layout`.
pub(crate) fn check_fits(
    layout: &[crate::spec::ParamTensor],
    weights: &Weights,
) -> Result<(), ArtifactError> {
    if layout.len() != weights.tensors.len() {
        return Err(ArtifactError::TensorCount {
            expected: layout.len() as u32,
            found: weights.tensors.len() as u32,
        });
    }
    for (index, (tensor, values)) in layout.iter().zip(&weights.tensors).enumerate() {
        if values.len() as u64 != tensor.len() {
            return Err(ArtifactError::TensorSize {
                tensor: index as u32,
                node: tensor.node,
                expected: tensor.len(),
                found: values.len() as u64,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
