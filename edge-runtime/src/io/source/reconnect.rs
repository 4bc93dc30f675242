//! Riding out a camera that disappears mid-slide.
//!
//! A loose USB cable or a camera reset must not end a slide session whose counts took
//! minutes to gather. [`Reconnecting`] keeps asking the source for frames, waiting longer
//! between attempts (so a dead camera does not spin a core), and tells a [`LinkObserver`]
//! each time the link changes, so the log and the status LED can say "camera lost,
//! retrying" while the session waits.

use std::fmt;
use std::time::{Duration, Instant};

use super::clock::{Clock, SystemClock};
use super::{ErrorKind, Frame, FrameSource, SourceError};

/// How long to wait between reconnection attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Wait before the first retry.
    pub initial: Duration,
    /// Each wait is this many times the previous one (1 keeps it constant)...
    pub factor: u32,
    /// ...but never longer than this.
    pub max: Duration,
    /// Give up after the device has been gone this long and return its error; `None`
    /// waits for as long as it takes (the operator can still stop the session).
    pub patience: Option<Duration>,
}

impl Default for Backoff {
    /// 0.25 s, doubling to at most 8 s, never giving up: a replugged camera is usually
    /// back within a few seconds, and an 8 s ceiling keeps the wait after it short.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            factor: 2,
            max: Duration::from_secs(8),
            patience: None,
        }
    }
}

impl Backoff {
    /// The wait before retry number `attempt` (1 for the first).
    pub fn delay(&self, attempt: u32) -> Duration {
        let mut wait = self.initial.min(self.max);
        for _ in 1..attempt {
            if wait >= self.max {
                break;
            }
            wait = wait.saturating_mul(self.factor).min(self.max);
        }
        wait
    }
}

/// A change in the link to a source's device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// The device stopped delivering; retries begin.
    Lost {
        /// The source, as it describes itself.
        source: String,
        /// What went wrong.
        reason: String,
    },
    /// About to wait and try again.
    Retrying {
        /// Retry number, from 1.
        attempt: u32,
        /// How long until the retry.
        wait: Duration,
    },
    /// Frames are flowing again.
    Restored {
        /// Retries it took.
        attempts: u32,
        /// How long the device was gone.
        down_for: Duration,
    },
    /// The device stayed away longer than the back-off's patience.
    GaveUp {
        /// Retries made.
        attempts: u32,
        /// How long the device was gone.
        down_for: Duration,
    },
}

impl fmt::Display for LinkEvent {
    /// One line for the log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkEvent::Lost { source, reason } => {
                write!(
                    f,
                    "lost {source}: {reason}; keeping the session and retrying"
                )
            }
            LinkEvent::Retrying { attempt, wait } => {
                write!(f, "retry {attempt} in {:.2} s", wait.as_secs_f64())
            }
            LinkEvent::Restored { attempts, down_for } => write!(
                f,
                "frames are back after {:.1} s ({attempts} retries); resuming",
                down_for.as_secs_f64()
            ),
            LinkEvent::GaveUp { attempts, down_for } => write!(
                f,
                "gave up after {:.1} s ({attempts} retries); check the camera and its cable",
                down_for.as_secs_f64()
            ),
        }
    }
}

/// Told about every [`LinkEvent`]: the log, the status LED, the web UI.
pub trait LinkObserver {
    /// Called as the event happens, before any wait it announces.
    fn on_link_event(&mut self, event: &LinkEvent);
}

impl<F: FnMut(&LinkEvent)> LinkObserver for F {
    fn on_link_event(&mut self, event: &LinkEvent) {
        self(event);
    }
}

/// A source that waits out disconnections of the source it wraps.
///
/// On an error of kind [`ErrorKind::Retry`] it waits by the [`Backoff`] and calls the
/// inner source again (whose next call is expected to try to reconnect), until a frame
/// comes, the source ends, or the patience runs out. Skippable and fatal errors pass
/// through at once.
pub struct Reconnecting<S, O, C: Clock = SystemClock> {
    inner: S,
    observer: O,
    backoff: Backoff,
    clock: C,
    outage: Option<Outage>,
}

/// The current disconnection.
#[derive(Clone, Copy, Debug)]
struct Outage {
    since: Instant,
    attempts: u32,
}

impl<S: FrameSource, O: LinkObserver> Reconnecting<S, O> {
    /// Wraps `inner`, telling `observer` about the link.
    pub fn new(inner: S, backoff: Backoff, observer: O) -> Self {
        Self::with_clock(inner, backoff, observer, SystemClock)
    }
}

impl<S: FrameSource, O: LinkObserver, C: Clock> Reconnecting<S, O, C> {
    /// As [`Reconnecting::new`], waiting on `clock` (tests pass a fake one).
    pub fn with_clock(inner: S, backoff: Backoff, observer: O, clock: C) -> Self {
        Reconnecting {
            inner,
            observer,
            backoff,
            clock,
            outage: None,
        }
    }

    /// Whether the device is currently gone (between `Lost` and `Restored`).
    pub fn is_lost(&self) -> bool {
        self.outage.is_some()
    }

    /// The wrapped source.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The observer.
    pub fn observer(&self) -> &O {
        &self.observer
    }

    /// Unwraps the source.
    pub fn into_inner(self) -> S {
        self.inner
    }

    fn emit(&mut self, event: LinkEvent) {
        self.observer.on_link_event(&event);
    }
}

impl<S: FrameSource, O: LinkObserver, C: Clock> FrameSource for Reconnecting<S, O, C> {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        loop {
            let error = match self.inner.next_frame() {
                Ok(frame) => {
                    if let Some(outage) = self.outage.take()
                        && frame.is_some()
                    {
                        let down_for = self.clock.now() - outage.since;
                        self.emit(LinkEvent::Restored {
                            attempts: outage.attempts,
                            down_for,
                        });
                    }
                    return Ok(frame);
                }
                Err(e) if e.kind() == ErrorKind::Retry => e,
                Err(e) => return Err(e),
            };
            let now = self.clock.now();
            let outage = match self.outage {
                Some(outage) => outage,
                None => {
                    self.emit(LinkEvent::Lost {
                        source: self.inner.describe(),
                        reason: error.to_string(),
                    });
                    Outage {
                        since: now,
                        attempts: 0,
                    }
                }
            };
            let down_for = now - outage.since;
            if self.backoff.patience.is_some_and(|p| down_for >= p) {
                self.outage = None;
                self.emit(LinkEvent::GaveUp {
                    attempts: outage.attempts,
                    down_for,
                });
                return Err(error);
            }
            let attempt = outage.attempts + 1;
            let wait = self.backoff.delay(attempt);
            self.outage = Some(Outage {
                attempts: attempt,
                ..outage
            });
            self.emit(LinkEvent::Retrying { attempt, wait });
            self.clock.sleep(wait);
        }
    }

    fn describe(&self) -> String {
        format!("{} (reconnecting)", self.inner.describe())
    }
}

#[cfg(test)]
mod tests;
