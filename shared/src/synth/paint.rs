//! Rasterization: an optical-density canvas, anti-aliased coverage from signed distance,
//! hashed value noise, developing density into light, and the blur of a defocused frame.
//!
//! Objects add optical density (Beer-Lambert) rather than paint colour, so two overlapping
//! red cells darken where they overlap, as on a real slide, and a stain is just a set of
//! density colours.

use alloc::vec;
use alloc::vec::Vec;

use crate::raster::RgbImage;

/// Width in pixels of an edge's ramp: over one pixel, like the soft optics of the real
/// images, so shapes do not look like pixel art.
pub(crate) const EDGE: f32 = 1.5;

/// How much of a pixel a shape covers, from the signed distance of the pixel centre to the
/// shape's outline (negative inside).
#[inline]
pub(crate) fn coverage(sd: f32) -> f32 {
    ramp(sd, 1.0 / EDGE)
}

/// [`coverage`] with an edge `1 / inv_width` pixels wide.
#[inline]
pub(crate) fn ramp(sd: f32, inv_width: f32) -> f32 {
    (0.5 - sd * inv_width).clamp(0.0, 1.0)
}

/// `floor` for the pixel-sized values used here (well within `i32`); `libm::floorf` is a
/// bit-twiddling routine on targets without a rounding instruction, and this runs per row
/// of every shape and per pixel of every nucleus.
#[inline]
pub(crate) fn floor(x: f32) -> f32 {
    let t = x as i32 as f32;
    if t > x { t - 1.0 } else { t }
}

#[inline]
fn ceil(x: f32) -> f32 {
    -floor(-x)
}

#[inline]
pub(crate) fn lerp3(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

#[inline]
pub(crate) fn scale3(a: [f32; 3], k: f32) -> [f32; 3] {
    [a[0] * k, a[1] * k, a[2] * k]
}

/// Optical density per pixel and channel over a window of world coordinates.
///
/// World coordinates are in units of [`super::MICROMETRES_PER_PIXEL`] (the reference
/// camera's pixels), whatever the scale of the picture: every shape is sized once, in
/// micrometres, and a canvas at another magnification samples it more or less densely.
pub(crate) struct Canvas {
    width: u32,
    height: u32,
    /// World position of the top-left corner: objects live in world coordinates so one
    /// scene can be cut into many overlapping frames that agree pixel for pixel.
    origin: [f32; 2],
    /// World units per pixel: 1 at the reference scale, below 1 at higher magnification.
    step: f32,
    od: Vec<[f32; 3]>,
}

impl Canvas {
    /// A canvas of `width` x `height` pixels, `step` world units apart, whose top-left
    /// corner lies at world position `origin`.
    pub(crate) fn new(
        width: u32,
        height: u32,
        origin: [f32; 2],
        step: f32,
        base: [f32; 3],
    ) -> Self {
        Canvas {
            width,
            height,
            origin,
            step,
            od: vec![base; width as usize * height as usize],
        }
    }

    /// World units between neighbouring pixels' centres.
    #[inline]
    pub(crate) fn step(&self) -> f32 {
        self.step
    }

    /// Calls `f(dx, dy, od)` for every pixel whose centre lies in the box `ext`
    /// (`[min dx, min dy, max dx, max dy]`) around `center`, with the pixel centre's offset
    /// from `center`.
    #[inline]
    pub(crate) fn each(
        &mut self,
        center: [f32; 2],
        ext: [f32; 4],
        mut f: impl FnMut(f32, f32, &mut [f32; 3]),
    ) {
        let step = self.step;
        self.each_row(
            center,
            [ext[1], ext[3]],
            |_| Some([ext[0], ext[2]]),
            |dx, dy, row| {
                let mut dx = dx;
                for px in row {
                    f(dx, dy, px);
                    dx += step;
                }
            },
        );
    }

    /// Row by row: for each row whose pixel centres lie within `[min dy, max dy]` of
    /// `center`, `span(dy)` gives the `[min dx, max dx]` a shape covers on that row (or
    /// `None`), and `f(dx, dy, pixels)` gets the pixels whose centres lie in it, starting at
    /// offset `dx` and [`Canvas::step`] apart. Shapes that know their extent per row skip the
    /// corners of their box. Offsets and spans are in world units.
    #[inline]
    pub(crate) fn each_row(
        &mut self,
        center: [f32; 2],
        rows: [f32; 2],
        mut span: impl FnMut(f32) -> Option<[f32; 2]>,
        mut f: impl FnMut(f32, f32, &mut [[f32; 3]]),
    ) {
        if self.width == 0 || self.height == 0 {
            return;
        }
        // In pixels from here on: the pixel at column x has its centre x + 0.5 pixels (that
        // is, (x + 0.5) * step world units) from the origin.
        let inv = 1.0 / self.step;
        let lx = (center[0] - self.origin[0]) * inv;
        let ly = (center[1] - self.origin[1]) * inv;
        let y0 = ceil(ly + rows[0] * inv - 0.5).max(0.0);
        let y1 = floor(ly + rows[1] * inv - 0.5).min(self.height as f32 - 1.0);
        // `floor` and `ceil` turn NaN into a number, so no comparison here sees one.
        if y0 > y1 {
            return;
        }
        let w = self.width as usize;
        let last = self.width as f32 - 1.0;
        let step = self.step;
        for y in y0 as usize..=y1 as usize {
            let dy = (y as f32 + 0.5 - ly) * step;
            let Some([a, b]) = span(dy) else { continue };
            let x0 = ceil(lx + a * inv - 0.5).max(0.0);
            let x1 = floor(lx + b * inv - 0.5).min(last);
            if x0 > x1 {
                continue;
            }
            let (x0, x1) = (x0 as usize, x1 as usize);
            f(
                (x0 as f32 + 0.5 - lx) * step,
                dy,
                &mut self.od[y * w + x0..=y * w + x1],
            );
        }
    }

    /// Shines the lamp through the canvas.
    pub(crate) fn develop(&self, light: &Light) -> RgbImage {
        let transmit = ExpTable::new();
        let (w, h) = (self.width as usize, self.height as usize);
        let mut image = RgbImage::filled(self.width, self.height, [0; 3]);
        let data = image.as_raw_mut();
        // Brightness is white x (row term + column term): the column part is computed once
        // per image, interleaved like the pixels.
        let columns: Vec<f32> = (0..w * 3)
            .map(|i| {
                let u = ((i / 3) as f32 + 0.5) / w as f32 - 0.5;
                let lamp = light.slope[0] * u - light.vignette * 2.0 * u * u;
                255.0 * light.gain * light.white[i % 3] * lamp
            })
            .collect();
        // Sensor noise: one strip of random values that each row reads from its own random
        // offset; much cheaper than hashing every pixel, and patternless at this amplitude.
        let strip: Vec<f32> = (0..(w + GRAIN_SHIFTS) * 3)
            .map(|i| {
                let byte = hash(i as i32, -1, light.seed) >> 24;
                (byte as f32 * (2.0 / 255.0) - 1.0) * light.grain
            })
            .collect();
        for y in 0..h {
            let v = (y as f32 + 0.5) / h as f32 - 0.5;
            let row = 1.0 + light.slope[1] * v - light.vignette * 2.0 * v * v;
            let white = scale3(light.white, 255.0 * light.gain * row);
            let shift = (hash(0, y as i32, light.seed) as usize % GRAIN_SHIFTS) * 3;
            let noise = &strip[shift..shift + w * 3];
            let ods = &self.od[y * w..(y + 1) * w];
            let out = &mut data[y * w * 3..(y + 1) * w * 3];
            let pixels = out
                .chunks_exact_mut(3)
                .zip(ods)
                .zip(columns.chunks_exact(3).zip(noise.chunks_exact(3)));
            for ((px, od), (col, n)) in pixels {
                for c in 0..3 {
                    let value = (white[c] + col[c]) * transmit.at(od[c]) + n[c];
                    px[c] = (value + 0.5).clamp(0.0, 255.0) as u8;
                }
            }
        }
        image
    }
}

/// Offsets a row can start its noise at.
const GRAIN_SHIFTS: usize = 4096;

/// The lamp and camera of one image.
pub(crate) struct Light {
    /// Colour of clean glass, each channel in `0..=1`.
    pub(crate) white: [f32; 3],
    /// Exposure: 1 is normal; above about 1.5 the background and pale cells saturate.
    pub(crate) gain: f32,
    /// Relative change of brightness across the image, left to right and top to bottom.
    pub(crate) slope: [f32; 2],
    /// Relative darkening in the corners.
    pub(crate) vignette: f32,
    /// Amplitude of sensor noise, in 8-bit levels.
    pub(crate) grain: f32,
    pub(crate) seed: u32,
}

/// `exp(-x)` for `x` in `[0, 8]` in steps of 1/512 (under half an 8-bit level apart):
/// developing a full-HD frame needs six million of them, too many for `libm::expf`.
struct ExpTable(Vec<f32>);

impl ExpTable {
    const PER_UNIT: f32 = 512.0;
    const LEN: usize = 8 * 512 + 1;

    fn new() -> Self {
        ExpTable(
            (0..Self::LEN)
                .map(|i| libm::expf(-(i as f32) / Self::PER_UNIT))
                .collect(),
        )
    }

    #[inline]
    fn at(&self, od: f32) -> f32 {
        // The cast saturates, so negative density reads as clear glass.
        let i = ((od * Self::PER_UNIT + 0.5) as i32).clamp(0, Self::LEN as i32 - 1);
        self.0[i as usize]
    }
}

/// A well-mixed 32-bit hash of a lattice point, for noise that needs no state.
#[inline]
pub(crate) fn hash(x: i32, y: i32, seed: u32) -> u32 {
    let mut h = seed.wrapping_mul(0x9E37_79B9)
        ^ (x as u32).wrapping_mul(0x85EB_CA6B)
        ^ (y as u32).wrapping_mul(0xC2B2_AE35);
    h ^= h >> 16;
    h = h.wrapping_mul(0x7FEB_352D);
    h ^= h >> 15;
    h = h.wrapping_mul(0x846C_A68B);
    h ^ (h >> 16)
}

#[inline]
fn unit(h: u32) -> f32 {
    (h >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Smooth value noise in `[0, 1]` with features about one unit across.
#[inline]
pub(crate) fn value_noise(x: f32, y: f32, seed: u32) -> f32 {
    let fx = floor(x);
    let fy = floor(y);
    let (ix, iy) = (fx as i32, fy as i32);
    let (tx, ty) = (x - fx, y - fy);
    let sx = tx * tx * (3.0 - 2.0 * tx);
    let sy = ty * ty * (3.0 - 2.0 * ty);
    let a = unit(hash(ix, iy, seed));
    let b = unit(hash(ix.wrapping_add(1), iy, seed));
    let c = unit(hash(ix, iy.wrapping_add(1), seed));
    let d = unit(hash(ix.wrapping_add(1), iy.wrapping_add(1), seed));
    let top = a + (b - a) * sx;
    let bottom = c + (d - c) * sx;
    top + (bottom - top) * sy
}

/// Blurs in place with `passes` box filters of the given radius, close to a Gaussian after
/// two or three: what a lens out of focus does to a frame.
pub(crate) fn box_blur(image: &mut RgbImage, radius: u32, passes: u32) {
    let (w, h) = (image.width() as usize, image.height() as usize);
    if w == 0 || h == 0 || radius == 0 {
        return;
    }
    let r = radius as usize;
    let data = image.as_raw_mut();
    let mut line = Vec::new();
    let mut sums = Vec::new();
    for _ in 0..passes {
        for y in 0..h {
            for c in 0..3 {
                blur_line(data, y * w * 3 + c, 3, w, r, &mut line, &mut sums);
            }
        }
        for x in 0..w {
            for c in 0..3 {
                blur_line(data, x * 3 + c, w * 3, h, r, &mut line, &mut sums);
            }
        }
    }
}

/// One strided line through `data`; edges repeat the border pixel.
fn blur_line(
    data: &mut [u8],
    start: usize,
    stride: usize,
    len: usize,
    r: usize,
    line: &mut Vec<u8>,
    sums: &mut Vec<u32>,
) {
    line.clear();
    line.extend((0..len).map(|i| data[start + i * stride]));
    sums.clear();
    sums.push(0);
    let mut total = 0u32;
    for i in 0..len + 2 * r {
        let src = i.saturating_sub(r).min(len - 1);
        total += u32::from(line[src]);
        sums.push(total);
    }
    let n = 2 * r as u32 + 1;
    for i in 0..len {
        let s = sums[i + 2 * r + 1] - sums[i];
        data[start + i * stride] = ((s + n / 2) / n) as u8;
    }
}
