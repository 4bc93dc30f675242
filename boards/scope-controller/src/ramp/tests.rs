use proptest::prelude::*;

use super::*;

const STAGE: Ramp = Ramp {
    max_rate: 8_000,
    accel: 40_000,
};

/// Every step of a move: its rate, from the first to the last.
fn rates(ramp: Ramp, steps: u32) -> Vec<u32> {
    (0..steps)
        .map(|done| ramp.rate(done, steps - done))
        .collect()
}

#[test]
fn a_long_move_speeds_up_cruises_and_slows_down_symmetrically() {
    let r = rates(STAGE, 5_000);
    // sqrt(2 * 40000 * 1) = 282 steps/s for the first and the last step.
    assert_eq!(r[0], 282);
    assert_eq!(*r.last().expect("steps"), 282);
    // Full rate after v^2 / 2a = 800 steps, and until 800 steps before the end.
    assert!(r[..799].iter().all(|&v| v < 8_000));
    assert!(r[800..4_200].iter().all(|&v| v == 8_000));
    assert!(r[4_201..].iter().all(|&v| v < 8_000));
    let reversed: Vec<u32> = r.iter().rev().copied().collect();
    assert_eq!(r, reversed);
}

#[test]
fn a_short_move_never_reaches_the_top_rate() {
    let r = rates(STAGE, 100);
    assert_eq!(r.iter().max(), Some(&STAGE.rate(49, 51)));
    assert!(r.iter().all(|&v| v < STAGE.max_rate));
}

#[test]
fn stopping_from_full_rate_takes_the_distance_it_took_to_reach_it() {
    assert_eq!(STAGE.stopping_steps(5_000), 800);
    assert_eq!(STAGE.stopping_steps(0), 1);
    // And the deceleration over those steps ends at the first step's rate.
    assert_eq!(STAGE.rate(5_000, 1), 282);
}

proptest! {
    #[test]
    fn the_rate_stays_within_the_motors_limits(
        max_rate in 1u32..100_000,
        accel in 1u32..2_000_000,
        steps in 1u32..20_000,
    ) {
        let ramp = Ramp { max_rate, accel };
        let r = rates(ramp, steps);
        let mut previous = 0u64;
        for &v in &r {
            prop_assert!(v >= 1 && v <= max_rate);
            // From one step to the next the speed changes by at most what the acceleration
            // gives over one step: v'^2 - v^2 <= 2a (plus the integer root's rounding).
            let (v, p) = (u64::from(v), previous);
            prop_assert!(v * v <= p * p + 2 * u64::from(accel) + 2 * v + 1,
                "{p} -> {v} at accel {accel}");
            previous = v;
        }
        // The last step is as slow as the first: the motor stops where it should.
        prop_assert_eq!(r[0], *r.last().expect("steps"));
        // Never faster in total than cruising the whole way.
        let total_us: u64 = (0..steps).map(|d| u64::from(ramp.interval_us(d, steps - d))).sum();
        prop_assert!(total_us + u64::from(steps) >= u64::from(steps) * 1_000_000 / u64::from(max_rate));
    }
}
