//! The socket-activated test server (tests/support/server.rs) as the tests see it: the report
//! each generation writes at start, its timed markers, and its one-line answers.

use super::{LONG, Running, field, pids_with_prefix, read, wait_for};
use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// The test server, built next to hupwatch.
pub fn server_bin() -> PathBuf {
    let path = super::examples_dir().join("hupwatch-test-server");
    assert!(path.exists(), "{} is missing: run the whole `cargo test` (it builds the examples)", path.display());
    path
}

/// One generation's report, as the test server writes it (`KEY VALUE` lines).
pub struct Report {
    pub pid: i32,
    pub text: String,
}

impl Report {
    pub fn get(&self, key: &str) -> Option<String> {
        field(&self.text, key)
    }

    /// When the server started (CLOCK_MONOTONIC ns).
    pub fn started_ns(&self) -> u64 {
        self.get("started").expect("no `started` in the report").parse().unwrap()
    }
}

/// The reports of every generation whose report directory is `dir`, by pid.
pub fn reports(dir: &Path) -> Vec<Report> {
    pids_with_prefix(dir, "report")
        .into_iter()
        .map(|pid| Report { pid, text: read(dir.join(format!("report.{pid}"))) })
        .collect()
}

/// Waits for the report of a generation whose pid is not in `known`.
pub fn next_report(dir: &Path, hw: &Running, known: &[i32]) -> Report {
    wait_for(LONG, || reports(dir).into_iter().find(|r| !known.contains(&r.pid)))
        .unwrap_or_else(|| panic!("no report from a new generation; stderr:\n{}", hw.stderr()))
}

/// The CLOCK_MONOTONIC time in the marker file `NAME.PID` (`ready`, `ready-sent`, `term`), if
/// written.
pub fn marker(dir: &Path, name: &str, pid: i32) -> Option<u64> {
    read(dir.join(format!("{name}.{pid}"))).trim().parse().ok()
}

/// Reads the server's one-line answer `pid N` to the end of the connection.
pub fn answer(mut stream: impl Read) -> io::Result<i32> {
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    text.strip_prefix("pid ")
        .and_then(|t| t.strip_suffix('\n'))
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| io::Error::other(format!("unexpected answer {text:?}")))
}

/// Connects to the unix socket at `path`; returns the pid of the generation that answered.
pub fn ask_unix(path: &Path) -> io::Result<i32> {
    let stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(LONG))?;
    answer(stream)
}
