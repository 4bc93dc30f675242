//! The frames' scale, measured from the slide's red cells: every smear carries its own
//! ruler, since a normal red cell is [`RED_CELL_UM`] across whatever the objective and
//! camera.
//!
//! Per frame (full resolution, after a 3x3 box smoothing against sensor noise):
//!
//! 1. **Optical density** of each pixel, summed over the channels, against the glass level
//!    (each channel's 95th percentile: glass is the brightest thing on a smear).
//! 2. **Glass and cells apart**: Otsu's threshold on the density splits the frame in two;
//!    the mask takes every pixel above [`MASK_LEVEL`] of the way from the glass class's
//!    mean to the cells' (low, so pale cells and blurred rims are in), then an opening,
//!    and holes filled (the central pallor).
//! 3. **Whole round single cells only**: components not cut by the frame's edge, at
//!    most [`MAX_ASPECT`] times longer one way than the other, filling at least
//!    [`MIN_FILL`] of the ellipse inscribed in their box. Overlapping cells, clumps,
//!    crenated and sickled cells fail one of these and are left out; a white cell or a
//!    platelet that passes is an outlier the trimmed median ignores.
//!
//! 4. **The cell's edge, not the mask's**: the mask's outline lies inside a cell's faint
//!    outer rim, the more so the blurrier the optics. Along 24 rays from the cell's centre
//!    the unsmoothed density is followed out to where it falls under [`FOOT_LEVEL`] of the
//!    way from glass to cells; the two outlines, at [`MASK_LEVEL`] and there, are
//!    extrapolated to clean glass (the glass class's most common density) where the rim's
//!    fall is resolved over a few pixels, else to the glass class's mean. On sharp frames the
//!    two outlines agree and nothing moves.
//!
//! Over the slide: the median diameter, again over those within 0.7 to 1.4 times it, is
//! [`RED_CELL_UM`]. On two labs' frames with a box drawn around every red cell (TXL-PBC),
//! the slide's diameter comes to 0.95 (`bcd`, 219 frames) and 0.94 (`raabin`, 500 frames)
//! of the boxes': annotators draw a box a little outside the cell, so the scale measured
//! here is 5.3 and 6.0 % coarser than the boxes' (`docs/edge.md`). On synthetic slides from
//! 0.05 to 0.6 um per pixel it is within 4.4 % of the truth.

use leukoscope_core::raster::RgbImage;
use serde::{Deserialize, Serialize};

use super::mask::{Component, Morph, fill_holes, label, morph, otsu};

/// Diameter of a normal red cell on a dried, stained smear, in micrometres (7.5 to 8;
/// Bain, *Blood Cells*, 5th ed.).
pub const RED_CELL_UM: f32 = 7.5;

/// Where the mask's edge lies between the glass class's mean density and the cells'.
const MASK_LEVEL: f32 = 0.35;
/// Least share of its box's inscribed ellipse a single round cell fills.
const MIN_FILL: f32 = 0.9;
/// Longest side over shortest side of the box of a single round cell.
const MAX_ASPECT: f32 = 1.25;
/// Fewest pixels a red cell covers (about 0.6 um per pixel and finer).
const MIN_AREA_PX: u32 = 50;
/// Where the rays find a cell's outer rim between the glass class's mean density and the
/// cells'.
const FOOT_LEVEL: f32 = 0.12;
/// Rays cast from a cell's centre.
const RAYS: usize = 24;
/// Least share of the rays that must find the rim (the rest run into a neighbour).
const MIN_RAY_SHARE: f32 = 0.6;
/// A systematic part of every stated uncertainty: how far a normal red cell's size
/// varies between healthy people (7.5 to 8 um: about 3 %).
const SYSTEMATIC: f32 = 0.03;
/// Fewest red cells a scale is stated from.
pub const MIN_RED_CELLS: usize = 10;
/// Percentile of each channel taken as the glass level.
const GLASS_PERCENTILE: f32 = 95.0;
/// Bins of the density histogram Otsu's threshold is taken on.
const DENSITY_BINS: usize = 256;

/// Where the frames' scale comes from: `auto` (measured from the red cells) or a number of
/// micrometres per pixel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScaleSetting {
    /// Measured from the slide's red cells.
    Auto,
    /// Given, in micrometres per pixel.
    Given(f32),
}

impl ScaleSetting {
    /// The number given; `None` for `auto`.
    pub fn given(self) -> Option<f32> {
        match self {
            ScaleSetting::Given(um) => Some(um),
            ScaleSetting::Auto => None,
        }
    }
}

impl<'de> Deserialize<'de> for ScaleSetting {
    /// A number of micrometres per pixel, or the string `"auto"` (as `board.toml` has it).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(v) => Ok(ScaleSetting::Given(v as f32)),
            Raw::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl std::str::FromStr for ScaleSetting {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.eq_ignore_ascii_case("auto") {
            return Ok(ScaleSetting::Auto);
        }
        match text.parse::<f32>() {
            Ok(v) if v.is_finite() && (0.01..=10.0).contains(&v) => Ok(ScaleSetting::Given(v)),
            _ => Err(format!(
                "`{}` is neither `auto` nor micrometres per pixel between 0.01 and 10",
                text.chars().take(40).collect::<String>()
            )),
        }
    }
}

/// The scale measured from a slide's red cells.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlideScale {
    /// Micrometres per pixel of the frames.
    pub um_per_px: f32,
    /// Relative standard uncertainty (0.04: plus or minus 4 %), from the spread of the
    /// cells' diameters and the spread of normal red cells' size.
    pub uncertainty: f32,
    /// The red cells it rests on.
    pub red_cells: usize,
}

/// The scale a slide was read at, and where it came from, as its report states it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum FrameScale {
    /// Given by the operator or by the board's calibration.
    Given {
        /// Micrometres per pixel.
        um_per_px: f32,
    },
    /// Measured from the slide's red cells.
    RedCells(SlideScale),
}

impl FrameScale {
    /// Micrometres per pixel.
    pub fn um_per_px(&self) -> f32 {
        match self {
            FrameScale::Given { um_per_px } => *um_per_px,
            FrameScale::RedCells(scale) => scale.um_per_px,
        }
    }
}

impl std::fmt::Display for FrameScale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameScale::Given { um_per_px } => write!(f, "{um_per_px:.4} um/px, as given"),
            FrameScale::RedCells(s) => write!(
                f,
                "{:.4} um/px +/- {:.1} %, measured from {} whole red cells taken as {RED_CELL_UM} um",
                s.um_per_px,
                s.uncertainty * 100.0,
                s.red_cells
            ),
        }
    }
}

/// Why no scale could be measured.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScaleError {
    /// Too few whole, single, round red cells in the frames.
    #[error(
        "only {found} whole single red cells were found (at least {MIN_RED_CELLS} are needed to measure the scale): give --um-per-px, or frames from the smear's monolayer"
    )]
    TooFewRedCells {
        /// How many were found.
        found: usize,
    },
}

/// One whole round red cell as measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeasuredRedCell {
    /// Centre in frame pixels.
    pub centre: (f32, f32),
    /// Diameter in frame pixels, edge to edge.
    pub diameter: f32,
}

/// Collects the diameters of a slide's whole round red cells, frame by frame; keeps its
/// working memory between frames.
#[derive(Clone, Debug, Default)]
pub struct RedCellMeter {
    diameters: Vec<f32>,
    /// The cells of the last frame measured.
    last: Vec<MeasuredRedCell>,
    density: Vec<f32>,
    /// The density unsmoothed, which the rays follow: a 3x3 smoothing would widen a small
    /// cell's rim by a pixel, 5 to 10 % of its size at 0.4 to 0.6 um per pixel.
    sharp: Vec<f32>,
    mask: Vec<u8>,
    spare: Vec<u8>,
    labels: Vec<u32>,
    parents: Vec<u32>,
    components: Vec<Component>,
    stack: Vec<u32>,
}

impl RedCellMeter {
    /// A meter with no cells yet.
    pub fn new() -> Self {
        RedCellMeter::default()
    }

    /// Red cells measured so far.
    pub fn red_cells(&self) -> usize {
        self.diameters.len()
    }

    /// The whole round red cells of the last frame measured.
    pub fn last_frame(&self) -> &[MeasuredRedCell] {
        &self.last
    }

    /// Measures the whole round red cells of `frame`; returns how many it held.
    pub fn measure(&mut self, frame: &RgbImage) -> usize {
        self.last.clear();
        let (w, h) = (frame.width(), frame.height());
        if w < 8 || h < 8 {
            return 0;
        }
        let Some(DensityLevels {
            glass,
            clear,
            cells,
        }) = self.density_levels(frame)
        else {
            return 0;
        };
        let level = glass + MASK_LEVEL * (cells - glass);
        let foot = glass + FOOT_LEVEL * (cells - glass);
        self.mask.clear();
        self.mask
            .extend(self.density.iter().map(|&d| u8::from(d > level)));
        self.spare.resize(self.mask.len(), 0);
        morph(&self.mask, &mut self.spare, w, h, Morph::Erode);
        morph(&self.spare, &mut self.mask, w, h, Morph::Dilate);
        fill_holes(&mut self.mask, w, h, &mut self.stack);
        label(
            &self.mask,
            w,
            h,
            &mut self.labels,
            &mut self.parents,
            &mut self.components,
        );
        // Taken out for the loop, which reads the density through `self`.
        let components = std::mem::take(&mut self.components);
        for c in &components {
            if c.x0 == 0 || c.y0 == 0 || c.x1 + 1 >= w || c.y1 + 1 >= h || c.area < MIN_AREA_PX {
                continue;
            }
            let (bw, bh) = ((c.x1 - c.x0 + 1) as f32, (c.y1 - c.y0 + 1) as f32);
            let fill = c.area as f32 / (std::f32::consts::FRAC_PI_4 * bw * bh);
            if bw.max(bh) > MAX_ASPECT * bw.min(bh) || fill < MIN_FILL {
                continue;
            }
            let outline = (bw * bh).sqrt();
            let centre = ((c.x0 + c.x1) as f32 / 2.0, (c.y0 + c.y1) as f32 / 2.0);
            if let Some(rim) = self.rim_diameter(w, h, centre, outline, foot) {
                // Out to clean glass where the rim is resolved (a linear fall over two
                // pixels or more a side), else only to the glass class's mean: a fall over
                // a pixel or so bends at its foot, and a long extrapolation overshoots.
                let target = if rim - outline >= 4.0 {
                    clear.min(foot)
                } else {
                    glass
                };
                let to_glass = (level - target) / (level - foot);
                let diameter = outline + (rim - outline) * to_glass;
                self.last.push(MeasuredRedCell { centre, diameter });
            }
        }
        self.components = components;
        self.diameters.extend(self.last.iter().map(|c| c.diameter));
        self.last.len()
    }

    /// The diameter at which the density around `centre` falls under `foot`: twice the
    /// median over the rays that find it between 0.8 and 1.6 times the outline's radius;
    /// `None` when too few do or the rays leave the frame.
    fn rim_diameter(
        &self,
        w: u32,
        h: u32,
        centre: (f32, f32),
        outline: f32,
        foot: f32,
    ) -> Option<f32> {
        let (r0, r1) = (0.4 * outline, 0.8 * outline);
        let (wf, hf) = ((w - 1) as f32, (h - 1) as f32);
        if centre.0 - r1 < 0.0 || centre.1 - r1 < 0.0 || centre.0 + r1 > wf || centre.1 + r1 > hf {
            return None;
        }
        let mut radii = Vec::with_capacity(RAYS);
        for k in 0..RAYS {
            let angle = k as f32 * std::f32::consts::TAU / RAYS as f32;
            let (dx, dy) = (angle.cos(), angle.sin());
            let mut r = r0;
            while r <= r1 {
                if self.density_at(w, centre.0 + r * dx, centre.1 + r * dy) < foot {
                    radii.push(r);
                    break;
                }
                r += 0.5;
            }
        }
        if (radii.len() as f32) < MIN_RAY_SHARE * RAYS as f32 {
            return None;
        }
        Some(2.0 * median(&mut radii))
    }

    /// The density at `(x, y)`, bilinear between pixels; the caller keeps it inside.
    fn density_at(&self, w: u32, x: f32, y: f32) -> f32 {
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let w = w as usize;
        let at = |xi: usize, yi: usize| self.sharp.get(yi * w + xi).copied().unwrap_or(0.0);
        let (xi, yi) = (x0 as usize, y0 as usize);
        let (x1, y1) = ((xi + 1).min(w - 1), yi + 1);
        let top = at(xi, yi) * (1.0 - fx) + at(x1, yi) * fx;
        let bottom = if fy > 0.0 {
            at(xi, y1) * (1.0 - fx) + at(x1, y1) * fx
        } else {
            top
        };
        top * (1.0 - fy) + bottom * fy
    }

    /// Fills `density` with each pixel's optical density (3x3 smoothed, summed over the
    /// channels) and returns the mean density of the glass and of the cells either side of
    /// Otsu's threshold; `None` for a frame without contrast.
    fn density_levels(&mut self, frame: &RgbImage) -> Option<DensityLevels> {
        let (w, h) = (frame.width() as usize, frame.height() as usize);
        let smooth = box3(frame.as_raw(), w, h);
        let mut glass = [0f32; 3];
        for (c, level) in glass.iter_mut().enumerate() {
            let mut histogram = [0u32; 256];
            for px in smooth.chunks_exact(3) {
                histogram[usize::from(px[c])] += 1;
            }
            *level = f32::from(percentile(&histogram, GLASS_PERCENTILE)).max(1.0);
        }
        let luts: Vec<[f32; 256]> = glass
            .iter()
            .map(|&g| {
                let mut lut = [0f32; 256];
                for (v, od) in lut.iter_mut().enumerate() {
                    *od = (-((v as f32).max(0.5) / g).ln()).max(0.0);
                }
                lut
            })
            .collect();
        let od = |px: &[u8]| {
            luts[0][usize::from(px[0])] + luts[1][usize::from(px[1])] + luts[2][usize::from(px[2])]
        };
        self.density.clear();
        self.density.extend(smooth.chunks_exact(3).map(od));
        self.sharp.clear();
        self.sharp.extend(frame.as_raw().chunks_exact(3).map(od));
        // The histogram spans the densest 0.5 % out, so a few black specks do not squeeze
        // glass and cells into a handful of bins.
        let mut sorted = self.density.clone();
        let top_at = ((sorted.len() - 1) as f32 * 0.995) as usize;
        let (_, &mut top, _) = sorted.select_nth_unstable_by(top_at, f32::total_cmp);
        if top <= 1e-3 {
            return None;
        }
        let scale = DENSITY_BINS as f32 / top;
        let mut histogram = [0u32; DENSITY_BINS];
        for &d in &self.density {
            histogram[((d * scale) as usize).min(DENSITY_BINS - 1)] += 1;
        }
        let split = otsu(&histogram);
        let mean = |bins: &[u32], first: usize| {
            let n: f64 = bins.iter().map(|&b| f64::from(b)).sum();
            let sum: f64 = bins
                .iter()
                .enumerate()
                .map(|(i, &b)| (first + i) as f64 * f64::from(b))
                .sum();
            (n > 0.0).then(|| ((sum / n) as f32 + 0.5) / scale)
        };
        // The glass at its most common density, as well as its mean: the mean leans towards
        // the faint rims of the cells, and extrapolating to it would stop short of their
        // edge (by 4 % of a red cell at 0.05 um per pixel).
        let clear = histogram[..split]
            .iter()
            .enumerate()
            .max_by_key(|&(_, &n)| n)
            .map(|(i, _)| (i as f32 + 0.5) / scale)?;
        Some(DensityLevels {
            glass: mean(&histogram[..split], 0)?,
            clear,
            cells: mean(&histogram[split..], split)?,
        })
    }

    /// The slide's scale from the red cells measured so far.
    pub fn scale(&self) -> Result<SlideScale, ScaleError> {
        let found = self.diameters.len();
        if found < MIN_RED_CELLS {
            return Err(ScaleError::TooFewRedCells { found });
        }
        let mut all = self.diameters.clone();
        let first = median(&mut all);
        let mut kept: Vec<f32> = all
            .into_iter()
            .filter(|&d| d >= 0.7 * first && d <= 1.4 * first)
            .collect();
        let n = kept.len();
        if n < MIN_RED_CELLS {
            return Err(ScaleError::TooFewRedCells { found: n });
        }
        let diameter = median(&mut kept);
        let mut deviations: Vec<f32> = kept.iter().map(|d| (d - diameter).abs()).collect();
        let mad = median(&mut deviations);
        // The standard error of a median is about 1.25 times that of a mean; 1.4826 MAD
        // is the standard deviation of a normal spread.
        let statistical = 1.2533 * 1.4826 * mad / diameter / (n as f32).sqrt();
        Ok(SlideScale {
            um_per_px: RED_CELL_UM / diameter,
            uncertainty: statistical.hypot(SYSTEMATIC),
            red_cells: n,
        })
    }
}

/// A frame's density levels either side of Otsu's threshold.
struct DensityLevels {
    /// The mean of the glass class.
    glass: f32,
    /// The most common density of the glass class: clean glass.
    clear: f32,
    /// The mean of the cells class.
    cells: f32,
}

/// The value at `p` percent of an 8-bit histogram.
fn percentile(histogram: &[u32; 256], p: f32) -> u8 {
    let total: u64 = histogram.iter().map(|&n| u64::from(n)).sum();
    let wanted = (total as f64 * f64::from(p) / 100.0).ceil() as u64;
    let mut seen = 0u64;
    for (v, &n) in histogram.iter().enumerate() {
        seen += u64::from(n);
        if seen >= wanted.max(1) {
            return v as u8;
        }
    }
    255
}

/// The median of `values` (reordered); the mean of the middle two for an even count.
fn median(values: &mut [f32]) -> f32 {
    values.sort_by(f32::total_cmp);
    let n = values.len();
    match n {
        0 => f32::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Interleaved RGB bytes smoothed by a 3x3 box (edges repeated).
fn box3(rgb: &[u8], w: usize, h: usize) -> Vec<u8> {
    let mut rows = vec![0u16; rgb.len()];
    for y in 0..h {
        let row = &rgb[y * w * 3..(y + 1) * w * 3];
        let out = &mut rows[y * w * 3..(y + 1) * w * 3];
        for x in 0..w {
            let (l, r) = (x.saturating_sub(1), (x + 1).min(w - 1));
            for c in 0..3 {
                out[x * 3 + c] = u16::from(row[l * 3 + c])
                    + u16::from(row[x * 3 + c])
                    + u16::from(row[r * 3 + c]);
            }
        }
    }
    let mut smooth = vec![0u8; rgb.len()];
    for y in 0..h {
        let (up, down) = (y.saturating_sub(1), (y + 1).min(h - 1));
        for i in 0..w * 3 {
            let sum = rows[up * w * 3 + i] + rows[y * w * 3 + i] + rows[down * w * 3 + i];
            smooth[y * w * 3 + i] = ((sum + 4) / 9) as u8;
        }
    }
    smooth
}

#[cfg(test)]
mod tests;
