//! Geometric augmentation: the exact symmetries of the square, free rotation with zoom as one
//! bilinear warp whose outside is filled by reflection, and the blanking of overlay rectangles
//! before anything moves.

use leukoscope_core::preprocess::MaskRect;
use leukoscope_core::raster::RgbImage;

/// `image` mirrored left to right.
pub fn flip_horizontal(image: &RgbImage) -> RgbImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    permute(image, w, h, |x, y| (w - 1 - x, y))
}

/// `image` mirrored top to bottom.
pub fn flip_vertical(image: &RgbImage) -> RgbImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    permute(image, w, h, |x, y| (x, h - 1 - y))
}

/// `image` turned counterclockwise (as seen on screen) by `turns` quarter turns; odd turns
/// swap width and height.
pub fn rotate_quarter(image: &RgbImage, turns: u32) -> RgbImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    match turns % 4 {
        1 => permute(image, h, w, |x, y| (w - 1 - y, x)),
        2 => permute(image, w, h, |x, y| (w - 1 - x, h - 1 - y)),
        3 => permute(image, h, w, |x, y| (y, h - 1 - x)),
        _ => image.clone(),
    }
}

/// A `width`x`height` image whose pixel `(x, y)` is the source pixel `source(x, y)`.
fn permute(
    image: &RgbImage,
    width: usize,
    height: usize,
    source: impl Fn(usize, usize) -> (usize, usize),
) -> RgbImage {
    let raw = image.as_raw();
    let stride = image.width() as usize * 3;
    let mut data = Vec::with_capacity(raw.len());
    for y in 0..height {
        for x in 0..width {
            let (sx, sy) = source(x, y);
            let i = sy * stride + sx * 3;
            data.extend_from_slice(&raw[i..i + 3]);
        }
    }
    // Both dimensions fit in u32: they are the source's, possibly swapped.
    RgbImage::from_raw(width as u32, height as u32, data)
        .expect("a permutation keeps the pixel count")
}

/// `image` turned counterclockwise by `degrees` and scaled by `zoom` (above 1 enlarges) about
/// its centre, resampled bilinearly into an image of the same size. Positions that come from
/// outside the source read the source mirrored at its edges: a smear continues past the
/// field of view, so black or smeared-edge corners would be an artefact the network could
/// learn to look for.
///
/// Pixel centres sit at half-integers, so a zero angle with unit zoom reads every pixel
/// exactly, and quarter turns of a square land on pixel centres again.
pub(super) fn warp(image: &RgbImage, degrees: f32, zoom: f32) -> RgbImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let raw = image.as_raw();
    let mut out = vec![0u8; raw.len()];
    if raw.is_empty() {
        return image.clone();
    }
    let (sin, cos) = f64::from(degrees).to_radians().sin_cos();
    let zoom = f64::from(zoom);
    // The output-to-source map is the inverse of zoom times rotation: rotate back, shrink.
    // Capped so that a nonsensical zoom cannot overflow the fixed-point arithmetic below.
    let (a, b) = ((cos / zoom).clamp(-1e4, 1e4), (sin / zoom).clamp(-1e4, 1e4));
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    // Source positions in 16.16 fixed point, stepped along each row: exact for whole-pixel
    // steps (a zero angle, or a right angle, whose cosine rounds to 0), and without the
    // float-to-int conversions that dominated a per-pixel float version.
    let fixed = |v: f64| (v.clamp(-1e6, 1e6) * 65536.0).round() as i64;
    let (step_x, step_y) = (fixed(a), fixed(b));
    let stride = w * 3;
    let (last_x, last_y) = (w as u64 - 1, h as u64 - 1);
    for y in 0..h {
        let py = y as f64 + 0.5 - cy;
        let px = 0.5 - cx;
        // Source position of the row's first pixel in pixel-index units (pixel i covers
        // [i, i + 1), so its centre is i + 0.5).
        let mut sx = fixed(a * px - b * py + cx - 0.5);
        let mut sy = fixed(b * px + a * py + cy - 0.5);
        let row = &mut out[y * stride..(y + 1) * stride];
        for px_out in row.chunks_exact_mut(3) {
            let (x0, y0) = (sx >> 16, sy >> 16);
            // Bilinear weights out of 256.
            let (wx, wy) = (((sx >> 8) & 255) as u32, ((sy >> 8) & 255) as u32);
            sx += step_x;
            sy += step_y;
            // Inside, both neighbours exist; otherwise each index is mirrored on its own.
            let (c0, c1, r0, r1) = if (x0 as u64) < last_x && (y0 as u64) < last_y {
                let (c, r) = (x0 as usize * 3, y0 as usize * stride);
                (c, c + 3, r, r + stride)
            } else {
                (
                    reflect(x0, w) * 3,
                    reflect(x0 + 1, w) * 3,
                    reflect(y0, h) * stride,
                    reflect(y0 + 1, h) * stride,
                )
            };
            let (p00, p10) = (&raw[r0 + c0..r0 + c0 + 3], &raw[r0 + c1..r0 + c1 + 3]);
            let (p01, p11) = (&raw[r1 + c0..r1 + c0 + 3], &raw[r1 + c1..r1 + c1 + 3]);
            let (ux, uy) = (256 - wx, 256 - wy);
            for ch in 0..3 {
                let top = u32::from(p00[ch]) * ux + u32::from(p10[ch]) * wx;
                let bottom = u32::from(p01[ch]) * ux + u32::from(p11[ch]) * wx;
                // At most 255 * 65536: rounded and shifted back, it is a byte.
                px_out[ch] = ((top * uy + bottom * wy + (1 << 15)) >> 16) as u8;
            }
        }
    }
    RgbImage::from_raw(image.width(), image.height(), out).expect("same size as the source")
}

/// The index `i` mirrored into `0..n` (half-sample symmetric: `-1` reads `0`, `n` reads
/// `n - 1`), which is the source reflected about its outer pixel edges.
pub(super) fn reflect(i: i64, n: usize) -> usize {
    let n = n as i64;
    // The common cases without a division: inside, or within one image of an edge.
    let m = if (0..n).contains(&i) {
        i
    } else if (-n..0).contains(&i) {
        -1 - i
    } else if (n..2 * n).contains(&i) {
        2 * n - 1 - i
    } else {
        let m = i.rem_euclid(2 * n);
        if m >= n { 2 * n - 1 - m } else { m }
    };
    m as usize
}

/// Covers every pixel under `masks` (fractions of the image, as the core's preprocessing reads
/// them) with the smear beside it, mirrored across the rectangle's inner edges (those not on
/// the image border), the same reflection the warp fills its outside with. Each inner edge's
/// mirror image is weighted by the inverse square of the distance to that edge, so the fill
/// continues the smear across every inner edge without a seam. A flat patch would hide the
/// overlay as well, but once turned into another corner it would be a sharp-edged artefact
/// the network sees during training and never at inference. Mirror pixels that are masked
/// themselves take no part; with none left (or a mask over the whole image) a pixel takes the
/// per-channel median of the unmasked pixels. Does nothing when `masks` is empty.
pub(super) fn fill_masks(image: &mut RgbImage, masks: &[MaskRect]) {
    if masks.is_empty() || image.as_raw().is_empty() {
        return;
    }
    let (w, h) = (image.width(), image.height());
    let (wu, hu) = (w as usize, h as usize);
    let rects: Vec<_> = masks.iter().map(|m| m.pixels(w, h)).collect();
    let mut masked = vec![false; wu * hu];
    for (xs, ys) in &rects {
        for y in ys.clone() {
            for x in xs.clone() {
                masked[y as usize * wu + x as usize] = true;
            }
        }
    }
    let fallback = median_outside(image, &masked);
    // Reads come from `source`, which keeps every unmasked pixel as it was.
    let source = image.clone();
    for (xs, ys) in rects {
        let (x0, x1) = (i64::from(xs.start), i64::from(xs.end));
        let (y0, y1) = (i64::from(ys.start), i64::from(ys.end));
        let (left, right) = (xs.start > 0, xs.end < w);
        let (top, bottom) = (ys.start > 0, ys.end < h);
        for y in ys.clone() {
            for x in xs.clone() {
                let (xi, yi) = (i64::from(x), i64::from(y));
                // (inner, distance from the edge, mirror position) for each edge.
                let mirrors = [
                    (left, xi - x0, (2 * x0 - 1 - xi, yi)),
                    (right, x1 - 1 - xi, (2 * x1 - 1 - xi, yi)),
                    (top, yi - y0, (xi, 2 * y0 - 1 - yi)),
                    (bottom, y1 - 1 - yi, (xi, 2 * y1 - 1 - yi)),
                ];
                let (mut sum, mut total) = ([0.0f32; 3], 0.0f32);
                for (inner, distance, (mx, my)) in mirrors {
                    // A rectangle wider than the room beside it mirrors again at the border.
                    let (mx, my) = (reflect(mx, wu), reflect(my, hu));
                    if !inner || masked[my * wu + mx] {
                        continue;
                    }
                    let weight = 1.0 / (distance as f32 + 0.5).powi(2);
                    let i = (my * wu + mx) * 3;
                    for (acc, &v) in sum.iter_mut().zip(&source.as_raw()[i..i + 3]) {
                        *acc += weight * f32::from(v);
                    }
                    total += weight;
                }
                let pixel = if total > 0.0 {
                    sum.map(|v| (v / total + 0.5) as u8)
                } else {
                    fallback
                };
                image.put(x, y, pixel);
            }
        }
    }
}

/// The per-channel median of the pixels not flagged in `masked` (of all pixels when every
/// one is flagged).
fn median_outside(image: &RgbImage, masked: &[bool]) -> [u8; 3] {
    let raw = image.as_raw();
    let mut histograms = [[0u64; 256]; 3];
    let mut counted = 0u64;
    for (px, &m) in raw.chunks_exact(3).zip(masked) {
        if !m {
            counted += 1;
            for ch in 0..3 {
                histograms[ch][px[ch] as usize] += 1;
            }
        }
    }
    if counted == 0 {
        for px in raw.chunks_exact(3) {
            for ch in 0..3 {
                histograms[ch][px[ch] as usize] += 1;
            }
        }
        counted = (raw.len() / 3) as u64;
    }
    let half = counted.div_ceil(2);
    core::array::from_fn(|ch| {
        let mut seen = 0;
        histograms[ch]
            .iter()
            .position(|&n| {
                seen += n;
                seen >= half
            })
            .unwrap_or(0) as u8
    })
}
