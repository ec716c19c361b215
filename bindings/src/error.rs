//! The one place errors cross the boundary.
//!
//! * [`SyncError`]: every failure of a call into statesync. One variant per core code
//!   ([`statesync::SyncError::code`]); each carries the core's readable message (its `Display`
//!   text, with the cause chain of storage errors). A flat error: Kotlin sees
//!   `SyncException.NotFound` with `message`, Swift `SyncError.NotFound(message:)`; both
//!   idiomatic layers add the `code` property.
//! * [`CallbackError`]: what the application's own implementations (transport, resolver) throw
//!   back into Rust, carrying a code and a reason, since a flat error cannot travel that way.
//! * [`guard`], [`guard_async`] and [`guard_callback`]: every export's body runs in one of them,
//!   so that a panic (a bug) reaches the host as `INTERNAL` of the error type it already
//!   handles, never as uniffi's own `InternalException` (Kotlin) or a trap (Swift's `try!` on
//!   infallible calls). That is also why no export is infallible. A test in `lib.rs` checks
//!   that every export starts with a guard.
//!
//! Codes, the cause chain's text and their order are the core's ([`ErrorCode`],
//! `SyncError::text_with_causes`); this module only maps them onto the host's types.
//!
//! # The callback's exception as the cause: not possible through uniffi
//!
//! Python, Node and the browser make the exception an application callback (resolver,
//! transport) threw the `cause` of the error the call then raises, the very same object.
//! Kotlin and Swift keep today's behaviour instead: the error has the callback's code
//! (`RESOLVER`; a transport's [`CallbackError`] code, else `TRANSPORT`) and the callback's
//! reason in its message, and no `cause`, because uniffi (0.32) carries no foreign object
//! across either crossing:
//!
//! * into Rust, a declared [`CallbackError`] is lowered to its fields (`code`, `reason`), and
//!   any other exception to [`uniffi::UnexpectedUniFFICallbackError`], which holds only a
//!   `reason` string; the `Throwable` / Swift `Error` itself stays on the foreign side, and no
//!   handle to it reaches Rust;
//! * back out, a `#[uniffi(flat_error)]` [`SyncError`] is lifted as a fresh exception from its
//!   variant and its `Display` text: the generated code builds it, and offers no hook to set
//!   its `cause` (Kotlin) or to wrap an underlying error (Swift).
//!
//! Keeping the object would need a hand-written host layer around every generated call that
//! remembers the thrown exception per thread and attaches it while rethrowing, i.e. wrapping
//! the whole generated API (which is the public API of both packages) — not a type
//! conversion, so not done here.

use statesync::ErrorCode;

/// A statesync call failed. The variant is the stable code of docs/design.md#8-errors.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum SyncError {
    /// `NOT_FOUND`: the state or conflict does not exist (or is deleted).
    #[error("{0}")]
    NotFound(String),
    /// `ALREADY_EXISTS`: a live state with this id exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// `INVALID_STATE`: a state (remote, imported or stored) is malformed or inconsistent.
    #[error("{0}")]
    InvalidState(String),
    /// `INVALID_INPUT`: an argument is malformed (ids, collections, configuration, JSON text).
    #[error("{0}")]
    InvalidInput(String),
    /// `CONFLICT`: a conflict could not be settled (a non-commutative custom resolver).
    #[error("{0}")]
    Conflict(String),
    /// `RESOLVER`: the application's custom conflict resolver failed.
    #[error("{0}")]
    Resolver(String),
    /// `STORAGE`: the durable store failed; nothing of the call was applied.
    #[error("{0}")]
    Storage(String),
    /// `CORRUPT`: stored or imported bytes are damaged.
    #[error("{0}")]
    Corrupt(String),
    /// `UNSUPPORTED_FORMAT`: a format or schema version this build does not read.
    #[error("{0}")]
    UnsupportedFormat(String),
    /// `UNAUTHORIZED`: the sync peer refused the credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// `FORBIDDEN`: the sync peer grants the credentials no access to what was asked (a hub
    /// space the token does not reach).
    #[error("{0}")]
    Forbidden(String),
    /// `CRYPTO`: encrypted data could not be opened: a wrong or missing key, or bytes changed
    /// since they were sealed (never garbage instead).
    #[error("{0}")]
    Crypto(String),
    /// `TRANSPORT`: the sync peer could not be reached or answered outside the protocol.
    #[error("{0}")]
    Transport(String),
    /// `CLOSED`: the manager was closed.
    #[error("{0}")]
    Closed(String),
    /// `INTERNAL`: a bug in statesync (a panic inside the call). The call did nothing durable
    /// and the replica stays usable.
    #[error("{0}")]
    Internal(String),
}

impl SyncError {
    /// The stable code (`NOT_FOUND`, ...): the core's, for every variant.
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    /// The core's code of this variant (one variant per code, see `From<statesync::SyncError>`).
    pub(crate) fn error_code(&self) -> ErrorCode {
        match self {
            SyncError::NotFound(_) => ErrorCode::NotFound,
            SyncError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            SyncError::InvalidState(_) => ErrorCode::InvalidState,
            SyncError::InvalidInput(_) => ErrorCode::InvalidInput,
            SyncError::Conflict(_) => ErrorCode::Conflict,
            SyncError::Resolver(_) => ErrorCode::Resolver,
            SyncError::Storage(_) => ErrorCode::Storage,
            SyncError::Corrupt(_) => ErrorCode::Corrupt,
            SyncError::UnsupportedFormat(_) => ErrorCode::UnsupportedFormat,
            SyncError::Unauthorized(_) => ErrorCode::Unauthorized,
            SyncError::Forbidden(_) => ErrorCode::Forbidden,
            SyncError::Crypto(_) => ErrorCode::Crypto,
            SyncError::Transport(_) => ErrorCode::Transport,
            SyncError::Closed(_) => ErrorCode::Closed,
            SyncError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// An `INVALID_INPUT` error for a malformed argument.
    pub(crate) fn invalid_input(message: impl std::fmt::Display) -> SyncError {
        statesync::SyncError::InvalidInput(message.to_string()).into()
    }
}

impl From<statesync::SyncError> for SyncError {
    fn from(error: statesync::SyncError) -> Self {
        // The core's text, then the causes (SQLite, I/O) that the host cannot hold otherwise.
        let text = error.text_with_causes();
        // Exhaustive: a code the core adds does not compile here until it has its variant.
        match error.error_code() {
            ErrorCode::NotFound => SyncError::NotFound(text),
            ErrorCode::AlreadyExists => SyncError::AlreadyExists(text),
            ErrorCode::InvalidState => SyncError::InvalidState(text),
            ErrorCode::InvalidInput => SyncError::InvalidInput(text),
            ErrorCode::Conflict => SyncError::Conflict(text),
            ErrorCode::Resolver => SyncError::Resolver(text),
            ErrorCode::Storage => SyncError::Storage(text),
            ErrorCode::Corrupt => SyncError::Corrupt(text),
            ErrorCode::UnsupportedFormat => SyncError::UnsupportedFormat(text),
            ErrorCode::Unauthorized => SyncError::Unauthorized(text),
            ErrorCode::Forbidden => SyncError::Forbidden(text),
            ErrorCode::Crypto => SyncError::Crypto(text),
            ErrorCode::Transport => SyncError::Transport(text),
            ErrorCode::Closed => SyncError::Closed(text),
            ErrorCode::Internal => SyncError::Internal(text),
        }
    }
}

/// What an application-implemented transport or resolver throws back into statesync.
///
/// A transport's `code` is kept (`TRANSPORT`, `UNAUTHORIZED`, `NOT_FOUND`, ...: a
/// [`SyncError`] code; anything else becomes `TRANSPORT`); a resolver's failure is always
/// `RESOLVER`. Any other exception a callback throws becomes `TRANSPORT` (or `RESOLVER`) with
/// the exception's first line as the reason.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum CallbackError {
    /// The callback failed.
    #[error("{code}: {reason}")]
    Failed {
        /// A [`SyncError`] code (`TRANSPORT`, `UNAUTHORIZED`, ...).
        code: String,
        /// Why, for people.
        reason: String,
    },
}

impl CallbackError {
    /// The core error this callback failure stands for (transports).
    pub(crate) fn into_core(self) -> statesync::SyncError {
        let CallbackError::Failed { code, reason } = self;
        statesync::SyncError::from_code(&code, reason)
    }

    /// The reason alone (resolvers: the core wraps it as `RESOLVER`).
    pub(crate) fn into_reason(self) -> String {
        let CallbackError::Failed { code, reason } = self;
        if code.is_empty() || code == ErrorCode::Resolver.as_str() {
            reason
        } else {
            format!("{code}: {reason}")
        }
    }
}

impl From<statesync::SyncError> for CallbackError {
    /// A core error raised by a Rust-implemented transport, as its code and message, so that
    /// `CallbackError::into_core` rebuilds exactly the same error.
    fn from(error: statesync::SyncError) -> Self {
        CallbackError::Failed { code: error.code().to_owned(), reason: error.message() }
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for CallbackError {
    /// An exception the callback did not declare: `TRANSPORT` with its first line (the
    /// foreign stack trace stays out of the message).
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        let reason = error.reason.lines().next().unwrap_or_default().trim().to_owned();
        CallbackError::Failed { code: ErrorCode::Transport.as_str().into(), reason }
    }
}

/// Shorthand for results of exported calls.
pub type Result<T, E = SyncError> = std::result::Result<T, E>;

/// Runs the body of a synchronous export: a panic inside becomes [`SyncError::Internal`]
/// (through the core's [`statesync::catch_panic`], the one helper every binding uses).
pub(crate) fn guard<T>(body: impl FnOnce() -> Result<T>) -> Result<T> {
    statesync::catch_panic(|| Ok(body())).unwrap_or_else(|panic| Err(panic.into()))
}

/// Runs the body of an async export: a panic while polling it becomes [`SyncError::Internal`].
/// (The blocking core calls it awaits are guarded where they run, see `blocking`.)
pub(crate) async fn guard_async<T>(body: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let mut body = std::pin::pin!(body);
    std::future::poll_fn(move |cx| match statesync::catch_panic(|| Ok(body.as_mut().poll(cx))) {
        Ok(poll) => poll,
        Err(panic) => std::task::Poll::Ready(Err(panic.into())),
    })
    .await
}

/// Runs the body of a Rust implementation of an exported trait (the transports), which the host
/// may call too: a panic inside becomes a [`CallbackError`] with the code `INTERNAL`.
pub(crate) fn guard_callback<T>(
    body: impl FnOnce() -> std::result::Result<T, CallbackError>,
) -> std::result::Result<T, CallbackError> {
    statesync::catch_panic(|| Ok(body())).unwrap_or_else(|panic| Err(panic.into()))
}

/// Runs a blocking core call on a blocking thread of the runtime and awaits it. A panic in it
/// becomes `INTERNAL` there (the thread is the runtime's: nothing may unwind through it).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> statesync::Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(move || statesync::catch_panic(f)).await {
        Ok(result) => Ok(result?),
        Err(e) => Err(statesync::SyncError::Transport(format!("the sync task was cancelled: {e}")).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_code_keeps_its_code_and_message() {
        let errors = [
            statesync::SyncError::NotFound("x".into()),
            statesync::SyncError::AlreadyExists("x".into()),
            statesync::SyncError::InvalidState("x".into()),
            statesync::SyncError::InvalidInput("x".into()),
            statesync::SyncError::Conflict("x".into()),
            statesync::SyncError::Resolver("x".into()),
            statesync::SyncError::Storage { message: "x".into(), source: None },
            statesync::SyncError::Corrupt("x".into()),
            statesync::SyncError::UnsupportedFormat("x".into()),
            statesync::SyncError::Unauthorized("x".into()),
            statesync::SyncError::Forbidden("x".into()),
            statesync::SyncError::Crypto("x".into()),
            statesync::SyncError::Transport("x".into()),
            statesync::SyncError::Closed,
            statesync::SyncError::Internal("x".into()),
        ];
        for core in errors {
            let (code, text) = (core.code(), core.to_string());
            let ffi = SyncError::from(statesync::SyncError::from_code(code, core.message()));
            assert_eq!(ffi.code(), code);
            assert_eq!(ffi.to_string(), text);
            let back = CallbackError::from(core).into_core();
            assert_eq!((back.code(), back.to_string()), (code, text));
        }
    }

    #[test]
    fn every_error_code_has_its_variant() {
        for code in ErrorCode::ALL {
            let ffi = SyncError::from(statesync::SyncError::from_code(code.as_str(), "x"));
            assert_eq!(ffi.error_code(), code);
            assert_eq!(ffi.code(), code.as_str());
        }
    }

    #[test]
    fn storage_errors_keep_their_cause_chain() {
        let io = std::io::Error::other("disk full");
        let core = statesync::SyncError::Storage { message: "commit".into(), source: Some(Box::new(io)) };
        assert_eq!(SyncError::from(core).to_string(), "storage error: commit: disk full");
    }

    #[test]
    fn unexpected_callback_errors_keep_only_the_first_line() {
        let e = CallbackError::from(uniffi::UnexpectedUniFFICallbackError::new(
            "java.lang.IllegalStateException: boom\n\tat Foo.bar(Foo.kt:1)",
        ));
        let core = e.into_core();
        assert_eq!(core.code(), "TRANSPORT");
        assert_eq!(core.message(), "java.lang.IllegalStateException: boom");
    }

    #[test]
    fn a_panic_in_any_guard_is_internal_and_results_pass_through() {
        let e = guard::<()>(|| panic!("boom {}", 1)).unwrap_err();
        assert_eq!(e.code(), "INTERNAL");
        assert!(e.to_string().contains("boom 1"), "{e}");
        assert_eq!(guard(|| Ok(5)).unwrap(), 5);
        assert_eq!(guard::<()>(|| Err(SyncError::invalid_input("x"))).unwrap_err().code(), "INVALID_INPUT");

        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let e = runtime.block_on(guard_async::<()>(async { panic!("async boom") })).unwrap_err();
        assert_eq!((e.code(), e.to_string().contains("async boom")), ("INTERNAL", true));
        assert_eq!(runtime.block_on(guard_async(async { Ok(7) })).unwrap(), 7);

        let CallbackError::Failed { code, reason } = guard_callback::<()>(|| panic!("callback boom")).unwrap_err();
        assert_eq!((code.as_str(), reason.contains("callback boom")), ("INTERNAL", true));
        let back = guard_callback::<()>(|| panic!("again")).unwrap_err().into_core();
        assert_eq!(back.code(), "INTERNAL", "an INTERNAL callback failure stays INTERNAL in the core");
    }
}
