//! W1a natively (docs/performance.md), the reference of `npm run bench`: the core with the
//! browser build's features (no SQLite, no runtime), `updates` update_state calls round-robin
//! over `keys` keys created beforehand. Prints updates per second (median of `runs`).
//! Usage: cargo run --release --example w1_native -- [keys] [updates] [runs]

use serde_json::json;
use statesync::{CreateOptions, ManagerConfig, SyncManager};
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let (keys, updates, runs) = (
        args.first().copied().unwrap_or(1000),
        args.get(1).copied().unwrap_or(100_000),
        args.get(2).copied().unwrap_or(3),
    );
    let mut rates = Vec::new();
    for _ in 0..runs {
        let m = SyncManager::open(ManagerConfig::memory().node_id("bench")).expect("open");
        let names: Vec<String> = (0..keys).map(|k| format!("key-{k}")).collect();
        for name in &names {
            m.create_state(json!({"n": 0, "name": name}), CreateOptions::id(name.clone())).expect("create");
        }
        let start = Instant::now();
        for i in 0..updates {
            let name = &names[i % keys];
            m.update_state(name, json!({"n": i, "name": name})).expect("update");
        }
        rates.push(updates as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!("{:.0}", rates[rates.len() / 2]);
}
