#!/usr/bin/env bash
# The Node part of the test command: builds the `statesync` npm package from ./node (napi-rs,
# release), then lints, type-checks and tests it, installs its packed tarball into a fresh
# folder, runs the Node examples (with the Python client) and the README's Node example.
# Usage: scripts/test-node.sh      (standalone after scripts/test-python.sh; scripts/test.sh calls it)
# Idempotent: npm packages are installed only when missing or when package-lock.json changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

need node "Node.js 18 or newer, for the Node package and its tests: https://nodejs.org"
node -e "process.exit(Number(process.versions.node.split('.')[0]) < 18 ? 1 : 0)" || fail "'node' is older than 18"
need npm "it comes with Node.js"

# npm install only when node_modules is missing or older than the lock file.
npm_install() {
    local dir=$1
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        echo "installing npm packages in $dir"
        # Not `npm ci`: the registry mirror lacks some optional platform packages of @napi-rs/cli's
        # dependencies, which npm then leaves out of the lock file and `npm ci` refuses.
        (cd "$dir" && npm install --no-save --no-audit --no-fund --loglevel=error)
    else
        echo "npm packages in $dir: all present"
    fi
}

step "node: npm packages"
npm_install node

step "node: build the native addon and its loader (napi build --release)"
(cd node && npm run --silent build >/dev/null)
node -e 'const s = require("./node"); console.log("statesync", s.VERSION, "for Node", process.version)'

step "node: format (prettier --check)"
(cd node && npx --no-install prettier --check --log-level warn index.cjs index.mjs index.d.ts lib test bench ../examples/node/*.mjs ../examples/node/test)

step "node: the Rust hub the tests sync with (cargo build -p statesync-hub)"
cargo build --quiet -p statesync-hub

step "node: tests (node --test) and types (tsc --noEmit over a typed usage file)"
(cd node && npm test --silent)

step "node: npm pack, then install the tarball into a fresh folder"
pack_dir=$(mktemp -d)
trap 'rm -rf "$pack_dir"' EXIT
tarball=$(cd node && npm pack --silent --pack-destination "$pack_dir" | tail -n1)
(cd "$pack_dir" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error "./$tarball" >/dev/null)
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
