//! Labelled image sets on disk: the layouts smear data comes in, a check that every file
//! decodes, groups of images that must never be split apart, and splits that respect them.
//!
//! - `folders`: one folder per class (`ROOT/<class>/**/*.jpg`), the 4-class data's layout.
//! - `cnmc`: C-NMC 2019 (`fold_k/{all,hem}/UID_<subject>_..._<label>.bmp`), with subjects.
//! - `allidb`: ALL-IDB (`Im001_1.jpg`: the suffix is the label), one flat folder.
//! - `csv`: a list of `path,label[,group]` rows.
//! - [`crops`]: a folder of cell crops with `crops.csv` (what `leukoscope-edge crops`
//!   writes), grouped by the frame each crop was cut from instead of by the crops' hashes.
//! - `scan`: decoding every candidate file in parallel, its content digest and its hash.
//! - [`hashing`]: the difference hash and the near-duplicate groups built on it.
//! - `fingerprint`: the dataset's identity for a model's provenance.
//! - [`sources`]: several named sources read as one dataset, each image knowing its own.
//! - `split`: group k-fold and hold-out splits stratified by class, and leave-one-source-out.
//!
//! What makes training meaningless stops [`Dataset::open`] with a named [`DatasetError`]
//! before any training: an unknown class folder or label, a class of the taxonomy without a
//! single readable image, a dataset of one class, no images at all, an unreadable root, a
//! crop folder's malformed `crops.csv` row or image it does not list. A file
//! that does not decode only lands in [`Dataset::skipped`]: one bad file in ten thousand
//! should cost that file, not the run.

mod allidb;
mod cnmc;
pub mod crops;
mod csv;
mod fingerprint;
mod folders;
pub mod hashing;
mod scan;
pub mod sources;
mod split;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use leukoscope_core::artifact::DatasetFingerprint;
use leukoscope_core::taxonomy::{ClassId, Taxonomy, TaxonomyError};

pub use crops::CropGroups;
pub use sources::{Source, SourceParseError};
pub use split::{Split, describe_split, group_holdout, group_k_fold, leave_one_source_out};

/// File extensions taken as images (compared without regard to case). Content decides the
/// decoder; the extension only decides what is a candidate at all.
pub const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "bmp", "tif", "tiff"];

/// Default for [`ScanOptions::near_duplicate_distance`], measured on the 4-class data
/// (2,767 fields): pairs up to 9 bits apart were all the same field re-shot or shifted, and
/// none crossed a class; at 10 bits there was one such pair and one of two different fields;
/// from 11 bits on, different fields (most of them of different classes) outnumber them, and
/// the nearest other field of a typical image lies 15 to 19 bits away. A missed duplicate
/// leaks into validation while a spurious pair only coarsens the split, so the default takes
/// the last distance that still gains a real pair.
pub const DEFAULT_NEAR_DUPLICATE_DISTANCE: u32 = 10;

/// How a dataset's files and labels are laid out.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetFormat {
    /// Decide from what is on disk (see [`Dataset::open`]).
    #[default]
    Auto,
    /// `ROOT/<class folder>/**/*.{jpg,jpeg,png,bmp,tif,tiff}`; the folder name is the label.
    Folders,
    /// C-NMC 2019: `ROOT/[training_data/]fold_k/{all,hem}/UID_<subject>_..._{all,hem}.bmp`.
    Cnmc,
    /// ALL-IDB: `ROOT/ImNNN_1.jpg` (ALL) and `ROOT/ImNNN_0.tif` (normal) in one folder.
    AllIdb,
    /// A `.csv` file of `path,label[,group]` rows, paths relative to the file's folder.
    Csv,
}

impl DatasetFormat {
    /// Every format with the word the CLI and config files use for it.
    pub const ALL: [(DatasetFormat, &'static str); 5] = [
        (DatasetFormat::Auto, "auto"),
        (DatasetFormat::Folders, "folders"),
        (DatasetFormat::Cnmc, "cnmc"),
        (DatasetFormat::AllIdb, "all-idb"),
        (DatasetFormat::Csv, "csv"),
    ];

    /// The word the CLI and config files use (`all-idb`).
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(format, _)| *format == self)
            .map_or("auto", |(_, name)| name)
    }

    /// What a dataset of this format is, with its article, for error messages.
    fn kind(self) -> &'static str {
        match self {
            DatasetFormat::Auto => "a dataset",
            DatasetFormat::Folders => "a dataset of class folders",
            DatasetFormat::Cnmc => "a C-NMC dataset",
            DatasetFormat::AllIdb => "an ALL-IDB dataset",
            DatasetFormat::Csv => "a CSV list",
        }
    }

    /// What the format expects on disk, for error messages.
    pub fn layout(self) -> &'static str {
        match self {
            DatasetFormat::Auto => {
                "a folder of class folders, a C-NMC or ALL-IDB folder, or a .csv of path,label[,group]"
            }
            DatasetFormat::Folders => {
                "one folder per class (ROOT/Benign/*.jpg, ROOT/Pro/*.png, ...), named after the class or one of its aliases"
            }
            DatasetFormat::Cnmc => {
                "ROOT/fold_0/all/*.bmp and ROOT/fold_0/hem/*.bmp (also under training_data/)"
            }
            DatasetFormat::AllIdb => "one folder of ImNNN_1 (ALL) and ImNNN_0 (normal) image files",
            DatasetFormat::Csv => {
                "a .csv file of path,label[,group] rows, paths relative to the file"
            }
        }
    }
}

impl fmt::Display for DatasetFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A dataset format name that is none of [`DatasetFormat::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown dataset format {name:?}; choose one of: auto, folders, cnmc, all-idb, csv")]
pub struct UnknownFormat {
    /// The name given.
    pub name: String,
}

impl FromStr for DatasetFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        // The data sets' own spellings are accepted too, so a user copying a name works.
        let wanted = match wanted.as_str() {
            "c-nmc" | "c_nmc" => "cnmc",
            "allidb" | "all_idb" => "all-idb",
            other => other,
        };
        DatasetFormat::ALL
            .iter()
            .find(|(_, name)| *name == wanted)
            .map(|(format, _)| *format)
            .ok_or_else(|| UnknownFormat { name: s.into() })
    }
}

/// One readable, labelled image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The file.
    pub path: PathBuf,
    /// Its class in the dataset's taxonomy.
    pub label: ClassId,
    /// Its group of related images (same subject, or same field up to small changes),
    /// `0..Dataset::groups`. A split never puts one group on both sides.
    pub group: u32,
    /// The subject (patient) the dataset names, if it names one.
    pub subject: Option<String>,
    /// Its source: an index into [`Dataset::sources`] (0 for a dataset read from one path).
    pub source: u32,
}

/// A file that was a candidate but is not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// Why (the decoder's message, or what about the name or place was wrong).
    pub reason: String,
}

/// How to read a dataset.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ScanOptions {
    /// The layout, or [`DatasetFormat::Auto`] to detect it.
    pub format: DatasetFormat,
    /// Largest Hamming distance between the 64-bit difference hashes of two images for them
    /// to count as the same field and share a group. Only applies to images without a
    /// subject id; byte-identical files share a group whatever this is. In a crop folder it
    /// compares the frames the crops were cut from, never the crops (see [`crops`]).
    pub near_duplicate_distance: u32,
    /// Which of the taxonomy's classes the images must have.
    pub classes: ClassCoverage,
}

/// Which of a taxonomy's classes a dataset must have images of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClassCoverage {
    /// Every class: a classifier trained on the data learns each of its outputs.
    #[default]
    Every,
    /// Two or more: a backbone pretrained on labs that lack some kinds (`pretrain`) never
    /// learns those outputs, and from one class it would learn nothing.
    Several,
    /// Any, even one: the cells of a lab that has only some kinds, for evaluation.
    Any,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            format: DatasetFormat::Auto,
            near_duplicate_distance: DEFAULT_NEAR_DUPLICATE_DISTANCE,
            classes: ClassCoverage::Every,
        }
    }
}

/// A dataset that failed the checks made before any training.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The path cannot be read.
    #[error("cannot read dataset {} (check the path and its permissions)", path.display())]
    Unreadable {
        /// The path given (or the folder inside it that failed).
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The path is not in the layout asked for.
    #[error("{} is not {}: expected {}; fix the layout or let the format be detected (auto)", path.display(), format.kind(), format.layout())]
    FormatMismatch {
        /// The path given.
        path: PathBuf,
        /// The format asked for.
        format: DatasetFormat,
    },
    /// A folder name or label the taxonomy does not know.
    #[error(
        "{place}: label {label:?} is not a class of {taxonomy}; use one of: {expected} (or choose the taxonomy the data was labelled with)"
    )]
    UnknownLabel {
        /// Where the label was found (`class folder /data/Blasts`, `line 7 of labels.csv`).
        place: String,
        /// The label.
        label: String,
        /// The taxonomy asked for.
        taxonomy: String,
        /// The labels it accepts.
        expected: String,
    },
    /// A CSV row that is not `path,label[,group]`.
    #[error("{}{}: {reason}; each row must be path,label[,group]", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// The 1-based line, when known.
        line: Option<u64>,
        /// What is wrong with it.
        reason: String,
    },
    /// Not one readable image.
    #[error("no readable images in {} (read as {format}, {skipped} files skipped); expected {}", path.display(), format.layout())]
    NoImages {
        /// The path given.
        path: PathBuf,
        /// The format it was read as.
        format: DatasetFormat,
        /// Candidate files that did not decode.
        skipped: usize,
    },
    /// Every readable image is of one class.
    #[error(
        "all {images} readable images are of class {class}; a classifier needs images of at least two classes of {taxonomy}: add the other classes' folders or labels"
    )]
    OneClass {
        /// The one class present.
        class: String,
        /// How many images it has.
        images: usize,
        /// The taxonomy asked for.
        taxonomy: String,
    },
    /// Classes of the taxonomy without a single readable image.
    #[error(
        "no readable images of {classes} (taxonomy {taxonomy}); the model would have outputs it never learns and validation could not score them: add images of these classes or choose a taxonomy without them"
    )]
    EmptyClass {
        /// The empty classes, each with how many of its files were unreadable.
        classes: String,
        /// The taxonomy asked for.
        taxonomy: String,
    },
    /// A row of a crop folder's `crops.csv` that is not a crop inside the folder and the
    /// frame it was cut from.
    #[error("{}{}: {reason}; crops.csv is written by leukoscope-edge crops (crop,frame,label,...): fix the row, or cut the crops again into an empty folder", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    CropIndex {
        /// The `crops.csv` file.
        path: PathBuf,
        /// The 1-based line, when known.
        line: Option<u64>,
        /// What is wrong with it, naming the crop when there is one.
        reason: String,
    },
    /// Images in a crop folder that its `crops.csv` does not list: their frames are unknown,
    /// so they could share a field with crops on the other side of a split.
    #[error("{images} images are not listed in {} (first: {}), so the frame they were cut from is unknown and they cannot be grouped with its other crops: move them out, or cut the folder again with leukoscope-edge crops", index.display(), first.display())]
    CropNotListed {
        /// The `crops.csv` file.
        index: PathBuf,
        /// How many images it does not list.
        images: usize,
        /// The first of them.
        first: PathBuf,
    },
    /// Crop folders cut at windows of different sizes: a model has one scale, so the edge
    /// could cut its windows to match only some of them.
    #[error("the crops were cut at windows of different sizes: {} at {narrow_um:.2} um, {} at {wide_um:.2} um; cut them again with one leukoscope-edge crops --window-um", narrow.display(), wide.display())]
    CropWindows {
        /// The `crops.csv` of the narrowest window.
        narrow: PathBuf,
        /// Its window, in micrometres.
        narrow_um: f32,
        /// The `crops.csv` of the widest window.
        wide: PathBuf,
        /// Its window, in micrometres.
        wide_um: f32,
    },
    /// A problem in one of several sources, named with the source.
    #[error("source {name} ({}): {error}", path.display())]
    InSource {
        /// The source's name.
        name: String,
        /// Its folder (or CSV file).
        path: PathBuf,
        /// What is wrong with it.
        error: Box<DatasetError>,
    },
    /// A list of sources that cannot be read as one dataset.
    #[error("invalid sources: {reason}")]
    Sources {
        /// What is wrong.
        reason: String,
    },
    /// Split parameters that cannot work.
    #[error("invalid split: {reason}")]
    InvalidSplit {
        /// What is wrong.
        reason: String,
    },
    /// Fewer groups of related images than parts to split into.
    #[error(
        "only {groups} groups of related images, too few to split into {parts} parts without a group on both sides; use fewer folds or add images of more subjects"
    )]
    TooFewGroups {
        /// Groups in the dataset.
        groups: u32,
        /// Parts asked for.
        parts: usize,
    },
}

/// A labelled image set, checked: every sample decodes, every class of the taxonomy has
/// images, and related images share a group.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The path given; for several sources, their `NAME=DIR` list joined by commas.
    pub root: PathBuf,
    /// The class set the labels were resolved in.
    pub taxonomy: Taxonomy,
    /// The layout it was read as (never [`DatasetFormat::Auto`]); the first source's when
    /// there are several (each one's own is in [`Dataset::sources`]).
    pub format: DatasetFormat,
    /// Where the images came from, each with the layout it was read as: one source for a
    /// dataset read from one path, named after its folder. [`Sample::source`] indexes it.
    pub sources: Vec<Source>,
    /// The readable images, ordered by path relative to the root.
    pub samples: Vec<Sample>,
    /// Candidate files that are not used, and why.
    pub skipped: Vec<Skipped>,
    /// Number of groups; every [`Sample::group`] is below it.
    pub groups: u32,
    /// How each crop folder among the sources was grouped (none for other layouts).
    pub crop_groups: Vec<CropGroups>,
    /// The set's identity for a model's provenance.
    pub fingerprint: DatasetFingerprint,
}

/// A file a reader found, before it is decoded.
#[derive(Clone, Debug)]
struct Candidate {
    path: PathBuf,
    /// Path relative to the dataset (as written, for CSV), `/`-separated: what the
    /// fingerprint records, so moving the dataset does not change it.
    relative: String,
    label: ClassId,
    subject: Option<String>,
}

/// What a reader found.
#[derive(Debug, Default)]
struct Listing {
    candidates: Vec<Candidate>,
    skipped: Vec<Skipped>,
}

impl Dataset {
    /// Reads, decodes and groups the dataset at `path`, labelling it in `taxonomy`.
    ///
    /// With [`DatasetFormat::Auto`]: a `.csv` file is a CSV list; a folder holding `fold_*`
    /// folders with `all`/`hem` inside (at most two levels down) is C-NMC; a folder with
    /// `ImNNN_0`/`ImNNN_1` image files is ALL-IDB; any other folder is one folder per class.
    ///
    /// Every candidate file is decoded; one that does not decode is skipped with a warning.
    /// Then it is an error if no image is readable, if only one class has images, or if any
    /// class of the taxonomy has none: training needs every class it will be asked to tell
    /// apart (as far as [`ScanOptions::classes`] asks). Unknown class folders or labels are
    /// reported before any file is decoded.
    pub fn open(
        path: &Path,
        taxonomy: &Taxonomy,
        options: &ScanOptions,
    ) -> Result<Dataset, DatasetError> {
        let read = read(path, taxonomy, options.format)?;
        check_classes(
            path,
            read.format,
            taxonomy,
            &read.kept,
            &read.listed_per_class,
            read.skipped.len(),
            options.classes,
        )?;
        let grouping = group(&read, options.near_duplicate_distance, 0);
        let source = Source {
            name: Source::default_name(path),
            path: path.to_owned(),
            format: read.format,
        };
        let source_of = vec![0; read.kept.len()];
        Ok(assemble(
            path.to_owned(),
            taxonomy,
            vec![source],
            read,
            &source_of,
            vec![grouping],
        ))
    }

    /// Images per class, in the taxonomy's order.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.taxonomy.len()];
        for sample in &self.samples {
            if let Some(count) = counts.get_mut(sample.label as usize) {
                *count += 1;
            }
        }
        counts
    }

    /// Images in each group, by group id.
    pub fn group_sizes(&self) -> Vec<usize> {
        let mut sizes = vec![0; self.groups as usize];
        for sample in &self.samples {
            if let Some(size) = sizes.get_mut(sample.group as usize) {
                *size += 1;
            }
        }
        sizes
    }

    /// The side, in micrometres, of the window every image was cut at, when every image
    /// comes from a crop folder whose `crops.csv` says (`None` otherwise): what the edge
    /// must cut for a model trained on them. Windows more than 2 % apart are an error.
    pub fn crop_window_um(&self) -> Result<Option<f32>, DatasetError> {
        let crops: usize = self.crop_groups.iter().map(|c| c.crops).sum();
        if crops == 0 || crops != self.samples.len() {
            return Ok(None);
        }
        let mut windows = Vec::with_capacity(self.crop_groups.len());
        for group in &self.crop_groups {
            match group.window_um {
                Some(window) => windows.push((&group.index, window)),
                None => return Ok(None),
            }
        }
        let narrow = windows.iter().min_by(|a, b| a.1.0.total_cmp(&b.1.0));
        let wide = windows.iter().max_by(|a, b| a.1.1.total_cmp(&b.1.1));
        let (Some(&(narrow, (narrow_um, _))), Some(&(wide, (_, wide_um)))) = (narrow, wide) else {
            return Ok(None);
        };
        if wide_um > narrow_um * 1.02 {
            return Err(DatasetError::CropWindows {
                narrow: narrow.clone(),
                narrow_um,
                wide: wide.clone(),
                wide_um,
            });
        }
        Ok(Some((narrow_um + wide_um) / 2.0))
    }

    /// A few lines for people: images, groups, images per class (and per source when there
    /// are several, with each source's folder, layout and groups), skipped files.
    pub fn summary(&self) -> String {
        use fmt::Write as _;

        let total = self.samples.len();
        let sizes = self.group_sizes();
        let largest = sizes.iter().copied().max().unwrap_or(0);
        let in_shared = sizes.iter().filter(|&&size| size > 1).sum::<usize>();
        let mut out = format!(
            "{}: {total} images ({}, taxonomy {}) in {} groups ({in_shared} images share a group with another, largest {largest}); {} files skipped\n",
            self.root.display(),
            match self.sources.len() {
                0 | 1 => format!("{} format", self.format),
                several => format!("{several} sources"),
            },
            self.taxonomy.name,
            self.groups,
            self.skipped.len(),
        );
        let width = self.taxonomy.name_width();
        for crops in &self.crop_groups {
            out.push_str(&crops.describe(self.source_name(crops.source)));
        }
        if self.sources.len() > 1 {
            out.push_str(&self.per_source_table());
        } else {
            for (class, count) in self.class_counts().into_iter().enumerate() {
                let _ = writeln!(
                    out,
                    "  {:<width$}  {count:>6}  {:>5.1} %",
                    self.taxonomy.class_name(class as ClassId),
                    percent(count, total),
                );
            }
        }
        const SHOWN: usize = 10;
        for skipped in self.skipped.iter().take(SHOWN) {
            let _ = writeln!(
                out,
                "  skipped {}: {}",
                skipped.path.display(),
                skipped.reason
            );
        }
        if self.skipped.len() > SHOWN {
            let _ = writeln!(out, "  ... and {} more skipped", self.skipped.len() - SHOWN);
        }
        out
    }
}

/// `part` of `whole` in percent, 0 for an empty whole.
fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// One path read and decoded, before its classes are checked and its images grouped.
struct Read {
    /// The layout it was read as (never [`DatasetFormat::Auto`]).
    format: DatasetFormat,
    /// The files that decode, sorted by relative path, with what is known of each.
    kept: Vec<(Candidate, scan::Facts)>,
    /// Candidate files that are not used.
    skipped: Vec<Skipped>,
    /// Candidate files per class, readable or not.
    listed_per_class: Vec<usize>,
    /// The crop index, for a folder of class folders holding [`crops::INDEX`].
    crops: Option<crops::Index>,
}

/// Lists the files at `path` in `format` (detected when [`DatasetFormat::Auto`]) and decodes
/// every one, labelled in `taxonomy`. Unknown labels fail before any file is decoded; files
/// that do not decode are only skipped.
fn read(path: &Path, taxonomy: &Taxonomy, format: DatasetFormat) -> Result<Read, DatasetError> {
    let metadata = std::fs::metadata(path).map_err(|source| DatasetError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    let format = match format {
        DatasetFormat::Auto => detect(path, metadata.is_file())?,
        format => format,
    };
    let wants_file = format == DatasetFormat::Csv;
    if wants_file != metadata.is_file() {
        return Err(DatasetError::FormatMismatch {
            path: path.to_owned(),
            format,
        });
    }
    let mut listing = match format {
        DatasetFormat::Folders => folders::list(path, taxonomy)?,
        DatasetFormat::Cnmc => cnmc::list(path, taxonomy)?,
        DatasetFormat::AllIdb => allidb::list(path, taxonomy)?,
        DatasetFormat::Csv | DatasetFormat::Auto => csv::list(path, taxonomy)?,
    };
    // Sorted before decoding so that samples, group ids and the fingerprint do not
    // depend on the order the file system lists entries in.
    listing
        .candidates
        .sort_by(|a, b| a.relative.cmp(&b.relative));
    // A crop folder's index is checked before any file is decoded.
    let crops = match format {
        DatasetFormat::Folders => crops::Index::read(path)?,
        _ => None,
    };
    let crops = crops
        .map(|mut index| index.check(&listing.candidates).map(|()| index))
        .transpose()?;

    for skipped in &listing.skipped {
        tracing::warn!(path = %skipped.path.display(), reason = %skipped.reason, "skipping a file");
    }
    let facts = scan::scan(&listing.candidates);
    let mut skipped = listing.skipped;
    let mut kept = Vec::with_capacity(listing.candidates.len());
    let mut listed_per_class = vec![0usize; taxonomy.len()];
    for (candidate, fact) in listing.candidates.into_iter().zip(facts) {
        if let Some(count) = listed_per_class.get_mut(candidate.label as usize) {
            *count += 1;
        }
        match fact {
            Ok(fact) => kept.push((candidate, fact)),
            Err(reason) => {
                tracing::warn!(path = %candidate.path.display(), %reason, "skipping a file that does not decode");
                skipped.push(Skipped {
                    path: candidate.path,
                    reason,
                });
            }
        }
    }
    Ok(Read {
        format,
        kept,
        skipped,
        listed_per_class,
        crops,
    })
}

/// The groups of `read`'s kept files, the files of source `source`.
struct Grouping {
    /// The group of every kept file.
    group_of: Vec<u32>,
    /// The number of groups.
    groups: u32,
    /// How a crop folder's crops were grouped.
    crops: Option<CropGroups>,
}

/// The group of every kept file of `read` (source `source`) and the number of groups: by
/// frame for a crop folder (see [`crops`]), else by subject, content and near-duplicate hash
/// (see [`hashing`]'s grouping).
fn group(read: &Read, distance: u32, source: u32) -> Grouping {
    if let Some(index) = &read.crops {
        let (group_of, groups, crops) = crops::group(index, &read.kept, distance, source);
        return Grouping {
            group_of,
            groups,
            crops: Some(crops),
        };
    }
    let hashed: Vec<hashing::Hashed<'_>> = read
        .kept
        .iter()
        .map(|(candidate, fact)| hashing::Hashed {
            sha256: &fact.sha256,
            dhash: fact.dhash,
            subject: candidate.subject.as_deref(),
        })
        .collect();
    let (group_of, groups) = hashing::group(&hashed, distance);
    Grouping {
        group_of,
        groups,
        crops: None,
    }
}

/// The dataset of `read`'s files, checked and grouped: each kept file's source is
/// `source_of[i]` and its group `grouping.group_of[i]`. The fingerprint is named after
/// `root` and covers each file by its relative path.
fn assemble(
    root: PathBuf,
    taxonomy: &Taxonomy,
    sources: Vec<Source>,
    read: Read,
    source_of: &[u32],
    grouping: Vec<Grouping>,
) -> Dataset {
    let groups = grouping.iter().map(|g| g.groups).sum();
    let mut crop_groups = Vec::new();
    let mut group_of = Vec::with_capacity(read.kept.len());
    let mut offset = 0;
    for one in grouping {
        group_of.extend(one.group_of.into_iter().map(|id| id + offset));
        offset += one.groups;
        crop_groups.extend(one.crops);
    }
    let fingerprint = fingerprint::fingerprint(
        root.display().to_string(),
        read.kept
            .iter()
            .map(|(candidate, fact)| fingerprint::Entry {
                relative: &candidate.relative,
                label: taxonomy.class_name(candidate.label),
                sha256: &fact.sha256,
            }),
    );
    let samples = read
        .kept
        .into_iter()
        .zip(group_of)
        .zip(source_of)
        .map(|(((candidate, _), group), &source)| Sample {
            path: candidate.path,
            label: candidate.label,
            group,
            subject: candidate.subject,
            source,
        })
        .collect();
    Dataset {
        root,
        taxonomy: taxonomy.clone(),
        format: read.format,
        sources,
        samples,
        skipped: read.skipped,
        groups,
        crop_groups,
        fingerprint,
    }
}

/// The format of a dataset given without one.
fn detect(path: &Path, is_file: bool) -> Result<DatasetFormat, DatasetError> {
    if is_file {
        let is_csv = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        return if is_csv {
            Ok(DatasetFormat::Csv)
        } else {
            Err(DatasetError::FormatMismatch {
                path: path.to_owned(),
                format: DatasetFormat::Auto,
            })
        };
    }
    if !cnmc::find_folds(path)?.is_empty() {
        return Ok(DatasetFormat::Cnmc);
    }
    if allidb::has_images(path)? {
        return Ok(DatasetFormat::AllIdb);
    }
    Ok(DatasetFormat::Folders)
}

/// The errors about classes: none readable, fewer than `classes` asks for.
fn check_classes(
    path: &Path,
    format: DatasetFormat,
    taxonomy: &Taxonomy,
    kept: &[(Candidate, scan::Facts)],
    listed_per_class: &[usize],
    skipped: usize,
    classes: ClassCoverage,
) -> Result<(), DatasetError> {
    if kept.is_empty() {
        return Err(DatasetError::NoImages {
            path: path.to_owned(),
            format,
            skipped,
        });
    }
    if classes == ClassCoverage::Any {
        return Ok(());
    }
    let mut counts = vec![0usize; taxonomy.len()];
    for (candidate, _) in kept {
        if let Some(count) = counts.get_mut(candidate.label as usize) {
            *count += 1;
        }
    }
    let present: Vec<usize> = (0..counts.len()).filter(|&c| counts[c] > 0).collect();
    if let [only] = present[..] {
        return Err(DatasetError::OneClass {
            class: taxonomy.class_name(only as ClassId).into(),
            images: counts[only],
            taxonomy: taxonomy.name.clone(),
        });
    }
    if classes == ClassCoverage::Several {
        return Ok(());
    }
    let empty: Vec<String> = (0..counts.len())
        .filter(|&c| counts[c] == 0)
        .map(|c| {
            let name = taxonomy.class_name(c as ClassId);
            match listed_per_class.get(c).copied().unwrap_or(0) {
                0 => name.to_owned(),
                unreadable => format!("{name} ({unreadable} files, none readable)"),
            }
        })
        .collect();
    if !empty.is_empty() {
        return Err(DatasetError::EmptyClass {
            classes: empty.join(", "),
            taxonomy: taxonomy.name.clone(),
        });
    }
    Ok(())
}

/// `path` relative to `root` with `/` between components, whatever the platform.
fn relative(root: &Path, path: &Path) -> String {
    let inner = path.strip_prefix(root).unwrap_or(path);
    inner
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether the file name has one of [`IMAGE_EXTENSIONS`].
fn has_image_extension(path: &Path) -> bool {
    path.extension().is_some_and(|ext| {
        IMAGE_EXTENSIONS
            .iter()
            .any(|known| ext.eq_ignore_ascii_case(known))
    })
}

/// Dot files and folders (`.DS_Store`, `.ipynb_checkpoints`) are the tools', not the data's.
fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with('.'))
}

/// A label the taxonomy refused, placed for the user.
fn unknown_label(place: String, error: TaxonomyError) -> DatasetError {
    match error {
        TaxonomyError::UnknownLabel {
            label,
            taxonomy,
            expected,
        } => DatasetError::UnknownLabel {
            place,
            label,
            taxonomy,
            expected,
        },
        // `resolve` only fails with `UnknownLabel`; anything else still names the place.
        other => DatasetError::UnknownLabel {
            place,
            label: other.to_string(),
            taxonomy: String::new(),
            expected: String::new(),
        },
    }
}

/// Every image file under `root` (any depth, hidden entries left out), in name order, and
/// what was skipped: cells without labels, such as a healthy donor's cells cut by
/// `leukoscope-edge crops`, for a model's calls on them. The `crops.csv` such a folder
/// holds at its top is its index, not a skipped file.
pub fn unlabelled_images(root: &Path) -> Result<(Vec<PathBuf>, Vec<Skipped>), DatasetError> {
    read_dir_sorted(root)?;
    let mut listing = Listing::default();
    folders::list_class_folder(root, root, 0, |_| None, &mut listing);
    let index = root.join(crops::INDEX);
    listing.skipped.retain(|skipped| skipped.path != index);
    let images = listing.candidates.into_iter().map(|c| c.path).collect();
    Ok((images, listing.skipped))
}

/// The entries of a folder, sorted by name.
fn read_dir_sorted(dir: &Path) -> Result<Vec<std::fs::DirEntry>, DatasetError> {
    let unreadable = |source| DatasetError::Unreadable {
        path: dir.to_owned(),
        source,
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unreadable)?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    Ok(entries)
}
