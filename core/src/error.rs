//! The one error type of the core. Every binding maps it to one host-language error type whose
//! `code` is [`SyncError::code`].

use std::error::Error as StdError;

/// Every way a statesync call can fail. Each variant has a stable code (see [`SyncError::code`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The state or conflict named does not exist (or is deleted).
    #[error("not found: {0}")]
    NotFound(String),
    /// A live state with this id already exists.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// A state (remote, imported or stored) is malformed or inconsistent.
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// An argument of a call is malformed (ids, collection names, configuration).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A conflict could not be settled, e.g. a custom resolver that is not commutative.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The application's custom conflict resolver failed.
    #[error("resolver failed: {0}")]
    Resolver(String),
    /// The durable store failed (I/O, locking, full disk). Nothing of the failed call was applied.
    #[error("storage error: {message}")]
    Storage {
        /// What the store was doing when it failed.
        message: String,
        /// The underlying error, kept for the cause chain.
        #[source]
        source: Option<Box<dyn StdError + Send + Sync>>,
    },
    /// Stored or imported bytes are damaged: not a database, truncated or unparsable snapshot.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// A snapshot format or database schema version this build does not understand.
    #[error("unsupported format: {0}")]
    UnsupportedFormat(String),
    /// A sync peer refused this replica's credentials (HTTP 401/403). Retrying does not help
    /// until the application provides other credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A sync peer could not be reached or answered outside the protocol (network down,
    /// timeout, unexpected HTTP status). Retrying later is the remedy; nothing was lost.
    #[error("transport error: {0}")]
    Transport(String),
    /// The manager was closed; no further calls are accepted.
    #[error("the sync manager is closed")]
    Closed,
}

impl SyncError {
    /// The stable, language-independent code of this error (`NOT_FOUND`, `INVALID_STATE`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::NotFound(_) => "NOT_FOUND",
            SyncError::AlreadyExists(_) => "ALREADY_EXISTS",
            SyncError::InvalidState(_) => "INVALID_STATE",
            SyncError::InvalidInput(_) => "INVALID_INPUT",
            SyncError::Conflict(_) => "CONFLICT",
            SyncError::Resolver(_) => "RESOLVER",
            SyncError::Storage { .. } => "STORAGE",
            SyncError::Corrupt(_) => "CORRUPT",
            SyncError::UnsupportedFormat(_) => "UNSUPPORTED_FORMAT",
            SyncError::Unauthorized(_) => "UNAUTHORIZED",
            SyncError::Transport(_) => "TRANSPORT",
            SyncError::Closed => "CLOSED",
        }
    }

    /// The message without the variant's prefix: what [`SyncError::from_code`] takes back, so
    /// an error sent over the wire as code + message is rebuilt with the same `Display`.
    pub fn message(&self) -> String {
        match self {
            SyncError::NotFound(m)
            | SyncError::AlreadyExists(m)
            | SyncError::InvalidState(m)
            | SyncError::InvalidInput(m)
            | SyncError::Conflict(m)
            | SyncError::Resolver(m)
            | SyncError::Corrupt(m)
            | SyncError::UnsupportedFormat(m)
            | SyncError::Unauthorized(m)
            | SyncError::Transport(m) => m.clone(),
            SyncError::Storage { message, .. } => message.clone(),
            SyncError::Closed => self.to_string(),
        }
    }

    /// Rebuilds an error from its code and message, as a peer reports it over the wire (the
    /// HTTP protocol's error body). An unknown code becomes `Transport`.
    pub fn from_code(code: &str, message: impl Into<String>) -> SyncError {
        let message = message.into();
        match code {
            "NOT_FOUND" => SyncError::NotFound(message),
            "ALREADY_EXISTS" => SyncError::AlreadyExists(message),
            "INVALID_STATE" => SyncError::InvalidState(message),
            "INVALID_INPUT" => SyncError::InvalidInput(message),
            "CONFLICT" => SyncError::Conflict(message),
            "RESOLVER" => SyncError::Resolver(message),
            "STORAGE" => SyncError::Storage { message, source: None },
            "CORRUPT" => SyncError::Corrupt(message),
            "UNSUPPORTED_FORMAT" => SyncError::UnsupportedFormat(message),
            "CLOSED" => SyncError::Closed,
            "UNAUTHORIZED" | "FORBIDDEN" => SyncError::Unauthorized(message),
            "TRANSPORT" => SyncError::Transport(message),
            _ => SyncError::Transport(format!("{code}: {message}")),
        }
    }

    /// Wraps a lower-level storage failure, keeping it as the cause.
    #[cfg(feature = "sqlite")]
    pub(crate) fn storage(message: impl Into<String>, source: impl StdError + Send + Sync + 'static) -> Self {
        SyncError::Storage { message: message.into(), source: Some(Box::new(source)) }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = SyncError> = std::result::Result<T, E>;
