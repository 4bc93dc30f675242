//! The int8 form of a network, as stored in an artifact: quantization parameters for every
//! value of the lowered graph and integer parameters for every step, so that inference
//! needs integer arithmetic only (TFLite's and CMSIS-NN's scheme: per-output-channel
//! symmetric int8 weights, per-tensor asymmetric int8 activations, int32 biases, fixed-point
//! requantization).

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::Requant;

/// Fractional bits of the multipliers of [`QuantizedStep::Sum`]. Fewer bits would fit adds
/// in 32-bit lanes, but a deep network amplifies their rounding: against onnxruntime's
/// float adds, edge-s drifted 4.7 output steps on average with 14 bits, 2.2 with 16 and
/// 0.7 with 20.
pub const SUM_SHIFT: u32 = 20;
/// Largest input-to-output scale ratio of an add or concatenation (beyond it, any input
/// step saturates the output anyway); it keeps every product within 40 bits.
pub const SUM_MAX_RATIO: i32 = 127;

/// An int8 network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QuantizedModel {
    /// How activation ranges were chosen (`min-max`, `percentile:99.99`, `mse`), for the record.
    pub calibrator: String,
    /// Quantization of every value of the lowered graph; value 0 is the input.
    pub values: Vec<QParams>,
    /// Integer parameters of every step of the lowered graph, in order.
    pub steps: Vec<QuantizedStep>,
}

/// `real = scale * (q - zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QParams {
    /// Size of one step of the integer grid.
    pub scale: f32,
    /// The integer that stands for 0.0.
    pub zero_point: i8,
}

impl QParams {
    /// The integer nearest to `x` (ties to even, as ONNX's QuantizeLinear), saturated to
    /// int8.
    pub fn quantize(self, x: f32) -> i8 {
        // Adding and removing 1.5 * 2^23 rounds any |v| < 2^22 to the nearest integer, ties
        // to even, in plain arithmetic that vectorizes (no libm call per value).
        const ROUNDER: f32 = 12_582_912.0;
        let v = (x / self.scale + f32::from(self.zero_point)).clamp(-128.0, 127.0);
        ((v + ROUNDER) - ROUNDER) as i8
    }

    /// The real value `q` stands for.
    pub fn dequantize(self, q: i8) -> f32 {
        self.scale * (f32::from(q) - f32::from(self.zero_point))
    }

    /// Parameters whose grid covers `[lo, hi]` (widened to include 0, so that zero padding
    /// and ReLU's floor are exact).
    pub fn covering(lo: f32, hi: f32) -> QParams {
        let lo = lo.min(0.0);
        let hi = hi.max(0.0);
        let scale = if hi - lo > 1e-12 {
            (hi - lo) / 255.0
        } else {
            1.0
        };
        let zero = libm::roundf(-128.0 - lo / scale).clamp(-128.0, 127.0);
        QParams {
            scale,
            zero_point: zero as i8,
        }
    }
}

/// Integer parameters of one lowered step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum QuantizedStep {
    /// A convolution (or dense layer).
    Conv(QuantizedConv),
    /// An activation as a table: entry `x as u8` is the output for input `x`.
    Lut(Vec<i8>),
    /// Max pooling: the output shares the input's quantization.
    MaxPool,
    /// Average pooling: entry `n - 1` turns a sum of `n` centred inputs into an output.
    AvgPool(Vec<Requant>),
    /// Channel means: turns a channel's centred sum into an output.
    GlobalAvgPool(Requant),
    /// Add or concatenate: per input, `scale_in / scale_out` with [`SUM_SHIFT`] fractional
    /// bits, at most [`SUM_MAX_RATIO`].
    Sum(Vec<i32>),
    /// Squeeze-excitation's gating: `scale_x * scale_gate / scale_out`.
    ChannelScale(Requant),
}

/// An int8 convolution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QuantizedConv {
    /// `[out, fan_in]`, symmetric per output channel.
    pub weights: Vec<i8>,
    /// Scale of each output channel's weights.
    pub weight_scales: Vec<f32>,
    /// Per output channel, in units of `scale_in * weight_scale`.
    pub bias: Vec<i32>,
    /// Per output channel, `scale_in * weight_scale / scale_out`.
    pub requant: Vec<Requant>,
    /// Lowest output (the zero point under a fused ReLU).
    pub min: i8,
    /// Highest output (6.0 under a fused ReLU6).
    pub max: i8,
}

/// What is inconsistent between an int8 model and its graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[error("the int8 parameters of step {step} do not fit the network: {reason}")]
pub struct QuantizationMismatch {
    /// The lowered step (or the value count, for `step == u32::MAX`).
    pub step: u32,
    /// What is wrong.
    pub reason: &'static str,
}
