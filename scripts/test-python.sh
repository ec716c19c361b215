#!/usr/bin/env bash
# The Python part of the test command: builds the `statesync` package fresh from ./python into a
# private venv (target/python-venv), then type-checks (mypy --strict, pyright), lints and tests it,
# its examples and the READMEs' Python examples; then builds the wheel a user would get (without
# the test-only call) and runs the READMEs' examples and the benchmark on that.
# Usage: scripts/test-python.sh      (standalone; scripts/test.sh calls it too)
# Idempotent: the venv and the tools are made once and kept; every run rebuilds the package.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

need python3 "3.9 or newer, for the Python package and its tests"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))' || fail "'python3' is older than 3.9"
need cargo "install Rust with rustup: https://rustup.rs"
need node "Node.js, which runs pyright (a type checker of the examples): https://nodejs.org"

VENV=target/python-venv
PY="$PWD/$VENV/bin/python"
# The venv's tools first: maturin's build backend runs `maturin` from PATH.
export PATH="$PWD/$VENV/bin:$PATH"
# The tools, each with the oldest version these scripts and examples are known to work with.
# pyright's PyPI package bundles the type checker, which runs on the `node` found on PATH.
# PyNaCl (libsodium) and argon2-cffi (the reference Argon2) are test-only: independent
# implementations that seal conformance/crypto.json's golden vectors again (python/tests/test_cloud.py).
TOOLS=("maturin>=1.9.4,<2" "pytest>=7" "mypy>=1.10" "pyright>=1.1.380" "ruff>=0.5" "fastapi>=0.110" "uvicorn>=0.29"
    "pynacl>=1.5" "argon2-cffi>=21.3")

step "python: venv ($VENV) and tools"
if [ ! -x "$PY" ] || ! "$PY" -c 'import pip' >/dev/null 2>&1; then
    rm -rf "$VENV"
    python3 -m venv "$VENV" || {
        echo "ERROR: 'python3 -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
        exit 1
    }
fi
# Only what is missing or too old is installed: on a warm venv this is a quick no-op check.
missing=$("$PY" - "${TOOLS[@]}" <<'EOF'
import re
import sys
from importlib import metadata

for requirement in sys.argv[1:]:
    name, lowest = re.match(r"([\w-]+)>=([\d.]+)", requirement).groups()
    try:
        have = tuple(int(p) for p in re.findall(r"\d+", metadata.version(name))[:3])
    except metadata.PackageNotFoundError:
        have = ()
    if have < tuple(int(p) for p in lowest.split(".")):
        print(requirement)
EOF
)
if [ -n "$missing" ]; then
    echo "installing: $(echo "$missing" | tr '\n' ' ')"
    # shellcheck disable=SC2086 # one requirement per word
    "$PY" -m pip install --quiet --disable-pip-version-check $missing
else
    echo "all present"
fi

step "python: build and install the test build from ./python (release, feature testing)"
# No build isolation: the venv's maturin builds it, incrementally, under the workspace's target/.
# The test build has the crate's `testing` feature (SyncManager._panic_for_tests, for the test
# that a panic is an InternalError); the wheel a user gets is built without it, below. Each has
# its own target directory: a cdylib's file name carries no hash of its features, so the two
# builds would otherwise replace each other's library and rebuild it on every run.
CARGO_TARGET_DIR="$PWD/target/python-testing" \
    "$PY" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps --no-build-isolation \
    --config-settings=build-args="--features testing" ./python
"$PY" -c 'import statesync; print("statesync", statesync.__version__, "from", statesync.__file__)'

step "python: lint (ruff check, ruff format --check)"
"$PY" -m ruff check python examples/python
"$PY" -m ruff format --check python examples/python

step "python: types (mypy --strict and pyright on the examples and the READMEs' examples, stubtest of the stubs)"
# Every ```python block of the READMEs is a whole program: one file each, checked as the
# examples are, then run (below).
README_EXAMPLES="$PWD/target/readme-examples"
rm -rf "$README_EXAMPLES"
mkdir -p "$README_EXAMPLES"
"$PY" - "$README_EXAMPLES" README.md python/README.md <<'EXTRACT_EOF'
import re
import sys
from pathlib import Path

out = Path(sys.argv[1])
for readme in sys.argv[2:]:
    text = Path(readme).read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
    if not blocks:
        sys.exit(f"{readme}: no python example found")
    for n, code in enumerate(blocks, 1):
        name = re.sub(r"\W", "_", readme.removesuffix(".md").lower())
        (out / f"{name}_{n}.py").write_text(f"# {readme}, python example {n}\n{code}", encoding="utf-8")
        print(f"{readme}: example {n} -> {name}_{n}.py")
EXTRACT_EOF
# From inside examples/python, so that `import statesync` is the installed package.
export MYPY_CACHE_DIR="$PWD/target/mypy-cache"
(cd examples/python && "$PY" -m mypy --strict ./*.py ../../python/statesync/bench.py "$README_EXAMPLES"/*.py)
# pyright in its standard mode, resolving `statesync` in the venv (the installed package).
cat >"$README_EXAMPLES/pyrightconfig.json" <<'PYRIGHT_EOF'
{ "typeCheckingMode": "standard", "reportMissingModuleSource": "none" }
PYRIGHT_EOF
"$PY" -m pyright --project "$README_EXAMPLES/pyrightconfig.json" --pythonpath "$PY" \
    examples/python/*.py python/statesync "$README_EXAMPLES"/*.py
# The installed package itself, stubs included.
(cd target && "$PY" -m mypy --strict -p statesync)
# stubtest keeps its cache in the working directory: run it from target/.
(cd target && "$PY" -m mypy.stubtest statesync)

step "python: the Rust hub the tests sync with (cargo build -p statesync-hub)"
cargo build --quiet -p statesync-hub
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
export STATESYNC_HUB_BIN="$target_dir/debug/statesync-hub"

step "python: tests (python/tests and examples/python)"
# Strict: what a test needs and lacks (the hub binary, the test build's panicking call) fails
# it; a bare `pytest` run elsewhere may skip those tests instead, saying why.
STATESYNC_TESTS_STRICT=1 "$PY" -m pytest -q -p no:cacheprovider python/tests examples/python

step "python: the shipped wheel (no testing feature) lacks the test-only call, and is what runs next"
WHEELS=target/python-wheel
rm -rf "$WHEELS"
"$PY" -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation --wheel-dir "$WHEELS" ./python
"$PY" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$WHEELS"/statesync-*.whl
"$PY" - "$WHEELS"/statesync-*.whl <<'WHEEL_EOF'
import sys
import zipfile

import statesync

wheel = sys.argv[1]
with zipfile.ZipFile(wheel) as z:
    native = [n for n in z.namelist() if n.startswith("statesync/_native")]
    assert native, f"{wheel} holds no native module"
    for name in native:
        assert b"panic_for_tests" not in z.read(name), f"{wheel}: {name} has the test-only panicking call"
assert not hasattr(statesync.SyncManager, "_panic_for_tests"), "the installed wheel has _panic_for_tests"
print(f"{wheel}: no test-only call")
WHEEL_EOF

step "python: the READMEs' Python examples run unchanged (on the shipped wheel, in a scratch directory)"
# A scratch directory: examples may write a replica's SQLite file (path="phone.db").
"$PY" - "$README_EXAMPLES" <<'README_EOF'
import os
import sys
import tempfile
from pathlib import Path

examples = sorted(Path(sys.argv[1]).glob("*.py"))
assert examples, "no README example extracted"
with tempfile.TemporaryDirectory() as scratch:
    os.chdir(scratch)
    for example in examples:
        code = example.read_text(encoding="utf-8")
        exec(compile(code, example.name, "exec"), {"__name__": "__readme__"})
        print(f"{example.name}: ran")
README_EOF

step "python: benchmark smoke run (python -m statesync.bench --quick)"
"$PY" -m statesync.bench --quick

echo
echo "python: all tests passed"
