//! hupwatch as PID 1 of a real container. podman with runc runs the Dockerfile's final stage,
//! built FROM scratch from the static hupwatch under test (`--build-arg HUPWATCH_FROM=context`,
//! so nothing is pulled), with one more layer holding static busybox and the static test child
//! and server. Checked for real: a reload by `podman kill --signal HUP` and one by `podman
//! exec C kill -HUP 1`, each starting a new generation and stopping the old; orphans made inside
//! the container reaped by hupwatch; `podman stop` delivering TERM, with the container's exit
//! code the serving generation's; and a `--listen` + `--notify` server on the host network
//! answering a client load on loopback with no failed request across 8 reloads.
//!
//! Under emulation (`HUPWATCH_EMULATOR`) the image also holds the emulator, which runs the
//! foreign hupwatch as PID 1 and its generations natively.

mod support;

use std::fs;
use std::io::{self, Read};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;
use support::*;

/// What podman needs on this kind of machine: the vfs storage driver and cgroupfs (no
/// systemd), and runc (crun fails on this host's cgroup layout).
const PODMAN: [&str; 6] = ["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime", "runc"];
/// podman's default limits are above this machine's hard limits, which runc may not raise.
const LIMITS: [&str; 4] = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"];
/// How long one podman command may take (an image build copies a few MB with vfs).
const PODMAN_TIMEOUT: Duration = Duration::from_secs(120);

static NAMES: AtomicUsize = AtomicUsize::new(0);

/// A name no other test (or test run) uses.
fn unique(what: &str) -> String {
    format!("hupwatch-test-{}-{}-{what}", std::process::id(), NAMES.fetch_add(1, Ordering::SeqCst))
}

/// Why podman cannot run containers here, or None when it can.
fn podman_missing() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("the container tests need root (podman with runc, as CI runs them)".into());
    }
    for (program, package) in [("podman", "podman"), ("runc", "runc")] {
        if !on_path(program) {
            return Some(format!("{program} not found (Debian package: {package})"));
        }
    }
    None
}

/// podman with its own storage and state in a temporary directory: each test's images and
/// containers (and the intermediate images of a multi-stage build) are gone with it, so the
/// tests leave nothing behind and never meet another run's.
struct Podman {
    dir: TempDir,
}

impl Podman {
    fn new() -> Podman {
        Podman { dir: TempDir::new("podman") }
    }

    /// Runs podman with `args`; returns (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = Command::new("podman");
        cmd.args(PODMAN).arg("--root").arg(self.dir.join("root")).arg("--runroot").arg(self.dir.join("run"));
        cmd.arg("--tmpdir").arg(self.dir.join("tmp")).args(args).stdin(Stdio::null());
        run_to_end(&mut cmd, PODMAN_TIMEOUT)
    }

    /// Runs podman with `args` and returns its stdout, panicking with its stderr when it fails.
    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "podman {} failed ({code}):\n{err}{out}", args.join(" "));
        out
    }
}

/// The test image's name.
const IMAGE: &str = "localhost/hupwatch-test";

/// Builds the test image: the Dockerfile's final stage from the static hupwatch under test,
/// then a layer with busybox (`/bin/busybox`), the test child (`/child`), the test server
/// (`/server`) and, under emulation, the emulator (`/emulator`). None when podman cannot run
/// here (a skip).
fn build_image() -> Option<Podman> {
    if let Some(reason) = podman_missing() {
        skip(&reason);
        return None;
    }
    let busybox = Path::new("/bin/busybox");
    if !is_static_elf(busybox) {
        skip("/bin/busybox is missing or not static (install busybox-static)");
        return None;
    }
    let build = match static_build() {
        Ok(build) => build,
        Err(reason) => {
            skip(&reason);
            return None;
        }
    };
    let podman = Podman::new();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));

    // The Dockerfile's final stage, exactly as it is, with the binary from the context.
    let context = TempDir::new("image-context");
    fs::create_dir_all(context.join("deploy/image")).unwrap();
    fs::copy(repo.join("Dockerfile"), context.join("Dockerfile")).unwrap();
    fs::copy(repo.join("deploy/image/tmp.tar"), context.join("deploy/image/tmp.tar")).unwrap();
    fs::copy(&build.hupwatch, context.join("hupwatch")).unwrap();
    let base = "localhost/hupwatch";
    let from = ["--build-arg", "HUPWATCH_FROM=context", "--build-arg", "HUPWATCH_BINARY=hupwatch"];
    podman.ok(&[&["build", "--tag", base][..], &from, &[context.path().to_str().unwrap()]].concat());

    // The test's own layer on top.
    let layer = TempDir::new("test-layer");
    let mut containerfile = format!("FROM {base}\nCOPY busybox /bin/busybox\nCOPY child /child\nCOPY server /server\n");
    for (from, to) in [(busybox, "busybox"), (build.child.as_path(), "child"), (build.server.as_path(), "server")] {
        fs::copy(from, layer.join(to)).unwrap();
    }
    if let Some(emulator) = emulator_bin() {
        fs::copy(emulator, layer.join("emulator")).unwrap();
        containerfile.push_str("COPY emulator /emulator\n");
    }
    fs::write(layer.join("Containerfile"), containerfile).unwrap();
    let file = layer.join("Containerfile");
    podman.ok(&["build", "--tag", IMAGE, "--file", file.to_str().unwrap(), layer.path().to_str().unwrap()]);
    Some(podman)
}

/// A running container, force-removed (with everything in it) when dropped.
struct Container<'a> {
    podman: &'a Podman,
    name: String,
    /// hupwatch, the container's PID 1, as seen from here.
    pid: i32,
}

impl Container<'_> {
    /// Runs the test image detached with `state` mounted at /state, on the host network.
    /// `options` are hupwatch's (the image's entrypoint is `/hupwatch --`, used as it is when
    /// there are none and nothing is emulated); `command` is the generations' command.
    fn run<'a>(podman: &'a Podman, state: &TempDir, options: &[&str], command: &[&str]) -> Container<'a> {
        let name = unique("container");
        let volume = format!("{}:/state", state.path().display());
        let mut args = vec!["run", "--detach", "--name", &name, "--network", "host", "--log-driver", "k8s-file"];
        args.extend(LIMITS);
        args.extend(["--volume", &volume]);
        let mut entry: Vec<String> = Vec::new();
        if emulator().is_some() || !options.is_empty() {
            entry.extend(emulator().map(|_| "/emulator".to_string()));
            entry.push("/hupwatch".into());
            entry.extend(options.iter().map(|o| o.to_string()));
            entry.push("--".into());
        }
        let entrypoint = format!("[{}]", entry.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>().join(","));
        if !entry.is_empty() {
            args.extend(["--entrypoint", &entrypoint]);
        }
        args.push(IMAGE);
        args.extend(command);
        podman.ok(&args);
        let mut container = Container { podman, name, pid: 0 };
        let pid = podman.ok(&["inspect", "--format", "{{.State.Pid}}", &container.name]);
        container.pid = pid.trim().parse().unwrap_or_else(|_| panic!("no pid for the container: {pid:?}"));
        assert!(container.pid > 0, "container not running; log:\n{}", container.log());
        container
    }

    /// Runs `podman VERB [ARG]... CONTAINER`.
    fn podman(&self, verb: &[&str]) -> String {
        self.podman.ok(&[verb, &[self.name.as_str()]].concat())
    }

    /// Runs `podman exec CONTAINER COMMAND...`.
    fn exec(&self, command: &[&str]) -> String {
        self.podman.ok(&[&["exec", self.name.as_str()][..], command].concat())
    }

    /// What the container wrote (hupwatch's log).
    fn log(&self) -> String {
        let (_, out, err) = self.podman.run(&["logs", &self.name]);
        out + &err
    }

    /// Waits for the container to stop and returns its exit code.
    fn wait(&self) -> i32 {
        let out = self.podman(&["wait"]);
        out.trim().parse().unwrap_or_else(|_| panic!("podman wait said {out:?}"))
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self.podman.run(&["rm", "--force", "--time", "0", &self.name]);
    }
}

/// Pids (inside the container) of the generations that wrote `PREFIX.PID` into `state`.
fn generations(state: &TempDir, prefix: &str) -> Vec<i32> {
    pids_with_prefix(state.path(), prefix)
}

/// Waits for a generation besides `known` to start; returns its pid inside the container.
fn next_generation(state: &TempDir, container: &Container, known: &[i32]) -> i32 {
    wait_for(LONG, || generations(state, "started").into_iter().find(|p| !known.contains(p)))
        .unwrap_or_else(|| panic!("no new generation after {known:?}; log:\n{}", container.log()))
}

#[test]
fn podman_kill_and_exec_kill_reload_and_podman_stop_gives_the_serving_exit_code() {
    let Some(podman) = build_image() else { return };
    let state = TempDir::new("container-reload");
    // Generation 1 exits 5 when stopped, every later one 7: the container must end with 7.
    fs::write(state.join("mode"), "serve 5\n").unwrap();
    let container = Container::run(&podman, &state, &[], &["/child", "serve", "/state"]);
    let first = next_generation(&state, &container, &[]);
    fs::write(state.join("mode"), "serve 7\n").unwrap();

    // The image's /tmp, where --notify keeps its sockets, is writable by everyone.
    let mode = container.exec(&["/bin/busybox", "stat", "-c", "%a", "/tmp"]);
    assert_eq!(mode.trim(), "1777", "the image's /tmp");

    // From outside: podman kill --signal HUP (the runtime signals PID 1).
    container.podman(&["kill", "--signal", "HUP"]);
    let second = next_generation(&state, &container, &[first]);
    assert!(
        wait_until(LONG, || state.join(format!("term.{first}")).exists()),
        "generation 1 was not stopped after podman kill --signal HUP; log:\n{}",
        container.log()
    );

    // From inside: kill -HUP 1 in the container's namespaces.
    container.exec(&["/bin/busybox", "kill", "-HUP", "1"]);
    let third = next_generation(&state, &container, &[first, second]);
    assert!(
        wait_until(LONG, || state.join(format!("term.{second}")).exists()),
        "generation 2 was not stopped after kill -HUP 1 inside; log:\n{}",
        container.log()
    );
    assert!(!state.join(format!("term.{third}")).exists(), "the serving generation was stopped");

    // podman stop: TERM to hupwatch, passed on to the serving generation, whose status (7,
    // not generation 1's 5, not 137 for a SIGKILL after podman's timeout) is the container's.
    container.podman(&["stop", "--time", "60"]);
    assert_eq!(container.wait(), 7, "the container's exit code; log:\n{}", container.log());
    let term = read(state.join(format!("term.{third}")));
    assert_eq!(field(&term, "sig"), Some(libc::SIGTERM.to_string()), "generation 3's record:\n{term}");
}

#[test]
fn orphans_made_inside_the_container_are_reaped() {
    const ORPHANS: usize = 3;
    let Some(podman) = build_image() else { return };
    let state = TempDir::new("container-orphans");
    fs::write(state.join("mode"), format!("orphans {ORPHANS}\n")).unwrap();
    let container = Container::run(&podman, &state, &[], &["/child", "serve", "/state"]);
    let hw = container.pid;
    let inner = next_generation(&state, &container, &[]);
    let generation = wait_for(LONG, || descendants(hw).into_iter().find(|&p| ns_pid(p) == Some(inner)))
        .expect("generation 1 not found from the host");
    assert!(wait_until(LONG, || generations(&state, "orphan").len() == ORPHANS), "the orphans did not start");
    assert!(
        wait_until(LONG, || live_children(hw).len() == 1 + ORPHANS),
        "the orphans were not adopted by hupwatch (PID 1); its children: {:?}",
        children(hw)
    );
    // The orphans exit; hupwatch, their parent now, must reap every one.
    fs::write(state.join("orphans-exit"), "").unwrap();
    assert!(
        wait_until(LONG, || children(hw) == vec![generation]),
        "orphans not reaped: children of PID 1: {:?} (zombies: {:?}); log:\n{}",
        children(hw),
        zombie_children(hw),
        container.log()
    );
    container.podman(&["stop", "--time", "60"]);
    assert_eq!(container.wait(), 0, "log:\n{}", container.log());
}

/// One request: connect, read the line `pid N`, return N.
fn ask(port: u16) -> io::Result<i32> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(LONG))?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    text.trim()
        .strip_prefix("pid ")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| io::Error::other(format!("unexpected answer {text:?}")))
}

#[test]
fn listen_and_notify_server_in_a_container_drops_no_request_across_reloads() {
    const RELOADS: usize = 8;
    const CLIENTS: usize = 4;
    let Some(podman) = build_image() else { return };
    let state = TempDir::new("container-load");
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
    let listen = format!("tcp:127.0.0.1:{port}");
    let options = ["-w", "0.2", "--listen", &listen, "--notify"];
    let command = ["/server", "--report-dir", "/state", "--ready-after", "100"];
    let container = Container::run(&podman, &state, &options, &command);
    let mut gens = vec![next_report(&state, &container, &[])];

    // Clients on the host keep asking, each answer naming the generation that gave it.
    let stop = Arc::new(AtomicBool::new(false));
    let last = Arc::new(AtomicI32::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stop, last) = (stop.clone(), last.clone());
            std::thread::spawn(move || {
                let mut outcomes = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let outcome = ask(port);
                    if let Ok(pid) = outcome {
                        last.store(pid, Ordering::SeqCst);
                    }
                    outcomes.push(outcome);
                    // Pacing, so that TIME_WAIT connections never use up the ports.
                    std::thread::sleep(Duration::from_millis(2));
                }
                outcomes
            })
        })
        .collect();
    assert!(wait_until(LONG, || last.load(Ordering::SeqCst) == gens[0]), "generation 1 never answered");

    for _ in 0..RELOADS {
        let old = *gens.last().unwrap();
        container.podman(&["kill", "--signal", "HUP"]);
        let new = next_report(&state, &container, &gens);
        assert!(
            wait_until(LONG, || state.join(format!("term.{old}")).exists()),
            "generation {old} was not stopped; log:\n{}",
            container.log()
        );
        assert!(
            wait_until(LONG, || last.load(Ordering::SeqCst) == new),
            "generation {new} never answered; log:\n{}",
            container.log()
        );
        gens.push(new);
    }
    stop.store(true, Ordering::SeqCst);
    let outcomes: Vec<io::Result<i32>> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    let failed: Vec<String> = outcomes.iter().filter_map(|o| o.as_ref().err()).map(|e| e.to_string()).collect();
    let strangers: Vec<i32> =
        outcomes.iter().filter_map(|o| o.as_ref().ok()).copied().filter(|p| !gens.contains(p)).collect();
    eprintln!("{} requests across {RELOADS} reloads in a container, {} failed", outcomes.len(), failed.len());
    assert!(failed.is_empty(), "{} of {} requests failed: {failed:?}", failed.len(), outcomes.len());
    assert!(strangers.is_empty(), "answered by unknown pids {strangers:?}");
    container.podman(&["stop", "--time", "60"]);
    assert_eq!(container.wait(), 0, "log:\n{}", container.log());
}

/// Waits for the report of a server generation besides `known`; returns its pid inside the
/// container.
fn next_report(state: &TempDir, container: &Container, known: &[i32]) -> i32 {
    wait_for(LONG, || generations(state, "report").into_iter().find(|p| !known.contains(p)))
        .unwrap_or_else(|| panic!("no report from a new generation after {known:?}; log:\n{}", container.log()))
}
