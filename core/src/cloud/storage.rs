//! [`ObjectStorage`]: one storage URL (`file:///dir`, `memory://`, `s3://bucket/prefix`,
//! `gs://bucket/prefix`, `az://container/prefix`) opened through the `object_store` crate, with
//! blocking calls and the core's errors. Every name below is relative to the URL's prefix.
//!
//! Options of a cloud store come from its usual environment variables (`AWS_*`, `GOOGLE_*`,
//! `AZURE_*`) and from the URL's query, whose keys are object_store's configuration keys
//! (`s3://b/p?endpoint=http://127.0.0.1:9000&region=eu-west-1&allow_http=true`). Keep secrets in
//! the environment: a URL is printed in errors and logs (without its query).

use super::runtime::{block, ensure_tls};
use crate::model::error::{Result, SyncError};
use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The schemes [`ObjectStorage::open`] reads, for its error message.
const SCHEMES: &str = "file://, memory://, s3://, gs://, az://";

/// How long a cloud request is retried (with backoff) before it is a `TRANSPORT` error: long
/// enough for a blip, short enough that a sync round or backup gives up while the user waits.
const RETRY_TIMEOUT: Duration = Duration::from_secs(20);
const MAX_RETRIES: usize = 4;

/// One object listed under a folder: its name (relative to the storage's prefix) and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectEntry {
    /// The object's name, e.g. `backups/backup-20261207T120000Z-0a1b2c3d/part-00000`.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// When the store last wrote it, in milliseconds since the Unix epoch.
    pub modified_ms: i64,
}

/// What an [`ObjectStorage`] (and its clones) did so far: what a cloud bill counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Calls made to the store (a list counts once, however many objects it returns).
    pub requests: u64,
    /// Bytes of objects written.
    pub bytes_written: u64,
    /// Bytes of objects read.
    pub bytes_read: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    bytes_written: AtomicU64,
    bytes_read: AtomicU64,
}

/// A storage URL opened: object names relative to its prefix, blocking calls.
#[derive(Clone)]
pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    counters: Arc<Counters>,
    /// The URL without its query (never secrets), for messages.
    display: String,
}

impl std::fmt::Debug for ObjectStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectStorage({})", self.display)
    }
}

impl ObjectStorage {
    /// Opens a storage URL. An unknown scheme, a malformed URL or an unknown query option is
    /// `INVALID_INPUT`; nothing is contacted yet (the first call that needs the store is).
    pub fn open(url: &str) -> Result<ObjectStorage> {
        let parsed = url::Url::parse(url)
            .map_err(|e| SyncError::InvalidInput(format!("storage URL {:?}: {e}", strip_query(url))))?;
        let display = strip_query(url).to_string();
        let options: Vec<(String, String)> =
            parsed.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let prefix = parsed.path().trim_matches('/').to_string();
        ensure_tls();
        let bucket_url = format!("{}://{}", parsed.scheme(), parsed.host_str().unwrap_or(""));
        let store: Arc<dyn ObjectStore> = match parsed.scheme() {
            "memory" => {
                no_options(&display, &options)?;
                memory_store(parsed.host_str().unwrap_or(""))
            }
            "file" => {
                no_options(&display, &options)?;
                let dir = parsed
                    .to_file_path()
                    .map_err(|_| SyncError::InvalidInput(format!("storage URL {display:?}: not a local path")))?;
                std::fs::create_dir_all(&dir).map_err(|e| SyncError::Storage {
                    message: format!("cannot create the folder {}", dir.display()),
                    source: Some(Box::new(e)),
                })?;
                let local = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| map_error(&display, e))?
                    .with_automatic_cleanup(true);
                return Ok(ObjectStorage { store: Arc::new(local), counters: Arc::default(), display });
            }
            "s3" | "s3a" => {
                let mut b = object_store::aws::AmazonS3Builder::from_env().with_url(&bucket_url).with_retry(retry());
                for (k, v) in &options {
                    b = b.with_config(config_key(&display, k)?, v);
                }
                Arc::new(b.build().map_err(|e| invalid(&display, e))?)
            }
            "gs" => {
                let mut b =
                    object_store::gcp::GoogleCloudStorageBuilder::from_env().with_url(&bucket_url).with_retry(retry());
                for (k, v) in &options {
                    b = b.with_config(config_key(&display, k)?, v);
                }
                Arc::new(b.build().map_err(|e| invalid(&display, e))?)
            }
            "az" | "azure" | "abfs" | "abfss" => {
                let mut b =
                    object_store::azure::MicrosoftAzureBuilder::from_env().with_url(&bucket_url).with_retry(retry());
                for (k, v) in &options {
                    b = b.with_config(config_key(&display, k)?, v);
                }
                Arc::new(b.build().map_err(|e| invalid(&display, e))?)
            }
            other => {
                return Err(SyncError::InvalidInput(format!(
                    "storage URL {display:?}: unknown scheme {other:?} (this build reads {SCHEMES})"
                )))
            }
        };
        Ok(Self::from_store(store, &prefix, display))
    }

    /// Storage over a store the application (or a test) built itself, under `prefix`.
    pub fn from_store(store: Arc<dyn ObjectStore>, prefix: &str, display: impl Into<String>) -> ObjectStorage {
        let store: Arc<dyn ObjectStore> =
            if prefix.is_empty() { store } else { Arc::new(PrefixStore::new(store, Path::from(prefix))) };
        ObjectStorage { store, counters: Arc::default(), display: display.into() }
    }

    /// Requests and bytes so far, of this storage and its clones.
    pub fn stats(&self) -> StorageStats {
        StorageStats {
            requests: self.counters.requests.load(Ordering::Relaxed),
            bytes_written: self.counters.bytes_written.load(Ordering::Relaxed),
            bytes_read: self.counters.bytes_read.load(Ordering::Relaxed),
        }
    }

    fn count(&self, written: usize, read: usize) {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        self.counters.bytes_written.fetch_add(written as u64, Ordering::Relaxed);
        self.counters.bytes_read.fetch_add(read as u64, Ordering::Relaxed);
    }

    /// The URL, without its query: safe to print.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The bytes of object `name`; `NOT_FOUND` when there is none.
    pub fn get(&self, name: &str) -> Result<Vec<u8>> {
        let (store, path, display) = self.parts(name)?;
        let bytes = block(async move {
            let got = store.get(&path).await.map_err(|e| map_error(&display, e))?;
            Ok(got.bytes().await.map_err(|e| map_error(&display, e))?.to_vec())
        });
        self.count(0, bytes.as_ref().map_or(0, Vec::len));
        bytes
    }

    /// Writes object `name` whole (a put is atomic in every store: readers see the old object
    /// or the new one, never a part), replacing any object of that name.
    pub fn put(&self, name: &str, bytes: impl Into<PutPayload>) -> Result<()> {
        self.put_mode(name, bytes, PutMode::Overwrite).map_err(|e| match e {
            PutError::Other(e) => e,
            PutError::Exists | PutError::Unsupported => {
                SyncError::Internal(format!("{}: an unconditional put of {name} was refused", self.display))
            }
        })
    }

    /// Writes object `name` only if no object has that name: `Ok(false)` when one has (another
    /// writer won). `Ok(None)` when the store cannot write conditionally (then nothing was
    /// written and the caller must not rely on exclusivity).
    pub fn put_new(&self, name: &str, bytes: impl Into<PutPayload>) -> Result<Option<bool>> {
        match self.put_mode(name, bytes, PutMode::Create) {
            Ok(()) => Ok(Some(true)),
            Err(PutError::Exists) => Ok(Some(false)),
            Err(PutError::Unsupported) => Ok(None),
            Err(PutError::Other(e)) => Err(e),
        }
    }

    fn put_mode(&self, name: &str, bytes: impl Into<PutPayload>, mode: PutMode) -> std::result::Result<(), PutError> {
        let payload: PutPayload = bytes.into();
        let (store, path, display) = self.parts(name).map_err(PutError::Other)?;
        self.count(payload.content_length(), 0);
        let options = PutOptions { mode, ..PutOptions::default() };
        block(async move {
            Ok(match store.put_opts(&path, payload, options).await {
                Ok(_) => Ok(()),
                Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                    Err(PutError::Exists)
                }
                Err(object_store::Error::NotImplemented { .. } | object_store::Error::NotSupported { .. }) => {
                    Err(PutError::Unsupported)
                }
                Err(e) => Err(PutError::Other(map_error(&display, e))),
            })
        })
        .map_err(PutError::Other)?
    }

    /// Deletes object `name`; deleting one that is not there is no error.
    pub fn delete(&self, name: &str) -> Result<()> {
        let (store, path, display) = self.parts(name)?;
        self.count(0, 0);
        block(async move {
            match store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(map_error(&display, e)),
            }
        })
    }

    /// Every object under folder `folder` (recursively), in name order, optionally only those
    /// whose name sorts after `after` (a name under the same folder).
    pub fn list(&self, folder: &str, after: Option<&str>) -> Result<Vec<ObjectEntry>> {
        let (store, path, display) = self.parts(folder)?;
        let after = after.map(|a| self.path(a)).transpose()?;
        self.count(0, 0);
        block(async move {
            let stream = match &after {
                Some(offset) => store.list_with_offset(Some(&path), offset),
                None => store.list(Some(&path)),
            };
            let metas: Vec<_> = stream.try_collect().await.map_err(|e| map_error(&display, e))?;
            let mut entries: Vec<ObjectEntry> = metas
                .into_iter()
                .map(|m| ObjectEntry {
                    name: m.location.to_string(),
                    size: m.size,
                    modified_ms: m.last_modified.timestamp_millis(),
                })
                .collect();
            // Some stores ignore the offset (fake-gcs-server's `startOffset`): filter here too.
            if let Some(offset) = &after {
                let offset = offset.to_string();
                entries.retain(|e| e.name > offset);
            }
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(entries)
        })
    }

    /// The names of the folders directly under `folder` (not their objects), in name order:
    /// `list_folders("backups")` gives `["backup-…", …]`, without the `backups/` prefix.
    pub fn list_folders(&self, folder: &str) -> Result<Vec<String>> {
        let (store, path, display) = self.parts(folder)?;
        self.count(0, 0);
        block(async move {
            let listed = store.list_with_delimiter(Some(&path)).await.map_err(|e| map_error(&display, e))?;
            let mut names: Vec<String> =
                listed.common_prefixes.iter().filter_map(|p| p.filename().map(str::to_string)).collect();
            names.sort();
            Ok(names)
        })
    }

    fn path(&self, name: &str) -> Result<Path> {
        Path::parse(name).map_err(|e| SyncError::InvalidInput(format!("object name {name:?}: {e}")))
    }

    fn parts(&self, name: &str) -> Result<(Arc<dyn ObjectStore>, Path, String)> {
        Ok((self.store.clone(), self.path(name)?, self.display.clone()))
    }
}

enum PutError {
    Exists,
    Unsupported,
    Other(SyncError),
}

/// The process's `memory://` stores by name, so that every `memory://name` opened in one process
/// reaches the same objects (tests, and replicas syncing in process through a bucket).
fn memory_store(name: &str) -> Arc<dyn ObjectStore> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    let mut stores = STORES.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    stores.entry(name.to_string()).or_insert_with(|| Arc::new(object_store::memory::InMemory::new())).clone()
}

fn retry() -> RetryConfig {
    RetryConfig { max_retries: MAX_RETRIES, retry_timeout: RETRY_TIMEOUT, ..RetryConfig::default() }
}

fn strip_query(url: &str) -> &str {
    url.split_once('?').map_or(url, |(u, _)| u)
}

fn no_options(display: &str, options: &[(String, String)]) -> Result<()> {
    match options.first() {
        None => Ok(()),
        Some((k, _)) => Err(SyncError::InvalidInput(format!("storage URL {display:?} takes no option {k:?}"))),
    }
}

fn config_key<K: std::str::FromStr>(display: &str, key: &str) -> Result<K>
where
    K::Err: std::fmt::Display,
{
    key.parse().map_err(|e| SyncError::InvalidInput(format!("storage URL {display:?}: option {key:?}: {e}")))
}

fn invalid(display: &str, e: object_store::Error) -> SyncError {
    SyncError::InvalidInput(format!("storage URL {display:?}: {e}"))
}

/// The core's error for a failed store call: a missing object is `NOT_FOUND`, refused
/// credentials `UNAUTHORIZED`/`FORBIDDEN`, a local disk failure `STORAGE`, and every network or
/// server fault `TRANSPORT` (retry later; nothing half-written is visible).
pub(crate) fn map_error(display: &str, e: object_store::Error) -> SyncError {
    use object_store::Error as E;
    match e {
        E::NotFound { path, .. } => SyncError::NotFound(format!("{display}: no object {path}")),
        E::InvalidPath { source } => SyncError::InvalidInput(format!("{display}: {source}")),
        E::Unauthenticated { .. } => SyncError::Unauthorized(format!("{display}: {e}")),
        E::PermissionDenied { .. } => SyncError::Forbidden(format!("{display}: {e}")),
        E::NotImplemented { .. } | E::NotSupported { .. } => SyncError::InvalidInput(format!("{display}: {e}")),
        E::Generic { store: "LocalFileSystem", .. } => {
            SyncError::Storage { message: format!("{display}: local storage failed"), source: Some(Box::new(e)) }
        }
        other => SyncError::Transport(format!("{display}: {other}")),
    }
}
