//! The `statesync-hub` binary as an operator runs it: `--help` and `--version`, settings from
//! the command line, the environment and a `--config` file in that order of precedence, the
//! token from the environment or a file (never the command line), JSON logs on stderr while the
//! start line stays on stdout, `--metrics`, and the drain on SIGTERM: a request in flight when
//! the signal comes is answered, then the process exits 0.

use serde_json::{json, Value};
use statesync::{CreateOptions, Encoding, ManagerConfig, SyncContext, SyncManager};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

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
    for flag in ["--config", "--token-file", "--log-format", "--log-level", "--metrics", "--cors-origin", "--db"] {
        assert!(stdout.contains(flag), "{flag} in --help");
    }
    assert!(stdout.contains("STATESYNC_HUB_MAX_BATCH") && stdout.contains("STATESYNC_HUB_TOKEN"), "{stdout}");
    let mut command = hub_command();
    command.arg("--version");
    let (code, stdout, _) = run(command);
    assert_eq!((code, stdout.trim()), (0, concat!("statesync-hub ", env!("CARGO_PKG_VERSION"))));
}

#[test]
fn usage_errors_exit_two_with_a_message() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("hub.db");
    let cases: [(&[&str], &str); 4] = [
        (&["--token", "hunter2"], "STATESYNC_HUB_TOKEN"),
        (&["--log-level", "info,=[x"], "log filter"),
        (&["--config", "/nonexistent/hub.toml"], "/nonexistent/hub.toml"),
        (&["--max-batch=zero"], "positive whole number"),
    ];
    for (extra, expected) in cases {
        let mut command = hub_command();
        command.arg("--db").arg(&db).args(extra);
        let (code, stdout, stderr) = run(command);
        assert_eq!(code, 2, "{extra:?}: {stderr}");
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
        assert!(!stderr.contains("hunter2") && !stderr.contains("panicked"), "{stderr}");
        assert!(stdout.is_empty());
    }
    assert!(!db.exists(), "nothing was opened");
}

/// The node id in the start line shows which source won.
fn node_of(start_line: &str) -> String {
    start_line.split("node \"").nth(1).and_then(|r| r.split('"').next()).expect("node id").to_owned()
}

#[test]
fn the_command_line_beats_the_environment_beats_the_config_file() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("hub.toml");
    std::fs::write(&config, "node-id = \"from-config\"\nlisten = \"127.0.0.1:0\"\n").expect("config");
    let case = |db: &str, env: Option<&str>, cli: Option<&str>| {
        let mut command = hub_command();
        command.env("STATESYNC_HUB_CONFIG", &config).env("STATESYNC_HUB_DB", dir.path().join(db));
        if let Some(id) = env {
            command.env("STATESYNC_HUB_NODE_ID", id);
        }
        if let Some(id) = cli {
            command.arg(format!("--node-id={id}"));
        }
        let mut running = start(command);
        assert!(running.start_line.contains(db), "{}", running.start_line);
        let node = node_of(&running.start_line);
        assert!(terminate(&mut running).success());
        node
    };
    assert_eq!(case("a.db", None, None), "from-config");
    assert_eq!(case("b.db", Some("from-env"), None), "from-env");
    assert_eq!(case("c.db", Some("from-env"), Some("from-cli")), "from-cli");
}

#[test]
fn the_token_comes_from_the_environment_or_a_token_file() {
    let dir = tempfile::tempdir().expect("dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "from-file\n").expect("token");
    for (name, from_env) in [("env.db", true), ("file.db", false)] {
        let mut command = hub_command();
        command.args(["--listen", "127.0.0.1:0", "--db"]).arg(dir.path().join(name));
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
    command.args(["--listen", "127.0.0.1:0", "--log-format", "json", "--metrics", "--db"]).arg(dir.path().join("h.db"));
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
    command.args(["--listen", "127.0.0.1:0", "--db"]).arg(dir.path().join("h.db"));
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
    command.args(["--listen", "127.0.0.1:0", "--db"]).arg(&db);
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
    let reopened = SyncManager::open(ManagerConfig::sqlite(&db)).expect("reopen");
    assert_eq!(reopened.get_state("settings").expect("get").expect("kept").data, json!({"theme": "dark"}));
}
