//! `leukoscope-edge report`: a finished slide's report written again from its journal, for
//! a slide whose report a full disk or a power cut kept from being written (the UI lists
//! it as "report missing").

use std::path::PathBuf;

use anyhow::Context;
use leukoscope_edge::io::settings::BoardSettings;
use leukoscope_edge::records::now_rfc3339;
use leukoscope_edge::scan::pipeline::{ScanSettings, rebuild_report};
use leukoscope_edge::scan::scale::ScaleSetting;

use super::replay::scan_settings;
use super::slide::{
    ModelChoice, SubtypeChoice, check_slide_id, data_folder, load_chosen_model, load_chosen_subtype,
};

/// Options of `report`.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// The slide's id.
    #[arg(long)]
    pub slide: String,
    /// The data folder holding slides/ and reports/ (a demo's or replay's --out).
    #[arg(long, conflicts_with = "board", required_unless_present = "board")]
    pub data: Option<PathBuf>,
    /// The board's settings: its storage folder, model, thresholds and trusted keys.
    #[arg(long)]
    pub board: Option<PathBuf>,
    // The models the slide was scanned with.
    #[command(flatten)]
    pub model: ModelChoice,
    #[command(flatten)]
    pub subtype: SubtypeChoice,
    /// The micrometres per pixel the slide was given when scanned (default: the board's); a
    /// scale measured from its red cells is in its journal and wins.
    #[arg(long, value_name = "UM")]
    pub um_per_px: Option<ScaleSetting>,
}

pub fn report(options: ReportArgs) -> anyhow::Result<()> {
    check_slide_id(&options.slide)?;
    let board = options
        .board
        .as_deref()
        .map(BoardSettings::load)
        .transpose()?;
    let data = data_folder(options.data.as_deref(), board.as_ref())?;
    let mut settings = board
        .as_ref()
        .map_or_else(ScanSettings::default, scan_settings);
    if let Some(ScaleSetting::Given(um)) = options.um_per_px {
        settings.set_given_scale(um);
    }
    settings.subtype_model =
        load_chosen_subtype(options.subtype, &options.model.trusted_keys, board.as_ref())?;
    let (_, model) = load_chosen_model(options.model, board.as_ref())?;
    let files = rebuild_report(&data, &options.slide, &model, settings, now_rfc3339())
        .with_context(|| format!("rebuilding the report of slide {}", options.slide))?;
    println!(
        "slide {}: report written again from its journal",
        options.slide
    );
    println!("report  {}", files.html.display());
    println!("json    {}", files.json.display());
    Ok(())
}
