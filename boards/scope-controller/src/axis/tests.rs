use embedded_hal_mock::eh1::MockError;
use embedded_hal_mock::eh1::delay::NoopDelay;
use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as Pin};

use super::*;
use crate::sim::{STAGE_AXES, SimMotor};

const SLOW: AxisConfig = AxisConfig {
    nm_per_step: 500,
    travel_nm: 10_000,
    ramp: Ramp {
        max_rate: 1_000,
        accel: 1_000_000,
    },
    home_rate: 1_000,
    switch_active_low: true,
};

/// Ticks every 10 µs until the axis reports how its motion ended.
fn run<S: OutputPin, D: OutputPin, L: InputPin>(
    axis: &mut StepperAxis<S, D, L>,
    now: &mut u64,
) -> AxisEvent {
    for _ in 0..10_000_000 {
        *now += 10;
        if let Some(event) = axis.tick(*now, &mut NoopDelay) {
            return event;
        }
    }
    panic!("the motion never ended");
}

#[test]
fn a_move_away_from_the_switch_sets_the_direction_then_pulses_each_step() {
    let mut step = PinMock::new(&[
        Pin::set(State::High),
        Pin::set(State::Low),
        Pin::set(State::High),
        Pin::set(State::Low),
        Pin::set(State::High),
        Pin::set(State::Low),
    ]);
    let mut dir = PinMock::new(&[Pin::set(State::High)]);
    // Moving away, the switch is not read.
    let mut switch = PinMock::new(&[]);
    let mut axis = StepperAxis::new(step.clone(), dir.clone(), switch.clone(), SLOW);
    let mut now = 0;
    // 1,400 nm is 2.8 steps: the nearest step is the third.
    axis.start_move(1_400, now, &mut NoopDelay).expect("starts");
    assert!(axis.busy());
    assert_eq!(run(&mut axis, &mut now), AxisEvent::Arrived);
    assert_eq!(axis.position_nm(), 1_500);
    assert!(!axis.busy());
    step.done();
    dir.done();
    switch.done();
}

#[test]
fn a_move_towards_the_switch_stops_at_once_when_it_closes() {
    let mut step = PinMock::new(&[Pin::set(State::High), Pin::set(State::Low)]);
    let mut dir = PinMock::new(&[Pin::set(State::Low)]);
    // Open before the first step, closed before the second.
    let mut switch = PinMock::new(&[Pin::get(State::High), Pin::get(State::Low)]);
    let mut axis = StepperAxis::new(step.clone(), dir.clone(), switch.clone(), SLOW);
    axis.homed = true;
    axis.at = 10;
    let mut now = 0;
    axis.start_move(0, now, &mut NoopDelay).expect("starts");
    assert_eq!(run(&mut axis, &mut now), AxisEvent::LimitHit);
    assert!(!axis.homed());
    assert!(!axis.busy());
    step.done();
    dir.done();
    switch.done();
}

#[test]
fn homing_backs_off_the_switch_and_calls_its_opening_edge_zero() {
    let motor = SimMotor::at(15);
    let mut axis = StepperAxis::new(motor.step_pin(), motor.dir_pin(), motor.switch_pin(), SLOW);
    let mut now = 0;
    axis.start_homing(now, &mut NoopDelay).expect("starts");
    assert_eq!(run(&mut axis, &mut now), AxisEvent::Arrived);
    assert!(axis.homed());
    assert_eq!(axis.position_nm(), 0);
    // Closed at 0, open again one step out.
    assert_eq!(motor.position(), 1);
    // 15 steps in, one back out, the switch read once a step, at the homing rate of 1,000
    // steps/s: 16 ms.
    assert_eq!(motor.steps(), 16);
    assert!((16_000..17_000).contains(&now), "{now} us");
    // Wherever it stood, the same zero.
    let motor = SimMotor::at(7);
    let mut axis = StepperAxis::new(motor.step_pin(), motor.dir_pin(), motor.switch_pin(), SLOW);
    axis.start_homing(now, &mut NoopDelay).expect("starts");
    assert_eq!(run(&mut axis, &mut now), AxisEvent::Arrived);
    assert_eq!(motor.position(), 1);
}

#[test]
fn a_switch_that_never_closes_or_never_opens_is_named() {
    // 20 steps of travel: seeking gives up after 22 steps.
    let motor = SimMotor::at(1_000);
    let mut axis = StepperAxis::new(motor.step_pin(), motor.dir_pin(), motor.switch_pin(), SLOW);
    let mut now = 0;
    axis.start_homing(now, &mut NoopDelay).expect("starts");
    assert_eq!(run(&mut axis, &mut now), AxisEvent::SwitchNotFound);
    assert_eq!(motor.steps(), 22);
    assert!(!axis.homed());
    // A switch stuck closed: backing off gives up after a tenth of the travel and 10 steps.
    let stuck = vec![Pin::get(State::Low); 12];
    let pulses: Vec<Pin> = (0..10)
        .flat_map(|_| [Pin::set(State::High), Pin::set(State::Low)])
        .collect();
    let mut step = PinMock::new(&pulses);
    let mut dir = PinMock::new(&[Pin::set(State::Low), Pin::set(State::High)]);
    let mut switch = PinMock::new(&stuck);
    let mut axis = StepperAxis::new(step.clone(), dir.clone(), switch.clone(), SLOW);
    axis.start_homing(now, &mut NoopDelay).expect("starts");
    assert_eq!(run(&mut axis, &mut now), AxisEvent::SwitchNotFound);
    step.done();
    dir.done();
    switch.done();
}

#[test]
fn a_pin_that_fails_stops_the_axis_and_forgets_its_zero() {
    let mut step =
        PinMock::new(&[Pin::set(State::High).with_error(MockError::Io(std::io::ErrorKind::Other))]);
    let mut dir = PinMock::new(&[Pin::set(State::High)]);
    let mut switch = PinMock::new(&[]);
    let mut axis = StepperAxis::new(step.clone(), dir.clone(), switch.clone(), SLOW);
    axis.homed = true;
    let mut now = 0;
    axis.start_move(5_000, now, &mut NoopDelay).expect("starts");
    assert_eq!(run(&mut axis, &mut now), AxisEvent::Fault);
    assert!(!axis.homed() && !axis.busy());
    step.done();
    dir.done();
    switch.done();
}

#[test]
fn told_to_stop_a_move_ramps_down_within_its_stopping_distance() {
    let motor = SimMotor::at(1);
    let config = STAGE_AXES[0];
    let mut axis = StepperAxis::new(
        motor.step_pin(),
        motor.dir_pin(),
        motor.switch_pin(),
        config,
    );
    axis.homed = true;
    let mut now = 0;
    axis.start_move(40_000_000, now, &mut NoopDelay)
        .expect("starts");
    // Run until at full rate, then stop.
    while motor.steps() < 3_000 {
        now += 5;
        assert_eq!(axis.tick(now, &mut NoopDelay), None);
    }
    axis.stop();
    assert_eq!(run(&mut axis, &mut now), AxisEvent::Stopped);
    // 16,000 steps/s at 80,000 steps/s^2 stop in 1,600 steps.
    assert_eq!(motor.steps(), 3_000 + config.ramp.stopping_steps(3_000));
    assert_eq!(config.ramp.stopping_steps(3_000), 1_600);
    assert!(axis.homed());
}

#[test]
fn the_nearest_step_rounds_half_away_from_below() {
    assert_eq!(SLOW.steps_of(0), 0);
    assert_eq!(SLOW.steps_of(249), 0);
    assert_eq!(SLOW.steps_of(250), 1);
    assert_eq!(SLOW.steps_of(-250), 0);
    assert_eq!(SLOW.steps_of(-251), -1);
    assert_eq!(SLOW.travel_steps(), 20);
}
