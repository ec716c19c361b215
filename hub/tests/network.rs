//! Real network, real process, real crashes (issue 3, item 7).
//!
//! The `statesync-hub` binary serves a SQLite store (`--store sqlite:PATH`) on 127.0.0.1 (port 0). 20 client threads,
//! each with its own replica (even ones in memory, odd ones on SQLite), make random writes —
//! creates, updates and deletes, most of them on ids every client shares, so there are
//! concurrent versions to settle — and run sync rounds over HTTP (`sync_via` with
//! `HttpTransport`, JSON or binary, some with small pages). Twice during the run the hub is
//! killed with SIGKILL and restarted on the same database (on a new port, which the clients
//! pick up through a shared URL); rounds fail while it is down and are simply retried.
//!
//! After the run every client syncs until a whole pass moves nothing, and the test asserts:
//! 1. every round of that healing phase succeeds, and the passes go quiet (bounded count);
//! 2. the hub and the 20 clients hold identical states, tombstones included (whole
//!    `SyncState`s: id, collection, data, clock, timestamp, version, hash, deleted);
//! 3. no acknowledged write is lost: for every write a client made that returned `Ok`, the
//!    final state of that id exists and its clock dominates (is equal to or after) the
//!    write's clock; and every final value, on the hub and on each client, is the
//!    last-writer-wins model's: the data (or deletion) of the acknowledged write with the
//!    greatest `(timestamp, node)` to that id, with that write's timestamp (every id the
//!    replicas hold was written, and every id written is held);
//! 4. no client keeps pending operations: the hub accepted everything;
//! 5. the crashes really happened mid-traffic: some rounds failed, and every client also
//!    completed rounds;
//! 6. the hub stops cleanly on SIGTERM (exit status 0) and its store reopens.
//!
//! Bounded: the run lasts `RUN` (about 12 s) and at most `MAX_ITERATIONS` per client; every
//! request has a timeout; the whole test takes about 20 s.

use serde_json::{json, Value};
use statesync::{
    CreateOptions, Encoding, HttpTransport, ManagerConfig, SyncContext, SyncManager, SyncState, Timestamp, VectorClock,
};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, RwLock};
use std::thread;
use std::time::{Duration, Instant};

mod support;

const CLIENTS: usize = 20;
const RUN: Duration = Duration::from_secs(12);
const MAX_ITERATIONS: usize = 300;
/// Ids every client writes to: most writes land here, so versions are concurrent.
const SHARED_KEYS: u64 = 40;
/// When the hub is killed, counted from the start of the run; it restarts after `DOWN`.
const KILLS: [Duration; 2] = [Duration::from_millis(3_500), Duration::from_millis(8_000)];
const DOWN: Duration = Duration::from_millis(1_200);
const HEALING_PASSES: usize = 10;

/// A small deterministic PRNG (xorshift64*), one per thread: no dependency needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The running hub process and where it listens.
struct HubProcess {
    child: Child,
    url: String,
}

/// A test that fails leaves no hub running behind it.
impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_hub(db: &Path) -> HubProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_statesync-hub"))
        .args(["--store", &format!("sqlite:{}", db.to_str().expect("utf-8 path")), "--listen", "127.0.0.1:0"])
        // Thousands of requests: only warnings and errors reach the test's output.
        .env("STATESYNC_HUB_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn statesync-hub");
    let stdout = child.stdout.take().expect("stdout");
    // Read the start line on a thread so a hub that never prints cannot hang the test; the same
    // thread then drains stdout until the process ends.
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(first)) = lines.next() {
            let _ = tx.send(first);
        }
        for _ in lines {}
    });
    let line = match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            panic!("statesync-hub printed no start line");
        }
    };
    let url = line
        .strip_prefix("statesync-hub listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected start line {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    HubProcess { child, url }
}

/// A write that returned `Ok`.
struct Acked {
    id: String,
    /// The clock and timestamp of the version it made.
    clock: VectorClock,
    timestamp: Timestamp,
    /// What it asked the state to hold; `None` for a delete.
    data: Option<Value>,
}

/// What one client thread leaves behind.
struct Client {
    manager: SyncManager,
    node: String,
    /// Every write that returned `Ok`.
    writes: Vec<Acked>,
    rounds_ok: u64,
    rounds_failed: u64,
    /// The last error of a failed round, for the failure messages.
    last_error: Option<String>,
}

fn open_client(i: usize, dir: &Path) -> (SyncManager, String) {
    let node = format!("client-{i:02}");
    let config = if i.is_multiple_of(2) {
        ManagerConfig::memory()
    } else {
        ManagerConfig::sqlite(dir.join(format!("{node}.db")))
    };
    (SyncManager::open(config.node_id(&node)).expect("open client"), node)
}

fn transport(url: &str, i: usize) -> HttpTransport {
    let encoding = if i.is_multiple_of(3) { Encoding::Binary } else { Encoding::Json };
    HttpTransport::new(url).expect("url").timeout(Duration::from_secs(5)).encoding(encoding)
}

/// Clients 4, 9, 14 and 19 sync in pages of 7, the others in the hub's pages.
fn context(i: usize) -> SyncContext {
    if i % 5 == 4 {
        SyncContext::all().with_limit(7)
    } else {
        SyncContext::all()
    }
}

/// One random write; returns it, or `None` if it failed.
fn random_write(m: &SyncManager, node: &str, rng: &mut Rng, n: usize) -> Option<Acked> {
    // An id always lives in the same collection (the collection is part of its identity).
    let (id, collection) = if rng.below(10) < 7 {
        let k = rng.below(SHARED_KEYS);
        (format!("k{k}"), if k.is_multiple_of(2) { "even" } else { "odd" })
    } else {
        (format!("{node}-{}", rng.below(10)), "own")
    };
    let data = json!({"by": node, "n": n, "r": rng.below(1_000_000)});
    let (written, data) = match m.get_state(&id).expect("get") {
        Some(_) if rng.below(5) == 0 => (m.delete_state(&id), None),
        Some(_) => (m.update_state(&id, data.clone()), Some(data)),
        None => (m.create_state(data.clone(), CreateOptions::id(id).in_collection(collection)), Some(data)),
    };
    let state: Arc<SyncState> = written.ok()?;
    assert_eq!(
        (!state.deleted).then_some(&state.data),
        data.as_ref(),
        "{node}'s write of {} holds what it wrote",
        state.id
    );
    Some(Acked { id: state.id.clone(), clock: state.clock.clone(), timestamp: state.timestamp.clone(), data })
}

fn run_client(i: usize, dir: PathBuf, url: Arc<RwLock<String>>, start: Instant) -> Client {
    let (manager, node) = open_client(i, &dir);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((i as u64 + 1) * 0x1000_0001));
    let mut client = Client { manager, node, writes: Vec::new(), rounds_ok: 0, rounds_failed: 0, last_error: None };
    for n in 0..MAX_ITERATIONS {
        if start.elapsed() >= RUN {
            break;
        }
        for _ in 0..=rng.below(3) {
            if let Some(write) = random_write(&client.manager, &client.node, &mut rng, n) {
                client.writes.push(write);
            }
        }
        let current = url.read().expect("url").clone();
        match client.manager.sync_via(&transport(&current, i), &context(i)) {
            Ok(_) => client.rounds_ok += 1,
            Err(e) => {
                // Expected while the hub is down: retried on the next iteration.
                client.rounds_failed += 1;
                client.last_error = Some(e.to_string());
                thread::sleep(Duration::from_millis(100));
            }
        }
        thread::sleep(Duration::from_millis(10 + rng.below(30)));
    }
    client
}

fn changed(r: &statesync::ReconciliationResult) -> u64 {
    r.created + r.updated + r.conflicts
}

#[test]
fn twenty_clients_converge_through_a_hub_that_crashes() {
    let began = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("hub.db");
    let mut hub = start_hub(&db);
    let url = Arc::new(RwLock::new(hub.url.clone()));

    let start = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (dir, url) = (dir.path().to_owned(), url.clone());
            thread::spawn(move || run_client(i, dir, url, start))
        })
        .collect();

    let mut restarts = 0;
    for at in KILLS {
        thread::sleep(at.saturating_sub(start.elapsed()));
        // SIGKILL: no shutdown, requests in flight are cut wherever they are.
        hub.child.kill().expect("kill the hub");
        hub.child.wait().expect("reap the hub");
        thread::sleep(DOWN);
        hub = start_hub(&db);
        *url.write().expect("url") = hub.url.clone();
        restarts += 1;
    }
    let clients: Vec<Client> = threads.into_iter().map(|t| t.join().expect("client thread")).collect();
    let run_took = start.elapsed();

    // (5) The crashes hit live traffic, and every client got through between them.
    let failed: u64 = clients.iter().map(|c| c.rounds_failed).sum();
    let ok: u64 = clients.iter().map(|c| c.rounds_ok).sum();
    let writes: usize = clients.iter().map(|c| c.writes.len()).sum();
    assert_eq!(restarts, KILLS.len());
    assert!(failed > 0, "no round failed: the hub was not down while clients synced");
    for c in &clients {
        assert!(c.rounds_ok > 0, "{} never completed a round: {:?}", c.node, c.last_error);
    }

    // (1) Healing: every client syncs, in turn, until a whole pass moves nothing.
    let healed_url = hub.url.clone();
    let mut passes = 0;
    loop {
        passes += 1;
        let mut moved = 0;
        for (i, c) in clients.iter().enumerate() {
            let report = c
                .manager
                .sync_via(&transport(&healed_url, i), &context(i))
                .unwrap_or_else(|e| panic!("{}: healing round failed: {e}", c.node));
            moved += changed(&report.pulled) + changed(&report.pushed);
        }
        if moved == 0 {
            break;
        }
        assert!(passes < HEALING_PASSES, "still moving {moved} states after {passes} passes");
    }

    // (6) A clean stop on SIGTERM, then the hub's store reopens with everything in it.
    let status = Command::new("kill").args(["-TERM", &hub.child.id().to_string()]).status().expect("kill -TERM");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = hub.child.try_wait().expect("wait") {
            break exit;
        }
        if Instant::now() > deadline {
            let _ = hub.child.kill();
            panic!("the hub did not stop on SIGTERM");
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "hub exit status {exit:?}");
    let store = statesync_hub::SqliteStore::open(&db).expect("reopen the hub's store");
    let expected = support::space_states(&store, "default");

    // (2) One state everywhere.
    assert!(!expected.is_empty());
    for c in &clients {
        let got = c.manager.export_state().expect("export").states;
        if got != expected {
            let differing: Vec<_> = expected
                .iter()
                .zip(&got)
                .filter(|(a, b)| a != b)
                .map(|(a, b)| format!("hub {a:?}\n{} {b:?}", c.node))
                .take(3)
                .collect();
            panic!(
                "{} differs from the hub ({} vs {} states):\n{}",
                c.node,
                got.len(),
                expected.len(),
                differing.join("\n")
            );
        }
    }

    // (3) Every acknowledged write is present or superseded...
    let by_id: std::collections::HashMap<&str, &SyncState> = expected.iter().map(|s| (s.id.as_str(), s)).collect();
    for c in &clients {
        for w in &c.writes {
            let id = &w.id;
            let state = by_id.get(id.as_str()).unwrap_or_else(|| panic!("{}'s write to {id} is lost", c.node));
            assert!(
                state.clock.dominates(&w.clock),
                "{}'s write to {id} ({:?}) is not in the final version ({:?})",
                c.node,
                w.clock,
                state.clock
            );
        }
    }
    // ... and every replica holds the last writer's value of every id.
    let mut winners: BTreeMap<&str, &Acked> = BTreeMap::new();
    for w in clients.iter().flat_map(|c| &c.writes) {
        let best = winners.entry(w.id.as_str()).or_insert(w);
        if w.timestamp > best.timestamp {
            *best = w;
        }
    }
    let replicas = std::iter::once(("hub", expected.clone()))
        .chain(clients.iter().map(|c| (c.node.as_str(), c.manager.export_state().expect("export").states)));
    for (name, states) in replicas {
        let mut ids: Vec<&str> = states.iter().map(|s| s.id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, winners.keys().copied().collect::<Vec<_>>(), "{name} holds exactly the ids written");
        for s in &states {
            let w = winners[s.id.as_str()];
            assert_eq!(
                ((!s.deleted).then_some(&s.data), &s.timestamp),
                (w.data.as_ref(), &w.timestamp),
                "{name}'s {} is not the last write's value (last-writer-wins)",
                s.id
            );
        }
    }

    // (4) Nothing is left to deliver.
    for c in &clients {
        let pending = c.manager.pending_operations().expect("pending");
        assert!(pending.is_empty(), "{} keeps {} pending operations: {:?}", c.node, pending.len(), pending.first());
    }

    println!(
        "network: {CLIENTS} clients, {writes} acknowledged writes, {ok} rounds ok, {failed} failed during 2 hub \
         crashes, run {:.1} s, healed in {passes} passes, {} states converged; total {:.1} s",
        run_took.as_secs_f64(),
        expected.len(),
        began.elapsed().as_secs_f64()
    );
}
