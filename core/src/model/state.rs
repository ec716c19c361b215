//! A named piece of application state, and the validation every state crossing a boundary
//! (remote, imported, stored) goes through.

use crate::model::canonical::{state_hash, state_hash_measured};
use crate::model::clock::VectorClock;
use crate::model::clock::MAX_COUNTER;
use crate::model::error::{Result, SyncError};
use crate::model::fields::FieldNode;
use crate::model::json_text::{check_integer_literals, integer_too_large, MAX_SAFE_INTEGER};
use crate::model::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The collection a state belongs to when none is given.
pub const DEFAULT_COLLECTION: &str = "default";
/// Longest state id, in UTF-8 bytes.
pub const MAX_ID_BYTES: usize = 512;
/// Longest node id, in UTF-8 bytes.
pub const MAX_NODE_ID_BYTES: usize = 128;
/// Longest collection name, in UTF-8 bytes.
pub const MAX_COLLECTION_BYTES: usize = 512;
/// Deepest nesting of arrays and objects in a state's data (`{"a": [1]}` is 2 deep). Every wire
/// form must stay parsable by JSON readers with a nesting limit (serde_json's is 128), and a
/// mergeFields history doubles the depth inside a snapshot.
pub const MAX_DATA_DEPTH: usize = 48;

/// One named piece of state as stored by a replica and exchanged between replicas.
///
/// Its JSON form leaves out what can be derived: `modified_by` when it is the timestamp's node
/// (always, for states this library writes), `collection` when `"default"`, `deleted` when
/// false, `fields` when absent. Parsing accepts both forms.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncState {
    /// Unique id within the replica set.
    pub id: String,
    /// Domain grouping used for scoped sync and per-collection strategies.
    pub collection: String,
    /// The application's JSON value (`null` once deleted).
    pub data: Value,
    /// Which writes this version has seen.
    pub clock: VectorClock,
    /// Hybrid logical time of the write that produced this version.
    pub timestamp: Timestamp,
    /// Node that made that write.
    pub modified_by: String,
    /// Tombstone flag: the state was deleted, and the delete must propagate.
    pub deleted: bool,
    /// 1 on create, one more than what it supersedes on each write, max of both on a merge.
    pub version: u64,
    /// 16 hex characters: see [`crate::state_hash`].
    pub hash: String,
    /// Per-field write history, kept only for collections using `MergeFields`.
    pub fields: Option<Box<FieldNode>>,
}

impl Serialize for SyncState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("SyncState", 10)?;
        out.serialize_field("id", &self.id)?;
        if self.collection != DEFAULT_COLLECTION {
            out.serialize_field("collection", &self.collection)?;
        }
        out.serialize_field("data", &self.data)?;
        out.serialize_field("clock", &self.clock)?;
        out.serialize_field("timestamp", &self.timestamp)?;
        if self.modified_by != self.timestamp.node {
            out.serialize_field("modified_by", &self.modified_by)?;
        }
        if self.deleted {
            out.serialize_field("deleted", &true)?;
        }
        out.serialize_field("version", &self.version)?;
        out.serialize_field("hash", &self.hash)?;
        if let Some(fields) = &self.fields {
            out.serialize_field("fields", fields)?;
        }
        out.end()
    }
}

impl<'de> Deserialize<'de> for SyncState {
    /// Reads either JSON form; `hash` is derived when absent. Call [`SyncState::validate`] (as
    /// [`SyncState::from_value`] does) before trusting the result.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let wire = WireState::deserialize(deserializer)?;
        Ok(SyncState {
            hash: wire.hash.unwrap_or_else(|| state_hash(&wire.data, wire.deleted)),
            modified_by: wire.modified_by.unwrap_or_else(|| wire.timestamp.node.clone()),
            id: wire.id,
            collection: wire.collection,
            data: wire.data,
            clock: wire.clock,
            timestamp: wire.timestamp,
            deleted: wire.deleted,
            version: wire.version,
            fields: wire.fields,
        })
    }
}

/// The accepted JSON shape of a state, with the optional fields a hand-written remote state may
/// leave out. Unknown fields are ignored, so newer replicas can add some.
#[derive(Deserialize)]
struct WireState {
    id: String,
    #[serde(default = "default_collection")]
    collection: String,
    #[serde(default)]
    data: Value,
    clock: VectorClock,
    timestamp: Timestamp,
    #[serde(default)]
    modified_by: Option<String>,
    #[serde(default)]
    deleted: bool,
    #[serde(default = "one")]
    version: u64,
    #[serde(default)]
    hash: Option<String>,
    #[serde(default)]
    fields: Option<Box<FieldNode>>,
}

fn default_collection() -> String {
    DEFAULT_COLLECTION.to_owned()
}

fn one() -> u64 {
    1
}

/// Reads `T` straight from the bytes of `text`, not through a `Value`: one reader per type keeps
/// the browser build small (docs/adr/0014), and no tree is built only to be walked again. Text
/// that is not JSON is `malformed JSON`; JSON of the wrong shape is `mismatch`.
fn read_json<T: serde::de::DeserializeOwned>(text: &str, mismatch: &str) -> Result<T> {
    check_integer_literals(text.as_bytes()).map_err(SyncError::InvalidState)?;
    serde_json::from_slice(text.as_bytes()).map_err(|e| {
        let what = if e.is_data() { mismatch } else { "malformed JSON" };
        SyncError::InvalidState(format!("{what}: {e}"))
    })
}

impl SyncState {
    /// Parses and validates a state from JSON text (as sent by another replica).
    pub fn from_json(text: &str) -> Result<SyncState> {
        let state: SyncState = read_json(text, "malformed state")?;
        state.validate()?;
        Ok(state)
    }

    /// Parses and validates a JSON array of states, each as [`SyncState::from_json`] does.
    pub fn list_from_json(text: &str) -> Result<Vec<SyncState>> {
        let states: Vec<SyncState> = read_json(text, "not an array of states")?;
        states.iter().try_for_each(SyncState::validate)?;
        Ok(states)
    }

    /// Parses and validates a state from a JSON value. `hash` and `modified_by` may be omitted
    /// (they are derived); when present they must match.
    pub fn from_value(value: Value) -> Result<SyncState> {
        let state: SyncState =
            serde_json::from_value(value).map_err(|e| SyncError::InvalidState(format!("malformed state: {e}")))?;
        state.validate()?;
        Ok(state)
    }

    /// The JSON value of this state with every field spelled out (for display and for bindings
    /// that expose states as plain objects). [`SyncState::from_value`] reads it back.
    pub fn to_value(&self) -> Value {
        let mut value = serde_json::to_value(self).expect("a state always serialises");
        if let Value::Object(map) = &mut value {
            map.insert("collection".into(), Value::String(self.collection.clone()));
            map.insert("modified_by".into(), Value::String(self.modified_by.clone()));
            map.insert("deleted".into(), Value::Bool(self.deleted));
        }
        value
    }

    /// The compact JSON text of this state, as sent to other replicas and stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a state always serialises")
    }

    /// Checks every invariant of a state: ids, clock, timestamp, version, hash and field history.
    pub fn validate(&self) -> Result<()> {
        self.check(Rules::Current).map(drop)
    }

    /// Checks the invariants under `rules` and returns the length in bytes of the canonical JSON
    /// of `data` (what `max_state_bytes` limits), measured while hashing it.
    pub(crate) fn check(&self, rules: Rules) -> Result<usize> {
        let bad = |msg: String| Err(SyncError::InvalidState(format!("state {:?}: {msg}", self.id)));
        if let Err(e) = check_name("id", &self.id, MAX_ID_BYTES, rules) {
            return bad(e);
        }
        if let Err(e) = check_name("collection", &self.collection, MAX_COLLECTION_BYTES, rules) {
            return bad(e);
        }
        for (node, _) in self.clock.iter() {
            if let Err(e) = check_name("node id", node, MAX_NODE_ID_BYTES, rules) {
                return bad(format!("clock entry: {e}"));
            }
        }
        if let Err(e) = check_name("node id", &self.timestamp.node, MAX_NODE_ID_BYTES, rules) {
            return bad(format!("timestamp: {e}"));
        }
        if self.modified_by != self.timestamp.node {
            return bad(format!(
                "modified_by {:?} is not the timestamp's node {:?}",
                self.modified_by, self.timestamp.node
            ));
        }
        if self.clock.get(&self.timestamp.node) == 0 {
            return bad(format!("clock has no entry for the writing node {:?}", self.timestamp.node));
        }
        if self.version == 0 {
            return bad("version must be at least 1".into());
        }
        if let Some((node, v)) = self.clock.iter().find(|(_, v)| *v > MAX_COUNTER) {
            return bad(format!("clock entry {node:?} is {v}, more than 2^53 - 1"));
        }
        if self.version > MAX_COUNTER || self.timestamp.millis > MAX_COUNTER {
            return bad("version or timestamp beyond 2^53 - 1".into());
        }
        if self.deleted && !self.data.is_null() {
            return bad("a deleted state carries null data".into());
        }
        if let Err(e) = check_data(&self.data, rules) {
            return bad(e);
        }
        let (hash, data_bytes) = state_hash_measured(&self.data, self.deleted);
        if self.hash != hash {
            return bad(format!("hash {:?} does not match the content ({hash})", self.hash));
        }
        if let Some(fields) = &self.fields {
            let expected = if self.deleted { None } else { Some(&self.data) };
            if fields.visible().as_ref() != expected {
                return bad("field history does not match the data".into());
            }
            if *fields.newest() > self.timestamp {
                return bad("field history is newer than the state's timestamp".into());
            }
            // Hidden values travel with the state and a merge can bring them back into view: they
            // obey the rules of the data, so that the JSON form (whose reader refuses a large
            // integer anywhere in the text) and the binary form refuse the same states.
            if let Err(e) = fields.try_for_each_value(&mut |v| check_data(v, rules)) {
                return bad(format!("field history: {e}"));
            }
        }
        Ok(data_bytes)
    }

    /// True for a live (not deleted) state.
    pub fn is_live(&self) -> bool {
        !self.deleted
    }
}

/// Checks that data nests arrays and objects at most [`MAX_DATA_DEPTH`] deep and holds no
/// integer beyond ±[`MAX_SAFE_INTEGER`].
pub fn validate_data(data: &Value) -> std::result::Result<(), String> {
    check_data(data, Rules::Current)
}

/// Parses the application's data from JSON text, as every binding receives it: the text must be
/// JSON, nest at most [`crate::MAX_DATA_DEPTH`] deep and hold no integer beyond
/// ±[`MAX_SAFE_INTEGER`] (written without a fraction or exponent). Anything else is
/// `INVALID_INPUT`, saying what is wrong.
pub fn data_from_json(text: &str) -> Result<Value> {
    check_integer_literals(text.as_bytes()).map_err(SyncError::InvalidInput)?;
    let data: Value =
        serde_json::from_str(text).map_err(|e| SyncError::InvalidInput(format!("data is not JSON: {e}")))?;
    validate_data(&data).map_err(SyncError::InvalidInput)?;
    Ok(data)
}

fn check_data(data: &Value, rules: Rules) -> std::result::Result<(), String> {
    // Recursion stops at the depth limit, so the stack stays shallow whatever the input.
    fn check(value: &Value, depth: usize, integers: bool) -> std::result::Result<(), String> {
        match value {
            Value::Array(items) if depth < MAX_DATA_DEPTH => {
                items.iter().try_for_each(|v| check(v, depth + 1, integers))
            }
            Value::Object(map) if depth < MAX_DATA_DEPTH => {
                map.values().try_for_each(|v| check(v, depth + 1, integers))
            }
            Value::Array(_) | Value::Object(_) => {
                Err(format!("data nests arrays and objects more than {MAX_DATA_DEPTH} deep"))
            }
            Value::Number(n) if integers => check_integer(n),
            _ => Ok(()),
        }
    }
    check(data, 0, rules == Rules::Current)
}

/// Refuses an integer that not every binding language can hold exactly.
fn check_integer(n: &serde_json::Number) -> std::result::Result<(), String> {
    let magnitude = match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => u,
        (None, Some(i)) => i.unsigned_abs(),
        (None, None) => return Ok(()),
    };
    if magnitude > MAX_SAFE_INTEGER {
        Err(integer_too_large(&n.to_string()))
    } else {
        Ok(())
    }
}

/// Checks a state id: non-empty, at most [`MAX_ID_BYTES`] bytes, no control character (see
/// [`forbidden_char`]).
pub fn validate_id(id: &str) -> std::result::Result<(), String> {
    validate_name("id", id, MAX_ID_BYTES)
}

/// Checks a node id: 1 to [`MAX_NODE_ID_BYTES`] bytes, no control character.
pub fn validate_node_id(node: &str) -> std::result::Result<(), String> {
    validate_name("node id", node, MAX_NODE_ID_BYTES)
}

/// Checks a collection name: 1 to [`MAX_COLLECTION_BYTES`] bytes, no control character.
pub fn validate_collection(collection: &str) -> std::result::Result<(), String> {
    validate_name("collection", collection, MAX_COLLECTION_BYTES)
}

/// True for a character no id, node id or collection may hold: the C0 and C1 control characters
/// (NUL, line breaks, escape...), DEL, and the bidirectional embeddings, overrides and isolates,
/// which make a name display as another one (a right-to-left override turns `txt.exe` around).
/// Names show up in logs, file names and user interfaces; none of these has a use in a name.
pub fn forbidden_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn validate_name(what: &str, value: &str, max: usize) -> std::result::Result<(), String> {
    check_name(what, value, max, Rules::Current)
}

fn check_name(what: &str, value: &str, max: usize, rules: Rules) -> std::result::Result<(), String> {
    if value.is_empty() {
        Err(format!("{what} must not be empty"))
    } else if value.len() > max {
        Err(format!("{what} is {} bytes, more than {max}", value.len()))
    } else if let Some(c) = first_forbidden(value, rules) {
        Err(format!("{what} must not contain the control character U+{:04X}", c as u32))
    } else {
        Ok(())
    }
}

/// The first character of `value` that `rules` refuse in a name. Names are checked on every
/// state that arrives, so ASCII names (nearly all) are checked byte by byte.
fn first_forbidden(value: &str, rules: Rules) -> Option<char> {
    match rules {
        Rules::Stored => value.contains('\0').then_some('\0'),
        Rules::Current if value.is_ascii() => value.bytes().find(|b| *b < 0x20 || *b == 0x7f).map(char::from),
        Rules::Current => value.chars().find(|c| forbidden_char(*c)),
    }
}

/// Which rules a state is held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rules {
    /// Everything this release demands of a state it accepts or writes.
    Current,
    /// What a store reads back: the rules of the earliest release that may have written it, so
    /// that tightening the rules never makes a store unreadable. Control characters other than
    /// NUL in names, and integers beyond 2^53 − 1 in data, are tolerated there; such a state is
    /// still refused by a peer, one by one (docs/adr/0015-hardening-against-peers.md).
    Stored,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_from_json_says_what_is_wrong() {
        assert_eq!(data_from_json(r#"{"k": [1, 2.5, "x"]}"#).unwrap(), serde_json::json!({"k": [1, 2.5, "x"]}));
        assert_eq!(data_from_json("{").unwrap_err().code(), "INVALID_INPUT");
        let e = data_from_json("[12345678901234567890123]").unwrap_err();
        assert_eq!(e.code(), "INVALID_INPUT");
        assert!(e.to_string().contains("12345678901234567890123"), "{e}");
        let deep = format!("{}{}", "[".repeat(60), "]".repeat(60));
        assert!(data_from_json(&deep).unwrap_err().to_string().contains("deep"));
    }
}
