//! What the host tests share: a simulated rig, a clock they advance, and a serial port in
//! memory.

use std::collections::VecDeque;
use std::vec::Vec;

use embedded_hal_mock::eh1::delay::NoopDelay;
use leukoscope_core::protocol::{Reply, Request};

use crate::axis::StepperAxis;
use crate::controller::Controller;
use crate::sim::{STAGE_AXES, SimDir, SimLamp, SimLine, SimMotor, SimStep, SimSwitch};

/// Three motors standing somewhere, the drivers' enable line and the lamp.
pub struct Rig {
    pub motors: [SimMotor; 3],
    pub enable: SimLine,
    pub lamp: SimLamp,
}

pub type SimController<'a> =
    Controller<SimStep<'a>, SimDir<'a>, SimSwitch<'a>, &'a SimLine, &'a SimLamp>;

/// The link timeout the tests' controllers use.
pub const LINK_TIMEOUT_MS: u16 = 1_000;

impl Rig {
    /// Motors 3 mm (X), 2 mm (Y) and 1.2 mm (Z) from their switches.
    pub fn new() -> Self {
        Rig {
            motors: [
                SimMotor::at(4_800),
                SimMotor::at(3_200),
                SimMotor::at(12_000),
            ],
            enable: SimLine::default(),
            lamp: SimLamp::default(),
        }
    }

    pub fn controller(&self) -> SimController<'_> {
        let axis = |i: usize| {
            let m = &self.motors[i];
            StepperAxis::new(m.step_pin(), m.dir_pin(), m.switch_pin(), STAGE_AXES[i])
        };
        Controller::new(
            [axis(0), axis(1), axis(2)],
            &self.enable,
            &self.lamp,
            LINK_TIMEOUT_MS,
        )
    }
}

/// A controller driven by a clock the test advances, with the replies it sent.
pub struct Session<'a> {
    pub controller: SimController<'a>,
    pub now_us: u64,
    pub replies: Vec<(u16, Reply)>,
}

impl<'a> Session<'a> {
    pub fn new(rig: &'a Rig) -> Self {
        Session {
            controller: rig.controller(),
            now_us: 1_000,
            replies: Vec::new(),
        }
    }

    /// Sends `request` numbered `seq`; returns its immediate answer.
    pub fn ask(&mut self, seq: u16, request: Request) -> Reply {
        let before = self.replies.len();
        let replies = &mut self.replies;
        self.controller
            .handle(seq, request, self.now_us, &mut NoopDelay, &mut |s, r| {
                replies.push((s, r))
            });
        assert_eq!(self.replies.len(), before + 1, "one immediate answer");
        self.replies[before].1
    }

    /// Ticks every 20 µs, pinging every `ping_ms` if given, until request `seq` gets the
    /// answer that ends it, or `limit_ms` passes.
    pub fn wait(&mut self, seq: u16, ping_ms: Option<u64>, limit_ms: u64) -> Option<Reply> {
        let end = self.now_us + limit_ms * 1_000;
        let mut last_ping = self.now_us;
        while self.now_us < end {
            self.tick_once();
            if let Some(reply) = self.ended(seq) {
                return Some(reply);
            }
            if let Some(every) = ping_ms
                && self.now_us - last_ping >= every * 1_000
            {
                self.ask(0xffff, Request::Ping);
                last_ping = self.now_us;
            }
        }
        None
    }

    pub fn tick_once(&mut self) {
        self.now_us += 20;
        let replies = &mut self.replies;
        self.controller
            .tick(self.now_us, &mut NoopDelay, &mut |s, r| {
                replies.push((s, r))
            });
    }

    /// The answer that ended the last request numbered `seq`, if it came.
    pub fn ended(&self, seq: u16) -> Option<Reply> {
        let accepted = self
            .replies
            .iter()
            .rposition(|&r| r == (seq, Reply::Accepted))
            .unwrap_or(0);
        self.replies[accepted..]
            .iter()
            .filter(|(s, _)| *s == seq)
            .map(|&(_, r)| r)
            .find(|r| matches!(r, Reply::Arrived(_) | Reply::Refused(_)))
    }

    /// Homes, as a session's first motion.
    pub fn home(&mut self) -> Reply {
        assert_eq!(self.ask(1, Request::Home), Reply::Accepted);
        self.wait(1, Some(300), 10_000).expect("homing ends")
    }
}

/// A serial port in memory: what the test queued to be read, and what was written.
#[derive(Default)]
pub struct MemoryUart {
    pub incoming: VecDeque<u8>,
    pub written: Vec<u8>,
}

impl embedded_io::ErrorType for MemoryUart {
    type Error = core::convert::Infallible;
}

impl embedded_io::ReadReady for MemoryUart {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(!self.incoming.is_empty())
    }
}

impl embedded_io::Read for MemoryUart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let n = buf.len().min(self.incoming.len());
        for slot in &mut buf[..n] {
            *slot = self.incoming.pop_front().unwrap_or(0);
        }
        Ok(n)
    }
}

impl embedded_io::Write for MemoryUart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}
