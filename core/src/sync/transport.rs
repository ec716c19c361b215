//! What a sync peer looks like from this replica: the [`SyncTransport`] trait (pull a page of
//! the peer's changes, push a page of ours, ask what it supports) and [`SyncCapabilities`].
//!
//! The trait is blocking on purpose: it is the one shape every binding can implement (a Python
//! callable, a Kotlin or Swift object through uniffi, a JS function behind a threadsafe call),
//! and auto-sync runs it on a blocking thread. Runtimes that cannot block (the browser) drive
//! the same round with [`crate::SyncRound`] instead.

use crate::manager::SyncManager;
use crate::model::change_set::{ChangeSet, SyncContext};
use crate::model::error::{Result, SyncError};
use crate::replica::outcome::ReconciliationResult;
use serde::{Deserialize, Serialize};

/// The version of the sync protocol this build speaks (`docs/protocol.md`).
pub const PROTOCOL_VERSION: u64 = 1;

/// What a peer supports, as it advertises it. Unknown fields from newer peers are ignored, and
/// fields missing from older ones take their conservative default. Serialised with snake_case
/// names (the HTTP protocol's); read from snake_case or camelCase (`nodeId`, `scopedSync`,
/// `maxBatch`, `maxBodyBytes`: what a JS transport returns), so no binding renames fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncCapabilities {
    /// Protocol version the peer speaks.
    pub protocol: u64,
    /// The peer's node id: the key under which cursors for it are stored.
    #[serde(alias = "nodeId")]
    pub node_id: String,
    /// The peer filters its feed by [`SyncContext::collections`]. When false, no collection is
    /// ever sent to it and the round filters the pulled changes locally instead.
    #[serde(alias = "scopedSync")]
    pub scoped_sync: bool,
    /// The peer accepts and sends the compact binary encoding.
    pub binary: bool,
    /// The peer accepts and sends zstd-compressed bodies.
    pub zstd: bool,
    /// Largest page the peer serves or accepts; pages are cut to it.
    #[serde(alias = "maxBatch")]
    pub max_batch: Option<usize>,
    /// Largest request body the peer accepts, in bytes before compression; pushed pages are
    /// cut so that their JSON fits (a single state larger than that is sent alone).
    #[serde(alias = "maxBodyBytes")]
    pub max_body_bytes: Option<usize>,
}

impl Default for SyncCapabilities {
    fn default() -> Self {
        SyncCapabilities {
            protocol: PROTOCOL_VERSION,
            node_id: String::new(),
            scoped_sync: false,
            binary: false,
            zstd: false,
            max_batch: None,
            max_body_bytes: None,
        }
    }
}

impl SyncCapabilities {
    /// Capabilities from their JSON text, in either spelling of the field names; text that is
    /// not a JSON object of these fields with the right types is `INVALID_INPUT` (a binding
    /// that reads a peer's answer may report it as that peer's fault instead).
    pub fn from_json(json: &str) -> Result<SyncCapabilities> {
        serde_json::from_str(json).map_err(|e| SyncError::InvalidInput(format!("malformed capabilities: {e}")))
    }

    /// The capabilities of a peer that supports everything this build does.
    pub fn full(node_id: impl Into<String>) -> Self {
        SyncCapabilities {
            node_id: node_id.into(),
            scoped_sync: true,
            binary: true,
            zstd: cfg!(feature = "zstd"),
            ..Self::default()
        }
    }
}

/// A sync peer reached somehow: over HTTP, through the application's own channel, or in process.
pub trait SyncTransport: Send + Sync {
    /// Called at the start of every round, before `capabilities`, with this replica's node id:
    /// a transport that writes under the replica's name (a bucket's log) learns it here. Most
    /// transports need nothing of it: the default does nothing.
    fn attach(&self, _local_node_id: &str) -> Result<()> {
        Ok(())
    }

    /// What the peer supports. Asked once at the start of every round.
    fn capabilities(&self) -> Result<SyncCapabilities>;

    /// One page of the peer's changes after `cursor` (`None`: from the beginning). `context`
    /// carries collections only when the peer advertised [`SyncCapabilities::scoped_sync`].
    fn pull(&self, cursor: Option<&str>, context: &SyncContext) -> Result<ChangeSet>;

    /// Delivers a page of this replica's changes; the peer applies them with `reconcile`.
    /// Pushing the same page twice must be harmless (reconcile is idempotent).
    fn push(&self, changes: &ChangeSet) -> Result<ReconciliationResult>;
}

/// A replica in the same process is a peer too: tests, simulations and examples sync through it
/// exactly as they would through a network transport.
impl SyncTransport for SyncManager {
    fn capabilities(&self) -> Result<SyncCapabilities> {
        Ok(SyncCapabilities { binary: false, zstd: false, ..SyncCapabilities::full(self.node_id()?) })
    }

    fn pull(&self, cursor: Option<&str>, context: &SyncContext) -> Result<ChangeSet> {
        self.changes_since(cursor, context)
    }

    fn push(&self, changes: &ChangeSet) -> Result<ReconciliationResult> {
        self.reconcile(changes.states.iter().cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_read_either_spelling_and_write_snake_case() {
        let want = SyncCapabilities {
            node_id: "hub".into(),
            scoped_sync: true,
            binary: true,
            zstd: false,
            max_batch: Some(10),
            max_body_bytes: Some(2048),
            ..SyncCapabilities::default()
        };
        let snake =
            r#"{"protocol":1,"node_id":"hub","scoped_sync":true,"binary":true,"max_batch":10,"max_body_bytes":2048}"#;
        let camel = r#"{"nodeId":"hub","scopedSync":true,"binary":true,"zstd":false,"maxBatch":10,"maxBodyBytes":2048,"newer":1}"#;
        assert_eq!(SyncCapabilities::from_json(snake).unwrap(), want);
        assert_eq!(SyncCapabilities::from_json(camel).unwrap(), want);
        assert_eq!(
            serde_json::to_string(&want).unwrap(),
            r#"{"protocol":1,"node_id":"hub","scoped_sync":true,"binary":true,"zstd":false,"max_batch":10,"max_body_bytes":2048}"#
        );
        assert_eq!(SyncCapabilities::from_json("{}").unwrap(), SyncCapabilities::default());
        for bad in ["", "5", "null", r#"{"nodeId":5}"#, r#"{"maxBatch":-1}"#, r#"{"binary":"yes"}"#] {
            let e = SyncCapabilities::from_json(bad).unwrap_err();
            assert_eq!(e.code(), "INVALID_INPUT", "{bad:?}");
            assert!(e.message().starts_with("malformed capabilities: "), "{e}");
        }
    }
}
