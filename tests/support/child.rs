//! The program the integration tests run under hupwatch. One binary, many roles, chosen by
//! the first argument; each role writes what it observes to files the test reads.
//!
//! It has its own C `main` (`no_main`) so that Rust's runtime does not touch the signal state
//! before we look at it: std's start-up code would set SIGPIPE to ignored and install SIGSEGV
//! and SIGBUS handlers, hiding exactly what the transparency tests check. Signal handlers only
//! call write(2) and _exit(2) on descriptors opened before they were installed.
//!
//! Roles:
//!   exit N                      exit with status N
//!   raise SIG                   die by signal SIG (a number), without a core dump
//!   argv FILE [ARG]...          write each ARG on its own line to FILE, exit 0
//!   echo-signals FILE [--stay]  record every catchable signal as a line in FILE (after a first
//!                               line "ready"); exit 0 after recording TERM unless --stay
//!   report FILE                 write pid, ppid, pgid, signal state, descriptors, cwd and
//!                               environment to FILE, then sleep until killed (TERM: default)
//!   ignore-term FILE            ignore TERM, write the pid to FILE, sleep forever
//!   orphans N DIR               fork N orphans that outlive this process (see `orphans`), exit 0
//!   write-pid FILE              write the pid to FILE, sleep until killed
//!   serve DIR [TAG]             one generation of a server; DIR/mode picks its behaviour

#![no_main]

use std::ffi::{CStr, OsStr, OsString};
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// Descriptor the handlers of `echo-signals` append to.
static ECHO_FD: AtomicI32 = AtomicI32::new(-1);
/// Whether `echo-signals` exits after recording TERM.
static ECHO_EXIT_ON_TERM: AtomicI32 = AtomicI32::new(1);
/// Write end of the self-pipe the handlers of `serve` and of orphans write signal numbers to.
static PIPE_WR: AtomicI32 = AtomicI32::new(-1);

#[unsafe(no_mangle)]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    let args: Vec<OsString> = (0..argc as usize)
        .map(|i| {
            // SAFETY: the C runtime passes argc valid NUL-terminated strings in argv.
            let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
            OsStr::from_bytes(arg.to_bytes()).to_os_string()
        })
        .collect();
    let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let rest: Vec<&str> = args.iter().skip(2).map(String::as_str).collect();
    match args.get(1).map(String::as_str) {
        Some("exit") => rest[0].parse().expect("exit N"),
        Some("raise") => raise(rest[0].parse().expect("raise SIG")),
        Some("argv") => {
            let mut text = String::new();
            for arg in &rest[1..] {
                text.push_str(arg);
                text.push('\n');
            }
            write_atomic(Path::new(rest[0]), &text);
            0
        }
        Some("echo-signals") => echo_signals(Path::new(rest[0]), rest.get(1) == Some(&"--stay")),
        Some("report") => {
            write_atomic(Path::new(rest[0]), &report());
            sleep_forever()
        }
        Some("ignore-term") => {
            set_disposition(libc::SIGTERM, libc::SIG_IGN);
            write_atomic(Path::new(rest[0]), &format!("{}\n", pid()));
            sleep_forever()
        }
        Some("orphans") => {
            orphans(rest[0].parse().expect("orphans N DIR"), Path::new(rest[1]));
            0
        }
        Some("write-pid") => {
            write_atomic(Path::new(rest[0]), &format!("{}\n", pid()));
            sleep_forever()
        }
        Some("serve") => serve(Path::new(rest[0]), rest.get(1).copied().unwrap_or("")),
        other => {
            eprintln!("hupwatch-test-child: unknown role {other:?}");
            2
        }
    }
}

fn pid() -> i32 {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Dies by `sig` with its default action, without leaving a core file behind.
fn raise(sig: i32) -> i32 {
    let zero = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain syscalls on this process with valid arguments.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    if sig != libc::SIGKILL && sig != libc::SIGSTOP {
        set_disposition(sig, libc::SIG_DFL);
    }
    unblock_all();
    // SAFETY: raise has no memory-safety preconditions.
    unsafe { libc::raise(sig) };
    // A signal whose default action is to ignore it lands here.
    eprintln!("hupwatch-test-child: still alive after raising signal {sig}");
    99
}

fn unblock_all() {
    // SAFETY: an empty set built by sigemptyset is a valid argument to sigprocmask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

fn set_disposition(sig: i32, handler: libc::sighandler_t) {
    // SAFETY: a zeroed sigaction with a valid handler value and an empty mask is valid.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(libc::sigaction(sig, &action, std::ptr::null_mut()), 0, "sigaction {sig}");
    }
}

/// Every signal a process can catch: 1..31 but KILL and STOP, then the real-time ones that
/// the C library leaves to applications.
fn catchable_signals() -> Vec<i32> {
    let mut signals: Vec<i32> = (1..32).filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP).collect();
    signals.extend(libc::SIGRTMIN()..=libc::SIGRTMAX());
    signals
}

/// Formats `n` as decimal followed by a newline into `buf`, without allocating.
fn format_line(mut n: i32, buf: &mut [u8; 16]) -> usize {
    let mut digits = [0u8; 12];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        buf[i] = digits[len - 1 - i];
    }
    buf[len] = b'\n';
    len + 1
}

extern "C" fn echo_handler(sig: libc::c_int) {
    let mut buf = [0u8; 16];
    let len = format_line(sig, &mut buf);
    let fd = ECHO_FD.load(Ordering::Relaxed);
    // SAFETY: write(2) and _exit(2) are async-signal-safe; buf outlives the call.
    unsafe {
        libc::write(fd, buf.as_ptr().cast(), len);
        if sig == libc::SIGTERM && ECHO_EXIT_ON_TERM.load(Ordering::Relaxed) == 1 {
            libc::_exit(0);
        }
    }
}

fn open_append(path: &Path) -> i32 {
    let file = fs::OpenOptions::new().create(true).append(true).open(path).expect("open");
    std::os::fd::IntoRawFd::into_raw_fd(file)
}

fn echo_signals(file: &Path, stay: bool) -> i32 {
    ECHO_FD.store(open_append(file), Ordering::Relaxed);
    ECHO_EXIT_ON_TERM.store(if stay { 0 } else { 1 }, Ordering::Relaxed);
    for sig in catchable_signals() {
        set_disposition(sig, echo_handler as *const () as libc::sighandler_t);
    }
    let fd = ECHO_FD.load(Ordering::Relaxed);
    // SAFETY: fd is open, the buffer is static.
    unsafe { libc::write(fd, b"ready\n".as_ptr().cast(), 6) };
    loop {
        // SAFETY: pause has no preconditions.
        unsafe { libc::pause() };
    }
}

/// Writes `text` to a temporary name beside `path`, then renames it, so a reader never
/// sees a partial file.
fn write_atomic(path: &Path, text: &str) {
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(format!(".tmp{}", pid()));
    let tmp = PathBuf::from(tmp);
    let mut file = fs::File::create(&tmp).expect("create");
    file.write_all(text.as_bytes()).expect("write");
    drop(file);
    fs::rename(&tmp, path).expect("rename");
}

/// /proc/self/stat fields after the command name: state, ppid, pgrp, session.
fn stat_of(pid: i32) -> Option<(char, i32, i32, i32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let mut fields = after.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    let session = fields.next()?.parse().ok()?;
    Some((state, ppid, pgrp, session))
}

fn report() -> String {
    let me = pid();
    let (_, ppid, pgid, sid) = stat_of(me).expect("own stat");
    let mut out = format!("pid {me}\nppid {ppid}\npgid {pgid}\nsid {sid}\n");
    let status = fs::read_to_string("/proc/self/status").expect("status");
    for line in status.lines() {
        for key in ["SigBlk:", "SigIgn:", "SigCgt:"] {
            if let Some(value) = line.strip_prefix(key) {
                out.push_str(&format!("{} {}\n", &key[..key.len() - 1], value.trim()));
            }
        }
    }
    // Descriptors: read the directory fully and close it first (a DirEntry keeps it open),
    // so that the descriptor of the listing itself is gone when the targets are read.
    let names: Vec<String> = fs::read_dir("/proc/self/fd")
        .expect("fd dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for fd in names {
        if let Ok(target) = fs::read_link(format!("/proc/self/fd/{fd}")) {
            out.push_str(&format!("fd {fd} {}\n", target.display()));
        }
    }
    let cwd = fs::read_link("/proc/self/cwd").expect("cwd");
    out.push_str(&format!("cwd {}\n", cwd.display()));
    for (key, value) in std::env::vars_os() {
        out.push_str(&format!("env {}={}\n", key.to_string_lossy(), value.to_string_lossy()));
    }
    out
}

extern "C" fn pipe_handler(sig: libc::c_int) {
    let byte = sig as u8;
    // SAFETY: write(2) is async-signal-safe; the pipe is non-blocking so this never blocks.
    unsafe { libc::write(PIPE_WR.load(Ordering::Relaxed), (&byte as *const u8).cast(), 1) };
}

/// Installs `pipe_handler` for `signals` and returns the read end of the self-pipe.
fn self_pipe(signals: &[i32]) -> i32 {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) }, 0);
    PIPE_WR.store(fds[1], Ordering::Relaxed);
    for &sig in signals {
        set_disposition(sig, pipe_handler as *const () as libc::sighandler_t);
    }
    // Reads block; only the write end must never block.
    // SAFETY: fcntl on a descriptor we own.
    unsafe { libc::fcntl(fds[0], libc::F_SETFL, 0) };
    fds[0]
}

/// Blocks until a signal arrives through the self-pipe and returns its number.
fn next_signal(pipe_rd: i32) -> i32 {
    let mut byte = 0u8;
    loop {
        // SAFETY: reads one byte into a live local.
        let n = unsafe { libc::read(pipe_rd, (&mut byte as *mut u8).cast(), 1) };
        if n == 1 {
            return byte as i32;
        }
    }
}

/// Fork wrapper: runs `body` in the child, which never returns into the caller.
fn fork_into(body: impl FnOnce() -> i32) -> i32 {
    // SAFETY: this program is single-threaded, so the child may run arbitrary code.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = body();
        // SAFETY: leave the child without running the parent's exit handlers twice.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// Forks N orphans and exits once they exist. Each orphan starts its own session (so only a
/// reaper that adopts orphans can reach it), writes DIR/orphan.PID, records a TERM it receives
/// in DIR/orphan-term.PID and exits 0, and exits by itself once DIR/orphans-exit exists (or
/// after two minutes, so that a failed test cannot leave it behind forever).
fn orphans(n: usize, dir: &Path) {
    for _ in 0..n {
        fork_into(|| {
            // SAFETY: setsid has no preconditions.
            unsafe { libc::setsid() };
            let pipe_rd = self_pipe(&[libc::SIGTERM]);
            // SAFETY: non-blocking reads below poll the pipe between file checks.
            unsafe { libc::fcntl(pipe_rd, libc::F_SETFL, libc::O_NONBLOCK) };
            let me = pid();
            write_atomic(&dir.join(format!("orphan.{me}")), &format!("{me}\n"));
            for _ in 0..12_000 {
                let mut byte = 0u8;
                // SAFETY: reads one byte into a live local.
                if unsafe { libc::read(pipe_rd, (&mut byte as *mut u8).cast(), 1) } == 1 {
                    write_atomic(&dir.join(format!("orphan-term.{me}")), &format!("{byte}\n"));
                    return 0;
                }
                if dir.join("orphans-exit").exists() {
                    return 0;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            0
        });
    }
}

/// Pids of the other live children of our parent (other generations under hupwatch).
fn siblings() -> Vec<i32> {
    let me = pid();
    let (_, ppid, _, _) = stat_of(me).expect("own stat");
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(other) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        if other == me {
            continue;
        }
        if let Some((state, parent, _, _)) = stat_of(other) {
            if parent == ppid && state != 'Z' && state != 'X' {
                found.push(other);
            }
        }
    }
    found
}

/// One generation of a server. Behaviour comes from the first line of DIR/mode, read at start
/// (absent: `serve`), so a test can give each generation its own by rewriting the file
/// before a reload:
///   serve [CODE]     run until TERM, INT or QUIT, then exit CODE (default 0)
///   exit N           exit N at once
///   raise SIG        die by signal SIG at once
///   ignore-term      ignore TERM, plus a grandchild in the same process group that does too
///   group-echo       serve, plus a grandchild in the same process group that records
///                    signals in DIR/grandchild-signals.PID (PID: this generation's)
///   orphans N        serve, plus N orphans (see `orphans`)
/// Every generation first writes DIR/started.PID ("pid", "ppid", "pgid", "cwd", "tag" lines).
/// While serving it appends each signal it gets to DIR/signals.PID, and on TERM, INT or QUIT
/// it writes DIR/term.PID: "sig N" and "siblings P..." (the live generations besides itself
/// at that moment) before it exits.
fn serve(dir: &Path, tag: &str) -> i32 {
    let mode = fs::read_to_string(dir.join("mode")).unwrap_or_default();
    let words: Vec<&str> = mode.split_whitespace().collect();
    let me = pid();
    // Handlers first, so that a test that saw the started file may signal at once.
    let stop = [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT];
    let recorded = [libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2, libc::SIGWINCH, libc::SIGRTMIN() + 1];
    let all: Vec<i32> = stop.iter().chain(recorded.iter()).copied().collect();
    let pipe_rd = self_pipe(&all);
    let signals_fd = open_append(&dir.join(format!("signals.{me}")));
    let (_, ppid, pgid, _) = stat_of(me).expect("own stat");
    let cwd = fs::read_link("/proc/self/cwd").expect("cwd");
    let started = format!("pid {me}\nppid {ppid}\npgid {pgid}\ncwd {}\ntag {tag}\n", cwd.display());
    write_atomic(&dir.join(format!("started.{me}")), &started);

    let mut code = 0;
    match words.first().copied().unwrap_or("serve") {
        "serve" => code = words.get(1).map_or(0, |c| c.parse().expect("serve CODE")),
        "exit" => return words[1].parse().expect("exit N"),
        "raise" => return raise(words[1].parse().expect("raise SIG")),
        "ignore-term" => {
            set_disposition(libc::SIGTERM, libc::SIG_IGN);
            let grandchild = fork_into(|| sleep_forever());
            write_atomic(&dir.join(format!("grandchild.{me}")), &format!("{grandchild}\n"));
            sleep_forever()
        }
        "group-echo" => {
            let file = dir.join(format!("grandchild-signals.{me}"));
            let grandchild = fork_into(|| echo_signals(&file, true));
            write_atomic(&dir.join(format!("grandchild.{me}")), &format!("{grandchild}\n"));
        }
        "orphans" => {
            let n = words[1].parse().expect("orphans N");
            let dir = dir.to_path_buf();
            let middle = fork_into(move || {
                orphans(n, &dir);
                0
            });
            let mut status = 0;
            // SAFETY: waits for our own child into a live local.
            unsafe { libc::waitpid(middle, &mut status, 0) };
        }
        other => panic!("unknown mode {other:?}"),
    }

    loop {
        let sig = next_signal(pipe_rd);
        let mut buf = [0u8; 16];
        let len = format_line(sig, &mut buf);
        // SAFETY: signals_fd is open; buf is live.
        unsafe { libc::write(signals_fd, buf.as_ptr().cast(), len) };
        if stop.contains(&sig) {
            let others: Vec<String> = siblings().iter().map(i32::to_string).collect();
            let text = format!("sig {sig}\nsiblings {}\n", others.join(" "));
            write_atomic(&dir.join(format!("term.{me}")), &text);
            return code;
        }
    }
}
