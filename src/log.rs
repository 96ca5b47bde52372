//! Logging to stderr: each line is assembled in a stack buffer and written
//! with one write(2), so it never interleaves with a child's output mid-line.
//! No formatting machinery: it costs bytes and can panic.
//!
//! A log write never blocks the event loop: a line that would block (a full
//! pipe nobody reads) is dropped and counted, and the next line that gets
//! through is preceded by "N log lines dropped". fd 2's open file
//! description is the children's too, so its flags stay as inherited; see
//! `init` for how hupwatch writes without blocking all the same.

use crate::sys;
use crate::text::Text;
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

/// Writes one line at `level`, built by `build` after the
/// `hupwatch[PID]: level: ` prefix, if that level is logged:
/// `log::warn(|l| l.text("cannot ...: ").errno(e))`.
pub fn line(level: Level, build: impl FnOnce(&mut Text) -> &mut Text) {
    if !enabled(level) {
        return;
    }
    let mut l = prefix(level);
    build(&mut l);
    emit(&mut l);
}

pub fn error(build: impl FnOnce(&mut Text) -> &mut Text) {
    line(Level::Error, build)
}

pub fn warn(build: impl FnOnce(&mut Text) -> &mut Text) {
    line(Level::Warn, build)
}

pub fn info(build: impl FnOnce(&mut Text) -> &mut Text) {
    line(Level::Info, build)
}

pub fn debug(build: impl FnOnce(&mut Text) -> &mut Text) {
    line(Level::Debug, build)
}

/// `hupwatch[PID]: level: `
fn prefix(level: Level) -> Text {
    let mut l = Text::new();
    l.text("hupwatch[").num(PID.load(Ordering::Relaxed).max(0) as u64).text("]: ");
    l.text(match level {
        Level::Error => "error: ",
        Level::Warn => "warn: ",
        Level::Info => "info: ",
        Level::Debug => "debug: ",
    });
    l
}

/// Writes `text` to stderr as one line with one write(2), keeping errno
/// intact; drops it when that would block (see the module's comment).
pub fn emit(text: &mut Text) {
    let saved = sys::saved_errno();
    let dropped = DROPPED.load(Ordering::Relaxed);
    let mut through = true;
    if dropped > 0 {
        let mut note = prefix(Level::Warn);
        note.num(dropped as u64).text(" log lines dropped (stderr would have blocked)");
        through = put(note.ended_by(b'\n'));
        if through {
            DROPPED.store(0, Ordering::Relaxed);
        }
    }
    if !(through && put(text.ended_by(b'\n'))) {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
    sys::set_errno(saved);
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

    /// Prints the failure as one line: `cannot ...: reason`.
    pub fn emit(&self) {
        error(|l| match self.errno {
            Some(e) => l.bytes(&self.what).text(": ").errno(e),
            None => l.bytes(&self.what),
        });
    }
}
