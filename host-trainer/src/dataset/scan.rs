//! Decoding every candidate file, in parallel, to keep only real images, and what the
//! grouping and the fingerprint need of each.

use std::path::Path;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::{Candidate, hashing};
use crate::images::load_rgb;

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

fn examine(path: &Path) -> Result<Facts, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let sha256 = Sha256::digest(&bytes).into();
    if is_jpeg(&bytes) && !jpeg_is_complete(&bytes) {
        return Err(TRUNCATED_JPEG.into());
    }
    // The trainer's own decoder decides: a file is kept only if training can read it.
    let image = load_rgb(path).map_err(|e| e.source.to_string())?;
    Ok(Facts {
        sha256,
        dhash: hashing::difference_hash(&image),
    })
}

/// Why a JPEG without its end is refused even though it decodes.
const TRUNCATED_JPEG: &str = "truncated JPEG: no end-of-image marker after the last scan (the decoder would fill the missing rows with grey)";

fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// Whether an end-of-image marker (`FF D9`) follows the last start-of-scan (`FF DA`). The
/// `image` crate's JPEG decoder accepts a file cut short and paints the rest grey; a
/// training set must not learn from such pictures. Entropy-coded data stuffs every `FF`
/// byte (`FF 00`), so neither marker can appear by chance inside a scan.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let is = |marker: u8| move |pair: &[u8]| pair == [0xFF, marker];
    bytes
        .windows(2)
        .rposition(is(0xDA))
        .is_some_and(|scan| bytes[scan..].windows(2).any(is(0xD9)))
}
