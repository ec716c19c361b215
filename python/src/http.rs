//! `HttpTransport`: the core's client of the HTTP sync protocol.

use crate::errors::{guard, invalid_input, to_py_plain};
use crate::wire::encoding;
use pyo3::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The built-in client of the HTTP sync protocol (docs/protocol.md): `space` names the hub space
/// synced with (docs/design.md §10; an invalid id is `InvalidInputError`), `token` is sent as
/// `Authorization: Bearer <token>` (the hub's shared token or a JWT).
#[pyclass(frozen, module = "statesync", name = "HttpTransport")]
pub struct PyHttpTransport(pub Arc<statesync::HttpTransport>);

#[pymethods]
impl PyHttpTransport {
    #[new]
    #[pyo3(signature = (base_url, *, space = None, token = None, headers = None, timeout = 30.0, encoding = "binary", compress = true))]
    #[allow(clippy::too_many_arguments)] // Python's keyword arguments
    fn new(
        py: Python<'_>,
        base_url: &str,
        space: Option<&str>,
        token: Option<&str>,
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
            if let Some(space) = space {
                // The core checks the space id (INVALID_INPUT), as for every binding.
                transport = transport.space(space).map_err(|e| to_py_plain(py, e))?;
            }
            let mut headers: Vec<(String, String)> = headers.unwrap_or_default().into_iter().collect();
            headers.sort();
            for (name, value) in &headers {
                transport = transport.header(name, value);
            }
            // After the headers: an explicit token wins over an `Authorization` among them.
            if let Some(token) = token {
                transport = transport.token(token);
            }
            Ok(PyHttpTransport(Arc::new(transport.timeout(timeout).encoding(enc).compress(compress))))
        })
    }

    /// The hub space synced with (`/v1/spaces/{space}/...`), or `None`: the hub's `default`
    /// space, through the `/v1/...` routes.
    #[getter]
    fn space(&self) -> PyResult<Option<&str>> {
        guard(|| Ok(self.0.space_id()))
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            let url = crate::values::q(self.0.base_url());
            Ok(match self.0.space_id() {
                Some(space) => format!("HttpTransport({url}, space={})", crate::values::q(space)),
                None => format!("HttpTransport({url})"),
            })
        })
    }

    fn __reduce__(&self) -> PyResult<()> {
        guard(|| Err(pyo3::exceptions::PyTypeError::new_err("cannot pickle HttpTransport")))
    }
}
