//! The one error type of the core. Every binding maps it to one host-language error type whose
//! `code` is [`SyncError::code`].

use std::error::Error as StdError;
use std::fmt;

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
    /// A sync peer refused this replica's credentials (HTTP 401): missing, malformed, expired or
    /// wrongly signed. Retrying does not help until the application provides other credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A sync peer accepted the credentials but grants them no access to what was asked (HTTP
    /// 403: a hub space the token does not reach). Other credentials, or another space, help;
    /// retrying does not.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Encrypted bytes could not be decrypted: the key is not the one they were sealed with, or
    /// they were changed since (a flipped bit, a swapped or truncated object). Never garbage:
    /// nothing is returned or applied from them. Another key helps; retrying does not.
    #[error("crypto error: {0}")]
    Crypto(String),
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

/// The stable, language-independent code of a [`SyncError`]: one per variant, the same in every
/// binding and on the wire (`{"error":{"code":"NOT_FOUND",...}}`). Hosts that need a literal
/// list of the codes take it from [`ErrorCode::ALL`] (`cargo run -p statesync --example
/// error_codes` prints it); `core/tests/error_codes.rs` checks that every such list in the
/// repository matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `NOT_FOUND`: see [`SyncError::NotFound`].
    NotFound,
    /// `ALREADY_EXISTS`: see [`SyncError::AlreadyExists`].
    AlreadyExists,
    /// `INVALID_STATE`: see [`SyncError::InvalidState`].
    InvalidState,
    /// `INVALID_INPUT`: see [`SyncError::InvalidInput`].
    InvalidInput,
    /// `CONFLICT`: see [`SyncError::Conflict`].
    Conflict,
    /// `RESOLVER`: see [`SyncError::Resolver`].
    Resolver,
    /// `STORAGE`: see [`SyncError::Storage`].
    Storage,
    /// `CORRUPT`: see [`SyncError::Corrupt`].
    Corrupt,
    /// `UNSUPPORTED_FORMAT`: see [`SyncError::UnsupportedFormat`].
    UnsupportedFormat,
    /// `UNAUTHORIZED`: see [`SyncError::Unauthorized`].
    Unauthorized,
    /// `FORBIDDEN`: see [`SyncError::Forbidden`].
    Forbidden,
    /// `CRYPTO`: see [`SyncError::Crypto`].
    Crypto,
    /// `TRANSPORT`: see [`SyncError::Transport`].
    Transport,
    /// `CLOSED`: see [`SyncError::Closed`].
    Closed,
    /// `INTERNAL`: see [`SyncError::Internal`].
    Internal,
}

impl ErrorCode {
    /// Every code, in the order of [`SyncError`]'s variants: the order of every host's list.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::NotFound,
        ErrorCode::AlreadyExists,
        ErrorCode::InvalidState,
        ErrorCode::InvalidInput,
        ErrorCode::Conflict,
        ErrorCode::Resolver,
        ErrorCode::Storage,
        ErrorCode::Corrupt,
        ErrorCode::UnsupportedFormat,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::Crypto,
        ErrorCode::Transport,
        ErrorCode::Closed,
        ErrorCode::Internal,
    ];

    /// The code as every binding and the wire spell it (`"NOT_FOUND"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::AlreadyExists => "ALREADY_EXISTS",
            ErrorCode::InvalidState => "INVALID_STATE",
            ErrorCode::InvalidInput => "INVALID_INPUT",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::Resolver => "RESOLVER",
            ErrorCode::Storage => "STORAGE",
            ErrorCode::Corrupt => "CORRUPT",
            ErrorCode::UnsupportedFormat => "UNSUPPORTED_FORMAT",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::Crypto => "CRYPTO",
            ErrorCode::Transport => "TRANSPORT",
            ErrorCode::Closed => "CLOSED",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// The code spelled `code` ([`ErrorCode::as_str`]'s spelling exactly, no aliases); `None`
    /// for any other text. Aliases a peer may send (`FORBIDDEN`) are [`SyncError::from_code`]'s.
    pub fn parse(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The messages of `error`'s causes (`error.source()`, then its source, ...), in order, without
/// `error`'s own message: what a host that cannot hold a Rust error chain appends to its text
/// (a SQLite or I/O failure under a `STORAGE` error).
pub fn error_causes(error: &(dyn StdError + 'static)) -> Vec<String> {
    let mut causes = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    causes
}

impl SyncError {
    /// The stable code of this error; see [`ErrorCode`].
    pub fn error_code(&self) -> ErrorCode {
        match self {
            SyncError::NotFound(_) => ErrorCode::NotFound,
            SyncError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            SyncError::InvalidState(_) => ErrorCode::InvalidState,
            SyncError::InvalidInput(_) => ErrorCode::InvalidInput,
            SyncError::Conflict(_) => ErrorCode::Conflict,
            SyncError::Resolver(_) => ErrorCode::Resolver,
            SyncError::Storage { .. } => ErrorCode::Storage,
            SyncError::Corrupt(_) => ErrorCode::Corrupt,
            SyncError::UnsupportedFormat(_) => ErrorCode::UnsupportedFormat,
            SyncError::Unauthorized(_) => ErrorCode::Unauthorized,
            SyncError::Forbidden(_) => ErrorCode::Forbidden,
            SyncError::Crypto(_) => ErrorCode::Crypto,
            SyncError::Transport(_) => ErrorCode::Transport,
            SyncError::Closed => ErrorCode::Closed,
            SyncError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The stable, language-independent code of this error (`NOT_FOUND`, `INVALID_STATE`, ...):
    /// `self.error_code().as_str()`.
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    /// The messages of this error's causes, in order (see [`error_causes`]); empty for every
    /// variant but a `Storage` error that keeps its underlying failure.
    pub fn causes(&self) -> Vec<String> {
        error_causes(self)
    }

    /// `Display` followed by `": cause"` for each cause: the whole text for a host error that
    /// cannot keep the Rust cause chain (`storage error: commit: disk full`).
    pub fn text_with_causes(&self) -> String {
        with_causes(self.to_string(), self.causes())
    }

    /// [`SyncError::message`] followed by `": cause"` for each cause: the bare message of a host
    /// error that carries its code separately.
    pub fn message_with_causes(&self) -> String {
        with_causes(self.message(), self.causes())
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
            | SyncError::Forbidden(m)
            | SyncError::Crypto(m)
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
        let code = match ErrorCode::parse(code) {
            Some(code) => code,
            None => return SyncError::Transport(format!("{code}: {message}")),
        };
        match code {
            ErrorCode::NotFound => SyncError::NotFound(message),
            ErrorCode::AlreadyExists => SyncError::AlreadyExists(message),
            ErrorCode::InvalidState => SyncError::InvalidState(message),
            ErrorCode::InvalidInput => SyncError::InvalidInput(message),
            ErrorCode::Conflict => SyncError::Conflict(message),
            ErrorCode::Resolver => SyncError::Resolver(message),
            ErrorCode::Storage => SyncError::Storage { message, source: None },
            ErrorCode::Corrupt => SyncError::Corrupt(message),
            ErrorCode::UnsupportedFormat => SyncError::UnsupportedFormat(message),
            ErrorCode::Unauthorized => SyncError::Unauthorized(message),
            ErrorCode::Forbidden => SyncError::Forbidden(message),
            ErrorCode::Crypto => SyncError::Crypto(message),
            ErrorCode::Transport => SyncError::Transport(message),
            ErrorCode::Closed => SyncError::Closed,
            ErrorCode::Internal => SyncError::Internal(message),
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

/// `text` followed by `": cause"` for each of `causes`.
fn with_causes(mut text: String, causes: Vec<String>) -> String {
    for cause in causes {
        text.push_str(": ");
        text.push_str(&cause);
    }
    text
}

/// Shorthand used throughout the crate.
pub type Result<T, E = SyncError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of each code, with a message where the variant has one.
    fn one_of_each() -> Vec<SyncError> {
        ErrorCode::ALL.iter().map(|c| SyncError::from_code(c.as_str(), "m")).collect()
    }

    #[test]
    fn every_code_is_spelled_once_and_parses_back() {
        let names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "NOT_FOUND",
                "ALREADY_EXISTS",
                "INVALID_STATE",
                "INVALID_INPUT",
                "CONFLICT",
                "RESOLVER",
                "STORAGE",
                "CORRUPT",
                "UNSUPPORTED_FORMAT",
                "UNAUTHORIZED",
                "FORBIDDEN",
                "CRYPTO",
                "TRANSPORT",
                "CLOSED",
                "INTERNAL"
            ]
        );
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            assert_eq!(code.to_string(), code.as_str());
        }
        assert_eq!(ErrorCode::parse("forbidden"), None);
        assert_eq!(ErrorCode::parse("not_found"), None);
        assert_eq!(ErrorCode::parse(""), None);
    }

    #[test]
    fn each_variant_has_its_own_code_and_from_code_rebuilds_it() {
        let errors = one_of_each();
        for (error, code) in errors.iter().zip(ErrorCode::ALL) {
            assert_eq!(error.error_code(), code);
            assert_eq!(error.code(), code.as_str());
        }
        assert_eq!(SyncError::from_code("NOT_FOUND", "x").to_string(), "not found: x");
        assert_eq!(SyncError::from_code("CLOSED", "ignored").to_string(), "the sync manager is closed");
        let forbidden = SyncError::from_code("FORBIDDEN", "no");
        assert_eq!((forbidden.code(), forbidden.to_string().as_str()), ("FORBIDDEN", "forbidden: no"));
        let unknown = SyncError::from_code("TIMEOUT", "slow");
        assert_eq!((unknown.code(), unknown.message().as_str()), ("TRANSPORT", "TIMEOUT: slow"));
    }

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Layer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn StdError + 'static))
        }
    }

    #[test]
    fn causes_are_the_source_chain_without_the_error_itself() {
        let io = Layer("disk full", Some(Box::new(Layer("device gone", None))));
        let error = SyncError::Storage { message: "commit".into(), source: Some(Box::new(io)) };
        assert_eq!(error.causes(), ["disk full", "device gone"]);
        assert_eq!(error_causes(&error), ["disk full", "device gone"]);
        assert_eq!(error.text_with_causes(), "storage error: commit: disk full: device gone");
        assert_eq!(error.message_with_causes(), "commit: disk full: device gone");
        let plain = SyncError::NotFound("s".into());
        assert!(plain.causes().is_empty());
        assert_eq!((plain.text_with_causes().as_str(), plain.message_with_causes().as_str()), ("not found: s", "s"));
        assert!(one_of_each().iter().all(|e| e.causes().is_empty()));
    }
}
