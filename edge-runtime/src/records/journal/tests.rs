use super::*;
use crate::records::{
    CellRecord, ComparedCellRecord, CorrectionRecord, FrameQuality, FrameRecord, PartialCellRecord,
    RejectReason, ReviewVerdict, ScaleRecord, SignOffRecord, SlideEndRecord, SubtypeRecord,
    Verdict,
};
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
fn flipped_bit_in_last_record_is_named_damage_and_nothing_is_cut() {
    // A power cut leaves the last record short or ends it in unwritten zeros; a bit that
    // changed later on the card leaves it whole. Cutting such a record off as a torn tail
    // would drop it without a word (a reviewer's sign-off is often the last record).
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cells.journal");
    let ends = write_journal(&path, 3);
    let bytes = std::fs::read(&path).expect("read");
    for at in ends[1] as usize..ends[2] as usize {
        for bit in [0x01u8, 0x10, 0x80] {
            let mut damaged = bytes.clone();
            damaged[at] ^= bit;
            std::fs::write(&path, &damaged).expect("write");
            match Journal::open(&path) {
                Err(JournalError::Corrupt {
                    offset,
                    records_before,
                    ..
                }) => assert_eq!((offset, records_before), (ends[1], 2)),
                other => panic!("bit {bit:#x} of byte {at}: expected Corrupt, got {other:?}"),
            }
            assert_eq!(std::fs::read(&path).expect("read"), damaged, "byte {at}");
        }
    }
}

#[test]
fn last_record_ending_in_unwritten_blocks_is_a_torn_tail() {
    // The file system grew the file but had not written the last block: the record's bytes
    // from that block boundary on read as zeros.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cells.journal");
    let (mut journal, _) = Journal::open(&path).expect("open");
    let mut count = 0;
    let frame_len =
        |i| (FRAME_HEADER_LEN + postcard::to_stdvec(&cell(i)).expect("encode").len()) as u64;
    // Records up to one whose payload crosses the 512-byte block boundary.
    while journal.committed_len() + frame_len(count) <= 512 {
        journal.append(&cell(count)).expect("append");
        count += 1;
    }
    let before = journal.committed_len();
    journal.append(&cell(count)).expect("append");
    drop(journal);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[512..].fill(0);
    std::fs::write(&path, &bytes).expect("write");
    let (_, recovery) = Journal::open(&path).expect("open");
    assert_eq!(recovery.records, count);
    assert_eq!(recovery.dropped_tail_bytes, bytes.len() as u64 - before);
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
        // Random bytes are rarely what a cut write leaves (their length field is mostly out
        // of range), so most tails are reported as damage and left in place; either way
        // nothing is lost.
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
    let (mut journal, _) = Journal::from_storage(DevFull { journal, full }, &path).expect("open");
    let err = journal.append(&cell(2)).expect_err("ENOSPC");
    assert!(matches!(err, JournalError::Full { .. }), "{err:?}");
    drop(journal);
    assert_eq!(
        Journal::read_all(&path).expect("read"),
        (0..2).map(cell).collect::<Vec<_>>()
    );
}

/// One entry of every kind and every variant inside one, with fixed values: the slide
/// journal's cells, frames (each verdict) and end, the review journal's corrections
/// (each verdict) and sign-off, a partial cell, a measured scale, a cell with its
/// distance to the training cells and a blast's subtype.
fn every_kind_of_entry() -> Vec<JournalEntry> {
    let slide = || "S-0042".to_string();
    let quality = |verdict| FrameQuality {
        focus: 1234.5,
        clipped_fraction: 0.0625,
        brightness: 201.25,
        stained_fraction: 0.375,
        verdict,
    };
    let mut entries = vec![JournalEntry::Cell(golden_cell())];
    entries.extend(
        std::iter::once(Verdict::Accepted)
            .chain(RejectReason::ALL.map(Verdict::Rejected))
            .enumerate()
            .map(|(i, verdict)| {
                JournalEntry::Frame(FrameRecord {
                    slide: slide(),
                    frame: 300 + i as u64,
                    quality: quality(verdict),
                })
            }),
    );
    entries.push(JournalEntry::SlideEnd(SlideEndRecord {
        slide: slide(),
        reason: "200 cells classified".into(),
    }));
    for (cell, verdict) in [
        ReviewVerdict::Class(2),
        ReviewVerdict::Unidentified,
        ReviewVerdict::NotACell,
    ]
    .into_iter()
    .enumerate()
    {
        entries.push(JournalEntry::Correction(CorrectionRecord {
            slide: slide(),
            cell: cell as u32 + 130,
            verdict,
            at: "2026-12-02T12:00:00Z".into(),
        }));
    }
    entries.push(JournalEntry::SignOff(SignOffRecord {
        slide: slide(),
        initials: "A.B".into(),
        at: "2026-12-02T12:05:00Z".into(),
    }));
    // Added after version 1's first entries, at the end: a file without it is a prefix.
    entries.push(JournalEntry::PartialCell(PartialCellRecord {
        slide: slide(),
        frame: 302,
        bbox: [0, 1040, 96, 40],
    }));
    entries.push(JournalEntry::Scale(ScaleRecord {
        slide: slide(),
        um_per_px: 0.096875,
        uncertainty: 0.03125,
        red_cells: 97,
    }));
    entries.push(JournalEntry::ComparedCell(ComparedCellRecord {
        cell: golden_cell(),
        distance: 27.375,
    }));
    entries.push(JournalEntry::Subtype(SubtypeRecord {
        slide: slide(),
        frame: 300,
        bbox: [1917, 20, 131, 4],
        probabilities: vec![0.0625, 0.125, 0.75, 0.0625],
        model_digest: core::array::from_fn(|i| 255 - i as u8),
    }));
    entries
}

/// The cell record of the golden journal.
fn golden_cell() -> CellRecord {
    CellRecord {
        slide: "S-0042".to_string(),
        frame: 300,
        bbox: [1917, 20, 131, 4],
        probabilities: vec![0.5, 0.25, 0.125, 0.125],
        model_digest: core::array::from_fn(|i| i as u8 * 7),
    }
}

/// A cell with a distance is variant 7, then the cell as variant 0 holds it, then the
/// distance as a little-endian `f32`; one without is the `Cell` it always was, so a model
/// without a familiarity profile writes the bytes it always wrote.
#[test]
fn a_compared_cell_is_the_cell_then_its_distance() {
    let cell = postcard::to_stdvec(&JournalEntry::Cell(golden_cell())).expect("encodes");
    assert_eq!(cell[0], 0);
    let unmeasured = JournalEntry::cell(golden_cell(), None);
    assert_eq!(postcard::to_stdvec(&unmeasured).expect("encodes"), cell);
    let compared = JournalEntry::cell(golden_cell(), Some(27.375));
    let bytes = postcard::to_stdvec(&compared).expect("encodes");
    let mut expected = vec![7];
    expected.extend_from_slice(&cell[1..]);
    expected.extend_from_slice(&27.375f32.to_le_bytes());
    assert_eq!(bytes, expected);
    // Any distance, not-a-number included, reads back as written.
    for distance in [0.0, f32::INFINITY, f32::NAN] {
        let entry = JournalEntry::cell(golden_cell(), Some(distance));
        let bytes = postcard::to_stdvec(&entry).expect("encodes");
        let back: JournalEntry = postcard::from_bytes(&bytes).expect("decodes");
        let (record, read) = back.as_cell().expect("a cell");
        assert_eq!(record, &golden_cell());
        assert_eq!(read.map(f32::to_bits), Some(distance.to_bits()));
    }
    assert_eq!(compared.into_cell(), Some((golden_cell(), Some(27.375))));
    assert_eq!(unmeasured.into_cell(), Some((golden_cell(), None)));
}

fn golden_path(version: u16) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("src/records/journal/golden/journal-v{version}.bin"))
}

/// The bytes this program writes for [`every_kind_of_entry`] are the committed golden file
/// of its format version: a persisted type that changes shape (a field added, removed or
/// retyped, a variant reordered) changes them, and must come with a new version.
#[test]
fn golden_bytes_pin_every_entry_of_this_format_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("golden.journal");
    let (mut journal, _) = Journal::open(&path).unwrap();
    journal.append_all(&every_kind_of_entry()).unwrap();
    drop(journal);
    let written = std::fs::read(&path).unwrap();
    let golden = golden_path(FORMAT_VERSION);
    if std::env::var_os("LEUKOSCOPE_BLESS").is_some() {
        std::fs::write(&golden, &written).unwrap();
    }
    let expected = std::fs::read(&golden).unwrap_or_else(|e| {
        panic!(
            "no golden journal for format version {FORMAT_VERSION} ({e}): write {} with \
             LEUKOSCOPE_BLESS=1 cargo test -p leukoscope-edge golden, and document the \
             version in docs/journal.md",
            golden.display()
        )
    });
    assert!(
        written == expected,
        "the journal's bytes changed: a persisted type (records/) changed shape. Journals on \
         boards in the field were written in the old shape, so bump journal::FORMAT_VERSION, \
         keep reading the old version, document both in docs/journal.md, and write the new \
         golden file with LEUKOSCOPE_BLESS=1"
    );
}

/// Every committed golden journal, of this version and older, still reads back: a board
/// updated in the field reads what it wrote before.
#[test]
fn every_golden_journal_reads_back() {
    for version in 1..=FORMAT_VERSION {
        let path = golden_path(version);
        let entries =
            Journal::read_all(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(entries, every_kind_of_entry(), "{}", path.display());
    }
    // The layout documented in docs/journal.md, byte for byte, for the first frame.
    let bytes = std::fs::read(golden_path(1)).unwrap();
    assert_eq!(&bytes[..10], b"LKSJRNL\0\x01\x00");
    let len = u32::from_le_bytes(bytes[10..14].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(bytes[14..18].try_into().unwrap());
    assert_eq!(crc, crc32fast::hash(&bytes[18..18 + len]));
    // `Cell` is variant 0, then the slide id as a varint length and its bytes.
    assert_eq!(&bytes[18..26], b"\x00\x06S-0042");
}

#[test]
fn a_journal_in_memory_recovers_as_a_file_does() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cells.journal");
    let ends = write_journal(&path, 4);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(ends[2] as usize + 5);
    let (journal, recovery) = Journal::from_storage(io::Cursor::new(bytes), "copy").unwrap();
    assert_eq!(recovery.records, 3);
    assert_eq!(recovery.dropped_tail_bytes, 5);
    assert_eq!(journal.committed_len(), ends[2]);
    assert_eq!(journal.storage.get_ref().len() as u64, ends[2]);
}
