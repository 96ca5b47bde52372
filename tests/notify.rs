//! --notify and sd_notify upward: a generation is promoted only after READY=1 (from its own
//! process group) and the warmup, is abandoned at --ready-timeout while the old one keeps
//! serving, and hupwatch tells its own supervisor READY, RELOADING, the reload's outcome and
//! STOPPING on a socket the test owns. The generations are the test server
//! (tests/support/server.rs), serving on a unix socket hupwatch binds.

mod support;

use std::fs;
use std::io::{self, Read};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::*;

// ---------------------------------------------------------------------------------------------
// Local helpers

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A service under test: hupwatch running the server, which listens on `sock` and reads
/// extra options for each new generation from `more`.
struct Service {
    dir: TempDir,
    hw: Running,
    sock: PathBuf,
}

impl Service {
    /// Starts `hupwatch OPTS --listen unix:DIR/app.sock -- server --report-dir DIR --more
    /// DIR/more`, generation 1 reading `first` as its extra options; `env` is added to
    /// hupwatch's environment. Returns once generation 1 has written its report.
    fn start(name: &str, opts: &[&str], first: &str, env: &[(&str, &str)]) -> (Service, Report) {
        Service::start_via(name, opts, &[], first, env)
    }

    /// Like `start`, with `prefix` (a wrapper such as `sh -c SCRIPT`) before the server.
    fn start_via(name: &str, opts: &[&str], prefix: &[&str], first: &str, env: &[(&str, &str)]) -> (Service, Report) {
        let dir = TempDir::new(name);
        let sock = dir.join("app.sock");
        fs::write(dir.join("more"), first).unwrap();
        let mut cmd = hupwatch(opts);
        cmd.arg("--listen").arg(format!("unix:{}", sock.display())).arg("--");
        cmd.args(prefix).arg(server_bin()).arg("--report-dir").arg(dir.path()).arg("--more").arg(dir.join("more"));
        // The private notify directories go under the test's directory.
        cmd.env("TMPDIR", dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let hw = Running::spawn(&mut cmd);
        let service = Service { dir, hw, sock };
        let first = service.next_report(&[]);
        (service, first)
    }

    fn reports(&self) -> Vec<Report> {
        pids_with_prefix(self.dir.path(), "report")
            .into_iter()
            .map(|pid| Report { pid, text: read(self.dir.join(format!("report.{pid}"))) })
            .collect()
    }

    /// Waits for the report of a generation whose pid is not in `known`.
    fn next_report(&self, known: &[i32]) -> Report {
        wait_for(LONG, || self.reports().into_iter().find(|r| !known.contains(&r.pid)))
            .unwrap_or_else(|| panic!("no report from a new generation; stderr:\n{}", self.hw.stderr()))
    }

    /// The options the next generation starts with.
    fn next_options(&self, options: &str) {
        fs::write(self.dir.join("more"), options).unwrap();
    }

    /// The CLOCK_MONOTONIC time in a marker file (`ready` or `term`) of `pid`, if written.
    fn marker(&self, name: &str, pid: i32) -> Option<u64> {
        read(self.dir.join(format!("{name}.{pid}"))).trim().parse().ok()
    }

    fn wait_marker(&self, name: &str, pid: i32) -> u64 {
        wait_for(LONG, || self.marker(name, pid))
            .unwrap_or_else(|| panic!("pid {pid} wrote no {name} marker; stderr:\n{}", self.hw.stderr()))
    }

    /// The pid of the generation that answers a connection.
    fn ask(&self) -> io::Result<i32> {
        let mut stream = UnixStream::connect(&self.sock)?;
        stream.set_read_timeout(Some(LONG))?;
        let mut text = String::new();
        stream.read_to_string(&mut text)?;
        text.strip_prefix("pid ")
            .and_then(|t| t.trim_end().parse().ok())
            .ok_or_else(|| io::Error::other(format!("unexpected answer {text:?}")))
    }

    fn log_has(&self, words: &[&str]) -> bool {
        self.hw.stderr().lines().any(|l| words.iter().all(|w| l.contains(w)))
    }

    fn wait_log(&self, words: &[&str]) {
        assert!(wait_until(LONG, || self.log_has(words)), "no log line with {words:?}; stderr:\n{}", self.hw.stderr());
    }

    fn stop(mut self) {
        self.hw.signal(libc::SIGTERM);
        assert_eq!(self.hw.wait_code(LONG), 0, "stderr:\n{}", self.hw.stderr());
    }
}

/// When the generation's server started (CLOCK_MONOTONIC ns), from its report.
fn started_ns(r: &Report) -> u64 {
    r.get("started").unwrap().parse().unwrap()
}

/// Generation 1 ready at once (with `opts`): the usual start of a reload test.
fn serving(name: &str, opts: &[&str]) -> (Service, Report) {
    let (s, first) = Service::start(name, opts, "--ready-after 0", &[]);
    s.wait_log(&["generation 1", "is ready"]);
    assert_eq!(s.ask().unwrap(), first.pid);
    (s, first)
}

/// After a failed reload: `old` is alive, was never told to stop, still answers, and
/// hupwatch runs on.
fn assert_old_keeps_serving(s: &mut Service, old: i32) {
    assert!(s.hw.is_running(), "hupwatch exited after a failed reload:\n{}", s.hw.stderr());
    assert!(alive(old), "the old generation died; stderr:\n{}", s.hw.stderr());
    assert_eq!(s.marker("term", old), None, "the old generation was told to stop; stderr:\n{}", s.hw.stderr());
    assert_eq!(s.ask().unwrap(), old, "the old generation does not answer");
}

// ---------------------------------------------------------------------------------------------
// Downward: each generation's NOTIFY_SOCKET

/// The abstract notify sockets of hupwatch `pid` that exist now (from /proc/net/unix).
fn notify_sockets_of(pid: i32) -> Vec<String> {
    let prefix = format!("@hupwatch/{pid}/");
    read("/proc/net/unix")
        .lines()
        .filter_map(|l| l.split_whitespace().nth(7))
        .filter(|n| n.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// A NOTIFY_SOCKET value as an address: `@name` is abstract.
fn notify_address(value: &str) -> SocketAddr {
    match value.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name).unwrap(),
        None => SocketAddr::from_pathname(value).unwrap(),
    }
}

#[test]
fn each_generation_gets_its_own_private_notify_socket() {
    let (mut s, first) = serving("own-socket", &["-w", "0", "--notify"]);
    let hw = s.hw.pid();
    // Abstract (no file to leave behind), named for hupwatch, unguessable, per generation.
    let name1 = first.get("NOTIFY_SOCKET").expect("no NOTIFY_SOCKET with --notify");
    let parts: Vec<&str> = name1.split('/').collect();
    assert_eq!((parts.len(), parts[0], parts[1], parts[3]), (4, "@hupwatch", &*hw.to_string(), "1"), "{name1}");
    assert!(parts[2].len() >= 6, "a guessable name: {name1}");
    assert_eq!(notify_sockets_of(hw), std::slice::from_ref(&name1));

    s.hw.signal(libc::SIGHUP);
    let second = s.next_report(&[first.pid]);
    let name2 = second.get("NOTIFY_SOCKET").unwrap();
    assert_ne!(name1, name2, "two generations share a notify socket");
    assert!(name2.starts_with(&format!("@hupwatch/{hw}/")) && name2.ends_with("/2"), "{name2}");
    s.wait_log(&["generation 2", "is ready"]);
    assert!(wait_until(LONG, || !exists(first.pid)));
    assert!(wait_until(LONG, || !notify_sockets_of(hw).contains(&name1)), "generation 1's socket outlived it");
    s.hw.signal(libc::SIGTERM);
    assert_eq!(s.hw.wait_code(LONG), 0, "stderr:\n{}", s.hw.stderr());
    assert_eq!(notify_sockets_of(hw), Vec::<String>::new(), "left behind after hupwatch exited");
}

#[test]
fn status_lines_are_logged() {
    let (s, first) = Service::start("status", &["-w", "0", "--notify"], "--status warming-up --ready-after 0", &[]);
    s.wait_log(&["generation 1", &first.pid.to_string(), "status: warming-up"]);
    assert_log_format(&s.hw.stderr(), s.hw.pid());
    s.stop();
}

// ---------------------------------------------------------------------------------------------
// Readiness gates promotion

#[test]
fn generation_is_promoted_only_after_ready_and_warmup() {
    let (s, first) = serving("gating", &["-w", "1", "--notify"]);
    s.next_options("--ready-after 2000");
    s.hw.signal(libc::SIGHUP);
    let second = s.next_report(&[first.pid]);

    // Until generation 2 has sent READY=1, generation 1 is the service, untouched.
    let mut checked_before_ready = 0;
    let sent_ready = wait_until(LONG, || {
        if s.marker("ready", second.pid).is_some() {
            return true;
        }
        let answered = s.ask().unwrap();
        let first_alive = alive(first.pid);
        let first_told = s.marker("term", first.pid).is_some();
        if s.marker("ready", second.pid).is_some() {
            return true; // READY came during the sample: it proves nothing either way
        }
        assert_eq!(answered, first.pid, "answered by {answered} before generation 2 was ready");
        assert!(first_alive && !first_told, "generation 1 stopped before generation 2 was ready:\n{}", s.hw.stderr());
        assert!(alive(second.pid), "generation 2 died before it was ready:\n{}", s.hw.stderr());
        checked_before_ready += 1;
        false
    });
    assert!(sent_ready, "generation 2 never sent READY=1; stderr:\n{}", s.hw.stderr());
    assert!(checked_before_ready > 0, "no check fell before READY");
    let ready = s.marker("ready", second.pid).unwrap();
    assert!(ready >= started_ns(&second) + 1_500_000_000, "the server sent READY too early");

    // Then the warmup, then generation 1 is told to stop and generation 2 serves.
    let term = s.wait_marker("term", first.pid);
    assert!(
        term >= ready + 900_000_000,
        "generation 1 was stopped {} ms after READY, before the 1 s warmup was over",
        (term as i64 - ready as i64) / 1_000_000
    );
    s.wait_log(&["generation 2", "is ready"]);
    assert!(wait_until(LONG, || !exists(first.pid)), "generation 1 not reaped");
    assert_eq!(s.ask().unwrap(), second.pid);
    s.stop();
}

#[test]
fn never_ready_generation_is_abandoned_at_the_ready_timeout() {
    let (mut s, first) = serving("never-ready", &["-w", "0", "--notify", "--ready-timeout", "1"]);
    s.next_options("--never-ready");
    s.hw.signal(libc::SIGHUP);
    let second = s.next_report(&[first.pid]);
    let started = started_ns(&second);
    let term = s.wait_marker("term", second.pid);
    assert!(
        term >= started + 800_000_000,
        "generation 2 was stopped {} ms after it started, before the 1 s ready timeout",
        (term as i64 - started as i64) / 1_000_000
    );
    assert!(wait_until(LONG, || !exists(second.pid)), "abandoned generation not reaped");
    s.wait_log(&["error", "abandoned"]);
    assert!(!s.log_has(&["generation 2", "is ready"]), "generation 2 was promoted:\n{}", s.hw.stderr());
    assert_old_keeps_serving(&mut s, first.pid);

    // The next reload, with a generation that gets ready, works.
    s.next_options("--ready-after 0");
    s.hw.signal(libc::SIGHUP);
    let third = s.next_report(&[first.pid, second.pid]);
    s.wait_marker("term", first.pid);
    assert!(wait_until(LONG, || !exists(first.pid)));
    assert_eq!(s.ask().unwrap(), third.pid);
    s.stop();
}

#[test]
fn abandoned_generation_that_ignores_the_stop_signal_is_killed() {
    for (stop_timeout, at_least_ms) in [(Some("0.5"), 400), (None, 9_000)] {
        let mut opts = vec!["-w", "0", "--notify", "--ready-timeout", "0.5"];
        if let Some(t) = stop_timeout {
            opts.extend(["--stop-timeout", t]);
        }
        let (mut s, first) = serving("ignores-term", &opts);
        s.next_options("--never-ready --ignore-term");
        s.hw.signal(libc::SIGHUP);
        let second = s.next_report(&[first.pid]);
        let term = s.wait_marker("term", second.pid);
        assert!(
            wait_until(Duration::from_secs(25), || !exists(second.pid)),
            "--stop-timeout {stop_timeout:?}: the abandoned generation was never killed; stderr:\n{}",
            s.hw.stderr()
        );
        let gone = monotonic_ns();
        assert!(
            gone >= term + at_least_ms * 1_000_000,
            "--stop-timeout {stop_timeout:?}: killed {} ms after SIGTERM, expected at least {at_least_ms} ms",
            (gone - term) / 1_000_000
        );
        assert_old_keeps_serving(&mut s, first.pid);
        s.stop();
    }
}

#[test]
fn first_generation_never_ready_makes_hupwatch_exit_1() {
    let (mut s, first) =
        Service::start("first-never", &["-w", "0", "--notify", "--ready-timeout", "0.5"], "--never-ready", &[]);
    assert_eq!(s.hw.wait_code(LONG), 1, "stderr:\n{}", s.hw.stderr());
    assert!(s.log_has(&["error"]), "no error logged:\n{}", s.hw.stderr());
    assert!(wait_until(LONG, || !alive(first.pid)), "the generation outlived hupwatch");
    assert!(!s.sock.exists(), "socket path left behind");
    let private: Vec<_> = fs::read_dir(s.dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("hupwatch-"))
        .collect();
    assert!(private.is_empty(), "private notify directory left behind in $TMPDIR: {private:?}");
}

#[test]
fn ready_from_a_process_of_the_generation_group_counts() {
    // The leader forks; the child (same process group, another pid) sends READY=1.
    let (mut s, first) = Service::start(
        "group-ready",
        &["-w", "0", "--notify", "--ready-timeout", "5"],
        "--ready-after 0 --ready-from-child",
        &[],
    );
    s.wait_log(&["generation 1", "is ready"]);
    assert!(s.hw.is_running());
    assert_eq!(s.ask().unwrap(), first.pid);
    s.stop();
}

#[test]
fn systemd_notify_run_by_a_generation_script_counts() {
    // The way shell entrypoints report readiness: systemd-notify, a short-lived process of the
    // generation's group (it waits for the message to be processed with BARRIER=1).
    if !on_path("systemd-notify") {
        support::skip("systemd-notify not installed (Debian package: systemd)");
        return;
    }
    let script = r#"systemd-notify --ready --status="booted by script" && exec "$0" "$@""#;
    let opts = ["-w", "0", "--notify", "--ready-timeout", "5"];
    let (mut s, first) = Service::start_via("systemd-notify", &opts, &["sh", "-c", script], "", &[]);
    s.wait_log(&["generation 1", "is ready"]);
    s.wait_log(&["generation 1", "status: booted by script"]);
    assert!(s.hw.is_running(), "stderr:\n{}", s.hw.stderr());
    assert_eq!(s.ask().unwrap(), first.pid);
    s.stop();
}

#[test]
fn notify_messages_from_outside_the_generation_are_ignored() {
    let (mut s, first) = serving("foreign", &["-w", "0", "--notify", "--ready-timeout", "1.5"]);
    s.next_options("--never-ready");
    s.hw.signal(libc::SIGHUP);
    let second = s.next_report(&[first.pid]);
    let target = second.get("NOTIFY_SOCKET").expect("generation 2 has no NOTIFY_SOCKET");
    // This test process is not in generation 2's process group.
    let foreign = UnixDatagram::unbound().unwrap();
    let target = notify_address(&target);
    foreign.send_to_addr(b"STATUS=forged\nREADY=1", &target).expect("send to the generation's notify socket");
    foreign.send_to_addr(b"READY=1", &target).unwrap();
    // Whatever comes first: generation 2 abandoned (right) or promoted (wrong).
    wait_until(LONG, || {
        s.marker("term", second.pid).is_some()
            || s.marker("term", first.pid).is_some()
            || s.log_has(&["generation 2", "is ready"])
    });
    assert!(!s.log_has(&["generation 2", "is ready"]), "a foreign READY=1 promoted generation 2:\n{}", s.hw.stderr());
    assert_eq!(s.marker("term", first.pid), None, "generation 1 was stopped:\n{}", s.hw.stderr());
    s.wait_marker("term", second.pid);
    assert!(wait_until(LONG, || !exists(second.pid)), "generation 2 not reaped");
    s.wait_log(&["abandoned"]);
    assert!(!s.log_has(&["forged"]), "a foreign STATUS was logged:\n{}", s.hw.stderr());
    assert_old_keeps_serving(&mut s, first.pid);
    s.stop();
}

// ---------------------------------------------------------------------------------------------
// Upward: hupwatch's own NOTIFY_SOCKET

/// The socket the test plays systemd on.
struct Upstream {
    socket: UnixDatagram,
}

impl Upstream {
    fn path(path: &Path) -> Upstream {
        let socket = UnixDatagram::bind(path).unwrap();
        socket.set_read_timeout(Some(LONG)).unwrap();
        Upstream { socket }
    }

    fn abstract_name(name: &str) -> Upstream {
        let socket = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name).unwrap()).unwrap();
        socket.set_read_timeout(Some(LONG)).unwrap();
        Upstream { socket }
    }

    /// The next message, waiting up to LONG.
    fn next(&self, hw: &Running) -> String {
        let mut buf = [0u8; 4096];
        let n = self
            .socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no notification upward ({e}); stderr:\n{}", hw.stderr()));
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// Messages already queued, without waiting.
    fn queued(&self) -> Vec<String> {
        self.socket.set_nonblocking(true).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.socket.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        self.socket.set_nonblocking(false).unwrap();
        out
    }
}

fn value<'a>(message: &'a str, key: &str) -> Option<&'a str> {
    message.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
}

fn assert_ready(message: &str, status_word: &str) {
    assert_eq!(value(message, "READY"), Some("1"), "expected READY=1, got {message:?}");
    let status = value(message, "STATUS").unwrap_or_default();
    assert!(status.contains(status_word), "expected a STATUS with {status_word:?}, got {message:?}");
    assert!(value(message, "RELOADING").is_none() && value(message, "STOPPING").is_none(), "{message:?}");
}

/// Sends the reload signal and checks the RELOADING=1 message that follows.
fn reload_and_expect_reloading(s: &Service, up: &Upstream) {
    let before = monotonic_ns() / 1000;
    s.hw.signal(libc::SIGHUP);
    let message = up.next(&s.hw);
    let after = monotonic_ns() / 1000;
    assert_eq!(value(&message, "RELOADING"), Some("1"), "expected RELOADING=1, got {message:?}");
    let usec: u64 = value(&message, "MONOTONIC_USEC")
        .unwrap_or_else(|| panic!("RELOADING=1 without MONOTONIC_USEC: {message:?}"))
        .parse()
        .unwrap();
    assert!(before <= usec && usec <= after, "MONOTONIC_USEC={usec} is not between {before} and {after}");
}

#[test]
fn supervisor_is_told_ready_reloading_reload_outcome_and_stopping() {
    let up_dir = TempDir::new("upstream");
    let up_path = up_dir.join("notify");
    let up = Upstream::path(&up_path);
    let up_value = up_path.to_str().unwrap();
    let opts = ["-w", "0", "--notify", "--ready-timeout", "1"];
    let (mut s, first) = Service::start("upward", &opts, "--ready-after 500", &[("NOTIFY_SOCKET", up_value)]);

    // READY=1 once generation 1 is ready, not before it said so.
    let message = up.next(&s.hw);
    let at = monotonic_ns();
    assert_ready(&message, "serving");
    let started = started_ns(&first);
    assert!(at >= started + 400_000_000, "READY=1 upward before generation 1 sent READY=1");
    let own = first.get("NOTIFY_SOCKET").unwrap_or_default();
    assert_ne!(own, up_value, "hupwatch's own NOTIFY_SOCKET leaked to the generation");
    assert!(own.starts_with("@hupwatch/") && own.ends_with("/1"), "generation 1's NOTIFY_SOCKET: {own:?}");

    // A reload that works.
    s.next_options("--ready-after 0");
    reload_and_expect_reloading(&s, &up);
    assert_ready(&up.next(&s.hw), "reloaded");
    let second = s.next_report(&[first.pid]);
    assert_ne!(second.get("NOTIFY_SOCKET").as_deref(), Some(up_value), "leaked to generation 2");

    // A reload whose generation exits before it is ready.
    s.next_options("--exit-after 0 3");
    reload_and_expect_reloading(&s, &up);
    assert_ready(&up.next(&s.hw), "reload failed");

    // A reload whose generation never gets ready.
    s.next_options("--never-ready");
    reload_and_expect_reloading(&s, &up);
    assert_ready(&up.next(&s.hw), "reload failed");
    assert_old_keeps_serving(&mut s, second.pid);

    // Shutdown: STOPPING=1, once.
    s.hw.signal(libc::SIGTERM);
    let message = up.next(&s.hw);
    assert_eq!(value(&message, "STOPPING"), Some("1"), "expected STOPPING=1, got {message:?}");
    assert_eq!(s.hw.wait_code(LONG), 0, "stderr:\n{}", s.hw.stderr());
    assert_eq!(up.queued(), Vec::<String>::new(), "messages after STOPPING=1");
}

#[test]
fn abstract_notify_socket_upward_and_nothing_leaks_without_notify() {
    let name = format!("hupwatch-test-{}-abstract", std::process::id());
    let up = Upstream::abstract_name(&name);
    let at = format!("@{name}");
    let before = monotonic_ns();
    let (s, first) = Service::start("abstract", &["-w", "0.5"], "", &[("NOTIFY_SOCKET", &at)]);
    // Without --notify, generation 1 is ready after the warmup, and has no NOTIFY_SOCKET.
    assert_ready(&up.next(&s.hw), "serving");
    let waited = (monotonic_ns() - before) / 1_000_000;
    assert!(waited >= 500, "READY=1 upward {waited} ms after the start, before the 0.5 s warmup was over");
    assert_eq!(first.get("NOTIFY_SOCKET"), None, "hupwatch's NOTIFY_SOCKET leaked:\n{}", first.text);
    reload_and_expect_reloading(&s, &up);
    assert_ready(&up.next(&s.hw), "reloaded");
    let second = s.next_report(&[first.pid]);
    assert_eq!(second.get("NOTIFY_SOCKET"), None, "hupwatch's NOTIFY_SOCKET leaked:\n{}", second.text);
    s.hw.signal(libc::SIGTERM);
    let message = up.next(&s.hw);
    assert_eq!(value(&message, "STOPPING"), Some("1"), "expected STOPPING=1, got {message:?}");
    let mut s = s;
    assert_eq!(s.hw.wait_code(LONG), 0, "stderr:\n{}", s.hw.stderr());
}

#[test]
fn supervisor_is_told_stopping_when_the_service_exits_by_itself() {
    let up_dir = TempDir::new("upstream-exit");
    let up_path = up_dir.join("notify");
    let up = Upstream::path(&up_path);
    let env = [("NOTIFY_SOCKET", up_path.to_str().unwrap())];
    let (mut s, _) = Service::start("exits", &["-w", "0", "--notify"], "--ready-after 0 --exit-after 300 4", &env);
    assert_ready(&up.next(&s.hw), "serving");
    let message = up.next(&s.hw);
    assert_eq!(value(&message, "STOPPING"), Some("1"), "expected STOPPING=1, got {message:?}");
    assert_eq!(s.hw.wait_code(LONG), 4, "stderr:\n{}", s.hw.stderr());
    assert_eq!(up.queued(), Vec::<String>::new(), "messages after STOPPING=1");
}
