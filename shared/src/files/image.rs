//! An image file's bytes to 8-bit RGB, with the checks a decoder alone does not make.

use std::borrow::ToOwned;
use std::path::{Path, PathBuf};

use super::read::{ReadError, read_capped};
use crate::raster::RgbImage;

/// An image file that could not be read or decoded. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImageFileError {
    /// The file could not be read: missing, not a regular file, or larger than any frame.
    #[error("cannot read image {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: ReadError,
    },
    /// The bytes are not an image of a supported format (JPEG, PNG, BMP, TIFF), or are
    /// damaged.
    #[error("{} is not a readable image", path.display())]
    Decode {
        /// The file, or a camera's name for a captured frame.
        path: PathBuf,
        /// What the decoder said.
        #[source]
        source: ::image::ImageError,
    },
    /// A file with no bytes: a copy or a capture that never got written.
    #[error("{} is empty", path.display())]
    Empty {
        /// The file, or a camera's name for a captured frame.
        path: PathBuf,
    },
    /// A JPEG cut short. The decoder would accept it and paint the missing rows grey,
    /// which no model should learn from, be judged on or be shown at the board.
    #[error("{} is a truncated JPEG (no end-of-image marker after its last scan)", path.display())]
    TruncatedJpeg {
        /// The file, or a camera's name for a captured frame.
        path: PathBuf,
    },
}

/// Largest image file read: a 12,000 x 8,000 pixel TIFF, uncompressed, is 288 MB.
pub const MAX_IMAGE_FILE_BYTES: u64 = 512 << 20;

/// Reads and decodes an image file (format from its content, not its name) into 8-bit RGB.
pub fn load_rgb(path: &Path) -> Result<RgbImage, ImageFileError> {
    let bytes = read_capped(path, MAX_IMAGE_FILE_BYTES).map_err(|source| ImageFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    decode_rgb(&bytes, path)
}

/// Decodes an image file's bytes (a file's, or a camera's MJPEG frame) into 8-bit RGB;
/// `origin` names it in errors.
pub fn decode_rgb(bytes: &[u8], origin: &Path) -> Result<RgbImage, ImageFileError> {
    if bytes.is_empty() {
        return Err(ImageFileError::Empty {
            path: origin.to_owned(),
        });
    }
    if is_jpeg(bytes) && !jpeg_is_complete(bytes) {
        return Err(ImageFileError::TruncatedJpeg {
            path: origin.to_owned(),
        });
    }
    let decoded = ::image::load_from_memory(bytes)
        .map_err(|source| ImageFileError::Decode {
            path: origin.to_owned(),
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
mod tests;
