//! The HTTP sync protocol (docs/protocol.md) against an in-process hub on 127.0.0.1 (port 0):
//! each endpoint in each encoding, scoping and paging, cursors, every typed error, the
//! authorization hook, the body limit, push idempotency, and replicas converging through the
//! hub with `HttpTransport`. Every test runs twice, on a SQLite store and on a PostgreSQL one
//! (`on_both_stores!`): the protocol is the same whichever store keeps the spaces.

use serde_json::{json, Value};
use statesync::{
    decode, encode, ChangeSet, CreateOptions, Encoding, HttpTransport, SyncContext, SyncError, SyncManager, SyncState,
    SyncTransport, PROTOCOL_VERSION,
};
use statesync_hub::{bearer_token, Hub};
use std::sync::Arc;
use std::time::Duration;

mod support;
use support::{host, memory, serve, Closable, Hosted, Kind, TestStore};

on_both_stores!(
    capabilities_advertise_what_the_hub_supports,
    push_and_pull_json,
    push_and_pull_binary,
    raw_pull_answers_in_the_accepted_encoding,
    unknown_content_codings_are_415,
    scoped_pull_serves_only_the_collections_asked_for,
    pages_follow_the_limit_and_the_hub_maximum,
    cursors_name_their_space_and_past_the_end_restart_the_feed,
    malformed_requests_get_typed_errors,
    the_client_reports_unreachable_peers_and_bad_urls,
    a_closed_store_answers_503_with_retry_after,
    a_failing_store_answers_500_and_the_client_retries_later,
    the_authorization_hook_sees_every_request,
    an_oversize_body_is_413,
    pushing_the_same_page_twice_changes_nothing,
    two_clients_converge_through_the_hub,
);

#[cfg(feature = "zstd")]
on_both_stores!(zstd_bodies_both_ways);

// ---- fixtures -------------------------------------------------------------------------------

/// A hub on a fresh store of `kind`, with the default settings.
fn hub(kind: Kind) -> Hosted {
    host(kind, |hub| hub)
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

/// The states of `m`, to be seeded into a hub's store.
fn all_of(m: &SyncManager) -> Vec<Arc<SyncState>> {
    everything(m).states
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
        .timeout_global(Some(Duration::from_secs(30)))
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

fn capabilities_advertise_what_the_hub_supports(kind: Kind) {
    let served = host(kind, |hub| hub.max_batch(250));
    // The space `default` advertises the store's node id, the same in every process serving it.
    let node = served.store.node_id().to_owned();
    assert!(node.starts_with("hub-"), "{node}");
    let a = get(&format!("{}/v1/capabilities", served.url), &[]);
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type.as_deref(), Some(JSON));
    assert_eq!(
        a.json(),
        json!({"protocol": PROTOCOL_VERSION, "node_id": node, "scoped_sync": true, "binary": true,
               "zstd": cfg!(feature = "zstd"), "max_batch": 250, "max_body_bytes": 4 << 20})
    );
    let c = transport(&served.url).capabilities().expect("capabilities");
    assert_eq!((c.node_id.as_str(), c.max_batch, c.scoped_sync, c.binary), (node.as_str(), Some(250), true, true));
    // Any other space is a peer of its own: `<hub>/<space>`.
    let a = get(&format!("{}/v1/spaces/team:7/capabilities", served.url), &[]);
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["node_id"], format!("{node}/team:7"));
    let c = transport(&served.url).space("team:7").expect("space").capabilities().expect("capabilities");
    assert_eq!(c.node_id, format!("{node}/team:7"));
}

// ---- pull and push in each encoding ---------------------------------------------------------

fn push_then_pull(kind: Kind, encoding: Encoding) {
    let served = hub(kind);
    let client = client_with("phone", 30, "notes");
    let t = transport(&served.url).encoding(encoding);
    t.capabilities().expect("capabilities");
    let pushed = t.push(&everything(&client)).expect("push");
    assert_eq!((pushed.created, pushed.unchanged), (30, 0));
    assert_eq!(served.states(), states(&client), "the hub holds exactly what was pushed");

    let page = t.pull(None, &SyncContext::all()).expect("pull");
    assert!(!page.has_more);
    assert_eq!(page.states.len(), 30);
    let other = memory("laptop");
    other.reconcile(page.states).expect("reconcile");
    assert_eq!(states(&other), states(&client), "what was pulled is what was pushed");
}

fn push_and_pull_json(kind: Kind) {
    push_then_pull(kind, Encoding::Json);
}

fn push_and_pull_binary(kind: Kind) {
    push_then_pull(kind, Encoding::Binary);
}

fn raw_pull_answers_in_the_accepted_encoding(kind: Kind) {
    let served = hub(kind);
    let client = client_with("phone", 5, "notes");
    served.seed("default", all_of(&client));
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
    assert!(body["cursor"].as_str().is_some_and(|c| c.starts_with("default.")), "{body}");
    assert_eq!(body["states"].as_array().map(Vec::len), Some(1));
}

#[cfg(feature = "zstd")]
fn zstd_bodies_both_ways(kind: Kind) {
    let served = hub(kind);
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

fn unknown_content_codings_are_415(kind: Kind) {
    let served = hub(kind);
    let a = post(&format!("{}/v1/push", served.url), &[("content-encoding", "br")], b"{}");
    a.assert_error(415, "UNSUPPORTED_FORMAT");
}

// ---- scope and paging -----------------------------------------------------------------------

fn scoped_pull_serves_only_the_collections_asked_for(kind: Kind) {
    let served = hub(kind);
    for collection in ["notes", "prefs", "tasks"] {
        served.seed("default", all_of(&client_with("phone", 4, collection)));
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

fn pages_follow_the_limit_and_the_hub_maximum(kind: Kind) {
    let served = host(kind, |hub| hub.max_batch(7));
    served.seed("default", all_of(&client_with("phone", 25, "notes")));
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
    assert_eq!(states(&laptop), served.states());
}

fn cursors_name_their_space_and_past_the_end_restart_the_feed(kind: Kind) {
    let served = hub(kind);
    served.seed("default", all_of(&client_with("phone", 6, "notes")));
    served.seed("team", all_of(&client_with("tablet", 2, "notes")));
    let t = transport(&served.url);
    let first = t.pull(None, &SyncContext::all().with_limit(4)).expect("pull");
    assert_eq!((first.states.len(), first.has_more), (4, true));
    let (space, seq) = first.cursor.rsplit_once('.').expect("<space>.<seq>");
    assert_eq!(space, "default", "{}", first.cursor);
    let seq: u64 = seq.parse().expect("a sequence");
    let rest = t.pull(Some(&first.cursor), &SyncContext::all()).expect("pull");
    assert_eq!((rest.states.len(), rest.has_more), (2, false));
    // A quiet feed answers its cursor with nothing new.
    let quiet = t.pull(Some(&rest.cursor), &SyncContext::all()).expect("pull");
    assert_eq!((quiet.states.len(), quiet.cursor.as_str()), (0, rest.cursor.as_str()));

    // A sequence beyond the space's end (a store restored from an older copy) starts the feed
    // over instead of skipping what the client has not seen.
    let beyond = format!("default.{}", seq + 1_000);
    let again = t.pull(Some(&beyond), &SyncContext::all()).expect("pull");
    assert_eq!((again.states.len(), again.has_more), (6, false));

    // A cursor of another space is refused, not read: it would read this space from another's
    // position.
    let team = transport(&served.url).space("team").expect("space");
    let theirs = team.pull(None, &SyncContext::all()).expect("pull");
    assert!(theirs.cursor.starts_with("team."), "{}", theirs.cursor);
    let url = format!("{}/v1/pull", served.url);
    post(&url, &[], &pull_body(Some(&theirs.cursor), &[], None)).assert_error(400, "INVALID_INPUT");
    let url = format!("{}/v1/spaces/team/pull", served.url);
    post(&url, &[], &pull_body(Some(&first.cursor), &[], None)).assert_error(400, "INVALID_INPUT");
    for forged in ["default", "default.", "default.x", "default.-1", ".4", "4"] {
        post(&format!("{}/v1/pull", served.url), &[], &pull_body(Some(forged), &[], None))
            .assert_error(400, "INVALID_INPUT");
    }
}

// ---- typed errors ---------------------------------------------------------------------------

fn malformed_requests_get_typed_errors(kind: Kind) {
    let served = hub(kind);
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
    let ids: Vec<String> = served.states().into_iter().map(|s| s.id).collect();
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
        Err(SyncError::InvalidInput(m)) => assert!(m.contains("\"not-a-cursor\" is not one this hub"), "{m}"),
        other => panic!("expected INVALID_INPUT, got {other:?}"),
    }
}

fn the_client_reports_unreachable_peers_and_bad_urls(kind: Kind) {
    // A hub that stopped: its port no longer answers.
    let port = {
        let served = hub(kind);
        served.addr.rsplit(':').next().expect("port").parse::<u16>().expect("a port")
    };
    let t = transport(&format!("http://127.0.0.1:{port}"));
    assert!(matches!(t.capabilities(), Err(SyncError::Transport(_))));
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

fn a_closed_store_answers_503_with_retry_after(kind: Kind) {
    let store = TestStore::new(kind);
    let closable = Closable::new(store.store.clone());
    let served = serve(Hub::shared(closable.clone()));
    let t = transport(&served.url);
    client_with("phone", 2, "notes").sync_via(&t, &SyncContext::all()).expect("round while open");
    closable.close();
    for (path, body) in
        [("pull", pull_body(None, &[], None)), ("push", encode(&everything(&memory("x")), Encoding::Json))]
    {
        let a = post(&format!("{}/v1/{path}", served.url), &[], &body);
        a.assert_error(503, "CLOSED");
        assert_eq!(a.retry_after.as_deref(), Some("1"));
    }
    // Retryable: the client says Transport, and its round changes nothing.
    let phone = client_with("phone2", 2, "notes");
    assert!(matches!(t.pull(None, &SyncContext::all()), Err(SyncError::Transport(_))));
    assert!(matches!(phone.sync_via(&t, &SyncContext::all()), Err(SyncError::Transport(_))));
    assert_eq!(phone.pending_operations().unwrap().len(), 2, "nothing was acknowledged");
    assert_eq!(support::space_states(&*store.store, "default").len(), 2, "the store holds the first round only");
}

fn a_failing_store_answers_500_and_the_client_retries_later(kind: Kind) {
    let served = hub(kind);
    let t = transport(&served.url);
    let phone = client_with("phone", 2, "notes");
    phone.sync_via(&t, &SyncContext::all()).expect("round");
    served.break_store();
    let a = post(&format!("{}/v1/pull", served.url), &[], &pull_body(None, &[], None));
    let message = a.assert_error(500, "STORAGE");
    assert!(!message.contains("postgres://"), "no store URL in an answer: {message}");
    // A server failure is retryable: the client says Transport, and keeps what it has not
    // delivered.
    phone.create_state(json!({"late": true}), CreateOptions::id("late")).expect("create");
    assert!(matches!(phone.sync_via(&t, &SyncContext::all()), Err(SyncError::Transport(_))));
    assert_eq!(phone.pending_operations().unwrap().len(), 1);
}

// ---- authorization and limits ---------------------------------------------------------------

fn the_authorization_hook_sees_every_request(kind: Kind) {
    let served = host(kind, |hub| hub.authorize(bearer_token("s3cret")));
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
    // Space routes are behind the hook too.
    let space = transport(&served.url).space("team").expect("space");
    assert!(matches!(space.capabilities(), Err(SyncError::Unauthorized(_))));
    assert!(space.token("s3cret").capabilities().is_ok());

    // Any status the hook chooses.
    let served = host(kind, |hub| {
        hub.authorize(|headers: &axum::http::HeaderMap| match headers.get("x-tenant").map(|v| v.as_bytes()) {
            Some(b"acme") => Ok(()),
            _ => Err((axum::http::StatusCode::FORBIDDEN, "unknown tenant".to_owned())),
        })
    });
    let message = get(&format!("{}/v1/capabilities", served.url), &[]).assert_error(403, "FORBIDDEN");
    assert_eq!(message, "unknown tenant");
    assert!(transport(&served.url).header("X-Tenant", "acme").capabilities().is_ok());
}

fn an_oversize_body_is_413(kind: Kind) {
    let served = host(kind, |hub| hub.body_limit(4096));
    let client = client_with("phone", 100, "notes");
    let body = encode(&everything(&client), Encoding::Json);
    assert!(body.len() > 4096);
    let message =
        post(&format!("{}/v1/push", served.url), &[("content-type", JSON)], &body).assert_error(413, "INVALID_INPUT");
    assert!(message.contains("4096"), "{message}");
    assert!(served.states().is_empty());
    // Smaller pages go through.
    let t = transport(&served.url);
    let report = client.sync_via(&t, &SyncContext::all().with_limit(5)).expect("round");
    assert_eq!(report.pushed.created, 100);
}

// ---- idempotency and convergence ------------------------------------------------------------

fn pushing_the_same_page_twice_changes_nothing(kind: Kind) {
    let served = hub(kind);
    let client = client_with("phone", 10, "notes");
    let old = client.get_state("phone-notes-3").unwrap().unwrap();
    client.update_state("phone-notes-3", json!({"edited": true})).expect("update");
    client.delete_state("phone-notes-4").expect("delete");
    let page = everything(&client);
    for encoding in [Encoding::Json, Encoding::Binary] {
        let t = transport(&served.url).encoding(encoding);
        let first = t.push(&page).expect("push");
        let after_first = served.states();
        let again = t.push(&page).expect("push again");
        assert_eq!((again.created, again.updated, again.unchanged, again.conflicts), (0, 0, 10, 0));
        assert_eq!(served.states(), after_first, "a replayed push changes nothing");
        if encoding == Encoding::Json {
            assert_eq!(first.created, 10);
        }
    }
    // A page older than what the hub holds is ignored.
    let hub_view = served.state("phone-notes-3").expect("kept");
    let stale = ChangeSet { states: vec![old], cursor: "1".into(), has_more: false };
    let raw = post(&format!("{}/v1/push", served.url), &[("content-type", JSON)], &encode(&stale, Encoding::Json));
    assert_eq!(raw.status, 200);
    assert_eq!(raw.content_type.as_deref(), Some(JSON));
    assert_eq!(
        raw.json(),
        json!({"format": 1, "result": {"created": 0, "updated": 0, "unchanged": 0,
        "ignored": 1, "conflicts": 0, "resolved": 0, "rejected": 0}, "rejected": []})
    );
    assert_eq!(served.state("phone-notes-3").expect("kept"), hub_view);
}

fn two_clients_converge_through_the_hub(kind: Kind) {
    let served = hub(kind);
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
    assert_eq!(states(&phone), served.states());
    assert_eq!(states(&phone).len(), 41);
    assert!(phone.pending_operations().unwrap().is_empty(), "pushed operations are acknowledged");
    assert!(laptop.pending_operations().unwrap().is_empty());

    // Quiet afterwards: nothing moves.
    for (m, t) in [(&phone, &t_phone), (&laptop, &t_laptop)] {
        let r = m.sync_via(t, &SyncContext::all()).expect("round");
        assert_eq!((r.pulled.created + r.pulled.updated, r.pushed.created + r.pushed.updated), (0, 0));
    }
}
