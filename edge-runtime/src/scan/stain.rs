//! The slide's own stain colours, estimated from its frames (Macenko et al., "A method for
//! normalizing histology slides for quantitative analysis", ISBI 2009), for the detector's
//! colour deconvolution in place of fixed Wright-Giemsa directions.
//!
//! Every stained pixel's optical density is a mix of two stains, so the densities lie near
//! the plane the two stain directions span: the plane of the two largest eigenvectors of
//! their covariance. Within it, each pixel's direction is an angle; the angles near either
//! end of their range (the 1st and 99th percentiles, robust to a few odd pixels) are the
//! purest pixels of each stain, and their directions are the stains'. The one nearer the
//! default nuclear direction is the nuclear stain.
//!
//! The method needs both stains on the frames: a slide whose frames show no nucleus would
//! give two shades of red cell. So an estimate is refused, and the defaults kept, when
//! there are too few stained pixels, when the two directions are too close to unmix, or
//! when the nuclear one is far from any Romanowsky stain's (Wright, Giemsa, May-Grünwald,
//! Leishman: chromatin absorbs green most).

use leukoscope_core::raster::RgbImage;
use nalgebra::{Matrix3, SymmetricEigen, Vector2, Vector3};
use serde::{Deserialize, Serialize};

use super::blocks::FrameBlocks;
use super::detect::DetectorConfig;

/// Side, in pixels, of the blocks a frame is averaged over before its densities are taken:
/// the colour of a stain does not depend on the scale, and averaging removes sensor and
/// JPEG noise that would widen the angles' spread.
const BLOCK: u32 = 4;
/// Least optical density, in the red and the green channel, of a block that takes part
/// (Macenko's β): clear glass and the palest cytoplasm carry too little stain for their
/// direction to be read. Macenko asks it of every channel, which leaves out the nuclei of
/// a stain that hardly absorbs blue (the synthetic slides' Giemsa); asking it of the
/// density's length lets in the faint blue cast of some cameras' glass (on bcd's frames
/// the counterstain then came out pure blue, and precision fell from 0.89 to 0.43).
/// Both Romanowsky stains absorb green most, and red too.
const MIN_DENSITY: f32 = 0.15;
/// Least length of a block's optical density for its direction to count towards the
/// stains' ends.
const ANGLE_DENSITY: f32 = 0.5;
/// Percentile, at either end of the angles, taken as a pure stain (Macenko's α).
const PURE_PERCENTILE: f32 = 0.25;
/// Blocks kept at most per frame (evenly spaced), so that every frame weighs about alike.
const SAMPLES_PER_FRAME: usize = 20_000;
/// Fewest stained blocks an estimate needs.
const MIN_SAMPLES: usize = 1_000;
/// Least angle, in degrees, between the two stains (under it, unmixing amplifies noise).
const MIN_SEPARATION_DEG: f32 = 10.0;
/// Largest angle, in degrees, between the estimated nuclear stain and the default one.
const MAX_NUCLEAR_DRIFT_DEG: f32 = 30.0;

/// The two stains' optical-density directions, unit length, each channel at least 0.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StainVectors {
    /// The nuclear stain (R, G, B).
    pub nucleus: [f32; 3],
    /// The counterstain: red cells and cytoplasm.
    pub counterstain: [f32; 3],
    /// Stained blocks the estimate rests on.
    pub samples: u32,
}

impl StainVectors {
    /// `config` with these directions.
    pub fn apply(&self, config: &mut DetectorConfig) {
        config.nucleus_stain = self.nucleus;
        config.counterstain = self.counterstain;
    }
}

/// Why the stains could not be estimated (the defaults then stay).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StainError {
    /// Too little of the frames is stained.
    #[error("only {found} stained blocks in the frames read, the stains need {MIN_SAMPLES}")]
    TooFewStained {
        /// Stained blocks found.
        found: usize,
    },
    /// The frames show one colour of stain only (no nuclei among them, say).
    #[error(
        "the frames' stains lie {degrees:.1} degrees apart, under {MIN_SEPARATION_DEG}: one stain only (no nuclei?)"
    )]
    OneStain {
        /// Angle between the two directions found.
        degrees: f32,
    },
    /// The nuclear direction found is not a Romanowsky stain's.
    #[error(
        "the nuclear stain found, {nucleus:?}, is {degrees:.0} degrees off the default's, more than {MAX_NUCLEAR_DRIFT_DEG}: not a Wright/Giemsa-type stain, or no nuclei in the frames"
    )]
    NotRomanowsky {
        /// The direction found.
        nucleus: [f32; 3],
        /// Its angle to the default.
        degrees: f32,
    },
}

/// Gathers stained blocks from a slide's frames and estimates its stains.
#[derive(Clone, Debug)]
pub struct StainMeter {
    blocks: FrameBlocks,
    samples: Vec<Vector3<f32>>,
    default_nucleus: Vector3<f32>,
}

impl StainMeter {
    /// A meter whose nuclear stain is told from the counterstain by its nearness to
    /// `config`'s nuclear direction, glass taken at `config`'s percentile.
    pub fn new(config: &DetectorConfig) -> Self {
        StainMeter {
            blocks: FrameBlocks::new(BLOCK, config.glass_percentile),
            samples: Vec::new(),
            default_nucleus: Vector3::from(config.nucleus_stain).normalize(),
        }
    }

    /// Adds the stained blocks of `frame`.
    pub fn measure(&mut self, frame: &RgbImage) {
        self.blocks.shrink(frame);
        let glass = self.blocks.glass();
        let per_block = (BLOCK * BLOCK) as f32;
        let density = |sum: u16, level: f32| {
            let light = (f32::from(sum) / per_block).max(0.5);
            -(light / level.max(1.0)).ln()
        };
        let sums = self.blocks.sums();
        let blocks = sums.len() / 3;
        let stride = blocks.div_ceil(SAMPLES_PER_FRAME).max(1);
        for px in sums.chunks_exact(3).step_by(stride) {
            let od = Vector3::new(
                density(px[0], glass[0]),
                density(px[1], glass[1]),
                density(px[2], glass[2]),
            );
            if od.x >= MIN_DENSITY && od.y >= MIN_DENSITY {
                self.samples.push(od);
            }
        }
    }

    /// Stained blocks gathered so far.
    pub fn samples(&self) -> usize {
        self.samples.len()
    }

    /// The stains of the frames measured so far.
    pub fn estimate(&self) -> Result<StainVectors, StainError> {
        estimate(&self.samples, &self.default_nucleus)
    }
}

/// The two stains of `samples` (optical densities), the nuclear one told by its nearness
/// to `default_nucleus` (unit length).
fn estimate(
    samples: &[Vector3<f32>],
    default_nucleus: &Vector3<f32>,
) -> Result<StainVectors, StainError> {
    let n = samples.len();
    if n < MIN_SAMPLES {
        return Err(StainError::TooFewStained { found: n });
    }
    let mean = samples.iter().sum::<Vector3<f32>>() / n as f32;
    let covariance = samples
        .iter()
        .map(|s| {
            let d = (s - mean).cast::<f64>();
            d * d.transpose()
        })
        .sum::<Matrix3<f64>>()
        / n as f64;
    let eigen = SymmetricEigen::new(covariance);
    let mut order = [0, 1, 2];
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let axis = |k: usize| -> Vector3<f32> {
        let v = eigen
            .eigenvectors
            .column(order[k])
            .into_owned()
            .cast::<f32>();
        // Densities are positive: point each axis into the positive octant.
        if v.sum() < 0.0 { -v } else { v }
    };
    let (u, v) = (axis(0), axis(1));
    // The angles of the denser samples only: a faint block's direction is mostly its
    // sensor's and the JPEG's noise, and the extremes would be that noise.
    let mut angles: Vec<f32> = samples
        .iter()
        .filter(|s| s.norm() >= ANGLE_DENSITY)
        .map(|s| s.dot(&v).atan2(s.dot(&u)))
        .collect();
    if angles.len() < MIN_SAMPLES {
        return Err(StainError::TooFewStained {
            found: angles.len(),
        });
    }
    angles.sort_by(f32::total_cmp);
    let m = angles.len();
    let at = |percentile: f32| {
        let i = ((percentile / 100.0) * (m - 1) as f32).round() as usize;
        angles[i.min(m - 1)]
    };
    let direction = |angle: f32| -> Vector3<f32> {
        let p = Vector2::new(angle.cos(), angle.sin());
        let d = u * p.x + v * p.y;
        let d = if d.sum() < 0.0 { -d } else { d };
        d.map(|c| c.max(0.0)).normalize()
    };
    let (a, b) = (
        direction(at(PURE_PERCENTILE)),
        direction(at(100.0 - PURE_PERCENTILE)),
    );
    let degrees =
        |x: &Vector3<f32>, y: &Vector3<f32>| x.dot(y).clamp(-1.0, 1.0).acos().to_degrees();
    let separation = degrees(&a, &b);
    if separation < MIN_SEPARATION_DEG {
        return Err(StainError::OneStain {
            degrees: separation,
        });
    }
    let (nucleus, counterstain) = if a.dot(default_nucleus) >= b.dot(default_nucleus) {
        (a, b)
    } else {
        (b, a)
    };
    let drift = degrees(&nucleus, default_nucleus);
    if drift > MAX_NUCLEAR_DRIFT_DEG {
        return Err(StainError::NotRomanowsky {
            nucleus: nucleus.into(),
            degrees: drift,
        });
    }
    Ok(StainVectors {
        nucleus: nucleus.into(),
        counterstain: counterstain.into(),
        samples: n as u32,
    })
}

#[cfg(test)]
mod tests;
