//! Encoding: the message body written by hand, strings interned in first-use order.

// The shared header, tags and imports of `binary/mod.rs`.
use super::*;

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
    let crc = crate::wire::crc32::crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}
