//! Values handed to JS: a state version kept in WebAssembly behind a handle (its fields cross
//! to JS as JSON only when read), the outcome of applying a remote state, and a feed page.
//! Values coming from JS arrive as JSON text and go through the core's own parsers.

use crate::error::OrJs;
use statesync::{ChangeSet, Encoding, SyncState};
use std::sync::Arc;
use wasm_bindgen::prelude::*;

/// One immutable state version, shared with the replica that stored it.
#[wasm_bindgen]
pub struct State(pub(crate) Arc<SyncState>);

#[wasm_bindgen]
impl State {
    /// Parses and validates the state's wire JSON (`INVALID_STATE` when malformed).
    #[wasm_bindgen(js_name = fromJson)]
    pub fn from_json(text: &str) -> Result<State, JsValue> {
        SyncState::from_json(text).map(|s| State(Arc::new(s))).js()
    }

    /// The state's wire JSON text.
    pub fn json(&self) -> String {
        self.0.to_json()
    }

    /// True when both hold the same version (same id, collection, clock, timestamp and content),
    /// as the core compares them: `SyncState.equals` of the shared JS layer (js/src/values.ts).
    pub fn equals(&self, other: &State) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || *self.0 == *other.0
    }
}

/// What `applyRemoteState` did.
#[wasm_bindgen]
pub struct Applied {
    pub(crate) outcome: &'static str,
    pub(crate) resolved: bool,
    pub(crate) state: Arc<SyncState>,
    pub(crate) conflict: Option<String>,
}

#[wasm_bindgen]
impl Applied {
    /// `created`, `updated`, `unchanged`, `ignored` or `conflict`.
    pub fn outcome(&self) -> String {
        self.outcome.to_owned()
    }

    /// A concurrent version was settled automatically.
    pub fn resolved(&self) -> bool {
        self.resolved
    }

    /// The stored version afterwards.
    pub fn state(&self) -> State {
        State(self.state.clone())
    }

    /// The recorded manual conflict, as JSON.
    pub fn conflict(&self) -> Option<String> {
        self.conflict.clone()
    }
}

impl From<statesync::ApplyResult> for Applied {
    fn from(r: statesync::ApplyResult) -> Self {
        Applied {
            outcome: r.outcome.as_str(),
            resolved: r.resolved,
            state: r.state,
            conflict: r.conflict.map(|c| serde_json::to_string(&c).expect("a conflict serialises")),
        }
    }
}

/// A page of the changes feed.
#[wasm_bindgen]
pub struct Page(pub(crate) ChangeSet);

#[wasm_bindgen]
impl Page {
    /// The page's states, oldest change first.
    pub fn states(&self) -> Vec<State> {
        self.0.states.iter().cloned().map(State).collect()
    }

    /// The cursor to continue after this page.
    pub fn cursor(&self) -> String {
        self.0.cursor.clone()
    }

    /// More changes follow.
    #[wasm_bindgen(js_name = hasMore)]
    pub fn has_more(&self) -> bool {
        self.0.has_more
    }
}

/// A change set received from a peer, from its wire JSON text
/// (`{"format":1,"states":[...],"cursor":..,"has_more":..}`): decoded as the core decodes pages
/// ([`statesync::decode_page`]), so that an invalid state is refused alone when it is applied.
pub(crate) fn changes_from_json(text: &str) -> Result<ChangeSet, JsValue> {
    statesync::decode_page(text.as_bytes(), Encoding::Json).js()
}

/// The counts of a reconciliation as a JSON value, as JS reads them: the six counts,
/// `rejected`, and `rejections` (`[{"id", "code", "message", "current"?}]`, empty when none;
/// `current`, the refusing replica's kept version, as its wire JSON object, which
/// wasm/ts/engine.ts hands to the shared layer as text).
pub(crate) fn counts_value(r: &statesync::ReconciliationResult) -> serde_json::Value {
    let mut value = serde_json::to_value(r).expect("counts serialise");
    if let Some(fields) = value.as_object_mut() {
        fields.entry("rejections").or_insert_with(|| serde_json::Value::Array(Vec::new()));
    }
    value
}

/// The counts of a reconciliation as JSON text (see [`counts_value`]).
pub(crate) fn counts(r: statesync::ReconciliationResult) -> String {
    counts_value(&r).to_string()
}

/// A sync round's report as JSON: `{"pulled": counts, "pushed": counts}`.
pub(crate) fn report(r: &statesync::SyncReport) -> serde_json::Value {
    serde_json::json!({"pulled": counts_value(&r.pulled), "pushed": counts_value(&r.pushed)})
}

/// Parses an array of state wire JSON texts given as one JSON array.
pub(crate) fn states_from_json(text: &str) -> Result<Vec<Arc<SyncState>>, JsValue> {
    Ok(SyncState::list_from_json(text).js()?.into_iter().map(Arc::new).collect())
}
