//! Finding white cells in a frame by their nuclei.
//!
//! A white cell is found by its nucleus, the one thing on a smear that takes up much of the
//! nuclear stain: red cells, cytoplasm and glass take little. The steps, all on a copy of
//! the frame shrunk by whole-block averaging to about [`DetectorConfig::mask_um_per_px`]:
//!
//! 1. **Optical density.** The glass level of each channel is a high percentile of the
//!    shrunk frame (glass is the brightest thing on a slide); every block's density is
//!    `-ln(light / glass)` (Beer-Lambert), read from a table indexed by the block's sum.
//! 2. **Colour deconvolution.** The density of a pixel is a mix of the nuclear stain, the
//!    counterstain (red cells, cytoplasm) and a residual orthogonal to both; the inverse of
//!    that 3x3 stain matrix (nalgebra) gives the nuclear stain's share, folded into the
//!    tables so each block costs three look-ups.
//! 3. **Otsu threshold** on the nuclear share of the stained blocks, never below
//!    [`DetectorConfig::min_nuclear_density`] so a frame without nuclei (glass, red cells
//!    only) does not have its red cells split in two.
//! 4. **Morphology.** An opening (3x3) removes specks and thin bridges, and enclosed holes
//!    (pale nucleoli, vacuoles) are filled. There is no closing: the block averaging has
//!    already smoothed coarse chromatin, and a closing would fill the necks between
//!    touching nuclei that the splitting needs.
//! 5. **Connected components** (8-connected, two passes with union-find).
//! 6. **Splitting of touching nuclei**: a chamfer distance transform of each component,
//!    then flooding from its distance maxima (a watershed on the distance map) in which a
//!    maximum stands as a nucleus of its own only if it rises at least
//!    [`DetectorConfig::split_depth_um`] above the saddle joining it to a higher one (an
//!    h-maximum). Two round nuclei touching at a narrow neck are split; a single nucleus
//!    with a cleft or lobes, whose lobes barely rise above the neck, is not. Limits: two
//!    nuclei overlapping by more than about half their radius have no neck deep enough and
//!    stay one (then usually too big, and dropped by the area filter); an elongated single
//!    nucleus with two bulges can be split in two.
//! 7. **Size and shape filters** in micrometres: nuclear area within
//!    [`DetectorConfig::min_nucleus_um2`]..=[`DetectorConfig::max_nucleus_um2`] (platelets
//!    and debris are smaller, clumps larger), and solidity (area over convex-hull area) at
//!    least [`DetectorConfig::min_solidity`] (streaks and ragged debris are not convex).
//!
//! All working memory lives in the [`CellDetector`] and is reused from frame to frame.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use leukoscope_core::raster::RgbImage;
use nalgebra::{Matrix3, Vector3};
use serde::{Deserialize, Serialize};

use super::blocks::FrameBlocks;

/// How [`CellDetector`] finds nuclei, as `[detect]` in a board's `board.toml` sets it.
///
/// Defaults suit the core's synthetic smears and the reference images they imitate
/// (Wright-Giemsa, 0.42 um per pixel); another stain batch or objective should check them
/// on a few of its own frames.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    /// Micrometres per pixel of the frames (default 0.42, the model's scale).
    pub um_per_px: f32,
    /// Micrometres per pixel of the shrunk copy the mask is made on (default 1.25): the
    /// frame is shrunk by the whole factor nearest to `mask_um_per_px / um_per_px` (1 to
    /// 8). A smaller nucleus than about 3x3 blocks is lost, so keep this under a third of
    /// the smallest nucleus' diameter.
    pub mask_um_per_px: f32,
    /// Optical-density direction (R, G, B) of the nuclear stain; any length (default
    /// `[0.55, 0.83, 0.06]`: Wright-Giemsa chromatin absorbs green most, red a little,
    /// blue hardly at all).
    pub nucleus_stain: [f32; 3],
    /// Optical-density direction of the counterstain: red cells and cytoplasm (default
    /// `[0.72, 0.66, 0.20]`: they absorb red and green about equally).
    pub counterstain: [f32; 3],
    /// Least nuclear-stain density a block needs to count as nucleus, whatever Otsu says
    /// (default 0.35; nuclei reach 0.8 to 1.8, red cells stay near 0, cytoplasm under 0.4).
    pub min_nuclear_density: f32,
    /// Total optical density (sum of the channels) above which a block counts as stained
    /// and takes part in the Otsu threshold (default 0.2; glass is near 0).
    pub stained_density: f32,
    /// Percentile, 50 to 100, of each channel's block values taken as the glass level
    /// (default 99).
    pub glass_percentile: f32,
    /// Smallest nucleus kept, in square micrometres (default 12; platelets are under 7).
    pub min_nucleus_um2: f32,
    /// Largest nucleus kept, in square micrometres (default 450; the largest blast nuclei
    /// are about 300).
    pub max_nucleus_um2: f32,
    /// Least solidity (area over the area of the convex hull, 0 to 1) of a nucleus kept
    /// (default 0.6; round and cleft nuclei score 0.8 to 1).
    pub min_solidity: f32,
    /// How far, in micrometres, a maximum of the distance to the nucleus' edge must rise
    /// above the saddle towards a higher one to stand as a nucleus of its own (default
    /// 1.5: half the radius of the smallest nucleus; the lobes of a cleft nucleus rise
    /// less than 1).
    pub split_depth_um: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            um_per_px: 0.42,
            mask_um_per_px: 1.25,
            nucleus_stain: [0.55, 0.83, 0.06],
            counterstain: [0.72, 0.66, 0.20],
            min_nuclear_density: 0.35,
            stained_density: 0.2,
            glass_percentile: 99.0,
            min_nucleus_um2: 12.0,
            max_nucleus_um2: 450.0,
            min_solidity: 0.6,
            split_depth_um: 1.5,
        }
    }
}

/// Why a [`DetectorConfig`] was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DetectError {
    /// A setting outside its range.
    #[error("detect setting `{key}` is {value}, but it must be {expected}")]
    BadSetting {
        /// The config key.
        key: &'static str,
        /// The value given.
        value: f32,
        /// What it must be.
        expected: &'static str,
    },
    /// The two stain directions are zero, not finite, or too close to tell apart.
    #[error(
        "the nuclear stain and counterstain directions cannot be unmixed ({reason}); give two clearly different optical-density colours"
    )]
    Stains {
        /// What is wrong with them.
        reason: &'static str,
    },
}

/// One white cell found in a frame, located by its nucleus.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectedCell {
    /// Centre of the nucleus `(x, y)` in frame pixels.
    pub centre: (f32, f32),
    /// Box around the nucleus in frame pixels: `[x, y, width, height]`.
    pub bbox: [u32; 4],
    /// Area of the nucleus in square micrometres.
    pub area_um2: f32,
    /// Area over convex-hull area, 0 to 1.
    pub solidity: f32,
    /// Mean nuclear-stain density over the nucleus.
    pub density: f32,
    /// Whether the nucleus reaches the edge of the frame, so part of the cell may be
    /// cut off (the tracker does not count such sightings).
    pub touches_border: bool,
}

/// Finds white cells in frames; keeps its working memory between frames.
#[derive(Clone, Debug)]
pub struct CellDetector {
    config: DetectorConfig,
    /// First row of the inverse stain matrix: RGB density to nuclear-stain density.
    unmix: [f32; 3],
    /// The frame is shrunk by `factor` x `factor` blocks.
    factor: u32,
    /// Pixels of the frame per block, squared micrometres of the frame per mask pixel.
    um2_per_block: f32,
    /// Split depth in chamfer units (3 per mask pixel).
    split_depth: u32,
    scratch: Scratch,
    /// The frame's blocks when the detector shrinks frames itself ([`CellDetector::detect`]).
    blocks: FrameBlocks,
    last: FrameStats,
}

/// Numbers from the last frame, for tuning and for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct FrameStats {
    /// Glass level per channel, 0 to 255.
    pub glass: [f32; 3],
    /// The nuclear-density threshold used (Otsu, or the floor).
    pub threshold: f32,
    /// Share of the shrunk frame's blocks that counted as stained.
    pub stained_fraction: f32,
    /// Connected components before filtering (after splitting).
    pub candidates: u32,
}

#[derive(Clone, Debug, Default)]
struct Scratch {
    /// Nuclear density per block.
    density: Vec<f32>,
    /// Density tables by block sum: nuclear share and total, per channel.
    nuclear_lut: [Vec<f32>; 3],
    total_lut: [Vec<f32>; 3],
    mask: Vec<u8>,
    spare: Vec<u8>,
    labels: Vec<u32>,
    parents: Vec<u32>,
    components: Vec<Component>,
    /// Per-component work: local mask, distances, the split, the nuclei.
    local: Vec<u8>,
    distance: Vec<u16>,
    flood: Flood,
    regions: Vec<RegionStats>,
    stack: Vec<u32>,
    hull: Vec<(i32, i32)>,
    points: Vec<(i32, i32)>,
}

/// A connected component of the mask: its box (inclusive) in mask pixels.
#[derive(Clone, Copy, Debug)]
struct Component {
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
    area: u32,
}

/// Bins of the Otsu histogram over nuclear density `0..OTSU_MAX`.
const OTSU_BINS: usize = 256;
const OTSU_MAX: f32 = 3.0;
/// Largest shrink factor: the density tables have `255 f^2 + 1` entries a channel.
const MAX_FACTOR: u32 = 8;

impl CellDetector {
    /// A detector with `config`; errors name the first setting out of range.
    pub fn new(config: DetectorConfig) -> Result<Self, DetectError> {
        let c = &config;
        check(
            "um_per_px",
            c.um_per_px,
            c.um_per_px.is_finite() && c.um_per_px > 0.0,
            "positive",
        )?;
        check(
            "mask_um_per_px",
            c.mask_um_per_px,
            c.mask_um_per_px.is_finite() && c.mask_um_per_px > 0.0,
            "positive",
        )?;
        check(
            "min_nuclear_density",
            c.min_nuclear_density,
            (0.0..OTSU_MAX).contains(&c.min_nuclear_density),
            "at least 0 and below 3",
        )?;
        check(
            "stained_density",
            c.stained_density,
            c.stained_density.is_finite() && c.stained_density >= 0.0,
            "at least 0",
        )?;
        check(
            "glass_percentile",
            c.glass_percentile,
            (50.0..=100.0).contains(&c.glass_percentile),
            "between 50 and 100",
        )?;
        check(
            "min_nucleus_um2",
            c.min_nucleus_um2,
            c.min_nucleus_um2.is_finite() && c.min_nucleus_um2 >= 0.0,
            "at least 0",
        )?;
        check(
            "max_nucleus_um2",
            c.max_nucleus_um2,
            c.max_nucleus_um2.is_finite() && c.max_nucleus_um2 >= c.min_nucleus_um2,
            "at least min_nucleus_um2",
        )?;
        check(
            "min_solidity",
            c.min_solidity,
            (0.0..=1.0).contains(&c.min_solidity),
            "between 0 and 1",
        )?;
        check(
            "split_depth_um",
            c.split_depth_um,
            c.split_depth_um.is_finite() && c.split_depth_um >= 0.0,
            "at least 0",
        )?;
        let unmix = unmixing_row(c.nucleus_stain, c.counterstain)?;
        let factor = ((c.mask_um_per_px / c.um_per_px).round() as u32).clamp(1, MAX_FACTOR);
        let block_um = factor as f32 * c.um_per_px;
        Ok(CellDetector {
            unmix,
            factor,
            um2_per_block: block_um * block_um,
            split_depth: (3.0 * c.split_depth_um / block_um).round() as u32,
            scratch: Scratch::default(),
            blocks: FrameBlocks::new(factor, c.glass_percentile),
            last: FrameStats::default(),
            config,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// The side of the blocks the frame is shrunk by.
    pub fn shrink_factor(&self) -> u32 {
        self.factor
    }

    /// Numbers from the last call to [`CellDetector::detect`].
    pub fn last_stats(&self) -> FrameStats {
        self.last
    }

    /// Working memory for a frame's blocks as this detector reads them (its block size and
    /// glass percentile), for the pipeline to shrink each frame once for every stage.
    pub fn frame_blocks(&self) -> FrameBlocks {
        FrameBlocks::new(self.factor, self.config.glass_percentile)
    }

    /// The white cells in `frame`, by nucleus, in no particular order (the frame shrunk
    /// here; see [`CellDetector::detect_in`]).
    pub fn detect(&mut self, frame: &RgbImage) -> Vec<DetectedCell> {
        let mut blocks = std::mem::replace(&mut self.blocks, FrameBlocks::new(1, 100.0));
        blocks.shrink(frame);
        let cells = self.detect_in(&blocks);
        self.blocks = blocks;
        cells
    }

    /// The white cells of a frame already shrunk into `blocks` (made by
    /// [`CellDetector::frame_blocks`]). A frame smaller than 3x3 blocks, or one with nothing
    /// stained, gives none.
    ///
    /// # Panics
    /// When `blocks` has another block size than this detector's: a programming error.
    pub fn detect_in(&mut self, blocks: &FrameBlocks) -> Vec<DetectedCell> {
        assert_eq!(
            blocks.factor(),
            self.factor,
            "the frame's blocks must be made by CellDetector::frame_blocks"
        );
        let (mw, mh) = blocks.size();
        self.last = FrameStats::default();
        let mut cells = Vec::new();
        if mw < 3 || mh < 3 {
            return cells;
        }
        let glass = blocks.glass();
        self.last.glass = glass;
        self.build_tables(glass);
        let (threshold, stained) = self.nuclear_density(blocks.sums());
        self.last.threshold = threshold;
        self.last.stained_fraction = stained as f32 / (mw as f32 * mh as f32);
        if stained == 0 {
            return cells;
        }
        let s = &mut self.scratch;
        s.mask.clear();
        s.mask
            .extend(s.density.iter().map(|&d| u8::from(d >= threshold)));
        s.spare.resize(s.mask.len(), 0);
        // Opening: an erosion and a dilation through the spare buffer. No closing: it would
        // fill the necks between touching nuclei, and averaging the blocks has already
        // smoothed the chromatin's clumps.
        morph(&s.mask, &mut s.spare, mw, mh, Morph::Erode);
        morph(&s.spare, &mut s.mask, mw, mh, Morph::Dilate);
        fill_holes(&mut s.mask, mw, mh, &mut s.stack);
        label(
            &s.mask,
            mw,
            mh,
            &mut s.labels,
            &mut s.parents,
            &mut s.components,
        );
        for id in 0..s.components.len() {
            self.split_component(id as u32, mw, mh, &mut cells);
        }
        cells
    }

    /// Fills the density tables for this frame's glass level.
    fn build_tables(&mut self, glass: [f32; 3]) {
        let f2 = (self.factor * self.factor) as f32;
        let len = 255 * (self.factor * self.factor) as usize + 1;
        let s = &mut self.scratch;
        let tables = s.nuclear_lut.iter_mut().zip(s.total_lut.iter_mut());
        for ((nuclear, total), (level, weight)) in tables.zip(glass.into_iter().zip(self.unmix)) {
            nuclear.clear();
            total.clear();
            let inv_glass = 1.0 / level.max(1.0);
            for sum in 0..len {
                // Half a grey level for black, so a clipped-dark block has a finite density.
                let light = (sum as f32 / f2).max(0.5);
                let od = (-(light * inv_glass).ln()).max(0.0);
                nuclear.push(od * weight);
                total.push(od);
            }
        }
    }

    /// Nuclear density of every block, and the threshold over the stained ones; also the
    /// number of stained blocks.
    fn nuclear_density(&mut self, sums: &[u16]) -> (f32, u32) {
        let s = &mut self.scratch;
        s.density.clear();
        s.density.reserve(sums.len() / 3);
        let mut histogram = [0u32; OTSU_BINS];
        let mut stained = 0u32;
        let [n0, n1, n2] = &s.nuclear_lut;
        let [t0, t1, t2] = &s.total_lut;
        let limit = self.config.stained_density;
        let scale = OTSU_BINS as f32 / OTSU_MAX;
        for px in sums.chunks_exact(3) {
            let (r, g, b) = (px[0] as usize, px[1] as usize, px[2] as usize);
            let d = n0[r] + n1[g] + n2[b];
            s.density.push(d);
            if t0[r] + t1[g] + t2[b] > limit {
                stained += 1;
                let bin = ((d * scale) as usize).min(OTSU_BINS - 1);
                histogram[bin] += 1;
            }
        }
        let otsu = otsu(&histogram) as f32 / scale;
        (otsu.max(self.config.min_nuclear_density), stained)
    }

    /// Splits component `id` into nuclei, measures and filters them, and appends the kept
    /// ones to `cells`.
    fn split_component(&mut self, id: u32, mw: u32, mh: u32, cells: &mut Vec<DetectedCell>) {
        let s = &mut self.scratch;
        let comp = s.components[id as usize];
        let min_blocks = self.config.min_nucleus_um2 / self.um2_per_block;
        if (comp.area as f32) < min_blocks {
            return;
        }
        // Local box with one pixel of background around, so the distance transform and the
        // neighbour look-ups need no bounds checks.
        let (bw, bh) = (comp.x1 - comp.x0 + 3, comp.y1 - comp.y0 + 3);
        let (bw_, bh_) = (bw as usize, bh as usize);
        s.local.clear();
        s.local.resize(bw_ * bh_, 0);
        for y in comp.y0..=comp.y1 {
            let row = (y * mw) as usize;
            let local_row = (y - comp.y0 + 1) as usize * bw_;
            for x in comp.x0..=comp.x1 {
                if s.labels[row + x as usize] == id + 1 {
                    s.local[local_row + (x - comp.x0 + 1) as usize] = 1;
                }
            }
        }
        chamfer(&s.local, bw_, bh_, &mut s.distance);
        let nuclei = split(&s.distance, bw_, self.split_depth as u16, &mut s.flood);
        s.regions.clear();
        s.regions.extend((0..nuclei).map(RegionStats::new));
        for ly in 1..bh_ - 1 {
            for lx in 1..bw_ - 1 {
                let k = s.flood.label[ly * bw_ + lx];
                if k == u32::MAX {
                    continue;
                }
                let (x, y) = (comp.x0 + lx as u32 - 1, comp.y0 + ly as u32 - 1);
                let density = s.density[(y * mw + x) as usize];
                s.regions[k as usize].add(x, y, density);
            }
        }
        self.last.candidates += s.regions.len() as u32;
        let f = self.factor as f32;
        for stat in &s.regions {
            let area_um2 = stat.area as f32 * self.um2_per_block;
            if area_um2 < self.config.min_nucleus_um2 || area_um2 > self.config.max_nucleus_um2 {
                continue;
            }
            let solidity = solidity(
                &s.flood.label,
                bw_,
                stat.label,
                [stat.x0 - comp.x0 + 1, stat.y0 - comp.y0 + 1],
                [stat.x1 - comp.x0 + 1, stat.y1 - comp.y0 + 1],
                stat.area,
                &mut s.points,
                &mut s.hull,
            );
            if solidity < self.config.min_solidity {
                continue;
            }
            let area = stat.area as f32;
            cells.push(DetectedCell {
                centre: (
                    (stat.sum_x as f32 / area + 0.5) * f,
                    (stat.sum_y as f32 / area + 0.5) * f,
                ),
                bbox: [
                    stat.x0 * self.factor,
                    stat.y0 * self.factor,
                    (stat.x1 - stat.x0 + 1) * self.factor,
                    (stat.y1 - stat.y0 + 1) * self.factor,
                ],
                area_um2,
                solidity,
                density: stat.density / area,
                touches_border: stat.x0 == 0
                    || stat.y0 == 0
                    || stat.x1 + 1 >= mw
                    || stat.y1 + 1 >= mh,
            });
        }
    }
}

fn check(
    key: &'static str,
    value: f32,
    ok: bool,
    expected: &'static str,
) -> Result<(), DetectError> {
    if ok {
        Ok(())
    } else {
        Err(DetectError::BadSetting {
            key,
            value,
            expected,
        })
    }
}

/// The row of the inverse stain matrix that turns an RGB density into the nuclear stain's
/// amount; the third column of the matrix is the residual, orthogonal to both stains.
fn unmixing_row(nucleus: [f32; 3], counter: [f32; 3]) -> Result<[f32; 3], DetectError> {
    let unit = |v: [f32; 3]| -> Result<Vector3<f64>, DetectError> {
        let v = Vector3::new(f64::from(v[0]), f64::from(v[1]), f64::from(v[2]));
        let norm = v.norm();
        if !norm.is_finite() || norm < 1e-6 {
            return Err(DetectError::Stains {
                reason: "a direction is zero or not finite",
            });
        }
        Ok(v / norm)
    };
    let (n, c) = (unit(nucleus)?, unit(counter)?);
    let residual = n.cross(&c);
    // Squared sine of the angle between the stains: under about 5 degrees, unmixing would
    // amplify sensor noise more than tenfold.
    if residual.norm_squared() < 0.0076 {
        return Err(DetectError::Stains {
            reason: "the two directions are less than 5 degrees apart",
        });
    }
    let stains = Matrix3::from_columns(&[n, c, residual.normalize()]);
    let inverse = stains.try_inverse().ok_or(DetectError::Stains {
        reason: "the stain matrix is singular",
    })?;
    Ok([
        inverse[(0, 0)] as f32,
        inverse[(0, 1)] as f32,
        inverse[(0, 2)] as f32,
    ])
}

/// Otsu's threshold: the bin that best splits the histogram into two classes (the first
/// bin of the upper class); 0 for an empty histogram.
fn otsu(histogram: &[u32; OTSU_BINS]) -> usize {
    let total: f64 = histogram.iter().map(|&n| f64::from(n)).sum();
    if total == 0.0 {
        return 0;
    }
    let sum_all: f64 = histogram
        .iter()
        .enumerate()
        .map(|(i, &n)| i as f64 * f64::from(n))
        .sum();
    let (mut weight_low, mut sum_low) = (0.0, 0.0);
    let (mut best, mut best_at) = (-1.0, 0);
    for (i, &n) in histogram.iter().enumerate() {
        weight_low += f64::from(n);
        sum_low += i as f64 * f64::from(n);
        let weight_high = total - weight_low;
        if weight_low == 0.0 || weight_high == 0.0 {
            continue;
        }
        let mean_low = sum_low / weight_low;
        let mean_high = (sum_all - sum_low) / weight_high;
        let between = weight_low * weight_high * (mean_low - mean_high) * (mean_low - mean_high);
        if between > best {
            best = between;
            best_at = i + 1;
        }
    }
    best_at
}

#[derive(Clone, Copy)]
enum Morph {
    Erode,
    Dilate,
}

/// 3x3 erosion or dilation of a 0/1 mask; outside the frame counts as background for a
/// dilation and as foreground for an erosion, so objects at the edge keep their size.
fn morph(src: &[u8], dst: &mut [u8], w: u32, h: u32, op: Morph) {
    let (w, h) = (w as usize, h as usize);
    for y in 0..h {
        let up = &src[y.saturating_sub(1) * w..][..w];
        let mid = &src[y * w..][..w];
        let down = &src[(y + 1).min(h - 1) * w..][..w];
        let out = &mut dst[y * w..][..w];
        for x in 0..w {
            let (l, r) = (x.saturating_sub(1), (x + 1).min(w - 1));
            let v = match op {
                Morph::Erode => {
                    up[l] & up[x] & up[r] & mid[l] & mid[x] & mid[r] & down[l] & down[x] & down[r]
                }
                Morph::Dilate => {
                    up[l] | up[x] | up[r] | mid[l] | mid[x] | mid[r] | down[l] | down[x] | down[r]
                }
            };
            out[x] = v;
        }
    }
}

/// Sets every background pixel not 4-connected to the frame's edge: holes in nuclei
/// (pale nucleoli, vacuoles) become nucleus.
fn fill_holes(mask: &mut [u8], w: u32, h: u32, stack: &mut Vec<u32>) {
    let (w, h) = (w as usize, h as usize);
    // 0 background, 1 object, 2 background reached from the edge.
    stack.clear();
    let seed = |i: usize, mask: &mut [u8], stack: &mut Vec<u32>| {
        if mask[i] == 0 {
            mask[i] = 2;
            stack.push(i as u32);
        }
    };
    for x in 0..w {
        seed(x, mask, stack);
        seed((h - 1) * w + x, mask, stack);
    }
    for y in 0..h {
        seed(y * w, mask, stack);
        seed(y * w + w - 1, mask, stack);
    }
    while let Some(i) = stack.pop() {
        let i = i as usize;
        let (x, y) = (i % w, i / w);
        if x > 0 {
            seed(i - 1, mask, stack);
        }
        if x + 1 < w {
            seed(i + 1, mask, stack);
        }
        if y > 0 {
            seed(i - w, mask, stack);
        }
        if y + 1 < h {
            seed(i + w, mask, stack);
        }
    }
    for v in mask.iter_mut() {
        *v = u8::from(*v != 2);
    }
}

/// Two-pass 8-connected labelling: `labels` gets `1..=n` (0 background), `components`
/// their boxes and areas in label order.
fn label(
    mask: &[u8],
    w: u32,
    h: u32,
    labels: &mut Vec<u32>,
    parents: &mut Vec<u32>,
    components: &mut Vec<Component>,
) {
    let (w, h) = (w as usize, h as usize);
    labels.clear();
    labels.resize(w * h, 0);
    parents.clear();
    parents.push(0);
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if mask[i] == 0 {
                continue;
            }
            // Already-labelled neighbours: left, and the three above.
            let mut found = 0u32;
            let mut neighbours = [0u32; 4];
            if x > 0 {
                neighbours[0] = labels[i - 1];
            }
            if y > 0 {
                let above = i - w;
                if x > 0 {
                    neighbours[1] = labels[above - 1];
                }
                neighbours[2] = labels[above];
                if x + 1 < w {
                    neighbours[3] = labels[above + 1];
                }
            }
            for n in neighbours.into_iter().filter(|&n| n != 0) {
                if found == 0 {
                    found = find(parents, n);
                } else {
                    let root = find(parents, n);
                    if root != found {
                        let (low, high) = (root.min(found), root.max(found));
                        parents[high as usize] = low;
                        found = low;
                    }
                }
            }
            if found == 0 {
                found = parents.len() as u32;
                parents.push(found);
            }
            labels[i] = found;
        }
    }
    // Roots to consecutive labels.
    let mut next = 0u32;
    let mut renumber = vec![0u32; parents.len()];
    for (l, slot) in renumber.iter_mut().enumerate().skip(1) {
        if find(parents, l as u32) == l as u32 {
            next += 1;
            *slot = next;
        }
    }
    components.clear();
    components.resize(
        next as usize,
        Component {
            x0: u32::MAX,
            y0: u32::MAX,
            x1: 0,
            y1: 0,
            area: 0,
        },
    );
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if labels[i] == 0 {
                continue;
            }
            let root = find(parents, labels[i]);
            let l = renumber[root as usize];
            labels[i] = l;
            let c = &mut components[l as usize - 1];
            let (x, y) = (x as u32, y as u32);
            c.x0 = c.x0.min(x);
            c.y0 = c.y0.min(y);
            c.x1 = c.x1.max(x);
            c.y1 = c.y1.max(y);
            c.area += 1;
        }
    }
}

/// Root of `i` with path halving.
fn find(parents: &mut [u32], mut i: u32) -> u32 {
    while parents[i as usize] != i {
        let grand = parents[parents[i as usize] as usize];
        parents[i as usize] = grand;
        i = grand;
    }
    i
}

/// Chamfer (3-4) distance of every object pixel to the nearest background pixel; the box
/// has a background border, so no look-up leaves it.
fn chamfer(local: &[u8], w: usize, h: usize, distance: &mut Vec<u16>) {
    const FAR: u16 = u16::MAX / 2;
    distance.clear();
    distance.extend(local.iter().map(|&v| if v == 0 { 0 } else { FAR }));
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            if distance[i] == 0 {
                continue;
            }
            let d = (distance[i - 1] + 3)
                .min(distance[i - w] + 3)
                .min(distance[i - w - 1] + 4)
                .min(distance[i - w + 1] + 4);
            distance[i] = distance[i].min(d);
        }
    }
    for y in (1..h - 1).rev() {
        for x in (1..w - 1).rev() {
            let i = y * w + x;
            if distance[i] == 0 {
                continue;
            }
            let d = (distance[i + 1] + 3)
                .min(distance[i + w] + 3)
                .min(distance[i + w + 1] + 4)
                .min(distance[i + w - 1] + 4);
            distance[i] = distance[i].min(d);
        }
    }
}

/// Working memory of [`split`].
#[derive(Clone, Debug, Default)]
struct Flood {
    /// Object pixels by falling distance.
    order: Vec<(u16, u32)>,
    /// Region of each pixel in the first pass, nucleus in the second (`u32::MAX`: none).
    label: Vec<u32>,
    parent: Vec<u32>,
    peak: Vec<u16>,
    /// The pixel each region started from: its maximum.
    seed: Vec<u32>,
    /// Nucleus of each root region.
    nucleus: Vec<u32>,
    heap: BinaryHeap<(u16, Reverse<u32>, u32)>,
}

/// Splits the object pixels of a local box (`distance` > 0, with a background border) into
/// nuclei; returns their number, and `flood.label` holds each pixel's nucleus.
///
/// First pass: the pixels, by falling distance, grow regions from the maxima; where two
/// regions meet, the one whose peak rises less than `depth` above the meeting level joins
/// the higher (h-maxima). Second pass: a watershed from the maxima of the regions left,
/// always growing the frontier at the largest distance and, within a level, the oldest
/// first, so that regions grow evenly over plateaus of the chamfer distance.
fn split(distance: &[u16], w: usize, depth: u16, flood: &mut Flood) -> u32 {
    let offsets = [
        -(w as isize) - 1,
        -(w as isize),
        -(w as isize) + 1,
        -1,
        1,
        w as isize - 1,
        w as isize,
        w as isize + 1,
    ];
    let Flood {
        order,
        label,
        parent,
        peak,
        seed,
        nucleus,
        heap,
    } = flood;
    order.clear();
    order.extend(
        distance
            .iter()
            .enumerate()
            .filter(|&(_, &d)| d > 0)
            .map(|(i, &d)| (d, i as u32)),
    );
    order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    label.clear();
    label.resize(distance.len(), u32::MAX);
    parent.clear();
    peak.clear();
    seed.clear();
    for &(d, i) in order.iter() {
        let mut roots = [u32::MAX; 8];
        let mut count = 0;
        for off in offsets {
            let r = label[(i as isize + off) as usize];
            if r == u32::MAX {
                continue;
            }
            let root = find(parent, r);
            if !roots[..count].contains(&root) {
                roots[count] = root;
                count += 1;
            }
        }
        let roots = &mut roots[..count];
        if roots.is_empty() {
            label[i as usize] = parent.len() as u32;
            parent.push(parent.len() as u32);
            peak.push(d);
            seed.push(i);
            continue;
        }
        roots.sort_unstable_by(|&a, &b| peak[b as usize].cmp(&peak[a as usize]).then(a.cmp(&b)));
        let main = roots[0];
        for &r in &roots[1..] {
            if peak[r as usize] - d < depth {
                parent[r as usize] = main;
            }
        }
        label[i as usize] = main;
    }

    label.fill(u32::MAX);
    nucleus.clear();
    heap.clear();
    let mut count = 0u32;
    for r in 0..parent.len() as u32 {
        if find(parent, r) == r {
            let at = seed[r as usize];
            label[at as usize] = count;
            heap.push((peak[r as usize], Reverse(count), at));
            count += 1;
        }
    }
    let mut pushed = count;
    while let Some((_, _, i)) = heap.pop() {
        let k = label[i as usize];
        for off in offsets {
            let j = (i as isize + off) as usize;
            if distance[j] > 0 && label[j] == u32::MAX {
                label[j] = k;
                heap.push((distance[j], Reverse(pushed), j as u32));
                pushed += 1;
            }
        }
    }
    count
}

/// Running statistics of one region, in mask pixels.
#[derive(Clone, Copy, Debug, Default)]
struct RegionStats {
    /// The nucleus' number in the component.
    label: u32,
    area: u32,
    sum_x: u64,
    sum_y: u64,
    density: f32,
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
}

impl RegionStats {
    fn new(label: u32) -> Self {
        RegionStats {
            label,
            x0: u32::MAX,
            y0: u32::MAX,
            ..RegionStats::default()
        }
    }

    fn add(&mut self, x: u32, y: u32, density: f32) {
        self.area += 1;
        self.sum_x += u64::from(x);
        self.sum_y += u64::from(y);
        self.density += density;
        self.x0 = self.x0.min(x);
        self.y0 = self.y0.min(y);
        self.x1 = self.x1.max(x);
        self.y1 = self.y1.max(y);
    }
}

/// Area over convex-hull area of the pixels labelled `root` within the local box
/// `lo..=hi`; the hull is taken over pixel corners, so a filled square scores 1.
#[allow(clippy::too_many_arguments)]
fn solidity(
    label: &[u32],
    w: usize,
    root: u32,
    lo: [u32; 2],
    hi: [u32; 2],
    area: u32,
    points: &mut Vec<(i32, i32)>,
    hull: &mut Vec<(i32, i32)>,
) -> f32 {
    points.clear();
    for y in lo[1]..=hi[1] {
        let row = &label[y as usize * w..][..w];
        let mut span: Option<(u32, u32)> = None;
        for x in lo[0]..=hi[0] {
            if row[x as usize] == root {
                span = Some(span.map_or((x, x), |(a, _)| (a, x)));
            }
        }
        if let Some((a, b)) = span {
            let (a, b, y) = (a as i32, b as i32 + 1, y as i32);
            points.extend_from_slice(&[(a, y), (a, y + 1), (b, y), (b, y + 1)]);
        }
    }
    let hull_area = convex_hull_area(points, hull);
    if hull_area <= 0.0 {
        return 0.0;
    }
    (area as f32 / hull_area).min(1.0)
}

/// Area of the convex hull of `points` (Andrew's monotone chain; sorts `points`).
fn convex_hull_area(points: &mut [(i32, i32)], hull: &mut Vec<(i32, i32)>) -> f32 {
    points.sort_unstable();
    hull.clear();
    if points.len() < 3 {
        return 0.0;
    }
    let cross = |o: (i32, i32), a: (i32, i32), b: (i32, i32)| -> i64 {
        i64::from(a.0 - o.0) * i64::from(b.1 - o.1) - i64::from(a.1 - o.1) * i64::from(b.0 - o.0)
    };
    for &p in points.iter() {
        while hull.len() >= 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0 {
            hull.pop();
        }
        hull.push(p);
    }
    let lower = hull.len() + 1;
    for &p in points.iter().rev().skip(1) {
        while hull.len() >= lower && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0 {
            hull.pop();
        }
        hull.push(p);
    }
    hull.pop();
    let mut twice = 0i64;
    for (k, &a) in hull.iter().enumerate() {
        let b = hull[(k + 1) % hull.len()];
        twice += i64::from(a.0) * i64::from(b.1) - i64::from(b.0) * i64::from(a.1);
    }
    twice.unsigned_abs() as f32 * 0.5
}

#[cfg(test)]
mod tests;
