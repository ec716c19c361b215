//! The wire functions: `encode`, `decode*`, `compress`, `decompress`.

use crate::errors::{OrThrow, Result};
use crate::values::{change_set, handle, ChangeSetParts, StateHandle};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use statesync::{decode, Encoding, PendingOperations};
use std::sync::Arc;

/// `"json"` (the default) or `"binary"`, named as the core parses them.
pub(crate) fn encoding(name: Option<&str>) -> Result<Encoding> {
    name.map_or(Ok(Encoding::Json), |name| name.parse::<Encoding>().or_throw())
}

/// The encoding a message is decoded with: the named one, else the one its first byte tells
/// (`Encoding::of_message`).
fn decoding(name: Option<&str>, bytes: &[u8]) -> Result<Encoding> {
    name.map_or(Ok(Encoding::of_message(bytes)), |name| name.parse::<Encoding>().or_throw())
}

/// Encodes a state.
#[napi(catch_unwind)]
pub fn encode_state(value: &StateHandle, encoding: Option<String>) -> Result<Buffer> {
    Ok(statesync::encode(&***value, self::encoding(encoding.as_deref())?).into())
}

/// Encodes a change set.
#[napi(catch_unwind)]
pub fn encode_change_set(
    states: Vec<&StateHandle>,
    cursor: String,
    has_more: bool,
    encoding: Option<String>,
) -> Result<Buffer> {
    let changes = change_set(states, cursor, has_more);
    Ok(statesync::encode(&changes, self::encoding(encoding.as_deref())?).into())
}

/// Encodes a snapshot given as its JSON text.
#[napi(catch_unwind)]
pub fn encode_snapshot(value: String, encoding: Option<String>) -> Result<Buffer> {
    let snapshot = statesync::Snapshot::from_json(&value).or_throw()?;
    Ok(statesync::encode(&snapshot, self::encoding(encoding.as_deref())?).into())
}

/// Encodes a list of pending operations given as their JSON wire message (`{"format":1,
/// "operations":[...]}`, read by the core's own parser).
#[napi(catch_unwind)]
pub fn encode_operations(message: String, encoding: Option<String>) -> Result<Buffer> {
    let ops = decode::<PendingOperations>(message.as_bytes(), Encoding::Json).or_throw()?;
    Ok(statesync::encode(&ops, self::encoding(encoding.as_deref())?).into())
}

/// Decodes a state.
#[napi(catch_unwind)]
pub fn decode_state(bytes: Uint8Array, encoding: Option<String>) -> Result<StateHandle> {
    decode::<statesync::SyncState>(&bytes, decoding(encoding.as_deref(), &bytes)?)
        .map(|s| handle(Arc::new(s)))
        .or_throw()
}

/// Decodes a change set.
#[napi(catch_unwind)]
pub fn decode_change_set(bytes: Uint8Array, encoding: Option<String>) -> Result<ChangeSetParts> {
    decode::<statesync::ChangeSet>(&bytes, decoding(encoding.as_deref(), &bytes)?).map(ChangeSetParts::from).or_throw()
}

/// Decodes a snapshot.
#[napi(catch_unwind)]
pub fn decode_snapshot(bytes: Uint8Array, encoding: Option<String>) -> Result<String> {
    decode::<statesync::Snapshot>(&bytes, decoding(encoding.as_deref(), &bytes)?).map(|s| s.to_json()).or_throw()
}

/// Decodes a list of pending operations.
#[napi(catch_unwind)]
pub fn decode_operations(bytes: Uint8Array, encoding: Option<String>) -> Result<String> {
    decode::<PendingOperations>(&bytes, decoding(encoding.as_deref(), &bytes)?)
        .map(|ops| serde_json::to_string(&ops.0).expect("operations serialise"))
        .or_throw()
}

/// zstd-compresses bytes.
#[napi(catch_unwind)]
pub fn compress(bytes: Uint8Array) -> Result<Buffer> {
    Ok(statesync::compress(&bytes).into())
}

/// Decompresses zstd bytes; CORRUPT when damaged.
#[napi(catch_unwind)]
pub fn decompress(bytes: Uint8Array) -> Result<Buffer> {
    statesync::decompress(&bytes).map(Buffer::from).or_throw()
}
