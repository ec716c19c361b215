//! Decoding: untrusted bytes read back with every count, depth and size bounded, and
//! accepted only in canonical form.

// The shared header, tags and imports of `binary/mod.rs`.
use super::*;

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
    if crate::wire::crc32::crc32(signed) != crc {
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
