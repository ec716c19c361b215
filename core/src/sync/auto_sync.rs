//! Auto-sync: sync rounds on a timer, on a tokio runtime the manager owns (feature `runtime`).
//!
//! One task per manager runs rounds one after another (never overlapping) through
//! [`SyncManager::sync_via`] on a blocking thread, since transports are blocking. A failed round
//! is retried after an exponentially growing delay with jitter, so a fleet of clients that lost
//! their server does not come back in lockstep. The task holds the manager weakly: dropping the
//! last handle to the manager ends it.

use crate::manager::{Background, SyncManager};
use crate::model::change_set::SyncContext;
use crate::model::error::{Result, SyncError};
use crate::sync::transport::SyncTransport;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// How auto-sync schedules its rounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoSyncConfig {
    /// Time between the end of a successful round and the start of the next.
    pub interval: Duration,
    /// The scope of every round.
    pub context: SyncContext,
    /// Delay before the first retry after a failure; doubles with each further failure.
    pub backoff_base: Duration,
    /// Longest delay between retries.
    pub backoff_max: Duration,
}

impl AutoSyncConfig {
    /// Rounds every `interval` over every collection; retries from 500 ms up to 60 s.
    pub fn every(interval: Duration) -> Self {
        AutoSyncConfig {
            interval,
            context: SyncContext::all(),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
        }
    }

    /// Only this scope.
    pub fn context(mut self, context: SyncContext) -> Self {
        self.context = context;
        self
    }

    /// Retry delays: `base` after the first failure, doubling up to `max`.
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_max = max;
        self
    }

    fn validate(&self) -> Result<()> {
        if self.interval.is_zero() || self.backoff_base.is_zero() {
            return Err(SyncError::InvalidInput("auto-sync interval and backoff must be positive".into()));
        }
        if self.backoff_max < self.backoff_base {
            return Err(SyncError::InvalidInput("auto-sync backoff_max is below backoff_base".into()));
        }
        self.context.validate()
    }
}

use crate::sync::backoff::backoff_delay;

/// The name of every thread of the auto-sync runtime, workers and blocking threads alike.
const THREAD_NAME: &str = "statesync-auto-sync";

/// Blocks the asynchronous process signals (ctrl-c, SIGTERM, ...) in an auto-sync thread, so
/// the kernel delivers them to the application's own threads. Otherwise a host such as Python,
/// which handles signals on its main thread, may not notice ctrl-c while that thread waits.
fn keep_process_signals_away() {
    #[cfg(unix)]
    // SAFETY: a zeroed sigset_t is valid storage that sigemptyset initialises, and
    // pthread_sigmask only changes the calling thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// The running auto-sync of one manager: its runtime, its task and the signals to it.
pub(crate) struct AutoSync {
    runtime: Option<tokio::runtime::Runtime>,
    stop: watch::Sender<bool>,
    wake: Arc<Notify>,
    /// Disconnected when the task ends (its sender is dropped with it).
    ended: std::sync::mpsc::Receiver<()>,
}

impl AutoSync {
    pub(crate) fn start(
        manager: Weak<SyncManager>,
        config: AutoSyncConfig,
        transport: Arc<dyn SyncTransport>,
    ) -> Result<AutoSync> {
        config.validate()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .thread_name(THREAD_NAME)
            .on_thread_start(keep_process_signals_away)
            .enable_time()
            .build()
            .map_err(|e| SyncError::Storage {
                message: "cannot start the auto-sync runtime".into(),
                source: Some(Box::new(e)),
            })?;
        let (stop, stopped) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let wake_task = wake.clone();
        let (alive, ended) = std::sync::mpsc::channel::<()>();
        runtime.spawn(async move {
            run(manager, config, transport, stopped, wake_task).await;
            // Only now is everything the task held (the transport above all) released.
            drop(alive);
        });
        Ok(AutoSync { runtime: Some(runtime), stop, wake, ended })
    }
}

impl Background for AutoSync {
    /// Starts the next round now instead of at the end of the current wait.
    fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops the task after its current round and waits for it to end, unless called from
    /// the auto-sync thread itself (a listener reacting to a sync event), where waiting would
    /// deadlock: the task then ends right after the listener returns.
    fn stop(mut self: Box<Self>) {
        let _ = self.stop.send(true);
        if std::thread::current().name() != Some(THREAD_NAME) {
            // Blocks on a plain channel, not on tokio, so it works from any thread, inside
            // another runtime too. Rounds are bounded by the transport's own timeouts.
            let _ = self.ended.recv();
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for AutoSync {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(runtime) = self.runtime.take() {
            // Dropping a runtime blocks, which tokio forbids inside a runtime: let it go.
            runtime.shutdown_background();
        }
    }
}

async fn run(
    manager: Weak<SyncManager>,
    config: AutoSyncConfig,
    transport: Arc<dyn SyncTransport>,
    mut stopped: watch::Receiver<bool>,
    wake: Arc<Notify>,
) {
    let mut failures = 0u32;
    let mut jitter = Jitter::seeded();
    let mut delay = Duration::ZERO;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = wake.notified() => {}
            _ = stopped.changed() => {}
        }
        if *stopped.borrow() {
            return;
        }
        let Some(manager) = manager.upgrade() else { return };
        let (transport, context) = (transport.clone(), config.context.clone());
        let round = tokio::task::spawn_blocking(move || manager.sync_via(transport.as_ref(), &context)).await;
        match round {
            Ok(Ok(_)) => {
                failures = 0;
                delay = config.interval;
            }
            Ok(Err(SyncError::Closed)) => return,
            // A failed round or a panicking transport: retry later.
            Ok(Err(_)) | Err(_) => {
                failures = failures.saturating_add(1);
                delay = backoff_delay(failures, config.backoff_base, config.backoff_max, jitter.next());
            }
        }
    }
}

/// A small SplitMix64 generator for jitter: no cryptographic need, seeded from a random UUID.
struct Jitter(u64);

impl Jitter {
    fn seeded() -> Jitter {
        Jitter(uuid::Uuid::new_v4().as_u64_pair().0)
    }

    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Auto-sync (docs/design.md#7-status-events-and-auto-sync).
impl SyncManager {
    /// Syncs with `transport` every `interval` in the background until [`stop_auto_sync`] or
    /// [`close`]; failed rounds are retried with backoff. See [`AutoSyncConfig`].
    ///
    /// [`stop_auto_sync`]: SyncManager::stop_auto_sync
    /// [`close`]: SyncManager::close
    pub fn start_auto_sync(self: &Arc<Self>, interval: Duration, transport: Arc<dyn SyncTransport>) -> Result<()> {
        self.start_auto_sync_with(AutoSyncConfig::every(interval), transport)
    }

    /// [`SyncManager::start_auto_sync`] with every setting. Starting while auto-sync already
    /// runs is `INVALID_INPUT`: stop it first.
    pub fn start_auto_sync_with(
        self: &Arc<Self>,
        config: AutoSyncConfig,
        transport: Arc<dyn SyncTransport>,
    ) -> Result<()> {
        self.node_id()?; // fails with `Closed` once closed
        let mut slot = self.background();
        if slot.is_some() {
            return Err(SyncError::InvalidInput("auto-sync is already running: stop it first".into()));
        }
        *slot = Some(Box::new(AutoSync::start(Arc::downgrade(self), config, transport)?));
        Ok(())
    }

    /// Stops auto-sync after the round in progress, if any, and waits for it. Returns whether
    /// auto-sync was running.
    pub fn stop_auto_sync(&self) -> bool {
        self.stop_background()
    }

    /// Runs the next auto-sync round now (after a local write, or when the network comes
    /// back) instead of waiting out the interval or backoff. Returns whether auto-sync runs.
    pub fn sync_now(&self) -> bool {
        self.background().as_ref().map(|running| running.wake()).is_some()
    }

    /// Whether auto-sync is running.
    pub fn is_auto_syncing(&self) -> bool {
        self.background().is_some()
    }
}
