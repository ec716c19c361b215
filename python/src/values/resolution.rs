//! What a resolver returns: `Resolution` (for manual conflicts) and the `DELETED` marker.

use super::common::{data_repr, reduce};
use crate::errors::guard;
use crate::json::to_value;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use statesync::Resolution;

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
