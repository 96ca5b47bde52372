//! Transparency: a generation sees the signal mask and ignored signals hupwatch inherited,
//! the caller's environment, working directory and stdio, and no other descriptor.

mod support;

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use support::*;

/// Spawns hupwatch (`-w 0`) running `report FILE` through `cmd_setup`, waits for the report;
/// returns the guard, the report's text and the child's pid.
fn start_report(dir: &TempDir, cmd_setup: impl FnOnce(&mut std::process::Command)) -> (Running, String, i32) {
    let file = dir.join("report");
    let mut cmd = hupwatch_child(&["-w", "0"], &["report", file.to_str().unwrap()]);
    cmd_setup(&mut cmd);
    let hw = Running::spawn(&mut cmd);
    let text = wait_for(LONG, || Some(read(&file)).filter(|t| !t.is_empty()))
        .unwrap_or_else(|| panic!("no report; stderr:\n{}", hw.stderr()));
    let pid = field(&text, "pid").unwrap().parse().unwrap();
    (hw, text, pid)
}

/// Waits for the report of a generation other than `old` (after a reload).
fn next_report(dir: &TempDir, hw: &Running, old: i32) -> (String, i32) {
    let file = dir.join("report");
    let text = wait_for(LONG, || {
        let text = read(&file);
        let pid: i32 = field(&text, "pid")?.parse().ok()?;
        (pid != old).then_some(text)
    })
    .unwrap_or_else(|| panic!("no report from a new generation; stderr:\n{}", hw.stderr()));
    let pid = field(&text, "pid").unwrap().parse().unwrap();
    (text, pid)
}

#[test]
fn inherited_signal_mask_and_ignored_signals_pass_through() {
    let blocked = [libc::SIGUSR1, libc::SIGWINCH, sigrtmin() + 5];
    let ignored = [libc::SIGUSR2, libc::SIGPIPE, libc::SIGTTOU];
    let dir = TempDir::new("sigstate");

    // Control: the child started directly with that state reports exactly it.
    let control = dir.join("control");
    let mut cmd = std::process::Command::new(child_bin());
    cmd.args(["report", control.to_str().unwrap()]);
    with_signal_state(&mut cmd, &blocked, &ignored);
    let direct = Running::spawn(&mut cmd);
    let report = wait_for(LONG, || Some(read(&control)).filter(|t| !t.is_empty())).unwrap();
    assert_eq!(field(&report, "SigBlk"), Some(sigmask(&blocked)), "control:\n{report}");
    assert_eq!(field(&report, "SigIgn"), Some(sigmask(&ignored)), "control:\n{report}");
    drop(direct);

    let (mut hw, report, child) = start_report(&dir, |cmd| with_signal_state(cmd, &blocked, &ignored));
    let ignored_passes = !skip_under_emulation("qemu-user resets ignored signals to their default at exec");
    assert_eq!(field(&report, "SigBlk"), Some(sigmask(&blocked)), "report:\n{report}");
    if ignored_passes {
        assert_eq!(field(&report, "SigIgn"), Some(sigmask(&ignored)), "report:\n{report}");
    }

    // And so does a generation started by a reload.
    hw.signal(libc::SIGHUP);
    let (report, _) = next_report(&dir, &hw, child);
    assert_eq!(field(&report, "SigBlk"), Some(sigmask(&blocked)), "after reload:\n{report}");
    if ignored_passes {
        assert_eq!(field(&report, "SigIgn"), Some(sigmask(&ignored)), "after reload:\n{report}");
    }
    hw.stop_expecting(128 + libc::SIGTERM);
}

#[test]
fn default_signal_state_passes_through_with_sigpipe_default() {
    let dir = TempDir::new("sigdefault");
    let (mut hw, report, child) = start_report(&dir, |cmd| with_signal_state(cmd, &[], &[]));
    assert_eq!(field(&report, "SigBlk"), Some(sigmask(&[])), "hupwatch's mask leaked:\n{report}");
    assert_eq!(field(&report, "SigIgn"), Some(sigmask(&[])), "ignored signals (SIGPIPE?) leaked:\n{report}");
    hw.signal(libc::SIGHUP);
    let (report, _) = next_report(&dir, &hw, child);
    assert_eq!(field(&report, "SigBlk"), Some(sigmask(&[])), "after reload:\n{report}");
    assert_eq!(field(&report, "SigIgn"), Some(sigmask(&[])), "after reload:\n{report}");
    hw.stop_expecting(128 + libc::SIGTERM);
}

/// The descriptors a report lists: (fd, target).
fn reported_fds(report: &str) -> Vec<(i32, String)> {
    let mut fds: Vec<(i32, String)> = report
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("fd ")?;
            let (fd, target) = rest.split_once(' ')?;
            Some((fd.parse().ok()?, target.to_string()))
        })
        .collect();
    fds.sort();
    fds
}

#[test]
fn generation_sees_only_stdio_descriptors() {
    let dir = TempDir::new("fds");
    let stdin_path = dir.join("stdin");
    let stdout_path = dir.join("stdout");
    let stderr_path = dir.join("stderr");
    let extra_path = dir.join("extra");
    fs::write(&stdin_path, "").unwrap();
    let extra = fs::File::create(&extra_path).unwrap();
    let extra_fd = extra.as_raw_fd();
    let file = dir.join("report");
    let mut cmd = hupwatch_child(&["-w", "0"], &["report", file.to_str().unwrap()]);
    cmd.stdin(fs::File::open(&stdin_path).unwrap())
        .stdout(fs::File::create(&stdout_path).unwrap())
        .stderr(fs::File::create(&stderr_path).unwrap());
    // SAFETY: dup2 is async-signal-safe; the source descriptor stays open in the parent.
    unsafe {
        cmd.pre_exec(move || {
            // An inherited descriptor without close-on-exec, as a careless caller leaves.
            if libc::dup2(extra_fd, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut hw = Running::spawn_raw(&mut cmd);
    let expected = |p: &Path| p.to_string_lossy().into_owned();

    // Control: the child started directly the same way does see descriptor 7.
    let control = dir.join("control");
    let mut direct_cmd = std::process::Command::new(child_bin());
    direct_cmd.args(["report", control.to_str().unwrap()]);
    // SAFETY: as above.
    unsafe {
        direct_cmd.pre_exec(move || {
            if libc::dup2(extra_fd, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let direct = Running::spawn_raw(&mut direct_cmd);
    let report = wait_for(LONG, || Some(read(&control)).filter(|t| !t.is_empty())).unwrap();
    assert!(reported_fds(&report).contains(&(7, expected(&extra_path))), "control:\n{report}");
    drop(direct);

    let want = vec![(0, expected(&stdin_path)), (1, expected(&stdout_path)), (2, expected(&stderr_path))];

    let report = wait_for(LONG, || Some(read(&file)).filter(|t| !t.is_empty()))
        .unwrap_or_else(|| panic!("no report; stderr:\n{}", read(&stderr_path)));
    let child: i32 = field(&report, "pid").unwrap().parse().unwrap();
    assert_eq!(reported_fds(&report), want, "generation 1's descriptors");
    assert_eq!(fds(child), want, "generation 1's descriptors, seen from outside");

    hw.signal(libc::SIGHUP);
    let report = wait_for(LONG, || {
        let text = read(&file);
        (field(&text, "pid")? != child.to_string()).then_some(text)
    })
    .unwrap_or_else(|| panic!("no second report; stderr:\n{}", read(&stderr_path)));
    assert_eq!(reported_fds(&report), want, "generation 2's descriptors");
    hw.stop_expecting(128 + libc::SIGTERM);
    drop(extra);
}

#[test]
fn generation_gets_the_callers_environment_and_directory() {
    let dir = TempDir::new("env");
    let work = TempDir::new("env-cwd");
    let vars = [
        ("PATH", std::env::var("PATH").unwrap_or_default()),
        ("HUPWATCH_TEST_PLAIN", "value".to_string()),
        ("HUPWATCH_TEST_SPACES", "a b  c".to_string()),
        ("HUPWATCH_TEST_EMPTY", String::new()),
        ("HUPWATCH_TEST_EQUALS", "x=y=z".to_string()),
        ("PWD", work.path().to_string_lossy().into_owned()),
    ];
    let (mut hw, report, child) = start_report(&dir, |cmd| {
        cmd.env_clear().current_dir(work.path());
        for (k, v) in &vars {
            cmd.env(k, v);
        }
    });
    assert_eq!(field(&report, "cwd").as_deref(), Some(work.path().to_str().unwrap()));
    let mut want = environ(hw.pid());
    want.sort();
    for (k, v) in &vars {
        assert!(want.contains(&format!("{k}={v}")), "test setup: {k} missing from {want:?}");
    }
    let mut got = environ(child);
    got.sort();
    assert_eq!(got, want, "the generation's environment differs from the caller's");
    hw.stop_expecting(128 + libc::SIGTERM);
}

/// Voluntary plus involuntary context switches of `pid` so far.
fn context_switches(pid: i32) -> u64 {
    ["voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"]
        .iter()
        .map(|key| status_field(pid, key).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
        .sum()
}

#[test]
fn idle_hupwatch_never_wakes_up() {
    let dir = TempDir::new("idle");
    let pid_file = dir.join("pid");
    let mut hw = Running::spawn(&mut hupwatch_child(&["-w", "0"], &["write-pid", pid_file.to_str().unwrap()]));
    wait_pid_file(&pid_file);
    // Settle: generation 1 promoted (no deadline left), hupwatch asleep in the kernel.
    assert!(wait_until(LONG, || hw.stderr().contains("ready")), "stderr:\n{}", hw.stderr());
    assert!(wait_until(LONG, || stat(hw.pid()).is_some_and(|s| s.state == 'S')));
    let before = context_switches(hw.pid());
    // Watching for a change for 1.5 s: any timer tick (tini wakes every second) shows up.
    let woke = wait_until(std::time::Duration::from_millis(1500), || context_switches(hw.pid()) != before);
    assert!(!woke, "idle hupwatch woke up: {before} -> {} context switches", context_switches(hw.pid()));
    hw.stop_expecting(128 + libc::SIGTERM);
}
