//! Object storage (the core's feature `cloud`, docs/backups.md): `EncryptionKey`, `BackupInfo`,
//! `AutoBackup`, `ObjectStoreTransport` and the package functions `list_backups`,
//! `verify_backup` and `prune_backups`. Every call that reaches a store, or derives a key with
//! Argon2id, runs with the GIL released (see [`detached`]); the manager's `backup`,
//! `restore_backup` and `start_auto_backup` live with the manager.

use crate::errors::{detached, guard, invalid_input, to_py_plain};
use crate::json::type_name;
use crate::values::q;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyString, PyTuple};
use statesync::{AutoBackup, BackupInfo, EncryptionKey, ObjectStoreTransport};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bytes given as `bytes` (or `bytearray`); anything else is `InvalidInputError` naming `what`.
fn bytes_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<PyBackedBytes> {
    obj.extract::<PyBackedBytes>()
        .map_err(|_| invalid_input(obj.py(), format!("{what} must be bytes, not {}", type_name(obj))))
}

/// A salt given as `bytes` or `str` (its UTF-8 bytes, as the golden vectors spell theirs).
fn salt_arg(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if obj.is_instance_of::<PyString>() {
        return Ok(obj.extract::<String>()?.into_bytes());
    }
    Ok(bytes_arg(obj, "salt")?.to_vec())
}

/// A duration given in seconds: finite and non-negative (`positive`: above zero too), else
/// `InvalidInputError` naming `what`.
pub(crate) fn seconds(py: Python<'_>, secs: f64, what: &str, positive: bool) -> PyResult<Duration> {
    let kind = if positive { "a positive" } else { "a non-negative" };
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !positive || !d.is_zero())
        .ok_or_else(|| invalid_input(py, format!("{what} must be {kind} number of seconds, not {secs}")))
}

/// The core key of an optional `key=` argument.
pub(crate) fn key_arg(key: Option<&Bound<'_, PyEncryptionKey>>) -> Option<EncryptionKey> {
    key.map(|k| k.get().0.clone())
}

// ---- EncryptionKey --------------------------------------------------------------------------

/// A 256-bit key sealing stored objects with XChaCha20-Poly1305 (docs/encryption.md), from raw
/// bytes or a passphrase (Argon2id). Opaque: it never shows or gives back its bytes.
#[pyclass(frozen, module = "statesync", name = "EncryptionKey")]
pub struct PyEncryptionKey(pub EncryptionKey);

#[pymethods]
impl PyEncryptionKey {
    /// A key of exactly 32 bytes (`os.urandom(32)`, or from a key manager); any other length is
    /// `InvalidInputError`.
    #[staticmethod]
    fn from_bytes(key: &Bound<'_, PyAny>) -> PyResult<Self> {
        guard(|| {
            let bytes = bytes_arg(key, "key")?;
            EncryptionKey::from_bytes(&bytes).map(PyEncryptionKey).map_err(|e| to_py_plain(key.py(), e))
        })
    }

    /// A key derived from a passphrase and a salt (8 to 64 bytes; a `str` is its UTF-8 bytes)
    /// with Argon2id at the core's defaults, which every sealed object records. The same
    /// passphrase and salt give the same key everywhere. Runs with the GIL released.
    #[staticmethod]
    fn from_passphrase(py: Python<'_>, passphrase: &str, salt: &Bound<'_, PyAny>) -> PyResult<Self> {
        guard(|| {
            let salt = salt_arg(salt)?;
            detached(py, || EncryptionKey::from_passphrase(passphrase, &salt)).map(PyEncryptionKey)
        })
    }

    /// `data` sealed as the object `name` under a fresh random nonce.
    fn encrypt<'py>(&self, py: Python<'py>, name: &str, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        guard(|| {
            let data = bytes_arg(data, "data")?;
            let sealed = detached(py, || self.0.seal(name, &data))?;
            Ok(PyBytes::new(py, &sealed))
        })
    }

    /// The plaintext of `data` sealed as the object `name`: `CryptoError` for another key, name
    /// or any changed bit.
    fn decrypt<'py>(&self, py: Python<'py>, name: &str, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        guard(|| {
            let data = bytes_arg(data, "data")?;
            let opened = detached(py, || self.0.open(name, &data))?;
            Ok(PyBytes::new(py, &opened))
        })
    }

    fn __repr__(&self) -> PyResult<String> {
        // The core's Debug names how the key was made, never its bytes.
        guard(|| Ok(format!("{:?}", self.0)))
    }

    fn __reduce__(&self) -> PyResult<()> {
        guard(|| Err(PyTypeError::new_err("cannot pickle EncryptionKey: keys are never written out")))
    }
}

// ---- BackupInfo ------------------------------------------------------------------------------

/// What a backup holds, as its manifest says.
#[pyclass(frozen, module = "statesync", name = "BackupInfo")]
#[derive(PartialEq)]
pub struct PyBackupInfo(pub BackupInfo);

#[pymethods]
impl PyBackupInfo {
    fn __eq__(&self, other: &Self) -> PyResult<bool> {
        guard(|| Ok(self == other))
    }

    fn __hash__(&self) -> PyResult<u64> {
        // Ids are unique per storage; the checksum tells two storages' copies apart.
        guard(|| Ok(crate::values::hash_of(&(&self.0.id, &self.0.sha256))))
    }

    /// `backup-<UTC yyyymmddThhmmssZ>-<8 hex>`.
    #[getter]
    fn id(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.id.as_str()))
    }

    /// When it was written, in milliseconds since the Unix epoch.
    #[getter]
    fn created_at(&self) -> PyResult<i64> {
        guard(|| Ok(self.0.created_at))
    }

    /// The application's label, if it gave one.
    #[getter]
    fn label(&self) -> PyResult<Option<&str>> {
        guard(|| Ok(self.0.label.as_deref()))
    }

    /// States in it, tombstones included.
    #[getter]
    fn states(&self) -> PyResult<u64> {
        guard(|| Ok(self.0.states))
    }

    /// Bytes stored, all parts together.
    #[getter]
    fn bytes(&self) -> PyResult<u64> {
        guard(|| Ok(self.0.bytes))
    }

    /// Number of parts.
    #[getter]
    fn parts(&self) -> PyResult<u32> {
        guard(|| Ok(self.0.parts))
    }

    /// SHA-256 (hex) of the compressed snapshot, before encryption and splitting.
    #[getter]
    fn sha256(&self) -> PyResult<&str> {
        guard(|| Ok(self.0.sha256.as_str()))
    }

    /// Whether its parts are sealed with a key.
    #[getter]
    fn encrypted(&self) -> PyResult<bool> {
        guard(|| Ok(self.0.encrypted))
    }

    fn __repr__(&self) -> PyResult<String> {
        guard(|| {
            let label = self.0.label.as_deref().map(q).unwrap_or_else(|| "None".into());
            Ok(format!(
                "BackupInfo(id={}, created_at={}, label={label}, states={}, bytes={}, parts={}, encrypted={})",
                q(&self.0.id),
                self.0.created_at,
                self.0.states,
                self.0.bytes,
                self.0.parts,
                if self.0.encrypted { "True" } else { "False" }
            ))
        })
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        guard(|| {
            let json = serde_json::to_string(&self.0).map_err(|e| PyTypeError::new_err(e.to_string()))?;
            crate::values::reduce(py, "backup_info", json)
        })
    }
}

// ---- AutoBackup ------------------------------------------------------------------------------

/// A running auto-backup (`SyncManager.start_auto_backup`): stopped by `stop()`, by leaving its
/// `with` block, or when it is garbage-collected.
#[pyclass(frozen, module = "statesync", name = "AutoBackup")]
pub struct PyAutoBackup(pub Mutex<AutoBackup>);

impl PyAutoBackup {
    /// Runs `f` on the handle with the GIL released: `stop` holds the lock while it waits for
    /// a backup in progress, and a reader must not wait for it holding the GIL.
    fn with<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut AutoBackup) -> T + Send) -> T {
        py.detach(|| f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner())))
    }
}

#[pymethods]
impl PyAutoBackup {
    /// Stops it, waiting for a backup in progress to finish. Idempotent.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        guard(|| {
            self.with(py, AutoBackup::stop);
            Ok(())
        })
    }

    /// The newest backup it wrote, if any.
    #[getter]
    fn last_backup(&self, py: Python<'_>) -> PyResult<Option<PyBackupInfo>> {
        guard(|| Ok(self.with(py, |a| a.last_backup()).map(PyBackupInfo)))
    }

    /// `(code, message)` of the last run's failure, if the last run failed (it is retried at
    /// the next interval).
    #[getter]
    fn last_error(&self, py: Python<'_>) -> PyResult<Option<(String, String)>> {
        guard(|| Ok(self.with(py, |a| a.last_error())))
    }

    /// How many runs finished, well or not.
    #[getter]
    fn runs(&self, py: Python<'_>) -> PyResult<u64> {
        guard(|| Ok(self.with(py, |a| a.runs())))
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        guard(|| Ok(slf))
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<()> {
        guard(|| self.stop(py))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        guard(|| Ok(format!("AutoBackup(runs={})", self.with(py, |a| a.runs()))))
    }

    fn __reduce__(&self) -> PyResult<()> {
        guard(|| Err(PyTypeError::new_err("cannot pickle AutoBackup: it is a running thread")))
    }
}

// ---- ObjectStoreTransport --------------------------------------------------------------------

/// Sync through a storage URL with no server (docs/backups.md): usable wherever an
/// `HttpTransport` is (`SyncManager.sync`, `start_auto_sync`). Every replica of the bucket must
/// use the same key (or none).
#[pyclass(frozen, module = "statesync", name = "ObjectStoreTransport")]
pub struct PyObjectStoreTransport(pub Arc<ObjectStoreTransport>);

#[pymethods]
impl PyObjectStoreTransport {
    #[new]
    #[pyo3(signature = (url, key = None))]
    fn new(py: Python<'_>, url: &str, key: Option<&Bound<'_, PyEncryptionKey>>) -> PyResult<Self> {
        guard(|| {
            // Opening contacts nothing (the first sync does): no need to release the GIL.
            let transport = ObjectStoreTransport::open(url, key_arg(key)).map_err(|e| to_py_plain(py, e))?;
            Ok(PyObjectStoreTransport(Arc::new(transport)))
        })
    }

    /// Compacts the segments pushed since the newest snapshot into a new one. `False` when
    /// there was nothing to do, or another replica compacted at the same time.
    fn compact(&self, py: Python<'_>) -> PyResult<bool> {
        guard(|| detached(py, || self.0.compact()))
    }

    fn __repr__(&self) -> PyResult<String> {
        // The core's Debug shows the URL without its query (where credentials may be).
        guard(|| Ok(format!("{:?}", self.0)))
    }

    fn __reduce__(&self) -> PyResult<()> {
        guard(|| Err(PyTypeError::new_err("cannot pickle ObjectStoreTransport")))
    }
}

// ---- package functions -----------------------------------------------------------------------

/// Every complete backup under the storage URL `url`, newest first.
#[pyfunction]
pub(crate) fn list_backups(py: Python<'_>, url: &str) -> PyResult<Vec<PyBackupInfo>> {
    guard(|| Ok(detached(py, || statesync::list_backups(url))?.into_iter().map(PyBackupInfo).collect()))
}

/// Downloads and checks every part of backup `id`: `CorruptError` naming a changed or missing
/// part, `CryptoError` for a wrong or missing key, `NotFoundError` for no such backup.
#[pyfunction]
#[pyo3(signature = (url, id, *, key = None))]
pub(crate) fn verify_backup(
    py: Python<'_>,
    url: &str,
    id: &str,
    key: Option<&Bound<'_, PyEncryptionKey>>,
) -> PyResult<PyBackupInfo> {
    guard(|| {
        let key = key_arg(key);
        detached(py, || statesync::verify_backup(url, id, key.as_ref())).map(PyBackupInfo)
    })
}

/// Deletes every backup but the `keep_last` newest and those younger than `keep_within`
/// seconds (give at least one); returns the ids deleted, newest first.
#[pyfunction]
#[pyo3(signature = (url, *, keep_last = None, keep_within = None))]
pub(crate) fn prune_backups(
    py: Python<'_>,
    url: &str,
    keep_last: Option<usize>,
    keep_within: Option<f64>,
) -> PyResult<Vec<String>> {
    guard(|| {
        let keep_within = keep_within.map(|s| seconds(py, s, "keep_within", false)).transpose()?;
        detached(py, || statesync::prune_backups(url, keep_last, keep_within))
    })
}
