//! `leukoscope-train`: trains, evaluates and exports leukoscope's classifiers.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use leukoscope_core::artifact::{Metric, ModelArtifact, TrustPolicy};
use leukoscope_core::preprocess::Preprocess;
use leukoscope_core::spec::{Preset, PresetOptions};
use leukoscope_core::synth::FieldOptions;
use leukoscope_core::taxonomy::Taxonomy;
use leukoscope_trainer::backend::{Cpu, CpuTrain, DeviceChoice};
use leukoscope_trainer::export::{artifact, provenance, write_artifact};
use leukoscope_trainer::fit::{FitConfig, fit, predict};
use leukoscope_trainer::synthetic::synthetic_fields;

/// Train, evaluate and export leukoscope's white-cell classifiers.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a small CNN on synthetic smear fields (no patient images), check it on
    /// held-out synthetic fields and export it as a .lsm model. A demonstration of the
    /// whole training path; the model knows nothing of real blood.
    Demo {
        /// Folder for the model and its report.
        #[arg(long, default_value = "runs/demo")]
        out: PathBuf,
        /// Synthetic training fields per class (validation uses a quarter as many).
        #[arg(long, default_value_t = 400)]
        per_class: usize,
        /// Passes over the training fields.
        #[arg(long, default_value_t = 10)]
        epochs: usize,
        /// Side of the synthetic fields and of the network's input, in pixels at the
        /// 4-class data's scale (0.42 um per pixel).
        #[arg(long, default_value_t = 96)]
        size: u32,
        /// Seeds the fields, the weights and the shuffling.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Where to train: cpu, or cuda[:N] in a build with the `cuda` feature.
        #[arg(long, default_value = "cpu")]
        device: DeviceChoice,
    },
    /// List the model presets with their cost at a given input size.
    Presets {
        /// Side of the square input.
        #[arg(long, default_value_t = 224)]
        size: u32,
        /// Classes scored.
        #[arg(long, default_value_t = 4)]
        classes: u32,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("leukoscope-train: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Presets { size, classes } => {
            println!(
                "{:<16} {:>12} {:>12}  description",
                "preset", "MACs (M)", "params (M)"
            );
            for preset in Preset::ALL {
                let spec = preset.build(&PresetOptions {
                    input_size: size,
                    ..PresetOptions::field(classes)
                });
                match spec.analyze() {
                    Ok(a) => println!(
                        "{:<16} {:>12.1} {:>12.2}  {}",
                        preset.name(),
                        a.macs as f64 / 1e6,
                        a.params as f64 / 1e6,
                        preset.describe()
                    ),
                    Err(e) => println!("{:<16} not valid at {size}x{size}: {e}", preset.name()),
                }
            }
            Ok(())
        }
        Command::Demo {
            out,
            per_class,
            epochs,
            size,
            seed,
            device,
        } => demo(out, per_class, epochs, size, seed, device),
    }
}

fn demo(
    out: PathBuf,
    per_class: usize,
    epochs: usize,
    size: u32,
    seed: u64,
    device: DeviceChoice,
) -> anyhow::Result<()> {
    if device != DeviceChoice::Cpu {
        bail!("the demo trains on the CPU; use `train --device {device}` for GPU training");
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
    let config = FitConfig {
        epochs,
        batch_size: 16,
        learning_rate: 3e-3,
        seed,
        symmetries: true,
    };
    let cpu = Default::default();
    let fitted = fit::<CpuTrain>(&spec, &train, &valid, &config, &cpu, |e| {
        println!(
            "epoch {:>3}/{epochs}  train loss {:.3} acc {:.3}  valid loss {:.3} acc {:.3}  {:.0} img/s  {:.1} s",
            e.epoch,
            e.train_loss,
            e.train_accuracy,
            e.valid_loss,
            e.valid_accuracy,
            e.images_per_second,
            e.seconds
        )
    })?;

    let probabilities = predict::<Cpu>(&fitted.network, &valid, 64, &cpu);
    let classes = taxonomy.len();
    let mut confusion = vec![vec![0usize; classes]; classes];
    for (p, &truth) in probabilities.iter().zip(valid.labels()) {
        let predicted = p
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i);
        confusion[truth as usize][predicted] += 1;
    }
    let correct: usize = (0..classes).map(|i| confusion[i][i]).sum();
    let accuracy = correct as f64 / valid.len() as f64;
    println!("\nheld-out confusion (rows = truth, columns = prediction):");
    println!(
        "{:>12} {}",
        "",
        taxonomy
            .classes
            .iter()
            .map(|c| format!("{:>12}", c.name))
            .collect::<String>()
    );
    for (i, row) in confusion.iter().enumerate() {
        println!(
            "{:>12} {}",
            taxonomy.class_name(i as u32),
            row.iter().map(|n| format!("{n:>12}")).collect::<String>()
        );
    }
    println!("held-out accuracy {accuracy:.3}");

    let mut provenance = provenance(serde_json::to_string(&config)?);
    provenance.dataset.name = format!("synthetic b-all-4 fields, seed {seed}");
    provenance.dataset.images = train.len() as u64;
    provenance.metrics = vec![Metric {
        name: "synthetic_accuracy".into(),
        value: accuracy,
    }];
    let model = artifact(&fitted.network, taxonomy, preprocess, provenance);
    let path = out.join("synthetic-demo.lsm");
    write_artifact(&model, &path)?;
    // Read it back the way the edge will, so a broken export fails here and not on a board.
    let bytes = std::fs::read(&path).with_context(|| format!("reading back {}", path.display()))?;
    let verified = ModelArtifact::decode(&bytes, &TrustPolicy::any())
        .with_context(|| format!("{} does not verify", path.display()))?;
    println!(
        "wrote {} ({} bytes, digest {}) in {:.1} s total",
        path.display(),
        bytes.len(),
        verified.digest,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
