//! Reading JSON text that comes from outside (the application's data, states and messages from
//! peers) so that every language reads it alike. JSON readers turn an integer too large for 64
//! bits into the nearest floating-point number without a word; JavaScript does so beyond 2^53.
//! Such an integer is refused instead, naming it, before the text is parsed
//! (docs/adr/0015-hardening-against-peers.md).

/// Largest magnitude of an integer in a state's data: 2^53 − 1, the largest integer every binding
/// language holds exactly (a JavaScript number, a Swift `Double` in `JSONSerialization`). A larger
/// one would be stored exactly here and rounded there, so replicas would disagree on the data
/// behind one hash. Larger values travel as strings or as floating-point numbers
/// (docs/adr/0015-hardening-against-peers.md).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The message for an integer literal beyond ±[`MAX_SAFE_INTEGER`].
pub(crate) fn integer_too_large(literal: &str) -> String {
    format!(
        "the integer {literal} is beyond ±(2^53 - 1), which not every language holds exactly: \
         send it as a string (or as a floating-point number, if rounding is acceptable)"
    )
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
}
