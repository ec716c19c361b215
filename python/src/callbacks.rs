//! Python callables behind core traits: a conflict resolver, an event listener and a sync
//! transport. Each one re-attaches to the interpreter (`Python::attach`) for the call; the core
//! calls them with the GIL released. A panic in this code fails the one call as `INTERNAL`
//! (`statesync::catch_panic`) rather than unwinding through the core, which may be running it on
//! its own auto-sync thread (listeners the core isolates itself).

use crate::errors::{describe, from_py, remember_cause};
use crate::json::{to_value, type_name};
use crate::values::{PyCapabilities, PyChangeSet, PyDeleted, PyReconciliationResult, PySyncEvent, PySyncState};
use pyo3::prelude::*;
use pyo3::types::PyList;
use statesync::{
    ChangeSet, ConflictResolver, Listener, ReconciliationResult, Resolved, SyncCapabilities, SyncContext, SyncError,
    SyncEvent, SyncState, SyncTransport,
};
use std::sync::Arc;

/// A resolver callable `(local, remote) -> data | DELETED`. An exception (or a result that is
/// not JSON) fails the call with the core's `RESOLVER` error, the exception as its cause.
pub(crate) struct PyResolver(pub Py<PyAny>);

impl ConflictResolver for PyResolver {
    fn resolve(&self, local: &SyncState, remote: &SyncState) -> Result<Resolved, String> {
        statesync::catch_panic(|| Ok(self.call(local, remote))).unwrap_or_else(|e| Err(e.to_string()))
    }
}

impl PyResolver {
    /// The resolver's call itself (`resolve` is it under the panic guard).
    fn call(&self, local: &SyncState, remote: &SyncState) -> Result<Resolved, String> {
        Python::attach(|py| {
            let result = self
                .0
                .bind(py)
                .call1((PySyncState(Arc::new(local.clone())), PySyncState(Arc::new(remote.clone()))))
                .and_then(|value| {
                    if value.is_instance_of::<PyDeleted>() {
                        Ok(Resolved::Deleted)
                    } else {
                        to_value(&value).map(Resolved::Data)
                    }
                });
            result.map_err(|err| {
                let text = describe(py, &err);
                remember_cause(err);
                text
            })
        })
    }
}

/// A listener callable `(event) -> object`. Its exceptions are reported with
/// `sys.unraisablehook` and swallowed: a listener cannot fail the write it hears about.
pub(crate) fn listener(callable: Py<PyAny>) -> Listener {
    Arc::new(move |event: &SyncEvent| {
        Python::attach(|py| {
            let callable = callable.bind(py);
            if let Err(err) = callable.call1((PySyncEvent(event.clone()),)) {
                err.write_unraisable(py, Some(callable));
            }
        })
    })
}

/// A transport implemented in Python: `capabilities()`, `pull(cursor, collections, limit)`,
/// `push(changes)`. An exception is `TRANSPORT` unless it is a `SyncError`, which keeps its code.
pub(crate) struct PyTransport(pub Py<PyAny>);

/// A transport method returned the wrong thing: `TRANSPORT`, the conversion error as the cause.
fn bad_return(method: &str, expected: &str, got: &Bound<'_, PyAny>, err: PyErr) -> SyncError {
    let message = format!("transport.{method}() returned {}, expected {expected}", type_name(got));
    remember_cause(err);
    SyncError::Transport(message)
}

impl SyncTransport for PyTransport {
    fn capabilities(&self) -> statesync::Result<SyncCapabilities> {
        statesync::catch_panic(|| self.call_capabilities())
    }

    fn pull(&self, cursor: Option<&str>, context: &SyncContext) -> statesync::Result<ChangeSet> {
        statesync::catch_panic(|| self.call_pull(cursor, context))
    }

    fn push(&self, changes: &ChangeSet) -> statesync::Result<ReconciliationResult> {
        statesync::catch_panic(|| self.call_push(changes))
    }
}

/// The transport's calls themselves (the trait's methods are them under the panic guard).
impl PyTransport {
    fn call_capabilities(&self) -> statesync::Result<SyncCapabilities> {
        Python::attach(|py| {
            let value =
                self.0.bind(py).call_method0("capabilities").map_err(|e| from_py(py, e, SyncError::Transport))?;
            match value.cast::<PyCapabilities>() {
                Ok(c) => Ok(c.get().0.clone()),
                Err(e) => Err(bad_return("capabilities", "Capabilities", &value, e.into())),
            }
        })
    }

    fn call_pull(&self, cursor: Option<&str>, context: &SyncContext) -> statesync::Result<ChangeSet> {
        Python::attach(|py| {
            let collections =
                PyList::new(py, &context.collections).map_err(|e| from_py(py, e, SyncError::Transport))?;
            let value = self
                .0
                .bind(py)
                .call_method1("pull", (cursor, collections, context.limit))
                .map_err(|e| from_py(py, e, SyncError::Transport))?;
            match value.cast::<PyChangeSet>() {
                Ok(c) => Ok(c.get().0.clone()),
                Err(e) => Err(bad_return("pull", "ChangeSet", &value, e.into())),
            }
        })
    }

    fn call_push(&self, changes: &ChangeSet) -> statesync::Result<ReconciliationResult> {
        Python::attach(|py| {
            let value = self
                .0
                .bind(py)
                .call_method1("push", (PyChangeSet(changes.clone()),))
                .map_err(|e| from_py(py, e, SyncError::Transport))?;
            PyReconciliationResult::from_py(&value)
                .map_err(|e| bad_return("push", "ReconciliationResult or a mapping of counts", &value, e))
        })
    }
}
