use alloc::vec;

use super::*;

fn published(preset: Preset) -> ModelSpec {
    preset.build(&PresetOptions {
        classes: 1000,
        head: HeadStyle::Published,
        ..PresetOptions::field(1000)
    })
}

/// Asserts `value` lies within `tolerance` (relative) of `expected`.
fn near(what: &str, value: u64, expected: f64, tolerance: f64) {
    let error = (value as f64 - expected).abs() / expected;
    assert!(
        error <= tolerance,
        "{what}: {value} is {:.2} % from the published {expected}",
        error * 100.0
    );
}

#[test]
fn published_figures_match_at_224_with_1000_classes() {
    // torchvision's parameter counts are exact; MACs as reported by fvcore / ptflops.
    let cases = [
        (Preset::ResNet50, 25_557_032.0, 4.11e9),
        (Preset::ResNet18, 11_689_512.0, 1.82e9),
        (Preset::Vgg16, 138_357_544.0, 15.47e9),
        (Preset::AlexNet, 61_100_840.0, 0.714e9),
        (Preset::DenseNet121, 7_978_856.0, 2.87e9),
        (Preset::EfficientNetB0, 5_288_548.0, 0.39e9),
    ];
    for (preset, params, macs) in cases {
        let spec = published(preset);
        near(
            &alloc::format!("{preset} params"),
            spec.params().unwrap(),
            params,
            0.0,
        );
        near(
            &alloc::format!("{preset} MACs"),
            spec.macs().unwrap(),
            macs,
            0.02,
        );
    }
}

#[test]
fn every_preset_infers_shapes_at_the_usual_sizes() {
    for preset in Preset::ALL {
        for (size, classes) in [(224, 4), (224, 2), (128, 4)] {
            let options = PresetOptions {
                input_size: size,
                ..PresetOptions::field(classes)
            };
            let spec = preset.build(&options);
            let analysis = spec
                .analyze()
                .unwrap_or_else(|e| panic!("{preset} at {size}: {e}"));
            assert_eq!(analysis.classes, classes, "{preset}");
            assert_eq!(analysis.shapes.len(), spec.nodes.len() + 1);
            assert!(analysis.macs > 0 && analysis.params > 0);
        }
    }
}

#[test]
fn edge_s_fits_the_edge_budget() {
    let spec = Preset::EdgeS.build(&PresetOptions::field(4));
    let macs = spec.macs().unwrap();
    assert!(macs <= 300_000_000, "edge-s has {macs} MACs");
    // int8 weights must stay small enough to ship on any board.
    assert!(spec.params().unwrap() < 2_000_000);
    // Designed for int8: bounded activations only, no sigmoid or SiLU lookups.
    assert!(spec.nodes.iter().all(|n| !matches!(
        n.op,
        Op::Activation(Activation::Sigmoid | Activation::Silu) | Op::SqueezeExcite(_)
    )));
}

#[test]
fn seed_cnn13_has_13_convolutions_and_5_pools() {
    let spec = Preset::SeedCnn13.build(&PresetOptions::field(2));
    let convs = spec
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Conv2d(_)))
        .count();
    let pools = spec
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::MaxPool(_)))
        .count();
    assert_eq!((convs, pools), (13, 5));
}

#[test]
fn preset_names_roundtrip() {
    for preset in Preset::ALL {
        assert_eq!(preset.name().parse::<Preset>(), Ok(preset));
    }
    let err = "resnet51".parse::<Preset>().unwrap_err();
    assert!(alloc::format!("{err}").contains("edge-s"));
}

fn tiny(nodes: Vec<Node>) -> ModelSpec {
    ModelSpec {
        name: "tiny".into(),
        input: InputSpec {
            channels: 3,
            height: 8,
            width: 8,
            kind: InputKind::Cell,
            um_per_px: 0.5,
        },
        nodes,
    }
}

fn node(op: Op) -> Node {
    Node { op, inputs: vec![] }
}

fn wired(op: Op, inputs: &[ValueId]) -> Node {
    Node {
        op,
        inputs: inputs.to_vec(),
    }
}

fn head() -> [Node; 2] {
    [
        node(Op::GlobalAvgPool),
        node(Op::Dense(Dense {
            out_features: 2,
            bias: true,
        })),
    ]
}

fn error_of(nodes: Vec<Node>) -> SpecError {
    tiny(nodes).analyze().unwrap_err()
}

#[test]
fn invalid_specs_get_named_errors() {
    assert_eq!(error_of(vec![]), SpecError::Empty);
    let mut bad_input = tiny(head().to_vec());
    bad_input.input.height = 0;
    assert!(matches!(
        bad_input.analyze(),
        Err(SpecError::InvalidInput { .. })
    ));
    bad_input.input.height = 8;
    bad_input.input.um_per_px = f32::NAN;
    assert!(matches!(
        bad_input.analyze(),
        Err(SpecError::InvalidInput { .. })
    ));

    assert_eq!(
        error_of(vec![wired(Op::Flatten, &[3])]),
        SpecError::UnknownValue { node: 0, value: 3 }
    );
    // A node may not read its own output.
    assert_eq!(
        error_of(vec![node(Op::Flatten), wired(Op::Flatten, &[2])]),
        SpecError::UnknownValue { node: 1, value: 2 }
    );
    assert!(matches!(
        error_of(vec![wired(Op::Add, &[0])]),
        SpecError::InputCount {
            node: 0,
            op: "add",
            ..
        }
    ));
    assert!(matches!(
        error_of(vec![wired(Op::Flatten, &[0, 0])]),
        SpecError::InputCount {
            node: 0,
            op: "flatten",
            ..
        }
    ));
    assert!(matches!(
        error_of(vec![
            node(Op::Flatten),
            node(Op::MaxPool(Pool2d::square(2, 2, 0)))
        ]),
        SpecError::ExpectedMap { node: 1, .. }
    ));
    assert!(matches!(
        error_of(vec![node(Op::Dense(Dense {
            out_features: 2,
            bias: false
        }))]),
        SpecError::ExpectedVector { node: 0, .. }
    ));
    assert!(matches!(
        error_of(vec![node(Op::Conv2d(Conv2d::square(4, 3, 0, 1)))]),
        SpecError::ZeroParameter {
            node: 0,
            what: "stride",
            ..
        }
    ));
    assert!(matches!(
        error_of(vec![node(Op::Conv2d(Conv2d {
            groups: 2,
            ..Conv2d::square(4, 3, 1, 1)
        }))]),
        SpecError::Groups {
            node: 0,
            in_channels: 3,
            groups: 2,
            ..
        }
    ));
    assert!(matches!(
        error_of(vec![node(Op::Conv2d(Conv2d::square(4, 11, 1, 1)))]),
        SpecError::WindowTooLarge { node: 0, .. }
    ));
    assert!(matches!(
        error_of(vec![node(Op::MaxPool(Pool2d::square(2, 2, 2)))]),
        SpecError::PoolPadding { node: 0, .. }
    ));
    assert!(matches!(
        error_of(vec![
            node(Op::MaxPool(Pool2d::square(2, 2, 0))),
            wired(Op::Add, &[0, 1])
        ]),
        SpecError::AddMismatch { node: 1, .. }
    ));
    assert!(matches!(
        error_of(vec![
            node(Op::MaxPool(Pool2d::square(2, 2, 0))),
            wired(Op::Concat, &[0, 1])
        ]),
        SpecError::ConcatMismatch { node: 1, .. }
    ));
    assert!(matches!(
        error_of(vec![node(Op::Dropout { rate: 1.0 })]),
        SpecError::OutOfRange {
            node: 0,
            what: "rate",
            ..
        }
    ));
    assert!(matches!(
        error_of(vec![node(Op::BatchNorm { eps: 0.0 })]),
        SpecError::OutOfRange {
            node: 0,
            what: "eps",
            ..
        }
    ));
    assert!(matches!(
        error_of(vec![node(Op::Activation(Activation::LeakyRelu {
            slope: f32::INFINITY
        }))]),
        SpecError::OutOfRange {
            node: 0,
            what: "slope",
            ..
        }
    ));
    assert!(matches!(
        error_of(vec![node(Op::BatchNorm { eps: 1e-5 })]),
        SpecError::OutputNotVector { .. }
    ));
    assert!(matches!(
        error_of(vec![node(Op::Conv2d(Conv2d::square(u32::MAX, 1, 1, 0)))]),
        SpecError::TooLarge { node: 0 }
    ));
    // Every error names what to look at.
    let message = alloc::format!(
        "{}",
        error_of(vec![node(Op::Dense(Dense {
            out_features: 2,
            bias: false
        }))])
    );
    assert!(
        message.contains("node 0") && message.contains("flatten"),
        "{message}"
    );
}

#[test]
fn residual_and_concat_shapes() {
    let spec = tiny(vec![
        node(Op::Conv2d(Conv2d::square(4, 3, 1, 1))),
        wired(Op::Conv2d(Conv2d::square(4, 3, 1, 1)), &[1]),
        wired(Op::Add, &[1, 2]),
        wired(Op::Concat, &[0, 3, 1]),
        node(Op::SqueezeExcite(SqueezeExcite {
            reduced: 2,
            activation: Activation::Relu,
            gate: Activation::Sigmoid,
        })),
        head()[0].clone(),
        head()[1].clone(),
    ]);
    let a = spec.analyze().unwrap();
    assert_eq!(
        a.shapes[4],
        Shape::Map {
            channels: 11,
            height: 8,
            width: 8
        }
    );
    // conv 4*3*9 + conv 4*4*9 + SE (2*11 + 2 + 11*2 + 11) + dense (2*11 + 2)
    assert_eq!(a.params, 108 + 144 + 57 + 24);
    assert_eq!(a.macs, 64 * 108 + 64 * 144 + 2 * 11 * 2 + 22);
    let roles: Vec<ParamRole> = a.layout.iter().map(|t| t.role).collect();
    assert_eq!(roles.len(), 8);
    assert_eq!(roles[2], ParamRole::ReduceWeight);
}

#[test]
fn a_new_head_changes_only_the_class_count() {
    for preset in Preset::ALL {
        let spec = preset.build(&PresetOptions::field(4));
        let headed = spec.with_classes(9).unwrap();
        assert_eq!(headed.classes().unwrap(), 9, "{preset}");
        // Only the last dense layer's outputs differ.
        let changed: Vec<usize> = (0..spec.nodes.len())
            .filter(|&i| spec.nodes[i] != headed.nodes[i])
            .collect();
        let last_dense = spec
            .nodes
            .iter()
            .rposition(|n| matches!(n.op, Op::Dense(_)))
            .unwrap();
        assert_eq!(changed, [last_dense], "{preset}");
        assert_eq!(headed.input, spec.input);
    }
    // Scores straight from a global mean: there is no head to replace.
    let mut builder = SpecBuilder::new(
        "no-head",
        InputSpec {
            channels: 3,
            height: 8,
            width: 8,
            kind: InputKind::Cell,
            um_per_px: 0.5,
        },
    );
    builder.conv(Conv2d::square(4, 3, 1, 1));
    builder.global_avg_pool();
    let spec = builder.build();
    assert_eq!(spec.classes().unwrap(), 4);
    assert_eq!(spec.with_classes(9), Err(SpecError::NoHead));
}
