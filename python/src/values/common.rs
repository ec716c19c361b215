//! What every value class shares: Python-style `repr()` texts, `hash()`, text arguments and the
//! pickling protocol (`__reduce__` through `statesync._native._unpickle`, see the module `pickle`).

use crate::errors::{invalid_input, to_py_plain};
use crate::json::{to_py, type_name};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};
use pyo3::BoundObject;
use std::hash::{DefaultHasher, Hash, Hasher};

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
pub(crate) fn py_repr(value: &Bound<'_, PyAny>) -> String {
    value.repr().map(|r| r.to_string()).unwrap_or_else(|_| "...".into())
}

/// `repr()` of JSON data as Python shows it.
pub(crate) fn data_repr(py: Python<'_>, value: &serde_json::Value) -> String {
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
pub(crate) fn hash_of(value: &impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// The private unpickling function of the values, looked up by pickle as `statesync._native._unpickle`.
pub(crate) fn unpickler(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    py.import("statesync._native")?.getattr("_unpickle")
}

/// The `__reduce__` tuple of a value: `_unpickle(kind, payload)` rebuilds it.
pub(crate) fn reduce<'py>(
    py: Python<'py>,
    kind: &str,
    payload: impl IntoPyObject<'py>,
) -> PyResult<Bound<'py, PyTuple>> {
    let payload = payload.into_pyobject(py).map_err(Into::into)?.into_any().into_bound();
    PyTuple::new(py, [unpickler(py)?, PyTuple::new(py, [PyString::new(py, kind).into_any(), payload])?.into_any()])
}
