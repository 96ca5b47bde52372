//! What the supervisor's reports say: one log line each, and for the
//! reports that change the service's state, the sd_notify message for
//! hupwatch's own supervisor (READY, RELOADING, STOPPING). The machine only
//! decides reports; here they become words.

use crate::log::{self, Level};
use crate::supervisor::{Failure, Report, SpawnFailure, Step};
use crate::sys::{self, Pid, Status};
use crate::text::Text;

impl Text {
    /// "exited with 3", "killed by SIGTERM".
    pub fn status(&mut self, status: Status) -> &mut Text {
        match status {
            Status::Exited(code) => self.text("exited with ").num(code as u64),
            Status::Killed(sig) => self.text("killed by ").signal(sig),
        }
    }

    /// "generation 2 (pid 57)".
    pub fn generation(&mut self, number: u32, pid: Pid) -> &mut Text {
        self.text("generation ").num(number as u64).text(" (pid ").num(pid.max(0) as u64).text(")")
    }
}

/// Logs one report at the level it deserves.
pub fn log(r: &Report) {
    let level = match r {
        Report::Abandoned { .. } | Report::GaveUp { .. } | Report::Hung { .. } => Level::Error,
        Report::Killing { .. } | Report::ReloadRefused | Report::Restarting { .. } => Level::Warn,
        Report::Forwarded { .. } | Report::Dropped { .. } | Report::OrphanReaped { .. } => Level::Debug,
        Report::ReloadQueued | Report::Exiting { .. } => Level::Debug,
        _ => Level::Info,
    };
    log::line(level, |l| words(r, l));
}

fn words<'a>(r: &Report, l: &'a mut Text) -> &'a mut Text {
    match *r {
        Report::Started { number, pid } => l.generation(number, pid).text(" started"),
        Report::ReloadStarted { number } => l.text("reload: starting generation ").num(number as u64),
        Report::ReloadQueued => l.text("reload requested during a reload: queued"),
        Report::ReloadRefused => l.text("reload ignored: shutting down"),
        Report::Promoted { number, pid, replaced: None, .. } => l.generation(number, pid).text(" is ready"),
        Report::Promoted { number, pid, replaced: Some((old, old_pid)), stop_signal } => l
            .generation(number, pid)
            .text(" is ready, stopping ")
            .generation(old, old_pid)
            .text(" with ")
            .signal(stop_signal),
        Report::Abandoned { number, pid, why, serving } => {
            l.text("reload abandoned: generation ").num(number as u64);
            if let Some(pid) = pid {
                l.text(" (pid ").num(pid as u64).text(")");
            }
            match why {
                Failure::Exited(status) => l.text(" ").status(status).text(" before it was ready"),
                Failure::NotReady => l.text(" was not ready in time"),
                Failure::SpawnFailed(SpawnFailure { step: Step::Exec, errno: sys::ENOENT }) => {
                    l.text(" could not start: command not found")
                }
                Failure::SpawnFailed(f) if f.exit_code() == 1 => l.text(" could not be started"),
                Failure::SpawnFailed(_) => l.text(" could not start its command"),
            };
            match serving {
                Some((n, p)) => l.text("; ").generation(n, p).text(" keeps serving"),
                None => l.text("; nothing left to serve"),
            }
        }
        Report::Drained { number, pid, status } => l.generation(number, pid).text(" drained: ").status(status),
        Report::ServingExited { number, pid, status } => {
            l.text("serving ").generation(number, pid).text(" ").status(status)
        }
        Report::Killing { number, pid } => {
            l.generation(number, pid).text(" did not stop in time: sending SIGKILL to its process group")
        }
        Report::Forwarded { signal, number, pid } => {
            l.text("forwarding ").signal(signal).text(" to ").generation(number, pid)
        }
        Report::Dropped { signal } => l.text("dropping ").signal(signal),
        Report::ShuttingDown { signal } => {
            l.text("shutting down on ").signal(signal).text(": stopping every generation")
        }
        Report::OrphanReaped { pid, status } => l.text("reaped process ").num(pid as u64).text(": ").status(status),
        Report::StoppingOrphans { signal } => l.text("sending ").signal(signal).text(" to the remaining processes"),
        Report::Exiting { code } => l.text("exiting with ").num(code as u64),
        Report::Restarting { attempt, delay, code } => {
            l.text("restart ").num(attempt as u64).text(" in ").num(delay / 1_000_000);
            l.text(" ms (last status ").num(code as u64).text(")")
        }
        Report::GaveUp { restarts } => l.text("giving up: ").num(restarts as u64).text(" restarts in a row failed"),
        Report::Hung { number, pid } => l.generation(number, pid).text(" missed its watchdog: hung"),
    }
}

/// Why generation `number` could not be started, naming the failed step;
/// `program` is the command as typed.
pub fn spawn_failure(number: u32, e: SpawnFailure, program: &[u8]) {
    log::error(|l| {
        l.text("generation ").num(number as u64).text(": ");
        match e.step {
            // Never asked for: the environment files' reader names the file and line.
            Step::Environment => &mut *l,
            Step::Pipe => l.text("cannot start it: pipe: "),
            Step::Fork => l.text("cannot start it: fork: "),
            Step::Chdir => l.text("cannot enter the working directory: "),
            Step::Exec => l.text("cannot run '").quoted(program, 4096).text("': "),
        };
        l.errno(e.errno)
    });
}

/// What the report means for hupwatch's own supervisor, as an sd_notify
/// message written into `m` at monotonic time `now_ns`: `Some(stopping)`
/// when there is one (`stopping` for STOPPING=1, sent once), `None` when
/// the report changes nothing for the service.
pub fn upward(report: &Report, now_ns: u64, m: &mut Text) -> Option<bool> {
    match *report {
        Report::Promoted { number, pid, replaced: None, .. } => {
            m.text("READY=1\nSTATUS=serving: ").generation(number, pid);
        }
        Report::Promoted { number, pid, replaced: Some(_), .. } => {
            m.text("READY=1\nSTATUS=reloaded: ").generation(number, pid).text(" serving");
        }
        Report::ReloadStarted { number } => {
            m.text("RELOADING=1\nMONOTONIC_USEC=").num(now_ns / 1000);
            m.text("\nSTATUS=reloading: starting generation ").num(number as u64);
        }
        Report::Abandoned { number, serving: Some((n, p)), .. } => {
            m.text("READY=1\nSTATUS=reload failed: generation ").num(number as u64);
            m.text(" abandoned, ").generation(n, p).text(" serving");
        }
        Report::ShuttingDown { .. } | Report::Exiting { .. } => {
            m.text("STOPPING=1");
            return Some(true);
        }
        _ => return None,
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(report: Report) -> String {
        let mut l = Text::new();
        words(&report, &mut l);
        String::from_utf8(l.as_bytes().to_vec()).unwrap()
    }

    fn upward_text(report: Report) -> Option<String> {
        let mut m = Text::new();
        upward(&report, 5_000_000, &mut m).map(|_| String::from_utf8(m.as_bytes().to_vec()).unwrap())
    }

    #[test]
    fn generations_and_statuses_in_words() {
        let mut l = Text::new();
        l.generation(2, 57).text(" ").status(Status::Exited(3)).text(", ").status(Status::Killed(15));
        assert_eq!(l.as_bytes(), b"generation 2 (pid 57) exited with 3, killed by SIGTERM");
        let promoted = Report::Promoted { number: 2, pid: 9, replaced: Some((1, 8)), stop_signal: 3 };
        assert_eq!(said(promoted), "generation 2 (pid 9) is ready, stopping generation 1 (pid 8) with SIGQUIT");
        let why = Failure::SpawnFailed(SpawnFailure { step: Step::Exec, errno: sys::ENOENT });
        let abandoned = Report::Abandoned { number: 3, pid: None, why, serving: Some((2, 9)) };
        assert_eq!(
            said(abandoned),
            "reload abandoned: generation 3 could not start: command not found; generation 2 (pid 9) keeps serving"
        );
        let restarting = Report::Restarting { attempt: 3, delay: 400_000_000, code: 1 };
        assert_eq!(said(restarting), "restart 3 in 400 ms (last status 1)");
        assert_eq!(said(Report::Hung { number: 2, pid: 9 }), "generation 2 (pid 9) missed its watchdog: hung");
    }

    #[test]
    fn upward_messages() {
        assert_eq!(
            upward_text(Report::ReloadStarted { number: 2 }).unwrap().lines().take(2).collect::<Vec<_>>(),
            ["RELOADING=1", "MONOTONIC_USEC=5000"]
        );
        let ready = upward_text(Report::Promoted { number: 2, pid: 9, replaced: Some((1, 8)), stop_signal: 15 });
        assert!(ready.unwrap().starts_with("READY=1\nSTATUS=reloaded"));
        let why = Failure::Exited(Status::Exited(1));
        let failed = upward_text(Report::Abandoned { number: 3, pid: Some(4), why, serving: Some((2, 9)) });
        assert!(failed.unwrap().starts_with("READY=1\nSTATUS=reload failed"));
        assert_eq!(upward_text(Report::ShuttingDown { signal: 15 }).as_deref(), Some("STOPPING=1"));
        assert_eq!(upward_text(Report::ReloadQueued), None);
    }
}
