//! Training sets drawn from the core's synthetic smear generator: labelled b-all-4 fields
//! without any patient image, for tests, demos and checking the pipeline end to end.

use leukoscope_core::preprocess::{Preprocess, PreprocessError};
use leukoscope_core::synth::{self, FieldOptions, SynthError};
use rayon::prelude::*;

use crate::examples::ExampleSet;

/// Why a synthetic set could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SyntheticSetError {
    /// The generator refused its options.
    #[error("cannot draw a synthetic field")]
    Synth(#[from] SynthError),
    /// The preprocessing refused the field.
    #[error("cannot preprocess a synthetic field")]
    Preprocess(#[from] PreprocessError),
}

/// `per_class` fields of each b-all-4 class drawn with `options`, preprocessed by
/// `preprocess`, in a fixed order. Field `i` of class `c` is drawn from seed
/// `(seed, c, i)`, so sets made with different `seed`s share no field.
pub fn synthetic_fields(
    per_class: usize,
    seed: u64,
    options: &FieldOptions,
    preprocess: &Preprocess,
) -> Result<ExampleSet, SyntheticSetError> {
    let classes = synth::CLASS_NAMES.len() as u32;
    let inputs: Vec<(Vec<f32>, u32)> = (0..classes)
        .flat_map(|class| (0..per_class).map(move |i| (class, i as u64)))
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|(class, i)| {
            let field_seed = seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(u64::from(class) << 40)
                .wrapping_add(i);
            let field = synth::field(class, field_seed, options)?;
            Ok((preprocess.run_to_vec(field.image.view())?, class))
        })
        .collect::<Result<_, SyntheticSetError>>()?;
    let mut set = ExampleSet::new([3, preprocess.height as usize, preprocess.width as usize]);
    for (input, label) in inputs {
        set.push(&input, label)
            .expect("the preprocessing writes inputs of its own size");
    }
    Ok(set)
}

#[cfg(test)]
mod tests;
