//! Sliding windows shared by the f32 and int8 executors: the unfolding of convolution
//! receptive fields (im2col) and pooling windows clipped to their input.

use core::ops::Range;

use super::graph::{ConvGeometry, pool_out};
use crate::spec::Pool2d;

/// Unfolds the receptive fields of `channels` input planes into `fan_in x positions`
/// columns; taps outside the input read `pad` (0.0 in f32, the input's zero point in int8:
/// a real zero either way).
pub(super) fn im2col<T: Copy>(g: &ConvGeometry, channels: usize, x: &[T], pad: T, cols: &mut [T]) {
    let (h, w) = (g.input[1], g.input[2]);
    let (oh, ow) = (g.out_height(), g.out_width());
    let mut row = 0;
    for c in 0..channels {
        let plane = &x[c * h * w..(c + 1) * h * w];
        for ky in 0..g.kernel[0] {
            for kx in 0..g.kernel[1] {
                let dst = &mut cols[row * oh * ow..(row + 1) * oh * ow];
                for oy in 0..oh {
                    let iy =
                        (oy * g.stride[0] + ky * g.dilation[0]) as isize - g.padding[0] as isize;
                    let line = &mut dst[oy * ow..(oy + 1) * ow];
                    if iy < 0 || iy >= h as isize {
                        line.fill(pad);
                        continue;
                    }
                    let src = &plane[iy as usize * w..(iy as usize + 1) * w];
                    let offset = (kx * g.dilation[1]) as isize - g.padding[1] as isize;
                    let stride = g.stride[1];
                    // Output columns whose tap lands inside the row: [first, end).
                    let first = if offset < 0 {
                        ((-offset) as usize).div_ceil(stride).min(ow)
                    } else {
                        0
                    };
                    let end = if (w as isize) > offset {
                        ((w as isize - offset) as usize)
                            .div_ceil(stride)
                            .clamp(first, ow)
                    } else {
                        first
                    };
                    line[..first].fill(pad);
                    line[end..].fill(pad);
                    // A tap that never lands inside the row (a dilated kernel wider than
                    // the input, all in the padding) has nothing to copy, and its `start`
                    // would point outside `src`.
                    if first == end {
                        continue;
                    }
                    let start = (first * stride) as isize + offset;
                    let inside = &mut line[first..end];
                    if stride == 1 {
                        inside.copy_from_slice(&src[start as usize..start as usize + inside.len()]);
                    } else {
                        for (d, &v) in inside
                            .iter_mut()
                            .zip(src[start as usize..].iter().step_by(stride))
                        {
                            *d = v;
                        }
                    }
                }
                row += 1;
            }
        }
    }
}

/// One pooling window, clipped to its input plane (padding is never counted).
pub(super) struct PoolWindow {
    /// Index of the window's output value.
    pub output: usize,
    /// Input values inside the window.
    pub count: usize,
    channel: usize,
    rows: Range<usize>,
    columns: Range<usize>,
}

impl PoolWindow {
    /// The input values inside the window, row by row.
    pub fn values<'a, T>(
        &self,
        input: &'a [T],
        [_, h, w]: [usize; 3],
    ) -> impl Iterator<Item = &'a T> + 'a {
        let plane = &input[self.channel * h * w..(self.channel + 1) * h * w];
        let columns = self.columns.clone();
        self.rows
            .clone()
            .flat_map(move |y| plane[y * w + columns.start..y * w + columns.end].iter())
    }
}

/// Calls `f` with every window of pooling `p` over a `[channels, height, width]` input, in
/// output order.
pub(super) fn for_each_pool_window(
    p: &Pool2d,
    [c, h, w]: [usize; 3],
    mut f: impl FnMut(PoolWindow),
) {
    let (kh, kw) = (p.kernel[0] as usize, p.kernel[1] as usize);
    let (sh, sw) = (p.stride[0] as usize, p.stride[1] as usize);
    let (ph, pw) = (p.padding[0] as usize, p.padding[1] as usize);
    let (oh, ow) = (pool_out(h, kh, sh, ph), pool_out(w, kw, sw, pw));
    for channel in 0..c {
        for oy in 0..oh {
            let rows = (oy * sh).saturating_sub(ph)..(oy * sh + kh - ph).min(h);
            for ox in 0..ow {
                let columns = (ox * sw).saturating_sub(pw)..(ox * sw + kw - pw).min(w);
                f(PoolWindow {
                    output: channel * oh * ow + oy * ow + ox,
                    count: rows.len() * columns.len(),
                    channel,
                    rows: rows.clone(),
                    columns,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
