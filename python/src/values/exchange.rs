//! What replicas exchange besides single states: `ChangeSet` (a page of the changes feed),
//! `Snapshot` (a replica's full content) and `Capabilities` (what a peer supports).

use super::common::{q, reduce, text_arg};
use super::state::{PySyncConflict, PySyncOperation, PySyncState};
use crate::errors::{guard, invalid_input, to_py_plain};
use crate::json::type_name;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use statesync::SyncCapabilities;
use std::sync::Arc;

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
    pub(crate) fn from_json(py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<PySnapshot> {
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
