//! Cell-detection benchmark: our [`CellDetector`] beside the same steps in OpenCV
//! (`bench/opencv_detect_peer.py`), on the same frames, in the same run.
//!
//! The frames go to the peer as PNG files in a fresh temporary folder; both sides decode
//! before timing, warm up with one untimed pass, then time every frame of `iterations`
//! passes on one thread. The cell counts of both are reported frame by frame: they should
//! be close, which shows the two do the same job (it is not a test of accuracy; the
//! detector's own tests score it against the synthetic slide's truth).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use image::ImageEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use leukoscope_core::raster::RgbImage;
use serde::{Deserialize, Serialize};

use crate::scan::detect::{CellDetector, DetectError, DetectorConfig};

/// The peer's exit status when OpenCV or numpy cannot be imported.
const PEER_MISSING_EXIT: i32 = 3;
/// The exit status of a child whose program could not be executed, where the spawn itself
/// cannot report it: under qemu-user, `posix_spawn`'s vfork is emulated as a fork, so a
/// missing Python shows up as a started child that exits 127, not as a spawn error.
const EXEC_FAILED_EXIT: i32 = 127;
/// Threads the peer may use: our detector runs on one.
const PEER_THREADS: usize = 1;

/// What the OpenCV peer measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerDetection {
    /// `cv2.__version__`.
    pub opencv: String,
    /// Threads OpenCV was allowed (`cv2.setNumThreads`).
    pub threads: usize,
    /// Median time of one frame, milliseconds.
    pub p50_ms: f64,
    /// 99th-percentile time of one frame, milliseconds.
    pub p99_ms: f64,
    /// Nuclei kept in each frame.
    pub cells: Vec<usize>,
}

/// Our detector and OpenCV's on the same frames.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DetectionBench {
    /// Frames measured (each timed `iterations` times).
    pub frames: usize,
    /// Our median time of one frame, milliseconds.
    pub ours_p50_ms: f64,
    /// Our 99th-percentile time of one frame, milliseconds.
    pub ours_p99_ms: f64,
    /// Cells we found in each frame.
    pub ours_cells: Vec<usize>,
    /// The OpenCV peer's figures, when it could run.
    pub peer: Option<PeerDetection>,
    /// Why the peer did not run (no Python, no OpenCV), when it did not.
    pub peer_missing: Option<String>,
}

impl DetectionBench {
    /// Our median over OpenCV's: below 1, we are faster.
    pub fn ratio(&self) -> Option<f64> {
        self.peer.as_ref().map(|p| self.ours_p50_ms / p.p50_ms)
    }

    /// Mean over frames of |our count - OpenCV's count|.
    pub fn cells_mean_abs_diff(&self) -> Option<f64> {
        let peer = self.peer.as_ref()?;
        let diffs: Vec<usize> = self
            .ours_cells
            .iter()
            .zip(&peer.cells)
            .map(|(a, b)| a.abs_diff(*b))
            .collect();
        if diffs.is_empty() {
            return None;
        }
        Some(diffs.iter().sum::<usize>() as f64 / diffs.len() as f64)
    }

    /// A plain-text table of the figures, for the `bench` command to print.
    pub fn table(&self) -> String {
        let mean = |cells: &[usize]| cells.iter().sum::<usize>() as f64 / cells.len().max(1) as f64;
        let mut out = format!(
            "cell detection, {} frames, 1 thread\n{:<22} {:>9} {:>9} {:>12}\n{:<22} {:>9.2} {:>9.2} {:>12.2}\n",
            self.frames,
            "detector",
            "p50 ms",
            "p99 ms",
            "cells/frame",
            "leukoscope",
            self.ours_p50_ms,
            self.ours_p99_ms,
            mean(&self.ours_cells),
        );
        match (&self.peer, &self.peer_missing) {
            (Some(peer), _) => {
                out += &format!(
                    "{:<22} {:>9.2} {:>9.2} {:>12.2}\n",
                    format!("opencv {} ({}t)", peer.opencv, peer.threads),
                    peer.p50_ms,
                    peer.p99_ms,
                    mean(&peer.cells),
                );
                if let Some(ratio) = self.ratio() {
                    out += &format!("p50 ours / opencv: {ratio:.2}x\n");
                }
                if let Some(diff) = self.cells_mean_abs_diff() {
                    out += &format!("cells per frame, mean |ours - opencv|: {diff:.2}\n");
                }
            }
            (None, Some(why)) => out += &format!("opencv: not measured ({why})\n"),
            (None, None) => {}
        }
        out
    }
}

/// Why the detection benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum DetectionBenchError {
    /// No frames were given.
    #[error("no frames to benchmark cell detection on")]
    NoFrames,
    /// Zero timed passes were asked for.
    #[error("the detection benchmark needs at least one timed pass over the frames")]
    NoIterations,
    /// The detector settings were refused.
    #[error(transparent)]
    Config(#[from] DetectError),
    /// The temporary frame folder could not be made.
    #[error("cannot make a folder for the benchmark frames at {}", path.display())]
    FrameDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A frame could not be written as PNG.
    #[error("cannot write benchmark frame {}", path.display())]
    WriteFrame {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: image::ImageError,
    },
    /// The peer ran but failed (a bug in it, or a bad script path): not the same as a
    /// missing OpenCV, which only leaves the peer out.
    #[error("the OpenCV detection peer failed ({status}): {message}")]
    PeerFailed {
        /// Its exit status.
        status: String,
        /// The last line it wrote to stderr.
        message: String,
    },
    /// The peer's output is not the JSON line it should print.
    #[error("unreadable output from the OpenCV detection peer: {reason}")]
    PeerOutput {
        /// What is wrong with it.
        reason: String,
    },
}

/// The settings the peer gets, in mask pixels where the detector works in micrometres, so
/// both use the same numbers rather than each converting on its own.
#[derive(Debug, Serialize)]
struct PeerSettings {
    shrink_factor: u32,
    nucleus_stain: [f32; 3],
    counterstain: [f32; 3],
    min_nuclear_density: f32,
    stained_density: f32,
    glass_percentile: f32,
    min_area_px: f64,
    max_area_px: f64,
    min_solidity: f32,
    split_depth_px: f64,
}

impl PeerSettings {
    fn new(config: &DetectorConfig, shrink_factor: u32) -> Self {
        let block_um = f64::from(shrink_factor) * f64::from(config.um_per_px);
        let um2_per_block = block_um * block_um;
        PeerSettings {
            shrink_factor,
            nucleus_stain: config.nucleus_stain,
            counterstain: config.counterstain,
            min_nuclear_density: config.min_nuclear_density,
            stained_density: config.stained_density,
            glass_percentile: config.glass_percentile,
            min_area_px: f64::from(config.min_nucleus_um2) / um2_per_block,
            max_area_px: f64::from(config.max_nucleus_um2) / um2_per_block,
            min_solidity: config.min_solidity,
            // The detector rounds the depth to whole chamfer units (3 per mask pixel).
            split_depth_px: (3.0 * f64::from(config.split_depth_um) / block_um).round() / 3.0,
        }
    }
}

/// The peer's JSON line, as printed.
#[derive(Debug, Deserialize)]
struct PeerLine {
    per_frame_ms: Vec<f64>,
    cells: Vec<usize>,
    opencv: String,
    threads: usize,
}

/// A folder of its own under the system's temporary folder, removed when dropped.
struct FrameDir(PathBuf);

impl FrameDir {
    fn new() -> Result<Self, DetectionBenchError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "leukoscope-detect-bench-{}-{nanos}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        // `create_dir`, not `create_dir_all`: a folder already there is not ours to fill.
        std::fs::create_dir(&path)
            .map_err(|source| DetectionBenchError::FrameDir {
                path: path.clone(),
                source,
            })
            .map(|()| FrameDir(path))
    }
}

impl Drop for FrameDir {
    fn drop(&mut self) {
        // Best effort: a leftover folder in the temporary folder harms nothing, and a
        // failed clean-up must not hide the benchmark's result or error.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `frames` into `dir` as `frame00000.png`, `frame00001.png`, ... (names that sort
/// in frame order) and returns their paths.
pub fn write_frames(frames: &[RgbImage], dir: &Path) -> Result<Vec<PathBuf>, DetectionBenchError> {
    frames
        .iter()
        .enumerate()
        .map(|(i, frame)| {
            let path = dir.join(format!("frame{i:05}.png"));
            let fail = |source| DetectionBenchError::WriteFrame {
                path: path.clone(),
                source,
            };
            let file = File::create(&path).map_err(|e| fail(image::ImageError::IoError(e)))?;
            // Fast compression: the files live for one run, and encoding 1080p frames at
            // the default level takes longer than the benchmark itself.
            PngEncoder::new_with_quality(
                BufWriter::new(file),
                CompressionType::Fast,
                FilterType::Adaptive,
            )
            .write_image(
                frame.as_raw(),
                frame.width(),
                frame.height(),
                image::ExtendedColorType::Rgb8,
            )
            .map_err(fail)?;
            Ok(path)
        })
        .collect()
}

/// Reads the peer's stdout (its last JSON line) for `frames` frames.
pub fn parse_peer_output(
    stdout: &str,
    frames: usize,
) -> Result<PeerDetection, DetectionBenchError> {
    let bad = |reason: String| DetectionBenchError::PeerOutput { reason };
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| bad("no JSON line".into()))?;
    let peer: PeerLine = serde_json::from_str(line).map_err(|e| bad(format!("{e} in {line:?}")))?;
    if peer.cells.len() != frames {
        return Err(bad(format!(
            "cell counts for {} frames, expected {frames}",
            peer.cells.len()
        )));
    }
    if peer.per_frame_ms.is_empty() || !peer.per_frame_ms.len().is_multiple_of(frames) {
        return Err(bad(format!(
            "{} frame times is not a whole number of passes over {frames} frames",
            peer.per_frame_ms.len()
        )));
    }
    if let Some(t) = peer
        .per_frame_ms
        .iter()
        .find(|t| !t.is_finite() || **t < 0.0)
    {
        return Err(bad(format!("frame time {t} ms")));
    }
    let mut seconds: Vec<f64> = peer.per_frame_ms.iter().map(|ms| ms / 1e3).collect();
    let row = super::row("opencv", 1, peer.threads, &mut seconds);
    Ok(PeerDetection {
        opencv: peer.opencv,
        threads: peer.threads,
        p50_ms: row.p50_ms,
        p99_ms: row.p99_ms,
        cells: peer.cells,
    })
}

/// Times our detector with `config` on every frame (one warm-up pass, then `iterations`
/// timed passes), then the OpenCV peer (`python peer_script`) on the same frames. A
/// missing Python or OpenCV leaves the peer out and says why in `peer_missing`; a peer
/// that runs and fails is an error.
pub fn compare_detection(
    frames: &[RgbImage],
    config: &DetectorConfig,
    python: &str,
    peer_script: &Path,
    iterations: usize,
) -> Result<DetectionBench, DetectionBenchError> {
    if frames.is_empty() {
        return Err(DetectionBenchError::NoFrames);
    }
    if iterations == 0 {
        return Err(DetectionBenchError::NoIterations);
    }
    let mut detector = CellDetector::new(*config)?;
    for frame in frames {
        std::hint::black_box(detector.detect(frame));
    }
    let mut times = Vec::with_capacity(frames.len() * iterations);
    let mut ours_cells = Vec::new();
    for _ in 0..iterations {
        ours_cells.clear();
        for frame in frames {
            let start = Instant::now();
            let cells = std::hint::black_box(detector.detect(frame));
            times.push(start.elapsed().as_secs_f64());
            ours_cells.push(cells.len());
        }
    }
    let ours = super::row("leukoscope", 1, 1, &mut times);

    let dir = FrameDir::new()?;
    write_frames(frames, &dir.0)?;
    let settings = serde_json::to_string(&PeerSettings::new(config, detector.shrink_factor()))
        .map_err(|e| DetectionBenchError::PeerOutput {
            reason: format!("cannot encode the peer's settings: {e}"),
        })?;
    let (peer, peer_missing) = match run_peer(
        python,
        peer_script,
        &dir.0,
        &settings,
        iterations,
        frames.len(),
    )? {
        Ok(peer) => (Some(peer), None),
        Err(why) => (None, Some(why)),
    };
    Ok(DetectionBench {
        frames: frames.len(),
        ours_p50_ms: ours.p50_ms,
        ours_p99_ms: ours.p99_ms,
        ours_cells,
        peer,
        peer_missing,
    })
}

/// Runs the peer: its figures, or (inner `Err`) why it is missing.
fn run_peer(
    python: &str,
    script: &Path,
    dir: &Path,
    settings: &str,
    iterations: usize,
    frames: usize,
) -> Result<Result<PeerDetection, String>, DetectionBenchError> {
    let output = Command::new(python)
        .arg(script)
        .arg("--frames")
        .arg(dir)
        .args(["--config", settings])
        .args(["--threads", &PEER_THREADS.to_string()])
        .args(["--warmup", "1", "--iters", &iterations.to_string()])
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) => return Ok(Err(format!("cannot run {python}: {e}"))),
    };
    let last_stderr_line = || {
        String::from_utf8_lossy(&output.stderr)
            .trim()
            .lines()
            .last()
            .unwrap_or("no message")
            .to_owned()
    };
    match output.status.code() {
        Some(PEER_MISSING_EXIT) => return Ok(Err(last_stderr_line())),
        Some(EXEC_FAILED_EXIT) => {
            return Ok(Err(format!(
                "cannot run {python}: it exited with status {EXEC_FAILED_EXIT} (not found)"
            )));
        }
        _ => {}
    }
    if !output.status.success() {
        return Err(DetectionBenchError::PeerFailed {
            status: output.status.to_string(),
            message: last_stderr_line(),
        });
    }
    parse_peer_output(&String::from_utf8_lossy(&output.stdout), frames).map(Ok)
}

#[cfg(test)]
mod tests;
