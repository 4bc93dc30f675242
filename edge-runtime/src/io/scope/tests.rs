use std::collections::VecDeque;

use super::*;

/// A controller at the far end of an in-memory link, with a stage whose soft limits are
/// 50 mm across and 5 mm of focus: it answers as docs/scope-protocol.md says, and can be
/// made to misbehave as a real line and a real controller do.
#[derive(Default)]
pub(super) struct FakeController {
    reader: FrameReader,
    out: VecDeque<u8>,
    at: Option<Position>,
    /// What its `Hello` says its protocol is (0: this build's).
    protocol: u8,
    /// The version byte of the frames it sends (0: this build's).
    frame_version: u8,
    /// Before each answer: noise, and the answer with one byte changed.
    noisy: bool,
    /// Before each answer: an answer to an earlier request.
    stale: bool,
    /// A motion ends only after this many pings arrive.
    pings_per_motion: u32,
    /// The next this many requests after `Hello` arrive damaged: answered `Unreadable`.
    garbled: u32,
    /// The next this many motions' `Accepted` is lost, and a frame after it (a ping,
    /// say) arrives damaged.
    accepted_lost: u32,
    pending: Option<u16>,
    pings: u32,
    silent: bool,
    closed: bool,
    /// After carrying out this many requests (0: never) the link closes, as a pulled cable
    /// or a restart closes it: the next request is lost and reads end.
    pub(super) hangs_up_after: usize,
    pub(super) requests: Vec<Request>,
}

const TRAVEL_NM: i32 = 50_000_000;
const FOCUS_NM: i32 = 5_000_000;

impl FakeController {
    fn send(&mut self, seq: u16, reply: Reply) {
        if self.silent {
            return;
        }
        if self.noisy {
            self.out.extend([0x13, 0x37, 0xff, 0]);
            let mut damaged = self.frame(seq, &reply);
            damaged[1] ^= 0x40;
            self.out.extend(damaged);
        }
        if self.stale {
            let earlier = self.frame(seq.wrapping_sub(1), &Reply::Done);
            self.out.extend(earlier);
        }
        let frame = self.frame(seq, &reply);
        self.out.extend(frame);
    }

    /// `reply` framed with the controller's version byte.
    fn frame(&self, seq: u16, reply: &Reply) -> Vec<u8> {
        let version = match self.frame_version {
            0 => PROTOCOL_VERSION,
            v => v,
        };
        let mut message = vec![version];
        message.extend(postcard::to_stdvec(&(seq, reply)).expect("encodes"));
        message.extend(crc32fast::hash(&message).to_le_bytes());
        cobs_frame(&message)
    }

    fn handle(&mut self, seq: u16, request: Request) {
        if self.hangs_up_after > 0 && self.requests.len() >= self.hangs_up_after {
            self.closed = true;
            return;
        }
        if self.garbled > 0 && request != Request::Hello {
            self.garbled -= 1;
            self.send(0, Reply::Refused(Refusal::Unreadable));
            return;
        }
        self.requests.push(request);
        let homed = self.at.is_some_and(|at| at.homed);
        let motion_to = |at: Option<Position>, f: &dyn Fn(&mut Position)| {
            let mut at = at.expect("homed");
            f(&mut at);
            at
        };
        match request {
            Request::Hello => {
                let protocol = match self.protocol {
                    0 => PROTOCOL_VERSION,
                    p => p,
                };
                self.send(
                    seq,
                    Reply::Hello {
                        protocol,
                        firmware: [0, 1, 0],
                        link_timeout_ms: 40,
                    },
                );
            }
            Request::Home | Request::MoveTo { .. } | Request::FocusTo { .. }
                if self.pending.is_some() =>
            {
                self.send(seq, Reply::Refused(Refusal::Busy));
            }
            Request::Home => {
                self.at = Some(Position {
                    x_nm: 0,
                    y_nm: 0,
                    z_nm: 0,
                    homed: true,
                });
                self.start_motion(seq);
            }
            Request::MoveTo { .. } | Request::FocusTo { .. } if !homed => {
                self.send(seq, Reply::Refused(Refusal::NotHomed));
            }
            Request::MoveTo { x_nm, .. } if !(0..=TRAVEL_NM).contains(&x_nm) => {
                self.send(seq, Reply::Refused(Refusal::OutOfRange { axis: Axis::X }));
            }
            Request::MoveTo { y_nm, .. } if !(0..=TRAVEL_NM).contains(&y_nm) => {
                self.send(seq, Reply::Refused(Refusal::OutOfRange { axis: Axis::Y }));
            }
            Request::FocusTo { z_nm } if !(0..=FOCUS_NM).contains(&z_nm) => {
                self.send(seq, Reply::Refused(Refusal::OutOfRange { axis: Axis::Z }));
            }
            Request::MoveTo { x_nm, y_nm } => {
                self.at = Some(motion_to(self.at, &|at| {
                    at.x_nm = x_nm;
                    at.y_nm = y_nm;
                }));
                self.start_motion(seq);
            }
            Request::FocusTo { z_nm } => {
                self.at = Some(motion_to(self.at, &|at| at.z_nm = z_nm));
                self.start_motion(seq);
            }
            Request::Lamp { permille } if permille > 1000 => {
                self.send(seq, Reply::Refused(Refusal::BadValue));
            }
            Request::Lamp { .. } | Request::Stop => self.send(seq, Reply::Done),
            Request::Presses => self.send(seq, Reply::Presses { count: 3 }),
            Request::Where => {
                let at = self.at.unwrap_or(Position {
                    x_nm: 0,
                    y_nm: 0,
                    z_nm: 0,
                    homed: false,
                });
                self.send(seq, Reply::At(at));
            }
            Request::Ping => {
                self.send(seq, Reply::Done);
                self.pings += 1;
                if self.pings >= self.pings_per_motion
                    && let (Some(motion), Some(at)) = (self.pending.take(), self.at)
                {
                    self.send(motion, Reply::Arrived(at));
                }
            }
        }
    }

    fn start_motion(&mut self, seq: u16) {
        if self.accepted_lost > 0 {
            self.accepted_lost -= 1;
            self.send(0, Reply::Refused(Refusal::Unreadable));
        } else {
            self.send(seq, Reply::Accepted);
        }
        if self.pings_per_motion == 0 {
            let at = self.at.expect("a position");
            self.send(seq, Reply::Arrived(at));
        } else {
            self.pings = 0;
            self.pending = Some(seq);
        }
    }
}

impl Write for FakeController {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        for &byte in bytes {
            if let Some(Ok(frame)) = self.reader.push(byte) {
                let (seq, request) = decode::<Request>(frame).expect("the board sends requests");
                self.handle(seq, request);
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Read for FakeController {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(0);
        }
        let n = buf.len().min(self.out.len());
        if n == 0 {
            // A serial port's read timeout, shortened.
            std::thread::sleep(Duration::from_millis(1));
            return Err(ErrorKind::TimedOut.into());
        }
        for (slot, byte) in buf.iter_mut().zip(self.out.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

/// COBS with the terminator, as the protocol frames a message.
fn cobs_frame(message: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    let mut code_at = 0;
    for &byte in message {
        if byte == 0 || out.len() - code_at == 255 {
            out[code_at] = (out.len() - code_at) as u8;
            code_at = out.len();
            out.push(0);
            if byte == 0 {
                continue;
            }
        }
        out.push(byte);
    }
    out[code_at] = (out.len() - code_at) as u8;
    out.push(0);
    out
}

pub(super) fn short() -> ScopeTimeouts {
    ScopeTimeouts {
        answer: Duration::from_millis(100),
        motion: Duration::from_millis(2000),
        homing: Duration::from_millis(2000),
    }
}

fn connected(controller: FakeController) -> LinkedScope<FakeController> {
    LinkedScope::connect(controller, short()).expect("connects")
}

#[test]
fn the_framing_helper_frames_as_the_core_does() {
    let mut core = [0u8; MAX_FRAME_LEN];
    let reply = Reply::At(Position {
        x_nm: 0,
        y_nm: 256,
        z_nm: -1,
        homed: false,
    });
    let len = encode(3, &reply, &mut core).expect("fits");
    assert_eq!(FakeController::default().frame(3, &reply), &core[..len]);
}

#[test]
fn a_link_homes_moves_focuses_and_reads_back_where_it_is() {
    let mut scope = connected(FakeController::default());
    assert_eq!(
        scope.info(),
        ControllerInfo {
            protocol: PROTOCOL_VERSION,
            firmware: [0, 1, 0],
            link_timeout: Duration::from_millis(40),
        }
    );
    let home = scope.home().expect("homes");
    assert!(home.homed);
    let at = scope.move_to(1_500_000, 2_250_000).expect("moves");
    assert_eq!((at.x_nm, at.y_nm, at.z_nm), (1_500_000, 2_250_000, 0));
    let at = scope.focus_to(12_345).expect("focuses");
    assert_eq!((at.x_nm, at.z_nm), (1_500_000, 12_345));
    assert_eq!(scope.position().expect("where"), at);
    scope.lamp(600).expect("lamp");
    scope.stop().expect("stop");
    assert_eq!(scope.presses().expect("presses"), 3);
    assert_eq!(scope.unreadable_frames(), 0);
    assert_eq!(
        scope.link.requests,
        [
            Request::Hello,
            Request::Home,
            Request::MoveTo {
                x_nm: 1_500_000,
                y_nm: 2_250_000
            },
            Request::FocusTo { z_nm: 12_345 },
            Request::Where,
            Request::Lamp { permille: 600 },
            Request::Stop,
            Request::Presses,
        ]
    );
}

#[test]
fn refusals_name_the_request_and_why() {
    let mut scope = connected(FakeController::default());
    let refused = |e| match e {
        ScopeError::Refused { request, refusal } => (request, refusal),
        other => panic!("expected a refusal, got {other}"),
    };
    assert_eq!(
        refused(scope.move_to(10, 10).expect_err("not homed")),
        (Request::MoveTo { x_nm: 10, y_nm: 10 }, Refusal::NotHomed)
    );
    scope.home().expect("homes");
    assert_eq!(
        refused(scope.move_to(10, TRAVEL_NM + 1).expect_err("beyond travel")).1,
        Refusal::OutOfRange { axis: Axis::Y }
    );
    assert_eq!(
        refused(scope.focus_to(-1).expect_err("below the focus range")).1,
        Refusal::OutOfRange { axis: Axis::Z }
    );
    assert_eq!(
        refused(scope.lamp(1001).expect_err("above full")).1,
        Refusal::BadValue
    );
    // The link is fine afterwards.
    assert_eq!(scope.move_to(10, 10).expect("moves").x_nm, 10);
}

#[test]
fn damaged_frames_and_late_answers_are_passed_over() {
    let mut scope = connected(FakeController {
        noisy: true,
        stale: true,
        ..FakeController::default()
    });
    scope.home().expect("homes");
    let at = scope.move_to(7, 9).expect("moves");
    assert_eq!((at.x_nm, at.y_nm), (7, 9));
    assert_eq!(scope.position().expect("where"), at);
    // Hello, home (accepted, arrived), move (accepted, arrived), where: a damaged
    // frame and a burst of noise before each answer.
    assert_eq!(scope.unreadable_frames(), 12);
}

#[test]
fn a_request_the_controller_could_not_read_is_sent_again() {
    let mut scope = connected(FakeController {
        garbled: 3,
        ..FakeController::default()
    });
    // Home twice damaged, then read; the move once damaged.
    scope.home().expect("homes");
    assert_eq!(scope.move_to(5, 6).expect("moves").x_nm, 5);
    assert_eq!(
        scope.link.requests,
        [
            Request::Hello,
            Request::Home,
            Request::MoveTo { x_nm: 5, y_nm: 6 }
        ]
    );
    // A line that damages everything is named at once, not waited out.
    scope.link.garbled = u32::MAX;
    let started = Instant::now();
    match scope.move_to(7, 8) {
        Err(ScopeError::Garbled { request, tries }) => {
            assert_eq!(request, Request::MoveTo { x_nm: 7, y_nm: 8 });
            assert_eq!(tries, SENDS);
        }
        other => panic!("expected Garbled, got {other:?}"),
    }
    assert!(started.elapsed() < short().motion / 2);
}

#[test]
fn a_copy_of_a_motion_already_under_way_waits_for_it() {
    // The move arrives, but its `Accepted` is lost and a ping is damaged: the board cannot
    // tell that from a damaged move, sends it again, and the copy is refused as busy.
    let mut scope = connected(FakeController {
        pings_per_motion: 2,
        ..FakeController::default()
    });
    scope.home().expect("homes");
    scope.link.accepted_lost = 1;
    let at = scope.move_to(40, 50).expect("moves");
    assert_eq!((at.x_nm, at.y_nm), (40, 50));
    let moves = scope
        .link
        .requests
        .iter()
        .filter(|r| matches!(r, Request::MoveTo { .. }))
        .count();
    assert_eq!(moves, 2);
    // A motion refused as busy the first time it is sent is a refusal.
    scope.link.pending = Some(999);
    match scope.focus_to(10) {
        Err(ScopeError::Refused { refusal, .. }) => assert_eq!(refusal, Refusal::Busy),
        other => panic!("expected Busy, got {other:?}"),
    }
}

#[test]
fn a_long_move_keeps_the_link_alive_with_pings() {
    // The controller stops motion after 40 ms without a request; this move takes three
    // pings' worth, about 60 ms.
    let mut scope = connected(FakeController {
        pings_per_motion: 3,
        ..FakeController::default()
    });
    scope.home().expect("homes");
    let at = scope.move_to(100, 200).expect("moves");
    assert_eq!((at.x_nm, at.y_nm), (100, 200));
    let pings = scope
        .link
        .requests
        .iter()
        .filter(|r| **r == Request::Ping)
        .count();
    assert!(pings >= 6, "{pings} pings");
}

#[test]
fn a_silent_controller_times_out_and_a_closed_link_is_named() {
    let mut scope = connected(FakeController::default());
    scope.link.silent = true;
    let started = Instant::now();
    match scope.position() {
        Err(ScopeError::Timeout { request, waited }) => {
            assert_eq!(request, Request::Where);
            assert!(waited >= Duration::from_millis(100), "{waited:?}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    // A late answer to the request that timed out is not taken for the next one's.
    scope.link.silent = false;
    scope.link.send(1, Reply::Done);
    assert!(scope.position().is_ok());

    scope.link.closed = true;
    assert!(matches!(scope.position(), Err(ScopeError::Closed)));
    assert!(matches!(
        LinkedScope::connect(
            FakeController {
                silent: true,
                ..FakeController::default()
            },
            short()
        ),
        Err(ScopeError::Timeout {
            request: Request::Hello,
            ..
        })
    ));
}

#[test]
fn a_controller_of_another_version_is_refused_at_connect() {
    for controller in [
        // Says so in its hello.
        FakeController {
            protocol: PROTOCOL_VERSION + 1,
            ..FakeController::default()
        },
        // Frames every answer in its version.
        FakeController {
            frame_version: PROTOCOL_VERSION + 1,
            ..FakeController::default()
        },
    ] {
        match LinkedScope::connect(controller, short()) {
            Err(ScopeError::Wire(WireError::Version { found, supported })) => {
                assert_eq!((found, supported), (PROTOCOL_VERSION + 1, PROTOCOL_VERSION));
            }
            Err(e) => panic!("expected a version error, got {e}"),
            Ok(_) => panic!("a newer controller was taken"),
        }
    }
}
