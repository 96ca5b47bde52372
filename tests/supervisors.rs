//! hupwatch under the supervisors it is made for: supervisord, runit and s6 run
//! the example configurations of deploy/ (their paths pointed at a temporary
//! directory), releases are switched by deploy/symlink-deploy/deploy, and every
//! reload goes through the supervisor's own signal command. The supervisor must
//! keep reporting one running process with the same pid while the generations
//! under it are replaced by ones in the new release; its stop command must leave
//! nothing behind.
//!
//! A test is skipped, with a message, when its supervisor is not installed
//! (Debian packages: supervisor, runit, s6).

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support::{LONG, Running, TempDir};

#[test]
fn supervisord_reload_keeps_pid_and_stop_leaves_nothing() {
    exercise(Kind::Supervisord);
}

#[test]
fn runit_reload_keeps_pid_and_stop_leaves_nothing() {
    exercise(Kind::Runit);
}

#[test]
fn s6_reload_keeps_pid_and_stop_leaves_nothing() {
    exercise(Kind::S6);
}

/// The whole scenario, the same for every supervisor.
fn exercise(kind: Kind) {
    if let Some(missing) = kind.tools().iter().find(|tool| !support::on_path(tool)) {
        return support::skip(&format!(
            "the {} test: `{missing}` is not installed (Debian package: {})",
            kind.name(),
            kind.package()
        ));
    }
    let lab = Lab::new(kind);
    lab.make_source(1);
    lab.make_source(2);
    lab.deploy(&[lab.source(1).to_str().unwrap()], "");
    lab.install_service();
    let supervisor = lab.start_supervisor();
    let _logs = ShowLogsOnPanic(&lab);

    // Generation 1 runs in release 1, as a child of the process the supervisor watches.
    let pid = support::wait_for(LONG, || lab.supervised_pid())
        .unwrap_or_else(|| panic!("{} never reported the service running", kind.name()));
    let gen1 = lab.wait_new_generation(&[]);
    assert_eq!(parent_of(gen1), Some(pid), "generation 1 is not a child of hupwatch");
    assert_eq!(lab.release_of(gen1), "1");

    // Deploy release 2, then reload through the supervisor's own command.
    lab.deploy(&[lab.source(2).to_str().unwrap()], "");
    let reload = lab.reload_command();
    let out = sh(&reload);
    assert!(out.status.success(), "`{reload}` failed: {}", text(&out));
    let gen2 = lab.wait_new_generation(&[gen1]);
    assert_eq!(lab.release_of(gen2), "2", "the new generation must run the new release");
    assert_eq!(parent_of(gen2), Some(pid), "generation 2 is not a child of hupwatch");
    lab.wait_terminated(gen1);
    lab.wait_only_child(pid, gen2);
    assert_eq!(lab.supervised_pid(), Some(pid), "the supervisor reports another pid");

    // Roll back; this time the deploy script runs the supervisor's reload command.
    lab.deploy(&["rollback"], &reload);
    let gen3 = lab.wait_new_generation(&[gen1, gen2]);
    assert_eq!(lab.release_of(gen3), "1", "after the rollback, release 1 must serve");
    lab.wait_terminated(gen2);
    lab.wait_only_child(pid, gen3);
    assert_eq!(lab.supervised_pid(), Some(pid), "the supervisor reports another pid");

    // Stop through the supervisor: the serving generation gets SIGTERM, then
    // nothing the supervisor started is left.
    let stop = lab.stop_command();
    let out = sh(&stop);
    assert!(out.status.success(), "`{stop}` failed: {}", text(&out));
    lab.wait_terminated(gen3);
    assert!(support::wait_until(LONG, || !support::alive(pid)), "hupwatch (pid {pid}) is still running after `{stop}`");
    // Everything the supervisor started carries the tag of its Running guard.
    let started_by_supervisor =
        || -> Vec<i32> { supervisor.tagged().into_iter().filter(|&p| p != supervisor.pid()).collect() };
    support::wait_until(LONG, || started_by_supervisor().is_empty());
    let left = started_by_supervisor();
    assert!(left.is_empty(), "processes left after `{stop}`: {left:?}");
    assert_eq!(lab.supervised_pid(), None, "the supervisor still reports the service up");
    assert_eq!(lab.generations().len(), 3, "a generation was started behind our back");
}

#[derive(Clone, Copy)]
enum Kind {
    Supervisord,
    Runit,
    S6,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Supervisord => "supervisord",
            Kind::Runit => "runit",
            Kind::S6 => "s6",
        }
    }

    fn package(self) -> &'static str {
        match self {
            Kind::Supervisord => "supervisor",
            Kind::Runit => "runit",
            Kind::S6 => "s6 (it brings execline)",
        }
    }

    fn tools(self) -> &'static [&'static str] {
        match self {
            Kind::Supervisord => &["supervisord", "supervisorctl"],
            Kind::Runit => &["runsv", "sv", "chpst"],
            Kind::S6 => &["s6-supervise", "s6-svc", "s6-svstat", "execlineb"],
        }
    }
}

/// One temporary directory: the app root (releases/ and current), the sources
/// of two releases, the service definition, the supervisor's files and the
/// records the generations write.
struct Lab {
    kind: Kind,
    dir: TempDir,
}

impl Lab {
    fn new(kind: Kind) -> Lab {
        let dir = TempDir::new(kind.name());
        for sub in ["app", "src", "service", "records"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        Lab { kind, dir }
    }

    fn app(&self) -> PathBuf {
        self.dir.join("app")
    }

    fn service(&self) -> PathBuf {
        self.dir.join("service").join("app")
    }

    fn records(&self) -> PathBuf {
        self.dir.join("records")
    }

    fn source(&self, n: u32) -> PathBuf {
        self.dir.join("src").join(n.to_string())
    }

    /// A release whose bin/server becomes the test child recording its signals
    /// in records/gen.PID (a first line "ready", then one signal number a line;
    /// it exits 0 on SIGTERM).
    fn make_source(&self, n: u32) {
        let bin = self.source(n).join("bin");
        fs::create_dir_all(&bin).unwrap();
        let script = format!(
            "#!/bin/sh\n# Test server, release {n}.\nexec '{}' echo-signals '{}/gen.'$$\n",
            support::child_bin().display(),
            self.records().display()
        );
        write_executable(&bin.join("server"), &script);
    }

    /// Runs deploy/symlink-deploy/deploy on the lab's app root.
    fn deploy(&self, args: &[&str], reload: &str) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/symlink-deploy/deploy");
        let out = Command::new(script)
            .args(args)
            .env("APP_ROOT", self.app())
            .env("APP_RELOAD", reload)
            .stdin(Stdio::null())
            .output()
            .expect("running deploy/symlink-deploy/deploy");
        assert!(out.status.success(), "deploy {args:?} failed: {}", text(&out));
    }

    /// Installs the example of deploy/ for this supervisor, pointed at the
    /// binary under test and the lab's app root, without its switch to the app
    /// user (the tests run as whatever user runs them).
    fn install_service(&self) {
        let app = self.app();
        let app = app.to_str().unwrap();
        match self.kind {
            Kind::Supervisord => {
                let program = adapt(&example("supervisord/hupwatch-app.conf"), app, "user=app\n");
                let conf_d = self.dir.join("conf.d");
                fs::create_dir_all(&conf_d).unwrap();
                fs::write(conf_d.join("app.conf"), program).unwrap();
                let d = self.dir.path().display();
                let main = format!(
                    "[unix_http_server]\nfile={d}/supervisor.sock\n\n\
                     [supervisord]\nnodaemon=true\nlogfile={d}/supervisord.log\n\
                     pidfile={d}/supervisord.pid\nchildlogdir={d}\n\n\
                     [rpcinterface:supervisor]\n\
                     supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
                     [supervisorctl]\nserverurl=unix://{d}/supervisor.sock\n\n\
                     [include]\nfiles = {d}/conf.d/*.conf\n"
                );
                fs::write(self.supervisord_conf(), main).unwrap();
            }
            Kind::Runit => {
                let run = adapt(&example("runit/app/run"), app, "chpst -u app ");
                fs::create_dir_all(self.service()).unwrap();
                write_executable(&self.service().join("run"), &run);
            }
            Kind::S6 => {
                let run = adapt(&example("s6/app/run"), app, "s6-setuidgid app\n");
                fs::create_dir_all(self.service()).unwrap();
                write_executable(&self.service().join("run"), &run);
                let timeout = example("s6/app/timeout-kill");
                fs::write(self.service().join("timeout-kill"), timeout).unwrap();
            }
        }
    }

    fn supervisord_conf(&self) -> PathBuf {
        self.dir.join("supervisord.conf")
    }

    /// Starts the supervisor in the foreground, its output in supervisor.out.
    /// Dropping the result kills it and everything it started.
    fn start_supervisor(&self) -> Running {
        let out = fs::File::create(self.dir.join("supervisor.out")).unwrap();
        let mut command = match self.kind {
            Kind::Supervisord => {
                let mut c = Command::new("supervisord");
                c.arg("-n").arg("-c").arg(self.supervisord_conf());
                c
            }
            Kind::Runit => {
                let mut c = Command::new("runsv");
                c.arg(self.service());
                c
            }
            Kind::S6 => {
                let mut c = Command::new("s6-supervise");
                c.arg(self.service());
                c
            }
        };
        command.current_dir(self.dir.path()).stdin(Stdio::null()).stdout(out.try_clone().unwrap()).stderr(out);
        Running::spawn_raw(&mut command)
    }

    fn reload_command(&self) -> String {
        match self.kind {
            Kind::Supervisord => {
                format!("supervisorctl -c '{}' signal HUP app", self.supervisord_conf().display())
            }
            Kind::Runit => format!("sv hup '{}'", self.service().display()),
            Kind::S6 => format!("s6-svc -h '{}'", self.service().display()),
        }
    }

    fn stop_command(&self) -> String {
        match self.kind {
            Kind::Supervisord => {
                format!("supervisorctl -c '{}' stop app", self.supervisord_conf().display())
            }
            Kind::Runit => format!("sv -w 30 stop '{}'", self.service().display()),
            Kind::S6 => format!("s6-svc -wd -T 30000 -d '{}'", self.service().display()),
        }
    }

    /// The pid the supervisor's own status command reports for the service, if
    /// it reports exactly one service and that one running.
    fn supervised_pid(&self) -> Option<i32> {
        match self.kind {
            Kind::Supervisord => {
                // "app    RUNNING   pid 1234, uptime 0:00:03"
                let conf = self.supervisord_conf();
                let out = sh(&format!("supervisorctl -c '{}' status", conf.display()));
                let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
                let [line] = lines[..] else { return None };
                match line.split_whitespace().collect::<Vec<_>>()[..] {
                    ["app", "RUNNING", "pid", pid, ..] => pid.trim_end_matches(',').parse().ok(),
                    _ => None,
                }
            }
            Kind::Runit => {
                // "run: /path/app: (pid 1234) 3s"
                let out = sh(&format!("sv status '{}'", self.service().display()));
                let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                let rest = stdout.strip_prefix("run: ")?;
                rest.split("(pid ").nth(1)?.split(')').next()?.parse().ok()
            }
            Kind::S6 => {
                // "true 1234"
                let out = sh(&format!("s6-svstat -o up,pid '{}'", self.service().display()));
                let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                match stdout.split_whitespace().collect::<Vec<_>>()[..] {
                    ["true", pid] => pid.parse().ok(),
                    _ => None,
                }
            }
        }
    }

    /// Pids of every generation started so far (their records).
    fn generations(&self) -> Vec<i32> {
        support::pids_with_prefix(&self.records(), "gen")
    }

    /// Waits for a generation that is not in `known` to be up, and returns it.
    fn wait_new_generation(&self, known: &[i32]) -> i32 {
        support::wait_for(LONG, || {
            self.generations()
                .into_iter()
                .find(|pid| !known.contains(pid) && self.signals(*pid).first().is_some_and(|l| l == "ready"))
        })
        .unwrap_or_else(|| panic!("no new generation started (known: {known:?})"))
    }

    /// What generation `pid` recorded: "ready", then signal numbers.
    fn signals(&self, pid: i32) -> Vec<String> {
        support::lines(self.records().join(format!("gen.{pid}")))
    }

    /// Waits until generation `pid` has recorded SIGTERM and is gone.
    fn wait_terminated(&self, pid: i32) {
        let term = libc::SIGTERM.to_string();
        let done = support::wait_until(LONG, || self.signals(pid).contains(&term) && !support::alive(pid));
        assert!(done, "generation {pid} did not get SIGTERM and exit: {:?}", self.signals(pid));
    }

    /// Waits until `serving` is the only live child of hupwatch (`pid`).
    fn wait_only_child(&self, pid: i32, serving: i32) {
        let done = support::wait_until(LONG, || support::live_children(pid) == [serving]);
        assert!(done, "hupwatch's children are {:?}, not just {serving}", support::live_children(pid));
    }

    /// The number of the release a process runs in.
    fn release_of(&self, pid: i32) -> String {
        let cwd = support::cwd(pid).expect("cwd of a generation");
        let releases = self.app().join("releases");
        let release = cwd
            .strip_prefix(&releases)
            .unwrap_or_else(|_| panic!("generation {pid} runs in {cwd:?}, not in a release under {releases:?}"));
        release.display().to_string()
    }
}

/// Prints what the supervisor, hupwatch and the generations wrote, when the
/// test fails (declared after the supervisor, so it runs before the kill).
struct ShowLogsOnPanic<'a>(&'a Lab);

impl Drop for ShowLogsOnPanic<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let mut files: Vec<PathBuf> = [self.0.dir.path(), self.0.records().as_path()]
            .iter()
            .filter_map(|dir| fs::read_dir(dir).ok())
            .flat_map(|d| d.flatten().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.ends_with(".out") || name.ends_with(".log") || name.starts_with("gen.")
            })
            .collect();
        files.sort();
        for file in files {
            eprintln!("--- {} ---\n{}", file.display(), support::read(&file));
        }
    }
}

/// Reads an example of deploy/.
fn example(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(path);
    fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {}: {e}", full.display()))
}

/// Points an example at the binary under test and the lab's app root, and
/// removes `user` (its switch to the app user). Each piece must be in the
/// example, so that a changed example fails here instead of going untested.
fn adapt(example: &str, app: &str, user: &str) -> String {
    for piece in ["/usr/local/bin/hupwatch", "/srv/app/current", user] {
        assert!(example.contains(piece), "the example no longer contains {piece:?}");
    }
    let hupwatch = support::hupwatch_bin();
    example.replace("/usr/local/bin/hupwatch", hupwatch.to_str().unwrap()).replace("/srv/app", app).replace(user, "")
}

fn write_executable(path: &Path, content: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn sh(command: &str) -> Output {
    Command::new("sh").args(["-c", command]).stdin(Stdio::null()).output().expect("running sh")
}

fn text(out: &Output) -> String {
    format!(
        "{}; stdout: {}; stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn parent_of(pid: i32) -> Option<i32> {
    support::stat(pid).map(|s| s.ppid)
}
