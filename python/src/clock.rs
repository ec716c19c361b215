//! `ManualClock`: the core's hand-moved wall clock, shared with the managers it is given to.

use crate::errors::guard;
use pyo3::prelude::*;
use std::sync::Arc;

/// A wall clock the application (or a test) moves by hand, in milliseconds.
#[pyclass(frozen, module = "statesync", name = "ManualClock")]
pub struct PyManualClock(pub Arc<statesync::ManualClock>);

#[pymethods]
impl PyManualClock {
    #[new]
    fn new(millis: u64) -> PyResult<Self> {
        guard(|| Ok(PyManualClock(Arc::new(statesync::ManualClock::new(millis)))))
    }

    /// Sets the reading (it may go backwards: the hybrid clock copes).
    fn set(&self, millis: u64) -> PyResult<()> {
        guard(|| {
            self.0.set(millis);
            Ok(())
        })
    }

    /// The current reading.
    fn now(&self) -> PyResult<u64> {
        guard(|| {
            use statesync::WallClock;
            Ok(self.0.now_millis())
        })
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| Ok(format!("ManualClock({})", self.now()?)))
    }

    fn __reduce__(&self) -> PyResult<()> {
        guard(|| {
            Err(pyo3::exceptions::PyTypeError::new_err(
                "cannot pickle ManualClock: it is shared with the managers using it",
            ))
        })
    }
}
