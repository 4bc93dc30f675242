//! Training-time augmentation of decoded source images, before the core's preprocessing
//! (resize, mask, normalize) turns them into network inputs.
//!
//! An [`Augment`] is a recipe of amplitudes; every call to [`Augment::apply`] draws one
//! concrete [`Transform`] from it and applies, in order:
//!
//! 1. overlay masking: rectangles listed in [`Augment::masks`] (the scale bar of the 4-class
//!    fields) are covered with the smear beside them, mirrored, so that the overlay cannot be
//!    turned or flipped out from under the preprocessing mask, which only blanks the
//!    bottom-right corner of the final input;
//! 2. exact flips and quarter turns (pixel permutations);
//! 3. free rotation and zoom as one bilinear warp about the centre, the outside filled by
//!    reflection;
//! 4. stain jitter in optical-density space (Tellez et al. 2018, H&E basis);
//! 5. brightness, contrast, saturation and hue jitter;
//! 6. white balance: a gain per channel, as another lamp or camera gives;
//! 7. occasional Gaussian blur.
//!
//! Randomness comes only from the generator handed in; [`sample_rng`] makes one per
//! (seed, epoch, sample), so an augmentation does not depend on which thread draws it, and
//! every call draws the same number of values whatever is enabled, so switching one
//! component off leaves the others' draws unchanged.

mod colour;
mod geometry;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use leukoscope_core::preprocess::{MaskRect, PreprocessError};
use leukoscope_core::raster::RgbImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use geometry::{flip_horizontal, flip_vertical, rotate_quarter};

/// A recipe of random augmentations and their amplitudes. With every switch off, every
/// amplitude zero and zoom `[1, 1]` ([`Augment::none`]) it changes nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    /// Mirror left-right and top-bottom, each with probability one half.
    pub flips: bool,
    /// Turn by 0, 1, 2 or 3 quarter turns, equally likely. Images that are not square only
    /// get 0 or 2, so the size never changes.
    pub quarter_turns: bool,
    /// Free rotation, uniform in `±rotation_degrees`, 0 to 180. With `quarter_turns`, 45
    /// already reaches every angle with equal chance.
    pub rotation_degrees: f32,
    /// Range of the zoom factor (above 1 enlarges), drawn log-uniformly so that zooming in
    /// and out by the same factor are equally likely. Cell size carries the class, so keep it
    /// close to `[1, 1]`.
    pub zoom: [f32; 2],
    /// Stain jitter amplitude `σ`, 0 to 1: each stain's concentration is scaled by a factor
    /// uniform in `[1 - σ, 1 + σ]` and shifted by up to `±σ` x [`Augment::STAIN_SHIFT_OD`].
    pub stain_jitter: f32,
    /// Brightness factor uniform in `[1 - brightness, 1 + brightness]`, 0 to 1.
    pub brightness: f32,
    /// Contrast factor uniform in `[1 - contrast, 1 + contrast]`, 0 to 1.
    pub contrast: f32,
    /// Saturation factor uniform in `[1 - saturation, 1 + saturation]`, 0 to 1.
    pub saturation: f32,
    /// Hue turn uniform in `±hue_degrees`, 0 to 180.
    pub hue_degrees: f32,
    /// White-balance amplitude `w`, 0 to 1: each channel's gain is drawn uniform in
    /// `[1 - w, 1 + w]`, then all three divided by the largest, so the glass takes another
    /// lamp's or camera's tint (Zheng's first set is yellow, aria-4class blue) and nothing
    /// clips. Written only when set, so configurations from before it read and write back
    /// byte for byte (and their runs resume).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub white_balance: f32,
    /// Chance of blurring an image, 0 to 1.
    pub blur_probability: f32,
    /// Range of the blur's standard deviation in source pixels, `0 <= low <= high <=`
    /// [`Augment::MAX_BLUR_SIGMA`]; drawn uniformly.
    pub blur_sigma: [f32; 2],
    /// Rectangles of the source (fractions of its width and height) covered with the mirrored
    /// smear beside them before anything moves: overlays such as a burnt-in scale bar. Set
    /// them to the preprocessing's own masks (see [`Augment::with_masks`]); the named recipes
    /// have none, since they do not know the data.
    #[serde(default)]
    pub masks: Vec<MaskRect>,
}

fn is_zero(value: &f32) -> bool {
    *value == 0.0
}

/// One concrete draw from an [`Augment`]: what happens to one image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transform {
    /// Mirror left-right.
    pub flip_horizontal: bool,
    /// Mirror top-bottom.
    pub flip_vertical: bool,
    /// Counterclockwise quarter turns, 0 to 3 (after the flips).
    pub quarter_turns: u8,
    /// Counterclockwise rotation in degrees (after the quarter turns).
    pub rotation_degrees: f32,
    /// Zoom factor; above 1 enlarges.
    pub zoom: f32,
    /// Factor on the haematoxylin, eosin and residual concentrations.
    pub stain_scale: [f32; 3],
    /// Optical density added to each concentration.
    pub stain_shift: [f32; 3],
    /// Brightness factor.
    pub brightness: f32,
    /// Contrast factor.
    pub contrast: f32,
    /// Saturation factor.
    pub saturation: f32,
    /// Hue turn in degrees.
    pub hue_degrees: f32,
    /// Gain of each channel, the largest 1.
    pub channel_gain: [f32; 3],
    /// Blur standard deviation in pixels; 0 for none.
    pub blur_sigma: f32,
}

/// An [`Augment`] with a number out of range. [`Augment::apply`] never panics on one, but
/// what it produces is unspecified, so check with [`Augment::validate`] first.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AugmentError {
    /// An amplitude, probability or bound outside its range, or not finite.
    #[error("augmentation `{field}` is {value} but must be {expected}")]
    OutOfRange {
        /// The field's name.
        field: &'static str,
        /// The value given.
        value: f32,
        /// The range it must lie in.
        expected: &'static str,
    },
    /// A range whose low end exceeds its high end.
    #[error("augmentation `{field}` is [{low}, {high}]; the low end must not exceed the high end")]
    Reversed {
        /// The field's name.
        field: &'static str,
        /// The first bound.
        low: f32,
        /// The second bound.
        high: f32,
    },
    /// A mask rectangle that is not within the image or has swapped corners.
    #[error("augmentation mask {index} is invalid")]
    Mask {
        /// Position in [`Augment::masks`].
        index: usize,
        /// What is wrong with it.
        #[source]
        source: PreprocessError,
    },
}

/// What `--augment` and the `augment` config key accept.
const ACCEPTED: &str = "none, studies, default, or a comma list of flip, turn, rotate, zoom, stain, colour, balance, blur";

/// A string that names no augmentation recipe or component.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseAugmentError {
    /// Nothing was given.
    #[error("no augmentation given; use {ACCEPTED}")]
    Empty,
    /// A word that is not a recipe or component.
    #[error("unknown augmentation {word:?}; use {ACCEPTED}")]
    UnknownWord {
        /// The word, as given.
        word: String,
    },
}

impl Augment {
    /// Optical density (natural logarithm) a stain shift of amplitude 1 may add: about what
    /// faint plasma staining adds to the background, so that at usual amplitudes the
    /// background moves by only a few grey levels while stained cells change visibly.
    pub const STAIN_SHIFT_OD: f32 = 0.1;

    /// Largest blur standard deviation accepted, in pixels: well past any focus error worth
    /// simulating on a 224-pixel field.
    pub const MAX_BLUR_SIGMA: f32 = 8.0;

    /// White-balance amplitude of the `balance` component: a channel down to 0.6 of the
    /// brightest, past the blue-to-yellow gap between the labs we have (Zheng's first set's
    /// glass has 0.76 as much blue as red).
    pub const WHITE_BALANCE: f32 = 0.25;

    /// No augmentation: [`Augment::apply`] returns the image unchanged.
    pub fn none() -> Self {
        Augment {
            flips: false,
            quarter_turns: false,
            rotation_degrees: 0.0,
            zoom: [1.0, 1.0],
            stain_jitter: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            saturation: 0.0,
            hue_degrees: 0.0,
            white_balance: 0.0,
            blur_probability: 0.0,
            blur_sigma: [0.0, 0.0],
            masks: Vec::new(),
        }
    }

    /// Flips, rotation and zoom, the augmentation studies 000 and 002 name. They give no
    /// amplitudes; these are the Keras `ImageDataGenerator` settings such work typically uses
    /// (`rotation_range=20`, `zoom_range=0.2`, horizontal and vertical flips).
    pub fn studies() -> Self {
        Augment {
            flips: true,
            rotation_degrees: 20.0,
            zoom: [0.8, 1.2],
            ..Self::none()
        }
    }

    /// Our recipe: every orientation (flips, quarter turns, ±45°), a mild zoom (cell size is a
    /// diagnostic feature and the scale is known), stain and colour jitter (in the 4-class
    /// data the colour cast differs from class to class, a shortcut the network should not
    /// be able to rely on), and a slight blur on one image in five.
    pub fn default_recipe() -> Self {
        Augment {
            flips: true,
            quarter_turns: true,
            rotation_degrees: 45.0,
            zoom: [0.9, 1.1],
            stain_jitter: 0.3,
            brightness: 0.1,
            contrast: 0.15,
            saturation: 0.15,
            hue_degrees: 6.0,
            white_balance: 0.0,
            blur_probability: 0.2,
            blur_sigma: [0.3, 1.0],
            masks: Vec::new(),
        }
    }

    /// The same recipe covering `masks` (fractions of the source) with the mirrored smear
    /// beside them before anything moves. Pass the preprocessing's masks
    /// (`Preprocess::masks`): they are in the same fractional units, and an overlay the
    /// network is kept from seeing at inference must not reach it turned into another corner
    /// during training.
    pub fn with_masks(mut self, masks: &[MaskRect]) -> Self {
        self.masks = masks.to_vec();
        self
    }

    /// Checks every number: amplitudes and probabilities in their ranges and finite, zoom
    /// positive, ranges ordered, masks within the image.
    pub fn validate(&self) -> Result<(), AugmentError> {
        fn within(
            field: &'static str,
            value: f32,
            max: f32,
            expected: &'static str,
        ) -> Result<(), AugmentError> {
            // Written so that NaN fails too.
            if (0.0..=max).contains(&value) {
                Ok(())
            } else {
                Err(AugmentError::OutOfRange {
                    field,
                    value,
                    expected,
                })
            }
        }
        fn ordered(field: &'static str, [low, high]: [f32; 2]) -> Result<(), AugmentError> {
            if low <= high {
                Ok(())
            } else {
                Err(AugmentError::Reversed { field, low, high })
            }
        }
        within(
            "rotation_degrees",
            self.rotation_degrees,
            180.0,
            "in [0, 180]",
        )?;
        for value in self.zoom {
            if !(value.is_finite() && value > 0.0) {
                return Err(AugmentError::OutOfRange {
                    field: "zoom",
                    value,
                    expected: "a positive finite scale",
                });
            }
        }
        ordered("zoom", self.zoom)?;
        within("stain_jitter", self.stain_jitter, 1.0, "in [0, 1]")?;
        within("brightness", self.brightness, 1.0, "in [0, 1]")?;
        within("contrast", self.contrast, 1.0, "in [0, 1]")?;
        within("saturation", self.saturation, 1.0, "in [0, 1]")?;
        within("hue_degrees", self.hue_degrees, 180.0, "in [0, 180]")?;
        within("white_balance", self.white_balance, 1.0, "in [0, 1]")?;
        within(
            "blur_probability",
            self.blur_probability,
            1.0,
            "a probability in [0, 1]",
        )?;
        for value in self.blur_sigma {
            within(
                "blur_sigma",
                value,
                Self::MAX_BLUR_SIGMA,
                "in [0, 8] pixels",
            )?;
        }
        ordered("blur_sigma", self.blur_sigma)?;
        for (index, mask) in self.masks.iter().enumerate() {
            mask.validate(u32::try_from(index).unwrap_or(u32::MAX))
                .map_err(|source| AugmentError::Mask { index, source })?;
        }
        Ok(())
    }

    /// Draws one [`Transform`] from the recipe. Always takes the same 20 values from `rng`,
    /// whatever is enabled; the white balance's three come last, so recipes without it draw
    /// what they drew before it existed.
    pub fn sample(&self, rng: &mut impl Rng) -> Transform {
        // Twenty uniforms in [0, 1), drawn up front so their number never varies.
        let u: [f32; 20] = core::array::from_fn(|_| rng.random::<f32>());
        let symmetric = |u: f32, amplitude: f32| (2.0 * u - 1.0) * amplitude;
        let (flip_h, flip_v, turn, rotation) =
            (u[0], u[1], u[2], symmetric(u[3], self.rotation_degrees));
        let zoom_draw = u[4];
        let stain_scale: [f32; 3] =
            core::array::from_fn(|k| 1.0 + symmetric(u[5 + k], self.stain_jitter));
        let stain_shift: [f32; 3] =
            core::array::from_fn(|k| symmetric(u[8 + k], self.stain_jitter) * Self::STAIN_SHIFT_OD);
        let brightness = 1.0 + symmetric(u[11], self.brightness);
        let contrast = 1.0 + symmetric(u[12], self.contrast);
        let saturation = 1.0 + symmetric(u[13], self.saturation);
        let hue = symmetric(u[14], self.hue_degrees);
        let (blur_coin, blur_draw) = (u[15], u[16]);
        let gain: [f32; 3] =
            core::array::from_fn(|k| 1.0 + symmetric(u[17 + k], self.white_balance));
        let brightest = gain.iter().copied().fold(f32::MIN, f32::max);
        let channel_gain = gain.map(|g| g / brightest);

        let [low, high] = self.zoom;
        let zoom = if low == high {
            low
        } else {
            (low.ln() + zoom_draw * (high.ln() - low.ln())).exp()
        };
        let [sigma_low, sigma_high] = self.blur_sigma;
        let blur_sigma = if blur_coin < self.blur_probability {
            sigma_low + blur_draw * (sigma_high - sigma_low)
        } else {
            0.0
        };
        Transform {
            flip_horizontal: self.flips && flip_h < 0.5,
            flip_vertical: self.flips && flip_v < 0.5,
            quarter_turns: if self.quarter_turns {
                ((turn * 4.0) as u8).min(3)
            } else {
                0
            },
            rotation_degrees: rotation,
            zoom,
            stain_scale,
            stain_shift,
            brightness,
            contrast,
            saturation,
            hue_degrees: hue,
            channel_gain,
            blur_sigma,
        }
    }

    /// One random augmentation of `image`: masks covered, then a [`Transform`] drawn from
    /// `rng` and applied. The output has the size of the input.
    pub fn apply(&self, image: &RgbImage, rng: &mut impl Rng) -> RgbImage {
        let transform = self.sample(rng);
        if self.masks.is_empty() {
            transform.apply(image)
        } else {
            let mut masked = image.clone();
            geometry::fill_masks(&mut masked, &self.masks);
            transform.apply(&masked)
        }
    }
}

impl Transform {
    /// The transform that changes nothing.
    pub const IDENTITY: Transform = Transform {
        flip_horizontal: false,
        flip_vertical: false,
        quarter_turns: 0,
        rotation_degrees: 0.0,
        zoom: 1.0,
        stain_scale: [1.0; 3],
        stain_shift: [0.0; 3],
        brightness: 1.0,
        contrast: 1.0,
        saturation: 1.0,
        hue_degrees: 0.0,
        channel_gain: [1.0; 3],
        blur_sigma: 0.0,
    };

    /// `image` transformed: flips, quarter turns (only half turns unless square), rotation
    /// and zoom, stain jitter, colour jitter, white balance, blur. Steps at their neutral value are skipped,
    /// so they cost nothing and change no byte.
    pub fn apply(&self, image: &RgbImage) -> RgbImage {
        let mut out = match (self.flip_horizontal, self.flip_vertical) {
            (false, false) => image.clone(),
            (true, false) => flip_horizontal(image),
            (false, true) => flip_vertical(image),
            // Both flips are a half turn.
            (true, true) => rotate_quarter(image, 2),
        };
        let turns = if out.width() == out.height() {
            self.quarter_turns % 4
        } else {
            self.quarter_turns & 2
        };
        if turns != 0 {
            out = rotate_quarter(&out, u32::from(turns));
        }
        if self.rotation_degrees != 0.0 || self.zoom != 1.0 {
            out = geometry::warp(&out, self.rotation_degrees, self.zoom);
        }
        if self.stain_scale != [1.0; 3] || self.stain_shift != [0.0; 3] {
            colour::stain_jitter(&mut out, self.stain_scale, self.stain_shift);
        }
        if self.brightness != 1.0
            || self.contrast != 1.0
            || self.saturation != 1.0
            || self.hue_degrees != 0.0
        {
            colour::colour_jitter(
                &mut out,
                self.brightness,
                self.contrast,
                self.saturation,
                self.hue_degrees,
            );
        }
        if self.channel_gain != [1.0; 3] {
            colour::white_balance(&mut out, self.channel_gain);
        }
        if self.blur_sigma > 0.0 {
            colour::gaussian_blur(&mut out, self.blur_sigma);
        }
        out
    }
}

/// The generator for sample `index` of epoch `epoch` of a run seeded `seed`: the three numbers
/// (and a tag for this use) are the ChaCha key, so each triple has its own stream and the
/// augmentation of a sample is the same whichever thread, batch or order draws it.
pub fn sample_rng(seed: u64, epoch: u64, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&epoch.to_le_bytes());
    key[16..24].copy_from_slice(&index.to_le_bytes());
    // Keeps these streams apart from any other ChaCha keyed by the same seed.
    key[24..].copy_from_slice(b"augment\0");
    ChaCha8Rng::from_seed(key)
}

impl FromStr for Augment {
    type Err = ParseAugmentError;

    /// `none`, `studies`, `default`, or a comma list of components, each with the amplitudes
    /// of [`Augment::default_recipe`]: `flip`, `turn` (quarter turns), `rotate`, `zoom`,
    /// `stain`, `colour` (or `color`: brightness, contrast, saturation, hue), `balance` (white
    /// balance, amplitude [`Augment::WHITE_BALANCE`]), `blur`. Case and spaces around words
    /// are ignored.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let whole = text.trim();
        for (name, recipe) in [
            ("none", Self::none as fn() -> Self),
            ("studies", Self::studies),
            ("default", Self::default_recipe),
        ] {
            if whole.eq_ignore_ascii_case(name) {
                return Ok(recipe());
            }
        }
        let full = Self::default_recipe();
        let mut augment = Self::none();
        let mut any = false;
        for word in whole.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            any = true;
            match word.to_ascii_lowercase().as_str() {
                "flip" => augment.flips = true,
                "turn" => augment.quarter_turns = true,
                "rotate" => augment.rotation_degrees = full.rotation_degrees,
                "zoom" => augment.zoom = full.zoom,
                "stain" => augment.stain_jitter = full.stain_jitter,
                "colour" | "color" => {
                    augment.brightness = full.brightness;
                    augment.contrast = full.contrast;
                    augment.saturation = full.saturation;
                    augment.hue_degrees = full.hue_degrees;
                }
                "balance" => augment.white_balance = Self::WHITE_BALANCE,
                "blur" => {
                    augment.blur_probability = full.blur_probability;
                    augment.blur_sigma = full.blur_sigma;
                }
                _ => return Err(ParseAugmentError::UnknownWord { word: word.into() }),
            }
        }
        if !any {
            return Err(ParseAugmentError::Empty);
        }
        Ok(augment)
    }
}

impl fmt::Display for Transform {
    /// A one-line summary, for logs and contact sheets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "flip {}{} turns {} rot {:.1} zoom {:.3} stain x{:.2?} +{:.3?} b {:.2} c {:.2} s {:.2} h {:.1} wb {:.2?} blur {:.2}",
            if self.flip_horizontal { "h" } else { "-" },
            if self.flip_vertical { "v" } else { "-" },
            self.quarter_turns,
            self.rotation_degrees,
            self.zoom,
            self.stain_scale,
            self.stain_shift,
            self.brightness,
            self.contrast,
            self.saturation,
            self.hue_degrees,
            self.channel_gain,
            self.blur_sigma
        )
    }
}
