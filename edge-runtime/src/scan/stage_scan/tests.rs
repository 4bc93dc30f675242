//! Home, autofocus and a 3x3 serpentine through the whole pipeline, with the stage in
//! memory ([`MockScope`]) and a camera that shows the synthetic smear under it: the field
//! the stage is at, blurred by how far the focus is from the smear's plane.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use leukoscope_core::artifact::{ModelArtifact, TrustPolicy, VerifiedArtifact};
use leukoscope_core::synth::{SlideOptions, SyntheticSlide};

use super::*;
use crate::io::scope::{MockScope, SharedScope};
use crate::records::journal::open_slide_journal;
use crate::records::layout::DataDir;
use crate::scan::pipeline::{Control, Resume, ScanEnd, ScanSettings, SlideScanner};
use crate::scan::stage_plan::{StageArea, serpentine};

/// The synthetic frames' scale, in nanometres per pixel.
const NM_PER_PX: i32 = 420;
const FRAME: (u32, u32) = (640, 480);
/// The height at which the smear is sharp.
const SMEAR_Z_NM: i32 = 1_800_000;

/// A smear three frames by three, consecutive frames overlapping by a fifth.
fn smear() -> SyntheticSlide {
    SyntheticSlide::new(
        17,
        SlideOptions {
            world_width: FRAME.0 + 2 * 512,
            world_height: FRAME.1 + 2 * 384,
            frame_width: FRAME.0,
            frame_height: FRAME.1,
            step_fraction: 0.8,
            white_cells_per_frame: 5.0,
            ..SlideOptions::default()
        },
    )
    .expect("slide")
}

/// A camera over the stage: the smear's field whose centre is nearest the stage's
/// position, one pixel of blur per 2 um of defocus.
struct Camera {
    stage: Rc<RefCell<MockScope>>,
    smear: SyntheticSlide,
    shots: HashMap<(u32, u32), RgbImage>,
    taken: u64,
}

impl FrameSource for Camera {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let at = self.stage.borrow().at;
        let centre = |i: u32| {
            let [x, y] = self.smear.stage(i).expect("a field");
            (
                (x as i32 + FRAME.0 as i32 / 2) * NM_PER_PX,
                (y as i32 + FRAME.1 as i32 / 2) * NM_PER_PX,
            )
        };
        let field = (0..self.smear.frame_count())
            .min_by_key(|&i| {
                let (x, y) = centre(i);
                i64::from(x - at.x_nm).abs() + i64::from(y - at.y_nm).abs()
            })
            .expect("fields");
        let tenths = ((at.z_nm - SMEAR_Z_NM).unsigned_abs() / 200).min(80);
        let smear = &self.smear;
        let image = self
            .shots
            .entry((field, tenths))
            .or_insert_with(|| {
                let sharp = smear.frame(field).expect("frame").image;
                if tenths == 0 {
                    return sharp;
                }
                let img =
                    image::RgbImage::from_raw(sharp.width(), sharp.height(), sharp.into_raw())
                        .expect("sizes match");
                let out = image::imageops::blur(&img, tenths as f32 / 10.0);
                RgbImage::from_raw(out.width(), out.height(), out.into_raw()).expect("sizes")
            })
            .clone();
        self.taken += 1;
        Ok(Some(Frame {
            index: self.taken,
            image,
            captured: Instant::now(),
            origin: format!("camera frame {}", self.taken),
            stage_um: None,
        }))
    }

    fn describe(&self) -> String {
        "a camera over a synthetic smear".into()
    }
}

fn demo_model() -> VerifiedArtifact {
    let bytes = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/demo/synthetic-demo-int8.lsm"
    ));
    ModelArtifact::decode(bytes, &TrustPolicy::any()).expect("the demo model verifies")
}

/// The smear's whole area as the stage sees it, and its serpentine of fields.
fn plan() -> Vec<(i32, i32)> {
    let area = StageArea {
        x0_nm: 0,
        y0_nm: 0,
        x1_nm: (FRAME.0 + 2 * 512) as i32 * NM_PER_PX,
        y1_nm: (FRAME.1 + 2 * 384) as i32 * NM_PER_PX,
    };
    let field = (
        i64::from(FRAME.0) * i64::from(NM_PER_PX),
        i64::from(FRAME.1) * i64::from(NM_PER_PX),
    );
    serpentine(area, field, 0.2).expect("a plan")
}

fn scanned(stage: &Rc<RefCell<MockScope>>, plan: Vec<(i32, i32)>) -> (ScanEnd, SlideScanner, u32) {
    let camera = Camera {
        stage: stage.clone(),
        smear: smear(),
        shots: HashMap::new(),
        taken: 0,
    };
    let mut scan = StageScan::new(
        SharedScope(stage.clone()),
        camera,
        plan,
        // The scope's nominal slide height, 25 um off this slide's.
        SMEAR_Z_NM + 25_000,
        FocusSweep::default(),
        QualityThresholds::default(),
        NM_PER_PX as f32 / 1000.0,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, earlier, _) =
        open_slide_journal(&DataDir::new(dir.path()), "stage").expect("journal");
    let mut settings = ScanSettings::default();
    settings.set_given_scale(NM_PER_PX as f32 / 1000.0);
    let mut scanner = SlideScanner::new(
        "stage",
        &demo_model(),
        settings,
        journal,
        earlier,
        Resume::Continue,
    )
    .expect("scanner");
    let end = scanner
        .scan(&mut scan, |_, _| Control::Continue)
        .expect("scanned");
    (end, scanner, scan.focusing_frames())
}

#[test]
fn home_autofocus_and_a_three_by_three_serpentine_through_the_pipeline() {
    let stage = Rc::new(RefCell::new(MockScope::new(50_000_000, 5_000_000)));
    // Just powered up: not homed.
    let plan = plan();
    assert_eq!(plan.len(), 9);

    let (end, scanner, focusing) = scanned(&stage, plan.clone());
    assert_eq!(end, ScanEnd::SourceDone);
    // Every field was judged and accepted: focus was found and kept.
    assert_eq!(scanner.tally().frames(), 9);
    assert_eq!(scanner.tally().accepted, 9);
    assert!(
        scanner.cells().len() >= 20,
        "{} cells",
        scanner.cells().len()
    );
    assert_eq!(focusing, 38 + 8 * 17);
    let at = stage.borrow().at;
    assert!(at.homed);
    assert!((at.z_nm - SMEAR_Z_NM).abs() <= 500, "{}", at.z_nm);
    // The stage visited the plan's fields in its order, focusing at each in between.
    let visited: Vec<(i32, i32)> = stage.borrow().motions.iter().map(|&(x, y, _)| (x, y)).fold(
        Vec::new(),
        |mut fields, xy| {
            if fields.last() != Some(&xy) {
                fields.push(xy);
            }
            fields
        },
    );
    assert_eq!(visited, plan);
}

#[test]
fn a_field_the_stage_refuses_ends_the_slide_with_the_reason() {
    let stage = Rc::new(RefCell::new(MockScope::new(50_000_000, 5_000_000)));
    stage.borrow_mut().home().expect("homes");
    stage.borrow_mut().focus_to(SMEAR_Z_NM).expect("in range");
    let mut plan = plan();
    plan[4] = (60_000_000, plan[4].1);
    let (end, scanner, _) = scanned(&stage, plan);
    match end {
        ScanEnd::SourceFailed(why) => {
            assert!(why.contains("the stage or the focus"), "{why}");
            assert!(why.contains("OutOfRange"), "{why}");
        }
        other => panic!("expected the source to fail, got {other:?}"),
    }
    // The four fields before it were read and their cells counted.
    assert_eq!(scanner.tally().frames(), 4);
}
