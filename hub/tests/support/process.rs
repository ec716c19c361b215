//! A `statesync-hub` process started from the binary this build made, on a free port of
//! 127.0.0.1: for the tests and benchmarks that need the hub as a process (several of them on
//! one store, a SIGKILL, its resident memory).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The hub binary of this build.
pub const BIN: &str = env!("CARGO_BIN_EXE_statesync-hub");

/// A running hub process and its URL; killed (SIGKILL) when dropped, if still running.
pub struct HubProcess {
    /// The process.
    pub child: Child,
    /// `http://ADDR`, from its start line.
    pub url: String,
}

impl HubProcess {
    /// Starts the hub with `args` (besides `--listen 127.0.0.1:0` and `--log-level warn`) and
    /// waits for its start line.
    pub fn start(args: &[&str]) -> HubProcess {
        let mut child = Command::new(BIN)
            .args(args)
            .args(["--listen", "127.0.0.1:0", "--log-level", "warn"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start statesync-hub");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("start line");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in the start line {line:?}"))
            .to_owned();
        HubProcess { child, url }
    }

    /// The process's resident memory, in MiB.
    pub fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("proc status");
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS");
        kib / 1024.0
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
