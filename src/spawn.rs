//! Starting a generation: everything the child needs is prepared before
//! fork (argv, environment, working directory, descriptors), so that between
//! fork and exec the child allocates nothing and only makes system calls.
//! An exec failure travels back over a close-on-exec pipe.

use crate::envfile::{self, Source};
use crate::supervisor::{SpawnFailure, Step};
use crate::sys::{self, Errno, Fd, Pid, SigSet};
use crate::text::Text;

/// What every generation is started with.
pub struct Plan {
    /// The command, and hupwatch's environment less the variables that name
    /// hupwatch, plus those it sets (LISTEN_FDS..., NOTIFY_SOCKET).
    exec: sys::Exec,
    /// `--env-file` and `--envdir`, read for every spawn.
    env: Vec<Source>,
    /// The directory each generation starts in, re-resolved at every spawn.
    cwd: Option<Vec<u8>>,
    /// The caller's signal mask and SIGCHLD disposition, restored in the child.
    mask: SigSet,
    sigchld_ignored: bool,
    /// The next child takes the terminal's foreground (stdin is hupwatch's
    /// controlling terminal and hupwatch is in its foreground).
    take_terminal: bool,
    /// Sockets handed over as descriptors 3, 4, ...; all numbered above the
    /// range they move into, so moving one never overwrites another. With
    /// any, the child adds its own LISTEN_PID.
    pass_fds: Vec<Fd>,
    /// `--watchdog`: the child adds its own WATCHDOG_PID.
    watchdog_pid: bool,
    kill_at_exit: bool,
    parent: Pid,
}

/// Environment variables hupwatch never passes on as they are: its own
/// notification socket, watchdog and socket-activation variables, which name
/// hupwatch. Every variable hupwatch sets is one of them, and none is taken
/// from the environment files either.
const OWN_VARIABLES: [&[u8]; 8] = [
    b"NOTIFY_SOCKET",
    b"LISTEN_FDS",
    b"LISTEN_PID",
    b"LISTEN_FDNAMES",
    b"LISTEN_PIDFDID",
    b"SERVER_STARTER_PORT",
    b"WATCHDOG_USEC",
    b"WATCHDOG_PID",
];

/// Whether an environment entry names one of hupwatch's own variables.
fn is_own(entry: &[u8]) -> bool {
    OWN_VARIABLES.contains(&sys::key_of(entry))
}

pub struct PlanOptions {
    /// The command and its arguments, none empty of a NUL byte (they come
    /// from argv, which cannot hold one).
    pub command: Vec<Vec<u8>>,
    pub mask: SigSet,
    pub sigchld_ignored: bool,
    /// The directory generations start in (`None`: hupwatch's own).
    pub cwd: Option<Vec<u8>>,
    /// The first generation takes the terminal's foreground.
    pub take_terminal: bool,
    pub kill_at_exit: bool,
    /// Descriptors to hand over, in order, with their variables (LISTEN_FDS...).
    pub pass_fds: Vec<Fd>,
    pub extra_env: Vec<(&'static [u8], Vec<u8>)>,
    /// Each generation gets its own WATCHDOG_PID (`--watchdog`).
    pub watchdog_pid: bool,
    /// `--env-file` and `--envdir`, in order.
    pub env: Vec<Source>,
}

impl Plan {
    pub fn new(opts: PlanOptions) -> Plan {
        let mut plan = Plan {
            exec: sys::Exec::new(opts.command, is_own),
            env: opts.env,
            cwd: opts.cwd,
            mask: opts.mask,
            sigchld_ignored: opts.sigchld_ignored,
            take_terminal: opts.take_terminal,
            pass_fds: opts.pass_fds,
            watchdog_pid: opts.watchdog_pid,
            kill_at_exit: opts.kill_at_exit,
            parent: sys::getpid(),
        };
        for (key, value) in &opts.extra_env {
            plan.set_env(key, value);
        }
        plan
    }

    /// Sets (or replaces) one of hupwatch's variables for the next spawns
    /// (the value holds no NUL byte).
    pub fn set_env(&mut self, key: &[u8], value: &[u8]) {
        self.exec.set_env(key, value);
    }

    /// The command's name as the user typed it.
    pub fn program(&self) -> &[u8] {
        self.exec.program()
    }

    /// Reads the environment files afresh for the next spawn; relative
    /// paths are taken from the start directory. False, with the reason
    /// logged, when one is unusable.
    pub fn read_environment(&mut self) -> bool {
        envfile::read(&self.env, self.cwd.as_deref().unwrap_or(b"/"), self.exec.entries())
    }

    /// Forks and execs one generation. Returns once the child has exec'd (or
    /// failed to), so a missing command is known at once.
    pub fn spawn(&mut self) -> Result<Pid, SpawnFailure> {
        let fail = |step| move |errno| SpawnFailure { step, errno };
        self.exec.prepare();
        let (report_r, report_w) = sys::pipe().map_err(fail(Step::Pipe))?;
        // Keep the pipe out of the range the passed sockets move into (it
        // usually is: two system calls saved on every spawn).
        let first_free = 3 + self.pass_fds.len() as Fd;
        let report_w = if report_w >= first_free {
            report_w
        } else {
            match sys::dup_above(report_w, first_free) {
                Ok(moved) => {
                    sys::close(report_w);
                    moved
                }
                Err(e) => {
                    sys::close(report_r);
                    sys::close(report_w);
                    return Err(fail(Step::Pipe)(e));
                }
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
        self.take_terminal = false;
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
        Err(SpawnFailure { step, errno })
    }

    /// The child between fork and exec: no allocation, no panics, no return.
    fn child(&mut self, report: Fd) -> ! {
        let _ = sys::setpgid(0, 0);
        if self.take_terminal {
            // SIGTTOU is still blocked here, as in hupwatch: allowed from
            // the background.
            let _ = sys::set_foreground_group(0, sys::getpid());
        }
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
        // With sockets, the child's own LISTEN_PID; with --watchdog, its
        // own WATCHDOG_PID.
        let mut entries = pid_entries(sys::getpid());
        let entries = entries.ended_by(0);
        let (listen_pid, watchdog_pid) = entries.split_at(entries.iter().position(|&b| b == 0).map_or(0, |i| i + 1));
        let mut extra: [&[u8]; 2] = [&[], &[]];
        let mut n = 0;
        if !self.pass_fds.is_empty() {
            extra[n] = listen_pid;
            n += 1;
        }
        if self.watchdog_pid {
            extra[n] = watchdog_pid;
            n += 1;
        }
        if let Some(cwd) = &self.cwd {
            if let Err(e) = sys::chdir(cwd) {
                child_fail(report, 1, e);
            }
        }
        let _ = sys::set_signal_mask(self.mask);
        let e = self.exec.execvp(&extra[..n]);
        child_fail(report, 2, e)
    }
}

fn child_fail(report: Fd, step: u8, e: Errno) -> ! {
    let b = e.0.to_ne_bytes();
    let _ = sys::write(report, &[step, b[0], b[1], b[2], b[3]]);
    sys::exit_now(if e == sys::ENOENT { 127 } else { 126 })
}

/// `LISTEN_PID=<pid>` and `WATCHDOG_PID=<pid>`, separated by their NUL
/// bytes, built on the stack: the child calls this between fork and exec,
/// where nothing may allocate.
fn pid_entries(pid: Pid) -> Text {
    let pid = pid.max(0) as u64;
    let mut entries = Text::new();
    entries.text("LISTEN_PID=").num(pid).text("\0WATCHDOG_PID=").num(pid);
    entries
}

/// The working directory as the caller named it: $PWD when it is absolute and
/// is the same directory as the real one (so a `current -> releases/N`
/// symlink is followed again at every spawn), else the resolved path.
pub fn logical_cwd() -> Option<Vec<u8>> {
    let real = sys::stat(b".", true).ok()?;
    if let Some(pwd) = sys::getenv(b"PWD") {
        if pwd.starts_with(b"/") && sys::stat(pwd, true).is_ok_and(|s| s.same_file(&real)) {
            return Some(pwd.to_vec());
        }
    }
    sys::getcwd().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_entries_are_built_without_allocating() {
        assert_eq!(pid_entries(4194304).ended_by(0), b"LISTEN_PID=4194304\0WATCHDOG_PID=4194304\0");
    }
}
