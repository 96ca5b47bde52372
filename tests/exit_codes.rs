//! hupwatch exits with the serving generation's status: every code 0..255, 128+N when the
//! generation is killed by signal N, 127/126 when the first exec fails.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use support::*;

#[test]
fn passes_on_every_exit_code() {
    let mut wrong = Vec::new();
    for n in 0..=255 {
        let (code, _, err) = run_to_end(&mut hupwatch_child(&["-w", "0"], &["exit", &n.to_string()]), LONG);
        if code != n {
            wrong.push(format!("exit {n} -> {code} (stderr: {})", err.trim()));
        }
    }
    assert!(wrong.is_empty(), "wrong exit codes:\n{}", wrong.join("\n"));
}

/// Signals whose default action ends the process.
fn fatal_signals() -> Vec<i32> {
    let ignored_by_default = [libc::SIGCHLD, libc::SIGCONT, libc::SIGURG, libc::SIGWINCH];
    let stopping = [libc::SIGSTOP, libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU];
    let mut signals: Vec<i32> = (1..32).filter(|s| !ignored_by_default.contains(s) && !stopping.contains(s)).collect();
    if !skip_under_emulation(RT_SIGNALS_UNDER_QEMU) {
        signals.extend(sigrtmin()..=sigrtmax());
    }
    signals
}

#[test]
fn killed_by_signal_gives_128_plus_n() {
    let mut wrong = Vec::new();
    for sig in fatal_signals() {
        let (code, _, err) = run_to_end(&mut hupwatch_child(&[], &["raise", &sig.to_string()]), LONG);
        if code != 128 + sig {
            wrong.push(format!("signal {sig} -> {code} (stderr: {})", err.trim()));
        }
    }
    assert!(wrong.is_empty(), "wrong exit codes:\n{}", wrong.join("\n"));
}

#[test]
fn killed_from_outside_gives_128_plus_n() {
    let dir = TempDir::new("outside");
    let pid_file = dir.join("pid");
    let mut hw = Running::spawn(&mut hupwatch_child(&[], &["write-pid", pid_file.to_str().unwrap()]));
    let child = wait_pid_file(&pid_file);
    assert!(kill(child, libc::SIGKILL));
    assert_eq!(hw.wait_code(LONG), 128 + 9, "stderr:\n{}", hw.stderr());
}

/// The one stderr line that names `command`; there must be exactly one.
fn line_naming(err: &str, command: &str) -> String {
    let named: Vec<&str> = err.lines().filter(|l| l.contains(command)).collect();
    assert_eq!(named.len(), 1, "expected one line naming {command}, stderr:\n{err}");
    assert!(!err.contains("panicked"), "stderr:\n{err}");
    named[0].to_string()
}

#[test]
fn missing_command_exits_127() {
    let dir = TempDir::new("missing");
    let missing = dir.join("no-such-command");
    let missing = missing.to_str().unwrap();
    let (code, _, err) = run_to_end(&mut hupwatch(&["--", missing]), LONG);
    assert_eq!(code, 127, "stderr:\n{err}");
    line_naming(&err, missing);

    // Looked up on PATH, without a slash.
    let name = "hupwatch-no-such-command-on-path";
    let (code, _, err) = run_to_end(&mut hupwatch(&[name, "arg"]), LONG);
    assert_eq!(code, 127, "stderr:\n{err}");
    line_naming(&err, name);
}

#[test]
fn not_executable_exits_126() {
    let dir = TempDir::new("noexec");
    let file = dir.join("not-executable");
    fs::write(&file, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let file = file.to_str().unwrap();
    let (code, _, err) = run_to_end(&mut hupwatch(&["--", file]), LONG);
    assert_eq!(code, 126, "stderr:\n{err}");
    line_naming(&err, file);

    // A directory cannot be executed either.
    let sub = dir.join("a-directory");
    fs::create_dir(&sub).unwrap();
    let sub = sub.to_str().unwrap();
    let (code, _, err) = run_to_end(&mut hupwatch(&["--", sub]), LONG);
    assert_eq!(code, 126, "stderr:\n{err}");
    line_naming(&err, sub);
}

/// The command is looked up as execvp(3) does: each $PATH directory in turn, a directory
/// where it is not executable only remembered (EACCES wins over "not found"), an empty entry
/// for the working directory, and the usual directories when PATH is unset.
#[test]
fn command_is_searched_on_path_like_execvp() {
    let dir = TempDir::new("path-search");
    for (sub, mode, script) in [("denied", 0o644, "exit 41"), ("ok", 0o755, "exit 42"), ("raw", 0o755, "")] {
        fs::create_dir(dir.join(sub)).unwrap();
        let tool = dir.join(sub).join("hupwatch-tool");
        // "raw" holds no #! line: not an executable format.
        let text = if script.is_empty() { "exit 43\n".to_string() } else { format!("#!/bin/sh\n{script}\n") };
        fs::write(&tool, text).unwrap();
        fs::set_permissions(&tool, fs::Permissions::from_mode(mode)).unwrap();
    }
    let path = |subs: &[&str]| {
        subs.iter()
            .map(|s| if s.is_empty() { String::new() } else { dir.join(s).display().to_string() })
            .collect::<Vec<_>>()
            .join(":")
    };
    let run = |path: Option<String>, cwd: &Path| {
        let mut cmd = hupwatch(&["-q", "hupwatch-tool"]);
        cmd.current_dir(cwd);
        match path {
            Some(p) => cmd.env("PATH", p),
            None => cmd.env_remove("PATH"),
        };
        run_to_end(&mut cmd, LONG)
    };
    let root = dir.path();
    assert_eq!(run(Some(path(&["missing", "denied", "ok"])), root).0, 42, "found after a denied one");
    assert_eq!(run(Some(path(&["missing", "denied"])), root).0, 126, "denied beats not found");
    assert_eq!(run(Some(path(&["missing"])), root).0, 127, "not found");
    assert_eq!(run(Some(path(&["", "missing"])), &dir.join("ok")).0, 42, "empty entry: the working directory");
    let (code, _, err) = run(Some(path(&["raw", "ok"])), root);
    assert_eq!(code, 126, "no #! line: not run by a shell, and the search stops; stderr:\n{err}");
    let (code, _, err) = run_to_end(hupwatch(&["-q", "true"]).env_remove("PATH"), LONG);
    assert_eq!(code, 0, "PATH unset: the usual directories; stderr:\n{err}");
}

#[test]
fn exit_code_is_the_serving_generations_after_a_reload() {
    // Generation 1 would exit 5 on TERM, generation 2 exits 7 by itself: hupwatch exits 7.
    let dir = TempDir::new("after-reload");
    fs::write(dir.join("mode"), "serve 5\n").unwrap();
    let (mut hw, first) = start_serve(dir.path(), &["-w", "0"]);
    fs::write(dir.join("mode"), "serve 7\n").unwrap();
    hw.signal(libc::SIGHUP);
    // Generation 1 is told to stop (exits 5, which must not become hupwatch's status).
    assert!(wait_until(LONG, || told_to_stop(dir.path(), first)));
    assert!(wait_until(LONG, || !alive(first)));
    let second = next_generation(dir.path(), &hw, &[first]);
    assert!(hw.is_running(), "hupwatch exited with the drained generation");
    // Now stop the serving generation by signalling it directly: it exits 7.
    assert!(kill(second, libc::SIGTERM));
    assert_eq!(hw.wait_code(LONG), 7, "stderr:\n{}", hw.stderr());
}

#[test]
fn shutdown_while_the_first_generation_warms_up_keeps_its_status() {
    // TERM soon after start (docker stop right after docker run): generation 1 is the only
    // one, so its status is hupwatch's, warmup or not.
    let dir = TempDir::new("first-warmup");
    fs::write(dir.join("mode"), "serve 7\n").unwrap();
    let (mut hw, first) = start_serve(dir.path(), &["-w", "30"]);
    hw.signal(libc::SIGTERM);
    assert!(wait_until(LONG, || told_to_stop(dir.path(), first)));
    assert_eq!(hw.wait_code(LONG), 7, "generation 1 exited 7; stderr:\n{}", hw.stderr());

    // Killed by the forwarded TERM (default action): 128 + 15.
    let pid_file = dir.join("pid");
    let mut hw = Running::spawn(&mut hupwatch_child(&["-w", "30"], &["write-pid", pid_file.to_str().unwrap()]));
    wait_pid_file(&pid_file);
    hw.signal(libc::SIGTERM);
    assert_eq!(hw.wait_code(LONG), 143, "generation 1 killed by TERM; stderr:\n{}", hw.stderr());
}

#[test]
fn exit_waits_for_draining_generations_and_keeps_the_serving_status() {
    // Generation 1 drains (the stop signal USR2 does not end it); generation 2 serves and
    // exits 9 by itself: hupwatch waits for generation 1, then exits 9, not 1's 5.
    let dir = TempDir::new("wait-draining");
    fs::write(dir.join("mode"), "serve 5\n").unwrap();
    let (mut hw, first) = start_serve(dir.path(), &["-w", "0", "--stop-signal", "USR2"]);
    fs::write(dir.join("mode"), "serve 9\n").unwrap();
    hw.signal(libc::SIGHUP);
    assert!(wait_until(LONG, || received(dir.path(), first, libc::SIGUSR2) > 0));
    let second = next_generation(dir.path(), &hw, &[first]);

    assert!(kill(second, libc::SIGTERM));
    assert!(
        wait_until(LONG, || hw.stderr().contains("exited with 9")),
        "generation 2's exit not logged; stderr:\n{}",
        hw.stderr()
    );
    assert!(wait_until(LONG, || !exists(second)), "generation 2 not reaped");
    assert!(hw.is_running(), "hupwatch exited while generation 1 was still draining");
    assert!(alive(first));
    assert!(kill(first, libc::SIGTERM));
    assert_eq!(hw.wait_code(LONG), 9, "stderr:\n{}", hw.stderr());
}
