//! The replicated values: `Timestamp`, `SyncState`, `SyncOperation` (a pending write) and
//! `SyncConflict` (a manual conflict).

use super::common::{data_repr, hash_of, q, reduce, text_arg};
use crate::enums;
use crate::errors::{guard, to_py_plain};
use crate::json::{clock_to_py, to_py, to_value};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

// ---- Timestamp ------------------------------------------------------------------------------

/// A hybrid logical clock reading, ordered by `(millis, counter, node)`.
#[pyclass(frozen, module = "statesync", name = "Timestamp")]
#[derive(PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PyTimestamp(pub statesync::Timestamp);

#[pymethods]
impl PyTimestamp {
    fn __eq__(&self, other: &Self) -> PyResult<bool> {
        guard(|| Ok(self == other))
    }

    fn __lt__(&self, other: &Self) -> PyResult<bool> {
        guard(|| Ok(self < other))
    }

    fn __le__(&self, other: &Self) -> PyResult<bool> {
        guard(|| Ok(self <= other))
    }

    fn __gt__(&self, other: &Self) -> PyResult<bool> {
        guard(|| Ok(self > other))
    }

    fn __ge__(&self, other: &Self) -> PyResult<bool> {
        guard(|| Ok(self >= other))
    }

    fn __hash__(&self) -> PyResult<u64> {
        guard(|| Ok(hash_of(self)))
    }

    #[new]
    fn new(millis: u64, counter: u32, node: String) -> PyResult<Self> {
        guard(|| Ok(PyTimestamp(statesync::Timestamp { millis, counter, node })))
    }

    /// Wall-clock milliseconds since the Unix epoch.
    #[getter]
    fn millis(&self) -> PyResult<u64> {
        guard(|| Ok(self.0.millis))
    }

    /// Logical counter within one millisecond.
    #[getter]
    fn counter(&self) -> PyResult<u32> {
        guard(|| Ok(self.0.counter))
    }

    /// The node that produced it.
    #[getter]
    fn node(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.node.as_str()))
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            Ok(format!("Timestamp(millis={}, counter={}, node={})", self.0.millis, self.0.counter, q(&self.0.node)))
        })
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        guard(|| {
            let t = &slf.get().0;
            PyTuple::new(
                slf.py(),
                [slf.get_type().into_any(), (t.millis, t.counter, t.node.as_str()).into_pyobject(slf.py())?.into_any()],
            )
        })
    }
}

// ---- SyncState ------------------------------------------------------------------------------

/// One named piece of state, as stored and exchanged between replicas. Immutable.
#[pyclass(frozen, module = "statesync", name = "SyncState")]
#[derive(PartialEq)]
pub struct PySyncState(pub Arc<statesync::SyncState>);

impl Hash for PySyncState {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Equal states have equal ids, content hashes, versions and timestamps.
        self.0.id.hash(state);
        self.0.hash.hash(state);
        self.0.version.hash(state);
        self.0.timestamp.hash(state);
    }
}

impl PySyncState {
    /// A Python object of a core state.
    pub(crate) fn wrap(py: Python<'_>, state: Arc<statesync::SyncState>) -> PyResult<Bound<'_, PySyncState>> {
        Bound::new(py, PySyncState(state))
    }

    /// A list of states.
    pub(crate) fn list<'py, I>(py: Python<'py>, states: I) -> PyResult<Bound<'py, PyList>>
    where
        I: IntoIterator<Item = Arc<statesync::SyncState>>,
    {
        let list = PyList::empty(py);
        for s in states {
            list.append(Self::wrap(py, s)?)?;
        }
        Ok(list)
    }
}

#[pymethods]
impl PySyncState {
    fn __eq__(&self, other: &Self) -> PyResult<bool> {
        guard(|| Ok(self == other))
    }

    fn __hash__(&self) -> PyResult<u64> {
        guard(|| Ok(hash_of(self)))
    }

    /// Unique id within the replica set.
    #[getter]
    fn id(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.id.as_str()))
    }

    /// The collection.
    #[getter]
    fn collection(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.collection.as_str()))
    }

    /// The JSON data (a fresh Python object on every access; `None` once deleted).
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(|| to_py(py, &self.0.data))
    }

    /// The vector clock, `node → counter`.
    #[getter]
    fn clock<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        guard(|| clock_to_py(py, &self.0.clock))
    }

    /// When the write that produced this version happened.
    #[getter]
    fn timestamp(&self) -> PyResult<PyTimestamp> {
        guard(|| Ok(PyTimestamp(self.0.timestamp.clone())))
    }

    /// The node that made that write.
    #[getter]
    fn modified_by(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.modified_by.as_str()))
    }

    /// Tombstone flag.
    #[getter]
    fn deleted(&self) -> PyResult<bool> {
        guard(|| Ok(self.0.deleted))
    }

    /// The version number.
    #[getter]
    fn version(&self) -> PyResult<u64> {
        guard(|| Ok(self.0.version))
    }

    /// The content hash (16 hex characters).
    #[getter]
    fn hash(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.hash.as_str()))
    }

    /// Parses and validates a state from its wire JSON (`InvalidStateError` if malformed).
    #[staticmethod]
    pub(crate) fn from_json(py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<PySyncState> {
        guard(|| {
            let text = text_arg(text, statesync::SyncError::InvalidState)?;
            let state = py.detach(|| statesync::SyncState::from_json(&text)).map_err(|e| to_py_plain(py, e))?;
            Ok(PySyncState(Arc::new(state)))
        })
    }

    /// Parses and validates a state from a parsed dict (either JSON form).
    #[staticmethod]
    pub(crate) fn from_dict(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<PySyncState> {
        guard(|| {
            // A dict that is not JSON is a malformed state, as malformed JSON text is.
            let value = to_value(value).map_err(|e| {
                let message = e.value(py).getattr("message").map(|m| m.to_string()).unwrap_or_else(|_| e.to_string());
                let err = to_py_plain(py, statesync::SyncError::InvalidState(format!("malformed state: {message}")));
                err.set_cause(py, Some(e));
                err
            })?;
            let state = py.detach(|| statesync::SyncState::from_value(value)).map_err(|e| to_py_plain(py, e))?;
            Ok(PySyncState(Arc::new(state)))
        })
    }

    /// The compact wire JSON.
    fn to_json(&self) -> PyResult<String> {
        guard(|| Ok(self.0.to_json()))
    }

    /// Every field, as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(|| to_py(py, &self.0.to_value()))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        guard(|| {
            let s = &self.0;
            let deleted = if s.deleted { ", deleted=True" } else { "" };
            Ok(format!(
                "SyncState(id={}, collection={}, version={}{deleted}, data={})",
                q(&s.id),
                q(&s.collection),
                s.version,
                data_repr(py, &s.data)
            ))
        })
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        guard(|| reduce(py, "state", self.0.to_json()))
    }
}

// ---- SyncOperation --------------------------------------------------------------------------

/// One local write waiting to be acknowledged.
#[pyclass(frozen, module = "statesync", name = "SyncOperation")]
#[derive(PartialEq)]
pub struct PySyncOperation(pub statesync::SyncOperation);

#[pymethods]
impl PySyncOperation {
    fn __eq__(&self, other: &Self) -> PyResult<bool> {
        guard(|| Ok(self == other))
    }

    /// `"<node_id>:<counter>"`.
    #[getter]
    fn op_id(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.op_id.as_str()))
    }

    /// Create, update or delete.
    #[getter]
    fn kind<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(|| enums::operation_kind(py, self.0.kind))
    }

    /// The state written.
    #[getter]
    fn state_id(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.state_id.as_str()))
    }

    /// Its collection.
    #[getter]
    fn collection(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.collection.as_str()))
    }

    /// The data written (`None` for a delete).
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(|| to_py(py, &self.0.data))
    }

    /// The state's clock after the write.
    #[getter]
    fn clock<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        guard(|| clock_to_py(py, &self.0.clock))
    }

    /// When the write happened.
    #[getter]
    fn timestamp(&self) -> PyResult<PyTimestamp> {
        guard(|| Ok(PyTimestamp(self.0.timestamp.clone())))
    }

    /// The writing node.
    #[getter]
    fn node_id(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.node_id.as_str()))
    }

    /// Every field, as a dict (the operation's JSON form).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(|| to_py(py, &serde_json::to_value(&self.0).unwrap_or_default()))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        guard(|| {
            let o = &self.0;
            Ok(format!(
                "SyncOperation(op_id={}, kind={}, state_id={}, collection={}, data={})",
                q(&o.op_id),
                q(o.kind.as_str()),
                q(&o.state_id),
                q(&o.collection),
                data_repr(py, &o.data)
            ))
        })
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        guard(|| reduce(py, "operation", serde_json::to_string(&self.0).unwrap_or_default()))
    }
}

// ---- SyncConflict ---------------------------------------------------------------------------

/// A concurrent remote version kept for the application to decide (strategy `MANUAL`).
#[pyclass(frozen, module = "statesync", name = "SyncConflict")]
#[derive(PartialEq)]
pub struct PySyncConflict(pub statesync::SyncConflict);

#[pymethods]
impl PySyncConflict {
    fn __eq__(&self, other: &Self) -> PyResult<bool> {
        guard(|| Ok(self == other))
    }

    /// Stable id of the conflict.
    #[getter]
    fn conflict_id(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.conflict_id.as_str()))
    }

    /// The state in conflict.
    #[getter]
    fn state_id(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.state_id.as_str()))
    }

    /// The local version when the conflict was detected.
    #[getter]
    fn local(&self) -> PyResult<PySyncState> {
        guard(|| Ok(PySyncState(Arc::new(self.0.local.clone()))))
    }

    /// The concurrent remote version.
    #[getter]
    fn remote(&self) -> PyResult<PySyncState> {
        guard(|| Ok(PySyncState(Arc::new(self.0.remote.clone()))))
    }

    /// Milliseconds (hybrid clock) at detection.
    #[getter]
    fn detected_at(&self) -> PyResult<u64> {
        guard(|| Ok(self.0.detected_at))
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            Ok(format!(
                "SyncConflict(conflict_id={}, state_id={}, local_version={}, remote_version={})",
                q(&self.0.conflict_id),
                q(&self.0.state_id),
                self.0.local.version,
                self.0.remote.version
            ))
        })
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        guard(|| reduce(py, "conflict", serde_json::to_string(&self.0).unwrap_or_default()))
    }
}
