//! Workloads of docs/performance.md run entirely in the core, for the bindings' benchmarks: a
//! W1 figure measured through Python, Node, Kotlin or the browser means something only next to
//! the core's own figure on the same machine, in the same run, for exactly the same work.

use crate::error::{Result, SyncError};
use crate::manager::{CreateOptions, ManagerConfig, SyncManager};
use serde_json::json;
use std::time::Duration;

/// W1a: an in-memory replica (default configuration, node id `bench`) holding `keys` states
/// `{"n": 0, "name": "key-<k>"}`, then `updates` timed `update_state` calls round-robin over
/// them, each with `{"n": i, "name": "key-<k>"}` built inside the loop, as a client builds its
/// data. Returns the time the updates took. `INVALID_INPUT` when `keys` is 0. Where
/// `std::time::Instant` does not exist (the browser), use [`w1a_with`].
pub fn w1a(keys: usize, updates: usize) -> Result<Duration> {
    let origin = std::time::Instant::now();
    w1a_with(ManagerConfig::memory(), keys, updates, &|| origin.elapsed())
}

/// [`w1a`] on a replica opened from `config` (its node id set to `bench`), timed with `now`
/// (any monotonic reading): for targets without `std::time::Instant`, such as the browser.
pub fn w1a_with(config: ManagerConfig, keys: usize, updates: usize, now: &dyn Fn() -> Duration) -> Result<Duration> {
    if keys == 0 {
        return Err(SyncError::InvalidInput("W1a needs at least one key".into()));
    }
    let names: Vec<String> = (0..keys).map(|k| format!("key-{k}")).collect();
    let m = SyncManager::open(config.node_id("bench").check_resolver(false))?;
    for name in &names {
        m.create_state(json!({"n": 0, "name": name}), CreateOptions::id(name.clone()))?;
    }
    let start = now();
    for i in 0..updates {
        let name = &names[i % keys];
        std::hint::black_box(m.update_state(name, json!({"n": i, "name": name}))?);
    }
    Ok(now().saturating_sub(start))
}
