//! One transaction against the replica image: local writes, remote applies and conflict
//! handling, all recorded into a [`ChangeBatch`] and a list of events. Nothing here touches the
//! image or the store; the manager commits the batch and only then applies it.

use crate::admission::{Limits, RejectedState, Rejection, MAX_ADOPTED_COUNTER};
use crate::canonical::{digest16, state_hash_measured};
use crate::clock::{ClockOrdering, VectorClock};
use crate::conflict::{ConflictStrategy, Resolution, SyncConflict};
use crate::error::{Result, SyncError};
use crate::event::SyncEvent;
use crate::fields::FieldNode;
use crate::operation::{OperationKind, SyncOperation};
use crate::replica::{ChangeBatch, PendingOp, Replica, Stored, StoredConflict};
use crate::settle::{field_tree, settle, Settlement};
use crate::state::MAX_COUNTER;
use crate::state::{validate_collection, validate_data, validate_id, SyncState, DEFAULT_COLLECTION};
use crate::timestamp::{Hlc, Timestamp, WallClock};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Conflict strategies in force.
#[derive(Clone, Debug, Default)]
pub(crate) struct Strategies {
    pub default: ConflictStrategy,
    pub per_collection: HashMap<String, ConflictStrategy>,
    pub check_resolver: bool,
}

impl Strategies {
    pub fn for_collection(&self, collection: &str) -> &ConflictStrategy {
        self.per_collection.get(collection).unwrap_or(&self.default)
    }
}

/// What applying one remote state did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplyOutcome {
    /// The state was unknown and is now stored.
    Created,
    /// The remote version was newer and replaced the local one.
    Updated,
    /// The remote version is the local one (a duplicate delivery).
    Unchanged,
    /// The remote version is older than the local one.
    Ignored,
    /// The versions were concurrent; the strategy settled it (or recorded it, for `Manual`).
    Conflict,
}

impl ApplyOutcome {
    /// The lower-case name used by every binding.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyOutcome::Created => "created",
            ApplyOutcome::Updated => "updated",
            ApplyOutcome::Unchanged => "unchanged",
            ApplyOutcome::Ignored => "ignored",
            ApplyOutcome::Conflict => "conflict",
        }
    }
}

/// The result of [`crate::SyncManager::apply_remote_state`].
#[derive(Clone, Debug, PartialEq)]
pub struct ApplyResult {
    /// What happened.
    pub outcome: ApplyOutcome,
    /// The stored version afterwards.
    pub state: Arc<SyncState>,
    /// For `Conflict`: true when the strategy settled it automatically.
    pub resolved: bool,
    /// For a `Manual` conflict: the recorded conflict.
    pub conflict: Option<SyncConflict>,
}

/// Counts of what a batch of remote states did, and the states it refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReconciliationResult {
    /// States that were new here.
    pub created: u64,
    /// States replaced by a newer remote version.
    pub updated: u64,
    /// Duplicates of what was stored.
    pub unchanged: u64,
    /// Older versions.
    pub ignored: u64,
    /// Concurrent versions detected (settled or recorded).
    pub conflicts: u64,
    /// Of those, settled automatically by the strategy.
    pub resolved: u64,
    /// States refused (invalid, too large, too far in the future, in another collection here):
    /// the rest of the batch applied without them. Peers of older releases leave it out.
    #[serde(default)]
    pub rejected: u64,
    /// The refused states, with the reason for each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejections: Vec<RejectedState>,
}

impl ReconciliationResult {
    /// Adds another result's counts to these.
    pub fn add(&mut self, other: &ReconciliationResult) {
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.ignored += other.ignored;
        self.conflicts += other.conflicts;
        self.resolved += other.resolved;
        self.rejected += other.rejected;
        self.rejections.extend(other.rejections.iter().cloned());
    }

    /// Counts a state refused with `error`.
    pub(crate) fn reject(&mut self, id: &str, error: &SyncError) {
        self.rejected += 1;
        self.rejections.push(RejectedState::new(id, error));
    }

    pub(crate) fn count(&mut self, r: &ApplyResult) {
        match r.outcome {
            ApplyOutcome::Created => self.created += 1,
            ApplyOutcome::Updated => self.updated += 1,
            ApplyOutcome::Unchanged => self.unchanged += 1,
            ApplyOutcome::Ignored => self.ignored += 1,
            ApplyOutcome::Conflict => {
                self.conflicts += 1;
                if r.resolved {
                    self.resolved += 1;
                }
            }
        }
    }
}

/// What a local write supersedes: the version written over (for the field history), and the
/// clock and version the new write must dominate.
struct Base {
    state: Option<Arc<SyncState>>,
    clock: VectorClock,
    version: u64,
}

impl Base {
    fn none() -> Self {
        Base { state: None, clock: VectorClock::new(), version: 0 }
    }

    fn over(state: Arc<SyncState>) -> Self {
        Base { clock: state.clock.clone(), version: state.version, state: Some(state) }
    }
}

/// A transaction in progress.
pub(crate) struct Txn<'a> {
    base: &'a Replica,
    strategies: &'a Strategies,
    limits: Limits,
    clock: &'a dyn WallClock,
    pub batch: ChangeBatch,
    pub events: Vec<SyncEvent>,
    emit: bool,
}

impl<'a> Txn<'a> {
    /// A transaction over `base`, recording into `batch` (an empty, reused buffer).
    pub fn new(
        base: &'a Replica,
        strategies: &'a Strategies,
        limits: Limits,
        clock: &'a dyn WallClock,
        emit: bool,
        mut batch: ChangeBatch,
    ) -> Self {
        batch.reset(&base.meta);
        Txn { base, strategies, limits, clock, batch, events: Vec::new(), emit }
    }

    // ---- reads through the overlay -------------------------------------------------------

    /// The stored version of `id`, tombstones included, as this transaction sees it.
    pub fn state(&self, id: &str) -> Option<&Arc<SyncState>> {
        match self.batch.states.get(id) {
            Some(s) => Some(&s.state),
            None if self.batch.clear => None,
            None => self.base.states.get(id).map(|s| &s.state),
        }
    }

    fn live_state(&self, id: &str) -> Result<&Arc<SyncState>> {
        match self.state(id) {
            Some(s) if s.is_live() => Ok(s),
            _ => Err(SyncError::NotFound(format!("state {id:?}"))),
        }
    }

    fn conflict(&self, conflict_id: &str) -> Option<&StoredConflict> {
        match self.batch.conflicts.get(conflict_id) {
            Some(c) => c.as_ref(),
            None if self.batch.clear => None,
            None => self.base.conflicts.get(conflict_id),
        }
    }

    fn conflict_ids_of(&self, state_id: &str) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        if !self.batch.clear {
            ids.extend(
                self.base
                    .conflicts
                    .iter()
                    .filter(|(id, c)| c.conflict.state_id == state_id && !self.batch.conflicts.contains_key(*id))
                    .map(|(id, _)| id.clone()),
            );
        }
        ids.extend(
            self.batch
                .conflicts
                .iter()
                .filter(|(_, c)| c.as_ref().is_some_and(|c| c.conflict.state_id == state_id))
                .map(|(id, _)| id.clone()),
        );
        ids
    }

    fn has_conflicts(&self) -> bool {
        (!self.batch.clear && !self.base.conflicts.is_empty()) || !self.batch.conflicts.is_empty()
    }

    // ---- primitive changes -----------------------------------------------------------------

    fn next_seq(&mut self) -> u64 {
        self.batch.meta.seq += 1;
        self.batch.meta.seq
    }

    fn now(&self) -> u64 {
        // An injected clock reading beyond the valid range must not make states that every
        // other replica would reject.
        self.clock.now_millis().min(crate::state::MAX_COUNTER)
    }

    /// Stores a new version of a state, with its event, and drops the manual conflicts that the
    /// new version has seen both sides of.
    fn put(&mut self, state: Arc<SyncState>) {
        let seq = self.next_seq();
        if self.emit {
            if let Some(event) = SyncEvent::for_change(self.state(&state.id).map(|s| &**s), &state) {
                self.events.push(event);
            }
        }
        if self.has_conflicts() {
            self.drop_conflicts_dominated_by(&state.id, &state.clock);
        }
        self.batch.states.put(Stored { state, seq });
    }

    fn drop_conflicts_dominated_by(&mut self, state_id: &str, clock: &VectorClock) {
        for id in self.conflict_ids_of(state_id) {
            let dominated = self.conflict(&id).is_some_and(|c| clock.dominates(&c.conflict.remote.clock));
            if dominated {
                self.remove_conflict(&id, state_id);
            }
        }
    }

    fn remove_conflict(&mut self, conflict_id: &str, state_id: &str) {
        self.batch.conflicts.insert(conflict_id.to_owned(), None);
        if self.emit {
            self.events.push(SyncEvent::ConflictResolved {
                conflict_id: conflict_id.to_owned(),
                state_id: state_id.to_owned(),
            });
        }
    }

    /// Makes a local write of `new` (`None` deletes): the next counter value in the clock, a
    /// new hybrid timestamp, a pending operation. Everything that can refuse the write is
    /// checked before anything is recorded, so a refused write changes nothing: data larger
    /// than `max_state_bytes`, a clock entry of this node's that it never wrote (forged by a
    /// peer, see `MAX_ADOPTED_COUNTER`), a counter or clock that would pass 2^53 − 1. A
    /// replica never writes a value that it or a peer would refuse.
    fn write_local(
        &mut self,
        kind: OperationKind,
        id: String,
        collection: String,
        new: Option<Value>,
        base: Base,
    ) -> Result<Arc<SyncState>> {
        let Base { state: base, clock: base_clock, version: base_version } = base;
        let deleted = new.is_none();
        let data = new.unwrap_or(Value::Null);
        let (hash, data_bytes) = state_hash_measured(&data, deleted);
        self.limits.check_local_size(&id, data_bytes)?;
        let node = self.batch.meta.node_id.clone();
        let own = base_clock.get(&node);
        if own > self.batch.meta.counter && own > MAX_ADOPTED_COUNTER {
            return Err(SyncError::InvalidState(format!(
                "state {id:?} cannot be written here: its clock says node {node:?} wrote it {own} times, which this \
                 node never did (a peer forged the entry)"
            )));
        }
        let counter = self.batch.meta.counter.max(own) + 1;
        if counter > MAX_COUNTER {
            return Err(SyncError::InvalidState(format!(
                "node {node:?} has used every write counter up to 2^53 - 1: it cannot write any more"
            )));
        }
        let now = self.now();
        let exhausted = || {
            SyncError::InvalidState("the hybrid clock cannot advance past 2^53 - 1 ms: no write can be stamped".into())
        };
        let mut stamp = self.batch.meta.hlc.tick(now).ok_or_else(exhausted)?;
        if let Some(b) = &base {
            // A write is stamped after what it supersedes, also when that is ahead of this
            // replica's clock (a peer's, within the skew, beyond what `observe` adopts).
            let superseded = (b.timestamp.millis, b.timestamp.counter);
            if stamp <= superseded {
                stamp = Hlc::successor(superseded).ok_or_else(exhausted)?;
            }
        }
        let (millis, logical) = stamp;
        self.batch.meta.counter = counter;
        let timestamp = Timestamp { millis, counter: logical, node: node.clone() };
        let mut clock = base_clock;
        clock.set(&node, counter);
        let fields =
            matches!(self.strategies.for_collection(&collection), ConflictStrategy::MergeFields).then(|| match base {
                Some(b) => {
                    let mut tree = field_tree(&b);
                    if deleted {
                        tree.delete(&timestamp);
                    } else {
                        tree.write(&data, &timestamp);
                    }
                    Box::new(tree)
                }
                None => Box::new(FieldNode::from_state(&data, deleted, &timestamp)),
            });
        let state = Arc::new(SyncState {
            hash,
            id,
            collection,
            data,
            clock,
            timestamp,
            modified_by: node,
            deleted,
            // Saturates: a version a peer set at 2^53 - 1 must not stop anyone from writing the
            // state. Versions inform; clocks and timestamps decide (docs/adr/0015).
            version: (base_version + 1).min(MAX_COUNTER),
            fields,
        });
        self.put(state.clone());
        let seq = self.batch.meta.seq;
        self.batch.ops_added.push((seq, PendingOp::Written { counter, kind, state: state.clone() }));
        Ok(state)
    }

    // ---- local CRUD ------------------------------------------------------------------------

    /// Declares that this transaction makes local writes only, so the store may skip the
    /// counters row (see `ChangeBatch::meta_row`).
    pub fn local_writes_only(&mut self) {
        self.batch.meta_row = false;
    }

    /// Creates a state (or re-creates one over its tombstone).
    pub fn create(&mut self, data: Value, id: Option<String>, collection: Option<String>) -> Result<Arc<SyncState>> {
        let id = match id {
            Some(id) => {
                validate_id(&id).map_err(SyncError::InvalidInput)?;
                id
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        let collection = collection.unwrap_or_else(|| DEFAULT_COLLECTION.to_owned());
        validate_collection(&collection).map_err(SyncError::InvalidInput)?;
        validate_data(&data).map_err(SyncError::InvalidInput)?;
        match self.state(&id) {
            None => self.write_local(OperationKind::Create, id, collection, Some(data), Base::none()),
            Some(existing) if existing.is_live() => Err(SyncError::AlreadyExists(format!("state {id:?}"))),
            Some(tomb) if tomb.collection != collection => Err(SyncError::AlreadyExists(format!(
                "state {id:?} (deleted) belongs to collection {:?}, not {collection:?}",
                tomb.collection
            ))),
            Some(tomb) => {
                let tomb = tomb.clone();
                self.write_local(OperationKind::Create, id, collection, Some(data), Base::over(tomb))
            }
        }
    }

    /// Replaces the data of a live state.
    pub fn update(&mut self, id: &str, data: Value) -> Result<Arc<SyncState>> {
        let prev = self.live_state(id)?.clone();
        validate_data(&data).map_err(SyncError::InvalidInput)?;
        self.write_local(OperationKind::Update, prev.id.clone(), prev.collection.clone(), Some(data), Base::over(prev))
    }

    /// Turns a live state into a tombstone.
    pub fn delete(&mut self, id: &str) -> Result<Arc<SyncState>> {
        let prev = self.live_state(id)?.clone();
        self.write_local(OperationKind::Delete, prev.id.clone(), prev.collection.clone(), None, Base::over(prev))
    }

    /// Drops acknowledged operations from the pending queue; unknown ids are ignored so that a
    /// repeated acknowledgement is harmless. Returns how many were dropped.
    pub fn acknowledge(&mut self, op_ids: &[String]) -> usize {
        let mut dropped = 0;
        for op_id in op_ids {
            if let Some(seq) = self.base.find_pending(op_id) {
                if !self.batch.clear && !self.batch.ops_removed.contains(&seq) {
                    self.batch.ops_removed.push(seq);
                    dropped += 1;
                }
            } else if let Some(pos) = self.batch.ops_added.iter().position(|(_, op)| op.op_id() == *op_id) {
                self.batch.ops_added.remove(pos);
                dropped += 1;
            }
        }
        dropped
    }

    /// Acknowledges every queued operation on one of `pushed`'s states whose write the pushed
    /// version has seen: the peer now holds that write (or a later one). Returns how many.
    pub fn acknowledge_pushed(&mut self, pushed: &[Arc<SyncState>]) -> usize {
        let by_id: HashMap<&str, &VectorClock> = pushed.iter().map(|s| (s.id.as_str(), &s.clock)).collect();
        let covered: Vec<String> = self
            .base
            .pending
            .iter()
            .filter(|op| {
                let (state_id, clock) = op.target();
                by_id.get(state_id).is_some_and(|pushed| pushed.dominates(clock))
            })
            .map(|op| op.op_id())
            .collect();
        self.acknowledge(&covered)
    }

    /// Sets (or with `None` clears) the durable sync cursor for `(peer, scope)`.
    pub fn set_cursor(&mut self, peer: &str, scope: &str, cursor: Option<String>) {
        self.batch.cursors.insert((peer.to_owned(), scope.to_owned()), cursor);
    }

    // ---- remote states -----------------------------------------------------------------------

    /// Moves the replica's clocks past what a remote state has seen. The hybrid clock goes no
    /// further than half the maximum clock skew ahead of the wall clock: a peer that stamps its
    /// states at the edge of the skew cannot drag this replica's writes past what its other
    /// peers accept (a write over such a state is stamped after it anyway, see `write_local`).
    /// A clock entry of this node's beyond `MAX_ADOPTED_COUNTER` was forged and is not adopted
    /// (see there). `None` when the hybrid clock cannot advance that far (nothing moved then).
    fn observe(&mut self, remote: &SyncState) -> Option<()> {
        self.observe_time(&remote.timestamp)?;
        self.adopt_counter(&remote.clock);
        Some(())
    }

    /// The hybrid-clock half of `observe`.
    fn observe_time(&mut self, timestamp: &Timestamp) -> Option<()> {
        let now = self.now();
        let cap = now.saturating_add(self.limits.max_clock_skew_ms / 2);
        let seen = if timestamp.millis > cap { (cap, 0) } else { (timestamp.millis, timestamp.counter) };
        self.batch.meta.hlc.observe(seen, now)
    }

    /// The counter half of `observe`.
    fn adopt_counter(&mut self, clock: &VectorClock) {
        let own = clock.get(&self.batch.meta.node_id);
        if own <= MAX_ADOPTED_COUNTER {
            self.batch.meta.counter = self.batch.meta.counter.max(own);
        }
    }

    /// Applies remote states and counts the outcomes. A state that must be refused (invalid,
    /// too large, too far ahead, in another collection here: `INVALID_STATE`) is refused alone
    /// and reported in the result; the rest applies. Any other error fails the whole batch.
    pub fn reconcile(&mut self, states: impl IntoIterator<Item = Arc<SyncState>>) -> Result<ReconciliationResult> {
        let mut result = ReconciliationResult::default();
        for state in states {
            match self.apply_remote(state.clone()) {
                Ok(applied) => result.count(&applied),
                Err(e @ SyncError::InvalidState(_)) => result.reject(&state.id, &e),
                Err(e) => return Err(e),
            }
        }
        Ok(result)
    }

    /// Applies one remote state by the rules of DESIGN §3, once it is admitted (see
    /// `admission.rs`). A refused state is `INVALID_STATE` and leaves the transaction as it was.
    pub fn apply_remote(&mut self, remote: Arc<SyncState>) -> Result<ApplyResult> {
        self.limits.admit(&remote, self.now())?;
        if let Some(local) = self.state(&remote.id) {
            if local.collection != remote.collection {
                return Err(SyncError::InvalidState(format!(
                    "state {:?} belongs to collection {:?} here, not {:?}",
                    remote.id, local.collection, remote.collection
                )));
            }
        }
        // What may still refuse the state below (a strategy's rewrite that cannot be written)
        // does so before storing anything; only the clocks have moved by then.
        let (hlc, counter) = (self.batch.meta.hlc, self.batch.meta.counter);
        let applied = self.observe(&remote).ok_or_else(|| {
            SyncError::InvalidState(format!(
                "state {:?}: its timestamp would move the hybrid clock past 2^53 - 1 ms",
                remote.id
            ))
        });
        let applied = applied.and_then(|()| self.apply_admitted(remote));
        if applied.is_err() {
            (self.batch.meta.hlc, self.batch.meta.counter) = (hlc, counter);
        }
        applied
    }

    fn apply_admitted(&mut self, remote: Arc<SyncState>) -> Result<ApplyResult> {
        let Some(local) = self.state(&remote.id) else {
            self.put(remote.clone());
            return Ok(ApplyResult { outcome: ApplyOutcome::Created, state: remote, resolved: false, conflict: None });
        };
        let unchanged = |outcome, state: &Arc<SyncState>| ApplyResult {
            outcome,
            state: state.clone(),
            resolved: false,
            conflict: None,
        };
        match remote.clock.compare(&local.clock) {
            ClockOrdering::Equal if same_version(local, &remote) => Ok(unchanged(ApplyOutcome::Unchanged, local)),
            ClockOrdering::Equal => {
                // The same writes, merged along different paths: a custom resolver folded in a
                // version that was later superseded on one replica but not on the other. Joining
                // the two again (a no-op for identical ones) is what lets a resolver that is a
                // semilattice join converge. Strategies that rewrite have nothing to join.
                let local = local.clone();
                let strategy = self.strategies.for_collection(&local.collection);
                match settle(&local, &remote, strategy, self.strategies.check_resolver)? {
                    Settlement::Merged(merged) if !same_version(&local, &merged) => {
                        self.store_merged(*merged, strategy)
                    }
                    _ => Ok(unchanged(ApplyOutcome::Unchanged, &local)),
                }
            }
            ClockOrdering::Before => Ok(unchanged(ApplyOutcome::Ignored, local)),
            ClockOrdering::After => {
                self.put(remote.clone());
                Ok(ApplyResult { outcome: ApplyOutcome::Updated, state: remote, resolved: false, conflict: None })
            }
            ClockOrdering::Concurrent => {
                let local = local.clone();
                let strategy = self.strategies.for_collection(&local.collection);
                match settle(&local, &remote, strategy, self.strategies.check_resolver)? {
                    Settlement::Merged(merged) => self.store_merged(*merged, strategy),
                    Settlement::Rewrite { data, deleted } => {
                        let state = self.rewrite(local, &remote.clock, remote.version, data, deleted)?;
                        Ok(ApplyResult { outcome: ApplyOutcome::Conflict, state, resolved: true, conflict: None })
                    }
                    Settlement::Manual => {
                        let conflict = self.record_conflict(&local, &remote);
                        Ok(ApplyResult {
                            outcome: ApplyOutcome::Conflict,
                            state: local,
                            resolved: false,
                            conflict: Some(conflict),
                        })
                    }
                }
            }
        }
    }

    // ---- rejections ----------------------------------------------------------------------------

    fn has_rejections(&self) -> bool {
        (!self.batch.clear && !self.base.rejections.is_empty()) || !self.batch.rejections.is_empty()
    }

    /// Records refused states durably, one record per state (a later refusal replaces an earlier
    /// one), each announced with `StateRejected`. `whose` says who refused what, for the message.
    pub fn record_rejections(&mut self, rejected: &[RejectedState], whose: impl Fn(&RejectedState) -> String) {
        let now = self.now();
        for r in rejected {
            let rejection =
                Rejection { state_id: r.id.clone(), code: r.code.clone(), message: whose(r), rejected_at: now };
            if self.emit {
                self.events.push(SyncEvent::StateRejected {
                    state_id: rejection.state_id.clone(),
                    code: rejection.code.clone(),
                    message: rejection.message.clone(),
                });
            }
            self.batch.rejections.insert(r.id.clone(), Some(rejection));
        }
    }

    /// Drops the rejection records of states that have since gone through (applied here, or
    /// accepted by the peer that refused an earlier version).
    pub fn clear_rejections<'s>(&mut self, ids: impl IntoIterator<Item = &'s str>) {
        if !self.has_rejections() {
            return;
        }
        for id in ids {
            let recorded = match self.batch.rejections.get(id) {
                Some(r) => r.is_some(),
                None => !self.batch.clear && self.base.rejections.contains_key(id),
            };
            if recorded {
                self.batch.rejections.insert(id.to_owned(), None);
            }
        }
    }

    /// Stores a version an automatic strategy merged from a concurrent pair, once it passes
    /// the rules a write passes: a merge holds data no side wrote (a custom resolver's, or the
    /// union of two sides' fields), which must be no larger and no less portable than what a
    /// write may hold. A custom resolver's bad result is its error (`RESOLVER`); a field merge
    /// that would grow past `max_state_bytes` refuses the remote version (`INVALID_STATE`).
    fn store_merged(&mut self, merged: SyncState, strategy: &ConflictStrategy) -> Result<ApplyResult> {
        if !matches!(strategy, ConflictStrategy::LastWriteWins) {
            self.check_merged(&merged, strategy)?;
        }
        let merged = Arc::new(merged);
        self.put(merged.clone());
        Ok(ApplyResult { outcome: ApplyOutcome::Conflict, state: merged, resolved: true, conflict: None })
    }

    /// The check of `store_merged`; last-write-wins needs none, its data being one side's.
    fn check_merged(&self, merged: &SyncState, strategy: &ConflictStrategy) -> Result<()> {
        let (_, bytes) = state_hash_measured(&merged.data, merged.deleted);
        let broken = validate_data(&merged.data).err().or_else(|| {
            (bytes > self.limits.max_state_bytes).then(|| {
                format!("it is {bytes} bytes, more than the {} this replica accepts", self.limits.max_state_bytes)
            })
        });
        if let Some(why) = broken {
            return Err(match strategy {
                ConflictStrategy::Custom(_) => {
                    SyncError::Resolver(format!("the custom resolver's result for state {:?}: {why}", merged.id))
                }
                _ => SyncError::InvalidState(format!("merging state {:?} cannot be stored: {why}", merged.id)),
            });
        }
        Ok(())
    }

    /// A new local write of `data` over `local`, having seen `other_clock` too.
    fn rewrite(
        &mut self,
        local: Arc<SyncState>,
        other_clock: &VectorClock,
        other_version: u64,
        data: Value,
        deleted: bool,
    ) -> Result<Arc<SyncState>> {
        let kind = match (local.is_live(), deleted) {
            (_, true) => OperationKind::Delete,
            (false, false) => OperationKind::Create,
            (true, false) => OperationKind::Update,
        };
        self.write_local(
            kind,
            local.id.clone(),
            local.collection.clone(),
            (!deleted).then_some(data),
            Base {
                clock: local.clock.merged(other_clock),
                version: local.version.max(other_version),
                state: Some(local),
            },
        )
    }

    fn record_conflict(&mut self, local: &SyncState, remote: &SyncState) -> SyncConflict {
        let key =
            format!("{}\0{}\0{}", remote.id, serde_json::to_string(&remote.clock).unwrap_or_default(), remote.hash);
        let conflict_id = digest16(&key);
        if let Some(existing) = self.conflict(&conflict_id) {
            return existing.conflict.clone();
        }
        // A late, older version that a recorded one has seen is superseded already: recording it
        // would make the set of conflicts depend on the order of delivery.
        for id in self.conflict_ids_of(&remote.id) {
            if let Some(newer) = self.conflict(&id).filter(|c| c.conflict.remote.clock.dominates(&remote.clock)) {
                return newer.conflict.clone();
            }
        }
        // An older concurrent version that this one has seen is superseded by it.
        self.drop_conflicts_dominated_by(&remote.id, &remote.clock);
        let conflict = SyncConflict {
            conflict_id: conflict_id.clone(),
            state_id: remote.id.clone(),
            local: local.clone(),
            remote: remote.clone(),
            detected_at: self.batch.meta.hlc.millis,
        };
        let seq = self.next_seq();
        self.batch.conflicts.insert(conflict_id, Some(StoredConflict { conflict: conflict.clone(), seq }));
        if self.emit {
            self.events.push(SyncEvent::ConflictDetected(conflict.clone()));
        }
        conflict
    }

    /// Settles a manual conflict with a new local write that has seen both sides.
    pub fn resolve_conflict(&mut self, conflict_id: &str, resolution: Resolution) -> Result<Arc<SyncState>> {
        let conflict = self
            .conflict(conflict_id)
            .map(|c| c.conflict.clone())
            .ok_or_else(|| SyncError::NotFound(format!("conflict {conflict_id:?}")))?;
        let local = self
            .state(&conflict.state_id)
            .cloned()
            .ok_or_else(|| SyncError::NotFound(format!("state {:?}", conflict.state_id)))?;
        let (data, deleted) = match resolution {
            Resolution::Local => (local.data.clone(), local.deleted),
            Resolution::Remote => (conflict.remote.data.clone(), conflict.remote.deleted),
            Resolution::Custom(data) => {
                validate_data(&data).map_err(SyncError::InvalidInput)?;
                (data, false)
            }
        };
        self.rewrite(local, &conflict.remote.clock, conflict.remote.version, data, deleted)
    }

    // ---- import ------------------------------------------------------------------------------

    /// Replaces everything with a snapshot's states, operations and conflicts (all validated).
    /// All or nothing: a state or operation that must be refused (see `admission.rs`) fails the
    /// whole import with `INVALID_STATE`.
    pub fn replace_all(
        &mut self,
        states: Vec<SyncState>,
        pending: Vec<SyncOperation>,
        conflicts: Vec<SyncConflict>,
    ) -> Result<()> {
        self.batch.clear = true;
        // The feed is renumbered from here: peers' cursors must not skip what it now holds.
        self.batch.meta.feed = crate::replica::new_feed_id();
        self.batch.meta_row = true;
        self.batch.states.clear();
        self.batch.ops_added.clear();
        self.batch.ops_removed.clear();
        self.batch.conflicts.clear();
        self.batch.rejections.clear();
        // What this replica pulled before is no longer what it holds: every pull starts over
        // (re-applying a version changes nothing), or it would skip what the snapshot lacks.
        let cursors: Vec<(String, String)> = self.base.cursors.keys().cloned().collect();
        for (peer, scope) in cursors {
            self.batch.cursors.insert((peer, scope), None);
        }
        let exhausted = |id: &str| {
            SyncError::InvalidState(format!("state {id:?}: its timestamp would move the hybrid clock past 2^53 - 1 ms"))
        };
        for state in states {
            self.limits.admit(&state, self.now())?;
            let state = Arc::new(state);
            self.observe(&state).ok_or_else(|| exhausted(&state.id))?;
            let seq = self.next_seq();
            if self.emit {
                let old = self.base.states.get(&state.id).map(|s| &*s.state);
                if let Some(e) = SyncEvent::for_change(old, &state) {
                    self.events.push(e);
                }
            }
            self.batch.states.put(Stored { state, seq });
        }
        if self.emit {
            let base = self.base;
            let dropped =
                base.states.values().filter(|s| s.state.is_live() && self.batch.states.get(&s.state.id).is_none());
            let events: Vec<SyncEvent> = dropped.map(|s| SyncEvent::StateDeleted(s.state.clone())).collect();
            self.events.extend(events);
        }
        for op in pending {
            let now = self.now();
            self.limits.check_timestamp(&op.state_id, op.timestamp.millis, now)?;
            self.observe_time(&op.timestamp).ok_or_else(|| exhausted(&op.state_id))?;
            self.adopt_counter(&op.clock);
            let seq = self.next_seq();
            self.batch.ops_added.push((seq, PendingOp::Imported(op)));
        }
        for conflict in conflicts {
            let seq = self.next_seq();
            self.batch.conflicts.insert(conflict.conflict_id.clone(), Some(StoredConflict { conflict, seq }));
        }
        Ok(())
    }
}

/// True when two versions with equal clocks also agree on everything a merge decides.
fn same_version(a: &SyncState, b: &SyncState) -> bool {
    a.hash == b.hash && a.version == b.version && a.timestamp == b.timestamp && a.fields == b.fields
}
