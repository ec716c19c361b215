//! Backups of every space (`--backup-to`, `--backup-every`, `--backup-keep`,
//! `--backup-key-file`; src/backup.rs) with the `statesync-hub` binary as an operator runs it:
//! clients write to two spaces over HTTP, the hub backs each one up under `URL/SPACE/`, and a
//! fresh replica restores a space's backup with the core's `restore_backup`, holding exactly
//! that space. Keep-N, skipped unchanged spaces, encryption, a failed run that is retried, the
//! refused settings, the PostgreSQL store, and (in process) a stop that waits for the backup
//! in progress while the runtime keeps serving.

use serde_json::{json, Value};
use statesync::{
    list_backups, verify_backup, BackupInfo, CreateOptions, EncryptionKey, HttpTransport, ManagerConfig, SyncContext,
    SyncManager,
};
use statesync_hub::backup::space_url;
use statesync_hub::identity::SpaceId;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::postgres::PgCluster;
use support::process::BIN;
use support::replica_states;

/// How long a test waits for backups that should come within a few 1 s runs.
const PATIENCE: Duration = Duration::from_secs(30);

/// A running hub whose stderr (its logs) goes to a file; killed if a test fails first.
struct Running {
    child: Child,
    url: String,
    logs: tempfile::NamedTempFile,
    /// Kept open: the hub prints a last line when it stops.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn logs(&self) -> String {
        std::fs::read_to_string(self.logs.path()).expect("read the logs")
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the hub did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A command for the binary with no `STATESYNC_HUB_*` variable inherited from the caller.
fn hub_command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("STATESYNC_HUB_") {
            command.env_remove(name);
        }
    }
    command.args(args);
    command
}

/// Starts the hub with `args` and `--listen 127.0.0.1:0`, waiting for its start line.
fn start(args: &[&str]) -> Running {
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let mut child = hub_command(args)
        .args(["--listen", "127.0.0.1:0", "--log-level", "info"])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(logs.reopen().expect("reopen the log file")))
        .spawn()
        .expect("start statesync-hub");
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    stdout.read_line(&mut line).expect("start line");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in the start line {line:?}"))
        .to_owned();
    Running { child, url, logs, _stdout: stdout }
}

/// A `file://` URL of `dir`.
fn file_url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

/// The storage URL of `space`'s backups under `base`.
fn url_of(base: &str, space: &str) -> String {
    space_url(base, &SpaceId::parse(space).expect("space"))
}

/// The backups of `space` under `base`, newest first (none while the folder does not exist).
fn backups(base: &str, space: &str) -> Vec<BackupInfo> {
    list_backups(&url_of(base, space)).expect("list the backups")
}

/// Waits until `check` holds, failing with `what` after [`PATIENCE`].
fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A client replica.
fn client(node: &str) -> SyncManager {
    SyncManager::open(ManagerConfig::memory().node_id(node)).expect("open a replica")
}

/// One sync round of `client` with `space` of the hub at `url`.
fn sync(client: &SyncManager, url: &str, space: &str) {
    let transport = HttpTransport::new(url).expect("url").space(space).expect("space");
    client.sync_via(&transport, &SyncContext::all()).expect("sync round");
}

/// `(id, data, deleted)` of every state of a replica, by id.
fn contents(replica: &SyncManager) -> Vec<(String, Value, bool)> {
    replica_states(replica).into_iter().map(|s| (s.id.clone(), s.data.clone(), s.deleted)).collect()
}

/// A fresh replica holding backup `id` of `url`.
fn restored(url: &str, id: &str, key: Option<&EncryptionKey>) -> SyncManager {
    let replica = client("restorer");
    replica.restore_backup(url, id, key, false, &[]).expect("restore the backup");
    replica
}

/// Writes two spaces that share state ids with other data: `team` (three states, one deleted)
/// and `user:7` (two states). The clients, synced.
fn write_two_spaces(url: &str) -> (SyncManager, SyncManager) {
    let team = client("team-client");
    team.create_state(json!({"theme": "team"}), CreateOptions::id("settings")).expect("create");
    team.create_state(json!({"title": "plan"}), CreateOptions::id("doc-1")).expect("create");
    team.create_state(json!({"title": "gone"}), CreateOptions::id("doc-2")).expect("create");
    team.delete_state("doc-2").expect("delete");
    sync(&team, url, "team");
    let user = client("user-client");
    user.create_state(json!({"theme": "user"}), CreateOptions::id("settings")).expect("create");
    user.create_state(json!({"title": "mine"}), CreateOptions::id("doc-9")).expect("create");
    sync(&user, url, "user:7");
    (team, user)
}

/// The ids of a list of backups.
fn ids(list: &[BackupInfo]) -> Vec<String> {
    list.iter().map(|b| b.id.clone()).collect()
}

#[test]
fn each_space_is_backed_up_on_its_own_and_restores_alone() {
    let dir = tempfile::tempdir().expect("dir");
    let base = file_url(&dir.path().join("backups"));
    let db = dir.path().join("hub.db").display().to_string();
    let store = format!("sqlite:{db}");
    let hub = start(&["--store", &store, "--backup-to", &base, "--backup-every", "1s", "--backup-keep", "2"]);
    let (team, user) = write_two_spaces(&hub.url);
    wait_until("a backup of each space", || !backups(&base, "team").is_empty() && !backups(&base, "user:7").is_empty());

    for (space, writer, other) in [("team", &team, &user), ("user:7", &user, &team)] {
        let list = backups(&base, space);
        let newest = &list[0];
        assert_eq!(newest.label.as_deref(), Some("hub"));
        assert!(!newest.encrypted);
        let replica = restored(&url_of(&base, space), &newest.id, None);
        assert_eq!(contents(&replica), contents(writer), "{space}: exactly its states, tombstones included");
        assert_ne!(contents(&replica), contents(other), "{space}: not the other space's");
    }
    let team_states = contents(&restored(&url_of(&base, "team"), &backups(&base, "team")[0].id, None));
    assert!(team_states.contains(&("doc-2".into(), Value::Null, true)), "the tombstone is kept: {team_states:?}");

    // More writes to `team` only: a new backup of it each run, at most two kept; `user:7`
    // stays at the one backup it had.
    let user_backups = ids(&backups(&base, "user:7"));
    assert_eq!(user_backups.len(), 1, "one backup: the space has not changed since");
    for round in 0..4 {
        let before = backups(&base, "team")[0].id.clone();
        team.update_state("settings", json!({"theme": "team", "round": round})).expect("update");
        sync(&team, &hub.url, "team");
        wait_until("a new backup of the changed space", || backups(&base, "team")[0].id != before);
    }
    // Past the run that wrote the last backup (and pruned after it).
    std::thread::sleep(Duration::from_millis(2500));
    let list = backups(&base, "team");
    assert_eq!(list.len(), 2, "--backup-keep 2: {:?}", ids(&list));
    let newest = restored(&url_of(&base, "team"), &list[0].id, None);
    assert_eq!(contents(&newest), contents(&team), "the newest backup holds the last write");
    assert_eq!(ids(&backups(&base, "user:7")), user_backups, "an unchanged space gets no new backup");

    assert!(hub.terminate().success(), "a clean stop with backups running");
}

#[test]
fn backups_with_a_key_file_are_encrypted() {
    let dir = tempfile::tempdir().expect("dir");
    let base = file_url(&dir.path().join("backups"));
    let store = format!("sqlite:{}", dir.path().join("hub.db").display());
    let key_file = dir.path().join("backup.key");
    std::fs::write(&key_file, format!("{}\n", "5a".repeat(32))).expect("write the key");
    let key_path = key_file.display().to_string();
    let hub = start(&["--store", &store, "--backup-to", &base, "--backup-every", "1s", "--backup-key-file", &key_path]);
    let (team, _) = write_two_spaces(&hub.url);
    wait_until("a backup of the space", || !backups(&base, "team").is_empty());

    let url = url_of(&base, "team");
    let id = backups(&base, "team")[0].id.clone();
    let key = EncryptionKey::from_bytes(&[0x5a; 32]).expect("key");
    let info = verify_backup(&url, &id, Some(&key)).expect("verified with the key");
    assert!(info.encrypted);
    let without = verify_backup(&url, &id, None).expect_err("no key");
    assert_eq!(without.code(), "CRYPTO", "{without}");
    let wrong = EncryptionKey::from_bytes(&[0x5b; 32]).expect("key");
    assert_eq!(verify_backup(&url, &id, Some(&wrong)).expect_err("wrong key").code(), "CRYPTO");
    assert_eq!(contents(&restored(&url, &id, Some(&key))), contents(&team));
    // No part holds the states in clear.
    for entry in walk(&dir.path().join("backups")) {
        let bytes = std::fs::read(&entry).expect("read a part");
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("plan") && !text.contains("theme"), "{} is in clear", entry.display());
    }
    assert!(hub.terminate().success());
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read a folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn a_failed_run_is_logged_and_retried_while_the_hub_serves_on() {
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("backups");
    std::fs::create_dir_all(&root).expect("mkdir");
    // A file where the space's folder must go: its backups fail until it is removed.
    let blocker = root.join("team");
    std::fs::write(&blocker, b"in the way").expect("write");
    let base = file_url(&root);
    let store = format!("sqlite:{}", dir.path().join("hub.db").display());
    let hub = start(&["--store", &store, "--backup-to", &base, "--backup-every", "1s"]);
    let (team, user) = write_two_spaces(&hub.url);
    wait_until("the other space's backup", || !backups(&base, "user:7").is_empty());
    wait_until("the failure in the logs", || hub.logs().contains("backup of the space failed"));
    let logs = hub.logs();
    let line = logs.lines().find(|l| l.contains("backup of the space failed")).expect("the failure");
    assert!(line.contains("STORAGE") && line.contains("team"), "code and space in the log: {line}");
    // The hub still serves.
    user.update_state("settings", json!({"theme": "later"})).expect("update");
    sync(&user, &hub.url, "user:7");

    std::fs::remove_file(&blocker).expect("remove the blocker");
    wait_until("the retried backup", || std::fs::metadata(&blocker).is_ok_and(|m| m.is_dir()));
    wait_until("a backup of the space", || list_backups(&url_of(&base, "team")).is_ok_and(|l| !l.is_empty()));
    let id = backups(&base, "team")[0].id.clone();
    assert_eq!(contents(&restored(&url_of(&base, "team"), &id, None)), contents(&team));
    assert!(hub.terminate().success());
}

#[test]
fn bad_backup_settings_stop_the_hub_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    let store = format!("sqlite:{}", dir.path().join("hub.db").display());
    let short_key = dir.path().join("short.key");
    std::fs::write(&short_key, b"too short").expect("write");
    let short_key = short_key.display().to_string();
    let target = file_url(&dir.path().join("b"));
    for (args, expected) in [
        (vec!["--backup-to", "ftp://host/backups"], "unknown scheme"),
        (vec!["--backup-to", "not a url"], "--backup-to"),
        (vec!["--backup-to", &target, "--backup-every", "0s"], "too short"),
        (vec!["--backup-to", &target, "--backup-every", "often"], "not a duration"),
        (vec!["--backup-to", &target, "--backup-keep", "0"], "not a positive whole number"),
        (vec!["--backup-to", &target, "--backup-key-file", &short_key], "32 raw bytes or 64 hex characters"),
        (vec!["--backup-keep", "3"], "--backup-keep needs --backup-to"),
        (vec!["--backup-key-file", &short_key], "--backup-key-file needs --backup-to"),
    ] {
        let output = hub_command(&["--store", &store, "--listen", "127.0.0.1:0"])
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("run the hub");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} must not start");
        assert!(output.stdout.is_empty(), "{args:?}: no start line");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn a_postgres_hub_backs_its_spaces_up() {
    let dir = tempfile::tempdir().expect("dir");
    let base = file_url(&dir.path().join("backups"));
    let store = PgCluster::start().database();
    let hub = start(&["--store", &store, "--backup-to", &base, "--backup-every", "1s", "--backup-keep", "2"]);
    let (team, user) = write_two_spaces(&hub.url);
    wait_until("a backup of each space", || !backups(&base, "team").is_empty() && !backups(&base, "user:7").is_empty());
    for (space, writer) in [("team", &team), ("user:7", &user)] {
        let id = backups(&base, space)[0].id.clone();
        assert_eq!(contents(&restored(&url_of(&base, space), &id, None)), contents(writer), "{space}");
    }
    assert!(hub.terminate().success());
}

/// A store whose space exports take `delay`: a backup that is in progress for a while.
struct SlowExports {
    inner: std::sync::Arc<dyn statesync_hub::Store>,
    delay: Duration,
}

impl statesync_hub::Store for SlowExports {
    fn node_id(&self) -> &str {
        self.inner.node_id()
    }
    fn pull(
        &self,
        space: &SpaceId,
        scope: &statesync_hub::PullScope<'_>,
    ) -> statesync::Result<statesync_hub::PulledPage> {
        self.inner.pull(space, scope)
    }
    fn push(
        &self,
        space: &SpaceId,
        states: Vec<std::sync::Arc<statesync::SyncState>>,
        policy: &statesync_hub::PushPolicy<'_>,
    ) -> statesync::Result<statesync_hub::PushOutcome> {
        self.inner.push(space, states, policy)
    }
    fn ready(&self) -> statesync::Result<()> {
        self.inner.ready()
    }
    fn spaces(&self) -> statesync::Result<Vec<statesync_hub::SpaceHead>> {
        self.inner.spaces()
    }
    fn export_space(&self, space: &SpaceId) -> statesync::Result<statesync_hub::SpaceExport> {
        std::thread::sleep(self.delay);
        self.inner.export_space(space)
    }
}

#[test]
fn a_stop_during_a_backup_waits_for_it_and_requests_are_served_meanwhile() {
    use statesync_hub::backup::{run, BackupConfig, Backups};
    let test_store = support::TestStore::new(support::Kind::Sqlite);
    let writer = client("writer");
    writer.create_state(json!({"n": 1}), CreateOptions::id("a")).expect("create");
    let served = support::serve(test_store.hub());
    sync(&writer, &served.url, "team");
    let slow: std::sync::Arc<dyn statesync_hub::Store> =
        std::sync::Arc::new(SlowExports { inner: test_store.store.clone(), delay: Duration::from_millis(1500) });
    let base = format!("memory://hub-stop-{}/backups", std::process::id());
    let config = BackupConfig { url: base.clone(), every: Duration::from_secs(1), keep: 3, key: None };
    let hub_backups = std::sync::Arc::new(Backups::new(slow, config).expect("backups"));
    // One thread: were a run to block it, nothing else would move until the run ended.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let started = Instant::now();
    runtime.block_on(async {
        // The first run starts at 1 s and reads the space until 2.5 s; the stop comes at 1.5 s.
        let task = tokio::spawn(run(hub_backups, tokio::time::sleep(Duration::from_millis(1500))));
        // A timer across the run's start: it fires on time, not when the run ends.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let late = started.elapsed();
        assert!(late < Duration::from_millis(1700), "the runtime runs other tasks during a backup ({late:?})");
        task.await.expect("the backup task");
    });
    assert!(started.elapsed() >= Duration::from_millis(2400), "returned only once the backup was written");
    let list = backups(&base, "team");
    assert_eq!(list.len(), 1, "the backup in progress was finished, not dropped: {:?}", ids(&list));
    assert_eq!(contents(&restored(&url_of(&base, "team"), &list[0].id, None)), contents(&writer));
}
