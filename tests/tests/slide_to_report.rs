//! A synthetic slide through the whole edge pipeline, judged against the slide's ground
//! truth: cells found and counted once across overlapping frames, classified by the
//! demonstration model, recorded, and reported as JSON and HTML.

use std::collections::{HashMap, HashSet};

use leukoscope_core::artifact::{ModelArtifact, TrustPolicy};
use leukoscope_core::synth::{SlideOptions, SyntheticSlide};
use leukoscope_edge::io::source::{FrameSource, Rate, SyntheticSource};
use leukoscope_edge::records::JournalEntry;
use leukoscope_edge::records::journal::{Journal, open_slide_journal};
use leukoscope_edge::records::layout::DataDir;
use leukoscope_edge::report::write_report;
use leukoscope_edge::scan::pipeline::{Control, Resume, ScanEnd, ScanSettings, SlideScanner};

#[test]
fn synthetic_slide_to_report_matches_its_ground_truth() {
    let model = ModelArtifact::decode(
        include_bytes!("../../edge-runtime/demo/synthetic-demo-int8.lsm"),
        &TrustPolicy::any(),
    )
    .expect("the demo model verifies");
    let options = SlideOptions {
        class_mix: [0.5, 0.2, 0.2, 0.1],
        ..SlideOptions::default()
    };
    let seed = 3;
    let slide = SyntheticSlide::new(seed, options.clone()).expect("slide");
    let frames = 40;
    let mut source = SyntheticSource::new(seed, options, Rate::Unlimited)
        .expect("source")
        .frames(0..frames);

    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, earlier, journal_path) =
        open_slide_journal(&DataDir::new(dir.path()), "e2e").expect("journal");
    let mut scanner = SlideScanner::new(
        "e2e",
        &model,
        ScanSettings::default(),
        journal,
        earlier,
        Resume::SkipDone,
    )
    .expect("scanner");
    let end = scanner
        .scan(&mut source, |_, _| Control::Continue)
        .expect("scan");
    assert_eq!(end, ScanEnd::SourceDone);

    // The truth: which cell each counted one is, by the frame it was counted in.
    let mut truth_of: HashMap<u64, Vec<(u32, u32, [u32; 4])>> = HashMap::new();
    let mut whole_cells: HashMap<u32, u32> = HashMap::new();
    for i in 0..frames {
        let frame = slide.frame(i).expect("frame");
        for cell in &frame.cells {
            let b = cell.truth.bbox;
            truth_of.entry(u64::from(i)).or_default().push((
                cell.truth.id,
                cell.truth.class,
                [b.x, b.y, b.width, b.height],
            ));
            if cell.fully_visible {
                whole_cells.insert(cell.truth.id, cell.truth.class);
            }
        }
    }
    let mut seen = HashSet::new();
    let mut correct = 0;
    let mut false_cells = 0;
    for cell in scanner.cells() {
        let cx = cell.bbox[0] + cell.bbox[2] / 2;
        let cy = cell.bbox[1] + cell.bbox[3] / 2;
        let hit = truth_of[&cell.frame]
            .iter()
            .find(|(_, _, b)| cx >= b[0] && cx < b[0] + b[2] && cy >= b[1] && cy < b[1] + b[3]);
        match hit {
            Some(&(id, class, _)) => {
                assert!(seen.insert(id), "cell {id} counted twice");
                correct += usize::from(cell.class == Some(class as usize));
            }
            None => false_cells += 1,
        }
    }
    let counted = scanner.cells().len();
    let recall = seen.len() as f64 / whole_cells.len() as f64;
    let precision = seen.len() as f64 / counted as f64;
    let accuracy = correct as f64 / seen.len() as f64;
    println!(
        "{counted} counted, {} whole cells in the frames, recall {recall:.3}, precision {precision:.3}, class accuracy {accuracy:.3}, {false_cells} false",
        whole_cells.len()
    );
    assert!(whole_cells.len() >= 60, "{} cells", whole_cells.len());
    assert!(recall >= 0.95, "recall {recall}");
    assert!(precision >= 0.95, "precision {precision}");
    assert!(accuracy >= 0.85, "class accuracy {accuracy}");

    // Every counted cell is in the journal, and the report says what the session counted.
    let finished = scanner
        .finish(&end, source.describe(), "2026-11-22T00:00:00Z".into())
        .expect("finish");
    let records = Journal::read_all(&journal_path).expect("journal");
    let cells_recorded = records.iter().filter(|e| e.as_cell().is_some()).count();
    assert_eq!(cells_recorded, counted);
    assert!(matches!(records.last(), Some(JournalEntry::SlideEnd(_))));

    let files = write_report(
        &dir.path().join("report"),
        &finished.report,
        &finished.thumbnails,
        &finished.snapshots,
    )
    .expect("report");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files.json).expect("json")).expect("parse");
    let per_class: Vec<u64> = json["summary"]["counts"]
        .as_array()
        .expect("counts")
        .iter()
        .map(|c| c["cells"].as_u64().expect("cells"))
        .collect();
    let unidentified = json["summary"]["unidentified"]
        .as_u64()
        .expect("unidentified");
    assert_eq!(per_class.iter().sum::<u64>() + unidentified, counted as u64);
    for (class, &n) in per_class.iter().enumerate() {
        let listed = finished
            .report
            .cells
            .iter()
            .filter(|c| c.class == Some(class))
            .count();
        assert_eq!(n, listed as u64);
        let truth = whole_cells
            .values()
            .filter(|&&c| c as usize == class)
            .count() as f64;
        assert!(
            (n as f64 - truth).abs() <= (0.2 * truth).max(4.0),
            "class {class}: {n} counted, {truth} in truth"
        );
    }
    assert!(json["model"]["demonstration"].as_bool().expect("flag"));
    let html = std::fs::read_to_string(&files.html).expect("html");
    assert!(html.contains("SYNTHETIC DEMONSTRATION"));
    assert!(html.contains("confirmed by a trained reader"));
    assert!(html.matches("data:image/png;base64").count() >= counted);
    assert!(!files.snapshots.is_empty());
}
