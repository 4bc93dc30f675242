//! Packing a trained network into a `.lsm` artifact.

use std::path::Path;

use anyhow::Context;
use burn::tensor::backend::Backend;
use leukoscope_core::artifact::{Calibration, ModelArtifact, Provenance};
use leukoscope_core::network::Network;
use leukoscope_core::preprocess::Preprocess;
use leukoscope_core::taxonomy::Taxonomy;

/// The artifact for `network`, refusing one the edge would refuse.
pub fn artifact<B: Backend>(
    network: &Network<B>,
    taxonomy: Taxonomy,
    preprocess: Preprocess,
    provenance: Provenance,
) -> ModelArtifact {
    ModelArtifact {
        spec: network.spec().clone(),
        taxonomy,
        preprocess,
        weights: network.weights(),
        quantized: None,
        calibration: Calibration::default(),
        provenance,
    }
}

/// Encodes `artifact` and writes it to `path` atomically: a crash or a full disk leaves
/// either the old file or the new one, never half of one.
pub fn write_artifact(artifact: &ModelArtifact, path: &Path) -> anyhow::Result<()> {
    let bytes = artifact
        .encode()
        .context("the trained model is inconsistent")?;
    write_atomically(path, &bytes)
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames it over `path`;
/// the file is readable by all (0644 on Unix).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomically_with_mode(path, bytes, 0o644)
}

/// [`write_atomically`] with Unix permissions `mode` set before the file appears (0600 for
/// a secret key: it is never readable by others, not even for a moment).
pub fn write_atomically_with_mode(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set the permissions of {}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    tmp.persist(path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// Provenance stamped with this program's name, version and the time.
pub fn provenance(training_config: String) -> Provenance {
    Provenance {
        tool: format!("leukoscope-train {}", env!("CARGO_PKG_VERSION")),
        git_commit: option_env!("LEUKOSCOPE_GIT_COMMIT")
            .unwrap_or("unknown")
            .into(),
        created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        training_config,
        ..Provenance::default()
    }
}
