//! `NativeManager`: the replica, its methods one to one with the core's. `lib/engine.cjs`
//! adapts it to the shared JS layer's `NativeReplica`, which the public `SyncManager`
//! (js/src/manager.ts) wraps (options objects, events, error classes).
//!
//! Cheap calls run on the JS thread; calls that can block on I/O or on a peer (open, rounds,
//! stopping auto-sync, close) are `AsyncTask`s on libuv's thread pool and return Promises.

use crate::callbacks::{run_on, JsResolver, JsSyncEvent, JsTransport, Owner, ResolverReply, TransportAdapter};
use crate::clock::JsManualClock;
use crate::errors::{guarded, invalid_input, js_error, OrNapi, OrThrow, Result};
use crate::tasks::{CloseTask, RoundTask, StopAutoSyncTask};
use crate::values::{change_set, handle, states_of, ApplyResult, ChangeSetParts, Counts, Rejection, StateHandle};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use statesync::{AutoSyncConfig, ConflictStrategy, ManagerConfig, Resolution, SyncContext, SyncManager, SyncTransport};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A strategy from JS: a name, or the resolver adapter function.
pub(crate) fn strategy(owner: &Arc<Owner>, value: Unknown<'_>) -> Result<ConflictStrategy> {
    match value.get_type().or_napi()? {
        ValueType::String => {
            let name: String = unsafe { value.cast().or_napi()? };
            name.parse::<ConflictStrategy>().or_throw()
        }
        ValueType::Function => {
            let function: Function<'_, crate::callbacks::ResolverArgs, ResolverReply> =
                unsafe { value.cast().or_napi()? };
            Ok(ConflictStrategy::Custom(Arc::new(JsResolver::new(owner.clone(), function).or_napi()?)))
        }
        other => Err(invalid_input(format!("a strategy is a name or a function, not {other}"))),
    }
}

/// The scope of a feed read or a round, checked by the core (`SyncContext::from_number_limit`:
/// collection names, a whole-number limit of at least 1).
pub(crate) fn context(collections: Option<Vec<String>>, limit: Option<f64>) -> Result<SyncContext> {
    SyncContext::from_number_limit(collections.unwrap_or_default(), limit).or_throw()
}

/// A transport: the built-in HTTP client or a JS adapter.
#[napi]
pub struct NativeTransport(pub(crate) Arc<dyn SyncTransport>);

#[napi]
impl NativeTransport {
    /// The HTTP client of docs/protocol.md, syncing with the hub space `space` (the `default`
    /// space without one) and sending `token` as `Authorization: Bearer <token>`.
    #[napi(factory, catch_unwind)]
    pub fn http(
        base_url: String,
        headers: Option<HashMap<String, String>>,
        timeout_ms: Option<u32>,
        encoding: Option<String>,
        compress: Option<bool>,
        space: Option<String>,
        token: Option<String>,
    ) -> Result<NativeTransport> {
        let mut transport = guarded(|| statesync::HttpTransport::new(&base_url))?;
        if let Some(space) = space {
            // The core checks the space id: INVALID_INPUT, as in every binding.
            transport = guarded(|| transport.space(&space))?;
        }
        for (name, value) in headers.unwrap_or_default() {
            transport = transport.header(&name, &value);
        }
        // After the headers: the token wins over an `Authorization` among them.
        if let Some(token) = token {
            transport = transport.token(&token);
        }
        if let Some(ms) = timeout_ms {
            transport = transport.timeout(Duration::from_millis(ms.into()));
        }
        transport = transport.encoding(crate::wire::encoding(encoding.as_deref())?);
        transport = transport.compress(compress.unwrap_or(true));
        Ok(NativeTransport(Arc::new(transport)))
    }

    /// A transport written in JS, through its adapter `(op, arg) => Promise<reply>`.
    #[napi(factory, catch_unwind)]
    pub fn from_function(adapter: TransportAdapter<'_>) -> Result<NativeTransport> {
        Ok(NativeTransport(Arc::new(JsTransport::new(adapter).or_napi()?)))
    }
}

/// One replica.
#[napi]
pub struct NativeManager {
    pub(crate) core: Arc<SyncManager>,
    pub(crate) owner: Arc<Owner>,
    /// Listener subscriptions by id.
    subscriptions: Mutex<HashMap<u32, statesync::Subscription>>,
}

impl NativeManager {
    pub(crate) fn new(core: Arc<SyncManager>, owner: Arc<Owner>) -> Self {
        NativeManager { core, owner, subscriptions: Mutex::new(HashMap::new()) }
    }

    /// Runs a call of the JS thread, marked as such for resolvers waiting on that thread.
    fn run<T>(&self, f: impl FnOnce(&SyncManager) -> statesync::Result<T>) -> Result<T> {
        run_on(&self.owner, &self.core, f)
    }
}

/// Opens a replica (SQLite open and load can take a while).
pub struct OpenTask {
    config: Option<ManagerConfig>,
    owner: Arc<Owner>,
}

impl Task for OpenTask {
    type Output = statesync::Result<SyncManager>;
    type JsValue = NativeManager;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let config = self.config.take().ok_or_else(|| napi::Error::from_reason("the open task ran twice"))?;
        Ok(statesync::catch_panic(|| SyncManager::open(config)))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<NativeManager> {
        match output {
            Ok(core) => Ok(NativeManager::new(Arc::new(core), self.owner.clone())),
            Err(error) => Err(js_error(&env, error)),
        }
    }
}

#[napi]
impl NativeManager {
    /// Opens a replica off the JS thread. `strategies` pairs collections with strategies; the
    /// one for `""` is the default. `max_clock_skew_ms` and `max_state_bytes` are the core's
    /// limits on received states (its defaults when omitted).
    #[napi(ts_return_type = "Promise<NativeManager>", catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        env: Env,
        node_id: Option<String>,
        path: Option<String>,
        collections: Vec<String>,
        strategies: Vec<Unknown<'_>>,
        clock: Option<&JsManualClock>,
        check_resolver: bool,
        durability: Option<String>,
        max_clock_skew_ms: Option<f64>,
        max_state_bytes: Option<f64>,
    ) -> Result<AsyncTask<OpenTask>> {
        let owner = Owner::current(&env);
        let mut config = match path {
            Some(path) => ManagerConfig::sqlite(path),
            None => ManagerConfig::memory(),
        };
        if let Some(node) = node_id {
            config = config.node_id(node);
        }
        if collections.len() != strategies.len() {
            return Err(invalid_input("collections and strategies differ in length"));
        }
        for (collection, value) in collections.into_iter().zip(strategies) {
            let s = strategy(&owner, value)?;
            config = if collection.is_empty() { config.strategy(s) } else { config.collection_strategy(collection, s) };
        }
        if let Some(clock) = clock {
            config = config.clock(clock.0.clone());
        }
        config = config.check_resolver(check_resolver);
        if let Some(name) = durability {
            config = config.durability(name.parse::<statesync::Durability>().or_throw()?);
        }
        // Checked by the core: whole numbers, in range (the shared JS layer checks they are numbers).
        if let Some(ms) = max_clock_skew_ms {
            config = config.max_clock_skew_number(ms).or_throw()?;
        }
        if let Some(bytes) = max_state_bytes {
            config = config.max_state_bytes_number(bytes).or_throw()?;
        }
        Ok(AsyncTask::new(OpenTask { config: Some(config), owner }))
    }

    /// The handle the hot calls of `crate::replica` take.
    #[napi(catch_unwind)]
    pub fn replica(&self) -> crate::replica::ReplicaHandle {
        crate::replica::handle(self.core.clone(), self.owner.clone())
    }

    /// The node id.
    #[napi(getter, catch_unwind)]
    pub fn node_id(&self) -> Result<String> {
        self.run(|m| m.node_id())
    }

    /// The states, optionally of one collection, optionally with tombstones.
    #[napi(catch_unwind)]
    pub fn list_states(&self, collection: Option<String>, include_deleted: bool) -> Result<Vec<StateHandle>> {
        self.run(|m| m.list_states(collection.as_deref(), include_deleted))
            .map(|states| states.into_iter().map(handle).collect())
    }

    /// The pending queue.
    #[napi(catch_unwind)]
    pub fn pending_operations(&self) -> Result<String> {
        self.run(|m| m.pending_operations()).map(|ops| serde_json::to_string(&ops).expect("operations serialise"))
    }

    /// Drops operations from the queue; returns how many were there.
    #[napi(catch_unwind)]
    pub fn acknowledge(&self, op_ids: Vec<String>) -> Result<u32> {
        self.run(|m| m.acknowledge(&op_ids)).map(|n| n as u32)
    }

    /// Applies one remote state.
    #[napi(catch_unwind)]
    pub fn apply_remote_state(&self, state: &StateHandle) -> Result<ApplyResult> {
        self.run(|m| m.apply_remote_state(Arc::clone(state))).map(ApplyResult::from)
    }

    /// Applies remote states in one transaction.
    #[napi(catch_unwind)]
    pub fn reconcile(&self, states: Vec<&StateHandle>) -> Result<Counts> {
        let states = states_of(states);
        self.run(|m| m.reconcile(states)).map(Counts::from)
    }

    /// Unresolved manual conflicts.
    #[napi(catch_unwind)]
    pub fn conflicts(&self) -> Result<String> {
        self.run(|m| m.conflicts()).map(|cs| serde_json::to_string(&cs).expect("conflicts serialise"))
    }

    /// Refused states not gone through since, oldest first.
    #[napi(catch_unwind)]
    pub fn rejections(&self) -> Result<Vec<Rejection>> {
        self.run(|m| m.rejections()).map(|rs| rs.into_iter().map(Rejection::from).collect())
    }

    /// Resolves a manual conflict: `pick` is "local" or "remote", or `data` is JSON text.
    #[napi(catch_unwind)]
    pub fn resolve_conflict(
        &self,
        conflict_id: String,
        pick: Option<String>,
        data: Option<String>,
    ) -> Result<StateHandle> {
        let resolution = match (pick.as_deref(), data) {
            (Some("local"), None) => Resolution::Local,
            (Some("remote"), None) => Resolution::Remote,
            (None, Some(data)) => Resolution::Custom(statesync::data_from_json(&data).or_throw()?),
            _ => {
                return Err(invalid_input(
                    "a resolution is { pick: \"local\" }, { pick: \"remote\" } or { data: <JSON value> }",
                ))
            }
        };
        self.run(|m| m.resolve_conflict(&conflict_id, resolution)).map(handle)
    }

    /// Undoes one of this replica's own writes a peer refused: writes the peer's kept version
    /// back (a deletion when it keeps none) with a clock that has seen both; the new version.
    #[napi(catch_unwind)]
    pub fn revert_rejected(&self, state_id: String) -> Result<StateHandle> {
        self.run(|m| m.revert_rejected(&state_id)).map(handle)
    }

    /// Sets the default strategy.
    #[napi(catch_unwind)]
    pub fn set_strategy(&self, strategy: Unknown<'_>) -> Result<()> {
        let strategy = self::strategy(&self.owner, strategy)?;
        self.run(|m| m.set_strategy(strategy))
    }

    /// Sets (or, with null, clears) a collection's strategy.
    #[napi(catch_unwind)]
    pub fn set_collection_strategy(&self, collection: String, strategy: Option<Unknown<'_>>) -> Result<()> {
        let strategy = match strategy {
            Some(s) if !matches!(s.get_type().or_napi()?, ValueType::Null | ValueType::Undefined) => {
                Some(self::strategy(&self.owner, s)?)
            }
            _ => None,
        };
        self.run(|m| m.set_collection_strategy(&collection, strategy))
    }

    /// A page of the changes feed.
    #[napi(catch_unwind)]
    pub fn changes_since(
        &self,
        cursor: Option<String>,
        collections: Option<Vec<String>>,
        limit: Option<f64>,
    ) -> Result<ChangeSetParts> {
        let context = context(collections, limit)?;
        self.run(|m| m.changes_since(cursor.as_deref(), &context)).map(ChangeSetParts::from)
    }

    /// Applies a page pulled from `peer` and stores its cursor.
    #[napi(catch_unwind)]
    pub fn apply_changes(
        &self,
        peer: String,
        states: Vec<&StateHandle>,
        cursor: String,
        has_more: bool,
        collections: Option<Vec<String>>,
    ) -> Result<Counts> {
        let context = context(collections, None)?;
        let changes = change_set(states, cursor, has_more);
        self.run(|m| m.apply_changes(&peer, &context, &changes)).map(Counts::from)
    }

    /// The stored cursor for a peer and scope.
    #[napi(catch_unwind)]
    pub fn peer_cursor(&self, peer: String, collections: Option<Vec<String>>) -> Result<Option<String>> {
        let scope = context(collections, None)?.scope();
        self.run(|m| m.peer_cursor(&peer, &scope))
    }

    /// Stores (or, with null, forgets) the cursor for a peer and scope.
    #[napi(catch_unwind)]
    pub fn set_peer_cursor(
        &self,
        peer: String,
        cursor: Option<String>,
        collections: Option<Vec<String>>,
    ) -> Result<()> {
        let scope = context(collections, None)?.scope();
        self.run(|m| m.set_peer_cursor(&peer, &scope, cursor.as_deref()))
    }

    /// A round with another replica of this process, off the JS thread.
    #[napi(ts_return_type = "Promise<SyncReport>", catch_unwind)]
    pub fn sync_with(
        &self,
        other: &NativeManager,
        collections: Option<Vec<String>>,
        limit: Option<f64>,
    ) -> Result<AsyncTask<RoundTask>> {
        let context = context(collections, limit)?;
        Ok(AsyncTask::new(RoundTask::with_replica(self.core.clone(), other.core.clone(), context)))
    }

    /// A round through a transport, off the JS thread.
    #[napi(ts_return_type = "Promise<SyncReport>", catch_unwind)]
    pub fn sync(
        &self,
        transport: &NativeTransport,
        collections: Option<Vec<String>>,
        limit: Option<f64>,
    ) -> Result<AsyncTask<RoundTask>> {
        let context = context(collections, limit)?;
        Ok(AsyncTask::new(RoundTask::with_transport(self.core.clone(), transport.0.clone(), context)))
    }

    /// Starts auto-sync on the core's runtime.
    #[napi(catch_unwind)]
    pub fn start_auto_sync(
        &self,
        interval_ms: f64,
        transport: &NativeTransport,
        collections: Option<Vec<String>>,
    ) -> Result<()> {
        if !(interval_ms.is_finite() && interval_ms >= 1.0) {
            return Err(invalid_input(format!("interval is {interval_ms} ms: at least 1 ms")));
        }
        let mut config = AutoSyncConfig::every(Duration::from_secs_f64(interval_ms / 1000.0));
        config.context = context(collections, None)?;
        let transport = transport.0.clone();
        let _busy = self.owner.enter();
        guarded(|| self.core.start_auto_sync_with(config, transport))
    }

    /// Stops auto-sync, resolving when its running round has ended.
    #[napi(ts_return_type = "Promise<boolean>", catch_unwind)]
    pub fn stop_auto_sync(&self) -> AsyncTask<StopAutoSyncTask> {
        AsyncTask::new(StopAutoSyncTask(self.core.clone()))
    }

    /// Asks auto-sync for a round now.
    #[napi(catch_unwind)]
    pub fn sync_now(&self) -> Result<bool> {
        guarded(|| Ok(self.core.sync_now()))
    }

    /// Whether auto-sync runs.
    #[napi(getter, catch_unwind)]
    pub fn is_auto_syncing(&self) -> Result<bool> {
        guarded(|| Ok(self.core.is_auto_syncing()))
    }

    /// A snapshot of the whole replica.
    #[napi(catch_unwind)]
    pub fn export_state(&self) -> Result<String> {
        self.run(|m| m.export_state()).map(|s| s.to_json())
    }

    /// Imports snapshot JSON text.
    #[napi(catch_unwind)]
    pub fn import_json(&self, text: String, replace: bool) -> Result<Counts> {
        self.run(|m| m.import_json(&text, replace)).map(Counts::from)
    }

    /// `idle`, `syncing`, `conflict`, `error` or `closed`.
    #[napi(catch_unwind)]
    pub fn status(&self) -> Result<&'static str> {
        guarded(|| Ok(self.core.status().as_str()))
    }

    /// Delivers every event to `listener` on the JS thread; returns the subscription id.
    #[napi(catch_unwind)]
    pub fn subscribe(&self, listener: Function<'_, FnArgs<(JsSyncEvent,)>, ()>) -> Result<u32> {
        let tsfn = crate::callbacks::listener(listener).or_napi()?;
        let subscription = self.run(|m| {
            m.subscribe(move |event| {
                tsfn.call(event.clone(), napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking);
            })
        })?;
        let id = subscription.0 as u32;
        self.subscriptions.lock().unwrap_or_else(|e| e.into_inner()).insert(id, subscription);
        Ok(id)
    }

    /// Ends a subscription; false if it had ended.
    #[napi(catch_unwind)]
    pub fn unsubscribe(&self, id: u32) -> Result<bool> {
        let subscription = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        match subscription {
            Some(subscription) => guarded(|| Ok(self.core.unsubscribe(subscription))),
            None => Ok(false),
        }
    }

    /// Stops auto-sync, flushes and releases the store, off the JS thread.
    #[napi(ts_return_type = "Promise<void>", catch_unwind)]
    pub fn close(&self) -> AsyncTask<CloseTask> {
        AsyncTask::new(CloseTask(self.core.clone()))
    }
}
