use std::string::ToString;

use super::*;

#[test]
fn decodes_and_names_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.png");
    let mut source = ::image::RgbImage::new(3, 2);
    source.put_pixel(2, 1, ::image::Rgb([10, 20, 30]));
    source.save(&path).unwrap();
    let loaded = load_rgb(&path).unwrap();
    assert_eq!((loaded.width(), loaded.height()), (3, 2));
    assert_eq!(loaded.get(2, 1), Some([10, 20, 30]));

    let truncated = dir.path().join("cut.png");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_rgb(&truncated).unwrap_err();
    assert!(err.to_string().contains("cut.png"), "{err}");

    let err = decode_rgb(&bytes[..20], Path::new("camera0")).unwrap_err();
    assert!(matches!(err, ImageFileError::Decode { .. }));
    assert!(err.to_string().contains("camera0"), "{err}");

    let text = dir.path().join("notes.jpg");
    std::fs::write(&text, "not an image").unwrap();
    assert!(matches!(
        load_rgb(&text),
        Err(ImageFileError::Decode { .. })
    ));
    assert!(matches!(
        load_rgb(&dir.path().join("missing.png")),
        Err(ImageFileError::Read { .. })
    ));
    let empty = dir.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let err = load_rgb(&empty).unwrap_err();
    assert!(matches!(err, ImageFileError::Empty { .. }), "{err:?}");
    assert!(err.to_string().contains("empty.png is empty"), "{err}");
}

#[test]
fn a_cut_jpeg_is_refused_though_the_decoder_would_take_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("field.jpg");
    let field = ::image::RgbImage::from_fn(64, 64, |x, y| {
        ::image::Rgb([(x * 4) as u8, (y * 4) as u8, 128])
    });
    field.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(load_rgb(&path).is_ok());
    let cut = &bytes[..bytes.len() - bytes.len() / 3];
    assert!(
        ::image::load_from_memory(cut).is_ok(),
        "the decoder alone accepts it"
    );
    assert!(matches!(
        decode_rgb(cut, &path),
        Err(ImageFileError::TruncatedJpeg { .. })
    ));
}
