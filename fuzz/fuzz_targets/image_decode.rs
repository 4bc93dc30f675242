//! Feeds arbitrary bytes to the one image decoder the trainer and the board share (a frame
//! from a camera or a folder, a training image): it never panics, and what it returns has
//! as many pixels as it says.
#![no_main]

use std::path::Path;

use leukoscope_core::files::decode_rgb;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = decode_rgb(data, Path::new("fuzz")) {
        assert_eq!(
            image.as_raw().len(),
            image.width() as usize * image.height() as usize * 3
        );
    }
});
