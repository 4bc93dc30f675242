//! Digests, ed25519 keys and the device's trust policy.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use ed25519_dalek::{Signature, Signer, VerifyingKey};
use serde::{Deserialize, Serialize};

/// SHA-256 of an artifact's header and body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Digest(pub [u8; 32]);

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// An ed25519 public key; shown and parsed as 64 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PublicKey(pub [u8; 32]);

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A key that is not 64 hex digits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[error("{0:?} is not an ed25519 public key (64 hex digits)")]
pub struct BadKey(pub String);

impl FromStr for PublicKey {
    type Err = BadKey;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut key = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut key).map_err(|_| BadKey(text.into()))?;
        Ok(PublicKey(key))
    }
}

/// Keys listed in a message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct KeyList(pub Vec<PublicKey>);

impl fmt::Display for KeyList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [] => f.write_str("no key"),
            [one] => write!(f, "key {one}"),
            many => {
                f.write_str("one of the keys ")?;
                for (i, key) in many.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key}")?;
                }
                Ok(())
            }
        }
    }
}

/// An ed25519 signing key (the secret half), for the trainer's `sign` command.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// The key with this 32-byte secret seed.
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(secret))
    }

    /// The 32-byte secret seed.
    pub fn secret(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public half, which devices list as trusted.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    pub(super) fn sign_digest(&self, digest: &Digest) -> [u8; 64] {
        self.0.sign(&digest.0).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        write!(f, "SigningKey(public {})", self.public_key())
    }
}

/// Which artifacts a device accepts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TrustPolicy {
    /// When not empty, only artifacts signed by one of these keys load.
    pub trusted_keys: Vec<PublicKey>,
}

impl TrustPolicy {
    /// Accepts unsigned artifacts; a signature that is present must still verify.
    pub fn any() -> Self {
        TrustPolicy::default()
    }

    /// Accepts only artifacts signed by one of `keys`.
    pub fn only(keys: Vec<PublicKey>) -> Self {
        TrustPolicy { trusted_keys: keys }
    }

    /// Checks a file's signature against the policy; returns the verified signer.
    pub(super) fn check(
        &self,
        digest: &Digest,
        signature: Option<(&[u8; 32], &[u8; 64])>,
    ) -> Result<Option<PublicKey>, Refusal> {
        let Some((key, signature)) = signature else {
            if self.trusted_keys.is_empty() {
                return Ok(None);
            }
            return Err(Refusal::MissingSignature {
                expected: KeyList(self.trusted_keys.clone()),
            });
        };
        let signer = PublicKey(*key);
        if !self.trusted_keys.is_empty() && !self.trusted_keys.contains(&signer) {
            return Err(Refusal::UntrustedSigner {
                found: signer,
                expected: KeyList(self.trusted_keys.clone()),
            });
        }
        let verifying =
            VerifyingKey::from_bytes(key).map_err(|_| Refusal::InvalidSignature { key: signer })?;
        verifying
            .verify_strict(&digest.0, &Signature::from_bytes(signature))
            .map_err(|_| Refusal::InvalidSignature { key: signer })?;
        Ok(Some(signer))
    }
}

/// Why [`TrustPolicy::check`] refused a file; the decoder reports each as the
/// [`ArtifactError`](super::ArtifactError) variant of the same name.
pub(super) enum Refusal {
    /// The policy names keys and the file is unsigned.
    MissingSignature {
        /// The keys that would be accepted.
        expected: KeyList,
    },
    /// Signed by a key outside the policy.
    UntrustedSigner {
        /// The signer's key.
        found: PublicKey,
        /// The keys that would be accepted.
        expected: KeyList,
    },
    /// The signature does not verify.
    InvalidSignature {
        /// The key named in the file.
        key: PublicKey,
    },
}
