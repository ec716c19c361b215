//! The binary wire form (specified in conformance/wire/README.md):
//!
//! ```text
//! message = magic "\xF5SSW" | version: varint | kind: u8 | body | crc32: u32 little-endian
//! body    = symbols: count, string* | payload of the kind
//! ```
//!
//! Every primitive is postcard's encoding (LEB128 varints, strings as a varint length and UTF-8
//! bytes, `f64` as 8 little-endian bytes, `bool` as one byte 0 or 1, sequences as a varint count
//! and the items). The body is driven by hand through postcard's serializer and deserializer
//! rather than derived, because it interns strings, leaves out derivable fields, and bounds
//! nesting and allocation on untrusted input.
//!
//! Decoding accepts exactly the bytes [`encode`] writes: after reading, the value is encoded
//! again and must give the input back. So every accepted message has one byte form, and the
//! symbol table needs no rules of its own beyond "first use order, no duplicates".
//!
//! This file holds what both directions share (the header, kinds, tags, depth bounds);
//! `write.rs` encodes, `read.rs` decodes.

mod read;
mod write;

pub use read::{decode, Reader};
pub use write::{encode, Writer};

use super::sealed::Codec;
use super::{MAX_MESSAGE_BYTES, WIRE_FORMAT};
use crate::model::canonical::state_hash;
use crate::model::change_set::ChangeSet;
use crate::model::clock::VectorClock;
use crate::model::conflict::SyncConflict;
use crate::model::error::{Result, SyncError};
use crate::model::fields::{FieldKind, FieldNode};
use crate::model::operation::{OperationKind, SyncOperation};
use crate::model::state::SyncState;
use crate::model::timestamp::Timestamp;
use crate::wire::snapshot::Snapshot;
use postcard::de_flavors::Slice;
use postcard::ser_flavors::{AllocVec, Flavor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// First four bytes of every binary message: `0xF5` never occurs in UTF-8, so a binary message
/// is never mistaken for JSON text; `SSW` reads "statesync wire".
pub const MAGIC: [u8; 4] = [0xF5, b'S', b'S', b'W'];

/// The message kind tag that follows the version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A lone [`SyncState`].
    State = 1,
    /// A [`ChangeSet`].
    ChangeSet = 2,
    /// A [`Snapshot`].
    Snapshot = 3,
    /// A `PendingOperations` queue.
    Pending = 4,
}

impl Kind {
    fn from_tag(tag: u8) -> Option<Kind> {
        Some(match tag {
            1 => Kind::State,
            2 => Kind::ChangeSet,
            3 => Kind::Snapshot,
            4 => Kind::Pending,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::State => "state",
            Kind::ChangeSet => "changeset",
            Kind::Snapshot => "snapshot",
            Kind::Pending => "pending",
        }
    }
}

/// Nesting, counted as the JSON form of the same message nests (objects and arrays), so that a
/// message decodes in binary exactly when its JSON form decodes: serde_json refuses JSON nested
/// deeper than [`MAX_JSON_DEPTH`] containers.
pub mod depth {
    /// Deepest container serde_json reads (its recursion limit is 128, counted before entering).
    pub const MAX_JSON_DEPTH: usize = 127;
    /// The state of a lone-state message: `{"format":1,"state":{...}}`.
    pub const LONE_STATE: usize = 2;
    /// An item of a top-level list: `{"states":[{...}]}`, `{"operations":[{...}]}`.
    pub const LISTED: usize = 3;
    /// A conflict's states: `{"conflicts":[{"local":{...}}]}`.
    pub const IN_CONFLICT: usize = 4;
}

use depth::MAX_JSON_DEPTH;

// State flags.
const DELETED: u8 = 1;
const MODIFIED_BY: u8 = 2;
const HASH: u8 = 4;
const FIELDS: u8 = 8;

// Value tags.
const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const UINT: u8 = 3;
const NEGINT: u8 = 4;
const FLOAT: u8 = 5;
const STRING: u8 = 6;
const ARRAY: u8 = 7;
const OBJECT: u8 = 8;

// Field-node kinds.
const FIELD_OBJECT: u8 = 0;
const FIELD_VALUE: u8 = 1;
const FIELD_DELETED: u8 = 2;

// Operation-id forms.
const OP_ID_CLOCK: u8 = 0;
const OP_ID_COUNTER: u8 = 1;
const OP_ID_TEXT: u8 = 2;

/// Postcard's serializer into a growable vector.
struct Sink(postcard::Serializer<AllocVec>);

impl Sink {
    fn new() -> Self {
        Sink(postcard::Serializer { output: AllocVec::new() })
    }

    fn put<T: Serialize + ?Sized>(&mut self, value: &T) {
        // Postcard fails only when a fixed-size buffer is full; a vector grows.
        let written = value.serialize(&mut self.0);
        debug_assert!(written.is_ok(), "postcard cannot fail writing to a vector");
    }

    fn into_bytes(self) -> Vec<u8> {
        self.0.output.finalize().unwrap_or_default()
    }
}

impl Sink {
    fn count_and_strings(&mut self, strings: &[&str]) {
        self.put(&(strings.len() as u64));
        strings.iter().for_each(|s| self.put(*s));
    }
}

fn corrupt(kind: Kind, detail: impl std::fmt::Display) -> SyncError {
    SyncError::Corrupt(format!("binary {} message: {detail}", kind.name()))
}
