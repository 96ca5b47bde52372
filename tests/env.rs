//! `--env-file` and `--envdir`: what the files say reaches each generation as the files are
//! when it starts, on top of hupwatch's environment and under hupwatch's own variables; bad
//! input costs a reload, never the generation serving, and at the first start it is exit 1 with
//! one line naming the file (and line); with `--watch`, an edit is one reload with the new
//! values, a Kubernetes ConfigMap swap included.
//!
//! Every generation runs the test child's `serve STATE` role, which writes STATE/started.PID and
//! then waits for its stop signal; its environment is read from /proc/PID/environ, which holds
//! what it was exec'd with. A generation is only stopped once the next one is promoted, which
//! takes a reload the test asks for, so it is read before that, whatever the machine's speed.

mod support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::*;

/// --watch-delay of the watching tests (see tests/watch.rs: no verdict needs hupwatch to act
/// within it).
const DELAY: Duration = Duration::from_millis(100);

/// A hupwatch started in `dir` (also its $PWD, so relative paths are taken from it) whose
/// generations record themselves in `state`.
struct Env {
    hw: Running,
    dir: TempDir,
    state: TempDir,
    first: i32,
}

impl Env {
    /// Starts hupwatch with `opts` and `-w 0.05` in `dir`, with `vars` added to its own
    /// environment, and waits for generation 1.
    fn start(dir: TempDir, opts: &[&str], vars: &[(&str, &str)]) -> Env {
        let state = TempDir::new("env-state");
        let opts = [opts, &["-w", "0.05"]].concat();
        let mut cmd = hupwatch_child(&opts, &["serve", state.path().to_str().unwrap()]);
        cmd.current_dir(dir.path()).env("PWD", dir.path()).envs(vars.iter().copied());
        let hw = Running::spawn(&mut cmd);
        let first = wait_for(LONG, || started(state.path()).first().copied())
            .unwrap_or_else(|| panic!("generation 1 did not start; stderr:\n{}", hw.stderr()));
        Env { hw, dir, state, first }
    }

    fn generations(&self) -> Vec<i32> {
        started(self.state.path())
    }

    /// Sends SIGHUP and waits for the generation it starts.
    fn reload(&self) -> i32 {
        let known = self.generations();
        self.hw.signal(libc::SIGHUP);
        next_generation(self.state.path(), &self.hw, &known)
    }

    /// Waits until `n` reloads were abandoned, and returns the messages of every error line.
    fn abandoned(&self, n: usize) -> Vec<String> {
        let count = || log_lines_with(&self.hw, &["reload abandoned"]).len();
        assert!(wait_until(LONG, || count() >= n), "reload {n} not abandoned; stderr:\n{}", self.hw.stderr());
        self.hw.stderr().lines().filter_map(|l| Some(l.split_once(": error: ")?.1.to_string())).collect()
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }
}

/// The value of `key` in the environment of `pid`, which holds it at most once.
fn var(pid: i32, key: &str) -> Option<String> {
    let prefix = format!("{key}=");
    let found: Vec<String> = environ(pid).iter().filter_map(|e| Some(e.strip_prefix(&prefix)?.to_string())).collect();
    assert!(found.len() <= 1, "{key} set {} times for pid {pid}: {found:?}", found.len());
    found.into_iter().next()
}

/// Replaces `path` by a file holding `text` as editors and config tools do: a temporary file
/// beside it, then one rename.
fn write_replacing(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp-write");
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, path).unwrap();
}

#[test]
fn values_and_removals_reach_the_generation() {
    let dir = TempDir::new("env-values");
    let env_file = "# settings\n\n  A=from the file\nexport B=two words \nC=\"quoted\" # kept\r\nCHANGED=by the file\n";
    fs::write(dir.join("app.env"), env_file).unwrap();
    fs::create_dir(dir.join("envdir")).unwrap();
    for (name, content) in [
        ("A", &b"from the envdir\n"[..]),
        ("D", b"first line \t \nsecond line\n"),
        ("E", b"a\0b"),
        ("F", b"\n"),
        ("REMOVED", b""),
        (".hidden", b"x"),
    ] {
        fs::write(dir.join("envdir").join(name), content).unwrap();
    }
    let inherited = [("CHANGED", "inherited"), ("KEPT", "inherited"), ("REMOVED", "inherited")];
    let mut e = Env::start(dir, &["--env-file", "app.env", "--envdir", "envdir"], &inherited);
    let g = e.first;
    assert_eq!(var(g, "A").as_deref(), Some("from the envdir"), "the later source wins");
    assert_eq!(var(g, "B").as_deref(), Some("two words "), "taken literally to the end of the line");
    assert_eq!(var(g, "C").as_deref(), Some("\"quoted\" # kept"));
    assert_eq!(var(g, "CHANGED").as_deref(), Some("by the file"), "the files win over hupwatch's environment");
    assert_eq!(var(g, "D").as_deref(), Some("first line"));
    assert_eq!(var(g, "E").as_deref(), Some("a\nb"));
    assert_eq!(var(g, "F").as_deref(), Some(""), "a blank line is an empty value");
    assert_eq!(var(g, "KEPT").as_deref(), Some("inherited"));
    assert_eq!(var(g, "REMOVED"), None, "an empty envdir file removes the variable");
    assert!(environ(g).iter().all(|v| !v.starts_with(".hidden")), "names starting with a dot are skipped");
    e.hw.stop();
}

#[test]
fn a_changed_file_reaches_only_the_next_generation() {
    let dir = TempDir::new("env-next");
    fs::write(dir.join("app.env"), "V=1\n").unwrap();
    fs::create_dir(dir.join("envdir")).unwrap();
    fs::write(dir.join("envdir/W"), "1\n").unwrap();
    let mut e = Env::start(dir, &["--env-file", "app.env", "--envdir", "envdir"], &[]);
    let first = e.first;
    assert_eq!((var(first, "V"), var(first, "W")), (Some("1".into()), Some("1".into())));

    // Read when a generation starts: generation 1 keeps what it started with.
    write_replacing(&e.dir.join("app.env"), "V=2\n");
    fs::write(e.dir.join("envdir/W"), "2\n").unwrap();
    assert_eq!(var(first, "V").as_deref(), Some("1"));
    let second = e.reload();
    assert_eq!((var(second, "V"), var(second, "W")), (Some("2".into()), Some("2".into())));

    write_replacing(&e.dir.join("app.env"), "V=3\n");
    fs::remove_file(e.dir.join("envdir/W")).unwrap();
    // Generation 2 still has what it started with.
    assert_eq!(var(second, "V").as_deref(), Some("2"));
    let third = e.reload();
    assert_eq!((var(third, "V"), var(third, "W")), (Some("3".into()), None));
    e.hw.stop();
}

#[test]
fn bad_input_at_a_reload_keeps_the_old_generation_serving() {
    let dir = TempDir::new("env-bad-reload");
    fs::write(dir.join("app.env"), "V=1\n").unwrap();
    fs::create_dir(dir.join("envdir")).unwrap();
    let mut e = Env::start(dir, &["--env-file", "app.env", "--envdir", "envdir"], &[]);
    let first = e.first;
    let big = format!("V={}\n", "x".repeat(64 << 10));
    let env_file = e.path("app.env");
    type MakeBad<'a> = &'a dyn Fn(&Path);
    let cases: [(MakeBad, String); 5] = [
        (&|d| fs::write(d.join("app.env"), "V=2\n\nNO_EQUALS\n").unwrap(), format!("{env_file}:3: a line without '='")),
        (&|d| fs::write(d.join("app.env"), "V=2\nA B=1\n").unwrap(), format!("{env_file}:2: invalid variable name")),
        (&|d| fs::write(d.join("app.env"), &big).unwrap(), format!("{env_file}: larger than 64 KiB")),
        (&|d| fs::remove_file(d.join("app.env")).unwrap(), format!("{env_file}: No such file or directory")),
        (
            &|d| {
                fs::write(d.join("app.env"), "V=2\n").unwrap();
                fs::write(d.join("envdir/A=B"), "1\n").unwrap();
            },
            format!("{}: invalid variable name", e.path("envdir/A=B")),
        ),
    ];
    // Each failed reload: one line naming the file (and line), then the rollback, as for a
    // generation that could not be started.
    let mut expected = Vec::new();
    for (n, (make_bad, error)) in cases.into_iter().enumerate() {
        make_bad(e.dir.path());
        e.hw.signal(libc::SIGHUP);
        let generation = n + 2;
        expected.push(error);
        expected.push(format!(
            "reload abandoned: generation {generation} could not be started; generation 1 (pid {first}) keeps serving"
        ));
        assert_eq!(e.abandoned(n + 1), expected, "stderr:\n{}", e.hw.stderr());
        assert_eq!(e.generations(), [first], "a generation was started from bad input");
        assert!(alive(first) && !told_to_stop(e.state.path(), first), "generation 1 stopped serving");
    }
    // Fixed, the next reload goes through with the new value.
    fs::remove_file(e.dir.join("envdir/A=B")).unwrap();
    fs::write(e.dir.join("app.env"), "V=3\n").unwrap();
    let next = e.reload();
    assert_eq!(var(next, "V").as_deref(), Some("3"));
    assert!(wait_until(LONG, || !exists(first)), "generation 1 was not replaced; stderr:\n{}", e.hw.stderr());
    e.hw.stop();
}

#[test]
fn bad_input_at_the_start_exits_1_with_one_line_naming_it() {
    let dir = TempDir::new("env-bad-start");
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    fs::write(dir.join("no-equals.env"), "# comment\nA=1\nexport B\n").unwrap();
    fs::write(dir.join("bad-name.env"), "A=1\nB=2\nC\tD=3\n").unwrap();
    fs::write(dir.join("nul.env"), "A=1\0\n").unwrap();
    fs::write(dir.join("big.env"), "#".repeat((64 << 10) + 1)).unwrap();
    fs::create_dir_all(dir.join("envdir/SUB")).unwrap();
    fs::create_dir(dir.join("bad-envdir")).unwrap();
    fs::write(dir.join("bad-envdir/A=B"), "1").unwrap();
    let cases = [
        ("--env-file", "missing.env", format!("{}: No such file or directory", path("missing.env"))),
        ("--env-file", "no-equals.env", format!("{}:3: a line without '='", path("no-equals.env"))),
        ("--env-file", "bad-name.env", format!("{}:3: invalid variable name", path("bad-name.env"))),
        ("--env-file", "nul.env", format!("{}:1: a NUL byte", path("nul.env"))),
        ("--env-file", "big.env", format!("{}: larger than 64 KiB", path("big.env"))),
        ("--env-file", "envdir", format!("{}: Is a directory", path("envdir"))),
        ("--envdir", "missing", format!("{}: No such file or directory", path("missing"))),
        ("--envdir", "big.env", format!("{}: Not a directory", path("big.env"))),
        ("--envdir", "envdir", format!("{}: Is a directory", path("envdir/SUB"))),
        ("--envdir", "bad-envdir", format!("{}: invalid variable name", path("bad-envdir/A=B"))),
    ];
    let marker = dir.join("ran");
    for (option, name, error) in cases {
        let mut cmd = hupwatch_child(&[option, name], &["argv", marker.to_str().unwrap(), "ran"]);
        cmd.current_dir(dir.path()).env("PWD", dir.path());
        let (code, stdout, stderr) = run_to_end(&mut cmd, LONG);
        assert_eq!(code, 1, "{option} {name}: stderr:\n{stderr}");
        let lines = log_lines(&stderr);
        let expected = format!(": error: {error}");
        assert!(
            lines.len() == 1 && lines[0].ends_with(&expected),
            "{option} {name}: want {expected:?}, got:\n{stderr}"
        );
        assert_log_format(&stderr, stderr[9..].split(']').next().unwrap().parse().unwrap());
        assert!(stdout.is_empty() && !marker.exists(), "{option} {name}: the command ran");
    }
}

#[test]
fn hupwatchs_own_variables_win_over_the_files() {
    let dir = TempDir::new("env-own");
    let own =
        "LISTEN_FDS=7\nLISTEN_PID=1\nLISTEN_FDNAMES=x\nLISTEN_PIDFDID=5\nNOTIFY_SOCKET=/bogus\nSERVER_STARTER_PORT=x\n";
    fs::write(dir.join("app.env"), format!("{own}OTHER=1\n")).unwrap();
    fs::create_dir(dir.join("envdir")).unwrap();
    fs::write(dir.join("envdir/LISTEN_PID"), "").unwrap();
    fs::write(dir.join("envdir/NOTIFY_SOCKET"), "/also/bogus\n").unwrap();
    let sources = ["--env-file", "app.env", "--envdir", "envdir"];
    let mut e = Env::start(dir, &[&sources[..], &["--listen", "tcp:127.0.0.1:0", "--notify"]].concat(), &[]);
    let g = e.first;
    assert_eq!(var(g, "LISTEN_FDS").as_deref(), Some("1"));
    assert_eq!(var(g, "LISTEN_PID"), Some(g.to_string()), "the generation's own pid");
    assert!(var(g, "LISTEN_FDNAMES").is_some_and(|v| v != "x"));
    assert!(var(g, "NOTIFY_SOCKET").is_some_and(|v| v.starts_with("@hupwatch/")));
    assert!(var(g, "SERVER_STARTER_PORT").is_some_and(|v| v.starts_with("127.0.0.1:")));
    assert_eq!(var(g, "LISTEN_PIDFDID"), None);
    assert_eq!(var(g, "OTHER").as_deref(), Some("1"));
    e.hw.stop();

    // hupwatch's variables are never taken from the files, also when it sets none of them.
    let mut e = Env::start(e.dir, &sources, &[]);
    for key in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "LISTEN_PIDFDID", "NOTIFY_SOCKET", "SERVER_STARTER_PORT"]
    {
        assert_eq!(var(e.first, key), None, "{key}");
    }
    assert_eq!(var(e.first, "OTHER").as_deref(), Some("1"));
    e.hw.stop();
}

#[test]
fn an_envdir_of_a_thousand_files() {
    let dir = TempDir::new("env-thousand");
    let envdir = dir.join("envdir");
    fs::create_dir(&envdir).unwrap();
    let write_all = |round: u32| {
        for i in 0..1000 {
            fs::write(envdir.join(format!("HUPWATCH_VAR_{i:04}")), format!("value {round} of {i}\n")).unwrap();
        }
    };
    write_all(1);
    fs::write(envdir.join("REMOVED"), "").unwrap();
    let mut e = Env::start(dir, &["--envdir", "envdir"], &[("REMOVED", "inherited")]);
    let check = |pid: i32, round: u32| {
        let env = environ(pid);
        let ours: Vec<&String> = env.iter().filter(|v| v.starts_with("HUPWATCH_VAR_")).collect();
        assert_eq!(ours.len(), 1000, "generation {pid}");
        for i in 0..1000 {
            assert_eq!(var(pid, &format!("HUPWATCH_VAR_{i:04}")), Some(format!("value {round} of {i}")));
        }
        assert_eq!(var(pid, "REMOVED"), None);
    };
    check(e.first, 1);
    write_all(2);
    let second = e.reload();
    check(second, 2);
    e.hw.stop();
}

/// hupwatch watching `watched` (relative to `dir`) with --watch-delay DELAY; waits until
/// generation 1 is ready, so that no reload is pending when the test changes things.
fn watching(dir: TempDir, opts: &[&str], watched: &str) -> Env {
    let delay = format!("{}ms", DELAY.as_millis());
    let e = Env::start(dir, &[opts, &["--watch", watched, "--watch-delay", &delay]].concat(), &[]);
    assert!(
        wait_until(LONG, || !log_lines_with(&e.hw, &["ready"]).is_empty()),
        "generation 1 never became ready; stderr:\n{}",
        e.hw.stderr()
    );
    e
}

/// Waits for one generation besides `known`, then for three delays (the time another reload
/// would take to show: an intentional wait that never fails a good hupwatch), and checks that
/// no other one started.
fn one_reload(e: &Env, known: &[i32], what: &str) -> i32 {
    let new = wait_for(LONG, || e.generations().into_iter().find(|p| !known.contains(p)))
        .unwrap_or_else(|| panic!("{what}: no reload; stderr:\n{}", e.hw.stderr()));
    std::thread::sleep(DELAY * 3);
    let extra: Vec<i32> = e.generations().into_iter().filter(|p| !known.contains(p) && *p != new).collect();
    assert!(extra.is_empty(), "{what}: more than one reload ({new}, {extra:?}); stderr:\n{}", e.hw.stderr());
    new
}

#[test]
fn watching_the_env_file_reloads_once_with_the_new_value() {
    let dir = TempDir::new("env-watch");
    fs::write(dir.join("app.env"), "V=1\n").unwrap();
    let mut e = watching(dir, &["--env-file", "app.env"], "app.env");
    assert_eq!(var(e.first, "V").as_deref(), Some("1"));
    write_replacing(&e.dir.join("app.env"), "V=2\n");
    let second = one_reload(&e, &[e.first], "env file replaced");
    assert_eq!(var(second, "V").as_deref(), Some("2"));
    assert_eq!(log_lines_with(&e.hw, &["reload: ", "app.env", "changed"]).len(), 1, "stderr:\n{}", e.hw.stderr());
    e.hw.stop();
}

/// Lays `mount` out as the kubelet mounts a ConfigMap: the data in `..VERSION/`,
/// `..data -> ..VERSION`, and each key `KEY -> ..data/KEY`.
fn configmap_mount(mount: &Path, version: &str, keys: &[(&str, &str)]) {
    let data = mount.join(format!("..{version}"));
    fs::create_dir_all(&data).unwrap();
    for (key, value) in keys {
        fs::write(data.join(key), value).unwrap();
        symlink(format!("..data/{key}"), mount.join(key)).unwrap();
    }
    symlink(format!("..{version}"), mount.join("..data")).unwrap();
}

/// Updates the ConfigMap in `mount` as the kubelet does, each step timed: the new data
/// directory, a `..data_tmp` link renamed over `..data`, the links of new keys, the old
/// directory and the links of keys that are gone removed.
fn configmap_update(t: &mut Timeline, mount: &Path, old: &str, new: &str, keys: &[(&str, &str)]) {
    let data = mount.join(format!("..{new}"));
    t.act(|| fs::create_dir(&data).unwrap());
    for (key, value) in keys {
        t.act(|| fs::write(data.join(key), value).unwrap());
    }
    t.act(|| symlink(format!("..{new}"), mount.join("..data_tmp")).unwrap());
    t.act(|| fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap());
    for (key, _) in keys {
        if fs::symlink_metadata(mount.join(key)).is_err() {
            t.act(|| symlink(format!("..data/{key}"), mount.join(key)).unwrap());
        }
    }
    t.act(|| fs::remove_dir_all(mount.join(format!("..{old}"))).unwrap());
    let gone: Vec<PathBuf> = fs::read_dir(mount)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_symlink()) && !p.exists())
        .collect();
    for link in gone {
        t.act(|| fs::remove_file(&link).unwrap());
    }
}

#[test]
fn a_configmap_swap_of_an_envdir_reloads_once_with_the_new_values() {
    until_judged("a ConfigMap envdir swap", |_| {
        let dir = TempDir::new("env-configmap-dir");
        configmap_mount(&dir.join("config"), "v1", &[("GREETING", "hello\n"), ("WORKERS", "4\n")]);
        let mut e = watching(dir, &["--envdir", "config"], "config");
        assert_eq!((var(e.first, "GREETING"), var(e.first, "WORKERS")), (Some("hello".into()), Some("4".into())));
        let mut t = Timeline::new();
        configmap_update(&mut t, &e.dir.join("config"), "v1", "v2", &[("GREETING", "hi\n"), ("LEVEL", "debug\n")]);
        t.no_pause_of(DELAY / 2, "the ConfigMap update")?;
        let second = one_reload(&e, &[e.first], "ConfigMap swap");
        assert_eq!(var(second, "GREETING").as_deref(), Some("hi"));
        assert_eq!(var(second, "LEVEL").as_deref(), Some("debug"), "a new key");
        assert_eq!(var(second, "WORKERS"), None, "a key that is gone");
        e.hw.stop();
        Ok(())
    });
}

#[test]
fn a_configmap_key_as_env_file_reloads_once_with_the_new_values() {
    // The layout of deploy/kubernetes: the ConfigMap's key app.env, mounted as a directory.
    until_judged("a ConfigMap env file swap", |_| {
        let dir = TempDir::new("env-configmap-file");
        configmap_mount(&dir.join("config"), "v1", &[("app.env", "GREETING=hello\nWORKERS=4\n")]);
        let mut e = watching(dir, &["--env-file", "config/app.env"], "config");
        assert_eq!(var(e.first, "GREETING").as_deref(), Some("hello"));
        let mut t = Timeline::new();
        configmap_update(&mut t, &e.dir.join("config"), "v1", "v2", &[("app.env", "GREETING=hi\n")]);
        t.no_pause_of(DELAY / 2, "the ConfigMap update")?;
        let second = one_reload(&e, &[e.first], "ConfigMap swap");
        assert_eq!((var(second, "GREETING"), var(second, "WORKERS")), (Some("hi".into()), None));
        e.hw.stop();
        Ok(())
    });
}
