#!/usr/bin/env bash
# Builds the browser package into wasm/dist (npm run build):
#   1. the crate for wasm32 with Debian's rustc-web and -Zbuild-std (release profile of Cargo.toml;
#      std built with its optimize_for_size feature: 13 KB less gzipped),
#   2. wasm-opt -Oz (binaryen) when present (the size budget is met only with it),
#   3. the JS glue with wasm-bindgen (the exact version of wasm/Cargo.lock),
#   4. the TypeScript layer (the shared js/src/ -> dist/shared/, then ts/ -> dist/), and the API
#      shape (node/index.d.ts) copied beside it.
# Usage: wasm/build.sh [--debug] [--testing]     Needs scripts/install-wasm-toolchain.sh to have run.
#   --testing: the test build, never the package: the crate with its `testing` feature
#   (`Manager.panicForTests`), steps 1 and 3 as above, into target/wasm-testing/dist beside a
#   copy of wasm/dist's JS (build wasm/dist first). wasm/dist is left as it is.
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd .. && pwd)"
profile=release
testing=false
for arg in "$@"; do
    case "$arg" in
        --debug) profile=debug ;;
        --testing) testing=true ;;
        *) echo "usage: wasm/build.sh [--debug] [--testing]" >&2; exit 2 ;;
    esac
done

export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-16
# panic = immediate-abort: no panic formatting machinery in the .wasm (the binding never
# panics on input; a bug aborts the instance with `unreachable`).
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort"
target_dir="$root/target/wasm32"
flags=(--target wasm32-unknown-unknown -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size --target-dir "$target_dir")
[ "$profile" = release ] && flags+=(--release)
glue="$root/target/wasm-pkg/glue"
if $testing; then
    [ -f dist/index.js ] || { echo "wasm/build.sh --testing: build wasm/dist first (wasm/build.sh)" >&2; exit 1; }
    # Same target dir: only the core and this crate build again with the feature; cargo puts
    # the last build's module at the path read below, so it is copied before anything else runs.
    flags+=(--features testing)
    glue="$root/target/wasm-pkg/glue-testing"
fi
/usr/bin/cargo build --quiet "${flags[@]}"

wasm="$target_dir/wasm32-unknown-unknown/$profile/statesync_wasm.wasm"
rm -rf "$glue"
$testing || rm -rf dist
mkdir -p "$glue/opt"
if $testing; then
    # The test build need not be small: wasm-opt (half a minute) only shrinks what a trap ends.
    :
elif command -v wasm-opt >/dev/null; then
    # Before wasm-bindgen: binaryen 108 (Debian) mistypes wasm-bindgen's externref table.
    # --merge-similar-functions: monomorphised copies that differ only in constants become one
    # (≈ 1.5 KB less gzipped). --low-memory-unused: the stack sits below the data and grows down
    # from 1 MiB, so the first KiB is never addressed and constant offsets fold into loads
    # (≈ 2 KB). The pass order is the smallest of those tried (docs/adr/0014).
    wasm-opt --merge-similar-functions -Oz --low-memory-unused -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
        --enable-mutable-globals --strip-debug --strip-producers "$wasm" -o "$glue/opt/statesync_wasm.wasm"
    wasm="$glue/opt/statesync_wasm.wasm"
else
    echo "note: wasm-opt (binaryen) not found: the .wasm is not size-optimised" >&2
fi
wasm-bindgen --target web --out-dir "$glue" "$wasm"

if $testing; then
    out="$root/target/wasm-testing/dist"
    rm -rf "$out"
    mkdir -p "$out"
    cp -R dist/. "$out"/
    cp "$glue"/statesync_wasm.js "$glue"/statesync_wasm.d.ts "$glue"/statesync_wasm_bg.wasm "$out"/wasm/
    echo "built the test build into $out ($profile, with Manager.panicForTests)"
    exit 0
fi

mkdir -p dist/wasm
cp "$glue"/statesync_wasm.js "$glue"/statesync_wasm.d.ts "$glue"/statesync_wasm_bg.wasm dist/wasm/
# The public API shape is the Node package's file: shipped as is, never edited here.
cp "$root/node/index.d.ts" dist/statesync.d.ts
# The JS layer both packages share (js/src/), as an ES module beside the browser layer: first, as
# ts/ imports it (./shared/*.js, found in dist/ through tsconfig.json's rootDirs).
node_modules/.bin/tsc -p "$root/js/tsconfig.wasm.json"
node_modules/.bin/tsc -p tsconfig.json
cp ts/index.d.ts ts/node.d.ts ts/browser.d.ts dist/
echo "built wasm/dist ($profile): $(gzip -9 -c dist/wasm/statesync_wasm_bg.wasm | wc -c) bytes of .wasm gzipped"
