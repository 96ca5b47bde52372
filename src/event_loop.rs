//! The event loop: turns what the system reports into supervisor events and
//! the supervisor's actions into system calls. Its one blocking point is
//! ppoll on a signalfd (and the notify and inotify descriptors when in use),
//! with the supervisor's nearest deadline as the timeout: no wake-ups at rest.
//!
//! Two error regimes, as in catatonit. Set-up (`run` until the loop starts)
//! fails hard: hupwatch exits 1 before any generation runs. Once the loop
//! runs, an init that gives up takes the whole service with it, so a failed
//! wait or read that can pass (EINTR, EAGAIN, ENOMEM, ENOBUFS, EMFILE or
//! ENFILE when a notify message brings descriptors, and ppoll's EINVAL when
//! RLIMIT_NOFILE was lowered below its descriptor count) is logged, at most
//! once a second, and the loop goes on after a short pause, so that an
//! error that persists costs no busy loop. During a pause signals are still
//! taken (with sigtimedwait), so TERM always ends hupwatch. Only an
//! impossible state (EBADF or EFAULT on its own descriptors) ends hupwatch,
//! with a message.

use crate::cli::Config;
use crate::listen::Sockets;
use crate::log::{self, Fatal, Level};
use crate::notify::{Downward, Upward};
use crate::path;
use crate::signals::{self, Signal};
use crate::spawn::{self, Plan, PlanOptions};
use crate::supervisor::{Action, Event, Policy, SpawnFailure, Step, Supervisor};
use crate::sys::{self, Errno, Fd, Pid, SigSet};
use crate::watch::Watcher;

fn fatal(what: &'static str) -> impl Fn(Errno) -> Fatal {
    Fatal::with(what.as_bytes())
}

/// si_code values of signals sent by a process (kill, sigqueue, tkill).
const SI_USER: i32 = 0;
const SI_QUEUE: i32 = -1;
const SI_TKILL: i32 = -6;
/// si_code of a signal the kernel sent (a terminal's hang-up).
const SI_KERNEL: i32 = 0x80;

/// How long the loop pauses after a transient error, and how often at most
/// it logs one.
const ERROR_PAUSE: u64 = 20_000_000;
const ERROR_LOG_INTERVAL: u64 = 1_000_000_000;

/// Every signal hupwatch receives: all that can be caught.
fn handled_signals() -> SigSet {
    (1..=signals::SIGRTMAX).filter(|&s| signals::catchable(s)).fold(SigSet(0), SigSet::with)
}

struct Loop {
    machine: Supervisor,
    plan: Plan,
    signal_fd: Fd,
    /// The signals hupwatch blocks and receives.
    handled: SigSet,
    reload_signal: Signal,
    /// Per-generation NOTIFY_SOCKETs (`--notify`).
    downward: Option<Downward>,
    /// hupwatch's own supervisor, when it gave hupwatch a NOTIFY_SOCKET.
    upward: Option<Upward>,
    /// `--watch`: changes that trigger a reload.
    watcher: Option<Watcher>,
    /// Pids that reported READY=1 during the current wake-up.
    ready: Vec<i32>,
    kill_at_exit: bool,
    is_init: bool,
    own_pid: i32,
    /// hupwatch had the terminal's foreground: promoted generations get it.
    terminal: bool,
    /// The adopted processes already sent `orphan_signal` at the end.
    orphans_signalled: Vec<Pid>,
    orphan_signal: Signal,
    /// Inside `reap`: a nested call leaves the reaping to it.
    reaping: bool,
    /// When a transient error was last logged.
    last_error_log: Option<u64>,
    /// Actions to carry out, in order, from `next_action` on.
    actions: Vec<Action>,
    next_action: usize,
    /// Set once the supervisor said exit, with the status.
    exit: Option<u8>,
    /// Buffers reused across wake-ups, so that forwarding a signal or
    /// reaping a child allocates nothing.
    out: Vec<Action>,
    signals: Vec<sys::SigInfo>,
    poll_fds: Vec<sys::PollFd>,
}

/// The caller's signal state, kept for the generations, and the signalfd
/// that receives every handled signal from now on.
struct Signals {
    mask: SigSet,
    sigchld_ignored: bool,
    fd: Fd,
}

/// Blocks every catchable signal and opens a signalfd for them. Dispositions
/// stay as inherited (so exec passes ignored signals on), except an ignored
/// SIGCHLD: with it the kernel reaps children itself and waitpid could never
/// report a generation's exit.
fn take_over_signals() -> Result<Signals, Fatal> {
    let mask = sys::sigprocmask(libc::SIG_BLOCK, None).map_err(fatal("cannot read the signal mask"))?;
    let sigchld_ignored = sys::signal_is_ignored(signals::SIGCHLD);
    if sigchld_ignored {
        sys::set_signal_disposition(signals::SIGCHLD, false).map_err(fatal("cannot reset SIGCHLD"))?;
    }
    let handled = handled_signals();
    sys::block_signals(handled).map_err(fatal("cannot block signals"))?;
    let fd = sys::signalfd(handled).map_err(fatal("cannot create a signalfd"))?;
    Ok(Signals { mask, sigchld_ignored, fd })
}

/// `--watch` paths, relative ones taken from the directory the caller named.
fn watcher(config: &Config, start_dir: Option<&[u8]>) -> Result<Option<Watcher>, Fatal> {
    if config.watch.is_empty() {
        return Ok(None);
    }
    let base = start_dir.unwrap_or(b"/");
    let paths = config.watch.iter().map(|p| path::join(base, p)).collect();
    Watcher::new(paths, config.watch_delay).map(Some).map_err(fatal("cannot watch paths (inotify)"))
}

/// Runs the command under supervision until hupwatch should exit; returns
/// the exit status.
pub fn run(config: Config) -> Result<u8, Fatal> {
    let own_pid = sys::getpid();
    log::set_pid(own_pid);
    log::set_level(config.level);
    // Never meant to be setuid: a setuid copy would hand its command to
    // whoever runs it.
    if sys::ids_differ() {
        return Err(Fatal::message(&[b"refusing to run: the real and effective user or group ids differ (setuid)"]));
    }
    log::init();
    let is_init = own_pid == 1;
    let signals = take_over_signals()?;
    if !is_init {
        // Orphans of a generation (a daemonizing or re-exec'ing server) come
        // back to hupwatch to be reaped, instead of going to init.
        if let Err(e) = sys::set_child_subreaper() {
            if let Some(mut l) = log::line(Level::Warn) {
                l.text("cannot become a child subreaper: ").errno(e).emit();
            }
        }
    }
    // Read before the variables are dropped from what generations inherit.
    let upward = Upward::from_env();
    let start_dir = spawn::logical_cwd();
    let sockets = Sockets::open(&config.listen)?;
    let downward = if config.notify { Some(Downward::new()) } else { None };
    let watcher = watcher(&config, start_dir.as_deref())?;
    // stdin is the controlling terminal and hupwatch is in its foreground:
    // a generation that reads it must have the foreground, or SIGTTIN stops it.
    let terminal = sys::foreground_group(0).is_ok_and(|group| group == sys::getpgrp());
    let plan = Plan::new(PlanOptions {
        command: &config.command,
        mask: signals.mask,
        sigchld_ignored: signals.sigchld_ignored,
        cwd: start_dir.clone(),
        take_terminal: terminal,
        kill_at_exit: config.kill_at_exit,
        pass_fds: sockets.fds(),
        extra_env: sockets.environment(),
    });
    // Everything that needed the start directory is done (socket paths and
    // watched paths are absolute, generations start from `start_dir`), so
    // hupwatch no longer pins it: it could not be unmounted otherwise.
    if start_dir.is_some() {
        let _ = sys::chdir(b"/");
    }

    let policy = Policy {
        warmup: config.warmup,
        ready_timeout: config.ready_timeout,
        stop_signal: config.stop_signal,
        stop_timeout: config.stop_timeout,
        rewrites: config.rewrites.clone(),
        success_exits: config.success_exits.clone(),
        process_group: config.process_group,
        notify: config.notify,
    };
    let mut this = Loop {
        machine: Supervisor::new(policy, is_init),
        plan,
        signal_fd: signals.fd,
        handled: handled_signals(),
        reload_signal: config.reload_signal,
        downward,
        upward,
        watcher,
        ready: Vec::new(),
        kill_at_exit: config.kill_at_exit,
        is_init,
        own_pid,
        terminal,
        orphans_signalled: Vec::new(),
        orphan_signal: 0,
        reaping: false,
        last_error_log: None,
        actions: Vec::new(),
        next_action: 0,
        exit: None,
        out: Vec::new(),
        signals: Vec::with_capacity(sys::SIGNAL_BATCH),
        poll_fds: Vec::new(),
    };
    let result = this.run();
    if result.is_err() && this.kill_at_exit {
        for pid in this.machine.live_pids() {
            let _ = sys::kill(-pid, libc::SIGKILL);
        }
    }
    // Dropping `sockets` removes the unix socket paths hupwatch created.
    drop(sockets);
    result
}

impl Loop {
    fn run(&mut self) -> Result<u8, Fatal> {
        self.machine.start(&mut self.out);
        self.perform();
        loop {
            if let Some(code) = self.exit {
                return Ok(code);
            }
            self.wait()?;
        }
    }

    /// Blocks until a signal arrives or the next deadline passes, then feeds
    /// what happened to the supervisor.
    fn wait(&mut self) -> Result<(), Fatal> {
        let watch_deadline = self.watcher.as_ref().and_then(Watcher::deadline);
        let deadline = match (self.machine.next_deadline(), watch_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let timeout = deadline.map(|d| d.saturating_sub(sys::monotonic_ns()));
        if self.downward.is_none() && self.watcher.is_none() {
            return self.wait_for_signal(timeout);
        }
        let poll_fd = |fd| sys::PollFd { fd, events: sys::POLLIN, revents: 0 };
        // Reused across wake-ups: nothing is allocated on the signal path.
        let mut fds = std::mem::take(&mut self.poll_fds);
        fds.clear();
        fds.push(poll_fd(self.signal_fd));
        if let Some(watcher) = &self.watcher {
            fds.push(poll_fd(watcher.fd()));
        }
        let first_notify = fds.len();
        if let Some(downward) = &self.downward {
            fds.extend(downward.fds().map(poll_fd));
        }
        if let Err(e) = sys::poll(&mut fds, timeout) {
            self.poll_fds = fds;
            // EINVAL: more descriptors than RLIMIT_NOFILE (prlimit lowered it).
            let e = if e.0 == libc::EINVAL { Errno(libc::EMFILE) } else { e };
            self.transient("cannot wait for events (ppoll)", e)?;
            // Signals and deadlines still count meanwhile.
            return self.wait_for_signal(Some(ERROR_PAUSE.min(timeout.unwrap_or(u64::MAX))));
        }
        let now = sys::monotonic_ns();

        let reap = fds[0].revents != 0 && self.read_signals(now)?;
        let mut failed = Ok(());
        if let Some(downward) = &mut self.downward {
            for pollfd in fds[first_notify..].iter().filter(|p| p.revents != 0) {
                failed = failed.and(downward.receive(pollfd.fd, &mut self.ready, now));
            }
        }
        for pid in std::mem::take(&mut self.ready) {
            self.feed_at(now, Event::Ready { pid });
        }
        if let Some(watcher) = &mut self.watcher {
            if fds[1].revents != 0 {
                watcher.on_events(now);
            }
            if let Some(path) = watcher.take_due(now) {
                if let Some(mut l) = log::line(Level::Info) {
                    l.text("reload: ").quoted(path, 4096).text(" changed").emit();
                }
                self.feed_at(now, Event::Reload);
            }
        }
        self.poll_fds = fds;
        if reap {
            self.reap(now);
        }
        self.tick(now);
        if let Err(e) = failed {
            self.transient("cannot receive a notify message", e)?;
            sys::sleep(ERROR_PAUSE);
        }
        Ok(())
    }

    /// A failed call once the loop runs: logged (at most once a second) when
    /// it can pass (the caller then pauses), fatal only when it cannot.
    fn transient(&mut self, what: &'static str, e: Errno) -> Result<(), Fatal> {
        use libc::{EAGAIN, EINTR, EMFILE, ENFILE, ENOBUFS, ENOMEM};
        if !matches!(e.0, EINTR | EAGAIN | ENOMEM | ENOBUFS | EMFILE | ENFILE) {
            return Err(fatal(what)(e));
        }
        let now = sys::monotonic_ns();
        if self.last_error_log.is_none_or(|t| now.saturating_sub(t) >= ERROR_LOG_INTERVAL) {
            self.last_error_log = Some(now);
            if let Some(mut l) = log::line(Level::Warn) {
                l.text(what).text(": ").errno(e).text(" (going on)").emit();
            }
        }
        Ok(())
    }

    /// The wait when only signals can wake hupwatch (no notify sockets, no
    /// watched paths): one rt_sigtimedwait instead of ppoll and a read,
    /// which is what forwarding latency is made of. The signalfd still
    /// exists, for the other wait; both take from the same pending signals.
    fn wait_for_signal(&mut self, timeout: Option<u64>) -> Result<(), Fatal> {
        let info = match sys::sigtimedwait(self.handled, timeout) {
            Ok(info) => info,
            Err(e) => {
                self.transient("cannot wait for signals (sigtimedwait)", e)?;
                sys::sleep(ERROR_PAUSE);
                return Ok(());
            }
        };
        let now = sys::monotonic_ns();
        if let Some(info) = info {
            if self.take_signal(info, now) {
                self.reap(now);
            }
        }
        self.tick(now);
        Ok(())
    }

    /// Feeds one received signal to the supervisor; true when it is SIGCHLD
    /// (the caller reaps).
    fn take_signal(&mut self, info: sys::SigInfo, now: u64) -> bool {
        // hupwatch's own SIGPIPE (a closed stderr) is not the service's business.
        let from_self = info.pid == self.own_pid && matches!(info.code, SI_USER | SI_QUEUE | SI_TKILL);
        if info.signo == signals::SIGCHLD {
            return true;
        }
        if from_self {
            return false;
        }
        let event = match info.signo {
            // The kernel's HUP: the terminal went away, which is no reload.
            signals::SIGHUP if info.code == SI_KERNEL => Event::HangUp,
            signo if signo == self.reload_signal => Event::Reload,
            signo => Event::Signal(signo),
        };
        self.feed_at(now, event);
        false
    }

    /// Feeds every queued signal to the supervisor; true when SIGCHLD was
    /// among them.
    fn read_signals(&mut self, now: u64) -> Result<bool, Fatal> {
        let mut reap = false;
        loop {
            let mut infos = std::mem::take(&mut self.signals);
            infos.clear();
            if let Err(e) = sys::read_signals(self.signal_fd, &mut infos) {
                self.signals = infos;
                self.transient("cannot read signals (signalfd)", e)?;
                sys::sleep(ERROR_PAUSE);
                return Ok(reap);
            }
            for &info in &infos {
                reap |= self.take_signal(info, now);
            }
            let drained = infos.len() < sys::SIGNAL_BATCH;
            self.signals = infos;
            if drained {
                return Ok(reap);
            }
        }
    }

    /// Hands one event to the supervisor and carries out what it decides at
    /// once, so that a burst (10,000 orphans reaped) never piles up actions.
    /// One clock reading serves a whole wake-up; only an answer to a spawn
    /// (which may take milliseconds) reads the clock again.
    fn feed(&mut self, event: Event) {
        self.feed_at(sys::monotonic_ns(), event);
    }

    fn feed_at(&mut self, now: u64, event: Event) {
        self.machine.handle(now, event, &mut self.out);
        self.perform();
    }

    /// Lets the supervisor act on passed deadlines.
    fn tick(&mut self, now: u64) {
        if self.machine.next_deadline().is_some_and(|t| t <= now) {
            self.feed_at(now, Event::Deadline);
        }
    }

    /// Collects every ended child: SIGCHLDs coalesce, so one may stand for
    /// many. A call made while reaping (an action of a reaped child's
    /// event) leaves it to the loop already running.
    fn reap(&mut self, now: u64) {
        if std::mem::replace(&mut self.reaping, true) {
            return;
        }
        self.reap_all(now);
        self.reaping = false;
    }

    fn reap_all(&mut self, now: u64) {
        loop {
            match sys::reap_one() {
                Ok(Some((pid, status))) => self.feed_at(now, Event::Exited { pid, status }),
                Ok(None) => return,
                Err(e) => {
                    if e == sys::ECHILD {
                        self.feed_at(now, Event::NoChildren);
                    }
                    return;
                }
            }
        }
    }

    /// Carries out the supervisor's actions in order, until it says exit.
    /// Answering a spawn feeds an event back, which queues more actions here.
    fn perform(&mut self) {
        self.actions.append(&mut self.out);
        while self.exit.is_none() {
            let Some(&action) = self.actions.get(self.next_action) else {
                self.actions.clear();
                self.next_action = 0;
                return;
            };
            self.next_action += 1;
            match action {
                Action::Spawn { number } => {
                    let event = match self.spawn(number) {
                        Ok(pid) => Event::Spawned { pid },
                        Err(e) => {
                            self.log_spawn_error(number, e);
                            Event::SpawnFailed(e)
                        }
                    };
                    self.feed(event);
                }
                Action::Signal { pid, signal, group } => {
                    let _ = sys::kill(if group { -pid } else { pid }, signal);
                }
                Action::Kill { pid } => {
                    if sys::kill(-pid, libc::SIGKILL) == Err(sys::ESRCH) {
                        let _ = sys::kill(pid, libc::SIGKILL);
                    }
                }
                Action::SignalOrphans { signal } => {
                    if self.is_init {
                        let _ = sys::kill(-1, signal);
                        if signal != libc::SIGKILL {
                            let _ = sys::kill(-1, libc::SIGCONT);
                        }
                    } else {
                        self.signal_children(signal);
                    }
                    self.reap(sys::monotonic_ns());
                }
                Action::Foreground { pid } => {
                    if self.terminal {
                        // SIGTTOU is blocked in hupwatch, so a background
                        // hupwatch may hand the terminal on; CONT in case the
                        // generation stopped on SIGTTIN while it started.
                        let _ = sys::set_foreground_group(0, pid);
                        let _ = sys::kill(-pid, libc::SIGCONT);
                    }
                }
                Action::Retire { number } => {
                    if let Some(downward) = &mut self.downward {
                        downward.forget(number);
                    }
                }
                Action::Report(report) => {
                    log::report(&report);
                    if let Some(upward) = &mut self.upward {
                        upward.report(&report, sys::monotonic_ns());
                    }
                }
                Action::Exit { code } => self.exit = Some(code),
            }
        }
    }

    /// Sends `signal` (and SIGCONT) to each of hupwatch's children not
    /// sent it yet: at the end, these are processes it adopted (a server
    /// that daemonized, or their children), which must not outlive it.
    fn signal_children(&mut self, signal: Signal) {
        if self.orphan_signal != signal {
            self.orphan_signal = signal;
            self.orphans_signalled.clear();
        }
        let mut list = log::Line::bare();
        list.text("/proc/self/task/").num(self.own_pid as u64).text("/children");
        for pid in children(self.own_pid, list.as_bytes()) {
            if self.orphans_signalled.contains(&pid) {
                continue;
            }
            self.orphans_signalled.push(pid);
            if let Some(mut l) = log::line(Level::Warn) {
                l.text("adopted process ").num(pid as u64).text(" still runs at exit: sending ").signal(signal).emit();
            }
            let _ = sys::kill(pid, signal);
            if signal != libc::SIGKILL {
                let _ = sys::kill(pid, libc::SIGCONT);
            }
        }
    }

    /// Starts generation `number` with its own notify socket, if any.
    fn spawn(&mut self, number: u32) -> Result<i32, SpawnFailure> {
        if let Some(downward) = &mut self.downward {
            let failed = |errno| SpawnFailure { step: Step::NotifySocket, errno };
            let address = downward.prepare(number).map_err(failed)?;
            // NOTIFY_SOCKET holds no NUL byte: the address is ours.
            self.plan.set_env(b"NOTIFY_SOCKET", &address);
        }
        let result = self.plan.spawn();
        if let Some(downward) = &mut self.downward {
            match result {
                Ok(pid) => downward.started(number, pid),
                Err(_) => downward.forget(number),
            }
        }
        result
    }

    fn log_spawn_error(&self, number: u32, e: SpawnFailure) {
        let Some(mut l) = log::line(Level::Error) else {
            return;
        };
        l.text("generation ").num(number as u64).text(": ");
        match e.step {
            Step::Pipe => l.text("cannot start it: pipe: "),
            Step::Fork => l.text("cannot start it: fork: "),
            Step::NotifySocket => l.text("cannot start it: its notify socket: "),
            Step::Chdir => l.text("cannot enter the working directory: "),
            Step::Exec => l.text("cannot run '").quoted(self.plan.program(), 4096).text("': "),
        };
        l.errno(e.errno).emit();
    }
}

/// The live (not zombie) children of `parent`: those listed in the file
/// `list` (/proc/self/task/PID/children: hupwatch has one thread), or, when
/// it cannot be read (a kernel without it), those found among every
/// process in /proc.
fn children(parent: Pid, list: &[u8]) -> Vec<Pid> {
    let mut found = Vec::new();
    let mut add = |name: &[u8]| {
        let pid = crate::cli::parse_decimal(name).unwrap_or(0) as Pid;
        if pid > 0 && process_state(pid).is_some_and(|(state, ppid)| ppid == parent && state != b'Z') {
            found.push(pid);
        }
    };
    let mut buf = [0u8; 4096];
    match sys::read_file(list, &mut buf) {
        Ok(n) => buf[..n].split(|&b| b == b' ').for_each(&mut add),
        Err(_) => {
            let _ = sys::each_entry(b"/proc", add);
        }
    }
    found
}

/// A process's state letter and parent pid from /proc/PID/stat.
fn process_state(pid: Pid) -> Option<(u8, Pid)> {
    let mut path = log::Line::bare();
    path.text("/proc/").num(pid as u64).text("/stat");
    let mut buf = [0u8; 512];
    let n = sys::read_file(path.as_bytes(), &mut buf).ok()?;
    // After the command name in parentheses: " S PPID ...".
    let after = &buf[buf[..n].iter().rposition(|&b| b == b')')? + 2..n];
    let mut fields = after.split(|&b| b == b' ');
    let state = *fields.next()?.first()?;
    let ppid = crate::cli::parse_decimal(fields.next()?)? as Pid;
    Some((state, ppid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_live_children_in_proc() {
        let me = sys::getpid();
        let mut sleeper = std::process::Command::new("sleep").arg("60").spawn().unwrap();
        let mut done = std::process::Command::new("true").spawn().unwrap();
        let pid = sleeper.id() as Pid;
        let zombie = done.id() as Pid;
        // Until `true` is a zombie.
        while process_state(zombie).is_some_and(|(state, _)| state != b'Z') {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // The scan of /proc (the test's threads each have their own children file).
        let found = children(me, b"/nonexistent");
        assert!(found.contains(&pid) && !found.contains(&zombie), "{found:?}");
        assert_eq!(process_state(pid).map(|(_, ppid)| ppid), Some(me));
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        let _ = done.wait();
    }
}
