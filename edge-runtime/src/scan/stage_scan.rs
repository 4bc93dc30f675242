//! A slide scanned by the scope controller: a frame source that homes the stage, focuses
//! on the first field, then moves field by field along the serpentine plan, keeping focus
//! at each, and hands the pipeline the camera's frame of every field. The pipeline's stop
//! rule ends the scan as it ends any other source's: it simply asks for no more frames.
//! Each frame carries where the stage arrived, the tracker's prior.

use leukoscope_core::raster::RgbImage;

use crate::io::scope::Scope;
use crate::io::source::{Frame, FrameSource, SourceError};
use crate::scan::autofocus::{FocusSweep, autofocus, refocus};
use crate::scan::quality::QualityThresholds;

/// The camera's frames of the fields a [`Scope`] moves to, in the order of a plan.
pub struct StageScan<S: Scope, C: FrameSource> {
    scope: S,
    camera: C,
    plan: Vec<(i32, i32)>,
    next: usize,
    focus_from_nm: i32,
    sweep: FocusSweep,
    thresholds: QualityThresholds,
    um_per_px: f32,
    /// Frames taken to find and keep focus, not handed to the pipeline.
    focusing_frames: u32,
    /// Where the stage arrived for the current field, µm.
    stage_um: [f64; 2],
}

impl<S: Scope, C: FrameSource> StageScan<S, C> {
    /// Scans the fields of `plan` (stage positions, e.g. from
    /// [`serpentine`](crate::scan::stage_plan::serpentine)) with `scope` and `camera`,
    /// whose frames are `um_per_px` and judged for focus as the gate under `thresholds`
    /// judges them. The first field's focus is searched for around `focus_from_nm`, the
    /// height at which a slide on this stage is about in focus: homing leaves the focus
    /// at its limit switch, far from any slide.
    pub fn new(
        scope: S,
        camera: C,
        plan: Vec<(i32, i32)>,
        focus_from_nm: i32,
        sweep: FocusSweep,
        thresholds: QualityThresholds,
        um_per_px: f32,
    ) -> Self {
        StageScan {
            scope,
            camera,
            plan,
            next: 0,
            focus_from_nm,
            sweep,
            thresholds,
            um_per_px,
            focusing_frames: 0,
            stage_um: [0.0; 2],
        }
    }

    /// The scope, to read where it is or to move it away after the slide.
    pub fn scope(&mut self) -> &mut S {
        &mut self.scope
    }

    /// Frames taken to find and keep focus so far.
    pub fn focusing_frames(&self) -> u32 {
        self.focusing_frames
    }

    /// Moves to field `at`, the first one homed and focused from scratch, the others
    /// refocused.
    fn go_to_field(&mut self, at: (i32, i32)) -> Result<(), SourceError> {
        let stage = |e: &dyn std::fmt::Display| SourceError::Stage(e.to_string());
        let first = self.next == 0;
        if first && !self.scope.position().map_err(|e| stage(&e))?.homed {
            self.scope.home().map_err(|e| stage(&e))?;
        }
        let arrived = self.scope.move_to(at.0, at.1).map_err(|e| stage(&e))?;
        self.stage_um = [arrived.x_nm, arrived.y_nm].map(|nm| f64::from(nm) / 1_000.0);
        if first {
            self.scope
                .focus_to(self.focus_from_nm)
                .map_err(|e| stage(&e))?;
        }
        let camera = &mut self.camera;
        let mut capture = || -> Result<RgbImage, String> {
            match camera.next_frame() {
                Ok(Some(frame)) => Ok(frame.image),
                Ok(None) => Err("the camera has no more frames".to_string()),
                Err(e) => Err(e.to_string()),
            }
        };
        let focus = if first { autofocus } else { refocus };
        let focused = focus(
            &mut self.scope,
            &mut capture,
            self.sweep,
            self.thresholds,
            self.um_per_px,
        )
        .map_err(|e| stage(&e))?;
        self.focusing_frames += focused.frames;
        Ok(())
    }
}

impl<S: Scope, C: FrameSource> FrameSource for StageScan<S, C> {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let Some(&at) = self.plan.get(self.next) else {
            return Ok(None);
        };
        self.go_to_field(at)?;
        let Some(mut frame) = self.camera.next_frame()? else {
            return Ok(None);
        };
        frame.index = self.next as u64;
        frame.stage_um = Some(self.stage_um);
        frame.origin = format!(
            "field {} of {} at stage ({}, {}) nm",
            self.next + 1,
            self.plan.len(),
            at.0,
            at.1
        );
        self.next += 1;
        Ok(Some(frame))
    }

    fn describe(&self) -> String {
        format!(
            "a motorized scan of {} fields ({})",
            self.plan.len(),
            self.camera.describe()
        )
    }
}

#[cfg(test)]
mod tests;
