//! Object storage (feature `cloud`, docs/backups.md): storage URLs over the `object_store`
//! crate ([`ObjectStorage`]), backups with manifests, checksums, parts and retention
//! ([`BackupStore`], [`SyncManager::backup`](crate::SyncManager::backup)), and serverless sync
//! through a bucket ([`ObjectStoreTransport`]). Encryption is the wire layer's
//! [`EncryptionKey`](crate::EncryptionKey). The top layer of the core: it uses the manager and
//! the sync layer, nothing uses it.

pub mod auto_backup;
pub mod backup;
pub mod bucket;
mod restore;
mod runtime;
pub mod storage;

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 8 random hex digits: what keeps two objects made in the same second (backup ids, snapshot
/// data) from colliding.
fn random_hex() -> String {
    let mut random = [0u8; 4];
    getrandom::fill(&mut random).expect("the system has randomness");
    hex(&random)
}
