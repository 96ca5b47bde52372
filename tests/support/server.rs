//! The small socket-activated server of the readiness and hand-off tests (tests/listen.rs,
//! tests/notify.rs): what Gunicorn does, minus Python. It takes the descriptors of the systemd
//! protocol (LISTEN_FDS from 3), reports what it was handed, tells NOTIFY_SOCKET when it is
//! ready, and answers every connection on every passed socket with one line `pid <pid>\n`.
//!
//! Usage: hupwatch-test-server [OPTION]...
//!   --report-dir DIR     write DIR/report.PID at start (see below), and markers holding
//!                        CLOCK_MONOTONIC in ns: DIR/ready.PID the time just before READY=1 was
//!                        sent, DIR/ready-sent.PID the time just after (when this process sent
//!                        it), DIR/term.PID when a SIGTERM/SIGINT was seen. Files appear
//!                        atomically (written, then renamed).
//!   --ready-after MS     send READY=1 to NOTIFY_SOCKET MS ms after start, and only then serve
//!   --ready-on FILE      send READY=1 once FILE exists (the test decides when), and only then serve
//!   --ready-from-child   send READY=1 from a forked child (same process group), not this process;
//!                        the child stays until this process exits, as a helper that stays long
//!                        enough for the receiver to find its process group by its pid does
//!   --child-exits-at-once  with --ready-from-child: the child exits right after sending
//!   --never-ready        never send READY=1 and never serve
//!   --status TEXT        send STATUS=TEXT to NOTIFY_SOCKET at start
//!   --exit-after MS CODE exit with CODE MS ms after start
//!   --exit-on FILE CODE  exit with CODE once FILE exists (the test decides when)
//!   --ignore-term        record SIGTERM/SIGINT but keep running (only SIGKILL ends it)
//!   --crash-on FILE      once FILE exists, die by SIGKILL (sent by itself, not by hupwatch),
//!                        between two connections: none is in hand
//!   --hang-on FILE USEC  once FILE exists, stop sending WATCHDOG=1 but keep serving (after
//!                        sending WATCHDOG_USEC=USEC first, unless USEC is `-`)
//!   --trigger-on FILE    once FILE exists, send WATCHDOG=trigger (once) and keep serving
//!   --extend-ready MS    at start, before anything else is sent, send EXTEND_TIMEOUT_USEC=MS*1000;
//!                        DIR/extend-sent.PID holds the time just after
//!   --more FILE          read more options (whitespace separated) from FILE when it exists, so
//!                        that a test can change what the next generation does
//! Without --ready-after, --ready-on or --never-ready it serves at once and sends nothing.
//! SIGTERM or SIGINT end it with status 0 after the connection in hand is answered.
//!
//! With WATCHDOG_USEC set and WATCHDOG_PID its own pid (as sd_watchdog_enabled checks), it sends
//! WATCHDOG=1 every 50 ms from the start, as an sd_notify library's service would, until
//! --hang-on's FILE exists. SIGABRT (the watchdog's signal) is noted in DIR/abort.PID (the time it
//! arrived), then kills it as by default, without a core file.
//!
//! The report, one `key value` line each: `pid`, `pgid`, `started` (CLOCK_MONOTONIC ns), the
//! variables LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES, LISTEN_PIDFDID, SERVER_STARTER_PORT,
//! NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID when set, `fdN listening|not-listening tcp|tcp6|unix ADDRESS inode I` (or
//! `fdN closed` / `fdN not-a-socket`) for N in 3..3+LISTEN_FDS, and `other-fds` listing the
//! other descriptors above 2 that were open at start.

use std::fs;
use std::io::Write;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

#[path = "clock.rs"]
mod clock;
use clock::monotonic_ns;

/// Set by the SIGTERM/SIGINT handler, polled by the serving loop.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// The descriptor of DIR/abort.PID, opened at start, or -1: the SIGABRT handler writes the time
/// to it, then dies by SIGABRT with the default action.
static ABORT_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_abort(_: libc::c_int) {
    let now = monotonic_ns();
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = now;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // SAFETY: write, signal and raise are async-signal-safe; the buffer is ours.
    unsafe {
        let fd = ABORT_FD.load(Ordering::SeqCst);
        if fd >= 0 {
            libc::write(fd, digits[i..].as_ptr() as *const libc::c_void, digits.len() - i);
        }
        libc::signal(libc::SIGABRT, libc::SIG_DFL);
        libc::raise(libc::SIGABRT);
    }
}

#[derive(Default)]
struct Options {
    report_dir: Option<PathBuf>,
    ready_after: Option<u64>,
    ready_on: Option<PathBuf>,
    ready_from_child: bool,
    child_exits_at_once: bool,
    never_ready: bool,
    status: Option<String>,
    exit_after: Option<(u64, i32)>,
    exit_on: Option<(PathBuf, i32)>,
    ignore_term: bool,
    crash_on: Option<PathBuf>,
    hang_on: Option<(PathBuf, Option<u64>)>,
    trigger_on: Option<PathBuf>,
    extend_ready: Option<u64>,
}

fn parse(mut args: Vec<String>) -> Options {
    let mut o = Options::default();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].clone();
        let mut value = || {
            i += 1;
            args.get(i).cloned().unwrap_or_else(|| panic!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--report-dir" => o.report_dir = Some(PathBuf::from(value())),
            "--ready-after" => o.ready_after = Some(value().parse().expect("--ready-after MS")),
            "--ready-on" => o.ready_on = Some(PathBuf::from(value())),
            "--ready-from-child" => o.ready_from_child = true,
            "--child-exits-at-once" => o.child_exits_at_once = true,
            "--never-ready" => o.never_ready = true,
            "--status" => o.status = Some(value()),
            "--exit-after" => {
                let ms = value().parse().expect("--exit-after MS CODE");
                let code = value().parse().expect("--exit-after MS CODE");
                o.exit_after = Some((ms, code));
            }
            "--exit-on" => {
                let file = PathBuf::from(value());
                let code = value().parse().expect("--exit-on FILE CODE");
                o.exit_on = Some((file, code));
            }
            "--ignore-term" => o.ignore_term = true,
            "--crash-on" => o.crash_on = Some(PathBuf::from(value())),
            "--hang-on" => {
                let file = PathBuf::from(value());
                let usec = value();
                o.hang_on = Some((file, (usec != "-").then(|| usec.parse().expect("--hang-on FILE USEC"))));
            }
            "--trigger-on" => o.trigger_on = Some(PathBuf::from(value())),
            "--extend-ready" => o.extend_ready = Some(value().parse().expect("--extend-ready MS")),
            "--more" => {
                let more = fs::read_to_string(value()).unwrap_or_default();
                let extra: Vec<String> = more.split_whitespace().map(str::to_string).collect();
                args.splice(i + 1..i + 1, extra);
            }
            other => panic!("hupwatch-test-server: unknown option {other}"),
        }
        i += 1;
    }
    o
}

fn write_atomic(path: &Path, text: &str) {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let mut file = fs::File::create(&tmp).expect("create report");
    file.write_all(text.as_bytes()).expect("write report");
    drop(file);
    fs::rename(&tmp, path).expect("rename report");
}

/// Descriptors above stderr open at start, before this program opened any of its own.
fn open_fds() -> Vec<i32> {
    // SAFETY: F_GETFD only queries the descriptor table.
    (3..1024).filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0).collect()
}

/// One line describing descriptor `fd`: `listening|not-listening FAMILY ADDRESS`,
/// `not-a-socket` or `closed`.
fn describe(fd: i32) -> String {
    // SAFETY: fstat writes one stat we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return "closed".into();
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return "not-a-socket".into();
    }
    let mut accepting: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `accepting`.
    let rc = unsafe {
        libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN, &mut accepting as *mut _ as *mut _, &mut len)
    };
    let state = if rc == 0 && accepting != 0 { "listening" } else { "not-listening" };
    // SAFETY: getsockname writes at most `len` bytes into a sockaddr_storage we own.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    if unsafe { libc::getsockname(fd, &mut addr as *mut _ as *mut libc::sockaddr, &mut len) } != 0 {
        return [state, " unknown"].concat();
    }
    let where_ = match addr.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a: libc::sockaddr_in = unsafe { *(&addr as *const _ as *const libc::sockaddr_in) };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            format!("tcp {ip}:{}", u16::from_be(a.sin_port))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a: libc::sockaddr_in6 = unsafe { *(&addr as *const _ as *const libc::sockaddr_in6) };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            format!("tcp6 [{ip}]:{}", u16::from_be(a.sin6_port))
        }
        libc::AF_UNIX => {
            // SAFETY: the family says the storage holds a sockaddr_un.
            let a: libc::sockaddr_un = unsafe { *(&addr as *const _ as *const libc::sockaddr_un) };
            // c_char is i8 on x86 and u8 on ARM.
            #[allow(clippy::unnecessary_cast)]
            let bytes: Vec<u8> = a.sun_path.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
            format!("unix {}", String::from_utf8_lossy(&bytes))
        }
        other => format!("family-{other}"),
    };
    [state, " ", &where_, " inode ", &st.st_ino.to_string()].concat()
}

/// The key-per-line report of what this process was handed.
fn report(others_at_start: &[i32], count: i32) -> String {
    let pid = std::process::id();
    // SAFETY: getpgrp has no preconditions.
    let pgid = unsafe { libc::getpgrp() };
    let mut text = format!("pid {pid}\npgid {pgid}\nstarted {}\n", monotonic_ns());
    let keys = ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "LISTEN_PIDFDID", "SERVER_STARTER_PORT", "NOTIFY_SOCKET"];
    for key in keys.into_iter().chain(["WATCHDOG_USEC", "WATCHDOG_PID"]) {
        if let Some(value) = std::env::var_os(key) {
            text.push_str(&format!("{key} {}\n", value.to_string_lossy()));
        }
    }
    for fd in 3..3 + count {
        text.push_str(&format!("fd{fd} {}\n", describe(fd)));
    }
    let others: Vec<String> = others_at_start.iter().filter(|&&fd| fd >= 3 + count).map(|fd| fd.to_string()).collect();
    text.push_str(&format!("other-fds {}\n", others.join(" ")));
    text
}

/// Sends one datagram to NOTIFY_SOCKET (a path or `@abstract`); false when there is none.
fn notify(message: &str) -> bool {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else { return false };
    let bytes = target.as_bytes();
    let address = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name),
        None => SocketAddr::from_pathname(Path::new(&target)),
    }
    .expect("NOTIFY_SOCKET address");
    let socket = UnixDatagram::unbound().expect("datagram socket");
    socket.send_to_addr(message.as_bytes(), &address).is_ok()
}

/// Sends READY=1 from this process (true when sent), or from a forked child of it (false).
fn send_ready(from_child: bool, linger: bool) -> bool {
    if !from_child {
        return notify("READY=1");
    }
    // SAFETY: getpid has no preconditions.
    let leader = unsafe { libc::getpid() };
    // SAFETY: this program is single-threaded, so the child may run ordinary code.
    match unsafe { libc::fork() } {
        0 => {
            if linger {
                // Stay as long as the leader lives, as a well-behaved helper does: the receiver
                // learns the sender's process group from its pid, which must still exist when
                // the message is read, however late that is.
                // SAFETY: prctl and getppid have no memory-safety preconditions.
                unsafe {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    if libc::getppid() != leader {
                        libc::_exit(0);
                    }
                }
            }
            let ok = notify("READY=1");
            if linger {
                loop {
                    // SAFETY: pause has no preconditions; the parent-death signal ends it.
                    unsafe { libc::pause() };
                }
            }
            // SAFETY: _exit ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        -1 => panic!("fork failed"),
        child if !linger => {
            let mut status = 0;
            // SAFETY: waits for our own child.
            unsafe { libc::waitpid(child, &mut status, 0) };
        }
        _ => {}
    }
    false
}

fn install_stop_handler() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic; no SA_RESTART so poll returns EINTR.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_stop as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// Accepts every queued connection on `fd` and answers each with `pid <pid>\n`.
fn answer_all(fd: i32, line: &[u8]) {
    loop {
        // SAFETY: accept4 with null address arguments; the listening socket is non-blocking.
        let conn = unsafe { libc::accept4(fd, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC) };
        if conn < 0 {
            return;
        }
        // SAFETY: writes our buffer to the connection we own, then closes it.
        unsafe {
            libc::write(conn, line.as_ptr() as *const libc::c_void, line.len());
            libc::close(conn);
        }
    }
}

/// SIGABRT noted in `path`, then fatal as by default; no core file either way.
fn install_abort_handler(path: Option<PathBuf>) {
    let zero = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: setrlimit reads one rlimit we own.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) };
    let Some(path) = path else { return };
    let file = fs::File::create(path).expect("create the abort marker");
    ABORT_FD.store(std::os::fd::IntoRawFd::into_raw_fd(file), Ordering::SeqCst);
    // SAFETY: the handler only makes async-signal-safe calls.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_abort as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGABRT, &action, std::ptr::null_mut());
    }
}

/// Whether systemd's rule gives this process a watchdog: WATCHDOG_USEC set, and WATCHDOG_PID
/// unset or its own pid.
fn has_watchdog() -> bool {
    let own = std::env::var("WATCHDOG_PID").map_or(true, |p| p == std::process::id().to_string());
    own && std::env::var("WATCHDOG_USEC").is_ok_and(|v| v.parse::<u64>().is_ok_and(|n| n > 0))
}

fn main() {
    let others_at_start = open_fds();
    let options = parse(std::env::args().skip(1).collect());
    install_stop_handler();
    let pid = std::process::id();
    let count: i32 = std::env::var("LISTEN_FDS").ok().and_then(|n| n.parse().ok()).unwrap_or(0);
    let marker = |name: &str| options.report_dir.as_ref().map(|d| d.join(format!("{name}.{pid}")));
    // Before the report: once a test sees the report, SIGABRT is noted.
    install_abort_handler(marker("abort"));
    if let Some(path) = marker("report") {
        write_atomic(&path, &report(&others_at_start, count));
    }
    if let Some(ms) = options.extend_ready {
        notify(&format!("EXTEND_TIMEOUT_USEC={}", ms * 1000));
        if let Some(path) = marker("extend-sent") {
            write_atomic(&path, &monotonic_ns().to_string());
        }
    }
    if let Some(text) = &options.status {
        notify(&format!("STATUS={text}"));
    }

    let listening: Vec<i32> = (3..3 + count).filter(|&fd| describe(fd).starts_with("listening")).collect();
    for &fd in &listening {
        // SAFETY: sets O_NONBLOCK on a descriptor we were handed (shared with the other
        // generations, which all serve the same way).
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
    let start = monotonic_ns();
    let ms = |n: u64| start + n * 1_000_000;
    let mut ready_at = if options.never_ready { None } else { options.ready_after.map(ms) };
    let mut ready_on = if options.never_ready { None } else { options.ready_on.clone() };
    let mut serving = !options.never_ready && options.ready_after.is_none() && options.ready_on.is_none();
    let exit_at = options.exit_after.map(|(n, code)| (ms(n), code));
    let line = format!("pid {pid}\n").into_bytes();
    let mut pinging = has_watchdog();
    let mut next_ping = start;
    let mut trigger_on = options.trigger_on.clone();

    loop {
        if STOP.swap(false, Ordering::SeqCst) {
            if let Some(path) = marker("term") {
                write_atomic(&path, &monotonic_ns().to_string());
            }
            if !options.ignore_term {
                std::process::exit(0);
            }
        }
        let now = monotonic_ns();
        if let Some((at, code)) = exit_at {
            if now >= at {
                std::process::exit(code);
            }
        }
        if let Some((file, code)) = &options.exit_on {
            if file.exists() {
                std::process::exit(*code);
            }
        }
        if options.crash_on.as_ref().is_some_and(|file| file.exists()) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
        if let Some((_, usec)) = options.hang_on.as_ref().filter(|(file, _)| pinging && file.exists()) {
            if let Some(usec) = usec {
                notify(&format!("WATCHDOG_USEC={usec}"));
            }
            pinging = false;
        }
        if pinging && now >= next_ping {
            notify("WATCHDOG=1");
            next_ping = now + 50_000_000;
        }
        if trigger_on.as_ref().is_some_and(|file| file.exists()) {
            notify("WATCHDOG=trigger");
            trigger_on = None;
        }
        if ready_at.is_some_and(|at| now >= at) || ready_on.as_ref().is_some_and(|file| file.exists()) {
            (ready_at, ready_on) = (None, None);
            let before = monotonic_ns();
            let sent = send_ready(options.ready_from_child, !options.child_exits_at_once);
            let after = monotonic_ns();
            if let Some(path) = marker("ready") {
                write_atomic(&path, &before.to_string());
            }
            if let Some(path) = marker("ready-sent").filter(|_| sent) {
                write_atomic(&path, &after.to_string());
            }
            serving = true;
        }
        let mut fds: Vec<libc::pollfd> = if serving {
            listening.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect()
        } else {
            Vec::new()
        };
        // A short timeout: the signal flag and the deadlines are checked between polls.
        // SAFETY: poll reads and writes the array we own, of the length we give.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 20) };
        if n > 0 {
            for p in fds.iter().filter(|p| p.revents != 0) {
                answer_all(p.fd, &line);
            }
        }
    }
}
