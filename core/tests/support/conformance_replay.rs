//! The replayer of the cross-language conformance suite: every case of every `conformance/*.json`
//! file (the format is documented in `conformance/README.md`), once on in-memory replicas and
//! once on persisted replicas, which are then closed, reopened and checked again.
//!
//! One file for the core's test (`core/tests/conformance.rs`, replicas in SQLite files) and the
//! browser package's (`wasm/tests/conformance.rs`, replicas in the journal store it writes to
//! IndexedDB), so that both replay exactly the same checks. Each test says only where the suite
//! files are and how replicas persist ([`Persistence`]); this file must therefore build in both
//! test crates (serde_json and statesync without default features, no file system).

use serde_json::{json, Map, Value};
use statesync::{
    state_hash, ChangeSet, ConflictResolver, ConflictStrategy, ManagerConfig, ManualClock, ReconciliationResult,
    Rejection, Resolution, Resolved, Snapshot, SyncCapabilities, SyncConflict, SyncContext, SyncError, SyncEvent,
    SyncManager, SyncOperation, SyncState, SyncTransport, VectorClock, WallClock, PROTOCOL_VERSION,
};
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// The suite must not shrink silently (besides the per-file counts of `manifest.json`).
const MIN_CASES: usize = 250;

/// A failure of a case: what went wrong, in words.
pub type Outcome<T> = Result<T, String>;

/// How the persistent mode keeps the replicas of one run of one case.
pub trait Persistence: Sized {
    /// The mode's name in failure messages (`"sqlite"`).
    const NAME: &'static str;
    /// What a replica is reopened from, in failure messages (`"its SQLite file"`).
    const REOPENED_FROM: &'static str;
    /// Whether a second open of a replica's storage while it is open is refused (`STORAGE`):
    /// the `open_again` steps run only then.
    const LOCKS: bool;

    /// Empty storage for one run, dropped (and so cleaned up) with the run.
    fn start() -> Outcome<Self>;

    /// The configuration of replica `index` (numbered in the case's order): an empty replica
    /// the first time, the same storage again when the replica is reopened after closing.
    fn open(&mut self, index: usize) -> ManagerConfig;
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Memory,
    Persistent,
}

// ---- the named custom resolvers (README: "Custom resolvers") ------------------------------------

const RESOLVERS: &[&str] = &["max_n", "union", "non_commutative", "failing"];

struct NamedResolver(String);

impl NamedResolver {
    /// `data.n` of a live side whose data is an object with a numeric `n`.
    fn n_of(state: &SyncState) -> Option<&Value> {
        if state.deleted {
            return None;
        }
        state.data.get("n").filter(|n| n.is_number())
    }

    /// The strings of a live side whose data is an array.
    fn strings_of(state: &SyncState) -> Vec<String> {
        match (&state.data, state.deleted) {
            (Value::Array(items), false) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        }
    }
}

impl ConflictResolver for NamedResolver {
    fn resolve(&self, local: &SyncState, remote: &SyncState) -> Result<Resolved, String> {
        match self.0.as_str() {
            "max_n" => {
                let best = match (Self::n_of(local), Self::n_of(remote)) {
                    (Some(a), Some(b)) => {
                        if b.as_f64() > a.as_f64() {
                            b
                        } else {
                            a
                        }
                    }
                    (Some(a), None) => a,
                    (None, Some(b)) => b,
                    (None, None) => return Ok(Resolved::Deleted),
                };
                Ok(Resolved::Data(json!({ "n": best })))
            }
            "union" => {
                let all: BTreeSet<String> =
                    Self::strings_of(local).into_iter().chain(Self::strings_of(remote)).collect();
                Ok(Resolved::Data(Value::Array(all.into_iter().map(Value::String).collect())))
            }
            "non_commutative" => Ok(Resolved::Data(local.data.clone())),
            "failing" => Err("the conformance resolver \"failing\" always fails".into()),
            other => Err(format!("unknown resolver {other:?}")),
        }
    }
}

fn parse_strategy(value: &Value) -> Outcome<ConflictStrategy> {
    match value {
        Value::String(name) => ConflictStrategy::from_name(name).ok_or_else(|| format!("unknown strategy {name:?}")),
        Value::Object(map) if map.len() == 1 => {
            let name = map.get("custom").and_then(Value::as_str).ok_or_else(|| format!("bad strategy {value}"))?;
            if !RESOLVERS.contains(&name) {
                return Err(format!("unknown custom resolver {name:?}"));
            }
            Ok(ConflictStrategy::Custom(Arc::new(NamedResolver(name.to_owned()))))
        }
        other => Err(format!("bad strategy {other}")),
    }
}

// ---- small JSON helpers -------------------------------------------------------------------------

fn obj<'v>(value: &'v Value, what: &str) -> Outcome<&'v Map<String, Value>> {
    value.as_object().ok_or_else(|| format!("{what} must be a JSON object, got {value}"))
}

fn string<'v>(map: &'v Map<String, Value>, key: &str, what: &str) -> Outcome<&'v str> {
    map.get(key).and_then(Value::as_str).ok_or_else(|| format!("{what}: missing or non-string {key:?}"))
}

fn allow(map: &Map<String, Value>, allowed: &[&str], what: &str) -> Outcome<()> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("{what}: unknown key {k:?} (allowed: {allowed:?})")),
        None => Ok(()),
    }
}

/// JSON equality where numbers compare by value (`1.5` written either way, integers exactly).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(i), Some(j), _, _) => i == j,
            (_, _, Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 300 {
        format!("{}...", text.chars().take(300).collect::<String>())
    } else {
        text
    }
}

// ---- matchers -------------------------------------------------------------------------------------

const STATE_KEYS: &[&str] =
    &["id", "collection", "data", "clock", "timestamp", "modified_by", "deleted", "version", "hash", "fields"];
const OP_KEYS: &[&str] = &["op_id", "kind", "state_id", "collection", "data", "clock", "timestamp", "node_id"];
const COUNT_KEYS: &[&str] = &["created", "updated", "unchanged", "ignored", "conflicts", "resolved", "rejected"];

/// Compares the listed keys of `expected` with `actual` (a serialised state or operation).
fn match_fields(expected: &Value, actual: &Value, allowed: &[&str], what: &str) -> Outcome<()> {
    let expected = obj(expected, what)?;
    allow(expected, allowed, what)?;
    for (key, want) in expected {
        let got = actual.get(key).unwrap_or(&Value::Null);
        if !json_eq(want, got) {
            return Err(format!("{what}: {key} is {}, expected {}", short(got), short(want)));
        }
    }
    Ok(())
}

/// The entries of `expected` for `keys` only (to match part of an expectation).
fn only(expected: &serde_json::Map<String, Value>, keys: &[&str]) -> Value {
    Value::Object(
        expected.iter().filter(|(k, _)| keys.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect(),
    )
}

/// True for a generated id or node id: a UUID v4 in its lower-case hyphenated form.
fn is_uuid_v4(text: &str) -> bool {
    let b = text.as_bytes();
    let hex = |c: &u8| c.is_ascii_digit() || (b'a'..=b'f').contains(c);
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { *c == b'-' } else { hex(c) })
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

/// Checks an `id_form` / `node_id_form` expectation (`"uuid"`, or none) against `value`.
fn check_form(form: Option<&Value>, value: &str, what: &str) -> Outcome<()> {
    match form {
        None => Ok(()),
        Some(Value::String(form)) if form == "uuid" && is_uuid_v4(value) => Ok(()),
        Some(Value::String(form)) if form == "uuid" => Err(format!("{what} {value:?} is not a generated UUID v4")),
        Some(other) => Err(format!("{what}: unknown form {other}")),
    }
}

/// A state matcher; also checks that the suite's own expected hash fits its expected content.
fn match_state(expected: &Value, actual: &SyncState, what: &str) -> Outcome<()> {
    let mut map = obj(expected, what)?.clone();
    check_form(map.remove("id_form").as_ref(), &actual.id, &format!("{what}: id"))?;
    let expected = &Value::Object(map);
    let map = obj(expected, what)?;
    if let (Some(data), Some(hash)) = (map.get("data"), map.get("hash")) {
        let deleted = map.get("deleted").and_then(Value::as_bool).unwrap_or(false);
        let computed = state_hash(data, deleted);
        if hash.as_str() != Some(computed.as_str()) {
            return Err(format!(
                "{what}: the case expects hash {hash} but state_hash(data, deleted={deleted}) is {computed:?}"
            ));
        }
    }
    match_fields(expected, &actual.to_value(), STATE_KEYS, what)
}

fn match_counts(expected: &Value, actual: &Value, what: &str) -> Outcome<()> {
    let mut counts = obj(expected, what)?.clone();
    if let Some(want) = counts.remove("rejections") {
        let got = actual.get("rejections").cloned().unwrap_or(json!([]));
        match_list(
            &want,
            got.as_array().map_or(&[][..], Vec::as_slice),
            &["id", "code"],
            &format!("{what}.rejections"),
        )?;
    }
    match_fields(&Value::Object(counts), actual, COUNT_KEYS, what)
}

/// Matches an expected array element by element (exactly as long) against serialised items,
/// comparing the keys each expected element gives (of `allowed`).
fn match_list(expected: &Value, actual: &[Value], allowed: &[&str], what: &str) -> Outcome<()> {
    let expected = expected.as_array().ok_or(format!("{what} must be an array"))?;
    if expected.len() != actual.len() {
        return Err(format!("{what}: {} items {}, expected {}", actual.len(), short(&json!(actual)), expected.len()));
    }
    for (i, (want, got)) in expected.iter().zip(actual).enumerate() {
        match_fields(want, got, allowed, &format!("{what}[{i}]"))?;
    }
    Ok(())
}

fn match_conflict(expected: &Value, actual: &SyncConflict, what: &str) -> Outcome<()> {
    let map = obj(expected, what)?;
    allow(map, &["state_id", "local", "remote", "detected_at"], what)?;
    if let Some(id) = map.get("state_id") {
        if !json_eq(id, &json!(actual.state_id)) {
            return Err(format!("{what}: state_id is {:?}, expected {id}", actual.state_id));
        }
    }
    if let Some(at) = map.get("detected_at") {
        if !json_eq(at, &json!(actual.detected_at)) {
            return Err(format!("{what}: detected_at is {}, expected {at}", actual.detected_at));
        }
    }
    if let Some(local) = map.get("local") {
        match_state(local, &actual.local, &format!("{what}.local"))?;
    }
    if let Some(remote) = map.get("remote") {
        match_state(remote, &actual.remote, &format!("{what}.remote"))?;
    }
    Ok(())
}

// ---- replicas --------------------------------------------------------------------------------------

/// What a replica holds, read through the public API (or, once closed, from its last export).
struct View {
    node_id: String,
    states: Vec<SyncState>,
    pending: Vec<SyncOperation>,
    conflicts: Vec<SyncConflict>,
    rejections: Vec<Rejection>,
    status: String,
}

struct Replica {
    spec: Map<String, Value>,
    /// The case's node id; `None`: generated by the replica (and kept by its store).
    node_id: Option<String>,
    clock: Arc<ManualClock>,
    /// Its number in the case, for [`Persistence::open`].
    index: usize,
    manager: Arc<SyncManager>,
    /// The export taken right before a `close` step.
    closed: Option<Snapshot>,
    /// The rejections held right before a `close` step.
    closed_rejections: Vec<Rejection>,
    /// The events recorded since a `subscribe` step, as EVENT_MATCHER JSON.
    events: Option<Arc<Mutex<Vec<Value>>>>,
}

/// Opens a replica as its `spec` says, on the storage of `config`.
fn open_manager(
    spec: &Map<String, Value>,
    node_id: Option<&str>,
    config: ManagerConfig,
    clock: Arc<ManualClock>,
) -> Outcome<Arc<SyncManager>> {
    let config = config_for(spec, node_id, config, clock)?;
    SyncManager::open(config).map(Arc::new).map_err(|e| format!("opening replica {node_id:?}: {} {e}", e.code()))
}

/// The configuration a replica's `spec` gives, on the storage of `config`.
fn config_for(
    spec: &Map<String, Value>,
    node_id: Option<&str>,
    config: ManagerConfig,
    clock: Arc<ManualClock>,
) -> Outcome<ManagerConfig> {
    let mut config = config.clock(clock);
    if let Some(node_id) = node_id {
        config = config.node_id(node_id);
    }
    if let Some(s) = spec.get("strategy") {
        config = config.strategy(parse_strategy(s)?);
    }
    if let Some(per) = spec.get("collection_strategies") {
        for (collection, s) in obj(per, "collection_strategies")? {
            config = config.collection_strategy(collection.clone(), parse_strategy(s)?);
        }
    }
    let check = match spec.get("check_resolver") {
        None => true,
        Some(v) => v.as_bool().ok_or("check_resolver must be a boolean")?,
    };
    config = config.check_resolver(check);
    if let Some(v) = spec.get("max_state_bytes") {
        config = config.max_state_bytes(v.as_u64().ok_or("max_state_bytes must be a positive integer")? as usize);
    }
    if let Some(v) = spec.get("max_clock_skew_ms") {
        let ms = v.as_u64().ok_or("max_clock_skew_ms must be a non-negative integer")?;
        config = config.max_clock_skew(std::time::Duration::from_millis(ms));
    }
    Ok(config)
}

// ---- the transport of `sync_via` and `auto_sync` (README: "sync_via") ---------------------------

/// A peer replica reached through a transport written here: its capabilities as the step
/// overrides them, and a failure on one call when the step asks for it.
struct ReplayTransport {
    peer: Arc<SyncManager>,
    overrides: Map<String, Value>,
    /// `(call, code)`: that call fails with that code.
    fail: Option<(String, String)>,
}

impl ReplayTransport {
    fn new(peer: Arc<SyncManager>, step: &Map<String, Value>) -> Outcome<ReplayTransport> {
        let overrides = match step.get("capabilities") {
            None => Map::new(),
            Some(v) => obj(v, "capabilities")?.clone(),
        };
        allow(&overrides, &["scoped_sync", "max_batch", "max_body_bytes", "protocol", "node_id"], "capabilities")?;
        let fail = match step.get("fail") {
            None => None,
            Some(v) => {
                let f = obj(v, "fail")?;
                allow(f, &["on", "code"], "fail")?;
                let on = string(f, "on", "fail")?;
                if !["capabilities", "pull", "push"].contains(&on) {
                    return Err(format!("fail.on {on:?} is not capabilities, pull or push"));
                }
                Some((on.to_owned(), string(f, "code", "fail")?.to_owned()))
            }
        };
        Ok(ReplayTransport { peer, overrides, fail })
    }

    fn failing(&self, call: &str) -> statesync::Result<()> {
        match &self.fail {
            Some((on, code)) if on == call => {
                Err(SyncError::from_code(code, format!("the conformance transport fails on {call}")))
            }
            _ => Ok(()),
        }
    }
}

impl SyncTransport for ReplayTransport {
    fn capabilities(&self) -> statesync::Result<SyncCapabilities> {
        self.failing("capabilities")?;
        let o = &self.overrides;
        let number = |key: &str| o.get(key).and_then(Value::as_u64);
        Ok(SyncCapabilities {
            protocol: number("protocol").unwrap_or(PROTOCOL_VERSION),
            node_id: match o.get("node_id").and_then(Value::as_str) {
                Some(n) => n.to_owned(),
                None => self.peer.node_id()?,
            },
            scoped_sync: o.get("scoped_sync").and_then(Value::as_bool).unwrap_or(true),
            binary: false,
            zstd: false,
            max_batch: number("max_batch").map(|n| n as usize),
            max_body_bytes: number("max_body_bytes").map(|n| n as usize),
        })
    }

    fn pull(&self, cursor: Option<&str>, context: &SyncContext) -> statesync::Result<ChangeSet> {
        self.failing("pull")?;
        self.peer.changes_since(cursor, context)
    }

    fn push(&self, changes: &ChangeSet) -> statesync::Result<ReconciliationResult> {
        self.failing("push")?;
        self.peer.reconcile(changes.states.iter().cloned())
    }
}

/// Runs auto-sync with `transport` until `rounds` rounds completed (at most 10 s), then stops it.
/// Builds without the core's runtime (the browser's test) have no auto-sync: there the rounds
/// run one after the other, as auto-sync would run them (the package's own auto-sync, in
/// TypeScript, has its tests).
#[cfg(feature = "runtime")]
fn auto_sync(m: &Arc<SyncManager>, transport: Arc<ReplayTransport>, rounds: usize) -> Outcome<()> {
    let seen = Arc::new(Mutex::new((0usize, None::<String>)));
    let sink = seen.clone();
    let subscription = m
        .subscribe(move |e| {
            let mut seen = sink.lock().unwrap_or_else(|p| p.into_inner());
            match e {
                SyncEvent::SyncCompleted { .. } => seen.0 += 1,
                SyncEvent::SyncFailed { message, .. } => seen.1 = Some(message.clone()),
                _ => {}
            }
        })
        .map_err(|e| code(&e))?;
    m.start_auto_sync(std::time::Duration::from_millis(10), transport).map_err(|e| code(&e))?;
    let started = std::time::Instant::now();
    let outcome = loop {
        let (done, failed) = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(message) = failed {
            break Err(format!("an auto-sync round failed: {message}"));
        }
        if done >= rounds {
            break Ok(());
        }
        if started.elapsed() > std::time::Duration::from_secs(10) {
            break Err(format!("auto-sync completed {done} of {rounds} rounds in 10 s"));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    m.stop_auto_sync();
    m.unsubscribe(subscription);
    outcome
}

#[cfg(not(feature = "runtime"))]
fn auto_sync(m: &Arc<SyncManager>, transport: Arc<ReplayTransport>, rounds: usize) -> Outcome<()> {
    for _ in 0..rounds {
        m.sync_via(transport.as_ref(), &SyncContext::all()).map_err(|e| format!("a round failed: {}", code(&e)))?;
    }
    Ok(())
}

// ---- events (README: EVENT_MATCHER) ----------------------------------------------------------------

const EVENT_KEYS: &[&str] = &["name", "id", "data", "state_id", "code", "peer", "previous", "current"];

/// An event as the suite matches it.
fn event_json(event: &SyncEvent) -> Value {
    let name = event.name();
    match event {
        SyncEvent::StateCreated(s) | SyncEvent::StateUpdated(s) | SyncEvent::StateDeleted(s) => {
            json!({ "name": name, "id": s.id, "data": s.data })
        }
        SyncEvent::ConflictDetected(c) => json!({ "name": name, "state_id": c.state_id }),
        SyncEvent::ConflictResolved { state_id, .. } => json!({ "name": name, "state_id": state_id }),
        SyncEvent::StateRejected { state_id, code, .. } => json!({ "name": name, "state_id": state_id, "code": code }),
        SyncEvent::SyncStarted { peer } | SyncEvent::SyncCompleted { peer } | SyncEvent::SyncFailed { peer, .. } => {
            json!({ "name": name, "peer": peer })
        }
        SyncEvent::StatusChanged { previous, current } => {
            json!({ "name": name, "previous": previous.as_str(), "current": current.as_str() })
        }
    }
}

// ---- the vector clock helpers (README: "clock") ------------------------------------------------------

/// A clock given by the suite: an object of node ids to whole numbers from 0; anything else is
/// the step's `INVALID_INPUT`.
fn clock_arg(value: Option<&Value>, what: &str) -> Result<VectorClock, SyncError> {
    let bad = |why: String| SyncError::InvalidInput(format!("{what}: {why}"));
    let map = value.and_then(Value::as_object).ok_or_else(|| bad("not a clock object".into()))?;
    map.iter()
        .map(|(node, v)| v.as_u64().map(|n| (node.clone(), n)).ok_or_else(|| bad(format!("entry {node:?} is {v}"))))
        .collect()
}

fn clock_call(step: &Map<String, Value>) -> Outcome<Result<Value, SyncError>> {
    let f = string(step, "fn", "clock")?;
    let a = match clock_arg(step.get("a"), "a") {
        Ok(a) => a,
        Err(e) => return Ok(Err(e)),
    };
    if f == "increment" {
        let node = string(step, "node", "clock increment")?;
        let mut clock = a;
        let value = clock.increment(node);
        return Ok(Ok(json!({ "clock": clock, "value": value })));
    }
    let b = match clock_arg(step.get("b"), "b") {
        Ok(b) => b,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(match f {
        "compare" => json!(a.compare(&b)),
        "merge" => json!(a.merged(&b)),
        "dominates" => json!(a.dominates(&b)),
        other => return Err(format!("unknown clock fn {other:?}")),
    }))
}

impl Replica {
    fn view(&self) -> Outcome<View> {
        if let Some(snapshot) = &self.closed {
            return Ok(View {
                node_id: snapshot.node_id.clone(),
                states: snapshot.states.clone(),
                pending: snapshot.pending.clone(),
                conflicts: snapshot.conflicts.clone(),
                rejections: self.closed_rejections.clone(),
                status: self.manager.status().as_str().to_owned(),
            });
        }
        let err = |e: SyncError| format!("reading the replica: {} {e}", e.code());
        let view = View {
            node_id: self.manager.node_id().map_err(err)?,
            states: owned(self.manager.list_states(None, true).map_err(err)?),
            pending: self.manager.pending_operations().map_err(err)?,
            conflicts: self.manager.conflicts().map_err(err)?,
            rejections: self.manager.rejections().map_err(err)?,
            status: self.manager.status().as_str().to_owned(),
        };
        // The export must tell the same story as the listing calls.
        let export = self.manager.export_state().map_err(err)?;
        if export.states != view.states || export.pending != view.pending || export.conflicts != view.conflicts {
            return Err("export_state() disagrees with list_states/pending_operations/conflicts".into());
        }
        Ok(view)
    }

    /// The replica's full content for the "a failing step changes nothing" check.
    fn content(&self) -> Result<Snapshot, &'static str> {
        self.manager.export_state().map_err(|e| e.code())
    }
}

fn check_replica(view: &View, expected: &Value, require_all: bool, skip_status: bool, what: &str) -> Outcome<()> {
    let expected = obj(expected, what)?;
    allow(expected, &["states", "pending", "conflicts", "rejections", "status", "node_id_form"], what)?;
    check_form(expected.get("node_id_form"), &view.node_id, &format!("{what}: node id"))?;
    if require_all {
        for key in ["states", "pending", "conflicts"] {
            if !expected.contains_key(key) {
                return Err(format!("{what}: the final expectation must give {key:?}"));
            }
        }
    }
    if let Some(states) = expected.get("states") {
        let states = obj(states, &format!("{what}.states"))?;
        let want: BTreeSet<&str> = states.keys().map(String::as_str).collect();
        let got: BTreeSet<&str> = view.states.iter().map(|s| s.id.as_str()).collect();
        if want != got {
            return Err(format!("{what}: stored state ids are {got:?}, expected {want:?}"));
        }
        for state in &view.states {
            match_state(&states[state.id.as_str()], state, &format!("{what}.states[{:?}]", state.id))?;
        }
    }
    if let Some(pending) = expected.get("pending") {
        let pending = pending.as_array().ok_or(format!("{what}.pending must be an array"))?;
        if pending.len() != view.pending.len() {
            let ids: Vec<&str> = view.pending.iter().map(|o| o.op_id.as_str()).collect();
            return Err(format!("{what}: {} pending operations {ids:?}, expected {}", ids.len(), pending.len()));
        }
        for (i, (want, op)) in pending.iter().zip(&view.pending).enumerate() {
            let actual = serde_json::to_value(op).map_err(|e| e.to_string())?;
            match_fields(want, &actual, OP_KEYS, &format!("{what}.pending[{i}]"))?;
        }
    }
    if let Some(conflicts) = expected.get("conflicts") {
        let conflicts = conflicts.as_array().ok_or(format!("{what}.conflicts must be an array"))?;
        if conflicts.len() != view.conflicts.len() {
            let ids: Vec<&str> = view.conflicts.iter().map(|c| c.state_id.as_str()).collect();
            return Err(format!("{what}: conflicts on {ids:?}, expected {} conflicts", conflicts.len()));
        }
        for (i, (want, c)) in conflicts.iter().zip(&view.conflicts).enumerate() {
            match_conflict(want, c, &format!("{what}.conflicts[{i}]"))?;
        }
    }
    if let Some(rejections) = expected.get("rejections") {
        let actual: Vec<Value> = view.rejections.iter().map(|r| json!(r)).collect();
        match_list(rejections, &actual, &["state_id", "code"], &format!("{what}.rejections"))?;
    }
    if let Some(status) = expected.get("status") {
        let skip = skip_status && (status == "closed" || status == "error");
        if !skip && status.as_str() != Some(view.status.as_str()) {
            return Err(format!("{what}: status is {:?}, expected {status}", view.status));
        }
    }
    Ok(())
}

// ---- one run of one case -----------------------------------------------------------------------------

/// What a name given with `"as"` refers to.
enum Named {
    State(SyncState),
    Snapshot(Snapshot),
    Conflict(String),
    Cursor(String),
}

struct Run<P> {
    replicas: BTreeMap<String, Replica>,
    names: HashMap<String, Named>,
    /// The storage of the persistent mode; `None` in memory. Declared last so that it is dropped
    /// (a temporary directory removed) after the replicas that use it are.
    store: Option<P>,
}

const COMMON_KEYS: &[&str] = &["replica", "op", "expect", "expect_error", "comment"];

fn step_keys(op: &str) -> Option<&'static [&'static str]> {
    Some(match op {
        "create" => &["id", "collection", "data", "as"],
        "update" => &["id", "data"],
        "delete" | "get" => &["id"],
        "list" => &["collection", "include_deleted"],
        "set_clock" => &["millis"],
        "capture" => &["id", "as"],
        "capture_conflict" => &["state_id", "as"],
        "apply" => &["ref", "state", "json"],
        "reconcile" => &["items"],
        "resolve_conflict" => &["state_id", "conflict_ref", "conflict_id", "resolution"],
        "revert_rejected" => &["id"],
        "acknowledge" => &["op_ids"],
        "export" => &["as"],
        "import" => &["ref", "json", "snapshot", "replace"],
        "close" | "check" => &[],
        "changes_since" => &["cursor", "cursor_ref", "collections", "limit", "as"],
        "pull" => &["from", "collections", "limit"],
        "sync" => &["with", "collections", "limit"],
        "clock" => &["fn", "a", "b", "node"],
        "subscribe" | "events" | "open_again" => &[],
        "set_peer_cursor" => &["peer", "collections", "cursor", "cursor_ref"],
        "peer_cursor" => &["peer", "collections"],
        "sync_via" => &["with", "collections", "limit", "capabilities", "fail"],
        "auto_sync" => &["with", "rounds"],
        _ => return None,
    })
}

/// The JSON of a state returned by a core call (as a `SyncState` or a shared `Arc<SyncState>`).
fn as_state<S: Borrow<SyncState>>(result: statesync::Result<S>) -> Result<Value, SyncError> {
    result.map(|s| s.borrow().to_value())
}

/// Owned copies of listed states (returned as `SyncState` or `Arc<SyncState>`).
fn owned<S: Borrow<SyncState>>(states: Vec<S>) -> Vec<SyncState> {
    states.iter().map(|s| s.borrow().clone()).collect()
}

/// The `collections` and `limit` of a feed step.
fn context(step: &Map<String, Value>) -> Outcome<SyncContext> {
    let collections = match step.get("collections") {
        None => Vec::new(),
        Some(v) => v
            .as_array()
            .ok_or("collections must be an array")?
            .iter()
            .map(|c| c.as_str().map(str::to_owned).ok_or("collections are strings"))
            .collect::<Result<_, _>>()?,
    };
    let limit = match step.get("limit") {
        None => None,
        Some(v) => Some(v.as_u64().ok_or("limit must be a non-negative integer")? as usize),
    };
    Ok(SyncContext { collections, limit })
}

fn code(e: &SyncError) -> String {
    format!("{} ({e})", e.code())
}

impl<P: Persistence> Run<P> {
    fn new(case: &Map<String, Value>, mode: Mode) -> Outcome<Run<P>> {
        let mut store = match mode {
            Mode::Memory => None,
            Mode::Persistent => Some(P::start()?),
        };
        let mut replicas = BTreeMap::new();
        for (i, (key, spec)) in obj(case.get("replicas").unwrap_or(&Value::Null), "replicas")?.iter().enumerate() {
            let spec = obj(spec, &format!("replica {key:?}"))?.clone();
            allow(
                &spec,
                &[
                    "node_id",
                    "strategy",
                    "collection_strategies",
                    "clock",
                    "check_resolver",
                    "max_state_bytes",
                    "max_clock_skew_ms",
                ],
                key,
            )?;
            let node_id = match spec.get("node_id") {
                None => None,
                Some(_) => Some(string(&spec, "node_id", key)?.to_owned()),
            };
            let millis = match spec.get("clock") {
                None => 1000,
                Some(v) => v.as_u64().ok_or(format!("replica {key:?}: clock must be a non-negative integer"))?,
            };
            let clock = Arc::new(ManualClock::new(millis));
            let config = store.as_mut().map_or_else(ManagerConfig::memory, |s| s.open(i));
            let manager = open_manager(&spec, node_id.as_deref(), config, clock.clone())?;
            replicas.insert(
                key.clone(),
                Replica {
                    spec,
                    node_id,
                    clock,
                    index: i,
                    manager,
                    closed: None,
                    closed_rejections: Vec::new(),
                    events: None,
                },
            );
        }
        if replicas.is_empty() {
            return Err("a case needs at least one replica".into());
        }
        Ok(Run { replicas, names: HashMap::new(), store })
    }

    fn replica(&self, key: &str) -> Outcome<&Replica> {
        self.replicas.get(key).ok_or_else(|| format!("unknown replica {key:?}"))
    }

    fn named_state(&self, name: &str) -> Outcome<SyncState> {
        match self.names.get(name) {
            Some(Named::State(s)) => Ok(s.clone()),
            _ => Err(format!("no captured state named {name:?}")),
        }
    }

    /// `raw`, or for `"$name"` the id of the state created or captured as `name`.
    fn id(&self, raw: &str) -> Outcome<String> {
        match raw.strip_prefix('$') {
            Some(name) => self.named_state(name).map(|s| s.id),
            None => Ok(raw.to_owned()),
        }
    }

    /// `expected` with every string (object keys included) of the form `"$name"` that names a
    /// created or captured state replaced by that state's id.
    fn resolve(&self, expected: &Value) -> Value {
        let name = |text: &str| match text.strip_prefix('$').and_then(|n| self.names.get(n)) {
            Some(Named::State(s)) => s.id.clone(),
            _ => text.to_owned(),
        };
        match expected {
            Value::String(text) => Value::String(name(text)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.resolve(v)).collect()),
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (name(k), self.resolve(v))).collect()),
            other => other.clone(),
        }
    }

    /// A remote state given by `ref`, `state` or `json`; parsing errors are the step's errors.
    fn source(&self, src: &Map<String, Value>, what: &str) -> Outcome<Result<SyncState, SyncError>> {
        let given: Vec<&str> = ["ref", "state", "json"].into_iter().filter(|k| src.contains_key(*k)).collect();
        if given.len() != 1 {
            return Err(format!("{what}: give exactly one of ref, state, json"));
        }
        Ok(match given[0] {
            "ref" => Ok(self.named_state(string(src, "ref", what)?)?),
            "state" => SyncState::from_value(src["state"].clone()),
            _ => SyncState::from_json(string(src, "json", what)?),
        })
    }

    fn run_step(&mut self, step: &Value) -> Outcome<()> {
        let step = obj(step, "step")?;
        let op = string(step, "op", "step")?;
        let key = string(step, "replica", "step")?.to_owned();
        let extra = step_keys(op).ok_or_else(|| format!("unknown op {op:?}"))?;
        let allowed: Vec<&str> = COMMON_KEYS.iter().chain(extra).copied().collect();
        allow(step, &allowed, op)?;
        if step.contains_key("expect") && step.contains_key("expect_error") {
            return Err("a step has expect or expect_error, not both".into());
        }
        let not_a_call = matches!(op, "set_clock" | "check" | "capture" | "capture_conflict" | "subscribe" | "events");
        if not_a_call && step.contains_key("expect_error") {
            return Err(format!("{op} is not a core call and takes no expect_error"));
        }
        let no_expect =
            ["set_clock", "capture", "capture_conflict", "close", "subscribe", "set_peer_cursor", "auto_sync"];
        if (no_expect.contains(&op) || op == "open_again") && step.contains_key("expect") {
            return Err(format!("{op} takes no expect"));
        }
        if op == "open_again" {
            if step.get("expect_error").and_then(Value::as_str) != Some("STORAGE") {
                return Err("open_again always expects STORAGE".into());
            }
            if self.store.is_none() || !P::LOCKS {
                return Ok(()); // nothing to open twice (memory), or a store that does not lock
            }
        }
        let replica = self.replica(&key)?;
        match op {
            "set_clock" => {
                let millis = step.get("millis").and_then(Value::as_u64).ok_or("set_clock needs millis")?;
                replica.clock.set(millis);
                return Ok(());
            }
            "check" => {
                let expected = self.resolve(step.get("expect").ok_or("check needs expect")?);
                return check_replica(&replica.view()?, &expected, false, false, &format!("check of {key:?}"));
            }
            "subscribe" => {
                let events = Arc::new(Mutex::new(Vec::new()));
                let sink = events.clone();
                replica
                    .manager
                    .subscribe(move |e| sink.lock().unwrap_or_else(|p| p.into_inner()).push(event_json(e)))
                    .map_err(|e| format!("subscribe: {}", code(&e)))?;
                self.replicas.get_mut(&key).expect("replica exists").events = Some(events);
                return Ok(());
            }
            "events" => {
                let expected = self.resolve(step.get("expect").ok_or("events needs expect")?);
                let recorded = replica.events.as_ref().ok_or("events before subscribe")?;
                let got: Vec<Value> = std::mem::take(&mut *recorded.lock().unwrap_or_else(|p| p.into_inner()));
                return match_list(&expected, &got, EVENT_KEYS, &format!("events of {key:?}"));
            }
            "capture" => {
                let id = &self.id(string(step, "id", op)?)?;
                let states = owned(replica.manager.list_states(None, true).map_err(|e| code(&e))?);
                let state = states.into_iter().find(|s| s.id == *id).ok_or(format!("capture: no state {id:?}"))?;
                self.names.insert(string(step, "as", op)?.to_owned(), Named::State(state));
                return Ok(());
            }
            "capture_conflict" => {
                let id = self.conflict_of(&key, string(step, "state_id", op)?)?;
                self.names.insert(string(step, "as", op)?.to_owned(), Named::Conflict(id));
                return Ok(());
            }
            _ => {}
        }
        let expect_error = match step.get("expect_error") {
            None => None,
            Some(v) => Some(v.as_str().ok_or("expect_error must be a string")?.to_owned()),
        };
        let before = match expect_error {
            Some(_) => Some(self.replica(&key)?.content()),
            None => None,
        };
        let result = self.call(&key, op, step)?;
        match (expect_error, result) {
            (Some(want), Err(e)) => {
                if e.code() != want {
                    return Err(format!("expected error {want}, got {}", code(&e)));
                }
                // A failed round keeps what it finished before failing (README: "Error steps").
                if op != "sync_via" && Some(self.replica(&key)?.content()) != before {
                    return Err(format!("the failing step ({want}) changed the replica"));
                }
                Ok(())
            }
            (Some(want), Ok(v)) => Err(format!("expected error {want}, but the call succeeded with {}", short(&v))),
            (None, Err(e)) => Err(format!("unexpected error {}", code(&e))),
            (None, Ok(v)) => match step.get("expect") {
                None => Ok(()),
                Some(expected) => self.check_result(op, &self.resolve(expected), &v),
            },
        }
    }

    fn conflict_of(&self, key: &str, state_id: &str) -> Outcome<String> {
        let conflicts = self.replica(key)?.manager.conflicts().map_err(|e| code(&e))?;
        let ids: Vec<String> =
            conflicts.into_iter().filter(|c| c.state_id == state_id).map(|c| c.conflict_id).collect();
        match ids.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(format!("{} conflicts on state {state_id:?}, the step needs exactly one", ids.len())),
        }
    }

    /// Performs one core call. The outer error is a broken case, the inner one the core's answer.
    fn call(&mut self, key: &str, op: &str, step: &Map<String, Value>) -> Outcome<Result<Value, SyncError>> {
        let replica = self.replicas.get(key).ok_or_else(|| format!("unknown replica {key:?}"))?;
        let m = &replica.manager;
        let data = || step.get("data").cloned().ok_or(format!("{op} needs data"));
        Ok(match op {
            "create" => {
                let text = |key: &str| -> Outcome<Option<String>> {
                    step.get(key)
                        .map(|v| v.as_str().map(str::to_owned).ok_or(format!("{key} must be a string")))
                        .transpose()
                };
                let id = text("id")?.map(|id| self.id(&id)).transpose()?;
                let options = statesync::CreateOptions { id, collection: text("collection")? };
                let created = m.create_state(data()?, options);
                if let (Ok(state), Some(name)) = (&created, step.get("as")) {
                    let name = name.as_str().ok_or("as must be a string")?.to_owned();
                    self.names.insert(name, Named::State((**state).clone()));
                }
                as_state(created)
            }
            "update" => as_state(m.update_state(&self.id(string(step, "id", op)?)?, data()?)),
            "delete" => as_state(m.delete_state(&self.id(string(step, "id", op)?)?)),
            "get" => m.get_state(&self.id(string(step, "id", op)?)?).map(|s| s.map_or(Value::Null, |s| s.to_value())),
            "list" => {
                let collection = step.get("collection").map(|c| c.as_str().ok_or("collection must be a string"));
                let collection = collection.transpose()?;
                let deleted = step.get("include_deleted").and_then(Value::as_bool).unwrap_or(false);
                m.list_states(collection, deleted)
                    .map(|v| json!({ "ids": v.iter().map(|s| &s.id).collect::<Vec<_>>() }))
            }
            "apply" => match self.source(step, op)? {
                Err(e) => Err(e),
                Ok(state) => m.apply_remote_state(state).map(
                    |r| json!({ "outcome": r.outcome.as_str(), "resolved": r.resolved, "state": r.state.to_value() }),
                ),
            },
            "reconcile" => {
                let items = step.get("items").and_then(Value::as_array).ok_or("reconcile needs items")?;
                let mut states = Vec::new();
                let mut parse_error = None;
                for (i, item) in items.iter().enumerate() {
                    match self.source(obj(item, "reconcile item")?, &format!("reconcile item {i}"))? {
                        Ok(s) => states.push(s),
                        Err(e) => {
                            parse_error.get_or_insert(e);
                        }
                    }
                }
                match parse_error {
                    Some(e) => Err(e),
                    None => m.reconcile(states).map(|r| serde_json::to_value(r).expect("counts serialise")),
                }
            }
            "resolve_conflict" => {
                let selectors: Vec<&str> =
                    ["state_id", "conflict_ref", "conflict_id"].into_iter().filter(|k| step.contains_key(*k)).collect();
                let conflict_id = match selectors.as_slice() {
                    ["state_id"] => self.conflict_of(key, string(step, "state_id", op)?)?,
                    ["conflict_ref"] => match self.names.get(string(step, "conflict_ref", op)?) {
                        Some(Named::Conflict(id)) => id.clone(),
                        _ => return Err("conflict_ref names no captured conflict".into()),
                    },
                    ["conflict_id"] => string(step, "conflict_id", op)?.to_owned(),
                    _ => return Err("resolve_conflict needs exactly one of state_id, conflict_ref, conflict_id".into()),
                };
                let resolution = match step.get("resolution") {
                    Some(Value::String(s)) if s == "local" => Resolution::Local,
                    Some(Value::String(s)) if s == "remote" => Resolution::Remote,
                    Some(Value::Object(o)) if o.len() == 1 && o.contains_key("data") => {
                        Resolution::Custom(o["data"].clone())
                    }
                    other => return Err(format!("bad resolution {other:?}")),
                };
                as_state(m.resolve_conflict(&conflict_id, resolution))
            }
            "revert_rejected" => as_state(m.revert_rejected(string(step, "id", op)?)),
            "acknowledge" => {
                let ids = step.get("op_ids").and_then(Value::as_array).ok_or("acknowledge needs op_ids")?;
                let ids: Vec<String> = ids
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned).ok_or("op ids are strings"))
                    .collect::<Result<_, _>>()?;
                m.acknowledge(&ids).map(|n| json!({ "dropped": n }))
            }
            "export" => match m.export_state() {
                Err(e) => Err(e),
                Ok(snapshot) => {
                    let counts = json!({
                        "states": snapshot.states.len(),
                        "pending": snapshot.pending.len(),
                        "conflicts": snapshot.conflicts.len(),
                    });
                    if let Some(name) = step.get("as") {
                        let name = name.as_str().ok_or("as must be a string")?.to_owned();
                        self.names.insert(name, Named::Snapshot(snapshot));
                    }
                    Ok(counts)
                }
            },
            "import" => {
                let replace = match step.get("replace") {
                    None => false,
                    Some(v) => v.as_bool().ok_or("replace must be a boolean")?,
                };
                let given: Vec<&str> =
                    ["ref", "json", "snapshot"].into_iter().filter(|k| step.contains_key(*k)).collect();
                let result = match given.as_slice() {
                    ["ref"] => match self.names.get(string(step, "ref", op)?) {
                        Some(Named::Snapshot(s)) => m.import_state(s.clone(), replace),
                        _ => return Err("import ref names no exported snapshot".into()),
                    },
                    ["json"] => m.import_json(string(step, "json", op)?, replace),
                    ["snapshot"] => m.import_json(&step["snapshot"].to_string(), replace),
                    _ => return Err("import needs exactly one of ref, json, snapshot".into()),
                };
                result.map(|r| serde_json::to_value(r).expect("counts serialise"))
            }
            "changes_since" => {
                let cursor = match (step.get("cursor"), step.get("cursor_ref")) {
                    (None | Some(Value::Null), None) => None,
                    (Some(Value::String(c)), None) => Some(c.clone()),
                    (None, Some(Value::String(name))) => match self.names.get(name) {
                        Some(Named::Cursor(c)) => Some(c.clone()),
                        _ => return Err(format!("cursor_ref {name:?} names no remembered cursor")),
                    },
                    _ => return Err("changes_since takes a string cursor or a cursor_ref, not both".into()),
                };
                match m.changes_since(cursor.as_deref(), &context(step)?) {
                    Err(e) => Err(e),
                    Ok(page) => {
                        if let Some(name) = step.get("as") {
                            let name = name.as_str().ok_or("as must be a string")?.to_owned();
                            self.names.insert(name, Named::Cursor(page.cursor.clone()));
                        }
                        Ok(json!({
                            "ids": page.states.iter().map(|s| &s.id).collect::<Vec<_>>(),
                            "has_more": page.has_more,
                        }))
                    }
                }
            }
            "pull" => {
                let from = &self.replica(string(step, "from", op)?)?.manager;
                let ctx = context(step)?;
                let page = from.node_id().and_then(|peer| {
                    let cursor = m.peer_cursor(&peer, &ctx.scope())?;
                    let page = from.changes_since(cursor.as_deref(), &ctx)?;
                    Ok((m.apply_changes(&peer, &ctx, &page)?, page))
                });
                page.map(|(counts, page)| {
                    json!({
                        "ids": page.states.iter().map(|s| &s.id).collect::<Vec<_>>(),
                        "has_more": page.has_more,
                        "counts": counts,
                    })
                })
            }
            "sync" => {
                let other = &self.replica(string(step, "with", op)?)?.manager;
                m.sync_with_context(other, &context(step)?).map(|r| json!({ "pulled": r.pulled, "pushed": r.pushed }))
            }
            "sync_via" => {
                let peer = self.replica(string(step, "with", op)?)?.manager.clone();
                let transport = ReplayTransport::new(peer, step)?;
                m.sync_via(&transport, &context(step)?).map(|r| json!({ "pulled": r.pulled, "pushed": r.pushed }))
            }
            "auto_sync" => {
                let peer = self.replica(string(step, "with", op)?)?.manager.clone();
                let rounds = step.get("rounds").and_then(Value::as_u64).filter(|n| *n >= 1).ok_or("rounds >= 1")?;
                auto_sync(m, Arc::new(ReplayTransport::new(peer, &Map::new())?), rounds as usize)?;
                Ok(Value::Null)
            }
            "clock" => clock_call(step)?,
            "set_peer_cursor" => {
                let peer = string(step, "peer", op)?;
                let cursor = match (step.get("cursor"), step.get("cursor_ref")) {
                    (Some(Value::Null), None) => None,
                    (Some(Value::String(c)), None) => Some(c.clone()),
                    (None, Some(Value::String(name))) => match self.names.get(name) {
                        Some(Named::Cursor(c)) => Some(c.clone()),
                        _ => return Err(format!("cursor_ref {name:?} names no remembered cursor")),
                    },
                    _ => return Err("set_peer_cursor takes a cursor (string or null) or a cursor_ref".into()),
                };
                m.set_peer_cursor(peer, &context(step)?.scope(), cursor.as_deref()).map(|()| Value::Null)
            }
            "peer_cursor" => {
                m.peer_cursor(string(step, "peer", op)?, &context(step)?.scope()).map(|c| json!({ "cursor": c }))
            }
            "open_again" => {
                let (spec, node_id, index) = (replica.spec.clone(), replica.node_id.clone(), replica.index);
                let clock = Arc::new(ManualClock::new(replica.clock.now_millis()));
                let store = self.store.as_mut().ok_or("open_again needs the persistent mode")?;
                let config = config_for(&spec, node_id.as_deref(), store.open(index), clock)?;
                SyncManager::open(config).map(|second| {
                    let _ = second.close();
                    Value::Null
                })
            }
            "close" => {
                let last = replica.content().ok();
                let rejections = m.rejections().unwrap_or_default();
                let result = m.close().map(|()| Value::Null);
                if result.is_ok() {
                    let replica = self.replicas.get_mut(key).expect("replica exists");
                    if replica.closed.is_none() {
                        replica.closed = last;
                        replica.closed_rejections = rejections;
                    }
                }
                result
            }
            other => return Err(format!("op {other:?} is not a core call")),
        })
    }

    fn check_result(&self, op: &str, expected: &Value, actual: &Value) -> Outcome<()> {
        let parse_state = |v: &Value| SyncState::from_value(v.clone()).map_err(|e| format!("result state: {e}"));
        match op {
            "create" | "update" | "delete" | "resolve_conflict" | "revert_rejected" => {
                match_state(expected, &parse_state(actual)?, &format!("{op} result"))
            }
            "get" => match (expected, actual) {
                (Value::Null, Value::Null) => Ok(()),
                (Value::Null, got) => Err(format!("get: expected no state, got {}", short(got))),
                (_, Value::Null) => Err("get: expected a state, got none".into()),
                (want, got) => match_state(want, &parse_state(got)?, "get result"),
            },
            "list" => {
                let want = obj(expected, "list expect")?;
                allow(want, &["ids"], "list expect")?;
                let sorted = |v: &Value| -> Outcome<BTreeSet<String>> {
                    let items = v.as_array().ok_or("ids must be an array")?;
                    Ok(items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect())
                };
                let (w, g) = (sorted(&want["ids"])?, sorted(&actual["ids"])?);
                if w != g {
                    return Err(format!("list: ids are {g:?}, expected {w:?}"));
                }
                Ok(())
            }
            "apply" => {
                let want = obj(expected, "apply expect")?;
                allow(want, &["outcome", "resolved", "state"], "apply expect")?;
                let keys = ["outcome", "resolved"];
                match_fields(&only(want, &keys), actual, &keys, "apply")?;
                match want.get("state") {
                    Some(s) => match_state(s, &parse_state(&actual["state"])?, "apply result state"),
                    None => Ok(()),
                }
            }
            "reconcile" | "import" => match_counts(expected, actual, &format!("{op} result")),
            "acknowledge" => match_fields(expected, actual, &["dropped"], "acknowledge result"),
            "export" => match_fields(expected, actual, &["states", "pending", "conflicts"], "export result"),
            "changes_since" | "pull" => {
                let want = obj(expected, "page expect")?;
                allow(want, &["ids", "has_more", "counts"], "page expect")?;
                let keys = ["ids", "has_more"];
                match_fields(&only(want, &keys), actual, &keys, op)?;
                match (op, want.get("counts")) {
                    ("pull", Some(c)) => match_counts(c, &actual["counts"], "pull counts"),
                    (_, Some(_)) => Err("changes_since has no counts".into()),
                    (_, None) => Ok(()),
                }
            }
            "clock" => match json_eq(expected, actual) {
                true => Ok(()),
                false => Err(format!("clock: got {}, expected {}", short(actual), short(expected))),
            },
            "peer_cursor" => {
                let want = obj(expected, "peer_cursor expect")?;
                allow(want, &["cursor", "cursor_ref"], "peer_cursor expect")?;
                let expected_cursor = match (want.get("cursor"), want.get("cursor_ref")) {
                    (Some(Value::Null), None) => Value::Null,
                    (None, Some(Value::String(name))) => match self.names.get(name) {
                        Some(Named::Cursor(c)) => json!(c),
                        _ => return Err(format!("cursor_ref {name:?} names no remembered cursor")),
                    },
                    _ => return Err("peer_cursor expects {cursor: null} or {cursor_ref: name}".into()),
                };
                match expected_cursor == actual["cursor"] {
                    true => Ok(()),
                    false => Err(format!("peer_cursor is {}, expected {expected_cursor}", actual["cursor"])),
                }
            }
            "sync" | "sync_via" => {
                let want = obj(expected, "sync expect")?;
                allow(want, &["pulled", "pushed"], "sync expect")?;
                for key in ["pulled", "pushed"] {
                    if let Some(w) = want.get(key) {
                        match_counts(w, &actual[key], &format!("sync {key}"))?;
                    }
                }
                Ok(())
            }
            other => Err(format!("op {other:?} takes no expect")),
        }
    }

    fn check_final(&self, expected: &Map<String, Value>, reopened: bool) -> Outcome<()> {
        let want: BTreeSet<&String> = expected.keys().collect();
        let have: BTreeSet<&String> = self.replicas.keys().collect();
        if want != have {
            return Err(format!("the final expect must list every replica: {have:?}, got {want:?}"));
        }
        for (key, replica) in &self.replicas {
            let what = if reopened { format!("reopened {key:?}") } else { format!("final {key:?}") };
            check_replica(&replica.view()?, &self.resolve(&expected[key]), true, reopened, &what)?;
        }
        Ok(())
    }

    /// Persistent mode only: closes every replica, reopens it from its storage and compares the
    /// exports.
    fn reopen_all(&mut self) -> Outcome<()> {
        let store = self.store.as_mut().ok_or("only persisted replicas can be reopened")?;
        for (key, replica) in self.replicas.iter_mut() {
            let before = match replica.closed.take() {
                Some(snapshot) => snapshot,
                None => {
                    let snapshot = replica.manager.export_state().map_err(|e| code(&e))?;
                    replica.manager.close().map_err(|e| format!("closing {key:?}: {}", code(&e)))?;
                    snapshot
                }
            };
            let clock = Arc::new(ManualClock::new(replica.clock.now_millis()));
            let manager =
                open_manager(&replica.spec, replica.node_id.as_deref(), store.open(replica.index), clock.clone())?;
            let after = manager.export_state().map_err(|e| code(&e))?;
            if after != before {
                return Err(format!("replica {key:?} reopened from {} differs from what it held", P::REOPENED_FROM));
            }
            replica.manager = manager;
            replica.clock = clock;
        }
        Ok(())
    }
}

fn run_case<P: Persistence>(case: &Map<String, Value>, mode: Mode) -> Outcome<()> {
    let mut run = Run::<P>::new(case, mode)?;
    let steps = case.get("steps").and_then(Value::as_array).ok_or("a case needs steps")?;
    for (i, step) in steps.iter().enumerate() {
        run.run_step(step).map_err(|e| format!("step {i} ({}): {e}", step.get("op").unwrap_or(&Value::Null)))?;
    }
    let expected = obj(case.get("expect").unwrap_or(&Value::Null), "expect")?;
    run.check_final(expected, false)?;
    if mode == Mode::Persistent {
        run.reopen_all()?;
        run.check_final(expected, true)?;
    }
    Ok(())
}

/// Replays every case of the suite `files` (name and JSON text of each `conformance/*.json`, in
/// name order), or only those whose name contains `filter`, in memory and persisted with `P`;
/// panics with every failure. `location` says where the files are, for the message when the
/// suite has shrunk below [`MIN_CASES`].
pub fn replay_suite<P: Persistence>(files: &[(String, String)], filter: Option<&str>, location: &str) {
    let mut names = BTreeSet::new();
    let mut total = 0;
    let mut replayed = 0;
    let mut failures = Vec::new();
    let manifest = files
        .iter()
        .find(|(name, _)| name == "manifest.json")
        .map(|(_, text)| serde_json::from_str::<Value>(text).unwrap_or_else(|e| panic!("manifest.json: {e}")))
        .unwrap_or_else(|| panic!("{location} has no manifest.json"));
    let counts = manifest.get("files").and_then(Value::as_object).expect("manifest.json lists files");
    let listed: BTreeSet<&str> = counts.keys().map(String::as_str).collect();
    let present: BTreeSet<&str> = files.iter().map(|(n, _)| n.as_str()).filter(|n| *n != "manifest.json").collect();
    assert_eq!(present, listed, "the suite's files and manifest.json disagree");
    for (fname, text) in files.iter().filter(|(name, _)| name != "manifest.json") {
        let suite: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{fname} is not valid JSON: {e}"));
        let suite = obj(&suite, fname).unwrap_or_else(|e| panic!("{e}"));
        if let Err(e) = allow(suite, &["description", "cases"], fname) {
            panic!("{e}");
        }
        let cases = suite.get("cases").and_then(Value::as_array).unwrap_or_else(|| panic!("{fname} has no cases"));
        let pinned = counts[fname.as_str()].as_u64();
        assert_eq!(pinned, Some(cases.len() as u64), "manifest.json pins the number of cases of {fname}");
        for case in cases {
            total += 1;
            let case = obj(case, fname).unwrap_or_else(|e| panic!("{e}"));
            let name = case.get("name").and_then(Value::as_str).unwrap_or("<unnamed>").to_owned();
            if !names.insert(name.clone()) {
                failures.push(format!("{fname} / {name}: duplicate case name"));
            }
            if let Err(e) = allow(case, &["name", "description", "replicas", "steps", "expect"], &name) {
                failures.push(format!("{fname} / {name}: {e}"));
                continue;
            }
            if filter.is_some_and(|f| !name.contains(f)) {
                continue;
            }
            replayed += 1;
            for mode in [Mode::Memory, Mode::Persistent] {
                if let Err(e) = run_case::<P>(case, mode) {
                    let mode = if mode == Mode::Memory { "memory" } else { P::NAME };
                    failures.push(format!("{fname} / {name} [{mode}]: {e}"));
                }
            }
        }
    }
    println!("conformance: {total} cases in {} files, {replayed} replayed", present.len());
    assert!(total >= MIN_CASES, "only {total} conformance cases found in {location}, expected at least {MIN_CASES}");
    assert!(failures.is_empty(), "{} conformance failures:\n{}", failures.len(), failures.join("\n"));
}
