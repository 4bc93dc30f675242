//! Training throughput, measured the same way for us and for a peer framework: timed
//! steps (forward, cross-entropy, backward, Adam update) on random inputs.

use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use leukoscope_core::network::Network;
use leukoscope_core::spec::{ModelSpec, SpecError};

/// What one engine achieved.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Throughput {
    /// `leukoscope` or the peer's name.
    pub engine: String,
    /// Where it ran.
    pub device: String,
    /// Examples per step.
    pub batch: usize,
    /// Batch over the median step time.
    pub images_per_s: f64,
    /// Every timed step, in milliseconds.
    pub step_ms: Vec<f64>,
}

/// Times `steps` training steps of `spec` at `batch` after `warmup` untimed ones.
pub fn train_throughput<B: AutodiffBackend>(
    spec: &ModelSpec,
    batch: usize,
    warmup: usize,
    steps: usize,
    device: &B::Device,
    device_name: &str,
) -> Result<Throughput, SpecError> {
    let classes = spec.classes()? as usize;
    let input = spec.input;
    let mut network = Network::<B>::new(spec, 0, device)?;
    let mut optimizer = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let x = Tensor::<B, 4>::random(
        [
            batch,
            input.channels as usize,
            input.height as usize,
            input.width as usize,
        ],
        Distribution::Normal(0.0, 1.0),
        device,
    );
    let labels: Vec<i64> = (0..batch).map(|i| (i % classes) as i64).collect();
    let y = Tensor::<B, 1, Int>::from_data(TensorData::new(labels, [batch]), device);
    let mut step_ms = Vec::with_capacity(steps);
    for step in 0..warmup + steps {
        let started = Instant::now();
        let loss = loss_fn.forward(network.forward(x.clone()), y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &network);
        network = optimizer.step(1e-3, network, grads);
        // Wait for the device, so asynchronous backends are timed for the work, not the launch.
        let _ = B::sync(device);
        if step >= warmup {
            step_ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    let mut sorted = step_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
    Ok(Throughput {
        engine: "leukoscope".into(),
        device: device_name.into(),
        batch,
        images_per_s: batch as f64 / (median / 1e3),
        step_ms,
    })
}
