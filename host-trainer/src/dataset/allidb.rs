//! ALL-IDB (Labati, Piuri, Scotti 2011): one folder of `ImNNN_1.jpg` (ALL) and
//! `ImNNN_0.tif` (normal) images; the suffix is the label and no subject is named.

use std::path::Path;

use leukoscope_core::taxonomy::{ClassId, Taxonomy};

use super::{
    Candidate, DatasetError, DatasetFormat, Listing, Skipped, has_image_extension, is_hidden,
    read_dir_sorted, relative, unknown_label,
};

/// The label suffix (`"_0"` or `"_1"`) of an ALL-IDB file name (`Im001_1.jpg`), or `None`
/// for any other name.
pub(super) fn label_suffix(file_name: &str) -> Option<&'static str> {
    let (stem, extension) = file_name.rsplit_once('.')?;
    let number = stem
        .get(..2)
        .filter(|prefix| prefix.eq_ignore_ascii_case("im"))
        .and_then(|_| stem.get(2..))?;
    let (digits, suffix) = number.rsplit_once('_')?;
    if extension.is_empty() || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match suffix {
        "0" => Some("_0"),
        "1" => Some("_1"),
        _ => None,
    }
}

/// Whether `dir` holds at least one image file named like ALL-IDB's.
pub(super) fn has_images(dir: &Path) -> Result<bool, DatasetError> {
    Ok(read_dir_sorted(dir)?.iter().any(|entry| {
        let path = entry.path();
        path.is_file()
            && has_image_extension(&path)
            && label_suffix(&entry.file_name().to_string_lossy()).is_some()
    }))
}

/// Every ALL-IDB image in `root`. Other images there are skipped (their name carries no
/// label); other files and folders are ignored.
pub(super) fn list(root: &Path, taxonomy: &Taxonomy) -> Result<Listing, DatasetError> {
    // Each suffix is resolved once, when first seen: an unsuitable taxonomy fails before
    // any file is decoded.
    let resolve = |suffix: &str| {
        taxonomy.resolve(suffix).map_err(|e| {
            unknown_label(
                format!("ALL-IDB file-name suffix {suffix} in {}", root.display()),
                e,
            )
        })
    };
    let mut listing = Listing::default();
    let mut labels: [Option<ClassId>; 2] = [None, None];
    for entry in read_dir_sorted(root)? {
        let path = entry.path();
        if is_hidden(&path) || !path.is_file() || !has_image_extension(&path) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(suffix) = label_suffix(&name) else {
            listing.skipped.push(Skipped {
                path,
                reason: "not named like an ALL-IDB image (ImNNN_1 for ALL, ImNNN_0 for normal)"
                    .into(),
            });
            continue;
        };
        let slot = usize::from(suffix == "_1");
        let label = match labels[slot] {
            Some(label) => label,
            None => *labels[slot].insert(resolve(suffix)?),
        };
        listing.candidates.push(Candidate {
            relative: relative(root, &path),
            path,
            label,
            subject: None,
        });
    }
    if listing.candidates.is_empty() {
        return Err(DatasetError::FormatMismatch {
            path: root.to_owned(),
            format: DatasetFormat::AllIdb,
        });
    }
    Ok(listing)
}

#[cfg(test)]
mod tests;
