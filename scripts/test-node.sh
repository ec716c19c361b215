#!/usr/bin/env bash
# The Node part of the test command: builds the `statesync` npm package from ./node (napi-rs,
# release) with its test-only entry point, then lints, type-checks and tests it; builds it again
# as it ships (without that entry point, which is checked), installs its packed tarball into a
# fresh folder, runs the Node examples (with the Python client) and the README's Node example;
# type-checks the READMEs' JavaScript examples (Node and browser) under tsc --strict.
# Usage: scripts/test-node.sh      (standalone after scripts/test-python.sh; scripts/test.sh calls it)
# Idempotent: npm packages are installed only when missing or when package-lock.json changed.
# Leaves the tracked tree as it found it (checked at the end for the lock files npm could touch).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

need node "Node.js 18 or newer, for the Node package and its tests: https://nodejs.org"
node -e "process.exit(Number(process.versions.node.split('.')[0]) < 18 ? 1 : 0)" || fail "'node' is older than 18"
need npm "it comes with Node.js"

# The lock files as they are now: the script must not change them (checked at the end).
locks=(node/package-lock.json examples/node/package-lock.json)
locks_before=$(sha256sum "${locks[@]}")

# npm ci (exactly the lock file, which it never writes) when node_modules is missing or older
# than the lock file. The lock files name every optional platform package: node/'s, once made
# against a registry mirror that lacked some, did not, which `npm ci` refuses (`npm install` was
# used instead, and `npm install` may rewrite a lock file).
npm_install() {
    local dir=$1
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        echo "installing npm packages in $dir (npm ci)"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    else
        echo "npm packages in $dir: all present"
    fi
}

step "node: npm packages"
npm_install node

step "node: build the native addon and its loader with the test-only entry points (napi build --release --features testing, in target/node-testing)"
(cd node && npm run --silent build:testing >/dev/null)
node -e 'const s = require("./node"); console.log("statesync", s.VERSION, "for Node", process.version)'
node -e 'if (typeof require("./node/native.cjs").panicForTests !== "function") process.exit(1)' ||
    fail "the test build lacks panicForTests"

step "node: format (prettier --check)"
(cd node && npx --no-install prettier --check --log-level warn index.cjs index.mjs index.d.ts node.d.ts cloud.d.ts lib test bench ../js ../examples/node/*.mjs ../examples/node/test)

step "node: the Rust hub the tests sync with (cargo build -p statesync-hub)"
cargo build --quiet -p statesync-hub

step "node: tests (node --test; the conformance suite through js/conformance/, in memory and on SQLite) and types (tsc --noEmit over a typed usage file)"
(cd node && npm test --silent)

step "node: the READMEs' JavaScript examples type-check (tsc --strict, checkJs; README.md, node/, wasm/)"
(cd node && node test/readme-types.mjs)

step "node: build the package as it ships (napi build --release, no test-only entry point)"
(cd node && npm run --silent build >/dev/null)
node -e 'if (Object.keys(require("./node/native.cjs")).some((k) => k.endsWith("ForTests"))) process.exit(1)' ||
    fail "the shipped build has a test-only entry point (...ForTests)"

step "node: npm pack, then install the tarball into a fresh folder"
pack_dir=$(mktemp -d)
trap 'rm -rf "$pack_dir"' EXIT
tarball=$(cd node && npm pack --silent --pack-destination "$pack_dir" | tail -n1)
(cd "$pack_dir" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error "./$tarball" >/dev/null)
# The installed package lacks the test-only entry points: its addon exports none (...ForTests) and
# holds no trace of them or of the core's panic_for_tests, and its code and types name none.
installed="$pack_dir/node_modules/statesync"
node -e 'if (Object.keys(require(process.argv[1] + "/native.cjs")).some((k) => k.endsWith("ForTests"))) process.exit(1)' "$installed" ||
    fail "the packed package exports a test-only entry point (...ForTests)"
if grep -rlE 'ForTests|for_tests' "$installed"/*.node "$installed"/*.cjs "$installed"/*.mjs "$installed"/*.d.ts "$installed"/lib; then
    fail "the packed package contains the test-only entry point (files above)"
fi
(cd "$pack_dir" && node -e '
  const s = require("statesync")
  s.SyncManager.open({ nodeId: "fresh" }).then(async (m) => {
    m.createState({ ok: true }, { id: "k" })
    if (!m.getState("k").data.ok) throw new Error("no state")
    await m.close()
  })' && node --input-type=module -e 'import { SyncManager } from "statesync"; await (await SyncManager.open()).close()')
echo "the packed package installs and loads"

step "node: examples (Fastify hub, clients; with the Python client and the Rust hub)"
npm_install examples/node
(cd examples/node && node --test --test-reporter=dot --test-concurrency=1 test/)

step "node: the README's Node example, unchanged"
readme_js="$pack_dir/readme-example.mjs"
awk '/^## Use it from Node/{f=1} f&&/^```js$/{c=1;next} c&&/^```$/{exit} c' README.md >"$readme_js"
[ -s "$readme_js" ] || { echo "ERROR: no js block under '## Use it from Node' in README.md" >&2; exit 1; }
(cd "$pack_dir" && node readme-example.mjs)

step "node: W1 benchmark, smoke run (npm run bench for the real one)"
(cd node && node --expose-gc bench/w1.mjs --quick)

step "node: the lock files are as they were"
[ "$(sha256sum "${locks[@]}")" = "$locks_before" ] || fail "the test changed ${locks[*]}: see git diff"
echo "${locks[*]}: unchanged"
