//! The inference engine: runs any [`ModelSpec`](crate::spec::ModelSpec) artifact on a CPU,
//! in f32 (the reference) or in int8 (what the boards run), without burn and without
//! allocating while it runs.
//!
//! - [`graph`]: the spec lowered for execution (batch norm folded, ReLU fused).
//! - [`plan`]: every activation's place in one arena, fixed at load.
//! - [`quantized`]: an int8 model checked against the lowered graph.
//! - [`quantize`]: calibration and post-training quantization.
//! - [`kernels`]: the integer kernels, scalar and SIMD.
//!
//! An [`Engine`] is compiled once from an artifact and shared; each thread runs it with its
//! own [`Workspace`], whose arena is sized at load.

mod float;
pub mod graph;
mod int8;
pub mod kernels;
pub mod plan;
pub mod quantize;
pub mod quantized;
mod window;

use alloc::vec;
use alloc::vec::Vec;

use crate::artifact::ModelArtifact;
use crate::params::{QuantizationMismatch, QuantizedModel};
use crate::spec::SpecError;
use graph::{ConvParams, Graph, StepOp, ValueIndex};
use plan::Plan;

pub use kernels::Isa;

/// Receives each value of the lowered graph, in real numbers, while a run is observed.
pub type Observer<'a> = &'a mut dyn FnMut(ValueIndex, &[f32]);

/// Which arithmetic an engine runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Precision {
    /// Single-precision floating point.
    F32,
    /// 8-bit integers with 32-bit accumulation.
    Int8,
}

impl Precision {
    /// `f32` or `int8`.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Int8 => "int8",
        }
    }
}

/// Why an artifact cannot be compiled into an engine.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EngineError {
    /// The network is invalid.
    #[error("the network is invalid")]
    Spec(#[from] SpecError),
    /// f32 inference needs float weights, and this artifact carries int8 ones only.
    #[error("the model holds int8 weights only; it runs in int8, not f32")]
    NoFloatWeights,
    /// int8 inference needs a quantized model.
    #[error(
        "the model holds float weights only; quantize it (leukoscope-train quantize) to run it in int8"
    )]
    NotQuantized,
    /// The float weights do not fit the network.
    #[error("the model's weights do not fit its network")]
    WeightLayout,
    /// The int8 parameters do not fit the network.
    #[error(transparent)]
    Quantization(#[from] QuantizationMismatch),
}

/// A compiled network, ready to run on any number of threads.
#[derive(Clone, Debug)]
pub struct Engine {
    graph: Graph,
    plan: Plan,
    program: Program,
    input_len: usize,
    classes: usize,
    scratch: usize,
}

#[derive(Clone, Debug)]
enum Program {
    F32(Vec<ConvParams>),
    Int8(int8::Program),
}

/// One thread's memory for running an engine: the activation arena and the scratch of the
/// largest convolution, allocated once.
#[derive(Clone, Debug)]
pub struct Workspace {
    arena_f32: Vec<f32>,
    arena_i8: Vec<i8>,
    scratch_f32: Vec<f32>,
    scratch_i8: Vec<i8>,
    gemm_scratch: Vec<i8>,
}

impl Engine {
    /// Compiles the artifact in int8 if it carries a quantized model, else in f32.
    pub fn new(artifact: &ModelArtifact) -> Result<Engine, EngineError> {
        if artifact.quantized.is_some() {
            Engine::int8(artifact, Isa::detect())
        } else {
            Engine::f32(artifact)
        }
    }

    /// Compiles the f32 reference from the artifact's float weights.
    pub fn f32(artifact: &ModelArtifact) -> Result<Engine, EngineError> {
        if artifact.weights.tensors.is_empty() {
            return Err(EngineError::NoFloatWeights);
        }
        let layout = artifact.spec.parameter_layout()?;
        let fits = layout.len() == artifact.weights.tensors.len()
            && layout
                .iter()
                .zip(&artifact.weights.tensors)
                .all(|(t, v)| t.len() == v.len() as u64);
        if !fits {
            return Err(EngineError::WeightLayout);
        }
        let (graph, params) = graph::lower(&artifact.spec, Some(&artifact.weights))?;
        let scratch = graph
            .steps
            .iter()
            .map(|s| match &s.op {
                StepOp::Conv(g) => float::conv_scratch(g),
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        Ok(Engine::assemble(graph, Program::F32(params), scratch))
    }

    /// Compiles the int8 network, with kernels for `isa` (use [`Isa::detect`] unless
    /// comparing instruction sets).
    pub fn int8(artifact: &ModelArtifact, isa: Isa) -> Result<Engine, EngineError> {
        let quantized = artifact
            .quantized
            .as_ref()
            .ok_or(EngineError::NotQuantized)?;
        let (graph, _) = graph::lower(&artifact.spec, None)?;
        Engine::from_quantized(graph, quantized, isa)
    }

    /// Compiles an int8 network for an already lowered graph.
    pub fn from_quantized(
        graph: Graph,
        quantized: &QuantizedModel,
        isa: Isa,
    ) -> Result<Engine, EngineError> {
        quantized.check(&graph)?;
        let program = int8::Program::new(&graph, quantized, isa);
        let scratch = program.scratch_len();
        Ok(Engine::assemble(graph, Program::Int8(program), scratch))
    }

    fn assemble(graph: Graph, program: Program, scratch: usize) -> Engine {
        let plan = Plan::new(&graph);
        let input_len = graph.elements(0);
        let classes = graph.elements(graph.output);
        Engine {
            graph,
            plan,
            program,
            input_len,
            classes,
            scratch,
        }
    }

    /// The arithmetic it runs.
    pub fn precision(&self) -> Precision {
        match self.program {
            Program::F32(_) => Precision::F32,
            Program::Int8(_) => Precision::Int8,
        }
    }

    /// The instruction set of its integer kernels (scalar for f32).
    pub fn isa(&self) -> Isa {
        match &self.program {
            Program::F32(_) => Isa::Scalar,
            Program::Int8(p) => p.isa(),
        }
    }

    /// The lowered graph it runs.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Scalars of one input image (`channels * height * width`, CHW).
    pub fn input_len(&self) -> usize {
        self.input_len
    }

    /// Logits per image.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Scalars of the features the network's last layer reads ([`Graph::features`]).
    pub fn features_len(&self) -> usize {
        self.graph.elements(self.graph.features())
    }

    /// Copies the features of the image `workspace` last ran into `out`, in real numbers
    /// (the int8 engine's dequantized): what a familiarity profile measures. They are still
    /// in the arena after a run, because nothing is computed after the step that reads
    /// them and the plan keeps a step's output apart from its inputs. Allocates nothing.
    ///
    /// # Panics
    /// If `out` is not [`features_len`](Self::features_len) long, or `workspace` was made
    /// by another engine.
    pub fn features(&self, workspace: &Workspace, out: &mut [f32]) {
        let v = self.graph.features();
        assert_eq!(out.len(), self.graph.elements(v), "features length");
        let range = self.plan.range(&self.graph, v);
        match &self.program {
            Program::F32(_) => out.copy_from_slice(&workspace.arena_f32[range]),
            Program::Int8(program) => program.dequantize(v, &workspace.arena_i8[range], out),
        }
    }

    /// Bytes one [`Workspace`] holds: the activation arena at its peak plus convolution
    /// scratch.
    pub fn arena_bytes(&self) -> usize {
        match &self.program {
            Program::F32(_) => (self.plan.arena_elements + self.scratch) * 4,
            Program::Int8(p) => self.plan.arena_elements + self.scratch + p.gemm_scratch_len(),
        }
    }

    /// A workspace for one thread.
    pub fn workspace(&self) -> Workspace {
        let (f32_len, i8_len, f32_scratch, i8_scratch, gemm) = match &self.program {
            Program::F32(_) => (self.plan.arena_elements, 0, self.scratch, 0, 0),
            Program::Int8(p) => (
                self.input_len,
                self.plan.arena_elements,
                0,
                self.scratch,
                p.gemm_scratch_len(),
            ),
        };
        Workspace {
            arena_f32: vec![0.0; f32_len],
            arena_i8: vec![0; i8_len],
            scratch_f32: vec![0.0; f32_scratch],
            scratch_i8: vec![0; i8_scratch],
            gemm_scratch: vec![0; gemm],
        }
    }

    /// Runs one image (`input_len` scalars, the preprocessed CHW tensor) and writes its
    /// logits. Allocates nothing.
    ///
    /// # Panics
    /// If the slices' lengths are not `input_len` and `classes`, or `workspace` was made by
    /// another engine.
    pub fn run(&self, workspace: &mut Workspace, input: &[f32], logits: &mut [f32]) {
        self.execute(workspace, input, logits, None);
    }

    /// Like [`run`](Self::run), and calls `observe` with every value of the lowered graph
    /// as it is computed, in real numbers (the int8 engine's dequantized): calibration
    /// watches activations this way, and comparing both engines value by value shows
    /// where quantization loses accuracy. Allocates for the int8 engine.
    pub fn run_observed(
        &self,
        workspace: &mut Workspace,
        input: &[f32],
        logits: &mut [f32],
        observe: Observer<'_>,
    ) {
        self.execute(workspace, input, logits, Some(observe));
    }

    fn execute(
        &self,
        workspace: &mut Workspace,
        input: &[f32],
        logits: &mut [f32],
        observe: Option<Observer<'_>>,
    ) {
        assert_eq!(input.len(), self.input_len, "input length");
        assert_eq!(logits.len(), self.classes, "logits length");
        match &self.program {
            Program::F32(params) => {
                self.run_f32(params, workspace, input, observe);
                let out = self.plan.range(&self.graph, self.graph.output);
                logits.copy_from_slice(&workspace.arena_f32[out]);
            }
            Program::Int8(program) => {
                program.run(&self.graph, &self.plan, workspace, input, logits, observe);
            }
        }
    }

    fn run_f32(
        &self,
        params: &[ConvParams],
        ws: &mut Workspace,
        input: &[f32],
        mut observe: Option<Observer<'_>>,
    ) {
        let arena = &mut ws.arena_f32[..];
        arena[self.plan.range(&self.graph, 0)].copy_from_slice(input);
        if let Some(observe) = observe.as_mut() {
            observe(0, &arena[self.plan.range(&self.graph, 0)]);
        }
        let mut conv_index = 0;
        for step in &self.graph.steps {
            let conv_params = match step.op {
                StepOp::Conv(_) => {
                    conv_index += 1;
                    Some(&params[conv_index - 1])
                }
                _ => None,
            };
            let in_dims = self.graph.values[step.inputs[0]];
            let out_range = self.plan.range(&self.graph, step.output);
            with_step_slices(arena, &self.plan, &self.graph, step, |inputs, out| {
                float::step(
                    &step.op,
                    &[in_dims],
                    conv_params,
                    inputs,
                    out,
                    &mut ws.scratch_f32,
                );
            });
            if let Some(observe) = observe.as_mut() {
                observe(step.output, &arena[out_range]);
            }
        }
    }

    /// Runs a batch of images (`inputs.len() / input_len` of them), spreading them over
    /// the workspaces' threads; one workspace per thread, made by [`workspace`](Self::workspace).
    ///
    /// # Panics
    /// If the lengths do not match or `workspaces` is empty.
    #[cfg(feature = "std")]
    pub fn run_batch(&self, workspaces: &mut [Workspace], inputs: &[f32], logits: &mut [f32]) {
        self.run_batch_into(workspaces, inputs, logits, None);
    }

    /// Like [`run_batch`](Self::run_batch), and writes each image's
    /// [`features`](Self::features) into `features` (`features_len` scalars per image).
    ///
    /// # Panics
    /// As `run_batch`, and if `features` is not `features_len` per image.
    #[cfg(feature = "std")]
    pub fn run_batch_with_features(
        &self,
        workspaces: &mut [Workspace],
        inputs: &[f32],
        logits: &mut [f32],
        features: &mut [f32],
    ) {
        self.run_batch_into(workspaces, inputs, logits, Some(features));
    }

    #[cfg(feature = "std")]
    fn run_batch_into(
        &self,
        workspaces: &mut [Workspace],
        inputs: &[f32],
        logits: &mut [f32],
        features: Option<&mut [f32]>,
    ) {
        use rayon::prelude::*;
        let images = inputs.len() / self.input_len;
        assert_eq!(inputs.len(), images * self.input_len, "input length");
        assert_eq!(logits.len(), images * self.classes, "logits length");
        assert!(!workspaces.is_empty(), "no workspace");
        let per_worker = images.div_ceil(workspaces.len()).max(1);
        let width = self.features_len();
        let work = |ws: &mut Workspace,
                    inputs: &[f32],
                    logits: &mut [f32],
                    features: Option<&mut [f32]>| {
            let mut features = features
                .filter(|_| width > 0)
                .map(|f| f.chunks_exact_mut(width));
            for (input, logits) in inputs
                .chunks_exact(self.input_len)
                .zip(logits.chunks_exact_mut(self.classes))
            {
                self.run(ws, input, logits);
                if let Some(out) = features.as_mut().and_then(Iterator::next) {
                    self.features(ws, out);
                }
            }
        };
        let jobs = workspaces
            .par_iter_mut()
            .zip(inputs.par_chunks(per_worker * self.input_len))
            .zip(logits.par_chunks_mut(per_worker * self.classes));
        match features {
            Some(features) => {
                assert_eq!(features.len(), images * width, "features length");
                jobs.zip(features.par_chunks_mut((per_worker * width).max(1)))
                    .for_each(|(((ws, i), l), f)| work(ws, i, l, Some(f)));
            }
            None => jobs.for_each(|((ws, i), l)| work(ws, i, l, None)),
        }
    }
}

/// Calls `f` with the step's input slices and its output slice, all taken from one arena.
///
/// The plan gives a step's output a slot disjoint from every slot it reads (their lifetimes
/// overlap at that step), so the arena splits into what lies before the output, the output
/// and what lies after it, and every input is in one of the outer parts.
///
/// # Panics
/// If the output slot is outside the arena or an input overlaps it (a broken plan).
fn with_step_slices<T, R>(
    arena: &mut [T],
    plan: &Plan,
    graph: &Graph,
    step: &graph::Step,
    f: impl FnOnce(&[&[T]], &mut [T]) -> R,
) -> R {
    const MAX_INPUTS: usize = 8;
    let out = plan.range(graph, step.output);
    let (before, rest) = arena.split_at_mut(out.start);
    let (output, after) = rest.split_at_mut(out.len());
    let (before, after): (&[T], &[T]) = (before, after);
    let input = |v: ValueIndex| {
        let r = plan.range(graph, v);
        if r.end <= out.start {
            &before[r]
        } else {
            assert!(r.start >= out.end, "an input overlaps the output slot");
            &after[r.start - out.end..r.end - out.end]
        }
    };
    let count = step.inputs.len();
    if count > MAX_INPUTS {
        // Wide concatenations (DenseNet) are rare; collecting them costs one small list.
        let inputs: Vec<&[T]> = step.inputs.iter().map(|&v| input(v)).collect();
        return f(&inputs, output);
    }
    let mut storage: [&[T]; MAX_INPUTS] = [&[]; MAX_INPUTS];
    for (slot, &v) in storage.iter_mut().zip(&step.inputs) {
        *slot = input(v);
    }
    f(&storage[..count], output)
}

#[cfg(test)]
mod tests;
