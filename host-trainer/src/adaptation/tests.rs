use std::sync::Arc;

use leukoscope_core::network::Network;
use leukoscope_core::preprocess::Preprocess;
use leukoscope_core::spec::{InputKind, InputSpec, ModelSpec, ParamRole, SpecBuilder};

use super::*;
use crate::backend::CpuTrain;
use crate::examples::ExampleSet;
use crate::image_files::ImageFiles;

/// A batch norm straight on a 3-channel 4x4 input: its running statistics are the input's.
fn norm_first() -> ModelSpec {
    let mut b = SpecBuilder::new(
        "norm-first",
        InputSpec {
            channels: 3,
            height: 4,
            width: 4,
            kind: InputKind::Cell,
            um_per_px: 1.0,
        },
    );
    b.bn();
    b.global_avg_pool();
    b.flatten();
    b.dense(2);
    b.build()
}

/// `n` cells whose channel `c` lies around `10 c + 5`: a ramp of ±2 across the cell, plus
/// an offset of its own (−1 to 1).
fn lab(n: usize) -> ExampleSet {
    let mut set = ExampleSet::new([3, 4, 4]);
    for i in 0..n {
        let offset = (i % 5) as f32 * 0.5 - 1.0;
        let input: Vec<f32> = (0..48)
            .map(|k| {
                let c = (k / 16) as f32;
                10.0 * c + 5.0 + offset + ((k % 16) as f32 / 15.0 * 4.0 - 2.0)
            })
            .collect();
        set.push(&input, 0).unwrap();
    }
    set
}

fn statistics(network: &Network<CpuTrain>, role: ParamRole) -> Vec<f32> {
    let layout = network.spec().parameter_layout().unwrap();
    let at = layout.iter().position(|t| t.role == role).unwrap();
    network.weights().tensors[at].clone()
}

#[test]
fn the_running_statistics_become_the_labs_and_nothing_else_moves() {
    let spec = norm_first();
    let device = Default::default();
    let network = Network::<CpuTrain>::new(&spec, 7, &device).unwrap();
    let before = network.weights();
    let cells = Arc::new(lab(100));
    let values: Vec<Vec<f32>> = (0..3)
        .map(|c| {
            (0..cells.len())
                .flat_map(|i| cells.input(i)[c * 16..(c + 1) * 16].to_vec())
                .collect()
        })
        .collect();
    let done = adapt_statistics(&network, Arc::clone(&cells), 16, &device).unwrap();
    assert_eq!(
        done,
        Adaptation {
            cells: 100,
            unreadable: 0,
            batches: ADAPTATION_BATCHES
        }
    );
    let mean = statistics(&network, ParamRole::RunningMean);
    let var = statistics(&network, ParamRole::RunningVar);
    for c in 0..3 {
        let n = values[c].len() as f32;
        let m = values[c].iter().sum::<f32>() / n;
        let v = values[c].iter().map(|x| (x - m).powi(2)).sum::<f32>() / n;
        // The statistics the network started with (0 and 1) keep under 1 % of their weight.
        assert!(
            (mean[c] - m).abs() < 0.01 * m + 0.05,
            "channel {c}: {} against {m}",
            mean[c]
        );
        assert!(
            (var[c] - v).abs() < 0.1 * v,
            "channel {c}: {} against {v}",
            var[c]
        );
    }
    // Weights, scales and shifts are as they were: only the statistics are the lab's.
    let after = network.weights();
    let layout = spec.parameter_layout().unwrap();
    for (k, tensor) in layout.iter().enumerate() {
        let moved = before.tensors[k] != after.tensors[k];
        let statistic = matches!(tensor.role, ParamRole::RunningMean | ParamRole::RunningVar);
        assert_eq!(moved, statistic, "{:?}", tensor.role);
    }
}

#[test]
fn fewer_cells_than_a_batch_are_refused() {
    let spec = norm_first();
    let device = Default::default();
    let network = Network::<CpuTrain>::new(&spec, 7, &device).unwrap();
    assert_eq!(
        adapt_statistics(&network, Arc::new(lab(10)), 16, &device),
        Err(AdaptationError::TooFewCells {
            found: 10,
            needed: 16
        })
    );
}

#[test]
fn cells_that_cannot_be_read_are_refused_not_waited_on() {
    let spec = norm_first();
    let device = Default::default();
    let network = Network::<CpuTrain>::new(&spec, 7, &device).unwrap();
    let missing = (0..40).map(|i| (std::path::PathBuf::from(format!("/nonexistent/{i}.png")), 0));
    let files = ImageFiles::new(missing, Preprocess::cell(4, 4), None);
    assert_eq!(
        adapt_statistics(&network, Arc::new(files), 16, &device),
        Err(AdaptationError::TooFewCells {
            found: 0,
            needed: 16
        })
    );
}
