//! `statesync-ffi`: the uniffi bindings of statesync for Kotlin and Swift.
//!
//! Thin on purpose: every behaviour lives in the core crate; this crate converts types
//! (records for values, JSON text for application data), maps the core error to one uniffi
//! error (`SyncError`, in `error.rs`), exposes the application's listener, resolver and transport as foreign
//! traits, and runs the long calls (opening, sync rounds) as async exports on uniffi's tokio
//! runtime. The idiomatic layers (`Flow` / `AsyncStream` of events, JSON helpers) live beside
//! the generated sources in `kotlin/` and `swift/`. Decisions: docs/adr/0012-uniffi-bindings.md.

#![warn(missing_docs)]

mod bench;
mod clock;
mod error;
mod event;
mod feed;
mod manager;
mod results;
mod snapshot;
mod state;
mod strategy;
mod transport;
mod wire;

pub use bench::bench_rust_w1;
pub use clock::ManualClock;
pub use error::{CallbackError, SyncError};
pub use event::{Status, Subscription, SyncEvent, SyncListener};
pub use feed::{ChangeSet, SyncCapabilities, SyncContext};
pub use manager::{Durability, ManagerConfig, SyncManager};
pub use results::{ApplyOutcome, ApplyResult, ReconciliationResult, RejectedState, Rejection, SyncReport};
pub use snapshot::Snapshot;
pub use state::{OperationKind, SyncConflict, SyncOperation, SyncState, Timestamp};
pub use strategy::{ConflictResolver, ConflictStrategy, Resolution, Resolved};
pub use transport::{HttpOptions, HttpTransport, SyncTransport};
pub use wire::{ClockOrdering, Encoding};

uniffi::setup_scaffolding!();

/// The version of this library.
#[uniffi::export]
pub fn library_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
