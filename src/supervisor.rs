//! The supervisor: the policy as a pure state machine over the generations of
//! the command. It touches nothing: the event loop feeds it events stamped
//! with the monotonic time and carries out the actions it returns. A
//! deadline is an event like any other (`Event::Deadline`, sent by the loop
//! once `next_deadline` has passed), as in s6-supervise.
//!
//! hupwatch as a whole is in one `Mode`; each generation is in one `Phase`
//! (spawning, starting, serving, draining, abandoned). `handle` is one
//! `match` over (mode, event) whose arms call the named transitions below;
//! events about one generation go on to that generation's phase:
//!
//! | mode                          | event                | transition                                     |
//! |-------------------------------|----------------------|------------------------------------------------|
//! | Exited                        | any                  | nothing                                        |
//! | Serving                       | Reload               | `begin_reload`: spawn the next generation      |
//! | Backoff                       | Reload               | `restart` now, cutting the backoff short       |
//! | Starting, Reloading           | Reload               | `queue_reload`: one more once this one settles |
//! | ShuttingDown, Finishing, ...  | Reload               | `refuse_reload`                                |
//! | any                           | Signal rewritten to 0| `drop_signal`                                  |
//! | Starting, Serving, Reloading, Backoff | Signal TERM/INT/QUIT | `shut_down`: stop every generation     |
//! | ShuttingDown, Finishing, ...  | Signal TERM/INT/QUIT | `forward_to_all`                               |
//! | any                           | Signal (other)       | `forward`: to the serving (else newest) one    |
//! | any                           | Spawned              | `started` (stopped at once when shutting down) |
//! | any                           | SpawnFailed          | `failed_to_spawn`, then `not_ready`            |
//! | any                           | Ready                | `ready`: a starting generation's warmup begins |
//! | any                           | ExtendTimeout        | `extend`: a starting one's ready deadline later|
//! | any                           | WatchdogPing         | `pinged`: the serving one's watchdog restarts  |
//! | any                           | WatchdogInterval     | `set_watchdog`: that generation's own interval |
//! | any                           | WatchdogTrigger      | `hung`, when the serving one has a watchdog    |
//! | any                           | Exited               | by phase, below                                |
//! | any                           | HangUp               | `hang_up`: HUP to the serving generation group |
//! | StoppingOrphans               | Exited (an orphan)   | `orphan_reaped`, then signal the newly adopted |
//! | StoppingOrphans               | NoChildren           | `exit`                                         |
//! | StoppingOrphans               | Deadline             | PID 1: `exit`; else `kill_orphans`             |
//! | Backoff                       | Deadline             | by phase, below; the backoff over: `restart`   |
//! | others                        | Deadline             | by phase, below                                |
//! | others                        | NoChildren           | nothing                                        |
//!
//! | phase     | Exited                                        | Deadline                                   |
//! |-----------|-----------------------------------------------|--------------------------------------------|
//! | Starting  | `failed_to_start` (or the service ended)      | warm: `promote`; late: `abandon`           |
//! | Serving   | `service_ended`, then `retry` or finish       | watchdog missed: `hung`; stop timeout: `kill` |
//! | Draining  | `drained`                                     | stop timeout: `kill`                       |
//! | Abandoned | `drained`                                     | stop timeout (10 s when unlimited): `kill` |
//! | (none)    | `orphan_reaped`                               |                                            |
//!
//! A failed generation (see `not_ready` and `service_ended`) goes to
//! `retry`: under `--restart` the mode becomes Backoff until the next
//! attempt, else (or once `:N` attempts in a row failed) hupwatch finishes.
//! A hung generation is replaced as at a reload and gets SIGABRT once its
//! replacement is ready, or once no replacement is possible any more.
//!
//! After every event, a mode that is ending (ShuttingDown, Finishing) with
//! no generation left stops the processes left behind (as PID 1 every other
//! process; otherwise the ones hupwatch adopted, such as a server that
//! daemonized) and exits once none is left.

use crate::signals::{self, Signal};
use crate::sys::{Errno, Pid, Status};

/// Monotonic time in nanoseconds.
pub type Nanos = u64;

/// A deadline that never comes.
const NEVER: Nanos = Nanos::MAX;

/// How long an abandoned generation, or an adopted process still running
/// when hupwatch ends, may take to stop when `--stop-timeout` is unlimited:
/// neither may be left behind forever.
pub const ABANDON_KILL_AFTER: Nanos = 10_000_000_000;

/// How often adopted processes are looked for again once they were killed,
/// until none is left (one may be adopted without any exit to wake hupwatch).
pub const ORPHAN_KILL_REPEAT: Nanos = 1_000_000_000;

/// `--restart`: the first restart comes after this delay, and each one
/// after it waits twice as long as the one before, up to `RESTART_DELAY_MAX`.
pub const RESTART_DELAY_FIRST: Nanos = 100_000_000;
pub const RESTART_DELAY_MAX: Nanos = 30_000_000_000;

/// A generation that served this long was a success, however it ended: the
/// next restart is again the first (Docker's rule, with Docker's 10 s).
pub const RESTART_RESET_AFTER: Nanos = 10_000_000_000;

/// How long restart `attempt` (counted from 1) waits: 0.1 s, 0.2 s, 0.4 s,
/// ... 30 s.
pub fn restart_delay(attempt: u32) -> Nanos {
    (RESTART_DELAY_FIRST << attempt.saturating_sub(1).min(9)).min(RESTART_DELAY_MAX)
}

/// When the service is started again once it ended (`--restart`, with
/// Docker's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Never: the service's end is hupwatch's (the container convention).
    No,
    /// When it exited non-zero (after `-e`), could not start or get
    /// ready, or was killed by a signal hupwatch did not send it.
    OnFailure,
    /// Whatever its status.
    Always,
}

/// The part of the command line that decides the policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub warmup: Nanos,
    pub ready_timeout: Nanos,
    pub stop_signal: Signal,
    /// `None` waits for a stopped generation forever.
    pub stop_timeout: Option<Nanos>,
    /// (from, to) pairs; `to == 0` drops the signal.
    pub rewrites: Vec<(Signal, Signal)>,
    /// The service's exit codes that hupwatch reports as 0 (`-e`).
    pub success_exits: Vec<u8>,
    /// Deliver signals to the generation's process group, not just its leader.
    pub process_group: bool,
    /// `--notify`: a generation is ready only after it sent READY=1 (then the warmup runs).
    pub notify: bool,
    pub restart: Restart,
    /// `:N`: give up once N restarts in a row failed; 0 never does.
    pub restart_limit: u32,
    /// `--watchdog`: a serving generation must send WATCHDOG=1 this often.
    pub watchdog: Option<Nanos>,
}

/// The step of starting a generation that failed: hupwatch's own (the
/// environment files, the exec-error pipe, fork) or the child's (chdir,
/// exec).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Step {
    Environment,
    Pipe,
    Fork,
    Chdir,
    Exec,
}

/// Why a generation's command did not start.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SpawnFailure {
    pub step: Step,
    pub errno: Errno,
}

impl SpawnFailure {
    /// hupwatch's exit status when the first generation cannot start: 127
    /// when the command was not found, 126 when it cannot be run (the
    /// shell's convention), 1 when the failure is hupwatch's own.
    pub fn exit_code(self) -> u8 {
        match self.step {
            Step::Environment | Step::Pipe | Step::Fork => 1,
            Step::Exec if self.errno == crate::sys::ENOENT => 127,
            Step::Chdir | Step::Exec => 126,
        }
    }
}

/// Where a generation is in its life.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(test, derive(PartialEq))]
enum Phase {
    /// Asked for with `Action::Spawn`; its pid comes with the answer.
    Spawning,
    /// Started, not yet trusted: it must announce readiness (with `--notify`)
    /// and stay alive until `warm_at` (`NEVER` before READY=1), before
    /// `ready_by`.
    Starting { warm_at: Nanos, ready_by: Nanos },
    /// The one generation that is the service: it receives forwarded
    /// signals, and its status becomes hupwatch's.
    Serving,
    /// Replaced, or stopped at shutdown: its exit is awaited.
    Draining,
    /// A failed reload: told to stop, killed if it does not.
    Abandoned,
}

#[derive(Clone, Debug)]
struct Generation {
    number: u32,
    /// 0 while `Spawning`.
    pid: Pid,
    phase: Phase,
    /// It was told to stop: its stop timeout started (once).
    stopped: bool,
    /// When a stopped generation's process group gets SIGKILL (`NEVER`: not).
    kill_at: Nanos,
    /// The signals hupwatch sent it (bit N-1 for signal N): dying of one
    /// of them is no failure.
    sent: u64,
    /// When it was promoted (0 before).
    promoted_at: Nanos,
    /// Its watchdog interval (`--watchdog`, or its own WATCHDOG_USEC=; 0:
    /// none), and its last WATCHDOG=1 (or its promotion): serving, it is
    /// hung unless it pings again by `pinged_at + watchdog`.
    watchdog: Nanos,
    pinged_at: Nanos,
    /// It missed its watchdog: replaced as soon as a replacement is ready.
    hung: bool,
}

/// The bit of `signal` in `Generation::sent`.
fn bit(signal: Signal) -> u64 {
    1 << ((signal - 1) & 63)
}

/// When generation `g` misses its watchdog: only the serving generation
/// has one, from its promotion on, until it is told to stop or found hung.
fn watchdog_due(g: &Generation) -> Nanos {
    let armed = matches!(g.phase, Phase::Serving) && !g.stopped && !g.hung && g.watchdog > 0;
    if armed { g.pinged_at.saturating_add(g.watchdog) } else { NEVER }
}

/// Why a reload was given up.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Failure {
    Exited(Status),
    NotReady,
    SpawnFailed(SpawnFailure),
}

/// Something worth a log line or a notification upward. The event loop
/// renders these; the machine only decides them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Report {
    Started {
        number: u32,
        pid: Pid,
    },
    ReloadStarted {
        number: u32,
    },
    ReloadQueued,
    ReloadRefused,
    /// A generation passed its warmup. `replaced` is the one told to stop.
    Promoted {
        number: u32,
        pid: Pid,
        replaced: Option<(u32, Pid)>,
        stop_signal: Signal,
    },
    Abandoned {
        number: u32,
        pid: Option<Pid>,
        why: Failure,
        serving: Option<(u32, Pid)>,
    },
    Drained {
        number: u32,
        pid: Pid,
        status: Status,
    },
    ServingExited {
        number: u32,
        pid: Pid,
        status: Status,
    },
    Killing {
        number: u32,
        pid: Pid,
    },
    Forwarded {
        signal: Signal,
        number: u32,
        pid: Pid,
    },
    Dropped {
        signal: Signal,
    },
    ShuttingDown {
        signal: Signal,
    },
    OrphanReaped {
        pid: Pid,
        status: Status,
    },
    StoppingOrphans {
        signal: Signal,
    },
    Exiting {
        code: u8,
    },
    /// The service failed, or ended under `--restart always` (`code`: the
    /// status of that attempt): restart number `attempt` in `delay`.
    Restarting {
        attempt: u32,
        delay: Nanos,
        code: u8,
    },
    /// `:N`: that many restarts in a row failed; hupwatch ends.
    GaveUp {
        restarts: u32,
    },
    /// The serving generation missed its watchdog, or said it is hung.
    Hung {
        number: u32,
        pid: Pid,
    },
}

/// What the event loop must do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Action {
    /// Start generation `number`; answer with `Spawned` or `SpawnFailed`.
    Spawn {
        number: u32,
    },
    /// Send `signal` to `pid`, or to its process group when `group`.
    Signal {
        pid: Pid,
        signal: Signal,
        group: bool,
    },
    /// SIGKILL the process group led by `pid`.
    Kill {
        pid: Pid,
    },
    /// Send `signal` (and SIGCONT, unless it is SIGKILL) to the processes
    /// left at the end: as PID 1 every other process of the namespace, else
    /// hupwatch's remaining children (adopted orphans) not yet sent it;
    /// then reap, which answers `NoChildren` once none is left.
    SignalOrphans {
        signal: Signal,
    },
    /// Give the controlling terminal's foreground (if hupwatch had it) to
    /// the process group led by `pid`, then SIGCONT that group.
    Foreground {
        pid: Pid,
    },
    /// Generation `number` is gone: free what the loop keeps for it.
    Retire {
        number: u32,
    },
    Report(Report),
    Exit {
        code: u8,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Event {
    /// The reload signal, or a watched path that changed.
    Reload,
    /// Any other signal hupwatch received (never SIGCHLD or the reload signal).
    Signal(Signal),
    /// The kernel's SIGHUP: hupwatch's terminal hung up. Not a reload.
    HangUp,
    /// The answer to `Action::Spawn`.
    Spawned {
        pid: Pid,
    },
    SpawnFailed(SpawnFailure),
    Exited {
        pid: Pid,
        status: Status,
    },
    /// A generation's process sent READY=1.
    Ready {
        pid: Pid,
    },
    /// EXTEND_TIMEOUT_USEC=: a starting generation needs `by` more to get ready.
    ExtendTimeout {
        pid: Pid,
        by: Nanos,
    },
    /// WATCHDOG=1.
    WatchdogPing {
        pid: Pid,
    },
    /// WATCHDOG_USEC=: the generation's own watchdog interval (0: none).
    WatchdogInterval {
        pid: Pid,
        interval: Nanos,
    },
    /// WATCHDOG=trigger: the generation says it is hung.
    WatchdogTrigger {
        pid: Pid,
    },
    /// waitpid found no children at all.
    NoChildren,
    /// `next_deadline` has passed.
    Deadline,
}

/// Where hupwatch as a whole is.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(test, derive(PartialEq))]
enum Mode {
    /// A generation is on its way up and none serves: the first one, or a
    /// reload whose serving generation ended meanwhile. `queued`: a reload
    /// was asked for meanwhile and runs once this one is ready.
    Starting {
        queued: bool,
    },
    /// One generation serves; no reload in flight.
    Serving,
    /// A new generation is on its way up beside the serving one.
    Reloading {
        queued: bool,
    },
    /// The service failed: the next attempt starts at `until`
    /// (`--restart`). Only a hung generation may still serve meanwhile.
    Backoff {
        until: Nanos,
    },
    /// A shutdown signal arrived: every generation was sent `signal`.
    ShuttingDown {
        signal: Signal,
    },
    /// The service ended; waiting for the last generations to go.
    Finishing,
    /// The processes left were told to stop with `signal`; exit when none
    /// is left. At the deadline PID 1 exits (the kernel kills the rest),
    /// anyone else SIGKILLs them and looks again every `ORPHAN_KILL_REPEAT`.
    StoppingOrphans {
        deadline: Option<Nanos>,
        signal: Signal,
    },
    Exited,
}

pub struct Supervisor {
    policy: Policy,
    /// hupwatch is PID 1: adopted orphans get the stop signal before it exits.
    is_init: bool,
    mode: Mode,
    generations: Vec<Generation>,
    next_number: u32,
    /// The status hupwatch exits with once it finishes.
    exit_code: Option<u8>,
    /// Restarts in a row since a generation last served for
    /// `RESTART_RESET_AFTER`.
    restarts: u32,
}

impl Supervisor {
    pub fn new(policy: Policy, is_init: bool) -> Self {
        let mode = Mode::Starting { queued: false };
        Supervisor { policy, is_init, mode, generations: Vec::new(), next_number: 1, exit_code: None, restarts: 0 }
    }

    /// Begins: asks for the first generation.
    pub fn start(&mut self, out: &mut Vec<Action>) {
        self.spawn_next(out);
    }

    pub fn handle(&mut self, now: Nanos, event: Event, out: &mut Vec<Action>) {
        use Event as E;
        use Mode as M;
        match (self.mode, event) {
            (M::Exited, _) => {}
            (M::Serving, E::Reload) => self.begin_reload(out),
            (M::Backoff { .. }, E::Reload) => self.restart(true, out),
            (M::Starting { .. } | M::Reloading { .. }, E::Reload) => self.queue_reload(out),
            (_, E::Reload) => self.refuse_reload(out),
            (_, E::Signal(sig)) if self.rewrite(sig) == 0 => self.drop_signal(sig, out),
            (M::Starting { .. } | M::Serving | M::Reloading { .. } | M::Backoff { .. }, E::Signal(sig))
                if signals::is_shutdown(sig) =>
            {
                self.shut_down(now, sig, out)
            }
            (_, E::Signal(sig)) if signals::is_shutdown(sig) => self.forward_to_all(now, sig, out),
            (_, E::Signal(sig)) => self.forward(sig, out),
            (_, E::HangUp) => self.hang_up(out),
            (_, E::Spawned { pid }) => self.started(now, pid, out),
            (_, E::SpawnFailed(why)) => self.failed_to_spawn(now, why, out),
            (_, E::Ready { pid }) => self.ready(now, pid),
            (_, E::ExtendTimeout { pid, by }) => self.extend(now, pid, by),
            (_, E::WatchdogPing { pid }) => self.pinged(now, pid),
            (_, E::WatchdogInterval { pid, interval }) => self.set_watchdog(pid, interval),
            (_, E::WatchdogTrigger { pid }) => self.triggered(now, pid, out),
            (M::StoppingOrphans { signal, .. }, E::Exited { pid, status }) => {
                self.orphan_reaped(pid, status, signal, out)
            }
            (_, E::Exited { pid, status }) => self.exited(now, pid, status, out),
            (M::StoppingOrphans { deadline, .. }, E::Deadline) if deadline.is_some_and(|t| t <= now) => {
                self.kill_orphans(now, out)
            }
            (M::StoppingOrphans { .. }, E::NoChildren) => self.exit(out),
            (_, E::Deadline) => self.deadlines(now, out),
            (_, E::NoChildren) => {}
        }
        self.finish_if_done(now, out);
    }

    /// The earliest time at which an `Event::Deadline` has something to do.
    pub fn next_deadline(&self) -> Option<Nanos> {
        let mut next = match self.mode {
            Mode::StoppingOrphans { deadline, .. } => deadline.unwrap_or(NEVER),
            Mode::Backoff { until } => until,
            _ => NEVER,
        };
        for g in &self.generations {
            if let Phase::Starting { warm_at, ready_by } = g.phase {
                next = next.min(warm_at).min(ready_by);
            }
            next = next.min(g.kill_at).min(watchdog_due(g));
        }
        (next < NEVER).then_some(next)
    }

    /// The pids of live generations (for `-k` at an abnormal exit).
    pub fn live_pids(&self) -> impl Iterator<Item = Pid> + '_ {
        self.generations.iter().map(|g| g.pid).filter(|&pid| pid > 0)
    }

    // ------------------------------------------------------------ transitions

    /// Asks for the next generation.
    fn spawn_next(&mut self, out: &mut Vec<Action>) {
        let number = self.next_number;
        self.next_number += 1;
        self.generations.push(Generation {
            number,
            pid: 0,
            phase: Phase::Spawning,
            stopped: false,
            kill_at: NEVER,
            sent: 0,
            promoted_at: 0,
            watchdog: self.policy.watchdog.unwrap_or(0),
            pinged_at: 0,
            hung: false,
        });
        out.push(Action::Spawn { number });
    }

    fn begin_reload(&mut self, out: &mut Vec<Action>) {
        self.mode = Mode::Reloading { queued: false };
        out.push(Action::Report(Report::ReloadStarted { number: self.next_number }));
        self.spawn_next(out);
    }

    /// Any number of reload requests during a reload become one more.
    fn queue_reload(&mut self, out: &mut Vec<Action>) {
        if let Mode::Starting { queued } | Mode::Reloading { queued } = &mut self.mode {
            if !*queued {
                out.push(Action::Report(Report::ReloadQueued));
            }
            *queued = true;
        }
    }

    fn refuse_reload(&mut self, out: &mut Vec<Action>) {
        out.push(Action::Report(Report::ReloadRefused));
    }

    /// The reload in flight ended, promoted or abandoned, with a healthy
    /// generation serving: run the queued one, if any.
    fn settle(&mut self, out: &mut Vec<Action>) {
        let queued = matches!(self.mode, Mode::Starting { queued: true } | Mode::Reloading { queued: true });
        self.mode = Mode::Serving;
        if queued {
            self.begin_reload(out);
        }
    }

    /// The service has ended: no reload runs any more.
    fn finishing(&mut self) {
        if matches!(self.mode, Mode::Starting { .. } | Mode::Serving | Mode::Reloading { .. } | Mode::Backoff { .. }) {
            self.mode = Mode::Finishing;
        }
    }

    fn started(&mut self, now: Nanos, pid: Pid, out: &mut Vec<Action>) {
        let Some(i) = self.generations.iter().position(|g| matches!(g.phase, Phase::Spawning)) else { return };
        let warm_at = if self.policy.notify { NEVER } else { now.saturating_add(self.policy.warmup) };
        let g = &mut self.generations[i];
        g.pid = pid;
        g.phase = Phase::Starting { warm_at, ready_by: now.saturating_add(self.policy.ready_timeout) };
        out.push(Action::Report(Report::Started { number: g.number, pid }));
        if let Mode::ShuttingDown { signal } = self.mode {
            // It started after the shutdown began: it goes too, as the
            // service if no other generation is.
            let phase = if self.serving_index().is_some() { Phase::Draining } else { Phase::Serving };
            self.stop(now, i, signal, phase, out);
        }
    }

    fn failed_to_spawn(&mut self, now: Nanos, why: SpawnFailure, out: &mut Vec<Action>) {
        let Some(i) = self.generations.iter().position(|g| matches!(g.phase, Phase::Spawning)) else { return };
        let number = self.generations.remove(i).number;
        out.push(Action::Retire { number });
        if let Mode::Reloading { .. } = self.mode {
            let serving = self.serving();
            out.push(Action::Report(Report::Abandoned { number, pid: None, why: Failure::SpawnFailed(why), serving }));
        }
        // With nothing serving, the event loop already said why.
        self.not_ready(now, why.exit_code(), out);
    }

    /// A generation failed before it was ready (`code`: its status, or
    /// hupwatch's 1, 126, 127). Beside a healthy serving generation that is
    /// a failed reload, and the serving one stays; with none serving, or a
    /// hung one, it is a failed attempt of the service.
    fn not_ready(&mut self, now: Nanos, code: u8, out: &mut Vec<Action>) {
        match self.serving_index() {
            Some(i) if !self.generations[i].hung => {
                if let Mode::Reloading { .. } = self.mode {
                    self.settle(out);
                }
            }
            Some(_) => self.retry(now, code, true, out),
            None => {
                self.exit_code.get_or_insert(code);
                self.retry(now, code, true, out);
            }
        }
    }

    /// The service failed (`failed`, by the restart policy's measure), or
    /// ended: under `--restart` the next attempt starts after the backoff.
    /// Otherwise, or once `:N` restarts in a row failed, hupwatch finishes,
    /// and a hung generation still serving is stopped anyway.
    fn retry(&mut self, now: Nanos, code: u8, failed: bool, out: &mut Vec<Action>) {
        if !matches!(self.mode, Mode::Starting { .. } | Mode::Serving | Mode::Reloading { .. }) {
            // Ending already: nothing starts again.
            return self.finishing();
        }
        let wanted = match self.policy.restart {
            Restart::No => false,
            Restart::OnFailure => failed,
            Restart::Always => true,
        };
        if wanted && self.policy.restart_limit != 0 && self.restarts >= self.policy.restart_limit {
            out.push(Action::Report(Report::GaveUp { restarts: self.restarts }));
        } else if wanted {
            self.restarts += 1;
            let delay = restart_delay(self.restarts);
            let queued = matches!(self.mode, Mode::Starting { queued: true } | Mode::Reloading { queued: true });
            self.mode = Mode::Backoff { until: now.saturating_add(delay) };
            out.push(Action::Report(Report::Restarting { attempt: self.restarts, delay, code }));
            if queued {
                // A reload asked for meanwhile starts the next attempt now,
                // as one during the backoff would.
                self.restart(true, out);
            }
            return;
        }
        self.finishing();
        if let Some(i) = self.serving_index() {
            // Hung, and no replacement will come.
            self.stop(now, i, signals::SIGABRT, Phase::Serving, out);
        }
    }

    /// The backoff is over, or a reload cut it short: the next attempt
    /// starts, beside the hung generation if one still serves. With none
    /// serving, the status hupwatch would exit with becomes the new
    /// attempt's.
    fn restart(&mut self, by_reload: bool, out: &mut Vec<Action>) {
        if self.serving_index().is_some() {
            self.mode = Mode::Reloading { queued: false };
        } else {
            self.mode = Mode::Starting { queued: false };
            self.exit_code = None;
        }
        if by_reload {
            out.push(Action::Report(Report::ReloadStarted { number: self.next_number }));
        }
        self.spawn_next(out);
    }

    /// The generation whose leader is `pid` (a notify message's sender).
    #[inline(never)]
    fn by_pid(&mut self, pid: Pid) -> Option<&mut Generation> {
        self.generations.iter_mut().find(|g| g.pid == pid && pid > 0)
    }

    fn ready(&mut self, now: Nanos, pid: Pid) {
        let warmup = self.policy.warmup;
        if let Some(g) = self.by_pid(pid) {
            if let Phase::Starting { warm_at: NEVER, ready_by } = g.phase {
                g.phase = Phase::Starting { warm_at: now.saturating_add(warmup), ready_by };
            }
        }
    }

    /// EXTEND_TIMEOUT_USEC=, as systemd reads it: a starting generation is
    /// given until `now + by` to get ready, never less than it had.
    fn extend(&mut self, now: Nanos, pid: Pid, by: Nanos) {
        if let Some(g) = self.by_pid(pid) {
            if let Phase::Starting { warm_at, ready_by } = g.phase {
                g.phase = Phase::Starting { warm_at, ready_by: ready_by.max(now.saturating_add(by)) };
            }
        }
    }

    fn pinged(&mut self, now: Nanos, pid: Pid) {
        if let Some(g) = self.by_pid(pid) {
            g.pinged_at = now;
        }
    }

    /// WATCHDOG_USEC=, as systemd reads it: the generation's interval from
    /// its last ping on; 0 turns its watchdog off.
    fn set_watchdog(&mut self, pid: Pid, interval: Nanos) {
        if let Some(g) = self.by_pid(pid) {
            g.watchdog = interval;
        }
    }

    /// WATCHDOG=trigger: a miss at once, for a generation whose watchdog runs.
    fn triggered(&mut self, now: Nanos, pid: Pid, out: &mut Vec<Action>) {
        if let Some(i) = self.generations.iter().position(|g| g.pid == pid && watchdog_due(g) < NEVER) {
            self.hung(now, i, out)
        }
    }

    /// Acts on every deadline that has passed by `now`, a backoff's end too.
    fn deadlines(&mut self, now: Nanos, out: &mut Vec<Action>) {
        for i in 0..self.generations.len() {
            if let Phase::Starting { warm_at, ready_by } = self.generations[i].phase {
                if warm_at <= now {
                    self.promote(now, i, out);
                } else if ready_by <= now {
                    self.abandon(now, i, Failure::NotReady, out);
                }
            }
        }
        for i in 0..self.generations.len() {
            if watchdog_due(&self.generations[i]) <= now {
                self.hung(now, i, out);
            }
            if self.generations[i].kill_at <= now {
                self.kill(i, out);
            }
        }
        if let Mode::Backoff { until } = self.mode {
            if until <= now {
                self.restart(false, out);
            }
        }
    }

    /// Generation `i` passed its warmup: it serves, and the one it replaces
    /// is told to stop (with SIGABRT when it is hung, as systemd's watchdog
    /// does, so that it can leave a core).
    fn promote(&mut self, now: Nanos, i: usize, out: &mut Vec<Action>) {
        let replaced = self.serving_index();
        let g = &mut self.generations[i];
        g.phase = Phase::Serving;
        (g.promoted_at, g.pinged_at) = (now, now);
        let (number, pid) = (g.number, g.pid);
        let replaced_id = replaced.map(|r| (self.generations[r].number, self.generations[r].pid));
        let stop_signal = match replaced {
            Some(r) if self.generations[r].hung => signals::SIGABRT,
            _ => self.policy.stop_signal,
        };
        out.push(Action::Report(Report::Promoted { number, pid, replaced: replaced_id, stop_signal }));
        if let Some(r) = replaced {
            self.stop(now, r, stop_signal, Phase::Draining, out);
        }
        // The first generation took the terminal itself, before its exec.
        if number > 1 {
            out.push(Action::Foreground { pid });
        }
        self.settle(out);
    }

    /// Generation `i` did not become ready in time: it is stopped (and
    /// killed if it must be) and the serving one stays.
    fn abandon(&mut self, now: Nanos, i: usize, why: Failure, out: &mut Vec<Action>) {
        let (number, pid) = (self.generations[i].number, self.generations[i].pid);
        let serving = self.serving();
        out.push(Action::Report(Report::Abandoned { number, pid: Some(pid), why, serving }));
        self.stop(now, i, self.policy.stop_signal, Phase::Abandoned, out);
        let limit = self.policy.stop_timeout.unwrap_or(ABANDON_KILL_AFTER);
        self.generations[i].kill_at = now.saturating_add(limit);
        self.not_ready(now, 1, out);
    }

    /// The serving generation `i` missed its watchdog, or said it is hung:
    /// a replacement starts as at a reload (unless one is on its way), and
    /// `promote` stops it once the replacement is ready.
    fn hung(&mut self, now: Nanos, i: usize, out: &mut Vec<Action>) {
        let g = &mut self.generations[i];
        g.hung = true;
        out.push(Action::Report(Report::Hung { number: g.number, pid: g.pid }));
        if now.saturating_sub(g.promoted_at) >= RESTART_RESET_AFTER {
            self.restarts = 0;
        }
        if let Mode::Serving = self.mode {
            self.begin_reload(out);
        }
    }

    /// Sends `signal` to generation `i`, which moves to `phase`, and starts
    /// its stop timeout (for a hung one, 10 s when unlimited: it may never
    /// stop by itself). SIGCONT follows, as systemd does: a stopped
    /// generation (SIGSTOP, a debugger, a frozen cgroup) would never see
    /// its stop signal otherwise.
    fn stop(&mut self, now: Nanos, i: usize, signal: Signal, phase: Phase, out: &mut Vec<Action>) {
        let (group, stop_timeout) = (self.policy.process_group, self.policy.stop_timeout);
        let g = &mut self.generations[i];
        g.phase = phase;
        if !g.stopped {
            g.stopped = true;
            let limit = if g.hung { Some(stop_timeout.unwrap_or(ABANDON_KILL_AFTER)) } else { stop_timeout };
            g.kill_at = limit.map_or(NEVER, |t| now.saturating_add(t));
        }
        g.sent |= bit(signal);
        out.push(Action::Signal { pid: g.pid, signal, group });
        if signal != signals::SIGKILL && signal != signals::SIGCONT {
            out.push(Action::Signal { pid: g.pid, signal: signals::SIGCONT, group });
        }
    }

    fn kill(&mut self, i: usize, out: &mut Vec<Action>) {
        let g = &mut self.generations[i];
        g.kill_at = NEVER;
        g.sent |= bit(signals::SIGKILL);
        out.push(Action::Report(Report::Killing { number: g.number, pid: g.pid }));
        out.push(Action::Kill { pid: g.pid });
    }

    /// A process ended: a generation, by its phase, or an adopted orphan.
    fn exited(&mut self, now: Nanos, pid: Pid, status: Status, out: &mut Vec<Action>) {
        let Some(i) = self.generations.iter().position(|g| g.pid == pid && !matches!(g.phase, Phase::Spawning)) else {
            // An adopted orphan (or a generation's stray child): nothing
            // changes. The common case when reaping thousands as PID 1.
            out.push(Action::Report(Report::OrphanReaped { pid, status }));
            return;
        };
        let g = self.generations.remove(i);
        out.push(Action::Retire { number: g.number });
        match g.phase {
            Phase::Starting { .. } if matches!(self.mode, Mode::Reloading { .. }) => {
                self.failed_to_start(now, g, status, out)
            }
            Phase::Starting { .. } | Phase::Serving => self.service_ended(now, g, status, out),
            Phase::Draining | Phase::Abandoned | Phase::Spawning => {
                out.push(Action::Report(Report::Drained { number: g.number, pid, status }));
            }
        }
    }

    /// A new generation exited before it was ready: the reload is abandoned
    /// and the serving generation stays (unless it is hung).
    fn failed_to_start(&mut self, now: Nanos, g: Generation, status: Status, out: &mut Vec<Action>) {
        let serving = self.serving();
        let why = Failure::Exited(status);
        out.push(Action::Report(Report::Abandoned { number: g.number, pid: Some(g.pid), why, serving }));
        self.not_ready(now, status.exit_code(), out);
    }

    /// The generation that is the service ended: its status is hupwatch's.
    /// A reload in flight takes over once it is ready, and so does a
    /// restart already on its way; otherwise `retry` decides.
    fn service_ended(&mut self, now: Nanos, g: Generation, status: Status, out: &mut Vec<Action>) {
        out.push(Action::Report(Report::ServingExited { number: g.number, pid: g.pid, status }));
        let code = status.exit_code();
        let code = if self.policy.success_exits.contains(&code) { 0 } else { code };
        self.exit_code = Some(code);
        if matches!(g.phase, Phase::Serving) && now.saturating_sub(g.promoted_at) >= RESTART_RESET_AFTER {
            self.restarts = 0;
        }
        let ours = matches!(status, Status::Killed(signal) if g.sent & bit(signal) != 0);
        match self.mode {
            Mode::Reloading { queued } => self.mode = Mode::Starting { queued },
            Mode::Backoff { .. } => {}
            _ => self.retry(now, code, code != 0 && !ours, out),
        }
    }

    fn drop_signal(&mut self, received: Signal, out: &mut Vec<Action>) {
        out.push(Action::Report(Report::Dropped { signal: received }));
    }

    /// TERM, INT or QUIT: every generation gets it (after rewriting) and
    /// hupwatch ends once they are gone. Queued reloads and restarts are
    /// cancelled.
    fn shut_down(&mut self, now: Nanos, received: Signal, out: &mut Vec<Action>) {
        let signal = self.rewrite(received);
        out.push(Action::Report(Report::ShuttingDown { signal: received }));
        // The generation that is the service keeps that role, so that its
        // status becomes hupwatch's: the serving one, or, before any was
        // promoted, the newest starting one (TERM during the first warmup).
        let service = self.serving_index().or_else(|| self.newest_starting());
        self.mode = Mode::ShuttingDown { signal };
        for i in 0..self.generations.len() {
            let phase = match self.generations[i].phase {
                // Stopped once its pid is known (`started`).
                Phase::Spawning => continue,
                _ if Some(i) == service => Phase::Serving,
                Phase::Starting { .. } => Phase::Draining,
                other => other,
            };
            self.stop(now, i, signal, phase, out);
        }
    }

    /// A shutdown signal while already ending: passed on to every generation.
    fn forward_to_all(&mut self, now: Nanos, received: Signal, out: &mut Vec<Action>) {
        let signal = self.rewrite(received);
        for i in 0..self.generations.len() {
            let phase = self.generations[i].phase;
            if !matches!(phase, Phase::Spawning) {
                self.stop(now, i, signal, phase, out);
            }
        }
    }

    /// Any other signal goes to the serving generation, or before any was
    /// promoted to the newest starting one.
    fn forward(&mut self, received: Signal, out: &mut Vec<Action>) {
        let signal = self.rewrite(received);
        self.send(received, signal, self.policy.process_group, out);
    }

    /// The terminal hung up: its HUP goes where the terminal's own would
    /// reach, the whole process group of the generation that serves.
    fn hang_up(&mut self, out: &mut Vec<Action>) {
        self.send(signals::SIGHUP, signals::SIGHUP, true, out);
    }

    /// Sends `signal` (`received`, rewritten) to the serving generation, or
    /// the newest starting one, or drops it when there is none.
    fn send(&mut self, received: Signal, signal: Signal, group: bool, out: &mut Vec<Action>) {
        match self.serving_index().or_else(|| self.newest_starting()) {
            Some(i) => {
                let g = &mut self.generations[i];
                g.sent |= bit(signal);
                let (number, pid) = (g.number, g.pid);
                out.push(Action::Report(Report::Forwarded { signal, number, pid }));
                out.push(Action::Signal { pid, signal, group });
            }
            None => out.push(Action::Report(Report::Dropped { signal: received })),
        }
    }

    fn rewrite(&self, sig: Signal) -> Signal {
        self.policy.rewrites.iter().rev().find(|(from, _)| *from == sig).map_or(sig, |&(_, to)| to)
    }

    /// Once the service has ended and no generation is left, the processes
    /// left behind (a daemonized server, as PID 1 anything) get the stop
    /// signal; hupwatch exits once none is left (`NoChildren`).
    fn finish_if_done(&mut self, now: Nanos, out: &mut Vec<Action>) {
        let ending = matches!(self.mode, Mode::ShuttingDown { .. } | Mode::Finishing);
        if !ending || !self.generations.is_empty() {
            return;
        }
        let signal = self.policy.stop_signal;
        // PID 1 keeps its limit (none: wait); a subreaper never waits forever.
        let limit = match self.policy.stop_timeout {
            None if !self.is_init => Some(ABANDON_KILL_AFTER),
            limit => limit,
        };
        self.mode = Mode::StoppingOrphans { deadline: limit.map(|t| now.saturating_add(t)), signal };
        if self.is_init {
            out.push(Action::Report(Report::StoppingOrphans { signal }));
        }
        out.push(Action::SignalOrphans { signal });
    }

    /// An adopted process ended while the rest are being stopped: its own
    /// children are hupwatch's now, and get the signal too.
    fn orphan_reaped(&mut self, pid: Pid, status: Status, signal: Signal, out: &mut Vec<Action>) {
        out.push(Action::Report(Report::OrphanReaped { pid, status }));
        if !self.is_init {
            out.push(Action::SignalOrphans { signal });
        }
    }

    /// The stop timeout of the processes left has passed: PID 1 exits (the
    /// kernel kills the rest of the namespace); a subreaper SIGKILLs them
    /// and looks again now and then until none is left.
    fn kill_orphans(&mut self, now: Nanos, out: &mut Vec<Action>) {
        if self.is_init {
            return self.exit(out);
        }
        let deadline = Some(now.saturating_add(ORPHAN_KILL_REPEAT));
        self.mode = Mode::StoppingOrphans { deadline, signal: signals::SIGKILL };
        out.push(Action::SignalOrphans { signal: signals::SIGKILL });
    }

    fn exit(&mut self, out: &mut Vec<Action>) {
        let code = self.exit_code.unwrap_or(0);
        self.mode = Mode::Exited;
        out.push(Action::Report(Report::Exiting { code }));
        out.push(Action::Exit { code });
    }

    fn serving_index(&self) -> Option<usize> {
        self.generations.iter().position(|g| matches!(g.phase, Phase::Serving))
    }

    fn serving(&self) -> Option<(u32, Pid)> {
        self.serving_index().map(|i| (self.generations[i].number, self.generations[i].pid))
    }

    fn newest_starting(&self) -> Option<usize> {
        self.generations.iter().rposition(|g| matches!(g.phase, Phase::Starting { .. }))
    }
}

#[cfg(test)]
mod explore;

#[cfg(test)]
mod tests {
    //! Event scripts, one or more per row of the table in the module doc;
    //! each test is named after its row (mode or phase, then event).
    use super::*;

    const MS: Nanos = 1_000_000;
    const TERM: Signal = 15;
    const USR1: Signal = 10;

    fn policy() -> Policy {
        Policy {
            warmup: 100 * MS,
            ready_timeout: 1000 * MS,
            stop_signal: TERM,
            stop_timeout: None,
            rewrites: Vec::new(),
            success_exits: Vec::new(),
            process_group: false,
            notify: false,
            restart: Restart::No,
            restart_limit: 0,
            watchdog: None,
        }
    }

    fn notify() -> Policy {
        Policy { notify: true, ..policy() }
    }

    /// Drives a supervisor as the event loop does: after every event, and
    /// at every `at`, a passed deadline is delivered as `Event::Deadline`.
    /// Reports are kept apart from the other actions, which most
    /// assertions are about; a `Spawn` is remembered until `spawned`
    /// answers it.
    struct Script {
        s: Supervisor,
        now: Nanos,
        reports: Vec<Report>,
        /// The generations given the terminal, kept apart like the reports.
        foreground: Vec<Pid>,
        /// The generation whose `Spawn` awaits its answer.
        spawn: Option<u32>,
    }

    impl Script {
        fn new(policy: Policy) -> Script {
            Script::with(policy, false)
        }

        fn with(policy: Policy, is_init: bool) -> Script {
            let s = Supervisor::new(policy, is_init);
            let mut t = Script { s, now: 0, reports: vec![], foreground: vec![], spawn: None };
            let mut out = vec![];
            t.s.start(&mut out);
            assert_eq!(t.take(out), vec![Action::Spawn { number: 1 }]);
            t
        }

        /// Keeps the reports and the pending spawn; returns the other actions.
        fn take(&mut self, out: Vec<Action>) -> Vec<Action> {
            let mut actions = vec![];
            for a in out {
                match a {
                    Action::Report(r) => self.reports.push(r),
                    Action::Foreground { pid } => self.foreground.push(pid),
                    Action::Retire { .. } => {}
                    a => {
                        if let Action::Spawn { number } = a {
                            assert_eq!(self.spawn, None, "a second Spawn before the first was answered");
                            self.spawn = Some(number);
                        }
                        actions.push(a);
                    }
                }
            }
            actions
        }

        fn event(&mut self, e: Event) -> Vec<Action> {
            let mut out = vec![];
            self.s.handle(self.now, e, &mut out);
            if self.s.next_deadline().is_some_and(|t| t <= self.now) {
                self.s.handle(self.now, Event::Deadline, &mut out);
            }
            self.take(out)
        }

        /// Time passes to `ms`; a deadline due by then is delivered.
        fn at(&mut self, ms: u64) -> Vec<Action> {
            self.now = ms * MS;
            let mut out = vec![];
            if self.s.next_deadline().is_some_and(|t| t <= self.now) {
                self.s.handle(self.now, Event::Deadline, &mut out);
            }
            self.take(out)
        }

        /// Answers the pending `Spawn` with `pid`.
        fn spawned(&mut self, pid: Pid) -> Vec<Action> {
            assert!(self.spawn.take().is_some(), "no Spawn to answer");
            self.event(Event::Spawned { pid })
        }

        fn spawn_failed(&mut self, step: Step, errno: i32) -> Vec<Action> {
            assert!(self.spawn.take().is_some(), "no Spawn to answer");
            self.event(Event::SpawnFailed(SpawnFailure { step, errno: Errno(errno) }))
        }

        fn exited(&mut self, pid: Pid, code: u8) -> Vec<Action> {
            self.event(Event::Exited { pid, status: Status::Exited(code) })
        }

        /// Generation 1 spawned as `pid` and promoted at 100 ms.
        fn serving(&mut self, pid: Pid) {
            self.spawned(pid);
            assert_eq!(self.at(100), vec![]);
            assert_eq!(self.s.mode, Mode::Serving);
        }

        /// A reload asked for and its generation spawned as `pid`.
        fn reload(&mut self, pid: Pid) -> Vec<Action> {
            let mut actions = self.event(Event::Reload);
            assert_eq!(actions.pop(), Some(Action::Spawn { number: self.s.next_number - 1 }));
            actions.extend(self.spawned(pid));
            actions
        }

        /// The service ended: the processes left get the stop signal, and
        /// once none is left (`NoChildren`), hupwatch exits with `code`.
        fn exits_with(&mut self, actions: Vec<Action>, code: u8) {
            let signal = self.s.policy.stop_signal;
            assert_eq!(actions, vec![Action::SignalOrphans { signal }]);
            assert_eq!(self.event(Event::NoChildren), vec![Action::Exit { code }]);
        }

        fn reported(&self, r: Report) -> bool {
            self.reports.contains(&r)
        }
    }

    /// `signal`, then SIGCONT in case the generation is stopped.
    fn stop_with(pid: Pid, signal: Signal) -> Vec<Action> {
        vec![Action::Signal { pid, signal, group: false }, Action::Signal { pid, signal: 18, group: false }]
    }

    fn stop(pid: Pid) -> Vec<Action> {
        stop_with(pid, TERM)
    }

    // ---------------------------------------------------------------- Reload

    #[test]
    fn serving_reload_spawns_the_next_generation_which_replaces_it_after_warmup() {
        let mut t = Script::new(policy());
        t.serving(10);
        assert_eq!(t.event(Event::Reload), vec![Action::Spawn { number: 2 }]);
        assert_eq!(t.spawned(20), vec![]);
        assert_eq!(t.at(150), vec![], "still warming up");
        assert_eq!(t.s.next_deadline(), Some(200 * MS));
        assert_eq!(t.at(200), stop(10));
        assert!(t.reported(Report::Promoted { number: 2, pid: 20, replaced: Some((1, 10)), stop_signal: TERM }));
        assert_eq!(t.exited(10, 0), vec![]);
        assert!(t.reported(Report::Drained { number: 1, pid: 10, status: Status::Exited(0) }));
        assert_eq!(t.s.next_deadline(), None, "nothing to wake up for at rest");
        let actions = t.exited(20, 4);
        t.exits_with(actions, 4);
    }

    #[test]
    fn serving_reload_promoted_generation_gets_the_terminal() {
        let mut t = Script::new(policy());
        t.serving(10);
        t.reload(20);
        t.at(200);
        assert_eq!(t.foreground, vec![20], "generation 1 took it itself before its exec");
    }

    #[test]
    fn serving_exited_with_a_success_code_exits_0() {
        let mut t = Script::new(Policy { success_exits: vec![143], ..policy() });
        t.serving(10);
        let actions = t.event(Event::Exited { pid: 10, status: Status::Killed(TERM) });
        t.exits_with(actions, 0);
    }

    #[test]
    fn serving_reload_with_zero_warmup_promotes_at_once() {
        let mut t = Script::new(Policy { warmup: 0, ..policy() });
        t.spawned(10);
        assert_eq!(t.reload(20), stop(10));
    }

    #[test]
    fn reloading_reload_is_queued_and_many_become_one() {
        let mut t = Script::new(policy());
        t.serving(10);
        t.reload(20);
        for _ in 0..500 {
            assert_eq!(t.event(Event::Reload), vec![]);
        }
        assert_eq!(t.reports.iter().filter(|r| **r == Report::ReloadQueued).count(), 1);
        // Promoting generation 2 starts exactly one more reload.
        assert_eq!(t.at(200), [stop(10), vec![Action::Spawn { number: 3 }]].concat());
        t.spawned(30);
        assert_eq!(t.at(300), stop(20));
        assert_eq!(t.at(10_000), vec![], "no further reload");
    }

    #[test]
    fn starting_reload_is_queued_until_the_first_generation_is_ready() {
        let mut t = Script::new(policy());
        t.spawned(10);
        assert_eq!(t.event(Event::Reload), vec![]);
        assert_eq!(t.at(100), vec![Action::Spawn { number: 2 }]);
    }

    #[test]
    fn ending_reload_is_refused() {
        let mut t = Script::new(policy());
        t.serving(10);
        t.event(Event::Signal(TERM));
        assert_eq!(t.event(Event::Reload), vec![]);
        assert!(t.reported(Report::ReloadRefused));
    }

    // ---------------------------------------------------------------- Signal

    #[test]
    fn any_signal_rewritten_to_zero_is_dropped() {
        let mut t = Script::new(Policy { rewrites: vec![(28, 0), (TERM, 0)], ..policy() });
        t.serving(10);
        assert_eq!(t.event(Event::Signal(28)), vec![]);
        assert_eq!(t.event(Event::Signal(TERM)), vec![], "a dropped TERM does not shut down either");
        assert!(t.reported(Report::Dropped { signal: 28 }));
        assert_eq!(t.s.mode, Mode::Serving);
    }

    #[test]
    fn running_shutdown_signal_stops_every_generation_and_cancels_queued_reloads() {
        let mut t = Script::new(Policy { stop_timeout: Some(500 * MS), ..policy() });
        t.serving(10);
        t.reload(20);
        t.event(Event::Reload);
        assert_eq!(t.event(Event::Signal(TERM)), [stop(10), stop(20)].concat());
        assert_eq!(t.event(Event::Reload), vec![]);
        assert_eq!(t.at(5000), vec![Action::Kill { pid: 10 }, Action::Kill { pid: 20 }]);
        assert_eq!(t.event(Event::Exited { pid: 20, status: Status::Killed(9) }), vec![]);
        let actions = t.event(Event::Exited { pid: 10, status: Status::Killed(TERM) });
        t.exits_with(actions, 143);
    }

    #[test]
    fn starting_shutdown_signal_keeps_the_first_generations_status() {
        let mut t = Script::new(policy());
        t.spawned(10);
        assert_eq!(t.event(Event::Signal(TERM)), stop(10));
        assert_eq!(t.at(5000), vec![], "no promotion while shutting down");
        let actions = t.exited(10, 7);
        t.exits_with(actions, 7);
    }

    #[test]
    fn running_shutdown_signal_rewritten_still_shuts_down() {
        let mut t = Script::new(Policy { rewrites: vec![(TERM, 3)], ..policy() });
        t.serving(10);
        assert_eq!(t.event(Event::Signal(TERM)), stop_with(10, 3));
        let actions = t.exited(10, 0);
        t.exits_with(actions, 0);
    }

    #[test]
    fn ending_shutdown_signal_is_forwarded_to_every_generation_left() {
        let mut t = Script::new(Policy { warmup: 0, ..policy() });
        t.spawned(10);
        t.reload(20);
        assert_eq!(t.exited(20, 3), vec![], "generation 1 still draining");
        assert_eq!(t.event(Event::Signal(2)), stop_with(10, 2));
        let actions = t.exited(10, 0);
        t.exits_with(actions, 3);
    }

    #[test]
    fn any_other_signal_goes_to_the_serving_generation_or_the_newest_starting() {
        let mut t = Script::new(Policy { rewrites: vec![(USR1, 12)], process_group: true, ..policy() });
        t.spawned(10);
        assert_eq!(t.event(Event::Signal(28)), vec![Action::Signal { pid: 10, signal: 28, group: true }]);
        t.at(100);
        t.reload(20);
        assert_eq!(t.event(Event::Signal(USR1)), vec![Action::Signal { pid: 10, signal: 12, group: true }]);
        assert!(t.reported(Report::Forwarded { signal: 12, number: 1, pid: 10 }));
    }

    #[test]
    fn any_hang_up_goes_to_the_serving_generations_group() {
        let mut t = Script::new(policy());
        t.serving(10);
        assert_eq!(t.event(Event::HangUp), vec![Action::Signal { pid: 10, signal: 1, group: true }]);
        assert_eq!(t.s.mode, Mode::Serving, "no reload");
    }

    #[test]
    fn any_other_signal_with_no_generation_is_dropped() {
        let mut t = Script::new(policy());
        assert_eq!(t.event(Event::Signal(USR1)), vec![], "generation 1 has no pid yet");
        assert!(t.reported(Report::Dropped { signal: USR1 }));
    }

    // ---------------------------------------------------------------- Spawned, SpawnFailed

    #[test]
    fn shutting_down_spawned_is_stopped_at_once() {
        let mut t = Script::new(policy());
        t.serving(10);
        assert_eq!(t.event(Event::Reload), vec![Action::Spawn { number: 2 }]);
        assert_eq!(t.event(Event::Signal(2)), stop_with(10, 2));
        assert_eq!(t.spawned(20), stop_with(20, 2));
        assert_eq!(t.exited(10, 0), vec![]);
        let actions = t.exited(20, 0);
        t.exits_with(actions, 0);
    }

    #[test]
    fn reloading_spawn_failed_abandons_and_keeps_the_old_generation() {
        let mut t = Script::new(policy());
        t.serving(10);
        t.event(Event::Reload);
        assert_eq!(t.spawn_failed(Step::Exec, libc::ENOENT), vec![]);
        assert!(t.reports.iter().any(|r| matches!(r, Report::Abandoned { number: 2, pid: None, .. })));
        assert_eq!(t.s.mode, Mode::Serving);
        let actions = t.exited(10, 7);
        t.exits_with(actions, 7);
    }

    #[test]
    fn starting_spawn_failed_exits_127_or_126() {
        for (step, errno, code) in
            [(Step::Exec, libc::ENOENT, 127), (Step::Exec, libc::EACCES, 126), (Step::Chdir, libc::ENOENT, 126)]
                .into_iter()
                .chain([
                    (Step::Environment, libc::ENOENT, 1),
                    (Step::Pipe, libc::EMFILE, 1),
                    (Step::Fork, libc::EAGAIN, 1),
                ])
        {
            let mut t = Script::new(policy());
            let actions = t.spawn_failed(step, errno);
            t.exits_with(actions, code);
        }
    }

    #[test]
    fn shutting_down_spawn_failed_exits_once_the_rest_is_gone() {
        let mut t = Script::new(policy());
        t.serving(10);
        t.event(Event::Reload);
        t.event(Event::Signal(TERM));
        assert_eq!(t.spawn_failed(Step::Fork, libc::EAGAIN), vec![]);
        let actions = t.exited(10, 0);
        t.exits_with(actions, 0);
    }

    // ---------------------------------------------------------------- Ready

    #[test]
    fn starting_ready_then_warmup_gates_promotion() {
        let mut t = Script::new(notify());
        t.spawned(10);
        assert_eq!(t.at(500), vec![], "no READY yet, no promotion");
        t.event(Event::Ready { pid: 10 });
        assert_eq!(t.s.next_deadline(), Some(600 * MS));
        t.at(600);
        assert!(t.reported(Report::Promoted { number: 1, pid: 10, replaced: None, stop_signal: TERM }));
    }

    #[test]
    fn any_ready_from_a_stranger_or_twice_changes_nothing() {
        let mut t = Script::new(notify());
        t.spawned(10);
        t.event(Event::Ready { pid: 77 });
        assert_eq!(t.s.next_deadline(), Some(1000 * MS), "only the ready timeout");
        t.event(Event::Ready { pid: 10 });
        t.at(50);
        t.event(Event::Ready { pid: 10 });
        assert_eq!(t.s.next_deadline(), Some(100 * MS), "the warmup started at the first READY");
    }

    // ---------------------------------------------------------------- Exited

    #[test]
    fn starting_exited_during_a_reload_is_rolled_back() {
        let mut t = Script::new(policy());
        t.serving(10);
        t.reload(20);
        assert_eq!(t.event(Event::Exited { pid: 20, status: Status::Killed(9) }), vec![]);
        let why = Failure::Exited(Status::Killed(9));
        assert!(t.reported(Report::Abandoned { number: 2, pid: Some(20), why, serving: Some((1, 10)) }));
        assert_eq!(t.at(1000), vec![], "old generation untouched");
        assert_eq!(t.event(Event::Signal(USR1)), vec![Action::Signal { pid: 10, signal: USR1, group: false }]);
        let actions = t.exited(10, 0);
        t.exits_with(actions, 0);
    }

    #[test]
    fn starting_exited_as_the_first_generation_ends_the_service_with_its_status() {
        let mut t = Script::new(policy());
        t.spawned(10);
        let actions = t.exited(10, 3);
        t.exits_with(actions, 3);
    }

    #[test]
    fn serving_exited_waits_for_draining_generations() {
        let mut t = Script::new(Policy { warmup: 0, ..policy() });
        t.spawned(10);
        t.reload(20);
        assert_eq!(t.exited(20, 3), vec![], "generation 1 still draining");
        assert_eq!(t.event(Event::Reload), vec![], "no reload once the service ended");
        let actions = t.exited(10, 0);
        t.exits_with(actions, 3);
    }

    #[test]
    fn serving_exited_during_a_reload_hands_over_to_the_new_generation() {
        let mut t = Script::new(policy());
        t.serving(10);
        t.reload(20);
        assert_eq!(t.exited(10, 1), vec![]);
        assert_eq!(t.s.mode, Mode::Starting { queued: false });
        assert_eq!(t.at(200), vec![], "promoted with no one to stop");
        assert!(t.reported(Report::Promoted { number: 2, pid: 20, replaced: None, stop_signal: TERM }));
        let actions = t.exited(20, 0);
        t.exits_with(actions, 0);
    }

    #[test]
    fn no_generation_exited_is_an_orphan_and_changes_nothing() {
        let mut t = Script::new(policy());
        t.serving(10);
        assert_eq!(t.exited(77, 0), vec![]);
        assert!(t.reported(Report::OrphanReaped { pid: 77, status: Status::Exited(0) }));
        assert_eq!(t.s.mode, Mode::Serving);
    }

    // ---------------------------------------------------------------- Deadline, NoChildren

    #[test]
    fn starting_deadline_late_abandons_then_kills() {
        let mut t = Script::new(notify());
        t.spawned(10);
        t.event(Event::Ready { pid: 10 });
        t.at(100);
        t.reload(20);
        assert_eq!(t.at(1099), vec![]);
        assert_eq!(t.at(1100), stop(20));
        assert_eq!(t.at(1100 + 10_000), vec![Action::Kill { pid: 20 }]);
        assert_eq!(t.exited(20, 0), vec![]);
        assert!(t.reports.iter().any(|r| matches!(r, Report::Abandoned { why: Failure::NotReady, .. })));
    }

    #[test]
    fn starting_deadline_late_for_the_first_generation_fails_the_service() {
        let mut t = Script::new(notify());
        t.spawned(10);
        assert_eq!(t.at(1000), stop(10));
        let actions = t.exited(10, 0);
        t.exits_with(actions, 1);
    }

    #[test]
    fn draining_deadline_kills_at_the_stop_timeout_only() {
        let mut t = Script::new(Policy { stop_timeout: Some(300 * MS), ..policy() });
        t.serving(10);
        t.reload(20);
        assert_eq!(t.at(200), stop(10));
        assert_eq!(t.at(499), vec![]);
        assert_eq!(t.at(500), vec![Action::Kill { pid: 10 }]);
        assert_eq!(t.at(900), vec![], "killed once");
    }

    #[test]
    fn stopping_orphans_no_children_or_deadline_exits() {
        let mut t = Script::with(Policy { stop_timeout: Some(1000 * MS), ..policy() }, true);
        t.serving(10);
        assert_eq!(t.exited(10, 5), vec![Action::SignalOrphans { signal: TERM }]);
        assert_eq!(t.exited(99, 0), vec![]);
        assert_eq!(t.event(Event::NoChildren), vec![Action::Exit { code: 5 }]);
        // Orphans that ignore the stop signal are left to the kernel at the deadline.
        let mut t = Script::with(Policy { stop_timeout: Some(1000 * MS), ..policy() }, true);
        t.serving(10);
        t.exited(10, 5);
        assert_eq!(t.at(1099), vec![]);
        assert_eq!(t.at(1100), vec![Action::Exit { code: 5 }]);
    }

    #[test]
    fn stopping_orphans_exited_orphan_signals_the_newly_adopted_then_kills() {
        let mut t = Script::new(policy());
        t.serving(10);
        assert_eq!(t.exited(10, 5), vec![Action::SignalOrphans { signal: TERM }]);
        // A daemon's child, adopted when the daemon ended, gets TERM too.
        assert_eq!(t.exited(99, 0), vec![Action::SignalOrphans { signal: TERM }]);
        assert_eq!(t.s.next_deadline(), Some(100 * MS + ABANDON_KILL_AFTER), "10 s without --stop-timeout");
        let kill = vec![Action::SignalOrphans { signal: 9 }];
        assert_eq!(t.at(100 + 10_000), kill);
        assert_eq!(t.at(100 + 11_000), kill, "and again, for any adopted since");
        assert_eq!(t.event(Event::NoChildren), vec![Action::Exit { code: 5 }]);
    }

    #[test]
    fn running_no_children_changes_nothing() {
        let mut t = Script::new(policy());
        t.serving(10);
        assert_eq!(t.event(Event::NoChildren), vec![]);
        assert_eq!(t.s.mode, Mode::Serving);
    }

    #[test]
    fn exited_any_event_does_nothing() {
        let mut t = Script::new(policy());
        t.spawned(10);
        let actions = t.exited(10, 0);
        t.exits_with(actions, 0);
        for e in [Event::Reload, Event::Signal(TERM), Event::NoChildren, Event::Deadline] {
            assert_eq!(t.event(e), vec![], "{e:?}");
        }
    }

    // ---------------------------------------------------------------- --restart

    fn restarting(restart: Restart, limit: u32) -> Policy {
        Policy { restart, restart_limit: limit, ..policy() }
    }

    /// Generation `pid` (already asked for) spawned, then exits with `code`
    /// before it is ready.
    fn crashes(t: &mut Script, pid: Pid, code: u8) -> Vec<Action> {
        t.spawned(pid);
        t.exited(pid, code)
    }

    fn restart_report(t: &Script) -> Option<Report> {
        t.reports.iter().rev().find(|r| matches!(r, Report::Restarting { .. })).copied()
    }

    #[test]
    fn backoff_deadline_restarts_with_a_doubling_delay() {
        let mut t = Script::new(restarting(Restart::Always, 0));
        let mut at = 0;
        for (attempt, delay_ms, pid) in [(1, 100, 10), (2, 200, 20), (3, 400, 30), (4, 800, 40)] {
            assert_eq!(crashes(&mut t, pid, 1), vec![], "no exit, no spawn before the backoff");
            let delay = delay_ms * MS;
            assert_eq!(restart_report(&t), Some(Report::Restarting { attempt, delay, code: 1 }));
            assert_eq!(t.s.next_deadline(), Some(at * MS + delay), "a deadline, no busy loop");
            assert_eq!(t.at(at + delay_ms - 1), vec![]);
            at += delay_ms;
            assert_eq!(t.at(at), vec![Action::Spawn { number: pid as u32 / 10 + 1 }]);
        }
        // Up to 30 s: 0.1 s doubled nine times would be 51.2 s.
        assert_eq!((restart_delay(9), restart_delay(10), restart_delay(1000)), (25_600 * MS, 30_000 * MS, 30_000 * MS));
        // A generation that serves 10 s resets the count.
        t.spawned(50);
        t.at(at + 100);
        t.at(at + 100 + 10_000);
        t.exited(50, 1);
        assert_eq!(restart_report(&t), Some(Report::Restarting { attempt: 1, delay: 100 * MS, code: 1 }));
    }

    #[test]
    fn backoff_reload_restarts_at_once() {
        let mut t = Script::new(restarting(Restart::OnFailure, 0));
        t.serving(10);
        t.exited(10, 1);
        assert_eq!(t.at(150), vec![], "backing off until 200 ms");
        assert_eq!(t.event(Event::Reload), vec![Action::Spawn { number: 2 }]);
        assert!(t.reported(Report::ReloadStarted { number: 2 }));
        t.spawned(20);
        assert_eq!(t.at(250), vec![]);
        assert_eq!(t.s.mode, Mode::Serving);
    }

    #[test]
    fn backoff_shutdown_signal_exits_with_the_last_status() {
        let mut t = Script::new(restarting(Restart::OnFailure, 0));
        assert_eq!(crashes(&mut t, 10, 3), vec![]);
        let actions = t.event(Event::Signal(TERM));
        t.exits_with(actions, 3);
        assert_eq!(t.at(10_000), vec![], "no restart after the shutdown");
    }

    #[test]
    fn serving_exited_under_on_failure_restarts_failures_only() {
        // A clean exit (or one -e calls clean) ends hupwatch with it.
        for (success_exits, code, exit) in [(vec![], 0, 0), (vec![3], 3, 0)] {
            let mut t = Script::new(Policy { success_exits, ..restarting(Restart::OnFailure, 0) });
            t.serving(10);
            let actions = t.exited(10, code);
            t.exits_with(actions, exit);
        }
        // Killed by a signal hupwatch passed on: no failure either.
        let mut t = Script::new(restarting(Restart::OnFailure, 0));
        t.serving(10);
        t.event(Event::Signal(USR1));
        let actions = t.event(Event::Exited { pid: 10, status: Status::Killed(USR1) });
        t.exits_with(actions, 128 + USR1 as u8);
        // Killed by one it did not send: a failure.
        let mut t = Script::new(restarting(Restart::OnFailure, 0));
        t.serving(10);
        t.event(Event::Signal(USR1));
        assert_eq!(t.event(Event::Exited { pid: 10, status: Status::Killed(11) }), vec![]);
        assert_eq!(restart_report(&t), Some(Report::Restarting { attempt: 1, delay: 100 * MS, code: 139 }));
        // Under always, even a clean exit.
        let mut t = Script::new(restarting(Restart::Always, 0));
        t.serving(10);
        assert_eq!(t.exited(10, 0), vec![]);
        assert!(matches!(t.s.mode, Mode::Backoff { .. }));
    }

    #[test]
    fn serving_exited_gives_up_after_n_restarts_in_a_row_with_the_last_status() {
        let mut t = Script::new(restarting(Restart::OnFailure, 2));
        t.serving(10);
        assert_eq!(t.exited(10, 4), vec![]);
        t.at(200);
        assert_eq!(crashes(&mut t, 20, 5), vec![]);
        t.at(400);
        let actions = crashes(&mut t, 30, 6);
        assert!(t.reported(Report::GaveUp { restarts: 2 }));
        t.exits_with(actions, 6);
    }

    #[test]
    fn starting_spawn_failed_or_not_ready_is_a_failed_attempt() {
        let mut t = Script::new(Policy { notify: true, ..restarting(Restart::OnFailure, 1) });
        assert_eq!(t.spawn_failed(Step::Exec, libc::ENOENT), vec![]);
        assert_eq!(restart_report(&t), Some(Report::Restarting { attempt: 1, delay: 100 * MS, code: 127 }));
        assert_eq!(t.at(100), vec![Action::Spawn { number: 2 }]);
        t.spawned(20);
        // Never ready: abandoned at its ready timeout, and that was the last attempt.
        assert_eq!(t.at(1100), stop(20));
        assert!(t.reported(Report::GaveUp { restarts: 1 }));
        let actions = t.exited(20, 0);
        t.exits_with(actions, 1);
    }

    #[test]
    fn starting_exited_first_generation_is_retried_and_a_reload_asked_meanwhile_starts_at_once() {
        let mut t = Script::new(restarting(Restart::OnFailure, 0));
        t.spawned(10);
        t.event(Event::Reload);
        assert_eq!(t.exited(10, 1), vec![Action::Spawn { number: 2 }], "the queued reload cuts the backoff");
        assert_eq!(t.s.mode, Mode::Starting { queued: false });
    }

    // ---------------------------------------------------------------- --watchdog, EXTEND_TIMEOUT_USEC

    fn watched() -> Policy {
        Policy { watchdog: Some(300 * MS), ..notify() }
    }

    /// Generation 1 spawned as `pid`, READY=1 at once, promoted at 100 ms.
    fn ready_at_100(t: &mut Script, pid: Pid) {
        t.spawned(pid);
        t.event(Event::Ready { pid });
        assert_eq!(t.at(100), vec![]);
        assert_eq!(t.s.mode, Mode::Serving);
    }

    #[test]
    fn serving_deadline_watchdog_missed_replaces_the_hung_generation() {
        let mut t = Script::new(watched());
        ready_at_100(&mut t, 10);
        assert_eq!(t.s.next_deadline(), Some(400 * MS), "counted from the promotion");
        t.at(350);
        t.event(Event::WatchdogPing { pid: 10 });
        assert_eq!(t.at(649), vec![]);
        assert_eq!(t.at(650), vec![Action::Spawn { number: 2 }]);
        assert!(t.reported(Report::Hung { number: 1, pid: 10 }));
        assert!(t.reported(Report::ReloadStarted { number: 2 }));
        // It keeps serving until its replacement is ready, then gets SIGABRT,
        // and SIGKILL 10 s later (no --stop-timeout).
        t.spawned(20);
        assert_eq!(t.at(1500), vec![], "no watchdog while hung, and no stop yet");
        t.event(Event::Ready { pid: 20 });
        assert_eq!(t.at(1600), stop_with(10, 6));
        assert!(t.reported(Report::Promoted { number: 2, pid: 20, replaced: Some((1, 10)), stop_signal: 6 }));
        assert_eq!(t.s.next_deadline(), Some(1900 * MS), "generation 2's own watchdog");
        for at in (1800..=11_400).step_by(200) {
            t.at(at);
            t.event(Event::WatchdogPing { pid: 20 });
        }
        assert_eq!(t.at(11_599), vec![]);
        assert_eq!(t.at(11_600), vec![Action::Kill { pid: 10 }]);
    }

    #[test]
    fn any_watchdog_trigger_counts_as_a_miss_at_once() {
        let mut t = Script::new(watched());
        t.spawned(10);
        assert_eq!(t.event(Event::WatchdogTrigger { pid: 10 }), vec![], "not serving yet: the ready timeout applies");
        t.event(Event::Ready { pid: 10 });
        t.at(100);
        assert_eq!(t.event(Event::WatchdogTrigger { pid: 10 }), vec![Action::Spawn { number: 2 }]);
        assert_eq!(t.event(Event::WatchdogTrigger { pid: 10 }), vec![], "hung once");
        // Without a watchdog, nothing to miss.
        let mut t = Script::new(notify());
        ready_at_100(&mut t, 10);
        assert_eq!(t.event(Event::WatchdogTrigger { pid: 10 }), vec![]);
    }

    #[test]
    fn any_watchdog_interval_changes_that_generations_watchdog_and_zero_turns_it_off() {
        let mut t = Script::new(watched());
        ready_at_100(&mut t, 10);
        t.at(200);
        t.event(Event::WatchdogPing { pid: 10 });
        t.at(250);
        t.event(Event::WatchdogInterval { pid: 10, interval: 1000 * MS });
        assert_eq!(t.s.next_deadline(), Some(1200 * MS), "from its last ping");
        t.event(Event::WatchdogInterval { pid: 10, interval: 0 });
        assert_eq!(t.s.next_deadline(), None);
        assert_eq!(t.at(100_000), vec![]);
        // Another generation starts with the --watchdog interval again.
        t.event(Event::Reload);
        t.spawned(20);
        t.event(Event::Ready { pid: 20 });
        t.at(100_100);
        assert_eq!(t.s.next_deadline(), Some(100_400 * MS));
    }

    #[test]
    fn reloading_failed_replacement_of_a_hung_generation_backs_off_then_stops_it() {
        let mut t = Script::new(Policy { restart: Restart::OnFailure, restart_limit: 1, ..watched() });
        ready_at_100(&mut t, 10);
        t.at(400);
        assert_eq!(crashes(&mut t, 20, 1), vec![], "the hung one keeps serving during the backoff");
        assert_eq!(restart_report(&t), Some(Report::Restarting { attempt: 1, delay: 100 * MS, code: 1 }));
        assert_eq!(t.at(500), vec![Action::Spawn { number: 3 }]);
        assert_eq!(crashes(&mut t, 30, 1), stop_with(10, 6), "no replacement possible any more");
        assert!(t.reported(Report::GaveUp { restarts: 1 }));
        assert_eq!(t.at(10_500), vec![Action::Kill { pid: 10 }]);
        let actions = t.event(Event::Exited { pid: 10, status: Status::Killed(9) });
        t.exits_with(actions, 137);
        // Without --restart the first failed replacement stops it.
        let mut t = Script::new(watched());
        ready_at_100(&mut t, 10);
        t.at(400);
        assert_eq!(crashes(&mut t, 20, 1), stop_with(10, 6));
        let actions = t.event(Event::Exited { pid: 10, status: Status::Killed(6) });
        t.exits_with(actions, 134);
    }

    #[test]
    fn starting_extend_timeout_moves_the_ready_deadline() {
        let mut t = Script::new(notify());
        t.spawned(10);
        t.at(500);
        t.event(Event::ExtendTimeout { pid: 10, by: 2000 * MS });
        assert_eq!(t.s.next_deadline(), Some(2500 * MS));
        t.event(Event::ExtendTimeout { pid: 10, by: 100 * MS });
        assert_eq!(t.s.next_deadline(), Some(2500 * MS), "never earlier");
        assert_eq!(t.at(2499), vec![]);
        assert_eq!(t.at(2500), stop(10));
    }
}
