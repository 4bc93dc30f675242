//! Frames: what the camera or a replayed folder delivers, decoded to RGB.

use std::path::{Path, PathBuf};

use leukoscope_core::raster::RgbImage;

/// A frame that could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The file could not be read.
    #[error("cannot read frame {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a supported image (JPEG, PNG, BMP, TIFF) or are cut short.
    #[error("frame {} is not a readable image", path.display())]
    Decode {
        /// The file, or the camera's name for a captured frame.
        path: PathBuf,
        /// What the decoder said.
        #[source]
        source: image::ImageError,
    },
}

/// Decodes an encoded frame (a camera's MJPEG frame, a replayed file's bytes) to RGB.
/// `origin` names the frame in errors.
pub fn decode_frame(bytes: &[u8], origin: &Path) -> Result<RgbImage, FrameError> {
    let decoded = image::load_from_memory(bytes)
        .map_err(|source| FrameError::Decode {
            path: origin.to_owned(),
            source,
        })?
        .into_rgb8();
    let (width, height) = decoded.dimensions();
    Ok(RgbImage::from_raw(width, height, decoded.into_raw())
        .expect("the image crate's RGB buffer matches its dimensions"))
}

/// Reads and decodes a frame file.
pub fn load_frame(path: &Path) -> Result<RgbImage, FrameError> {
    let bytes = std::fs::read(path).map_err(|source| FrameError::Read {
        path: path.to_owned(),
        source,
    })?;
    decode_frame(&bytes, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_names_bad_frames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.png");
        image::RgbImage::from_pixel(4, 3, image::Rgb([200, 100, 50]))
            .save(&path)
            .unwrap();
        let frame = load_frame(&path).unwrap();
        assert_eq!(
            (frame.width(), frame.height(), frame.get(3, 2)),
            (4, 3, Some([200, 100, 50]))
        );

        let bytes = std::fs::read(&path).unwrap();
        let err = decode_frame(&bytes[..20], Path::new("camera0")).unwrap_err();
        assert!(matches!(err, FrameError::Decode { .. }));
        assert!(err.to_string().contains("camera0"));
        assert!(matches!(
            load_frame(&dir.path().join("gone.png")),
            Err(FrameError::Read { .. })
        ));
    }
}
