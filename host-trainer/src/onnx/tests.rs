use std::collections::HashSet;

use leukoscope_core::artifact::{Calibration, ModelArtifact, Provenance};
use leukoscope_core::engine::graph;
use leukoscope_core::engine::quantize::{Calibrator, quantize};
use leukoscope_core::params::Weights;
use leukoscope_core::preprocess::Preprocess;
use leukoscope_core::spec::{ParamRole, Preset, PresetOptions};
use leukoscope_core::taxonomy::Taxonomy;
use prost::Message;

use super::proto::{self, GraphProto, ModelProto};
use super::*;

/// A float artifact of `preset` at `size` with seeded weights and batch norms whose
/// statistics are not the identity.
fn float_artifact(preset: Preset, size: u32) -> ModelArtifact {
    let spec = preset.build(&PresetOptions {
        input_size: size,
        ..PresetOptions::field(4)
    });
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    let tensors = spec
        .parameter_layout()
        .expect("presets are valid")
        .iter()
        .map(|t| {
            (0..t.len())
                .map(|_| {
                    let u = next();
                    match t.role {
                        ParamRole::RunningVar => 0.5 + u,
                        ParamRole::Gamma => 0.5 + u,
                        _ => (u - 0.5) * 0.2,
                    }
                })
                .collect()
        })
        .collect();
    ModelArtifact {
        spec,
        taxonomy: Taxonomy::b_all_4(),
        preprocess: Preprocess::field(size, size),
        weights: Weights { tensors },
        quantized: None,
        calibration: Calibration::default(),
        provenance: Provenance::default(),
        familiarity: None,
    }
}

/// The int8 form of `artifact`, with every activation range set to `[-4, 4]`.
fn int8_artifact(artifact: &ModelArtifact) -> ModelArtifact {
    let (graph, params) = graph::lower(&artifact.spec, Some(&artifact.weights)).unwrap();
    let ranges = vec![(-4.0, 4.0); graph.values.len()];
    let q = quantize(&graph, &params, &ranges, &Calibrator::MinMax);
    ModelArtifact {
        weights: Weights::default(),
        quantized: Some(q),
        ..artifact.clone()
    }
}

fn graph_of(model: &ModelProto) -> &GraphProto {
    model
        .graph
        .as_ref()
        .expect("the exporter always writes a graph")
}

/// Every node reads only the input, initializers and outputs of earlier nodes, and every
/// name is written once.
fn assert_well_formed(model: &ModelProto) {
    let graph = graph_of(model);
    let mut known: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        known.len(),
        graph.initializer.len(),
        "duplicate initializer"
    );
    known.insert(INPUT);
    let mut names = HashSet::new();
    for node in &graph.node {
        assert!(
            names.insert(node.name.as_str()),
            "duplicate node {}",
            node.name
        );
        for input in &node.input {
            assert!(
                known.contains(input.as_str()),
                "{} reads unknown {input}",
                node.name
            );
        }
        for output in &node.output {
            assert!(known.insert(output), "{output} written twice");
        }
    }
    assert!(known.contains(OUTPUT));
}

fn op_count(model: &ModelProto, op: &str) -> usize {
    graph_of(model)
        .node
        .iter()
        .filter(|n| n.op_type == op)
        .count()
}

#[test]
fn float_export_survives_encoding_and_is_well_formed() {
    let artifact = float_artifact(Preset::TinyCnn, 32);
    let model = export(&artifact, OnnxForm::Float).unwrap();
    let bytes = model.encode_to_vec();
    let decoded = ModelProto::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded, model);
    assert_eq!(decoded.ir_version, IR_VERSION);
    assert_eq!(decoded.opset_import[0].version, OPSET);
    assert_well_formed(&decoded);
    let graph = graph_of(&decoded);
    let (lowered, _) = graph::lower(&artifact.spec, None).unwrap();
    assert_eq!(op_count(&decoded, "Conv"), lowered.conv_steps());
    // Batch norms are folded: a weight and a bias per convolution, and nothing else but
    // shared constants.
    let float_tensors = graph
        .initializer
        .iter()
        .filter(|t| t.data_type == proto::FLOAT && !t.dims.is_empty())
        .count();
    assert_eq!(float_tensors, 2 * lowered.conv_steps());
    let input = &graph.input[0];
    assert_eq!(input.name, INPUT);
    assert_eq!(graph.output[0].name, OUTPUT);
    assert!(op_count(&decoded, "QuantizeLinear") == 0);
    let classes = decoded
        .metadata_props
        .iter()
        .find(|e| e.key == "leukoscope.classes")
        .unwrap();
    assert!(classes.value.starts_with('['));
}

#[test]
fn every_preset_exports_a_well_formed_float_graph() {
    for preset in [
        Preset::EdgeS,
        Preset::ResNet18,
        Preset::DenseNet121,
        Preset::EfficientNetB0,
        Preset::DscNet,
        Preset::SimpleCnn,
    ] {
        let artifact = float_artifact(preset, 64);
        let model =
            export(&artifact, OnnxForm::Float).unwrap_or_else(|e| panic!("{}: {e}", preset.name()));
        assert_well_formed(&model);
    }
}

#[test]
fn int8_export_puts_every_value_on_its_grid() {
    for preset in [Preset::EdgeS, Preset::EfficientNetB0, Preset::DscNet] {
        let artifact = int8_artifact(&float_artifact(preset, 64));
        let model = export(&artifact, OnnxForm::Qdq).unwrap();
        assert_well_formed(&model);
        let (lowered, _) = graph::lower(&artifact.spec, None).unwrap();
        // One quantization per value (a flattened input of a dense layer gets one more).
        assert!(op_count(&model, "QuantizeLinear") >= lowered.values.len());
        // Every DequantizeLinear has one reader: node units stand alone.
        let graph = graph_of(&model);
        for dq in graph
            .node
            .iter()
            .filter(|n| n.op_type == "DequantizeLinear")
        {
            let readers = graph
                .node
                .iter()
                .filter(|n| n.input.contains(&dq.output[0]))
                .count();
            assert_eq!(
                readers,
                1,
                "{}: {} has {readers} readers",
                preset.name(),
                dq.output[0]
            );
        }
        // Weights are int8 and biases int32, both dequantized in the graph.
        let int32 = graph
            .initializer
            .iter()
            .filter(|t| t.data_type == proto::INT32);
        assert_eq!(int32.count(), lowered.conv_steps());
        assert!(
            !graph
                .initializer
                .iter()
                .any(|t| t.data_type == proto::FLOAT && t.name.ends_with(".weight"))
        );
    }
}

#[test]
fn tensorrt_form_has_zero_zero_points_and_float_biases() {
    let artifact = int8_artifact(&float_artifact(Preset::DscNet, 64));
    let model = export(&artifact, OnnxForm::QdqTensorRt).unwrap();
    assert_well_formed(&model);
    let graph = graph_of(&model);
    assert!(
        !graph
            .initializer
            .iter()
            .any(|t| t.data_type == proto::INT32)
    );
    for t in graph
        .initializer
        .iter()
        .filter(|t| t.data_type == proto::INT8 && t.name.ends_with(".zero_point"))
    {
        assert!(t.raw_data.iter().all(|&b| b == 0), "{} is not zero", t.name);
    }
}

#[test]
fn symmetric_grid_covers_the_asymmetric_one() {
    for q in [
        QParams::covering(0.0, 6.0),
        QParams::covering(-1.0, 3.0),
        QParams::covering(-5.0, 0.5),
    ] {
        let s = symmetric(q);
        assert_eq!(s.zero_point, 0);
        for x in [q.dequantize(-128), q.dequantize(127)] {
            assert!(
                x.abs() <= s.scale * 127.0 * (1.0 + 1e-6),
                "{x} outside {s:?}"
            );
        }
    }
}

#[test]
fn the_wrong_precision_is_refused_with_the_next_step() {
    let float = float_artifact(Preset::TinyCnn, 32);
    let err = export(&float, OnnxForm::Qdq).unwrap_err();
    assert!(matches!(err, OnnxError::NotQuantized));
    assert!(err.to_string().contains("leukoscope-train quantize"));
    let int8 = int8_artifact(&float);
    assert!(matches!(
        export(&int8, OnnxForm::Float),
        Err(OnnxError::NoFloatWeights)
    ));
}

#[test]
fn attributes_keep_explicit_zeros() {
    // count_include_pad = 0 must be on the wire, not dropped as a default.
    let bytes = int("count_include_pad", 0).encode_to_vec();
    let decoded = proto::AttributeProto::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded.i, Some(0));
    assert_eq!(decoded.r#type, Some(proto::ATTRIBUTE_INT));
}
