//! One transaction against the replica image: local writes, remote applies and conflict
//! handling, all recorded into a [`ChangeBatch`] and a list of events. Nothing here touches the
//! image or the store; the manager commits the batch and only then applies it.
//!
//! This file holds the transaction and its local writes; `remote.rs` applies remote states.

mod remote;

use crate::model::canonical::{digest16, state_hash_measured};
use crate::model::clock::VectorClock;
use crate::model::clock::MAX_COUNTER;
use crate::model::conflict::{ConflictStrategy, Resolution, SyncConflict};
use crate::model::error::{Result, SyncError};
use crate::model::fields::FieldNode;
use crate::model::operation::{OperationKind, SyncOperation};
use crate::model::state::{validate_collection, validate_data, validate_id, SyncState, DEFAULT_COLLECTION};
use crate::model::timestamp::{Hlc, Timestamp, WallClock};
use crate::replica::admission::{Limits, RejectedState, Rejection, MAX_ADOPTED_COUNTER};
use crate::replica::decide::{check_merged, decide_remote, RemoteDecision};
use crate::replica::event::SyncEvent;
use crate::replica::image::{ChangeBatch, Replica, Stored, StoredConflict};
use crate::replica::outcome::{ApplyOutcome, ApplyResult, ReconciliationResult};
use crate::replica::pending::PendingOp;
use crate::replica::settle::field_tree;
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
        self.clock.now_millis().min(crate::model::clock::MAX_COUNTER)
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
}
