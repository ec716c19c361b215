//! The protocol's endpoints (docs/protocol.md): capabilities, pull and push, their typed errors,
//! and the bounds on what decoding a request may cost (see `Limits`).

use crate::access::{cursor_of, parse_cursor, space_of};
pub(crate) use crate::api_error::ApiError;
use crate::store::{PullScope, PushPolicy};
use crate::Hub;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use statesync::http_protocol::PullRequest;
use statesync::{ChangeSet, Encoding, ErrorCode, SyncContext, SyncError, PROTOCOL_VERSION};
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;

/// Responses at least this large are compressed when the client accepts zstd.
#[cfg(feature = "zstd")]
const COMPRESS_FROM_BYTES: usize = 1_024;

/// The unit of the decode budget's semaphore: a permit stands for this many bytes.
pub(crate) const BUDGET_UNIT: usize = 1024;

// ---- running work -------------------------------------------------------------------------

/// Runs a manager call on the blocking pool. A panic in it is a 500 `INTERNAL`.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(ApiError::coded(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, format!("the hub failed: {e}")))
    })
}

/// A share of the decode budget for `bytes` of decoded body, waited for: bodies beyond the
/// budget are decoded one after another instead of all at once.
async fn budget(hub: &Hub, bytes: usize) -> OwnedSemaphorePermit {
    let total = hub.limits.decode_budget_bytes.div_ceil(BUDGET_UNIT);
    let units = bytes.div_ceil(BUDGET_UNIT).clamp(1, total);
    hub.decode_budget.clone().acquire_many_owned(units as u32).await.expect("the budget is never closed")
}

// ---- handlers -----------------------------------------------------------------------------

pub(crate) type HubState = State<Arc<Hub>>;

pub(crate) async fn authorize(State(hub): HubState, request: Request, next: Next) -> Response {
    if let Some(hook) = &hub.authorize {
        if let Err((status, message)) = hook(request.headers()) {
            let code = match status {
                StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized.as_str(),
                StatusCode::FORBIDDEN => ErrorCode::Forbidden.as_str(),
                _ => "REJECTED",
            };
            return ApiError::new(status, code, message).into_response();
        }
    }
    next.run(request).await
}

/// Ends a request that is not done within `request_timeout` (a body trickled in byte by byte)
/// with 408 `TIMEOUT`. Work already handed to the blocking pool finishes: a push is committed
/// whole or not at all, and repeating it is harmless.
pub(crate) async fn deadline(State(hub): HubState, request: Request, next: Next) -> Response {
    let limit = hub.limits.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "TIMEOUT",
            format!("the request took longer than {} ms", limit.as_millis()),
        )
        .into_response(),
    }
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::coded(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such endpoint (see docs/protocol.md)")
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::coded(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::InvalidInput, "method not allowed on this endpoint")
}

/// The route's space: the path's `{space}`, none on the Part I routes (space `default`).
type SpacePath = Option<Path<String>>;

/// The capabilities of a space the caller reaches (its grants are checked, so a client learns
/// at the start of its round that a space is not its own).
pub(crate) async fn capabilities(
    State(hub): HubState,
    space: SpacePath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let space = space_of(space.as_ref().map(|Path(s)| s.as_str()))?;
    hub.gate.access(&headers, &space, &hub.rules)?;
    let body = serde_json::to_vec(&hub.capabilities(&space)).expect("capabilities always serialise");
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The body bytes, or the typed answer to a body that could not be read: 413 past `limit`.
fn body_bytes(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(limit)
        } else {
            ApiError::coded(
                StatusCode::BAD_REQUEST,
                ErrorCode::Corrupt,
                format!("the body could not be read: {rejection}"),
            )
        }
    })?;
    if body.len() > limit {
        return Err(too_large(limit));
    }
    Ok(body)
}

fn too_large(limit: usize) -> ApiError {
    ApiError::coded(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::InvalidInput,
        format!("the body is larger than {limit} bytes: send smaller pages"),
    )
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Result<Option<&str>, ApiError> {
    headers
        .get(&name)
        .map(|v| {
            v.to_str().map_err(|_| {
                ApiError::coded(StatusCode::BAD_REQUEST, ErrorCode::InvalidInput, format!("{name} is not text"))
            })
        })
        .transpose()
}

/// The first `Accept`ed type this hub produces; JSON when none is (or `Accept` is absent).
fn response_encoding(headers: &HeaderMap) -> Encoding {
    let Ok(Some(accept)) = header_str(headers, header::ACCEPT) else {
        return Encoding::Json;
    };
    accepted(accept).find_map(Encoding::from_content_type).unwrap_or(Encoding::Json)
}

/// `type/subtype` without parameters (`; q=0.9`, `; charset=utf-8`) and blanks.
fn media_type(value: &str) -> &str {
    value.split(';').next().unwrap_or_default().trim()
}

/// The items of an `Accept` or `Accept-Encoding` list, in order, without those refused with
/// `q=0`.
fn accepted(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').filter_map(|item| {
        let weight = item
            .split(';')
            .skip(1)
            .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()))
            .unwrap_or(1.0);
        (weight > 0.0).then(|| media_type(item))
    })
}

/// True when `Accept-Encoding` lists `zstd` (with a non-zero weight).
fn accepts_zstd(headers: &HeaderMap) -> bool {
    let Ok(Some(value)) = header_str(headers, header::ACCEPT_ENCODING) else {
        return false;
    };
    accepted(value).any(|coding| coding.eq_ignore_ascii_case("zstd"))
}

/// Undoes the request's `Content-Encoding`: none, `identity` or `zstd`; anything else is 415.
/// A body that decompresses past `limit` is 413, found out after at most `limit` bytes.
#[cfg_attr(not(feature = "zstd"), allow(unused_variables))]
fn decoded_body(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, ApiError> {
    match header_str(headers, header::CONTENT_ENCODING)?.map(str::trim) {
        None | Some("") | Some("identity") => Ok(body),
        #[cfg(feature = "zstd")]
        Some(c) if c.eq_ignore_ascii_case("zstd") => match statesync::decompress_within(&body, limit) {
            Ok(body) => Ok(Bytes::from(body)),
            Err(SyncError::InvalidInput(_)) => Err(too_large(limit)),
            Err(e) => Err(e.into()),
        },
        Some(other) => Err(ApiError::coded(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedFormat,
            format!(
                "unsupported Content-Encoding {other:?}: send {}",
                if cfg!(feature = "zstd") { "zstd or none" } else { "none" }
            ),
        )),
    }
}

/// True when the body is sent compressed (its decoded size is not known before decoding).
fn is_compressed(headers: &HeaderMap) -> bool {
    matches!(header_str(headers, header::CONTENT_ENCODING), Ok(Some(c)) if !matches!(c.trim(), "" | "identity"))
}

/// A page of a space's feed, of the collections the caller asked for among those it may read.
pub(crate) async fn pull(
    State(hub): HubState,
    space: SpacePath,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let space = space_of(space.as_ref().map(|Path(s)| s.as_str()))?;
    let access = hub.gate.access(&headers, &space, &hub.rules)?;
    let limit = hub.limits.max_pull_request_bytes;
    let body = decoded_body(&headers, body_bytes(body, limit)?, limit)?;
    let request = parse_pull_request(&body)?;
    // The collections' names and the limit (at least 1: docs/protocol.md) are checked as a
    // replica checks them; an answer is then cut to `max_batch`.
    SyncContext::new(request.collections.clone(), request.limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX)))?;
    let after = parse_cursor(&space, request.cursor.as_deref())?;
    let encoding = response_encoding(&headers);
    let compress = accepts_zstd(&headers);
    let limit = request.limit.map_or(hub.max_batch, |l| l.min(hub.max_batch));
    let (bytes, compressed) = blocking(move || {
        let scope = PullScope {
            after,
            readable: &access.read,
            wanted: &request.collections,
            limit,
            // Cut to what a client accepts too: one answer never holds more than max_body_bytes.
            max_bytes: hub.limits.max_body_bytes,
        };
        let page = hub.store.pull(&space, &scope).map_err(|e| hub.observe_error("pull", e))?;
        hub.observe_pull(page.states.len(), page.has_more);
        let page = ChangeSet { states: page.states, cursor: cursor_of(&space, page.next), has_more: page.has_more };
        let bytes = statesync::encode(&page, encoding);
        Ok(maybe_compress(bytes, compress))
    })
    .await?;
    let mut response = ([(header::CONTENT_TYPE, encoding.content_type())], bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("accept, accept-encoding"));
    if compressed {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("zstd"));
    }
    Ok(response)
}

/// Compresses a response body when the client accepts zstd and the body is worth it.
#[cfg(feature = "zstd")]
fn maybe_compress(bytes: Vec<u8>, accepted: bool) -> (Vec<u8>, bool) {
    if accepted && bytes.len() >= COMPRESS_FROM_BYTES {
        (statesync::compress(&bytes), true)
    } else {
        (bytes, false)
    }
}

#[cfg(not(feature = "zstd"))]
fn maybe_compress(bytes: Vec<u8>, _accepted: bool) -> (Vec<u8>, bool) {
    (bytes, false)
}

/// The pull request in `body`: its format first, then its fields, into typed values only (no
/// JSON tree is built, whatever the body holds).
fn parse_pull_request(body: &[u8]) -> Result<PullRequest, ApiError> {
    #[derive(Deserialize)]
    struct Format {
        format: Option<serde::de::IgnoredAny>,
    }
    #[derive(Deserialize)]
    struct Version {
        format: u64,
    }
    let probe: Format = serde_json::from_slice(body)
        .map_err(|e| ApiError::from(SyncError::Corrupt(format!("the pull request is not valid JSON: {e}"))))?;
    if probe.format.is_none() {
        return Err(SyncError::Corrupt("the pull request has no format field".into()).into());
    }
    match serde_json::from_slice::<Version>(body) {
        Ok(Version { format: PROTOCOL_VERSION }) => {}
        Ok(Version { format }) => {
            return Err(SyncError::UnsupportedFormat(format!(
                "pull request format {format}; this hub speaks format {PROTOCOL_VERSION}"
            ))
            .into())
        }
        Err(_) => {
            return Err(SyncError::UnsupportedFormat(format!(
                "pull request format (not a number); this hub speaks format {PROTOCOL_VERSION}"
            ))
            .into())
        }
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::from(SyncError::InvalidInput(format!("malformed pull request: {e}"))))
}

/// Applies a page to a space: each state checked against the caller's write grant, the rules
/// and the hub's limits, refused ones listed in the answer with the version the hub keeps
/// (when the caller may read it), the rest applied in one transaction.
pub(crate) async fn push(
    State(hub): HubState,
    space: SpacePath,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let space = space_of(space.as_ref().map(|Path(s)| s.as_str()))?;
    let access = hub.gate.access(&headers, &space, &hub.rules)?;
    let encoding = match header_str(&headers, header::CONTENT_TYPE)?.map(media_type) {
        None => Encoding::Json,
        Some(t) => Encoding::from_content_type(t).ok_or_else(|| {
            ApiError::coded(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedFormat,
                format!(
                    "unsupported Content-Type {t:?}: send {} or {}",
                    Encoding::Json.content_type(),
                    Encoding::Binary.content_type()
                ),
            )
        })?,
    };
    let limit = hub.limits.max_body_bytes;
    let body = body_bytes(body, limit)?;
    // Before decompressing, the decoded size is unknown: claim the most it may be.
    let claim = if is_compressed(&headers) { limit } else { body.len() };
    let permit = budget(&hub, claim).await;
    let result = blocking(move || {
        let _permit = permit;
        let body = decoded_body(&headers, body, limit)?;
        let page: ChangeSet = statesync::decode_page(&body, encoding)?;
        drop(body);
        if page.states.len() > hub.max_batch {
            return Err(ApiError::coded(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::InvalidInput,
                format!(
                    "the page holds {} states, more than this hub's max_batch of {}: send smaller pages",
                    page.states.len(),
                    hub.max_batch
                ),
            ));
        }
        let received = page.states.len();
        let check_data = |collection: &str, data: &serde_json::Value| hub.rules.check_data(collection, data);
        let policy = PushPolicy {
            writable: &access.write,
            readable: &access.read,
            quotas: hub.rules.limits(),
            check_data: &check_data,
            max_state_bytes: hub.max_state_bytes,
            max_clock_skew: hub.max_clock_skew,
            strategies: &hub.strategies,
        };
        let outcome = hub.store.push(&space, page.states, &policy).map_err(|e| hub.observe_error("push", e))?;
        let mut result = outcome.result;
        for refused in &mut result.rejections {
            if let Some(kept) = outcome.current.get(&refused.id) {
                refused.current = kept.clone();
            }
        }
        hub.observe_push(received, &result);
        Ok(result)
    })
    .await?;
    let body = statesync::http_protocol::push_answer_body(result);
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
