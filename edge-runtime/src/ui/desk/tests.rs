use super::*;

fn desk(can_start: bool) -> Arc<Desk> {
    Desk::new(DeskConfig {
        mode: DeskMode::Run,
        data: DataDir::new("d"),
        taxonomy: Taxonomy::b_all_4(),
        rules: SessionRules::default(),
        demonstration: false,
        can_start,
        rebuild: None,
    })
}

#[test]
fn start_and_stop_requests_reach_the_scan_loop_once_each() {
    let desk = desk(true);
    assert!(!desk.wait_for_start(Duration::ZERO));
    assert!(!desk.request_stop(), "nothing runs yet");
    // A press from another thread wakes a waiting scan loop.
    let presser = {
        let desk = desk.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            desk.request_start()
        })
    };
    assert!(desk.wait_for_start(Duration::from_secs(10)));
    assert!(presser.join().unwrap());
    assert!(!desk.wait_for_start(Duration::ZERO), "answered once");

    desk.slide_starting("s-1");
    assert!(!desk.request_start(), "a slide is running");
    assert!(!desk.take_stop());
    assert!(desk.request_stop());
    assert!(desk.take_stop());
    assert!(!desk.take_stop(), "answered once");
    desk.slide_ended("stopped by the operator".into());
    let state = desk.lock();
    let live = state.live.as_ref().unwrap();
    assert!(!live.running);
    assert_eq!(live.ended.as_deref(), Some("stopped by the operator"));
}

#[test]
fn a_desk_that_cannot_start_slides_refuses_start() {
    let desk = desk(false);
    assert!(!desk.request_start());
    assert!(!desk.wait_for_start(Duration::ZERO));
}
