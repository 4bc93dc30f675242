use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use leukoscope_core::synth::{SlideOptions, SyntheticSlide};

use super::*;
use crate::io::scope::{MockScope, SharedScope};

/// The synthetic frames' scale.
const UM_PER_PX: f32 = 0.42;

/// A sharp synthetic field.
fn sharp_field() -> RgbImage {
    let slide = SyntheticSlide::new(
        3,
        SlideOptions {
            world_width: 1280,
            world_height: 960,
            frame_width: 640,
            frame_height: 480,
            white_cells_per_frame: 4.0,
            ..SlideOptions::default()
        },
    )
    .expect("slide");
    slide.frame(0).expect("frame").image
}

/// A camera over a stage whose field is sharpest at `best` (shared, so a test can move
/// it): every 2 um away from it blurs the field by one more pixel of standard deviation,
/// as a 40x objective's image softens.
struct Microscope {
    stage: Rc<RefCell<MockScope>>,
    best: Rc<RefCell<i32>>,
    sharp: RgbImage,
    blurred: HashMap<u32, RgbImage>,
}

impl Microscope {
    fn capture(&mut self) -> Result<RgbImage, String> {
        let z = self.stage.borrow().at.z_nm;
        let off_um = (z - *self.best.borrow()).unsigned_abs() as f32 / 1000.0;
        // Tenths of a pixel: heights that blur alike share a frame.
        let tenths = (off_um / 2.0 * 10.0).round().min(80.0) as u32;
        let sharp = &self.sharp;
        Ok(self
            .blurred
            .entry(tenths)
            .or_insert_with(|| blurred(sharp, tenths as f32 / 10.0))
            .clone())
    }
}

fn blurred(image: &RgbImage, sigma: f32) -> RgbImage {
    if sigma < 0.05 {
        return image.clone();
    }
    let img = image::RgbImage::from_raw(image.width(), image.height(), image.as_raw().to_vec())
        .expect("sizes match");
    let out = image::imageops::blur(&img, sigma);
    RgbImage::from_raw(out.width(), out.height(), out.into_raw()).expect("sizes match")
}

/// A homed stage with its focus at `start`, the field sharpest at `best`.
fn microscope(start: i32, best: i32) -> (Rc<RefCell<MockScope>>, Microscope) {
    let stage = Rc::new(RefCell::new(MockScope::new(50_000_000, 5_000_000)));
    stage.borrow_mut().home().expect("homes");
    stage.borrow_mut().focus_to(start).expect("in range");
    let camera = Microscope {
        stage: stage.clone(),
        best: Rc::new(RefCell::new(best)),
        sharp: sharp_field(),
        blurred: HashMap::new(),
    };
    (stage, camera)
}

/// [`autofocus`] or [`refocus`].
type Focuser = fn(
    &mut dyn Scope,
    &mut dyn FnMut() -> Result<RgbImage, String>,
    FocusSweep,
    QualityThresholds,
    f32,
) -> Result<Focused, AutofocusError>;

/// Runs `focus` with the stage and the camera of `microscope`.
fn focus_with(
    stage: &Rc<RefCell<MockScope>>,
    camera: &mut Microscope,
    focus: Focuser,
) -> Result<Focused, AutofocusError> {
    // The stage is borrowed only between frames: the camera reads it inside `capture`.
    let mut scope = SharedScope(stage.clone());
    focus(
        &mut scope,
        &mut || camera.capture(),
        FocusSweep::default(),
        QualityThresholds::default(),
        UM_PER_PX,
    )
}

#[test]
fn focus_is_found_from_anywhere_within_reach_above_or_below() {
    let best = 2_345_000;
    for start in [best + 27_000, best - 33_000, best] {
        let (stage, mut camera) = microscope(start, best);
        let found = focus_with(&stage, &mut camera, autofocus).expect("focused");
        assert!(
            (found.z_nm - best).abs() <= 500,
            "from {start}: found {} for {best}",
            found.z_nm
        );
        // Left there, after 21 coarse and 17 fine heights.
        assert_eq!(stage.borrow().at.z_nm, found.z_nm);
        assert_eq!(found.frames, 21 + 17);
        assert!(found.focus >= QualityThresholds::default().min_focus);
    }
}

#[test]
fn refocus_follows_a_slide_that_drifts_between_fields() {
    let best = 1_000_000;
    let (stage, mut camera) = microscope(best + 20_000, best);
    focus_with(&stage, &mut camera, autofocus).expect("focused");
    for drift in [1_500, -2_500, 3_000] {
        let now = *camera.best.borrow() + drift;
        *camera.best.borrow_mut() = now;
        let found = focus_with(&stage, &mut camera, refocus).expect("refocused");
        assert!((found.z_nm - now).abs() <= 500, "{} for {now}", found.z_nm);
        assert_eq!(found.frames, 17);
    }
}

#[test]
fn an_empty_field_or_a_dead_camera_is_named_not_focused() {
    let (stage, _) = microscope(100_000, 100_000);
    let mut scope = SharedScope(stage.clone());
    let glass = RgbImage::filled(640, 480, [236, 232, 240]);
    match autofocus(
        &mut scope,
        &mut || Ok(glass.clone()),
        FocusSweep::default(),
        QualityThresholds::default(),
        UM_PER_PX,
    ) {
        Err(AutofocusError::NothingInFocus { from_nm, to_nm, .. }) => {
            assert_eq!((from_nm, to_nm), (60_000, 140_000));
        }
        other => panic!("expected nothing in focus, got {other:?}"),
    }
    assert!(matches!(
        autofocus(
            &mut scope,
            &mut || Err("camera unplugged".to_string()),
            FocusSweep::default(),
            QualityThresholds::default(),
            UM_PER_PX,
        ),
        Err(AutofocusError::Camera(why)) if why == "camera unplugged"
    ));
    assert!(matches!(
        autofocus(
            &mut scope,
            &mut || Ok(glass.clone()),
            FocusSweep {
                fine_step_nm: 0,
                ..FocusSweep::default()
            },
            QualityThresholds::default(),
            UM_PER_PX,
        ),
        Err(AutofocusError::Settings)
    ));
    // Beyond the focus travel the controller refuses, and the refusal is passed on.
    stage.borrow_mut().focus_to(10_000).expect("in range");
    assert!(matches!(
        autofocus(
            &mut scope,
            &mut || Ok(glass.clone()),
            FocusSweep::default(),
            QualityThresholds::default(),
            UM_PER_PX,
        ),
        Err(AutofocusError::Scope(ScopeError::Refused { .. }))
    ));
}
