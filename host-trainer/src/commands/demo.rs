//! `leukoscope-train demo`: the whole training path on synthetic smears.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use leukoscope_core::artifact::{DatasetFingerprint, ModelArtifact, TrustPolicy};
use leukoscope_core::engine::quantize::Calibrator;
use leukoscope_core::preprocess::Preprocess;
use leukoscope_core::spec::{Preset, PresetOptions};
use leukoscope_core::synth::FieldOptions;
use leukoscope_core::taxonomy::Taxonomy;
use leukoscope_trainer::backend::DeviceChoice;
use leukoscope_trainer::export::TOOL;
use leukoscope_trainer::fit::Recipe;
use leukoscope_trainer::quantization::{compare, quantize_artifact};
use leukoscope_trainer::run_dir::{RunConfig, RunDir, RunKind, SyntheticRun};
use leukoscope_trainer::schedule::Schedule;
use leukoscope_trainer::synthetic::synthetic_fields;

use super::run::{RunPlan, execute};

/// `demo`'s flags: where, how many synthetic fields, how long, at what size.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Run folder.
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    /// Synthetic training fields per class (validation uses a quarter as many).
    #[arg(long, default_value_t = 400)]
    pub per_class: usize,
    /// Passes over the training fields.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Side of the synthetic fields and of the network input, in pixels at the
    /// 4-class data's scale (0.42 um per pixel).
    #[arg(long, default_value_t = 96)]
    pub size: u32,
    /// Seeds the fields, the weights and the shuffling.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// cpu, or cuda[:N] in a build with the `cuda` feature.
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
}

/// Trains the tiny CNN on synthetic fields, checks it on held-out ones, and exports it.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let DemoArgs {
        out,
        per_class,
        epochs,
        size,
        seed,
        device,
    } = args;
    let run = RunDir::new(&out);
    if run.config().exists() {
        bail!(
            "{} already holds a run; remove it or choose another --out",
            out.display()
        );
    }
    let taxonomy = Taxonomy::b_all_4();
    let preprocess = Preprocess::field(size, size);
    let spec = Preset::TinyCnn.build(&PresetOptions {
        input_size: size,
        ..PresetOptions::field(taxonomy.len() as u32)
    });
    let started = Instant::now();
    let fields = FieldOptions {
        size,
        ..FieldOptions::default()
    };
    let train = synthetic_fields(per_class, seed, &fields, &preprocess)
        .context("drawing training fields")?;
    let valid = synthetic_fields(
        (per_class / 4).max(1),
        seed.wrapping_add(1),
        &fields,
        &preprocess,
    )
    .context("drawing validation fields")?;
    println!(
        "SYNTHETIC DEMONSTRATION - not for patients. {} training and {} held-out synthetic fields, drawn in {:.1} s",
        train.len(),
        valid.len(),
        started.elapsed().as_secs_f64()
    );
    let recipe = Recipe {
        learning_rate: 3e-3,
        schedule: Schedule::Cosine,
        warmup_epochs: 0.0,
        ..Recipe::new(epochs, 16, seed)
    };
    let name = format!("synthetic b-all-4 fields, {size}x{size}, seed {seed}");
    let plan = RunPlan {
        held_out: true,
        split_lists: None,
        name: format!("SYNTHETIC DEMONSTRATION: {} on {name}", spec.name),
        dir: run.clone(),
        config: RunConfig {
            tool: TOOL.into(),
            kind: RunKind::Demo(SyntheticRun { per_class }),
            data: name.clone().into(),
            taxonomy: taxonomy.name.clone(),
            model: spec.name.clone(),
            input_size: size,
            preprocess: preprocess.clone(),
            device,
            recipe,
        },
        spec,
        taxonomy,
        resume: false,
        dataset_summary: format!(
            "{} synthetic training fields, {} per class (no patient images)",
            train.len(),
            per_class
        ),
        split_summary: format!(
            "{} held-out synthetic fields drawn from another seed",
            valid.len()
        ),
        fingerprint: DatasetFingerprint {
            name,
            images: train.len() as u64,
            sha256: [0; 32],
        },
    };
    let (train, valid) = (Arc::new(train), Arc::new(valid));
    let result = execute(&plan, train.clone(), valid.clone())?;
    // Read the model back the way the edge will, so a broken export fails here.
    let bytes = std::fs::read(&result.model)
        .with_context(|| format!("reading back {}", result.model.display()))?;
    let verified = ModelArtifact::decode(&bytes, &TrustPolicy::any())
        .with_context(|| format!("{} does not verify", result.model.display()))?;
    println!(
        "model {} ({} bytes, digest {}) verified",
        result.model.display(),
        bytes.len(),
        verified.digest,
    );
    // The int8 form is what the edge runs (`leukoscope-edge demo` bundles one), calibrated
    // on the training fields and compared on the held-out ones.
    let (int8, _) = quantize_artifact(&verified.artifact, train.as_ref(), Calibrator::MinMax)
        .context("quantizing the demo model")?;
    let comparison = compare(&verified.artifact, &int8, valid.as_ref())?;
    let int8_path = run.model_int8();
    super::write_file(&int8_path, &int8.encode()?)?;
    println!(
        "int8 model {}: macro F1 {:.4} (float {:.4}), top-1 agreement {:.1} %; total {:.0} s",
        int8_path.display(),
        comparison.int8.macro_f1,
        comparison.float.macro_f1,
        comparison.top1_agreement * 100.0,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
