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
mod tests;
