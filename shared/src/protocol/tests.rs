use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;

/// Reads a whole frame (terminator included) as a peer does: through a [`FrameReader`].
fn read<T: DeserializeOwned>(frame: &[u8]) -> Result<(u16, T), WireError> {
    let mut reader = FrameReader::new();
    let mut got = None;
    for &byte in frame {
        if let Some(frame) = reader.push(byte) {
            assert!(got.is_none(), "one frame gave two");
            got = Some(frame.and_then(|f| decode(f)));
        }
    }
    got.expect("the terminator ends a frame")
}

fn encoded<T: Serialize>(seq: u16, body: &T) -> Vec<u8> {
    let mut out = [0u8; MAX_FRAME_LEN];
    let len = encode(seq, body, &mut out).expect("fits");
    out[..len].to_vec()
}

/// A message with a valid CRC and any bytes after the version, COBS-framed.
fn framed(message: &[u8]) -> Vec<u8> {
    let mut signed = message.to_vec();
    signed.extend_from_slice(&crc32fast::hash(message).to_le_bytes());
    let mut out = alloc::vec![0u8; cobs::max_encoding_length(signed.len()) + 1];
    let len = cobs::encode(&signed, &mut out);
    out.truncate(len);
    out.push(0);
    out
}

const AT: Position = Position {
    x_nm: 1_500_000,
    y_nm: -250_000,
    z_nm: 12_345,
    homed: true,
};

/// The bytes of docs/scope-protocol.md's examples, worked out there by hand: version 1,
/// the sequence number and the body in postcard (varints, zigzag for `i32`), the CRC-32
/// little-endian, COBS, the terminator.
#[test]
fn golden_frames_pin_the_wire() {
    let hello: &[u8] = &[0x02, 0x01, 0x01, 0x05, 0x25, 0xb3, 0x83, 0xfe, 0x00];
    assert_eq!(encoded(0, &Request::Hello), hello);
    assert_eq!(read::<Request>(hello), Ok((0, Request::Hello)));

    let move_to: &[u8] = &[
        0x10, 0x01, 0xac, 0x02, 0x02, 0xc0, 0x8d, 0xb7, 0x01, 0x9f, 0xc2, 0x1e, 0x06, 0xf7, 0x5a,
        0xf4, 0x00,
    ];
    let request = Request::MoveTo {
        x_nm: 1_500_000,
        y_nm: -250_000,
    };
    assert_eq!(encoded(300, &request), move_to);
    assert_eq!(read::<Request>(move_to), Ok((300, request)));

    let arrived: &[u8] = &[
        0x14, 0x01, 0xac, 0x02, 0x02, 0xc0, 0x8d, 0xb7, 0x01, 0x9f, 0xc2, 0x1e, 0xf2, 0xc0, 0x01,
        0x01, 0xf5, 0x2f, 0xfc, 0x9d, 0x00,
    ];
    assert_eq!(encoded(300, &Reply::Arrived(AT)), arrived);
    assert_eq!(read::<Reply>(arrived), Ok((300, Reply::Arrived(AT))));

    let reply_hello: &[u8] = &[
        0x02, 0x01, 0x01, 0x02, 0x01, 0x02, 0x01, 0x07, 0xf4, 0x03, 0x2e, 0xc1, 0x4b, 0x6b, 0x00,
    ];
    let reply = Reply::Hello {
        protocol: 1,
        firmware: [0, 1, 0],
        link_timeout_ms: 500,
    };
    assert_eq!(encoded(0, &reply), reply_hello);
    assert_eq!(read::<Reply>(reply_hello), Ok((0, reply)));

    let limit_hit: &[u8] = &[
        0x0a, 0x01, 0x07, 0x04, 0x03, 0x01, 0x9d, 0x2d, 0xb6, 0x3d, 0x00,
    ];
    let reply = Reply::Refused(Refusal::LimitHit { axis: Axis::Y });
    assert_eq!(encoded(7, &reply), limit_hit);
    assert_eq!(read::<Reply>(limit_hit), Ok((7, reply)));
}

/// The largest message of this version, at the farthest positions, with room to spare.
#[test]
fn the_largest_message_fits_a_frame() {
    let far = Position {
        x_nm: i32::MIN,
        y_nm: i32::MIN,
        z_nm: i32::MIN,
        homed: true,
    };
    let frame = encoded(u16::MAX, &Reply::Arrived(far));
    assert_eq!(frame.len(), 27);
    assert_eq!(read::<Reply>(&frame), Ok((u16::MAX, Reply::Arrived(far))));
    let mut out = [0u8; MAX_FRAME_LEN];
    assert_eq!(
        encode(1, &([7u8; 32], [7u8; 32]), &mut out),
        Err(WireError::MessageTooLong)
    );
}

#[test]
fn every_changed_bit_is_caught() {
    let frame = encoded(
        300,
        &Request::MoveTo {
            x_nm: 1_500_000,
            y_nm: -250_000,
        },
    );
    let body = frame.len() - 1;
    for at in 0..body {
        for bit in 0..8 {
            let mut changed = frame.clone();
            changed[at] ^= 1 << bit;
            // A byte turned zero ends the frame early: the reader gives the first part,
            // and the rest is a frame of its own; neither may read as a message.
            let mut reader = FrameReader::new();
            for &byte in &changed {
                if let Some(Ok(part)) = reader.push(byte) {
                    let got = decode::<Request>(part);
                    assert!(got.is_err(), "bit {bit} of byte {at}: read {got:?}");
                }
            }
        }
    }
}

#[test]
fn a_newer_peer_is_named_not_misread() {
    // Version 2 with a valid CRC: refused for its version before its body is read.
    let newer = framed(&[2, 0x00, 0x00]);
    assert_eq!(
        read::<Request>(&newer),
        Err(WireError::Version {
            found: 2,
            supported: PROTOCOL_VERSION
        })
    );
    // This version, a request added after this build (variant 200), and a known one
    // with bytes after it: both a message this build does not know.
    assert_eq!(
        read::<Request>(&framed(&[1, 0x05, 0xc8, 0x01])),
        Err(WireError::UnknownMessage)
    );
    assert_eq!(
        read::<Request>(&framed(&[1, 0x05, 0x00, 0x2a])),
        Err(WireError::UnknownMessage)
    );
    // A request read as a reply: the variant means something else or nothing.
    assert_eq!(
        read::<Reply>(&encoded(1, &Request::MoveTo { x_nm: 1, y_nm: 2 })),
        Err(WireError::UnknownMessage)
    );
    // Too short to hold a message, and not COBS.
    assert_eq!(read::<Request>(&framed(&[1])), Err(WireError::Damaged));
    assert_eq!(
        read::<Request>(&[0x05, 0x01, 0x00]),
        Err(WireError::Damaged)
    );
}

#[test]
fn noise_costs_one_frame_never_the_link() {
    let good = encoded(9, &Request::Ping);
    let mut stream = Vec::new();
    stream.extend_from_slice(&[0, 0]); // a line flushed with zeros: nothing
    stream.extend(core::iter::repeat_n(0x55, 3 * MAX_FRAME_LEN)); // noise, no terminator
    stream.push(0);
    stream.extend_from_slice(&good);
    let mut reader = FrameReader::new();
    let got: Vec<_> = stream
        .iter()
        .filter_map(|&b| reader.push(b).map(|f| f.and_then(decode::<Request>)))
        .collect();
    assert_eq!(got, [Err(WireError::TooLong), Ok((9, Request::Ping))]);
}

fn axis() -> impl Strategy<Value = Axis> {
    prop_oneof![Just(Axis::X), Just(Axis::Y), Just(Axis::Z)]
}

fn position() -> impl Strategy<Value = Position> {
    (any::<i32>(), any::<i32>(), any::<i32>(), any::<bool>()).prop_map(|(x, y, z, homed)| {
        Position {
            x_nm: x,
            y_nm: y,
            z_nm: z,
            homed,
        }
    })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Hello),
        Just(Request::Home),
        (any::<i32>(), any::<i32>()).prop_map(|(x_nm, y_nm)| Request::MoveTo { x_nm, y_nm }),
        any::<i32>().prop_map(|z_nm| Request::FocusTo { z_nm }),
        any::<u16>().prop_map(|permille| Request::Lamp { permille }),
        Just(Request::Where),
        Just(Request::Stop),
        Just(Request::Ping),
        Just(Request::Presses),
    ]
}

fn refusal() -> impl Strategy<Value = Refusal> {
    prop_oneof![
        Just(Refusal::NotHomed),
        axis().prop_map(|axis| Refusal::OutOfRange { axis }),
        Just(Refusal::Busy),
        axis().prop_map(|axis| Refusal::LimitHit { axis }),
        Just(Refusal::Stopped),
        Just(Refusal::LinkLost),
        Just(Refusal::BadValue),
        Just(Refusal::Unreadable),
        axis().prop_map(|axis| Refusal::SwitchNotFound { axis }),
        axis().prop_map(|axis| Refusal::DriverFault { axis }),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        (any::<u8>(), any::<[u8; 3]>(), any::<u16>()).prop_map(
            |(protocol, firmware, link_timeout_ms)| Reply::Hello {
                protocol,
                firmware,
                link_timeout_ms
            }
        ),
        Just(Reply::Accepted),
        position().prop_map(Reply::Arrived),
        position().prop_map(Reply::At),
        refusal().prop_map(Reply::Refused),
        Just(Reply::Done),
        any::<u16>().prop_map(|count| Reply::Presses { count }),
    ]
}

proptest! {
    #[test]
    fn every_request_reads_back_as_sent(seq in any::<u16>(), request in request()) {
        let frame = encoded(seq, &request);
        prop_assert!(frame.len() <= MAX_FRAME_LEN);
        prop_assert!(frame[..frame.len() - 1].iter().all(|&b| b != 0));
        prop_assert_eq!(read::<Request>(&frame), Ok((seq, request)));
    }

    #[test]
    fn every_reply_reads_back_as_sent(seq in any::<u16>(), reply in reply()) {
        let frame = encoded(seq, &reply);
        prop_assert!(frame.len() <= MAX_FRAME_LEN);
        prop_assert_eq!(read::<Reply>(&frame), Ok((seq, reply)));
    }

    /// Whatever came before, a frame after a terminator is read.
    #[test]
    fn any_bytes_then_a_frame_still_read_it(
        noise in proptest::collection::vec(any::<u8>(), 0..300),
        seq in any::<u16>(),
        request in request(),
    ) {
        let mut reader = FrameReader::new();
        for &byte in &noise {
            if let Some(Ok(frame)) = reader.push(byte) {
                let _ = decode::<Request>(frame);
            }
        }
        reader.push(0);
        let mut got = None;
        for &byte in &encoded(seq, &request) {
            if let Some(frame) = reader.push(byte) {
                got = Some(frame.and_then(decode::<Request>));
            }
        }
        prop_assert_eq!(got, Some(Ok((seq, request))));
    }
}
