//! `leukoscope-edge`: the board's program.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use leukoscope_core::artifact::{PublicKey, TrustPolicy};
use leukoscope_edge::model::load_model;

/// leukoscope on the microscope's board: decision support for ALL screening, to be
/// confirmed by a trained reader.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify a model file the way the board does before running it (digest, signature,
    /// consistency) and print what it is. Exits non-zero with the reason if it is refused.
    Check {
        /// The `.lsm` model file.
        #[arg(long)]
        model: PathBuf,
        /// Ed25519 public key (64 hex digits) whose signature the board requires; repeat
        /// for several. Without any, unsigned models are accepted.
        #[arg(long = "trust", value_name = "KEY")]
        trusted_keys: Vec<PublicKey>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("leukoscope-edge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Check {
            model,
            trusted_keys,
        } => {
            let verified = load_model(&model, &TrustPolicy::only(trusted_keys))?;
            let a = &verified.artifact;
            let classes: Vec<&str> = a.taxonomy.classes.iter().map(|c| c.name.as_str()).collect();
            println!("model      {}", model.display());
            println!("digest     {}", verified.digest);
            match verified.signed_by {
                Some(key) => println!("signed by  {key}"),
                None => println!("signed by  nobody (unsigned)"),
            }
            println!(
                "network    {} ({} input {}x{} at {} um/px, {:.1} M MACs, {:.2} M parameters)",
                a.spec.name,
                a.spec.input.kind.as_str(),
                a.spec.input.width,
                a.spec.input.height,
                a.spec.input.um_per_px,
                a.spec.macs()? as f64 / 1e6,
                a.spec.params()? as f64 / 1e6,
            );
            println!("classes    {} ({})", a.taxonomy.name, classes.join(", "));
            println!(
                "trained by {} at {}",
                a.provenance.tool, a.provenance.created
            );
            for metric in &a.provenance.metrics {
                println!("           {} = {:.4}", metric.name, metric.value);
            }
            println!("ok");
            Ok(())
        }
    }
}
