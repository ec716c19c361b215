//! Object storage (the core's feature `cloud`, docs/backups.md): encryption keys, backups, the
//! auto-backup handle and the bucket transport. `lib/cloud.cjs` wraps these as the public
//! `EncryptionKey`, `ObjectStoreTransport`, `AutoBackup` and the backup functions (cloud.d.ts).
//!
//! Every call that touches storage (a URL is opened, an object read or written, a thread joined
//! while a backup finishes) is an `AsyncTask` on libuv's thread pool and returns a Promise: the
//! core's object-storage calls block their thread until the store answers. Encrypting and
//! decrypting bytes in memory run on the JS thread, as `compress` does.

use crate::errors::{invalid_input, js_error, OrThrow, Result};
use crate::manager::{NativeManager, NativeTransport};
use crate::values::Counts;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use statesync::{AutoBackup, EncryptionKey, ObjectStoreTransport, SyncTransport};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A core call run on libuv's thread pool, its result converted on the JS thread by `convert`.
/// Like a round (`tasks::RoundTask`), it is tried again when a JS resolver it called gave way to
/// the JS thread (a restore merges through the replica's strategies); a failed restore changed
/// nothing, so trying again is safe, and the other calls never call a resolver.
pub struct CoreTask<T: Send + 'static, J> {
    work: Box<dyn FnMut() -> statesync::Result<T> + Send>,
    convert: fn(T) -> J,
}

impl<T: Send + 'static, J> CoreTask<T, J> {
    fn new(work: impl FnMut() -> statesync::Result<T> + Send + 'static, convert: fn(T) -> J) -> AsyncTask<Self>
    where
        J: ToNapiValue + TypeName,
    {
        AsyncTask::new(CoreTask { work: Box::new(work), convert })
    }
}

impl<T: Send + 'static, J: ToNapiValue + TypeName> Task for CoreTask<T, J> {
    type Output = statesync::Result<T>;
    type JsValue = J;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(crate::tasks::retrying_resolvers(|| statesync::catch_panic(&mut self.work)))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<J> {
        output.map(self.convert).map_err(|error| js_error(&env, error))
    }
}

/// A 256-bit XChaCha20-Poly1305 key. Opaque: its bytes never come back to JS.
#[napi]
pub struct NativeEncryptionKey(pub(crate) EncryptionKey);

#[napi]
impl NativeEncryptionKey {
    /// A key of exactly 32 bytes; any other length is INVALID_INPUT.
    #[napi(factory, catch_unwind)]
    pub fn from_bytes(bytes: Uint8Array) -> Result<NativeEncryptionKey> {
        EncryptionKey::from_bytes(&bytes).map(NativeEncryptionKey).or_throw()
    }

    /// A key derived with Argon2id (the core's default costs) off the JS thread: a derivation
    /// takes tens of milliseconds of CPU and 19 MiB on purpose.
    #[napi(ts_return_type = "Promise<NativeEncryptionKey>", catch_unwind)]
    pub fn from_passphrase(
        passphrase: String,
        salt: Uint8Array,
    ) -> AsyncTask<CoreTask<EncryptionKey, NativeEncryptionKey>> {
        let salt = salt.to_vec();
        CoreTask::new(move || EncryptionKey::from_passphrase(&passphrase, &salt), NativeEncryptionKey)
    }

    /// `data` sealed as the object `name` under a fresh random nonce.
    #[napi(catch_unwind)]
    pub fn encrypt(&self, name: String, data: Uint8Array) -> Result<Buffer> {
        self.0.seal(&name, &data).map(Buffer::from).or_throw()
    }

    /// The plaintext of the object `name`; CRYPTO for a wrong key, name or changed bytes.
    #[napi(catch_unwind)]
    pub fn decrypt(&self, name: String, data: Uint8Array) -> Result<Buffer> {
        self.0.open(&name, &data).map(Buffer::from).or_throw()
    }

    /// How the key was made (`EncryptionKey(raw)` or its Argon2id costs), never its bytes.
    #[napi(catch_unwind)]
    pub fn describe(&self) -> String {
        format!("{:?}", self.0)
    }
}

/// The core's key of an optional JS key.
fn key_of(key: Option<&NativeEncryptionKey>) -> Option<EncryptionKey> {
    key.map(|k| k.0.clone())
}

/// A backup's manifest, as JS reads it.
#[napi(object, object_from_js = false)]
pub struct BackupInfo {
    /// `backup-<yyyymmddThhmmssZ>-<8 hex>`.
    pub id: String,
    /// When it was taken, milliseconds since the Unix epoch.
    pub created_at: i64,
    /// The label given to `backup`, if any.
    pub label: Option<String>,
    /// How many states it holds.
    pub states: f64,
    /// Its size on the store, in bytes (every part).
    pub bytes: f64,
    /// How many parts it is split into.
    pub parts: u32,
    /// The SHA-256 of the snapshot it holds, lowercase hex.
    pub sha256: String,
    /// Whether its parts are encrypted.
    pub encrypted: bool,
}

impl From<statesync::BackupInfo> for BackupInfo {
    fn from(b: statesync::BackupInfo) -> Self {
        // Counts of states and bytes stay far below 2^53: exact as JS numbers.
        BackupInfo {
            id: b.id,
            created_at: b.created_at,
            label: b.label,
            states: b.states as f64,
            bytes: b.bytes as f64,
            parts: b.parts,
            sha256: b.sha256,
            encrypted: b.encrypted,
        }
    }
}

fn infos(list: Vec<statesync::BackupInfo>) -> Vec<BackupInfo> {
    list.into_iter().map(BackupInfo::from).collect()
}

/// A duration in milliseconds from JS: finite, not negative.
fn millis(name: &str, ms: f64) -> Result<Duration> {
    if !(ms.is_finite() && ms >= 0.0) {
        return Err(invalid_input(format!("{name} is {ms} ms: a number of milliseconds, 0 or more")));
    }
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

/// The complete backups at `url`, newest first.
#[napi(ts_return_type = "Promise<BackupInfo[]>", catch_unwind)]
pub fn list_backups(url: String) -> AsyncTask<CoreTask<Vec<statesync::BackupInfo>, Vec<BackupInfo>>> {
    CoreTask::new(move || statesync::list_backups(&url), infos)
}

/// Checks backup `id` at `url` whole (every part's SHA-256, decryption, decoding).
#[napi(ts_return_type = "Promise<BackupInfo>", catch_unwind)]
pub fn verify_backup(
    url: String,
    id: String,
    key: Option<&NativeEncryptionKey>,
) -> AsyncTask<CoreTask<statesync::BackupInfo, BackupInfo>> {
    let key = key_of(key);
    CoreTask::new(move || statesync::verify_backup(&url, &id, key.as_ref()), BackupInfo::from)
}

/// Deletes the backups at `url` beyond the newest `keep_last` and older than `keep_within_ms`
/// (both kept when both are given); the ids deleted.
#[napi(ts_return_type = "Promise<string[]>", catch_unwind)]
pub fn prune_backups(
    url: String,
    keep_last: Option<u32>,
    keep_within_ms: Option<f64>,
) -> Result<AsyncTask<CoreTask<Vec<String>, Vec<String>>>> {
    let keep_within = keep_within_ms.map(|ms| millis("keepWithinMs", ms)).transpose()?;
    let keep_last = keep_last.map(|n| n as usize);
    Ok(CoreTask::new(move || statesync::prune_backups(&url, keep_last, keep_within), |ids| ids))
}

/// A running auto-backup (`statesync::AutoBackup`).
#[napi]
pub struct NativeAutoBackup {
    /// The core's handle; taken out while `stop` waits for a backup in progress, so that the
    /// JS thread never waits on it.
    running: Arc<Mutex<Option<AutoBackup>>>,
    /// What the handle said when `stop` took it: read meanwhile.
    stopping: Arc<Mutex<Seen>>,
}

/// What an auto-backup reported.
#[derive(Clone, Default)]
struct Seen {
    last: Option<statesync::BackupInfo>,
    error: Option<(String, String)>,
    runs: u64,
}

fn seen(handle: &AutoBackup) -> Seen {
    Seen { last: handle.last_backup(), error: handle.last_error(), runs: handle.runs() }
}

/// An auto-backup's last failure: its error code and message.
#[napi(object, object_from_js = false)]
pub struct AutoBackupError {
    /// The error code (`TRANSPORT`, `STORAGE`, ...).
    pub code: String,
    /// What failed.
    pub message: String,
}

impl NativeAutoBackup {
    fn seen(&self) -> Seen {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        match running.as_ref() {
            Some(handle) => seen(handle),
            None => self.stopping.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}

#[napi]
impl NativeAutoBackup {
    /// The newest backup it wrote, or null.
    #[napi(getter, catch_unwind)]
    pub fn last_backup(&self) -> Option<BackupInfo> {
        self.seen().last.map(BackupInfo::from)
    }

    /// The code and message of the last run's failure, or null when the last run succeeded.
    #[napi(getter, catch_unwind)]
    pub fn last_error(&self) -> Option<AutoBackupError> {
        self.seen().error.map(|(code, message)| AutoBackupError { code, message })
    }

    /// How many runs finished, well or not.
    #[napi(getter, catch_unwind)]
    pub fn runs(&self) -> f64 {
        self.seen().runs as f64
    }

    /// Stops it, resolving when a backup in progress has finished. Idempotent.
    #[napi(ts_return_type = "Promise<void>", catch_unwind)]
    pub fn stop(&self) -> AsyncTask<CoreTask<(), ()>> {
        let running = self.running.clone();
        let stopping = self.stopping.clone();
        CoreTask::new(
            move || {
                let taken = running.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(mut handle) = taken {
                    *stopping.lock().unwrap_or_else(|p| p.into_inner()) = seen(&handle);
                    handle.stop();
                    *running.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
                }
                Ok(())
            },
            |()| (),
        )
    }
}

impl Drop for NativeAutoBackup {
    /// A handle JS let go of stops its auto-backup (as the core's does when dropped), on a
    /// thread of its own: stopping waits for a backup in progress, and a finalizer runs on the
    /// JS thread.
    fn drop(&mut self) {
        let taken = self.running.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = taken {
            let _ = std::thread::Builder::new().name("statesync-auto-backup-stop".into()).spawn(move || drop(handle));
        }
    }
}

/// Sync through a bucket: the core's `ObjectStoreTransport`.
#[napi]
pub struct NativeObjectStoreTransport(Arc<ObjectStoreTransport>);

#[napi]
impl NativeObjectStoreTransport {
    /// Opens the storage URL `url` (a `file://` folder is created) off the JS thread; its objects
    /// are sealed with `key` when given.
    #[napi(ts_return_type = "Promise<NativeObjectStoreTransport>", catch_unwind)]
    pub fn open(
        url: String,
        key: Option<&NativeEncryptionKey>,
    ) -> AsyncTask<CoreTask<ObjectStoreTransport, NativeObjectStoreTransport>> {
        let key = key_of(key);
        CoreTask::new(
            move || ObjectStoreTransport::open(&url, key.clone()),
            |t| NativeObjectStoreTransport(Arc::new(t)),
        )
    }

    /// The transport rounds and auto-sync take.
    #[napi(catch_unwind)]
    pub fn transport(&self) -> NativeTransport {
        NativeTransport(self.0.clone() as Arc<dyn SyncTransport>)
    }

    /// Compacts the bucket's segments into a snapshot; false when there was nothing to do.
    #[napi(ts_return_type = "Promise<boolean>", catch_unwind)]
    pub fn compact(&self) -> AsyncTask<CoreTask<bool, bool>> {
        let transport = self.0.clone();
        CoreTask::new(move || transport.compact(), |done| done)
    }
}

#[napi]
impl NativeManager {
    /// Backs the replica up to `url`, sealed with `key` when given.
    #[napi(ts_return_type = "Promise<BackupInfo>", catch_unwind)]
    pub fn backup(
        &self,
        url: String,
        key: Option<&NativeEncryptionKey>,
        label: Option<String>,
    ) -> AsyncTask<CoreTask<statesync::BackupInfo, BackupInfo>> {
        let core = self.core.clone();
        let key = key_of(key);
        CoreTask::new(move || core.backup(&url, key.as_ref(), label.as_deref()), BackupInfo::from)
    }

    /// Restores backup `id` from `url`: merged, or in place of the replica's data with
    /// `replace`; only `collections` when given. A failed restore changes nothing.
    #[napi(ts_return_type = "Promise<ReconciliationResult>", catch_unwind)]
    pub fn restore_backup(
        &self,
        url: String,
        id: String,
        key: Option<&NativeEncryptionKey>,
        replace: bool,
        collections: Option<Vec<String>>,
    ) -> AsyncTask<CoreTask<statesync::ReconciliationResult, Counts>> {
        let core = self.core.clone();
        let key = key_of(key);
        let collections = collections.unwrap_or_default();
        CoreTask::new(move || core.restore_backup(&url, &id, key.as_ref(), replace, &collections), Counts::from)
    }

    /// Starts backing up to `url` every `interval_ms` (the first at once; at least 1000),
    /// keeping the newest `keep_last` (0: all). Checks the URL off the JS thread.
    #[napi(ts_return_type = "Promise<NativeAutoBackup>", catch_unwind)]
    pub fn start_auto_backup(
        &self,
        url: String,
        interval_ms: f64,
        keep_last: u32,
        key: Option<&NativeEncryptionKey>,
    ) -> Result<AsyncTask<CoreTask<AutoBackup, NativeAutoBackup>>> {
        let interval = millis("interval", interval_ms)?;
        let core = self.core.clone();
        let key = key_of(key);
        Ok(CoreTask::new(
            move || core.start_auto_backup(&url, interval, keep_last as usize, key.as_ref()),
            |handle| NativeAutoBackup {
                running: Arc::new(Mutex::new(Some(handle))),
                stopping: Arc::new(Mutex::new(Seen::default())),
            },
        ))
    }
}
