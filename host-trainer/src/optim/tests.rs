use burn::nn::{Linear, LinearConfig};
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::{ElementConversion, Int, Tensor};

use super::*;
use crate::backend::CpuTrain;
use crate::loss::{Loss, LossKind};

type Model = Linear<CpuTrain>;

/// 32 points in the plane: class 1 above the line x + y = 0, class 0 below, with
/// a margin of at least 0.25 so a linear model can separate them.
fn toy_problem() -> (Tensor<CpuTrain, 2>, Tensor<CpuTrain, 1, Int>) {
    let device = Default::default();
    let mut points = Vec::new();
    let mut labels = Vec::new();
    for i in 0..32 {
        let t = i as f32 / 32.0 * std::f32::consts::TAU;
        let (along, across) = (2.0 * t.cos(), 0.25 + 0.75 * (3.0 * t).sin().abs());
        let side = if i % 2 == 0 { 1.0 } else { -1.0 };
        // along the line (1, -1)/√2, across it (1, 1)/√2.
        let s = std::f32::consts::FRAC_1_SQRT_2;
        points.extend([s * (along + side * across), s * (-along + side * across)]);
        labels.push(i64::from(side > 0.0));
    }
    (
        Tensor::<CpuTrain, 1>::from_floats(points.as_slice(), &device).reshape([32, 2]),
        Tensor::from_ints(labels.as_slice(), &device),
    )
}

fn ce() -> Loss {
    Loss::new(
        LossKind::CrossEntropy {
            label_smoothing: 0.0,
        },
        None,
    )
    .unwrap()
}

/// A fixed start (not a random one: tests share the backend's generator, so a
/// seeded random start would still differ from run to run).
fn model() -> Model {
    let device = Default::default();
    let mut model: Model = LinearConfig::new(2, 2).init(&device);
    model.weight =
        burn::module::Param::from_tensor(Tensor::from_floats([[0.3, -0.2], [-0.1, 0.4]], &device));
    model.bias = Some(burn::module::Param::from_tensor(Tensor::from_floats(
        [0.05, -0.05],
        &device,
    )));
    model
}

fn step(optimizer: &mut AnyOptimizer<Model, CpuTrain>, model: Model, lr: f64) -> (Model, f32) {
    let (x, y) = toy_problem();
    let loss = ce().forward(model.forward(x), y);
    let value = loss.clone().into_scalar().elem();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    (optimizer.step(lr, model, grads), value)
}

fn weights(model: &Model) -> Vec<f32> {
    let mut w: Vec<f32> = model.weight.val().into_data().to_vec().unwrap();
    w.extend(
        model
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .to_vec::<f32>()
            .unwrap(),
    );
    w
}

#[test]
fn every_kind_learns_a_separable_problem() {
    let kinds = [
        (OptimizerKind::Adam, 0.05),
        (OptimizerKind::Adamax, 0.05),
        (
            OptimizerKind::Sgd {
                momentum: 0.9,
                weight_decay: 0.0,
            },
            0.1,
        ),
        ("sgd".parse().unwrap(), 0.5),
    ];
    for (kind, lr) in kinds {
        let mut optimizer = kind.build::<CpuTrain, Model>(0.0).unwrap();
        let mut model = model();
        let (mut first, mut last) = (None, 0.0);
        for _ in 0..100 {
            let value;
            (model, value) = step(&mut optimizer, model, lr);
            first.get_or_insert(value);
            last = value;
        }
        let first = first.unwrap();
        assert!(
            last < 0.1 && last < first / 3.0,
            "{kind}: {first} -> {last}"
        );
        let (x, y) = toy_problem();
        let predicted = model.forward(x).argmax(1).reshape([32]);
        let correct: i64 = predicted.equal(y).int().sum().into_scalar().elem();
        assert_eq!(correct, 32, "{kind}");
    }
}

#[test]
fn state_survives_a_save_and_reload() {
    let sgd = OptimizerKind::Sgd {
        momentum: 0.9,
        weight_decay: 0.0,
    };
    for kind in [OptimizerKind::Adam, OptimizerKind::Adamax, sgd] {
        let mut original = kind.build::<CpuTrain, Model>(1e-3).unwrap();
        let mut model = model();
        for _ in 0..3 {
            (model, _) = step(&mut original, model, 0.05);
        }
        // Through bytes, as a checkpoint on disk would go.
        let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
        let bytes = recorder.record(original.to_record(), ()).unwrap();
        let device = Default::default();
        let record: AnyOptimizerRecord<Model, CpuTrain> = recorder.load(bytes, &device).unwrap();
        let mut resumed = kind
            .build::<CpuTrain, Model>(1e-3)
            .unwrap()
            .load_record(record);
        let mut fresh = kind.build::<CpuTrain, Model>(1e-3).unwrap();

        let (a, _) = step(&mut original, model.clone(), 0.05);
        let (b, _) = step(&mut resumed, model.clone(), 0.05);
        let (c, _) = step(&mut fresh, model, 0.05);
        assert_eq!(weights(&a), weights(&b), "{kind}");
        // The state matters: a fresh optimizer steps elsewhere.
        assert_ne!(weights(&a), weights(&c), "{kind}");
    }
}

#[test]
fn a_state_from_another_optimizer_is_refused() {
    let mut adam = OptimizerKind::Adam.build::<CpuTrain, Model>(0.0).unwrap();
    let (_, _) = step(&mut adam, model(), 0.01);
    let adamax = OptimizerKind::Adamax.build::<CpuTrain, Model>(0.0).unwrap();
    assert!(matches!(
        adamax.try_load_record(adam.to_record()),
        Err(OptimizerError::RecordKind {
            optimizer: "adamax",
            record: "adam"
        })
    ));
}

#[test]
fn names_parse_and_parameters_are_checked() {
    assert_eq!("adam".parse(), Ok(OptimizerKind::Adam));
    assert_eq!(" AdaMax".parse(), Ok(OptimizerKind::Adamax));
    assert_eq!(
        "sgd".parse(),
        Ok(OptimizerKind::Sgd {
            momentum: 0.0,
            weight_decay: 0.0
        })
    );
    let heavy: OptimizerKind = "sgd:0.9".parse().unwrap();
    assert_eq!(
        heavy,
        OptimizerKind::Sgd {
            momentum: 0.9,
            weight_decay: 0.0
        }
    );
    assert_eq!(heavy.to_string().parse(), Ok(heavy));
    assert_eq!(
        "rmsprop".parse::<OptimizerKind>(),
        Err(OptimizerError::Unknown("rmsprop".into()))
    );
    assert_eq!(
        "sgd:1.0".parse::<OptimizerKind>(),
        Err(OptimizerError::Momentum(1.0))
    );
    assert!(matches!(
        OptimizerKind::Adam.build::<CpuTrain, Model>(-1.0),
        Err(OptimizerError::WeightDecay(-1.0))
    ));
    let bad_sgd = OptimizerKind::Sgd {
        momentum: 0.5,
        weight_decay: f64::NAN,
    };
    assert!(matches!(
        bad_sgd.build::<CpuTrain, Model>(0.0),
        Err(OptimizerError::WeightDecay(_))
    ));
    for name in ["adam", "adamax", "sgd"] {
        assert_eq!(name.parse::<OptimizerKind>().unwrap().name(), name);
    }
}
