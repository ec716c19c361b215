//! The workloads statesync is measured on (see docs/performance.md):
//!
//! * W1 — 100,000 updates over 1,000 pre-created keys: (a) in memory, (b) on SQLite with one
//!   transaction per write, next to a raw rusqlite upsert loop with the same settings, at both
//!   durability levels (scaled down to 1,000 writes per iteration: one fsync per write at
//!   `synchronous=FULL`; compare throughputs), (c) on SQLite in write batches of 1,000 updates;
//! * W2 — two replicas make 10,000 concurrent updates each over a shared 1,000-key state, then
//!   exchange their states and reconcile;
//! * W3 — export and import (merge and replace) of the W1 in-memory replica, and the snapshot size;
//! * W4 — 10,000 single-state remote applies, one at a time, in memory.
//!
//! `cargo bench -p statesync` runs the criterion groups, then a short timing pass over the same
//! workloads that prints one `summary` line per workload with its figure and the ratio to its
//! target. Under `cargo test --benches` (criterion's test mode) every workload runs once at a
//! tiny size. `STATESYNC_SUMMARY=0` skips the summary pass; a criterion filter that matches
//! nothing (`-- '^$'`) runs the summary pass alone.

#[path = "report.rs"]
mod report;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput};
use report::{bench_mode, grouped, info, line_at_least, line_at_most, median, rate, timed};
use rusqlite::{params, Connection};
use serde_json::{json, Value};
use statesync::{
    decode, encode, ApplyOutcome, CreateOptions, Durability, Encoding, ManagerConfig, Snapshot, SyncManager, WriteBatch,
};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

// ---- sizes -------------------------------------------------------------------------------

/// Workload sizes: the real ones under `cargo bench`, tiny ones in criterion's test mode.
struct Sizes {
    /// Keys pre-created in every workload.
    keys: usize,
    /// W1 (a) and (c): updates per iteration.
    w1_updates: usize,
    /// W1 (b): writes per iteration with one transaction per write (scaled down from W1's
    /// 100,000: one fsync per write at `synchronous=FULL`).
    w1_txn_writes: usize,
    /// W1 (c): updates per write batch.
    w1_batch: usize,
    /// W2: updates made by each replica.
    w2_updates: usize,
    /// W4: remote applies.
    w4_applies: usize,
    /// Rounds of the summary pass (the median is reported).
    rounds: usize,
}

const FULL_SIZES: Sizes = Sizes {
    keys: 1_000,
    w1_updates: 100_000,
    w1_txn_writes: 1_000,
    w1_batch: 1_000,
    w2_updates: 10_000,
    w4_applies: 10_000,
    rounds: 5,
};

const TEST_SIZES: Sizes =
    Sizes { keys: 20, w1_updates: 200, w1_txn_writes: 20, w1_batch: 50, w2_updates: 100, w4_applies: 100, rounds: 1 };

fn sizes() -> &'static Sizes {
    if bench_mode() {
        &FULL_SIZES
    } else {
        &TEST_SIZES
    }
}

// ---- fixtures ----------------------------------------------------------------------------

fn key_names() -> Vec<String> {
    (0..sizes().keys).map(|k| format!("key-{k}")).collect()
}

/// The data of one write: a small object, as the workloads specify.
fn data(n: u64, key: &str) -> Value {
    json!({"n": n, "name": key})
}

fn seed_keys(m: &SyncManager, keys: &[String]) {
    m.write_batch(|b: &mut WriteBatch<'_, '_>| {
        for key in keys {
            b.create_state(data(0, key), CreateOptions::id(key.clone()))?;
        }
        Ok(())
    })
    .expect("seeding keys");
}

/// A replica holding the pre-created keys.
fn seeded(config: ManagerConfig, keys: &[String]) -> SyncManager {
    let m = SyncManager::open(config).expect("opening a replica");
    seed_keys(&m, keys);
    m
}

/// `n` updates, one call (one transaction) each, round-robin over the keys.
fn updates(m: &SyncManager, keys: &[String], n: usize, start: u64) {
    for i in 0..n {
        let key = &keys[i % keys.len()];
        black_box(m.update_state(key, data(start + i as u64, key)).expect("update"));
    }
}

/// `n` updates in write batches of `per_batch`, round-robin over the keys.
fn batched_updates(m: &SyncManager, keys: &[String], n: usize, per_batch: usize, start: u64) {
    let mut done = 0;
    while done < n {
        let count = per_batch.min(n - done);
        m.write_batch(|b| {
            for i in done..done + count {
                let key = &keys[i % keys.len()];
                black_box(b.update_state(key, data(start + i as u64, key))?);
            }
            Ok(())
        })
        .expect("write batch");
        done += count;
    }
}

/// Acknowledges every pending operation, as a client does once its writes are synced.
fn acknowledge_all(m: &SyncManager) {
    let ids: Vec<String> = m.pending_operations().expect("pending").into_iter().map(|op| op.op_id).collect();
    m.acknowledge(&ids).expect("acknowledge");
}

/// Database files go under cargo's target/tmp: a real disk (not a tmpfs), so fsync costs what
/// it costs.
fn db_dir() -> tempfile::TempDir {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&root).expect("target tmp dir");
    tempfile::Builder::new().prefix("statesync-bench-").tempdir_in(root).expect("temp dir")
}

fn durability_name(d: Durability) -> &'static str {
    match d {
        Durability::Full => "full",
        Durability::Normal => "normal",
    }
}

/// A statesync replica on an SQLite file, with the keys pre-created.
struct SqliteReplica {
    manager: SyncManager,
    _dir: tempfile::TempDir,
}

impl SqliteReplica {
    fn new(durability: Durability, keys: &[String]) -> Self {
        let dir = db_dir();
        let config = ManagerConfig::sqlite(dir.path().join("replica.db")).durability(durability);
        SqliteReplica { manager: seeded(config, keys), _dir: dir }
    }
}

/// The baseline of W1 (b): a plain table with a TEXT primary key, opened with the settings the
/// store uses (WAL, same `synchronous`), one upsert per transaction.
struct RawDb {
    conn: Connection,
    node: String,
    _dir: tempfile::TempDir,
}

impl RawDb {
    fn new(durability: Durability, keys: &[String]) -> Self {
        let dir = db_dir();
        let conn = Connection::open(dir.path().join("raw.db")).expect("open raw db");
        conn.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).expect("WAL");
        assert!(mode.eq_ignore_ascii_case("wal"));
        conn.pragma_update(None, "synchronous", durability_name(durability).to_uppercase()).expect("synchronous");
        conn.execute_batch("CREATE TABLE kv (id TEXT PRIMARY KEY, body TEXT NOT NULL)").expect("create table");
        let mut raw = RawDb { conn, node: uuid_like(), _dir: dir };
        for key in keys {
            raw.upsert(key, 0);
        }
        raw
    }

    /// One row in one transaction. The body is JSON text shaped and sized like the state
    /// bodies the store writes (serialised from a `Value`, as an application would).
    fn upsert(&mut self, key: &str, n: u64) {
        let body = json!({
            "id": key,
            "collection": "default",
            "data": data(n, key),
            "clock": {self.node.as_str(): n + 1},
            "timestamp": {"millis": 1_763_700_000_000u64 + n, "counter": 0, "node": self.node},
            "modified_by": self.node,
            "deleted": false,
            "version": n + 1,
            "hash": "0123456789abcdef",
        })
        .to_string();
        let tx = self.conn.transaction().expect("begin");
        tx.prepare_cached(
            "INSERT INTO kv (id, body) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
        )
        .and_then(|mut s| s.execute(params![key, body]))
        .expect("upsert");
        tx.commit().expect("commit");
    }

    fn upserts(&mut self, keys: &[String], n: usize, start: u64) {
        for i in 0..n {
            self.upsert(&keys[i % keys.len()], start + i as u64);
        }
    }
}

/// A node id as long as the generated ones (a UUID), so raw bodies match the store's in size.
fn uuid_like() -> String {
    "0f8fad5b-d9cb-469f-a165-70867728950e".to_owned()
}

/// W2: two replicas sharing the pre-created keys (B received them from A).
fn w2_pair(keys: &[String]) -> (SyncManager, SyncManager) {
    let a = seeded(ManagerConfig::memory(), keys);
    let b = SyncManager::open(ManagerConfig::memory()).expect("open");
    b.reconcile(a.list_states(None, true).expect("list")).expect("reconcile");
    acknowledge_all(&a);
    (a, b)
}

/// W2's concurrent phase: each replica updates every key, with different data.
fn w2_updates(a: &SyncManager, b: &SyncManager, keys: &[String]) {
    let n = sizes().w2_updates;
    updates(a, keys, n, 0);
    updates(b, keys, n, 1_000_000);
}

/// W2's exchange: each side sends all its states (tombstones included) to the other.
fn w2_exchange(a: &SyncManager, b: &SyncManager) {
    let from_a = a.list_states(None, true).expect("list");
    let from_b = b.list_states(None, true).expect("list");
    black_box(b.reconcile(from_a).expect("reconcile"));
    black_box(a.reconcile(from_b).expect("reconcile"));
}

/// The size of what a replica sends in W2: its states as one JSON array.
fn sent_bytes(m: &SyncManager) -> usize {
    let states = m.list_states(None, true).expect("list");
    let items: usize = states.iter().map(|s| s.to_json().len()).sum();
    2 + items + states.len().saturating_sub(1)
}

// W4 is written with macros rather than functions so that it names no state type: the element
// type of `list_states`, `create_state` and `apply_remote_state` is left to inference.

/// W4's input: the initial states the target starts from, and the states a source replica
/// sends, half new ids and half newer versions of keys the target holds, interleaved.
macro_rules! w4_states {
    ($keys:expr) => {{
        let keys: &[String] = $keys;
        let source = seeded(ManagerConfig::memory(), keys);
        let initial = source.list_states(None, true).expect("list");
        let mut remote = Vec::with_capacity(sizes().w4_applies);
        for j in 0..sizes().w4_applies {
            let state = if j % 2 == 0 {
                let id = format!("new-{j}");
                source.create_state(data(j as u64, &id), CreateOptions::id(id.clone())).expect("create")
            } else {
                let key = &keys[(j / 2) % keys.len()];
                source.update_state(key, data(j as u64, key)).expect("update")
            };
            remote.push(state);
        }
        (initial, remote)
    }};
}

/// A W4 target replica holding the initial states.
macro_rules! w4_target {
    ($initial:expr) => {{
        let target = SyncManager::open(ManagerConfig::memory()).expect("open");
        target.reconcile($initial.clone()).expect("reconcile");
        target
    }};
}

/// W4's timed part: every state applied on its own.
macro_rules! w4_apply {
    ($target:expr, $remote:expr) => {
        for state in $remote {
            black_box($target.apply_remote_state(state).expect("apply"));
        }
    };
}

/// The W1 (a) replica after its updates, every operation acknowledged (as after a sync).
fn w1_memory_replica(keys: &[String]) -> SyncManager {
    let m = seeded(ManagerConfig::memory(), keys);
    updates(&m, keys, sizes().w1_updates, 1);
    acknowledge_all(&m);
    m
}

// ---- criterion groups ----------------------------------------------------------------------

fn w1_memory(c: &mut Criterion) {
    let s = sizes();
    let keys = key_names();
    let mut g = c.benchmark_group("w1a_memory");
    g.sample_size(10).sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(s.w1_updates as u64));
    g.bench_function("update_state", |b| {
        b.iter_batched(
            || seeded(ManagerConfig::memory(), &keys),
            |m| {
                updates(&m, &keys, s.w1_updates, 1);
                m // dropped outside the timed part
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn w1_sqlite_txn_per_write(c: &mut Criterion) {
    let s = sizes();
    let keys = key_names();
    for durability in [Durability::Full, Durability::Normal] {
        let mut g = c.benchmark_group(format!("w1b_sqlite_txn_per_write_{}", durability_name(durability)));
        g.sample_size(10).sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(match durability {
            Durability::Full => 8,
            Durability::Normal => 4,
        }));
        g.throughput(Throughput::Elements(s.w1_txn_writes as u64));
        g.bench_function("statesync_update_state", |b| {
            let replica = SqliteReplica::new(durability, &keys);
            let mut next = 1u64;
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    updates(&replica.manager, &keys, s.w1_txn_writes, next);
                    total += t.elapsed();
                    next += s.w1_txn_writes as u64;
                    // Keeps the pending queue bounded across iterations (not timed).
                    acknowledge_all(&replica.manager);
                }
                total
            })
        });
        g.bench_function("raw_rusqlite_upsert", |b| {
            let mut raw = RawDb::new(durability, &keys);
            let mut next = 1u64;
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    raw.upserts(&keys, s.w1_txn_writes, next);
                    next += s.w1_txn_writes as u64;
                }
                t.elapsed()
            })
        });
        g.finish();
    }
}

fn w1_sqlite_batched(c: &mut Criterion) {
    let s = sizes();
    let keys = key_names();
    let mut g = c.benchmark_group("w1c_sqlite_batched");
    g.sample_size(10).sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(s.w1_updates as u64));
    g.bench_function(format!("write_batch_{}", s.w1_batch), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // A fresh database per iteration (not timed): each iteration adds 100,000 rows
                // to the pending table.
                let replica = SqliteReplica::new(Durability::Full, &keys);
                let t = Instant::now();
                batched_updates(&replica.manager, &keys, s.w1_updates, s.w1_batch, 1);
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn w2_two_replicas(c: &mut Criterion) {
    let s = sizes();
    let keys = key_names();
    let mut g = c.benchmark_group("w2_two_replicas");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(2 * s.w2_updates as u64));
    g.bench_function("updates_and_reconcile", |b| {
        b.iter_batched(
            || w2_pair(&keys),
            |(a, b)| {
                w2_updates(&a, &b, &keys);
                w2_exchange(&a, &b);
                (a, b)
            },
            BatchSize::PerIteration,
        )
    });
    g.throughput(Throughput::Elements(2 * keys.len() as u64));
    g.bench_function("reconcile_only", |b| {
        b.iter_batched(
            || {
                let (a, b) = w2_pair(&keys);
                w2_updates(&a, &b, &keys);
                (a, b)
            },
            |(a, b)| {
                w2_exchange(&a, &b);
                (a, b)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn w3_export_import(c: &mut Criterion) {
    let keys = key_names();
    let replica = w1_memory_replica(&keys);
    let text = replica.export_state().expect("export").to_json();
    let mut g = c.benchmark_group("w3_export_import");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("export_to_json", |b| b.iter(|| black_box(replica.export_state().expect("export").to_json())));
    g.bench_function("export_to_binary", |b| {
        b.iter(|| black_box(encode(&replica.export_state().expect("export"), Encoding::Binary)))
    });
    let binary = encode(&replica.export_state().expect("export"), Encoding::Binary);
    g.bench_function("decode_binary", |b| {
        b.iter(|| black_box(decode::<Snapshot>(&binary, Encoding::Binary).expect("decode")))
    });
    for replace in [false, true] {
        let name = if replace { "from_json_import_replace" } else { "from_json_import_merge" };
        g.bench_function(name, |b| {
            b.iter_batched(
                || SyncManager::open(ManagerConfig::memory()).expect("open"),
                |fresh| {
                    let snapshot = Snapshot::from_json(&text).expect("parse");
                    black_box(fresh.import_state(snapshot, replace).expect("import"));
                    fresh
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn w4_remote_applies(c: &mut Criterion) {
    let s = sizes();
    let keys = key_names();
    let (initial, remote) = w4_states!(&keys);
    let mut g = c.benchmark_group("w4_remote_applies");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(s.w4_applies as u64));
    g.bench_function("apply_remote_state", |b| {
        b.iter_batched(
            || (w4_target!(initial), remote.clone()),
            |(target, states)| {
                w4_apply!(target, states);
                target
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

// ---- summary pass ----------------------------------------------------------------------------

fn summary() {
    let s = sizes();
    let keys = key_names();
    println!();
    println!(
        "summary: median of {} timed run(s) per figure, this process, after the criterion groups{}",
        s.rounds,
        if bench_mode() { "" } else { " (test mode: tiny sizes, figures meaningless)" }
    );

    // W1 (a), and the value construction alone (part of every update's cost).
    let mut w1a = Vec::new();
    for _ in 0..s.rounds {
        let m = seeded(ManagerConfig::memory(), &keys);
        w1a.push(rate(s.w1_updates, timed(|| updates(&m, &keys, s.w1_updates, 1))));
    }
    line_at_least("W1a memory updates", median(w1a), "updates/s", 1_000_000.0);
    let build = timed(|| {
        for i in 0..s.w1_updates {
            black_box(data(i as u64, &keys[i % keys.len()]));
        }
    });
    info(
        "W1a (of which building the JSON value)",
        format!("{:.0} ns per update", build.as_nanos() as f64 / s.w1_updates as f64),
    );

    // W1 (b): statesync and raw rusqlite interleaved in small chunks, alternating which goes
    // first, so that both see the same disk: fsync latency on a shared VM drifts by an order of
    // magnitude within minutes, and comparing two runs taken at different times says little.
    let chunks = 10;
    let chunk = s.w1_txn_writes.div_ceil(5).max(1);
    for durability in [Durability::Full, Durability::Normal] {
        let replica = SqliteReplica::new(durability, &keys);
        let mut raw = RawDb::new(durability, &keys);
        let (mut ours, mut theirs) = (Duration::ZERO, Duration::ZERO);
        for round in 0..chunks {
            let start = 1 + (round * chunk) as u64;
            let run_ours = || {
                let t = timed(|| updates(&replica.manager, &keys, chunk, start));
                acknowledge_all(&replica.manager);
                t
            };
            if round % 2 == 0 {
                ours += run_ours();
                theirs += timed(|| raw.upserts(&keys, chunk, start));
            } else {
                theirs += timed(|| raw.upserts(&keys, chunk, start));
                ours += run_ours();
            }
        }
        let (ours, theirs) = (rate(chunks * chunk, ours), rate(chunks * chunk, theirs));
        let d = durability_name(durability);
        info(
            &format!("W1b sqlite {d} txn/write ({}x{chunk} writes)", chunks),
            format!("statesync {} writes/s, raw rusqlite {} writes/s", grouped(ours), grouped(theirs)),
        );
        line_at_least(&format!("W1b sqlite {d} statesync/raw"), 100.0 * ours / theirs, "% of raw", 80.0);
    }

    // W1 (c).
    let mut w1c = Vec::new();
    for _ in 0..s.rounds {
        let replica = SqliteReplica::new(Durability::Full, &keys);
        w1c.push(rate(s.w1_updates, timed(|| batched_updates(&replica.manager, &keys, s.w1_updates, s.w1_batch, 1))));
    }
    line_at_least(&format!("W1c sqlite full batches of {}", s.w1_batch), median(w1c), "updates/s", 400_000.0);

    // W2.
    let (mut total, mut rec, mut bytes) = (Vec::new(), Vec::new(), 0);
    for _ in 0..s.rounds {
        let (a, b) = w2_pair(&keys);
        let t_updates = timed(|| w2_updates(&a, &b, &keys));
        // What each side is about to send, sized outside the timed part.
        bytes = sent_bytes(&a) + sent_bytes(&b);
        let t_exchange = timed(|| w2_exchange(&a, &b));
        total.push(rate(2 * s.w2_updates, t_updates + t_exchange));
        rec.push(t_exchange.as_secs_f64());
        assert_eq!(
            a.list_states(None, true).expect("list"),
            b.list_states(None, true).expect("list"),
            "W2 replicas diverged"
        );
    }
    line_at_least("W2 updates+reconcile", median(total), "updates/s", 1_700_000.0);
    let rec = median(rec);
    info(
        "W2 reconcile alone (both ways)",
        format!(
            "{:.2} ms for {} states = {} states/s; {} bytes exchanged (JSON, both ways); replicas identical",
            rec * 1e3,
            2 * keys.len(),
            grouped(2.0 * keys.len() as f64 / rec),
            grouped(bytes as f64)
        ),
    );

    // W3.
    let m = seeded(ManagerConfig::memory(), &keys);
    updates(&m, &keys, s.w1_updates, 1);
    let pending_snapshot = m.export_state().expect("export");
    let with_pending = pending_snapshot.to_json().len();
    let with_pending_binary = encode(&pending_snapshot, Encoding::Binary).len();
    drop(pending_snapshot);
    acknowledge_all(&m);
    let (mut export, mut merge, mut replace) = (Vec::new(), Vec::new(), Vec::new());
    let mut text = String::new();
    for _ in 0..s.rounds {
        export.push(timed(|| text = m.export_state().expect("export").to_json()).as_secs_f64());
        for (replace_all, out) in [(false, &mut merge), (true, &mut replace)] {
            let fresh = SyncManager::open(ManagerConfig::memory()).expect("open");
            out.push(
                timed(|| {
                    black_box(
                        fresh.import_state(Snapshot::from_json(&text).expect("parse"), replace_all).expect("import"),
                    );
                })
                .as_secs_f64(),
            );
            assert_eq!(fresh.list_states(None, true).expect("list"), m.list_states(None, true).expect("list"));
        }
    }
    line_at_most("W3 snapshot size (acknowledged)", text.len() as f64, "bytes", 300_000.0);
    let snapshot = m.export_state().expect("export");
    let (mut to_binary, mut from_binary) = (Vec::new(), Vec::new());
    let mut binary = Vec::new();
    for _ in 0..s.rounds {
        to_binary.push(timed(|| binary = encode(&snapshot, Encoding::Binary)).as_secs_f64());
        let mut decoded = None;
        from_binary.push(timed(|| decoded = Some(decode::<Snapshot>(&binary, Encoding::Binary))).as_secs_f64());
        assert_eq!(decoded.expect("decoded").expect("decode"), snapshot);
    }
    line_at_most("W3 snapshot size, binary wire form", binary.len() as f64, "bytes", 130_000.0);
    #[cfg(feature = "zstd")]
    info(
        "W3 snapshot size, zstd",
        format!(
            "binary + zstd {} bytes; JSON + zstd {} bytes",
            grouped(statesync::compress(&binary).len() as f64),
            grouped(statesync::compress(text.as_bytes()).len() as f64)
        ),
    );
    info(
        "W3 binary times",
        format!("encode {:.2} ms; decode+validate {:.2} ms", median(to_binary) * 1e3, median(from_binary) * 1e3),
    );
    info(
        "W3 snapshot size (pending not acknowledged)",
        format!(
            "{} bytes ({} pending operations); binary {} bytes",
            grouped(with_pending as f64),
            grouped(s.w1_updates as f64),
            grouped(with_pending_binary as f64)
        ),
    );
    info(
        "W3 times",
        format!(
            "export+to_json {:.2} ms; from_json+import merge {:.2} ms; from_json+import replace {:.2} ms",
            median(export) * 1e3,
            median(merge) * 1e3,
            median(replace) * 1e3
        ),
    );
    let short = seeded(ManagerConfig::memory().node_id("w1"), &keys);
    updates(&short, &keys, s.w1_updates, 1);
    acknowledge_all(&short);
    info(
        "W3 snapshot size, 2-byte node id",
        format!(
            "{} bytes (the headline uses a generated 36-byte UUID node id)",
            grouped(short.export_state().expect("export").to_json().len() as f64)
        ),
    );

    // W4.
    let (initial, remote) = w4_states!(&keys);
    let mut w4 = Vec::new();
    for _ in 0..s.rounds {
        let target = w4_target!(initial);
        let states = remote.clone();
        w4.push(rate(s.w4_applies, timed(|| w4_apply!(target, states))));
        let stored = target.list_states(None, true).expect("list");
        assert_eq!(stored.len(), keys.len() + s.w4_applies.div_ceil(2), "W4: every new id is created");
    }
    line_at_least("W4 remote applies (memory)", median(w4), "applies/s", 740_000.0);
    let target = w4_target!(initial);
    let mut outcomes = std::collections::HashMap::new();
    for state in remote {
        *outcomes.entry(target.apply_remote_state(state).expect("apply").outcome).or_insert(0usize) += 1;
    }
    info(
        "W4 outcomes",
        format!(
            "created {}, updated {}",
            outcomes.get(&ApplyOutcome::Created).unwrap_or(&0),
            outcomes.get(&ApplyOutcome::Updated).unwrap_or(&0)
        ),
    );
}

fn main() {
    report::run(
        &[w1_memory, w1_sqlite_txn_per_write, w1_sqlite_batched, w2_two_replicas, w3_export_import, w4_remote_applies],
        summary,
    );
}
