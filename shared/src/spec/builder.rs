//! A small builder for writing specs as code (the presets use it).

use alloc::string::String;
use alloc::vec::Vec;

use super::{
    Activation, Conv2d, Dense, InputSpec, ModelSpec, Node, Op, Pool2d, SqueezeExcite, ValueId,
};

/// Appends layers to a spec; every method returns the value it produced, which becomes the
/// input of the next layer unless [`SpecBuilder::at`] moves the cursor.
#[derive(Clone, Debug)]
pub struct SpecBuilder {
    name: String,
    input: InputSpec,
    nodes: Vec<Node>,
    cursor: ValueId,
}

/// Batch-norm epsilon used by the presets (PyTorch's default).
pub const BN_EPS: f32 = 1e-5;

impl SpecBuilder {
    /// Starts a graph whose cursor is the input (value 0).
    pub fn new(name: impl Into<String>, input: InputSpec) -> Self {
        SpecBuilder {
            name: name.into(),
            input,
            nodes: Vec::new(),
            cursor: 0,
        }
    }

    /// The value the next layer will read.
    pub fn cursor(&self) -> ValueId {
        self.cursor
    }

    /// Makes `value` the input of the next layer.
    pub fn at(&mut self, value: ValueId) -> &mut Self {
        self.cursor = value;
        self
    }

    /// Appends `op` reading `inputs` and moves the cursor to its output.
    pub fn push(&mut self, op: Op, inputs: &[ValueId]) -> ValueId {
        let index = self.nodes.len() as ValueId;
        // The implicit input is "the value just before", so only spell it out when needed.
        let inputs = if inputs == [index] {
            Vec::new()
        } else {
            inputs.to_vec()
        };
        self.nodes.push(Node { op, inputs });
        self.cursor = index + 1;
        self.cursor
    }

    fn unary(&mut self, op: Op) -> ValueId {
        let input = self.cursor;
        self.push(op, &[input])
    }

    /// A convolution.
    pub fn conv(&mut self, conv: Conv2d) -> ValueId {
        self.unary(Op::Conv2d(conv))
    }

    /// Batch normalization with the presets' epsilon.
    pub fn bn(&mut self) -> ValueId {
        self.unary(Op::BatchNorm { eps: BN_EPS })
    }

    /// An activation.
    pub fn act(&mut self, activation: Activation) -> ValueId {
        self.unary(Op::Activation(activation))
    }

    /// Convolution without bias, batch norm, then `activation` if given.
    pub fn conv_bn(&mut self, conv: Conv2d, activation: Option<Activation>) -> ValueId {
        self.conv(Conv2d {
            bias: false,
            ..conv
        });
        let out = self.bn();
        match activation {
            Some(activation) => self.act(activation),
            None => out,
        }
    }

    /// Max pooling.
    pub fn max_pool(&mut self, pool: Pool2d) -> ValueId {
        self.unary(Op::MaxPool(pool))
    }

    /// Average pooling.
    pub fn avg_pool(&mut self, pool: Pool2d) -> ValueId {
        self.unary(Op::AvgPool(pool))
    }

    /// Global average pooling to a vector.
    pub fn global_avg_pool(&mut self) -> ValueId {
        self.unary(Op::GlobalAvgPool)
    }

    /// Flattening to a vector.
    pub fn flatten(&mut self) -> ValueId {
        self.unary(Op::Flatten)
    }

    /// A dense layer with bias.
    pub fn dense(&mut self, out_features: u32) -> ValueId {
        self.unary(Op::Dense(Dense {
            out_features,
            bias: true,
        }))
    }

    /// Dropout.
    pub fn dropout(&mut self, rate: f32) -> ValueId {
        self.unary(Op::Dropout { rate })
    }

    /// Squeeze-and-excitation on the cursor.
    pub fn squeeze_excite(
        &mut self,
        reduced: u32,
        activation: Activation,
        gate: Activation,
    ) -> ValueId {
        self.unary(Op::SqueezeExcite(SqueezeExcite {
            reduced,
            activation,
            gate,
        }))
    }

    /// Element-wise sum of `values`.
    pub fn add(&mut self, values: &[ValueId]) -> ValueId {
        self.push(Op::Add, values)
    }

    /// Channel concatenation of `values`.
    pub fn concat(&mut self, values: &[ValueId]) -> ValueId {
        self.push(Op::Concat, values)
    }

    /// Finishes the spec.
    pub fn build(self) -> ModelSpec {
        ModelSpec {
            name: self.name,
            input: self.input,
            nodes: self.nodes,
        }
    }
}
