//! `statesync-hub`: serves the spaces of a store (SQLite or PostgreSQL) over the HTTP sync
//! protocol.
//!
//! ```text
//! statesync-hub --store sqlite:PATH|postgres://... [--listen 127.0.0.1:7878]
//!               [--token-file PATH | --jwt-hs256-secret-file PATH | --jwt-public-key PEM] [--rules PATH] ...
//! ```
//!
//! Every flag can also come from an environment variable (`STATESYNC_HUB_<FLAG>`, such as
//! `STATESYNC_HUB_MAX_BATCH`) or from a TOML file named by `--config` (keys are the flags' long
//! names: `max-batch = 500`); the command line wins over the environment, which wins over the
//! file, which wins over the built-in defaults. The token never comes from the command line.
//!
//! Prints one line on stdout once it listens (`statesync-hub listening on http://ADDR ...`,
//! with the bound address, so `--listen 127.0.0.1:0` can be used); logs go to stderr. Stops
//! cleanly on SIGTERM or ctrl-c: requests in flight and a backup in progress finish, then the
//! store is closed.
//!
//! With `--backup-to URL`, every space is backed up under `URL/SPACE/` every `--backup-every`
//! (spaces unchanged since their last backup are skipped), keeping `--backup-keep` backups per
//! space, encrypted with the key of `--backup-key-file` when given (statesync_hub::backup).
//! `--help` lists every flag.

use axum::http::HeaderValue;
use statesync_hub::backup::{self, BackupConfig, Backups};
use statesync_hub::identity::JwtVerifier;
use statesync_hub::rules::Rules;
use statesync_hub::{bearer_token, Hub, Limits, Store};
use statesync_hub::{PostgresStore, SqliteStore};
use std::error::Error;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
mod settings;

use settings::{init_logs, jwt_secret, parse, token, Args, UsageError};

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
    let access = match token(&args, &matches).and_then(|t| access(&args, &matches, t)) {
        Ok(access) => access,
        Err(UsageError(message)) => {
            eprintln!("statesync-hub: {message}");
            return ExitCode::from(2);
        }
    };
    let backups = match backup_config(&args, &matches) {
        Ok(backups) => backups,
        Err(UsageError(message)) => {
            eprintln!("statesync-hub: {message}");
            return ExitCode::from(2);
        }
    };
    init_logs(&args);
    match run(args, access, backups) {
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

/// How callers are told apart: nobody (an open hub), one shared token, or JWTs.
enum Access {
    Open,
    Token(String),
    Jwt(Box<JwtVerifier>),
}

/// The access the flags configure: at most one of the token and the JWT keys.
fn access(args: &Args, matches: &clap::ArgMatches, token: Option<String>) -> Result<Access, UsageError> {
    let secret = jwt_secret(args, matches)?;
    let verifier = match (secret, &args.jwt_public_key) {
        (Some(_), Some(_)) => {
            return Err(UsageError("give either --jwt-hs256-secret(-file) or --jwt-public-key, not both".into()))
        }
        (Some(secret), None) => Some(JwtVerifier::hs256(secret.as_bytes()).map_err(|e| UsageError(e.0))?),
        (None, Some(path)) => {
            let pem = std::fs::read(path).map_err(|e| {
                UsageError(format!("cannot read the JWT public key {}: {}", path.display(), with_causes(&e)))
            })?;
            Some(JwtVerifier::public_key_pem(&pem).map_err(|e| UsageError(format!("{}: {}", path.display(), e.0)))?)
        }
        (None, None) => None,
    };
    match (token, verifier) {
        (Some(_), Some(_)) => Err(UsageError(
            "give either a shared --token or JWT keys, not both (a JWT hub gives each user their own spaces)".into(),
        )),
        (Some(token), None) => Ok(Access::Token(token)),
        // Empty lists (no --jwt-issuer, no --jwt-audience) check nothing: JwtVerifier::issuer.
        (None, Some(verifier)) => {
            Ok(Access::Jwt(Box::new(verifier.issuer(&args.jwt_issuer).audience(&args.jwt_audience))))
        }
        (None, None) if !args.jwt_issuer.is_empty() || !args.jwt_audience.is_empty() => Err(UsageError(
            "--jwt-issuer and --jwt-audience need JWT keys (--jwt-hs256-secret-file or --jwt-public-key)".into(),
        )),
        (None, None) => Ok(Access::Open),
    }
}

/// The backups the `--backup-*` flags configure: none without `--backup-to` (then the other
/// backup flags, set anywhere, are a usage error). The URL is checked here, so a bad one stops
/// the hub before it starts.
fn backup_config(args: &Args, matches: &clap::ArgMatches) -> Result<Option<BackupConfig>, UsageError> {
    use clap::parser::ValueSource;
    let Some(url) = args.backup_to.clone().filter(|u| !u.is_empty()) else {
        let set = ["backup_every", "backup_keep", "backup_key_file"]
            .into_iter()
            .find(|id| matches.value_source(id).is_some_and(|s| s != ValueSource::DefaultValue));
        return match set {
            Some(id) => Err(UsageError(format!("--{} needs --backup-to URL", id.replace('_', "-")))),
            None => Ok(None),
        };
    };
    statesync::ObjectStorage::open(&url)
        .map_err(|e| UsageError(format!("--backup-to: {}: {}", e.code(), e.message())))?;
    let key = match &args.backup_key_file {
        Some(path) => Some(backup::read_key_file(path).map_err(UsageError)?),
        None => None,
    };
    Ok(Some(BackupConfig { url, every: args.backup_every, keep: args.backup_keep, key }))
}

/// Opens the store `--store` names: `sqlite:PATH` (or a bare path), or a `postgres://` URL.
fn open_store(spec: &str, pool_size: usize) -> Result<(Arc<dyn Store>, String), String> {
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        let store = PostgresStore::connect(spec, u32::try_from(pool_size).unwrap_or(u32::MAX))
            .map_err(|e| format!("cannot open the PostgreSQL store: {}", with_causes(&e)))?;
        // Never the URL itself in the start line: it may carry a password.
        return Ok((Arc::new(store), "postgres".to_owned()));
    }
    let path = std::path::Path::new(spec.strip_prefix("sqlite:").unwrap_or(spec));
    let store = SqliteStore::open(path).map_err(|e| format!("cannot open {}: {}", path.display(), with_causes(&e)))?;
    Ok((Arc::new(store), format!("sqlite {}", path.display())))
}

fn run(args: Args, access: Access, backups: Option<BackupConfig>) -> Result<(), String> {
    // Required by clap, from the command line, the environment or the config file.
    let spec = args.store.clone().ok_or("--store is required")?;
    let rules = match &args.rules {
        Some(path) => Some(Rules::load(path).map_err(|e| e.0)?),
        None => None,
    };
    let (store, described) = open_store(&spec, args.store_pool_size)?;
    let node_id = store.node_id().to_owned();
    let backups = match backups {
        Some(config) => Some(Arc::new(
            Backups::new(store.clone(), config).map_err(|e| format!("--backup-to: {}: {}", e.code(), e.message()))?,
        )),
        None => None,
    };
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        max_connections: args.max_connections,
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        request_timeout: args.request_timeout,
        ..Limits::default()
    };
    let origins = args.cors_origin.iter().map(|o| HeaderValue::from_str(o).expect("checked by the value parser"));
    let mut hub = Hub::shared(store)
        .max_batch(args.max_batch)
        .max_state_bytes(args.max_state_bytes)
        .max_clock_skew(args.max_clock_skew)
        .limits(limits)
        .metrics(args.metrics)
        .cors_origins(origins);
    if let Some(rules) = rules {
        hub = hub.rules(rules);
    }
    let auth = match access {
        Access::Open => "none",
        Access::Token(token) => {
            hub = hub.authorize(bearer_token(token));
            "bearer token"
        }
        Access::Jwt(verifier) => {
            hub = hub.jwt(*verifier);
            "jwt"
        }
    };
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
        println!("statesync-hub listening on http://{addr} (node {node_id:?}, store {described}, auth {auth})");
        let _ = std::io::stdout().flush();
        tracing::info!(%addr, node = %node_id, metrics = args.metrics, cors_origins = ?args.cors_origin, "listening");
        // Told when the server stops (or dropped with it, if it fails): the backups stop too.
        let (stop_backups, stopped) = tokio::sync::watch::channel(false);
        let backup_task = backups.map(|backups| {
            tracing::info!(config = ?backups.config(), "backing the spaces up");
            let mut stopped = stopped.clone();
            tokio::spawn(backup::run(backups, async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }))
        });
        let served = hub
            .serve_with_shutdown(listener, async move {
                shutdown.await;
                tracing::info!("shutting down: finishing the requests in flight");
                let _ = stop_backups.send(true);
            })
            .await
            .map_err(|e| format!("server failed: {}", with_causes(&e)));
        if let Some(task) = backup_task {
            // A backup in progress finishes before the store closes.
            if task.await.is_err() {
                tracing::error!("the backup task panicked");
            }
        }
        served
    });
    // Requests in flight have finished; the store closes as the hub drops it.
    served?;
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
