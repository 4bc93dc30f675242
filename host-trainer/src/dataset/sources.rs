//! Several named sources read as one dataset: labs, scopes and stains that must be told
//! apart when splitting, because a figure measured on a lab the model trained on says little
//! about the next lab.
//!
//! Each source is read in its own layout and labelled in the one taxonomy; every image
//! records its source; near-duplicates are grouped within a source only, so a group never
//! spans two sources and holding out a source holds out whole groups. The class checks apply
//! to the union: a source may lack classes (PBC has no blasts) as long as another has them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use leukoscope_core::taxonomy::{ClassId, Taxonomy};

use super::{
    Dataset, DatasetError, DatasetFormat, Read, ScanOptions, assemble, check_classes, group,
    percent, read,
};

/// One named source of labelled images: what `--source NAME=DIR` gives.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Source {
    /// Its name in reports, splits and errors (`pbc`, `zheng1`): letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// Its folder (or CSV file), in any layout [`Dataset::open`] reads.
    pub path: PathBuf,
    /// Its layout: as asked ([`DatasetFormat::Auto`] from the command line, which defers to
    /// `--format`), the one it was read as in [`Dataset::sources`].
    pub format: DatasetFormat,
}

/// A `--source` value that is not `NAME=DIR`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("source {given:?}: {reason}; give it as NAME=DIR (for example pbc=/data/pbc)")]
pub struct SourceParseError {
    /// The text given.
    pub given: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Source {
    /// The name of a dataset read from one path: its last component (`/data/pbc` is `pbc`),
    /// or `data` for a path without one.
    pub fn default_name(path: &Path) -> String {
        path.file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "data".into())
    }

    /// Why `name` cannot name a source, if it cannot: it is empty, or has a character other
    /// than ASCII letters, digits, `-`, `_` and `.` (it becomes part of every image's
    /// fingerprinted path and of the report's columns).
    fn check_name(name: &str) -> Result<(), String> {
        if name.is_empty() {
            return Err("the name is empty".into());
        }
        match name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            Some(c) => Err(format!(
                "the name {name:?} has {c:?}; use letters, digits, '-', '_' and '.'"
            )),
            None => Ok(()),
        }
    }
}

impl FromStr for Source {
    type Err = SourceParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refuse = |reason: String| SourceParseError {
            given: s.into(),
            reason,
        };
        let (name, path) = s
            .split_once('=')
            .ok_or_else(|| refuse("there is no '='".into()))?;
        let name = name.trim();
        Source::check_name(name).map_err(refuse)?;
        if path.trim().is_empty() {
            return Err(refuse("the folder is empty".into()));
        }
        Ok(Source {
            name: name.into(),
            path: path.trim().into(),
            format: DatasetFormat::Auto,
        })
    }
}

impl Dataset {
    /// Reads every source, each in its own layout (a source's [`DatasetFormat::Auto`] takes
    /// `options.format`, itself detected when `auto`), labelled in `taxonomy`, as one dataset
    /// whose samples know their source, in the order given.
    ///
    /// Groups are formed within each source (subject, identical bytes, near-duplicate hash;
    /// the frame each crop was cut from for a crop folder) and never join two sources. A problem in one source, an unknown label above all, is
    /// [`DatasetError::InSource`], naming it. A source without a readable image is an error;
    /// a source lacking some classes is not, but the union must hold every class of the
    /// taxonomy and more than one. Names must be valid and distinct.
    pub fn open_sources(
        sources: &[Source],
        taxonomy: &Taxonomy,
        options: &ScanOptions,
    ) -> Result<Dataset, DatasetError> {
        check_names(sources)?;
        let mut all = Read {
            format: DatasetFormat::Auto,
            kept: Vec::new(),
            skipped: Vec::new(),
            listed_per_class: vec![0; taxonomy.len()],
            crops: None,
        };
        let mut read_sources = Vec::with_capacity(sources.len());
        let mut source_of = Vec::new();
        let mut grouping = Vec::with_capacity(sources.len());
        for (index, source) in sources.iter().enumerate() {
            let named = |error| in_source(source, error);
            let format = match source.format {
                DatasetFormat::Auto => options.format,
                format => format,
            };
            let mut one = read(&source.path, taxonomy, format).map_err(named)?;
            if one.kept.is_empty() {
                return Err(named(DatasetError::NoImages {
                    path: source.path.clone(),
                    format: one.format,
                    skipped: one.skipped.len(),
                }));
            }
            grouping.push(group(&one, options.near_duplicate_distance, index as u32));
            source_of.extend(std::iter::repeat_n(index as u32, one.kept.len()));
            // The fingerprint tells two sources' `a/1.png` apart by the source's name.
            for (candidate, _) in &mut one.kept {
                candidate.relative = format!("{}/{}", source.name, candidate.relative);
            }
            for (total, listed) in all.listed_per_class.iter_mut().zip(&one.listed_per_class) {
                *total += listed;
            }
            if index == 0 {
                all.format = one.format;
            }
            all.kept.append(&mut one.kept);
            all.skipped.append(&mut one.skipped);
            read_sources.push(Source {
                format: one.format,
                ..source.clone()
            });
        }
        let root = PathBuf::from(
            sources
                .iter()
                .map(|s| format!("{}={}", s.name, s.path.display()))
                .collect::<Vec<_>>()
                .join(","),
        );
        check_classes(
            &root,
            all.format,
            taxonomy,
            &all.kept,
            &all.listed_per_class,
            all.skipped.len(),
            options.classes,
        )?;
        Ok(assemble(
            root,
            taxonomy,
            read_sources,
            all,
            &source_of,
            grouping,
        ))
    }

    /// The name of source `id`, or `"?"` for an index out of range.
    pub fn source_name(&self, id: u32) -> &str {
        self.sources
            .get(id as usize)
            .map_or("?", |s| s.name.as_str())
    }

    /// Images per class of every source: `counts[source][class]`.
    pub fn source_class_counts(&self) -> Vec<Vec<usize>> {
        let mut counts = vec![vec![0usize; self.taxonomy.len()]; self.sources.len()];
        for sample in &self.samples {
            let source = counts.get_mut(sample.source as usize);
            if let Some(count) = source.and_then(|c| c.get_mut(sample.label as usize)) {
                *count += 1;
            }
        }
        counts
    }

    /// The class table with a column per source, then a line per source: its folder,
    /// layout, images and groups.
    pub(super) fn per_source_table(&self) -> String {
        let per_source = self.source_class_counts();
        let totals = self.class_counts();
        let total: usize = totals.iter().sum();
        let width = self.taxonomy.name_width().max("class".len());
        let columns: Vec<usize> = self.sources.iter().map(|s| s.name.len().max(6)).collect();
        let mut out = format!("  {:<width$}  {:>6}  {:>7}", "class", "all", "");
        for (source, &column) in self.sources.iter().zip(&columns) {
            let _ = write!(out, "  {:>column$}", source.name);
        }
        out.push('\n');
        for (class, &count) in totals.iter().enumerate() {
            let _ = write!(
                out,
                "  {:<width$}  {count:>6}  {:>5.1} %",
                self.taxonomy.class_name(class as ClassId),
                percent(count, total),
            );
            for (counts, &column) in per_source.iter().zip(&columns) {
                let _ = write!(out, "  {:>column$}", counts[class]);
            }
            out.push('\n');
        }
        for (id, source) in self.sources.iter().enumerate() {
            let mut groups: Vec<u32> = self
                .samples
                .iter()
                .filter(|s| s.source == id as u32)
                .map(|s| s.group)
                .collect();
            let images = groups.len();
            groups.sort_unstable();
            groups.dedup();
            let _ = writeln!(
                out,
                "  source {}: {} ({} format), {images} images in {} groups",
                source.name,
                source.path.display(),
                source.format,
                groups.len(),
            );
        }
        out
    }
}

/// `error` of `source`, naming it.
fn in_source(source: &Source, error: DatasetError) -> DatasetError {
    DatasetError::InSource {
        name: source.name.clone(),
        path: source.path.clone(),
        error: Box::new(error),
    }
}

/// At least one source, every name valid, no name twice.
fn check_names(sources: &[Source]) -> Result<(), DatasetError> {
    if sources.is_empty() {
        return Err(DatasetError::Sources {
            reason: "no source given".into(),
        });
    }
    for (i, source) in sources.iter().enumerate() {
        Source::check_name(&source.name).map_err(|reason| DatasetError::Sources { reason })?;
        if sources[..i].iter().any(|s| s.name == source.name) {
            return Err(DatasetError::Sources {
                reason: format!(
                    "the name {} is given twice; give each source a name of its own",
                    source.name
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
