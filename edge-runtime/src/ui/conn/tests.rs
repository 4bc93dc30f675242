use std::future::Future;
use std::time::Duration;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use super::*;
use crate::records::layout::DataDir;
use crate::ui::{Desk, DeskConfig, DeskMode, serve_with};
use leukoscope_core::taxonomy::Taxonomy;

fn limits(max_connections: usize, loopback_reserve: usize) -> Limits {
    Limits {
        max_connections,
        loopback_reserve,
        header_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
    }
}

#[test]
fn a_full_house_closes_its_oldest_waiting_connection_and_keeps_room_for_the_board() {
    let registry = Registry::new(limits(4, 1));
    let phones: Vec<Slot> = (0..3).map(|_| registry.admit(false).unwrap()).collect();
    // The network's share is full: the next phone displaces the oldest waiting phone.
    let busy = phones[1].busy();
    let fourth = registry.admit(false).unwrap();
    assert_eq!(registry.len(), 3);
    let closed = |slot: &Slot| {
        let closing = std::pin::pin!(slot.closed());
        closing
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
            .is_ready()
    };
    assert!(closed(&phones[0]) && !closed(&phones[1]) && !closed(&phones[2]));
    // The board's screen still gets the reserved place without closing anything.
    let screen = registry.admit(true).unwrap();
    assert_eq!(registry.len(), 4);
    assert!(!closed(&phones[2]) && !closed(&fourth));
    // Full, with the screen and the busy phone not to be closed: the oldest waiting
    // phone makes room for a second screen.
    let _busy_screen = screen.busy();
    let second_screen = registry.admit(true).unwrap();
    assert!(closed(&phones[2]) && !closed(&fourth));
    // Every one busy: a newcomer is refused.
    let (_b1, _b2) = (fourth.busy(), second_screen.busy());
    assert!(registry.admit(true).is_none() && registry.admit(false).is_none());
    drop(busy);
    drop(phones);
    assert_eq!(
        registry.len(),
        3,
        "a slot is given back when its connection ends"
    );
}

#[test]
fn the_cap_stays_well_under_the_open_file_limit() {
    let tight = Limits::default().within(256);
    assert_eq!(tight.max_connections, 64);
    assert!(tight.loopback_reserve <= 32);
    assert_eq!(Limits::default().within(1 << 20), Limits::default());
    assert!(raise_open_file_limit() >= 64);
}

fn get_state(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // The state is small: read until its JSON closes.
    while !answer.ends_with(b"}") {
        let n = stream.read(&mut buf).expect("an answer in time");
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// Whether the server closed `stream` (read to its end) before `deadline`.
fn closed_by(stream: &mut TcpStream, deadline: Instant) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn a_flood_of_half_sent_requests_neither_starves_the_ui_nor_keeps_its_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let desk = Desk::new(DeskConfig {
        mode: DeskMode::Run,
        data: DataDir::new(dir.path()),
        taxonomy: Taxonomy::b_all_4(),
        rules: Default::default(),
        demonstration: false,
        can_start: true,
        rebuild: None,
    });
    let limits = limits(8, 2);
    let server = serve_with("127.0.0.1:0".parse().unwrap(), None, desk, limits).unwrap();
    let address = server.address();
    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut stream = TcpStream::connect(address).unwrap();
            stream
                .write_all(b"GET /api/state HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Wait: ")
                .unwrap();
            stream
        })
        .collect();
    // The UI answers at once, long before any head times out: the flood made room.
    let mut kept_alive = TcpStream::connect(address).unwrap();
    kept_alive
        .set_read_timeout(Some(limits.header_timeout / 2))
        .unwrap();
    let answer = get_state(&mut kept_alive);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // All but the newest few of the flood were closed to make room, at once...
    let soon = started + limits.header_timeout / 2;
    let mut open: Vec<&mut TcpStream> = slow
        .iter_mut()
        .filter_map(|s| (!closed_by(s, soon)).then_some(s))
        .collect();
    assert!(
        open.len() < limits.max_connections,
        "{} of the flood still open",
        open.len()
    );
    // ...and the rest, like the idle kept-alive connection, once the head timeout passes.
    let late = Instant::now() + limits.header_timeout + Duration::from_secs(1);
    for stream in &mut open {
        assert!(closed_by(stream, late), "a half-sent request kept open");
    }
    assert!(
        closed_by(&mut kept_alive, late),
        "an idle connection kept open"
    );
    drop(server);
}
