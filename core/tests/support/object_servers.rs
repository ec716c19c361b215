//! Real object-storage servers for tests, each a process of its own on a free port of
//! 127.0.0.1 with a fresh bucket: moto (S3), Azurite (Azure Blob) and fake-gcs-server (GCS).
//!
//! `scripts/install-object-stores.sh` installs them under `<workspace>/target/object-stores/`
//! (scripts/test.sh runs it before the tests); an environment variable per server points at
//! another binary instead. A server missing is a failure, never a skip.
//!
//! Each server runs in a process group of its own with its data and log in a temporary folder;
//! dropping the [`ObjectServer`] (a panicking test's unwinding included) kills the group and
//! removes the folder. A reaper in the same group does both should the test process die
//! without unwinding (an abort, a SIGKILL).
//!
//! [`ObjectServer::url`] gives the storage URL of a prefix of the bucket: the object_store
//! config keys the URL's query carries are the ones that reach that server.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Which server to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// moto's S3 server (`moto_server`).
    S3,
    /// Azurite's Blob service (`azurite-blob`).
    Azure,
    /// fake-gcs-server.
    Gcs,
}

/// Azurite's well-known development account and key (the same in every Azurite install).
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// The key of [`AZURITE_ACCOUNT`].
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// How long a server may take to answer after it starts: Azurite's and moto's interpreters
/// are slow to start on a loaded 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Ports taken by a server that exits at once (a race for a free port) are retried this often.
const START_ATTEMPTS: usize = 3;

static SERVERS: AtomicUsize = AtomicUsize::new(0);

/// A running server with a fresh bucket (an Azure container for [`ServerKind::Azure`]).
pub struct ObjectServer {
    /// The server.
    pub kind: ServerKind,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The bucket (container) made for this server, unique per server.
    pub bucket: String,
    child: Child,
    reaper: Option<Child>,
    dir: Option<tempfile::TempDir>,
    /// fake-gcs-server's upload front ([`GcsFront`]); the URL points at it.
    front: Option<GcsFront>,
}

impl ServerKind {
    /// The server's program name, for messages.
    fn program(self) -> &'static str {
        match self {
            ServerKind::S3 => "moto_server",
            ServerKind::Azure => "azurite-blob",
            ServerKind::Gcs => "fake-gcs-server",
        }
    }

    /// The environment variable that overrides where the binary is.
    fn env_var(self) -> &'static str {
        match self {
            ServerKind::S3 => "STATESYNC_MOTO_SERVER",
            ServerKind::Azure => "STATESYNC_AZURITE_BLOB",
            ServerKind::Gcs => "STATESYNC_FAKE_GCS_SERVER",
        }
    }

    /// Where scripts/install-object-stores.sh puts the binary, below the workspace.
    fn installed_at(self) -> &'static str {
        match self {
            ServerKind::S3 => "target/object-stores/moto-venv/bin/moto_server",
            ServerKind::Azure => "target/object-stores/azurite/node_modules/.bin/azurite-blob",
            ServerKind::Gcs => "target/object-stores/go/bin/fake-gcs-server",
        }
    }

    /// The binary to run: the environment variable's, else the installed one. Panics, saying
    /// how to install it, when there is none.
    fn binary(self) -> PathBuf {
        if let Some(path) = std::env::var_os(self.env_var()).filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            assert!(path.is_file(), "{} is set to {}, which is not a file", self.env_var(), path.display());
            return path;
        }
        // The core's manifest folder is `<workspace>/core`.
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace folder");
        let path = workspace.join(self.installed_at());
        assert!(
            path.is_file(),
            "{} is not installed ({} missing): run scripts/install-object-stores.sh (scripts/test.sh does), \
             or set {} to the binary",
            self.program(),
            path.display(),
            self.env_var()
        );
        path
    }

    /// The command that serves on `port` with its data under `data`.
    fn command(self, binary: &Path, port: u16, data: &Path) -> Command {
        let port = port.to_string();
        let mut command = Command::new(binary);
        match self {
            ServerKind::S3 => {
                command.args(["-H", "127.0.0.1", "-p", &port]);
            }
            ServerKind::Azure => {
                // No telemetry (no traffic off this machine); the account is always the first
                // path segment, never read from the host name.
                command.args(["--blobHost", "127.0.0.1", "--blobPort", &port, "--location"]).arg(data).args([
                    "--disableTelemetry",
                    "--disableProductStyleUrl",
                    "--skipApiVersionCheck",
                ]);
            }
            ServerKind::Gcs => {
                // The filesystem backend's default root is /storage: keep it in the temp dir.
                // The public host is the address itself, so requests to it are path-style.
                let public = format!("127.0.0.1:{port}");
                command
                    .args(["-scheme", "http", "-host", "127.0.0.1", "-port", &port, "-backend", "filesystem"])
                    .arg("-filesystem-root")
                    .arg(data)
                    .args(["-public-host", &public, "-external-url", &format!("http://{public}")])
                    .args(["-log-level", "warn"]);
            }
        }
        command
    }
}

impl ObjectServer {
    /// Starts a `kind` server on a free port of 127.0.0.1, waits until it answers (at most
    /// 60 s) and makes a fresh bucket on it. Panics, with the server's log, when it cannot.
    pub fn start(kind: ServerKind) -> ObjectServer {
        let binary = kind.binary();
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let dir = tempfile::Builder::new().prefix("statesync-objects-").tempdir().expect("temp dir");
            let data = dir.path().join("data");
            std::fs::create_dir(&data).expect("data folder");
            let log_path = dir.path().join("server.log");
            let log = File::create(&log_path).expect("log file");
            let port = free_port();
            let child = kind
                .command(&binary, port, &data)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                // A group of its own: Drop kills the server with whatever it started.
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
            let n = SERVERS.fetch_add(1, Ordering::SeqCst);
            let bucket = format!("statesync-{}-{n}", std::process::id());
            // Built before waiting, so that a panic from here on kills the process.
            let mut server = ObjectServer { kind, port, bucket, child, reaper: None, dir: Some(dir), front: None };
            let started = Instant::now();
            if server.wait_until_answering() {
                server.start_reaper();
                server.create_bucket();
                if kind == ServerKind::Gcs {
                    server.front = Some(GcsFront::start(port));
                }
                // Shown with a failing test's output (the harness keeps it otherwise).
                eprintln!("{} on 127.0.0.1:{port} answered after {:?}", kind.program(), started.elapsed());
                return server;
            }
            // It exited before answering: most likely the port was taken in between.
            last_log = server.log();
        }
        panic!("{} exited before answering, {START_ATTEMPTS} times; its last log:\n{last_log}", kind.program());
    }

    /// The storage URL of `prefix` in this server's bucket, with the object_store options that
    /// reach the server in its query.
    pub fn url(&self, prefix: &str) -> String {
        let prefix = prefix.trim_matches('/');
        let endpoint = format!("http://127.0.0.1:{}", self.port);
        match self.kind {
            // moto takes any key pair; path-style requests (object_store's default with an
            // endpoint) keep the bucket out of the host name.
            ServerKind::S3 => format!(
                "s3://{}/{prefix}?endpoint={}&region=us-east-1&allow_http=true&access_key_id=test&secret_access_key=test",
                self.bucket,
                query_value(&endpoint)
            ),
            // The development account's endpoint with the account as its path, signed with its
            // well-known key (object_store's `use_emulator` would take the port from an
            // environment variable, one for the whole process).
            ServerKind::Azure => format!(
                "az://{}/{prefix}?account_name={AZURITE_ACCOUNT}&access_key={}&endpoint={}&allow_http=true",
                self.bucket,
                query_value(AZURITE_KEY),
                query_value(&format!("{endpoint}/{AZURITE_ACCOUNT}"))
            ),
            // fake-gcs-server checks no credential, but a credential there must be: object_store
            // 0.14 fetches one for every upload even with `skip_signature`, and without one it
            // asks the cloud's instance metadata server, off this machine. A static bearer token
            // is never fetched.
            // object_store uploads through the XML API, which fake-gcs-server serves for signed
            // URLs only: the URL reaches it through its upload front.
            ServerKind::Gcs => format!(
                "gs://{}/{prefix}?base_url={}&bearer_token=test&allow_http=true",
                self.bucket,
                query_value(&format!("http://127.0.0.1:{}", self.front.as_ref().expect("the GCS front").port))
            ),
        }
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        let path = self.dir.as_ref().expect("the server's folder").path().join("server.log");
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// Polls until the server answers HTTP: true, or false when it exited first. Panics with
    /// its log after [`START_TIMEOUT`].
    fn wait_until_answering(&mut self) -> bool {
        let started = Instant::now();
        loop {
            if self.child.try_wait().expect("the server's status").is_some() {
                return false;
            }
            let probe = match self.kind {
                ServerKind::Gcs => "/storage/v1/b",
                _ => "/",
            };
            // Any HTTP answer means it serves (Azurite answers an unsigned request with 4xx).
            if http(self.port, "GET", probe, &[], b"").is_ok() {
                return true;
            }
            if started.elapsed() > START_TIMEOUT {
                panic!("{} did not answer within {START_TIMEOUT:?}; its log:\n{}", self.kind.program(), self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts a shell in the server's process group that waits for this process to end, then
    /// removes the folder and kills the group (itself included). Drop kills it with the group.
    fn start_reaper(&mut self) {
        let dir = self.dir.as_ref().expect("the server's folder").path().display().to_string();
        let script = r#"while kill -0 "$0" 2>/dev/null; do sleep 1; done; rm -rf "$1"; kill -KILL 0"#;
        let reaper = Command::new("sh")
            .args(["-c", script, &std::process::id().to_string(), &dir])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(self.child.id() as i32)
            .spawn()
            .unwrap_or_else(|e| panic!("starting the reaper of {}: {e}", self.kind.program()));
        self.reaper = Some(reaper);
    }

    /// Makes the server's bucket (container), checking the server's answer.
    fn create_bucket(&self) {
        let (status, body) = match self.kind {
            // moto takes an unsigned bucket creation.
            ServerKind::S3 => http(self.port, "PUT", &format!("/{}", self.bucket), &[], b""),
            ServerKind::Azure => {
                let path = format!("/{AZURITE_ACCOUNT}/{}", self.bucket);
                let headers = azure_signed_headers("PUT", &path, &[("restype", "container")]);
                http(self.port, "PUT", &format!("{path}?restype=container"), &headers, b"")
            }
            ServerKind::Gcs => {
                let body = format!(r#"{{"name":"{}"}}"#, self.bucket);
                let headers = [("Content-Type".to_owned(), "application/json".to_owned())];
                http(self.port, "POST", "/storage/v1/b?project=statesync", &headers, body.as_bytes())
            }
        }
        .unwrap_or_else(|e| panic!("creating the bucket on {}: {e}; its log:\n{}", self.kind.program(), self.log()));
        assert!(
            (200..300).contains(&status),
            "creating the bucket on {} answered {status}: {body}; its log:\n{}",
            self.kind.program(),
            self.log()
        );
    }
}

impl Drop for ObjectServer {
    fn drop(&mut self) {
        self.front.take();
        // The group is the server's pid (process_group(0)): the server, what it started and
        // the reaper.
        let group = self.child.id() as i32;
        // SAFETY: kill(2) takes plain integers and touches no memory of ours.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.child.wait();
        if let Some(mut reaper) = self.reaper.take() {
            let _ = reaper.wait();
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

/// A port of 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port").local_addr().expect("addr").port()
}

/// `value` percent-encoded for a URL query (what the URL parser decodes back).
fn query_value(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' | b'/' => out.push(byte as char),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// One HTTP/1.1 request to 127.0.0.1:`port` on a connection of its own: the status and body.
fn http(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| text.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not an HTTP answer: {text:?}")))?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// The headers of a request with no body to Azurite's `path` (which starts with the account)
/// with `query`, signed with SharedKey by the development account's key.
fn azure_signed_headers(method: &str, path: &str, query: &[(&str, &str)]) -> Vec<(String, String)> {
    use base64::Engine;
    use hmac::Mac;
    let date = http_date(SystemTime::now());
    let version = "2021-08-06";
    // The twelve standard headers (all empty here: no body, no conditions), then the x-ms-
    // headers sorted, then the resource: the account, the path, the query sorted by name.
    let mut to_sign =
        format!("{method}\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{AZURITE_ACCOUNT}{path}");
    let mut query = query.to_vec();
    query.sort();
    for (name, value) in query {
        to_sign.push_str(&format!("\n{}:{value}", name.to_lowercase()));
    }
    let key = base64::engine::general_purpose::STANDARD.decode(AZURITE_KEY).expect("the development key");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("an HMAC key");
    mac.update(to_sign.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    vec![
        ("x-ms-date".to_owned(), date),
        ("x-ms-version".to_owned(), version.to_owned()),
        ("Authorization".to_owned(), format!("SharedKey {AZURITE_ACCOUNT}:{signature}")),
    ]
}

/// `time` as an HTTP date (RFC 7231 IMF-fixdate), e.g. `Tue, 08 Dec 2026 00:01:44 GMT`.
fn http_date(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
    let days = (secs / 86_400) as i64;
    let (hour, minute, second) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let month =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][(month - 1) as usize];
    format!("{weekday}, {day:02} {month} {year} {hour:02}:{minute:02}:{second:02} GMT")
}

/// A front on its own port of 127.0.0.1 for fake-gcs-server, which serves every request
/// object_store's GCS client makes but its uploads: object_store uploads with the XML API
/// (`PUT /BUCKET/OBJECT`, `x-goog-if-generation-match` for a conditional put), which
/// fake-gcs-server (v1.56.1, the latest) takes only for signed URLs. The front sends such an
/// upload as the JSON API's media upload (`ifGenerationMatch`), which it serves with the same
/// semantics (a failed condition answers 412), and answers as the XML API does (the ETag and
/// `x-goog-generation` headers). Every other request goes through unchanged. Headers it could
/// not carry over are refused with 501, never dropped.
struct GcsFront {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GcsFront {
    /// Starts the front of the fake-gcs-server listening on `upstream`.
    fn start(upstream: u16) -> GcsFront {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the GCS front");
        let port = listener.local_addr().expect("addr").port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    // One request per connection (answered with `Connection: close`).
                    std::thread::spawn(move || front_one(stream, upstream));
                }
            }
        });
        GcsFront { port, stop, thread: Some(thread) }
    }
}

impl Drop for GcsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop up to see the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A request read off a connection.
struct Request {
    method: String,
    target: String,
    /// Names lower-cased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Reads one request (its body by Content-Length) off `stream`.
fn read_request(stream: &mut TcpStream) -> std::io::Result<Request> {
    let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(invalid("the connection closed inside a request head"));
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let (method, target) = (first.next().unwrap_or_default().to_owned(), first.next().unwrap_or_default().to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    if headers.iter().any(|(name, value)| name == "transfer-encoding" && value != "identity") {
        return Err(invalid("a chunked request body (object_store sends Content-Length)"));
    }
    let length: usize =
        header(&headers, "content-length").map_or(Ok(0), str::parse).map_err(|_| invalid("Content-Length"))?;
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(invalid("the connection closed inside a request body"));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok(Request { method, target, headers, body })
}

/// The value of the (lower-case) header `name`.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// `text` with its %XX escapes decoded.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Serves one connection of the front: an XML-API upload as a JSON-API one, anything else
/// passed through.
fn front_one(mut client: TcpStream, upstream: u16) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    let request = match read_request(&mut client) {
        Ok(request) => request,
        Err(e) => {
            let body = format!("the GCS test front cannot read this request: {e}");
            let _ = write!(
                client,
                "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            return;
        }
    };
    let (path, query) = request.target.split_once('?').unwrap_or((&request.target, ""));
    // `/BUCKET/OBJECT` with no query: an upload (multipart parts carry a query).
    let upload = request.method == "PUT" && query.is_empty() && path.trim_start_matches('/').contains('/');
    let answer = if upload { front_upload(&request, path, upstream) } else { pass_through(&request, upstream) };
    let answer = answer.unwrap_or_else(|e| {
        let body = format!("fake-gcs-server did not answer the GCS test front: {e}");
        format!("HTTP/1.1 502 Bad Gateway\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
            .into_bytes()
    });
    let _ = client.write_all(&answer);
}

/// Sends `request` to fake-gcs-server as it came, but for the host (fake-gcs-server routes
/// path-style requests by its public host) and `Connection: close`: its whole answer.
fn pass_through(request: &Request, upstream: u16) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(("127.0.0.1", upstream))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: 127.0.0.1:{upstream}\r\nConnection: close\r\n",
        request.method, request.target
    );
    for (name, value) in &request.headers {
        if name != "host" && name != "connection" {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(&request.body)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(answer)
}

/// The XML-API upload `request` to `/BUCKET/OBJECT` (`path`) as a JSON-API media upload, and
/// its answer as the XML API gives it.
fn front_upload(request: &Request, path: &str, upstream: u16) -> std::io::Result<Vec<u8>> {
    let (bucket, object) = path.trim_start_matches('/').split_once('/').expect("checked by the caller");
    // What the JSON media upload cannot carry (custom metadata, content headers) is refused.
    let carried = [
        "host",
        "connection",
        "content-length",
        "content-type",
        "authorization",
        "accept",
        "user-agent",
        "x-goog-if-generation-match",
    ];
    if let Some((name, _)) = request.headers.iter().find(|(name, _)| !carried.contains(&name.as_str())) {
        let body = format!("the GCS test front cannot carry the header {name} into a JSON-API upload");
        return Ok(format!(
            "HTTP/1.1 501 Not Implemented\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes());
    }
    let mut target = format!(
        "/upload/storage/v1/b/{}/o?uploadType=media&name={}",
        percent_decode(bucket),
        query_value(&percent_decode(object))
    );
    if let Some(generation) = header(&request.headers, "x-goog-if-generation-match") {
        target.push_str(&format!("&ifGenerationMatch={}", query_value(generation)));
    }
    let content_type = header(&request.headers, "content-type").unwrap_or("application/octet-stream");
    let headers = [("Content-Type".to_owned(), content_type.to_owned())];
    let (status, body) = http(upstream, "POST", &target, &headers, &request.body)?;
    if status != 200 {
        return Ok(format!("HTTP/1.1 {status} Upstream\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).into_bytes());
    }
    let object: serde_json::Value = serde_json::from_str(&body).map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("the upload's answer {body:?}: {e}"))
    })?;
    let field = |name: &str| object.get(name).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    Ok(format!(
        "HTTP/1.1 200 OK\r\nETag: \"{}\"\r\nx-goog-generation: {}\r\nx-goog-metageneration: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        field("etag"),
        field("generation"),
        field("metageneration")
    )
    .into_bytes())
}
