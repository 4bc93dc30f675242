//! An int8 model checked against the lowered graph it was quantized on. The model itself is
//! data, in [`crate::params`]; what it must fit is the engine's lowering, so the check lives
//! here.

use crate::params::{
    QuantizationMismatch, QuantizedModel, QuantizedStep, Requant, SUM_MAX_RATIO, SUM_SHIFT,
};

use super::graph::{Graph, StepOp};

impl QuantizedModel {
    /// Checks every part against `graph`, so that execution can index without checks
    /// failing: counts, lengths, shifts and scales.
    pub fn check(&self, graph: &Graph) -> Result<(), QuantizationMismatch> {
        let whole = |reason| QuantizationMismatch {
            step: u32::MAX,
            reason,
        };
        if self.values.len() != graph.values.len() {
            return Err(whole("the number of quantized values differs"));
        }
        if self.steps.len() != graph.steps.len() {
            return Err(whole("the number of quantized steps differs"));
        }
        if self
            .values
            .iter()
            .any(|q| !(q.scale.is_finite() && q.scale > 0.0))
        {
            return Err(whole("a value's scale is not a positive number"));
        }
        for (i, (step, q)) in graph.steps.iter().zip(&self.steps).enumerate() {
            let fail = |reason| QuantizationMismatch {
                step: i as u32,
                reason,
            };
            let requant_ok = |r: &Requant| (1..=62).contains(&r.shift);
            match (&step.op, q) {
                (StepOp::Conv(g), QuantizedStep::Conv(c)) => {
                    let out = g.out_channels;
                    if c.weights.len() != out * g.fan_in() {
                        return Err(fail("the weight count differs"));
                    }
                    if c.weight_scales.len() != out || c.bias.len() != out || c.requant.len() != out
                    {
                        return Err(fail("a per-channel list has the wrong length"));
                    }
                    if !c.requant.iter().all(requant_ok) {
                        return Err(fail("a requantization shift is out of range"));
                    }
                    if c.min > c.max {
                        return Err(fail("the output clamp is empty"));
                    }
                }
                (StepOp::Activation(_), QuantizedStep::Lut(table)) => {
                    if table.len() != 256 {
                        return Err(fail("an activation table does not have 256 entries"));
                    }
                }
                (StepOp::MaxPool(_), QuantizedStep::MaxPool) => {
                    if self.values[step.inputs[0]] != self.values[step.output] {
                        return Err(fail("max pooling changes the quantization"));
                    }
                }
                (StepOp::AvgPool(p), QuantizedStep::AvgPool(by_count)) => {
                    let window = (p.kernel[0] * p.kernel[1]) as usize;
                    if by_count.len() != window || !by_count.iter().all(requant_ok) {
                        return Err(fail("the pooling divisors do not fit the window"));
                    }
                }
                (StepOp::GlobalAvgPool, QuantizedStep::GlobalAvgPool(r))
                | (StepOp::ChannelScale, QuantizedStep::ChannelScale(r)) => {
                    if !requant_ok(r) {
                        return Err(fail("a requantization shift is out of range"));
                    }
                }
                (StepOp::Add | StepOp::Concat, QuantizedStep::Sum(multipliers)) => {
                    if multipliers.len() != step.inputs.len() {
                        return Err(fail("there is not one multiplier per input"));
                    }
                    let most = SUM_MAX_RATIO << SUM_SHIFT;
                    if multipliers.iter().any(|m| !(0..=most).contains(m)) {
                        return Err(fail("an add or concatenation multiplier is out of range"));
                    }
                }
                _ => return Err(fail("the int8 step is of another kind than the layer")),
            }
        }
        Ok(())
    }
}
