//! The one place errors cross the boundary, both ways.
//!
//! A core error becomes a JS `Error` whose `code` property is the core's code
//! ([`statesync::SyncError::code`]) and whose `message` is the core's message: napi-rs creates
//! the error with the status type's text as its `code` ([`Code`] is that type), so the error is
//! typed as it crosses and `lib/errors.cjs` only rewraps it as a `SyncError`. Calls that resolve
//! a Promise (the tasks of `crate::tasks`) make the same object on the JS thread
//! ([`js_error`]). An error thrown by an application callback (resolver, transport) comes back
//! as a code and a message in the adapter's typed reply (`crate::callbacks`); the JS adapter
//! keeps the thrown value, which becomes the cause of what the call finally throws.
//!
//! No panic crosses into JS: every `#[napi]` function has napi's `catch_unwind` (which also covers
//! the conversion of its arguments and result: the panic becomes a JS error with napi's own code,
//! which `lib/errors.cjs` makes `INTERNAL`), and every call into a replica goes through
//! [`statesync::catch_panic`] ([`guarded`]), which makes the core's panic `INTERNAL` with the
//! core's own words. Work on libuv's thread pool is not covered by napi at all (a panic there
//! would abort the process), so the tasks of `crate::tasks` call the core through
//! `statesync::catch_panic` too.

use napi::bindgen_prelude::{Env, JsError, Unknown};
use statesync::{ErrorCode, SyncError};

/// The `code` of the JS errors this module throws: a core error code (`NOT_FOUND`, ...), or a
/// status of napi-rs itself (`InvalidArg`, ...) for a failure of napi's own machinery.
#[derive(Debug, Clone)]
pub struct Code(std::borrow::Cow<'static, str>);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A JS error with a [`Code`].
pub(crate) type Error = napi::Error<Code>;

/// The result of an export: its error is thrown as a JS error carrying `code`.
pub(crate) type Result<T> = napi::Result<T, Code>;

/// The JS error of a core error. The source chain (SQLite, I/O) goes into the message
/// (`SyncError::message_with_causes`): JS cannot hold a Rust error.
pub(crate) fn to_js(error: SyncError) -> Error {
    Error::new(Code(error.code().into()), error.message_with_causes())
}

/// The typed error for a failure of napi-rs itself (a value of the wrong type, a function that
/// could not be called): its status stays the `code` (`lib/errors.cjs` makes a wrong argument
/// `INVALID_INPUT`, anything else `INTERNAL`).
pub(crate) fn from_napi(error: napi::Error) -> Error {
    Error::new(Code(error.status.as_ref().to_owned().into()), error.reason.clone())
}

/// The JS error object for a core error, made on the JS thread: what a task's Promise rejects
/// with (napi-rs rejects with a referenced JS error as it is, `code` included).
pub(crate) fn js_error(env: &Env, error: SyncError) -> napi::Error {
    let unknown: Unknown<'_> = JsError::from(to_js(error)).into_unknown(*env);
    napi::Error::from(unknown)
}

/// An `INVALID_INPUT` JS error for a bad argument.
pub(crate) fn invalid_input(message: impl Into<String>) -> Error {
    to_js(SyncError::InvalidInput(message.into()))
}

/// Runs a call into the core: its result, its error as a JS error, and a panic inside it as the
/// `INTERNAL` error of [`statesync::catch_panic`] (the replica stays usable: a transaction
/// commits whole or not at all).
pub(crate) fn guarded<T>(f: impl FnOnce() -> statesync::Result<T>) -> Result<T> {
    statesync::catch_panic(f).map_err(to_js)
}

/// Maps a core result to a napi result.
pub(crate) trait OrThrow<T> {
    /// The value, or the JS error of the core error.
    fn or_throw(self) -> Result<T>;
}

impl<T> OrThrow<T> for statesync::Result<T> {
    fn or_throw(self) -> Result<T> {
        self.map_err(to_js)
    }
}

/// Maps a result of napi-rs's own calls to a typed result.
pub(crate) trait OrNapi<T> {
    /// The value, or the typed error of napi's failure ([`from_napi`]).
    fn or_napi(self) -> Result<T>;
}

impl<T> OrNapi<T> for napi::Result<T> {
    fn or_napi(self) -> Result<T> {
        self.map_err(from_napi)
    }
}

/// The core error for what a JS callback's adapter answered: `code` (the code of the `SyncError`
/// the callback threw, or the one the adapter gives to any other exception) and `message`;
/// without a code the core knows, `others`.
pub(crate) fn from_callback(code: Option<&str>, message: String, others: fn(String) -> SyncError) -> SyncError {
    match code.and_then(ErrorCode::parse) {
        Some(code) => SyncError::from_code(code.as_str(), message),
        None => others(message),
    }
}
