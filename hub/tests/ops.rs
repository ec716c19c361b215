//! The operations routes and layers of `Hub::router()` against an in-process hub on 127.0.0.1:
//! the probes (outside the authorization hook; readiness failing once the store fails, on
//! SQLite and on PostgreSQL),
//! Prometheus metrics (counted per route and status, states pulled, pushed and rejected; absent
//! without `.metrics(true)`), and CORS (preflight answered before the hook, allow headers only
//! for a listed origin).

use axum::http::HeaderValue;
use serde_json::{json, Value};
use statesync::{CreateOptions, HttpTransport, SyncContext};
use statesync_hub::{bearer_token, Hub};
use std::time::Duration;

mod support;
use support::{host, memory, Closable, Hosted, Kind, TestStore};

on_both_stores!(probes_answer_without_the_token_and_readiness_follows_the_store);

/// A hub on a fresh SQLite store, made by `build` of a plain one.
fn sqlite_hub(build: impl FnOnce(Hub) -> Hub) -> Hosted {
    host(Kind::Sqlite, build)
}

/// An answer: status, headers (lower-case names) and body text.
struct Answer {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("text"))
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut response = agent.run(builder.body(body.to_owned()).expect("request")).expect("answer");
    let body = response.body_mut().read_to_string().expect("body");
    Answer { status: response.status().as_u16(), headers: response.headers().clone(), body }
}

fn get(url: &str) -> Answer {
    request("GET", url, &[], "")
}

fn probes_answer_without_the_token_and_readiness_follows_the_store(kind: Kind) {
    let served = host(kind, |hub| hub.authorize(bearer_token("s3cret")));
    let health = get(&format!("{}/healthz", served.url));
    assert_eq!(health.status, 200, "{}", health.body);
    let ready = get(&format!("{}/readyz", served.url));
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json(), json!({"status": "ready"}));
    // The protocol itself still wants the token.
    assert_eq!(get(&format!("{}/v1/capabilities", served.url)).status, 401);
    // Only GET is served on a probe.
    assert_eq!(request("POST", &format!("{}/healthz", served.url), &[], "").status, 405);

    // The store is lost (SQLite's tables, PostgreSQL's database): not ready.
    served.break_store();
    let ready = get(&format!("{}/readyz", served.url));
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.json()["error"]["code"], "STORAGE");
    assert_eq!(ready.header("retry-after"), Some("1"));
    assert_eq!(get(&format!("{}/healthz", served.url)).status, 200, "the process still runs");
}

#[test]
fn readiness_fails_while_the_store_is_closed() {
    let store = TestStore::new(Kind::Sqlite);
    let closable = Closable::new(store.store.clone());
    let served = support::serve(Hub::shared(closable.clone()));
    assert_eq!(get(&format!("{}/readyz", served.url)).status, 200);
    closable.close();
    let ready = get(&format!("{}/readyz", served.url));
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.json()["error"]["code"], "CLOSED");
    assert_eq!(ready.header("retry-after"), Some("1"));
    assert_eq!(get(&format!("{}/healthz", served.url)).status, 200, "the process still runs");
}

#[test]
fn probes_are_served_under_a_nested_prefix() {
    let dir = tempfile::tempdir().expect("dir");
    let hub = Hub::new(statesync_hub::SqliteStore::open(dir.path().join("hub.db")).expect("store"));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let url = format!("http://{}/sync", listener.local_addr().expect("addr"));
    let app = axum::Router::new().nest("/sync", hub.router());
    runtime.spawn(async move { axum::serve(listener, app).await });
    assert_eq!(get(&format!("{url}/healthz")).status, 200);
    assert_eq!(get(&format!("{url}/readyz")).status, 200);
    assert_eq!(get(&format!("{url}/metrics")).status, 404, "metrics are off by default");
}

/// The value of the sample `name` (with its labels, as printed) in a Prometheus text answer.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn metrics_count_requests_and_states_and_are_absent_unless_enabled() {
    let off = sqlite_hub(|hub| hub);
    let answer = get(&format!("{}/metrics", off.url));
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json()["error"]["code"], "NOT_FOUND");

    let served = sqlite_hub(|hub| hub.max_state_bytes(100).metrics(true));
    let client = memory("client");
    for i in 0..3 {
        client.create_state(json!({"n": i}), CreateOptions::id(format!("s{i}"))).expect("create");
    }
    let transport = HttpTransport::new(&served.url).expect("url");
    client.sync_via(&transport, &SyncContext::all()).expect("round");
    // A state another writer put in the store meanwhile.
    let writer = memory("writer");
    let h = writer.create_state(json!({"from": "hub"}), CreateOptions::id("h")).expect("create");
    served.seed("default", vec![h]);
    client.sync_via(&transport, &SyncContext::all()).expect("round");
    // A push with a state the hub refuses alone (larger than its max_state_bytes).
    let other = memory("other");
    other.create_state(json!({"text": "x".repeat(500)}), CreateOptions::id("big")).expect("create");
    let page = other.changes_since(None, &SyncContext::all()).expect("changes");
    let body = String::from_utf8(statesync::encode(&page, statesync::Encoding::Json)).expect("utf-8");
    let pushed = request("POST", &format!("{}/v1/push", served.url), &[("content-type", "application/json")], &body);
    assert_eq!(pushed.status, 200, "{}", pushed.body);
    assert_eq!(pushed.json()["rejected"].as_array().map(Vec::len), Some(1), "{}", pushed.body);
    assert_eq!(get(&format!("{}/nowhere", served.url)).status, 404);

    let answer = get(&format!("{}/metrics", served.url));
    assert_eq!(answer.status, 200);
    assert!(answer.header("content-type").is_some_and(|t| t.contains("text")), "{:?}", answer.header("content-type"));
    let text = &answer.body;
    assert_eq!(sample(text, "statesync_hub_states_pushed_total"), Some(4.0), "{text}");
    assert_eq!(sample(text, "statesync_hub_states_applied_total"), Some(3.0), "{text}");
    assert_eq!(sample(text, "statesync_hub_states_rejected_total"), Some(1.0), "{text}");
    // The second round pulled the hub's own state; the first pulled nothing new.
    assert!(sample(text, "statesync_hub_states_pulled_total").is_some_and(|n| n >= 1.0), "{text}");
    assert_eq!(sample(text, "statesync_hub_store_errors_total"), Some(0.0), "{text}");
    assert_eq!(sample(text, r#"statesync_hub_requests_total{route="/v1/push",status="200"}"#), Some(2.0), "{text}");
    assert_eq!(sample(text, r#"statesync_hub_requests_total{route="other",status="404"}"#), Some(1.0), "{text}");
    assert!(sample(text, r#"statesync_hub_requests_total{route="/v1/pull",status="200"}"#).is_some(), "{text}");
    assert_eq!(sample(text, r#"statesync_hub_request_duration_seconds_count{route="/v1/push"}"#), Some(2.0), "{text}");
    assert!(text.contains(r#"statesync_hub_request_duration_seconds_bucket{le="+Inf",route="/v1/pull"}"#), "{text}");
}

const APP: &str = "http://app.test:8080";

fn cors_hub() -> Hosted {
    sqlite_hub(|hub| {
        hub.authorize(bearer_token("s3cret"))
            .cors_origins([HeaderValue::from_static(APP), HeaderValue::from_static("https://other.test")])
    })
}

#[test]
fn a_preflight_from_a_listed_origin_is_answered_before_the_authorization_hook() {
    let served = cors_hub();
    let preflight = request(
        "OPTIONS",
        &format!("{}/v1/push", served.url),
        &[
            ("origin", APP),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "authorization, content-type, content-encoding, accept"),
        ],
        "",
    );
    assert_eq!(preflight.status, 200, "{}", preflight.body);
    assert_eq!(preflight.header("access-control-allow-origin"), Some(APP));
    let methods = preflight.header("access-control-allow-methods").expect("methods").to_ascii_uppercase();
    assert!(methods.contains("GET") && methods.contains("POST"), "{methods}");
    let allowed = preflight.header("access-control-allow-headers").expect("headers").to_ascii_lowercase();
    for name in ["authorization", "content-type", "accept", "content-encoding"] {
        assert!(allowed.contains(name), "{name} in {allowed}");
    }
    assert!(preflight.header("access-control-max-age").is_some());
}

#[test]
fn simple_requests_carry_the_allow_header_only_for_a_listed_origin() {
    let served = cors_hub();
    let url = format!("{}/v1/pull", served.url);
    let body = r#"{"format":1,"cursor":null}"#;
    let auth = ("authorization", "Bearer s3cret");
    let listed = request("POST", &url, &[("origin", APP), auth], body);
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.header("access-control-allow-origin"), Some(APP));
    let vary: Vec<_> = listed.headers.get_all("vary").iter().map(|v| v.to_str().expect("text").to_owned()).collect();
    assert!(vary.iter().any(|v| v.to_ascii_lowercase().contains("origin")), "{vary:?}");
    // A refusal by the hook is readable by the app too: it can tell a bad token from a network error.
    let refused = request("POST", &url, &[("origin", APP)], body);
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("access-control-allow-origin"), Some(APP));

    let stranger = request("POST", &url, &[("origin", "http://evil.test:8080"), auth], body);
    assert_eq!(stranger.status, 200, "CORS is the browser's check; the hub still answers");
    assert_eq!(stranger.header("access-control-allow-origin"), None);
    let preflight =
        request("OPTIONS", &url, &[("origin", "http://evil.test:8080"), ("access-control-request-method", "POST")], "");
    assert_eq!(preflight.header("access-control-allow-origin"), None);

    // Without origins configured there is no CORS layer at all.
    let plain = sqlite_hub(|hub| hub);
    let answer = request("POST", &format!("{}/v1/pull", plain.url), &[("origin", APP)], body);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("access-control-allow-origin"), None);
}
