//! `statesync-hub`: serves one SQLite replica over the HTTP sync protocol.
//!
//! ```text
//! statesync-hub --db PATH [--listen 127.0.0.1:7878] [--node-id hub] [--token TOKEN] [--max-batch N] ...
//! ```
//!
//! Prints one line once it listens (`statesync-hub listening on http://ADDR ...`, with the
//! bound address, so `--listen 127.0.0.1:0` can be used), and stops cleanly on SIGTERM or
//! ctrl-c: requests in flight finish, then the database is closed. `--help` lists every flag.

use clap::Parser;
use statesync::{ManagerConfig, SyncManager, DEFAULT_MAX_STATE_BYTES};
use statesync_hub::{bearer_token, Hub, Limits, DEFAULT_MAX_BATCH};
use std::error::Error;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// A statesync sync hub: one SQLite replica served over the HTTP sync protocol (docs/protocol.md).
#[derive(Parser, Debug)]
#[command(name = "statesync-hub", version, about)]
struct Args {
    /// SQLite database of the hub's replica (created if missing).
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    /// Address to listen on (port 0 picks a free one, printed in the start line).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    listen: String,
    /// The hub's node id (default: the stored one, or "hub" for a new database).
    #[arg(long, value_name = "ID")]
    node_id: Option<String>,
    /// Require `Authorization: Bearer TOKEN` on every request.
    #[arg(long, value_name = "TOKEN", env = "STATESYNC_HUB_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Largest page served, and the most states a push may carry.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_BATCH, value_parser = positive)]
    max_batch: usize,
    /// Largest push body (compressed or decoded) and pull answer, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_body_bytes, value_parser = positive)]
    max_body_bytes: usize,
    /// Largest state data accepted, in bytes of canonical JSON; a larger state is refused alone.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_STATE_BYTES, value_parser = positive)]
    max_state_bytes: usize,
    /// How far ahead of the hub's clock a pushed state may be stamped (e.g. 1h, 90s).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = humantime::parse_duration)]
    max_clock_skew: Duration,
    /// Open connections at once; more clients wait until one closes.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections, value_parser = positive)]
    max_connections: usize,
    /// How long a client may take to send a request's headers (e.g. 10s).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    header_timeout: Duration,
    /// How long a connection may go without a byte either way while the hub waits on the client.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    idle_timeout: Duration,
    /// How long one request may take in all, body included.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    request_timeout: Duration,
}

fn positive(value: &str) -> Result<usize, String> {
    value.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| format!("{value:?} is not a positive whole number"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("statesync-hub: {message}");
            ExitCode::FAILURE
        }
    }
}

/// An error with every cause under it: "opening the database: disk I/O error: ...".
fn with_causes(e: &dyn Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let c_text = c.to_string();
        // Wrappers often repeat their cause's words: say each thing once.
        if !text.ends_with(&c_text) {
            text.push_str(": ");
            text.push_str(&c_text);
        }
        cause = c.source();
    }
    text
}

fn run(args: Args) -> Result<(), String> {
    let mut config =
        ManagerConfig::sqlite(&args.db).max_state_bytes(args.max_state_bytes).max_clock_skew(args.max_clock_skew);
    match args.node_id {
        Some(id) => config = config.node_id(id),
        // A new database gets a readable node id; an existing one keeps its own.
        None if !args.db.exists() => config = config.node_id("hub"),
        None => {}
    }
    let manager = Arc::new(
        SyncManager::open(config).map_err(|e| format!("cannot open {}: {}", args.db.display(), with_causes(&e)))?,
    );
    let node_id = manager.node_id().map_err(|e| with_causes(&e))?;
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        max_connections: args.max_connections,
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        request_timeout: args.request_timeout,
        ..Limits::default()
    };
    let mut hub = Hub::new(manager.clone()).max_batch(args.max_batch).limits(limits);
    let token = args.token.filter(|t| !t.is_empty());
    let auth = token.is_some();
    if let Some(token) = token {
        hub = hub.authorize(bearer_token(token));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {}", with_causes(&e)))?;
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {}", args.listen, with_causes(&e)))?;
        let addr = listener.local_addr().map_err(|e| with_causes(&e))?;
        println!(
            "statesync-hub listening on http://{addr} (node {node_id:?}, db {}, auth {})",
            args.db.display(),
            if auth { "bearer token" } else { "none" }
        );
        let _ = std::io::stdout().flush();
        hub.serve_with_shutdown(listener, shutdown_signal())
            .await
            .map_err(|e| format!("server failed: {}", with_causes(&e)))
    });
    // Requests in flight have finished: nothing uses the manager any more.
    let closed = manager.close().map_err(|e| format!("cannot close {}: {}", args.db.display(), with_causes(&e)));
    served.and(closed)?;
    println!("statesync-hub stopped");
    Ok(())
}

/// Completes on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_libraries_defaults() {
        let args = Args::try_parse_from(["statesync-hub", "--db", "x.db"]).unwrap();
        assert_eq!(args.max_clock_skew, statesync::DEFAULT_MAX_CLOCK_SKEW);
        let limits = Limits::default();
        assert_eq!(
            (args.header_timeout, args.idle_timeout, args.request_timeout),
            (limits.header_timeout, limits.idle_timeout, limits.request_timeout)
        );
        assert!(Args::try_parse_from(["statesync-hub", "--db", "x.db", "--max-batch", "0"]).is_err());
    }

    #[test]
    fn causes_are_printed_once_each() {
        let io = std::io::Error::other("disk I/O error");
        let e = statesync::SyncError::Storage { message: "loading the replica".into(), source: Some(Box::new(io)) };
        assert_eq!(with_causes(&e), "storage error: loading the replica: disk I/O error");
    }
}
