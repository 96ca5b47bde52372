//! The event loop: turns what the system reports into supervisor events and
//! the supervisor's actions into system calls. Its one blocking point is
//! ppoll on a signalfd (and the notify and inotify descriptors when in use),
//! with the supervisor's nearest deadline as the timeout: no wake-ups at rest.

use crate::cli::Config;
use crate::listen::Sockets;
use crate::log::{self, Fatal, Level};
use crate::notify::{Downward, Upward};
use crate::path;
use crate::signals::{self, Signal};
use crate::spawn::{self, Plan, PlanOptions, SpawnError};
use crate::supervisor::{Action, Event, Policy, Report, SpawnFailure, Status, Supervisor};
use crate::sys::{self, Errno, Fd, SigSet};
use crate::watch::Watcher;

fn fatal(what: &'static str) -> impl Fn(Errno) -> Fatal {
    Fatal::with(what.as_bytes())
}

/// si_code values of signals sent by a process (kill, sigqueue, tkill).
const SI_USER: i32 = 0;
const SI_QUEUE: i32 = -1;
const SI_TKILL: i32 = -6;

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
fn watcher(config: &Config) -> Result<Option<Watcher>, Fatal> {
    if config.watch.is_empty() {
        return Ok(None);
    }
    let base = spawn::logical_cwd().unwrap_or_else(|| b"/".to_vec());
    let paths = config.watch.iter().map(|p| path::join(&base, p)).collect();
    Watcher::new(paths, config.watch_delay).map(Some).map_err(fatal("cannot watch paths (inotify)"))
}

/// Runs the command under supervision until hupwatch should exit; returns
/// the exit status.
pub fn run(config: Config) -> Result<u8, Fatal> {
    let own_pid = sys::getpid();
    log::set_pid(own_pid);
    log::set_level(config.level);
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
    let sockets = Sockets::open(&config.listen)?;
    let downward = if config.notify { Some(Downward::create()?) } else { None };
    let watcher = watcher(&config)?;
    let plan = Plan::new(PlanOptions {
        command: &config.command,
        mask: signals.mask,
        sigchld_ignored: signals.sigchld_ignored,
        kill_at_exit: config.kill_at_exit,
        pass_fds: sockets.fds(),
        extra_env: sockets.environment(),
    });

    let policy = Policy {
        warmup: config.warmup,
        ready_timeout: config.ready_timeout,
        stop_signal: config.stop_signal,
        stop_timeout: config.stop_timeout,
        rewrites: config.rewrites.clone(),
        process_group: config.process_group,
        wait_for_ready: config.notify,
        is_init,
    };
    let mut this = Loop {
        machine: Supervisor::new(policy),
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
        sys::poll(&mut fds, timeout).map_err(fatal("cannot wait for events"))?;
        let now = sys::monotonic_ns();

        let reap = fds[0].revents != 0 && self.read_signals(now)?;
        if let Some(downward) = &mut self.downward {
            for pollfd in fds[first_notify..].iter().filter(|p| p.revents != 0) {
                downward.receive(pollfd.fd, &mut self.ready);
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
                    l.text("reload: ").bytes(path).text(" changed").emit();
                }
                self.feed_at(now, Event::Reload);
            }
        }
        self.poll_fds = fds;
        if reap {
            self.reap(now);
        }
        self.tick(now);
        Ok(())
    }

    /// The wait when only signals can wake hupwatch (no notify sockets, no
    /// watched paths): one rt_sigtimedwait instead of ppoll and a read,
    /// which is what forwarding latency is made of. The signalfd still
    /// exists, for the other wait; both take from the same pending signals.
    fn wait_for_signal(&mut self, timeout: Option<u64>) -> Result<(), Fatal> {
        let info = sys::sigtimedwait(self.handled, timeout).map_err(fatal("cannot wait for signals"))?;
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
        let event = if info.signo == self.reload_signal { Event::Reload } else { Event::Signal(info.signo) };
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
            sys::read_signals(self.signal_fd, &mut infos).map_err(fatal("cannot read signals"))?;
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
        self.machine.tick(now, &mut self.out);
        self.perform();
    }

    /// Collects every ended child: SIGCHLDs coalesce, so one may stand for
    /// many.
    fn reap(&mut self, now: u64) {
        loop {
            match sys::reap_one() {
                Ok(Some((pid, status))) => {
                    let status = match status {
                        sys::WaitStatus::Exited(code) => Status::Exited(code),
                        sys::WaitStatus::Killed(sig) => Status::Killed(sig),
                    };
                    self.feed_at(now, Event::Exited { pid, status });
                }
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
                            let not_found = e.step == spawn::Step::Exec && e.errno == sys::ENOENT;
                            Event::SpawnFailed(if not_found {
                                SpawnFailure::NotFound
                            } else {
                                SpawnFailure::NotExecutable
                            })
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
                    }
                    self.reap(sys::monotonic_ns());
                }
                Action::Report(report) => {
                    log::report(&report);
                    self.after_report(&report);
                }
                Action::Exit { code } => self.exit = Some(code),
            }
        }
    }

    /// Starts generation `number` with its own notify socket, if any.
    fn spawn(&mut self, number: u32) -> Result<i32, SpawnError> {
        if let Some(downward) = &mut self.downward {
            let failed = |errno| SpawnError { step: spawn::Step::Fork, errno };
            let path = downward.prepare(number).map_err(failed)?;
            // NOTIFY_SOCKET holds no NUL byte: the path is ours.
            self.plan.set_env(b"NOTIFY_SOCKET", &path);
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

    /// What follows from a report besides its log line: the supervisor
    /// upward is told, and an ended generation's notify socket goes.
    fn after_report(&mut self, report: &Report) {
        if let Some(upward) = &mut self.upward {
            upward.report(report, sys::monotonic_ns());
        }
        let ended = match *report {
            Report::Drained { number, .. } | Report::ServingExited { number, .. } => Some(number),
            Report::Abandoned { number, pid: None, .. } => Some(number),
            _ => None,
        };
        if let (Some(number), Some(downward)) = (ended, &mut self.downward) {
            downward.forget(number);
        }
    }

    fn log_spawn_error(&self, number: u32, e: SpawnError) {
        let Some(mut l) = log::line(Level::Error) else {
            return;
        };
        l.text("generation ").num(number as u64).text(": ");
        match e.step {
            spawn::Step::Fork => l.text("cannot fork: "),
            spawn::Step::Chdir => l.text("cannot enter the working directory: "),
            spawn::Step::Exec => l.text("cannot run '").bytes(self.plan.program()).text("': "),
        };
        l.errno(e.errno).emit();
    }
}
