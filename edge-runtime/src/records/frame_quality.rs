//! What the quality gate measured on a frame and what it decided, as the journal records it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a frame was not classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// Too little fine detail: the focus is off.
    OutOfFocus,
    /// Too much of the frame is clipped white.
    Overexposed,
    /// The frame is too dark.
    Underexposed,
    /// Bare glass: nothing stained to classify.
    Empty,
}

impl RejectReason {
    /// Every reason, in the order the gate tests them.
    pub const ALL: [RejectReason; 4] = [
        RejectReason::Underexposed,
        RejectReason::Overexposed,
        RejectReason::Empty,
        RejectReason::OutOfFocus,
    ];

    /// The operator's fix when most frames fail for this reason.
    pub fn remedy(self) -> &'static str {
        match self {
            RejectReason::OutOfFocus => "most frames are out of focus: re-focus the microscope",
            RejectReason::Overexposed => {
                "most frames are overexposed: lower the lamp or the camera's exposure"
            }
            RejectReason::Underexposed => {
                "most frames are too dark: raise the lamp or the camera's exposure"
            }
            RejectReason::Empty => {
                "most frames show no stained cells: move to the smear's monolayer, or re-stain the slide"
            }
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RejectReason::OutOfFocus => "out of focus",
            RejectReason::Overexposed => "overexposed",
            RejectReason::Underexposed => "underexposed",
            RejectReason::Empty => "empty",
        })
    }
}

/// The gate's decision on one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Fit to classify.
    Accepted,
    /// Not classified, for this reason.
    Rejected(RejectReason),
}

/// What the gate measured on one frame, and its verdict.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameQuality {
    /// Variance of the Laplacian of the shrunk grey frame (higher is sharper).
    pub focus: f32,
    /// Share of pixels clipped in every channel, 0 to 1.
    pub clipped_fraction: f32,
    /// Mean grey level, 0 to 255.
    pub brightness: f32,
    /// Share of the frame that looks like stained cells rather than glass, 0 to 1.
    pub stained_fraction: f32,
    /// The decision.
    pub verdict: Verdict,
}
