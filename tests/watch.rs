//! `--watch`: a change of a watched path (a symlink switch, a burst of writes, a Kubernetes
//! `..data` swap, a creation) triggers exactly one reload, the same one SIGHUP triggers;
//! a disappearance, unrelated files and idling trigger none.
//!
//! Reloads are counted as generations started: every generation of `serve STATE` writes
//! STATE/started.PID, and the log line `reload: PATH changed` is counted alongside.

mod support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;
use support::*;

/// --watch-delay of every test, in seconds.
const DELAY: &str = "0.2";

/// Three times DELAY. After the expected reloads (or after the last change when none is
/// expected) the tests keep watching this long before concluding that no further reload
/// follows: "exactly one" and "none" can only be checked by leaving time for another one to
/// appear, so this wait is intentional and not a way of waiting for a condition.
const SETTLE: Duration = Duration::from_millis(600);

/// A hupwatch with `--watch` options whose generations record themselves in `state`.
struct Watching {
    hw: Running,
    state: TempDir,
    /// Generation 1's pid.
    first: i32,
}

impl Watching {
    /// Starts hupwatch in `cwd` (also its $PWD) watching `paths` with `-w warmup` and running
    /// `command`, and waits until generation 1 is ready, so that the watches are in place and
    /// no reload is pending when the test starts changing things.
    fn start(cwd: &Path, paths: &[&Path], warmup: &str, command: &[&str], state: TempDir) -> Watching {
        let mut args: Vec<&str> = Vec::new();
        for path in paths {
            args.extend(["--watch", path.to_str().unwrap()]);
        }
        args.extend(["--watch-delay", DELAY, "-w", warmup, "--"]);
        args.extend(command);
        let mut cmd = hupwatch(&args);
        cmd.current_dir(cwd).env("PWD", cwd);
        let hw = Running::spawn(&mut cmd);
        let first = wait_for(LONG, || pids_with_prefix(state.path(), "started").first().copied())
            .unwrap_or_else(|| panic!("generation 1 did not start; stderr:\n{}", hw.stderr()));
        assert!(
            wait_until(LONG, || !log_lines_with(&hw, &["ready"]).is_empty()),
            "generation 1 never became ready; stderr:\n{}",
            hw.stderr()
        );
        Watching { hw, state, first }
    }

    /// hupwatch in `cwd` watching `paths` and running `serve STATE`, with `-w 0.1`.
    fn serve(cwd: &Path, paths: &[&Path]) -> Watching {
        Watching::serve_warming(cwd, paths, "0.1")
    }

    /// hupwatch in `cwd` watching `paths` and running `serve STATE`, with `-w warmup`.
    fn serve_warming(cwd: &Path, paths: &[&Path], warmup: &str) -> Watching {
        let state = TempDir::new("watch-state");
        let child = child_bin();
        let state_path = state.path().to_str().unwrap().to_string();
        Watching::start(cwd, paths, warmup, &[child.to_str().unwrap(), "serve", &state_path], state)
    }

    /// Pids of every generation started so far.
    fn generations(&self) -> Vec<i32> {
        pids_with_prefix(self.state.path(), "started")
    }

    /// The log lines saying that `path` triggered a reload.
    fn reload_lines(&self, path: &Path) -> Vec<String> {
        log_lines_with(&self.hw, &["reload", path.to_str().unwrap(), "changed"])
    }

    fn started(&self, pid: i32) -> String {
        read(self.state.join(format!("started.{pid}")))
    }

    /// Waits until one generation besides `known` has started, then for SETTLE, and checks
    /// that no other one started meanwhile: exactly one reload. Returns the new generation.
    fn expect_one_reload(&self, known: &[i32], what: &str) -> i32 {
        let new = wait_for(LONG, || self.generations().into_iter().find(|p| !known.contains(p)))
            .unwrap_or_else(|| panic!("{what}: no reload; stderr:\n{}", self.hw.stderr()));
        std::thread::sleep(SETTLE);
        let extra: Vec<i32> = self.generations().into_iter().filter(|p| !known.contains(p) && *p != new).collect();
        assert!(
            extra.is_empty(),
            "{what}: more than one reload (generations {new} and {extra:?}); stderr:\n{}",
            self.hw.stderr()
        );
        new
    }

    /// Waits SETTLE and checks that no generation besides `known` started and that no reload
    /// was logged (ever: call it before the first expected reload).
    fn expect_no_reload(&self, known: &[i32], what: &str) {
        std::thread::sleep(SETTLE);
        let extra: Vec<i32> = self.generations().into_iter().filter(|p| !known.contains(p)).collect();
        assert!(extra.is_empty(), "{what}: reloaded (generations {extra:?}); stderr:\n{}", self.hw.stderr());
        let lines = log_lines_with(&self.hw, &["reload"]);
        assert!(lines.is_empty(), "{what}: a reload was logged: {lines:?}");
    }

    /// Waits until the generation `old` has been stopped and reaped, so that `new` serves.
    fn expect_replaced(&self, old: i32, new: i32) {
        assert!(
            wait_until(LONG, || !exists(old)),
            "generation {old} was not stopped after the reload; stderr:\n{}",
            self.hw.stderr()
        );
        assert!(alive(new), "generation {new} does not serve; stderr:\n{}", self.hw.stderr());
    }

    /// Stops hupwatch with TERM and checks a clean exit.
    fn stop(mut self) {
        self.hw.signal(libc::SIGTERM);
        assert_eq!(self.hw.wait_code(LONG), 0, "stderr:\n{}", self.hw.stderr());
    }
}

/// Replaces `path` by a file holding `text` the way editors and config tools do: a temporary
/// file beside it, then a rename.
fn write_replacing(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp-write");
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, path).unwrap();
}

#[test]
fn symlink_swap_reloads_once_into_the_new_release() {
    let root = TempDir::new("watch-deploy");
    let state = TempDir::new("watch-deploy-state");
    make_release(&root.join("releases/1"), state.path(), "release-1");
    make_release(&root.join("releases/2"), state.path(), "release-2");
    let current = root.join("current");
    symlink("releases/1", &current).unwrap();

    // Started in `current` as a shell there would: the real cwd is releases/1, $PWD is the link.
    let w = Watching::start(&current, &[&current], "0.1", &["./run"], state);
    let tag = |pid: i32| field(&w.started(pid), "tag");
    assert_eq!(tag(w.first).as_deref(), Some("release-1"));
    assert_eq!(cwd(w.first), Some(root.join("releases/1")));

    // Deploy: one atomic switch, one reload, and ./run resolved in the new release.
    switch_symlink(&current, "releases/2");
    let second = w.expect_one_reload(&[w.first], "switch to releases/2");
    assert_eq!(cwd(second), Some(root.join("releases/2")), "not started in the new release");
    assert_eq!(tag(second).as_deref(), Some("release-2"), "./run did not resolve in releases/2");
    assert_eq!(w.reload_lines(&current).len(), 1, "stderr:\n{}", w.hw.stderr());
    w.expect_replaced(w.first, second);

    // Roll back by switching back: the link was replaced by a rename, and is still watched.
    switch_symlink(&current, "releases/1");
    let third = w.expect_one_reload(&[w.first, second], "switch back to releases/1");
    assert_eq!(cwd(third), Some(root.join("releases/1")), "not started in the old release");
    assert_eq!(tag(third).as_deref(), Some("release-1"));
    assert_eq!(w.reload_lines(&current).len(), 2, "stderr:\n{}", w.hw.stderr());
    w.expect_replaced(second, third);
    w.stop();
}

#[test]
fn relative_paths_resolve_against_the_logical_working_directory() {
    let root = TempDir::new("watch-logical");
    fs::create_dir(root.join("release")).unwrap();
    fs::write(root.join("release/app.conf"), "version 1\n").unwrap();
    let current = root.join("current");
    symlink("release", &current).unwrap();
    let w = Watching::serve(&current, &[Path::new("app.conf")]);
    fs::write(root.join("release/app.conf"), "version 2\n").unwrap();
    w.expect_one_reload(&[w.first], "rewrite of a relative path");
    // Named as the user named it: through the link in $PWD, not the resolved directory.
    let logical = current.join("app.conf");
    assert_eq!(w.reload_lines(&logical).len(), 1, "stderr:\n{}", w.hw.stderr());
    w.stop();
}

#[test]
fn burst_of_fifty_writes_reloads_once() {
    let dir = TempDir::new("watch-burst");
    let conf = dir.join("app.conf");
    fs::write(&conf, "version 0\n").unwrap();
    // A relative path: resolved against hupwatch's working directory.
    let w = Watching::serve(dir.path(), &[Path::new("app.conf")]);
    for i in 1..=50 {
        fs::write(&conf, format!("version {i}\n")).unwrap();
    }
    let second = w.expect_one_reload(&[w.first], "50 writes");
    assert_eq!(w.reload_lines(&conf).len(), 1, "stderr:\n{}", w.hw.stderr());
    w.expect_replaced(w.first, second);
    w.stop();
}

#[test]
fn each_change_restarts_the_delay() {
    let dir = TempDir::new("watch-debounce");
    let conf = dir.join("app.conf");
    fs::write(&conf, "version 0\n").unwrap();
    let w = Watching::serve(dir.path(), &[&conf]);
    // 20 changes 50 ms apart: a burst lasting four times the 200 ms delay, each change well
    // within the delay of the previous one. A delay counted from the first change would
    // reload in the middle of it.
    for i in 1..=20 {
        fs::write(&conf, format!("version {i}\n")).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let early = w.generations().len() > 1;
        assert!(!early, "reloaded during the burst, after change {i}; stderr:\n{}", w.hw.stderr());
    }
    w.expect_one_reload(&[w.first], "a 1 s burst of changes");
    w.stop();
}

/// Lays `dir` out as the kubelet mounts a ConfigMap with one key: the data in `..VERSION/`,
/// `..data -> ..VERSION`, and the key `app.conf -> ..data/app.conf`.
fn configmap_mount(dir: &Path, version: &str, content: &str) {
    let data = dir.join(format!("..{version}"));
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("app.conf"), content).unwrap();
    symlink(format!("..{version}"), dir.join("..data")).unwrap();
    symlink("..data/app.conf", dir.join("app.conf")).unwrap();
}

/// Updates the ConfigMap in `dir` the way the kubelet does: a new data directory, a
/// `..data_tmp` symlink to it renamed over `..data`, then the old directory removed.
fn configmap_update(dir: &Path, old: &str, new: &str, content: &str) {
    let data = dir.join(format!("..{new}"));
    fs::create_dir(&data).unwrap();
    fs::write(data.join("app.conf"), content).unwrap();
    symlink(format!("..{new}"), dir.join("..data_tmp")).unwrap();
    fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    fs::remove_dir_all(dir.join(format!("..{old}"))).unwrap();
}

#[test]
fn configmap_update_reloads_once_when_watching_the_mount() {
    let dir = TempDir::new("watch-configmap-dir");
    let mount = dir.join("config");
    configmap_mount(&mount, "2026_11_25_a", "version a\n");
    let w = Watching::serve(dir.path(), &[&mount]);
    configmap_update(&mount, "2026_11_25_a", "2026_11_25_b", "version b\n");
    assert_eq!(read(mount.join("app.conf")), "version b\n");
    let second = w.expect_one_reload(&[w.first], "..data swap, watching the directory");
    assert_eq!(w.reload_lines(&mount).len(), 1, "stderr:\n{}", w.hw.stderr());
    w.expect_replaced(w.first, second);

    // And the next update too: the watches followed the swap.
    configmap_update(&mount, "2026_11_25_b", "2026_11_25_c", "version c\n");
    w.expect_one_reload(&[w.first, second], "second ..data swap, watching the directory");
    w.stop();
}

#[test]
fn configmap_update_reloads_once_when_watching_the_key() {
    let dir = TempDir::new("watch-configmap-key");
    let mount = dir.join("config");
    configmap_mount(&mount, "2026_11_25_a", "version a\n");
    let key = mount.join("app.conf");
    let w = Watching::serve(dir.path(), &[&key]);
    configmap_update(&mount, "2026_11_25_a", "2026_11_25_b", "version b\n");
    assert_eq!(read(&key), "version b\n");
    let second = w.expect_one_reload(&[w.first], "..data swap, watching app.conf");
    assert_eq!(w.reload_lines(&key).len(), 1, "stderr:\n{}", w.hw.stderr());
    w.expect_replaced(w.first, second);

    configmap_update(&mount, "2026_11_25_b", "2026_11_25_c", "version c\n");
    w.expect_one_reload(&[w.first, second], "second ..data swap, watching app.conf");
    w.stop();
}

#[test]
fn symlinked_file_follows_its_target_across_a_switch() {
    let dir = TempDir::new("watch-linked");
    let targets = TempDir::new("watch-linked-targets");
    fs::write(targets.join("a.conf"), "a 1\n").unwrap();
    fs::write(targets.join("b.conf"), "b 1\n").unwrap();
    let conf = dir.join("app.conf");
    symlink(targets.join("a.conf"), &conf).unwrap();
    let w = Watching::serve(dir.path(), &[&conf]);
    // The target lives in another directory: only a watch on what the link names sees this.
    fs::write(targets.join("a.conf"), "a 2\n").unwrap();
    let second = w.expect_one_reload(&[w.first], "target rewritten in place");
    switch_symlink(&conf, targets.join("b.conf").to_str().unwrap());
    let third = w.expect_one_reload(&[w.first, second], "link switched to b.conf");
    // The new target is watched, the old one no longer matters.
    fs::write(targets.join("b.conf"), "b 2\n").unwrap();
    let fourth = w.expect_one_reload(&[w.first, second, third], "new target rewritten in place");
    fs::write(targets.join("a.conf"), "a 3\n").unwrap();
    std::thread::sleep(SETTLE);
    let known = [w.first, second, third, fourth];
    let extra: Vec<i32> = w.generations().into_iter().filter(|p| !known.contains(p)).collect();
    assert!(extra.is_empty(), "the old target reloaded (generations {extra:?}); stderr:\n{}", w.hw.stderr());
    assert_eq!(w.reload_lines(&conf).len(), 3, "stderr:\n{}", w.hw.stderr());
    w.stop();
}

#[test]
fn symlink_higher_up_the_path_switching_reloads_once() {
    // `--watch current/config/app.conf`: the deploy switches `current`, not the file.
    let dir = TempDir::new("watch-ancestor");
    for (release, text) in [("1", "one\n"), ("2", "two\n")] {
        fs::create_dir_all(dir.join(format!("releases/{release}/config"))).unwrap();
        fs::write(dir.join(format!("releases/{release}/config/app.conf")), text).unwrap();
    }
    symlink("releases/1", dir.join("current")).unwrap();
    let conf = dir.join("current/config/app.conf");
    let w = Watching::serve(dir.path(), &[&conf]);
    switch_symlink(&dir.join("current"), "releases/2");
    let second = w.expect_one_reload(&[w.first], "current switched to releases/2");
    switch_symlink(&dir.join("current"), "releases/1");
    w.expect_one_reload(&[w.first, second], "current switched back to releases/1");
    assert_eq!(w.reload_lines(&conf).len(), 2, "stderr:\n{}", w.hw.stderr());
    w.stop();
}

#[test]
fn missing_path_created_later_reloads_once() {
    let dir = TempDir::new("watch-missing");
    let conf = dir.join("app.conf");
    let w = Watching::serve(dir.path(), &[&conf]);
    let warned = log_lines_with(&w.hw, &["does not exist yet", conf.to_str().unwrap()]);
    assert_eq!(warned.len(), 1, "no warning for the missing path; stderr:\n{}", w.hw.stderr());
    fs::write(&conf, "version 1\n").unwrap();
    let second = w.expect_one_reload(&[w.first], "creation");
    assert_eq!(w.reload_lines(&conf).len(), 1, "stderr:\n{}", w.hw.stderr());
    w.expect_replaced(w.first, second);
    w.stop();
}

#[test]
fn missing_path_under_missing_directories_created_later_reloads_once() {
    let dir = TempDir::new("watch-missing-deep");
    let conf = dir.join("etc/app/app.conf");
    let w = Watching::serve(dir.path(), &[&conf]);
    // The directories alone are not the path: no reload, but they must be watched from now on.
    fs::create_dir_all(dir.join("etc/app")).unwrap();
    w.expect_no_reload(&[w.first], "directories of the path created");
    fs::write(&conf, "version 1\n").unwrap();
    let second = w.expect_one_reload(&[w.first], "creation under new directories");
    assert_eq!(w.reload_lines(&conf).len(), 1, "stderr:\n{}", w.hw.stderr());
    w.expect_replaced(w.first, second);
    w.stop();
}

#[test]
fn deleted_path_warns_without_reloading_and_its_return_reloads() {
    let dir = TempDir::new("watch-deleted");
    let conf = dir.join("app.conf");
    fs::write(&conf, "version 1\n").unwrap();
    let w = Watching::serve(dir.path(), &[&conf]);
    fs::remove_file(&conf).unwrap();
    let disappeared = || log_lines_with(&w.hw, &["disappeared", conf.to_str().unwrap()]);
    assert!(
        wait_until(LONG, || !disappeared().is_empty()),
        "no warning for the deleted path; stderr:\n{}",
        w.hw.stderr()
    );
    w.expect_no_reload(&[w.first], "deletion");
    assert_eq!(disappeared().len(), 1, "stderr:\n{}", w.hw.stderr());
    assert!(alive(w.first), "generation 1 stopped serving");

    // Re-created: watched again, and a change.
    write_replacing(&conf, "version 2\n");
    let second = w.expect_one_reload(&[w.first], "re-creation");
    w.expect_replaced(w.first, second);
    w.stop();
}

#[test]
fn delete_and_recreate_in_one_burst_reloads_once() {
    let dir = TempDir::new("watch-recreate");
    let conf = dir.join("app.conf");
    fs::write(&conf, "version 1\n").unwrap();
    let w = Watching::serve(dir.path(), &[&conf]);
    // As a non-atomic save does: the path is gone for a moment, but exists when the delay ends.
    fs::remove_file(&conf).unwrap();
    fs::write(&conf, "version 2\n").unwrap();
    let second = w.expect_one_reload(&[w.first], "deleted and re-created");
    w.expect_replaced(w.first, second);
    w.stop();
}

#[test]
fn a_disappearance_does_not_cancel_another_path_changed_in_the_same_burst() {
    let dir = TempDir::new("watch-gone-and-changed");
    let gone = dir.join("gone.conf");
    let changed = dir.join("changed.conf");
    fs::write(&gone, "1\n").unwrap();
    fs::write(&changed, "1\n").unwrap();
    let w = Watching::serve(dir.path(), &[&gone, &changed]);
    // One path disappears, then the other changes, within one delay: the change of the path
    // that still exists is a reason to reload.
    fs::remove_file(&gone).unwrap();
    fs::write(&changed, "2\n").unwrap();
    w.expect_one_reload(&[w.first], "one path gone, the other changed");
    assert_eq!(w.reload_lines(&changed).len(), 1, "stderr:\n{}", w.hw.stderr());
    w.stop();
}

#[test]
fn watch_log_lines_have_the_documented_format() {
    let dir = TempDir::new("watch-log-format");
    let conf = dir.join("app.conf");
    let missing = dir.join("missing.conf");
    fs::write(&conf, "version 1\n").unwrap();
    let w = Watching::serve(dir.path(), &[&conf, &missing]);
    fs::write(&conf, "version 2\n").unwrap();
    w.expect_one_reload(&[w.first], "change");
    fs::remove_file(&conf).unwrap();
    assert!(
        wait_until(LONG, || !log_lines_with(&w.hw, &["disappeared"]).is_empty()),
        "no warning for the deleted path; stderr:\n{}",
        w.hw.stderr()
    );
    // "does not exist yet", "reload: PATH changed", "disappeared": LEVEL is error|warn|info|debug.
    assert_log_format(&w.hw.stderr(), w.hw.pid());
    w.stop();
}

#[test]
fn unrelated_files_in_the_same_directory_do_not_reload() {
    let dir = TempDir::new("watch-unrelated");
    let conf = dir.join("app.conf");
    fs::write(&conf, "version 1\n").unwrap();
    let w = Watching::serve(dir.path(), &[&conf]);
    for i in 0..20 {
        fs::write(dir.join("other.conf"), format!("{i}\n")).unwrap();
        write_replacing(&dir.join("replaced.conf"), &format!("{i}\n"));
        fs::create_dir(dir.join(format!("subdir{i}"))).unwrap();
    }
    fs::remove_file(dir.join("other.conf")).unwrap();
    w.expect_no_reload(&[w.first], "unrelated files");

    // The watch is live: the watched file itself still triggers one.
    fs::write(&conf, "version 2\n").unwrap();
    w.expect_one_reload(&[w.first], "the watched file after unrelated ones");
    w.stop();
}

#[test]
fn watched_directory_reloads_on_entries_not_on_rewrites_in_place() {
    let dir = TempDir::new("watch-dir");
    let conf_dir = dir.join("conf.d");
    fs::create_dir(&conf_dir).unwrap();
    fs::write(conf_dir.join("a.conf"), "a 1\n").unwrap();
    let w = Watching::serve(dir.path(), &[&conf_dir]);
    fs::write(conf_dir.join("a.conf"), "a 2\n").unwrap();
    w.expect_no_reload(&[w.first], "file in the directory rewritten in place");
    fs::write(conf_dir.join("b.conf"), "b 1\n").unwrap();
    w.expect_one_reload(&[w.first], "new entry in the directory");
    w.stop();
}

#[test]
fn several_paths_changed_together_reload_once() {
    let dir = TempDir::new("watch-several");
    let one = dir.join("one.conf");
    let two = dir.join("sub/two.conf");
    fs::write(&one, "1\n").unwrap();
    fs::create_dir(dir.join("sub")).unwrap();
    fs::write(&two, "1\n").unwrap();
    let w = Watching::serve(dir.path(), &[&one, &two]);
    // Each path alone.
    fs::write(&two, "2\n").unwrap();
    let second = w.expect_one_reload(&[w.first], "second path");
    assert_eq!(w.reload_lines(&two).len(), 1, "stderr:\n{}", w.hw.stderr());
    // Both in one burst: one reload.
    fs::write(&one, "3\n").unwrap();
    fs::write(&two, "3\n").unwrap();
    w.expect_one_reload(&[w.first, second], "both paths");
    w.stop();
}

#[test]
fn watch_reload_rolls_back_like_a_signal_reload() {
    let dir = TempDir::new("watch-rollback");
    let conf = dir.join("app.conf");
    fs::write(&conf, "version 1\n").unwrap();
    let w = Watching::serve(dir.path(), &[&conf]);
    // The next generation exits before it is ready: the reload is abandoned.
    fs::write(w.state.join("mode"), "exit 3\n").unwrap();
    fs::write(&conf, "version 2\n").unwrap();
    let failed = w.expect_one_reload(&[w.first], "change with a failing new generation");
    assert!(
        wait_until(LONG, || !log_lines_with(&w.hw, &["abandoned", "exited with 3"]).is_empty()),
        "no rollback logged; stderr:\n{}",
        w.hw.stderr()
    );
    assert!(alive(w.first), "generation 1 no longer serves");
    assert!(!w.state.join(format!("term.{}", w.first)).exists(), "generation 1 was told to stop");
    assert!(wait_until(LONG, || !exists(failed)), "failed generation not reaped");
    assert_eq!(live_children(w.hw.pid()), vec![w.first]);

    // A later change reloads normally.
    fs::remove_file(w.state.join("mode")).unwrap();
    fs::write(&conf, "version 3\n").unwrap();
    let third = w.expect_one_reload(&[w.first, failed], "change after the rollback");
    w.expect_replaced(w.first, third);
    w.stop();
}

#[test]
fn watch_reloads_during_a_reload_coalesce_like_signals() {
    for also_hup in [false, true] {
        let what = if also_hup { "change and HUP during a reload" } else { "change during a reload" };
        let dir = TempDir::new("watch-coalesce");
        let conf = dir.join("app.conf");
        fs::write(&conf, "version 1\n").unwrap();
        // A 1 s warm-up keeps the first reload in progress while the change's 0.2 s delay ends.
        let w = Watching::serve_warming(dir.path(), &[&conf], "1");
        w.hw.signal(libc::SIGHUP);
        let second = wait_for(LONG, || w.generations().into_iter().find(|&p| p != w.first))
            .unwrap_or_else(|| panic!("{what}: SIGHUP did not reload; stderr:\n{}", w.hw.stderr()));
        fs::write(&conf, "version 2\n").unwrap();
        assert!(
            wait_until(LONG, || w.reload_lines(&conf).len() == 1),
            "{what}: the change was not taken as a reload; stderr:\n{}",
            w.hw.stderr()
        );
        if also_hup {
            w.hw.signal(libc::SIGHUP);
        }
        // Generation 2 is promoted, then what came during its warm-up makes one more reload:
        // neither dropped nor doubled.
        w.expect_replaced(w.first, second);
        let third = w.expect_one_reload(&[w.first, second], what);
        // The log is hupwatch's own sequence of events: generation 2 ready, then 3 started.
        let stderr = w.hw.stderr();
        let line_of =
            |pid: i32, word: &str| stderr.lines().position(|l| l.contains(&format!("pid {pid}")) && l.contains(word));
        let (ready, started) = (line_of(second, "ready"), line_of(third, "started"));
        assert!(
            ready.is_some() && started.is_some() && ready < started,
            "{what}: generation 3 did not start after generation 2 was ready; stderr:\n{stderr}"
        );
        w.expect_replaced(second, third);
        w.stop();
    }
}

#[test]
fn watching_adds_no_wake_ups_at_rest() {
    let dir = TempDir::new("watch-idle");
    let conf = dir.join("app.conf");
    fs::write(&conf, "version 1\n").unwrap();
    let missing = dir.join("not/yet/there.conf");
    let deploy = dir.join("current");
    fs::create_dir(dir.join("release")).unwrap();
    symlink("release", &deploy).unwrap();
    let w = Watching::serve(dir.path(), &[&conf, &missing, &deploy]);
    let pid = w.hw.pid();
    // Generation 1 is ready; let hupwatch get back into its wait.
    assert!(wait_until(LONG, || stat(pid).is_some_and(|s| s.state == 'S')), "hupwatch never went to sleep");
    let switches = || status_field(pid, "voluntary_ctxt_switches").expect("voluntary_ctxt_switches");
    let before = switches();
    // Intentional: an idle second in which nothing may wake hupwatch up. A poll loop or a
    // periodic timer would show up as context switches; the count is checked, not the time.
    std::thread::sleep(Duration::from_secs(1));
    let after = switches();
    assert_eq!(before, after, "hupwatch woke up while nothing happened; stderr:\n{}", w.hw.stderr());
    w.stop();
}
