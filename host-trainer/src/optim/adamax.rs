//! Adamax (Kingma & Ba 2015, Algorithm 2): Adam with the infinity norm in place of
//! the second moment. Study 001 compared it with Adam; burn has no Adamax.

use burn::config::Config;
use burn::module::AutodiffModule;
use burn::optim::LearningRate;
use burn::optim::SimpleOptimizer;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::record::Record;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};

/// Adamax's hyper-parameters; the defaults are the paper's (and Keras' and PyTorch's,
/// apart from ε).
#[derive(Config, Debug)]
pub struct AdamaxConfig {
    /// Decay of the first moment.
    #[config(default = 0.9)]
    pub beta_1: f32,
    /// Decay of the infinity norm.
    #[config(default = 0.999)]
    pub beta_2: f32,
    /// Added to the infinity norm so a parameter that never had a gradient does not
    /// divide by zero.
    #[config(default = 1e-8)]
    pub epsilon: f32,
    /// L2 penalty added to the gradient (`g + λθ`, as PyTorch's Adamax does), if any.
    pub weight_decay: Option<f32>,
}

/// The Adamax optimizer, one parameter tensor at a time; wrap it in an
/// [`OptimizerAdaptor`] (see [`AdamaxConfig::init`]) to train a module.
#[derive(Clone, Debug)]
pub struct Adamax {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: Option<f32>,
}

/// What Adamax remembers of one parameter tensor between steps.
#[derive(Record, Clone)]
pub struct AdamaxState<B: Backend, const D: usize> {
    /// Steps taken so far, for the bias correction `1 - β1^t`.
    pub time: usize,
    /// First moment `m`, the decaying mean of the gradients.
    pub moment: Tensor<B, D>,
    /// Exponentially weighted infinity norm `u` of the gradients.
    pub inf_norm: Tensor<B, D>,
}

impl AdamaxConfig {
    /// The optimizer for one tensor at a time.
    pub fn build(&self) -> Adamax {
        Adamax {
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            epsilon: self.epsilon,
            weight_decay: self.weight_decay,
        }
    }

    /// The optimizer for a whole module, as burn's `AdamConfig::init` gives Adam.
    pub fn init<B: AutodiffBackend, M: AutodiffModule<B>>(&self) -> OptimizerAdaptor<Adamax, M, B> {
        OptimizerAdaptor::from(self.build())
    }
}

impl<B: Backend> SimpleOptimizer<B> for Adamax {
    type State<const D: usize> = AdamaxState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        mut grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        if let Some(penalty) = self.weight_decay {
            grad = grad + tensor.clone().mul_scalar(penalty);
        }
        // m = β1·m + (1 - β1)·g;  u = max(β2·u, |g|). A fresh state is m = u = 0, so
        // the first step needs no zeros tensors: m = (1 - β1)·g and u = |g|.
        let state = match state {
            Some(state) => AdamaxState {
                time: state.time + 1,
                moment: state
                    .moment
                    .mul_scalar(self.beta_1)
                    .add(grad.clone().mul_scalar(1.0 - self.beta_1)),
                inf_norm: state.inf_norm.mul_scalar(self.beta_2).max_pair(grad.abs()),
            },
            None => AdamaxState {
                time: 1,
                moment: grad.clone().mul_scalar(1.0 - self.beta_1),
                inf_norm: grad.abs(),
            },
        };
        // Only m is biased towards its zero start; u is a max and needs no correction.
        // f64 for the correction: β1^t underflows gracefully and lr is f64 anyway.
        let exponent = i32::try_from(state.time).unwrap_or(i32::MAX);
        let rate = lr / (1.0 - f64::from(self.beta_1).powi(exponent));
        let delta = state
            .moment
            .clone()
            .div(state.inf_norm.clone().add_scalar(self.epsilon))
            .mul_scalar(rate);
        (tensor - delta, Some(state))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        state.moment = state.moment.to_device(device);
        state.inf_norm = state.inf_norm.to_device(device);
        state
    }
}

#[cfg(test)]
mod tests {
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
}
