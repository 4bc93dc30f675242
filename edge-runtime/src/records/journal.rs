//! The append-only journal of classified cells: a cell counts only once its record is on disk.
//!
//! Each entry is one frame, `u32 length | u32 CRC-32 | postcard payload`, written and then
//! `fsync`ed (`sync_data`) before [`Journal::append`] returns. After a power cut or a killed
//! process, [`Journal::open`] keeps every whole frame and cuts off only a torn tail (a frame
//! whose bytes did not all reach the disk). A bad frame with whole frames after it is not a
//! torn tail but damage, and is reported, never cut off. The byte layout is in
//! `docs/journal.md`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use leukoscope_core::files::sync_dir;

use super::entry::JournalEntry;
use super::layout::DataDir;

/// The first eight bytes of every journal file.
pub const MAGIC: [u8; 8] = *b"LKSJRNL\0";

/// The format version this program writes and the highest it reads.
pub const FORMAT_VERSION: u16 = 1;

/// Bytes before the first frame: the magic and the little-endian version.
pub const HEADER_LEN: u64 = MAGIC.len() as u64 + 2;

/// Bytes before each payload: its length and its CRC, both little-endian `u32`.
pub const FRAME_HEADER_LEN: usize = 8;

/// Largest payload a frame may hold. A cell record is about a hundred bytes; the limit keeps a
/// damaged length field from being believed, and a runaway entry from filling the disk.
pub const MAX_PAYLOAD_LEN: u32 = 1 << 20;

/// What [`Journal::open`] found and repaired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Whole records in the journal.
    pub records: u64,
    /// Bytes of torn tail cut off the end (0 after a clean shutdown).
    pub dropped_tail_bytes: u64,
}

impl Recovery {
    /// A line for the console when a torn tail was cut off, naming `path`; `None` after a
    /// clean shutdown.
    pub fn torn_tail_note(&self, path: &Path) -> Option<String> {
        (self.dropped_tail_bytes > 0).then(|| {
            format!(
                "cut {} bytes of a record torn by a power cut or a kill off journal {} ({} whole records kept); that record had not been counted",
                self.dropped_tail_bytes,
                path.display(),
                self.records
            )
        })
    }
}

/// Why the journal could not be opened, read or appended to.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file could not be opened, created or read.
    #[error("cannot open journal {}", path.display())]
    Open {
        /// The journal.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file does not start with the journal magic.
    #[error("{} is not a leukoscope journal (its first bytes are wrong); it was left untouched, is it the right path?", path.display())]
    NotAJournal {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by a newer format.
    #[error("journal {} has format version {found}, this program reads up to {FORMAT_VERSION}; update the edge program", path.display())]
    UnsupportedVersion {
        /// The journal.
        path: PathBuf,
        /// The version in its header.
        found: u16,
    },
    /// A frame that was written whole and changed since (bytes flipped on the card), or one
    /// with whole frames after it: damage, not a torn tail.
    #[error("journal {} is damaged at byte {offset} (after {records_before} good records): a record there was written whole and its bytes changed since, which a power cut does not do; it was left untouched: copy it off the board and report it", path.display())]
    Corrupt {
        /// The journal.
        path: PathBuf,
        /// Byte offset of the damaged frame.
        offset: u64,
        /// Whole records before it.
        records_before: u64,
    },
    /// A whole frame (its CRC matches) whose entry this program cannot decode.
    #[error("journal {} holds an entry at byte {offset} that this program cannot read (written by a newer edge program?); update the edge program", path.display())]
    UnknownEntry {
        /// The journal.
        path: PathBuf,
        /// Byte offset of the frame.
        offset: u64,
    },
    /// A torn tail was found but could not be cut off.
    #[error("cannot cut the torn tail off journal {}", path.display())]
    Repair {
        /// The journal.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The disk is full: the record was not committed and the slide has stopped.
    #[error("the disk holding journal {} is full: the last cell was not recorded and the slide has stopped; free space, then reopen the journal (every cell counted so far is kept)", path.display())]
    Full {
        /// The journal.
        path: PathBuf,
        /// The error from the system.
        #[source]
        source: io::Error,
    },
    /// Writing or syncing failed for another reason: the record was not committed.
    #[error("cannot write journal {}: the last cell was not recorded and the slide has stopped; check the storage, then reopen the journal", path.display())]
    Write {
        /// The journal.
        path: PathBuf,
        /// The error from the system.
        #[source]
        source: io::Error,
    },
    /// An earlier append failed; the journal takes no more until it is reopened.
    #[error("journal {} refuses new records: an earlier write failed and the slide stopped; reopen the journal", path.display())]
    Stopped {
        /// The journal.
        path: PathBuf,
    },
    /// The entry encodes to more than [`MAX_PAYLOAD_LEN`] bytes.
    #[error(
        "journal entry is {len} bytes, above the limit of {MAX_PAYLOAD_LEN}; it was not written"
    )]
    EntryTooLarge {
        /// Its encoded size.
        len: usize,
    },
    /// The entry could not be encoded.
    #[error("cannot encode journal entry")]
    Encode(#[source] postcard::Error),
}

/// The storage a journal lives in: a [`File`] on the board; tests put a failing writer here.
pub trait JournalStorage: Read + Write + Seek {
    /// Cuts or extends the storage to `len` bytes (as [`File::set_len`]).
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Makes written bytes and the length durable (as [`File::sync_data`]).
    fn sync_data(&mut self) -> io::Result<()>;
}

impl JournalStorage for File {
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }
}

/// A journal held in memory: for reading a journal's bytes from elsewhere (a fuzzer, a copy
/// taken off a board) with the same recovery as a file.
impl JournalStorage for io::Cursor<Vec<u8>> {
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(io::Error::other)?;
        self.get_mut().resize(len, 0);
        Ok(())
    }
    fn sync_data(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An open journal, positioned after its last committed record.
#[derive(Debug)]
pub struct Journal<S: JournalStorage = File> {
    storage: S,
    path: PathBuf,
    /// Bytes known to be on disk: the header and every whole frame.
    committed_len: u64,
    records: u64,
    /// Set by a failed append: a half frame may sit past `committed_len` (if cutting it off
    /// failed too), and a good frame written after it would be lost behind it on recovery.
    stopped: bool,
    /// What opening it found and repaired.
    recovery: Recovery,
}

impl Journal<File> {
    /// Opens the journal at `path`, creating it if absent, and recovers it: whole records are
    /// kept, a torn tail is cut off (and the cut synced), damage before whole records is an error.
    pub fn open(path: impl AsRef<Path>) -> Result<(Self, Recovery), JournalError> {
        let path = path.as_ref();
        let open_err = |source| JournalError::Open {
            path: path.to_path_buf(),
            source,
        };
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(open_err)?;
        let opened = Self::from_storage(file, path)?;
        if !existed {
            // A new file's directory entry is durable only once its directory is synced.
            sync_parent_dir(path).map_err(open_err)?;
        }
        Ok(opened)
    }

    /// Reads every committed entry of the journal at `path` without changing the file (a torn
    /// tail is skipped, not cut off).
    pub fn read_all(path: impl AsRef<Path>) -> Result<Vec<JournalEntry>, JournalError> {
        let path = path.as_ref();
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|source| JournalError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        Self::read_bytes(&bytes, path)
    }

    /// Every committed entry of a journal's `bytes` (a torn tail skipped), as
    /// [`read_all`](Self::read_all) reads a file; `path` names it in errors.
    pub fn read_bytes(bytes: &[u8], path: &Path) -> Result<Vec<JournalEntry>, JournalError> {
        if bytes.is_empty() {
            return Ok(Vec::new());
        }
        Ok(scan(bytes, path)?.entries)
    }
}

impl<S: JournalStorage> Journal<S> {
    /// Opens a journal in `storage` (see [`Journal::open`]); `path` names it in errors.
    pub fn from_storage(
        mut storage: S,
        path: impl AsRef<Path>,
    ) -> Result<(Self, Recovery), JournalError> {
        let path = path.as_ref().to_path_buf();
        let open_err = |source| JournalError::Open {
            path: path.clone(),
            source,
        };
        let mut bytes = Vec::new();
        storage
            .seek(SeekFrom::Start(0))
            .and_then(|_| storage.read_to_end(&mut bytes))
            .map_err(open_err)?;

        // A file shorter than the header that matches its start was torn while being created.
        let header_torn = (bytes.len() as u64) < HEADER_LEN
            && MAGIC.starts_with(&bytes[..bytes.len().min(MAGIC.len())]);
        if header_torn {
            let mut header = Vec::with_capacity(HEADER_LEN as usize);
            header.extend_from_slice(&MAGIC);
            header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            let written = storage
                .set_len(0)
                .and_then(|()| storage.seek(SeekFrom::Start(0)))
                .and_then(|_| storage.write_all(&header))
                .and_then(|()| storage.sync_data());
            if let Err(source) = written {
                return Err(write_error(path, source));
            }
            let journal = Journal {
                storage,
                path,
                committed_len: HEADER_LEN,
                records: 0,
                stopped: false,
                recovery: Recovery::default(),
            };
            // The torn bytes were only a prefix of the header just rewritten: nothing dropped.
            let recovery = Recovery::default();
            return Ok((journal, recovery));
        }

        let scan = scan(&bytes, &path)?;
        let dropped = bytes.len() as u64 - scan.committed_len;
        if dropped > 0 {
            storage
                .set_len(scan.committed_len)
                .and_then(|()| storage.sync_data())
                .map_err(|source| JournalError::Repair {
                    path: path.clone(),
                    source,
                })?;
        }
        storage
            .seek(SeekFrom::Start(scan.committed_len))
            .map_err(open_err)?;
        let records = scan.entries.len() as u64;
        let recovery = Recovery {
            records,
            dropped_tail_bytes: dropped,
        };
        let journal = Journal {
            storage,
            path,
            committed_len: scan.committed_len,
            records,
            stopped: false,
            recovery,
        };
        Ok((journal, recovery))
    }

    /// Writes `entry` and syncs it to disk; returns its record index (0 for the first).
    ///
    /// Count the cell only after this returns `Ok`. On an error nothing of the entry is
    /// committed, the partial frame is cut off (best effort), and every later append is
    /// refused with [`JournalError::Stopped`] until the journal is reopened.
    pub fn append(&mut self, entry: &JournalEntry) -> Result<u64, JournalError> {
        self.append_all(std::slice::from_ref(entry))
    }

    /// Writes `entries` in order with one sync for all of them (a frame's cells and the
    /// frame's own record); returns the index of the first. After a power cut a prefix of
    /// them may survive, each whole or not at all, so count them only after this returns.
    /// Errors as [`append`](Self::append), with none of the entries committed.
    pub fn append_all(&mut self, entries: &[JournalEntry]) -> Result<u64, JournalError> {
        if self.stopped {
            return Err(JournalError::Stopped {
                path: self.path.clone(),
            });
        }
        let mut frames = Vec::new();
        for entry in entries {
            let payload = postcard::to_stdvec(entry).map_err(JournalError::Encode)?;
            let len = u32::try_from(payload.len())
                .ok()
                .filter(|&len| len <= MAX_PAYLOAD_LEN)
                .ok_or(JournalError::EntryTooLarge { len: payload.len() })?;
            frames.extend_from_slice(&len.to_le_bytes());
            frames.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
            frames.extend_from_slice(&payload);
        }
        let written = self
            .storage
            .write_all(&frames)
            .and_then(|()| self.storage.sync_data());
        match written {
            Ok(()) => {
                self.committed_len += frames.len() as u64;
                let index = self.records;
                self.records += entries.len() as u64;
                Ok(index)
            }
            Err(source) => {
                self.stopped = true;
                // Best effort: recovery would cut a half frame off anyway, as long as nothing
                // whole is written after it, which `stopped` ensures. Whole frames of this
                // batch that reached the disk go too: none of them was counted.
                let _ = self.storage.set_len(self.committed_len);
                let _ = self.storage.sync_data();
                Err(write_error(self.path.clone(), source))
            }
        }
    }

    /// Whole records in the journal.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Bytes committed: the header and every whole record.
    pub fn committed_len(&self) -> u64 {
        self.committed_len
    }

    /// What opening the journal found and repaired.
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }
}

/// Opens (or creates) the journal of `slide` in the data folder, with what it already
/// holds, and says where it is.
pub fn open_slide_journal(
    data: &DataDir,
    slide: &str,
) -> Result<(Journal, Vec<JournalEntry>, PathBuf), JournalError> {
    let path = data.journal(slide);
    let dir = data.journals();
    std::fs::create_dir_all(&dir).map_err(|source| JournalError::Open { path: dir, source })?;
    let (journal, _recovery) = Journal::open(&path)?;
    let earlier = Journal::read_all(&path)?;
    Ok((journal, earlier, path))
}

/// Names a failed write: a full disk (or quota) apart from every other failure.
fn write_error(path: PathBuf, source: io::Error) -> JournalError {
    if matches!(
        source.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    ) {
        JournalError::Full { path, source }
    } else {
        JournalError::Write { path, source }
    }
}

fn sync_parent_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => sync_dir(Path::new(".")),
    }
}

/// What a scan of a journal's bytes found.
#[derive(Debug)]
struct Scan {
    entries: Vec<JournalEntry>,
    /// Length of the header and every whole frame; anything after is a torn tail.
    committed_len: u64,
}

/// A frame that checks out: its payload range within the journal.
fn whole_frame_at(bytes: &[u8], offset: usize) -> Option<std::ops::Range<usize>> {
    let header = bytes.get(offset..offset.checked_add(FRAME_HEADER_LEN)?)?;
    let len = u32::from_le_bytes(header[0..4].try_into().ok()?);
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    // A postcard entry is never empty; refusing length 0 keeps a zero-filled tail (what some
    // file systems leave after a power cut) from reading as frames.
    if len == 0 || len > MAX_PAYLOAD_LEN {
        return None;
    }
    let start = offset + FRAME_HEADER_LEN;
    let range = start..start.checked_add(len as usize)?;
    let payload = bytes.get(range.clone())?;
    (crc32fast::hash(payload) == crc).then_some(range)
}

/// Whether the bytes from `offset`, where the first frame that is not whole starts, to the
/// end of the file are what a write cut short by a power cut or a kill leaves: a prefix of
/// the frames being written, or blocks the file system had not filled yet (zeros from a
/// block boundary on). A record that is all there but whose bytes changed later (a flipped
/// bit on the card) is not torn: cutting it would silently drop a sign-off or a counted cell.
fn is_torn(bytes: &[u8], offset: usize) -> bool {
    /// The smallest block a file system allocates: a gap it leaves starts on one.
    const BLOCK: usize = 512;
    let tail = &bytes[offset..];
    let Some(header) = tail.get(..FRAME_HEADER_LEN) else {
        return true;
    };
    if header.iter().all(|&b| b == 0) {
        return true;
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    // The program never writes such a length, so it was written whole and changed since.
    if len == 0 || len > MAX_PAYLOAD_LEN {
        return false;
    }
    let start = offset + FRAME_HEADER_LEN;
    let rest = &bytes[start..];
    match rest.get(..len as usize) {
        // Cut short, unless the whole rest is the record and only its length changed.
        None => crc32fast::hash(rest) != crc,
        // All there with a wrong CRC: torn only if it ends in a gap of zeros that starts on a
        // block boundary (or covers the whole payload).
        Some(payload) => {
            let zeros = payload.iter().rev().take_while(|&&b| b == 0).count();
            let gap = start + payload.len() - zeros;
            zeros > 0 && (zeros == payload.len() || gap.is_multiple_of(BLOCK))
        }
    }
}

/// Reads the header and every whole frame of a non-empty journal.
fn scan(bytes: &[u8], path: &Path) -> Result<Scan, JournalError> {
    if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
        return Err(JournalError::NotAJournal {
            path: path.to_path_buf(),
        });
    }
    let Some(version) = bytes.get(MAGIC.len()..HEADER_LEN as usize) else {
        // The magic is whole but the version was torn: no frame can follow it.
        return Ok(Scan {
            entries: Vec::new(),
            committed_len: MAGIC.len() as u64,
        });
    };
    let found = u16::from_le_bytes([version[0], version[1]]);
    if found > FORMAT_VERSION || found == 0 {
        return Err(JournalError::UnsupportedVersion {
            path: path.to_path_buf(),
            found,
        });
    }

    let mut entries = Vec::new();
    let mut offset = HEADER_LEN as usize;
    while offset < bytes.len() {
        let Some(range) = whole_frame_at(bytes, offset) else {
            // Torn tail, or damage? Damage if any whole frame starts after this point, or if
            // the bytes here are not what an interrupted write leaves.
            let resumes = (offset + 1..bytes.len()).any(|at| whole_frame_at(bytes, at).is_some());
            if resumes || !is_torn(bytes, offset) {
                return Err(JournalError::Corrupt {
                    path: path.to_path_buf(),
                    offset: offset as u64,
                    records_before: entries.len() as u64,
                });
            }
            break;
        };
        // The CRC matches, so the frame was written whole: an entry that does not decode is
        // from a newer program (or a bug), and cutting it off would destroy a record.
        let entry = postcard::from_bytes::<JournalEntry>(&bytes[range.clone()]).map_err(|_| {
            JournalError::UnknownEntry {
                path: path.to_path_buf(),
                offset: offset as u64,
            }
        })?;
        entries.push(entry);
        offset = range.end;
    }
    Ok(Scan {
        entries,
        committed_len: offset.min(bytes.len()) as u64,
    })
}

#[cfg(test)]
pub(crate) mod tests;
