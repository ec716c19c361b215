//! The protocol side of the `fetch` transport (docs/protocol.md): request bodies and the
//! mapping of answers to results and errors, as the core's blocking `HttpTransport` does it.
//! The TypeScript layer does the requests themselves.

use crate::error::make;
use statesync::{Encoding, ReconciliationResult, SyncError, PROTOCOL_VERSION};
use wasm_bindgen::prelude::*;

/// The JSON body of `POST /v1/pull`.
#[wasm_bindgen(js_name = pullRequestBody)]
pub fn pull_request_body(cursor: Option<String>, collections: Vec<String>, limit: Option<u32>) -> String {
    serde_json::json!({"format": PROTOCOL_VERSION, "cursor": cursor, "collections": collections, "limit": limit})
        .to_string()
}

/// Whether an answer's `Content-Type` is the binary encoding (`false`: JSON);
/// `UNSUPPORTED_FORMAT` for any other type.
#[wasm_bindgen(js_name = replyIsBinary)]
pub fn reply_is_binary(url: &str, content_type: Option<String>) -> Result<bool, JsValue> {
    let t = content_type.unwrap_or_default();
    let t = t.split(';').next().unwrap_or_default().trim();
    if t.is_empty() {
        return Ok(false);
    }
    match Encoding::from_content_type(t) {
        Some(e) => Ok(e == Encoding::Binary),
        None => {
            Err(crate::error::to_js(SyncError::UnsupportedFormat(format!("{url} answered with Content-Type {t:?}"))))
        }
    }
}

/// The counts of a `POST /v1/push` answer, as JSON.
#[wasm_bindgen(js_name = pushResult)]
pub fn push_result(url: &str, body: &[u8]) -> Result<String, JsValue> {
    #[derive(serde::Deserialize)]
    struct PushResponse {
        format: u64,
        result: ReconciliationResult,
    }
    let answer: PushResponse = serde_json::from_slice(body)
        .map_err(|e| make("CORRUPT", &format!("corrupt data: {url} sent a malformed push result: {e}")))?;
    if answer.format != PROTOCOL_VERSION {
        return Err(make(
            "UNSUPPORTED_FORMAT",
            &format!(
                "unsupported format: {url} answered in format {}; this build speaks {PROTOCOL_VERSION}",
                answer.format
            ),
        ));
    }
    Ok(crate::values::counts(answer.result))
}

/// The error a non-2xx answer stands for: 5xx, 408 and 429 are `TRANSPORT` (retry later);
/// any other status with a typed body is the error it names; without one, `TRANSPORT`.
#[wasm_bindgen(js_name = httpError)]
pub fn http_error(url: &str, status: u16, body: &[u8], retry_after: Option<String>) -> JsValue {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: ErrorDetail,
    }
    #[derive(serde::Deserialize)]
    struct ErrorDetail {
        code: String,
        #[serde(default)]
        message: String,
    }
    let typed = serde_json::from_slice::<ErrorBody>(body).ok().map(|b| b.error);
    let retryable = status >= 500 || status == 408 || status == 429;
    let error = match typed {
        Some(e) if !retryable => SyncError::from_code(&e.code, format!("{} (HTTP {status} from {url})", e.message)),
        typed => {
            let what = match typed {
                Some(e) => format!("{}: {}", e.code, e.message),
                None => String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_owned(),
            };
            let retry = retry_after.map(|r| format!("; retry after {r} s")).unwrap_or_default();
            SyncError::Transport(format!("HTTP {status} from {url}: {what}{retry}"))
        }
    };
    crate::error::to_js(error)
}
