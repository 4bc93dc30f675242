//! The architectures leukoscope offers: our shipped edge model and those of the studies.

use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use super::builder::SpecBuilder;
use super::{Activation, Conv2d, InputKind, InputSpec, ModelSpec, Pool2d, ValueId};

/// Micrometres per pixel of the 224x224 B-ALL fields, estimated from the red cells
/// (about 7.5 um across, about 18 px in the images).
pub const FIELD_UM_PER_PX: f32 = 0.42;

/// A named architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Preset {
    /// Our compact shipped model: inverted residual blocks with depthwise convolutions and
    /// ReLU6, no sigmoid anywhere, so it folds and quantizes cleanly to int8.
    EdgeS,
    /// edge-s cut to a tenth of its weights (0.1 M), for a microcontroller: int8 model,
    /// its packed copy and its arena in 512 KB of RAM.
    EdgeXs,
    /// The studies' "traditional CNN": four conv-ReLU-pool blocks and a dense head.
    SimpleCnn,
    /// AlexNet (torchvision's single-tower form).
    AlexNet,
    /// VGG-16.
    Vgg16,
    /// Study 001's optimized CNN: 5 blocks, 13 convolutions, 5 max-pools, BN, GAP head.
    SeedCnn13,
    /// ResNet-18.
    ResNet18,
    /// ResNet-50; the preset head is dense + dropout as in study 000.
    ResNet50,
    /// DenseNet-121.
    DenseNet121,
    /// EfficientNet-B0.
    EfficientNetB0,
    /// Study 004's DSCNet: dense blocks bridged by strided skip connections, ReLU and
    /// leaky ReLU, dropout 0.1.
    DscNet,
    /// A minimal CNN (a strided stem, three conv-BN-ReLU-pool blocks, global pooling) that
    /// trains in seconds on a CPU: for tests and the synthetic demonstration, never for
    /// patients.
    TinyCnn,
}

/// Which classifier head to put on the backbone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HeadStyle {
    /// The head our recipes train (ResNet-50: dense 512 + ReLU + dropout 0.5, study 000).
    #[default]
    Recipe,
    /// The original single linear classifier, as in the published parameter counts.
    Published,
}

/// What a preset is built for.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PresetOptions {
    /// Number of classes scored.
    pub classes: u32,
    /// Side of the square input, in pixels.
    pub input_size: u32,
    /// Field or cell input.
    pub kind: InputKind,
    /// Micrometres per input pixel.
    pub um_per_px: f32,
    /// Classifier head.
    pub head: HeadStyle,
}

impl PresetOptions {
    /// A 224x224 field model at the B-ALL data's scale.
    pub fn field(classes: u32) -> Self {
        PresetOptions {
            classes,
            input_size: 224,
            kind: InputKind::Field,
            um_per_px: FIELD_UM_PER_PX,
            head: HeadStyle::Recipe,
        }
    }

    fn input(&self) -> InputSpec {
        InputSpec {
            channels: 3,
            height: self.input_size,
            width: self.input_size,
            kind: self.kind,
            um_per_px: self.um_per_px,
        }
    }
}

/// A name that is not one of [`Preset::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown model preset {name:?}; choose one of: {}", Preset::names())]
pub struct UnknownPreset {
    /// The name given.
    pub name: alloc::string::String,
}

impl Preset {
    /// Every preset, smallest family first.
    pub const ALL: [Preset; 12] = [
        Preset::EdgeS,
        Preset::EdgeXs,
        Preset::SimpleCnn,
        Preset::AlexNet,
        Preset::Vgg16,
        Preset::SeedCnn13,
        Preset::ResNet18,
        Preset::ResNet50,
        Preset::DenseNet121,
        Preset::EfficientNetB0,
        Preset::DscNet,
        Preset::TinyCnn,
    ];

    /// The name used on the command line and in artifacts.
    pub fn name(self) -> &'static str {
        match self {
            Preset::EdgeS => "edge-s",
            Preset::EdgeXs => "edge-xs",
            Preset::SimpleCnn => "simple-cnn",
            Preset::AlexNet => "alexnet",
            Preset::Vgg16 => "vgg16",
            Preset::SeedCnn13 => "seed-cnn13",
            Preset::ResNet18 => "resnet18",
            Preset::ResNet50 => "resnet50",
            Preset::DenseNet121 => "densenet121",
            Preset::EfficientNetB0 => "efficientnet-b0",
            Preset::DscNet => "dscnet",
            Preset::TinyCnn => "tiny-cnn",
        }
    }

    /// One line on what the preset is.
    pub fn describe(self) -> &'static str {
        match self {
            Preset::EdgeS => "ours: compact inverted-residual net for int8 on the board (ships)",
            Preset::EdgeXs => {
                "ours: edge-s at a tenth of its weights, for a microcontroller (Cortex-M)"
            }
            Preset::SimpleCnn => "the studies' traditional CNN (study 002)",
            Preset::AlexNet => "AlexNet (study 002)",
            Preset::Vgg16 => "VGG-16 (studies 000, 002)",
            Preset::SeedCnn13 => "13-conv optimized CNN, 5 blocks (study 001)",
            Preset::ResNet18 => "ResNet-18",
            Preset::ResNet50 => "ResNet-50 with dense + dropout head (study 000)",
            Preset::DenseNet121 => "DenseNet-121 (study 000)",
            Preset::EfficientNetB0 => "EfficientNet-B0 (study 000)",
            Preset::DscNet => "dense blocks with skip connections (study 004)",
            Preset::TinyCnn => "minimal CNN for tests and the synthetic demo; not for patients",
        }
    }

    /// All names, comma-separated (for help texts and errors).
    pub fn names() -> alloc::string::String {
        let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
        names.join(", ")
    }

    /// Builds the spec.
    pub fn build(self, options: &PresetOptions) -> ModelSpec {
        let mut b = SpecBuilder::new(self.name(), options.input());
        let classes = options.classes;
        match self {
            Preset::EdgeS => edge_s(&mut b, classes),
            Preset::EdgeXs => edge_xs(&mut b, classes),
            Preset::SimpleCnn => simple_cnn(&mut b, classes),
            Preset::AlexNet => alexnet(&mut b, classes),
            Preset::Vgg16 => vgg16(&mut b, classes),
            Preset::SeedCnn13 => seed_cnn13(&mut b, classes),
            Preset::ResNet18 => resnet(&mut b, classes, ResNetDepth::Basic18, HeadStyle::Published),
            Preset::ResNet50 => resnet(&mut b, classes, ResNetDepth::Bottleneck50, options.head),
            Preset::DenseNet121 => densenet121(&mut b, classes),
            Preset::EfficientNetB0 => efficientnet_b0(&mut b, classes),
            Preset::DscNet => dscnet(&mut b, classes),
            Preset::TinyCnn => tiny_cnn(&mut b, classes),
        }
        b.build()
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = UnknownPreset;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownPreset { name: name.into() })
    }
}

const RELU: Activation = Activation::Relu;
const RELU6: Activation = Activation::Relu6;
const SILU: Activation = Activation::Silu;

fn conv_biased(out: u32, k: u32, stride: u32, padding: u32) -> Conv2d {
    Conv2d {
        bias: true,
        ..Conv2d::square(out, k, stride, padding)
    }
}

fn depthwise(channels: u32, k: u32, stride: u32) -> Conv2d {
    Conv2d {
        groups: channels,
        ..Conv2d::square(channels, k, stride, k / 2)
    }
}

fn pointwise(out: u32) -> Conv2d {
    Conv2d::square(out, 1, 1, 0)
}

/// MobileNetV2-style inverted residual: expand 1x1, depthwise 3x3, linear project 1x1,
/// with a residual add when the shape is kept.
fn inverted_residual(b: &mut SpecBuilder, c_in: u32, c_out: u32, expand: u32, stride: u32) {
    let input = b.cursor();
    let hidden = c_in * expand;
    if expand != 1 {
        b.conv_bn(pointwise(hidden), Some(RELU6));
    }
    b.conv_bn(depthwise(hidden, 3, stride), Some(RELU6));
    let out = b.conv_bn(pointwise(c_out), None);
    if stride == 1 && c_in == c_out {
        b.add(&[input, out]);
    }
}

fn edge_s(b: &mut SpecBuilder, classes: u32) {
    b.conv_bn(Conv2d::square(16, 3, 2, 1), Some(RELU6));
    // (expansion, output channels, repeats, first stride)
    let stages: [(u32, u32, u32, u32); 6] = [
        (1, 16, 1, 1),
        (4, 24, 2, 2),
        (4, 32, 3, 2),
        (4, 64, 3, 2),
        (4, 96, 2, 1),
        (6, 160, 2, 2),
    ];
    let mut channels = 16;
    for (expand, c_out, repeats, stride) in stages {
        for i in 0..repeats {
            let s = if i == 0 { stride } else { 1 };
            inverted_residual(b, channels, c_out, expand, s);
            channels = c_out;
        }
    }
    b.conv_bn(pointwise(512), Some(RELU6));
    b.global_avg_pool();
    b.dropout(0.2);
    b.dense(classes);
}

/// edge-s narrowed and shortened: stages to 64 channels, a 256-wide head.
fn edge_xs(b: &mut SpecBuilder, classes: u32) {
    b.conv_bn(Conv2d::square(16, 3, 2, 1), Some(RELU6));
    let stages: [(u32, u32, u32, u32); 5] = [
        (1, 16, 1, 1),
        (4, 24, 2, 2),
        (4, 32, 2, 2),
        (4, 48, 2, 2),
        (4, 64, 1, 1),
    ];
    let mut channels = 16;
    for (expand, c_out, repeats, stride) in stages {
        for i in 0..repeats {
            let s = if i == 0 { stride } else { 1 };
            inverted_residual(b, channels, c_out, expand, s);
            channels = c_out;
        }
    }
    b.conv_bn(pointwise(256), Some(RELU6));
    b.global_avg_pool();
    b.dropout(0.2);
    b.dense(classes);
}

fn simple_cnn(b: &mut SpecBuilder, classes: u32) {
    for width in [32, 64, 128, 128] {
        b.conv(conv_biased(width, 3, 1, 1));
        b.act(RELU);
        b.max_pool(Pool2d::square(2, 2, 0));
    }
    b.flatten();
    b.dense(128);
    b.act(RELU);
    b.dropout(0.5);
    b.dense(classes);
}

fn alexnet(b: &mut SpecBuilder, classes: u32) {
    let pool = Pool2d::square(3, 2, 0);
    b.conv(conv_biased(64, 11, 4, 2));
    b.act(RELU);
    b.max_pool(pool);
    b.conv(conv_biased(192, 5, 1, 2));
    b.act(RELU);
    b.max_pool(pool);
    for width in [384, 256, 256] {
        b.conv(conv_biased(width, 3, 1, 1));
        b.act(RELU);
    }
    b.max_pool(pool);
    b.flatten();
    for _ in 0..2 {
        b.dropout(0.5);
        b.dense(4096);
        b.act(RELU);
    }
    b.dense(classes);
}

fn vgg16(b: &mut SpecBuilder, classes: u32) {
    for (width, convs) in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)] {
        for _ in 0..convs {
            b.conv(conv_biased(width, 3, 1, 1));
            b.act(RELU);
        }
        b.max_pool(Pool2d::square(2, 2, 0));
    }
    b.flatten();
    for _ in 0..2 {
        b.dense(4096);
        b.act(RELU);
        b.dropout(0.5);
    }
    b.dense(classes);
}

fn seed_cnn13(b: &mut SpecBuilder, classes: u32) {
    for (width, convs) in [(32, 2), (64, 2), (128, 3), (256, 3), (256, 3)] {
        for _ in 0..convs {
            b.conv_bn(Conv2d::square(width, 3, 1, 1), Some(RELU));
        }
        b.max_pool(Pool2d::square(2, 2, 0));
    }
    b.global_avg_pool();
    b.dense(256);
    b.act(RELU);
    b.dropout(0.5);
    b.dense(classes);
}

#[derive(Clone, Copy, PartialEq)]
enum ResNetDepth {
    Basic18,
    Bottleneck50,
}

fn resnet(b: &mut SpecBuilder, classes: u32, depth: ResNetDepth, head: HeadStyle) {
    b.conv_bn(Conv2d::square(64, 7, 2, 3), Some(RELU));
    b.max_pool(Pool2d::square(3, 2, 1));
    let (repeats, expansion) = match depth {
        ResNetDepth::Basic18 => ([2, 2, 2, 2], 1),
        ResNetDepth::Bottleneck50 => ([3, 4, 6, 3], 4),
    };
    let mut channels = 64;
    for (stage, (width, n)) in [64u32, 128, 256, 512].into_iter().zip(repeats).enumerate() {
        for i in 0..n {
            let stride = if i == 0 && stage > 0 { 2 } else { 1 };
            let input = b.cursor();
            let c_out = width * expansion;
            let main = match depth {
                ResNetDepth::Basic18 => {
                    b.conv_bn(Conv2d::square(width, 3, stride, 1), Some(RELU));
                    b.conv_bn(Conv2d::square(width, 3, 1, 1), None)
                }
                ResNetDepth::Bottleneck50 => {
                    b.conv_bn(pointwise(width), Some(RELU));
                    b.conv_bn(Conv2d::square(width, 3, stride, 1), Some(RELU));
                    b.conv_bn(pointwise(c_out), None)
                }
            };
            let shortcut = if stride != 1 || channels != c_out {
                b.at(input);
                b.conv_bn(Conv2d::square(c_out, 1, stride, 0), None)
            } else {
                input
            };
            b.add(&[main, shortcut]);
            b.act(RELU);
            channels = c_out;
        }
    }
    b.global_avg_pool();
    if head == HeadStyle::Recipe {
        b.dense(512);
        b.act(RELU);
        b.dropout(0.5);
    }
    b.dense(classes);
}

fn densenet121(b: &mut SpecBuilder, classes: u32) {
    const GROWTH: u32 = 32;
    const BOTTLENECK: u32 = 4;
    b.conv_bn(Conv2d::square(64, 7, 2, 3), Some(RELU));
    b.max_pool(Pool2d::square(3, 2, 1));
    let mut channels = 64;
    let blocks = [6, 12, 24, 16];
    for (i, layers) in blocks.into_iter().enumerate() {
        let mut features: ValueId = b.cursor();
        for _ in 0..layers {
            b.at(features);
            b.bn();
            b.act(RELU);
            b.conv_bn(pointwise(BOTTLENECK * GROWTH), Some(RELU));
            let new = b.conv(Conv2d::square(GROWTH, 3, 1, 1));
            features = b.concat(&[features, new]);
            channels += GROWTH;
        }
        if i + 1 < blocks.len() {
            b.bn();
            b.act(RELU);
            channels /= 2;
            b.conv(pointwise(channels));
            b.avg_pool(Pool2d::square(2, 2, 0));
        }
    }
    b.bn();
    b.act(RELU);
    b.global_avg_pool();
    b.dense(classes);
}

fn efficientnet_b0(b: &mut SpecBuilder, classes: u32) {
    b.conv_bn(Conv2d::square(32, 3, 2, 1), Some(SILU));
    // (expansion, kernel, first stride, output channels, repeats)
    let stages: [(u32, u32, u32, u32, u32); 7] = [
        (1, 3, 1, 16, 1),
        (6, 3, 2, 24, 2),
        (6, 5, 2, 40, 2),
        (6, 3, 2, 80, 3),
        (6, 5, 1, 112, 3),
        (6, 5, 2, 192, 4),
        (6, 3, 1, 320, 1),
    ];
    let mut channels = 32;
    for (expand, k, stride, c_out, repeats) in stages {
        for i in 0..repeats {
            let s = if i == 0 { stride } else { 1 };
            let input = b.cursor();
            let hidden = channels * expand;
            if expand != 1 {
                b.conv_bn(pointwise(hidden), Some(SILU));
            }
            b.conv_bn(depthwise(hidden, k, s), Some(SILU));
            b.squeeze_excite((channels / 4).max(1), SILU, Activation::Sigmoid);
            let out = b.conv_bn(pointwise(c_out), None);
            if s == 1 && channels == c_out {
                b.add(&[input, out]);
            }
            channels = c_out;
        }
    }
    b.conv_bn(pointwise(1280), Some(SILU));
    b.global_avg_pool();
    b.dropout(0.2);
    b.dense(classes);
}

fn dscnet(b: &mut SpecBuilder, classes: u32) {
    const GROWTH: u32 = 16;
    let leaky = Activation::LeakyRelu { slope: 0.1 };
    b.conv_bn(Conv2d::square(32, 3, 2, 1), Some(leaky));
    b.max_pool(Pool2d::square(2, 2, 0));
    for transition_width in [64, 96, 128] {
        let block_input = b.cursor();
        let mut features = block_input;
        for _ in 0..4 {
            b.at(features);
            let new = b.conv_bn(Conv2d::square(GROWTH, 3, 1, 1), Some(RELU));
            features = b.concat(&[features, new]);
        }
        b.conv_bn(pointwise(transition_width), Some(leaky));
        let main = b.avg_pool(Pool2d::square(2, 2, 0));
        // The long skip: the block's input, strided to the transition's size.
        b.at(block_input);
        let skip = b.conv_bn(Conv2d::square(transition_width, 1, 2, 0), None);
        b.add(&[main, skip]);
    }
    b.bn();
    b.act(RELU);
    b.global_avg_pool();
    b.dropout(0.1);
    b.dense(classes);
}

fn tiny_cnn(b: &mut SpecBuilder, classes: u32) {
    // A strided stem sees every input pixel at full resolution and learns its own
    // downscaling, which keeps detail (nucleoli, chromatin) a resize would blur away.
    b.conv_bn(Conv2d::square(16, 3, 2, 1), Some(RELU));
    b.max_pool(Pool2d::square(2, 2, 0));
    for width in [32, 64, 128] {
        b.conv_bn(Conv2d::square(width, 3, 1, 1), Some(RELU));
        b.max_pool(Pool2d::square(2, 2, 0));
    }
    b.global_avg_pool();
    b.dense(classes);
}
