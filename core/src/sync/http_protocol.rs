//! The client side of the HTTP sync protocol (`docs/protocol.md`) without the I/O: the body of a
//! pull request and what an answer means (the result it carries, or the error it stands for).
//!
//! Compiled without the `http` feature, so that the blocking [`crate::HttpTransport`] and
//! clients doing their own requests (the browser package over `fetch`) read answers the same
//! way and report the same errors.

use crate::model::change_set::SyncContext;
use crate::model::error::{ErrorCode, Result, SyncError};
use crate::replica::admission::RejectedState;
use crate::replica::outcome::ReconciliationResult;
use crate::sync::transport::{SyncCapabilities, PROTOCOL_VERSION};
use crate::Encoding;
use serde::{Deserialize, Serialize};

/// The body of `POST /v1/pull` (docs/protocol.md): the protocol `format`, the cursor to start
/// after (`None`: from the beginning), the collections (empty: all) and the page limit. A hub
/// reads it with every field but `format` optional (checking `format` first, see
/// docs/protocol.md); a client writes every field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// The protocol version the body is in ([`PROTOCOL_VERSION`]).
    pub format: u64,
    /// Where the page starts: after this cursor of the peer's feed.
    #[serde(default)]
    pub cursor: Option<String>,
    /// The collections asked for; empty means all.
    #[serde(default)]
    pub collections: Vec<String>,
    /// The largest page the client wants; `None`: the peer's own limit.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// The body of a successful `POST /v1/push`: the counts, and beside them the states the peer
/// refused (left out by peers of older releases, so optional when read).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PushResponse {
    /// The protocol version the body is in ([`PROTOCOL_VERSION`]).
    pub format: u64,
    /// What the pushed states did; its `rejections` travel in [`PushResponse::rejected`].
    pub result: ReconciliationResult,
    /// The states the peer refused, each with its code and message.
    #[serde(default)]
    pub rejected: Vec<RejectedState>,
}

/// The JSON body a peer answers a successful `POST /v1/push` with: `{"format", "result":
/// {counts}, "rejected": [{"id", "code", "message"}]}` (docs/protocol.md).
pub fn push_answer_body(mut result: ReconciliationResult) -> Vec<u8> {
    let rejected = std::mem::take(&mut result.rejections);
    serde_json::to_vec(&PushResponse { format: PROTOCOL_VERSION, result, rejected }).expect("counts always serialise")
}

/// The longest space id, in bytes.
pub const MAX_SPACE_BYTES: usize = 128;

/// Checks a space id (docs/design.md §10): 1 to 128 bytes of `A–Z a–z 0–9 . _ : @ -`, so it
/// sits in a URL path as it is. `INVALID_INPUT` otherwise.
pub fn validate_space(space: &str) -> Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '@' | '-');
    if space.is_empty() || space.len() > MAX_SPACE_BYTES {
        return Err(SyncError::InvalidInput(format!(
            "a space id is 1 to {MAX_SPACE_BYTES} bytes, not {}",
            space.len()
        )));
    }
    match space.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(SyncError::InvalidInput(format!("a space id holds only A-Z a-z 0-9 . _ : @ -, not {c:?}"))),
        None => Ok(()),
    }
}

/// The path of one of the protocol's endpoints (`capabilities`, `pull`, `push`) under a peer's
/// base URL: `/v1/spaces/{space}/{endpoint}` for a space of a hub, `/v1/{endpoint}` without
/// one (a hub's space `default`, or any other peer). The space must be valid
/// ([`validate_space`]).
pub fn endpoint_path(space: Option<&str>, endpoint: &str) -> String {
    match space {
        Some(space) => format!("/v1/spaces/{space}/{endpoint}"),
        None => format!("/v1/{endpoint}"),
    }
}

/// The typed error body of every non-2xx answer: `{"error":{"code":"...","message":"..."}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`]: a code and the bare message (without the variant's prefix,
/// so [`SyncError::from_code`] rebuilds the same `Display`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// An [`ErrorCode`] spelling, or one of the server's own codes (`FORBIDDEN`, `TIMEOUT`,
    /// `REJECTED`, see docs/protocol.md).
    pub code: String,
    /// The message; absent in an answer reads as empty.
    #[serde(default)]
    pub message: String,
}

impl ErrorBody {
    /// The body for `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> ErrorBody {
        ErrorBody { error: ErrorDetail { code: code.into(), message: message.into() } }
    }

    /// The body of a core error: its code and bare message.
    pub fn of(error: &SyncError) -> ErrorBody {
        ErrorBody::new(error.code(), error.message())
    }

    /// The body as JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("strings always serialise")
    }
}

/// The HTTP status a server answers a core error of `code` with (docs/protocol.md, "Errors"):
/// 400 for a malformed request, 403, 404, 415, 503 for a closing server (retry later), 500 for
/// every failure of the server itself.
pub fn status_for(code: ErrorCode) -> u16 {
    match code {
        ErrorCode::InvalidInput
        | ErrorCode::InvalidState
        | ErrorCode::Corrupt
        | ErrorCode::Crypto
        | ErrorCode::AlreadyExists => 400,
        ErrorCode::NotFound => 404,
        ErrorCode::Forbidden => 403,
        ErrorCode::UnsupportedFormat => 415,
        ErrorCode::Closed => 503,
        ErrorCode::Conflict
        | ErrorCode::Resolver
        | ErrorCode::Storage
        | ErrorCode::Unauthorized
        | ErrorCode::Transport
        | ErrorCode::Internal => 500,
    }
}

/// The JSON body of `POST /v1/pull`: the page after `cursor` (`None`: from the beginning) of
/// the collections and with the page limit of `context`.
pub fn pull_request_body(cursor: Option<&str>, context: &SyncContext) -> String {
    let request = PullRequest {
        format: PROTOCOL_VERSION,
        cursor: cursor.map(str::to_owned),
        collections: context.collections.clone(),
        limit: context.limit,
    };
    serde_json::to_string(&request).expect("a pull request always serialises")
}

/// The error a non-2xx answer of `url` stands for, from its status, body and `Retry-After`
/// header. 5xx, 408, 429 and a peer's `CLOSED` (whatever its status) are `Transport` (retry
/// later), with the peer's code and `Retry-After` in the message; any other status with a typed
/// body is the error it names ([`SyncError::from_code`]); without one, `Transport`.
pub fn status_error(url: &str, status: u16, body: &[u8], retry_after: Option<&str>) -> SyncError {
    let typed = serde_json::from_slice::<ErrorBody>(body).ok().map(|b| b.error);
    // A peer that says it is closed is shutting down: retry later. `SyncError::Closed` is this
    // replica's own state and must never stand for a peer's.
    let retryable =
        status >= 500 || status == 408 || status == 429 || typed.as_ref().is_some_and(|e| e.code == "CLOSED");
    match typed {
        Some(e) if !retryable => SyncError::from_code(&e.code, format!("{} (HTTP {status} from {url})", e.message)),
        typed => {
            let what = match typed {
                Some(e) => format!("{}: {}", e.code, e.message),
                None => String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_owned(),
            };
            let retry = retry_after.map(|r| format!("; retry after {r} s")).unwrap_or_default();
            SyncError::Transport(format!("HTTP {status} from {url}: {what}{retry}"))
        }
    }
}

/// The encoding a successful answer of `url` is in, from its `Content-Type` header (parameters
/// such as `charset` ignored; JSON when absent or empty). Any other type is
/// `UNSUPPORTED_FORMAT`.
pub fn reply_encoding(url: &str, content_type: Option<&str>) -> Result<Encoding> {
    match content_type.map(|t| t.split(';').next().unwrap_or_default().trim()) {
        None | Some("") => Ok(Encoding::Json),
        Some(t) => Encoding::from_content_type(t)
            .ok_or_else(|| SyncError::UnsupportedFormat(format!("{url} answered with Content-Type {t:?}"))),
    }
}

/// The counts in the body of a successful `POST /v1/push` answered by `url`: `CORRUPT` when
/// it is malformed, `UNSUPPORTED_FORMAT` when it is in another protocol version.
pub fn push_answer(url: &str, body: &[u8]) -> Result<ReconciliationResult> {
    let answer: PushResponse = serde_json::from_slice(body)
        .map_err(|e| SyncError::Corrupt(format!("{url} sent a malformed push result: {e}")))?;
    if answer.format != PROTOCOL_VERSION {
        return Err(SyncError::UnsupportedFormat(format!(
            "{url} answered in format {}; this build speaks {PROTOCOL_VERSION}",
            answer.format
        )));
    }
    for kept in answer.rejected.iter().filter_map(|r| r.current.as_deref()) {
        kept.validate().map_err(|e| SyncError::Corrupt(format!("{url} reported an invalid kept version: {e}")))?;
    }
    let mut result = answer.result;
    result.rejections.extend(answer.rejected);
    result.rejected = result.rejected.max(result.rejections.len() as u64);
    Ok(result)
}

/// The capabilities in the body of a successful `GET /v1/capabilities` answered by `url`:
/// `CORRUPT` when it is malformed. Whether the round can go on with them is
/// [`crate::SyncRound::start`]'s to say.
pub fn capabilities_answer(url: &str, body: &[u8]) -> Result<SyncCapabilities> {
    serde_json::from_slice(body).map_err(|e| SyncError::Corrupt(format!("{url} sent malformed capabilities: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_error_body_becomes_the_error_it_names_unless_the_status_says_retry() {
        let body = br#"{"error":{"code":"UNAUTHORIZED","message":"bad token"}}"#;
        let e = status_error("http://hub/v1/pull", 401, body, None);
        assert_eq!((e.code(), e.message().as_str()), ("UNAUTHORIZED", "bad token (HTTP 401 from http://hub/v1/pull)"));
        let e = status_error("http://hub/v1/pull", 503, br#"{"error":{"code":"CLOSED"}}"#, Some("1"));
        assert_eq!(e.code(), "TRANSPORT");
        assert_eq!(e.message(), "HTTP 503 from http://hub/v1/pull: CLOSED: ; retry after 1 s");
        let e = status_error("http://hub/v1/push", 400, br#"{"error":{"code":"CLOSED","message":"x"}}"#, None);
        assert_eq!(e.code(), "TRANSPORT", "a peer's CLOSED is never this replica's own: {e}");
        assert!(e.message().contains("HTTP 400"), "{e}");
        let e = status_error("http://hub/v1/pull", 404, b"  no such page \n", None);
        assert_eq!((e.code(), e.message().as_str()), ("TRANSPORT", "HTTP 404 from http://hub/v1/pull: no such page"));
    }

    #[test]
    fn answers_are_read_or_refused_with_the_right_code() {
        let url = "http://hub/v1/push";
        assert_eq!(reply_encoding(url, None).unwrap(), Encoding::Json);
        assert_eq!(reply_encoding(url, Some("application/json; charset=utf-8")).unwrap(), Encoding::Json);
        assert_eq!(reply_encoding(url, Some(Encoding::Binary.content_type())).unwrap(), Encoding::Binary);
        assert_eq!(reply_encoding(url, Some("text/html")).unwrap_err().code(), "UNSUPPORTED_FORMAT");
        assert_eq!(push_answer(url, b"{").unwrap_err().code(), "CORRUPT");
        let result = ReconciliationResult { created: 2, ..Default::default() };
        let answer = |format: u64| serde_json::json!({ "format": format, "result": result }).to_string();
        assert_eq!(push_answer(url, answer(PROTOCOL_VERSION).as_bytes()).unwrap(), result);
        assert_eq!(push_answer(url, answer(PROTOCOL_VERSION + 1).as_bytes()).unwrap_err().code(), "UNSUPPORTED_FORMAT");
        let refused = RejectedState::coded("s", "INVALID_STATE", "too large");
        let with_refusal =
            ReconciliationResult { created: 1, rejected: 1, rejections: vec![refused], ..Default::default() };
        let body = push_answer_body(with_refusal.clone());
        assert_eq!(
            String::from_utf8(body.clone()).unwrap(),
            r#"{"format":1,"result":{"created":1,"updated":0,"unchanged":0,"ignored":0,"conflicts":0,"resolved":0,"rejected":1},"rejected":[{"id":"s","code":"INVALID_STATE","message":"too large"}]}"#
        );
        assert_eq!(push_answer(url, &body).unwrap(), with_refusal);
        assert_eq!(capabilities_answer(url, b"<html>").unwrap_err().code(), "CORRUPT");
        let body = pull_request_body(Some("c1"), &SyncContext { collections: vec!["a".into()], limit: Some(5) });
        assert_eq!(body, r#"{"format":1,"cursor":"c1","collections":["a"],"limit":5}"#);
        let read: PullRequest = serde_json::from_str(&body).unwrap();
        assert_eq!(read.collections, ["a"]);
        let bare: PullRequest = serde_json::from_str(r#"{"format":1}"#).unwrap();
        assert_eq!((bare.cursor, bare.collections.len(), bare.limit), (None, 0, None));
    }

    #[test]
    fn spaces_are_checked_and_routed() {
        for ok in ["default", "user:42", "a", "team.alpha_1@example-org", &"x".repeat(MAX_SPACE_BYTES)] {
            assert!(validate_space(ok).is_ok(), "{ok:?}");
        }
        for bad in ["", "a/b", "a b", "é", "a?b", "a%2F", &"x".repeat(MAX_SPACE_BYTES + 1)] {
            assert_eq!(validate_space(bad).unwrap_err().code(), "INVALID_INPUT", "{bad:?}");
        }
        assert_eq!(endpoint_path(Some("user:42"), "pull"), "/v1/spaces/user:42/pull");
        assert_eq!(endpoint_path(None, "push"), "/v1/push");
    }

    #[test]
    fn error_bodies_are_written_and_read_in_one_shape() {
        let body = ErrorBody::of(&SyncError::InvalidInput("limit must be at least 1".into())).to_bytes();
        assert_eq!(
            String::from_utf8(body.clone()).unwrap(),
            r#"{"error":{"code":"INVALID_INPUT","message":"limit must be at least 1"}}"#
        );
        let read: ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(read, ErrorBody::new("INVALID_INPUT", "limit must be at least 1"));
        let bare: ErrorBody = serde_json::from_str(r#"{"error":{"code":"CLOSED"}}"#).unwrap();
        assert_eq!(bare.error.message, "");
    }

    #[test]
    fn each_code_has_the_status_of_the_protocol_table() {
        let statuses: Vec<(&str, u16)> = ErrorCode::ALL.iter().map(|c| (c.as_str(), status_for(*c))).collect();
        assert_eq!(
            statuses,
            [
                ("NOT_FOUND", 404),
                ("ALREADY_EXISTS", 400),
                ("INVALID_STATE", 400),
                ("INVALID_INPUT", 400),
                ("CONFLICT", 500),
                ("RESOLVER", 500),
                ("STORAGE", 500),
                ("CORRUPT", 400),
                ("UNSUPPORTED_FORMAT", 415),
                ("UNAUTHORIZED", 500),
                ("FORBIDDEN", 403),
                ("CRYPTO", 400),
                ("TRANSPORT", 500),
                ("CLOSED", 503),
                ("INTERNAL", 500),
            ]
        );
    }
}
