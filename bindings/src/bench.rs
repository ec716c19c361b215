//! Benchmark hook (not API): workload W1a of docs/performance.md run entirely in Rust, so a
//! host-language benchmark can compare its own figure with the core's in the same process.

use crate::error::Result;
use statesync::{CreateOptions, ManagerConfig, SyncManager};

/// W1a in Rust: an in-memory replica holding `keys` states `{"n": 0, "name": "key-<k>"}`, then
/// `updates` timed `update_state` calls round-robin over them, each with
/// `{"n": i, "name": "key-<k>"}` built inside the loop. Returns the seconds the updates took.
#[uniffi::export]
pub fn bench_rust_w1(keys: u32, updates: u32) -> Result<f64> {
    if keys == 0 {
        return Err(crate::error::SyncError::invalid_input("keys must be at least 1"));
    }
    let names: Vec<String> = (0..keys).map(|k| format!("key-{k}")).collect();
    let m = SyncManager::open(ManagerConfig::memory().node_id("bench").check_resolver(false))?;
    m.write_batch(|b| {
        for name in &names {
            b.create_state(serde_json::json!({"n": 0, "name": name}), CreateOptions::id(name.clone()))?;
        }
        Ok(())
    })?;
    let start = std::time::Instant::now();
    for i in 0..updates as usize {
        let name = &names[i % names.len()];
        std::hint::black_box(m.update_state(name, serde_json::json!({"n": i, "name": name}))?);
    }
    Ok(start.elapsed().as_secs_f64())
}
