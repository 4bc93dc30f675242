//! The f32 reference: every lowered step in single precision. It is the yardstick the int8
//! path is measured against and what calibration observes, so it favours plain, checkable
//! loops; the matrix product is blocked so that the compiler vectorizes it.

use super::graph::{ConvGeometry, ConvParams, StepOp};
use super::kernels::Isa;
use super::window::{for_each_pool_window, im2col};
use crate::spec::Pool2d;

/// Scratch elements a convolution needs for its unfolded input (0 when it reads its input
/// in place or is depthwise).
pub(super) fn conv_scratch(g: &ConvGeometry) -> usize {
    if g.is_depthwise() || g.is_dense() {
        0
    } else {
        g.fan_in() * g.out_height() * g.out_width()
    }
}

/// Runs one step. `inputs` are the step's input slices, in order.
pub(super) fn step(
    op: &StepOp,
    dims: &[[usize; 3]],
    params: Option<&ConvParams>,
    inputs: &[&[f32]],
    out: &mut [f32],
    scratch: &mut [f32],
) {
    match op {
        StepOp::Conv(g) => {
            // The engine pairs every conv step with its parameters at load.
            if let Some(p) = params {
                conv(g, p, inputs[0], out, scratch);
            }
        }
        StepOp::Activation(a) => {
            for (o, &x) in out.iter_mut().zip(inputs[0]) {
                *o = a.apply(x);
            }
        }
        StepOp::MaxPool(p) => pool(p, dims[0], inputs[0], out, PoolKind::Max),
        StepOp::AvgPool(p) => pool(p, dims[0], inputs[0], out, PoolKind::Mean),
        StepOp::GlobalAvgPool => {
            let hw = dims[0][1] * dims[0][2];
            for (o, channel) in out.iter_mut().zip(inputs[0].chunks_exact(hw)) {
                *o = channel.iter().sum::<f32>() / hw as f32;
            }
        }
        StepOp::Add => {
            out.copy_from_slice(inputs[0]);
            for input in &inputs[1..] {
                for (o, &x) in out.iter_mut().zip(input.iter()) {
                    *o += x;
                }
            }
        }
        StepOp::Concat => {
            let mut at = 0;
            for input in inputs {
                out[at..at + input.len()].copy_from_slice(input);
                at += input.len();
            }
        }
        StepOp::ChannelScale => {
            let hw = dims[0][1] * dims[0][2];
            for ((o, x), &g) in out
                .chunks_exact_mut(hw)
                .zip(inputs[0].chunks_exact(hw))
                .zip(inputs[1])
            {
                for (o, &x) in o.iter_mut().zip(x) {
                    *o = x * g;
                }
            }
        }
    }
}

fn conv(g: &ConvGeometry, p: &ConvParams, input: &[f32], out: &mut [f32], scratch: &mut [f32]) {
    let positions = g.out_height() * g.out_width();
    if g.is_depthwise() {
        depthwise(g, &p.weights, input, out);
    } else {
        let groups = g.groups;
        let k = g.fan_in();
        let out_per_group = g.out_channels / groups;
        let in_per_group = g.input[0] / groups;
        let plane = g.input[1] * g.input[2];
        for group in 0..groups {
            let x = &input[group * in_per_group * plane..(group + 1) * in_per_group * plane];
            let columns: &[f32] = if g.is_dense() {
                x
            } else {
                im2col(g, in_per_group, x, 0.0, &mut scratch[..k * positions]);
                &scratch[..k * positions]
            };
            let rows = group * out_per_group..(group + 1) * out_per_group;
            gemm(
                out_per_group,
                k,
                positions,
                &p.weights[rows.start * k..rows.end * k],
                columns,
                &mut out[rows.start * positions..rows.end * positions],
            );
        }
    }
    let activation = g.activation;
    for (row, &b) in out.chunks_exact_mut(positions).zip(&p.bias) {
        for v in row {
            *v += b;
            if let Some(a) = activation {
                *v = a.apply(*v);
            }
        }
    }
}

fn depthwise(g: &ConvGeometry, weights: &[f32], input: &[f32], out: &mut [f32]) {
    let (h, w) = (g.input[1], g.input[2]);
    let (oh, ow) = (g.out_height(), g.out_width());
    let (kh, kw) = (g.kernel[0], g.kernel[1]);
    for c in 0..g.input[0] {
        let plane = &input[c * h * w..(c + 1) * h * w];
        let filter = &weights[c * kh * kw..(c + 1) * kh * kw];
        let dst = &mut out[c * oh * ow..(c + 1) * oh * ow];
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = 0.0;
                for ky in 0..kh {
                    let iy =
                        (oy * g.stride[0] + ky * g.dilation[0]) as isize - g.padding[0] as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    for kx in 0..kw {
                        let ix = (ox * g.stride[1] + kx * g.dilation[1]) as isize
                            - g.padding[1] as isize;
                        if ix >= 0 && ix < w as isize {
                            acc += plane[iy as usize * w + ix as usize] * filter[ky * kw + kx];
                        }
                    }
                }
                dst[oy * ow + ox] = acc;
            }
        }
    }
}

/// Columns per block of the matrix product: four rows of accumulators stay in L1.
const BLOCK: usize = 128;

/// `c (m x n) = a (m x k) * b (k x n)`, all row-major, vectorized for AVX2 where the CPU
/// has it (AVX-512 measured no faster for these loops).
fn gemm(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    Isa::Avx2.vectorize(
        #[inline(always)]
        || gemm_portable(m, k, n, a, b, c),
    );
}

/// Four output rows at a time over a block of columns: each loaded row of `b` feeds four
/// accumulators. Multiplies and adds stay separate (no fused multiply-add), so every
/// instruction set gives the same bits.
#[inline(always)]
fn gemm_portable(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let mut acc = [[0.0f32; BLOCK]; 4];
    for r0 in (0..m).step_by(4) {
        let rows = (m - r0).min(4);
        for j0 in (0..n).step_by(BLOCK) {
            let cols = (n - j0).min(BLOCK);
            for row in acc.iter_mut().take(rows) {
                row[..cols].fill(0.0);
            }
            for kk in 0..k {
                let b_row = &b[kk * n + j0..kk * n + j0 + cols];
                for (r, row) in acc.iter_mut().enumerate().take(rows) {
                    let a_v = a[(r0 + r) * k + kk];
                    for (acc, &b) in row[..cols].iter_mut().zip(b_row) {
                        *acc += a_v * b;
                    }
                }
            }
            for (r, row) in acc.iter().enumerate().take(rows) {
                c[(r0 + r) * n + j0..(r0 + r) * n + j0 + cols].copy_from_slice(&row[..cols]);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum PoolKind {
    Max,
    Mean,
}

fn pool(p: &Pool2d, dims: [usize; 3], input: &[f32], out: &mut [f32], kind: PoolKind) {
    for_each_pool_window(p, dims, |window| {
        let values = window.values(input, dims);
        out[window.output] = match kind {
            PoolKind::Max => values.fold(f32::NEG_INFINITY, |m, &v| m.max(v)),
            PoolKind::Mean => values.sum::<f32>() / window.count as f32,
        };
    });
}
