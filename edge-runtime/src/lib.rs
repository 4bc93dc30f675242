//! leukoscope-edge: the program on the microscope's board.
//!
//! The crate is grouped by stage, each group importing only from those listed before it
//! (and `records` from none):
//!
//! - [`records`]: every persisted type, the append-only slide and review journals, the cell
//!   pictures and the data folder's layout: what a slide leaves on disk.
//! - [`io`]: the board's side of the world: frames (V4L2 camera, replayed folder,
//!   synthetic slide), `board.toml`, the status LED, buzzer, lamp and button, the model file.
//! - [`scan`]: one slide frame by frame: quality gate, finding white cells, counting each
//!   once, classifying, the slide session and the pipeline that strings them.
//! - [`report`]: the slide's report: JSON, a self-contained HTML page, annotated frames, the
//!   counts after a review.
//! - [`ui`]: the technician's web UI served by the board: live view, review and sign-off.
//! - [`bench`](mod@bench): detection and pipeline speed, and inference beside ONNX Runtime.

pub mod bench;
pub mod io;
pub mod records;
pub mod report;
pub mod scan;
pub mod ui;
