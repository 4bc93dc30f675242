//! Riding out a scope controller that disappears mid-slide: a pulled USB cable, or a
//! controller that restarted (a Nucleo powered from its USB port does both at once).
//!
//! [`ReopeningScope`] opens the controller again when its link fails, waiting longer between
//! attempts, homes it again if it restarted (a restarted controller has lost where its axes
//! are, and homing finds the same zero), moves it back to where it was and sets its lamp
//! back, and carries out the request
//! that failed: every request names an absolute place or setting, so carrying one out
//! again is safe. A slide's counts took minutes to gather; a cable bump must not end it.

use std::fmt;
use std::time::{Duration, Instant};

use leukoscope_core::protocol::Position;

use super::{Scope, ScopeError};
use crate::io::source::Backoff;

/// How many times one request may lose the link and be carried out again.
pub const REOPENS_PER_REQUEST: u32 = 3;

/// A change in the link to the controller, for the log and the UI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScopeLinkEvent {
    /// The link failed; reopening begins.
    Lost {
        /// What went wrong.
        reason: String,
    },
    /// The controller answers again.
    Restored {
        /// Attempts it took.
        attempts: u32,
        /// How long it was gone.
        down_for: Duration,
        /// Whether it had restarted and was homed again.
        rehomed: bool,
    },
    /// It stayed away longer than the back-off's patience.
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// How long it was gone.
        down_for: Duration,
    },
}

impl fmt::Display for ScopeLinkEvent {
    /// One line for the log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeLinkEvent::Lost { reason } => write!(
                f,
                "lost the scope controller: {reason}; keeping the slide and reopening it"
            ),
            ScopeLinkEvent::Restored {
                attempts,
                down_for,
                rehomed,
            } => write!(
                f,
                "the scope controller is back after {:.1} s ({attempts} attempts){}",
                down_for.as_secs_f64(),
                if *rehomed {
                    "; it had restarted and is homed again"
                } else {
                    ""
                }
            ),
            ScopeLinkEvent::GaveUp { attempts, down_for } => write!(
                f,
                "gave up on the scope controller after {:.1} s ({attempts} attempts); check its cable and power",
                down_for.as_secs_f64()
            ),
        }
    }
}

/// A [`Scope`] opened by `open`, and opened again whenever its link fails.
pub struct ReopeningScope<S, F, O> {
    open: F,
    scope: Option<S>,
    backoff: Backoff,
    observer: O,
    /// The lamp, the stage and the focus as last set, to set again on a controller that
    /// restarted.
    lamp: Option<u16>,
    stage: Option<(i32, i32)>,
    focus: Option<i32>,
}

/// Whether `error` means the link is gone (rather than a refusal, or a controller that
/// will not do better asked again).
fn link_lost(error: &ScopeError) -> bool {
    matches!(error, ScopeError::Link(_) | ScopeError::Closed)
}

impl<S, F, O> ReopeningScope<S, F, O>
where
    S: Scope,
    F: FnMut() -> Result<S, ScopeError>,
    O: FnMut(&ScopeLinkEvent),
{
    /// Opens the controller with `open` now (an error here is returned as it is: a board
    /// that cannot reach its controller at the start of a slide should say so), and again
    /// by `backoff` whenever its link fails; `observer` hears of each loss.
    pub fn open(mut open: F, backoff: Backoff, observer: O) -> Result<Self, ScopeError> {
        let scope = open()?;
        Ok(ReopeningScope {
            open,
            scope: Some(scope),
            backoff,
            observer,
            lamp: None,
            stage: None,
            focus: None,
        })
    }

    /// The controller as now opened, if it is.
    pub fn current(&mut self) -> Option<&mut S> {
        self.scope.as_mut()
    }

    /// Carries out `request`, reopening the controller and carrying it out again when its
    /// link fails, up to [`REOPENS_PER_REQUEST`] times: a controller that dies at the same
    /// request each time is not waited for forever.
    fn carry_out<T>(
        &mut self,
        mut request: impl FnMut(&mut S) -> Result<T, ScopeError>,
    ) -> Result<T, ScopeError> {
        let mut reopened = 0;
        loop {
            if let Some(scope) = self.scope.as_mut() {
                match request(scope) {
                    Err(e) if link_lost(&e) && reopened < REOPENS_PER_REQUEST => {
                        (self.observer)(&ScopeLinkEvent::Lost {
                            reason: e.to_string(),
                        });
                        self.scope = None;
                    }
                    done => return done,
                }
            }
            self.reopen()?;
            reopened += 1;
        }
    }

    /// Opens the controller again by the back-off; a controller that restarted is homed
    /// and its lamp set as it was.
    fn reopen(&mut self) -> Result<(), ScopeError> {
        let lost_at = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            std::thread::sleep(self.backoff.delay(attempts));
            let failed = match (self.open)() {
                Ok(mut scope) => match self.restore(&mut scope) {
                    Ok(rehomed) => {
                        (self.observer)(&ScopeLinkEvent::Restored {
                            attempts,
                            down_for: lost_at.elapsed(),
                            rehomed,
                        });
                        self.scope = Some(scope);
                        return Ok(());
                    }
                    Err(e) => e,
                },
                Err(e) => e,
            };
            // A port that is not back yet, or a controller still starting (no answer).
            let retry = link_lost(&failed) || matches!(failed, ScopeError::Timeout { .. });
            let patience_spent = self
                .backoff
                .patience
                .is_some_and(|patience| lost_at.elapsed() >= patience);
            if !retry || patience_spent {
                if retry {
                    (self.observer)(&ScopeLinkEvent::GaveUp {
                        attempts,
                        down_for: lost_at.elapsed(),
                    });
                }
                return Err(failed);
            }
        }
    }

    /// Homes a controller that restarted, moves it back to where it was, and sets its
    /// lamp; whether it had to be homed.
    fn restore(&self, scope: &mut S) -> Result<bool, ScopeError> {
        let rehome = !scope.position()?.homed;
        if rehome {
            scope.home()?;
            if let Some((x_nm, y_nm)) = self.stage {
                scope.move_to(x_nm, y_nm)?;
            }
            if let Some(z_nm) = self.focus {
                scope.focus_to(z_nm)?;
            }
        }
        if let Some(permille) = self.lamp {
            scope.lamp(permille)?;
        }
        Ok(rehome)
    }
}

impl<S, F, O> Scope for ReopeningScope<S, F, O>
where
    S: Scope,
    F: FnMut() -> Result<S, ScopeError>,
    O: FnMut(&ScopeLinkEvent),
{
    fn home(&mut self) -> Result<Position, ScopeError> {
        self.carry_out(|scope| scope.home())
    }

    fn move_to(&mut self, x_nm: i32, y_nm: i32) -> Result<Position, ScopeError> {
        let at = self.carry_out(|scope| scope.move_to(x_nm, y_nm))?;
        self.stage = Some((x_nm, y_nm));
        Ok(at)
    }

    fn focus_to(&mut self, z_nm: i32) -> Result<Position, ScopeError> {
        let at = self.carry_out(|scope| scope.focus_to(z_nm))?;
        self.focus = Some(z_nm);
        Ok(at)
    }

    fn lamp(&mut self, permille: u16) -> Result<(), ScopeError> {
        self.carry_out(|scope| scope.lamp(permille))?;
        self.lamp = Some(permille);
        Ok(())
    }

    fn position(&mut self) -> Result<Position, ScopeError> {
        self.carry_out(|scope| scope.position())
    }

    fn stop(&mut self) -> Result<(), ScopeError> {
        self.carry_out(|scope| scope.stop())
    }
}

#[cfg(test)]
mod tests;
