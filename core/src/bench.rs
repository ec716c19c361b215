//! Workloads of docs/performance.md run entirely in the core, for the bindings' benchmarks: a
//! W1 figure measured through Python, Node, Kotlin or the browser means something only next to
//! the core's own figure on the same machine, in the same run, for exactly the same work.

use crate::manager::{CreateOptions, ManagerConfig, SyncManager};
use crate::model::error::{Result, SyncError};
use serde_json::json;
use std::time::{Duration, Instant};

/// W1a: an in-memory replica (default configuration, node id `bench`) holding `keys` states
/// `{"n": 0, "name": "key-<k>"}`, then `updates` timed `update_state` calls round-robin over
/// them, each with `{"n": i, "name": "key-<k>"}` built inside the loop, as a client builds its
/// data. Returns the time the updates took. `INVALID_INPUT` when `keys` is 0.
pub fn w1a(keys: usize, updates: usize) -> Result<Duration> {
    if keys == 0 {
        return Err(SyncError::InvalidInput("W1a needs at least one key".into()));
    }
    let names: Vec<String> = (0..keys).map(|k| format!("key-{k}")).collect();
    let m = SyncManager::open(ManagerConfig::memory().node_id("bench").check_resolver(false))?;
    m.write_batch(|b| {
        for name in &names {
            b.create_state(json!({"n": 0, "name": name}), CreateOptions::id(name.clone()))?;
        }
        Ok(())
    })?;
    let start = Instant::now();
    for i in 0..updates {
        let name = &names[i % keys];
        std::hint::black_box(m.update_state(name, json!({"n": i, "name": name}))?);
    }
    Ok(start.elapsed())
}
