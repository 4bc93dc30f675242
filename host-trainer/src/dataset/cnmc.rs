//! C-NMC 2019 (ISBI challenge, single-cell crops): `fold_k/{all,hem}/*.bmp`, optionally
//! under `training_data/`, with the subject in each file name (`UID_11_10_1_all.bmp` is
//! subject `11`, `UID_H10_43_1_hem.bmp` is healthy subject `H10`).

use std::path::{Path, PathBuf};

use leukoscope_core::taxonomy::Taxonomy;

use super::{DatasetError, Listing, folders, is_hidden, read_dir_sorted, unknown_label};

/// How deep below the root a `fold_*` folder may sit (`C-NMC_Leukemia/training_data/fold_0`).
const MAX_FOLD_DEPTH: usize = 3;

/// The C-NMC label folders; a fold folder holding one of them marks the layout.
const LABEL_FOLDERS: [&str; 2] = ["all", "hem"];

/// The `fold_*` folders under `root` that hold an `all` or `hem` folder, sorted by path.
pub(super) fn find_folds(root: &Path) -> Result<Vec<PathBuf>, DatasetError> {
    let mut folds = Vec::new();
    let mut walk = walkdir::WalkDir::new(root)
        .max_depth(MAX_FOLD_DEPTH)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = walk.next() {
        let entry = match entry {
            Ok(entry) => entry,
            // The root itself must be readable; deeper trouble only means "not here".
            Err(error) if error.depth() == 0 => {
                let source = error
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("the folder cannot be listed"));
                return Err(DatasetError::Unreadable {
                    path: root.to_owned(),
                    source,
                });
            }
            Err(_) => continue,
        };
        if !entry.file_type().is_dir() {
            continue;
        }
        if entry.depth() > 0 && is_hidden(entry.path()) {
            walk.skip_current_dir();
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        let is_fold = name.len() > 5
            && name
                .get(..5)
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case("fold_"));
        if is_fold
            && LABEL_FOLDERS
                .iter()
                .any(|label| entry.path().join(label).is_dir())
        {
            folds.push(entry.path().to_owned());
            // Its label folders hold thousands of cells and no further folds.
            walk.skip_current_dir();
        }
    }
    Ok(folds)
}

/// Every image in the label folders of every fold. Label folder names are resolved through
/// the taxonomy (so `hem`/`all` need the binary screen) before any file is listed.
pub(super) fn list(root: &Path, taxonomy: &Taxonomy) -> Result<Listing, DatasetError> {
    let folds = find_folds(root)?;
    if folds.is_empty() {
        return Err(DatasetError::FormatMismatch {
            path: root.to_owned(),
            format: super::DatasetFormat::Cnmc,
        });
    }
    let mut classes = Vec::new();
    for fold in &folds {
        for entry in read_dir_sorted(fold)? {
            let path = entry.path();
            if is_hidden(&path) || !path.is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let label = taxonomy
                .resolve(&name)
                .map_err(|e| unknown_label(format!("C-NMC label folder {}", path.display()), e))?;
            classes.push((path, label));
        }
    }
    let mut listing = Listing::default();
    for (dir, label) in classes {
        folders::list_class_folder(root, &dir, label, subject_of, &mut listing);
    }
    Ok(listing)
}

/// The subject in a C-NMC file name: the field after `UID_`. `None` for names that do not
/// follow the pattern; such files are grouped by their content instead.
pub(super) fn subject_of(file_name: &str) -> Option<String> {
    let mut fields = file_name.split('_');
    let prefix = fields.next()?;
    let subject = fields.next()?;
    // A subject field alone (`UID_11.bmp`) is not the pattern: it needs image, cell and label
    // fields after it.
    let rest = fields.count();
    let valid = prefix.eq_ignore_ascii_case("UID")
        && !subject.is_empty()
        && !subject.contains('.')
        && subject.chars().all(|c| c.is_ascii_alphanumeric())
        && rest >= 1;
    valid.then(|| subject.to_owned())
}

#[cfg(test)]
mod tests;
