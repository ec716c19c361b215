//! Unpickling of the value classes: each value's `__reduce__` names `_unpickle(kind, payload)`
//! with its wire JSON (see `values::common::reduce`). A module of its own, above `values` and
//! `wire`, so that neither of those imports the other's users.

use crate::cloud::PyBackupInfo;
use crate::errors::{guard, invalid_input, to_py_plain};
use crate::values::{
    PyApplyResult, PyCapabilities, PyReconciliationResult, PyRejection, PyResolution, PySnapshot, PySyncConflict,
    PySyncOperation, PySyncReport, PySyncState,
};
use crate::wire;
use pyo3::prelude::*;
use statesync::{ApplyOutcome, Resolution, SyncCapabilities};
use std::sync::Arc;

/// An `ApplyOutcome` from its name (`ApplyResult.outcome`), as `__reduce__` wrote it.
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

/// A pickled value's JSON payload (`CorruptError` if it does not parse).
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
            "backup_info" => {
                let info = from_json::<statesync::BackupInfo>(py, &payload.extract::<String>()?)?;
                Bound::new(py, PyBackupInfo(info))?.into_any()
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
