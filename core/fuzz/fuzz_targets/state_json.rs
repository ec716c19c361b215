//! Feeds arbitrary text to `SyncState::from_json` and `SyncState::list_from_json`, the readers
//! of states another replica sends as JSON text (the bindings' `fromJson`).
//!
//! Besides "never panics": a refusal is `INVALID_STATE` (the one code these readers document);
//! whatever is accepted validates, round-trips through `to_json` to an equal state and the same
//! text, and a state accepted alone is accepted as a list of one.

#![no_main]

use libfuzzer_sys::fuzz_target;
use statesync::SyncState;

fuzz_target!(|data: &[u8]| {
    // Both readers take `&str`: bytes that are not UTF-8 cannot reach them.
    let Ok(text) = std::str::from_utf8(data) else { return };

    match SyncState::from_json(text) {
        Ok(state) => {
            assert!(state.validate().is_ok(), "from_json accepted an invalid state: {state:?}");
            let json = state.to_json();
            let back = SyncState::from_json(&json).unwrap_or_else(|e| panic!("to_json of {state:?} is refused: {e}"));
            assert_eq!(back, state, "round trip through to_json");
            assert_eq!(back.to_json(), json, "to_json is not a fixed point");
            let one = SyncState::list_from_json(&format!("[{text}]"))
                .unwrap_or_else(|e| panic!("a state accepted alone is refused in a list: {e}"));
            assert_eq!(one, [state], "the list of one holds another state");
        }
        Err(e) => assert_eq!(e.code(), "INVALID_STATE", "from_json: {e}"),
    }

    match SyncState::list_from_json(text) {
        Ok(states) => {
            assert!(states.iter().all(|s| s.validate().is_ok()), "list_from_json accepted an invalid state");
            let json = serde_json::to_string(&states).expect("states always serialise");
            let back = SyncState::list_from_json(&json).unwrap_or_else(|e| panic!("a listed state is refused: {e}"));
            assert_eq!(back, states, "list round trip");
            for state in &states {
                let alone = SyncState::from_json(&state.to_json())
                    .unwrap_or_else(|e| panic!("a state accepted in a list is refused alone: {e}"));
                assert_eq!(&alone, state, "a listed state read alone");
            }
        }
        Err(e) => assert_eq!(e.code(), "INVALID_STATE", "list_from_json: {e}"),
    }
});
