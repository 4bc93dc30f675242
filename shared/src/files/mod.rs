//! The std chores both sides must do the same way (feature `files`): decoding an image file
//! and replacing a file so that a power cut leaves the old one or the new one, never half.
//!
//! One routine each, because two that almost agree drift: an image the trainer refuses
//! (a truncated JPEG, whose missing rows a decoder paints grey) must be refused by the
//! board too, and every file the programs persist gets the same guarantee.
//!
//! - [`image`](mod@image): an image file's bytes to the core's [`RgbImage`](crate::raster::RgbImage).
//! - [`atomic`]: a whole file replaced at once, synced as far as its caller needs.
//! - [`read`]: a file a user named, read only when it is a regular file under a cap.

// The core is `no_std`; this module is the one that needs the standard library throughout.
extern crate std;

pub mod atomic;
pub mod image;
pub mod read;

pub use atomic::{AtomicWrite, sync_dir, write_atomically};
pub use image::{ImageFileError, MAX_IMAGE_FILE_BYTES, decode_rgb, load_rgb};
pub use read::{ReadError, read_capped};
