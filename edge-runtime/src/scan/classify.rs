//! Classifying the white cells a frame shows: the picture the model was trained on is cut
//! around each cell, preprocessed by the core's one routine and run, a batch at a time,
//! through the core's engine (int8 for the shipped models) on the CPU's threads.
//!
//! The model says what it looks at ([`InputSpec`]): a `Field` model was trained on square
//! fields at `um_per_px`, so each cell gets the window of the model's input size at the
//! model's scale, centred on its nucleus; a `Cell` model was trained on crops centred on
//! one cell, which are the same windows. Either way the window covers
//! `input size x model um/px` micrometres, converted to frame pixels with the camera's
//! scale, and the core's preprocessing resizes it to the input. Parts of a window beyond
//! the frame's edge repeat the edge pixels rather than show black, which the model never
//! saw in training.
//!
//! A model with a familiarity profile also gets each cell's distance to the cells it
//! learnt from, measured on the features the CPU engine leaves after a run. The GPU
//! runner does not expose them, so on the GPU the guard does not run (a warning says so
//! once) and every cell's distance is unknown.

use leukoscope_core::artifact::{Calibration, ModelArtifact};
use leukoscope_core::engine::{Engine, EngineError, Precision, Workspace};
use leukoscope_core::familiarity::{FamiliarityError, FamiliarityProfile};
use leukoscope_core::preprocess::{Preprocess, PreprocessError, Scratch};
use leukoscope_core::raster::RgbImage;
use leukoscope_core::spec::InputSpec;

use crate::scan::detect::DetectedCell;

/// Why a model cannot classify cells on this board.
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    /// The engine could not compile the model.
    #[error("the model cannot run on this board's engine")]
    Engine(#[from] EngineError),
    /// The model's preprocessing settings are invalid.
    #[error("the model's preprocessing is invalid")]
    Preprocess(#[from] PreprocessError),
    /// The model's familiarity profile does not fit its network.
    #[error("the model's familiarity profile does not fit it; use the .lsm the trainer wrote")]
    Familiarity(#[from] FamiliarityError),
    /// The frame scale is not a positive number.
    #[error("the frame scale {0} um/px is not a positive number; set camera.um_per_px")]
    FrameScale(f32),
    /// The board asks for the GPU, which this build cannot use.
    #[error(
        "model.device is \"cuda\" but this build has no GPU support; rebuild with --features cuda or set model.device = \"cpu\""
    )]
    NoGpuSupport,
    /// The GPU runs float weights, which an int8-only artifact does not carry.
    #[error(
        "the GPU path runs the float model, and this artifact carries int8 weights only; give the float .lsm or set model.device = \"cpu\""
    )]
    GpuNeedsFloat,
    /// The float weights could not be loaded into the GPU network.
    #[error("cannot load the model onto the GPU")]
    GpuLoad(#[source] leukoscope_core::artifact::ArtifactError),
    /// The window a cell needs is far larger than any frame (a wrong scale).
    #[error(
        "a cell window would be {side} frame pixels across (model {model_um_per_px} um/px at {input} px, frames {frame_um_per_px} um/px); check camera.um_per_px"
    )]
    WindowTooLarge {
        /// Window side in frame pixels.
        side: u32,
        /// The model's scale.
        model_um_per_px: f32,
        /// The model's input side.
        input: u32,
        /// The frames' scale.
        frame_um_per_px: f32,
    },
}

/// Windows run in one call unless [`CellClassifier::with_batch`] says otherwise.
pub const DEFAULT_BATCH: usize = 16;

/// Most frame pixels a window may span: twice a 4K frame's width.
const MAX_WINDOW: u32 = 8192;

/// Where the network runs.
enum Runner {
    /// The core's engine on the CPU's threads, one workspace each.
    Cpu {
        engine: Engine,
        workspaces: Vec<Workspace>,
    },
    /// burn on the board's NVIDIA GPU, in f32.
    #[cfg(feature = "cuda")]
    Gpu(gpu::GpuRunner),
}

/// What the model made of one cell.
#[derive(Clone, Debug, PartialEq)]
pub struct CellScores {
    /// Class probabilities: softmax at the model's calibrated temperature, taxonomy order.
    pub probabilities: Vec<f32>,
    /// Distance of the cell's features to the nearest class of the training cells
    /// ([`FamiliarityProfile::distance`]); `None` when the model has no profile or runs on
    /// the GPU.
    pub distance: Option<f32>,
}

/// Classifies cells of frames with one model.
pub struct CellClassifier {
    runner: Runner,
    /// The model's profile, when the runner gives the features it measures.
    familiarity: Option<FamiliarityProfile>,
    /// Features of the cells of the last call, `features` scalars per cell.
    features: Vec<f32>,
    input_len: usize,
    classes: usize,
    preprocess: Preprocess,
    input: InputSpec,
    calibration: Calibration,
    window: u32,
    /// Most windows run in one call (the board's `model.batch`).
    max_batch: usize,
    scratch: Scratch,
    inputs: Vec<f32>,
    logits: Vec<f32>,
    /// A window that reaches past the frame, with the edges repeated.
    crop: RgbImage,
}

impl CellClassifier {
    /// A classifier for `model` on frames of `frame_um_per_px`, spreading each batch over
    /// `threads` threads (at least one). Uses the int8 engine for int8 models, else the
    /// f32 engine.
    pub fn new(
        model: &ModelArtifact,
        frame_um_per_px: f32,
        threads: usize,
    ) -> Result<Self, ClassifyError> {
        Self::on(model, frame_um_per_px, threads, false)
    }

    /// As [`new`](Self::new), on the GPU when `gpu` (feature `cuda`; float models only).
    pub fn on(
        model: &ModelArtifact,
        frame_um_per_px: f32,
        threads: usize,
        gpu: bool,
    ) -> Result<Self, ClassifyError> {
        if !(frame_um_per_px.is_finite() && frame_um_per_px > 0.0) {
            return Err(ClassifyError::FrameScale(frame_um_per_px));
        }
        model.preprocess.validate()?;
        let input = model.spec.input;
        let classes = model.taxonomy.len();
        let input_len = input.channels as usize * input.height as usize * input.width as usize;
        let (runner, familiarity) = if gpu {
            #[cfg(feature = "cuda")]
            {
                if model.familiarity.is_some() {
                    gpu::warn_unmeasured();
                }
                (Runner::Gpu(gpu::GpuRunner::new(model)?), None)
            }
            #[cfg(not(feature = "cuda"))]
            return Err(ClassifyError::NoGpuSupport);
        } else {
            let engine = Engine::new(model)?;
            // Checked here as well as when the artifact is decoded: a profile that does not
            // fit would make `distance` panic mid-slide, and a model built in code skips
            // the decoder.
            if let Some(profile) = &model.familiarity {
                profile.validate(engine.features_len())?;
            }
            let workspaces = (0..threads.max(1)).map(|_| engine.workspace()).collect();
            (
                Runner::Cpu { engine, workspaces },
                model.familiarity.clone(),
            )
        };
        let span = f64::from(input.width) * f64::from(input.um_per_px) / f64::from(frame_um_per_px);
        let window = span.round().max(1.0);
        if window > f64::from(MAX_WINDOW) {
            return Err(ClassifyError::WindowTooLarge {
                side: window.min(f64::from(u32::MAX)) as u32,
                model_um_per_px: input.um_per_px,
                input: input.width,
                frame_um_per_px,
            });
        }
        Ok(CellClassifier {
            runner,
            familiarity,
            features: Vec::new(),
            input_len,
            classes,
            preprocess: model.preprocess.clone(),
            input,
            calibration: model.calibration,
            window: window as u32,
            max_batch: DEFAULT_BATCH,
            scratch: Scratch::new(),
            inputs: Vec::new(),
            logits: Vec::new(),
            crop: RgbImage::filled(window as u32, window as u32, [0; 3]),
        })
    }

    /// Runs at most `batch` windows in one call (at least one): bounds the memory of a
    /// crowded frame, and sets the GPU's batch.
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.max_batch = batch.max(1);
        self
    }

    /// Side, in frame pixels, of the square window cut around each cell.
    pub fn window_side(&self) -> u32 {
        self.window
    }

    /// What the model looks at.
    pub fn input(&self) -> InputSpec {
        self.input
    }

    /// The familiarity profile the cells' distances are measured against: the model's, or
    /// `None` when it has none or runs where its features cannot be read (the GPU).
    pub fn familiarity(&self) -> Option<&FamiliarityProfile> {
        self.familiarity.as_ref()
    }

    /// What runs the network, in words: `int8`, `f32` or `f32 on the GPU`.
    pub fn runs_on(&self) -> &'static str {
        match &self.runner {
            Runner::Cpu { engine, .. } => match engine.precision() {
                Precision::Int8 => "int8",
                Precision::F32 => "f32",
            },
            #[cfg(feature = "cuda")]
            Runner::Gpu(_) => "f32 on the GPU",
        }
    }

    /// The window of `cell` in frame coordinates, `[x, y, side, side]`; it may reach past the
    /// frame's edges (x and y may be negative).
    pub fn window_of(&self, cell: &DetectedCell) -> [i64; 4] {
        window_around(cell, self.window)
    }

    /// The window around `cell` as a picture, edges repeated where it leaves the frame.
    pub fn cut_window(&self, frame: &RgbImage, cell: &DetectedCell) -> RgbImage {
        cut_window(frame, cell, self.window)
    }

    /// What the model makes of each of `cells` in `frame`: class probabilities and, with
    /// a familiarity profile on the CPU, the distance to the training cells. Frames without
    /// pixels give nothing.
    pub fn classify(
        &mut self,
        frame: &RgbImage,
        cells: &[DetectedCell],
    ) -> Result<Vec<CellScores>, ClassifyError> {
        if cells.is_empty() || frame.width() == 0 || frame.height() == 0 {
            return Ok(Vec::new());
        }
        let (per_image, classes) = (self.input_len, self.classes);
        let width = self.familiarity.as_ref().map_or(0, |p| p.features as usize);
        self.logits.resize(cells.len() * classes, 0.0);
        self.features.resize(cells.len() * width, 0.0);
        for (first, batch) in (0..)
            .step_by(self.max_batch)
            .zip(cells.chunks(self.max_batch))
        {
            let images = first..first + batch.len();
            let logits = &mut self.logits[images.start * classes..images.end * classes];
            let features = &mut self.features[images.start * width..images.end * width];
            self.inputs.resize(batch.len() * per_image, 0.0);
            for (cell, input) in batch.iter().zip(self.inputs.chunks_exact_mut(per_image)) {
                let [x, y, side, _] = window_around(cell, self.window);
                let inside = x >= 0
                    && y >= 0
                    && x + side <= i64::from(frame.width())
                    && y + side <= i64::from(frame.height());
                let view = if inside {
                    frame
                        .view()
                        .window(x as u32, y as u32, self.window, self.window)
                } else {
                    cut(frame, [x, y, side, side], self.crop.as_raw_mut());
                    self.crop.view()
                };
                self.preprocess
                    .run_with_scratch(view, input, &mut self.scratch)?;
            }
            match &mut self.runner {
                Runner::Cpu { engine, workspaces } => {
                    let threads = workspaces.len().min(batch.len());
                    let workspaces = &mut workspaces[..threads];
                    if width > 0 {
                        engine.run_batch_with_features(workspaces, &self.inputs, logits, features);
                    } else {
                        engine.run_batch(workspaces, &self.inputs, logits);
                    }
                }
                #[cfg(feature = "cuda")]
                Runner::Gpu(gpu) => gpu.run(&self.inputs, batch.len(), logits),
            }
        }
        let distances: Vec<Option<f32>> = match &self.familiarity {
            Some(profile) => self
                .features
                .chunks_exact(width)
                .map(|features| Some(profile.distance(features)))
                .collect(),
            None => vec![None; cells.len()],
        };
        Ok(self
            .logits
            .chunks_exact(classes)
            .zip(distances)
            .map(|(logits, distance)| CellScores {
                probabilities: self.calibration.probabilities(logits),
                distance,
            })
            .collect())
    }
}

#[cfg(feature = "cuda")]
mod gpu {
    //! The network in burn on an NVIDIA GPU (CUDA), for boards whose GPU outruns their
    //! CPU cores: the float weights, a batch of windows per call.

    use burn::backend::Cuda;
    use burn::backend::cuda::CudaDevice;
    use burn::tensor::{Tensor, TensorData};
    use leukoscope_core::artifact::ModelArtifact;
    use leukoscope_core::network::Network;

    use super::ClassifyError;

    /// Says once per process that a model's familiarity profile goes unused: the network in
    /// burn does not hand back the features it measures, so on the GPU unfamiliar cells are
    /// counted as any other (each slide's report says the guard did not run).
    pub fn warn_unmeasured() {
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| {
            eprintln!(
                "leukoscope-edge: warning: the model's familiarity profile is not used on the GPU, so cells unlike the training cells are not set apart; set model.device = \"cpu\" to use it"
            );
        });
    }

    pub struct GpuRunner {
        network: Network<Cuda>,
        device: CudaDevice,
        shape: [usize; 3],
    }

    impl GpuRunner {
        pub fn new(model: &ModelArtifact) -> Result<Self, ClassifyError> {
            if model.weights.tensors.is_empty() {
                return Err(ClassifyError::GpuNeedsFloat);
            }
            let device = CudaDevice::default();
            let network = Network::from_weights(&model.spec, &model.weights, &device)
                .map_err(ClassifyError::GpuLoad)?;
            let i = model.spec.input;
            Ok(GpuRunner {
                network,
                device,
                shape: [i.channels as usize, i.height as usize, i.width as usize],
            })
        }

        pub fn run(&self, inputs: &[f32], images: usize, logits: &mut [f32]) {
            let [c, h, w] = self.shape;
            let x = Tensor::<Cuda, 4>::from_data(
                TensorData::new(inputs.to_vec(), [images, c, h, w]),
                &self.device,
            );
            let out = self.network.forward(x).into_data();
            let values = out.as_slice::<f32>().expect("the network's logits are f32");
            logits.copy_from_slice(values);
        }
    }
}

/// The square of `side` frame pixels centred on `cell`'s nucleus as a picture, edges
/// repeated where it leaves the frame (as the classifier sees it); a frame without pixels
/// gives a black one.
pub fn cut_window(frame: &RgbImage, cell: &DetectedCell, side: u32) -> RgbImage {
    let mut crop = RgbImage::filled(side, side, [0; 3]);
    if frame.width() > 0 && frame.height() > 0 {
        cut(frame, window_around(cell, side), crop.as_raw_mut());
    }
    crop
}

/// The square of `side` frame pixels centred on `cell`'s nucleus, `[x, y, side, side]`.
fn window_around(cell: &DetectedCell, side: u32) -> [i64; 4] {
    let half = f64::from(side) / 2.0;
    let x = (f64::from(cell.centre.0) - half).round() as i64;
    let y = (f64::from(cell.centre.1) - half).round() as i64;
    [x, y, i64::from(side), i64::from(side)]
}

/// Copies the square `[x, y, side, side]` of a non-empty `frame` into `out` (`side` rows of
/// `side` RGB pixels), repeating the frame's edge pixels outside it.
fn cut(frame: &RgbImage, [x, y, side, _]: [i64; 4], out: &mut [u8]) {
    let (w, h) = (i64::from(frame.width()), i64::from(frame.height()));
    let raw = frame.as_raw();
    let row_bytes = side as usize * 3;
    for (row, dst) in (y..y + side).zip(out.chunks_exact_mut(row_bytes)) {
        let line = row.clamp(0, h - 1) as usize * w as usize * 3;
        for (column, px) in (x..x + side).zip(dst.chunks_exact_mut(3)) {
            let at = line + column.clamp(0, w - 1) as usize * 3;
            px.copy_from_slice(&raw[at..at + 3]);
        }
    }
}

#[cfg(test)]
mod tests;
