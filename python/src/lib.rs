//! The native module `statesync._native` of the Python package `statesync`: a thin layer of
//! conversions and error mapping over the core crate. The package's `__init__.py` re-exports
//! it; `statesync/__init__.pyi` is the contract.
//!
//! Threads: every call into the core releases the GIL (a manager call takes the manager's lock,
//! and may call a Python resolver from inside it, which needs the GIL); Python callbacks
//! re-attach for their call.
//!
//! Panics: the body of every export (each `#[pyfunction]`, `#[pymethods]` item and the module's
//! init) runs in `errors::guard`, and every core call in `errors::detached`, both over
//! `statesync::catch_panic`: a panic raises `InternalError` (code `INTERNAL`), never pyo3's
//! `PanicException`. A new export must do the same. The crate's `testing` feature adds
//! `SyncManager._panic_for_tests()`, with which `python/tests/test_api.py` proves it.

mod callbacks;
mod clock;
mod cloud;
mod enums;
mod errors;
mod http;
mod json;
mod manager;
mod pickle;
mod values;
mod wire;

use errors::guard;
use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    guard(|| {
        let py = m.py();
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        m.add("PROTOCOL_VERSION", statesync::PROTOCOL_VERSION)?;
        m.add("WIRE_FORMAT", statesync::WIRE_FORMAT)?;
        m.add("MAX_DATA_DEPTH", statesync::MAX_DATA_DEPTH)?;

        errors::register(m)?;
        enums::register(m)?;

        m.add_class::<values::PyTimestamp>()?;
        m.add_class::<values::PySyncState>()?;
        m.add_class::<values::PySyncOperation>()?;
        m.add_class::<values::PySyncConflict>()?;
        m.add_class::<values::PyApplyResult>()?;
        m.add_class::<values::PyReconciliationResult>()?;
        m.add_class::<values::PyRejectedState>()?;
        m.add_class::<values::PyRejection>()?;
        m.add_class::<values::PySyncReport>()?;
        m.add_class::<values::PyChangeSet>()?;
        m.add_class::<values::PySnapshot>()?;
        m.add_class::<values::PyCapabilities>()?;
        m.add_class::<values::PyResolution>()?;
        m.add_class::<values::PyDeleted>()?;
        m.add("DELETED", Bound::new(py, values::PyDeleted)?)?;
        m.add_class::<values::PySyncEvent>()?;
        m.add_class::<clock::PyManualClock>()?;
        m.add_class::<http::PyHttpTransport>()?;
        m.add_class::<cloud::PyEncryptionKey>()?;
        m.add_class::<cloud::PyBackupInfo>()?;
        m.add_class::<cloud::PyAutoBackup>()?;
        m.add_class::<cloud::PyObjectStoreTransport>()?;
        m.add_class::<manager::PySyncManager>()?;
        m.add_class::<manager::PySubscription>()?;

        m.add_function(wrap_pyfunction!(wire::encode_value, m)?)?;
        m.add_function(wrap_pyfunction!(wire::decode_state, m)?)?;
        m.add_function(wrap_pyfunction!(wire::decode_change_set, m)?)?;
        m.add_function(wrap_pyfunction!(wire::decode_page, m)?)?;
        m.add_function(wrap_pyfunction!(wire::decode_snapshot, m)?)?;
        m.add_function(wrap_pyfunction!(wire::decode_operations, m)?)?;
        m.add_function(wrap_pyfunction!(wire::compress, m)?)?;
        m.add_function(wrap_pyfunction!(wire::decompress, m)?)?;
        m.add_function(wrap_pyfunction!(wire::compare_clocks, m)?)?;
        m.add_function(wrap_pyfunction!(wire::merge_clocks, m)?)?;
        m.add_function(wrap_pyfunction!(wire::dominates, m)?)?;
        m.add_function(wrap_pyfunction!(wire::increment_clock, m)?)?;
        m.add_function(wrap_pyfunction!(cloud::list_backups, m)?)?;
        m.add_function(wrap_pyfunction!(cloud::verify_backup, m)?)?;
        m.add_function(wrap_pyfunction!(cloud::prune_backups, m)?)?;
        m.add_function(wrap_pyfunction!(manager::_rust_w1, m)?)?;
        let unpickle = wrap_pyfunction!(pickle::_unpickle, m)?;
        // pickle finds the reconstructor by its module and name.
        unpickle.setattr("__module__", "statesync._native")?;
        m.add_function(unpickle)?;
        // Not a module attribute: only the interpreter's exit calls it.
        let at_exit = wrap_pyfunction!(manager::_stop_auto_sync_at_exit, m)?;
        py.import("atexit")?.call_method1("register", (at_exit,))?;
        Ok(())
    })
}
