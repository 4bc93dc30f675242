//! Registration: where a frame lies relative to the one before, by phase correlation of
//! their shrunk grey copies (the module's own doc says how).

use std::sync::Arc;

use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

use super::Registration;
use crate::scan::blocks::FrameBlocks;

/// Highest peaks of the correlation surface tried.
const PEAKS: usize = 3;
/// Share of each side the Tukey window tapers over.
const TAPER: f32 = 0.1;

/// Phase correlation of each frame with the one before; keeps the previous frame's shrunk
/// grey copy and spectrum, and all working memory.
pub(super) struct Registrar {
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
    pub(super) fn new(target_width: u32) -> Self {
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
    pub(super) fn register(
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
        self.transform((w, h));
        let result = if self.has_previous {
            self.best_motion(min_correlation, min_overlap, (w, h))
        } else {
            None
        };
        std::mem::swap(&mut self.grey, &mut self.previous_grey);
        std::mem::swap(&mut self.spectrum, &mut self.previous_spectrum);
        self.has_previous = true;
        result
    }

    /// Where the frame in `blocks`, of another size than the previous frame, shows the
    /// previous frame's field, read at each of `scales` (previous-frame pixels per pixel
    /// of this frame: the ratio of the sizes for a rescaled copy of a field, 1 for a
    /// camera's smaller or larger window at the same magnification): the reading that
    /// correlates best, with its scale, or `None` when none correlates well enough. The
    /// motion is in previous-frame pixels. The previous frame stays the reference: a
    /// registrar for the new size is another registrar.
    pub(super) fn register_rescaled(
        &mut self,
        blocks: &FrameBlocks,
        scales: &[f64],
        min_correlation: f32,
        min_overlap: f32,
    ) -> Option<(Registration, f64)> {
        let (w, h) = self.size;
        if !self.has_previous || w < 8 || h < 8 {
            return None;
        }
        let group = blocks.per_side(self.factor_for(blocks.frame_size().0));
        let mut own = Vec::new();
        let own_size = blocks.coarsen(group, |_, _, s| own.push((s[0] + s[1] + s[2]) as f32));
        let own_factor = group * blocks.factor();
        let mut best: Option<(Registration, f64)> = None;
        for &scale in scales {
            let Some(valid) = self.resample(&own, own_size, own_factor, scale) else {
                continue;
            };
            self.transform(valid);
            let Some(r) = self.best_motion(min_correlation, min_overlap, valid) else {
                continue;
            };
            if best.is_none_or(|(b, _)| r.correlation > b.correlation) {
                best = Some((r, scale));
            }
        }
        best
    }

    /// The side, in frame pixels, of a registration pixel for frames `width` across.
    /// The size of the frames it registers, `(0, 0)` before the first.
    pub(super) fn frame_size(&self) -> (u32, u32) {
        self.frame_size
    }

    pub(super) fn factor_for(&self, width: u32) -> u32 {
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

    /// Windowed 2-D FFT of `grey` into `spectrum` (column-major: `w` columns of `h`), the
    /// window tapering over the `valid` top-left part that a frame fills (all of it but
    /// for a frame of another size, [`Registrar::resample`]).
    fn transform(&mut self, valid: (usize, usize)) {
        let (w, h) = self.size;
        let (Some(rows), Some(columns)) = (&self.forward_rows, &self.forward_columns) else {
            return;
        };
        let part = |window: &[f32], n: usize, v: usize| -> Vec<f32> {
            if v >= n {
                window.to_vec()
            } else {
                let mut taper = tukey(v);
                taper.resize(n, 0.0);
                taper
            }
        };
        let window_x = part(&self.window_x, w, valid.0);
        let window_y = part(&self.window_y, h, valid.1);
        let rows_in = self.work.chunks_exact_mut(w).zip(self.grey.chunks_exact(w));
        for ((work, grey), &wy) in rows_in.zip(&window_y) {
            for ((out, &g), &wx) in work.iter_mut().zip(grey).zip(&window_x) {
                *out = Complex32::new(g * wy * wx, 0.0);
            }
        }
        rows.process_with_scratch(&mut self.work, &mut self.scratch);
        transpose(&self.work, &mut self.spectrum, w, h);
        columns.process_with_scratch(&mut self.spectrum, &mut self.scratch);
    }

    /// Puts a frame of another size, shrunk to `own` (`own_size`, a pixel being
    /// `own_factor` frame pixels), into `grey` on the previous frame's grid, read at
    /// `scale` previous-frame pixels per frame pixel, each grid pixel the mean over its
    /// area; zero mean over the top-left part it fills, which is returned, and zero
    /// beyond. `None` when it fills too little to register.
    fn resample(
        &mut self,
        own: &[f32],
        own_size: (u32, u32),
        own_factor: u32,
        scale: f64,
    ) -> Option<(usize, usize)> {
        let (w, h) = self.size;
        let (ow, oh) = (own_size.0 as usize, own_size.1 as usize);
        if !(scale.is_finite() && scale > 0.0) || ow < 2 || oh < 2 {
            return None;
        }
        // Own-grid pixels per grid pixel.
        let step = f64::from(self.factor) / (scale * f64::from(own_factor));
        let filled = |n: usize, own_n: usize| {
            (0..n)
                .take_while(|&u| (u as f64 + 0.5) * step <= own_n as f64)
                .count()
        };
        let valid = (filled(w, ow), filled(h, oh));
        if valid.0 < 8 || valid.1 < 8 {
            return None;
        }
        let samples = step.ceil().max(1.0) as usize;
        let at = |x: f64, y: f64| -> f32 {
            let x = x.clamp(0.0, (ow - 1) as f64);
            let y = y.clamp(0.0, (oh - 1) as f64);
            let (x0, y0) = ((x as usize).min(ow - 2), (y as usize).min(oh - 2));
            let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
            let row = |yy: usize| own[yy * ow + x0] * (1.0 - fx) + own[yy * ow + x0 + 1] * fx;
            row(y0) * (1.0 - fy) + row(y0 + 1) * fy
        };
        self.grey.clear();
        self.grey.resize(w * h, 0.0);
        let mut sum = 0.0f64;
        for v in 0..valid.1 {
            for u in 0..valid.0 {
                let mut value = 0.0f32;
                for j in 0..samples {
                    let y = (v as f64 + (j as f64 + 0.5) / samples as f64) * step - 0.5;
                    for i in 0..samples {
                        let x = (u as f64 + (i as f64 + 0.5) / samples as f64) * step - 0.5;
                        value += at(x, y);
                    }
                }
                let value = value / (samples * samples) as f32;
                self.grey[v * w + u] = value;
                sum += f64::from(value);
            }
        }
        let mean = (sum / (valid.0 * valid.1) as f64) as f32;
        for v in 0..valid.1 {
            for g in &mut self.grey[v * w..][..valid.0] {
                *g -= mean;
            }
        }
        Some(valid)
    }

    /// The best-correlating reading of the highest peaks of the phase correlation, the
    /// current frame filling the `valid` top-left part of the grid.
    fn best_motion(
        &mut self,
        min_correlation: f32,
        min_overlap: f32,
        valid: (usize, usize),
    ) -> Option<Registration> {
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
                        valid,
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
/// pixels both show, `current` filling its `valid` top-left part; `None` when they share
/// less than `min_overlap` of the smaller frame or either side is flat there.
fn overlap_correlation(
    previous: &[f32],
    current: &[f32],
    w: usize,
    h: usize,
    valid: (usize, usize),
    motion: (isize, isize),
    min_overlap: f32,
) -> Option<f32> {
    let (dx, dy) = motion;
    let x0 = (-dx).max(0) as usize;
    let x1 = (w as isize - dx).min(valid.0 as isize);
    let y0 = (-dy).max(0) as usize;
    let y1 = (h as isize - dy).min(valid.1 as isize);
    if x1 <= x0 as isize || y1 <= y0 as isize {
        return None;
    }
    let (x1, y1) = (x1 as usize, y1 as usize);
    let n = (x1 - x0) * (y1 - y0);
    if (n as f32) < min_overlap * (valid.0 * valid.1) as f32 || n < 16 {
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
