//! Hub throughput (issue 3, item 8): a hub on loopback (in-process axum server on 127.0.0.1,
//! SQLite store, space `default`) and client threads, each with its own in-memory replica, that make one small
//! change and run one sync round (`sync_via` over `HttpTransport`) after another. A round is
//! capabilities + pull + push: three HTTP requests, and one SQLite commit on the hub.
//!
//! `cargo bench -p statesync-hub` runs the criterion group (one client, one change per round),
//! then a timed pass that prints one `summary` line per configuration: syncs/s (completed
//! rounds per second, all clients together) and the median round latency. Under
//! `cargo test --benches` every configuration runs briefly (figures meaningless).
//! `STATESYNC_SUMMARY=0` skips the summary pass; `-- '^$'` runs it alone.

// The summary-line helpers shared with the core's benches.
#[path = "../../core/benches/report.rs"]
mod report;

use criterion::Criterion;
use report::{bench_mode, grouped};
use serde_json::json;
use statesync::{CreateOptions, Encoding, HttpTransport, ManagerConfig, SyncContext, SyncManager, SyncTransport};
use statesync_hub::identity::{Collections, SpaceId};
use statesync_hub::{Hub, PullScope, SqliteStore, Store};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// How long each configuration of the summary pass runs.
fn run_time() -> Duration {
    if bench_mode() {
        Duration::from_secs(3)
    } else {
        Duration::from_millis(200)
    }
}

/// A hub served on 127.0.0.1 by a runtime of its own; dropping it stops the server.
struct Served {
    url: String,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

fn serve() -> Served {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("hub.db")).expect("open the hub's store"));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    runtime.spawn(Hub::shared(store.clone()).serve(listener));
    Served { url, store, _dir: dir, _runtime: runtime }
}

/// The live states of the hub's space `default`.
fn live_states(store: &dyn Store) -> usize {
    let space = SpaceId::parse("default").expect("space");
    let (mut after, mut live) = (0, 0);
    loop {
        let scope = PullScope { after, readable: &Collections::All, wanted: &[], limit: 1000, max_bytes: usize::MAX };
        let page = store.pull(&space, &scope).expect("pull");
        live += page.states.iter().filter(|s| !s.deleted).count();
        after = page.next;
        if !page.has_more {
            return live;
        }
    }
}

fn client(node: &str) -> SyncManager {
    SyncManager::open(ManagerConfig::memory().node_id(node)).expect("open client")
}

/// One small change to one of the client's ten keys.
fn change(m: &SyncManager, node: &str, n: u64) {
    let id = format!("{node}/k{}", n % 10);
    let data = json!({"n": n, "note": "a small change"});
    if m.get_state(&id).expect("get").is_some() {
        m.update_state(&id, data).expect("update");
    } else {
        m.create_state(data, CreateOptions::id(id)).expect("create");
    }
}

/// What one timed run measured.
struct Figures {
    rounds: usize,
    syncs_per_s: f64,
    median_round: Duration,
    p99_round: Duration,
}

/// `clients` threads change and sync for `time`; every round must succeed.
fn throughput(served: &Served, clients: usize, encoding: Encoding, time: Duration) -> Figures {
    let start = Arc::new(Barrier::new(clients + 1));
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let (url, start) = (served.url.clone(), start.clone());
            thread::spawn(move || {
                let node = format!("client-{i:02}");
                let m = client(&node);
                let t = HttpTransport::new(&url).expect("url").encoding(encoding);
                let mut latencies = Vec::new();
                start.wait();
                let began = Instant::now();
                let mut n = 0;
                while began.elapsed() < time {
                    change(&m, &node, n);
                    let round = Instant::now();
                    m.sync_via(&t, &SyncContext::all()).expect("round");
                    latencies.push(round.elapsed());
                    n += 1;
                }
                (latencies, began.elapsed())
            })
        })
        .collect();
    start.wait();
    let mut latencies = Vec::new();
    let mut longest = Duration::ZERO;
    for t in threads {
        let (l, took) = t.join().expect("client");
        latencies.extend(l);
        longest = longest.max(took);
    }
    latencies.sort();
    Figures {
        rounds: latencies.len(),
        syncs_per_s: latencies.len() as f64 / longest.as_secs_f64(),
        median_round: latencies[latencies.len() / 2],
        p99_round: latencies[latencies.len() * 99 / 100],
    }
}

fn line(name: &str, f: &Figures) {
    println!(
        "summary {name:<46} {:>12} syncs/s    round median {:>6.2} ms, p99 {:>6.2} ms ({} rounds)",
        grouped(f.syncs_per_s),
        f.median_round.as_secs_f64() * 1e3,
        f.p99_round.as_secs_f64() * 1e3,
        f.rounds
    );
}

fn summary() {
    println!();
    println!(
        "summary: hub on 127.0.0.1 (SQLite store), clients with in-memory replicas, one change + one sync_via \
         round per iteration, {:.1} s per line{}",
        run_time().as_secs_f64(),
        if bench_mode() { "" } else { " (test mode: figures meaningless)" }
    );
    for (name, clients, encoding) in [
        ("hub 20 clients binary, sqlite store", 20, Encoding::Binary),
        ("hub 20 clients JSON, sqlite store", 20, Encoding::Json),
        ("hub 1 client binary, sqlite store", 1, Encoding::Binary),
    ] {
        let served = serve();
        let figures = throughput(&served, clients, encoding, run_time());
        // Every client's ten keys reached the hub (once each client made ten changes).
        let held = live_states(&*served.store);
        assert!(held >= clients.min(figures.rounds), "the hub holds {held} states");
        line(name, &figures);
    }
}

fn one_client_rounds(c: &mut Criterion) {
    let served = serve();
    let m = client("solo");
    let t = HttpTransport::new(&served.url).expect("url").encoding(Encoding::Binary);
    t.capabilities().expect("hub up");
    let mut g = c.benchmark_group("hub");
    g.sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    let mut n = 0;
    g.bench_function("one client: change + sync round", |b| {
        b.iter(|| {
            change(&m, "solo", n);
            n += 1;
            m.sync_via(&t, &SyncContext::all()).expect("round")
        })
    });
    g.finish();
}

fn main() {
    report::run(&[one_client_rounds], summary);
}
