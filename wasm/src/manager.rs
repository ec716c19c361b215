//! `Manager`: one replica, the core's `SyncManager` behind an `Arc`. Data cross as JSON text;
//! states come back as [`State`] handles: in Chromium a handle, finalisation entry included,
//! costs less than serialising the version and decoding the text in JS (docs/adr/0014).
//! Persistent replicas journal every commit ([`crate::journal`]); events are queued for the
//! TypeScript layer ([`crate::events`]).

use crate::clock::{DateClock, ManualClock};
use crate::error::{invalid_input, make, OrJs};
use crate::events::EventQueue;
use crate::journal::QueueSink;
use crate::strategy;
use crate::values::{changes_from_json, counts, report, states_from_json, Applied, Page, State};
use statesync::{
    data_from_json, CreateOptions, JournalImage, JournalStorage, ManagerConfig, Resolution, Snapshot, Subscription,
    SyncContext, SyncManager,
};
use std::sync::Arc;
use wasm_bindgen::prelude::*;

/// One replica.
#[wasm_bindgen]
pub struct Manager {
    pub(crate) inner: Arc<SyncManager>,
    journal: Option<Arc<QueueSink>>,
    events: Arc<EventQueue>,
    subscription: Option<Subscription>,
}

/// The scope of a feed read or a round, checked by the core (`SyncContext::from_number_limit`:
/// collection names, a whole-number limit of at least 1).
pub(crate) fn context(collections: Vec<String>, limit: Option<f64>) -> Result<SyncContext, JsValue> {
    SyncContext::from_number_limit(collections, limit).js()
}

#[wasm_bindgen]
impl Manager {
    /// Opens a replica. `image`: the JSON of the rows read from IndexedDB (`JournalImage`)
    /// for a persistent replica, `None` for one in memory. `strategy` is a strategy name
    /// or the resolver adapter ([`strategy::parse`]). `max_clock_skew_ms` and `max_state_bytes`
    /// default to the core's limits.
    #[wasm_bindgen(constructor)]
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        node_id: Option<String>,
        image: Option<String>,
        clock: Option<ManualClock>,
        strategy: JsValue,
        check_resolver: Option<bool>,
        max_clock_skew_ms: Option<f64>,
        max_state_bytes: Option<f64>,
    ) -> Result<Manager, JsValue> {
        let journal = image.as_ref().map(|_| QueueSink::new());
        let mut config = match (&image, &journal) {
            (Some(text), Some(sink)) => {
                let image: JournalImage = serde_json::from_slice(text.as_bytes())
                    .map_err(|e| make("CORRUPT", &format!("corrupt data: the stored replica is unreadable: {e}")))?;
                ManagerConfig::journal(JournalStorage::new(image, sink.clone()))
            }
            _ => ManagerConfig::memory(),
        };
        if let Some(node) = node_id {
            config = config.node_id(node);
        }
        config = match clock {
            Some(c) => config.clock(c.0.clone()),
            None => config.clock(Arc::new(DateClock)),
        };
        if !strategy.is_undefined() {
            config = config.strategy(strategy::parse(strategy)?);
        }
        config = config.check_resolver(check_resolver.unwrap_or(false));
        // Checked by the core: whole numbers, in range (the shared JS layer checks they are numbers).
        if let Some(ms) = max_clock_skew_ms {
            config = config.max_clock_skew_number(ms).js()?;
        }
        if let Some(bytes) = max_state_bytes {
            config = config.max_state_bytes_number(bytes).js()?;
        }
        let inner = Arc::new(SyncManager::open(config).js()?);
        Ok(Manager { inner, journal, events: EventQueue::new(), subscription: None })
    }

    /// This replica's node id.
    #[wasm_bindgen(js_name = nodeId)]
    pub fn node_id(&self) -> Result<String, JsValue> {
        self.inner.node_id().js()
    }

    /// Queues events for [`Manager::take_events`] (`true`) or stops (`false`).
    #[wasm_bindgen(js_name = setListening)]
    pub fn set_listening(&mut self, on: bool) -> Result<(), JsValue> {
        match (on, self.subscription.take()) {
            (true, None) => {
                let queue = self.events.clone();
                self.subscription = Some(self.inner.subscribe(move |e| queue.push(e)).js()?);
            }
            (true, Some(s)) => self.subscription = Some(s),
            (false, Some(s)) => {
                self.inner.unsubscribe(s);
            }
            (false, None) => {}
        }
        Ok(())
    }

    /// Events since the last call, as a JSON array (`undefined` when none).
    #[wasm_bindgen(js_name = takeEvents)]
    pub fn take_events(&self) -> Option<String> {
        self.events.take()
    }

    /// Journal records committed since the last call, as a JSON array (`undefined` when none).
    #[wasm_bindgen(js_name = takeJournal)]
    pub fn take_journal(&self) -> Option<String> {
        self.journal.as_ref().and_then(|j| j.take())
    }

    /// Creates a state from its data's JSON text.
    #[wasm_bindgen(js_name = createState)]
    pub fn create_state(
        &self,
        data_json: &str,
        id: Option<String>,
        collection: Option<String>,
    ) -> Result<State, JsValue> {
        self.inner.create_state(data_from_json(data_json).js()?, CreateOptions { id, collection }).map(State).js()
    }

    /// The live state with this id.
    #[wasm_bindgen(js_name = getState)]
    pub fn get_state(&self, id: &str) -> Result<Option<State>, JsValue> {
        self.inner.get_state(id).map(|s| s.map(State)).js()
    }

    /// Replaces a live state's data.
    #[wasm_bindgen(js_name = updateState)]
    pub fn update_state(&self, id: &str, data_json: &str) -> Result<State, JsValue> {
        self.inner.update_state(id, data_from_json(data_json).js()?).map(State).js()
    }

    /// Deletes a live state; returns the tombstone.
    #[wasm_bindgen(js_name = deleteState)]
    pub fn delete_state(&self, id: &str) -> Result<State, JsValue> {
        self.inner.delete_state(id).map(State).js()
    }

    /// States ordered by id.
    #[wasm_bindgen(js_name = listStates)]
    pub fn list_states(&self, collection: Option<String>, include_deleted: bool) -> Result<Vec<State>, JsValue> {
        Ok(self.inner.list_states(collection.as_deref(), include_deleted).js()?.into_iter().map(State).collect())
    }

    /// Pending operations as a JSON array.
    #[wasm_bindgen(js_name = pendingOperations)]
    pub fn pending_operations(&self) -> Result<String, JsValue> {
        Ok(serde_json::to_string(&self.inner.pending_operations().js()?).expect("operations serialise"))
    }

    /// Drops acknowledged operations; returns how many were there.
    pub fn acknowledge(&self, op_ids: Vec<String>) -> Result<u32, JsValue> {
        self.inner.acknowledge(&op_ids).map(|n| n as u32).js()
    }

    /// Applies one remote state.
    #[wasm_bindgen(js_name = applyRemoteState)]
    pub fn apply_remote_state(&self, state: &State) -> Result<Applied, JsValue> {
        self.inner.apply_remote_state(state.0.clone()).map(Applied::from).js()
    }

    /// Applies remote states given as a JSON array of wire states; returns the counts as JSON.
    pub fn reconcile(&self, states_json: &str) -> Result<String, JsValue> {
        self.inner.reconcile(states_from_json(states_json)?).map(counts).js()
    }

    /// States refused in sync rounds and not gone through since, oldest first, as a JSON array
    /// of `{"stateId", "code", "message", "rejectedAt", "own", "current"}` (`current`: the
    /// refusing peer's kept version of an own write, as its wire JSON text, or null).
    pub fn rejections(&self) -> Result<String, JsValue> {
        let items: Vec<serde_json::Value> = self
            .inner
            .rejections()
            .js()?
            .into_iter()
            .map(|r| {
                serde_json::json!({
                    "stateId": r.state_id, "code": r.code, "message": r.message, "rejectedAt": r.rejected_at,
                    "own": r.own, "current": r.current.as_ref().map(|kept| kept.to_json()),
                })
            })
            .collect();
        Ok(serde_json::Value::Array(items).to_string())
    }

    /// Unresolved manual conflicts as a JSON array.
    pub fn conflicts(&self) -> Result<String, JsValue> {
        Ok(serde_json::to_string(&self.inner.conflicts().js()?).expect("conflicts serialise"))
    }

    /// Settles a manual conflict: `pick` is `local` or `remote`, or `data_json` is the data.
    #[wasm_bindgen(js_name = resolveConflict)]
    pub fn resolve_conflict(
        &self,
        conflict_id: &str,
        pick: Option<String>,
        data_json: Option<String>,
    ) -> Result<State, JsValue> {
        let resolution = match (pick.as_deref(), data_json) {
            (Some("local"), None) => Resolution::Local,
            (Some("remote"), None) => Resolution::Remote,
            (None, Some(text)) => Resolution::Custom(data_from_json(&text).js()?),
            _ => return Err(invalid_input("a resolution is { pick: \"local\" | \"remote\" } or { data }")),
        };
        self.inner.resolve_conflict(conflict_id, resolution).map(State).js()
    }

    /// Undoes one of this replica's own writes a peer refused: writes the peer's kept version
    /// back (a deletion when it keeps none) with a clock that has seen both; the new version.
    #[wasm_bindgen(js_name = revertRejected)]
    pub fn revert_rejected(&self, state_id: &str) -> Result<State, JsValue> {
        self.inner.revert_rejected(state_id).map(State).js()
    }

    /// Changes the default strategy: a name or the resolver adapter ([`strategy::parse`]).
    #[wasm_bindgen(js_name = setStrategy)]
    pub fn set_strategy(&self, strategy: JsValue) -> Result<(), JsValue> {
        self.inner.set_strategy(strategy::parse(strategy)?).js()
    }

    /// Sets a collection's strategy, or with `null`/`undefined` removes it.
    #[wasm_bindgen(js_name = setCollectionStrategy)]
    pub fn set_collection_strategy(&self, collection: &str, strategy: JsValue) -> Result<(), JsValue> {
        let strategy =
            if strategy.is_null() || strategy.is_undefined() { None } else { Some(strategy::parse(strategy)?) };
        self.inner.set_collection_strategy(collection, strategy).js()
    }

    /// One page of the changes feed.
    #[wasm_bindgen(js_name = changesSince)]
    pub fn changes_since(
        &self,
        cursor: Option<String>,
        collections: Vec<String>,
        limit: Option<f64>,
    ) -> Result<Page, JsValue> {
        self.inner.changes_since(cursor.as_deref(), &context(collections, limit)?).map(Page).js()
    }

    /// Applies a change set (wire JSON) from `peer` and stores its cursor; counts as JSON.
    #[wasm_bindgen(js_name = applyChanges)]
    pub fn apply_changes(&self, peer: &str, changes_json: &str, collections: Vec<String>) -> Result<String, JsValue> {
        let changes = changes_from_json(changes_json)?;
        self.inner.apply_changes(peer, &context(collections, None)?, &changes).map(counts).js()
    }

    /// The stored cursor for `(peer, scope)`.
    #[wasm_bindgen(js_name = peerCursor)]
    pub fn peer_cursor(&self, peer: &str, collections: Vec<String>) -> Result<Option<String>, JsValue> {
        self.inner.peer_cursor(peer, &context(collections, None)?.scope()).js()
    }

    /// Stores (or clears) the cursor for `(peer, scope)`.
    #[wasm_bindgen(js_name = setPeerCursor)]
    pub fn set_peer_cursor(&self, peer: &str, cursor: Option<String>, collections: Vec<String>) -> Result<(), JsValue> {
        self.inner.set_peer_cursor(peer, &context(collections, None)?.scope(), cursor.as_deref()).js()
    }

    /// A full round with another replica of this page; the report as JSON.
    #[wasm_bindgen(js_name = syncWith)]
    pub fn sync_with(&self, other: &Manager, collections: Vec<String>, limit: Option<f64>) -> Result<String, JsValue> {
        let done = self.inner.sync_with_context(&other.inner, &context(collections, limit)?).js()?;
        Ok(report(&done).to_string())
    }

    /// The snapshot JSON of every state, pending operation and conflict.
    #[wasm_bindgen(js_name = exportState)]
    pub fn export_state(&self) -> Result<String, JsValue> {
        self.inner.export_state().map(|s| s.to_json()).js()
    }

    /// Imports snapshot JSON (merge, or `replace`); counts as JSON.
    #[wasm_bindgen(js_name = importState)]
    pub fn import_state(&self, snapshot_json: &str, replace: bool) -> Result<String, JsValue> {
        let snapshot = Snapshot::from_json(snapshot_json).js()?;
        self.inner.import_state(snapshot, replace).map(counts).js()
    }

    /// `idle`, `syncing`, `conflict`, `error` or `closed`.
    pub fn status(&self) -> String {
        self.inner.status().as_str().to_owned()
    }

    /// Flushes and releases the store; later calls fail with `CLOSED`.
    pub fn close(&self) -> Result<(), JsValue> {
        self.inner.close().js()
    }
}

/// Test builds only (cargo feature `testing`, never in wasm/dist).
#[cfg(feature = "testing")]
#[wasm_bindgen]
impl Manager {
    /// Panics inside a transaction with the replica's lock held (the core's
    /// `SyncManager::panic_for_tests`): the build aborts on a panic, so the instance traps with
    /// `unreachable`, which the browser test turns into `INTERNAL` and recovers from.
    #[wasm_bindgen(js_name = panicForTests)]
    pub fn panic_for_tests(&self) -> Result<(), JsValue> {
        self.inner.panic_for_tests().js()
    }
}
