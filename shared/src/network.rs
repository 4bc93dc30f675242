//! A [`ModelSpec`] built as a burn [`Module`]: one generic network that interprets the
//! graph, so every preset trains on any backend (CPU through `flex`, GPU through `cuda`)
//! with a single forward definition. With the `fused-cpu` feature, training on the CPU
//! runs batch norm, ReLU6 and undilated convolutions as fused operations with their own
//! gradients (`network/fused.rs`); every other backend composes burn's operations.
//! [`transfer`] starts a network from another's weights where they fit (a new head on a
//! trained backbone).

use alloc::vec;
use alloc::vec::Vec;

use burn::module::{Module, Param, RunningState};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation;
use burn::tensor::backend::Backend;
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::{Tensor, TensorData};

#[cfg(feature = "fused-cpu")]
mod fused;
mod transfer;

pub use transfer::{Transfer, transfer};

use crate::artifact::{ArtifactError, check_fits};
use crate::params::{QParams, QuantizedModel, Weights};
use crate::spec::{
    Activation, Conv2d as ConvSpec, ModelSpec, Op, ParamRole, ParamTensor, SpecError,
};

/// How a fresh network draws its weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Initialization {
    /// Weights and biases uniform in `±1/sqrt(fan_in)`: PyTorch's and burn's default.
    /// Each ReLU layer then passes on about a sixth of its input's variance, which
    /// batch norm restores and a plain stack of sixteen layers (VGG-16) does not.
    #[default]
    Uniform,
    /// He et al. (2015): weights uniform in `±sqrt(6/fan_in)` (variance `2/fan_in`),
    /// biases zero, so a stack of ReLU layers keeps its signal's scale (torchvision
    /// draws VGG's much the same way, from a normal of that variance over fan-out).
    He,
}

impl Initialization {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Initialization::Uniform => "uniform",
            Initialization::He => "he",
        }
    }
}

impl core::str::FromStr for Initialization {
    type Err = UnknownInitialization;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim().to_ascii_lowercase().as_str() {
            "uniform" => Ok(Initialization::Uniform),
            "he" | "kaiming" => Ok(Initialization::He),
            _ => Err(UnknownInitialization),
        }
    }
}

/// A name that is no [`Initialization`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown initialization; use uniform or he")]
pub struct UnknownInitialization;

/// The trainable form of a spec.
#[derive(Module, Debug)]
pub struct Network<B: Backend> {
    /// Parameters of each node, `None` for nodes without any.
    layers: Vec<Option<Layer<B>>>,
    /// The graph being interpreted.
    #[module(skip)]
    spec: ModelSpec,
    /// For each value, the last node that reads it, so intermediate tensors are released
    /// as soon as they are no longer needed.
    #[module(skip)]
    last_use: Vec<usize>,
    /// Int8 rounding simulated in the forward pass (quantization-aware fine-tuning).
    #[module(skip)]
    fake_quant: Option<FakeQuant>,
}

/// Int8 rounding simulated in float, so that fine-tuning learns weights that survive
/// quantization: every convolution and dense weight is rounded to its per-output-channel
/// int8 grid, and every value that the int8 engine stores is rounded to its calibrated
/// grid. Gradients pass the rounding unchanged (the straight-through estimator).
///
/// Weight grids commute with batch-norm folding: scaling an output channel by its batch
/// norm scales that channel's largest weight, and so its grid, by the same factor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FakeQuant {
    /// Per spec value (0 is the input), the grid it is rounded to, if the int8 engine
    /// stores it.
    pub values: Vec<Option<QParams>>,
}

impl FakeQuant {
    /// The grids of `quantized` (calibrated for the lowered `graph` of `spec`), placed on
    /// the spec values that the int8 engine actually stores: the last of each chain of
    /// layers that folded into one step (convolution, batch norm, ReLU).
    pub fn from_quantized(graph: &crate::engine::graph::Graph, quantized: &QuantizedModel) -> Self {
        let map = &graph.spec_values;
        let values = (0..map.len())
            .map(|s| {
                let lowered = map[s];
                let last = map.iter().rposition(|&l| l == lowered) == Some(s);
                last.then(|| quantized.values.get(lowered).copied())
                    .flatten()
            })
            .collect();
        FakeQuant { values }
    }
}

/// `x` rounded to the grid `q`, with the gradient of the identity.
fn fake_quantize<B: Backend, const D: usize>(x: Tensor<B, D>, q: QParams) -> Tensor<B, D> {
    let (scale, zero) = (f64::from(q.scale), f64::from(q.zero_point));
    let rounded = x
        .clone()
        .div_scalar(scale)
        .round()
        .add_scalar(zero)
        .clamp(-128.0, 127.0)
        .sub_scalar(zero)
        .mul_scalar(scale);
    x.clone() + (rounded - x).detach()
}

/// Rows of `w` (`[rows, k]`) each rounded to its symmetric int8 grid, gradient passed through.
fn fake_quantize_rows<B: Backend>(w: Tensor<B, 2>) -> Tensor<B, 2> {
    let scale = w
        .clone()
        .detach()
        .abs()
        .max_dim(1)
        .clamp_min(1e-12)
        .div_scalar(127.0);
    let rounded = (w.clone() / scale.clone()).round().clamp(-127.0, 127.0) * scale;
    w.clone() + (rounded - w).detach()
}

/// The parameters of one node.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
enum Layer<B: Backend> {
    Conv(Conv2d<B>),
    Norm(ChannelNorm<B>),
    Dense(Linear<B>),
    Excite(Excite<B>),
}

/// Squeeze-and-excitation parameters.
#[derive(Module, Debug)]
struct Excite<B: Backend> {
    reduce: Linear<B>,
    expand: Linear<B>,
}

/// Batch normalization. burn's own `BatchNorm` broadcasts per-channel vectors over the
/// middle axis of `[N, C, H, W]`, which its CPU backend does about 30 times slower than
/// a column broadcast; this one works on `[N * C, H * W]` rows instead. Same statistics,
/// same parameters, same momentum convention (PyTorch's).
#[derive(Module, Debug)]
struct ChannelNorm<B: Backend> {
    gamma: Param<Tensor<B, 1>>,
    beta: Param<Tensor<B, 1>>,
    running_mean: RunningState<Tensor<B, 1>>,
    running_var: RunningState<Tensor<B, 1>>,
    epsilon: f64,
}

/// Weight of the newest batch in the running statistics.
const BN_MOMENTUM: f64 = 0.1;

impl<B: Backend> ChannelNorm<B> {
    fn new(channels: usize, epsilon: f32, device: &B::Device) -> Self {
        ChannelNorm {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            epsilon: f64::from(epsilon),
        }
    }

    /// Normalizes `rows` = `[batch * channels, positions]`, channel-major within each example.
    fn forward(&self, rows: Tensor<B, 2>, batch: usize) -> Tensor<B, 2> {
        if !B::ad_enabled(&rows.device()) {
            let column = |v: Tensor<B, 1>| column(v, batch);
            let scale = self.gamma.val() / self.running_var.value().add_scalar(self.epsilon).sqrt();
            let shift = self.beta.val() - self.running_mean.value() * scale.clone();
            return rows * column(scale) + column(shift);
        }
        #[cfg(feature = "fused-cpu")]
        let rows = {
            let count = rows.dims()[1] * batch;
            match fused::batch_norm(rows, batch, self.gamma.val(), self.beta.val(), self.epsilon) {
                Ok(out) => {
                    self.update_running(out.mean, out.variance, count as f64);
                    return out.rows;
                }
                Err((rows, _, _)) => rows,
            }
        };
        self.composed(rows, batch)
    }

    /// Training-mode batch norm from tensor operations, for any backend.
    fn composed(&self, rows: Tensor<B, 2>, batch: usize) -> Tensor<B, 2> {
        let [total, positions] = rows.dims();
        let channels = total / batch;
        let column = |v: Tensor<B, 1>| column(v, batch);
        let per_channel = |t: Tensor<B, 2>| {
            t.mean_dim(1)
                .reshape([batch, channels])
                .mean_dim(0)
                .reshape([channels])
        };
        let mean = per_channel(rows.clone());
        let centered = rows - column(mean.clone());
        let var = per_channel(centered.clone().powi_scalar(2));
        self.update_running(
            mean.detach(),
            var.clone().detach(),
            (batch * positions) as f64,
        );
        let scale = self.gamma.val() / var.add_scalar(self.epsilon).sqrt();
        centered * column(scale) + column(self.beta.val())
    }

    /// Blends a batch's mean and biased variance (over `count` values a channel) into the
    /// running statistics, the variance made unbiased first (PyTorch's convention).
    fn update_running(&self, mean: Tensor<B, 1>, variance: Tensor<B, 1>, count: f64) {
        let unbiased = variance.mul_scalar(count / (count - 1.0).max(1.0));
        let blend = |running: Tensor<B, 1>, batch: Tensor<B, 1>| {
            (running.mul_scalar(1.0 - BN_MOMENTUM) + batch.mul_scalar(BN_MOMENTUM)).detach()
        };
        self.running_mean
            .update(blend(self.running_mean.value_sync(), mean));
        self.running_var
            .update(blend(self.running_var.value_sync(), unbiased));
    }
}

/// A value flowing through the graph: a batch of feature maps or of vectors.
#[derive(Clone, Debug)]
enum Value<B: Backend> {
    Map(Tensor<B, 4>),
    Vector(Tensor<B, 2>),
}

impl<B: Backend> Network<B> {
    /// A freshly initialized network for `spec`, the same for the same `seed` on every
    /// platform and whatever else draws random numbers meanwhile: weights and biases
    /// uniform in `±1/sqrt(fan_in)` (PyTorch's and burn's default), unit batch norms.
    pub fn new(spec: &ModelSpec, seed: u64, device: &B::Device) -> Result<Self, SpecError> {
        Self::initialized(spec, seed, Initialization::Uniform, device)
    }

    /// [`Network::new`] with the weights drawn by `initialization`.
    pub fn initialized(
        spec: &ModelSpec,
        seed: u64,
        initialization: Initialization,
        device: &B::Device,
    ) -> Result<Self, SpecError> {
        let weights = initial_weights(spec, seed, initialization)?;
        match Self::from_weights(spec, &weights, device) {
            Ok(network) => Ok(network),
            Err(ArtifactError::InvalidSpec(e)) => Err(e),
            Err(other) => unreachable!("weights drawn from the spec's own layout fit it: {other}"),
        }
    }

    /// The module structure for `spec`, with burn's lazy (not yet drawn) initial values.
    fn skeleton(spec: &ModelSpec, device: &B::Device) -> Result<Self, SpecError> {
        let analysis = spec.analyze()?;
        let layers = spec
            .nodes
            .iter()
            .enumerate()
            .map(|(index, node)| {
                let input = analysis.shapes[spec.node_inputs(index)[0] as usize];
                let channels = input.channels() as usize;
                match &node.op {
                    Op::Conv2d(c) => Some(Layer::Conv(
                        Conv2dConfig::new(
                            [channels, c.out_channels as usize],
                            [c.kernel[0] as usize, c.kernel[1] as usize],
                        )
                        .with_stride([c.stride[0] as usize, c.stride[1] as usize])
                        .with_dilation([c.dilation[0] as usize, c.dilation[1] as usize])
                        .with_groups(c.groups as usize)
                        .with_padding(PaddingConfig2d::Explicit(
                            c.padding[0] as usize,
                            c.padding[1] as usize,
                            c.padding[0] as usize,
                            c.padding[1] as usize,
                        ))
                        .with_bias(c.bias)
                        .init(device),
                    )),
                    Op::BatchNorm { eps } => {
                        Some(Layer::Norm(ChannelNorm::new(channels, *eps, device)))
                    }
                    Op::Dense(d) => Some(Layer::Dense(
                        LinearConfig::new(channels, d.out_features as usize)
                            .with_bias(d.bias)
                            .init(device),
                    )),
                    Op::SqueezeExcite(se) => Some(Layer::Excite(Excite {
                        reduce: LinearConfig::new(channels, se.reduced as usize).init(device),
                        expand: LinearConfig::new(se.reduced as usize, channels).init(device),
                    })),
                    _ => None,
                }
            })
            .collect();
        let mut last_use = vec![0; spec.nodes.len() + 1];
        for index in 0..spec.nodes.len() {
            for value in spec.node_inputs(index) {
                last_use[value as usize] = index;
            }
        }
        Ok(Network {
            layers,
            spec: spec.clone(),
            last_use,
            fake_quant: None,
        })
    }

    /// A network for `spec` holding `weights` (as stored in an artifact).
    pub fn from_weights(
        spec: &ModelSpec,
        weights: &Weights,
        device: &B::Device,
    ) -> Result<Self, ArtifactError> {
        let layout = spec.parameter_layout()?;
        check_fits(&layout, weights)?;
        let mut network = Network::skeleton(spec, device)?;
        let mut tensors = layout.iter().zip(&weights.tensors);
        let mut next = || {
            let (layout, values) = tensors
                .next()
                .expect("tensor count checked against the layout above");
            (layout, values.as_slice())
        };
        for layer in network.layers.iter_mut().flatten() {
            match layer {
                Layer::Conv(conv) => {
                    conv.weight = param(tensor_of::<B, 4>(next(), device));
                    if conv.bias.is_some() {
                        conv.bias = Some(param(tensor_of::<B, 1>(next(), device)));
                    }
                }
                Layer::Norm(norm) => {
                    norm.gamma = param(tensor_of::<B, 1>(next(), device));
                    norm.beta = param(tensor_of::<B, 1>(next(), device));
                    norm.running_mean = RunningState::new(tensor_of::<B, 1>(next(), device));
                    norm.running_var = RunningState::new(tensor_of::<B, 1>(next(), device));
                }
                Layer::Dense(dense) => load_linear(dense, &mut next, device),
                Layer::Excite(excite) => {
                    load_linear(&mut excite.reduce, &mut next, device);
                    load_linear(&mut excite.expand, &mut next, device);
                }
            }
        }
        Ok(network)
    }

    /// The network's parameters in artifact order (see [`ModelSpec::parameter_layout`]).
    pub fn weights(&self) -> Weights {
        let mut tensors = Vec::new();
        for layer in self.layers.iter().flatten() {
            match layer {
                Layer::Conv(conv) => {
                    tensors.push(values_of(conv.weight.val()));
                    if let Some(bias) = &conv.bias {
                        tensors.push(values_of(bias.val()));
                    }
                }
                Layer::Norm(norm) => {
                    tensors.push(values_of(norm.gamma.val()));
                    tensors.push(values_of(norm.beta.val()));
                    tensors.push(values_of(norm.running_mean.value()));
                    tensors.push(values_of(norm.running_var.value()));
                }
                Layer::Dense(dense) => push_linear(&mut tensors, dense),
                Layer::Excite(excite) => {
                    push_linear(&mut tensors, &excite.reduce);
                    push_linear(&mut tensors, &excite.expand);
                }
            }
        }
        Weights { tensors }
    }

    /// The spec this network interprets.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The same network simulating int8 rounding in its forward pass (or no longer, with
    /// `None`).
    pub fn with_fake_quant(mut self, fake_quant: Option<FakeQuant>) -> Self {
        self.fake_quant = fake_quant;
        self
    }

    /// Class scores (logits) for a batch of inputs `[batch, channels, height, width]`.
    ///
    /// Batch norm and dropout train when the backend records gradients (burn's
    /// convention), and run in inference mode otherwise.
    pub fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 2> {
        let mut values: Vec<Option<Value<B>>> = Vec::with_capacity(self.spec.nodes.len() + 1);
        let grid = |value: usize| {
            self.fake_quant
                .as_ref()
                .and_then(|f| f.values.get(value).copied().flatten())
        };
        let fake = self.fake_quant.is_some();
        let input = match grid(0) {
            Some(q) => fake_quantize(input, q),
            None => input,
        };
        values.push(Some(Value::Map(input)));
        for (index, node) in self.spec.nodes.iter().enumerate() {
            let mut inputs = self.spec.node_inputs(index).into_iter().map(|value| {
                let slot = &mut values[value as usize];
                if self.last_use[value as usize] == index {
                    slot.take()
                } else {
                    slot.clone()
                }
                .expect("the spec was analyzed: every value exists before it is read")
            });
            let first = inputs.next().expect("every node reads at least one value");
            let output = match (&node.op, &self.layers[index]) {
                (Op::Conv2d(c), Some(Layer::Conv(conv))) => {
                    Value::Map(convolve(conv, c, map(first), fake))
                }
                (Op::BatchNorm { .. }, Some(Layer::Norm(norm))) => match first {
                    Value::Map(x) => {
                        let [n, c, h, w] = x.dims();
                        Value::Map(
                            norm.forward(x.reshape([n * c, h * w]), n)
                                .reshape([n, c, h, w]),
                        )
                    }
                    Value::Vector(x) => {
                        let [n, c] = x.dims();
                        Value::Vector(norm.forward(x.reshape([n * c, 1]), n).reshape([n, c]))
                    }
                },
                (Op::Activation(a), None) => match first {
                    Value::Map(x) => Value::Map(activate(*a, x)),
                    Value::Vector(x) => Value::Vector(activate(*a, x)),
                },
                (Op::MaxPool(p), None) => Value::Map(max_pool2d(
                    map(first),
                    usize2(p.kernel),
                    usize2(p.stride),
                    usize2(p.padding),
                    [1, 1],
                    false,
                )),
                (Op::AvgPool(p), None) => Value::Map(avg_pool2d(
                    map(first),
                    usize2(p.kernel),
                    usize2(p.stride),
                    usize2(p.padding),
                    false,
                    false,
                )),
                (Op::GlobalAvgPool, None) => {
                    let x = map(first);
                    let [n, c, h, w] = x.dims();
                    Value::Vector(x.reshape([n, c, h * w]).mean_dim(2).reshape([n, c]))
                }
                (Op::Flatten, None) => match first {
                    Value::Map(x) => {
                        let [n, c, h, w] = x.dims();
                        Value::Vector(x.reshape([n, c * h * w]))
                    }
                    vector => vector,
                },
                (Op::Dense(_), Some(Layer::Dense(dense))) => {
                    Value::Vector(linear(dense, vector(first), fake))
                }
                (Op::Dropout { rate }, None) => {
                    let dropout = DropoutConfig::new(f64::from(*rate)).init();
                    match first {
                        Value::Map(x) => Value::Map(dropout.forward(x)),
                        Value::Vector(x) => Value::Vector(dropout.forward(x)),
                    }
                }
                (Op::Add, None) => inputs.fold(first, |sum, next| match (sum, next) {
                    (Value::Map(a), Value::Map(b)) => Value::Map(a + b),
                    (Value::Vector(a), Value::Vector(b)) => Value::Vector(a + b),
                    _ => unreachable!("the spec was analyzed: added shapes match"),
                }),
                (Op::Concat, None) => match first {
                    Value::Map(x) => Value::Map(Tensor::cat(
                        core::iter::once(x).chain(inputs.map(map)).collect(),
                        1,
                    )),
                    Value::Vector(x) => Value::Vector(Tensor::cat(
                        core::iter::once(x).chain(inputs.map(vector)).collect(),
                        1,
                    )),
                },
                (Op::SqueezeExcite(se), Some(Layer::Excite(excite))) => {
                    let x = map(first);
                    let [n, c, h, w] = x.dims();
                    let squeezed = x.clone().reshape([n, c, h * w]).mean_dim(2).reshape([n, c]);
                    let hidden = activate(se.activation, linear(&excite.reduce, squeezed, fake));
                    let gates = activate(se.gate, linear(&excite.expand, hidden, fake));
                    let rows = x.reshape([n * c, h * w]) * gates.reshape([n * c, 1]);
                    Value::Map(rows.reshape([n, c, h, w]))
                }
                (op, _) => unreachable!("layers are built from the same spec ({})", op.kind()),
            };
            let output = match (grid(index + 1), output) {
                (Some(q), Value::Map(x)) => Value::Map(fake_quantize(x, q)),
                (Some(q), Value::Vector(x)) => Value::Vector(fake_quantize(x, q)),
                (None, output) => output,
            };
            values.push(Some(output));
        }
        match values.pop().flatten() {
            Some(Value::Vector(logits)) => logits,
            _ => unreachable!("the spec was analyzed: it ends in a vector"),
        }
    }
}

/// A convolution; pointwise ones (1x1, stride 1, one group) run as a batched matrix
/// product, which burn's CPU backend differentiates about four times faster than its
/// convolution. Same weights, same arithmetic.
fn convolve<B: Backend>(
    conv: &Conv2d<B>,
    spec: &ConvSpec,
    x: Tensor<B, 4>,
    fake: bool,
) -> Tensor<B, 4> {
    let pointwise = spec.kernel == [1, 1]
        && spec.stride == [1, 1]
        && spec.padding == [0, 0]
        && spec.groups == 1;
    // On the CPU training backend, depthwise and other undilated convolutions train as
    // fused operations (network/fused.rs), their bias added after.
    #[cfg(feature = "fused-cpu")]
    let x = {
        let [_, channels, _, _] = x.dims();
        let plain = spec.dilation == [1, 1] && !fake && !pointwise;
        let depthwise = spec.groups as usize == channels && spec.out_channels as usize == channels;
        let (stride, padding) = (usize2(spec.stride), usize2(spec.padding));
        let fused = match (plain, depthwise, spec.groups) {
            (true, true, _) => fused::depthwise_conv(x, conv.weight.val(), stride, padding),
            (true, false, 1) => fused::dense_conv(x, conv.weight.val(), stride, padding),
            _ => Err((x, conv.weight.val())),
        };
        match fused {
            Ok(y) => return add_bias(y, conv),
            Err((x, _)) => x,
        }
    };
    if !pointwise && !fake {
        return conv.forward(x);
    }
    let mut weight = conv.weight.val();
    if fake {
        let [o, i, kh, kw] = weight.dims();
        weight = fake_quantize_rows(weight.reshape([o, i * kh * kw])).reshape([o, i, kh, kw]);
    }
    if !pointwise {
        return burn::tensor::module::conv2d(
            x,
            weight,
            conv.bias.as_ref().map(|b| b.val()),
            burn::tensor::ops::ConvOptions::new(
                usize2(spec.stride),
                usize2(spec.padding),
                usize2(spec.dilation),
                spec.groups as usize,
            ),
        );
    }
    let [n, c, h, w] = x.dims();
    let out = spec.out_channels as usize;
    let weight = weight.reshape([1, out, c]);
    let y = weight.matmul(x.reshape([n, c, h * w]));
    add_bias(y.reshape([n, out, h, w]), conv)
}

/// `y` plus the convolution's per-channel bias, if it has one, broadcast as a column
/// (the fast broadcast on the CPU).
fn add_bias<B: Backend>(y: Tensor<B, 4>, conv: &Conv2d<B>) -> Tensor<B, 4> {
    match &conv.bias {
        Some(bias) => {
            let [n, out, h, w] = y.dims();
            (y.reshape([n * out, h * w]) + column(bias.val(), n)).reshape([n, out, h, w])
        }
        None => y,
    }
}

/// A dense layer; burn stores its matrix `[in, out]`, so output channels are columns.
fn linear<B: Backend>(dense: &Linear<B>, x: Tensor<B, 2>, fake: bool) -> Tensor<B, 2> {
    if !fake {
        return dense.forward(x);
    }
    let weight = fake_quantize_rows(dense.weight.val().transpose()).transpose();
    let y = x.matmul(weight);
    match &dense.bias {
        Some(bias) => y + bias.val().unsqueeze_dim(0),
        None => y,
    }
}

/// Initial values for every tensor of `spec`'s layout, from a ChaCha8 stream seeded with
/// `seed`.
fn initial_weights(
    spec: &ModelSpec,
    seed: u64,
    initialization: Initialization,
) -> Result<Weights, SpecError> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let layout = spec.parameter_layout()?;
    let mut tensors = Vec::with_capacity(layout.len());
    // Biases take the bound of the weight just before them (same layer, same fan-in).
    let mut bound = 1.0f32;
    for tensor in &layout {
        let len = tensor.len() as usize;
        let values = match tensor.role {
            ParamRole::Weight | ParamRole::ReduceWeight | ParamRole::ExpandWeight => {
                // [out, in/groups, kh, kw] or [out, in]: fan-in is all but the first dim.
                let fan_in: u64 = tensor.shape[1..].iter().map(|&d| u64::from(d)).product();
                let fan_in = fan_in.max(1) as f32;
                bound = match initialization {
                    Initialization::Uniform => 1.0 / fan_in.sqrt(),
                    Initialization::He => (6.0 / fan_in).sqrt(),
                };
                (0..len).map(|_| rng.random_range(-bound..=bound)).collect()
            }
            ParamRole::Bias | ParamRole::ReduceBias | ParamRole::ExpandBias => match initialization
            {
                Initialization::Uniform => {
                    (0..len).map(|_| rng.random_range(-bound..=bound)).collect()
                }
                Initialization::He => vec![0.0; len],
            },
            ParamRole::Gamma | ParamRole::RunningVar => vec![1.0; len],
            ParamRole::Beta | ParamRole::RunningMean => vec![0.0; len],
        };
        tensors.push(values);
    }
    Ok(Weights { tensors })
}

/// A per-channel vector repeated for each of `batch` examples, as a `[batch * C, 1]`
/// column that broadcasts over `[batch * C, positions]` rows (the fast broadcast on CPU).
fn column<B: Backend>(v: Tensor<B, 1>, batch: usize) -> Tensor<B, 2> {
    let [channels] = v.dims();
    v.reshape([1, channels])
        .repeat_dim(0, batch)
        .reshape([batch * channels, 1])
}

fn usize2(v: [u32; 2]) -> [usize; 2] {
    [v[0] as usize, v[1] as usize]
}

fn map<B: Backend>(value: Value<B>) -> Tensor<B, 4> {
    match value {
        Value::Map(x) => x,
        Value::Vector(_) => unreachable!("the spec was analyzed: this op reads a feature map"),
    }
}

fn vector<B: Backend>(value: Value<B>) -> Tensor<B, 2> {
    match value {
        Value::Vector(x) => x,
        Value::Map(_) => unreachable!("the spec was analyzed: this op reads a vector"),
    }
}

fn activate<B: Backend, const D: usize>(a: Activation, x: Tensor<B, D>) -> Tensor<B, D> {
    #[cfg(feature = "fused-cpu")]
    let x = match a {
        Activation::Relu6 => match fused::clamp(x, 0.0, 6.0) {
            Ok(y) => return y,
            Err(x) => x,
        },
        _ => x,
    };
    match a {
        Activation::Relu => activation::relu(x),
        Activation::Relu6 => x.clamp(0.0, 6.0),
        Activation::LeakyRelu { slope } => activation::leaky_relu(x, f64::from(slope)),
        Activation::Silu => activation::silu(x),
        Activation::Sigmoid => activation::sigmoid(x),
    }
}

fn param<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Param<Tensor<B, D>> {
    Param::from_tensor(tensor)
}

fn tensor_of<B: Backend, const D: usize>(
    (layout, values): (&ParamTensor, &[f32]),
    device: &B::Device,
) -> Tensor<B, D> {
    let shape: Vec<usize> = layout.shape.iter().map(|&d| d as usize).collect();
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

/// Our layout stores dense matrices `[out, in]` (as PyTorch and ONNX do); burn keeps
/// `[in, out]`.
fn load_linear<'a, B: Backend>(
    linear: &mut Linear<B>,
    next: &mut impl FnMut() -> (&'a ParamTensor, &'a [f32]),
    device: &B::Device,
) {
    linear.weight = param(tensor_of::<B, 2>(next(), device).transpose());
    if linear.bias.is_some() {
        linear.bias = Some(param(tensor_of::<B, 1>(next(), device)));
    }
}

fn push_linear<B: Backend>(tensors: &mut Vec<Vec<f32>>, linear: &Linear<B>) {
    tensors.push(values_of(linear.weight.val().transpose()));
    if let Some(bias) = &linear.bias {
        tensors.push(values_of(bias.val()));
    }
}

fn values_of<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("converted to f32 just above")
}

#[cfg(test)]
mod tests;
