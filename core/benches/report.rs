//! The summary lines every statesync benchmark prints: one figure, its target and the ratio,
//! measured in the same run (this machine is small and noisy: compare ratios, not times).
//! Included by path from each bench target (`#[path = "report.rs"] mod report;`).
#![allow(dead_code)] // each bench target uses a different subset

use std::time::{Duration, Instant};

/// The median of some timings (or any figures).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Times `f` once.
pub fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// Items per second.
pub fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// `1234567` → `"1,234,567"`.
pub fn grouped(x: f64) -> String {
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn verdict(ratio: f64) -> &'static str {
    if ratio >= 1.0 {
        "met"
    } else {
        "MISSED"
    }
}

/// One summary line: a "higher is better" figure against its minimum.
pub fn line_at_least(name: &str, figure: f64, unit: &str, target: f64) {
    let ratio = figure / target;
    println!(
        "summary {name:<46} {:>12} {unit:<10} target >= {:>10}  ratio {ratio:.2}  {}",
        grouped(figure),
        grouped(target),
        verdict(ratio)
    );
}

/// One summary line: a "lower is better" figure against its maximum.
pub fn line_at_most(name: &str, figure: f64, unit: &str, target: f64) {
    let ratio = target / figure;
    println!(
        "summary {name:<46} {:>12} {unit:<10} target <= {:>10}  ratio {ratio:.2}  {}",
        grouped(figure),
        grouped(target),
        verdict(ratio)
    );
}

/// One summary line without a target.
pub fn info(name: &str, text: impl std::fmt::Display) {
    println!("summary {name:<46} {text}");
}

/// True under `cargo bench`, false in criterion's test mode (`cargo test --benches`), where
/// benchmarks run once at tiny sizes and their figures mean nothing.
pub fn bench_mode() -> bool {
    static MODE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *MODE.get_or_init(|| {
        let args: Vec<String> = std::env::args().collect();
        args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
    })
}

/// Whether to run the summary pass after the criterion groups (`STATESYNC_SUMMARY=0` skips it).
pub fn summary_wanted() -> bool {
    !std::env::args().any(|a| a == "--list") && std::env::var("STATESYNC_SUMMARY").map_or(true, |v| v != "0")
}

/// A bench target's `main`: its criterion groups, criterion's own summary, then (unless
/// skipped, see [`summary_wanted`]) the bench's summary pass.
pub fn run(groups: &[fn(&mut criterion::Criterion)], summary: fn()) {
    let mut c = criterion::Criterion::default().without_plots().configure_from_args();
    for group in groups {
        group(&mut c);
    }
    c.final_summary();
    if summary_wanted() {
        summary();
    }
}
