//! An exported ONNX model computes what our engine computes: in onnxruntime, the float
//! graph gives the f32 engine's logits to float rounding, and the int8 QDQ graph gives the
//! int8 engine's logits to a few steps of the output grid, with the same top-1 class on
//! most images.
//!
//! onnxruntime runs in Python (`bench/onnx_check.py`). Without `onnxruntime` and `numpy`
//! the tests install them with pip, and fail if that fails: they never pass unchecked.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use burn::module::AutodiffModule;
use burn::tensor::{Tensor, TensorData};

use leukoscope_core::artifact::{Calibration, ModelArtifact, Provenance};
use leukoscope_core::engine::Engine;
use leukoscope_core::engine::quantize::{Calibrator, Quantizer};
use leukoscope_core::network::Network;
use leukoscope_core::preprocess::Preprocess;
use leukoscope_core::spec::{ParamRole, Preset, PresetOptions};
use leukoscope_core::taxonomy::Taxonomy;
use leukoscope_trainer::backend::CpuTrain;
use leukoscope_trainer::onnx::{self, OnnxForm};
use prost::Message;

/// Deterministic values in `[lo, hi)`.
struct Stream(u64);

impl Stream {
    fn new(seed: u64) -> Self {
        Stream(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self, lo: f32, hi: f32) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + (hi - lo) * ((self.0 >> 40) as f32 / (1u64 << 24) as f32)
    }

    fn fill(&mut self, len: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..len).map(|_| self.next(lo, hi)).collect()
    }
}

/// A float artifact of `preset` at `size` with seeded weights, batch-norm statistics of
/// real activations and random batch-norm affines.
///
/// Fresh running statistics (mean 0, variance 1) let the signal fade through a deep random
/// network until the logits hardly depend on the input, which would make any comparison
/// pass; training-mode passes over random images move them to the statistics those images
/// produce, as training would, so activations keep their scale through the depth.
fn float_artifact(preset: Preset, size: u32, seed: u64) -> ModelArtifact {
    let spec = preset.build(&PresetOptions {
        input_size: size,
        ..PresetOptions::field(4)
    });
    let device = Default::default();
    let network = Network::<CpuTrain>::new(&spec, seed, &device).unwrap();
    let (batch, side) = (8, size as usize);
    let images = Stream::new(seed).fill(batch * 3 * side * side, -2.0, 2.0);
    let input =
        Tensor::<CpuTrain, 4>::from_data(TensorData::new(images, [batch, 3, side, side]), &device);
    // The momentum is 0.1: after 40 passes the initial statistics weigh 0.9^40 = 1.5%.
    for _ in 0..40 {
        drop(network.forward(input.clone()));
    }
    let mut weights = network.valid().weights();
    let mut stream = Stream::new(seed ^ 0xB4);
    for (tensor, values) in spec
        .parameter_layout()
        .unwrap()
        .iter()
        .zip(&mut weights.tensors)
    {
        let range = match tensor.role {
            ParamRole::Gamma => (0.7, 1.3),
            ParamRole::Beta => (-0.2, 0.2),
            _ => continue,
        };
        *values = stream.fill(values.len(), range.0, range.1);
    }
    ModelArtifact {
        spec,
        taxonomy: Taxonomy::b_all_4(),
        preprocess: Preprocess::field(size, size),
        weights,
        quantized: None,
        calibration: Calibration::default(),
        provenance: Provenance::default(),
        familiarity: None,
    }
}

/// `images` inputs with the spread of normalized images.
fn inputs(engine: &Engine, images: usize, seed: u64) -> Vec<f32> {
    Stream::new(seed).fill(images * engine.input_len(), -2.0, 2.0)
}

fn run_engine(engine: &Engine, inputs: &[f32]) -> Vec<f32> {
    let mut ws = engine.workspace();
    let mut logits = vec![0.0; inputs.len() / engine.input_len() * engine.classes()];
    for (x, l) in inputs
        .chunks_exact(engine.input_len())
        .zip(logits.chunks_exact_mut(engine.classes()))
    {
        engine.run(&mut ws, x, l);
    }
    logits
}

fn python_can_import() -> bool {
    Command::new("python3")
        .args(["-c", "import onnxruntime, numpy"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Makes sure onnxruntime and numpy import, installing them once if needed.
fn ensure_onnxruntime() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        if python_can_import() {
            return;
        }
        eprintln!("onnxruntime or numpy missing: python3 -m pip install onnxruntime numpy");
        let pip = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "onnxruntime", "numpy"])
            .status();
        assert!(
            python_can_import(),
            "the ONNX parity tests need python3 with onnxruntime and numpy, and installing \
             them failed ({pip:?}); run `python3 -m pip install onnxruntime numpy`"
        );
    });
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/onnx_check.py")
}

/// Logits of `model` in onnxruntime for `images` inputs of `[c, h, w]`.
/// How onnxruntime runs a graph: `"all"` fuses QDQ pairs into its integer kernels, whose
/// arithmetic depends on the CPU (on x86 without VNNI its u8 x s8 products saturate 16-bit
/// sums); `"disable"` runs each node as ONNX defines it (dequantize, the float operator,
/// quantize), the same on every machine.
fn onnxruntime(
    model: &onnx::proto::ModelProto,
    inputs: &[f32],
    chw: [usize; 3],
    optimization: &str,
) -> Vec<f32> {
    ensure_onnxruntime();
    let dir = tempfile::tempdir().unwrap();
    let (model_path, input_path, out_path) = (
        dir.path().join("model.onnx"),
        dir.path().join("input.f32"),
        dir.path().join("logits.f32"),
    );
    std::fs::write(&model_path, model.encode_to_vec()).unwrap();
    let bytes: Vec<u8> = inputs.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&input_path, bytes).unwrap();
    let images = inputs.len() / (chw[0] * chw[1] * chw[2]);
    let output = Command::new("python3")
        .arg(script())
        .arg("--model")
        .arg(&model_path)
        .arg("--input")
        .arg(&input_path)
        .arg("--shape")
        .arg(format!("{images},{},{},{}", chw[0], chw[1], chw[2]))
        .arg("--out")
        .arg(&out_path)
        .args(["--optimization", optimization])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "onnx_check.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read(&out_path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn chw(artifact: &ModelArtifact) -> [usize; 3] {
    let i = artifact.spec.input;
    [i.channels as usize, i.height as usize, i.width as usize]
}

/// How much the logits depend on the input: the standard deviation of each class's logit
/// over the images, averaged over the classes. A comparison means little when this is
/// small (a random network whose signal has faded scores every image alike).
fn spread(logits: &[f32], classes: usize) -> f32 {
    let images = logits.len() / classes;
    let total: f32 = (0..classes)
        .map(|c| {
            let column: Vec<f32> = logits.iter().skip(c).step_by(classes).copied().collect();
            let mean = column.iter().sum::<f32>() / images as f32;
            let var = column.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / images as f32;
            var.sqrt()
        })
        .sum();
    total / classes as f32
}

/// Exports `preset` as float ONNX and compares onnxruntime with the f32 engine.
fn float_parity(preset: Preset, size: u32) {
    let artifact = float_artifact(preset, size, 11);
    let engine = Engine::f32(&artifact).unwrap();
    let x = inputs(&engine, 8, 3);
    let ours = run_engine(&engine, &x);
    let model = onnx::export(&artifact, OnnxForm::Float).unwrap();
    let theirs = onnxruntime(&model, &x, chw(&artifact), "all");
    assert_eq!(ours.len(), theirs.len());
    let scale = ours.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let varies = spread(&ours, engine.classes());
    let diff = ours
        .iter()
        .zip(&theirs)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    println!(
        "float {:<16} {size}x{size}: max |logit| {scale:.3}, spread over images {varies:.3}, \
         max abs diff {diff:.2e} ({:.1e} of the largest logit)",
        preset.name(),
        diff / scale.max(1e-12)
    );
    assert!(
        varies > 0.01 * scale,
        "{}: the logits hardly depend on the input; the comparison would prove nothing",
        preset.name()
    );
    assert!(
        diff <= 1e-4 * scale.max(1.0),
        "{}: onnxruntime and the f32 engine differ by {diff} (logits up to {scale})",
        preset.name()
    );
}

#[test]
fn float_tiny_cnn_matches() {
    float_parity(Preset::TinyCnn, 32);
}

#[test]
fn float_edge_s_matches() {
    float_parity(Preset::EdgeS, 64);
}

#[test]
fn float_resnet18_matches() {
    float_parity(Preset::ResNet18, 32);
}

#[test]
fn float_efficientnet_b0_matches() {
    float_parity(Preset::EfficientNetB0, 32);
}

#[test]
fn float_densenet121_matches() {
    float_parity(Preset::DenseNet121, 32);
}

#[test]
fn float_dscnet_matches() {
    float_parity(Preset::DscNet, 64);
}

/// How closely two runs agree, the logits' differences in steps of the output grid.
struct Agreement {
    top1: f32,
    max_steps: f32,
    mean_steps: f32,
}

fn agreement(a: &[f32], b: &[f32], classes: usize, step: f32) -> Agreement {
    let argmax = |l: &[f32]| {
        l.iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                if v > best.1 { (i, v) } else { best }
            })
            .0
    };
    let images = a.len() / classes;
    let same = a
        .chunks_exact(classes)
        .zip(b.chunks_exact(classes))
        .filter(|(x, y)| argmax(x) == argmax(y))
        .count();
    let steps: Vec<f32> = a.iter().zip(b).map(|(x, y)| (x - y).abs() / step).collect();
    Agreement {
        top1: same as f32 / images as f32,
        max_steps: steps.iter().fold(0.0, |m, &s| m.max(s)),
        mean_steps: steps.iter().sum::<f32>() / steps.len() as f32,
    }
}

/// Quantizes `preset` (min-max over random images), exports it as QDQ and compares
/// onnxruntime with the int8 engine; the TensorRT form is checked against the f32 engine.
fn int8_parity(preset: Preset, size: u32) {
    let float = float_artifact(preset, size, 5);
    let f32_engine = Engine::f32(&float).unwrap();
    let mut quantizer = Quantizer::new(&float, Calibrator::MinMax).unwrap();
    for x in inputs(&f32_engine, 16, 21).chunks_exact(f32_engine.input_len()) {
        quantizer.observe(x);
    }
    let int8 = quantizer.finish();
    let step = int8.quantized.as_ref().unwrap().values[f32_engine.graph().output].scale;
    let engine = Engine::new(&int8).unwrap();
    let classes = engine.classes();
    let x = inputs(&engine, 32, 8);
    let ours = run_engine(&engine, &x);
    let reference = run_engine(&f32_engine, &x);
    // As ONNX defines the graph, so that the check is of the export and not of the CPU
    // onnxruntime happens to run on.
    let qdq = onnxruntime(
        &onnx::export(&int8, OnnxForm::Qdq).unwrap(),
        &x,
        chw(&int8),
        "disable",
    );
    let trt = onnxruntime(
        &onnx::export(&int8, OnnxForm::QdqTensorRt).unwrap(),
        &x,
        chw(&int8),
        "disable",
    );
    let exported = agreement(&qdq, &ours, classes, step);
    let quantized = agreement(&ours, &reference, classes, step);
    let tensorrt = agreement(&trt, &reference, classes, step);
    let varies = spread(&reference, classes) / step;
    println!(
        "int8 {:<16} {size}x{size}: spread {varies:.0} steps; QDQ in onnxruntime vs int8 engine: \
         top-1 {:.0}%, mean {:.2} steps, max {:.0}; int8 engine vs f32: top-1 {:.0}%, mean {:.2}; \
         TensorRT form vs f32: top-1 {:.0}%, mean {:.2}",
        preset.name(),
        exported.top1 * 100.0,
        exported.mean_steps,
        exported.max_steps,
        quantized.top1 * 100.0,
        quantized.mean_steps,
        tensorrt.top1 * 100.0,
        tensorrt.mean_steps,
    );
    let name = preset.name();
    assert!(
        varies >= 3.0,
        "{name}: the logits hardly depend on the input; the comparison would prove nothing"
    );
    assert!(
        exported.top1 >= 0.85,
        "{name}: onnxruntime's QDQ top-1 agrees with the int8 engine on only {:.0}% of images",
        exported.top1 * 100.0
    );
    // Rounding differs between the two (onnxruntime's float requantization, our
    // fixed-point one), and a one-step difference early can grow through the depth; it must
    // stay a few steps, and well below what quantizing itself costs.
    assert!(
        exported.mean_steps <= 2.0
            && exported.max_steps <= 16.0
            && exported.mean_steps <= 0.5 * quantized.mean_steps.max(1.0),
        "{name}: onnxruntime's QDQ logits are {:.2} output steps from the int8 engine's on \
         average ({:.0} at most), against {:.2} between the int8 and f32 engines",
        exported.mean_steps,
        exported.max_steps,
        quantized.mean_steps
    );
    // The TensorRT form rounds on coarser grids; it must still be the same model.
    assert!(
        tensorrt.top1 >= 0.75 && tensorrt.mean_steps <= 4.0 * quantized.mean_steps.max(1.0),
        "{name}: the TensorRT form strays from the f32 engine: top-1 {:.0}%, {:.2} steps",
        tensorrt.top1 * 100.0,
        tensorrt.mean_steps
    );
}

#[test]
fn int8_tiny_cnn_matches() {
    int8_parity(Preset::TinyCnn, 32);
}

#[test]
fn int8_edge_s_matches() {
    int8_parity(Preset::EdgeS, 64);
}

#[test]
fn int8_resnet18_matches() {
    int8_parity(Preset::ResNet18, 32);
}

#[test]
fn int8_efficientnet_b0_matches() {
    int8_parity(Preset::EfficientNetB0, 32);
}

#[test]
fn int8_densenet121_matches() {
    int8_parity(Preset::DenseNet121, 32);
}

#[test]
fn int8_dscnet_matches() {
    int8_parity(Preset::DscNet, 64);
}
