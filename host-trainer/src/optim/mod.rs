//! Optimizers: burn's Adam and SGD, our Adamax, and [`AnyOptimizer`], which lets the
//! training loop pick one at run time and still save and resume its state.

mod adamax;

use std::fmt;
use std::str::FromStr;

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    Adam, AdamConfig, GradientsParams, LearningRate, MultiGradientsParams, Optimizer, Sgd,
    SgdConfig,
};
use burn::record::Record;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

pub use adamax::{Adamax, AdamaxConfig, AdamaxState};

/// Which optimizer trains, as chosen on the command line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OptimizerKind {
    /// burn's Adam with its defaults (β 0.9/0.999, ε 1e-5); studies 001 and 004.
    Adam,
    /// [`Adamax`] with the paper's defaults; study 001's runner-up.
    Adamax,
    /// Stochastic gradient descent (study 002), with heavy-ball momentum when
    /// `momentum > 0`.
    Sgd {
        /// Momentum factor in `[0, 1)`; applied without dampening, as in PyTorch and
        /// Keras (burn's default dampening is 0.1).
        momentum: f64,
        /// L2 penalty; when 0, the `weight_decay` given to [`OptimizerKind::build`]
        /// applies instead, so `sgd` on the command line follows `--weight-decay`.
        weight_decay: f64,
    },
}

/// Why an optimizer could not be built, or its saved state not loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptimizerError {
    /// A name that is none of the known ones.
    #[error("unknown optimizer {0:?}; use adam, adamax, sgd or sgd:MOMENTUM")]
    Unknown(String),
    /// Weight decay negative or not finite.
    #[error("weight decay {0} must be a finite number >= 0")]
    WeightDecay(f64),
    /// Momentum outside `[0, 1)`.
    #[error("momentum {0} is outside [0, 1); 0.9 is the usual choice")]
    Momentum(f64),
    /// A saved state from a different optimizer than the one resuming.
    #[error(
        "the saved optimizer state is {record}'s but training resumes with {optimizer}; \
         resume with {record}, or start the optimizer afresh"
    )]
    RecordKind {
        /// Kind of the optimizer that loads.
        optimizer: &'static str,
        /// Kind that saved the state.
        record: &'static str,
    },
}

/// `adam`, `adamax`, `sgd` (no momentum) or `sgd:MOMENTUM`.
impl FromStr for OptimizerKind {
    type Err = OptimizerError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        let kind = match lower.as_str() {
            "adam" => OptimizerKind::Adam,
            "adamax" => OptimizerKind::Adamax,
            "sgd" => OptimizerKind::Sgd {
                momentum: 0.0,
                weight_decay: 0.0,
            },
            _ => {
                let momentum = lower
                    .strip_prefix("sgd:")
                    .and_then(|m| m.trim().parse().ok())
                    .ok_or_else(|| OptimizerError::Unknown(text.to_owned()))?;
                OptimizerKind::Sgd {
                    momentum,
                    weight_decay: 0.0,
                }
            }
        };
        kind.validate(0.0)?;
        Ok(kind)
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptimizerKind::Sgd { momentum, .. } if *momentum > 0.0 => write!(f, "sgd:{momentum}"),
            kind => f.write_str(kind.name()),
        }
    }
}

impl OptimizerKind {
    /// The short name used on the command line, in configs and in reports.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerKind::Adam => "adam",
            OptimizerKind::Adamax => "adamax",
            OptimizerKind::Sgd { .. } => "sgd",
        }
    }

    fn validate(&self, weight_decay: f64) -> Result<(), OptimizerError> {
        let penalties = match *self {
            OptimizerKind::Sgd {
                momentum,
                weight_decay: own,
            } => {
                if !(0.0..1.0).contains(&momentum) {
                    return Err(OptimizerError::Momentum(momentum));
                }
                [weight_decay, own]
            }
            _ => [weight_decay, 0.0],
        };
        match penalties
            .into_iter()
            .find(|p| !(p.is_finite() && *p >= 0.0))
        {
            Some(bad) => Err(OptimizerError::WeightDecay(bad)),
            None => Ok(()),
        }
    }

    /// The optimizer for module `M` on backend `B`, with L2 penalty `weight_decay`
    /// (0 for none) added to the gradients.
    pub fn build<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
        weight_decay: f64,
    ) -> Result<AnyOptimizer<M, B>, OptimizerError> {
        self.validate(weight_decay)?;
        let decay = |penalty: f64| (penalty > 0.0).then(|| WeightDecayConfig::new(penalty as f32));
        Ok(match *self {
            OptimizerKind::Adam => AnyOptimizer::Adam(
                AdamConfig::new()
                    .with_weight_decay(decay(weight_decay))
                    .init(),
            ),
            OptimizerKind::Adamax => AnyOptimizer::Adamax(
                AdamaxConfig::new()
                    .with_weight_decay((weight_decay > 0.0).then_some(weight_decay as f32))
                    .init(),
            ),
            OptimizerKind::Sgd {
                momentum,
                weight_decay: own,
            } => {
                let penalty = if own > 0.0 { own } else { weight_decay };
                let momentum = (momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(momentum)
                        .with_dampening(0.0)
                });
                AnyOptimizer::Sgd(
                    SgdConfig::new()
                        .with_momentum(momentum)
                        .with_weight_decay(decay(penalty))
                        .init(),
                )
            }
        })
    }
}

/// The saved state of an [`OptimizerAdaptor`] (its per-parameter records).
pub type AdaptorState<O, M, B> = <OptimizerAdaptor<O, M, B> as Optimizer<M, B>>::Record;

/// One of the optimizers, chosen at run time. It is a burn [`Optimizer`], so the
/// training loop is written once for all of them.
#[derive(Clone)]
pub enum AnyOptimizer<M: AutodiffModule<B>, B: AutodiffBackend> {
    /// burn's Adam.
    Adam(OptimizerAdaptor<Adam, M, B>),
    /// Our Adamax.
    Adamax(OptimizerAdaptor<Adamax, M, B>),
    /// burn's SGD.
    Sgd(OptimizerAdaptor<Sgd<B::InnerBackend>, M, B>),
}

/// The saved state of an [`AnyOptimizer`]: the variant says which optimizer wrote
/// it. burn derives [`Record`] for enums of one-field variants, so every burn recorder
/// (file, bytes, named MessagePack) can save it to resume training.
#[derive(Record)]
pub enum AnyOptimizerRecord<M: AutodiffModule<B>, B: AutodiffBackend> {
    /// Adam's moments per parameter.
    Adam(AdaptorState<Adam, M, B>),
    /// Adamax's moments and norms per parameter.
    Adamax(AdaptorState<Adamax, M, B>),
    /// SGD's momentum per parameter (empty without momentum).
    Sgd(AdaptorState<Sgd<B::InnerBackend>, M, B>),
}

impl<M: AutodiffModule<B>, B: AutodiffBackend> AnyOptimizerRecord<M, B> {
    /// The short name of the optimizer that wrote this state.
    pub fn name(&self) -> &'static str {
        match self {
            AnyOptimizerRecord::Adam(_) => "adam",
            AnyOptimizerRecord::Adamax(_) => "adamax",
            AnyOptimizerRecord::Sgd(_) => "sgd",
        }
    }
}

impl<M: AutodiffModule<B>, B: AutodiffBackend> AnyOptimizer<M, B> {
    /// The short name of this optimizer.
    pub fn name(&self) -> &'static str {
        match self {
            AnyOptimizer::Adam(_) => "adam",
            AnyOptimizer::Adamax(_) => "adamax",
            AnyOptimizer::Sgd(_) => "sgd",
        }
    }

    /// Loads a saved state, refusing one written by a different optimizer.
    pub fn try_load_record(self, record: AnyOptimizerRecord<M, B>) -> Result<Self, OptimizerError> {
        Ok(match (self, record) {
            (AnyOptimizer::Adam(o), AnyOptimizerRecord::Adam(r)) => {
                AnyOptimizer::Adam(o.load_record(r))
            }
            (AnyOptimizer::Adamax(o), AnyOptimizerRecord::Adamax(r)) => {
                AnyOptimizer::Adamax(o.load_record(r))
            }
            (AnyOptimizer::Sgd(o), AnyOptimizerRecord::Sgd(r)) => {
                AnyOptimizer::Sgd(o.load_record(r))
            }
            (optimizer, record) => {
                return Err(OptimizerError::RecordKind {
                    optimizer: optimizer.name(),
                    record: record.name(),
                });
            }
        })
    }
}

impl<M: AutodiffModule<B>, B: AutodiffBackend> Optimizer<M, B> for AnyOptimizer<M, B> {
    type Record = AnyOptimizerRecord<M, B>;

    fn step(&mut self, lr: LearningRate, module: M, grads: GradientsParams) -> M {
        match self {
            AnyOptimizer::Adam(o) => o.step(lr, module, grads),
            AnyOptimizer::Adamax(o) => o.step(lr, module, grads),
            AnyOptimizer::Sgd(o) => o.step(lr, module, grads),
        }
    }

    fn step_multi(&mut self, lr: LearningRate, module: M, grads: MultiGradientsParams) -> M {
        match self {
            AnyOptimizer::Adam(o) => o.step_multi(lr, module, grads),
            AnyOptimizer::Adamax(o) => o.step_multi(lr, module, grads),
            AnyOptimizer::Sgd(o) => o.step_multi(lr, module, grads),
        }
    }

    fn to_record(&self) -> Self::Record {
        match self {
            AnyOptimizer::Adam(o) => AnyOptimizerRecord::Adam(o.to_record()),
            AnyOptimizer::Adamax(o) => AnyOptimizerRecord::Adamax(o.to_record()),
            AnyOptimizer::Sgd(o) => AnyOptimizerRecord::Sgd(o.to_record()),
        }
    }

    /// # Panics
    ///
    /// When the record was written by a different optimizer: the trait cannot return
    /// an error, and silently starting afresh would change the training without a
    /// word. Use [`AnyOptimizer::try_load_record`] to get the error instead.
    fn load_record(self, record: Self::Record) -> Self {
        match self.try_load_record(record) {
            Ok(optimizer) => optimizer,
            Err(e) => panic!("{e}"),
        }
    }
}

#[cfg(test)]
mod tests;
