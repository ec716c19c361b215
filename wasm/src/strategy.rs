//! Conflict strategies from JS: a name, or a resolver function called synchronously inside the
//! core's transaction.

use crate::error::{invalid_input, OrJs};
use statesync::{ConflictResolver, ConflictStrategy, Resolved, SyncState};
use std::sync::Arc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// A JS resolver: the shared JS layer's adapter (js/src/manager.ts) of the application's
/// function. It is given the two versions as their wire JSON text and never throws: it answers
/// `{ data }` (the merged data's JSON text), `{ deleted: true }` or `{ error }` (the application's
/// resolver failed; what it threw stays in JS, as the cause of the error this becomes), the
/// same replies as the Node addon's (node/src/callbacks.rs `ResolverReply`).
struct JsResolver(js_sys::Function);

// SAFETY: wasm32-unknown-unknown without the `atomics` target feature has exactly one thread,
// so the function is never sent to or shared with another thread. The core requires
// `Send + Sync` for resolvers because native builds share managers across threads.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
unsafe impl Send for JsResolver {}
// SAFETY: as above.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
unsafe impl Sync for JsResolver {}

/// A field of the adapter's reply.
fn field(reply: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(reply, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

impl ConflictResolver for JsResolver {
    fn resolve(&self, local: &SyncState, remote: &SyncState) -> Result<Resolved, String> {
        let (l, r) = (JsValue::from_str(&local.to_json()), JsValue::from_str(&remote.to_json()));
        let reply = self.0.call2(&JsValue::NULL, &l, &r).map_err(|_| "the resolver adapter threw".to_string())?;
        if let Some(message) = field(&reply, "error").as_string() {
            return Err(message);
        }
        if field(&reply, "deleted").as_bool() == Some(true) {
            return Ok(Resolved::Deleted);
        }
        match field(&reply, "data").as_string() {
            Some(json) => statesync::data_from_json(&json)
                .map(Resolved::Data)
                .map_err(|e| format!("the resolver result: {}", e.message())),
            None => Err("the resolver adapter answered neither data, deleted nor an error".into()),
        }
    }
}

/// A strategy: its name, or the resolver adapter function; anything else is INVALID_INPUT.
pub(crate) fn parse(value: JsValue) -> Result<ConflictStrategy, JsValue> {
    if let Some(name) = value.as_string() {
        return name.parse::<ConflictStrategy>().js();
    }
    match value.dyn_into::<js_sys::Function>() {
        Ok(f) => Ok(ConflictStrategy::Custom(Arc::new(JsResolver(f)))),
        Err(other) => Err(invalid_input(format!(
            "a strategy is a name or a function, not {}",
            other.js_typeof().as_string().unwrap_or_default()
        ))),
    }
}
