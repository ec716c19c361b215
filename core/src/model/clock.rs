//! Vector clocks: which writes a state has seen, and how two states relate causally.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Largest clock entry, version and timestamp millisecond value: 2^53 − 1, the largest integer
/// every binding language represents exactly (JavaScript numbers), and far from overflow when
/// the replica counts past a received value.
pub const MAX_COUNTER: u64 = (1 << 53) - 1;

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
/// clocks are equal exactly when their entries are equal, and serialisation is canonical.
///
/// Stored as a vector sorted by node id: a state's clock has a handful of entries, and a vector
/// is one allocation where a tree map is two per entry plus a node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(from = "BTreeMap<String, u64>")]
pub struct VectorClock(Vec<(String, u64)>);

impl Serialize for VectorClock {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl From<BTreeMap<String, u64>> for VectorClock {
    fn from(map: BTreeMap<String, u64>) -> Self {
        VectorClock(map.into_iter().filter(|(_, v)| *v != 0).collect())
    }
}

impl From<VectorClock> for BTreeMap<String, u64> {
    fn from(clock: VectorClock) -> Self {
        clock.0.into_iter().collect()
    }
}

impl VectorClock {
    /// An empty clock (every entry 0).
    pub fn new() -> Self {
        Self::default()
    }

    fn find(&self, node: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(node))
    }

    /// The counter for `node` (0 when absent).
    pub fn get(&self, node: &str) -> u64 {
        self.find(node).map_or(0, |i| self.0[i].1)
    }

    /// Sets the counter for `node`; setting 0 removes the entry.
    pub fn set(&mut self, node: &str, value: u64) {
        match (self.find(node), value) {
            (Ok(i), 0) => {
                self.0.remove(i);
            }
            (Ok(i), v) => self.0[i].1 = v,
            (Err(_), 0) => {}
            (Err(i), v) => self.0.insert(i, (node.to_owned(), v)),
        }
    }

    /// Adds one to `node`'s counter and returns the new value. At `u64::MAX` the counter stays
    /// there (no state a replica accepts comes near: entries are bounded by 2^53 − 1).
    pub fn increment(&mut self, node: &str) -> u64 {
        let next = self.get(node).saturating_add(1);
        self.set(node, next);
        next
    }

    /// Entrywise maximum, in place.
    pub fn merge(&mut self, other: &VectorClock) {
        for (node, v) in &other.0 {
            if *v > self.get(node) {
                self.set(node, *v);
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
        let (a, b) = (&self.0, &other.0);
        let (mut i, mut j) = (0, 0);
        // Both are sorted by node: walk them together like a merge join.
        while i < a.len() || j < b.len() {
            let order = match (a.get(i), b.get(j)) {
                (Some((ka, _)), Some((kb, _))) => ka.cmp(kb),
                (Some(_), None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            match order {
                Ordering::Less => {
                    greater = true;
                    i += 1;
                }
                Ordering::Greater => {
                    less = true;
                    j += 1;
                }
                Ordering::Equal => {
                    match a[i].1.cmp(&b[j].1) {
                        Ordering::Less => less = true,
                        Ordering::Greater => greater = true,
                        Ordering::Equal => {}
                    }
                    i += 1;
                    j += 1;
                }
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
        let mut top = vc(&[("a", u64::MAX)]);
        assert_eq!(top.increment("a"), u64::MAX, "never wraps back to 0");
        assert_eq!(top, vc(&[("a", u64::MAX)]));
    }

    #[test]
    fn zero_entries_are_dropped_when_parsed() {
        let c: VectorClock = serde_json::from_str(r#"{"a":0,"b":2}"#).unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"b":2}"#);
    }
}
