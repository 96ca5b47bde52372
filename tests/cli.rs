//! The command line: usage errors (exit 2, one line pointing to --help), help and version,
//! accepted spellings of signals and durations, where options end, and the log line format.

mod support;

use std::fs;
use support::*;

fn run(args: &[&str]) -> (i32, String, String) {
    run_to_end(&mut hupwatch(args), LONG)
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let cases: &[&[&str]] = &[
        &["--bogus", "--", "true"],
        &["-x", "true"],
        &["-w"],
        &["--warmup-time"],
        &["--stop-signal"],
        &["--stop-signal", "FOO", "--", "true"],
        &["--stop-signal", "99", "--", "true"],
        &["--reload-signal", "SIGNOPE", "--", "true"],
        &["--stop-signal", "RTMIN+99", "--", "true"],
        &["-w", "abc", "--", "true"],
        &["-w", "-1", "--", "true"],
        &["-w", "1h", "--", "true"],
        &["--stop-timeout", "5x", "--", "true"],
        &["--ready-timeout", "", "--", "true"],
        &["-r", "USR1", "--", "true"],
        &["-r", "FOO:0", "--", "true"],
        &["-r", "USR1:BAR", "--", "true"],
        &["--restart", "sometimes", "--", "true"],
        &["--restart"],
        &["--watchdog", "1", "--", "true"],
        &[],
        &["-w", "1"],
        &["--"],
        &["-v", "-k"],
    ];
    let mut wrong = Vec::new();
    for args in cases {
        let (code, _, err) = run(args);
        let one_line = err.ends_with('\n') && err.trim_end().lines().count() == 1;
        if code != 2 || !one_line || !err.contains("--help") || err.contains("panicked") {
            wrong.push(format!("{args:?}: exit {code}, stderr {err:?}"));
        }
    }
    assert!(wrong.is_empty(), "usage errors must exit 2 with one stderr line mentioning --help:\n{}", wrong.join("\n"));
}

#[test]
fn help_and_version_exit_0() {
    for flag in ["-h", "--help"] {
        let (code, out, err) = run(&[flag]);
        assert_eq!(code, 0, "{flag}: stderr {err}");
        for option in [
            "--warmup-time",
            "--ready-timeout",
            "--reload-signal",
            "--stop-signal",
            "--stop-timeout",
            "--rewrite",
            "--process-group",
            "--kill-at-exit",
            "--verbose",
            "--quiet",
            "--restart",
            "--watchdog",
        ] {
            assert!(out.contains(option), "{flag} output lacks {option}:\n{out}");
        }
    }
    for flag in ["-V", "--version"] {
        let (code, out, err) = run(&[flag]);
        assert_eq!(code, 0, "{flag}: stderr {err}");
        assert!(out.contains(env!("CARGO_PKG_VERSION")), "{flag} output: {out:?}");
        assert!(out.lines().count() >= 1 && !out.contains("panicked"));
    }
}

#[test]
fn accepted_spellings_of_options() {
    let cases: &[&[&str]] = &[
        &["-w", "0.2"],
        &["-w", "500ms"],
        &["-w", "2s"],
        &["-w", "1m", "--ready-timeout", "2m"],
        &["-w", "0"],
        &["--warmup-time", "1"],
        &["--warmup-time=0.5"],
        &["--ready-timeout", "10"],
        &["--stop-timeout", "500ms"],
        &["--stop-signal", "TERM"],
        &["--stop-signal", "SIGTERM"],
        &["--stop-signal", "term"],
        &["--stop-signal", "15"],
        &["--stop-signal", "sigquit"],
        &["--stop-signal", "RTMIN+2"],
        &["--reload-signal", "USR2"],
        &["--reload-signal", "RTMIN+1"],
        &["-r", "USR1:USR2"],
        &["-r", "10:0"],
        &["--rewrite", "SIGUSR1:sigusr2", "-r", "WINCH:0"],
        &["-g"],
        &["--process-group"],
        &["-k"],
        &["--kill-at-exit"],
        &["-v"],
        &["-vv"],
        &["-vvv"],
        &["--verbose"],
        &["-q"],
        &["--quiet"],
    ];
    let mut wrong = Vec::new();
    for opts in cases {
        let (code, _, err) = run_to_end(&mut hupwatch_child(opts, &["exit", "3"]), LONG);
        if code != 3 {
            wrong.push(format!("{opts:?}: exit {code}, stderr {err:?}"));
        }
    }
    assert!(wrong.is_empty(), "valid options refused:\n{}", wrong.join("\n"));
}

#[test]
fn options_end_at_the_command() {
    let dir = TempDir::new("argv");
    let file = dir.join("argv");
    let child = child_bin();
    let file_s = file.to_str().unwrap();

    // Without `--`: the first non-option is the command, everything after it is its own.
    let args = [child.to_str().unwrap(), "argv", file_s, "-w", "3", "--bogus", "--", "x"];
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(lines(&file), ["-w", "3", "--bogus", "--", "x"]);

    // With options and `--`: a later `--` belongs to the command.
    let args = ["-w", "0", "--", child.to_str().unwrap(), "argv", file_s, "--", "-h", ""];
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(fs::read_to_string(&file).unwrap(), "--\n-h\n\n");
}

#[test]
fn rtmin_counts_from_34() {
    if skip_under_emulation(RT_SIGNALS_UNDER_QEMU) {
        return;
    }
    let dir = TempDir::new("rtmin");
    let file = dir.join("signals");
    let mut hw =
        Running::spawn(&mut hupwatch_child(&["-r", "USR1:RTMIN+2"], &["echo-signals", file.to_str().unwrap()]));
    assert!(wait_until(LONG, || lines(&file).first().map(String::as_str) == Some("ready")));
    hw.signal(libc::SIGUSR1);
    assert!(wait_until(LONG, || lines(&file).len() > 1), "nothing forwarded; stderr:\n{}", hw.stderr());
    assert_eq!(lines(&file)[1], "36", "RTMIN+2 must be signal 36");
    hw.stop();
}

/// Runs one reload and a shutdown with `opts`; returns hupwatch's stderr and pid.
fn reload_and_stop(opts: &[&str]) -> (String, i32) {
    let dir = TempDir::new("logs");
    let mut all = vec!["-w", "0"];
    all.extend_from_slice(opts);
    let (mut hw, first) = start_serve(dir.path(), &all);
    hw.signal(libc::SIGHUP);
    assert!(wait_until(LONG, || told_to_stop(dir.path(), first)));
    assert!(wait_until(LONG, || !exists(first)));
    next_generation(dir.path(), &hw, &[first]);
    hw.stop();
    (hw.stderr(), hw.pid())
}

#[test]
fn log_lines_have_the_documented_format() {
    let (stderr, pid) = reload_and_stop(&[]);
    assert_log_format(&stderr, pid);
    assert!(stderr.lines().any(|l| l.contains("info: ") && l.contains("started")), "{stderr}");
    assert!(!stderr.contains("debug: "), "debug lines without -v:\n{stderr}");

    let (stderr, pid) = reload_and_stop(&["-vvv"]);
    assert_log_format(&stderr, pid);

    let (stderr, pid) = reload_and_stop(&["-q"]);
    assert_log_format(&stderr, pid);
    assert!(stderr.lines().all(|l| l.contains("error: ")), "-q must show errors only:\n{stderr}");
}

#[test]
fn warnings_and_errors_have_the_documented_format() {
    // A failed reload (an error: its command is no longer executable, which fails whatever the
    // timing), then a stop timeout that expires (a warning, at least).
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("logs-warn");
    fs::write(dir.join("mode"), "ignore-term\n").unwrap();
    let run = dir.join("run");
    fs::write(&run, format!("#!/bin/sh\nexec '{}' serve '{}'\n", child_bin().display(), dir.path().display())).unwrap();
    fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).unwrap();
    let mut hw = Running::spawn(&mut hupwatch(&["-w", "0", "--stop-timeout", "0.1", "--", run.to_str().unwrap()]));
    let first = wait_for(LONG, || started(dir.path()).first().copied()).expect("generation 1 started");
    fs::set_permissions(&run, fs::Permissions::from_mode(0o644)).unwrap();
    hw.signal(libc::SIGHUP);
    assert!(wait_until(LONG, || hw.stderr().contains("error")), "no error:\n{}", hw.stderr());
    // The serving generation ignores TERM and is SIGKILLed: 128 + 9.
    hw.stop_expecting(137);
    assert!(!alive(first));
    assert_log_format(&hw.stderr(), hw.pid());
}

/// Options that each parse but cannot work (issue 14): a warmup not shorter than the ready
/// timeout, stop signals that only pause or do nothing, reload and rewrite signals hupwatch
/// never receives or forwards, and the C library's signals 32 and 33.
#[test]
fn contradictory_and_useless_options_are_usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["-w", "5", "--ready-timeout", "1"], "--warmup-time must be shorter than --ready-timeout"),
        (&["-w", "60"], "--warmup-time must be shorter than --ready-timeout"),
        (&["--stop-signal", "STOP"], "--stop-signal cannot be"),
        (&["--stop-signal", "TSTP"], "--stop-signal cannot be"),
        (&["--stop-signal", "TTIN"], "--stop-signal cannot be"),
        (&["--stop-signal", "TTOU"], "--stop-signal cannot be"),
        (&["--stop-signal", "CONT"], "--stop-signal cannot be"),
        (&["--stop-signal", "CHLD"], "--stop-signal cannot be"),
        (&["--reload-signal", "KILL"], "--reload-signal cannot be"),
        (&["--reload-signal", "STOP"], "--reload-signal cannot be"),
        (&["--reload-signal", "CHLD"], "--reload-signal cannot be"),
        (&["-r", "CHLD:TERM"], "cannot rewrite"),
        (&["-r", "HUP:TERM"], "cannot rewrite"),
        (&["--reload-signal", "USR2", "-r", "USR2:0"], "cannot rewrite"),
        (&["-r", "KILL:TERM"], "invalid value for --rewrite"),
        (&["-r", "1:32"], "invalid value for --rewrite"),
        (&["--stop-signal", "33"], "invalid value for --stop-signal"),
        (&["--reload-signal", "32"], "invalid value for --reload-signal"),
        (&["-e", "256"], "invalid value for --success-exit"),
        (&["--watchdog", "5"], "--watchdog needs --notify"),
        (&["--restart", "no:3"], "invalid value for --restart"),
        (&["--restart", "on-failure:x"], "invalid value for --restart"),
    ];
    for (opts, want) in cases {
        let args = [*opts, &["--", "true"]].concat();
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{opts:?}: {err}");
        assert!(err.contains(want) && err.lines().count() == 1 && err.contains("--help"), "{opts:?}: {err}");
    }
}

/// A value with control bytes, invalid UTF-8 or great length stays on one line, escaped and
/// shortened, with the --help hint.
#[test]
fn usage_errors_quote_hostile_values_on_one_line() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let long = "7".repeat(950);
    let cases: &[(&[u8], &str)] = &[
        (b"1\nsecond line", "'1\\x0asecond line'"),
        (b"\x1b[31mred", "'\\x1b[31mred'"),
        (b"\xff\xfe", "'\\xff\\xfe'"),
        (long.as_bytes(), "'7777777777"),
    ];
    for (value, want) in cases {
        let (code, _, err) = run_to_end(hupwatch(&[]).arg("-w").arg(OsStr::from_bytes(value)).arg("true"), LONG);
        assert_eq!(code, 2, "{err}");
        assert!(err.ends_with("(try 'hupwatch --help')\n") && err.lines().count() == 1, "{err:?}");
        assert!(err.contains(want) && err.len() < 300, "{err:?}");
    }
    let (code, _, err) = run_to_end(hupwatch(&[]).arg(OsStr::from_bytes(b"--bad\nname")).arg("true"), LONG);
    assert_eq!((code, err.lines().count()), (2, 1), "{err:?}");
}
