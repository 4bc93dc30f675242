//! Time for the sources: reading it, waiting on it, and keeping a steady frame rate.
//!
//! Sources wait through a [`Clock`] rather than `std::thread::sleep`, so tests of pacing
//! and reconnection back-off run in microseconds with a fake clock.

use std::time::{Duration, Instant};

use super::Rate;

/// A clock a source can read and wait on.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Instant;
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration);
}

/// The real clock: `Instant::now` and `std::thread::sleep`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Instant {
        (**self).now()
    }

    fn sleep(&self, duration: Duration) {
        (**self).sleep(duration);
    }
}

/// Holds a source to its [`Rate`]: each frame is due one interval after the previous one
/// was due, so the rate does not drift with the time spent decoding. A source that falls
/// behind (a slow disk) does not then burst to catch up: the schedule restarts from now.
#[derive(Clone, Debug)]
pub struct Pacer {
    rate: Rate,
    next_due: Option<Instant>,
}

impl Pacer {
    /// A pacer for `rate`; its first frame is due at once.
    pub fn new(rate: Rate) -> Self {
        Pacer {
            rate,
            next_due: None,
        }
    }

    /// The rate it keeps.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Waits until the next frame is due.
    pub fn wait(&mut self, clock: &impl Clock) {
        let Rate::Every(interval) = self.rate else {
            return;
        };
        let mut now = clock.now();
        if let Some(due) = self.next_due
            && due > now
        {
            clock.sleep(due - now);
            now = due;
        }
        self.next_due = Some(now + interval);
    }
}

#[cfg(test)]
pub(crate) mod fake {
    use std::cell::RefCell;
    use std::time::{Duration, Instant};

    use super::Clock;

    /// A clock that moves only when slept on or told to, and remembers every sleep.
    #[derive(Debug)]
    pub(crate) struct FakeClock {
        start: Instant,
        state: RefCell<(Duration, Vec<Duration>)>,
    }

    impl FakeClock {
        pub(crate) fn new() -> Self {
            FakeClock {
                start: Instant::now(),
                state: RefCell::new((Duration::ZERO, Vec::new())),
            }
        }

        /// Time since the clock was made.
        pub(crate) fn elapsed(&self) -> Duration {
            self.state.borrow().0
        }

        /// Moves the clock without sleeping (work that took time).
        pub(crate) fn advance(&self, by: Duration) {
            self.state.borrow_mut().0 += by;
        }

        /// Every sleep so far, in order.
        pub(crate) fn sleeps(&self) -> Vec<Duration> {
            self.state.borrow().1.clone()
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Instant {
            self.start + self.state.borrow().0
        }

        fn sleep(&self, duration: Duration) {
            let mut state = self.state.borrow_mut();
            state.0 += duration;
            state.1.push(duration);
        }
    }
}

#[cfg(test)]
mod tests;
