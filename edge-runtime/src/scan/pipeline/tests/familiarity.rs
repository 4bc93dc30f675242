//! A model with a familiarity profile: its cells are journaled with their distance, a
//! slide of strangers ends "review every cell by hand", and a resumed slide or a rebuilt
//! report bins every cell as the scan did.

use leukoscope_core::engine::Engine;
use leukoscope_core::familiarity::FamiliarityProfile;

use super::*;
use crate::report::read_report;
use crate::scan::session::SlideFlag;

/// The demo model with a profile (class centre at the origin, identity whitening: a
/// cell's distance is the length of its features) that finds cells farther than
/// `unfamiliar_above` unfamiliar.
fn profiled_model(unfamiliar_above: f32) -> VerifiedArtifact {
    let mut model = demo_model();
    let d = Engine::new(&model.artifact).expect("engine").features_len();
    let mut whitening = Vec::with_capacity(d * (d + 1) / 2);
    for i in 0..d {
        whitening.extend(std::iter::repeat_n(0.0, i));
        whitening.push(1.0);
    }
    model.artifact.familiarity = Some(FamiliarityProfile {
        features: d as u32,
        whitening,
        centres: vec![0.0; d],
        unfamiliar_above,
    });
    model
}

fn profiled_scanner(
    model: &VerifiedArtifact,
    data: &DataDir,
) -> (SlideScanner, std::path::PathBuf) {
    let (journal, earlier, path) = open_slide_journal(data, "slide-1").expect("journal");
    let scanner = SlideScanner::new(
        "slide-1",
        model,
        settings(),
        journal,
        earlier,
        Resume::SkipDone,
    )
    .expect("scanner");
    (scanner, path)
}

/// The cells of a journal, `(distance measured, distance)` each.
fn journaled_cells(path: &std::path::Path) -> Vec<Option<f32>> {
    Journal::read_all(path)
        .expect("read")
        .iter()
        .filter_map(JournalEntry::as_cell)
        .map(|(_, distance)| distance)
        .collect()
}

#[test]
fn a_slide_of_strangers_ends_for_review_by_hand_and_its_journal_says_so_again() {
    // A threshold no cell comes within: every cell is unfamiliar.
    let model = profiled_model(1e-6);
    let frames = frames(12);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = DataDir::new(dir.path().join("board"));

    // Cut short after half the frames, then resumed: the earlier cells count again as the
    // strangers they were.
    let (mut first, path) = profiled_scanner(&model, &data);
    for frame in &frames[..6] {
        first.process(frame).expect("frame");
    }
    let before = first.session().summary();
    assert!(before.unfamiliar > 0, "{before:?}");
    drop(first);
    let (mut scanner, _) = profiled_scanner(&model, &data);
    assert_eq!(scanner.session().summary(), before);
    for frame in &frames {
        scanner.process(frame).expect("frame");
    }
    let finished = scanner
        .finish(&ScanEnd::SourceDone, "test".into(), "then".into())
        .expect("finish");
    let summary = &finished.report.summary;
    let cells = &finished.report.cells;
    assert!(cells.len() >= 10, "{} cells", cells.len());
    assert_eq!(summary.unfamiliar as usize, cells.len());
    assert_eq!((summary.classified, summary.unidentified), (0, 0));
    assert_eq!(summary.unfamiliar_above, Some(1e-6));
    assert!(summary.counts.iter().all(|c| c.cells == 0));
    assert_eq!(
        summary.flag,
        SlideFlag::Unfamiliar {
            unidentified: 0,
            read: summary.unfamiliar,
            unfamiliar: summary.unfamiliar,
        }
    );
    for cell in cells {
        assert!(cell.unfamiliar, "{cell:?}");
        assert_eq!((cell.class, cell.class_name.as_str()), (None, "unfamiliar"));
        assert!(cell.distance.is_some_and(|d| d > 1e-6), "{cell:?}");
    }
    // Every cell is on disk with its distance, none as a plain `Cell`.
    let journaled = journaled_cells(&path);
    assert_eq!(journaled.len(), cells.len());
    assert!(journaled.iter().all(Option::is_some));
    let distances: Vec<_> = cells.iter().map(|c| c.distance).collect();
    assert_eq!(journaled, distances);

    // The report, lost and made again from the journal, says the same.
    rebuild_report(&data, "slide-1", &model, settings(), "now".into()).expect("rebuilt");
    let rebuilt = read_report(&data.report("slide-1")).expect("read");
    assert_eq!(&rebuilt.summary, summary);
    let bins = |cells: &[ReportCell]| {
        cells
            .iter()
            .map(|c| (c.id, c.class, c.unfamiliar, c.distance))
            .collect::<Vec<_>>()
    };
    assert_eq!(bins(&rebuilt.cells), bins(cells));
}

#[test]
fn a_profile_every_cell_lies_within_changes_no_count() {
    let frames = frames(10);
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, earlier, _) =
        open_slide_journal(&DataDir::new(dir.path().join("plain")), "slide-1").expect("journal");
    let mut plain = scanner(journal, earlier);
    let model = profiled_model(1e30);
    let (mut measured, path) = profiled_scanner(&model, &DataDir::new(dir.path().join("measured")));
    for frame in &frames {
        plain.process(frame).expect("frame");
        measured.process(frame).expect("frame");
    }
    assert!(plain.cells().len() >= 10, "{} cells", plain.cells().len());
    assert_eq!(counted(&measured), counted(&plain));
    let (a, b) = (plain.session().summary(), measured.session().summary());
    assert_eq!(b.unfamiliar, 0);
    assert_eq!(b.unfamiliar_above, Some(1e30));
    assert_eq!(
        (a.counts, a.classified, a.flag),
        (b.counts, b.classified, b.flag)
    );
    // The distances are still measured and kept.
    assert!(journaled_cells(&path).iter().all(Option::is_some));
    assert!(
        measured
            .cells()
            .iter()
            .all(|c| c.distance.is_some() && !c.unfamiliar)
    );
    // The model without a profile journals plain cells, as it always did.
    assert!(plain.cells().iter().all(|c| c.distance.is_none()));
}
