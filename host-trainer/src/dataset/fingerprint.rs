//! A dataset's identity for a model's provenance: a digest of what was trained on, not of
//! where it lay, so a copied or moved dataset keeps its fingerprint.

use leukoscope_core::artifact::DatasetFingerprint;
use sha2::{Digest, Sha256};

/// One image as the fingerprint sees it.
pub(super) struct Entry<'a> {
    /// Path relative to the dataset, `/`-separated.
    pub relative: &'a str,
    /// The class name, not its index: what the image was taught as, whatever the order of
    /// the taxonomy's classes.
    pub label: &'a str,
    /// SHA-256 of the file's bytes.
    pub sha256: &'a [u8; 32],
}

/// SHA-256 over the entries sorted by (relative path, label), each written as
/// length-prefixed path, length-prefixed label, content digest: the prefixes keep
/// `("ab", "c")` and `("a", "bc")` apart.
pub(super) fn fingerprint<'a>(
    name: String,
    entries: impl IntoIterator<Item = Entry<'a>>,
) -> DatasetFingerprint {
    let mut entries: Vec<Entry<'a>> = entries.into_iter().collect();
    entries.sort_by(|a, b| (a.relative, a.label).cmp(&(b.relative, b.label)));
    let mut hasher = Sha256::new();
    for entry in &entries {
        for text in [entry.relative, entry.label] {
            hasher.update((text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
        }
        hasher.update(entry.sha256);
    }
    DatasetFingerprint {
        name,
        images: entries.len() as u64,
        sha256: hasher.finalize().into(),
    }
}
