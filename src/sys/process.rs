//! Processes: identity, fork and exec, signals to others, waiting for
//! children, the process group and the terminal, the children /proc lists,
//! and the C runtime's exit.
#![allow(unsafe_code)]

use super::*;
use crate::text::{parse_decimal, split};
use core::ffi::{CStr, c_char, c_int};

pub type Pid = libc::pid_t;

/// musl's assert handler, replaced: libunwind (linked, never run with
/// immediate-abort panics) names it, and musl's would bring in fprintf and
/// stdio (about 1 KB). hupwatch itself never asserts.
#[cfg(all(not(test), target_env = "musl"))]
#[unsafe(no_mangle)]
pub extern "C" fn __assert_fail(_: *const c_char, _: *const c_char, _: c_int, _: *const c_char) -> ! {
    // SAFETY: abort never returns.
    unsafe { libc::abort() }
}

/// musl's exit, replaced by one that ends the process at once: hupwatch
/// registers no atexit handler and writes through no stdio stream, but
/// libunwind (linked, never run) names fprintf and fwrite, which bring
/// musl's stdio into the link, and musl's exit would then keep it alive to
/// flush it at exit (about 900 bytes). C's main returning calls this.
#[cfg(all(not(test), target_env = "musl"))]
#[unsafe(no_mangle)]
pub extern "C" fn exit(code: c_int) -> ! {
    exit_now(code)
}

/// Ends the process at once: no destructors, no stdio flushing.
pub fn exit_now(code: c_int) -> ! {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}

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

/// fork(2). hupwatch is single-threaded, so the child may run any code that
/// does not allocate; the callers keep to async-signal-safe calls.
///
/// With musl it is the bare system call (clone with SIGCHLD, as fork is).
/// musl's fork would take the malloc lock and so link libc's allocator,
/// which hupwatch replaces; even its `_Fork` blocks signals and takes locks
/// to renew its thread bookkeeping in the child (the cached thread id,
/// which only raise() and pthread calls use). The child here makes system
/// calls and execs: it uses none of that, and hupwatch installs no signal
/// handler that could run in between. About 500 bytes.
pub fn fork() -> Result<Forked, Errno> {
    #[cfg(target_env = "musl")]
    // SAFETY: a clone without shared memory or stack is fork; see above for
    // what the child may not call.
    let pid = cvt_long(unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD, 0usize, 0usize, 0usize, 0usize) })?;
    #[cfg(not(target_env = "musl"))]
    // SAFETY: single-threaded process; the child only makes system calls.
    let pid = cvt(unsafe { libc::fork() })? as libc::c_long;
    Ok(if pid == 0 { Forked::Child } else { Forked::Parent(pid as Pid) })
}

pub fn setpgid(pid: Pid, pgid: Pid) -> Result<(), Errno> {
    // SAFETY: plain system call on integers.
    cvt_long(unsafe { libc::syscall(libc::SYS_setpgid, pid, pgid) }).map(drop)
}

pub fn kill(pid: Pid, sig: c_int) -> Result<(), Errno> {
    // SAFETY: plain system call on integers.
    cvt_long(unsafe { libc::syscall(libc::SYS_kill, pid, sig) }).map(drop)
}

/// How a process ended, as waitpid(2) reports it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    Exited(u8),
    Killed(c_int),
}

impl Status {
    /// The shell convention: the exit code, or 128 + N when killed by signal N.
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Exited(code) => code,
            Status::Killed(sig) => (128 + sig).clamp(0, 255) as u8,
        }
    }
}

fn decode_status(status: c_int) -> Status {
    if libc::WIFSIGNALED(status) {
        Status::Killed(libc::WTERMSIG(status))
    } else {
        Status::Exited(libc::WEXITSTATUS(status) as u8)
    }
}

/// One waitpid(-1, WNOHANG): `Ok(None)` when children exist but none has
/// ended, `Err(ECHILD)` when there are no children at all.
pub fn reap_one() -> Result<Option<(Pid, Status)>, Errno> {
    let mut status: c_int = 0;
    // SAFETY: status is a valid out-pointer.
    match cvt_r(|| cvt_long(unsafe { libc::syscall(libc::SYS_wait4, -1, &mut status, libc::WNOHANG, 0usize) }))? {
        0 => Ok(None),
        pid => Ok(Some((pid as Pid, decode_status(status)))),
    }
}

/// Blocking waitpid for one known child (used for a child whose exec failed).
pub fn wait_for(pid: Pid) -> Result<Status, Errno> {
    let mut status: c_int = 0;
    // SAFETY: status is a valid out-pointer.
    cvt_r(|| cvt_long(unsafe { libc::syscall(libc::SYS_wait4, pid, &mut status, 0, 0usize) }))?;
    Ok(decode_status(status))
}

/// Whether the real and effective user and group ids differ (a setuid or
/// setgid executable).
pub fn ids_differ() -> bool {
    // SAFETY: the four id calls cannot fail.
    unsafe { libc::getuid() != libc::geteuid() || libc::getgid() != libc::getegid() }
}

pub fn getpgrp() -> Pid {
    // SAFETY: getpgrp cannot fail.
    unsafe { libc::getpgrp() }
}

/// The foreground process group of the terminal `fd` (tcgetpgrp).
pub fn foreground_group(fd: Fd) -> Result<Pid, Errno> {
    let mut pgid: Pid = 0;
    // SAFETY: TIOCGPGRP writes one pid_t to a valid out-pointer.
    cvt_long(unsafe { libc::syscall(libc::SYS_ioctl, fd, libc::TIOCGPGRP, &mut pgid as *mut Pid) })?;
    Ok(pgid)
}

/// Makes `pgid` the foreground process group of the terminal `fd`
/// (tcsetpgrp); allocates nothing, so the child may call it after fork.
pub fn set_foreground_group(fd: Fd, pgid: Pid) -> Result<(), Errno> {
    // SAFETY: TIOCSPGRP reads one pid_t from a valid pointer.
    cvt_long(unsafe { libc::syscall(libc::SYS_ioctl, fd, libc::TIOCSPGRP, &pgid as *const Pid) }).map(drop)
}

/// The live (not zombie) children of `parent`, which is hupwatch itself
/// (its one thread's id is its pid).
pub fn children(parent: Pid) -> Vec<Pid> {
    let mut list = Text::new();
    list.text("/proc/self/task/").num(parent.max(0) as u64).text("/children");
    children_listed(parent, list.as_bytes())
}

/// The live children of `parent` listed in the file `list`
/// (/proc/self/task/PID/children), or, when it cannot be read (a kernel
/// without it), those found among every process in /proc.
fn children_listed(parent: Pid, list: &[u8]) -> Vec<Pid> {
    let mut found = Vec::new();
    let mut add = |name: &[u8]| {
        let pid = parse_decimal(name).unwrap_or(0) as Pid;
        if pid > 0 && process_state(pid).is_some_and(|(state, ppid)| ppid == parent && state != b'Z') {
            found.push(pid);
        }
    };
    let mut buf = [0u8; 4096];
    match read_file(list, &mut buf) {
        Ok(n) => {
            let mut pids = &buf[..n];
            while !pids.is_empty() {
                let pid;
                (pid, pids) = split(pids, b' ').unwrap_or((pids, b""));
                add(pid);
            }
        }
        Err(_) => {
            let _ = each_entry(b"/proc", &mut add);
        }
    }
    found
}

/// A process's state letter and parent pid from /proc/PID/stat.
fn process_state(pid: Pid) -> Option<(u8, Pid)> {
    let mut path = Text::new();
    path.text("/proc/").num(pid as u64).text("/stat");
    let mut buf = [0u8; 512];
    let n = read_file(path.as_bytes(), &mut buf).ok()?;
    // After the command name in parentheses: " S PPID ...".
    let after = &buf[buf[..n].iter().rposition(|&b| b == b')')? + 2..n];
    let (state, rest) = split(after, b' ')?;
    let ppid = parse_decimal(split(rest, b' ')?.0)? as Pid;
    Some((*state.first()?, ppid))
}

/// prctl(2) with one integer argument. The raw system call: musl's prctl
/// is a variadic wrapper of its own.
fn prctl(option: c_int, arg: libc::c_ulong) -> Result<(), Errno> {
    // SAFETY: the options used here take integers only.
    cvt_long(unsafe { libc::syscall(libc::SYS_prctl, option, arg, 0usize, 0usize, 0usize) }).map(drop)
}

pub fn set_child_subreaper() -> Result<(), Errno> {
    prctl(libc::PR_SET_CHILD_SUBREAPER, 1)
}

/// Allocates nothing, so the child may call it after fork.
pub fn set_parent_death_signal(sig: c_int) -> Result<(), Errno> {
    prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong)
}

/// chdir(2); allocates nothing, so the child may call it after fork.
pub fn chdir(path: &[u8]) -> Result<(), Errno> {
    let mut buf = CText::uninit();
    let path = buf.fill(&[path])?;
    // SAFETY: path is NUL-terminated.
    cvt_long(unsafe { libc::syscall(libc::SYS_chdir, path.ptr()) }).map(drop)
}

/// A command and its environment as execve(2) takes them: NUL-terminated
/// strings and NULL-terminated arrays of pointers to them. The strings are
/// owned here, beside the arrays that point into them, so that no pointer
/// outlives its bytes. Set up before fork (that allocates); the child only
/// calls `execve`, which allocates nothing.
pub struct Exec {
    argv: Vec<Vec<u8>>,
    argv_ptrs: Vec<*const c_char>,
    /// Whether an entry names a variable hupwatch sets itself: never taken
    /// from its own environment or from the environment files.
    dropped: fn(&[u8]) -> bool,
    /// hupwatch's own environment, each entry ended by its NUL.
    inherited: Vec<u8>,
    /// The environment of the next exec but hupwatch's own variables, each
    /// entry ended by its NUL: the inherited entries, then what the
    /// environment files say, in order (`KEY` alone removes the variable).
    /// The last entry of a name wins.
    entries: Vec<u8>,
    /// `KEY=VALUE` entries set by hupwatch, each with its NUL.
    own: Vec<Vec<u8>>,
    /// Built by `prepare` and emptied by every change of what it points
    /// into: the entries that win, own, then `CHILD_SLOTS` slots the child
    /// fills, then NULL.
    env_ptrs: Vec<*const c_char>,
}

/// How many environment entries the child may add (its LISTEN_PID and
/// WATCHDOG_PID).
const CHILD_SLOTS: usize = 2;

/// The directories searched when $PATH is not set (musl's and glibc's).
const DEFAULT_PATH: &[u8] = b"/usr/local/bin:/bin:/usr/bin";

/// The variable's name in a `KEY=VALUE` entry (all of a `KEY` alone).
pub fn key_of(entry: &[u8]) -> &[u8] {
    split(entry, b'=').map_or(entry, |(key, _)| key)
}

/// The entry at the start of NUL-ended entries, and the rest.
fn next_entry(entries: &[u8]) -> (&[u8], &[u8]) {
    split(entries, 0).unwrap_or((entries, b""))
}

/// Each name falls into two of `2 * BUCKETS` buckets, by a hash of it.
const BUCKETS: usize = 4096;

fn buckets(key: &[u8]) -> [usize; 2] {
    let h = key.iter().fold(0u64, |h, &b| (h.rotate_left(5) ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    [(h >> 52) as usize, BUCKETS + (h >> 40) as usize % BUCKETS]
}

/// Whether one of `entries` names `key`.
fn later_named(mut entries: &[u8], key: &[u8]) -> bool {
    while !entries.is_empty() {
        let entry;
        (entry, entries) = next_entry(entries);
        if key_of(entry) == key {
            return true;
        }
    }
    false
}

impl Exec {
    /// `command` (its words hold no NUL: they come from argv) with
    /// hupwatch's environment less the entries `dropped` says so of.
    pub fn new(command: Vec<Vec<u8>>, dropped: fn(&[u8]) -> bool) -> Exec {
        let mut argv = command;
        let mut argv_ptrs = Vec::new();
        for arg in &mut argv {
            arg.push(0);
            argv_ptrs.push(arg.as_ptr() as *const c_char);
        }
        argv_ptrs.push(core::ptr::null());
        let mut inherited = Vec::new();
        for entry in environment() {
            inherited.extend_from_slice(entry.to_bytes_with_nul());
        }
        let entries = inherited.clone();
        Exec { argv, argv_ptrs, dropped, inherited, entries, own: Vec::new(), env_ptrs: Vec::new() }
    }

    /// The command's name as the user typed it.
    pub fn program(&self) -> &[u8] {
        self.argv.first().map_or(b"", |a| &a[..a.len() - 1])
    }

    /// Sets (or replaces) one of hupwatch's variables for the next execs
    /// (`value` holds no NUL byte).
    pub fn set_env(&mut self, key: &[u8], value: &[u8]) {
        self.env_ptrs.clear();
        let entry = [key, b"=", value, b"\0"].concat();
        match self.own.iter_mut().find(|e| key_of(e) == key) {
            Some(e) => *e = entry,
            None => self.own.push(entry),
        }
    }

    /// The entries for the next execs, the inherited ones alone, for the
    /// caller to add the environment files' settings to.
    pub fn entries(&mut self) -> &mut Vec<u8> {
        self.env_ptrs.clear();
        self.entries.clear();
        self.entries.extend_from_slice(&self.inherited);
        &mut self.entries
    }

    /// Assembles the environment's pointers for the next fork: the last
    /// entry of each name unless it removes the variable or hupwatch sets
    /// it, then hupwatch's own. Capacities are reused, so nothing grows per
    /// spawn. Whether a later entry has the same name is known from the
    /// last entry of each of its buckets, and only when both hold other
    /// names by comparing with every later one: a thousand entries cost
    /// two passes, not half a million comparisons.
    pub fn prepare(&mut self) {
        let (entries, ptrs) = (&self.entries[..], &mut self.env_ptrs);
        ptrs.clear();
        // Where the last entry of each bucket starts: found in the first
        // pass, used in the second.
        let mut last = [0u32; 2 * BUCKETS];
        for pass in 0..2 {
            let mut rest = entries;
            while !rest.is_empty() {
                let at = entries.len() - rest.len();
                let entry;
                (entry, rest) = next_entry(rest);
                let key = key_of(entry);
                let [b0, b1] = buckets(key);
                let named_at = |at: u32| key_of(next_entry(&entries[at as usize..]).0) == key;
                if pass == 0 {
                    (last[b0], last[b1]) = (at as u32, at as u32);
                } else if entry.len() > key.len()
                    && (last[b0] as usize == at
                        || last[b1] as usize == at
                        || !named_at(last[b0]) && !named_at(last[b1]) && !later_named(rest, key))
                    && !(self.dropped)(entry)
                {
                    ptrs.push(entry.as_ptr() as *const c_char);
                }
            }
        }
        ptrs.extend(self.own.iter().map(|e| e.as_ptr() as *const c_char));
        ptrs.extend([core::ptr::null(); CHILD_SLOTS + 1]);
    }

    /// execvp(3)'s search, without allocating (the child runs it between
    /// fork and exec), with `extra` (each a `KEY=VALUE` ending with its
    /// NUL, on the caller's stack) added to the environment prepared before
    /// fork: the program itself when its name holds a slash, else
    /// `DIR/program` for each directory of hupwatch's $PATH in turn (an
    /// empty one is the working directory) until one runs. As in execvp,
    /// EACCES from any of them wins over "not found", and any other error
    /// ends the search. A file that is not an executable format is not
    /// handed to /bin/sh: it fails (126). Returns only on failure.
    #[expect(clippy::manual_contains, reason = "contains() links a 200-byte memchr")]
    pub fn execvp(&mut self, extra: &[&[u8]]) -> Errno {
        // Not prepared since the last change: the pointers are gone.
        let Some(first_slot) = self.env_ptrs.len().checked_sub(1 + CHILD_SLOTS) else { return Errno(libc::EINVAL) };
        for (slot, entry) in self.env_ptrs[first_slot..].iter_mut().zip(extra.iter().take(CHILD_SLOTS)) {
            debug_assert!(entry.last() == Some(&0));
            *slot = entry.as_ptr() as *const c_char;
        }
        let file = self.argv.first().map_or(&b""[..], |a| &a[..a.len() - 1]);
        if file.is_empty() {
            return ENOENT;
        }
        if file.iter().any(|&b| b == b'/') {
            return self.execve(&[file]);
        }
        let mut result = ENOENT;
        for dir in getenv(b"PATH").unwrap_or(DEFAULT_PATH).split(|&b| b == b':') {
            let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
            match self.execve(&[dir, b"/", file]) {
                e @ Errno(libc::EACCES) => result = e,
                Errno(libc::ENOENT | libc::ENOTDIR) => {}
                e => return e,
            }
        }
        result
    }

    /// execve(2) of the path made of `parts`: returns only on failure.
    fn execve(&self, parts: &[&[u8]]) -> Errno {
        let mut buf = CText::uninit();
        let path = match buf.fill(parts) {
            Ok(path) => path,
            Err(e) => return e,
        };
        // SAFETY: path is NUL-terminated; every pointer in argv_ptrs and
        // env_ptrs is NULL (the last ones, or an unused slot, which ends the
        // array early) or points to a NUL-terminated string that outlives
        // the call: argv, entries and own are owned by self and unchanged
        // since `prepare` (every change empties env_ptrs, and execvp
        // refuses an empty one), the extra entries live as long as the
        // caller's frame, and execve only returns on failure.
        unsafe { libc::syscall(libc::SYS_execve, path.ptr(), self.argv_ptrs.as_ptr(), self.env_ptrs.as_ptr()) };
        errno()
    }
}

pub fn getpgid(pid: Pid) -> Result<Pid, Errno> {
    // SAFETY: plain system call on integers.
    cvt_long(unsafe { libc::syscall(libc::SYS_getpgid, pid) }).map(|pgid| pgid as Pid)
}

/// The command line as the C runtime hands it to `main`. Only the C runtime
/// makes one (the type has no constructor), so its pointers are valid.
#[cfg(not(test))]
#[repr(transparent)]
pub struct Argv(*const *const c_char);

#[cfg(not(test))]
impl Argv {
    /// The `count` arguments as bytes.
    pub fn collect(&self, count: c_int) -> Vec<std::ffi::OsString> {
        use std::os::unix::ffi::OsStringExt;
        let mut args = Vec::new();
        for i in 0..count.max(0) as usize {
            // SAFETY: the C runtime passes argc valid pointers in argv.
            let p = unsafe { *self.0.add(i) };
            if p.is_null() {
                break;
            }
            // SAFETY: each argv entry is a NUL-terminated string.
            args.push(std::ffi::OsString::from_vec(unsafe { CStr::from_ptr(p) }.to_bytes().to_vec()));
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The environment `prepare` assembled, up to the first NULL.
    fn prepared(exec: &Exec) -> Vec<Vec<u8>> {
        let live = exec.env_ptrs.iter().take_while(|p| !p.is_null());
        // SAFETY: prepare's pointers point to NUL-terminated strings owned by
        // exec or the process.
        live.map(|&p| unsafe { CStr::from_ptr(p) }.to_bytes().to_vec()).collect()
    }

    #[test]
    fn settings_override_and_remove_inherited_variables_and_own_ones_win() {
        let inherited: Vec<&[u8]> = environment().map(CStr::to_bytes).collect();
        let (changed, removed) = (key_of(inherited[0]), key_of(inherited[1]));
        let mut exec = Exec::new(vec![b"true".to_vec()], |e| key_of(e) == b"LISTEN_FDS");
        exec.set_env(b"LISTEN_FDS", b"1");
        let settings = [&b"A=1\0B=x\0A=2\0"[..], changed, b"=new\0LISTEN_FDS=9\0B\0C=3\0", removed, b"\0"];
        exec.entries().extend_from_slice(&settings.concat());
        exec.prepare();
        let kept = inherited[2..].iter().filter(|e| !e.starts_with(b"LISTEN_FDS=")).map(|e| e.to_vec());
        let set = [b"A=2".to_vec(), [changed, b"=new"].concat(), b"C=3".to_vec()];
        let expected: Vec<Vec<u8>> = kept.chain(set).chain([b"LISTEN_FDS=1".to_vec()]).collect();
        assert_eq!(prepared(&exec), expected, "inherited, then the settings that win, then hupwatch's own");
        assert!(exec.env_ptrs.len() == expected.len() + CHILD_SLOTS + 1);
        exec.set_env(b"LISTEN_FDS", b"2");
        assert_eq!(exec.execvp(&[]), Errno(libc::EINVAL), "no exec with pointers from before a change");
        exec.prepare();
        assert_eq!(prepared(&exec).last().unwrap(), b"LISTEN_FDS=2");
        exec.entries();
        exec.prepare();
        assert_eq!(
            prepared(&exec).len(),
            inherited.len() - inherited.iter().filter(|e| key_of(e) == b"LISTEN_FDS").count() + 1
        );
    }

    #[test]
    fn the_last_of_thousands_of_settings_wins() {
        let mut exec = Exec::new(vec![b"true".to_vec()], |_| false);
        let entries = exec.entries();
        for round in 0..3 {
            for i in 0..1000 {
                entries.extend_from_slice(format!("HUPWATCH_UNIT_{i}={round}\0").as_bytes());
            }
        }
        entries.extend_from_slice(b"HUPWATCH_UNIT_7\0");
        exec.prepare();
        let env = prepared(&exec);
        let ours: Vec<&Vec<u8>> = env.iter().filter(|e| e.starts_with(b"HUPWATCH_UNIT_")).collect();
        assert_eq!(ours.len(), 999);
        assert!(ours.iter().all(|e| e.ends_with(b"=2")), "the last round wins");
        assert_eq!(ours[0], b"HUPWATCH_UNIT_0=2", "in the order of the settings");
    }

    #[test]
    fn finds_live_children_in_proc() {
        let me = getpid();
        let mut sleeper = std::process::Command::new("sleep").arg("60").spawn().unwrap();
        let mut done = std::process::Command::new("true").spawn().unwrap();
        let pid = sleeper.id() as Pid;
        let zombie = done.id() as Pid;
        // Until `true` is a zombie.
        while process_state(zombie).is_some_and(|(state, _)| state != b'Z') {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // The scan of /proc (the test's threads each have their own children file).
        let found = children_listed(me, b"/nonexistent");
        assert!(found.contains(&pid) && !found.contains(&zombie), "{found:?}");
        assert_eq!(process_state(pid).map(|(_, ppid)| ppid), Some(me));
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        let _ = done.wait();
    }
}
