//! The sd_notify protocol both ways. Downward (`--notify`): every generation
//! gets the same NOTIFY_SOCKET, one datagram socket bound once in the
//! abstract namespace (`@hupwatch/PID/RANDOM`: no file, so nothing is left
//! behind even when hupwatch is SIGKILLed, and one descriptor however many
//! generations drain), as systemd has one for all its services. A message
//! belongs to the generation whose leader sent it or whose process group the
//! sender is in (by SCM_CREDENTIALS, which the kernel vouches for); from
//! anyone else it is ignored.
//! Upward: when hupwatch itself was given NOTIFY_SOCKET, it tells its
//! supervisor READY, RELOADING and STOPPING, so `systemctl reload` waits for
//! the real reload, and pings its watchdog when it has one.

use crate::log;
use crate::supervisor::{Event, Nanos};
use crate::sys::{self, Errno, Fd, OwnedFd, Pid, SockName};
use crate::text::{Text, parse_decimal};

/// What a generation said that hupwatch acts on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Message<'a> {
    Ready,
    Status(&'a [u8]),
    /// WATCHDOG=1
    Watchdog,
    /// WATCHDOG=trigger
    WatchdogTrigger,
    /// WATCHDOG_USEC=, in nanoseconds
    WatchdogInterval(Nanos),
    /// EXTEND_TIMEOUT_USEC=, in nanoseconds
    ExtendTimeout(Nanos),
}

/// The lines hupwatch reads: each key with its `=`, those that take no
/// value with it too. A table, not a `match` on byte strings: that
/// compiles to one comparison each, 500 bytes for these six.
const LINES: [&[u8]; 6] =
    [b"READY=1", b"STATUS=", b"WATCHDOG=1", b"WATCHDOG=trigger", b"WATCHDOG_USEC=", b"EXTEND_TIMEOUT_USEC="];

/// The lines of one datagram that matter: READY=1, STATUS=..., the
/// watchdog's and EXTEND_TIMEOUT_USEC=.
pub fn parse(datagram: &[u8]) -> impl Iterator<Item = Message<'_>> {
    datagram.split(|&b| b == b'\n').filter_map(|line| {
        let i = LINES.iter().position(|l| line.starts_with(l))?;
        let value = &line[LINES[i].len()..];
        Some(match i {
            1 => Message::Status(value),
            _ if matches!(i, 0 | 2 | 3) && !value.is_empty() => return None,
            0 => Message::Ready,
            2 => Message::Watchdog,
            3 => Message::WatchdogTrigger,
            4 => Message::WatchdogInterval(usec(value)?),
            _ => Message::ExtendTimeout(usec(value)?),
        })
    })
}

/// A count of microseconds (a message's, or WATCHDOG_USEC) in nanoseconds.
fn usec(text: &[u8]) -> Option<Nanos> {
    parse_decimal(text).map(|n| n.saturating_mul(1000))
}

/// At most this many STATUS= lines of one generation are logged per
/// second, and only those that changed: a generation flooding its socket
/// must not flood the log.
pub const STATUS_LINES_PER_SECOND: u32 = 4;

/// Which STATUS= lines to log for one generation.
#[derive(Default)]
struct StatusLimit {
    /// A hash of the last text logged.
    last: u64,
    /// The current one-second window and the lines logged in it.
    window: u64,
    logged: u32,
}

impl StatusLimit {
    /// Whether `text`, received at `now`, is logged.
    fn admit(&mut self, text: &[u8], now: u64) -> bool {
        // FNV-1a: a change of text is all that matters here.
        let hash = text.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        if hash == self.last {
            return false;
        }
        let window = now / 1_000_000_000;
        if window != self.window {
            (self.window, self.logged) = (window, 0);
        }
        if self.logged >= STATUS_LINES_PER_SECOND {
            return false;
        }
        self.logged += 1;
        self.last = hash;
        true
    }
}

/// A generation that may send messages: its leader's pid.
struct Sender {
    number: u32,
    leader: Pid,
    status: StatusLimit,
}

/// The generations' notify socket.
pub struct Downward {
    socket: OwnedFd,
    /// The NOTIFY_SOCKET value: `@` and the abstract name.
    address: Vec<u8>,
    generations: Vec<Sender>,
}

/// A name no other process can guess (so none can bind it first): from the
/// kernel's random numbers, else the clock.
fn unpredictable() -> u64 {
    let mut bytes = [0u8; 8];
    if sys::random(&mut bytes) { u64::from_ne_bytes(bytes) } else { sys::monotonic_ns() }
}

impl Downward {
    /// Binds the socket every generation gets as NOTIFY_SOCKET.
    pub fn bind() -> Result<Downward, Errno> {
        let mut attempt = 0;
        loop {
            let mut name = Text::new();
            name.text("@hupwatch/").num(sys::getpid() as u64).text("/").num(unpredictable());
            let address = SockName::Unix(name.as_bytes().to_vec());
            let socket = sys::socket(&address, libc::SOCK_DGRAM)?;
            match sys::bind(socket.0, &address) {
                Err(Errno(libc::EADDRINUSE)) if attempt < 8 => attempt += 1,
                Err(e) => return Err(e),
                Ok(()) => {
                    sys::enable_socket_option(socket.0, libc::SO_PASSCRED)?;
                    let address = name.as_bytes().to_vec();
                    return Ok(Downward { socket, address, generations: Vec::new() });
                }
            }
        }
    }

    /// The NOTIFY_SOCKET value.
    pub fn address(&self) -> &[u8] {
        &self.address
    }

    /// Generation `number` runs as `leader`: its messages count from now on.
    pub fn started(&mut self, number: u32, leader: Pid) {
        self.generations.push(Sender { number, leader, status: StatusLimit::default() });
    }

    /// Generation `number` is gone: its messages no longer count.
    pub fn forget(&mut self, number: u32) {
        self.generations.retain(|s| s.number != number);
    }

    pub fn fd(&self) -> Fd {
        self.socket.0
    }

    /// Reads every queued datagram; calls `heard` with what a generation
    /// said that the supervisor acts on, as from its leader. A failed
    /// receive ends the reading and is returned.
    pub fn receive(&mut self, now: u64, mut heard: impl FnMut(Event)) -> Result<(), Errno> {
        let mut buf = [0u8; 4096];
        while let Some((n, sender)) = sys::recv_with_sender(self.socket.0, &mut buf)? {
            let pid = sender.unwrap_or(0);
            let group = || sys::getpgid(pid).unwrap_or(0);
            let Some(s) = self.generations.iter_mut().find(|s| pid > 0 && (s.leader == pid || group() == s.leader))
            else {
                log::debug(|l| {
                    l.text("ignoring a notify message from pid ").num(pid.max(0) as u64).text(", of no generation")
                });
                continue;
            };
            let pid = s.leader;
            for message in parse(&buf[..n]) {
                heard(match message {
                    Message::Ready => Event::Ready { pid },
                    Message::Watchdog => Event::WatchdogPing { pid },
                    Message::WatchdogTrigger => Event::WatchdogTrigger { pid },
                    Message::WatchdogInterval(interval) => Event::WatchdogInterval { pid, interval },
                    Message::ExtendTimeout(by) => Event::ExtendTimeout { pid, by },
                    Message::Status(text) => {
                        if s.status.admit(text, now) {
                            log::info(|l| l.generation(s.number, pid).text(" status: ").quoted(text, 4096));
                        }
                        continue;
                    }
                });
            }
        }
        Ok(())
    }
}

/// hupwatch's own supervisor's notify socket.
pub struct Upward {
    socket: OwnedFd,
    address: SockName,
    stopping_sent: bool,
    /// hupwatch's own watchdog: WATCHDOG=1 every half of WATCHDOG_USEC,
    /// next at `ping_at`.
    ping_every: Option<Nanos>,
    ping_at: Nanos,
}

impl Upward {
    /// From hupwatch's NOTIFY_SOCKET: a path, or `@name` for an abstract
    /// socket; with its watchdog when WATCHDOG_USEC is set for hupwatch
    /// (WATCHDOG_PID unset or hupwatch's pid, as sd_watchdog_enabled reads it).
    pub fn from_env(own_pid: Pid, now: Nanos) -> Option<Upward> {
        let value = sys::getenv(b"NOTIFY_SOCKET")?;
        if !matches!(value.first(), Some(b'/' | b'@')) {
            return None;
        }
        let address = SockName::Unix(value.to_vec());
        let socket = sys::socket(&address, libc::SOCK_DGRAM).ok()?;
        let ours = sys::getenv(b"WATCHDOG_PID").is_none_or(|p| parse_decimal(p) == Some(own_pid as u64));
        let ping_every = sys::getenv(b"WATCHDOG_USEC").and_then(usec).filter(|&t| t > 0 && ours).map(|t| t / 2);
        Some(Upward { socket, address, stopping_sent: false, ping_every, ping_at: now })
    }

    /// When hupwatch's own watchdog wants its next WATCHDOG=1.
    pub fn ping_due(&self) -> Option<Nanos> {
        self.ping_every.map(|_| self.ping_at)
    }

    /// Sends WATCHDOG=1 and sets the next ping.
    pub fn ping(&mut self, now: Nanos) {
        self.ping_at = now.saturating_add(self.ping_every.unwrap_or(0));
        self.send(b"WATCHDOG=1", false);
    }

    /// Sends one message; STOPPING=1 (`stopping`) only once.
    pub fn send(&mut self, message: &[u8], stopping: bool) {
        if stopping && std::mem::replace(&mut self.stopping_sent, true) {
            return;
        }
        let _ = sys::send_to(self.socket.0, message, &self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_only_when_changed_and_few_per_second() {
        let mut limit = StatusLimit::default();
        let second = 1_000_000_000;
        assert!(limit.admit(b"booting", 5 * second));
        assert!(!limit.admit(b"booting", 5 * second + 1), "unchanged");
        let logged = (0..100).filter(|i| limit.admit(format!("step {i}").as_bytes(), 5 * second + 2)).count();
        assert_eq!(logged as u32, STATUS_LINES_PER_SECOND - 1, "the rest of this second's lines");
        assert!(limit.admit(b"serving", 6 * second), "a new second");
    }

    #[test]
    fn parses_ready_and_status_lines() {
        let got: Vec<_> = parse(b"STATUS=booting\nMAINPID=7\nREADY=1\nREADY=0\n").collect();
        assert_eq!(got, [Message::Status(b"booting"), Message::Ready]);
        assert_eq!(parse(b"READY=10").count(), 0);
    }

    #[test]
    fn parses_watchdog_and_extend_lines() {
        let got: Vec<_> =
            parse(b"WATCHDOG=1\nWATCHDOG=trigger\nWATCHDOG_USEC=20000000\nEXTEND_TIMEOUT_USEC=5\nSTATUS=a=b").collect();
        assert_eq!(
            got,
            [
                Message::Watchdog,
                Message::WatchdogTrigger,
                Message::WatchdogInterval(20_000_000_000),
                Message::ExtendTimeout(5_000),
                Message::Status(b"a=b")
            ]
        );
        for junk in
            [&b"WATCHDOG=0"[..], b"WATCHDOG=", b"WATCHDOG_USEC=-1", b"WATCHDOG_USEC=", b"EXTEND_TIMEOUT_USEC=1s"]
        {
            assert_eq!(parse(junk).count(), 0, "{junk:?}");
        }
        assert_eq!(usec(b"18446744073709551615"), Some(u64::MAX), "saturates");
    }
}
