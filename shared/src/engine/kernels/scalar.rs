//! The plain reference kernels: the ground truth every SIMD kernel is tested against, and
//! the kernels of targets without SIMD (Cortex-M).
//!
//! Accumulation wraps in i32 so that the definition is total; the engine's sizes never
//! come near the wrap (see [`OutputStage`]).

use super::{DepthwiseShape, OutputStage};

/// Columns accumulated together, so that each weight is loaded once per block and the
/// right-hand side is read row by row.
const BLOCK: usize = 16;

/// `out = stage(a * b)` with `a` row-major `rows x k`, `b` row-major `k x n`.
pub(super) fn gemm(
    a: &[i8],
    rows: usize,
    k: usize,
    b: &[i8],
    n: usize,
    stage: &OutputStage,
    out: &mut [i8],
) {
    for r in 0..rows {
        let w = &a[r * k..(r + 1) * k];
        for j0 in (0..n).step_by(BLOCK) {
            let width = BLOCK.min(n - j0);
            let mut acc = [0i32; BLOCK];
            for (p, &wp) in w.iter().enumerate() {
                let row = &b[p * n + j0..p * n + j0 + width];
                for (a, &x) in acc.iter_mut().zip(row) {
                    *a = a.wrapping_add(i32::from(wp) * i32::from(x));
                }
            }
            let dst = &mut out[r * n + j0..r * n + j0 + width];
            for (o, &a) in dst.iter_mut().zip(&acc) {
                *o = stage.apply(r, a);
            }
        }
    }
}

/// Depthwise convolution of a CHW map, one filter per channel; positions outside the map
/// read `pad`.
pub(super) fn depthwise(
    shape: &DepthwiseShape,
    input: &[i8],
    pad: i8,
    weights: &[i8],
    stage: &OutputStage,
    out: &mut [i8],
) {
    let (h, w) = (shape.height, shape.width);
    let [kh, kw] = shape.kernel;
    let (oh, ow) = (shape.out_height(), shape.out_width());
    for c in 0..shape.channels {
        let plane = &input[c * h * w..(c + 1) * h * w];
        let filter = &weights[c * kh * kw..(c + 1) * kh * kw];
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = 0i32;
                for ky in 0..kh {
                    let iy = (oy * shape.stride[0] + ky * shape.dilation[0])
                        .checked_sub(shape.padding[0])
                        .filter(|&iy| iy < h);
                    for kx in 0..kw {
                        let ix = (ox * shape.stride[1] + kx * shape.dilation[1])
                            .checked_sub(shape.padding[1])
                            .filter(|&ix| ix < w);
                        let x = match (iy, ix) {
                            (Some(iy), Some(ix)) => plane[iy * w + ix],
                            _ => pad,
                        };
                        acc = acc.wrapping_add(i32::from(x) * i32::from(filter[ky * kw + kx]));
                    }
                }
                out[(c * oh + oy) * ow + ox] = stage.apply(c, acc);
            }
        }
    }
}
