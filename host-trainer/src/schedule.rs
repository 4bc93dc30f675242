//! Learning-rate schedules: a linear warm-up, then constant, cosine or step decay.
//!
//! A pure function of the step number, so a resumed run picks up the same rate
//! without saving any scheduler state.

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What the learning rate does after the warm-up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// Stays at the base rate.
    Constant,
    /// Falls along half a cosine from the base rate at the end of the warm-up to
    /// `base · min_factor` at the last step.
    Cosine,
    /// Multiplied by `gamma` every `every_epochs` epochs (counted from the start of
    /// training, like Keras' and PyTorch's `StepLR`).
    Step {
        /// Epochs between two decays.
        every_epochs: usize,
        /// Factor applied at each decay, in `(0, 1]`.
        gamma: f64,
    },
}

/// Why a schedule could not be parsed or is unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    /// A name that is none of the known ones, or malformed `step:` parameters.
    #[error("unknown schedule {0:?}; use constant, cosine, step or step:EPOCHS:GAMMA")]
    Unknown(String),
    /// The base rate is negative or not finite.
    #[error("learning rate {0} must be a finite number >= 0")]
    Base(f64),
    /// `min_factor` outside `[0, 1]`.
    #[error("minimum factor {0} is outside [0, 1]")]
    MinFactor(f64),
    /// Step decay every 0 epochs, or by a factor outside `(0, 1]`.
    #[error(
        "step decay every {every_epochs} epochs by {gamma}: need at least 1 epoch and a factor in (0, 1]"
    )]
    Step {
        /// Epochs between decays.
        every_epochs: usize,
        /// Decay factor.
        gamma: f64,
    },
    /// Step decay without a number of steps per epoch.
    #[error("step decay needs the number of steps per epoch")]
    StepsPerEpoch,
}

/// `constant`, `cosine`, `step` (every 10 epochs by 0.1) or `step:EPOCHS:GAMMA`.
impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        let unknown = || ScheduleError::Unknown(text.to_owned());
        match lower.as_str() {
            "constant" | "const" => Ok(Schedule::Constant),
            "cosine" | "cos" => Ok(Schedule::Cosine),
            "step" => Ok(Schedule::Step {
                every_epochs: 10,
                gamma: 0.1,
            }),
            _ => {
                let rest = lower.strip_prefix("step:").ok_or_else(unknown)?;
                let (every, gamma) = rest.split_once(':').ok_or_else(unknown)?;
                let schedule = Schedule::Step {
                    every_epochs: every.trim().parse().map_err(|_| unknown())?,
                    gamma: gamma.trim().parse().map_err(|_| unknown())?,
                };
                schedule.validate()?;
                Ok(schedule)
            }
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Constant => f.write_str("constant"),
            Schedule::Cosine => f.write_str("cosine"),
            Schedule::Step {
                every_epochs,
                gamma,
            } => write!(f, "step:{every_epochs}:{gamma}"),
        }
    }
}

impl Schedule {
    fn validate(&self) -> Result<(), ScheduleError> {
        if let Schedule::Step {
            every_epochs,
            gamma,
        } = *self
            && (every_epochs == 0 || !(gamma > 0.0 && gamma <= 1.0))
        {
            return Err(ScheduleError::Step {
                every_epochs,
                gamma,
            });
        }
        Ok(())
    }
}

/// The learning rate at every optimizer step of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LearningRate {
    /// Peak rate, reached at the end of the warm-up.
    pub base: f64,
    /// What follows the warm-up.
    pub schedule: Schedule,
    /// Steps of linear warm-up, from `base / warmup_steps` at step 0 to `base` at step
    /// `warmup_steps - 1`; 0 for none. Adaptive optimizers' first moments are noisy
    /// and a fresh head's gradients are large, so a short warm-up steadies the start.
    pub warmup_steps: usize,
    /// Steps in the whole run (warm-up included); the cosine ends here.
    pub total_steps: usize,
    /// Optimizer steps per epoch, for step decay.
    pub steps_per_epoch: usize,
    /// Floor of the cosine as a fraction of `base`; 0 decays to zero.
    pub min_factor: f64,
}

impl LearningRate {
    /// A constant rate with no warm-up.
    pub fn constant(base: f64) -> Self {
        Self {
            base,
            schedule: Schedule::Constant,
            warmup_steps: 0,
            total_steps: 0,
            steps_per_epoch: 0,
            min_factor: 0.0,
        }
    }

    /// Checks that every step has a meaningful rate.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        if !(self.base.is_finite() && self.base >= 0.0) {
            return Err(ScheduleError::Base(self.base));
        }
        if !(0.0..=1.0).contains(&self.min_factor) {
            return Err(ScheduleError::MinFactor(self.min_factor));
        }
        self.schedule.validate()?;
        if matches!(self.schedule, Schedule::Step { .. }) && self.steps_per_epoch == 0 {
            return Err(ScheduleError::StepsPerEpoch);
        }
        Ok(())
    }

    /// The rate at 0-based optimizer step `step`.
    ///
    /// Never panics: past `total_steps` the cosine stays at its floor, and a step decay
    /// with 0 steps per epoch or 0 epochs between decays does not decay
    /// ([`LearningRate::validate`] refuses those).
    pub fn at(&self, step: usize) -> f64 {
        let warmup = if step < self.warmup_steps {
            (step + 1) as f64 / self.warmup_steps as f64
        } else {
            1.0
        };
        let factor = match self.schedule {
            Schedule::Constant => 1.0,
            Schedule::Cosine => {
                // Measured from the end of the warm-up, so the two pieces meet at `base`.
                let span = self.total_steps.saturating_sub(self.warmup_steps);
                let progress = if step < self.warmup_steps {
                    0.0
                } else if span == 0 {
                    1.0
                } else {
                    ((step - self.warmup_steps) as f64 / span as f64).min(1.0)
                };
                let cosine = 0.5 * (1.0 + (PI * progress).cos());
                self.min_factor + (1.0 - self.min_factor) * cosine
            }
            Schedule::Step {
                every_epochs,
                gamma,
            } => {
                let period = self.steps_per_epoch.saturating_mul(every_epochs);
                match step.checked_div(period) {
                    // A period of 0 steps: nothing to count decays by.
                    None => 1.0,
                    // powi takes an i32; a run of 2^31 decays has long reached 0 anyway.
                    Some(decays) => gamma.powi(i32::try_from(decays).unwrap_or(i32::MAX)),
                }
            }
        };
        self.base * warmup * factor
    }
}

#[cfg(test)]
mod tests;
