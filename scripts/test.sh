#!/usr/bin/env bash
# Runs every test of every language the project ships, installing what it needs.
# Usage: scripts/test.sh            (CI calls exactly this through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
need() {
    command -v "$1" >/dev/null 2>&1 || { echo "ERROR: '$1' is required but not on PATH ($2)" >&2; exit 1; }
}

need cargo "install Rust with rustup: https://rustup.rs"
need python3 "the storage tests use python3's sqlite3 module to hold a lock"

step "rust: format"
cargo fmt --all -- --check

step "rust: clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "rust: API docs build without warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "rust: core builds without SQLite (the browser build)"
cargo build -p statesync --no-default-features --lib

step "rust: tests (unit, conformance, properties, crash, storage, doc)"
cargo test --workspace

step "rust: demo"
cargo run -q -p statesync --example demo >/dev/null

echo
echo "all tests passed"
