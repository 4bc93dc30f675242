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

use std::collections::HashMap;
use std::sync::Arc;

use leukoscope_core::raster::RgbImage;
use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};
use serde::{Deserialize, Serialize};

use super::blocks::FrameBlocks;
use super::detect::DetectedCell;

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
    /// Centre of the nucleus in the segment's slide coordinates (pixels; the segment's
    /// first frame has its top-left corner at the origin).
    pub slide_position: (f64, f64),
    /// The map the position belongs to; a new one starts when a frame cannot be
    /// registered to the one before.
    pub segment: u32,
}

/// How a frame was placed relative to the one before.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// The stage's motion since the previous frame, in pixels: content at `(x, y)` in the
    /// previous frame is at `(x, y) - motion` in this one. Zero when not registered.
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

/// Counts every white cell of a slide once across overlapping frames.
pub struct CellTracker {
    config: TrackerConfig,
    registrar: Registrar,
    /// The frame's blocks when the tracker shrinks frames itself ([`CellTracker::observe`]).
    blocks: FrameBlocks,
    /// Top-left corner of the current frame in the segment's coordinates.
    origin: (f64, f64),
    segment: u32,
    /// Known cells of the current segment, bucketed by a grid of `bucket` pixels.
    cells: Vec<Known>,
    grid: HashMap<(i64, i64), Vec<u32>>,
    bucket: f64,
    counted: u32,
    last: Option<Registration>,
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
        if !(c.match_radius_um.is_finite() && c.match_radius_um > 0.0) {
            return Err(bad("match_radius_um", c.match_radius_um, "positive"));
        }
        if !(c.border_margin_um.is_finite() && c.border_margin_um >= 0.0) {
            return Err(bad("border_margin_um", c.border_margin_um, "at least 0"));
        }
        let radius = f64::from(c.match_radius_um / c.um_per_px);
        Ok(CellTracker {
            registrar: Registrar::new(c.register_width),
            blocks: FrameBlocks::new(1, 100.0),
            origin: (0.0, 0.0),
            segment: 0,
            cells: Vec::new(),
            grid: HashMap::new(),
            bucket: (2.0 * radius).max(1.0),
            counted: 0,
            last: None,
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
        self.segment = 0;
        self.cells.clear();
        self.grid.clear();
        self.counted = 0;
        self.last = None;
    }

    /// Places `frame` on the slide and returns the cells of `detections` (found in this
    /// frame) seen for the first time, whole (the frame shrunk here; see
    /// [`CellTracker::observe_in`]).
    pub fn observe(&mut self, frame: &RgbImage, detections: &[DetectedCell]) -> Vec<NewCell> {
        let factor = self.registrar.factor_for(frame.width());
        if self.blocks.factor() != factor {
            self.blocks = FrameBlocks::new(factor, 100.0);
        }
        let mut blocks = std::mem::replace(&mut self.blocks, FrameBlocks::new(1, 100.0));
        blocks.shrink(frame);
        let new = self.observe_in(&blocks, detections);
        self.blocks = blocks;
        new
    }

    /// Places the frame shrunk into `blocks` on the slide and returns the cells of
    /// `detections` (found in it) seen for the first time, whole. The frame is registered
    /// on groups of blocks as near to [`TrackerConfig::register_width`] across as whole
    /// groups allow.
    pub fn observe_in(
        &mut self,
        blocks: &FrameBlocks,
        detections: &[DetectedCell],
    ) -> Vec<NewCell> {
        let first = self.last.is_none();
        let registration =
            self.registrar
                .register(blocks, self.config.min_correlation, self.config.min_overlap);
        let registration = match registration {
            Some(r) => r,
            None => Registration {
                motion: (0.0, 0.0),
                correlation: 0.0,
                registered: first,
            },
        };
        if registration.registered {
            self.origin.0 += registration.motion.0;
            self.origin.1 += registration.motion.1;
        } else {
            self.origin = (0.0, 0.0);
            self.segment += 1;
            self.cells.clear();
            self.grid.clear();
        }
        self.last = Some(registration);
        self.match_cells(blocks.frame_size(), detections)
    }

    /// Matches the whole cells among `detections` to known cells, nearest first, and
    /// records and returns the rest as new.
    fn match_cells(&mut self, frame_size: (u32, u32), detections: &[DetectedCell]) -> Vec<NewCell> {
        let margin = self.config.border_margin_um / self.config.um_per_px;
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
        fresh
    }

    fn to_slide(&self, d: &DetectedCell) -> (f64, f64) {
        (
            self.origin.0 + f64::from(d.centre.0),
            self.origin.1 + f64::from(d.centre.1),
        )
    }

    fn bucket_of(&self, p: (f64, f64)) -> (i64, i64) {
        (
            (p.0 / self.bucket).floor() as i64,
            (p.1 / self.bucket).floor() as i64,
        )
    }
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

/// Highest peaks of the correlation surface tried.
const PEAKS: usize = 3;
/// Share of each side the Tukey window tapers over.
const TAPER: f32 = 0.1;

/// Phase correlation of each frame with the one before; keeps the previous frame's shrunk
/// grey copy and spectrum, and all working memory.
struct Registrar {
    target_width: u32,
    /// Blocks per side of a registration pixel, its side in frame pixels, and the shrunk
    /// size of the frames seen; a change of frame size starts over.
    group: u32,
    factor: u32,
    size: (usize, usize),
    frame_size: (u32, u32),
    forward_rows: Option<Arc<dyn Fft<f32>>>,
    forward_columns: Option<Arc<dyn Fft<f32>>>,
    inverse_rows: Option<Arc<dyn Fft<f32>>>,
    inverse_columns: Option<Arc<dyn Fft<f32>>>,
    planner: FftPlanner<f32>,
    window_x: Vec<f32>,
    window_y: Vec<f32>,
    /// Shrunk grey frames (zero mean), current and previous.
    grey: Vec<f32>,
    previous_grey: Vec<f32>,
    /// Spectra in column-major order (after the column pass), current and previous.
    spectrum: Vec<Complex32>,
    previous_spectrum: Vec<Complex32>,
    has_previous: bool,
    /// The phase-correlation surface, row-major.
    surface: Vec<Complex32>,
    work: Vec<Complex32>,
    scratch: Vec<Complex32>,
}

impl Registrar {
    fn new(target_width: u32) -> Self {
        Registrar {
            target_width,
            group: 1,
            factor: 1,
            size: (0, 0),
            frame_size: (0, 0),
            forward_rows: None,
            forward_columns: None,
            inverse_rows: None,
            inverse_columns: None,
            planner: FftPlanner::new(),
            window_x: Vec::new(),
            window_y: Vec::new(),
            grey: Vec::new(),
            previous_grey: Vec::new(),
            spectrum: Vec::new(),
            previous_spectrum: Vec::new(),
            has_previous: false,
            surface: Vec::new(),
            work: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The motion from the previous frame to `frame`, or `None` when this is the first
    /// frame, the frame size changed, or no motion correlates well enough. Either way
    /// `frame` becomes the previous frame.
    fn register(
        &mut self,
        blocks: &FrameBlocks,
        min_correlation: f32,
        min_overlap: f32,
    ) -> Option<Registration> {
        let group = blocks.per_side(self.factor_for(blocks.frame_size().0));
        if blocks.frame_size() != self.frame_size || group * blocks.factor() != self.factor {
            self.resize(blocks, group);
        }
        let (w, h) = self.size;
        if w < 8 || h < 8 {
            return None;
        }
        self.shrink(blocks);
        self.transform();
        let result = if self.has_previous {
            self.best_motion(min_correlation, min_overlap)
        } else {
            None
        };
        std::mem::swap(&mut self.grey, &mut self.previous_grey);
        std::mem::swap(&mut self.spectrum, &mut self.previous_spectrum);
        self.has_previous = true;
        result
    }

    /// The side, in frame pixels, of a registration pixel for frames `width` across.
    fn factor_for(&self, width: u32) -> u32 {
        width.div_ceil(self.target_width).max(1)
    }

    /// Plans FFTs and windows for frames like the one in `blocks`, registered on `group` x
    /// `group` groups of its blocks.
    fn resize(&mut self, blocks: &FrameBlocks, group: u32) {
        self.frame_size = blocks.frame_size();
        self.group = group;
        self.factor = group * blocks.factor();
        let (mw, mh) = blocks.size();
        let (w, h) = ((mw / group) as usize, (mh / group) as usize);
        self.size = (w, h);
        self.has_previous = false;
        if w < 8 || h < 8 {
            return;
        }
        self.forward_rows = Some(self.planner.plan_fft_forward(w));
        self.forward_columns = Some(self.planner.plan_fft_forward(h));
        self.inverse_rows = Some(self.planner.plan_fft_inverse(w));
        self.inverse_columns = Some(self.planner.plan_fft_inverse(h));
        self.window_x = tukey(w);
        self.window_y = tukey(h);
        let scratch = [
            &self.forward_rows,
            &self.forward_columns,
            &self.inverse_rows,
            &self.inverse_columns,
        ]
        .iter()
        .filter_map(|f| f.as_ref().map(|f| f.get_inplace_scratch_len()))
        .max()
        .unwrap_or(0);
        self.scratch = vec![Complex32::default(); scratch];
        self.work = vec![Complex32::default(); w * h];
        self.surface = vec![Complex32::default(); w * h];
        self.spectrum = vec![Complex32::default(); w * h];
        self.previous_spectrum = vec![Complex32::default(); w * h];
    }

    /// Block-summed grey (R + G + B) of the frame in `blocks` into `grey`, zero mean.
    fn shrink(&mut self, blocks: &FrameBlocks) {
        let (w, h) = self.size;
        self.grey.clear();
        let grey = &mut self.grey;
        blocks.coarsen(self.group, |_, _, s| grey.push((s[0] + s[1] + s[2]) as f32));
        let mean = self.grey.iter().map(|&v| f64::from(v)).sum::<f64>() / (w * h) as f64;
        let mean = mean as f32;
        for v in &mut self.grey {
            *v -= mean;
        }
    }

    /// Windowed 2-D FFT of `grey` into `spectrum` (column-major: `w` columns of `h`).
    fn transform(&mut self) {
        let (w, h) = self.size;
        let (Some(rows), Some(columns)) = (&self.forward_rows, &self.forward_columns) else {
            return;
        };
        for y in 0..h {
            let wy = self.window_y[y];
            for x in 0..w {
                self.work[y * w + x] =
                    Complex32::new(self.grey[y * w + x] * wy * self.window_x[x], 0.0);
            }
        }
        rows.process_with_scratch(&mut self.work, &mut self.scratch);
        transpose(&self.work, &mut self.spectrum, w, h);
        columns.process_with_scratch(&mut self.spectrum, &mut self.scratch);
    }

    /// The best-correlating reading of the highest peaks of the phase correlation.
    fn best_motion(&mut self, min_correlation: f32, min_overlap: f32) -> Option<Registration> {
        let (w, h) = self.size;
        let (Some(inverse_rows), Some(inverse_columns)) =
            (&self.inverse_rows, &self.inverse_columns)
        else {
            return None;
        };
        // Cross-power of previous x conj(current), normalized to unit magnitude: its
        // inverse peaks at the motion (the current frame is the previous one moved by it).
        for i in 0..w * h {
            let c = self.previous_spectrum[i] * self.spectrum[i].conj();
            let norm = c.norm();
            self.work[i] = if norm > 1e-12 {
                c / norm
            } else {
                Complex32::default()
            };
        }
        // No weight on the mean: it says nothing about motion.
        self.work[0] = Complex32::default();
        inverse_columns.process_with_scratch(&mut self.work, &mut self.scratch);
        transpose(&self.work, &mut self.surface, h, w);
        inverse_rows.process_with_scratch(&mut self.surface, &mut self.scratch);
        let surface = &self.surface;
        let peaks = highest_peaks(surface, w, h);
        let mut best: Option<(f32, (f64, f64))> = None;
        for &(px, py) in peaks.iter().flatten() {
            for dy in [py as isize, py as isize - h as isize] {
                for dx in [px as isize, px as isize - w as isize] {
                    let Some(r) = overlap_correlation(
                        &self.previous_grey,
                        &self.grey,
                        w,
                        h,
                        (dx, dy),
                        min_overlap,
                    ) else {
                        continue;
                    };
                    if best.is_none_or(|(b, _)| r > b) {
                        let (fx, fy) = sub_block(surface, w, h, px, py);
                        best = Some((r, (dx as f64 + fx, dy as f64 + fy)));
                    }
                }
            }
            // Lower peaks are only a fallback: the highest one, read right, is the motion.
            if best.is_some_and(|(b, _)| b >= min_correlation) {
                break;
            }
        }
        let (correlation, (mx, my)) = best?;
        if correlation < min_correlation {
            return None;
        }
        let f = f64::from(self.factor);
        Some(Registration {
            motion: (mx * f, my * f),
            correlation,
            registered: true,
        })
    }
}

/// Tukey window of `n` points: 1 in the middle, a raised-cosine taper over [`TAPER`] of
/// each end.
fn tukey(n: usize) -> Vec<f32> {
    let taper = ((n as f32 * TAPER) as usize).max(1);
    (0..n)
        .map(|i| {
            let edge = i.min(n - 1 - i);
            if edge >= taper {
                1.0
            } else {
                let t = (edge as f32 + 0.5) / taper as f32;
                0.5 - 0.5 * (std::f32::consts::PI * t).cos()
            }
        })
        .collect()
}

/// `dst` (`cols` rows of `rows`) = transpose of `src` (`rows` rows of `cols`).
fn transpose(src: &[Complex32], dst: &mut [Complex32], cols: usize, rows: usize) {
    // Tiles keep both sides in cache.
    const TILE: usize = 16;
    for y0 in (0..rows).step_by(TILE) {
        for x0 in (0..cols).step_by(TILE) {
            for y in y0..(y0 + TILE).min(rows) {
                for x in x0..(x0 + TILE).min(cols) {
                    dst[x * rows + y] = src[y * cols + x];
                }
            }
        }
    }
}

/// Positions of the [`PEAKS`] highest local maxima of the real part of `surface`
/// (wrapping around its edges).
fn highest_peaks(surface: &[Complex32], w: usize, h: usize) -> [Option<(usize, usize)>; PEAKS] {
    let mut best: [Option<(f32, usize, usize)>; PEAKS] = [None; PEAKS];
    for y in 0..h {
        for x in 0..w {
            let v = surface[y * w + x].re;
            if best[PEAKS - 1].is_some_and(|(b, _, _)| v <= b) {
                continue;
            }
            let at = |dx: isize, dy: isize| {
                let xx = (x as isize + dx).rem_euclid(w as isize) as usize;
                let yy = (y as isize + dy).rem_euclid(h as isize) as usize;
                surface[yy * w + xx].re
            };
            let is_max = [
                (-1, -1),
                (0, -1),
                (1, -1),
                (-1, 0),
                (1, 0),
                (-1, 1),
                (0, 1),
                (1, 1),
            ]
            .iter()
            .all(|&(dx, dy)| at(dx, dy) <= v);
            if !is_max {
                continue;
            }
            let mut slot = PEAKS - 1;
            while slot > 0 && best[slot - 1].is_none_or(|(b, _, _)| v > b) {
                best[slot] = best[slot - 1];
                slot -= 1;
            }
            best[slot] = Some((v, x, y));
        }
    }
    best.map(|p| p.map(|(_, x, y)| (x, y)))
}

/// Fraction of a block by which the true peak lies off `(x, y)`, along each axis from the
/// peak and its higher neighbour: a shift between whole blocks shares the phase
/// correlation's peak between the two blocks in proportion to its closeness (Foroosh et
/// al., 2002), which a parabola through three points fits badly (errors up to half a
/// pixel per frame, against about a tenth this way).
fn sub_block(surface: &[Complex32], w: usize, h: usize, x: usize, y: usize) -> (f64, f64) {
    let at = |xx: usize, yy: usize| f64::from(surface[yy * w + xx].re);
    let vertex = |before: f64, centre: f64, after: f64| {
        let (side, sign) = if after > before {
            (after, 1.0)
        } else {
            (before, -1.0)
        };
        if side > 0.0 && centre > 0.0 {
            sign * (side / (side + centre)).min(0.5)
        } else {
            0.0
        }
    };
    let c = at(x, y);
    (
        vertex(at((x + w - 1) % w, y), c, at((x + 1) % w, y)),
        vertex(at(x, (y + h - 1) % h), c, at(x, (y + 1) % h)),
    )
}

/// Zero-mean normalized correlation of `previous(x + motion)` and `current(x)` over the
/// pixels both show; `None` when they share less than `min_overlap` of a frame or either
/// side is flat there.
fn overlap_correlation(
    previous: &[f32],
    current: &[f32],
    w: usize,
    h: usize,
    motion: (isize, isize),
    min_overlap: f32,
) -> Option<f32> {
    let (dx, dy) = motion;
    let x0 = (-dx).max(0) as usize;
    let x1 = (w as isize - dx).min(w as isize);
    let y0 = (-dy).max(0) as usize;
    let y1 = (h as isize - dy).min(h as isize);
    if x1 <= x0 as isize || y1 <= y0 as isize {
        return None;
    }
    let (x1, y1) = (x1 as usize, y1 as usize);
    let n = (x1 - x0) * (y1 - y0);
    if (n as f32) < min_overlap * (w * h) as f32 || n < 16 {
        return None;
    }
    let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for y in y0..y1 {
        let py = (y as isize + dy) as usize;
        let a_row = &previous[py * w..][..w];
        let b_row = &current[y * w..][..w];
        let (mut ra, mut rb, mut raa, mut rbb, mut rab) = (0.0f32, 0.0f32, 0.0f32, 0.0f32, 0.0f32);
        for x in x0..x1 {
            let a = a_row[(x as isize + dx) as usize];
            let b = b_row[x];
            ra += a;
            rb += b;
            raa += a * a;
            rbb += b * b;
            rab += a * b;
        }
        sa += f64::from(ra);
        sb += f64::from(rb);
        saa += f64::from(raa);
        sbb += f64::from(rbb);
        sab += f64::from(rab);
    }
    let n = n as f64;
    let cov = sab - sa * sb / n;
    let va = saa - sa * sa / n;
    let vb = sbb - sb * sb / n;
    if va <= 1e-9 * n || vb <= 1e-9 * n {
        return None;
    }
    Some((cov / (va * vb).sqrt()) as f32)
}

#[cfg(test)]
mod tests;
