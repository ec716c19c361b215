//! Replays the cross-language conformance suite: every case of every `conformance/*.json` file
//! (the format is documented in `conformance/README.md`), once on in-memory replicas and once on
//! replicas stored in SQLite files, which are then closed, reopened and checked again. The
//! replayer itself is shared with the browser package's test: `support/conformance_replay.rs`.
//!
//! Set `CONFORMANCE_CASE` to a substring of case names to replay only those cases.

#[path = "support/conformance_replay.rs"]
mod replay;

use replay::{Outcome, Persistence};
use statesync::ManagerConfig;
use std::path::{Path, PathBuf};

/// Every replica of a run in its own SQLite file, in a temporary directory removed with the run.
struct Sqlite(tempfile::TempDir);

impl Persistence for Sqlite {
    const NAME: &'static str = "sqlite";
    const REOPENED_FROM: &'static str = "its SQLite file";
    const LOCKS: bool = true;

    fn start() -> Outcome<Self> {
        tempfile::tempdir().map(Sqlite).map_err(|e| e.to_string())
    }

    fn open(&mut self, index: usize) -> ManagerConfig {
        ManagerConfig::sqlite(self.0.path().join(format!("replica-{index}.db")))
    }
}

#[test]
fn conformance_suite() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let files: Vec<(String, String)> = paths
        .iter()
        .map(|path| {
            let name = path.file_name().expect("file name").to_string_lossy().into_owned();
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {name}: {e}"));
            (name, text)
        })
        .collect();
    let filter = std::env::var("CONFORMANCE_CASE").ok();
    replay::replay_suite::<Sqlite>(&files, filter.as_deref(), &dir.display().to_string());
}
