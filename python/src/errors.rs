//! The exception hierarchy (`SyncError` and one subclass per core code) and the conversions of
//! errors in both directions, keeping the cause chain.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyType;
use statesync::ErrorCode;
use std::cell::RefCell;

create_exception!(
    statesync,
    SyncError,
    PyException,
    "Base of every statesync error. `.code` is the stable code (`NOT_FOUND`, ...), `.message` the message without its prefix."
);
create_exception!(
    statesync,
    NotFoundError,
    SyncError,
    "NOT_FOUND: the state or conflict does not exist (or is deleted)."
);
create_exception!(statesync, AlreadyExistsError, SyncError, "ALREADY_EXISTS: a live state with this id exists.");
create_exception!(statesync, InvalidStateError, SyncError, "INVALID_STATE: a state is malformed or inconsistent.");
create_exception!(statesync, InvalidInputError, SyncError, "INVALID_INPUT: an argument is malformed.");
create_exception!(statesync, ConflictError, SyncError, "CONFLICT: a conflict could not be settled.");
create_exception!(statesync, ResolverError, SyncError, "RESOLVER: the custom conflict resolver failed.");
create_exception!(statesync, StorageError, SyncError, "STORAGE: the durable store failed; nothing was applied.");
create_exception!(statesync, CorruptError, SyncError, "CORRUPT: stored or imported bytes are damaged.");
create_exception!(statesync, UnsupportedFormatError, SyncError, "UNSUPPORTED_FORMAT: an unknown format version.");
create_exception!(statesync, TransportError, SyncError, "TRANSPORT: the sync peer could not be reached.");
create_exception!(statesync, UnauthorizedError, SyncError, "UNAUTHORIZED: the sync peer refused the credentials.");
create_exception!(
    statesync,
    ForbiddenError,
    SyncError,
    "FORBIDDEN: the sync peer grants the credentials no access to what was asked (a hub space)."
);
create_exception!(
    statesync,
    CryptoError,
    SyncError,
    "CRYPTO: an encrypted object does not open: a wrong or missing key, or its bytes were changed."
);
create_exception!(statesync, ClosedError, SyncError, "CLOSED: the manager was closed.");
create_exception!(
    statesync,
    InternalError,
    SyncError,
    "INTERNAL: a bug in statesync (a panic, caught at the boundary); the replica stays usable."
);

/// The exception class of a code. An exhaustive match: a code the core adds does not compile
/// here until it has its class. (The codes themselves are the core's `ErrorCode`.)
fn class_of(py: Python<'_>, code: ErrorCode) -> Bound<'_, PyType> {
    match code {
        ErrorCode::NotFound => py.get_type::<NotFoundError>(),
        ErrorCode::AlreadyExists => py.get_type::<AlreadyExistsError>(),
        ErrorCode::InvalidState => py.get_type::<InvalidStateError>(),
        ErrorCode::InvalidInput => py.get_type::<InvalidInputError>(),
        ErrorCode::Conflict => py.get_type::<ConflictError>(),
        ErrorCode::Resolver => py.get_type::<ResolverError>(),
        ErrorCode::Storage => py.get_type::<StorageError>(),
        ErrorCode::Corrupt => py.get_type::<CorruptError>(),
        ErrorCode::UnsupportedFormat => py.get_type::<UnsupportedFormatError>(),
        ErrorCode::Unauthorized => py.get_type::<UnauthorizedError>(),
        ErrorCode::Forbidden => py.get_type::<ForbiddenError>(),
        ErrorCode::Crypto => py.get_type::<CryptoError>(),
        ErrorCode::Transport => py.get_type::<TransportError>(),
        ErrorCode::Closed => py.get_type::<ClosedError>(),
        ErrorCode::Internal => py.get_type::<InternalError>(),
    }
}

/// Adds the classes to the module. Each carries its code as a class attribute too, so an
/// exception the application raises itself (`NotFoundError("gone")` in a transport) has one;
/// a bare `SyncError` an application raises is `TRANSPORT`, as any other transport failure.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let base = py.get_type::<SyncError>();
    base.setattr("code", ErrorCode::Transport.as_str())?;
    m.add("SyncError", base)?;
    for code in ErrorCode::ALL {
        let class = class_of(py, code);
        class.setattr("code", code.as_str())?;
        m.add(class.name()?, class)?;
    }
    Ok(())
}

thread_local! {
    /// The Python exception a callback (resolver, transport) raised on this thread during the
    /// current call: it becomes the `__cause__` of the error that call raises.
    static CAUSE: RefCell<Option<PyErr>> = const { RefCell::new(None) };
}

/// Keeps the exception a callback raised, for the error its call will raise. Call attached.
pub(crate) fn remember_cause(err: PyErr) {
    // Replacing drops the previous exception here, attached: fine.
    CAUSE.with(|c| *c.borrow_mut() = Some(err));
}

/// Forgets a remembered exception (at the start and the end of every call). Call attached.
pub(crate) fn clear_cause() {
    let old = CAUSE.with(|c| c.borrow_mut().take());
    drop(old);
}

fn take_cause() -> Option<PyErr> {
    CAUSE.with(|c| c.borrow_mut().take())
}

/// The exception of a core error: its class by code, `str()` the core's message (with the
/// source chain of storage errors), `.code`, `.message`, and as `__cause__` the Python exception
/// a callback raised during the call, if any.
pub(crate) fn to_py(py: Python<'_>, error: statesync::SyncError) -> PyErr {
    let cause = take_cause();
    build(py, &error, cause)
}

/// As [`to_py`], without looking for a callback's exception.
pub(crate) fn to_py_plain(py: Python<'_>, error: statesync::SyncError) -> PyErr {
    build(py, &error, None)
}

/// An `InvalidInputError` for a bad argument.
pub(crate) fn invalid_input(py: Python<'_>, message: impl Into<String>) -> PyErr {
    build(py, &statesync::SyncError::InvalidInput(message.into()), None)
}

/// An `InvalidInputError` caused by a Python exception (a failed conversion).
pub(crate) fn invalid_input_from(py: Python<'_>, message: impl Into<String>, cause: PyErr) -> PyErr {
    build(py, &statesync::SyncError::InvalidInput(message.into()), Some(cause))
}

fn build(py: Python<'_>, error: &statesync::SyncError, cause: Option<PyErr>) -> PyErr {
    let code = error.error_code();
    // The Rust source chain (SQLite, I/O) goes into the texts: Python cannot hold it.
    let err = PyErr::from_type(class_of(py, code), (error.text_with_causes(),));
    let value = err.value(py);
    // Setting attributes on a fresh exception instance cannot fail short of memory errors.
    let _ = value.setattr("code", code.as_str());
    let _ = value.setattr("message", error.message_with_causes());
    if let Some(cause) = cause {
        err.set_cause(py, Some(cause));
    }
    err
}

/// The core error for an exception a Python callback raised (a transport): a `SyncError`
/// keeps its code and message, anything else is `code_for_others` with the exception's type
/// and text. The exception is remembered as the cause of what the call finally raises.
pub(crate) fn from_py(py: Python<'_>, err: PyErr, others: fn(String) -> statesync::SyncError) -> statesync::SyncError {
    let value = err.value(py);
    let converted = if err.is_instance_of::<SyncError>(py) {
        let code = value
            .getattr("code")
            .and_then(|c| c.extract::<String>())
            .unwrap_or_else(|_| ErrorCode::Transport.as_str().into());
        let message = value
            .getattr("message")
            .and_then(|m| m.extract::<String>())
            .or_else(|_| value.str().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_default();
        statesync::SyncError::from_code(&code, message)
    } else {
        others(describe(py, &err))
    };
    remember_cause(err);
    converted
}

/// `TypeName: text` of an exception.
pub(crate) fn describe(py: Python<'_>, err: &PyErr) -> String {
    let name = err.get_type(py).qualname().map(|n| n.to_string()).unwrap_or_else(|_| "Exception".into());
    let text = err.value(py).str().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    if text.is_empty() {
        name
    } else {
        format!("{name}: {text}")
    }
}

/// Runs the body of an export (every `#[pyfunction]` and `#[pymethods]` item goes through it):
/// a panic inside becomes `InternalError` (code `INTERNAL`) through the core's
/// [`statesync::catch_panic`], instead of pyo3's `PanicException`, a `BaseException` that an
/// application's `except Exception` (or `except SyncError`) would not catch.
///
/// Exports are called attached to the interpreter; a panic leaves no callback's exception
/// behind for a later call to take as its cause.
pub(crate) fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match statesync::catch_panic(|| Ok(f())) {
        Ok(result) => result,
        Err(error) => Err(Python::attach(|py| {
            clear_cause();
            to_py_plain(py, error)
        })),
    }
}

/// Runs a core call with the GIL released (every call into the manager takes its lock, and a
/// resolver called inside it must be able to take the GIL), mapping its error. A panic in the
/// call is caught right there, detached, as `INTERNAL` (see [`guard`]): it never unwinds
/// through the re-attachment, and the call's remembered exception is dropped as usual.
///
/// A call made from inside another (a listener or resolver calling the manager) keeps the outer
/// call's remembered exception; an outermost call starts with none.
pub(crate) fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> statesync::Result<T> + Send) -> PyResult<T> {
    let outer = take_cause();
    let nesting = Nesting::enter();
    let result = py.detach(|| statesync::catch_panic(f));
    let result = result.map_err(|e| to_py(py, e));
    clear_cause();
    if nesting.is_nested() {
        if let Some(outer) = outer {
            remember_cause(outer);
        }
    }
    result
}

thread_local! {
    /// How many [`detached`] calls are running on this thread.
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts a running [`detached`] call; the count drops even if the call panics.
struct Nesting(usize);

impl Nesting {
    fn enter() -> Nesting {
        Nesting(DEPTH.with(|d| d.replace(d.get() + 1)))
    }

    fn is_nested(&self) -> bool {
        self.0 > 0
    }
}

impl Drop for Nesting {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(self.0));
    }
}
