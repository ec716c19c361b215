//! `SyncEvent`: what subscribers receive.

use super::common::q;
use super::state::{PySyncConflict, PySyncState};
use crate::enums;
use crate::errors::guard;
use pyo3::prelude::*;

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
