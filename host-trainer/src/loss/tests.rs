use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::ElementConversion;

use super::*;
use crate::backend::{Cpu, CpuTrain};

const LN2: f32 = std::f32::consts::LN_2;
const LN3: f32 = 1.098_612_3;

/// Three samples, three classes, logits chosen so the softmax is exact:
/// row 0 `[ln 2, 0, 0]` → exp `[2, 1, 1]` → p `[0.5, 0.25, 0.25]`, target 0;
/// row 1 `[0, ln 3, 0]` → exp `[1, 3, 1]` → p `[0.2, 0.6, 0.2]`, target 2;
/// row 2 `[0, 0, 0]` → p `[1/3, 1/3, 1/3]`, target 1.
fn batch<B: Backend>() -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
    let device = Default::default();
    let logits = Tensor::from_floats([[LN2, 0.0, 0.0], [0.0, LN3, 0.0], [0.0, 0.0, 0.0]], &device);
    let targets = Tensor::from_ints([0, 2, 1], &device);
    (logits, targets)
}

/// Logits without exact structure, for comparisons between formulas.
fn rough_batch<B: Backend>() -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
    let device = Default::default();
    let logits = Tensor::from_floats(
        [
            [1.3, -0.4, 2.2, 0.1],
            [-2.0, 0.7, 0.3, 1.1],
            [0.0, 3.5, -1.2, 0.4],
            [0.9, 0.8, 0.7, -3.0],
            [12.0, -9.0, 0.5, 2.5],
        ],
        &device,
    );
    let targets = Tensor::from_ints([2, 0, 1, 3, 1], &device);
    (logits, targets)
}

fn value(loss: &Loss, logits: Tensor<Cpu, 2>, targets: Tensor<Cpu, 1, Int>) -> f32 {
    loss.forward(logits, targets).into_scalar().elem()
}

fn loss(kind: LossKind, weights: Option<Vec<f32>>) -> Loss {
    Loss::new(kind, weights).unwrap()
}

fn ce(label_smoothing: f32) -> LossKind {
    LossKind::CrossEntropy { label_smoothing }
}

/// Tversky alone, as study 003 used it.
fn tversky(alpha: f32, beta: f32) -> LossKind {
    LossKind::Tversky {
        alpha,
        beta,
        cross_entropy: 0.0,
    }
}

fn close(a: f32, b: f32, tolerance: f32) {
    assert!((a - b).abs() <= tolerance, "{a} vs {b}");
}

#[test]
fn cross_entropy_matches_hand_values() {
    let (x, y) = batch::<Cpu>();
    // -ln p_y: ln 2 = 0.693147, -ln 0.2 = 1.609438, ln 3 = 1.098612;
    // mean 3.401197 / 3 = 1.133732.
    close(
        value(&loss(ce(0.0), None), x.clone(), y.clone()),
        1.133_732,
        1e-5,
    );
    // Weights [1, 2, 3] → w_y = [1, 3, 2]:
    // (0.693147 + 3·1.609438 + 2·1.098612) / 6 = 7.718686 / 6 = 1.286448.
    let weighted = loss(ce(0.0), Some(vec![1.0, 2.0, 3.0]));
    close(value(&weighted, x.clone(), y.clone()), 1.286_448, 1e-5);
    // ε = 0.3, K = 3: targets 0.8 on the label, 0.1 elsewhere.
    // row 0: 0.8·ln 2 + 0.2·ln 4 = 0.554518 + 0.277259 = 0.831777
    // row 1: 0.9·(-ln 0.2) + 0.1·(-ln 0.6) = 1.448494 + 0.051083 = 1.499577
    // row 2: ln 3 = 1.098612; mean 3.429966 / 3 = 1.143322.
    close(value(&loss(ce(0.3), None), x, y), 1.143_322, 1e-5);
}

#[test]
fn kl_divergence_matches_hand_values() {
    let (x, y) = batch::<Cpu>();
    // Target entropy for ε = 0.3: -(0.8·ln 0.8 + 2·0.1·ln 0.1) = 0.178515 + 0.460517
    // = 0.639032; KL = smoothed CE - entropy = 1.143322 - 0.639032 = 0.504290.
    // Directly, row 0: 0.8·ln(0.8/0.5) + 0.2·ln(0.1/0.25) = 0.376003 - 0.183258
    // = 0.192745 = 0.831777 - 0.639032.
    let kl = loss(LossKind::KlDivergence { smoothing: 0.3 }, None);
    close(value(&kl, x.clone(), y.clone()), 0.504_290, 1e-5);
    let row0 = kl.forward(x.slice([0..1, 0..3]), y.narrow(0, 0, 1));
    close(row0.into_scalar().elem(), 0.192_745, 1e-5);
}

#[test]
fn focal_matches_hand_values() {
    let (x, y) = batch::<Cpu>();
    // p_t = [0.5, 0.2, 1/3]; (1 - p_t)² = [0.25, 0.64, 0.444444];
    // terms 0.25·0.693147 = 0.173287, 0.64·1.609438 = 1.030040,
    // 0.444444·1.098612 = 0.488272; mean 1.691599 / 3 = 0.563866.
    let focal = loss(LossKind::Focal { gamma: 2.0 }, None);
    close(value(&focal, x, y), 0.563_866, 1e-5);
}

#[test]
fn tversky_matches_hand_values() {
    let (x, y) = batch::<Cpu>();
    // α = 0.3, β = 0.7. Column sums of p: [1.033333, 1.183333, 0.783333].
    // class 0: TP 0.5 (row 0), FP 1.033333 - 0.5 = 0.533333, FN 1 - 0.5 = 0.5;
    //   TI = 0.5 / (0.5 + 0.16 + 0.35) = 0.495050
    // class 1: TP 1/3 (row 2), FP 0.85, FN 0.666667;
    //   TI = 0.333333 / (0.333333 + 0.255 + 0.466667) = 0.315956
    // class 2: TP 0.2 (row 1), FP 0.583333, FN 0.8;
    //   TI = 0.2 / (0.2 + 0.175 + 0.56) = 0.213904
    // loss = 1 - (0.495050 + 0.315956 + 0.213904) / 3 = 0.658363 (0.658357 with the
    // 1e-5 smoothing constant).
    let tversky = tversky(0.3, 0.7);
    close(
        value(&loss(tversky.clone(), None), x.clone(), y.clone()),
        0.658_357,
        1e-5,
    );
    // Weights [1, 2, 3]: 1 - (0.495050 + 2·0.315956 + 3·0.213904) / 6 = 0.705214.
    let weighted = loss(tversky, Some(vec![1.0, 2.0, 3.0]));
    close(value(&weighted, x, y), 0.705_214, 1e-5);
}

#[test]
fn tversky_with_cross_entropy_adds_its_weighted_cross_entropy() {
    // Tversky 0.658357 (above) + 0.5 · cross-entropy 1.133732 = 1.225223; weighted
    // [1, 2, 3]: 0.705214 + 0.5 · 1.286448 = 1.348438.
    let (x, y) = batch::<Cpu>();
    let combined = LossKind::Tversky {
        alpha: 0.3,
        beta: 0.7,
        cross_entropy: 0.5,
    };
    close(
        value(&loss(combined.clone(), None), x.clone(), y.clone()),
        1.225_223,
        1e-5,
    );
    let weighted = loss(combined, Some(vec![1.0, 2.0, 3.0]));
    close(value(&weighted, x, y), 1.348_438, 1e-5);
}

#[test]
fn only_the_cross_entropy_term_pulls_back_a_confidently_wrong_cell() {
    // Row 0 is a cell of class 1 called class 0 with certainty, as a collapsing network
    // calls it; rows 1 and 2 are right but unsure. Through a saturated softmax the soft
    // counts of Tversky give row 0 no gradient, so nothing corrects the mistake; the
    // cross-entropy term gives its target logit a gradient of about -1/3 (p - 1, over
    // three rows).
    let device = Default::default();
    let logits = || {
        Tensor::<CpuTrain, 2>::from_floats(
            [[30.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.0, 0.5]],
            &device,
        )
        .require_grad()
    };
    let y = Tensor::<CpuTrain, 1, Int>::from_ints([1, 0, 2], &device);
    let row0 = |cross_entropy: f32| -> Vec<f32> {
        let kind = LossKind::Tversky {
            alpha: 0.3,
            beta: 0.7,
            cross_entropy,
        };
        let x = logits();
        let grads = loss(kind, None).forward(x.clone(), y.clone()).backward();
        let g: Vec<f32> = x.grad(&grads).unwrap().to_data().to_vec().unwrap();
        g[..3].to_vec()
    };
    let alone = row0(0.0);
    assert!(alone.iter().all(|g| g.abs() < 1e-9), "{alone:?}");
    let combined = row0(1.0);
    close(combined[1], -1.0 / 3.0, 1e-4);
    close(combined[0], 1.0 / 3.0, 1e-4);
}

#[test]
fn configs_written_before_the_cross_entropy_term_read_as_tversky_alone() {
    let old = r#"{"Tversky":{"alpha":0.3,"beta":0.7}}"#;
    assert_eq!(
        serde_json::from_str::<LossKind>(old).unwrap(),
        tversky(0.3, 0.7)
    );
    // Written back the same, so a checkpoint's identity does not change.
    assert_eq!(serde_json::to_string(&tversky(0.3, 0.7)).unwrap(), old);
}

#[test]
fn tversky_with_equal_weights_is_dice() {
    // α = β = 0.5: TI = TP / (TP + (FP + FN)/2) = 2TP / (2TP + FP + FN), the Dice
    // coefficient. Class 0 above: 1 / (1 + 0.533333 + 0.5) = 0.491803, etc.
    let (x, y) = batch::<Cpu>();
    let dice = loss(tversky(0.5, 0.5), None);
    let d0 = 1.0 / (1.0 + 0.533_333 + 0.5);
    let d1 = 0.666_667 / (0.666_667 + 0.85 + 0.666_667);
    let d2 = 0.4 / (0.4 + 0.583_333 + 0.8);
    close(value(&dice, x, y), 1.0 - (d0 + d1 + d2) / 3.0, 1e-5);
}

#[test]
fn degenerate_parameters_reduce_to_cross_entropy() {
    let (x, y) = rough_batch::<Cpu>();
    let device = Default::default();
    let weights = vec![0.5, 2.0, 1.0, 3.0];
    for w in [None, Some(weights.clone())] {
        let plain = value(&loss(ce(0.0), w.clone()), x.clone(), y.clone());
        let kl = value(
            &loss(LossKind::KlDivergence { smoothing: 0.0 }, w.clone()),
            x.clone(),
            y.clone(),
        );
        let focal = value(
            &loss(LossKind::Focal { gamma: 0.0 }, w.clone()),
            x.clone(),
            y.clone(),
        );
        let burn_ce: f32 = CrossEntropyLossConfig::new()
            .with_weights(w.clone())
            .init(&device)
            .forward(x.clone(), y.clone())
            .into_scalar()
            .elem();
        close(plain, burn_ce, 1e-5);
        close(kl, plain, 1e-5);
        close(focal, plain, 1e-5);
    }
    // Smoothing with and without weights agrees with burn's (PyTorch's) weighting.
    for w in [None, Some(weights)] {
        let ours = value(&loss(ce(0.2), w.clone()), x.clone(), y.clone());
        let burn_ce: f32 = CrossEntropyLossConfig::new()
            .with_weights(w)
            .with_smoothing(Some(0.2))
            .init(&device)
            .forward(x.clone(), y.clone())
            .into_scalar()
            .elem();
        close(ours, burn_ce, 1e-5);
    }
}

#[test]
fn kl_is_smoothed_cross_entropy_minus_a_constant() {
    let (x, y) = rough_batch::<Cpu>();
    let smoothed = value(&loss(ce(0.1), None), x.clone(), y.clone());
    let kl = value(&loss(LossKind::KlDivergence { smoothing: 0.1 }, None), x, y);
    close(smoothed - kl, smoothed_target_entropy(4, 0.1) as f32, 1e-5);
    // Fully smoothed targets are uniform: entropy ln K.
    close(smoothed_target_entropy(4, 1.0) as f32, 4f32.ln(), 1e-6);
    assert_eq!(smoothed_target_entropy(4, 0.0), 0.0);
}

#[test]
fn extreme_logits_stay_finite() {
    // A confident wrong answer: log(softmax) would give ln 0 = -inf.
    let device = Default::default();
    let x = Tensor::<Cpu, 2>::from_floats([[200.0, -200.0, 0.0], [0.0, 300.0, -300.0]], &device);
    let y = Tensor::<Cpu, 1, Int>::from_ints([1, 1], &device);
    for kind in [
        ce(0.1),
        LossKind::KlDivergence { smoothing: 0.1 },
        LossKind::Focal { gamma: 2.0 },
        LossKind::Focal { gamma: 0.5 },
        tversky(0.3, 0.7),
        LossKind::Tversky {
            alpha: 0.3,
            beta: 0.7,
            cross_entropy: 1.0,
        },
    ] {
        let v = value(&loss(kind.clone(), None), x.clone(), y.clone());
        assert!(v.is_finite(), "{kind}: {v}");
    }
    // Row 0 costs about 400 nats: -log_softmax of the target = 200 + 200.
    close(value(&loss(ce(0.0), None), x, y), 200.0, 1e-3);
}

#[test]
fn one_gradient_step_lowers_every_loss() {
    let weights = Some(vec![1.0, 3.0, 0.5, 2.0]);
    for kind in [
        ce(0.0),
        ce(0.2),
        LossKind::KlDivergence { smoothing: 0.1 },
        tversky(0.3, 0.7),
        LossKind::Tversky {
            alpha: 0.3,
            beta: 0.7,
            cross_entropy: 1.0,
        },
        LossKind::Focal { gamma: 2.0 },
        LossKind::Focal { gamma: 0.5 },
    ] {
        for w in [None, weights.clone()] {
            let loss = loss(kind.clone(), w);
            let (x, y) = rough_batch::<CpuTrain>();
            let x = x.require_grad();
            let before = loss.forward(x.clone(), y.clone());
            let grads = before.backward();
            let grad = x.grad(&grads).expect("logits are tracked");
            let values: Vec<f32> = grad.to_data().to_vec().unwrap();
            assert!(values.iter().all(|g| g.is_finite()), "{kind}: {values:?}");
            assert!(values.iter().any(|g| *g != 0.0), "{kind}: zero gradient");
            // Each row of a softmax loss gradient sums to 0 (logits are shift-free).
            for row in values.chunks(4) {
                close(row.iter().sum(), 0.0, 1e-5);
            }
            let stepped = x.inner() - grad * 0.1;
            let before: f32 = before.into_scalar().elem();
            let after: f32 = loss.forward(stepped, y.inner()).into_scalar().elem();
            assert!(after < before, "{kind}: {before} -> {after}");
        }
    }
}

#[test]
fn cross_entropy_gradient_raises_the_target_logit() {
    // d CE / d z = p - onehot: negative at the target, positive elsewhere.
    let (x, y) = batch::<CpuTrain>();
    let x = x.require_grad();
    let grads = loss(ce(0.0), None).forward(x.clone(), y).backward();
    let g: Vec<f32> = x.grad(&grads).unwrap().to_data().to_vec().unwrap();
    // Row 0: (p - onehot) / 3 = [-0.5, 0.25, 0.25] / 3.
    for (got, want) in g[..3].iter().zip([-0.5 / 3.0, 0.25 / 3.0, 0.25 / 3.0]) {
        close(*got, want, 1e-6);
    }
}

#[test]
fn invalid_parameters_are_named() {
    let bad_smoothing = Loss::new(ce(-0.1), None);
    assert_eq!(bad_smoothing, Err(LossError::Smoothing(-0.1)));
    assert!(matches!(
        Loss::new(LossKind::KlDivergence { smoothing: 1.5 }, None),
        Err(LossError::Smoothing(_))
    ));
    assert!(matches!(
        Loss::new(ce(f32::NAN), None),
        Err(LossError::Smoothing(_))
    ));
    assert!(matches!(
        Loss::new(tversky(0.0, 0.0), None),
        Err(LossError::Tversky { .. })
    ));
    assert!(matches!(
        Loss::new(tversky(-1.0, 2.0), None),
        Err(LossError::Tversky { .. })
    ));
    for weight in [-0.5, f32::NAN, f32::INFINITY] {
        let kind = LossKind::Tversky {
            alpha: 0.3,
            beta: 0.7,
            cross_entropy: weight,
        };
        assert!(matches!(
            Loss::new(kind, None),
            Err(LossError::TverskyCrossEntropy(_))
        ));
    }
    assert_eq!(
        Loss::new(LossKind::Focal { gamma: -1.0 }, None),
        Err(LossError::FocalGamma(-1.0))
    );
    assert_eq!(
        Loss::new(ce(0.0), Some(vec![1.0, -2.0])),
        Err(LossError::NegativeWeight {
            class: 1,
            value: -2.0
        })
    );
    assert!(matches!(
        Loss::new(ce(0.0), Some(vec![1.0, f32::INFINITY])),
        Err(LossError::NegativeWeight { class: 1, .. })
    ));
    assert_eq!(
        Loss::new(ce(0.0), Some(vec![0.0, 0.0])),
        Err(LossError::ZeroWeights)
    );
    assert_eq!(
        Loss::new(ce(0.0), Some(vec![])),
        Err(LossError::ZeroWeights)
    );

    let two = loss(ce(0.0), Some(vec![1.0, 2.0]));
    assert_eq!(
        two.check_classes(3),
        Err(LossError::WeightCount {
            found: 2,
            classes: 3
        })
    );
    assert!(two.check_classes(2).is_ok());
    let (x, y) = batch::<Cpu>();
    assert!(matches!(
        two.try_forward(x.clone(), y.clone()),
        Err(LossError::WeightCount {
            found: 2,
            classes: 3
        })
    ));
    assert!(matches!(
        loss(ce(0.0), None).try_forward(x, y.narrow(0, 0, 2)),
        Err(LossError::Batch {
            rows: 3,
            targets: 2
        })
    ));
}

#[test]
fn zero_weight_classes_count_for_nothing() {
    // Only class 0 counts: the loss is row 0's, ln 2.
    let (x, y) = batch::<Cpu>();
    close(
        value(
            &loss(ce(0.0), Some(vec![1.0, 0.0, 0.0])),
            x.clone(),
            y.clone(),
        ),
        LN2,
        1e-6,
    );
    // A batch with no weighted sample gives 0, not NaN.
    let v = value(
        &loss(ce(0.0), Some(vec![0.0, 0.0, 1.0])),
        x.slice([0..1, 0..3]),
        y.narrow(0, 0, 1),
    );
    assert_eq!(v, 0.0);
}

#[test]
fn names_parse() {
    assert_eq!(
        LossKind::parse("CE", 0.1, [0.3, 0.7, 0.0], 2.0),
        Ok(LossKind::CrossEntropy {
            label_smoothing: 0.1
        })
    );
    assert_eq!(
        LossKind::parse("tversky", 0.1, [0.4, 0.6, 0.5], 2.0),
        Ok(LossKind::Tversky {
            alpha: 0.4,
            beta: 0.6,
            cross_entropy: 0.5
        })
    );
    assert_eq!(
        LossKind::parse("kl", 0.05, [0.3, 0.7, 0.0], 2.0),
        Ok(LossKind::KlDivergence { smoothing: 0.05 })
    );
    assert_eq!(
        LossKind::parse("focal", 0.0, [0.3, 0.7, 0.0], 1.5),
        Ok(LossKind::Focal { gamma: 1.5 })
    );
    assert_eq!(
        LossKind::parse("hinge", 0.0, [0.3, 0.7, 0.0], 2.0),
        Err(LossError::Unknown("hinge".into()))
    );
    assert!(matches!(
        LossKind::parse("tversky", 0.0, [0.0, 0.0, 0.0], 2.0),
        Err(LossError::Tversky { .. })
    ));
    assert_eq!("ce".parse(), Ok(ce(0.0)));
    assert_eq!("kl".parse(), Ok(LossKind::KlDivergence { smoothing: 0.1 }));
    assert_eq!("focal".parse(), Ok(LossKind::Focal { gamma: 2.0 }));
    for name in ["ce", "tversky", "kl", "focal"] {
        assert_eq!(name.parse::<LossKind>().unwrap().name(), name);
    }
}

#[test]
fn inverse_frequency_weights_average_to_one() {
    // The 4-class data of studies 000 and 004.
    let counts = [504, 985, 963, 804];
    let w = class_weights_inverse_frequency(&counts);
    let n: usize = counts.iter().sum();
    let mean: f64 = counts
        .iter()
        .zip(&w)
        .map(|(&c, &w)| c as f64 * w as f64)
        .sum::<f64>()
        / n as f64;
    assert!((mean - 1.0).abs() < 1e-6, "{mean}");
    // Rarer classes weigh more: 3256 / (4·504) = 1.615079.
    close(w[0], 1.615_079, 1e-5);
    assert!(w[0] > w[3] && w[3] > w[2] && w[2] > w[1]);
    // 40 samples, 2 classes present: 40 / (2·10) = 2, 40 / (2·30) = 0.666667.
    assert_eq!(
        class_weights_inverse_frequency(&[10, 0, 30]),
        vec![2.0, 0.0, 40.0 / 60.0]
    );
    assert_eq!(class_weights_inverse_frequency(&[0, 0]), vec![1.0, 1.0]);
    assert!(class_weights_inverse_frequency(&[]).is_empty());
}
