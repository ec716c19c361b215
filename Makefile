# One entry point for every task. CI runs `make test` (see .ci/run).
.PHONY: demo test bench fmt lint

## Two replicas on SQLite files edit concurrently, exchange states and converge.
demo:
	cargo run -q -p statesync --example demo

## Every test in every language, installing what it needs.
test:
	scripts/test.sh

## Criterion benchmarks: W1-W4 and delta sync in the core, hub throughput (see docs/performance.md).
bench:
	cargo bench -p statesync
	cargo bench -p statesync-hub

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
