//! `leukoscope-train export`: a model rewritten as a `.lsm` file in this version's format.

use std::path::Path;

use super::model::load;

/// `export`: the model behind `path` written to `out` in this version's format.
pub fn export(path: &Path, out: &Path) -> anyhow::Result<()> {
    let (model, origin) = load(path)?;
    leukoscope_trainer::export::write_artifact(&model, out)?;
    println!("wrote {} from {origin}", out.display());
    Ok(())
}
