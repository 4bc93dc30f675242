//! One slide, frame by frame: is the frame fit to read, where are its white cells, which of
//! them are new, what is each, and what does the slide add up to.
//!
//! - [`blocks`]: the frame shrunk once, and its glass level, for the three stages that
//!   read it coarsely (the gate, the detector, the tracker).
//! - [`quality`]: the quality gate: focus, exposure and empty fields, with advice when most
//!   frames fail.
//! - [`autofocus`]: finding and keeping focus with the scope controller's Z axis, by the
//!   gate's focus measure.
//! - [`scale`]: the frames' micrometres per pixel, measured from the slide's red cells.
//! - [`detect`]: finding white cells by their nuclei (stain unmixing, Otsu, morphology,
//!   splitting).
//! - [`stage_plan`]: the fields a motorized scan visits, a serpentine of overlapping
//!   fields over the smear's monolayer.
//! - [`stage_scan`]: a slide scanned by the scope controller, field by field along the
//!   plan, focused at each: a frame source like a camera.
//! - [`stain`]: the slide's own stain colours (Macenko's method), read ahead of
//!   the scan and given to the detector.
//! - [`track`]: registering consecutive frames and counting each cell once across them.
//! - [`classify`]: the model's window around each found cell, batched through the int8
//!   engine.
//! - [`session`]: one slide's counts, malignant share with its interval, stop rule and
//!   referral flag.
//! - [`pipeline`]: the stages strung together, every cell journalled before it counts;
//!   resumed after a crash.

pub mod autofocus;
pub mod blocks;
pub mod classify;
pub mod detect;
mod mask;
pub mod pipeline;
pub mod quality;
pub mod scale;
pub mod session;
pub mod stage_plan;
pub mod stage_scan;
pub mod stain;
pub mod track;
