//! `leukoscope-edge`: the board's program.

use std::path::PathBuf;

use anyhow::Context;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use leukoscope_core::artifact::{PublicKey, TrustPolicy};
use leukoscope_core::engine::{Engine, Precision};
use leukoscope_edge::bench::{
    BenchOptions, BenchReport, BenchRow, cpu_ghz, measure, onnxruntime_rows, peak_macs_per_cycle,
};
use leukoscope_edge::model::load_model;

/// leukoscope on the microscope's board: decision support for ALL screening, to be
/// confirmed by a trained reader.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure inference latency and throughput of the int8 and f32 engines on this CPU,
    /// beside ONNX Runtime (fp32 and int8) running the same model exported to ONNX, in
    /// the same run with the same thread counts; prints ratios. A benchmark, not a test.
    Bench {
        /// The .lsm model (int8 or float).
        #[arg(long)]
        model: PathBuf,
        /// The float .lsm of the same model, for the f32 engine's rows when --model is int8.
        #[arg(long)]
        float_model: Option<PathBuf>,
        /// The model as float ONNX (`leukoscope-train export-onnx`), for ONNX Runtime fp32.
        #[arg(long)]
        onnx: Option<PathBuf>,
        /// The model as int8 QDQ ONNX (`export-onnx --int8`), for ONNX Runtime int8.
        #[arg(long)]
        onnx_int8: Option<PathBuf>,
        /// Images per call (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "1,8")]
        batches: Vec<usize>,
        /// Thread counts (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        threads: Vec<usize>,
        /// Untimed calls per configuration.
        #[arg(long, default_value_t = 5)]
        warmup: usize,
        /// Timed calls per configuration.
        #[arg(long, default_value_t = 40)]
        iters: usize,
        /// Also write the figures here as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// The ONNX Runtime peer script.
        #[arg(long, default_value = "bench/onnxruntime_peer.py")]
        peer: PathBuf,
        /// Python interpreter with onnxruntime installed.
        #[arg(long, default_value = "python3")]
        python: String,
    },
    /// Verify a model file the way the board does before running it (digest, signature,
    /// consistency) and print what it is. Exits non-zero with the reason if it is refused.
    Check {
        /// The `.lsm` model file.
        #[arg(long)]
        model: PathBuf,
        /// Ed25519 public key (64 hex digits) whose signature the board requires; repeat
        /// for several. Without any, unsigned models are accepted.
        #[arg(long = "trust", value_name = "KEY")]
        trusted_keys: Vec<PublicKey>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("leukoscope-edge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Bench {
            model,
            float_model,
            onnx,
            onnx_int8,
            batches,
            threads,
            warmup,
            iters,
            json,
            peer,
            python,
        } => bench(BenchArgs {
            model,
            float_model,
            onnx,
            onnx_int8,
            batches,
            threads,
            options: BenchOptions {
                warmup,
                iterations: iters,
            },
            json,
            peer,
            python,
        }),
        Command::Check {
            model,
            trusted_keys,
        } => {
            let verified = load_model(&model, &TrustPolicy::only(trusted_keys))?;
            let a = &verified.artifact;
            let classes: Vec<&str> = a.taxonomy.classes.iter().map(|c| c.name.as_str()).collect();
            println!("model      {}", model.display());
            println!("digest     {}", verified.digest);
            match verified.signed_by {
                Some(key) => println!("signed by  {key}"),
                None => println!("signed by  nobody (unsigned)"),
            }
            println!(
                "network    {} ({} input {}x{} at {} um/px, {:.1} M MACs, {:.2} M parameters)",
                a.spec.name,
                a.spec.input.kind.as_str(),
                a.spec.input.width,
                a.spec.input.height,
                a.spec.input.um_per_px,
                a.spec.macs()? as f64 / 1e6,
                a.spec.params()? as f64 / 1e6,
            );
            println!("classes    {} ({})", a.taxonomy.name, classes.join(", "));
            // Compiling the engine proves the board can run it, not only read it.
            let engine = Engine::new(a)?;
            println!(
                "engine     {} ({}), {:.2} MB of arena per thread{}",
                engine.precision().as_str(),
                kernels(&engine),
                engine.arena_bytes() as f64 / 1e6,
                a.quantized
                    .as_ref()
                    .map_or(String::new(), |q| format!(", calibrated {}", q.calibrator)),
            );
            let or_unknown = |s: &str| {
                if s.is_empty() {
                    "unknown".to_string()
                } else {
                    s.to_string()
                }
            };
            println!(
                "trained by {} at {}",
                or_unknown(&a.provenance.tool),
                or_unknown(&a.provenance.created)
            );
            for metric in &a.provenance.metrics {
                println!("           {} = {:.4}", metric.name, metric.value);
            }
            println!("ok");
            Ok(())
        }
    }
}

struct BenchArgs {
    model: PathBuf,
    float_model: Option<PathBuf>,
    onnx: Option<PathBuf>,
    onnx_int8: Option<PathBuf>,
    batches: Vec<usize>,
    threads: Vec<usize>,
    options: BenchOptions,
    json: Option<PathBuf>,
    peer: PathBuf,
    python: String,
}

fn bench(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.batches.iter().chain(&args.threads).all(|&n| n > 0),
        "batches and thread counts must be at least 1"
    );
    let main = load_model(&args.model, &TrustPolicy::any())?.artifact;
    let mut engines = vec![Engine::new(&main)?];
    if let Some(path) = &args.float_model {
        let float = load_model(path, &TrustPolicy::any())?.artifact;
        anyhow::ensure!(
            float.spec == main.spec,
            "{} is another network than {}",
            path.display(),
            args.model.display()
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
                results.push(measure(engine, name, batch, threads, args.options)?);
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
        args.options,
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
fn kernels(engine: &Engine) -> String {
    match engine.precision() {
        Precision::Int8 => format!("{} kernels", engine.isa().name()),
        Precision::F32 => "portable f32 loops, AVX2 where present".into(),
    }
}
