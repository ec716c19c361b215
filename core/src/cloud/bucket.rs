//! Serverless sync through a bucket (docs/backups.md, "Sync through a bucket"):
//! [`ObjectStoreTransport`] is a [`SyncTransport`] whose peer is a storage URL, shared by every
//! replica that syncs through it, with no server.
//!
//! Layout under the URL, every object zstd-compressed and sealed with the key when there is one
//! (the object's name is authenticated with it):
//! - `log/<node>/<seq, 20 digits>.seg`: a pushed page (binary change set). Each replica writes
//!   only its own log, with numbers 1, 2, 3, … without gaps, each object created once (a
//!   conditional create where the store has one). Nobody overwrites anybody.
//! - `snapshots/data-<gen>-<8 hex>`: a compaction: every version of every state in the
//!   segments it covers that no other version there dominates (concurrent versions stay side
//!   by side, so a reader settles them with its own strategy, as it would from the segments).
//! - `snapshots/<gen, 20 digits>.ptr`: generation `gen`'s pointer: its data object and, per
//!   node, the last segment it covers. Created conditionally: one compactor wins each generation.
//!
//! A reader's cursor is, per node, the last segment it applied. It reads each other node's
//! segments after that; a gap (segments deleted by a compaction) sends it to the newest
//! snapshot, which covers them. A compaction deletes only segments the previous generation
//! covers, one generation late, and never a node's newest segment (its numbering goes on from
//! there), so nothing a reader may still need goes before a snapshot that covers it exists.

use super::random_hex;
use super::storage::ObjectStorage;
use crate::model::canonical::hex16;
use crate::model::change_set::{ChangeSet, SyncContext};
use crate::model::clock::ClockOrdering;
use crate::model::error::{Result, SyncError};
use crate::model::state::SyncState;
use crate::replica::outcome::ReconciliationResult;
use crate::sync::transport::{SyncCapabilities, SyncTransport};
use crate::wire::{decode_page, encode, Encoding, EncryptionKey};
use object_store::path::PathPart;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const LOG: &str = "log";
const SNAPSHOTS: &str = "snapshots";
const SEGMENT_SUFFIX: &str = ".seg";
const POINTER_SUFFIX: &str = ".ptr";
/// Attempts at a segment number when another writer with this node id took the one chosen.
const PUSH_ATTEMPTS: usize = 5;

/// How an [`ObjectStoreTransport`] works.
#[derive(Clone, Debug)]
pub struct BucketOptions {
    /// Seal every object with this key (docs/encryption.md).
    pub key: Option<EncryptionKey>,
    /// Compact after every this many segments this replica pushes (`0`: only when
    /// [`ObjectStoreTransport::compact`] is called).
    pub compact_every: u64,
    /// Most segments one pull reads before it returns a page (and `has_more`).
    pub segments_per_pull: usize,
}

impl Default for BucketOptions {
    fn default() -> Self {
        BucketOptions { key: None, compact_every: 64, segments_per_pull: 64 }
    }
}

/// A cursor: the newest snapshot generation applied and, per node folder, the last segment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    #[serde(rename = "g")]
    generation: u64,
    #[serde(rename = "n")]
    nodes: BTreeMap<String, u64>,
}

/// A snapshot generation's pointer.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Pointer {
    generation: u64,
    data: String,
    covers: BTreeMap<String, u64>,
}

/// The peer "a bucket": sync through a storage URL with no server.
pub struct ObjectStoreTransport {
    storage: ObjectStorage,
    options: BucketOptions,
    peer_id: String,
    /// This replica's node folder (set by [`SyncTransport::attach`]) and its next segment.
    writer: Mutex<Option<Writer>>,
}

struct Writer {
    folder: String,
    next: Option<u64>,
}

impl std::fmt::Debug for ObjectStoreTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectStoreTransport({})", self.storage.display())
    }
}

impl ObjectStoreTransport {
    /// A transport syncing through the storage URL `url` (see [`ObjectStorage::open`]), its
    /// objects sealed with `key` when given. Every replica of the bucket must use the same key.
    pub fn open(url: &str, key: Option<EncryptionKey>) -> Result<ObjectStoreTransport> {
        Self::with_options(ObjectStorage::open(url)?, BucketOptions { key, ..BucketOptions::default() })
    }

    /// A transport over opened storage, with options.
    pub fn with_options(storage: ObjectStorage, options: BucketOptions) -> Result<ObjectStoreTransport> {
        if options.segments_per_pull == 0 {
            return Err(SyncError::InvalidInput("segments_per_pull must be at least 1".into()));
        }
        let digest = Sha256::digest(storage.display().as_bytes());
        let peer_id = format!("bucket-{}", hex16(&digest));
        Ok(ObjectStoreTransport { storage, options, peer_id, writer: Mutex::new(None) })
    }

    /// The storage it syncs through (its [`ObjectStorage::stats`] count the round's requests).
    pub fn storage(&self) -> &ObjectStorage {
        &self.storage
    }

    /// Compacts the segments pushed since the newest snapshot into a new one, and deletes what
    /// the previous snapshot already covered. `Ok(false)` when there was nothing to do, another
    /// replica compacted at the same time, or the store cannot create objects conditionally
    /// (then compaction never deletes anything there).
    pub fn compact(&self) -> Result<bool> {
        let base = self.latest_pointer()?;
        let mut covers = base.as_ref().map(|p| p.covers.clone()).unwrap_or_default();
        let mut states = match &base {
            Some(p) => self.read_object(&p.data)?.states,
            None => Vec::new(),
        };
        let mut newest = BTreeMap::new();
        let mut changed = false;
        for folder in self.storage.list_folders(LOG)? {
            let segments = self.segments_after(&folder, covers.get(&folder).copied().unwrap_or(0))?;
            if let Some((seq, _)) = segments.last() {
                newest.insert(folder.clone(), *seq);
            }
            let first = covers.get(&folder).copied().unwrap_or(0) + 1;
            for (expected, (seq, name)) in (first..).zip(segments) {
                if seq != expected {
                    return Ok(false); // A compaction deleted what this one started from.
                }
                match self.read_object(&name) {
                    Ok(page) => states.extend(page.states),
                    Err(SyncError::NotFound(_)) => return Ok(false),
                    Err(e) => return Err(e),
                }
                covers.insert(folder.clone(), seq);
                changed = true;
            }
        }
        if !changed {
            return Ok(false);
        }
        let generation = base.as_ref().map_or(0, |p| p.generation) + 1;
        let data = format!("{SNAPSHOTS}/data-{generation:020}-{}", random_hex());
        let page = ChangeSet { states: undominated(states), cursor: String::new(), has_more: false };
        self.storage.put(&data, self.seal(&data, &encode(&page, Encoding::Binary))?)?;
        let pointer = Pointer { generation, data: data.clone(), covers };
        let name = pointer_name(generation);
        let body = serde_json::to_vec(&pointer).expect("a pointer serialises");
        if self.storage.put_new(&name, self.seal(&name, &body)?)? != Some(true) {
            self.storage.delete(&data)?;
            return Ok(false);
        }
        if let Some(previous) = base {
            self.clean_up(&previous, &newest)?;
        }
        Ok(true)
    }

    /// After generation `previous + 1` is in place: deletes the segments `previous` covers
    /// (but each node's newest) and the generations before `previous` with their data.
    fn clean_up(&self, previous: &Pointer, newest: &BTreeMap<String, u64>) -> Result<()> {
        for (folder, covered) in &previous.covers {
            let keep = newest.get(folder).copied().unwrap_or(*covered);
            for (seq, name) in self.segments_after(folder, 0)? {
                if seq <= *covered && seq < keep {
                    self.storage.delete(&name)?;
                }
            }
        }
        for entry in self.storage.list(SNAPSHOTS, None)? {
            let Some(generation) = generation_of(&entry.name) else { continue };
            if generation < previous.generation {
                self.storage.delete(&entry.name)?;
            }
        }
        Ok(())
    }

    /// The newest pointer, if any compaction ever succeeded.
    fn latest_pointer(&self) -> Result<Option<Pointer>> {
        let pointers = self.storage.list(SNAPSHOTS, None)?;
        let Some(name) = pointers.iter().rev().map(|e| &e.name).find(|n| n.ends_with(POINTER_SUFFIX)) else {
            return Ok(None);
        };
        let bytes = self.open_object(name)?;
        let pointer: Pointer = serde_json::from_slice(&bytes)
            .map_err(|e| SyncError::Corrupt(format!("{}: {name} does not parse: {e}", self.storage.display())))?;
        Ok(Some(pointer))
    }

    /// The segments of node folder `folder` after number `after`, in order.
    fn segments_after(&self, folder: &str, after: u64) -> Result<Vec<(u64, String)>> {
        let prefix = format!("{LOG}/{folder}");
        let offset = (after > 0).then(|| segment_name(folder, after));
        let listed = self.storage.list(&prefix, offset.as_deref())?;
        Ok(listed.into_iter().filter_map(|e| segment_number(&e.name).map(|n| (n, e.name))).collect())
    }

    fn seal(&self, name: &str, plain: &[u8]) -> Result<Vec<u8>> {
        let compressed = crate::wire::compress(plain);
        match &self.options.key {
            Some(key) => key.seal(name, &compressed),
            None => Ok(compressed),
        }
    }

    fn open_object(&self, name: &str) -> Result<Vec<u8>> {
        let stored = self.storage.get(name)?;
        let compressed = match (&self.options.key, EncryptionKey::is_sealed(&stored)) {
            (Some(key), _) => key.open(name, &stored)?,
            (None, true) => {
                return Err(SyncError::Crypto(format!(
                    "{}: {name} is encrypted: open the transport with the bucket's key",
                    self.storage.display()
                )))
            }
            (None, false) => stored,
        };
        crate::wire::decompress(&compressed)
            .map_err(|e| SyncError::Corrupt(format!("{}: {name}: {}", self.storage.display(), e.message())))
    }

    fn read_object(&self, name: &str) -> Result<ChangeSet> {
        let bytes = self.open_object(name)?;
        decode_page(&bytes, Encoding::Binary)
            .map_err(|e| SyncError::Corrupt(format!("{}: {name}: {}", self.storage.display(), e.message())))
    }

    /// A page of the snapshot `pointer` names, with the cursor moved to cover it; `gap`, the
    /// node folder and segment number up to which segments were missing, must be covered by it.
    fn snapshot_page(
        &self,
        pointer: Pointer,
        mut cursor: Cursor,
        mut states: Vec<Arc<SyncState>>,
        context: &SyncContext,
        gap: Option<(&str, u64)>,
    ) -> Result<ChangeSet> {
        let snapshot = self.read_object(&pointer.data)?;
        states.extend(snapshot.states.into_iter().filter(|s| context.covers(&s.collection)));
        cursor.generation = pointer.generation;
        for (folder, seq) in pointer.covers {
            let at = cursor.nodes.entry(folder).or_insert(0);
            *at = (*at).max(seq);
        }
        if let Some((folder, upto)) = gap {
            if cursor.nodes.get(folder).copied().unwrap_or(0) < upto {
                return Err(SyncError::Corrupt(format!(
                    "{}: segments of {folder} up to {upto} are missing and no snapshot covers them",
                    self.storage.display()
                )));
            }
        }
        Ok(ChangeSet { states, cursor: encode_cursor(&cursor), has_more: true })
    }

    fn own_folder(&self) -> Result<String> {
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        writer.as_ref().map(|w| w.folder.clone()).ok_or_else(not_attached)
    }
}

impl SyncTransport for ObjectStoreTransport {
    fn attach(&self, local_node_id: &str) -> Result<()> {
        let folder = PathPart::from(local_node_id).as_ref().to_string();
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if writer.as_ref().map(|w| &w.folder) != Some(&folder) {
            *writer = Some(Writer { folder, next: None });
        }
        Ok(())
    }

    fn capabilities(&self) -> Result<SyncCapabilities> {
        Ok(SyncCapabilities {
            // The transport filters by collection itself: the round asks for its scope only.
            scoped_sync: true,
            ..SyncCapabilities::full(self.peer_id.clone())
        })
    }

    fn pull(&self, cursor: Option<&str>, context: &SyncContext) -> Result<ChangeSet> {
        let own = self.own_folder()?;
        // A cursor this transport did not write (another peer's, a damaged one) starts over:
        // applying a version again changes nothing.
        let mut cursor: Cursor = cursor.and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default();
        if cursor == Cursor::default() {
            if let Some(pointer) = self.latest_pointer()? {
                return self.snapshot_page(pointer, cursor, Vec::new(), context, None);
            }
        }
        let limit = context.limit.unwrap_or(usize::MAX);
        let mut states = Vec::new();
        let mut read = 0;
        for folder in self.storage.list_folders(LOG)? {
            if folder == own {
                continue; // This replica's own writes: no echo.
            }
            let after = cursor.nodes.get(&folder).copied().unwrap_or(0);
            for (expected, (seq, name)) in (after + 1..).zip(self.segments_after(&folder, after)?) {
                let page = if seq == expected { Some(self.read_object(&name)) } else { None };
                let page = match page {
                    Some(Ok(page)) => page,
                    // A gap, or a segment deleted since it was listed: a compaction covers it.
                    None | Some(Err(SyncError::NotFound(_))) => {
                        let pointer = self.latest_pointer()?.ok_or_else(|| {
                            SyncError::Corrupt(format!(
                                "{}: segments of {folder} are missing and no snapshot covers them",
                                self.storage.display()
                            ))
                        })?;
                        return self.snapshot_page(pointer, cursor, states, context, Some((&folder, seq - 1)));
                    }
                    Some(Err(e)) => return Err(e),
                };
                states.extend(page.states.into_iter().filter(|s| context.covers(&s.collection)));
                cursor.nodes.insert(folder.clone(), seq);
                read += 1;
                if read >= self.options.segments_per_pull || states.len() >= limit {
                    return Ok(ChangeSet { states, cursor: encode_cursor(&cursor), has_more: true });
                }
            }
        }
        Ok(ChangeSet { states, cursor: encode_cursor(&cursor), has_more: false })
    }

    fn push(&self, changes: &ChangeSet) -> Result<ReconciliationResult> {
        if changes.states.is_empty() {
            return Ok(ReconciliationResult::default());
        }
        let page = ChangeSet { states: changes.states.clone(), cursor: String::new(), has_more: false };
        let body = encode(&page, Encoding::Binary);
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let w = writer.as_mut().ok_or_else(not_attached)?;
        let mut written = None;
        for _ in 0..PUSH_ATTEMPTS {
            let seq = match w.next {
                Some(next) => next,
                None => self.segments_after(&w.folder, 0)?.last().map_or(1, |(n, _)| n + 1),
            };
            let name = segment_name(&w.folder, seq);
            // A payload shares its bytes: the fallback put below copies nothing.
            let sealed = object_store::PutPayload::from(self.seal(&name, &body)?);
            match self.storage.put_new(&name, sealed.clone())? {
                Some(true) => {}
                // Taken: this node's numbering moved on elsewhere (a restart); count again.
                Some(false) => {
                    w.next = None;
                    continue;
                }
                // No conditional create here: this replica is the only writer of its folder.
                None => self.storage.put(&name, sealed)?,
            }
            w.next = Some(seq + 1);
            written = Some(seq);
            break;
        }
        let seq = written.ok_or_else(|| {
            SyncError::Transport(format!("{}: could not find a free segment number", self.storage.display()))
        })?;
        drop(writer);
        if self.options.compact_every > 0 && seq % self.options.compact_every == 0 {
            // Best effort: the segment is written and the push succeeded whatever happens here;
            // a failed compaction is retried by a later push.
            let _ = self.compact();
        }
        Ok(ReconciliationResult { created: page.states.len() as u64, ..ReconciliationResult::default() })
    }
}

fn not_attached() -> SyncError {
    SyncError::InvalidInput(
        "this ObjectStoreTransport has not been attached to a replica: sync through it with sync_with".into(),
    )
}

/// Every version in `states` that no other version of the same state dominates, once each.
fn undominated(states: Vec<Arc<SyncState>>) -> Vec<Arc<SyncState>> {
    let mut by_id: BTreeMap<String, Vec<Arc<SyncState>>> = BTreeMap::new();
    for state in states {
        let kept = by_id.entry(state.id.clone()).or_default();
        let mut dominated = false;
        kept.retain(|k| match state.clock.compare(&k.clock) {
            ClockOrdering::After => false,
            ClockOrdering::Before => {
                dominated = true;
                true
            }
            ClockOrdering::Equal => {
                dominated |= k.hash == state.hash;
                true
            }
            ClockOrdering::Concurrent => true,
        });
        if !dominated {
            kept.push(state);
        }
    }
    by_id.into_values().flatten().collect()
}

fn encode_cursor(cursor: &Cursor) -> String {
    serde_json::to_string(cursor).expect("a cursor serialises")
}

fn segment_name(folder: &str, seq: u64) -> String {
    format!("{LOG}/{folder}/{seq:020}{SEGMENT_SUFFIX}")
}

fn segment_number(name: &str) -> Option<u64> {
    name.rsplit('/').next()?.strip_suffix(SEGMENT_SUFFIX)?.parse().ok()
}

fn pointer_name(generation: u64) -> String {
    format!("{SNAPSHOTS}/{generation:020}{POINTER_SUFFIX}")
}

/// The generation of a pointer or data object under `snapshots/`.
fn generation_of(name: &str) -> Option<u64> {
    let file = name.rsplit('/').next()?;
    let digits =
        file.strip_suffix(POINTER_SUFFIX).or_else(|| file.strip_prefix("data-").and_then(|d| d.split('-').next()))?;
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        assert_eq!(segment_number(&segment_name("phone", 42)), Some(42));
        assert_eq!(segment_number("log/phone/x.seg"), None);
        assert_eq!(generation_of(&pointer_name(7)), Some(7));
        assert_eq!(generation_of("snapshots/data-00000000000000000003-0a0b0c0d"), Some(3));
        assert_eq!(generation_of("snapshots/other"), None);
        assert!(segment_name("a", 9) < segment_name("a", 10), "names sort as numbers");
    }
}
