//! The picture of every counted cell, as the classifier saw it: the window the model
//! classified, at the frame's own resolution, one JPEG per cell. The review gallery shows
//! them, and `export-corrections` turns the reviewed ones into training images.
//!
//! The pictures are kept apart from the journal and are not synced one by one: a cell
//! counts once its journal record is on disk, and a picture lost to a power cut costs the
//! reviewer a thumbnail, never a count. Readers check that a picture decodes.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use image::ExtendedColorType;
use image::codecs::jpeg::JpegEncoder;
use leukoscope_core::raster::RgbImage;

/// JPEG quality of the pictures: high enough that a retrained model sees what the board's
/// model saw (stain texture survives), small enough for hundreds of cells per slide (a
/// 224-pixel window is about 15 KB).
const QUALITY: u8 = 90;

/// The cell pictures of one slide: `<root>/<slide>/cell-NNNN.jpg`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellImages {
    dir: PathBuf,
}

impl CellImages {
    /// The pictures of `slide` under `root` (the folder is made on the first write).
    pub fn new(root: &Path, slide: &str) -> Self {
        CellImages {
            dir: root.join(slide),
        }
    }

    /// The picture of cell `id`.
    pub fn path(&self, id: u32) -> PathBuf {
        self.dir.join(format!("cell-{id:04}.jpg"))
    }

    /// Writes the picture of cell `id`, replacing any earlier one whole (written under a
    /// temporary name, then renamed).
    pub fn write(&self, id: u32, image: &RgbImage) -> io::Result<()> {
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, QUALITY)
            .encode(
                image.as_raw(),
                image.width(),
                image.height(),
                ExtendedColorType::Rgb8,
            )
            .map_err(io::Error::other)?;
        fs::create_dir_all(&self.dir)?;
        let path = self.path(id);
        let temp = self.dir.join(format!(".cell-{id:04}.jpg.tmp"));
        fs::write(&temp, &jpeg)
            .and_then(|()| fs::rename(&temp, &path))
            .inspect_err(|_| {
                let _ = fs::remove_file(&temp);
            })
    }

    /// The JPEG bytes of cell `id`'s picture, if there is one.
    pub fn read(&self, id: u32) -> io::Result<Vec<u8>> {
        fs::read(self.path(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picture_written_reads_back_as_the_same_cell() {
        let dir = tempfile::tempdir().unwrap();
        let images = CellImages::new(dir.path(), "slide-1");
        let mut cell = RgbImage::filled(64, 48, [200, 180, 220]);
        for y in 16..32 {
            for x in 20..44 {
                cell.put(x, y, [60, 20, 110]);
            }
        }
        images.write(7, &cell).unwrap();
        assert_eq!(images.path(7), dir.path().join("slide-1/cell-0007.jpg"));
        let decoded = image::load_from_memory(&images.read(7).unwrap())
            .unwrap()
            .to_rgb8();
        assert_eq!(decoded.dimensions(), (64, 48));
        // JPEG is lossy: the nucleus stays dark and the background light.
        assert!(decoded.get_pixel(32, 24)[0] < 100);
        assert!(decoded.get_pixel(4, 4)[0] > 160);
        assert!(images.read(8).is_err());
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path().join("slide-1")).unwrap().count(), 1);
    }
}
