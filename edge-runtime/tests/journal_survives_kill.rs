//! A journal writer killed with SIGKILL at random moments loses no committed record.
//!
//! The test binary re-runs itself as the writer: `child_writer` does nothing unless
//! `LEUKOSCOPE_JOURNAL_CHILD` names a journal, and then appends records until it is killed,
//! printing each index once `append` has returned (the moment the edge would count the cell).
//!
//! Cross-built and run under qemu-user (`.ci/run`), the kernel cannot exec the Arm test
//! binary unless binfmt_misc has qemu registered; [`RUNNER_ENV`] then names the runner the
//! writer is started through, as cargo starts the test itself.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{RUNNER_ENV, under_runner};
use leukoscope_edge::records::journal::Journal;
use leukoscope_edge::records::{CellRecord, JournalEntry};

const CHILD_ENV: &str = "LEUKOSCOPE_JOURNAL_CHILD";
const ROUNDS: u32 = 20;
/// Stops a writer the parent failed to kill from filling the disk.
const CHILD_MAX_RECORDS: u64 = 1_000_000;

/// The record for index `i`, so the parent can check each one byte for byte.
fn record(i: u64) -> JournalEntry {
    JournalEntry::Cell(CellRecord {
        slide: format!("S-{:04}", i / 50),
        frame: i,
        bbox: [
            (i % 1920) as u32,
            (i % 1080) as u32,
            32 + (i % 17) as u32,
            30,
        ],
        probabilities: (0..5).map(|c| ((i + c) % 11) as f32 / 11.0).collect(),
        model_digest: std::array::from_fn(|b| (i as u8).wrapping_mul(31).wrapping_add(b as u8)),
    })
}

#[test]
fn child_writer() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let (mut journal, recovery) = Journal::open(&path).expect("child opens journal");
    let mut stdout = std::io::stdout().lock();
    for i in recovery.records..CHILD_MAX_RECORDS {
        let index = journal.append(&record(i)).expect("child appends");
        assert_eq!(index, i);
        writeln!(stdout, "committed {index}").expect("child reports");
        stdout.flush().expect("child flushes");
    }
}

/// What to do when the writer cannot be executed.
fn runner_hint() -> String {
    format!(
        "under an emulator without binfmt_misc, set {RUNNER_ENV} to the target's runner \
         (as .ci/run does)"
    )
}

/// Delays from a small xorshift, seeded from the clock and printed so a failure can be rerun.
struct Delays(u64);

impl Delays {
    fn next_ms(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// Reopens the journal (recovering it as the edge would on restart) and checks every record;
/// returns how many it holds and how many torn bytes were cut.
fn check_journal(path: &Path, reported: u64) -> (u64, u64) {
    let (_, recovery) = Journal::open(path).expect("parent reopens journal");
    assert!(
        recovery.records >= reported,
        "child reported {reported} committed records, journal holds {}",
        recovery.records
    );
    let entries = Journal::read_all(path).expect("parent reads journal");
    assert_eq!(entries.len() as u64, recovery.records);
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(
            entry,
            &record(i as u64),
            "record {i} differs from what was written"
        );
    }
    (recovery.records, recovery.dropped_tail_bytes)
}

#[test]
fn journal_survives_sigkill() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("delay seed {seed:#x}");
    let mut delays = Delays(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cells.journal");
    let exe = std::env::current_exe().expect("test binary path");

    // Highest count of committed records any child reported.
    let mut reported = 0u64;
    let mut killed_mid_run = 0;
    for round in 0..ROUNDS {
        let mut child = under_runner(&exe)
            .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                // "Exec format error" here means an emulated binary without binfmt_misc:
                // failing (not skipping) keeps the test honest; the fix is the runner.
                panic!(
                    "cannot start the writer {}: {e}; {}",
                    exe.display(),
                    runner_hint()
                )
            });
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines_tx, lines_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            // Only whole lines count: a line cut by the kill (no newline) is not a report.
            while stdout.read_line(&mut line).is_ok_and(|n| n > 0) && line.ends_with('\n') {
                let index = line
                    .split_once("committed ")
                    .and_then(|(_, n)| n.trim().parse::<u64>().ok());
                if let Some(index) = index
                    && lines_tx.send(index).is_err()
                {
                    break;
                }
                line.clear();
            }
        });
        // Odd rounds wait for the writer to be in its loop, so the kill lands mid-append;
        // even rounds kill at any moment, start-up and recovery included.
        let first = if round % 2 == 1 {
            lines_rx.recv_timeout(Duration::from_secs(10)).ok()
        } else {
            None
        };
        std::thread::sleep(Duration::from_millis(delays.next_ms(31)));
        child.kill().expect("SIGKILL the writer");
        let status = child.wait().expect("reap writer");
        reader.join().expect("reader thread");
        // 127: the writer's program could not be executed. Under qemu-user the spawn cannot
        // report that itself (it emulates posix_spawn's vfork as a fork), so this is the
        // only sign of a missing runner.
        assert_ne!(
            status.code(),
            Some(127),
            "the writer {} could not be executed; {}",
            exe.display(),
            runner_hint()
        );
        if !status.success() {
            killed_mid_run += 1;
        }
        let round_max = first.into_iter().chain(lines_rx.try_iter()).max();
        if let Some(last) = round_max {
            reported = reported.max(last + 1);
        }
        let (held, torn) = check_journal(&path, reported);
        eprintln!(
            "round {round}: child reported up to {round_max:?}, journal holds {held}, torn tail cut: {torn} bytes"
        );
    }
    assert!(
        reported > 0,
        "no child committed anything in {ROUNDS} rounds"
    );
    assert!(killed_mid_run > 0, "every child exited on its own");
}
