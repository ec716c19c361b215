//! The changes feed (docs/design.md#4-sync-protocol): scopes, pages, and what a peer supports.

use crate::error::{guard, Result};
use crate::state::SyncState;
use std::sync::Arc;

/// What a sync call is about: collections (empty: all) and a page size (`null`: no limit).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, uniffi::Record)]
pub struct SyncContext {
    /// Collections to sync; empty means all.
    #[uniffi(default)]
    pub collections: Vec<String>,
    /// Largest number of states in one page; at least 1.
    #[uniffi(default = None)]
    pub limit: Option<u32>,
}

impl SyncContext {
    /// The core context, checked by the core's `SyncContext::new` (valid collection names, a
    /// limit of at least 1).
    pub(crate) fn to_core(&self) -> statesync::Result<statesync::SyncContext> {
        statesync::SyncContext::new(self.collections.clone(), self.limit.map(i64::from))
    }
}

impl From<&statesync::SyncContext> for SyncContext {
    fn from(c: &statesync::SyncContext) -> Self {
        SyncContext { collections: c.collections.clone(), limit: c.limit.map(|l| u32::try_from(l).unwrap_or(u32::MAX)) }
    }
}

/// The name under which a peer's cursor for these collections is stored (order and
/// duplicates do not matter).
pub(crate) fn scope_of(collections: Vec<String>) -> String {
    statesync::SyncContext::collections(collections).scope()
}

/// One page of the changes feed.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ChangeSet {
    /// The latest version of each state changed after the cursor asked for, oldest first.
    pub states: Vec<SyncState>,
    /// Where the next request starts (opaque).
    pub cursor: String,
    /// True when more changes follow: ask again with `cursor`.
    pub has_more: bool,
}

impl From<&statesync::ChangeSet> for ChangeSet {
    fn from(c: &statesync::ChangeSet) -> Self {
        ChangeSet {
            states: c.states.iter().map(|s| (&**s).into()).collect(),
            cursor: c.cursor.clone(),
            has_more: c.has_more,
        }
    }
}

impl ChangeSet {
    /// The core change set (states not yet validated).
    pub(crate) fn into_core(self) -> statesync::Result<statesync::ChangeSet> {
        let states = self.states.into_iter().map(|s| s.into_core().map(Arc::new)).collect::<statesync::Result<_>>()?;
        Ok(statesync::ChangeSet { states, cursor: self.cursor, has_more: self.has_more })
    }
}

/// What a sync peer supports, as it advertises it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, uniffi::Record)]
pub struct SyncCapabilities {
    /// Protocol version the peer speaks.
    pub protocol: u64,
    /// The peer's node id.
    pub node_id: String,
    /// The peer filters its feed by collections.
    #[uniffi(default = false)]
    pub scoped_sync: bool,
    /// The peer accepts and sends the compact binary encoding.
    #[uniffi(default = false)]
    pub binary: bool,
    /// The peer accepts and sends zstd-compressed bodies.
    #[uniffi(default = false)]
    pub zstd: bool,
    /// Largest page the peer serves or accepts.
    #[uniffi(default = None)]
    pub max_batch: Option<u32>,
    /// Largest request body the peer accepts, in bytes before compression; pushed pages are
    /// cut so that their JSON fits (a single larger state is sent alone). `null`: no limit.
    #[uniffi(default = None)]
    pub max_body_bytes: Option<u64>,
}

impl From<&statesync::SyncCapabilities> for SyncCapabilities {
    fn from(c: &statesync::SyncCapabilities) -> Self {
        SyncCapabilities {
            protocol: c.protocol,
            node_id: c.node_id.clone(),
            scoped_sync: c.scoped_sync,
            binary: c.binary,
            zstd: c.zstd,
            max_batch: c.max_batch.map(|m| u32::try_from(m).unwrap_or(u32::MAX)),
            max_body_bytes: c.max_body_bytes.map(|m| m as u64),
        }
    }
}

impl From<SyncCapabilities> for statesync::SyncCapabilities {
    fn from(c: SyncCapabilities) -> Self {
        statesync::SyncCapabilities {
            protocol: c.protocol,
            node_id: c.node_id,
            scoped_sync: c.scoped_sync,
            binary: c.binary,
            zstd: c.zstd,
            max_batch: c.max_batch.map(|m| m as usize),
            max_body_bytes: c.max_body_bytes.map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
        }
    }
}

/// The capabilities of a peer that supports everything this build does.
#[uniffi::export]
pub fn full_capabilities(node_id: String) -> Result<SyncCapabilities> {
    guard(|| Ok((&statesync::SyncCapabilities::full(node_id)).into()))
}

/// The version of the sync protocol this build speaks.
#[uniffi::export]
pub fn protocol_version() -> Result<u64> {
    guard(|| Ok(statesync::PROTOCOL_VERSION))
}
