//! The network lowered for execution. Batch norms fold into the convolution or dense layer
//! before them (or become per-channel 1x1 convolutions where nothing precedes them),
//! ReLU and ReLU6 fuse into the layer before them, dense layers and squeeze-excitation are
//! expressed as 1x1 convolutions, and flatten and dropout disappear: a CHW buffer already
//! is its flattened vector, and dropout is the identity at inference.
//!
//! The structure depends on the spec alone, so an int8 artifact (which carries no float
//! weights) lowers to exactly the graph its quantizer saw.

use alloc::vec;
use alloc::vec::Vec;

use libm::sqrtf;

use crate::params::Weights;
use crate::spec::{Activation, ModelSpec, Op, ParamRole, Pool2d, Shape, SpecError};

/// Index of a value of the lowered graph; 0 is the input.
pub type ValueIndex = usize;

/// A spec ready to execute.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    /// Dimensions `[channels, height, width]` of every value; vectors are `[len, 1, 1]`.
    pub values: Vec<[usize; 3]>,
    /// The steps, in execution order.
    pub steps: Vec<Step>,
    /// The value holding the logits.
    pub output: ValueIndex,
    /// For each value of the spec (0 is the input, `i + 1` the output of node `i`), the
    /// lowered value that holds it; layers folded together share one.
    pub spec_values: Vec<ValueIndex>,
}

/// One operation of the lowered graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// What it computes.
    pub op: StepOp,
    /// The values it reads.
    pub inputs: Vec<ValueIndex>,
    /// The value it writes.
    pub output: ValueIndex,
    /// The spec node it came from (for messages and reports).
    pub node: u32,
}

/// The lowered operations.
#[derive(Clone, Debug, PartialEq)]
pub enum StepOp {
    /// Convolution (dense layers, folded and standalone batch norms included), with bias and
    /// an optional fused ReLU or ReLU6.
    Conv(ConvGeometry),
    /// An element-wise nonlinearity that could not be fused.
    Activation(Activation),
    /// Max pooling.
    MaxPool(Pool2d),
    /// Average pooling; padded positions are not counted.
    AvgPool(Pool2d),
    /// Mean of each channel.
    GlobalAvgPool,
    /// Element-wise sum of the inputs.
    Add,
    /// The inputs stacked along channels.
    Concat,
    /// `inputs[0]` with each channel multiplied by the matching entry of `inputs[1]`
    /// (the gate of squeeze-excitation).
    ChannelScale,
}

/// The shape of a convolution step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvGeometry {
    /// Input `[channels, height, width]`; a dense layer reads `[features, 1, 1]`.
    pub input: [usize; 3],
    /// Output channels.
    pub out_channels: usize,
    /// Kernel `[height, width]`.
    pub kernel: [usize; 2],
    /// Stride.
    pub stride: [usize; 2],
    /// Zero padding on each side.
    pub padding: [usize; 2],
    /// Spacing of kernel taps.
    pub dilation: [usize; 2],
    /// Channel groups.
    pub groups: usize,
    /// ReLU (`Some(Relu)`) or ReLU6 fused after the bias.
    pub activation: Option<Activation>,
}

impl ConvGeometry {
    /// Output rows.
    pub fn out_height(&self) -> usize {
        window(
            self.input[1],
            self.kernel[0],
            self.stride[0],
            self.padding[0],
            self.dilation[0],
        )
    }

    /// Output columns.
    pub fn out_width(&self) -> usize {
        window(
            self.input[2],
            self.kernel[1],
            self.stride[1],
            self.padding[1],
            self.dilation[1],
        )
    }

    /// Weights per output channel: `in / groups * kh * kw`.
    pub fn fan_in(&self) -> usize {
        self.input[0] / self.groups * self.kernel[0] * self.kernel[1]
    }

    /// One filter per channel and nothing mixed across channels.
    pub fn is_depthwise(&self) -> bool {
        self.groups > 1 && self.groups == self.input[0] && self.groups == self.out_channels
    }

    /// A 1x1 convolution that reads its input as it lies (no im2col needed).
    pub fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0, 0]
    }

    /// A convolution that is a plain `out x fan_in` by `fan_in x positions` product.
    pub fn is_dense(&self) -> bool {
        self.groups == 1 && self.is_pointwise()
    }
}

fn window(n: usize, k: usize, s: usize, p: usize, d: usize) -> usize {
    (n + 2 * p - (d * (k - 1) + 1)) / s + 1
}

/// Output size of a pooling window over `n` positions.
pub fn pool_out(n: usize, k: usize, s: usize, p: usize) -> usize {
    (n + 2 * p - k) / s + 1
}

/// Folded float parameters of one convolution step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConvParams {
    /// `[out, in / groups, kh, kw]`.
    pub weights: Vec<f32>,
    /// `[out]`.
    pub bias: Vec<f32>,
}

/// Lowers `spec`; with `weights`, also returns the folded float parameters of every
/// convolution step, in step order (without, that list is empty).
pub fn lower(
    spec: &ModelSpec,
    weights: Option<&Weights>,
) -> Result<(Graph, Vec<ConvParams>), SpecError> {
    let analysis = spec.analyze()?;
    let dims = |shape: &Shape| match *shape {
        Shape::Map {
            channels,
            height,
            width,
        } => [channels as usize, height as usize, width as usize],
        Shape::Vector { len } => [len as usize, 1, 1],
    };
    // Parameter tensors of each node, in layout order.
    let mut tensors: Vec<Vec<(ParamRole, &[f32])>> = vec![Vec::new(); spec.nodes.len()];
    if let Some(weights) = weights {
        for (tensor, values) in analysis.layout.iter().zip(&weights.tensors) {
            tensors[tensor.node as usize].push((tensor.role, values.as_slice()));
        }
    }
    let param = |node: usize, role: ParamRole| -> &[f32] {
        tensors[node]
            .iter()
            .find(|(r, _)| *r == role)
            .map_or(&[][..], |(_, v)| *v)
    };
    let spec_values = spec.nodes.len() + 1;
    let mut consumers = vec![0usize; spec_values];
    for i in 0..spec.nodes.len() {
        for v in spec.node_inputs(i) {
            consumers[v as usize] += 1;
        }
    }
    consumers[spec_values - 1] += 1;

    let mut lowering = Lowering {
        graph: Graph {
            values: vec![dims(&analysis.shapes[0])],
            steps: Vec::new(),
            output: 0,
            spec_values: Vec::new(),
        },
        params: Vec::new(),
        with_weights: weights.is_some(),
        shared: vec![consumers[0] != 1],
    };
    let mut map: Vec<ValueIndex> = vec![0; spec_values];
    for (i, node) in spec.nodes.iter().enumerate() {
        let inputs: Vec<ValueIndex> = spec
            .node_inputs(i)
            .iter()
            .map(|&v| map[v as usize])
            .collect();
        let out_dims = dims(&analysis.shapes[i + 1]);
        let shared = consumers[i + 1] != 1;
        let x = inputs[0];
        let node_id = i as u32;
        map[i + 1] = match &node.op {
            Op::Conv2d(conv) => {
                let geometry = ConvGeometry {
                    input: lowering.graph.values[x],
                    out_channels: conv.out_channels as usize,
                    kernel: [conv.kernel[0] as usize, conv.kernel[1] as usize],
                    stride: [conv.stride[0] as usize, conv.stride[1] as usize],
                    padding: [conv.padding[0] as usize, conv.padding[1] as usize],
                    dilation: [conv.dilation[0] as usize, conv.dilation[1] as usize],
                    groups: conv.groups as usize,
                    activation: None,
                };
                let w = param(i, ParamRole::Weight);
                let b = param(i, ParamRole::Bias);
                lowering.conv(node_id, x, geometry, w, b, out_dims, shared)
            }
            Op::Dense(dense) => {
                let len = out_dims_len(&lowering.graph.values[x]);
                let geometry = dense_geometry(len, dense.out_features as usize);
                let w = param(i, ParamRole::Weight);
                let b = param(i, ParamRole::Bias);
                lowering.conv(node_id, x, geometry, w, b, out_dims, shared)
            }
            Op::BatchNorm { eps } => {
                let (scale, shift) = batch_norm_affine(
                    *eps,
                    param(i, ParamRole::Gamma),
                    param(i, ParamRole::Beta),
                    param(i, ParamRole::RunningMean),
                    param(i, ParamRole::RunningVar),
                );
                match lowering.foldable_conv(x) {
                    Some(step) => {
                        lowering.fold_affine(step, &scale, &shift);
                        lowering.shared[x] |= shared;
                        x
                    }
                    None => {
                        let c = out_dims[0];
                        let mut geometry = dense_geometry(c, c);
                        geometry.input = out_dims;
                        geometry.groups = c;
                        lowering.conv(node_id, x, geometry, &scale, &shift, out_dims, shared)
                    }
                }
            }
            Op::Activation(activation) => {
                let fusable = matches!(activation, Activation::Relu | Activation::Relu6);
                match lowering.foldable_conv(x).filter(|_| fusable) {
                    Some(step) => {
                        if let StepOp::Conv(g) = &mut lowering.graph.steps[step].op {
                            g.activation = Some(*activation);
                        }
                        lowering.shared[x] |= shared;
                        x
                    }
                    None => lowering.step(
                        node_id,
                        StepOp::Activation(*activation),
                        vec![x],
                        out_dims,
                        shared,
                    ),
                }
            }
            Op::MaxPool(pool) => {
                lowering.step(node_id, StepOp::MaxPool(*pool), vec![x], out_dims, shared)
            }
            Op::AvgPool(pool) => {
                lowering.step(node_id, StepOp::AvgPool(*pool), vec![x], out_dims, shared)
            }
            Op::GlobalAvgPool => {
                lowering.step(node_id, StepOp::GlobalAvgPool, vec![x], out_dims, shared)
            }
            Op::Flatten | Op::Dropout { .. } => {
                lowering.shared[x] |= shared;
                x
            }
            Op::Add => lowering.step(node_id, StepOp::Add, inputs, out_dims, shared),
            Op::Concat => lowering.step(node_id, StepOp::Concat, inputs, out_dims, shared),
            Op::SqueezeExcite(se) => {
                let c = out_dims[0];
                let r = se.reduced as usize;
                let mean = lowering.step(node_id, StepOp::GlobalAvgPool, vec![x], [c, 1, 1], false);
                let reduce = lowering.conv(
                    node_id,
                    mean,
                    dense_geometry(c, r),
                    param(i, ParamRole::ReduceWeight),
                    param(i, ParamRole::ReduceBias),
                    [r, 1, 1],
                    false,
                );
                let hidden = lowering.activation(node_id, reduce, se.activation);
                let expand = lowering.conv(
                    node_id,
                    hidden,
                    dense_geometry(r, c),
                    param(i, ParamRole::ExpandWeight),
                    param(i, ParamRole::ExpandBias),
                    [c, 1, 1],
                    false,
                );
                let gate = lowering.activation(node_id, expand, se.gate);
                lowering.step(
                    node_id,
                    StepOp::ChannelScale,
                    vec![x, gate],
                    out_dims,
                    shared,
                )
            }
        };
    }
    lowering.graph.output = map[spec_values - 1];
    lowering.graph.spec_values = map;
    Ok((lowering.graph, lowering.params))
}

fn out_dims_len(dims: &[usize; 3]) -> usize {
    dims[0] * dims[1] * dims[2]
}

fn dense_geometry(inputs: usize, outputs: usize) -> ConvGeometry {
    ConvGeometry {
        input: [inputs, 1, 1],
        out_channels: outputs,
        kernel: [1, 1],
        stride: [1, 1],
        padding: [0, 0],
        dilation: [1, 1],
        groups: 1,
        activation: None,
    }
}

/// A batch norm at inference as `x * scale + shift`.
fn batch_norm_affine(
    eps: f32,
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let scale: Vec<f32> = gamma
        .iter()
        .zip(var)
        .map(|(g, v)| g / sqrtf(v + eps))
        .collect();
    let shift = beta
        .iter()
        .zip(mean)
        .zip(&scale)
        .map(|((b, m), s)| b - m * s)
        .collect();
    (scale, shift)
}

struct Lowering {
    graph: Graph,
    params: Vec<ConvParams>,
    with_weights: bool,
    /// Whether a value is read by more than one layer (or is the output), which forbids
    /// folding into the step that writes it.
    shared: Vec<bool>,
}

impl Lowering {
    fn step(
        &mut self,
        node: u32,
        op: StepOp,
        inputs: Vec<ValueIndex>,
        dims: [usize; 3],
        shared: bool,
    ) -> ValueIndex {
        let output = self.graph.values.len();
        self.graph.values.push(dims);
        self.shared.push(shared);
        self.graph.steps.push(Step {
            op,
            inputs,
            output,
            node,
        });
        output
    }

    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        node: u32,
        x: ValueIndex,
        geometry: ConvGeometry,
        weights: &[f32],
        bias: &[f32],
        dims: [usize; 3],
        shared: bool,
    ) -> ValueIndex {
        if self.with_weights {
            let bias = if bias.is_empty() {
                vec![0.0; geometry.out_channels]
            } else {
                bias.to_vec()
            };
            self.params.push(ConvParams {
                weights: weights.to_vec(),
                bias,
            });
        }
        self.step(node, StepOp::Conv(geometry), vec![x], dims, shared)
    }

    fn activation(&mut self, node: u32, x: ValueIndex, activation: Activation) -> ValueIndex {
        let fusable = matches!(activation, Activation::Relu | Activation::Relu6);
        match self.foldable_conv(x).filter(|_| fusable) {
            Some(step) => {
                if let StepOp::Conv(g) = &mut self.graph.steps[step].op {
                    g.activation = Some(activation);
                }
                x
            }
            None => {
                let dims = self.graph.values[x];
                self.step(node, StepOp::Activation(activation), vec![x], dims, false)
            }
        }
    }

    /// The convolution step that writes `x`, if `x` has no other reader and nothing has
    /// been fused after the convolution yet.
    fn foldable_conv(&self, x: ValueIndex) -> Option<usize> {
        if self.shared[x] {
            return None;
        }
        let (index, step) = self
            .graph
            .steps
            .iter()
            .enumerate()
            .rev()
            .find(|(_, s)| s.output == x)?;
        match step.op {
            StepOp::Conv(g) if g.activation.is_none() => Some(index),
            _ => None,
        }
    }

    /// Folds `y = x * scale + shift` (per output channel) into convolution `step`.
    fn fold_affine(&mut self, step: usize, scale: &[f32], shift: &[f32]) {
        if !self.with_weights {
            return;
        }
        let conv_index = self.graph.steps[..step]
            .iter()
            .filter(|s| matches!(s.op, StepOp::Conv(_)))
            .count();
        let params = &mut self.params[conv_index];
        let per_channel = params.weights.len() / scale.len().max(1);
        for (o, (&s, &t)) in scale.iter().zip(shift).enumerate() {
            for w in &mut params.weights[o * per_channel..(o + 1) * per_channel] {
                *w *= s;
            }
            params.bias[o] = params.bias[o] * s + t;
        }
    }
}

impl Graph {
    /// The value the step writing the logits reads: the features the network's last layer
    /// weighs into class scores (the input itself for a graph without steps).
    pub fn features(&self) -> ValueIndex {
        self.steps
            .iter()
            .rfind(|step| step.output == self.output)
            .map_or(self.output, |step| step.inputs[0])
    }

    /// Number of scalars in value `v`.
    pub fn elements(&self, v: ValueIndex) -> usize {
        out_dims_len(&self.values[v])
    }

    /// Number of convolution steps (the length of the parameter list).
    pub fn conv_steps(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s.op, StepOp::Conv(_)))
            .count()
    }
}
