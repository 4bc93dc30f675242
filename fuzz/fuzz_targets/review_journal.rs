//! Feeds arbitrary bytes to the reading of a review journal, as found on a board's card
//! after a power cut, a bad copy or a flipped bit: reading never panics, and whatever it
//! reads agrees with the recovery that opening the file for a new verdict would do.
#![no_main]

use std::io::Cursor;
use std::path::Path;

use leukoscope_edge::records::journal::Journal;
use leukoscope_edge::records::review::ReviewState;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.review");
    let Ok(state) = ReviewState::from_journal(data, "fuzz", path) else {
        return;
    };
    // Whatever was read stays readable once the file is opened for the next verdict.
    if data.is_empty() {
        return;
    }
    let (_, recovery) = Journal::from_storage(Cursor::new(data.to_vec()), path)
        .expect("a review journal that reads also opens");
    let records = state.verdicts.len() as u64 + u64::from(state.sign_off.is_some());
    assert!(recovery.records >= records);
});
