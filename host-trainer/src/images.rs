//! Decoding image files into the core's pixel buffers.

use std::path::{Path, PathBuf};

use leukoscope_core::raster::RgbImage;

/// An image file that could not be read or decoded.
#[derive(Debug, thiserror::Error)]
pub enum ImageLoadError {
    /// The file could not be read.
    #[error("cannot read image {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not an image of a supported format, or are damaged.
    #[error("{} is not a readable image", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        #[source]
        source: image::ImageError,
    },
    /// A JPEG cut short. The decoder would accept it and paint the missing rows grey,
    /// which no model should learn from or be judged on.
    #[error("{} is a truncated JPEG (no end-of-image marker after its last scan)", path.display())]
    TruncatedJpeg {
        /// The file.
        path: PathBuf,
    },
}

/// Reads and decodes an image file (format from its content, not its name) into 8-bit RGB.
pub fn load_rgb(path: &Path) -> Result<RgbImage, ImageLoadError> {
    let bytes = std::fs::read(path).map_err(|source| ImageLoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    decode_rgb(&bytes, path)
}

/// Decodes an image file's bytes into 8-bit RGB; `path` names it in errors.
pub fn decode_rgb(bytes: &[u8], path: &Path) -> Result<RgbImage, ImageLoadError> {
    if is_jpeg(bytes) && !jpeg_is_complete(bytes) {
        return Err(ImageLoadError::TruncatedJpeg {
            path: path.to_owned(),
        });
    }
    let decoded = image::load_from_memory(bytes)
        .map_err(|source| ImageLoadError::Decode {
            path: path.to_owned(),
            source,
        })?
        .into_rgb8();
    let (width, height) = decoded.dimensions();
    Ok(RgbImage::from_raw(width, height, decoded.into_raw())
        .expect("the image crate's RGB buffer matches its dimensions"))
}

fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// Whether an end-of-image marker (`FF D9`) follows the last start-of-scan (`FF DA`).
/// Entropy-coded data stuffs every `FF` byte (`FF 00`), so neither marker can appear by
/// chance inside a scan.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let is = |marker: u8| move |pair: &[u8]| pair == [0xFF, marker];
    bytes
        .windows(2)
        .rposition(is(0xDA))
        .is_some_and(|scan| bytes[scan..].windows(2).any(is(0xD9)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_names_bad_files() {
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
        assert!(matches!(
            load_rgb(&text),
            Err(ImageLoadError::Decode { .. })
        ));
        assert!(matches!(
            load_rgb(&dir.path().join("missing.png")),
            Err(ImageLoadError::Read { .. })
        ));
    }

    #[test]
    fn a_cut_jpeg_is_refused_though_the_decoder_would_take_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("field.jpg");
        let field = image::RgbImage::from_fn(64, 64, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 4) as u8, 128])
        });
        field.save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(load_rgb(&path).is_ok());
        let cut = &bytes[..bytes.len() - bytes.len() / 3];
        assert!(
            image::load_from_memory(cut).is_ok(),
            "the decoder alone accepts it"
        );
        assert!(matches!(
            decode_rgb(cut, &path),
            Err(ImageLoadError::TruncatedJpeg { .. })
        ));
    }
}
