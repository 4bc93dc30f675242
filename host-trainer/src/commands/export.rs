//! `leukoscope-train export`: a model rewritten as a `.lsm` file in this version's format.

use std::path::PathBuf;

use super::model::load;

/// `export`'s flags: which model, and where to write it.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// A run folder (its checkpoint), or a .lsm file.
    #[arg(long)]
    pub model: PathBuf,
    /// Where to write the .lsm model.
    #[arg(long)]
    pub out: PathBuf,
}

/// Writes the model behind `--model` to `--out` in this version's format.
pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let (model, origin) = load(&args.model)?;
    leukoscope_trainer::export::write_artifact(&model, &args.out)?;
    println!("wrote {} from {origin}", args.out.display());
    Ok(())
}
