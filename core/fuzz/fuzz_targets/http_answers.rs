//! Feeds arbitrary answers of a peer to the client's readers of the HTTP protocol
//! (`statesync::http_protocol`): what every client (the blocking `HttpTransport`, the browser
//! package over `fetch`) makes of a status, a `Content-Type` and a body.
//!
//! The input is read as: two bytes of status (little-endian, taken modulo 600), then the
//! `Content-Type` up to the first newline, then the body. Besides "never panics": a push answer
//! or capabilities that read round-trip through their own writers, and every refusal carries the
//! code the reader documents.

#![no_main]

use libfuzzer_sys::fuzz_target;
use statesync::http_protocol::{capabilities_answer, push_answer, push_answer_body, reply_encoding, status_error};
use statesync::Encoding;

const URL: &str = "http://hub.test/v1/push";

fuzz_target!(|data: &[u8]| {
    let (status, rest) = match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]) % 600, rest),
        _ => return,
    };
    let (content_type, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(end) => (Some(String::from_utf8_lossy(&rest[..end]).into_owned()), &rest[end + 1..]),
        None => (None, rest),
    };

    match push_answer(URL, body) {
        Ok(result) => {
            assert!(result.rejected >= result.rejections.len() as u64, "fewer rejected than listed: {result:?}");
            let again = push_answer(URL, &push_answer_body(result.clone()))
                .unwrap_or_else(|e| panic!("the body written for {result:?} is refused: {e}"));
            assert_eq!(again, result, "a push answer round trip");
        }
        Err(e) => assert!(matches!(e.code(), "CORRUPT" | "UNSUPPORTED_FORMAT"), "push_answer: {e}"),
    }

    match capabilities_answer(URL, body) {
        Ok(capabilities) => {
            let text = serde_json::to_vec(&capabilities).expect("capabilities always serialise");
            let again =
                capabilities_answer(URL, &text).unwrap_or_else(|e| panic!("{capabilities:?} written, refused: {e}"));
            assert_eq!(again, capabilities, "a capabilities round trip");
        }
        Err(e) => assert_eq!(e.code(), "CORRUPT", "capabilities_answer: {e}"),
    }

    let retry_after = content_type.as_deref();
    let e = status_error(URL, status, body, retry_after);
    // Its code is one of `ErrorCode::ALL` by construction (SyncError::code is built on it).
    if status >= 500 || status == 408 || status == 429 {
        assert_eq!(e.code(), "TRANSPORT", "a retryable status is a transport error: {e}");
    }
    assert_ne!(e.code(), "CLOSED", "a peer's CLOSED is never this replica's own: {e}");
    assert!(e.message().contains(&format!("HTTP {status} from {URL}")), "status_error names no status: {e}");

    for given in [content_type.as_deref(), None] {
        match reply_encoding(URL, given) {
            Ok(encoding) => {
                let named = reply_encoding(URL, Some(encoding.content_type())).expect("a type of this build");
                assert_eq!(named, encoding, "{given:?} read as {encoding:?}");
                if given.is_none_or(|t| t.trim().is_empty()) {
                    assert_eq!(encoding, Encoding::Json, "no type is JSON");
                }
            }
            Err(e) => assert_eq!(e.code(), "UNSUPPORTED_FORMAT", "reply_encoding: {e}"),
        }
    }
});
