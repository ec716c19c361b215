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
