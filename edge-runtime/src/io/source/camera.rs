//! A V4L2 camera: the microscope's USB or CSI camera, through the kernel's own API.
//!
//! The source opens the device, asks for a size, pixel format and frame rate, and reads
//! frames through memory-mapped buffers. When the device goes away mid-slide it drops
//! everything it held and reports [`SourceError::Disconnected`]; its next call tries to
//! open the device again, so [`super::Reconnecting`] can ride out a replugged cable.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use v4l::buffer::Type;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::video::capture::Parameters;
use v4l::{Device, FourCC};

use leukoscope_core::files::decode_rgb;

use super::yuyv::yuyv_to_rgb;
use super::{Frame, FrameSource, SourceError};

/// The pixel formats the source can read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PixelFormat {
    /// Motion JPEG: compressed, so full resolution fits through USB 2 at a useful rate.
    #[default]
    Mjpeg,
    /// YUV 4:2:2, uncompressed: no JPEG artefacts on cell edges, but USB 2 carries only a
    /// few full-HD frames a second.
    Yuyv,
}

impl PixelFormat {
    fn fourcc(self) -> FourCC {
        match self {
            PixelFormat::Mjpeg => FourCC::new(b"MJPG"),
            PixelFormat::Yuyv => FourCC::new(b"YUYV"),
        }
    }
}

/// Which camera and how to run it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CameraConfig {
    /// The device node. A `/dev/v4l/by-id/...` path survives replugging, which may
    /// renumber `/dev/videoN`.
    pub device: PathBuf,
    /// Frame width asked for; the driver picks the nearest it has.
    pub width: u32,
    /// Frame height asked for.
    pub height: u32,
    /// Pixel format; the source refuses to start if the camera does not offer it.
    pub format: PixelFormat,
    /// Frames per second asked for; `None` keeps the driver's choice.
    pub fps: Option<u32>,
    /// Memory-mapped buffers (more ride out longer pauses in processing, each costs a frame
    /// of memory).
    pub buffers: u32,
    /// How long to wait for a frame before taking the camera for gone.
    pub timeout: Duration,
}

impl Default for CameraConfig {
    fn default() -> Self {
        CameraConfig {
            device: PathBuf::from("/dev/video0"),
            width: 1920,
            height: 1080,
            format: PixelFormat::Mjpeg,
            fps: None,
            buffers: 4,
            timeout: Duration::from_secs(2),
        }
    }
}

/// Frames from a V4L2 camera.
pub struct CameraSource {
    config: CameraConfig,
    name: String,
    live: Option<Live>,
    /// Negotiated size and row stride, as the driver last reported them.
    size: (u32, u32, usize),
    next_index: u64,
}

/// An open, streaming device.
struct Live {
    stream: Stream<'static>,
    last_sequence: Option<u32>,
}

impl CameraSource {
    /// Opens the camera and sets it up. Fails if it cannot be opened at all, or does not
    /// offer the pixel format asked for; a camera missing at the start is a setup error,
    /// not a disconnection to wait out.
    pub fn open(config: CameraConfig) -> Result<Self, SourceError> {
        let name = config.device.display().to_string();
        let mut source = CameraSource {
            size: (config.width, config.height, 0),
            config,
            name,
            live: None,
            next_index: 0,
        };
        match source.connect() {
            Ok(live) => source.live = Some(live),
            Err(SourceError::Disconnected { device, cause }) => {
                return Err(SourceError::Camera {
                    device,
                    action: "open the device",
                    cause,
                });
            }
            Err(e) => return Err(e),
        }
        Ok(source)
    }

    /// The frame size the driver chose.
    pub fn size(&self) -> (u32, u32) {
        (self.size.0, self.size.1)
    }

    fn connect(&mut self) -> Result<Live, SourceError> {
        let device = Device::with_path(&self.config.device)
            .map_err(|e| self.failed("open the device", e))?;
        let mut format = device
            .format()
            .map_err(|e| self.failed("read the format", e))?;
        format.width = self.config.width;
        format.height = self.config.height;
        format.fourcc = self.config.format.fourcc();
        let format = device
            .set_format(&format)
            .map_err(|e| self.failed("set the format", e))?;
        if format.fourcc != self.config.format.fourcc() {
            return Err(SourceError::CameraRefused {
                device: self.name.clone(),
                problem: format!(
                    "does not deliver {} (it chose {}); pick the other pixel format",
                    self.config.format.fourcc(),
                    format.fourcc
                ),
            });
        }
        self.size = (format.width, format.height, format.stride as usize);
        if let Some(fps) = self.config.fps {
            device
                .set_params(&Parameters::with_fps(fps))
                .map_err(|e| self.failed("set the frame rate", e))?;
        }
        let mut stream = Stream::with_buffers(&device, Type::VideoCapture, self.config.buffers)
            .map_err(|e| self.failed("map its buffers", e))?;
        stream.set_timeout(self.config.timeout);
        Ok(Live {
            stream,
            last_sequence: None,
        })
    }

    /// A system error while doing `action`: a disconnection if the device is gone, else a
    /// setup failure.
    fn failed(&self, action: &'static str, cause: io::Error) -> SourceError {
        if is_gone(&cause) {
            SourceError::Disconnected {
                device: self.name.clone(),
                cause,
            }
        } else {
            SourceError::Camera {
                device: self.name.clone(),
                action,
                cause,
            }
        }
    }
}

impl FrameSource for CameraSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let mut live = match self.live.take() {
            Some(live) => live,
            None => self.connect()?,
        };
        let (width, height, stride) = self.size;
        let read = match live.stream.next() {
            Ok((buffer, meta)) => {
                let bytes = &buffer[..(meta.bytesused as usize).min(buffer.len())];
                let image = match self.config.format {
                    PixelFormat::Mjpeg => {
                        decode_rgb(bytes, Path::new(&self.name)).map_err(SourceError::from)
                    }
                    PixelFormat::Yuyv => {
                        yuyv_to_rgb(bytes, width, height, stride).map_err(|problem| {
                            SourceError::BadRawFrame {
                                device: self.name.clone(),
                                problem,
                            }
                        })
                    }
                };
                Ok((image, meta.sequence))
            }
            Err(e) => Err(e),
        };
        let (image, sequence) = match read {
            Ok(read) => read,
            Err(cause) => {
                release(live);
                return Err(self.failed("read a frame", cause));
            }
        };
        // The driver numbers frames; a jump means it dropped some, which the index shows.
        let dropped = live
            .last_sequence
            .map_or(0, |prev| sequence.wrapping_sub(prev).saturating_sub(1));
        live.last_sequence = Some(sequence);
        let index = self.next_index + u64::from(dropped);
        self.next_index = index + 1;
        self.live = Some(live);
        Ok(Some(Frame {
            index,
            image: image?,
            captured: Instant::now(),
            origin: format!("{} #{sequence}", self.name),
            stage_um: None,
        }))
    }

    fn describe(&self) -> String {
        let rate = self
            .config
            .fps
            .map_or_else(String::new, |fps| format!(" at {fps} frames/s"));
        format!(
            "camera {} ({}x{} {}{rate})",
            self.name,
            self.size.0,
            self.size.1,
            self.config.format.fourcc()
        )
    }
}

/// Drops a stream whose device may be gone. The `v4l` crate panics when stopping a stream
/// fails with anything but "no such device" (an unplugged camera can also answer with an
/// I/O error); that must not take the session down, so the panic is contained here.
fn release(live: Live) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(live)));
}

/// Linux error numbers meaning the camera went away rather than refused something.
const ENODEV: i32 = 19;
const ENXIO: i32 = 6;
const EIO: i32 = 5;
const ESHUTDOWN: i32 = 108;

/// Whether an error means the device is gone (unplugged, reset, hung) rather than that it
/// refused a request.
fn is_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::TimedOut | io::ErrorKind::BrokenPipe
    ) || e
        .raw_os_error()
        .is_some_and(|code| [ENODEV, ENXIO, EIO, ESHUTDOWN].contains(&code))
}

#[cfg(test)]
mod tests;
