//! Feeds arbitrary bytes to the journal's recovery, as a slide or review journal found on a
//! board's card after a power cut or a bad copy: opening never panics, and whatever it
//! keeps is a journal that takes a new record and reads back with it.
#![no_main]

use std::io::Cursor;

use leukoscope_edge::records::journal::Journal;
use leukoscope_edge::records::{JournalEntry, SlideEndRecord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((mut journal, recovery)) = Journal::from_storage(Cursor::new(data.to_vec()), "fuzz")
    else {
        return;
    };
    assert_eq!(journal.records(), recovery.records);
    let end = JournalEntry::SlideEnd(SlideEndRecord {
        slide: "fuzz".into(),
        reason: "fuzzed".into(),
    });
    let index = journal.append(&end).expect("a recovered journal takes a record");
    assert_eq!(index, recovery.records);
});
