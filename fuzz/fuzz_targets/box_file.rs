//! Feeds arbitrary bytes to the box-file reader of `eval-detect`: box files come from other
//! labs' annotation tools. Reading never panics; every box it returns is finite and the
//! right way up, and scoring detections against it never panics.
#![no_main]

use leukoscope_edge::bench::scoring::{read_boxes, score_frame, whole_red_cell_diameters};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(frames) = read_boxes(data) else {
        return;
    };
    for boxes in frames.values() {
        for b in boxes.white.iter().chain(&boxes.red).chain(&boxes.platelets) {
            assert!(b.x0.is_finite() && b.y1.is_finite() && b.x0 <= b.x1 && b.y0 <= b.y1);
        }
        let centres: Vec<_> = boxes.white.iter().map(|b| (b.x0, b.y1)).collect();
        let score = score_frame(&boxes.white, &centres);
        assert_eq!(score.found + score.twice + score.outside, score.detections);
        let _ = whole_red_cell_diameters(&boxes.red, 640, 480);
    }
});
