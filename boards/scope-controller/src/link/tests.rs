use leukoscope_core::protocol::{MAX_FRAME_LEN, Reply, Request, WireError, encode};

use super::*;
use crate::testing::MemoryUart;

fn frame(seq: u16, request: &Request) -> Vec<u8> {
    let mut out = [0u8; MAX_FRAME_LEN];
    let len = encode(seq, request, &mut out).expect("fits");
    out[..len].to_vec()
}

#[test]
fn a_request_is_read_once_its_frame_is_whole_and_noise_costs_one_frame() {
    let mut link = SerialLink::new(MemoryUart::default());
    let whole = frame(7, &Request::MoveTo { x_nm: 5, y_nm: -5 });
    // Half a frame: nothing yet.
    link.uart.incoming.extend(&whole[..4]);
    assert_eq!(link.poll(), Ok(None));
    link.uart.incoming.extend(&whole[4..]);
    assert_eq!(
        link.poll(),
        Ok(Some(Incoming::Request(
            7,
            Request::MoveTo { x_nm: 5, y_nm: -5 }
        )))
    );
    // A changed byte, then a good frame.
    let mut bad = frame(8, &Request::Ping);
    bad[3] ^= 0x10;
    link.uart.incoming.extend(&bad);
    link.uart.incoming.extend(&frame(9, &Request::Where));
    assert_eq!(link.poll(), Ok(Some(Incoming::Unreadable(WireError::Crc))));
    assert_eq!(link.poll(), Ok(Some(Incoming::Request(9, Request::Where))));
    assert_eq!(link.poll(), Ok(None));
}

#[test]
fn a_reply_goes_out_as_exactly_its_frame() {
    let mut link = SerialLink::new(MemoryUart::default());
    link.send(300, &Reply::Done).expect("sent");
    let mut out = [0u8; MAX_FRAME_LEN];
    let len = encode(300, &Reply::Done, &mut out).expect("fits");
    assert_eq!(link.release().written, out[..len].to_vec());
}
