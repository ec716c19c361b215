#!/usr/bin/env bash
# Fuzzes the core with cargo-fuzz (core/fuzz): each target runs for a number of seconds
# (default 600), then its corpus is minimised with `cargo fuzz cmin`.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      (default: every target)
#
# Targets:
#   decode_any         every wire decoder on arbitrary bytes; seeded with conformance/wire
#   apply_adversarial  states with every number at an edge, applied to a replica that must
#                      then still write and sync (docs/adr/0015-hardening-against-peers.md)
#
# Environment:
#   FUZZ_SANITIZER  address (default) or none — use none where the ASan runtime is missing
#   FUZZ_LOG_DIR    where libFuzzer's output goes (default core/fuzz/artifacts), one log per target
#
# cargo-fuzz passes nightly-only flags (-Zsanitizer, ...) to rustc; RUSTC_BOOTSTRAP=1 lets the
# stable toolchain accept them. Corpora live in core/fuzz/corpus/<target>; crashes land in
# core/fuzz/artifacts/<target> and make the script fail.
set -euo pipefail

seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode_any apply_adversarial)
sanitizer="${FUZZ_SANITIZER:-address}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
core="$root/core"
logs="${FUZZ_LOG_DIR:-$core/fuzz/artifacts}"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Seeds the decode_any corpus, naming files by content like libFuzzer's own corpus entries, so
# re-seeding adds nothing.
seed_decode_any() {
    local corpus="$1" f name
    seed() {
        name="$(sha1sum "$1" | cut -c1-40)"
        [ -e "$corpus/$name" ] || cp "$1" "$corpus/$name"
    }
    for f in "$root"/conformance/wire/*.json "$root"/conformance/wire/*.bin "$root"/conformance/wire/invalid/*; do
        case "$(basename "$f")" in manifest.json) continue ;; esac
        seed "$f"
        if command -v zstd >/dev/null; then
            zstd -q -c "$f" >"$tmp/$(basename "$f").zst" && seed "$tmp/$(basename "$f").zst"
        fi
    done
}

failed=0
cd "$core"
for target in "${targets[@]}"; do
    corpus="$core/fuzz/corpus/$target"
    artifacts="$core/fuzz/artifacts/$target"
    log="$logs/$target.log"
    mkdir -p "$corpus" "$artifacts" "$logs"
    flags=(-max_total_time="$seconds" -timeout=20 -print_final_stats=1)
    case "$target" in
        decode_any)
            seed_decode_any "$corpus"
            flags+=(-max_len=16384 -dict=fuzz/decode_any.dict)
            ;;
        apply_adversarial) flags+=(-max_len=512) ;;
        *)
            echo "unknown fuzz target: $target" >&2
            exit 2
            ;;
    esac
    before="$(find "$artifacts" -type f | wc -l)"
    echo "--- fuzzing $target for ${seconds}s (log: $log)"
    set +e
    cargo fuzz run "$target" --sanitizer "$sanitizer" -- "${flags[@]}" >"$log" 2>&1
    status=$?
    set -e
    grep -E '^#[0-9]+' "$log" | tail -n 3 || true
    grep -E 'panicked|ERROR|SUMMARY' "$log" | head -n 20 || true
    crashes=$(($(find "$artifacts" -type f | wc -l) - before))

    echo "--- minimising the $target corpus"
    cargo fuzz cmin "$target" --sanitizer "$sanitizer" -- -timeout=20 2>&1 | tail -n 2

    runs="$(grep -Eo 'Done [0-9]+ runs' "$log" | tail -n 1 | grep -Eo '[0-9]+' || true)"
    cov="$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)"
    echo "--- $target summary"
    echo "runs:     ${runs:-unknown} in ${seconds}s (sanitizer: $sanitizer)"
    echo "coverage: ${cov:-unknown} (libFuzzer edge counters and features)"
    echo "corpus:   $(find "$corpus" -type f | wc -l) files, $(find "$corpus" -type f -exec cat {} + | wc -c) bytes"
    echo "crashes:  $crashes (artifacts in $artifacts)"
    if [ "$crashes" -ne 0 ] || [ "$status" -ne 0 ]; then
        echo "fuzzing $target found a problem: see $log" >&2
        failed=1
    fi
done
exit "$failed"
