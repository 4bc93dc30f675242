//! Post-training quantization of a trained model on calibration images, and the side-by-side
//! check of its f32 and int8 forms on validation images, both run by the core's engine
//! (the code the boards run), not by burn.

use leukoscope_core::artifact::{Metric, ModelArtifact, softmax};
use leukoscope_core::engine::graph::lower;
use leukoscope_core::engine::quantize::{Calibrator, Quantizer};
use leukoscope_core::engine::{Engine, EngineError};
use rayon::prelude::*;

use crate::loader::SampleSource;
use crate::metrics::{Evaluation, MetricsError, argmax, evaluate};

/// Why a model could not be quantized or compared.
#[derive(Debug, thiserror::Error)]
pub enum QuantizationError {
    /// The model cannot run in the engine.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Its network is invalid.
    #[error(transparent)]
    Spec(#[from] leukoscope_core::spec::SpecError),
    /// Not one calibration image could be read.
    #[error("none of the {0} calibration images could be read")]
    NoCalibrationImages(usize),
    /// The figures could not be computed.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// Fine-tuning failed.
    #[error("quantization-aware fine-tuning failed")]
    FineTune(#[from] crate::fit::FitError),
}

/// The int8 artifact of float `artifact`, with activation ranges chosen by `calibrator` on
/// the images of `calibration`. Returns it with the number of images that could not be read.
pub fn quantize_artifact<S: SampleSource>(
    artifact: &ModelArtifact,
    calibration: &S,
    calibrator: Calibrator,
) -> Result<(ModelArtifact, usize), QuantizationError> {
    let mut quantizer = Quantizer::new(artifact, calibrator)?;
    let mut unreadable = 0;
    for pass in 0..quantizer.passes() {
        quantizer.start_pass(pass);
        unreadable = 0;
        // Decoding runs in parallel; the observation, which updates shared statistics,
        // runs in order.
        for chunk in (0..calibration.len()).collect::<Vec<_>>().chunks(32) {
            let inputs: Vec<Result<Vec<f32>, String>> = chunk
                .par_iter()
                .map(|&i| calibration.input(i, 0, 0))
                .collect();
            for input in inputs {
                match input {
                    Ok(x) => quantizer.observe(&x),
                    Err(_) => unreadable += 1,
                }
            }
        }
    }
    if unreadable == calibration.len() {
        return Err(QuantizationError::NoCalibrationImages(unreadable));
    }
    Ok((quantizer.finish(), unreadable))
}

/// Class probabilities (softmax of the logits at the artifact's temperature) of every
/// readable sample, with labels and the count of unreadable samples; images run in
/// parallel, one engine workspace per worker.
pub fn engine_probabilities<S: SampleSource>(
    engine: &Engine,
    temperature: f32,
    source: &S,
) -> (Vec<Vec<f32>>, Vec<u32>, usize) {
    let (logits, labels, unreadable) = engine_logits(engine, source);
    let probabilities = logits.iter().map(|l| softmax(l, temperature)).collect();
    (probabilities, labels, unreadable)
}

/// The logits of every readable sample, with labels and the count of unreadable samples.
pub fn engine_logits<S: SampleSource>(
    engine: &Engine,
    source: &S,
) -> (Vec<Vec<f32>>, Vec<u32>, usize) {
    let results = engine_logits_each(engine, source);
    let unreadable = results.iter().filter(|r| r.is_none()).count();
    let logits = results.into_iter().flatten();
    let (labels, logits) = logits.map(|(i, l)| (source.label(i), l)).unzip();
    (logits, labels, unreadable)
}

/// Each sample's position in `source` and logits, `None` where it could not be read; images
/// run in parallel, one engine workspace per worker.
pub fn engine_logits_each<S: SampleSource>(
    engine: &Engine,
    source: &S,
) -> Vec<Option<(usize, Vec<f32>)>> {
    (0..source.len())
        .into_par_iter()
        .map_init(
            || engine.workspace(),
            |workspace, i| {
                let x = source.input(i, 0, 0).ok()?;
                let mut logits = vec![0.0; engine.classes()];
                engine.run(workspace, &x, &mut logits);
                Some((i, logits))
            },
        )
        .collect()
}

/// The float and int8 forms of one model on the same images.
#[derive(Debug)]
pub struct Comparison {
    /// The f32 engine's figures.
    pub float: Evaluation,
    /// The int8 engine's figures.
    pub int8: Evaluation,
    /// Share of images on which both give the same top class.
    pub top1_agreement: f64,
}

impl Comparison {
    /// Macro F1 lost by quantizing, in points (hundredths).
    pub fn macro_f1_drop_points(&self) -> f64 {
        (self.float.macro_f1 - self.int8.macro_f1) * 100.0
    }

    /// The figures for an artifact's provenance.
    pub fn metrics(&self) -> Vec<Metric> {
        let metric = |name: &str, value: f64| Metric {
            name: name.into(),
            value,
        };
        vec![
            metric("f32_accuracy", self.float.accuracy),
            metric("f32_macro_f1", self.float.macro_f1),
            metric("int8_accuracy", self.int8.accuracy),
            metric("int8_macro_f1", self.int8.macro_f1),
            metric("int8_top1_agreement", self.top1_agreement),
        ]
    }
}

/// Runs both forms on `validation` and compares them.
pub fn compare<S: SampleSource>(
    float: &ModelArtifact,
    int8: &ModelArtifact,
    validation: &S,
) -> Result<Comparison, QuantizationError> {
    let t = float.calibration.temperature;
    let (pf, labels, skipped) = engine_probabilities(&Engine::f32(float)?, t, validation);
    let (pq, _, _) = engine_probabilities(&Engine::new(int8)?, t, validation);
    let agree = pf
        .iter()
        .zip(&pq)
        .filter(|(a, b)| argmax(a) == argmax(b))
        .count();
    Ok(Comparison {
        float: evaluate(&pf, &labels, &float.taxonomy, skipped as u64)?,
        int8: evaluate(&pq, &labels, &float.taxonomy, skipped as u64)?,
        top1_agreement: agree as f64 / pf.len().max(1) as f64,
    })
}

/// Quantization-aware fine-tuning: `epochs` more epochs of training on `train` starting
/// from `float`'s weights, with the int8 rounding of `int8` (its weight grids and
/// calibrated activation grids) simulated in the forward pass, so the weights settle where
/// rounding costs least. Returns the float artifact with the fine-tuned weights, to be
/// quantized again. Runs on the CPU.
pub fn fine_tune_quantized<S, V>(
    float: &ModelArtifact,
    int8: &ModelArtifact,
    train: std::sync::Arc<S>,
    valid: std::sync::Arc<V>,
    recipe: &crate::fit::Recipe,
    observer: &mut dyn FnMut(crate::fit::Progress<'_>),
) -> Result<ModelArtifact, QuantizationError>
where
    S: SampleSource,
    V: SampleSource,
{
    use leukoscope_core::network::FakeQuant;
    let (graph, _) = lower(&float.spec, None)?;
    let quantized = int8
        .quantized
        .as_ref()
        .ok_or(QuantizationError::Engine(EngineError::NotQuantized))?;
    let recipe = crate::fit::Recipe {
        initial_weights: Some(float.weights.clone()),
        fake_quant: Some(FakeQuant::from_quantized(&graph, quantized)),
        ..recipe.clone()
    };
    let trained = crate::fit::fit::<crate::backend::CpuTrain, S, V>(
        &float.spec,
        &float.taxonomy,
        train,
        valid,
        &recipe,
        &Default::default(),
        None,
        observer,
    )?;
    Ok(ModelArtifact {
        weights: trained.best.weights(),
        // New weights, new features: a profile of the old ones would measure nothing.
        familiarity: None,
        ..float.clone()
    })
}

/// Largest difference between the f32 engine's logits and the burn network's on the first
/// `count` readable samples of `source`: the engine must be the network it was trained as.
pub fn engine_matches_burn<S: SampleSource>(
    float: &ModelArtifact,
    source: &S,
    count: usize,
) -> Result<f32, QuantizationError> {
    use burn::tensor::{Tensor, TensorData};
    let engine = Engine::f32(float)?;
    let device = Default::default();
    let network = leukoscope_core::network::Network::<crate::backend::Cpu>::from_weights(
        &float.spec,
        &float.weights,
        &device,
    )
    .map_err(|_| QuantizationError::Engine(EngineError::WeightLayout))?;
    let [c, h, w] = source.input_shape();
    let mut workspace = engine.workspace();
    let mut ours = vec![0.0; engine.classes()];
    let mut worst = 0.0f32;
    for x in (0..source.len())
        .filter_map(|i| source.input(i, 0, 0).ok())
        .take(count)
    {
        engine.run(&mut workspace, &x, &mut ours);
        let theirs: Vec<f32> = network
            .forward(Tensor::from_data(TensorData::new(x, [1, c, h, w]), &device))
            .into_data()
            .convert::<f32>()
            .into_vec()
            .unwrap_or_default();
        for (a, b) in ours.iter().zip(&theirs) {
            worst = worst.max((a - b).abs());
        }
    }
    Ok(worst)
}
