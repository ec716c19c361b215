//! RFC 8785 (JSON Canonicalization Scheme) serialisation and the state content hash built on it.
//! Every language computes the same bytes, hence the same hash, for the same JSON value.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// Appends the RFC 8785 canonical form of `value` to `out`.
pub fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            // RFC 8785 orders keys by their UTF-16 code units. serde_json's map usually iterates
            // in UTF-8 byte order, which agrees unless a key holds a character from U+E000 up
            // (UTF-8 lead byte 0xEE or more); with its `preserve_order` feature it iterates in
            // insertion order. Re-sort only when either could make the order differ.
            let byte_sorted = map.keys().zip(map.keys().skip(1)).all(|(a, b)| a < b);
            if !byte_sorted || map.keys().any(|k| k.bytes().any(|b| b >= 0xEE)) {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
                write_members(entries.into_iter(), out);
            } else {
                write_members(map.iter(), out);
            }
            out.push('}');
        }
    }
}

fn write_members<'a>(members: impl Iterator<Item = (&'a String, &'a Value)>, out: &mut String) {
    for (i, (key, item)) in members.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(key, out);
        out.push(':');
        write_canonical(item, out);
    }
}

/// The canonical JSON text of `value`.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_number(n: &serde_json::Number, out: &mut String) {
    if let Some(i) = n.as_i64() {
        // Integers up to 2^53 print the same as the ECMAScript double formatting would.
        if i.unsigned_abs() <= 1 << 53 {
            out.push_str(itoa::Buffer::new().format(i));
            return;
        }
    }
    // RFC 8785 numbers are IEEE-754 doubles printed as ECMAScript's Number.prototype.toString.
    let f = n.as_f64().unwrap_or(0.0);
    if f == 0.0 {
        out.push('0');
    } else {
        let mut buf = ryu_js::Buffer::new();
        out.push_str(buf.format_finite(f));
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The content hash of a state: the first 8 bytes of SHA-256, in lower-case hex, over the
/// canonical JSON of `{"data": data, "deleted": deleted}`.
pub fn state_hash(data: &Value, deleted: bool) -> String {
    state_hash_measured(data, deleted).0
}

/// [`state_hash`] and the length in bytes of the canonical JSON of `data` alone, which the hash
/// computes anyway: the size `max_state_bytes` limits, measured for free.
pub(crate) fn state_hash_measured(data: &Value, deleted: bool) -> (String, usize) {
    thread_local! {
        // Hashing runs on every write: reuse one buffer per thread instead of allocating.
        static BUFFER: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    const PREFIX: &str = "{\"data\":";
    BUFFER.with(|buffer| {
        let mut text = buffer.borrow_mut();
        text.clear();
        // Already canonical: "data" sorts before "deleted".
        text.push_str(PREFIX);
        write_canonical(data, &mut text);
        let data_bytes = text.len() - PREFIX.len();
        text.push_str(if deleted { ",\"deleted\":true}" } else { ",\"deleted\":false}" });
        let hash = hex16(Sha256::digest(text.as_bytes()).as_slice());
        if text.capacity() > 1 << 20 {
            // One large state must not pin a megabyte buffer to the thread for good.
            *text = String::new();
        }
        (hash, data_bytes)
    })
}

/// Lower-case hex of the first 8 bytes of `digest`.
pub(crate) fn hex16(digest: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(16);
    for b in &digest[..8] {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Short stable identifier derived from some text (used for conflict ids).
pub(crate) fn digest16(text: &str) -> String {
    hex16(Sha256::digest(text.as_bytes()).as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc8785_examples() {
        assert_eq!(canonical_json(&json!({"b": 1, "a": [true, null, "x"]})), r#"{"a":[true,null,"x"],"b":1}"#);
        assert_eq!(canonical_json(&json!(1.0)), "1");
        assert_eq!(canonical_json(&json!(1e21)), "1e+21");
        assert_eq!(canonical_json(&json!(0.000001)), "0.000001");
        assert_eq!(canonical_json(&json!(1e-7)), "1e-7");
        assert_eq!(canonical_json(&json!(-0.0)), "0");
        assert_eq!(canonical_json(&json!(9007199254740993u64)), "9007199254740992");
        assert_eq!(canonical_json(&json!("\u{1}\n\u{7f}é")), "\"\\u0001\\n\u{7f}é\"");
        // U+1F600 (surrogates D83D..) sorts before U+FB33 in UTF-16 order, after it in UTF-8.
        assert_eq!(canonical_json(&json!({"\u{fb33}": 1, "\u{1f600}": 2})), "{\"\u{1f600}\":2,\"\u{fb33}\":1}");
    }

    #[test]
    fn hash_is_16_hex_and_depends_on_deleted() {
        let h = state_hash(&json!({"theme": "dark"}), false);
        assert_eq!(h.len(), 16);
        assert_ne!(h, state_hash(&json!({"theme": "dark"}), true));
        assert_eq!(h, state_hash(&json!({"theme": "dark"}), false));
    }
}
