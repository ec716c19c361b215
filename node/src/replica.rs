//! The calls on W1's path (create, get, update, delete) as plain functions over a handle of the
//! replica: a napi class method pays about 0.2 µs more per call than a function (unwrapping
//! `this`), an eighth of the binding's whole per-call cost. `lib/engine.cjs` calls these; the
//! other calls stay methods of `NativeManager`.
//!
//! Writes hand back the new version's wire JSON rather than a state handle: text is cheaper to
//! make than a native object with a finalizer, and most writes never read their result
//! (js/src/values.ts parses a handle from it when a field is first read).

use crate::callbacks::{run_on, Owner};
use crate::errors::{OrThrow, Result};
use crate::values::{handle as state_handle, StateHandle};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use statesync::{CreateOptions, SyncManager};
use std::sync::Arc;

/// A replica and the JS thread it belongs to.
pub struct Replica {
    core: Arc<SyncManager>,
    owner: Arc<Owner>,
}

/// The opaque handle JS holds for the hot calls.
pub type ReplicaHandle = External<Replica>;

/// The handle of a replica.
pub(crate) fn handle(core: Arc<SyncManager>, owner: Arc<Owner>) -> ReplicaHandle {
    External::new(Replica { core, owner })
}

/// Creates a state from JSON text; returns the new version's wire JSON.
#[napi(catch_unwind)]
pub fn replica_create_state(
    replica: &ReplicaHandle,
    data: String,
    id: Option<String>,
    collection: Option<String>,
) -> Result<String> {
    let data = statesync::data_from_json(&data).or_throw()?;
    let options = CreateOptions { id, collection };
    run_on(&replica.owner, &replica.core, |m| m.create_state(data, options)).map(|s| s.to_json())
}

/// The live state, or null.
#[napi(catch_unwind)]
pub fn replica_get_state(replica: &ReplicaHandle, id: String) -> Result<Option<StateHandle>> {
    run_on(&replica.owner, &replica.core, |m| m.get_state(&id)).map(|s| s.map(state_handle))
}

/// Writes new data (JSON text) to a live state; returns the new version's wire JSON.
#[napi(catch_unwind)]
pub fn replica_update_state(replica: &ReplicaHandle, id: String, data: String) -> Result<String> {
    let data = statesync::data_from_json(&data).or_throw()?;
    run_on(&replica.owner, &replica.core, |m| m.update_state(&id, data)).map(|s| s.to_json())
}

/// Deletes a live state; returns the tombstone's wire JSON.
#[napi(catch_unwind)]
pub fn replica_delete_state(replica: &ReplicaHandle, id: String) -> Result<String> {
    run_on(&replica.owner, &replica.core, |m| m.delete_state(&id)).map(|s| s.to_json())
}
