//! Logging to stderr: each line is assembled in a stack buffer and written
//! with one write(2), so it never interleaves with a child's output mid-line.
//! No formatting machinery: it costs bytes and can panic.
//!
//! A log write never blocks the event loop: a line that would block (a full
//! pipe nobody reads) is dropped and counted, and the next line that gets
//! through is preceded by "N log lines dropped". fd 2's open file
//! description is the children's too, so its flags stay as inherited; see
//! `init` for how hupwatch writes without blocking all the same.

use crate::signals::{self, Signal};
use crate::supervisor::{Failure, Report, SpawnFailure, Step};
use crate::sys;
use crate::sys::Status;
use core::sync::atomic::{AtomicI32, AtomicU8, AtomicU32, Ordering};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static PID: AtomicI32 = AtomicI32::new(0);

/// How lines are written, chosen once by `init`.
const WRITE: u8 = 0;
/// send(2) with MSG_DONTWAIT on a socket.
const SEND: u8 = 1;
/// write(2) only when the pipe has room for the whole line.
const WRITE_IF_ROOM: u8 = 2;
static SINK: AtomicU8 = AtomicU8::new(WRITE);
static SINK_FD: AtomicI32 = AtomicI32::new(2);
/// Lines dropped since the last one written.
static DROPPED: AtomicU32 = AtomicU32::new(0);

/// Chooses how to write to stderr without blocking, leaving fd 2's open
/// file description (shared with the children, who expect it blocking)
/// untouched. A file or block device: plain write(2), which never waits
/// indefinitely. A socket: send(2) with MSG_DONTWAIT, a per-call flag. A
/// pipe or terminal: a second open file description of it, opened through
/// /proc with O_NONBLOCK; without /proc a pipe is written only when it has
/// room for the whole line, a terminal plainly.
pub fn init() {
    let (sink, fd) = match sys::file_type(2) {
        Ok(libc::S_IFSOCK) => (SEND, 2),
        Ok(kind @ (libc::S_IFIFO | libc::S_IFCHR)) => {
            let flags = libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
            match sys::open(b"/proc/self/fd/2", flags) {
                Ok(fd) => (WRITE, fd),
                Err(_) if kind == libc::S_IFIFO => (WRITE_IF_ROOM, 2),
                Err(_) => (WRITE, 2),
            }
        }
        _ => (WRITE, 2),
    };
    SINK.store(sink, Ordering::Relaxed);
    SINK_FD.store(fd, Ordering::Relaxed);
}

/// Writes one line (with its newline) as `init` chose; false when it
/// would have blocked.
fn put(bytes: &[u8]) -> bool {
    let fd = SINK_FD.load(Ordering::Relaxed);
    let written = match SINK.load(Ordering::Relaxed) {
        SEND => sys::send_nonblocking(fd, bytes),
        WRITE_IF_ROOM if sys::pipe_room(fd).is_ok_and(|room| room < bytes.len()) => Err(sys::EAGAIN),
        _ => sys::write(fd, bytes),
    };
    written != Err(sys::EAGAIN)
}

pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Remembers hupwatch's own pid for the line prefix.
pub fn set_pid(pid: i32) {
    PID.store(pid, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

const CAPACITY: usize = 1024;

/// One log line under construction.
pub struct Line {
    buf: [u8; CAPACITY],
    len: usize,
}

impl Line {
    /// A line with the `hupwatch[PID]: level: ` prefix.
    pub fn new(level: Level) -> Line {
        let mut line = Line::bare();
        line.text("hupwatch[").num(PID.load(Ordering::Relaxed).max(0) as u64).text("]: ");
        line.text(match level {
            Level::Error => "error: ",
            Level::Warn => "warn: ",
            Level::Info => "info: ",
            Level::Debug => "debug: ",
        });
        line
    }

    /// A line without prefix, for messages before hupwatch runs anything.
    pub fn bare() -> Line {
        Line { buf: [0; CAPACITY], len: 0 }
    }

    pub fn bytes(&mut self, b: &[u8]) -> &mut Line {
        // Keep one byte for the newline; cut what does not fit.
        let room = CAPACITY - 1 - self.len;
        let n = b.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
        self
    }

    /// Bytes from outside (a command-line value, a path, a STATUS text)
    /// kept on one line: control bytes and bytes that are not UTF-8 as
    /// `\xNN`, and past `limit` input bytes cut with `...`.
    pub fn quoted(&mut self, b: &[u8], limit: usize) -> &mut Line {
        // The bytes of `b` up to a little past the limit, and how many
        // bytes from `at` on are known to be valid UTF-8.
        let whole = b.len();
        let b = &b[..whole.min(limit.saturating_add(4))];
        let mut valid = 0;
        for (at, &byte) in b.iter().enumerate() {
            // Cut only before the first byte of a character.
            if at >= limit && byte & 0xc0 != 0x80 {
                return self.text("...");
            }
            if valid == 0 {
                valid = match core::str::from_utf8(&b[at..]) {
                    Ok(s) => s.len(),
                    Err(e) => e.valid_up_to(),
                };
            }
            if valid == 0 || byte < 0x20 || byte == 0x7f {
                let hex = b"0123456789abcdef";
                self.bytes(&[b'\\', b'x', hex[byte as usize >> 4], hex[byte as usize & 15]]);
            } else {
                self.bytes(&[byte]);
            }
            valid = valid.saturating_sub(1);
        }
        if whole > b.len() {
            self.text("...");
        }
        self
    }

    pub fn text(&mut self, s: &str) -> &mut Line {
        self.bytes(s.as_bytes())
    }

    pub fn num(&mut self, mut n: u64) -> &mut Line {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.bytes(&digits[i..])
    }

    pub fn signal(&mut self, sig: Signal) -> &mut Line {
        let (text, number) = signals::name(sig);
        self.text(text);
        if let Some(n) = number {
            self.num(n);
        }
        self
    }

    /// "exited with 3", "killed by SIGTERM".
    pub fn status(&mut self, status: Status) -> &mut Line {
        match status {
            Status::Exited(code) => self.text("exited with ").num(code as u64),
            Status::Killed(sig) => self.text("killed by ").signal(sig),
        }
    }

    /// "generation 2 (pid 57)".
    pub fn generation(&mut self, number: u32, pid: i32) -> &mut Line {
        self.text("generation ").num(number as u64).text(" (pid ").num(pid.max(0) as u64).text(")")
    }

    /// What went wrong, in words for the errors hupwatch's calls can
    /// meet, else `error N`.
    pub fn errno(&mut self, e: sys::Errno) -> &mut Line {
        match describe(e) {
            Some(text) => self.bytes(text),
            None => self.text("error ").num(e.0.max(0) as u64),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Writes the line to stderr with one write(2), keeping errno intact;
    /// drops it when that would block (see the module's comment).
    pub fn emit(&mut self) {
        let saved = sys::saved_errno();
        let dropped = DROPPED.load(Ordering::Relaxed);
        let mut through = true;
        if dropped > 0 {
            let mut note = Line::new(Level::Warn);
            note.num(dropped as u64).text(" log lines dropped (stderr would have blocked)");
            through = note.put();
            if through {
                DROPPED.store(0, Ordering::Relaxed);
            }
        }
        if !(through && self.put()) {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
        sys::set_errno(saved);
    }

    fn put(&mut self) -> bool {
        self.buf[self.len] = b'\n';
        put(&self.buf[..self.len + 1])
    }
}

/// The errors that the system calls hupwatch makes can report, in the usual
/// words: two compact tables, the errno numbers (all below 256 on Linux) and
/// the texts in the same order, each ended by a NUL. libc's strerror table
/// would be 2 KB of a 60 KB binary.
macro_rules! errors {
    ($($name:ident $text:literal,)*) => {
        const ERRNOS: &[u8] = &[$(libc::$name as u8),*];
        const TEXTS: &str = concat!($($text, "\0"),*);
    };
}

errors! {
    EPERM "Operation not permitted",
    ENOENT "No such file or directory",
    ESRCH "No such process",
    EINTR "Interrupted system call",
    EIO "Input/output error",
    E2BIG "Argument list too long",
    ENOEXEC "Exec format error",
    EBADF "Bad file descriptor",
    ECHILD "No child processes",
    EAGAIN "Resource temporarily unavailable",
    ENOMEM "Out of memory",
    EACCES "Permission denied",
    EFAULT "Bad address",
    EBUSY "Device or resource busy",
    EEXIST "File exists",
    ENODEV "No such device",
    ENOTDIR "Not a directory",
    EISDIR "Is a directory",
    EINVAL "Invalid argument",
    ENFILE "Too many open files in system",
    EMFILE "Too many open files",
    ETXTBSY "Text file busy",
    ENOSPC "No space left on device",
    EROFS "Read-only file system",
    EMLINK "Too many links",
    ENAMETOOLONG "File name too long",
    ENOSYS "Function not implemented",
    ELOOP "Too many levels of symbolic links",
    ELIBBAD "Accessing a corrupted shared library",
    ENOTSOCK "Socket operation on non-socket",
    EPROTOTYPE "Protocol wrong type for socket",
    EPROTONOSUPPORT "Protocol not supported",
    EOPNOTSUPP "Operation not supported",
    EAFNOSUPPORT "Address family not supported by protocol",
    EADDRINUSE "Address already in use",
    EADDRNOTAVAIL "Cannot assign requested address",
    ENETUNREACH "Network is unreachable",
    ENOBUFS "No buffer space available",
    ECONNREFUSED "Connection refused",
    EDQUOT "Disk quota exceeded",
}

fn describe(e: sys::Errno) -> Option<&'static [u8]> {
    let i = ERRNOS.iter().position(|&n| n as i32 == e.0)?;
    TEXTS.as_bytes().split(|&b| b == 0).nth(i)
}

/// hupwatch's own failure before or while it runs (exit status 1): what it
/// could not do, and the system's reason when there is one.
#[derive(Debug)]
pub struct Fatal {
    pub what: Vec<u8>,
    pub errno: Option<sys::Errno>,
}

impl Fatal {
    pub fn message(parts: &[&[u8]]) -> Fatal {
        Fatal { what: parts.concat(), errno: None }
    }

    /// For `map_err`: the failed call's errno as the reason for `what`.
    pub fn with(what: &'static [u8]) -> impl Fn(sys::Errno) -> Fatal {
        move |e| Fatal { what: what.to_vec(), errno: Some(e) }
    }

    pub fn errno(self, errno: Option<sys::Errno>) -> Fatal {
        Fatal { errno, ..self }
    }

    /// Prints the failure as one line: `cannot ...: reason`.
    pub fn emit(&self) {
        let mut l = Line::new(Level::Error);
        l.bytes(&self.what);
        if let Some(e) = self.errno {
            l.text(": ").errno(e);
        }
        l.emit();
    }
}

pub fn line(level: Level) -> Option<Line> {
    enabled(level).then(|| Line::new(level))
}

/// Renders one report of the supervisor as a log line.
pub fn report(r: &Report) {
    let level = match r {
        Report::Abandoned { .. } => Level::Error,
        Report::Killing { .. } | Report::ReloadRefused => Level::Warn,
        Report::Forwarded { .. } | Report::Dropped { .. } | Report::OrphanReaped { .. } => Level::Debug,
        Report::ReloadQueued | Report::Exiting { .. } => Level::Debug,
        _ => Level::Info,
    };
    let Some(mut l) = line(level) else { return };
    match *r {
        Report::Started { number, pid } => l.generation(number, pid).text(" started"),
        Report::ReloadStarted { number } => l.text("reload: starting generation ").num(number as u64),
        Report::ReloadQueued => l.text("reload requested during a reload: queued"),
        Report::ReloadRefused => l.text("reload ignored: shutting down"),
        Report::Promoted { number, pid, replaced: None, .. } => l.generation(number, pid).text(" is ready"),
        Report::Promoted { number, pid, replaced: Some((old, old_pid)), stop_signal } => l
            .generation(number, pid)
            .text(" is ready, stopping ")
            .generation(old, old_pid)
            .text(" with ")
            .signal(stop_signal),
        Report::Abandoned { number, pid, why, serving } => {
            l.text("reload abandoned: generation ").num(number as u64);
            if let Some(pid) = pid {
                l.text(" (pid ").num(pid as u64).text(")");
            }
            match why {
                Failure::Exited(status) => l.text(" ").status(status).text(" before it was ready"),
                Failure::NotReady => l.text(" was not ready in time"),
                Failure::SpawnFailed(SpawnFailure { step: Step::Exec, errno: sys::ENOENT }) => {
                    l.text(" could not start: command not found")
                }
                Failure::SpawnFailed(f) if f.exit_code() == 1 => l.text(" could not be started"),
                Failure::SpawnFailed(_) => l.text(" could not start its command"),
            };
            match serving {
                Some((n, p)) => l.text("; ").generation(n, p).text(" keeps serving"),
                None => l.text("; nothing left to serve"),
            }
        }
        Report::Drained { number, pid, status } => l.generation(number, pid).text(" drained: ").status(status),
        Report::ServingExited { number, pid, status } => {
            l.text("serving ").generation(number, pid).text(" ").status(status)
        }
        Report::Killing { number, pid } => {
            l.generation(number, pid).text(" did not stop in time: sending SIGKILL to its process group")
        }
        Report::Forwarded { signal, number, pid } => {
            l.text("forwarding ").signal(signal).text(" to ").generation(number, pid)
        }
        Report::Dropped { signal } => l.text("dropping ").signal(signal),
        Report::ShuttingDown { signal } => {
            l.text("shutting down on ").signal(signal).text(": stopping every generation")
        }
        Report::OrphanReaped { pid, status } => l.text("reaped process ").num(pid as u64).text(": ").status(status),
        Report::StoppingOrphans { signal } => l.text("sending ").signal(signal).text(" to the remaining processes"),
        Report::Exiting { code } => l.text("exiting with ").num(code as u64),
    };
    l.emit();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(l: &Line) -> String {
        String::from_utf8(l.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn builds_words_and_numbers() {
        let mut l = Line::bare();
        l.generation(2, 57).text(" ").status(Status::Exited(3)).text(", ").status(Status::Killed(15));
        assert_eq!(text(&l), "generation 2 (pid 57) exited with 3, killed by SIGTERM");
        let mut l = Line::bare();
        l.num(0).text(" ").num(u64::MAX).text(" ").signal(40);
        assert_eq!(text(&l), "0 18446744073709551615 SIGRTMIN+6");
    }

    #[test]
    fn errors_in_words_or_by_number() {
        let mut l = Line::bare();
        l.errno(sys::ENOENT).text("; ").errno(sys::Errno(libc::EADDRINUSE)).text("; ").errno(sys::Errno(71));
        assert_eq!(text(&l), "No such file or directory; Address already in use; error 71");
        let mut numbers = ERRNOS.to_vec();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), ERRNOS.len(), "each errno once, and none above 255");
        assert_eq!(TEXTS.split('\0').count(), ERRNOS.len() + 1, "a text for each");
        assert_eq!(describe(sys::Errno(libc::EDQUOT)), Some(&b"Disk quota exceeded"[..]), "the last one");
    }

    #[test]
    fn quotes_outside_bytes_on_one_line() {
        let mut l = Line::bare();
        l.quoted(b"a\nb\x1b[0m\xff\xc3\xa9\\", 100);
        assert_eq!(text(&l), "a\\x0ab\\x1b[0m\\xff\u{e9}\\");
        let mut l = Line::bare();
        l.quoted("\u{e9}\u{e9}\u{e9}".as_bytes(), 3);
        assert_eq!(text(&l), "\u{e9}\u{e9}...", "cut between characters only");
        let mut l = Line::bare();
        l.quoted(&[b'x'; 2000], 5);
        assert_eq!(text(&l), "xxxxx...");
    }

    #[test]
    fn cuts_long_lines_instead_of_overflowing() {
        let mut l = Line::bare();
        for _ in 0..200 {
            l.text("0123456789");
        }
        assert_eq!(l.as_bytes().len(), CAPACITY - 1);
    }
}
