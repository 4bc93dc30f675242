//! The scale-bar label the microscope software burns into the bottom-right corner of every
//! reference image. Drawn so a model cannot use its absence to tell synthetic from real.

use crate::raster::RgbImage;

use super::random::Dice;

/// Where the label sits, measured from the bottom-right corner: `[left, top, right, bottom]`
/// insets, as in the 224x224 reference images (a box at x 195..219, y 206..217).
const INSET: [u32; 4] = [29, 18, 5, 7];

/// The corner rectangle the label may cover, `[x, y, width, height]`, for keeping white
/// cells clear of it.
pub(crate) fn area(width: u32, height: u32) -> [u32; 4] {
    let x = width.saturating_sub(INSET[0]);
    let y = height.saturating_sub(INSET[1]);
    [x, y, INSET[0] - INSET[2], INSET[1] - INSET[3]]
}

fn blend(image: &mut RgbImage, x: u32, y: u32, rgb: [u8; 3], alpha: f32) {
    if let Some(old) = image.get(x, y) {
        let mut out = [0u8; 3];
        for c in 0..3 {
            let v = f32::from(old[c]) + (f32::from(rgb[c]) - f32::from(old[c])) * alpha;
            out[c] = (v + 0.5).clamp(0.0, 255.0) as u8;
        }
        image.put(x, y, out);
    }
}

/// Draws the label: either black on a white box or red straight on the smear, with two end
/// ticks and a row of glyphs too small to read (".00 pixels" in the originals).
pub(crate) fn draw(image: &mut RgbImage, dice: &mut Dice) {
    let [x0, y0, w, h] = area(image.width(), image.height());
    if image.width() < INSET[0] || image.height() < INSET[1] {
        return;
    }
    let boxed = dice.chance(0.5);
    let ink = if boxed { [25, 25, 30] } else { [205, 45, 70] };
    if boxed {
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                blend(image, x, y, [255, 255, 255], 0.97);
            }
        }
    }
    // End ticks at the lower left and right.
    for y in y0 + 6..y0 + 11 {
        blend(image, x0, y, ink, 0.85);
        blend(image, x0 + w - 2, y, [150, 150, 150], 0.6);
    }
    // Glyphs: 2x4 cells of random strokes, softened as the JPEG originals are.
    let mut x = x0 + 4;
    for g in 0..7 {
        if g == 3 {
            x += 1;
        }
        let bits = dice.next_u32();
        for dy in 0..4 {
            for dx in 0..2 {
                if bits >> (dy * 2 + dx) & 1 == 1 || (g != 0 && dy == 3 && dx == 0) {
                    blend(image, x + dx, y0 + 4 + dy, ink, 0.75);
                } else {
                    blend(image, x + dx, y0 + 4 + dy, ink, 0.12);
                }
            }
        }
        x += 2;
    }
}
