//! The backends training runs on. The training code is generic over burn's
//! `AutodiffBackend`; only the type chosen here differs between CPU and GPU.

use std::fmt;
use std::str::FromStr;

use burn::backend::Autodiff;

/// CPU inference backend: burn's portable CPU backend, with SIMD kernels and all cores.
pub type Cpu = burn_flex::Flex;
/// CPU training backend.
pub type CpuTrain = Autodiff<Cpu>;

/// GPU inference backend (NVIDIA, through CUDA).
#[cfg(feature = "cuda")]
pub type Gpu = burn::backend::Cuda;
/// GPU training backend.
#[cfg(feature = "cuda")]
pub type GpuTrain = Autodiff<Gpu>;

/// Where to train, as given on the command line: `cpu`, `cuda` or `cuda:N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// The host CPU, all cores.
    #[default]
    Cpu,
    /// The CUDA GPU with this index.
    Cuda(usize),
}

/// A device string that is not `cpu`, `cuda` or `cuda:N`.
#[derive(Debug, thiserror::Error)]
#[error("unknown device {0:?}; use cpu, cuda or cuda:N")]
pub struct BadDevice(String);

impl FromStr for DeviceChoice {
    type Err = BadDevice;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| BadDevice(text.into())),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// Written as the word the command line takes, so a run's configuration names its device
/// the way `--device` did.
impl serde::Serialize for DeviceChoice {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DeviceChoice {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let word = String::deserialize(deserializer)?;
        word.parse().map_err(serde::de::Error::custom)
    }
}

impl DeviceChoice {
    /// Whether this build can train on the device.
    pub fn available(self) -> bool {
        match self {
            DeviceChoice::Cpu => true,
            DeviceChoice::Cuda(_) => cfg!(feature = "cuda"),
        }
    }
}

#[cfg(test)]
mod tests;
