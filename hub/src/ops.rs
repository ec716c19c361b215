//! What an operator needs around the protocol: liveness and readiness probes, one log event and
//! one set of metrics per request, Prometheus metrics, and CORS for browser apps on another
//! origin. None of these routes is behind the authorization hook: probes and scrapers carry no
//! token, and a CORS preflight never carries one.

use crate::handlers::{blocking, ApiError, HubState};
use crate::Hub;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use statesync::{ErrorCode, ReconciliationResult, SyncError};
use std::time::{Duration, Instant};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The routes the metrics and logs name; any other path is `other`, so a client probing random
/// paths cannot grow the label sets without bound.
const ROUTES: [&str; 6] = ["/v1/capabilities", "/v1/pull", "/v1/push", "/healthz", "/readyz", "/metrics"];

/// How long a browser may reuse a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The label of a request's path: one of [`ROUTES`], or `other`.
fn route_of(path: &str) -> &'static str {
    ROUTES.iter().find(|r| **r == path).copied().unwrap_or("other")
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

/// The hub's Prometheus metrics (served at `/metrics` when enabled).
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pulled: Counter,
    pushed: Counter,
    applied: Counter,
    rejected: Counter,
    store_errors: Counter,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 8 s: a loopback pull of a small page up to a full page on a slow disk.
    Histogram::new(exponential_buckets(0.000_5, 2.0, 15))
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        let (pulled, pushed, applied, rejected, store_errors) =
            (Counter::default(), Counter::default(), Counter::default(), Counter::default(), Counter::default());
        registry.register("statesync_hub_requests", "HTTP requests answered, by route and status", requests.clone());
        registry.register(
            "statesync_hub_request_duration_seconds",
            "Time to answer a request, by route",
            latency.clone(),
        );
        registry.register("statesync_hub_states_pulled", "States served in pull answers", pulled.clone());
        registry.register("statesync_hub_states_pushed", "States received in pushes", pushed.clone());
        registry.register(
            "statesync_hub_states_applied",
            "Pushed states that created or updated a state",
            applied.clone(),
        );
        registry.register("statesync_hub_states_rejected", "Pushed states refused alone", rejected.clone());
        registry.register("statesync_hub_store_errors", "Requests failed by the store", store_errors.clone());
        Metrics { registry, requests, latency, pulled, pushed, applied, rejected, store_errors }
    }

    fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String never fails");
        text
    }
}

impl Hub {
    /// Records a pull answer: a log event and the states counter.
    pub(crate) fn observe_pull(&self, states: usize, has_more: bool) {
        tracing::info!(states, has_more, "pull served");
        if let Some(m) = &self.metrics {
            m.pulled.inc_by(states as u64);
        }
    }

    /// Records what a push applied.
    pub(crate) fn observe_push(&self, received: usize, result: &ReconciliationResult) {
        tracing::info!(
            received,
            created = result.created,
            updated = result.updated,
            unchanged = result.unchanged,
            ignored = result.ignored,
            conflicts = result.conflicts,
            rejected = result.rejected,
            "push applied"
        );
        if let Some(m) = &self.metrics {
            m.pushed.inc_by(received as u64);
            m.applied.inc_by(result.created + result.updated);
            m.rejected.inc_by(result.rejected);
        }
    }

    /// Records a failed manager call; a store failure is logged at error level and counted.
    pub(crate) fn observe_error(&self, operation: &'static str, error: SyncError) -> SyncError {
        if error.error_code() == ErrorCode::Storage {
            tracing::error!(operation, error = %error, "store error");
            if let Some(m) = &self.metrics {
                m.store_errors.inc();
            }
        } else {
            tracing::debug!(operation, error = %error, "request refused");
        }
        error
    }
}

/// One log event and one observation per request: method, route, status, duration.
pub(crate) async fn observe(State(hub): HubState, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = route_of(request.uri().path());
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    tracing::info!(
        method = %method,
        path = route,
        status,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    if let Some(m) = &hub.metrics {
        m.requests.get_or_create(&RequestLabels { route, status }).inc();
        m.latency.get_or_create(&RouteLabels { route }).observe(elapsed.as_secs_f64());
    }
    response
}

/// `GET /healthz`: 200 while the process runs and answers.
pub(crate) async fn healthz() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], r#"{"status":"ok"}"#).into_response()
}

/// `GET /readyz`: 200 when the replica answers a cheap call, 503 with the typed error otherwise
/// (the manager closed, its lock held by a panic).
pub(crate) async fn readyz(State(hub): HubState) -> Response {
    let answered = blocking(move || hub.store.ready().map_err(|e| hub.observe_error("readyz", e).into())).await;
    match answered {
        Ok(_) => ([(header::CONTENT_TYPE, "application/json")], r#"{"status":"ready"}"#).into_response(),
        Err(e) => e.with_status(StatusCode::SERVICE_UNAVAILABLE).into_response(),
    }
}

/// `GET /metrics`: the Prometheus text exposition (only routed when metrics are enabled).
pub(crate) async fn metrics(State(hub): HubState) -> Response {
    let Some(m) = &hub.metrics else {
        return ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound.as_str(), "metrics are not enabled")
            .into_response();
    };
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], m.encode()).into_response()
}

/// The CORS layer for `origins`: GET and POST with the headers the clients send, preflights
/// answered before the authorization hook sees them.
pub(crate) fn cors(origins: &[HeaderValue]) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT, header::CONTENT_ENCODING])
        // Retry-After tells a client when to come back after a 503. Content-Encoding stays
        // hidden: the browser decodes the body itself, and the page must not decode it again.
        .expose_headers([header::RETRY_AFTER])
        .max_age(PREFLIGHT_MAX_AGE)
}
