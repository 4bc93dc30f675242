//! A subtype model beside the slide's model: every cell the slide's model counts as a blast
//! is typed, and only those; the typing is journaled after its cell, so a resumed slide
//! and a rebuilt report name the same subtype; a model that names no subtype, or another
//! subtype model than the one a slide began with, is refused.

use std::sync::Arc;

use super::*;
use crate::report::read_report;
use crate::scan::session::{SlideFlag, SubtypeCall};

/// A slide whose white cells are mostly Pre-B blasts.
fn pre_b_slide(count: u32) -> Vec<Frame> {
    let options = SlideOptions {
        world_width: 3200,
        world_height: 1600,
        frame_width: 640,
        frame_height: 480,
        white_cells_per_frame: 6.0,
        class_mix: [0.15, 0.05, 0.75, 0.05],
        ..SlideOptions::default()
    };
    slide_frames(21, options, count)
}

/// The defaults, with `subtype` typing the blasts and a call made on 30 cells (a test
/// slide is small).
fn typed_settings(subtype: VerifiedArtifact) -> ScanSettings {
    ScanSettings {
        session: SessionRules {
            min_cells_for_call: 30,
            ..SessionRules::default()
        },
        subtype_model: Some(Arc::new(subtype)),
        ..settings()
    }
}

fn typed_scanner(
    settings: ScanSettings,
    data: &DataDir,
) -> Result<(SlideScanner, std::path::PathBuf), PipelineError> {
    let (journal, earlier, path) = open_slide_journal(data, "slide-1").expect("journal");
    let scanner = SlideScanner::new(
        "slide-1",
        &demo_model(),
        settings,
        journal,
        earlier,
        Resume::SkipDone,
    )?;
    Ok((scanner, path))
}

#[test]
fn the_blasts_and_only_they_are_typed_and_the_subtype_survives_a_restart_and_a_rebuild() {
    // The demo model types its own blasts: reading the same windows with the same weights,
    // it puts each blast in the class the slide's model counted it in, so the subtype
    // counts must equal the malignant counts exactly.
    let frames = pre_b_slide(16);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = DataDir::new(dir.path().join("board"));
    let settings = typed_settings(demo_model());

    let (mut first, _) = typed_scanner(settings.clone(), &data).expect("scanner");
    for frame in &frames[..7] {
        first.process(frame).expect("frame");
    }
    let before = first.session().summary();
    let typed_before: Vec<_> = first.cells().iter().map(|c| c.subtype.clone()).collect();
    drop(first);
    let (mut scanner, path) = typed_scanner(settings.clone(), &data).expect("resumed");
    assert_eq!(scanner.session().summary(), before);
    let typed_again: Vec<_> = scanner.cells().iter().map(|c| c.subtype.clone()).collect();
    assert_eq!(typed_again, typed_before);
    for frame in &frames {
        scanner.process(frame).expect("frame");
    }
    let finished = scanner
        .finish(&ScanEnd::SourceDone, "test".into(), "then".into())
        .expect("finish");
    let report = &finished.report;
    let summary = &report.summary;

    let taxonomy = demo_model().artifact.taxonomy;
    let mut blasts = 0;
    for cell in &report.cells {
        match cell.class {
            Some(class) if taxonomy.classes[class].malignant => {
                blasts += 1;
                assert_eq!(cell.subtype.as_deref(), Some(cell.class_name.as_str()));
            }
            _ => assert_eq!(cell.subtype, None, "{cell:?}"),
        }
    }
    let subtype = summary.subtype.as_ref().expect("a subtype summary");
    assert_eq!(subtype.taxonomy, "b-all-4");
    let malignant: Vec<_> = summary.counts.iter().filter(|c| c.malignant).collect();
    assert_eq!(subtype.counts.len(), 3);
    for (typed, counted) in subtype.counts.iter().zip(&malignant) {
        assert_eq!((&typed.name, typed.cells), (&counted.name, counted.cells));
    }
    assert_eq!(subtype.undetermined, 0);
    let pre_b = malignant
        .iter()
        .find(|c| c.name == "Pre-B")
        .expect("Pre-B")
        .cells;
    assert!(
        blasts >= 20 && pre_b * 2 > blasts,
        "{blasts} blasts, {pre_b} Pre-B"
    );
    assert!(
        matches!(summary.flag, SlideFlag::SuspiciousRefer { .. }),
        "{:?}",
        summary.flag
    );
    assert_eq!(
        subtype.call,
        SubtypeCall::Named {
            subtype: "Pre-B".into(),
            cells: pre_b,
            blasts,
        }
    );
    assert_eq!(
        report.model.subtype.as_ref().map(|m| m.digest.as_str()),
        Some(report.model.digest.as_str())
    );

    // Each typing is journaled right after the cell it types, and only blasts are typed.
    let entries = Journal::read_all(&path).expect("read");
    let mut typings = 0;
    for pair in entries.windows(2) {
        if let JournalEntry::Subtype(typing) = &pair[1] {
            typings += 1;
            let (cell, _) = pair[0].as_cell().expect("a cell before its typing");
            assert_eq!((cell.frame, cell.bbox), (typing.frame, typing.bbox));
            let top = (0..cell.probabilities.len())
                .max_by(|&a, &b| cell.probabilities[a].total_cmp(&cell.probabilities[b]))
                .expect("classes");
            assert!(taxonomy.classes[top].malignant, "{cell:?}");
        }
    }
    // Blasts left unidentified are typed too (the thresholds are the board's, not the
    // journal's), and counted nowhere.
    assert!(typings >= blasts, "{typings} typings, {blasts} blasts");

    // The report, lost and made again from the journal, names the same subtype.
    rebuild_report(&data, "slide-1", &demo_model(), settings, "now".into()).expect("rebuilt");
    let rebuilt = read_report(&data.report("slide-1")).expect("read");
    // The interval goes through JSON's decimal text, which may move its last bit.
    let mut rebuilt_summary = rebuilt.summary.clone();
    assert!((rebuilt_summary.wilson_95.0 - summary.wilson_95.0).abs() < 1e-12);
    assert!((rebuilt_summary.wilson_95.1 - summary.wilson_95.1).abs() < 1e-12);
    rebuilt_summary.wilson_95 = summary.wilson_95;
    assert_eq!(&rebuilt_summary, summary);
    let subtypes = |cells: &[ReportCell]| {
        cells
            .iter()
            .map(|c| (c.id, c.subtype.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(subtypes(&rebuilt.cells), subtypes(&report.cells));
}

#[test]
fn without_a_subtype_model_the_journal_and_the_report_are_as_before() {
    let frames = pre_b_slide(8);
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut plain, plain_path) =
        typed_scanner(settings(), &DataDir::new(dir.path().join("plain"))).expect("scanner");
    let (mut typed, _) = typed_scanner(
        typed_settings(demo_model()),
        &DataDir::new(dir.path().join("typed")),
    )
    .expect("scanner");
    for frame in &frames {
        plain.process(frame).expect("frame");
        typed.process(frame).expect("frame");
    }
    assert!(plain.cells().len() >= 10, "{} cells", plain.cells().len());
    assert_eq!(counted(&plain), counted(&typed));
    let entries = Journal::read_all(&plain_path).expect("read");
    assert!(
        !entries
            .iter()
            .any(|e| matches!(e, JournalEntry::Subtype(_)))
    );
    let summary = plain.session().summary();
    assert_eq!(summary.subtype, None);
    assert!(plain.cells().iter().all(|c| c.subtype.is_none()));
    // Resumed without its subtype model, a typed slide counts as before and names none.
    drop(typed);
    let (resumed, _) =
        typed_scanner(settings(), &DataDir::new(dir.path().join("typed"))).expect("resumed");
    assert_eq!(counted(&resumed), counted(&plain));
    assert_eq!(resumed.session().summary().subtype, None);
}

#[test]
fn a_model_naming_no_subtype_or_another_subtype_model_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The demo model's classes with one malignant class left: a screen, not a subtype
    // model.
    let mut screen = demo_model();
    for class in &mut screen.artifact.taxonomy.classes[2..] {
        class.malignant = false;
    }
    match typed_scanner(typed_settings(screen), &DataDir::new(dir.path().join("a"))) {
        Err(PipelineError::NotASubtypeModel { taxonomy }) => assert_eq!(taxonomy, "b-all-4"),
        Err(e) => panic!("expected NotASubtypeModel, got {e}"),
        Ok(_) => panic!("a screen was taken for a subtype model"),
    }

    // A slide begun with one subtype model is not finished with another: its tally would
    // mix two models' calls.
    let data = DataDir::new(dir.path().join("b"));
    let (mut first, _) = typed_scanner(typed_settings(demo_model()), &data).expect("scanner");
    for frame in &pre_b_slide(6) {
        first.process(frame).expect("frame");
    }
    assert!(first.cells().iter().any(|c| c.subtype.is_some()));
    drop(first);
    let mut other = demo_model();
    other.digest = leukoscope_core::artifact::Digest([7; 32]);
    match typed_scanner(typed_settings(other), &data) {
        Err(PipelineError::ModelChanged { recorded, .. }) => {
            assert_eq!(recorded, demo_model().digest.to_string());
        }
        Err(e) => panic!("expected ModelChanged, got {e}"),
        Ok(_) => panic!("another subtype model resumed the slide"),
    }
}
