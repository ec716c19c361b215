//! The HTTP sync protocol (docs/protocol.md) against an in-process hub on 127.0.0.1 (port 0):
//! each endpoint in each encoding, scoping and paging, every typed error, the authorization
//! hook, the body limit, push idempotency, and replicas converging through the hub with
//! `HttpTransport`.

use serde_json::{json, Value};
use statesync::{
    decode, encode, ChangeSet, CreateOptions, Encoding, HttpTransport, ManagerConfig, SyncContext, SyncError,
    SyncManager, SyncState, SyncTransport, PROTOCOL_VERSION,
};
use statesync_hub::{bearer_token, Hub};
use std::sync::Arc;
use std::time::Duration;

mod support;
use support::{memory, serve, Served};

// ---- fixtures -------------------------------------------------------------------------------

fn hub() -> Served {
    serve(Hub::new(memory("hub")))
}

fn transport(url: &str) -> HttpTransport {
    HttpTransport::new(url).expect("url").timeout(Duration::from_secs(10))
}

/// A client replica holding `n` states in `collection`.
fn client_with(node: &str, n: usize, collection: &str) -> Arc<SyncManager> {
    let m = memory(node);
    for i in 0..n {
        m.create_state(json!({"n": i, "text": "some text to make pages worth compressing"}), {
            CreateOptions::id(format!("{node}-{collection}-{i}")).in_collection(collection)
        })
        .expect("create");
    }
    m
}

fn everything(m: &SyncManager) -> ChangeSet {
    m.changes_since(None, &SyncContext::all()).expect("changes")
}

/// Every state of a replica (tombstones included), ordered by id.
fn states(m: &SyncManager) -> Vec<SyncState> {
    m.export_state().expect("export").states
}

/// An answer to a raw request.
struct Answer {
    status: u16,
    content_type: Option<String>,
    content_encoding: Option<String>,
    retry_after: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body_text()))
    }

    fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts a typed error answer and returns its message.
    fn assert_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "status of {:?}", self.body_text());
        assert_eq!(self.content_type.as_deref(), Some("application/json"));
        let body = self.json();
        assert_eq!(body["error"]["code"], code, "code of {body}");
        let message = body["error"]["message"].as_str().expect("message").to_owned();
        assert!(!message.is_empty());
        message
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn answer(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = response.expect("request");
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().expect("text").to_owned());
    let (content_type, content_encoding, retry_after) =
        (header("content-type"), header("content-encoding"), header("retry-after"));
    let body = response.body_mut().with_config().limit(u64::MAX).read_to_vec().expect("body");
    Answer { status: response.status().as_u16(), content_type, content_encoding, retry_after, body }
}

fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut request = agent().post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    answer(request.send(body))
}

fn get(url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = agent().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    answer(request.call())
}

fn pull_body(cursor: Option<&str>, collections: &[&str], limit: Option<usize>) -> Vec<u8> {
    serde_json::to_vec(&json!({"format": 1, "cursor": cursor, "collections": collections, "limit": limit})).unwrap()
}

const JSON: &str = "application/json";
const BINARY: &str = "application/vnd.statesync+binary";

// ---- capabilities ---------------------------------------------------------------------------

#[test]
fn capabilities_advertise_what_the_hub_supports() {
    let served = serve(Hub::new(memory("hub")).max_batch(250));
    let a = get(&format!("{}/v1/capabilities", served.url), &[]);
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type.as_deref(), Some(JSON));
    assert_eq!(
        a.json(),
        json!({"protocol": PROTOCOL_VERSION, "node_id": "hub", "scoped_sync": true, "binary": true,
               "zstd": cfg!(feature = "zstd"), "max_batch": 250, "max_body_bytes": 4 << 20})
    );
    let c = transport(&served.url).capabilities().expect("capabilities");
    assert_eq!((c.node_id.as_str(), c.max_batch, c.scoped_sync, c.binary), ("hub", Some(250), true, true));
}

// ---- pull and push in each encoding ---------------------------------------------------------

fn push_then_pull(encoding: Encoding) {
    let served = hub();
    let client = client_with("phone", 30, "notes");
    let t = transport(&served.url).encoding(encoding);
    t.capabilities().expect("capabilities");
    let pushed = t.push(&everything(&client)).expect("push");
    assert_eq!((pushed.created, pushed.unchanged), (30, 0));
    assert_eq!(states(&served.manager), states(&client), "the hub holds exactly what was pushed");

    let page = t.pull(None, &SyncContext::all()).expect("pull");
    assert!(!page.has_more);
    assert_eq!(page.states.len(), 30);
    let other = memory("laptop");
    other.reconcile(page.states).expect("reconcile");
    assert_eq!(states(&other), states(&client), "what was pulled is what was pushed");
}

#[test]
fn push_and_pull_json() {
    push_then_pull(Encoding::Json);
}

#[test]
fn push_and_pull_binary() {
    push_then_pull(Encoding::Binary);
}

#[test]
fn raw_pull_answers_in_the_accepted_encoding() {
    let served = hub();
    let client = client_with("phone", 5, "notes");
    served.manager.reconcile(everything(&client).states).expect("seed");
    let url = format!("{}/v1/pull", served.url);
    for (accept, expected) in [
        (None, Encoding::Json),
        (Some("*/*"), Encoding::Json),
        (Some(JSON), Encoding::Json),
        (Some(BINARY), Encoding::Binary),
        (Some("text/html, application/vnd.statesync+binary;q=0.9"), Encoding::Binary),
        (Some("application/vnd.statesync+binary;q=0, application/json"), Encoding::Json),
    ] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        let a = post(&url, &[&headers[..], &[("content-type", JSON)]].concat(), &pull_body(None, &[], None));
        assert_eq!(a.status, 200, "{}", a.body_text());
        assert_eq!(a.content_type.as_deref(), Some(expected.content_type()), "Accept {accept:?}");
        assert_eq!(a.content_encoding, None, "never compressed unless asked");
        let page: ChangeSet = decode(&a.body, expected).expect("decode");
        assert_eq!(page.states.len(), 5);
    }
    // The JSON form is the documented one.
    let a = post(&url, &[], &pull_body(None, &[], Some(1)));
    let body = a.json();
    assert_eq!(body["format"], 1);
    assert_eq!(body["has_more"], true);
    assert!(body["cursor"].is_string());
    assert_eq!(body["states"].as_array().map(Vec::len), Some(1));
}

#[cfg(feature = "zstd")]
#[test]
fn zstd_bodies_both_ways() {
    let served = hub();
    let client = client_with("phone", 40, "notes");
    let push_url = format!("{}/v1/push", served.url);
    let plain = encode(&everything(&client), Encoding::Binary);
    let a = post(&push_url, &[("content-type", BINARY), ("content-encoding", "zstd")], &statesync::compress(&plain));
    assert_eq!(a.status, 200, "{}", a.body_text());
    assert_eq!(a.json()["result"]["created"], 40);

    let pull_url = format!("{}/v1/pull", served.url);
    let a = post(&pull_url, &[("accept", JSON), ("accept-encoding", "gzip, zstd")], &pull_body(None, &[], None));
    assert_eq!(a.status, 200);
    assert_eq!(a.content_encoding.as_deref(), Some("zstd"));
    let page: ChangeSet = decode(&statesync::decompress(&a.body).expect("zstd"), Encoding::Json).expect("decode");
    assert_eq!(page.states.len(), 40);
    // `q=0` refuses a coding; a small answer is not worth compressing.
    let a = post(&pull_url, &[("accept-encoding", "zstd;q=0")], &pull_body(None, &[], None));
    assert_eq!(a.content_encoding, None);
    let a = post(&pull_url, &[("accept-encoding", "zstd")], &pull_body(None, &["nothing-here"], None));
    assert_eq!(a.content_encoding, None);

    // The client compresses when the hub advertises it.
    let other = client_with("laptop", 40, "notes");
    let t = transport(&served.url).encoding(Encoding::Binary);
    t.capabilities().expect("capabilities");
    assert_eq!(t.push(&everything(&other)).expect("push").created, 40);
    assert_eq!(t.pull(None, &SyncContext::all()).expect("pull").states.len(), 80);
    // Garbage that claims to be zstd is a typed error.
    let a = post(&push_url, &[("content-encoding", "zstd")], b"not zstd at all");
    a.assert_error(400, "CORRUPT");
}

#[test]
fn unknown_content_codings_are_415() {
    let served = hub();
    let a = post(&format!("{}/v1/push", served.url), &[("content-encoding", "br")], b"{}");
    a.assert_error(415, "UNSUPPORTED_FORMAT");
}

// ---- scope and paging -----------------------------------------------------------------------

#[test]
fn scoped_pull_serves_only_the_collections_asked_for() {
    let served = hub();
    for collection in ["notes", "prefs", "tasks"] {
        served.manager.reconcile(everything(&client_with("phone", 4, collection)).states).expect("seed");
    }
    let t = transport(&served.url);
    let page = t.pull(None, &SyncContext::collections(["prefs", "tasks"])).expect("pull");
    assert_eq!(page.states.len(), 8);
    assert!(page.states.iter().all(|s| s.collection == "prefs" || s.collection == "tasks"));
    let page = t.pull(None, &SyncContext::all()).expect("pull");
    assert_eq!(page.states.len(), 12);

    // A scoped round through the hub brings only the scope.
    let laptop = memory("laptop");
    laptop.sync_via(&t, &SyncContext::collections(["notes"])).expect("round");
    let got = states(&laptop);
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|s| s.collection == "notes"));
}

#[test]
fn pages_follow_the_limit_and_the_hub_maximum() {
    let served = serve(Hub::new(memory("hub")).max_batch(7));
    served.manager.reconcile(everything(&client_with("phone", 25, "notes")).states).expect("seed");
    let t = transport(&served.url);

    let mut cursor: Option<String> = None;
    let mut sizes = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..10 {
        let page = t.pull(cursor.as_deref(), &SyncContext::all().with_limit(5)).expect("pull");
        sizes.push((page.states.len(), page.has_more));
        seen.extend(page.states.iter().map(|s| s.id.clone()));
        cursor = Some(page.cursor);
        if !page.has_more {
            break;
        }
    }
    assert_eq!(sizes, [(5, true), (5, true), (5, true), (5, true), (5, false)]);
    assert_eq!(seen.len(), 25, "every state exactly once");

    // No limit, or a larger one, is cut to max_batch.
    let page = t.pull(None, &SyncContext::all()).expect("pull");
    assert_eq!((page.states.len(), page.has_more), (7, true));
    let page = t.pull(None, &SyncContext::all().with_limit(100)).expect("pull");
    assert_eq!(page.states.len(), 7);

    // A round pages through all of it.
    let laptop = memory("laptop");
    let report = laptop.sync_via(&t, &SyncContext::all()).expect("round");
    assert_eq!(report.pulled.created, 25);
    assert_eq!(states(&laptop), states(&served.manager));
}

// ---- typed errors ---------------------------------------------------------------------------

#[test]
fn malformed_requests_get_typed_errors() {
    let served = hub();
    let (pull, push) = (format!("{}/v1/pull", served.url), format!("{}/v1/push", served.url));
    let client = client_with("phone", 3, "notes");

    // Push bodies.
    post(&push, &[("content-type", JSON)], b"this is not json").assert_error(400, "CORRUPT");
    post(&push, &[("content-type", JSON)], br#"{"format":1,"states":[{"id":"#).assert_error(400, "CORRUPT");
    post(&push, &[("content-type", JSON)], br#"{"format":99,"states":[],"cursor":"1","has_more":false}"#)
        .assert_error(415, "UNSUPPORTED_FORMAT");
    let binary = encode(&everything(&client), Encoding::Binary);
    post(&push, &[("content-type", BINARY)], &binary[..binary.len() / 2]).assert_error(400, "CORRUPT");
    post(&push, &[("content-type", BINARY)], b"").assert_error(400, "CORRUPT");
    post(&push, &[("content-type", "text/plain")], b"{}").assert_error(415, "UNSUPPORTED_FORMAT");
    // A well-formed page holding an invalid state (its hash does not match its data): that state
    // is refused alone, and the answer says which and why.
    let mut page: Value = serde_json::from_slice(&encode(&everything(&client), Encoding::Json)).unwrap();
    page["states"][0]["hash"] = json!("0000000000000000");
    let a = post(&push, &[("content-type", JSON)], &serde_json::to_vec(&page).unwrap());
    assert_eq!(a.status, 200, "{}", a.body_text());
    let answer = a.json();
    assert_eq!((answer["result"]["created"].as_u64(), answer["result"]["rejected"].as_u64()), (Some(2), Some(1)));
    let refused = &answer["rejected"];
    assert_eq!(
        (refused[0]["id"].as_str(), refused[0]["code"].as_str()),
        (Some("phone-notes-0"), Some("INVALID_STATE"))
    );
    assert!(refused[0]["message"].as_str().unwrap().contains("hash"), "{refused}");
    let ids: Vec<String> = states(&served.manager).into_iter().map(|s| s.id).collect();
    assert_eq!(ids, ["phone-notes-1", "phone-notes-2"], "the rest of the page applied");

    // Pull requests.
    post(&pull, &[], b"{").assert_error(400, "CORRUPT");
    post(&pull, &[], br#"{"cursor":null}"#).assert_error(400, "CORRUPT");
    post(&pull, &[], br#"{"format":2}"#).assert_error(415, "UNSUPPORTED_FORMAT");
    post(&pull, &[], &pull_body(Some("not-a-cursor"), &[], None)).assert_error(400, "INVALID_INPUT");
    post(&pull, &[], &pull_body(None, &[], Some(0))).assert_error(400, "INVALID_INPUT");
    post(&pull, &[], &pull_body(None, &[""], None)).assert_error(400, "INVALID_INPUT");
    post(&pull, &[], br#"{"format":1,"limit":"ten"}"#).assert_error(400, "INVALID_INPUT");

    // Routing.
    get(&format!("{}/v1/nothing", served.url), &[]).assert_error(404, "NOT_FOUND");
    get(&pull, &[]).assert_error(405, "INVALID_INPUT");

    // The client turns typed errors back into the errors they name.
    let t = transport(&served.url);
    match t.pull(Some("not-a-cursor"), &SyncContext::all()) {
        Err(SyncError::InvalidInput(m)) => assert!(m.starts_with("not a changes-feed cursor"), "{m}"),
        other => panic!("expected INVALID_INPUT, got {other:?}"),
    }
}

#[test]
fn the_client_reports_unreachable_peers_and_bad_urls() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // Nothing listens there any more.
    let t = transport(&format!("http://127.0.0.1:{port}"));
    assert!(matches!(t.capabilities(), Err(SyncError::Transport(_))));
    let m = memory("phone");
    assert!(matches!(m.sync_via(&t, &SyncContext::all()), Err(SyncError::Transport(_))));

    for bad in ["", "not a url", "ftp://127.0.0.1/", "127.0.0.1:80", "http://", "http://127.0.0.1/?a=b", "http://h/#x"]
    {
        assert!(matches!(HttpTransport::new(bad), Err(SyncError::InvalidInput(_))), "{bad:?}");
    }
    let t = HttpTransport::new("http://127.0.0.1:1/prefix/").expect("url");
    assert_eq!(t.base_url(), "http://127.0.0.1:1/prefix");
    let t = HttpTransport::new("http://127.0.0.1:1").unwrap().header("bad header", "x");
    assert!(matches!(t.capabilities(), Err(SyncError::InvalidInput(_))));
}

#[test]
fn a_closed_hub_answers_503_with_retry_after() {
    let served = hub();
    served.manager.close().expect("close");
    let a = post(&format!("{}/v1/pull", served.url), &[], &pull_body(None, &[], None));
    a.assert_error(503, "CLOSED");
    assert_eq!(a.retry_after.as_deref(), Some("1"));
    // Retryable: the client says Transport.
    assert!(matches!(transport(&served.url).capabilities(), Err(SyncError::Transport(_))));
}

// ---- authorization and limits ---------------------------------------------------------------

#[test]
fn the_authorization_hook_sees_every_request() {
    let served = serve(Hub::new(memory("hub")).authorize(bearer_token("s3cret")));
    let caps = format!("{}/v1/capabilities", served.url);
    get(&caps, &[]).assert_error(401, "UNAUTHORIZED");
    get(&caps, &[("authorization", "Bearer wrong")]).assert_error(401, "UNAUTHORIZED");
    post(&format!("{}/v1/push", served.url), &[], b"garbage").assert_error(401, "UNAUTHORIZED");
    assert_eq!(get(&caps, &[("authorization", "Bearer s3cret")]).status, 200);

    // The client sends its configured headers on every request.
    let phone = client_with("phone", 3, "notes");
    let denied = transport(&served.url);
    match phone.sync_via(&denied, &SyncContext::all()) {
        Err(e @ SyncError::Unauthorized(_)) => assert_eq!(e.code(), "UNAUTHORIZED"),
        other => panic!("expected an authorization failure, got {other:?}"),
    }
    let allowed = transport(&served.url).header("Authorization", "Bearer s3cret");
    let report = phone.sync_via(&allowed, &SyncContext::all()).expect("round");
    assert_eq!(report.pushed.created, 3);

    // Any status the hook chooses.
    let served = serve(Hub::new(memory("hub")).authorize(|headers: &axum::http::HeaderMap| {
        match headers.get("x-tenant").map(|v| v.as_bytes()) {
            Some(b"acme") => Ok(()),
            _ => Err((axum::http::StatusCode::FORBIDDEN, "unknown tenant".to_owned())),
        }
    }));
    let message = get(&format!("{}/v1/capabilities", served.url), &[]).assert_error(403, "FORBIDDEN");
    assert_eq!(message, "unknown tenant");
    assert!(transport(&served.url).header("X-Tenant", "acme").capabilities().is_ok());
}

#[test]
fn an_oversize_body_is_413() {
    let served = serve(Hub::new(memory("hub")).body_limit(4096));
    let client = client_with("phone", 100, "notes");
    let body = encode(&everything(&client), Encoding::Json);
    assert!(body.len() > 4096);
    let message =
        post(&format!("{}/v1/push", served.url), &[("content-type", JSON)], &body).assert_error(413, "INVALID_INPUT");
    assert!(message.contains("4096"), "{message}");
    assert!(states(&served.manager).is_empty());
    // Smaller pages go through.
    let t = transport(&served.url);
    let report = client.sync_via(&t, &SyncContext::all().with_limit(5)).expect("round");
    assert_eq!(report.pushed.created, 100);
}

// ---- idempotency and convergence ------------------------------------------------------------

#[test]
fn pushing_the_same_page_twice_changes_nothing() {
    let served = hub();
    let client = client_with("phone", 10, "notes");
    let old = client.get_state("phone-notes-3").unwrap().unwrap();
    client.update_state("phone-notes-3", json!({"edited": true})).expect("update");
    client.delete_state("phone-notes-4").expect("delete");
    let page = everything(&client);
    for encoding in [Encoding::Json, Encoding::Binary] {
        let t = transport(&served.url).encoding(encoding);
        let first = t.push(&page).expect("push");
        let after_first = states(&served.manager);
        let again = t.push(&page).expect("push again");
        assert_eq!((again.created, again.updated, again.unchanged, again.conflicts), (0, 0, 10, 0));
        assert_eq!(states(&served.manager), after_first, "a replayed push changes nothing");
        if encoding == Encoding::Json {
            assert_eq!(first.created, 10);
        }
    }
    // A page older than what the hub holds is ignored.
    let hub_view = served.manager.get_state("phone-notes-3").unwrap().unwrap();
    let stale = ChangeSet { states: vec![old], cursor: "1".into(), has_more: false };
    let raw = post(&format!("{}/v1/push", served.url), &[("content-type", JSON)], &encode(&stale, Encoding::Json));
    assert_eq!(raw.status, 200);
    assert_eq!(raw.content_type.as_deref(), Some(JSON));
    assert_eq!(
        raw.json(),
        json!({"format": 1, "result": {"created": 0, "updated": 0, "unchanged": 0,
        "ignored": 1, "conflicts": 0, "resolved": 0, "rejected": 0}, "rejected": []})
    );
    assert_eq!(served.manager.get_state("phone-notes-3").unwrap().unwrap(), hub_view);
}

#[test]
fn two_clients_converge_through_a_sqlite_hub() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manager =
        Arc::new(SyncManager::open(ManagerConfig::sqlite(dir.path().join("hub.db")).node_id("hub")).expect("open"));
    let served = serve(Hub::new(manager));
    let phone = client_with("phone", 20, "notes");
    let laptop = client_with("laptop", 20, "notes");
    // Concurrent edits of the same ids on both sides, and a delete.
    for m in [&phone, &laptop] {
        m.create_state(json!({"by": m.node_id().unwrap()}), CreateOptions::id("shared")).expect("create");
    }
    phone.delete_state("phone-notes-0").expect("delete");

    let t_phone = transport(&served.url).encoding(Encoding::Binary);
    let t_laptop = transport(&served.url);
    for (m, t) in [(&phone, &t_phone), (&laptop, &t_laptop), (&phone, &t_phone)] {
        m.sync_via(t, &SyncContext::all().with_limit(8)).expect("round");
    }
    assert_eq!(states(&phone), states(&laptop));
    assert_eq!(states(&phone), states(&served.manager));
    assert_eq!(states(&phone).len(), 41);
    assert!(phone.pending_operations().unwrap().is_empty(), "pushed operations are acknowledged");
    assert!(laptop.pending_operations().unwrap().is_empty());

    // Quiet afterwards: nothing moves.
    for (m, t) in [(&phone, &t_phone), (&laptop, &t_laptop)] {
        let r = m.sync_via(t, &SyncContext::all()).expect("round");
        assert_eq!((r.pulled.created + r.pulled.updated, r.pushed.created + r.pushed.updated), (0, 0));
    }
}
