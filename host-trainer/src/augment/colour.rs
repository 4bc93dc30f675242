//! Colour augmentation: stain jitter in optical-density space, brightness, contrast,
//! saturation and hue as one affine map of RGB, white balance, and Gaussian blur.

use leukoscope_core::raster::RgbImage;

/// Optical-density vectors (R, G, B) of haematoxylin, eosin and DAB, after Ruifrok & Johnston
/// (2001), as scikit-image's `rgb_from_hed`. Romanowsky stains (Giemsa, Wright, May-Grünwald)
/// are a blue-purple azure/methylene-blue dye and a pink eosin, close enough to H and E that
/// the H&E basis separates nuclear from cytoplasmic and red-cell colour; the third vector
/// takes what the first two do not explain.
const RGB_FROM_HED: [[f64; 3]; 3] = [[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]];

/// Luma weights (Rec. 709, as in the SVG/CSS hue-rotate and saturate filters), used for the
/// grey that contrast and saturation blend toward and for the axis the hue turns about.
const LUMA: [f32; 3] = [0.2126, 0.7152, 0.0722];

/// Optical density of a byte value, `-ln((v + 1) / 256)`: 0 for white, finite for black.
fn optical_density(v: u8) -> f32 {
    -((f32::from(v) + 1.0) / 256.0).ln()
}

/// Tellez et al. (2018) HED augmentation: unmix every pixel's optical density into the three
/// stain concentrations, scale stain `k` by `scale[k]`, add `shift[k]` (optical-density
/// units), and remix.
///
/// Unmixing, scaling and remixing are one linear map of optical density, `od * m + b`, so the
/// whole step is a product of per-channel lookup tables: no logarithm or exponential per pixel.
/// White maps to white up to the shift, and grey (equal density in every channel) stays
/// near grey because the scale only moves the small density it has.
pub(super) fn stain_jitter(image: &mut RgbImage, scale: [f32; 3], shift: [f32; 3]) {
    let stains = RGB_FROM_HED;
    let unmix = invert(stains);
    // m = unmix * diag(scale) * stains, acting on row vectors of optical density.
    let mut m = [[0.0f32; 3]; 3];
    for (k, row) in m.iter_mut().enumerate() {
        for (c, value) in row.iter_mut().enumerate() {
            *value = (0..3)
                .map(|j| unmix[k][j] * f64::from(scale[j]) * stains[j][c])
                .sum::<f64>() as f32;
        }
    }
    let b: [f32; 3] = core::array::from_fn(|c| {
        (0..3)
            .map(|j| f64::from(shift[j]) * stains[j][c])
            .sum::<f64>() as f32
    });
    // factor[k][c][v] = exp(-od(v) * m[k][c]): input channel k's share of output channel c.
    let mut factor = vec![[[0.0f32; 256]; 3]; 3];
    for k in 0..3 {
        for c in 0..3 {
            for v in 0..=255u8 {
                factor[k][c][v as usize] = (-optical_density(v) * m[k][c]).exp();
            }
        }
    }
    let gain: [f32; 3] = core::array::from_fn(|c| 256.0 * (-b[c]).exp());
    for px in image.as_raw_mut().chunks_exact_mut(3) {
        let (r, g, bl) = (px[0] as usize, px[1] as usize, px[2] as usize);
        for c in 0..3 {
            let t = gain[c] * factor[0][c][r] * factor[1][c][g] * factor[2][c][bl] - 1.0;
            px[c] = (t + 0.5).clamp(0.0, 255.0) as u8;
        }
    }
}

/// The inverse of a 3x3 matrix by cofactors (the stain matrix is well conditioned).
fn invert(a: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let cof = |r: usize, c: usize| {
        let (r1, r2) = ((r + 1) % 3, (r + 2) % 3);
        let (c1, c2) = ((c + 1) % 3, (c + 2) % 3);
        a[r1][c1] * a[r2][c2] - a[r1][c2] * a[r2][c1]
    };
    let det = a[0][0] * cof(0, 0) + a[0][1] * cof(0, 1) + a[0][2] * cof(0, 2);
    // Inverse = transpose of the cofactor matrix over the determinant.
    core::array::from_fn(|r| core::array::from_fn(|c| cof(c, r) / det))
}

/// Brightness, contrast, saturation and hue, in torchvision's `ColorJitter` sense, as one
/// affine map of RGB: `brightness` multiplies; `contrast` blends with the image's mean grey;
/// `saturation` blends each pixel with its own grey; the hue turns by `hue_degrees` about
/// the grey axis (the SVG `hueRotate` matrix). Greys stay grey under saturation and hue, so
/// the smear's background changes level but not colour.
pub(super) fn colour_jitter(
    image: &mut RgbImage,
    brightness: f32,
    contrast: f32,
    saturation: f32,
    hue_degrees: f32,
) {
    let raw = image.as_raw();
    if raw.is_empty() {
        return;
    }
    // Mean grey in integer arithmetic (luma weights in ten-thousandths): exact and fast.
    let sum: u64 = raw
        .chunks_exact(3)
        .map(|p| 2126 * u64::from(p[0]) + 7152 * u64::from(p[1]) + 722 * u64::from(p[2]))
        .sum();
    let mean = (sum as f64 / 10_000.0 / (raw.len() / 3) as f64) as f32;

    let (sin, cos) = hue_degrees.to_radians().sin_cos();
    let [lr, lg, lb] = LUMA;
    // SVG feColorMatrix hueRotate, with the Rec. 709 weights it is built from.
    let hue = [
        [
            lr + cos * (1.0 - lr) - sin * lr,
            lg - cos * lg - sin * lg,
            lb - cos * lb + sin * (1.0 - lb),
        ],
        [
            lr - cos * lr + sin * 0.143,
            lg + cos * (1.0 - lg) + sin * 0.140,
            lb - cos * lb - sin * 0.283,
        ],
        [
            lr - cos * lr - sin * (1.0 - lr),
            lg - cos * lg + sin * lg,
            lb + cos * (1.0 - lb) + sin * lb,
        ],
    ];
    // Saturation: s * I + (1 - s) * 1 * luma^T.
    let sat: [[f32; 3]; 3] = core::array::from_fn(|r| {
        core::array::from_fn(|c| {
            saturation * f32::from(u8::from(r == c)) + (1.0 - saturation) * LUMA[c]
        })
    });
    // Both matrices keep grey (their rows sum to 1), so the contrast blend toward the mean
    // grey commutes with them: out = contrast * brightness * hue * sat * x + offset.
    let gain = contrast * brightness;
    let k: [[f32; 3]; 3] = core::array::from_fn(|r| {
        core::array::from_fn(|c| gain * (0..3).map(|j| hue[r][j] * sat[j][c]).sum::<f32>())
    });
    let offset = (1.0 - contrast) * brightness * mean;
    let byte = |v: f32| (v + 0.5).clamp(0.0, 255.0) as u8;
    for px in image.as_raw_mut().chunks_exact_mut(3) {
        let (r, g, b) = (f32::from(px[0]), f32::from(px[1]), f32::from(px[2]));
        px[0] = byte(k[0][0] * r + k[0][1] * g + k[0][2] * b + offset);
        px[1] = byte(k[1][0] * r + k[1][1] * g + k[1][2] * b + offset);
        px[2] = byte(k[2][0] * r + k[2][1] * g + k[2][2] * b + offset);
    }
}

/// Each channel multiplied by its gain (at most 1, so nothing clips): the tint another
/// lamp or camera's white balance gives the glass and everything on it.
pub(super) fn white_balance(image: &mut RgbImage, gain: [f32; 3]) {
    let tables: [[u8; 256]; 3] = core::array::from_fn(|c| {
        core::array::from_fn(|v| (v as f32 * gain[c] + 0.5).clamp(0.0, 255.0) as u8)
    });
    for px in image.as_raw_mut().chunks_exact_mut(3) {
        for (value, table) in px.iter_mut().zip(&tables) {
            *value = table[usize::from(*value)];
        }
    }
}

/// Gaussian blur with standard deviation `sigma` pixels, separable, over a kernel of
/// ±3 sigma, with the image mirrored at its edges as in the warp. A focus slightly off, as
/// the edge camera will sometimes see.
pub(super) fn gaussian_blur(image: &mut RgbImage, sigma: f32) {
    let (w, h) = (image.width() as usize, image.height() as usize);
    // Also false for NaN; tiny sigmas are the identity after rounding anyway.
    if sigma.is_nan() || sigma <= 0.05 || w == 0 || h == 0 {
        return;
    }
    // Capped so an absurd sigma cannot ask for a kernel larger than the image needs.
    let radius = ((3.0 * sigma).ceil() as usize).clamp(1, w.max(h));
    let taps = 2 * radius + 1;
    let mut kernel: Vec<f32> = (0..taps)
        .map(|i| {
            let d = i as f32 - radius as f32;
            (-d * d / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let total: f32 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= total);

    let stride = w * 3;
    let raw = image.as_raw();
    // Horizontal pass into floats, one mirrored-padded row at a time.
    let mut across = vec![0.0f32; w * h * 3];
    let mut padded = vec![0.0f32; (w + 2 * radius) * 3];
    for y in 0..h {
        let row = &raw[y * stride..(y + 1) * stride];
        for (i, p) in padded.chunks_exact_mut(3).enumerate() {
            let sx = super::geometry::reflect(i as i64 - radius as i64, w);
            for ch in 0..3 {
                p[ch] = f32::from(row[sx * 3 + ch]);
            }
        }
        let out = &mut across[y * stride..(y + 1) * stride];
        for (t, &k) in kernel.iter().enumerate() {
            let src = &padded[t * 3..t * 3 + stride];
            for (o, &s) in out.iter_mut().zip(src) {
                *o += k * s;
            }
        }
    }
    // Vertical pass: whole rows weighted and summed, which vectorizes.
    let mut acc = vec![0.0f32; stride];
    let data = image.as_raw_mut();
    for y in 0..h {
        acc.iter_mut().for_each(|a| *a = 0.0);
        for (t, &k) in kernel.iter().enumerate() {
            let sy = super::geometry::reflect(y as i64 + t as i64 - radius as i64, h);
            for (a, &s) in acc.iter_mut().zip(&across[sy * stride..(sy + 1) * stride]) {
                *a += k * s;
            }
        }
        for (d, &a) in data[y * stride..(y + 1) * stride].iter_mut().zip(&acc) {
            *d = (a + 0.5).clamp(0.0, 255.0) as u8;
        }
    }
}
