use super::*;

fn rate(schedule: Schedule, warmup_steps: usize) -> LearningRate {
    LearningRate {
        base: 0.1,
        schedule,
        warmup_steps,
        total_steps: 110,
        steps_per_epoch: 10,
        min_factor: 0.0,
    }
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} vs {b}");
}

#[test]
fn warm_up_is_linear_then_constant() {
    let lr = rate(Schedule::Constant, 10);
    // base / 10 at step 0, base · 5/10 at step 4, base from step 9 on.
    close(lr.at(0), 0.01);
    close(lr.at(4), 0.05);
    close(lr.at(9), 0.1);
    close(lr.at(10), 0.1);
    close(lr.at(1_000), 0.1);
    close(LearningRate::constant(3e-4).at(0), 3e-4);
}

#[test]
fn cosine_runs_from_base_to_floor() {
    // Warm-up 10, total 110: the cosine spans steps 10..110 (100 steps).
    let lr = rate(Schedule::Cosine, 10);
    close(lr.at(9), 0.1);
    close(lr.at(10), 0.1);
    // Halfway: cos(π/2) = 0 → factor 0.5.
    close(lr.at(60), 0.05);
    // A quarter: 0.5·(1 + cos(π/4)) = 0.5·(1 + 0.707107) = 0.853553.
    close(
        lr.at(35),
        0.1 * 0.5 * (1.0 + std::f64::consts::FRAC_1_SQRT_2),
    );
    close(lr.at(110), 0.0);
    close(lr.at(500), 0.0);
    // With a floor of 0.1: 0.1 + 0.9·0.5 = 0.55 halfway, 0.1 at the end.
    let floored = LearningRate {
        min_factor: 0.1,
        ..lr
    };
    close(floored.at(60), 0.055);
    close(floored.at(110), 0.01);
    // No warm-up: step 0 is the top.
    let plain = rate(Schedule::Cosine, 0);
    close(plain.at(0), 0.1);
    close(plain.at(55), 0.05);
}

#[test]
fn the_existing_fit_loop_schedule_is_cosine_without_warmup() {
    // fit.rs: rate · 0.5 · (1 + cos(π · step / total)).
    let lr = LearningRate {
        base: 3e-3,
        schedule: Schedule::Cosine,
        warmup_steps: 0,
        total_steps: 250,
        steps_per_epoch: 25,
        min_factor: 0.0,
    };
    for step in [0, 1, 17, 124, 249] {
        let progress = step as f64 / 250.0;
        close(lr.at(step), 3e-3 * 0.5 * (1.0 + (PI * progress).cos()));
    }
}

#[test]
fn step_decay_counts_epochs() {
    // 10 steps per epoch, ×0.5 every 3 epochs: steps 0..29 at 0.1, 30..59 at 0.05,
    // 60..89 at 0.025.
    let lr = rate(
        Schedule::Step {
            every_epochs: 3,
            gamma: 0.5,
        },
        0,
    );
    close(lr.at(0), 0.1);
    close(lr.at(29), 0.1);
    close(lr.at(30), 0.05);
    close(lr.at(59), 0.05);
    close(lr.at(60), 0.025);
    // Warm-up multiplies: step 1 of 5 is 2/5 of the rate.
    let warm = LearningRate {
        warmup_steps: 5,
        ..lr
    };
    close(warm.at(1), 0.04);
    close(warm.at(31), 0.05);
}

#[test]
fn degenerate_settings_never_panic() {
    let no_span = LearningRate {
        total_steps: 5,
        ..rate(Schedule::Cosine, 10)
    };
    close(no_span.at(9), 0.1);
    close(no_span.at(10), 0.0);
    let no_epochs = LearningRate {
        steps_per_epoch: 0,
        ..rate(
            Schedule::Step {
                every_epochs: 1,
                gamma: 0.5,
            },
            0,
        )
    };
    close(no_epochs.at(1_000_000), 0.1);
    assert_eq!(no_epochs.validate(), Err(ScheduleError::StepsPerEpoch));
    let many = rate(
        Schedule::Step {
            every_epochs: 1,
            gamma: 0.5,
        },
        0,
    );
    assert_eq!(many.at(usize::MAX), 0.0);
}

#[test]
fn validation_names_the_problem() {
    assert!(rate(Schedule::Cosine, 3).validate().is_ok());
    assert_eq!(
        LearningRate {
            base: -1.0,
            ..rate(Schedule::Constant, 0)
        }
        .validate(),
        Err(ScheduleError::Base(-1.0))
    );
    assert_eq!(
        LearningRate {
            min_factor: 1.5,
            ..rate(Schedule::Cosine, 0)
        }
        .validate(),
        Err(ScheduleError::MinFactor(1.5))
    );
    let zero_gamma = Schedule::Step {
        every_epochs: 2,
        gamma: 0.0,
    };
    assert!(matches!(
        rate(zero_gamma, 0).validate(),
        Err(ScheduleError::Step { .. })
    ));
}

#[test]
fn names_parse_and_print() {
    assert_eq!("constant".parse(), Ok(Schedule::Constant));
    assert_eq!(" Cosine ".parse(), Ok(Schedule::Cosine));
    assert_eq!(
        "step".parse(),
        Ok(Schedule::Step {
            every_epochs: 10,
            gamma: 0.1
        })
    );
    let parsed: Schedule = "step:5:0.5".parse().unwrap();
    assert_eq!(
        parsed,
        Schedule::Step {
            every_epochs: 5,
            gamma: 0.5
        }
    );
    assert_eq!(parsed.to_string().parse(), Ok(parsed));
    for bad in ["linear", "step:5", "step:x:0.5", "step:0:0.5", "step:5:2"] {
        assert!(bad.parse::<Schedule>().is_err(), "{bad}");
    }
    assert!(matches!(
        "exp".parse::<Schedule>(),
        Err(ScheduleError::Unknown(_))
    ));
    assert!(matches!(
        "step:0:0.5".parse::<Schedule>(),
        Err(ScheduleError::Step { .. })
    ));
}
