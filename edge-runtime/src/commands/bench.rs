//! `leukoscope-edge bench`: inference beside ONNX Runtime, or (`--pipeline`) the whole
//! pipeline on full frames with the detection stage beside OpenCV.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use leukoscope_core::artifact::TrustPolicy;
use leukoscope_core::engine::{Engine, Precision};
use leukoscope_core::synth::{SlideOptions, SyntheticSlide};
use leukoscope_edge::bench::detection::compare_detection;
use leukoscope_edge::bench::pipeline::{measure_front_stages, measure_pipeline};
use leukoscope_edge::bench::{
    BenchOptions, BenchReport, BenchRow, cpu_ghz, measure, onnxruntime_rows, peak_macs_per_cycle,
};
use leukoscope_edge::io::model::load_model;
use leukoscope_edge::io::source::Frame;
use leukoscope_edge::scan::pipeline::ScanSettings;

use super::demo::demo_model;

/// Options of `bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// The .lsm model (int8 or float); with --pipeline, default the demo model.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Measure the whole pipeline instead of inference alone.
    #[arg(long)]
    pub pipeline: bool,
    /// With --pipeline: frames measured.
    #[arg(long, default_value_t = 120)]
    pub frames: usize,
    /// With --pipeline: frames given to the OpenCV comparison.
    #[arg(long, default_value_t = 20)]
    pub detection_frames: usize,
    /// With --pipeline: seeds the synthetic slide.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// With --pipeline: micrometres per pixel of the synthetic slide's frames, 0.02 to 1
    /// (0.1 for 100x oil on a full-HD camera); the scan is given the same.
    #[arg(long, default_value_t = leukoscope_core::synth::MICROMETRES_PER_PIXEL)]
    pub um_per_px: f32,
    /// With --pipeline: the OpenCV peer script.
    #[arg(long, default_value = "bench/opencv_detect_peer.py")]
    pub opencv_peer: PathBuf,
    /// The float .lsm of the same model, for the f32 engine's rows when --model is int8.
    #[arg(long)]
    pub float_model: Option<PathBuf>,
    /// The model as float ONNX (`leukoscope-train export-onnx`), for ONNX Runtime fp32.
    #[arg(long)]
    pub onnx: Option<PathBuf>,
    /// The model as int8 QDQ ONNX (`export-onnx --int8`), for ONNX Runtime int8.
    #[arg(long)]
    pub onnx_int8: Option<PathBuf>,
    /// Images per call (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    pub batches: Vec<usize>,
    /// Thread counts (comma-separated); with --pipeline the first is used, 0 for all
    /// cores.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub threads: Vec<usize>,
    /// Untimed calls per configuration.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Timed calls per configuration.
    #[arg(long, default_value_t = 40)]
    pub iters: usize,
    /// Also write the figures here as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The ONNX Runtime peer script.
    #[arg(long, default_value = "bench/onnxruntime_peer.py")]
    pub peer: PathBuf,
    /// Python interpreter with onnxruntime (and OpenCV for --pipeline) installed.
    #[arg(long, default_value = "python3")]
    pub python: String,
}

pub fn bench(args: BenchArgs) -> anyhow::Result<()> {
    if args.pipeline {
        bench_pipeline(&args)
    } else {
        bench_inference(&args)
    }
}

/// Inference latency and throughput of our engines beside ONNX Runtime on the same model.
fn bench_inference(args: &BenchArgs) -> anyhow::Result<()> {
    let options = BenchOptions {
        warmup: args.warmup,
        iterations: args.iters,
    };
    anyhow::ensure!(
        args.batches.iter().chain(&args.threads).all(|&n| n > 0),
        "batches and thread counts must be at least 1"
    );
    let model = args
        .model
        .as_deref()
        .context("give the model to measure with --model FILE")?;
    let main = load_model(model, &TrustPolicy::any())?.artifact;
    let mut engines = vec![Engine::new(&main)?];
    if let Some(path) = &args.float_model {
        let float = load_model(path, &TrustPolicy::any())?.artifact;
        anyhow::ensure!(
            float.spec == main.spec,
            "{} is another network than {}",
            path.display(),
            model.display()
        );
        engines.push(Engine::f32(&float)?);
    }
    let macs = main.spec.macs()?;
    let input = main.spec.input;
    println!(
        "{}: {}x{}x{} input, {:.1} M MACs per image",
        main.spec.name,
        input.channels,
        input.height,
        input.width,
        macs as f64 / 1e6
    );
    let mut results: Vec<BenchRow> = Vec::new();
    for engine in &engines {
        let name = engine.precision().as_str();
        println!(
            "{name} engine ({}): arena {:.2} MB per thread",
            kernels(engine),
            engine.arena_bytes() as f64 / 1e6
        );
        for &threads in &args.threads {
            for &batch in &args.batches {
                results.push(measure(engine, name, batch, threads, options)?);
            }
        }
    }
    match onnxruntime_rows(
        &args.python,
        &args.peer,
        args.onnx.as_deref(),
        args.onnx_int8.as_deref(),
        &args.batches,
        &args.threads,
        [
            input.channels as usize,
            input.height as usize,
            input.width as usize,
        ],
        options,
    ) {
        Ok(rows) => results.extend(rows),
        Err(why) => println!("ONNX Runtime rows left out: {why}"),
    }
    print_bench(&results, macs, &engines);
    if let Some(path) = &args.json {
        let report = BenchReport {
            model: main.spec.name.clone(),
            macs,
            results,
        };
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn print_bench(results: &[BenchRow], macs: u64, engines: &[Engine]) {
    let ghz = cpu_ghz();
    println!();
    println!(
        "{:<18} {:>5} {:>7} {:>9} {:>9} {:>10} {:>8} {:>9} {:>9}",
        "engine",
        "batch",
        "threads",
        "p50 ms",
        "p99 ms",
        "images/s",
        "GMAC/s",
        "vs ORT32",
        "vs ORT8"
    );
    let find = |engine: &str, r: &BenchRow| {
        results
            .iter()
            .find(|o| o.engine == engine && o.batch == r.batch && o.threads == r.threads)
            .map(|o| r.images_per_s / o.images_per_s)
    };
    let ratio = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}x"));
    for r in results {
        println!(
            "{:<18} {:>5} {:>7} {:>9.3} {:>9.3} {:>10.1} {:>8.1} {:>9} {:>9}",
            r.engine,
            r.batch,
            r.threads,
            r.p50_ms,
            r.p99_ms,
            r.images_per_s,
            r.images_per_s * macs as f64 / 1e9,
            ratio(find("onnxruntime-fp32", r)),
            ratio(find("onnxruntime-int8", r)),
        );
    }
    if let Some(ghz) = ghz {
        for engine in engines {
            let int8 = engine.precision() == Precision::Int8;
            let per_core = ghz * peak_macs_per_cycle(engine.isa(), int8);
            println!(
                "peak of one core for the {} engine ({} at {ghz:.2} GHz): {per_core:.0} GMAC/s",
                engine.precision().as_str(),
                if int8 { engine.isa().name() } else { "f32 FMA" },
            );
        }
    }
}

/// The kernels an engine runs, in words.
pub fn kernels(engine: &Engine) -> String {
    match engine.precision() {
        Precision::Int8 => format!("{} kernels", engine.isa().name()),
        Precision::F32 => "portable f32 loops, AVX2 where present".into(),
    }
}

/// The whole pipeline on synthetic full-HD frames (about five white cells each), then the
/// detection stage beside OpenCV on the same frames.
fn bench_pipeline(args: &BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.frames >= 2, "--frames must be at least 2");
    let model = match &args.model {
        Some(path) => load_model(path, &TrustPolicy::any())?,
        None => demo_model()?,
    };
    let threads = match args.threads.first().copied().unwrap_or(0) {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let slide = SyntheticSlide::new(
        args.seed,
        SlideOptions {
            um_per_px: args.um_per_px,
            ..SlideOptions::default()
        },
    )?;
    let warmup = 5;
    let count = (args.frames + warmup).min(slide.frame_count() as usize);
    println!(
        "rendering {count} synthetic {}x{} frames (not timed)...",
        slide.options().frame_width,
        slide.options().frame_height
    );
    let frames = (0..count as u32)
        .map(|i| {
            slide.frame(i).map(|f| Frame {
                index: u64::from(i),
                image: f.image,
                captured: Instant::now(),
                origin: format!("frame {i}"),
                stage_um: None,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let dir = tempdir()?;
    let mut settings = ScanSettings {
        threads,
        ..ScanSettings::default()
    };
    settings.detect.um_per_px = args.um_per_px;
    settings.track.um_per_px = args.um_per_px;
    let result = measure_pipeline(&model, &frames, settings.clone(), &dir, warmup);
    let _ = std::fs::remove_dir_all(&dir);
    let result = result?;
    println!(
        "pipeline: {} on {} frames of {}x{} at {} um/px, {:.1} cells found per frame, {} classified, {} classifying threads",
        result.model,
        result.frames,
        result.width,
        result.height,
        args.um_per_px,
        result.cells_per_frame,
        result.cells_classified,
        result.threads
    );
    println!(
        "  {:.1} frames/s, p50 {:.1} ms, p99 {:.1} ms per frame",
        result.frames_per_s, result.p50_frame_ms, result.p99_frame_ms
    );
    let s = result.stages;
    println!(
        "  per frame: quality {:.2} ms, detect {:.2} ms, track {:.2} ms, classify {:.2} ms, journal {:.2} ms, report {:.2} ms",
        s.quality, s.detect, s.track, s.classify, s.journal, s.report
    );
    let front = measure_front_stages(&frames[warmup..], &settings, 3)?;
    println!(
        "  gate + detect + track: {:.2} ms per frame with the frame's blocks shared, {:.2} ms with each stage shrinking it itself ({:.2}x)",
        front.shared_ms,
        front.separate_ms,
        front.shared_ms / front.separate_ms.max(1e-9)
    );
    let detection_frames: Vec<_> = frames[warmup..]
        .iter()
        .take(args.detection_frames)
        .map(|f| f.image.clone())
        .collect();
    let detection = compare_detection(
        &detection_frames,
        &settings.detect,
        &args.python,
        &args.opencv_peer,
        5,
    )?;
    println!();
    print!("{}", detection.table());
    if let Some(path) = &args.json {
        let mut value = serde_json::to_value(&result)?;
        value["um_per_px"] = serde_json::to_value(args.um_per_px)?;
        value["detection"] = serde_json::to_value(&detection)?;
        value["front_stages"] = serde_json::to_value(front)?;
        std::fs::write(path, serde_json::to_vec_pretty(&value)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// A fresh folder for the benchmark's journal, on the same disk as a board would use.
fn tempdir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("leukoscope-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
