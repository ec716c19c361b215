//! Deterministic simulation: five replicas write concurrently to a small id space and sync in
//! rounds between random pairs over a hostile simulated network, then must converge.
//!
//! **Replicas.** `n0`..`n4`; two or three of them (chosen per seed) store to SQLite files in a
//! temporary directory (in `/dev/shm` when there is one; `Durability::Normal`: a process kill
//! is survived either way), the rest live in memory. Each has its own [`ManualClock`], set every
//! step to the simulation's time plus a per-replica drift that jumps forward, jumps back, or
//! resets to zero for every replica at once (so timestamps tie on milliseconds). Three
//! collections `c0`..`c2`; per seed, the default strategy and each collection's override are
//! `LastWriteWins` or `MergeFields`. State ids are `k0`..`k7`, each bound to one collection, so
//! concurrent writes to the same id are frequent. In three seeds out of ten one replica is
//! passive: a server that answers rounds and writes, but never starts a round.
//!
//! **Writes.** Creates (including re-creates over a tombstone), whole-value updates, field
//! patches (set or remove a key, at depth one or two: the `MergeFields` case), deletes, and
//! two-write batches (some of which fail on purpose and must leave nothing behind). Every write
//! that returned `Ok` is recorded with the clock it returned.
//!
//! **Rounds.** Up to three rounds run at once, between random pairs, each driven through
//! [`SyncRound`] one exchange half at a time: "send the request" (the peer serves or applies it
//! at once) and "receive the reply" are separate simulation steps, so writes, other rounds,
//! late messages, partitions and kills interleave with every round. Scopes are all collections,
//! one or two of them, with or without a page limit; the peer's advertised capabilities are
//! sometimes cut (no scoped sync: the round filters locally; a small `max_batch`). A round
//! whose reply does not come either sends the same request again (`next_step` repeats an
//! unanswered step, so a push page may reach the peer twice) or fails with
//! `SyncError::Transport`.
//!
//! **Network.** Per seed, a drop, duplicate and delay rate (each 0–14 %), applied to every
//! request and reply:
//! - drop: a lost pull request or reply, or a lost push request, leaves the round without an
//!   answer; a lost push *reply* too, but the peer did apply the page.
//! - duplicate: a push page is applied twice (at once, or once more later); a pull reply is
//!   delivered and a copy stays in the network.
//! - delay/reorder: the message joins a pool of late messages (the round gets no answer) and is
//!   delivered at a random later step, in random order: an old push page reconciled into the
//!   peer long after, an old pull request served late, an old pull page handed to
//!   [`SyncRound::pulled`] of a round of the same pair and scope waiting for a pull reply (its
//!   own reply then arrives later still) or applied through `apply_changes`.
//! - partitions: the replicas are split into two groups for 5–30 steps; messages across are
//!   lost (late ones stay in the pool or are lost) until the partition heals.
//!
//! **Kills.** Only SQLite replicas are killed (a memory replica cannot survive one; it restarts
//! cleanly from a snapshot instead, see `SIM_MEMORY_RESTARTS` below): the manager is dropped without `close` (one kill in five is a
//! clean `close` instead), at any point, between the steps of its own rounds or of rounds it
//! serves; its rounds die with it (no `fail`: the process is gone). It stays down for 1–12 steps
//! (requests to it are lost), then is reopened from its file with [`SyncManager::open`] and must
//! hold exactly what it held: the same states, pending operations and conflicts.
//!
//! **Checks during the run.**
//! - Every local write returns a version whose timestamp is newer than every earlier write of
//!   its replica (across kills) and than the version it overwrote.
//! - Pending queues, against a model, after every step: an operation appears only by a local
//!   write, and disappears only during a round, when that round's peer holds a version of its
//!   state that has seen the write; when the peer accepts a push page, every operation a sent
//!   version has seen is gone.
//! - When a round applies the last page of the peer's feed (a reply it asked for, not a late
//!   one), it holds, in the round's scope, a version that has seen each version the peer held
//!   when it served that page: cursors skip nothing.
//! - After a round completes the initiator's status is `Idle`, after it fails `Error` (unless
//!   another of its rounds is still running).
//!
//! **Settling.** Then faults stop: partitions heal, killed replicas come back, unfinished rounds
//! fail, every late message is delivered, and full rounds (`sync_via`: a ring, then every
//! ordered pair, never started by the passive replica) run until a whole pass changes nothing
//! anywhere. Then:
//! 1. all replicas export byte-identical states (canonical JSON of every field, the field
//!    history of `MergeFields` included), and `changes_since(None, all)` gives the same set;
//! 2. every acknowledged write is present or superseded: the final clock of its id dominates
//!    the clock the write returned;
//! 3. every pending queue equals its model and is drained (a replica's operations are
//!    acknowledged when a peer accepts a page carrying, or echoing, a version that has seen
//!    them, and every replica but the passive one has pushed everything), no conflict is
//!    recorded, every status is `Idle`, and re-delivering a replica's whole feed to another one
//!    changes nothing.
//!
//! **Running.** All randomness comes from one seeded splitmix64 generator, so a seed replays
//! exactly (each seed runs 100–300 steps).
//! - `cargo test -p statesync --test simulation`: seeds 0..1000, in two threads.
//! - `SIM_SEEDS=20000 SIM_START=1000 cargo test --release -p statesync --test simulation -- --nocapture`:
//!   other seeds (`SIM_THREADS` sets the thread count, `SIM_TMPDIR` the directory for SQLite).
//! - `SIM_SEED=42 cargo test -p statesync --test simulation -- --nocapture`: one seed, printing
//!   every step.
//! - `SIM_MEMORY_RESTARTS=0`: memory replicas never restart. By default they do, cleanly, from a
//!   snapshot (`export_state`, `close`, a new replica, `import_state(snapshot, replace = true)`):
//!   the restored replica's feed has a new name, so its peers' cursors start over instead of
//!   skipping (the test at the end of this file is the minimal case).

#[path = "support/rng.rs"]
mod rng;

use rng::Rng;
use serde_json::{json, Map, Value};
use statesync::{
    canonical_json, ChangeSet, ClockOrdering, ConflictStrategy, CreateOptions, Durability, ManagerConfig, ManualClock,
    ReconciliationResult, RoundStep, Snapshot, Status, SyncContext, SyncError, SyncManager, SyncRound, SyncState,
    SyncTransport, Timestamp, VectorClock,
};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const NODES: usize = 5;
/// State ids `k0`..`k7`; `k{n}` lives in collection `c{n % 3}`.
const KEYS: u64 = 8;
const COLLECTIONS: [&str; 3] = ["c0", "c1", "c2"];
/// Object keys of generated data.
const FIELDS: [&str; 4] = ["a", "b", "c", "d"];
/// Seeds of a normal run.
const DEFAULT_SEEDS: u64 = 1_000;
/// Simulation steps of the chaos phase, per seed: from `MIN_STEPS` to `MAX_STEPS`.
const MIN_STEPS: usize = 100;
const MAX_STEPS: usize = 300;
const MAX_ROUNDS_AT_ONCE: usize = 3;
/// Full passes allowed before the replicas are declared never to settle.
const MAX_SETTLE_PASSES: usize = 8;
const START_MILLIS: u64 = 1_700_000_000_000;
const DEFAULT_THREADS: usize = 2;
/// A multi-seed run stops after this many failing seeds.
const MAX_FAILURES: usize = 5;

// ---- randomness ---------------------------------------------------------------------------------

/// A generator for one seed; the seed is mixed so that neighbouring seeds differ at once.
fn seeded_rng(seed: u64) -> Rng {
    let mut rng = Rng(seed ^ 0x51a7_e5ec_0de5_1e1d);
    rng.next_u64();
    rng
}

// ---- the plan of one seed -------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strat {
    Lww,
    Fields,
}

impl Strat {
    fn strategy(self) -> ConflictStrategy {
        match self {
            Strat::Lww => ConflictStrategy::LastWriteWins,
            Strat::Fields => ConflictStrategy::MergeFields,
        }
    }
}

/// Fault rates in percent; all zero once the simulation settles.
#[derive(Clone, Copy, Debug, Default)]
struct Faults {
    drop: u64,
    duplicate: u64,
    delay: u64,
    /// In tenths: how often a step of the kill slot (9 parts of the step mix) kills a replica.
    kill: u64,
}

/// What happened, summed over seeds for the report.
#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    seeds: u64,
    writes: u64,
    failed_batches: u64,
    rounds_started: u64,
    rounds_completed: u64,
    rounds_failed: u64,
    retries: u64,
    rounds_abandoned: u64,
    rounds_cut: u64,
    unreachable: u64,
    dropped: u64,
    duplicated: u64,
    delayed: u64,
    late_delivered: u64,
    late_into_round: u64,
    late_lost: u64,
    kills: u64,
    clean_restarts: u64,
    partitions: u64,
    settle_passes: u64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.seeds += o.seeds;
        self.writes += o.writes;
        self.failed_batches += o.failed_batches;
        self.rounds_started += o.rounds_started;
        self.rounds_completed += o.rounds_completed;
        self.rounds_failed += o.rounds_failed;
        self.retries += o.retries;
        self.rounds_abandoned += o.rounds_abandoned;
        self.rounds_cut += o.rounds_cut;
        self.unreachable += o.unreachable;
        self.dropped += o.dropped;
        self.duplicated += o.duplicated;
        self.delayed += o.delayed;
        self.late_delivered += o.late_delivered;
        self.late_into_round += o.late_into_round;
        self.late_lost += o.late_lost;
        self.kills += o.kills;
        self.clean_restarts += o.clean_restarts;
        self.partitions += o.partitions;
        self.settle_passes += o.settle_passes;
    }
}

// ---- the simulated world ----------------------------------------------------------------------------

struct Replica {
    name: String,
    clock: Arc<ManualClock>,
    drift: i64,
    config: ManagerConfig,
    sqlite: bool,
    /// `None` while killed.
    manager: Option<SyncManager>,
    down_until: usize,
    /// What the replica held when it was killed: reopening must give exactly this back.
    at_kill: Option<Snapshot>,
    /// The counter and timestamp of this replica's newest write.
    last_write: Option<(u64, Timestamp)>,
    /// The model of the pending queue: op id → (state id, clock the write returned).
    pending: BTreeMap<String, (String, VectorClock)>,
}

/// The versions a replica holds: state id → clock.
type Held = BTreeMap<String, VectorClock>;

/// A write whose call returned `Ok`.
struct Acked {
    node: usize,
    id: String,
    clock: VectorClock,
    step: usize,
}

/// What a round waits for.
enum Wait {
    /// Nothing: ask the round for its next step.
    Ready,
    /// The reply to a pull request; `None` when it is lost (the round will time out). With the
    /// last page of the feed comes what the peer held when it served it.
    Pull(Option<(ChangeSet, Option<Held>)>),
    /// The reply to pushing this page; `None` when it is lost.
    Push(ChangeSet, Option<ReconciliationResult>),
}

struct Active {
    no: u64,
    from: usize,
    to: usize,
    /// The context the round was started with (its cursors are stored under its scope).
    scope: SyncContext,
    round: SyncRound,
    wait: Wait,
}

/// A message still in the network.
enum Late {
    /// A push page on its way to `server`.
    Push { client: usize, server: usize, page: ChangeSet },
    /// A pull request on its way to `server`; the reply goes to `client`.
    PullRequest { client: usize, server: usize, cursor: Option<String>, context: SyncContext, scope: SyncContext },
    /// A pull reply on its way to `client`.
    PullReply { client: usize, server: usize, scope: SyncContext, page: ChangeSet },
}

impl Late {
    /// (sender, receiver)
    fn route(&self) -> (usize, usize) {
        match self {
            Late::Push { client, server, .. } | Late::PullRequest { client, server, .. } => (*client, *server),
            Late::PullReply { client, server, .. } => (*server, *client),
        }
    }
}

fn manager(replicas: &[Replica], i: usize) -> &SyncManager {
    replicas[i].manager.as_ref().unwrap_or_else(|| panic!("replica n{i} is down"))
}

fn changed(r: &ReconciliationResult) -> u64 {
    r.created + r.updated + r.conflicts
}

fn canonical_states(states: &[SyncState]) -> Vec<String> {
    states.iter().map(|s| canonical_json(&serde_json::to_value(s).expect("a state serialises"))).collect()
}

fn page_summary(page: &ChangeSet) -> String {
    let ids: Vec<String> =
        page.states.iter().map(|s| format!("{}{:?}", s.id, BTreeMap::from_iter(s.clock.iter()))).collect();
    format!("[{}] cursor {}{}", ids.join(" "), page.cursor, if page.has_more { " +more" } else { "" })
}

fn collection_of(key: u64) -> &'static str {
    COLLECTIONS[(key % COLLECTIONS.len() as u64) as usize]
}

enum WriteOp {
    Create(Value),
    Update(Value),
    Delete,
}

struct Sim {
    seed: u64,
    rng: Rng,
    verbose: bool,
    step: usize,
    /// Steps of the chaos phase.
    steps: usize,
    /// How often a step is a local write, against 69 for everything else.
    write_weight: u64,
    /// A replica that never starts a round (a server that only answers), if any.
    passive: Option<usize>,
    now: u64,
    replicas: Vec<Replica>,
    rounds: Vec<Active>,
    next_round: u64,
    late: Vec<Late>,
    groups: [u8; NODES],
    partition_until: Option<usize>,
    faults: Faults,
    writes: Vec<Acked>,
    stats: Stats,
    _dir: tempfile::TempDir,
}

impl Sim {
    fn new(seed: u64, verbose: bool) -> Sim {
        let mut rng = seeded_rng(seed);
        let dir = temp_dir();
        let default = if rng.chance(70) { Strat::Lww } else { Strat::Fields };
        let overrides: Vec<Option<Strat>> = COLLECTIONS
            .iter()
            .map(|_| match rng.below(4) {
                0 => Some(Strat::Lww),
                1 => Some(Strat::Fields),
                _ => None,
            })
            .collect();
        let sqlite_count = 2 + rng.index(2);
        let mut order: Vec<usize> = (0..NODES).collect();
        for i in (1..NODES).rev() {
            order.swap(i, rng.index(i + 1));
        }
        let faults = Faults { drop: rng.below(15), duplicate: rng.below(15), delay: rng.below(15), kill: rng.below(7) };
        let steps = MIN_STEPS + rng.index(MAX_STEPS - MIN_STEPS + 1);
        let write_weight = 20 + rng.below(26);
        let passive = rng.chance(30).then(|| rng.index(NODES));
        let mut replicas = Vec::new();
        for i in 0..NODES {
            let name = format!("n{i}");
            let sqlite = order[..sqlite_count].contains(&i);
            let clock = Arc::new(ManualClock::new(START_MILLIS));
            let mut config = if sqlite {
                ManagerConfig::sqlite(dir.path().join(format!("{name}.db")))
            } else {
                ManagerConfig::memory()
            };
            config =
                config.node_id(&name).clock(clock.clone()).strategy(default.strategy()).durability(Durability::Normal);
            for (c, s) in COLLECTIONS.iter().zip(&overrides) {
                if let Some(s) = s {
                    config = config.collection_strategy(*c, s.strategy());
                }
            }
            let manager = SyncManager::open(config.clone()).unwrap_or_else(|e| panic!("seed {seed}: open {name}: {e}"));
            replicas.push(Replica {
                name,
                clock,
                drift: 0,
                config,
                sqlite,
                manager: Some(manager),
                down_until: 0,
                at_kill: None,
                last_write: None,
                pending: BTreeMap::new(),
            });
        }
        let sim = Sim {
            seed,
            rng,
            verbose,
            step: 0,
            steps,
            write_weight,
            passive,
            now: START_MILLIS,
            replicas,
            rounds: Vec::new(),
            next_round: 0,
            late: Vec::new(),
            groups: [0; NODES],
            partition_until: None,
            faults,
            writes: Vec::new(),
            stats: Stats { seeds: 1, ..Stats::default() },
            _dir: dir,
        };
        sim.log(|| {
            let sqlite: Vec<&str> = sim.replicas.iter().filter(|r| r.sqlite).map(|r| r.name.as_str()).collect();
            format!(
                "plan: {} steps, write weight {}, passive {:?}, default {default:?}, collection overrides \
                 {overrides:?}, sqlite {sqlite:?}, faults {:?}",
                sim.steps, sim.write_weight, sim.passive, sim.faults
            )
        });
        sim
    }

    fn log(&self, line: impl FnOnce() -> String) {
        if self.verbose {
            println!("[{:>3}] {}", self.step, line());
        }
    }

    /// Panics with the seed and step: a check failed or the core misbehaved.
    fn fail(&self, what: String) -> ! {
        panic!("seed {} step {}: {what}", self.seed, self.step)
    }

    fn m(&self, i: usize) -> &SyncManager {
        manager(&self.replicas, i)
    }

    fn up(&self, i: usize) -> bool {
        self.replicas[i].manager.is_some()
    }

    fn reachable(&self, a: usize, b: usize) -> bool {
        self.up(a) && self.up(b) && self.groups[a] == self.groups[b]
    }

    fn fault(&mut self, percent: u64) -> bool {
        percent > 0 && self.rng.chance(percent)
    }

    fn name(&self, i: usize) -> &str {
        &self.replicas[i].name
    }

    // ---- the chaos phase ----------------------------------------------------------------------------

    fn chaos(&mut self) {
        for step in 0..self.steps {
            self.step = step;
            self.tick();
            for i in 0..NODES {
                if !self.up(i) && self.replicas[i].down_until <= step {
                    self.restart(i);
                }
            }
            if self.partition_until.is_some_and(|until| step >= until) {
                self.heal();
            }
            // Writes take `write_weight` parts of `write_weight + 69`; the rest as below.
            match self.rng.below(self.write_weight + 69).checked_sub(self.write_weight) {
                None => self.random_write(),
                Some(0..=9) if self.rounds.len() < MAX_ROUNDS_AT_ONCE => self.start_round(),
                Some(0..=44) if !self.rounds.is_empty() => self.advance_round(),
                Some(0..=44) => self.start_round(),
                Some(45..=51) if !self.late.is_empty() => self.deliver_late(),
                Some(52..=57) => self.move_clock(),
                Some(58..=59) => self.partition(),
                Some(60..=68) if self.rng.below(10) < self.faults.kill => self.kill(),
                _ => self.random_write(),
            }
            for i in 0..NODES {
                if self.up(i) {
                    self.check_pending(i, None);
                }
            }
        }
    }

    /// Moves simulated time on and sets every wall clock to it plus the replica's drift.
    fn tick(&mut self) {
        self.now += self.rng.below(4);
        for r in &self.replicas {
            r.clock.set(self.now.saturating_add_signed(r.drift));
        }
    }

    fn move_clock(&mut self) {
        let i = self.rng.index(NODES);
        match self.rng.below(4) {
            0 => {
                for r in &mut self.replicas {
                    r.drift = 0;
                }
                self.log(|| "clocks: every drift reset to 0 (timestamps tie)".into());
            }
            1 => {
                let by = self.rng.below(3_000) as i64;
                self.replicas[i].drift += by;
                self.log(|| format!("clocks: n{i} jumps forward {by} ms"));
            }
            _ => {
                let by = self.rng.below(5_000) as i64;
                self.replicas[i].drift -= by;
                self.log(|| format!("clocks: n{i} jumps back {by} ms"));
            }
        }
        self.tick();
    }

    fn partition(&mut self) {
        if self.partition_until.is_some() {
            self.heal();
            return;
        }
        for g in &mut self.groups {
            *g = self.rng.below(2) as u8;
        }
        self.partition_until = Some(self.step + 5 + self.rng.index(26));
        self.stats.partitions += 1;
        self.log(|| format!("partition: groups {:?} until step {}", self.groups, self.partition_until.unwrap_or(0)));
    }

    fn heal(&mut self) {
        self.groups = [0; NODES];
        self.partition_until = None;
        self.log(|| "partition healed".into());
    }

    // ---- local writes -------------------------------------------------------------------------------

    fn leaf(&mut self, tag: &str) -> Value {
        match self.rng.below(6) {
            0 => Value::Null,
            1 => json!(self.rng.chance(50)),
            2 => json!(self.rng.below(4)),
            3 => json!(tag),
            4 => json!([self.rng.below(3), tag]),
            _ => json!({ "x": self.rng.below(3) }),
        }
    }

    fn new_data(&mut self, node: usize, current: Option<&Value>) -> Value {
        let tag = format!("{}@{}", self.name(node), self.step);
        match self.rng.below(10) {
            // Not an object: whole-value last-writer-wins even under MergeFields.
            0 => self.leaf(&tag),
            1..=3 => {
                let mut map = Map::new();
                for _ in 0..self.rng.below(4) {
                    let key = FIELDS[self.rng.index(FIELDS.len())];
                    let value = if self.rng.chance(25) {
                        json!({ FIELDS[self.rng.index(FIELDS.len())]: self.leaf(&tag) })
                    } else {
                        self.leaf(&tag)
                    };
                    map.insert(key.to_owned(), value);
                }
                Value::Object(map)
            }
            _ => {
                // A patch of the current data: one field at depth one or two set or removed.
                let mut root = match current {
                    Some(Value::Object(map)) => Value::Object(map.clone()),
                    _ => Value::Object(Map::new()),
                };
                let depth = 1 + self.rng.index(2);
                let path: Vec<&str> = (0..depth).map(|_| FIELDS[self.rng.index(FIELDS.len())]).collect();
                let value = if self.rng.chance(25) { None } else { Some(self.leaf(&tag)) };
                set_path(&mut root, &path, value);
                root
            }
        }
    }

    fn plan_write(&mut self, node: usize, current: Option<&SyncState>) -> WriteOp {
        match current {
            None => WriteOp::Create(self.new_data(node, None)),
            Some(_) if self.rng.chance(25) => WriteOp::Delete,
            Some(s) => WriteOp::Update(self.new_data(node, Some(&s.data))),
        }
    }

    fn random_write(&mut self) {
        let up: Vec<usize> = (0..NODES).filter(|&i| self.up(i)).collect();
        if up.is_empty() {
            return; // every replica is down for the moment
        }
        let node = up[self.rng.index(up.len())];
        let first = self.rng.below(KEYS);
        let mut keys = vec![first];
        if self.rng.chance(12) {
            keys.push((first + 1 + self.rng.below(KEYS - 1)) % KEYS);
        }
        let mut planned = Vec::new();
        for key in keys {
            let id = format!("k{key}");
            let current = self.m(node).get_state(&id).unwrap_or_else(|e| self.fail(format!("get_state: {e}")));
            let op = self.plan_write(node, current.as_deref());
            planned.push((id, collection_of(key), op, current));
        }
        let doomed = planned.len() > 1 && self.rng.chance(20);
        let outcome = if planned.len() == 1 {
            let (id, collection, op, _) = &planned[0];
            let m = self.m(node);
            let result = match op {
                WriteOp::Create(data) => m.create_state(data.clone(), CreateOptions::id(id).in_collection(*collection)),
                WriteOp::Update(data) => m.update_state(id, data.clone()),
                WriteOp::Delete => m.delete_state(id),
            };
            result.map(|s| vec![s])
        } else {
            self.m(node).write_batch(|b| {
                let mut out = Vec::new();
                for (id, collection, op, _) in &planned {
                    out.push(match op {
                        WriteOp::Create(data) => {
                            b.create_state(data.clone(), CreateOptions::id(id).in_collection(*collection))?
                        }
                        WriteOp::Update(data) => b.update_state(id, data.clone())?,
                        WriteOp::Delete => b.delete_state(id)?,
                    });
                }
                if doomed {
                    // Fails after the writes: the whole batch must be rolled back.
                    b.update_state("missing", json!(0))?;
                }
                Ok(out)
            })
        };
        match outcome {
            Err(SyncError::NotFound(_)) if doomed => {
                self.stats.failed_batches += 1;
                self.log(|| format!("{}: batch of {} writes failed on purpose", self.name(node), planned.len()));
                for (id, _, _, before) in &planned {
                    let now = self.m(node).get_state(id).unwrap_or_else(|e| self.fail(format!("get_state: {e}")));
                    if now != *before {
                        self.fail(format!("a batch that failed changed {id} on {}", self.name(node)));
                    }
                }
                self.check_pending(node, None);
            }
            Err(e) => self.fail(format!("local write on {} failed: {e}", self.name(node))),
            Ok(_) if doomed => self.fail("a batch that failed was committed".into()),
            Ok(states) => {
                for (state, (_, _, op, base)) in states.iter().zip(&planned) {
                    let kind = match op {
                        WriteOp::Create(_) => "create",
                        WriteOp::Update(_) => "update",
                        WriteOp::Delete => "delete",
                    };
                    self.log(|| {
                        format!(
                            "{}: {kind} {} clock {:?} ts {}.{} data {}",
                            self.name(node),
                            state.id,
                            BTreeMap::from_iter(state.clock.iter()),
                            state.timestamp.millis,
                            state.timestamp.counter,
                            state.data
                        )
                    });
                    self.record_write(node, state, base.as_deref());
                }
            }
        }
    }

    /// Records a write that returned `Ok`, checking what it returned: its replica's counter and
    /// timestamp moved past all its earlier writes, and past the live version it overwrote.
    fn record_write(&mut self, node: usize, state: &SyncState, base: Option<&SyncState>) {
        let r = &self.replicas[node];
        if state.modified_by != r.name || state.timestamp.node != r.name {
            self.fail(format!("{}'s write is attributed to {:?}", r.name, state.modified_by));
        }
        let counter = state.clock.get(&r.name);
        if let Some((last_counter, last)) = &r.last_write {
            if counter <= *last_counter || state.timestamp <= *last {
                self.fail(format!(
                    "{}'s counter or timestamp went back: {last_counter} {last:?}, then {counter} {:?}",
                    r.name, state.timestamp
                ));
            }
        }
        if let Some(base) = base {
            if state.timestamp <= base.timestamp
                || state.clock.compare(&base.clock) != ClockOrdering::After
                || state.version != base.version + 1
            {
                self.fail(format!(
                    "{}'s write of {} (clock {:?}, version {}, {:?}) does not supersede the version it overwrote \
                     (clock {:?}, version {}, {:?})",
                    r.name,
                    state.id,
                    BTreeMap::from_iter(state.clock.iter()),
                    state.version,
                    state.timestamp,
                    BTreeMap::from_iter(base.clock.iter()),
                    base.version,
                    base.timestamp
                ));
            }
        }
        let op_id = format!("{}:{counter}", r.name);
        let r = &mut self.replicas[node];
        r.last_write = Some((counter, state.timestamp.clone()));
        r.pending.insert(op_id, (state.id.clone(), state.clock.clone()));
        self.writes.push(Acked { node, id: state.id.clone(), clock: state.clock.clone(), step: self.step });
        self.stats.writes += 1;
    }

    /// The versions (tombstones included) that replica `i` holds, by id; read from the snapshot
    /// taken when it was killed if it is down (it holds them durably).
    fn holdings(&self, i: usize) -> Held {
        let states: Vec<SyncState> = match &self.replicas[i].manager {
            Some(m) => m
                .list_states(None, true)
                .unwrap_or_else(|e| self.fail(format!("list_states: {e}")))
                .iter()
                .map(|s| (**s).clone())
                .collect(),
            None => self.replicas[i].at_kill.as_ref().map(|s| s.states.clone()).unwrap_or_default(),
        };
        states.into_iter().map(|s| (s.id, s.clock)).collect()
    }

    /// Compares the pending queue of `node` with the model. Nothing may appear that was not
    /// written; an operation may disappear only through a round with `acker`, and only when
    /// `acker` holds a version of its state that has seen the write.
    fn check_pending(&mut self, node: usize, acker: Option<usize>) {
        let name = self.replicas[node].name.clone();
        let ops = self.m(node).pending_operations().unwrap_or_else(|e| self.fail(format!("pending_operations: {e}")));
        let actual: BTreeMap<String, (String, VectorClock)> =
            ops.iter().map(|op| (op.op_id.clone(), (op.state_id.clone(), op.clock.clone()))).collect();
        if actual.len() != ops.len() {
            self.fail(format!("{name}'s pending queue holds an op id twice"));
        }
        for op in &ops {
            if op.node_id != name || op.op_id != format!("{name}:{}", op.clock.get(&name)) {
                self.fail(format!("{name}'s pending queue holds a foreign or misnumbered op {:?}", op.op_id));
            }
        }
        let model = &self.replicas[node].pending;
        if let Some((op_id, _)) = actual.iter().find(|(id, op)| model.get(*id) != Some(*op)) {
            self.fail(format!("{name}'s pending queue holds {op_id}, which is no pending write of it"));
        }
        let gone: Vec<(String, (String, VectorClock))> =
            model.iter().filter(|(id, _)| !actual.contains_key(*id)).map(|(k, v)| (k.clone(), v.clone())).collect();
        if gone.is_empty() {
            return;
        }
        let Some(peer) = acker else {
            let ids: Vec<&String> = gone.iter().map(|(id, _)| id).collect();
            self.fail(format!("{name}'s pending operations {ids:?} vanished outside any round"));
        };
        let held = self.holdings(peer);
        for (op_id, (state_id, clock)) in &gone {
            if !held.get(state_id).is_some_and(|c| c.dominates(clock)) {
                self.fail(format!(
                    "{name} acknowledged {op_id} ({state_id} {:?}) in a round with n{peer}, which holds {:?}",
                    BTreeMap::from_iter(clock.iter()),
                    held.get(state_id).map(|c| BTreeMap::from_iter(c.iter()))
                ));
            }
            self.replicas[node].pending.remove(op_id);
        }
        self.log(|| format!("  {name} acknowledged {:?}", gone.iter().map(|(id, _)| id).collect::<Vec<_>>()));
    }

    // ---- rounds -------------------------------------------------------------------------------------

    fn random_context(&mut self) -> SyncContext {
        let mut context = match self.rng.below(4) {
            0 | 1 => SyncContext::all(),
            2 => SyncContext::collections([COLLECTIONS[self.rng.index(COLLECTIONS.len())]]),
            _ => {
                let skip = self.rng.index(COLLECTIONS.len());
                let mut two: Vec<&str> =
                    COLLECTIONS.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, c)| *c).collect();
                if self.rng.chance(50) {
                    two.reverse();
                }
                SyncContext::collections(two)
            }
        };
        if self.rng.chance(40) {
            context = context.with_limit(1 + self.rng.index(5));
        }
        context
    }

    fn start_round(&mut self) {
        let up: Vec<usize> = (0..NODES).filter(|&i| self.up(i) && Some(i) != self.passive).collect();
        if up.is_empty() {
            return;
        }
        let from = up[self.rng.index(up.len())];
        let to = (from + 1 + self.rng.index(NODES - 1)) % NODES;
        let no = self.next_round;
        self.next_round += 1;
        let context = self.random_context();
        // Asking for the peer's capabilities is an exchange of its own.
        if !self.reachable(from, to) || self.fault(self.faults.drop) {
            self.stats.unreachable += 1;
            self.log(|| format!("round {no} n{from}->n{to}: peer unreachable, not started"));
            return;
        }
        let mut caps = self.m(to).capabilities().unwrap_or_else(|e| self.fail(format!("capabilities: {e}")));
        if self.rng.chance(25) {
            caps.scoped_sync = false;
        }
        if self.rng.chance(15) {
            caps.max_batch = Some(1 + self.rng.index(3));
        }
        let round = SyncRound::start(self.m(from), &caps, &context)
            .unwrap_or_else(|e| self.fail(format!("round {no}: start failed: {e}")));
        self.log(|| {
            format!(
                "round {no} n{from}->n{to}: start, context {:?}, peer scoped {} max_batch {:?}",
                context, caps.scoped_sync, caps.max_batch
            )
        });
        self.stats.rounds_started += 1;
        self.rounds.push(Active { no, from, to, scope: context, round, wait: Wait::Ready });
    }

    /// One half of an exchange of a random round: send its next request, or take its reply.
    fn advance_round(&mut self) {
        let k = self.rng.index(self.rounds.len());
        let mut r = self.rounds.swap_remove(k);
        let (no, from, to) = (r.no, r.from, r.to);
        match std::mem::replace(&mut r.wait, Wait::Ready) {
            Wait::Ready => {
                let step = r
                    .round
                    .next_step(self.m(from))
                    .unwrap_or_else(|e| self.fail(format!("round {no}: next_step failed: {e}")));
                // A page made only of versions the peer sent in this round counts as accepted.
                self.check_pending(from, Some(to));
                match step {
                    RoundStep::Done(report) => {
                        self.stats.rounds_completed += 1;
                        self.log(|| format!("round {no} n{from}->n{to}: done {report:?}"));
                        self.check_status(from, Status::Idle);
                        return;
                    }
                    RoundStep::Pull { cursor, context } => {
                        self.log(|| format!("round {no} n{from}->n{to}: pull request, cursor {cursor:?}"));
                        r.wait = Wait::Pull(self.send_pull(from, to, cursor, context, &r.scope));
                    }
                    RoundStep::Push(page) => {
                        self.log(|| format!("round {no} n{from}->n{to}: push request {}", page_summary(&page)));
                        let reply = self.send_push(from, to, &page);
                        r.wait = Wait::Push(page, reply);
                    }
                }
            }
            Wait::Pull(Some((page, held))) => {
                self.log(|| format!("round {no} n{from}->n{to}: pulled {}", page_summary(&page)));
                let result = r
                    .round
                    .pulled(self.m(from), page)
                    .unwrap_or_else(|e| self.fail(format!("round {no}: pulled failed: {e}")));
                self.log(|| format!("round {no}: applied {result:?}"));
                if let Some(held) = held {
                    self.check_pulled_all(no, from, to, &r.scope, &held);
                }
            }
            Wait::Push(page, Some(result)) => {
                self.log(|| format!("round {no} n{from}->n{to}: push accepted {result:?}"));
                // Every operation whose write a sent version has seen must be acknowledged.
                let must: Vec<String> = self.replicas[from]
                    .pending
                    .iter()
                    .filter(|(_, (id, clock))| page.states.iter().any(|s| s.id == *id && s.clock.dominates(clock)))
                    .map(|(op_id, _)| op_id.clone())
                    .collect();
                r.round
                    .pushed(self.m(from), result)
                    .unwrap_or_else(|e| self.fail(format!("round {no}: pushed failed: {e}")));
                self.check_pending(from, Some(to));
                if let Some(op_id) = must.iter().find(|id| self.replicas[from].pending.contains_key(*id)) {
                    self.fail(format!("n{from}: {op_id} is still pending after n{to} accepted a page that carries it"));
                }
            }
            Wait::Pull(None) | Wait::Push(_, None) if self.rng.chance(60) => {
                // The request is sent again: `next_step` repeats the unanswered step (a push
                // page the peer may already have applied, or the same pull).
                self.stats.retries += 1;
                self.log(|| format!("round {no} n{from}->n{to}: no reply, retrying"));
            }
            Wait::Pull(None) | Wait::Push(_, None) => {
                r.round.fail(self.m(from), &SyncError::Transport("timed out".into()));
                self.stats.rounds_failed += 1;
                self.log(|| format!("round {no} n{from}->n{to}: timed out"));
                self.check_status(from, Status::Error);
                return;
            }
        }
        self.rounds.push(r);
    }

    /// The last page of a pull has been applied: the feed with its stored cursor must have
    /// brought every version in scope that the peer held when it served that page.
    fn check_pulled_all(&self, no: u64, client: usize, server: usize, scope: &SyncContext, held: &Held) {
        let mine = self.holdings(client);
        for (id, clock) in held {
            let collection = collection_of(id[1..].parse().expect("ids are k<n>"));
            if !scope.collections.is_empty() && !scope.collections.iter().any(|c| c == collection) {
                continue;
            }
            if !mine.get(id).is_some_and(|c| c.dominates(clock)) {
                self.fail(format!(
                    "round {no}: n{client} pulled n{server}'s feed to its end in scope {:?} but lacks {id} {:?} (holds {:?})",
                    scope.collections,
                    BTreeMap::from_iter(clock.iter()),
                    mine.get(id).map(|c| BTreeMap::from_iter(c.iter()))
                ));
            }
        }
    }

    /// After a round of `node` ended: `expected` unless another of its rounds is running.
    fn check_status(&self, node: usize, expected: Status) {
        let status = self.m(node).status();
        let busy = self.rounds.iter().any(|r| r.from == node);
        if status != expected && !(busy && status == Status::Syncing) {
            self.fail(format!("n{node}'s status is {status:?} after a round ended, expected {expected:?}"));
        }
    }

    /// Sends a pull request; the reply if it makes it back.
    fn send_pull(
        &mut self,
        client: usize,
        server: usize,
        cursor: Option<String>,
        context: SyncContext,
        scope: &SyncContext,
    ) -> Option<(ChangeSet, Option<Held>)> {
        let late = || Late::PullRequest {
            client,
            server,
            cursor: cursor.clone(),
            context: context.clone(),
            scope: scope.clone(),
        };
        if !self.request_arrives(client, server, late) {
            return None;
        }
        let page = self
            .m(server)
            .pull(cursor.as_deref(), &context)
            .unwrap_or_else(|e| self.fail(format!("n{server} failed to serve a pull: {e}")));
        let held = (!page.has_more).then(|| self.holdings(server));
        if self.fault(self.faults.drop) {
            self.stats.dropped += 1;
            self.log(|| "  reply dropped".into());
            return None;
        }
        if self.fault(self.faults.delay) {
            self.stats.delayed += 1;
            self.log(|| "  reply delayed".into());
            self.late.push(Late::PullReply { client, server, scope: scope.clone(), page });
            return None;
        }
        if self.fault(self.faults.duplicate) {
            self.stats.duplicated += 1;
            self.log(|| "  reply duplicated: a copy stays in the network".into());
            self.late.push(Late::PullReply { client, server, scope: scope.clone(), page: page.clone() });
        }
        Some((page, held))
    }

    /// Whether a request from `client` reaches `server`: it may find the peer unreachable, be
    /// dropped, or be delayed (kept as the late message `late` builds).
    fn request_arrives(&mut self, client: usize, server: usize, late: impl FnOnce() -> Late) -> bool {
        if !self.reachable(client, server) {
            self.stats.unreachable += 1;
            self.log(|| "  request lost: peer unreachable".into());
            return false;
        }
        if self.fault(self.faults.drop) {
            self.stats.dropped += 1;
            self.log(|| "  request dropped".into());
            return false;
        }
        if self.fault(self.faults.delay) {
            self.stats.delayed += 1;
            self.log(|| "  request delayed".into());
            self.late.push(late());
            return false;
        }
        true
    }

    /// Sends a push page; the peer's answer if it makes it back.
    fn send_push(&mut self, client: usize, server: usize, page: &ChangeSet) -> Option<ReconciliationResult> {
        if !self.request_arrives(client, server, || Late::Push { client, server, page: page.clone() }) {
            return None;
        }
        let result = self.m(server).push(page).unwrap_or_else(|e| self.fail(format!("n{server} rejected a push: {e}")));
        if self.fault(self.faults.duplicate) {
            self.stats.duplicated += 1;
            if self.rng.chance(50) {
                self.log(|| "  request duplicated: applied twice".into());
                let again =
                    self.m(server).push(page).unwrap_or_else(|e| self.fail(format!("n{server} rejected a push: {e}")));
                if changed(&again) != 0 {
                    self.fail(format!("pushing the same page twice changed n{server} again: {again:?}"));
                }
            } else {
                self.log(|| "  request duplicated: a copy stays in the network".into());
                self.late.push(Late::Push { client, server, page: page.clone() });
            }
        }
        if self.fault(self.faults.drop) {
            self.stats.dropped += 1;
            self.log(|| "  reply dropped (the page was applied)".into());
            return None;
        }
        Some(result)
    }

    /// Delivers (or loses, or keeps back) one random late message.
    fn deliver_late(&mut self) {
        let k = self.rng.index(self.late.len());
        let msg = self.late.swap_remove(k);
        let (sender, receiver) = msg.route();
        if !self.up(receiver) || self.groups[sender] != self.groups[receiver] {
            if self.rng.chance(50) {
                self.late.push(msg);
            } else {
                self.stats.late_lost += 1;
                self.log(|| format!("late message n{sender}->n{receiver} lost"));
            }
            return;
        }
        self.stats.late_delivered += 1;
        match msg {
            Late::Push { client, server, page } => {
                self.log(|| format!("late push n{client}->n{server} delivered: {}", page_summary(&page)));
                let result =
                    self.m(server).push(&page).unwrap_or_else(|e| self.fail(format!("late push rejected: {e}")));
                self.log(|| format!("  applied {result:?}"));
            }
            Late::PullRequest { client, server, cursor, context, scope } => {
                let page = self
                    .m(server)
                    .pull(cursor.as_deref(), &context)
                    .unwrap_or_else(|e| self.fail(format!("late pull request failed: {e}")));
                self.log(|| format!("late pull request n{client}->n{server} served, cursor {cursor:?}"));
                if self.faults.delay > 0 && self.rng.chance(50) {
                    self.late.push(Late::PullReply { client, server, scope, page });
                } else if self.up(client) {
                    self.deliver_pull_reply(client, server, scope, page);
                }
            }
            Late::PullReply { client, server, scope, page } => self.deliver_pull_reply(client, server, scope, page),
        }
    }

    /// A late pull page reaches `client`: a round of the same pair and scope waiting for a pull
    /// reply takes it as its answer (its real reply, if any, arrives later still); otherwise it
    /// is applied with `apply_changes`, as a transport that finishes what it started would.
    fn deliver_pull_reply(&mut self, client: usize, server: usize, scope: SyncContext, page: ChangeSet) {
        let waiting = self.rounds.iter().position(|r| {
            r.from == client && r.to == server && r.scope.scope() == scope.scope() && matches!(r.wait, Wait::Pull(_))
        });
        if let Some(k) = waiting.filter(|_| self.rng.chance(60)) {
            self.stats.late_into_round += 1;
            let no = self.rounds[k].no;
            self.log(|| format!("late pull reply n{server}->n{client} given to round {no}: {}", page_summary(&page)));
            if let Wait::Pull(Some((real, _))) = std::mem::replace(&mut self.rounds[k].wait, Wait::Ready) {
                self.late.push(Late::PullReply { client, server, scope: scope.clone(), page: real });
            }
            let m = manager(&self.replicas, client);
            if let Err(e) = self.rounds[k].round.pulled(m, page) {
                self.fail(format!("round {no}: a late pull page failed: {e}"));
            }
        } else {
            self.log(|| format!("late pull reply n{server}->n{client} applied: {}", page_summary(&page)));
            let peer = self.name(server).to_owned();
            let result = self
                .m(client)
                .apply_changes(&peer, &scope, &page)
                .unwrap_or_else(|e| self.fail(format!("a late pull page failed: {e}")));
            self.log(|| format!("  applied {result:?}"));
        }
    }

    // ---- kills --------------------------------------------------------------------------------------

    fn kill(&mut self) {
        let candidates: Vec<usize> =
            (0..NODES).filter(|&i| self.up(i) && (self.replicas[i].sqlite || memory_restarts())).collect();
        if candidates.is_empty() {
            return;
        }
        let i = candidates[self.rng.index(candidates.len())];
        // A memory replica cannot survive a kill: it only restarts cleanly, from a snapshot.
        let clean = !self.replicas[i].sqlite || self.rng.chance(20);
        let snapshot = self.m(i).export_state().unwrap_or_else(|e| self.fail(format!("export: {e}")));
        if clean {
            self.m(i).close().unwrap_or_else(|e| self.fail(format!("close: {e}")));
            self.stats.clean_restarts += 1;
        } else {
            self.stats.kills += 1;
        }
        let down_for = 1 + self.rng.index(12);
        let r = &mut self.replicas[i];
        r.manager = None;
        r.at_kill = Some(snapshot);
        r.down_until = self.step + down_for;
        // Its rounds die with it: no `fail`, the process is gone.
        let before = self.rounds.len();
        self.rounds.retain(|r| r.from != i);
        self.stats.rounds_abandoned += (before - self.rounds.len()) as u64;
        self.log(|| {
            format!(
                "n{i} {} ({} of its rounds die), down for {down_for} steps",
                if clean { "closed" } else { "killed" },
                before - self.rounds.len()
            )
        });
    }

    /// Reopens a killed replica from its file: it must hold exactly what it held.
    fn restart(&mut self, i: usize) {
        let config = self.replicas[i].config.clone();
        let m = SyncManager::open(config).unwrap_or_else(|e| self.fail(format!("reopening n{i} failed: {e}")));
        let before = self.replicas[i].at_kill.take().expect("a killed replica has its snapshot");
        if !self.replicas[i].sqlite {
            m.import_state(before.clone(), true)
                .unwrap_or_else(|e| self.fail(format!("importing n{i}'s snapshot: {e}")));
        }
        let after = m.export_state().unwrap_or_else(|e| self.fail(format!("export: {e}")));
        if canonical_states(&after.states) != canonical_states(&before.states) {
            self.fail(format!("n{i} reopened with different states than it held when killed"));
        }
        if after.pending != before.pending {
            self.fail(format!("n{i} reopened with a different pending queue"));
        }
        if after.conflicts != before.conflicts {
            self.fail(format!("n{i} reopened with different conflicts"));
        }
        if m.status() != Status::Idle {
            self.fail(format!("n{i} reopened with status {:?}", m.status()));
        }
        self.replicas[i].manager = Some(m);
        self.check_pending(i, None);
        self.log(|| format!("n{i} reopened from its file, intact"));
    }

    // ---- settling -----------------------------------------------------------------------------------

    fn settle(&mut self) {
        self.step = self.steps;
        self.log(|| "---- faults stop; settling".into());
        self.faults = Faults::default();
        self.heal();
        for i in 0..NODES {
            if !self.up(i) {
                self.restart(i);
            }
        }
        for mut r in std::mem::take(&mut self.rounds) {
            r.round.fail(self.m(r.from), &SyncError::Transport("the simulation stopped".into()));
            self.stats.rounds_cut += 1;
        }
        while !self.late.is_empty() {
            self.deliver_late();
        }
        let mut pairs: Vec<(usize, usize)> = (0..NODES).map(|i| (i, (i + 1) % NODES)).collect();
        for a in 0..NODES {
            for b in 0..NODES {
                if a != b {
                    pairs.push((a, b));
                }
            }
        }
        pairs.retain(|(a, _)| Some(*a) != self.passive);
        for pass in 1..=MAX_SETTLE_PASSES {
            self.step += 1;
            self.tick();
            let mut moved = 0;
            for &(a, b) in &pairs {
                let mut context = SyncContext::all();
                if self.rng.chance(50) {
                    context = context.with_limit(1 + self.rng.index(5));
                }
                let report = self
                    .m(a)
                    .sync_via(self.m(b), &context)
                    .unwrap_or_else(|e| self.fail(format!("settling round n{a}->n{b} failed: {e}")));
                moved += changed(&report.pulled) + changed(&report.pushed);
                self.check_pending(a, Some(b));
            }
            self.log(|| format!("settling pass {pass}: {moved} changes"));
            if moved == 0 {
                self.stats.settle_passes += pass as u64;
                return;
            }
        }
        self.fail(format!("the replicas did not settle in {MAX_SETTLE_PASSES} passes of full rounds"));
    }

    fn check(&mut self) {
        let exports: Vec<Snapshot> = (0..NODES)
            .map(|i| self.m(i).export_state().unwrap_or_else(|e| self.fail(format!("export: {e}"))))
            .collect();
        // 1. Byte-identical states everywhere, by export and by the feed.
        let reference = canonical_states(&exports[0].states);
        for (i, export) in exports.iter().enumerate().skip(1) {
            let other = canonical_states(&export.states);
            if other != reference {
                let ids = |e: &Snapshot| e.states.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
                let diff = reference
                    .iter()
                    .zip(&other)
                    .find(|(a, b)| a != b)
                    .map(|(a, b)| format!("\n  n0: {a}\n  n{i}: {b}"))
                    .unwrap_or_default();
                self.fail(format!(
                    "not converged: n0 holds {:?}, n{i} holds {:?}{diff}",
                    ids(&exports[0]),
                    ids(export)
                ));
            }
        }
        for i in 0..NODES {
            let feed =
                self.m(i).changes_since(None, &SyncContext::all()).unwrap_or_else(|e| self.fail(format!("feed: {e}")));
            if feed.has_more {
                self.fail("an unlimited feed said has_more".into());
            }
            let mut states: Vec<SyncState> = feed.states.iter().map(|s| (**s).clone()).collect();
            states.sort_by(|a, b| a.id.cmp(&b.id));
            if canonical_states(&states) != reference {
                self.fail(format!("n{i}'s feed from the start differs from its export"));
            }
        }
        for s in &exports[0].states {
            s.validate().unwrap_or_else(|e| self.fail(format!("final state invalid: {e}")));
        }
        // 2. No acknowledged write lost.
        let finals: BTreeMap<&str, &SyncState> = exports[0].states.iter().map(|s| (s.id.as_str(), s)).collect();
        for w in &self.writes {
            let Some(fin) = finals.get(w.id.as_str()) else {
                self.fail(format!("{} vanished: n{} wrote it at step {}", w.id, w.node, w.step));
            };
            if !fin.clock.dominates(&w.clock) {
                self.fail(format!(
                    "lost write: n{} wrote {} with clock {:?} at step {}; the final clock {:?} has not seen it",
                    w.node,
                    w.id,
                    BTreeMap::from_iter(w.clock.iter()),
                    w.step,
                    BTreeMap::from_iter(fin.clock.iter())
                ));
            }
        }
        // 3. Queues as modelled, no conflicts, idle, and re-delivery changes nothing.
        for (i, export) in exports.iter().enumerate() {
            self.check_pending(i, None);
            // A replica acknowledges its operations only when it pushes: a passive one never does.
            if !export.pending.is_empty() && Some(i) != self.passive {
                let ids: Vec<&str> = export.pending.iter().map(|op| op.op_id.as_str()).collect();
                self.fail(format!("n{i}'s pending queue is not drained after full rounds with every peer: {ids:?}"));
            }
            if !export.conflicts.is_empty() {
                self.fail(format!("n{i} recorded conflicts under automatic strategies"));
            }
            if self.m(i).status() != Status::Idle {
                self.fail(format!("n{i} ends with status {:?}", self.m(i).status()));
            }
        }
        for i in 0..NODES {
            let next = (i + 1) % NODES;
            let all = self.m(i).changes_since(None, &SyncContext::all()).unwrap_or_else(|e| self.fail(e.to_string()));
            let result = self
                .m(next)
                .reconcile(all.states.iter().cloned())
                .unwrap_or_else(|e| self.fail(format!("re-delivery failed: {e}")));
            if changed(&result) != 0 {
                self.fail(format!("re-delivering n{i}'s whole feed to n{next} changed it: {result:?}"));
            }
        }
    }
}

fn set_path(root: &mut Value, path: &[&str], value: Option<Value>) {
    let Value::Object(map) = root else { return };
    if let [key] = path {
        match value {
            Some(v) => {
                map.insert((*key).to_owned(), v);
            }
            None => {
                map.remove(*key);
            }
        }
        return;
    }
    let child = map.entry(path[0].to_owned()).or_insert_with(|| json!({}));
    if !child.is_object() {
        if value.is_none() {
            return;
        }
        *child = json!({});
    }
    set_path(child, &path[1..], value);
}

/// Memory replicas restart too, cleanly: `export_state`, `close`, a new memory replica,
/// `import_state(snapshot, replace)`; `SIM_MEMORY_RESTARTS=0` turns that off.
fn memory_restarts() -> bool {
    std::env::var("SIM_MEMORY_RESTARTS").map_or(true, |v| v != "0")
}

/// A temporary directory for the SQLite files: in `/dev/shm` where there is one (a kill is a
/// process crash, not a power loss, so paying for `fsync` on a real disk would only slow the
/// simulation down), else the system's temporary directory. `SIM_TMPDIR` overrides both.
fn temp_dir() -> tempfile::TempDir {
    let base = std::env::var_os("SIM_TMPDIR").map(std::path::PathBuf::from).or_else(|| {
        let shm = std::path::Path::new("/dev/shm");
        shm.is_dir().then(|| shm.to_path_buf())
    });
    let dir = match base {
        Some(base) => tempfile::Builder::new().prefix("statesync-sim-").tempdir_in(base),
        None => tempfile::Builder::new().prefix("statesync-sim-").tempdir(),
    };
    dir.expect("temporary directory")
}

fn run_seed(seed: u64, verbose: bool) -> Stats {
    let mut sim = Sim::new(seed, verbose);
    sim.chaos();
    sim.settle();
    sim.check();
    sim.stats
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.trim().parse().unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}")))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "non-string panic".into())
}

fn replay_hint(seed: u64) -> String {
    let flags = if memory_restarts() { "" } else { "SIM_MEMORY_RESTARTS=0 " };
    format!("replay: {flags}SIM_SEED={seed} cargo test -p statesync --test simulation -- --nocapture")
}

#[test]
fn replicas_converge_under_a_hostile_network() {
    if let Some(seed) = env_u64("SIM_SEED") {
        let started = Instant::now();
        match catch_unwind(AssertUnwindSafe(|| run_seed(seed, true))) {
            Ok(stats) => println!("seed {seed} passed in {:.2?}: {stats:?}", started.elapsed()),
            Err(p) => panic!("seed {seed} failed: {}\n{}", panic_message(&*p), replay_hint(seed)),
        }
        return;
    }
    let start = env_u64("SIM_START").unwrap_or(0);
    let count = env_u64("SIM_SEEDS").unwrap_or(DEFAULT_SEEDS);
    let threads = env_u64("SIM_THREADS").map_or(DEFAULT_THREADS, |t| t.max(1) as usize);
    let next = AtomicU64::new(start);
    let failures: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
    let total = Mutex::new(Stats::default());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut stats = Stats::default();
                loop {
                    if failures.lock().unwrap_or_else(|e| e.into_inner()).len() >= MAX_FAILURES {
                        break;
                    }
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= start + count {
                        break;
                    }
                    match catch_unwind(AssertUnwindSafe(|| run_seed(seed, false))) {
                        Ok(s) => stats.add(&s),
                        Err(p) => failures.lock().unwrap_or_else(|e| e.into_inner()).push((seed, panic_message(&*p))),
                    }
                }
                total.lock().unwrap_or_else(|e| e.into_inner()).add(&stats);
            });
        }
    });
    let total = total.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    println!(
        "seeds {start}..{}: {} passed, {} failed, in {:.1?} ({threads} threads)\n{total:?}",
        start + count,
        total.seeds,
        failures.len(),
        started.elapsed()
    );
    if !failures.is_empty() {
        failures.sort_by_key(|(seed, _)| *seed);
        let lines: Vec<String> =
            failures.iter().map(|(seed, msg)| format!("seed {seed}: {msg}\n  {}", replay_hint(*seed))).collect();
        panic!("{} seed(s) failed (a run stops after {MAX_FAILURES}):\n{}", failures.len(), lines.join("\n"));
    }
}

/// The minimal form of what memory restarts once found (seed 82): a replica restored into a
/// fresh store with `import_state(snapshot, replace = true)` numbers its changes feed from 1
/// again, so a cursor a peer stored before the restore no longer means what it meant, yet is not
/// "from the future" (the pending operations alone take the feed past it). Feeds now have names
/// and a cursor from another feed starts over, so the change made before the restore arrives.
#[test]
fn a_restored_replica_still_serves_every_change_to_a_peer_that_pulled_before() {
    let all = SyncContext::all();
    let a = SyncManager::open(ManagerConfig::memory().node_id("a")).expect("open a");
    let b = SyncManager::open(ManagerConfig::memory().node_id("b")).expect("open b");
    a.create_state(json!(1), CreateOptions::id("x")).expect("create x");
    a.create_state(json!(1), CreateOptions::id("y")).expect("create y");
    b.sync_via(&a, &all).expect("b pulls x and y: b's cursor for a is 2");
    a.update_state("x", json!(2)).expect("update x: a's feed is at 3");
    // `a` restarts from a snapshot: x and y get sequence numbers 1 and 2, its three pending
    // operations 3 to 5.
    let snapshot = a.export_state().expect("export");
    a.close().expect("close");
    let a = SyncManager::open(ManagerConfig::memory().node_id("a")).expect("reopen a");
    a.import_state(snapshot, true).expect("import");
    b.sync_via(&a, &all).expect("b pulls with its cursor from a's old store");
    assert_eq!(b.get_state("x").expect("get").map(|s| s.data.clone()), Some(json!(2)), "b gets x = 2");
}
