//! The one place errors cross the boundary, both ways.
//!
//! A core error becomes a JS error whose message is `"[CODE] message"`; `lib/errors.cjs` turns
//! every such error into a `SyncError` with `code`, so the native module never needs a class of
//! its own. An error thrown by an application callback (resolver, transport) comes back the same
//! way: the JS adapter rethrows a `SyncError` as `"[CODE] message"` and keeps the original as the
//! cause of what the call finally throws.
//!
//! No panic crosses into JS: every `#[napi]` function has napi's `catch_unwind` (which also covers
//! the conversion of its arguments and result: the panic becomes a JS error without a code, which
//! `lib/errors.cjs` makes `INTERNAL`), and every call into a replica goes through
//! [`statesync::catch_panic`] ([`guarded`]), which makes the core's panic `INTERNAL` with the
//! core's own words. Work on libuv's thread pool is not covered by napi at all (a panic there
//! would abort the process), so the tasks of `crate::tasks` call the core through [`guarded`] too.

use napi::{Error, Status};
use statesync::SyncError;
use std::error::Error as _;

/// The JS error of a core error. The source chain (SQLite, I/O) goes into the message: JS
/// cannot hold a Rust error.
pub(crate) fn to_js(error: SyncError) -> Error {
    let mut message = error.message();
    let mut source = error.source();
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    Error::new(Status::GenericFailure, format!("[{}] {message}", error.code()))
}

/// An `INVALID_INPUT` JS error for a bad argument.
pub(crate) fn invalid_input(message: impl Into<String>) -> Error {
    to_js(SyncError::InvalidInput(message.into()))
}

/// Runs a call into the core: its result, its error as a JS error, and a panic inside it as the
/// `INTERNAL` error of [`statesync::catch_panic`] (the replica stays usable: a transaction
/// commits whole or not at all).
pub(crate) fn guarded<T>(f: impl FnOnce() -> statesync::Result<T>) -> napi::Result<T> {
    statesync::catch_panic(f).map_err(to_js)
}

/// Maps a core result to a napi result.
pub(crate) trait OrThrow<T> {
    /// The value, or the JS error of the core error.
    fn or_throw(self) -> napi::Result<T>;
}

impl<T> OrThrow<T> for statesync::Result<T> {
    fn or_throw(self) -> napi::Result<T> {
        self.map_err(to_js)
    }
}

/// The core error for an error a JS callback threw: `"[CODE] message"` keeps its code, anything
/// else becomes `others` with the error's text.
pub(crate) fn from_js(error: &Error, others: fn(String) -> SyncError) -> SyncError {
    let reason = error.reason.as_str();
    if let Some(rest) = reason.strip_prefix('[') {
        if let Some((code, message)) = rest.split_once("] ") {
            if !code.is_empty() && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
                return SyncError::from_code(code, message.to_string());
            }
        }
    }
    others(reason.to_string())
}
