use super::*;

/// A prior at 0.5 µm per pixel that has seen the stage at `from` and now at `to`.
fn moved(prior: &mut StagePrior, from: [f64; 2], to: [f64; 2]) -> (f64, f64) {
    prior.frame_at(Some(from));
    prior.frame_at(Some(to)).expect("both positions known")
}

#[test]
fn it_learns_a_mirrored_camera_axis_by_axis() {
    let mut prior = StagePrior::new(0.5);
    // Nothing learnt: the eight orientations disagree.
    let m = moved(&mut prior, [0.0, 0.0], [50.0, 0.0]);
    assert_eq!(m, (100.0, 0.0));
    assert_eq!(prior.predict(m), None);
    // The optics mirror x: the frame moved left when the stage moved right.
    prior.learn(m, (-100.4, 0.3));
    assert_eq!(prior.predict((30.0, 0.0)), Some((-30.0, 0.0)));
    // Y is not learnt yet: a move along it is not predicted.
    assert_eq!(prior.predict((0.0, 40.0)), None);
    let m = moved(&mut prior, [50.0, 0.0], [50.0, 25.0]);
    prior.learn(m, (0.2, 49.8));
    assert_eq!(prior.predict((30.0, -40.0)), Some((-30.0, -40.0)));
}

#[test]
fn short_moves_and_measurements_that_fit_nothing_teach_nothing() {
    let mut prior = StagePrior::new(0.5);
    prior.learn((4.0, 3.0), (4.0, 3.0));
    assert_eq!(prior.predict((100.0, 0.0)), None);
    prior.learn((100.0, 0.0), (100.0, 0.0));
    prior.learn((0.0, 100.0), (0.0, 100.0));
    assert_eq!(prior.predict((10.0, 20.0)), Some((10.0, 20.0)));
    // An alias of a periodic pattern, or a skipped step: no orientation fits it.
    prior.learn((100.0, 0.0), (37.0, 61.0));
    assert_eq!(prior.predict((10.0, 20.0)), Some((10.0, 20.0)));
}

#[test]
fn a_frame_without_a_position_breaks_the_chain() {
    let mut prior = StagePrior::new(0.5);
    assert_eq!(prior.frame_at(Some([0.0, 0.0])), None);
    assert_eq!(prior.frame_at(None), None);
    assert_eq!(prior.frame_at(Some([10.0, 0.0])), None);
    assert_eq!(prior.frame_at(Some([20.0, 5.0])), Some((20.0, 10.0)));
    prior.forget_position();
    assert_eq!(prior.frame_at(Some([30.0, 5.0])), None);
}
