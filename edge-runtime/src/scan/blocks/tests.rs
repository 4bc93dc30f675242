use proptest::prelude::*;

use super::*;

fn frame(width: u32, height: u32, pixels: &[u8]) -> RgbImage {
    let raw = pixels
        .iter()
        .copied()
        .cycle()
        .take((width * height * 3) as usize)
        .collect();
    RgbImage::from_raw(width, height, raw).expect("buffer fills the frame")
}

/// Sums of `f` x `f` blocks, pixel by pixel.
fn naive_sums(frame: &RgbImage, f: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for by in 0..frame.height() / f {
        for bx in 0..frame.width() / f {
            let mut sum = [0u32; 3];
            for y in by * f..(by + 1) * f {
                for x in bx * f..(bx + 1) * f {
                    let p = frame.get(x, y).expect("inside");
                    for c in 0..3 {
                        sum[c] += u32::from(p[c]);
                    }
                }
            }
            out.extend(sum);
        }
    }
    out
}

proptest! {
    #[test]
    fn block_sums_are_the_pixels_sums(
        width in 1u32..60,
        height in 1u32..40,
        factor in 1u32..=MAX_FACTOR,
        pixels in proptest::collection::vec(any::<u8>(), 1..300),
    ) {
        let frame = frame(width, height, &pixels);
        let mut blocks = FrameBlocks::new(factor, 99.0);
        blocks.shrink(&frame);
        let sums: Vec<u32> = blocks.sums().iter().map(|&s| u32::from(s)).collect();
        prop_assert_eq!(sums, naive_sums(&frame, factor));
        prop_assert_eq!(blocks.size(), (width / factor, height / factor));
        prop_assert_eq!(blocks.frame_size(), (width, height));
    }

    /// Groups of blocks read exactly what blocks of the group's size would: the gate and
    /// the tracker see the same numbers as if they had shrunk the frame themselves.
    #[test]
    fn coarser_groups_are_exact(
        width in 1u32..80,
        height in 1u32..50,
        factor in 1u32..=4,
        group in 1u32..=4,
        pixels in proptest::collection::vec(any::<u8>(), 1..300),
    ) {
        let frame = frame(width, height, &pixels);
        let mut fine = FrameBlocks::new(factor, 99.0);
        fine.shrink(&frame);
        let mut grouped = Vec::new();
        let size = fine.coarsen(group, |_, _, s| grouped.extend(s));
        prop_assert_eq!(size, (width / (factor * group), height / (factor * group)));
        prop_assert_eq!(grouped, naive_sums(&frame, factor * group));
    }
}

#[test]
fn the_glass_level_ignores_a_few_hot_pixels_and_the_stain() {
    // Glass at (230, 220, 240), a third of the frame stained dark, one block saturated.
    let (w, h) = (90u32, 60u32);
    let mut raw = Vec::new();
    for y in 0..h {
        for x in 0..w {
            raw.extend(if x >= 60 && y < 3 && x < 63 {
                [255, 255, 255]
            } else if x < 30 {
                [90, 40, 120]
            } else {
                [230, 220, 240]
            });
        }
    }
    let mut frame = RgbImage::from_raw(w, h, raw).unwrap();
    frame.put(89, 59, [255, 255, 255]);
    let mut blocks = FrameBlocks::new(3, 99.0);
    blocks.shrink(&frame);
    assert_eq!(blocks.glass(), [230.0, 220.0, 240.0]);
}

#[test]
fn a_frame_smaller_than_a_block_has_no_blocks() {
    let mut blocks = FrameBlocks::new(8, 99.0);
    blocks.shrink(&frame(5, 7, &[10, 20, 30]));
    assert_eq!(blocks.size(), (0, 0));
    assert!(blocks.sums().is_empty());
    assert_eq!(blocks.coarsen(2, |_, _, _| panic!("no groups")), (0, 0));
    assert_eq!(blocks.glass(), [255.0; 3]);
}
