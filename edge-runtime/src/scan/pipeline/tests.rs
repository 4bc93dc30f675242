use std::io::{self, Write};

use leukoscope_core::artifact::{ModelArtifact, TrustPolicy};
use leukoscope_core::synth::{Defect, SlideOptions, SyntheticSlide};

use super::*;
use crate::io::source::{Backoff, LinkEvent, Reconnecting, SourceError};
use crate::records::RejectReason;
use crate::records::journal::open_slide_journal;
use crate::records::journal::tests::FillingDisk;
use crate::records::layout::DataDir;

fn demo_model() -> VerifiedArtifact {
    let bytes = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/demo/synthetic-demo-int8.lsm"
    ));
    ModelArtifact::decode(bytes, &TrustPolicy::any()).expect("the demo model verifies")
}

/// Consecutive frames of a small synthetic scan.
fn frames(count: u32) -> Vec<Frame> {
    frames_with(count, Vec::new())
}

/// The same, with defects on some frames.
fn frames_with(count: u32, defects: Vec<(u32, Defect)>) -> Vec<Frame> {
    let options = SlideOptions {
        world_width: 2400,
        world_height: 1600,
        frame_width: 640,
        frame_height: 480,
        white_cells_per_frame: 4.0,
        defects,
        ..SlideOptions::default()
    };
    slide_frames(5, options, count)
}

/// The first `count` frames of synthetic slide `seed` laid out by `options`.
fn slide_frames(seed: u64, options: SlideOptions, count: u32) -> Vec<Frame> {
    let slide = SyntheticSlide::new(seed, options).expect("slide");
    (0..count.min(slide.frame_count()))
        .map(|i| Frame {
            index: u64::from(i),
            image: slide.frame(i).expect("frame").image,
            captured: Instant::now(),
            origin: format!("frame {i}"),
            stage_um: None,
        })
        .collect()
}

fn scanner<S: JournalStorage>(journal: Journal<S>, earlier: Vec<JournalEntry>) -> SlideScanner<S> {
    SlideScanner::new(
        "slide-1",
        &demo_model(),
        settings(),
        journal,
        earlier,
        Resume::SkipDone,
    )
    .expect("scanner")
}

/// The defaults.
fn settings() -> ScanSettings {
    ScanSettings::default()
}

/// What a slide counted: `(frame, box, class)` of every cell, sorted.
fn counted(scanner: &SlideScanner<impl JournalStorage>) -> Vec<(u64, [u32; 4], Option<usize>)> {
    let mut cells: Vec<_> = scanner
        .cells()
        .iter()
        .map(|c| (c.frame, c.bbox, c.class))
        .collect();
    cells.sort();
    cells
}

/// A power cut simulated on the journal at `path`: its records after the first that
/// `cut_after` picks are gone. Returns how many are kept.
fn cut_journal_after(path: &std::path::Path, cut_after: impl Fn(&JournalEntry) -> bool) -> usize {
    let entries = Journal::read_all(path).expect("read");
    let keep = entries
        .iter()
        .position(cut_after)
        .expect("a record to cut after")
        + 1;
    std::fs::remove_file(path).expect("remove");
    let (mut rewritten, _) = Journal::open(path).expect("new journal");
    rewritten.append_all(&entries[..keep]).expect("append");
    keep
}

#[test]
fn every_counted_cell_gets_its_picture_and_every_detection_its_box() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, earlier, _) =
        open_slide_journal(&DataDir::new(dir.path().join("journals")), "slide-1").expect("journal");
    let images = CellImages::new(&dir.path().join("cells"), "slide-1");
    let mut scanner = scanner(journal, earlier).keep_cell_images(images.clone());
    let window = scanner.classifier.window_side();
    for frame in &frames(6) {
        let outcome = scanner.process(frame).expect("frame");
        assert_eq!(outcome.boxes.len(), outcome.detected);
        for (counted, _) in &outcome.counted {
            assert!(outcome.boxes.contains(counted), "{counted:?}");
        }
    }
    assert!(scanner.cells().len() >= 5, "{}", scanner.cells().len());
    assert_eq!(scanner.flush_cell_images(), 0);
    for cell in scanner.cells() {
        let picture = image::load_from_memory(&images.read(cell.id).expect("picture"))
            .expect("decodes")
            .to_rgb8();
        // The window the model classified, at frame resolution.
        assert_eq!(picture.dimensions(), (window, window));
    }
    assert!(images.read(scanner.cells().len() as u32).is_err());
}

#[test]
fn a_crash_mid_frame_loses_nothing_and_counts_nothing_twice() {
    let frames = frames(16);
    let dir = tempfile::tempdir().expect("tempdir");

    let (journal, earlier, _) =
        open_slide_journal(&DataDir::new(dir.path().join("whole")), "slide-1").expect("journal");
    let mut whole = scanner(journal, earlier);
    for frame in &frames {
        whole.process(frame).expect("frame");
    }
    let expected = counted(&whole);
    assert!(expected.len() >= 20, "{} cells", expected.len());

    // The same slide, cut short in the middle of a frame with cells: its first cell
    // reached the disk, the rest and the frame's own record did not, and a torn
    // half-record follows.
    let (journal, earlier, path) =
        open_slide_journal(&DataDir::new(dir.path().join("cut")), "slide-1").expect("journal");
    let mut first = scanner(journal, earlier);
    let mut cut_frame = None;
    for frame in &frames {
        let outcome = first.process(frame).expect("frame");
        if frame.index >= 6 && outcome.counted.len() >= 2 {
            cut_frame = Some(frame.index);
            break;
        }
    }
    let cut_frame = cut_frame.expect("a frame with two new cells");
    drop(first);
    let keep = cut_journal_after(
        &path,
        |e| matches!(e, JournalEntry::Cell(c) if c.frame == cut_frame),
    );
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    file.write_all(&[40, 0, 0, 0, 1, 2]).expect("torn tail");
    drop(file);

    let (journal, earlier, _) =
        open_slide_journal(&DataDir::new(dir.path().join("cut")), "slide-1").expect("reopen");
    assert_eq!(
        earlier.len(),
        keep,
        "the torn tail is dropped, the rest kept"
    );
    let mut resumed = scanner(journal, earlier);
    let before = resumed.session().summary().classified + resumed.session().summary().unidentified;
    assert_eq!(before as usize, resumed.cells().len());
    for frame in &frames {
        resumed.process(frame).expect("frame");
    }
    assert_eq!(counted(&resumed), expected);
    assert_eq!(resumed.session().summary(), whole.session().summary());
    assert_eq!(resumed.tally().frames(), whole.tally().frames());
}

/// Photographs of separate fields: frame 3 of three different synthetic slides, each with
/// nuclei cut by its edges.
fn photographs() -> Vec<Frame> {
    [21, 22, 23]
        .into_iter()
        .enumerate()
        .map(|(i, seed)| {
            let slide = SyntheticSlide::new(
                seed,
                SlideOptions {
                    world_width: 4200,
                    world_height: 2400,
                    white_cells_per_frame: 12.0,
                    ..SlideOptions::default()
                },
            )
            .expect("slide");
            Frame {
                index: i as u64,
                image: slide.frame(3).expect("frame 3").image,
                captured: Instant::now(),
                origin: format!("photo {i}"),
                stage_um: None,
            }
        })
        .collect()
}

fn partial_records(entries: &[JournalEntry]) -> Vec<(u64, [u32; 4])> {
    entries
        .iter()
        .filter_map(|e| match e {
            JournalEntry::PartialCell(p) => Some((p.frame, p.bbox)),
            _ => None,
        })
        .collect()
}

#[test]
fn cells_cut_by_the_edge_are_recorded_once_as_partial_and_not_classified() {
    let photos = photographs();
    let mut detector = CellDetector::new(DetectorConfig::default()).expect("defaults");
    let cut: Vec<(u64, [u32; 4])> = photos
        .iter()
        .flat_map(|f| {
            detector
                .detect(&f.image)
                .into_iter()
                .filter(|d| d.touches_border)
                .map(|d| (f.index, d.bbox))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(cut.len() >= 3, "{cut:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = DataDir::new(dir.path().join("whole"));
    let (journal, earlier, path) = open_slide_journal(&data, "slide-1").expect("journal");
    let mut whole = scanner(journal, earlier);
    for photo in &photos {
        whole.process(photo).expect("frame");
    }
    let classified = whole.cells().len();
    let finished = whole
        .finish(&ScanEnd::SourceDone, "test".into(), "now".into())
        .expect("finish");
    let entries = Journal::read_all(&path).expect("read");
    assert_eq!(partial_records(&entries), cut);
    let report = &finished.report;
    assert_eq!(report.summary.partial as usize, cut.len());
    let listed: Vec<_> = report
        .partial_cells
        .iter()
        .map(|p| (p.frame, p.bbox))
        .collect();
    assert_eq!(listed, cut);
    // None of them is among the classified cells.
    assert_eq!(report.cells.len(), classified);
    assert!(
        report
            .cells
            .iter()
            .all(|c| !cut.contains(&(c.frame, c.bbox)))
    );

    // A power cut while the second photograph's records were written: the first's cut
    // cells (given back when the second began) reached the disk, the frame did not.
    let data = DataDir::new(dir.path().join("cut"));
    let (journal, earlier, path) = open_slide_journal(&data, "slide-1").expect("journal");
    let mut first = scanner(journal, earlier);
    for photo in &photos[..2] {
        first.process(photo).expect("frame");
    }
    drop(first);
    cut_journal_after(&path, |e| matches!(e, JournalEntry::PartialCell(_)));
    let (journal, earlier, _) = open_slide_journal(&data, "slide-1").expect("reopen");
    let mut resumed = scanner(journal, earlier);
    assert_eq!(resumed.session().summary().partial, 1);
    for photo in &photos {
        resumed.process(photo).expect("frame");
    }
    let finished = resumed
        .finish(&ScanEnd::SourceDone, "test".into(), "now".into())
        .expect("finish");
    assert_eq!(
        partial_records(&Journal::read_all(&path).expect("read")),
        cut
    );
    assert_eq!(finished.report.summary.partial as usize, cut.len());
}

#[test]
fn a_measured_scale_is_recorded_once_and_found_again_on_resume() {
    let frames = frames(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = DataDir::new(dir.path());
    let measured = SlideScale {
        um_per_px: 0.4125,
        uncertainty: 0.03,
        red_cells: 61,
    };
    let mut measured_settings = settings();
    measured_settings.set_measured_scale(measured);
    let model = demo_model();
    let start = |settings: ScanSettings| {
        let (journal, earlier, path) = open_slide_journal(&data, "slide-1").expect("journal");
        let found = recorded_scale(&earlier);
        let scanner = SlideScanner::new(
            "slide-1",
            &model,
            settings,
            journal,
            earlier,
            Resume::SkipDone,
        )
        .expect("scanner");
        (scanner, found, path)
    };
    let (mut first, found, path) = start(measured_settings.clone());
    assert_eq!(found, None);
    first.process(&frames[0]).expect("frame");
    drop(first);
    let (mut second, found, _) = start(measured_settings);
    assert_eq!(found, Some(measured));
    for frame in &frames {
        second.process(frame).expect("frame");
    }
    drop(second);
    let entries = Journal::read_all(&path).expect("read");
    let scales = entries
        .iter()
        .filter(|e| matches!(e, JournalEntry::Scale(_)))
        .count();
    assert_eq!(scales, 1, "{entries:?}");
    assert!(matches!(entries[0], JournalEntry::Scale(_)));
    // A given scale is the board's, not the slide's: nothing is recorded.
    let (journal, earlier, path) = open_slide_journal(&data, "slide-2").expect("journal");
    SlideScanner::new(
        "slide-2",
        &model,
        settings(),
        journal,
        earlier,
        Resume::SkipDone,
    )
    .expect("scanner");
    assert!(Journal::read_all(&path).expect("read").is_empty());
}

#[test]
fn a_resumed_slide_judges_focus_against_its_recorded_best_frames() {
    let frames = frames(8);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = DataDir::new(dir.path());
    let (journal, earlier, _) = open_slide_journal(&data, "slide-1").expect("journal");
    let mut first = scanner(journal, earlier);
    for frame in &frames[..5] {
        first.process(frame).expect("frame");
    }
    let reference = first
        .focus_reference()
        .expect("a reference after five frames");
    drop(first);
    let (journal, earlier, _) = open_slide_journal(&data, "slide-1").expect("reopen");
    let resumed = scanner(journal, earlier);
    // Before it sees a frame, not after: a first soft frame would otherwise be held only
    // to the absolute floor.
    assert_eq!(resumed.focus_reference(), Some(reference));
}

#[test]
fn a_restarted_camera_numbers_its_frames_after_the_recorded_ones() {
    let frames = frames(10);
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, earlier, path) =
        open_slide_journal(&DataDir::new(dir.path()), "slide-1").expect("j");
    let mut first = scanner(journal, earlier);
    for frame in &frames[..6] {
        first.process(frame).expect("frame");
    }
    let before = first.cells().len();
    drop(first);
    let (journal, earlier, _) =
        open_slide_journal(&DataDir::new(dir.path()), "slide-1").expect("j");
    let mut resumed = SlideScanner::new(
        "slide-1",
        &demo_model(),
        settings(),
        journal,
        earlier,
        Resume::Continue,
    )
    .expect("scanner");
    assert_eq!(resumed.cells().len(), before);
    // The camera restarts its own count at 0.
    for (i, frame) in frames[6..].iter().enumerate() {
        let renumbered = Frame {
            index: i as u64,
            ..frame.clone()
        };
        let outcome = resumed.process(&renumbered).expect("frame");
        assert_eq!(outcome.frame, 6 + i as u64);
    }
    assert!(resumed.cells().len() > before);
    let frames_recorded: Vec<u64> = Journal::read_all(&path)
        .expect("read")
        .iter()
        .filter_map(|e| match e {
            JournalEntry::Frame(f) => Some(f.frame),
            _ => None,
        })
        .collect();
    assert_eq!(frames_recorded, (0..10).collect::<Vec<u64>>());
}

#[test]
fn a_mostly_blurred_slide_ends_with_advice_instead_of_a_result() {
    let defects = (0..16)
        .filter(|i| i % 4 != 0)
        .map(|i| (i, Defect::Defocus(6)))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _, _) = open_slide_journal(&DataDir::new(dir.path()), "slide-1").expect("j");
    let mut scanner = scanner(journal, Vec::new());
    let mut source = FlakyCamera {
        frames: frames_with(16, defects).into_iter(),
        outages: Vec::new(),
        failing: 0,
    };
    let end = scanner
        .scan(&mut source, |_, _| Control::Continue)
        .expect("scan");
    let ScanEnd::Advice(advice) = &end else {
        panic!("{end:?}");
    };
    assert_eq!(advice.reason, RejectReason::OutOfFocus);
    // It ends as soon as the advice holds: after the fewest frames it needs.
    assert_eq!(
        scanner.tally().frames(),
        settings().quality.min_frames_for_advice
    );
    let finished = scanner
        .finish(&end, "test".into(), "now".into())
        .expect("finish");
    let text = finished.report.advice.expect("advice instead of a result");
    assert!(text.contains("focus"), "{text}");
}

#[test]
fn a_finished_or_foreign_journal_is_not_resumed() {
    let frames = frames(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, earlier, _) =
        open_slide_journal(&DataDir::new(dir.path()), "slide-1").expect("journal");
    let mut first = scanner(journal, earlier);
    for frame in &frames {
        first.process(frame).expect("frame");
    }
    first
        .finish(&ScanEnd::SourceDone, "test".into(), "now".into())
        .expect("finish");
    let (journal, earlier, _) =
        open_slide_journal(&DataDir::new(dir.path()), "slide-1").expect("journal");
    let model = demo_model();
    let again = SlideScanner::new(
        "slide-1",
        &model,
        settings(),
        journal,
        earlier.clone(),
        Resume::SkipDone,
    );
    assert!(matches!(again, Err(PipelineError::AlreadyFinished(_))));
    let (journal, _, _) =
        open_slide_journal(&DataDir::new(dir.path()), "slide-2").expect("journal");
    let foreign = SlideScanner::new(
        "slide-2",
        &model,
        settings(),
        journal,
        earlier,
        Resume::SkipDone,
    );
    let err = foreign.err().expect("refused");
    assert!(err.to_string().contains("slide-1"), "{err}");
}

#[test]
fn a_full_disk_stops_the_slide_with_every_counted_cell_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("slide-1.journal");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .expect("file");
    let disk = FillingDisk { file, budget: 1500 };
    let (journal, _) = Journal::from_storage(disk, &path).expect("journal");
    let mut scanner = scanner(journal, Vec::new());
    let mut stopped = None;
    for frame in frames(16) {
        if let Err(e) = scanner.process(&frame) {
            stopped = Some(e);
            break;
        }
    }
    let err = stopped.expect("the disk fills up");
    assert!(
        matches!(err, PipelineError::Journal(JournalError::Full { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("full"), "{err}");
    // Every counted cell is a whole record on the disk, and nothing else is there.
    let counted = scanner.cells().len();
    assert!(counted > 0);
    drop(scanner);
    let (_, recovery) = Journal::open(&path).expect("the journal reads back cleanly");
    assert_eq!(recovery.dropped_tail_bytes, 0);
    let cells_on_disk = Journal::read_all(&path)
        .expect("read")
        .iter()
        .filter(|e| matches!(e, JournalEntry::Cell(_)))
        .count();
    assert_eq!(cells_on_disk, counted);
}

#[test]
fn a_report_lost_to_a_full_disk_is_written_again_from_the_finished_journal() {
    use crate::report::{read_report, write_report};
    let dir = tempfile::tempdir().expect("tempdir");
    let data = DataDir::new(dir.path().join("board"));
    let (journal, earlier, _) = open_slide_journal(&data, "slide-1").expect("journal");
    let mut first = scanner(journal, earlier).keep_cell_images(data.cell_images("slide-1"));
    let mut source = FlakyCamera {
        frames: frames(8).into_iter(),
        outages: Vec::new(),
        failing: 0,
    };
    let end = first
        .scan(&mut source, |_, _| Control::Continue)
        .expect("scan");
    assert_eq!(first.flush_cell_images(), 0);
    let rebuild = || rebuild_report(&data, "slide-1", &demo_model(), settings(), "now".into());
    assert!(
        matches!(rebuild(), Err(RebuildError::NotFinished(_))),
        "an unfinished slide is resumed, not reported"
    );
    let finished = first
        .finish(&end, "test".into(), "then".into())
        .expect("finish");
    assert!(!finished.report.cells.is_empty());

    // The disk filled as the report was written: its folder could not be made.
    let report_dir = data.report("slide-1");
    std::fs::create_dir_all(data.reports()).expect("reports");
    std::fs::write(&report_dir, b"").expect("in the way");
    let write =
        |dir: &std::path::Path| write_report(dir, &finished.report, &finished.thumbnails, &[]);
    assert!(write(&report_dir).is_err());
    std::fs::remove_file(&report_dir).expect("space freed");
    let (journal, earlier, _) = open_slide_journal(&data, "slide-1").expect("journal");
    let again = SlideScanner::new(
        "slide-1",
        &demo_model(),
        settings(),
        journal,
        earlier,
        Resume::SkipDone,
    );
    assert!(matches!(again, Err(PipelineError::AlreadyFinished(_))));

    let journal_bytes = std::fs::read(data.journal("slide-1")).expect("read");
    let files = rebuild().expect("rebuilt");
    assert!(files.html.is_file());
    let rebuilt = read_report(&report_dir).expect("read");
    let original_dir = dir.path().join("original");
    write(&original_dir).expect("the report as it would have been");
    let original = read_report(&original_dir).expect("read");
    assert_eq!(rebuilt.summary, original.summary);
    assert_eq!(rebuilt.quality, original.quality);
    assert_eq!(rebuilt.partial_cells, original.partial_cells);
    assert_eq!(rebuilt.scale, original.scale);
    assert_eq!(rebuilt.model, original.model);
    let calls = |r: &crate::report::SlideReport| {
        r.cells
            .iter()
            .map(|c| (c.id, c.frame, c.bbox, c.class, c.probabilities.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(calls(&rebuilt), calls(&original));
    // Every cell keeps a picture in the report: its review picture.
    assert!(rebuilt.cells.iter().all(|c| c.thumbnail.is_some()));
    assert!(
        rebuilt.source.starts_with("rebuilt from journal"),
        "{}",
        rebuilt.source
    );
    // The journal is only read.
    assert_eq!(
        std::fs::read(data.journal("slide-1")).expect("read"),
        journal_bytes
    );
}

/// Frames of a scan, with the camera gone for a while before some of them.
struct FlakyCamera {
    frames: std::vec::IntoIter<Frame>,
    outages: Vec<(u64, u32)>,
    failing: u32,
}

impl FrameSource for FlakyCamera {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let next = self.frames.as_slice().first().map(|f| f.index);
        if let Some(&(_, failures)) = self.outages.iter().find(|(at, _)| Some(*at) == next) {
            if self.failing < failures {
                self.failing += 1;
                return Err(SourceError::Disconnected {
                    device: "/dev/video0".into(),
                    cause: io::Error::new(io::ErrorKind::NotFound, "unplugged"),
                });
            }
            self.failing = 0;
            self.outages.retain(|(at, _)| Some(*at) != next);
        }
        Ok(self.frames.next())
    }

    fn describe(&self) -> String {
        "flaky camera".into()
    }
}

#[test]
fn a_camera_unplugged_mid_slide_keeps_the_session() {
    let frames = frames(12);
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _, _) =
        open_slide_journal(&DataDir::new(dir.path().join("a")), "slide-1").expect("j");
    let mut steady = scanner(journal, Vec::new());
    let mut source = FlakyCamera {
        frames: frames.clone().into_iter(),
        outages: Vec::new(),
        failing: 0,
    };
    assert_eq!(
        steady
            .scan(&mut source, |_, _| Control::Continue)
            .expect("scan"),
        ScanEnd::SourceDone
    );

    let (journal, _, _) =
        open_slide_journal(&DataDir::new(dir.path().join("b")), "slide-1").expect("j");
    let mut flaky = scanner(journal, Vec::new());
    let mut events = Vec::new();
    let mut source = Reconnecting::new(
        FlakyCamera {
            frames: frames.into_iter(),
            outages: vec![(4, 3), (9, 1)],
            failing: 0,
        },
        Backoff {
            initial: Duration::from_millis(1),
            factor: 2,
            max: Duration::from_millis(4),
            patience: None,
        },
        |event: &LinkEvent| events.push(event.clone()),
    );
    let end = flaky
        .scan(&mut source, |_, _| Control::Continue)
        .expect("scan");
    assert_eq!(end, ScanEnd::SourceDone);
    drop(source);
    assert_eq!(counted(&flaky), counted(&steady));
    let lost = events
        .iter()
        .filter(|e| matches!(e, LinkEvent::Lost { .. }))
        .count();
    let back = events
        .iter()
        .filter(|e| matches!(e, LinkEvent::Restored { .. }))
        .count();
    assert_eq!((lost, back), (2, 2), "{events:?}");
}

#[test]
fn a_camera_that_never_returns_ends_the_slide_with_its_counts() {
    let frames = frames(6);
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _, _) = open_slide_journal(&DataDir::new(dir.path()), "slide-1").expect("j");
    let mut scanner = scanner(journal, Vec::new());
    let mut source = Reconnecting::new(
        FlakyCamera {
            frames: frames.into_iter(),
            outages: vec![(3, u32::MAX)],
            failing: 0,
        },
        Backoff {
            initial: Duration::from_millis(1),
            factor: 2,
            max: Duration::from_millis(2),
            patience: Some(Duration::from_millis(20)),
        },
        |_: &LinkEvent| {},
    );
    let end = scanner
        .scan(&mut source, |_, _| Control::Continue)
        .expect("scan");
    assert!(
        matches!(&end, ScanEnd::SourceFailed(why) if why.contains("unplugged")),
        "{end:?}"
    );
    assert_eq!(scanner.tally().frames(), 3);
    let finished = scanner
        .finish(&end, "flaky camera".into(), "now".into())
        .expect("finish");
    assert_eq!(finished.report.quality.frames, 3);
}

#[test]
fn block_averages_are_means_of_whole_blocks() {
    let mut image = RgbImage::filled(5, 4, [0, 0, 0]);
    // The top-left 2x2 block: 10, 20, 30, 41 in red; the fifth column and nothing else
    // is left over.
    for (x, y, v) in [(0, 0, 10), (1, 0, 20), (0, 1, 30), (1, 1, 41)] {
        image.put(x, y, [v, 200, 255]);
    }
    image.put(4, 0, [255, 255, 255]);
    let small = block_average(image.clone(), 2);
    assert_eq!((small.width(), small.height()), (2, 2));
    assert_eq!(small.get(0, 0), Some([25, 200, 255]));
    assert_eq!(small.get(1, 0), Some([0, 0, 0]));
    assert_eq!(block_average(image.clone(), 1), image);
}

/// A camera whose frames arrive damaged after `good` whole ones.
struct DamagedStream {
    frames: std::vec::IntoIter<Frame>,
    good: usize,
}

impl FrameSource for DamagedStream {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.good == 0 {
            return Err(SourceError::BadRawFrame {
                device: "/dev/video0".into(),
                problem: crate::io::source::YuyvError::Short {
                    needed: 100,
                    got: 10,
                },
            });
        }
        self.good -= 1;
        Ok(self.frames.next())
    }

    fn describe(&self) -> String {
        "damaged stream".into()
    }
}

#[test]
fn a_camera_sending_damaged_frames_ends_the_slide_saying_so_not_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _, _) = open_slide_journal(&DataDir::new(dir.path()), "slide-1").expect("j");
    let mut scanner = scanner(journal, Vec::new());
    let mut source = DamagedStream {
        frames: frames(3).into_iter(),
        good: 3,
    };
    let end = scanner
        .scan(&mut source, |_, _| Control::Continue)
        .expect("scan");
    let ScanEnd::Unreadable(why) = &end else {
        panic!("{end:?}");
    };
    // It ends once the damaged frames are as many as the gate's advice needs, and more
    // than the frames read.
    let needed = settings().quality.min_frames_for_advice;
    assert_eq!(scanner.skipped_frames().total(), needed);
    assert!(
        why.starts_with(&format!(
            "{needed} of {} frames could not be read ({needed} damaged camera frame)",
            needed + 3
        )),
        "{why}"
    );
    let finished = scanner
        .finish(&end, "test".into(), "now".into())
        .expect("finish");
    assert_eq!(finished.report.advice.as_deref(), Some(why.as_str()));
    assert_eq!(
        finished.report.quality.unreadable.by_reason["damaged camera frame"],
        needed
    );
}

mod familiarity;
mod subtype;
