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
//! 4. **Morphology.** An opening by reconstruction: an object of the mask stays, whole,
//!    when at least a third of its blocks survive a 2x2 erosion, so specks, streaks and
//!    ragged noise go while a neutrophil's thin lobes and the strands between them stay (a
//!    3x3 opening, used before, removed anything under three blocks across: on blocks of
//!    about 1 µm, every thin lobe, and the strands that make lobes one nucleus). Enclosed
//!    holes (pale nucleoli, vacuoles) are filled. There is no closing: the block averaging
//!    has already smoothed coarse chromatin, and a closing would fill the necks between
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
//! 7. **Lobes joined** (`lobes`): parts of the split mask whose convex hulls come within
//!    [`DetectorConfig::lobe_gap_um`] are one cell (a neutrophil's lobes, an eosinophil's
//!    two, a band's bends: the strands between them are thinner than a block, so the
//!    opening cuts them), unless both are whole round nuclei of at least 30 µm² (two
//!    lymphocytes side by side), and never wider in all than
//!    [`DetectorConfig::max_nucleus_um`]. On blocks finer than 0.8 µm, two whole parts
//!    are still one cell when both are no bigger than an eosinophil's lobes (45 and
//!    75 µm²), they come within 2.4 µm, and the band 1 to 2 µm outside their joint hull is
//!    mostly stained: one cell body around both. Parts down to 3 µm² take part, so a lobe
//!    smaller than the smallest nucleus still joins its cell.
//! 8. **Size and shape filters** in micrometres: nuclear area within
//!    [`DetectorConfig::min_nucleus_um2`]..=[`DetectorConfig::max_nucleus_um2`] (platelets
//!    and debris are smaller, clumps larger), and solidity (area over convex-hull area) at
//!    least [`DetectorConfig::min_solidity`] (streaks and ragged debris are not convex);
//!    several lobes together need only 0.35 over their joint hull, which a scatter of
//!    platelets does not reach.
//!
//! All working memory lives in the [`CellDetector`] and is reused from frame to frame. Steps
//! 3 to 5 are in [`super::mask`], step 6 and the measures of step 8 in `split`, step 7 in `lobes`.

mod lobes;
mod split;

use leukoscope_core::raster::RgbImage;
use nalgebra::{Matrix3, Vector3};
use serde::{Deserialize, Serialize};

use super::blocks::FrameBlocks;
use super::mask::{Component, chamfer, erode_2x2, fill_holes, label, otsu, reconstruct};
use lobes::{Group, LobeRule, Parts, StainedBlocks, WrappedLobes};
use split::{Flood, RegionStats, solidity, split};

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
    /// (default 0.2; nuclei reach 0.8 to 1.8, red cells stay near 0, cytoplasm under 0.4;
    /// at 0.35 the palest nuclei of a thinly stained real smear are lost: bcd recall 0.916,
    /// against 0.937 at 0.2, 0.14 and 0.1 alike).
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
    /// Nuclear parts whose outlines come this close, in micrometres, are lobes of one
    /// cell (default 3.25: a neutrophil's lobes are joined by strands under a micrometre
    /// long, an eosinophil's two lobes lie up to about 3 apart across its granules, and
    /// the margin covers a measured scale a few percent high; two lymphocytes side by
    /// side can come as close, and stay two as whole round nuclei). On raabin's frames at
    /// their boxes' scale, 2 left 10 cells counted twice and 3 left 5; at the measured
    /// scale (6 % high), 3 left 2 and 3.25 none.
    pub lobe_gap_um: f32,
    /// Widest a nucleus with its lobes can be, in micrometres (default 18; lobes are
    /// not joined beyond it).
    pub max_nucleus_um: f32,
    /// Where the two stain directions come from (default `"fixed"`: the two above).
    pub stains: StainSource,
}

/// Where the detector's stain directions come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StainSource {
    /// `nucleus_stain` and `counterstain` as set.
    #[default]
    Fixed,
    /// Estimated from each slide's first frames (`scan::stain`, Macenko's method), with
    /// `nucleus_stain` telling the nuclear stain from the counterstain; the set directions
    /// stay when the estimate is refused. On the two labs measured it did not help (see
    /// docs/edge.md), so it is not the default.
    Slide,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            um_per_px: 0.42,
            mask_um_per_px: 1.25,
            nucleus_stain: [0.55, 0.83, 0.06],
            counterstain: [0.72, 0.66, 0.20],
            min_nuclear_density: 0.2,
            stained_density: 0.2,
            glass_percentile: 99.0,
            min_nucleus_um2: 12.0,
            max_nucleus_um2: 450.0,
            min_solidity: 0.6,
            split_depth_um: 1.5,
            lobe_gap_um: 3.25,
            max_nucleus_um: 18.0,
            stains: StainSource::Fixed,
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
    /// 1 where a block's total density passes [`DetectorConfig::stained_density`]; filled only
    /// when the wrapped-lobes check runs (fine blocks).
    stained: Vec<u8>,
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
    members: Vec<u32>,
    hull: Vec<(i32, i32)>,
    points: Vec<(i32, i32)>,
    parts: Parts,
    groups: Vec<Group>,
}

/// Bins of the Otsu histogram over nuclear density `0..OTSU_MAX`.
const OTSU_BINS: usize = 256;
const OTSU_MAX: f32 = 3.0;
/// Smallest nuclear part kept for grouping, in square micrometres: a neutrophil's lobe
/// can be 4.
const MIN_PART_UM2: f32 = 3.0;
/// A part at least this big (and round) is a whole nucleus of its own, never another
/// nucleus' lobe: the smallest lymphocyte nuclei are about 30 square micrometres.
const WHOLE_NUCLEUS_UM2: f32 = 30.0;
/// Largest the smaller and the larger of an eosinophil's two lobes are, in square
/// micrometres: two whole parts this small, wrapped in one cell body, are its lobes. They
/// measured 31 to 40 on raabin's frames and 34 and 61 on bcd's (68 at the scale measured
/// from its red cells, 5 % high), where the smaller of two cells side by side had 49 and
/// more.
const LOBE_NUCLEUS_UM2: [f32; 2] = [45.0, 75.0];
/// Farthest apart, in micrometres, two whole parts wrapped in one body can be and still
/// be lobes: an eosinophil's lobes came 0 to 2.3 apart on raabin's and bcd's frames,
/// while the nuclei of touching cells on crowded synthetic slides, parted by both cells'
/// cytoplasm, came 2.5 and more.
const LOBE_GAP_UM: f32 = 2.4;
/// The band outside two whole parts' joint hull whose staining tells one cell body from
/// two cells side by side, in micrometres.
const BODY_BAND_UM: [f32; 2] = [1.0, 2.0];
/// Coarsest mask blocks, in micrometres, on which two whole parts are ever read as lobes:
/// the band and the gap above need blocks under a micrometre. On aria's frames (blocks of
/// 1.18 µm), without this limit and the larger lobe's, the rule joined 262 pairs of
/// touching blasts and lymphocytes among 10,000 cells; on bcd's (0.74) and raabin's (0.44)
/// it joins eosinophils' lobes only.
const WRAPPED_MAX_BLOCK_UM: f32 = 0.8;
/// Least solidity of several parts over their joint hull: a neutrophil's lobes score
/// 0.5 to 0.8, a scatter of specks much less.
const GROUP_MIN_SOLIDITY: f32 = 0.35;
/// An object of the mask is kept when at least one in this many of its blocks survives a
/// 2x2 erosion: a round nucleus keeps most of them, a lobe or strand two blocks wide
/// about half, noise and ragged debris few.
const SEED_SHARE_INV: usize = 3;
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
        check(
            "lobe_gap_um",
            c.lobe_gap_um,
            (0.0..=10.0).contains(&c.lobe_gap_um),
            "between 0 and 10",
        )?;
        check(
            "max_nucleus_um",
            c.max_nucleus_um,
            (1.0..=100.0).contains(&c.max_nucleus_um),
            "between 1 and 100",
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
        // Opening by reconstruction: what the erosion leaves seeds the objects kept, whole.
        // No closing: it would fill the necks between touching nuclei, and averaging the
        // blocks has already smoothed the chromatin's clumps.
        erode_2x2(&s.mask, &mut s.spare, mw, mh);
        reconstruct(
            &s.spare,
            &mut s.mask,
            mw,
            mh,
            SEED_SHARE_INV,
            &mut s.stack,
            &mut s.members,
        );
        fill_holes(&mut s.mask, mw, mh, &mut s.stack);
        label(
            &s.mask,
            mw,
            mh,
            &mut s.labels,
            &mut s.parents,
            &mut s.components,
        );
        s.parts.clear();
        for id in 0..s.components.len() {
            self.split_component(id as u32, mw);
        }
        self.group_parts(mw, mh, &mut cells);
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
        // Only the wrapped-lobes check reads the stained mask, so coarse blocks skip it.
        let keep_mask = self.wraps_lobes();
        let s = &mut self.scratch;
        s.density.clear();
        s.density.reserve(sums.len() / 3);
        s.stained.clear();
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
            let is_stained = t0[r] + t1[g] + t2[b] > limit;
            if keep_mask {
                s.stained.push(u8::from(is_stained));
            }
            if is_stained {
                stained += 1;
                let bin = ((d * scale) as usize).min(OTSU_BINS - 1);
                histogram[bin] += 1;
            }
        }
        let otsu = otsu(&histogram) as f32 / scale;
        (otsu.max(self.config.min_nuclear_density), stained)
    }

    /// Whether the blocks are fine enough to see the cytoplasm wrapped round two lobes.
    fn wraps_lobes(&self) -> bool {
        self.factor as f32 * self.config.um_per_px <= WRAPPED_MAX_BLOCK_UM
    }

    /// Splits component `id` into nuclear parts and keeps those big enough to be a lobe.
    fn split_component(&mut self, id: u32, mw: u32) {
        let s = &mut self.scratch;
        let comp = s.components[id as usize];
        if (comp.area as f32) < MIN_PART_UM2 / self.um2_per_block {
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
        let min_part = MIN_PART_UM2 / self.um2_per_block;
        for stat in &s.regions {
            if (stat.area as f32) < min_part {
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
            let offset = (comp.x0 as i32 - 1, comp.y0 as i32 - 1);
            s.parts.push(*stat, solidity, &s.hull, offset);
        }
    }

    /// The frame's nuclear parts grouped into cells, measured and filtered, appended to
    /// `cells`.
    fn group_parts(&mut self, mw: u32, mh: u32, cells: &mut Vec<DetectedCell>) {
        let wraps_lobes = self.wraps_lobes();
        let s = &mut self.scratch;
        let block_um = self.factor as f32 * self.config.um_per_px;
        let rule = LobeRule {
            gap: self.config.lobe_gap_um / block_um,
            max_extent: (self.config.max_nucleus_um / block_um).ceil() as u32,
            whole_area: (WHOLE_NUCLEUS_UM2 / self.um2_per_block).ceil() as u32,
            wrapped: wraps_lobes.then(|| WrappedLobes {
                smaller_area: (LOBE_NUCLEUS_UM2[0] / self.um2_per_block) as u32,
                larger_area: (LOBE_NUCLEUS_UM2[1] / self.um2_per_block) as u32,
                gap: LOBE_GAP_UM / block_um,
                body: BODY_BAND_UM.map(|um| um / block_um),
            }),
        };
        let stained = StainedBlocks {
            blocks: &s.stained,
            width: mw,
            height: mh,
        };
        s.groups.clear();
        s.parts.group(rule, stained, &mut s.groups);
        let f = self.factor as f32;
        for group in &s.groups {
            let stat = &group.stats;
            let area_um2 = stat.area as f32 * self.um2_per_block;
            if area_um2 < self.config.min_nucleus_um2 || area_um2 > self.config.max_nucleus_um2 {
                continue;
            }
            let least = if group.parts > 1 {
                GROUP_MIN_SOLIDITY
            } else {
                self.config.min_solidity
            };
            if group.solidity < least {
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
                solidity: group.solidity,
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

#[cfg(test)]
mod tests;
