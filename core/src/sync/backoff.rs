//! The retry delay of auto-sync after failed rounds, shared by the core's own auto-sync
//! (feature `runtime`) and the runtimes that drive rounds themselves (the browser's timers).

use std::time::Duration;

/// The delay before retry number `failures` (1 for the first): `base · 2^(failures−1)`, capped
/// at `max`, then scaled by `jitter` in [0, 1) into its upper half, so retries spread out but
/// never come sooner than half the nominal delay.
pub fn backoff_delay(failures: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let doubling = 2u32.saturating_pow(failures.saturating_sub(1).min(31));
    let nominal = base.saturating_mul(doubling).min(max);
    nominal.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}
