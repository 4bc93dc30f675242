//! The bodies the API takes, one parser per endpoint: at most [`BODY_LIMIT`] bytes of
//! JSON, no field the API does not know (a misspelt field is a mistake to report, not to
//! ignore), and refusals that repeat little of what was sent ([`echo`]).
//!
//! The parsers are public so the fuzz target `ui_body` runs exactly what the server runs.

use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::reply::echo;
use crate::records::ReviewVerdict;

/// The largest body the API reads. Its bodies are a verdict, initials or a token, well
/// under a kilobyte; anything bigger is not from the UI's pages.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Why a body was refused.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Over [`BODY_LIMIT`].
    #[error("the request body is over the limit of {BODY_LIMIT} bytes")]
    TooLarge,
    /// The connection failed while the body was read.
    #[error("the request body could not be read")]
    Unreadable,
    /// Not JSON of the endpoint's shape; the text says why.
    #[error("bad request: {0}")]
    Invalid(String),
}

impl BodyError {
    /// The status the refusal is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Unreadable | BodyError::Invalid(_) => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<BytesRejection> for BodyError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            BodyError::TooLarge
        } else {
            BodyError::Unreadable
        }
    }
}

/// `bytes` as `T`. serde's messages quote the request (an unknown field's name, a wrong
/// string), so they are capped like any echo; the position after them is kept whole.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let text = e.to_string();
        let position = format!(" at line {} column {}", e.line(), e.column());
        match text.strip_suffix(&position) {
            Some(what) => BodyError::Invalid(format!("{}{position}", echo(what))),
            None => BodyError::Invalid(echo(&text)),
        }
    })
}

/// `{"verdict": "class", "class": 2}`, `{"verdict": "unidentified"}` or
/// `{"verdict": "not_a_cell"}`. A flat struct rather than an enum tagged by `verdict`:
/// serde ignores `deny_unknown_fields` on internally tagged enums.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerdictBody {
    verdict: String,
    class: Option<u32>,
}

/// The body of `POST /api/slides/{id}/cells/{cell}`: the reviewer's verdict on a cell.
pub fn verdict(bytes: &[u8]) -> Result<ReviewVerdict, BodyError> {
    let body: VerdictBody = parse(bytes)?;
    match (body.verdict.as_str(), body.class) {
        ("class", Some(class)) => Ok(ReviewVerdict::Class(class)),
        ("class", None) => Err(BodyError::Invalid(
            "a `class` verdict needs the class's index in `class`".into(),
        )),
        ("unidentified" | "not_a_cell", Some(_)) => Err(BodyError::Invalid(format!(
            "a `{}` verdict takes no `class`",
            body.verdict
        ))),
        ("unidentified", None) => Ok(ReviewVerdict::Unidentified),
        ("not_a_cell", None) => Ok(ReviewVerdict::NotACell),
        (other, _) => Err(BodyError::Invalid(format!(
            "`{}` is not a verdict: `class`, `unidentified` or `not_a_cell`",
            echo(other)
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignOffBody {
    initials: String,
}

/// The body of `POST /api/slides/{id}/sign-off`: `{"initials": "AB"}`, the initials as
/// sent (they are checked by [`Initials::parse`](crate::records::review::Initials::parse)).
pub fn sign_off(bytes: &[u8]) -> Result<String, BodyError> {
    parse::<SignOffBody>(bytes).map(|b| b.initials)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    token: String,
}

/// The body of `POST /api/login`: `{"token": "..."}`, the token as sent.
pub fn login(bytes: &[u8]) -> Result<String, BodyError> {
    parse::<LoginBody>(bytes).map(|b| b.token)
}

#[cfg(test)]
mod tests;
