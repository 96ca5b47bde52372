//! The sd_notify protocol both ways. Downward (`--notify`): each generation
//! gets its own datagram socket as NOTIFY_SOCKET, in a private 0700
//! directory; a message counts only when its sender (by SCM_CREDENTIALS) is
//! the generation's leader or in its process group. Upward: when hupwatch
//! itself was given NOTIFY_SOCKET, it tells its supervisor READY, RELOADING
//! and STOPPING, so `systemctl reload` waits for the real reload.

use crate::log::{self, Fatal, Level, Line};
use crate::path;
use crate::supervisor::{Pid, Report};
use crate::sys::{self, Fd, OwnedFd, SockName};

/// What a generation said that hupwatch acts on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Message<'a> {
    Ready,
    Status(&'a [u8]),
}

/// The lines of one datagram that matter: READY=1 and STATUS=...
pub fn parse(datagram: &[u8]) -> impl Iterator<Item = Message<'_>> {
    datagram.split(|&b| b == b'\n').filter_map(|line| {
        if line == b"READY=1" { Some(Message::Ready) } else { line.strip_prefix(b"STATUS=").map(Message::Status) }
    })
}

struct GenerationSocket {
    number: u32,
    pid: Option<Pid>,
    socket: OwnedFd,
    path: Vec<u8>,
}

/// The private directory of the generations' notify sockets.
pub struct Downward {
    dir: Vec<u8>,
    sockets: Vec<GenerationSocket>,
}

impl Downward {
    /// Creates the private directory: under $RUNTIME_DIRECTORY,
    /// $XDG_RUNTIME_DIR or $TMPDIR when set, else /tmp, /run or /dev/shm.
    pub fn create() -> Result<Downward, Fatal> {
        let from_env = [&b"RUNTIME_DIRECTORY"[..], b"XDG_RUNTIME_DIR", b"TMPDIR"].into_iter().filter_map(sys::getenv);
        let bases = from_env.filter(|v| !v.is_empty()).chain([&b"/tmp"[..], b"/run", b"/dev/shm"]);
        for base in bases {
            for attempt in 0..8u64 {
                let salt = (sys::monotonic_ns() ^ attempt.wrapping_mul(0x9e37_79b9_7f4a_7c15)) % 1_000_000;
                let mut name = Line::bare();
                name.text("hupwatch-").num(sys::getpid().max(0) as u64).text("-").num(salt);
                let dir = path::join(base, name.as_bytes());
                match sys::mkdir(&dir, 0o700) {
                    Ok(()) => return Ok(Downward { dir, sockets: Vec::new() }),
                    Err(sys::Errno(libc::EEXIST)) => continue,
                    Err(_) => break,
                }
            }
        }
        Err(Fatal::message(&[
            b"cannot create a private directory for the notify sockets (set TMPDIR to a writable directory)",
        ]))
    }

    /// Binds generation `number`'s socket; returns the NOTIFY_SOCKET value.
    pub fn prepare(&mut self, number: u32) -> Result<Vec<u8>, sys::Errno> {
        let mut name = Line::bare();
        name.text("gen-").num(number as u64);
        let path = path::join(&self.dir, name.as_bytes());
        let _ = sys::unlink(&path);
        let address = SockName::Unix(path.clone());
        let socket = sys::socket(&address, libc::SOCK_DGRAM)?;
        sys::bind(socket.0, &address)?;
        sys::enable_socket_option(socket.0, libc::SO_PASSCRED)?;
        self.sockets.push(GenerationSocket { number, pid: None, socket, path: path.clone() });
        Ok(path)
    }

    pub fn started(&mut self, number: u32, pid: Pid) {
        if let Some(s) = self.sockets.iter_mut().find(|s| s.number == number) {
            s.pid = Some(pid);
        }
    }

    /// Closes and removes generation `number`'s socket.
    pub fn forget(&mut self, number: u32) {
        if let Some(i) = self.sockets.iter().position(|s| s.number == number) {
            let s = self.sockets.remove(i);
            let _ = sys::unlink(&s.path);
        }
    }

    pub fn fds(&self) -> impl Iterator<Item = Fd> + '_ {
        self.sockets.iter().map(|s| s.socket.0)
    }

    /// Reads every queued datagram of the socket `fd`; returns the leader
    /// pids of generations that reported READY=1.
    pub fn receive(&mut self, fd: Fd, ready: &mut Vec<Pid>) {
        let Some(s) = self.sockets.iter().find(|s| s.socket.0 == fd) else { return };
        let mut buf = [0u8; 4096];
        while let Ok(Some((n, sender))) = sys::recv_with_sender(fd, &mut buf) {
            let Some(leader) = s.pid else { continue };
            let belongs = sender.is_some_and(|p| p == leader || sys::getpgid(p) == Ok(leader));
            if !belongs {
                if let Some(mut l) = log::line(Level::Debug) {
                    l.text("ignoring a notify message from pid ").num(sender.unwrap_or(0).max(0) as u64);
                    l.text(", not of ").generation(s.number, leader).emit();
                }
                continue;
            }
            for message in parse(&buf[..n]) {
                match message {
                    Message::Ready => ready.push(leader),
                    Message::Status(text) => {
                        if let Some(mut l) = log::line(Level::Info) {
                            l.generation(s.number, leader).text(" status: ").bytes(text).emit();
                        }
                    }
                }
            }
        }
    }
}

impl Drop for Downward {
    fn drop(&mut self) {
        for s in self.sockets.drain(..) {
            let _ = sys::unlink(&s.path);
        }
        let _ = sys::rmdir(&self.dir);
    }
}

/// hupwatch's own supervisor's notify socket.
pub struct Upward {
    socket: OwnedFd,
    address: SockName,
    stopping_sent: bool,
}

impl Upward {
    /// From hupwatch's NOTIFY_SOCKET: a path, or `@name` for an abstract socket.
    pub fn from_env() -> Option<Upward> {
        let value = sys::getenv(b"NOTIFY_SOCKET")?;
        if !matches!(value.first(), Some(b'/' | b'@')) {
            return None;
        }
        let address = SockName::Unix(value.to_vec());
        let socket = sys::socket(&address, libc::SOCK_DGRAM).ok()?;
        Some(Upward { socket, address, stopping_sent: false })
    }

    /// Tells the supervisor what a report means for the service, if anything.
    pub fn report(&mut self, report: &Report, now_ns: u64) {
        let mut line = Line::bare();
        if !message_for(report, now_ns, &mut line) {
            return;
        }
        if matches!(report, Report::ShuttingDown { .. } | Report::Exiting { .. }) {
            if self.stopping_sent {
                return;
            }
            self.stopping_sent = true;
        }
        let _ = sys::send_to(self.socket.0, line.as_bytes(), &self.address);
    }
}

/// Renders the notification for `report` into `line`; false when there is none.
fn message_for(report: &Report, now_ns: u64, line: &mut Line) -> bool {
    match *report {
        Report::Promoted { number, pid, replaced: None, .. } => {
            line.text("READY=1\nSTATUS=serving: ").generation(number, pid);
        }
        Report::Promoted { number, pid, replaced: Some(_), .. } => {
            line.text("READY=1\nSTATUS=reloaded: ").generation(number, pid).text(" serving");
        }
        Report::ReloadStarted { number } => {
            line.text("RELOADING=1\nMONOTONIC_USEC=").num(now_ns / 1000);
            line.text("\nSTATUS=reloading: starting generation ").num(number as u64);
        }
        Report::Abandoned { number, serving: Some((n, p)), .. } => {
            line.text("READY=1\nSTATUS=reload failed: generation ").num(number as u64);
            line.text(" abandoned, ").generation(n, p).text(" serving");
        }
        Report::ShuttingDown { .. } | Report::Exiting { .. } => {
            line.text("STOPPING=1");
        }
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::{Failure, Status};

    #[test]
    fn parses_ready_and_status_lines() {
        let got: Vec<_> = parse(b"STATUS=booting\nMAINPID=7\nREADY=1\nREADY=0\n").collect();
        assert_eq!(got, [Message::Status(b"booting"), Message::Ready]);
        assert_eq!(parse(b"READY=10").count(), 0);
    }

    fn rendered(report: Report) -> Option<String> {
        let mut line = Line::bare();
        message_for(&report, 5_000_000, &mut line).then(|| String::from_utf8(line.as_bytes().to_vec()).unwrap())
    }

    #[test]
    fn upward_messages() {
        assert_eq!(
            rendered(Report::ReloadStarted { number: 2 }).unwrap().lines().take(2).collect::<Vec<_>>(),
            ["RELOADING=1", "MONOTONIC_USEC=5000"]
        );
        let ready = rendered(Report::Promoted { number: 2, pid: 9, replaced: Some((1, 8)), stop_signal: 15 });
        assert!(ready.unwrap().starts_with("READY=1\nSTATUS=reloaded"));
        let why = Failure::Exited(Status::Exited(1));
        let failed = rendered(Report::Abandoned { number: 3, pid: Some(4), why, serving: Some((2, 9)) });
        assert!(failed.unwrap().starts_with("READY=1\nSTATUS=reload failed"));
        assert_eq!(rendered(Report::ShuttingDown { signal: 15 }).as_deref(), Some("STOPPING=1"));
        assert_eq!(rendered(Report::ReloadQueued), None);
    }
}
