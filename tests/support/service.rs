//! A service under test: hupwatch running the test server (tests/support/server.rs) on a unix
//! socket hupwatch binds, each generation reading extra options from `DIR/more`. The notify and
//! watchdog tests drive it.

use super::*;
use std::process::Command;

pub struct Service {
    pub dir: TempDir,
    pub hw: Running,
    pub sock: PathBuf,
    /// The --ready-timeout given (hupwatch's default when none was).
    pub ready_timeout: Duration,
    /// The clock just before hupwatch was started: generation 1 cannot have started earlier.
    pub launched: u64,
}

impl Service {
    /// Starts `hupwatch OPTS --listen unix:DIR/app.sock -- server --report-dir DIR --more
    /// DIR/more`, generation 1 reading `first` as its extra options; `env` is added to
    /// hupwatch's environment. Returns once generation 1 has written its report.
    pub fn start(name: &str, opts: &[&str], first: &str, env: &[(&str, &str)]) -> (Service, Report) {
        Service::start_via(name, opts, &[], first, env)
    }

    /// Like `start`, with `prefix` (a wrapper such as `sh -c SCRIPT`) before the server.
    pub fn start_via(
        name: &str,
        opts: &[&str],
        prefix: &[&str],
        first: &str,
        env: &[(&str, &str)],
    ) -> (Service, Report) {
        let service = Service::launch(hupwatch(opts), name, prefix, first, env);
        let first = service.next_report(&[]);
        (service, first)
    }

    /// Starts the service with `cmd` running hupwatch (its options given), without waiting for
    /// anything.
    pub fn launch(mut cmd: Command, name: &str, prefix: &[&str], first: &str, env: &[(&str, &str)]) -> Service {
        let dir = TempDir::new(name);
        let sock = dir.join("app.sock");
        fs::write(dir.join("more"), first).unwrap();
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let ready_timeout = args
            .iter()
            .position(|o| o == "--ready-timeout")
            .map_or(Duration::from_secs(60), |i| Duration::from_secs_f64(args[i + 1].parse().unwrap()));
        cmd.arg("--listen").arg(format!("unix:{}", sock.display())).arg("--");
        cmd.args(prefix).arg(server_bin()).arg("--report-dir").arg(dir.path()).arg("--more").arg(dir.join("more"));
        // Anything hupwatch would put in a temporary directory goes under the test's.
        cmd.env("TMPDIR", dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let launched = monotonic_ns();
        let hw = Running::spawn(&mut cmd);
        Service { dir, hw, sock, ready_timeout, launched }
    }

    /// Waits for the report of a generation whose pid is not in `known`.
    pub fn next_report(&self, known: &[i32]) -> Report {
        next_report(self.dir.path(), &self.hw, known)
    }

    /// The options the next generation starts with.
    pub fn next_options(&self, options: &str) {
        fs::write(self.dir.join("more"), options).unwrap();
    }

    /// The CLOCK_MONOTONIC time in a marker file (`ready`, `ready-sent`, `term`, ...) of `pid`.
    pub fn marker(&self, name: &str, pid: i32) -> Option<u64> {
        marker(self.dir.path(), name, pid)
    }

    pub fn wait_marker(&self, name: &str, pid: i32) -> u64 {
        wait_for(LONG, || self.marker(name, pid))
            .unwrap_or_else(|| panic!("pid {pid} wrote no {name} marker; stderr:\n{}", self.hw.stderr()))
    }

    /// The pid of the generation that answers a connection.
    pub fn ask(&self) -> i32 {
        ask_unix(&self.sock).unwrap_or_else(|e| panic!("no answer on {}: {e}", self.sock.display()))
    }

    pub fn log_has(&self, words: &[&str]) -> bool {
        !log_lines_with(&self.hw, words).is_empty()
    }

    pub fn wait_log(&self, words: &[&str]) {
        wait_log(&self.hw, words)
    }
}
