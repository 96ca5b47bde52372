//! The supervisor: a pure state machine over the generations of the command.
//! It owns the policy (when to promote, roll back, stop, kill and exit) and
//! touches nothing: the event loop feeds it events stamped with the monotonic
//! time and carries out the actions it returns.

use crate::signals::{self, Signal};

/// Monotonic time in nanoseconds.
pub type Nanos = u64;
pub type Pid = i32;

/// How long an abandoned generation, or an adopted process still running
/// when hupwatch ends, may take to stop when `--stop-timeout` is unlimited:
/// neither may be left behind forever.
pub const ABANDON_KILL_AFTER: Nanos = 10_000_000_000;

/// How often adopted processes are looked for again once they were killed,
/// until none is left (one may be adopted without any exit to wake hupwatch).
pub const ORPHAN_KILL_REPEAT: Nanos = 1_000_000_000;

/// How a process ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    Exited(u8),
    Killed(Signal),
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

/// Why starting a generation's command failed before it ran.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SpawnFailure {
    /// The command does not exist (exit code 127 by convention).
    NotFound,
    /// It exists but cannot be run (126).
    NotExecutable,
    /// hupwatch's own failure (pipe, fork, the notify socket): not the
    /// command's, so exit status 1.
    Internal,
}

/// What the policy is told by the command line.
#[derive(Clone, Debug)]
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
    /// A generation is ready only after it sent READY=1 (then the warmup runs).
    pub wait_for_ready: bool,
    /// hupwatch is PID 1: at the end every other process gets the stop
    /// signal; otherwise only the processes it adopted (it is a subreaper).
    pub is_init: bool,
}

/// Where a generation is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Phase {
    /// Started, not yet trusted: it must announce readiness (with
    /// `wait_for_ready`) and stay alive until `warm_at`, before `ready_by`.
    Starting { warm_at: Option<Nanos>, ready_by: Nanos },
    /// The one generation that receives forwarded signals.
    Serving,
    /// Replaced or shutting down: told to stop, exit awaited.
    Draining,
    /// A failed reload: told to stop, its exit is not the service's.
    Abandoned,
}

#[derive(Clone, Debug)]
struct Generation {
    number: u32,
    pid: Pid,
    phase: Phase,
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
}

/// Where hupwatch as a whole is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Running,
    /// A shutdown signal arrived: every generation was told to stop.
    ShuttingDown,
    /// The service ended; waiting for the last generations to go.
    Finishing,
    /// The processes left were told to stop; exit when none is left. At
    /// the deadline PID 1 exits (the kernel kills the rest), anyone else
    /// SIGKILLs them and looks again every `ORPHAN_KILL_REPEAT`.
    StoppingOrphans {
        deadline: Option<Nanos>,
        signal: Signal,
    },
    Exited,
}

pub struct Supervisor {
    policy: Policy,
    generations: Vec<Generation>,
    next_number: u32,
    /// The generation whose `Spawn` awaits its answer.
    spawning: Option<u32>,
    /// A reload asked for while another was in flight.
    reload_queued: bool,
    mode: Mode,
    /// The status hupwatch exits with once it finishes.
    exit_code: Option<u8>,
}

impl Supervisor {
    pub fn new(policy: Policy) -> Self {
        Supervisor {
            policy,
            generations: Vec::new(),
            next_number: 1,
            spawning: None,
            reload_queued: false,
            mode: Mode::Running,
            exit_code: None,
        }
    }

    /// Begins: asks for the first generation.
    pub fn start(&mut self, out: &mut Vec<Action>) {
        self.spawn(out);
    }

    pub fn handle(&mut self, now: Nanos, event: Event, out: &mut Vec<Action>) {
        if self.mode == Mode::Exited {
            return;
        }
        if let Event::Exited { pid, status } = event {
            if !self.generations.iter().any(|g| g.pid == pid) {
                // An adopted orphan (or a generation's stray child): nothing
                // changes. The common case when reaping thousands as PID 1.
                out.push(Action::Report(Report::OrphanReaped { pid, status }));
                if let (Mode::StoppingOrphans { signal, .. }, false) = (self.mode, self.policy.is_init) {
                    // Its own children are hupwatch's now: they get it too.
                    out.push(Action::SignalOrphans { signal });
                }
                return;
            }
        }
        match event {
            Event::Reload => self.reload(out),
            Event::Signal(sig) => self.signal(now, sig, out),
            Event::HangUp => self.hang_up(out),
            Event::Spawned { pid } => self.spawned(now, pid, out),
            Event::SpawnFailed(why) => self.spawn_failed(why, out),
            Event::Exited { pid, status } => self.exited(now, pid, status, out),
            Event::Ready { pid } => self.ready(now, pid),
            Event::NoChildren => {
                if let Mode::StoppingOrphans { .. } = self.mode {
                    self.exit(out);
                }
            }
        }
        self.tick(now, out);
    }

    /// Acts on every deadline that has passed by `now`.
    pub fn tick(&mut self, now: Nanos, out: &mut Vec<Action>) {
        for i in 0..self.generations.len() {
            let g = &self.generations[i];
            if let Phase::Starting { warm_at, ready_by } = g.phase {
                if self.mode != Mode::Running {
                    continue;
                }
                if warm_at.is_some_and(|t| t <= now) {
                    self.promote(now, i, out);
                } else if ready_by <= now {
                    self.abandon(now, i, Failure::NotReady, out);
                }
            }
        }
        for g in &mut self.generations {
            if g.kill_at.is_some_and(|t| t <= now) {
                g.kill_at = None;
                out.push(Action::Report(Report::Killing { number: g.number, pid: g.pid }));
                out.push(Action::Kill { pid: g.pid });
            }
        }
        if let Mode::StoppingOrphans { deadline: Some(t), .. } = self.mode {
            if t <= now {
                if self.policy.is_init {
                    self.exit(out);
                } else {
                    let deadline = Some(now.saturating_add(ORPHAN_KILL_REPEAT));
                    self.mode = Mode::StoppingOrphans { deadline, signal: signals::SIGKILL };
                    out.push(Action::SignalOrphans { signal: signals::SIGKILL });
                }
            }
        }
        self.finish_if_done(now, out);
    }

    /// The earliest time at which `tick` has something to do.
    pub fn next_deadline(&self) -> Option<Nanos> {
        let mut next: Option<Nanos> = None;
        let mut consider = |t: Option<Nanos>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for g in &self.generations {
            if let (Phase::Starting { warm_at, ready_by }, Mode::Running) = (g.phase, self.mode) {
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
        self.generations.iter().map(|g| g.pid)
    }

    // ------------------------------------------------------------ transitions

    fn spawn(&mut self, out: &mut Vec<Action>) {
        let number = self.next_number;
        self.next_number += 1;
        self.spawning = Some(number);
        if number > 1 {
            out.push(Action::Report(Report::ReloadStarted { number }));
        }
        out.push(Action::Spawn { number });
    }

    fn reload(&mut self, out: &mut Vec<Action>) {
        if self.mode != Mode::Running {
            out.push(Action::Report(Report::ReloadRefused));
        } else if self.reload_in_flight() {
            if !self.reload_queued {
                out.push(Action::Report(Report::ReloadQueued));
            }
            self.reload_queued = true;
        } else {
            self.spawn(out);
        }
    }

    fn reload_in_flight(&self) -> bool {
        self.spawning.is_some() || self.generations.iter().any(|g| matches!(g.phase, Phase::Starting { .. }))
    }

    /// A reload ended (promoted or abandoned): run the one that was queued.
    fn reload_settled(&mut self, out: &mut Vec<Action>) {
        if self.reload_queued && self.mode == Mode::Running && !self.reload_in_flight() {
            self.reload_queued = false;
            self.spawn(out);
        }
    }

    fn spawned(&mut self, now: Nanos, pid: Pid, out: &mut Vec<Action>) {
        let Some(number) = self.spawning.take() else {
            return;
        };
        let warm_at = if self.policy.wait_for_ready { None } else { Some(now.saturating_add(self.policy.warmup)) };
        let phase = Phase::Starting { warm_at, ready_by: now.saturating_add(self.policy.ready_timeout) };
        self.generations.push(Generation { number, pid, phase, kill_at: None });
        out.push(Action::Report(Report::Started { number, pid }));
    }

    fn spawn_failed(&mut self, why: SpawnFailure, out: &mut Vec<Action>) {
        let Some(number) = self.spawning.take() else {
            return;
        };
        let serving = self.serving().map(|g| (g.number, g.pid));
        if serving.is_some() {
            let why = Failure::SpawnFailed(why);
            out.push(Action::Report(Report::Abandoned { number, pid: None, why, serving }));
        } else {
            // The first generation: the event loop already said why.
            let code = match why {
                SpawnFailure::NotFound => 127,
                SpawnFailure::NotExecutable => 126,
                SpawnFailure::Internal => 1,
            };
            self.exit_code.get_or_insert(code);
            self.mode_finishing();
        }
        self.reload_settled(out);
    }

    fn ready(&mut self, now: Nanos, pid: Pid) {
        let Some(i) = self.generations.iter().position(|g| g.pid == pid) else {
            return;
        };
        if let Phase::Starting { warm_at: None, ready_by } = self.generations[i].phase {
            let warm_at = Some(now.saturating_add(self.policy.warmup));
            self.generations[i].phase = Phase::Starting { warm_at, ready_by };
        }
    }

    fn promote(&mut self, now: Nanos, i: usize, out: &mut Vec<Action>) {
        let replaced = self.serving_index();
        self.generations[i].phase = Phase::Serving;
        let (number, pid) = (self.generations[i].number, self.generations[i].pid);
        let replaced_id = replaced.map(|r| (self.generations[r].number, self.generations[r].pid));
        let stop_signal = self.policy.stop_signal;
        out.push(Action::Report(Report::Promoted { number, pid, replaced: replaced_id, stop_signal }));
        if let Some(r) = replaced {
            self.stop(now, r, self.policy.stop_signal, Phase::Draining, out);
        }
        // The first generation took the terminal itself, before its exec.
        if number > 1 {
            out.push(Action::Foreground { pid });
        }
        self.reload_settled(out);
    }

    fn abandon(&mut self, now: Nanos, i: usize, why: Failure, out: &mut Vec<Action>) {
        let (number, pid) = (self.generations[i].number, self.generations[i].pid);
        let serving = self.serving().map(|g| (g.number, g.pid));
        out.push(Action::Report(Report::Abandoned { number, pid: Some(pid), why, serving }));
        if serving.is_none() {
            // Nothing to fall back to: the service failed to start.
            self.exit_code.get_or_insert(1);
            self.mode_finishing();
        }
        self.stop(now, i, self.policy.stop_signal, Phase::Abandoned, out);
        let limit = self.policy.stop_timeout.unwrap_or(ABANDON_KILL_AFTER);
        self.generations[i].kill_at = Some(now.saturating_add(limit));
        self.reload_settled(out);
    }

    /// Sends `signal` to generation `i` and starts its stop timeout. SIGCONT
    /// follows, as systemd does: a stopped generation (SIGSTOP, a debugger, a
    /// frozen cgroup) would never see its stop signal otherwise.
    fn stop(&mut self, now: Nanos, i: usize, signal: Signal, phase: Phase, out: &mut Vec<Action>) {
        let group = self.policy.process_group;
        let stop_timeout = self.policy.stop_timeout;
        let g = &mut self.generations[i];
        g.phase = phase;
        if g.kill_at.is_none() {
            g.kill_at = stop_timeout.map(|t| now.saturating_add(t));
        }
        out.push(Action::Signal { pid: g.pid, signal, group });
        if signal != signals::SIGKILL && signal != signals::SIGCONT {
            out.push(Action::Signal { pid: g.pid, signal: signals::SIGCONT, group });
        }
    }

    fn exited(&mut self, now: Nanos, pid: Pid, status: Status, out: &mut Vec<Action>) {
        let Some(i) = self.generations.iter().position(|g| g.pid == pid) else { return };
        let g = self.generations.remove(i);
        let (number, pid) = (g.number, g.pid);
        match g.phase {
            Phase::Starting { .. } if self.mode == Mode::Running && self.serving().is_some() => {
                let serving = self.serving().map(|s| (s.number, s.pid));
                let why = Failure::Exited(status);
                out.push(Action::Report(Report::Abandoned { number, pid: Some(pid), why, serving }));
                self.reload_settled(out);
            }
            Phase::Starting { .. } | Phase::Serving => {
                out.push(Action::Report(Report::ServingExited { number, pid, status }));
                let code = status.exit_code();
                self.exit_code = Some(if self.policy.success_exits.contains(&code) { 0 } else { code });
                // A reload in flight takes over when it is ready; otherwise the
                // service has ended.
                if self.mode != Mode::Running || !self.reload_in_flight() {
                    self.mode_finishing();
                }
            }
            Phase::Draining | Phase::Abandoned => {
                out.push(Action::Report(Report::Drained { number, pid, status }));
            }
        }
        self.finish_if_done(now, out);
    }

    fn signal(&mut self, now: Nanos, received: Signal, out: &mut Vec<Action>) {
        let signal = self.rewrite(received);
        if signal == 0 {
            out.push(Action::Report(Report::Dropped { signal: received }));
            return;
        }
        if signals::is_shutdown(received) {
            if self.mode == Mode::Running {
                self.mode = Mode::ShuttingDown;
                self.reload_queued = false;
                out.push(Action::Report(Report::ShuttingDown { signal: received }));
            }
            // The generation that is the service keeps that role, so that its
            // status becomes hupwatch's: the serving one, or, before any was
            // promoted, the newest starting one (TERM during the first warmup).
            let service = self.serving_index().or_else(|| self.newest_starting());
            for i in 0..self.generations.len() {
                let phase = match self.generations[i].phase {
                    _ if Some(i) == service => Phase::Serving,
                    Phase::Starting { .. } => Phase::Draining,
                    other => other,
                };
                self.stop(now, i, signal, phase, out);
            }
            self.finish_if_done(now, out);
            return;
        }
        let target = self.serving_index().or_else(|| self.newest_starting()).map(|i| &self.generations[i]);
        match target {
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
        let target = self.serving_index().or_else(|| self.newest_starting()).map(|i| &self.generations[i]);
        let signal = signals::SIGHUP;
        match target {
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

    fn mode_finishing(&mut self) {
        if self.mode == Mode::Running {
            self.mode = Mode::Finishing;
            self.reload_queued = false;
        }
    }

    /// Once the service has ended and no generation is left, the processes
    /// left behind (a daemonized server, as PID 1 anything) get the stop
    /// signal; hupwatch exits once none is left.
    fn finish_if_done(&mut self, now: Nanos, out: &mut Vec<Action>) {
        let ending = matches!(self.mode, Mode::ShuttingDown | Mode::Finishing);
        if !ending || !self.generations.is_empty() || self.spawning.is_some() {
            return;
        }
        let signal = self.policy.stop_signal;
        // PID 1 keeps its limit (none: wait); a subreaper never waits forever.
        let limit = match self.policy.stop_timeout {
            None if !self.policy.is_init => Some(ABANDON_KILL_AFTER),
            limit => limit,
        };
        self.mode = Mode::StoppingOrphans { deadline: limit.map(|t| now.saturating_add(t)), signal };
        if self.policy.is_init {
            out.push(Action::Report(Report::StoppingOrphans { signal }));
        }
        out.push(Action::SignalOrphans { signal });
    }

    fn exit(&mut self, out: &mut Vec<Action>) {
        let code = self.exit_code.unwrap_or(0);
        self.mode = Mode::Exited;
        out.push(Action::Report(Report::Exiting { code }));
        out.push(Action::Exit { code });
    }

    fn serving_index(&self) -> Option<usize> {
        self.generations.iter().position(|g| g.phase == Phase::Serving)
    }

    fn newest_starting(&self) -> Option<usize> {
        self.generations.iter().rposition(|g| matches!(g.phase, Phase::Starting { .. }))
    }

    fn serving(&self) -> Option<&Generation> {
        self.serving_index().map(|i| &self.generations[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Nanos = 1_000_000;
    const TERM: Signal = 15;

    fn policy() -> Policy {
        Policy {
            warmup: 100 * MS,
            ready_timeout: 1000 * MS,
            stop_signal: TERM,
            stop_timeout: None,
            rewrites: Vec::new(),
            success_exits: Vec::new(),
            process_group: false,
            wait_for_ready: false,
            is_init: false,
        }
    }

    /// Drives a supervisor through a script and keeps the actions apart from
    /// the reports, which most assertions do not care about.
    struct Script {
        s: Supervisor,
        now: Nanos,
        actions: Vec<Action>,
        reports: Vec<Report>,
        /// The generations given the terminal, kept apart like the reports.
        foreground: Vec<Pid>,
    }

    impl Script {
        fn new(policy: Policy) -> Script {
            let mut t =
                Script { s: Supervisor::new(policy), now: 0, actions: vec![], reports: vec![], foreground: vec![] };
            let mut out = vec![];
            t.s.start(&mut out);
            t.take(out);
            t
        }
        fn take(&mut self, out: Vec<Action>) {
            for a in out {
                match a {
                    Action::Report(r) => self.reports.push(r),
                    Action::Foreground { pid } => self.foreground.push(pid),
                    a => self.actions.push(a),
                }
            }
        }
        fn event(&mut self, e: Event) -> Vec<Action> {
            let mut out = vec![];
            self.s.handle(self.now, e, &mut out);
            self.take(out);
            std::mem::take(&mut self.actions)
        }
        fn at(&mut self, ms: u64) -> Vec<Action> {
            self.now = ms * MS;
            let mut out = vec![];
            self.s.tick(self.now, &mut out);
            self.take(out);
            std::mem::take(&mut self.actions)
        }
        fn spawned(&mut self, pid: Pid) -> Vec<Action> {
            self.expect_spawn();
            self.event(Event::Spawned { pid })
        }
        fn expect_spawn(&mut self) {
            let spawns = self.actions.iter().filter(|a| matches!(a, Action::Spawn { .. })).count();
            assert_eq!(spawns, 1, "expected one Spawn in {:?}", self.actions);
            self.actions.retain(|a| !matches!(a, Action::Spawn { .. }));
        }
        fn exited(&mut self, pid: Pid, code: u8) -> Vec<Action> {
            self.event(Event::Exited { pid, status: Status::Exited(code) })
        }
        /// The end of a service that is not PID 1: what is left gets the
        /// stop signal, and the exit follows once no child is left.
        fn finish(&mut self, actions: Vec<Action>) -> Vec<Action> {
            assert_eq!(actions, vec![Action::SignalOrphans { signal: TERM }]);
            self.event(Event::NoChildren)
        }
        fn serving(&mut self, first: Pid) {
            self.spawned(first);
            assert_eq!(self.at(100), vec![]);
        }
    }

    fn term(pid: Pid) -> Action {
        Action::Signal { pid, signal: TERM, group: false }
    }

    /// The stop signal, then SIGCONT in case the generation is stopped.
    fn stop(pid: Pid) -> Vec<Action> {
        vec![term(pid), Action::Signal { pid, signal: signals::SIGCONT, group: false }]
    }

    #[test]
    fn reload_promotes_after_warmup_then_stops_the_old() {
        let mut t = Script::new(policy());
        t.serving(10);
        assert_eq!(t.event(Event::Reload), vec![Action::Spawn { number: 2 }]);
        t.actions.push(Action::Spawn { number: 2 });
        assert_eq!(t.spawned(20), vec![]);
        assert_eq!(t.at(150), vec![], "still warming up");
        assert_eq!(t.s.next_deadline(), Some(200 * MS));
        assert_eq!(t.at(200), stop(10));
        assert!(t.reports.contains(&Report::Promoted {
            number: 2,
            pid: 20,
            replaced: Some((1, 10)),
            stop_signal: TERM
        }));
        assert_eq!(t.exited(10, 0), vec![]);
        assert!(t.reports.contains(&Report::Drained { number: 1, pid: 10, status: Status::Exited(0) }));
        assert_eq!(t.s.next_deadline(), None, "nothing to wake up for at rest");
        // The service now ends with generation 2's status.
        let actions = t.exited(20, 4);
        assert_eq!(t.finish(actions), vec![Action::Exit { code: 4 }]);
    }

    #[test]
    fn zero_warmup_promotes_at_once() {
        let mut t = Script::new(Policy { warmup: 0, ..policy() });
        t.spawned(10);
        t.event(Event::Reload);
        t.actions.push(Action::Spawn { number: 2 });
        assert_eq!(t.spawned(20), stop(10));
    }

    #[test]
    fn new_generation_dying_in_warmup_is_rolled_back() {
        let mut t = Script::new(policy());
        t.serving(10);
        t.event(Event::Reload);
        t.actions.push(Action::Spawn { number: 2 });
        t.spawned(20);
        assert_eq!(t.event(Event::Exited { pid: 20, status: Status::Killed(9) }), vec![]);
        assert!(t.reports.iter().any(|r| matches!(
            r,
            Report::Abandoned { number: 2, why: Failure::Exited(Status::Killed(9)), serving: Some((1, 10)), .. }
        )));
        assert_eq!(t.at(1000), vec![], "old generation untouched");
        // It still serves: its signals go to it, and its exit ends hupwatch.
        assert_eq!(t.event(Event::Signal(10)), vec![Action::Signal { pid: 10, signal: 10, group: false }]);
        let actions = t.exited(10, 0);
        assert_eq!(t.finish(actions), vec![Action::Exit { code: 0 }]);
    }

    #[test]
    fn not_ready_in_time_is_stopped_then_killed() {
        let mut t = Script::new(Policy { wait_for_ready: true, ..policy() });
        t.spawned(10);
        t.event(Event::Ready { pid: 10 });
        t.at(100);
        t.event(Event::Reload);
        t.actions.push(Action::Spawn { number: 2 });
        t.spawned(20);
        assert_eq!(t.at(1099), vec![]);
        assert_eq!(t.at(1100), stop(20));
        assert_eq!(t.at(1100 + 10_000), vec![Action::Kill { pid: 20 }]);
        assert_eq!(t.exited(20, 0), vec![]);
        assert!(t.reports.iter().any(|r| matches!(r, Report::Abandoned { why: Failure::NotReady, .. })));
    }

    #[test]
    fn readiness_then_warmup_gates_promotion() {
        let mut t = Script::new(Policy { wait_for_ready: true, ..policy() });
        t.spawned(10);
        assert_eq!(t.at(500), vec![], "no READY yet, no promotion");
        t.event(Event::Ready { pid: 10 });
        assert_eq!(t.s.next_deadline(), Some(600 * MS));
        t.at(600);
        assert!(t.reports.contains(&Report::Promoted { number: 1, pid: 10, replaced: None, stop_signal: TERM }));
    }

    #[test]
    fn reloads_during_a_reload_coalesce_into_one() {
        let mut t = Script::new(policy());
        t.serving(10);
        t.event(Event::Reload);
        t.actions.push(Action::Spawn { number: 2 });
        t.spawned(20);
        for _ in 0..500 {
            assert_eq!(t.event(Event::Reload), vec![]);
        }
        // Promoting generation 2 starts exactly one more reload.
        assert_eq!(t.at(200), [stop(10), vec![Action::Spawn { number: 3 }]].concat());
        t.actions.push(Action::Spawn { number: 3 });
        t.spawned(30);
        assert_eq!(t.at(300), stop(20));
        assert_eq!(t.at(10_000), vec![], "no further reload");
    }

    #[test]
    fn failed_spawn_on_reload_keeps_the_old_generation() {
        let mut t = Script::new(policy());
        t.serving(10);
        t.event(Event::Reload);
        assert_eq!(t.event(Event::SpawnFailed(SpawnFailure::NotFound)), vec![]);
        let actions = t.exited(10, 7);
        assert_eq!(t.finish(actions), vec![Action::Exit { code: 7 }]);
    }

    #[test]
    fn failed_first_spawn_exits_127_or_126() {
        let mut t = Script::new(policy());
        t.expect_spawn();
        let actions = t.event(Event::SpawnFailed(SpawnFailure::NotFound));
        assert_eq!(t.finish(actions), vec![Action::Exit { code: 127 }]);
        let mut t = Script::new(policy());
        t.expect_spawn();
        let actions = t.event(Event::SpawnFailed(SpawnFailure::NotExecutable));
        assert_eq!(t.finish(actions), vec![Action::Exit { code: 126 }]);
    }

    #[test]
    fn shutdown_signals_every_generation_and_cancels_queued_reloads() {
        let mut t = Script::new(Policy { stop_timeout: Some(500 * MS), ..policy() });
        t.serving(10);
        t.event(Event::Reload);
        t.actions.push(Action::Spawn { number: 2 });
        t.spawned(20);
        t.event(Event::Reload);
        assert_eq!(t.event(Event::Signal(TERM)), [stop(10), stop(20)].concat());
        assert_eq!(t.event(Event::Reload), vec![]);
        assert_eq!(t.at(5000), vec![Action::Kill { pid: 10 }, Action::Kill { pid: 20 }]);
        assert_eq!(t.event(Event::Exited { pid: 20, status: Status::Killed(9) }), vec![]);
        let actions = t.event(Event::Exited { pid: 10, status: Status::Killed(TERM) });
        assert_eq!(t.finish(actions), vec![Action::Exit { code: 143 }]);
    }

    #[test]
    fn shutdown_during_the_first_warmup_keeps_its_status() {
        let mut t = Script::new(policy());
        t.spawned(10);
        assert_eq!(t.event(Event::Signal(TERM)), stop(10));
        assert_eq!(t.at(5000), vec![], "no promotion while shutting down");
        let actions = t.exited(10, 7);
        assert_eq!(t.finish(actions), vec![Action::Exit { code: 7 }]);
    }

    #[test]
    fn serving_exit_waits_for_draining_generations() {
        let mut t = Script::new(Policy { warmup: 0, ..policy() });
        t.spawned(10);
        t.event(Event::Reload);
        t.actions.push(Action::Spawn { number: 2 });
        t.spawned(20);
        assert_eq!(t.exited(20, 3), vec![], "generation 1 still draining");
        assert_eq!(t.event(Event::Reload), vec![], "no reload once the service ended");
        let actions = t.exited(10, 0);
        assert_eq!(t.finish(actions), vec![Action::Exit { code: 3 }]);
    }

    #[test]
    fn serving_exit_during_reload_hands_over_to_the_new_generation() {
        let mut t = Script::new(policy());
        t.serving(10);
        t.event(Event::Reload);
        t.actions.push(Action::Spawn { number: 2 });
        t.spawned(20);
        assert_eq!(t.exited(10, 1), vec![]);
        assert_eq!(t.at(200), vec![], "promoted with no one to stop");
        let actions = t.exited(20, 0);
        assert_eq!(t.finish(actions), vec![Action::Exit { code: 0 }]);
    }

    #[test]
    fn forwarding_rewrites_and_drops() {
        let p = Policy { rewrites: vec![(10, 12), (28, 0)], process_group: true, ..policy() };
        let mut t = Script::new(p);
        t.serving(10);
        assert_eq!(t.event(Event::Signal(10)), vec![Action::Signal { pid: 10, signal: 12, group: true }]);
        assert_eq!(t.event(Event::Signal(28)), vec![]);
        assert!(t.reports.contains(&Report::Dropped { signal: 28 }));
        // The first generation gets signals while it warms up too.
        let mut t = Script::new(policy());
        t.spawned(10);
        assert_eq!(t.event(Event::Signal(12)), vec![Action::Signal { pid: 10, signal: 12, group: false }]);
    }

    #[test]
    fn rewritten_shutdown_signal_still_shuts_down() {
        let mut t = Script::new(Policy { rewrites: vec![(TERM, 3)], ..policy() });
        t.serving(10);
        let quit = Action::Signal { pid: 10, signal: 3, group: false };
        assert_eq!(t.event(Event::Signal(TERM)), vec![quit, Action::Signal { pid: 10, signal: 18, group: false }]);
        let actions = t.exited(10, 0);
        assert_eq!(t.finish(actions), vec![Action::Exit { code: 0 }]);
    }

    #[test]
    fn as_init_orphans_are_stopped_before_exit() {
        let mut t = Script::new(Policy { is_init: true, stop_timeout: Some(1000 * MS), ..policy() });
        t.serving(10);
        assert_eq!(t.exited(10, 5), vec![Action::SignalOrphans { signal: TERM }]);
        assert_eq!(t.event(Event::Exited { pid: 99, status: Status::Exited(0) }), vec![]);
        assert_eq!(t.event(Event::NoChildren), vec![Action::Exit { code: 5 }]);
        // Orphans that ignore the stop signal are left to the kernel at the deadline.
        let mut t = Script::new(Policy { is_init: true, stop_timeout: Some(1000 * MS), ..policy() });
        t.serving(10);
        t.exited(10, 5);
        assert_eq!(t.at(1099), vec![]);
        assert_eq!(t.at(1100), vec![Action::Exit { code: 5 }]);
    }

    #[test]
    fn first_generation_never_ready_fails_the_service() {
        let mut t = Script::new(Policy { wait_for_ready: true, ..policy() });
        t.spawned(10);
        assert_eq!(t.at(1000), stop(10));
        let actions = t.exited(10, 0);
        assert_eq!(t.finish(actions), vec![Action::Exit { code: 1 }]);
    }

    #[test]
    fn stray_ready_and_unknown_exits_change_nothing() {
        let mut t = Script::new(policy());
        t.serving(10);
        assert_eq!(t.event(Event::Ready { pid: 77 }), vec![]);
        assert_eq!(t.event(Event::Ready { pid: 10 }), vec![]);
        assert_eq!(t.exited(77, 0), vec![]);
        assert!(t.reports.contains(&Report::OrphanReaped { pid: 77, status: Status::Exited(0) }));
        assert_eq!(t.event(Event::NoChildren), vec![]);
    }

    #[test]
    fn promoted_generations_get_the_terminal_the_first_took_it_itself() {
        let mut t = Script::new(policy());
        t.serving(10);
        t.event(Event::Reload);
        t.actions.push(Action::Spawn { number: 2 });
        t.spawned(20);
        t.at(200);
        assert_eq!(t.foreground, [20]);
    }

    #[test]
    fn stopped_generations_are_continued_after_the_stop_signal() {
        let mut t = Script::new(Policy { process_group: true, stop_signal: 3, ..policy() });
        t.serving(10);
        let cont = Action::Signal { pid: 10, signal: signals::SIGCONT, group: true };
        assert_eq!(t.event(Event::Signal(TERM)), vec![Action::Signal { pid: 10, signal: TERM, group: true }, cont]);
        // Abandoned ones too.
        let mut t = Script::new(Policy { wait_for_ready: true, ..policy() });
        t.spawned(10);
        assert_eq!(t.at(1000), stop(10));
    }

    #[test]
    fn a_hang_up_goes_to_the_serving_group_and_is_no_reload() {
        let mut t = Script::new(policy());
        t.serving(10);
        assert_eq!(t.event(Event::HangUp), vec![Action::Signal { pid: 10, signal: signals::SIGHUP, group: true }]);
        assert!(!t.reports.iter().any(|r| matches!(r, Report::ReloadStarted { .. })));
    }

    #[test]
    fn own_spawn_failure_exits_1_or_abandons_the_reload() {
        let mut t = Script::new(policy());
        t.expect_spawn();
        let actions = t.event(Event::SpawnFailed(SpawnFailure::Internal));
        assert_eq!(t.finish(actions), vec![Action::Exit { code: 1 }]);
        let mut t = Script::new(policy());
        t.serving(10);
        t.event(Event::Reload);
        assert_eq!(t.event(Event::SpawnFailed(SpawnFailure::Internal)), vec![]);
        assert!(t.reports.iter().any(|r| matches!(r, Report::Abandoned { serving: Some((1, 10)), .. })));
    }

    #[test]
    fn success_exits_map_only_the_service_status() {
        let p = Policy { success_exits: vec![143, 1], wait_for_ready: true, ..policy() };
        let mut t = Script::new(p.clone());
        t.serving(10);
        let actions = t.event(Event::Exited { pid: 10, status: Status::Killed(TERM) });
        assert_eq!(t.finish(actions), vec![Action::Exit { code: 0 }]);
        // Never ready is hupwatch's own verdict (1), not the service's.
        let mut t = Script::new(p);
        t.spawned(10);
        t.at(1000);
        let actions = t.exited(10, 0);
        assert_eq!(t.finish(actions), vec![Action::Exit { code: 1 }]);
    }

    #[test]
    fn huge_durations_saturate_instead_of_wrapping() {
        let huge = 18_446_744_073 * 1_000_000_000;
        let mut t = Script::new(Policy { warmup: huge, ready_timeout: u64::MAX, stop_timeout: Some(huge), ..policy() });
        t.now = 5_000 * MS;
        t.spawned(10);
        assert_eq!(t.at(10_000), vec![], "not promoted, not abandoned");
        assert_eq!(t.s.next_deadline(), Some(u64::MAX));
        assert_eq!(t.event(Event::Signal(TERM)), stop(10));
        assert_eq!(t.at(20_000), vec![], "not killed");
    }

    #[test]
    fn adopted_processes_are_stopped_then_killed_before_exit() {
        let mut t = Script::new(policy());
        t.serving(10);
        assert_eq!(t.exited(10, 0), vec![Action::SignalOrphans { signal: TERM }]);
        // A reaped orphan may leave children of its own to hupwatch.
        assert_eq!(
            t.event(Event::Exited { pid: 99, status: Status::Exited(0) }),
            vec![Action::SignalOrphans { signal: TERM }]
        );
        assert_eq!(t.at(100 + 9_999), vec![]);
        let kill = vec![Action::SignalOrphans { signal: signals::SIGKILL }];
        assert_eq!(t.at(100 + 10_000), kill, "unlimited --stop-timeout: 10 s");
        assert_eq!(t.at(100 + 11_000), kill, "and again until none is left");
        assert_eq!(t.event(Event::NoChildren), vec![Action::Exit { code: 0 }]);
    }
}
