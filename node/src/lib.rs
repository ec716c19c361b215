//! statesync for Node.js: the native half of the `statesync` npm package (napi-rs).
//!
//! Thin by design: it converts values, maps errors and adapts the concurrency model; every
//! behaviour lives in the core crate. The public JS API is `lib/*.cjs` over these classes;
//! `index.d.ts` is its contract, shared with the browser package.

#![deny(clippy::all)]
// napi-derive registers exports only outside `cfg(test)`, so a test build sees them as unused.
#![cfg_attr(test, allow(dead_code))]

mod callbacks;
mod clock;
mod cloud;
mod errors;
mod manager;
mod replica;
mod tasks;
#[cfg(feature = "testing")]
mod testing;
mod values;
mod wire;

use napi_derive::napi;

/// The sync protocol version this build speaks.
#[napi]
pub const PROTOCOL_VERSION: u32 = statesync::PROTOCOL_VERSION as u32;

/// The wire format version this build writes.
#[napi]
pub const WIRE_FORMAT: u32 = statesync::WIRE_FORMAT as u32;

/// Every error code, in the core's order (`statesync::ErrorCode::ALL`): `lib/errors.cjs` takes
/// its list from here rather than spelling it out.
#[napi(catch_unwind)]
pub fn error_codes() -> Vec<&'static str> {
    statesync::ErrorCode::ALL.iter().map(|code| code.as_str()).collect()
}

/// The deepest nesting of data accepted.
#[napi]
pub const MAX_DATA_DEPTH: u32 = statesync::MAX_DATA_DEPTH as u32;

/// W1a of docs/performance.md run by the core itself (`statesync::bench::w1a`), for
/// `npm run bench`: `updates` calls of `update_state` in memory, round-robin over `keys` keys.
/// Returns the seconds it took.
#[napi(catch_unwind)]
pub fn rust_w1(updates: u32, keys: u32) -> errors::Result<f64> {
    statesync::bench::w1a(keys as usize, updates as usize).map(|d| d.as_secs_f64()).map_err(errors::to_js)
}
