//! Reliability under faults (issue 14): a full stderr pipe, stopped and daemonizing servers,
//! huge durations, exhausted descriptors, abstract notify sockets, a lowered RLIMIT_NOFILE
//! while running, setuid copies, terminals and their hang-up, the start directory, `-e`.
//! Every test runs the real binary against real pipes, limits, terminals and processes.

mod support;

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

/// hupwatch running the test child's `serve` role in `dir`, after `opts`.
fn serve(opts: &[&str], dir: &Path) -> Command {
    let args = with_child(opts, &["serve", dir.to_str().unwrap()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    hupwatch(&args)
}

/// The pids of the generations that wrote their started file into `dir` so far.
fn started(dir: &Path) -> Vec<i32> {
    pids_with_prefix(dir, "started")
}

/// Waits for a generation besides `known` to start in `dir`; returns its pid.
fn next_started(dir: &Path, known: &[i32]) -> i32 {
    wait_for(LONG, || started(dir).into_iter().find(|p| !known.contains(p)))
        .unwrap_or_else(|| panic!("no new generation in {} (known {known:?})", dir.display()))
}

/// Sets RLIMIT_NOFILE of process `pid` (prlimit(2), as prlimit(1) does).
fn set_nofile(pid: i32, limit: u64) {
    let lim = libc::rlimit { rlim_cur: limit, rlim_max: limit };
    // SAFETY: lim is a valid rlimit; no old value is asked for.
    let ret = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &lim, std::ptr::null_mut()) };
    assert_eq!(ret, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// CPU time (user + system) of `pid`, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let text = read(format!("/proc/{pid}/stat"));
    let fields: Vec<&str> = text[text.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

// ---------------------------------------------------------------------------------------------
// 1. Logging never blocks

/// A FIFO whose read end this test holds open and reads only when it wants: hupwatch's
/// stderr, shrunk to one page so that a few lines fill it.
struct Fifo {
    _dir: TempDir,
    path: std::path::PathBuf,
    reader: fs::File,
}

impl Fifo {
    fn new() -> Fifo {
        let dir = TempDir::new("fifo");
        let path = dir.join("stderr");
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: c is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Read-write: the open does not wait for a writer, and the pipe always has a reader.
        let reader = fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
        // SAFETY: plain fcntl on a descriptor we own.
        assert!(unsafe { libc::fcntl(reader.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) } >= 4096);
        Fifo { _dir: dir, path, reader }
    }

    fn writer(&self) -> fs::File {
        fs::OpenOptions::new().write(true).open(&self.path).unwrap()
    }

    /// Bytes waiting in the pipe.
    fn queued(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int.
        assert_eq!(unsafe { libc::ioctl(self.reader.as_raw_fd(), libc::FIONREAD, &mut n) }, 0);
        n as usize
    }

    /// Reads what waits in the pipe, without blocking.
    fn drain(&self) -> String {
        let mut out = Vec::new();
        while self.queued() > 0 {
            let mut buf = [0u8; 4096];
            // SAFETY: buf is writable for its length.
            let n = unsafe { libc::read(self.reader.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            assert!(n > 0);
            out.extend_from_slice(&buf[..n as usize]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// The reproduction: stderr is a FIFO that is held open but never read. Once it is
/// full, hupwatch must go on reloading and answer TERM; dropped lines are counted, and the
/// count shows once the pipe was drained.
#[test]
fn a_full_stderr_pipe_never_blocks_hupwatch() {
    let fifo = Fifo::new();
    let dir = TempDir::new("full-pipe");
    let mut hw = Running::spawn_raw(serve(&["-w", "0"], dir.path()).stderr(fifo.writer()));
    let mut known = vec![next_started(dir.path(), &[])];
    // Reload until the pipe has no room for another line (each reload logs four).
    while fifo.queued() + 200 < 4096 {
        hw.signal(libc::SIGHUP);
        known.push(next_started(dir.path(), &known));
    }
    // Full: reloads still happen, which they could not if a log write blocked.
    for _ in 0..3 {
        hw.signal(libc::SIGHUP);
        known.push(next_started(dir.path(), &known));
    }
    // Drained, the next line that gets through is preceded by the count of those dropped (a
    // shorter line may have got through while it was nearly full: look at everything).
    let mut log = fifo.drain();
    hw.signal(libc::SIGHUP);
    known.push(next_started(dir.path(), &known));
    assert!(
        wait_until(LONG, || {
            log.push_str(&fifo.drain());
            log.contains("log lines dropped")
        }),
        "no count of the dropped lines after the pipe was drained:\n{log}"
    );
    for line in log.lines().filter(|l| l.contains("log lines dropped")) {
        let count = line.split(" log lines dropped").next().unwrap().rsplit(' ').next().unwrap();
        assert!(count.parse::<u32>().is_ok_and(|n| n > 0), "{line}");
    }
    // Full again, TERM still ends it.
    while fifo.queued() + 200 < 4096 {
        hw.signal(libc::SIGHUP);
        known.push(next_started(dir.path(), &known));
    }
    hw.signal(libc::SIGTERM);
    assert_eq!(hw.wait_code(LONG), 0);
}

/// Whatever hupwatch does to write without blocking, the generations' stderr (the same open
/// file description) stays blocking.
#[test]
fn generations_keep_a_blocking_stderr() {
    let fifo = Fifo::new();
    let dir = TempDir::new("blocking-stderr");
    let _hw = Running::spawn_raw(serve(&["-w", "0"], dir.path()).stderr(fifo.writer()));
    let pid = next_started(dir.path(), &[]);
    let info = read(format!("/proc/{pid}/fdinfo/2"));
    let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).expect("flags in fdinfo");
    let flags = u32::from_str_radix(flags.trim(), 8).unwrap();
    assert_eq!(flags & libc::O_NONBLOCK as u32, 0, "the generation's stderr is non-blocking: {info}");
    assert_eq!(flags & libc::O_ACCMODE as u32, libc::O_WRONLY as u32, "{info}");
    fifo.drain();
}

/// A generation flooding STATUS= lines does not flood the log: only changes, a few a second.
#[test]
fn status_floods_are_rate_limited() {
    let script = "import os, socket\n\
        a = os.environ['NOTIFY_SOCKET']\n\
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
        addr = '\\0' + a[1:] if a.startswith('@') else a\n\
        for i in range(2000):\n    s.sendto(b'STATUS=step %d' % i, addr)\n\
        for i in range(2000):\n    s.sendto(b'STATUS=same', addr)\n\
        s.sendto(b'READY=1', addr)\n\
        import time; time.sleep(600)\n";
    let start = std::time::Instant::now();
    let mut hw = Running::spawn(&mut hupwatch(&["--notify", "-w", "0", "--", "python3", "-c", script]));
    wait_log(&hw, &["is ready"]);
    // At most 4 a second, in every second the flood may have spanned.
    let most = 4 * (start.elapsed().as_secs() as usize + 2);
    let statuses = log_lines_with(&hw, &["status: "]);
    assert!(!statuses.is_empty() && statuses.len() <= most, "{} STATUS lines logged:\n{}", statuses.len(), hw.stderr());
    assert!(log_lines_with(&hw, &["status: same"]).len() <= 1, "{}", hw.stderr());
    hw.signal(libc::SIGTERM);
    hw.wait_exit(LONG);
}

// ---------------------------------------------------------------------------------------------
// 2. Stopped generations

/// A replaced generation that was SIGSTOPped still drains (SIGCONT follows the stop signal),
/// and a stopped serving generation does not keep TERM from ending hupwatch.
#[test]
fn stopped_generations_are_continued_after_the_stop_signal() {
    let dir = TempDir::new("stopped");
    let mut hw = Running::spawn(&mut serve(&["-w", "0"], dir.path()));
    let first = next_started(dir.path(), &[]);
    kill(first, libc::SIGSTOP);
    assert!(wait_until(LONG, || stat(first).is_some_and(|s| s.state == 'T')));
    hw.signal(libc::SIGHUP);
    let second = next_started(dir.path(), &[first]);
    wait_log(&hw, &[&format!("(pid {first}) drained")]);
    kill(second, libc::SIGSTOP);
    assert!(wait_until(LONG, || stat(second).is_some_and(|s| s.state == 'T')));
    hw.signal(libc::SIGTERM);
    assert_eq!(hw.wait_code(LONG), 0, "{}", hw.stderr());
}

// ---------------------------------------------------------------------------------------------
// 3. Daemonizing servers

/// A server that daemonizes (forks a setsid child, exits 0) leaves a process hupwatch adopted:
/// it gets the stop signal when hupwatch ends, SIGKILL after --stop-timeout if it ignores it,
/// and hupwatch exits only once it is gone. The pids are logged.
#[test]
fn daemonized_processes_are_stopped_before_exit() {
    if skip_under_emulation("qemu-user refuses PR_SET_CHILD_SUBREAPER (EINVAL), so daemons go to init") {
        return;
    }
    let dir = TempDir::new("daemon");
    let child = child_bin();
    let polite = dir.join("polite.pid");
    let stubborn = dir.join("stubborn.pid");
    // Its child, adopted by hupwatch only once the daemon died of the stop signal.
    let grandchild = dir.join("grandchild.pid");
    let script = format!(
        "setsid '{c}' write-pid '{p}' & setsid '{c}' ignore-term '{s}' & \
         setsid sh -c \"'{c}' ignore-term '{g}' & wait\" & \
         while [ ! -s '{p}' ] || [ ! -s '{s}' ] || [ ! -s '{g}' ]; do sleep 0.01; done; exit 3",
        c = child.display(),
        p = polite.display(),
        s = stubborn.display(),
        g = grandchild.display()
    );
    let mut hw = Running::spawn(&mut hupwatch(&["--stop-timeout", "0.5", "-w", "0", "--", "sh", "-c", &script]));
    assert_eq!(hw.wait_code(LONG), 3, "{}", hw.stderr());
    let (polite, stubborn, grandchild) = (wait_pid_file(&polite), wait_pid_file(&stubborn), wait_pid_file(&grandchild));
    let log = hw.stderr();
    assert!(!exists(polite) && !exists(stubborn) && !exists(grandchild), "a daemon outlived hupwatch:\n{log}");
    assert_eq!(log_lines_with(&hw, &[&format!("adopted process {polite} "), "SIGTERM"]).len(), 1, "{log}");
    assert_eq!(log_lines_with(&hw, &[&format!("adopted process {stubborn} "), "SIGTERM"]).len(), 1, "{log}");
    assert_eq!(log_lines_with(&hw, &[&format!("adopted process {stubborn} "), "SIGKILL"]).len(), 1, "{log}");
    // Adopted when its parent died: the stop signal too, unless the deadline came first.
    assert!(log_lines_with(&hw, &[&format!("adopted process {grandchild} "), "SIGTERM"]).len() <= 1, "{log}");
    assert_eq!(log_lines_with(&hw, &[&format!("adopted process {grandchild} "), "SIGKILL"]).len(), 1, "{log}");
}

// ---------------------------------------------------------------------------------------------
// 4. Durations

/// The largest durations mean "practically never": no promotion, no abandon, no SIGKILL.
#[test]
fn huge_durations_do_not_wrap_around() {
    let dir = TempDir::new("huge");
    let max = "18446744073";
    let mut hw = Running::spawn(&mut serve(&["-w", max, "--ready-timeout", "18446744073.7", "-v"], dir.path()));
    let first = next_started(dir.path(), &[]);
    wait_log(&hw, &["generation 1", "started"]);
    // A wrapped deadline acts at once; give it the time a wake-up takes, generously.
    std::thread::sleep(Duration::from_millis(500));
    let log = hw.stderr();
    assert!(!log.contains("is ready") && !log.contains("abandoned"), "{log}");
    hw.signal(libc::SIGTERM);
    assert_eq!(hw.wait_code(LONG), 0, "{}", hw.stderr());
    assert!(!exists(first));

    let pid_file = dir.join("ignoring.pid");
    let args = with_child(&["-w", "0", "--stop-timeout", max], &["ignore-term", pid_file.to_str().unwrap()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut hw = Running::spawn(&mut hupwatch(&args));
    let pid = wait_pid_file(&pid_file);
    hw.signal(libc::SIGTERM);
    wait_log(&hw, &["shutting down"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(alive(pid) && hw.is_running(), "killed at once:\n{}", hw.stderr());
}

// ---------------------------------------------------------------------------------------------
// 5. hupwatch's own failures at spawn

/// With descriptors used up, starting a generation fails in hupwatch (not in the command): at
/// the first start exit 1 naming the failed call, at a reload the reload is abandoned.
#[test]
fn own_spawn_failures_exit_1_or_abandon_the_reload() {
    if skip_under_emulation("qemu-user needs descriptors of its own, which the limits set here leave it none of") {
        return;
    }
    // 3 standard descriptors, the signalfd, the listening socket: none left for the notify
    // socket (set-up, which names it), then none for the exec-error pipe (the spawn).
    for (limit, call) in [(5, "cannot create the notify socket"), (6, "cannot start it: pipe")] {
        let mut cmd = hupwatch(&["--notify", "--listen", "tcp:127.0.0.1:0", "--", "true"]);
        // SAFETY: setrlimit is async-signal-safe and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit { rlim_cur: limit, rlim_max: limit };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let (code, _, err) = run_to_end(&mut cmd, LONG);
        assert_eq!(code, 1, "limit {limit}: {err}");
        assert!(err.contains(&format!("{call}: Too many open files")), "limit {limit}: {err}");
    }

    let dir = TempDir::new("spawn-fails");
    let mut hw = Running::spawn(&mut serve(&["-w", "0"], dir.path()));
    let first = next_started(dir.path(), &[]);
    set_nofile(hw.pid(), 4);
    hw.signal(libc::SIGHUP);
    wait_log(&hw, &["reload abandoned", "generation 2", "keeps serving"]);
    assert!(log_lines_with(&hw, &["generation 2: cannot start it: pipe: Too many open files"]).len() == 1);
    assert!(hw.is_running() && alive(first));
    hw.signal(libc::SIGTERM);
    assert_eq!(hw.wait_code(LONG), 0);
}

// ---------------------------------------------------------------------------------------------
// 8. --listen on port 0

#[test]
fn port_zero_is_reported_as_bound() {
    let dir = TempDir::new("port0");
    let report = dir.join("report");
    let args = with_child(&["--listen", "tcp:127.0.0.1:0", "-w", "0"], &["report", report.to_str().unwrap()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let hw = Running::spawn(&mut hupwatch(&args));
    wait_log(&hw, &["listening on tcp:127.0.0.1:"]);
    let line = log_lines_with(&hw, &["listening on"]).remove(0);
    let port: u16 = line.split("127.0.0.1:").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(port != 0 && line.ends_with(" (fd 3)"), "{line}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(), "nothing listens on {port}");
    let text = wait_for(LONG, || Some(read(&report)).filter(|t| !t.is_empty())).unwrap();
    assert!(text.contains(&format!("env SERVER_STARTER_PORT=127.0.0.1:{port}=3\n")), "{text}");
    assert!(text.contains(&format!("env LISTEN_FDNAMES=tcp-127.0.0.1-{port}\n")), "{text}");
}

// ---------------------------------------------------------------------------------------------
// 9. Abstract notify sockets

/// Nothing of hupwatch's is left in TMPDIR or /tmp after it was SIGKILLed, and readiness
/// still works.
#[test]
fn sigkill_leaves_no_notify_files_behind() {
    let tmp = TempDir::new("tmpdir");
    // What hupwatch PID used to create: /tmp/hupwatch-PID-N.
    let hupwatch_dirs = |pid: i32| {
        let prefix = format!("hupwatch-{pid}-");
        fs::read_dir("/tmp").unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with(&prefix)).count()
    };
    let args = ["--notify", "-w", "0", "--", server_bin().to_str().unwrap(), "--ready-after", "0"].map(String::from);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = hupwatch(&args);
    cmd.env("TMPDIR", tmp.path());
    let mut hw = Running::spawn(&mut cmd);
    wait_log(&hw, &["generation 1", "is ready"]);
    let pid = hw.pid();
    hw.kill_all();
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0, "left in TMPDIR");
    assert_eq!(hupwatch_dirs(pid), 0, "a directory left in /tmp");
}

// ---------------------------------------------------------------------------------------------
// 10. Errors inside the loop

/// RLIMIT_NOFILE lowered under a running hupwatch (prlimit): ppoll fails (more descriptors
/// than the limit), a generation's notify message brings descriptors that cannot be
/// received. hupwatch logs it, rarely, does not spin, and TERM still ends it.
#[test]
fn errors_in_the_loop_are_logged_and_survived() {
    let dir = TempDir::new("loop-errors");
    let go = dir.join("go");
    let script = format!(
        "import os, socket, time, array\n\
         a = os.environ['NOTIFY_SOCKET']\n\
         s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
         addr = '\\0' + a[1:] if a.startswith('@') else a\n\
         s.sendto(b'READY=1', addr)\n\
         while not os.path.exists('{go}'): time.sleep(0.01)\n\
         fds = array.array('i', [os.open('/dev/null', os.O_RDONLY) for _ in range(3)])\n\
         s.sendmsg([b'STATUS=with descriptors'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())], 0, addr)\n\
         time.sleep(600)\n",
        go = go.display()
    );
    let mut hw = Running::spawn(&mut hupwatch(&["--notify", "-w", "0", "--", "python3", "-c", &script]));
    wait_log(&hw, &["generation 1", "is ready"]);
    let open = fds(hw.pid()).len() as u64;
    set_nofile(hw.pid(), open);
    fs::write(&go, "").unwrap();
    wait_log(&hw, &["status: with descriptors"]);
    assert_eq!(fds(hw.pid()).len() as u64, open, "descriptors sent to hupwatch were kept");
    // One descriptor fewer than ppoll watches: every wait fails, from the next wake-up on
    // (WINCH: forwarded, and ignored by the generation).
    let since = std::time::Instant::now();
    set_nofile(hw.pid(), 1);
    hw.signal(libc::SIGWINCH);
    wait_log(&hw, &["cannot wait for events", "going on"]);
    let ticks = cpu_ticks(hw.pid());
    let wall = std::time::Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let used = (cpu_ticks(hw.pid()) - ticks) as f64 / per_second;
    assert!(used < wall.elapsed().as_secs_f64() / 2.0, "hupwatch spins: {used} s of CPU");
    // At most one a second.
    let most = since.elapsed().as_secs() as usize + 1;
    let warnings = log_lines_with(&hw, &["cannot wait for events"]).len();
    assert!((1..=most).contains(&warnings), "{warnings} warnings in {:?}:\n{}", since.elapsed(), hw.stderr());
    assert!(hw.is_running());
    hw.signal(libc::SIGTERM);
    assert_eq!(hw.wait_code(LONG), 143, "{}", hw.stderr());
}

// ---------------------------------------------------------------------------------------------
// 11. setuid

/// A setuid-root copy run by another user refuses to run its command.
#[test]
fn a_setuid_copy_refuses_to_run() {
    use std::os::unix::fs::PermissionsExt;
    if skip_under_emulation("the kernel runs qemu-user, not the setuid copy, so no id ever differs") {
        return;
    }
    let Some(setpriv) = which("setpriv") else {
        skip("setpriv(1) not found (Debian package: util-linux)");
        return;
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip("a setuid-root copy needs root to make");
        return;
    }
    let dir = TempDir::new("setuid");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.join("hupwatch");
    fs::copy(hupwatch_bin(), &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o4755)).unwrap();
    let marker = dir.join("ran-as-root");
    let mut cmd = Command::new(setpriv);
    cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]).arg(&copy);
    cmd.args(["--", "sh", "-c", &format!("touch '{}'", marker.display())]).stdin(Stdio::null());
    let (code, _, err) = run_to_end(&mut cmd, LONG);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("real and effective"), "{err}");
    assert!(!marker.exists(), "the command ran with the copy's privileges");
}

// ---------------------------------------------------------------------------------------------
// 12. and 13. Terminals

/// `echo hi | script -qec "WRAPPER -- head -n1"`: `head` reads the terminal, so it must be in
/// the terminal's foreground. The same setup with tini shows that the test itself is right.
#[test]
fn an_interactive_command_gets_the_terminal() {
    let Some(script) = which("script") else {
        skip("script(1) not found (Debian package: bsdutils)");
        return;
    };
    let run = |wrapper: &str| {
        let mut cmd = Command::new(&script);
        cmd.args(["-qec", &format!("{wrapper} -- head -n1"), "/dev/null"]);
        let mut echo = Command::new("sh").args(["-c", "echo hi"]).stdout(Stdio::piped()).spawn().unwrap();
        cmd.stdin(echo.stdout.take().unwrap());
        let result = run_to_end(&mut cmd, LONG);
        let _ = echo.wait();
        result
    };
    match which("tini") {
        Some(tini) => {
            let (code, out, err) = run(&format!("{} -s", tini.display()));
            assert_eq!((code, out.matches("hi").count()), (0, 2), "tini: {out:?} {err}");
        }
        None => skip("tini not found (Debian package: tini), the reference for this test"),
    }
    let (code, out, err) = run(&format!("{} -q", hupwatch_bin().display()));
    assert_eq!((code, out.matches("hi").count()), (0, 2), "stdout {out:?}, stderr {err}");
}

/// A terminal hang-up (the kernel's SIGHUP when the terminal goes away) is passed to the
/// serving generation's process group; it does not start a reload.
#[test]
fn a_terminal_hang_up_is_no_reload() {
    // Close-on-exec from the start: a process started meanwhile by another test must not
    // keep the master open, or the terminal never hangs up.
    // SAFETY: posix_openpt returns a new descriptor or -1.
    let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    assert!(master >= 0);
    // SAFETY: master is a fresh descriptor of ours.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let mut name = [0 as libc::c_char; 64];
    // SAFETY: plain calls on the master; name is writable for its length.
    unsafe {
        assert_eq!(libc::grantpt(master.as_raw_fd()), 0);
        assert_eq!(libc::unlockpt(master.as_raw_fd()), 0);
        assert_eq!(libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()), 0);
    }
    // SAFETY: ptsname_r wrote a NUL-terminated path.
    let name = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }.to_str().unwrap().to_string();
    let slave: OwnedFd = fs::OpenOptions::new().read(true).write(true).open(&name).unwrap().into();
    let dir = TempDir::new("hangup");
    let mut cmd = serve(&["-w", "0"], dir.path());
    let tty = slave.as_raw_fd();
    // SAFETY: setsid and ioctl are async-signal-safe and allocate nothing.
    unsafe {
        cmd.pre_exec(move || {
            // hupwatch leads a session whose controlling terminal is the pty.
            if libc::setsid() < 0 || libc::ioctl(tty, libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut hw = Running::spawn(&mut cmd);
    drop(slave);
    let first = next_started(dir.path(), &[]);
    wait_log(&hw, &["generation 1", "is ready"]);
    drop(master);
    let signals = dir.join(format!("signals.{first}"));
    assert!(wait_until(LONG, || lines(&signals).contains(&"1".to_string())), "no HUP:\n{}", hw.stderr());
    // Still one generation: a reload would have started generation 2 by the time it forwarded.
    assert!(!hw.stderr().contains("reload"), "{}", hw.stderr());
    assert_eq!(started(dir.path()), [first]);
    hw.signal(libc::SIGTERM);
    assert_eq!(hw.wait_code(LONG), 0);
}

// ---------------------------------------------------------------------------------------------
// 14. The start directory

/// hupwatch leaves its start directory once set up (it could not be unmounted otherwise);
/// generations still start in it, and a relative `--listen unix:` path is removed at exit.
#[test]
fn hupwatch_does_not_pin_its_start_directory() {
    let dir = TempDir::new("cwd");
    let mut cmd = serve(&["-w", "0", "--listen", "unix:rel.sock"], dir.path());
    cmd.current_dir(dir.path()).env("PWD", dir.path());
    let mut hw = Running::spawn(&mut cmd);
    let first = next_started(dir.path(), &[]);
    assert_eq!(cwd(hw.pid()).unwrap(), Path::new("/"));
    assert_eq!(field(&read(dir.join(format!("started.{first}"))), "cwd").unwrap(), dir.path().to_str().unwrap());
    assert!(dir.join("rel.sock").exists());
    hw.signal(libc::SIGHUP);
    let second = next_started(dir.path(), &[first]);
    assert_eq!(field(&read(dir.join(format!("started.{second}"))), "cwd").unwrap(), dir.path().to_str().unwrap());
    hw.signal(libc::SIGTERM);
    assert_eq!(hw.wait_code(LONG), 0);
    assert!(!dir.join("rel.sock").exists(), "the relative socket path was not removed");
}

// ---------------------------------------------------------------------------------------------
// 16. -e

#[test]
fn success_exits_become_0() {
    let cases: &[(&[&str], &[&str], i32)] = &[
        (&["-e", "143"], &["raise", "15"], 0),
        (&["-e", "3", "--success-exit", "4"], &["exit", "4"], 0),
        (&["-e", "3"], &["exit", "5"], 5),
        (&["-e", "127"], &["exit", "127"], 0),
    ];
    for (opts, role, want) in cases {
        let args = with_child(opts, role);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = run_to_end(&mut hupwatch(&args), LONG);
        assert_eq!(code, *want, "{opts:?} {role:?}: {err}");
    }
    // hupwatch's own verdicts are not the service's status.
    let (code, _, err) = run_to_end(&mut hupwatch(&["-e", "127", "--", "/nonexistent/command"]), LONG);
    assert_eq!(code, 127, "{err}");
}
