use alloc::vec;
use alloc::vec::Vec;

use super::graph::{StepOp, lower};
use super::kernels::per_isa::per_isa;
use super::quantize::{ActivationStats, Calibrator, Quantizer};
use super::*;
use crate::artifact::{Calibration, ModelArtifact, Provenance};
use crate::params::{QParams, QuantizedStep, Weights};
use crate::preprocess::Preprocess;
use crate::spec::{ModelSpec, ParamRole, Preset, PresetOptions};
use crate::taxonomy::Taxonomy;

/// A small deterministic generator, so the tests need no dependency for randomness.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn spec(preset: Preset, size: u32) -> ModelSpec {
    preset.build(&PresetOptions {
        input_size: size,
        ..PresetOptions::field(4)
    })
}

/// Weights scaled like a trained network's (He-style fan-in scaling) with batch-norm
/// statistics far from the identity, so that folding them is exercised.
fn weights(spec: &ModelSpec, seed: u64) -> Weights {
    weights_with_gain(spec, seed, 1.4)
}

/// Weights whose layers multiply the signal's spread by about `gain`: above 1 a random
/// deep network is chaotic (any rounding grows layer by layer, which no trained network
/// does), so the int8 tests use a tamer gain than the float ones.
fn weights_with_gain(spec: &ModelSpec, seed: u64, gain: f32) -> Weights {
    let mut rng = Lcg(seed);
    let tensors = spec
        .parameter_layout()
        .unwrap()
        .iter()
        .map(|t| {
            let n = t.len() as usize;
            let fan_in = t.shape.iter().skip(1).product::<u32>().max(1) as f32;
            (0..n)
                .map(|_| {
                    let r = rng.next();
                    match t.role {
                        ParamRole::Weight | ParamRole::ReduceWeight | ParamRole::ExpandWeight => {
                            r * (3.0 / fan_in).sqrt() * gain
                        }
                        ParamRole::Gamma => 1.0 + 0.3 * r,
                        ParamRole::Beta | ParamRole::Bias => 0.1 * r,
                        ParamRole::ReduceBias | ParamRole::ExpandBias => 0.1 * r,
                        ParamRole::RunningMean => 0.2 * r,
                        ParamRole::RunningVar => 1.0 + 0.5 * r,
                    }
                })
                .collect()
        })
        .collect();
    Weights { tensors }
}

fn artifact(spec: ModelSpec, weights: Weights) -> ModelArtifact {
    let input = spec.input;
    ModelArtifact {
        spec,
        taxonomy: Taxonomy::b_all_4(),
        preprocess: Preprocess::cell(input.height, input.width),
        weights,
        quantized: None,
        calibration: Calibration::default(),
        provenance: Provenance::default(),
        familiarity: None,
    }
}

fn inputs(engine: &Engine, count: usize, seed: u64) -> Vec<f32> {
    let mut rng = Lcg(seed);
    (0..count * engine.input_len())
        .map(|_| 1.5 * rng.next())
        .collect()
}

fn logits(engine: &Engine, inputs: &[f32]) -> Vec<f32> {
    let mut ws = engine.workspace();
    let mut out = vec![0.0; inputs.len() / engine.input_len() * engine.classes()];
    for (x, y) in inputs
        .chunks_exact(engine.input_len())
        .zip(out.chunks_exact_mut(engine.classes()))
    {
        engine.run(&mut ws, x, y);
    }
    out
}

/// Calibrates on `calibration` images and returns the int8 artifact.
fn quantized(float: &ModelArtifact, calibration: &[f32], calibrator: Calibrator) -> ModelArtifact {
    let mut quantizer = Quantizer::new(float, calibrator).unwrap();
    let input_len = Engine::f32(float).unwrap().input_len();
    for pass in 0..quantizer.passes() {
        quantizer.start_pass(pass);
        for x in calibration.chunks_exact(input_len) {
            quantizer.observe(x);
        }
    }
    quantizer.finish()
}

const PARITY_PRESETS: [(Preset, u32); 7] = [
    (Preset::TinyCnn, 48),
    (Preset::EdgeS, 64),
    (Preset::ResNet18, 64),
    (Preset::EfficientNetB0, 64),
    (Preset::DenseNet121, 64),
    (Preset::DscNet, 64),
    (Preset::SimpleCnn, 48),
];

#[cfg(feature = "burn")]
#[test]
fn f32_engine_matches_the_burn_network() {
    use burn::tensor::{Tensor, TensorData};
    use burn_flex::Flex;
    let device = Default::default();
    for (preset, size) in PARITY_PRESETS {
        let spec = spec(preset, size);
        let w = weights(&spec, 7);
        let network = crate::network::Network::<Flex>::from_weights(&spec, &w, &device).unwrap();
        let engine = Engine::f32(&artifact(spec, w)).unwrap();
        let x = inputs(&engine, 2, 3);
        let side = size as usize;
        let burn_logits: Vec<f32> = network
            .forward(Tensor::from_data(
                TensorData::new(x.clone(), [2, 3, side, side]),
                &device,
            ))
            .into_data()
            .to_vec()
            .unwrap();
        let ours = logits(&engine, &x);
        let scale = burn_logits.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = ours
            .iter()
            .zip(&burn_logits)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            diff < 1e-4 * scale.max(1.0),
            "{preset}: max |diff| {diff} at logit scale {scale}"
        );
    }
}

#[test]
fn folding_removes_batch_norm_and_fuses_relu() {
    let (graph, params) = lower(&spec(Preset::EdgeS, 64), None).unwrap();
    assert!(params.is_empty());
    let convs = graph.conv_steps();
    // edge-s: every conv is followed by a batch norm, all of which fold away; ReLU6 fuses.
    assert!(
        graph
            .steps
            .iter()
            .all(|s| matches!(s.op, StepOp::Conv(_) | StepOp::Add | StepOp::GlobalAvgPool)),
        "{:?}",
        graph.steps.iter().map(|s| &s.op).collect::<Vec<_>>()
    );
    assert!(convs > 40);
}

#[test]
fn plan_never_lets_live_values_share_memory() {
    for preset in Preset::ALL {
        let spec = spec(preset, 64);
        let (graph, _) = lower(&spec, None).unwrap();
        let plan = Plan::new(&graph);
        let n = graph.values.len();
        let mut first = vec![0usize; n];
        let mut last = vec![0usize; n];
        for (i, s) in graph.steps.iter().enumerate() {
            first[s.output] = i;
            last[s.output] = last[s.output].max(i);
            for &v in &s.inputs {
                last[v] = last[v].max(i);
            }
        }
        last[graph.output] = graph.steps.len();
        for a in 0..n {
            for b in a + 1..n {
                let live_together = first[a] <= last[b] && first[b] <= last[a];
                let ra = plan.range(&graph, a);
                let rb = plan.range(&graph, b);
                let overlap = ra.start < rb.end && rb.start < ra.end;
                assert!(!(live_together && overlap), "{preset}: values {a} and {b}");
            }
        }
        let total: usize = (0..n).map(|v| graph.elements(v)).sum();
        assert!(plan.arena_elements <= total + 16 * n, "{preset}");
    }
}

#[test]
fn batches_on_threads_give_the_same_logits_as_one_by_one() {
    let spec = spec(Preset::TinyCnn, 48);
    let w = weights(&spec, 1);
    let engine = Engine::f32(&artifact(spec, w)).unwrap();
    let x = inputs(&engine, 5, 9);
    let one_by_one = logits(&engine, &x);
    #[cfg(feature = "std")]
    {
        let mut workspaces = vec![engine.workspace(), engine.workspace()];
        let mut batched = vec![0.0; one_by_one.len()];
        engine.run_batch(&mut workspaces, &x, &mut batched);
        assert_eq!(batched, one_by_one);
    }
    assert!(one_by_one.iter().all(|v| v.is_finite()));
}

/// The features read after a run are the value the last step consumes, as an observed run
/// reports it, in f32 and in int8, one image at a time and in a batch.
#[test]
fn the_features_after_a_run_are_what_the_last_layer_reads() {
    let spec = spec(Preset::EdgeS, 64);
    let w = weights(&spec, 3);
    let float = artifact(spec, w);
    let calibration = inputs(&Engine::f32(&float).unwrap(), 4, 5);
    let int8 = quantized(&float, &calibration, Calibrator::MinMax);
    for engine in [Engine::f32(&float).unwrap(), Engine::new(&int8).unwrap()] {
        let graph = engine.graph();
        let last = graph.steps.last().unwrap();
        assert_eq!(last.output, graph.output);
        assert_eq!(graph.features(), last.inputs[0]);
        assert!(
            matches!(last.op, StepOp::Conv(_)),
            "a dense layer reads them"
        );
        let x = inputs(&engine, 3, 11);
        let mut ws = engine.workspace();
        let mut one_by_one = Vec::new();
        for image in x.chunks_exact(engine.input_len()) {
            let mut observed = Vec::new();
            let mut logits = vec![0.0; engine.classes()];
            engine.run_observed(&mut ws, image, &mut logits, &mut |v, data| {
                if v == graph.features() {
                    observed = data.to_vec();
                }
            });
            let mut features = vec![0.0; engine.features_len()];
            engine.features(&ws, &mut features);
            assert_eq!(features, observed, "{:?}", engine.precision());
            assert!(features.iter().any(|&f| f != 0.0));
            one_by_one.extend(features);
        }
        #[cfg(feature = "std")]
        {
            let mut workspaces = vec![engine.workspace(), engine.workspace()];
            let mut logits = vec![0.0; 3 * engine.classes()];
            let mut batched = vec![0.0; one_by_one.len()];
            engine.run_batch_with_features(&mut workspaces, &x, &mut logits, &mut batched);
            assert_eq!(batched, one_by_one);
            assert_eq!(logits, self::logits(&engine, &x));
        }
    }
}

/// The int8 network tracks the f32 one: same top class on almost every input, logits within
/// a few output steps.
#[test]
fn int8_tracks_f32_on_every_preset_family() {
    for (preset, size) in PARITY_PRESETS {
        let spec = spec(preset, size);
        let w = weights_with_gain(&spec, 5, 1.0);
        let float = artifact(spec, w);
        let f32_engine = Engine::f32(&float).unwrap();
        let calibration = inputs(&f32_engine, 16, 11);
        let int8 = quantized(&float, &calibration, Calibrator::MinMax);
        int8.validate().unwrap();
        let int8_engine = Engine::new(&int8).unwrap();
        assert_eq!(int8_engine.precision(), Precision::Int8);
        let test = inputs(&f32_engine, 16, 12);
        let reference = logits(&f32_engine, &test);
        let ours = logits(&int8_engine, &test);
        let range = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let worst = reference
            .iter()
            .zip(&ours)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            worst < 0.15 * range.max(1e-3),
            "{preset}: int8 logits off by {worst} at logit range {range}"
        );
    }
}

per_isa! {
    fn every_instruction_set_gives_the_same_int8_logits(isa) {
        let spec = spec(Preset::EdgeS, 64);
        let float = artifact(spec.clone(), weights(&spec, 3));
        let f32_engine = Engine::f32(&float).unwrap();
        let x = inputs(&f32_engine, 4, 5);
        let int8 = quantized(&float, &x, Calibrator::Percentile(99.9));
        let reference = logits(&Engine::int8(&int8, Isa::Scalar).unwrap(), &x);
        let engine = Engine::int8(&int8, isa).unwrap();
        assert_eq!(engine.isa(), isa);
        assert_eq!(logits(&engine, &x), reference, "{}", isa.name());
    }
}

#[test]
fn histogram_calibrators_clip_outliers() {
    let mut stats = ActivationStats::new(1, Calibrator::Percentile(99.0));
    let mut values: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
    values.push(100.0);
    stats.observe(0, &values);
    stats.start_histograms();
    stats.observe(0, &values);
    let (lo, hi) = stats.ranges()[0];
    assert!(lo <= 0.01 && hi < 1.5, "{lo}..{hi}");

    // Squared error only pays for clipping one outlier when enough values gain precision:
    // with 100 000 values below 1 and one at 100, the optimum is near 89.
    let mut many: Vec<f32> = (0..100_000).map(|i| i as f32 / 100_000.0).collect();
    many.push(100.0);
    let mut mse = ActivationStats::new(1, Calibrator::Mse);
    mse.observe(0, &many);
    mse.start_histograms();
    mse.observe(0, &many);
    let (_, hi) = mse.ranges()[0];
    assert!((80.0..95.0).contains(&hi), "mse clips at {hi}");

    let mut minmax = ActivationStats::new(1, Calibrator::MinMax);
    minmax.observe(0, &values);
    assert_eq!(minmax.ranges()[0], (0.0, 100.0));
}

#[test]
fn quantization_parameters_cover_their_range_and_zero() {
    let q = QParams::covering(-1.0, 3.0);
    assert_eq!(q.quantize(0.0), q.zero_point);
    assert!((q.dequantize(q.quantize(-1.0)) + 1.0).abs() <= q.scale);
    assert!((q.dequantize(q.quantize(3.0)) - 3.0).abs() <= q.scale);
    assert_eq!(q.quantize(1e9), 127);
    assert_eq!(q.quantize(-1e9), -128);
    // A ReLU output: 0 is the lowest code.
    let relu = QParams::covering(0.0, 6.0);
    assert_eq!(relu.zero_point, -128);
}

#[test]
fn an_int8_model_that_does_not_fit_its_network_is_refused() {
    let spec = spec(Preset::TinyCnn, 48);
    let float = artifact(spec.clone(), weights(&spec, 3));
    let x = inputs(&Engine::f32(&float).unwrap(), 2, 5);
    let good = quantized(&float, &x, Calibrator::MinMax);
    let q = good.quantized.clone().unwrap();

    let mut bad = q.clone();
    bad.steps.pop();
    assert!(matches!(
        Engine::from_quantized(lower(&spec, None).unwrap().0, &bad, Isa::Scalar),
        Err(EngineError::Quantization(_))
    ));
    let mut bad = q.clone();
    if let Some(QuantizedStep::Conv(c)) = bad.steps.first_mut() {
        c.weights.pop();
    }
    let artifact = ModelArtifact {
        quantized: Some(bad),
        ..good.clone()
    };
    assert!(artifact.validate().is_err());
    let mut bad = q.clone();
    if let Some(QuantizedStep::Conv(c)) = bad.steps.first_mut() {
        c.requant[0].shift = 0;
    }
    assert!(bad.check(&lower(&spec, None).unwrap().0).is_err());
    let mut bad = q;
    bad.values[0].scale = f32::NAN;
    assert!(bad.check(&lower(&spec, None).unwrap().0).is_err());

    assert_eq!(Engine::f32(&good).unwrap_err(), EngineError::NoFloatWeights);
    assert_eq!(
        Engine::int8(&float, Isa::Scalar).unwrap_err(),
        EngineError::NotQuantized
    );
    let both = ModelArtifact {
        weights: float.weights.clone(),
        ..good
    };
    assert!(matches!(
        both.validate(),
        Err(crate::artifact::ArtifactError::BothWeightKinds)
    ));
}

#[test]
fn an_int8_artifact_round_trips_and_is_about_a_quarter_the_size() {
    let spec = spec(Preset::EdgeS, 64);
    let float = artifact(spec.clone(), weights(&spec, 3));
    let x = inputs(&Engine::f32(&float).unwrap(), 2, 5);
    let int8 = quantized(&float, &x, Calibrator::Mse);
    let float_bytes = float.encode().unwrap();
    let int8_bytes = int8.encode().unwrap();
    let decoded = ModelArtifact::decode(&int8_bytes, &crate::artifact::TrustPolicy::any())
        .unwrap()
        .artifact;
    assert_eq!(decoded, int8);
    let ratio = int8_bytes.len() as f64 / float_bytes.len() as f64;
    assert!(ratio < 0.4, "int8 artifact is {ratio:.2} of the float one");
}

/// Counts this thread's heap allocations, to prove that running allocates nothing.
#[cfg(feature = "std")]
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    std::thread_local! {
        static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    }

    struct Counting;

    // SAFETY: defers to the system allocator; the counter is a const-initialized
    // thread-local without destructor, so touching it never allocates.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
            // SAFETY: same contract as ours.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: same contract as ours.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;

    pub fn allocations() -> usize {
        ALLOCATIONS.with(Cell::get)
    }
}

#[cfg(feature = "std")]
#[test]
fn running_allocates_nothing() {
    let spec = spec(Preset::EdgeS, 64);
    let float = artifact(spec.clone(), weights(&spec, 3));
    let f32_engine = Engine::f32(&float).unwrap();
    let x = inputs(&f32_engine, 2, 5);
    let int8 = quantized(&float, &x, Calibrator::MinMax);
    for engine in [f32_engine, Engine::new(&int8).unwrap()] {
        let mut ws = engine.workspace();
        let mut out = vec![0.0; engine.classes()];
        let image = &x[..engine.input_len()];
        engine.run(&mut ws, image, &mut out);
        let before = counting::allocations();
        engine.run(&mut ws, image, &mut out);
        assert_eq!(
            counting::allocations(),
            before,
            "{} run allocated",
            engine.precision().as_str()
        );
        assert!(engine.arena_bytes() > 0);
    }
}
