//! Backups of every space to object storage (`--backup-to URL`, docs/deploy.md): each space's
//! states are written as one backup of the core's ([`statesync::BackupStore`]) under
//! `<URL>/<space>/`, so `statesync::list_backups(&space_url(URL, space))` lists them and any
//! client restores one with `SyncManager::restore_backup`.
//!
//! A run walks the store's spaces ([`Store::spaces`]), skips those whose feed has not moved
//! since their last backup, reads each other one whole ([`Store::export_space`]), writes it
//! and prunes the space to the newest `keep` backups. [`run`] repeats it every interval on the
//! hub's runtime, the blocking calls on tokio's blocking pool, until the server stops.

use crate::access::space_node_id;
use crate::identity::SpaceId;
use crate::store::Store;
use statesync::{BackupOptions, BackupStore, EncryptionKey, ObjectStorage, Result, Snapshot, SNAPSHOT_FORMAT};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The label every backup the hub writes carries.
pub const LABEL: &str = "hub";

/// Where and how often the hub backs its spaces up.
#[derive(Clone)]
pub struct BackupConfig {
    /// The storage URL; each space's backups go under `<url>/<space>` ([`space_url`]).
    pub url: String,
    /// Time between runs; the first run is one interval after the start.
    pub every: Duration,
    /// Backups kept per space (at least 1): older ones are pruned after each backup.
    pub keep: usize,
    /// Seals every backup with this key when given.
    pub key: Option<EncryptionKey>,
}

impl std::fmt::Debug for BackupConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key, never the URL's query (it may hold credentials).
        f.debug_struct("BackupConfig")
            .field("url", &without_query(&self.url))
            .field("every", &self.every)
            .field("keep", &self.keep)
            .field("encrypted", &self.key.is_some())
            .finish()
    }
}

/// The storage URL of `space`'s backups under `base`: the space as one more path segment,
/// before the query if there is one (`s3://bucket/hub?endpoint=…` →
/// `s3://bucket/hub/user:42?endpoint=…`). A space of dots only (`.`, `..`), which a URL would
/// read as a step up, is written `~.`, `~..` (no space id holds a `~`).
pub fn space_url(base: &str, space: &SpaceId) -> String {
    let (path, query) = match base.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (base, None),
    };
    let name = space.as_str();
    let segment = if name.bytes().all(|b| b == b'.') { format!("~{name}") } else { name.to_owned() };
    let mut url = format!("{}/{segment}", path.trim_end_matches('/'));
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// A URL without its query, safe to log.
fn without_query(url: &str) -> &str {
    url.split_once('?').map_or(url, |(path, _)| path)
}

/// What the last backup of a space covered.
#[derive(Debug, Clone, Copy)]
struct Done {
    /// The space's latest sequence in the backup.
    latest: u64,
    /// Whether the prune after it succeeded (if not, the next run prunes again).
    pruned: bool,
}

/// What one run did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Spaces backed up: `(space, backup id)`.
    pub written: Vec<(String, String)>,
    /// Spaces skipped because nothing changed since their last backup.
    pub unchanged: usize,
    /// Spaces that failed (logged, retried next run): `(space, error code)`.
    pub failed: Vec<(String, &'static str)>,
}

/// The hub's backups: the configuration, the store, and per space what its last backup
/// covered (in memory: after a restart every space is backed up once again).
pub struct Backups {
    config: BackupConfig,
    store: Arc<dyn Store>,
    done: Mutex<HashMap<SpaceId, Done>>,
}

impl Backups {
    /// Backups of `store`'s spaces as `config` says. The URL is checked now (an unknown scheme
    /// or a malformed URL is `INVALID_INPUT`), though nothing is contacted until the first run.
    pub fn new(store: Arc<dyn Store>, mut config: BackupConfig) -> Result<Backups> {
        ObjectStorage::open(&config.url)?;
        config.keep = config.keep.max(1);
        Ok(Backups { config, store, done: Mutex::new(HashMap::new()) })
    }

    /// The configuration.
    pub fn config(&self) -> &BackupConfig {
        &self.config
    }

    /// One run, blocking (call it from a blocking thread): every changed space backed up and
    /// pruned. A space that fails is logged (its error code and message) and left for the next
    /// run; the others go on. Only a failure to list the spaces fails the run.
    pub fn run_once(&self) -> Result<RunReport> {
        let mut report = RunReport::default();
        for head in self.store.spaces()? {
            let last = self.done.lock().unwrap_or_else(|e| e.into_inner()).get(&head.space).copied();
            // Nothing written yet (a PostgreSQL space row made by a push that stored nothing).
            if head.latest == 0 {
                continue;
            }
            let outcome = match last {
                Some(done) if done.latest == head.latest => {
                    report.unchanged += 1;
                    if done.pruned {
                        continue;
                    }
                    self.prune(&head.space, done.latest).map(|()| None)
                }
                _ => self.back_up(&head.space).map(Some),
            };
            match outcome {
                Ok(Some(id)) => report.written.push((head.space.to_string(), id)),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(
                        space = %head.space,
                        url = %without_query(&space_url(&self.config.url, &head.space)),
                        code = e.code(),
                        "backup of the space failed (retried next run): {}",
                        e.message_with_causes()
                    );
                    report.failed.push((head.space.to_string(), e.code()));
                }
            }
        }
        Ok(report)
    }

    /// Writes one backup of `space` and prunes its older ones: the new backup's id.
    fn back_up(&self, space: &SpaceId) -> Result<String> {
        let export = self.store.export_space(space)?;
        let snapshot = Snapshot {
            format: SNAPSHOT_FORMAT,
            node_id: space_node_id(self.store.node_id(), space),
            states: export.states,
            pending: Vec::new(),
            conflicts: Vec::new(),
        };
        let url = space_url(&self.config.url, space);
        let options = BackupOptions { key: self.config.key.clone(), label: Some(LABEL.to_owned()), part_size: None };
        let info = BackupStore::open(&url)?.write(&snapshot, &options)?;
        tracing::info!(
            space = %space, url = %without_query(&url), id = %info.id, states = info.states, bytes = info.bytes,
            "space backed up"
        );
        // Recorded before the prune: the backup exists whether or not the prune succeeds.
        self.record(space, Done { latest: export.latest, pruned: false });
        self.prune(space, export.latest)?;
        Ok(info.id)
    }

    /// Prunes `space` to the newest `keep` backups, and records it.
    fn prune(&self, space: &SpaceId, latest: u64) -> Result<()> {
        let url = space_url(&self.config.url, space);
        let removed = BackupStore::open(&url)?.prune(Some(self.config.keep), None)?;
        if !removed.is_empty() {
            tracing::info!(space = %space, removed = removed.len(), "old backups pruned");
        }
        self.record(space, Done { latest, pruned: true });
        Ok(())
    }

    fn record(&self, space: &SpaceId, done: Done) {
        self.done.lock().unwrap_or_else(|e| e.into_inner()).insert(space.clone(), done);
    }
}

/// Runs `backups` every interval (the first one interval from now) until `stop` completes. A
/// run goes on a blocking thread, so requests are served meanwhile; a run in progress when
/// `stop` completes is finished before this returns. A failed run is logged and the next one
/// comes an interval later: it never stops the hub.
pub async fn run(backups: Arc<Backups>, stop: impl Future<Output = ()>) {
    let every = backups.config.every;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    // A run longer than the interval delays the next one instead of starting runs back to back.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            // The stop first: once it has come, no new run starts, even if a tick is due.
            biased;
            _ = &mut stop => return,
            _ = ticks.tick() => {}
        }
        let run = backups.clone();
        // Not raced against `stop`: a backup in progress is finished, not dropped.
        match tokio::task::spawn_blocking(move || run.run_once()).await {
            Ok(Ok(report)) => tracing::debug!(
                written = report.written.len(),
                unchanged = report.unchanged,
                failed = report.failed.len(),
                "backup run done"
            ),
            Ok(Err(e)) => tracing::error!(
                url = %without_query(&backups.config.url),
                code = e.code(),
                "backup run failed (retried next interval): {}",
                e.message_with_causes()
            ),
            Err(e) => tracing::error!(url = %without_query(&backups.config.url), "backup run panicked: {e}"),
        }
    }
}

/// Reads a backup key file: 32 raw bytes, or 64 hex characters (surrounding whitespace, such as
/// a trailing newline, ignored). Anything else is an error saying what the file must hold.
pub fn read_key_file(path: &std::path::Path) -> std::result::Result<EncryptionKey, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the backup key file {}: {e}", path.display()))?;
    let raw = if bytes.len() == 32 {
        bytes
    } else {
        let text = std::str::from_utf8(&bytes).map(str::trim).unwrap_or_default();
        decode_hex(text).filter(|k| k.len() == 32).ok_or_else(|| {
            format!(
                "the backup key file {} must hold 32 raw bytes or 64 hex characters (it holds {} bytes)",
                path.display(),
                bytes.len()
            )
        })?
    };
    EncryptionKey::from_bytes(&raw).map_err(|e| format!("the backup key file {}: {}", path.display(), e.message()))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(name: &str) -> SpaceId {
        SpaceId::parse(name).unwrap()
    }

    #[test]
    fn a_space_url_is_one_more_segment_before_the_query() {
        assert_eq!(space_url("file:///tmp/b", &space("user:42")), "file:///tmp/b/user:42");
        assert_eq!(space_url("file:///tmp/b/", &space("a")), "file:///tmp/b/a");
        assert_eq!(
            space_url("s3://bucket/hub?endpoint=http://127.0.0.1:9000&region=x", &space("default")),
            "s3://bucket/hub/default?endpoint=http://127.0.0.1:9000&region=x"
        );
        assert_eq!(space_url("memory://m", &space("..")), "memory://m/~..");
        assert_eq!(space_url("memory://m", &space(".")), "memory://m/~.");
        assert_eq!(space_url("memory://m", &space("a.b")), "memory://m/a.b");
        assert_eq!(without_query("s3://b/p?secret=1"), "s3://b/p");
    }

    #[test]
    fn key_files_hold_raw_or_hex_keys() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw");
        std::fs::write(&raw, [7u8; 32]).unwrap();
        let hex = dir.path().join("hex");
        std::fs::write(&hex, format!("{}\n", "07".repeat(32))).unwrap();
        let sealed = read_key_file(&raw).unwrap().seal("x", b"data").unwrap();
        assert_eq!(read_key_file(&hex).unwrap().open("x", &sealed).unwrap(), b"data", "the same key");
        for bad in [&b"short"[..], "07".repeat(31).as_bytes(), "zz".repeat(32).as_bytes(), &[0u8; 33][..]] {
            let path = dir.path().join("bad");
            std::fs::write(&path, bad).unwrap();
            let error = read_key_file(&path).map(|_| ()).unwrap_err();
            assert!(error.contains("32 raw bytes or 64 hex characters"), "{error}");
        }
        assert!(read_key_file(&dir.path().join("missing")).map(|_| ()).unwrap_err().contains("cannot read"));
    }
}
