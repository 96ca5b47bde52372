//! Starting a generation: everything the child needs is prepared before
//! fork (argv, environment, working directory, descriptors), so that between
//! fork and exec the child allocates nothing and only makes system calls.
//! An exec failure travels back over a close-on-exec pipe.

use crate::log::Line;
use crate::sys::{self, Errno, Fd, Pid, SigSet};
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// The step of the child's set-up that failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Step {
    Fork,
    Chdir,
    Exec,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SpawnError {
    pub step: Step,
    pub errno: Errno,
}

/// What every generation is started with.
pub struct Plan {
    argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    /// Owns the strings `env_ptrs` points at.
    env: Vec<CString>,
    env_ptrs: Vec<*const libc::c_char>,
    /// Index in `env_ptrs` of `LISTEN_PID=`, which the child fills in.
    listen_pid_slot: Option<usize>,
    /// The directory each generation starts in, re-resolved at every spawn.
    cwd: Option<CString>,
    /// The caller's signal mask and SIGCHLD disposition, restored in the child.
    mask: SigSet,
    sigchld_ignored: bool,
    /// Sockets handed over as descriptors 3, 4, ...; all numbered above the
    /// range they move into, so moving one never overwrites another.
    pass_fds: Vec<Fd>,
    kill_at_exit: bool,
    parent: Pid,
}

/// Environment variables hupwatch never passes on as they are: its own
/// notification socket and socket-activation variables, which name hupwatch.
const OWN_VARIABLES: [&str; 6] =
    ["NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "LISTEN_PIDFDID", "SERVER_STARTER_PORT"];

pub struct PlanOptions<'a> {
    pub command: &'a [OsString],
    pub mask: SigSet,
    pub sigchld_ignored: bool,
    pub kill_at_exit: bool,
    /// Descriptors to hand over, in order, with their variables (LISTEN_FDS...).
    pub pass_fds: Vec<Fd>,
    pub extra_env: Vec<(String, OsString)>,
}

impl Plan {
    pub fn new(opts: PlanOptions) -> Result<Plan, &'static str> {
        let cstring = |s: &OsStr| CString::new(s.as_bytes()).map_err(|_| "argument contains a NUL byte");
        let argv = opts.command.iter().map(|a| cstring(a)).collect::<Result<Vec<_>, _>>()?;
        let mut env = Vec::new();
        for (key, value) in std::env::vars_os() {
            let own = OWN_VARIABLES.iter().any(|v| key.as_bytes() == v.as_bytes());
            let replaced = opts.extra_env.iter().any(|(k, _)| key.as_bytes() == k.as_bytes());
            if own || replaced {
                continue;
            }
            env.push(env_entry(key.as_bytes(), value.as_bytes())?);
        }
        for (key, value) in &opts.extra_env {
            env.push(env_entry(key.as_bytes(), value.as_bytes())?);
        }
        let mut listen_pid_slot = None;
        if !opts.pass_fds.is_empty() {
            listen_pid_slot = Some(env.len());
            // Placeholder; the child points this slot at its own "LISTEN_PID=<pid>".
            env.push(env_entry(b"LISTEN_PID", b"")?);
        }
        let argv_ptrs = pointers(&argv);
        let env_ptrs = pointers(&env);
        Ok(Plan {
            argv,
            argv_ptrs,
            env,
            env_ptrs,
            listen_pid_slot,
            cwd: logical_cwd().and_then(|p| CString::new(p.into_os_string().into_vec()).ok()),
            mask: opts.mask,
            sigchld_ignored: opts.sigchld_ignored,
            pass_fds: opts.pass_fds,
            kill_at_exit: opts.kill_at_exit,
            parent: sys::getpid(),
        })
    }

    /// Sets (or replaces) one variable for the next spawns. Parent side only.
    pub fn set_env(&mut self, key: &str, value: &OsStr) -> Result<(), &'static str> {
        let entry = env_entry(key.as_bytes(), value.as_bytes())?;
        let is_key = |e: &CString| e.as_bytes().strip_prefix(key.as_bytes()).is_some_and(|r| r.first() == Some(&b'='));
        match self.env.iter().position(is_key) {
            Some(i) => {
                self.env_ptrs[i] = entry.as_ptr();
                self.env[i] = entry;
            }
            None => {
                // Keep the LISTEN_PID slot's index valid: append after it.
                self.env_ptrs.insert(self.env.len(), entry.as_ptr());
                self.env.push(entry);
            }
        }
        Ok(())
    }

    /// The command's name as the user typed it.
    pub fn program(&self) -> &[u8] {
        self.argv.first().map_or(b"", |a| a.as_bytes())
    }

    /// Forks and execs one generation. Returns once the child has exec'd (or
    /// failed to), so a missing command is known at once.
    pub fn spawn(&mut self) -> Result<Pid, SpawnError> {
        let fail = |step| move |errno| SpawnError { step, errno };
        let (report_r, report_w) = sys::pipe().map_err(fail(Step::Fork))?;
        // Keep the pipe out of the range the passed sockets move into.
        let first_free = 3 + self.pass_fds.len() as Fd;
        let report_w = match sys::dup_above(report_w, first_free) {
            Ok(moved) => {
                sys::close(report_w);
                moved
            }
            Err(e) => {
                sys::close(report_r);
                sys::close(report_w);
                return Err(fail(Step::Fork)(e));
            }
        };
        let forked = sys::fork();
        let pid = match forked {
            Ok(sys::Forked::Child) => {
                sys::close(report_r);
                self.child(report_w)
            }
            Ok(sys::Forked::Parent(pid)) => pid,
            Err(e) => {
                sys::close(report_r);
                sys::close(report_w);
                return Err(fail(Step::Fork)(e));
            }
        };
        sys::close(report_w);
        // Also set it here: whichever of parent and child runs first, the
        // group exists before anyone signals it.
        let _ = sys::setpgid(pid, pid);
        let mut report = [0u8; 5];
        let n = sys::read(report_r, &mut report).unwrap_or(0);
        sys::close(report_r);
        if n < report.len() {
            return Ok(pid);
        }
        let _ = sys::wait_for(pid);
        let step = if report[0] == 1 { Step::Chdir } else { Step::Exec };
        let errno = Errno(i32::from_ne_bytes([report[1], report[2], report[3], report[4]]));
        Err(SpawnError { step, errno })
    }

    /// The child between fork and exec: no allocation, no panics, no return.
    fn child(&mut self, report: Fd) -> ! {
        let _ = sys::setpgid(0, 0);
        if self.kill_at_exit {
            let _ = sys::set_parent_death_signal(libc::SIGKILL);
            // hupwatch may have died before the line above took effect.
            if sys::getppid() != self.parent {
                sys::exit_now(1);
            }
        }
        if self.sigchld_ignored {
            let _ = sys::set_signal_disposition(libc::SIGCHLD, true);
        }
        // Descriptors: the passed sockets become 3, 4, ...; everything else
        // above stderr is closed at exec.
        for (i, &fd) in self.pass_fds.iter().enumerate() {
            let target = 3 + i as Fd;
            let _ = sys::dup2(fd, target);
        }
        sys::cloexec_from(3 + self.pass_fds.len() as Fd);
        let listen_pid = listen_pid_entry(sys::getpid());
        if let Some(slot) = self.listen_pid_slot {
            self.env_ptrs[slot] = listen_pid.as_bytes().as_ptr() as *const libc::c_char;
        }
        if let Some(cwd) = &self.cwd {
            if let Err(e) = sys::chdir(cwd) {
                child_fail(report, 1, e);
            }
        }
        let _ = sys::set_signal_mask(self.mask);
        let file = self.argv_ptrs[0];
        let e = sys::execvpe(file, &self.argv_ptrs, &self.env_ptrs);
        child_fail(report, 2, e)
    }
}

fn child_fail(report: Fd, step: u8, e: Errno) -> ! {
    let b = e.0.to_ne_bytes();
    let _ = sys::write(report, &[step, b[0], b[1], b[2], b[3]]);
    sys::exit_now(if e == sys::ENOENT { 127 } else { 126 })
}

/// `LISTEN_PID=<pid>` and a NUL, built on the stack: the child calls this
/// between fork and exec, where nothing may allocate.
fn listen_pid_entry(pid: Pid) -> Line {
    let mut entry = Line::bare();
    entry.text("LISTEN_PID=").num(pid.max(0) as u64).bytes(b"\0");
    entry
}

fn env_entry(key: &[u8], value: &[u8]) -> Result<CString, &'static str> {
    let mut entry = Vec::with_capacity(key.len() + value.len() + 1);
    entry.extend_from_slice(key);
    entry.push(b'=');
    entry.extend_from_slice(value);
    CString::new(entry).map_err(|_| "environment contains a NUL byte")
}

fn pointers(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings.iter().map(|s| s.as_ptr()).chain(std::iter::once(core::ptr::null())).collect()
}

/// The working directory as the caller named it: $PWD when it is absolute and
/// is the same directory as the real one (so a `current -> releases/N`
/// symlink is followed again at every spawn), else the resolved path.
pub fn logical_cwd() -> Option<PathBuf> {
    let real = std::fs::metadata(".").ok()?;
    if let Some(pwd) = std::env::var_os("PWD") {
        let same = std::fs::metadata(&pwd).is_ok_and(|m| m.dev() == real.dev() && m.ino() == real.ino());
        if pwd.as_bytes().first() == Some(&b'/') && same {
            return Some(PathBuf::from(pwd));
        }
    }
    std::env::current_dir().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_pid_is_built_without_allocating() {
        assert_eq!(listen_pid_entry(4194304).as_bytes(), b"LISTEN_PID=4194304\0");
        assert_eq!(listen_pid_entry(7).as_bytes(), b"LISTEN_PID=7\0");
    }
}
