//! Shape inference, parameter layout and cost of a [`ModelSpec`].

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use super::{Activation, ModelSpec, Op, ValueId};

/// The shape of one value (batch dimension left out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Shape {
    /// A feature map, channel-major.
    Map {
        /// Channels.
        channels: u32,
        /// Rows.
        height: u32,
        /// Columns.
        width: u32,
    },
    /// A flat vector of features.
    Vector {
        /// Features.
        len: u32,
    },
}

impl Shape {
    /// Number of scalars in the value.
    pub fn elements(&self) -> u64 {
        match *self {
            Shape::Map {
                channels,
                height,
                width,
            } => u64::from(channels) * u64::from(height) * u64::from(width),
            Shape::Vector { len } => u64::from(len),
        }
    }

    /// Channels of a map, or features of a vector (what batch norm normalizes over).
    pub fn channels(&self) -> u32 {
        match *self {
            Shape::Map { channels, .. } => channels,
            Shape::Vector { len } => len,
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Map {
                channels,
                height,
                width,
            } => write!(f, "{channels}x{height}x{width}"),
            Shape::Vector { len } => write!(f, "vector of {len}"),
        }
    }
}

/// Why a spec cannot be executed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SpecError {
    /// The graph has no layers.
    #[error("the model has no layers")]
    Empty,
    /// The input shape has a zero dimension or a non-positive scale.
    #[error(
        "the input {channels}x{height}x{width} at {um_per_px} um/px is empty or has no valid scale"
    )]
    InvalidInput {
        /// Input channels.
        channels: u32,
        /// Input rows.
        height: u32,
        /// Input columns.
        width: u32,
        /// Input scale.
        um_per_px: f32,
    },
    /// A node reads a value that is not computed before it.
    #[error("node {node}: reads value {value}, which is not computed before it")]
    UnknownValue {
        /// The node.
        node: u32,
        /// The value it names.
        value: ValueId,
    },
    /// A node has the wrong number of inputs.
    #[error("node {node} ({op}): takes {expected} input(s), got {found}")]
    InputCount {
        /// The node.
        node: u32,
        /// Its operation.
        op: &'static str,
        /// What it takes.
        expected: &'static str,
        /// What it got.
        found: u32,
    },
    /// An operation on feature maps got a vector.
    #[error("node {node} ({op}): needs a feature map, got a {found}")]
    ExpectedMap {
        /// The node.
        node: u32,
        /// Its operation.
        op: &'static str,
        /// The shape it got.
        found: Shape,
    },
    /// A dense layer got a feature map.
    #[error(
        "node {node} (dense): needs a vector, got a {found} feature map; flatten or pool it first"
    )]
    ExpectedVector {
        /// The node.
        node: u32,
        /// The shape it got.
        found: Shape,
    },
    /// A size, stride, count or rate that must be positive is zero.
    #[error("node {node} ({op}): {what} must be positive")]
    ZeroParameter {
        /// The node.
        node: u32,
        /// Its operation.
        op: &'static str,
        /// Which parameter.
        what: &'static str,
    },
    /// Channels do not split into the convolution's groups.
    #[error(
        "node {node} (conv2d): {in_channels} input and {out_channels} output channels do not split into {groups} groups"
    )]
    Groups {
        /// The node.
        node: u32,
        /// Input channels.
        in_channels: u32,
        /// Output channels.
        out_channels: u32,
        /// Groups.
        groups: u32,
    },
    /// The window does not fit in the padded input.
    #[error(
        "node {node} ({op}): a {kernel_h}x{kernel_w} window does not fit a {height}x{width} input with its padding"
    )]
    WindowTooLarge {
        /// The node.
        node: u32,
        /// Its operation.
        op: &'static str,
        /// Effective window rows (dilation included).
        kernel_h: u32,
        /// Effective window columns.
        kernel_w: u32,
        /// Input rows.
        height: u32,
        /// Input columns.
        width: u32,
    },
    /// Pool padding above half the window would create windows of padding only.
    #[error("node {node} ({op}): padding {padding_h}x{padding_w} is more than half the window")]
    PoolPadding {
        /// The node.
        node: u32,
        /// Its operation.
        op: &'static str,
        /// Padding rows.
        padding_h: u32,
        /// Padding columns.
        padding_w: u32,
    },
    /// An add got values of different shapes.
    #[error("node {node} (add): cannot add a {a} and a {b}")]
    AddMismatch {
        /// The node.
        node: u32,
        /// First shape.
        a: Shape,
        /// The shape that differs.
        b: Shape,
    },
    /// A concat got values whose sizes differ.
    #[error("node {node} (concat): cannot concatenate a {a} and a {b}")]
    ConcatMismatch {
        /// The node.
        node: u32,
        /// First shape.
        a: Shape,
        /// The shape that differs.
        b: Shape,
    },
    /// A rate, epsilon or slope is out of its valid range.
    #[error("node {node} ({op}): {what} {value} is out of range")]
    OutOfRange {
        /// The node.
        node: u32,
        /// Its operation.
        op: &'static str,
        /// Which parameter.
        what: &'static str,
        /// Its value.
        value: f32,
    },
    /// The graph does not end in a vector of class scores.
    #[error("the model ends in a {found}, not a vector of class scores")]
    OutputNotVector {
        /// The final shape.
        found: Shape,
    },
    /// No dense layer produces the class scores, so the head cannot be replaced.
    #[error("the model's class scores do not come from a dense layer: its head cannot be replaced")]
    NoHead,
    /// A value or a parameter tensor is too large to address.
    #[error("node {node}: tensor sizes overflow")]
    TooLarge {
        /// The node.
        node: u32,
    },
}

/// What a parameter tensor holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ParamRole {
    /// Convolution kernel `[out, in / groups, kh, kw]` or dense matrix `[out, in]`.
    Weight,
    /// Bias `[out]`.
    Bias,
    /// Batch-norm scale `[channels]`.
    Gamma,
    /// Batch-norm shift `[channels]`.
    Beta,
    /// Batch-norm running mean `[channels]` (not trained by gradient).
    RunningMean,
    /// Batch-norm running variance `[channels]` (not trained by gradient).
    RunningVar,
    /// Squeeze-excitation reduction matrix `[reduced, channels]`.
    ReduceWeight,
    /// Squeeze-excitation reduction bias `[reduced]`.
    ReduceBias,
    /// Squeeze-excitation expansion matrix `[channels, reduced]`.
    ExpandWeight,
    /// Squeeze-excitation expansion bias `[channels]`.
    ExpandBias,
}

impl ParamRole {
    /// Whether gradient descent trains it (running statistics are not).
    pub fn trainable(self) -> bool {
        !matches!(self, ParamRole::RunningMean | ParamRole::RunningVar)
    }
}

/// One parameter tensor of the network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ParamTensor {
    /// The node that owns it.
    pub node: u32,
    /// What it holds.
    pub role: ParamRole,
    /// Its dimensions.
    pub shape: Vec<u32>,
}

impl ParamTensor {
    /// Number of scalars.
    pub fn len(&self) -> u64 {
        self.shape.iter().map(|&d| u64::from(d)).product()
    }

    /// Whether it holds no scalars.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The result of checking a spec: shapes, parameters and cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    /// Shape of every value: 0 is the input, `i + 1` the output of node `i`.
    pub shapes: Vec<Shape>,
    /// Parameter tensors in storage order.
    pub layout: Vec<ParamTensor>,
    /// Multiply-accumulates per image.
    pub macs: u64,
    /// Trainable parameters.
    pub params: u64,
    /// Length of the output vector.
    pub classes: u32,
}

/// Largest tensor we accept; keeps all index arithmetic in range on 32-bit boards.
const MAX_ELEMENTS: u64 = 1 << 31;

pub(super) fn analyze(spec: &ModelSpec) -> Result<Analysis, SpecError> {
    let input = spec.input;
    if input.channels == 0
        || input.height == 0
        || input.width == 0
        || !(input.um_per_px.is_finite() && input.um_per_px > 0.0)
    {
        return Err(SpecError::InvalidInput {
            channels: input.channels,
            height: input.height,
            width: input.width,
            um_per_px: input.um_per_px,
        });
    }
    if spec.nodes.is_empty() {
        return Err(SpecError::Empty);
    }
    let mut shapes = Vec::with_capacity(spec.nodes.len() + 1);
    shapes.push(Shape::Map {
        channels: input.channels,
        height: input.height,
        width: input.width,
    });
    let mut layout = Vec::new();
    let mut macs: u64 = 0;
    for (index, node) in spec.nodes.iter().enumerate() {
        let id = index as u32;
        let inputs = spec.node_inputs(index);
        let mut in_shapes = Vec::with_capacity(inputs.len());
        for &value in &inputs {
            match shapes.get(value as usize) {
                Some(&shape) if (value as usize) <= index => in_shapes.push(shape),
                _ => return Err(SpecError::UnknownValue { node: id, value }),
            }
        }
        let step = infer_node(id, &node.op, &in_shapes)?;
        if step.output.elements() > MAX_ELEMENTS {
            return Err(SpecError::TooLarge { node: id });
        }
        for (role, dims) in step.params {
            let tensor = ParamTensor {
                node: id,
                role,
                shape: dims,
            };
            if tensor.len() > MAX_ELEMENTS {
                return Err(SpecError::TooLarge { node: id });
            }
            layout.push(tensor);
        }
        macs = macs.saturating_add(step.macs);
        shapes.push(step.output);
    }
    let output = *shapes.last().unwrap_or(&shapes[0]);
    let classes = match output {
        Shape::Vector { len } => len,
        found => return Err(SpecError::OutputNotVector { found }),
    };
    let params = layout
        .iter()
        .filter(|t| t.role.trainable())
        .map(ParamTensor::len)
        .sum();
    Ok(Analysis {
        shapes,
        layout,
        macs,
        params,
        classes,
    })
}

struct NodeShape {
    output: Shape,
    params: Vec<(ParamRole, Vec<u32>)>,
    macs: u64,
}

impl NodeShape {
    fn plain(output: Shape) -> Self {
        NodeShape {
            output,
            params: Vec::new(),
            macs: 0,
        }
    }
}

fn one_input(node: u32, op: &Op, inputs: &[Shape]) -> Result<Shape, SpecError> {
    match inputs {
        [shape] => Ok(*shape),
        _ => Err(SpecError::InputCount {
            node,
            op: op.kind(),
            expected: "exactly 1",
            found: inputs.len() as u32,
        }),
    }
}

fn several_inputs(node: u32, op: &Op, inputs: &[Shape]) -> Result<(), SpecError> {
    if inputs.len() < 2 {
        return Err(SpecError::InputCount {
            node,
            op: op.kind(),
            expected: "2 or more",
            found: inputs.len() as u32,
        });
    }
    Ok(())
}

fn map_dims(node: u32, op: &Op, shape: Shape) -> Result<(u32, u32, u32), SpecError> {
    match shape {
        Shape::Map {
            channels,
            height,
            width,
        } => Ok((channels, height, width)),
        found => Err(SpecError::ExpectedMap {
            node,
            op: op.kind(),
            found,
        }),
    }
}

fn positive(node: u32, op: &Op, what: &'static str, values: &[u32]) -> Result<(), SpecError> {
    if values.contains(&0) {
        return Err(SpecError::ZeroParameter {
            node,
            op: op.kind(),
            what,
        });
    }
    Ok(())
}

/// Output length of a sliding window: `floor((n + 2p - k) / s) + 1`, or `None` if the
/// window does not fit.
fn window_out(n: u32, k: u32, s: u32, p: u32) -> Option<u32> {
    let padded = u64::from(n) + 2 * u64::from(p);
    let k = u64::from(k);
    if k > padded {
        return None;
    }
    u32::try_from((padded - k) / u64::from(s) + 1).ok()
}

fn check_activation(node: u32, op: &Op, activation: Activation) -> Result<(), SpecError> {
    if let Activation::LeakyRelu { slope } = activation
        && !slope.is_finite()
    {
        return Err(SpecError::OutOfRange {
            node,
            op: op.kind(),
            what: "slope",
            value: slope,
        });
    }
    Ok(())
}

fn infer_node(node: u32, op: &Op, inputs: &[Shape]) -> Result<NodeShape, SpecError> {
    match op {
        Op::Conv2d(conv) => {
            let (channels, height, width) = map_dims(node, op, one_input(node, op, inputs)?)?;
            positive(node, op, "output channels", &[conv.out_channels])?;
            positive(node, op, "kernel", &conv.kernel)?;
            positive(node, op, "stride", &conv.stride)?;
            positive(node, op, "dilation", &conv.dilation)?;
            positive(node, op, "groups", &[conv.groups])?;
            if channels % conv.groups != 0 || conv.out_channels % conv.groups != 0 {
                return Err(SpecError::Groups {
                    node,
                    in_channels: channels,
                    out_channels: conv.out_channels,
                    groups: conv.groups,
                });
            }
            let too_large = || SpecError::TooLarge { node };
            let effective = |i: usize| {
                conv.dilation[i]
                    .checked_mul(conv.kernel[i] - 1)
                    .and_then(|d| d.checked_add(1))
            };
            let (kh, kw) = (
                effective(0).ok_or_else(too_large)?,
                effective(1).ok_or_else(too_large)?,
            );
            let out_h = window_out(height, kh, conv.stride[0], conv.padding[0]);
            let out_w = window_out(width, kw, conv.stride[1], conv.padding[1]);
            let (Some(out_h), Some(out_w)) = (out_h, out_w) else {
                return Err(SpecError::WindowTooLarge {
                    node,
                    op: op.kind(),
                    kernel_h: kh,
                    kernel_w: kw,
                    height,
                    width,
                });
            };
            let per_group = channels / conv.groups;
            let mut params = vec![(
                ParamRole::Weight,
                vec![conv.out_channels, per_group, conv.kernel[0], conv.kernel[1]],
            )];
            if conv.bias {
                params.push((ParamRole::Bias, vec![conv.out_channels]));
            }
            let macs = u64::from(out_h)
                * u64::from(out_w)
                * u64::from(conv.out_channels)
                * u64::from(per_group)
                * u64::from(conv.kernel[0])
                * u64::from(conv.kernel[1]);
            Ok(NodeShape {
                output: Shape::Map {
                    channels: conv.out_channels,
                    height: out_h,
                    width: out_w,
                },
                params,
                macs,
            })
        }
        Op::BatchNorm { eps } => {
            let shape = one_input(node, op, inputs)?;
            if !(eps.is_finite() && *eps > 0.0) {
                return Err(SpecError::OutOfRange {
                    node,
                    op: op.kind(),
                    what: "eps",
                    value: *eps,
                });
            }
            let c = shape.channels();
            Ok(NodeShape {
                output: shape,
                params: vec![
                    (ParamRole::Gamma, vec![c]),
                    (ParamRole::Beta, vec![c]),
                    (ParamRole::RunningMean, vec![c]),
                    (ParamRole::RunningVar, vec![c]),
                ],
                macs: 0,
            })
        }
        Op::Activation(activation) => {
            check_activation(node, op, *activation)?;
            Ok(NodeShape::plain(one_input(node, op, inputs)?))
        }
        Op::MaxPool(pool) | Op::AvgPool(pool) => {
            let (channels, height, width) = map_dims(node, op, one_input(node, op, inputs)?)?;
            positive(node, op, "kernel", &pool.kernel)?;
            positive(node, op, "stride", &pool.stride)?;
            if pool.padding[0] * 2 > pool.kernel[0] || pool.padding[1] * 2 > pool.kernel[1] {
                return Err(SpecError::PoolPadding {
                    node,
                    op: op.kind(),
                    padding_h: pool.padding[0],
                    padding_w: pool.padding[1],
                });
            }
            let out_h = window_out(height, pool.kernel[0], pool.stride[0], pool.padding[0]);
            let out_w = window_out(width, pool.kernel[1], pool.stride[1], pool.padding[1]);
            let (Some(out_h), Some(out_w)) = (out_h, out_w) else {
                return Err(SpecError::WindowTooLarge {
                    node,
                    op: op.kind(),
                    kernel_h: pool.kernel[0],
                    kernel_w: pool.kernel[1],
                    height,
                    width,
                });
            };
            Ok(NodeShape::plain(Shape::Map {
                channels,
                height: out_h,
                width: out_w,
            }))
        }
        Op::GlobalAvgPool => {
            let (channels, _, _) = map_dims(node, op, one_input(node, op, inputs)?)?;
            Ok(NodeShape::plain(Shape::Vector { len: channels }))
        }
        Op::Flatten => {
            let shape = one_input(node, op, inputs)?;
            let len = u32::try_from(shape.elements()).map_err(|_| SpecError::TooLarge { node })?;
            Ok(NodeShape::plain(Shape::Vector { len }))
        }
        Op::Dense(dense) => {
            let len = match one_input(node, op, inputs)? {
                Shape::Vector { len } => len,
                found => return Err(SpecError::ExpectedVector { node, found }),
            };
            positive(node, op, "output features", &[dense.out_features])?;
            let mut params = vec![(ParamRole::Weight, vec![dense.out_features, len])];
            if dense.bias {
                params.push((ParamRole::Bias, vec![dense.out_features]));
            }
            Ok(NodeShape {
                output: Shape::Vector {
                    len: dense.out_features,
                },
                params,
                macs: u64::from(len) * u64::from(dense.out_features),
            })
        }
        Op::Dropout { rate } => {
            let shape = one_input(node, op, inputs)?;
            if !(0.0..1.0).contains(rate) {
                return Err(SpecError::OutOfRange {
                    node,
                    op: op.kind(),
                    what: "rate",
                    value: *rate,
                });
            }
            Ok(NodeShape::plain(shape))
        }
        Op::Add => {
            several_inputs(node, op, inputs)?;
            let first = inputs[0];
            if let Some(&b) = inputs.iter().find(|&&s| s != first) {
                return Err(SpecError::AddMismatch { node, a: first, b });
            }
            Ok(NodeShape::plain(first))
        }
        Op::Concat => {
            several_inputs(node, op, inputs)?;
            let first = inputs[0];
            let mut total: u64 = 0;
            for &shape in inputs {
                let compatible = match (first, shape) {
                    (
                        Shape::Map { height, width, .. },
                        Shape::Map {
                            height: h,
                            width: w,
                            ..
                        },
                    ) => height == h && width == w,
                    (Shape::Vector { .. }, Shape::Vector { .. }) => true,
                    _ => false,
                };
                if !compatible {
                    return Err(SpecError::ConcatMismatch {
                        node,
                        a: first,
                        b: shape,
                    });
                }
                total += u64::from(shape.channels());
            }
            let total = u32::try_from(total).map_err(|_| SpecError::TooLarge { node })?;
            Ok(NodeShape::plain(match first {
                Shape::Map { height, width, .. } => Shape::Map {
                    channels: total,
                    height,
                    width,
                },
                Shape::Vector { .. } => Shape::Vector { len: total },
            }))
        }
        Op::SqueezeExcite(se) => {
            let shape = one_input(node, op, inputs)?;
            let (channels, _, _) = map_dims(node, op, shape)?;
            positive(node, op, "reduced width", &[se.reduced])?;
            check_activation(node, op, se.activation)?;
            check_activation(node, op, se.gate)?;
            Ok(NodeShape {
                output: shape,
                params: vec![
                    (ParamRole::ReduceWeight, vec![se.reduced, channels]),
                    (ParamRole::ReduceBias, vec![se.reduced]),
                    (ParamRole::ExpandWeight, vec![channels, se.reduced]),
                    (ParamRole::ExpandBias, vec![channels]),
                ],
                macs: 2 * u64::from(channels) * u64::from(se.reduced),
            })
        }
    }
}
