//! The supervisor's invariants, checked by exploring it: seeded random walks
//! drive the pure machine through event sequences in any order the kernel
//! could deliver them (reload signals, forwarded and shutdown signals,
//! spawn answers, exits of any generation at any phase and of orphans,
//! READY messages, deadlines, no children left), under random policies, and
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
    let policy = Policy {
        warmup: rng.pick(&[0, 100 * MS, 1000 * MS]),
        ready_timeout: rng.pick(&[500 * MS, 2000 * MS]),
        stop_signal: rng.pick(&[TERM, QUIT]),
        stop_timeout: rng.pick(&[None, Some(300 * MS), Some(5000 * MS)]),
        rewrites,
        success_exits: if rng.chance(25) { vec![143, 3] } else { vec![] },
        process_group: rng.chance(50),
        notify: rng.chance(50),
    };
    (policy, rng.chance(25))
}

/// What the checker knows of one process, from the events and actions alone.
#[derive(Clone, Debug)]
struct Process {
    pid: Pid,
    /// The generation it is, or `None` for an orphan.
    number: Option<u32>,
    /// When it was first told to stop, and whether that was an abandonment.
    stopped_at: Option<(Nanos, bool)>,
    killed: bool,
}

/// Watches one run of the machine and says which invariant broke first.
struct Checker {
    policy: Policy,
    now: Nanos,
    /// Processes that exist (spawned or adopted and not yet reaped).
    alive: Vec<Process>,
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
    first_failed: Option<SpawnFailure>,
    promoted_any: bool,
    exited: Option<u8>,
    /// hupwatch is ending (a shutdown signal, or the service ended).
    ending: bool,
}

impl Checker {
    fn new(policy: Policy) -> Checker {
        Checker {
            policy,
            now: 0,
            alive: vec![],
            spawning: vec![],
            retired: vec![],
            wanted: false,
            current: None,
            service_status: None,
            first_failed: None,
            promoted_any: false,
            exited: None,
            ending: false,
        }
    }

    fn process(&mut self, pid: Pid) -> Option<&mut Process> {
        self.alive.iter_mut().find(|p| p.pid == pid)
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
        match event {
            Event::Reload if matches!(mode, Mode::Starting { .. } | Mode::Serving | Mode::Reloading { .. }) => {
                self.wanted = true;
            }
            Event::Signal(sig) if signals::is_shutdown(sig) && self.rewrite(sig) != 0 => {
                self.ending = true;
                self.wanted = false;
            }
            Event::Spawned { pid } => {
                let number = if self.spawning.is_empty() { None } else { Some(self.spawning.remove(0)) };
                self.alive.push(Process { pid, number, stopped_at: None, killed: false });
            }
            Event::SpawnFailed(why) => {
                if self.spawning.first() == Some(&1) {
                    self.first_failed = Some(why);
                }
                if !self.spawning.is_empty() {
                    self.spawning.remove(0);
                }
            }
            Event::Exited { pid, .. } => {
                if let Some(i) = self.alive.iter().position(|p| p.pid == pid) {
                    self.alive.remove(i);
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
        for &action in actions {
            self.action(action, s)?;
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
            Mode::Serving if self.wanted => return Err("a reload request was lost".into()),
            Mode::Starting { queued } | Mode::Reloading { queued } if queued != self.wanted => {
                return Err(format!(
                    "queued is {queued} but a request is {}pending",
                    if self.wanted { "" } else { "not " }
                ));
            }
            Mode::ShuttingDown { .. } | Mode::Finishing | Mode::StoppingOrphans { .. } | Mode::Exited => {
                self.wanted = false;
                self.ending = true;
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
        Ok(())
    }

    fn action(&mut self, action: Action, s: &Supervisor) -> Result<(), String> {
        let now = self.now;
        if self.exited.is_some() {
            return Err(format!("{action:?} after Exit"));
        }
        match action {
            Action::Spawn { number } => {
                if self.ending {
                    return Err(format!("generation {number} spawned while ending"));
                }
                if number > 1 && !std::mem::take(&mut self.wanted) {
                    return Err(format!("generation {number} spawned without a reload request"));
                }
                self.spawning.push(number);
            }
            Action::Signal { pid, signal, .. } => {
                let is_stop = self.is_stop_signal(signal);
                let Some(p) = self.process(pid).filter(|_| pid > 0) else {
                    return Err(format!("{signal} sent to pid {pid}, which is not a live process"));
                };
                if p.number.is_none() {
                    return Err(format!("signal {signal} sent to pid {pid}, which is not a generation"));
                }
                if is_stop && p.stopped_at.is_none() {
                    p.stopped_at = Some((now, false));
                }
            }
            Action::Kill { pid } => {
                let stop_timeout = self.policy.stop_timeout;
                let Some(p) = self.process(pid).filter(|p| pid > 0 && p.number.is_some()) else {
                    return Err(format!("SIGKILL for pid {pid}, which is not a live generation"));
                };
                let Some((at, abandoned)) = p.stopped_at else {
                    return Err(format!("SIGKILL for pid {pid}, which was never told to stop"));
                };
                let limit = match (stop_timeout, abandoned) {
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
            Action::Report(r) => self.report(r, s)?,
            Action::Exit { code } => {
                if let Some(p) = self.alive.iter().find(|p| p.number.is_some()) {
                    return Err(format!("exit while generation {:?} (pid {}) lives", p.number, p.pid));
                }
                if !self.spawning.is_empty() {
                    return Err("exit while a spawn is unanswered".into());
                }
                let expected = match (self.service_status, self.first_failed) {
                    (Some(status), _) if self.policy.success_exits.contains(&status) => 0,
                    (Some(status), _) => status,
                    (None, Some(why)) if !self.promoted_any => why.exit_code(),
                    (None, _) => 1,
                };
                if code != expected {
                    return Err(format!("exit code {code}, the README's table says {expected}"));
                }
                self.exited = Some(code);
            }
        }
        Ok(())
    }

    fn report(&mut self, r: Report, s: &Supervisor) -> Result<(), String> {
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
            }
            Report::Abandoned { pid: Some(pid), .. } => {
                if let Some(p) = self.process(pid) {
                    p.stopped_at = Some((now, true));
                }
            }
            Report::ServingExited { number, status, .. } => {
                let newest = s.generations.iter().map(|g| g.number).max().unwrap_or(0).max(number);
                let service = self.current == Some(number) || (self.current.is_none() && number == newest);
                if !service {
                    return Err(format!("generation {number} reported as the service, {:?} was", self.current));
                }
                self.current = None;
                self.service_status = Some(status.exit_code());
            }
            _ => {}
        }
        Ok(())
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
        let event = match rng.below(13) {
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
    Walk { policy, is_init, script, failure: result.err() }
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
    for n in 0..count {
        let seed = base.wrapping_add(n);
        let walk = walk(seed);
        events += walk.script.len();
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
    eprintln!("explored {count} walks, {events} events");
}

#[test]
fn the_checker_catches_a_broken_machine() {
    // A machine that forgets queued reloads must be caught: the checker is
    // only worth its walks if it can fail.
    let policy = Policy {
        warmup: 0,
        ready_timeout: 500 * MS,
        stop_signal: TERM,
        stop_timeout: None,
        rewrites: vec![],
        success_exits: vec![],
        process_group: false,
        notify: false,
    };
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
