//! Replays the wire golden files (`conformance/wire/manifest.json`) through the binding's own
//! `wireEncode` / `wireDecode`, under Node and in headless Chromium (wasm-bindgen-test).

use serde_json::Value;
use statesync_wasm::wire::{wire_decode, wire_encode};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

mod files {
    include!(concat!(env!("OUT_DIR"), "/conformance_files.rs"));
}

fn file(name: &str) -> &'static [u8] {
    let path = format!("wire/{name}");
    files::FILES.iter().find(|(n, _)| *n == path).unwrap_or_else(|| panic!("no file {path}")).1
}

fn code(e: &JsValue) -> String {
    js_sys::Reflect::get(e, &"code".into()).ok().and_then(|c| c.as_string()).unwrap_or_else(|| format!("{e:?}"))
}

#[wasm_bindgen_test]
fn golden_files_round_trip_byte_for_byte() {
    let manifest: Value = serde_json::from_slice(file("manifest.json")).unwrap();
    assert_eq!(manifest["wire_format"], Value::from(statesync::WIRE_FORMAT));
    let cases = manifest["cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for case in cases {
        let (kind, name) = (case["kind"].as_str().unwrap(), case["name"].as_str().unwrap());
        let json = file(case["json"].as_str().unwrap());
        let binary = file(case["binary"].as_str().unwrap());
        let from_json = wire_decode(kind, json, Some("json".into())).unwrap_or_else(|e| panic!("{name}: {}", code(&e)));
        let from_binary =
            wire_decode(kind, binary, Some("binary".into())).unwrap_or_else(|e| panic!("{name}: {}", code(&e)));
        assert_eq!(from_json, from_binary, "{name}: both forms hold the same value");
        assert_eq!(wire_encode(kind, &from_json, Some("json".into())).unwrap(), json, "{name}: JSON bytes");
        assert_eq!(wire_encode(kind, &from_json, Some("binary".into())).unwrap(), binary, "{name}: binary bytes");
    }
}

#[wasm_bindgen_test]
fn invalid_inputs_fail_with_their_code() {
    let manifest: Value = serde_json::from_slice(file("manifest.json")).unwrap();
    let invalid = manifest["invalid"].as_array().unwrap();
    assert!(invalid.len() >= 20);
    for case in invalid {
        let name = case["name"].as_str().unwrap();
        let bytes = file(case["file"].as_str().unwrap());
        let result = wire_decode(case["kind"].as_str().unwrap(), bytes, case["encoding"].as_str().map(String::from));
        let e = result.err().unwrap_or_else(|| panic!("{name}: decoded, expected {}", case["error"]));
        assert_eq!(code(&e), case["error"].as_str().unwrap(), "{name}");
    }
}
