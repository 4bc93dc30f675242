//! The picture of every counted cell, as the classifier saw it: the window the model
//! classified, at the frame's own resolution or averaged down by whole blocks to no less
//! than the model's input (at 100x the window is some 500 pixels across), one JPEG per
//! cell. The review gallery shows
//! them, and `export-corrections` turns the reviewed ones into training images.
//!
//! The pictures are kept apart from the journal and are not synced one by one: a cell
//! counts once its journal record is on disk, and a picture lost to a power cut costs the
//! reviewer a thumbnail, never a count. Readers check that a picture decodes.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use image::ExtendedColorType;
use image::codecs::jpeg::JpegEncoder;
use leukoscope_core::files::AtomicWrite;
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
    /// temporary name, then renamed; not synced, see the module's doc).
    pub fn write(&self, id: u32, image: &RgbImage) -> io::Result<()> {
        let jpeg = encode_jpeg(image, QUALITY).map_err(io::Error::other)?;
        AtomicWrite::durable()
            .unsynced()
            .write(&self.path(id), &jpeg)
    }

    /// The JPEG bytes of cell `id`'s picture, if there is one.
    pub fn read(&self, id: u32) -> io::Result<Vec<u8>> {
        fs::read(self.path(id))
    }
}

/// `image` as a JPEG of `quality` (1 to 100).
pub fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, image::ImageError> {
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, quality).encode(
        image.as_raw(),
        image.width(),
        image.height(),
        ExtendedColorType::Rgb8,
    )?;
    Ok(jpeg)
}

/// Pictures queued for writing before the scan loop waits for the writer.
const QUEUE: usize = 64;

/// Writes cell pictures on a thread of its own, so encoding them never holds up a frame;
/// when the queue is full the scan loop waits (no picture is dropped). Without a thread (the
/// system refused one) pictures are written in the caller.
#[derive(Debug)]
pub struct CellImageWriter {
    images: CellImages,
    queue: Option<SyncSender<(u32, RgbImage)>>,
    thread: Option<JoinHandle<()>>,
    failed: Arc<AtomicU32>,
}

impl CellImageWriter {
    /// A writer into `images`.
    pub fn start(images: CellImages) -> Self {
        let failed = Arc::new(AtomicU32::new(0));
        let (tx, rx) = sync_channel::<(u32, RgbImage)>(QUEUE);
        let thread = {
            let images = images.clone();
            let failed = failed.clone();
            std::thread::Builder::new()
                .name("cell-pictures".into())
                .spawn(move || {
                    for (id, image) in rx {
                        if images.write(id, &image).is_err() {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
                .ok()
        };
        CellImageWriter {
            images,
            queue: thread.is_some().then_some(tx),
            thread,
            failed,
        }
    }

    /// Queues the picture of cell `id`.
    pub fn write(&self, id: u32, image: RgbImage) {
        let unsent = match &self.queue {
            Some(queue) => queue.send((id, image)).err().map(|e| e.0.1),
            None => Some(image),
        };
        // No thread, or it is gone: write here.
        if let Some(image) = unsent
            && self.images.write(id, &image).is_err()
        {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until every queued picture is written; the pictures that could not be.
    pub fn finish(&mut self) -> u32 {
        self.queue = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.failed()
    }

    /// Pictures that could not be written so far.
    pub fn failed(&self) -> u32 {
        self.failed.load(Ordering::Relaxed)
    }
}

impl Drop for CellImageWriter {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests;
