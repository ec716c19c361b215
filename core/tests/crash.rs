//! Crash safety of the SQLite store: a child process using a database is killed with SIGKILL
//! (no destructor, no flush runs in it) at random instants, round after round on the same file,
//! and after every kill the parent reopens the store and checks what it must have kept.
//!
//! Both parent tests re-run this test binary with arguments selecting an ignored child test,
//! passing the database path (and a seed, or a plan) in environment variables. Children report
//! what they do on stdout, one `@@ {json}` line per event, flushed at once.
//!
//! **Local writes** (`sigkill_at_random_moments_loses_no_acknowledged_write`, child
//! `crash_child`): a seeded stream of creates, updates, deletes, re-creates, acknowledgements
//! and (committed or aborted) write batches, one line after each call returns `Ok`. Before
//! acknowledging the child also prints the op ids it is about to acknowledge, so the parent knows
//! which operations may legitimately be gone from the pending queue even if the kill came before
//! the confirmation. The store must reopen with every write the child saw acknowledged.
//!
//! **Sync calls** (`sigkill_inside_sync_calls_keeps_cursor_conflicts_and_imports_whole`, child
//! `sync_crash_child`): a client replica (manual conflicts in two collections, last-write-wins and
//! local-wins in two more) pulls from a peer that the parent holds in memory and changes between
//! rounds, sometimes after taking the client's versions; a relay (also in the parent) writes the
//! same states and reaches the client only through `reconcile`. Each round the parent writes a
//! plan: the peer's feed from the client's stored cursor in pages of random size, the relay's new
//! pages, pages of earlier rounds to deliver late, an earlier export of the client (a backup),
//! and the call to kill. The child runs a seeded script of `apply_changes` (each page only when
//! it follows the stored cursor), `reconcile` (the relay's pages, late pages, parts of pages not
//! applied yet, duplicates), `resolve_conflict`, `import_state(backup, replace = true)`, write
//! batches and acknowledgements, with a manual clock so that every call is deterministic. Before
//! the target call it waits for the parent's go; the parent then SIGKILLs it either after a
//! random share of the call's expected duration (learnt from the calls that returned, per unit
//! of size) or, on Linux, a random short while after the child took SQLite's WAL write lock,
//! that is inside the call's transaction (seen in `/proc/<pid>/fdinfo`; elsewhere every kill is
//! timed). Some kills come after the call, in the gap before the next one. After each kill the
//! parent checks that:
//!
//! * the database reopens;
//! * it is exactly what the same calls make of a copy of the database taken before the round,
//!   replayed uncrashed: all of every call that returned, and all or nothing of the one in
//!   flight; in particular a replace-import in flight left exactly the old content or exactly
//!   the snapshot (states, pending operations and conflicts);
//! * the stored cursor never runs ahead: every state of the peer's feed up to it is here, or
//!   superseded (a version here, or a recorded conflict, has seen it);
//! * no conflict is lost or duplicated: in a manual collection there is exactly one per newest
//!   delivered remote version that the stored version has not seen, and none for a version
//!   another delivered one has seen; elsewhere none, and every delivered version is seen;
//! * the replica takes a write, with an operation counter never used before.
//!
//! A failure says whether the uncrashed replay breaks the same promise (then the crash is not
//! the cause). The run must also have killed each of `apply_changes`, `reconcile`,
//! `resolve_conflict` and the replace-import in flight, and (on Linux) inside its transaction, a
//! few times each; the counts are printed at the end (`--nocapture`).
//!
//! **Seeds and length.** Every round's seed derives from a base seed (`STATESYNC_CRASH_SEED`
//! overrides it) and is printed on failure with the round; the plans, scripts and kill instants
//! derive from it, so a run replays exactly but for the timing of the child against the kill
//! (which decides whether the call in flight committed, so later rounds may differ).
//! `STATESYNC_CRASH_SCALE=<n>` runs n times as many rounds of both harnesses, for a longer run
//! by hand (`STATESYNC_CRASH_SCALE=20 cargo test -p statesync --test crash -- --nocapture`).
#![cfg(feature = "sqlite")]

#[path = "support/rng.rs"]
mod rng;
#[path = "support/sync_crash.rs"]
mod sync_crash;

use rng::Rng;
use serde_json::{json, Value};
use statesync::{
    ChangeSet, CreateOptions, Durability, ManagerConfig, ManualClock, OperationKind, Snapshot, SyncContext,
    SyncManager, SyncState,
};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use sync_crash::{
    check_promises, client_config, wal_uncommitted_frames, Content, Delivered, Effect, Kind, Plan, PlannedPage, Script,
    CLIENT, PEER,
};

const DB_ENV: &str = "STATESYNC_CRASH_CHILD_DB";
const SEED_ENV: &str = "STATESYNC_CRASH_CHILD_SEED";
const PLAN_ENV: &str = "STATESYNC_CRASH_CHILD_PLAN";
const BASE_SEED_ENV: &str = "STATESYNC_CRASH_SEED";
const SCALE_ENV: &str = "STATESYNC_CRASH_SCALE";
const DEFAULT_BASE_SEED: u64 = 0x5eed_c4a5_11f0_2024;
const ROUNDS: u64 = 100;
const NODE: &str = "writer";
/// State ids `s0`..`s7`; even ones in collection `c0`, odd ones in `c1`.
const KEYS: u64 = 8;
/// The child stops by itself after this many calls if it is somehow never killed.
const MAX_CHILD_CALLS: u64 = 5_000;
const LINE_PREFIX: &str = "@@ ";

/// Held while this process spawns a child, and while a parent has a database open. A spawned
/// process starts with copies of every descriptor of this one and keeps them until it has
/// executed (the descriptors are close-on-exec): spawned while the other test in this file holds
/// a store's lock file, it would hold that lock on after the store is closed, and the next child
/// of that test would find its database "open in another replica".
static DESCRIPTORS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes [`DESCRIPTORS`] (a test that failed while holding it must not fail the other one too).
fn descriptors() -> std::sync::MutexGuard<'static, ()> {
    DESCRIPTORS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

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
        let _open = descriptors();
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

/// A child run of this test binary (one ignored child test, selected by name): its reported
/// lines arrive on `lines` as they are printed. Killed on drop, so that a failing parent never
/// leaves it behind.
struct ChildRun {
    child: Child,
    stdin: std::process::ChildStdin,
    lines: mpsc::Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
    err_reader: Option<std::thread::JoinHandle<String>>,
}

/// What a killed child left: its last lines and how it ended.
struct Killed {
    /// The complete lines not yet taken from `ChildRun::lines`.
    lines: Vec<String>,
    /// Set when the child had exited before the kill.
    exited_first: Option<ExitStatus>,
    stderr: String,
}

impl ChildRun {
    fn spawn(test: &str, env: &[(&str, &std::ffi::OsStr)]) -> Result<ChildRun, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut command = Command::new(exe);
        command.args([test, "--exact", "--ignored", "--nocapture", "--test-threads=1"]);
        for (name, value) in env {
            command.env(name, value);
        }
        let spawning = descriptors();
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawning the child: {e}"))?;
        drop(spawning); // the child has executed: it holds none of this process's descriptors
        let stdin = child.stdin.take().expect("piped stdin");
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
        Ok(ChildRun { child, stdin, lines: rx, reader: Some(reader), err_reader: Some(err_reader) })
    }

    /// Sends the child one line on its standard input.
    fn send(&mut self, line: &str) -> Result<(), String> {
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("writing to the child: {e}"))
    }

    /// SIGKILLs the child (no destructor, no flush runs in it) and collects what it left.
    fn kill(mut self) -> Result<Killed, String> {
        let exited_first = self.child.try_wait().map_err(|e| e.to_string())?;
        let _ = self.child.kill(); // SIGKILL
        let status = self.child.wait().map_err(|e| e.to_string())?;
        self.reader.take().expect("stdout reader").join().expect("stdout reader");
        let lines = self.lines.try_iter().collect();
        let stderr = self.err_reader.take().expect("stderr reader").join().expect("stderr reader");
        if let Some(st) = exited_first {
            if !st.success() {
                return Err(format!("the child failed before it was killed ({st}):\n{stderr}"));
            }
        } else if status.success() {
            return Err("the child exited successfully although it was killed".into());
        }
        Ok(Killed { lines, exited_first, stderr })
    }
}

impl Drop for ChildRun {
    fn drop(&mut self) {
        if self.reader.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The JSON payloads of reported lines.
fn parse_lines(lines: &[String]) -> Result<Vec<Value>, String> {
    lines
        .iter()
        .filter_map(|l| payload(l))
        .map(|l| serde_json::from_str(l).map_err(|e| format!("unreadable child line {l:?}: {e}")))
        .collect()
}

/// Runs one child against `path`, kills it at a moment chosen by `seed`, and returns the
/// reported lines (complete ones only).
fn run_child_and_kill(path: &Path, seed: u64) -> Result<Vec<Value>, String> {
    let mut rng = Rng(seed ^ 0x6b69_6c6c);
    let seed_text = seed.to_string();
    let run = ChildRun::spawn("crash_child", &[(DB_ENV, path.as_os_str()), (SEED_ENV, seed_text.as_ref())])?;
    let mut lines = Vec::new();
    // Most rounds kill a while after the child opened the store (mid-stream); some kill soon
    // after spawning, possibly while it opens or recovers the database.
    let early = rng.chance(20);
    let delay = Duration::from_micros(if early { rng.below(30_000) } else { 1_000 + rng.below(60_000) });
    let start = Instant::now();
    if !early {
        let deadline = start + Duration::from_secs(10);
        while let Ok(line) = run.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            let opened = payload(&line) == Some(r#"{"t":"open"}"#);
            lines.push(line);
            if opened {
                break;
            }
        }
    }
    let kill_at = Instant::now() + delay;
    std::thread::sleep(kill_at.saturating_duration_since(Instant::now()));
    lines.extend(run.kill()?.lines);
    parse_lines(&lines)
}

/// How many times longer than usual to run (`STATESYNC_CRASH_SCALE`, at least 1).
fn scale() -> u64 {
    std::env::var(SCALE_ENV).ok().and_then(|s| s.parse().ok()).unwrap_or(1).max(1)
}

fn base_seed() -> u64 {
    std::env::var(BASE_SEED_ENV).ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_BASE_SEED)
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_write() {
    let base = base_seed();
    let rounds = ROUNDS * scale();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crash.db");
    let mut model = Model::default();
    let mut total_writes = 0;
    for round in 0..rounds {
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
    assert!(total_writes >= rounds as usize, "only {total_writes} acknowledged writes in {rounds} rounds");
    assert!(!model.latest.is_empty());
}

// ---- kills inside sync calls ------------------------------------------------------------------

/// The replica time of round `r` starts at `WORLD_START + (r + 1) * WORLD_ROUND` milliseconds.
const WORLD_START: u64 = 1_700_000_000_000;
const WORLD_ROUND: u64 = 100_000;
/// Rounds of the sync harness at scale 1.
const SYNC_ROUNDS: u64 = 100;
/// The script of a round stops after this many calls (and waits to be killed).
const MAX_CALLS: u64 = 30;
/// A timed kill lands up to 1.3 times the target call's expected duration after its start:
/// mostly inside it, sometimes just after it (in the gap before the next call).
const TIMED_SPAN_PERMILLE: u64 = 1_300;
/// A kill inside the transaction lands up to this share of the call's expected duration after
/// the child took SQLite's write lock (the transaction is about the last half of a call).
const LOCKED_SPAN_PERMILLE: u64 = 300;
/// A call's expected duration is `(size + SIZE_OVERHEAD)` times its kind's duration per unit:
/// every call has a fixed cost (a transaction, a commit) besides what it applies.
const SIZE_OVERHEAD: u64 = 8;
/// A child that was never killed gives up after this long (so it never outlives a failed parent).
const CHILD_IDLE_LIMIT: Duration = Duration::from_secs(60);
/// The target kinds, with their weights.
const TARGETS: [(Kind, u64); 6] = [
    (Kind::Apply, 25),
    (Kind::Reconcile, 25),
    (Kind::Resolve, 20),
    (Kind::Import, 20),
    (Kind::Write, 5),
    (Kind::Ack, 5),
];
/// Each of these kinds must have been killed in flight (after its start, before it returned) at
/// least `MIN_IN_FLIGHT` times in a run, and (on Linux, where the parent sees SQLite's locks)
/// `MIN_IN_TRANSACTION` times inside its SQLite write transaction, or the run proves too little.
/// (Runs of 300 rounds under load averaged 9 to 17 kills inside the transaction per kind and
/// 100 rounds: floors that low keep a loaded machine from failing the run.)
const MUST_HIT: [Kind; 4] = [Kind::Apply, Kind::Reconcile, Kind::Resolve, Kind::Import];
const MIN_IN_FLIGHT: u64 = 3;
const MIN_IN_TRANSACTION: u64 = 2;

#[test]
#[ignore = "the child process of sigkill_inside_sync_calls_keeps_cursor_conflicts_and_imports_whole"]
fn sync_crash_child() {
    let (Ok(path), Ok(plan_dir)) = (std::env::var(DB_ENV), std::env::var(PLAN_ENV)) else {
        return;
    };
    let plan = Plan::read(Path::new(&plan_dir)).expect("the round's plan");
    let clock = Arc::new(ManualClock::new(plan.world));
    let m = SyncManager::open(client_config(Path::new(&path), clock.clone(), plan.durability)).expect("child open");
    report(&json!({"t": "open"}));
    let mut script = Script::new(&m, &clock, &plan);
    let mut made: HashMap<Kind, u64> = HashMap::new();
    while !script.done() {
        let mut started = None;
        script
            .step(|kind, n, size| {
                let nth = made.entry(kind).or_default();
                let target = (kind, *nth) == plan.target;
                *nth += 1;
                report(&json!({"t": "start", "n": n, "k": kind.name(), "size": size, "target": target}));
                if target {
                    // The parent times the kill from its answer, however late it read this line.
                    let mut go = String::new();
                    std::io::stdin().read_line(&mut go).expect("the parent's go");
                }
                started = Some(Instant::now());
            })
            .unwrap_or_else(|e| panic!("{e}"));
        let us = started.map_or(0, |t| t.elapsed().as_micros() as u64);
        report(&json!({"t": "end", "n": script.calls - 1, "us": us}));
    }
    report(&json!({"t": "idle"}));
    std::thread::sleep(CHILD_IDLE_LIMIT);
    panic!("the child was not killed within {CHILD_IDLE_LIMIT:?}");
}

/// The call a round kills: the `nth` (from 0) call of `kind`.
#[derive(Clone, Copy, Debug)]
struct Target {
    kind: Kind,
    nth: u64,
}

/// When the kill comes, once the target call has started.
#[derive(Clone, Copy, Debug)]
enum KillAt {
    /// This many thousandths of the call's expected duration after its start.
    Timed(u64),
    /// As soon as the child holds SQLite's write lock (inside the call's transaction), then this
    /// many thousandths of the call's expected duration later.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Locked(u64),
}

/// How a kill went.
struct Kill {
    /// From the target call's start (the parent's go) to the kill.
    delay: Duration,
    /// The child held SQLite's write lock on the client database just before the kill.
    in_transaction: bool,
}

/// What one round's child did before the kill.
struct ChildCalls {
    /// Calls that returned (their `end` line arrived).
    done: u64,
    /// The call that had started and not returned, if any: it may or may not have committed.
    in_flight: Option<Kind>,
    /// Durations of the calls that returned, in microseconds per unit of size.
    durations: Vec<(Kind, u64)>,
    /// Calls made, by kind.
    kinds: BTreeMap<Kind, u64>,
}

impl ChildCalls {
    fn read(lines: &[Value]) -> Result<ChildCalls, String> {
        let mut calls = ChildCalls { done: 0, in_flight: None, durations: Vec::new(), kinds: BTreeMap::new() };
        let mut size = SIZE_OVERHEAD;
        for line in lines {
            match line["t"].as_str() {
                Some("open") | Some("idle") => {}
                Some("start") => {
                    let kind = line["k"].as_str().and_then(Kind::from_name).ok_or("start without kind")?;
                    if line["n"].as_u64() != Some(calls.done) || calls.in_flight.is_some() {
                        return Err(format!("call {line} started out of order"));
                    }
                    *calls.kinds.entry(kind).or_default() += 1;
                    calls.in_flight = Some(kind);
                    size = line["size"].as_u64().unwrap_or(1) + SIZE_OVERHEAD;
                }
                Some("end") => {
                    let kind = calls.in_flight.take().ok_or("a call ended that never started")?;
                    calls.durations.push((kind, line["us"].as_u64().unwrap_or(0) / size));
                    calls.done += 1;
                }
                other => return Err(format!("unknown line type {other:?}")),
            }
        }
        Ok(calls)
    }

    fn describe(&self) -> String {
        let kinds: Vec<String> = self.kinds.iter().map(|(k, n)| format!("{} {n}", k.name())).collect();
        let made = self.done + u64::from(self.in_flight.is_some());
        let in_flight = self.in_flight.map(Kind::name);
        format!("{made} calls made ({}), {} returned, in flight: {in_flight:?}", kinds.join(", "), self.done)
    }
}

/// What the rounds did, for the closing assertions and summary.
#[derive(Default)]
struct SyncStats {
    rounds: u64,
    calls: u64,
    /// Kills while the target (or another) call was in flight, by kind.
    in_flight: BTreeMap<Kind, u64>,
    /// Of those, kills while the child held SQLite's write lock.
    in_transaction: BTreeMap<Kind, u64>,
    /// Of those, calls the reopened replica shows as committed (killed before they returned).
    committed: BTreeMap<Kind, u64>,
    /// Kills that left a transaction's frames in the WAL with no commit after them.
    torn_wal: u64,
    imports_committed: u64,
    most_conflicts: usize,
}

impl SyncStats {
    fn summary(&self) -> String {
        let by_kind = |m: &BTreeMap<Kind, u64>| m.iter().map(|(k, n)| format!("{} {n}", k.name())).collect::<Vec<_>>();
        format!(
            "{} rounds, {} calls returned; killed in flight: {:?}; of those inside the SQLite write transaction: \
             {:?}, committed before the kill: {:?}; {} kills left uncommitted frames in the WAL; {} replace-imports \
             committed; at most {} conflicts at once",
            self.rounds,
            self.calls,
            by_kind(&self.in_flight),
            by_kind(&self.in_transaction),
            by_kind(&self.committed),
            self.torn_wal,
            self.imports_committed,
            self.most_conflicts,
        )
    }
}

/// Everything the parent keeps from round to round.
struct SyncWorld {
    dir: tempfile::TempDir,
    peer: SyncManager,
    peer_clock: Arc<ManualClock>,
    /// The relay, and how far the client has been sent its feed.
    relay: SyncManager,
    relay_cursor: Option<String>,
    /// Remote versions applied to the client so far (as far as the last check established).
    delivered: Delivered,
    /// The client's pull cursor and states at the last check.
    client_cursor: Option<String>,
    client_states: Vec<Arc<SyncState>>,
    /// Exports of the client after recent checks: the backups a replace-import restores.
    backups: VecDeque<Snapshot>,
    /// Pages of earlier rounds, for late deliveries.
    history: VecDeque<ChangeSet>,
    /// Expected duration (µs per unit of size) of each kind of call, from the calls that returned.
    estimates: HashMap<Kind, u64>,
    stats: SyncStats,
}

impl SyncWorld {
    fn new() -> SyncWorld {
        let peer_clock = Arc::new(ManualClock::new(WORLD_START));
        let peer = SyncManager::open(ManagerConfig::memory().node_id(PEER).clock(peer_clock.clone())).expect("peer");
        let relay = SyncManager::open(ManagerConfig::memory().node_id(sync_crash::RELAY).clock(peer_clock.clone()))
            .expect("relay");
        let world = SyncWorld {
            dir: tempfile::tempdir().expect("tempdir"),
            peer,
            peer_clock,
            relay,
            relay_cursor: None,
            delivered: Delivered::default(),
            client_cursor: None,
            client_states: Vec::new(),
            backups: VecDeque::new(),
            history: VecDeque::new(),
            estimates: HashMap::new(),
            stats: SyncStats::default(),
        };
        let clock = Arc::new(ManualClock::new(WORLD_START));
        let _open = descriptors();
        let client = SyncManager::open(client_config(&world.client_path(), clock, Durability::Full)).expect("client");
        let mut world = world;
        world.backups.push_back(client.export_state().expect("export"));
        client.close().expect("close");
        world
    }

    fn client_path(&self) -> PathBuf {
        self.dir.path().join("client.db")
    }

    fn model_path(&self) -> PathBuf {
        self.dir.path().join("model.db")
    }

    fn plan_dir(&self) -> PathBuf {
        self.dir.path().join("plan")
    }

    /// The peer writes (and sometimes first takes the client's versions, so that some of its
    /// next versions dominate the client's rather than being concurrent with them); so does the
    /// relay, less, and never taking anything.
    fn evolve_peer(&self, rng: &mut Rng, world: u64) {
        self.peer_clock.set(world);
        if !self.client_states.is_empty() && rng.chance(50) {
            let share = 30 + rng.below(70);
            let pushed: Vec<Arc<SyncState>> =
                self.client_states.iter().filter(|_| rng.chance(share)).cloned().collect();
            let result = self.peer.reconcile(pushed).expect("the peer takes the client's versions");
            assert_eq!(result.rejected, 0, "the peer refused client versions: {:?}", result.rejections);
        }
        let writes = 20 + rng.below(140);
        for i in 0..writes {
            self.peer_clock.set(world + 1 + i / 4);
            let k = rng.below(sync_crash::KEYS);
            let id = sync_crash::key_id(k);
            let live = self.peer.get_state(&id).expect("peer get").is_some();
            let data = sync_crash::payload(rng, PEER, i);
            if !live {
                let options = CreateOptions::id(id).in_collection(sync_crash::collection_of(k));
                self.peer.create_state(data, options).expect("peer create");
            } else if rng.chance(85) {
                self.peer.update_state(&id, data).expect("peer update");
            } else {
                self.peer.delete_state(&id).expect("peer delete");
            }
        }
        for i in 0..5 + rng.below(25) {
            self.peer_clock.set(world + 50 + i / 4);
            let k = rng.below(sync_crash::KEYS);
            let id = sync_crash::key_id(k);
            let data = sync_crash::payload(rng, sync_crash::RELAY, i);
            if self.relay.get_state(&id).expect("relay get").is_some() {
                self.relay.update_state(&id, data).expect("relay update");
            } else {
                let options = CreateOptions::id(id).in_collection(sync_crash::collection_of(k));
                self.relay.create_state(data, options).expect("relay create");
            }
        }
    }

    /// The round's plan: the peer's feed from the client's cursor in pages of a random size,
    /// late pages of earlier rounds, a recent backup, and when to import it.
    fn plan(&mut self, rng: &mut Rng, seed: u64, world: u64, target: &mut Target) -> Plan {
        let context = SyncContext::all().with_limit(10 + rng.index(110));
        let mut from = self.client_cursor.clone();
        let mut pages = Vec::new();
        loop {
            let page = self.peer.changes_since(from.as_deref(), &context).expect("the peer's feed");
            let (more, next) = (page.has_more, page.cursor.clone());
            pages.push(PlannedPage { from, page });
            if !more {
                break;
            }
            from = Some(next);
        }
        let late = match self.history.len() {
            0 => Vec::new(),
            n => (0..rng.below(3)).map(|_| self.history[rng.index(n)].clone()).collect(),
        };
        let mut side = Vec::new();
        loop {
            let page = self.relay.changes_since(self.relay_cursor.as_deref(), &context).expect("the relay's feed");
            self.relay_cursor = Some(page.cursor.clone());
            let more = page.has_more;
            side.push(page);
            if !more {
                break;
            }
        }
        self.history.extend(pages.iter().map(|p| p.page.clone()).chain(side.iter().cloned()));
        while self.history.len() > 40 {
            self.history.pop_front();
        }
        let import_at = match target.kind {
            Kind::Import => Some(rng.below(12)),
            // Early, so that it mostly commits before the kill.
            _ if rng.chance(15) => Some(rng.below(4)),
            _ => None,
        };
        target.nth = match target.kind {
            Kind::Apply => rng.below(pages.len() as u64),
            Kind::Reconcile => rng.below(2),
            _ => 0,
        };
        let backup = self.backups[self.backups.len() - 1 - rng.index(self.backups.len())].clone();
        let durability = if rng.chance(50) { Durability::Full } else { Durability::Normal };
        Plan {
            world,
            seed,
            durability,
            import_at,
            max_calls: MAX_CALLS,
            pages,
            late,
            side,
            backup,
            target: (target.kind, target.nth),
        }
    }

    /// Reopens the client after a kill and checks it; then makes it take a write.
    fn check_round(&mut self, plan: &Plan, calls: &ChildCalls) -> Result<(), String> {
        let _open = descriptors();
        let clock = Arc::new(ManualClock::new(plan.world + WORLD_ROUND / 2));
        let client = SyncManager::open(client_config(&self.client_path(), clock.clone(), Durability::Full))
            .map_err(|e| format!("the replica does not reopen: {e}"))?;
        let content = Content::of(&client)?;

        // The replica is what the same calls, uncrashed, make of a copy of the database as it
        // was before the round: all of every call that returned, all or nothing of the one in
        // flight.
        let model_clock = Arc::new(ManualClock::new(plan.world));
        let model = SyncManager::open(client_config(&self.model_path(), model_clock.clone(), Durability::Normal))
            .map_err(|e| format!("the model does not open: {e}"))?;
        let mut script = Script::new(&model, &model_clock, plan);
        let mut effects = Vec::new();
        let mut replay = |effects: &mut Vec<Effect>| -> Result<(), String> {
            let effect = script.step(|_, _, _| {}).map_err(|e| format!("the uncrashed replay failed: {e}"))?;
            if let Effect::Replaced = effect {
                if model.export_state().map_err(|e| e.to_string())? != plan.backup {
                    return Err("the uncrashed replace-import did not make the replica the snapshot".into());
                }
            }
            effects.push(effect);
            Ok(())
        };
        for _ in 0..calls.done {
            replay(&mut effects)?;
        }
        let before = Content::of(&model)?;
        let committed = match calls.in_flight {
            _ if content == before => false,
            None => {
                return Err(format!(
                    "no call in flight, yet the replica differs from the uncrashed one: {}",
                    content.differences(&before)
                ))
            }
            Some(kind) => {
                replay(&mut effects)?;
                let after = Content::of(&model)?;
                if content != after {
                    let half = if kind == Kind::Import { "half an import: " } else { "" };
                    return Err(format!(
                        "{half}the replica is neither the uncrashed one before the call in flight ({}) nor after it \
                         ({})",
                        content.differences(&before),
                        content.differences(&after)
                    ));
                }
                *self.stats.committed.entry(kind).or_default() += 1;
                true
            }
        };
        // A replace-import is all or nothing: the old content exactly, or the snapshot exactly.
        if calls.in_flight == Some(Kind::Import) {
            let is_snapshot = client.export_state().map_err(|e| e.to_string())? == plan.backup;
            if !is_snapshot && content != before {
                return Err("a replace-import in flight left a replica that is neither the snapshot nor the old \
                            content"
                    .into());
            }
        }
        let applied = calls.done as usize + usize::from(committed);
        for effect in &effects[..applied] {
            self.delivered.apply(effect, &plan.backup);
            self.stats.imports_committed += u64::from(matches!(effect, Effect::Replaced));
        }

        if let Err(e) = check_promises(&client, &self.peer, &self.delivered) {
            let uncrashed = match check_promises(&model, &self.peer, &self.delivered) {
                Ok(()) => "the uncrashed replay keeps them: the crash broke them".to_owned(),
                Err(m) => format!("the uncrashed replay breaks them too, so the crash is not the cause ({m})"),
            };
            let import = match effects[..applied].iter().position(|e| matches!(e, Effect::Replaced)) {
                Some(n) => format!(" (call {n} of this round replaced the content with an earlier backup)"),
                None => String::new(),
            };
            return Err(format!("{e}{import}; {uncrashed}"));
        }
        model.close().map_err(|e| e.to_string())?;
        let conflicts = client.conflicts().map_err(|e| e.to_string())?.len();
        self.stats.most_conflicts = self.stats.most_conflicts.max(conflicts);

        // The replica takes a write, with an operation counter never used before.
        let states = client.list_states(None, true).map_err(|e| e.to_string())?;
        let pending = client.pending_operations().map_err(|e| e.to_string())?;
        let used = states
            .iter()
            .map(|s| s.clock.get(CLIENT))
            .chain(pending.iter().map(|op| op.clock.get(CLIENT)))
            .max()
            .unwrap_or(0);
        let probe = match client.get_state("probe").map_err(|e| e.to_string())? {
            Some(_) => client.update_state("probe", json!({"after": plan.world})),
            None => {
                client.create_state(json!({"after": plan.world}), CreateOptions::id("probe").in_collection("probe"))
            }
        }
        .map_err(|e| format!("the reopened replica refuses a write: {e}"))?;
        if probe.clock.get(CLIENT) <= used {
            return Err(format!("the write after reopening reuses counter {} (used: {used})", probe.clock.get(CLIENT)));
        }

        self.backups.push_back(client.export_state().map_err(|e| e.to_string())?);
        if self.backups.len() > 4 {
            self.backups.pop_front();
        }
        self.client_cursor = client.peer_cursor(PEER, &sync_crash::scope()).map_err(|e| e.to_string())?;
        self.client_states = client.list_states(None, true).map_err(|e| e.to_string())?;
        client.close().map_err(|e| e.to_string())
    }

    /// Runs the round's child and SIGKILLs it as `kill_at` says once the target call is about
    /// to start (the child waits for the parent's go there), or at once when the script ends
    /// without reaching it.
    fn run_child(&self, target: Kind, kill_at: KillAt) -> Result<(Vec<Value>, Option<Kill>), String> {
        let (db, plan_dir) = (self.client_path(), self.plan_dir());
        let mut run =
            ChildRun::spawn("sync_crash_child", &[(DB_ENV, db.as_os_str()), (PLAN_ENV, plan_dir.as_os_str())])?;
        let per_unit = self.estimates.get(&target).copied().unwrap_or(100);
        let mut lines = Vec::new();
        let mut lock = LockWatch::new(run.child.id(), &db)?;
        // A round makes at most `MAX_CALLS` calls of milliseconds each: one that takes this long
        // hangs.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut kill = None;
        loop {
            let line = match run.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Disconnected) => break, // it exited: kill() says how
                Err(mpsc::RecvTimeoutError::Timeout) => return Err("the child hangs: no target, no end".into()),
            };
            let value: Option<Value> = payload(&line).and_then(|p| serde_json::from_str(p).ok());
            lines.push(line);
            let Some(value) = value else { continue };
            if value["t"] == "idle" {
                break;
            }
            if value["target"] != json!(true) {
                continue;
            }
            let expected = per_unit * (value["size"].as_u64().unwrap_or(1) + SIZE_OVERHEAD);
            run.send("go")?;
            let from = Instant::now();
            let wait = match kill_at {
                KillAt::Timed(permille) => expected * permille / 1_000,
                KillAt::Locked(permille) => {
                    // Until the child holds the write lock, or the call has returned without
                    // ever taking it (a call that had nothing to write): then at once. The
                    // lines are read after the lock, so that a lock taken by the next call is
                    // not mistaken for the target's.
                    let mut returned = false;
                    loop {
                        let held = lock.held()?;
                        for line in run.lines.try_iter() {
                            returned |= payload(&line).is_some_and(|p| p.contains(r#""t":"end""#));
                            lines.push(line);
                        }
                        if held || returned {
                            break;
                        }
                        if Instant::now() > deadline {
                            return Err("the target call hangs: it neither took the write lock nor returned".into());
                        }
                    }
                    if returned {
                        0
                    } else {
                        expected * permille / 1_000
                    }
                }
            };
            let at = Instant::now() + Duration::from_micros(wait);
            // Sleeping overshoots by tens of microseconds: spin through the last stretch.
            if let Some(long) = at.saturating_duration_since(Instant::now()).checked_sub(Duration::from_millis(1)) {
                std::thread::sleep(long);
            }
            while Instant::now() < at {
                std::hint::spin_loop();
            }
            kill = Some(Kill { delay: from.elapsed(), in_transaction: lock.held()? });
            break;
        }
        let killed = run.kill()?;
        if let Some(status) = killed.exited_first {
            return Err(format!("the child exited before it was killed ({status}):\n{}", killed.stderr));
        }
        lines.extend(killed.lines);
        Ok((parse_lines(&lines)?, kill))
    }
}

/// Watches whether the child holds SQLite's WAL write lock on the client database: an
/// exclusive POSIX lock on byte 120 of its `-shm` file, held from a write transaction's first
/// write to its commit. Read from `/proc/<pid>/fdinfo/<fd>` of the child's descriptor of that
/// file (not `/proc/locks`: reading that one stalls every lock operation in the system, the
/// child's too, and took milliseconds).
#[cfg(target_os = "linux")]
struct LockWatch {
    pid: u32,
    shm: PathBuf,
    /// The child's `fdinfo` file of its `-shm` descriptor, once it has one.
    fdinfo: Option<PathBuf>,
    text: String,
}

#[cfg(target_os = "linux")]
impl LockWatch {
    fn new(pid: u32, db: &Path) -> Result<LockWatch, String> {
        let mut shm = db.as_os_str().to_owned();
        shm.push("-shm");
        // SQLite opens the file by the database's canonical path (and so does `SyncManager`).
        let folder = db.parent().ok_or("the database has no folder")?;
        let folder = std::fs::canonicalize(folder).map_err(|e| format!("resolving {}: {e}", folder.display()))?;
        let shm = folder.join(Path::new(&shm).file_name().ok_or("the database has no file name")?);
        Ok(LockWatch { pid, shm, fdinfo: None, text: String::with_capacity(4096) })
    }

    fn held(&mut self) -> Result<bool, String> {
        if self.fdinfo.is_none() {
            let fds = format!("/proc/{}/fd", self.pid);
            let entries = std::fs::read_dir(&fds).map_err(|e| format!("listing {fds}: {e}"))?;
            self.fdinfo = entries
                .filter_map(|entry| entry.ok())
                .find(|entry| std::fs::read_link(entry.path()).is_ok_and(|target| target == self.shm))
                .map(|entry| {
                    PathBuf::from(format!("/proc/{}/fdinfo/{}", self.pid, entry.file_name().to_string_lossy()))
                });
        }
        let Some(fdinfo) = &self.fdinfo else { return Ok(false) };
        self.text.clear();
        match std::fs::File::open(fdinfo).and_then(|mut f| f.read_to_string(&mut self.text)) {
            Ok(_) => {}
            // The child is gone (killed, or failed): it holds nothing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(format!("reading {}: {e}", fdinfo.display())),
        }
        // "lock:\t1: POSIX  ADVISORY  WRITE 30856 fe:00:9977938 120 120"
        Ok(self.text.lines().any(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            f.len() >= 9 && f[0] == "lock:" && f[2] == "POSIX" && f[4] == "WRITE" && f[7] == "120"
        }))
    }
}

/// Elsewhere the parent cannot see the lock: kills are timed only.
#[cfg(not(target_os = "linux"))]
struct LockWatch;

#[cfg(not(target_os = "linux"))]
impl LockWatch {
    fn new(_pid: u32, _db: &Path) -> Result<LockWatch, String> {
        Ok(LockWatch)
    }

    fn held(&mut self) -> Result<bool, String> {
        Ok(false)
    }
}

/// Copies the closed database `from` (and its WAL, if any) to `to`.
fn copy_database(from: &Path, to: &Path) -> std::io::Result<()> {
    let suffixed = |p: &Path, s: &str| {
        let mut os = p.as_os_str().to_owned();
        os.push(s);
        PathBuf::from(os)
    };
    for suffix in ["-wal", "-shm"] {
        match std::fs::remove_file(suffixed(to, suffix)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    std::fs::copy(from, to)?;
    if suffixed(from, "-wal").exists() {
        std::fs::copy(suffixed(from, "-wal"), suffixed(to, "-wal"))?;
    }
    Ok(())
}

fn pick_target(rng: &mut Rng) -> Kind {
    let total: u64 = TARGETS.iter().map(|(_, w)| w).sum();
    let mut roll = rng.below(total);
    for (kind, weight) in TARGETS {
        if roll < weight {
            return kind;
        }
        roll -= weight;
    }
    unreachable!("the roll is below the total weight")
}

#[test]
fn sigkill_inside_sync_calls_keeps_cursor_conflicts_and_imports_whole() {
    let base = base_seed();
    let rounds = SYNC_ROUNDS * scale();
    let mut world = SyncWorld::new();
    for round in 0..rounds {
        let seed = round_seed(base ^ 0x7379_6e63, round);
        let mut rng = Rng(seed);
        let now = WORLD_START + (round + 1) * WORLD_ROUND;
        world.evolve_peer(&mut rng, now);
        let mut target = Target { kind: pick_target(&mut rng), nth: 0 };
        let plan = world.plan(&mut rng, seed, now, &mut target);
        let kill_at = if cfg!(target_os = "linux") && rng.chance(65) {
            KillAt::Locked(rng.below(LOCKED_SPAN_PERMILLE))
        } else {
            KillAt::Timed(rng.below(TIMED_SPAN_PERMILLE))
        };
        let context = |what: &str| {
            let seeds = format!("seed {seed}, base seed {BASE_SEED_ENV}={base}");
            format!("round {round} ({seeds}), target {target:?}, kill {kill_at:?}: {what}")
        };
        plan.write(&world.plan_dir()).unwrap_or_else(|e| panic!("{}", context(&format!("writing the plan: {e}"))));
        copy_database(&world.client_path(), &world.model_path())
            .unwrap_or_else(|e| panic!("{}", context(&format!("copying the database: {e}"))));

        let (lines, kill) = world.run_child(target.kind, kill_at).unwrap_or_else(|e| panic!("{}", context(&e)));
        let calls = ChildCalls::read(&lines).unwrap_or_else(|e| panic!("{}", context(&e)));
        let mut wal = world.client_path().into_os_string();
        wal.push("-wal");
        let torn = wal_uncommitted_frames(Path::new(&wal)).expect("reading the WAL");
        let what = match &kill {
            Some(k) => format!("killed {:?} in, {}", k.delay, calls.describe()),
            None => format!("target not reached, {}", calls.describe()),
        };
        world.check_round(&plan, &calls).unwrap_or_else(|e| panic!("{}", context(&format!("{what}: {e}"))));

        let stats = &mut world.stats;
        stats.rounds += 1;
        stats.calls += calls.done;
        stats.torn_wal += u64::from(torn > 0);
        if let Some(kind) = calls.in_flight {
            *stats.in_flight.entry(kind).or_default() += 1;
            if kill.as_ref().is_some_and(|k| k.in_transaction) {
                *stats.in_transaction.entry(kind).or_default() += 1;
            }
        }
        for (kind, us) in calls.durations {
            let estimate = world.estimates.entry(kind).or_insert(us);
            *estimate = (*estimate * 3 + us) / 4;
        }
    }
    let stats = &world.stats;
    eprintln!("{}", stats.summary());
    for kind in MUST_HIT {
        let hits = stats.in_flight.get(&kind).copied().unwrap_or(0);
        assert!(hits >= MIN_IN_FLIGHT, "{} was killed in flight only {hits} times: {}", kind.name(), stats.summary());
        let inside = stats.in_transaction.get(&kind).copied().unwrap_or(0);
        assert!(
            !cfg!(target_os = "linux") || inside >= MIN_IN_TRANSACTION,
            "{} was killed inside its SQLite transaction only {inside} times: {}",
            kind.name(),
            stats.summary()
        );
    }
    assert!(stats.imports_committed > 0 && stats.most_conflicts > 0, "the rounds did too little: {}", stats.summary());
}

// ---- the sync harness's findings, reduced -----------------------------------------------------
// Neither needs a crash: the harness's uncrashed replay breaks the same promises.

/// A replace-import (restoring a backup) must not leave the replica's pull cursors past what it
/// now holds: the next pull has to bring the peer's states the backup lacks.
#[test]
fn a_pull_after_restoring_a_backup_brings_what_the_backup_lacks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let peer = SyncManager::open(ManagerConfig::memory().node_id(PEER)).expect("peer");
    let client =
        SyncManager::open(ManagerConfig::sqlite(dir.path().join("client.db")).node_id(CLIENT)).expect("client");
    let backup = client.export_state().expect("export");
    peer.create_state(json!("x"), CreateOptions::id("x")).expect("create");
    client.sync_with(&peer).expect("sync");
    assert!(client.get_state("x").expect("get").is_some(), "the pull brought x");
    client.import_state(backup, true).expect("restore the backup");
    client.sync_with(&peer).expect("sync after the restore");
    assert!(
        client.get_state("x").expect("get").is_some(),
        "the pull after the restore skipped x: the stored cursor {:?} ran ahead of the restored content",
        client.peer_cursor(PEER, &sync_crash::scope()).expect("cursor")
    );
}

/// Under `Manual`, a concurrent version delivered late, after a newer one of the same lineage
/// (which has seen it), must record no second conflict: the newer one's conflict covers it.
#[test]
fn a_late_older_concurrent_version_records_no_second_conflict() {
    let peer = SyncManager::open(ManagerConfig::memory().node_id(PEER)).expect("peer");
    let client =
        SyncManager::open(ManagerConfig::memory().node_id(CLIENT).strategy(statesync::ConflictStrategy::Manual))
            .expect("client");
    client.create_state(json!("local"), CreateOptions::id("s")).expect("local write");
    let older = peer.create_state(json!(1), CreateOptions::id("s")).expect("peer create");
    let newer = peer.update_state("s", json!(2)).expect("peer update");
    client.apply_remote_state(newer.clone()).expect("apply the newer version");
    client.apply_remote_state(older).expect("apply the older version, late");
    let conflicts = client.conflicts().expect("conflicts");
    let remotes: Vec<&statesync::VectorClock> = conflicts.iter().map(|c| &c.remote.clock).collect();
    assert_eq!(remotes, [&newer.clock], "one conflict, for the newer remote version");
}
