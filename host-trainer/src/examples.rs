//! Preprocessed examples held in memory, and the batches cut from them.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

/// A set of preprocessed inputs (CHW f32, as the core's `Preprocess` writes them) with
/// their class labels, stored contiguously so batches are one copy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExampleSet {
    /// `[channels, height, width]` of every input.
    pub input_shape: [usize; 3],
    inputs: Vec<f32>,
    labels: Vec<u32>,
}

/// An input whose length does not match the set's shape.
#[derive(Debug, thiserror::Error)]
#[error("an input of {found} values does not fit the set's {expected:?} shape")]
pub struct ShapeMismatch {
    /// The set's shape.
    pub expected: [usize; 3],
    /// Values given.
    pub found: usize,
}

/// One batch on a device.
#[derive(Clone, Debug)]
pub struct Batch<B: Backend> {
    /// `[batch, channels, height, width]`.
    pub inputs: Tensor<B, 4>,
    /// Class index per example.
    pub labels: Tensor<B, 1, Int>,
}

impl ExampleSet {
    /// An empty set of inputs shaped `[channels, height, width]`.
    pub fn new(input_shape: [usize; 3]) -> Self {
        ExampleSet {
            input_shape,
            inputs: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// Values per input.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Adds one example.
    pub fn push(&mut self, input: &[f32], label: u32) -> Result<(), ShapeMismatch> {
        if input.len() != self.input_len() {
            return Err(ShapeMismatch {
                expected: self.input_shape,
                found: input.len(),
            });
        }
        self.inputs.extend_from_slice(input);
        self.labels.push(label);
        Ok(())
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The labels, in order.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// The input of example `index`.
    pub fn input(&self, index: usize) -> &[f32] {
        let n = self.input_len();
        &self.inputs[index * n..(index + 1) * n]
    }

    /// The examples at `indices`, as one batch on `device`.
    pub fn batch<B: Backend>(&self, indices: &[usize], device: &B::Device) -> Batch<B> {
        self.batch_transformed(indices, &[], device)
    }

    /// Like [`ExampleSet::batch`], with example `k` turned by `symmetries[k]` (missing
    /// entries are the identity). A smear has no up, down, left or right, so the eight
    /// symmetries of the square are free extra training data.
    pub fn batch_transformed<B: Backend>(
        &self,
        indices: &[usize],
        symmetries: &[Symmetry],
        device: &B::Device,
    ) -> Batch<B> {
        let n = self.input_len();
        let mut inputs = Vec::with_capacity(indices.len() * n);
        let mut labels = Vec::with_capacity(indices.len());
        for (k, &i) in indices.iter().enumerate() {
            match symmetries.get(k) {
                Some(&s) if s != Symmetry::IDENTITY => {
                    let start = inputs.len();
                    inputs.resize(start + n, 0.0);
                    s.apply(self.input(i), self.input_shape, &mut inputs[start..]);
                }
                _ => inputs.extend_from_slice(self.input(i)),
            }
            labels.push(self.labels[i] as i64);
        }
        let [c, h, w] = self.input_shape;
        Batch {
            inputs: Tensor::from_data(TensorData::new(inputs, [indices.len(), c, h, w]), device),
            labels: Tensor::from_data(TensorData::new(labels, [indices.len()]), device),
        }
    }
}

/// One of the eight symmetries of a square: an optional transpose, then optional flips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Symmetry(u8);

impl Symmetry {
    /// No change.
    pub const IDENTITY: Symmetry = Symmetry(0);

    /// The symmetry numbered `n` (0 to 7; higher numbers wrap).
    pub fn nth(n: u8) -> Self {
        Symmetry(n % 8)
    }

    /// Writes `input` (CHW) turned by this symmetry into `out`. Non-square inputs are only
    /// flipped, never transposed.
    pub fn apply(self, input: &[f32], [c, h, w]: [usize; 3], out: &mut [f32]) {
        let transpose = self.0 & 4 != 0 && h == w;
        let (flip_y, flip_x) = (self.0 & 2 != 0, self.0 & 1 != 0);
        for ch in 0..c {
            let plane = &input[ch * h * w..(ch + 1) * h * w];
            let target = &mut out[ch * h * w..(ch + 1) * h * w];
            for y in 0..h {
                for x in 0..w {
                    let (sy, sx) = if transpose { (x, y) } else { (y, x) };
                    let sy = if flip_y { h - 1 - sy } else { sy };
                    let sx = if flip_x { w - 1 - sx } else { sx };
                    target[y * w + x] = plane[sy * w + sx];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;

    #[test]
    fn batches_gather_the_right_examples() {
        let mut set = ExampleSet::new([1, 1, 2]);
        set.push(&[1.0, 2.0], 0).unwrap();
        set.push(&[3.0, 4.0], 1).unwrap();
        set.push(&[5.0, 6.0], 2).unwrap();
        assert!(set.push(&[1.0], 0).is_err());
        let batch = set.batch::<Cpu>(&[2, 0], &Default::default());
        assert_eq!(batch.inputs.dims(), [2, 1, 1, 2]);
        let values: Vec<f32> = batch.inputs.into_data().into_vec().unwrap();
        assert_eq!(values, vec![5.0, 6.0, 1.0, 2.0]);
        let labels: Vec<i64> = batch
            .labels
            .into_data()
            .convert::<i64>()
            .into_vec()
            .unwrap();
        assert_eq!(labels, vec![2, 0]);
    }

    #[test]
    fn the_eight_symmetries_are_distinct_and_invertible() {
        let shape = [2, 3, 3];
        let input: Vec<f32> = (0..18).map(|v| v as f32).collect();
        let mut seen = Vec::new();
        for n in 0..8 {
            let mut out = vec![0.0; 18];
            Symmetry::nth(n).apply(&input, shape, &mut out);
            let mut sorted = out.clone();
            sorted.sort_by(f32::total_cmp);
            assert_eq!(sorted, input, "a permutation of the pixels");
            // Each channel moves as a whole.
            assert!(out[..9].iter().all(|&v| v < 9.0));
            assert!(!seen.contains(&out), "symmetry {n} repeats another");
            seen.push(out);
        }
        // Flipping twice is the identity.
        let mut once = vec![0.0; 18];
        let mut twice = vec![0.0; 18];
        Symmetry::nth(3).apply(&input, shape, &mut once);
        Symmetry::nth(3).apply(&once, shape, &mut twice);
        assert_eq!(twice, input);
    }
}
