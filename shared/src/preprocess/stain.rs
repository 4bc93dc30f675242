//! Stain normalization: bringing smears stained and scanned in different labs to one colour
//! appearance before the network sees them.
//!
//! Three methods, each working on the resized image in place:
//! - grey: colour dropped, each pixel its luma, so no lab's stain hue reaches the network.
//! - Reinhard et al. (2001): match the per-channel mean and spread in Ruderman's lαβ space.
//! - Macenko et al. (2009): estimate the haematoxylin and eosin optical-density vectors of the
//!   image, unmix each pixel into the two stain concentrations, rescale them to a reference and
//!   remix with the reference stains.
//!
//! Everything here uses `libm` and nalgebra on `libm`, with sums in a fixed order, so the same
//! image gives the same bits on a workstation and on a microcontroller.

use alloc::vec::Vec;

use nalgebra::{Matrix3, SymmetricEigen, Vector3};
use serde::{Deserialize, Serialize};

use super::PreprocessError;
use crate::raster::RgbView;

/// Which stain normalization runs before the per-channel normalization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StainNormalization {
    /// Colours pass through unchanged.
    None,
    /// Reinhard colour transfer toward a target in lαβ space.
    Reinhard(ReinhardTarget),
    /// Macenko stain-vector normalization toward target H&E stains.
    Macenko(MacenkoTarget),
    /// Colour dropped: each pixel's three channels become its luma (ITU-R BT.601). A cell's
    /// shape, texture and lightness stay; its stain's hue, which says more about the lab
    /// than about the cell, goes.
    Grey,
}

/// The colour statistics Reinhard normalization moves every image to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReinhardTarget {
    /// Mean of `l`, `α`, `β` (Ruderman et al., LMS with base-10 logarithms, RGB scaled to 0..1).
    pub mean: [f32; 3],
    /// Standard deviation of `l`, `α`, `β`; each must be positive.
    pub std: [f32; 3],
}

/// The stains and stain amounts Macenko normalization moves every image to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MacenkoTarget {
    /// Unit optical-density vectors (R, G, B) of haematoxylin, then eosin.
    pub stains: [[f32; 3]; 2],
    /// The robust maximum (99th percentile) concentration of each stain.
    pub max_concentration: [f32; 2],
}

/// ITU-R BT.601 weights of red, green and blue in a pixel's luma (the weights JPEG's Y uses).
const LUMA: [f32; 3] = [0.299, 0.587, 0.114];

/// lαβ spreads below this (in log10 units, well under one grey level) count as flat: scaling
/// them up would turn rounding noise into colour.
const MIN_SPREAD: f32 = 1e-4;

/// Lowest optical density every channel of a pixel needs to count as stained rather than
/// background (the usual Macenko β).
const BACKGROUND_OD: f32 = 0.15;

/// Percentiles of the stain angle that give the two extreme stain vectors (the usual α = 1 %).
const ANGLE_PERCENTILE: f64 = 1.0;

/// Percentile of a concentration taken as its robust maximum.
const CONCENTRATION_PERCENTILE: f64 = 99.0;

/// Fewest stained pixels the stain estimate trusts, in absolute terms ...
const MIN_STAINED: usize = 16;
/// ... and as a divisor of the pixels considered (1 %).
const MIN_STAINED_DIVISOR: usize = 100;

/// Two stain vectors closer than this (the squared sine of their angle, about 1.8 degrees) cannot
/// be told apart, and unmixing with them would amplify noise without bound.
const MIN_STAIN_SEPARATION: f64 = 1e-3;

/// A stain whose robust maximum concentration is below this is essentially absent; it is left
/// unscaled, because rescaling it to the target would only amplify noise.
const MIN_MAX_CONCENTRATION: f32 = 0.05;

impl StainNormalization {
    /// Checks the target's numbers.
    pub fn validate(&self) -> Result<(), PreprocessError> {
        match self {
            StainNormalization::None | StainNormalization::Grey => Ok(()),
            StainNormalization::Reinhard(target) => target.validate(),
            StainNormalization::Macenko(target) => target.validate(),
        }
    }

    /// Normalizes the channel-major 0..255 `planes` in place; pixels flagged in `mask` (empty
    /// for none) take no part in the statistics. `values` is reused working memory.
    pub(crate) fn apply(&self, planes: &mut [f32], mask: &[bool], values: &mut Vec<f32>) {
        match self {
            StainNormalization::None => {}
            StainNormalization::Reinhard(target) => reinhard(planes, mask, target),
            StainNormalization::Macenko(target) => macenko(planes, mask, target, values),
            StainNormalization::Grey => map_planes(planes, |[r, g, b]| {
                let luma = LUMA[0] * r + LUMA[1] * g + LUMA[2] * b;
                [luma; 3]
            }),
        }
    }
}

impl ReinhardTarget {
    /// A Romanowsky-stained blood smear cut into 24 µm cell crops: the per-crop lαβ statistics
    /// of six labs' crops (aria-4class, PBC, Zheng's two sets, BCD, Raabin), averaged per lab
    /// and then across labs, rounded. Pale pink plasma and red cells around a purple nucleus;
    /// a target between the labs, so no lab's colours move far.
    pub fn blood_smear() -> Self {
        ReinhardTarget {
            mean: [-0.29, -0.005, 0.010],
            std: [0.195, 0.072, 0.0095],
        }
    }

    /// The lαβ statistics of a reference image (all of its pixels).
    ///
    /// Fails on an empty image, and on an image flat in some lαβ channel (its spread would
    /// be zero, and every normalized image would collapse onto one value there).
    pub fn fit(image: RgbView<'_>) -> Result<Self, PreprocessError> {
        non_empty(image)?;
        let (mean, std) = mean_std(&Mapped(ViewPixels(image), rgb_to_lab));
        if std.iter().any(|&s| s < MIN_SPREAD) {
            return Err(PreprocessError::DegenerateReference {
                reason: "a colour channel of the reference has no spread",
            });
        }
        Ok(ReinhardTarget { mean, std })
    }

    /// Checks that the means are finite and the spreads positive and finite.
    pub fn validate(&self) -> Result<(), PreprocessError> {
        for channel in 0..3 {
            let (mean, std) = (self.mean[channel], self.std[channel]);
            if !mean.is_finite() || !std.is_finite() || std <= 0.0 {
                return Err(PreprocessError::InvalidReinhardTarget {
                    channel: channel as u8,
                    mean,
                    std,
                });
            }
        }
        Ok(())
    }
}

impl MacenkoTarget {
    /// The H&E reference of Macenko et al. as distributed with their reference implementation
    /// and reused by most ports (staintools, torchstain, HistomicsTK examples).
    pub fn standard() -> Self {
        MacenkoTarget {
            stains: [[0.5626, 0.7201, 0.4062], [0.2159, 0.8012, 0.5581]],
            max_concentration: [1.9705, 1.0308],
        }
    }

    /// Estimates the stains and their robust maximum concentrations in a reference image
    /// (all of its pixels).
    ///
    /// Fails on an empty image, when fewer than 16 pixels (or 1 % of them) are stained, and
    /// when the stained pixels show one colour only, so that two stains cannot be separated.
    pub fn fit(image: RgbView<'_>) -> Result<Self, PreprocessError> {
        non_empty(image)?;
        let source = Mapped(ViewPixels(image), rgb_to_od);
        let mut values = Vec::new();
        let stains = estimate_stains(&source, &mut values).map_err(|unfit| match unfit {
            Unfit::TooFew { found, needed } => {
                PreprocessError::TooFewStainedPixels { found, needed }
            }
            Unfit::Inseparable => PreprocessError::DegenerateReference {
                reason: "the stained pixels show a single stain colour",
            },
        })?;
        let max_concentration = max_concentrations(&source, &stains, &mut values);
        if max_concentration.iter().any(|&c| c < MIN_MAX_CONCENTRATION) {
            return Err(PreprocessError::DegenerateReference {
                reason: "one of the two stains is nearly absent from the reference",
            });
        }
        Ok(MacenkoTarget {
            stains: [stains.h, stains.e],
            max_concentration,
        })
    }

    /// Checks that the stain vectors are finite and non-zero and the concentrations positive
    /// and finite.
    pub fn validate(&self) -> Result<(), PreprocessError> {
        for stain in &self.stains {
            if stain.iter().any(|v| !v.is_finite()) {
                return Err(PreprocessError::InvalidMacenkoTarget {
                    reason: "a stain vector is not finite",
                });
            }
            if dot(*stain, *stain) < 1e-6 {
                return Err(PreprocessError::InvalidMacenkoTarget {
                    reason: "a stain vector is zero",
                });
            }
        }
        if self
            .max_concentration
            .iter()
            .any(|c| !c.is_finite() || *c <= 0.0)
        {
            return Err(PreprocessError::InvalidMacenkoTarget {
                reason: "a maximum concentration is not a positive finite number",
            });
        }
        Ok(())
    }
}

fn non_empty(image: RgbView<'_>) -> Result<(), PreprocessError> {
    if image.width() == 0 || image.height() == 0 {
        return Err(PreprocessError::EmptyImage {
            width: image.width(),
            height: image.height(),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Pixel sources: the statistics run over an 8-bit view (fitting) or over the resized planes
// with the masked pixels left out (normalizing), without copying either.

/// Something that can be walked pixel by pixel, in a fixed order, as often as needed.
pub(crate) trait PixelSource {
    fn for_each(&self, f: impl FnMut([f32; 3]));
}

/// The pixels of an 8-bit view, as 0..255 floats.
struct ViewPixels<'a>(RgbView<'a>);

impl PixelSource for ViewPixels<'_> {
    fn for_each(&self, mut f: impl FnMut([f32; 3])) {
        for y in 0..self.0.height() {
            for px in self.0.row(y).chunks_exact(3) {
                f([px[0] as f32, px[1] as f32, px[2] as f32]);
            }
        }
    }
}

/// The unmasked pixels of channel-major planes (`mask` empty when nothing is masked).
pub(crate) struct PlanePixels<'a> {
    pub(crate) planes: &'a [f32],
    pub(crate) mask: &'a [bool],
}

impl PixelSource for PlanePixels<'_> {
    fn for_each(&self, mut f: impl FnMut([f32; 3])) {
        let n = self.planes.len() / 3;
        let (r, rest) = self.planes.split_at(n);
        let (g, b) = rest.split_at(n);
        for i in 0..n {
            if !self.mask.get(i).copied().unwrap_or(false) {
                f([r[i], g[i], b[i]]);
            }
        }
    }
}

/// Another source's pixels passed through a colour conversion.
pub(crate) struct Mapped<S>(pub(crate) S, pub(crate) fn([f32; 3]) -> [f32; 3]);

impl<S: PixelSource> PixelSource for Mapped<S> {
    fn for_each(&self, mut f: impl FnMut([f32; 3])) {
        let convert = self.1;
        self.0.for_each(|px| f(convert(px)));
    }
}

/// Rewrites every pixel of channel-major planes (masked ones too: they are overwritten later
/// anyway, and a uniform pass is simpler than skipping).
fn map_planes(planes: &mut [f32], mut f: impl FnMut([f32; 3]) -> [f32; 3]) {
    let n = planes.len() / 3;
    let (r, rest) = planes.split_at_mut(n);
    let (g, b) = rest.split_at_mut(n);
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        let out = f([*r, *g, *b]);
        *r = out[0];
        *g = out[1];
        *b = out[2];
    }
}

fn count_unmasked(planes: &[f32], mask: &[bool]) -> usize {
    if mask.is_empty() {
        planes.len() / 3
    } else {
        mask.iter().filter(|&&m| !m).count()
    }
}

/// Per-channel mean and (population) standard deviation, in two passes so that a flat channel
/// comes out with a spread of exactly zero rather than rounding noise. Zero pixels give zeros.
fn mean_std(source: &impl PixelSource) -> ([f32; 3], [f32; 3]) {
    let mut sum = [0.0f64; 3];
    let mut count = 0usize;
    source.for_each(|px| {
        for (s, v) in sum.iter_mut().zip(px) {
            *s += v as f64;
        }
        count += 1;
    });
    if count == 0 {
        return ([0.0; 3], [0.0; 3]);
    }
    let mean = sum.map(|s| s / count as f64);
    let mut squares = [0.0f64; 3];
    source.for_each(|px| {
        for c in 0..3 {
            let d = px[c] as f64 - mean[c];
            squares[c] += d * d;
        }
    });
    (
        mean.map(|m| m as f32),
        squares.map(|s| libm::sqrt(s / count as f64) as f32),
    )
}

fn clamp_intensity(v: f32) -> f32 {
    // NaN cannot arise from the finite inputs here, but a stray one must not reach the model.
    if v.is_nan() { 0.0 } else { v.clamp(0.0, 255.0) }
}

fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

// ---------------------------------------------------------------------------------------------
// Reinhard in Ruderman's lαβ.

/// RGB (0..1) to LMS cone space (Reinhard et al. 2001, eq. 4).
const RGB_TO_LMS: [[f32; 3]; 3] = [
    [0.3811, 0.5783, 0.0402],
    [0.1967, 0.7244, 0.0782],
    [0.0241, 0.1288, 0.8444],
];

/// The exact inverse of [`RGB_TO_LMS`] (the paper prints a 4-digit rounding, which would make
/// the round trip drift).
const LMS_TO_RGB: [[f32; 3]; 3] = [
    [4.468_67, -3.588_676, 0.119_604_37],
    [-1.219_716_6, 2.383_088, -0.162_630_11],
    [0.058_508_478, -0.261_078_44, 1.205_666],
];

/// LMS is floored at one grey level before the logarithm so black pixels map to a finite value.
const LMS_FLOOR: f32 = 1.0 / 255.0;
/// Log-LMS is kept within [log10(floor), 2] on the way back, so an extreme rescale saturates
/// instead of overflowing into infinities (whose differences would be NaN).
const LOG_LMS_MIN: f32 = -2.406_540_5;
const LOG_LMS_MAX: f32 = 2.0;

const INV_SQRT3: f32 = 0.577_350_26;
const INV_SQRT6: f32 = 0.408_248_3;
const INV_SQRT2: f32 = 0.707_106_77;

fn mat_vec(m: &[[f32; 3]; 3], v: [f32; 3]) -> [f32; 3] {
    [dot(m[0], v), dot(m[1], v), dot(m[2], v)]
}

/// RGB in 0..255 to lαβ.
pub(crate) fn rgb_to_lab(rgb: [f32; 3]) -> [f32; 3] {
    let lms = mat_vec(&RGB_TO_LMS, rgb.map(|v| v / 255.0));
    let [l, m, s] = lms.map(|v| libm::log10f(v.max(LMS_FLOOR)));
    [
        (l + m + s) * INV_SQRT3,
        (l + m - 2.0 * s) * INV_SQRT6,
        (l - m) * INV_SQRT2,
    ]
}

/// lαβ to RGB in 0..255, clamped to the displayable range.
pub(crate) fn lab_to_rgb(lab: [f32; 3]) -> [f32; 3] {
    let a = lab[0] * INV_SQRT3;
    let b = lab[1] * INV_SQRT6;
    let c = lab[2] * INV_SQRT2;
    let log_lms = [a + b + c, a + b - c, a - 2.0 * b];
    let lms = log_lms.map(|v| libm::exp10f(v.clamp(LOG_LMS_MIN, LOG_LMS_MAX)));
    mat_vec(&LMS_TO_RGB, lms).map(|v| clamp_intensity(v * 255.0))
}

fn reinhard(planes: &mut [f32], mask: &[bool], target: &ReinhardTarget) {
    // Deciding before converting keeps the pass-through exact.
    if count_unmasked(planes, mask) == 0 {
        return;
    }
    map_planes(planes, rgb_to_lab);
    let (mean, std) = mean_std(&PlanePixels { planes, mask });
    let ratio: [f32; 3] = core::array::from_fn(|c| {
        if std[c] < MIN_SPREAD {
            1.0
        } else {
            target.std[c] / std[c]
        }
    });
    map_planes(planes, |lab| {
        lab_to_rgb(core::array::from_fn(|c| {
            (lab[c] - mean[c]) * ratio[c] + target.mean[c]
        }))
    });
}

// ---------------------------------------------------------------------------------------------
// Macenko in optical density.

/// RGB in 0..255 to optical density, `-ln((I + 1) / 256)` (the +1 keeps black finite).
pub(crate) fn rgb_to_od(rgb: [f32; 3]) -> [f32; 3] {
    rgb.map(|v| -libm::logf((v + 1.0) / 256.0))
}

/// Optical density back to RGB in 0..255, clamped.
pub(crate) fn od_to_rgb(od: [f32; 3]) -> [f32; 3] {
    od.map(|v| clamp_intensity(256.0 * libm::expf(-v) - 1.0))
}

fn is_stained(od: [f32; 3]) -> bool {
    od.iter().all(|&v| v >= BACKGROUND_OD)
}

/// An image's two stain vectors and the matrix that unmixes an OD pixel into concentrations.
#[derive(Debug)]
pub(crate) struct Stains {
    pub(crate) h: [f32; 3],
    pub(crate) e: [f32; 3],
    /// Rows of the least-squares pseudo-inverse of `[h e]`.
    unmix: [[f32; 3]; 2],
}

/// Why an image's stains could not be estimated.
#[derive(Debug, PartialEq)]
pub(crate) enum Unfit {
    TooFew { found: usize, needed: usize },
    Inseparable,
}

/// Linear interpolation between the closest ranks, numpy's default definition, so numbers can
/// be checked against the common Python implementations. `values` is reordered.
pub(crate) fn percentile(values: &mut [f32], p: f64) -> f32 {
    let Some(last) = values.len().checked_sub(1) else {
        return 0.0;
    };
    let pos = p / 100.0 * last as f64;
    let lo = libm::floor(pos) as usize;
    let frac = (pos - lo as f64) as f32;
    let (_, &mut a, rest) = values.select_nth_unstable_by(lo, f32::total_cmp);
    match rest.iter().copied().min_by(f32::total_cmp) {
        Some(b) if frac > 0.0 => a + (b - a) * frac,
        _ => a,
    }
}

/// Estimates the haematoxylin and eosin OD vectors from the stained pixels of `source` (which
/// yields OD triples). `angles` is reused working memory.
pub(crate) fn estimate_stains(
    source: &impl PixelSource,
    angles: &mut Vec<f32>,
) -> Result<Stains, Unfit> {
    // Moments about the first stained pixel rather than about zero: the one-pass formula then
    // keeps its precision, and a flat image gives exactly zero covariance.
    let mut shift: Option<[f32; 3]> = None;
    let mut considered = 0usize;
    let mut stained = 0usize;
    let mut sum = [0.0f64; 3];
    let mut products = [[0.0f64; 3]; 3];
    source.for_each(|od| {
        considered += 1;
        if !is_stained(od) {
            return;
        }
        stained += 1;
        let k = *shift.get_or_insert(od);
        let d: [f64; 3] = core::array::from_fn(|c| (od[c] - k[c]) as f64);
        for i in 0..3 {
            sum[i] += d[i];
            for j in i..3 {
                products[i][j] += d[i] * d[j];
            }
        }
    });
    let needed = MIN_STAINED.max(considered.div_ceil(MIN_STAINED_DIVISOR));
    if stained < needed {
        return Err(Unfit::TooFew {
            found: stained,
            needed,
        });
    }

    let n = stained as f64;
    let covariance = Matrix3::from_fn(|i, j| {
        let (i, j) = if i <= j { (i, j) } else { (j, i) };
        (products[i][j] - sum[i] * sum[j] / n) / n
    });
    let eigen =
        SymmetricEigen::try_new(covariance, f64::EPSILON, 1000).ok_or(Unfit::Inseparable)?;
    let mut order = [0usize, 1, 2];
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let mut first: Vector3<f64> = eigen.eigenvectors.column(order[0]).into_owned();
    let second: Vector3<f64> = eigen.eigenvectors.column(order[1]).into_owned();
    // The eigensolver's sign is arbitrary. Pointing the main axis into positive OD keeps the
    // stain angles around zero, away from the ±π wrap-around that would break the
    // percentiles. The second axis's sign only mirrors the angles, which swaps the two
    // percentiles and yields the same pair of vectors.
    if first.sum() < 0.0 {
        first = -first;
    }
    let e1: [f32; 3] = core::array::from_fn(|c| first[c] as f32);
    let e2: [f32; 3] = core::array::from_fn(|c| second[c] as f32);

    angles.clear();
    source.for_each(|od| {
        if is_stained(od) {
            angles.push(libm::atan2f(dot(od, e2), dot(od, e1)));
        }
    });
    let min_angle = percentile(angles, ANGLE_PERCENTILE);
    let max_angle = percentile(angles, 100.0 - ANGLE_PERCENTILE);
    let along = |angle: f32| -> [f32; 3] {
        let (s, c) = (libm::sinf(angle), libm::cosf(angle));
        core::array::from_fn(|i| e1[i] * c + e2[i] * s)
    };
    let (v_min, v_max) = (along(min_angle), along(max_angle));
    // Macenko's convention: haematoxylin (blue-purple) absorbs more red than eosin (pink).
    let (h, e) = if v_min[0] > v_max[0] {
        (v_min, v_max)
    } else {
        (v_max, v_min)
    };
    let (h, e) = (unit(h), unit(e));

    let [h64, e64] = [h, e].map(|v| v.map(|x| x as f64));
    let dot64 = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let (hh, he, ee) = (dot64(h64, h64), dot64(h64, e64), dot64(e64, e64));
    let det = hh * ee - he * he;
    if det.is_nan() || det < MIN_STAIN_SEPARATION {
        return Err(Unfit::Inseparable);
    }
    // Least squares by the normal equations: C = (SᵀS)⁻¹ Sᵀ od with S = [h e].
    let unmix = [
        core::array::from_fn(|c| ((ee * h64[c] - he * e64[c]) / det) as f32),
        core::array::from_fn(|c| ((hh * e64[c] - he * h64[c]) / det) as f32),
    ];
    Ok(Stains { h, e, unmix })
}

fn unit(v: [f32; 3]) -> [f32; 3] {
    let norm = libm::sqrtf(dot(v, v));
    if norm > 0.0 { v.map(|x| x / norm) } else { v }
}

impl Stains {
    fn concentrations(&self, od: [f32; 3]) -> [f32; 2] {
        [dot(self.unmix[0], od), dot(self.unmix[1], od)]
    }
}

/// The robust maximum concentration of each stain over every pixel of `source` (OD triples),
/// background included, as the reference implementation does.
fn max_concentrations(
    source: &impl PixelSource,
    stains: &Stains,
    values: &mut Vec<f32>,
) -> [f32; 2] {
    core::array::from_fn(|k| {
        values.clear();
        source.for_each(|od| values.push(stains.concentrations(od)[k]));
        percentile(values, CONCENTRATION_PERCENTILE)
    })
}

fn macenko(planes: &mut [f32], mask: &[bool], target: &MacenkoTarget, values: &mut Vec<f32>) {
    // The estimate reads OD on the fly so that, when it gives up, the planes are untouched
    // and the pass-through is exact; only once it succeeds are the planes converted.
    let stains = match estimate_stains(&Mapped(PlanePixels { planes, mask }, rgb_to_od), values) {
        Ok(stains) => stains,
        Err(_) => return,
    };
    map_planes(planes, rgb_to_od);
    let max_c = max_concentrations(&PlanePixels { planes, mask }, &stains, values);
    let scale: [f32; 2] = core::array::from_fn(|k| {
        if max_c[k] >= MIN_MAX_CONCENTRATION {
            target.max_concentration[k] / max_c[k]
        } else {
            1.0
        }
    });
    let [th, te] = target.stains;
    map_planes(planes, |od| {
        let c = stains.concentrations(od);
        let (ch, ce) = (c[0] * scale[0], c[1] * scale[1]);
        od_to_rgb(core::array::from_fn(|i| th[i] * ch + te[i] * ce))
    });
}
