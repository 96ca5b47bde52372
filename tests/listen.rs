//! --listen: the sockets hupwatch binds once (or takes over from socket activation) as every
//! generation of the test server (tests/support/server.rs) sees them, the same socket kept
//! across reloads with no connection refused, and the set-up errors that make hupwatch exit 1.

mod support;

use std::fs;
use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::process::Command;
use support::*;

// ---------------------------------------------------------------------------------------------
// Local helpers

/// The args for hupwatch running the server with `server_args` after `opts`.
fn server_args(dir: &TempDir, opts: &[String], server_args: &[&str]) -> Vec<String> {
    let mut args = opts.to_vec();
    args.push("--".into());
    args.push(server_bin().to_string_lossy().into_owned());
    args.push("--report-dir".into());
    args.push(dir.path().to_string_lossy().into_owned());
    args.extend(server_args.iter().map(|s| s.to_string()));
    args
}

/// Spawns hupwatch with `args`; returns it with generation 1's report, or None when hupwatch
/// exited first (its stderr is then in the panic message of the caller).
fn spawn_hupwatch(dir: &TempDir, args: &[String]) -> (Running, Option<Report>) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut hw = Running::spawn(&mut hupwatch(&args));
    let mut first = None;
    wait_until(LONG, || {
        first = reports(dir.path()).into_iter().next();
        first.is_some() || !hw.is_running()
    });
    (hw, first)
}

/// Starts hupwatch with the options `opts(port)` (which must listen on tcp:127.0.0.1:port)
/// and the server; picks another port when the free one was taken before hupwatch bound it.
fn start_tcp(dir: &TempDir, opts: impl Fn(u16) -> Vec<String>, args: &[&str]) -> (Running, Report, u16) {
    for _ in 0..5 {
        let port = free_port();
        let (mut hw, first) = spawn_hupwatch(dir, &server_args(dir, &opts(port), args));
        if let Some(first) = first {
            return (hw, first, port);
        }
        let exited = hw.try_exit().is_some();
        assert!(exited, "generation 1 did not start; stderr:\n{}", hw.stderr());
        assert!(hw.stderr().contains("in use"), "hupwatch exited at start; stderr:\n{}", hw.stderr());
    }
    panic!("no free port after 5 tries");
}

/// Starts hupwatch with `opts` (no TCP port to pick) and the server.
fn start(dir: &TempDir, opts: &[&str], args: &[&str]) -> (Running, Report) {
    let opts: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
    let (hw, first) = spawn_hupwatch(dir, &server_args(dir, &opts, args));
    let first = first.unwrap_or_else(|| panic!("generation 1 did not start; stderr:\n{}", hw.stderr()));
    (hw, first)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The inode of the socket a report line `fdN listening FAMILY ADDR inode I` names.
fn inode(line: &str) -> String {
    line.rsplit(' ').next().unwrap().to_string()
}

/// Asserts that hupwatch's stderr is one line, an error, mentioning `what`.
fn assert_one_error_line(stderr: &str, what: &str) {
    let lines = log_lines(stderr);
    assert_eq!(lines.len(), 1, "expected exactly one line on stderr, got:\n{stderr}");
    assert!(lines[0].contains("error"), "not an error line: {stderr}");
    assert!(lines[0].contains(what), "the error does not mention {what}: {stderr}");
}

// ---------------------------------------------------------------------------------------------
// What a generation is handed

#[test]
fn tcp_socket_is_handed_over_as_descriptor_3() {
    let dir = TempDir::new("tcp");
    let (mut hw, first, port) =
        start_tcp(&dir, |p| strings(&["-w", "0", "--listen", &format!("tcp:127.0.0.1:{p}")]), &[]);
    let r = &first;
    assert_eq!(r.get("LISTEN_FDS").as_deref(), Some("1"), "report:\n{}", r.text);
    assert_eq!(r.get("LISTEN_PID"), Some(r.pid.to_string()), "LISTEN_PID is not the server's pid:\n{}", r.text);
    assert_eq!(r.get("LISTEN_FDNAMES"), Some(format!("tcp-127.0.0.1-{port}")), "report:\n{}", r.text);
    assert_eq!(r.get("SERVER_STARTER_PORT"), Some(format!("127.0.0.1:{port}=3")), "report:\n{}", r.text);
    let fd3 = r.get("fd3").unwrap();
    assert!(fd3.starts_with(&format!("listening tcp 127.0.0.1:{port} ")), "fd 3: {fd3}");
    assert_eq!(r.get("other-fds").as_deref(), Some(""), "other descriptors leaked:\n{}", r.text);
    assert_eq!(r.get("NOTIFY_SOCKET"), None, "NOTIFY_SOCKET without --notify:\n{}", r.text);
    assert_eq!(r.get("LISTEN_PIDFDID"), None);
    assert_eq!(ask_tcp(port).unwrap(), r.pid);
    hw.stop();
}

#[test]
fn unix_socket_is_handed_over_as_descriptor_3() {
    let dir = TempDir::new("unix");
    let path = dir.join("app.sock");
    let (mut hw, r) = start(&dir, &["-w", "0", "--listen", &format!("unix:{}", path.display())], &[]);
    assert_eq!(r.get("LISTEN_FDS").as_deref(), Some("1"), "report:\n{}", r.text);
    assert_eq!(r.get("LISTEN_PID"), Some(r.pid.to_string()), "report:\n{}", r.text);
    assert_eq!(r.get("LISTEN_FDNAMES").as_deref(), Some("app.sock"), "report:\n{}", r.text);
    assert_eq!(r.get("SERVER_STARTER_PORT"), Some(format!("{}=3", path.display())), "report:\n{}", r.text);
    let fd3 = r.get("fd3").unwrap();
    assert!(fd3.starts_with(&format!("listening unix {} ", path.display())), "fd 3: {fd3}");
    assert_eq!(r.get("other-fds").as_deref(), Some(""), "other descriptors leaked:\n{}", r.text);
    assert_eq!(ask_unix(&path).unwrap(), r.pid);
    hw.stop();
}

#[test]
fn abstract_unix_socket_is_handed_over_without_a_file() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::SocketAddr;
    let dir = TempDir::new("abstract");
    let name = format!("hupwatch-test-{}-abstract", std::process::id());
    let mut cmd = hupwatch(
        &server_args(&dir, &strings(&["-w", "0", "--listen", &format!("unix:@{name}")]), &[])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    cmd.current_dir(dir.path());
    let mut hw = Running::spawn(&mut cmd);
    let r = wait_for(LONG, || reports(dir.path()).into_iter().next())
        .unwrap_or_else(|| panic!("generation 1 did not start; stderr:\n{}", hw.stderr()));
    assert_eq!(r.get("LISTEN_FDNAMES"), Some(name.clone()), "report:\n{}", r.text);
    assert_eq!(r.get("SERVER_STARTER_PORT"), Some(format!("@{name}=3")), "report:\n{}", r.text);
    assert!(r.get("fd3").unwrap().starts_with("listening unix"), "report:\n{}", r.text);
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let stream = UnixStream::connect_addr(&addr).unwrap();
    stream.set_read_timeout(Some(LONG)).unwrap();
    assert_eq!(answer(stream).unwrap(), r.pid);
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert!(!files.iter().any(|f| f.to_string_lossy().contains('@')), "a socket file was created: {files:?}");
    hw.stop();
}

#[test]
fn several_listens_are_handed_over_in_the_order_given() {
    for unix_first in [false, true] {
        let dir = TempDir::new("order");
        let path = dir.join("b.sock");
        let unix = format!("unix:{}", path.display());
        let opts = |p: u16| {
            let tcp = format!("tcp:127.0.0.1:{p}");
            let (a, b) = if unix_first { (unix.clone(), tcp) } else { (tcp, unix.clone()) };
            strings(&["-w", "0", "--listen", &a, "--listen", &b])
        };
        let (mut hw, r, port) = start_tcp(&dir, opts, &[]);
        let tcp_name = format!("tcp-127.0.0.1-{port}");
        let tcp_key = format!("127.0.0.1:{port}");
        let (tcp_fd, unix_fd) = if unix_first { (4, 3) } else { (3, 4) };
        let names = if unix_first { format!("b.sock:{tcp_name}") } else { format!("{tcp_name}:b.sock") };
        let starter = if unix_first {
            format!("{}=3;{tcp_key}=4", path.display())
        } else {
            format!("{tcp_key}=3;{}=4", path.display())
        };
        assert_eq!(r.get("LISTEN_FDS").as_deref(), Some("2"), "report:\n{}", r.text);
        assert_eq!(r.get("LISTEN_PID"), Some(r.pid.to_string()), "report:\n{}", r.text);
        assert_eq!(r.get("LISTEN_FDNAMES"), Some(names), "report:\n{}", r.text);
        assert_eq!(r.get("SERVER_STARTER_PORT"), Some(starter), "report:\n{}", r.text);
        let tcp = r.get(&format!("fd{tcp_fd}")).unwrap();
        let un = r.get(&format!("fd{unix_fd}")).unwrap();
        assert!(tcp.starts_with(&format!("listening tcp 127.0.0.1:{port} ")), "fd {tcp_fd}: {tcp}\n{}", r.text);
        assert!(un.starts_with(&format!("listening unix {} ", path.display())), "fd {unix_fd}: {un}\n{}", r.text);
        assert_eq!(r.get("other-fds").as_deref(), Some(""), "other descriptors leaked:\n{}", r.text);
        assert_eq!(ask_tcp(port).unwrap(), r.pid);
        assert_eq!(ask_unix(&path).unwrap(), r.pid);
        hw.stop();
    }
}

#[test]
fn ipv6_socket_is_handed_over() {
    let Ok(probe) = TcpListener::bind("[::1]:0") else {
        return support::skip("cannot bind [::1] here (no IPv6 loopback)");
    };
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let dir = TempDir::new("ipv6");
    let (mut hw, r) = start(&dir, &["-w", "0", "--listen", &format!("tcp:[::1]:{port}")], &[]);
    assert_eq!(r.get("LISTEN_FDS").as_deref(), Some("1"), "report:\n{}", r.text);
    let fd3 = r.get("fd3").unwrap();
    assert!(fd3.starts_with(&format!("listening tcp6 [::1]:{port} ")), "fd 3: {fd3}");
    assert_eq!(r.get("SERVER_STARTER_PORT"), Some(format!("[::1]:{port}=3")), "report:\n{}", r.text);
    let names = r.get("LISTEN_FDNAMES").unwrap_or_default();
    assert!(!names.is_empty() && !names.contains(':'), "LISTEN_FDNAMES must be one name without ':': {names:?}");
    let stream = TcpStream::connect(("::1", port)).unwrap();
    stream.set_read_timeout(Some(LONG)).unwrap();
    assert_eq!(answer(stream).unwrap(), r.pid);
    hw.stop();
}

// ---------------------------------------------------------------------------------------------
// Reloads keep the socket

#[test]
fn reload_hands_the_same_socket_to_the_new_generation() {
    let dir = TempDir::new("same-socket");
    let (mut hw, first, port) =
        start_tcp(&dir, |p| strings(&["-w", "0.05", "--listen", &format!("tcp:127.0.0.1:{p}")]), &[]);
    assert_eq!(ask_tcp(port).unwrap(), first.pid, "before the reload");
    let socket = inode(&first.get("fd3").unwrap());
    let target = format!("socket:[{socket}]");
    assert!(
        fds(hw.pid()).iter().any(|(_, t)| *t == target),
        "hupwatch does not hold the socket it handed over ({target}): {:?}",
        fds(hw.pid())
    );
    hw.signal(libc::SIGHUP);
    let second = next_report(dir.path(), &hw, &[first.pid]);
    assert_eq!(inode(&second.get("fd3").unwrap()), socket, "generation 2 got another socket:\n{}", second.text);
    assert_eq!(second.get("LISTEN_PID"), Some(second.pid.to_string()), "report:\n{}", second.text);
    assert!(wait_until(LONG, || !exists(first.pid)), "generation 1 not stopped; stderr:\n{}", hw.stderr());
    assert_eq!(ask_tcp(port).unwrap(), second.pid, "after the reload");
    hw.stop();
}

#[test]
fn no_connection_is_refused_or_dropped_during_reloads() {
    let dir = TempDir::new("no-refused");
    let path = dir.join("app.sock");
    let unix = format!("unix:{}", path.display());
    let opts = |p: u16| strings(&["-w", "0.05", "--listen", &format!("tcp:127.0.0.1:{p}"), "--listen", &unix]);
    let (mut hw, first, port) = start_tcp(&dir, opts, &[]);
    let tcp_client = Client::start(move || ask_tcp(port));
    let unix_path = path.clone();
    let unix_client = Client::start(move || ask_unix(&unix_path));
    let mut gens = vec![first.pid];
    for _ in 0..5 {
        let old = *gens.last().unwrap();
        hw.signal(libc::SIGHUP);
        let new = next_report(dir.path(), &hw, &gens).pid;
        assert!(wait_until(LONG, || !exists(old)), "generation {old} not stopped; stderr:\n{}", hw.stderr());
        for (name, client) in [("tcp", &tcp_client), ("unix", &unix_client)] {
            assert!(
                wait_until(LONG, || client.last() == new),
                "{name}: generation {new} never answered; stderr:\n{}",
                hw.stderr()
            );
        }
        gens.push(new);
    }
    for (name, client) in [("tcp", tcp_client), ("unix", unix_client)] {
        let outcomes = client.finish();
        let failed: Vec<String> = outcomes.iter().filter_map(|o| o.as_ref().err()).map(|e| e.to_string()).collect();
        let strangers: Vec<i32> =
            outcomes.iter().filter_map(|o| o.as_ref().ok()).copied().filter(|p| !gens.contains(p)).collect();
        eprintln!("{name}: {} connections during 5 reloads, {} failed", outcomes.len(), failed.len());
        assert!(failed.is_empty(), "{name}: {} of {} connections failed: {:?}", failed.len(), outcomes.len(), failed);
        assert!(strangers.is_empty(), "{name}: answered by unknown pids {strangers:?}");
    }
    hw.stop();
}

// ---------------------------------------------------------------------------------------------
// Socket activation of hupwatch itself

/// A command that runs hupwatch with `args` through `sh`, with LISTEN_PID set to hupwatch's
/// own pid (the shell's pid, which `exec` keeps) and `listener` as descriptor 3.
fn activated(listener_fd: i32, args: &[String]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(r#"LISTEN_PID=$$ exec "$0" "$@""#).arg(hupwatch_bin()).args(args);
    cmd.stdin(std::process::Stdio::null());
    // SAFETY: dup2 and fcntl are async-signal-safe and allocate nothing.
    unsafe {
        cmd.pre_exec(move || {
            if listener_fd == 3 {
                if libc::fcntl(3, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(listener_fd, 3) != 3 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

#[test]
fn sockets_from_socket_activation_are_taken_over() {
    let dir = TempDir::new("activated");
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let path = dir.join("extra.sock");
    let opts = strings(&["-w", "0", "--listen", &format!("unix:{}", path.display())]);
    let mut cmd = activated(listener.as_raw_fd(), &server_args(&dir, &opts, &[]));
    cmd.env("LISTEN_FDS", "1").env("LISTEN_FDNAMES", "web").env("LISTEN_PIDFDID", "4242");
    let mut hw = Running::spawn(&mut cmd);
    let r = wait_for(LONG, || reports(dir.path()).into_iter().next())
        .unwrap_or_else(|| panic!("generation 1 did not start; stderr:\n{}", hw.stderr()));
    assert_eq!(r.get("LISTEN_FDS").as_deref(), Some("2"), "report:\n{}", r.text);
    assert_eq!(r.get("LISTEN_PID"), Some(r.pid.to_string()), "LISTEN_PID not rewritten:\n{}", r.text);
    assert_eq!(r.get("LISTEN_FDNAMES").as_deref(), Some("web:extra.sock"), "report:\n{}", r.text);
    assert_eq!(r.get("LISTEN_PIDFDID"), None, "LISTEN_PIDFDID passed on:\n{}", r.text);
    let fd3 = r.get("fd3").unwrap();
    assert!(fd3.starts_with(&format!("listening tcp 127.0.0.1:{port} ")), "fd 3: {fd3}\n{}", r.text);
    let fd4 = r.get("fd4").unwrap();
    assert!(fd4.starts_with(&format!("listening unix {} ", path.display())), "fd 4: {fd4}\n{}", r.text);
    assert_eq!(r.get("other-fds").as_deref(), Some(""), "other descriptors leaked:\n{}", r.text);
    // The test's own socket is the one served: a connection to it reaches the generation.
    assert_eq!(ask_tcp(port).unwrap(), r.pid);
    // And the next generation gets it too, with its own LISTEN_PID.
    hw.signal(libc::SIGHUP);
    let second = next_report(dir.path(), &hw, &[r.pid]);
    assert_eq!(second.get("LISTEN_PID"), Some(second.pid.to_string()), "report:\n{}", second.text);
    assert_eq!(inode(&second.get("fd3").unwrap()), inode(&fd3));
    assert!(wait_until(LONG, || !exists(r.pid)), "generation 1 not stopped; stderr:\n{}", hw.stderr());
    assert_eq!(ask_tcp(port).unwrap(), second.pid);
    hw.stop();
    // Server::Starter's format is ADDR=FD: the inherited socket is named by its address.
    let starter = r.get("SERVER_STARTER_PORT").unwrap_or_default();
    assert_eq!(starter, format!("127.0.0.1:{port}=3;{}=4", path.display()), "SERVER_STARTER_PORT");
}

#[test]
fn systemd_socket_activate_hands_its_socket_through() {
    // systemd's own tool: binds, waits for the first connection, then execs hupwatch with the
    // socket as descriptor 3 and LISTEN_PID set to its (and so hupwatch's) pid.
    if !on_path("systemd-socket-activate") {
        return support::skip("systemd-socket-activate not installed (Debian package: systemd)");
    }
    let dir = TempDir::new("socket-activate");
    for _ in 0..5 {
        let port = free_port();
        let mut cmd = Command::new("systemd-socket-activate");
        cmd.arg("-l").arg(format!("127.0.0.1:{port}")).arg("--fdname=web").arg(hupwatch_bin());
        cmd.args(server_args(&dir, &strings(&["-w", "0"]), &[])).stdin(std::process::Stdio::null());
        let mut hw = Running::spawn(&mut cmd);
        wait_until(LONG, || hw.stderr().contains("Listening on") || !hw.is_running());
        if !hw.is_running() {
            continue; // the port was taken meanwhile
        }
        // The first connection makes it exec hupwatch, whose generation answers it.
        let first = ask_tcp(port).unwrap_or_else(|e| panic!("{e}; stderr:\n{}", hw.stderr()));
        let r = wait_for(LONG, || reports(dir.path()).into_iter().next()).unwrap();
        assert_eq!(first, r.pid, "answered by another process");
        assert_eq!(r.get("LISTEN_FDS").as_deref(), Some("1"), "report:\n{}", r.text);
        assert_eq!(r.get("LISTEN_PID"), Some(r.pid.to_string()), "report:\n{}", r.text);
        assert_eq!(r.get("LISTEN_FDNAMES").as_deref(), Some("web"), "report:\n{}", r.text);
        let fd3 = r.get("fd3").unwrap();
        assert!(fd3.starts_with(&format!("listening tcp 127.0.0.1:{port} ")), "fd 3: {fd3}");
        hw.signal(libc::SIGHUP);
        let second = next_report(dir.path(), &hw, &[r.pid]);
        assert!(wait_until(LONG, || !exists(r.pid)), "generation 1 not stopped; stderr:\n{}", hw.stderr());
        assert_eq!(ask_tcp(port).unwrap(), second.pid);
        hw.stop();
        return;
    }
    panic!("systemd-socket-activate found no free port in 5 tries");
}

#[test]
fn socket_activation_variables_for_another_process_are_not_passed_on() {
    // LISTEN_PID names another process: the sockets are not hupwatch's, and the variables
    // must not reach a generation, which would take them for its own.
    let dir = TempDir::new("not-ours");
    let mut cmd = hupwatch(&[]);
    cmd.args(server_args(&dir, &strings(&["-w", "0"]), &[]));
    cmd.env("LISTEN_FDS", "1").env("LISTEN_PID", "1").env("LISTEN_FDNAMES", "web").env("LISTEN_PIDFDID", "7");
    cmd.env("SERVER_STARTER_PORT", "127.0.0.1:1=3");
    let mut hw = Running::spawn(&mut cmd);
    let r = wait_for(LONG, || reports(dir.path()).into_iter().next())
        .unwrap_or_else(|| panic!("generation 1 did not start; stderr:\n{}", hw.stderr()));
    for key in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "LISTEN_PIDFDID", "SERVER_STARTER_PORT"] {
        assert_eq!(r.get(key), None, "{key} passed on:\n{}", r.text);
    }
    hw.stop();
}

// ---------------------------------------------------------------------------------------------
// Unix socket paths

#[test]
fn stale_unix_socket_is_replaced() {
    let dir = TempDir::new("stale");
    let path = dir.join("app.sock");
    // A socket file nobody listens on any more, as a crash leaves it.
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let listen = format!("unix:{}", path.display());
    let (hw, r) = start(&dir, &["-w", "0", "--listen", &listen], &[]);
    assert_eq!(ask_unix(&path).unwrap(), r.pid);
    // hupwatch killed outright leaves its socket file behind; the next one replaces it.
    drop(hw);
    assert!(path.exists(), "the socket file vanished with a SIGKILLed hupwatch");
    let dir2 = TempDir::new("stale-again");
    let (mut hw, r) = start(&dir2, &["-w", "0", "--listen", &listen], &[]);
    assert_eq!(ask_unix(&path).unwrap(), r.pid);
    hw.stop();
}

/// Runs hupwatch (with the server) to its end; returns its code and stderr.
fn run_failing(dir: &TempDir, opts: &[&str]) -> (i32, String) {
    let args = server_args(dir, &strings(opts), &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, stderr) = run_to_end(&mut hupwatch(&args), LONG);
    assert!(reports(dir.path()).is_empty(), "a generation was started although set-up failed; stderr:\n{stderr}");
    (code, stderr)
}

#[test]
fn live_unix_socket_is_refused() {
    let dir = TempDir::new("live");
    let path = dir.join("app.sock");
    let owner = UnixListener::bind(&path).unwrap();
    let (code, stderr) = run_failing(&dir, &["--listen", &format!("unix:{}", path.display())]);
    assert_eq!(code, 1, "stderr:\n{stderr}");
    assert_one_error_line(&stderr, &path.display().to_string());
    // The other process's socket is untouched: still there and still its own.
    owner.set_nonblocking(true).unwrap();
    while owner.accept().is_ok() {} // the probe connection hupwatch may have made
    let _client = UnixStream::connect(&path).expect("the live socket was removed or replaced");
    assert!(owner.accept().is_ok(), "the live socket no longer reaches its owner");
}

#[test]
fn non_socket_path_is_refused() {
    let dir = TempDir::new("not-socket");
    let path = dir.join("app.sock");
    fs::write(&path, "keep me\n").unwrap();
    let (code, stderr) = run_failing(&dir, &["--listen", &format!("unix:{}", path.display())]);
    assert_eq!(code, 1, "stderr:\n{stderr}");
    assert_one_error_line(&stderr, &path.display().to_string());
    assert_eq!(read(&path), "keep me\n", "the file was changed");
}

#[test]
fn too_long_unix_path_is_refused_with_the_reason() {
    // sockaddr_un holds 107 bytes of path: say so rather than just "failed".
    let dir = TempDir::new("path-length");
    let path = dir.join("s".repeat(120));
    let (code, stderr) = run_failing(&dir, &["--listen", &format!("unix:{}", path.display())]);
    assert_eq!(code, 1, "stderr:\n{stderr}");
    assert_one_error_line(&stderr, &path.display().to_string());
    assert!(stderr.contains("long"), "the error does not say the path is too long: {stderr}");
}

#[test]
fn address_in_use_exits_1_with_one_line() {
    let dir = TempDir::new("in-use");
    let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let (code, stderr) = run_failing(&dir, &["--listen", &format!("tcp:127.0.0.1:{port}")]);
    assert_eq!(code, 1, "stderr:\n{stderr}");
    assert_one_error_line(&stderr, &port.to_string());
    assert!(stderr.contains("in use"), "the error does not say why: {stderr}");
}

#[test]
fn socket_path_is_removed_when_hupwatch_exits() {
    // Shut down by a signal.
    let dir = TempDir::new("removed-term");
    let path = dir.join("app.sock");
    let (mut hw, _) = start(&dir, &["-w", "0", "--listen", &format!("unix:{}", path.display())], &[]);
    assert!(path.exists());
    hw.stop();
    assert!(!path.exists(), "{} left behind after SIGTERM", path.display());

    // The serving generation exited on its own: hupwatch exits with its status.
    let dir = TempDir::new("removed-exit");
    let path = dir.join("app.sock");
    let (mut hw, _) =
        start(&dir, &["-w", "0", "--listen", &format!("unix:{}", path.display())], &["--exit-after", "200", "3"]);
    assert_eq!(hw.wait_code(LONG), 3, "stderr:\n{}", hw.stderr());
    assert!(!path.exists(), "{} left behind after the generation exited", path.display());
}

#[test]
fn socket_path_is_removed_when_a_later_listen_fails() {
    let dir = TempDir::new("removed-fail");
    let path = dir.join("app.sock");
    let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let (code, stderr) = run_failing(
        &dir,
        &["--listen", &format!("unix:{}", path.display()), "--listen", &format!("tcp:127.0.0.1:{port}")],
    );
    assert_eq!(code, 1, "stderr:\n{stderr}");
    assert_one_error_line(&stderr, &port.to_string());
    assert!(!path.exists(), "{} left behind although hupwatch exited 1 at set-up", path.display());
}
