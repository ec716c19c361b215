#!/usr/bin/env bash
# Builds the browser package into wasm/dist (npm run build):
#   1. the crate for wasm32 with Debian's rustc-web and -Zbuild-std (release profile of Cargo.toml;
#      std built with its optimize_for_size feature: 13 KB less gzipped),
#   2. wasm-opt -Oz (binaryen) when present (the size budget is met only with it),
#   3. the JS glue with wasm-bindgen (the exact version of wasm/Cargo.lock),
#   4. the TypeScript layer (ts/ -> dist/), and the API shape (node/index.d.ts) copied beside it.
# Usage: wasm/build.sh [--debug]     Needs scripts/install-wasm-toolchain.sh to have run.
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd .. && pwd)"
profile=release
[ "${1:-}" = "--debug" ] && profile=debug

export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-16
# panic = immediate-abort: no panic formatting machinery in the .wasm (the binding never
# panics on input; a bug aborts the instance with `unreachable`).
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort"
target_dir="$root/target/wasm32"
flags=(--target wasm32-unknown-unknown -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size --target-dir "$target_dir")
[ "$profile" = release ] && flags+=(--release)
/usr/bin/cargo build --quiet "${flags[@]}"

wasm="$target_dir/wasm32-unknown-unknown/$profile/statesync_wasm.wasm"
glue="$root/target/wasm-pkg/glue"
rm -rf "$glue" dist
mkdir -p "$glue/opt"
if command -v wasm-opt >/dev/null; then
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

mkdir -p dist/wasm
cp "$glue"/statesync_wasm.js "$glue"/statesync_wasm.d.ts "$glue"/statesync_wasm_bg.wasm dist/wasm/
# The public API shape is the Node package's file: shipped as is, never edited here.
cp "$root/node/index.d.ts" dist/statesync.d.ts
node_modules/.bin/tsc -p tsconfig.json
cp ts/index.d.ts ts/node.d.ts ts/browser.d.ts dist/
echo "built wasm/dist ($profile): $(gzip -9 -c dist/wasm/statesync_wasm_bg.wasm | wc -c) bytes of .wasm gzipped"
