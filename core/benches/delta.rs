//! Delta sync versus a full snapshot (issue 3, item 8): a hub holds 100,000 states, a client
//! that already holds them all syncs after 1% of them changed. Every page crosses a simulated
//! wire (encoded, counted, decoded), in both encodings. Figures:
//!
//! * bytes on the wire for the delta round, against the changed states' own encoded size
//!   (each state encoded alone): target at most 2×;
//! * time of the delta round against a full snapshot transfer (export, encode, decode, merge
//!   import into the client);
//! * the snapshot's size, for scale, and the first full pull.
//!
//! `cargo bench -p statesync --bench delta` runs the criterion group then the summary pass;
//! `-- '^$'` runs the summary alone; `cargo test --benches` runs everything once, tiny.

#[path = "report.rs"]
mod report;

use criterion::{BatchSize, Criterion};
use report::{bench_mode, info, line_at_most, median, timed};
use serde_json::json;
use statesync::{
    decode, encode, ChangeSet, CreateOptions, Encoding, ManagerConfig, ReconciliationResult, Snapshot,
    SyncCapabilities, SyncContext, SyncManager, SyncTransport,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// States in the hub, and how many change between syncs (1%).
fn sizes() -> (usize, usize) {
    if bench_mode() {
        (100_000, 1_000)
    } else {
        (2_000, 20)
    }
}

/// Page size of every round.
const PAGE: usize = 1_000;

/// A transport to an in-process hub that puts every message through the wire format and
/// counts the bytes, requests included.
struct Wire {
    hub: Arc<SyncManager>,
    encoding: Encoding,
    bytes: AtomicUsize,
}

impl Wire {
    fn new(hub: &Arc<SyncManager>, encoding: Encoding) -> Wire {
        Wire { hub: hub.clone(), encoding, bytes: AtomicUsize::new(0) }
    }

    fn carry(&self, page: &ChangeSet) -> ChangeSet {
        let bytes = encode(page, self.encoding);
        self.bytes.fetch_add(bytes.len(), Ordering::Relaxed);
        decode(&bytes, self.encoding).expect("a page decodes")
    }

    fn take_bytes(&self) -> usize {
        self.bytes.swap(0, Ordering::Relaxed)
    }
}

impl SyncTransport for Wire {
    fn capabilities(&self) -> statesync::Result<SyncCapabilities> {
        self.hub.capabilities()
    }

    fn pull(&self, cursor: Option<&str>, context: &SyncContext) -> statesync::Result<ChangeSet> {
        // The request body of the HTTP protocol (docs/protocol.md).
        let request =
            json!({"format": 1, "cursor": cursor, "collections": context.collections, "limit": context.limit});
        self.bytes.fetch_add(request.to_string().len(), Ordering::Relaxed);
        Ok(self.carry(&self.hub.changes_since(cursor, context)?))
    }

    fn push(&self, changes: &ChangeSet) -> statesync::Result<ReconciliationResult> {
        let changes = self.carry(changes);
        self.hub.reconcile(changes.states)
    }
}

fn memory(node: &str) -> Arc<SyncManager> {
    Arc::new(SyncManager::open(ManagerConfig::memory().node_id(node)).expect("open"))
}

/// A hub with `n` states and a client that pulled them all (through `wire`).
fn fixture(encoding: Encoding) -> (Arc<SyncManager>, Arc<SyncManager>, Wire) {
    let (n, _) = sizes();
    let hub = memory("hub-5f0c9a1e-6d1b-4f57-a3c2-9b8e7d6c5b4a");
    hub.write_batch(|b| {
        for i in 0..n {
            let data = json!({"title": format!("item {i}"), "done": i % 3 == 0, "rank": i, "tags": ["a", "b"]});
            b.create_state(data, CreateOptions::id(format!("item-{i:06}")).in_collection("todos"))?;
        }
        Ok(())
    })
    .expect("hub filled");
    acknowledge_all(&hub);
    let client = memory("client-0d9f3b2a-8c4e-4a61-b7d5-2e1f0a9c8b7d");
    let wire = Wire::new(&hub, encoding);
    client.sync_via(&wire, &SyncContext::all().with_limit(PAGE)).expect("first sync");
    (hub, client, wire)
}

/// Empties the hub's pending queue, as its own sync would: the snapshot then holds states only.
fn acknowledge_all(hub: &SyncManager) {
    let ops: Vec<String> = hub.pending_operations().unwrap().into_iter().map(|op| op.op_id).collect();
    hub.acknowledge(&ops).unwrap();
}

/// Changes 1% of the hub's states (spread over the whole id range); returns their ids.
fn change_some(hub: &SyncManager, round: usize) -> Vec<String> {
    let (n, changed) = sizes();
    let step = n / changed;
    let ids: Vec<String> = (0..changed).map(|k| format!("item-{:06}", k * step + round % step)).collect();
    hub.write_batch(|b| {
        for id in &ids {
            b.update_state(id, json!({"title": format!("{id} edited in round {round}"), "done": true, "rank": round}))?;
        }
        Ok(())
    })
    .expect("changes");
    acknowledge_all(hub);
    ids
}

/// The changed states' own encoded size: each encoded alone.
fn own_size(hub: &SyncManager, ids: &[String], encoding: Encoding) -> usize {
    ids.iter().map(|id| encode(hub.get_state(id).unwrap().unwrap().as_ref(), encoding).len()).sum()
}

/// A full snapshot transfer into `client`: export, encode, decode, merge import.
fn snapshot_transfer(hub: &SyncManager, client: &SyncManager, encoding: Encoding) -> usize {
    let bytes = encode(&hub.export_state().unwrap(), encoding);
    let snapshot: Snapshot = decode(&bytes, encoding).unwrap();
    client.import_state(snapshot, false).unwrap();
    bytes.len()
}

fn criterion_groups(c: &mut Criterion) {
    let mut g = c.benchmark_group("delta_sync_1_percent");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    let (hub, client, wire) = fixture(Encoding::Binary);
    let ctx = SyncContext::all().with_limit(PAGE);
    let mut round = 0;
    g.bench_function("delta_round_binary", |b| {
        b.iter_batched(
            || {
                round += 1;
                change_some(&hub, round);
            },
            |()| client.sync_via(&wire, &ctx).unwrap(),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("full_snapshot_binary", |b| b.iter(|| snapshot_transfer(&hub, &client, Encoding::Binary)));
    g.finish();
}

fn summary() {
    let rounds = if bench_mode() { 5 } else { 1 };
    let (n, changed) = sizes();
    println!();
    println!("summary: delta sync of {changed} changed states out of {n}, median of {rounds} round(s), this process");
    for (name, encoding) in [("binary", Encoding::Binary), ("JSON", Encoding::Json)] {
        let (hub, client, wire) = fixture(encoding);
        let first_pull = wire.take_bytes();
        let ctx = SyncContext::all().with_limit(PAGE);
        let (mut delta_bytes, mut own, mut delta_time, mut full_bytes, mut full_time) = (0, 0, vec![], 0, vec![]);
        for round in 1..=rounds {
            let ids = change_some(&hub, round);
            own = own_size(&hub, &ids, encoding);
            delta_time.push(
                timed(|| assert_eq!(client.sync_via(&wire, &ctx).unwrap().pulled.updated as usize, changed))
                    .as_secs_f64(),
            );
            delta_bytes = wire.take_bytes();
            full_time.push(timed(|| full_bytes = snapshot_transfer(&hub, &client, encoding)).as_secs_f64());
        }
        let (delta_s, full_s) = (median(delta_time), median(full_time));
        line_at_most(
            &format!("delta bytes vs changed states' size ({name})"),
            delta_bytes as f64,
            "bytes",
            2.0 * own as f64,
        );
        info(
            &format!("delta detail ({name})"),
            format!(
                "own size {own} B, delta {delta_bytes} B ({:.2}x), snapshot {full_bytes} B ({:.1}x the delta), first full pull {first_pull} B",
                delta_bytes as f64 / own as f64,
                full_bytes as f64 / delta_bytes as f64
            ),
        );
        info(
            &format!("delta time vs snapshot ({name})"),
            format!(
                "delta round {:.2} ms, snapshot transfer {:.2} ms: delta takes {:.3}x the snapshot's time",
                delta_s * 1e3,
                full_s * 1e3,
                delta_s / full_s
            ),
        );
    }
}

fn main() {
    report::run(&[criterion_groups], summary);
}
