//! `[scope]`: the scope controller that moves the stage, the focus and the lamp
//! (`boards/scope-controller`, docs/scope-protocol.md). Without it the technician moves the
//! slide by hand and the board only watches; with it `run` scans each slide along a
//! serpentine over the smear's monolayer, focusing as it goes.

use std::path::PathBuf;

use serde::Deserialize;

use crate::scan::stage_plan::{PlanError, StageArea, serpentine};

/// How to reach the controller and what to scan with it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeSettings {
    /// The controller's serial port; the udev rule in docs/boards.md names it
    /// `/dev/leukoscope-scope` whichever USB port it is in.
    pub device: PathBuf,
    /// Line speed, as the firmware's (default 115,200 baud).
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// The part of the slide to scan, micrometres from home: `[x0, y0, x1, y1]`, the
    /// smear's monolayer on this stage's slide holder.
    pub area_um: [f32; 4],
    /// The focus height at which a slide on this stage is about sharp, micrometres from the
    /// focus switch: the first field's focus is searched for ±40 µm around it.
    pub focus_from_um: f32,
    /// How much of a field consecutive fields share, 0 to 0.9 (default 0.2): the tracker
    /// registers each frame on the one before, and needs common cells to do it.
    #[serde(default = "default_overlap")]
    pub overlap: f32,
    /// The lamp while scanning, 0 to 1 (default 0.8).
    #[serde(default = "default_lamp")]
    pub lamp: f32,
}

fn default_baud() -> u32 {
    115_200
}

fn default_overlap() -> f32 {
    0.2
}

fn default_lamp() -> f32 {
    0.8
}

/// Micrometres as whole nanometres, saturating far beyond any stage.
fn nm(um: f32) -> i32 {
    (f64::from(um) * 1_000.0).round() as i32
}

impl ScopeSettings {
    /// The stage positions of the fields, in serpentine order, for frames of `frame` pixels
    /// at `um_per_px`.
    pub fn plan(&self, frame: (u32, u32), um_per_px: f32) -> Result<Vec<(i32, i32)>, PlanError> {
        let [x0, y0, x1, y1] = self.area_um.map(nm);
        let field = |px: u32| (f64::from(px) * f64::from(um_per_px) * 1_000.0).round() as i64;
        serpentine(
            StageArea {
                x0_nm: x0,
                y0_nm: y0,
                x1_nm: x1,
                y1_nm: y1,
            },
            (field(frame.0), field(frame.1)),
            self.overlap,
        )
    }

    /// The nominal focus height, nanometres.
    pub fn focus_from_nm(&self) -> i32 {
        nm(self.focus_from_um)
    }

    /// The lamp, in the protocol's thousandths.
    pub fn lamp_permille(&self) -> u16 {
        (self.lamp.clamp(0.0, 1.0) * 1_000.0).round() as u16
    }
}
