//! The golden vectors of `conformance/crypto/vectors.json` (docs/encryption.md): a fixed key, nonce and
//! plaintext seal to exactly the bytes listed, and every listed damage is `CRYPTO`. Every
//! binding opens the same sealed bytes (their sealing nonces are random, so they prove the
//! bytes by opening them, and by sealing and opening their own). Regenerate the file after a
//! deliberate format change with `STATESYNC_BLESS=1 cargo test -p statesync --test crypto_vectors`
//! (and say why in the commit: every existing backup and bucket depends on these bytes).

use serde_json::{json, Value};
use statesync::EncryptionKey;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

fn key_of(spec: &Value) -> EncryptionKey {
    match (spec.get("bytes"), spec.get("passphrase")) {
        (Some(b), _) => EncryptionKey::from_bytes(&unhex(b.as_str().unwrap())).unwrap(),
        (_, Some(p)) => {
            EncryptionKey::from_passphrase(p.as_str().unwrap(), spec["salt"].as_str().unwrap().as_bytes()).unwrap()
        }
        _ => panic!("a key is bytes or a passphrase: {spec}"),
    }
}

/// The vectors, computed: what the file must hold.
fn computed() -> Value {
    let raw = json!({"bytes": hex(&(0u8..32).collect::<Vec<u8>>())});
    let pass = json!({"passphrase": "correct horse battery staple", "salt": "statesync-salt-1"});
    let nonce: [u8; 24] = std::array::from_fn(|i| 0xa0 + i as u8);
    let mut cases = Vec::new();
    for (name, key, object, plaintext) in [
        (
            "raw key, text",
            &raw,
            "backups/backup-20261207T120000Z-0a1b2c3d/part-00000",
            b"{\"theme\":\"dark\"}".to_vec(),
        ),
        ("raw key, empty plaintext", &raw, "log/phone/00000000000000000001.seg", Vec::new()),
        (
            "passphrase key (Argon2id defaults), binary",
            &pass,
            "snapshots/00000000000000000001.ptr",
            (0u8..=255).collect(),
        ),
    ] {
        let sealed = key_of(key).seal_with_nonce(object, &plaintext, nonce);
        cases.push(json!({"name": name, "key": key, "object": object, "nonce": hex(&nonce),
            "plaintext": hex(&plaintext), "sealed": hex(&sealed)}));
    }
    let good = unhex(cases[0]["sealed"].as_str().unwrap());
    let object = cases[0]["object"].as_str().unwrap();
    let flip = |at: usize| {
        let mut b = good.clone();
        b[at] ^= 1;
        hex(&b)
    };
    let failures = json!([
        {"name": "a bit flipped in the ciphertext", "key": raw, "object": object, "sealed": flip(good.len() - 20)},
        {"name": "a bit flipped in the tag", "key": raw, "object": object, "sealed": flip(good.len() - 1)},
        {"name": "a bit flipped in the nonce", "key": raw, "object": object, "sealed": flip(10)},
        {"name": "the header names another format version", "key": raw, "object": object, "sealed": flip(4)},
        {"name": "truncated", "key": raw, "object": object, "sealed": hex(&good[..good.len() - 1])},
        {"name": "opened under another object name (swapped objects)", "key": raw, "object": "backups/backup-20261207T120000Z-0a1b2c3d/part-00001", "sealed": hex(&good)},
        {"name": "the wrong raw key", "key": {"bytes": hex(&[7u8; 32])}, "object": object, "sealed": hex(&good)},
        {"name": "a passphrase key for a raw-key object", "key": pass, "object": object, "sealed": hex(&good)},
        {"name": "not sealed at all", "key": raw, "object": object, "sealed": hex(b"{\"theme\":\"dark\"}")},
    ]);
    json!({
        "description": "Golden vectors of the sealed-object envelope (docs/encryption.md): XChaCha20-Poly1305, the object name and the envelope header as associated data. `cases`: sealing `plaintext` as `object` under `key` with `nonce` gives exactly `sealed`, and opening `sealed` as `object` gives `plaintext`. `failures`: opening `sealed` as `object` under `key` fails with code CRYPTO. Keys: `bytes` (hex, EncryptionKey.from_bytes) or `passphrase` + `salt` (UTF-8, EncryptionKey.from_passphrase with the default Argon2id parameters). All byte strings are lowercase hex.",
        "cases": cases,
        "failures": failures,
    })
}

#[test]
fn the_golden_vectors_hold() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../conformance/crypto/vectors.json");
    let want = computed();
    if std::env::var_os("STATESYNC_BLESS").is_some() {
        std::fs::write(path, serde_json::to_string_pretty(&want).unwrap() + "\n").unwrap();
    }
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(file, want, "conformance/crypto/vectors.json no longer matches what this build seals");
    for case in file["cases"].as_array().unwrap() {
        let key = key_of(&case["key"]);
        let object = case["object"].as_str().unwrap();
        let opened = key.open(object, &unhex(case["sealed"].as_str().unwrap())).unwrap();
        assert_eq!(hex(&opened), case["plaintext"].as_str().unwrap(), "{}", case["name"]);
    }
    for failure in file["failures"].as_array().unwrap() {
        let key = key_of(&failure["key"]);
        let e = key.open(failure["object"].as_str().unwrap(), &unhex(failure["sealed"].as_str().unwrap())).unwrap_err();
        assert_eq!(e.code(), "CRYPTO", "{}", failure["name"]);
    }
}
