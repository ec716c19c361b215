//! `SyncManager`: one replica. Every public mutation is one transaction against the replica
//! image, committed to the store before the call returns; events go out after the commit.

mod config;
mod peers;

#[cfg(feature = "sqlite")]
pub use config::Durability;
pub use config::{CreateOptions, ManagerConfig, StorageConfig};

use crate::model::change_set::{ChangeSet, SyncContext};
use crate::model::conflict::{ConflictStrategy, Resolution, SyncConflict};
use crate::model::error::{Result, SyncError};
use crate::model::operation::SyncOperation;
use crate::model::state::{validate_collection, validate_node_id, SyncState};
use crate::model::timestamp::{Hlc, WallClock};
use crate::replica::admission::{Limits, Rejection, DEFAULT_MAX_CLOCK_SKEW, DEFAULT_MAX_STATE_BYTES};
use crate::replica::event::{EventHub, Listener, Status, Subscription, SyncEvent};
use crate::replica::image::{new_feed_id, ChangeBatch, Meta, Replica};
use crate::replica::outcome::{ApplyResult, ReconciliationResult};
use crate::replica::store::memory::MemoryStore;
use crate::replica::store::Store;
use crate::replica::txn::{Strategies, Txn};
use crate::wire::{Snapshot, SNAPSHOT_FORMAT};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

struct Inner {
    replica: Replica,
    /// The change batch buffers, reused by every transaction to spare allocations.
    spare: Option<ChangeBatch>,
    store: Box<dyn Store>,
    strategies: Strategies,
    limits: Limits,
    clock: Arc<dyn WallClock>,
    status: Status,
    closed: bool,
    /// The counters moved without a commit (see `mutate`); `close` persists them.
    meta_dirty: bool,
    /// Sync rounds in progress.
    syncing: u32,
    /// The last sync round failed: the status is `Error` until one succeeds.
    sync_failed: bool,
}

impl Inner {
    fn derived_status(&self) -> Status {
        if self.syncing > 0 {
            Status::Syncing
        } else if self.sync_failed {
            Status::Error
        } else if self.replica.conflicts.is_empty() {
            Status::Idle
        } else {
            Status::Conflict
        }
    }

    fn set_status(&mut self, status: Status, events: &mut Vec<SyncEvent>) {
        if status != self.status {
            events.push(SyncEvent::StatusChanged { previous: self.status, current: status });
            self.status = status;
        }
    }
}

/// Work a layer above runs for a manager in the background (auto-sync, `sync/auto_sync.rs`).
/// The manager keeps it only to stop it on [`SyncManager::close`]; it never imports that layer.
#[cfg(feature = "runtime")]
pub(crate) trait Background: Send {
    /// Starts the next piece of work now instead of at its scheduled time.
    fn wake(&self);
    /// Stops the work and waits for it to end (see the implementation for when it cannot wait).
    fn stop(self: Box<Self>);
}

/// One replica: local CRUD recording pending operations, remote apply and reconcile with
/// conflict strategies, export/import, status and events. `Send + Sync`: share it with `Arc`.
pub struct SyncManager {
    inner: Mutex<Inner>,
    hub: EventHub,
    /// The running auto-sync, if any. A trait object: auto-sync is a layer above the manager
    /// (`sync/auto_sync.rs`), and the manager only has to stop it when it closes.
    #[cfg(feature = "runtime")]
    pub(crate) auto: Mutex<Option<Box<dyn Background>>>,
}

impl SyncManager {
    /// Opens a replica: loads it from the store, or creates it (and persists its node id).
    pub fn open(config: ManagerConfig) -> Result<SyncManager> {
        if let Some(node) = &config.node_id {
            validate_node_id(node).map_err(SyncError::InvalidInput)?;
        }
        for collection in config.collection_strategies.keys() {
            validate_collection(collection).map_err(SyncError::InvalidInput)?;
        }
        if config.max_state_bytes == 0 {
            return Err(SyncError::InvalidInput("max_state_bytes must be at least 1".into()));
        }
        let clock = match config.clock {
            Some(clock) => clock,
            None => default_clock()?,
        };
        let mut store: Box<dyn Store> = match &config.storage {
            StorageConfig::Memory => Box::new(MemoryStore),
            #[cfg(feature = "sqlite")]
            StorageConfig::Sqlite(path) => {
                Box::new(crate::replica::store::sqlite::SqliteStore::open(path, config.durability)?)
            }
            StorageConfig::Journal(journal) => Box::new(crate::replica::store::journal::JournalStore::new(journal)),
        };
        let replica = match store.load()? {
            Some(replica) => {
                if let Some(node) = &config.node_id {
                    if *node != replica.meta.node_id {
                        return Err(SyncError::InvalidInput(format!(
                            "this store belongs to node {:?}, not {node:?}",
                            replica.meta.node_id
                        )));
                    }
                }
                replica
            }
            None => {
                let node_id = config.node_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                let replica =
                    Replica::new(Meta { node_id, counter: 0, hlc: Hlc::default(), seq: 0, feed: new_feed_id() });
                store.commit(&ChangeBatch::new(replica.meta.clone()))?;
                replica
            }
        };
        let mut inner = Inner {
            spare: Some(ChangeBatch::new(replica.meta.clone())),
            replica,
            store,
            strategies: Strategies {
                default: config.strategy,
                per_collection: config.collection_strategies,
                check_resolver: config.check_resolver,
            },
            limits: Limits::new(config.max_clock_skew, config.max_state_bytes),
            clock,
            status: Status::Idle,
            closed: false,
            meta_dirty: false,
            syncing: 0,
            sync_failed: false,
        };
        inner.status = inner.derived_status();
        Ok(SyncManager {
            inner: Mutex::new(inner),
            hub: EventHub::default(),
            #[cfg(feature = "runtime")]
            auto: Mutex::new(None),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Mutations change the image only after a successful commit, in one step, so a
        // panic elsewhere cannot have left it half-changed: the guard is safe to recover.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read<T>(&self, f: impl FnOnce(&Inner) -> T) -> Result<T> {
        let inner = self.lock();
        if inner.closed {
            return Err(SyncError::Closed);
        }
        Ok(f(&inner))
    }

    /// Runs `f` as one transaction: commits what it changed, then delivers its events.
    fn mutate<T>(&self, f: impl FnOnce(&mut Txn<'_>) -> Result<T>) -> Result<T> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if inner.closed {
            return Err(SyncError::Closed);
        }
        let emit = self.hub.is_heard();
        let spare = inner.spare.take().unwrap_or_else(|| ChangeBatch::new(inner.replica.meta.clone()));
        let mut txn = Txn::new(&inner.replica, &inner.strategies, inner.limits, inner.clock.as_ref(), emit, spare);
        let outcome = f(&mut txn);
        let (mut batch, mut events) = (txn.batch, txn.events);
        let value = match outcome {
            Ok(value) => value,
            Err(e) => {
                inner.spare = Some(batch);
                return Err(e);
            }
        };
        if batch.only_meta() {
            // Only the clocks moved (a duplicate or old remote state): kept in memory and
            // persisted with the next real change, sparing a disk commit per duplicate.
            inner.meta_dirty |= inner.replica.meta != batch.meta;
            inner.replica.meta.clone_from(&batch.meta);
            inner.spare = Some(batch);
            return Ok(value);
        }
        if let Err(e) = inner.store.commit(&batch) {
            inner.spare = Some(batch);
            let mut status_events = Vec::new();
            inner.set_status(Status::Error, &mut status_events);
            self.publish(guard, status_events);
            return Err(e);
        }
        inner.replica.apply(&mut batch);
        inner.meta_dirty = false;
        inner.spare = Some(batch);
        let status = inner.derived_status();
        inner.set_status(status, &mut events);
        self.publish(guard, events);
        Ok(value)
    }

    /// Queues committed events while the lock is still held (that is what keeps commit order),
    /// then releases it and delivers them.
    fn publish(&self, guard: MutexGuard<'_, Inner>, events: Vec<SyncEvent>) {
        if events.is_empty() {
            // Nothing of ours to deliver (no listener, or nothing visible changed); events
            // queued by other threads are delivered by those threads.
            return;
        }
        self.hub.enqueue(events);
        drop(guard);
        self.hub.dispatch();
    }

    /// This replica's node id.
    pub fn node_id(&self) -> Result<String> {
        self.read(|i| i.replica.meta.node_id.clone())
    }

    /// Creates a state. Fails with `AlreadyExists` if a live state has the id; re-creating a
    /// deleted id is a new write that supersedes the tombstone.
    pub fn create_state(&self, data: Value, options: CreateOptions) -> Result<Arc<SyncState>> {
        self.mutate(|t| {
            t.local_writes_only();
            t.create(data, options.id, options.collection)
        })
    }

    /// The live state with this id (`None` for missing or deleted).
    pub fn get_state(&self, id: &str) -> Result<Option<Arc<SyncState>>> {
        self.read(|i| i.replica.states.get(id).map(|s| &s.state).filter(|s| s.is_live()).cloned())
    }

    /// Replaces a live state's data. `NotFound` if missing or deleted.
    pub fn update_state(&self, id: &str, data: Value) -> Result<Arc<SyncState>> {
        self.mutate(|t| {
            t.local_writes_only();
            t.update(id, data)
        })
    }

    /// Deletes a live state (it becomes a tombstone that propagates). Returns the tombstone.
    pub fn delete_state(&self, id: &str) -> Result<Arc<SyncState>> {
        self.mutate(|t| {
            t.local_writes_only();
            t.delete(id)
        })
    }

    /// States ordered by id, optionally of one collection, tombstones only when asked.
    pub fn list_states(&self, collection: Option<&str>, include_deleted: bool) -> Result<Vec<Arc<SyncState>>> {
        self.read(|i| {
            let mut out: Vec<Arc<SyncState>> = i
                .replica
                .states
                .values()
                .map(|s| &s.state)
                .filter(|s| include_deleted || s.is_live())
                .filter(|s| collection.is_none_or(|c| s.collection == c))
                .cloned()
                .collect();
            out.sort_by(|a, b| a.id.cmp(&b.id));
            out
        })
    }

    /// Runs several local writes as one transaction: all are committed, or none if `f` fails.
    pub fn write_batch<T>(&self, f: impl FnOnce(&mut WriteBatch<'_, '_>) -> Result<T>) -> Result<T> {
        self.mutate(|t| {
            t.local_writes_only();
            f(&mut WriteBatch { txn: t })
        })
    }

    /// Local writes not yet acknowledged, oldest first.
    pub fn pending_operations(&self) -> Result<Vec<SyncOperation>> {
        self.read(|i| i.replica.pending_in_order().collect())
    }

    /// Drops acknowledged operations; unknown ids are ignored. Returns how many were dropped.
    pub fn acknowledge(&self, op_ids: &[String]) -> Result<usize> {
        self.mutate(|t| Ok(t.acknowledge(op_ids)))
    }

    /// Applies one state from another replica. One that must be refused (malformed, larger
    /// than `max_state_bytes`, stamped more than `max_clock_skew` ahead, in another collection
    /// here) is `INVALID_STATE` and changes nothing.
    pub fn apply_remote_state(&self, remote: impl Into<Arc<SyncState>>) -> Result<ApplyResult> {
        let remote = remote.into();
        self.mutate(|t| t.apply_remote(remote))
    }

    /// Applies many remote states in one transaction. A state that must be refused (see
    /// [`SyncManager::apply_remote_state`]) is refused alone and listed in the result's
    /// `rejections`; the others apply.
    pub fn reconcile<S: Into<Arc<SyncState>>>(
        &self,
        states: impl IntoIterator<Item = S>,
    ) -> Result<ReconciliationResult> {
        let states: Vec<Arc<SyncState>> = states.into_iter().map(Into::into).collect();
        self.mutate(|t| t.reconcile(states))
    }

    /// States refused in sync rounds and not gone through since, oldest first: versions peers
    /// sent that this replica refused (applied by [`SyncManager::apply_changes`]), and versions
    /// of this replica's that a peer refused. See [`Rejection`].
    pub fn rejections(&self) -> Result<Vec<Rejection>> {
        self.read(|i| i.replica.rejections_in_order().into_iter().cloned().collect())
    }

    /// Undoes a write of this replica's that a peer (a hub) refused: writes the peer's version
    /// of the state back as a new local write (a deletion when the peer keeps none, or did not
    /// say) whose clock has seen both the peer's version and the refused one, so every replica
    /// settles on it, and drops the rejection. The write syncs like any other; a hub accepts it
    /// whatever the grants, since it changes nothing the hub holds. Returns the new version.
    /// `NOT_FOUND` when no rejection is recorded for `state_id`; `INVALID_INPUT` when it records a
    /// peer's version that this replica refused (nothing of its own to undo).
    pub fn revert_rejected(&self, state_id: &str) -> Result<Arc<SyncState>> {
        self.mutate(|t| t.revert_rejected(state_id))
    }

    /// Unresolved manual conflicts, oldest first.
    pub fn conflicts(&self) -> Result<Vec<SyncConflict>> {
        self.read(|i| i.replica.conflicts_in_order().into_iter().cloned().collect())
    }

    /// Settles a manual conflict with a new local write that has seen both sides.
    pub fn resolve_conflict(&self, conflict_id: &str, resolution: Resolution) -> Result<Arc<SyncState>> {
        self.mutate(|t| t.resolve_conflict(conflict_id, resolution))
    }

    /// Changes the default strategy.
    pub fn set_strategy(&self, strategy: ConflictStrategy) -> Result<()> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(SyncError::Closed);
        }
        inner.strategies.default = strategy;
        Ok(())
    }

    /// Sets (or with `None` removes) the strategy of one collection.
    pub fn set_collection_strategy(&self, collection: &str, strategy: Option<ConflictStrategy>) -> Result<()> {
        validate_collection(collection).map_err(SyncError::InvalidInput)?;
        let mut inner = self.lock();
        if inner.closed {
            return Err(SyncError::Closed);
        }
        match strategy {
            Some(s) => inner.strategies.per_collection.insert(collection.to_owned(), s),
            None => inner.strategies.per_collection.remove(collection),
        };
        Ok(())
    }

    /// A snapshot of every state (tombstones included), the pending queue and the conflicts.
    pub fn export_state(&self) -> Result<Snapshot> {
        self.read(|i| {
            let mut states: Vec<SyncState> = i.replica.states.values().map(|s| (*s.state).clone()).collect();
            states.sort_by(|a, b| a.id.cmp(&b.id));
            Snapshot {
                format: SNAPSHOT_FORMAT,
                node_id: i.replica.meta.node_id.clone(),
                states,
                pending: i.replica.pending_in_order().collect(),
                conflicts: i.replica.conflicts_in_order().into_iter().cloned().collect(),
            }
        })
    }

    /// Imports a snapshot. By default it merges through the rules of `reconcile` (a snapshot
    /// never overwrites newer local data); with `replace` it replaces every state, the pending
    /// queue and the conflicts. An invalid snapshot changes nothing.
    pub fn import_state(&self, snapshot: Snapshot, replace: bool) -> Result<ReconciliationResult> {
        snapshot.validate()?;
        if replace {
            let created = snapshot.states.len() as u64;
            self.mutate(|t| {
                t.replace_all(snapshot.states, snapshot.pending, snapshot.conflicts)?;
                Ok(ReconciliationResult { created, ..Default::default() })
            })
        } else {
            self.reconcile(snapshot.states)
        }
    }

    /// [`SyncManager::import_state`] for the states of `collections` only (empty: every one).
    /// Merging reconciles only those states; `replace` replaces those collections' states,
    /// pending operations and conflicts, and keeps every other collection as it is. One
    /// transaction: an invalid snapshot changes nothing.
    pub fn import_collections(
        &self,
        snapshot: Snapshot,
        replace: bool,
        collections: &[String],
    ) -> Result<ReconciliationResult> {
        if collections.is_empty() {
            return self.import_state(snapshot, replace);
        }
        collections
            .iter()
            .try_for_each(|c| crate::model::state::validate_collection(c).map_err(SyncError::InvalidInput))?;
        snapshot.validate()?;
        let chosen = |c: &str| collections.iter().any(|x| x == c);
        if !replace {
            return self.reconcile(snapshot.states.into_iter().filter(|s| chosen(&s.collection)));
        }
        let created = snapshot.states.iter().filter(|s| chosen(&s.collection)).count() as u64;
        self.mutate(|t| {
            t.replace_collections(snapshot.states, snapshot.pending, snapshot.conflicts, collections)?;
            Ok(ReconciliationResult { created, ..Default::default() })
        })
    }

    /// Imports a snapshot from its JSON text (see [`SyncManager::import_state`]).
    pub fn import_json(&self, text: &str, replace: bool) -> Result<ReconciliationResult> {
        self.import_state(Snapshot::from_json(text)?, replace)
    }

    /// Panics while holding the replica's lock, in the middle of a transaction: a stand-in for
    /// a bug, with which a binding's tests prove that a panic becomes a typed `INTERNAL` error
    /// (see [`crate::catch_panic`]) and that the replica works afterwards. Only with the
    /// `testing` feature, which no shipped build has.
    #[cfg(feature = "testing")]
    pub fn panic_for_tests(&self) -> Result<()> {
        self.mutate(|t| {
            t.create(Value::Null, Some("panic-for-tests".into()), None)?;
            panic!("SyncManager::panic_for_tests was called");
        })
    }

    /// The replica's status.
    pub fn status(&self) -> Status {
        self.lock().status
    }

    /// Registers a listener for every event; it runs after commit, outside every lock.
    pub fn subscribe(&self, listener: impl Fn(&SyncEvent) + Send + Sync + 'static) -> Result<Subscription> {
        self.subscribe_arc(Arc::new(listener))
    }

    /// [`SyncManager::subscribe`] for a listener already in an `Arc` (bindings use this).
    pub fn subscribe_arc(&self, listener: Listener) -> Result<Subscription> {
        if self.lock().closed {
            return Err(SyncError::Closed);
        }
        Ok(self.hub.subscribe(listener))
    }

    /// Removes a listener. Returns false if it was not registered.
    pub fn unsubscribe(&self, subscription: Subscription) -> bool {
        self.hub.unsubscribe(subscription)
    }

    /// The slot of the background work (auto-sync), locked; recovers from a poisoned lock
    /// (the slot holds no invariant a panic could break).
    #[cfg(feature = "runtime")]
    pub(crate) fn background(&self) -> MutexGuard<'_, Option<Box<dyn Background>>> {
        self.auto.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops the background work, if any, and waits for it. Returns whether there was any.
    #[cfg(feature = "runtime")]
    pub(crate) fn stop_background(&self) -> bool {
        let running = self.background().take();
        running.map(Background::stop).is_some()
    }

    /// Stops auto-sync (waiting for a round in progress), flushes and releases the store. Every later call fails with `Closed`; closing twice is
    /// harmless.
    pub fn close(&self) -> Result<()> {
        #[cfg(feature = "runtime")]
        self.stop_background();
        let mut guard = self.lock();
        if guard.closed {
            return Ok(());
        }
        guard.closed = true;
        let inner = &mut *guard;
        let flushed =
            if inner.meta_dirty { inner.store.commit(&ChangeBatch::new(inner.replica.meta.clone())) } else { Ok(()) };
        let result = flushed.and(inner.store.close());
        // Every later call fails with `Closed`: the states and the pending queue go now, not when
        // the binding's handle is collected (a browser tab keeps a closed replica's memory until
        // the JS garbage collector finalises its wrapper).
        inner.replica = Replica::new(inner.replica.meta.clone());
        inner.spare = None;
        let mut events = Vec::new();
        guard.set_status(Status::Closed, &mut events);
        self.publish(guard, events);
        result
    }
}

/// Local writes inside [`SyncManager::write_batch`], committed together.
pub struct WriteBatch<'t, 'a> {
    txn: &'t mut Txn<'a>,
}

impl WriteBatch<'_, '_> {
    /// As [`SyncManager::create_state`].
    pub fn create_state(&mut self, data: Value, options: CreateOptions) -> Result<Arc<SyncState>> {
        self.txn.create(data, options.id, options.collection)
    }

    /// As [`SyncManager::update_state`].
    pub fn update_state(&mut self, id: &str, data: Value) -> Result<Arc<SyncState>> {
        self.txn.update(id, data)
    }

    /// As [`SyncManager::delete_state`].
    pub fn delete_state(&mut self, id: &str) -> Result<Arc<SyncState>> {
        self.txn.delete(id)
    }

    /// The live state with this id, including this batch's own writes.
    pub fn get_state(&self, id: &str) -> Option<Arc<SyncState>> {
        self.txn.state(id).filter(|s| s.is_live()).cloned()
    }
}

#[cfg(not(target_family = "wasm"))]
fn default_clock() -> Result<Arc<dyn WallClock>> {
    Ok(Arc::new(crate::model::timestamp::SystemClock))
}

#[cfg(target_family = "wasm")]
fn default_clock() -> Result<Arc<dyn WallClock>> {
    Err(SyncError::InvalidInput("no system clock on wasm: inject one with ManagerConfig::clock".into()))
}
