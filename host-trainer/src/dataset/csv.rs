//! A CSV list: `path,label[,group]` rows, an optional header, paths relative to the CSV's
//! folder. The group column names a subject (or any unit that must stay on one side of a
//! split); rows that leave it empty are grouped by content. Lines starting with `#` are
//! comments, fields are trimmed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use leukoscope_core::taxonomy::Taxonomy;

use super::{Candidate, DatasetError, Listing, Skipped, unknown_label};

/// Header words for the label column; a first row with one of them there is a header.
const LABEL_HEADERS: [&str; 2] = ["label", "class"];

/// Every row of the CSV at `csv_path`. Malformed rows and unknown labels are errors (the
/// list is the user's own statement of the data); listed files that are missing or do not
/// decode are only skipped, like files anywhere else.
pub(super) fn list(csv_path: &Path, taxonomy: &Taxonomy) -> Result<Listing, DatasetError> {
    let base = csv_path.parent().unwrap_or(Path::new(""));
    let mut reader = open(csv_path, Some(b'#'))?;
    let malformed = |line: Option<u64>, reason: String| DatasetError::Csv {
        path: csv_path.to_owned(),
        line,
        reason,
    };

    let mut listing = Listing::default();
    let mut first_line: HashMap<PathBuf, u64> = HashMap::new();
    let mut first_row = true;
    for record in reader.records() {
        let record =
            record.map_err(|e| malformed(e.position().map(::csv::Position::line), describe(&e)))?;
        let line = record.position().map_or(0, ::csv::Position::line);
        if record.iter().all(str::is_empty) {
            continue;
        }
        let is_first = std::mem::replace(&mut first_row, false);
        let (path, label, group) = match (record.get(0), record.get(1), record.get(2), record.len())
        {
            (Some(path), Some(label), group, 2 | 3) => (path, label, group),
            (.., fields) => {
                return Err(malformed(Some(line), format!("found {fields} fields")));
            }
        };
        if is_first
            && LABEL_HEADERS
                .iter()
                .any(|header| label.eq_ignore_ascii_case(header))
            && taxonomy.resolve(label).is_err()
        {
            continue;
        }
        if path.is_empty() {
            return Err(malformed(Some(line), "the path is empty".into()));
        }
        let label = taxonomy
            .resolve(label)
            .map_err(|e| unknown_label(format!("line {line} of {}", csv_path.display()), e))?;
        let full = base.join(path);
        if let Some(&first) = first_line.get(&full) {
            listing.skipped.push(Skipped {
                path: full,
                reason: format!(
                    "listed again on line {line} (first on line {first}); the first row counts"
                ),
            });
            continue;
        }
        first_line.insert(full.clone(), line);
        listing.candidates.push(Candidate {
            path: full,
            relative: path.replace('\\', "/"),
            label,
            subject: group.filter(|g| !g.is_empty()).map(str::to_owned),
        });
    }
    Ok(listing)
}

/// A reader of the CSV file at `path` as the dataset's lists are read: rows of any length
/// (each caller checks its own), fields trimmed, no header assumed (each caller knows its
/// own), lines starting with `comment` skipped.
pub(super) fn open(
    path: &Path,
    comment: Option<u8>,
) -> Result<::csv::Reader<std::fs::File>, DatasetError> {
    let file = std::fs::File::open(path).map_err(|source| DatasetError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    Ok(::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .comment(comment)
        .from_reader(file))
}

/// What a CSV error says, without the position (the error names that separately).
pub(super) fn describe(error: &::csv::Error) -> String {
    match error.kind() {
        ::csv::ErrorKind::Io(e) => format!("cannot read it: {e}"),
        ::csv::ErrorKind::Utf8 { err, .. } => format!("not UTF-8 text: {err}"),
        _ => error.to_string(),
    }
}
