use embedded_hal_mock::eh1::MockError;
use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as Pin};
use embedded_hal_mock::eh1::pwm::{Mock as PwmMock, Transaction as Pwm};

use super::*;

type MockBoard = BoardIo<PinMock, PinMock, PwmMock, PinMock>;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn board(led: &[Pin], buzzer: &[Pin], light: &[Pwm], button: &[Pin]) -> MockBoard {
    BoardIo::new(
        PinMock::new(led),
        PinMock::new(buzzer),
        PwmMock::new(light),
        PinMock::new(button),
        BoardConfig::default(),
    )
}

/// Checks every mock got exactly the calls it expected.
fn done(board: MockBoard) {
    let (mut led, mut buzzer, mut light, mut button) = board.release();
    led.done();
    buzzer.done();
    light.done();
    button.done();
}

#[test]
fn each_status_drives_its_pattern() {
    let (high, low) = (Pin::set(State::High), Pin::set(State::Low));
    // Ready: on at once, and stays on.
    let mut io = board(std::slice::from_ref(&high), &[], &[], &[]);
    io.set_status(Status::Ready, ms(0)).unwrap();
    for t in [1, 400, 999, 1000, 5000] {
        io.tick(ms(t)).unwrap();
    }
    done(io);

    // Working from t = 100: on 100..600, off 600..1100, on again at 1100.
    let mut io = board(&[high.clone(), low.clone(), high.clone()], &[], &[], &[]);
    io.set_status(Status::Working, ms(100)).unwrap();
    for t in [300, 599, 600, 900, 1099, 1100, 1200] {
        io.tick(ms(t)).unwrap();
    }
    assert_eq!(io.status(), Status::Working);
    done(io);

    // Attention: four flashes a second; repeating the same status keeps the rhythm.
    let mut io = board(
        &[high.clone(), low.clone(), high.clone(), low.clone()],
        &[],
        &[],
        &[],
    );
    io.set_status(Status::Attention, ms(0)).unwrap();
    io.tick(ms(125)).unwrap();
    io.set_status(Status::Attention, ms(200)).unwrap();
    io.tick(ms(250)).unwrap();
    io.tick(ms(375)).unwrap();
    done(io);

    // From a blink back to Ready: the LED comes on at once, whatever the phase.
    let mut io = board(&[high.clone(), low, high], &[], &[], &[]);
    io.set_status(Status::Working, ms(0)).unwrap();
    io.tick(ms(700)).unwrap();
    io.set_status(Status::Ready, ms(800)).unwrap();
    io.tick(ms(2000)).unwrap();
    done(io);
}

#[test]
fn a_beep_ends_on_time() {
    let buzzer = [Pin::set(State::High), Pin::set(State::Low)];
    let mut io = board(&[], &buzzer, &[], &[]);
    io.tick(ms(0)).unwrap();
    io.beep(ms(10)).unwrap();
    io.beep(ms(50)).unwrap(); // extends it to 170 ms, with no second write
    io.tick(ms(129)).unwrap();
    assert!(io.beeping());
    io.tick(ms(170)).unwrap();
    assert!(!io.beeping());
    io.tick(ms(400)).unwrap();
    done(io);
}

#[test]
fn illumination_percent_becomes_duty_cycle() {
    let max = 1000;
    let mut light = Vec::new();
    for duty in [0, 500, 1000, 1000, 1000] {
        light.extend([Pwm::max_duty_cycle(max), Pwm::set_duty_cycle(duty)]);
    }
    let mut io = board(&[], &[], &light, &[]);
    for percent in [0, 50, 100, 101, 255] {
        io.set_illumination(percent).unwrap();
    }
    done(io);
}

#[test]
fn button_presses_are_debounced() {
    // Active low: Low is pressed. Contact bounce, a held press, a bounce on release,
    // a glitch shorter than the settle time, then a second press.
    let readings = [
        (0, State::High),
        (5, State::Low),
        (8, State::High),
        (10, State::Low),
        (30, State::Low),
        (40, State::Low),
        (200, State::Low),
        (300, State::High),
        (303, State::Low),
        (305, State::High),
        (340, State::High),
        (400, State::Low),
        (410, State::High),
        (500, State::High),
        (600, State::Low),
        (640, State::Low),
    ];
    let pins: Vec<Pin> = readings.iter().map(|&(_, s)| Pin::get(s)).collect();
    let mut io = board(&[], &[], &[], &pins);
    let pressed: Vec<u64> = readings
        .iter()
        .filter(|&&(t, _)| io.button_pressed(ms(t)).unwrap())
        .map(|&(t, _)| t)
        .collect();
    // The first press counts 30 ms after the bouncing stopped (at 10), once only; the
    // 10 ms glitch at 400 does not count; the press at 600 does.
    assert_eq!(pressed, [40, 640]);
    done(io);
}

#[test]
fn active_high_wiring_and_pin_errors() {
    let config = BoardConfig {
        button: ButtonWiring::ActiveHigh,
        ..BoardConfig::default()
    };
    let mut io = BoardIo::new(
        PinMock::new(&[
            Pin::set(State::High).with_error(MockError::Io(std::io::ErrorKind::NotConnected))
        ]),
        PinMock::new(&[]),
        PwmMock::new(&[]),
        PinMock::new(&[Pin::get(State::High), Pin::get(State::High)]),
        config,
    );
    assert!(!io.button_pressed(ms(0)).unwrap());
    assert!(io.button_pressed(ms(30)).unwrap());
    let err = io.set_status(Status::Ready, ms(30)).unwrap_err();
    assert!(matches!(err, BoardIoError::StatusLed(_)));
    assert!(err.to_string().contains("status LED"), "{err}");
    done(io);
}

#[test]
fn debouncer_as_pure_logic() {
    let mut d = Debouncer::new(ms(20));
    assert_eq!(d.update(true, ms(0)), None);
    assert_eq!(d.update(true, ms(19)), None);
    assert_eq!(d.update(true, ms(20)), Some(true));
    assert_eq!(d.update(true, ms(500)), None);
    assert!(d.level());
    assert_eq!(d.update(false, ms(600)), None);
    assert_eq!(d.update(true, ms(610)), None);
    assert_eq!(d.update(false, ms(615)), None);
    assert_eq!(d.update(false, ms(635)), Some(false));
    assert!(!d.level());
}
