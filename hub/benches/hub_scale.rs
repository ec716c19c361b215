//! The deployable hub's numbers (issue 16 §5): sync rounds per second with 20 and 200 clients,
//! each client in its own space, against hub *processes* (the `statesync-hub` binary) on
//! loopback: one on SQLite (`synchronous=FULL`), one on PostgreSQL, two on one PostgreSQL
//! (clients spread over both); per-request latency p50/p99; and the hub's resident memory
//! (`VmRSS` of the process) as 1,000,000 states in 10,000 spaces are pushed into it.
//!
//! Each client thread has an in-memory replica and a space of its own (`user:client-N`), makes
//! one small change and runs one `sync_via` round (capabilities + pull + push: three requests)
//! after another. Clients, hub processes and PostgreSQL share this machine's cores.
//!
//! `cargo bench -p statesync-hub --bench hub_scale` prints `summary` lines with targets and
//! ratios; under `cargo test --benches` every part runs at a tiny size (figures meaningless).
//! PostgreSQL: a private cluster (tests/support/postgres.rs) with fsync on, like SQLite's FULL.

#[path = "../../core/benches/report.rs"]
mod report;
// The tests' cluster; the bench uses only the durable one.
#[allow(dead_code)]
#[path = "../tests/support/postgres.rs"]
mod postgres_cluster;

#[allow(dead_code)]
#[path = "../tests/support/process.rs"]
mod process;

use postgres_cluster::PgCluster;
use process::HubProcess;
use report::{bench_mode, grouped, info, line_at_least, line_at_most};
use serde_json::json;
use statesync::{
    ChangeSet, CreateOptions, Encoding, HttpTransport, ManagerConfig, ReconciliationResult, SyncCapabilities,
    SyncContext, SyncManager, SyncState, SyncTransport,
};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A transport that times each request.
struct Timed {
    inner: HttpTransport,
    requests: Mutex<Vec<Duration>>,
}

impl Timed {
    fn time<T>(&self, f: impl FnOnce(&HttpTransport) -> statesync::Result<T>) -> statesync::Result<T> {
        let started = Instant::now();
        let result = f(&self.inner);
        self.requests.lock().unwrap().push(started.elapsed());
        result
    }
}

impl SyncTransport for Timed {
    fn capabilities(&self) -> statesync::Result<SyncCapabilities> {
        self.time(|t| t.capabilities())
    }

    fn pull(&self, cursor: Option<&str>, context: &SyncContext) -> statesync::Result<ChangeSet> {
        self.time(|t| t.pull(cursor, context))
    }

    fn push(&self, changes: &ChangeSet) -> statesync::Result<ReconciliationResult> {
        self.time(|t| t.push(changes))
    }
}

struct Figures {
    syncs_per_s: f64,
    rounds: usize,
    request_p50: Duration,
    request_p99: Duration,
    round_p99: Duration,
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// `clients` threads, each in its own space of one of `urls` (spread evenly), change and sync
/// for `time`; every round must succeed.
fn throughput(urls: &[String], clients: usize, time: Duration) -> Figures {
    let start = Arc::new(Barrier::new(clients + 1));
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let (url, start) = (urls[i % urls.len()].clone(), start.clone());
            thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    let node = format!("client-{i:03}");
                    let m = SyncManager::open(ManagerConfig::memory().node_id(&node)).expect("open client");
                    let inner = HttpTransport::new(&url)
                        .expect("url")
                        .space(&format!("user:{node}"))
                        .expect("space")
                        .encoding(Encoding::Binary)
                        .timeout(Duration::from_secs(60));
                    let t = Timed { inner, requests: Mutex::new(Vec::new()) };
                    let mut rounds = Vec::new();
                    start.wait();
                    let began = Instant::now();
                    let mut n = 0u64;
                    while began.elapsed() < time {
                        let id = format!("k{}", n % 10);
                        let data = json!({"n": n, "note": "a small change"});
                        if m.get_state(&id).expect("get").is_some() {
                            m.update_state(&id, data).expect("update");
                        } else {
                            m.create_state(data, CreateOptions::id(id)).expect("create");
                        }
                        let round = Instant::now();
                        m.sync_via(&t, &SyncContext::all()).expect("round");
                        rounds.push(round.elapsed());
                        n += 1;
                    }
                    (rounds, t.requests.into_inner().unwrap(), began.elapsed())
                })
                .expect("client thread")
        })
        .collect();
    start.wait();
    let (mut rounds, mut requests, mut longest) = (Vec::new(), Vec::new(), Duration::ZERO);
    for t in threads {
        let (r, q, took) = t.join().expect("client");
        rounds.extend(r);
        requests.extend(q);
        longest = longest.max(took);
    }
    rounds.sort();
    requests.sort();
    Figures {
        syncs_per_s: rounds.len() as f64 / longest.as_secs_f64(),
        rounds: rounds.len(),
        request_p50: percentile(&requests, 50),
        request_p99: percentile(&requests, 99),
        round_p99: percentile(&rounds, 99),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report(name: &str, f: &Figures, target: Option<(f64, f64)>) {
    let detail = format!(
        "request p50 {:.1} ms, p99 {:.1} ms; round p99 {:.1} ms ({} rounds)",
        ms(f.request_p50),
        ms(f.request_p99),
        ms(f.round_p99),
        f.rounds
    );
    match target {
        Some((syncs, p99)) => {
            line_at_least(&format!("{name} syncs/s"), f.syncs_per_s, "syncs/s", syncs);
            line_at_most(&format!("{name} request p99"), ms(f.request_p99), "ms", p99);
            info(&format!("{name} detail"), detail);
        }
        None => info(name, format!("{} syncs/s; {detail}", grouped(f.syncs_per_s))),
    }
}

/// Pushes `states` states into `spaces` spaces (pages of 100, binary, 8 loaders spread over
/// `urls`), calling `sample` after each tenth of them.
fn load(urls: &[String], spaces: usize, states: usize, mut sample: impl FnMut(usize)) {
    let per_space = states / spaces;
    let step = (spaces / 10).max(1);
    for first in (0..spaces).step_by(step) {
        let chunk: Vec<usize> = (first..(first + step).min(spaces)).collect();
        let loaders: Vec<_> = (0..8)
            .map(|l| {
                let mine: Vec<usize> = chunk.iter().copied().filter(|s| s % 8 == l).collect();
                let url = urls[l % urls.len()].clone();
                thread::spawn(move || {
                    for space in mine {
                        let t = HttpTransport::new(&url)
                            .expect("url")
                            .space(&format!("load-{space}"))
                            .expect("space")
                            .encoding(Encoding::Binary)
                            .timeout(Duration::from_secs(120));
                        for page in 0..per_space.div_ceil(100) {
                            let states: Vec<Arc<SyncState>> = (page * 100..((page + 1) * 100).min(per_space))
                                .map(|k| Arc::new(state(space, k)))
                                .collect();
                            let page = ChangeSet { states, cursor: String::new(), has_more: false };
                            let result = t.push(&page).expect("load push");
                            assert_eq!(result.rejected, 0, "the hub refused a loaded state");
                        }
                    }
                })
            })
            .collect();
        for l in loaders {
            l.join().expect("loader");
        }
        sample((first + chunk.len()) * per_space);
    }
}

fn state(space: usize, k: usize) -> SyncState {
    let node = format!("loader-{space}");
    SyncState::from_value(json!({
        "id": format!("s{k}"),
        "collection": "settings",
        "data": {"theme": "dark", "font": 14, "k": k, "note": "a setting of about a hundred bytes of JSON"},
        "clock": {node.as_str(): 1},
        "timestamp": {"millis": 1_700_000_000_000u64, "counter": 0, "node": node},
    }))
    .expect("state")
}

/// A hub process on `store` with a pool of `pool` connections (PostgreSQL).
fn start(store: &str, pool: usize) -> HubProcess {
    HubProcess::start(&["--store", store, "--store-pool-size", &pool.to_string(), "--max-connections", "2048"])
}

fn memory(store: &str, name: &str, spaces: usize, states: usize) {
    let hub = start(store, 8);
    let idle = hub.rss_mib();
    let mut samples = Vec::new();
    let started = Instant::now();
    load(std::slice::from_ref(&hub.url), spaces, states, |loaded| samples.push((loaded, hub.rss_mib())));
    let took = started.elapsed();
    let peak = samples.iter().map(|(_, rss)| *rss).fold(idle, f64::max);
    let trail: Vec<String> = samples.iter().map(|(n, rss)| format!("{}: {rss:.0}", grouped(*n as f64))).collect();
    line_at_most(&format!("{name} RSS after {} states", grouped(states as f64)), peak, "MiB", 300.0);
    info(
        &format!("{name} RSS as states grow"),
        format!("idle {idle:.0} MiB; {} (MiB); loaded in {:.0} s", trail.join(", "), took.as_secs_f64()),
    );
}

fn main() {
    let bench = bench_mode();
    let time = if bench { Duration::from_secs(5) } else { Duration::from_millis(300) };
    let (spaces, states) = if bench { (10_000, 1_000_000) } else { (10, 1_000) };
    println!();
    println!(
        "summary: statesync-hub processes on 127.0.0.1, each client in its own space, one change + one round per \
         iteration, {:.1} s per line{}",
        time.as_secs_f64(),
        if bench { "" } else { " (test mode: figures meaningless)" }
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let pg = PgCluster::start_durable();
    let targets = Some((2_000.0, 250.0));
    for clients in [20, 200] {
        let sqlite = start(&format!("sqlite:{}", dir.path().join(format!("hub-{clients}.db")).display()), 8);
        report(
            &format!("sqlite, {clients} clients"),
            &throughput(std::slice::from_ref(&sqlite.url), clients, time),
            None,
        );
        drop(sqlite);
        let store = pg.database();
        let one = start(&store, 32);
        report(
            &format!("postgres 1 process, {clients} clients"),
            &throughput(std::slice::from_ref(&one.url), clients, time),
            None,
        );
        drop(one);
        let store = pg.database();
        let two = [start(&store, 32), start(&store, 32)];
        let urls: Vec<String> = two.iter().map(|p| p.url.clone()).collect();
        let target = if clients == 200 { targets } else { None };
        report(&format!("postgres 2 processes, {clients} clients"), &throughput(&urls, clients, time), target);
    }
    memory(&pg.database(), "postgres", spaces, states);
    memory(&format!("sqlite:{}", dir.path().join("memory.db").display()), "sqlite", spaces, states);
}
