//! The scope controller: the microcontroller that moves the stage and the focus and sets
//! the lamp, spoken to in the core's protocol (`leukoscope_core::protocol`,
//! docs/scope-protocol.md) over a serial line.
//!
//! [`Scope`] is what scanning and focusing need of it; [`MockScope`] is a stage in memory;
//! [`LinkedScope`] speaks the protocol over any byte link that reads with a timeout (a
//! serial port, [`open_serial`]; a pipe in tests); [`ReopeningScope`] opens it again when
//! its link fails mid-slide. Each
//! request carries its own sequence number and only the reply with that number answers it:
//! a reply that arrives after its request timed out, or a frame the line damaged, is passed
//! over rather than taken for the next answer. A request the controller could not read
//! (it says so, `Refused(Unreadable)`) is sent again: every request names an absolute
//! place or setting, so a copy that did arrive after all does no harm. While it waits for
//! a move to end it keeps the link alive with pings, since a controller that hears nothing
//! for its timeout stops every motion (it must: the board may have crashed).

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use leukoscope_core::protocol::{
    Axis, FrameReader, MAX_FRAME_LEN, PROTOCOL_VERSION, Position, Refusal, Reply, Request,
    WireError, decode, encode,
};

/// What scanning and focusing ask of the stage, the focus and the lamp. Lengths are
/// nanometres from where homing found the limit switches.
pub trait Scope {
    /// Drives every axis to its limit switch and calls that zero; where the axes ended.
    fn home(&mut self) -> Result<Position, ScopeError>;
    /// Moves the stage and returns once it is there.
    fn move_to(&mut self, x_nm: i32, y_nm: i32) -> Result<Position, ScopeError>;
    /// Moves the focus and returns once it is there.
    fn focus_to(&mut self, z_nm: i32) -> Result<Position, ScopeError>;
    /// Sets the lamp, in thousandths of full power.
    fn lamp(&mut self, permille: u16) -> Result<(), ScopeError>;
    /// Where the axes are.
    fn position(&mut self) -> Result<Position, ScopeError>;
    /// Stops every axis.
    fn stop(&mut self) -> Result<(), ScopeError>;
}

/// Why the scope controller did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    /// Reading from or writing to the link failed (the cable pulled, the port gone).
    #[error("the link to the scope controller failed")]
    Link(#[source] std::io::Error),
    /// The link closed.
    #[error("the link to the scope controller closed")]
    Closed,
    /// No answer in time: the controller is off, wedged or on another port or speed.
    #[error("the scope controller did not answer {request:?} within {waited:?}")]
    Timeout {
        /// What was asked.
        request: Request,
        /// How long the board waited.
        waited: Duration,
    },
    /// The controller speaks another protocol version (`WireError::Version`), or a
    /// request did not fit a frame.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The controller refused, or a motion was cut short.
    #[error("the scope controller refused {request:?}: {refusal:?}")]
    Refused {
        /// What was asked.
        request: Request,
        /// Why.
        refusal: Refusal,
    },
    /// The controller could not read the request however often it was sent: a bad cable,
    /// or the port at another speed than the controller's.
    #[error(
        "the scope controller could not read {request:?}, sent {tries} times: check the cable and the baud rate"
    )]
    Garbled {
        /// What was asked.
        request: Request,
        /// How many times it was sent.
        tries: usize,
    },
    /// An answer that does not fit the request (a controller with other firmware).
    #[error("the scope controller answered {request:?} with {reply:?}")]
    Unexpected {
        /// What was asked.
        request: Request,
        /// What came back.
        reply: Reply,
    },
}

/// What the controller said of itself when the link opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControllerInfo {
    /// Its protocol version.
    pub protocol: u8,
    /// Its firmware's version: major, minor, patch.
    pub firmware: [u8; 3],
    /// How long it waits without a request before it stops every motion.
    pub link_timeout: Duration,
}

/// How long to wait for the controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScopeTimeouts {
    /// For an answer to a request that takes no time (default 500 ms).
    pub answer: Duration,
    /// For a move or a focus to end (default 30 s).
    pub motion: Duration,
    /// For homing to end (default 120 s: every axis the length of its travel, slowly).
    pub homing: Duration,
}

impl Default for ScopeTimeouts {
    fn default() -> Self {
        ScopeTimeouts {
            answer: Duration::from_millis(500),
            motion: Duration::from_secs(30),
            homing: Duration::from_secs(120),
        }
    }
}

/// How many times a request the controller cannot read is sent before the link is called
/// bad.
pub const SENDS: usize = 4;

/// A [`Scope`] at the far end of a byte link, in the core's protocol.
pub struct LinkedScope<L: Read + Write> {
    link: L,
    reader: FrameReader,
    next_seq: u16,
    timeouts: ScopeTimeouts,
    info: ControllerInfo,
    unreadable: u32,
}

impl<L: Read + Write> LinkedScope<L> {
    /// Opens the link: clears whatever half-frame the controller holds, asks who it is,
    /// and refuses a controller of another protocol version. `link`'s reads must time out
    /// (a serial port's timeout, a few tens of milliseconds), returning `TimedOut` or
    /// `WouldBlock`, so that a silent controller is noticed.
    pub fn connect(link: L, timeouts: ScopeTimeouts) -> Result<Self, ScopeError> {
        let mut scope = LinkedScope {
            link,
            reader: FrameReader::new(),
            next_seq: 1,
            timeouts,
            info: ControllerInfo {
                protocol: PROTOCOL_VERSION,
                firmware: [0; 3],
                link_timeout: Duration::from_secs(1),
            },
            unreadable: 0,
        };
        // A terminator ends any frame a restarted board left half-sent.
        scope.link.write_all(&[0]).map_err(ScopeError::Link)?;
        match scope.ask(Request::Hello, timeouts.answer)? {
            Reply::Hello {
                protocol,
                firmware,
                link_timeout_ms,
            } if protocol == PROTOCOL_VERSION => {
                scope.info = ControllerInfo {
                    protocol,
                    firmware,
                    link_timeout: Duration::from_millis(u64::from(link_timeout_ms.max(1))),
                };
                Ok(scope)
            }
            Reply::Hello { protocol, .. } => Err(ScopeError::Wire(WireError::Version {
                found: protocol,
                supported: PROTOCOL_VERSION,
            })),
            reply => Err(ScopeError::Unexpected {
                request: Request::Hello,
                reply,
            }),
        }
    }

    /// What the controller said of itself.
    pub fn info(&self) -> ControllerInfo {
        self.info
    }

    /// How many times the controller's start button was pressed since it powered up
    /// (wrapping at 65,536): a board without a button of its own starts a slide when it
    /// changes.
    pub fn presses(&mut self) -> Result<u16, ScopeError> {
        match self.ask(Request::Presses, self.timeouts.answer)? {
            Reply::Presses { count } => Ok(count),
            reply => Err(ScopeError::Unexpected {
                request: Request::Presses,
                reply,
            }),
        }
    }

    /// Waits for the start button: true once it is pressed, false as soon as
    /// `started_elsewhere` says the slide was begun another way (the UI's Start). That call
    /// is where the wait blocks, between two questions to the controller, so it should
    /// block a fraction of a second; the questions keep the link alive meanwhile.
    pub fn wait_for_press(
        &mut self,
        mut started_elsewhere: impl FnMut() -> bool,
    ) -> Result<bool, ScopeError> {
        let before = self.presses()?;
        loop {
            if started_elsewhere() {
                return Ok(false);
            }
            if self.presses()? != before {
                return Ok(true);
            }
        }
    }

    /// Frames the line damaged or that this build could not read, so far: a few on a long
    /// scan is noise; many is a bad cable or a wrong speed.
    pub fn unreadable_frames(&self) -> u32 {
        self.unreadable
    }

    /// Sends `request` and waits up to `wait` for its answer; a motion's `Accepted` is
    /// passed over for the answer that ends it, and pings keep the link alive meanwhile.
    /// Until the controller has acknowledged it, each frame it says it could not read may
    /// have been this request, which is then sent again (up to [`SENDS`] times in all)
    /// under a new number; the first answer to any of its numbers counts, and a copy
    /// refused as `Busy` means an earlier copy is under way.
    fn ask(&mut self, request: Request, wait: Duration) -> Result<Reply, ScopeError> {
        let mut sent = [self.send(&request)?; SENDS];
        let mut tries = 1;
        let mut acknowledged = false;
        let started = Instant::now();
        // Half the controller's timeout, so a ping always lands before it runs out.
        let ping_every = self.info.link_timeout / 2;
        let mut last_sent = started;
        loop {
            if let Some((reply_seq, reply)) = self.receive()? {
                let copy = sent[..tries].iter().position(|&seq| seq == reply_seq);
                match (copy, reply) {
                    (None, Reply::Refused(Refusal::Unreadable)) if !acknowledged => {
                        if tries == SENDS {
                            return Err(ScopeError::Garbled { request, tries });
                        }
                        sent[tries] = self.send(&request)?;
                        tries += 1;
                        last_sent = Instant::now();
                    }
                    // An answer to an earlier request that timed out, or to a ping.
                    (None, _) => {}
                    (Some(_), Reply::Accepted) => acknowledged = true,
                    (Some(copy), Reply::Refused(Refusal::Busy)) if copy > 0 => {
                        acknowledged = true;
                    }
                    (Some(_), Reply::Refused(refusal)) => {
                        return Err(ScopeError::Refused { request, refusal });
                    }
                    (Some(_), reply) => return Ok(reply),
                }
            }
            let now = Instant::now();
            if now - started >= wait {
                return Err(ScopeError::Timeout {
                    request,
                    waited: now - started,
                });
            }
            if now - last_sent >= ping_every {
                self.send(&Request::Ping)?;
                last_sent = now;
            }
        }
    }

    /// Writes `request` with the next sequence number, and returns the number. Zero is
    /// never used: the controller numbers its answer to a frame it could not read 0.
    fn send(&mut self, request: &Request) -> Result<u16, ScopeError> {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.checked_add(1).unwrap_or(1);
        let mut frame = [0u8; MAX_FRAME_LEN];
        // Every request fits a frame (the core's tests pin it).
        let len = encode(seq, request, &mut frame)?;
        self.link
            .write_all(&frame[..len])
            .and_then(|()| self.link.flush())
            .map_err(ScopeError::Link)?;
        Ok(seq)
    }

    /// Reads what the link has (up to one read's timeout) and returns the first whole
    /// reply in it, if any. Damaged frames are counted and passed over; a controller of
    /// another protocol version ends the link.
    fn receive(&mut self) -> Result<Option<(u16, Reply)>, ScopeError> {
        let mut byte = [0u8; 1];
        loop {
            match self.link.read(&mut byte) {
                Ok(0) => return Err(ScopeError::Closed),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                    return Ok(None);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(ScopeError::Link(e)),
            }
            let Some(frame) = self.reader.push(byte[0]) else {
                continue;
            };
            match frame.and_then(decode::<Reply>) {
                Ok(reply) => return Ok(Some(reply)),
                Err(e @ WireError::Version { .. }) => return Err(ScopeError::Wire(e)),
                Err(_) => self.unreadable = self.unreadable.saturating_add(1),
            }
        }
    }

    /// A request answered by a position after a motion.
    fn motion(&mut self, request: Request, wait: Duration) -> Result<Position, ScopeError> {
        match self.ask(request, wait)? {
            Reply::Arrived(at) => Ok(at),
            reply => Err(ScopeError::Unexpected { request, reply }),
        }
    }

    /// A request answered by `Done`.
    fn command(&mut self, request: Request) -> Result<(), ScopeError> {
        match self.ask(request, self.timeouts.answer)? {
            Reply::Done => Ok(()),
            reply => Err(ScopeError::Unexpected { request, reply }),
        }
    }
}

impl<L: Read + Write> Scope for LinkedScope<L> {
    fn home(&mut self) -> Result<Position, ScopeError> {
        self.motion(Request::Home, self.timeouts.homing)
    }

    fn move_to(&mut self, x_nm: i32, y_nm: i32) -> Result<Position, ScopeError> {
        self.motion(Request::MoveTo { x_nm, y_nm }, self.timeouts.motion)
    }

    fn focus_to(&mut self, z_nm: i32) -> Result<Position, ScopeError> {
        self.motion(Request::FocusTo { z_nm }, self.timeouts.motion)
    }

    fn lamp(&mut self, permille: u16) -> Result<(), ScopeError> {
        self.command(Request::Lamp { permille })
    }

    fn position(&mut self) -> Result<Position, ScopeError> {
        match self.ask(Request::Where, self.timeouts.answer)? {
            Reply::At(at) => Ok(at),
            reply => Err(ScopeError::Unexpected {
                request: Request::Where,
                reply,
            }),
        }
    }

    fn stop(&mut self) -> Result<(), ScopeError> {
        self.command(Request::Stop)
    }
}

/// A serial port of the board, as [`open_serial`] opens it.
pub type SerialScope = LinkedScope<Box<dyn serialport::SerialPort>>;

/// Opens the controller on the serial port `device` (8N1 at `baud`, as its firmware) and
/// says hello.
pub fn open_serial(
    device: &std::path::Path,
    baud: u32,
    timeouts: ScopeTimeouts,
) -> Result<SerialScope, ScopeError> {
    let port = serialport::new(device.to_string_lossy(), baud)
        // Short reads: a silent controller is noticed, a ping is never late.
        .timeout(Duration::from_millis(20))
        .open()
        .map_err(|e| ScopeError::Link(e.into()))?;
    LinkedScope::connect(port, timeouts)
}

/// A stage in memory, for tests and for running scans without hardware: every motion
/// arrives at once, within soft limits, after homing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MockScope {
    /// Where the axes are.
    pub at: Position,
    /// The stage's travel on X and Y, from home, in nanometres.
    pub travel_nm: i32,
    /// The focus's travel, from home, in nanometres.
    pub focus_travel_nm: i32,
    /// The lamp's level.
    pub lamp_permille: u16,
    /// Every motion asked for, in order: `(x, y, z)` targets.
    pub motions: Vec<(i32, i32, i32)>,
}

impl MockScope {
    /// A stage not yet homed, with `travel_nm` of X and Y and `focus_travel_nm` of Z.
    pub fn new(travel_nm: i32, focus_travel_nm: i32) -> Self {
        MockScope {
            at: Position {
                x_nm: 0,
                y_nm: 0,
                z_nm: 0,
                homed: false,
            },
            travel_nm,
            focus_travel_nm,
            lamp_permille: 0,
            motions: Vec::new(),
        }
    }

    /// Moves to `(x, y, z)` as a controller would: refused before homing or beyond travel.
    fn go(&mut self, request: Request, x: i32, y: i32, z: i32) -> Result<Position, ScopeError> {
        let refuse = |refusal| Err(ScopeError::Refused { request, refusal });
        if !self.at.homed {
            return refuse(Refusal::NotHomed);
        }
        for (axis, value, travel) in [
            (Axis::X, x, self.travel_nm),
            (Axis::Y, y, self.travel_nm),
            (Axis::Z, z, self.focus_travel_nm),
        ] {
            if !(0..=travel).contains(&value) {
                return refuse(Refusal::OutOfRange { axis });
            }
        }
        self.motions.push((x, y, z));
        self.at = Position {
            x_nm: x,
            y_nm: y,
            z_nm: z,
            homed: true,
        };
        Ok(self.at)
    }
}

impl Scope for MockScope {
    fn home(&mut self) -> Result<Position, ScopeError> {
        self.at = Position {
            x_nm: 0,
            y_nm: 0,
            z_nm: 0,
            homed: true,
        };
        Ok(self.at)
    }

    fn move_to(&mut self, x_nm: i32, y_nm: i32) -> Result<Position, ScopeError> {
        self.go(Request::MoveTo { x_nm, y_nm }, x_nm, y_nm, self.at.z_nm)
    }

    fn focus_to(&mut self, z_nm: i32) -> Result<Position, ScopeError> {
        self.go(Request::FocusTo { z_nm }, self.at.x_nm, self.at.y_nm, z_nm)
    }

    fn lamp(&mut self, permille: u16) -> Result<(), ScopeError> {
        if permille > 1000 {
            return Err(ScopeError::Refused {
                request: Request::Lamp { permille },
                refusal: Refusal::BadValue,
            });
        }
        self.lamp_permille = permille;
        Ok(())
    }

    fn position(&mut self) -> Result<Position, ScopeError> {
        Ok(self.at)
    }

    fn stop(&mut self) -> Result<(), ScopeError> {
        Ok(())
    }
}

/// A [`MockScope`] a test's camera can look at while the code under test moves it.
#[cfg(test)]
#[derive(Clone)]
pub(crate) struct SharedScope(pub std::rc::Rc<std::cell::RefCell<MockScope>>);

#[cfg(test)]
impl Scope for SharedScope {
    fn home(&mut self) -> Result<Position, ScopeError> {
        self.0.borrow_mut().home()
    }
    fn move_to(&mut self, x_nm: i32, y_nm: i32) -> Result<Position, ScopeError> {
        self.0.borrow_mut().move_to(x_nm, y_nm)
    }
    fn focus_to(&mut self, z_nm: i32) -> Result<Position, ScopeError> {
        self.0.borrow_mut().focus_to(z_nm)
    }
    fn lamp(&mut self, permille: u16) -> Result<(), ScopeError> {
        self.0.borrow_mut().lamp(permille)
    }
    fn position(&mut self) -> Result<Position, ScopeError> {
        self.0.borrow_mut().position()
    }
    fn stop(&mut self) -> Result<(), ScopeError> {
        self.0.borrow_mut().stop()
    }
}

mod reopen;

pub use reopen::{ReopeningScope, ScopeLinkEvent};

#[cfg(test)]
mod tests;
