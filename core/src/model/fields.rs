//! Field-level history for the `MergeFields` strategy.
//!
//! A state's JSON data is mirrored by a tree of last-writer-wins registers, one per object key at
//! any depth. Merging two trees takes, node by node, the register with the greater timestamp and
//! the union of the children: a join-semilattice, so replicas merging in any order, any number of
//! times, end with the same tree. The visible data is a pure function of the tree:
//!
//! * a value or removal assigned at time `t` hides everything below it that is older than `t`
//!   (a key set to a scalar or removed drops its older sub-fields); an object assignment hides
//!   nothing by itself, so two replicas that concurrently add the same object key with different
//!   sub-fields keep both — replacing an object locally removes its old sub-fields explicitly;
//! * a node whose own assignment is older than a write somewhere below it shows as an object of
//!   its live children (a field edited after a concurrent removal of its parent wins, as the
//!   later write does under last-writer-wins);
//! * a removed key keeps a tombstone register, so the removal survives a merge with a replica
//!   that still has the key.

use crate::model::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One register of the field tree: what this key was last assigned, when, and its sub-fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldNode {
    /// When this key was last assigned.
    #[serde(rename = "t")]
    pub ts: Timestamp,
    /// What it was assigned.
    #[serde(rename = "k")]
    pub kind: FieldKind,
    /// Sub-fields, including removed and superseded ones (kept so merges stay order-independent).
    #[serde(rename = "c", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub children: BTreeMap<String, FieldNode>,
}

/// The assignment held by a [`FieldNode`]: `{"type":"object"}`, `{"type":"value","value":…}` or
/// `{"type":"deleted"}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum FieldKind {
    /// The key holds an object whose fields are the children.
    Object,
    /// The key holds a non-object JSON value (scalar, array, null) as a whole.
    Value(Value),
    /// The key was removed (for the root: the state was deleted).
    Deleted,
}

/// Read by hand rather than derived: serde's adjacently tagged enums buffer their input in a
/// generic `Content` tree, a few kilobytes of code per reader in the browser build (docs/adr/0014).
impl<'de> Deserialize<'de> for FieldKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct KindVisitor;
        impl<'de> serde::de::Visitor<'de> for KindVisitor {
            type Value = FieldKind;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#"a field assignment {"type": "object" | "value" | "deleted", "value": …}"#)
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<FieldKind, A::Error> {
                use serde::de::Error;
                let (mut kind, mut value) = (None::<String>, None::<Value>);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "type" => kind = Some(map.next_value()?),
                        "value" => value = Some(map.next_value()?),
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                match (kind.as_deref(), value) {
                    (Some("object"), _) => Ok(FieldKind::Object),
                    (Some("deleted"), _) => Ok(FieldKind::Deleted),
                    (Some("value"), Some(v)) => Ok(FieldKind::Value(v)),
                    (Some("value"), None) => Err(A::Error::missing_field("value")),
                    (Some(other), _) => Err(A::Error::unknown_variant(other, &["object", "value", "deleted"])),
                    (None, _) => Err(A::Error::missing_field("type")),
                }
            }
        }
        deserializer.deserialize_map(KindVisitor)
    }
}

impl FieldNode {
    /// The tree of a value written as a whole at `ts`.
    pub fn from_value(value: &Value, ts: &Timestamp) -> FieldNode {
        match value {
            Value::Object(map) => FieldNode {
                ts: ts.clone(),
                kind: FieldKind::Object,
                children: map.iter().map(|(k, v)| (k.clone(), FieldNode::from_value(v, ts))).collect(),
            },
            other => FieldNode { ts: ts.clone(), kind: FieldKind::Value(other.clone()), children: BTreeMap::new() },
        }
    }

    /// The tree of a state that carries no field history: everything written at its timestamp.
    pub fn from_state(data: &Value, deleted: bool, ts: &Timestamp) -> FieldNode {
        if deleted {
            FieldNode { ts: ts.clone(), kind: FieldKind::Deleted, children: BTreeMap::new() }
        } else {
            FieldNode::from_value(data, ts)
        }
    }

    /// The visible data of a root node; `None` means the state is deleted.
    pub fn visible(&self) -> Option<Value> {
        self.visible_under(None)
    }

    /// The newest timestamp anywhere in the tree.
    pub fn newest(&self) -> &Timestamp {
        self.subtree_max()
    }

    /// Calls `f` on every value the tree holds, hidden ones included, in key order, stopping at
    /// the first error.
    pub(crate) fn try_for_each_value<E>(&self, f: &mut impl FnMut(&Value) -> Result<(), E>) -> Result<(), E> {
        if let FieldKind::Value(v) = &self.kind {
            f(v)?;
        }
        self.children.values().try_for_each(|child| child.try_for_each_value(f))
    }

    fn subtree_max(&self) -> &Timestamp {
        self.children.values().map(FieldNode::subtree_max).fold(&self.ts, |a, b| a.max(b))
    }

    fn visible_under(&self, floor: Option<&Timestamp>) -> Option<Value> {
        let newest = self.subtree_max();
        if floor.is_some_and(|f| newest < f) {
            return None;
        }
        let own_live = floor.is_none_or(|f| self.ts >= *f);
        if own_live && self.ts >= *newest {
            match &self.kind {
                FieldKind::Value(v) => return Some(v.clone()),
                FieldKind::Deleted => return None,
                FieldKind::Object => {}
            }
        }
        let child_floor = self.child_floor(floor);
        let map: Map<String, Value> =
            self.children.iter().filter_map(|(k, c)| c.visible_under(child_floor).map(|v| (k.clone(), v))).collect();
        Some(Value::Object(map))
    }

    /// The floor under which the children are read when this node shows as an object: a live
    /// value or removal hides the sub-fields older than itself; an object assignment does not.
    fn child_floor<'a>(&'a self, floor: Option<&'a Timestamp>) -> Option<&'a Timestamp> {
        let own_live = floor.is_none_or(|f| self.ts >= *f);
        if own_live && self.kind != FieldKind::Object {
            Some(&self.ts)
        } else {
            floor
        }
    }

    /// Records a local write of `new` at `ts`, which must be newer than every timestamp in the
    /// tree. Only keys whose value changes get a new register, so a concurrent edit of another
    /// key on another replica survives the merge.
    pub fn write(&mut self, new: &Value, ts: &Timestamp) {
        self.write_under(None, new, ts);
    }

    fn write_under(&mut self, floor: Option<&Timestamp>, new: &Value, ts: &Timestamp) {
        let current = self.visible_under(floor);
        if current.as_ref() == Some(new) {
            return;
        }
        match new {
            Value::Object(map) if matches!(current, Some(Value::Object(_))) => {
                let child_floor = self.child_floor(floor).cloned();
                let child_floor = child_floor.as_ref();
                for (key, value) in map {
                    match self.children.get_mut(key) {
                        Some(child) => child.write_under(child_floor, value, ts),
                        None => {
                            self.children.insert(key.clone(), FieldNode::from_value(value, ts));
                        }
                    }
                }
                for (key, child) in self.children.iter_mut() {
                    if !map.contains_key(key) && child.visible_under(child_floor).is_some() {
                        child.ts = ts.clone();
                        child.kind = FieldKind::Deleted;
                    }
                }
            }
            // Becoming an object anew (or a non-object value): the fresh assignment hides every
            // older sub-field.
            other => self.assign(other, ts),
        }
    }

    /// Assigns `value` as a whole at `ts`. Existing sub-fields are kept, not dropped (keeping
    /// them keeps the tree a pure join of all writes, hence byte-identical on every replica):
    /// under a value they are hidden by the newer assignment; under a new object the ones it
    /// does not hold are stamped removed.
    fn assign(&mut self, value: &Value, ts: &Timestamp) {
        self.ts = ts.clone();
        match value {
            Value::Object(map) => {
                self.kind = FieldKind::Object;
                for (key, child) in self.children.iter_mut() {
                    if !map.contains_key(key) {
                        child.ts = ts.clone();
                        child.kind = FieldKind::Deleted;
                    }
                }
                for (key, v) in map {
                    match self.children.get_mut(key) {
                        Some(child) => child.assign(v, ts),
                        None => {
                            self.children.insert(key.clone(), FieldNode::from_value(v, ts));
                        }
                    }
                }
            }
            other => self.kind = FieldKind::Value(other.clone()),
        }
    }

    /// Records a local delete of the whole state at `ts`.
    pub fn delete(&mut self, ts: &Timestamp) {
        self.ts = ts.clone();
        self.kind = FieldKind::Deleted;
    }

    /// Joins `other` into `self`: the newer register per node, the union of children.
    pub fn merge(&mut self, other: &FieldNode) {
        if other.ts > self.ts {
            self.ts = other.ts.clone();
            self.kind = other.kind.clone();
        }
        for (key, theirs) in &other.children {
            match self.children.get_mut(key) {
                Some(mine) => mine.merge(theirs),
                None => {
                    self.children.insert(key.clone(), theirs.clone());
                }
            }
        }
    }

    /// True when every register of `other` is matched by one at least as new here: `self` has
    /// absorbed every field write `other` records.
    pub fn covers(&self, other: &FieldNode) -> bool {
        self.ts >= other.ts
            && other.children.iter().all(|(k, theirs)| self.children.get(k).is_some_and(|mine| mine.covers(theirs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(millis: u64, node: &str) -> Timestamp {
        Timestamp { millis, counter: 0, node: node.into() }
    }

    fn base() -> FieldNode {
        FieldNode::from_value(&json!({"theme": "dark", "font": {"size": 12, "face": "mono"}}), &ts(1, "a"))
    }

    #[test]
    fn concurrent_edits_of_different_fields_both_survive() {
        let mut phone = base();
        phone.write(&json!({"theme": "light", "font": {"size": 12, "face": "mono"}}), &ts(5, "p"));
        let mut laptop = base();
        laptop.write(&json!({"theme": "dark", "font": {"size": 14, "face": "mono"}}), &ts(4, "l"));
        let mut x = phone.clone();
        x.merge(&laptop);
        let mut y = laptop.clone();
        y.merge(&phone);
        assert_eq!(x, y);
        assert_eq!(x.visible(), Some(json!({"theme": "light", "font": {"size": 14, "face": "mono"}})));
    }

    #[test]
    fn removed_key_stays_removed() {
        let mut a = base();
        a.write(&json!({"font": {"size": 12, "face": "mono"}}), &ts(5, "a"));
        let mut b = base();
        b.merge(&a);
        b.merge(&base());
        assert_eq!(b.visible(), Some(json!({"font": {"size": 12, "face": "mono"}})));
    }

    #[test]
    fn later_edit_below_a_removed_parent_resurfaces_only_the_later_field() {
        let mut remover = base();
        remover.write(&json!({"theme": "dark"}), &ts(5, "r"));
        let mut editor = base();
        editor.write(&json!({"theme": "dark", "font": {"size": 20, "face": "mono"}}), &ts(6, "e"));
        let mut m = remover.clone();
        m.merge(&editor);
        assert_eq!(m.visible(), Some(json!({"theme": "dark", "font": {"size": 20}})));
    }

    #[test]
    fn concurrently_added_objects_keep_both_sub_fields() {
        let mut x = FieldNode::from_value(&json!({}), &ts(1, "a"));
        let mut y = x.clone();
        x.write(&json!({"o": {"a": 1}}), &ts(2, "x"));
        y.write(&json!({"o": {"b": 2}}), &ts(3, "y"));
        let mut m = x.clone();
        m.merge(&y);
        assert_eq!(m.visible(), Some(json!({"o": {"a": 1, "b": 2}})));
    }

    #[test]
    fn an_object_replaced_by_a_value_and_back_drops_its_old_sub_fields() {
        let mut a = base();
        a.write(&json!({"theme": "dark", "font": 3}), &ts(2, "a"));
        a.write(&json!({"theme": "dark", "font": {"weight": "bold"}}), &ts(3, "a"));
        assert_eq!(a.visible(), Some(json!({"theme": "dark", "font": {"weight": "bold"}})));
        let mut stale = base();
        stale.merge(&a);
        assert_eq!(stale.visible(), a.visible());
    }

    #[test]
    fn delete_and_recreate() {
        let mut a = base();
        a.delete(&ts(3, "a"));
        assert_eq!(a.visible(), None);
        a.write(&json!({"x": 1}), &ts(4, "a"));
        assert_eq!(a.visible(), Some(json!({"x": 1})));
        assert!(a.covers(&base()));
    }
}
