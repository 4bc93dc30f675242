use alloc::vec;
use alloc::vec::Vec;

use burn::backend::Autodiff;
use burn::module::AutodiffModule;
use burn::tensor::{Distribution, Tensor, TensorData};
use burn_flex::Flex;

use super::*;
use crate::spec::{Conv2d as ConvSpec, InputKind, InputSpec, Preset, PresetOptions, SpecBuilder};

type Cpu = Flex;

fn options(size: u32, classes: u32) -> PresetOptions {
    PresetOptions {
        input_size: size,
        ..PresetOptions::field(classes)
    }
}

fn random_input(batch: usize, size: usize) -> Tensor<Cpu, 4> {
    Tensor::random(
        [batch, 3, size, size],
        Distribution::Normal(0.0, 1.0),
        &Default::default(),
    )
}

fn max_abs_diff(a: Tensor<Cpu, 2>, b: Tensor<Cpu, 2>) -> f32 {
    (a - b).abs().max().into_scalar()
}

#[test]
fn every_preset_runs_forward_and_keeps_its_weights() {
    let device = Default::default();
    for preset in Preset::ALL {
        // The smallest size at which every preset still has a valid shape (AlexNet's 11x11
        // stride-4 stem and three pools).
        let spec = preset.build(&options(64, 3));
        let network = Network::<Cpu>::new(&spec, 1, &device).unwrap();
        let input = random_input(2, 64);
        let logits = network.forward(input.clone());
        assert_eq!(logits.dims(), [2, 3], "{preset}");

        let weights = network.weights();
        let layout = spec.parameter_layout().unwrap();
        assert_eq!(weights.tensors.len(), layout.len(), "{preset}");
        for (values, tensor) in weights.tensors.iter().zip(&layout) {
            assert_eq!(
                values.len() as u64,
                tensor.len(),
                "{preset} node {}",
                tensor.node
            );
        }
        let reloaded = Network::<Cpu>::from_weights(&spec, &weights, &device).unwrap();
        assert_eq!(reloaded.weights(), weights, "{preset}");
        let again = reloaded.forward(input);
        // Reloaded dense weights may sit in another memory order, which changes the
        // summation order of the matrix product, not the result.
        let diff = max_abs_diff(logits, again);
        assert!(diff < 1e-4, "{preset}: {diff}");
    }
}

#[test]
fn forward_matches_hand_computation() {
    // input 1x2x2 -> conv 1x1 (w = 2, b = 1) -> relu -> global mean -> dense [[1], [-1]] + [0, 3]
    let mut b = SpecBuilder::new(
        "hand",
        InputSpec {
            channels: 1,
            height: 2,
            width: 2,
            kind: InputKind::Cell,
            um_per_px: 1.0,
        },
    );
    b.conv(ConvSpec {
        bias: true,
        ..ConvSpec::square(1, 1, 1, 0)
    });
    b.act(Activation::Relu);
    b.global_avg_pool();
    b.dense(2);
    let spec = b.build();
    let weights = Weights {
        tensors: vec![vec![2.0], vec![1.0], vec![1.0, -1.0], vec![0.0, 3.0]],
    };
    let device = Default::default();
    let network = Network::<Cpu>::from_weights(&spec, &weights, &device).unwrap();
    let input = Tensor::<Cpu, 4>::from_data(
        TensorData::new(vec![1.0f32, -3.0, 0.5, 2.0], [1, 1, 2, 2]),
        &device,
    );
    // conv: 3, -5, 2, 5 -> relu: 3, 0, 2, 5 -> mean 2.5 -> [2.5, 0.5]
    let logits: Vec<f32> = network.forward(input).into_data().into_vec().unwrap();
    assert_eq!(logits, vec![2.5, 0.5]);
}

#[test]
fn wrong_weights_are_refused() {
    let spec = Preset::SimpleCnn.build(&options(32, 2));
    let device = Default::default();
    let mut weights = Network::<Cpu>::new(&spec, 1, &device).unwrap().weights();
    weights.tensors[1].push(0.0);
    assert!(matches!(
        Network::<Cpu>::from_weights(&spec, &weights, &device),
        Err(ArtifactError::TensorSize { tensor: 1, .. })
    ));
    weights.tensors.pop();
    assert!(matches!(
        Network::<Cpu>::from_weights(&spec, &weights, &device),
        Err(ArtifactError::TensorCount { .. })
    ));
}

#[test]
fn gradients_reach_every_trainable_tensor_and_batch_norm_learns_statistics() {
    type Train = Autodiff<Cpu>;
    let device = Default::default();
    let spec = Preset::EfficientNetB0.build(&options(32, 2));
    let network = Network::<Train>::new(&spec, 2, &device).unwrap();
    let input = Tensor::<Train, 4>::random([2, 3, 32, 32], Distribution::Normal(0.5, 1.0), &device);
    let loss = network.forward(input).powf_scalar(2.0).mean();
    let grads = loss.backward();
    let mut missing = 0;
    for layer in network.layers.iter().flatten() {
        let has = match layer {
            Layer::Conv(c) => c.weight.val().grad(&grads).is_some(),
            Layer::Norm(n) => n.gamma.val().grad(&grads).is_some(),
            Layer::Dense(d) => d.weight.val().grad(&grads).is_some(),
            Layer::Excite(e) => e.reduce.weight.val().grad(&grads).is_some(),
        };
        if !has {
            missing += 1;
        }
    }
    assert_eq!(missing, 0, "layers without gradient");
    assert!(network.layers.iter().flatten().count() > 50);
    // The training pass updated the running statistics away from their 0 / 1 start.
    let valid = network.valid();
    let stats = valid.weights();
    let layout = spec.parameter_layout().unwrap();
    let first_mean = layout
        .iter()
        .position(|t| t.role == crate::spec::ParamRole::RunningMean)
        .unwrap();
    assert!(stats.tensors[first_mean].iter().any(|&m| m != 0.0));
}

#[test]
fn running_statistics_converge_to_the_batch_statistics() {
    type Train = Autodiff<Cpu>;
    let device = Default::default();
    let spec = Preset::TinyCnn.build(&options(32, 3));
    let network = Network::<Train>::new(&spec, 2, &device).unwrap();
    let input =
        Tensor::<Train, 4>::random([64, 3, 32, 32], Distribution::Normal(0.3, 2.0), &device);
    let mut training = network.forward(input.clone());
    for _ in 0..100 {
        training = network.forward(input.clone());
    }
    let inference = network.valid().forward(input.inner());
    // Once the running averages have converged, inference on the same batch matches
    // training mode up to the unbiased-variance correction.
    let diff = (training.inner() - inference.clone())
        .abs()
        .max()
        .into_scalar();
    let scale = inference.abs().max().into_scalar();
    assert!(diff < 0.02 * scale.max(1.0), "diff {diff} at scale {scale}");
}

#[test]
fn initialization_depends_on_the_seed_alone() {
    let device = Default::default();
    let spec = Preset::EdgeS.build(&options(64, 4));
    let a = Network::<Cpu>::new(&spec, 5, &device).unwrap().weights();
    let b = Network::<Cpu>::new(&spec, 5, &device).unwrap().weights();
    let c = Network::<Cpu>::new(&spec, 6, &device).unwrap().weights();
    assert_eq!(a, b);
    assert_ne!(a, c);
    // PyTorch's default bounds: the first convolution has fan-in 3 * 3 * 3.
    let bound = 1.0 / 27f32.sqrt();
    assert!(a.tensors[0].iter().all(|w| w.abs() <= bound));
    assert!(a.tensors[0].iter().any(|w| w.abs() > 0.9 * bound));
}
