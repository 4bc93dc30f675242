//! `leukoscope-train keygen` and `sign`: ed25519 keys and signatures over model artifacts.
//!
//! A secret key file holds the 32-byte seed as 64 hex digits; the public file the same for
//! the public key, which is what boards list as trusted.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use leukoscope_core::artifact::{ModelArtifact, SigningKey, TrustPolicy, sign};

use leukoscope_core::files::AtomicWrite;

use super::write_file;

/// Writes a new key pair: `NAME.key` (secret, readable by the owner only) and `NAME.pub`.
pub fn keygen(out: &Path, force: bool) -> anyhow::Result<()> {
    let secret_path = out.with_extension("key");
    let public_path = out.with_extension("pub");
    for path in [&secret_path, &public_path] {
        if path.exists() && !force {
            bail!(
                "{} already exists; a key is never overwritten without --force",
                path.display()
            );
        }
    }
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .context("cannot read the system's random source /dev/urandom")?;
    let key = SigningKey::from_secret(&seed);
    // Owner-only before it appears under its name: never readable by others, not even for
    // a moment.
    AtomicWrite::durable()
        .mode(0o600)
        .write(
            &secret_path,
            format!("{}\n", hex::encode(key.secret())).as_bytes(),
        )
        .with_context(|| format!("cannot write {}", secret_path.display()))?;
    write_file(&public_path, format!("{}\n", key.public_key()).as_bytes())?;
    println!(
        "secret key  {} (keep it off the boards)",
        secret_path.display()
    );
    println!(
        "public key  {} = {}",
        public_path.display(),
        key.public_key()
    );
    Ok(())
}

/// Reads a secret key file.
pub fn read_secret(path: &Path) -> anyhow::Result<SigningKey> {
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

/// Signs `model` with the key in `key`, writing to `out` (default: in place).
pub fn sign_model(key: &Path, model: &Path, out: Option<PathBuf>) -> anyhow::Result<()> {
    let key = read_secret(key)?;
    let bytes = std::fs::read(model).with_context(|| format!("cannot read {}", model.display()))?;
    // Only a model that decodes and is consistent gets a signature.
    let verified = ModelArtifact::decode(&bytes, &TrustPolicy::any())
        .with_context(|| format!("{} is refused", model.display()))?;
    let signed = sign(&bytes, &key)?;
    let out = out.unwrap_or_else(|| model.to_owned());
    write_file(&out, &signed)?;
    println!(
        "signed {} (digest {}) with {}",
        out.display(),
        verified.digest,
        key.public_key()
    );
    Ok(())
}
