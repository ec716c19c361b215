//! The JSON wire form: an object with a top-level `"format"` field around the compact JSON of
//! states and operations. (The snapshot's JSON form is [`crate::Snapshot::to_json`] itself.)

use super::{validate_operations, PendingOperations, WIRE_FORMAT};
use crate::model::change_set::ChangeSet;
use crate::model::error::{Result, SyncError};
use crate::model::operation::SyncOperation;
use crate::model::state::SyncState;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

#[derive(Serialize)]
struct StateOut<'a> {
    format: u64,
    state: &'a SyncState,
}

#[derive(Serialize)]
struct ChangeSetOut<'a> {
    format: u64,
    states: &'a [Arc<SyncState>],
    cursor: &'a str,
    has_more: bool,
}

#[derive(Serialize)]
struct PendingOut<'a> {
    format: u64,
    operations: &'a [SyncOperation],
}

// The readers leave `format` to `check_format`; like a state's JSON, unknown fields are ignored.
#[derive(Deserialize)]
struct StateIn {
    state: SyncState,
}

#[derive(Deserialize)]
struct ChangeSetIn {
    states: Vec<Arc<SyncState>>,
    cursor: String,
    has_more: bool,
}

#[derive(Deserialize)]
struct PendingIn {
    operations: Vec<SyncOperation>,
}

/// Only the version (see [`check_format`]).
#[derive(Deserialize)]
struct Probe {
    format: Option<Value>,
}

fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    // These types hold strings, numbers and JSON values only: serialising them cannot fail.
    serde_json::to_vec(value).expect("wire messages always serialise")
}

pub(super) fn state(state: &SyncState) -> Vec<u8> {
    to_vec(&StateOut { format: WIRE_FORMAT, state })
}

pub(super) fn change_set(page: &ChangeSet) -> Vec<u8> {
    to_vec(&ChangeSetOut { format: WIRE_FORMAT, states: &page.states, cursor: &page.cursor, has_more: page.has_more })
}

pub(super) fn pending(pending: &PendingOperations) -> Vec<u8> {
    to_vec(&PendingOut { format: WIRE_FORMAT, operations: &pending.0 })
}

/// Checks that `bytes` is a JSON object whose `format` is `expected`; `what` names the message in
/// errors. A message of another version may have another shape, so this runs before the rest is
/// read, to report it as such rather than as garbled. Snapshots are checked with it too.
pub(crate) fn check_format(bytes: &[u8], what: &str, expected: u64) -> Result<()> {
    // serde reads a struct from an array too: insist on the object form.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(SyncError::Corrupt(format!("{what} is not a JSON object")));
    }
    let probe: Probe =
        serde_json::from_slice(bytes).map_err(|e| SyncError::Corrupt(format!("{what} is not valid JSON: {e}")))?;
    let format = probe.format.ok_or_else(|| SyncError::Corrupt(format!("{what} has no format field")))?;
    match format.as_u64() {
        None => Err(SyncError::Corrupt(format!("{what} format {format} is not a version number"))),
        Some(version) if version == expected => Ok(()),
        Some(other) => {
            Err(SyncError::UnsupportedFormat(format!("{what} format {other}; this build reads format {expected}")))
        }
    }
}

fn parse<'a, T: Deserialize<'a>>(bytes: &'a [u8], kind: &str) -> Result<T> {
    check_format(bytes, &format!("{kind} message"), WIRE_FORMAT)?;
    crate::model::json_text::check_integer_literals(bytes).map_err(SyncError::InvalidState)?;
    serde_json::from_slice(bytes).map_err(|e| SyncError::Corrupt(format!("malformed {kind} message: {e}")))
}

pub(super) fn parse_state(bytes: &[u8]) -> Result<SyncState> {
    let StateIn { state } = parse(bytes, "state")?;
    state.validate()?;
    Ok(state)
}

pub(super) fn parse_change_set(bytes: &[u8]) -> Result<ChangeSet> {
    let page = parse_change_set_unchecked(bytes)?;
    page.states.iter().try_for_each(|s| s.validate())?;
    Ok(page)
}

/// A change set whose states are not validated yet (see `super::decode_page`).
pub(super) fn parse_change_set_unchecked(bytes: &[u8]) -> Result<ChangeSet> {
    let ChangeSetIn { states, cursor, has_more } = parse(bytes, "changeset")?;
    Ok(ChangeSet { states, cursor, has_more })
}

pub(super) fn parse_pending(bytes: &[u8]) -> Result<PendingOperations> {
    let PendingIn { operations } = parse(bytes, "pending")?;
    validate_operations(&operations)?;
    Ok(PendingOperations(operations))
}
