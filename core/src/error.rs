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
    /// A bug: a panic inside the library, caught at a binding's boundary (see [`catch_panic`]).
    /// The call did nothing durable (a transaction commits only whole), and the replica stays
    /// usable.
    #[error("internal error: {0}")]
    Internal(String),
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
            SyncError::Internal(_) => "INTERNAL",
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
            | SyncError::Transport(m)
            | SyncError::Internal(m) => m.clone(),
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
            "INTERNAL" => SyncError::Internal(message),
            _ => SyncError::Transport(format!("{code}: {message}")),
        }
    }

    /// Wraps a lower-level storage failure, keeping it as the cause.
    #[cfg(feature = "sqlite")]
    pub(crate) fn storage(message: impl Into<String>, source: impl StdError + Send + Sync + 'static) -> Self {
        SyncError::Storage { message: message.into(), source: Some(Box::new(source)) }
    }
}

/// Runs `f`, turning a panic inside it into [`SyncError::Internal`]: what every binding wraps
/// its exports in, so that no panic crosses into the host language (where it would abort the
/// process or surface as an exception outside the library's error type). A panic is a bug; the
/// message says so and carries the panic's own message.
///
/// A panic cannot leave a replica half-changed: a transaction changes the image only after its
/// commit, in one step, and `SyncManager`'s lock recovers from poisoning for that reason.
pub fn catch_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        Err(SyncError::Internal(format!("a bug in statesync: {what} (the replica is still usable)")))
    })
}

/// Shorthand used throughout the crate.
pub type Result<T, E = SyncError> = std::result::Result<T, E>;
