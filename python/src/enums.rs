//! `OperationKind`, `ConflictStrategy` and `Status`: real `enum.Enum` classes (made with the
//! functional API at import), converted by value at the boundary.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

static OPERATION_KIND: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CONFLICT_STRATEGY: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static STATUS: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The `OperationKind` members: the core's kinds, `CREATE` = `"create"`, ...
fn operation_kinds() -> Vec<(String, &'static str)> {
    statesync::OperationKind::ALL.iter().map(|k| (member_name(k.as_str()), k.as_str())).collect()
}

/// The `ConflictStrategy` members: the core's built-in strategies, each named in Python's
/// style after its core name (`mergeFields` → `MERGE_FIELDS`), with that name as its value.
fn strategies() -> Vec<(String, &'static str)> {
    statesync::ConflictStrategy::built_in().iter().map(|s| (member_name(s.name()), s.name())).collect()
}

/// A core name in camelCase as a Python enum member's name in UPPER_SNAKE_CASE.
fn member_name(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() && !out.is_empty() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The `Status` members: the core's statuses, `IDLE` = `"idle"`, ...
fn statuses() -> Vec<(String, &'static str)> {
    statesync::Status::ALL.iter().map(|s| (member_name(s.as_str()), s.as_str())).collect()
}

fn make<'py>(
    m: &Bound<'py, PyModule>,
    cell: &PyOnceLock<Py<PyType>>,
    name: &str,
    doc: &str,
    members: &[(impl AsRef<str>, &str)],
) -> PyResult<()> {
    let py = m.py();
    let kwargs = PyDict::new(py);
    kwargs.set_item("module", "statesync")?;
    kwargs.set_item("qualname", name)?;
    let members: Vec<(&str, &str)> = members.iter().map(|(name, value)| (name.as_ref(), *value)).collect();
    let class = py.import("enum")?.getattr("Enum")?.call((name, members), Some(&kwargs))?;
    class.setattr("__doc__", doc)?;
    let class = class.cast_into::<PyType>()?;
    let _ = cell.set(py, class.clone().unbind());
    m.add(name, class)
}

/// Creates the enum classes and adds them to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    make(m, &OPERATION_KIND, "OperationKind", "What a local write did.", &operation_kinds())?;
    make(
        m,
        &CONFLICT_STRATEGY,
        "ConflictStrategy",
        "How concurrent versions of a state are settled (a resolver callable is the custom strategy).",
        &strategies(),
    )?;
    make(m, &STATUS, "Status", "What a replica is doing.", &statuses())
}

fn member<'py>(py: Python<'py>, cell: &PyOnceLock<Py<PyType>>, value: &str) -> PyResult<Bound<'py, PyAny>> {
    let class = cell.get(py).expect("enums are registered at import").bind(py);
    class.call1((value,))
}

/// The `OperationKind` member of a core kind.
pub(crate) fn operation_kind(py: Python<'_>, kind: statesync::OperationKind) -> PyResult<Bound<'_, PyAny>> {
    member(py, &OPERATION_KIND, kind.as_str())
}

/// The `Status` member of a core status.
pub(crate) fn status(py: Python<'_>, status: statesync::Status) -> PyResult<Bound<'_, PyAny>> {
    member(py, &STATUS, status.as_str())
}

/// The name of a built-in strategy, if `obj` is a `ConflictStrategy` member.
pub(crate) fn strategy_name(obj: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    let class = CONFLICT_STRATEGY.get(obj.py()).expect("enums are registered at import").bind(obj.py());
    if obj.is_instance(class)? {
        Ok(Some(obj.getattr("value")?.extract()?))
    } else {
        Ok(None)
    }
}
