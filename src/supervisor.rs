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
//! | Starting, Reloading           | Reload               | `queue_reload`: one more once this one settles |
//! | ShuttingDown, Finishing, ...  | Reload               | `refuse_reload`                                |
//! | any                           | Signal rewritten to 0| `drop_signal`                                  |
//! | Starting, Serving, Reloading  | Signal TERM/INT/QUIT | `shut_down`: stop every generation             |
//! | ShuttingDown, Finishing, ...  | Signal TERM/INT/QUIT | `forward_to_all`                               |
//! | any                           | Signal (other)       | `forward`: to the serving (else newest) one    |
//! | any                           | Spawned              | `started` (stopped at once when shutting down) |
//! | any                           | SpawnFailed          | `failed_to_spawn`                              |
//! | any                           | Ready                | `ready`: a starting generation's warmup begins |
//! | any                           | Exited               | by phase, below                                |
//! | any                           | HangUp               | `hang_up`: HUP to the serving generation group |
//! | StoppingOrphans               | Exited (an orphan)   | `orphan_reaped`, then signal the newly adopted |
//! | StoppingOrphans               | NoChildren           | `exit`                                         |
//! | StoppingOrphans               | Deadline             | PID 1: `exit`; else `kill_orphans`             |
//! | others                        | Deadline             | by phase, below                                |
//! | others                        | NoChildren           | nothing                                        |
//!
//! | phase     | Exited                                        | Deadline                                   |
//! |-----------|-----------------------------------------------|--------------------------------------------|
//! | Starting  | `failed_to_start` (or the service ended)      | warm: `promote`; late: `abandon`           |
//! | Serving   | `service_ended`                               | stop timeout: `kill`                       |
//! | Draining  | `drained`                                     | stop timeout: `kill`                       |
//! | Abandoned | `drained`                                     | stop timeout (10 s when unlimited): `kill` |
//! | (none)    | `orphan_reaped`                               |                                            |
//!
//! After every event, a mode that is ending (ShuttingDown, Finishing) with
//! no generation left stops the processes left behind (as PID 1 every other
//! process; otherwise the ones hupwatch adopted, such as a server that
//! daemonized) and exits once none is left.

use crate::signals::{self, Signal};
use crate::sys::{Errno, Pid, Status};

/// Monotonic time in nanoseconds.
pub type Nanos = u64;

/// How long an abandoned generation, or an adopted process still running
/// when hupwatch ends, may take to stop when `--stop-timeout` is unlimited:
/// neither may be left behind forever.
pub const ABANDON_KILL_AFTER: Nanos = 10_000_000_000;

/// How often adopted processes are looked for again once they were killed,
/// until none is left (one may be adopted without any exit to wake hupwatch).
pub const ORPHAN_KILL_REPEAT: Nanos = 1_000_000_000;

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
}

/// The step of starting a generation that failed: hupwatch's own (the
/// environment files, the exec-error pipe, fork, the notify socket) or the
/// child's (chdir, exec).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Step {
    Environment,
    Pipe,
    Fork,
    NotifySocket,
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
            Step::Environment | Step::Pipe | Step::Fork | Step::NotifySocket => 1,
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
    /// and stay alive until `warm_at`, before `ready_by`.
    Starting { warm_at: Option<Nanos>, ready_by: Nanos },
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
    /// When a stopped generation's process group gets SIGKILL.
    kill_at: Option<Nanos>,
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
}

impl Supervisor {
    pub fn new(policy: Policy, is_init: bool) -> Self {
        let mode = Mode::Starting { queued: false };
        Supervisor { policy, is_init, mode, generations: Vec::new(), next_number: 1, exit_code: None }
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
            (M::Starting { .. } | M::Reloading { .. }, E::Reload) => self.queue_reload(out),
            (_, E::Reload) => self.refuse_reload(out),
            (_, E::Signal(sig)) if self.rewrite(sig) == 0 => self.drop_signal(sig, out),
            (M::Starting { .. } | M::Serving | M::Reloading { .. }, E::Signal(sig)) if signals::is_shutdown(sig) => {
                self.shut_down(now, sig, out)
            }
            (_, E::Signal(sig)) if signals::is_shutdown(sig) => self.forward_to_all(now, sig, out),
            (_, E::Signal(sig)) => self.forward(sig, out),
            (_, E::HangUp) => self.hang_up(out),
            (_, E::Spawned { pid }) => self.started(now, pid, out),
            (_, E::SpawnFailed(why)) => self.failed_to_spawn(why, out),
            (_, E::Ready { pid }) => self.ready(now, pid),
            (M::StoppingOrphans { signal, .. }, E::Exited { pid, status }) => {
                self.orphan_reaped(pid, status, signal, out)
            }
            (_, E::Exited { pid, status }) => self.exited(pid, status, out),
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
        let mut next: Option<Nanos> = None;
        let mut consider = |t: Option<Nanos>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for g in &self.generations {
            if let Phase::Starting { warm_at, ready_by } = g.phase {
                consider(warm_at);
                consider(Some(ready_by));
            }
            consider(g.kill_at);
        }
        if let Mode::StoppingOrphans { deadline, .. } = self.mode {
            consider(deadline);
        }
        next
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
        self.generations.push(Generation { number, pid: 0, phase: Phase::Spawning, stopped: false, kill_at: None });
        if number > 1 {
            out.push(Action::Report(Report::ReloadStarted { number }));
        }
        out.push(Action::Spawn { number });
    }

    fn begin_reload(&mut self, out: &mut Vec<Action>) {
        self.mode = Mode::Reloading { queued: false };
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

    /// The reload in flight ended, promoted or abandoned, with a generation
    /// serving: run the queued one, if any.
    fn settle(&mut self, out: &mut Vec<Action>) {
        let queued = matches!(self.mode, Mode::Starting { queued: true } | Mode::Reloading { queued: true });
        self.mode = Mode::Serving;
        if queued {
            self.begin_reload(out);
        }
    }

    /// The service has ended: no reload runs any more.
    fn finishing(&mut self) {
        if matches!(self.mode, Mode::Starting { .. } | Mode::Serving | Mode::Reloading { .. }) {
            self.mode = Mode::Finishing;
        }
    }

    fn started(&mut self, now: Nanos, pid: Pid, out: &mut Vec<Action>) {
        let Some(i) = self.generations.iter().position(|g| matches!(g.phase, Phase::Spawning)) else { return };
        let warm_at = if self.policy.notify { None } else { Some(now.saturating_add(self.policy.warmup)) };
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

    fn failed_to_spawn(&mut self, why: SpawnFailure, out: &mut Vec<Action>) {
        let Some(i) = self.generations.iter().position(|g| matches!(g.phase, Phase::Spawning)) else { return };
        let number = self.generations.remove(i).number;
        out.push(Action::Retire { number });
        match self.mode {
            Mode::Reloading { .. } => {
                let serving = self.serving();
                out.push(Action::Report(Report::Abandoned {
                    number,
                    pid: None,
                    why: Failure::SpawnFailed(why),
                    serving,
                }));
                self.settle(out);
            }
            _ if self.serving_index().is_none() => {
                // Nothing serves: the service could not start. The event
                // loop already said why.
                self.exit_code.get_or_insert(why.exit_code());
                self.finishing();
            }
            _ => {}
        }
    }

    fn ready(&mut self, now: Nanos, pid: Pid) {
        let warmup = self.policy.warmup;
        if let Some(g) = self.generations.iter_mut().find(|g| g.pid == pid) {
            if let Phase::Starting { warm_at: None, ready_by } = g.phase {
                g.phase = Phase::Starting { warm_at: Some(now.saturating_add(warmup)), ready_by };
            }
        }
    }

    /// Acts on every deadline that has passed by `now`.
    fn deadlines(&mut self, now: Nanos, out: &mut Vec<Action>) {
        for i in 0..self.generations.len() {
            if let Phase::Starting { warm_at, ready_by } = self.generations[i].phase {
                if warm_at.is_some_and(|t| t <= now) {
                    self.promote(now, i, out);
                } else if ready_by <= now {
                    self.abandon(now, i, Failure::NotReady, out);
                }
            }
        }
        for i in 0..self.generations.len() {
            if self.generations[i].kill_at.is_some_and(|t| t <= now) {
                self.kill(i, out);
            }
        }
    }

    /// Generation `i` passed its warmup: it serves, and the one it replaces
    /// is told to stop.
    fn promote(&mut self, now: Nanos, i: usize, out: &mut Vec<Action>) {
        let replaced = self.serving_index();
        self.generations[i].phase = Phase::Serving;
        let (number, pid) = (self.generations[i].number, self.generations[i].pid);
        let replaced_id = replaced.map(|r| (self.generations[r].number, self.generations[r].pid));
        let stop_signal = self.policy.stop_signal;
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
        self.generations[i].kill_at = Some(now.saturating_add(limit));
        if serving.is_some() {
            self.settle(out);
        } else {
            // Nothing to fall back to: the service failed to start.
            self.exit_code.get_or_insert(1);
            self.finishing();
        }
    }

    /// Sends `signal` to generation `i`, which moves to `phase`, and starts
    /// its stop timeout. SIGCONT follows, as systemd does: a stopped
    /// generation (SIGSTOP, a debugger, a frozen cgroup) would never see its
    /// stop signal otherwise.
    fn stop(&mut self, now: Nanos, i: usize, signal: Signal, phase: Phase, out: &mut Vec<Action>) {
        let (group, stop_timeout) = (self.policy.process_group, self.policy.stop_timeout);
        let g = &mut self.generations[i];
        g.phase = phase;
        if !g.stopped {
            g.stopped = true;
            g.kill_at = stop_timeout.map(|t| now.saturating_add(t));
        }
        out.push(Action::Signal { pid: g.pid, signal, group });
        if signal != signals::SIGKILL && signal != signals::SIGCONT {
            out.push(Action::Signal { pid: g.pid, signal: signals::SIGCONT, group });
        }
    }

    fn kill(&mut self, i: usize, out: &mut Vec<Action>) {
        let g = &mut self.generations[i];
        g.kill_at = None;
        out.push(Action::Report(Report::Killing { number: g.number, pid: g.pid }));
        out.push(Action::Kill { pid: g.pid });
    }

    /// A process ended: a generation, by its phase, or an adopted orphan.
    fn exited(&mut self, pid: Pid, status: Status, out: &mut Vec<Action>) {
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
                self.failed_to_start(g, status, out)
            }
            Phase::Starting { .. } | Phase::Serving => self.service_ended(g, status, out),
            Phase::Draining | Phase::Abandoned | Phase::Spawning => {
                out.push(Action::Report(Report::Drained { number: g.number, pid, status }));
            }
        }
    }

    /// A new generation exited before it was ready: the reload is abandoned
    /// and the serving generation stays.
    fn failed_to_start(&mut self, g: Generation, status: Status, out: &mut Vec<Action>) {
        let serving = self.serving();
        let why = Failure::Exited(status);
        out.push(Action::Report(Report::Abandoned { number: g.number, pid: Some(g.pid), why, serving }));
        self.settle(out);
    }

    /// The generation that is the service ended: its status is hupwatch's.
    /// A reload in flight takes over once it is ready; otherwise hupwatch
    /// finishes.
    fn service_ended(&mut self, g: Generation, status: Status, out: &mut Vec<Action>) {
        out.push(Action::Report(Report::ServingExited { number: g.number, pid: g.pid, status }));
        let code = status.exit_code();
        self.exit_code = Some(if self.policy.success_exits.contains(&code) { 0 } else { code });
        match self.mode {
            Mode::Reloading { queued } => self.mode = Mode::Starting { queued },
            _ => self.finishing(),
        }
    }

    fn drop_signal(&mut self, received: Signal, out: &mut Vec<Action>) {
        out.push(Action::Report(Report::Dropped { signal: received }));
    }

    /// TERM, INT or QUIT: every generation gets it (after rewriting) and
    /// hupwatch ends once they are gone. Queued reloads are cancelled.
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
        match self.serving_index().or_else(|| self.newest_starting()).map(|i| &self.generations[i]) {
            Some(g) => {
                let (number, pid) = (g.number, g.pid);
                out.push(Action::Report(Report::Forwarded { signal, number, pid }));
                out.push(Action::Signal { pid, signal, group: self.policy.process_group });
            }
            None => out.push(Action::Report(Report::Dropped { signal: received })),
        }
    }

    /// The terminal hung up: its HUP goes where the terminal's own would
    /// reach, the whole process group of the generation that serves.
    fn hang_up(&mut self, out: &mut Vec<Action>) {
        let signal = signals::SIGHUP;
        match self.serving_index().or_else(|| self.newest_starting()).map(|i| &self.generations[i]) {
            Some(g) => {
                let (number, pid) = (g.number, g.pid);
                out.push(Action::Report(Report::Forwarded { signal, number, pid }));
                out.push(Action::Signal { pid, signal, group: true });
            }
            None => out.push(Action::Report(Report::Dropped { signal })),
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
                    (Step::NotifySocket, libc::ENOBUFS, 1),
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
}
