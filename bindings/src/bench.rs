//! Benchmark hook (not API): workload W1a of docs/performance.md run entirely in Rust, so a
//! host-language benchmark can compare its own figure with the core's in the same process.

use crate::error::{guard, Result};

/// W1a in Rust: an in-memory replica holding `keys` states `{"n": 0, "name": "key-<k>"}`, then
/// `updates` timed `update_state` calls round-robin over them, each with
/// `{"n": i, "name": "key-<k>"}` built inside the loop. Returns the seconds the updates took.
#[uniffi::export]
pub fn bench_rust_w1(keys: u32, updates: u32) -> Result<f64> {
    guard(|| Ok(statesync::bench::w1a(keys as usize, updates as usize)?.as_secs_f64()))
}
