//! The core's synthetic slide as a frame source: a stage moving over a smear whose every
//! white cell is known, for the demo and for testing the pipeline against ground truth.

use std::ops::Range;

use leukoscope_core::synth::{Defect, FrameCell, SlideOptions, SyntheticSlide};

use super::clock::{Clock, Pacer, SystemClock};
use super::{Frame, FrameSource, Rate, SourceError};

/// What the slide says is in a frame the source delivered.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameTruth {
    /// The frame's index (as in [`Frame::index`]).
    pub index: u64,
    /// World position `[x, y]` of the frame's top-left pixel.
    pub stage: [f32; 2],
    /// The white cells it shows, in frame coordinates.
    pub cells: Vec<FrameCell>,
    /// The defect it was given, if any.
    pub defect: Option<Defect>,
}

/// Frames rendered from a [`SyntheticSlide`] along its serpentine scan.
#[derive(Debug)]
pub struct SyntheticSource<C: Clock = SystemClock> {
    slide: SyntheticSlide,
    seed: u64,
    frames: Range<u32>,
    next: u32,
    truth: Option<FrameTruth>,
    pacer: Pacer,
    clock: C,
}

impl SyntheticSource {
    /// Lays out the slide from `seed` and `options` and scans all of it.
    pub fn new(seed: u64, options: SlideOptions, rate: Rate) -> Result<Self, SourceError> {
        Self::with_clock(seed, options, rate, SystemClock)
    }
}

impl<C: Clock> SyntheticSource<C> {
    /// As [`SyntheticSource::new`], waiting on `clock` (tests pass a fake one).
    pub fn with_clock(
        seed: u64,
        options: SlideOptions,
        rate: Rate,
        clock: C,
    ) -> Result<Self, SourceError> {
        let slide = SyntheticSlide::new(seed, options)?;
        let frames = 0..slide.frame_count();
        Ok(SyntheticSource {
            slide,
            seed,
            next: frames.start,
            frames,
            truth: None,
            pacer: Pacer::new(rate),
            clock,
        })
    }

    /// Scans only frames `range` of the slide (clipped to the scan), for short demos and
    /// tests; frame indices stay the slide's.
    pub fn frames(mut self, range: Range<u32>) -> Self {
        let count = self.slide.frame_count();
        self.frames = range.start.min(count)..range.end.min(count);
        self.next = self.frames.start;
        self
    }

    /// The slide, with every cell's truth.
    pub fn slide(&self) -> &SyntheticSlide {
        &self.slide
    }

    /// What the slide says is in the frame delivered last.
    pub fn last_truth(&self) -> Option<&FrameTruth> {
        self.truth.as_ref()
    }
}

impl<C: Clock> FrameSource for SyntheticSource<C> {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.next >= self.frames.end {
            return Ok(None);
        }
        let index = self.next;
        self.next += 1;
        self.pacer.wait(&self.clock);
        let frame = self.slide.frame(index)?;
        self.truth = Some(FrameTruth {
            index: u64::from(index),
            stage: frame.stage,
            cells: frame.cells,
            defect: frame.defect,
        });
        Ok(Some(Frame {
            index: u64::from(index),
            image: frame.image,
            captured: self.clock.now(),
            origin: format!("synthetic frame {index}"),
            stage_um: None,
        }))
    }

    fn describe(&self) -> String {
        let o = self.slide.options();
        format!(
            "synthetic slide (seed {}, {}x{} frames {}..{} of {}, {} white cells)",
            self.seed,
            o.frame_width,
            o.frame_height,
            self.frames.start,
            self.frames.end,
            self.slide.frame_count(),
            self.slide.cells().len()
        )
    }
}

#[cfg(test)]
mod tests;
