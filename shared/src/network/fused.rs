//! Batch normalization in training and depthwise convolution as single operations with
//! their own gradients, on burn's CPU training backend (`Autodiff<Flex>`).
//!
//! Composed from tensor operations, a training batch norm makes about a dozen passes over
//! its input forward and backward, each allocating a tensor of the input's size; on two
//! cores it took a third of an `edge-s` training step. Written out, it reads the input
//! twice forward (statistics, then output) and twice backward (sums, then gradient), as
//! PyTorch's native kernel does. burn's CPU backend differentiates a depthwise convolution
//! as a general grouped one (a transposed convolution for the input, one convolution per
//! group for the weights); here each channel's plane is one short loop nest.
//!
//! Other backends keep burn's own operations (each function here hands their tensors
//! back), so CUDA and inference are untouched.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::any::Any;

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData, TensorPrimitive};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

type Train = Autodiff<Flex>;

/// A training batch norm's output and the batch's per-channel statistics.
pub(super) struct Normalized<B: Backend> {
    /// The normalized, scaled and shifted rows.
    pub rows: Tensor<B, 2>,
    /// Per-channel mean of the batch (not tracked).
    pub mean: Tensor<B, 1>,
    /// Per-channel biased variance of the batch (not tracked).
    pub variance: Tensor<B, 1>,
}

/// Normalizes `rows` = `[batch * channels, positions]` (channel-major within each example)
/// by the batch's own statistics, as one operation, when `B` is the CPU training backend;
/// otherwise hands the three tensors back for the composed version.
#[allow(clippy::type_complexity)]
pub(super) fn batch_norm<B: Backend>(
    rows: Tensor<B, 2>,
    batch: usize,
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    epsilon: f64,
) -> Result<Normalized<B>, (Tensor<B, 2>, Tensor<B, 1>, Tensor<B, 1>)> {
    let rows = match cast::<_, Tensor<Train, 2>>(rows) {
        Ok(rows) => rows,
        Err(rows) => return Err((rows, gamma, beta)),
    };
    // From here on `B` is `Train`, so every cast below succeeds.
    let out = batch_norm_cpu(rows, batch, same(gamma), same(beta), epsilon);
    Ok(Normalized {
        rows: same(out.rows),
        mean: same(out.mean),
        variance: same(out.variance),
    })
}

/// burn's tracked tensor on the CPU training backend.
type Tracked = burn::tensor::ops::FloatTensor<Train>;

/// Records `op` in the autodiff graph as the step that made `output` from `parents`,
/// keeping `state` for its backward pass only when some parent needs a gradient.
fn record<O: Backward<Flex, N>, const N: usize>(
    op: O,
    parents: [&Tracked; N],
    state: O::State,
    output: FlexTensor,
) -> Tracked {
    match op
        .prepare::<NoCheckpointing>(parents.map(|p| p.node.clone()))
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    }
}

/// `value` as a `T` if that is its type.
fn cast<A: 'static, T: 'static>(value: A) -> Result<T, A> {
    let boxed: Box<dyn Any> = Box::new(value);
    match boxed.downcast::<T>() {
        Ok(t) => Ok(*t),
        Err(boxed) => Err(*boxed
            .downcast::<A>()
            .expect("a box holds the type it was made from")),
    }
}

/// `value` as a `T` where the caller knows that is its type.
fn same<A: 'static, T: 'static>(value: A) -> T {
    match cast(value) {
        Ok(t) => t,
        Err(_) => unreachable!("called only once the backend is known to be Train"),
    }
}

fn batch_norm_cpu(
    rows: Tensor<Train, 2>,
    batch: usize,
    gamma: Tensor<Train, 1>,
    beta: Tensor<Train, 1>,
    epsilon: f64,
) -> Normalized<Train> {
    let [total, positions] = rows.dims();
    let channels = total / batch;
    let x = rows.into_primitive().tensor();
    let gamma = gamma.into_primitive().tensor();
    let beta = beta.into_primitive().tensor();
    let input = x.primitive.to_contiguous();
    let xs = floats(&input);
    let gs = floats(&gamma.primitive.to_contiguous()).to_vec();
    let bs = floats(&beta.primitive.to_contiguous()).to_vec();

    let (mean, variance) = statistics(xs, batch, channels, positions);
    let inv_std: Vec<f32> = variance
        .iter()
        .map(|v| (1.0 / (f64::from(*v) + epsilon).sqrt()) as f32)
        .collect();
    let mut y = vec![0.0f32; xs.len()];
    rows_par(&mut y, positions)
        .zip(xs.par_chunks(positions.max(1)))
        .enumerate()
        .for_each(|(row, (out, x))| {
            let c = row % channels;
            let scale = gs[c] * inv_std[c];
            let shift = bs[c] - mean[c] * scale;
            for (o, v) in out.iter_mut().zip(x) {
                *o = v * scale + shift;
            }
        });
    let y = FlexTensor::from_data(TensorData::new(y, [total, positions]));

    let state = NormState {
        input,
        mean: mean.clone(),
        inv_std,
        gamma: gs,
        batch,
    };
    let out = record(BatchNormBackward, [&x, &gamma, &beta], state, y);
    let device = Default::default();
    Normalized {
        rows: Tensor::from_primitive(TensorPrimitive::Float(out)),
        mean: Tensor::from_data(TensorData::new(mean, [channels]), &device),
        variance: Tensor::from_data(TensorData::new(variance, [channels]), &device),
    }
}

/// What the backward pass needs: the input, the batch's statistics and the scale.
#[derive(Clone, Debug)]
struct NormState {
    input: FlexTensor,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    gamma: Vec<f32>,
    batch: usize,
}

#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    type State = NormState;

    fn backward(self, ops: Ops<NormState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let state = ops.state;
        let [total, positions] = [
            state.input.layout().shape()[0],
            state.input.layout().shape()[1],
        ];
        let channels = total / state.batch;
        let xs = floats(&state.input);
        let dy = floats(&grad);

        // Per channel: the sum of the output gradient (beta's gradient) and its sum against
        // the normalized input (gamma's).
        let sums: Vec<(f64, f64)> = (0..channels)
            .into_par_iter()
            .map(|c| {
                let (mut sum, mut dot) = (0.0f64, 0.0f64);
                for n in 0..state.batch {
                    let at = (n * channels + c) * positions;
                    let (g, x) = (&dy[at..at + positions], &xs[at..at + positions]);
                    let m = state.mean[c];
                    sum += f64::from(lane_sum(g, x, |g, _| g));
                    dot +=
                        f64::from(lane_sum(g, x, |g, x| g * (x - m))) * f64::from(state.inv_std[c]);
                }
                (sum, dot)
            })
            .collect();
        let count = (state.batch * positions) as f64;

        if let Some(node) = node_x {
            let mut dx = vec![0.0f32; xs.len()];
            rows_par(&mut dx, positions)
                .zip(
                    xs.par_chunks(positions.max(1))
                        .zip(dy.par_chunks(positions.max(1))),
                )
                .enumerate()
                .for_each(|(row, (out, (x, g)))| {
                    let c = row % channels;
                    let inv = state.inv_std[c];
                    let k = state.gamma[c] * inv;
                    let mean_dy = (sums[c].0 / count) as f32;
                    let mean_dy_xhat = (sums[c].1 / count) as f32;
                    for ((o, x), g) in out.iter_mut().zip(x).zip(g) {
                        let xhat = (x - state.mean[c]) * inv;
                        *o = k * (g - mean_dy - xhat * mean_dy_xhat);
                    }
                });
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(dx, [total, positions])),
            );
        }
        if let Some(node) = node_gamma {
            let dgamma: Vec<f32> = sums.iter().map(|s| s.1 as f32).collect();
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(dgamma, [channels])),
            );
        }
        if let Some(node) = node_beta {
            let dbeta: Vec<f32> = sums.iter().map(|s| s.0 as f32).collect();
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(dbeta, [channels])),
            );
        }
    }
}

/// Per-channel mean and biased variance, two passes in double precision.
fn statistics(xs: &[f32], batch: usize, channels: usize, positions: usize) -> (Vec<f32>, Vec<f32>) {
    let count = (batch * positions) as f64;
    (0..channels)
        .into_par_iter()
        .map(|c| {
            let rows = || (0..batch).map(move |n| (n * channels + c) * positions);
            let sum: f64 = rows()
                .map(|at| {
                    let x = &xs[at..at + positions];
                    f64::from(lane_sum(x, x, |v, _| v))
                })
                .sum();
            let mean = sum / count;
            let m = mean as f32;
            let squares: f64 = rows()
                .map(|at| {
                    let x = &xs[at..at + positions];
                    f64::from(lane_sum(x, x, |v, _| (v - m) * (v - m)))
                })
                .sum();
            (mean as f32, (squares / count) as f32)
        })
        .unzip()
}

/// `Σ f(a[i], b[i])` in eight running sums, an order the compiler may vectorize (a single
/// running sum of floats must be added one element at a time).
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    const LANES: usize = 8;
    let mut acc = [0.0f32; LANES];
    let (a8, b8) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(a, b)| f(*a, *b))
        .sum();
    for (a, b) in a8.zip(b8) {
        for lane in 0..LANES {
            acc[lane] += f(a[lane], b[lane]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `out[i] += k * source[i * stride]` for every `i` of `out` (`source` is long enough);
/// at stride 1 plain slices, which the compiler vectorizes.
fn add_scaled(out: &mut [f32], source: &[f32], stride: usize, k: f32) {
    if stride == 1 {
        let len = out.len();
        for (o, x) in out.iter_mut().zip(&source[..len]) {
            *o += k * x;
        }
    } else {
        for (o, x) in out.iter_mut().zip(source.iter().step_by(stride)) {
            *o += k * x;
        }
    }
}

/// The adjoint of `add_scaled`: `target[i * stride] += k * g[i]` for every `i` of `g`.
fn add_scaled_back(target: &mut [f32], g: &[f32], stride: usize, k: f32) {
    if stride == 1 {
        for (t, g) in target[..g.len()].iter_mut().zip(g) {
            *t += k * g;
        }
    } else {
        for (t, g) in target.iter_mut().step_by(stride).zip(g) {
            *t += k * g;
        }
    }
}

/// `Σ g[i] * source[i * stride]` over `g`.
fn dot(g: &[f32], source: &[f32], stride: usize) -> f32 {
    if stride == 1 {
        lane_sum(g, &source[..g.len()], |g, x| g * x)
    } else {
        g.iter()
            .zip(source.iter().step_by(stride))
            .map(|(g, x)| g * x)
            .sum()
    }
}

/// The rows of a `[rows, positions]` buffer, in parallel.
fn rows_par(buffer: &mut [f32], positions: usize) -> rayon::slice::ChunksMut<'_, f32> {
    buffer.par_chunks_mut(positions.max(1))
}

fn floats(tensor: &FlexTensor) -> &[f32] {
    tensor
        .as_slice::<f32>()
        .expect("training tensors are contiguous f32 (made so above)")
}

/// A depthwise convolution (one filter a channel, no bias, no dilation) of `x` =
/// `[N, C, H, W]` by `weight` = `[C, 1, KH, KW]`, as one operation, when `B` is the CPU
/// training backend; otherwise hands both tensors back.
pub(super) fn depthwise_conv<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    stride: [usize; 2],
    padding: [usize; 2],
) -> Result<Tensor<B, 4>, (Tensor<B, 4>, Tensor<B, 4>)> {
    let x = match cast::<_, Tensor<Train, 4>>(x) {
        Ok(x) => x,
        Err(x) => return Err((x, weight)),
    };
    Ok(same(depthwise_cpu(
        x,
        same(weight),
        Plane::new(stride, padding),
    )))
}

/// The geometry of one channel's convolution.
#[derive(Clone, Copy, Debug)]
struct Plane {
    stride: [usize; 2],
    padding: [usize; 2],
    input: [usize; 2],
    kernel: [usize; 2],
    output: [usize; 2],
}

impl Plane {
    fn new(stride: [usize; 2], padding: [usize; 2]) -> Self {
        Plane {
            stride,
            padding,
            input: [0; 2],
            kernel: [0; 2],
            output: [0; 2],
        }
    }

    fn sized(mut self, input: [usize; 2], kernel: [usize; 2]) -> Self {
        self.input = input;
        self.kernel = kernel;
        self.output =
            [0, 1].map(|d| (input[d] + 2 * self.padding[d] - kernel[d]) / self.stride[d] + 1);
        self
    }

    /// The output columns whose kernel column `kx` falls inside the input, and the input
    /// columns they read (every `stride`th from the range's start).
    fn span(&self, kx: usize) -> (core::ops::Range<usize>, core::ops::Range<usize>) {
        let [s, p, w] = [self.stride[1], self.padding[1], self.input[1]];
        let first = p.saturating_sub(kx).div_ceil(s).min(self.output[1]);
        // One past the last output column with ox * s + kx - p < w.
        let end = if w + p > kx {
            (w + p - kx - 1) / s + 1
        } else {
            0
        };
        let outs = first..end.min(self.output[1]).max(first);
        let ins = (first * s + kx).saturating_sub(p).min(w)..w;
        (outs, ins)
    }

    /// `span` of every kernel column, worked out once: the divisions cost more than a
    /// short row's arithmetic.
    fn spans(&self) -> Vec<(core::ops::Range<usize>, core::ops::Range<usize>)> {
        (0..self.kernel[1]).map(|kx| self.span(kx)).collect()
    }

    /// Calls `f(output row, input row, kernel row)` for every pair inside the input.
    fn rows(&self, mut f: impl FnMut(usize, usize, usize)) {
        for oy in 0..self.output[0] {
            for ky in 0..self.kernel[0] {
                let iy = oy * self.stride[0] + ky;
                if iy >= self.padding[0] && iy - self.padding[0] < self.input[0] {
                    f(oy, iy - self.padding[0], ky);
                }
            }
        }
    }
}

fn depthwise_cpu(x: Tensor<Train, 4>, weight: Tensor<Train, 4>, plane: Plane) -> Tensor<Train, 4> {
    let [n, c, h, w] = x.dims();
    let [_, _, kh, kw] = weight.dims();
    let plane = plane.sized([h, w], [kh, kw]);
    let x = x.into_primitive().tensor();
    let weight = weight.into_primitive().tensor();
    let input = x.primitive.to_contiguous();
    let filters = weight.primitive.to_contiguous();
    let (xs, ws) = (floats(&input), floats(&filters));
    let [oh, ow] = plane.output;
    let spans = plane.spans();
    let mut y = vec![0.0f32; n * c * oh * ow];
    y.par_chunks_mut(oh * ow)
        .zip(xs.par_chunks(h * w))
        .enumerate()
        .for_each(|(index, (out, x))| {
            let w = &ws[(index % c) * kh * kw..][..kh * kw];
            plane.rows(|oy, iy, ky| {
                let out = &mut out[oy * ow..][..ow];
                let row = &x[iy * plane.input[1]..][..plane.input[1]];
                for kx in 0..kw {
                    let (outs, ins) = spans[kx].clone();
                    add_scaled(&mut out[outs], &row[ins], plane.stride[1], w[ky * kw + kx]);
                }
            });
        });
    let y = FlexTensor::from_data(TensorData::new(y, [n, c, oh, ow]));
    let state = ConvState {
        input,
        filters,
        plane,
    };
    let out = record(DepthwiseBackward, [&x, &weight], state, y);
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// What the depthwise backward pass needs: the input, the filters and the geometry.
#[derive(Clone, Debug)]
struct ConvState {
    input: FlexTensor,
    filters: FlexTensor,
    plane: Plane,
}

#[derive(Debug)]
struct DepthwiseBackward;

impl Backward<Flex, 2> for DepthwiseBackward {
    type State = ConvState;

    fn backward(self, ops: Ops<ConvState, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let ConvState {
            input,
            filters,
            plane,
        } = ops.state;
        let dims = input.layout().shape().clone();
        let [n, c, h, w] = [dims[0], dims[1], dims[2], dims[3]];
        let [kh, kw] = plane.kernel;
        let [oh, ow] = plane.output;
        let (xs, ws, dy) = (floats(&input), floats(&filters), floats(&grad));
        let s = plane.stride[1];
        let spans = plane.spans();

        if let Some(node) = node_x {
            let mut dx = vec![0.0f32; n * c * h * w];
            dx.par_chunks_mut(h * w)
                .zip(dy.par_chunks(oh * ow))
                .enumerate()
                .for_each(|(index, (dx, dy))| {
                    let f = &ws[(index % c) * kh * kw..][..kh * kw];
                    plane.rows(|oy, iy, ky| {
                        let g = &dy[oy * ow..][..ow];
                        let row = &mut dx[iy * w..][..w];
                        for kx in 0..kw {
                            let (outs, ins) = spans[kx].clone();
                            add_scaled_back(&mut row[ins], &g[outs], s, f[ky * kw + kx]);
                        }
                    });
                });
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(dx, [n, c, h, w])),
            );
        }
        if let Some(node) = node_weight {
            // Per channel, summed over the batch in double precision.
            let dw: Vec<f32> = (0..c)
                .into_par_iter()
                .flat_map_iter(|channel| {
                    let mut sums = vec![0.0f64; kh * kw];
                    for image in 0..n {
                        let plane_at = image * c + channel;
                        let x = &xs[plane_at * h * w..][..h * w];
                        let g = &dy[plane_at * oh * ow..][..oh * ow];
                        let mut partial = vec![0.0f32; kh * kw];
                        plane.rows(|oy, iy, ky| {
                            let g = &g[oy * ow..][..ow];
                            let row = &x[iy * w..][..w];
                            for kx in 0..kw {
                                let (outs, ins) = spans[kx].clone();
                                partial[ky * kw + kx] += dot(&g[outs], &row[ins], s);
                            }
                        });
                        for (sum, v) in sums.iter_mut().zip(partial) {
                            *sum += f64::from(v);
                        }
                    }
                    sums.into_iter().map(|v| v as f32)
                })
                .collect();
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(dw, [c, 1, kh, kw])),
            );
        }
    }
}

/// A dense convolution (one group, no bias, no dilation) of `x` = `[N, C, H, W]` by
/// `weight` = `[O, C, KH, KW]` as matrix products over the input's patches (`im2col`),
/// forward and backward, when `B` is the CPU training backend; otherwise hands both
/// tensors back. burn's CPU backend takes the input's gradient as a transposed
/// convolution, which was a tenth of a training step on its own.
pub(super) fn dense_conv<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    stride: [usize; 2],
    padding: [usize; 2],
) -> Result<Tensor<B, 4>, (Tensor<B, 4>, Tensor<B, 4>)> {
    let x = match cast::<_, Tensor<Train, 4>>(x) {
        Ok(x) => x,
        Err(x) => return Err((x, weight)),
    };
    Ok(same(dense_cpu(
        x,
        same(weight),
        Plane::new(stride, padding),
    )))
}

fn dense_cpu(x: Tensor<Train, 4>, weight: Tensor<Train, 4>, plane: Plane) -> Tensor<Train, 4> {
    let [n, c, h, w] = x.dims();
    let [o, _, kh, kw] = weight.dims();
    let plane = plane.sized([h, w], [kh, kw]);
    let x = x.into_primitive().tensor();
    let weight = weight.into_primitive().tensor();
    let input = x.primitive.to_contiguous();
    let filters = weight.primitive.to_contiguous();
    let [oh, ow] = plane.output;
    let patches = patches(floats(&input), [n, c], plane);
    let y = matrix(filters.clone(), [1, o, c * kh * kw])
        .matmul(patches)
        .reshape([n, o, oh, ow])
        .into_primitive()
        .tensor();
    let state = DenseState {
        input,
        filters,
        channels: [n, c, o],
        plane,
    };
    let out = record(DenseBackward, [&x, &weight], state, y);
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// What the dense backward pass needs: the input, the filters, `[N, C, O]` and the
/// geometry. The patches are cut again rather than kept: cheaper than the products.
#[derive(Clone, Debug)]
struct DenseState {
    input: FlexTensor,
    filters: FlexTensor,
    channels: [usize; 3],
    plane: Plane,
}

#[derive(Debug)]
struct DenseBackward;

impl Backward<Flex, 2> for DenseBackward {
    type State = DenseState;

    fn backward(self, ops: Ops<DenseState, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight] = ops.parents;
        let DenseState {
            input,
            filters,
            channels: [n, c, o],
            plane,
        } = ops.state;
        let [kh, kw] = plane.kernel;
        let [oh, ow] = plane.output;
        let depth = c * kh * kw;
        let grad = matrix(grads.consume::<Flex>(&ops.node), [n, o, oh * ow]);

        if let Some(node) = node_weight {
            let patches = patches(floats(&input), [n, c], plane);
            let dw = grad
                .clone()
                .matmul(patches.swap_dims(1, 2))
                .sum_dim(0)
                .reshape([o, c, kh, kw]);
            grads.register::<Flex>(node.id, dw.into_primitive().tensor());
        }
        if let Some(node) = node_x {
            let columns = matrix(filters, [1, o, depth])
                .swap_dims(1, 2)
                .matmul(grad)
                .into_primitive()
                .tensor()
                .to_contiguous();
            let [h, w] = plane.input;
            let mut dx = vec![0.0f32; n * c * h * w];
            dx.par_chunks_mut(c * h * w)
                .zip(floats(&columns).par_chunks(depth * oh * ow))
                .for_each(|(dx, columns)| scatter_patches(columns, dx, c, plane));
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(dx, [n, c, h, w])),
            );
        }
    }
}

/// A four-dimensional float primitive as a burn tensor of `dims`, for burn's matrix
/// product.
fn matrix(tensor: FlexTensor, dims: [usize; 3]) -> Tensor<Flex, 3> {
    Tensor::<Flex, 4>::from_primitive(TensorPrimitive::Float(tensor)).reshape(dims)
}

/// Every image's patches as columns: `[N, C * KH * KW, OH * OW]`, row `(c, ky, kx)` holding
/// what that filter tap sees at each output position (zero in the padding).
fn patches(xs: &[f32], [n, c]: [usize; 2], plane: Plane) -> Tensor<Flex, 3> {
    let [h, w] = plane.input;
    let [kh, kw] = plane.kernel;
    let [oh, ow] = plane.output;
    let depth = c * kh * kw;
    let spans = plane.spans();
    let mut columns = vec![0.0f32; n * depth * oh * ow];
    columns
        .par_chunks_mut(depth * oh * ow)
        .zip(xs.par_chunks(c * h * w))
        .for_each(|(columns, x)| {
            for channel in 0..c {
                let x = &x[channel * h * w..][..h * w];
                for (kx, (outs, ins)) in spans.iter().enumerate() {
                    plane.rows(|oy, iy, ky| {
                        let tap = (channel * kh + ky) * kw + kx;
                        let out = &mut columns[(tap * oh + oy) * ow..][..ow];
                        let row = &x[iy * w..][..w];
                        add_scaled(
                            &mut out[outs.clone()],
                            &row[ins.clone()],
                            plane.stride[1],
                            1.0,
                        );
                    });
                }
            }
        });
    Tensor::from_data(
        TensorData::new(columns, [n, depth, oh * ow]),
        &Default::default(),
    )
}

/// The adjoint of `patches` for one image: adds each column entry back onto the input
/// position it was cut from.
fn scatter_patches(columns: &[f32], dx: &mut [f32], c: usize, plane: Plane) {
    let [h, w] = plane.input;
    let [kh, kw] = plane.kernel;
    let [oh, ow] = plane.output;
    let spans = plane.spans();
    for channel in 0..c {
        let dx = &mut dx[channel * h * w..][..h * w];
        for (kx, (outs, ins)) in spans.iter().enumerate() {
            plane.rows(|oy, iy, ky| {
                let tap = (channel * kh + ky) * kw + kx;
                let column = &columns[(tap * oh + oy) * ow..][..ow];
                let row = &mut dx[iy * w..][..w];
                add_scaled_back(
                    &mut row[ins.clone()],
                    &column[outs.clone()],
                    plane.stride[1],
                    1.0,
                );
            });
        }
    }
}

/// `x` clamped to `[low, high]` (ReLU6), as one operation, when `B` is the CPU training
/// backend; otherwise hands `x` back. burn's CPU backend clamps in two masked fills and
/// differentiates each, four passes and two masks where this makes one each way. The
/// gradient passes where `low ≤ x ≤ high`, as burn's does.
pub(super) fn clamp<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    low: f32,
    high: f32,
) -> Result<Tensor<B, D>, Tensor<B, D>> {
    let x = cast::<_, Tensor<Train, D>>(x)?;
    let x = x.into_primitive().tensor();
    let input = x.primitive.to_contiguous();
    let shape = input.layout().shape().clone();
    let y: Vec<f32> = floats(&input)
        .par_iter()
        .with_min_len(4096)
        .map(|v| v.clamp(low, high))
        .collect();
    let y = FlexTensor::from_data(TensorData::new(y, shape));
    let out = record(ClampBackward, [&x], (input, low, high), y);
    Ok(same(Tensor::<Train, D>::from_primitive(
        TensorPrimitive::Float(out),
    )))
}

#[derive(Debug)]
struct ClampBackward;

impl Backward<Flex, 1> for ClampBackward {
    type State = (FlexTensor, f32, f32);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let Some(node) = node else { return };
        let (input, low, high) = ops.state;
        let shape = input.layout().shape().clone();
        let dx: Vec<f32> = floats(&input)
            .par_iter()
            .zip(floats(&grad).par_iter())
            .with_min_len(4096)
            .map(|(x, g)| if (low..=high).contains(x) { *g } else { 0.0 })
            .collect();
        grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
    }
}
