//! Vector clocks: which writes a state has seen, and how two states relate causally.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// How two vector clocks relate. Exactly one holds for any pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ClockOrdering {
    /// Both clocks have seen exactly the same writes.
    Equal,
    /// The left clock is strictly older: every entry ≤, at least one <.
    Before,
    /// The left clock is strictly newer.
    After,
    /// Each clock has seen a write the other has not.
    Concurrent,
}

/// A map `node_id → counter`; a missing entry means 0. Zero entries are never stored, so two
/// clocks are equal exactly when their maps are equal, and serialisation is canonical.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "BTreeMap<String, u64>", into = "BTreeMap<String, u64>")]
pub struct VectorClock(BTreeMap<String, u64>);

impl From<BTreeMap<String, u64>> for VectorClock {
    fn from(mut map: BTreeMap<String, u64>) -> Self {
        map.retain(|_, v| *v != 0);
        VectorClock(map)
    }
}

impl From<VectorClock> for BTreeMap<String, u64> {
    fn from(clock: VectorClock) -> Self {
        clock.0
    }
}

impl VectorClock {
    /// An empty clock (every entry 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// The counter for `node` (0 when absent).
    pub fn get(&self, node: &str) -> u64 {
        self.0.get(node).copied().unwrap_or(0)
    }

    /// Sets the counter for `node`; setting 0 removes the entry.
    pub fn set(&mut self, node: &str, value: u64) {
        if value == 0 {
            self.0.remove(node);
        } else if let Some(v) = self.0.get_mut(node) {
            *v = value;
        } else {
            self.0.insert(node.to_owned(), value);
        }
    }

    /// Adds one to `node`'s counter and returns the new value.
    pub fn increment(&mut self, node: &str) -> u64 {
        let next = self.get(node) + 1;
        self.set(node, next);
        next
    }

    /// Entrywise maximum, in place.
    pub fn merge(&mut self, other: &VectorClock) {
        for (node, &v) in &other.0 {
            if v > self.get(node) {
                self.set(node, v);
            }
        }
    }

    /// Entrywise maximum, as a new clock.
    pub fn merged(&self, other: &VectorClock) -> VectorClock {
        let mut out = self.clone();
        out.merge(other);
        out
    }

    /// Compares `self` with `other` (self is the left side).
    pub fn compare(&self, other: &VectorClock) -> ClockOrdering {
        let (mut less, mut greater) = (false, false);
        let mut a = self.0.iter().peekable();
        let mut b = other.0.iter().peekable();
        // Both maps are sorted: walk them together like a merge join.
        loop {
            match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(_), None) => {
                    greater = true;
                    break;
                }
                (None, Some(_)) => {
                    less = true;
                    break;
                }
                (Some((ka, va)), Some((kb, vb))) => match ka.cmp(kb) {
                    Ordering::Less => {
                        greater = true;
                        a.next();
                    }
                    Ordering::Greater => {
                        less = true;
                        b.next();
                    }
                    Ordering::Equal => {
                        match va.cmp(vb) {
                            Ordering::Less => less = true,
                            Ordering::Greater => greater = true,
                            Ordering::Equal => {}
                        }
                        a.next();
                        b.next();
                    }
                },
            }
            if less && greater {
                return ClockOrdering::Concurrent;
            }
        }
        match (less, greater) {
            (false, false) => ClockOrdering::Equal,
            (true, false) => ClockOrdering::Before,
            (false, true) => ClockOrdering::After,
            (true, true) => ClockOrdering::Concurrent,
        }
    }

    /// True when `self` has seen every write `other` has (Equal or After).
    pub fn dominates(&self, other: &VectorClock) -> bool {
        matches!(self.compare(other), ClockOrdering::Equal | ClockOrdering::After)
    }

    /// The `(node, counter)` entries in node order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Number of non-zero entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when every entry is 0.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<S: Into<String>> FromIterator<(S, u64)> for VectorClock {
    fn from_iter<I: IntoIterator<Item = (S, u64)>>(iter: I) -> Self {
        VectorClock::from(iter.into_iter().map(|(k, v)| (k.into(), v)).collect::<BTreeMap<_, _>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vc(entries: &[(&str, u64)]) -> VectorClock {
        entries.iter().map(|(k, v)| (*k, *v)).collect()
    }

    #[test]
    fn compare_covers_every_ordering() {
        assert_eq!(vc(&[("a", 1)]).compare(&vc(&[("a", 1), ("b", 0)])), ClockOrdering::Equal);
        assert_eq!(vc(&[("a", 1)]).compare(&vc(&[("a", 2)])), ClockOrdering::Before);
        assert_eq!(vc(&[("a", 1), ("b", 1)]).compare(&vc(&[("a", 1)])), ClockOrdering::After);
        assert_eq!(vc(&[("a", 1)]).compare(&vc(&[("b", 1)])), ClockOrdering::Concurrent);
        assert_eq!(vc(&[]).compare(&vc(&[])), ClockOrdering::Equal);
        assert_eq!(vc(&[]).compare(&vc(&[("z", 3)])), ClockOrdering::Before);
    }

    #[test]
    fn merge_increment_dominates() {
        let mut a = vc(&[("a", 2), ("b", 1)]);
        a.merge(&vc(&[("b", 5), ("c", 1)]));
        assert_eq!(a, vc(&[("a", 2), ("b", 5), ("c", 1)]));
        assert_eq!(a.increment("d"), 1);
        assert!(a.dominates(&vc(&[("b", 5)])));
        assert!(!vc(&[("b", 5)]).dominates(&a));
    }

    #[test]
    fn zero_entries_are_dropped_when_parsed() {
        let c: VectorClock = serde_json::from_str(r#"{"a":0,"b":2}"#).unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"b":2}"#);
    }
}
