//! Files, paths and descriptors: stat, the working directory, the
//! environment, directories and /proc, pipes and descriptor flags, inotify.
#![allow(unsafe_code)]

use super::*;
use core::ffi::{CStr, c_char, c_int};

unsafe extern "C" {
    /// The process environment: a NULL-terminated array of `KEY=VALUE` strings.
    static environ: *const *const c_char;
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
    statx(libc::AT_FDCWD, path, if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW })
}

/// statx(2) of `path` relative to `dirfd`, with `flags` (AT_*).
#[cfg(target_pointer_width = "32")]
fn statx(dirfd: Fd, path: &[u8], flags: c_int) -> Result<Stat, Errno> {
    let mut buf = CText::uninit();
    let path = buf.fill(&[path])?;
    // SAFETY: statx is plain old data; all-zero is a valid value.
    let mut st: libc::statx = unsafe { core::mem::zeroed() };
    let buf = &mut st as *mut libc::statx;
    // SAFETY: path is NUL-terminated; buf is a valid out-pointer for statx.
    cvt_long(unsafe { libc::syscall(libc::SYS_statx, dirfd, path.ptr(), flags, libc::STATX_BASIC_STATS, buf) })?;
    let (m, c) = (st.stx_mtime, st.stx_ctime);
    Ok(Stat {
        dev: (st.stx_dev_major as u64) << 32 | st.stx_dev_minor as u64,
        ino: st.stx_ino,
        mode: st.stx_mode as u32,
        size: st.stx_size as i64,
        times: [m.tv_sec, m.tv_nsec as i64, c.tv_sec, c.tv_nsec as i64],
    })
}

/// open(2) of `path` with `flags` (O_CLOEXEC is the caller's to add).
pub fn open(path: &[u8], flags: c_int) -> Result<Fd, Errno> {
    // SAFETY: openat takes flags and a mode (unused without O_CREAT).
    unsafe { path_call(libc::SYS_openat, path, flags as usize, 0) }.map(|fd| fd as Fd)
}

/// The file type bits (S_IFMT) of what `fd` refers to.
#[cfg(target_pointer_width = "32")]
pub fn file_type(fd: Fd) -> Result<u32, Errno> {
    statx(fd, b"", libc::AT_EMPTY_PATH).map(|st| st.mode & libc::S_IFMT)
}

/// The file type bits (S_IFMT) of what `fd` refers to. On 64-bit Linux
/// the kernel's struct stat is libc's.
#[cfg(target_pointer_width = "64")]
pub fn file_type(fd: Fd) -> Result<u32, Errno> {
    // SAFETY: stat is plain old data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: st is a valid out-pointer for fstat.
    cvt_long(unsafe { libc::syscall(libc::SYS_fstat, fd, &mut st as *mut libc::stat) })?;
    Ok(st.st_mode & libc::S_IFMT)
}

/// Reads what fits into `buf` from the file at `path` (a /proc file, an
/// environment file). Without blocking on a FIFO that has no writer, and
/// never taking a terminal as hupwatch's controlling one.
pub fn read_file(path: &[u8], buf: &mut [u8]) -> Result<usize, Errno> {
    let fd = OwnedFd(open(path, libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK)?);
    let mut len = 0;
    while len < buf.len() {
        match read(fd.0, &mut buf[len..])? {
            0 => break,
            n => len += n,
        }
    }
    Ok(len)
}

/// The names in the directory at `path`, each given to `each` (without
/// `.` and `..`). Not generic: one copy serves every caller.
pub fn each_entry(path: &[u8], each: &mut dyn FnMut(&[u8])) -> Result<(), Errno> {
    let fd = OwnedFd(open(path, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)?);
    let mut buf = [0u64; 512];
    loop {
        // SAFETY: buf is writable for its length in bytes.
        let n = cvt_long(unsafe { libc::syscall(libc::SYS_getdents64, fd.0, buf.as_mut_ptr(), 8 * buf.len()) })?;
        if n == 0 {
            return Ok(());
        }
        // SAFETY: the kernel wrote n bytes of linux_dirent64 records into buf.
        let bytes = unsafe { core::slice::from_raw_parts(buf.as_ptr() as *const u8, n as usize) };
        let mut at = 0;
        // Each record: inode (8), offset (8), length (2), type (1), name (NUL-ended).
        while at + 19 < bytes.len() {
            let len = u16::from_ne_bytes([bytes[at + 16], bytes[at + 17]]) as usize;
            let name = &bytes[at + 19..(at + len).min(bytes.len())];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if name != b"." && name != b".." {
                each(name);
            }
            at += len.max(1);
        }
    }
}

/// A symlink's target.
pub fn readlink(path: &[u8]) -> Result<Vec<u8>, Errno> {
    let mut buf = [0u8; PATH_MAX];
    // SAFETY: buf is writable for its length.
    let n = unsafe { path_call(libc::SYS_readlinkat, path, buf.as_mut_ptr() as usize, buf.len()) }?;
    Ok(buf[..n as usize].to_vec())
}

pub fn unlink(path: &[u8]) -> Result<(), Errno> {
    // SAFETY: unlinkat takes flags.
    unsafe { path_call(libc::SYS_unlinkat, path, 0, 0) }.map(drop)
}

/// The working directory, resolved. The raw system call: libc's getcwd
/// would bring its own allocator in.
pub fn getcwd() -> Result<Vec<u8>, Errno> {
    let mut buf = [0u8; PATH_MAX];
    // SAFETY: buf is writable for its length; the kernel returns the length with the NUL.
    let n = cvt_long(unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) })? as usize;
    Ok(buf[..n.saturating_sub(1)].to_vec())
}

/// How many bytes the pipe `fd` can take now: its capacity less what waits in it.
pub fn pipe_room(fd: Fd) -> Result<usize, Errno> {
    let mut queued: c_int = 0;
    // SAFETY: FIONREAD writes one int to a valid out-pointer.
    cvt_long(unsafe { libc::syscall(libc::SYS_ioctl, fd, libc::FIONREAD, &mut queued as *mut c_int) })?;
    // SAFETY: plain fcntl on integers.
    let size = cvt_long(unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_GETPIPE_SZ) })?;
    Ok((size as usize).saturating_sub(queued.max(0) as usize))
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> Result<(Fd, Fd), Errno> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: fds is a valid array of two ints.
    cvt_long(unsafe { libc::syscall(libc::SYS_pipe2, fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((fds[0], fds[1]))
}

/// dup2(2) for descriptors that differ (as dup3, which fails on equal
/// ones); allocates nothing, so the child may call it after fork.
pub fn dup2(from: Fd, to: Fd) -> Result<(), Errno> {
    // SAFETY: plain system call on integers.
    cvt_long(unsafe { libc::syscall(libc::SYS_dup3, from, to, 0) }).map(drop)
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
    for fd in first..descriptor_limit() {
        let _ = set_cloexec(fd, true);
    }
}

/// How many descriptors hupwatch may have open (RLIMIT_NOFILE's soft limit),
/// at most 2^20; 1024 when unknown. The raw prlimit64: musl's getrlimit
/// carries conversions for old kernels. Allocates nothing.
fn descriptor_limit() -> Fd {
    // The kernel's struct rlimit64 on every architecture: current and maximum.
    let mut lim = [0u64; 2];
    let null = core::ptr::null::<u64>();
    // SAFETY: prlimit64 of this process sets nothing and writes two u64.
    let got = unsafe { libc::syscall(libc::SYS_prlimit64, 0, libc::RLIMIT_NOFILE, null, lim.as_mut_ptr()) };
    if got == 0 { lim[0].min(1 << 20) as Fd } else { 1024 }
}

/// A non-blocking, close-on-exec inotify descriptor.
pub fn inotify_init() -> Result<Fd, Errno> {
    // SAFETY: plain system call with flags.
    cvt_long(unsafe { libc::syscall(libc::SYS_inotify_init1, libc::IN_CLOEXEC | libc::IN_NONBLOCK) }).map(|fd| fd as Fd)
}

/// Watches `path` (following symlinks); returns the watch descriptor, which
/// is the same for the same inode.
pub fn inotify_add_watch(fd: Fd, path: &[u8], mask: u32) -> Result<c_int, Errno> {
    let mut buf = CText::uninit();
    let path = buf.fill(&[path])?;
    // SAFETY: path is NUL-terminated.
    cvt_long(unsafe { libc::syscall(libc::SYS_inotify_add_watch, fd, path.ptr(), mask) }).map(|wd| wd as c_int)
}

pub fn inotify_rm_watch(fd: Fd, wd: c_int) {
    // SAFETY: plain system call on integers; a stale wd only yields EINVAL.
    unsafe { libc::syscall(libc::SYS_inotify_rm_watch, fd, wd) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_paths() {
        assert!(stat(b"/", true).is_ok_and(|s| !s.is_symlink() && !s.is_socket()));
        assert_eq!(stat(b"/no/such/path", true), Err(ENOENT));
        assert_eq!(stat(b"a\0b", true), Err(Errno(libc::EINVAL)));
        assert_eq!(stat(&[b'a'; PATH_MAX], true), Err(Errno(libc::ENAMETOOLONG)));
        assert_eq!(getcwd().unwrap(), std::env::current_dir().unwrap().as_os_str().as_encoded_bytes());
        assert_eq!(getenv(b"PATH"), std::env::var("PATH").ok().as_deref().map(str::as_bytes));
        assert_eq!(getenv(b"PAT"), None, "a prefix of a name is not the name");
        let mut names = Vec::new();
        each_entry(b"/proc/self/fd", &mut |name| names.push(name.to_vec())).unwrap();
        assert!(names.contains(&b"0".to_vec()) && !names.contains(&b".".to_vec()), "{names:?}");
        // SAFETY: rlimit is plain old data.
        let mut lim: libc::rlimit = unsafe { core::mem::zeroed() };
        // SAFETY: lim is a valid out-pointer.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(descriptor_limit() as u64, lim.rlim_cur.min(1 << 20));
        let mut buf = [0u8; 64];
        let n = read_file(b"/proc/self/stat", &mut buf).unwrap();
        assert!(buf[..n].starts_with(getpid().to_string().as_bytes()));
    }

    #[test]
    fn descriptor_limit_as_getrlimit_says() {
        // SAFETY: rlimit is plain old data; getrlimit fills it in.
        let mut lim: libc::rlimit = unsafe { core::mem::zeroed() };
        // SAFETY: lim is a valid out-pointer.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(descriptor_limit(), lim.rlim_cur.min(1 << 20) as Fd);
    }
}
