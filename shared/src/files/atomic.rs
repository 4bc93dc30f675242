//! A file replaced whole: written under a temporary name in its own folder (so the rename
//! never crosses file systems), then renamed over the old one. Readers see the old file or
//! the new one, never a mix; how much survives a power cut is the caller's choice
//! ([`AtomicWrite`]).

use std::format;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// How far a write is pushed to the disk before it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sync {
    /// The file's bytes and the folder's new entry: a power cut leaves the old file or the
    /// new one.
    FileAndFolder,
    /// The file's bytes only; the caller calls [`sync_dir`] once after a batch of files.
    FileOnly,
    /// Nothing: a power cut may lose the new file (or leave it empty), never leave half of
    /// it readable as whole. For what can be lost without losing a result.
    Nothing,
}

/// How a file is replaced: its Unix permissions and how far it is synced.
///
/// `AtomicWrite::durable()` is what every persisted file takes unless it says why not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AtomicWrite {
    mode: u32,
    sync: Sync,
}

impl AtomicWrite {
    /// Readable by all (0644), the file and its folder synced before the write returns.
    pub const fn durable() -> Self {
        AtomicWrite {
            mode: 0o644,
            sync: Sync::FileAndFolder,
        }
    }

    /// With Unix permissions `mode`, set before the file appears under its name (0600 for a
    /// secret key: never readable by others, not even for a moment).
    pub const fn mode(self, mode: u32) -> Self {
        AtomicWrite { mode, ..self }
    }

    /// The file synced but not its folder: for a batch of files in one folder, which the
    /// caller then makes durable with one [`sync_dir`].
    pub const fn folder_synced_by_caller(self) -> Self {
        AtomicWrite {
            sync: Sync::FileOnly,
            ..self
        }
    }

    /// Not synced at all: for files whose loss costs nothing but a picture.
    pub const fn unsynced(self) -> Self {
        AtomicWrite {
            sync: Sync::Nothing,
            ..self
        }
    }

    /// Replaces `path` with `bytes`, creating its folder if missing. On an error the
    /// temporary file is removed and `path` is as it was.
    pub fn write(self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let dir = parent(path);
        std::fs::create_dir_all(dir)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(dir)?;
        temp.write_all(bytes)?;
        if self.sync != Sync::Nothing {
            temp.as_file().sync_all()?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            temp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(self.mode))?;
        }
        temp.persist(path).map_err(|e| e.error)?;
        if self.sync == Sync::FileAndFolder {
            sync_dir(dir)?;
        }
        Ok(())
    }
}

/// Replaces `path` with `bytes` durably ([`AtomicWrite::durable`]).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    AtomicWrite::durable().write(path, bytes)
}

/// Makes the entries of `dir` (new files, renames) survive a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The folder `path` is in (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

#[cfg(test)]
mod tests;
