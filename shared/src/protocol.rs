//! The board↔scope-controller wire: what the board's Linux program asks of the
//! microcontroller that moves the stage, the focus and the lamp, and what it answers.
//! Defined once, here, for the edge runtime (over the `serialport` crate) and the firmware
//! (over `embedded-io`).
//!
//! A message travels as one frame: `[version][postcard(seq, body)][CRC-32 of both, LE]`,
//! COBS-encoded so that it holds no zero byte, then a zero byte that ends it
//! (`docs/scope-protocol.md`). COBS lets a reader that joins mid-stream, or loses bytes on
//! a noisy line, find the next frame at the next zero; the CRC catches what the line
//! changed; the version byte lets either side name a peer newer than itself instead of
//! misreading it. Every way a frame can be wrong is a [`WireError`], never a panic, and a
//! [`FrameReader`] that met one is ready for the next frame: the link cannot get stuck.
//!
//! Lengths on the stage are whole nanometres (`i32`: ±2.1 m, far beyond any stage, and
//! exact on both sides, where an `f32` of micrometres would round differently on each).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The protocol version this build speaks; the first byte of every frame.
pub const PROTOCOL_VERSION: u8 = 1;

/// Longest frame either side sends or accepts, terminator included. The largest message
/// today ([`Reply::Arrived`] at the farthest positions) takes 27 bytes; the rest is room
/// for later ones within one version.
pub const MAX_FRAME_LEN: usize = 64;

/// The longest message (version, sequence number, body and CRC) that fits in a frame.
const MAX_MESSAGE_LEN: usize = MAX_FRAME_LEN - 1 - (MAX_FRAME_LEN - 1).div_ceil(254);

/// Bytes of the CRC at a message's end.
const CRC_LEN: usize = 4;

/// One of the stage's three axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Axis {
    /// Left-right on the stage.
    X,
    /// Front-back on the stage.
    Y,
    /// Focus: the objective's distance to the slide.
    Z,
}

/// Where the stage and the focus are, in nanometres from home.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Position {
    /// Stage, left-right.
    pub x_nm: i32,
    /// Stage, front-back.
    pub y_nm: i32,
    /// Focus.
    pub z_nm: i32,
    /// Whether the axes were homed since power-up: before that the position is only
    /// counted steps from wherever the stage stood.
    pub homed: bool,
}

/// What the board asks of the controller. New requests are added at the end only: postcard
/// sends a variant as its position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Request {
    /// Which protocol and firmware the controller runs; the first request on a link.
    Hello,
    /// Drive every axis to its limit switch, slowly, and call that zero.
    Home,
    /// Move the stage to a position, ramping up and down; answered at once with
    /// [`Reply::Accepted`] and with [`Reply::Arrived`] when the move ends.
    MoveTo {
        /// Target, left-right.
        x_nm: i32,
        /// Target, front-back.
        y_nm: i32,
    },
    /// Move the focus to a height, answered as [`MoveTo`](Self::MoveTo) is.
    FocusTo {
        /// Target focus.
        z_nm: i32,
    },
    /// Set the lamp, in thousandths of full power (0 to 1000).
    Lamp {
        /// Brightness.
        permille: u16,
    },
    /// Where the axes are now.
    Where,
    /// Stop every axis now, ramping down; a move under way answers
    /// [`Refusal::Stopped`].
    Stop,
    /// Keeps the link alive: a controller that hears nothing for its timeout stops every
    /// motion, as a board that crashed or lost its cable cannot.
    Ping,
    /// How many times the controller's start button was pressed since it powered up.
    Presses,
}

/// What the controller answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Reply {
    /// The answer to [`Request::Hello`].
    Hello {
        /// The highest protocol version the controller speaks.
        protocol: u8,
        /// Its firmware's version: major, minor, patch.
        firmware: [u8; 3],
        /// How long it waits without a request before it stops every motion, in
        /// milliseconds.
        link_timeout_ms: u16,
    },
    /// A request that takes time was started.
    Accepted,
    /// A move, a focus or homing ended here.
    Arrived(Position),
    /// The answer to [`Request::Where`].
    At(Position),
    /// A request was not carried out, or a motion was cut short.
    Refused(Refusal),
    /// The answer to [`Request::Ping`], and to [`Request::Lamp`] once it is set.
    Done,
    /// The answer to [`Request::Presses`].
    Presses {
        /// Presses of the start button since power-up, wrapping at 65,536: a board without
        /// a button of its own starts a slide when it changes.
        count: u16,
    },
}

/// Why the controller did not do what was asked, or stopped doing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Refusal {
    /// A move before the axes were homed: the position is not known.
    NotHomed,
    /// The target lies beyond the axis' soft limit.
    OutOfRange {
        /// The axis.
        axis: Axis,
    },
    /// Another motion of the same axis is under way.
    Busy,
    /// A limit switch closed during a move (a stage out of its calibration, or a hand on
    /// it): every axis stopped, and homing is needed again.
    LimitHit {
        /// The axis whose switch closed.
        axis: Axis,
    },
    /// [`Request::Stop`] cut the motion short.
    Stopped,
    /// The link went quiet for longer than the timeout: every axis stopped.
    LinkLost,
    /// A lamp level above 1000.
    BadValue,
    /// The request could not be read ([`WireError`]), answered with sequence number 0
    /// as its own was lost with it.
    Unreadable,
    /// Homing drove the axis its whole travel (or backed off as far) without its limit
    /// switch changing: a switch unplugged, broken or stuck. The axis stays unhomed.
    SwitchNotFound {
        /// The axis whose switch never changed.
        axis: Axis,
    },
    /// A driver pin could not be set or a switch read: every axis stopped, homing is
    /// needed again.
    DriverFault {
        /// The axis whose pins failed.
        axis: Axis,
    },
}

/// Why a frame could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WireError {
    /// More bytes before a terminator than any frame has: a line that lost a zero byte,
    /// or noise. The reader drops them up to the next terminator.
    #[error("a frame longer than {MAX_FRAME_LEN} bytes (no terminator): dropped")]
    TooLong,
    /// The bytes between two terminators are not COBS, or too short to be a message.
    #[error("a damaged frame (not COBS, or too short)")]
    Damaged,
    /// The CRC does not match: the line changed some bytes.
    #[error("a frame whose CRC does not match: changed on the line")]
    Crc,
    /// The peer speaks a protocol version this build does not.
    #[error(
        "the peer speaks scope protocol version {found}, this build speaks {supported}: update the older side"
    )]
    Version {
        /// The frame's version.
        found: u8,
        /// This build's, [`PROTOCOL_VERSION`].
        supported: u8,
    },
    /// A message of this version this build does not know (a request or reply added
    /// after it), or whose fields do not read.
    #[error("a message this build does not know (a newer peer?), or with unreadable fields")]
    UnknownMessage,
    /// The message does not fit in [`MAX_FRAME_LEN`] bytes (a sender's error).
    #[error("the message does not fit in a {MAX_FRAME_LEN}-byte frame")]
    MessageTooLong,
}

/// Writes message `body`, numbered `seq`, as one frame at the start of `out`, terminator
/// included, and returns the frame's length.
pub fn encode<T: Serialize>(
    seq: u16,
    body: &T,
    out: &mut [u8; MAX_FRAME_LEN],
) -> Result<usize, WireError> {
    let mut message = [0u8; MAX_MESSAGE_LEN];
    message[0] = PROTOCOL_VERSION;
    let used = postcard::to_slice(&(seq, body), &mut message[1..MAX_MESSAGE_LEN - CRC_LEN])
        .map_err(|_| WireError::MessageTooLong)?
        .len();
    let end = 1 + used;
    let crc = crc32fast::hash(&message[..end]);
    message[end..end + CRC_LEN].copy_from_slice(&crc.to_le_bytes());
    let message = &message[..end + CRC_LEN];
    let len = cobs::try_encode(message, &mut out[..MAX_FRAME_LEN - 1])
        .map_err(|_| WireError::MessageTooLong)?;
    out[len] = 0;
    Ok(len + 1)
}

/// Reads the message of one frame: the bytes between two terminators (without them),
/// decoded in place. Returns its sequence number and body.
pub fn decode<T: DeserializeOwned>(frame: &mut [u8]) -> Result<(u16, T), WireError> {
    if frame.len() >= MAX_FRAME_LEN {
        return Err(WireError::TooLong);
    }
    let len = cobs::decode_in_place(frame).map_err(|_| WireError::Damaged)?;
    let message = &frame[..len];
    if message.len() < 1 + CRC_LEN + 1 {
        return Err(WireError::Damaged);
    }
    let (signed, crc) = message.split_at(message.len() - CRC_LEN);
    let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32fast::hash(signed) != crc {
        return Err(WireError::Crc);
    }
    if signed[0] != PROTOCOL_VERSION {
        return Err(WireError::Version {
            found: signed[0],
            supported: PROTOCOL_VERSION,
        });
    }
    // Every byte must belong to the message: trailing bytes mean another layout.
    match postcard::take_from_bytes::<(u16, T)>(&signed[1..]) {
        Ok((message, [])) => Ok(message),
        _ => Err(WireError::UnknownMessage),
    }
}

/// Gathers a byte stream into frames: feed it every byte read from the link, and it gives
/// each frame's bytes once its terminator arrives. A frame too long for
/// [`MAX_FRAME_LEN`] is dropped up to its terminator and reported once, so noise or a lost
/// zero costs one frame, never the link.
#[derive(Clone, Debug)]
pub struct FrameReader {
    buffer: [u8; MAX_FRAME_LEN],
    len: usize,
    overflowed: bool,
}

impl Default for FrameReader {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameReader {
    /// A reader at the start of a frame.
    pub const fn new() -> Self {
        FrameReader {
            buffer: [0; MAX_FRAME_LEN],
            len: 0,
            overflowed: false,
        }
    }

    /// Takes one byte; at a terminator, returns the frame it ends (its bytes, without the
    /// terminator, to give to [`decode`]) or why there is none. Terminators with nothing
    /// before them (a sender that flushes a line with zeros) give nothing.
    pub fn push(&mut self, byte: u8) -> Option<Result<&mut [u8], WireError>> {
        if byte != 0 {
            if self.len < MAX_FRAME_LEN {
                self.buffer[self.len] = byte;
                self.len += 1;
            } else {
                self.overflowed = true;
            }
            return None;
        }
        let len = core::mem::take(&mut self.len);
        if core::mem::take(&mut self.overflowed) || len >= MAX_FRAME_LEN {
            return Some(Err(WireError::TooLong));
        }
        (len > 0).then(|| Ok(&mut self.buffer[..len]))
    }
}

#[cfg(test)]
mod tests;
