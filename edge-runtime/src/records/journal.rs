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

use serde::{Deserialize, Serialize};

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

/// Whether `id` may name a slide. Slide ids become file names (the journal, the report
/// folder, the cell pictures): letters, digits, `-`, `_` and `.` only, 1 to 64 of them,
/// not starting with `.`, so no id reaches outside the storage folder and none is a name.
pub fn is_slide_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A slide's journal file in a journal folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlideJournalFile {
    /// The slide (the file's name without `.journal`).
    pub slide: String,
    /// The file.
    pub path: PathBuf,
    /// When it was last written.
    pub modified: std::time::SystemTime,
}

/// The slide journals (`<slide>.journal`) in `dir`, newest first.
pub fn slide_journals(dir: &Path) -> io::Result<Vec<SlideJournalFile>> {
    let mut found: Vec<SlideJournalFile> = std::fs::read_dir(dir)?
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("journal") {
                return None;
            }
            Some(SlideJournalFile {
                slide: path.file_stem()?.to_str()?.to_string(),
                modified: entry.metadata().and_then(|m| m.modified()).ok()?,
                path,
            })
        })
        .collect();
    found.sort_by(|a, b| b.modified.cmp(&a.modified).then(b.slide.cmp(&a.slide)));
    Ok(found)
}

/// One classified white cell, as it was counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    /// The slide the cell is on.
    pub slide: String,
    /// The frame (field of view) of the slide the cell was found in.
    pub frame: u64,
    /// The cell's box in frame pixels: x, y, width, height.
    pub bbox: [u32; 4],
    /// The model's probability for each class of its taxonomy, in taxonomy order.
    pub probabilities: Vec<f32>,
    /// SHA-256 digest of the model artifact that classified the cell.
    pub model_digest: [u8; 32],
}

/// One journal entry.
///
/// Postcard encodes the variant as its position, so new kinds of entry (reviewer corrections,
/// slide start and end) are only ever added at the end; reordering or removing a variant is a
/// format break and needs a new [`FORMAT_VERSION`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum JournalEntry {
    /// A classified cell.
    Cell(CellRecord),
    /// A frame fully dealt with: judged by the quality gate and, if accepted, every new
    /// cell in it recorded. After a restart the slide resumes after the last such frame.
    Frame(FrameRecord),
    /// The slide is finished; nothing more is recorded for it.
    SlideEnd(SlideEndRecord),
    /// A reviewer's verdict on a counted cell; only in a slide's review journal
    /// ([`crate::records::review`]).
    Correction(crate::records::review::CorrectionRecord),
    /// A reviewer signed the slide off; only in a slide's review journal.
    SignOff(crate::records::review::SignOffRecord),
}

/// A frame of a slide, once every cell it brought is recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameRecord {
    /// The slide.
    pub slide: String,
    /// The frame's index in its source.
    pub frame: u64,
    /// What the quality gate measured and decided.
    pub quality: crate::scan::quality::FrameQuality,
}

/// The end of a slide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlideEndRecord {
    /// The slide.
    pub slide: String,
    /// Why it ended, in words ("200 cells classified", "stopped by the operator").
    pub reason: String,
}

/// What [`Journal::open`] found and repaired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Whole records in the journal.
    pub records: u64,
    /// Bytes of torn tail cut off the end (0 after a clean shutdown).
    pub dropped_tail_bytes: u64,
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
    /// A damaged frame with whole frames after it: damage, not a torn tail.
    #[error("journal {} is damaged at byte {offset} (after {records_before} good records) and intact records follow; it was left untouched: copy it off the board and report it", path.display())]
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
        if bytes.is_empty() {
            return Ok(Vec::new());
        }
        let scan = scan(&bytes, path)?;
        Ok(scan.entries)
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
        let journal = Journal {
            storage,
            path,
            committed_len: scan.committed_len,
            records,
            stopped: false,
        };
        let recovery = Recovery {
            records,
            dropped_tail_bytes: dropped,
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
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
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
            // Torn tail, or damage? Damage if any whole frame starts after this point.
            let resumes = (offset + 1..bytes.len()).any(|at| whole_frame_at(bytes, at).is_some());
            if resumes {
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
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cell(index: u64) -> JournalEntry {
        JournalEntry::Cell(CellRecord {
            slide: format!("slide-{}", index % 7),
            frame: index / 3,
            bbox: [index as u32, 2 * index as u32, 40, 44],
            probabilities: vec![0.25, 0.5, (index % 10) as f32 / 10.0, 0.125],
            model_digest: [index as u8; 32],
        })
    }

    fn write_journal(path: &Path, count: u64) -> Vec<u64> {
        let (mut journal, recovery) = Journal::open(path).expect("open new journal");
        assert_eq!(recovery, Recovery::default());
        let mut ends = Vec::new();
        for i in 0..count {
            assert_eq!(journal.append(&cell(i)).expect("append"), i);
            ends.push(journal.committed_len());
        }
        ends
    }

    #[test]
    fn many_records_round_trip_and_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cells.journal");
        write_journal(&path, 500);
        let (mut journal, recovery) = Journal::open(&path).expect("reopen");
        assert_eq!(
            recovery,
            Recovery {
                records: 500,
                dropped_tail_bytes: 0
            }
        );
        assert_eq!(
            journal.append(&cell(500)).expect("append after reopen"),
            500
        );
        let entries = Journal::read_all(&path).expect("read");
        assert_eq!(entries.len(), 501);
        for (i, entry) in entries.iter().enumerate() {
            assert_eq!(entry, &cell(i as u64));
        }
    }

    #[test]
    fn every_truncation_point_keeps_exactly_the_whole_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let full = dir.path().join("full.journal");
        let ends = write_journal(&full, 3);
        let bytes = std::fs::read(&full).expect("read");
        for cut in 0..=bytes.len() {
            let path = dir.path().join("cut.journal");
            std::fs::write(&path, &bytes[..cut]).expect("write cut");
            let (_, recovery) = Journal::open(&path).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
            let whole = ends.iter().filter(|&&end| end <= cut as u64).count() as u64;
            assert_eq!(recovery.records, whole, "cut at {cut}");
            let kept = if cut as u64 <= HEADER_LEN {
                HEADER_LEN
            } else {
                ends.iter()
                    .copied()
                    .filter(|&end| end <= cut as u64)
                    .max()
                    .unwrap_or(HEADER_LEN)
            };
            assert_eq!(
                recovery.dropped_tail_bytes,
                (cut as u64).saturating_sub(kept),
                "cut at {cut}"
            );
            assert_eq!(
                std::fs::metadata(&path).expect("stat").len(),
                kept,
                "cut at {cut}"
            );
            let entries = Journal::read_all(&path).expect("read after recovery");
            assert_eq!(entries, (0..whole).map(cell).collect::<Vec<_>>());
        }
    }

    #[test]
    fn flipped_byte_in_last_record_is_a_torn_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cells.journal");
        let ends = write_journal(&path, 3);
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[ends[1] as usize + FRAME_HEADER_LEN + 3] ^= 0x40;
        std::fs::write(&path, &bytes).expect("write");
        let (_, recovery) = Journal::open(&path).expect("open");
        assert_eq!(recovery.records, 2);
        assert_eq!(recovery.dropped_tail_bytes, ends[2] - ends[1]);
    }

    #[test]
    fn flipped_byte_in_middle_record_is_named_damage_and_nothing_is_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cells.journal");
        let ends = write_journal(&path, 3);
        let mut bytes = std::fs::read(&path).expect("read");
        for at in [
            ends[0] as usize + 1,
            ends[0] as usize + FRAME_HEADER_LEN + 5,
        ] {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x01;
            std::fs::write(&path, &damaged).expect("write");
            match Journal::open(&path) {
                Err(JournalError::Corrupt {
                    offset,
                    records_before,
                    ..
                }) => {
                    assert_eq!((offset, records_before), (ends[0], 1));
                }
                other => panic!("flip at {at}: expected Corrupt, got {other:?}"),
            }
            assert_eq!(
                std::fs::read(&path).expect("read"),
                damaged,
                "file must be untouched"
            );
            assert!(matches!(
                Journal::read_all(&path),
                Err(JournalError::Corrupt { .. })
            ));
        }
        bytes[0] = b'X';
        std::fs::write(&path, &bytes).expect("write");
        assert!(matches!(
            Journal::open(&path),
            Err(JournalError::NotAJournal { .. })
        ));
    }

    #[test]
    fn zero_filled_tail_is_torn_not_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cells.journal");
        let ends = write_journal(&path, 2);
        let mut bytes = std::fs::read(&path).expect("read");
        bytes.extend_from_slice(&[0; 4096]);
        std::fs::write(&path, &bytes).expect("write");
        let (_, recovery) = Journal::open(&path).expect("open");
        assert_eq!(
            recovery,
            Recovery {
                records: 2,
                dropped_tail_bytes: 4096
            }
        );
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), ends[1]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn random_tail_never_panics_nor_loses_records(
            count in 0u64..6,
            tail in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("cells.journal");
            let ends = write_journal(&path, count);
            let committed = ends.last().copied().unwrap_or(HEADER_LEN);
            let mut bytes = std::fs::read(&path).expect("read");
            bytes.extend_from_slice(&tail);
            std::fs::write(&path, &bytes).expect("write");
            // Random bytes could (with odds of about 2^-32 per offset) form a whole frame; the
            // journal then reports damage instead of recovering, which loses nothing either.
            match Journal::open(&path) {
                Ok((_, recovery)) => {
                    prop_assert!(recovery.records >= count);
                    let entries = Journal::read_all(&path).expect("read");
                    prop_assert_eq!(&entries[..count as usize], &(0..count).map(cell).collect::<Vec<_>>()[..]);
                    if recovery.records == count {
                        prop_assert_eq!(recovery.dropped_tail_bytes, tail.len() as u64);
                        prop_assert_eq!(std::fs::metadata(&path).expect("stat").len(), committed);
                    }
                }
                Err(JournalError::Corrupt { records_before, .. }) => {
                    prop_assert!(records_before >= count);
                    prop_assert_eq!(std::fs::read(&path).expect("read"), bytes);
                }
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }
    }

    /// A file that takes `budget` more bytes and then fails the way a full disk does, after
    /// writing what fits (so a half frame reaches the file, as it would on a real disk).
    pub(crate) struct FillingDisk {
        pub(crate) file: File,
        pub(crate) budget: usize,
    }

    impl Read for FillingDisk {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.file.read(buf)
        }
    }
    impl Seek for FillingDisk {
        fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
            self.file.seek(pos)
        }
    }
    impl Write for FillingDisk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.budget == 0 {
                return Err(io::Error::from(io::ErrorKind::StorageFull));
            }
            let n = self.file.write(&buf[..buf.len().min(self.budget)])?;
            self.budget -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.file.flush()
        }
    }
    impl JournalStorage for FillingDisk {
        fn set_len(&mut self, len: u64) -> io::Result<()> {
            self.file.set_len(len)
        }
        fn sync_data(&mut self) -> io::Result<()> {
            self.file.sync_data()
        }
    }

    #[test]
    fn full_disk_stops_the_slide_and_leaves_a_clean_journal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cells.journal");
        let ends = write_journal(&path, 4);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open");
        // Room for one more record and half of the next.
        let frame_len = (ends[3] - ends[2]) as usize;
        let disk = FillingDisk {
            file,
            budget: frame_len + frame_len / 2,
        };
        let (mut journal, _) = Journal::from_storage(disk, &path).expect("open on filling disk");
        assert_eq!(journal.append(&cell(4)).expect("fits"), 4);
        let err = journal.append(&cell(5)).expect_err("disk full");
        assert!(matches!(err, JournalError::Full { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("full") && message.contains("slide has stopped"),
            "{message}"
        );
        assert!(matches!(
            journal.append(&cell(5)),
            Err(JournalError::Stopped { .. })
        ));
        drop(journal);

        let (_, recovery) = Journal::open(&path).expect("reopen after full disk");
        assert_eq!(
            recovery,
            Recovery {
                records: 5,
                dropped_tail_bytes: 0
            }
        );
        let entries = Journal::read_all(&path).expect("read");
        assert_eq!(entries, (0..5).map(cell).collect::<Vec<_>>());
    }

    /// Reads from a real journal but writes to `/dev/full`, whose every write fails with the
    /// kernel's own ENOSPC.
    #[cfg(target_os = "linux")]
    struct DevFull {
        journal: File,
        full: File,
    }

    #[cfg(target_os = "linux")]
    impl Read for DevFull {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.journal.read(buf)
        }
    }
    #[cfg(target_os = "linux")]
    impl Seek for DevFull {
        fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
            self.journal.seek(pos)
        }
    }
    #[cfg(target_os = "linux")]
    impl Write for DevFull {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.full.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.full.flush()
        }
    }
    #[cfg(target_os = "linux")]
    impl JournalStorage for DevFull {
        fn set_len(&mut self, len: u64) -> io::Result<()> {
            self.journal.set_len(len)
        }
        fn sync_data(&mut self) -> io::Result<()> {
            self.journal.sync_data()
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn real_enospc_from_dev_full_is_named_full() {
        let Ok(full) = OpenOptions::new().write(true).open("/dev/full") else {
            eprintln!("no /dev/full here; skipped");
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cells.journal");
        write_journal(&path, 2);
        let journal = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open");
        let (mut journal, _) =
            Journal::from_storage(DevFull { journal, full }, &path).expect("open");
        let err = journal.append(&cell(2)).expect_err("ENOSPC");
        assert!(matches!(err, JournalError::Full { .. }), "{err:?}");
        drop(journal);
        assert_eq!(
            Journal::read_all(&path).expect("read"),
            (0..2).map(cell).collect::<Vec<_>>()
        );
    }
}
