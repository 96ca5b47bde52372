//! Reloads: ordering (new generation up before the old one is told to stop), rollback, HUP
//! storms, stop-timeout escalation and symlink deploys.

mod support;

use std::fs;
use std::os::unix::fs::symlink;
use std::time::Duration;
use support::*;

/// hupwatch running `serve DIR` with `opts`; returns it and generation 1's pid.
fn start_serve(dir: &TempDir, opts: &[&str]) -> (Running, i32) {
    let args = with_child(opts, &["serve", dir.path().to_str().unwrap()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let hw = Running::spawn(&mut hupwatch(&args));
    let first = wait_for(LONG, || pids_with_prefix(dir.path(), "started").first().copied())
        .unwrap_or_else(|| panic!("generation 1 did not start; stderr:\n{}", hw.stderr()));
    (hw, first)
}

/// Waits for a generation other than `known` to write its started file.
fn next_generation(dir: &TempDir, hw: &Running, known: &[i32]) -> i32 {
    wait_for(LONG, || pids_with_prefix(dir.path(), "started").into_iter().find(|p| !known.contains(p)))
        .unwrap_or_else(|| panic!("no new generation started; stderr:\n{}", hw.stderr()))
}

fn siblings_at_stop(dir: &TempDir, pid: i32) -> Vec<i32> {
    let text = read(dir.join(format!("term.{pid}")));
    field(&text, "siblings").unwrap_or_default().split_whitespace().map(|p| p.parse().unwrap()).collect()
}

#[test]
fn new_generation_exists_before_the_old_one_is_stopped() {
    for warmup in ["0", "0.2"] {
        let dir = TempDir::new("order");
        let (mut hw, first) = start_serve(&dir, &["-w", warmup]);
        hw.signal(libc::SIGHUP);
        let term = dir.join(format!("term.{first}"));
        assert!(
            wait_until(LONG, || term.exists()),
            "-w {warmup}: old generation never stopped; stderr:\n{}",
            hw.stderr()
        );
        let second = next_generation(&dir, &hw, &[first]);
        assert_eq!(field(&read(&term), "sig").as_deref(), Some("15"));
        let siblings = siblings_at_stop(&dir, first);
        assert!(
            siblings.contains(&second),
            "-w {warmup}: generation 2 (pid {second}) did not exist when generation 1 got \
             SIGTERM (live siblings then: {siblings:?})"
        );
        assert_eq!(stat(second).unwrap().ppid, hw.pid(), "generation 2 is not hupwatch's child");
        assert_ne!(stat(second).unwrap().pgrp, stat(hw.pid()).unwrap().pgrp, "no own group");
        assert_eq!(stat(second).unwrap().pgrp, second, "generation not its group's leader");
        assert!(wait_until(LONG, || !exists(first)), "old generation not reaped");
        assert!(hw.is_running());
        assert!(alive(second));
        hw.signal(libc::SIGTERM);
        assert_eq!(hw.wait_code(LONG), 0, "stderr:\n{}", hw.stderr());
    }
}

#[test]
fn successive_reloads_keep_one_generation() {
    let dir = TempDir::new("successive");
    let (mut hw, first) = start_serve(&dir, &["-w", "0"]);
    let mut gens = vec![first];
    for _ in 0..3 {
        let old = *gens.last().unwrap();
        hw.signal(libc::SIGHUP);
        let new = next_generation(&dir, &hw, &gens);
        assert!(wait_until(LONG, || !exists(old)), "generation {old} not stopped and reaped");
        assert_eq!(live_children(hw.pid()), vec![new]);
        gens.push(new);
    }
    hw.signal(libc::SIGTERM);
    assert_eq!(hw.wait_code(LONG), 0, "stderr:\n{}", hw.stderr());
}

/// After a failed reload: the old generation still serves, untouched, and hupwatch runs on.
fn assert_rolled_back(hw: &mut Running, dir: &TempDir, old: i32, failed: Option<i32>) {
    if let Some(failed) = failed {
        assert!(wait_until(LONG, || !exists(failed)), "failed generation not reaped");
    }
    assert!(hw.is_running(), "hupwatch exited after a failed reload:\n{}", hw.stderr());
    assert!(alive(old), "old generation died");
    assert!(!dir.join(format!("term.{old}")).exists(), "old generation was told to stop");
    assert_eq!(live_children(hw.pid()), vec![old]);
    assert!(hw.stderr().lines().any(|l| l.contains("error")), "no error logged:\n{}", hw.stderr());
}

/// A reload after a rollback works: the serving generation is replaced.
fn assert_next_reload_works(hw: &mut Running, dir: &TempDir, old: i32) {
    fs::write(dir.join("mode"), "serve\n").unwrap();
    let known = pids_with_prefix(dir.path(), "started");
    hw.signal(libc::SIGHUP);
    let new = next_generation(dir, hw, &known);
    assert!(wait_until(LONG, || dir.join(format!("term.{old}")).exists()));
    assert!(wait_until(LONG, || live_children(hw.pid()) == vec![new]));
    hw.signal(libc::SIGTERM);
    assert_eq!(hw.wait_code(LONG), 0, "stderr:\n{}", hw.stderr());
}

#[test]
fn rollback_when_the_new_generation_exits_early() {
    let dir = TempDir::new("rollback-exit");
    let (mut hw, first) = start_serve(&dir, &["-w", "1"]);
    fs::write(dir.join("mode"), "exit 3\n").unwrap();
    hw.signal(libc::SIGHUP);
    let failed = next_generation(&dir, &hw, &[first]);
    assert!(
        wait_until(LONG, || hw.stderr().lines().any(|l| l.contains("error") && l.contains("exited with 3"))),
        "no error naming the exit status; stderr:\n{}",
        hw.stderr()
    );
    assert_rolled_back(&mut hw, &dir, first, Some(failed));
    assert_next_reload_works(&mut hw, &dir, first);
}

#[test]
fn rollback_when_the_new_generation_is_killed() {
    let dir = TempDir::new("rollback-kill");
    // Generation 2 warms up for 2 s: time enough to kill it once it exists.
    let (mut hw, first) = start_serve(&dir, &["-w", "2"]);
    hw.signal(libc::SIGHUP);
    let failed = next_generation(&dir, &hw, &[first]);
    assert!(kill(failed, libc::SIGKILL));
    assert!(
        wait_until(LONG, || hw.stderr().lines().any(|l| l.contains("error") && l.contains("killed by SIGKILL"))),
        "no error naming the signal; stderr:\n{}",
        hw.stderr()
    );
    assert_rolled_back(&mut hw, &dir, first, Some(failed));
    hw.signal(libc::SIGTERM);
    assert_eq!(hw.wait_code(LONG), 0, "stderr:\n{}", hw.stderr());
}

#[test]
fn rollback_when_the_new_generation_is_killed_by_a_signal_at_start() {
    let dir = TempDir::new("rollback-raise");
    let (mut hw, first) = start_serve(&dir, &["-w", "1"]);
    fs::write(dir.join("mode"), format!("raise {}\n", libc::SIGSEGV)).unwrap();
    hw.signal(libc::SIGHUP);
    let failed = next_generation(&dir, &hw, &[first]);
    assert!(
        wait_until(LONG, || hw.stderr().lines().any(|l| l.contains("error") && l.contains("killed by SIGSEGV"))),
        "no error naming the signal; stderr:\n{}",
        hw.stderr()
    );
    assert_rolled_back(&mut hw, &dir, first, Some(failed));
    assert_next_reload_works(&mut hw, &dir, first);
}

#[test]
fn hup_storm_ends_with_one_generation_and_no_leaks() {
    hup_storm("0", None);
}

#[test]
fn paced_hup_storm_through_back_to_back_reloads() {
    // One HUP a millisecond: hupwatch takes most of them, so reloads, drains and reaping
    // overlap for half a second (the pause only shapes the load; nothing waits on it).
    hup_storm("0", Some(Duration::from_millis(1)));
    hup_storm("0.05", Some(Duration::from_millis(1)));
}

/// 500 HUPs with `-w warmup`, `pace` apart (a tight loop when None).
fn hup_storm(warmup: &str, pace: Option<Duration>) {
    let dir = TempDir::new("storm");
    let (mut hw, first) = start_serve(&dir, &["-w", warmup]);
    // Generation 1 promoted: the descriptors now are those of hupwatch at rest.
    assert!(wait_until(LONG, || hw.stderr().contains("ready")), "stderr:\n{}", hw.stderr());
    let fds_before = fds(hw.pid());
    for _ in 0..500 {
        hw.signal(libc::SIGHUP);
        if let Some(pace) = pace {
            std::thread::sleep(pace);
        }
    }
    // Settled: one live child, no zombie, every other generation gone; held for 0.5 s so that
    // a reload still queued would have shown up.
    let settled = |hw: &Running| {
        let live = live_children(hw.pid());
        let started = pids_with_prefix(dir.path(), "started");
        live.len() == 1
            && started.contains(&live[0])
            && zombie_children(hw.pid()).is_empty()
            && started.iter().all(|&p| p == live[0] || !exists(p))
    };
    let mut stable_polls = 0;
    assert!(
        wait_until(Duration::from_secs(60), || {
            stable_polls = if settled(&hw) { stable_polls + 1 } else { 0 };
            stable_polls >= 50
        }),
        "no single serving generation after the storm: children {:?}; stderr tail:\n{}",
        children(hw.pid()),
        tail(&hw.stderr(), 20)
    );
    let started = pids_with_prefix(dir.path(), "started");
    eprintln!("-w {warmup}, pace {pace:?}: 500 HUPs started {} generations", started.len());
    assert!(started.len() >= 2, "the storm caused no reload");
    assert!(started.len() <= 501, "more reloads than HUPs: {}", started.len());
    let serving = live_children(hw.pid())[0];
    assert_ne!(serving, first);
    for &p in &started {
        if p != serving {
            assert!(dir.join(format!("term.{p}")).exists(), "generation {p} never told to stop");
        }
    }
    let fds_after = fds(hw.pid());
    assert_eq!(fds_before.len(), fds_after.len(), "descriptors leaked: {fds_before:?} -> {fds_after:?}");
    hw.signal(libc::SIGTERM);
    assert_eq!(hw.wait_code(LONG), 0, "stderr tail:\n{}", tail(&hw.stderr(), 20));
}

#[test]
fn reloads_requested_during_a_reload_coalesce_into_one() {
    let dir = TempDir::new("coalesce");
    let (mut hw, first) = start_serve(&dir, &["-w", "1"]);
    assert!(wait_until(LONG, || hw.stderr().contains("ready")), "stderr:\n{}", hw.stderr());
    hw.signal(libc::SIGHUP);
    let second = next_generation(&dir, &hw, &[first]);
    // Five more HUPs while generation 2 warms up. After each, a real-time marker that
    // hupwatch forwards to the serving generation 1: once 1 has it, hupwatch has taken the HUP.
    let marker = sigrtmin() + 1;
    let markers = dir.join(format!("signals.{first}"));
    for round in 1..=5 {
        hw.signal(libc::SIGHUP);
        hw.signal(marker);
        assert!(
            wait_until(LONG, || lines(&markers).iter().filter(|l| **l == marker.to_string()).count() == round),
            "marker {round} not forwarded; stderr:\n{}",
            hw.stderr()
        );
    }
    assert_eq!(pids_with_prefix(dir.path(), "started").len(), 2, "a parallel reload was started");
    assert!(alive(second), "generation 2 died while warming up");
    // Exactly one further reload: generation 3 replaces 2, and nothing follows it.
    let third = next_generation(&dir, &hw, &[first, second]);
    assert!(wait_until(LONG, || dir.join(format!("term.{second}")).exists()), "{}", hw.stderr());
    assert!(dir.join(format!("term.{first}")).exists());
    assert!(wait_until(LONG, || live_children(hw.pid()) == vec![third]));
    // Generation 3 is promoted after 1 s; a fourth would start right then. Give it 2.5 s.
    let fourth = wait_until(Duration::from_millis(2500), || pids_with_prefix(dir.path(), "started").len() > 3);
    assert!(!fourth, "more than one reload after the coalesced ones; stderr:\n{}", hw.stderr());
    hw.signal(libc::SIGTERM);
    assert_eq!(hw.wait_code(LONG), 0, "stderr:\n{}", hw.stderr());
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[test]
fn stop_timeout_kills_the_old_generations_group() {
    let dir = TempDir::new("stop-timeout");
    fs::write(dir.join("mode"), "ignore-term\n").unwrap();
    let (mut hw, first) = start_serve(&dir, &["-w", "0", "--stop-timeout", "0.3"]);
    let grandchild = wait_pid_file(&dir.join(format!("grandchild.{first}")));
    fs::write(dir.join("mode"), "serve\n").unwrap();
    hw.signal(libc::SIGHUP);
    let second = next_generation(&dir, &hw, &[first]);
    assert!(
        wait_until(LONG, || !alive(first) && !alive(grandchild)),
        "old generation (pid {first}) or its group (grandchild {grandchild}) not killed; stderr:\n{}",
        hw.stderr()
    );
    assert!(wait_until(LONG, || !exists(first) && !exists(grandchild)), "not reaped");
    assert!(alive(second) && hw.is_running());
    hw.signal(libc::SIGTERM);
    assert_eq!(hw.wait_code(LONG), 0, "stderr:\n{}", hw.stderr());
    assert_log_format(&hw.stderr(), hw.pid());
}

#[test]
fn stop_timeout_applies_at_shutdown() {
    let dir = TempDir::new("stop-timeout-shutdown");
    fs::write(dir.join("mode"), "ignore-term\n").unwrap();
    let (mut hw, first) = start_serve(&dir, &["-w", "0", "--stop-timeout", "0.3"]);
    let grandchild = wait_pid_file(&dir.join(format!("grandchild.{first}")));
    hw.signal(libc::SIGTERM);
    // The serving generation ignores TERM and is SIGKILLed: 128 + 9.
    assert_eq!(hw.wait_code(LONG), 137, "stderr:\n{}", hw.stderr());
    assert!(wait_until(LONG, || !alive(grandchild)), "its group was not killed");
    assert_log_format(&hw.stderr(), hw.pid());
}

#[test]
fn symlink_deploy_runs_the_new_release_and_survives_a_broken_one() {
    let root = TempDir::new("deploy");
    let state = TempDir::new("deploy-state");
    make_release(&root.join("releases/1"), state.path(), "release-1");
    let current = root.join("current");
    symlink("releases/1", &current).unwrap();

    let mut cmd = hupwatch(&["-w", "0", "--", "./run"]);
    cmd.current_dir(&current).env("PWD", &current);
    let mut hw = Running::spawn(&mut cmd);
    let first = wait_for(LONG, || pids_with_prefix(state.path(), "started").first().copied())
        .unwrap_or_else(|| panic!("release 1 did not start; stderr:\n{}", hw.stderr()));
    let started = |pid: i32| read(state.join(format!("started.{pid}")));
    assert_eq!(field(&started(first), "tag").as_deref(), Some("release-1"));
    assert_eq!(cwd(first).unwrap(), root.join("releases/1"));

    // Deploy release 2 and reload: the new generation runs release 2's ./run in release 2.
    make_release(&root.join("releases/2"), state.path(), "release-2");
    switch_symlink(&current, "releases/2");
    hw.signal(libc::SIGHUP);
    let second = wait_for(LONG, || pids_with_prefix(state.path(), "started").into_iter().find(|&p| p != first))
        .unwrap_or_else(|| panic!("no generation after the switch; stderr:\n{}", hw.stderr()));
    assert_eq!(
        field(&started(second), "tag").as_deref(),
        Some("release-2"),
        "./run did not resolve in the new release"
    );
    assert_eq!(cwd(second).unwrap(), root.join("releases/2"), "not started in the new release");
    assert!(wait_until(LONG, || state.join(format!("term.{first}")).exists()));
    assert!(wait_until(LONG, || !exists(first)));

    // A release without ./run: the reload fails, release 2 keeps serving, hupwatch runs on.
    fs::create_dir_all(root.join("releases/3")).unwrap();
    switch_symlink(&current, "releases/3");
    let errors_before = hw.stderr().lines().filter(|l| l.contains("error")).count();
    hw.signal(libc::SIGHUP);
    assert!(
        wait_until(LONG, || hw.stderr().lines().filter(|l| l.contains("error")).count() > errors_before),
        "no error logged for the missing command; stderr:\n{}",
        hw.stderr()
    );
    assert!(wait_until(LONG, || children(hw.pid()) == vec![second]), "children: {:?}", children(hw.pid()));
    assert!(hw.is_running(), "hupwatch died on a missing command:\n{}", hw.stderr());
    assert!(alive(second));
    assert!(!state.join(format!("term.{second}")).exists(), "release 2 was told to stop");

    // Fix the release: the next reload goes through.
    make_release(&root.join("releases/3"), state.path(), "release-3");
    hw.signal(libc::SIGHUP);
    let third =
        wait_for(LONG, || pids_with_prefix(state.path(), "started").into_iter().find(|&p| p != first && p != second))
            .unwrap_or_else(|| panic!("no generation after the fix; stderr:\n{}", hw.stderr()));
    assert_eq!(field(&started(third), "tag").as_deref(), Some("release-3"));
    assert_eq!(cwd(third).unwrap(), root.join("releases/3"));
    assert!(wait_until(LONG, || state.join(format!("term.{second}")).exists()));
    hw.signal(libc::SIGTERM);
    assert_eq!(hw.wait_code(LONG), 0, "stderr:\n{}", hw.stderr());
}
