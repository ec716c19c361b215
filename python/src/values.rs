//! The value classes: immutable (`frozen`), comparable, printable wrappers of core values.
//! Values pickle through their wire JSON (see `_unpickle`).

use crate::errors::{guard, invalid_input, to_py_plain};
use crate::json::{clock_to_py, to_py, to_value, type_name};
use crate::{enums, wire};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use pyo3::BoundObject;
use statesync::{ApplyOutcome, Resolution, SyncCapabilities};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

/// A str as Python's `repr()` shows it (quotes and escapes), for `__repr__` texts.
pub(crate) fn q(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `repr()` of a Python value (falls back to `...`).
fn py_repr(value: &Bound<'_, PyAny>) -> String {
    value.repr().map(|r| r.to_string()).unwrap_or_else(|_| "...".into())
}

/// `repr()` of JSON data as Python shows it.
fn data_repr(py: Python<'_>, value: &serde_json::Value) -> String {
    to_py(py, value).map(|v| py_repr(&v)).unwrap_or_else(|_| "...".into())
}

/// Text given as `str` or UTF-8 `bytes`; `bad` makes the error for anything else.
pub(crate) fn text_arg(obj: &Bound<'_, PyAny>, bad: fn(String) -> statesync::SyncError) -> PyResult<String> {
    let py = obj.py();
    if let Ok(s) = obj.cast::<PyString>() {
        return s.extract::<String>().map_err(|e| {
            let err = to_py_plain(py, bad("text is not valid Unicode".into()));
            err.set_cause(py, Some(e));
            err
        });
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return String::from_utf8(b.as_bytes().to_vec())
            .map_err(|e| to_py_plain(py, bad(format!("malformed JSON: not UTF-8 ({e})"))));
    }
    Err(invalid_input(py, format!("expected str or bytes, not {}", type_name(obj))))
}

/// `hash()` of a value class: Rust's `Hash` of the value, as pyo3's `hash` option computes it
/// (written out so that it runs guarded, as every export does).
fn hash_of(value: &impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// The private unpickling function of the values, looked up by pickle as `statesync._native._unpickle`.
pub(crate) fn unpickler(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    py.import("statesync._native")?.getattr("_unpickle")
}

fn reduce<'py>(py: Python<'py>, kind: &str, payload: impl IntoPyObject<'py>) -> PyResult<Bound<'py, PyTuple>> {
    let payload = payload.into_pyobject(py).map_err(Into::into)?.into_any().into_bound();
    PyTuple::new(py, [unpickler(py)?, PyTuple::new(py, [PyString::new(py, kind).into_any(), payload])?.into_any()])
}

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
    fn from_json(py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<PySyncState> {
        guard(|| {
            let text = text_arg(text, statesync::SyncError::InvalidState)?;
            let state = py.detach(|| statesync::SyncState::from_json(&text)).map_err(|e| to_py_plain(py, e))?;
            Ok(PySyncState(Arc::new(state)))
        })
    }

    /// Parses and validates a state from a parsed dict (either JSON form).
    #[staticmethod]
    fn from_dict(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<PySyncState> {
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

// ---- ApplyResult ----------------------------------------------------------------------------

/// What applying one remote state did.
#[pyclass(frozen, module = "statesync", name = "ApplyResult")]
#[derive(PartialEq)]
pub struct PyApplyResult(pub statesync::ApplyResult);

#[pymethods]
impl PyApplyResult {
    fn __eq__(&self, other: &Self) -> PyResult<bool> {
        guard(|| Ok(self == other))
    }

    /// `"created"`, `"updated"`, `"unchanged"`, `"ignored"` or `"conflict"`.
    #[getter]
    fn outcome(&self) -> PyResult<&'static str> {
        guard(|| Ok(self.0.outcome.as_str()))
    }

    /// For a conflict: whether the strategy settled it automatically.
    #[getter]
    fn resolved(&self) -> PyResult<bool> {
        guard(|| Ok(self.0.resolved))
    }

    /// The stored version afterwards.
    #[getter]
    fn state(&self) -> PyResult<PySyncState> {
        guard(|| Ok(PySyncState(self.0.state.clone())))
    }

    /// For a conflict recorded by the `MANUAL` strategy: the conflict.
    #[getter]
    fn conflict(&self) -> PyResult<Option<PySyncConflict>> {
        guard(|| Ok(self.0.conflict.clone().map(PySyncConflict)))
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            Ok(format!(
                "ApplyResult(outcome={}, resolved={}, state_id={}, version={})",
                q(self.0.outcome.as_str()),
                if self.0.resolved { "True" } else { "False" },
                q(&self.0.state.id),
                self.0.state.version
            ))
        })
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        guard(|| {
            let conflict = self.0.conflict.as_ref().map(|c| serde_json::to_string(c).unwrap_or_default());
            reduce(py, "apply", (self.0.outcome.as_str(), self.0.resolved, self.0.state.to_json(), conflict))
        })
    }
}

fn outcome_from_name(name: &str) -> Option<ApplyOutcome> {
    Some(match name {
        "created" => ApplyOutcome::Created,
        "updated" => ApplyOutcome::Updated,
        "unchanged" => ApplyOutcome::Unchanged,
        "ignored" => ApplyOutcome::Ignored,
        "conflict" => ApplyOutcome::Conflict,
        _ => return None,
    })
}

// ---- ReconciliationResult / SyncReport ------------------------------------------------------

/// Counts of what a batch of remote states did.
#[pyclass(frozen, module = "statesync", name = "ReconciliationResult")]
#[derive(PartialEq)]
pub struct PyReconciliationResult(pub statesync::ReconciliationResult);

#[pymethods]
impl PyReconciliationResult {
    fn __eq__(&self, other: &Self) -> PyResult<bool> {
        guard(|| Ok(self == other))
    }

    /// States that were new here.
    #[getter]
    fn created(&self) -> PyResult<u64> {
        guard(|| Ok(self.0.created))
    }

    /// States replaced by a newer remote version.
    #[getter]
    fn updated(&self) -> PyResult<u64> {
        guard(|| Ok(self.0.updated))
    }

    /// Duplicates of what was stored.
    #[getter]
    fn unchanged(&self) -> PyResult<u64> {
        guard(|| Ok(self.0.unchanged))
    }

    /// Older versions.
    #[getter]
    fn ignored(&self) -> PyResult<u64> {
        guard(|| Ok(self.0.ignored))
    }

    /// Concurrent versions detected.
    #[getter]
    fn conflicts(&self) -> PyResult<u64> {
        guard(|| Ok(self.0.conflicts))
    }

    /// Of those, settled automatically.
    #[getter]
    fn resolved(&self) -> PyResult<u64> {
        guard(|| Ok(self.0.resolved))
    }

    /// States refused alone (invalid, too large, too far in the future, in another collection
    /// here); the rest of the batch applied without them.
    #[getter]
    fn rejected(&self) -> PyResult<u64> {
        guard(|| Ok(self.0.rejected))
    }

    /// The refused states, each with the reason (a fresh list on every access).
    #[getter]
    fn rejections<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        guard(|| PyList::new(py, self.0.rejections.iter().cloned().map(PyRejectedState)))
    }

    /// The counts as a dict (`rejected` included; the refused states are `rejections`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        guard(|| {
            let r = &self.0;
            let dict = PyDict::new(py);
            for (k, v) in [
                ("created", r.created),
                ("updated", r.updated),
                ("unchanged", r.unchanged),
                ("ignored", r.ignored),
                ("conflicts", r.conflicts),
                ("resolved", r.resolved),
                ("rejected", r.rejected),
            ] {
                dict.set_item(k, v)?;
            }
            Ok(dict)
        })
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            let r = &self.0;
            // The refusals only when there are any: most results have none.
            let rejected = if r.rejected == 0 && r.rejections.is_empty() {
                String::new()
            } else {
                let ids: Vec<String> = r.rejections.iter().map(|x| q(&x.id)).collect();
                format!(", rejected={}, rejections=[{}]", r.rejected, ids.join(", "))
            };
            Ok(format!(
            "ReconciliationResult(created={}, updated={}, unchanged={}, ignored={}, conflicts={}, resolved={}{rejected})",
            r.created, r.updated, r.unchanged, r.ignored, r.conflicts, r.resolved
        ))
        })
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        guard(|| reduce(py, "reconciliation", serde_json::to_string(&self.0).unwrap_or_default()))
    }
}

/// `mapping[key]`, or `None` when the key is missing.
fn optional_item<'py>(mapping: &Bound<'py, PyAny>, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    match mapping.get_item(key) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyKeyError>(mapping.py()) => Ok(None),
        Err(e) => Err(e),
    }
}

impl PyReconciliationResult {
    /// What a Python transport's `push` returned: a `ReconciliationResult` or a mapping of
    /// counts (missing keys are 0), optionally with `rejections`, a list of `RejectedState`
    /// or of mappings with `id`, `code` and `message` (as the HTTP protocol's push answer
    /// lists them). `rejected` is at least the number of rejections, as the core reads a push
    /// answer.
    pub(crate) fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<statesync::ReconciliationResult> {
        if let Ok(r) = obj.cast::<PyReconciliationResult>() {
            return Ok(r.get().0.clone());
        }
        let mut r = statesync::ReconciliationResult::default();
        let get = |k: &str| -> PyResult<u64> { optional_item(obj, k)?.map_or(Ok(0), |v| v.extract::<u64>()) };
        r.created = get("created")?;
        r.updated = get("updated")?;
        r.unchanged = get("unchanged")?;
        r.ignored = get("ignored")?;
        r.conflicts = get("conflicts")?;
        r.resolved = get("resolved")?;
        r.rejected = get("rejected")?;
        if let Some(items) = optional_item(obj, "rejections")? {
            for item in items.try_iter()? {
                r.rejections.push(PyRejectedState::from_py(&item?)?);
            }
        }
        r.rejected = r.rejected.max(r.rejections.len() as u64);
        Ok(r)
    }
}

// ---- RejectedState / Rejection --------------------------------------------------------------

/// A state refused by the replica that received it, as a `ReconciliationResult` lists it: the
/// state's id, the error code (`INVALID_STATE`, ...) and the message.
#[pyclass(frozen, module = "statesync", name = "RejectedState")]
#[derive(PartialEq, Eq, Hash)]
pub struct PyRejectedState(pub statesync::RejectedState);

#[pymethods]
impl PyRejectedState {
    fn __eq__(&self, other: &Self) -> PyResult<bool> {
        guard(|| Ok(self == other))
    }

    fn __hash__(&self) -> PyResult<u64> {
        guard(|| Ok(hash_of(self)))
    }

    #[new]
    fn new(id: String, code: String, message: String) -> PyResult<Self> {
        guard(|| Ok(PyRejectedState(statesync::RejectedState { id, code, message })))
    }

    /// The refused state's id.
    #[getter]
    fn id(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.id.as_str()))
    }

    /// Why, as an error code (`INVALID_STATE`, ...).
    #[getter]
    fn code(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.code.as_str()))
    }

    /// Why, in words.
    #[getter]
    fn message(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.message.as_str()))
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            Ok(format!("RejectedState(id={}, code={}, message={})", q(&self.0.id), q(&self.0.code), q(&self.0.message)))
        })
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        guard(|| {
            let r = &slf.get().0;
            let args = (r.id.as_str(), r.code.as_str(), r.message.as_str()).into_pyobject(slf.py())?;
            PyTuple::new(slf.py(), [slf.get_type().into_any(), args.into_any()])
        })
    }
}

impl PyRejectedState {
    /// One item of the `rejections` a Python transport's `push` returned: a `RejectedState` or
    /// a mapping with str `id` and `code` and an optional str `message`.
    fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<statesync::RejectedState> {
        if let Ok(r) = obj.cast::<PyRejectedState>() {
            return Ok(r.get().0.clone());
        }
        let text = |k: &str| -> PyResult<Option<String>> { optional_item(obj, k)?.map(|v| v.extract()).transpose() };
        let required = |k: &str| -> PyResult<String> {
            text(k)?.ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(format!("a rejection needs {k:?}")))
        };
        Ok(statesync::RejectedState {
            id: required("id")?,
            code: required("code")?,
            message: text("message")?.unwrap_or_default(),
        })
    }
}

/// A refused state recorded durably by this replica until a later version of it goes through
/// (`SyncManager.rejections()`): a version a peer sent that this replica refused, or one of
/// this replica's own that a peer refused.
#[pyclass(frozen, module = "statesync", name = "Rejection")]
#[derive(PartialEq, Eq, Hash)]
pub struct PyRejection(pub statesync::Rejection);

#[pymethods]
impl PyRejection {
    fn __eq__(&self, other: &Self) -> PyResult<bool> {
        guard(|| Ok(self == other))
    }

    fn __hash__(&self) -> PyResult<u64> {
        guard(|| Ok(hash_of(self)))
    }

    /// The state concerned.
    #[getter]
    fn state_id(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.state_id.as_str()))
    }

    /// Why, as an error code (`INVALID_STATE`, ...).
    #[getter]
    fn code(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.code.as_str()))
    }

    /// Why, in words, naming the peer involved.
    #[getter]
    fn message(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.message.as_str()))
    }

    /// Local wall-clock milliseconds when it was recorded.
    #[getter]
    fn rejected_at(&self) -> PyResult<u64> {
        guard(|| Ok(self.0.rejected_at))
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            let r = &self.0;
            Ok(format!(
                "Rejection(state_id={}, code={}, message={}, rejected_at={})",
                q(&r.state_id),
                q(&r.code),
                q(&r.message),
                r.rejected_at
            ))
        })
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        guard(|| reduce(py, "rejection", serde_json::to_string(&self.0).unwrap_or_default()))
    }
}

/// What one sync round did on each side.
#[pyclass(frozen, module = "statesync", name = "SyncReport")]
#[derive(PartialEq)]
pub struct PySyncReport(pub statesync::SyncReport);

#[pymethods]
impl PySyncReport {
    fn __eq__(&self, other: &Self) -> PyResult<bool> {
        guard(|| Ok(self == other))
    }

    /// Changes pulled from the peer into this replica.
    #[getter]
    fn pulled(&self) -> PyResult<PyReconciliationResult> {
        guard(|| Ok(PyReconciliationResult(self.0.pulled.clone())))
    }

    /// Changes pushed from this replica to the peer.
    #[getter]
    fn pushed(&self) -> PyResult<PyReconciliationResult> {
        guard(|| Ok(PyReconciliationResult(self.0.pushed.clone())))
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            Ok(format!(
                "SyncReport(pulled={}, pushed={})",
                PyReconciliationResult(self.0.pulled.clone()).__repr__()?,
                PyReconciliationResult(self.0.pushed.clone()).__repr__()?
            ))
        })
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        guard(|| {
            let json = |r: &statesync::ReconciliationResult| serde_json::to_string(r).unwrap_or_default();
            reduce(py, "report", (json(&self.0.pulled), json(&self.0.pushed)))
        })
    }
}

// ---- ChangeSet / Snapshot -------------------------------------------------------------------

/// One page of the changes feed.
#[pyclass(frozen, module = "statesync", name = "ChangeSet")]
#[derive(PartialEq)]
pub struct PyChangeSet(pub statesync::ChangeSet);

#[pymethods]
impl PyChangeSet {
    fn __eq__(&self, other: &Self) -> PyResult<bool> {
        guard(|| Ok(self == other))
    }

    #[new]
    fn new(states: &Bound<'_, PyAny>, cursor: String, has_more: bool) -> PyResult<Self> {
        guard(|| {
            let mut out = Vec::new();
            for item in states.try_iter()? {
                let item = item?;
                let Ok(state) = item.cast::<PySyncState>() else {
                    return Err(invalid_input(
                        item.py(),
                        format!("a change set holds SyncState, not {}", type_name(&item)),
                    ));
                };
                out.push(state.get().0.clone());
            }
            Ok(PyChangeSet(statesync::ChangeSet { states: out, cursor, has_more }))
        })
    }

    /// The states of the page, oldest change first.
    #[getter]
    fn states<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        guard(|| PySyncState::list(py, self.0.states.iter().cloned()))
    }

    /// Where the next request starts.
    #[getter]
    fn cursor(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.cursor.as_str()))
    }

    /// True when more changes follow.
    #[getter]
    fn has_more(&self) -> PyResult<bool> {
        guard(|| Ok(self.0.has_more))
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            Ok(format!(
                "ChangeSet(states=<{} states>, cursor={}, has_more={})",
                self.0.states.len(),
                q(&self.0.cursor),
                if self.0.has_more { "True" } else { "False" }
            ))
        })
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        guard(|| {
            let bytes = statesync::encode(&self.0, statesync::Encoding::Json);
            reduce(py, "changeset", PyBytes::new(py, &bytes))
        })
    }
}

/// A replica's full content at one instant.
#[pyclass(frozen, module = "statesync", name = "Snapshot")]
#[derive(PartialEq)]
pub struct PySnapshot(pub Arc<statesync::Snapshot>);

#[pymethods]
impl PySnapshot {
    fn __eq__(&self, other: &Self) -> PyResult<bool> {
        guard(|| Ok(self == other))
    }

    /// The snapshot format version.
    #[getter]
    fn format(&self) -> PyResult<u64> {
        guard(|| Ok(self.0.format))
    }

    /// The replica that exported it.
    #[getter]
    fn node_id(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.node_id.as_str()))
    }

    /// Every state, tombstones included, ordered by id.
    #[getter]
    fn states<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        guard(|| PySyncState::list(py, self.0.states.iter().map(|s| Arc::new(s.clone()))))
    }

    /// The pending queue, in order.
    #[getter]
    fn pending<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        guard(|| PyList::new(py, self.0.pending.iter().map(|o| PySyncOperation(o.clone()))))
    }

    /// Unresolved manual conflicts.
    #[getter]
    fn conflicts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        guard(|| PyList::new(py, self.0.conflicts.iter().map(|c| PySyncConflict(c.clone()))))
    }

    /// Parses and validates a snapshot (`CorruptError`, `UnsupportedFormatError`,
    /// `InvalidStateError`).
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<PySnapshot> {
        guard(|| {
            let text = text_arg(text, statesync::SyncError::Corrupt)?;
            let snapshot = py.detach(|| statesync::Snapshot::from_json(&text)).map_err(|e| to_py_plain(py, e))?;
            Ok(PySnapshot(Arc::new(snapshot)))
        })
    }

    /// The JSON text of the snapshot.
    fn to_json(&self, py: Python<'_>) -> PyResult<String> {
        guard(|| {
            let snapshot = self.0.clone();
            Ok(py.detach(move || snapshot.to_json()))
        })
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            Ok(format!(
                "Snapshot(node_id={}, states=<{} states>, pending=<{} operations>, conflicts=<{} conflicts>)",
                q(&self.0.node_id),
                self.0.states.len(),
                self.0.pending.len(),
                self.0.conflicts.len()
            ))
        })
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        guard(|| reduce(py, "snapshot", self.to_json(py)?))
    }
}

// ---- Capabilities ---------------------------------------------------------------------------

/// What a sync peer supports, as it advertises it.
#[pyclass(frozen, module = "statesync", name = "Capabilities")]
#[derive(PartialEq)]
pub struct PyCapabilities(pub SyncCapabilities);

#[pymethods]
impl PyCapabilities {
    fn __eq__(&self, other: &Self) -> PyResult<bool> {
        guard(|| Ok(self == other))
    }

    #[new]
    #[pyo3(signature = (node_id, *, protocol = statesync::PROTOCOL_VERSION, scoped_sync = false, binary = false, zstd = false, max_batch = None, max_body_bytes = None))]
    fn new(
        node_id: String,
        protocol: u64,
        scoped_sync: bool,
        binary: bool,
        zstd: bool,
        max_batch: Option<usize>,
        max_body_bytes: Option<usize>,
    ) -> PyResult<Self> {
        guard(|| {
            Ok(PyCapabilities(SyncCapabilities {
                protocol,
                node_id,
                scoped_sync,
                binary,
                zstd,
                max_batch,
                max_body_bytes,
            }))
        })
    }

    /// Protocol version the peer speaks.
    #[getter]
    fn protocol(&self) -> PyResult<u64> {
        guard(|| Ok(self.0.protocol))
    }

    /// The peer's node id.
    #[getter]
    fn node_id(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.node_id.as_str()))
    }

    /// The peer filters its feed by collections.
    #[getter]
    fn scoped_sync(&self) -> PyResult<bool> {
        guard(|| Ok(self.0.scoped_sync))
    }

    /// The peer accepts the binary encoding.
    #[getter]
    fn binary(&self) -> PyResult<bool> {
        guard(|| Ok(self.0.binary))
    }

    /// The peer accepts zstd-compressed bodies.
    #[getter]
    fn zstd(&self) -> PyResult<bool> {
        guard(|| Ok(self.0.zstd))
    }

    /// Largest page the peer serves or accepts.
    #[getter]
    fn max_batch(&self) -> PyResult<Option<usize>> {
        guard(|| Ok(self.0.max_batch))
    }

    /// Largest request body the peer accepts, in bytes before compression; pushed pages are
    /// cut to fit.
    #[getter]
    fn max_body_bytes(&self) -> PyResult<Option<usize>> {
        guard(|| Ok(self.0.max_body_bytes))
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            let c = &self.0;
            let b = |v: bool| if v { "True" } else { "False" };
            let n = |v: Option<usize>| v.map_or("None".to_owned(), |m| m.to_string());
            Ok(format!(
            "Capabilities(node_id={}, protocol={}, scoped_sync={}, binary={}, zstd={}, max_batch={}, max_body_bytes={})",
            q(&c.node_id),
            c.protocol,
            b(c.scoped_sync),
            b(c.binary),
            b(c.zstd),
            n(c.max_batch),
            n(c.max_body_bytes)
        ))
        })
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        guard(|| reduce(py, "capabilities", serde_json::to_string(&self.0).unwrap_or_default()))
    }
}

// ---- Resolution / Deleted -------------------------------------------------------------------

/// How the application settles a manual conflict: `Resolution.LOCAL`, `Resolution.REMOTE` or
/// `Resolution.custom(data)`.
#[pyclass(frozen, module = "statesync", name = "Resolution")]
#[derive(PartialEq)]
pub struct PyResolution(pub Resolution);

#[pymethods]
impl PyResolution {
    fn __eq__(&self, other: &Self) -> PyResult<bool> {
        guard(|| Ok(self == other))
    }

    /// Keep the local data.
    #[classattr]
    #[pyo3(name = "LOCAL")]
    fn local() -> PyResult<PyResolution> {
        guard(|| Ok(PyResolution(Resolution::Local)))
    }

    /// Take the remote data.
    #[classattr]
    #[pyo3(name = "REMOTE")]
    fn remote() -> PyResult<PyResolution> {
        guard(|| Ok(PyResolution(Resolution::Remote)))
    }

    /// Write this data instead.
    #[staticmethod]
    fn custom(data: &Bound<'_, PyAny>) -> PyResult<PyResolution> {
        guard(|| Ok(PyResolution(Resolution::Custom(to_value(data)?))))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        guard(|| {
            Ok(match &self.0 {
                Resolution::Local => "Resolution.LOCAL".into(),
                Resolution::Remote => "Resolution.REMOTE".into(),
                Resolution::Custom(v) => format!("Resolution.custom({})", data_repr(py, v)),
            })
        })
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        guard(|| {
            let payload = match &self.0 {
                Resolution::Local => "local".to_owned(),
                Resolution::Remote => "remote".to_owned(),
                Resolution::Custom(v) => v.to_string(),
            };
            reduce(py, "resolution", payload)
        })
    }
}

/// Returned by a resolver: the merged result is a deletion. Use the `DELETED` singleton.
#[pyclass(frozen, module = "statesync", name = "Deleted")]
pub struct PyDeleted;

#[pymethods]
impl PyDeleted {
    fn __repr__(&self) -> PyResult<&'static str> {
        guard(|| Ok("DELETED"))
    }

    fn __reduce__(&self) -> PyResult<&'static str> {
        guard(|| {
            Ok(
                // Pickled by reference to the module-level singleton.
                "DELETED",
            )
        })
    }
}

// ---- SyncEvent ------------------------------------------------------------------------------

/// Something that happened to a replica, delivered to subscribers after it was committed.
#[pyclass(frozen, module = "statesync", name = "SyncEvent")]
pub struct PySyncEvent(pub statesync::SyncEvent);

#[pymethods]
impl PySyncEvent {
    /// The event's name (`stateCreated`, `statusChanged`, ...).
    #[getter]
    fn name(&self) -> PyResult<&'static str> {
        guard(|| Ok(self.0.name()))
    }

    /// The state, for state events.
    #[getter]
    fn state(&self) -> PyResult<Option<PySyncState>> {
        guard(|| {
            use statesync::SyncEvent::*;
            Ok(match &self.0 {
                StateCreated(s) | StateUpdated(s) | StateDeleted(s) => Some(PySyncState(s.clone())),
                _ => None,
            })
        })
    }

    /// The conflict, for `conflictDetected`.
    #[getter]
    fn conflict(&self) -> PyResult<Option<PySyncConflict>> {
        guard(|| {
            Ok(match &self.0 {
                statesync::SyncEvent::ConflictDetected(c) => Some(PySyncConflict(c.clone())),
                _ => None,
            })
        })
    }

    /// The conflict's id, for `conflictResolved`.
    #[getter]
    fn conflict_id(&self) -> PyResult<Option<&str>> {
        guard(|| {
            Ok(match &self.0 {
                statesync::SyncEvent::ConflictResolved { conflict_id, .. } => Some(conflict_id.as_str()),
                _ => None,
            })
        })
    }

    /// The state's id, for `conflictResolved` and `stateRejected`.
    #[getter]
    fn state_id(&self) -> PyResult<Option<&str>> {
        guard(|| {
            use statesync::SyncEvent::*;
            Ok(match &self.0 {
                ConflictResolved { state_id, .. } | StateRejected { state_id, .. } => Some(state_id.as_str()),
                _ => None,
            })
        })
    }

    /// Why the state was refused, as an error code, for `stateRejected`.
    #[getter]
    fn code(&self) -> PyResult<Option<&str>> {
        guard(|| {
            Ok(match &self.0 {
                statesync::SyncEvent::StateRejected { code, .. } => Some(code.as_str()),
                _ => None,
            })
        })
    }

    /// The peer's node id, for sync events.
    #[getter]
    fn peer(&self) -> PyResult<Option<&str>> {
        guard(|| {
            use statesync::SyncEvent::*;
            Ok(match &self.0 {
                SyncStarted { peer } | SyncCompleted { peer } | SyncFailed { peer, .. } => Some(peer.as_str()),
                _ => None,
            })
        })
    }

    /// What went wrong, for `syncFailed` and `stateRejected`.
    #[getter]
    fn message(&self) -> PyResult<Option<&str>> {
        guard(|| {
            use statesync::SyncEvent::*;
            Ok(match &self.0 {
                SyncFailed { message, .. } | StateRejected { message, .. } => Some(message.as_str()),
                _ => None,
            })
        })
    }

    /// The status before, for `statusChanged`.
    #[getter]
    fn previous<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        guard(|| match &self.0 {
            statesync::SyncEvent::StatusChanged { previous, .. } => enums::status(py, *previous).map(Some),
            _ => Ok(None),
        })
    }

    /// The status after, for `statusChanged`.
    #[getter]
    fn current<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        guard(|| match &self.0 {
            statesync::SyncEvent::StatusChanged { current, .. } => enums::status(py, *current).map(Some),
            _ => Ok(None),
        })
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            use statesync::SyncEvent::*;
            let detail = match &self.0 {
                StateCreated(s) | StateUpdated(s) | StateDeleted(s) => format!("state_id={}", q(&s.id)),
                ConflictDetected(c) => format!("conflict_id={}, state_id={}", q(&c.conflict_id), q(&c.state_id)),
                ConflictResolved { conflict_id, state_id } => {
                    format!("conflict_id={}, state_id={}", q(conflict_id), q(state_id))
                }
                StateRejected { state_id, code, message } => {
                    format!("state_id={}, code={}, message={}", q(state_id), q(code), q(message))
                }
                SyncStarted { peer } | SyncCompleted { peer } => format!("peer={}", q(peer)),
                SyncFailed { peer, message } => format!("peer={}, message={}", q(peer), q(message)),
                StatusChanged { previous, current } => {
                    format!("previous={}, current={}", q(previous.as_str()), q(current.as_str()))
                }
            };
            Ok(format!("SyncEvent(name={}, {detail})", q(self.0.name())))
        })
    }
}

// ---- unpickling -----------------------------------------------------------------------------

fn from_json<T: serde::de::DeserializeOwned>(py: Python<'_>, text: &str) -> PyResult<T> {
    serde_json::from_str(text)
        .map_err(|e| to_py_plain(py, statesync::SyncError::Corrupt(format!("pickled value: {e}"))))
}

/// Rebuilds a pickled value (private: pickle's reconstructor).
#[pyfunction]
pub(crate) fn _unpickle<'py>(py: Python<'py>, kind: &str, payload: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    guard(|| {
        let state = |json: &str| -> PyResult<Arc<statesync::SyncState>> {
            statesync::SyncState::from_json(json).map(Arc::new).map_err(|e| to_py_plain(py, e))
        };
        Ok(match kind {
            "state" => Bound::new(py, PySyncState(state(&payload.extract::<String>()?)?))?.into_any(),
            "changeset" => wire::decode_change_set(py, payload, "json")?.into_pyobject(py)?.into_any(),
            "snapshot" => PySnapshot::from_json(py, payload)?.into_pyobject(py)?.into_any(),
            "operation" => {
                let op = from_json::<statesync::SyncOperation>(py, &payload.extract::<String>()?)?;
                Bound::new(py, PySyncOperation(op))?.into_any()
            }
            "conflict" => {
                let c = from_json::<statesync::SyncConflict>(py, &payload.extract::<String>()?)?;
                Bound::new(py, PySyncConflict(c))?.into_any()
            }
            "reconciliation" => {
                let r = from_json::<statesync::ReconciliationResult>(py, &payload.extract::<String>()?)?;
                Bound::new(py, PyReconciliationResult(r))?.into_any()
            }
            "report" => {
                let (pulled, pushed): (String, String) = payload.extract()?;
                let report = statesync::SyncReport { pulled: from_json(py, &pulled)?, pushed: from_json(py, &pushed)? };
                Bound::new(py, PySyncReport(report))?.into_any()
            }
            "rejection" => {
                let r = from_json::<statesync::Rejection>(py, &payload.extract::<String>()?)?;
                Bound::new(py, PyRejection(r))?.into_any()
            }
            "capabilities" => {
                let c = from_json::<SyncCapabilities>(py, &payload.extract::<String>()?)?;
                Bound::new(py, PyCapabilities(c))?.into_any()
            }
            "apply" => {
                let (outcome, resolved, s, conflict): (String, bool, String, Option<String>) = payload.extract()?;
                let outcome = outcome_from_name(&outcome).ok_or_else(|| invalid_input(py, "unknown outcome"))?;
                let conflict = conflict.map(|c| from_json::<statesync::SyncConflict>(py, &c)).transpose()?;
                let result = statesync::ApplyResult { outcome, state: state(&s)?, resolved, conflict };
                Bound::new(py, PyApplyResult(result))?.into_any()
            }
            "resolution" => {
                let resolution = match payload.extract::<String>()?.as_str() {
                    "local" => Resolution::Local,
                    "remote" => Resolution::Remote,
                    json => Resolution::Custom(from_json(py, json)?),
                };
                Bound::new(py, PyResolution(resolution))?.into_any()
            }
            other => return Err(invalid_input(py, format!("unknown pickled kind {other:?}"))),
        })
    })
}
