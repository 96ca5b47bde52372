//! Signal forwarding: every catchable signal but CHLD and the reload signal reaches the serving
//! generation, after -r rewriting, to its whole process group with -g; TERM, INT and QUIT also
//! shut hupwatch down.

mod support;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use support::*;

/// hupwatch running `echo-signals FILE` with `opts`; returns it, the file and the child's pid
/// once the child has installed its handlers.
fn start_echo(dir: &TempDir, opts: &[&str]) -> (Running, PathBuf, i32) {
    let file = dir.join("signals");
    let mut cmd = hupwatch_child(opts, &["echo-signals", file.to_str().unwrap()]);
    // A signal hupwatch failed to handle may dump core: not into the source tree.
    cmd.current_dir(dir.path());
    // SAFETY: setrlimit is async-signal-safe and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            let zero = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::setrlimit(libc::RLIMIT_CORE, &zero);
            Ok(())
        });
    }
    let hw = Running::spawn(&mut cmd);
    assert!(
        wait_until(LONG, || lines(&file).first().map(String::as_str) == Some("ready")),
        "child never got ready; stderr:\n{}",
        hw.stderr()
    );
    let child = live_children(hw.pid());
    assert_eq!(child.len(), 1, "expected one generation, got {child:?}");
    (hw, file, child[0])
}

/// Counts the lines of `file` that are `sig`.
fn count(file: &PathBuf, sig: i32) -> usize {
    lines(file).iter().filter(|l| **l == sig.to_string()).count()
}

/// Sends each of `signals` to hupwatch and waits until the child has recorded it.
fn send_and_expect_echo(hw: &Running, file: &PathBuf, signals: &[i32]) {
    let mut missing = Vec::new();
    for &sig in signals {
        let before = count(file, sig);
        hw.signal(sig);
        if !wait_until(LONG, || count(file, sig) > before) {
            missing.push(sig);
            break;
        }
    }
    assert!(
        missing.is_empty(),
        "signal {missing:?} was not forwarded (recorded so far: {:?}); stderr:\n{}",
        lines(file),
        hw.stderr()
    );
}

/// Signals with no special meaning to hupwatch: all catchable ones but CHLD, the reload
/// signal (HUP), TERM/INT/QUIT (shutdown), the kernel fault signals and the job-control ones
/// (those two groups have their own tests, so a failure names the group).
fn ordinary_signals() -> Vec<i32> {
    let special =
        [libc::SIGKILL, libc::SIGSTOP, libc::SIGCHLD, libc::SIGHUP, libc::SIGTERM, libc::SIGINT, libc::SIGQUIT];
    let mut signals: Vec<i32> =
        (1..32).filter(|s| !special.contains(s) && !FAULT.contains(s) && !JOB_CONTROL.contains(s)).collect();
    signals.extend(sigrtmin()..=sigrtmax());
    signals
}

const FAULT: [i32; 7] =
    [libc::SIGILL, libc::SIGTRAP, libc::SIGABRT, libc::SIGBUS, libc::SIGFPE, libc::SIGSEGV, libc::SIGSYS];
const JOB_CONTROL: [i32; 3] = [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU];

#[test]
fn forwards_every_ordinary_and_realtime_signal() {
    let dir = TempDir::new("forward");
    let (mut hw, file, child) = start_echo(&dir, &[]);
    send_and_expect_echo(&hw, &file, &ordinary_signals());
    assert!(alive(child) && hw.is_running());
    // INT and QUIT start the shutdown and still reach the child; TERM makes it exit 0.
    send_and_expect_echo(&hw, &file, &[libc::SIGINT, libc::SIGQUIT, libc::SIGTERM]);
    assert_eq!(hw.wait_code(LONG), 0, "stderr:\n{}", hw.stderr());
    assert_eq!(count(&file, libc::SIGHUP), 0, "HUP must not be forwarded");
    assert_eq!(count(&file, libc::SIGCHLD), 0, "CHLD must not be forwarded");
}

#[test]
fn forwards_fault_signals_sent_with_kill() {
    let dir = TempDir::new("forward-fault");
    let (mut hw, file, _) = start_echo(&dir, &[]);
    send_and_expect_echo(&hw, &file, &FAULT);
    hw.stop();
}

#[test]
fn forwards_job_control_signals() {
    let dir = TempDir::new("forward-job");
    let (mut hw, file, _) = start_echo(&dir, &[]);
    send_and_expect_echo(&hw, &file, &JOB_CONTROL);
    assert!(hw.is_running());
    assert_ne!(stat(hw.pid()).unwrap().state, 'T', "hupwatch stopped itself");
    hw.stop();
}

#[test]
fn with_another_reload_signal_hup_is_forwarded() {
    let dir = TempDir::new("reload-usr1");
    let (mut hw, first) = start_serve(dir.path(), &["--reload-signal", "USR1", "-w", "0"]);
    let signals = dir.join(format!("signals.{first}"));
    hw.signal(libc::SIGHUP);
    assert!(
        wait_until(LONG, || lines(&signals).contains(&"1".to_string())),
        "HUP not forwarded; stderr:\n{}",
        hw.stderr()
    );
    assert_eq!(started(dir.path()), vec![first], "HUP started a reload");
    hw.signal(libc::SIGUSR1);
    next_generation(dir.path(), &hw, &[first]);
    assert!(wait_until(LONG, || told_to_stop(dir.path(), first)));
    assert!(!lines(&signals).contains(&libc::SIGUSR1.to_string()), "USR1 was forwarded");
    hw.stop();
}

#[test]
fn rewrite_replaces_and_drops_signals() {
    let dir = TempDir::new("rewrite");
    let (mut hw, file, _) = start_echo(&dir, &["-r", "usr1:SIGUSR2", "--rewrite", "28:0"]);
    // A real-time marker: hupwatch takes pending standard signals before real-time ones, so
    // once the marker is echoed, anything sent before it has been forwarded or dropped.
    let marker = sigrtmin() + 2;
    hw.signal(libc::SIGUSR1);
    send_and_expect_echo(&hw, &file, &[marker]);
    assert_eq!(count(&file, libc::SIGUSR2), 1, "USR1 not rewritten to USR2: {:?}", lines(&file));
    assert_eq!(count(&file, libc::SIGUSR1), 0, "USR1 forwarded as is");

    hw.signal(libc::SIGWINCH);
    send_and_expect_echo(&hw, &file, &[marker]);
    assert_eq!(count(&file, libc::SIGWINCH), 0, "WINCH:0 did not drop it: {:?}", lines(&file));

    // Signals that are not rewritten pass unchanged.
    send_and_expect_echo(&hw, &file, &[libc::SIGUSR2, libc::SIGALRM]);
    hw.stop();
}

#[test]
fn process_group_option_reaches_grandchildren() {
    let dir = TempDir::new("group");
    fs::write(dir.join("mode"), "group-echo\n").unwrap();
    let (mut hw, first) = start_serve(dir.path(), &["-g", "-w", "0"]);
    let grandchild = wait_pid_file(&dir.join(format!("grandchild.{first}")));
    let grand_file = dir.join(format!("grandchild-signals.{first}"));
    assert!(wait_until(LONG, || lines(&grand_file).first().map(String::as_str) == Some("ready")));
    assert_eq!(stat(grandchild).unwrap().pgrp, first, "grandchild not in the generation's group");

    hw.signal(libc::SIGUSR1);
    let usr1 = libc::SIGUSR1.to_string();
    assert!(wait_until(LONG, || lines(dir.join(format!("signals.{first}"))).contains(&usr1)));
    assert!(
        wait_until(LONG, || lines(&grand_file).contains(&usr1)),
        "-g: grandchild did not get USR1; stderr:\n{}",
        hw.stderr()
    );

    // The stop signal of a reload goes to the whole group too.
    fs::write(dir.join("mode"), "serve\n").unwrap();
    hw.signal(libc::SIGHUP);
    assert!(wait_until(LONG, || told_to_stop(dir.path(), first)));
    let term = libc::SIGTERM.to_string();
    assert!(
        wait_until(LONG, || lines(&grand_file).contains(&term)),
        "-g: grandchild did not get the stop signal; stderr:\n{}",
        hw.stderr()
    );
    // Generation 2 ready for TERM; generation 1's grandchild (it outlives its leader) gone.
    next_generation(dir.path(), &hw, &[first]);
    assert!(kill(grandchild, libc::SIGKILL));
    hw.stop();
}

/// Starts `serve` under hupwatch with two live generations and returns hupwatch and their
/// pids: generation 1 serving (exits 7 when told to stop), generation 2 (exits 9) either still
/// warming up (`in_flight`; the test acts as soon as generation 2 exists) or already serving
/// while generation 1 drains (the stop signal, USR2, does not end it).
fn two_generations(dir: &Path, in_flight: bool) -> (Running, i32, i32) {
    fs::write(dir.join("mode"), "serve 7\n").unwrap();
    let opts: &[&str] = if in_flight { &["-w", "0.3"] } else { &["-w", "0", "--stop-signal", "USR2"] };
    let (hw, first) = start_serve(dir, opts);
    fs::write(dir.join("mode"), "serve 9\n").unwrap();
    hw.signal(libc::SIGHUP);
    let second = next_generation(dir, &hw, &[first]);
    if !in_flight {
        assert!(wait_until(LONG, || received(dir, first, libc::SIGUSR2) > 0));
    }
    (hw, first, second)
}

/// Sends `sig` to hupwatch and checks both generations get it and hupwatch exits with the
/// serving one's status once they are gone. In flight, the claim needs generation 2 to be
/// still warming up when hupwatch takes the signal; the log says whether it was, and an
/// attempt where the machine let the warmup pass first cannot be judged.
fn assert_shutdown_reaches_both(dir: &Path, in_flight: bool, sig: i32) -> Result<(), Inconclusive> {
    let (mut hw, first, second) = two_generations(dir, in_flight);
    hw.signal(sig);
    for generation in [first, second] {
        assert!(
            wait_until(LONG, || stop_signal_of(dir, generation) == Some(sig)),
            "signal {sig} (in flight: {in_flight}): generation {generation} not told; \
             stderr:\n{}",
            hw.stderr()
        );
    }
    if in_flight {
        let stderr = hw.stderr();
        let ready = stderr.lines().position(|l| l.contains(&format!("(pid {second}) is ready")));
        let shutdown = stderr.lines().position(|l| l.contains("shutting down"));
        if ready.is_some() && ready < shutdown {
            return Err(Inconclusive("generation 2 was ready before the shutdown began".into()));
        }
    }
    let serving = if in_flight { 7 } else { 9 };
    assert_eq!(hw.wait_code(LONG), serving, "signal {sig}; stderr:\n{}", hw.stderr());
    assert!(!alive(first) && !alive(second), "hupwatch exited before its generations");
    Ok(())
}

#[test]
fn shutdown_signals_go_to_draining_and_serving_generations() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT] {
        let dir = TempDir::new("shutdown");
        assert_shutdown_reaches_both(dir.path(), false, sig).expect("nothing to judge without a warmup");
    }
}

#[test]
fn shutdown_signal_reaches_a_generation_still_warming_up() {
    until_judged("shutdown during a warmup", |_| {
        let dir = TempDir::new("shutdown-in-flight");
        assert_shutdown_reaches_both(dir.path(), true, libc::SIGTERM)
    });
}

#[test]
fn stop_signal_option_is_used_for_the_old_generation() {
    let dir = TempDir::new("stop-quit");
    let (mut hw, first) = start_serve(dir.path(), &["-w", "0", "--stop-signal", "QUIT"]);
    hw.signal(libc::SIGHUP);
    assert!(
        wait_until(LONG, || told_to_stop(dir.path(), first)),
        "old generation not stopped; stderr:\n{}",
        hw.stderr()
    );
    assert_eq!(stop_signal_of(dir.path(), first), Some(libc::SIGQUIT), "stop signal was not QUIT");
    next_generation(dir.path(), &hw, &[first]);
    hw.stop();
}

#[test]
fn stopped_generation_does_not_end_hupwatch() {
    let dir = TempDir::new("stopped");
    let (mut hw, file, child) = start_echo(&dir, &[]);
    assert!(kill(child, libc::SIGSTOP));
    assert!(wait_until(LONG, || stat(child).is_some_and(|s| s.state == 'T')));
    // hupwatch has been sent SIGCHLD for the stop by now; a real-time signal sent after it
    // is taken after it, so once it has been forwarded the stop has been handled.
    let marker = sigrtmin() + 3;
    hw.signal(marker);
    assert!(kill(child, libc::SIGCONT));
    assert!(
        wait_until(LONG, || count(&file, marker) == 1),
        "marker not forwarded after the stop; stderr:\n{}",
        hw.stderr()
    );
    assert!(hw.is_running(), "hupwatch exited when its child stopped");
    assert_eq!(live_children(hw.pid()), vec![child]);
    hw.stop();
}
