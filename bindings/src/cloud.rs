//! Object storage (docs/backups.md, docs/encryption.md): encryption keys, backups to a storage
//! URL and the bucket transport. Conversions only: every behaviour is the core's (`cloud`
//! feature). The calls that touch storage are async exports running the blocking core call on a
//! blocking thread of uniffi's tokio runtime (`error::blocking`), as the sync rounds do.
//!
//! The manager's methods (`backup`, `restoreBackup`, `startAutoBackup`, `syncBucket`,
//! `startAutoSyncBucket`) live with the manager's other methods in `manager.rs`.

use crate::error::{blocking, guard, guard_async, Result};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A 256-bit key sealing backups and bucket objects (XChaCha20-Poly1305; docs/encryption.md).
/// Opaque: its bytes never leave it, and nothing prints them.
#[derive(uniffi::Object)]
pub struct EncryptionKey {
    pub(crate) inner: statesync::EncryptionKey,
}

impl EncryptionKey {
    /// The core key of an optional key argument, for a call that keeps it.
    pub(crate) fn core(key: &Option<Arc<EncryptionKey>>) -> Option<statesync::EncryptionKey> {
        key.as_ref().map(|k| k.inner.clone())
    }
}

#[uniffi::export]
impl EncryptionKey {
    /// A key of exactly 32 bytes (from a key manager or a secure random source); any other
    /// length is `INVALID_INPUT`.
    #[uniffi::constructor]
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Arc<Self>> {
        guard(|| Ok(Arc::new(EncryptionKey { inner: statesync::EncryptionKey::from_bytes(&bytes)? })))
    }

    /// A key derived from a passphrase and a salt with Argon2id at the core's default costs
    /// (the same key on every platform; the parameters are stored with the data). The salt need
    /// not be secret (8 to 64 bytes, unique per application); an empty passphrase or a salt of
    /// another length is `INVALID_INPUT`. Deriving takes a noticeable moment of CPU by design.
    #[uniffi::constructor]
    pub fn from_passphrase(passphrase: String, salt: Vec<u8>) -> Result<Arc<Self>> {
        guard(|| Ok(Arc::new(EncryptionKey { inner: statesync::EncryptionKey::from_passphrase(&passphrase, &salt)? })))
    }

    /// `data` sealed as the object `name` under a fresh random nonce: the name is bound to the
    /// result, so it only opens under the same name.
    pub fn encrypt(&self, name: String, data: Vec<u8>) -> Result<Vec<u8>> {
        guard(|| Ok(self.inner.seal(&name, &data)?))
    }

    /// The plaintext of the object `name` sealed by `encrypt` (in any binding). Another key,
    /// another name, or any changed bit is `CRYPTO`, never garbage.
    pub fn decrypt(&self, name: String, data: Vec<u8>) -> Result<Vec<u8>> {
        guard(|| Ok(self.inner.open(&name, &data)?))
    }
}

/// One backup, as its manifest describes it.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct BackupInfo {
    /// `backup-<yyyymmddThhmmssZ>-<8 hex>`: sorts by creation time.
    pub id: String,
    /// When it was taken, in milliseconds since the Unix epoch.
    pub created_at: i64,
    /// The label given to `backup` (`"auto"` for auto-backups), if any.
    pub label: Option<String>,
    /// How many states (tombstones included) it holds.
    pub states: u64,
    /// Its size on the storage, in bytes (every part).
    pub bytes: u64,
    /// How many parts it is split into.
    pub parts: u32,
    /// The SHA-256 (hex) of the compressed snapshot, before encryption and splitting.
    pub sha256: String,
    /// Whether its parts are sealed with a key (restoring needs the same key).
    pub encrypted: bool,
}

impl From<statesync::BackupInfo> for BackupInfo {
    fn from(info: statesync::BackupInfo) -> Self {
        BackupInfo {
            id: info.id,
            created_at: info.created_at,
            label: info.label,
            states: info.states,
            bytes: info.bytes,
            parts: info.parts,
            sha256: info.sha256,
            encrypted: info.encrypted,
        }
    }
}

/// Why an auto-backup run failed: the error's stable code (`TRANSPORT`, `STORAGE`, ...) and its
/// readable message.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct BackupFailure {
    /// The stable code of the failure (`SyncError` codes).
    pub code: String,
    /// The readable message.
    pub message: String,
}

/// A running auto-backup (`SyncManager.startAutoBackup`). It stops with `stop()`, when the
/// manager is closed, or when the object is released (Kotlin `close()` / `use {}`, Swift deinit).
#[derive(uniffi::Object)]
pub struct AutoBackup {
    // Shared with the blocking thread `stop` waits on.
    inner: Arc<Mutex<statesync::AutoBackup>>,
}

impl AutoBackup {
    pub(crate) fn wrap(inner: statesync::AutoBackup) -> Arc<Self> {
        Arc::new(AutoBackup { inner: Arc::new(Mutex::new(inner)) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, statesync::AutoBackup> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[uniffi::export]
impl AutoBackup {
    /// The newest backup it wrote, or `null` before the first one succeeded.
    pub fn last_backup(&self) -> Result<Option<BackupInfo>> {
        guard(|| Ok(self.lock().last_backup().map(Into::into)))
    }

    /// The last run's failure, or `null` when it succeeded (a failed run is retried at the next
    /// interval).
    pub fn last_error(&self) -> Result<Option<BackupFailure>> {
        guard(|| Ok(self.lock().last_error().map(|(code, message)| BackupFailure { code, message })))
    }

    /// How many runs finished, well or not.
    pub fn runs(&self) -> Result<u64> {
        guard(|| Ok(self.lock().runs()))
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl AutoBackup {
    /// Stops it, waiting for a backup in progress to finish (on a background thread). Stopping
    /// twice is harmless.
    pub async fn stop(&self) -> Result<()> {
        guard_async(async move {
            let inner = self.inner.clone();
            blocking(move || {
                inner.lock().unwrap_or_else(|e| e.into_inner()).stop();
                Ok(())
            })
            .await
        })
        .await
    }
}

/// Sync through a storage URL with no server (docs/backups.md, "bucket sync"): every replica
/// appends immutable segments under the URL and reads the others'. Pass it to
/// `SyncManager.sync` / `startAutoSync` (the idiomatic layer's overloads, over `syncBucket` /
/// `startAutoSyncBucket`), exactly where an `HttpTransport` goes.
#[derive(uniffi::Object)]
pub struct ObjectStoreTransport {
    pub(crate) inner: Arc<statesync::ObjectStoreTransport>,
}

#[uniffi::export]
impl ObjectStoreTransport {
    /// A transport syncing through the storage URL `url` (`file:///abs/dir`,
    /// `memory://name/prefix`, `s3://…`, `gs://…`, `az://…`, options as query parameters), its
    /// objects sealed with `key` when given: every replica of the bucket must use the same key
    /// (another one is `CRYPTO` when syncing). An unknown scheme or a malformed URL is
    /// `INVALID_INPUT`; nothing is contacted yet.
    #[uniffi::constructor(default(key = None))]
    pub fn new(url: String, key: Option<Arc<EncryptionKey>>) -> Result<Arc<Self>> {
        guard(|| {
            let inner = statesync::ObjectStoreTransport::open(&url, EncryptionKey::core(&key))?;
            Ok(Arc::new(ObjectStoreTransport { inner: Arc::new(inner) }))
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl ObjectStoreTransport {
    /// Compacts the segments pushed since the newest snapshot into a new one and deletes what
    /// the previous snapshot already covered. `false` when there was nothing to do or another
    /// replica compacted at the same time.
    pub async fn compact(&self) -> Result<bool> {
        guard_async(async move {
            let inner = self.inner.clone();
            blocking(move || inner.compact()).await
        })
        .await
    }
}

/// The complete backups under a storage URL, newest first (no replica needed).
#[uniffi::export(async_runtime = "tokio")]
pub async fn list_backups(url: String) -> Result<Vec<BackupInfo>> {
    guard_async(async move {
        let list = blocking(move || statesync::list_backups(&url)).await?;
        Ok(list.into_iter().map(Into::into).collect())
    })
    .await
}

/// Reads backup `id` whole, checking every part's SHA-256 and decrypting it with `key`:
/// `NOT_FOUND` for no such backup, `CORRUPT` naming a damaged part, `CRYPTO` for a wrong or
/// missing key. Returns its description when it is sound.
#[uniffi::export(async_runtime = "tokio", default(key = None))]
pub async fn verify_backup(url: String, id: String, key: Option<Arc<EncryptionKey>>) -> Result<BackupInfo> {
    guard_async(async move {
        let key = EncryptionKey::core(&key);
        Ok(blocking(move || statesync::verify_backup(&url, &id, key.as_ref())).await?.into())
    })
    .await
}

/// Deletes the backups under a storage URL but the `keepLast` newest and those younger than
/// `keepWithin` (a backup either keeps is kept; giving neither is `INVALID_INPUT`), and parts
/// of backups that never got a manifest and are over an hour old. Returns the ids removed,
/// newest first.
#[uniffi::export(async_runtime = "tokio", default(keep_last = None, keep_within = None))]
pub async fn prune_backups(url: String, keep_last: Option<u32>, keep_within: Option<Duration>) -> Result<Vec<String>> {
    guard_async(async move {
        let keep_last = keep_last.map(|n| n as usize);
        blocking(move || statesync::prune_backups(&url, keep_last, keep_within)).await
    })
    .await
}
