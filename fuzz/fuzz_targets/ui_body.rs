//! Feeds arbitrary bytes to the web UI's body parsers, the ones its JSON API runs on every
//! `POST` (a verdict, a sign-off, a login): a body comes from any client on the network.
//! Parsing never panics, and a refusal repeats at most a short prefix of what was sent.
#![no_main]

use leukoscope_edge::ui::body::{self, BodyError};
use leukoscope_edge::ui::reply::ECHO_LIMIT;
use libfuzzer_sys::fuzz_target;

/// The longest refusal: serde's or our own words, one capped echo, and a position.
const MAX_REFUSAL: usize = ECHO_LIMIT + 120;

fn bounded<T>(parsed: Result<T, BodyError>) -> Option<T> {
    match parsed {
        Ok(value) => Some(value),
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.chars().count() <= MAX_REFUSAL,
                "a refusal of {} characters: {text}",
                text.chars().count()
            );
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = bounded(body::verdict(data));
    let _ = bounded(body::sign_off(data));
    let _ = bounded(body::login(data));
});
