//! Backups to object storage (docs/backups.md): a replica's snapshot in the binary wire form,
//! zstd-compressed, split into parts of [`BackupOptions::part_size`] bytes, each sealed with the
//! backup's key when it has one and checked by SHA-256; `manifest.json` is written last, so a
//! backup that died half-way is invisible (and a later prune removes its parts).
//!
//! Layout under the storage URL: `backups/<id>/part-00000`, `part-00001`, …, `manifest.json`.
//! Ids are `backup-<UTC yyyymmddThhmmssZ>-<8 hex>`: they sort by time, and two backups in one
//! second do not collide.

use super::storage::ObjectStorage;
use super::{hex, random_hex};
use crate::model::error::{Result, SyncError};
use crate::wire::{decode, encode, Encoding, EncryptionKey, Snapshot};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The folder backups live in, under the storage URL's prefix.
const FOLDER: &str = "backups";
/// The manifest's object name inside a backup's folder.
const MANIFEST: &str = "manifest.json";
/// The version of the manifest and backup layout this build writes and reads.
pub const BACKUP_FORMAT: u32 = 1;
/// The default largest part, in bytes (8 MiB): large enough that a backup is a few objects,
/// small enough that a failed upload retries little.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
/// How old the parts of a backup without a manifest must be before a prune deletes them: a
/// younger one may be a backup still being written.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(3600);

/// What a backup holds, as its manifest says: what [`list_backups`] returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupInfo {
    /// `backup-<UTC yyyymmddThhmmssZ>-<8 hex>`.
    pub id: String,
    /// When it was written, in milliseconds since the Unix epoch.
    pub created_at: i64,
    /// The application's label, if it gave one.
    pub label: Option<String>,
    /// States in it, tombstones included.
    pub states: u64,
    /// Bytes stored, all parts together.
    pub bytes: u64,
    /// Number of parts.
    pub parts: u32,
    /// SHA-256 (hex) of the compressed snapshot, before encryption and splitting.
    pub sha256: String,
    /// Whether its parts are sealed with a key.
    pub encrypted: bool,
}

/// How [`BackupStore::write`] writes a backup.
#[derive(Clone, Debug, Default)]
pub struct BackupOptions {
    /// Seal every part (and authenticate the manifest) with this key.
    pub key: Option<EncryptionKey>,
    /// A label kept in the manifest (stored in clear: no secrets).
    pub label: Option<String>,
    /// Largest part in bytes; `None`: [`DEFAULT_PART_SIZE`].
    pub part_size: Option<usize>,
}

/// One part as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct PartEntry {
    name: String,
    bytes: u64,
    sha256: String,
}

/// `manifest.json`: the backup's [`BackupInfo`], its parts and, when encrypted, `auth`: the
/// manifest's own text without `auth`, sealed with the key (so a changed manifest is `CRYPTO`).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    #[serde(flatten)]
    info: BackupInfo,
    node_id: String,
    part_list: Vec<PartEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth: Option<String>,
}

/// The backups under one storage URL.
#[derive(Clone, Debug)]
pub struct BackupStore {
    storage: ObjectStorage,
}

impl BackupStore {
    /// The backups under a storage URL (see [`ObjectStorage::open`]).
    pub fn open(url: &str) -> Result<BackupStore> {
        Ok(BackupStore { storage: ObjectStorage::open(url)? })
    }

    /// The backups in an opened storage.
    pub fn new(storage: ObjectStorage) -> BackupStore {
        BackupStore { storage }
    }

    /// Writes `snapshot` as a new backup: parts first, the manifest last. A failure leaves no
    /// visible backup (its parts are an orphan a prune removes).
    pub fn write(&self, snapshot: &Snapshot, options: &BackupOptions) -> Result<BackupInfo> {
        let part_size = options.part_size.unwrap_or(DEFAULT_PART_SIZE);
        if part_size == 0 {
            return Err(SyncError::InvalidInput("part_size must be at least 1 byte".into()));
        }
        if let Some(label) = &options.label {
            if label.len() > 1024 {
                return Err(SyncError::InvalidInput(format!(
                    "a backup label is at most 1024 bytes, not {}",
                    label.len()
                )));
            }
        }
        let created_at = chrono::Utc::now();
        let id = new_id(created_at);
        let compressed = crate::wire::compress(&encode(snapshot, Encoding::Binary));
        let mut part_list = Vec::new();
        for (i, chunk) in compressed.chunks(part_size).enumerate() {
            let name = format!("part-{i:05}");
            let object = object_name(&id, &name);
            let stored = match &options.key {
                Some(key) => key.seal(&object, chunk)?,
                None => chunk.to_vec(),
            };
            part_list.push(PartEntry { name, bytes: stored.len() as u64, sha256: sha256_hex(&stored) });
            self.storage.put(&object, stored)?;
        }
        let info = BackupInfo {
            id: id.clone(),
            created_at: created_at.timestamp_millis(),
            label: options.label.clone(),
            states: snapshot.states.len() as u64,
            bytes: part_list.iter().map(|p| p.bytes).sum(),
            parts: part_list.len() as u32,
            sha256: sha256_hex(&compressed),
            encrypted: options.key.is_some(),
        };
        let mut manifest = Manifest {
            format: BACKUP_FORMAT,
            info: info.clone(),
            node_id: snapshot.node_id.clone(),
            part_list,
            auth: None,
        };
        if let Some(key) = &options.key {
            let body = serde_json::to_vec(&manifest).expect("a manifest serialises");
            manifest.auth = Some(hex(&key.seal(&object_name(&id, MANIFEST), &body)?));
        }
        self.storage.put(&object_name(&id, MANIFEST), serde_json::to_vec_pretty(&manifest).expect("serialises"))?;
        Ok(info)
    }

    /// Every complete backup (one with a manifest), newest first by `created_at`.
    pub fn list(&self) -> Result<Vec<BackupInfo>> {
        let mut infos = Vec::new();
        for id in self.storage.list_folders(FOLDER)? {
            match self.manifest(&id) {
                Ok(m) => infos.push(m.info),
                // A backup being written, or an orphan: not a backup yet.
                Err(SyncError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        infos.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
        Ok(infos)
    }

    /// Downloads every part of backup `id`, checks each SHA-256, decrypts and decodes it: the
    /// backup's info when all is well. A part changed or missing is `CORRUPT` naming the part;
    /// a wrong or missing key is `CRYPTO`; no backup `id` is `NOT_FOUND`.
    pub fn verify(&self, id: &str, key: Option<&EncryptionKey>) -> Result<BackupInfo> {
        self.read(id, key).map(|(info, _)| info)
    }

    /// [`BackupStore::verify`], and the snapshot the backup holds.
    pub fn read(&self, id: &str, key: Option<&EncryptionKey>) -> Result<(BackupInfo, Snapshot)> {
        let manifest = self.manifest(id)?;
        let key = match (manifest.info.encrypted, key) {
            (true, None) => return Err(SyncError::Crypto(format!("backup {id} is encrypted: pass its key"))),
            (true, Some(key)) => {
                check_auth(&manifest, key)?;
                Some(key)
            }
            (false, _) => None,
        };
        let mut compressed = Vec::new();
        for part in &manifest.part_list {
            let object = object_name(id, &part.name);
            let stored = self.storage.get(&object).map_err(|e| match e {
                SyncError::NotFound(_) => SyncError::Corrupt(format!("backup {id}: {} is missing", part.name)),
                e => e,
            })?;
            if stored.len() as u64 != part.bytes || sha256_hex(&stored) != part.sha256 {
                return Err(SyncError::Corrupt(format!("backup {id}: {} does not match its SHA-256", part.name)));
            }
            match key {
                Some(key) => compressed.extend(
                    key.open(&object, &stored)
                        .map_err(|e| SyncError::Crypto(format!("backup {id}: {}: {}", part.name, e.message())))?,
                ),
                None => compressed.extend(stored),
            }
        }
        if sha256_hex(&compressed) != manifest.info.sha256 {
            return Err(SyncError::Corrupt(format!("backup {id}: its parts do not make up the snapshot it lists")));
        }
        let corrupt =
            |e: SyncError| SyncError::Corrupt(format!("backup {id}: the snapshot does not decode: {}", e.message()));
        let bytes = crate::wire::decompress(&compressed).map_err(corrupt)?;
        let snapshot: Snapshot = decode(&bytes, Encoding::Binary).map_err(corrupt)?;
        if snapshot.states.len() as u64 != manifest.info.states {
            return Err(SyncError::Corrupt(format!(
                "backup {id}: the snapshot holds another number of states than listed"
            )));
        }
        Ok((manifest.info, snapshot))
    }

    /// Deletes every backup but the `keep_last` newest and those younger than `keep_within`
    /// (either may be omitted, not both), and the parts of backups that never got a manifest
    /// and are older than [`ORPHAN_GRACE`]. The ids deleted, newest first. A backup's manifest
    /// goes first, so a prune that fails half-way leaves whole backups or invisible parts.
    pub fn prune(&self, keep_last: Option<usize>, keep_within: Option<Duration>) -> Result<Vec<String>> {
        if keep_last.is_none() && keep_within.is_none() {
            return Err(SyncError::InvalidInput("prune_backups needs keep_last, keep_within or both".into()));
        }
        let now = chrono::Utc::now().timestamp_millis();
        let newer_than = keep_within.map(|d| now.saturating_sub(d.as_millis().min(i64::MAX as u128) as i64));
        let listed = self.list()?;
        let mut removed = Vec::new();
        for (i, info) in listed.iter().enumerate() {
            let kept_by_count = keep_last.is_some_and(|n| i < n);
            let kept_by_age = newer_than.is_some_and(|t| info.created_at >= t);
            if !(kept_by_count || kept_by_age) {
                self.delete(&info.id)?;
                removed.push(info.id.clone());
            }
        }
        let complete: std::collections::HashSet<&str> = listed.iter().map(|i| i.id.as_str()).collect();
        let grace = ORPHAN_GRACE.as_millis() as i64;
        for id in self.storage.list_folders(FOLDER)? {
            if complete.contains(id.as_str()) {
                continue;
            }
            let objects = self.storage.list(&format!("{FOLDER}/{id}"), None)?;
            if !objects.is_empty() && objects.iter().all(|o| now - o.modified_ms > grace) {
                objects.iter().try_for_each(|o| self.storage.delete(&o.name))?;
            }
        }
        Ok(removed)
    }

    fn delete(&self, id: &str) -> Result<()> {
        self.storage.delete(&object_name(id, MANIFEST))?;
        for object in self.storage.list(&format!("{FOLDER}/{id}"), None)? {
            self.storage.delete(&object.name)?;
        }
        Ok(())
    }

    fn manifest(&self, id: &str) -> Result<Manifest> {
        if !valid_id(id) {
            return Err(SyncError::InvalidInput(format!(
                "{id:?} is not a backup id (backup-<yyyymmddThhmmssZ>-<8 hex>)"
            )));
        }
        let bytes = self.storage.get(&object_name(id, MANIFEST)).map_err(|e| match e {
            SyncError::NotFound(_) => SyncError::NotFound(format!("no backup {id} in {}", self.storage.display())),
            e => e,
        })?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| SyncError::Corrupt(format!("backup {id}: manifest.json does not parse: {e}")))?;
        if manifest.format != BACKUP_FORMAT {
            return Err(SyncError::UnsupportedFormat(format!("backup {id} has format {}", manifest.format)));
        }
        if manifest.info.id != id || manifest.part_list.len() != manifest.info.parts as usize {
            return Err(SyncError::Corrupt(format!("backup {id}: manifest.json does not describe this backup")));
        }
        Ok(manifest)
    }
}

/// Checks the sealed copy of an encrypted backup's manifest against the manifest read.
fn check_auth(manifest: &Manifest, key: &EncryptionKey) -> Result<()> {
    let id = &manifest.info.id;
    let sealed = manifest.auth.as_deref().and_then(unhex).ok_or_else(|| {
        SyncError::Corrupt(format!("backup {id}: the manifest of an encrypted backup has no valid auth"))
    })?;
    let body = key
        .open(&object_name(id, MANIFEST), &sealed)
        .map_err(|e| SyncError::Crypto(format!("backup {id}: manifest.json: {}", e.message())))?;
    let unsealed = Manifest { auth: None, ..manifest.clone() };
    if body != serde_json::to_vec(&unsealed).expect("a manifest serialises") {
        return Err(SyncError::Crypto(format!("backup {id}: manifest.json was changed after it was written")));
    }
    Ok(())
}

fn object_name(id: &str, name: &str) -> String {
    format!("{FOLDER}/{id}/{name}")
}

fn new_id(at: chrono::DateTime<chrono::Utc>) -> String {
    format!("backup-{}-{}", at.format("%Y%m%dT%H%M%SZ"), random_hex())
}

/// Whether `id` has the shape of a backup id: names built from it stay inside its folder.
fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    id.len() == 32
        && id.starts_with("backup-")
        && b[7..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'T'
        && b[16..22].iter().all(u8::is_ascii_digit)
        && b[22] == b'Z'
        && b[23] == b'-'
        && b[24..].iter().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// [`BackupStore::list`] of a storage URL.
pub fn list_backups(url: &str) -> Result<Vec<BackupInfo>> {
    BackupStore::open(url)?.list()
}

/// [`BackupStore::verify`] of a storage URL.
pub fn verify_backup(url: &str, id: &str, key: Option<&EncryptionKey>) -> Result<BackupInfo> {
    BackupStore::open(url)?.verify(id, key)
}

/// [`BackupStore::prune`] of a storage URL.
pub fn prune_backups(url: &str, keep_last: Option<usize>, keep_within: Option<Duration>) -> Result<Vec<String>> {
    BackupStore::open(url)?.prune(keep_last, keep_within)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_are_checked() {
        let at = chrono::DateTime::from_timestamp(1_765_108_800, 0).unwrap();
        let id = new_id(at);
        assert!(id.starts_with("backup-20251207T120000Z-"), "{id}");
        assert!(valid_id(&id));
        for bad in ["", "backup-", "backup-20251207T120000Z-0A1B2C3D", "backup-20251207T120000Z-0a1b2c3d/x", "../x"] {
            assert!(!valid_id(bad), "{bad}");
        }
        assert_eq!(unhex(&hex(b"\x00\xffab")).unwrap(), b"\x00\xffab");
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
    }
}
