//! Python objects ⇄ `serde_json::Value`: dict (str keys), list/tuple, str, int, float, bool,
//! None. Anything else, ints beyond 64 bits, non-finite floats and non-str keys are
//! `InvalidInputError` (the core refuses ints beyond ±(2^53 - 1) in data, naming them). Nesting is bounded, so a 100,000-deep list raises instead of
//! overflowing the stack (the core's own limit, `MAX_DATA_DEPTH`, is lower still).

use crate::errors::{invalid_input, invalid_input_from};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};
use statesync::VectorClock;
use std::collections::BTreeMap;

/// Deepest nesting converted: deep enough for a state's JSON form holding a mergeFields
/// history of maximally deep data, shallow enough for any thread's stack.
pub(crate) const MAX_CONVERT_DEPTH: usize = 2 * statesync::MAX_DATA_DEPTH + 16;

/// Converts a Python value to JSON.
pub(crate) fn to_value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    convert(obj, 0)
}

fn convert(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    let py = obj.py();
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: bool is a subclass of int.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::Number(u.into()));
        }
        return Err(invalid_input(
            py,
            format!("the integer {obj} does not fit in 64 bits (data holds integers up to ±(2^53 - 1))"),
        ));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        return Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| invalid_input(py, format!("{v} is not a JSON number (NaN and infinities are not)")));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return string(s).map(Value::String);
    }
    let nested = obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() || obj.is_instance_of::<PyDict>();
    if nested && depth >= MAX_CONVERT_DEPTH {
        return Err(invalid_input(py, format!("data nests lists and dicts more than {MAX_CONVERT_DEPTH} deep")));
    }
    if let Ok(list) = obj.cast::<PyList>() {
        let mut out = Vec::with_capacity(list.len());
        for item in list.iter() {
            out.push(convert(&item, depth + 1)?);
        }
        return Ok(Value::Array(out));
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        let mut out = Vec::with_capacity(tuple.len());
        for item in tuple.iter() {
            out.push(convert(&item, depth + 1)?);
        }
        return Ok(Value::Array(out));
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut out = Map::new();
        for (key, item) in dict.iter() {
            let Ok(key) = key.cast::<PyString>() else {
                let kind = type_name(&key);
                return Err(invalid_input(py, format!("dict keys must be str, not {kind}")));
            };
            out.insert(string(key)?, convert(&item, depth + 1)?);
        }
        return Ok(Value::Object(out));
    }
    Err(invalid_input(
        py,
        format!("{} is not a JSON value (dict, list, str, int, float, bool or None)", type_name(obj)),
    ))
}

fn string(s: &Bound<'_, PyString>) -> PyResult<String> {
    s.extract::<String>().map_err(|e| invalid_input_from(s.py(), "a str that is not valid Unicode text", e))
}

/// The name of an object's type, for messages.
pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().qualname().map(|n| n.to_string()).unwrap_or_else(|_| "object".into())
}

/// Converts JSON to Python objects: objects become dicts, arrays lists, integers ints and
/// other numbers floats.
pub(crate) fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// A vector clock as a dict `node → counter`.
pub(crate) fn clock_to_py<'py>(py: Python<'py>, clock: &VectorClock) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (node, counter) in clock.iter() {
        dict.set_item(node, counter)?;
    }
    Ok(dict)
}

/// A vector clock from a mapping `node → counter` (non-negative ints below 2^64).
pub(crate) fn clock_from_py(obj: &Bound<'_, PyAny>) -> PyResult<VectorClock> {
    let py = obj.py();
    let items = obj
        .call_method0("items")
        .map_err(|e| invalid_input_from(py, "a vector clock is a mapping of str to int", e))?;
    let mut map = BTreeMap::new();
    for item in items.try_iter()? {
        let (node, counter): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
        let Ok(node) = node.cast::<PyString>() else {
            return Err(invalid_input(py, format!("clock keys must be str, not {}", type_name(&node))));
        };
        if counter.is_instance_of::<PyBool>() || !counter.is_instance_of::<PyInt>() {
            return Err(invalid_input(py, format!("clock counters must be int, not {}", type_name(&counter))));
        }
        let counter = counter
            .extract::<u64>()
            .map_err(|e| invalid_input_from(py, format!("clock counter {counter} is not in 0..2^64"), e))?;
        map.insert(string(node)?, counter);
    }
    Ok(VectorClock::from(map))
}
