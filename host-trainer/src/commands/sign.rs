//! `leukoscope-train sign`: an ed25519 signature over a model artifact's digest, with a
//! secret key from `keygen`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use leukoscope_core::artifact::{ModelArtifact, SigningKey, TrustPolicy, sign};

use super::write_file;

/// `sign`'s flags: the secret key, the model, and where the signed copy goes.
#[derive(clap::Args)]
pub struct SignArgs {
    /// Secret key file from `keygen`.
    #[arg(long)]
    pub key: PathBuf,
    /// The model to sign.
    pub model: PathBuf,
    /// Write the signed model here instead of in place.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Reads a secret key file of `keygen`.
fn read_secret(path: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the key {}", path.display()))?;
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut seed).with_context(|| {
        format!(
            "{} is not a secret key (64 hex digits, as keygen writes)",
            path.display()
        )
    })?;
    Ok(SigningKey::from_secret(&seed))
}

/// Signs `--model` with the key in `--key`, writing to `--out` (default: in place).
pub fn run(args: SignArgs) -> anyhow::Result<()> {
    let SignArgs { key, model, out } = args;
    let key = read_secret(&key)?;
    let bytes =
        std::fs::read(&model).with_context(|| format!("cannot read {}", model.display()))?;
    // Only a model that decodes and is consistent gets a signature.
    let verified = ModelArtifact::decode(&bytes, &TrustPolicy::any())
        .with_context(|| format!("{} is refused", model.display()))?;
    let signed = sign(&bytes, &key)?;
    let out = out.unwrap_or(model);
    write_file(&out, &signed)?;
    println!(
        "signed {} (digest {}) with {}",
        out.display(),
        verified.digest,
        key.public_key()
    );
    Ok(())
}
