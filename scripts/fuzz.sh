#!/usr/bin/env bash
# Fuzzes the core and the hub with cargo-fuzz: each target runs for a number of seconds
# (default 600) from a copy of its committed corpus under target/fuzz/, so a run never changes
# the tracked tree. The test command runs `scripts/fuzz.sh 30`; longer runs are by hand.
#
#   scripts/fuzz.sh [--minimise] [SECONDS] [TARGET...]      (default: every target)
#
# --minimise (by hand only, never from the test command): after the run, minimises the grown
# corpus with `cargo fuzz cmin` and writes it back over the committed one, to be committed.
#
# Targets (core/fuzz unless said otherwise):
#   decode_any         every wire decoder on arbitrary bytes; seeded with conformance/wire
#   apply_adversarial  states with every number at an edge, applied to a replica that must
#                      then still write and sync (docs/adr/0015-hardening-against-peers.md)
#   state_json         SyncState::from_json and list_from_json on arbitrary text
#   snapshot_import    Snapshot::from_json, then import_state (merge and replace) into a replica
#   http_answers       the client's readers of HTTP answers (statesync::http_protocol)
#   hub_request        hub/fuzz: POST /v1/pull and /v1/push bodies through the hub's router
#
# Every target's committed corpus (<crate>/fuzz/corpus/<target>) must hold at least
# CORPUS_FLOOR files, or the script fails before fuzzing: a lost or truncated corpus would
# otherwise make a short run start from nothing and pass. core/tests/wire.rs holds the
# decode_any corpus to the same floor.
#
# Environment:
#   FUZZ_SANITIZER  address (default) or none — use none where the ASan runtime is missing
#   FUZZ_LOG_DIR    where libFuzzer's output goes (default target/fuzz/logs), one log per target
#
# cargo-fuzz passes nightly-only flags (-Zsanitizer, ...) to rustc; RUSTC_BOOTSTRAP=1 lets the
# stable toolchain accept them. Crashes land in target/fuzz/<target>/artifacts and make the
# script fail; replay one with `cargo fuzz run <target> <file>` in the target's crate.
set -euo pipefail

# Files each committed corpus holds at least (6 targets × 50 = 300 in all). Each minimised
# corpus holds more than twice this (the smallest, apply_adversarial, 131 files); keep
# core/tests/wire.rs's CORPUS_FLOOR the same.
CORPUS_FLOOR=50
all_targets=(decode_any apply_adversarial state_json snapshot_import http_answers hub_request)

minimise=0
if [ "${1:-}" = "--minimise" ]; then
    minimise=1
    shift
fi
seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
sanitizer="${FUZZ_SANITIZER:-address}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$root/target/fuzz"
logs="${FUZZ_LOG_DIR:-$work/logs}"

case "$seconds" in
    '' | *[!0-9]*) echo "SECONDS must be a whole number, not $seconds" >&2 && exit 2 ;;
esac

# The crate (holding fuzz/) and the libFuzzer flags of each target.
crate_of() {
    case "$1" in
        hub_request) echo "$root/hub" ;;
        decode_any | apply_adversarial | state_json | snapshot_import | http_answers) echo "$root/core" ;;
        *) return 1 ;;
    esac
}
flags_of() {
    case "$1" in
        decode_any) echo "-max_len=16384 -dict=fuzz/decode_any.dict" ;;
        apply_adversarial) echo "-max_len=512" ;;
        state_json) echo "-max_len=8192" ;;
        snapshot_import) echo "-max_len=16384" ;;
        http_answers) echo "-max_len=4096" ;;
        # Above the fuzz hub's 4 KiB body limit, so that its 413 answers are reached.
        hub_request) echo "-max_len=8192" ;;
    esac
}

# Every target is known and its committed corpus is there and at the floor, before any work.
for target in "${targets[@]}"; do
    crate_of "$target" >/dev/null || { echo "unknown fuzz target: $target" >&2 && exit 2; }
    corpus="$(crate_of "$target")/fuzz/corpus/$target"
    [ -d "$corpus" ] || { echo "the committed corpus $corpus is missing" >&2 && exit 1; }
    files="$(find "$corpus" -type f | wc -l)"
    if [ "$files" -lt "$CORPUS_FLOOR" ]; then
        echo "the committed corpus $corpus holds $files files, fewer than the floor of $CORPUS_FLOOR" >&2
        exit 1
    fi
done

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# The decode_any seeds include the zstd form of every golden file.
if ! command -v zstd >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y -qq zstd >/dev/null
    fi
    command -v zstd >/dev/null || { echo "zstd is required (Debian: apt-get install zstd)" >&2 && exit 1; }
fi
export RUSTC_BOOTSTRAP=1

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Seeds the decode_any corpus with the wire golden and invalid files (and their zstd forms),
# naming files by content like libFuzzer's own corpus entries, so re-seeding adds nothing.
seed_decode_any() {
    local corpus="$1" f name
    seed() {
        name="$(sha1sum "$1" | cut -c1-40)"
        [ -e "$corpus/$name" ] || cp "$1" "$corpus/$name"
    }
    for f in "$root"/conformance/wire/*.json "$root"/conformance/wire/*.bin "$root"/conformance/wire/invalid/*; do
        case "$(basename "$f")" in manifest.json) continue ;; esac
        seed "$f"
        zstd -q -c "$f" >"$tmp/$(basename "$f").zst"
        seed "$tmp/$(basename "$f").zst"
    done
}

# Builds each crate's targets once, up front, then runs the built binaries: a build failure is
# reported as one, and no cargo call (which may wait on another's lock) eats into the fuzzing
# time. Run as `cargo fuzz run` would run them: from the crate, with ASan's ODR check off (the
# bundled SQLite trips it; cargo-fuzz turns it off the same way).
host="$(rustc -vV | sed -n 's/^host: //p')"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"
mkdir -p "$logs"
built=""
for target in "${targets[@]}"; do
    crate="$(crate_of "$target")"
    case " $built " in *" $crate "*) continue ;; esac
    echo "--- building the fuzz targets of ${crate#"$root"/} (sanitizer: $sanitizer)"
    (cd "$crate" && cargo fuzz build --sanitizer "$sanitizer")
    built="$built $crate"
done

failed=0
summary=()
for target in "${targets[@]}"; do
    crate="$(crate_of "$target")"
    committed="$crate/fuzz/corpus/$target"
    corpus="$work/$target/corpus"
    artifacts="$work/$target/artifacts"
    log="$logs/$target.log"
    rm -rf "$corpus" "$artifacts"
    mkdir -p "$corpus" "$artifacts"
    cp "$committed"/* "$corpus"/
    if [ "$target" = decode_any ]; then seed_decode_any "$corpus"; fi
    read -r -a flags <<<"$(flags_of "$target")"
    flags+=(-max_total_time="$seconds" -timeout=20 -print_final_stats=1 -artifact_prefix="$artifacts/")
    echo "--- fuzzing $target for ${seconds}s from $(find "$corpus" -type f | wc -l) inputs (log: $log)"
    binary="$crate/fuzz/target/$host/release/$target"
    [ -x "$binary" ] || { echo "the fuzz target $binary was not built" >&2 && exit 1; }
    set +e
    # TMPDIR: where a target keeps files of its own (the hub's store), removed with $tmp.
    (cd "$crate" && TMPDIR="$tmp" "$binary" "${flags[@]}" "$corpus") >"$log" 2>&1
    status=$?
    set -e
    grep -E '^#[0-9]+' "$log" | tail -n 3 || true
    grep -E 'panicked|ERROR|SUMMARY' "$log" | head -n 20 || true
    # libFuzzer's findings; it also keeps inputs slower than 10 s there (slow-unit-*): those
    # are reported, not failed on, since a loaded machine alone can make one.
    crashes="$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)"
    slow="$(find "$artifacts" -type f -name 'slow-unit-*' | wc -l)"

    if [ "$minimise" = 1 ] && [ "$crashes" -eq 0 ] && [ "$status" -eq 0 ]; then
        echo "--- minimising the $target corpus into ${committed#"$root"/}"
        # A set cover of the features: about a third fewer files than a plain merge, no feature lost.
        (cd "$crate" && cargo fuzz cmin "$target" --sanitizer "$sanitizer" "$corpus" -- -timeout=20 -set_cover_merge=1) 2>&1 |
            tail -n 1
        rm -f "$committed"/*
        cp "$corpus"/* "$committed"/
    fi

    runs="$(grep -Eo 'Done [0-9]+ runs' "$log" | tail -n 1 | grep -Eo '[0-9]+' || true)"
    cov="$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)"
    echo "--- $target summary"
    echo "runs:     ${runs:-unknown} in ${seconds}s (sanitizer: $sanitizer)"
    echo "coverage: ${cov:-unknown} (libFuzzer edge counters and features)"
    echo "corpus:   $(find "$corpus" -type f | wc -l) files after the run ($(find "$committed" -type f | wc -l) committed, $(find "$committed" -type f -exec cat {} + | wc -c) bytes)"
    echo "crashes:  $crashes, slow inputs: $slow (artifacts in $artifacts)"
    summary+=("$(printf '%-18s runs %-10s %-22s crashes %s' "$target" "${runs:-?}" "${cov:-?}" "$crashes")")
    if [ "$crashes" -ne 0 ] || [ "$status" -ne 0 ] || [ -z "$runs" ]; then
        echo "fuzzing $target found a problem (exit status $status): see $log" >&2
        failed=1
    fi
done
echo "--- fuzzing summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
exit "$failed"
