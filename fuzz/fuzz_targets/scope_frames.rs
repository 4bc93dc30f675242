//! Feeds arbitrary bytes to the scope link's reader, as a noisy serial line or a hostile
//! device on the port would: framing and decoding never panic, every frame that reads as
//! a request or a reply is written back to the same bytes' message, and a good frame sent
//! after the noise and a terminator is always read.
#![no_main]

use leukoscope_core::protocol::{
    FrameReader, MAX_FRAME_LEN, Reply, Request, WireError, decode, encode,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = FrameReader::new();
    for &byte in data {
        let Some(Ok(frame)) = reader.push(byte) else {
            continue;
        };
        let bytes = frame.to_vec();
        if let Ok((seq, request)) = decode::<Request>(&mut bytes.clone()) {
            let mut out = [0u8; MAX_FRAME_LEN];
            let len = encode(seq, &request, &mut out).expect("a read request fits");
            assert_eq!(decode::<Request>(&mut out[..len - 1]), Ok((seq, request)));
        }
        if let Ok((seq, reply)) = decode::<Reply>(&mut bytes.clone()) {
            let mut out = [0u8; MAX_FRAME_LEN];
            let len = encode(seq, &reply, &mut out).expect("a read reply fits");
            assert_eq!(decode::<Reply>(&mut out[..len - 1]), Ok((seq, reply)));
        }
    }
    // The link is never stuck: after a terminator, a good frame reads.
    let mut last: Option<Result<(u16, Request), WireError>> = None;
    reader.push(0);
    let mut out = [0u8; MAX_FRAME_LEN];
    let len = encode(7, &Request::Ping, &mut out).expect("fits");
    for &byte in &out[..len] {
        if let Some(frame) = reader.push(byte) {
            last = Some(frame.and_then(decode));
        }
    }
    assert_eq!(last, Some(Ok((7, Request::Ping))));
});
