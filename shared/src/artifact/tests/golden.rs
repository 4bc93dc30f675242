//! The `.lsm` format pinned byte for byte: two small artifacts, built here from literals
//! alone (no presets, no defaults, no calibration, so that nothing but the format can change
//! their bytes), float and int8, unsigned and signed with a fixed test key, are encoded and
//! compared with `golden/artifact-v{version}-*.lsm`, and those files must decode back into
//! them: without a familiarity profile as version 2 (the files earlier builds wrote, still
//! read), with one as version 3.
//!
//! A change to any persisted type (a field added, removed, reordered or retyped, a variant
//! moved) changes these bytes, so this fails until the format version is bumped: a version's
//! golden files never change. `LEUKOSCOPE_BLESS=1` writes the files of a new version; it
//! refuses to overwrite a file that exists.

extern crate std;

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use std::path::PathBuf;

use super::*;
use crate::engine::graph::StepOp;
use crate::params::{QParams, QuantizedConv, QuantizedModel, QuantizedStep, Requant};
use crate::preprocess::{
    ChannelNorm, MacenkoTarget, MaskRect, Preprocess, ReinhardTarget, ResizeFilter,
    StainNormalization,
};
use crate::spec::{
    Activation, Conv2d, Dense, InputKind, InputSpec, Node, Op, Pool2d, SqueezeExcite,
};
use crate::taxonomy::ClassInfo;

/// Every operation a spec has, on a 3x8x8 input: a biased convolution, batch norm and ReLU6,
/// squeeze-excitation, a depthwise convolution, a residual add, max and average pooling, a
/// concatenation, the global mean, flatten, dropout and a dense layer to 3 classes.
fn golden_spec() -> ModelSpec {
    let node = |op, inputs: &[u32]| Node {
        op,
        inputs: inputs.to_vec(),
    };
    let conv = |out_channels, groups, bias| Conv2d {
        out_channels,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [1, 1],
        dilation: [1, 1],
        groups,
        bias,
    };
    ModelSpec {
        name: "golden".into(),
        input: InputSpec {
            channels: 3,
            height: 8,
            width: 8,
            kind: InputKind::Cell,
            um_per_px: 0.5,
        },
        nodes: vec![
            node(Op::Conv2d(conv(4, 1, true)), &[]),
            node(Op::BatchNorm { eps: 1e-5 }, &[]),
            node(Op::Activation(Activation::Relu6), &[]),
            node(
                Op::SqueezeExcite(SqueezeExcite {
                    reduced: 2,
                    activation: Activation::Relu,
                    gate: Activation::Sigmoid,
                }),
                &[],
            ),
            node(Op::Conv2d(conv(4, 4, false)), &[]),
            node(Op::Add, &[5, 3]),
            node(
                Op::MaxPool(Pool2d {
                    kernel: [2, 2],
                    stride: [2, 2],
                    padding: [0, 0],
                }),
                &[],
            ),
            node(
                Op::AvgPool(Pool2d {
                    kernel: [3, 3],
                    stride: [1, 1],
                    padding: [1, 1],
                }),
                &[],
            ),
            node(Op::Concat, &[7, 8]),
            node(Op::GlobalAvgPool, &[]),
            node(Op::Flatten, &[]),
            node(Op::Dropout { rate: 0.25 }, &[]),
            node(
                Op::Dense(Dense {
                    out_features: 3,
                    bias: true,
                }),
                &[],
            ),
        ],
    }
}

fn golden_taxonomy() -> Taxonomy {
    let class = |name: &str, malignant, aliases: &[&str]| ClassInfo {
        name: name.into(),
        malignant,
        aliases: aliases.iter().map(|&a| a.into()).collect(),
    };
    Taxonomy {
        name: "golden-3".into(),
        classes: vec![
            class("benign", false, &["hem", "normal"]),
            class("early", true, &["early pre-b"]),
            class("pro", true, &[]),
        ],
    }
}

fn golden_provenance(tool: &str) -> Provenance {
    Provenance {
        tool: tool.into(),
        git_commit: "0123456789abcdef".into(),
        created: "2026-01-02T03:04:05Z".into(),
        dataset: DatasetFingerprint {
            name: "golden-set".into(),
            images: 1234,
            sha256: core::array::from_fn(|i| i as u8),
        },
        training_config: "{\"epochs\":3}".into(),
        metrics: vec![
            Metric {
                name: "accuracy".into(),
                value: 0.875,
            },
            Metric {
                name: "macro_f1".into(),
                value: -0.0,
            },
        ],
    }
}

/// The float artifact: weights from integers (`k / 16 - 1`, exact in f32), Reinhard stain
/// normalization, box resizing and a mask.
fn golden_f32() -> ModelArtifact {
    let spec = golden_spec();
    let layout = spec.parameter_layout().unwrap();
    let tensors = layout
        .iter()
        .enumerate()
        .map(|(t, p)| {
            let positive = matches!(p.role, crate::spec::ParamRole::RunningVar);
            (0..p.len())
                .map(|i| {
                    let k = (i as u32 * 7 + t as u32 * 5) % 32;
                    if positive {
                        (k + 1) as f32 / 16.0
                    } else {
                        k as f32 / 16.0 - 1.0
                    }
                })
                .collect()
        })
        .collect();
    ModelArtifact {
        spec,
        taxonomy: golden_taxonomy(),
        preprocess: Preprocess {
            height: 8,
            width: 8,
            resize: ResizeFilter::Box,
            masks: vec![MaskRect {
                x0: 0.0,
                y0: 0.75,
                x1: 0.25,
                y1: 1.0,
            }],
            stain: StainNormalization::Reinhard(ReinhardTarget {
                mean: [0.5, -0.25, 0.125],
                std: [0.25, 0.125, 0.0625],
            }),
            normalize: ChannelNorm {
                mean: [0.5, 0.5, 0.5],
                std: [0.25, 0.25, 0.25],
            },
        },
        weights: Weights { tensors },
        quantized: None,
        calibration: Calibration {
            temperature: 1.5,
            unidentified_below: 0.5,
        },
        provenance: golden_provenance("golden f32"),
        familiarity: None,
    }
}

/// The int8 artifact: every step's integer parameters from integers, laid out on the
/// lowered graph (so every kind of int8 step is present), Macenko stain normalization and
/// triangle resizing.
fn golden_int8() -> ModelArtifact {
    let spec = golden_spec();
    let (graph, _) = crate::engine::graph::lower(&spec, None).unwrap();
    let mut values: Vec<QParams> = (0..graph.values.len())
        .map(|v| QParams {
            scale: (v + 1) as f32 / 64.0,
            zero_point: (v as i8).wrapping_mul(7).wrapping_sub(10),
        })
        .collect();
    let requant = |k: usize| Requant {
        multiplier: (1 << 30) + k as i32 * 4099,
        shift: 33 + (k % 20) as u8,
    };
    let steps = graph
        .steps
        .iter()
        .enumerate()
        .map(|(s, step)| match &step.op {
            StepOp::Conv(g) => {
                let out = g.out_channels;
                QuantizedStep::Conv(QuantizedConv {
                    weights: (0..out * g.fan_in())
                        .map(|i| ((i * 37 + s * 11) % 255) as u8 as i8)
                        .collect(),
                    weight_scales: (0..out).map(|o| (o + 1) as f32 / 128.0).collect(),
                    bias: (0..out).map(|o| o as i32 * 1000 - 1500).collect(),
                    requant: (0..out).map(|o| requant(s + o)).collect(),
                    min: -128,
                    max: if g.activation.is_some() { 100 } else { 127 },
                })
            }
            StepOp::Activation(_) => QuantizedStep::Lut((0..256).map(|i| (i / 2) as i8).collect()),
            StepOp::MaxPool(_) => {
                values[step.output] = values[step.inputs[0]];
                QuantizedStep::MaxPool
            }
            StepOp::AvgPool(p) => {
                let window = (p.kernel[0] * p.kernel[1]) as usize;
                QuantizedStep::AvgPool((0..window).map(|n| requant(s + n)).collect())
            }
            StepOp::GlobalAvgPool => QuantizedStep::GlobalAvgPool(requant(s)),
            StepOp::Add | StepOp::Concat => QuantizedStep::Sum(
                (0..step.inputs.len())
                    .map(|i| (i as i32 + 1) << 19)
                    .collect(),
            ),
            StepOp::ChannelScale => QuantizedStep::ChannelScale(requant(s)),
        })
        .collect();
    ModelArtifact {
        spec,
        taxonomy: golden_taxonomy(),
        preprocess: Preprocess {
            height: 8,
            width: 8,
            resize: ResizeFilter::Triangle,
            masks: Vec::new(),
            stain: StainNormalization::Macenko(MacenkoTarget {
                stains: [[0.5, 0.75, 0.25], [0.125, 0.875, 0.5]],
                max_concentration: [1.5, 0.75],
            }),
            normalize: ChannelNorm {
                mean: [0.25, 0.5, 0.75],
                std: [0.5, 0.25, 0.125],
            },
        },
        weights: Weights::default(),
        quantized: Some(QuantizedModel {
            calibrator: "percentile:99.99".into(),
            values,
            steps,
        }),
        calibration: Calibration::default(),
        provenance: golden_provenance("golden int8"),
        familiarity: None,
    }
}

/// The key the signed golden files are signed with (ed25519 signatures are deterministic).
fn golden_key() -> SigningKey {
    SigningKey::from_secret(&[7; 32])
}

/// A familiarity profile for the golden spec's features: whitening and two class centres
/// from integers, in sixteenths (exact in f32).
fn golden_profile() -> FamiliarityProfile {
    let (graph, _) = crate::engine::graph::lower(&golden_spec(), None).unwrap();
    let d = graph.elements(graph.features());
    FamiliarityProfile {
        features: d as u32,
        whitening: (0..crate::familiarity::packed_len(d))
            .map(|i| ((i * 5) % 33) as f32 / 16.0 - 1.0)
            .collect(),
        centres: (0..2 * d).map(|i| ((i * 3) % 17) as f32 / 16.0).collect(),
        unfamiliar_above: 2.5,
    }
}

/// Each golden file this build writes: its name, the artifact, whether it is signed.
fn golden_files() -> Vec<(String, ModelArtifact, bool)> {
    let mut files = Vec::new();
    for (version, familiarity) in [
        (OLDEST_FORMAT_VERSION, None),
        (FORMAT_VERSION, Some(golden_profile())),
    ] {
        for (kind, artifact) in [("f32", golden_f32()), ("int8", golden_int8())] {
            let artifact = ModelArtifact {
                familiarity: familiarity.clone(),
                ..artifact
            };
            for signed in [false, true] {
                let suffix = if signed { "-signed" } else { "" };
                let name = alloc::format!("artifact-v{version}-{kind}{suffix}.lsm");
                files.push((name, artifact.clone(), signed));
            }
        }
    }
    files
}

/// Whether this run writes the golden files that are missing (`LEUKOSCOPE_BLESS=1`).
fn blessing() -> bool {
    std::env::var_os("LEUKOSCOPE_BLESS").is_some_and(|v| v == "1")
}

fn golden_path(name: &str) -> PathBuf {
    [
        env!("CARGO_MANIFEST_DIR"),
        "src",
        "artifact",
        "golden",
        name,
    ]
    .iter()
    .collect()
}

fn encoded(artifact: &ModelArtifact, signed: bool) -> Vec<u8> {
    let bytes = artifact.encode().unwrap();
    if signed {
        sign(&bytes, &golden_key()).unwrap()
    } else {
        bytes
    }
}

#[test]
fn the_encoder_writes_this_format_versions_golden_bytes() {
    let bless = blessing();
    for (name, artifact, signed) in golden_files() {
        let bytes = encoded(&artifact, signed);
        let path = golden_path(&name);
        let golden = std::fs::read(&path);
        if bless && golden.is_err() {
            std::fs::write(&path, &bytes).unwrap();
            std::eprintln!("wrote {}", path.display());
            continue;
        }
        let Ok(golden) = golden else {
            panic!(
                "{} is missing: every format version has golden files; if you bumped \
                 artifact::FORMAT_VERSION, run this test with LEUKOSCOPE_BLESS=1 to write them",
                path.display()
            );
        };
        assert!(
            bytes == golden,
            "the encoded artifact changed ({name}): if a persisted type changed shape, bump \
             artifact::FORMAT_VERSION and add golden/artifact-vN-*.lsm (run with \
             LEUKOSCOPE_BLESS=1 to write it); a version's golden files never change, so \
             blessing never overwrites one"
        );
    }
}

#[test]
fn this_format_versions_golden_files_decode_into_their_artifacts() {
    if blessing() {
        // The files may not be written yet; the next plain run checks them.
        return;
    }
    let trusted = TrustPolicy::only(vec![golden_key().public_key()]);
    for (name, artifact, signed) in golden_files() {
        let path = golden_path(&name);
        let Ok(bytes) = std::fs::read(&path) else {
            panic!("{} is missing", path.display());
        };
        let policy = if signed {
            &trusted
        } else {
            &TrustPolicy::any()
        };
        let decoded = ModelArtifact::decode(&bytes, policy).unwrap();
        assert_eq!(decoded.artifact, artifact, "{name}");
        let signer = signed.then(|| golden_key().public_key());
        assert_eq!(decoded.signed_by, signer, "{name}");
    }
}

/// The header's 20 bytes, spelled out: magic, version, flags, body length.
#[test]
fn the_header_is_pinned() {
    let profiled = ModelArtifact {
        familiarity: Some(golden_profile()),
        ..golden_f32()
    };
    for (artifact, version) in [
        (golden_f32(), OLDEST_FORMAT_VERSION),
        (profiled, FORMAT_VERSION),
    ] {
        let bytes = artifact.encode().unwrap();
        let body = (bytes.len() - HEADER_LEN - DIGEST_LEN) as u64;
        let mut header = vec![0x89, b'L', b'S', b'M', 0x0d, 0x0a, 0x1a, 0x0a];
        header.extend_from_slice(&version.to_le_bytes());
        header.extend_from_slice(&[0, 0]);
        header.extend_from_slice(&body.to_le_bytes());
        assert_eq!(bytes[..HEADER_LEN], header[..]);
    }
    assert_eq!((HEADER_LEN, DIGEST_LEN, SIGNATURE_LEN), (20, 32, 96));
}

/// Version 3 is version 2 and the profile: the same model's bodies differ only at the end.
#[test]
fn a_version_3_body_is_the_version_2_body_and_the_profile() {
    let v2 = golden_int8().encode().unwrap();
    let profile = golden_profile();
    let v3 = ModelArtifact {
        familiarity: Some(profile.clone()),
        ..golden_int8()
    }
    .encode()
    .unwrap();
    let body = |b: &[u8]| b[HEADER_LEN..b.len() - DIGEST_LEN].to_vec();
    let mut expected = body(&v2);
    expected.extend(postcard::to_allocvec(&Some(profile)).unwrap());
    assert_eq!(body(&v3), expected);
    // The same body under the other version's number is refused, not misread.
    let mut relabelled = v3.clone();
    relabelled[8..10].copy_from_slice(&OLDEST_FORMAT_VERSION.to_le_bytes());
    let signed_part = relabelled.len() - DIGEST_LEN;
    let digest: [u8; 32] = Sha256::digest(&relabelled[..signed_part]).into();
    relabelled[signed_part..].copy_from_slice(&digest);
    assert!(matches!(
        ModelArtifact::decode(&relabelled, &TrustPolicy::any()),
        Err(ArtifactError::Malformed { .. })
    ));
}

/// Golden files of other versions stay in `golden/` as a record; this build refuses them by
/// name.
#[test]
fn other_versions_golden_files_are_refused_with_their_version() {
    let dir = golden_path("");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "lsm") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(version) = name
            .strip_prefix("artifact-v")
            .and_then(|rest| rest.split('-').next())
            .and_then(|v| v.parse::<u16>().ok())
        else {
            panic!("{name}: golden files are named artifact-v<version>-<kind>.lsm");
        };
        if (OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            ModelArtifact::decode(&bytes, &TrustPolicy::any()),
            Err(ArtifactError::UnsupportedVersion {
                found: version,
                oldest: OLDEST_FORMAT_VERSION,
                newest: FORMAT_VERSION
            }),
            "{name}"
        );
    }
}
