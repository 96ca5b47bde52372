//! Every call into libc or straight into the kernel lives here, and
//! hupwatch's allocator: thin wrappers that turn `-1` + errno into
//! `Err(Errno)`, one call per `unsafe` block, each with its SAFETY reason.
//! Raw system calls stand in for libc's wrappers where those carry code for
//! old kernels or 32-bit ABIs that a 60 KB binary does without. The crate
//! root denies `unsafe` everywhere else.
#![allow(unsafe_code)]

use core::ffi::{CStr, c_char, c_int};

pub type Fd = c_int;
pub type Pid = libc::pid_t;

/// An `errno` value from a failed call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Errno(pub c_int);

pub const ECHILD: Errno = Errno(libc::ECHILD);
pub const ENOENT: Errno = Errno(libc::ENOENT);
pub const ESRCH: Errno = Errno(libc::ESRCH);
pub const EAGAIN: Errno = Errno(libc::EAGAIN);

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

fn cvt(ret: c_int) -> Result<c_int, Errno> {
    if ret == -1 { Err(errno()) } else { Ok(ret) }
}

fn cvt_long(ret: libc::c_long) -> Result<libc::c_long, Errno> {
    if ret == -1 { Err(errno()) } else { Ok(ret) }
}

fn cvt_size(ret: isize) -> Result<usize, Errno> {
    if ret < 0 { Err(errno()) } else { Ok(ret as usize) }
}

// ---------------------------------------------------------------- entry

/// The C entry point. hupwatch is built with `#![no_main]`, so Rust's runtime
/// start-up never runs: it would set SIGPIPE to ignored and install stack
/// overflow handlers, and the children must see the caller's signal state.
#[cfg(not(test))]
#[unsafe(no_mangle)]
pub extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let mut args = Vec::new();
    for i in 0..argc.max(0) as usize {
        // SAFETY: the C runtime passes argc valid pointers in argv.
        let p = unsafe { *argv.add(i) };
        if p.is_null() {
            break;
        }
        // SAFETY: each argv entry is a NUL-terminated string.
        let bytes = unsafe { CStr::from_ptr(p) }.to_bytes().to_vec();
        args.push(OsString::from_vec(bytes));
    }
    crate::run_main(args)
}

/// Ends the process at once: no destructors, no stdio flushing.
pub fn exit_now(code: c_int) -> ! {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}

// ---------------------------------------------------------------- memory

/// hupwatch's allocator, in place of libc's malloc (about 9 KB of code in a
/// static musl binary; this is a few hundred bytes). Requests round up to a
/// power-of-two class from 16 bytes to 2 KiB, carved from 64 KiB anonymous
/// mappings and kept on one free list per class for reuse; anything larger
/// gets a mapping of its own, returned at once when freed. hupwatch
/// allocates while it sets up and then the same few sizes per reload, so the
/// free lists bound what it holds. It never starts a thread, so no lock.
pub struct Allocator(core::cell::UnsafeCell<Heap>);

struct Heap {
    /// The first free block of each class; a free block holds the next one's address.
    free: [*mut u8; CLASSES],
    /// The unused rest of the current chunk.
    next: usize,
    end: usize,
}

const SMALLEST: usize = 16;
/// 16, 32, ..., 2048 bytes.
const CLASSES: usize = 8;
const CHUNK: usize = 64 << 10;
const PAGE: usize = 4096;

// SAFETY: hupwatch is single-threaded (it never starts a thread), so the
// heap is never reached from two threads. Unit tests, which run in threads,
// use the system allocator and only private instances of this one.
unsafe impl Sync for Allocator {}

#[cfg(not(test))]
#[global_allocator]
static ALLOCATOR: Allocator = Allocator::new();

impl Allocator {
    pub const fn new() -> Allocator {
        Allocator(core::cell::UnsafeCell::new(Heap { free: [core::ptr::null_mut(); CLASSES], next: 0, end: 0 }))
    }
}

/// A layout's class (index and block size), or `None` when it is large.
fn class(layout: core::alloc::Layout) -> Option<(usize, usize)> {
    let size = layout.size().max(layout.align()).max(SMALLEST).next_power_of_two();
    let index = (size.trailing_zeros() - SMALLEST.trailing_zeros()) as usize;
    (index < CLASSES).then_some((index, size))
}

fn round_up(n: usize, to: usize) -> usize {
    (n + to - 1) & !(to - 1)
}

/// Fresh zeroed pages; null when the kernel has none.
fn map(len: usize) -> *mut u8 {
    let (prot, flags) = (libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS);
    // 32-bit targets map with mmap2: i386's SYS_mmap is the old call that
    // takes a pointer to its arguments, and 32-bit ARM has none. The offset
    // (0 here) counts pages instead of bytes.
    #[cfg(target_pointer_width = "32")]
    let nr = libc::SYS_mmap2;
    #[cfg(target_pointer_width = "64")]
    let nr = libc::SYS_mmap;
    // SAFETY: an anonymous private mapping touches no existing memory.
    let p = unsafe { libc::syscall(nr, 0usize, len, prot, flags, -1 as c_int, 0usize) };
    if p == -1 { core::ptr::null_mut() } else { p as *mut u8 }
}

// SAFETY: every block handed out is `layout.size()` bytes or more, aligned to
// `layout.align()` (a class block sits at a multiple of its size inside a
// page-aligned chunk, and the class is at least the alignment), and belongs
// to one caller until it is freed.
unsafe impl core::alloc::GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        // SAFETY: single-threaded (see `Sync` above), and no reference to
        // the heap outlives this call.
        let heap = unsafe { &mut *self.0.get() };
        let Some((index, size)) = class(layout) else {
            return if layout.align() > PAGE { core::ptr::null_mut() } else { map(round_up(layout.size(), PAGE)) };
        };
        let head = heap.free[index];
        if !head.is_null() {
            // SAFETY: a free block's first word holds the next free block.
            heap.free[index] = unsafe { *(head as *mut *mut u8) };
            return head;
        }
        let mut start = round_up(heap.next, size);
        if start + size > heap.end {
            let chunk = map(CHUNK);
            if chunk.is_null() {
                return chunk;
            }
            start = chunk as usize;
            heap.end = start + CHUNK;
        }
        heap.next = start + size;
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: core::alloc::Layout) {
        // SAFETY: as in `alloc`.
        let heap = unsafe { &mut *self.0.get() };
        match class(layout) {
            Some((index, _)) => {
                // SAFETY: the block is the caller's to give back and holds at
                // least one aligned pointer (16 bytes or more).
                unsafe { *(ptr as *mut *mut u8) = heap.free[index] };
                heap.free[index] = ptr;
            }
            // SAFETY: a large block is a mapping of exactly this length.
            None => unsafe {
                libc::syscall(libc::SYS_munmap, ptr, round_up(layout.size(), PAGE));
            },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: core::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees new_size, rounded up to the
        // alignment, does not overflow isize.
        let new_layout = unsafe { core::alloc::Layout::from_size_align_unchecked(new_size, layout.align()) };
        let old_class = class(layout);
        if old_class.is_some() && old_class == class(new_layout) {
            return ptr;
        }
        // SAFETY: new_layout has a non-zero size (callers never realloc to 0).
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for the smaller size and distinct.
            unsafe {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

// ---------------------------------------------------------------- processes

pub fn getpid() -> Pid {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

pub fn getppid() -> Pid {
    // SAFETY: getppid cannot fail.
    unsafe { libc::getppid() }
}

pub enum Forked {
    Child,
    Parent(Pid),
}

#[cfg(target_env = "musl")]
unsafe extern "C" {
    /// musl's fork without the atfork machinery: fork() itself would take
    /// the malloc lock and so link libc's allocator, which hupwatch replaces.
    fn _Fork() -> Pid;
}

/// fork(2). hupwatch is single-threaded, so the child may run any code that
/// does not allocate; the callers keep to async-signal-safe calls.
pub fn fork() -> Result<Forked, Errno> {
    #[cfg(target_env = "musl")]
    // SAFETY: single-threaded process; the child only makes raw system calls.
    let pid = cvt(unsafe { _Fork() })?;
    #[cfg(not(target_env = "musl"))]
    // SAFETY: as above.
    let pid = cvt(unsafe { libc::fork() })?;
    Ok(if pid == 0 { Forked::Child } else { Forked::Parent(pid) })
}

pub fn setpgid(pid: Pid, pgid: Pid) -> Result<(), Errno> {
    // SAFETY: plain system call on integers.
    cvt(unsafe { libc::setpgid(pid, pgid) }).map(drop)
}

pub fn kill(pid: Pid, sig: c_int) -> Result<(), Errno> {
    // SAFETY: plain system call on integers.
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// A child's end as waitpid(2) reports it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WaitStatus {
    Exited(u8),
    Killed(c_int),
}

fn decode_status(status: c_int) -> WaitStatus {
    if libc::WIFSIGNALED(status) {
        WaitStatus::Killed(libc::WTERMSIG(status))
    } else {
        WaitStatus::Exited(libc::WEXITSTATUS(status) as u8)
    }
}

/// One waitpid(-1, WNOHANG): `Ok(None)` when children exist but none has
/// ended, `Err(ECHILD)` when there are no children at all.
pub fn reap_one() -> Result<Option<(Pid, WaitStatus)>, Errno> {
    let mut status: c_int = 0;
    loop {
        // SAFETY: status is a valid out-pointer.
        match cvt(unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) }) {
            Ok(0) => return Ok(None),
            Ok(pid) => return Ok(Some((pid, decode_status(status)))),
            Err(Errno(libc::EINTR)) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Blocking waitpid for one known child (used for a child whose exec failed).
pub fn wait_for(pid: Pid) -> Result<WaitStatus, Errno> {
    let mut status: c_int = 0;
    loop {
        // SAFETY: status is a valid out-pointer.
        match cvt(unsafe { libc::waitpid(pid, &mut status, 0) }) {
            Ok(_) => return Ok(decode_status(status)),
            Err(Errno(libc::EINTR)) => continue,
            Err(e) => return Err(e),
        }
    }
}

pub fn set_child_subreaper() -> Result<(), Errno> {
    // SAFETY: prctl with integer arguments only.
    cvt(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) }).map(drop)
}

pub fn set_parent_death_signal(sig: c_int) -> Result<(), Errno> {
    // SAFETY: prctl with integer arguments only.
    cvt(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) }).map(drop)
}

/// chdir(2); allocates nothing, so the child may call it after fork.
pub fn chdir(path: &[u8]) -> Result<(), Errno> {
    let path = CText::new(path)?;
    // SAFETY: path is NUL-terminated.
    cvt(unsafe { libc::chdir(path.ptr()) }).map(drop)
}

/// execve(2) of the path made of `parts`: returns only on failure. Both
/// pointer arrays end with NULL. Allocates nothing (the child calls it).
pub fn execve(parts: &[&[u8]], argv: &[*const c_char], envp: &[*const c_char]) -> Errno {
    debug_assert!(argv.last().is_some_and(|p| p.is_null()));
    debug_assert!(envp.last().is_some_and(|p| p.is_null()));
    let path = match CText::join(parts) {
        Ok(path) => path,
        Err(e) => return e,
    };
    // SAFETY: path, argv and envp entries are NUL-terminated strings that
    // outlive the call; both arrays are NULL-terminated.
    unsafe { libc::execve(path.ptr(), argv.as_ptr(), envp.as_ptr()) };
    errno()
}

// ---------------------------------------------------------------- environment and files

unsafe extern "C" {
    /// The process environment: a NULL-terminated array of `KEY=VALUE` strings.
    static environ: *const *const c_char;
    /// POSIX's address parser (the libc crate does not declare it).
    fn inet_pton(family: c_int, text: *const c_char, out: *mut libc::c_void) -> c_int;
}

/// Every `KEY=VALUE` entry of hupwatch's environment, in order.
pub fn environment() -> impl Iterator<Item = &'static CStr> {
    // SAFETY: hupwatch never changes its environment, so environ and its
    // strings stay valid and unchanged for the whole process.
    let mut next = unsafe { environ };
    core::iter::from_fn(move || {
        if next.is_null() {
            return None;
        }
        // SAFETY: next points into the NULL-terminated environ array.
        let entry = unsafe { *next };
        if entry.is_null() {
            return None;
        }
        // SAFETY: as above; entry is a NUL-terminated string.
        next = unsafe { next.add(1) };
        // SAFETY: entry is a NUL-terminated string that lives as long as the process.
        Some(unsafe { CStr::from_ptr(entry) })
    })
}

/// One environment variable's value.
pub fn getenv(key: &[u8]) -> Option<&'static [u8]> {
    environment().find_map(|entry| entry.to_bytes().strip_prefix(key)?.strip_prefix(b"="))
}

/// The longest path handed to the kernel, with its NUL (PATH_MAX).
const PATH_MAX: usize = 4096;

/// Whether text holds a NUL byte (so cannot be passed as a C string).
#[expect(clippy::manual_contains, reason = "contains() links a 250-byte memchr for these short strings")]
fn has_nul(text: &[u8]) -> bool {
    text.iter().any(|&b| b == 0)
}

/// Text as a NUL-terminated string on the stack, so that no path needs an
/// allocation (and the child may use one between fork and exec).
struct CText([u8; PATH_MAX]);

impl CText {
    /// Text with a NUL byte, or too long, fails as the kernel would fail it.
    fn new(text: &[u8]) -> Result<CText, Errno> {
        CText::join(&[text])
    }

    /// The parts one after the other.
    fn join(parts: &[&[u8]]) -> Result<CText, Errno> {
        let mut c = CText([0; PATH_MAX]);
        let mut len = 0;
        for part in parts {
            if len + part.len() >= PATH_MAX {
                return Err(Errno(libc::ENAMETOOLONG));
            }
            if has_nul(part) {
                return Err(Errno(libc::EINVAL));
            }
            c.0[len..len + part.len()].copy_from_slice(part);
            len += part.len();
        }
        Ok(c)
    }

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
    let path = CText::new(path)?;
    // SAFETY: path is NUL-terminated; the caller vouches for a and b.
    cvt_long(unsafe { libc::syscall(nr, libc::AT_FDCWD, path.ptr(), a, b) })
}

/// What stat(2) says of a file, as far as hupwatch looks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub size: i64,
    /// Modification and change times, seconds and nanoseconds.
    pub times: [i64; 4],
}

impl Stat {
    pub fn is_socket(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFSOCK
    }

    pub fn is_symlink(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFLNK
    }

    pub fn same_file(&self, other: &Stat) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }
}

/// stat(2), or lstat(2) when `follow` is false.
#[cfg(target_pointer_width = "64")]
pub fn stat(path: &[u8], follow: bool) -> Result<Stat, Errno> {
    // SAFETY: stat is plain old data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    // On 64-bit Linux the kernel's struct stat is libc's.
    // SAFETY: st is a valid out-pointer for newfstatat.
    unsafe { path_call(libc::SYS_newfstatat, path, &mut st as *mut libc::stat as usize, flags as usize) }?;
    Ok(Stat {
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        mode: st.st_mode,
        size: st.st_size as i64,
        times: [st.st_mtime as i64, st.st_mtime_nsec as i64, st.st_ctime as i64, st.st_ctime_nsec as i64],
    })
}

/// stat(2) on 32-bit targets, through statx (Linux 4.11): they have no
/// newfstatat, and fstatat64's struct differs per architecture and holds
/// 32-bit times, while statx has one layout everywhere with 64-bit times.
#[cfg(target_pointer_width = "32")]
pub fn stat(path: &[u8], follow: bool) -> Result<Stat, Errno> {
    let path = CText::new(path)?;
    // SAFETY: statx is plain old data; all-zero is a valid value.
    let mut st: libc::statx = unsafe { core::mem::zeroed() };
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    let buf = &mut st as *mut libc::statx;
    // SAFETY: path is NUL-terminated; buf is a valid out-pointer for statx.
    cvt_long(unsafe {
        libc::syscall(libc::SYS_statx, libc::AT_FDCWD, path.ptr(), flags, libc::STATX_BASIC_STATS, buf)
    })?;
    let (m, c) = (st.stx_mtime, st.stx_ctime);
    Ok(Stat {
        dev: (st.stx_dev_major as u64) << 32 | st.stx_dev_minor as u64,
        ino: st.stx_ino,
        mode: st.stx_mode as u32,
        size: st.stx_size as i64,
        times: [m.tv_sec, m.tv_nsec as i64, c.tv_sec, c.tv_nsec as i64],
    })
}

/// A symlink's target.
pub fn readlink(path: &[u8]) -> Result<Vec<u8>, Errno> {
    let mut buf = [0u8; PATH_MAX];
    // SAFETY: buf is writable for its length.
    let n = unsafe { path_call(libc::SYS_readlinkat, path, buf.as_mut_ptr() as usize, buf.len()) }?;
    Ok(buf[..n as usize].to_vec())
}

pub fn mkdir(path: &[u8], mode: u32) -> Result<(), Errno> {
    // SAFETY: mkdirat takes a mode, and ignores the last argument.
    unsafe { path_call(libc::SYS_mkdirat, path, mode as usize, 0) }.map(drop)
}

pub fn unlink(path: &[u8]) -> Result<(), Errno> {
    // SAFETY: unlinkat takes flags.
    unsafe { path_call(libc::SYS_unlinkat, path, 0, 0) }.map(drop)
}

pub fn rmdir(path: &[u8]) -> Result<(), Errno> {
    // SAFETY: unlinkat takes flags.
    unsafe { path_call(libc::SYS_unlinkat, path, libc::AT_REMOVEDIR as usize, 0) }.map(drop)
}

/// The working directory, resolved. The raw system call: libc's getcwd
/// would bring its own allocator in.
pub fn getcwd() -> Result<Vec<u8>, Errno> {
    let mut buf = [0u8; PATH_MAX];
    // SAFETY: buf is writable for its length; the kernel returns the length with the NUL.
    let n = cvt_long(unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) })? as usize;
    Ok(buf[..n.saturating_sub(1)].to_vec())
}

// ---------------------------------------------------------------- signals

/// A kernel signal set: bit `n - 1` stands for signal `n` (1..=64). We use the
/// kernel's own 64-bit layout with raw system calls, because libc wrappers
/// hide the real-time signals that libc reserves for itself.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SigSet(pub u64);

impl SigSet {
    pub fn with(self, sig: c_int) -> SigSet {
        if (1..=64).contains(&sig) { SigSet(self.0 | 1u64 << (sig - 1)) } else { self }
    }
}

pub fn sigprocmask(how: c_int, set: Option<SigSet>) -> Result<SigSet, Errno> {
    let new = set.unwrap_or_default();
    let mut old = SigSet(0);
    let new_ptr: *const SigSet = if set.is_some() { &new } else { core::ptr::null() };
    // SAFETY: rt_sigprocmask with pointers to 8-byte kernel sigsets.
    cvt_long(unsafe { libc::syscall(libc::SYS_rt_sigprocmask, how, new_ptr, &mut old as *mut SigSet, 8usize) })?;
    Ok(old)
}

pub fn block_signals(set: SigSet) -> Result<SigSet, Errno> {
    sigprocmask(libc::SIG_BLOCK, Some(set))
}

pub fn set_signal_mask(set: SigSet) -> Result<SigSet, Errno> {
    sigprocmask(libc::SIG_SETMASK, Some(set))
}

/// A non-blocking, close-on-exec signalfd for `set`.
pub fn signalfd(set: SigSet) -> Result<Fd, Errno> {
    // SAFETY: signalfd4 with a pointer to an 8-byte kernel sigset.
    let fd = cvt_long(unsafe {
        libc::syscall(
            libc::SYS_signalfd4,
            -1 as c_int,
            &set as *const SigSet,
            8usize,
            libc::SFD_CLOEXEC | libc::SFD_NONBLOCK,
        )
    })?;
    Ok(fd as Fd)
}

/// One signal read from a signalfd.
#[derive(Clone, Copy, Debug)]
pub struct SigInfo {
    pub signo: c_int,
    pub code: c_int,
    pub pid: Pid,
}

/// How many signals one read of the signalfd takes at most.
pub const SIGNAL_BATCH: usize = 16;

/// Reads the queued signals, up to `SIGNAL_BATCH` in one read(2); an empty
/// result when none is left. A short batch means the queue is now empty.
pub fn read_signals(fd: Fd, out: &mut Vec<SigInfo>) -> Result<(), Errno> {
    // SAFETY: signalfd_siginfo is plain old data; all-zero is a valid value.
    let mut infos: [libc::signalfd_siginfo; SIGNAL_BATCH] = unsafe { core::mem::zeroed() };
    let size = core::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: infos is a writable buffer of SIGNAL_BATCH * size bytes.
    let n = match cvt_size(unsafe { libc::read(fd, infos.as_mut_ptr() as *mut libc::c_void, size * SIGNAL_BATCH) }) {
        Ok(n) => n / size,
        Err(EAGAIN) => 0,
        Err(e) => return Err(e),
    };
    out.extend(infos[..n].iter().map(|i| SigInfo {
        signo: i.ssi_signo as c_int,
        code: i.ssi_code,
        pid: i.ssi_pid as Pid,
    }));
    Ok(())
}

/// The kernel's struct sigaction for rt_sigaction(2). hupwatch only sets
/// SIG_DFL and SIG_IGN, which need no restorer (so no libc wrapper).
#[repr(C)]
// The kernel's sa_mask is two 32-bit words on 32-bit ARM, right after the
// restorer; a u64 there would be 8-aligned, one word too far.
#[cfg_attr(target_arch = "arm", repr(packed(4)))]
#[derive(Default)]
struct KernelSigaction {
    handler: usize,
    flags: libc::c_ulong,
    restorer: usize,
    mask: SigSet,
}

fn rt_sigaction(sig: c_int, new: Option<&KernelSigaction>, old: Option<&mut KernelSigaction>) -> Result<(), Errno> {
    let new = new.map_or(core::ptr::null(), |n| n as *const KernelSigaction);
    let old = old.map_or(core::ptr::null_mut(), |o| o as *mut KernelSigaction);
    // SAFETY: NULL or valid kernel sigaction structs; 8 is the kernel sigset size.
    cvt_long(unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, new, old, 8usize) }).map(drop)
}

/// What a signal's disposition is when hupwatch starts.
pub fn signal_is_ignored(sig: c_int) -> bool {
    let mut old = KernelSigaction::default();
    rt_sigaction(sig, None, Some(&mut old)).is_ok() && old.handler == libc::SIG_IGN
}

/// Sets a signal's disposition to default (`ignore == false`) or ignored.
pub fn set_signal_disposition(sig: c_int, ignore: bool) -> Result<(), Errno> {
    let handler = if ignore { libc::SIG_IGN } else { libc::SIG_DFL };
    rt_sigaction(sig, Some(&KernelSigaction { handler, ..Default::default() }), None)
}

// ---------------------------------------------------------------- time and waiting

/// CLOCK_MONOTONIC in nanoseconds.
pub fn monotonic_ns() -> u64 {
    // SAFETY: timespec is plain old data.
    let mut ts: libc::timespec = unsafe { core::mem::zeroed() };
    // SAFETY: ts is a valid out-pointer; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A duration in nanoseconds as a timespec.
fn timespec(ns: u64) -> libc::timespec {
    // SAFETY: timespec is plain old data; all-zero is a valid value.
    let mut ts: libc::timespec = unsafe { core::mem::zeroed() };
    // `as _`: time_t's width differs between libcs.
    ts.tv_sec = (ns / 1_000_000_000) as _;
    ts.tv_nsec = (ns % 1_000_000_000) as _;
    ts
}

pub use libc::pollfd as PollFd;
pub const POLLIN: i16 = libc::POLLIN;

/// ppoll(2) with an optional timeout in nanoseconds; EINTR counts as "nothing
/// ready". This is hupwatch's only blocking point.
pub fn poll(fds: &mut [PollFd], timeout_ns: Option<u64>) -> Result<usize, Errno> {
    let ts = timeout_ns.map(timespec);
    let ts_ptr = ts.as_ref().map_or(core::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: fds is a valid array of fds.len() pollfd; ts_ptr is NULL or valid.
    match cvt(unsafe { libc::ppoll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ts_ptr, core::ptr::null()) }) {
        Ok(n) => Ok(n as usize),
        Err(Errno(libc::EINTR)) => Ok(0),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------- descriptors

pub fn write(fd: Fd, buf: &[u8]) -> Result<usize, Errno> {
    // SAFETY: buf is a valid readable buffer of buf.len() bytes.
    cvt_size(unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) })
}

pub fn read(fd: Fd, buf: &mut [u8]) -> Result<usize, Errno> {
    loop {
        // SAFETY: buf is a valid writable buffer of buf.len() bytes.
        match cvt_size(unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) }) {
            Err(Errno(libc::EINTR)) => continue,
            r => return r,
        }
    }
}

pub fn close(fd: Fd) {
    // SAFETY: closing an fd we own; errors are not actionable.
    unsafe { libc::close(fd) };
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> Result<(Fd, Fd), Errno> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: fds is a valid array of two ints.
    cvt_long(unsafe { libc::syscall(libc::SYS_pipe2, fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((fds[0], fds[1]))
}

pub fn dup2(from: Fd, to: Fd) -> Result<(), Errno> {
    // SAFETY: plain system call on integers.
    cvt(unsafe { libc::dup2(from, to) }).map(drop)
}

/// Duplicates `fd` to the lowest free number at or above `min`, close-on-exec.
pub fn dup_above(fd: Fd, min: Fd) -> Result<Fd, Errno> {
    // SAFETY: plain fcntl on integers.
    cvt_long(unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_DUPFD_CLOEXEC, min) }).map(|fd| fd as Fd)
}

pub fn set_cloexec(fd: Fd, on: bool) -> Result<(), Errno> {
    let flags = if on { libc::FD_CLOEXEC } else { 0 };
    // SAFETY: plain fcntl on integers.
    cvt_long(unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_SETFD, flags) }).map(drop)
}

/// Marks every descriptor from `first` on close-on-exec (close_range with
/// CLOSE_RANGE_CLOEXEC, Linux 5.11), falling back to a loop on older kernels.
/// Marking instead of closing keeps the exec-error pipe usable until exec.
pub fn cloexec_from(first: Fd) {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes descriptor flags here.
    let ret =
        unsafe { libc::syscall(libc::SYS_close_range, first as libc::c_uint, libc::c_uint::MAX, CLOSE_RANGE_CLOEXEC) };
    if ret == 0 {
        return;
    }
    // SAFETY: rlimit is plain old data.
    let mut lim: libc::rlimit = unsafe { core::mem::zeroed() };
    // SAFETY: lim is a valid out-pointer.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur.min(1 << 20) as Fd
    } else {
        1024
    };
    for fd in first..max {
        let _ = set_cloexec(fd, true);
    }
}

// ---------------------------------------------------------------- sockets

/// listen(2) again on a bound socket: raises the backlog to `backlog`.
pub fn listen(fd: Fd, backlog: c_int) -> Result<(), Errno> {
    // SAFETY: plain system call on integers.
    cvt(unsafe { libc::listen(fd, backlog) }).map(drop)
}

/// Turns on a boolean SOL_SOCKET option (SO_REUSEADDR, SO_PASSCRED).
pub fn enable_socket_option(fd: Fd, option: c_int) -> Result<(), Errno> {
    let on: c_int = 1;
    let len = core::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: on is a valid int of the given length.
    cvt(unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, option, &on as *const c_int as *const libc::c_void, len) })
        .map(drop)
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

/// A close-on-exec socket of the address's family.
pub fn socket(address: &SockName, kind: c_int) -> Result<OwnedFd, Errno> {
    let family = match address {
        SockName::Inet(..) => libc::AF_INET,
        SockName::Inet6(..) => libc::AF_INET6,
        SockName::Unix(_) => libc::AF_UNIX,
    };
    // SAFETY: plain system call on integers.
    cvt_long(unsafe { libc::syscall(libc::SYS_socket, family, kind | libc::SOCK_CLOEXEC, 0) })
        .map(|fd| OwnedFd(fd as Fd))
}

/// An address in the kernel's layout, and its length.
fn raw_address(address: &SockName) -> Result<(libc::sockaddr_storage, libc::socklen_t), Errno> {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
    let p = &mut storage as *mut libc::sockaddr_storage;
    let len = match address {
        SockName::Inet(ip, port) => {
            // SAFETY: sockaddr_storage is large and aligned enough for any address.
            let a = unsafe { &mut *(p as *mut libc::sockaddr_in) };
            a.sin_family = libc::AF_INET as libc::sa_family_t;
            a.sin_port = port.to_be();
            a.sin_addr.s_addr = u32::from_ne_bytes(*ip);
            core::mem::size_of::<libc::sockaddr_in>()
        }
        SockName::Inet6(ip, port) => {
            // SAFETY: as above.
            let a = unsafe { &mut *(p as *mut libc::sockaddr_in6) };
            a.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            a.sin6_port = port.to_be();
            a.sin6_addr.s6_addr = *ip;
            core::mem::size_of::<libc::sockaddr_in6>()
        }
        SockName::Unix(path) => {
            // SAFETY: as above.
            let a = unsafe { &mut *(p as *mut libc::sockaddr_un) };
            a.sun_family = libc::AF_UNIX as libc::sa_family_t;
            // `@name` is abstract: a leading NUL and no terminating one.
            let (bytes, start, nul) = match path.strip_prefix(b"@") {
                Some(name) => (name, 1, 0),
                None => (&path[..], 0, 1),
            };
            if start + bytes.len() + nul > a.sun_path.len() {
                return Err(Errno(libc::ENAMETOOLONG));
            }
            if nul == 1 && has_nul(bytes) {
                return Err(Errno(libc::EINVAL));
            }
            for (slot, &b) in a.sun_path[start..].iter_mut().zip(bytes) {
                *slot = b as c_char;
            }
            core::mem::size_of::<libc::sa_family_t>() + start + bytes.len() + nul
        }
    };
    Ok((storage, len as libc::socklen_t))
}

pub fn bind(fd: Fd, address: &SockName) -> Result<(), Errno> {
    let (raw, len) = raw_address(address)?;
    // SAFETY: raw holds a valid address of length len.
    cvt(unsafe { libc::bind(fd, &raw as *const _ as *const libc::sockaddr, len) }).map(drop)
}

pub fn connect(fd: Fd, address: &SockName) -> Result<(), Errno> {
    let (raw, len) = raw_address(address)?;
    loop {
        // SAFETY: raw holds a valid address of length len.
        match cvt(unsafe { libc::connect(fd, &raw as *const _ as *const libc::sockaddr, len) }) {
            Err(Errno(libc::EINTR)) => continue,
            r => return r.map(drop),
        }
    }
}

/// Sends one datagram without blocking and without SIGPIPE.
pub fn send_to(fd: Fd, buf: &[u8], address: &SockName) -> Result<usize, Errno> {
    let (raw, len) = raw_address(address)?;
    // SAFETY: buf is readable for its length; raw holds a valid address of length len.
    cvt_size(unsafe {
        libc::sendto(
            fd,
            buf.as_ptr() as *const libc::c_void,
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            &raw as *const _ as *const libc::sockaddr,
            len,
        )
    })
}

/// inet_pton(3): an IPv4 address into 4 bytes of `out`, IPv6 into 16.
pub fn parse_ip(text: &[u8], out: &mut [u8]) -> bool {
    let family = if out.len() == 4 { libc::AF_INET } else { libc::AF_INET6 };
    assert!(out.len() == 4 || out.len() == 16);
    let Ok(text) = CText::new(text) else { return false };
    // SAFETY: text is NUL-terminated and out large enough for the family (asserted).
    unsafe { inet_pton(family, text.ptr(), out.as_mut_ptr() as *mut libc::c_void) == 1 }
}

/// Receives one datagram without blocking, with the sender's pid from
/// SCM_CREDENTIALS (`None` when the kernel attached none).
pub fn recv_with_sender(fd: Fd, buf: &mut [u8]) -> Result<Option<(usize, Option<Pid>)>, Errno> {
    // Room for one ucred control message, aligned for cmsghdr.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() };
    // SAFETY: msghdr is plain old data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = core::mem::size_of_val(&control) as _;
    // SAFETY: msg points at valid buffers that outlive the call.
    let flags = libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC;
    let n = match cvt_long(unsafe { libc::syscall(libc::SYS_recvmsg, fd, &mut msg as *mut libc::msghdr, flags) }) {
        Ok(n) => n,
        Err(EAGAIN) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut sender = None;
    // SAFETY: msg was filled in by recvmsg; CMSG_FIRSTHDR walks its control buffer.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: cmsg points into `control`, inside msg_controllen.
        let header = unsafe { &*cmsg };
        if header.cmsg_level == libc::SOL_SOCKET && header.cmsg_type == libc::SCM_CREDENTIALS {
            // SAFETY: an SCM_CREDENTIALS message carries one ucred; read unaligned to be safe.
            let cred: libc::ucred = unsafe { core::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::ucred) };
            sender = Some(cred.pid);
        } else if header.cmsg_level == libc::SOL_SOCKET && header.cmsg_type == libc::SCM_RIGHTS {
            // Descriptors sent to us are not wanted: close them.
            // SAFETY: CMSG_LEN is arithmetic on its argument.
            let empty = unsafe { libc::CMSG_LEN(0) } as usize;
            let count = (header.cmsg_len as usize).saturating_sub(empty) / core::mem::size_of::<c_int>();
            for i in 0..count {
                // SAFETY: SCM_RIGHTS data holds `count` ints inside the control buffer.
                let fd = unsafe { core::ptr::read_unaligned((libc::CMSG_DATA(cmsg) as *const c_int).add(i)) };
                close(fd);
            }
        }
        // SAFETY: as above; returns NULL after the last header.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok(Some((n as usize, sender)))
}

pub fn getpgid(pid: Pid) -> Result<Pid, Errno> {
    // SAFETY: plain system call on integers.
    cvt(unsafe { libc::getpgid(pid) })
}

// ---------------------------------------------------------------- inotify

/// A non-blocking, close-on-exec inotify descriptor.
pub fn inotify_init() -> Result<Fd, Errno> {
    // SAFETY: plain system call with flags.
    cvt(unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) })
}

/// Watches `path` (following symlinks); returns the watch descriptor, which
/// is the same for the same inode.
pub fn inotify_add_watch(fd: Fd, path: &[u8], mask: u32) -> Result<c_int, Errno> {
    let path = CText::new(path)?;
    // SAFETY: path is NUL-terminated.
    cvt(unsafe { libc::inotify_add_watch(fd, path.ptr(), mask) })
}

pub fn inotify_rm_watch(fd: Fd, wd: c_int) {
    // SAFETY: plain system call on integers; a stale wd only yields EINVAL.
    unsafe { libc::inotify_rm_watch(fd, wd) };
}

/// A socket address: what getsockname(2) reports, and what hupwatch binds,
/// connects and sends to.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SockName {
    Inet([u8; 4], u16),
    Inet6([u8; 16], u16),
    /// A path, or `@name` for an abstract socket.
    Unix(Vec<u8>),
}

pub fn getsockname(fd: Fd) -> Option<SockName> {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
    let mut len = core::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: storage is large enough for any address; len says how large.
    let ret = unsafe { libc::getsockname(fd, &mut storage as *mut _ as *mut libc::sockaddr, &mut len) };
    if ret != 0 {
        return None;
    }
    let p = &storage as *const libc::sockaddr_storage;
    match storage.ss_family as c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a = unsafe { &*(p as *const libc::sockaddr_in) };
            Some(SockName::Inet(a.sin_addr.s_addr.to_ne_bytes(), u16::from_be(a.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a = unsafe { &*(p as *const libc::sockaddr_in6) };
            Some(SockName::Inet6(a.sin6_addr.s6_addr, u16::from_be(a.sin6_port)))
        }
        libc::AF_UNIX => {
            // SAFETY: the family says the storage holds a sockaddr_un.
            let a = unsafe { &*(p as *const libc::sockaddr_un) };
            let offset = core::mem::size_of::<libc::sa_family_t>();
            let n = (len as usize).saturating_sub(offset).min(a.sun_path.len());
            let raw: Vec<u8> = a.sun_path[..n].iter().map(|&c| c as u8).collect();
            Some(SockName::Unix(match raw.split_first() {
                Some((0, name)) => [b"@", name].concat(),
                _ => raw.split(|&b| b == 0).next().unwrap_or_default().to_vec(),
            }))
        }
        _ => None,
    }
}

/// rt_sigtimedwait(2): waits for one signal of `set` (which must be blocked)
/// for at most `timeout_ns`, or forever. `Ok(None)` on timeout or EINTR.
pub fn sigtimedwait(set: SigSet, timeout_ns: Option<u64>) -> Result<Option<SigInfo>, Errno> {
    // On 32-bit targets SYS_rt_sigtimedwait takes a timespec with a 32-bit
    // time_t, which is the libc crate's timespec there; should that become
    // 64-bit, this call would need rt_sigtimedwait_time64: fail the build.
    #[cfg(target_pointer_width = "32")]
    const _: () = assert!(core::mem::size_of::<libc::timespec>() == 8);
    // SAFETY: siginfo_t is plain old data; all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { core::mem::zeroed() };
    let ts = timeout_ns.map(timespec);
    let ts_ptr = ts.as_ref().map_or(core::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: an 8-byte kernel sigset, a writable siginfo_t, a NULL or valid timespec.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_rt_sigtimedwait,
            &set as *const SigSet,
            &mut info as *mut libc::siginfo_t,
            ts_ptr,
            8usize,
        )
    };
    match cvt_long(ret) {
        // SAFETY: the kernel filled in info for the signal it returned.
        Ok(signo) => Ok(Some(SigInfo { signo: signo as c_int, code: info.si_code, pid: unsafe { info.si_pid() } })),
        Err(EAGAIN) | Err(Errno(libc::EINTR)) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::alloc::{GlobalAlloc, Layout};

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn allocator_aligns_and_never_overlaps() {
        let heap = Allocator::new();
        let mut blocks = Vec::new();
        for (i, size) in [1, 7, 16, 17, 100, 512, 2000, 2048, 2049, 10_000].into_iter().cycle().take(300).enumerate() {
            let align = [1, 8, 16, 64, 4096][i % 5];
            let l = layout(size, align);
            // SAFETY: l has a non-zero size.
            let p = unsafe { heap.alloc(l) };
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "size {size} align {align}");
            // SAFETY: the block is ours and l.size() bytes long.
            unsafe { core::ptr::write_bytes(p, i as u8, size) };
            blocks.push((p, l, i as u8));
        }
        for &(p, l, fill) in &blocks {
            // SAFETY: as above; every block still holds its own fill.
            let bytes = unsafe { core::slice::from_raw_parts(p, l.size()) };
            assert!(bytes.iter().all(|&b| b == fill));
            // SAFETY: p came from this allocator with layout l.
            unsafe { heap.dealloc(p, l) };
        }
    }

    #[test]
    fn allocator_reuses_freed_blocks() {
        let heap = Allocator::new();
        let sizes = [24, 24, 100, 700, 3000];
        // SAFETY (whole test): every pointer comes from `heap` with the layout it is freed with.
        let first: Vec<*mut u8> = sizes.iter().map(|&s| unsafe { heap.alloc(layout(s, 8)) }).collect();
        for (&p, &s) in first.iter().zip(&sizes) {
            unsafe { heap.dealloc(p, layout(s, 8)) };
        }
        // SAFETY: reading the bump pointer of a heap no one else uses.
        let high_water = unsafe { (*heap.0.get()).next };
        for _ in 0..1000 {
            let again: Vec<*mut u8> = sizes.iter().map(|&s| unsafe { heap.alloc(layout(s, 8)) }).collect();
            for (&p, &s) in again.iter().zip(&sizes) {
                unsafe { heap.dealloc(p, layout(s, 8)) };
            }
        }
        assert_eq!(unsafe { (*heap.0.get()).next }, high_water, "a steady load takes no new memory");
    }

    #[test]
    fn allocator_realloc_keeps_contents() {
        let heap = Allocator::new();
        // SAFETY (whole test): each pointer is used with the layout it was last given.
        unsafe {
            let p = heap.alloc(layout(20, 1));
            core::ptr::copy_nonoverlapping(b"hupwatch-realloc-ok!".as_ptr(), p, 20);
            assert_eq!(heap.realloc(p, layout(20, 1), 30), p, "same class: the same block");
            let q = heap.realloc(p, layout(30, 1), 5000);
            assert_eq!(core::slice::from_raw_parts(q, 20), b"hupwatch-realloc-ok!");
            let r = heap.realloc(q, layout(5000, 1), 40);
            assert_eq!(core::slice::from_raw_parts(r, 20), b"hupwatch-realloc-ok!");
            heap.dealloc(r, layout(40, 1));
        }
    }

    #[test]
    fn socket_addresses_in_the_kernel_layout() {
        let (_, len) = raw_address(&SockName::Unix(b"/run/x.sock".to_vec())).unwrap();
        assert_eq!(len as usize, 2 + 11 + 1);
        let (raw, len) = raw_address(&SockName::Unix(b"@name".to_vec())).unwrap();
        assert_eq!(len as usize, 2 + 1 + 4, "abstract: a leading NUL, no trailing one");
        // SAFETY: raw_address wrote a sockaddr_un.
        let un = unsafe { &*(&raw as *const _ as *const libc::sockaddr_un) };
        assert_eq!(un.sun_path[..5].iter().map(|&c| c as u8).collect::<Vec<_>>(), b"\0name");
        assert_eq!(raw_address(&SockName::Unix(vec![b'a'; 108])).err(), Some(Errno(libc::ENAMETOOLONG)));
        assert_eq!(raw_address(&SockName::Unix(b"a\0b".to_vec())).err(), Some(Errno(libc::EINVAL)));
        let (raw, _) = raw_address(&SockName::Inet([127, 0, 0, 1], 8000)).unwrap();
        // SAFETY: raw_address wrote a sockaddr_in.
        let v4 = unsafe { &*(&raw as *const _ as *const libc::sockaddr_in) };
        assert_eq!((u16::from_be(v4.sin_port), v4.sin_addr.s_addr.to_ne_bytes()), (8000, [127, 0, 0, 1]));
    }

    #[test]
    fn files_and_paths() {
        assert!(stat(b"/", true).is_ok_and(|s| !s.is_symlink() && !s.is_socket()));
        assert_eq!(stat(b"/no/such/path", true), Err(ENOENT));
        assert_eq!(stat(b"a\0b", true), Err(Errno(libc::EINVAL)));
        assert_eq!(stat(&[b'a'; PATH_MAX], true), Err(Errno(libc::ENAMETOOLONG)));
        assert_eq!(getcwd().unwrap(), std::env::current_dir().unwrap().as_os_str().as_encoded_bytes());
        assert_eq!(getenv(b"PATH"), std::env::var("PATH").ok().as_deref().map(str::as_bytes));
        assert_eq!(getenv(b"PAT"), None, "a prefix of a name is not the name");
    }
}
