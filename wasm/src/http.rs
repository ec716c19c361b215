//! The protocol side of the `fetch` transport (docs/protocol.md): the core's
//! [`statesync::http_protocol`], which the blocking `HttpTransport` uses too, with its results
//! and errors converted for JS. The TypeScript layer does the requests themselves.

use crate::error::OrJs;
use statesync::http_protocol;
use statesync::Encoding;
use wasm_bindgen::prelude::*;

/// The JSON body of `POST /v1/pull`.
#[wasm_bindgen(js_name = pullRequestBody)]
pub fn pull_request_body(
    cursor: Option<String>,
    collections: Vec<String>,
    limit: Option<f64>,
) -> Result<String, JsValue> {
    let context = crate::manager::context(collections, limit)?;
    Ok(http_protocol::pull_request_body(cursor.as_deref(), &context))
}

/// Whether an answer's `Content-Type` is the binary encoding (`false`: JSON);
/// `UNSUPPORTED_FORMAT` for any other type.
#[wasm_bindgen(js_name = replyIsBinary)]
pub fn reply_is_binary(url: &str, content_type: Option<String>) -> Result<bool, JsValue> {
    Ok(http_protocol::reply_encoding(url, content_type.as_deref()).js()? == Encoding::Binary)
}

/// Checks a hub space id (docs/design.md §10) with the core's rule: `INVALID_INPUT` unless it
/// is 1 to 128 bytes of `A-Z a-z 0-9 . _ : @ -`.
#[wasm_bindgen(js_name = validateSpace)]
pub fn validate_space(space: &str) -> Result<(), JsValue> {
    http_protocol::validate_space(space).js()
}

/// The path of a protocol endpoint (`capabilities`, `pull`, `push`) under the peer's base URL:
/// `/v1/spaces/{space}/{endpoint}` in a hub space, `/v1/{endpoint}` without one. `INVALID_INPUT`
/// for an invalid space id.
#[wasm_bindgen(js_name = endpointPath)]
pub fn endpoint_path(space: Option<String>, endpoint: &str) -> Result<String, JsValue> {
    if let Some(space) = &space {
        http_protocol::validate_space(space).js()?;
    }
    Ok(http_protocol::endpoint_path(space.as_deref(), endpoint))
}

/// The counts of a `POST /v1/push` answer, as JSON.
#[wasm_bindgen(js_name = pushResult)]
pub fn push_result(url: &str, body: &[u8]) -> Result<String, JsValue> {
    Ok(crate::values::counts(http_protocol::push_answer(url, body).js()?))
}

/// The error a non-2xx answer stands for: 5xx, 408 and 429 are `TRANSPORT` (retry later);
/// any other status with a typed body is the error it names; without one, `TRANSPORT`.
#[wasm_bindgen(js_name = httpError)]
pub fn http_error(url: &str, status: u16, body: &[u8], retry_after: Option<String>) -> JsValue {
    crate::error::to_js(http_protocol::status_error(url, status, body, retry_after.as_deref()))
}
