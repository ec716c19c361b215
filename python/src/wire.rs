//! The wire functions: `encode`, `decode_*`, `compress`, `decompress`, and the vector clock
//! helpers. All of them release the GIL around the core's work.

use crate::errors::{guard, invalid_input, to_py_plain};
use crate::json::{clock_from_py, clock_to_py, type_name};
use crate::values::{PyChangeSet, PySnapshot, PySyncOperation, PySyncState};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict, PyList};
use statesync::{decode, encode, Encoding, PendingOperations, WireMessage};
use std::sync::Arc;

/// An encoding by its name (`"json"` or `"binary"`, the core's `Encoding::from_str`).
pub(crate) fn encoding(py: Python<'_>, name: &str) -> PyResult<Encoding> {
    name.parse().map_err(|e| to_py_plain(py, e))
}

fn bytes_arg(data: &Bound<'_, PyAny>) -> PyResult<PyBackedBytes> {
    data.extract::<PyBackedBytes>()
        .map_err(|_| invalid_input(data.py(), format!("expected bytes, not {}", type_name(data))))
}

/// Encodes a `SyncState`, `ChangeSet`, `Snapshot` or list of `SyncOperation`.
#[pyfunction]
#[pyo3(name = "encode", signature = (value, encoding = "json"))]
pub(crate) fn encode_value<'py>(
    py: Python<'py>,
    value: &Bound<'py, PyAny>,
    encoding: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    guard(|| {
        let enc = self::encoding(py, encoding)?;
        let bytes = if let Ok(s) = value.cast::<PySyncState>() {
            let s = s.get().0.clone();
            py.detach(move || encode(&*s, enc))
        } else if let Ok(c) = value.cast::<PyChangeSet>() {
            let c = c.get().0.clone();
            py.detach(move || encode(&c, enc))
        } else if let Ok(s) = value.cast::<PySnapshot>() {
            let s = s.get().0.clone();
            py.detach(move || encode(&*s, enc))
        } else if let Ok(list) = value.cast::<PyList>() {
            let mut ops = Vec::with_capacity(list.len());
            for item in list.iter() {
                let Ok(op) = item.cast::<PySyncOperation>() else {
                    return Err(invalid_input(
                        py,
                        format!("a list to encode holds SyncOperation, not {}", type_name(&item)),
                    ));
                };
                ops.push(op.get().0.clone());
            }
            py.detach(move || encode(&PendingOperations(ops), enc))
        } else {
            return Err(invalid_input(
                py,
                format!("cannot encode {}: SyncState, ChangeSet, Snapshot or list[SyncOperation]", type_name(value)),
            ));
        };
        Ok(PyBytes::new(py, &bytes))
    })
}

fn decode_as<T: WireMessage + Send>(py: Python<'_>, data: &Bound<'_, PyAny>, encoding: &str) -> PyResult<T> {
    let enc = self::encoding(py, encoding)?;
    let bytes = bytes_arg(data)?;
    py.detach(|| decode::<T>(&bytes, enc)).map_err(|e| to_py_plain(py, e))
}

/// Decodes a state.
#[pyfunction]
#[pyo3(signature = (data, encoding = "json"))]
pub(crate) fn decode_state(py: Python<'_>, data: &Bound<'_, PyAny>, encoding: &str) -> PyResult<PySyncState> {
    guard(|| Ok(PySyncState(Arc::new(decode_as(py, data, encoding)?))))
}

/// Decodes a change set.
#[pyfunction]
#[pyo3(signature = (data, encoding = "json"))]
pub(crate) fn decode_change_set(py: Python<'_>, data: &Bound<'_, PyAny>, encoding: &str) -> PyResult<PyChangeSet> {
    guard(|| Ok(PyChangeSet(decode_as(py, data, encoding)?)))
}

/// Decodes a change set received from a peer (a pulled or pushed page): its format and
/// structure are checked as `decode_change_set` checks them, but each state's validity is left
/// to the replica that applies it, which refuses an invalid state alone instead of the page.
#[pyfunction]
#[pyo3(signature = (data, encoding = "json"))]
pub(crate) fn decode_page(py: Python<'_>, data: &Bound<'_, PyAny>, encoding: &str) -> PyResult<PyChangeSet> {
    guard(|| {
        let enc = self::encoding(py, encoding)?;
        let bytes = bytes_arg(data)?;
        py.detach(|| statesync::decode_page(&bytes, enc)).map(PyChangeSet).map_err(|e| to_py_plain(py, e))
    })
}

/// Decodes a snapshot.
#[pyfunction]
#[pyo3(signature = (data, encoding = "json"))]
pub(crate) fn decode_snapshot(py: Python<'_>, data: &Bound<'_, PyAny>, encoding: &str) -> PyResult<PySnapshot> {
    guard(|| Ok(PySnapshot(Arc::new(decode_as(py, data, encoding)?))))
}

/// Decodes a list of pending operations.
#[pyfunction]
#[pyo3(signature = (data, encoding = "json"))]
pub(crate) fn decode_operations<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    encoding: &str,
) -> PyResult<Bound<'py, PyList>> {
    guard(|| {
        let ops: PendingOperations = decode_as(py, data, encoding)?;
        PyList::new(py, ops.0.into_iter().map(PySyncOperation))
    })
}

/// Compresses encoded bytes (one zstd frame).
#[pyfunction]
pub(crate) fn compress<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    guard(|| {
        let bytes = bytes_arg(data)?;
        let out = py.detach(|| statesync::compress(&bytes));
        Ok(PyBytes::new(py, &out))
    })
}

/// Decompresses what `compress` wrote (`CorruptError` for anything else).
#[pyfunction]
pub(crate) fn decompress<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    guard(|| {
        let bytes = bytes_arg(data)?;
        let out = py.detach(|| statesync::decompress(&bytes)).map_err(|e| to_py_plain(py, e))?;
        Ok(PyBytes::new(py, &out))
    })
}

/// How two vector clocks relate: `"equal"`, `"before"`, `"after"` or `"concurrent"`.
#[pyfunction]
pub(crate) fn compare_clocks(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<&'static str> {
    guard(|| {
        Ok(match clock_from_py(a)?.compare(&clock_from_py(b)?) {
            statesync::ClockOrdering::Equal => "equal",
            statesync::ClockOrdering::Before => "before",
            statesync::ClockOrdering::After => "after",
            statesync::ClockOrdering::Concurrent => "concurrent",
        })
    })
}

/// The entry-wise maximum of two vector clocks.
#[pyfunction]
pub(crate) fn merge_clocks<'py>(a: &Bound<'py, PyAny>, b: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    guard(|| clock_to_py(a.py(), &clock_from_py(a)?.merged(&clock_from_py(b)?)))
}

/// True when `a` has seen every write `b` has (`a >= b` entry-wise).
#[pyfunction]
pub(crate) fn dominates(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<bool> {
    guard(|| Ok(clock_from_py(a)?.dominates(&clock_from_py(b)?)))
}

/// Adds one to `node`'s counter of a vector clock: the new clock (a fresh dict; the argument is
/// left as it was) and the new counter, as `(clock, counter)`.
#[pyfunction]
pub(crate) fn increment_clock<'py>(clock: &Bound<'py, PyAny>, node: &str) -> PyResult<(Bound<'py, PyDict>, u64)> {
    guard(|| {
        let mut incremented = clock_from_py(clock)?;
        let counter = incremented.increment(node);
        Ok((clock_to_py(clock.py(), &incremented)?, counter))
    })
}
