//! Signals hupwatch receives: the mask, the signalfd, dispositions, and
//! waiting for one with a timeout.
#![allow(unsafe_code)]

use super::*;
use core::ffi::c_int;

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
    let n = match cvt_long(unsafe { libc::syscall(libc::SYS_read, fd, infos.as_mut_ptr(), size * SIGNAL_BATCH) }) {
        Ok(n) => n as usize / size,
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
