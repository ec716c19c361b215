//! The sync half of the crash harness in `crash.rs`: a client replica pulling a peer's feed is
//! killed inside `apply_changes`, `reconcile`, `resolve_conflict` and `import_state(replace)`.
//!
//! Everything the child process and the parent's uncrashed replay must do alike lives here: the
//! round's [`Plan`] (written by the parent, read by the child), the seeded [`Script`] of calls,
//! and what the parent checks after each kill: the replica's [`Content`] against the replay, and
//! the promises ([`check_promises`]) against what the applied versions imply ([`Delivered`]).
#![allow(dead_code)] // the child uses one half, the parent the other

use crate::rng::Rng;
use serde_json::{json, Value};
use statesync::{
    decode, encode, ChangeSet, ConflictStrategy, CreateOptions, Durability, Encoding, ManagerConfig, ManualClock,
    Resolution, Snapshot, Status, SyncContext, SyncManager, SyncState, VectorClock,
};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

/// The node the client pulls from.
pub const PEER: &str = "peer";
/// A third node whose versions reach the client only through `reconcile` (pushed to it, as a
/// hub relays them): new states, newer versions and conflicts that no pull brings.
pub const RELAY: &str = "relay";
/// The replica under test.
pub const CLIENT: &str = "client";
/// State ids `k0`..`k127`, shared by the peer's and the client's writes so that they collide.
pub const KEYS: u64 = 128;
/// The collection of key `k` is `COLLECTIONS[k % 4]`: two manual ones (conflicts are recorded),
/// one last-write-wins (merged, no write) and one local-wins (settled by a new local write, so
/// applying a page also queues operations).
const COLLECTIONS: [&str; 4] = ["m0", "m1", "lww", "lw"];
/// The client's calls are stamped this long after the round's start, after every write the peer
/// made for the round (which it makes in its first milliseconds).
const CALL_TIME_OFFSET: u64 = 1_000;

/// The id of key `k`.
pub fn key_id(k: u64) -> String {
    format!("k{k}")
}

/// The collection of key `k`, the same on the peer and the client.
pub fn collection_of(k: u64) -> &'static str {
    COLLECTIONS[(k % COLLECTIONS.len() as u64) as usize]
}

/// Whether the client records conflicts in `collection` (the default strategy is `Manual`).
pub fn is_manual(collection: &str) -> bool {
    !matches!(collection, "lww" | "lw")
}

/// The scope of every pull: all collections.
pub fn scope() -> String {
    SyncContext::all().scope()
}

/// How the child, the replay and the parent's checks open the client's database.
pub fn client_config(path: &Path, clock: Arc<ManualClock>, durability: Durability) -> ManagerConfig {
    ManagerConfig::sqlite(path)
        .node_id(CLIENT)
        .strategy(ConflictStrategy::Manual)
        .collection_strategy("lww", ConflictStrategy::LastWriteWins)
        .collection_strategy("lw", ConflictStrategy::LocalWins)
        .clock(clock)
        .durability(durability)
}

/// Data of a few bytes to several SQLite pages, so that a page of states is a long transaction.
pub fn payload(rng: &mut Rng, by: &str, n: u64) -> Value {
    let len = match rng.below(20) {
        0..=7 => rng.below(200),
        8..=16 => 300 + rng.below(1_200),
        _ => 1_500 + rng.below(4_500),
    } as usize;
    json!({"by": by, "n": n, "pad": "p".repeat(len), "tags": [n % 7, by]})
}

/// `a` has seen every write `b` has. Written here rather than taken from the core, so that the
/// checks do not lean on the code they check.
pub fn covers(a: &VectorClock, b: &VectorClock) -> bool {
    b.iter().all(|(node, counter)| a.get(node) >= counter)
}

fn clock_text(clock: &VectorClock) -> String {
    serde_json::to_string(clock).expect("a clock serialises")
}

// ---- the plan of a round ----------------------------------------------------------------------

/// A page of the peer's feed and the cursor it was asked for with (`None`: from the start).
pub struct PlannedPage {
    /// The cursor the page was asked for with.
    pub from: Option<String>,
    /// The page, with the cursor to store after applying it.
    pub page: ChangeSet,
}

/// What the parent prepares for one round, identical for the child and the replay.
pub struct Plan {
    /// World time (ms) of the round's start; the peer wrote just after it.
    pub world: u64,
    /// Seeds the script.
    pub seed: u64,
    /// The child's commit durability (a process crash must be survived with either).
    pub durability: Durability,
    /// The call that imports `backup` with `replace` (at most one per round).
    pub import_at: Option<u64>,
    /// The script stops after this many calls (the child then waits to be killed).
    pub max_calls: u64,
    /// The peer's feed from the client's stored cursor, page after page.
    pub pages: Vec<PlannedPage>,
    /// Pages of earlier rounds, delivered again late (older versions, out of order).
    pub late: Vec<ChangeSet>,
    /// The relay's changes since the previous round, for `reconcile`.
    pub side: Vec<ChangeSet>,
    /// An earlier export of the client: the backup a replace-import restores.
    pub backup: Snapshot,
    /// The call the parent kills: the `nth` (from 0) call of this kind. Only the child uses it,
    /// to wait for the parent before making that call (the replay makes every call alike).
    pub target: (Kind, u64),
}

impl Plan {
    /// Writes the plan into `dir` (pages and snapshot in the binary wire form).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        let meta = json!({
            "world": self.world,
            "seed": self.seed.to_string(),
            "full": self.durability == Durability::Full,
            "import_at": self.import_at,
            "max_calls": self.max_calls,
            "from": self.pages.iter().map(|p| p.from.clone()).collect::<Vec<_>>(),
            "late": self.late.len(),
            "side": self.side.len(),
            "target": [self.target.0.name(), self.target.1],
        });
        std::fs::write(dir.join("plan.json"), meta.to_string())?;
        for (i, p) in self.pages.iter().enumerate() {
            std::fs::write(dir.join(format!("page-{i}")), encode(&p.page, Encoding::Binary))?;
        }
        for (i, p) in self.late.iter().enumerate() {
            std::fs::write(dir.join(format!("late-{i}")), encode(p, Encoding::Binary))?;
        }
        for (i, p) in self.side.iter().enumerate() {
            std::fs::write(dir.join(format!("side-{i}")), encode(p, Encoding::Binary))?;
        }
        std::fs::write(dir.join("backup"), encode(&self.backup, Encoding::Binary))
    }

    /// Reads a plan [`Plan::write`] wrote.
    pub fn read(dir: &Path) -> Result<Plan, String> {
        let file = |name: &str| std::fs::read(dir.join(name)).map_err(|e| format!("reading plan file {name}: {e}"));
        let meta: Value = serde_json::from_slice(&file("plan.json")?).map_err(|e| e.to_string())?;
        let page = |name: &str| decode::<ChangeSet>(&file(name)?, Encoding::Binary).map_err(|e| e.to_string());
        let from = meta["from"].as_array().ok_or("plan without pages")?;
        let mut pages = Vec::new();
        for (i, from) in from.iter().enumerate() {
            pages.push(PlannedPage { from: from.as_str().map(str::to_owned), page: page(&format!("page-{i}"))? });
        }
        let late = (0..meta["late"].as_u64().ok_or("plan without late pages")?)
            .map(|i| page(&format!("late-{i}")))
            .collect::<Result<Vec<_>, _>>()?;
        let side = (0..meta["side"].as_u64().ok_or("plan without relay pages")?)
            .map(|i| page(&format!("side-{i}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Plan {
            world: meta["world"].as_u64().ok_or("plan without world time")?,
            seed: meta["seed"].as_str().and_then(|s| s.parse().ok()).ok_or("plan without seed")?,
            durability: if meta["full"] == json!(true) { Durability::Full } else { Durability::Normal },
            import_at: meta["import_at"].as_u64(),
            max_calls: meta["max_calls"].as_u64().ok_or("plan without max_calls")?,
            pages,
            late,
            side,
            backup: decode::<Snapshot>(&file("backup")?, Encoding::Binary).map_err(|e| e.to_string())?,
            target: (
                meta["target"][0].as_str().and_then(Kind::from_name).ok_or("plan without target kind")?,
                meta["target"][1].as_u64().ok_or("plan without target call")?,
            ),
        })
    }
}

// ---- the script -------------------------------------------------------------------------------

/// The kinds of calls the script makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `apply_changes` of the next page of the peer's feed (with its cursor).
    Apply,
    /// `reconcile` of a page: the relay's, a late one, or part of one not applied yet.
    Reconcile,
    /// `resolve_conflict` of a recorded conflict.
    Resolve,
    /// `import_state(backup, replace = true)`.
    Import,
    /// A `write_batch` of local writes on the peer's ids.
    Write,
    /// `acknowledge` of some pending operations.
    Ack,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 6] = [Kind::Apply, Kind::Reconcile, Kind::Resolve, Kind::Import, Kind::Write, Kind::Ack];

    /// The name in the child's report lines and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Apply => "apply_changes",
            Kind::Reconcile => "reconcile",
            Kind::Resolve => "resolve_conflict",
            Kind::Import => "import_replace",
            Kind::Write => "write_batch",
            Kind::Ack => "acknowledge",
        }
    }

    /// The kind [`Kind::name`] names.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// What a call delivered to the replica, for [`Delivered`].
pub enum Effect {
    /// Nothing from a peer (local writes, resolutions, acknowledgements).
    Nothing,
    /// These remote versions were applied.
    Delivered(Vec<Arc<SyncState>>),
    /// Everything was replaced by the plan's backup.
    Replaced,
}

/// The seeded calls of one round. The child runs them until it is killed; the parent replays
/// them, uncrashed, on a copy of the database as it was before the round. Every decision
/// depends only on the seed and on the replica's content, so both make the same calls.
pub struct Script<'a> {
    m: &'a SyncManager,
    clock: &'a ManualClock,
    plan: &'a Plan,
    rng: Rng,
    next_page: usize,
    /// Calls made (or started) so far.
    pub calls: u64,
}

impl<'a> Script<'a> {
    /// The script of `plan` on replica `m`, whose wall clock is `clock`.
    pub fn new(m: &'a SyncManager, clock: &'a ManualClock, plan: &'a Plan) -> Self {
        Script { m, clock, plan, rng: Rng(plan.seed ^ 0x5c41_7074), next_page: 0, calls: 0 }
    }

    /// True once the script has made its last call.
    pub fn done(&self) -> bool {
        self.calls >= self.plan.max_calls
    }

    fn choose(&mut self, n: u64) -> Result<Kind, String> {
        if self.plan.import_at == Some(n) {
            return Ok(Kind::Import);
        }
        let m = self.m;
        let cursor = m.peer_cursor(PEER, &scope()).map_err(|e| e.to_string())?;
        // A page is applied only when it follows the stored cursor, as a real pull would ask.
        let can_apply = self.plan.pages.get(self.next_page).is_some_and(|p| p.from == cursor);
        let has_pages = !self.plan.pages.is_empty() || !self.plan.late.is_empty() || !self.plan.side.is_empty();
        let has_conflicts = m.status() == Status::Conflict;
        let has_pending = !m.pending_operations().map_err(|e| e.to_string())?.is_empty();
        let weights = [
            (Kind::Apply, if can_apply { 35 } else { 0 }),
            (Kind::Reconcile, if has_pages { 20 } else { 0 }),
            (Kind::Resolve, if has_conflicts { 20 } else { 0 }),
            (Kind::Write, 20),
            (Kind::Ack, if has_pending { 10 } else { 0 }),
        ];
        let total: u64 = weights.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.below(total);
        for (kind, weight) in weights {
            if roll < weight {
                return Ok(kind);
            }
            roll -= weight;
        }
        unreachable!("the roll is below the total weight")
    }

    /// Makes the next call. `before(kind, n, size)` runs just before the call itself, after
    /// every read that decided it: the child reports the call's start there. The size (states
    /// applied or imported, writes made; 1 for the rest) lets the parent expect its duration.
    pub fn step(&mut self, before: impl FnOnce(Kind, u64, u64)) -> Result<Effect, String> {
        let n = self.calls;
        self.calls += 1;
        self.clock.set(self.plan.world + CALL_TIME_OFFSET + n * 5);
        let kind = self.choose(n)?;
        let m = self.m;
        let context = |e: statesync::SyncError| format!("call {n} ({}) failed: {e}", kind.name());
        let refused = |rejected: u64| format!("call {n} ({}) refused {rejected} states", kind.name());
        match kind {
            Kind::Apply => {
                let planned = &self.plan.pages[self.next_page];
                self.next_page += 1;
                before(kind, n, planned.page.states.len() as u64);
                let result = m.apply_changes(PEER, &SyncContext::all(), &planned.page).map_err(context)?;
                if result.rejected > 0 {
                    return Err(refused(result.rejected));
                }
                Ok(Effect::Delivered(planned.page.states.clone()))
            }
            Kind::Reconcile => {
                // The relay's pages (new versions no pull brings), late pages (older versions,
                // out of order), part of a page not applied yet (new versions without their
                // cursor), or any page of the round (mostly duplicates).
                let plan = self.plan;
                let unapplied = &plan.pages[self.next_page.min(plan.pages.len())..];
                let pick = |rng: &mut Rng, pages: &[ChangeSet]| pages[rng.index(pages.len())].states.clone();
                let roll = self.rng.below(100);
                let mut states = if !plan.side.is_empty() && roll < 45 {
                    pick(&mut self.rng, &plan.side)
                } else if !plan.late.is_empty() && roll < 65 {
                    pick(&mut self.rng, &plan.late)
                } else if !unapplied.is_empty() && roll < 90 {
                    // Part of it only, so that applying the page later still writes.
                    let page = &unapplied[self.rng.index(unapplied.len())].page;
                    page.states.iter().filter(|_| self.rng.chance(50)).cloned().collect()
                } else if !plan.pages.is_empty() {
                    plan.pages[self.rng.index(plan.pages.len())].page.states.clone()
                } else {
                    pick(&mut self.rng, if plan.side.is_empty() { &plan.late } else { &plan.side })
                };
                if self.rng.chance(30) {
                    states.reverse();
                }
                before(kind, n, states.len() as u64);
                let result = m.reconcile(states.iter().cloned()).map_err(context)?;
                if result.rejected > 0 {
                    return Err(refused(result.rejected));
                }
                Ok(Effect::Delivered(states))
            }
            Kind::Resolve => {
                let conflicts = m.conflicts().map_err(context)?;
                let conflict = &conflicts[self.rng.index(conflicts.len())];
                let resolution = match self.rng.below(3) {
                    0 => Resolution::Local,
                    1 => Resolution::Remote,
                    _ => Resolution::Custom(payload(&mut self.rng, "resolution", n)),
                };
                before(kind, n, 1);
                m.resolve_conflict(&conflict.conflict_id, resolution).map_err(context)?;
                Ok(Effect::Nothing)
            }
            Kind::Import => {
                let backup = self.plan.backup.clone();
                before(kind, n, backup.states.len() as u64);
                m.import_state(backup, true).map_err(context)?;
                Ok(Effect::Replaced)
            }
            Kind::Write => {
                let count = 1 + self.rng.below(6);
                let rng = &mut self.rng;
                before(kind, n, count);
                m.write_batch(|b| {
                    for _ in 0..count {
                        let k = rng.below(KEYS);
                        let id = key_id(k);
                        if b.get_state(&id).is_none() {
                            let options = CreateOptions::id(id).in_collection(collection_of(k));
                            b.create_state(payload(rng, CLIENT, n), options)?;
                        } else if rng.chance(75) {
                            b.update_state(&id, payload(rng, CLIENT, n))?;
                        } else {
                            b.delete_state(&id)?;
                        }
                    }
                    Ok(())
                })
                .map_err(context)?;
                Ok(Effect::Nothing)
            }
            Kind::Ack => {
                let pending = m.pending_operations().map_err(context)?;
                let ids: Vec<String> =
                    pending.iter().filter(|_| self.rng.chance(50)).map(|op| op.op_id.clone()).collect();
                before(kind, n, 1);
                m.acknowledge(&ids).map_err(context)?;
                Ok(Effect::Nothing)
            }
        }
    }
}

// ---- what the parent checks -------------------------------------------------------------------

/// Everything a call may change, in comparable form.
#[derive(Clone, PartialEq, Eq)]
pub struct Content {
    /// `export_state()`: the states, the pending queue and the conflicts.
    pub snapshot: String,
    /// The pull cursor stored for the peer.
    pub cursor: Option<String>,
    /// `rejections()`, as JSON.
    pub rejections: String,
}

impl Content {
    /// What `m` holds now.
    pub fn of(m: &SyncManager) -> Result<Content, String> {
        Ok(Content {
            snapshot: m.export_state().map_err(|e| e.to_string())?.to_json(),
            cursor: m.peer_cursor(PEER, &scope()).map_err(|e| e.to_string())?,
            rejections: serde_json::to_string(&m.rejections().map_err(|e| e.to_string())?)
                .expect("rejections serialise"),
        })
    }

    /// How `self` differs from `other`, briefly.
    pub fn differences(&self, other: &Content) -> String {
        let mut out = Vec::new();
        let (a, b) = match (Snapshot::from_json(&self.snapshot), Snapshot::from_json(&other.snapshot)) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return "unreadable export".into(),
        };
        let states = |s: &Snapshot| -> HashMap<String, String> {
            s.states.iter().map(|st| (st.id.clone(), st.to_json())).collect()
        };
        let (sa, sb) = (states(&a), states(&b));
        let mut ids: Vec<&String> = sa.keys().chain(sb.keys()).collect::<HashSet<_>>().into_iter().collect();
        ids.sort();
        let differing: Vec<&String> = ids.into_iter().filter(|id| sa.get(*id) != sb.get(*id)).collect();
        if !differing.is_empty() {
            out.push(format!("{} states differ (first: {:?})", differing.len(), &differing[..differing.len().min(5)]));
        }
        let ops = |s: &Snapshot| s.pending.iter().map(|op| op.op_id.clone()).collect::<Vec<_>>();
        if a.pending != b.pending {
            out.push(format!("pending {:?} vs {:?}", ops(&a), ops(&b)));
        }
        let conflicts = |s: &Snapshot| s.conflicts.iter().map(|c| c.conflict_id.clone()).collect::<Vec<_>>();
        if a.conflicts != b.conflicts {
            out.push(format!("conflicts {:?} vs {:?}", conflicts(&a), conflicts(&b)));
        }
        if self.cursor != other.cursor {
            out.push(format!("cursor {:?} vs {:?}", self.cursor, other.cursor));
        }
        if self.rejections != other.rejections {
            out.push(format!("rejections {} vs {}", self.rejections, other.rejections));
        }
        out.join("; ")
    }
}

/// The remote versions applied to the replica, by state id: only the newest ones are kept (a
/// version another applied one has seen adds nothing). A replace-import starts it over from the
/// snapshot's conflicts: what the replica knew before is gone with its content.
#[derive(Clone, Default)]
pub struct Delivered(HashMap<String, Vec<Arc<SyncState>>>);

impl Delivered {
    /// Records that `state` was applied.
    pub fn add(&mut self, state: &Arc<SyncState>) {
        let versions = self.0.entry(state.id.clone()).or_default();
        if versions.iter().any(|v| covers(&v.clock, &state.clock)) {
            return;
        }
        versions.retain(|v| !covers(&state.clock, &v.clock));
        versions.push(state.clone());
    }

    /// Records what a committed call delivered; `backup` is what a replace-import restored.
    pub fn apply(&mut self, effect: &Effect, backup: &Snapshot) {
        match effect {
            Effect::Nothing => {}
            Effect::Delivered(states) => states.iter().for_each(|s| self.add(s)),
            Effect::Replaced => {
                self.0.clear();
                for c in &backup.conflicts {
                    self.add(&Arc::new(c.remote.clone()));
                }
            }
        }
    }
}

/// The promises, checked on a reopened replica from what it holds, what the peer's feed holds
/// up to the stored cursor, and what was delivered to it:
///
/// * the cursor never runs ahead: every state of the peer's feed up to it is here, or
///   superseded (a version here, or a recorded conflict, has seen it);
/// * conflicts are neither lost nor duplicated: in a manual collection, exactly one per newest
///   delivered remote version that the stored version has not seen, and none for a version
///   another delivered one has seen; in the others none, and every delivered version seen.
pub fn check_promises(m: &SyncManager, peer: &SyncManager, delivered: &Delivered) -> Result<(), String> {
    let err = |e: statesync::SyncError| e.to_string();
    let states: HashMap<String, Arc<SyncState>> =
        m.list_states(None, true).map_err(err)?.into_iter().map(|s| (s.id.clone(), s)).collect();
    let conflicts = m.conflicts().map_err(err)?;
    if (m.status() == Status::Conflict) == conflicts.is_empty() {
        return Err(format!("status {:?} with {} conflicts", m.status(), conflicts.len()));
    }

    // Recorded conflicts: each well-formed, none twice.
    let mut recorded: HashSet<(String, String, String)> = HashSet::new();
    for c in &conflicts {
        let key = (c.state_id.clone(), clock_text(&c.remote.clock), c.remote.hash.clone());
        if !recorded.insert(key) {
            return Err(format!(
                "conflict on {} for remote {} recorded twice",
                c.state_id,
                clock_text(&c.remote.clock)
            ));
        }
        let stored = states.get(&c.state_id).ok_or_else(|| format!("conflict on missing state {}", c.state_id))?;
        if !is_manual(&stored.collection) {
            return Err(format!("conflict recorded on {} in {} collection", c.state_id, stored.collection));
        }
        if covers(&c.local.clock, &c.remote.clock) || covers(&c.remote.clock, &c.local.clock) {
            return Err(format!("conflict on {}: its two sides are not concurrent", c.state_id));
        }
        if covers(&stored.clock, &c.remote.clock) {
            return Err(format!(
                "conflict on {} kept for remote {} which the stored version {} has seen",
                c.state_id,
                clock_text(&c.remote.clock),
                clock_text(&stored.clock)
            ));
        }
    }

    // What the delivered versions imply.
    let mut expected: HashSet<(String, String, String)> = HashSet::new();
    for (id, versions) in &delivered.0 {
        for v in versions {
            let stored = states.get(id);
            if stored.is_some_and(|s| covers(&s.clock, &v.clock)) {
                continue;
            }
            match stored {
                Some(s) if is_manual(&s.collection) => {
                    expected.insert((id.clone(), clock_text(&v.clock), v.hash.clone()));
                }
                _ => {
                    return Err(format!(
                        "delivered version {} of {id} is lost: stored {}",
                        clock_text(&v.clock),
                        stored.map_or("nothing".into(), |s| clock_text(&s.clock))
                    ))
                }
            }
        }
    }
    if let Some((id, clock, _)) = expected.difference(&recorded).next() {
        return Err(format!(
            "conflict lost: {id} remote {clock} was delivered, is not seen by the stored version, \
                            and no conflict holds it"
        ));
    }
    if let Some((id, clock, hash)) = recorded.difference(&expected).next() {
        let c = conflicts
            .iter()
            .find(|c| c.state_id == *id && clock_text(&c.remote.clock) == *clock && c.remote.hash == *hash);
        let newer = c.and_then(|c| {
            delivered.0.get(id)?.iter().find(|v| covers(&v.clock, &c.remote.clock)).map(|v| clock_text(&v.clock))
        });
        return Err(match newer {
            Some(newer) => format!(
                "conflict on {id} recorded for remote {clock}, a version the delivered {newer} has seen: a \
                 conflict for a dominated version"
            ),
            None => format!("conflict on {id} recorded for remote {clock}, a version never delivered"),
        });
    }

    // The cursor: everything of the peer's feed up to it is here or superseded.
    if let Some(cursor) = m.peer_cursor(PEER, &scope()).map_err(err)? {
        let after = peer.changes_since(Some(&cursor), &SyncContext::all()).map_err(err)?;
        if after.has_more {
            return Err("the peer's feed after the cursor came in more than one page".into());
        }
        let after: HashSet<&str> = after.states.iter().map(|s| s.id.as_str()).collect();
        for s in peer.list_states(None, true).map_err(err)? {
            if after.contains(s.id.as_str()) {
                continue;
            }
            let here = states.get(&s.id).is_some_and(|l| covers(&l.clock, &s.clock))
                || conflicts.iter().any(|c| c.state_id == s.id && covers(&c.remote.clock, &s.clock));
            if !here {
                return Err(format!(
                    "cursor {cursor} runs ahead: the peer's {} {} is before it but neither here nor superseded \
                     (stored: {})",
                    s.id,
                    clock_text(&s.clock),
                    states.get(&s.id).map_or("nothing".into(), |l| clock_text(&l.clock))
                ));
            }
        }
    }
    Ok(())
}

// ---- evidence of kills inside a transaction ---------------------------------------------------

/// The number of complete, checksummed frames at the end of the SQLite WAL file `wal` that no
/// commit frame follows: a transaction was being written when the process died. Read before
/// the database is reopened (recovery ignores those frames and a later write reuses the space).
pub fn wal_uncommitted_frames(wal: &Path) -> std::io::Result<u64> {
    let bytes = match std::fs::read(wal) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    if bytes.len() < 32 {
        return Ok(0);
    }
    let big_endian = match be(&bytes[0..]) {
        0x377f_0682 => false,
        0x377f_0683 => true,
        _ => return Ok(0),
    };
    let page_size = be(&bytes[8..]) as usize;
    let salt = (be(&bytes[16..]), be(&bytes[20..]));
    let mut sum = wal_checksum((0, 0), &bytes[..24], big_endian);
    if sum != (be(&bytes[24..]), be(&bytes[28..])) {
        return Ok(0);
    }
    let (mut offset, mut uncommitted) = (32, 0);
    while offset + 24 + page_size <= bytes.len() {
        let frame = &bytes[offset..offset + 24 + page_size];
        if (be(&frame[8..]), be(&frame[12..])) != salt {
            break;
        }
        sum = wal_checksum(sum, &frame[..8], big_endian);
        sum = wal_checksum(sum, &frame[24..], big_endian);
        if sum != (be(&frame[16..]), be(&frame[20..])) {
            break;
        }
        // A commit frame records the database size after the commit; other frames hold 0.
        uncommitted = if be(&frame[4..]) != 0 { 0 } else { uncommitted + 1 };
        offset += 24 + page_size;
    }
    Ok(uncommitted)
}

/// SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing from `sum`.
fn wal_checksum(mut sum: (u32, u32), data: &[u8], big_endian: bool) -> (u32, u32) {
    for pair in data.chunks_exact(8) {
        let word = |b: &[u8]| {
            let b = [b[0], b[1], b[2], b[3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        sum.0 = sum.0.wrapping_add(word(&pair[..4])).wrapping_add(sum.1);
        sum.1 = sum.1.wrapping_add(word(&pair[4..])).wrapping_add(sum.0);
    }
    sum
}
