//! What applying and syncing did: `ApplyResult`, `ReconciliationResult` (with the refused
//! states, `RejectedState`), `Rejection` (a refusal recorded by this replica) and `SyncReport`.

use super::common::{hash_of, q, reduce};
use super::state::{PySyncConflict, PySyncState};
use crate::errors::guard;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

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
/// state's id, the error code (`INVALID_STATE`, ...), the message, and the version the refusing
/// peer keeps of the state when it said (`current`, what `SyncManager.revert_rejected` writes back).
#[pyclass(frozen, module = "statesync", name = "RejectedState")]
#[derive(PartialEq)]
pub struct PyRejectedState(pub statesync::RejectedState);

// The kept version (`current`) holds JSON data, which is compared but not hashed: equal values
// still hash alike, since the hash covers the other fields only.
impl Eq for PyRejectedState {}

impl std::hash::Hash for PyRejectedState {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (&self.0.id, &self.0.code, &self.0.message).hash(state);
    }
}

#[pymethods]
impl PyRejectedState {
    fn __eq__(&self, other: &Self) -> PyResult<bool> {
        guard(|| Ok(self == other))
    }

    fn __hash__(&self) -> PyResult<u64> {
        guard(|| Ok(hash_of(self)))
    }

    #[new]
    #[pyo3(signature = (id, code, message, current = None))]
    fn new(id: String, code: String, message: String, current: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        guard(|| {
            let mut refused = statesync::RejectedState::coded(&id, &code, message);
            refused.current = current.map(kept_state).transpose()?;
            Ok(PyRejectedState(refused))
        })
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

    /// The version the refusing peer keeps of the state, or `None` (it keeps none, or did not
    /// say): what `SyncManager.revert_rejected` writes back.
    #[getter]
    fn current(&self) -> PyResult<Option<PySyncState>> {
        guard(|| Ok(self.0.current.clone().map(PySyncState)))
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            let r = &self.0;
            // The kept version by its version number only: its data may be large.
            let current = match &r.current {
                Some(kept) => format!(", current=<version {}>", kept.version),
                None => String::new(),
            };
            Ok(format!("RejectedState(id={}, code={}, message={}{current})", q(&r.id), q(&r.code), q(&r.message)))
        })
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        guard(|| {
            let r = &slf.get().0;
            let current = r.current.clone().map(PySyncState);
            let args = (r.id.as_str(), r.code.as_str(), r.message.as_str(), current).into_pyobject(slf.py())?;
            PyTuple::new(slf.py(), [slf.get_type().into_any(), args.into_any()])
        })
    }
}

/// The kept version of a refusal as a Python transport or caller gives it: a `SyncState`, its
/// dict (either JSON form) or its wire JSON text; a malformed one is an `InvalidStateError`.
fn kept_state(obj: &Bound<'_, PyAny>) -> PyResult<std::sync::Arc<statesync::SyncState>> {
    let py = obj.py();
    if let Ok(state) = obj.cast::<PySyncState>() {
        return Ok(state.get().0.clone());
    }
    let parsed = if obj.is_instance_of::<pyo3::types::PyString>() || obj.is_instance_of::<pyo3::types::PyBytes>() {
        PySyncState::from_json(py, obj)?
    } else {
        PySyncState::from_dict(py, obj)?
    };
    Ok(parsed.0)
}

impl PyRejectedState {
    /// One item of the `rejections` a Python transport's `push` returned: a `RejectedState` or
    /// a mapping with str `id` and `code`, an optional str `message` and an optional `current`
    /// (the peer's kept version: a `SyncState`, its dict or its JSON text; `None` for none).
    fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<statesync::RejectedState> {
        if let Ok(r) = obj.cast::<PyRejectedState>() {
            return Ok(r.get().0.clone());
        }
        let text = |k: &str| -> PyResult<Option<String>> { optional_item(obj, k)?.map(|v| v.extract()).transpose() };
        let required = |k: &str| -> PyResult<String> {
            text(k)?.ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(format!("a rejection needs {k:?}")))
        };
        let mut refused =
            statesync::RejectedState::coded(&required("id")?, &required("code")?, text("message")?.unwrap_or_default());
        refused.current = match optional_item(obj, "current")? {
            Some(kept) if !kept.is_none() => Some(kept_state(&kept)?),
            _ => None,
        };
        Ok(refused)
    }
}

/// A refused state recorded durably by this replica until a later version of it goes through
/// (`SyncManager.rejections()`): a version a peer sent that this replica refused, or one of
/// this replica's own that a peer refused.
#[pyclass(frozen, module = "statesync", name = "Rejection")]
#[derive(PartialEq)]
pub struct PyRejection(pub statesync::Rejection);

// As for `RejectedState`: the kept version is compared, not hashed.
impl Eq for PyRejection {}

impl std::hash::Hash for PyRejection {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let r = &self.0;
        (&r.state_id, &r.code, &r.message, r.rejected_at, r.own).hash(state);
    }
}

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

    /// True when the refused version is one of this replica's own, refused by a peer (a hub):
    /// `SyncManager.revert_rejected` can undo it. False when this replica refused a peer's.
    #[getter]
    fn own(&self) -> PyResult<bool> {
        guard(|| Ok(self.0.own))
    }

    /// For one of this replica's own versions, the version the refusing peer keeps of the
    /// state, when it said; `None` otherwise (then reverting deletes the state here).
    #[getter]
    fn current(&self) -> PyResult<Option<PySyncState>> {
        guard(|| Ok(self.0.current.clone().map(PySyncState)))
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            let r = &self.0;
            let current = match &r.current {
                Some(kept) => format!(", current=<version {}>", kept.version),
                None => String::new(),
            };
            Ok(format!(
                "Rejection(state_id={}, code={}, message={}, rejected_at={}, own={}{current})",
                q(&r.state_id),
                q(&r.code),
                q(&r.message),
                r.rejected_at,
                if r.own { "True" } else { "False" }
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
