//! A source read a few frames ahead, so a slide's first frames can be looked at (its scale
//! measured from their red cells) before the pipeline sees them; they are then delivered
//! as they came, none lost, none twice.

use std::collections::VecDeque;

use super::{Frame, FrameSource, SourceError};

/// `inner`, with the frames [`ReadAhead::fill`] read held until asked for.
pub struct ReadAhead<S> {
    held: VecDeque<Frame>,
    /// The error that stopped the read-ahead, delivered after the held frames.
    error: Option<SourceError>,
    inner: S,
}

impl<S: FrameSource> ReadAhead<S> {
    /// `inner` with nothing read ahead yet.
    pub fn new(inner: S) -> Self {
        ReadAhead {
            held: VecDeque::new(),
            error: None,
            inner,
        }
    }

    /// Reads up to `most` frames ahead, showing each to `look`, which says when it has
    /// seen enough; stops early at the end of the source or at an error, which is then
    /// delivered in its place. Returns how many frames were read.
    pub fn fill(&mut self, most: usize, mut look: impl FnMut(&Frame) -> bool) -> usize {
        let mut read = 0;
        while read < most && self.error.is_none() {
            match self.inner.next_frame() {
                Ok(Some(frame)) => {
                    read += 1;
                    let enough = look(&frame);
                    self.held.push_back(frame);
                    if enough {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => self.error = Some(e),
            }
        }
        read
    }
}

impl<S: FrameSource> FrameSource for ReadAhead<S> {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if let Some(frame) = self.held.pop_front() {
            return Ok(Some(frame));
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.inner.next_frame()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests;
