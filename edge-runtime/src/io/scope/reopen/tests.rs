use std::cell::RefCell;
use std::collections::VecDeque;

use leukoscope_core::protocol::{Refusal, Request};

use super::super::LinkedScope;
use super::super::tests::{FakeController, short};
use super::*;

/// Retries a few milliseconds apart, giving up after `patience_ms`.
fn quick(patience_ms: u64) -> Backoff {
    Backoff {
        initial: Duration::from_millis(2),
        factor: 2,
        max: Duration::from_millis(8),
        patience: Some(Duration::from_millis(patience_ms)),
    }
}

/// Opens each of `controllers` in turn, then finds no port.
fn opener(
    controllers: Vec<FakeController>,
) -> impl FnMut() -> Result<LinkedScope<FakeController>, ScopeError> {
    let mut controllers = VecDeque::from(controllers);
    move || match controllers.pop_front() {
        Some(controller) => LinkedScope::connect(controller, short()),
        None => Err(ScopeError::Link(std::io::ErrorKind::NotFound.into())),
    }
}

#[test]
fn a_controller_that_restarts_mid_slide_is_homed_put_back_and_lit_again() {
    let events = RefCell::new(Vec::new());
    // The first hangs up on the sixth request: hello, home, lamp, move and focus go through.
    let mut first = FakeController::default();
    first.hangs_up_after = 5;
    let mut scope = ReopeningScope::open(
        opener(vec![first, FakeController::default()]),
        quick(1_000),
        |event: &ScopeLinkEvent| events.borrow_mut().push(event.clone()),
    )
    .expect("opens");
    scope.home().expect("homes");
    scope.lamp(800).expect("lights");
    scope.move_to(100, 200).expect("moves");
    scope.focus_to(3_000).expect("focuses");
    let at = scope
        .move_to(300, 400)
        .expect("moves, on the restarted controller");
    assert_eq!(
        (at.x_nm, at.y_nm, at.z_nm, at.homed),
        (300, 400, 3_000, true)
    );
    let restarted = scope.current().expect("open");
    assert_eq!(
        restarted.link.requests,
        [
            Request::Hello,
            Request::Where,
            Request::Home,
            Request::MoveTo {
                x_nm: 100,
                y_nm: 200
            },
            Request::FocusTo { z_nm: 3_000 },
            Request::Lamp { permille: 800 },
            Request::MoveTo {
                x_nm: 300,
                y_nm: 400
            },
        ]
    );
    let events = events.borrow();
    assert!(
        matches!(&events[..], [
            ScopeLinkEvent::Lost { reason },
            ScopeLinkEvent::Restored { attempts: 1, rehomed: true, .. },
        ] if reason.contains("closed")),
        "{events:?}"
    );
    assert!(
        events[1].to_string().contains("homed again"),
        "{}",
        events[1]
    );
}

#[test]
fn a_controller_that_stays_away_is_given_up_on_with_the_links_error() {
    let events = RefCell::new(Vec::new());
    let mut first = FakeController::default();
    first.hangs_up_after = 2;
    let mut scope =
        ReopeningScope::open(opener(vec![first]), quick(40), |event: &ScopeLinkEvent| {
            events.borrow_mut().push(event.clone())
        })
        .expect("opens");
    scope.home().expect("homes");
    let started = Instant::now();
    let lost = scope.move_to(1, 2).expect_err("the port never comes back");
    assert!(matches!(lost, ScopeError::Link(_)), "{lost}");
    assert!(started.elapsed() >= Duration::from_millis(40));
    let events = events.borrow();
    assert!(
        matches!(&events[..], [ScopeLinkEvent::Lost { .. }, ScopeLinkEvent::GaveUp { attempts, .. }] if *attempts > 1),
        "{events:?}"
    );
    assert!(events[1].to_string().contains("check its cable"));
}

#[test]
fn refusals_are_answers_not_lost_links() {
    let opened = std::cell::Cell::new(0);
    let mut open = opener(vec![FakeController::default(), FakeController::default()]);
    let mut scope = ReopeningScope::open(
        || {
            opened.set(opened.get() + 1);
            open()
        },
        quick(1_000),
        |event: &ScopeLinkEvent| panic!("no link event expected: {event}"),
    )
    .expect("opens");
    match scope.move_to(5, 5) {
        Err(ScopeError::Refused { refusal, .. }) => assert_eq!(refusal, Refusal::NotHomed),
        other => panic!("expected NotHomed, got {other:?}"),
    }
    assert_eq!(opened.get(), 1);
}

#[test]
fn a_controller_that_dies_at_the_same_request_each_time_is_not_waited_for_forever() {
    // The first hangs up on the move after hello and homing; each reopened one hears hello,
    // where, home (it restarted), and hangs up on the move again.
    let controllers = (0..10)
        .map(|i| {
            let mut controller = FakeController::default();
            controller.hangs_up_after = if i == 0 { 2 } else { 3 };
            controller
        })
        .collect();
    let lost = RefCell::new(0);
    let mut scope = ReopeningScope::open(
        opener(controllers),
        quick(1_000),
        |event: &ScopeLinkEvent| {
            if matches!(event, ScopeLinkEvent::Lost { .. }) {
                *lost.borrow_mut() += 1;
            }
        },
    )
    .expect("opens");
    scope.home().expect("homes");
    let ended = scope.move_to(1, 1);
    assert!(matches!(ended, Err(ScopeError::Closed)), "{ended:?}");
    assert_eq!(*lost.borrow(), REOPENS_PER_REQUEST);
}
