#!/usr/bin/env bash
# The Kotlin and Swift part of the test command (uniffi bindings, crate bindings/):
#   1. Rust: the crate's unit tests with its cargo feature `testing` (the test-only entry point
#      that panics; the workspace's tests run them without it), in the profile ffi-testing.
#   2. Kotlin: `mvn -q verify` in kotlin/ builds the Rust library and the generator, generates the
#      Kotlin sources, packages the jar and runs the JUnit tests (conformance suite, wire golden
#      files, binding behaviour, the README example, the example app against a hub together
#      with the Python client, a JWT hub's spaces and refused writes; PanicTest on the testing
#      library), then checks that the jar lacks
#      the test-only entry point, then runs the W1 benchmark once in its quick smoke mode.
#   3. Swift: swift/generate.sh generates the Swift sources a user builds (without the entry
#      point) and `swift/generate.sh --testing` those of the tests, checking the expected symbols;
#      `STATESYNC_TESTING=1 swift test` runs when a Swift toolchain is on PATH (otherwise:
#      SKIPPED swift: no toolchain).
# Usage: scripts/test-uniffi.sh      (standalone; scripts/test.sh calls it after scripts/test-python.sh,
#        whose venv, target/python-venv, the example test's Python client needs)
# Idempotent: Maven keeps its downloads in ~/.m2, cargo its builds in $CARGO_TARGET_DIR or target/.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

need cargo "install Rust with rustup: https://rustup.rs"
need java "the Kotlin bindings need a JDK 17 or newer (Debian: apt-get install openjdk-17-jdk-headless)"
need mvn "the Kotlin bindings build with Maven (Debian: apt-get install maven)"
need python3 "the build extracts the README examples with python3"
java_major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | cut -d. -f1)
if [ "${java_major:-0}" -lt 17 ]; then
    echo "ERROR: Java 17 or newer is required for the Kotlin bindings (found ${java_major:-unknown})" >&2
    exit 1
fi
if ! target/python-venv/bin/python -c 'import statesync' >/dev/null 2>&1; then
    echo "ERROR: the Python package is not installed in target/python-venv: the Kotlin example test syncs" >&2
    echo "       with the Python settings client. Run scripts/test-python.sh first (scripts/test.sh does)." >&2
    exit 1
fi

target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
lib_name=libstatesync_ffi.so
[ "$(uname -s)" = Darwin ] && lib_name=libstatesync_ffi.dylib

step "rust: statesync-ffi's unit tests with the feature testing (profile ffi-testing, as kotlin/pom.xml builds it)"
unit_log=$(mktemp)
trap 'rm -f "$unit_log"' EXIT
if ! cargo test --quiet -p statesync-ffi --features testing \
    --config 'profile.ffi-testing.inherits="dev"' --profile ffi-testing >"$unit_log" 2>&1; then
    cat "$unit_log" >&2
    echo "ERROR: statesync-ffi's unit tests failed" >&2
    exit 1
fi
grep "^test result" "$unit_log"

step "kotlin: mvn -q verify (Rust library and generator, generated sources, jar, JUnit tests)"
(cd kotlin && mvn -q verify)
for report in kotlin/target/surefire-reports/*.txt; do
    sed -n 's/^Tests run: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\), Skipped: \([0-9]*\).* in \(.*\)$/  \5: \1 tests, \2 failures, \3 errors, \4 skipped/p' "$report"
done

step "kotlin: the jar lacks the test-only entry point (the testing library has it)"
python3 - kotlin/target/statesync-0.1.0.jar "$target_dir/ffi-testing/$lib_name" <<'PY'
import sys, zipfile
jar, testing = sys.argv[1], sys.argv[2]
symbol = b"uniffi_statesync_ffi_fn_method_syncmanager_panic_for_tests"
with open(testing, "rb") as f:
    if symbol not in f.read():
        sys.exit(f"ERROR: the testing library {testing} lacks {symbol.decode()}: the check below would prove nothing")
with zipfile.ZipFile(jar) as z:
    libraries = [n for n in z.namelist() if n.endswith((".so", ".dylib", ".dll"))]
    if not libraries:
        sys.exit(f"ERROR: {jar} packs no native library")
    found = [n for n in z.namelist() if symbol in z.read(n) or b"panicForTests" in z.read(n)]
if found:
    sys.exit(f"ERROR: {jar} ships the test-only entry point in {found}")
print(f"  {jar}: {', '.join(libraries)} and {len(z.namelist()) - len(libraries)} other entries, none with the entry point")
PY

step "kotlin: W1 benchmark smoke run (mvn -q exec:exec@bench; full run: -Dbench.args=)"
(cd kotlin && mvn -q exec:exec@bench)

step "swift: generate the bindings (swift/generate.sh, and --testing for the tests) and check the expected symbols"
swift/generate.sh
swift/generate.sh --testing

step "swift: STATESYNC_TESTING=1 swift test (the tests' bindings, on the testing library)"
if command -v swift >/dev/null 2>&1; then
    (cd swift && STATESYNC_TESTING=1 STATESYNC_LIB_DIR="$target_dir/ffi-testing" STATESYNC_REPO="$PWD/.." swift test)
else
    echo "SKIPPED swift: no toolchain"
fi

echo
echo "kotlin and swift: all tests passed"
