//! The model as data: a small graph of layers that both the trainer (through burn) and the
//! edge engine execute, with shape inference, parameter layout and cost.
//!
//! Values are numbered: value 0 is the model input and node `i` produces value `i + 1`.
//! A node with an empty input list reads the value just before it, so a plain chain of
//! layers needs no wiring; residual adds and concatenations name their inputs.

mod builder;
mod presets;
mod shape;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

pub use builder::SpecBuilder;
pub use presets::{FIELD_UM_PER_PX, HeadStyle, Preset, PresetOptions};
pub use shape::{Analysis, ParamRole, ParamTensor, Shape, SpecError};

/// Index of a value in the graph: 0 is the input, `i + 1` is the output of node `i`.
pub type ValueId = u32;

/// A classifier network described as data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ModelSpec {
    /// Human-readable name, usually the preset's (`edge-s`, `resnet50`, ...).
    pub name: String,
    /// What the network reads.
    pub input: InputSpec,
    /// The layers, in execution order.
    pub nodes: Vec<Node>,
}

/// The network's input: an RGB window at a known scale.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct InputSpec {
    /// Colour channels (3 for RGB).
    pub channels: u32,
    /// Rows of the input tensor.
    pub height: u32,
    /// Columns of the input tensor.
    pub width: u32,
    /// Whether the network sees a field of the smear or a crop centred on one cell.
    pub kind: InputKind,
    /// Micrometres of the specimen per input pixel, so the edge can cut windows at the
    /// scale the network was trained on.
    pub um_per_px: f32,
}

/// What one input window shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum InputKind {
    /// A window of the smear at a fixed scale, with one or more white cells in it
    /// (the 4-class B-ALL data).
    Field,
    /// A crop centred on a single white cell (C-NMC, ALL-IDB 2).
    Cell,
}

impl InputKind {
    /// The lower-case word used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Field => "field",
            InputKind::Cell => "cell",
        }
    }
}

/// One layer of the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Node {
    /// What the layer computes.
    pub op: Op,
    /// The values it reads; empty means "the value just before this node".
    pub inputs: Vec<ValueId>,
}

/// The operations a spec can use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Op {
    /// 2-D convolution (grouped and depthwise included).
    Conv2d(Conv2d),
    /// Batch normalization over channels (or features, on a vector).
    BatchNorm {
        /// Added to the variance before the square root.
        eps: f32,
    },
    /// An element-wise nonlinearity.
    Activation(Activation),
    /// Max pooling over windows.
    MaxPool(Pool2d),
    /// Average pooling over windows; padded positions are not counted in the mean.
    AvgPool(Pool2d),
    /// Mean over all positions of each channel; turns a feature map into a vector.
    GlobalAvgPool,
    /// Flattens a feature map (channel-major) into a vector; a vector passes unchanged.
    Flatten,
    /// Fully connected layer on a vector.
    Dense(Dense),
    /// Random zeroing during training; the identity at inference.
    Dropout {
        /// Probability of zeroing an element, in `[0, 1)`.
        rate: f32,
    },
    /// Element-wise sum of two or more values of the same shape (residual connections).
    Add,
    /// Concatenation along channels of two or more feature maps of the same size.
    Concat,
    /// Squeeze-and-excitation: per-channel gates computed from the channel means.
    SqueezeExcite(SqueezeExcite),
}

impl Op {
    /// The short kebab-case name used in errors and summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Conv2d(_) => "conv2d",
            Op::BatchNorm { .. } => "batch-norm",
            Op::Activation(_) => "activation",
            Op::MaxPool(_) => "max-pool",
            Op::AvgPool(_) => "avg-pool",
            Op::GlobalAvgPool => "global-avg-pool",
            Op::Flatten => "flatten",
            Op::Dense(_) => "dense",
            Op::Dropout { .. } => "dropout",
            Op::Add => "add",
            Op::Concat => "concat",
            Op::SqueezeExcite(_) => "squeeze-excite",
        }
    }
}

/// A 2-D convolution. Sizes are `[height, width]`; weights are `[out, in / groups, kh, kw]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Conv2d {
    /// Output channels.
    pub out_channels: u32,
    /// Kernel size.
    pub kernel: [u32; 2],
    /// Step between windows.
    pub stride: [u32; 2],
    /// Zeros added on each side.
    pub padding: [u32; 2],
    /// Spacing between kernel taps.
    pub dilation: [u32; 2],
    /// Channel groups; equal to the input channels for a depthwise convolution.
    pub groups: u32,
    /// Whether the layer adds a per-channel bias.
    pub bias: bool,
}

impl Conv2d {
    /// A square `k`x`k` convolution with the given stride and padding, no groups, no bias
    /// (the usual form before a batch norm).
    pub fn square(out_channels: u32, k: u32, stride: u32, padding: u32) -> Self {
        Conv2d {
            out_channels,
            kernel: [k, k],
            stride: [stride, stride],
            padding: [padding, padding],
            dilation: [1, 1],
            groups: 1,
            bias: false,
        }
    }
}

/// A pooling window. Sizes are `[height, width]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Pool2d {
    /// Window size.
    pub kernel: [u32; 2],
    /// Step between windows.
    pub stride: [u32; 2],
    /// Implicit padding on each side; at most half the window.
    pub padding: [u32; 2],
}

impl Pool2d {
    /// A square window.
    pub fn square(k: u32, stride: u32, padding: u32) -> Self {
        Pool2d {
            kernel: [k, k],
            stride: [stride, stride],
            padding: [padding, padding],
        }
    }
}

/// A fully connected layer. Weights are `[out, in]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Dense {
    /// Output features.
    pub out_features: u32,
    /// Whether the layer adds a bias.
    pub bias: bool,
}

/// Squeeze-and-excitation: `x * gate(expand(act(reduce(mean(x)))))`, with biased dense
/// layers `reduce: C -> reduced` and `expand: reduced -> C`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SqueezeExcite {
    /// Width of the bottleneck.
    pub reduced: u32,
    /// Nonlinearity after the reduction.
    pub activation: Activation,
    /// Nonlinearity producing the gates (sigmoid in the published blocks).
    pub gate: Activation,
}

/// Element-wise nonlinearities.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`: bounded, which keeps int8 ranges tight.
    Relu6,
    /// `x` for positive inputs, `slope * x` otherwise.
    LeakyRelu {
        /// Slope for negative inputs.
        slope: f32,
    },
    /// `x * sigmoid(x)` (also called swish).
    Silu,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
}

impl Activation {
    /// Applies the nonlinearity to one value (the f32 reference definition).
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Relu => x.max(0.0),
            Activation::Relu6 => x.clamp(0.0, 6.0),
            Activation::LeakyRelu { slope } => {
                if x >= 0.0 {
                    x
                } else {
                    slope * x
                }
            }
            Activation::Silu => x / (1.0 + libm::expf(-x)),
            Activation::Sigmoid => 1.0 / (1.0 + libm::expf(-x)),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Relu => f.write_str("relu"),
            Activation::Relu6 => f.write_str("relu6"),
            Activation::LeakyRelu { slope } => write!(f, "leaky-relu({slope})"),
            Activation::Silu => f.write_str("silu"),
            Activation::Sigmoid => f.write_str("sigmoid"),
        }
    }
}

impl ModelSpec {
    /// Resolves the inputs of node `index`: its own list, or the value just before it.
    pub fn node_inputs(&self, index: usize) -> Vec<ValueId> {
        match self.nodes.get(index) {
            Some(node) if !node.inputs.is_empty() => node.inputs.clone(),
            _ => alloc::vec![index as ValueId],
        }
    }

    /// Infers every value's shape and the model's cost, or names what is wrong.
    pub fn analyze(&self) -> Result<Analysis, SpecError> {
        shape::analyze(self)
    }

    /// Shapes of all values: index 0 is the input, `i + 1` the output of node `i`.
    pub fn shapes(&self) -> Result<Vec<Shape>, SpecError> {
        Ok(self.analyze()?.shapes)
    }

    /// Multiply-accumulates of one forward pass (convolutions, dense and
    /// squeeze-excitation layers; the convention of the published figures).
    pub fn macs(&self) -> Result<u64, SpecError> {
        Ok(self.analyze()?.macs)
    }

    /// Trainable parameters (batch-norm running statistics excluded, as published
    /// counts do).
    pub fn params(&self) -> Result<u64, SpecError> {
        Ok(self.analyze()?.params)
    }

    /// Number of classes the network scores (the length of its output vector).
    pub fn classes(&self) -> Result<u32, SpecError> {
        let analysis = self.analyze()?;
        Ok(analysis.classes)
    }

    /// The same network scoring `classes` classes: the last dense layer, the one that
    /// scores them, gets `classes` outputs (a new head on a trained backbone).
    pub fn with_classes(&self, classes: u32) -> Result<ModelSpec, SpecError> {
        let mut spec = self.clone();
        let head = spec
            .nodes
            .iter_mut()
            .rev()
            .find_map(|node| match &mut node.op {
                Op::Dense(dense) => Some(dense),
                _ => None,
            })
            .ok_or(SpecError::NoHead)?;
        head.out_features = classes;
        // A layer after the last dense one that changes the vector's length (none of the
        // presets has one) would leave the scores' count to another layer.
        if spec.classes()? != classes {
            return Err(SpecError::NoHead);
        }
        Ok(spec)
    }

    /// Every parameter tensor the network holds (trainable and running statistics), in
    /// the order the artifact stores them.
    pub fn parameter_layout(&self) -> Result<Vec<ParamTensor>, SpecError> {
        Ok(self.analyze()?.layout)
    }
}

#[cfg(test)]
mod tests;
