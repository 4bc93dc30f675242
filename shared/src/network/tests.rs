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

#[test]
fn he_initialization_keeps_the_signal_through_a_plain_relu_stack() {
    // VGG-16: sixteen weight layers, no batch norm. Drawn as PyTorch's default, the logits
    // of different images hardly differ (each ReLU layer passes on about a sixth of its
    // input's variance), and SGD left it at chance (docs/results.md); drawn as He's,
    // their spread stays near the input's.
    let device = Default::default();
    let spec = Preset::Vgg16.build(&options(32, 4));
    let input = random_input(8, 32);
    let spread = |initialization| -> f32 {
        let network = Network::<Cpu>::initialized(&spec, 3, initialization, &device).unwrap();
        let logits = network.forward(input.clone());
        logits.var(0).mean().sqrt().into_scalar()
    };
    let (uniform, he) = (spread(Initialization::Uniform), spread(Initialization::He));
    assert!(uniform < 1e-3, "uniform: logits spread {uniform}");
    assert!((0.05..20.0).contains(&he), "he: logits spread {he}");
    let weights = Network::<Cpu>::initialized(&spec, 3, Initialization::He, &device)
        .unwrap()
        .weights();
    let bound = (6f32 / 27.0).sqrt();
    assert!(weights.tensors[0].iter().all(|w| w.abs() <= bound));
    assert!(weights.tensors[0].iter().any(|w| w.abs() > 0.9 * bound));
    assert!(
        weights.tensors[1].iter().all(|b| *b == 0.0),
        "biases start at zero"
    );
    assert_eq!("He".parse(), Ok(Initialization::He));
    assert_eq!("uniform".parse(), Ok(Initialization::Uniform));
    assert_eq!(
        "xavier".parse::<Initialization>(),
        Err(UnknownInitialization)
    );
}

/// The fused CPU batch norm gives the composed one's output, gradients (input, scale,
/// shift) and running statistics, for maps and for vectors (one position a row).
#[cfg(feature = "fused-cpu")]
#[test]
fn the_fused_batch_norm_matches_the_composed_one_forward_and_backward() {
    type Train = Autodiff<Flex>;
    let device = Default::default();
    // Fixed values (a wave), so the comparison never meets an unlucky draw: two examples
    // of one position each would amplify rounding a thousandfold.
    let wave = |len: usize, phase: f32, scale: f32, offset: f32| {
        (0..len)
            .map(|i| offset + scale * (i as f32 * 0.73 + phase).sin())
            .collect::<Vec<f32>>()
    };
    for (batch, channels, positions) in [(4, 3, 25), (16, 5, 1), (3, 8, 130)] {
        let tensor = |values: Vec<f32>, dims: [usize; 2]| {
            Tensor::<Train, 2>::from_data(TensorData::new(values, dims), &device)
        };
        let gamma = tensor(wave(channels, 0.3, 0.5, 1.0), [1, channels]).reshape([channels]);
        let beta = tensor(wave(channels, 1.1, 1.0, 0.0), [1, channels]).reshape([channels]);
        let dims = [batch * channels, positions];
        let x = tensor(wave(dims[0] * dims[1], 0.0, 2.0, 3.0), dims);
        // A weighted sum, so every output's gradient differs.
        let weights = tensor(wave(dims[0] * dims[1], 2.0, 1.0, 0.2), dims);
        let run = |fused: bool| {
            // A norm of its own: clones share their running statistics.
            let mut norm = ChannelNorm::<Train>::new(channels, 1e-5, &device);
            norm.gamma = Param::from_tensor(gamma.clone());
            norm.beta = Param::from_tensor(beta.clone());
            let x = x.clone().detach().require_grad();
            let y = if fused {
                norm.forward(x.clone(), batch)
            } else {
                norm.composed(x.clone(), batch)
            };
            let grads = (y.clone() * weights.clone()).sum().backward();
            let grad = |t: &Tensor<Train, 1>| t.grad(&grads).unwrap().into_data();
            (
                y.inner().into_data(),
                x.grad(&grads).unwrap().into_data(),
                grad(&norm.gamma.val()),
                grad(&norm.beta.val()),
                norm.running_mean.value_sync().into_data(),
                norm.running_var.value_sync().into_data(),
            )
        };
        // The CPU training backend takes the fused path; others are handed back.
        assert!(fused::batch_norm(x.clone(), batch, gamma.clone(), beta.clone(), 1e-5).is_ok());
        assert!(
            fused::batch_norm(
                x.clone().inner(),
                batch,
                gamma.clone().inner(),
                beta.clone().inner(),
                1e-5
            )
            .is_err()
        );
        let (fused, composed) = (run(true), run(false));
        let close = |a: &TensorData, b: &TensorData, what: &str| {
            let (a, b) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
            // Relative to the value: two examples of one position each give gradients of 40.
            let worst = a
                .iter()
                .zip(&b)
                .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
                .fold(0.0, f32::max);
            assert!(
                worst < 1e-4,
                "{what} ({batch}x{channels}x{positions}): {a:?} against {b:?}"
            );
        };
        close(&fused.0, &composed.0, "output");
        close(&fused.1, &composed.1, "input gradient");
        close(&fused.2, &composed.2, "scale gradient");
        close(&fused.3, &composed.3, "shift gradient");
        close(&fused.4, &composed.4, "running mean");
        close(&fused.5, &composed.5, "running variance");
    }
}

/// The fused CPU depthwise convolution gives burn's grouped convolution's output and
/// gradients (input and filters), at every stride, padding and kernel the presets use and
/// at odd sizes where the last column or row is dropped.
#[cfg(feature = "fused-cpu")]
#[test]
fn the_fused_depthwise_convolution_matches_burns_forward_and_backward() {
    type Train = Autodiff<Flex>;
    let device = Default::default();
    // (batch, channels, height, width, kernel, stride, padding)
    for (n, c, h, w, k, s, p) in [
        (2, 3, 8, 8, 3, 1, 1),
        (2, 4, 9, 7, 3, 2, 1),
        (1, 2, 10, 10, 3, 2, 1),
        (3, 2, 11, 6, 5, 1, 2),
        (1, 3, 7, 9, 3, 2, 0),
        (2, 2, 5, 5, 1, 1, 0),
    ] {
        let normal = Distribution::Normal(0.0, 1.0);
        let x = Tensor::<Train, 4>::random([n, c, h, w], normal, &device);
        let weight = Tensor::<Train, 4>::random([c, 1, k, k], normal, &device);
        let fused = conv_and_gradients(&x, &weight, |x, w| {
            fused::depthwise_conv(x, w, [s, s], [p, p])
                .expect("the CPU training backend takes the fused path")
        });
        let reference = conv_and_gradients(&x, &weight, |x, w| {
            let options = burn::tensor::ops::ConvOptions::new([s, s], [p, p], [1, 1], c);
            burn::tensor::module::conv2d(x, w, None, options)
        });
        let case = alloc::format!("{n}x{c}x{h}x{w}, kernel {k}, stride {s}, padding {p}");
        assert_agree(&fused, &reference, &case);
    }
    // Other backends get their tensors back.
    let x = Tensor::<Flex, 4>::zeros([1, 2, 4, 4], &device);
    let weight = Tensor::<Flex, 4>::zeros([2, 1, 3, 3], &device);
    assert!(fused::depthwise_conv(x, weight, [1, 1], [1, 1]).is_err());
}

/// The fused CPU dense convolution (patches and matrix products) gives burn's
/// convolution's output and gradients, for the stems (7x7 and 3x3 at stride 2), the 3x3
/// body convolutions and a strided 1x1 shortcut, at odd sizes too.
#[cfg(feature = "fused-cpu")]
#[test]
fn the_fused_dense_convolution_matches_burns_forward_and_backward() {
    type Train = Autodiff<Flex>;
    let device = Default::default();
    // (batch, in, out, height, width, kernel, stride, padding)
    for (n, c, o, h, w, k, s, p) in [
        (2, 3, 4, 8, 8, 3, 1, 1),
        (2, 3, 5, 9, 7, 3, 2, 1),
        (1, 2, 3, 13, 11, 7, 2, 3),
        (2, 4, 3, 7, 7, 1, 2, 0),
        (3, 2, 2, 6, 9, 3, 2, 0),
    ] {
        let wave = |len: usize, phase: f32| {
            (0..len)
                .map(|i| (i as f32 * 0.61 + phase).sin())
                .collect::<Vec<f32>>()
        };
        let tensor = |values: Vec<f32>, dims: [usize; 4]| {
            Tensor::<Train, 4>::from_data(TensorData::new(values, dims), &device)
        };
        let x = tensor(wave(n * c * h * w, 0.0), [n, c, h, w]);
        let weight = tensor(wave(o * c * k * k, 1.0), [o, c, k, k]);
        let fused = conv_and_gradients(&x, &weight, |x, w| {
            fused::dense_conv(x, w, [s, s], [p, p])
                .expect("the CPU training backend takes the fused path")
        });
        let reference = conv_and_gradients(&x, &weight, |x, w| {
            let options = burn::tensor::ops::ConvOptions::new([s, s], [p, p], [1, 1], 1);
            burn::tensor::module::conv2d(x, w, None, options)
        });
        let case = alloc::format!("{n}x{c}x{h}x{w} to {o}, kernel {k}, stride {s}, padding {p}");
        assert_agree(&fused, &reference, &case);
    }
    let x = Tensor::<Flex, 4>::zeros([1, 2, 4, 4], &device);
    let weight = Tensor::<Flex, 4>::zeros([3, 2, 3, 3], &device);
    assert!(fused::dense_conv(x, weight, [1, 1], [1, 1]).is_err());
}

/// A biased convolution (the simple CNN's, AlexNet's, VGG-16's) trains through the fused
/// path with its bias added after, and gives burn's own convolution's output and
/// gradients for the input, the filters and the bias; depthwise ones too.
#[cfg(feature = "fused-cpu")]
#[test]
fn a_biased_convolution_trains_fused_with_burns_output_and_gradients() {
    type Train = Autodiff<Flex>;
    let device = Default::default();
    // (batch, in, out, size, kernel, stride, padding, groups)
    for (n, c, o, size, k, s, p, groups) in [
        (2, 3, 4, 9, 3, 1, 1, 1),
        (2, 3, 5, 15, 11, 4, 2, 1),
        (3, 4, 4, 7, 3, 2, 1, 4),
    ] {
        let conv: Conv2d<Train> = Conv2dConfig::new([c, o], [k, k])
            .with_stride([s, s])
            .with_groups(groups)
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .with_bias(true)
            .init(&device);
        let spec = ConvSpec {
            bias: true,
            groups: groups as u32,
            ..ConvSpec::square(o as u32, k as u32, s as u32, p as u32)
        };
        let x: Vec<f32> = (0..n * c * size * size)
            .map(|i| (i as f32 * 0.53).sin())
            .collect();
        let run = |fused: bool| -> [Vec<f32>; 4] {
            let x = Tensor::<Train, 4>::from_data(
                TensorData::new(x.clone(), [n, c, size, size]),
                &device,
            )
            .require_grad();
            let y = if fused {
                convolve(&conv, &spec, x.clone(), false)
            } else {
                conv.forward(x.clone())
            };
            let dims = y.dims();
            let len = dims.iter().product::<usize>();
            let weights = Tensor::from_data(
                TensorData::new((0..len).map(|i| (i as f32 * 0.37).cos()).collect(), dims),
                &device,
            );
            let grads = (y.clone() * weights).sum().backward();
            let bias = conv.bias.as_ref().expect("biased");
            [
                y.inner().into_data().to_vec().unwrap(),
                x.grad(&grads).unwrap().into_data().to_vec().unwrap(),
                conv.weight
                    .grad(&grads)
                    .unwrap()
                    .into_data()
                    .to_vec()
                    .unwrap(),
                bias.grad(&grads).unwrap().into_data().to_vec().unwrap(),
            ]
        };
        let (fused, reference) = (run(true), run(false));
        let case =
            alloc::format!("{n}x{c}x{size}x{size} to {o}, kernel {k}, stride {s}, groups {groups}");
        assert_agree(&fused, &reference, &case);
    }
}

/// The fused CPU ReLU6 gives burn's clamp's output and gradient, at and beyond both
/// bounds.
#[cfg(feature = "fused-cpu")]
#[test]
fn the_fused_relu6_matches_burns_clamp_forward_and_backward() {
    type Train = Autodiff<Flex>;
    let device = Default::default();
    let values = [
        -3.0,
        -0.0,
        0.0,
        0.5,
        5.9,
        6.0,
        6.5,
        100.0,
        f32::MIN,
        2.0,
        3.0,
        -1e-7,
    ];
    let x = Tensor::<Train, 2>::from_data(TensorData::new(values.to_vec(), [3, 4]), &device);
    let weights = Tensor::<Train, 2>::from_data(
        TensorData::new((1..=12).map(|i| i as f32).collect(), [3, 4]),
        &device,
    );
    let run = |fused: bool| {
        let x = x.clone().detach().require_grad();
        let y = if fused {
            fused::clamp(x.clone(), 0.0, 6.0).expect("the CPU training backend fuses")
        } else {
            x.clone().clamp(0.0, 6.0)
        };
        let grads = (y.clone() * weights.clone()).sum().backward();
        (
            y.inner().into_data().to_vec::<f32>().unwrap(),
            x.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap(),
        )
    };
    assert_eq!(run(true), run(false));
    assert_eq!(
        run(true).1,
        [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 0.0, 0.0, 10.0, 11.0, 0.0]
    );
    assert!(fused::clamp(Tensor::<Flex, 1>::zeros([3], &device), 0.0, 6.0).is_err());
}

/// A convolution's output, input gradient and filter gradient, its outputs weighted each
/// its own way (a wave) before summing, so every output's gradient differs.
#[cfg(feature = "fused-cpu")]
fn conv_and_gradients(
    x: &Tensor<Autodiff<Flex>, 4>,
    weight: &Tensor<Autodiff<Flex>, 4>,
    conv: impl Fn(Tensor<Autodiff<Flex>, 4>, Tensor<Autodiff<Flex>, 4>) -> Tensor<Autodiff<Flex>, 4>,
) -> [Vec<f32>; 3] {
    let x = x.clone().detach().require_grad();
    let weight = weight.clone().detach().require_grad();
    let y = conv(x.clone(), weight.clone());
    let dims = y.dims();
    let len = dims.iter().product::<usize>();
    let weights = Tensor::from_data(
        TensorData::new((0..len).map(|i| (i as f32 * 0.37).sin()).collect(), dims),
        &y.device(),
    );
    let grads = (y.clone() * weights).sum().backward();
    let values = |t: Tensor<Flex, 4>| t.into_data().to_vec::<f32>().unwrap();
    [
        values(y.inner()),
        values(x.grad(&grads).unwrap()),
        values(weight.grad(&grads).unwrap()),
    ]
}

/// Each of output, input gradient, filter gradient (and bias gradient, when given) agrees
/// with its reference to 1e-4, relative to values above 1.
#[cfg(feature = "fused-cpu")]
fn assert_agree(fused: &[Vec<f32>], reference: &[Vec<f32>], case: &str) {
    const WHAT: [&str; 4] = [
        "output",
        "input gradient",
        "filter gradient",
        "bias gradient",
    ];
    assert_eq!(fused.len(), reference.len(), "{case}");
    for ((what, a), b) in WHAT.iter().zip(fused).zip(reference) {
        assert_eq!(a.len(), b.len(), "{what} ({case})");
        let worst = a
            .iter()
            .zip(b)
            .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
            .fold(0.0, f32::max);
        assert!(worst < 1e-4, "{what} ({case}): {a:?} against {b:?}");
    }
}

#[test]
fn a_new_head_carries_the_backbone_and_draws_only_the_head() {
    let device = Default::default();
    let spec = Preset::SimpleCnn.build(&options(32, 9));
    let trained = Network::<Cpu>::initialized(&spec, 1, Initialization::He, &device)
        .unwrap()
        .weights();
    let headed = spec.with_classes(4).unwrap();
    let moved = transfer(&spec, &trained, &headed, 2, Initialization::He).unwrap();
    let drawn = initial_weights(&headed, 2, Initialization::He).unwrap();
    let layout = headed.parameter_layout().unwrap();
    let head = headed.nodes.len() as u32 - 1;
    assert!(matches!(headed.nodes[head as usize].op, Op::Dense(_)));
    assert_eq!(
        moved
            .fresh
            .iter()
            .map(|t| (t.node, t.role))
            .collect::<Vec<_>>(),
        [(head, ParamRole::Weight), (head, ParamRole::Bias)]
    );
    for (index, tensor) in layout.iter().enumerate() {
        let expected = if tensor.node == head {
            &drawn.tensors[index]
        } else {
            &trained.tensors[index]
        };
        assert_eq!(&moved.weights.tensors[index], expected, "tensor {index}");
    }
    let network = Network::<Cpu>::from_weights(&headed, &moved.weights, &device).unwrap();
    assert_eq!(network.forward(random_input(2, 32)).dims(), [2, 4]);
}

#[test]
fn a_layer_of_another_shape_is_drawn_fresh_and_bad_weights_are_refused() {
    // AlexNet flattens its last feature map, so its first dense layer's width follows
    // the input size; the convolutions' do not.
    let spec = Preset::AlexNet.build(&options(64, 4));
    let trained = initial_weights(&spec, 1, Initialization::He).unwrap();
    let larger = Preset::AlexNet.build(&options(96, 4));
    let moved = transfer(&spec, &trained, &larger, 2, Initialization::He).unwrap();
    let source = spec.parameter_layout().unwrap();
    let target = larger.parameter_layout().unwrap();
    for (index, tensor) in target.iter().enumerate() {
        let fresh = moved.fresh.contains(tensor);
        assert_eq!(fresh, source[index].shape != tensor.shape, "tensor {index}");
        if !fresh {
            assert_eq!(moved.weights.tensors[index], trained.tensors[index]);
        }
    }
    assert_eq!(moved.fresh.len(), 1, "only the first dense layer's weight");

    let mut short = trained.clone();
    short.tensors.pop();
    assert!(matches!(
        transfer(&spec, &short, &larger, 2, Initialization::He),
        Err(ArtifactError::TensorCount { .. })
    ));
}
