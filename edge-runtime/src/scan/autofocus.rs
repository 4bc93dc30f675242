//! Finding focus with the scope controller's Z axis: a coarse sweep over the focus range
//! for the height where the quality gate's focus measure peaks, then a fine sweep around
//! it; and following focus across the slide with the fine sweep alone, since a slide's
//! tilt and the stage's wobble move focus by micrometres from field to field, not by the
//! whole range.
//!
//! The measure is the gate's own ([`crate::scan::quality`]): fine detail against coarse
//! at a fixed scale in micrometres, so it peaks at the sharpest height whatever the stain
//! or the lamp, and "in focus" means what the gate will accept.

use leukoscope_core::raster::RgbImage;

use crate::io::scope::{Scope, ScopeError};
use crate::scan::quality::{QualityGate, QualityThresholds};

/// How the focus is searched for, in nanometres of Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FocusSweep {
    /// The coarse sweep covers this far either side of where it starts (default 40 µm:
    /// a slide laid on the stage by hand lands within it).
    pub reach_nm: i32,
    /// Between heights of the coarse sweep (default 4 µm, under a 40x objective's depth of
    /// field of about 1 µm times the few steps its peak spans).
    pub coarse_step_nm: i32,
    /// Between heights of the fine sweep, which covers one coarse step either side of the
    /// best coarse height (default 0.5 µm).
    pub fine_step_nm: i32,
}

impl Default for FocusSweep {
    fn default() -> Self {
        FocusSweep {
            reach_nm: 40_000,
            coarse_step_nm: 4_000,
            fine_step_nm: 500,
        }
    }
}

/// Where focus was found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Focused {
    /// The height, where the Z axis was left.
    pub z_nm: i32,
    /// The focus measure there.
    pub focus: f32,
    /// Frames taken to find it.
    pub frames: u32,
}

/// Why focus was not found.
#[derive(Debug, thiserror::Error)]
pub enum AutofocusError {
    /// The controller failed or refused.
    #[error(transparent)]
    Scope(#[from] ScopeError),
    /// The camera gave no frame.
    #[error("no frame from the camera while focusing: {0}")]
    Camera(String),
    /// Nothing in the range was sharp enough for the quality gate: no slide, an empty
    /// field, or focus farther than the sweep reaches.
    #[error(
        "nothing came into focus between {from_nm} and {to_nm} nm (best focus measure {best:.3}, the gate needs {needed:.3}): is a slide on the stage, with cells in the field?"
    )]
    NothingInFocus {
        /// The lowest height swept.
        from_nm: i32,
        /// The highest height swept.
        to_nm: i32,
        /// The best measure found.
        best: f32,
        /// The gate's floor, `min_focus`.
        needed: f32,
    },
    /// The sweep's settings cannot sweep.
    #[error("focus sweep steps must be positive and the reach at least a coarse step")]
    Settings,
}

/// Focuses on the current field: a coarse sweep of `sweep.reach_nm` either side of the
/// current height, then a fine one around the best; the Z axis is left at the sharpest
/// height. `capture` gives a frame at the current height; frames are `um_per_px` and
/// judged as the gate under `thresholds` judges them.
pub fn autofocus(
    scope: &mut dyn Scope,
    capture: &mut dyn FnMut() -> Result<RgbImage, String>,
    sweep: FocusSweep,
    thresholds: QualityThresholds,
    um_per_px: f32,
) -> Result<Focused, AutofocusError> {
    if sweep.coarse_step_nm <= 0 || sweep.fine_step_nm <= 0 || sweep.reach_nm < sweep.coarse_step_nm
    {
        return Err(AutofocusError::Settings);
    }
    let start = scope.position()?.z_nm;
    let mut measure = Measure::new(thresholds, um_per_px);
    let coarse = measure.sweep(scope, capture, start, sweep.reach_nm, sweep.coarse_step_nm)?;
    let fine = measure.sweep(
        scope,
        capture,
        coarse.z_nm,
        sweep.coarse_step_nm,
        sweep.fine_step_nm,
    )?;
    let best = if fine.focus >= coarse.focus {
        fine
    } else {
        coarse
    };
    finish(scope, best, measure, thresholds, start, sweep.reach_nm)
}

/// Keeps focus after the stage moved to the next field: the fine sweep alone, one coarse
/// step either side of the current height.
pub fn refocus(
    scope: &mut dyn Scope,
    capture: &mut dyn FnMut() -> Result<RgbImage, String>,
    sweep: FocusSweep,
    thresholds: QualityThresholds,
    um_per_px: f32,
) -> Result<Focused, AutofocusError> {
    if sweep.coarse_step_nm <= 0 || sweep.fine_step_nm <= 0 {
        return Err(AutofocusError::Settings);
    }
    let start = scope.position()?.z_nm;
    let mut measure = Measure::new(thresholds, um_per_px);
    let best = measure.sweep(
        scope,
        capture,
        start,
        sweep.coarse_step_nm,
        sweep.fine_step_nm,
    )?;
    finish(
        scope,
        best,
        measure,
        thresholds,
        start,
        sweep.coarse_step_nm,
    )
}

/// Leaves Z at `best`, or says nothing was in focus.
fn finish(
    scope: &mut dyn Scope,
    best: Focused,
    measure: Measure,
    thresholds: QualityThresholds,
    start: i32,
    reach: i32,
) -> Result<Focused, AutofocusError> {
    if best.focus < thresholds.min_focus {
        return Err(AutofocusError::NothingInFocus {
            from_nm: start.saturating_sub(reach),
            to_nm: start.saturating_add(reach),
            best: best.focus,
            needed: thresholds.min_focus,
        });
    }
    scope.focus_to(best.z_nm)?;
    Ok(Focused {
        frames: measure.frames,
        ..best
    })
}

/// The gate's focus measure, and the frames it has taken.
struct Measure {
    gate: QualityGate,
    frames: u32,
}

impl Measure {
    fn new(thresholds: QualityThresholds, um_per_px: f32) -> Self {
        Measure {
            gate: QualityGate::new(thresholds, um_per_px),
            frames: 0,
        }
    }

    /// Visits every height from `reach` below `centre` to `reach` above it by `step`,
    /// bottom up (one direction, so the Z axis' backlash is the same at every height), and
    /// returns the sharpest; the lowest of equal heights.
    fn sweep(
        &mut self,
        scope: &mut dyn Scope,
        capture: &mut dyn FnMut() -> Result<RgbImage, String>,
        centre: i32,
        reach: i32,
        step: i32,
    ) -> Result<Focused, AutofocusError> {
        let (from, to) = (centre.saturating_sub(reach), centre.saturating_add(reach));
        let mut best: Option<Focused> = None;
        let mut z = from;
        loop {
            let at = scope.focus_to(z)?.z_nm;
            let frame = capture().map_err(AutofocusError::Camera)?;
            self.frames += 1;
            // A throwaway judgement: only the measure is read.
            let focus = self.gate.assess(&frame).focus;
            if best.is_none_or(|b| focus > b.focus) {
                best = Some(Focused {
                    z_nm: at,
                    focus,
                    frames: 0,
                });
            }
            if z >= to {
                break;
            }
            z = z.saturating_add(step).min(to);
        }
        // The loop visits `from` at least once.
        Ok(best.unwrap_or(Focused {
            z_nm: from,
            focus: 0.0,
            frames: 0,
        }))
    }
}

#[cfg(test)]
mod tests;
