//! The supervisor's invariants, checked by exploring it: seeded random walks
//! drive the pure machine through event sequences in any order the kernel
//! could deliver them (reload signals, forwarded and shutdown signals,
//! spawn answers, exits of any generation at any phase and of orphans,
//! READY, watchdog and EXTEND_TIMEOUT_USEC messages, deadlines, no children
//! left), under random policies (restart policies and watchdogs too), and
//! a `Checker` that knows nothing of the machine's insides looks at every
//! step. A walk ends with a shutdown, which must finish.
//!
//! A failure prints the seed and the shortest event script found by
//! removing events while it still fails, written as a unit test to paste.
//! `HUPWATCH_EXPLORE_SEED` replays one walk, `HUPWATCH_EXPLORE_WALKS` sets
//! how many run.

use super::*;

const MS: Nanos = 1_000_000;
const TERM: Signal = 15;
const INT: Signal = 2;
const QUIT: Signal = 3;
const USR1: Signal = 10;
const USR2: Signal = 12;
const WINCH: Signal = 28;

/// splitmix64: small, fast and good enough to pick events.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// A random policy, with every option that changes the machine's choices.
fn random_policy(rng: &mut Rng) -> (Policy, bool) {
    let rewrites = match rng.below(4) {
        0 => vec![],
        1 => vec![(TERM, QUIT)],
        2 => vec![(USR1, 0)],
        _ => vec![(USR1, USR2), (INT, 0)],
    };
    let notify = rng.chance(50);
    let policy = Policy {
        warmup: rng.pick(&[0, 100 * MS, 1000 * MS]),
        ready_timeout: rng.pick(&[500 * MS, 2000 * MS]),
        stop_signal: rng.pick(&[TERM, QUIT]),
        stop_timeout: rng.pick(&[None, Some(300 * MS), Some(5000 * MS)]),
        rewrites,
        success_exits: if rng.chance(25) { vec![143, 3] } else { vec![] },
        process_group: rng.chance(50),
        notify,
        restart: rng.pick(&[Restart::No, Restart::OnFailure, Restart::Always]),
        restart_limit: rng.pick(&[0, 1, 3]),
        // As on the command line: only with --notify.
        watchdog: if notify { rng.pick(&[None, Some(300 * MS), Some(2000 * MS)]) } else { None },
    };
    (policy, rng.chance(25))
}

/// What the checker knows of one process, from the events and actions alone.
#[derive(Clone, Debug)]
struct Process {
    pid: Pid,
    /// The generation it is, or `None` for an orphan.
    number: Option<u32>,
    /// When it was first told to stop, and whether a kill deadline applies
    /// even without --stop-timeout (it was abandoned, or it is hung).
    stopped_at: Option<(Nanos, bool)>,
    killed: bool,
    /// When it started, and by when it must be ready (EXTEND_TIMEOUT_USEC
    /// moves that).
    ready_by: Nanos,
    /// When it was promoted.
    promoted_at: Option<Nanos>,
    /// Its watchdog: the interval (`--watchdog`, or its own) and its last
    /// ping (or its promotion).
    watchdog: Option<Nanos>,
    pinged_at: Nanos,
    hung: bool,
    /// The signals sent to it.
    sent: Vec<Signal>,
}

/// The delay before restart `attempt`, computed apart from the machine's
/// formula: 100 ms, doubled for each attempt before it, at most 30 s.
fn backoff(attempt: u32) -> Nanos {
    let mut delay = 100 * MS;
    for _ in 1..attempt {
        delay = (delay * 2).min(30_000 * MS);
    }
    delay
}

/// How often the walks reached the paths of `--restart` and `--watchdog`:
/// a walk that never gets there checks nothing about them.
#[derive(Default, Debug)]
struct Reached {
    restarts: usize,
    gave_up: usize,
    hung: usize,
    aborted: usize,
    extended: usize,
}

/// Watches one run of the machine and says which invariant broke first.
struct Checker {
    reached: Reached,
    policy: Policy,
    now: Nanos,
    /// Processes that exist (spawned or adopted and not yet reaped), and
    /// the one that ended in this step.
    alive: Vec<Process>,
    gone: Vec<Process>,
    /// Generations asked for and not answered yet.
    spawning: Vec<u32>,
    /// Numbers retired so far.
    retired: Vec<u32>,
    /// A reload was accepted and no generation was spawned for it yet.
    wanted: bool,
    /// The generation promoted last and not yet ended.
    current: Option<u32>,
    /// The status of the last generation reported as the service that ended.
    service_status: Option<u8>,
    /// The generation whose start is the service's current attempt (the
    /// first one, or the last restart), and how it failed to spawn.
    attempt: u32,
    attempt_failed: Option<SpawnFailure>,
    promoted_any: bool,
    exited: Option<u8>,
    /// hupwatch is ending (a shutdown signal, or the service ended).
    ending: bool,
    /// A shutdown signal arrived (not dropped).
    shutdown_asked: bool,
    /// Restarts in a row, counted here; when the next one may start; the
    /// machine gave up; whether the service's last end was a success in
    /// `--restart on-failure`'s sense.
    restarts: u32,
    restart_due: Option<Nanos>,
    gave_up: bool,
    last_end_ok: bool,
    /// In the step being checked: a Hung report, which allows one Spawn;
    /// a Forwarded report, which explains the Signal action after it; the
    /// pid a promotion replaced; hung pids sent SIGABRT without a
    /// replacement ready.
    hung_now: bool,
    forwarded: bool,
    replaced_now: Option<Pid>,
    aborted_alone: Vec<Pid>,
}

impl Checker {
    fn new(policy: Policy) -> Checker {
        Checker {
            reached: Reached::default(),
            policy,
            now: 0,
            alive: vec![],
            gone: vec![],
            spawning: vec![],
            retired: vec![],
            wanted: false,
            current: None,
            service_status: None,
            attempt: 1,
            attempt_failed: None,
            promoted_any: false,
            exited: None,
            ending: false,
            shutdown_asked: false,
            restarts: 0,
            restart_due: None,
            gave_up: false,
            last_end_ok: false,
            hung_now: false,
            forwarded: false,
            replaced_now: None,
            aborted_alone: vec![],
        }
    }

    fn process(&mut self, pid: Pid) -> Option<&mut Process> {
        self.alive.iter_mut().find(|p| p.pid == pid)
    }

    fn serving(&self) -> Option<&Process> {
        self.current.and_then(|n| self.alive.iter().find(|p| p.number == Some(n)))
    }

    /// A generation is on its way up: asked for, or started and not yet
    /// promoted nor told to stop.
    fn in_flight(&self) -> bool {
        !self.spawning.is_empty()
            || self.alive.iter().any(|p| {
                p.number.is_some() && p.number > self.current && p.promoted_at.is_none() && p.stopped_at.is_none()
            })
    }

    fn is_stop_signal(&self, signal: Signal) -> bool {
        let rewrite = |s| self.policy.rewrites.iter().rev().find(|(from, _)| *from == s).map_or(s, |&(_, to)| to);
        signal == self.policy.stop_signal || [TERM, INT, QUIT].iter().any(|&s| rewrite(s) == signal)
    }

    /// Before the machine sees `event`: what the world did.
    fn before(&mut self, now: Nanos, event: Event, mode: Mode) -> Result<(), String> {
        if now < self.now {
            return Err(format!("time went back from {} to {now}", self.now));
        }
        self.now = now;
        let running =
            matches!(mode, Mode::Starting { .. } | Mode::Serving | Mode::Reloading { .. } | Mode::Backoff { .. });
        match event {
            Event::Reload if running => {
                self.wanted = true;
            }
            Event::Signal(sig) if signals::is_shutdown(sig) && self.rewrite(sig) != 0 => {
                self.ending = true;
                self.shutdown_asked = true;
                self.wanted = false;
            }
            Event::Spawned { pid } => {
                let number = if self.spawning.is_empty() { None } else { Some(self.spawning.remove(0)) };
                let ready_by = now.saturating_add(self.policy.ready_timeout);
                let (watchdog, sent) = (self.policy.watchdog, vec![]);
                self.alive.push(Process {
                    pid,
                    number,
                    stopped_at: None,
                    killed: false,
                    ready_by,
                    promoted_at: None,
                    watchdog,
                    pinged_at: 0,
                    hung: false,
                    sent,
                });
            }
            Event::SpawnFailed(why) => {
                if self.spawning.first() == Some(&self.attempt) {
                    self.attempt_failed = Some(why);
                }
                if !self.spawning.is_empty() {
                    self.spawning.remove(0);
                }
                if self.serving().is_none_or(|p| p.hung) {
                    self.last_end_ok = false;
                }
            }
            Event::Exited { pid, .. } => {
                if let Some(i) = self.alive.iter().position(|p| p.pid == pid) {
                    self.gone = vec![self.alive.remove(i)];
                }
            }
            Event::ExtendTimeout { pid, by } => {
                if let Some(p) = self.process(pid).filter(|p| p.promoted_at.is_none()) {
                    p.ready_by = p.ready_by.max(now.saturating_add(by));
                    self.reached.extended += 1;
                }
            }
            Event::WatchdogPing { pid } => {
                if let Some(p) = self.process(pid) {
                    p.pinged_at = now;
                }
            }
            Event::WatchdogInterval { pid, interval } => {
                if let Some(p) = self.process(pid) {
                    p.watchdog = (interval > 0).then_some(interval);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn rewrite(&self, sig: Signal) -> Signal {
        self.policy.rewrites.iter().rev().find(|(from, _)| *from == sig).map_or(sig, |&(_, to)| to)
    }

    /// After the machine handled an event: its actions and its state.
    fn after(&mut self, event: Event, actions: &[Action], s: &Supervisor) -> Result<(), String> {
        (self.hung_now, self.forwarded, self.replaced_now) = (false, false, None);
        self.aborted_alone.clear();
        for &action in actions {
            self.action(action, event)?;
        }
        let serving = s.generations.iter().filter(|g| g.phase == Phase::Serving).count();
        if serving > 1 {
            return Err(format!("{serving} generations serving"));
        }
        let in_flight = s.generations.iter().filter(|g| matches!(g.phase, Phase::Spawning | Phase::Starting { .. }));
        if in_flight.count() > 1 {
            return Err("two reloads in flight".into());
        }
        match s.mode {
            Mode::Serving | Mode::Backoff { .. } if self.wanted => return Err("a reload request was lost".into()),
            Mode::Starting { queued } | Mode::Reloading { queued } if queued != self.wanted => {
                return Err(format!(
                    "queued is {queued} but a request is {}pending",
                    if self.wanted { "" } else { "not " }
                ));
            }
            Mode::ShuttingDown { .. } | Mode::Finishing | Mode::StoppingOrphans { .. } | Mode::Exited => {
                self.wanted = false;
                self.ending = true;
                // Shutting down cancels a restart on its way.
                self.restart_due = None;
            }
            _ => {}
        }
        if event == Event::Deadline && s.next_deadline().is_some_and(|t| t <= self.now) {
            return Err("a passed deadline is still due after Event::Deadline: the loop would spin".into());
        }
        for g in &s.generations {
            if g.phase != Phase::Spawning && !self.alive.iter().any(|p| p.pid == g.pid) {
                return Err(format!("generation {} (pid {}) is gone but still kept", g.number, g.pid));
            }
        }
        // A hung generation is never left serving with nothing coming to
        // replace it and no SIGABRT either.
        let replacement = self.in_flight() || self.restart_due.is_some();
        if let Some(p) = self.alive.iter().find(|p| p.hung && p.stopped_at.is_none() && !replacement) {
            return Err(format!("hung pid {} left serving with no replacement on its way", p.pid));
        }
        if !self.aborted_alone.is_empty() && replacement {
            return Err(format!("SIGABRT to hung {:?} while a replacement is still possible", self.aborted_alone));
        }
        // A missed watchdog, or a restart due, does not go unnoticed past a deadline.
        if let Some(t) = self.restart_due.filter(|&t| event == Event::Deadline && t <= self.now) {
            return Err(format!("the restart due at {t} did not start by {}", self.now));
        }
        if event == Event::Deadline {
            if let Some(p) = self.serving().filter(|p| p.stopped_at.is_none() && !p.hung) {
                if p.watchdog.is_some_and(|t| p.pinged_at + t <= self.now) {
                    return Err(format!("pid {} missed its watchdog at {}, not found hung", p.pid, self.now));
                }
            }
        }
        Ok(())
    }

    fn action(&mut self, action: Action, event: Event) -> Result<(), String> {
        let now = self.now;
        if self.exited.is_some() {
            return Err(format!("{action:?} after Exit"));
        }
        match action {
            Action::Spawn { number } => {
                if self.ending {
                    return Err(format!("generation {number} spawned while ending"));
                }
                if self.gave_up {
                    return Err(format!("generation {number} spawned after giving up"));
                }
                let due = self.restart_due.take();
                if number > 1 && !std::mem::take(&mut self.wanted) && !std::mem::take(&mut self.hung_now) {
                    match due {
                        Some(t) if now < t => {
                            return Err(format!("restart at {now}, before its backoff ended at {t}"));
                        }
                        Some(_) => {}
                        None => return Err(format!("generation {number} spawned without a reload request")),
                    }
                }
                if due.is_some() && self.current.is_none() {
                    // A new attempt of the service: its status is the one to exit with.
                    (self.service_status, self.attempt, self.attempt_failed) = (None, number, None);
                    self.promoted_any = false;
                }
                self.spawning.push(number);
            }
            Action::Signal { pid, signal, .. } => {
                let forwarded = std::mem::take(&mut self.forwarded);
                let is_stop = self.is_stop_signal(signal);
                let Some(p) = self.process(pid).filter(|_| pid > 0) else {
                    return Err(format!("{signal} sent to pid {pid}, which is not a live process"));
                };
                if p.number.is_none() {
                    return Err(format!("signal {signal} sent to pid {pid}, which is not a generation"));
                }
                p.sent.push(signal);
                let abort = signal == signals::SIGABRT && !forwarded && !is_stop;
                if abort && !p.hung {
                    return Err(format!("SIGABRT to pid {pid}, which is not hung"));
                }
                if (is_stop || abort) && p.stopped_at.is_none() {
                    p.stopped_at = Some((now, p.hung));
                }
                self.reached.aborted += abort as usize;
                if abort && self.replaced_now != Some(pid) {
                    self.aborted_alone.push(pid);
                }
            }
            Action::Kill { pid } => {
                let stop_timeout = self.policy.stop_timeout;
                let Some(p) = self.process(pid).filter(|p| pid > 0 && p.number.is_some()) else {
                    return Err(format!("SIGKILL for pid {pid}, which is not a live generation"));
                };
                let Some((at, hard)) = p.stopped_at else {
                    return Err(format!("SIGKILL for pid {pid}, which was never told to stop"));
                };
                let limit = match (stop_timeout, hard) {
                    (Some(t), _) => t,
                    (None, true) => ABANDON_KILL_AFTER,
                    (None, false) => return Err(format!("SIGKILL for pid {pid} with no stop timeout")),
                };
                if now < at + limit {
                    return Err(format!("SIGKILL for pid {pid} at {now}, before its deadline {}", at + limit));
                }
                if p.killed {
                    return Err(format!("SIGKILL for pid {pid} twice"));
                }
                p.killed = true;
                p.sent.push(signals::SIGKILL);
            }
            Action::SignalOrphans { signal } => {
                if self.alive.iter().any(|p| p.number.is_some()) {
                    return Err("orphans signalled while generations live".into());
                }
                for p in &mut self.alive {
                    p.stopped_at.get_or_insert((now, false));
                    p.killed |= signal == 9;
                }
            }
            Action::Foreground { pid } => {
                if !self.alive.iter().any(|p| p.pid == pid && p.number.is_some()) {
                    return Err(format!("terminal given to pid {pid}, which is not a live generation"));
                }
            }
            Action::Retire { number } => {
                if self.retired.contains(&number) {
                    return Err(format!("generation {number} retired twice"));
                }
                if self.alive.iter().any(|p| p.number == Some(number)) || self.spawning.contains(&number) {
                    return Err(format!("generation {number} retired while it lives"));
                }
                self.retired.push(number);
            }
            Action::Report(r) => self.report(r, event)?,
            Action::Exit { code } => {
                if let Some(p) = self.alive.iter().find(|p| p.number.is_some()) {
                    return Err(format!("exit while generation {:?} (pid {}) lives", p.number, p.pid));
                }
                if !self.spawning.is_empty() {
                    return Err("exit while a spawn is unanswered".into());
                }
                let expected = match (self.service_status, self.attempt_failed) {
                    (Some(status), _) if self.policy.success_exits.contains(&status) => 0,
                    (Some(status), _) => status,
                    (None, Some(why)) if !self.promoted_any => why.exit_code(),
                    (None, _) => 1,
                };
                if code != expected {
                    return Err(format!("exit code {code}, the README's table says {expected}"));
                }
                // Under --restart only a shutdown signal, giving up, or (on-failure) a success ends hupwatch.
                let ended_well = match self.policy.restart {
                    Restart::No => true,
                    Restart::OnFailure => self.last_end_ok,
                    Restart::Always => false,
                };
                if !self.shutdown_asked && !self.gave_up && !ended_well {
                    return Err(format!("exit with {code} under {:?} without giving up", self.policy.restart));
                }
                self.exited = Some(code);
            }
        }
        Ok(())
    }

    fn report(&mut self, r: Report, event: Event) -> Result<(), String> {
        let now = self.now;
        match r {
            Report::Promoted { number, replaced, .. } => {
                if replaced.map(|(n, _)| n) != self.current {
                    return Err(format!(
                        "generation {number} replaced {replaced:?}, but {:?} was serving",
                        self.current
                    ));
                }
                self.current = Some(number);
                self.promoted_any = true;
                self.replaced_now = replaced.map(|(_, pid)| pid);
                if let Some(p) = self.alive.iter_mut().find(|p| p.number == Some(number)) {
                    (p.promoted_at, p.pinged_at) = (Some(now), now);
                }
            }
            Report::Abandoned { pid, why, serving, .. } => {
                if let Some(p) = pid.and_then(|pid| self.process(pid)) {
                    if why == Failure::NotReady && now < p.ready_by {
                        return Err(format!(
                            "pid {} abandoned at {now}, before its ready deadline {}",
                            p.pid, p.ready_by
                        ));
                    }
                    p.stopped_at = Some((now, true));
                }
                let hung = serving.is_some_and(|(_, pid)| self.alive.iter().any(|p| p.pid == pid && p.hung));
                if serving.is_none() || hung {
                    self.last_end_ok = false;
                }
            }
            Report::ServingExited { number, status, .. } => {
                // The newest generation known before this step's own actions.
                let known = self.alive.iter().chain(&self.gone).filter_map(|p| p.number);
                let newest = known.chain(self.spawning.iter().copied()).max().unwrap_or(0).max(number);
                let service = self.current == Some(number) || (self.current.is_none() && number == newest);
                if !service {
                    return Err(format!("generation {number} reported as the service, {:?} was", self.current));
                }
                let Event::Exited { pid, .. } = event else { return Err("ServingExited without an exit".into()) };
                let code = status.exit_code();
                let ours = matches!(status, Status::Killed(sig) if self.sent_to(pid, sig));
                self.last_end_ok = ours || code == 0 || self.policy.success_exits.contains(&code);
                if self.promoted_at(number).is_some_and(|t| now >= t + 10_000 * MS) {
                    self.restarts = 0;
                }
                self.current = None;
                self.service_status = Some(code);
            }
            Report::Hung { number, pid } => {
                let Some(p) = self.alive.iter().find(|p| p.pid == pid) else {
                    return Err(format!("pid {pid} reported hung, but it is gone"));
                };
                if self.current != Some(number) || p.stopped_at.is_some() || p.hung {
                    return Err(format!("generation {number} reported hung, but it is not serving, or stopped"));
                }
                let missed = p.watchdog.is_some_and(|t| p.pinged_at + t <= now);
                let triggered = event == Event::WatchdogTrigger { pid } && p.watchdog.is_some();
                if !missed && !triggered {
                    return Err(format!("pid {pid} reported hung at {now}, before its watchdog ran out"));
                }
                if p.promoted_at.is_some_and(|t| now >= t + 10_000 * MS) {
                    self.restarts = 0;
                }
                self.process(pid).unwrap().hung = true;
                self.reached.hung += 1;
                self.hung_now = !self.in_flight();
            }
            Report::Restarting { attempt, delay, .. } => {
                if self.policy.restart == Restart::No {
                    return Err("a restart under --restart no".into());
                }
                if self.policy.restart == Restart::OnFailure && self.last_end_ok {
                    return Err("a restart under --restart on-failure after a success".into());
                }
                self.restarts += 1;
                if attempt != self.restarts || delay != backoff(attempt) {
                    return Err(format!(
                        "restart {attempt} in {delay}, but it is restart {} in {}",
                        self.restarts,
                        backoff(self.restarts)
                    ));
                }
                let limit = self.policy.restart_limit;
                if limit > 0 && attempt > limit {
                    return Err(format!("restart {attempt} beyond the limit {limit}"));
                }
                self.restart_due = Some(now + delay);
                self.reached.restarts += 1;
            }
            Report::GaveUp { restarts } => {
                let limit = self.policy.restart_limit;
                if limit == 0 || restarts != limit || self.restarts != limit {
                    return Err(format!(
                        "gave up after {restarts} restarts (counted {}), limit {limit}",
                        self.restarts
                    ));
                }
                self.gave_up = true;
                self.reached.gave_up += 1;
            }
            Report::Forwarded { .. } => self.forwarded = true,
            _ => {}
        }
        Ok(())
    }

    fn sent_to(&self, pid: Pid, signal: Signal) -> bool {
        self.alive.iter().chain(&self.gone).any(|p| p.pid == pid && p.sent.contains(&signal))
    }

    fn promoted_at(&self, number: u32) -> Option<Nanos> {
        self.alive.iter().chain(&self.gone).find(|p| p.number == Some(number)).and_then(|p| p.promoted_at)
    }

    /// Once the walk is over and the shutdown played out.
    fn finished(&self) -> Result<(), String> {
        if self.exited.is_none() {
            return Err(format!("no exit after the shutdown; alive: {:?}", self.alive));
        }
        Ok(())
    }
}

/// One walk: the events fed and, when an invariant broke, which.
struct Walk {
    policy: Policy,
    is_init: bool,
    script: Vec<(Nanos, Event)>,
    failure: Option<String>,
    reached: Reached,
}

/// Feeds `event` at `now` to the machine, then a deadline if one is due, as
/// the event loop does; checks every step.
fn step(
    s: &mut Supervisor,
    c: &mut Checker,
    script: &mut Vec<(Nanos, Event)>,
    now: Nanos,
    event: Event,
) -> Result<(), String> {
    let mut events = vec![event];
    while let Some(event) = events.pop() {
        script.push((now, event));
        c.before(now, event, s.mode)?;
        let mut out = vec![];
        s.handle(now, event, &mut out);
        c.after(event, &out, s)?;
        if s.next_deadline().is_some_and(|t| t <= now) && event != Event::Deadline {
            events.push(Event::Deadline);
        }
    }
    Ok(())
}

/// A random event the kernel could deliver now, given what the checker knows.
fn random_event(rng: &mut Rng, c: &Checker, s: &Supervisor, next_pid: &mut Pid) -> Event {
    loop {
        let event = match rng.below(17) {
            0 | 1 => Event::Reload,
            2 => Event::Signal(rng.pick(&[TERM, INT, QUIT, USR1, USR2, WINCH])),
            12 => Event::HangUp,
            3 | 4 if !c.spawning.is_empty() => {
                if rng.chance(85) {
                    *next_pid += 1;
                    Event::Spawned { pid: *next_pid }
                } else {
                    let step = rng.pick(&[Step::Environment, Step::Fork, Step::Chdir, Step::Exec]);
                    let errno = Errno(rng.pick(&[libc::ENOENT, libc::EACCES, libc::EAGAIN]));
                    Event::SpawnFailed(SpawnFailure { step, errno })
                }
            }
            5 | 6 if !c.alive.is_empty() => {
                let pid = c.alive[rng.below(c.alive.len() as u64) as usize].pid;
                let status = if rng.chance(50) {
                    Status::Exited(rng.pick(&[0, 1, 3, 143]))
                } else {
                    Status::Killed(rng.pick(&[TERM, QUIT, 9, 6]))
                };
                Event::Exited { pid, status }
            }
            7 => {
                // An orphan re-parented to hupwatch ends.
                *next_pid += 1;
                Event::Exited { pid: *next_pid, status: Status::Exited(0) }
            }
            8 | 9 if !c.alive.is_empty() => {
                let pid = c.alive[rng.below(c.alive.len() as u64) as usize].pid;
                Event::Ready { pid: if rng.chance(90) { pid } else { pid + 1000 } }
            }
            10 if c.alive.is_empty() => Event::NoChildren,
            11 if s.next_deadline().is_some() => Event::Deadline,
            13..=16 if !c.alive.is_empty() => {
                let pid = c.alive[rng.below(c.alive.len() as u64) as usize].pid;
                match rng.below(8) {
                    0..=3 => Event::WatchdogPing { pid },
                    4 => Event::WatchdogTrigger { pid },
                    5 => Event::WatchdogInterval { pid, interval: rng.pick(&[0, 200 * MS, 3000 * MS]) },
                    _ => Event::ExtendTimeout { pid, by: rng.pick(&[100 * MS, 5000 * MS]) },
                }
            }
            _ => continue,
        };
        return event;
    }
}

/// How far time moves before the next event: often not at all, sometimes
/// exactly to the next deadline, sometimes past it.
fn advance(rng: &mut Rng, now: Nanos, s: &Supervisor) -> Nanos {
    match (rng.below(4), s.next_deadline()) {
        (0, Some(t)) if t > now => t,
        (1, _) => now + rng.below(2000) * MS,
        _ => now + rng.below(50) * MS,
    }
}

/// Plays the end: TERM, then every process obeys the signals it gets (one
/// that ignores its stop signal only goes when killed, if a stop timeout
/// allows), time moves from deadline to deadline, until hupwatch exits.
fn shut_down(
    rng: &mut Rng,
    s: &mut Supervisor,
    c: &mut Checker,
    script: &mut Vec<(Nanos, Event)>,
    mut now: Nanos,
    next_pid: &mut Pid,
) -> Result<(), String> {
    step(s, c, script, now, Event::Signal(TERM))?;
    for _ in 0..1000 {
        if c.exited.is_some() {
            return Ok(());
        }
        let event = if !c.spawning.is_empty() {
            *next_pid += 1;
            Event::Spawned { pid: *next_pid }
        } else if let Some(p) = c.alive.iter().find(|p| p.killed || (p.stopped_at.is_some() && rng.chance(70))) {
            let status = if p.killed { Status::Killed(9) } else { Status::Exited(0) };
            Event::Exited { pid: p.pid, status }
        } else if c.alive.is_empty() {
            Event::NoChildren
        } else if let Some(t) = s.next_deadline() {
            now = now.max(t);
            Event::Deadline
        } else if let Some(p) = c.alive.iter().find(|p| p.stopped_at.is_some() || p.number.is_none()) {
            // No deadline: a stopped process must go by itself (hupwatch
            // waits forever without --stop-timeout, as documented).
            Event::Exited { pid: p.pid, status: Status::Exited(0) }
        } else {
            return Err(format!("the shutdown is stuck: alive {:?}, nothing was told to stop", c.alive));
        };
        step(s, c, script, now, event)?;
    }
    c.finished()
}

fn walk(seed: u64) -> Walk {
    let mut rng = Rng(seed);
    let (policy, is_init) = random_policy(&mut rng);
    let mut s = Supervisor::new(policy.clone(), is_init);
    let mut c = Checker::new(policy.clone());
    let mut script = vec![];
    let mut out = vec![];
    s.start(&mut out);
    let mut result = c.after(Event::NoChildren, &out, &s);
    let mut now = 0;
    let mut next_pid = 100;
    let length = 1 + rng.below(40);
    for _ in 0..length {
        if result.is_err() || c.exited.is_some() {
            break;
        }
        now = advance(&mut rng, now, &s);
        let event = random_event(&mut rng, &c, &s, &mut next_pid);
        result = step(&mut s, &mut c, &mut script, now, event);
    }
    if result.is_ok() && c.exited.is_none() {
        result = shut_down(&mut rng, &mut s, &mut c, &mut script, now, &mut next_pid);
    }
    Walk { policy, is_init, script, failure: result.err(), reached: c.reached }
}

/// Replays `script` exactly; `Some(invariant)` when one breaks. A script
/// that no longer reaches the end is judged on its steps only.
fn replay(policy: &Policy, is_init: bool, script: &[(Nanos, Event)]) -> Option<String> {
    let mut s = Supervisor::new(policy.clone(), is_init);
    let mut c = Checker::new(policy.clone());
    let mut out = vec![];
    s.start(&mut out);
    if let Err(e) = c.after(Event::NoChildren, &out, &s) {
        return Some(e);
    }
    for &(now, event) in script {
        if c.exited.is_some() {
            break;
        }
        if let Err(e) = c.before(now, event, s.mode) {
            return Some(e);
        }
        let mut out = vec![];
        s.handle(now, event, &mut out);
        if let Err(e) = c.after(event, &out, &s) {
            return Some(e);
        }
    }
    None
}

/// The invariant's kind: its text up to the first number.
fn kind(failure: &str) -> &str {
    failure.split(|c: char| c.is_ascii_digit()).next().unwrap_or(failure)
}

/// Removes events while the same kind of failure remains.
fn shrink(walk: &Walk) -> Vec<(Nanos, Event)> {
    let failure = walk.failure.as_deref().unwrap_or("");
    let mut script = walk.script.clone();
    let mut chunk = script.len().div_ceil(2).max(1);
    while chunk >= 1 {
        let mut i = 0;
        let mut removed = false;
        while i < script.len() {
            let mut shorter = script.clone();
            shorter.drain(i..(i + chunk).min(script.len()));
            match replay(&walk.policy, walk.is_init, &shorter) {
                Some(f) if kind(&f) == kind(failure) => {
                    script = shorter;
                    removed = true;
                }
                _ => i += chunk,
            }
        }
        if chunk == 1 && !removed {
            break;
        }
        chunk = (chunk / 2).max(1);
    }
    script
}

/// The script as a unit test of the supervisor.
fn as_test(walk: &Walk, script: &[(Nanos, Event)]) -> String {
    let mut text = format!(
        "#[test]\nfn explored() {{\n    let policy = {:?};\n    let mut s = Supervisor::new(policy, {});\n    \
         let mut out = vec![];\n    s.start(&mut out);\n",
        walk.policy, walk.is_init
    );
    for (now, event) in script {
        text += &format!("    s.handle({now}, Event::{event:?}, &mut out);\n");
    }
    text + "    // then: the invariant above\n}\n"
}

fn env_number(key: &str) -> Option<u64> {
    std::env::var(key).ok()?.parse().ok()
}

#[test]
fn random_walks_keep_every_invariant() {
    let walks = env_number("HUPWATCH_EXPLORE_WALKS").unwrap_or(1_000_000);
    let first = env_number("HUPWATCH_EXPLORE_SEED");
    let base = first.unwrap_or(0x4855_5057_4154_4348);
    let count = if first.is_some() { 1 } else { walks };
    let mut events = 0;
    let mut reached = Reached::default();
    for n in 0..count {
        let seed = base.wrapping_add(n);
        let walk = walk(seed);
        events += walk.script.len();
        reached.restarts += walk.reached.restarts;
        reached.gave_up += walk.reached.gave_up;
        reached.hung += walk.reached.hung;
        reached.aborted += walk.reached.aborted;
        reached.extended += walk.reached.extended;
        if let Some(failure) = &walk.failure {
            let script = shrink(&walk);
            panic!(
                "seed {seed} (HUPWATCH_EXPLORE_SEED={seed}): {failure}\n\
                 after {} events; shortest script found ({} events):\n{}",
                walk.script.len(),
                script.len(),
                as_test(&walk, &script)
            );
        }
    }
    eprintln!("explored {count} walks, {events} events; reached {reached:?}");
    if count >= 10_000 {
        let Reached { restarts, gave_up, hung, aborted, extended } = reached;
        let all = [restarts, gave_up, hung, aborted, extended].iter().all(|&n| n > 0);
        assert!(all, "some paths never reached: {reached:?}");
    }
}

/// The policy of the defaults with no warm-up, for the checker's own tests.
fn plain() -> Policy {
    Policy {
        warmup: 0,
        ready_timeout: 500 * MS,
        stop_signal: TERM,
        stop_timeout: None,
        rewrites: vec![],
        success_exits: vec![],
        process_group: false,
        notify: false,
        restart: Restart::No,
        restart_limit: 0,
        watchdog: None,
    }
}

#[test]
fn the_checker_catches_a_broken_machine() {
    // A machine that forgets queued reloads must be caught: the checker is
    // only worth its walks if it can fail.
    let policy = plain();
    let mut s = Supervisor::new(policy.clone(), false);
    let mut c = Checker::new(policy);
    let mut out = vec![];
    s.start(&mut out);
    c.after(Event::NoChildren, &out, &s).unwrap();
    let mut script = vec![];
    step(&mut s, &mut c, &mut script, 0, Event::Spawned { pid: 5 }).unwrap();
    step(&mut s, &mut c, &mut script, 0, Event::Reload).unwrap();
    step(&mut s, &mut c, &mut script, 0, Event::Reload).unwrap();
    // Break it: drop the queued flag behind the machine's back.
    s.mode = Mode::Reloading { queued: false };
    let broken = step(&mut s, &mut c, &mut script, 0, Event::Spawned { pid: 6 });
    assert!(broken.is_err_and(|e| e.contains("queued")), "the lost reload went unnoticed");
}

/// Replays `script` with every check, calling `sabotage` on the machine
/// just before the event at `at`; the first broken invariant.
fn sabotaged(policy: Policy, script: &[(Nanos, Event)], at: usize, sabotage: impl Fn(&mut Supervisor)) -> String {
    let mut s = Supervisor::new(policy.clone(), false);
    let mut c = Checker::new(policy);
    let mut out = vec![];
    s.start(&mut out);
    c.after(Event::NoChildren, &out, &s).unwrap();
    let mut played = vec![];
    for (i, &(now, event)) in script.iter().enumerate() {
        if i == at {
            sabotage(&mut s);
        }
        if let Err(e) = step(&mut s, &mut c, &mut played, now, event) {
            return e;
        }
    }
    panic!("the sabotage went unnoticed")
}

#[test]
fn the_checker_catches_broken_restarts_and_watchdogs() {
    let restarting = Policy { restart: Restart::Always, ..plain() };
    let crash = |pid| Event::Exited { pid, status: Status::Exited(1) };
    let crashes = [(0, Event::Spawned { pid: 5 }), (10 * MS, crash(5)), (110 * MS, Event::Deadline)];
    // A backoff cut short.
    let early = [crashes[0], crashes[1], (20 * MS, Event::Deadline)];
    let e = sabotaged(restarting.clone(), &early, 2, |s| s.mode = Mode::Backoff { until: 20 * MS });
    assert!(e.contains("before its backoff ended"), "{e}");
    // A restart that never comes.
    let e = sabotaged(restarting.clone(), &crashes, 2, |s| s.mode = Mode::Serving);
    assert!(e.contains("did not start"), "{e}");
    // Attempts counted wrong.
    let twice = [&crashes[..], &[(110 * MS, Event::Spawned { pid: 6 }), (120 * MS, crash(6))]].concat();
    let e = sabotaged(restarting, &twice, 4, |s| s.restarts = 0);
    assert!(e.contains("restart 1 in 100000000, but it is restart 2"), "{e}");

    let watched = Policy { notify: true, watchdog: Some(300 * MS), ..plain() };
    let serving = [(0, Event::Spawned { pid: 5 }), (0, Event::Ready { pid: 5 }), (300 * MS, Event::Deadline)];
    // A hung generation with no replacement coming.
    let e = sabotaged(watched.clone(), &serving, 2, |s| s.mode = Mode::Reloading { queued: false });
    assert!(e.contains("left serving with no replacement"), "{e}");
    // SIGABRT to a generation that is not hung.
    let reload = [(0, Event::Spawned { pid: 5 }), (0, Event::Ready { pid: 5 }), (10 * MS, Event::Reload)];
    let reload = [&reload[..], &[(10 * MS, Event::Spawned { pid: 6 }), (10 * MS, Event::Ready { pid: 6 })]].concat();
    let e = sabotaged(watched, &reload, 4, |s| s.generations[0].hung = true);
    assert!(e.contains("SIGABRT to pid 5, which is not hung"), "{e}");
}
