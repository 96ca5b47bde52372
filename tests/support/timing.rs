//! Verdicts about time that hold on a slow machine. A claim that needs the test to act within
//! some time (changes closer together than a debounce delay, a look before a deadline) is
//! judged on what the test measured it actually did, on the clock hupwatch uses. When the
//! machine was too slow for the measurements to allow a verdict, that attempt is repeated, not
//! failed: no verdict depends on the scheduler keeping a margin.

use super::clock::monotonic_ns;
use std::time::Duration;

/// Why an attempt could not be judged: what the test measured.
#[derive(Debug)]
pub struct Inconclusive(pub String);

/// How many attempts `until_judged` makes. Each one that cannot be judged needed the machine to
/// stall the test for a good part of a debounce delay or a timeout; ten in a row do not happen
/// on a machine that can run the suite at all.
const ATTEMPTS: u32 = 10;

/// Runs `attempt` (numbered from 1) until it reaches a verdict, which it returns; a failed claim
/// panics inside the attempt as usual. An attempt that returns `Inconclusive` is logged and
/// made again from the start (the attempt owns everything it started, so nothing carries over).
pub fn until_judged<T>(what: &str, mut attempt: impl FnMut(u32) -> Result<T, Inconclusive>) -> T {
    for n in 1..=ATTEMPTS {
        match attempt(n) {
            Ok(verdict) => return verdict,
            Err(Inconclusive(why)) => eprintln!("{what}: attempt {n} cannot be judged, trying again: {why}"),
        }
    }
    panic!("{what}: none of {ATTEMPTS} attempts could be judged: the machine stalled the test every time")
}

/// The actions of a test, each with the time it began and the time it had ended.
#[derive(Default)]
pub struct Timeline {
    spans: Vec<(u64, u64)>,
}

impl Timeline {
    pub fn new() -> Timeline {
        Timeline::default()
    }

    /// Runs `action`, noting the clock just before and just after it.
    pub fn act<T>(&mut self, action: impl FnOnce() -> T) -> T {
        let begin = monotonic_ns();
        let result = action();
        self.spans.push((begin, monotonic_ns()));
        result
    }

    /// When the last action had ended (CLOCK_MONOTONIC ns), if there was one.
    pub fn end(&self) -> Option<u64> {
        self.spans.last().map(|s| s.1)
    }

    /// From the beginning of the first action to the end of the last.
    pub fn span(&self) -> Duration {
        match (self.spans.first(), self.spans.last()) {
            (Some(first), Some(last)) => Duration::from_nanos(last.1 - first.0),
            _ => Duration::ZERO,
        }
    }

    /// An upper bound of any pause an observer could have seen between the effects of the
    /// actions: the longest time from the beginning of one action to the end of the next (or,
    /// for a single action, its own length: one call can have several effects, as a rewrite
    /// truncates and then writes).
    pub fn longest_pause(&self) -> Duration {
        let pairs = self.spans.windows(2).map(|w| w[1].1 - w[0].0);
        let single = self.spans.iter().map(|s| s.1 - s.0);
        Duration::from_nanos(pairs.chain(single).max().unwrap_or(0))
    }

    /// Ok when no pause an observer could have seen reached `limit`; otherwise the attempt
    /// cannot be judged on what needed them closer together.
    pub fn no_pause_of(&self, limit: Duration, what: &str) -> Result<(), Inconclusive> {
        let longest = self.longest_pause();
        if longest < limit {
            return Ok(());
        }
        Err(Inconclusive(format!("{what}: {longest:?} between two actions, the claim needs less than {limit:?}")))
    }
}

/// Runs `check` every 10 ms for `window`: the observation of something that must not happen.
/// Whatever `check` asserts is only as useful as the window is long, but a window that is cut
/// short by a slow machine never fails a test that should pass.
pub fn throughout(window: Duration, mut check: impl FnMut()) {
    let end = monotonic_ns() + window.as_nanos() as u64;
    loop {
        check();
        if monotonic_ns() >= end {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
