//! # statesync-hub
//!
//! A sync hub: serves the HTTP sync protocol of `docs/protocol.md` to many clients, each in the
//! spaces it may reach (docs/design.md §10), from a [`Store`] that keeps every space's states
//! and feed on SQLite ([`SqliteStore`], one process) or PostgreSQL ([`PostgresStore`], shared by
//! several hub processes). Clients run ordinary sync rounds against it (`statesync::HttpTransport`
//! with `.space(...)` and `.token(...)`, or any implementation of the protocol); the hub answers
//! pulls from a space's feed and applies pushes with the core's merge rules, checking each state
//! against the caller's grants and the rules file.
//!
//! With [`backup`], every space is backed up on its own to object storage (the binary's
//! `--backup-to URL`), where any client restores it with the core's `restore_backup`.
//!
//! Every store call runs on tokio's blocking pool, so a slow disk or database never stalls the
//! async workers that parse and answer requests.
//!
//! Mount the hub in your own axum server in a few lines:
//!
//! ```no_run
//! use statesync_hub::{Hub, SqliteStore};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = SqliteStore::open("hub.db")?;
//! let hub = Hub::new(store).authorize(statesync_hub::bearer_token("secret"));
//! let app = axum::Router::new().nest("/sync", hub.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7878").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod access;
mod api_error;
mod auth;
pub mod backup;
mod handlers;
pub mod identity;
mod limits;
mod ops;
pub mod rules;
mod serve;
pub mod store;

pub use access::DEFAULT_SPACE;
pub use auth::bearer_token;
pub use limits::{Limits, DEFAULT_MAX_BATCH};
pub use store::{
    PostgresStore, PullScope, PulledPage, PushOutcome, PushPolicy, SpaceExport, SpaceHead, SqliteStore, Store,
};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use identity::{JwtVerifier, SpaceId};
use rules::Rules;
use statesync::{ConflictStrategy, SyncCapabilities, SyncError, PROTOCOL_VERSION};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The application's authorization hook: it sees every request's headers before anything else
/// happens, and either lets the request through or refuses it with a status and a message.
pub type AuthorizeFn = dyn Fn(&HeaderMap) -> Result<(), (StatusCode, String)> + Send + Sync;

/// A sync hub: a [`Store`] of spaces served over HTTP. Build it, then take its [`Hub::router`]
/// or run it with [`Hub::serve`].
#[derive(Clone)]
pub struct Hub {
    store: Arc<dyn Store>,
    authorize: Option<Arc<AuthorizeFn>>,
    /// How callers' access to each space is decided.
    gate: access::Gate,
    /// Shared spaces, quotas and schemas (`--rules`).
    rules: Arc<Rules>,
    /// The conflict strategy of each collection; last-writer-wins for the others.
    strategies: Arc<HashMap<String, ConflictStrategy>>,
    max_state_bytes: usize,
    max_clock_skew: Duration,
    max_batch: usize,
    limits: Limits,
    /// Decoded request bodies in flight, in `handlers::BUDGET_UNIT`s (see `Limits`).
    decode_budget: Arc<Semaphore>,
    /// The Prometheus metrics, when [`Hub::metrics`] enabled them.
    metrics: Option<Arc<ops::Metrics>>,
    /// Origins a browser app may call the hub from ([`Hub::cors_origins`]); none: no CORS layer.
    cors_origins: Vec<HeaderValue>,
}

impl Hub {
    /// A hub serving the spaces of `store`, open to every client (each reaching every space)
    /// until [`Hub::authorize`] or [`Hub::jwt`] say otherwise, within the default [`Limits`].
    pub fn new(store: impl Store) -> Hub {
        Hub::shared(Arc::new(store))
    }

    /// [`Hub::new`] for a store shared with other code.
    pub fn shared(store: Arc<dyn Store>) -> Hub {
        Hub {
            store,
            authorize: None,
            gate: access::Gate::Shared,
            rules: Arc::new(Rules::default()),
            strategies: Arc::new(HashMap::new()),
            max_state_bytes: statesync::DEFAULT_MAX_STATE_BYTES,
            max_clock_skew: statesync::DEFAULT_MAX_CLOCK_SKEW,
            max_batch: DEFAULT_MAX_BATCH,
            decode_budget: budget(&Limits::default()),
            limits: Limits::default(),
            metrics: None,
            cors_origins: Vec::new(),
        }
    }

    /// Identifies callers by bearer JWTs checked with `verifier`: a caller reaches its own
    /// space `user:<sub>`, the spaces its token's `spaces` claim grants and the shared spaces
    /// of the rules ([`Hub::rules`]); any other space is 403 `FORBIDDEN`, a request without a
    /// valid token 401 `UNAUTHORIZED`. Pulls serve only the collections the caller may read;
    /// pushed states of collections it may not write are refused one by one (`FORBIDDEN`).
    pub fn jwt(mut self, verifier: JwtVerifier) -> Hub {
        self.gate = access::Gate::Jwt(Box::new(verifier));
        self
    }

    /// Applies a rules file: its shared spaces (with [`Hub::jwt`]), its per-space quotas and its
    /// JSON Schemas, checked on every pushed state whoever pushes it.
    pub fn rules(mut self, rules: Rules) -> Hub {
        self.rules = Arc::new(rules);
        self
    }

    /// Settles concurrent versions of `collection` with `strategy` instead of last-writer-wins.
    /// Only strategies that settle without a write of the hub's own are possible on a hub:
    /// `MergeFields` and custom resolvers; `LocalWins`, `RemoteWins` and `Manual` are
    /// `INVALID_INPUT` (the hub writes nothing itself, and has nobody to ask).
    pub fn strategy(mut self, collection: &str, strategy: ConflictStrategy) -> statesync::Result<Hub> {
        statesync::validate_collection(collection).map_err(SyncError::InvalidInput)?;
        match strategy {
            ConflictStrategy::LastWriteWins | ConflictStrategy::MergeFields | ConflictStrategy::Custom(_) => {}
            other => {
                return Err(SyncError::InvalidInput(format!(
                    "a hub cannot settle conflicts with {other:?}: it writes nothing of its own (use last-writer-wins, \
                     MergeFields or a custom resolver)"
                )))
            }
        }
        Arc::make_mut(&mut self.strategies).insert(collection.to_owned(), strategy);
        Ok(self)
    }

    /// Sets the largest state accepted, in bytes of canonical JSON data (default 1 MiB, as a
    /// replica's): a larger one is refused `INVALID_STATE`, as a replica refuses it.
    pub fn max_state_bytes(mut self, bytes: usize) -> Hub {
        self.max_state_bytes = bytes.max(1);
        self
    }

    /// Sets how far ahead of the hub's clock a pushed state's timestamp may be (default one
    /// hour, as a replica's).
    pub fn max_clock_skew(mut self, skew: Duration) -> Hub {
        self.max_clock_skew = skew;
        self
    }

    /// Serves Prometheus metrics at `GET /metrics` (unauthenticated, like the probes: keep the
    /// port private or filter the path at the proxy): requests by route and status, a latency
    /// histogram by route, states pulled, pushed, applied and rejected, and store errors.
    /// Without it, `/metrics` is not served (404).
    pub fn metrics(mut self, enabled: bool) -> Hub {
        self.metrics = enabled.then(|| Arc::new(ops::Metrics::new()));
        self
    }

    /// Lets browser apps served from `origins` (such as `https://app.example.com`: scheme, host
    /// and port, no path) call the hub: CORS answers for GET and POST with the headers the
    /// clients send (`Authorization`, `Content-Type`, `Accept`, `Content-Encoding`). Preflight
    /// requests are answered before the authorization hook, which they never pass (they carry
    /// no token). Any other origin gets no `Access-Control-Allow-Origin`, so browsers refuse it.
    pub fn cors_origins(mut self, origins: impl IntoIterator<Item = HeaderValue>) -> Hub {
        self.cors_origins = origins.into_iter().collect();
        self
    }

    /// Installs the authorization hook, called with the headers of every request (the client
    /// sends its configured headers, such as `Authorization`, on each one). An `Err((status,
    /// message))` answers the request with that status and a typed error body; see
    /// [`bearer_token`] for the usual check.
    pub fn authorize(
        mut self,
        hook: impl Fn(&HeaderMap) -> Result<(), (StatusCode, String)> + Send + Sync + 'static,
    ) -> Hub {
        self.authorize = Some(Arc::new(hook));
        self
    }

    /// Sets the largest page served, and the most states a push may carry (advertised as
    /// `max_batch`; at least 1). A larger push is answered 413 `INVALID_INPUT`.
    pub fn max_batch(mut self, max_batch: usize) -> Hub {
        self.max_batch = max_batch.max(1);
        self
    }

    /// Sets every bound on requests and connections at once (see [`Limits`]); values out of
    /// range are brought into it ([`Limits::normalized`]).
    pub fn limits(mut self, limits: Limits) -> Hub {
        self.limits = limits.normalized();
        self.decode_budget = budget(&self.limits);
        self
    }

    /// Sets the largest request body accepted, compressed or decoded, and the largest pull
    /// answer ([`Limits::max_body_bytes`]); a larger body is answered `413`.
    pub fn body_limit(self, bytes: usize) -> Hub {
        let limits = Limits { max_body_bytes: bytes, ..self.limits.clone() };
        self.limits(limits)
    }

    /// The store this hub serves.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The bounds this hub serves within.
    pub fn current_limits(&self) -> &Limits {
        &self.limits
    }

    /// What the hub advertises at `GET /v1/spaces/{space}/capabilities` (`GET
    /// /v1/capabilities` for the space `default`): the node id is the space's own (see
    /// `docs/protocol.md`), so a client keeps one cursor per space.
    pub fn capabilities(&self, space: &SpaceId) -> SyncCapabilities {
        SyncCapabilities {
            protocol: PROTOCOL_VERSION,
            node_id: access::space_node_id(self.store.node_id(), space),
            scoped_sync: true,
            binary: true,
            zstd: cfg!(feature = "zstd"),
            max_batch: Some(self.max_batch),
            max_body_bytes: Some(self.limits.max_body_bytes),
        }
    }

    /// The protocol's routes (`/v1/spaces/{space}/capabilities|pull|push`, and
    /// `/v1/capabilities`, `/v1/pull`, `/v1/push` for the space `default`) as an axum router,
    /// with the authorization hook, the body limit and the request deadline applied, and beside
    /// them, outside the hook, the probes `GET /healthz` (200 while the process answers) and
    /// `GET /readyz` (200 when the replica answers, 503 with a typed error otherwise), and
    /// `GET /metrics` when [`Hub::metrics`] enabled it. Every request is logged as a `tracing`
    /// event; the CORS layer of [`Hub::cors_origins`] wraps it all. Nest it under any prefix.
    /// Mounted in a server of your own, the connection bounds of [`Limits`] (connections,
    /// header and idle timeouts) are that server's to set.
    pub fn router(self) -> Router {
        let body_limit = self.limits.max_body_bytes;
        let cors = (!self.cors_origins.is_empty()).then(|| ops::cors(&self.cors_origins));
        let metrics = self.metrics.is_some();
        let state = Arc::new(self);
        let mut router = Router::new()
            .route("/v1/capabilities", get(handlers::capabilities))
            .route("/v1/pull", post(handlers::pull))
            .route("/v1/push", post(handlers::push))
            .route("/v1/spaces/{space}/capabilities", get(handlers::capabilities))
            .route("/v1/spaces/{space}/pull", post(handlers::pull))
            .route("/v1/spaces/{space}/push", post(handlers::push))
            .fallback(handlers::not_found)
            .method_not_allowed_fallback(handlers::method_not_allowed)
            .layer(axum::middleware::from_fn_with_state(state.clone(), handlers::authorize))
            .layer(axum::extract::DefaultBodyLimit::max(body_limit))
            .layer(axum::middleware::from_fn_with_state(state.clone(), handlers::deadline))
            // Added after the layers above, so outside the authorization hook.
            .route("/healthz", get(ops::healthz))
            .route("/readyz", get(ops::readyz));
        if metrics {
            router = router.route("/metrics", get(ops::metrics));
        }
        let router = router.layer(axum::middleware::from_fn_with_state(state.clone(), ops::observe)).with_state(state);
        match cors {
            // Outermost: a preflight is answered before anything else runs.
            Some(cors) => router.layer(cors),
            None => router,
        }
    }

    /// Serves the protocol on `listener` until the process ends or the server fails, within
    /// every bound of [`Limits`].
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        self.serve_with_shutdown(listener, std::future::pending()).await
    }

    /// Serves the protocol on `listener` until `shutdown` completes, then finishes the requests
    /// in flight and returns.
    pub async fn serve_with_shutdown(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let limits = self.limits.clone();
        serve::serve(listener, self.router(), limits, shutdown).await
    }
}

fn budget(limits: &Limits) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(limits.decode_budget_bytes.div_ceil(handlers::BUDGET_UNIT)))
}

/// The README's examples, compiled as doctests so the README stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The examples of `docs/protocol.md` (the minimal server), compiled as doctests.
#[doc = include_str!("../../docs/protocol.md")]
#[cfg(doctest)]
pub struct ProtocolDoctests;
