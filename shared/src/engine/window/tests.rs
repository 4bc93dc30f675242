use super::*;
use alloc::vec;
use alloc::vec::Vec;

/// The unfolding, one tap at a time with every bound checked.
fn naive_im2col(g: &ConvGeometry, channels: usize, x: &[i8], pad: i8) -> Vec<i8> {
    let (h, w) = (g.input[1], g.input[2]);
    let (oh, ow) = (g.out_height(), g.out_width());
    let mut cols = Vec::new();
    for c in 0..channels {
        for ky in 0..g.kernel[0] {
            for kx in 0..g.kernel[1] {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let iy = (oy * g.stride[0] + ky * g.dilation[0]) as isize
                            - g.padding[0] as isize;
                        let ix = (ox * g.stride[1] + kx * g.dilation[1]) as isize
                            - g.padding[1] as isize;
                        let inside = (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix);
                        cols.push(if inside {
                            x[c * h * w + iy as usize * w + ix as usize]
                        } else {
                            pad
                        });
                    }
                }
            }
        }
    }
    cols
}

#[test]
fn im2col_matches_the_naive_unfolding() {
    for (k, s, p, d, h, w) in [
        (3, 2, 1, 1, 9, 10),
        (3, 1, 1, 1, 5, 5),
        (5, 3, 2, 1, 11, 7),
        (3, 2, 2, 2, 8, 9),
        (1, 2, 0, 1, 6, 6),
        (7, 2, 3, 1, 15, 16),
        (3, 1, 0, 3, 9, 9),
        // Taps that fall wholly in the padding, left or right of a tiny input.
        (3, 1, 2, 2, 1, 1),
        (3, 2, 2, 2, 1, 1),
        (5, 3, 4, 2, 1, 2),
        (3, 1, 3, 1, 1, 1),
    ] {
        let g = ConvGeometry {
            input: [2, h, w],
            out_channels: 1,
            kernel: [k, k],
            stride: [s, s],
            padding: [p, p],
            dilation: [d, d],
            groups: 1,
            activation: None,
        };
        let x: Vec<i8> = (0..2 * h * w).map(|i| (i * 37 % 251) as i8).collect();
        let mut cols = vec![0; g.fan_in() * g.out_height() * g.out_width()];
        im2col(&g, 2, &x, -7, &mut cols);
        assert_eq!(cols, naive_im2col(&g, 2, &x, -7), "{g:?}");
    }
}
