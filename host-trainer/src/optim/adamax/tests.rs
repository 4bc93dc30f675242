use burn::module::{Module, Param};
use burn::optim::{GradientsParams, Optimizer};

use super::*;
use crate::backend::CpuTrain;

/// A bare parameter vector, so the loss can be any function of it.
#[derive(Module, Debug)]
struct Vector<B: Backend> {
    w: Param<Tensor<B, 1>>,
}

fn vector(values: &[f32]) -> Vector<CpuTrain> {
    let device = Default::default();
    Vector {
        w: Param::from_tensor(Tensor::from_floats(values, &device)),
    }
}

fn values(v: &Vector<CpuTrain>) -> Vec<f32> {
    v.w.val().into_data().to_vec().unwrap()
}

/// One step on `loss(w)`.
fn step(
    optimizer: &mut OptimizerAdaptor<Adamax, Vector<CpuTrain>, CpuTrain>,
    v: Vector<CpuTrain>,
    lr: f64,
    loss: impl Fn(Tensor<CpuTrain, 1>) -> Tensor<CpuTrain, 1>,
) -> Vector<CpuTrain> {
    let grads = GradientsParams::from_grads(loss(v.w.val()).backward(), &v);
    optimizer.step(lr, v, grads)
}

fn close(got: &[f32], want: &[f32]) {
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
    }
}

#[test]
fn follows_the_hand_computed_trajectory() {
    // f(w) = ½·Σw², so g = w. w0 = [1, -2], lr 0.1, β1 0.9, β2 0.999, ε 1e-8.
    // t=1: m = 0.1·g = [0.1, -0.2]; u = |g| = [1, 2];
    //      w -= 0.1/(1 - 0.9) · m/u = 1·[0.1, -0.1] → [0.9, -1.9]
    // t=2: g = [0.9, -1.9]; m = 0.9·m + 0.1·g = [0.18, -0.37];
    //      u = max(0.999·u, |g|) = [0.999, 1.998];
    //      w -= 0.1/(1 - 0.81) · m/u = 0.526316·[0.180180, -0.185185]
    //         = [0.094832, -0.097466] → [0.805168, -1.802534]
    // t=3: m = 0.9·[0.18, -0.37] + 0.1·[0.805168, -1.802534] = [0.242517, -0.513253];
    //      u = max([0.998001, 1.996002], [0.805168, 1.802534]) = [0.998001, 1.996002];
    //      w -= 0.1/(1 - 0.729) · m/u = 0.369004·[0.243003, -0.257141]
    //         = [0.089669, -0.094886] → [0.715499, -1.707648]
    let mut optimizer = AdamaxConfig::new().init();
    let half_square = |w: Tensor<CpuTrain, 1>| w.powf_scalar(2.0).sum() * 0.5;
    let mut v = vector(&[1.0, -2.0]);
    let want = [
        [0.9, -1.9],
        [0.805_168_3, -1.802_534_1],
        [0.715_499_5, -1.707_648_2],
    ];
    for want in want {
        v = step(&mut optimizer, v, 0.1, half_square);
        close(&values(&v), &want);
    }
}

#[test]
fn weight_decay_adds_to_the_gradient() {
    // f(w) = Σw (g = [1, 1]), λ = 0.5, w0 = [1, -2]: g' = g + λw = [1.5, 0].
    // m = 0.1·g' = [0.15, 0]; u = [1.5, 0];
    // w -= 0.1/0.1 · m/(u + ε) = [0.1, 0/1e-8 = 0] → [0.9, -2]: ε keeps a zero
    // gradient from dividing 0 by 0.
    let mut optimizer = AdamaxConfig::new().with_weight_decay(Some(0.5)).init();
    let v = step(&mut optimizer, vector(&[1.0, -2.0]), 0.1, |w| w.sum());
    close(&values(&v), &[0.9, -2.0]);
}

#[test]
fn minimizes_a_quadratic() {
    // f(w) = Σ (w - t)², from 0 to t = [3, -1, 0.5].
    let device = Default::default();
    let target = Tensor::<CpuTrain, 1>::from_floats([3.0, -1.0, 0.5], &device);
    let loss = |w: Tensor<CpuTrain, 1>| (w - target.clone()).powf_scalar(2.0).sum();
    let mut optimizer = AdamaxConfig::new().init();
    let mut v = vector(&[0.0, 0.0, 0.0]);
    let start: f32 = loss(v.w.val()).into_scalar();
    for _ in 0..300 {
        v = step(&mut optimizer, v, 0.05, loss);
    }
    let end: f32 = loss(v.w.val()).into_scalar();
    assert!(end < 1e-4 * start, "{start} -> {end}: {:?}", values(&v));
}
