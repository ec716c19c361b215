//! # statesync-hub
//!
//! A sync hub: one [`SyncManager`] (normally on SQLite) that serves the HTTP sync protocol of
//! `docs/protocol.md` to many clients. Clients run ordinary sync rounds against it
//! ([`SyncManager::sync_via`] with `statesync::HttpTransport`, or any implementation of the
//! protocol); the hub answers pulls from its changes feed and applies pushes with `reconcile`.
//!
//! Every call into the manager runs on tokio's blocking pool, so a slow disk never stalls the
//! async workers that parse and answer requests.
//!
//! Mount the hub in your own axum server in a few lines:
//!
//! ```no_run
//! use statesync::{ManagerConfig, SyncManager};
//! use statesync_hub::Hub;
//! use std::sync::Arc;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = Arc::new(SyncManager::open(ManagerConfig::sqlite("hub.db").node_id("hub"))?);
//! let hub = Hub::new(manager).authorize(statesync_hub::bearer_token("secret"));
//! let app = axum::Router::new().nest("/sync", hub.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7878").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use serde::{Deserialize, Serialize};
use statesync::{
    ChangeSet, Encoding, SyncCapabilities, SyncContext, SyncError, SyncManager, MAX_MESSAGE_BYTES, PROTOCOL_VERSION,
};
use std::future::Future;
use std::sync::Arc;

/// Largest page the hub serves when a client asks for more (or for no limit).
pub const DEFAULT_MAX_BATCH: usize = 1_000;

/// Responses at least this large are compressed when the client accepts zstd.
#[cfg(feature = "zstd")]
const COMPRESS_FROM_BYTES: usize = 1_024;

/// The application's authorization hook: it sees every request's headers before anything else
/// happens, and either lets the request through or refuses it with a status and a message.
pub type AuthorizeFn = dyn Fn(&HeaderMap) -> Result<(), (StatusCode, String)> + Send + Sync;

/// A sync hub: a [`SyncManager`] served over HTTP. Build it, then take its [`Hub::router`] or
/// run it with [`Hub::serve`].
#[derive(Clone)]
pub struct Hub {
    manager: Arc<SyncManager>,
    authorize: Option<Arc<AuthorizeFn>>,
    max_batch: usize,
    body_limit: usize,
}

impl Hub {
    /// A hub serving `manager`, open to every client until [`Hub::authorize`] says otherwise.
    pub fn new(manager: Arc<SyncManager>) -> Hub {
        Hub { manager, authorize: None, max_batch: DEFAULT_MAX_BATCH, body_limit: MAX_MESSAGE_BYTES }
    }

    /// Installs the authorization hook, called with the headers of every request (the client
    /// sends its configured headers, such as `Authorization`, on each one). An `Err((status,
    /// message))` answers the request with that status and a typed error body; see
    /// [`bearer_token`] for the usual check.
    pub fn authorize(
        mut self,
        hook: impl Fn(&HeaderMap) -> Result<(), (StatusCode, String)> + Send + Sync + 'static,
    ) -> Hub {
        self.authorize = Some(Arc::new(hook));
        self
    }

    /// Sets the largest page served or accepted (advertised as `max_batch`; at least 1).
    pub fn max_batch(mut self, max_batch: usize) -> Hub {
        self.max_batch = max_batch.max(1);
        self
    }

    /// Sets the largest request body accepted, compressed or not (default and most
    /// [`MAX_MESSAGE_BYTES`]); a larger one is answered `413`.
    pub fn body_limit(mut self, bytes: usize) -> Hub {
        self.body_limit = bytes.min(MAX_MESSAGE_BYTES);
        self
    }

    /// The replica this hub serves.
    pub fn manager(&self) -> &Arc<SyncManager> {
        &self.manager
    }

    /// What the hub advertises at `GET /v1/capabilities`.
    pub fn capabilities(&self) -> statesync::Result<SyncCapabilities> {
        Ok(SyncCapabilities {
            protocol: PROTOCOL_VERSION,
            node_id: self.manager.node_id()?,
            scoped_sync: true,
            binary: true,
            zstd: cfg!(feature = "zstd"),
            max_batch: Some(self.max_batch),
            max_body_bytes: Some(self.body_limit),
        })
    }

    /// The protocol's routes (`/v1/capabilities`, `/v1/pull`, `/v1/push`) as an axum router,
    /// with the authorization hook and the body limit applied. Nest it under any prefix.
    pub fn router(self) -> Router {
        let body_limit = self.body_limit;
        let state = Arc::new(self);
        Router::new()
            .route("/v1/capabilities", get(capabilities))
            .route("/v1/pull", post(pull))
            .route("/v1/push", post(push))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(axum::middleware::from_fn_with_state(state.clone(), authorize))
            .layer(DefaultBodyLimit::max(body_limit))
            .with_state(state)
    }

    /// Serves the protocol on `listener` until the process ends or the server fails.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener.tap_io(no_delay), self.router()).await
    }

    /// Serves the protocol on `listener` until `shutdown` completes, then finishes the requests
    /// in flight and returns.
    pub async fn serve_with_shutdown(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener.tap_io(no_delay), self.router()).with_graceful_shutdown(shutdown).await
    }
}

/// Answers go out at once: a round is a few small request/answer exchanges, which Nagle's
/// algorithm would hold back.
fn no_delay(stream: &mut tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
}

/// An authorization hook that admits only requests carrying `Authorization: Bearer <token>`:
/// a missing or different token is answered with 401 `UNAUTHORIZED`.
pub fn bearer_token(
    token: impl Into<String>,
) -> impl Fn(&HeaderMap) -> Result<(), (StatusCode, String)> + Send + Sync + 'static {
    let expected = format!("Bearer {}", token.into()).into_bytes();
    move |headers: &HeaderMap| {
        let given = headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes).unwrap_or_default();
        if constant_time_eq(given, &expected) {
            Ok(())
        } else {
            Err((StatusCode::UNAUTHORIZED, "a valid bearer token is required".to_owned()))
        }
    }
}

/// Compares without stopping at the first difference, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ---- errors -------------------------------------------------------------------------------

/// An error answer: status, a typed body `{"error":{"code","message"}}`, and for 503 a
/// `Retry-After` header.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError { status, code: code.to_owned(), message: message.into() }
    }
}

/// The HTTP status of each error code (docs/protocol.md, "Errors").
fn status_of(code: &str) -> StatusCode {
    match code {
        "INVALID_INPUT" | "INVALID_STATE" | "CORRUPT" | "ALREADY_EXISTS" => StatusCode::BAD_REQUEST,
        "NOT_FOUND" => StatusCode::NOT_FOUND,
        "UNSUPPORTED_FORMAT" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "CLOSED" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> ApiError {
        let code = e.code();
        // The bare message: the client rebuilds the error from code and message, and its
        // `Display` adds the variant's prefix ("invalid input: ...") again.
        let message = e.message();
        ApiError::new(status_of(code), code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&ErrorBody { error: ErrorDetail { code: &self.code, message: &self.message } })
            .expect("strings always serialise");
        let mut response = (self.status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// Runs a manager call on the blocking pool. A panic in it is a 500 `INTERNAL`.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", format!("the hub failed: {e}")))
    })
}

// ---- handlers -----------------------------------------------------------------------------

type HubState = State<Arc<Hub>>;

async fn authorize(State(hub): HubState, request: Request, next: Next) -> Response {
    if let Some(hook) = &hub.authorize {
        if let Err((status, message)) = hook(request.headers()) {
            let code = match status {
                StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
                StatusCode::FORBIDDEN => "FORBIDDEN",
                _ => "REJECTED",
            };
            return ApiError::new(status, code, message).into_response();
        }
    }
    next.run(request).await
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint (see docs/protocol.md)")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "INVALID_INPUT", "method not allowed on this endpoint")
}

async fn capabilities(State(hub): HubState) -> Result<Response, ApiError> {
    let capabilities = blocking(move || hub.capabilities().map_err(ApiError::from)).await?;
    let body = serde_json::to_vec(&capabilities).expect("capabilities always serialise");
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The body of `POST /v1/pull`.
/// Its `format` is checked before it is parsed; unknown fields are ignored.
#[derive(Deserialize)]
struct PullRequest {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    collections: Vec<String>,
    #[serde(default)]
    limit: Option<usize>,
}

/// The body bytes, or the typed answer to a body that could not be read: 413 past the limit.
fn body_bytes(hub: &Hub, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(hub)
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "CORRUPT", format!("the body could not be read: {rejection}"))
        }
    })
}

fn too_large(hub: &Hub) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "INVALID_INPUT",
        format!("the body is larger than {} bytes: send smaller pages", hub.body_limit),
    )
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Result<Option<&str>, ApiError> {
    headers
        .get(&name)
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "INVALID_INPUT", format!("{name} is not text")))
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
/// A body that decompresses past the limit is 413.
#[cfg_attr(not(feature = "zstd"), allow(unused_variables))]
fn decoded_body(hub: &Hub, headers: &HeaderMap, body: Bytes) -> Result<Bytes, ApiError> {
    match header_str(headers, header::CONTENT_ENCODING)?.map(str::trim) {
        None | Some("") | Some("identity") => Ok(body),
        #[cfg(feature = "zstd")]
        Some(c) if c.eq_ignore_ascii_case("zstd") => {
            let body = statesync::decompress(&body)?;
            if body.len() > hub.body_limit {
                return Err(too_large(hub));
            }
            Ok(Bytes::from(body))
        }
        Some(other) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_FORMAT",
            format!(
                "unsupported Content-Encoding {other:?}: send {}",
                if cfg!(feature = "zstd") { "zstd or none" } else { "none" }
            ),
        )),
    }
}

async fn pull(
    State(hub): HubState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = decoded_body(&hub, &headers, body_bytes(&hub, body)?)?;
    let request: PullRequest = parse_pull_request(&body)?;
    let encoding = response_encoding(&headers);
    let compress = accepts_zstd(&headers);
    let limit = request.limit.map_or(hub.max_batch, |l| l.min(hub.max_batch));
    let context = SyncContext { collections: request.collections, limit: Some(limit) };
    let (bytes, compressed) = blocking(move || {
        let page = hub.manager.changes_since(request.cursor.as_deref(), &context)?;
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

fn parse_pull_request(body: &[u8]) -> Result<PullRequest, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::from(SyncError::Corrupt(format!("the pull request is not valid JSON: {e}"))))?;
    match value.get("format").map(serde_json::Value::as_u64) {
        None => return Err(SyncError::Corrupt("the pull request has no format field".into()).into()),
        Some(Some(PROTOCOL_VERSION)) => {}
        Some(other) => {
            return Err(SyncError::UnsupportedFormat(format!(
                "pull request format {}; this hub speaks format {PROTOCOL_VERSION}",
                other.map_or_else(|| "(not a number)".to_owned(), |v| v.to_string())
            ))
            .into())
        }
    }
    let request: PullRequest = serde_json::from_value(value)
        .map_err(|e| ApiError::from(SyncError::InvalidInput(format!("malformed pull request: {e}"))))?;
    Ok(request)
}

async fn push(
    State(hub): HubState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let encoding = match header_str(&headers, header::CONTENT_TYPE)?.map(media_type) {
        None => Encoding::Json,
        Some(t) => Encoding::from_content_type(t).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_FORMAT",
                format!(
                    "unsupported Content-Type {t:?}: send {} or {}",
                    Encoding::Json.content_type(),
                    Encoding::Binary.content_type()
                ),
            )
        })?,
    };
    let body = body_bytes(&hub, body)?;
    let result = blocking(move || {
        let body = decoded_body(&hub, &headers, body)?;
        let page: ChangeSet = statesync::decode_page(&body, encoding)?;
        Ok(hub.manager.reconcile(page.states)?)
    })
    .await?;
    let body = statesync::http_protocol::push_answer_body(result);
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The README's examples, compiled as doctests so the README stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The examples of `docs/protocol.md` (the minimal server), compiled as doctests.
#[doc = include_str!("../../docs/protocol.md")]
#[cfg(doctest)]
pub struct ProtocolDoctests;
