use super::*;

#[test]
fn converts_reference_colours() {
    // Black, white, and BT.601's encodings of pure red, green and blue.
    let cases = [
        ((16, 128, 128), [0, 0, 0]),
        ((235, 128, 128), [255, 255, 255]),
        ((81, 90, 240), [255, 0, 0]),
        ((145, 54, 34), [0, 255, 0]),
        ((41, 240, 110), [0, 0, 255]),
    ];
    for ((y, u, v), want) in cases {
        let got = pixel(y, u, v);
        for (g, w) in got.iter().zip(want) {
            assert!(
                (i32::from(*g) - w).abs() <= 2,
                "YUV {y},{u},{v}: got {got:?}, want {want:?}"
            );
        }
    }
}

#[test]
fn pairs_share_colour_and_stride_padding_is_ignored() {
    // 3x2 frame: pairs (Y0 U Y1 V); odd width, so each row's second pair has a padding
    // pixel; stride 10 adds two junk bytes per row.
    #[rustfmt::skip]
    let data = [
        16, 128, 235, 128,   81, 90, 0, 240,   9, 9,
        235, 128, 16, 128,   16, 128, 16, 128, 9, 9,
    ];
    let image = yuyv_to_rgb(&data, 3, 2, 10).unwrap();
    assert_eq!((image.width(), image.height()), (3, 2));
    assert_eq!(image.get(0, 0), Some([0, 0, 0]));
    assert_eq!(image.get(1, 0), Some([255, 255, 255]));
    assert_eq!(image.get(2, 0).map(|p| p[0]), Some(255));
    assert_eq!(image.get(0, 1), Some([255, 255, 255]));
    assert_eq!(image.get(2, 1), Some([0, 0, 0]));
    // The last row needs no trailing padding.
    assert!(yuyv_to_rgb(&data[..18], 3, 2, 10).is_ok());
}

#[test]
fn short_or_malformed_buffers_are_errors() {
    assert_eq!(
        yuyv_to_rgb(&[0; 7], 2, 2, 4),
        Err(YuyvError::Short { needed: 8, got: 7 })
    );
    assert!(matches!(
        yuyv_to_rgb(&[0; 16], 4, 2, 6),
        Err(YuyvError::BadLayout { .. })
    ));
    assert!(matches!(
        yuyv_to_rgb(&[], 0, 0, 0),
        Err(YuyvError::BadLayout { .. })
    ));
}
