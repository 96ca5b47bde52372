//! Every call into libc or straight into the kernel lives under `sys/`,
//! and hupwatch's allocator: thin wrappers that turn `-1` + errno into
//! `Err(Errno)`, one call per `unsafe` block, each with its SAFETY reason.
//! Raw system calls stand in for libc's wrappers where those carry code for
//! old kernels, 32-bit ABIs or thread cancellation that a 60 KB binary
//! without threads does without (fork included, see `fork`). The crate
//! root denies `unsafe` everywhere else. Split by kernel surface: `process`,
//! `signal`, `fs` (files, paths, descriptors, environment, inotify), `net`,
//! `alloc`; this module holds what they share: errno, the descriptor, the
//! clock and the wait with a timeout.
#![allow(unsafe_code)]

mod alloc;
mod fs;
mod net;
mod process;
mod signal;

pub use fs::*;
pub use net::*;
pub use process::*;
pub use signal::*;

use crate::text::Text;
use core::ffi::{c_char, c_int};

pub type Fd = c_int;

/// An `errno` value from a failed call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Errno(pub c_int);

pub const ECHILD: Errno = Errno(libc::ECHILD);
pub const ENOENT: Errno = Errno(libc::ENOENT);
pub const ESRCH: Errno = Errno(libc::ESRCH);
pub const EAGAIN: Errno = Errno(libc::EAGAIN);

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

/// The words for an errno, when hupwatch knows them.
fn describe(e: Errno) -> Option<&'static [u8]> {
    let i = ERRNOS.iter().position(|&n| n as i32 == e.0)?;
    crate::text::words(TEXTS.as_bytes()).nth(i)
}

impl Text {
    /// What went wrong, in words for the errors hupwatch's calls can
    /// meet, else `error N`.
    pub fn errno(&mut self, e: Errno) -> &mut Text {
        match describe(e) {
            Some(words) => self.bytes(words),
            None => self.text("error ").num(e.0.max(0) as u64),
        }
    }
}

fn errno() -> Errno {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    Errno(unsafe { *libc::__errno_location() })
}

/// Restores errno, so that logging never changes what a caller reads after it.
pub fn set_errno(e: Errno) {
    // SAFETY: as in `errno`; the slot is writable for the calling thread.
    unsafe { *libc::__errno_location() = e.0 }
}

pub fn saved_errno() -> Errno {
    errno()
}

// Only libc's fork is called through it, where that is not musl's.
#[cfg_attr(target_env = "musl", allow(dead_code))]
fn cvt(ret: c_int) -> Result<c_int, Errno> {
    if ret == -1 { Err(errno()) } else { Ok(ret) }
}

fn cvt_long(ret: libc::c_long) -> Result<libc::c_long, Errno> {
    if ret == -1 { Err(errno()) } else { Ok(ret) }
}

/// Calls `call` again for as long as it fails with EINTR: a call that
/// waits must not fail because a signal arrived meanwhile.
fn cvt_r<T>(mut call: impl FnMut() -> Result<T, Errno>) -> Result<T, Errno> {
    loop {
        match call() {
            Err(Errno(libc::EINTR)) => {}
            result => return result,
        }
    }
}

/// The longest path handed to the kernel, with its NUL (PATH_MAX).
const PATH_MAX: usize = 4096;

/// Whether text holds a NUL byte (so cannot be passed as a C string).
#[expect(clippy::manual_contains, reason = "contains() links a 250-byte memchr for these short strings")]
fn has_nul(text: &[u8]) -> bool {
    text.iter().any(|&b| b == 0)
}

/// Text as a NUL-terminated string on the stack, so that no path needs an
/// allocation (and the child may use one between fork and exec). Only the
/// bytes of the text and its NUL are written: zeroing all 4 KiB for every
/// path call was most of the instructions of a reload and of --watch.
struct CText(core::mem::MaybeUninit<[u8; PATH_MAX]>);

impl CText {
    /// A buffer for `fill`. Filled in place, never returned filled: a 4 KiB
    /// value moved through a `Result` was copied twice, and every path call
    /// touched 12 KiB of stack.
    fn uninit() -> CText {
        CText(core::mem::MaybeUninit::uninit())
    }

    /// The parts one after the other, with the NUL. Text with a NUL byte,
    /// or too long, fails as the kernel would fail it.
    fn fill(&mut self, parts: &[&[u8]]) -> Result<&CText, Errno> {
        let buf = self.0.as_mut_ptr() as *mut u8;
        let mut len = 0;
        for part in parts {
            if len + part.len() >= PATH_MAX {
                return Err(Errno(libc::ENAMETOOLONG));
            }
            if has_nul(part) {
                return Err(Errno(libc::EINVAL));
            }
            // SAFETY: len + part.len() < PATH_MAX (checked above), so the
            // copy stays inside the buffer; the two never overlap.
            unsafe { core::ptr::copy_nonoverlapping(part.as_ptr(), buf.add(len), part.len()) };
            len += part.len();
        }
        // SAFETY: len < PATH_MAX, inside the buffer.
        unsafe { buf.add(len).write(0) };
        Ok(self)
    }

    /// The string, up to and with its NUL: every byte before it was written.
    fn ptr(&self) -> *const c_char {
        self.0.as_ptr() as *const c_char
    }
}

/// A system call of the `*at` family on `path`, relative to the working
/// directory: `nr(AT_FDCWD, path, a, b)`.
///
/// # Safety
/// `a` and `b` must be what `nr` expects there (pointers valid for it).
unsafe fn path_call(nr: libc::c_long, path: &[u8], a: usize, b: usize) -> Result<libc::c_long, Errno> {
    let mut buf = CText::uninit();
    let path = buf.fill(&[path])?;
    // SAFETY: path is NUL-terminated; the caller vouches for a and b.
    cvt_long(unsafe { libc::syscall(nr, libc::AT_FDCWD, path.ptr(), a, b) })
}

/// CLOCK_MONOTONIC in nanoseconds. The raw system call: libc's wrapper
/// would look the vDSO up (600 bytes) to save ~100 ns per wake-up.
pub fn monotonic_ns() -> u64 {
    // SAFETY: timespec is plain old data.
    let mut ts: libc::timespec = unsafe { core::mem::zeroed() };
    // SAFETY: ts is a valid out-pointer; CLOCK_MONOTONIC always exists.
    unsafe { libc::syscall(libc::SYS_clock_gettime, libc::CLOCK_MONOTONIC, &mut ts as *mut libc::timespec) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A duration in nanoseconds as a timespec, at most i32::MAX seconds (68
/// years), so that it fits a 32-bit time_t too.
fn timespec(ns: u64) -> libc::timespec {
    // SAFETY: timespec is plain old data; all-zero is a valid value.
    let mut ts: libc::timespec = unsafe { core::mem::zeroed() };
    // `as _`: time_t's width differs between libcs.
    ts.tv_sec = (ns / 1_000_000_000).min(i32::MAX as u64) as _;
    ts.tv_nsec = (ns % 1_000_000_000) as _;
    ts
}

/// Sleeps for `ns` nanoseconds (or less, when a signal interrupts).
pub fn sleep(ns: u64) {
    let ts = timespec(ns);
    // SAFETY: ts is a valid timespec; no remainder is asked for.
    unsafe { libc::syscall(libc::SYS_nanosleep, &ts as *const libc::timespec, 0usize) };
}

/// Random bytes from the kernel, without blocking; false when it has none.
pub fn random(buf: &mut [u8]) -> bool {
    // SAFETY: buf is writable for its length.
    let n = unsafe { libc::syscall(libc::SYS_getrandom, buf.as_mut_ptr(), buf.len(), libc::GRND_NONBLOCK) };
    n == buf.len() as libc::c_long
}

pub use libc::pollfd as PollFd;
pub const POLLIN: i16 = libc::POLLIN;

/// ppoll(2) with an optional timeout in nanoseconds; EINTR counts as "nothing
/// ready". This is hupwatch's only blocking point.
pub fn poll(fds: &mut [PollFd], timeout_ns: Option<u64>) -> Result<usize, Errno> {
    let ts = timeout_ns.map(timespec);
    let ts_ptr = ts.as_ref().map_or(core::ptr::null(), |t| t as *const libc::timespec);
    // The raw system call, as for read, write and close: musl's wrappers are
    // also cancellation points, which a program without threads never needs.
    let (nfds, mask) = (fds.len(), core::ptr::null::<u64>());
    // SAFETY: fds is a valid array of nfds pollfd; ts_ptr is NULL or valid;
    // no signal mask is passed.
    match cvt_long(unsafe { libc::syscall(libc::SYS_ppoll, fds.as_mut_ptr(), nfds, ts_ptr, mask, 8usize) }) {
        Ok(n) => Ok(n as usize),
        Err(Errno(libc::EINTR)) => Ok(0),
        Err(e) => Err(e),
    }
}

pub fn write(fd: Fd, buf: &[u8]) -> Result<usize, Errno> {
    // SAFETY: buf is a valid readable buffer of buf.len() bytes.
    cvt_long(unsafe { libc::syscall(libc::SYS_write, fd, buf.as_ptr(), buf.len()) }).map(|n| n as usize)
}

pub fn read(fd: Fd, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: buf is a valid writable buffer of buf.len() bytes.
    cvt_r(|| cvt_long(unsafe { libc::syscall(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len()) }).map(|n| n as usize))
}

pub fn close(fd: Fd) {
    // SAFETY: closing an fd we own; errors are not actionable.
    unsafe { libc::syscall(libc::SYS_close, fd) };
}

/// A descriptor closed when dropped.
#[derive(Debug)]
pub struct OwnedFd(pub Fd);

impl OwnedFd {
    /// Keeps the descriptor open for good.
    pub fn into_raw(self) -> Fd {
        core::mem::ManuallyDrop::new(self).0
    }
}

impl Drop for OwnedFd {
    fn drop(&mut self) {
        close(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_in_words_or_by_number() {
        let mut t = Text::new();
        t.errno(ENOENT).text("; ").errno(Errno(libc::EADDRINUSE)).text("; ").errno(Errno(71));
        assert_eq!(t.as_bytes(), b"No such file or directory; Address already in use; error 71");
        let mut numbers = ERRNOS.to_vec();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), ERRNOS.len(), "each errno once, and none above 255");
        assert_eq!(TEXTS.split('\0').count(), ERRNOS.len() + 1, "a text for each");
        assert_eq!(describe(Errno(libc::EDQUOT)), Some(&b"Disk quota exceeded"[..]), "the last one");
    }
}
