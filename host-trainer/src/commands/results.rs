//! `leukoscope-train results`: one table row per cross-validated model, from the folders
//! `cv` and `quantize --model CV` wrote, with the cost of running it on the board.
//!
//! Every figure in a row is of the int8 model, measured on held-out folds (each fold's
//! last epoch; see `cv_int8`), because int8 is what runs on the board; the float macro
//! F1 and the change quantization makes sit beside it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use leukoscope_core::artifact::ModelArtifact;
use leukoscope_core::engine::Engine;
use leukoscope_core::network::Initialization;
use leukoscope_trainer::fit::Backbone;
use leukoscope_trainer::loss::LossKind;
use leukoscope_trainer::metrics::Summary;
use leukoscope_trainer::run_dir::{Int8CrossValidation, RunDir, read_json};
use serde::Serialize;

use super::model::load;

/// `results`' flags: the cross-validation folders, the latency runs and the outputs.
#[derive(clap::Args)]
pub struct ResultsArgs {
    /// Cross-validation folders (of `cv`, then `quantize --model CV`), one row each, in
    /// the order given.
    #[arg(long = "cv", value_name = "DIR", required = true)]
    pub folders: Vec<PathBuf>,
    /// Timed single-image runs of each int8 model for its latency (the median is shown).
    #[arg(long, default_value_t = 50)]
    pub latency_runs: usize,
    /// Write the table here as Markdown (default: print it).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write every row as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Put the table into this Markdown file (docs/results.md) in place of the one
    /// between its lines `<!-- results table -->` and `<!-- end of results table -->`,
    /// leaving the rest of the file as it is.
    #[arg(long, value_name = "FILE.md")]
    pub into: Option<PathBuf>,
}

/// The line after which `--into` puts the table.
const TABLE_BEGIN: &str = "<!-- results table -->";
/// The line before which the table ends.
const TABLE_END: &str = "<!-- end of results table -->";

/// `document` with the text between its [`TABLE_BEGIN`] and [`TABLE_END`] lines replaced
/// by `table`; an error when the pair is missing, repeated or out of order, because a
/// table put in the wrong place would silently lose the text it replaced.
fn splice(document: &str, table: &str) -> anyhow::Result<String> {
    let line = |marker: &str| -> anyhow::Result<usize> {
        let mut found = document
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim() == marker);
        match (found.next(), found.next()) {
            (Some((index, _)), None) => Ok(index),
            (None, _) => bail!("no line `{marker}`: mark where the table goes"),
            (Some(_), Some(_)) => bail!("the line `{marker}` appears more than once"),
        }
    };
    let (begin, end) = (line(TABLE_BEGIN)?, line(TABLE_END)?);
    if end < begin {
        bail!("`{TABLE_END}` comes before `{TABLE_BEGIN}`");
    }
    let lines: Vec<&str> = document.lines().collect();
    let mut out = String::with_capacity(document.len() + table.len());
    for l in &lines[..=begin] {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(table.trim_end());
    out.push('\n');
    for l in &lines[end..] {
        out.push_str(l);
        out.push('\n');
    }
    Ok(out)
}

/// The table's "optimizer, loss" cell: with the initialization and the pretraining when
/// they are not the default, which goes unsaid as in every row written before there was a
/// choice.
fn recipe_cell(
    optimizer: &str,
    loss: &str,
    initialization: &str,
    backbone: Option<&Backbone>,
) -> String {
    let mut cell = format!("{}, {}", optimizer.to_lowercase(), loss.to_lowercase());
    if initialization != Initialization::Uniform.name() {
        let _ = write!(cell, ", {initialization} init");
    }
    if let Some(b) = backbone {
        let _ = write!(cell, ", pretrained on {} ({})", b.taxonomy, b.data);
    }
    cell
}

/// One model's row.
#[derive(Serialize)]
struct Row {
    run: String,
    model: String,
    taxonomy: String,
    folds_run: u64,
    folds: u64,
    epochs: u64,
    input_size: u64,
    optimizer: String,
    loss: String,
    /// How fresh weights were drawn (`uniform`, `he`).
    initialization: String,
    /// The pretrained network it started from under a new head, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    backbone: Option<Backbone>,
    /// int8, mean and std over folds.
    int8: Summary,
    /// float, same folds and epochs.
    float: Summary,
    /// The binary screen (Benign vs ALL) of the int8 model: the class set's own figures
    /// when it is already binary.
    screen: Summary,
    top1_agreement: Vec<f64>,
    params: u64,
    macs: u64,
    int8_bytes: u64,
    int8_latency_ms: f64,
}

/// Median wall time of one single-image int8 inference on one thread, in milliseconds.
fn latency_ms(model: &ModelArtifact, runs: usize) -> anyhow::Result<f64> {
    let engine = Engine::new(model)?;
    let mut workspace = engine.workspace();
    let i = model.spec.input;
    let input: Vec<f32> = (0..i.channels as usize * i.height as usize * i.width as usize)
        .map(|k| ((k % 251) as f32 / 125.0) - 1.0)
        .collect();
    let mut logits = vec![0.0; engine.classes()];
    for _ in 0..5 {
        engine.run(&mut workspace, &input, &mut logits);
    }
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let started = Instant::now();
            engine.run(&mut workspace, &input, &mut logits);
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// The loss as the table has always named it: the name of its kind.
fn loss_name(loss: &LossKind) -> &'static str {
    match loss {
        LossKind::CrossEntropy { .. } => "CrossEntropy",
        LossKind::Tversky { cross_entropy, .. } if *cross_entropy > 0.0 => "Tversky+CrossEntropy",
        LossKind::Tversky { .. } => "Tversky",
        LossKind::KlDivergence { .. } => "KlDivergence",
        LossKind::Focal { .. } => "Focal",
    }
}

fn row(cv: &Path, latency_runs: usize) -> anyhow::Result<Row> {
    let run = RunDir::new(cv);
    let cv_int8: Int8CrossValidation = read_json(&run.int8_summary()).with_context(|| {
        format!(
            "run `leukoscope-train quantize --model {} --calib DATA` first",
            cv.display()
        )
    })?;
    let first = run.fold(1);
    let config = first.read_config()?;
    let model_path = first.model_int8();
    let (model, _) = load(&model_path)?;
    let analysis = model.spec.analyze()?;
    Ok(Row {
        run: cv
            .file_name()
            .map_or_else(|| cv.display().to_string(), |n| n.to_string_lossy().into()),
        model: config.model,
        taxonomy: config.taxonomy,
        folds_run: cv_int8.folds_run,
        folds: cv_int8.folds,
        epochs: config.recipe.epochs as u64,
        input_size: config.input_size.into(),
        optimizer: config.recipe.optimizer.to_string(),
        loss: loss_name(&config.recipe.loss).into(),
        initialization: config.recipe.initialization.name().into(),
        backbone: config.recipe.backbone.clone(),
        screen: cv_int8.int8_binary.unwrap_or_else(|| cv_int8.int8.clone()),
        float: cv_int8.float,
        int8: cv_int8.int8,
        top1_agreement: cv_int8.top1_agreement,
        params: analysis.params,
        macs: analysis.macs,
        int8_bytes: std::fs::metadata(&model_path)?.len(),
        int8_latency_ms: latency_ms(&model, latency_runs)?,
    })
}

/// `mean ± std`, or the mean alone for a single fold (which has no spread).
fn pm(mean: f64, std: f64, folds: u64) -> String {
    if folds > 1 {
        format!("{mean:.3} ± {std:.3}")
    } else {
        format!("{mean:.3}")
    }
}

/// A change in F1 points, signed, to two places; a change that rounds to nothing reads
/// "+0.00", not "-0.00", which would suggest a loss the figures do not show.
fn points(change: f64) -> String {
    let hundredths = (change * 100.0).round();
    if hundredths == 0.0 {
        "+0.00".into()
    } else {
        format!("{:+.2}", hundredths / 100.0)
    }
}

/// The ALL class's sensitivity and specificity on the screen, as cells.
fn screen_cells(row: &Row) -> (String, String) {
    let index = row.screen.classes.iter().position(|c| c == "ALL");
    match index {
        Some(k) => {
            let (m, s) = (&row.screen.mean.per_class[k], &row.screen.std.per_class[k]);
            (
                pm(m.recall, s.recall, row.folds_run),
                pm(m.specificity, s.specificity, row.folds_run),
            )
        }
        None => ("–".into(), "–".into()),
    }
}

fn table(rows: &[Row]) -> String {
    let mut md = String::new();
    md.push_str(
        "| run | model | task | folds × epochs, input | optimizer, loss | accuracy | macro precision | macro recall | macro F1 | weighted F1 | macro AUC | screen sensitivity | screen specificity | float macro F1 | int8 − float (F1 points) | params (M) | MACs (M) | int8 size (KB) | int8 latency (ms) |\n",
    );
    md.push_str("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let (m, s, n) = (&r.int8.mean, &r.int8.std, r.folds_run);
        let (sensitivity, specificity) = screen_cells(r);
        let auc = match (m.macro_auc, s.macro_auc) {
            (Some(a), Some(b)) => pm(a, b, n),
            _ => "–".into(),
        };
        let folds = if r.folds_run < r.folds {
            format!("{} of {}", r.folds_run, r.folds)
        } else {
            r.folds.to_string()
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {folds} × {}, {}px | {} | {} | {} | {} | {} | {} | {auc} | {sensitivity} | {specificity} | {} | {} | {:.2} | {:.0} | {:.0} | {:.2} |",
            r.run,
            r.model,
            r.taxonomy,
            r.epochs,
            r.input_size,
            recipe_cell(
                &r.optimizer,
                &r.loss,
                &r.initialization,
                r.backbone.as_ref()
            ),
            pm(m.accuracy, s.accuracy, n),
            pm(m.macro_precision, s.macro_precision, n),
            pm(m.macro_recall, s.macro_recall, n),
            pm(m.macro_f1, s.macro_f1, n),
            pm(m.weighted_f1, s.weighted_f1, n),
            pm(r.float.mean.macro_f1, r.float.std.macro_f1, n),
            points((m.macro_f1 - r.float.mean.macro_f1) * 100.0),
            r.params as f64 / 1e6,
            r.macs as f64 / 1e6,
            r.int8_bytes as f64 / 1024.0,
            r.int8_latency_ms,
        );
    }
    md
}

/// Builds one row per `--cv` folder and prints or writes the table.
pub fn run(args: ResultsArgs) -> anyhow::Result<()> {
    if args.latency_runs == 0 {
        bail!("--latency-runs must be at least 1");
    }
    // One thread, so latencies compare models and not how many cores were free.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let rows = args
        .folders
        .iter()
        .map(|cv| {
            pool.install(|| row(cv, args.latency_runs))
                .with_context(|| format!("{}", cv.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let md = table(&rows);
    match &args.out {
        Some(path) => {
            super::write_file(path, md.as_bytes())?;
            println!("wrote {}", path.display());
        }
        None if args.into.is_none() => print!("{md}"),
        None => {}
    }
    if let Some(path) = &args.into {
        let document = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let updated = splice(&document, &md).with_context(|| format!("{}", path.display()))?;
        super::write_file(path, updated.as_bytes())?;
        println!("updated the table in {}", path.display());
    }
    if let Some(path) = &args.json {
        super::write_file(path, serde_json::to_string_pretty(&rows)?.as_bytes())?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
