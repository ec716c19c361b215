//! `statesync-hub`: serves one SQLite replica over the HTTP sync protocol.
//!
//! ```text
//! statesync-hub --db PATH [--listen 127.0.0.1:7878] [--node-id hub] [--token TOKEN] [--max-batch N]
//! ```
//!
//! Prints one line once it listens (`statesync-hub listening on http://ADDR ...`, with the
//! bound address, so `--listen 127.0.0.1:0` can be used), and stops cleanly on SIGTERM or
//! ctrl-c: requests in flight finish, then the database is closed.

use statesync::{ManagerConfig, SyncManager};
use statesync_hub::{bearer_token, Hub, DEFAULT_MAX_BATCH};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str = "usage: statesync-hub --db PATH [--listen ADDR] [--node-id ID] [--token TOKEN] [--max-batch N]

  --db PATH        SQLite database of the hub's replica (created if missing)
  --listen ADDR    address to listen on (default 127.0.0.1:7878; port 0 picks a free one)
  --node-id ID     the hub's node id (default: the stored one, or \"hub\" for a new database)
  --token TOKEN    require `Authorization: Bearer TOKEN` on every request
                   (default: the STATESYNC_HUB_TOKEN environment variable, if set)
  --max-batch N    largest page served or accepted (default 1000)";

struct Args {
    db: PathBuf,
    listen: String,
    node_id: Option<String>,
    token: Option<String>,
    max_batch: usize,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut db, mut listen, mut node_id, mut token, mut max_batch) =
        (None, "127.0.0.1:7878".to_owned(), None, std::env::var("STATESYNC_HUB_TOKEN").ok(), DEFAULT_MAX_BATCH);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--db" => db = Some(PathBuf::from(value)),
            "--listen" => listen = value,
            "--node-id" => node_id = Some(value),
            "--token" => token = Some(value),
            "--max-batch" => {
                max_batch = value.parse().ok().filter(|n| *n > 0).ok_or("--max-batch needs a positive number")?;
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    let db = db.ok_or("--db is required")?;
    Ok(Args { db, listen, node_id, token: token.filter(|t| !t.is_empty()), max_batch })
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("statesync-hub: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("statesync-hub: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let mut config = ManagerConfig::sqlite(&args.db);
    match args.node_id {
        Some(id) => config = config.node_id(id),
        // A new database gets a readable node id; an existing one keeps its own.
        None if !args.db.exists() => config = config.node_id("hub"),
        None => {}
    }
    let manager = Arc::new(SyncManager::open(config).map_err(|e| format!("cannot open {}: {e}", args.db.display()))?);
    let node_id = manager.node_id().map_err(|e| e.to_string())?;
    let mut hub = Hub::new(manager.clone()).max_batch(args.max_batch);
    let auth = args.token.is_some();
    if let Some(token) = args.token {
        hub = hub.authorize(bearer_token(token));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        println!(
            "statesync-hub listening on http://{addr} (node {node_id:?}, db {}, auth {})",
            args.db.display(),
            if auth { "bearer token" } else { "none" }
        );
        let _ = std::io::stdout().flush();
        hub.serve_with_shutdown(listener, shutdown_signal()).await.map_err(|e| format!("server failed: {e}"))
    });
    // Requests in flight have finished: nothing uses the manager any more.
    let closed = manager.close().map_err(|e| format!("cannot close {}: {e}", args.db.display()));
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
