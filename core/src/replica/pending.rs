//! The pending queue: local writes in commit order until the application acknowledges them.
//!
//! Writes are appended with increasing sequence numbers, and acknowledgements usually drain a
//! prefix, so the queue is a deque searched by binary search, with holes for operations
//! acknowledged out of order (compacted when they outnumber the live ones).

use crate::model::operation::{OperationKind, SyncOperation};
use crate::model::state::SyncState;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// A queued operation. A local write shares the state version it produced instead of copying
/// its data, clock and timestamp; the public [`SyncOperation`] is built when it is read.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum PendingOp {
    /// Written here, with this node's counter value: everything but the kind is the written
    /// version (the op id is `"<node>:<counter>"`).
    Written { counter: u64, kind: OperationKind, state: Arc<SyncState> },
    /// Restored from a snapshot.
    Imported(SyncOperation),
}

impl PendingOp {
    pub fn op_id(&self) -> String {
        match self {
            PendingOp::Written { counter, state, .. } => format!("{}:{counter}", state.modified_by),
            PendingOp::Imported(op) => op.op_id.clone(),
        }
    }

    /// The state the operation wrote and the clock it wrote it with.
    pub fn target(&self) -> (&str, &crate::model::clock::VectorClock) {
        match self {
            PendingOp::Written { state, .. } => (&state.id, &state.clock),
            PendingOp::Imported(op) => (&op.state_id, &op.clock),
        }
    }

    /// The clock and timestamp the operation was written with, borrowed.
    #[cfg(feature = "sqlite")]
    pub fn stamps(&self) -> (&crate::model::clock::VectorClock, &crate::model::timestamp::Timestamp) {
        match self {
            PendingOp::Written { state, .. } => (&state.clock, &state.timestamp),
            PendingOp::Imported(op) => (&op.clock, &op.timestamp),
        }
    }

    /// The public operation (its JSON form is the same as this type's).
    pub fn to_operation(&self) -> SyncOperation {
        match self {
            PendingOp::Written { kind, state, .. } => SyncOperation {
                op_id: self.op_id(),
                kind: *kind,
                state_id: state.id.clone(),
                collection: state.collection.clone(),
                data: state.data.clone(),
                clock: state.clock.clone(),
                timestamp: state.timestamp.clone(),
                node_id: state.modified_by.clone(),
            },
            PendingOp::Imported(op) => op.clone(),
        }
    }
}

impl serde::Serialize for PendingOp {
    /// Serialises as the [`SyncOperation`] it stands for, borrowing instead of copying.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct View<'a> {
            op_id: &'a str,
            kind: OperationKind,
            state_id: &'a str,
            collection: &'a str,
            data: &'a serde_json::Value,
            clock: &'a crate::model::clock::VectorClock,
            timestamp: &'a crate::model::timestamp::Timestamp,
            node_id: &'a str,
        }
        match self {
            PendingOp::Written { kind, state, .. } => View {
                op_id: &self.op_id(),
                kind: *kind,
                state_id: &state.id,
                collection: &state.collection,
                data: &state.data,
                clock: &state.clock,
                timestamp: &state.timestamp,
                node_id: &state.modified_by,
            }
            .serialize(serializer),
            PendingOp::Imported(op) => op.serialize(serializer),
        }
    }
}

/// Queued operations by sequence number.
#[derive(Clone, Debug, Default)]
pub(crate) struct PendingQueue {
    /// `(seq, op)` in increasing `seq`; `None` marks an acknowledged operation not yet dropped.
    items: VecDeque<(u64, Option<PendingOp>)>,
    live: usize,
    /// This node's own writes: `(counter, seq)`, both increasing.
    own: VecDeque<(u64, u64)>,
    /// Imported or reloaded operations by op id.
    by_id: HashMap<String, u64>,
}

impl PendingQueue {
    /// Appends an operation; `seq` must exceed every queued one.
    pub fn push(&mut self, seq: u64, op: PendingOp) {
        debug_assert!(self.items.back().is_none_or(|(last, _)| *last < seq));
        match &op {
            PendingOp::Written { counter, .. } => self.own.push_back((*counter, seq)),
            PendingOp::Imported(op) => {
                self.by_id.insert(op.op_id.clone(), seq);
            }
        }
        self.items.push_back((seq, Some(op)));
        self.live += 1;
    }

    fn position(&self, seq: u64) -> Option<usize> {
        self.items.binary_search_by_key(&seq, |(s, _)| *s).ok()
    }

    /// Drops the operation with this sequence number.
    pub fn remove(&mut self, seq: u64) {
        let Some(i) = self.position(seq) else { return };
        let Some(op) = self.items[i].1.take() else { return };
        self.live -= 1;
        if let PendingOp::Imported(op) = op {
            self.by_id.remove(&op.op_id);
        }
        while matches!(self.items.front(), Some((_, None))) {
            self.items.pop_front();
        }
        let first_live = self.items.front().map_or(u64::MAX, |(s, _)| *s);
        while self.own.front().is_some_and(|(_, s)| *s < first_live) {
            self.own.pop_front();
        }
        if self.items.len() > 64 && self.items.len() > 2 * self.live {
            self.items.retain(|(_, op)| op.is_some());
            let items = &self.items;
            self.own.retain(|(_, s)| items.binary_search_by_key(s, |(x, _)| *x).is_ok());
        }
    }

    /// The sequence number of the queued operation `op_id`; `own_node` is this replica's id.
    pub fn find(&self, op_id: &str, own_node: &str) -> Option<u64> {
        let own = op_id
            .rsplit_once(':')
            .filter(|(node, _)| *node == own_node)
            .and_then(|(_, counter)| counter.parse::<u64>().ok())
            .and_then(|counter| {
                let i = self.own.binary_search_by_key(&counter, |(c, _)| *c).ok()?;
                let seq = self.own[i].1;
                self.position(seq).filter(|&p| self.items[p].1.is_some()).map(|_| seq)
            });
        own.or_else(|| self.by_id.get(op_id).copied())
    }

    /// Queued operations in order.
    pub fn iter(&self) -> impl Iterator<Item = &PendingOp> {
        self.items.iter().filter_map(|(_, op)| op.as_ref())
    }

    /// Queued operations in order, with their sequence numbers.
    #[cfg(feature = "sqlite")]
    pub fn entries(&self) -> impl Iterator<Item = (u64, &PendingOp)> {
        self.items.iter().filter_map(|(seq, op)| op.as_ref().map(|op| (*seq, op)))
    }

    /// Queued operations in order, as public operations.
    pub fn operations(&self) -> impl Iterator<Item = SyncOperation> + '_ {
        self.iter().map(PendingOp::to_operation)
    }

    /// Empties the queue.
    pub fn clear(&mut self) {
        *self = PendingQueue::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::clock::VectorClock;
    use crate::model::operation::OperationKind;
    use crate::model::state::SyncState;
    use crate::model::timestamp::Timestamp;
    use std::sync::Arc;

    fn written(counter: u64) -> PendingOp {
        let timestamp = Timestamp { millis: counter, counter: 0, node: "me".into() };
        let state = SyncState {
            id: format!("s{counter}"),
            collection: "default".into(),
            data: serde_json::Value::Null,
            clock: [("me", counter)].into_iter().collect::<VectorClock>(),
            modified_by: "me".into(),
            timestamp,
            deleted: false,
            version: 1,
            hash: crate::model::canonical::state_hash(&serde_json::Value::Null, false),
            fields: None,
        };
        PendingOp::Written { counter, kind: OperationKind::Create, state: Arc::new(state) }
    }

    fn ids(q: &PendingQueue) -> Vec<String> {
        q.iter().map(PendingOp::op_id).collect()
    }

    #[test]
    fn out_of_order_acknowledgements_and_compaction() {
        let mut q = PendingQueue::default();
        for c in 1..=200 {
            q.push(c * 2, written(c));
        }
        assert_eq!(q.find("me:7", "me"), Some(14));
        assert_eq!(q.find("other:7", "me"), None);
        for c in (2..=200).step_by(2) {
            q.remove(c * 2);
        }
        q.remove(2);
        assert_eq!(q.find("me:7", "me"), Some(14));
        assert_eq!(q.find("me:8", "me"), None);
        assert_eq!(q.find("me:1", "me"), None);
        let left = ids(&q);
        assert_eq!(left.len(), 99);
        assert_eq!(left[0], "me:3");
        assert!(q.items.len() <= 2 * 99 + 1, "holes were compacted");
        q.push(1000, PendingOp::Imported(written(500).to_operation()));
        assert_eq!(q.find("me:500", "me"), Some(1000), "imported ops are found by id");
        q.remove(1000);
        assert_eq!(q.find("me:500", "me"), None);
    }
}
