//! Shared helpers of the integration tests: where the binaries are, a guard that runs hupwatch
//! and kills everything it started when dropped (also on panic), bounded polling, /proc readers
//! and temporary directories; in submodules, the clock the tests share with the test server,
//! verdicts about time that hold on a slow machine, and the records of the two programs the
//! tests run under hupwatch. std and libc only.
#![allow(dead_code)]

mod clock;
mod generations;
mod load;
mod reports;
mod service;
mod timing;

// Each test file uses some of them.
#[allow(unused_imports)]
pub use {clock::monotonic_ns, generations::*, load::*, reports::*, service::Service, timing::*};

use std::fs;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a test waits for something that should happen promptly. Generous on purpose:
/// polling ends as soon as the condition holds, so only a failing test waits this long.
pub const LONG: Duration = Duration::from_secs(15);

/// The hupwatch binary under test: the one cargo built for this test run, or
/// `$HUPWATCH_BIN` (so the same suite runs against the static tiny build).
pub fn hupwatch_bin() -> PathBuf {
    std::env::var_os("HUPWATCH_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hupwatch")), PathBuf::from)
}

/// Where cargo put this test run's example programs.
fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hupwatch")).parent().unwrap().join("examples")
}

/// The helper program (tests/support/child.rs), an example target built next to hupwatch.
pub fn child_bin() -> PathBuf {
    let path = examples_dir().join("hupwatch-test-child");
    assert!(
        path.exists(),
        "{} is missing: run the whole `cargo test` (it builds the examples) \
         or `cargo build --examples` first",
        path.display()
    );
    path
}

/// Skips the rest of a test for `reason`, loudly. With `HUPWATCH_TEST_ALL=1` (CI sets it) a
/// skip is a failure instead: CI must never pass by skipping. The caller returns after it.
pub fn skip(reason: &str) {
    if std::env::var_os("HUPWATCH_TEST_ALL").is_some_and(|v| v == "1") {
        panic!("HUPWATCH_TEST_ALL=1 forbids skipping, but: {reason}");
    }
    eprintln!("SKIP: {reason}");
}

/// The emulator the binary under test runs in (`HUPWATCH_EMULATOR`, e.g. `qemu-aarch64`), set
/// when `HUPWATCH_BIN` is a wrapper that runs a foreign-architecture build under qemu-user.
pub fn emulator() -> Option<String> {
    std::env::var("HUPWATCH_EMULATOR").ok().filter(|e| !e.is_empty())
}

/// Why real-time signal numbers cannot be checked under qemu-user: it keeps the host's first two
/// real-time signals for itself, so the guest's signal N is the host's N + 2 (and the host's
/// last two have no guest number): RTMIN+2 named by hupwatch arrives as 38, a child killed
/// by host signal 34 is reported to hupwatch as 32.
pub const RT_SIGNALS_UNDER_QEMU: &str = "qemu-user shifts real-time signal numbers by 2 between guest and host";

/// For a check that cannot hold under user-mode emulation (qemu has no subreaper, loses
/// ignored dispositions at exec, runs slower): true, with the reason printed, only when the
/// binary runs under an emulator; false everywhere else, so nothing else is ever skipped.
pub fn skip_under_emulation(reason: &str) -> bool {
    let Some(emulator) = emulator() else { return false };
    // Straight to stderr: the test harness captures eprintln! of passing tests.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIP under {emulator}: {reason}");
    true
}

/// The emulator's own static executable (`qemu-aarch64-static` from qemu-user-static for
/// `HUPWATCH_EMULATOR=qemu-aarch64`), which an empty root or a container image needs next to a
/// foreign-architecture hupwatch. None when not emulated.
pub fn emulator_bin() -> Option<PathBuf> {
    let emulator = emulator()?;
    Some(
        which(&format!("{emulator}-static"))
            .unwrap_or_else(|| panic!("{emulator}-static not found (qemu-user-static)")),
    )
}

/// Whether `pid` has exec'd `bin` (its /proc/PID/exe). Under emulation the process is the
/// emulator running `bin`, so there it is whether its executable is the emulator.
pub fn runs(pid: i32, bin: &Path) -> bool {
    let Ok(exe) = fs::read_link(format!("/proc/{pid}/exe")) else { return false };
    match emulator() {
        Some(emulator) => exe.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&emulator)),
        None => bin.canonicalize().is_ok_and(|bin| bin == exe),
    }
}

/// The lines of hupwatch's stderr. Under emulation less the warning every start logs there
/// (qemu-user refuses PR_SET_CHILD_SUBREAPER), said when one is left out.
pub fn log_lines(stderr: &str) -> Vec<&str> {
    const SUBREAPER: &str = "warn: cannot become a child subreaper: Invalid argument";
    stderr
        .lines()
        .filter(|l| !(l.ends_with(SUBREAPER) && skip_under_emulation("qemu-user has no child subreaper (not counted)")))
        .collect()
}

/// Polls `cond` every 10 ms until it holds (true) or `timeout` has passed (false).
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `f` until it returns Some, for at most `timeout`.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let mut found = None;
    wait_until(timeout, || {
        found = f();
        found.is_some()
    });
    found
}

// ---------------------------------------------------------------------------------------------
// Temporary directories

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory under the system temp dir, removed with its contents on Drop.
/// Its path is canonical, so it compares equal to what /proc/PID/cwd shows.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base = std::env::temp_dir().canonicalize().expect("temp dir");
        let path = base.join(format!("hupwatch-test-{}-{n}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------------------------
// /proc

/// The fields of /proc/PID/stat the tests use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
}

pub fn stat(pid: i32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 2..];
    let mut fields = after.split(' ');
    Some(Stat {
        state: fields.next()?.chars().next()?,
        ppid: fields.next()?.parse().ok()?,
        pgrp: fields.next()?.parse().ok()?,
        session: fields.next()?.parse().ok()?,
    })
}

/// The process exists in /proc (zombies included).
pub fn exists(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The process exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    matches!(stat(pid), Some(s) if s.state != 'Z' && s.state != 'X')
}

pub fn is_zombie(pid: i32) -> bool {
    matches!(stat(pid), Some(s) if s.state == 'Z')
}

/// Every pid in /proc.
pub fn all_pids() -> Vec<i32> {
    let mut pids: Vec<i32> =
        fs::read_dir("/proc").expect("/proc").flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
    pids.sort_unstable();
    pids
}

/// Children of `pid` (zombies included), found by scanning the ppid of every process.
pub fn children(pid: i32) -> Vec<i32> {
    all_pids().into_iter().filter(|&p| stat(p).is_some_and(|s| s.ppid == pid)).collect()
}

/// Live (non-zombie) children of `pid`.
pub fn live_children(pid: i32) -> Vec<i32> {
    children(pid).into_iter().filter(|&p| alive(p)).collect()
}

/// Zombie children of `pid`.
pub fn zombie_children(pid: i32) -> Vec<i32> {
    children(pid).into_iter().filter(|&p| is_zombie(p)).collect()
}

/// Every descendant of `pid`, depth first.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut found = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for c in children(p) {
            found.push(c);
            todo.push(c);
        }
    }
    found
}

/// Open descriptors of `pid` with their targets, sorted by number.
pub fn fds(pid: i32) -> Vec<(i32, String)> {
    let mut out: Vec<(i32, String)> = fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| {
                    let fd = e.file_name().to_str()?.parse().ok()?;
                    let target = fs::read_link(e.path()).ok()?;
                    Some((fd, target.to_string_lossy().into_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

pub fn cwd(pid: i32) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

/// A field of /proc/PID/status, e.g. "SigBlk".
pub fn status_field(pid: i32, key: &str) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| Some(l.strip_prefix(key)?.strip_prefix(':')?.trim().to_string()))
}

/// The environment of `pid`, one "KEY=VALUE" per entry.
pub fn environ(pid: i32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/environ"))
        .map(|bytes| {
            bytes
                .split(|&b| b == 0)
                .filter(|e| !e.is_empty())
                .map(|e| String::from_utf8_lossy(e).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The pid of `pid` in the innermost PID namespace it belongs to (last field of NSpid).
pub fn ns_pid(pid: i32) -> Option<i32> {
    status_field(pid, "NSpid")?.split_whitespace().last()?.parse().ok()
}

/// A bit mask (as /proc shows SigBlk and SigIgn) of the given signals.
pub fn sigmask(signals: &[i32]) -> String {
    let mask = signals.iter().fold(0u64, |m, &s| m | 1 << (s - 1));
    format!("{mask:016x}")
}

// ---------------------------------------------------------------------------------------------
// Signals

pub fn kill(pid: i32, sig: i32) -> bool {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, sig) == 0 }
}

pub fn sigrtmin() -> i32 {
    libc::SIGRTMIN()
}

pub fn sigrtmax() -> i32 {
    libc::SIGRTMAX()
}

/// The exit code a shell would report: the status, or 128+N when killed by signal N.
pub fn code_of(status: ExitStatus) -> i32 {
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

// ---------------------------------------------------------------------------------------------
// Files written by children

pub fn read(path: impl AsRef<Path>) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// The lines of a file (none when it does not exist).
pub fn lines(path: impl AsRef<Path>) -> Vec<String> {
    read(path).lines().map(str::to_string).collect()
}

/// Value of the first "key value" line in a key-per-line file.
pub fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| Some(l.strip_prefix(key)?.strip_prefix(' ')?.to_string()))
}

/// Pids named by the files `PREFIX.PID` in `dir`, sorted (temporaries excluded).
pub fn pids_with_prefix(dir: &Path, prefix: &str) -> Vec<i32> {
    let mut pids: Vec<i32> = fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_str()?.to_string();
                    name.strip_prefix(prefix)?.strip_prefix('.')?.parse().ok()
                })
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    pids
}

/// Reads a file holding one pid, waiting for it to appear.
pub fn wait_pid_file(path: &Path) -> i32 {
    wait_for(LONG, || read(path).trim().parse().ok()).unwrap_or_else(|| panic!("{} did not appear", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Running hupwatch

/// The environment variable every process of one test inherits, so that the guard can find
/// and kill them all, even those that were re-parented away from hupwatch.
const TAG_VAR: &str = "HUPWATCH_TEST_TAG";

/// A `Command` for hupwatch with `args`, stdin from /dev/null.
pub fn hupwatch(args: &[&str]) -> Command {
    let mut cmd = Command::new(hupwatch_bin());
    cmd.args(args).stdin(Stdio::null());
    cmd
}

/// The args for hupwatch running the child with `role` after `opts` and `--`.
pub fn with_child(opts: &[&str], role: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
    args.push("--".into());
    args.push(child_bin().to_string_lossy().into_owned());
    args.extend(role.iter().map(|s| s.to_string()));
    args
}

/// A `Command` for hupwatch with `opts`, then `--` and the test child with `role`.
pub fn hupwatch_child(opts: &[&str], role: &[&str]) -> Command {
    let args = with_child(opts, role);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    hupwatch(&args)
}

/// Runs `cmd` to completion with output captured, killing it after `timeout`.
pub fn run_to_end(cmd: &mut Command, timeout: Duration) -> (i32, String, String) {
    let dir = TempDir::new("run");
    let out = dir.join("stdout");
    let err = dir.join("stderr");
    cmd.stdout(fs::File::create(&out).unwrap()).stderr(fs::File::create(&err).unwrap());
    let mut running = Running::spawn_raw(cmd);
    let status = running.wait_exit(timeout);
    (code_of(status), read(&out), read(&err))
}

/// A running hupwatch (or a wrapper such as unshare around it). On Drop it SIGKILLs hupwatch
/// and every process that carries its tag, including re-parented orphans, and reaps hupwatch.
pub struct Running {
    child: Child,
    tag: String,
    /// Where hupwatch's stderr goes, when `spawn` set it up.
    pub stderr_path: Option<PathBuf>,
    _logs: Option<TempDir>,
}

impl Running {
    /// Spawns `cmd` with its stderr sent to a file `stderr()` reads.
    pub fn spawn(cmd: &mut Command) -> Running {
        let logs = TempDir::new("logs");
        let path = logs.join("stderr");
        cmd.stderr(fs::File::create(&path).expect("stderr file"));
        let mut running = Running::spawn_raw(cmd);
        running.stderr_path = Some(path);
        running._logs = Some(logs);
        running
    }

    /// Spawns `cmd` as it is (stdio as configured by the caller), tagged.
    pub fn spawn_raw(cmd: &mut Command) -> Running {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}-{n}", std::process::id());
        cmd.env(TAG_VAR, &tag);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
        Running { child, tag, stderr_path: None, _logs: None }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        assert!(kill(self.pid(), sig), "kill({}, {sig}) failed", self.pid());
    }

    /// What hupwatch wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr_path.as_ref().map(read).unwrap_or_default()
    }

    /// The exit status if it has exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Waits for the exit, panicking (after which Drop cleans up) when it takes too long.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let mut status = None;
        wait_until(timeout, || {
            status = self.try_exit();
            status.is_some()
        });
        status.unwrap_or_else(|| {
            panic!(
                "{:?} (pid {}) did not exit within {timeout:?}; stderr:\n{}",
                self.child_program(),
                self.pid(),
                self.stderr()
            )
        })
    }

    /// Waits for the exit and returns its code (128+N for signal N).
    pub fn wait_code(&mut self, timeout: Duration) -> i32 {
        code_of(self.wait_exit(timeout))
    }

    /// Shuts hupwatch down with SIGTERM and checks that it exits 0 (its serving generation's
    /// status) within LONG.
    pub fn stop(&mut self) {
        self.stop_expecting(0);
    }

    /// Shuts hupwatch down with SIGTERM and checks that it exits with `code` within LONG.
    pub fn stop_expecting(&mut self, code: i32) {
        self.signal(libc::SIGTERM);
        let status = self.wait_code(LONG);
        assert_eq!(status, code, "exit status after SIGTERM; stderr:\n{}", self.stderr());
    }

    pub fn is_running(&mut self) -> bool {
        self.try_exit().is_none()
    }

    fn child_program(&self) -> String {
        fs::read_to_string(format!("/proc/{}/comm", self.pid())).unwrap_or_default()
    }

    /// Processes that carry this run's tag in their environment.
    pub fn tagged(&self) -> Vec<i32> {
        let entry = format!("{TAG_VAR}={}", self.tag);
        all_pids().into_iter().filter(|&p| p != std::process::id() as i32 && environ(p).contains(&entry)).collect()
    }

    /// SIGKILLs hupwatch and everything tagged until nothing tagged is left.
    pub fn kill_all(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for _ in 0..500 {
            let left = self.tagged();
            if left.is_empty() {
                return;
            }
            for p in left {
                kill(p, libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// Makes `cmd` start with exactly `blocked` as its signal mask and `ignored` ignored, every
/// other signal at its default.
pub fn with_signal_state(cmd: &mut Command, blocked: &[i32], ignored: &[i32]) {
    let blocked = blocked.to_vec();
    let ignored = ignored.to_vec();
    // SAFETY: the closure only makes async-signal-safe calls (sigemptyset, sigaddset,
    // sigprocmask, rt_sigaction) on values prepared before fork, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for &s in &blocked {
                libc::sigaddset(&mut set, s);
            }
            if libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Every signal to its default first, whatever the test harness inherited (under
            // cargo, signal 32 arrives ignored), then ignore the requested ones. The raw
            // syscall, because the C library refuses to touch the signals it reserves.
            for s in 1..=64 {
                if s == libc::SIGKILL || s == libc::SIGSTOP {
                    continue;
                }
                let handler = if ignored.contains(&s) { libc::SIG_IGN } else { libc::SIG_DFL };
                let action: [u64; 4] = [handler as u64, 0, 0, 0];
                if libc::syscall(libc::SYS_rt_sigaction, s, action.as_ptr(), 0usize, 8usize) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Where `program` is on PATH (or in the sbin directories, which PATH may lack).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from);
    std::env::split_paths(&path).chain(extra).map(|dir| dir.join(program)).find(|p| p.is_file())
}

/// True when `program` exists on PATH.
pub fn on_path(program: &str) -> bool {
    which(program).is_some()
}

/// Whether this process may create PID namespaces: runs `unshare --pid --fork --mount-proc
/// true` once. The reason is printed when it may not.
pub fn can_unshare() -> bool {
    if !on_path("unshare") {
        skip("unshare(1) not found (Debian package: util-linux)");
        return false;
    }
    let out = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .stdin(Stdio::null())
        .output()
        .expect("run unshare");
    if out.status.success() {
        return true;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let lacks_privilege = err.contains("Operation not permitted") || err.contains("EPERM");
    assert!(lacks_privilege, "unshare failed for another reason than privilege: {err}");
    skip(&format!("unshare --pid --fork --mount-proc is not permitted here: {}", err.trim()));
    false
}

/// Writes an executable `run` script into `release` that runs the test child's `serve`
/// role in `state` with tag `name`: one release of a symlink deploy.
pub fn make_release(release: &Path, state: &Path, name: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(release).unwrap();
    let script = format!("#!/bin/sh\nexec '{}' serve '{}' {name}\n", child_bin().display(), state.display());
    let run = release.join("run");
    fs::write(&run, script).unwrap();
    fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Points `link` at `target` atomically, as `ln -sfn TARGET LINK.new && mv -T LINK.new LINK`.
pub fn switch_symlink(link: &Path, target: &str) {
    let tmp = link.with_extension("new-link");
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    fs::rename(&tmp, link).unwrap();
}

/// The stderr lines of `running` that contain every one of `words`.
pub fn log_lines_with(running: &Running, words: &[&str]) -> Vec<String> {
    running.stderr().lines().filter(|l| words.iter().all(|w| l.contains(w))).map(str::to_string).collect()
}

/// Waits until the log of `hw` has a line with every one of `words`.
pub fn wait_log(hw: &Running, words: &[&str]) {
    assert!(wait_until(LONG, || !log_lines_with(hw, words).is_empty()), "no log line with {words:?}:\n{}", hw.stderr());
}

/// Every line of `stderr` is `hupwatch[PID]: LEVEL: message`, PID being hupwatch's and LEVEL
/// one of error, warn, info, debug.
pub fn assert_log_format(stderr: &str, pid: i32) {
    let prefix = format!("hupwatch[{pid}]: ");
    for line in stderr.lines() {
        let rest = line.strip_prefix(&prefix);
        let ok = rest.is_some_and(|rest| {
            ["error: ", "warn: ", "info: ", "debug: "]
                .iter()
                .any(|level| rest.strip_prefix(level).is_some_and(|m| !m.is_empty()))
        });
        assert!(
            ok,
            "malformed log line {line:?} (want `{prefix}LEVEL: message`, LEVEL one of \
             error, warn, info, debug) in:\n{stderr}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Static executables for an empty root or a container image

/// The musl target of the static builds the tests make themselves.
pub const MUSL: &str = "x86_64-unknown-linux-musl";

/// Whether the ELF file at `path` (32- or 64-bit, little-endian) is statically linked: it
/// has no PT_INTERP program header.
pub fn is_static_elf(path: &Path) -> bool {
    let Ok(bytes) = fs::read(path) else { return false };
    if bytes.len() < 52 || &bytes[..4] != b"\x7fELF" || bytes[5] != 1 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()) as usize;
    let (phoff, phentsize, phnum) = match bytes[4] {
        1 => (u32_at(0x1c), u16_at(0x2a), u16_at(0x2c)),
        2 if bytes.len() >= 64 => (u32_at(0x20) | u32_at(0x24) << 32, u16_at(0x36), u16_at(0x38)),
        _ => return false,
    };
    (0..phnum).all(|i| {
        let at = phoff + i * phentsize;
        at + 4 <= bytes.len() && u32_at(at) != 3
    })
}

/// Static executables to put into an empty root or a scratch image.
pub struct StaticBuild {
    /// The hupwatch under test: `HUPWATCH_STATIC_BIN` when set (the foreign build behind an
    /// emulating `HUPWATCH_BIN` wrapper), else `HUPWATCH_BIN` when it is a static executable
    /// (the tiny builds), else the static musl release build made here.
    pub hupwatch: PathBuf,
    /// tests/support/server.rs and tests/support/child.rs, built for musl.
    pub server: PathBuf,
    pub child: PathBuf,
}

/// Builds the static musl release build of hupwatch and of the test programs once per test
/// binary, into their own target directory (so that it never waits for the lock of the
/// `cargo test` that runs us). Err says why it cannot (for `skip`).
pub fn static_build() -> Result<&'static StaticBuild, String> {
    static BUILD: std::sync::OnceLock<Result<StaticBuild, String>> = std::sync::OnceLock::new();
    BUILD.get_or_init(build_static).as_ref().map_err(String::clone)
}

fn build_static() -> Result<StaticBuild, String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc).args(["--print", "sysroot"]).output().map_err(|e| format!("rustc: {e}"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if !sysroot.join("lib/rustlib").join(MUSL).join("lib").is_dir() {
        return Err(format!("the {MUSL} target is not installed (rustup target add {MUSL})"));
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target_dir = manifest.join("target").join("static-test");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
    let log = TempDir::new("cargo-build");
    let log_path = log.join("log");
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--target", MUSL, "--bin", "hupwatch"])
        .args(["--example", "hupwatch-test-server", "--example", "hupwatch-test-child"])
        .current_dir(&manifest)
        .env("CARGO_TARGET_DIR", &target_dir)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&log_path).unwrap())
        .stderr(fs::File::create(&log_path).unwrap());
    let mut build = Running::spawn_raw(&mut cmd);
    let status = build.wait_exit(Duration::from_secs(600));
    assert!(status.success(), "static build failed:\n{}", read(&log_path));
    let release = target_dir.join(MUSL).join("release");
    let hupwatch = match (std::env::var_os("HUPWATCH_STATIC_BIN"), std::env::var_os("HUPWATCH_BIN")) {
        (Some(bin), _) => PathBuf::from(bin),
        (None, Some(bin)) if is_static_elf(Path::new(&bin)) => PathBuf::from(bin),
        (None, Some(bin)) if emulator().is_none() => {
            return Err(format!("HUPWATCH_BIN={} is not a static executable", bin.to_string_lossy()));
        }
        (None, Some(_)) => return Err("HUPWATCH_STATIC_BIN is not set: which binary does the wrapper run?".into()),
        (None, None) => release.join("hupwatch"),
    };
    let build = StaticBuild {
        hupwatch,
        server: release.join("examples").join("hupwatch-test-server"),
        child: release.join("examples").join("hupwatch-test-child"),
    };
    for bin in [&build.hupwatch, &build.server, &build.child] {
        assert!(is_static_elf(bin), "{} is not a static executable", bin.display());
    }
    Ok(build)
}
