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
