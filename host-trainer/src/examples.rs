//! Preprocessed examples held in memory (synthetic sets, tests).

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
}

#[cfg(test)]
mod tests;
