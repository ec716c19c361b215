//! The `statesync-hub` binary as an operator runs it: `--help` and `--version`, settings from
//! the command line, the environment and a `--config` file in that order of precedence, the
//! store (`--store sqlite:PATH`, its `--db PATH` alias, `--store postgres://...` on the tests'
//! PostgreSQL cluster), the token from the environment or a file (never the command line), JWT
//! access with a rules file end to end, the refused combinations, JSON logs on stderr while the
//! start line stays on stdout, `--metrics`, and the drain on SIGTERM: a request in flight when
//! the signal comes is answered, then the process exits 0.

use serde_json::{json, Value};
use statesync::{CreateOptions, Encoding, HttpTransport, ManagerConfig, SyncContext, SyncError, SyncManager};
use statesync_hub::{PostgresStore, SqliteStore};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::postgres::PgCluster;
use support::{jwt, space_states, JWT_SECRET, PREFS_SCHEMA, RULES};

const BIN: &str = env!("CARGO_BIN_EXE_statesync-hub");

/// A command for the binary with no `STATESYNC_HUB_*` variable inherited from the caller.
fn hub_command() -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("STATESYNC_HUB_") {
            command.env_remove(name);
        }
    }
    command
}

/// A running hub; killed if a test fails before stopping it.
struct Running {
    child: Child,
    stdout: BufReader<ChildStdout>,
    start_line: String,
    url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(mut command: Command) -> Running {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn the hub");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut start_line = String::new();
    stdout.read_line(&mut start_line).expect("start line");
    let url = start_line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {start_line:?}"))
        .to_owned();
    Running { child, stdout, start_line, url }
}

/// Runs the binary to its end: exit code, stdout, stderr.
fn run(mut command: Command) -> (i32, String, String) {
    let output = command.output().expect("run the hub");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8");
    (output.status.code().expect("exit code"), text(output.stdout), text(output.stderr))
}

fn terminate(running: &mut Running) -> std::process::ExitStatus {
    let status = Command::new("kill").args(["-TERM", &running.child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = running.child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "the hub did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops a hub with SIGTERM and asserts it exited 0, with its stderr in the failure.
fn stop_cleanly(running: &mut Running) {
    let status = terminate(running);
    if !status.success() {
        let mut stderr = String::new();
        let _ = running.child.stderr.take().expect("stderr").read_to_string(&mut stderr);
        panic!("the hub exited {status:?}: {stderr}");
    }
}

fn get(url: &str, token: Option<&str>) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = agent.get(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.call().expect("answer").status().as_u16()
}

#[test]
fn help_and_version_exit_zero() {
    let mut command = hub_command();
    command.arg("--help");
    let (code, stdout, _) = run(command);
    assert_eq!(code, 0);
    for flag in [
        "--config",
        "--store",
        "--token-file",
        "--jwt-hs256-secret-file",
        "--jwt-public-key",
        "--jwt-issuer",
        "--jwt-audience",
        "--rules",
        "--log-format",
        "--log-level",
        "--metrics",
        "--cors-origin",
    ] {
        assert!(stdout.contains(flag), "{flag} in --help");
    }
    for env in
        ["STATESYNC_HUB_MAX_BATCH", "STATESYNC_HUB_TOKEN", "STATESYNC_HUB_STORE", "STATESYNC_HUB_JWT_HS256_SECRET"]
    {
        assert!(stdout.contains(env), "{env} in --help: {stdout}");
    }
    let mut command = hub_command();
    command.arg("--version");
    let (code, stdout, _) = run(command);
    assert_eq!((code, stdout.trim()), (0, concat!("statesync-hub ", env!("CARGO_PKG_VERSION"))));
}

#[test]
fn usage_errors_exit_two_with_a_message() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("hub.db");
    let secret_file = dir.path().join("jwt.secret");
    std::fs::write(&secret_file, JWT_SECRET).expect("secret");
    let secret_path = secret_file.to_str().expect("utf-8").to_owned();
    let short_file = dir.path().join("short.secret");
    std::fs::write(&short_file, "hunter2").expect("secret");
    let short_path = short_file.to_str().expect("utf-8").to_owned();
    let pem = format!("{}/tests/keys/ed25519.pub.pem", env!("CARGO_MANIFEST_DIR"));
    // The flags, an environment variable, and what the message must say.
    type Case<'a> = (Vec<&'a str>, Option<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (vec!["--token", "hunter2"], None, "STATESYNC_HUB_TOKEN"),
        (vec!["--log-level", "info,=[x"], None, "log filter"),
        (vec!["--config", "/nonexistent/hub.toml"], None, "/nonexistent/hub.toml"),
        (vec!["--max-batch=zero"], None, "positive whole number"),
        // Secrets never on the command line.
        (vec!["--jwt-hs256-secret", "hunter2"], None, "STATESYNC_HUB_JWT_HS256_SECRET"),
        (vec!["--jwt-hs256-secret=hunter2"], None, "--jwt-hs256-secret-file"),
        (vec!["--store", "postgres://hub:hunter2@127.0.0.1:1/hub"], None, "STATESYNC_HUB_STORE"),
        // A shared token and JWT keys together: which one decides is ambiguous.
        (vec!["--jwt-hs256-secret-file", &secret_path], Some(("STATESYNC_HUB_TOKEN", "hunter2")), "not both"),
        (vec!["--jwt-hs256-secret-file", &secret_path, "--jwt-public-key", &pem], None, "not both"),
        // Key files that are missing or unusable.
        (vec!["--jwt-public-key", "/nonexistent/key.pem"], None, "cannot read the JWT public key /nonexistent/key.pem"),
        (vec!["--jwt-hs256-secret-file", "/nonexistent/jwt"], None, "/nonexistent/jwt"),
        (vec!["--jwt-hs256-secret-file", &short_path], None, "at least 32"),
        (vec!["--jwt-public-key", &secret_path], None, "not an Ed25519, P-256 or RSA public key"),
        (vec!["--jwt-issuer", "https://auth.test"], None, "need JWT keys"),
    ];
    for (extra, env, expected) in cases {
        let mut command = hub_command();
        if !extra.contains(&"--store") {
            command.arg("--db").arg(&db);
        }
        command.args(&extra);
        if let Some((name, value)) = env {
            command.env(name, value);
        }
        let (code, stdout, stderr) = run(command);
        assert_eq!(code, 2, "{extra:?}: {stderr}");
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
        assert!(!stderr.contains("hunter2") && !stderr.contains("panicked"), "{stderr}");
        assert!(stdout.is_empty());
    }
    assert!(!db.exists(), "nothing was opened");
}

/// The store in the start line (`store sqlite PATH`) shows which source won.
fn store_of(start_line: &str) -> String {
    let rest = start_line.split("store sqlite ").nth(1).unwrap_or_else(|| panic!("no store in {start_line:?}"));
    rest.split(", auth").next().expect("store path").to_owned()
}

#[test]
fn the_command_line_beats_the_environment_beats_the_config_file() {
    let dir = tempfile::tempdir().expect("dir");
    let at = |name: &str| dir.path().join(name).display().to_string();
    let config = dir.path().join("hub.toml");
    std::fs::write(&config, format!("store = \"sqlite:{}\"\nlisten = \"127.0.0.1:0\"\n", at("config.db")))
        .expect("config");
    let case = |env: Option<&str>, cli: Option<&str>| {
        let mut command = hub_command();
        command.env("STATESYNC_HUB_CONFIG", &config);
        if let Some(name) = env {
            command.env("STATESYNC_HUB_STORE", format!("sqlite:{}", at(name)));
        }
        if let Some(name) = cli {
            command.arg(format!("--store=sqlite:{}", at(name)));
        }
        let mut running = start(command);
        let store = store_of(&running.start_line);
        assert!(terminate(&mut running).success());
        assert!(Path::new(&store).exists(), "{store} was opened");
        store
    };
    assert_eq!(case(None, None), at("config.db"));
    assert_eq!(case(Some("env.db"), None), at("env.db"));
    assert_eq!(case(Some("env.db"), Some("cli.db")), at("cli.db"));
}

#[test]
fn db_is_the_alias_of_a_sqlite_store() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("old-flag.db");
    let mut command = hub_command();
    command.args(["--listen", "127.0.0.1:0", "--db"]).arg(&db);
    let mut running = start(command);
    assert_eq!(store_of(&running.start_line), db.display().to_string());
    let client = SyncManager::open(ManagerConfig::memory().node_id("phone")).expect("open");
    client.create_state(json!({"theme": "dark"}), CreateOptions::id("settings")).expect("create");
    let hub = HttpTransport::new(&running.url).expect("url");
    assert_eq!(client.sync_via(&hub, &SyncContext::all()).expect("round").pushed.created, 1);
    assert!(terminate(&mut running).success());
    let store = SqliteStore::open(&db).expect("reopen the store");
    assert_eq!(space_states(&store, "default").len(), 1);
}

#[test]
fn a_postgres_store_is_served_and_keeps_what_was_pushed() {
    let url = PgCluster::start().database();
    let mut command = hub_command();
    command.args(["--listen", "127.0.0.1:0", "--store-pool-size", "2", "--store", &url]);
    let mut running = start(command);
    assert!(running.start_line.contains("store postgres, auth none"), "{}", running.start_line);
    assert!(!running.start_line.contains("postgres://"), "the URL is not printed: {}", running.start_line);
    let client = SyncManager::open(ManagerConfig::memory().node_id("phone")).expect("open");
    for i in 0..5 {
        client.create_state(json!({"n": i}), CreateOptions::id(format!("s{i}"))).expect("create");
    }
    let space = HttpTransport::new(&running.url).expect("url").space("team").expect("space");
    assert_eq!(client.sync_via(&space, &SyncContext::all()).expect("round").pushed.created, 5);
    assert_eq!(get(&format!("{}/readyz", running.url), None), 200);
    stop_cleanly(&mut running);
    // Everything is in the database, for any other process to serve.
    let store = PostgresStore::connect(&url, 1).expect("connect");
    assert_eq!(space_states(&store, "team").len(), 5);
    assert!(space_states(&store, "default").is_empty());
    let other = SyncManager::open(ManagerConfig::memory().node_id("laptop")).expect("open");
    let mut command = hub_command();
    command.args(["--listen", "127.0.0.1:0", "--store", &url]);
    let mut again = start(command);
    let space = HttpTransport::new(&again.url).expect("url").space("team").expect("space");
    assert_eq!(other.sync_via(&space, &SyncContext::all()).expect("round").pulled.created, 5);
    stop_cleanly(&mut again);
}

#[test]
fn jwt_and_rules_end_to_end() {
    let dir = tempfile::tempdir().expect("dir");
    let secret = dir.path().join("jwt.secret");
    std::fs::write(&secret, [JWT_SECRET, b"\n"].concat()).expect("secret");
    std::fs::write(dir.path().join("rules.toml"), RULES).expect("rules");
    std::fs::write(dir.path().join("prefs.schema.json"), PREFS_SCHEMA).expect("schema");
    let db = dir.path().join("hub.db");
    let mut command = hub_command();
    command
        .args(["--listen", "127.0.0.1:0", "--jwt-issuer", "https://auth.test", "--store"])
        .arg(format!("sqlite:{}", db.display()))
        .arg("--jwt-hs256-secret-file")
        .arg(&secret)
        .arg("--rules")
        .arg(dir.path().join("rules.toml"));
    let mut running = start(command);
    assert!(running.start_line.contains("auth jwt"), "{}", running.start_line);
    let token = |claims: Value| {
        let mut claims = claims;
        claims["iss"] = json!("https://auth.test");
        jwt(claims)
    };
    let (alice, admin) = (token(json!({"sub": "alice"})), token(json!({"sub": "root", "role": "admin"})));
    let hub = |space: &str, token: &str| {
        HttpTransport::new(&running.url).expect("url").space(space).expect("space").token(token)
    };
    let replica = |node: &str| SyncManager::open(ManagerConfig::memory().node_id(node)).expect("open");

    // Alice's own space: hers, and her data is checked against the schema.
    let phone = replica("phone");
    phone.create_state(json!({"theme": "dark"}), CreateOptions::id("ok").in_collection("prefs")).expect("create");
    phone.create_state(json!({"theme": "neon"}), CreateOptions::id("bad").in_collection("prefs")).expect("create");
    let report = phone.sync_via(&hub("user:alice", &alice), &SyncContext::all()).expect("round");
    assert_eq!((report.pushed.created, report.pushed.rejected), (1, 1));
    let refused = phone.rejections().expect("rejections");
    assert_eq!((refused[0].state_id.as_str(), refused[0].code.as_str()), ("bad", "INVALID_STATE"));

    // Nobody else's space, no token, a wrong issuer, a wrong key.
    let url = format!("{}/v1/spaces/user:alice/capabilities", running.url);
    assert_eq!(get(&url, Some(&token(json!({"sub": "bob"})))), 403);
    assert_eq!(get(&url, None), 401);
    assert_eq!(get(&url, Some(&jwt(json!({"sub": "alice", "iss": "https://evil.test"})))), 401);
    let forged = support::jwt_with(b"another secret of at least thirty-two bytes", json!({"sub": "alice"}));
    assert_eq!(get(&url, Some(&forged)), 401);
    assert_eq!(get(&url, Some(&alice)), 200);
    match replica("x").sync_via(&hub("user:alice", &token(json!({"sub": "bob"}))), &SyncContext::all()) {
        Err(SyncError::Forbidden(m)) => assert!(m.contains("bob"), "{m}"),
        other => panic!("expected FORBIDDEN, got {other:?}"),
    }

    // The rules' global space: everyone reads, only an admin writes.
    let desk = replica("desk");
    desk.create_state(json!({"motd": "hello"}), CreateOptions::id("motd").in_collection("news")).expect("create");
    let report = desk.sync_via(&hub("global", &admin), &SyncContext::all()).expect("round");
    assert_eq!(report.pushed.created, 1);
    let laptop = replica("laptop");
    laptop.create_state(json!({"motd": "mine"}), CreateOptions::id("graffiti").in_collection("news")).expect("create");
    let report = laptop.sync_via(&hub("global", &alice), &SyncContext::all()).expect("round");
    assert_eq!((report.pulled.created, report.pushed.rejected), (1, 1));
    assert_eq!(laptop.rejections().expect("rejections")[0].code, "FORBIDDEN");
    assert_eq!(laptop.get_state("motd").expect("get").expect("pulled").data, json!({"motd": "hello"}));
    assert!(terminate(&mut running).success());

    let store = SqliteStore::open(&db).expect("reopen");
    let ids = |space: &str| space_states(&store, space).into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!((ids("user:alice"), ids("global")), (vec!["ok".to_owned()], vec!["motd".to_owned()]));
}

#[test]
fn the_token_comes_from_the_environment_or_a_token_file() {
    let dir = tempfile::tempdir().expect("dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "from-file\n").expect("token");
    for (name, from_env) in [("env.db", true), ("file.db", false)] {
        let mut command = hub_command();
        command.args(["--listen", "127.0.0.1:0", "--store"]).arg(format!("sqlite:{}", dir.path().join(name).display()));
        let token = if from_env {
            command.env("STATESYNC_HUB_TOKEN", "from-env");
            "from-env"
        } else {
            command.arg("--token-file").arg(&token_file);
            "from-file"
        };
        let mut running = start(command);
        assert!(running.start_line.contains("auth bearer token"), "{}", running.start_line);
        let url = format!("{}/v1/capabilities", running.url);
        assert_eq!(get(&url, None), 401);
        assert_eq!(get(&url, Some("wrong")), 401);
        assert_eq!(get(&url, Some(token)), 200);
        assert!(terminate(&mut running).success());
    }
}

#[test]
fn json_logs_go_to_stderr_and_metrics_are_served_with_the_flag() {
    let dir = tempfile::tempdir().expect("dir");
    let mut command = hub_command();
    command
        .args(["--listen", "127.0.0.1:0", "--log-format", "json", "--metrics", "--store"])
        .arg(format!("sqlite:{}", dir.path().join("h.db").display()));
    let mut running = start(command);
    assert!(running.start_line.starts_with("statesync-hub listening on http://127.0.0.1:"), "{}", running.start_line);
    assert_eq!(get(&format!("{}/healthz", running.url), None), 200);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let pushed = agent
        .post(format!("{}/v1/push", running.url))
        .header("content-type", "application/json")
        .send(&push_body(dir.path())[..])
        .expect("push");
    assert_eq!(pushed.status().as_u16(), 200);
    let pulled = agent.post(format!("{}/v1/pull", running.url)).send(r#"{"format":1,"cursor":null}"#).expect("pull");
    assert_eq!(pulled.status().as_u16(), 200);
    assert_eq!(get(&format!("{}/metrics", running.url), None), 200);
    assert!(terminate(&mut running).success());
    let mut rest = String::new();
    running.stdout.read_to_string(&mut rest).expect("stdout");
    assert_eq!(rest.trim(), "statesync-hub stopped", "only the start and stop lines on stdout");
    let mut stderr = String::new();
    running.child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("stderr");
    let events: Vec<Value> =
        stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}"))).collect();
    let requests: Vec<&Value> = events.iter().filter(|e| e["fields"]["message"] == "request").collect();
    assert_eq!(requests.len(), 4, "{stderr}");
    let fields = &requests[0]["fields"];
    assert_eq!(
        (&fields["method"], &fields["path"], &fields["status"]),
        (&json!("GET"), &json!("/healthz"), &json!(200))
    );
    assert!(fields["duration_ms"].is_number());
    let event = |message: &str| {
        events.iter().find(|e| e["fields"]["message"] == message).unwrap_or_else(|| panic!("no {message:?}: {stderr}"))
    };
    let push = &event("push applied")["fields"];
    assert_eq!((&push["received"], &push["created"], &push["rejected"]), (&json!(1), &json!(1), &json!(0)));
    let pull = &event("pull served")["fields"];
    assert_eq!((&pull["states"], &pull["has_more"]), (&json!(1), &json!(false)));

    // Without --metrics, /metrics is not served.
    let mut command = hub_command();
    command.args(["--listen", "127.0.0.1:0", "--store"]).arg(format!("sqlite:{}", dir.path().join("h.db").display()));
    let mut running = start(command);
    assert_eq!(get(&format!("{}/metrics", running.url), None), 404);
    assert!(terminate(&mut running).success());
}

/// A push page of one state, as JSON.
fn push_body(dir: &Path) -> Vec<u8> {
    let client = SyncManager::open(ManagerConfig::sqlite(dir.join("client.db")).node_id("client")).expect("open");
    client.create_state(json!({"theme": "dark"}), CreateOptions::id("settings")).expect("create");
    statesync::encode(&client.changes_since(None, &SyncContext::all()).expect("changes"), Encoding::Json)
}

#[test]
fn sigterm_answers_the_request_in_flight_then_exits_zero() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("hub.db");
    let mut command = hub_command();
    command.args(["--listen", "127.0.0.1:0", "--store"]).arg(format!("sqlite:{}", db.display()));
    let mut running = start(command);
    let addr = running.url.trim_start_matches("http://").to_owned();
    let body = push_body(dir.path());
    let (first, second) = body.split_at(body.len() / 2);

    // Half a push is on the wire when the signal comes.
    let mut stream = TcpStream::connect(&addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(
        stream,
        "POST /v1/push HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .expect("headers");
    stream.write_all(first).expect("first half");
    stream.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill").args(["-TERM", &running.child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(300));
    assert!(running.child.try_wait().expect("wait").is_none(), "the hub waits for the request in flight");
    assert!(TcpStream::connect(&addr).is_err(), "no new connections once draining");

    stream.write_all(second).expect("second half");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"created\":1"), "{answer}");

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = running.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the hub did not stop after the drain");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let reopened = SqliteStore::open(&db).expect("reopen");
    let kept = space_states(&reopened, "default");
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].id.as_str(), &kept[0].data), ("settings", &json!({"theme": "dark"})));
}

#[test]
fn jwt_issuer_and_audience_are_checked_only_when_given() {
    let dir = tempfile::tempdir().expect("dir");
    let secret = dir.path().join("jwt.secret");
    std::fs::write(&secret, JWT_SECRET).expect("secret");
    let caps = |url: &str| format!("{url}/v1/spaces/user:alice/capabilities");
    let plain = json!({"sub": "alice"});
    let stamped = json!({"sub": "alice", "iss": "https://auth.test", "aud": "hub"});
    // Neither flag: any issuer and audience (or none) is accepted.
    let mut command = hub_command();
    command
        .args(["--listen", "127.0.0.1:0", "--jwt-hs256-secret-file"])
        .arg(&secret)
        .arg("--db")
        .arg(dir.path().join("a.db"));
    let mut running = start(command);
    assert_eq!(get(&caps(&running.url), Some(&jwt(plain.clone()))), 200);
    assert_eq!(get(&caps(&running.url), Some(&jwt(stamped.clone()))), 200);
    assert!(terminate(&mut running).success());
    // Both flags: a token must carry both, with accepted values.
    let mut command = hub_command();
    command
        .args(["--listen", "127.0.0.1:0", "--jwt-issuer", "https://auth.test", "--jwt-audience", "hub,other"])
        .arg("--jwt-hs256-secret-file")
        .arg(&secret)
        .arg("--db")
        .arg(dir.path().join("b.db"));
    let mut running = start(command);
    assert_eq!(get(&caps(&running.url), Some(&jwt(stamped))), 200);
    assert_eq!(get(&caps(&running.url), Some(&jwt(plain))), 401);
    let wrong_aud = json!({"sub": "alice", "iss": "https://auth.test", "aud": "elsewhere"});
    assert_eq!(get(&caps(&running.url), Some(&jwt(wrong_aud))), 401);
    assert!(terminate(&mut running).success());
}
