//! leukoscope-edge: the program on the microscope's board.
//!
//! - [`bench`](mod@bench): inference latency and throughput beside ONNX Runtime.
//! - [`board_io`]: status LED, buzzer, illumination and start/stop button over embedded-hal.
//! - [`cell_images`]: the picture of every counted cell as the model saw it, for review and retraining.
//! - [`classify`]: classifying found cells: the model's window around each, batched through the int8 engine.
//! - [`detect`]: finding white cells by their nuclei (stain unmixing, Otsu, morphology, splitting).
//! - [`frame`]: decoding captured or replayed frames into the core's pixel buffers.
//! - [`journal`]: the append-only, crash-safe record of every classified cell.
//! - [`model`]: loading and verifying the `.lsm` model a board runs.
//! - [`pipeline`]: one slide frame by frame: gate, find, track, classify, journal, count; resumed after a crash.
//! - [`quality`]: the quality gate: focus, exposure and empty fields, with advice when most frames fail.
//! - [`review`]: the reviewer's verdicts on cells and sign-off, in a review journal, and the counts they give.
//! - [`report`]: the slide's report: JSON, a self-contained HTML page and annotated frame snapshots.
//! - [`session`]: one slide's counts, malignant share with its interval, stop rule and referral flag.
//! - [`settings`]: the board's settings (`board.toml`): camera, model and trusted keys, storage, thresholds, pins.
//! - [`source`]: where frames come from (V4L2 camera, replayed folder, synthetic slide), riding out a lost camera.
//! - [`ui`]: the technician's web UI served by the board: live view, review and sign-off.
//! - [`track`]: registering consecutive frames and counting each cell once across them.

pub mod bench;
pub mod board_io;
pub mod cell_images;
pub mod classify;
pub mod detect;
pub mod frame;
pub mod journal;
pub mod model;
pub mod pipeline;
pub mod quality;
pub mod report;
pub mod review;
pub mod session;
pub mod settings;
pub mod source;
pub mod track;
pub mod ui;
