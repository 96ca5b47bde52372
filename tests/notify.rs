//! --notify and sd_notify upward: a generation is promoted only after READY=1 (from its own
//! process group) and the warmup, is abandoned at --ready-timeout while the old one keeps
//! serving, and hupwatch tells its own supervisor READY, RELOADING, the reload's outcome and
//! STOPPING on a socket the test owns. The generations are the test server
//! (tests/support/server.rs), serving on a unix socket hupwatch binds.
//!
//! Times are compared on CLOCK_MONOTONIC, which hupwatch, the server and the test share: a
//! deadline is checked against a time the test took before hupwatch could have started
//! counting, so that no check needs the machine to be quick. With a short --ready-timeout, a
//! generation meant to get ready can miss it on a slow machine; such an attempt is judged
//! from when the generation sent READY=1, and made again when hupwatch was entitled to give up.

mod support;

use std::fs;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;
use support::*;

// ---------------------------------------------------------------------------------------------
// Local helpers

impl Service {
    /// Waits until hupwatch has taken generation `r` (started after `since`) as ready. When
    /// hupwatch gave up on it instead, that was right only if the generation sent READY=1 late:
    /// the attempt cannot be judged when it finished sending more than half the ready timeout
    /// after `since` (the other half is left for hupwatch's own latency), and hupwatch is wrong
    /// when it finished sending before.
    fn expect_ready(&self, r: &Report, since: u64) -> Result<(), Inconclusive> {
        let pid = format!("(pid {})", r.pid);
        let abandoned = || self.log_has(&[&pid, "not ready in time"]);
        let settled = wait_until(LONG, || self.log_has(&[&pid, "is ready"]) || abandoned());
        assert!(settled, "generation {pid} was neither ready nor abandoned; stderr:\n{}", self.hw.stderr());
        if !abandoned() {
            return Ok(());
        }
        let allowed = since + self.ready_timeout.as_nanos() as u64 / 2;
        match self.marker("ready-sent", r.pid) {
            Some(sent) if sent <= allowed => panic!(
                "generation {pid} was abandoned although it had sent READY=1 {} ms after it could \
                 have started, with a ready timeout of {:?}; stderr:\n{}",
                ms(since, sent),
                self.ready_timeout,
                self.hw.stderr()
            ),
            Some(sent) => Err(Inconclusive(format!("generation {pid} sent READY=1 only after {} ms", ms(since, sent)))),
            None => Err(Inconclusive(format!("generation {pid} was stopped before it could send READY=1"))),
        }
    }
}

/// Generation 1 ready at once (with `opts`): the usual start of a reload test.
fn serving(name: &str, opts: &[&str]) -> Result<(Service, Report), Inconclusive> {
    let (s, first) = Service::start(name, opts, "--ready-after 0", &[]);
    s.expect_ready(&first, s.launched)?;
    assert_eq!(s.ask(), first.pid);
    Ok((s, first))
}

/// `serving` with hupwatch's default ready timeout of a minute, which never runs out here.
fn serving_at_leisure(name: &str, opts: &[&str]) -> (Service, Report) {
    assert!(!opts.contains(&"--ready-timeout"));
    serving(name, opts).unwrap_or_else(|e| panic!("generation 1 was not ready within a minute: {e:?}"))
}

/// After a failed reload: `old` is alive, was never told to stop, still answers, and
/// hupwatch runs on.
fn assert_old_keeps_serving(s: &mut Service, old: i32) {
    assert!(s.hw.is_running(), "hupwatch exited after a failed reload:\n{}", s.hw.stderr());
    assert!(alive(old), "the old generation died; stderr:\n{}", s.hw.stderr());
    assert_eq!(s.marker("term", old), None, "the old generation was told to stop; stderr:\n{}", s.hw.stderr());
    assert_eq!(s.ask(), old, "the old generation does not answer");
}

/// Milliseconds from `from` to `to` (CLOCK_MONOTONIC ns), negative when `to` came first.
fn ms(from: u64, to: u64) -> i64 {
    (to as i64 - from as i64) / 1_000_000
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
fn every_generation_reports_to_one_abstract_socket_of_hupwatch() {
    let (mut s, first) = serving_at_leisure("one-socket", &["-w", "0", "--notify"]);
    let hw = s.hw.pid();
    // Abstract (no file to leave behind), named for hupwatch, unguessable, bound once.
    let name = first.get("NOTIFY_SOCKET").expect("no NOTIFY_SOCKET with --notify");
    let parts: Vec<&str> = name.split('/').collect();
    assert_eq!((parts.len(), parts[0], parts[1]), (3, "@hupwatch", &*hw.to_string()), "{name}");
    assert!(parts[2].len() >= 6, "a guessable name: {name}");
    assert_eq!(notify_sockets_of(hw), std::slice::from_ref(&name));

    // Generation 2 reports to the same socket, and its READY=1 (from its own leader) is what
    // promotes it: messages are told apart by their sender, not by the socket.
    s.hw.signal(libc::SIGHUP);
    let second = s.next_report(&[first.pid]);
    assert_eq!(second.get("NOTIFY_SOCKET"), Some(name.clone()));
    s.wait_log(&["generation 2", "is ready"]);
    assert!(wait_until(LONG, || !exists(first.pid)));
    assert_eq!(notify_sockets_of(hw), std::slice::from_ref(&name), "one socket, however many generations");
    s.hw.stop();
    assert_eq!(notify_sockets_of(hw), Vec::<String>::new(), "left behind after hupwatch exited");
}

/// Issue 13: a draining generation holds no descriptor of hupwatch's, so a soft limit of 16
/// descriptors does not cap how many generations can drain at once (one socket per generation
/// did: about limit - 8 of them, then every reload failed with EMFILE).
#[test]
fn draining_generations_hold_no_descriptor_of_hupwatch() {
    if !on_path("systemd-notify") {
        return skip("systemd-notify not installed (Debian package: systemd)");
    }
    // Each generation reports READY=1 and then never stops on TERM: they all keep draining.
    let script = r#"trap '' TERM; systemd-notify --ready && exec sleep 1000"#;
    let mut cmd = hupwatch(&["-w", "0", "--notify", "--", "sh", "-c", script]);
    // SAFETY: setrlimit is async-signal-safe and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit { rlim_cur: 16, rlim_max: 16 };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let hw = Running::spawn(&mut cmd);
    let ready = |hw: &Running, n: usize| log_lines_with(hw, &[&format!("generation {n} "), "is ready"]).len() == 1;
    assert!(wait_until(LONG, || ready(&hw, 1)), "generation 1 not ready:\n{}", hw.stderr());
    for n in 2..=30 {
        hw.signal(libc::SIGHUP);
        assert!(wait_until(LONG, || ready(&hw, n)), "generation {n} not ready:\n{}", hw.stderr());
    }
    assert!(!hw.stderr().contains("abandoned"), "{}", hw.stderr());
    assert!(fds(hw.pid()).len() < 10, "hupwatch's descriptors: {:?}", fds(hw.pid()));
    // They drain forever: SIGKILL them all (Running's Drop does) rather than wait.
}

#[test]
fn status_lines_are_logged() {
    let (mut s, first) = Service::start("status", &["-w", "0", "--notify"], "--status warming-up --ready-after 0", &[]);
    s.wait_log(&["generation 1", &first.pid.to_string(), "status: warming-up"]);
    assert_log_format(&s.hw.stderr(), s.hw.pid());
    s.hw.stop();
}

// ---------------------------------------------------------------------------------------------
// Readiness gates promotion

#[test]
fn generation_is_promoted_only_after_ready_and_warmup() {
    // The test of this claim with a full-length warmup: the default, 1 s.
    const WARMUP_NS: u64 = 1_000_000_000;
    let (mut s, first) = serving_at_leisure("gating", &["-w", "1", "--notify"]);
    let go = s.dir.join("go");
    s.next_options(&format!("--ready-on {}", go.display()));
    s.hw.signal(libc::SIGHUP);
    let second = s.next_report(&[first.pid]);

    // Generation 2 cannot send READY=1 before the test creates `go`. Until then generation 1 is
    // the service, untouched; watched for longer than the warmup, which a hupwatch that counted
    // the warmup from the start instead of from READY=1 would let pass.
    throughout(Duration::from_millis(1500), || {
        assert_eq!(s.ask(), first.pid, "answered by another generation before generation 2 was ready");
        let first_told = s.marker("term", first.pid).is_some();
        assert!(
            alive(first.pid) && !first_told,
            "generation 1 stopped before generation 2 was ready:\n{}",
            s.hw.stderr()
        );
        assert!(alive(second.pid), "generation 2 died before it was ready:\n{}", s.hw.stderr());
        assert!(!s.log_has(&["generation 2", "is ready"]), "generation 2 promoted without READY=1:\n{}", s.hw.stderr());
    });
    let go_at = monotonic_ns();
    fs::write(&go, "").unwrap();
    // The server notes the clock just before it sends READY=1: hupwatch had it no earlier.
    let ready = s.wait_marker("ready", second.pid);
    assert!(ready >= go_at, "the server sent READY before it was told to");

    // Then the whole warmup, then generation 1 is told to stop and generation 2 serves.
    let term = s.wait_marker("term", first.pid);
    assert!(
        term >= ready + WARMUP_NS,
        "generation 1 was stopped {} ms after generation 2 sent READY=1, before the 1 s warmup was over",
        ms(ready, term)
    );
    s.wait_log(&["generation 2", "is ready"]);
    assert!(wait_until(LONG, || !exists(first.pid)), "generation 1 not reaped");
    assert_eq!(s.ask(), second.pid);
    s.hw.stop();
}

#[test]
fn never_ready_generation_is_abandoned_at_the_ready_timeout() {
    const TIMEOUT_NS: u64 = 300_000_000;
    until_judged("never ready", |_| {
        let (mut s, first) = serving("never-ready", &["-w", "0", "--notify", "--ready-timeout", "0.3"])?;
        s.next_options("--never-ready");
        // hupwatch starts generation 2 after it got the HUP, and the timeout counts from then.
        let hup = monotonic_ns();
        s.hw.signal(libc::SIGHUP);
        let second = s.next_report(&[first.pid]);
        let term = s.wait_marker("term", second.pid);
        assert!(
            term >= hup + TIMEOUT_NS,
            "generation 2 was stopped {} ms after the HUP, before the 0.3 s ready timeout",
            ms(hup, term)
        );
        assert!(wait_until(LONG, || !exists(second.pid)), "abandoned generation not reaped");
        s.wait_log(&["error", "abandoned"]);
        assert!(!s.log_has(&["generation 2", "is ready"]), "generation 2 was promoted:\n{}", s.hw.stderr());
        assert_old_keeps_serving(&mut s, first.pid);

        // The next reload, with a generation that gets ready, works.
        s.next_options("--ready-after 0");
        let hup = monotonic_ns();
        s.hw.signal(libc::SIGHUP);
        let third = s.next_report(&[first.pid, second.pid]);
        s.expect_ready(&third, hup)?;
        s.wait_marker("term", first.pid);
        assert!(wait_until(LONG, || !exists(first.pid)));
        assert_eq!(s.ask(), third.pid);
        s.hw.stop();
        Ok(())
    });
}

#[test]
fn abandoned_generation_that_ignores_the_stop_signal_is_killed() {
    const TIMEOUT_NS: u64 = 300_000_000;
    // The second case waits for the 10 s hupwatch gives an abandoned generation when
    // --stop-timeout is not set: the test of that default.
    for (stop_timeout, stop_ns) in [(Some("0.1"), 100_000_000), (None, 10_000_000_000)] {
        until_judged(&format!("--stop-timeout {stop_timeout:?}"), |_| {
            let mut opts = vec!["-w", "0", "--notify", "--ready-timeout", "0.3"];
            if let Some(t) = stop_timeout {
                opts.extend(["--stop-timeout", t]);
            }
            let (mut s, first) = serving("ignores-term", &opts)?;
            s.next_options("--never-ready --ignore-term");
            let hup = monotonic_ns();
            s.hw.signal(libc::SIGHUP);
            let second = s.next_report(&[first.pid]);
            s.wait_marker("term", second.pid);
            assert!(
                wait_until(Duration::from_secs(25), || !exists(second.pid)),
                "--stop-timeout {stop_timeout:?}: the abandoned generation was never killed; stderr:\n{}",
                s.hw.stderr()
            );
            // Stopped no sooner than the ready timeout after the HUP, killed no sooner than the
            // stop timeout after that.
            let gone = monotonic_ns();
            assert!(
                gone >= hup + TIMEOUT_NS + stop_ns,
                "--stop-timeout {stop_timeout:?}: killed {} ms after the HUP, expected at least {} ms",
                ms(hup, gone),
                (TIMEOUT_NS + stop_ns) / 1_000_000
            );
            assert_old_keeps_serving(&mut s, first.pid);
            s.hw.stop();
            Ok(())
        });
    }
}

#[test]
fn first_generation_never_ready_makes_hupwatch_exit_1() {
    let opts = ["-w", "0", "--notify", "--ready-timeout", "0.2"];
    let mut s = Service::launch(hupwatch(&opts), "first-never", &[], "--never-ready", &[]);
    assert_eq!(s.hw.wait_code(LONG), 1, "stderr:\n{}", s.hw.stderr());
    assert!(s.log_has(&["error"]), "no error logged:\n{}", s.hw.stderr());
    // Its pid from the log: it may have been stopped before it wrote its report.
    let stderr = s.hw.stderr();
    let line = stderr.lines().find(|l| l.contains("generation 1 (pid ")).expect("generation 1 not logged");
    let pid: i32 = line.split("(pid ").nth(1).and_then(|r| r.split(')').next()).unwrap().parse().unwrap();
    assert!(wait_until(LONG, || !alive(pid)), "the generation outlived hupwatch");
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
    let opts = ["-w", "0", "--notify"];
    let (mut s, first) = Service::start("group-ready", &opts, "--ready-after 0 --ready-from-child", &[]);
    s.wait_log(&["generation 1", "is ready"]);
    assert!(s.hw.is_running());
    assert_eq!(s.ask(), first.pid);
    s.hw.stop();
}

#[test]
fn systemd_notify_run_by_a_generation_script_counts() {
    // The way shell entrypoints report readiness: systemd-notify, a short-lived process of the
    // generation's group (it waits for the message to be processed with BARRIER=1).
    if !on_path("systemd-notify") {
        return skip("systemd-notify not installed (Debian package: systemd)");
    }
    let script = r#"systemd-notify --ready --status="booted by script" && exec "$0" "$@""#;
    let opts = ["-w", "0", "--notify"];
    let (mut s, first) = Service::start_via("systemd-notify", &opts, &["sh", "-c", script], "", &[]);
    s.wait_log(&["generation 1", "is ready"]);
    s.wait_log(&["generation 1", "status: booted by script"]);
    assert!(s.hw.is_running(), "stderr:\n{}", s.hw.stderr());
    assert_eq!(s.ask(), first.pid);
    s.hw.stop();
}

#[test]
fn notify_messages_from_outside_the_generation_are_ignored() {
    const TIMEOUT_NS: u64 = 500_000_000;
    until_judged("foreign READY=1", |_| {
        // -v: hupwatch logs each message it ignores, so the test knows when it has read them.
        let opts = ["-v", "-w", "0", "--notify", "--ready-timeout", "0.5"];
        let (mut s, first) = serving("foreign", &opts)?;
        s.next_options("--never-ready");
        let hup = monotonic_ns();
        s.hw.signal(libc::SIGHUP);
        let second = s.next_report(&[first.pid]);
        let target = second.get("NOTIFY_SOCKET").expect("generation 2 has no NOTIFY_SOCKET");
        // This test process is not in generation 2's process group.
        let foreign = UnixDatagram::unbound().unwrap();
        let target = notify_address(&target);
        let mut sending = Timeline::new();
        let sent = sending.act(|| {
            foreign.send_to_addr(b"STATUS=forged\nREADY=1", &target).is_ok()
                && foreign.send_to_addr(b"READY=1", &target).is_ok()
        });
        let ignored = || log_lines_with(&s.hw, &["ignoring a notify message"]).len();
        let abandoned = || s.marker("term", second.pid).is_some();
        wait_until(LONG, || ignored() == 2 || abandoned());
        if !sent || ignored() < 2 {
            // hupwatch abandoned generation 2 (and closed its socket) before it read them. It may
            // only if they came after the timeout; half of it is left for hupwatch's latency.
            let done = sending.end().unwrap();
            assert!(
                abandoned() && done > hup + TIMEOUT_NS / 2,
                "hupwatch did not read the foreign messages sent {} ms after the HUP; stderr:\n{}",
                ms(hup, done),
                s.hw.stderr()
            );
            return Err(Inconclusive(format!("the foreign messages were sent {} ms after the HUP", ms(hup, done))));
        }
        // Read and ignored: generation 2 was not promoted, nothing forged was logged.
        assert!(
            !s.log_has(&["generation 2", "is ready"]),
            "a foreign READY=1 promoted generation 2:\n{}",
            s.hw.stderr()
        );
        assert!(!s.log_has(&["forged"]), "a foreign STATUS was logged:\n{}", s.hw.stderr());
        assert_eq!(s.marker("term", first.pid), None, "generation 1 was stopped:\n{}", s.hw.stderr());
        s.wait_marker("term", second.pid);
        assert!(wait_until(LONG, || !exists(second.pid)), "generation 2 not reaped");
        s.wait_log(&["abandoned"]);
        assert!(
            !s.log_has(&["generation 2", "is ready"]),
            "a foreign READY=1 promoted generation 2:\n{}",
            s.hw.stderr()
        );
        assert_old_keeps_serving(&mut s, first.pid);
        s.hw.stop();
        Ok(())
    });
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

/// Sends the reload signal and checks the RELOADING=1 message that follows; returns the clock
/// just before the signal.
fn reload_and_expect_reloading(s: &Service, up: &Upstream) -> u64 {
    let before = monotonic_ns();
    s.hw.signal(libc::SIGHUP);
    let message = up.next(&s.hw);
    let after = monotonic_ns();
    assert_eq!(value(&message, "RELOADING"), Some("1"), "expected RELOADING=1, got {message:?}");
    let usec: u64 = value(&message, "MONOTONIC_USEC")
        .unwrap_or_else(|| panic!("RELOADING=1 without MONOTONIC_USEC: {message:?}"))
        .parse()
        .unwrap();
    assert!(
        before / 1000 <= usec && usec <= after / 1000,
        "MONOTONIC_USEC={usec} is not between {before} and {after} ns"
    );
    before
}

#[test]
fn supervisor_is_told_ready_reloading_reload_outcome_and_stopping() {
    until_judged("upward notifications", |_| {
        let up_dir = TempDir::new("upstream");
        let up_path = up_dir.join("notify");
        let up = Upstream::path(&up_path);
        let up_value = up_path.to_str().unwrap();
        let opts = ["-w", "0", "--notify", "--ready-timeout", "0.5"];
        let (mut s, first) = Service::start("upward", &opts, "--ready-after 50", &[("NOTIFY_SOCKET", up_value)]);

        // READY=1 once generation 1 is ready, not before it said so.
        s.expect_ready(&first, s.launched)?;
        let message = up.next(&s.hw);
        let at = monotonic_ns();
        assert_ready(&message, "serving");
        let ready = s.wait_marker("ready", first.pid);
        assert!(at >= ready, "READY=1 upward {} ms before generation 1 sent READY=1", ms(at, ready));
        let own = first.get("NOTIFY_SOCKET").unwrap_or_default();
        assert_ne!(own, up_value, "hupwatch's own NOTIFY_SOCKET leaked to the generation");
        assert!(own.starts_with("@hupwatch/"), "generation 1's NOTIFY_SOCKET: {own:?}");

        // A reload that works.
        s.next_options("--ready-after 0");
        let hup = reload_and_expect_reloading(&s, &up);
        let second = s.next_report(&[first.pid]);
        s.expect_ready(&second, hup)?;
        assert_ready(&up.next(&s.hw), "reloaded");
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
        Ok(())
    });
}

#[test]
fn abstract_notify_socket_upward_and_nothing_leaks_without_notify() {
    let name = format!("hupwatch-test-{}-abstract", std::process::id());
    let up = Upstream::abstract_name(&name);
    let at = format!("@{name}");
    let (mut s, first) = Service::start("abstract", &["-w", "0.1"], "", &[("NOTIFY_SOCKET", &at)]);
    // Without --notify, generation 1 is ready after the warmup, and has no NOTIFY_SOCKET.
    assert_ready(&up.next(&s.hw), "serving");
    let waited = ms(s.launched, monotonic_ns());
    assert!(waited >= 100, "READY=1 upward {waited} ms after the start, before the 0.1 s warmup was over");
    assert_eq!(first.get("NOTIFY_SOCKET"), None, "hupwatch's NOTIFY_SOCKET leaked:\n{}", first.text);
    reload_and_expect_reloading(&s, &up);
    assert_ready(&up.next(&s.hw), "reloaded");
    let second = s.next_report(&[first.pid]);
    assert_eq!(second.get("NOTIFY_SOCKET"), None, "hupwatch's NOTIFY_SOCKET leaked:\n{}", second.text);
    s.hw.signal(libc::SIGTERM);
    let message = up.next(&s.hw);
    assert_eq!(value(&message, "STOPPING"), Some("1"), "expected STOPPING=1, got {message:?}");
    assert_eq!(s.hw.wait_code(LONG), 0, "stderr:\n{}", s.hw.stderr());
}

#[test]
fn supervisor_is_told_stopping_when_the_service_exits_by_itself() {
    let up_dir = TempDir::new("upstream-exit");
    let up_path = up_dir.join("notify");
    let up = Upstream::path(&up_path);
    let env = [("NOTIFY_SOCKET", up_path.to_str().unwrap())];
    let exit = up_dir.join("exit");
    let first = format!("--ready-after 0 --exit-on {} 4", exit.display());
    let (mut s, _) = Service::start("exits", &["-w", "0", "--notify"], &first, &env);
    assert_ready(&up.next(&s.hw), "serving");
    // Ready and serving; now it exits on its own.
    fs::write(&exit, "").unwrap();
    let message = up.next(&s.hw);
    assert_eq!(value(&message, "STOPPING"), Some("1"), "expected STOPPING=1, got {message:?}");
    assert_eq!(s.hw.wait_code(LONG), 4, "stderr:\n{}", s.hw.stderr());
    assert_eq!(up.queued(), Vec::<String>::new(), "messages after STOPPING=1");
}
