//! The int8 executor: integer arithmetic from the quantized input to the int8 logits.
//! Only the entry (quantizing the preprocessed image) and the exit (the logits back to
//! real numbers) touch floating point.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::graph::{ConvGeometry, Graph, StepOp};
use super::kernels::{
    DepthwiseShape, Isa, OutputStage, PackedMatrix, depthwise_i8, gemm_i8, gemm_scratch_len,
};
use super::plan::Plan;
use super::window::{for_each_pool_window, im2col};
use super::{Observer, Workspace, with_step_slices};
use crate::params::{QParams, QuantizedModel, QuantizedStep, Requant, SUM_SHIFT};
use crate::spec::Pool2d;

#[derive(Clone, Debug)]
pub(super) struct Program {
    isa: Isa,
    steps: Vec<Int8Step>,
    values: Vec<QParams>,
    scratch: usize,
    gemm_scratch: usize,
}

#[derive(Clone, Debug)]
enum Int8Step {
    Conv(Box<Conv>),
    Lut(Box<[i8; 256]>),
    MaxPool(Pool2d),
    AvgPool {
        pool: Pool2d,
        by_count: Vec<Requant>,
        zero_in: i32,
        zero_out: i32,
    },
    GlobalAvgPool {
        requant: Requant,
        zero_in: i32,
        zero_out: i32,
    },
    Sum {
        concat: bool,
        multipliers: Vec<i64>,
        zero_ins: Vec<i32>,
        zero_out: i32,
    },
    ChannelScale {
        requant: Requant,
        zero_x: i32,
        zero_gate: i32,
        zero_out: i32,
    },
}

#[derive(Clone, Debug)]
struct Conv {
    geometry: ConvGeometry,
    kernel: ConvKernel,
    /// The stored bias minus `zero_in * sum(weights)` per channel: padding and inputs are
    /// uncentred in the kernels, and this puts the centring back exactly.
    bias: Vec<i32>,
    requant: Vec<Requant>,
    zero_in: i8,
    zero_out: i32,
    min: i8,
    max: i8,
}

#[derive(Clone, Debug)]
enum ConvKernel {
    Depthwise(Vec<i8>),
    /// One packed matrix per group.
    Gemm(Vec<PackedMatrix>),
}

impl Program {
    /// Assumes `quantized` passed [`QuantizedModel::check`] against `graph`.
    pub(super) fn new(graph: &Graph, quantized: &QuantizedModel, isa: Isa) -> Program {
        let q = &quantized.values;
        let mut scratch = 0;
        let mut gemm_scratch = 0;
        let steps = graph
            .steps
            .iter()
            .zip(&quantized.steps)
            .map(|(step, qs)| {
                let zero = |v: usize| i32::from(q[v].zero_point);
                let zero_out = zero(step.output);
                match (&step.op, qs) {
                    (StepOp::Conv(g), QuantizedStep::Conv(c)) => {
                        let fan_in = g.fan_in();
                        let zero_in = q[step.inputs[0]].zero_point;
                        let bias = c
                            .bias
                            .iter()
                            .zip(c.weights.chunks_exact(fan_in))
                            .map(|(&b, w)| {
                                let sum: i64 = w.iter().map(|&w| i64::from(w)).sum();
                                let centred = i64::from(b) - i64::from(zero_in) * sum;
                                centred.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
                            })
                            .collect();
                        let positions = g.out_height() * g.out_width();
                        let kernel = if g.is_depthwise() {
                            ConvKernel::Depthwise(c.weights.clone())
                        } else {
                            if !g.is_dense() {
                                scratch = scratch.max(fan_in * positions);
                            }
                            gemm_scratch =
                                gemm_scratch.max(gemm_scratch_len(isa, fan_in, positions));
                            let rows = g.out_channels / g.groups;
                            ConvKernel::Gemm(
                                c.weights
                                    .chunks_exact(rows * fan_in)
                                    .map(|w| PackedMatrix::new(w, rows, fan_in, isa))
                                    .collect(),
                            )
                        };
                        Int8Step::Conv(Box::new(Conv {
                            geometry: *g,
                            kernel,
                            bias,
                            requant: c.requant.clone(),
                            zero_in,
                            zero_out,
                            min: c.min,
                            max: c.max,
                        }))
                    }
                    (StepOp::Activation(_), QuantizedStep::Lut(table)) => {
                        let mut lut = Box::new([0i8; 256]);
                        lut.copy_from_slice(table);
                        Int8Step::Lut(lut)
                    }
                    (StepOp::AvgPool(pool), QuantizedStep::AvgPool(by_count)) => {
                        Int8Step::AvgPool {
                            pool: *pool,
                            by_count: by_count.clone(),
                            zero_in: zero(step.inputs[0]),
                            zero_out,
                        }
                    }
                    (StepOp::GlobalAvgPool, QuantizedStep::GlobalAvgPool(r)) => {
                        Int8Step::GlobalAvgPool {
                            requant: *r,
                            zero_in: zero(step.inputs[0]),
                            zero_out,
                        }
                    }
                    (op @ (StepOp::Add | StepOp::Concat), QuantizedStep::Sum(m)) => Int8Step::Sum {
                        concat: matches!(op, StepOp::Concat),
                        multipliers: m.iter().map(|&m| i64::from(m)).collect(),
                        zero_ins: step.inputs.iter().map(|&v| zero(v)).collect(),
                        zero_out,
                    },
                    (StepOp::ChannelScale, QuantizedStep::ChannelScale(r)) => {
                        Int8Step::ChannelScale {
                            requant: *r,
                            zero_x: zero(step.inputs[0]),
                            zero_gate: zero(step.inputs[1]),
                            zero_out,
                        }
                    }
                    (StepOp::MaxPool(pool), _) => Int8Step::MaxPool(*pool),
                    // `check` has paired every step with parameters of its kind.
                    _ => Int8Step::MaxPool(Pool2d::square(1, 1, 0)),
                }
            })
            .collect();
        Program {
            isa,
            steps,
            values: q.clone(),
            scratch,
            gemm_scratch,
        }
    }

    pub(super) fn isa(&self) -> Isa {
        self.isa
    }

    pub(super) fn scratch_len(&self) -> usize {
        self.scratch
    }

    /// Value `v` of the last run, from its int8 slot in `arena`, in real numbers.
    pub(super) fn dequantize(&self, v: usize, arena: &[i8], out: &mut [f32]) {
        let grid = self.values[v];
        for (o, &q) in out.iter_mut().zip(arena) {
            *o = grid.dequantize(q);
        }
    }

    pub(super) fn gemm_scratch_len(&self) -> usize {
        self.gemm_scratch
    }

    pub(super) fn run(
        &self,
        graph: &Graph,
        plan: &Plan,
        ws: &mut Workspace,
        input: &[f32],
        logits: &mut [f32],
        mut observe: Option<Observer<'_>>,
    ) {
        let arena = &mut ws.arena_i8[..];
        let input_grid = self.values[0];
        let quantized = &mut arena[plan.range(graph, 0)];
        self.isa.vectorize(
            #[inline(always)]
            || {
                for (q, &x) in quantized.iter_mut().zip(input) {
                    *q = input_grid.quantize(x);
                }
            },
        );
        // Observing (calibration checks, debugging) dequantizes every value; it allocates,
        // which plain runs never do.
        let mut real = Vec::new();
        let mut report = |v: usize, arena: &[i8], observe: &mut Option<Observer<'_>>| {
            if let Some(observe) = observe {
                real.clear();
                real.extend(
                    arena[plan.range(graph, v)]
                        .iter()
                        .map(|&q| self.values[v].dequantize(q)),
                );
                observe(v, &real);
            }
        };
        report(0, arena, &mut observe);
        for (step, program) in graph.steps.iter().zip(&self.steps) {
            let in_dims = graph.values[step.inputs[0]];
            with_step_slices(arena, plan, graph, step, |inputs, out| match program {
                Int8Step::Conv(conv) => conv.run(
                    self.isa,
                    inputs[0],
                    out,
                    &mut ws.scratch_i8,
                    &mut ws.gemm_scratch,
                ),
                Int8Step::Lut(table) => {
                    for (o, &x) in out.iter_mut().zip(inputs[0]) {
                        *o = table[x as u8 as usize];
                    }
                }
                Int8Step::MaxPool(pool) => max_pool(pool, in_dims, inputs[0], out),
                Int8Step::AvgPool {
                    pool,
                    by_count,
                    zero_in,
                    zero_out,
                } => avg_pool(pool, in_dims, inputs[0], out, by_count, *zero_in, *zero_out),
                Int8Step::GlobalAvgPool {
                    requant,
                    zero_in,
                    zero_out,
                } => {
                    let hw = in_dims[1] * in_dims[2];
                    for (o, channel) in out.iter_mut().zip(inputs[0].chunks_exact(hw)) {
                        // Wrapping: only a hostile spec has planes big enough to overflow.
                        let sum = channel
                            .iter()
                            .fold(0i32, |s, &x| s.wrapping_add(i32::from(x)));
                        let centred = sum.wrapping_sub((hw as i32).wrapping_mul(*zero_in));
                        *o = saturate(i64::from(*zero_out) + requant.apply(centred));
                    }
                }
                Int8Step::Sum {
                    concat,
                    multipliers,
                    zero_ins,
                    zero_out,
                } => sum(
                    self.isa,
                    *concat,
                    inputs,
                    out,
                    multipliers,
                    zero_ins,
                    *zero_out,
                ),
                Int8Step::ChannelScale {
                    requant,
                    zero_x,
                    zero_gate,
                    zero_out,
                } => {
                    let hw = in_dims[1] * in_dims[2];
                    for ((o, x), &g) in out
                        .chunks_exact_mut(hw)
                        .zip(inputs[0].chunks_exact(hw))
                        .zip(inputs[1])
                    {
                        let gate = i32::from(g) - zero_gate;
                        for (o, &x) in o.iter_mut().zip(x) {
                            let product = (i32::from(x) - zero_x) * gate;
                            *o = saturate(i64::from(*zero_out) + requant.apply(product));
                        }
                    }
                }
            });
            report(step.output, arena, &mut observe);
        }
        let out = &arena[plan.range(graph, graph.output)];
        let output_grid = self.values[graph.output];
        for (l, &q) in logits.iter_mut().zip(out) {
            *l = output_grid.dequantize(q);
        }
    }
}

fn saturate(x: i64) -> i8 {
    x.clamp(-128, 127) as i8
}

impl Conv {
    fn run(&self, isa: Isa, input: &[i8], out: &mut [i8], scratch: &mut [i8], gemm: &mut [i8]) {
        let g = &self.geometry;
        match &self.kernel {
            ConvKernel::Depthwise(weights) => {
                let shape = DepthwiseShape {
                    channels: g.input[0],
                    height: g.input[1],
                    width: g.input[2],
                    kernel: g.kernel,
                    stride: g.stride,
                    padding: g.padding,
                    dilation: g.dilation,
                };
                let stage = OutputStage {
                    bias: &self.bias,
                    requant: &self.requant,
                    zero_point: self.zero_out,
                    min: self.min,
                    max: self.max,
                };
                depthwise_i8(isa, &shape, input, self.zero_in, weights, &stage, out);
            }
            ConvKernel::Gemm(groups) => {
                let positions = g.out_height() * g.out_width();
                let fan_in = g.fan_in();
                let rows = g.out_channels / g.groups;
                let in_per_group = g.input[0] / g.groups;
                let plane = g.input[1] * g.input[2];
                for (group, packed) in groups.iter().enumerate() {
                    let x =
                        &input[group * in_per_group * plane..(group + 1) * in_per_group * plane];
                    let columns: &[i8] = if g.is_dense() {
                        x
                    } else {
                        let cols = &mut scratch[..fan_in * positions];
                        im2col(g, in_per_group, x, self.zero_in, cols);
                        cols
                    };
                    let rows_range = group * rows..(group + 1) * rows;
                    let stage = OutputStage {
                        bias: &self.bias[rows_range.clone()],
                        requant: &self.requant[rows_range.clone()],
                        zero_point: self.zero_out,
                        min: self.min,
                        max: self.max,
                    };
                    gemm_i8(
                        packed,
                        columns,
                        positions,
                        &stage,
                        &mut out[rows_range.start * positions..rows_range.end * positions],
                        gemm,
                    );
                }
            }
        }
    }
}

fn max_pool(p: &Pool2d, dims: [usize; 3], input: &[i8], out: &mut [i8]) {
    for_each_pool_window(p, dims, |window| {
        out[window.output] = window.values(input, dims).fold(i8::MIN, |m, &v| m.max(v));
    });
}

fn avg_pool(
    p: &Pool2d,
    dims: [usize; 3],
    input: &[i8],
    out: &mut [i8],
    by_count: &[Requant],
    zero_in: i32,
    zero_out: i32,
) {
    for_each_pool_window(p, dims, |window| {
        let sum: i32 = window.values(input, dims).map(|&v| i32::from(v)).sum();
        let centred = sum - window.count as i32 * zero_in;
        out[window.output] =
            saturate(i64::from(zero_out) + by_count[window.count - 1].apply(centred));
    });
}

/// Add (`concat == false`) or concatenate, rescaling every input to the output's grid:
/// `out = zero_out + round(sum_i (x_i - zero_i) * m_i / 2^SUM_SHIFT)`.
///
/// The rescaling loops run vectorized for `isa`: they vectorize well, but the x86-64
/// baseline (SSE2) lacks wide integer multiplies.
fn sum(
    isa: Isa,
    concat: bool,
    inputs: &[&[i8]],
    out: &mut [i8],
    multipliers: &[i64],
    zero_ins: &[i32],
    zero_out: i32,
) {
    if concat {
        let mut at = 0;
        for ((input, &m), &z) in inputs.iter().zip(multipliers).zip(zero_ins) {
            let dst = &mut out[at..at + input.len()];
            if m == 1 << SUM_SHIFT && z == zero_out {
                dst.copy_from_slice(input);
            } else {
                isa.vectorize(
                    #[inline(always)]
                    || rescale(input, dst, z, m, zero_out),
                );
            }
            at += input.len();
        }
    } else if let ([a, b], [ma, mb], [za, zb]) = (inputs, multipliers, zero_ins) {
        isa.vectorize(
            #[inline(always)]
            || add_pair(a, b, out, [*za, *zb], [*ma, *mb], zero_out),
        );
    } else {
        let round = 1i64 << (SUM_SHIFT - 1);
        for (j, o) in out.iter_mut().enumerate() {
            let mut t = 0i64;
            for ((input, &m), &z) in inputs.iter().zip(multipliers).zip(zero_ins) {
                t += i64::from(i32::from(input[j]) - z) * m;
            }
            *o = saturate(i64::from(zero_out) + ((t + round) >> SUM_SHIFT));
        }
    }
}

/// 64-bit lanes: a centred input (9 bits) times a multiplier (at most 127 in
/// [`SUM_SHIFT`] fixed point, 27 bits) needs 36.
#[inline(always)]
fn add_pair(a: &[i8], b: &[i8], out: &mut [i8], z: [i32; 2], m: [i64; 2], zero_out: i32) {
    let round = 1i64 << (SUM_SHIFT - 1);
    let zero_out = i64::from(zero_out);
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        let t = i64::from(i32::from(x) - z[0]) * m[0] + i64::from(i32::from(y) - z[1]) * m[1];
        *o = (zero_out + ((t + round) >> SUM_SHIFT)).clamp(-128, 127) as i8;
    }
}

#[inline(always)]
fn rescale(input: &[i8], out: &mut [i8], z: i32, m: i64, zero_out: i32) {
    let round = 1i64 << (SUM_SHIFT - 1);
    let zero_out = i64::from(zero_out);
    for (o, &x) in out.iter_mut().zip(input) {
        *o = (zero_out + ((i64::from(i32::from(x) - z) * m + round) >> SUM_SHIFT)).clamp(-128, 127)
            as i8;
    }
}
