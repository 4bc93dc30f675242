//! Reading a file a user named (a model, a board's settings, a frame, a token): a regular
//! file only, never more than a cap, and never a wait. A FIFO given as a model would hang
//! the program waiting for a writer, and `/dev/zero` would be read until memory ran out;
//! both are named instead.

use std::borrow::ToOwned;
use std::fs::{File, FileType, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::vec::Vec;

/// Why a named file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The system refused: missing, no permission, an I/O error.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A folder, a FIFO, a device or a socket.
    #[error("{} is {what}, not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        what: &'static str,
    },
    /// Bigger than any file of its kind.
    #[error("{} is {size} bytes, more than the {limit} such a file can have; is it the right file?", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size (at least; a file growing while read stops at `limit + 1`).
        size: u64,
        /// The cap.
        limit: u64,
    },
}

/// The bytes of the regular file at `path`, refused beyond `limit` bytes.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    let file = open_without_waiting(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile {
            path: path.to_owned(),
            what: describe(&meta.file_type()),
        });
    }
    let too_large = |size| ReadError::TooLarge {
        path: path.to_owned(),
        size,
        limit,
    };
    if meta.len() > limit {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Opens for reading without blocking: opening a FIFO would otherwise wait for a writer
/// before its type could be checked. Reads from a regular file are the same either way.
#[cfg(unix)]
fn open_without_waiting(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
}

#[cfg(not(unix))]
fn open_without_waiting(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).open(path)
}

fn describe(kind: &FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests;
