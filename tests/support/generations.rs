//! hupwatch running the test child's `serve DIR` role (tests/support/child.rs), and the records
//! its generations leave in DIR: `started.PID` when one starts, `term.PID` when it is told to
//! stop, `signals.PID` with every signal it got.

use super::{LONG, Running, field, hupwatch_child, lines, pids_with_prefix, read, wait_for};
use std::path::Path;

/// Starts hupwatch with `opts` running `serve DIR` and waits until generation 1 has started;
/// returns hupwatch and generation 1's pid.
pub fn start_serve(dir: &Path, opts: &[&str]) -> (Running, i32) {
    let hw = Running::spawn(&mut hupwatch_child(opts, &["serve", dir.to_str().unwrap()]));
    let first = wait_for(LONG, || started(dir).first().copied())
        .unwrap_or_else(|| panic!("generation 1 did not start; stderr:\n{}", hw.stderr()));
    (hw, first)
}

/// Pids of every generation started so far, sorted.
pub fn started(dir: &Path) -> Vec<i32> {
    pids_with_prefix(dir, "started")
}

/// Waits for a generation whose pid is not in `known` to start, and returns its pid.
pub fn next_generation(dir: &Path, hw: &Running, known: &[i32]) -> i32 {
    wait_for(LONG, || started(dir).into_iter().find(|p| !known.contains(p)))
        .unwrap_or_else(|| panic!("no new generation started (known: {known:?}); stderr:\n{}", hw.stderr()))
}

/// Whether generation `pid` has been told to stop (TERM, INT or QUIT).
pub fn told_to_stop(dir: &Path, pid: i32) -> bool {
    dir.join(format!("term.{pid}")).exists()
}

/// The signal that told generation `pid` to stop, once it was told.
pub fn stop_signal_of(dir: &Path, pid: i32) -> Option<i32> {
    field(&read(dir.join(format!("term.{pid}"))), "sig")?.parse().ok()
}

/// The other generations that were alive when generation `pid` was told to stop.
pub fn siblings_at_stop(dir: &Path, pid: i32) -> Vec<i32> {
    let text = read(dir.join(format!("term.{pid}")));
    field(&text, "siblings").unwrap_or_default().split_whitespace().map(|p| p.parse().unwrap()).collect()
}

/// How often generation `pid` has received `sig` so far.
pub fn received(dir: &Path, pid: i32, sig: i32) -> usize {
    lines(dir.join(format!("signals.{pid}"))).iter().filter(|l| **l == sig.to_string()).count()
}
