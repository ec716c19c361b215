"""W1 through Python: `python -m statesync.bench [--updates N] [--quick]`.

W1 (a) of core/benches/workloads.rs called from Python: a replica in memory, 1,000 pre-created
keys `{"n": 0, "name": "key-<k>"}`, then N `update_state` calls round-robin over them, with the
data built in the loop. The Rust core runs the same workload in the same process
(`statesync._native._rust_w1`), interleaved with the Python runs, so the ratio compares like
with like on a noisy machine. Prints `summary` lines like the Rust benches.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from collections.abc import Callable

import statesync

TARGET_PERCENT = 40.0  # Python's W1 throughput, as a share of the Rust core's


def python_w1(keys: int, updates: int) -> float:
    """Seconds taken by `updates` update_state calls through the Python API (setup not timed)."""
    with statesync.SyncManager("bench") as m:  # node id and data as in the Rust hook
        names = [f"key-{k}" for k in range(keys)]
        for name in names:
            m.create_state({"n": 0, "name": name}, id=name)
        start = time.perf_counter()
        for i in range(updates):
            name = names[i % keys]
            m.update_state(name, {"n": i, "name": name})
        return time.perf_counter() - start


def rust_w1_hook() -> Callable[[int, int], float]:
    hook: Callable[[int, int], float] | None = getattr(importlib.import_module("statesync._native"), "_rust_w1", None)
    if hook is None:
        sys.exit("error: this build of statesync has no statesync._native._rust_w1 benchmark hook")
    return hook


def grouped(x: float) -> str:
    return f"{x:,.0f}"


def line(name: str, text: str) -> None:
    print(f"summary {name:<46} {text}")


def line_at_least(name: str, figure: float, unit: str, target: float) -> None:
    ratio = figure / target
    verdict = "met" if ratio >= 1.0 else "MISSED"
    line(name, f"{grouped(figure):>12} {unit:<10} target >= {grouped(target):>10}  ratio {ratio:.2f}  {verdict}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m statesync.bench", description="W1 through Python, next to the Rust core's."
    )
    parser.add_argument("--updates", type=int, default=100_000, help="updates per run (default %(default)s)")
    parser.add_argument("--keys", type=int, default=1_000, help="pre-created keys (default %(default)s)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each, the median is reported")
    parser.add_argument("--quick", action="store_true", help="a smoke run at tiny sizes (figures meaningless)")
    args = parser.parse_args(argv)
    keys, updates, runs = (20, 200, 1) if args.quick else (args.keys, args.updates, args.runs)
    if min(keys, updates, runs) < 1:
        parser.error("--keys, --updates and --runs must be at least 1")
    rust_w1 = rust_w1_hook()

    python_w1(keys, min(updates, 1_000))  # warm-up: imports, allocator, caches
    py_times, rust_times = [], []
    for run in range(runs):  # interleaved, alternating which goes first
        if run % 2 == 0:
            py_times.append(python_w1(keys, updates))
            rust_times.append(rust_w1(keys, updates))
        else:
            rust_times.append(rust_w1(keys, updates))
            py_times.append(python_w1(keys, updates))
    py, rust = statistics.median(py_times), statistics.median(rust_times)

    print()
    print(
        f"summary: median of {runs} timed run(s) per figure, this process, statesync {statesync.__version__}, "
        f"Python {sys.version.split()[0]}{' (quick: tiny sizes, figures meaningless)' if args.quick else ''}"
    )
    line(f"W1a python memory updates ({keys:,} keys)", f"{grouped(updates / py):>12} updates/s")
    line("W1a rust memory updates (same run)", f"{grouped(updates / rust):>12} updates/s")
    line("W1a python per-call overhead over rust", f"{(py - rust) / updates * 1e6:>12.2f} us per update")
    line_at_least("W1a python/rust", 100.0 * rust / py, "% of rust", TARGET_PERCENT)


if __name__ == "__main__":
    main()
