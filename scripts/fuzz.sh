#!/usr/bin/env bash
# Fuzzes the wire decoders: runs the cargo-fuzz target `decode_any` (core/fuzz) for a number of
# seconds (default 600), then minimises the corpus with `cargo fuzz cmin`.
#
#   scripts/fuzz.sh [SECONDS]
#
# Environment:
#   FUZZ_SANITIZER  address (default) or none — use none where the ASan runtime is missing
#   FUZZ_LOG        where libFuzzer's output goes (default core/fuzz/artifacts/fuzz.log)
#
# cargo-fuzz passes nightly-only flags (-Zsanitizer, ...) to rustc; RUSTC_BOOTSTRAP=1 lets the
# stable toolchain accept them. The corpus (core/fuzz/corpus/decode_any) is seeded with the golden
# files and invalid inputs of conformance/wire and their zstd-compressed forms; crashes land in
# core/fuzz/artifacts/decode_any and make the script fail.
set -euo pipefail

seconds="${1:-600}"
sanitizer="${FUZZ_SANITIZER:-address}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
core="$root/core"
corpus="$core/fuzz/corpus/decode_any"
artifacts="$core/fuzz/artifacts/decode_any"
log="${FUZZ_LOG:-$core/fuzz/artifacts/fuzz.log}"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1

mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
# Seeds, named by content like libFuzzer's own corpus entries, so re-seeding adds nothing.
seed() {
    local name
    name="$(sha1sum "$1" | cut -c1-40)"
    [ -e "$corpus/$name" ] || cp "$1" "$corpus/$name"
}
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for f in "$root"/conformance/wire/*.json "$root"/conformance/wire/*.bin "$root"/conformance/wire/invalid/*; do
    case "$(basename "$f")" in manifest.json) continue ;; esac
    seed "$f"
    if command -v zstd >/dev/null; then
        zstd -q -c "$f" >"$tmp/$(basename "$f").zst" && seed "$tmp/$(basename "$f").zst"
    fi
done

cd "$core"
before="$(find "$artifacts" -type f | wc -l)"
echo "--- fuzzing decode_any for ${seconds}s (log: $log)"
set +e
cargo fuzz run decode_any --sanitizer "$sanitizer" -- \
    -max_total_time="$seconds" -max_len=16384 -timeout=20 -dict=fuzz/decode_any.dict \
    -print_final_stats=1 >"$log" 2>&1
status=$?
set -e
grep -E '^#[0-9]+' "$log" | tail -n 5 || true
grep -E 'panicked|ERROR|SUMMARY' "$log" | head -n 20 || true
crashes=$(($(find "$artifacts" -type f | wc -l) - before))

echo "--- minimising the corpus"
cargo fuzz cmin decode_any --sanitizer "$sanitizer" -- -max_len=16384 -timeout=20 2>&1 | tail -n 3

runs="$(grep -Eo 'Done [0-9]+ runs' "$log" | tail -n 1 | grep -Eo '[0-9]+' || true)"
cov="$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)"
echo "--- summary"
echo "runs:     ${runs:-unknown} in ${seconds}s (sanitizer: $sanitizer)"
echo "coverage: ${cov:-unknown} (libFuzzer edge counters and features)"
echo "corpus:   $(find "$corpus" -type f | wc -l) files, $(find "$corpus" -type f -exec cat {} + | wc -c) bytes"
echo "crashes:  $crashes (artifacts in $artifacts)"
if [ "$crashes" -ne 0 ] || [ "$status" -ne 0 ]; then
    echo "fuzzing found a problem: see $log" >&2
    exit 1
fi
