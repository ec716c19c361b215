//! Feeds arbitrary bytes to the hub's request path: the body of `POST /v1/pull` and of
//! `POST /v1/push`, each as sent, zstd-compressed with `Content-Encoding: zstd`, and raw under
//! `Content-Encoding: zstd` (a body that claims a compression it does not have). Requests go
//! through `Hub::router` in process (`tower::ServiceExt::oneshot`, no socket), to a hub with
//! small limits so that the 413 paths are reachable with small inputs. The hub keeps its spaces in
//! one SQLite store for the whole run (in `TMPDIR`, which scripts/fuzz.sh points at a folder it
//! removes), and each input gets a fresh space: spaces are isolated, so inputs are too.
//!
//! Besides "never panics": every answer is 200 or one of the statuses docs/protocol.md lists for
//! a malformed request (400, 413, 415), with the codes it lists for that status in a typed JSON
//! error body that the client's reader (`http_protocol::status_error`) reads back to the same
//! code; a 200 answer reads with the client's readers; a refused push changes nothing; and a
//! push answered 200, repeated, answers 200 again and changes nothing.

#![no_main]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use statesync::http_protocol::{push_answer, reply_encoding, status_error};
use statesync::{ChangeSet, Encoding, SyncState};
use statesync_hub::identity::{Collections, SpaceId};
use statesync_hub::rules::SpaceLimits;
use statesync_hub::{Hub, Limits, PullScope, PushPolicy, SqliteStore, Store};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tower::ServiceExt;

const NOW: u64 = 1_796_601_600_000;
/// The most states a push may carry here, and the largest page served.
const MAX_BATCH: usize = 4;
/// The hub's body limit (push bodies, compressed or decoded, and pull answers).
const MAX_BODY: usize = 4096;
/// The hub's pull request limit (the smallest `Limits` allows).
const MAX_PULL: usize = 1024;
/// The binary wire form's magic: a push body starting with it is sent as binary.
const MAGIC: &[u8] = b"\xF5SSW";

/// One runtime for every input: the hub's handlers need tokio (and its blocking pool).
static RUNTIME: LazyLock<tokio::runtime::Runtime> =
    LazyLock::new(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime"));

/// The store of the whole run.
static STORE: LazyLock<Arc<dyn Store>> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("statesync-hub-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a folder for the fuzz hub's store");
    Arc::new(SqliteStore::open(dir.join("hub.db")).expect("the fuzz hub's store opens"))
});

/// The next input's space.
static SPACES: AtomicU64 = AtomicU64::new(0);

/// A state written by node `a` at `NOW`.
fn state(id: &str, collection: &str, data: Value) -> Arc<SyncState> {
    Arc::new(
        SyncState::from_value(json!({
            "id": id, "collection": collection, "data": data, "clock": {"a": 1},
            "timestamp": {"millis": NOW, "counter": 0, "node": "a"},
        }))
        .expect("a valid state"),
    )
}

/// A hub over a fresh space holding two states (so that pulls answer pages), and the space.
fn hub() -> (Router, SpaceId) {
    let space = SpaceId::parse(&format!("fuzz-{}", SPACES.fetch_add(1, Ordering::Relaxed))).expect("a space id");
    let no_rules = |_: &str, _: &Value| Ok(());
    let strategies = HashMap::new();
    let seed = PushPolicy {
        writable: &Collections::All,
        readable: &Collections::All,
        quotas: SpaceLimits::default(),
        check_data: &no_rules,
        max_state_bytes: statesync::DEFAULT_MAX_STATE_BYTES,
        max_clock_skew: Duration::from_secs(u32::MAX.into()),
        strategies: &strategies,
    };
    let states = vec![state("settings", "default", json!({"theme": "dark"})), state("list", "notes", json!([1, 2]))];
    STORE.push(&space, states, &seed).expect("the space is seeded");
    let limits = Limits {
        max_body_bytes: MAX_BODY,
        max_pull_request_bytes: MAX_PULL,
        decode_budget_bytes: 2 * MAX_BODY,
        ..Limits::default()
    };
    (Hub::shared(STORE.clone()).limits(limits).max_batch(MAX_BATCH).router(), space)
}

/// Every state of `space` (tombstones included), ordered by id.
fn states(space: &SpaceId) -> Vec<SyncState> {
    let mut after = 0;
    let mut all = Vec::new();
    loop {
        let scope = PullScope { after, readable: &Collections::All, wanted: &[], limit: 1000, max_bytes: usize::MAX };
        let page = STORE.pull(space, &scope).expect("the store reads");
        all.extend(page.states.iter().map(|s| (**s).clone()));
        after = page.next;
        if !page.has_more {
            break;
        }
    }
    all.sort_by(|a, b| a.id.cmp(&b.id));
    all
}

/// What the hub answered.
struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    content_encoding: Option<String>,
    body: Vec<u8>,
}

fn send(router: &Router, path: &str, headers: &[(header::HeaderName, &str)], body: &[u8]) -> Answer {
    let mut request = Request::post(path);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let request = request.body(Body::from(body.to_vec())).expect("a well-formed request");
    RUNTIME.block_on(async {
        let response = router.clone().oneshot(request).await.expect("the router's error type is Infallible");
        let text = |name| response.headers().get(name).map(|v| v.to_str().expect("text headers").to_owned());
        let (content_type, content_encoding) = (text(header::CONTENT_TYPE), text(header::CONTENT_ENCODING));
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("an in-memory body");
        Answer { status, content_type, content_encoding, body: body.to_vec() }
    })
}

/// An error answer: the status is one docs/protocol.md lists for a malformed request, the body
/// is `{"error":{"code","message"}}` with a code listed for that status, and the client reads
/// the same code back.
fn check_error(url: &str, answer: &Answer) {
    assert_eq!(answer.content_type.as_deref(), Some("application/json"), "an error answer is JSON");
    let body: Value = serde_json::from_slice(&answer.body)
        .unwrap_or_else(|e| panic!("{} with an untyped body ({e}): {:?}", answer.status, answer.body));
    let code = body["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code: {body}"));
    assert!(body["error"]["message"].is_string(), "no error message: {body}");
    let listed: &[&str] = match answer.status.as_u16() {
        400 => &["INVALID_INPUT", "INVALID_STATE", "CORRUPT"],
        413 => &["INVALID_INPUT"],
        415 => &["UNSUPPORTED_FORMAT"],
        other => panic!("status {other} is not an answer to a malformed request: {body}"),
    };
    assert!(listed.contains(&code), "{} {code}: not a code of that status: {body}", answer.status);
    let read = status_error(url, answer.status.as_u16(), &answer.body, None);
    assert_eq!(read.code(), code, "the client reads {body} as {read}");
}

/// A 200 pull answer: a change set in the encoding its headers name, no larger than the limits.
fn check_page(url: &str, answer: &Answer) {
    let encoding = reply_encoding(url, answer.content_type.as_deref()).expect("a pull answer's type");
    let body = match answer.content_encoding.as_deref() {
        None => answer.body.clone(),
        Some("zstd") => statesync::decompress(&answer.body).expect("a compressed pull answer decompresses"),
        Some(other) => panic!("a pull answer in Content-Encoding {other}"),
    };
    let page: ChangeSet = statesync::decode(&body, encoding).expect("a pull answer decodes");
    assert!(page.states.len() <= MAX_BATCH, "a page of {} states", page.states.len());
}

fn pull(data: &[u8]) {
    let (router, space) = hub();
    let url = &format!("/v1/spaces/{space}/pull");
    let compressed = statesync::compress(data);
    let json_plain = [(header::CONTENT_TYPE, "application/json")];
    let zstd_binary = [
        (header::CONTENT_TYPE, "application/json"),
        (header::CONTENT_ENCODING, "zstd"),
        (header::ACCEPT, Encoding::Binary.content_type()),
        (header::ACCEPT_ENCODING, "zstd"),
    ];
    for (headers, body) in [(&json_plain[..], data), (&zstd_binary[..], &compressed), (&zstd_binary[..], data)] {
        let answer = send(&router, url, headers, body);
        match answer.status {
            StatusCode::OK => check_page(url, &answer),
            _ => check_error(url, &answer),
        }
    }
}

fn push(data: &[u8]) {
    // A body with the binary magic goes as binary, its checksum repaired so that mutations reach
    // the parser rather than stopping at the CRC; anything else goes as JSON.
    let (encoding, body) = if data.starts_with(MAGIC) && data.len() >= MAGIC.len() + 4 {
        let mut sealed = data[..data.len() - 4].to_vec();
        let crc = crc32fast::hash(&sealed);
        sealed.extend_from_slice(&crc.to_le_bytes());
        (Encoding::Binary, sealed)
    } else {
        (Encoding::Json, data.to_vec())
    };
    let compressed = statesync::compress(&body);
    let plain = [(header::CONTENT_TYPE, encoding.content_type())];
    let zstd = [(header::CONTENT_TYPE, encoding.content_type()), (header::CONTENT_ENCODING, "zstd")];
    for (headers, body) in [(&plain[..], &body[..]), (&zstd[..], &compressed[..]), (&zstd[..], data)] {
        let (router, space) = hub();
        let url = &format!("/v1/spaces/{space}/push");
        let before = states(&space);
        let answer = send(&router, url, headers, body);
        let after = states(&space);
        if answer.status != StatusCode::OK {
            check_error(url, &answer);
            assert_eq!(after, before, "a refused push ({}) changed the hub", answer.status);
            continue;
        }
        assert_eq!(answer.content_type.as_deref(), Some("application/json"), "a push answer is JSON");
        let first = push_answer(url, &answer.body).expect("the client reads the push answer");
        let again = send(&router, url, headers, body);
        assert_eq!(again.status, StatusCode::OK, "a repeated push: {:?}", String::from_utf8_lossy(&again.body));
        let again = push_answer(url, &again.body).expect("the client reads the repeated push answer");
        assert_eq!(
            (again.created, again.updated, again.conflicts, again.rejected),
            (0, 0, 0, first.rejected),
            "a repeated push did something new: {again:?} after {first:?}"
        );
        assert_eq!(states(&space), after, "a repeated push changed the hub");
    }
}

fuzz_target!(|data: &[u8]| {
    pull(data);
    push(data);
});
