//! --watchdog and EXTEND_TIMEOUT_USEC: each generation's own WATCHDOG_USEC and WATCHDOG_PID, a
//! hung server (it stops pinging and keeps its socket) replaced under load with no request
//! failing, WATCHDOG=trigger, WATCHDOG_USEC=0, a hung server stopped when no replacement can
//! start, a starting server given more time, and hupwatch pinging its own watchdog for a test
//! socket that plays systemd. The generations are the test server (tests/support/server.rs),
//! which pings every 50 ms when it has a watchdog.
//!
//! Verdicts hold on a slow machine: a hung generation's SIGABRT is compared with its
//! replacement's READY=1 (the one causes the other); a deadline hupwatch must have passed is
//! bounded by a log line hupwatch wrote after it started counting.

mod support;

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::*;

/// A file in a directory of its own, which the test creates to make a generation act.
fn trigger_file(dir: &TempDir, name: &str) -> PathBuf {
    dir.join(name)
}

#[test]
fn each_generation_gets_its_own_watchdog_variables() {
    // hupwatch's own watchdog variables (for it, or for another process) never reach a
    // generation; with --watchdog each gets the interval and its own pid, beside LISTEN_PID.
    let env = [("WATCHDOG_USEC", "5000000"), ("WATCHDOG_PID", "1")];
    let (mut s, first) = Service::start("no-watchdog", &["-w", "0"], "", &env);
    assert_eq!((first.get("WATCHDOG_USEC"), first.get("WATCHDOG_PID")), (None, None), "report:\n{}", first.text);
    s.hw.stop();

    let opts = ["-w", "0", "--notify", "--watchdog", "2.5"];
    let (mut s, first) = Service::start("own-watchdog", &opts, "--ready-after 0", &env);
    assert_eq!(first.get("WATCHDOG_USEC").as_deref(), Some("2500000"), "report:\n{}", first.text);
    assert_eq!(first.get("WATCHDOG_PID"), Some(first.pid.to_string()), "report:\n{}", first.text);
    assert_eq!(first.get("LISTEN_PID"), Some(first.pid.to_string()), "report:\n{}", first.text);
    s.wait_log(&["generation 1", "is ready"]);
    s.hw.signal(libc::SIGHUP);
    let second = next_report(s.dir.path(), &s.hw, &[first.pid]);
    assert_eq!(second.get("WATCHDOG_PID"), Some(second.pid.to_string()), "report:\n{}", second.text);
    assert_eq!(second.get("LISTEN_PID"), Some(second.pid.to_string()), "report:\n{}", second.text);
    s.hw.stop();
}

#[test]
fn hung_server_is_replaced_with_no_failed_request() {
    until_judged("hung server under load", |_| {
        let files = TempDir::new("hang-file");
        let hang = trigger_file(&files, "hang");
        // A generous interval while it pings every 50 ms; once hung it asks for 0.3 s (its own
        // WATCHDOG_USEC=), so that the test need not wait long.
        let opts = ["-w", "0", "--notify", "--watchdog", "10"];
        let first_options = format!("--ready-after 0 --hang-on {} 300000", hang.display());
        let (mut s, first) = Service::start("hung", &opts, &first_options, &[]);
        s.wait_log(&["generation 1", "is ready"]);
        let sock = s.sock.clone();
        let client = Client::start(move || ask_unix(&sock));
        assert!(wait_until(LONG, || client.last() == first.pid), "generation 1 never answered");
        s.next_options("--ready-after 0");
        let hung_at = monotonic_ns();
        fs::write(&hang, "").unwrap();
        let second = next_report(s.dir.path(), &s.hw, &[first.pid]);
        if second.started_ns() < hung_at {
            client.finish();
            return Err(Inconclusive("generation 1 missed 10 s of pings before it was told to hang".into()));
        }
        s.wait_log(&[&format!("generation 1 (pid {}) missed its watchdog", first.pid)]);
        // SIGABRT once generation 2 is ready, not before: the one causes the other.
        let ready = s.wait_marker("ready", second.pid);
        let abort = s.wait_marker("abort", first.pid);
        assert!(abort > ready, "the hung generation got SIGABRT before its replacement sent READY=1");
        s.wait_log(&[&format!("stopping generation 1 (pid {}) with SIGABRT", first.pid)]);
        s.wait_log(&[&format!("generation 1 (pid {}) drained: killed by SIGABRT", first.pid)]);
        assert!(wait_until(LONG, || client.last() == second.pid), "generation 2 never answered");
        let outcomes = client.finish();
        let failed = failures(&outcomes);
        eprintln!("{} requests while a hung server was replaced, {} failed", outcomes.len(), failed.len());
        assert!(failed.is_empty(), "{} of {} requests failed: {failed:?}", failed.len(), outcomes.len());
        s.hw.stop();
        Ok(())
    });
}

#[test]
fn watchdog_trigger_replaces_the_generation() {
    let files = TempDir::new("trigger-file");
    let trigger = trigger_file(&files, "trigger");
    let opts = ["-w", "0", "--notify", "--watchdog", "60"];
    let first_options = format!("--ready-after 0 --trigger-on {}", trigger.display());
    let (mut s, first) = Service::start("trigger", &opts, &first_options, &[]);
    s.wait_log(&["generation 1", "is ready"]);
    s.next_options("--ready-after 0");
    fs::write(&trigger, "").unwrap();
    let second = next_report(s.dir.path(), &s.hw, &[first.pid]);
    s.wait_log(&["generation 1", "missed its watchdog"]);
    let ready = s.wait_marker("ready", second.pid);
    assert!(s.wait_marker("abort", first.pid) > ready, "SIGABRT before the replacement was ready");
    assert!(wait_until(LONG, || !exists(first.pid)), "the hung generation was not stopped");
    assert_eq!(s.ask(), second.pid);
    s.hw.stop();
}

#[test]
fn watchdog_usec_zero_turns_a_generations_watchdog_off() {
    let files = TempDir::new("usec-zero");
    let quiet = trigger_file(&files, "quiet");
    let opts = ["-w", "0", "--notify", "--watchdog", "0.3"];
    let first_options = format!("--ready-after 0 --hang-on {} 0", quiet.display());
    let (mut s, first) = Service::start("usec-zero", &opts, &first_options, &[]);
    s.wait_log(&["generation 1", "is ready"]);
    fs::write(&quiet, "").unwrap();
    // Many times its old interval without a ping: still the service.
    throughout(Duration::from_millis(1500), || {
        assert!(!s.log_has(&["missed its watchdog"]), "replaced although its watchdog is off:\n{}", s.hw.stderr());
        assert_eq!(reports(s.dir.path()).len(), 1, "a second generation started");
    });
    assert_eq!(s.ask(), first.pid);
    s.hw.stop();
}

#[test]
fn hung_generation_is_stopped_when_no_replacement_can_start() {
    // Without --restart, one failed replacement is all: the hung generation gets SIGABRT and
    // its status (128 + 6) is hupwatch's.
    let files = TempDir::new("no-replacement");
    let trigger = trigger_file(&files, "trigger");
    let opts = ["-w", "0", "--notify", "--watchdog", "60"];
    let first_options = format!("--ready-after 0 --trigger-on {}", trigger.display());
    let (mut s, first) = Service::start("no-replacement", &opts, &first_options, &[]);
    s.wait_log(&["generation 1", "is ready"]);
    s.next_options("--exit-after 0 3");
    fs::write(&trigger, "").unwrap();
    assert_eq!(s.hw.wait_code(LONG), 128 + libc::SIGABRT, "stderr:\n{}", s.hw.stderr());
    assert!(s.marker("abort", first.pid).is_some(), "no SIGABRT; stderr:\n{}", s.hw.stderr());
    assert!(s.log_has(&["reload abandoned: generation 2", "exited with 3"]), "stderr:\n{}", s.hw.stderr());
}

#[test]
fn extend_timeout_usec_gives_a_starting_generation_more_time() {
    const TIMEOUT_NS: u64 = 500_000_000;
    until_judged("EXTEND_TIMEOUT_USEC", |_| {
        let files = TempDir::new("extend");
        let go = trigger_file(&files, "go");
        let opts = ["-w", "0", "--notify", "--ready-timeout", "0.5"];
        let first_options = format!("--extend-ready 60000 --status extending --ready-on {}", go.display());
        let s = Service::launch(hupwatch(&opts), "extend", &[], &first_options, &[]);
        let pid = next_report(s.dir.path(), &s.hw, &[]).pid;
        let abandoned = || s.log_has(&["not ready in time"]);
        assert!(wait_until(LONG, || s.log_has(&["status: extending"]) || abandoned()), "{}", s.hw.stderr());
        if abandoned() {
            // Only right if the extension came after the original deadline, which is no
            // earlier than the launch plus the ready timeout.
            let sent = s.wait_marker("extend-sent", pid);
            assert!(sent > s.launched + TIMEOUT_NS, "abandoned although extended in time:\n{}", s.hw.stderr());
            return Err(Inconclusive("the extension was sent after the ready timeout".into()));
        }
        // hupwatch logged the STATUS after it started counting the ready timeout: once that
        // line plus the timeout has passed, the original deadline has too.
        let seen = monotonic_ns();
        assert!(wait_until(LONG, || monotonic_ns() >= seen + TIMEOUT_NS));
        fs::write(&go, "").unwrap();
        assert!(wait_until(LONG, || s.log_has(&["generation 1", "is ready"]) || abandoned()));
        assert!(!abandoned(), "abandoned although extended:\n{}", s.hw.stderr());
        assert_eq!(s.ask(), pid);
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// hupwatch's own watchdog

/// A datagram socket at `path` playing systemd's notify socket.
fn upstream(path: &Path) -> UnixDatagram {
    let socket = UnixDatagram::bind(path).unwrap();
    socket.set_read_timeout(Some(LONG)).unwrap();
    socket
}

fn receive(socket: &UnixDatagram, hw: &Running) -> String {
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).unwrap_or_else(|e| panic!("nothing from hupwatch ({e}); stderr:\n{}", hw.stderr()));
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn hupwatch_pings_its_own_watchdog_every_half_interval() {
    // WATCHDOG_PID unset, then set to hupwatch's own pid (a shell that execs it keeps its pid).
    for own_pid in [false, true] {
        let up_dir = TempDir::new("own-watchdog");
        let path = up_dir.join("notify");
        let socket = upstream(&path);
        let env = [("NOTIFY_SOCKET", path.to_str().unwrap()), ("WATCHDOG_USEC", "200000")];
        let cmd = if own_pid {
            let mut cmd = Command::new("sh");
            cmd.arg("-c").arg(r#"WATCHDOG_PID=$$ exec "$0" "$@""#).arg(hupwatch_bin()).args(["-w", "0"]);
            cmd.stdin(std::process::Stdio::null());
            cmd
        } else {
            hupwatch(&["-w", "0"])
        };
        let mut s = Service::launch(cmd, "own-watchdog", &[], "", &env);
        let first = next_report(s.dir.path(), &s.hw, &[]);
        let mut pings = 0;
        while pings < 5 {
            if receive(&socket, &s.hw) == "WATCHDOG=1" {
                pings += 1;
            }
        }
        // Never more often than every 0.1 s (from its start on, one at once): no busy loop.
        let elapsed = monotonic_ns() - s.launched;
        assert!(pings as u64 <= elapsed / 100_000_000 + 1, "{pings} pings in {} ms", elapsed / 1_000_000);
        let passed_on = (first.get("WATCHDOG_USEC"), first.get("WATCHDOG_PID"));
        assert_eq!(passed_on, (None, None), "hupwatch's own watchdog passed on:\n{}", first.text);
        s.hw.stop();
    }
}

#[test]
fn hupwatch_leaves_a_watchdog_meant_for_another_process_alone() {
    let up_dir = TempDir::new("other-watchdog");
    let path = up_dir.join("notify");
    let socket = upstream(&path);
    let env = [("NOTIFY_SOCKET", path.to_str().unwrap()), ("WATCHDOG_USEC", "200000"), ("WATCHDOG_PID", "1")];
    let (mut s, _) = Service::start("other-watchdog", &["-w", "0"], "", &env);
    // READY=1 comes once generation 1 is promoted; a ping would have come at start already.
    assert!(receive(&socket, &s.hw).starts_with("READY=1"));
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    throughout(Duration::from_millis(500), || {
        if let Ok(n) = socket.recv(&mut buf) {
            panic!("hupwatch sent {:?} for a watchdog not its own", String::from_utf8_lossy(&buf[..n]));
        }
    });
    s.hw.stop();
}
