//! `HttpTransport`: the core's client of the HTTP sync protocol.

use crate::errors::{guard, invalid_input, to_py_plain};
use crate::wire::encoding;
use pyo3::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The built-in client of the HTTP sync protocol (docs/protocol.md).
#[pyclass(frozen, module = "statesync", name = "HttpTransport")]
pub struct PyHttpTransport(pub Arc<statesync::HttpTransport>);

#[pymethods]
impl PyHttpTransport {
    #[new]
    #[pyo3(signature = (base_url, *, headers = None, timeout = 30.0, encoding = "binary", compress = true))]
    fn new(
        py: Python<'_>,
        base_url: &str,
        headers: Option<HashMap<String, String>>,
        timeout: f64,
        encoding: &str,
        compress: bool,
    ) -> PyResult<Self> {
        guard(|| {
            let enc = self::encoding(py, encoding)?;
            let timeout = Duration::try_from_secs_f64(timeout).ok().filter(|d| !d.is_zero()).ok_or_else(|| {
                invalid_input(py, format!("timeout must be a positive number of seconds, not {timeout}"))
            })?;
            let mut transport = statesync::HttpTransport::new(base_url).map_err(|e| to_py_plain(py, e))?;
            let mut headers: Vec<(String, String)> = headers.unwrap_or_default().into_iter().collect();
            headers.sort();
            for (name, value) in &headers {
                transport = transport.header(name, value);
            }
            Ok(PyHttpTransport(Arc::new(transport.timeout(timeout).encoding(enc).compress(compress))))
        })
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| Ok(format!("HttpTransport({})", crate::values::q(self.0.base_url()))))
    }

    fn __reduce__(&self) -> PyResult<()> {
        guard(|| Err(pyo3::exceptions::PyTypeError::new_err("cannot pickle HttpTransport")))
    }
}
