//! Frame sources: where a slide's frames come from, behind one trait.
//!
//! - [`ReplaySource`]: a folder of frame files in natural name order, at a chosen rate or
//!   as fast as possible (tests, slides scanned elsewhere).
//! - [`SyntheticSource`]: the core's synthetic slide, a moving stage over a smear whose
//!   cells are known (the demo and the tests).
//! - `CameraSource` (feature `camera`): a V4L2 camera delivering MJPEG or YUYV.
//! - [`ReadAhead`]: wraps any source and reads a few frames ahead, so a slide's first
//!   frames can be measured (its scale) before they are scanned.
//! - [`Reconnecting`]: wraps any source and rides out a camera that disappears mid-slide,
//!   retrying with back-off and telling an observer (log, status LED) what it is doing.
//!
//! Errors come in three kinds ([`ErrorKind`]), so a caller knows what to do next: retry a
//! lost device, skip a bad frame and carry on, or stop.

#[cfg(feature = "camera")]
mod camera;
mod clock;
mod read_ahead;
mod reconnect;
mod replay;
mod synthetic;
mod yuyv;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use leukoscope_core::raster::RgbImage;
use leukoscope_core::synth::SynthError;

use leukoscope_core::files::ImageFileError;

#[cfg(feature = "camera")]
pub use camera::{CameraConfig, CameraSource, PixelFormat};
pub use clock::{Clock, Pacer, SystemClock};
pub use read_ahead::ReadAhead;
pub use reconnect::{Backoff, LinkEvent, LinkObserver, Reconnecting};
pub use replay::{ReplaySource, natural_order};
pub use synthetic::{FrameTruth, SyntheticSource};
pub use yuyv::{YuyvError, yuyv_to_rgb};

/// One frame from a source.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Position in the source's sequence. Gaps mean frames that were skipped (a bad file)
    /// or dropped (by the camera), so a tracker knows the stage moved further than usual.
    pub index: u64,
    /// The picture.
    pub image: RgbImage,
    /// When the source produced it (read, rendered or dequeued).
    pub captured: Instant,
    /// Where it came from, for logs and reports: a file name, or a camera and its
    /// sequence number.
    pub origin: String,
    /// Where a motorized stage stood when it was taken, µm from home (x, y); `None` for a
    /// slide moved by hand. The tracker takes it as its prior.
    pub stage_um: Option<[f64; 2]>,
}

/// Something that delivers frames, one at a time.
pub trait FrameSource {
    /// The next frame; `Ok(None)` when the source has no more (a replay's folder is done).
    ///
    /// After an error of kind [`ErrorKind::Skip`] or [`ErrorKind::Retry`] the source stays
    /// usable: the next call moves past the bad frame, or tries to reconnect.
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError>;

    /// What this source is, in a few words for the log ("replay of /data/slide7, 412 files").
    fn describe(&self) -> String;
}

impl<S: FrameSource + ?Sized> FrameSource for Box<S> {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        (**self).next_frame()
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// How fast a source delivers frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rate {
    /// As fast as the frames can be read or rendered.
    #[default]
    Unlimited,
    /// One frame per this interval, at most.
    Every(Duration),
}

impl Rate {
    /// A rate in frames per second; errors unless it is finite and positive.
    pub fn per_second(fps: f64) -> Result<Rate, SourceError> {
        if fps.is_finite() && fps > 0.0 {
            Ok(Rate::Every(Duration::from_secs_f64(1.0 / fps)))
        } else {
            Err(SourceError::BadRate { fps })
        }
    }
}

/// What a caller should do about a [`SourceError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The device went away; the session is kept and the source retried ([`Reconnecting`]).
    Retry,
    /// One frame was unusable; report it, count it, and ask for the next.
    Skip,
    /// The source cannot go on; stop the session and tell the operator.
    Fatal,
}

/// Why a source could not deliver a frame.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The device disappeared or stopped answering (unplugged, reset, timed out).
    #[error("{device} is not answering ({cause}); check its cable")]
    Disconnected {
        /// The device, as the source names it.
        device: String,
        /// What the system said.
        #[source]
        cause: std::io::Error,
    },
    /// A frame file or a captured frame could not be decoded; the source moves past it.
    #[error("skipped a frame: {0}")]
    BadFrame(#[from] ImageFileError),
    /// A raw captured frame did not hold the picture its format promised.
    #[error("skipped a frame from {device}: {problem}")]
    BadRawFrame {
        /// The device.
        device: String,
        /// What was wrong with it.
        #[source]
        problem: YuyvError,
    },
    /// The replay folder could not be listed.
    #[error("cannot list the replay folder {}; check the path and its permissions", path.display())]
    Folder {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        cause: std::io::Error,
    },
    /// The synthetic slide could not be laid out or rendered.
    #[error("synthetic slide: {0}")]
    Synthetic(#[from] SynthError),
    /// The camera could not be opened or set up as asked.
    #[error("camera {device}: cannot {action}")]
    Camera {
        /// The device path.
        device: String,
        /// What was being done ("open the device", "set the format").
        action: &'static str,
        /// What the system said.
        #[source]
        cause: std::io::Error,
    },
    /// The camera does not offer what was asked of it.
    #[error("camera {device}: {problem}")]
    CameraRefused {
        /// The device path.
        device: String,
        /// What it refused, with what it offers instead.
        problem: String,
    },
    /// The scope controller or focusing failed during a motorized scan (a refusal, a
    /// lost link, nothing in focus): the scan cannot go on by itself.
    #[error("the stage or the focus: {0}")]
    Stage(String),
    /// A frame rate that is not a positive number.
    #[error("frame rate {fps} is not a positive number of frames per second")]
    BadRate {
        /// The rate given.
        fps: f64,
    },
}

impl SourceError {
    /// For a frame that is skipped, why, in a few words a count can go under.
    pub fn skip_reason(&self) -> Option<&'static str> {
        match self {
            SourceError::BadFrame(ImageFileError::Read { .. }) => Some("unreadable file"),
            SourceError::BadFrame(ImageFileError::Empty { .. }) => Some("empty file"),
            SourceError::BadFrame(ImageFileError::Decode { .. }) => Some("not an image"),
            SourceError::BadFrame(ImageFileError::TruncatedJpeg { .. }) => Some("truncated JPEG"),
            SourceError::BadRawFrame { .. } => Some("damaged camera frame"),
            _ => None,
        }
    }

    /// Whether to retry, skip or stop.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SourceError::Disconnected { .. } => ErrorKind::Retry,
            SourceError::BadFrame(_) | SourceError::BadRawFrame { .. } => ErrorKind::Skip,
            SourceError::Folder { .. }
            | SourceError::Synthetic(_)
            | SourceError::Camera { .. }
            | SourceError::CameraRefused { .. }
            | SourceError::Stage(_)
            | SourceError::BadRate { .. } => ErrorKind::Fatal,
        }
    }
}

#[cfg(test)]
mod tests;
