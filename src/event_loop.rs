//! The event loop: one way round, system → events → supervisor → actions →
//! system. What the system reports (signals, exits, READY messages, watched
//! paths, passed deadlines) becomes events on a queue; the supervisor turns
//! each into actions; carrying out an action never calls the supervisor
//! back, it queues what it learnt (a spawned pid, a failed spawn, no
//! children left) as more events. The one blocking point is ppoll on a
//! signalfd (and the notify and inotify descriptors when in use), or
//! rt_sigtimedwait when only signals can wake hupwatch, with the nearest
//! deadline as the timeout: no wake-ups at rest.
//!
//! Two error regimes, as in catatonit. Set-up (`run`, the steps before
//! `Loop::run`) fails hard: hupwatch exits 1 before any generation runs.
//! Once the loop runs, an init that gives up takes the whole service with
//! it, so a failed wait or read that can pass (EINTR, EAGAIN, ENOMEM,
//! ENOBUFS, EMFILE or ENFILE when a notify message brings descriptors, and
//! ppoll's EINVAL when RLIMIT_NOFILE was lowered below its descriptor
//! count) is logged, at most once a second, and the loop goes on after a
//! short pause, so that an error that persists costs no busy loop. During a
//! pause signals are still taken (with sigtimedwait), so TERM always ends
//! hupwatch. Only an impossible state (EBADF or EFAULT on its own
//! descriptors) ends hupwatch, with a message.

use crate::cli::Config;
use crate::listen::Sockets;
use crate::log::{self, Fatal};
use crate::notify::{Downward, Upward};
use crate::report;
use crate::signals::{self, Signal};
use crate::spawn::{self, Plan, PlanOptions};
use crate::supervisor::{Action, Event, Nanos, SpawnFailure, Step, Supervisor};
use crate::sys::{self, Errno, Fd, Pid, SigSet};
use crate::text::Text;
use crate::watch::Watcher;

fn fatal(what: &'static str) -> impl Fn(Errno) -> Fatal {
    move |e| failed(what, e)
}

/// The failure of a set-up step: one copy of the code that builds it, not
/// one at each step.
#[inline(never)]
fn failed(what: &'static str, e: Errno) -> Fatal {
    Fatal::with(what.as_bytes())(e)
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

// ------------------------------------------------------------------ set-up

/// The caller's signal state, kept for the generations, and the signalfd
/// that receives every handled signal from now on.
struct Signals {
    mask: SigSet,
    sigchld_ignored: bool,
    fd: Fd,
}

/// Never meant to be setuid: a setuid copy would hand its command to
/// whoever runs it.
fn refuse_setuid() -> Result<(), Fatal> {
    if sys::ids_differ() {
        return Err(Fatal::message(&[b"refusing to run: the real and effective user or group ids differ (setuid)"]));
    }
    Ok(())
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

/// Orphans of a generation (a daemonizing or re-exec'ing server) come back
/// to hupwatch to be reaped, instead of going to init. PID 1 is init.
fn become_subreaper(is_init: bool) {
    if is_init {
        return;
    }
    if let Err(e) = sys::set_child_subreaper() {
        log::warn(|l| l.text("cannot become a child subreaper: ").errno(e));
    }
}

/// `--watch` paths, relative ones taken from the directory the caller named.
fn watch_paths(config: &Config, start_dir: Option<&[u8]>) -> Result<Option<Watcher>, Fatal> {
    if config.watch.is_empty() {
        return Ok(None);
    }
    let base = start_dir.unwrap_or(b"/");
    Watcher::new(&config.watch, base, config.watch_delay).map(Some).map_err(fatal("cannot watch paths (inotify)"))
}

/// stdin is the controlling terminal and hupwatch is in its foreground: a
/// generation that reads it must have the foreground, or SIGTTIN stops it.
fn owns_terminal() -> bool {
    sys::foreground_group(0).is_ok_and(|group| group == sys::getpgrp())
}

/// `--notify`: the one socket every generation reports to.
fn notify_socket(config: &Config) -> Result<Option<Downward>, Fatal> {
    if !config.policy.notify {
        return Ok(None);
    }
    Downward::bind().map(Some).map_err(fatal("cannot create the notify socket"))
}

/// Everything that needed the start directory is done (socket paths and
/// watched paths are absolute, generations start from `start_dir`), so
/// hupwatch no longer pins it: it could not be unmounted otherwise.
fn leave_start_dir(start_dir: Option<&[u8]>) {
    if start_dir.is_some() {
        let _ = sys::chdir(b"/");
    }
}

/// Runs the command under supervision until hupwatch should exit; returns
/// the exit status. The steps before the loop are set-up: any failure there
/// ends hupwatch with status 1.
pub fn run(config: Config) -> Result<u8, Fatal> {
    let own_pid = sys::getpid();
    log::set_pid(own_pid);
    log::set_level(config.level);
    refuse_setuid()?;
    log::init();
    let is_init = own_pid == 1;
    let signals = take_over_signals()?;
    become_subreaper(is_init);
    // Read before the variables are dropped from what generations inherit.
    let upward = Upward::from_env(own_pid, sys::monotonic_ns());
    let start_dir = spawn::logical_cwd();
    let sockets = Sockets::open(&config.listen)?;
    let watcher = watch_paths(&config, start_dir.as_deref())?;
    let terminal = owns_terminal();
    let downward = notify_socket(&config)?;
    let mut extra_env = sockets.environment();
    if let Some(downward) = &downward {
        // NOTIFY_SOCKET holds no NUL byte: the address is ours.
        extra_env.push((b"NOTIFY_SOCKET", downward.address().to_vec()));
    }
    if let Some(interval) = config.policy.watchdog {
        let mut usec = Text::new();
        usec.num(interval / 1000);
        extra_env.push((b"WATCHDOG_USEC", usec.as_bytes().to_vec()));
    }
    let plan = Plan::new(PlanOptions {
        command: config.command,
        mask: signals.mask,
        sigchld_ignored: signals.sigchld_ignored,
        cwd: start_dir.clone(),
        take_terminal: terminal,
        kill_at_exit: config.kill_at_exit,
        pass_fds: sockets.fds(),
        extra_env,
        watchdog_pid: config.policy.watchdog.is_some(),
        env: config.env,
    });
    leave_start_dir(start_dir.as_deref());
    let mut this = Loop {
        downward,
        machine: Supervisor::new(config.policy, is_init),
        plan,
        signal_fd: signals.fd,
        handled: handled_signals(),
        reload_signal: config.reload_signal,
        upward,
        watcher,
        is_init,
        own_pid,
        terminal,
        orphans: Orphans::default(),
        now: sys::monotonic_ns(),
        events: Vec::new(),
        next_event: 0,
        reaping: false,
        exit: None,
        last_error_log: None,
        actions: Vec::new(),
        signals: Vec::with_capacity(sys::SIGNAL_BATCH),
        poll_fds: Vec::new(),
    };
    let result = this.run();
    if result.is_err() && config.kill_at_exit {
        for pid in this.machine.live_pids() {
            let _ = sys::kill(-pid, libc::SIGKILL);
        }
    }
    // Dropping `sockets` removes the unix socket paths hupwatch created.
    drop(sockets);
    // The rest goes with the process, which exits now: freeing it one piece
    // at a time would only cost code (half a kilobyte of drop glue).
    std::mem::forget(this);
    result
}

// ------------------------------------------------------------------ the loop

/// The processes hupwatch adopted that are still alive when it ends, and
/// which of them were already sent the current signal.
#[derive(Default)]
struct Orphans {
    signal: Signal,
    signalled: Vec<Pid>,
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
    is_init: bool,
    own_pid: Pid,
    /// hupwatch had the terminal's foreground: promoted generations get it.
    terminal: bool,
    orphans: Orphans,
    /// The monotonic time of the current wake-up (read again after a spawn).
    now: Nanos,
    /// Events learnt and not yet handed to the supervisor, from `next_event` on.
    events: Vec<(Nanos, Event)>,
    next_event: usize,
    /// A SIGCHLD came (or the end asked): waitpid until nothing is left to reap.
    reaping: bool,
    /// Set once the supervisor said exit, with the status.
    exit: Option<u8>,
    /// When a transient error was last logged.
    last_error_log: Option<u64>,
    /// Buffers reused across wake-ups, so that forwarding a signal or
    /// reaping a child allocates nothing.
    actions: Vec<Action>,
    signals: Vec<sys::SigInfo>,
    poll_fds: Vec<sys::PollFd>,
}

impl Loop {
    fn run(&mut self) -> Result<u8, Fatal> {
        self.machine.start(&mut self.actions);
        self.perform_actions();
        loop {
            self.drain();
            if let Some(code) = self.exit {
                return Ok(code);
            }
            self.wait()?;
        }
    }

    fn push(&mut self, event: Event) {
        self.events.push((self.now, event));
    }

    /// Hands every queued event to the supervisor and carries out its
    /// actions, which may queue more; in between, reaps one child at a time
    /// (so that 10,000 orphans never pile up as events) and turns passed
    /// deadlines into events. Returns when nothing is left to do now.
    fn drain(&mut self) {
        while self.exit.is_none() {
            if let Some(&(now, event)) = self.events.get(self.next_event) {
                self.next_event += 1;
                self.machine.handle(now, event, &mut self.actions);
                self.perform_actions();
            } else if self.reaping {
                self.reap_one();
            } else if self.machine.next_deadline().is_some_and(|t| t <= self.now) {
                self.push(Event::Deadline);
            } else if let Some(upward) = self.upward.as_mut().filter(|u| u.ping_due().is_some_and(|t| t <= self.now)) {
                upward.ping(self.now);
            } else if let Some(path) = self.watcher.as_mut().and_then(|w| w.take_due(self.now)) {
                log::info(|l| l.text("reload: ").quoted(path, 4096).text(" changed"));
                self.push(Event::Reload);
            } else {
                self.events.clear();
                self.next_event = 0;
                return;
            }
        }
    }

    /// Collects one ended child as an event; `NoChildren` when there are
    /// none at all. SIGCHLDs coalesce, so one may stand for many.
    fn reap_one(&mut self) {
        match sys::reap_one() {
            Ok(Some((pid, status))) => self.push(Event::Exited { pid, status }),
            Ok(None) => self.reaping = false,
            Err(e) => {
                self.reaping = false;
                if e == sys::ECHILD {
                    self.push(Event::NoChildren);
                }
            }
        }
    }

    /// Carries out the supervisor's actions, in order.
    fn perform_actions(&mut self) {
        let mut actions = std::mem::take(&mut self.actions);
        for action in actions.drain(..) {
            self.perform(action);
        }
        self.actions = actions;
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::Spawn { number } => {
                let event = match self.spawn(number) {
                    Ok(pid) => Event::Spawned { pid },
                    Err(e) => {
                        if e.step != Step::Environment {
                            report::spawn_failure(number, e, self.plan.program());
                        }
                        Event::SpawnFailed(e)
                    }
                };
                // A spawn takes a while: what follows is stamped after it.
                self.now = sys::monotonic_ns();
                self.push(event);
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
                self.reaping = true;
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
            Action::Report(r) => {
                report::log(&r);
                if let Some(upward) = &mut self.upward {
                    let mut message = Text::new();
                    if let Some(stopping) = report::upward(&r, self.now, &mut message) {
                        upward.send(message.as_bytes(), stopping);
                    }
                }
            }
            Action::Exit { code } => self.exit = Some(code),
        }
    }

    /// Starts generation `number` with the environment files as they are
    /// now; with `--notify` its messages count from then on. A file it
    /// cannot use costs this generation only, never the one serving.
    fn spawn(&mut self, number: u32) -> Result<Pid, SpawnFailure> {
        if !self.plan.read_environment() {
            return Err(SpawnFailure { step: Step::Environment, errno: Errno(0) });
        }
        let pid = self.plan.spawn()?;
        if let Some(downward) = &mut self.downward {
            downward.started(number, pid);
        }
        Ok(pid)
    }

    /// Sends `signal` (and SIGCONT) to each of hupwatch's children not
    /// sent it yet: at the end, these are processes it adopted (a server
    /// that daemonized, or their children), which must not outlive it.
    fn signal_children(&mut self, signal: Signal) {
        if self.orphans.signal != signal {
            self.orphans = Orphans { signal, signalled: Vec::new() };
        }
        for pid in sys::children(self.own_pid) {
            if self.orphans.signalled.contains(&pid) {
                continue;
            }
            self.orphans.signalled.push(pid);
            log::warn(|l| {
                l.text("adopted process ").num(pid as u64).text(" still runs at exit: sending ").signal(signal)
            });
            let _ = sys::kill(pid, signal);
            if signal != libc::SIGKILL {
                let _ = sys::kill(pid, libc::SIGCONT);
            }
        }
    }

    // -------------------------------------------------------------- waiting

    /// Blocks until something happens or the next deadline passes, then
    /// queues what happened.
    fn wait(&mut self) -> Result<(), Fatal> {
        let never = Nanos::MAX;
        let deadline = (self.machine.next_deadline().unwrap_or(never))
            .min(self.watcher.as_ref().and_then(Watcher::deadline).unwrap_or(never))
            .min(self.upward.as_ref().and_then(Upward::ping_due).unwrap_or(never));
        let timeout = (deadline < never).then(|| deadline.saturating_sub(sys::monotonic_ns()));
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
        if let Some(downward) = &self.downward {
            fds.push(poll_fd(downward.fd()));
        }
        if let Err(e) = sys::poll(&mut fds, timeout) {
            self.poll_fds = fds;
            // EINVAL: more descriptors than RLIMIT_NOFILE (prlimit lowered it).
            let e = if e.0 == libc::EINVAL { Errno(libc::EMFILE) } else { e };
            self.transient("cannot wait for events (ppoll)", e)?;
            // Signals and deadlines still count meanwhile.
            return self.wait_for_signal(Some(ERROR_PAUSE.min(timeout.unwrap_or(u64::MAX))));
        }
        self.now = sys::monotonic_ns();
        if fds[0].revents != 0 {
            self.read_signals()?;
        }
        let mut failed = Ok(());
        let Loop { downward, events, now, .. } = self;
        if let Some(downward) = downward.as_mut().filter(|_| fds.last().is_some_and(|p| p.revents != 0)) {
            failed = downward.receive(*now, |event| events.push((*now, event)));
        }
        if let Some(watcher) = &mut self.watcher {
            if fds[1].revents != 0 {
                watcher.on_events(self.now);
            }
        }
        self.poll_fds = fds;
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
            log::warn(|l| l.text(what).text(": ").errno(e).text(" (going on)"));
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
        self.now = sys::monotonic_ns();
        if let Some(info) = info {
            self.take_signal(info);
        }
        Ok(())
    }

    /// Queues every signal waiting on the signalfd.
    fn read_signals(&mut self) -> Result<(), Fatal> {
        loop {
            let mut infos = std::mem::take(&mut self.signals);
            infos.clear();
            if let Err(e) = sys::read_signals(self.signal_fd, &mut infos) {
                self.signals = infos;
                self.transient("cannot read signals (signalfd)", e)?;
                sys::sleep(ERROR_PAUSE);
                return Ok(());
            }
            for &info in &infos {
                self.take_signal(info);
            }
            let drained = infos.len() < sys::SIGNAL_BATCH;
            self.signals = infos;
            if drained {
                return Ok(());
            }
        }
    }

    /// What one received signal means: SIGCHLD asks for reaping; the
    /// kernel's HUP is a terminal's hang-up, not a reload; hupwatch's own
    /// SIGPIPE (a closed stderr) is not the service's business.
    fn take_signal(&mut self, info: sys::SigInfo) {
        let from_self = info.pid == self.own_pid && matches!(info.code, SI_USER | SI_QUEUE | SI_TKILL);
        let event = match info.signo {
            signals::SIGCHLD => return self.reaping = true,
            _ if from_self => return,
            signals::SIGHUP if info.code == SI_KERNEL => Event::HangUp,
            signo if signo == self.reload_signal => Event::Reload,
            signo => Event::Signal(signo),
        };
        self.push(event);
    }
}
