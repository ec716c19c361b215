//! `SyncManager`: one replica. Every method is a call into the core manager; the long ones
//! (opening, sync rounds) are async exports that run the blocking core call on a blocking
//! thread of uniffi's tokio runtime, so they suspend (Kotlin) or await (Swift) instead of
//! blocking the caller.

use crate::clock::ManualClock;
use crate::cloud::{AutoBackup, BackupInfo, EncryptionKey, ObjectStoreTransport};
use crate::error::{blocking, guard, guard_async, Result};
use crate::event::{core_listener, Status, Subscription, Subscriptions, SyncListener};
use crate::feed::{scope_of, ChangeSet, SyncContext};
use crate::results::{ApplyResult, ReconciliationResult, Rejection, SyncReport};
use crate::snapshot::Snapshot;
use crate::state::{SyncConflict, SyncOperation, SyncState};
use crate::strategy::{ConflictStrategy, Resolution};
use crate::transport::{core_transport, ManagerTransport, SyncTransport};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// SQLite commit durability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Durability {
    /// A write that returned survives power loss (`synchronous=FULL`). The default.
    Full,
    /// Survives a process crash; the last commits may be lost on power loss.
    Normal,
}

/// How to open a [`SyncManager`].
#[derive(uniffi::Record)]
pub struct ManagerConfig {
    /// The replica's node id (1–128 bytes); generated and stored on first open when `null`.
    #[uniffi(default = None)]
    pub node_id: Option<String>,
    /// The SQLite file of the replica (created if missing); `null` keeps it in memory.
    #[uniffi(default = None)]
    pub path: Option<String>,
    /// The default conflict strategy (`lastWriteWins` when `null`).
    #[uniffi(default = None)]
    pub strategy: Option<ConflictStrategy>,
    /// Per-collection strategies.
    #[uniffi(default)]
    pub collection_strategies: HashMap<String, ConflictStrategy>,
    /// The wall clock (the system clock when `null`).
    #[uniffi(default = None)]
    pub clock: Option<Arc<ManualClock>>,
    /// Call custom resolvers both ways round and refuse non-commutative ones (`CONFLICT`).
    #[uniffi(default = false)]
    pub check_resolver: bool,
    /// SQLite commit durability (`full` when `null`).
    #[uniffi(default = None)]
    pub durability: Option<Durability>,
    /// How far ahead of this replica's wall clock a received state's timestamp may be; a state
    /// stamped later is refused (`null`: one hour, the core's `DEFAULT_MAX_CLOCK_SKEW`).
    #[uniffi(default = None)]
    pub max_clock_skew: Option<Duration>,
    /// The largest state data accepted from a peer or written here, in bytes of canonical JSON
    /// (1 MiB by default, the core's `DEFAULT_MAX_STATE_BYTES`): a larger local write is
    /// `INVALID_INPUT`, a larger state from a peer is refused. 0 is `INVALID_INPUT`.
    #[uniffi(default = 1048576)]
    pub max_state_bytes: u64,
}

// The default of `max_state_bytes` above must be a literal: it is the core's.
const _: () = assert!(statesync::DEFAULT_MAX_STATE_BYTES == 1_048_576);

impl ManagerConfig {
    fn into_core(self) -> statesync::ManagerConfig {
        let mut config = match self.path {
            Some(path) => statesync::ManagerConfig::sqlite(path),
            None => statesync::ManagerConfig::memory(),
        };
        config.node_id = self.node_id;
        config.check_resolver = self.check_resolver;
        if let Some(strategy) = self.strategy {
            config.strategy = strategy.into_core();
        }
        for (collection, strategy) in self.collection_strategies {
            config.collection_strategies.insert(collection, strategy.into_core());
        }
        if let Some(clock) = self.clock {
            config.clock = Some(clock.0.clone());
        }
        config.durability = match self.durability {
            Some(Durability::Normal) => statesync::Durability::Normal,
            _ => statesync::Durability::Full,
        };
        if let Some(skew) = self.max_clock_skew {
            config.max_clock_skew = skew;
        }
        // Beyond the address space is no limit at all; 0 is refused by the core.
        config.max_state_bytes = usize::try_from(self.max_state_bytes).unwrap_or(usize::MAX);
        config
    }
}

/// One replica: local CRUD recording pending operations, remote apply and reconcile with
/// conflict strategies, the changes feed and sync, export/import, status and events.
/// Thread-safe: share it between threads and coroutines freely.
///
/// Releasing the object (Kotlin `close()` / `use {}`, Swift deinit) closes the replica too.
/// Every method can fail with `INTERNAL` (a bug in statesync); the replica stays usable.
#[derive(uniffi::Object)]
pub struct SyncManager {
    inner: Arc<statesync::SyncManager>,
    subscriptions: Subscriptions,
}

impl SyncManager {
    fn wrap(inner: statesync::SyncManager) -> Arc<Self> {
        Arc::new(SyncManager { inner: Arc::new(inner), subscriptions: Arc::default() })
    }

    fn drop_subscriptions(&self) {
        let subs = std::mem::take(&mut *self.subscriptions.lock().unwrap_or_else(|e| e.into_inner()));
        for sub in subs {
            self.inner.unsubscribe(sub);
        }
    }
}

impl Drop for SyncManager {
    fn drop(&mut self) {
        // The host released its last handle: close the replica (stops auto-sync, flushes). Its
        // free call is an export too, with no one to report to: a panic is caught and dropped.
        let _ = statesync::catch_panic(|| {
            let _ = self.inner.close();
            self.drop_subscriptions();
            Ok(())
        });
    }
}

#[uniffi::export]
impl SyncManager {
    /// Opens a replica: loads it from its store, or creates it. See also the async `open`.
    #[uniffi::constructor]
    pub fn new(config: ManagerConfig) -> Result<Arc<Self>> {
        guard(|| Ok(Self::wrap(statesync::SyncManager::open(config.into_core())?)))
    }

    /// This replica's node id.
    pub fn node_id(&self) -> Result<String> {
        guard(|| Ok(self.inner.node_id()?))
    }

    /// Creates a state from JSON text (`ALREADY_EXISTS` if a live one has the id). The id is a
    /// random UUID and the collection `"default"` when not given. Text that is not JSON, nests
    /// too deep, holds an integer beyond ±(2^53 − 1) or is larger than `maxStateBytes` is
    /// `INVALID_INPUT`.
    #[uniffi::method(default(id = None, collection = None))]
    pub fn create_state(&self, data: String, id: Option<String>, collection: Option<String>) -> Result<SyncState> {
        guard(|| {
            let data = statesync::data_from_json(&data)?;
            let state = self.inner.create_state(data, statesync::CreateOptions { id, collection })?;
            Ok((&*state).into())
        })
    }

    /// The live state with this id, or `null` (missing or deleted).
    pub fn get_state(&self, id: String) -> Result<Option<SyncState>> {
        guard(|| Ok(self.inner.get_state(&id)?.map(|s| (&*s).into())))
    }

    /// Replaces a live state's data (`NOT_FOUND` if missing or deleted; data as `createState`
    /// takes it).
    pub fn update_state(&self, id: String, data: String) -> Result<SyncState> {
        guard(|| {
            let data = statesync::data_from_json(&data)?;
            Ok((&*self.inner.update_state(&id, data)?).into())
        })
    }

    /// Deletes a live state; returns the tombstone (`NOT_FOUND` if missing or deleted).
    pub fn delete_state(&self, id: String) -> Result<SyncState> {
        guard(|| Ok((&*self.inner.delete_state(&id)?).into()))
    }

    /// States ordered by id, optionally of one collection, tombstones only when asked.
    #[uniffi::method(default(collection = None, include_deleted = false))]
    pub fn list_states(&self, collection: Option<String>, include_deleted: bool) -> Result<Vec<SyncState>> {
        guard(|| {
            let states = self.inner.list_states(collection.as_deref(), include_deleted)?;
            Ok(states.iter().map(|s| (&**s).into()).collect())
        })
    }

    /// Local writes not yet acknowledged, oldest first.
    pub fn pending_operations(&self) -> Result<Vec<SyncOperation>> {
        guard(|| Ok(self.inner.pending_operations()?.iter().map(Into::into).collect()))
    }

    /// Drops acknowledged operations (unknown ids are ignored); returns how many were dropped.
    pub fn acknowledge(&self, op_ids: Vec<String>) -> Result<u64> {
        guard(|| Ok(self.inner.acknowledge(&op_ids)? as u64))
    }

    /// Applies one state from another replica. One that must be refused (malformed, larger
    /// than `maxStateBytes`, stamped more than `maxClockSkew` ahead, in another collection
    /// here) is `INVALID_STATE` and changes nothing.
    pub fn apply_remote_state(&self, state: SyncState) -> Result<ApplyResult> {
        guard(|| Ok(self.inner.apply_remote_state(state.into_core()?)?.into()))
    }

    /// Applies many remote states in one transaction. A state that must be refused (see
    /// `applyRemoteState`) is refused alone and listed in the result's `rejections`; the
    /// others apply.
    pub fn reconcile(&self, states: Vec<SyncState>) -> Result<ReconciliationResult> {
        guard(|| {
            let states = states.into_iter().map(SyncState::into_core).collect::<statesync::Result<Vec<_>>>()?;
            Ok(self.inner.reconcile(states)?.into())
        })
    }

    /// States refused in sync rounds and not gone through since, oldest first: versions peers
    /// sent that this replica refused (in a sync round or `applyChanges`), and versions of this
    /// replica's that a peer refused. Each was announced with a `StateRejected` event.
    pub fn rejections(&self) -> Result<Vec<Rejection>> {
        guard(|| Ok(self.inner.rejections()?.iter().map(Into::into).collect()))
    }

    /// Unresolved manual conflicts, oldest first.
    pub fn conflicts(&self) -> Result<Vec<SyncConflict>> {
        guard(|| Ok(self.inner.conflicts()?.iter().map(Into::into).collect()))
    }

    /// Settles a manual conflict with a new local write that has seen both sides.
    pub fn resolve_conflict(&self, conflict_id: String, resolution: Resolution) -> Result<SyncState> {
        guard(|| {
            let resolution = resolution.into_core()?;
            Ok((&*self.inner.resolve_conflict(&conflict_id, resolution)?).into())
        })
    }

    /// Undoes a write of this replica's that a peer (a hub) refused: writes the version the
    /// peer keeps (`Rejection.current`; a deletion when it keeps none, or did not say) as a new
    /// local write whose clock has seen both that version and the refused one, so every
    /// replica settles on it, and drops the rejection. The write syncs like any other. Returns
    /// the new version. `NOT_FOUND` when no rejection is recorded for `stateId`;
    /// `INVALID_INPUT` when it records a peer's version that this replica refused (nothing of
    /// its own to undo).
    pub fn revert_rejected(&self, state_id: String) -> Result<SyncState> {
        guard(|| Ok((&*self.inner.revert_rejected(&state_id)?).into()))
    }

    /// Changes the default strategy.
    pub fn set_strategy(&self, strategy: ConflictStrategy) -> Result<()> {
        guard(|| Ok(self.inner.set_strategy(strategy.into_core())?))
    }

    /// Sets (or with `null` removes) the strategy of one collection.
    pub fn set_collection_strategy(&self, collection: String, strategy: Option<ConflictStrategy>) -> Result<()> {
        guard(|| Ok(self.inner.set_collection_strategy(&collection, strategy.map(ConflictStrategy::into_core))?))
    }

    /// One page of the changes feed after `cursor` (`null`: from the beginning) in `context`.
    #[uniffi::method(default(cursor = None, context = None))]
    pub fn changes_since(&self, cursor: Option<String>, context: Option<SyncContext>) -> Result<ChangeSet> {
        guard(|| {
            let context = context.unwrap_or_default().to_core()?;
            Ok((&self.inner.changes_since(cursor.as_deref(), &context)?).into())
        })
    }

    /// Applies a page received from `peer` and stores its cursor for the scope, in one
    /// transaction (a sync resumes exactly there). States refused alone are listed in the
    /// result and recorded as rejections (see `rejections()`).
    #[uniffi::method(default(context = None))]
    pub fn apply_changes(
        &self,
        peer: String,
        changes: ChangeSet,
        context: Option<SyncContext>,
    ) -> Result<ReconciliationResult> {
        guard(|| {
            let context = context.unwrap_or_default().to_core()?;
            let changes = changes.into_core()?;
            Ok(self.inner.apply_changes(&peer, &context, &changes)?.into())
        })
    }

    /// The cursor stored for `peer` and this set of collections (empty: all).
    #[uniffi::method(default(collections = []))]
    pub fn peer_cursor(&self, peer: String, collections: Vec<String>) -> Result<Option<String>> {
        guard(|| Ok(self.inner.peer_cursor(&peer, &scope_of(collections))?))
    }

    /// Stores (or with `null` clears) the cursor for `peer` and this set of collections.
    #[uniffi::method(default(collections = []))]
    pub fn set_peer_cursor(&self, peer: String, cursor: Option<String>, collections: Vec<String>) -> Result<()> {
        guard(|| Ok(self.inner.set_peer_cursor(&peer, &scope_of(collections), cursor.as_deref())?))
    }

    /// This replica as a transport, for syncing with it in process.
    pub fn as_transport(&self) -> Result<Arc<dyn SyncTransport>> {
        guard(|| Ok(Arc::new(ManagerTransport(self.inner.clone())) as Arc<dyn SyncTransport>))
    }

    /// Syncs with `transport` every `interval` on the manager's own background runtime until
    /// `stopAutoSync()` or close; failed rounds are retried with backoff. Starting twice is
    /// `INVALID_INPUT`.
    #[uniffi::method(default(context = None))]
    pub fn start_auto_sync(
        &self,
        interval: Duration,
        transport: Arc<dyn SyncTransport>,
        context: Option<SyncContext>,
    ) -> Result<()> {
        guard(|| {
            let context = context.unwrap_or_default().to_core()?;
            let config = statesync::AutoSyncConfig::every(interval).context(context);
            Ok(self.inner.start_auto_sync_with(config, core_transport(transport))?)
        })
    }

    /// `startAutoSync` through a bucket ([`ObjectStoreTransport`]); the idiomatic layer's
    /// `startAutoSync(interval, bucket)` calls it. A separate entry point because a bucket must
    /// learn which replica syncs through it, which the transport interface cannot carry.
    #[uniffi::method(default(context = None))]
    pub fn start_auto_sync_bucket(
        &self,
        interval: Duration,
        bucket: Arc<ObjectStoreTransport>,
        context: Option<SyncContext>,
    ) -> Result<()> {
        guard(|| {
            let context = context.unwrap_or_default().to_core()?;
            let config = statesync::AutoSyncConfig::every(interval).context(context);
            let transport: Arc<dyn statesync::SyncTransport> = bucket.inner.clone();
            Ok(self.inner.start_auto_sync_with(config, transport)?)
        })
    }

    /// Backs this replica up to `url` every `interval` (at least one second; the first backup
    /// at once) on a thread of its own, sealed with `key` when given, keeping the `keepLast`
    /// newest backups there (`0` keeps all). A failed run is recorded (`lastError()`) and
    /// retried at the next interval. The URL and key are checked before it starts
    /// (`INVALID_INPUT`). Runs until the handle is stopped or released, or the replica closed.
    #[uniffi::method(default(keep_last = 0, key = None))]
    pub fn start_auto_backup(
        &self,
        url: String,
        interval: Duration,
        keep_last: u32,
        key: Option<Arc<EncryptionKey>>,
    ) -> Result<Arc<AutoBackup>> {
        guard(|| {
            let key = EncryptionKey::core(&key);
            let running = self.inner.start_auto_backup(&url, interval, keep_last as usize, key.as_ref())?;
            Ok(AutoBackup::wrap(running))
        })
    }

    /// Stops auto-sync after the round in progress (waiting for it). Returns whether it ran.
    pub fn stop_auto_sync(&self) -> Result<bool> {
        guard(|| Ok(self.inner.stop_auto_sync()))
    }

    /// Runs the next auto-sync round now. Returns whether auto-sync runs.
    pub fn sync_now(&self) -> Result<bool> {
        guard(|| Ok(self.inner.sync_now()))
    }

    /// Whether auto-sync is running.
    pub fn is_auto_syncing(&self) -> Result<bool> {
        guard(|| Ok(self.inner.is_auto_syncing()))
    }

    /// A snapshot of every state (tombstones included), the pending queue and the conflicts.
    pub fn export_state(&self) -> Result<Snapshot> {
        guard(|| Ok((&self.inner.export_state()?).into()))
    }

    /// Imports a snapshot: merged like `reconcile` (never overwriting newer local data), or
    /// with `replace` replacing everything. An invalid snapshot changes nothing.
    #[uniffi::method(default(replace = false))]
    pub fn import_state(&self, snapshot: Snapshot, replace: bool) -> Result<ReconciliationResult> {
        guard(|| Ok(self.inner.import_state(snapshot.into_core()?, replace)?.into()))
    }

    /// Imports a snapshot from its JSON text (`CORRUPT` if it does not parse).
    #[uniffi::method(default(replace = false))]
    pub fn import_json(&self, json: String, replace: bool) -> Result<ReconciliationResult> {
        guard(|| Ok(self.inner.import_json(&json, replace)?.into()))
    }

    /// The replica's status.
    pub fn status(&self) -> Result<Status> {
        guard(|| Ok(self.inner.status().into()))
    }

    /// Registers a listener for every event (after commit, in commit order).
    pub fn subscribe(&self, listener: Arc<dyn SyncListener>) -> Result<Arc<Subscription>> {
        guard(|| {
            let id = self.inner.subscribe_arc(core_listener(listener))?;
            self.subscriptions.lock().unwrap_or_else(|e| e.into_inner()).push(id);
            Ok(Arc::new(Subscription { manager: Arc::downgrade(&self.inner), id }))
        })
    }

    /// Stops auto-sync, flushes and releases the store; every later call fails with `CLOSED`.
    /// Closing twice is harmless. (Kotlin names it `shutdown()`: there `close()` also releases
    /// the object, as `AutoCloseable` does.)
    pub fn close(&self) -> Result<()> {
        guard(|| {
            let result = self.inner.close();
            // Listeners heard the `closed` status; now they can go.
            self.drop_subscriptions();
            Ok(result?)
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl SyncManager {
    /// Opens a replica on a background thread (SQLite loading can take a while).
    #[uniffi::constructor]
    pub async fn open(config: ManagerConfig) -> Result<Arc<Self>> {
        guard_async(async move {
            let config = config.into_core();
            Ok(Self::wrap(blocking(move || statesync::SyncManager::open(config)).await?))
        })
        .await
    }

    /// A complete bidirectional sync round with another replica in this process: pulls its
    /// changes, then pushes ours, from the stored cursors.
    #[uniffi::method(default(context = None))]
    pub async fn sync_with(&self, other: Arc<SyncManager>, context: Option<SyncContext>) -> Result<SyncReport> {
        guard_async(async move {
            let context = context.unwrap_or_default().to_core()?;
            let (me, other) = (self.inner.clone(), other.inner.clone());
            Ok(blocking(move || me.sync_with_context(&other, &context)).await?.into())
        })
        .await
    }

    /// A complete sync round through a transport (the HTTP client, your own, or another
    /// replica's `asTransport()`): pulls every page, then pushes ours, acknowledging pending
    /// operations as the peer accepts them. Cancelling the caller abandons the wait; the round
    /// itself finishes (or fails) in the background, and its cursors keep every change safe.
    #[uniffi::method(default(context = None))]
    pub async fn sync(&self, transport: Arc<dyn SyncTransport>, context: Option<SyncContext>) -> Result<SyncReport> {
        guard_async(async move {
            let context = context.unwrap_or_default().to_core()?;
            let (me, transport) = (self.inner.clone(), core_transport(transport));
            Ok(blocking(move || me.sync_via(transport.as_ref(), &context)).await?.into())
        })
        .await
    }

    /// `sync` through a bucket ([`ObjectStoreTransport`]); the idiomatic layer's
    /// `sync(bucket)` calls it. A round pulls the other replicas' segments after this one's
    /// cursors, then appends this replica's changes as a new segment. A separate entry point
    /// because a bucket must learn which replica syncs through it, which the transport
    /// interface cannot carry.
    #[uniffi::method(default(context = None))]
    pub async fn sync_bucket(
        &self,
        bucket: Arc<ObjectStoreTransport>,
        context: Option<SyncContext>,
    ) -> Result<SyncReport> {
        guard_async(async move {
            let context = context.unwrap_or_default().to_core()?;
            let (me, transport) = (self.inner.clone(), bucket.inner.clone());
            Ok(blocking(move || me.sync_via(transport.as_ref(), &context)).await?.into())
        })
        .await
    }

    /// Backs this replica up to the storage URL `url` (`file:///abs/dir`, `memory://name/prefix`,
    /// `s3://…`, `gs://…`, `az://…`): every state, the pending queue and the conflicts, taken at
    /// one instant, compressed, split into parts with a SHA-256 each, sealed with `key` when
    /// given; the manifest is written last. An unknown scheme is `INVALID_INPUT`, a network
    /// fault `TRANSPORT`.
    #[uniffi::method(default(key = None, label = None))]
    pub async fn backup(
        &self,
        url: String,
        key: Option<Arc<EncryptionKey>>,
        label: Option<String>,
    ) -> Result<BackupInfo> {
        guard_async(async move {
            let (me, key) = (self.inner.clone(), EncryptionKey::core(&key));
            Ok(blocking(move || me.backup(&url, key.as_ref(), label.as_deref())).await?.into())
        })
        .await
    }

    /// Restores backup `id` from `url`: verified whole first (a damaged part is `CORRUPT`
    /// naming it; a wrong or missing key `CRYPTO`), then merged like `importState` (never
    /// overwriting newer local data) or, with `replace`, put in place of what the replica holds;
    /// with `collections`, only those. A restore that fails changes nothing.
    #[uniffi::method(default(key = None, replace = false, collections = []))]
    pub async fn restore_backup(
        &self,
        url: String,
        id: String,
        key: Option<Arc<EncryptionKey>>,
        replace: bool,
        collections: Vec<String>,
    ) -> Result<ReconciliationResult> {
        guard_async(async move {
            let (me, key) = (self.inner.clone(), EncryptionKey::core(&key));
            let result = blocking(move || me.restore_backup(&url, &id, key.as_ref(), replace, &collections)).await?;
            Ok(result.into())
        })
        .await
    }
}

/// The test-only entry point (cargo feature `testing`, which only the test builds turn on):
/// never in a shipped library.
#[cfg(feature = "testing")]
#[uniffi::export]
impl SyncManager {
    /// Panics inside the replica, in a transaction with its lock held (the core's
    /// `panic_for_tests`): the tests of each host language prove with it that a panic arrives
    /// as `INTERNAL` and that the replica works on afterwards.
    pub fn panic_for_tests(&self) -> Result<()> {
        guard(|| Ok(self.inner.panic_for_tests()?))
    }
}

/// Checks at compile time that the exported objects can be shared between threads.
#[allow(dead_code)]
fn assert_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<SyncManager>();
    check::<Subscription>();
    check::<ManualClock>();
    check::<crate::transport::HttpTransport>();
    check::<EncryptionKey>();
    check::<AutoBackup>();
    check::<ObjectStoreTransport>();
}

#[cfg(test)]
mod tests {
    use super::*;

    impl ManagerConfig {
        /// An in-memory replica's configuration with the defaults.
        fn from_node(node: &str) -> ManagerConfig {
            ManagerConfig {
                node_id: Some(node.into()),
                path: None,
                strategy: None,
                collection_strategies: HashMap::new(),
                clock: None,
                check_resolver: false,
                durability: None,
                max_clock_skew: None,
                max_state_bytes: 1 << 20,
            }
        }
    }

    fn memory(node: &str) -> Arc<SyncManager> {
        SyncManager::new(ManagerConfig::from_node(node)).unwrap()
    }

    #[test]
    fn crud_and_errors_through_the_records() {
        let m = memory("a");
        let s = m.create_state(r#"{"theme":"dark"}"#.into(), Some("settings".into()), None).unwrap();
        assert_eq!((s.data.as_str(), s.version, s.hash.as_str()), (r#"{"theme":"dark"}"#, 1, "730dbbcf9f17f860"));
        let e = m.update_state("nope".into(), "1".into()).unwrap_err();
        assert_eq!((e.code(), e.to_string().as_str()), ("NOT_FOUND", "not found: state \"nope\""));
        assert_eq!(m.create_state("{".into(), None, None).unwrap_err().code(), "INVALID_INPUT");
        m.close().unwrap();
        assert_eq!(m.node_id().unwrap_err().code(), "CLOSED");
    }

    #[test]
    fn states_cross_back_losslessly() {
        let a = memory("a");
        let b = memory("b");
        let s = a.create_state(r#"{"f":[1.5,-0.0,9007199254740991]}"#.into(), Some("x".into()), None).unwrap();
        assert_eq!(b.apply_remote_state(s.clone()).unwrap().outcome, crate::results::ApplyOutcome::Created);
        assert_eq!(b.get_state("x".into()).unwrap().unwrap(), s);
        let mut bad = s;
        bad.data = "2".into();
        assert_eq!(b.apply_remote_state(bad).unwrap_err().code(), "INVALID_STATE");
        for big in ["9007199254740992", "18446744073709551615", "123456789012345678901234567890"] {
            assert_eq!(a.create_state(big.into(), None, None).unwrap_err().code(), "INVALID_INPUT", "{big}");
        }
    }

    #[test]
    fn reconcile_refuses_a_state_alone_and_pulls_record_it() {
        let a = memory("a");
        let b = memory("b");
        let moved = a.create_state("1".into(), Some("s".into()), Some("one".into())).unwrap();
        b.create_state("2".into(), Some("s".into()), Some("two".into())).unwrap();
        let fine = a.create_state("3".into(), Some("t".into()), None).unwrap();
        let result = b.reconcile(vec![moved, fine]).unwrap();
        assert_eq!((result.created, result.rejected), (1, 1));
        assert_eq!((result.rejections[0].id.as_str(), result.rejections[0].code.as_str()), ("s", "INVALID_STATE"));
        assert!(b.rejections().unwrap().is_empty(), "reconcile reports, a pull records");
        let page = a.changes_since(None, None).unwrap();
        let pulled = b.apply_changes("a".into(), page, None).unwrap();
        assert_eq!(pulled.rejected, 1);
        let recorded = b.rejections().unwrap();
        assert_eq!(recorded.len(), 1);
        assert_eq!((recorded[0].state_id.as_str(), recorded[0].code.as_str()), ("s", "INVALID_STATE"));
    }

    #[test]
    fn the_limits_are_options() {
        let config = |skew: Option<Duration>, bytes: u64| ManagerConfig {
            node_id: Some("a".into()),
            path: None,
            strategy: None,
            collection_strategies: HashMap::new(),
            clock: Some(ManualClock::new(1_000).unwrap()),
            check_resolver: false,
            durability: None,
            max_clock_skew: skew,
            max_state_bytes: bytes,
        };
        assert_eq!(SyncManager::new(config(None, 0)).err().map(|e| e.code()), Some("INVALID_INPUT"));
        let small = SyncManager::new(config(None, 10)).unwrap();
        assert_eq!(small.create_state(r#""0123456789""#.into(), None, None).unwrap_err().code(), "INVALID_INPUT");
        small.create_state(r#""01234567""#.into(), None, None).unwrap();
        let core = config(Some(Duration::from_secs(5)), u64::MAX).into_core();
        assert_eq!((core.max_clock_skew, core.max_state_bytes), (Duration::from_secs(5), usize::MAX));
        assert_eq!(config(None, 1).into_core().max_clock_skew, statesync::DEFAULT_MAX_CLOCK_SKEW);
    }

    /// A round of `a` with `b` through the transport conversions both ways (the core calls the
    /// exported trait, as for a Kotlin or Swift transport, and `b` answers through it).
    fn round(a: &SyncManager, b: &SyncManager) -> statesync::SyncReport {
        let transport = core_transport(b.as_transport().unwrap());
        a.inner.sync_via(transport.as_ref(), &statesync::SyncContext::all()).unwrap()
    }

    #[test]
    fn a_refused_write_keeps_the_peers_version_through_the_transport_and_reverts_to_it() {
        let a = memory("A");
        let mut config = ManagerConfig::from_node("B");
        config.max_state_bytes = 20;
        let b = SyncManager::new(config).unwrap();
        a.create_state(r#"{"t":1}"#.into(), Some("s".into()), None).unwrap();
        round(&a, &b);
        a.update_state("s".into(), r#"{"t":"far more than twenty bytes"}"#.into()).unwrap();
        let report = round(&a, &b);
        assert_eq!(report.pushed.rejected, 1);
        let kept = b.get_state("s".into()).unwrap().unwrap();
        let rejection = a.rejections().unwrap().pop().unwrap();
        assert_eq!((rejection.own, rejection.current.as_ref()), (true, Some(&kept)));
        let reverted = a.revert_rejected("s".into()).unwrap();
        assert_eq!((reverted.data.as_str(), reverted.version), (r#"{"t":1}"#, 3));
        assert!(a.rejections().unwrap().is_empty());
        assert_eq!(round(&a, &b).pushed.updated, 1);
        assert_eq!(b.get_state("s".into()).unwrap().unwrap(), reverted);
        assert_eq!(a.revert_rejected("s".into()).unwrap_err().code(), "NOT_FOUND");
    }

    #[test]
    fn reverting_a_refusal_of_a_peers_version_is_invalid_input() {
        let mut config = ManagerConfig::from_node("A");
        config.max_state_bytes = 10;
        let a = SyncManager::new(config).unwrap();
        let b = memory("B");
        b.create_state(r#"{"text":"more than ten bytes"}"#.into(), Some("big".into()), None).unwrap();
        round(&a, &b);
        let rejection = a.rejections().unwrap().pop().unwrap();
        assert_eq!((rejection.own, rejection.current), (false, None));
        assert_eq!(a.revert_rejected("big".into()).unwrap_err().code(), "INVALID_INPUT");
        assert_eq!(a.rejections().unwrap().len(), 1, "left as it was");
    }

    #[cfg(feature = "testing")]
    #[test]
    fn a_panic_inside_the_replica_is_internal_and_the_replica_works_on() {
        let m = memory("a");
        m.create_state("1".into(), Some("before".into()), None).unwrap();
        let e = m.panic_for_tests().unwrap_err();
        assert_eq!(e.code(), "INTERNAL");
        assert!(e.to_string().contains("panic_for_tests was called"), "{e}");
        assert_eq!(m.get_state("panic-for-tests".into()).unwrap(), None, "the panicking transaction left nothing");
        m.create_state("2".into(), Some("after".into()), None).unwrap();
        assert_eq!(m.list_states(None, false).unwrap().len(), 2);
    }

    #[test]
    fn a_bucket_learns_its_replica_and_backups_round_trip_through_the_records() {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
        let key = EncryptionKey::from_bytes(vec![7; 32]).unwrap();
        let (a, b) = (memory("a"), memory("b"));
        a.create_state("1".into(), Some("s".into()), None).unwrap();
        let url = "memory://ffi-unit-tests/bucket".to_owned();
        let bucket_a = ObjectStoreTransport::new(url.clone(), Some(key.clone())).unwrap();
        let bucket_b = ObjectStoreTransport::new(url, Some(key.clone())).unwrap();
        runtime.block_on(a.sync_bucket(bucket_a, None)).unwrap();
        runtime.block_on(b.sync_bucket(bucket_b, None)).unwrap();
        assert_eq!(b.get_state("s".into()).unwrap(), a.get_state("s".into()).unwrap());

        let backups = "memory://ffi-unit-tests/backups".to_owned();
        let info = runtime.block_on(a.backup(backups.clone(), Some(key.clone()), None)).unwrap();
        assert!(info.encrypted);
        let listed = runtime.block_on(crate::cloud::list_backups(backups.clone())).unwrap();
        assert_eq!(listed, vec![info.clone()]);
        let e = runtime.block_on(crate::cloud::verify_backup(backups, info.id, None)).unwrap_err();
        assert_eq!(e.code(), "CRYPTO");
        assert_eq!(key.decrypt("x".into(), key.encrypt("x".into(), b"hi".to_vec()).unwrap()).unwrap(), b"hi");
    }
}
