#!/usr/bin/env bash
# Runs the wasm-bindgen tests (tests/*.rs: the conformance suite and the wire golden files)
# under Node, then in headless Chromium. Usage: wasm/test-rust.sh [node|browser|both]
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-16
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
# Tests are built in the debug profile with unwinding off (there is none on wasm32).
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Cpanic=abort"
run=(/usr/bin/cargo test --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort --target-dir ../target/wasm32-test)
case "${1:-both}" in
    node | both) echo "--- wasm-bindgen-test under Node"; "${run[@]}" ;;
esac
case "${1:-both}" in
    browser | both)
        echo "--- wasm-bindgen-test in headless Chromium"
        WASM_BINDGEN_USE_BROWSER=1 CHROMEDRIVER=/usr/bin/chromedriver "${run[@]}" ;;
esac
