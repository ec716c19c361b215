//! W1a natively (docs/performance.md), the reference of `npm run bench`: the core with the
//! browser build's features (no SQLite, no runtime), `updates` update_state calls round-robin
//! over `keys` keys created beforehand. Prints updates per second (median of `runs`).
//! Usage: cargo run --release --example w1_native -- [keys] [updates] [runs]
//! The workload is the core's own (`statesync::bench::w1a`), as every binding's bench uses.

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let (keys, updates, runs) = (
        args.first().copied().unwrap_or(1000),
        args.get(1).copied().unwrap_or(100_000),
        args.get(2).copied().unwrap_or(3),
    );
    let mut rates: Vec<f64> =
        (0..runs).map(|_| updates as f64 / statesync::bench::w1a(keys, updates).expect("W1a").as_secs_f64()).collect();
    rates.sort_by(f64::total_cmp);
    println!("{:.0}", rates[rates.len() / 2]);
}
