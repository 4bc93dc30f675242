//! Frames for people: a frame with its counted cells' boxes drawn in, one colour per class,
//! and frames shrunk for a page or a screen.

use leukoscope_core::raster::RgbImage;

/// Thickness of the box outlines [`annotate`] draws, in pixels.
const OUTLINE: u64 = 3;

/// Box colours per class: the Okabe–Ito palette (told apart with the common colour-vision
/// deficiencies), its black swapped for magenta because stained nuclei are dark. The web
/// UI's `CLASS_COLOURS` (`edge-runtime/ui/common.js`) is the same list, in the same order.
const PALETTE: [[u8; 3]; 8] = [
    [230, 159, 0],
    [86, 180, 233],
    [0, 158, 115],
    [240, 228, 66],
    [0, 114, 178],
    [213, 94, 0],
    [204, 121, 167],
    [255, 0, 255],
];

/// The colour of unidentified cells: a grey, unlike every class colour.
const UNIDENTIFIED_COLOUR: [u8; 3] = [128, 128, 128];

/// The colour [`annotate`] and the report use for `class`: one fixed colour per class
/// (the palette repeats after 8 classes), grey for unidentified cells.
pub fn class_colour(class: Option<usize>) -> [u8; 3] {
    match class {
        Some(i) => PALETTE[i % PALETTE.len()],
        None => UNIDENTIFIED_COLOUR,
    }
}

/// A copy of `frame` with a 3-pixel outline around each cell's box `[x, y, width, height]`
/// in its class's colour ([`class_colour`]).
///
/// The outline lies inside the box, its outer edge on the box's edge, so it never covers
/// pixels outside what the detector claimed. Boxes may lie partly or wholly outside the
/// frame; only the part inside is drawn.
pub fn annotate(frame: &RgbImage, cells: &[([u32; 4], Option<usize>)]) -> RgbImage {
    let mut out = frame.clone();
    let (width, height) = (u64::from(frame.width()), u64::from(frame.height()));
    for &([x, y, w, h], class) in cells {
        let colour = class_colour(class);
        // u64 so a box near u32::MAX cannot overflow.
        let (x0, y0) = (u64::from(x), u64::from(y));
        let (x1, y1) = (x0 + u64::from(w), y0 + u64::from(h));
        let mut paint = |from: u64, to: u64, row: u64| {
            for px in from.max(x0)..to.min(x1).min(width) {
                // In range: px < width and row < height, both from u32.
                out.put(px as u32, row as u32, colour);
            }
        };
        for row in y0..y1.min(height) {
            if row < y0 + OUTLINE || row + OUTLINE >= y1 {
                paint(x0, x1, row);
            } else {
                paint(x0, x0 + OUTLINE, row);
                paint(x1.saturating_sub(OUTLINE), x1, row);
            }
        }
    }
    out
}

/// `frame` shrunk to `width` pixels across (kept as it is when narrower).
pub fn shrink(frame: &RgbImage, width: u32) -> RgbImage {
    if frame.width() <= width || frame.height() == 0 {
        return frame.clone();
    }
    let height =
        (u64::from(frame.height()) * u64::from(width) / u64::from(frame.width())).max(1) as u32;
    let full = image::RgbImage::from_raw(frame.width(), frame.height(), frame.as_raw().to_vec())
        .expect("a frame's pixels fill its size");
    let small =
        image::imageops::resize(&full, width, height, image::imageops::FilterType::Triangle);
    RgbImage::from_raw(width, height, small.into_raw()).expect("the resize fills its size")
}
