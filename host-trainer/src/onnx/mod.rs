//! ONNX export: an artifact's lowered graph (the one our engine runs) written as an ONNX
//! model, opset 13, for onnxruntime, TensorRT and other runtimes.
//!
//! Writing the lowered graph rather than the spec means the file computes what the engine
//! computes: batch norms already folded, ReLU and ReLU6 already fused, dense layers as 1x1
//! convolutions. A float artifact gives a float graph; an int8 artifact gives the QDQ form
//! (int8 weights, QuantizeLinear/DequantizeLinear pairs on every activation) that
//! onnxruntime's quantizer writes and fuses back into integer kernels. TensorRT reads QDQ
//! too, but only with zero zero-points and float biases, so it gets a variant of its own
//! ([`OnnxForm::QdqTensorRt`]).
//!
//! - [`proto`]: the protobuf messages of the file format.

pub mod proto;

use std::collections::HashSet;

use leukoscope_core::artifact::{ArtifactError, ModelArtifact};
use leukoscope_core::engine::graph::{self, ConvGeometry, ConvParams, Graph, StepOp, ValueIndex};
use leukoscope_core::params::{QParams, QuantizedConv, QuantizedModel, QuantizedStep};
use leukoscope_core::spec::{Activation, ModelSpec, Pool2d, SpecError};

use proto::{
    AttributeProto, Dimension, DimensionValue, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto,
    TypeTensor, TypeValue, ValueInfoProto,
};

/// The ONNX operator set the exporter writes (per-channel QDQ needs 13).
pub const OPSET: i64 = 13;
/// The IR version of opset 13's release.
pub const IR_VERSION: i64 = 7;
/// Name of the graph input: `[N, 3, height, width]`, the preprocessed image, CHW.
pub const INPUT: &str = "input";
/// Name of the graph output: `[N, classes]` logits.
pub const OUTPUT: &str = "logits";
/// Name of the symbolic batch dimension.
pub const BATCH: &str = "N";

/// Which graph to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnnxForm {
    /// The float network, f32 throughout (needs a float artifact).
    Float,
    /// The int8 network in QDQ form on exactly the artifact's grids: int8 weights with
    /// per-channel scales, int32 biases, asymmetric per-tensor activations (needs an int8
    /// artifact). What onnxruntime runs; it matches our int8 engine.
    Qdq,
    /// QDQ as TensorRT accepts it: every activation grid widened to a symmetric one (zero
    /// point 0) covering the same calibrated range, biases in float. Same weights and
    /// ranges, coarser grids under ReLU, so it drifts a little further from our engine.
    QdqTensorRt,
}

impl OnnxForm {
    /// `float`, `int8-qdq` or `int8-qdq-tensorrt`: the word in the file's metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            OnnxForm::Float => "float",
            OnnxForm::Qdq => "int8-qdq",
            OnnxForm::QdqTensorRt => "int8-qdq-tensorrt",
        }
    }
}

/// Why a model cannot be exported.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The artifact is inconsistent.
    #[error("the model is invalid")]
    Invalid(#[from] ArtifactError),
    /// The network cannot be lowered.
    #[error("the network is invalid")]
    Spec(#[from] SpecError),
    /// A float export was asked of an int8 artifact.
    #[error("the model holds int8 weights only, so it has no float form; export it as int8")]
    NoFloatWeights,
    /// An int8 export was asked of a float artifact.
    #[error("the model holds float weights only; quantize it first with leukoscope-train quantize")]
    NotQuantized,
    /// The int8 parameters disagree with the network (an artifact that validates never
    /// gets here).
    #[error("the int8 parameters of step {0} are not a convolution's")]
    StepKind(usize),
}

/// The ONNX model of `artifact` in `form`. Encode it with [`prost::Message::encode_to_vec`].
pub fn export(artifact: &ModelArtifact, form: OnnxForm) -> Result<ModelProto, OnnxError> {
    artifact.validate()?;
    let spec = &artifact.spec;
    let (graph, float_params);
    let params = match form {
        OnnxForm::Float => {
            if artifact.quantized.is_some() {
                return Err(OnnxError::NoFloatWeights);
            }
            (graph, float_params) = graph::lower(spec, Some(&artifact.weights))?;
            Params::Float(&float_params)
        }
        OnnxForm::Qdq | OnnxForm::QdqTensorRt => {
            let model = artifact.quantized.as_ref().ok_or(OnnxError::NotQuantized)?;
            (graph, _) = graph::lower(spec, None)?;
            let convs = quantized_convs(&graph, model)?;
            let tensorrt = form == OnnxForm::QdqTensorRt;
            let grids = if tensorrt {
                model.values.iter().map(|&q| symmetric(q)).collect()
            } else {
                model.values.clone()
            };
            Params::Int8 {
                model,
                convs,
                grids,
                float_bias: tensorrt,
            }
        }
    };
    let mut writer = Writer {
        spec,
        graph: &graph,
        params,
        nodes: Vec::new(),
        initializers: Vec::new(),
        constants: HashSet::new(),
        doc: String::new(),
    };
    writer.write();
    let [channels, height, width] = graph.values[0];
    let classes = graph.elements(graph.output);
    let graph = GraphProto {
        node: writer.nodes,
        name: spec.name.clone(),
        initializer: writer.initializers,
        doc_string: String::new(),
        input: vec![value_info(
            INPUT,
            &[None, Some(channels), Some(height), Some(width)],
        )],
        output: vec![value_info(OUTPUT, &[None, Some(classes)])],
    };
    Ok(ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "leukoscope-train".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        domain: String::new(),
        model_version: 0,
        doc_string: format!(
            "leukoscope {} ({}): decision support, to be confirmed by a trained reader. \
             Input: the preprocessed image (see metadata leukoscope.preprocess), CHW; \
             output: logits in the order of leukoscope.classes.",
            spec.name,
            form.as_str()
        ),
        graph: Some(graph),
        metadata_props: metadata(artifact, form),
    })
}

/// The strings a runtime needs beside the graph: what the outputs mean and how an image
/// becomes the input.
fn metadata(artifact: &ModelArtifact, form: OnnxForm) -> Vec<StringStringEntryProto> {
    let classes: Vec<&str> = artifact
        .taxonomy
        .classes
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let mut entries = vec![
        ("leukoscope.model", artifact.spec.name.clone()),
        ("leukoscope.form", form.as_str().into()),
        ("leukoscope.taxonomy", artifact.taxonomy.name.clone()),
        (
            "leukoscope.classes",
            serde_json::to_string(&classes).unwrap_or_default(),
        ),
        (
            "leukoscope.preprocess",
            serde_json::to_string(&artifact.preprocess).unwrap_or_default(),
        ),
        (
            "leukoscope.temperature",
            artifact.calibration.temperature.to_string(),
        ),
    ];
    if let Some(q) = &artifact.quantized {
        entries.push(("leukoscope.calibrator", q.calibrator.clone()));
    }
    entries
        .into_iter()
        .map(|(key, value)| StringStringEntryProto {
            key: key.into(),
            value,
        })
        .collect()
}

/// The int8 parameters of every convolution step, in step order.
fn quantized_convs<'a>(
    graph: &Graph,
    model: &'a QuantizedModel,
) -> Result<Vec<&'a QuantizedConv>, OnnxError> {
    graph
        .steps
        .iter()
        .zip(&model.steps)
        .enumerate()
        .filter(|(_, (step, _))| matches!(step.op, StepOp::Conv(_)))
        .map(|(i, (_, q))| match q {
            QuantizedStep::Conv(c) => Ok(c),
            _ => Err(OnnxError::StepKind(i)),
        })
        .collect()
}

/// The symmetric grid (zero point 0) that covers everything `q` covers.
fn symmetric(q: QParams) -> QParams {
    let reach = q.dequantize(-128).abs().max(q.dequantize(127).abs());
    QParams {
        scale: if reach > 0.0 { reach / 127.0 } else { q.scale },
        zero_point: 0,
    }
}

/// Where the convolutions' parameters come from.
enum Params<'a> {
    /// Folded float weights and biases, one per convolution step.
    Float(&'a [ConvParams]),
    /// The int8 model.
    Int8 {
        /// The artifact's quantized model (its grids define the int32 biases).
        model: &'a QuantizedModel,
        /// Its convolutions, one per convolution step.
        convs: Vec<&'a QuantizedConv>,
        /// The grid written for every value.
        grids: Vec<QParams>,
        /// Biases as float initializers instead of int32 + DequantizeLinear.
        float_bias: bool,
    },
}

/// Builds the node and initializer lists of one graph.
struct Writer<'a> {
    spec: &'a ModelSpec,
    graph: &'a Graph,
    params: Params<'a>,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    /// Shared constant initializers already written.
    constants: HashSet<&'static str>,
    /// Where the nodes being written come from, stamped on each.
    doc: String,
}

/// Shape `[0, -1, 1, 1]`: keep the batch, flatten the rest into channels.
const FLAT_SHAPE: &str = "shape.flat";
/// ReLU6's bounds, as Clip reads them since opset 11.
const RELU6_MIN: &str = "relu6.min";
const RELU6_MAX: &str = "relu6.max";

impl Writer<'_> {
    fn quantized(&self) -> bool {
        matches!(self.params, Params::Int8 { .. })
    }

    /// The grid of value `v`, in an int8 export.
    fn grid(&self, v: ValueIndex) -> Option<QParams> {
        match &self.params {
            Params::Float(_) => None,
            Params::Int8 { grids, .. } => Some(grids[v]),
        }
    }

    /// The name of value `v`: in float, what its readers read; in int8, the stem of the
    /// names of its quantized form, its grid and its dequantized copies.
    fn value(&self, v: ValueIndex) -> String {
        if v == 0 && !self.quantized() {
            INPUT.into()
        } else {
            format!("v{v}")
        }
    }

    /// The name one reader reads value `v` by: in int8, a DequantizeLinear of its own.
    fn read(&mut self, v: ValueIndex) -> String {
        let name = self.value(v);
        if self.quantized() {
            self.dequantize(&name)
        } else {
            name
        }
    }

    fn write(&mut self) {
        if let Some(grid) = self.grid(0) {
            self.doc = "the input image".into();
            self.quantize(INPUT, grid, &self.value(0));
        }
        let (graph, spec) = (self.graph, self.spec);
        let mut conv_index = 0;
        for (i, step) in graph.steps.iter().enumerate() {
            let node = step.node as usize;
            self.doc = format!(
                "step {i}, spec node {node} ({})",
                spec.nodes.get(node).map_or("?", |n| n.op.kind())
            );
            let inputs: Vec<String> = step.inputs.iter().map(|&v| self.read(v)).collect();
            let out = self.value(step.output);
            // In int8, a step computes in float and its result is then put on its grid.
            let result = if self.quantized() {
                format!("{out}.f")
            } else {
                out.clone()
            };
            match &step.op {
                StepOp::Conv(g) => {
                    self.conv(conv_index, g, step.inputs[0], &inputs[0], &result);
                    conv_index += 1;
                }
                // SiLU reads its input twice; each read gets its own dequantization.
                StepOp::Activation(Activation::Silu) => {
                    let again = self.read(step.inputs[0]);
                    self.silu(&inputs[0], &again, &result);
                }
                StepOp::Activation(a) => self.activation(*a, &inputs[0], &result),
                StepOp::MaxPool(p) => {
                    self.node("MaxPool", &inputs, &result, pool_attributes(p));
                }
                StepOp::AvgPool(p) => {
                    let mut attributes = pool_attributes(p);
                    attributes.push(int("count_include_pad", 0));
                    self.node("AveragePool", &inputs, &result, attributes);
                }
                StepOp::GlobalAvgPool => {
                    self.node("GlobalAveragePool", &inputs, &result, vec![]);
                }
                // Add is binary; Sum takes any number of inputs.
                StepOp::Add if inputs.len() == 2 => self.node("Add", &inputs, &result, vec![]),
                StepOp::Add => self.node("Sum", &inputs, &result, vec![]),
                StepOp::Concat => {
                    self.node("Concat", &inputs, &result, vec![int("axis", 1)]);
                }
                // [N, C, H, W] * [N, C, 1, 1] broadcasts the gate over each channel.
                StepOp::ChannelScale => self.node("Mul", &inputs, &result, vec![]),
            }
            if let Some(grid) = self.grid(step.output) {
                self.quantize(&result, grid, &out);
            }
        }
        self.doc = "the logits as [N, classes]".into();
        let last = self.read(graph.output);
        self.node("Flatten", &[last], OUTPUT, vec![int("axis", 1)]);
    }

    /// A convolution (or dense layer) with its weights and fused activation.
    fn conv(&mut self, index: usize, g: &ConvGeometry, x: ValueIndex, input: &str, out: &str) {
        // A dense layer after a flatten reads a [C, H, W] map as its [C*H*W] vector.
        let input = if g.input != self.graph.values[x] {
            self.constant(FLAT_SHAPE, || tensor_i64(FLAT_SHAPE, &[4], &[0, -1, 1, 1]));
            let flat = format!("{}.flat", self.value(x));
            match self.grid(x) {
                // Back on the same grid, so that the convolution reads int8 as usual.
                Some(grid) => {
                    let raw = format!("{flat}.f");
                    self.node("Reshape", &[input.into(), FLAT_SHAPE.into()], &raw, vec![]);
                    self.quantize(&raw, grid, &flat);
                    self.dequantize(&flat)
                }
                None => {
                    self.node("Reshape", &[input.into(), FLAT_SHAPE.into()], &flat, vec![]);
                    flat
                }
            }
        } else {
            input.to_owned()
        };
        let weight_dims = [
            g.out_channels,
            g.input[0] / g.groups,
            g.kernel[0],
            g.kernel[1],
        ];
        let (weight, bias) = (format!("conv{index}.weight"), format!("conv{index}.bias"));
        let (weight_tensors, bias_tensors) = match &self.params {
            Params::Float(params) => {
                let p = &params[index];
                (
                    vec![tensor_f32(&weight, &weight_dims, &p.weights)],
                    vec![tensor_f32(&bias, &[g.out_channels], &p.bias)],
                )
            }
            Params::Int8 {
                model,
                convs,
                float_bias,
                ..
            } => {
                let c = convs[index];
                let zeros = vec![0i8; g.out_channels];
                let weights = vec![
                    tensor_i8(&format!("{weight}.q"), &weight_dims, &c.weights),
                    tensor_f32(
                        &format!("{weight}.scale"),
                        &[g.out_channels],
                        &c.weight_scales,
                    ),
                    tensor_i8(&format!("{weight}.zero_point"), &[g.out_channels], &zeros),
                ];
                // The int32 bias counts steps of input scale x weight scale, on the
                // artifact's own input grid.
                let input_scale = model.values[x].scale;
                let bias_scales: Vec<f32> =
                    c.weight_scales.iter().map(|w| input_scale * w).collect();
                let biases = if *float_bias {
                    let real: Vec<f32> = c
                        .bias
                        .iter()
                        .zip(&bias_scales)
                        .map(|(&b, s)| b as f32 * s)
                        .collect();
                    vec![tensor_f32(&bias, &[g.out_channels], &real)]
                } else {
                    vec![
                        tensor_i32(&format!("{bias}.q"), &[g.out_channels], &c.bias),
                        tensor_f32(&format!("{bias}.scale"), &[g.out_channels], &bias_scales),
                    ]
                };
                (weights, biases)
            }
        };
        let dequantize_bias = bias_tensors.len() > 1;
        let dequantize_weight = weight_tensors.len() > 1;
        let names = |ts: &[TensorProto]| ts.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
        let (weight_inputs, bias_inputs) = (names(&weight_tensors), names(&bias_tensors));
        self.initializers.extend(weight_tensors);
        self.initializers.extend(bias_tensors);
        if dequantize_weight {
            self.node(
                "DequantizeLinear",
                &weight_inputs,
                &weight,
                vec![int("axis", 0)],
            );
        }
        if dequantize_bias {
            // int32 has no zero point: DequantizeLinear reads it as 0.
            self.node(
                "DequantizeLinear",
                &bias_inputs,
                &bias,
                vec![int("axis", 0)],
            );
        }
        let conv_out = match g.activation {
            Some(_) => format!("{out}.conv"),
            None => out.to_owned(),
        };
        let attributes = vec![
            ints("kernel_shape", &[g.kernel[0], g.kernel[1]]),
            ints("strides", &[g.stride[0], g.stride[1]]),
            ints(
                "pads",
                &[g.padding[0], g.padding[1], g.padding[0], g.padding[1]],
            ),
            ints("dilations", &[g.dilation[0], g.dilation[1]]),
            int("group", g.groups as i64),
        ];
        self.node("Conv", &[input, weight, bias], &conv_out, attributes);
        if let Some(a) = g.activation {
            self.activation(a, &conv_out, out);
        }
    }

    fn activation(&mut self, activation: Activation, x: &str, out: &str) {
        let x = x.to_owned();
        match activation {
            Activation::Relu => self.node("Relu", &[x], out, vec![]),
            Activation::Relu6 => {
                self.constant(RELU6_MIN, || tensor_f32(RELU6_MIN, &[], &[0.0]));
                self.constant(RELU6_MAX, || tensor_f32(RELU6_MAX, &[], &[6.0]));
                self.node(
                    "Clip",
                    &[x, RELU6_MIN.into(), RELU6_MAX.into()],
                    out,
                    vec![],
                );
            }
            Activation::LeakyRelu { slope } => {
                self.node("LeakyRelu", &[x], out, vec![float("alpha", slope)]);
            }
            Activation::Sigmoid => self.node("Sigmoid", &[x], out, vec![]),
            Activation::Silu => self.silu(&x, &x, out),
        }
    }

    /// Opset 13 has no SiLU: `x * sigmoid(x)`, `x` read as `x` and `again`.
    fn silu(&mut self, x: &str, again: &str, out: &str) {
        let gate = format!("{out}.sigmoid");
        self.node("Sigmoid", &[x.into()], &gate, vec![]);
        self.node("Mul", &[again.into(), gate], out, vec![]);
    }

    /// Puts float value `from` on `grid` as the int8 tensor `{stem}.q`.
    fn quantize(&mut self, from: &str, grid: QParams, stem: &str) {
        let (scale, zero) = (format!("{stem}.scale"), format!("{stem}.zero_point"));
        self.initializers
            .push(tensor_f32(&scale, &[], &[grid.scale]));
        self.initializers
            .push(tensor_i8(&zero, &[], &[grid.zero_point]));
        self.node(
            "QuantizeLinear",
            &[from.into(), scale, zero],
            &format!("{stem}.q"),
            vec![],
        );
    }

    /// A new float copy of the int8 tensor `{stem}.q`, for one reader, so that every QDQ
    /// node unit (its DequantizeLinears, the operator, its QuantizeLinear) stands alone:
    /// onnxruntime splits shared DequantizeLinears this way before fusing, and its
    /// quantizer writes them this way for TensorRT (`DedicatedQDQPair`).
    fn dequantize(&mut self, stem: &str) -> String {
        let copy = format!("{stem}.dq{}", self.nodes.len());
        self.node(
            "DequantizeLinear",
            &[
                format!("{stem}.q"),
                format!("{stem}.scale"),
                format!("{stem}.zero_point"),
            ],
            &copy,
            vec![],
        );
        copy
    }

    /// Adds a shared constant the first time it is used.
    fn constant(&mut self, name: &'static str, tensor: impl FnOnce() -> TensorProto) {
        if self.constants.insert(name) {
            self.initializers.push(tensor());
        }
    }

    fn node(&mut self, op: &str, inputs: &[String], output: &str, attribute: Vec<AttributeProto>) {
        let name = format!("{op}_{}", self.nodes.len());
        self.nodes.push(NodeProto {
            input: inputs.to_vec(),
            output: vec![output.into()],
            name,
            op_type: op.into(),
            attribute,
            doc_string: self.doc.clone(),
            domain: String::new(),
        });
    }
}

fn pool_attributes(p: &Pool2d) -> Vec<AttributeProto> {
    let [kh, kw] = p.kernel.map(|k| k as usize);
    let [sh, sw] = p.stride.map(|s| s as usize);
    let [ph, pw] = p.padding.map(|q| q as usize);
    vec![
        ints("kernel_shape", &[kh, kw]),
        ints("strides", &[sh, sw]),
        ints("pads", &[ph, pw, ph, pw]),
    ]
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: Some(proto::ATTRIBUTE_INT),
        i: Some(value),
        ..Default::default()
    }
}

fn ints(name: &str, values: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: Some(proto::ATTRIBUTE_INTS),
        ints: values.iter().map(|&v| v as i64).collect(),
        ..Default::default()
    }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: Some(proto::ATTRIBUTE_FLOAT),
        f: Some(value),
        ..Default::default()
    }
}

fn tensor(name: &str, data_type: i32, dims: &[usize], raw_data: Vec<u8>) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type,
        name: name.into(),
        raw_data,
    }
}

fn tensor_f32(name: &str, dims: &[usize], values: &[f32]) -> TensorProto {
    let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensor(name, proto::FLOAT, dims, raw)
}

fn tensor_i8(name: &str, dims: &[usize], values: &[i8]) -> TensorProto {
    let raw = values.iter().map(|&v| v as u8).collect();
    tensor(name, proto::INT8, dims, raw)
}

fn tensor_i32(name: &str, dims: &[usize], values: &[i32]) -> TensorProto {
    let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensor(name, proto::INT32, dims, raw)
}

fn tensor_i64(name: &str, dims: &[usize], values: &[i64]) -> TensorProto {
    let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensor(name, proto::INT64, dims, raw)
}

/// A float tensor's name and shape; `None` is the symbolic batch.
fn value_info(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(n) => DimensionValue::DimValue(*n as i64),
                None => DimensionValue::DimParam(BATCH.into()),
            }),
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(TypeTensor {
                elem_type: proto::FLOAT,
                shape: Some(TensorShapeProto { dim }),
            })),
        }),
    }
}

#[cfg(test)]
mod tests;
