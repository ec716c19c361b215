//! `statesync-ffi`: the uniffi bindings of statesync for Kotlin and Swift.
//!
//! Thin on purpose: every behaviour lives in the core crate; this crate converts types
//! (records for values, JSON text for application data), maps the core error to one uniffi
//! error (`SyncError`, in `error.rs`), exposes the application's listener, resolver and transport as foreign
//! traits, and runs the long calls (opening, sync rounds) as async exports on uniffi's tokio
//! runtime. The idiomatic layers (`Flow` / `AsyncStream` of events, JSON helpers) live beside
//! the generated sources in `kotlin/` and `swift/`. Decisions: docs/adr/0012-uniffi-bindings.md.
//!
//! No panic crosses the boundary: every export runs in a guard (`error.rs`) that turns one into
//! `SyncError::Internal` (`INTERNAL`), so every export returns a `Result`. The cargo feature
//! `testing` adds the test-only entry point `SyncManager::panic_for_tests` with which the Kotlin
//! and Swift tests prove it; only their test builds turn it on.

#![warn(missing_docs)]

mod bench;
mod clock;
mod cloud;
mod error;
mod event;
mod feed;
mod manager;
mod results;
mod snapshot;
mod state;
mod strategy;
mod transport;
mod wire;

pub use bench::bench_rust_w1;
pub use clock::ManualClock;
pub use cloud::{
    list_backups, prune_backups, verify_backup, AutoBackup, BackupFailure, BackupInfo, EncryptionKey,
    ObjectStoreTransport,
};
pub use error::{CallbackError, SyncError};
pub use event::{Status, Subscription, SyncEvent, SyncListener};
pub use feed::{ChangeSet, SyncCapabilities, SyncContext};
pub use manager::{Durability, ManagerConfig, SyncManager};
pub use results::{ApplyOutcome, ApplyResult, ReconciliationResult, RejectedState, Rejection, SyncReport};
pub use snapshot::Snapshot;
pub use state::{OperationKind, SyncConflict, SyncOperation, SyncState, Timestamp};
pub use strategy::{ConflictResolver, ConflictStrategy, Resolution, Resolved};
pub use transport::{HttpOptions, HttpTransport, SyncTransport};
pub use wire::{ClockIncrement, ClockOrdering, Encoding};

uniffi::setup_scaffolding!();

/// The version of this library.
#[uniffi::export]
pub fn library_version() -> Result<String, SyncError> {
    error::guard(|| Ok(env!("CARGO_PKG_VERSION").to_owned()))
}

/// Every export's body runs in a guard (`error.rs`), so that no panic crosses into the host:
/// checked over the sources, since uniffi offers no hook that would cover every export at once.
#[cfg(test)]
mod every_export_is_guarded {
    /// Every source of the crate (the test checks the list against the modules `lib.rs` declares).
    const SOURCES: &[(&str, &str)] = &[
        ("bench.rs", include_str!("bench.rs")),
        ("clock.rs", include_str!("clock.rs")),
        ("cloud.rs", include_str!("cloud.rs")),
        ("error.rs", include_str!("error.rs")),
        ("event.rs", include_str!("event.rs")),
        ("feed.rs", include_str!("feed.rs")),
        ("lib.rs", include_str!("lib.rs")),
        ("manager.rs", include_str!("manager.rs")),
        ("results.rs", include_str!("results.rs")),
        ("snapshot.rs", include_str!("snapshot.rs")),
        ("state.rs", include_str!("state.rs")),
        ("strategy.rs", include_str!("strategy.rs")),
        ("transport.rs", include_str!("transport.rs")),
        ("wire.rs", include_str!("wire.rs")),
    ];
    /// The traits the host calls Rust implementations of: those implementations are exports too,
    /// whether or not their `impl` carries `#[uniffi::export]`.
    const EXPORTED_TRAITS: &[&str] = &["SyncTransport", "SyncListener", "ConflictResolver"];

    /// The source without comments and with string literals emptied, so that braces count.
    fn code_only(text: &str) -> String {
        let (b, mut out, mut i) = (text.as_bytes(), String::new(), 0);
        while i < b.len() {
            if b[i..].starts_with(b"//") {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            } else if b[i] == b'"' || b[i..].starts_with(b"r#\"") {
                let raw = b[i] == b'r';
                i += if raw { 3 } else { 1 };
                while i < b.len() && !(if raw { b[i..].starts_with(b"\"#") } else { b[i] == b'"' }) {
                    i += if !raw && b[i] == b'\\' { 2 } else { 1 };
                }
                i += if raw { 2 } else { 1 };
                out.push_str("\"\"");
            } else {
                out.push(b[i] as char);
                i += 1;
            }
        }
        out
    }

    /// The index just past the brace matching the `{` at `open`.
    fn block_end(code: &str, open: usize) -> usize {
        let mut depth = 0;
        for (i, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 1 => return open + i + 1,
                '}' => depth -= 1,
                _ => {}
            }
        }
        panic!("unbalanced braces")
    }

    /// The functions defined directly in `items` (a file's or an impl block's contents), each as
    /// (name, body without its braces).
    fn functions(items: &str) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut i = 0;
        while let Some(at) = items[i..].find("fn ").map(|p| p + i) {
            let open = at + items[at..].find('{').expect("a function has a body");
            let end = block_end(items, open);
            let name = items[at + 3..].split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap_or("");
            found.push((name.to_owned(), items[open + 1..end - 1].to_owned()));
            i = end;
        }
        found
    }

    #[test]
    fn every_export_starts_with_a_guard() {
        let declared: std::collections::BTreeSet<String> = include_str!("lib.rs")
            .lines()
            .filter_map(|line| line.strip_prefix("mod ")?.strip_suffix(';').map(|m| format!("{m}.rs")))
            .chain(["lib.rs".to_owned()])
            .collect();
        let listed = SOURCES.iter().map(|(file, _)| (*file).to_owned()).collect();
        assert_eq!(declared, listed, "every module is scanned");
        let mut exports = 0;
        let mut unguarded = Vec::new();
        for (file, text) in SOURCES {
            let code = code_only(text);
            let code = code.split("#[cfg(test)]").next().unwrap_or_default();
            let mut i = 0;
            while i < code.len() {
                let rest = &code[i..];
                let export = rest.starts_with("#[uniffi::export");
                let trait_impl = rest.starts_with("impl ")
                    && EXPORTED_TRAITS.iter().any(|t| rest[5..].starts_with(&format!("{t} for ")));
                if !export && !trait_impl {
                    i += rest.chars().next().map_or(1, char::len_utf8);
                    continue;
                }
                // The exported item: the rest of the line after the attribute(s), up to its body.
                let item = if export { i + rest.find(']').unwrap() + 1 } else { i };
                let after = code[item..].trim_start();
                let start = code.len() - after.len();
                if after.starts_with("pub trait") {
                    i = block_end(code, start + after.find('{').unwrap());
                    continue;
                }
                let open = start + after.find('{').unwrap();
                let end = block_end(code, open);
                let body = if after.starts_with("impl") { &code[open + 1..end - 1] } else { &code[start..end] };
                for (name, body) in functions(body) {
                    exports += 1;
                    let first = body.trim_start();
                    if !["guard(", "guard_async(", "guard_callback(", "error::guard("]
                        .iter()
                        .any(|g| first.starts_with(g))
                    {
                        unguarded.push(format!("{file}: {name}"));
                    }
                }
                i = end;
            }
        }
        assert!(unguarded.is_empty(), "exports whose body does not start with a guard: {unguarded:?}");
        // The count keeps the scan honest: it must find every export there is (update it with
        // the API). The sources hold the `testing` feature's entry point whether it is on or not.
        assert_eq!(exports, 97, "exports found");
    }
}
