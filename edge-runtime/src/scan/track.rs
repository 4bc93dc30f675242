//! Counting each white cell once while the stage moves: consecutive frames are
//! registered, cells are kept in slide coordinates, and a detection near a known cell is
//! the same cell seen again.
//!
//! **Registration** is phase correlation of grey copies of consecutive frames shrunk by
//! whole-block averaging to about [`TrackerConfig::register_width`] pixels across (groups of
//! the frame's shared blocks, [`FrameBlocks`]): the
//! normalized cross-power spectrum of two frames is a pure phase ramp whose inverse FFT
//! peaks at the stage's motion. A Tukey window (flat, with tapered edges) keeps the frame's
//! edges from making a peak at zero motion while leaving the narrow overlap of a scan,
//! which lies along the edges, almost untouched. The FFT only knows the motion modulo the
//! frame size, so the highest peak is tried in its four wrapped readings and the reading
//! whose overlap correlates best (zero-mean normalized correlation of the pixels both
//! frames see) wins, the next peaks being tried only when none of those correlates well
//! enough; the share of the peak's height that spills into its higher neighbour gives the
//! fraction of a block (about a fifth of a pixel per frame on the synthetic scans at the
//! default width, so about half a pixel over a row of a scan). When no reading correlates at least
//! [`TrackerConfig::min_correlation`] over at least [`TrackerConfig::min_overlap`] of the
//! frame (no overlap, an empty or blurred frame), the frame cannot be placed: the tracker
//! starts a new map (a *segment*), and cells seen in both maps are counted twice. The
//! quality gate should keep unusable frames away from the tracker for that reason; and a
//! frame that fails becomes the reference for the next, so after a skipped frame the next
//! one must still overlap the last one the tracker saw.
//!
//! **Tracking.** Positions in slide coordinates are the sum of the motions since the
//! segment began, so registration errors add up along a scan; matching only needs them to
//! stay well under [`TrackerConfig::match_radius_um`] between two sightings of a cell
//! (consecutive frames, or neighbouring rows of a serpentine scan). A detection counts
//! only when its nucleus lies at least [`TrackerConfig::border_margin_um`] inside the
//! frame, so the cell is whole; it is matched one to one, nearest first, to the known
//! cells of the segment within the match radius, and unmatched ones are new cells.
//!
//! **Frames of another size.** A frame of another size than the one before (a thumbnail
//! in a folder, a camera that changes its mode) is read as the same field at another
//! resolution (the ratio of the sizes, when their shapes agree) and as another window at
//! the same magnification: it is resampled onto the previous frame's registration grid
//! at each of those scales and registered there, over the part of the grid it fills. When
//! it correlates, it joins the map at that scale (positions and the border margin follow
//! it), the frame before is kept as the map's reference for its size, and the frames
//! after register at either size. When it does not, the scan's map and reference are set
//! aside, not ended, and the next frame of the scan's size goes on from them. Up to
//! four maps wait so, one per size in use; past that, the one with the fewest
//! cells ends, so a run of specks and slivers does not end the scan.
//!
//! **Photographs.** A frame that starts a segment (the first, or one that could not be
//! placed: a folder of separate photographs, a jump of the stage) will not be followed by
//! a frame showing its edge cells more whole, so there a cell counts as soon as its
//! nucleus does not touch the frame's edge; a next frame that does overlap it then finds
//! those cells known.
//!
//! **Cells cut by the edge.** A sighting that does not count (its nucleus touches the
//! frame's edge, or in a scan lies within the border margin) waits: a later frame of the
//! segment may show the cell whole, and then it counts there. A cell still waiting when
//! its segment ends (the next frame could not be placed, or the slide ends,
//! [`CellTracker::end_slide`]) was never seen whole, and is given back once as a
//! [`PartialCell`] ([`CellTracker::take_partial`]) from its most complete sighting: it
//! is recorded, but not classified.
//!
//! **The stage as prior.** A motorized scan's frames say where the stage stood
//! ([`stage_prior`]): once the moves phase correlation measured have shown how the camera
//! sits on the stage, a frame it cannot place is placed by the stage's move instead of
//! starting a new segment (reported with correlation 0), and a placement the stage
//! contradicts is overruled.

mod register;
mod stage_prior;

use std::collections::HashMap;

use leukoscope_core::raster::RgbImage;
use serde::{Deserialize, Serialize};

use super::blocks::FrameBlocks;
use super::detect::DetectedCell;
use register::Registrar;
use stage_prior::StagePrior;

/// How [`CellTracker`] registers frames and matches cells, as `[track]` in a board's
/// `board.toml` sets it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackerConfig {
    /// Micrometres per pixel of the frames (default 0.42).
    pub um_per_px: f32,
    /// Width, in pixels, frames are shrunk to for registration (default 320; 1920-pixel
    /// frames are shrunk by 6, two of the detector's 3-pixel blocks). Smaller is faster
    /// and less precise; the width is met as nearly as whole groups of the detector's
    /// blocks allow.
    pub register_width: u32,
    /// Least zero-mean normalized correlation, -1 to 1, of the overlap of two frames for
    /// the motion between them to be trusted (default 0.5; consecutive frames of one scan
    /// score above 0.9).
    pub min_correlation: f32,
    /// Least share of a frame, 0 to 1, that the next one must overlap to be registered to
    /// it (default 0.03).
    pub min_overlap: f32,
    /// Largest distance, in micrometres, between two sightings of one cell (default 5:
    /// less than the distance between the nuclei of two touching cells).
    pub match_radius_um: f32,
    /// Least distance, in micrometres, from a nucleus to the frame's edge for the sighting
    /// to count (default 4, about the cytoplasm's width), so a counted cell is whole.
    pub border_margin_um: f32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            um_per_px: 0.42,
            register_width: 320,
            min_correlation: 0.5,
            min_overlap: 0.03,
            match_radius_um: 5.0,
            border_margin_um: 4.0,
        }
    }
}

/// Why a [`TrackerConfig`] was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TrackError {
    /// A setting outside its range.
    #[error("track setting `{key}` is {value}, but it must be {expected}")]
    BadSetting {
        /// The config key.
        key: &'static str,
        /// The value given.
        value: f32,
        /// What it must be.
        expected: &'static str,
    },
}

/// A cell seen for the first time: classify and count it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewCell {
    /// Number of the cell in this slide, from 0.
    pub id: u32,
    /// The detection, in the current frame's pixels.
    pub cell: DetectedCell,
    /// Centre of the nucleus in the segment's slide coordinates (pixels of the frames of
    /// the size the segment began with; its first frame has its top-left corner at the
    /// origin).
    pub slide_position: (f64, f64),
    /// The map the position belongs to; a new one starts when a frame cannot be
    /// registered to the one before.
    pub segment: u32,
}

/// A cell only ever seen cut by the frame's edge (or, in a scan, within the border margin)
/// over its whole segment: recorded as partial, not classified.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartialCell {
    /// The frame that showed most of its nucleus, numbered by the frames given to the
    /// tracker since the slide began (or since [`CellTracker::reset`]), from 0.
    pub sighting: u64,
    /// Its detection in that frame, in that frame's pixels.
    pub cell: DetectedCell,
    /// The map it was seen in.
    pub segment: u32,
}

/// How a frame was placed relative to the one before.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// The stage's motion since the previous frame, in the pixels of the segment's map
    /// (those of the frames of the size it began with): the frame's top-left corner moved
    /// by this much. Zero when not registered.
    pub motion: (f64, f64),
    /// Normalized correlation of the overlap under that motion (0 when there was no
    /// previous frame).
    pub correlation: f32,
    /// Whether the frame was placed in the current segment; `false` starts a new one.
    pub registered: bool,
}

/// A cell the tracker knows.
#[derive(Clone, Copy, Debug)]
struct Known {
    position: (f64, f64),
    sightings: u32,
}

/// A cell seen so far only cut by the edge: its most complete sighting.
#[derive(Clone, Copy, Debug)]
struct Pending {
    position: (f64, f64),
    sighting: u64,
    cell: DetectedCell,
}

/// Most maps set aside at once.
const MAX_ASIDE: usize = 4;

/// How much farther than the match radius a cut sighting may lie from another sighting
/// of its cell: a cut nucleus' centre is that of its visible part, off the true centre
/// by up to its radius.
const CUT_MATCH_FACTOR: f64 = 1.5;

/// Counts every white cell of a slide once across overlapping frames.
pub struct CellTracker {
    config: TrackerConfig,
    registrar: Registrar,
    /// The frame's blocks when the tracker shrinks frames itself ([`CellTracker::observe`]).
    blocks: FrameBlocks,
    /// Top-left corner of the current frame in the segment's coordinates.
    origin: (f64, f64),
    /// Map pixels per pixel of the current frame: 1 at the size the segment began with,
    /// another where a frame of another size was read as the same field rescaled.
    scale: f64,
    /// The map's last frame of the size before the latest change of size, so that frames
    /// of that size again register to it.
    earlier: Option<Box<Reference>>,
    segment: u32,
    /// Known cells of the current segment, bucketed by a grid of `bucket` pixels.
    cells: Vec<Known>,
    grid: HashMap<(i64, i64), Vec<u32>>,
    bucket: f64,
    counted: u32,
    last: Option<Registration>,
    /// Cells of the current segment seen only cut by the edge so far.
    pending: Vec<Pending>,
    /// Cells never seen whole in a segment that ended, not yet taken.
    partial: Vec<PartialCell>,
    /// Frames observed since the slide began.
    observed: u64,
    /// Segments begun since the slide began, the first one included.
    segments: u32,
    /// The scan a frame of another size interrupted, kept so that the frames after it, at
    /// the scan's size again, go on where it was.
    /// Maps set aside, the longest-running kept when they are too many.
    aside: Vec<Segment>,
    /// Where a motorized stage says each frame lies.
    stage: StagePrior,
}

/// A segment's map and registration reference, set aside while frames of another size
/// pass.
struct Segment {
    registrar: Registrar,
    origin: (f64, f64),
    scale: f64,
    segment: u32,
    cells: Vec<Known>,
    grid: HashMap<(i64, i64), Vec<u32>>,
    pending: Vec<Pending>,
}

/// A frame registrations start from, and where it lies on the map.
struct Reference {
    registrar: Registrar,
    origin: (f64, f64),
    /// Map pixels per pixel of the frame.
    scale: f64,
}

/// The scales, in pixels of a frame of size `before` per pixel of one of size `after`, at
/// which the second may show the first's field: the same field at another resolution
/// (the sizes' ratio, when their shapes agree) and another window at the same
/// magnification (1).
fn rescalings(before: (u32, u32), after: (u32, u32)) -> Vec<f64> {
    let mut scales = vec![1.0];
    if after.0 == 0 || after.1 == 0 {
        return scales;
    }
    let across = f64::from(before.0) / f64::from(after.0);
    let down = f64::from(before.1) / f64::from(after.1);
    // Within two pixels of the smaller frame's height: a rescaling rounds each side.
    let same_shape = (across - down).abs() * f64::from(after.1) <= 2.0 * across.max(down);
    if same_shape && (across - 1.0).abs() > 0.01 {
        scales.insert(0, 0.5 * (across + down));
    }
    scales
}

impl CellTracker {
    /// A tracker for a new slide; errors name the first setting out of range.
    pub fn new(config: TrackerConfig) -> Result<Self, TrackError> {
        let c = &config;
        let bad = |key, value, expected| TrackError::BadSetting {
            key,
            value,
            expected,
        };
        if !(c.um_per_px.is_finite() && c.um_per_px > 0.0) {
            return Err(bad("um_per_px", c.um_per_px, "positive"));
        }
        if !(16..=4096).contains(&c.register_width) {
            return Err(bad(
                "register_width",
                c.register_width as f32,
                "between 16 and 4096",
            ));
        }
        if !(-1.0..=1.0).contains(&c.min_correlation) {
            return Err(bad(
                "min_correlation",
                c.min_correlation,
                "between -1 and 1",
            ));
        }
        if !(0.0..=1.0).contains(&c.min_overlap) {
            return Err(bad("min_overlap", c.min_overlap, "between 0 and 1"));
        }
        // A cell is 6 to 30 um across: a radius or a margin beyond 50 um is a wrong unit,
        // and would merge or drop every cell of a frame without a word.
        if !(c.match_radius_um.is_finite() && c.match_radius_um > 0.0 && c.match_radius_um <= 50.0)
        {
            return Err(bad(
                "match_radius_um",
                c.match_radius_um,
                "more than 0 and at most 50 micrometres",
            ));
        }
        if !(0.0..=50.0).contains(&c.border_margin_um) {
            return Err(bad(
                "border_margin_um",
                c.border_margin_um,
                "between 0 and 50 micrometres",
            ));
        }
        let radius = f64::from(c.match_radius_um / c.um_per_px);
        Ok(CellTracker {
            registrar: Registrar::new(c.register_width),
            blocks: FrameBlocks::new(1, 100.0),
            origin: (0.0, 0.0),
            scale: 1.0,
            earlier: None,
            segment: 0,
            cells: Vec::new(),
            grid: HashMap::new(),
            bucket: (2.0 * radius).max(1.0),
            counted: 0,
            last: None,
            pending: Vec::new(),
            partial: Vec::new(),
            observed: 0,
            segments: 1,
            aside: Vec::new(),
            stage: StagePrior::new(config.um_per_px),
            config,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Cells counted so far on this slide.
    pub fn counted(&self) -> u32 {
        self.counted
    }

    /// The current segment (map), from 0.
    pub fn segment(&self) -> u32 {
        self.segment
    }

    /// Top-left corner of the last frame in its segment's coordinates.
    pub fn frame_origin(&self) -> (f64, f64) {
        self.origin
    }

    /// How the last frame was placed; `None` before the first.
    pub fn last_registration(&self) -> Option<Registration> {
        self.last
    }

    /// Forgets the slide: the next frame starts segment 0 and cell ids start again at 0.
    pub fn reset(&mut self) {
        self.registrar = Registrar::new(self.config.register_width);
        self.origin = (0.0, 0.0);
        self.scale = 1.0;
        self.earlier = None;
        self.segment = 0;
        self.cells.clear();
        self.grid.clear();
        self.counted = 0;
        self.last = None;
        self.pending.clear();
        self.partial.clear();
        self.observed = 0;
        self.segments = 1;
        self.aside.clear();
        self.stage.forget_position();
    }

    /// Ends the slide's last segment: the cells it saw only cut by the edge become partial
    /// cells ([`CellTracker::take_partial`]).
    pub fn end_slide(&mut self) {
        for aside in std::mem::take(&mut self.aside) {
            self.end_segment(aside.segment, aside.pending);
        }
        let pending = std::mem::take(&mut self.pending);
        self.end_segment(self.segment, pending);
    }

    /// Gives back the cells of segment `segment` still waiting to be seen whole as partial.
    fn end_segment(&mut self, segment: u32, pending: Vec<Pending>) {
        self.partial
            .extend(pending.into_iter().map(|p| PartialCell {
                sighting: p.sighting,
                cell: p.cell,
                segment,
            }));
    }

    /// Sets the current map aside and takes up the last one set aside for frames of
    /// `size`, or a new one; when too many are set aside, the one with the fewest cells
    /// ends (a thumbnail's or a speck's, rather than the scan's).
    fn set_aside_for(&mut self, size: (u32, u32)) {
        let next = match self
            .aside
            .iter()
            .rposition(|a| a.registrar.frame_size() == size)
        {
            Some(i) => self.aside.remove(i),
            None => Segment {
                registrar: Registrar::new(self.config.register_width),
                origin: (0.0, 0.0),
                scale: 1.0,
                segment: self.segment,
                cells: Vec::new(),
                grid: HashMap::new(),
                pending: Vec::new(),
            },
        };
        let current = Segment {
            registrar: std::mem::replace(&mut self.registrar, next.registrar),
            origin: std::mem::replace(&mut self.origin, next.origin),
            scale: std::mem::replace(&mut self.scale, next.scale),
            segment: std::mem::replace(&mut self.segment, next.segment),
            cells: std::mem::replace(&mut self.cells, next.cells),
            grid: std::mem::replace(&mut self.grid, next.grid),
            pending: std::mem::replace(&mut self.pending, next.pending),
        };
        // The frame of another size belonged to the map now set aside.
        self.earlier = None;
        self.aside.push(current);
        if self.aside.len() > MAX_ASIDE {
            let smallest = (0..self.aside.len())
                .min_by_key(|&i| self.aside[i].cells.len())
                .unwrap_or(0);
            let ended = self.aside.remove(smallest);
            self.end_segment(ended.segment, ended.pending);
        }
    }

    /// Places the frame in `blocks` on the current map, moving [`CellTracker::origin`] and
    /// [`CellTracker::scale`] to it; `None` when it cannot be placed. A frame of another
    /// size than the one before is tried, in turn, against the map's last frame of its own
    /// size ([`CellTracker::earlier`]), against the frame before read at another scale,
    /// and against the last map set aside at its size; when none places it, the map is set
    /// aside and the caller starts a new one.
    fn place(&mut self, blocks: &FrameBlocks) -> Option<Registration> {
        let (c, o) = (self.config.min_correlation, self.config.min_overlap);
        let size = blocks.frame_size();
        let before = self.registrar.frame_size();
        if self.last.is_none() || size == before {
            let r = self.registrar.register(blocks, c, o)?;
            return Some(self.move_to(self.origin, self.scale, r.motion, r.correlation));
        }
        if let Some(mut earlier) = self.earlier.take()
            && earlier.registrar.frame_size() == size
            && let Some(r) = earlier.registrar.register(blocks, c, o)
        {
            std::mem::swap(&mut self.registrar, &mut earlier.registrar);
            let (origin, scale) = (earlier.origin, earlier.scale);
            (earlier.origin, earlier.scale) = (self.origin, self.scale);
            self.earlier = Some(earlier);
            return Some(self.move_to(origin, scale, r.motion, r.correlation));
        }
        let scales = rescalings(before, size);
        if let Some((r, rescale)) = self.registrar.register_rescaled(blocks, &scales, c, o) {
            let mut registrar = Registrar::new(self.config.register_width);
            let _ = registrar.register(blocks, c, o);
            let earlier = Reference {
                registrar: std::mem::replace(&mut self.registrar, registrar),
                origin: self.origin,
                scale: self.scale,
            };
            self.earlier = Some(Box::new(earlier));
            let placed = self.move_to(self.origin, self.scale, r.motion, r.correlation);
            self.scale *= rescale;
            return Some(placed);
        }
        self.set_aside_for(size);
        let r = self.registrar.register(blocks, c, o)?;
        Some(self.move_to(self.origin, self.scale, r.motion, r.correlation))
    }

    /// Puts the frame at `motion` (pixels of the frame it was registered to, which lies at
    /// `origin` on the map, `scale` map pixels to its pixel) and says how far it moved on
    /// the map.
    fn move_to(
        &mut self,
        origin: (f64, f64),
        scale: f64,
        motion: (f64, f64),
        correlation: f32,
    ) -> Registration {
        let to = (origin.0 + motion.0 * scale, origin.1 + motion.1 * scale);
        let moved = (to.0 - self.origin.0, to.1 - self.origin.1);
        self.origin = to;
        self.scale = scale;
        Registration {
            motion: moved,
            correlation,
            registered: true,
        }
    }

    /// The cells found partial since the last call: never seen whole in a segment that
    /// has ended, each given back once, in the order they were first seen.
    pub fn take_partial(&mut self) -> Vec<PartialCell> {
        std::mem::take(&mut self.partial)
    }

    /// Places `frame` on the slide and returns the cells of `detections` (found in this
    /// frame) seen for the first time, whole (the frame shrunk here; see
    /// [`CellTracker::observe_in`]).
    pub fn observe(&mut self, frame: &RgbImage, detections: &[DetectedCell]) -> Vec<NewCell> {
        self.observe_at(frame, detections, None)
    }

    /// [`CellTracker::observe`] of a frame a motorized stage took at `stage`, µm from home.
    pub fn observe_at(
        &mut self,
        frame: &RgbImage,
        detections: &[DetectedCell],
        stage: Option<[f64; 2]>,
    ) -> Vec<NewCell> {
        let factor = self.registrar.factor_for(frame.width());
        if self.blocks.factor() != factor {
            self.blocks = FrameBlocks::new(factor, 100.0);
        }
        let mut blocks = std::mem::replace(&mut self.blocks, FrameBlocks::new(1, 100.0));
        blocks.shrink(frame);
        let new = self.observe_in(&blocks, detections, stage);
        self.blocks = blocks;
        new
    }

    /// Places the frame shrunk into `blocks` on the slide and returns the cells of
    /// `detections` (found in it) seen for the first time, whole. The frame is registered
    /// on groups of blocks as near to [`TrackerConfig::register_width`] across as whole
    /// groups allow.
    /// `stage` is where a motorized stage stood for it, µm from home, if the source says.
    pub fn observe_in(
        &mut self,
        blocks: &FrameBlocks,
        detections: &[DetectedCell],
        stage: Option<[f64; 2]>,
    ) -> Vec<NewCell> {
        let first = self.last.is_none();
        let moved = self.stage.frame_at(stage);
        // The prior is used between frames of one size: a rescaled frame has its own map.
        let same_size = !first && blocks.frame_size() == self.registrar.frame_size();
        let prior = moved
            .filter(|_| same_size)
            .and_then(|m| self.stage.predict(m));
        let (origin, scale) = (self.origin, self.scale);
        let registration = match (self.place(blocks), prior) {
            (Some(r), Some(p))
                if !stage_prior::agree((r.motion.0 / scale, r.motion.1 / scale), p) =>
            {
                (self.origin, self.scale) = (origin, scale);
                self.move_to(origin, scale, p, r.correlation)
            }
            (Some(r), _) => {
                if let (Some(m), true) = (moved, same_size) {
                    self.stage
                        .learn(m, (r.motion.0 / scale, r.motion.1 / scale));
                }
                r
            }
            (None, Some(p)) => self.move_to(origin, scale, p, 0.0),
            (None, None) => Registration {
                motion: (0.0, 0.0),
                correlation: 0.0,
                registered: first,
            },
        };
        if !registration.registered {
            let pending = std::mem::take(&mut self.pending);
            self.end_segment(self.segment, pending);
            self.origin = (0.0, 0.0);
            self.scale = 1.0;
            self.earlier = None;
            self.segment = self.segments;
            self.segments += 1;
            self.cells.clear();
            self.grid.clear();
        }
        self.last = Some(registration);
        let lone = first || !registration.registered;
        let fresh = self.match_cells(blocks.frame_size(), detections, lone);
        self.observed += 1;
        fresh
    }

    /// Matches the whole cells among `detections` to known cells, nearest first, and
    /// records and returns the rest as new. In a `lone` frame (the first, or one that could
    /// not be placed after the one before: a separate photograph, or a jump) a cell whose
    /// nucleus is whole counts even near the edge, since no overlapping frame will show it
    /// more whole; in a frame of a scan it must lie the border margin inside.
    fn match_cells(
        &mut self,
        frame_size: (u32, u32),
        detections: &[DetectedCell],
        lone: bool,
    ) -> Vec<NewCell> {
        let margin = if lone {
            0.0
        } else {
            self.config.border_margin_um / self.config.um_per_px / self.scale as f32
        };
        let (w, h) = (frame_size.0 as f32, frame_size.1 as f32);
        let whole = |d: &DetectedCell| {
            let [x, y, bw, bh] = d.bbox;
            !d.touches_border
                && x as f32 >= margin
                && y as f32 >= margin
                && (x + bw) as f32 + margin <= w
                && (y + bh) as f32 + margin <= h
        };
        let radius = f64::from(self.config.match_radius_um / self.config.um_per_px);
        let mut pairs: Vec<(f64, usize, u32)> = Vec::new();
        let candidates: Vec<usize> = (0..detections.len())
            .filter(|&i| whole(&detections[i]))
            .collect();
        for &i in &candidates {
            let p = self.to_slide(&detections[i]);
            let (bx, by) = self.bucket_of(p);
            for gy in by - 1..=by + 1 {
                for gx in bx - 1..=bx + 1 {
                    for &k in self.grid.get(&(gx, gy)).into_iter().flatten() {
                        let q = self.cells[k as usize].position;
                        let dist = ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt();
                        if dist <= radius {
                            pairs.push((dist, i, k));
                        }
                    }
                }
            }
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut detection_used = vec![false; detections.len()];
        let mut known_used: Vec<u32> = Vec::new();
        for (_, i, k) in pairs {
            if detection_used[i] || known_used.contains(&k) {
                continue;
            }
            detection_used[i] = true;
            known_used.push(k);
            // A running mean: registration errors of the sightings average out.
            let p = self.to_slide(&detections[i]);
            let known = &mut self.cells[k as usize];
            let n = f64::from(known.sightings);
            known.position = (
                (known.position.0 * n + p.0) / (n + 1.0),
                (known.position.1 * n + p.1) / (n + 1.0),
            );
            known.sightings += 1;
        }
        let mut fresh = Vec::new();
        for i in candidates {
            if detection_used[i] {
                continue;
            }
            let p = self.to_slide(&detections[i]);
            let k = self.cells.len() as u32;
            self.cells.push(Known {
                position: p,
                sightings: 1,
            });
            let b = self.bucket_of(p);
            self.grid.entry(b).or_default().push(k);
            fresh.push(NewCell {
                id: self.counted,
                cell: detections[i],
                slide_position: p,
                segment: self.segment,
            });
            self.counted += 1;
        }
        self.wait_for_whole(detections, &whole);
        fresh
    }

    /// Keeps the sightings among `detections` that did not count (cut by the edge or in
    /// the border margin) until a frame shows their cell whole, and forgets those whose
    /// cell is now known.
    fn wait_for_whole(
        &mut self,
        detections: &[DetectedCell],
        whole: &dyn Fn(&DetectedCell) -> bool,
    ) {
        let reach =
            CUT_MATCH_FACTOR * f64::from(self.config.match_radius_um / self.config.um_per_px);
        for d in detections.iter().filter(|d| !whole(d)) {
            let p = self.to_slide(d);
            if self.known_near(p, reach) {
                continue;
            }
            let sighting = self.observed;
            match self
                .pending
                .iter_mut()
                .find(|w| distance(w.position, p) <= reach)
            {
                Some(waiting) => {
                    if d.area_um2 > waiting.cell.area_um2 {
                        *waiting = Pending {
                            position: p,
                            sighting,
                            cell: *d,
                        };
                    }
                }
                None => self.pending.push(Pending {
                    position: p,
                    sighting,
                    cell: *d,
                }),
            }
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.retain(|w| !self.known_near(w.position, reach));
        self.pending = pending;
    }

    /// Whether a known cell of the segment lies within `reach` pixels of `p`.
    fn known_near(&self, p: (f64, f64), reach: f64) -> bool {
        let (bx, by) = self.bucket_of(p);
        let cells = (by - 1..=by + 1)
            .flat_map(|gy| (bx - 1..=bx + 1).map(move |gx| (gx, gy)))
            .filter_map(|b| self.grid.get(&b))
            .flatten();
        cells
            .into_iter()
            .any(|&k| distance(self.cells[k as usize].position, p) <= reach)
    }

    fn to_slide(&self, d: &DetectedCell) -> (f64, f64) {
        (
            self.origin.0 + f64::from(d.centre.0) * self.scale,
            self.origin.1 + f64::from(d.centre.1) * self.scale,
        )
    }

    fn bucket_of(&self, p: (f64, f64)) -> (i64, i64) {
        (
            (p.0 / self.bucket).floor() as i64,
            (p.1 / self.bucket).floor() as i64,
        )
    }
}

fn distance(a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.0 - b.0).hypot(a.1 - b.1)
}

impl std::fmt::Debug for CellTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CellTracker")
            .field("config", &self.config)
            .field("origin", &self.origin)
            .field("segment", &self.segment)
            .field("known", &self.cells.len())
            .field("counted", &self.counted)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
