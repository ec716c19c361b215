//! What the final value of a state must be, computed from the writes made to it alone: the
//! models the simulation (`core/tests/simulation.rs`) holds every strategy's result against.
//!
//! Nothing here calls the core's merge code: the field model below is derived from the text of
//! ADR 3 (docs/adr/0003-merge-fields-as-a-register-tree.md), the others from docs/design.md#31-strategies and the
//! strategies' documentation. A model that agrees with the core only because it asks the core
//! would prove nothing.
#![allow(dead_code)] // the unit tests at the end use a different subset than the simulation

use serde_json::{json, Map, Value};
use statesync::{FieldKind, FieldNode, Resolved, SyncState, Timestamp, VectorClock};
use std::collections::{BTreeMap, BTreeSet};

/// One write, as its caller saw it: what it returned (clock, timestamp), what it was asked to
/// store and what it overwrote.
#[derive(Clone, Debug)]
pub struct ModelWrite {
    /// The clock of the version the write made.
    pub clock: VectorClock,
    /// Its timestamp: `(millis, counter, node)` orders writes for last-writer-wins.
    pub timestamp: Timestamp,
    /// The data it stored; `None` for a delete.
    pub data: Option<Value>,
    /// The live data it overwrote; `None` when it wrote over nothing or over a tombstone.
    pub base: Option<Value>,
}

// ---- last-writer-wins, and the strategies whose final version is one write -------------------------

/// The last-writer-wins winner: the write with the greatest `(timestamp, node)`.
pub fn last_writer<'a>(writes: &[&'a ModelWrite]) -> Option<&'a ModelWrite> {
    writes.iter().copied().max_by(|a, b| a.timestamp.cmp(&b.timestamp))
}

/// The write that has seen every other one, if there is one: under strategies that merge
/// nothing (`Manual`, `LocalWins`, `RemoteWins`), every version is a write, so once a state
/// has converged and no conflict is left its version is exactly this write.
pub fn dominating<'a>(writes: &[&'a ModelWrite]) -> Option<&'a ModelWrite> {
    writes.iter().copied().find(|w| writes.iter().all(|o| w.clock.dominates(&o.clock)))
}

// ---- a semilattice join for the custom strategy ----------------------------------------------------

/// Data of the custom collections: `{"max": n, "tags": [sorted distinct strings]}`.
pub fn custom_data(max: u64, tags: impl IntoIterator<Item = String>) -> Value {
    let tags: BTreeSet<String> = tags.into_iter().collect();
    json!({ "max": max, "tags": tags.into_iter().collect::<Vec<_>>() })
}

fn custom_parts(v: &Value) -> Result<(u64, BTreeSet<String>), String> {
    let max = v.get("max").and_then(Value::as_u64).ok_or_else(|| format!("no max in {v}"))?;
    let tags = v
        .get("tags")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("no tags in {v}"))?
        .iter()
        .map(|t| t.as_str().map(str::to_owned).ok_or_else(|| format!("a tag that is no string in {v}")))
        .collect::<Result<_, _>>()?;
    Ok((max, tags))
}

/// The join of two custom values: the greater `max`, the union of the tags.
pub fn custom_join(a: &Value, b: &Value) -> Result<Value, String> {
    let (ma, mut ta) = custom_parts(a)?;
    let (mb, tb) = custom_parts(b)?;
    ta.extend(tb);
    Ok(custom_data(ma.max(mb), ta))
}

/// The resolver of the custom collections: a deleted side wins (the lattice's top: a deleted
/// state stays deleted, so the simulation never re-creates one), two live sides join.
/// Commutative, associative and idempotent, as `ConflictResolver` requires.
pub fn custom_resolver(local: &SyncState, remote: &SyncState) -> Result<Resolved, String> {
    if local.deleted || remote.deleted {
        return Ok(Resolved::Deleted);
    }
    custom_join(&local.data, &remote.data).map(Resolved::Data)
}

/// What the custom strategy must end with: deleted if any write deleted the state, else the
/// join of every write's data (each write is the join of what it overwrote and something new,
/// so the join over all writes is the lattice's least upper bound of everything written).
pub fn custom_final(writes: &[&ModelWrite]) -> Result<Option<Value>, String> {
    let mut acc: Option<Value> = None;
    for w in writes {
        let Some(data) = &w.data else { return Ok(None) };
        acc = Some(match acc {
            None => data.clone(),
            Some(a) => custom_join(&a, data)?,
        });
    }
    Ok(acc)
}

// ---- MergeFields: per-field registers ---------------------------------------------------------------

/// A field path from the root of the data (empty: the root, i.e. the whole state).
pub type Path = Vec<String>;

/// What a write assigned to one path.
#[derive(Clone, Debug, PartialEq)]
pub enum Assigned {
    /// A non-object value, as a whole.
    Value(Value),
    /// An object: its keys are assigned (or not) separately.
    Object,
    /// The key was removed (at the root: the state was deleted).
    Removed,
}

/// The newest assignment of one path.
#[derive(Clone, Debug, PartialEq)]
pub struct Register {
    /// When: the timestamp of the write that made it.
    pub ts: Timestamp,
    /// What.
    pub what: Assigned,
}

/// The field model of one state: for every path any write assigned, the latest assignment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldModel {
    /// Path → newest register.
    pub registers: BTreeMap<Path, Register>,
}

impl FieldModel {
    /// The registers of every write of one state, given in the order they were made (a write
    /// comes after every write it has seen).
    ///
    /// What a write assigned is derived from what it overwrote and what it wrote (ADR 3): a
    /// field whose value did not change is not assigned; an object written over an object
    /// assigns its keys one by one and removes the keys it no longer has; anything else
    /// (a value, or an object where there was none) is assigned whole, and an object assigned
    /// whole also removes every key the writer's history had under that path, so no older
    /// sub-field resurfaces. "The writer's history" is the paths assigned by the writes this
    /// write has seen (its clock dominates theirs): exactly what its replica's tree held.
    pub fn from_writes(writes: &[&ModelWrite]) -> FieldModel {
        let mut model = FieldModel::default();
        let mut assigned: Vec<BTreeSet<Path>> = Vec::with_capacity(writes.len());
        for (i, w) in writes.iter().enumerate() {
            let known: BTreeSet<&Path> = writes[..i]
                .iter()
                .zip(&assigned)
                .filter(|(seen, _)| w.clock.dominates(&seen.clock))
                .flat_map(|(_, paths)| paths.iter())
                .collect();
            let mut out = Vec::new();
            match &w.data {
                None => out.push((Path::new(), Assigned::Removed)),
                Some(new) => diff(&mut Path::new(), w.base.as_ref(), new, &known, &mut out),
            }
            assigned.push(out.iter().map(|(p, _)| p.clone()).collect());
            for (path, what) in out {
                let newer = model.registers.get(&path).is_none_or(|r| w.timestamp > r.ts);
                if newer {
                    model.registers.insert(path, Register { ts: w.timestamp.clone(), what });
                }
            }
        }
        model
    }

    /// The registers of a state's field history, read from the tree the core stored.
    pub fn of_tree(tree: &FieldNode) -> FieldModel {
        fn walk(node: &FieldNode, path: &mut Path, out: &mut BTreeMap<Path, Register>) {
            let what = match &node.kind {
                FieldKind::Object => Assigned::Object,
                FieldKind::Value(v) => Assigned::Value(v.clone()),
                FieldKind::Deleted => Assigned::Removed,
            };
            out.insert(path.clone(), Register { ts: node.ts.clone(), what });
            for (key, child) in &node.children {
                path.push(key.clone());
                walk(child, path, out);
                path.pop();
            }
        }
        let mut model = FieldModel::default();
        walk(tree, &mut Path::new(), &mut model.registers);
        model
    }

    /// The data the registers show; `None`: the state is deleted. ADR 3: a value or removal
    /// assigned at time `t` hides everything below it older than `t`; an object assignment
    /// hides nothing; a path whose own assignment is older than one below it shows as an
    /// object of its live sub-fields.
    pub fn visible(&self) -> Option<Value> {
        let mut root = Tree::default();
        for (path, reg) in &self.registers {
            let mut node = &mut root;
            for key in path {
                node = node.children.entry(key.as_str()).or_default();
            }
            node.reg = Some(reg);
        }
        root.show(None)
    }
}

/// The assignments of writing `new` at `path` over `old` (what was visible there).
fn diff(path: &mut Path, old: Option<&Value>, new: &Value, known: &BTreeSet<&Path>, out: &mut Vec<(Path, Assigned)>) {
    if old == Some(new) {
        return;
    }
    match (old, new) {
        (Some(Value::Object(old)), Value::Object(new)) => {
            for (key, value) in new {
                path.push(key.clone());
                diff(path, old.get(key), value, known, out);
                path.pop();
            }
            for key in old.keys().filter(|k| !new.contains_key(*k)) {
                path.push(key.clone());
                out.push((path.clone(), Assigned::Removed));
                path.pop();
            }
        }
        _ => assign(path, new, known, out),
    }
}

/// The assignments of writing `value` whole at `path`.
fn assign(path: &mut Path, value: &Value, known: &BTreeSet<&Path>, out: &mut Vec<(Path, Assigned)>) {
    let Value::Object(map) = value else {
        out.push((path.clone(), Assigned::Value(value.clone())));
        return;
    };
    out.push((path.clone(), Assigned::Object));
    let depth = path.len();
    let gone: Vec<String> = known
        .iter()
        .filter(|p| p.len() == depth + 1 && p[..depth] == path[..] && !map.contains_key(&p[depth]))
        .map(|p| p[depth].clone())
        .collect();
    for key in gone {
        path.push(key);
        out.push((path.clone(), Assigned::Removed));
        path.pop();
    }
    for (key, v) in map {
        path.push(key.clone());
        assign(path, v, known, out);
        path.pop();
    }
}

/// The registers arranged as a tree, to read the visible data.
#[derive(Default)]
struct Tree<'a> {
    reg: Option<&'a Register>,
    children: BTreeMap<&'a str, Tree<'a>>,
}

impl Tree<'_> {
    fn newest(&self) -> Option<&Timestamp> {
        let own = self.reg.map(|r| &r.ts);
        self.children.values().filter_map(Tree::newest).chain(own).max()
    }

    /// What this path shows when the nearest live value or removal above it is `floor`.
    fn show(&self, floor: Option<&Timestamp>) -> Option<Value> {
        let newest = self.newest();
        if let Some(f) = floor {
            // Everything here is older than a value or removal above: hidden.
            if newest.is_none_or(|n| n < f) {
                return None;
            }
        }
        let live = self.reg.filter(|r| floor.is_none_or(|f| r.ts >= *f));
        if let Some(r) = live.filter(|r| Some(&r.ts) >= newest) {
            match &r.what {
                Assigned::Value(v) => return Some(v.clone()),
                Assigned::Removed => return None,
                Assigned::Object => {}
            }
        }
        let below = match live {
            Some(r) if r.what != Assigned::Object => Some(&r.ts),
            _ => floor,
        };
        let map: Map<String, Value> =
            self.children.iter().filter_map(|(k, c)| c.show(below).map(|v| ((*k).to_owned(), v))).collect();
        Some(Value::Object(map))
    }
}

// ---- the models' own tests: hand-computed expectations, so a wrong model cannot pass -------------

#[cfg(test)]
mod model_tests {
    use super::*;

    fn ts(millis: u64, node: &str) -> Timestamp {
        Timestamp { millis, counter: 0, node: node.into() }
    }

    fn clock(entries: &[(&str, u64)]) -> VectorClock {
        let map: BTreeMap<String, u64> = entries.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        map.into()
    }

    fn w(c: &[(&str, u64)], t: (u64, &str), base: Option<Value>, data: Option<Value>) -> ModelWrite {
        ModelWrite { clock: clock(c), timestamp: ts(t.0, t.1), data, base }
    }

    fn fields(writes: &[ModelWrite]) -> Option<Value> {
        let refs: Vec<&ModelWrite> = writes.iter().collect();
        FieldModel::from_writes(&refs).visible()
    }

    #[test]
    fn concurrent_edits_of_different_fields_both_survive() {
        let base = json!({"theme": "dark", "font": {"size": 12, "face": "mono"}});
        let writes = [
            w(&[("a", 1)], (1, "a"), None, Some(base.clone())),
            w(
                &[("a", 1), ("p", 1)],
                (5, "p"),
                Some(base.clone()),
                Some(json!({"theme": "light", "font": {"size": 12, "face": "mono"}})),
            ),
            w(
                &[("a", 1), ("l", 1)],
                (4, "l"),
                Some(base),
                Some(json!({"theme": "dark", "font": {"size": 14, "face": "mono"}})),
            ),
        ];
        assert_eq!(fields(&writes), Some(json!({"theme": "light", "font": {"size": 14, "face": "mono"}})));
    }

    #[test]
    fn the_later_write_of_the_same_field_wins_and_a_removal_sticks() {
        let base = json!({"a": 1, "b": 2});
        let writes = [
            w(&[("a", 1)], (1, "a"), None, Some(base.clone())),
            w(&[("a", 1), ("x", 1)], (3, "x"), Some(base.clone()), Some(json!({"a": 10}))),
            w(&[("a", 1), ("y", 1)], (2, "y"), Some(base), Some(json!({"a": 20, "b": 2}))),
        ];
        assert_eq!(fields(&writes), Some(json!({"a": 10})));
    }

    #[test]
    fn an_edit_below_a_parent_removed_earlier_resurfaces_alone() {
        let base = json!({"theme": "dark", "font": {"size": 12, "face": "mono"}});
        let writes = [
            w(&[("a", 1)], (1, "a"), None, Some(base.clone())),
            w(&[("a", 1), ("r", 1)], (5, "r"), Some(base.clone()), Some(json!({"theme": "dark"}))),
            w(
                &[("a", 1), ("e", 1)],
                (6, "e"),
                Some(base),
                Some(json!({"theme": "dark", "font": {"size": 20, "face": "mono"}})),
            ),
        ];
        assert_eq!(fields(&writes), Some(json!({"theme": "dark", "font": {"size": 20}})));
    }

    #[test]
    fn concurrently_added_objects_keep_both_sub_fields() {
        let writes = [
            w(&[("a", 1)], (1, "a"), None, Some(json!({}))),
            w(&[("a", 1), ("x", 1)], (2, "x"), Some(json!({})), Some(json!({"o": {"a": 1}}))),
            w(&[("a", 1), ("y", 1)], (3, "y"), Some(json!({})), Some(json!({"o": {"b": 2}}))),
        ];
        assert_eq!(fields(&writes), Some(json!({"o": {"a": 1, "b": 2}})));
    }

    #[test]
    fn an_object_replaced_by_a_value_and_back_drops_its_old_sub_fields_everywhere() {
        let base = json!({"font": {"size": 12}});
        let writes = [
            w(&[("a", 1)], (1, "a"), None, Some(base.clone())),
            w(&[("a", 2)], (2, "a"), Some(base.clone()), Some(json!({"font": 3}))),
            w(&[("a", 3)], (3, "a"), Some(json!({"font": 3})), Some(json!({"font": {"weight": "bold"}}))),
        ];
        assert_eq!(fields(&writes), Some(json!({"font": {"weight": "bold"}})));
    }

    #[test]
    fn a_delete_hides_older_fields_and_a_later_field_edit_survives_it() {
        let base = json!({"a": 1, "b": 2});
        let deleted = [
            w(&[("a", 1)], (1, "a"), None, Some(base.clone())),
            w(&[("a", 1), ("d", 1)], (5, "d"), Some(base.clone()), None),
            w(&[("a", 1), ("e", 1)], (3, "e"), Some(base.clone()), Some(json!({"a": 7, "b": 2}))),
        ];
        assert_eq!(fields(&deleted), None);
        let edited_later = [
            w(&[("a", 1)], (1, "a"), None, Some(base.clone())),
            w(&[("a", 1), ("d", 1)], (5, "d"), Some(base.clone()), None),
            w(&[("a", 1), ("e", 1)], (6, "e"), Some(base), Some(json!({"a": 7, "b": 2}))),
        ];
        assert_eq!(fields(&edited_later), Some(json!({"a": 7})));
    }

    #[test]
    fn a_non_object_value_is_last_writer_wins() {
        let writes = [
            w(&[("a", 1)], (1, "a"), None, Some(json!({"a": 1}))),
            w(&[("a", 1), ("x", 1)], (2, "x"), Some(json!({"a": 1})), Some(json!([1, 2]))),
            w(&[("a", 1), ("y", 1)], (4, "y"), Some(json!({"a": 1})), Some(json!({"a": 1, "b": 3}))),
        ];
        // The array is assigned at the root at 2; the field b at 4 is newer and shows through.
        assert_eq!(fields(&writes), Some(json!({"b": 3})));
    }

    #[test]
    fn the_models_of_the_other_strategies() {
        let a = w(&[("a", 1)], (3, "a"), None, Some(json!(1)));
        let b = w(&[("b", 1)], (3, "b"), None, Some(json!(2)));
        let c = w(&[("a", 1), ("b", 1), ("c", 1)], (2, "c"), Some(json!(1)), None);
        assert_eq!(last_writer(&[&a, &b]).and_then(|w| w.data.clone()), Some(json!(2)), "node id breaks the tie");
        assert_eq!(last_writer(&[&a, &b, &c]).map(|w| w.timestamp.node.as_str()), Some("b"));
        assert_eq!(dominating(&[&a, &b]).map(|w| w.timestamp.node.as_str()), None);
        assert_eq!(dominating(&[&a, &b, &c]).map(|w| w.timestamp.node.as_str()), Some("c"));
        let x = w(&[], (1, "a"), None, Some(custom_data(3, ["p".to_owned()])));
        let y = w(&[], (1, "b"), None, Some(custom_data(7, ["q".to_owned(), "p".to_owned()])));
        assert_eq!(custom_final(&[&x, &y]), Ok(Some(json!({"max": 7, "tags": ["p", "q"]}))));
        let gone = w(&[], (2, "b"), None, None);
        assert_eq!(custom_final(&[&x, &gone, &y]), Ok(None));
    }
}
