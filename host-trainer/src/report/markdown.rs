//! `report.md`: one page a reader can take in at a glance — what was trained on what, how
//! well it did per class, and where the plots and raw figures are.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{EpochRecord, METRICS_CSV, METRICS_JSON, REPORT_FILE, ReportError, write_atomically};
use crate::metrics::{Evaluation, Summary, plus_minus};

/// The disclaimer every report carries, in the words the UI uses too.
pub const DISCLAIMER: &str = "Research use only; decision support to be confirmed by a trained \
                              reader. Not a diagnosis.";

/// A plot to link from the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// What the plot shows, used as its alt text and caption.
    pub caption: String,
    /// Its path relative to the report's folder (`curves.png`).
    pub file: String,
}

impl Figure {
    /// A figure from its caption and relative file name.
    pub fn new(caption: impl Into<String>, file: impl Into<String>) -> Self {
        Figure {
            caption: caption.into(),
            file: file.into(),
        }
    }

    /// A figure from its caption and the plot's path, a file in the report's own folder.
    pub fn in_folder(caption: impl Into<String>, path: &Path) -> Self {
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        Figure::new(caption, file)
    }
}

/// Everything the report shows, already computed; the report itself computes nothing but
/// the best epoch, so it always agrees with the figures saved next to it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportInput {
    /// The run's name (its folder name, or one the user chose).
    pub run_name: String,
    /// One line about the data (`C-NMC 2019, 10 661 cell images, 2 classes`).
    pub dataset: String,
    /// How the data was split (`patient-grouped 80/20, seed 7`, `5-fold CV, fold 2`).
    pub split: String,
    /// Whether `evaluation` is on images the model did not train on; when not (a model
    /// trained on all the data), the report says they are training images.
    pub held_out: bool,
    /// The resolved configuration as JSON text, shown as given.
    pub config_json: String,
    /// One record per epoch.
    pub epochs: Vec<EpochRecord>,
    /// The evaluation on the held-out set in the model's own taxonomy.
    pub evaluation: Evaluation,
    /// The same outputs coarsened onto the binary screen, when the model is finer than it.
    /// Its second class is taken as the positive (malignant) one, as in
    /// `Taxonomy::all_binary`.
    pub binary: Option<Evaluation>,
    /// Mean ± spread across cross-validation folds, when the run was cross-validated.
    pub cross_validation: Option<Summary>,
    /// Plots to link, relative to the report's folder.
    pub figures: Vec<Figure>,
}

/// Renders the report and writes it to `dir/report.md`, returning the path.
pub fn write_report(dir: &Path, input: &ReportInput) -> Result<PathBuf, ReportError> {
    let path = dir.join(REPORT_FILE);
    write_atomically(&path, render_report(input).as_bytes())?;
    Ok(path)
}

/// A ratio to three decimals, the precision every table uses.
fn num(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.3}")
    } else {
        "n/a".into()
    }
}

fn opt(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".into(), num)
}

/// Makes text safe inside a table cell: a `|` would end the cell, a newline the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The epoch of highest validation macro F1 (the earliest on ties); NaN epochs never win.
fn best_epoch(epochs: &[EpochRecord]) -> Option<&EpochRecord> {
    epochs.iter().filter(|r| r.valid_macro_f1.is_finite()).fold(
        None,
        |best: Option<&EpochRecord>, r| match best {
            Some(b) if b.valid_macro_f1 >= r.valid_macro_f1 => Some(b),
            _ => Some(r),
        },
    )
}

/// The report as markdown text.
pub fn render_report(input: &ReportInput) -> String {
    let mut md = String::new();
    // Writing to a String cannot fail, so the results of `writeln!` are ignored throughout.
    let e = &input.evaluation;
    let _ = writeln!(md, "# Training report: {}\n", input.run_name.trim());
    let _ = writeln!(md, "> **{DISCLAIMER}**\n");
    let _ = writeln!(md, "| | |\n| --- | --- |");
    let _ = writeln!(md, "| dataset | {} |", cell(&input.dataset));
    let _ = writeln!(md, "| split | {} |", cell(&input.split));
    let _ = writeln!(
        md,
        "| taxonomy | {} ({}) |",
        cell(&e.taxonomy),
        cell(&e.classes.join(", "))
    );
    let _ = writeln!(
        md,
        "| images evaluated | {} ({} skipped) |",
        e.n_images, e.n_skipped
    );
    if let Some(last) = input.epochs.last() {
        let _ = writeln!(
            md,
            "| final epoch | {}: valid_accuracy {}, valid_macro_f1 {}, valid_loss {} |",
            last.epoch,
            num(last.valid_accuracy),
            num(last.valid_macro_f1),
            num(last.valid_loss)
        );
    }
    // Without a hold-out the "best" epoch is only the best fit to the training images.
    if let Some(best) = best_epoch(&input.epochs).filter(|_| input.held_out) {
        let _ = writeln!(
            md,
            "| best epoch (by valid_macro_f1) | {}: valid_accuracy {}, valid_macro_f1 {} |",
            best.epoch,
            num(best.valid_accuracy),
            num(best.valid_macro_f1)
        );
    }
    let seconds: f64 = input.epochs.iter().map(|r| r.seconds).sum();
    if !input.epochs.is_empty() {
        let _ = writeln!(
            md,
            "| training time | {:.0} s over {} epochs |",
            seconds,
            input.epochs.len()
        );
    }
    md.push('\n');

    if input.held_out {
        let _ = writeln!(md, "## Results on the held-out set\n");
    } else {
        let _ = writeln!(
            md,
            "## Results on the training images (no hold-out)\n\nThe model learnt from these images, so these figures flatter it; they only show that training converged.\n"
        );
    }
    evaluation_section(&mut md, e);

    if let Some(binary) = &input.binary {
        let _ = writeln!(
            md,
            "## Binary screen ({})\n\nThe outputs above, with probabilities summed onto the \
             screen's classes.\n",
            cell(&binary.taxonomy)
        );
        if let (Some(positive), 2) = (binary.per_class.get(1), binary.per_class.len()) {
            let _ = writeln!(
                md,
                "Screen for **{}**: sensitivity {}, specificity {}, AUC {}, accuracy {}.\n",
                cell(&positive.class),
                num(positive.sensitivity),
                num(positive.specificity),
                opt(positive.auc),
                num(binary.accuracy)
            );
        }
        evaluation_section(&mut md, binary);
    }

    if let Some(cv) = &input.cross_validation {
        let _ = writeln!(
            md,
            "## Cross-validation ({} folds, mean ± sample std)\n",
            cv.folds
        );
        let _ = writeln!(md, "| metric | value |\n| --- | --- |");
        for (name, mean, std) in cv.rows() {
            let _ = writeln!(md, "| {name} | {} |", plus_minus(mean, std));
        }
        let _ = writeln!(
            md,
            "\n| class | precision | recall | f1 | specificity | auc |\n\
             | --- | --- | --- | --- | --- | --- |"
        );
        for (m, s) in cv.mean.per_class.iter().zip(&cv.std.per_class) {
            let pm = |a: f64, b: f64| plus_minus(Some(a), Some(b));
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&m.class),
                pm(m.precision, s.precision),
                pm(m.recall, s.recall),
                pm(m.f1, s.f1),
                pm(m.specificity, s.specificity),
                plus_minus(m.auc, s.auc)
            );
        }
        md.push('\n');
    }

    if !input.figures.is_empty() {
        let _ = writeln!(md, "## Figures\n");
        for figure in &input.figures {
            // Angle brackets let the link target hold spaces.
            let _ = writeln!(
                md,
                "![{0}](<{1}>)\n\n*{0}* ([{1}](<{1}>))\n",
                figure.caption.replace(['[', ']'], ""),
                figure.file
            );
        }
    }

    let _ = writeln!(md, "## Training\n");
    let _ = writeln!(
        md,
        "Per-epoch figures: [{METRICS_CSV}]({METRICS_CSV}), [{METRICS_JSON}]({METRICS_JSON}).\n"
    );
    let _ = writeln!(md, "## Resolved configuration\n");
    let longest_backticks = input
        .config_json
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or(0);
    // A fence longer than any backtick run inside keeps the block intact.
    let fence = "`".repeat(longest_backticks.max(2) + 1);
    let _ = writeln!(
        md,
        "{fence}json\n{}\n{fence}\n",
        input.config_json.trim_end()
    );
    let _ = writeln!(md, "---\n*{DISCLAIMER}*");
    md
}

/// Headline figures, the per-class table and the confusion matrix of one evaluation.
fn evaluation_section(md: &mut String, e: &Evaluation) {
    let _ = writeln!(md, "| metric | value |\n| --- | --- |");
    for (name, value) in [
        ("accuracy", num(e.accuracy)),
        ("macro_precision", num(e.macro_precision)),
        ("macro_recall", num(e.macro_recall)),
        ("macro_f1", num(e.macro_f1)),
        ("weighted_f1", num(e.weighted_f1)),
        ("present_macro_f1", num(e.present_macro_f1)),
        ("false_malignant_rate", opt(e.false_malignant_rate)),
        ("malignant_sensitivity", opt(e.malignant_sensitivity)),
        ("macro_auc", opt(e.macro_auc)),
        (
            "expected_calibration_error",
            num(e.expected_calibration_error),
        ),
    ] {
        let _ = writeln!(md, "| {name} | {value} |");
    }
    let _ = writeln!(
        md,
        "\n| class | precision | recall | f1 | sensitivity | specificity | auc | support |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for m in &e.per_class {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&m.class),
            num(m.precision),
            num(m.recall),
            num(m.f1),
            num(m.sensitivity),
            num(m.specificity),
            opt(m.auc),
            m.support
        );
    }
    let _ = writeln!(
        md,
        "\nConfusion matrix (rows: true class, columns: predicted class):\n"
    );
    let _ = write!(md, "| true \\ predicted |");
    for name in &e.classes {
        let _ = write!(md, " {} |", cell(name));
    }
    let _ = write!(md, "\n| --- |");
    for _ in &e.classes {
        md.push_str(" ---: |");
    }
    md.push('\n');
    for (name, row) in e.classes.iter().zip(&e.confusion) {
        let _ = write!(md, "| **{}** |", cell(name));
        for count in row {
            let _ = write!(md, " {count} |");
        }
        md.push('\n');
    }
    md.push('\n');
}

#[cfg(test)]
mod tests;
