//! The manager's side of backups: [`SyncManager::backup`] and [`SyncManager::restore_backup`].

use super::backup::{BackupInfo, BackupOptions, BackupStore};
use crate::manager::SyncManager;
use crate::model::error::Result;
use crate::replica::outcome::ReconciliationResult;
use crate::wire::EncryptionKey;

impl SyncManager {
    /// Backs this replica up to a storage URL (docs/backups.md): every state, the pending queue
    /// and the conflicts, sealed with `key` when given. The snapshot is taken at one instant;
    /// writes made while it uploads are in the next backup.
    pub fn backup(&self, url: &str, key: Option<&EncryptionKey>, label: Option<&str>) -> Result<BackupInfo> {
        let store = BackupStore::open(url)?;
        let options = BackupOptions { key: key.cloned(), label: label.map(str::to_string), part_size: None };
        store.write(&self.export_state()?, &options)
    }

    /// Restores backup `id` from a storage URL: verified whole first (every part's SHA-256,
    /// decryption, decoding), then merged by the rules of `reconcile` (a backup never overwrites
    /// newer local data) or, with `replace`, put in place of what the replica holds; with
    /// `collections`, only those collections. A restore that fails changes nothing.
    pub fn restore_backup(
        &self,
        url: &str,
        id: &str,
        key: Option<&EncryptionKey>,
        replace: bool,
        collections: &[String],
    ) -> Result<ReconciliationResult> {
        let (_, snapshot) = BackupStore::open(url)?.read(id, key)?;
        self.import_collections(snapshot, replace, collections)
    }
}
