use std::fs;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use leukoscope_core::raster::RgbImage;
use serde_json::Value;

use super::html::Esc;
use super::*;
use crate::io::model::DEVELOPMENT_KEY_WARNING;
use crate::records::{RejectReason, ReportCell, ReviewVerdict, SignOffRecord, Verdict};
use crate::scan::quality::{QualityTally, QualityThresholds};
use crate::scan::scale::{FrameScale, SlideScale};
use crate::scan::session::{ClassCount, DISCLAIMER, SlideFlag, SlideSummary, StopReason};

const NASTY_ID: &str = "<script>alert(1)</script>";

fn cell(id: u32, class: Option<usize>, confidence: f32) -> ReportCell {
    let class_name = match class {
        Some(0) => "lymphocyte",
        Some(1) => "lymphoblast",
        _ => "unidentified",
    };
    ReportCell {
        id,
        frame: u64::from(id) * 3,
        bbox: [id, 2 * id, 20, 22],
        class,
        class_name: class_name.to_string(),
        confidence,
        probabilities: vec![confidence, 1.0 - confidence],
        thumbnail: None,
        unfamiliar: false,
        distance: None,
        subtype: None,
    }
}

fn sample(demonstration: bool, advice: Option<&str>) -> SlideReport {
    let mut tally = QualityTally::default();
    for verdict in [
        Verdict::Accepted,
        Verdict::Accepted,
        Verdict::Rejected(RejectReason::OutOfFocus),
    ] {
        tally.record(verdict);
    }
    SlideReport {
        slide_id: "S-17".into(),
        generated: "2025-01-02T03:04:05Z".into(),
        tool: "leukoscope-edge 0.1.0".into(),
        source: "replay of /data/x, 40 files".into(),
        model: ModelInfo {
            name: "edge-s".into(),
            digest: "0123456789abcdef0123456789abcdef".into(),
            signed_by: None,
            taxonomy: "lymph-2".into(),
            precision: "int8".into(),
            demonstration,
            subtype: None,
        },
        summary: SlideSummary {
            slide_id: "S-17".into(),
            taxonomy: "lymph-2".into(),
            counts: vec![
                ClassCount {
                    name: "lymphocyte".into(),
                    malignant: false,
                    cells: 2,
                },
                ClassCount {
                    name: "lymphoblast".into(),
                    malignant: true,
                    cells: 1,
                },
            ],
            unidentified: 1,
            unfamiliar: 0,
            classified: 3,
            partial: 2,
            fields: 3,
            malignant_share: 1.0 / 3.0,
            wilson_95: (0.06, 0.79),
            unidentified_below: 0.5,
            unfamiliar_above: None,
            flag: SlideFlag::Insufficient {
                cells: 3,
                needed: 100,
            },
            subtype: None,
            stopped: Some(StopReason::FieldLimit { fields: 3 }),
            disclaimer: DISCLAIMER,
        },
        advice: advice.map(str::to_string),
        quality: QualityStats::from_tally(&tally, 12.5, 0.01, Default::default()),
        cells: vec![
            cell(1, Some(0), 0.9),
            cell(2, Some(0), 0.7),
            cell(3, Some(1), 0.8),
            cell(4, None, 0.4),
        ],
        partial_cells: vec![
            PartialCell {
                frame: 0,
                bbox: [0, 300, 20, 31],
            },
            PartialCell {
                frame: 2,
                bbox: [610, 0, 28, 12],
            },
        ],
        timings_ms: StageTimings {
            frames: 3,
            quality: 1.0,
            detect: 2.0,
            track: 0.5,
            classify: 4.0,
            journal: 0.2,
            total: 7.7,
        },
        truth: None,
        review: None,
        scale: Some(FrameScale::RedCells(SlideScale {
            um_per_px: 0.0969,
            uncertainty: 0.034,
            red_cells: 97,
        })),
    }
}

fn thumbnails() -> Vec<CellThumbnail> {
    (1..=4)
        .map(|id| CellThumbnail {
            id,
            image: RgbImage::filled(8, 6, [id as u8 * 40, 10, 200]),
        })
        .collect()
}

fn snapshot() -> Snapshot {
    let frame = RgbImage::filled(40, 30, [250, 240, 245]);
    Snapshot {
        frame: 12,
        image: annotate(
            &frame,
            &[([2, 3, 10, 10], Some(0)), ([20, 10, 12, 12], None)],
        ),
    }
}

#[test]
fn a_review_rewrites_the_report_with_both_counts_and_the_reviewer() {
    use crate::records::review::ReviewState;
    use crate::scan::session::SessionRules;
    let dir = tempfile::tempdir().unwrap();
    let report = sample(false, None);
    write_report(dir.path(), &report, &thumbnails(), &[snapshot()]).unwrap();
    let first = fs::read_to_string(dir.path().join(HTML_FILE)).unwrap();
    assert!(first.contains("Not reviewed"));

    // Read back exactly as written (the disclaimer is this program's own).
    assert_eq!(read_report(dir.path()).unwrap().summary, report.summary);

    let mut review = ReviewState::default();
    review.verdicts.insert(2, ReviewVerdict::Class(1));
    review.verdicts.insert(4, ReviewVerdict::NotACell);
    review.sign_off = Some(SignOffRecord {
        slide: "S-17".into(),
        initials: "KM".into(),
        at: "2025-01-02T04:00:00Z".into(),
    });
    let counts = reviewed_counts(
        &report.summary,
        &report.cells,
        &review,
        &SessionRules::default(),
    );
    assert_eq!(counts.summary.counts[1].cells, 2);
    assert_eq!(counts.excluded, 1);
    write_review(
        dir.path(),
        ReportReview {
            counts,
            verdicts: review.verdicts.clone().into_iter().collect(),
            sign_off: review.sign_off.clone(),
        },
    )
    .unwrap();

    let again = read_report(dir.path()).unwrap();
    let stored = again.review.expect("the review is in the JSON");
    assert_eq!(stored.sign_off.unwrap().initials, "KM");
    assert_eq!(stored.counts.summary.counts[0].cells, 1);
    // The machine's counts stay the machine's.
    assert_eq!(again.summary, report.summary);
    let html = fs::read_to_string(dir.path().join(HTML_FILE)).unwrap();
    assert!(html.contains("signed off by <strong>KM</strong>"), "{html}");
    assert!(html.contains("<th>machine count</th><th>reviewed count</th>"));
    assert!(html.contains("→ <strong>lymphoblast</strong>"));
    assert!(html.contains("→ <strong>not a cell</strong>"));
    // The thumbnails and the snapshot are still inlined.
    assert_eq!(html.matches("data:image/png;base64,").count(), 5);
    assert!(!html.contains("Not reviewed"));
}

#[test]
fn reading_back_what_is_not_a_report_says_so() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        read_report(dir.path()),
        Err(ReportError::Read { .. })
    ));
    fs::write(dir.path().join(JSON_FILE), b"{\"slide_id\": 3}").unwrap();
    assert!(matches!(
        read_report(dir.path()),
        Err(ReportError::Parse { .. })
    ));
}

fn write(report: &SlideReport) -> (tempfile::TempDir, ReportFiles, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = write_report(
        &dir.path().join("out"),
        report,
        &thumbnails(),
        &[snapshot()],
    )
    .expect("report written");
    let html = fs::read_to_string(&files.html).expect("html");
    (dir, files, html)
}

#[test]
fn json_round_trips_counts_flag_disclaimer_and_thumbnails() {
    let (dir, files, _) = write(&sample(false, None));
    let out = dir.path().join("out");
    assert_eq!(files.json, out.join("report.json"));
    assert_eq!(files.html, out.join("report.html"));
    assert_eq!(
        files.snapshots,
        vec![out.join("snapshots/frame-000012.png")]
    );

    let json: Value =
        serde_json::from_slice(&fs::read(&files.json).expect("json")).expect("parses");
    assert!(json.get("warning").is_none());
    assert_eq!(json["slide_id"], "S-17");
    let summary = &json["summary"];
    assert_eq!(summary["counts"][0]["name"], "lymphocyte");
    assert_eq!(summary["counts"][0]["cells"], 2);
    assert_eq!(summary["counts"][1]["cells"], 1);
    assert_eq!(summary["counts"][1]["malignant"], true);
    assert_eq!(summary["unidentified"], 1);
    assert_eq!(summary["partial"], 2);
    assert_eq!(json["partial_cells"][1]["frame"], 2);
    assert_eq!(
        json["partial_cells"][1]["bbox"],
        serde_json::json!([610, 0, 28, 12])
    );
    assert_eq!(summary["flag"]["flag"], "insufficient");
    assert_eq!(summary["flag"]["needed"], 100);
    assert_eq!(summary["disclaimer"], DISCLAIMER);
    assert_eq!(json["quality"]["frames"], 3);
    assert_eq!(json["quality"]["rejected"][3]["reason"], "out of focus");
    assert_eq!(json["quality"]["rejected"][3]["frames"], 1);

    let cells = json["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 4);
    for (i, c) in cells.iter().enumerate() {
        let name = format!("cells/cell-{:04}.png", i + 1);
        assert_eq!(c["thumbnail"], name.as_str());
        let png = image::open(out.join(&name))
            .expect("thumbnail is a PNG")
            .to_rgb8();
        assert_eq!(png.dimensions(), (8, 6));
        assert_eq!(png.get_pixel(0, 0).0, [(i as u8 + 1) * 40, 10, 200]);
    }
    assert_eq!(cells[3]["class"], Value::Null);
    let snap = image::open(&files.snapshots[0])
        .expect("snapshot is a PNG")
        .to_rgb8();
    assert_eq!(snap.get_pixel(2, 3).0, class_colour(Some(0)));

    // No temporary file survives a good write.
    let leftovers: Vec<_> = fs::read_dir(&out)
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_scale_is_stated_with_its_source_and_old_reports_still_read() {
    let report = sample(false, None);
    let (_dir, files, html) = write(&report);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.json).expect("json")).expect("valid");
    assert_eq!(json["scale"]["from"], "red_cells");
    assert_eq!(json["scale"]["red_cells"], 97);
    assert!(
        html.contains("Frame scale: 0.0969 um/px +/- 3.4 %, measured from 97 whole red cells"),
        "{html}"
    );
    // A report written before the scale was recorded reads back without one.
    let mut old = json.clone();
    old.as_object_mut().expect("an object").remove("scale");
    // Nor partial cells, before they were recorded.
    old.as_object_mut()
        .expect("an object")
        .remove("partial_cells");
    old["summary"]
        .as_object_mut()
        .expect("an object")
        .remove("partial");
    let back: SlideReport = serde_json::from_value(old).expect("an old report");
    assert_eq!(back.scale, None);
    assert!(back.partial_cells.is_empty());
    assert_eq!(back.summary.partial, 0);
    let given = FrameScale::Given { um_per_px: 0.42 };
    assert_eq!(
        serde_json::to_value(given).expect("json"),
        serde_json::json!({"from": "given", "um_per_px": 0.42f32})
    );
}

#[test]
fn json_names_only_thumbnails_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut report = sample(false, None);
    report.cells[1].thumbnail = Some("cells/made-up.png".into());
    let files = write_report(dir.path(), &report, &thumbnails()[..1], &[]).expect("written");
    let json: Value =
        serde_json::from_slice(&fs::read(&files.json).expect("json")).expect("parses");
    assert_eq!(json["cells"][0]["thumbnail"], "cells/cell-0001.png");
    assert!(json["cells"][1].get("thumbnail").is_none());
    assert!(files.snapshots.is_empty());
    assert!(!dir.path().join("snapshots").exists());
}

#[test]
fn html_is_self_contained_and_says_what_matters() {
    let (dir, _, html) = write(&sample(false, None));
    for external in [
        "src=\"http",
        "href=\"http",
        "src='http",
        "href='http",
        "url(",
        "@import",
    ] {
        assert!(
            !html.contains(external),
            "page refers outside itself: {external}"
        );
    }
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(html.contains(DISCLAIMER));
    let flag = sample(false, None).summary.flag.to_string();
    assert!(html.contains(&format!(
        "<div class=\"flag flag-insufficient\">{}</div>",
        Esc(&flag)
    )));
    assert!(html.contains("@media print"));
    assert!(html.contains("UNSIGNED"));
    assert!(html.contains("title=\"0123456789abcdef0123456789abcdef\">0123456789ab…"));
    assert!(html.contains("re-focus the microscope"));
    assert!(html.contains(
        "<tr><td>partial (cut by the frame's edge wherever seen, not classified)</td>\
         <td>—</td><td class=\"n\">2</td>"
    ));
    for id in 1..=4 {
        let png = fs::read(dir.path().join(format!("out/cells/cell-{id:04}.png"))).expect("png");
        assert!(html.contains(&format!("data:image/png;base64,{}", BASE64.encode(&png))));
    }
    let snap = fs::read(dir.path().join("out/snapshots/frame-000012.png")).expect("png");
    assert!(html.contains(&format!("data:image/png;base64,{}", BASE64.encode(&snap))));
    assert!(!html.contains("ground truth"));
    assert!(!html.contains(DEMONSTRATION_WARNING));
}

#[test]
fn gallery_puts_unidentified_first_and_doubtful_cells_first() {
    let (_, _, html) = write(&sample(false, None));
    let at = |id: u32| {
        html.find(&format!("id=\"cell-{id}\""))
            .expect("cell in gallery")
    };
    // unidentified (4), then lymphocytes by confidence (2 at 0.7, 1 at 0.9), then 3.
    assert!(at(4) < at(2), "unidentified first");
    assert!(at(2) < at(1), "least confident first");
    assert!(at(1) < at(3), "classes in taxonomy order");
    assert!(html.contains("#2 · 70&nbsp;%"));
}

#[test]
fn unfamiliar_cells_have_their_own_count_and_group_first() {
    let (_dir, files, html) = write(&sample(false, None));
    assert!(
        html.contains("unfamiliar: not checked"),
        "a model without a profile"
    );
    let json: Value =
        serde_json::from_slice(&fs::read(&files.json).expect("json")).expect("parses");
    // A report of such a model is written as before.
    assert!(json["cells"][1].get("unfamiliar").is_none());
    assert!(json["cells"][1].get("distance").is_none());
    assert!(json["summary"].get("unfamiliar_above").is_none());

    let mut report = sample(false, None);
    report.summary.unfamiliar = 1;
    report.summary.unfamiliar_above = Some(24.5);
    report.summary.flag = SlideFlag::Unfamiliar {
        unidentified: 1,
        read: 5,
        unfamiliar: 1,
    };
    report.cells[1] = ReportCell {
        class: None,
        class_name: ReportCell::UNFAMILIAR.into(),
        unfamiliar: true,
        distance: Some(31.25),
        ..cell(2, None, 0.97)
    };
    let (dir, files, html) = write(&report);
    assert!(
        html.contains("unfamiliar (farther than 24.5 from the cells the model learnt from"),
        "the count row"
    );
    assert!(html.contains("1 of 5 cells unfamiliar, 1 unidentified"));
    let at = |id: u32| {
        html.find(&format!("id=\"cell-{id}\""))
            .expect("cell in gallery")
    };
    // The stranger first, however sure the model was, then the unidentified cell.
    assert!(at(2) < at(4) && at(4) < at(1), "groups in order");
    assert!(html.contains("unfamiliar (1)</h3>"));
    let json: Value =
        serde_json::from_slice(&fs::read(&files.json).expect("json")).expect("parses");
    assert_eq!(json["cells"][1]["unfamiliar"], true);
    assert_eq!(json["cells"][1]["distance"], 31.25);
    assert_eq!(json["cells"][1]["class_name"], "unfamiliar");
    assert_eq!(json["summary"]["unfamiliar"], 1);
    let read = read_report(&dir.path().join("out")).expect("reads back");
    assert_eq!(read.summary, report.summary);
    assert_eq!(read.cells[1].distance, Some(31.25));
    assert!(read.cells[1].unfamiliar && !read.cells[0].unfamiliar);
}

#[test]
fn flag_colour_follows_the_call() {
    for (flag, class) in [
        (SlideFlag::SuspiciousRefer { cells: 150 }, "flag-refer"),
        (SlideFlag::NoEvidence { cells: 150 }, "flag-clear"),
        (
            SlideFlag::Insufficient {
                cells: 3,
                needed: 100,
            },
            "flag-insufficient",
        ),
        (
            SlideFlag::Unfamiliar {
                unidentified: 80,
                read: 150,
                unfamiliar: 0,
            },
            "flag-unfamiliar",
        ),
    ] {
        let mut report = sample(false, None);
        report.summary.flag = flag;
        let (_, _, html) = write(&report);
        assert!(html.contains(&format!(
            "class=\"flag {class}\">{}",
            Esc(&flag.to_string())
        )));
    }
}

#[test]
fn user_strings_are_escaped() {
    let mut report = sample(false, None);
    report.slide_id = NASTY_ID.into();
    report.source = NASTY_ID.into();
    report.summary.counts[0].name = NASTY_ID.into();
    report.model.signed_by = Some("\"><img src=x onerror=alert(1)>".into());
    let (_, _, html) = write(&report);
    assert!(!html.contains("<script>"), "raw script tag in the page");
    assert!(!html.contains("<img src=x"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_eq!(
        Esc("a&b<c>d\"e'f").to_string(),
        "a&amp;b&lt;c&gt;d&quot;e&#39;f"
    );
}

#[test]
fn a_model_signed_with_the_development_key_says_so() {
    let mut report = sample(false, None);
    report.model.signed_by = Some(crate::io::model::DEVELOPMENT_KEY.into());
    let (_dir, _, html) = write(&report);
    assert!(
        html.contains(DEVELOPMENT_KEY_WARNING),
        "no development-key warning"
    );
    report.model.signed_by = Some("11".repeat(32));
    let (_dir, _, html) = write(&report);
    assert!(!html.contains(DEVELOPMENT_KEY_WARNING));
}

#[test]
fn demonstration_banner_iff_demonstration() {
    // Bound, not `_`: the folder must outlive the reads below.
    let (_dir, files, html) = write(&sample(true, None));
    assert!(html.contains(&format!(
        "<div class=\"demo\">{DEMONSTRATION_WARNING}</div>"
    )));
    assert!(html.contains("<title>DEMONSTRATION"));
    let json: Value =
        serde_json::from_slice(&fs::read(&files.json).expect("json")).expect("parses");
    assert_eq!(json["warning"], DEMONSTRATION_WARNING);
    // First in the file, where a reader looks.
    let text = fs::read_to_string(&files.json).expect("json");
    assert!(text.find("\"warning\"") < text.find("\"slide_id\""));

    let (_dir, files, html) = write(&sample(false, None));
    assert!(!html.contains(DEMONSTRATION_WARNING));
    assert!(
        !fs::read_to_string(&files.json)
            .expect("json")
            .contains(DEMONSTRATION_WARNING)
    );
}

#[test]
fn advice_replaces_the_flag() {
    let advice = "most frames are out of focus: re-focus the microscope";
    let report = sample(false, Some(advice));
    let (_, _, html) = write(&report);
    assert!(html.contains(&format!("No result for this slide: {advice}")));
    assert!(!html.contains(&Esc(&report.summary.flag.to_string()).to_string()));
    assert!(!html.contains("class=\"flag"));
    assert!(html.contains("(not a result)"));
    assert!(html.contains("<section class=\"not-result\">"));
    assert!(html.contains(DISCLAIMER));
}

#[test]
fn truth_column_when_given() {
    let mut report = sample(false, None);
    report.truth = Some(vec![
        ClassCount {
            name: "lymphocyte".into(),
            malignant: false,
            cells: 3,
        },
        ClassCount {
            name: "lymphoblast".into(),
            malignant: true,
            cells: 1,
        },
    ]);
    let (_, _, html) = write(&report);
    assert!(html.contains("ground truth"));
    assert!(html.contains("<td class=\"n\">3 (75.0&nbsp;%)</td>"));
    assert!(html.contains("<td class=\"n\">1 (25.0&nbsp;%)</td>"));
}

#[test]
fn quality_stats_have_a_row_per_reason() {
    let mut tally = QualityTally::default();
    tally.record(Verdict::Accepted);
    tally.record(Verdict::Rejected(RejectReason::Empty));
    tally.record(Verdict::Rejected(RejectReason::Empty));
    tally.record(Verdict::Rejected(RejectReason::Overexposed));
    let stats = QualityStats::from_tally(&tally, 3.0, 0.2, Default::default());
    assert_eq!((stats.frames, stats.accepted), (4, 1));
    assert_eq!(stats.rejected.len(), RejectReason::ALL.len());
    for (row, reason) in stats.rejected.iter().zip(RejectReason::ALL) {
        assert_eq!(row.reason, reason.to_string());
        assert_eq!(row.remedy, reason.remedy());
        assert_eq!(row.frames, tally.rejected_for(reason));
    }
    assert_eq!(stats.rejected[2].frames, 2);
    assert!(tally.advice(&QualityThresholds::default()).is_none());
}

#[test]
fn annotate_outlines_the_box_and_leaves_its_inside() {
    let white = [255, 255, 255];
    let frame = RgbImage::filled(40, 30, white);
    let out = annotate(&frame, &[([5, 5, 20, 15], Some(1))]);
    let colour = class_colour(Some(1));
    for (x, y) in [
        (5, 5),
        (24, 19),
        (24, 5),
        (5, 19),
        (7, 12),
        (15, 7),
        (22, 12),
        (15, 17),
    ] {
        assert_eq!(out.get(x, y), Some(colour), "edge pixel ({x}, {y})");
    }
    for (x, y) in [(15, 12), (8, 8), (21, 16), (4, 5), (25, 12), (15, 20)] {
        assert_eq!(
            out.get(x, y),
            Some(white),
            "pixel ({x}, {y}) should be untouched"
        );
    }
    assert_eq!(frame.get(5, 5), Some(white), "the input is not drawn on");
}

#[test]
fn annotate_clips_boxes_outside_the_frame() {
    let white = [255, 255, 255];
    let frame = RgbImage::filled(40, 30, white);
    let out = annotate(
        &frame,
        &[
            ([30, 20, 50, 50], None),
            ([u32::MAX - 1, u32::MAX - 1, u32::MAX, u32::MAX], Some(0)),
            ([0, 0, u32::MAX, 2], Some(2)),
            ([100, 100, 5, 5], Some(3)),
            ([10, 10, 0, 0], Some(4)),
        ],
    );
    assert_eq!(out.get(30, 25), Some(class_colour(None)));
    assert_eq!(out.get(35, 20), Some(class_colour(None)));
    assert_eq!(out.get(39, 29), Some(white), "inside the clipped box");
    assert_eq!(out.get(39, 1), Some(class_colour(Some(2))));
    assert_eq!(out.get(10, 10), Some(white), "an empty box draws nothing");
}

#[test]
fn class_colours_are_distinct_and_grey_for_unidentified() {
    let colours: Vec<_> = (0..8).map(|i| class_colour(Some(i))).collect();
    for (i, a) in colours.iter().enumerate() {
        assert_ne!(*a, class_colour(None));
        for b in &colours[i + 1..] {
            assert_ne!(a, b);
        }
    }
    assert_eq!(class_colour(Some(8)), class_colour(Some(0)));
}

#[test]
fn a_folder_under_a_file_is_a_write_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("plain-file");
    fs::write(&file, b"x").expect("file");
    let target = file.join("report");
    let err = write_report(&target, &sample(false, None), &thumbnails(), &[snapshot()])
        .expect_err("cannot create a folder under a file");
    match &err {
        ReportError::Write { path, .. } => assert_eq!(path, &target),
        other => panic!("expected Write, got {other:?}"),
    }
    assert!(err.to_string().contains(&target.display().to_string()));
}

#[test]
fn a_failed_write_leaves_no_temporary_or_partial_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A folder where report.html goes makes the final rename fail.
    let blocker = dir.path().join(HTML_FILE);
    fs::create_dir(&blocker).expect("blocker");
    fs::write(blocker.join("keep"), b"x").expect("non-empty");
    let err = write_report(dir.path(), &sample(false, None), &thumbnails(), &[])
        .expect_err("report.html is a folder");
    match &err {
        ReportError::Write { path, .. } => assert_eq!(path, &blocker),
        other => panic!("expected Write, got {other:?}"),
    }
    let hidden: Vec<_> = fs::read_dir(dir.path())
        .expect("folder")
        .map(|e| e.expect("entry").file_name())
        .filter(|name| name.to_string_lossy().starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "temporary files left behind: {hidden:?}");
    assert!(blocker.join("keep").exists());
    // What was finished before is whole.
    let json: Value = serde_json::from_slice(&fs::read(dir.path().join(JSON_FILE)).expect("json"))
        .expect("whole JSON");
    assert_eq!(json["slide_id"], "S-17");
}

#[test]
fn an_empty_image_is_an_encode_error_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("out");
    let bad = CellThumbnail {
        id: 9,
        image: RgbImage::filled(0, 0, [0, 0, 0]),
    };
    match write_report(&target, &sample(false, None), &[bad], &[]) {
        Err(ReportError::Encode { what, .. }) => assert_eq!(what, "thumbnail of cell 9"),
        other => panic!("expected Encode, got {other:?}"),
    }
    assert!(!target.exists());
}
