//! A trained model quantized to int8 decides like its float form: trained in burn on
//! synthetic smear fields, the f32 engine reproduces burn's logits, the int8 engine agrees
//! with it on at least 99 % of held-out fields without losing more than a point of macro F1,
//! quantization-aware fine-tuning runs from it, and the int8 artifact reaches the edge.

use std::sync::Arc;

use leukoscope_core::engine::quantize::Calibrator;
use leukoscope_core::engine::{Engine, Precision};
use leukoscope_core::preprocess::Preprocess;
use leukoscope_core::spec::{Preset, PresetOptions};
use leukoscope_core::synth::FieldOptions;
use leukoscope_core::taxonomy::Taxonomy;
use leukoscope_edge::io::model::load_model;
use leukoscope_trainer::backend::CpuTrain;
use leukoscope_trainer::export::{artifact, provenance, write_artifact};
use leukoscope_trainer::fit::{Recipe, fit};
use leukoscope_trainer::quantization::{
    compare, engine_matches_burn, fine_tune_quantized, quantize_artifact,
};
use leukoscope_trainer::synthetic::synthetic_fields;

#[test]
fn a_trained_model_keeps_its_decisions_in_int8() {
    let size = 64;
    let preprocess = Preprocess::field(size, size);
    let spec = Preset::TinyCnn.build(&PresetOptions {
        input_size: size,
        ..PresetOptions::field(4)
    });
    let fields = FieldOptions {
        size,
        ..FieldOptions::default()
    };
    let train = Arc::new(synthetic_fields(150, 1, &fields, &preprocess).unwrap());
    let valid = Arc::new(synthetic_fields(100, 2, &fields, &preprocess).unwrap());
    // Fourteen epochs: stopped while still learning, the float model leaves fields on a
    // class boundary, where the last bits of burn's float kernels decide. At ten, one
    // AVX-512 CPU's int8 form agreed on 0.988 of fields; at twelve, an AMD EPYC's on 0.978.
    // At 14, 16 and 20 epochs that EPYC agrees on 0.995, 0.995 and 0.990.
    let recipe = Recipe {
        learning_rate: 3e-3,
        warmup_epochs: 0.0,
        ..Recipe::new(14, 16, 3)
    };
    let taxonomy = Taxonomy::b_all_4();
    let trained = fit::<CpuTrain, _, _>(
        &spec,
        &taxonomy,
        Arc::clone(&train),
        Arc::clone(&valid),
        &recipe,
        &Default::default(),
        None,
        &mut |_| {},
    )
    .unwrap();
    let float = artifact(
        &trained.best,
        taxonomy.clone(),
        preprocess,
        provenance("{}".into()),
    );

    // The f32 engine is the burn network, up to summation order.
    let worst = engine_matches_burn(&float, valid.as_ref(), 16).unwrap();
    assert!(worst < 1e-4, "f32 engine and burn differ by {worst}");

    let (int8, unreadable) = quantize_artifact(&float, train.as_ref(), Calibrator::Mse).unwrap();
    assert_eq!(unreadable, 0);
    let comparison = compare(&float, &int8, valid.as_ref()).unwrap();
    assert!(
        comparison.float.accuracy > 0.8,
        "the float model did not learn: {}",
        comparison.float.accuracy
    );
    assert!(
        comparison.top1_agreement >= 0.99,
        "int8 agrees with f32 on {:.3} of fields",
        comparison.top1_agreement
    );
    assert!(
        comparison.macro_f1_drop_points() <= 1.0,
        "int8 loses {:.2} points of macro F1",
        comparison.macro_f1_drop_points()
    );

    // Fine-tuning with simulated rounding starts from the float model and gives a model
    // that quantizes again.
    let tuned = fine_tune_quantized(
        &float,
        &int8,
        Arc::clone(&train),
        Arc::clone(&valid),
        &Recipe {
            learning_rate: 1e-4,
            warmup_epochs: 0.0,
            ..Recipe::new(1, 16, 5)
        },
        &mut |_| {},
    )
    .unwrap();
    assert_ne!(tuned.weights, float.weights);
    let (tuned_int8, _) = quantize_artifact(&tuned, train.as_ref(), Calibrator::MinMax).unwrap();
    let after = compare(&float, &tuned_int8, valid.as_ref()).unwrap();
    assert!(
        after.int8.accuracy > 0.8,
        "fine-tuning broke the model: {}",
        after.int8.accuracy
    );

    // The int8 artifact is what the board loads, and runs in int8.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("int8.lsm");
    write_artifact(&int8, &path).unwrap();
    let loaded = load_model(&path, &Default::default()).unwrap();
    let engine = Engine::new(&loaded.artifact).unwrap();
    assert_eq!(engine.precision(), Precision::Int8);
}
