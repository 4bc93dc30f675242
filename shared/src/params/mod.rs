//! A trained network's parameters as data: the float weights and the int8 form with its
//! quantization parameters. The artifact stores them and the engine runs them; both read
//! them from here, so neither needs the other to know their shape.
//!
//! - [`Weights`]: the float parameters, one tensor per entry of the spec's layout.
//! - `quantized`: the int8 network ([`QuantizedModel`]) and its quantization grids
//!   ([`QParams`]).
//! - `requant`: the fixed-point multipliers that rescale int8 results ([`Requant`]).

mod quantized;
mod requant;

use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

pub use quantized::{
    QParams, QuantizationMismatch, QuantizedConv, QuantizedModel, QuantizedStep, SUM_MAX_RATIO,
    SUM_SHIFT,
};
pub use requant::Requant;

/// The network's parameters: one f32 tensor per entry of
/// [`ModelSpec::parameter_layout`](crate::spec::ModelSpec::parameter_layout), in that
/// order, each flattened row-major.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Weights {
    /// Tensor values.
    pub tensors: Vec<Vec<f32>>,
}
