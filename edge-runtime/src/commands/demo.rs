//! `leukoscope-edge demo`: a synthetic slide classified end to end by the bundled
//! demonstration model, with the slide's ground truth beside the counts.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use leukoscope_core::artifact::{ModelArtifact, TrustPolicy, VerifiedArtifact};
use leukoscope_core::synth::SlideOptions;
use leukoscope_core::taxonomy::Taxonomy;
use leukoscope_edge::io::source::{
    Frame, FrameSource, Rate, ReadAhead, SourceError, SyntheticSource,
};
use leukoscope_edge::records::layout::DataDir;
use leukoscope_edge::scan::pipeline::{Control, Resume, ScanSettings};
use leukoscope_edge::scan::session::{ClassCount, SessionRules};
use leukoscope_edge::ui::{Desk, DeskMode};

use super::slide::{
    ScaleStart, UiArgs, print_result, scan_slide, slide_desk, start_ui, ui_token, write_slide,
};

/// The demonstration model: `tiny-cnn`, int8, trained on synthetic smear fields only by
/// `leukoscope-train demo` (see `edge-runtime/demo/README.md`). It has never seen a
/// patient's cells.
const DEMO_MODEL: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/demo/synthetic-demo-int8.lsm"
));

/// Options of `demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where the journal and the report go.
    #[arg(long, default_value = "out/demo")]
    pub out: PathBuf,
    /// Seeds the synthetic slide.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of the slide's white cells that are blasts (Early Pre-B, Pre-B, Pro-B in
    /// equal parts), 0 to 1.
    #[arg(long, default_value_t = 0.4)]
    pub blast_share: f32,
    /// Cells whose top probability is below this go to the unidentified bin (the demo
    /// model carries no calibrated threshold).
    #[arg(long, default_value_t = 0.6)]
    pub unidentified_below: f32,
    /// The synthetic microscope's objective: `100x` (oil, 0.1 um per pixel on a full-HD
    /// camera), `40x` (0.25) or `20x` (0.5). Default: 0.42 um per pixel, the scale of the
    /// 4-class reference images the demonstration model learnt from. The scan measures the
    /// scale from the slide's red cells either way, as it does for any slide.
    #[arg(long, value_name = "OBJECTIVE", value_parser = parse_magnification)]
    pub magnification: Option<f32>,
    /// Serve the technician's web UI at --listen while the slide is scanned (at a
    /// camera's pace), and keep serving for review; Start there scans another slide.
    #[arg(long)]
    pub serve: bool,
    #[command(flatten)]
    pub ui: UiArgs,
}

/// The bundled demonstration model, verified like any other.
pub fn demo_model() -> anyhow::Result<VerifiedArtifact> {
    ModelArtifact::decode(DEMO_MODEL, &TrustPolicy::any())
        .context("the bundled demonstration model does not verify (a damaged build?)")
}

/// Micrometres per pixel of the synthetic camera behind an objective named `100x`, `40x`
/// or `20x`.
fn parse_magnification(text: &str) -> Result<f32, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "100x" | "100" => Ok(0.1),
        "40x" | "40" => Ok(0.25),
        "20x" | "20" => Ok(0.5),
        _ => Err(format!(
            "`{}` is not one of the demo's objectives: 100x, 40x or 20x",
            text.chars().take(40).collect::<String>()
        )),
    }
}

pub fn demo(options: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&options.blast_share),
        "--blast-share must be between 0 and 1"
    );
    let model = demo_model()?;
    println!(
        "SYNTHETIC DEMONSTRATION - not for patients: a synthetic slide, classified by a model trained on synthetic smears only"
    );
    let data = DataDir::new(&options.out);
    let settings = ScanSettings {
        session: SessionRules {
            unidentified_below: Some(options.unidentified_below),
            ..SessionRules::default()
        },
        threads: std::thread::available_parallelism().map_or(1, usize::from),
        ..ScanSettings::default()
    };
    let Some(listen) = options.serve.then_some(options.ui.listen) else {
        // The demo is repeatable: a new run replaces the last one of the same seed, its
        // review included.
        let slide_id = slide_id(options.seed);
        for old in [data.journal(&slide_id), data.review_journal(&slide_id)] {
            if old.exists() {
                std::fs::remove_file(&old)
                    .with_context(|| format!("removing {}", old.display()))?;
            }
        }
        return demo_slide(&options, options.seed, &model, &settings, &data, None);
    };
    let desk = slide_desk(DeskMode::Demo, &data, &model, &settings, true);
    let _server = start_ui(
        listen,
        ui_token(options.ui.token_file.as_deref())?,
        desk.clone(),
    )?;
    // Served slides are kept for review: each new one takes the next seed not yet used.
    let mut seed = options.seed;
    loop {
        while data.journal(&slide_id(seed)).exists() {
            seed += 1;
        }
        demo_slide(&options, seed, &model, &settings, &data, Some(&desk))?;
        println!(
            "review it in the UI; Start there scans another synthetic slide (Ctrl-C ends the demo)"
        );
        while !desk.wait_for_start(Duration::from_secs(3600)) {}
    }
}

fn slide_id(seed: u64) -> String {
    format!("demo-seed-{seed}")
}

/// Scans and reports the synthetic slide of `seed`.
fn demo_slide(
    options: &DemoArgs,
    seed: u64,
    model: &VerifiedArtifact,
    settings: &ScanSettings,
    data: &DataDir,
    desk: Option<&Arc<Desk>>,
) -> anyhow::Result<()> {
    let b = options.blast_share / 3.0;
    let slide_options = SlideOptions {
        class_mix: [1.0 - options.blast_share, b, b, b],
        um_per_px: options
            .magnification
            .unwrap_or(leukoscope_core::synth::MICROMETRES_PER_PIXEL),
        ..SlideOptions::default()
    };
    let true_scale = slide_options.um_per_px;
    // Served, the slide goes at a camera's pace, so the live view has something to show.
    let rate = if desk.is_some() {
        Rate::per_second(8.0)?
    } else {
        Rate::Unlimited
    };
    let source = SyntheticSource::new(seed, slide_options, rate)?;
    let seen = Rc::new(RefCell::new(BTreeMap::new()));
    let mut source = ReadAhead::new(TruthRecorder {
        inner: source,
        seen: seen.clone(),
    });
    println!("the synthetic camera's true scale: {true_scale} um/px; measured from its red cells:");
    let slide_id = slide_id(seed);
    let taxonomy = model.artifact.taxonomy.clone();
    let mut frames = 0;
    let scanned = scan_slide(
        &slide_id,
        model,
        settings.clone(),
        &mut source,
        ScaleStart {
            auto: true,
            calibrated: None,
        },
        Resume::SkipDone,
        data,
        desk,
        |scanner, _| {
            frames += 1;
            if frames % 10 == 0 {
                println!(
                    "  {frames} frames, {} cells classified",
                    scanner.session().summary().classified
                );
            }
            Control::Continue
        },
    );
    let (mut finished, journal) = scanned?;
    finished.report.truth = Some(truth_counts(&taxonomy, &seen.borrow()));
    let reason = finished.end.describe();
    let written = write_slide(finished, journal, data);
    if let Some(desk) = desk {
        desk.slide_ended(match &written {
            Ok(_) => reason,
            Err(e) => format!("the report could not be written: {e:#}"),
        });
    }
    print_result(&written?);
    Ok(())
}

/// Per class, the cells the scan's frames showed whole.
fn truth_counts(taxonomy: &Taxonomy, seen: &BTreeMap<u32, u32>) -> Vec<ClassCount> {
    let mut truth: Vec<ClassCount> = taxonomy
        .classes
        .iter()
        .map(|class| ClassCount {
            name: class.name.clone(),
            malignant: class.malignant,
            cells: 0,
        })
        .collect();
    for &class in seen.values() {
        if let Some(count) = truth.get_mut(class as usize) {
            count.cells += 1;
        }
    }
    truth
}

/// The synthetic source, noting the truth of every cell wholly inside a delivered frame.
struct TruthRecorder {
    inner: SyntheticSource,
    seen: Rc<RefCell<BTreeMap<u32, u32>>>,
}

impl FrameSource for TruthRecorder {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let frame = self.inner.next_frame()?;
        if let Some(truth) = self.inner.last_truth() {
            for cell in truth.cells.iter().filter(|c| c.fully_visible) {
                self.seen
                    .borrow_mut()
                    .insert(cell.truth.id, cell.truth.class);
            }
        }
        Ok(frame)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}
