//! `statesync-wasm`: the browser binding of statesync. The core runs in WebAssembly without
//! SQLite and without a tokio runtime; this crate only converts values (JSON text across the
//! boundary), maps errors to the one JS `SyncError` (see [`error`]), injects `Date.now()` as the
//! wall clock and exposes the sans-IO sync round that the TypeScript layer drives with `fetch`.
//! Persistence (IndexedDB), tabs (BroadcastChannel), events and timers live in `wasm/ts/`.

#![warn(missing_docs)]

#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
mod alloc;
mod clock;
mod error;
mod events;
mod http;
mod journal;
mod manager;
mod round;
mod strategy;
mod values;
pub mod wire;

pub use clock::ManualClock;
pub use error::set_error_factory;
pub use manager::Manager;
pub use round::Round;
pub use values::{Applied, Page, State};

use wasm_bindgen::prelude::*;

#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: alloc::Allocator = alloc::Allocator::new();

/// The sync protocol version this build speaks.
#[wasm_bindgen(js_name = protocolVersion)]
pub fn protocol_version() -> u32 {
    statesync::PROTOCOL_VERSION as u32
}

/// The wire format version this build writes.
#[wasm_bindgen(js_name = wireFormat)]
pub fn wire_format() -> u32 {
    statesync::WIRE_FORMAT as u32
}

/// Every error code, in the core's order (`statesync::ErrorCode::ALL`): the TypeScript layer
/// takes its list from here rather than spelling it out.
#[wasm_bindgen(js_name = errorCodes)]
pub fn error_codes() -> Vec<String> {
    statesync::ErrorCode::ALL.iter().map(|code| code.as_str().to_owned()).collect()
}

/// Deepest nesting of `data` accepted.
#[wasm_bindgen(js_name = maxDataDepth)]
pub fn max_data_depth() -> u32 {
    statesync::MAX_DATA_DEPTH as u32
}

/// Compares two clocks given as JSON objects: `equal`, `before`, `after` or `concurrent`.
#[wasm_bindgen(js_name = compareClocks)]
pub fn compare_clocks(a: &str, b: &str) -> Result<String, JsValue> {
    let (a, b) = (clock::parse(a)?, clock::parse(b)?);
    Ok(match a.compare(&b) {
        statesync::ClockOrdering::Equal => "equal",
        statesync::ClockOrdering::Before => "before",
        statesync::ClockOrdering::After => "after",
        statesync::ClockOrdering::Concurrent => "concurrent",
    }
    .to_owned())
}

/// The entrywise maximum of two clocks, as JSON.
#[wasm_bindgen(js_name = mergeClocks)]
pub fn merge_clocks(a: &str, b: &str) -> Result<String, JsValue> {
    let mut a = clock::parse(a)?;
    a.merge(&clock::parse(b)?);
    Ok(serde_json::to_string(&a).expect("a clock serialises"))
}

/// `clock` (JSON) after one more write of `node`, as JSON: its entry is the new counter (a node
/// the clock lacks was at 0).
#[wasm_bindgen(js_name = incrementClock)]
pub fn increment_clock(clock: &str, node: &str) -> Result<String, JsValue> {
    let mut clock = clock::parse(clock)?;
    clock.increment(node);
    Ok(serde_json::to_string(&clock).expect("a clock serialises"))
}

/// True when `a` has seen everything `b` has.
#[wasm_bindgen]
pub fn dominates(a: &str, b: &str) -> Result<bool, JsValue> {
    Ok(clock::parse(a)?.dominates(&clock::parse(b)?))
}

/// The delay in milliseconds before retry number `failures` (the core's `backoff_delay`):
/// `base · 2^(failures−1)`, capped at `max`, scaled by `jitter` in [0, 1) into its upper half.
#[wasm_bindgen(js_name = backoffDelay)]
pub fn backoff_delay(failures: u32, base_ms: f64, max_ms: f64, jitter: f64) -> f64 {
    let ms = |v: f64| std::time::Duration::from_millis(v.max(0.0) as u64);
    statesync::backoff_delay(failures, ms(base_ms), ms(max_ms), jitter).as_millis() as f64
}
