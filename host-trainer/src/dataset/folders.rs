//! One folder per class: `ROOT/<class folder>/**/*.{jpg,jpeg,png,bmp,tif,tiff}`.

use std::path::Path;

use leukoscope_core::taxonomy::{ClassId, Taxonomy};

use super::{
    Candidate, DatasetError, Listing, Skipped, has_image_extension, is_hidden, read_dir_sorted,
    relative, unknown_label,
};

/// Every image under the class folders of `root`. Every folder name is resolved before any
/// file is listed, so a misnamed folder fails at once rather than after a long scan. Files
/// directly in `root` (a README) are ignored, except images, which are skipped as unlabelled.
pub(super) fn list(root: &Path, taxonomy: &Taxonomy) -> Result<Listing, DatasetError> {
    let mut listing = Listing::default();
    let mut classes = Vec::new();
    for entry in read_dir_sorted(root)? {
        let path = entry.path();
        if is_hidden(&path) {
            continue;
        }
        if path.is_dir() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let label = taxonomy
                .resolve(&name)
                .map_err(|e| unknown_label(format!("class folder {}", path.display()), e))?;
            classes.push((path, label));
        } else if has_image_extension(&path) {
            listing.skipped.push(Skipped {
                path,
                reason: "an image outside every class folder has no label; move it into one".into(),
            });
        }
    }
    for (dir, label) in classes {
        list_class_folder(root, &dir, label, |_| None, &mut listing);
    }
    Ok(listing)
}

/// Adds every file under `dir` (any depth) to `listing` as a candidate of class `label`,
/// with the subject `subject_of` reads from its file name. Files that are not images by
/// their extension, and folders that cannot be read, are skipped with the reason: they sit
/// where images are expected, so the user should hear about them.
pub(super) fn list_class_folder(
    root: &Path,
    dir: &Path,
    label: ClassId,
    subject_of: impl Fn(&str) -> Option<String>,
    listing: &mut Listing,
) {
    let walk = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| entry.depth() == 0 || !is_hidden(entry.path()));
    for entry in walk {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                listing.skipped.push(Skipped {
                    path: error.path().unwrap_or(dir).to_owned(),
                    reason: error.to_string(),
                });
                continue;
            }
        };
        if entry.file_type().is_dir() {
            continue;
        }
        let path = entry.path();
        if !has_image_extension(path) {
            listing.skipped.push(Skipped {
                path: path.to_owned(),
                reason: format!(
                    "not an image file by its name (expected one of: {})",
                    super::IMAGE_EXTENSIONS.join(", ")
                ),
            });
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        listing.candidates.push(Candidate {
            path: path.to_owned(),
            relative: relative(root, path),
            label,
            subject: subject_of(&name),
        });
    }
}
