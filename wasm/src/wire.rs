//! The wire format (conformance/wire/README.md): encode and decode every message kind through
//! the core. Values cross as their JSON form.

use crate::error::{invalid_input, make, OrJs};
use statesync::{decode, encode, ChangeSet, Encoding, PendingOperations, Snapshot, SyncOperation, SyncState};
use wasm_bindgen::prelude::*;

/// `"json"` or `"binary"`, named as the core parses them; `default` when none is named.
fn encoding(name: Option<String>, default: Encoding) -> Result<Encoding, JsValue> {
    name.map_or(Ok(default), |name| name.parse::<Encoding>().js())
}

/// Encodes a message given as its JSON value text: `kind` is `state` (a state's JSON),
/// `changeset` (change-set wire JSON), `snapshot` (snapshot JSON) or `pending` (an array of
/// operations).
#[wasm_bindgen(js_name = wireEncode)]
pub fn wire_encode(kind: &str, value_json: &str, encoding_name: Option<String>) -> Result<Vec<u8>, JsValue> {
    let e = encoding(encoding_name, Encoding::Json)?;
    Ok(match kind {
        "state" => encode(&SyncState::from_json(value_json).js()?, e),
        "changeset" => encode(&decode::<ChangeSet>(value_json.as_bytes(), Encoding::Json).js()?, e),
        "snapshot" => encode(&Snapshot::from_json(value_json).js()?, e),
        "pending" => {
            let ops: Vec<SyncOperation> = serde_json::from_slice(value_json.as_bytes())
                .map_err(|err| make("INVALID_STATE", &format!("invalid state: not operations: {err}")))?;
            let ops = PendingOperations(ops);
            ops.validate().js()?;
            encode(&ops, e)
        }
        other => return Err(invalid_input(format!("unknown message kind {other:?}"))),
    })
}

/// Decodes a message of `kind` and returns its JSON value text (as [`wire_encode`] takes it).
/// Without an encoding, the message's first byte tells (`Encoding::of_message`).
#[wasm_bindgen(js_name = wireDecode)]
pub fn wire_decode(kind: &str, bytes: &[u8], encoding_name: Option<String>) -> Result<String, JsValue> {
    let e = encoding(encoding_name, Encoding::of_message(bytes))?;
    Ok(match kind {
        "state" => decode::<SyncState>(bytes, e).js()?.to_json(),
        "changeset" => {
            String::from_utf8(encode(&decode::<ChangeSet>(bytes, e).js()?, Encoding::Json)).expect("JSON is UTF-8")
        }
        "snapshot" => decode::<Snapshot>(bytes, e).js()?.to_json(),
        "pending" => {
            serde_json::to_string(&decode::<PendingOperations>(bytes, e).js()?.0).expect("operations serialise")
        }
        other => return Err(invalid_input(format!("unknown message kind {other:?}"))),
    })
}
