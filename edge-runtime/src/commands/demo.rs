//! `leukoscope-edge demo`: a synthetic slide classified end to end by the bundled
//! demonstration model, with the slide's ground truth beside the counts.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use anyhow::Context;
use leukoscope_core::artifact::{ModelArtifact, TrustPolicy, VerifiedArtifact};
use leukoscope_core::synth::SlideOptions;
use leukoscope_core::taxonomy::Taxonomy;
use leukoscope_edge::pipeline::{Control, Resume, ScanSettings};
use leukoscope_edge::session::{ClassCount, SessionRules};
use leukoscope_edge::source::{Frame, FrameSource, Rate, SourceError, SyntheticSource};

use super::slide::{SlidePaths, print_result, scan_slide, write_slide};

/// The demonstration model: `tiny-cnn`, int8, trained on synthetic smear fields only by
/// `leukoscope-train demo` (see `edge-runtime/demo/README.md`). It has never seen a
/// patient's cells.
const DEMO_MODEL: &[u8] = include_bytes!("../../demo/synthetic-demo-int8.lsm");

/// Options of the demo.
pub struct DemoOptions {
    pub out: PathBuf,
    pub seed: u64,
    pub blast_share: f32,
    pub unidentified_below: f32,
}

/// The bundled demonstration model, verified like any other.
pub fn demo_model() -> anyhow::Result<VerifiedArtifact> {
    ModelArtifact::decode(DEMO_MODEL, &TrustPolicy::any())
        .context("the bundled demonstration model does not verify (a damaged build?)")
}

pub fn demo(options: DemoOptions) -> anyhow::Result<()> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&options.blast_share),
        "--blast-share must be between 0 and 1"
    );
    let model = demo_model()?;
    println!(
        "SYNTHETIC DEMONSTRATION - not for patients: a synthetic slide, classified by a model trained on synthetic smears only"
    );
    let b = options.blast_share / 3.0;
    let slide_options = SlideOptions {
        class_mix: [1.0 - options.blast_share, b, b, b],
        ..SlideOptions::default()
    };
    let source = SyntheticSource::new(options.seed, slide_options, Rate::Unlimited)?;
    let seen = Rc::new(RefCell::new(BTreeMap::new()));
    let mut source = TruthRecorder {
        inner: source,
        seen: seen.clone(),
    };
    let slide_id = format!("demo-seed-{}", options.seed);
    let paths = SlidePaths {
        journals: options.out.join("journals"),
        reports: options.out.join("reports"),
    };
    // The demo is repeatable: a new run replaces the last one of the same seed.
    let old = paths.journals.join(format!("{slide_id}.journal"));
    if old.exists() {
        std::fs::remove_file(&old).with_context(|| format!("removing {}", old.display()))?;
    }
    let settings = ScanSettings {
        session: SessionRules {
            unidentified_below: Some(options.unidentified_below),
            ..SessionRules::default()
        },
        threads: std::thread::available_parallelism().map_or(1, usize::from),
        ..ScanSettings::default()
    };
    let taxonomy = model.artifact.taxonomy.clone();
    let mut frames = 0;
    let scanned = scan_slide(
        &slide_id,
        &model,
        settings,
        &mut source,
        Resume::SkipDone,
        &paths,
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
    print_result(&write_slide(finished, journal, &paths)?);
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
