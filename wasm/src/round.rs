//! A sync round driven from JS: the core's sans-IO [`statesync::SyncRound`] says what to send
//! next, the TypeScript layer does the I/O (`fetch`, or an application transport returning
//! Promises) and reports the answers back.

use crate::error::{make, OrJs};
use crate::manager::Manager;
use crate::values::{changes_from_json, State};
use statesync::{ChangeSet, Encoding, ReconciliationResult, RoundStep, SyncCapabilities, SyncManager, SyncRound};
use std::sync::Arc;
use wasm_bindgen::prelude::*;

/// One round in progress.
#[wasm_bindgen]
pub struct Round {
    round: SyncRound,
    manager: Arc<SyncManager>,
    /// The page of the current push step.
    page: Option<ChangeSet>,
}

fn encoding(binary: bool) -> Encoding {
    if binary {
        Encoding::Binary
    } else {
        Encoding::Json
    }
}

#[wasm_bindgen]
impl Round {
    /// Starts a round with a peer that advertised `capabilities` (its JSON, protocol field
    /// names, `max_batch` and `max_body_bytes` included). Emits `syncStarted`; a refused peer is
    /// an error (and `syncFailed`).
    #[wasm_bindgen(constructor)]
    pub fn start(
        manager: &Manager,
        capabilities_json: &str,
        collections: Vec<String>,
        limit: Option<f64>,
    ) -> Result<Round, JsValue> {
        // Either spelling of the field names (the hub's snake_case, a JS transport's camelCase).
        let capabilities = SyncCapabilities::from_json(capabilities_json)
            .map_err(|e| make("CORRUPT", &format!("corrupt data: {}", e.message())))?;
        let context = crate::manager::context(collections, limit)?;
        let round = SyncRound::start(&manager.inner, &capabilities, &context).js()?;
        Ok(Round { round, manager: manager.inner.clone(), page: None })
    }

    /// The peer's node id.
    pub fn peer(&self) -> String {
        self.round.peer().to_owned()
    }

    /// The next step as JSON: `{"step":"pull","cursor","collections","limit"}`,
    /// `{"step":"push","count"}` (the page: [`Round::push_body`] / [`Round::push_states`]) or
    /// `{"step":"done","report":{"pulled","pushed"}}`.
    #[wasm_bindgen(js_name = next)]
    pub fn next_step(&mut self) -> Result<String, JsValue> {
        use serde_json::json;
        self.page = None;
        Ok(match self.round.next_step(&self.manager).js()? {
            RoundStep::Pull { cursor, context } => {
                json!({"step": "pull", "cursor": cursor, "collections": context.collections, "limit": context.limit})
            }
            RoundStep::Push(page) => {
                let count = page.states.len();
                self.page = Some(page);
                json!({"step": "push", "count": count})
            }
            RoundStep::Done(report) => json!({"step": "done", "report": crate::values::report(&report)}),
        }
        .to_string())
    }

    /// The body of the `POST /v1/push` of the current push step, in JSON or binary.
    #[wasm_bindgen(js_name = pushBody)]
    pub fn push_body(&self, binary: bool) -> Result<Vec<u8>, JsValue> {
        let page = self.page.as_ref().ok_or_else(|| make("INVALID_INPUT", "invalid input: not a push step"))?;
        Ok(statesync::encode(page, encoding(binary)))
    }

    /// The states of the current push step (for an application transport).
    #[wasm_bindgen(js_name = pushStates)]
    pub fn push_states(&self) -> Vec<State> {
        self.page.as_ref().map(|p| p.states.iter().cloned().map(State).collect()).unwrap_or_default()
    }

    /// The cursor and `has_more` of the current push page, as JSON `[cursor, hasMore]`.
    #[wasm_bindgen(js_name = pushPosition)]
    pub fn push_position(&self) -> String {
        match &self.page {
            Some(p) => serde_json::json!([p.cursor, p.has_more]).to_string(),
            None => "null".into(),
        }
    }

    /// Applies the peer's answer to a pull step, as bytes in the given encoding (a decoding
    /// failure fails the round; an invalid state is refused alone when the page is applied).
    #[wasm_bindgen(js_name = pulledBytes)]
    pub fn pulled_bytes(&mut self, body: &[u8], binary: bool) -> Result<String, JsValue> {
        let page = statesync::decode_page(body, encoding(binary));
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                self.round.fail(&self.manager, &e);
                return Err(crate::error::to_js(e));
            }
        };
        self.pulled(page)
    }

    /// Applies the peer's answer to a pull step given as change-set wire JSON.
    #[wasm_bindgen(js_name = pulledJson)]
    pub fn pulled_json(&mut self, changes_json: &str) -> Result<String, JsValue> {
        match changes_from_json(changes_json) {
            Ok(page) => self.pulled(page),
            Err(e) => {
                self.round.fail(&self.manager, &statesync::SyncError::InvalidState("the transport's page".into()));
                Err(e)
            }
        }
    }

    fn pulled(&mut self, page: ChangeSet) -> Result<String, JsValue> {
        let counts = self.round.pulled(&self.manager, page).js()?;
        Ok(crate::values::counts(counts))
    }

    /// Records the peer's answer to a push step: the counts as JSON, with the optional
    /// `rejected` count and `rejections` (`[{"id", "code", "message", "current"?}]`, `current`
    /// the peer's kept version as its wire JSON object) of the states the peer refused, which
    /// become this replica's rejections.
    pub fn pushed(&mut self, result_json: &str) -> Result<(), JsValue> {
        let result = match serde_json::from_slice::<ReconciliationResult>(result_json.as_bytes()) {
            Ok(r) => r,
            Err(e) => {
                let e = statesync::SyncError::Corrupt(format!("malformed push result: {e}"));
                self.round.fail(&self.manager, &e);
                return Err(crate::error::to_js(e));
            }
        };
        // A kept version that is no valid state is the transport's fault, as in the Node package.
        if let Some(e) = result.rejections.iter().filter_map(|r| r.current.as_deref()).find_map(|s| s.validate().err())
        {
            let e = statesync::SyncError::Transport(format!(
                "transport.push() returned a rejection whose current is {}",
                e.message()
            ));
            self.round.fail(&self.manager, &e);
            return Err(crate::error::to_js(e));
        }
        // `rejected` counts at least the refusals listed, as in an HTTP push answer.
        let mut result = result;
        result.rejected = result.rejected.max(result.rejections.len() as u64);
        self.round.pushed(&self.manager, result).js()
    }

    /// Ends the round as failed with this error (emits `syncFailed`).
    pub fn fail(&mut self, code: &str, message: &str) {
        let e = statesync::SyncError::from_code(code, message);
        self.round.fail(&self.manager, &e);
    }

    /// True once the round completed or failed.
    #[wasm_bindgen(js_name = isFinished)]
    pub fn is_finished(&self) -> bool {
        self.round.is_finished()
    }
}

/// Marks a round that could not start (peer unreachable, capabilities unreadable) as failed:
/// `syncFailed`, status `error`, as the core's own runner does.
#[wasm_bindgen(js_name = roundFailedToStart)]
pub fn round_failed_to_start(manager: &Manager, code: &str, message: &str) {
    manager.inner.round_failed_to_start("", &statesync::SyncError::from_code(code, message));
}
