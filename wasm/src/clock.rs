//! Wall clocks: `Date.now()` (the browser has no system clock reachable from Rust, and
//! `SystemTime::now()` panics on wasm32) and the hand-moved clock of tests.

use crate::error::invalid_input;
use statesync::{VectorClock, WallClock};
use std::sync::Arc;
use wasm_bindgen::prelude::*;

/// The browser's wall clock: `Date.now()`.
pub(crate) struct DateClock;

impl WallClock for DateClock {
    fn now_millis(&self) -> u64 {
        js_sys::Date::now().max(0.0) as u64
    }
}

/// A wall clock moved by hand (tests, simulations), in milliseconds.
#[wasm_bindgen]
pub struct ManualClock(pub(crate) Arc<statesync::ManualClock>);

#[wasm_bindgen]
impl ManualClock {
    /// A clock reading `millis`.
    #[wasm_bindgen(constructor)]
    pub fn new(millis: f64) -> ManualClock {
        ManualClock(Arc::new(statesync::ManualClock::new(millis.max(0.0) as u64)))
    }

    /// Sets the reading (it may go backwards).
    pub fn set(&self, millis: f64) {
        self.0.set(millis.max(0.0) as u64);
    }

    /// Another handle on the same clock (what a replica keeps, so the caller's stays usable).
    pub fn share(&self) -> ManualClock {
        ManualClock(self.0.clone())
    }

    /// The reading.
    pub fn now(&self) -> f64 {
        self.0.now_millis() as f64
    }
}

/// A vector clock from its JSON object.
pub(crate) fn parse(text: &str) -> Result<VectorClock, JsValue> {
    serde_json::from_slice(text.as_bytes()).map_err(|e| invalid_input(format!("not a clock: {e}")))
}
