//! A private PostgreSQL cluster for tests: `initdb` in a temporary folder (as the `postgres`
//! user when the tests run as root: initdb refuses root), `pg_ctl start` on a free port of
//! 127.0.0.1, one fresh database per test so tests run in parallel on one cluster.
//!
//! One cluster serves a whole test binary. A static's `Drop` never runs, so a reaper process
//! started with the cluster waits for the test binary to exit (however it exits, a panic or an
//! abort included) and then stops the cluster and removes its folder.
//!
//! PostgreSQL missing is a failure, never a skip: `scripts/test.sh` installs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// A running cluster.
pub struct PgCluster {
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
}

static CLUSTER: OnceLock<PgCluster> = OnceLock::new();
static DURABLE: OnceLock<PgCluster> = OnceLock::new();
static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// The folder of PostgreSQL's programs: `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/*/bin` holding `initdb`. Panics, saying how to install it, when there
/// is none.
fn bin_dir() -> PathBuf {
    let from_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file());
    if let Some(dir) = from_config {
        return dir;
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|dir| dir.join("initdb").is_file())
        .collect();
    found.sort_by_key(|d| {
        d.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok())
    });
    found.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed (no initdb in pg_config --bindir nor /usr/lib/postgresql/*/bin): \
             install it with `apt-get install -y postgresql` (scripts/test.sh does)"
        )
    })
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// Runs `program args…` as the cluster's owner: `postgres` when we are root, else ourselves.
fn run_as_owner(program: &Path, args: &[&str]) -> std::process::Output {
    let output = if is_root() {
        let quoted: Vec<String> = std::iter::once(program.display().to_string())
            .chain(args.iter().map(|a| a.to_string()))
            .map(quote)
            .collect();
        Command::new("su").args(["postgres", "-s", "/bin/sh", "-c", &quoted.join(" ")]).output()
    } else {
        Command::new(program).args(args).output()
    };
    output.unwrap_or_else(|e| panic!("running {}: {e}", program.display()))
}

/// `text` quoted for sh.
fn quote(text: String) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port").local_addr().expect("addr").port()
}

impl PgCluster {
    /// The test binary's cluster, started on first use.
    pub fn start() -> &'static PgCluster {
        CLUSTER.get_or_init(|| PgCluster::launch(false))
    }

    /// A cluster that syncs its commits to disk (PostgreSQL's default), for benchmarks that
    /// compare it with a SQLite store at `synchronous=FULL`; the tests' cluster does not
    /// (`-F`), since they never lose power.
    pub fn start_durable() -> &'static PgCluster {
        DURABLE.get_or_init(|| PgCluster::launch(true))
    }

    fn launch(fsync: bool) -> PgCluster {
        let bin = bin_dir();
        let dir = tempfile::Builder::new().prefix("statesync-pg-").tempdir().expect("temp dir").keep();
        if is_root() {
            let status = Command::new("chown").args(["postgres:postgres", &dir.display().to_string()]).status();
            assert!(status.is_ok_and(|s| s.success()), "chown {} to postgres", dir.display());
        }
        let data = dir.join("data");
        let data_arg = data.display().to_string();
        let out = run_as_owner(
            &bin.join("initdb"),
            &["-D", &data_arg, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"],
        );
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let pg_ctl = bin.join("pg_ctl");
        // A port that was free may be taken before the server binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let no_fsync = if fsync { "" } else { " -F" };
            let options = format!("-p {port} -k {} -h 127.0.0.1{no_fsync} -c max_connections=300", dir.display());
            let log = dir.join("log").display().to_string();
            let out = run_as_owner(&pg_ctl, &["-D", &data_arg, "-l", &log, "-w", "-o", &options, "start"]);
            if out.status.success() {
                reap_on_exit(&pg_ctl, &data, &dir);
                return PgCluster { port, dir };
            }
        }
        let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        panic!("pg_ctl start failed; its log:\n{log}");
    }

    /// The URL of the cluster's `postgres` database.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A new empty database of the cluster, for one test: its URL.
    pub fn database(&self) -> String {
        let name = format!("t{}_{}", std::process::id(), DATABASES.fetch_add(1, Ordering::SeqCst));
        let mut admin = postgres::Client::connect(&self.admin_url(), postgres::NoTls).expect("connect to the cluster");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create a database");
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// The cluster's folder (its data, socket and log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Starts the reaper: a shell that waits for this process to end, then stops the cluster
/// (`pg_ctl -m fast stop`, immediate if that fails) and removes its folder.
fn reap_on_exit(pg_ctl: &Path, data: &Path, dir: &Path) {
    let stop = |mode: &str| {
        let command = format!(
            "{} -D {} -m {mode} -w stop",
            quote(pg_ctl.display().to_string()),
            quote(data.display().to_string())
        );
        if is_root() {
            format!("su postgres -s /bin/sh -c {}", quote(command))
        } else {
            command
        }
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.1; done; {fast} >/dev/null 2>&1 || {immediate} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        fast = stop("fast"),
        immediate = stop("immediate"),
        dir = quote(dir.display().to_string()),
    );
    // Started in the background by a shell that returns at once: the reaper is nobody's
    // child in this process, and outlives it.
    let status = Command::new("sh")
        .args(["-c", &format!("({script}) </dev/null >/dev/null 2>&1 &")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("start the cluster's reaper");
    assert!(status.success(), "starting the cluster's reaper: {status}");
}
