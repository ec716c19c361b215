//! JSON data arrive as the text `JSON.stringify` made of them (see `lib/values.cjs`).

use crate::errors::invalid_input;
use napi::Result;
use serde_json::Value;

/// Parses data the JS layer serialised. Only text V8 wrote reaches here, so an error means the
/// application passed something `JSON.stringify` cannot represent.
pub(crate) fn parse(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| invalid_input(format!("data is not JSON: {e}")))
}
