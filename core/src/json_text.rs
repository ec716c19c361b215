//! Reading JSON text that comes from outside (the application's data, states and messages from
//! peers) so that every language reads it alike. JSON readers turn an integer too large for 64
//! bits into the nearest floating-point number without a word; JavaScript does so beyond 2^53.
//! Such an integer is refused instead, naming it, before the text is parsed
//! (docs/adr/0015-hardening-against-peers.md).

use crate::error::{Result, SyncError};
use crate::state::{integer_too_large, validate_data, MAX_SAFE_INTEGER};
use serde_json::Value;

/// Parses the application's data from JSON text, as every binding receives it: the text must be
/// JSON, nest at most [`crate::MAX_DATA_DEPTH`] deep and hold no integer beyond
/// ±[`MAX_SAFE_INTEGER`] (written without a fraction or exponent). Anything else is
/// `INVALID_INPUT`, saying what is wrong.
pub fn data_from_json(text: &str) -> Result<Value> {
    check_integer_literals(text.as_bytes()).map_err(SyncError::InvalidInput)?;
    let data: Value =
        serde_json::from_str(text).map_err(|e| SyncError::InvalidInput(format!("data is not JSON: {e}")))?;
    validate_data(&data).map_err(SyncError::InvalidInput)?;
    Ok(data)
}

/// Refuses the first integer literal of JSON text whose magnitude is beyond
/// [`MAX_SAFE_INTEGER`]. Numbers with a fraction or an exponent are floating-point numbers by
/// their own declaration and pass. Text that is not JSON is left to the parser to refuse.
pub(crate) fn check_integer_literals(bytes: &[u8]) -> std::result::Result<(), String> {
    // MAX_SAFE_INTEGER has 16 digits: only longer integers, or 16-digit ones above it, can fail.
    const SAFE: &[u8] = b"9007199254740991";
    debug_assert_eq!(std::str::from_utf8(SAFE).ok().and_then(|s| s.parse::<u64>().ok()), Some(MAX_SAFE_INTEGER));
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => i = string_end(bytes, i + 1),
            b'0'..=b'9' | b'-' => {
                let start = i;
                if bytes[i] == b'-' {
                    i += 1;
                }
                let digits_start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let digits = &bytes[digits_start..i];
                let float = i < bytes.len() && matches!(bytes[i], b'.' | b'e' | b'E');
                while i < bytes.len() && matches!(bytes[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                    i += 1;
                }
                let too_large = digits.len() > SAFE.len() || (digits.len() == SAFE.len() && digits > SAFE);
                if !float && too_large {
                    return Err(integer_too_large(&String::from_utf8_lossy(&bytes[start..i])));
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// The index just past the string whose contents start at `i` (after its opening quote).
fn string_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return i + 1,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_beyond_2_pow_53_are_refused_by_name_and_floats_pass() {
        assert!(check_integer_literals(br#"{"a": 9007199254740991, "b": -9007199254740991}"#).is_ok());
        let e = check_integer_literals(br#"{"a": [1, 123456789012345678901234567890]}"#).unwrap_err();
        assert!(e.contains("123456789012345678901234567890"), "{e}");
        assert!(check_integer_literals(b"9007199254740992").is_err());
        assert!(check_integer_literals(b"-18446744073709551615").is_err());
        assert!(check_integer_literals(b"1.2345678901234567e29 123456789012345678901234567890.5 1e300").is_ok());
        // Digits inside strings, escaped quotes included, are not numbers.
        assert!(check_integer_literals(br#"{"k": "123456789012345678901234567890 \" 99999999999999999"}"#).is_ok());
        assert!(check_integer_literals(br#"{"12345678901234567890": 1}"#).is_ok());
    }

    #[test]
    fn data_from_json_says_what_is_wrong() {
        assert_eq!(data_from_json(r#"{"k": [1, 2.5, "x"]}"#).unwrap(), serde_json::json!({"k": [1, 2.5, "x"]}));
        assert_eq!(data_from_json("{").unwrap_err().code(), "INVALID_INPUT");
        let e = data_from_json("[12345678901234567890123]").unwrap_err();
        assert_eq!(e.code(), "INVALID_INPUT");
        assert!(e.to_string().contains("12345678901234567890123"), "{e}");
        let deep = format!("{}{}", "[".repeat(60), "]".repeat(60));
        assert!(data_from_json(&deep).unwrap_err().to_string().contains("deep"));
    }
}
