//! `leukoscope-train keygen`: an ed25519 key pair for signing model artifacts (`sign`).
//!
//! A secret key file holds the 32-byte seed as 64 hex digits; the public file the same for
//! the public key, which is what boards list as trusted.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use leukoscope_core::artifact::SigningKey;
use leukoscope_core::files::AtomicWrite;

use super::write_file;

/// `keygen`'s flags: where the pair goes, and whether an existing one may be replaced.
#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Path and name of the pair, without extension.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace existing key files.
    #[arg(long)]
    pub force: bool,
}

/// Writes a new key pair: `NAME.key` (secret, readable by the owner only) and `NAME.pub`.
pub fn run(args: KeygenArgs) -> anyhow::Result<()> {
    let secret_path = args.out.with_extension("key");
    let public_path = args.out.with_extension("pub");
    for path in [&secret_path, &public_path] {
        if path.exists() && !args.force {
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
