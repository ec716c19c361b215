//! `SyncManager` and `Subscription`: a replica, holding the core manager in an `Arc`. Every call
//! into the core runs with the GIL released (see [`detached`]).

use crate::callbacks::{listener, PyResolver, PyTransport};
use crate::clock::PyManualClock;
use crate::cloud::{key_arg, seconds, PyAutoBackup, PyBackupInfo, PyEncryptionKey, PyObjectStoreTransport};
use crate::enums;
use crate::errors::{detached, guard, invalid_input, to_py_plain};
use crate::http::PyHttpTransport;
use crate::json::{to_value, type_name};
use crate::values::{
    text_arg, PyApplyResult, PyChangeSet, PyReconciliationResult, PyRejection, PyResolution, PySnapshot,
    PySyncConflict, PySyncOperation, PySyncReport, PySyncState,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PyString};
use statesync::{
    AutoSyncConfig, ConflictStrategy, CreateOptions, ManagerConfig, SyncContext, SyncError, SyncManager, SyncTransport,
};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// The managers that started auto-sync: stopped at interpreter exit (an `atexit` hook), since an
/// auto-sync thread calling a Python transport or listener while the interpreter finalizes
/// would abort the process.
static AUTO_SYNCING: Mutex<Vec<Weak<SyncManager>>> = Mutex::new(Vec::new());

/// The `atexit` hook: stops every auto-sync still running (waiting for rounds in progress).
#[pyfunction]
pub(crate) fn _stop_auto_sync_at_exit(py: Python<'_>) -> PyResult<()> {
    guard(|| {
        let managers = std::mem::take(&mut *AUTO_SYNCING.lock().unwrap_or_else(|e| e.into_inner()));
        py.detach(|| {
            for manager in managers.iter().filter_map(Weak::upgrade) {
                manager.stop_auto_sync();
            }
        });
        Ok(())
    })
}

/// A strategy: a `ConflictStrategy` member (or its value), or a resolver callable.
pub(crate) fn strategy(obj: &Bound<'_, PyAny>) -> PyResult<ConflictStrategy> {
    let py = obj.py();
    let name = match enums::strategy_name(obj)? {
        Some(name) => Some(name),
        None => obj.cast::<PyString>().ok().map(|s| s.to_string_lossy().into_owned()),
    };
    if let Some(name) = name {
        return name.parse::<ConflictStrategy>().map_err(|e| to_py_plain(py, e));
    }
    if obj.is_callable() {
        return Ok(ConflictStrategy::Custom(Arc::new(PyResolver(obj.clone().unbind()))));
    }
    Err(PyTypeError::new_err(format!(
        "a strategy is a ConflictStrategy or a resolver callable, not {}",
        type_name(obj)
    )))
}

/// The scope of a call: collections (empty or `None`: all) and a page size, checked by the
/// core's `SyncContext::new` (valid collection names, a limit of at least 1).
fn context(py: Python<'_>, collections: Option<Vec<String>>, limit: Option<i64>) -> PyResult<SyncContext> {
    SyncContext::new(collections.unwrap_or_default(), limit).map_err(|e| to_py_plain(py, e))
}

/// What `sync` and `start_auto_sync` accept as a peer.
fn transport(obj: &Bound<'_, PyAny>) -> PyResult<Arc<dyn SyncTransport>> {
    if let Ok(http) = obj.cast::<PyHttpTransport>() {
        return Ok(http.get().0.clone());
    }
    if let Ok(bucket) = obj.cast::<PyObjectStoreTransport>() {
        return Ok(bucket.get().0.clone());
    }
    if let Ok(manager) = obj.cast::<PySyncManager>() {
        return Ok(manager.get().inner.clone());
    }
    for method in ["capabilities", "pull", "push"] {
        if !obj.hasattr(method)? {
            return Err(PyTypeError::new_err(format!(
                "{} is not a transport: it has no {method}() method",
                type_name(obj)
            )));
        }
    }
    Ok(Arc::new(PyTransport(obj.clone().unbind())))
}

/// Strings from an iterable that is not itself a string.
fn strings(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<String>> {
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!("{what} must be an iterable of str, not a str")));
    }
    obj.try_iter()?.map(|item| item?.extract::<String>()).collect()
}

// The signature's defaults of `max_clock_skew` and `max_state_bytes` are the core's.
const _: () = assert!(statesync::DEFAULT_MAX_CLOCK_SKEW.as_secs() == 3600);
const _: () = assert!(statesync::DEFAULT_MAX_STATE_BYTES == 1048576);

/// A duration option given in seconds: an int or float that is a non-negative, finite
/// duration (not a bool, NaN or an infinity). Anything else is `InvalidInputError`.
/// pyo3 calls it before the constructor's body: guarded like an export.
fn seconds_arg(obj: &Bound<'_, PyAny>) -> PyResult<f64> {
    guard(|| {
        let py = obj.py();
        let bad = || invalid_input(py, format!("max_clock_skew must be a non-negative number of seconds, not {obj:?}"));
        if obj.is_instance_of::<PyBool>() || !(obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyFloat>()) {
            return Err(bad());
        }
        // An int too large for a float raises OverflowError here: refused like the rest.
        let seconds = obj.extract::<f64>().map_err(|_| bad())?;
        Duration::try_from_secs_f64(seconds).map(|_| seconds).map_err(|_| bad())
    })
}

/// A size option: a positive int (not a bool). Anything else is `InvalidInputError`. pyo3 calls
/// it before the constructor's body: guarded like an export.
fn positive_int_arg(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    guard(|| {
        let py = obj.py();
        let bad = || invalid_input(py, format!("max_state_bytes must be a positive int, not {obj:?}"));
        if obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>() {
            return Err(bad());
        }
        obj.extract::<usize>().ok().filter(|&n| n > 0).ok_or_else(bad)
    })
}

/// One replica: local CRUD recording pending operations, remote apply and reconcile with
/// conflict strategies, sync, export/import, status and events. Thread-safe.
#[pyclass(frozen, module = "statesync", name = "SyncManager")]
pub struct PySyncManager {
    inner: Arc<SyncManager>,
    /// The subscriptions made through this object, dropped at close (they may hold the
    /// Python objects that hold this manager: a cycle the garbage collector cannot see).
    subscriptions: Arc<Mutex<Vec<statesync::Subscription>>>,
}

#[pymethods]
impl PySyncManager {
    #[new]
    #[pyo3(signature = (node_id = None, path = None, *, strategy = None, collection_strategies = None, clock = None, check_resolver = false, max_clock_skew = 3600.0, max_state_bytes = 1048576))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        node_id: Option<String>,
        path: Option<PathBuf>,
        strategy: Option<&Bound<'_, PyAny>>,
        collection_strategies: Option<&Bound<'_, PyAny>>,
        clock: Option<&Bound<'_, PyManualClock>>,
        check_resolver: bool,
        #[pyo3(from_py_with = seconds_arg)] max_clock_skew: f64,
        #[pyo3(from_py_with = positive_int_arg)] max_state_bytes: usize,
    ) -> PyResult<Self> {
        guard(|| {
            let mut config = match path {
                Some(path) => ManagerConfig::sqlite(path),
                None => ManagerConfig::memory(),
            };
            config.node_id = node_id;
            config.check_resolver = check_resolver;
            // `seconds_arg` accepted only what converts to a Duration.
            let max_clock_skew = Duration::try_from_secs_f64(max_clock_skew).unwrap_or(Duration::MAX);
            config = config.max_clock_skew(max_clock_skew).max_state_bytes(max_state_bytes);
            if let Some(s) = strategy {
                config.strategy = self::strategy(s)?;
            }
            if let Some(map) = collection_strategies {
                for item in map.call_method0("items")?.try_iter()? {
                    let (collection, s): (String, Bound<'_, PyAny>) = item?.extract()?;
                    config.collection_strategies.insert(collection, self::strategy(&s)?);
                }
            }
            if let Some(clock) = clock {
                config.clock = Some(clock.get().0.clone());
            }
            let inner = detached(py, move || SyncManager::open(config))?;
            Ok(PySyncManager { inner: Arc::new(inner), subscriptions: Arc::default() })
        })
    }

    /// This replica's node id.
    #[getter]
    fn node_id(&self, py: Python<'_>) -> PyResult<String> {
        guard(|| detached(py, || self.inner.node_id()))
    }

    /// Creates a state (`AlreadyExistsError` if a live one has the id).
    #[pyo3(signature = (data, id = None, collection = None))]
    fn create_state(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        id: Option<String>,
        collection: Option<String>,
    ) -> PyResult<PySyncState> {
        guard(|| {
            let data = to_value(data)?;
            let options = CreateOptions { id, collection };
            detached(py, || self.inner.create_state(data, options)).map(PySyncState)
        })
    }

    /// The live state with this id, or `None` (missing or deleted).
    fn get_state(&self, py: Python<'_>, id: &str) -> PyResult<Option<PySyncState>> {
        guard(|| Ok(detached(py, || self.inner.get_state(id))?.map(PySyncState)))
    }

    /// Replaces a live state's data (`NotFoundError` if missing or deleted).
    fn update_state(&self, py: Python<'_>, id: &str, data: &Bound<'_, PyAny>) -> PyResult<PySyncState> {
        guard(|| {
            let data = to_value(data)?;
            detached(py, || self.inner.update_state(id, data)).map(PySyncState)
        })
    }

    /// Deletes a live state; returns the tombstone (`NotFoundError` if missing or deleted).
    fn delete_state(&self, py: Python<'_>, id: &str) -> PyResult<PySyncState> {
        guard(|| detached(py, || self.inner.delete_state(id)).map(PySyncState))
    }

    /// States ordered by id, optionally of one collection, tombstones only when asked.
    #[pyo3(signature = (collection = None, include_deleted = false))]
    fn list_states<'py>(
        &self,
        py: Python<'py>,
        collection: Option<&str>,
        include_deleted: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        guard(|| {
            let states = detached(py, || self.inner.list_states(collection, include_deleted))?;
            PySyncState::list(py, states)
        })
    }

    /// Local writes not yet acknowledged, oldest first.
    fn pending_operations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        guard(|| {
            let ops = detached(py, || self.inner.pending_operations())?;
            PyList::new(py, ops.into_iter().map(PySyncOperation))
        })
    }

    /// Drops acknowledged operations (unknown ids are ignored); returns how many were dropped.
    fn acknowledge(&self, py: Python<'_>, op_ids: &Bound<'_, PyAny>) -> PyResult<usize> {
        guard(|| {
            let ids = strings(op_ids, "op_ids")?;
            detached(py, || self.inner.acknowledge(&ids))
        })
    }

    /// Applies one state from another replica.
    fn apply_remote_state(&self, py: Python<'_>, state: &Bound<'_, PySyncState>) -> PyResult<PyApplyResult> {
        guard(|| {
            let state = state.get().0.clone();
            detached(py, || self.inner.apply_remote_state(state)).map(PyApplyResult)
        })
    }

    /// Applies many remote states in one transaction.
    fn reconcile(&self, py: Python<'_>, states: &Bound<'_, PyAny>) -> PyResult<PyReconciliationResult> {
        guard(|| {
            let mut batch = Vec::new();
            for item in states.try_iter()? {
                let item = item?;
                let state = item.cast::<PySyncState>().map_err(|_| {
                    PyTypeError::new_err(format!("reconcile takes SyncState objects, not {}", type_name(&item)))
                })?;
                batch.push(state.get().0.clone());
            }
            detached(py, || self.inner.reconcile(batch)).map(PyReconciliationResult)
        })
    }

    /// States refused in sync rounds and not gone through since, oldest first: versions peers
    /// sent that this replica refused, and versions of this replica's that a peer refused.
    fn rejections<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        guard(|| {
            let rejections = detached(py, || self.inner.rejections())?;
            PyList::new(py, rejections.into_iter().map(PyRejection))
        })
    }

    /// Unresolved manual conflicts, oldest first.
    fn conflicts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        guard(|| {
            let conflicts = detached(py, || self.inner.conflicts())?;
            PyList::new(py, conflicts.into_iter().map(PySyncConflict))
        })
    }

    /// Settles a manual conflict with a new local write.
    fn resolve_conflict(
        &self,
        py: Python<'_>,
        conflict_id: &str,
        resolution: &Bound<'_, PyResolution>,
    ) -> PyResult<PySyncState> {
        guard(|| {
            let resolution = resolution.get().0.clone();
            detached(py, || self.inner.resolve_conflict(conflict_id, resolution)).map(PySyncState)
        })
    }

    /// Undoes a write of this replica's that a peer (a hub) refused: writes the peer's kept
    /// version of the state back as a new local write (a deletion when the peer keeps none)
    /// whose clock has seen both sides, so every replica settles on it, and drops the
    /// rejection. Returns the new version. `NotFoundError` without a rejection of `state_id`;
    /// `InvalidInputError` for a rejection of a peer's version (nothing of this replica's to undo).
    fn revert_rejected(&self, py: Python<'_>, state_id: &str) -> PyResult<PySyncState> {
        guard(|| detached(py, || self.inner.revert_rejected(state_id)).map(PySyncState))
    }

    /// Changes the default strategy.
    fn set_strategy(&self, py: Python<'_>, strategy: &Bound<'_, PyAny>) -> PyResult<()> {
        guard(|| {
            let strategy = self::strategy(strategy)?;
            detached(py, || self.inner.set_strategy(strategy))
        })
    }

    /// Sets (or with `None` removes) the strategy of one collection.
    fn set_collection_strategy(
        &self,
        py: Python<'_>,
        collection: &str,
        strategy: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        guard(|| {
            let strategy = strategy.map(self::strategy).transpose()?;
            detached(py, || self.inner.set_collection_strategy(collection, strategy))
        })
    }

    /// One page of the changes feed after `cursor`.
    #[pyo3(signature = (cursor = None, collections = None, limit = None))]
    fn changes_since(
        &self,
        py: Python<'_>,
        cursor: Option<&str>,
        collections: Option<Vec<String>>,
        limit: Option<i64>,
    ) -> PyResult<PyChangeSet> {
        guard(|| {
            let context = context(py, collections, limit)?;
            detached(py, || self.inner.changes_since(cursor, &context)).map(PyChangeSet)
        })
    }

    /// Applies a change set received from `peer` and stores its cursor, in one transaction.
    #[pyo3(signature = (peer, changes, collections = None))]
    fn apply_changes(
        &self,
        py: Python<'_>,
        peer: &str,
        changes: &Bound<'_, PyChangeSet>,
        collections: Option<Vec<String>>,
    ) -> PyResult<PyReconciliationResult> {
        guard(|| {
            let context = context(py, collections, None)?;
            let changes = &changes.get().0;
            detached(py, || self.inner.apply_changes(peer, &context, changes)).map(PyReconciliationResult)
        })
    }

    /// The cursor stored for `peer` and this scope of collections.
    #[pyo3(signature = (peer, collections = None))]
    fn peer_cursor(&self, py: Python<'_>, peer: &str, collections: Option<Vec<String>>) -> PyResult<Option<String>> {
        guard(|| {
            let scope = context(py, collections, None)?.scope();
            detached(py, || self.inner.peer_cursor(peer, &scope))
        })
    }

    /// Stores (or with `None` clears) the cursor for `peer` and this scope of collections.
    #[pyo3(signature = (peer, cursor, collections = None))]
    fn set_peer_cursor(
        &self,
        py: Python<'_>,
        peer: &str,
        cursor: Option<&str>,
        collections: Option<Vec<String>>,
    ) -> PyResult<()> {
        guard(|| {
            let scope = context(py, collections, None)?.scope();
            detached(py, || self.inner.set_peer_cursor(peer, &scope, cursor))
        })
    }

    /// A complete bidirectional sync round with another replica in this process.
    #[pyo3(signature = (other, collections = None, limit = None))]
    fn sync_with(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PySyncManager>,
        collections: Option<Vec<String>>,
        limit: Option<i64>,
    ) -> PyResult<PySyncReport> {
        guard(|| {
            let context = context(py, collections, limit)?;
            let other = other.get().inner.clone();
            detached(py, || self.inner.sync_with_context(&other, &context)).map(PySyncReport)
        })
    }

    /// A complete sync round through a transport (a `Transport` object, `HttpTransport` or
    /// `ObjectStoreTransport`).
    #[pyo3(signature = (transport, collections = None, limit = None))]
    fn sync(
        &self,
        py: Python<'_>,
        transport: &Bound<'_, PyAny>,
        collections: Option<Vec<String>>,
        limit: Option<i64>,
    ) -> PyResult<PySyncReport> {
        guard(|| {
            let context = context(py, collections, limit)?;
            let transport = self::transport(transport)?;
            detached(py, || self.inner.sync_via(transport.as_ref(), &context)).map(PySyncReport)
        })
    }

    /// Syncs with `transport` every `interval` seconds on a background thread until
    /// `stop_auto_sync()` or `close()`; failed rounds are retried with backoff.
    #[pyo3(signature = (interval, transport, collections = None))]
    fn start_auto_sync(
        &self,
        py: Python<'_>,
        interval: f64,
        transport: &Bound<'_, PyAny>,
        collections: Option<Vec<String>>,
    ) -> PyResult<()> {
        guard(|| {
            let interval = Duration::try_from_secs_f64(interval).ok().filter(|d| !d.is_zero()).ok_or_else(|| {
                invalid_input(py, format!("interval must be a positive number of seconds, not {interval}"))
            })?;
            let context = context(py, collections, None)?;
            let transport = self::transport(transport)?;
            let config = AutoSyncConfig::every(interval).context(context);
            detached(py, || self.inner.start_auto_sync_with(config, transport))?;
            let mut running = AUTO_SYNCING.lock().unwrap_or_else(|e| e.into_inner());
            running.retain(|m| m.strong_count() > 0);
            running.push(Arc::downgrade(&self.inner));
            Ok(())
        })
    }

    /// Stops auto-sync after the round in progress (waiting for it). Returns whether it ran.
    fn stop_auto_sync(&self, py: Python<'_>) -> PyResult<bool> {
        guard(|| Ok(py.detach(|| self.inner.stop_auto_sync())))
    }

    /// Runs the next auto-sync round now. Returns whether auto-sync runs.
    fn sync_now(&self, py: Python<'_>) -> PyResult<bool> {
        guard(|| Ok(py.detach(|| self.inner.sync_now())))
    }

    /// A snapshot of every state, the pending queue and the conflicts.
    fn export_state(&self, py: Python<'_>) -> PyResult<PySnapshot> {
        guard(|| detached(py, || self.inner.export_state()).map(|s| PySnapshot(Arc::new(s))))
    }

    /// Imports a snapshot (a `Snapshot` or its JSON text): merged like `reconcile`, or with
    /// `replace` replacing everything.
    #[pyo3(signature = (snapshot, replace = false))]
    fn import_state(
        &self,
        py: Python<'_>,
        snapshot: &Bound<'_, PyAny>,
        replace: bool,
    ) -> PyResult<PyReconciliationResult> {
        guard(|| {
            if let Ok(s) = snapshot.cast::<PySnapshot>() {
                let s = s.get().0.clone();
                return detached(py, || self.inner.import_state((*s).clone(), replace)).map(PyReconciliationResult);
            }
            let text = text_arg(snapshot, SyncError::Corrupt)?;
            detached(py, || self.inner.import_json(&text, replace)).map(PyReconciliationResult)
        })
    }

    /// Backs this replica up to the storage URL `url` (docs/backups.md): every state, the
    /// pending queue and the conflicts, sealed with `key` when given, `label` kept in the
    /// manifest in clear.
    #[pyo3(signature = (url, *, key = None, label = None))]
    fn backup(
        &self,
        py: Python<'_>,
        url: &str,
        key: Option<&Bound<'_, PyEncryptionKey>>,
        label: Option<&str>,
    ) -> PyResult<PyBackupInfo> {
        guard(|| {
            let key = key_arg(key);
            detached(py, || self.inner.backup(url, key.as_ref(), label)).map(PyBackupInfo)
        })
    }

    /// Restores backup `id` from `url`, verified whole first: merged like `reconcile`, or with
    /// `replace` put in place of what the replica holds; with `collections`, only those. A
    /// restore that fails changes nothing.
    #[pyo3(signature = (url, id, *, key = None, replace = false, collections = None))]
    #[allow(clippy::too_many_arguments)] // Python's keyword arguments
    fn restore_backup(
        &self,
        py: Python<'_>,
        url: &str,
        id: &str,
        key: Option<&Bound<'_, PyEncryptionKey>>,
        replace: bool,
        collections: Option<Vec<String>>,
    ) -> PyResult<PyReconciliationResult> {
        guard(|| {
            let key = key_arg(key);
            let collections = collections.unwrap_or_default();
            detached(py, || self.inner.restore_backup(url, id, key.as_ref(), replace, &collections))
                .map(PyReconciliationResult)
        })
    }

    /// Backs this replica up to `url` every `interval` seconds (at least 1; the first at once)
    /// on a thread of its own, keeping the `keep_last` newest backups there (0 keeps all).
    #[pyo3(signature = (url, interval, *, keep_last = 0, key = None))]
    fn start_auto_backup(
        &self,
        py: Python<'_>,
        url: &str,
        interval: f64,
        keep_last: usize,
        key: Option<&Bound<'_, PyEncryptionKey>>,
    ) -> PyResult<PyAutoBackup> {
        guard(|| {
            let interval = seconds(py, interval, "interval", true)?;
            let key = key_arg(key);
            let handle = detached(py, || self.inner.start_auto_backup(url, interval, keep_last, key.as_ref()))?;
            Ok(PyAutoBackup(Mutex::new(handle)))
        })
    }

    /// Test builds only (the crate's `testing` feature, which no wheel is built with): panics
    /// inside the core, in a transaction with the replica's lock held, so that the tests can
    /// show that a panic raises `InternalError` and that the replica works on afterwards.
    #[cfg(feature = "testing")]
    fn _panic_for_tests(&self, py: Python<'_>) -> PyResult<()> {
        guard(|| detached(py, || self.inner.panic_for_tests()))
    }

    /// The replica's status.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(|| {
            let status = py.detach(|| self.inner.status());
            enums::status(py, status)
        })
    }

    /// Calls `callback(event)` for every event, after commit. Exceptions it raises are
    /// reported through `sys.unraisablehook` and otherwise ignored.
    fn subscribe(&self, py: Python<'_>, callback: &Bound<'_, PyAny>) -> PyResult<PySubscription> {
        guard(|| {
            if !callback.is_callable() {
                return Err(PyTypeError::new_err(format!("{} is not callable", type_name(callback))));
            }
            let listener = listener(callback.clone().unbind());
            let id = detached(py, || self.inner.subscribe_arc(listener))?;
            self.subscriptions.lock().unwrap_or_else(|e| e.into_inner()).push(id);
            Ok(PySubscription { manager: self.inner.clone(), id })
        })
    }

    /// Stops auto-sync, flushes and releases the store. Idempotent; every later call raises
    /// `ClosedError`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        guard(|| {
            let result = detached(py, || self.inner.close());
            // Listeners heard the `closed` status; now they can go.
            let subs = std::mem::take(&mut *self.subscriptions.lock().unwrap_or_else(|e| e.into_inner()));
            py.detach(|| {
                for sub in subs {
                    self.inner.unsubscribe(sub);
                }
            });
            result
        })
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        guard(|| Ok(slf))
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<()> {
        guard(|| self.close(py))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        guard(|| {
            Ok(match py.detach(|| self.inner.node_id()) {
                Ok(node) => format!("SyncManager(node_id={})", crate::values::q(&node)),
                Err(_) => "SyncManager(<closed>)".into(),
            })
        })
    }

    fn __reduce__(&self) -> PyResult<()> {
        guard(|| {
            Err(PyTypeError::new_err("cannot pickle SyncManager: it is a live replica (export_state() is its data)"))
        })
    }
}

/// A registered listener; `unsubscribe()` (or leaving the `with` block) removes it.
#[pyclass(frozen, module = "statesync", name = "Subscription")]
pub struct PySubscription {
    manager: Arc<SyncManager>,
    id: statesync::Subscription,
}

#[pymethods]
impl PySubscription {
    /// Removes the listener. Returns false if it was already removed.
    fn unsubscribe(&self, py: Python<'_>) -> PyResult<bool> {
        guard(|| Ok(py.detach(|| self.manager.unsubscribe(self.id))))
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        guard(|| Ok(slf))
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<()> {
        guard(|| self.unsubscribe(py).map(|_| ()))
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| Ok(format!("Subscription({})", self.id.0)))
    }

    fn __reduce__(&self) -> PyResult<()> {
        guard(|| Err(PyTypeError::new_err("cannot pickle Subscription")))
    }
}

/// Benchmark hook (not API): the core's W1a workload run entirely in Rust with the GIL
/// released — an in-memory replica holding `keys` states `{"n": 0, "name": "key-<k>"}`, then
/// `updates` timed `update_state` calls round-robin over them, each with
/// `{"n": i, "name": "key-<k>"}` built inside the loop. Returns the seconds the updates took,
/// so the Python benchmark can compare the binding's overhead in the same run.
#[pyfunction]
pub(crate) fn _rust_w1(py: Python<'_>, keys: usize, updates: usize) -> PyResult<f64> {
    guard(|| {
        py.detach(|| statesync::bench::w1a(keys, updates).map(|d| d.as_secs_f64()))
            .map_err(|e: SyncError| to_py_plain(py, e))
    })
}
