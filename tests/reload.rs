//! Reloads: ordering (new generation up before the old one is told to stop), rollback, HUP
//! storms, stop-timeout escalation and symlink deploys.

mod support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;
use support::*;

/// Waits until hupwatch has rolled generation `failed` back (an error line naming `why`). When
/// hupwatch promoted it instead, the machine kept the generation alive for the whole warmup
/// before it could fail, and the attempt cannot be judged.
fn rolled_back(hw: &Running, failed: i32, why: &str) -> Result<(), Inconclusive> {
    let pid = format!("(pid {failed})");
    let promoted = || !log_lines_with(hw, &[&pid, "is ready"]).is_empty();
    let logged = || hw.stderr().lines().any(|l| l.contains("error") && l.contains(why));
    assert!(wait_until(LONG, || logged() || promoted()), "no error naming {why:?}; stderr:\n{}", hw.stderr());
    if promoted() {
        return Err(Inconclusive(format!("generation {pid} outlived the warmup before it failed")));
    }
    Ok(())
}

#[test]
fn new_generation_exists_before_the_old_one_is_stopped() {
    for warmup in ["0", "0.05"] {
        let dir = TempDir::new("order");
        let dir = dir.path();
        let (mut hw, first) = start_serve(dir, &["-w", warmup]);
        hw.signal(libc::SIGHUP);
        assert!(
            wait_until(LONG, || told_to_stop(dir, first)),
            "-w {warmup}: old generation never stopped; stderr:\n{}",
            hw.stderr()
        );
        let second = next_generation(dir, &hw, &[first]);
        assert_eq!(stop_signal_of(dir, first), Some(libc::SIGTERM));
        let siblings = siblings_at_stop(dir, first);
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
        hw.stop();
    }
}

#[test]
fn successive_reloads_keep_one_generation() {
    let dir = TempDir::new("successive");
    let (mut hw, first) = start_serve(dir.path(), &["-w", "0"]);
    let mut gens = vec![first];
    for _ in 0..3 {
        let old = *gens.last().unwrap();
        hw.signal(libc::SIGHUP);
        let new = next_generation(dir.path(), &hw, &gens);
        assert!(wait_until(LONG, || !exists(old)), "generation {old} not stopped and reaped");
        assert_eq!(live_children(hw.pid()), vec![new]);
        gens.push(new);
    }
    hw.stop();
}

/// After a failed reload: the old generation still serves, untouched, and hupwatch runs on.
fn assert_rolled_back(hw: &mut Running, dir: &Path, old: i32, failed: i32) {
    assert!(wait_until(LONG, || !exists(failed)), "failed generation not reaped");
    assert!(hw.is_running(), "hupwatch exited after a failed reload:\n{}", hw.stderr());
    assert!(alive(old), "old generation died");
    assert!(!told_to_stop(dir, old), "old generation was told to stop");
    assert_eq!(live_children(hw.pid()), vec![old]);
    assert!(hw.stderr().lines().any(|l| l.contains("error")), "no error logged:\n{}", hw.stderr());
}

/// A reload after a rollback works: the serving generation is replaced.
fn assert_next_reload_works(hw: &mut Running, dir: &Path, old: i32) {
    fs::write(dir.join("mode"), "serve\n").unwrap();
    let known = started(dir);
    hw.signal(libc::SIGHUP);
    let new = next_generation(dir, hw, &known);
    assert!(wait_until(LONG, || told_to_stop(dir, old)));
    assert!(wait_until(LONG, || live_children(hw.pid()) == vec![new]));
    hw.stop();
}

/// The warmup of the rollback tests. A generation that fails at once fails within it unless
/// the machine stalls it; then `rolled_back` says the attempt cannot be judged.
const WARMUP: &str = "0.3";

#[test]
fn rollback_when_the_new_generation_exits_early() {
    until_judged("exits early", |_| {
        let dir = TempDir::new("rollback-exit");
        let dir = dir.path();
        let (mut hw, first) = start_serve(dir, &["-w", WARMUP]);
        fs::write(dir.join("mode"), "exit 3\n").unwrap();
        hw.signal(libc::SIGHUP);
        let failed = next_generation(dir, &hw, &[first]);
        rolled_back(&hw, failed, "exited with 3")?;
        assert_rolled_back(&mut hw, dir, first, failed);
        assert_next_reload_works(&mut hw, dir, first);
        Ok(())
    });
}

#[test]
fn rollback_when_the_new_generation_is_killed() {
    until_judged("killed while warming up", |_| {
        let dir = TempDir::new("rollback-kill");
        let dir = dir.path();
        let (mut hw, first) = start_serve(dir, &["-w", WARMUP]);
        hw.signal(libc::SIGHUP);
        let failed = next_generation(dir, &hw, &[first]);
        assert!(kill(failed, libc::SIGKILL));
        rolled_back(&hw, failed, "killed by SIGKILL")?;
        assert_rolled_back(&mut hw, dir, first, failed);
        hw.stop();
        Ok(())
    });
}

#[test]
fn rollback_when_the_new_generation_is_killed_by_a_signal_at_start() {
    until_judged("killed by a signal at start", |_| {
        let dir = TempDir::new("rollback-raise");
        let dir = dir.path();
        let (mut hw, first) = start_serve(dir, &["-w", WARMUP]);
        fs::write(dir.join("mode"), format!("raise {}\n", libc::SIGSEGV)).unwrap();
        hw.signal(libc::SIGHUP);
        let failed = next_generation(dir, &hw, &[first]);
        rolled_back(&hw, failed, "killed by SIGSEGV")?;
        assert_rolled_back(&mut hw, dir, first, failed);
        assert_next_reload_works(&mut hw, dir, first);
        Ok(())
    });
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
    let dir = dir.path();
    // -v and a dropped marker, WINCH: hupwatch logs when it takes the marker, and it takes
    // pending signals lowest number first (HUP is 1, WINCH 28), so by then it has taken every
    // HUP of the storm. Not a real-time marker: under qemu-user those arrive renumbered.
    let (mut hw, first) = start_serve(dir, &["-v", "-r", "WINCH:0", "-w", warmup]);
    // Generation 1 promoted: the descriptors now are those of hupwatch at rest.
    assert!(wait_until(LONG, || hw.stderr().contains("is ready")), "stderr:\n{}", hw.stderr());
    let fds_before = fds(hw.pid());
    for _ in 0..500 {
        hw.signal(libc::SIGHUP);
        if let Some(pace) = pace {
            std::thread::sleep(pace);
        }
    }
    hw.signal(libc::SIGWINCH);
    assert!(
        wait_until(LONG, || hw.stderr().contains("dropping SIGWINCH")),
        "the marker after the storm was not taken; stderr tail:\n{}",
        tail(&hw.stderr(), 20)
    );
    // Settled: one live child, no zombie, every other generation gone. With every HUP taken, a
    // single live child means no reload is in flight, so none can be queued either: this is
    // the end state. Seen on a few polls in a row, as /proc is read one process at a time.
    let settled = |hw: &Running| {
        let live = live_children(hw.pid());
        let started = started(dir);
        live.len() == 1
            && started.contains(&live[0])
            && zombie_children(hw.pid()).is_empty()
            && started.iter().all(|&p| p == live[0] || !exists(p))
    };
    let mut stable_polls = 0;
    assert!(
        wait_until(Duration::from_secs(60), || {
            stable_polls = if settled(&hw) { stable_polls + 1 } else { 0 };
            stable_polls >= 3
        }),
        "no single serving generation after the storm: children {:?}; stderr tail:\n{}",
        children(hw.pid()),
        tail(&hw.stderr(), 20)
    );
    let started = started(dir);
    eprintln!("-w {warmup}, pace {pace:?}: 500 HUPs started {} generations", started.len());
    assert!(started.len() >= 2, "the storm caused no reload");
    assert!(started.len() <= 501, "more reloads than HUPs: {}", started.len());
    let serving = live_children(hw.pid())[0];
    assert_ne!(serving, first);
    for &p in &started {
        if p != serving {
            assert!(told_to_stop(dir, p), "generation {p} never told to stop");
        }
    }
    let fds_after = fds(hw.pid());
    assert_eq!(fds_before.len(), fds_after.len(), "descriptors leaked: {fds_before:?} -> {fds_after:?}");
    hw.signal(libc::SIGTERM);
    assert_eq!(hw.wait_code(LONG), 0, "stderr tail:\n{}", tail(&hw.stderr(), 20));
}

#[test]
fn reloads_requested_during_a_reload_coalesce_into_one() {
    until_judged("HUPs during a reload", |_| {
        let dir = TempDir::new("coalesce");
        let dir = dir.path();
        let (mut hw, first) = start_serve(dir, &["-w", WARMUP]);
        assert!(wait_until(LONG, || hw.stderr().contains("ready")), "stderr:\n{}", hw.stderr());
        hw.signal(libc::SIGHUP);
        let second = next_generation(dir, &hw, &[first]);
        // Five more HUPs while generation 2 warms up. After each, a real-time marker that
        // hupwatch forwards to the serving generation: once it has it, hupwatch has taken the
        // HUP (lower signals first), and when that is generation 1, generation 2 still warmed
        // up then. A marker that reached generation 2 means the machine let its warmup pass.
        let marker = sigrtmin() + 1;
        for round in 1..=5 {
            hw.signal(libc::SIGHUP);
            hw.signal(marker);
            let taken = || received(dir, first, marker) == round || received(dir, second, marker) > 0;
            assert!(wait_until(LONG, taken), "marker {round} not forwarded; stderr:\n{}", hw.stderr());
            if received(dir, second, marker) > 0 {
                return Err(Inconclusive(format!("generation 2 was ready before HUP {round} was taken")));
            }
        }
        assert_eq!(started(dir).len(), 2, "a parallel reload was started");
        assert!(alive(second), "generation 2 died while warming up");
        // Exactly one further reload: generation 3 replaces 2.
        let third = next_generation(dir, &hw, &[first, second]);
        assert!(wait_until(LONG, || told_to_stop(dir, second)), "{}", hw.stderr());
        assert!(told_to_stop(dir, first));
        // A fourth would start as generation 3 is promoted, in the same step of hupwatch, and
        // generation 2 drains after that step: once its exit is logged, a fourth would be too.
        let drained = format!("(pid {second}) drained");
        assert!(wait_until(LONG, || hw.stderr().contains(&drained)), "{}", hw.stderr());
        assert_eq!(live_children(hw.pid()), vec![third]);
        assert_eq!(started(dir).len(), 3, "more than one reload after the coalesced ones; stderr:\n{}", hw.stderr());
        assert!(!hw.stderr().contains("generation 4"), "a fourth generation; stderr:\n{}", hw.stderr());
        hw.stop();
        Ok(())
    });
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[test]
fn stop_timeout_kills_the_old_generations_group() {
    let dir = TempDir::new("stop-timeout");
    fs::write(dir.join("mode"), "ignore-term\n").unwrap();
    let (mut hw, first) = start_serve(dir.path(), &["-w", "0", "--stop-timeout", "0.1"]);
    let grandchild = wait_pid_file(&dir.join(format!("grandchild.{first}")));
    fs::write(dir.join("mode"), "serve\n").unwrap();
    hw.signal(libc::SIGHUP);
    let second = next_generation(dir.path(), &hw, &[first]);
    assert!(
        wait_until(LONG, || !alive(first) && !alive(grandchild)),
        "old generation (pid {first}) or its group (grandchild {grandchild}) not killed; stderr:\n{}",
        hw.stderr()
    );
    assert!(wait_until(LONG, || !exists(first) && !exists(grandchild)), "not reaped");
    assert!(alive(second) && hw.is_running());
    // The end, without a stop timeout that a busy machine could outlast: the serving generation
    // stops by itself, and hupwatch exits with its status.
    assert!(kill(second, libc::SIGTERM));
    assert_eq!(hw.wait_code(LONG), 0, "stderr:\n{}", hw.stderr());
    assert_log_format(&hw.stderr(), hw.pid());
}

#[test]
fn stop_timeout_applies_at_shutdown() {
    let dir = TempDir::new("stop-timeout-shutdown");
    fs::write(dir.join("mode"), "ignore-term\n").unwrap();
    let (mut hw, first) = start_serve(dir.path(), &["-w", "0", "--stop-timeout", "0.1"]);
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
    let first = next_generation(state.path(), &hw, &[]);
    let started = |pid: i32| read(state.join(format!("started.{pid}")));
    assert_eq!(field(&started(first), "tag").as_deref(), Some("release-1"));
    assert_eq!(cwd(first).unwrap(), root.join("releases/1"));

    // Deploy release 2 and reload: the new generation runs release 2's ./run in release 2.
    make_release(&root.join("releases/2"), state.path(), "release-2");
    switch_symlink(&current, "releases/2");
    hw.signal(libc::SIGHUP);
    let second = next_generation(state.path(), &hw, &[first]);
    assert_eq!(
        field(&started(second), "tag").as_deref(),
        Some("release-2"),
        "./run did not resolve in the new release"
    );
    assert_eq!(cwd(second).unwrap(), root.join("releases/2"), "not started in the new release");
    assert!(wait_until(LONG, || told_to_stop(state.path(), first)));
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
    assert!(!told_to_stop(state.path(), second), "release 2 was told to stop");

    // Fix the release: the next reload goes through.
    make_release(&root.join("releases/3"), state.path(), "release-3");
    hw.signal(libc::SIGHUP);
    let third = next_generation(state.path(), &hw, &[first, second]);
    assert_eq!(field(&started(third), "tag").as_deref(), Some("release-3"));
    assert_eq!(cwd(third).unwrap(), root.join("releases/3"));
    assert!(wait_until(LONG, || told_to_stop(state.path(), second)));
    hw.stop();
}
