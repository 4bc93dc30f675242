//! Post-training quantization: watch the f32 graph on calibration images, choose each
//! value's int8 range, and turn the folded float parameters into integer ones.
//!
//! Min-max takes the observed extremes; the histogram calibrators clip rare outliers so
//! that the common values get finer steps: `percentile` keeps a share of the mass, `mse`
//! picks the clipping that minimizes the expected squared error of rounding plus clipping.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::graph::{ConvParams, Graph, StepOp};
use super::{Engine, EngineError, Program, Workspace};
use crate::artifact::ModelArtifact;
use crate::params::{
    QParams, QuantizedConv, QuantizedModel, QuantizedStep, Requant, SUM_MAX_RATIO, SUM_SHIFT,
    Weights,
};
use crate::spec::Activation;

/// Bins of the histogram calibrators.
const BINS: usize = 2048;

/// How activation ranges are chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Calibrator {
    /// The observed minimum and maximum.
    MinMax,
    /// The range holding this percentage of the observed values (e.g. 99.99), the rest
    /// split evenly between the two tails.
    Percentile(f32),
    /// The clipping of the observed range that minimizes expected squared error.
    Mse,
}

impl Calibrator {
    /// The name stored in the artifact (`min-max`, `percentile:99.99`, `mse`).
    pub fn name(&self) -> String {
        match self {
            Calibrator::MinMax => "min-max".into(),
            Calibrator::Percentile(p) => format!("percentile:{p}"),
            Calibrator::Mse => "mse".into(),
        }
    }

    /// Whether it needs a second pass over the images (to fill histograms).
    pub fn uses_histograms(&self) -> bool {
        !matches!(self, Calibrator::MinMax)
    }
}

/// A calibrator name that is not `min-max`, `percentile[:P]` or `mse`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown calibrator {0:?}; choose min-max, percentile[:P] (P between 50 and 100, default 99.99) or mse"
)]
pub struct UnknownCalibrator(pub String);

impl core::str::FromStr for Calibrator {
    type Err = UnknownCalibrator;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownCalibrator(s.into());
        match s.split_once(':') {
            None if s == "min-max" => Ok(Calibrator::MinMax),
            None if s == "mse" => Ok(Calibrator::Mse),
            None if s == "percentile" => Ok(Calibrator::Percentile(99.99)),
            Some(("percentile", p)) => match p.parse::<f32>() {
                Ok(p) if (50.0..=100.0).contains(&p) => Ok(Calibrator::Percentile(p)),
                _ => Err(unknown()),
            },
            _ => Err(unknown()),
        }
    }
}

/// What calibration has seen of every value of a graph.
#[derive(Clone, Debug)]
pub struct ActivationStats {
    calibrator: Calibrator,
    min: Vec<f32>,
    max: Vec<f32>,
    histograms: Vec<Vec<u64>>,
}

impl ActivationStats {
    /// Empty statistics for `values` values.
    pub fn new(values: usize, calibrator: Calibrator) -> Self {
        ActivationStats {
            calibrator,
            min: vec![f32::INFINITY; values],
            max: vec![f32::NEG_INFINITY; values],
            histograms: Vec::new(),
        }
    }

    /// Pass 1: widens value `v`'s range to cover `values`; pass 2 (after
    /// [`start_histograms`](Self::start_histograms)): counts them.
    pub fn observe(&mut self, v: usize, values: &[f32]) {
        if self.histograms.is_empty() {
            for &x in values {
                if x.is_finite() {
                    self.min[v] = self.min[v].min(x);
                    self.max[v] = self.max[v].max(x);
                }
            }
        } else {
            let (lo, hi) = (self.min[v], self.max[v]);
            if hi <= lo {
                return;
            }
            let per_bin = BINS as f32 / (hi - lo);
            let histogram = &mut self.histograms[v];
            for &x in values {
                if x.is_finite() {
                    let bin = ((x - lo) * per_bin) as usize;
                    histogram[bin.min(BINS - 1)] += 1;
                }
            }
        }
    }

    /// Ends the min-max pass and starts the histogram pass.
    pub fn start_histograms(&mut self) {
        self.histograms = vec![vec![0; BINS]; self.min.len()];
    }

    /// The chosen range of every value.
    pub fn ranges(&self) -> Vec<(f32, f32)> {
        (0..self.min.len())
            .map(|v| {
                let (lo, hi) = (self.min[v], self.max[v]);
                if !(lo.is_finite() && hi.is_finite()) {
                    return (0.0, 0.0);
                }
                let histogram = self.histograms.get(v).filter(|h| h.iter().any(|&c| c > 0));
                match (self.calibrator, histogram) {
                    (Calibrator::Percentile(p), Some(h)) => percentile_range(h, lo, hi, p),
                    (Calibrator::Mse, Some(h)) => mse_range(h, lo, hi),
                    _ => (lo, hi),
                }
            })
            .collect()
    }

    /// The calibrator in use.
    pub fn calibrator(&self) -> Calibrator {
        self.calibrator
    }
}

fn bin_value(lo: f32, hi: f32, bin: usize) -> f32 {
    lo + (hi - lo) * (bin as f32 + 0.5) / BINS as f32
}

fn percentile_range(histogram: &[u64], lo: f32, hi: f32, percent: f32) -> (f32, f32) {
    let total: u64 = histogram.iter().sum();
    let tail = ((1.0 - f64::from(percent.clamp(50.0, 100.0)) / 100.0) / 2.0 * total as f64) as u64;
    let mut seen = 0;
    let mut first = 0;
    for (i, &c) in histogram.iter().enumerate() {
        seen += c;
        if seen > tail {
            first = i;
            break;
        }
    }
    seen = 0;
    let mut last = BINS - 1;
    for (i, &c) in histogram.iter().enumerate().rev() {
        seen += c;
        if seen > tail {
            last = i;
            break;
        }
    }
    let step = (hi - lo) / BINS as f32;
    (lo + step * first as f32, lo + step * (last + 1) as f32)
}

fn mse_range(histogram: &[u64], lo: f32, hi: f32) -> (f32, f32) {
    let (wide_lo, wide_hi) = (lo.min(0.0), hi.max(0.0));
    let mut best = (f64::INFINITY, wide_lo, wide_hi);
    // Clipping factors from 1 down to about 0.05, two percent apart.
    let mut t = 1.0f32;
    while t > 0.05 {
        let q = QParams::covering(wide_lo * t, wide_hi * t);
        let noise = f64::from(q.scale) * f64::from(q.scale) / 12.0;
        let (a, b) = (q.dequantize(-128), q.dequantize(127));
        let error: f64 = histogram
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, &c)| {
                let x = bin_value(lo, hi, i);
                let e = if x < a {
                    {
                        let d = f64::from(a - x);
                        d * d
                    }
                } else if x > b {
                    {
                        let d = f64::from(x - b);
                        d * d
                    }
                } else {
                    noise
                };
                e * c as f64
            })
            .sum();
        if error < best.0 {
            best = (error, wide_lo * t, wide_hi * t);
        }
        t *= 0.98;
    }
    (best.1, best.2)
}

/// Post-training quantization of one float artifact: show it the calibration images in
/// every pass it needs ([`passes`](Self::passes)), then take the int8 artifact.
pub struct Quantizer<'a> {
    float: &'a ModelArtifact,
    engine: Engine,
    stats: ActivationStats,
    workspace: Workspace,
    logits: Vec<f32>,
}

impl<'a> Quantizer<'a> {
    /// Compiles `float`'s f32 engine to watch its activations.
    pub fn new(float: &'a ModelArtifact, calibrator: Calibrator) -> Result<Self, EngineError> {
        let engine = Engine::f32(float)?;
        Ok(Quantizer {
            stats: ActivationStats::new(engine.graph().values.len(), calibrator),
            workspace: engine.workspace(),
            logits: vec![0.0; engine.classes()],
            float,
            engine,
        })
    }

    /// Passes over the calibration images the calibrator needs (1 or 2).
    pub fn passes(&self) -> usize {
        if self.stats.calibrator().uses_histograms() {
            2
        } else {
            1
        }
    }

    /// Starts pass `pass` (0-based); call before each pass's images.
    pub fn start_pass(&mut self, pass: usize) {
        if pass == 1 {
            self.stats.start_histograms();
        }
    }

    /// Watches one preprocessed image (`input_len` scalars, CHW).
    ///
    /// # Panics
    /// If `image` is not the network's input size.
    pub fn observe(&mut self, image: &[f32]) {
        let stats = &mut self.stats;
        self.engine.run_observed(
            &mut self.workspace,
            image,
            &mut self.logits,
            &mut |v, values| stats.observe(v, values),
        );
    }

    /// The int8 artifact: the float one with its weights replaced by the quantized model.
    pub fn finish(self) -> ModelArtifact {
        let params = match &self.engine.program {
            Program::F32(params) => params.as_slice(),
            Program::Int8(_) => &[],
        };
        let calibrator = self.stats.calibrator();
        let quantized = quantize(
            self.engine.graph(),
            params,
            &self.stats.ranges(),
            &calibrator,
        );
        ModelArtifact {
            weights: Weights::default(),
            quantized: Some(quantized),
            // Fitted on the float network's features; the int8 ones are fitted again.
            familiarity: None,
            ..self.float.clone()
        }
    }
}

/// Quantizes a lowered graph from its folded float parameters and calibrated ranges
/// (one per value, from [`ActivationStats::ranges`]).
pub fn quantize(
    graph: &Graph,
    params: &[ConvParams],
    ranges: &[(f32, f32)],
    calibrator: &Calibrator,
) -> QuantizedModel {
    let mut values: Vec<QParams> = ranges
        .iter()
        .map(|&(lo, hi)| QParams::covering(lo, hi))
        .collect();
    // Max pooling only selects, so its output keeps its input's grid.
    for step in &graph.steps {
        if let StepOp::MaxPool(_) = step.op {
            values[step.output] = values[step.inputs[0]];
        }
    }
    let mut conv_params = params.iter();
    let steps = graph
        .steps
        .iter()
        .map(|step| {
            let input = values[step.inputs[0]];
            let output = values[step.output];
            match &step.op {
                StepOp::Conv(g) => {
                    let p = conv_params.next();
                    let empty = ConvParams::default();
                    QuantizedStep::Conv(quantize_conv(
                        p.unwrap_or(&empty),
                        g.out_channels,
                        g.fan_in(),
                        g.activation,
                        input,
                        output,
                    ))
                }
                // Entry `x as u8` answers input `x`.
                StepOp::Activation(a) => QuantizedStep::Lut(
                    (0..=255u8)
                        .map(|i| output.quantize(a.apply(input.dequantize(i as i8))))
                        .collect(),
                ),
                StepOp::MaxPool(_) => QuantizedStep::MaxPool,
                StepOp::AvgPool(p) => QuantizedStep::AvgPool(
                    (1..=(p.kernel[0] * p.kernel[1]) as usize)
                        .map(|n| {
                            Requant::from_real(
                                f64::from(input.scale) / (f64::from(output.scale) * n as f64),
                            )
                        })
                        .collect(),
                ),
                StepOp::GlobalAvgPool => {
                    let [_, h, w] = graph.values[step.inputs[0]];
                    QuantizedStep::GlobalAvgPool(Requant::from_real(
                        f64::from(input.scale) / (f64::from(output.scale) * (h * w) as f64),
                    ))
                }
                StepOp::Add | StepOp::Concat => QuantizedStep::Sum(
                    step.inputs
                        .iter()
                        .map(|&v| {
                            let ratio = f64::from(values[v].scale) / f64::from(output.scale);
                            libm::round(
                                ratio.min(f64::from(SUM_MAX_RATIO)) * f64::from(1u32 << SUM_SHIFT),
                            ) as i32
                        })
                        .collect(),
                ),
                StepOp::ChannelScale => {
                    let gate = values[step.inputs[1]];
                    QuantizedStep::ChannelScale(Requant::from_real(
                        f64::from(input.scale) * f64::from(gate.scale) / f64::from(output.scale),
                    ))
                }
            }
        })
        .collect();
    QuantizedModel {
        calibrator: calibrator.name(),
        values,
        steps,
    }
}

fn quantize_conv(
    p: &ConvParams,
    out_channels: usize,
    fan_in: usize,
    activation: Option<Activation>,
    input: QParams,
    output: QParams,
) -> QuantizedConv {
    let mut weights = Vec::with_capacity(out_channels * fan_in);
    let mut weight_scales = Vec::with_capacity(out_channels);
    let mut bias = Vec::with_capacity(out_channels);
    let mut requant = Vec::with_capacity(out_channels);
    for o in 0..out_channels {
        let w = p.weights.get(o * fan_in..(o + 1) * fan_in).unwrap_or(&[]);
        let largest = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
        weights.extend(
            w.iter()
                .map(|v| libm::roundf(v / scale).clamp(-127.0, 127.0) as i8),
        );
        weights.resize((o + 1) * fan_in, 0);
        let accumulator_scale = f64::from(input.scale) * f64::from(scale);
        let b = f64::from(p.bias.get(o).copied().unwrap_or(0.0));
        bias.push(
            libm::round(b / accumulator_scale)
                .clamp(f64::from(i32::MIN / 2), f64::from(i32::MAX / 2)) as i32,
        );
        requant.push(Requant::from_real(
            accumulator_scale / f64::from(output.scale),
        ));
        weight_scales.push(scale);
    }
    let (min, max) = match activation {
        Some(Activation::Relu) => (output.quantize(0.0), 127),
        Some(Activation::Relu6) => (output.quantize(0.0), output.quantize(6.0)),
        _ => (-128, 127),
    };
    QuantizedConv {
        weights,
        weight_scales,
        bias,
        requant,
        min,
        max,
    }
}
