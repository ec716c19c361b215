//! Conflict strategies from JS: a name, or a resolver function called synchronously inside the
//! core's transaction.

use crate::error::{remember_cause, OrJs};
use statesync::{ConflictResolver, ConflictStrategy, Resolved, SyncState};
use std::sync::Arc;
use wasm_bindgen::prelude::*;

/// A JS resolver: `(local, remote) => data | DELETED`, given and returning JSON text (the
/// TypeScript layer wraps the application's function so that it sees `SyncState` objects).
struct JsResolver(js_sys::Function);

// SAFETY: wasm32-unknown-unknown without the `atomics` target feature has exactly one thread,
// so the function is never sent to or shared with another thread. The core requires
// `Send + Sync` for resolvers because native builds share managers across threads.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
unsafe impl Send for JsResolver {}
// SAFETY: as above.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
unsafe impl Sync for JsResolver {}

impl ConflictResolver for JsResolver {
    fn resolve(&self, local: &SyncState, remote: &SyncState) -> Result<Resolved, String> {
        let (l, r) = (JsValue::from_str(&local.to_json()), JsValue::from_str(&remote.to_json()));
        match self.0.call2(&JsValue::NULL, &l, &r) {
            Ok(v) if v.is_undefined() => Ok(Resolved::Deleted),
            Ok(v) => {
                let text = v.as_string().ok_or("the resolver wrapper returned no JSON text")?;
                serde_json::from_slice(text.as_bytes())
                    .map(Resolved::Data)
                    .map_err(|e| format!("the resolver returned {e}"))
            }
            Err(thrown) => {
                let message = js_sys::Error::from(thrown.clone()).message().as_string();
                remember_cause(thrown);
                Err(message.unwrap_or_else(|| "the resolver threw".into()))
            }
        }
    }
}

/// A strategy from its name, or `"custom"` with a resolver.
pub(crate) fn parse(name: &str, resolver: Option<js_sys::Function>) -> Result<ConflictStrategy, JsValue> {
    match (name, resolver) {
        ("custom", Some(f)) => Ok(ConflictStrategy::Custom(Arc::new(JsResolver(f)))),
        (name, _) => name.parse::<ConflictStrategy>().js(),
    }
}
