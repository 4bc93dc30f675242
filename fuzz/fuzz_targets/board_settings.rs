//! Feeds arbitrary text to the `board.toml` parser: a hand-edited file on a board is outside
//! input. Parsing never panics; a file that parses names a data folder and thresholds the
//! pipeline's stages accept.
#![no_main]

use std::path::Path;

use leukoscope_edge::io::settings::BoardSettings;
use leukoscope_edge::scan::detect::CellDetector;
use leukoscope_edge::scan::track::CellTracker;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(settings) = BoardSettings::parse(text, Path::new("/etc/leukoscope")) {
        // The parser checks every setting the stages would refuse.
        CellDetector::new(settings.detect).expect("checked detection settings");
        CellTracker::new(settings.track).expect("checked tracking settings");
        let _ = settings.data_dir().journals();
    }
});
