//! Decoding image files into the core's pixel buffers.

use std::path::{Path, PathBuf};

use leukoscope_core::raster::RgbImage;

/// An image file that could not be read or decoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot read image {}", path.display())]
pub struct ImageLoadError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong (missing, truncated, not an image, unsupported format).
    #[source]
    pub source: image::ImageError,
}

/// Reads and decodes an image file (format from its content, not its name) into 8-bit RGB.
pub fn load_rgb(path: &Path) -> Result<RgbImage, ImageLoadError> {
    let wrap = |source| ImageLoadError {
        path: path.to_owned(),
        source,
    };
    let decoded = image::ImageReader::open(path)
        .map_err(|e| wrap(image::ImageError::IoError(e)))?
        .with_guessed_format()
        .map_err(|e| wrap(image::ImageError::IoError(e)))?
        .decode()
        .map_err(wrap)?
        .into_rgb8();
    let (width, height) = decoded.dimensions();
    Ok(RgbImage::from_raw(width, height, decoded.into_raw())
        .expect("the image crate's RGB buffer matches its dimensions"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_png_and_names_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        let mut source = image::RgbImage::new(3, 2);
        source.put_pixel(2, 1, image::Rgb([10, 20, 30]));
        source.save(&path).unwrap();
        let loaded = load_rgb(&path).unwrap();
        assert_eq!((loaded.width(), loaded.height()), (3, 2));
        assert_eq!(loaded.get(2, 1), Some([10, 20, 30]));

        let truncated = dir.path().join("cut.png");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        let err = load_rgb(&truncated).unwrap_err();
        assert!(err.to_string().contains("cut.png"), "{err}");

        let text = dir.path().join("notes.jpg");
        std::fs::write(&text, "not an image").unwrap();
        assert!(load_rgb(&text).is_err());
        assert!(load_rgb(&dir.path().join("missing.png")).is_err());
    }
}
