use leukoscope_core::protocol::{Axis, PROTOCOL_VERSION, Position, Refusal, Reply, Request};

use super::*;
use crate::testing::{LINK_TIMEOUT_MS, Rig, Session};

fn homed_at_zero() -> Reply {
    Reply::Arrived(Position {
        x_nm: 0,
        y_nm: 0,
        z_nm: 0,
        homed: true,
    })
}

#[test]
fn hello_names_the_protocol_the_firmware_and_the_link_timeout() {
    let rig = Rig::new();
    let mut s = Session::new(&rig);
    assert_eq!(
        s.ask(9, Request::Hello),
        Reply::Hello {
            protocol: PROTOCOL_VERSION,
            firmware: FIRMWARE_VERSION,
            link_timeout_ms: LINK_TIMEOUT_MS,
        }
    );
    assert_eq!(s.replies, vec![(9, s.replies[0].1)]);
    assert_eq!(s.controller.state(), State::NotHomed);
}

#[test]
fn homing_takes_the_focus_away_first_then_the_stage_and_ends_at_zero() {
    let rig = Rig::new();
    let mut s = Session::new(&rig);
    assert_eq!(
        s.ask(1, Request::MoveTo { x_nm: 0, y_nm: 0 }),
        Reply::Refused(Refusal::NotHomed)
    );
    assert_eq!(s.ask(2, Request::Home), Reply::Accepted);
    // The drivers were enabled (low) for it.
    assert!(!rig.enable.0.get());
    // While Z homes, X and Y stand still.
    while rig.motors[2].position() > 1 {
        s.tick_once();
        assert_eq!(rig.motors[0].steps() + rig.motors[1].steps(), 0);
        if s.now_us.is_multiple_of(300_000) {
            s.ask(0xffff, Request::Ping);
        }
        assert!(s.now_us < 10_000_000, "Z never reached its switch");
    }
    assert_eq!(s.ask(3, Request::Home), Reply::Refused(Refusal::Busy));
    assert_eq!(s.wait(2, Some(300), 10_000), Some(homed_at_zero()));
    // Every motor at its switch's opening edge.
    assert!(rig.motors.iter().all(|m| m.position() == 1));
    assert_eq!(s.controller.state(), State::Ready);
}

#[test]
fn a_move_arrives_at_the_nearest_step_and_moves_and_focus_run_together() {
    let rig = Rig::new();
    let mut s = Session::new(&rig);
    assert_eq!(s.home(), homed_at_zero());
    let move_to = Request::MoveTo {
        x_nm: 1_000_000,
        y_nm: 250_300,
    };
    assert_eq!(s.ask(10, move_to), Reply::Accepted);
    assert_eq!(s.ask(11, move_to), Reply::Refused(Refusal::Busy));
    assert_eq!(
        s.ask(12, Request::FocusTo { z_nm: 1_800_040 }),
        Reply::Accepted
    );
    assert_eq!(s.controller.state(), State::Moving);
    let focus = s.wait(12, Some(300), 5_000).expect("focus ends");
    let stage = s.wait(10, Some(300), 5_000).expect("move ends");
    // 250,300 nm is 400.48 steps of 625 nm; 1,800,040 nm is 18,000.4 steps of 100 nm.
    let at = Position {
        x_nm: 1_000_000,
        y_nm: 250_000,
        z_nm: 1_800_000,
        homed: true,
    };
    // Each answer says where every axis was when it ended: the stage's arrived first.
    assert!(matches!(stage, Reply::Arrived(p) if (p.x_nm, p.y_nm) == (at.x_nm, at.y_nm)));
    assert!(matches!(focus, Reply::Arrived(p) if p.z_nm == at.z_nm));
    assert_eq!(rig.motors[0].position(), 1 + 1_600);
    assert_eq!(s.ask(13, Request::Where), Reply::At(at));
}

#[test]
fn targets_beyond_the_soft_limits_are_refused_naming_the_axis() {
    let rig = Rig::new();
    let mut s = Session::new(&rig);
    s.home();
    for (request, axis) in [
        (Request::MoveTo { x_nm: -1, y_nm: 0 }, Axis::X),
        (
            Request::MoveTo {
                x_nm: 0,
                y_nm: 50_000_001,
            },
            Axis::Y,
        ),
        (Request::FocusTo { z_nm: 5_000_001 }, Axis::Z),
    ] {
        assert_eq!(
            s.ask(5, request),
            Reply::Refused(Refusal::OutOfRange { axis })
        );
    }
    assert_eq!(
        s.ask(6, Request::Lamp { permille: 1_001 }),
        Reply::Refused(Refusal::BadValue)
    );
    assert_eq!(s.ask(7, Request::Lamp { permille: 640 }), Reply::Done);
    assert_eq!(rig.lamp.0.get(), 640);
    assert!(
        rig.motors.iter().all(|m| m.position() == 1),
        "nothing moved"
    );
}

#[test]
fn stop_ramps_every_axis_down_and_the_motion_ends_stopped() {
    let rig = Rig::new();
    let mut s = Session::new(&rig);
    s.home();
    assert_eq!(
        s.ask(
            20,
            Request::MoveTo {
                x_nm: 40_000_000,
                y_nm: 0
            }
        ),
        Reply::Accepted
    );
    for _ in 0..10_000 {
        s.tick_once();
    }
    let moved = rig.motors[0].steps();
    assert_eq!(s.ask(21, Request::Stop), Reply::Done);
    assert_eq!(
        s.wait(20, None, 1_000),
        Some(Reply::Refused(Refusal::Stopped))
    );
    // Stopped well short of the target, and still homed: a ramped stop loses no step.
    let x = rig.motors[0].position();
    assert!(x > 1_000 && x < 20_000, "{x}");
    assert!(rig.motors[0].steps() > moved);
    assert_eq!(s.controller.state(), State::Ready);
    assert!(
        matches!(s.ask(22, Request::Where), Reply::At(p) if p.homed && p.x_nm == (x - 1) * 625)
    );
}

#[test]
fn a_quiet_link_stops_a_motion_and_pings_keep_it_going() {
    let rig = Rig::new();
    let mut s = Session::new(&rig);
    s.home();
    // A 30 mm move takes about 2 s: pinged every 400 ms it runs to the end.
    assert_eq!(
        s.ask(
            30,
            Request::MoveTo {
                x_nm: 30_000_000,
                y_nm: 0
            }
        ),
        Reply::Accepted
    );
    assert!(matches!(
        s.wait(30, Some(400), 5_000),
        Some(Reply::Arrived(_))
    ));
    // Unpinged, it stops a link timeout after the last request.
    let asked = s.now_us;
    assert_eq!(
        s.ask(31, Request::MoveTo { x_nm: 0, y_nm: 0 }),
        Reply::Accepted
    );
    assert_eq!(
        s.wait(31, None, 5_000),
        Some(Reply::Refused(Refusal::LinkLost))
    );
    let stopped_after_ms = (s.now_us - asked) / 1_000;
    assert!(
        (1_000..1_300).contains(&stopped_after_ms),
        "{stopped_after_ms} ms"
    );
    assert!(rig.motors[0].position() > 1_000, "stopped on the way");
    assert_eq!(s.controller.state(), State::LinkLost);
    // The next request clears it.
    s.ask(32, Request::Ping);
    assert_eq!(s.controller.state(), State::Ready);
}

#[test]
fn a_limit_switch_closing_mid_move_halts_everything_and_asks_for_homing() {
    let rig = Rig::new();
    let mut s = Session::new(&rig);
    s.home();
    assert_eq!(
        s.ask(
            40,
            Request::MoveTo {
                x_nm: 5_000_000,
                y_nm: 5_000_000
            }
        ),
        Reply::Accepted
    );
    assert!(matches!(
        s.wait(40, Some(300), 5_000),
        Some(Reply::Arrived(_))
    ));
    // A hand pushes the X stage 1 mm towards its switch: the firmware does not know.
    rig.motors[0].push(-1_600 - 3_200);
    assert_eq!(
        s.ask(
            41,
            Request::MoveTo {
                x_nm: 2_500_000,
                y_nm: 0
            }
        ),
        Reply::Accepted
    );
    assert_eq!(
        s.ask(42, Request::FocusTo { z_nm: 1_000_000 }),
        Reply::Accepted
    );
    assert_eq!(
        s.wait(41, Some(300), 5_000),
        Some(Reply::Refused(Refusal::LimitHit { axis: Axis::X }))
    );
    assert_eq!(
        s.ended(42),
        Some(Reply::Refused(Refusal::LimitHit { axis: Axis::X }))
    );
    assert_eq!(rig.motors[0].position(), 0);
    assert_eq!(s.controller.state(), State::NotHomed);
    assert_eq!(
        s.ask(43, Request::FocusTo { z_nm: 0 }),
        Reply::Refused(Refusal::NotHomed)
    );
    // Homing again finds the true zero.
    assert_eq!(s.home(), homed_at_zero());
    assert_eq!(rig.motors[0].position(), 1);
}

#[test]
fn an_unreadable_frame_is_answered_as_number_zero() {
    let rig = Rig::new();
    let mut s = Session::new(&rig);
    let replies = &mut s.replies;
    s.controller
        .unreadable(5, &mut |seq, reply| replies.push((seq, reply)));
    assert_eq!(s.replies, vec![(0, Reply::Refused(Refusal::Unreadable))]);
}
