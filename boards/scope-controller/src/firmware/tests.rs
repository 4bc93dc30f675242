use embedded_hal_mock::eh1::delay::NoopDelay;
use leukoscope_core::protocol::{
    FrameReader, MAX_FRAME_LEN, Refusal, Reply, Request, decode, encode,
};

use super::*;
use crate::sim::{SimDir, SimLamp, SimLine, SimStep, SimSwitch};
use crate::testing::{MemoryUart, Rig};

#[derive(Default)]
struct CountingWatchdog(u32);

impl Watchdog for &mut CountingWatchdog {
    fn feed(&mut self) {
        self.0 += 1;
    }
}

type Fw<'a> = Firmware<
    MemoryUart,
    SimStep<'a>,
    SimDir<'a>,
    SimSwitch<'a>,
    &'a SimLine,
    &'a SimLamp,
    &'a SimLine,
    &'a SimLine,
    &'a mut CountingWatchdog,
    NoopDelay,
>;

/// The rig's controller on an in-memory port, its start button released (high).
fn firmware<'a>(
    rig: &'a Rig,
    led: &'a SimLine,
    button: &'a SimLine,
    dog: &'a mut CountingWatchdog,
) -> Fw<'a> {
    Firmware::new(
        SerialLink::new(MemoryUart::default()),
        rig.controller(),
        led,
        StartButton::new(button, true),
        dog,
        NoopDelay,
    )
}

fn send(fw: &mut Fw<'_>, seq: u16, request: Request) {
    let mut out = [0u8; MAX_FRAME_LEN];
    let len = encode(seq, &request, &mut out).expect("fits");
    fw.link.uart.incoming.extend(&out[..len]);
}

fn replies(fw: &mut Fw<'_>) -> Vec<(u16, Reply)> {
    let mut reader = FrameReader::new();
    let written = core::mem::take(&mut fw.link.uart.written);
    written
        .into_iter()
        .filter_map(|b| {
            reader
                .push(b)
                .map(|f| decode::<Reply>(f.expect("a frame")).expect("a reply"))
        })
        .collect()
}

#[test]
fn each_pass_feeds_the_watchdog_answers_and_shows_the_state_on_the_led() {
    let rig = Rig::new();
    let led = SimLine::default();
    let button = SimLine(core::cell::Cell::new(true));
    let mut dog = CountingWatchdog::default();
    let mut fw = firmware(&rig, &led, &button, &mut dog);
    send(&mut fw, 1, Request::Hello);
    // Noise on the line: answered as unreadable, number 0.
    fw.link.uart.incoming.extend([0x55, 0x13, 0x00]);
    send(&mut fw, 2, Request::Home);
    let mut now = 0;
    for _ in 0..3 {
        fw.poll(now).expect("polls");
        now += 20;
    }
    let got = replies(&mut fw);
    assert!(matches!(got[0], (1, Reply::Hello { .. })), "{got:?}");
    assert_eq!(got[1], (0, Reply::Refused(Refusal::Unreadable)));
    assert_eq!(got[2], (2, Reply::Accepted));
    // While homing the LED blinks (4 Hz); pings keep the link alive.
    let mut seen = Vec::new();
    while fw.controller().state() == State::Moving {
        fw.poll(now).expect("polls");
        if now.is_multiple_of(50_000) {
            seen.push(led.0.get());
            send(&mut fw, 3, Request::Ping);
        }
        now += 20;
    }
    assert!(seen.contains(&true) && seen.contains(&false), "{seen:?}");
    let got = replies(&mut fw);
    assert!(
        got.iter()
            .any(|r| matches!(r, (2, Reply::Arrived(p)) if p.homed)),
        "{got:?}"
    );
    // Homed and still: steady.
    fw.poll(now).expect("polls");
    assert!(led.0.get());
    drop(fw);
    assert!(dog.0 > 1_000, "fed {} times", dog.0);
}

#[test]
fn the_start_button_counts_presses_held_past_their_bounce() {
    let rig = Rig::new();
    let (led, button) = (SimLine::default(), SimLine(core::cell::Cell::new(true)));
    let mut dog = CountingWatchdog::default();
    let mut fw = firmware(&rig, &led, &button, &mut dog);
    let mut now = 0;
    let hold = |fw: &mut Fw<'_>, now: &mut u64, pressed: bool, ms: u64| {
        button.0.set(!pressed);
        for _ in 0..ms {
            fw.poll(*now).expect("polls");
            *now += 1_000;
        }
    };
    // Contact bounce: 10 ms down, up, 5 ms down.
    hold(&mut fw, &mut now, false, 50);
    hold(&mut fw, &mut now, true, 10);
    hold(&mut fw, &mut now, false, 3);
    hold(&mut fw, &mut now, true, 5);
    hold(&mut fw, &mut now, false, 50);
    send(&mut fw, 1, Request::Presses);
    fw.poll(now).expect("polls");
    // Two presses held 40 ms each, a release between.
    hold(&mut fw, &mut now, true, 40);
    hold(&mut fw, &mut now, false, 40);
    hold(&mut fw, &mut now, true, 40);
    hold(&mut fw, &mut now, false, 40);
    send(&mut fw, 2, Request::Presses);
    fw.poll(now).expect("polls");
    assert_eq!(
        replies(&mut fw),
        [
            (1, Reply::Presses { count: 0 }),
            (2, Reply::Presses { count: 2 })
        ]
    );
}
