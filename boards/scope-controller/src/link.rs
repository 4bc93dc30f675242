//! The serial line's side of the protocol: bytes in, requests out; replies in, bytes
//! out. Reads only what has already arrived, so a main loop that polls it never waits on
//! the board.

use embedded_io::{Read, ReadReady, Write};
use leukoscope_core::protocol::{
    FrameReader, MAX_FRAME_LEN, Reply, Request, WireError, decode, encode,
};

/// What a whole frame held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A request and its sequence number.
    Request(u16, Request),
    /// A frame that could not be read, and why.
    Unreadable(WireError),
}

/// The protocol over one serial port.
pub struct SerialLink<U> {
    pub(crate) uart: U,
    reader: FrameReader,
}

impl<U: Read + ReadReady + Write> SerialLink<U> {
    /// Speaks over `uart` (8N1 at the speed both sides are set to).
    pub fn new(uart: U) -> Self {
        SerialLink {
            uart,
            reader: FrameReader::new(),
        }
    }

    /// Takes the bytes that have arrived, up to the end of the first whole frame, and
    /// returns what it held; `None` when no frame is complete yet.
    pub fn poll(&mut self) -> Result<Option<Incoming>, U::Error> {
        let mut byte = [0u8; 1];
        while self.uart.read_ready()? {
            if self.uart.read(&mut byte)? == 0 {
                break;
            }
            if let Some(frame) = self.reader.push(byte[0]) {
                return Ok(Some(match frame.and_then(decode::<Request>) {
                    Ok((seq, request)) => Incoming::Request(seq, request),
                    Err(why) => Incoming::Unreadable(why),
                }));
            }
        }
        Ok(None)
    }

    /// Sends `reply` numbered `seq`, whole.
    pub fn send(&mut self, seq: u16, reply: &Reply) -> Result<(), U::Error> {
        let mut frame = [0u8; MAX_FRAME_LEN];
        // Every reply fits a frame: the core's tests pin the largest.
        if let Ok(len) = encode(seq, reply, &mut frame) {
            self.uart.write_all(&frame[..len])?;
            self.uart.flush()?;
        }
        Ok(())
    }

    /// The port, back.
    pub fn release(self) -> U {
        self.uart
    }
}

#[cfg(test)]
mod tests;
