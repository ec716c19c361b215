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

use super::sealed::Codec;
use super::{MAX_MESSAGE_BYTES, WIRE_FORMAT};
use crate::canonical::state_hash;
use crate::clock::VectorClock;
use crate::conflict::SyncConflict;
use crate::error::{Result, SyncError};
use crate::feed::ChangeSet;
use crate::fields::{FieldKind, FieldNode};
use crate::operation::{OperationKind, SyncOperation};
use crate::snapshot::Snapshot;
use crate::state::SyncState;
use crate::timestamp::Timestamp;
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

/// Writes a message body, interning strings in first-use order.
pub struct Writer<'a> {
    out: Sink,
    index: HashMap<&'a str, u32>,
    symbols: Vec<&'a str>,
}

impl<'a> Writer<'a> {
    fn new() -> Self {
        Writer { out: Sink::new(), index: HashMap::new(), symbols: Vec::new() }
    }

    fn u8(&mut self, v: u8) {
        self.out.put(&v);
    }

    fn varint(&mut self, v: u64) {
        self.out.put(&v);
    }

    fn count(&mut self, n: usize) {
        self.varint(n as u64);
    }

    fn string(&mut self, s: &str) {
        self.out.put(s);
    }

    fn sym(&mut self, s: &'a str) {
        let next = self.symbols.len() as u32;
        let i = *self.index.entry(s).or_insert(next);
        if i == next {
            self.symbols.push(s);
        }
        self.out.put(&i);
    }

    fn value(&mut self, v: &'a Value) {
        match v {
            Value::Null => self.u8(NULL),
            Value::Bool(false) => self.u8(FALSE),
            Value::Bool(true) => self.u8(TRUE),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    self.u8(UINT);
                    self.varint(u);
                } else if let Some(i) = n.as_i64() {
                    // Negative: the varint is -(i + 1), which covers i64::MIN.
                    self.u8(NEGINT);
                    self.varint(!i as u64);
                } else {
                    self.u8(FLOAT);
                    self.out.put(&n.as_f64().unwrap_or(0.0));
                }
            }
            Value::String(s) => {
                self.u8(STRING);
                self.string(s);
            }
            Value::Array(items) => {
                self.u8(ARRAY);
                self.count(items.len());
                items.iter().for_each(|item| self.value(item));
            }
            Value::Object(map) => {
                self.u8(OBJECT);
                self.count(map.len());
                for (key, item) in map {
                    self.sym(key);
                    self.value(item);
                }
            }
        }
    }

    fn clock(&mut self, clock: &'a VectorClock) {
        self.count(clock.len());
        for (node, counter) in clock.iter() {
            self.sym(node);
            self.varint(counter);
        }
    }

    fn timestamp(&mut self, ts: &'a Timestamp) {
        self.varint(ts.millis);
        self.out.put(&ts.counter);
        self.sym(&ts.node);
    }

    pub fn state(&mut self, s: &'a SyncState) {
        let mut flags = 0;
        if s.deleted {
            flags |= DELETED;
        }
        if s.modified_by != s.timestamp.node {
            flags |= MODIFIED_BY;
        }
        // The hash is derived on reading; only one that does not match its content (an invalid
        // state, refused by validation) is written out, so that it stays refused.
        let explicit_hash = s.hash != state_hash(&s.data, s.deleted);
        if explicit_hash {
            flags |= HASH;
        }
        if s.fields.is_some() {
            flags |= FIELDS;
        }
        self.u8(flags);
        self.sym(&s.id);
        self.sym(&s.collection);
        self.value(&s.data);
        self.clock(&s.clock);
        self.timestamp(&s.timestamp);
        if flags & MODIFIED_BY != 0 {
            self.sym(&s.modified_by);
        }
        self.varint(s.version);
        if explicit_hash {
            self.string(&s.hash);
        }
        if let Some(fields) = &s.fields {
            self.field(fields);
        }
    }

    fn field(&mut self, node: &'a FieldNode) {
        self.timestamp(&node.ts);
        match &node.kind {
            FieldKind::Object => self.u8(FIELD_OBJECT),
            FieldKind::Value(v) => {
                self.u8(FIELD_VALUE);
                self.value(v);
            }
            FieldKind::Deleted => self.u8(FIELD_DELETED),
        }
        self.count(node.children.len());
        for (key, child) in &node.children {
            self.sym(key);
            self.field(child);
        }
    }

    fn operation(&mut self, op: &'a SyncOperation) {
        self.sym(&op.node_id);
        self.u8(match op.kind {
            OperationKind::Create => 0,
            OperationKind::Update => 1,
            OperationKind::Delete => 2,
        });
        // Usually `"<node_id>:<the node's clock entry>"`: nothing to write.
        let counter = op
            .op_id
            .strip_prefix(op.node_id.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            .and_then(|digits| digits.parse::<u64>().ok().filter(|n| n.to_string() == digits));
        match counter {
            Some(n) if n == op.clock.get(&op.node_id) => self.u8(OP_ID_CLOCK),
            Some(n) => {
                self.u8(OP_ID_COUNTER);
                self.varint(n);
            }
            None => {
                self.u8(OP_ID_TEXT);
                self.string(&op.op_id);
            }
        }
        self.sym(&op.state_id);
        self.sym(&op.collection);
        self.value(&op.data);
        self.clock(&op.clock);
        self.timestamp(&op.timestamp);
    }

    pub fn operations(&mut self, ops: &'a [SyncOperation]) {
        self.count(ops.len());
        ops.iter().for_each(|op| self.operation(op));
    }

    fn states<S: AsRef<SyncState>>(&mut self, states: &'a [S]) {
        self.count(states.len());
        states.iter().for_each(|s| self.state(s.as_ref()));
    }

    pub fn change_set(&mut self, page: &'a ChangeSet) {
        self.states(&page.states);
        self.string(&page.cursor);
        self.out.put(&page.has_more);
    }

    pub fn snapshot(&mut self, snapshot: &'a Snapshot) {
        self.varint(snapshot.format);
        self.sym(&snapshot.node_id);
        self.count(snapshot.states.len());
        snapshot.states.iter().for_each(|s| self.state(s));
        self.operations(&snapshot.pending);
        self.count(snapshot.conflicts.len());
        for c in &snapshot.conflicts {
            self.string(&c.conflict_id);
            self.sym(&c.state_id);
            self.state(&c.local);
            self.state(&c.remote);
            self.varint(c.detected_at);
        }
    }
}

/// The binary bytes of `value`.
pub fn encode<T: Codec>(value: &T) -> Vec<u8> {
    let mut body = Writer::new();
    value.write(&mut body);
    let mut head = Sink::new();
    head.put(&MAGIC);
    head.put(&WIRE_FORMAT);
    head.put(&(T::TAG as u8));
    head.count_and_strings(&body.symbols);
    let mut out = head.into_bytes();
    out.extend_from_slice(&body.out.into_bytes());
    let crc = super::crc32::crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
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

/// Reads a message body.
pub struct Reader<'de> {
    de: postcard::Deserializer<'de, Slice<'de>>,
    kind: Kind,
    symbols: Vec<String>,
    /// Body length: no count of items can exceed it, as every item takes at least one byte.
    limit: usize,
    /// Bytes of strings materialised from symbol references so far.
    expanded: usize,
}

impl<'de> Reader<'de> {
    fn get<T: Deserialize<'de>>(&mut self, what: &str) -> Result<T> {
        T::deserialize(&mut self.de).map_err(|e| corrupt(self.kind, format!("{what}: {e}")))
    }

    fn fail<T>(&self, detail: impl std::fmt::Display) -> Result<T> {
        Err(corrupt(self.kind, detail))
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        self.get(what)
    }

    fn varint(&mut self, what: &str) -> Result<u64> {
        self.get(what)
    }

    fn count(&mut self, what: &str) -> Result<usize> {
        let n: u64 = self.get(what)?;
        match usize::try_from(n) {
            Ok(n) if n <= self.limit => Ok(n),
            _ => self.fail(format!("{what} {n} exceeds the {} bytes of the message", self.limit)),
        }
    }

    fn string(&mut self, what: &str) -> Result<String> {
        self.get(what)
    }

    fn sym(&mut self, what: &str) -> Result<String> {
        let i: u32 = self.get(what)?;
        let Some(len) = self.symbols.get(i as usize).map(String::len) else {
            return self.fail(format!("{what}: string {i} is not in the table of {}", self.symbols.len()));
        };
        self.expand(len)?;
        Ok(self.symbols[i as usize].clone())
    }

    /// Accounts for `n` bytes of strings that do not appear in the input as such: interned
    /// strings repeated by reference must not blow a small message up into a huge value.
    fn expand(&mut self, n: usize) -> Result<()> {
        self.expanded = self.expanded.saturating_add(n);
        if self.expanded > MAX_MESSAGE_BYTES {
            return self.fail(format!("interned strings expand beyond {MAX_MESSAGE_BYTES} bytes"));
        }
        Ok(())
    }

    /// Checks that a container at JSON depth `depth` is allowed.
    fn nest(&self, depth: usize) -> Result<()> {
        if depth > MAX_JSON_DEPTH {
            return self.fail(format!("nested deeper than {MAX_JSON_DEPTH} levels"));
        }
        Ok(())
    }

    /// A JSON value; `depth` is the JSON depth it would have as a container.
    fn value(&mut self, depth: usize) -> Result<Value> {
        Ok(match self.u8("value tag")? {
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            UINT => Value::from(self.varint("unsigned integer")?),
            NEGINT => match i64::try_from(self.varint("negative integer")?) {
                Ok(m) => Value::from(!m),
                Err(_) => return self.fail("negative integer below -2^63"),
            },
            FLOAT => match Number::from_f64(self.get("float")?) {
                Some(n) => Value::Number(n),
                None => return self.fail("float is not finite"),
            },
            STRING => Value::String(self.string("string")?),
            ARRAY => {
                self.nest(depth)?;
                let n = self.count("array length")?;
                let mut items = Vec::new();
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            OBJECT => {
                self.nest(depth)?;
                let n = self.count("object length")?;
                let mut map = Map::new();
                for _ in 0..n {
                    let key = self.sym("object key")?;
                    let item = self.value(depth + 1)?;
                    map.insert(key, item);
                }
                Value::Object(map)
            }
            tag => return self.fail(format!("unknown value tag {tag}")),
        })
    }

    fn clock(&mut self) -> Result<VectorClock> {
        let n = self.count("clock length")?;
        let mut entries = Vec::new();
        for _ in 0..n {
            let node = self.sym("clock node")?;
            entries.push((node, self.varint("clock counter")?));
        }
        Ok(entries.into_iter().collect())
    }

    fn timestamp(&mut self) -> Result<Timestamp> {
        let millis = self.varint("timestamp millis")?;
        let counter = self.get("timestamp counter")?;
        let node = self.sym("timestamp node")?;
        Ok(Timestamp { millis, counter, node })
    }

    /// A state whose JSON object would sit at `depth`.
    pub fn state(&mut self, depth: usize) -> Result<SyncState> {
        let flags = self.u8("state flags")?;
        if flags & !(DELETED | MODIFIED_BY | HASH | FIELDS) != 0 {
            return self.fail(format!("unknown state flags {flags:#04x}"));
        }
        let deleted = flags & DELETED != 0;
        let id = self.sym("state id")?;
        let collection = self.sym("collection")?;
        let data = self.value(depth + 1)?;
        let clock = self.clock()?;
        let timestamp = self.timestamp()?;
        let modified_by = if flags & MODIFIED_BY != 0 { self.sym("modified_by")? } else { timestamp.node.clone() };
        let version = self.varint("version")?;
        let hash = if flags & HASH != 0 { self.string("hash")? } else { state_hash(&data, deleted) };
        let fields = if flags & FIELDS != 0 { Some(Box::new(self.field(depth + 1)?)) } else { None };
        Ok(SyncState { id, collection, data, clock, timestamp, modified_by, deleted, version, hash, fields })
    }

    /// A field node whose JSON object would sit at `depth`.
    fn field(&mut self, depth: usize) -> Result<FieldNode> {
        // Its timestamp and kind are objects one level down.
        self.nest(depth + 1)?;
        let ts = self.timestamp()?;
        let kind = match self.u8("field kind")? {
            FIELD_OBJECT => FieldKind::Object,
            FIELD_VALUE => FieldKind::Value(self.value(depth + 2)?),
            FIELD_DELETED => FieldKind::Deleted,
            other => return self.fail(format!("unknown field kind {other}")),
        };
        let n = self.count("field children")?;
        let mut children = BTreeMap::new();
        for _ in 0..n {
            let key = self.sym("field key")?;
            let child = self.field(depth + 2)?;
            children.insert(key, child);
        }
        Ok(FieldNode { ts, kind, children })
    }

    /// An operation whose JSON object would sit at `depth`.
    fn operation(&mut self, depth: usize) -> Result<SyncOperation> {
        let node_id = self.sym("operation node")?;
        let kind = match self.u8("operation kind")? {
            0 => OperationKind::Create,
            1 => OperationKind::Update,
            2 => OperationKind::Delete,
            other => return self.fail(format!("unknown operation kind {other}")),
        };
        let (form, counter, text) = match self.u8("operation id form")? {
            OP_ID_CLOCK => (OP_ID_CLOCK, 0, String::new()),
            OP_ID_COUNTER => (OP_ID_COUNTER, self.varint("operation counter")?, String::new()),
            OP_ID_TEXT => (OP_ID_TEXT, 0, self.string("operation id")?),
            other => return self.fail(format!("unknown operation id form {other}")),
        };
        let state_id = self.sym("operation state id")?;
        let collection = self.sym("operation collection")?;
        let data = self.value(depth + 1)?;
        let clock = self.clock()?;
        let timestamp = self.timestamp()?;
        let op_id = match form {
            OP_ID_CLOCK => format!("{node_id}:{}", clock.get(&node_id)),
            OP_ID_COUNTER => format!("{node_id}:{counter}"),
            _ => text,
        };
        if form != OP_ID_TEXT {
            self.expand(op_id.len())?;
        }
        Ok(SyncOperation { op_id, kind, state_id, collection, data, clock, timestamp, node_id })
    }

    pub fn operations(&mut self, depth: usize) -> Result<Vec<SyncOperation>> {
        let n = self.count("operation count")?;
        let mut ops = Vec::new();
        for _ in 0..n {
            ops.push(self.operation(depth)?);
        }
        Ok(ops)
    }

    fn states(&mut self, depth: usize) -> Result<Vec<SyncState>> {
        let n = self.count("state count")?;
        let mut states = Vec::new();
        for _ in 0..n {
            states.push(self.state(depth)?);
        }
        Ok(states)
    }

    pub fn change_set(&mut self) -> Result<ChangeSet> {
        let states = self.states(depth::LISTED)?.into_iter().map(Arc::new).collect();
        let cursor = self.string("cursor")?;
        let has_more = self.get("has_more")?;
        Ok(ChangeSet { states, cursor, has_more })
    }

    pub fn snapshot(&mut self) -> Result<Snapshot> {
        let format = self.varint("snapshot format")?;
        let node_id = self.sym("snapshot node id")?;
        let states = self.states(depth::LISTED)?;
        let pending = self.operations(depth::LISTED)?;
        let n = self.count("conflict count")?;
        let mut conflicts = Vec::new();
        for _ in 0..n {
            let conflict_id = self.string("conflict id")?;
            let state_id = self.sym("conflict state id")?;
            let local = self.state(depth::IN_CONFLICT)?;
            let remote = self.state(depth::IN_CONFLICT)?;
            let detected_at = self.varint("conflict detected_at")?;
            conflicts.push(SyncConflict { conflict_id, state_id, local, remote, detected_at });
        }
        Ok(Snapshot { format, node_id, states, pending, conflicts })
    }
}

/// Reads and checks a binary message of kind `T`; the caller validates the value.
pub fn decode<T: Codec>(bytes: &[u8]) -> Result<T> {
    let expected = T::TAG;
    if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
        return Err(corrupt(expected, "not a statesync binary message (bad magic)"));
    }
    let mut header = postcard::Deserializer::from_bytes(&bytes[MAGIC.len()..]);
    let version = u64::deserialize(&mut header).map_err(|e| corrupt(expected, format!("format version: {e}")))?;
    if version != WIRE_FORMAT {
        return Err(SyncError::UnsupportedFormat(format!(
            "binary {} message format {version}; this build reads format {WIRE_FORMAT}",
            expected.name()
        )));
    }
    let tag = u8::deserialize(&mut header).map_err(|e| corrupt(expected, format!("message kind: {e}")))?;
    match Kind::from_tag(tag) {
        Some(kind) if kind == expected => {}
        Some(kind) => return Err(corrupt(expected, format!("this is a {} message", kind.name()))),
        None => return Err(corrupt(expected, format!("unknown message kind {tag}"))),
    }
    let rest = header.finalize().map_err(|e| corrupt(expected, e))?;
    let Some(body_len) = rest.len().checked_sub(4) else {
        return Err(corrupt(expected, "truncated: no checksum"));
    };
    let (signed, crc) = bytes.split_at(bytes.len() - 4);
    let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if super::crc32::crc32(signed) != crc {
        return Err(corrupt(expected, "checksum mismatch: the message is damaged or truncated"));
    }
    let body = &rest[..body_len];
    let mut r = Reader {
        de: postcard::Deserializer::from_bytes(body),
        kind: expected,
        symbols: Vec::new(),
        limit: body.len(),
        expanded: 0,
    };
    let n = r.count("string table length")?;
    for _ in 0..n {
        let s = r.string("string table entry")?;
        r.symbols.push(s);
    }
    let value = T::read(&mut r)?;
    let left = r.de.finalize().map_err(|e| corrupt(expected, e))?;
    if !left.is_empty() {
        return Err(corrupt(expected, format!("{} trailing bytes", left.len())));
    }
    if encode(&value) != bytes {
        return Err(corrupt(expected, "not in canonical form"));
    }
    Ok(value)
}
