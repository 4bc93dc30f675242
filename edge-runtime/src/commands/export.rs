//! `leukoscope-edge export-corrections`: the cells reviewers signed off, as an image folder
//! the trainer reads (one sub-folder per class), so a clinic's corrections can train the
//! next model.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use leukoscope_edge::io::settings::BoardSettings;
use leukoscope_edge::records::ReviewVerdict;
use leukoscope_edge::records::layout::DataDir;
use leukoscope_edge::records::review::ReviewLog;
use leukoscope_edge::report::read_report;

use super::slide::data_folder;

/// Options of `export-corrections`.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// The data folder holding slides/, reports/ and cells/ (a demo's or replay's --out).
    #[arg(long, conflicts_with = "board", required_unless_present = "board")]
    pub data: Option<PathBuf>,
    /// The board's settings: export from its storage folder.
    #[arg(long)]
    pub board: Option<PathBuf>,
    /// Where the class folders and corrections.csv go.
    #[arg(long)]
    pub out: PathBuf,
    /// Only the cells the reviewer changed.
    #[arg(long)]
    pub corrected_only: bool,
}

/// What an export wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Exported {
    /// Signed-off slides read.
    pub slides: usize,
    /// Pictures written.
    pub images: usize,
    /// Of those, cells the reviewer changed.
    pub corrected: usize,
    /// Cells left out: unidentified, not a cell, or (with `corrected_only`) unchanged.
    pub left_out: usize,
    /// Cells whose picture is missing or does not decode.
    pub unreadable: usize,
}

pub fn export_corrections(options: ExportArgs) -> anyhow::Result<()> {
    let board = options
        .board
        .as_deref()
        .map(BoardSettings::load)
        .transpose()?;
    let data = data_folder(options.data.as_deref(), board.as_ref())?;
    let exported = export(&data, &options.out, options.corrected_only)?;
    println!(
        "{} signed-off slides: {} cell pictures written to {} ({} corrected by the reviewer), {} left out (unidentified, not a cell{}), {} unreadable",
        exported.slides,
        exported.images,
        options.out.display(),
        exported.corrected,
        exported.left_out,
        if options.corrected_only {
            ", unchanged"
        } else {
            ""
        },
        exported.unreadable
    );
    println!("manifest {}", options.out.join("corrections.csv").display());
    Ok(())
}

/// Writes every cell of every signed-off slide in `data` to `out/<class>/`, with its
/// final (reviewed) class, and `out/corrections.csv` listing each.
pub fn export(data: &DataDir, out: &Path, corrected_only: bool) -> anyhow::Result<Exported> {
    let mut slides: Vec<String> = data
        .slide_journals()
        .with_context(|| format!("reading the journal folder {}", data.journals().display()))?
        .into_iter()
        .map(|file| file.slide)
        .collect();
    slides.sort();
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut manifest = String::from(
        "slide,cell,machine_class,machine_confidence,reviewed_class,changed,reviewer,image\n",
    );
    let mut exported = Exported::default();
    for slide in slides {
        let review = ReviewLog::read(data, &slide)?;
        let Some(sign_off) = &review.sign_off else {
            continue;
        };
        let report = read_report(&data.report(&slide)).with_context(|| {
            format!("slide {slide} was signed off but its report cannot be read")
        })?;
        exported.slides += 1;
        let images = data.cell_images(&slide);
        for cell in &report.cells {
            let verdict = review.final_verdict(cell);
            let changed = verdict != ReviewVerdict::of_machine(cell.class);
            let class = match verdict {
                ReviewVerdict::Class(c) => report.summary.counts.get(c as usize),
                ReviewVerdict::Unidentified | ReviewVerdict::NotACell => None,
            };
            let Some(class) = class.filter(|_| changed || !corrected_only) else {
                exported.left_out += 1;
                continue;
            };
            // A picture torn by a power cut must not become a training image.
            let Some(jpeg) = images
                .read(cell.id)
                .ok()
                .filter(|bytes| image::load_from_memory(bytes).is_ok())
            else {
                exported.unreadable += 1;
                continue;
            };
            let name = format!("{slide}-cell-{:04}.jpg", cell.id);
            let dir = out.join(&class.name);
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            fs::write(dir.join(&name), jpeg)
                .with_context(|| format!("writing {}", dir.join(&name).display()))?;
            exported.images += 1;
            exported.corrected += usize::from(changed);
            manifest.push_str(&format!(
                "{slide},{},{},{:.4},{},{changed},{},{}/{name}\n",
                cell.id,
                csv_field(&cell.class_name),
                cell.confidence,
                csv_field(&class.name),
                csv_field(&sign_off.initials),
                csv_field(&class.name),
            ));
        }
    }
    fs::write(out.join("corrections.csv"), manifest)
        .with_context(|| format!("writing {}", out.join("corrections.csv").display()))?;
    Ok(exported)
}

/// A CSV field, quoted when it holds a comma or a quote.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}
