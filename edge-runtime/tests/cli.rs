//! `leukoscope-edge` as an operator runs it: the self-test's one-line refusals, a replayed
//! folder, `run` killed with SIGKILL mid-slide (a power cut) and restarted, which must
//! end with the same counts and scale as a slide never interrupted, and a class-labelled
//! folder cut into cell crops for the trainer.
//!
//! Under qemu-user without binfmt_misc, `LEUKOSCOPE_TEST_RUNNER` names the command that
//! runs the Arm binary (see `common/mod.rs`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use common::edge;
use leukoscope_core::artifact::{ModelArtifact, TrustPolicy};
use leukoscope_core::engine::Engine;
use leukoscope_core::familiarity::FamiliarityProfile;
use leukoscope_core::synth::{SlideOptions, SyntheticSlide};

const DEMO_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/demo/synthetic-demo-int8.lsm");

fn run(args: &[&str]) -> Output {
    edge().args(args).output().expect("the edge binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn check_refuses_a_tampered_or_missing_model_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = run(&["check", "--model", DEMO_MODEL]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(text.contains("SYNTHETIC DEMONSTRATION"), "{text}");
    assert!(text.trim_end().ends_with("ok"));
    assert!(text.contains("familiar   no profile"), "{text}");

    // A profiled model says where the unfamiliar begins.
    let bytes = std::fs::read(DEMO_MODEL).expect("model");
    let mut model = ModelArtifact::decode(&bytes, &TrustPolicy::any())
        .expect("decodes")
        .artifact;
    let d = Engine::new(&model).expect("engine").features_len();
    model.familiarity = Some(FamiliarityProfile {
        features: d as u32,
        whitening: (0..d)
            .flat_map(|i| (0..=i).map(move |j| if i == j { 1.0 } else { 0.0 }))
            .collect(),
        centres: vec![0.0; 2 * d],
        unfamiliar_above: 12.5,
    });
    let profiled = dir.path().join("profiled.lsm");
    std::fs::write(&profiled, model.encode().expect("encodes")).expect("write");
    let out = run(&["check", "--model", profiled.to_str().expect("utf-8")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "cells beyond distance 12.500 of the 2 classes it learnt from go to no class"
        ),
        "{text}"
    );

    let mut bytes = std::fs::read(DEMO_MODEL).expect("model");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    let tampered = dir.path().join("tampered.lsm");
    std::fs::write(&tampered, &bytes).expect("write");
    let missing = dir.path().join("missing.lsm");
    for (path, says) in [(&tampered, "refused"), (&missing, "cannot read")] {
        let out = run(&["check", "--model", path.to_str().expect("utf-8")]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(says), "{err}");
    }

    // A board that trusts a key the model is not signed with.
    let board = write_board(
        dir.path(),
        &format!("trusted_keys = [\"{}\"]", "11".repeat(32)),
    );
    let out = run(&["check", "--board", board.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("refused"), "{err}");
}

#[test]
fn check_uses_the_shipped_model_from_the_repository_root_and_trusts_its_key() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let key = std::fs::read_to_string(root.join("models/leukoscope-dev-not-for-clinical.pub"))
        .expect("the development public key is in the repository");
    let out = edge()
        .args(["check", "--trust", key.trim()])
        .current_dir(&root)
        .output()
        .expect("the edge binary runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("models/b-all-4-edge-s.lsm"), "{text}");
    assert!(text.contains("NOT FOR CLINICAL DEPLOYMENT"), "{text}");

    // Elsewhere there is no default to fall back on: one line that says what to give.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = edge()
        .arg("check")
        .current_dir(dir.path())
        .output()
        .expect("the edge binary runs");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("--model") && err.contains("models/b-all-4-edge-s.lsm"),
        "{err}"
    );
}

/// Writes frames of a synthetic scan as PNG files.
fn write_frames(dir: &Path, count: u32) {
    std::fs::create_dir_all(dir).expect("frames dir");
    let slide = SyntheticSlide::new(
        9,
        SlideOptions {
            world_width: 3200,
            world_height: 2000,
            frame_width: 960,
            frame_height: 540,
            white_cells_per_frame: 5.0,
            class_mix: [0.5, 0.2, 0.2, 0.1],
            ..SlideOptions::default()
        },
    )
    .expect("slide");
    for i in 0..count.min(slide.frame_count()) {
        let frame = slide.frame(i).expect("frame").image;
        let (w, h) = (frame.width(), frame.height());
        image::RgbImage::from_raw(w, h, frame.into_raw())
            .expect("size")
            .save(dir.join(format!("frame-{i}.png")))
            .expect("png");
    }
}

/// A board file for frames half the width of full HD, storing under `dir/store`.
fn write_board(dir: &Path, model_extra: &str) -> PathBuf {
    let path = dir.join("board.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[board]
name = "test bench"

[model]
path = "{DEMO_MODEL}"
threads = 1
{model_extra}

[storage]
dir = "store"
min_free_mb = 1

[quality]
analysis_um_per_px = 1.0

[session]
unidentified_below = 0.6
"#
        ),
    )
    .expect("board.toml");
    path
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("report.json")).expect("json")
}

#[test]
fn run_killed_mid_slide_and_restarted_ends_with_the_uninterrupted_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let frames = dir.path().join("frames");
    write_frames(&frames, 24);
    let board = write_board(dir.path(), "");
    let frames_arg = frames.to_str().expect("utf-8");

    let whole = run(&[
        "replay",
        "--frames",
        frames_arg,
        "--board",
        board.to_str().expect("utf-8"),
        "--slide",
        "whole",
        "--out",
        dir.path().join("replay").to_str().expect("utf-8"),
    ]);
    assert!(whole.status.success(), "{}", stderr(&whole));
    let expected = report(&dir.path().join("replay/reports/whole/report.json"));
    let classified = expected["summary"]["classified"]
        .as_u64()
        .expect("classified");
    assert!(classified >= 30, "{classified} cells");

    // Power cuts: killed at three moments while scanning at 12 frames a second.
    let board_arg = board.to_str().expect("utf-8");
    for wait_ms in [700, 400, 900] {
        let mut child = edge()
            .args([
                "run",
                "--listen",
                "127.0.0.1:0",
                "--board",
                board_arg,
                "--slide",
                "cut",
                "--frames",
                frames_arg,
                "--fps",
                "12",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run");
        std::thread::sleep(Duration::from_millis(wait_ms));
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
    }
    let journal = dir.path().join("store/slides/cut.journal");
    assert!(journal.exists(), "the slide was started");
    // Restarted without a slide id, it finds the interrupted slide and finishes it.
    let finish = run(&[
        "run",
        "--listen",
        "127.0.0.1:0",
        "--board",
        board_arg,
        "--frames",
        frames_arg,
    ]);
    assert!(finish.status.success(), "{}", stderr(&finish));
    let stdout = String::from_utf8_lossy(&finish.stdout);
    assert!(stdout.contains("resuming"), "{stdout}");
    // The scale is the one measured when the slide began, not measured again.
    assert!(
        stdout.contains("at the scale recorded when it began"),
        "{stdout}"
    );
    assert!(
        !stdout.lines().any(|line| line.starts_with("scale: ")),
        "{stdout}"
    );
    let resumed = report(&dir.path().join("store/reports/cut/report.json"));
    assert_eq!(resumed["scale"], expected["scale"]);
    for key in [
        "counts",
        "unidentified",
        "classified",
        "malignant_share",
        "flag",
    ] {
        assert_eq!(resumed["summary"][key], expected["summary"][key], "{key}");
    }
    assert_eq!(resumed["quality"]["frames"], expected["quality"]["frames"]);
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/txl-pbc");

#[test]
fn eval_detect_scores_real_frames_and_names_a_bad_box_file() {
    let boxes = format!("{FIXTURES}/boxes.csv");
    let frames = format!("{FIXTURES}/raabin");
    let out = run(&[
        "eval-detect",
        "--frames",
        &frames,
        "--boxes",
        &boxes,
        "--um-per-px",
        "0.055",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    // One line per frame, then the totals: each of these crops is centred on a white
    // cell, and the detector finds every one of them once.
    assert!(text.contains("all 6 frames"), "{text}");
    assert!(
        text.contains("6 white cells (0 more boxes drawn around a cell already boxed left out), recall 1.000, precision 1.000"),
        "{text}"
    );
    assert!(text.contains("the red-cell boxes say"), "{text}");

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("boxes.csv");
    std::fs::write(
        &bad,
        "image,x_min,y_min,x_max,y_max,label\na.jpg,1,2,3,4,neutrophil\n",
    )
    .expect("write");
    let out = run(&[
        "eval-detect",
        "--frames",
        &frames,
        "--boxes",
        bad.to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("row 2: unknown label `neutrophil`"),
        "{}",
        stderr(&out)
    );
    let out = run(&[
        "eval-detect",
        "--frames",
        &frames,
        "--boxes",
        &boxes,
        "--um-per-px",
        "1e30",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("neither `auto`"), "{}", stderr(&out));
}

#[test]
fn scale_says_when_a_folder_has_too_few_red_cells() {
    let out = run(&["scale", "--frames", &format!("{FIXTURES}/bcd")]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("whole single red cells were found"), "{err}");
    assert!(err.contains("give --um-per-px"), "{err}");
}

#[test]
fn replay_measures_the_scale_from_the_red_cells_by_default_and_reports_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let frames = dir.path().join("frames");
    write_frames(&frames, 6);
    let out_dir = dir.path().join("out");
    let out = run(&[
        "replay",
        "--frames",
        frames.to_str().expect("utf-8"),
        "--model",
        DEMO_MODEL,
        "--slide",
        "auto-scale",
        "--out",
        out_dir.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("whole red cells taken as 7.5 um"), "{text}");
    let json = report(&out_dir.join("reports/auto-scale/report.json"));
    assert_eq!(json["scale"]["from"], "red_cells", "{json}");
    // The synthetic frames are at 0.42 um per pixel.
    let um = json["scale"]["um_per_px"].as_f64().expect("a number");
    assert!((0.4..0.44).contains(&um), "{um}");
}

#[test]
fn crops_cuts_the_whole_cells_of_each_class_folder_as_the_board_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let frames = dir.path().join("frames");
    write_frames(&frames.join("Blast"), 12);
    write_frames(&frames.join("Normal"), 2);
    std::fs::write(frames.join("Normal/broken.png"), b"not a png").expect("broken file");
    let out = dir.path().join("crops");
    let args = [
        "crops",
        "--frames",
        frames.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--um-per-px",
        "0.42",
        "--window-um",
        "24",
    ];
    let done = run(&args);
    assert!(done.status.success(), "{}", stderr(&done));
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(stdout.contains("Normal: 2 frames"), "{stdout}");
    assert!(stdout.contains("1 unreadable"), "{stdout}");
    // The twelve frames hold cells that the frame's edge cuts.
    let blast = stdout
        .lines()
        .find(|line| line.starts_with("Blast: 12 frames"))
        .expect("a line for the Blast class");
    assert!(!blast.contains(" 0 cut by the frame's edge"), "{blast}");

    // 24 um at 0.42 um/px is a window of 57 frame pixels.
    let side = 57;
    let mut index = csv::Reader::from_path(out.join("crops.csv")).expect("crops.csv");
    let mut by_label = std::collections::BTreeMap::new();
    for row in index.records() {
        let row = row.expect("row");
        let (crop, frame, label) = (&row[0], &row[1], &row[2]);
        *by_label.entry(label.to_owned()).or_insert(0) += 1;
        assert!(crop.starts_with(&format!("{label}/")), "{crop}");
        assert!(Path::new(frame).starts_with(frames.join(label)), "{frame}");
        let picture = image::open(out.join(crop)).expect("crop decodes").to_rgb8();
        assert_eq!(picture.dimensions(), (side, side), "{crop}");
        // Whole cells only: a nucleus the frame's edge cuts is left out.
        let field = |k: usize| row[k].parse::<u32>().expect("a number");
        let (x, y, w, h) = (field(5), field(6), field(7), field(8));
        assert!(x > 0 && y > 0 && x + w < 960 && y + h < 540, "{crop}");
        // The crop is the frame's pixels around the nucleus' centre.
        let source = image::open(frame).expect("frame").to_rgb8();
        let centre: f64 = row[3].parse().expect("centre x");
        let middle: f64 = row[4].parse().expect("centre y");
        let found = (-1..=1).any(|dx| {
            (-1..=1).any(|dy| {
                let left = (centre - f64::from(side) / 2.0).round() as i64 + dx;
                let top = (middle - f64::from(side) / 2.0).round() as i64 + dy;
                (0..side as i64).all(|j| {
                    (0..side as i64).all(|i| {
                        let (fx, fy) = (
                            (left + i).clamp(0, 959) as u32,
                            (top + j).clamp(0, 539) as u32,
                        );
                        picture.get_pixel(i as u32, j as u32) == source.get_pixel(fx, fy)
                    })
                })
            })
        });
        assert!(found, "{crop} is not the frame's window around its nucleus");
    }
    for label in ["Blast", "Normal"] {
        let written = std::fs::read_dir(out.join(label))
            .expect("class folder")
            .count();
        assert!(written > 0, "{label}");
        assert_eq!(by_label.get(label), Some(&written), "{label}");
    }

    let again = run(&args);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already holds crops.csv"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn replay_counts_frames_it_cannot_read_and_a_slide_of_them_ends_saying_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let frames = dir.path().join("frames");
    write_frames(&frames, 3);
    // A bad copy: empty files, a PNG and a JPEG cut short, text named as a picture.
    let good = std::fs::read(frames.join("frame-0.png")).expect("png");
    std::fs::write(frames.join("frame-3.png"), b"").expect("empty");
    std::fs::write(frames.join("frame-4.png"), &good[..good.len() / 2]).expect("cut");
    let mut jpeg = Vec::new();
    image::RgbImage::new(64, 64)
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .expect("jpeg");
    std::fs::write(frames.join("frame-5.jpg"), &jpeg[..jpeg.len() - 40]).expect("cut");
    std::fs::write(frames.join("frame-6.png"), b"not a picture").expect("text");
    let replay = |frames: &Path, slide: &str| {
        let out_dir = dir.path().join("out");
        let out = run(&[
            "replay",
            "--frames",
            frames.to_str().expect("utf-8"),
            "--model",
            DEMO_MODEL,
            "--um-per-px",
            "0.42",
            "--slide",
            slide,
            "--out",
            out_dir.to_str().expect("utf-8"),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            text,
            report(&out_dir.join(format!("reports/{slide}/report.json"))),
        )
    };

    // Four of seven files unreadable: most of the slide, so no result, and why.
    let (text, json) = replay(&frames, "bad-copy");
    assert!(
        text.contains(
            "4 frames could not be read (1 empty file, 2 not an image, 1 truncated JPEG); the first: /"
        ),
        "{text}"
    );
    assert!(
        text.contains("NO RESULT: 4 of 7 frames could not be read"),
        "{text}"
    );
    let skipped = &json["quality"]["unreadable"];
    assert_eq!(
        skipped["by_reason"]
            .as_object()
            .map(|m| m.values().filter_map(|v| v.as_u64()).sum::<u64>()),
        Some(4),
        "{json}"
    );
    assert!(
        json["advice"]
            .as_str()
            .unwrap_or("")
            .contains("could not be read"),
        "{json}"
    );

    // One bad file among good ones: a result, and the bad file still said.
    for bad in ["frame-3.png", "frame-4.png", "frame-5.jpg"] {
        std::fs::remove_file(frames.join(bad)).expect("remove");
    }
    let (text, json) = replay(&frames, "one-bad");
    assert!(
        text.contains("1 frames could not be read (1 not an image)"),
        "{text}"
    );
    assert!(!text.contains("NO RESULT"), "{text}");
    assert_eq!(
        json["quality"]["unreadable"]["by_reason"]["not an image"], 1,
        "{json}"
    );
}

#[test]
fn replay_counts_each_cell_once_when_a_half_size_copy_of_a_frame_sits_among_the_frames() {
    // The report issue 16 found: a reduced copy of one frame in a scan's folder (a
    // thumbnail) made its cells count twice.
    let dir = tempfile::tempdir().expect("tempdir");
    let frames = dir.path().join("frames");
    write_frames(&frames, 8);
    let replay = |slide: &str| {
        let out_dir = dir.path().join("out");
        let out = run(&[
            "replay",
            "--frames",
            frames.to_str().expect("utf-8"),
            "--model",
            DEMO_MODEL,
            "--um-per-px",
            "0.42",
            "--slide",
            slide,
            "--out",
            out_dir.to_str().expect("utf-8"),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        report(&out_dir.join(format!("reports/{slide}/report.json")))
    };
    let steady = replay("steady");
    let cells = |json: &serde_json::Value| json["cells"].as_array().expect("cells").len();
    let accepted = |json: &serde_json::Value| json["quality"]["accepted"].as_u64();
    assert!(cells(&steady) > 10, "{steady}");

    let frame = image::open(frames.join("frame-3.png"))
        .expect("frame")
        .to_rgb8();
    let (w, h) = frame.dimensions();
    image::imageops::resize(&frame, w / 2, h / 2, image::imageops::FilterType::Triangle)
        .save(frames.join("frame-3b.png"))
        .expect("copy");
    let with_copy = replay("with-copy");
    assert_eq!(
        accepted(&with_copy),
        accepted(&steady).map(|n| n + 1),
        "the copy reaches the tracker"
    );
    assert_eq!(cells(&with_copy), cells(&steady), "{with_copy}");
}

#[test]
fn a_board_with_a_subtype_model_names_the_blasts_subtype_and_check_says_which_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let frames = dir.path().join("frames");
    write_frames(&frames, 10);
    let board = dir.path().join("board.toml");
    // The demo model types its own blasts; a call on 20 cells, as a test slide is small.
    std::fs::write(
        &board,
        format!(
            "[model]\npath = \"{DEMO_MODEL}\"\nsubtype_path = \"{DEMO_MODEL}\"\n\
             [storage]\ndir = \"data\"\n[session]\nmin_cells_for_call = 20\n"
        ),
    )
    .expect("board file");
    let board = board.to_str().expect("utf-8");

    let out = run(&["check", "--board", board]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("subtype    blasts typed by") && text.contains("Early Pre-B, Pre-B, Pro-B"),
        "{text}{}",
        stderr(&out)
    );

    let out_dir = dir.path().join("out");
    let out = run(&[
        "replay",
        "--board",
        board,
        "--frames",
        frames.to_str().expect("utf-8"),
        "--slide",
        "typed",
        "--out",
        out_dir.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("refer"), "{text}");
    assert!(text.contains("B-ALL subtype: "), "{text}");
    let json = report(&out_dir.join("reports/typed/report.json"));
    let subtype = &json["summary"]["subtype"];
    assert_eq!(subtype["taxonomy"], "b-all-4", "{json}");
    assert!(subtype["call"]["call"].is_string(), "{subtype}");
    assert_eq!(json["model"]["subtype"]["digest"], json["model"]["digest"]);
    let typed = json["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .filter(|c| c["subtype"].is_string())
        .count();
    assert!(typed >= 10, "{typed} cells typed");

    // A subtype model that is not one is refused in one line that names it.
    let out = run(&[
        "check",
        "--model",
        DEMO_MODEL,
        "--subtype-model",
        frames.join("frame-0.png").to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("the subtype model"), "{err}");
}
