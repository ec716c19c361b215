//! Crash safety of the SQLite store: a child process writing to a database is killed with
//! SIGKILL at random moments, round after round on the same file, and after every kill the store
//! must reopen cleanly with every write the child saw acknowledged.
//!
//! The parent test (`sigkill_at_random_moments_loses_no_acknowledged_write`) re-runs this test
//! binary with arguments selecting the ignored `crash_child` test, passing the database path and
//! a seed in environment variables. The child performs a seeded stream of creates, updates,
//! deletes, re-creates, acknowledgements and (committed or aborted) write batches, and after each
//! call returns `Ok` prints one `@@ {json}` line and flushes. Before acknowledging it also prints
//! the op ids it is about to acknowledge, so the parent knows which operations may legitimately be
//! gone from the pending queue even if the kill came before the confirmation.
//!
//! Each round's seed is derived from a base seed (`STATESYNC_CRASH_SEED` overrides it) and
//! printed on failure; the kill instant is random but also derived from the seed, so only the
//! timing of the child relative to the kill differs between runs.
#![cfg(feature = "sqlite")]

#[path = "support/rng.rs"]
mod rng;

use rng::Rng;
use serde_json::{json, Value};
use statesync::{CreateOptions, Durability, ManagerConfig, OperationKind, SyncManager, SyncState};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const DB_ENV: &str = "STATESYNC_CRASH_CHILD_DB";
const SEED_ENV: &str = "STATESYNC_CRASH_CHILD_SEED";
const BASE_SEED_ENV: &str = "STATESYNC_CRASH_SEED";
const DEFAULT_BASE_SEED: u64 = 0x5eed_c4a5_11f0_2024;
const ROUNDS: u64 = 100;
const NODE: &str = "writer";
/// State ids `s0`..`s7`; even ones in collection `c0`, odd ones in `c1`.
const KEYS: u64 = 8;
/// The child stops by itself after this many calls if it is somehow never killed.
const MAX_CHILD_CALLS: u64 = 5_000;
const LINE_PREFIX: &str = "@@ ";

fn round_seed(base: u64, round: u64) -> u64 {
    Rng(base ^ round.wrapping_mul(0xd1b5_4a32_d192_ed03)).next_u64()
}

fn key_id(key: u64) -> String {
    format!("s{key}")
}

fn collection_of(key: u64) -> &'static str {
    if key.is_multiple_of(2) {
        "c0"
    } else {
        "c1"
    }
}

fn op_counter(op_id: &str) -> u64 {
    op_id
        .strip_prefix("writer:")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("op id {op_id:?} is not writer:<counter>"))
}

// ---- the child --------------------------------------------------------------------------------

fn report(line: &Value) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{LINE_PREFIX}{line}").expect("stdout");
    out.flush().expect("stdout");
}

fn report_write(s: &SyncState) {
    report(&json!({
        "t": "w",
        "id": s.id,
        "version": s.version,
        "hash": s.hash,
        "deleted": s.deleted,
        "op": format!("{NODE}:{}", s.clock.get(NODE)),
        "ts": [s.timestamp.millis, s.timestamp.counter],
    }));
}

fn random_data(rng: &mut Rng, n: u64) -> Value {
    // Sizes from a few bytes to several pages, so commits span a varying number of WAL frames.
    let pad = "x".repeat(match rng.below(4) {
        0 => 0,
        1 => rng.below(64) as usize,
        2 => rng.below(2_000) as usize,
        _ => rng.below(9_000) as usize,
    });
    match rng.below(5) {
        0 => json!([n, pad.len(), null]),
        1 => json!(n),
        _ => json!({"n": n, "pad": pad, "nested": {"flag": rng.chance(50), "list": [n % 3, null]}}),
    }
}

/// Whether the next write of an id puts data (update a live id, create a missing one,
/// re-create a deleted one) rather than deleting it (live ids only).
fn puts(rng: &mut Rng, live: bool) -> bool {
    !live || rng.chance(70)
}

#[test]
#[ignore = "the child process of sigkill_at_random_moments_loses_no_acknowledged_write"]
fn crash_child() {
    let Ok(path) = std::env::var(DB_ENV) else {
        return;
    };
    let seed: u64 = std::env::var(SEED_ENV).expect("seed").parse().expect("numeric seed");
    let mut rng = Rng(seed);
    // A process crash (unlike a power loss) must be survived with either durability.
    let durability = if rng.chance(50) { Durability::Full } else { Durability::Normal };
    let m = SyncManager::open(ManagerConfig::sqlite(&path).node_id(NODE).durability(durability)).expect("child open");
    report(&json!({"t": "open"}));
    for n in 0..MAX_CHILD_CALLS {
        let roll = rng.below(100);
        if roll < 55 {
            let key = rng.below(KEYS);
            let id = key_id(key);
            let live = m.get_state(&id).expect("get").is_some();
            let s = match (puts(&mut rng, live), live) {
                (true, true) => m.update_state(&id, random_data(&mut rng, n)).expect("update"),
                (true, false) => m
                    .create_state(random_data(&mut rng, n), CreateOptions::id(id).in_collection(collection_of(key)))
                    .expect("create"),
                (false, _) => m.delete_state(&id).expect("delete"),
            };
            report_write(&s);
        } else if roll < 70 {
            // Several writes committed together (some ids possibly written twice).
            let count = 2 + rng.below(3);
            let written = m
                .write_batch(|b| {
                    let mut out = Vec::new();
                    for _ in 0..count {
                        let key = rng.below(KEYS);
                        let id = key_id(key);
                        let live = b.get_state(&id).is_some();
                        out.push(match (puts(&mut rng, live), live) {
                            (true, true) => b.update_state(&id, random_data(&mut rng, n))?,
                            (true, false) => b.create_state(
                                random_data(&mut rng, n),
                                CreateOptions::id(id).in_collection(collection_of(key)),
                            )?,
                            (false, _) => b.delete_state(&id)?,
                        });
                    }
                    Ok(out)
                })
                .expect("write_batch");
            for s in &written {
                report_write(s);
            }
        } else if roll < 75 {
            // A batch that fails after writing: nothing of it may be committed.
            let before = m.export_state().expect("export").to_json();
            let key = rng.below(KEYS);
            let err = m
                .write_batch(|b| {
                    let id = key_id(key);
                    match b.get_state(&id) {
                        Some(_) => b.update_state(&id, json!({"aborted": n}))?,
                        None => b.create_state(
                            json!({"aborted": n}),
                            CreateOptions::id(id).in_collection(collection_of(key)),
                        )?,
                    };
                    // Creating a live id fails: the whole batch must roll back.
                    b.create_state(json!(0), CreateOptions::id(key_id(key)).in_collection(collection_of(key)))
                })
                .expect_err("a batch re-creating a live id fails");
            assert_eq!(err.code(), "ALREADY_EXISTS");
            assert_eq!(m.export_state().expect("export").to_json(), before, "an aborted batch changed the replica");
        } else {
            let pending = m.pending_operations().expect("pending");
            let mut ids: Vec<String> = pending.iter().filter(|_| rng.chance(60)).map(|op| op.op_id.clone()).collect();
            if rng.chance(20) {
                ids.push(format!("{NODE}:{}", u64::MAX / 2)); // unknown ids are ignored
            }
            report(&json!({"t": "ack?", "ops": ids}));
            let dropped = m.acknowledge(&ids).expect("acknowledge");
            report(&json!({"t": "ack", "ops": ids, "dropped": dropped}));
        }
    }
}

// ---- the parent -------------------------------------------------------------------------------

/// The latest write of an id the child reported as acknowledged.
#[derive(Clone, Debug)]
struct Reported {
    version: u64,
    hash: String,
    deleted: bool,
}

/// What the parent knows from every round so far.
#[derive(Default)]
struct Model {
    /// Per id, the highest-version write reported.
    latest: BTreeMap<String, Reported>,
    /// Ops of reported writes.
    written_ops: HashSet<String>,
    /// Ops whose acknowledgement returned Ok.
    acked: HashSet<String>,
    /// Ops the child was about to acknowledge (the call may or may not have committed).
    maybe_acked: HashSet<String>,
    /// Highest op counter seen anywhere (reported, or found pending / in a state clock on reopen):
    /// every later write must use a greater one.
    max_counter: u64,
    /// Newest timestamp seen anywhere: every later write must be newer.
    max_ts: (u64, u64),
    /// Every state found at the last reopen: committed, so never lost or rolled back later.
    durable: HashMap<String, (u64, String)>,
}

impl Model {
    fn absorb(&mut self, line: &Value) -> Result<(), String> {
        match line["t"].as_str() {
            Some("open") => Ok(()),
            Some("w") => {
                let id = line["id"].as_str().ok_or("write without id")?.to_owned();
                let op = line["op"].as_str().ok_or("write without op")?.to_owned();
                let version = line["version"].as_u64().ok_or("write without version")?;
                let counter = op_counter(&op);
                if counter <= self.max_counter {
                    return Err(format!("write {op} reuses or goes back from counter {}", self.max_counter));
                }
                self.max_counter = counter;
                let ts = (line["ts"][0].as_u64().unwrap_or(0), line["ts"][1].as_u64().unwrap_or(0));
                if ts <= self.max_ts {
                    return Err(format!("write {op} has timestamp {ts:?}, not after {:?}", self.max_ts));
                }
                self.max_ts = ts;
                let reported = Reported {
                    version,
                    hash: line["hash"].as_str().ok_or("write without hash")?.to_owned(),
                    deleted: line["deleted"].as_bool().ok_or("write without deleted")?,
                };
                if let Some(prev) = self.latest.get(&id) {
                    if version <= prev.version {
                        return Err(format!("write {op} of {id} has version {version}, not after {}", prev.version));
                    }
                }
                self.latest.insert(id, reported);
                self.written_ops.insert(op);
                Ok(())
            }
            Some("ack?") => {
                for op in line["ops"].as_array().ok_or("ack without ops")? {
                    self.maybe_acked.insert(op.as_str().ok_or("op id")?.to_owned());
                }
                Ok(())
            }
            Some("ack") => {
                for op in line["ops"].as_array().ok_or("ack without ops")? {
                    self.acked.insert(op.as_str().ok_or("op id")?.to_owned());
                }
                Ok(())
            }
            other => Err(format!("unknown line type {other:?}")),
        }
    }

    /// Reopens the store after a kill and checks everything it must have kept.
    fn check_store(&mut self, path: &Path) -> Result<(), String> {
        let m = SyncManager::open(ManagerConfig::sqlite(path)).map_err(|e| format!("reopen failed: {e}"))?;
        let result = self.check_manager(&m);
        m.close().map_err(|e| format!("close failed: {e}"))?;
        result
    }

    fn check_manager(&mut self, m: &SyncManager) -> Result<(), String> {
        let node = m.node_id().map_err(|e| e.to_string())?;
        if node != NODE {
            return Err(format!("node id changed to {node:?}"));
        }
        let states: HashMap<String, Arc<SyncState>> =
            m.list_states(None, true).map_err(|e| e.to_string())?.into_iter().map(|s| (s.id.clone(), s)).collect();

        // Every reported write is there, or superseded by a later (unreported) one.
        for (id, w) in &self.latest {
            let s = states.get(id).ok_or_else(|| format!("acknowledged state {id} is missing"))?;
            if s.version < w.version {
                return Err(format!("{id}: stored version {} is older than acknowledged {}", s.version, w.version));
            }
            if s.version == w.version && (s.hash != w.hash || s.deleted != w.deleted) {
                return Err(format!(
                    "{id} v{}: stored hash {} deleted {} but acknowledged hash {} deleted {}",
                    s.version, s.hash, s.deleted, w.hash, w.deleted
                ));
            }
        }
        // Nothing committed earlier is lost or rolled back by a later crash.
        for (id, (version, hash)) in &self.durable {
            let s = states.get(id).ok_or_else(|| format!("state {id}, stored at the last reopen, is missing"))?;
            if s.version < *version || (s.version == *version && s.hash != *hash) {
                return Err(format!("{id} went back from v{version} ({hash}) to v{} ({})", s.version, s.hash));
            }
        }

        // The pending queue matches the states.
        let pending = m.pending_operations().map_err(|e| e.to_string())?;
        let mut newest_per_id: HashMap<&str, &statesync::SyncOperation> = HashMap::new();
        let mut prev_counter = 0;
        for op in &pending {
            let counter = op_counter(&op.op_id);
            if counter <= prev_counter {
                return Err(format!("pending queue out of order: {} after counter {prev_counter}", op.op_id));
            }
            prev_counter = counter;
            if op.clock.get(NODE) != counter || op.node_id != NODE {
                return Err(format!("operation {} has clock {:?}, node {}", op.op_id, op.clock, op.node_id));
            }
            if self.acked.contains(&op.op_id) {
                return Err(format!("acknowledged operation {} is pending again", op.op_id));
            }
            let s =
                states.get(&op.state_id).ok_or_else(|| format!("{} writes missing state {}", op.op_id, op.state_id))?;
            if s.collection != op.collection {
                return Err(format!("{}: collection {} but state has {}", op.op_id, op.collection, s.collection));
            }
            newest_per_id.insert(&op.state_id, op);
        }
        for (id, op) in &newest_per_id {
            let s = &states[*id];
            if !s.clock.dominates(&op.clock) {
                return Err(format!(
                    "newest pending op {} of {id} is ahead of the state: {:?} vs {:?}",
                    op.op_id, op.clock, s.clock
                ));
            }
            if s.clock == op.clock {
                let op_deleted = op.kind == OperationKind::Delete;
                if op.data != s.data || op_deleted != s.deleted || op.timestamp != s.timestamp {
                    return Err(format!("{}: newest pending op and state {id} disagree on the write", op.op_id));
                }
            }
        }
        let pending_ids: HashSet<&str> = pending.iter().map(|op| op.op_id.as_str()).collect();
        for op in &self.written_ops {
            if !self.maybe_acked.contains(op) && !pending_ids.contains(op.as_str()) {
                return Err(format!("operation {op} of an acknowledged write vanished from the queue"));
            }
        }

        // Remember what was committed, and how far the counters went, for the next rounds.
        for s in states.values() {
            self.max_counter = self.max_counter.max(s.clock.get(NODE));
            self.max_ts = self.max_ts.max((s.timestamp.millis, s.timestamp.counter as u64));
            if s.clock.iter().any(|(n, _)| n != NODE) || s.modified_by != NODE {
                return Err(format!("state {} claims a write by another node: {}", s.id, s.to_json()));
            }
        }
        self.max_counter = self.max_counter.max(prev_counter);
        self.durable = states.values().map(|s| (s.id.clone(), (s.version, s.hash.clone()))).collect();
        Ok(())
    }
}

/// The JSON of a reported line. libtest may print `test crash_child ... ` in front of the first
/// one, so the prefix is searched rather than expected at the start.
fn payload(line: &str) -> Option<&str> {
    line.split_once(LINE_PREFIX).map(|(_, json)| json)
}

/// Runs one child against `path`, kills it at a moment chosen by `seed`, and returns the
/// reported lines (complete ones only).
fn run_child_and_kill(path: &Path, seed: u64) -> Result<Vec<Value>, String> {
    let mut rng = Rng(seed ^ 0x6b69_6c6c);
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(["crash_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(DB_ENV, path)
        .env(SEED_ENV, seed.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawning the child: {e}"))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match stdout.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                // A line cut short by the kill was never acknowledged to the child's caller.
                Ok(_) if line.ends_with('\n') => {
                    if tx.send(line.trim_end().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => break,
            }
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let mut lines = Vec::new();
    // Most rounds kill a while after the child opened the store (mid-stream); some kill soon
    // after spawning, possibly while it opens or recovers the database.
    let early = rng.chance(20);
    let delay = Duration::from_micros(if early { rng.below(30_000) } else { 1_000 + rng.below(60_000) });
    let start = Instant::now();
    if !early {
        let deadline = start + Duration::from_secs(10);
        while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            let opened = payload(&line) == Some(r#"{"t":"open"}"#);
            lines.push(line);
            if opened {
                break;
            }
        }
    }
    let kill_at = Instant::now() + delay;
    std::thread::sleep(kill_at.saturating_duration_since(Instant::now()));
    let exited_first = child.try_wait().map_err(|e| e.to_string())?;
    let _ = child.kill(); // SIGKILL
    let status = child.wait().map_err(|e| e.to_string())?;
    reader.join().expect("stdout reader");
    lines.extend(rx.try_iter());
    let stderr_text = err_reader.join().expect("stderr reader");
    if let Some(st) = exited_first {
        if !st.success() {
            return Err(format!("the child failed before it was killed ({st}):\n{stderr_text}"));
        }
    } else if status.success() {
        return Err("the child exited successfully although it was killed".into());
    }
    lines
        .iter()
        .filter_map(|l| payload(l))
        .map(|l| serde_json::from_str(l).map_err(|e| format!("unreadable child line {l:?}: {e}")))
        .collect()
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_write() {
    let base: u64 = std::env::var(BASE_SEED_ENV).ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_BASE_SEED);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crash.db");
    let mut model = Model::default();
    let mut total_writes = 0;
    for round in 0..ROUNDS {
        let seed = round_seed(base, round);
        let context = || format!("round {round} (child seed {seed}, base seed {BASE_SEED_ENV}={base})");
        let lines = run_child_and_kill(&path, seed).unwrap_or_else(|e| panic!("{}: {e}", context()));
        for line in &lines {
            model.absorb(line).unwrap_or_else(|e| panic!("{}: child reported {line}: {e}", context()));
        }
        total_writes += lines.iter().filter(|l| l["t"] == "w").count();
        model.check_store(&path).unwrap_or_else(|e| panic!("{}: after the kill: {e}", context()));
    }
    // The rounds must have done real work, or the test proves nothing.
    assert!(total_writes >= ROUNDS as usize, "only {total_writes} acknowledged writes in {ROUNDS} rounds");
    assert!(!model.latest.is_empty());
}
