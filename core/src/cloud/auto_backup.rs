//! Backups on a timer: [`SyncManager::start_auto_backup`] runs a backup every interval on a
//! thread of its own, then prunes to the newest `keep_last`, until the [`AutoBackup`] handle is
//! stopped or dropped, or the manager is closed.

use super::backup::{BackupInfo, BackupOptions, BackupStore};
use crate::manager::SyncManager;
use crate::model::error::{Result, SyncError};
use crate::wire::EncryptionKey;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

/// Shortest interval [`SyncManager::start_auto_backup`] takes: a backup is a full snapshot.
pub const MIN_AUTO_BACKUP_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Shared {
    stopped: bool,
    last: Option<BackupInfo>,
    last_error: Option<(String, String)>,
    runs: u64,
}

/// A running auto-backup. Stops when [`AutoBackup::stop`] is called or it is dropped.
pub struct AutoBackup {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for AutoBackup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("AutoBackup").field("runs", &s.runs).field("stopped", &s.stopped).finish()
    }
}

impl AutoBackup {
    /// The newest backup it wrote, if any.
    pub fn last_backup(&self) -> Option<BackupInfo> {
        self.lock().last.clone()
    }

    /// The code and message of the last run's failure, if the last run failed (it is retried
    /// at the next interval).
    pub fn last_error(&self) -> Option<(String, String)> {
        self.lock().last_error.clone()
    }

    /// How many runs finished, well or not.
    pub fn runs(&self) -> u64 {
        self.lock().runs
    }

    /// Stops it and waits for a backup in progress to finish. Idempotent.
    pub fn stop(&mut self) {
        self.lock().stopped = true;
        self.shared.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for AutoBackup {
    fn drop(&mut self) {
        self.stop();
    }
}

impl SyncManager {
    /// Backs this replica up to `url` every `interval` (the first one at once), keeping the
    /// `keep_last` newest backups there (older ones are pruned after each backup; `0` keeps
    /// all). A failed run is recorded ([`AutoBackup::last_error`]) and retried at the next
    /// interval. The storage URL and key are checked before it starts.
    pub fn start_auto_backup(
        self: &Arc<Self>,
        url: &str,
        interval: Duration,
        keep_last: usize,
        key: Option<&EncryptionKey>,
    ) -> Result<AutoBackup> {
        if interval < MIN_AUTO_BACKUP_INTERVAL {
            return Err(SyncError::InvalidInput(format!(
                "an auto-backup interval is at least {MIN_AUTO_BACKUP_INTERVAL:?}, not {interval:?}"
            )));
        }
        self.node_id()?;
        let store = BackupStore::open(url)?;
        let options = BackupOptions { key: key.cloned(), label: Some("auto".into()), part_size: None };
        let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
        let manager = Arc::downgrade(self);
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("statesync-auto-backup".into())
            .spawn(move || run(manager, store, options, interval, keep_last, thread_shared))
            .map_err(|e| SyncError::Internal(format!("cannot start the auto-backup thread: {e}")))?;
        Ok(AutoBackup { shared, thread: Some(thread) })
    }
}

fn run(
    manager: Weak<SyncManager>,
    store: BackupStore,
    options: BackupOptions,
    interval: Duration,
    keep_last: usize,
    shared: Arc<(Mutex<Shared>, Condvar)>,
) {
    loop {
        let Some(m) = manager.upgrade() else { return };
        let outcome = m.export_state().and_then(|snapshot| {
            drop(m);
            let info = store.write(&snapshot, &options)?;
            if keep_last > 0 {
                store.prune(Some(keep_last), None)?;
            }
            Ok(info)
        });
        let (lock, wake) = &*shared;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        s.runs += 1;
        match outcome {
            Ok(info) => {
                s.last = Some(info);
                s.last_error = None;
            }
            Err(SyncError::Closed) => return,
            // Kept for `last_error` (the core has no logger) and retried at the next interval.
            Err(e) => s.last_error = Some((e.code().to_string(), e.message_with_causes())),
        }
        let (s, _) = wake.wait_timeout_while(s, interval, |s| !s.stopped).unwrap_or_else(|p| p.into_inner());
        if s.stopped {
            return;
        }
    }
}
