//! `statesync-hub`: serves one SQLite replica over the HTTP sync protocol.
//!
//! ```text
//! statesync-hub --db PATH [--listen 127.0.0.1:7878] [--node-id hub] [--token-file PATH] ...
//! ```
//!
//! Every flag can also come from an environment variable (`STATESYNC_HUB_<FLAG>`, such as
//! `STATESYNC_HUB_MAX_BATCH`) or from a TOML file named by `--config` (keys are the flags' long
//! names: `max-batch = 500`); the command line wins over the environment, which wins over the
//! file, which wins over the built-in defaults. The token never comes from the command line.
//!
//! Prints one line on stdout once it listens (`statesync-hub listening on http://ADDR ...`,
//! with the bound address, so `--listen 127.0.0.1:0` can be used); logs go to stderr. Stops
//! cleanly on SIGTERM or ctrl-c: requests in flight finish, then the database is closed.
//! `--help` lists every flag.

use axum::http::HeaderValue;
use statesync::{ManagerConfig, SyncManager};
use statesync_hub::{bearer_token, Hub, Limits};
use std::error::Error;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
mod settings;

use settings::{init_logs, parse, token, Args, UsageError};

fn main() -> ExitCode {
    let (args, matches) = match parse(std::env::args_os().collect()) {
        Ok(Ok(parsed)) => parsed,
        // `--help` and `--version` exit 0, usage errors 2.
        Ok(Err(clap_outcome)) => clap_outcome.exit(),
        Err(UsageError(message)) => {
            eprintln!("statesync-hub: {message}");
            return ExitCode::from(2);
        }
    };
    let token = match token(&args, &matches) {
        Ok(token) => token,
        Err(UsageError(message)) => {
            eprintln!("statesync-hub: {message}");
            return ExitCode::from(2);
        }
    };
    init_logs(&args);
    match run(args, token) {
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

fn run(args: Args, token: Option<String>) -> Result<(), String> {
    // Required by clap, from the command line, the environment or the config file.
    let db = args.db.clone().ok_or("--db PATH is required")?;
    let mut config =
        ManagerConfig::sqlite(&db).max_state_bytes(args.max_state_bytes).max_clock_skew(args.max_clock_skew);
    match args.node_id {
        Some(id) => config = config.node_id(id),
        // A new database gets a readable node id; an existing one keeps its own.
        None if !db.exists() => config = config.node_id("hub"),
        None => {}
    }
    let manager =
        Arc::new(SyncManager::open(config).map_err(|e| format!("cannot open {}: {}", db.display(), with_causes(&e)))?);
    let node_id = manager.node_id().map_err(|e| with_causes(&e))?;
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        max_connections: args.max_connections,
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        request_timeout: args.request_timeout,
        ..Limits::default()
    };
    let origins = args.cors_origin.iter().map(|o| HeaderValue::from_str(o).expect("checked by the value parser"));
    let mut hub =
        Hub::new(manager.clone()).max_batch(args.max_batch).limits(limits).metrics(args.metrics).cors_origins(origins);
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
        let shutdown =
            shutdown_signal().map_err(|e| format!("cannot install the signal handlers: {}", with_causes(&e)))?;
        println!(
            "statesync-hub listening on http://{addr} (node {node_id:?}, db {}, auth {})",
            db.display(),
            if auth { "bearer token" } else { "none" }
        );
        let _ = std::io::stdout().flush();
        tracing::info!(%addr, node = %node_id, metrics = args.metrics, cors_origins = ?args.cors_origin, "listening");
        hub.serve_with_shutdown(listener, async {
            shutdown.await;
            tracing::info!("shutting down: finishing the requests in flight");
        })
        .await
        .map_err(|e| format!("server failed: {}", with_causes(&e)))
    });
    // Requests in flight have finished: nothing uses the manager any more.
    let closed = manager.close().map_err(|e| format!("cannot close {}: {}", db.display(), with_causes(&e)));
    served.and(closed)?;
    tracing::info!("stopped");
    println!("statesync-hub stopped");
    Ok(())
}

/// A future that completes on ctrl-c or SIGTERM. The handlers are installed here, at once (call
/// it inside the runtime, before announcing the address): a signal that arrives as soon as a
/// supervisor has read the start line must start the drain, not kill the process outright.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// A future that completes on ctrl-c.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_printed_once_each() {
        let io = std::io::Error::other("disk I/O error");
        let e = statesync::SyncError::Storage { message: "loading the replica".into(), source: Some(Box::new(io)) };
        assert_eq!(with_causes(&e), "storage error: loading the replica: disk I/O error");
    }
}
