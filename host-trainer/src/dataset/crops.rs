//! Crop folders: what `leukoscope-edge crops` writes, class folders of white-cell crops with
//! a `crops.csv` naming the frame each crop was cut from, grouped by frame rather than by
//! the crops' own hashes.
//!
//! Centred single cells look alike to a 9x8 difference hash, so near-duplicate grouping on
//! crops chains thousands of them into one group, while the crops of one field, which
//! differ, can land in different groups and so on both sides of a split. Here instead:
//!
//! - every crop cut from one frame shares a group;
//! - the frames are hashed as whole fields, at the near-duplicate distance tuned on whole
//!   fields, and the crops of near-duplicate frames share a group;
//! - crops with identical bytes share a group (exact, so it cannot chain);
//! - the crops' own difference hashes are never compared.
//!
//! A frame that is not there (the crops were copied without their frames) or does not
//! decode is grouped by its path only: its crops still share a group, but a near-duplicate
//! of it is not found; the dataset summary says how many frames that was.
//!
//! An image in a class folder that `crops.csv` does not list is an error
//! ([`DatasetError::CropNotListed`]): its frame is unknown, so it could share a field with
//! crops on the other side of a split. A row whose crop is not in the folder (deleted by
//! hand, say) is only counted in the summary: the crops left are still grouped truly. A
//! malformed row is [`DatasetError::CropIndex`], naming its line and crop.
//!
//! The index also says the window the crops were cut at (`um_per_px` times `window_px`, in
//! micrometres): a model trained on them must have the edge cut the same window, so the
//! trainer takes the model's scale from it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use rayon::prelude::*;

use super::hashing::{self, DisjointSets};
use super::{Candidate, DatasetError, csv, scan};

/// The index `leukoscope-edge crops` writes beside its class folders.
pub const INDEX: &str = "crops.csv";

/// A crop folder's index: the frame of every crop.
#[derive(Clone, Debug)]
pub(super) struct Index {
    /// The `crops.csv` file.
    path: PathBuf,
    /// The frame of every listed crop (an index into `frames`), by the crop's path relative
    /// to the folder, `/`-separated.
    frame_of: HashMap<String, u32>,
    /// Every frame named, in order of first mention, as written.
    frames: Vec<PathBuf>,
    /// Rows whose crop is not among the folder's images.
    rows_without_crop: usize,
    /// The first of them.
    first_without_crop: Option<String>,
    /// The narrowest and widest window the rows were cut at, in micrometres; `None` when
    /// the index has no `um_per_px` and `window_px` columns.
    window_um: Option<(f32, f32)>,
}

/// How the crops of one crop folder were grouped, for the dataset summary.
#[derive(Clone, Debug, PartialEq)]
pub struct CropGroups {
    /// The source (an index into [`super::Dataset::sources`]).
    pub source: u32,
    /// The `crops.csv` file.
    pub index: PathBuf,
    /// Crops read (listed and decoded).
    pub crops: usize,
    /// Frames they were cut from.
    pub frames: usize,
    /// Frames that could not be read, grouped by their path only.
    pub frames_unread: usize,
    /// The first of them, and why.
    pub first_unread: Option<(PathBuf, String)>,
    /// Groups of frames: near-duplicate frames joined, unread frames one each.
    pub frame_groups: u32,
    /// The near-duplicate distance the frames were compared at.
    pub distance: u32,
    /// Rows of `crops.csv` whose crop is not among the folder's images.
    pub rows_without_crop: usize,
    /// The first of them.
    pub first_without_crop: Option<String>,
    /// The narrowest and widest window the crops were cut at, in micrometres, when the index
    /// says.
    pub window_um: Option<(f32, f32)>,
}

impl CropGroups {
    /// Indented lines for the dataset summary: how the crops were grouped, and what could
    /// not be done as designed.
    pub fn describe(&self, source: &str) -> String {
        let mut out = format!(
            "  crops of {source} grouped by frame ({}): {} crops cut from {} frames; frames whose hashes differ in at most {} bits joined, {} groups of frames; the crops' own hashes not compared\n",
            self.index.display(),
            self.crops,
            self.frames,
            self.distance,
            self.frame_groups,
        );
        if let Some((path, why)) = &self.first_unread {
            let _ = writeln!(
                out,
                "  {} of {} frames could not be read (first: {}: {why}): their crops are grouped by frame path only, and near-duplicates of those frames are not found",
                self.frames_unread,
                self.frames,
                path.display(),
            );
        }
        if let Some(crop) = &self.first_without_crop {
            let _ = writeln!(
                out,
                "  {} rows of {} name a crop that is not in the folder (first: {crop}); left out",
                self.rows_without_crop,
                self.index.display(),
            );
        }
        out
    }
}

impl Index {
    /// The index of the crop folder `root`, if `root` holds a [`INDEX`]. A row that is not
    /// a crop inside the folder and its frame is an error naming its line.
    pub(super) fn read(root: &Path) -> Result<Option<Index>, DatasetError> {
        let path = root.join(INDEX);
        if !path.is_file() {
            return Ok(None);
        }
        let mut reader = csv::open(&path, None)?;
        let malformed = |line: Option<u64>, reason: String| DatasetError::CropIndex {
            path: path.clone(),
            line,
            reason,
        };
        let mut index = Index {
            path: path.clone(),
            frame_of: HashMap::new(),
            frames: Vec::new(),
            rows_without_crop: 0,
            first_without_crop: None,
            window_um: None,
        };
        let mut columns: Option<(usize, usize, usize)> = None;
        let mut window_columns: Option<(usize, usize)> = None;
        let mut frame_id: HashMap<String, u32> = HashMap::new();
        let mut first_line: HashMap<String, u64> = HashMap::new();
        for record in reader.records() {
            let record = record.map_err(|e| {
                malformed(e.position().map(::csv::Position::line), csv::describe(&e))
            })?;
            let line = record.position().map_or(0, ::csv::Position::line);
            if record.iter().all(str::is_empty) {
                continue;
            }
            let Some((crop_at, frame_at, fields)) = columns else {
                let at = |name: &str| record.iter().position(|h| h.eq_ignore_ascii_case(name));
                window_columns = at("um_per_px").zip(at("window_px"));
                match (at("crop"), at("frame")) {
                    (Some(crop), Some(frame)) => columns = Some((crop, frame, record.len())),
                    _ => {
                        return Err(malformed(
                            Some(line),
                            "the header has no crop or no frame column".into(),
                        ));
                    }
                }
                continue;
            };
            if record.len() != fields {
                return Err(malformed(
                    Some(line),
                    format!("found {} fields, the header has {fields}", record.len()),
                ));
            }
            let crop = record.get(crop_at).unwrap_or_default().replace('\\', "/");
            let frame = record.get(frame_at).unwrap_or_default();
            if crop.is_empty() {
                return Err(malformed(Some(line), "the crop is empty".into()));
            }
            let inside = Path::new(&crop)
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
            if !inside {
                return Err(malformed(
                    Some(line),
                    format!("crop {crop} is not a path inside the folder"),
                ));
            }
            let crop = crop.trim_start_matches("./").to_owned();
            if frame.is_empty() {
                return Err(malformed(
                    Some(line),
                    format!("crop {crop}: the frame is empty"),
                ));
            }
            if let Some(first) = first_line.insert(crop.clone(), line) {
                return Err(malformed(
                    Some(line),
                    format!("crop {crop} is listed again (first on line {first})"),
                ));
            }
            if let Some((scale_at, window_at)) = window_columns {
                let number = |at: usize| {
                    let field = record.get(at).unwrap_or_default();
                    field
                        .parse::<f32>()
                        .ok()
                        .filter(|v| v.is_finite() && *v > 0.0)
                        .ok_or_else(|| {
                            malformed(
                                Some(line),
                                format!("crop {crop}: {field:?} is not a positive number"),
                            )
                        })
                };
                let window = number(scale_at)? * number(window_at)?;
                let (low, high) = index.window_um.get_or_insert((window, window));
                *low = low.min(window);
                *high = high.max(window);
            }
            let next = index.frames.len() as u32;
            let id = *frame_id.entry(frame.to_owned()).or_insert_with(|| {
                index.frames.push(PathBuf::from(frame));
                next
            });
            index.frame_of.insert(crop, id);
        }
        if columns.is_none() {
            return Err(malformed(
                None,
                "the file is empty, without a header".into(),
            ));
        }
        Ok(Some(index))
    }

    /// Checks the folder's images against the index: an image it does not list is an
    /// error; rows whose crop is not among `candidates` are counted for the summary.
    pub(super) fn check(&mut self, candidates: &[Candidate]) -> Result<(), DatasetError> {
        let unlisted: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| !self.frame_of.contains_key(&c.relative))
            .collect();
        if let Some(first) = unlisted.first() {
            return Err(DatasetError::CropNotListed {
                index: self.path.clone(),
                images: unlisted.len(),
                first: first.path.clone(),
            });
        }
        if candidates.len() < self.frame_of.len() {
            let listed: std::collections::HashSet<&str> =
                candidates.iter().map(|c| c.relative.as_str()).collect();
            let mut missing: Vec<&String> = self
                .frame_of
                .keys()
                .filter(|crop| !listed.contains(crop.as_str()))
                .collect();
            missing.sort();
            self.rows_without_crop = missing.len();
            self.first_without_crop = missing.first().map(|crop| (*crop).clone());
        }
        Ok(())
    }
}

/// The group of every kept crop and the number of groups, and how they were formed:
/// crops of one frame, of near-duplicate frames (hashes at most `distance` bits apart) or
/// with identical bytes share a group. `source` is recorded in the returned description.
pub(super) fn group(
    index: &Index,
    kept: &[(Candidate, scan::Facts)],
    distance: u32,
    source: u32,
) -> (Vec<u32>, u32, CropGroups) {
    // The frames the kept crops were cut from, hashed in parallel.
    let frame_of: Vec<Option<u32>> = kept
        .iter()
        .map(|(candidate, _)| index.frame_of.get(&candidate.relative).copied())
        .collect();
    let mut used: Vec<u32> = frame_of.iter().flatten().copied().collect();
    used.sort_unstable();
    used.dedup();
    let facts: Vec<Result<scan::Facts, String>> = used
        .par_iter()
        .map(|&frame| scan::examine(&index.frames[frame as usize]))
        .collect();

    // Frames that were read, grouped as whole fields; the others one group each.
    let read: Vec<(u32, scan::Facts)> = used
        .iter()
        .zip(&facts)
        .filter_map(|(&frame, fact)| fact.as_ref().ok().map(|fact| (frame, *fact)))
        .collect();
    let hashed: Vec<hashing::Hashed<'_>> = read
        .iter()
        .map(|(_, fact)| hashing::Hashed {
            sha256: &fact.sha256,
            dhash: fact.dhash,
            subject: None,
        })
        .collect();
    let (ids, mut frame_groups) = hashing::group(&hashed, distance);
    let mut group_of_frame: HashMap<u32, u32> =
        read.iter().map(|(frame, _)| *frame).zip(ids).collect();
    let mut unread = used.iter().zip(&facts).filter_map(|(&frame, fact)| {
        fact.as_ref()
            .err()
            .map(|why| (index.frames[frame as usize].clone(), why.clone(), frame))
    });
    let first_unread = unread.next();
    let mut frames_unread = 0;
    for (_, _, frame) in first_unread.iter().cloned().chain(unread) {
        group_of_frame.insert(frame, frame_groups);
        frame_groups += 1;
        frames_unread += 1;
    }

    // Crops joined by their frame's group and by identical bytes, never by their hashes.
    let mut sets = DisjointSets::new(kept.len());
    let mut first_of_frame_group: HashMap<u32, usize> = HashMap::new();
    let mut first_of_content: HashMap<&[u8; 32], usize> = HashMap::new();
    for (i, ((_, fact), frame)) in kept.iter().zip(&frame_of).enumerate() {
        if let Some(group) = frame.and_then(|f| group_of_frame.get(&f)) {
            let first = *first_of_frame_group.entry(*group).or_insert(i);
            sets.union(first, i);
        }
        let first = *first_of_content.entry(&fact.sha256).or_insert(i);
        sets.union(first, i);
    }
    let (ids, groups) = sets.ids();
    let description = CropGroups {
        source,
        index: index.path.clone(),
        crops: kept.len(),
        frames: used.len(),
        frames_unread,
        first_unread: first_unread.map(|(path, why, _)| (path, why)),
        frame_groups,
        distance,
        rows_without_crop: index.rows_without_crop,
        first_without_crop: index.first_without_crop.clone(),
        window_um: index.window_um,
    };
    (ids, groups, description)
}

#[cfg(test)]
mod tests;
