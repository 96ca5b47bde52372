//! --restart: a crashed server restarted while its clients wait in the backlog of the socket
//! hupwatch holds, the backoff of a crash loop (and what it costs hupwatch), `:N`, on-failure's
//! idea of a failure, and TERM or the reload signal during a backoff. The generations are the
//! test server (tests/support/server.rs), each reading its options from a file the test
//! rewrites, so that one generation crashes and the next one serves.
//!
//! No verdict needs the machine to be quick: restart spacing is judged on times that bound
//! hupwatch's own from the right side (a generation's start is after hupwatch decided to start
//! it, which is after the last one ended), and "during a backoff" on the order of hupwatch's own
//! log lines.

mod support;

use std::fs;
use std::time::Duration;
use support::*;

/// hupwatch running the test server, which reads its options for each generation from
/// `dir/more`.
struct Service {
    dir: TempDir,
    hw: Running,
    /// The port of `--listen tcp:127.0.0.1:PORT`, when asked for.
    port: u16,
    /// The clock just before hupwatch started.
    launched: u64,
}

impl Service {
    /// Starts `hupwatch OPTS [--listen tcp:127.0.0.1:PORT] -- server --report-dir DIR --more
    /// DIR/more`, generation 1 reading `first`; returns once generation 1 has written its
    /// report. With `tcp`, another port is tried when the free one was taken meanwhile.
    fn start(name: &str, opts: &[&str], first: &str, tcp: bool) -> Service {
        for _ in 0..5 {
            let dir = TempDir::new(name);
            fs::write(dir.join("more"), first).unwrap();
            let port = if tcp { free_port() } else { 0 };
            let mut cmd = hupwatch(opts);
            if tcp {
                cmd.arg("--listen").arg(format!("tcp:127.0.0.1:{port}"));
            }
            cmd.arg("--").arg(server_bin()).arg("--report-dir").arg(dir.path()).arg("--more").arg(dir.join("more"));
            let launched = monotonic_ns();
            let mut hw = Running::spawn(&mut cmd);
            wait_until(LONG, || !reports(dir.path()).is_empty() || !hw.is_running());
            if !reports(dir.path()).is_empty() {
                return Service { dir, hw, port, launched };
            }
            assert!(tcp && hw.stderr().contains("in use"), "generation 1 did not start; stderr:\n{}", hw.stderr());
        }
        panic!("no free port after 5 tries");
    }

    fn next_options(&self, options: &str) {
        fs::write(self.dir.join("more"), options).unwrap();
    }

    /// The reports of every generation so far, oldest first.
    fn generations(&self) -> Vec<Report> {
        let mut all = reports(self.dir.path());
        all.sort_by_key(Report::started_ns);
        all
    }

    fn wait_log(&self, words: &[&str]) {
        wait_log(&self.hw, words)
    }
}

/// The restarts hupwatch logged, in order: (attempt, delay in ms, last status).
fn restarts(stderr: &str) -> Vec<(u32, u64, u32)> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.split("restart ").nth(1)?;
            let words: Vec<&str> = rest.split([' ', ')']).collect();
            // "N in D ms (last status C)"
            Some((words[0].parse().ok()?, words[2].parse().ok()?, words[6].parse().ok()?))
        })
        .collect()
}

/// The delay before restart `attempt` as documented: 0.1 s, doubling, at most 30 s.
fn documented_delay_ms(attempt: u32) -> u64 {
    (100u64 << (attempt - 1).min(20)).min(30_000)
}

/// hupwatch's own CPU time so far (utime + stime of /proc/PID/stat), in ms.
fn cpu_ms(pid: i32) -> u64 {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = text[text.rfind(')').unwrap() + 2..].split(' ').collect();
    // Fields 14 and 15 of the file, counted after the command name from field 3.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no memory-safety preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    ticks * 1000 / per_second
}

#[test]
fn crash_under_load_refuses_no_connection() {
    let crash = TempDir::new("crash-file");
    let crash_file = crash.join("crash");
    let first = format!("--crash-on {}", crash_file.display());
    let mut s = Service::start("crash-load", &["-w", "0", "--restart", "on-failure"], &first, true);
    let port = s.port;
    let first = s.generations()[0].pid;
    let client = Client::start(move || ask_tcp(port));
    assert!(wait_until(LONG, || client.last() == first), "generation 1 never answered; stderr:\n{}", s.hw.stderr());
    // The next generation serves; this one kills itself between two connections.
    s.next_options("");
    let before = client.made();
    fs::write(&crash_file, "").unwrap();
    let second = next_report(s.dir.path(), &s.hw, &[first]).pid;
    assert!(wait_until(LONG, || client.last() == second), "generation 2 never answered; stderr:\n{}", s.hw.stderr());
    let across = client.made() - before;
    let outcomes = client.finish();
    let failed = failures(&outcomes);
    eprintln!(
        "{} connections, {across} from the crash to generation 2's first answer, {} failed",
        outcomes.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "{} of {} connections failed: {failed:?}", failed.len(), outcomes.len());
    assert_eq!(restarts(&s.hw.stderr()), [(1, 100, 137)], "stderr:\n{}", s.hw.stderr());
    assert_eq!(ask_tcp(port).unwrap(), second);
    s.hw.stop();
}

#[test]
fn crash_loop_backs_off_and_costs_hupwatch_almost_nothing() {
    // Six restarts of a server that exits at once: 0.1 + 0.2 + ... + 3.2 s of backoff. The
    // claim for a whole minute is measured in the benchmark (benches/compare.sh).
    const RESTARTS: u32 = 6;
    let mut s = Service::start("crash-loop", &["-w", "0", "--restart", "always"], "--exit-after 0 3", false);
    assert!(
        wait_until(Duration::from_secs(60), || s.generations().len() > RESTARTS as usize),
        "not {} generations; stderr:\n{}",
        RESTARTS + 1,
        s.hw.stderr()
    );
    let cpu = cpu_ms(s.hw.pid());
    let wall = (monotonic_ns() - s.launched) / 1_000_000;
    eprintln!("hupwatch used {cpu} ms of CPU in {wall} ms ({:.2}%)", cpu as f64 * 100.0 / wall as f64);
    // Generous: at rest between attempts it does nothing at all; a busy loop would take 100%.
    assert!(cpu * 20 < wall, "hupwatch used {cpu} ms of CPU in {wall} ms of a crash loop");
    // Each generation started no sooner than the backoff after the one before it started (it
    // ended later still).
    let gens = s.generations();
    for (k, pair) in gens.windows(2).enumerate().take(RESTARTS as usize) {
        let gap = (pair[1].started_ns() - pair[0].started_ns()) / 1_000_000;
        let delay = documented_delay_ms(k as u32 + 1);
        assert!(
            gap >= delay,
            "restart {} came {gap} ms after the previous start, before its {delay} ms backoff",
            k + 1
        );
    }
    let logged = restarts(&s.hw.stderr());
    let expected: Vec<_> = (1..=RESTARTS).map(|k| (k, documented_delay_ms(k), 3)).collect();
    assert_eq!(logged[..RESTARTS as usize], expected[..], "stderr:\n{}", s.hw.stderr());
    // TERM: the last generation's status.
    s.hw.stop_expecting(3);
}

#[test]
fn on_failure_n_gives_up_with_the_last_status() {
    let mut s = Service::start("limit", &["-w", "0", "--restart", "on-failure:2"], "--exit-after 0 5", false);
    assert_eq!(s.hw.wait_code(LONG), 5, "stderr:\n{}", s.hw.stderr());
    assert_eq!(s.generations().len(), 3, "the first and two restarts; stderr:\n{}", s.hw.stderr());
    assert_eq!(restarts(&s.hw.stderr()), [(1, 100, 5), (2, 200, 5)]);
    assert_eq!(log_lines_with(&s.hw, &["error", "giving up: 2 restarts in a row failed"]).len(), 1);
}

#[test]
fn on_failure_takes_exit_0_and_signals_hupwatch_sent_as_the_end() {
    // Exit 0: hupwatch exits 0, no restart.
    let mut s = Service::start("exit-0", &["-w", "0", "--restart", "on-failure"], "--exit-after 0 0", false);
    assert_eq!(s.hw.wait_code(LONG), 0, "stderr:\n{}", s.hw.stderr());
    assert_eq!(s.generations().len(), 1, "stderr:\n{}", s.hw.stderr());
    // Killed by a signal hupwatch passed on (USR1's default action): its status, no restart.
    let mut s = Service::start("forwarded", &["-w", "0", "--restart", "on-failure"], "", false);
    s.hw.signal(libc::SIGUSR1);
    assert_eq!(s.hw.wait_code(LONG), 128 + libc::SIGUSR1, "stderr:\n{}", s.hw.stderr());
    assert_eq!(s.generations().len(), 1, "stderr:\n{}", s.hw.stderr());
    // Under always, a clean exit is restarted too (here once: always:1).
    let mut s = Service::start("always", &["-w", "0", "--restart", "always:1"], "--exit-after 0 0", false);
    assert_eq!(s.hw.wait_code(LONG), 0, "stderr:\n{}", s.hw.stderr());
    assert_eq!(s.generations().len(), 2, "stderr:\n{}", s.hw.stderr());
}

/// The index of the first line of `stderr` with `words` after line `from`.
fn line_index(stderr: &str, from: usize, words: &[&str]) -> Option<usize> {
    stderr.lines().enumerate().skip(from).find(|(_, l)| words.iter().all(|w| l.contains(w))).map(|(i, _)| i)
}

#[test]
fn term_during_a_backoff_ends_hupwatch_at_once() {
    until_judged("TERM during a backoff", |_| {
        let mut s = Service::start("term-backoff", &["-w", "0", "--restart", "always"], "--exit-after 0 3", false);
        s.wait_log(&["restart 5 in 1600 ms"]);
        s.hw.signal(libc::SIGTERM);
        assert_eq!(s.hw.wait_code(LONG), 3, "the last generation's status; stderr:\n{}", s.hw.stderr());
        let stderr = s.hw.stderr();
        let backoff = line_index(&stderr, 0, &["restart 5 in 1600 ms"]).unwrap();
        let shutdown = line_index(&stderr, backoff, &["shutting down on SIGTERM"]).unwrap();
        if line_index(&stderr, backoff, &["generation 6", "started"]).is_some_and(|i| i < shutdown) {
            return Err(Inconclusive("the backoff was over before the TERM arrived".into()));
        }
        assert_eq!(line_index(&stderr, shutdown, &["started"]), None, "a generation started after TERM:\n{stderr}");
        assert_eq!(s.generations().len(), 5, "stderr:\n{stderr}");
        Ok(())
    });
}

#[test]
fn reload_during_a_backoff_starts_the_next_generation_at_once() {
    until_judged("HUP during a backoff", |_| {
        let mut s = Service::start("hup-backoff", &["-w", "0", "--restart", "always"], "--exit-after 0 3", false);
        s.wait_log(&["restart 5 in 1600 ms"]);
        s.next_options("");
        s.hw.signal(libc::SIGHUP);
        let sixth = next_report(s.dir.path(), &s.hw, &s.generations().iter().map(|r| r.pid).collect::<Vec<_>>());
        let stderr = s.hw.stderr();
        let backoff = line_index(&stderr, 0, &["restart 5 in 1600 ms"]).unwrap();
        let Some(reload) = line_index(&stderr, backoff, &["reload: starting generation 6"]) else {
            return Err(Inconclusive("the backoff was over before the HUP arrived".into()));
        };
        let started = line_index(&stderr, backoff, &["generation 6", "started"]).unwrap();
        assert!(reload < started, "generation 6 was not started by the reload:\n{stderr}");
        assert!(wait_until(LONG, || alive(sixth.pid)) && s.hw.is_running(), "stderr:\n{}", s.hw.stderr());
        s.hw.stop();
        Ok(())
    });
}

#[test]
fn restarted_generation_must_get_ready_like_any_other() {
    // With --notify, generation 1 is ready and serves, then crashes; the restarts never get
    // ready in time, each a failed attempt: after two, hupwatch gives up with status 1.
    let crash = TempDir::new("crash-ready");
    let crash_file = crash.join("crash");
    let opts = ["--notify", "-w", "0", "--ready-timeout", "0.3", "--restart", "on-failure:2"];
    let first = format!("--ready-after 0 --crash-on {}", crash_file.display());
    let mut s = Service::start("restart-ready", &opts, &first, false);
    s.wait_log(&["generation 1", "is ready"]);
    s.next_options("--never-ready");
    fs::write(&crash_file, "").unwrap();
    assert_eq!(s.hw.wait_code(LONG), 1, "stderr:\n{}", s.hw.stderr());
    assert_eq!(restarts(&s.hw.stderr()), [(1, 100, 137), (2, 200, 1)], "stderr:\n{}", s.hw.stderr());
    assert_eq!(log_lines_with(&s.hw, &["not ready in time"]).len(), 2, "stderr:\n{}", s.hw.stderr());
    assert!(s.generations().iter().all(|g| !alive(g.pid)), "a generation outlived hupwatch");
}
