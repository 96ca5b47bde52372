//! Reaping and dying: zombies reaped as a subreaper and as PID 1 of a PID namespace, adopted
//! orphans stopped gracefully at shutdown as PID 1, and -k (children die with hupwatch, even
//! when it is SIGKILLed).

mod support;

use std::fs;
use std::process::Command;
use support::*;

const ORPHANS: usize = 3;

/// Runs hupwatch with `args` as PID 1 of a new PID namespace (unshare --pid --fork
/// --mount-proc); returns the guard (on unshare) and hupwatch's pid as seen from here.
/// None when this machine does not allow it (printed as a skip).
fn start_as_pid1(args: &[String]) -> Option<(Running, i32)> {
    if !can_unshare() {
        return None;
    }
    let bin = hupwatch_bin().canonicalize().unwrap();
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"]).arg(&bin).args(args);
    let wrapper = Running::spawn(&mut cmd);
    let hw = wait_for(LONG, || children(wrapper.pid()).into_iter().find(|&p| runs(p, &bin)))
        .unwrap_or_else(|| panic!("hupwatch did not start under unshare; stderr:\n{}", wrapper.stderr()));
    assert_eq!(ns_pid(hw), Some(1), "hupwatch is not PID 1 of its namespace");
    Some((wrapper, hw))
}

/// The pid, as seen from here, of the process under `ancestor` whose innermost pid is `ns`.
fn host_pid(ancestor: i32, ns: i32) -> Option<i32> {
    descendants(ancestor).into_iter().find(|&p| ns_pid(p) == Some(ns))
}

/// Waits for generation 1 (mode `orphans N`) and its orphans to be adopted by `reaper`;
/// returns generation 1's pid as seen from here.
fn wait_for_adopted_orphans(dir: &TempDir, reaper: &Running, reaper_pid: i32) -> i32 {
    let gen_ns = next_generation(dir.path(), reaper, &[]);
    let generation = wait_for(LONG, || host_pid(reaper_pid, gen_ns)).expect("generation 1 not found");
    assert!(wait_until(LONG, || pids_with_prefix(dir.path(), "orphan").len() == ORPHANS), "orphans did not start");
    assert!(
        wait_until(LONG, || live_children(reaper_pid).len() == 1 + ORPHANS),
        "orphans not adopted by hupwatch (pid {reaper_pid}); its children: {:?}",
        children(reaper_pid)
    );
    generation
}

/// Lets the orphans exit and checks that `reaper_pid` reaps them all.
fn assert_orphans_reaped(dir: &TempDir, reaper_pid: i32, generation: i32) {
    fs::write(dir.join("orphans-exit"), "").unwrap();
    assert!(
        wait_until(LONG, || children(reaper_pid) == vec![generation]),
        "orphans not reaped: children of {reaper_pid}: {:?} (zombies: {:?})",
        children(reaper_pid),
        zombie_children(reaper_pid)
    );
}

#[test]
fn reaps_adopted_orphans_as_subreaper() {
    if skip_under_emulation("qemu-user refuses PR_SET_CHILD_SUBREAPER (EINVAL), so orphans go to init") {
        return;
    }
    let dir = TempDir::new("subreaper");
    fs::write(dir.join("mode"), format!("orphans {ORPHANS}\n")).unwrap();
    let mut hw = Running::spawn(&mut hupwatch_child(&[], &["serve", dir.path().to_str().unwrap()]));
    let generation = wait_for_adopted_orphans(&dir, &hw, hw.pid());
    assert_orphans_reaped(&dir, hw.pid(), generation);
    hw.stop();
}

#[test]
fn reaps_adopted_orphans_as_pid1() {
    let dir = TempDir::new("pid1-reap");
    fs::write(dir.join("mode"), format!("orphans {ORPHANS}\n")).unwrap();
    let args = with_child(&[], &["serve", dir.path().to_str().unwrap()]);
    let Some((mut wrapper, hw)) = start_as_pid1(&args) else { return };
    let generation = wait_for_adopted_orphans(&dir, &wrapper, hw);
    assert_orphans_reaped(&dir, hw, generation);
    assert!(kill(hw, libc::SIGTERM));
    assert_eq!(wrapper.wait_code(LONG), 0, "stderr:\n{}", wrapper.stderr());
}

#[test]
fn as_pid1_adopted_orphans_get_the_stop_signal_at_shutdown() {
    let dir = TempDir::new("pid1-shutdown");
    fs::write(dir.join("mode"), format!("orphans {ORPHANS}\n")).unwrap();
    let args = with_child(&[], &["serve", dir.path().to_str().unwrap()]);
    let Some((mut wrapper, hw)) = start_as_pid1(&args) else { return };
    wait_for_adopted_orphans(&dir, &wrapper, hw);
    assert!(kill(hw, libc::SIGTERM));
    assert_eq!(wrapper.wait_code(LONG), 0, "stderr:\n{}", wrapper.stderr());
    // When PID 1 exits the kernel SIGKILLs the rest of the namespace; an orphan that
    // recorded TERM got it from hupwatch before that.
    for orphan in pids_with_prefix(dir.path(), "orphan") {
        let recorded = read(dir.join(format!("orphan-term.{orphan}")));
        assert_eq!(
            recorded.trim(),
            libc::SIGTERM.to_string(),
            "orphan {orphan} (namespace pid) did not get SIGTERM before hupwatch exited; \
             stderr:\n{}",
            wrapper.stderr()
        );
    }
}

#[test]
fn as_pid1_reloads_on_hup_from_inside_and_outside() {
    let dir = TempDir::new("pid1-reload");
    let args = with_child(&["-w", "0"], &["serve", dir.path().to_str().unwrap()]);
    let Some((mut wrapper, hw)) = start_as_pid1(&args) else { return };
    // Pids as the namespace sees them: they name the generations' records.
    let first = next_generation(dir.path(), &wrapper, &[]);

    // From outside the namespace.
    assert!(kill(hw, libc::SIGHUP));
    assert!(
        wait_until(LONG, || told_to_stop(dir.path(), first)),
        "HUP from outside did not reload; stderr:\n{}",
        wrapper.stderr()
    );
    let second = next_generation(dir.path(), &wrapper, &[first]);

    // From inside: `kill -HUP 1` run in hupwatch's namespaces.
    if on_path("nsenter") {
        let out = Command::new("nsenter")
            .args(["--target", &hw.to_string(), "--pid", "--mount", "--", "kill", "-HUP", "1"])
            .output()
            .expect("nsenter");
        assert!(out.status.success(), "nsenter: {}", String::from_utf8_lossy(&out.stderr));
        assert!(
            wait_until(LONG, || told_to_stop(dir.path(), second)),
            "kill -HUP 1 inside the namespace did not reload; stderr:\n{}",
            wrapper.stderr()
        );
        next_generation(dir.path(), &wrapper, &[first, second]);
    } else {
        skip("nsenter not found (Debian package: util-linux): no reload from inside the namespace");
    }
    assert!(kill(hw, libc::SIGTERM));
    assert_eq!(wrapper.wait_code(LONG), 0, "stderr:\n{}", wrapper.stderr());
}

#[test]
fn kill_at_exit_children_die_when_hupwatch_is_sigkilled() {
    let dir = TempDir::new("kill-at-exit");
    let (mut hw, first) = start_serve(dir.path(), &["-k", "-w", "0"]);
    // A reloaded generation must be covered too, not only the first.
    hw.signal(libc::SIGHUP);
    let second = next_generation(dir.path(), &hw, &[first]);
    assert!(wait_until(LONG, || !exists(first)));
    hw.signal(libc::SIGKILL);
    assert_eq!(hw.wait_code(LONG), 128 + 9);
    assert!(wait_until(LONG, || !alive(second)), "-k: generation 2 (pid {second}) outlived a SIGKILLed hupwatch");
}

#[test]
fn without_kill_at_exit_children_survive_a_sigkilled_hupwatch() {
    let dir = TempDir::new("no-kill-at-exit");
    let pid_file = dir.join("pid");
    let mut hw = Running::spawn(&mut hupwatch_child(&[], &["write-pid", pid_file.to_str().unwrap()]));
    let child = wait_pid_file(&pid_file);
    hw.signal(libc::SIGKILL);
    assert_eq!(hw.wait_code(LONG), 128 + 9);
    // hupwatch is reaped, so its children have been re-parented already.
    assert!(alive(child), "child died with hupwatch although -k was not given");
    assert_ne!(stat(child).unwrap().ppid, hw.pid());
    // The guard kills the survivor (it carries the test's tag).
    hw.kill_all();
    assert!(wait_until(LONG, || !alive(child)));
}
