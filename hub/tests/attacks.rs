//! The attack suite: what an adversarial test of the hub found, tried as an attacker with a
//! valid token would (or with none, where the hub runs without one), replayed against an
//! in-process hub on 127.0.0.1 serving a SQLite store (the attacks are on the protocol and the
//! connections, before any store is reached, or on what a push costs the hub's process whatever
//! keeps its states). Every attack is bounded in count and time. The findings and
//! why each bound is where it is: docs/adr/0015-hardening-against-peers.md.
//!
//! Memory is measured with a counting allocator (this test binary's global allocator): the
//! peak of live heap bytes while an attack runs, above what was live when it started. The tests
//! take turns (one lock), so one attack's allocations never count towards another's.

use serde_json::{json, Value};
use statesync::{
    compress, encode, state_hash, ChangeSet, CreateOptions, Encoding, HttpTransport, ManagerConfig, SyncContext,
    SyncEvent, SyncManager, SyncState, SyncTransport, Timestamp, MAX_COUNTER,
};
use statesync_hub::{bearer_token, Hub, Limits};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

mod support;
use support::{host, memory, Hosted, Kind};

/// A hub on a fresh SQLite store, made by `build` of a plain one.
fn hub_with(build: impl FnOnce(Hub) -> Hub) -> Hosted {
    host(Kind::Sqlite, build)
}

// ---- the counting allocator -------------------------------------------------------------------

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static HEAP: Counting = Counting;

const MIB: usize = 1 << 20;

/// Runs `attack` and returns its result with the peak heap growth it caused, in bytes.
fn peak_growth<R>(attack: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let result = attack();
    (result, PEAK.load(Ordering::SeqCst).saturating_sub(base))
}

/// One test at a time: memory figures must not mix.
fn turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

// ---- fixtures -----------------------------------------------------------------------------------

/// Limits small enough for the timeout attacks to finish quickly.
fn quick_limits() -> Limits {
    Limits {
        max_connections: 8,
        header_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(800),
        request_timeout: Duration::from_millis(1_000),
        ..Limits::default()
    }
}

fn transport(url: &str) -> HttpTransport {
    HttpTransport::new(url).expect("url").timeout(Duration::from_secs(10))
}

/// A request written by hand and its answer's status (0 when the hub closed the connection
/// without one).
fn raw_post(addr: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    // The hub may answer and close before the whole body is sent (413): a write error is fine.
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body));
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// The typed error code in an answer's body.
fn error_code(answer: &str) -> Option<String> {
    let body = answer.split("\r\n\r\n").nth(1)?;
    let value: Value = serde_json::from_str(body).ok()?;
    value["error"]["code"].as_str().map(str::to_owned)
}

/// A state written by `node`, as an attacker would hand-craft it (valid hash, any numbers).
fn crafted(id: &str, data: Value, clock: &[(&str, u64)], millis: u64, counter: u32, version: u64) -> SyncState {
    let node = clock[0].0.to_owned();
    SyncState {
        id: id.into(),
        collection: "default".into(),
        hash: state_hash(&data, false),
        data,
        clock: clock.iter().map(|(n, v)| (*n, *v)).collect(),
        timestamp: Timestamp { millis, counter, node: node.clone() },
        modified_by: node,
        deleted: false,
        version,
        fields: None,
    }
}

fn page(states: Vec<SyncState>) -> Vec<u8> {
    encode(
        &ChangeSet { states: states.into_iter().map(Arc::new).collect(), cursor: "1".into(), has_more: false },
        Encoding::Json,
    )
}

fn now_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

// ---- 1. values that could not be written past ---------------------------------------------------

/// Finding 1: one push of ~250 bytes (a timestamp, a clock entry or a version at 2^53 − 1)
/// made every replica that pulled it unable to push again or to reopen its database.
#[test]
fn poisoned_states_pushed_to_the_hub_break_no_client() {
    let _turn = turn();
    let served = hub_with(|hub| hub);
    let now = now_millis();
    let poison = page(vec![
        crafted("p-time", json!(1), &[("mallory", 1)], MAX_COUNTER, u32::MAX, 1),
        crafted("p-clock", json!(2), &[("mallory", 2), ("carol", MAX_COUNTER)], now, 0, 1),
        crafted("p-version", json!(3), &[("mallory", 3)], now, 0, MAX_COUNTER),
    ]);
    assert!(poison.len() < 1_000, "a small push: {} bytes", poison.len());
    let (status, answer) = raw_post(&served.addr, "/v1/push", &[("content-type", "application/json")], &poison);
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains(r#""rejected":[{"id":"p-time","code":"INVALID_STATE""#), "{answer}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("carol.db");
    let carol = SyncManager::open(ManagerConfig::sqlite(&path).node_id("carol")).unwrap();
    let dave = memory("dave");
    let hub = transport(&served.url);
    for round in 0..3 {
        for client in [&carol, &*dave] {
            let id = format!("{}-{round}", client.node_id().unwrap());
            client.create_state(json!({"round": round}), CreateOptions::id(id)).expect("a client still writes");
            client.sync_via(&hub, &SyncContext::all()).expect("a client still syncs");
        }
        let p3 = dave.update_state("p-version", json!({"by": "dave", "round": round})).expect("p-version writable");
        assert_eq!(p3.version, MAX_COUNTER, "versions stay at the bound");
    }
    assert_eq!(
        carol.update_state("p-clock", json!(0)).unwrap_err().code(),
        "INVALID_STATE",
        "only p-clock is stuck for carol"
    );
    carol.sync_via(&hub, &SyncContext::all()).unwrap();
    let hub_states = served.states();
    assert_eq!(carol.export_state().unwrap().states, hub_states, "carol converged with the hub");
    assert!(hub_states.iter().all(|s| s.timestamp.millis < now + 3_600_000));
    carol.close().unwrap();
    let carol = SyncManager::open(ManagerConfig::sqlite(&path)).expect("carol reopens");
    assert_eq!(carol.export_state().unwrap().states, hub_states);
}

/// Finding 4b: the same id created offline in two collections wedged the second client for
/// good: every round failed and its unrelated writes never left it.
#[test]
fn the_same_id_in_two_collections_does_not_wedge_a_client() {
    let _turn = turn();
    let served = hub_with(|hub| hub);
    let hub = transport(&served.url);
    let first = memory("first");
    first.create_state(json!({"v": 1}), CreateOptions::id("x").in_collection("notes")).unwrap();
    first.sync_via(&hub, &SyncContext::all()).unwrap();

    let second = memory("second");
    second.create_state(json!({"v": 2}), CreateOptions::id("x").in_collection("todos")).unwrap();
    second.create_state(json!({"v": 3}), CreateOptions::id("y")).unwrap();
    second.create_state(json!({"v": 4}), CreateOptions::id("z").in_collection("todos")).unwrap();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = heard.clone();
    second
        .subscribe(move |e| {
            if let SyncEvent::StateRejected { state_id, code, .. } = e {
                sink.lock().unwrap().push((state_id.clone(), code.clone()));
            }
        })
        .unwrap();
    let report = second.sync_via(&hub, &SyncContext::all()).expect("the round completes");
    assert_eq!((report.pulled.rejected, report.pushed.rejected, report.pushed.created), (1, 1, 2));
    assert!(served.state("y").is_some() && served.state("z").is_some());
    assert_eq!(served.state("x").expect("x").collection, "notes");
    let rejections = second.rejections().unwrap();
    assert_eq!(rejections.len(), 1, "{rejections:?}");
    assert_eq!((rejections[0].state_id.as_str(), rejections[0].code.as_str()), ("x", "INVALID_STATE"));
    assert!(rejections[0].message.contains("refused this version"), "{}", rejections[0].message);
    assert_eq!(
        heard.lock().unwrap().as_slice(),
        [("x".into(), "INVALID_STATE".into()), ("x".into(), "INVALID_STATE".into())]
    );
    assert!(second.pending_operations().unwrap().is_empty(), "nothing is retried for ever");
    second.sync_via(&hub, &SyncContext::all()).expect("later rounds complete too");
}

// ---- 2. small bodies, large memory ---------------------------------------------------------------

/// `n` bytes of JSON that parse into as many values as possible: `[0,0,0,...]`.
fn zeros(n: usize) -> String {
    let mut s = String::with_capacity(n + 2);
    s.push('[');
    while s.len() + 2 < n {
        s.push_str("0,");
    }
    s.push_str("0]");
    s
}

/// Finding 2: a 5 KB zstd body expanding to 60 MiB of JSON cost the hub a gigabyte, parsed
/// into a tree on an async worker; ten 33 KB bombs at once 660 MB; a 60 MiB state stayed
/// resident for good; eight slow readers of a large state held 490 MB.
#[test]
fn small_bodies_cannot_make_the_hub_big() {
    let _turn = turn();
    let served = hub_with(|hub| hub);
    let zstd = [("content-type", "application/json"), ("content-encoding", "zstd")];

    // A pull request is a cursor and some collections: past 64 KiB it is refused, and it is
    // never parsed into a JSON tree.
    let pull_bomb = compress(format!(r#"{{"format":1,"cursor":null,"padding":{}}}"#, zeros(60 * MIB)).as_bytes());
    assert!(pull_bomb.len() < 10_000, "{} bytes", pull_bomb.len());
    let ((status, answer), peak) = peak_growth(|| raw_post(&served.addr, "/v1/pull", &zstd, &pull_bomb));
    assert_eq!((status, error_code(&answer).as_deref()), (413, Some("INVALID_INPUT")), "{answer}");
    println!("pull bomb ({} B zstd -> 60 MiB): peak growth {:.2} MiB", pull_bomb.len(), peak as f64 / MIB as f64);
    assert!(peak < 2 * MIB, "pull bomb: {peak} bytes");

    // A push that decompresses past the body limit stops there.
    let state = crafted("big", json!(null), &[("mallory", 1)], now_millis(), 0, 1);
    let mut text = String::from_utf8(page(vec![state])).unwrap();
    text = text.replace(r#""data":null"#, &format!(r#""data":{}"#, zeros(60 * MIB)));
    let push_bomb = compress(text.as_bytes());
    drop(text);
    let ((status, answer), peak) = peak_growth(|| raw_post(&served.addr, "/v1/push", &zstd, &push_bomb));
    assert_eq!((status, error_code(&answer).as_deref()), (413, Some("INVALID_INPUT")), "{answer}");
    println!("push bomb ({} B zstd -> 60 MiB): peak growth {:.2} MiB", push_bomb.len(), peak as f64 / MIB as f64);
    assert!(peak < 16 * MIB, "push bomb: {peak} bytes");

    // Ten bombs at once wait for the decode budget instead of expanding side by side.
    let ((), peak) = peak_growth(|| {
        std::thread::scope(|s| {
            for _ in 0..10 {
                s.spawn(|| {
                    let (status, answer) = raw_post(&served.addr, "/v1/push", &zstd, &push_bomb);
                    assert_eq!(status, 413, "{answer}");
                });
            }
        })
    });
    println!("ten push bombs at once: peak growth {:.2} MiB", peak as f64 / MIB as f64);
    assert!(peak < 24 * MIB, "ten bombs: {peak} bytes");

    // The largest push within the body limit, holding a state over max_state_bytes: parsed (its
    // size is known only then), refused, and not kept.
    let data: Value = serde_json::from_str(&zeros(3 * MIB)).unwrap();
    let oversized = page(vec![crafted("over", data, &[("mallory", 2)], now_millis(), 0, 1)]);
    let live_before = LIVE.load(Ordering::SeqCst);
    let ((status, answer), peak) =
        peak_growth(|| raw_post(&served.addr, "/v1/push", &[("content-type", "application/json")], &oversized));
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains(r#""id":"over","code":"INVALID_STATE""#), "{answer}");
    std::thread::sleep(Duration::from_millis(100));
    let kept = LIVE.load(Ordering::SeqCst).saturating_sub(live_before);
    println!(
        "3 MiB state of small numbers: peak growth {:.1} MiB, kept {:.2} MiB",
        peak as f64 / MIB as f64,
        kept as f64 / MIB as f64
    );
    assert!(peak < 200 * MIB, "oversized state: {peak} bytes");
    assert!(kept < MIB, "a refused state is not kept: {kept} bytes");
    assert!(served.state("over").is_none());
}

/// Finding 2, last part: slow readers of a large state each hold an answer; answers are cut to
/// `max_body_bytes`, and a reader that does not read is dropped after the idle timeout.
#[test]
fn slow_readers_hold_bounded_answers_and_are_dropped() {
    let _turn = turn();
    let served = hub_with(|hub| hub.limits(quick_limits()));
    let big = json!({"text": "x".repeat(900_000)});
    let writer = memory("writer");
    writer.create_state(big, CreateOptions::id("large")).unwrap();
    for i in 0..4 {
        writer
            .create_state(json!({"text": "y".repeat(900_000), "i": i}), CreateOptions::id(format!("more-{i}")))
            .unwrap();
    }
    // Written into the store directly: this test is about the readers (a push of 4.5 MB is
    // longer than these limits' one-second request deadline in a debug build).
    served.seed("default", writer.changes_since(None, &SyncContext::all()).unwrap().states);

    let body = br#"{"format":1,"cursor":null}"#;
    let request = format!(
        "POST /v1/pull HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (readers, peak) = peak_growth(|| {
        let readers: Vec<TcpStream> = (0..8)
            .map(|_| {
                let mut s = TcpStream::connect(&served.addr).unwrap();
                s.write_all(request.as_bytes()).unwrap();
                s.write_all(body).unwrap();
                s
            })
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        readers
    });
    println!("eight slow readers of 4.5 MB of states: peak growth {:.1} MiB", peak as f64 / MIB as f64);
    assert!(peak < 8 * 5 * MIB, "slow readers: {peak} bytes");
    // None of them reads: after the idle timeout the hub has closed every connection.
    std::thread::sleep(Duration::from_millis(1_500));
    for mut reader in readers {
        reader.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut sink = vec![0; 1 << 16];
        let started = Instant::now();
        while matches!(reader.read(&mut sink), Ok(n) if n > 0) {
            assert!(started.elapsed() < Duration::from_secs(5), "a dropped connection ends");
        }
    }
}

/// Finding 4a: `--max-batch` was not enforced on push: 250,000 states in one 350 KB request
/// added 370 MB and stalled writers.
#[test]
fn pushes_larger_than_max_batch_are_refused() {
    let _turn = turn();
    let served = hub_with(|hub| hub.max_batch(1_000));
    let now = now_millis();
    let states = |n: usize| {
        (0..n).map(|i| crafted(&format!("s{i}"), json!(i), &[("mallory", i as u64 + 1)], now, 0, 1)).collect()
    };
    let over = page(states(1_001));
    let (status, answer) = raw_post(&served.addr, "/v1/push", &[("content-type", "application/json")], &over);
    assert_eq!((status, error_code(&answer).as_deref()), (413, Some("INVALID_INPUT")), "{answer}");
    assert!(answer.contains("1001 states, more than this hub's max_batch of 1000"), "{answer}");
    assert!(served.states().is_empty(), "nothing of it applied");

    let many = compress(&page(states(250_000)));
    let ((status, answer), peak) = peak_growth(|| {
        raw_post(&served.addr, "/v1/push", &[("content-type", "application/json"), ("content-encoding", "zstd")], &many)
    });
    assert_eq!(status, 413, "{answer}");
    println!("250,000 states in {} B of zstd: peak growth {:.2} MiB", many.len(), peak as f64 / MIB as f64);
    assert!(peak < 16 * MIB, "{peak} bytes");

    let exactly = page(states(1_000));
    let (status, answer) = raw_post(&served.addr, "/v1/push", &[("content-type", "application/json")], &exactly);
    assert_eq!(status, 200, "{answer}");
}

// ---- 3. connections that never finish ------------------------------------------------------------

/// True when the hub closes `stream` within `within` (reading gives end-of-file or an error).
fn closed_by_the_hub(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return started.elapsed() <= within,
        }
    }
}

/// Finding 3: no timeouts: 200 half-sent requests were held for 70 s, and 80 idle
/// connections locked real clients out.
#[test]
fn half_sent_requests_and_idle_connections_are_dropped() {
    let _turn = turn();
    let served = hub_with(|hub| hub.limits(quick_limits()));
    // Headers never finished.
    let mut half: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(&served.addr).unwrap();
            s.write_all(b"POST /v1/pull HTTP/1.1\r\nHost: x\r\n").unwrap();
            s
        })
        .collect();
    // Connections that send nothing at all, more than the hub takes at once.
    let mut idle: Vec<TcpStream> = (0..16).map(|_| TcpStream::connect(&served.addr).unwrap()).collect();
    // A real client is served meanwhile, as soon as the idle ones are dropped.
    let started = Instant::now();
    let caps = transport(&served.url).timeout(Duration::from_secs(5)).capabilities();
    assert!(caps.is_ok(), "{caps:?}");
    println!("a real client waited {} ms behind 36 idle connections", started.elapsed().as_millis());
    assert!(started.elapsed() < Duration::from_secs(4));
    for s in half.iter_mut().chain(idle.iter_mut()) {
        assert!(closed_by_the_hub(s, Duration::from_secs(3)), "an unfinished connection is closed");
    }
}

#[test]
fn a_trickled_body_and_a_kept_alive_idle_connection_are_ended() {
    let _turn = turn();
    let served = hub_with(|hub| hub.limits(quick_limits()));
    // A body sent one byte at a time (each within the idle timeout) ends at the request
    // deadline with 408 TIMEOUT.
    let mut s = TcpStream::connect(&served.addr).unwrap();
    s.write_all(b"POST /v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut buf = [0u8; 1024];
    while started.elapsed() < Duration::from_secs(4) {
        if s.write_all(b" ").is_err() {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert_eq!(error_code(&answer).as_deref(), Some("TIMEOUT"));
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    // A kept-alive connection that goes quiet after an answer is closed too.
    let mut s = TcpStream::connect(&served.addr).unwrap();
    s.write_all(b"GET /v1/capabilities HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_by_the_hub(&mut s, Duration::from_secs(3)));
}

// ---- 4 and 5. the rest ---------------------------------------------------------------------------

/// Finding 5: the `Authorization` scheme is case-insensitive (RFC 7235).
#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let _turn = turn();
    let served = hub_with(|hub| hub.authorize(bearer_token("s3cret")));
    for (value, status) in
        [("bearer s3cret", 200), ("BEARER s3cret", 200), ("Bearer s3cre", 401), ("Basic s3cret", 401)]
    {
        let (got, answer) = raw_post(&served.addr, "/v1/pull", &[("authorization", value)], br#"{"format":1}"#);
        assert_eq!(got, status, "{value:?}: {answer}");
    }
}

/// Finding 5: the hub's start-up error dropped its cause ("storage error: loading the replica").
#[test]
fn the_hub_says_why_it_cannot_start() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("no-such-folder").join("hub.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_statesync-hub"))
        .args(["--store", &format!("sqlite:{}", db.display()), "--listen", "127.0.0.1:0"])
        .output()
        .expect("run the hub");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    // SQLite's own words for the cause, and the file it could not open.
    assert!(stderr.contains("unable to open database file"), "the cause is printed: {stderr}");
    assert!(stderr.contains(db.to_str().unwrap()), "the file is named: {stderr}");
}
