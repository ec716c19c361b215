//! The hand-moved wall clock, and the vector clock helpers.

use crate::errors::{invalid_input, Result};
use crate::values::{clock_from_js, clock_to_js};
use napi_derive::napi;
use statesync::ClockOrdering;
use std::collections::HashMap;
use std::sync::Arc;

/// Whole milliseconds from a JS number.
fn millis(value: f64) -> Result<u64> {
    if value >= 0.0 && value.fract() == 0.0 && value <= statesync::MAX_COUNTER as f64 {
        Ok(value as u64)
    } else {
        Err(invalid_input(format!("{value} is not a whole number of milliseconds from 0 to 2^53 - 1")))
    }
}

/// A wall clock moved by hand (tests, simulations).
#[napi(js_name = "ManualClock")]
pub struct JsManualClock(pub(crate) Arc<statesync::ManualClock>);

#[napi]
impl JsManualClock {
    /// A clock showing `millis`.
    #[napi(constructor, catch_unwind)]
    pub fn new(millis: f64) -> Result<Self> {
        Ok(JsManualClock(Arc::new(statesync::ManualClock::new(self::millis(millis)?))))
    }

    /// Sets the time.
    #[napi(catch_unwind)]
    pub fn set(&self, millis: f64) -> Result<()> {
        self.0.set(self::millis(millis)?);
        Ok(())
    }

    /// The time.
    #[napi(catch_unwind)]
    pub fn now(&self) -> i64 {
        use statesync::WallClock;
        self.0.now_millis() as i64
    }
}

/// `equal`, `before`, `after` or `concurrent`.
#[napi(catch_unwind)]
pub fn compare_clocks(a: HashMap<String, f64>, b: HashMap<String, f64>) -> Result<&'static str> {
    Ok(match clock_from_js(a)?.compare(&clock_from_js(b)?) {
        ClockOrdering::Equal => "equal",
        ClockOrdering::Before => "before",
        ClockOrdering::After => "after",
        ClockOrdering::Concurrent => "concurrent",
    })
}

/// The entrywise maximum.
#[napi(catch_unwind)]
pub fn merge_clocks(a: HashMap<String, f64>, b: HashMap<String, f64>) -> Result<HashMap<String, i64>> {
    let mut merged = clock_from_js(a)?;
    merged.merge(&clock_from_js(b)?);
    Ok(clock_to_js(&merged))
}

/// `a` has seen everything `b` has.
#[napi(catch_unwind)]
pub fn dominates(a: HashMap<String, f64>, b: HashMap<String, f64>) -> Result<bool> {
    Ok(clock_from_js(a)?.dominates(&clock_from_js(b)?))
}

/// The clock after counting one more write of `node` (the core's `VectorClock::increment`): the
/// entry of `node` is the new counter.
#[napi(catch_unwind)]
pub fn increment_clock(clock: HashMap<String, f64>, node: String) -> Result<HashMap<String, i64>> {
    let mut incremented = clock_from_js(clock)?;
    incremented.increment(&node);
    Ok(clock_to_js(&incremented))
}
