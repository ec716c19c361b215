#!/usr/bin/env bash
# Runs every test of every language the project ships, installing what it needs.
# Usage: scripts/test.sh            (CI calls exactly this through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

need cargo "install Rust with rustup: https://rustup.rs"
need python3 "the storage tests use python3's sqlite3 module to hold a lock"
need node "install Node.js 18 or newer with npm: https://nodejs.org"
need java "the Kotlin bindings need a JDK 17 or newer (Debian: apt-get install openjdk-17-jdk-headless)"
need mvn "the Kotlin bindings build with Maven (Debian: apt-get install maven)"
need go "the GCS test server (fake-gcs-server) is built from source: install Go (the version its go.mod asks for or newer)"

# The hub's PostgreSQL store is tested against a private cluster the tests start themselves
# (hub/tests/support/postgres.rs): install Debian's server when it is missing, else fail.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    command -v apt-get >/dev/null || { echo "ERROR: PostgreSQL is missing: install Debian's postgresql" >&2; exit 1; }
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || { echo "ERROR: installing postgresql gave no initdb" >&2; exit 1; }
fi

# The tracked files as they are now: no step may change them (checked at the end), so a run
# from a clean clone leaves it clean.
tracked_before=$(git status --porcelain --untracked-files=no 2>/dev/null || true)

step "layers: no import cycle (scripts/check_layers.py, docs/architecture.md)"
python3 scripts/check_layers.py --quiet

step "rust: format"
cargo fmt --all -- --check

step "rust: clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --features statesync/testing -- -D warnings

step "rust: API docs build without warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "rust: core without SQLite (the browser build), natively and for wasm32"
cargo clippy -p statesync --no-default-features --lib -- -D warnings
scripts/install-wasm-toolchain.sh
# Debian's rustc-web compiles std for wasm32 from source; rustup's cargo comes first on PATH,
# so call Debian's explicitly. A separate target dir keeps its std apart from the host build.
RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 /usr/bin/cargo check --quiet \
    --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort --target-dir target/wasm32-check \
    -p statesync --no-default-features

step "object storage: moto (S3), Azurite (Azure Blob), fake-gcs-server (GCS) for the cloud tests"
# Under target/object-stores/; the tests start them on 127.0.0.1 (core/tests/support/object_servers.rs).
scripts/install-object-stores.sh

step "rust: tests (unit, conformance, properties, crash, storage, wire, rounds, auto-sync, simulation, hub, doc)"
# statesync/testing adds the call that panics on purpose (a test-only build: see core/Cargo.toml).
cargo test --workspace --features statesync/testing

step "rust: benchmarks run once at tiny sizes (criterion's test mode)"
cargo test --workspace --benches --quiet >/dev/null

step "rust: fuzzing (every target 30 s under ASan, from a copy of its committed corpus under target/fuzz)"
# A crash, a corpus missing or under its floor, or a failed build fails the step; the corpora
# are minimised and committed by hand only (scripts/fuzz.sh --minimise).
scripts/fuzz.sh 30

step "python: the statesync package, its tests, examples and benchmark smoke run"
scripts/test-python.sh

step "node: the statesync npm package, its tests, examples and benchmark smoke run"
scripts/test-node.sh

step "kotlin and swift: the uniffi bindings (mvn -q verify in kotlin/; swift/ generated, tested where swift exists)"
scripts/test-uniffi.sh

step "browser: the WebAssembly package, its tests in Node and headless Chromium, budgets"
scripts/test-wasm.sh

step "rust: demo"
cargo run -q -p statesync --example demo >/dev/null

step "the tracked tree is as the run found it"
tracked_after=$(git status --porcelain --untracked-files=no 2>/dev/null || true)
if [ "$tracked_after" != "$tracked_before" ]; then
    diff <(echo "$tracked_before") <(echo "$tracked_after") >&2 || true
    fail "the test run changed tracked files (above): a build or test must write under target/ or a temporary folder"
fi

echo
echo "all tests passed"
