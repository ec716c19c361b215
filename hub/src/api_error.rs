//! The hub's error answers: a status, a typed body `{"error":{"code","message"}}`
//! (docs/protocol.md, "Errors"), and `Retry-After` on a 503.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use statesync::http_protocol::{status_for, ErrorBody};
use statesync::{ErrorCode, SyncError};

/// An error answer: status, a typed body `{"error":{"code","message"}}`, and for 503 a
/// `Retry-After` header.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
}

impl ApiError {
    /// An answer with any code: the hub's own ones (`FORBIDDEN`, `TIMEOUT`, `REJECTED`) too.
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError { status, code: code.to_owned(), message: message.into() }
    }

    /// An answer with a core error code, for failures the hub finds itself (a body too large,
    /// an unknown `Content-Type`), whose status the protocol sets per case (413, 405, ...).
    pub(crate) fn coded(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::new(status, code.as_str(), message)
    }

    /// The same code and message under another status (a failed readiness check is 503 whatever
    /// the error).
    pub(crate) fn with_status(self, status: StatusCode) -> ApiError {
        ApiError { status, ..self }
    }
}

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> ApiError {
        // The status of the protocol's table (statesync::http_protocol::status_for), and the
        // bare message: the client rebuilds the error from code and message, and its `Display`
        // adds the variant's prefix ("invalid input: ...") again.
        let status = StatusCode::from_u16(status_for(e.error_code())).expect("the table holds valid statuses");
        ApiError::new(status, e.code(), e.message())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody::new(self.code, self.message).to_bytes();
        let mut response = (self.status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
