//! Decoding every candidate file, in parallel, to keep only real images, and what the
//! grouping and the fingerprint need of each.

use std::path::Path;

use leukoscope_core::files::decode_rgb;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::{Candidate, hashing};

/// What is known of a file that decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Facts {
    /// SHA-256 of the file's bytes.
    pub sha256: [u8; 32],
    /// Difference hash of the decoded picture.
    pub dhash: u64,
}

/// For each candidate, in order, its facts or why it is not usable.
pub(super) fn scan(candidates: &[Candidate]) -> Vec<Result<Facts, String>> {
    candidates
        .par_iter()
        .map(|candidate| examine(&candidate.path))
        .collect()
}

/// The facts of the image file at `path`, or why it is not usable.
pub(super) fn examine(path: &Path) -> Result<Facts, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let sha256 = Sha256::digest(&bytes).into();
    // The decoder training reads with (the core's, the board's too) decides: a file is kept
    // only if training can read it.
    let image = decode_rgb(&bytes, path).map_err(|e| match std::error::Error::source(&e) {
        Some(cause) => cause.to_string(),
        None => e.to_string(),
    })?;
    Ok(Facts {
        sha256,
        dhash: hashing::difference_hash(&image),
    })
}
