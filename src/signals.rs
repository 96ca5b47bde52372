//! Signal numbers and their names: parsing `TERM`, `SIGTERM`, `term`, `15`,
//! `RTMIN+3`, and naming a signal in a log line. Numbers are Linux's.

use crate::text::{Text, parse_decimal};

pub type Signal = i32;

pub const SIGHUP: Signal = 1;
pub const SIGINT: Signal = 2;
pub const SIGQUIT: Signal = 3;
pub const SIGABRT: Signal = 6;
pub const SIGKILL: Signal = 9;
pub const SIGTERM: Signal = 15;
pub const SIGCHLD: Signal = 17;
pub const SIGCONT: Signal = 18;
pub const SIGSTOP: Signal = 19;
pub const SIGTSTP: Signal = 20;
pub const SIGTTIN: Signal = 21;
pub const SIGTTOU: Signal = 22;

/// The first real-time signal as glibc and procps's `kill` number it; musl
/// reserves one more, but users type the numbers their shell tools print.
pub const SIGRTMIN: Signal = 34;
pub const SIGRTMAX: Signal = 64;

/// Names of signals 1..=31, indexed by number - 1.
const NAMES: [&str; 31] = [
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// Whether a process can catch (and so hupwatch can receive) this signal.
pub fn catchable(sig: Signal) -> bool {
    (1..=SIGRTMAX).contains(&sig) && sig != SIGKILL && sig != SIGSTOP
}

/// TERM, INT and QUIT end hupwatch after they have been passed on.
pub fn is_shutdown(sig: Signal) -> bool {
    matches!(sig, SIGTERM | SIGINT | SIGQUIT)
}

/// Parses a signal name or number. `allow_zero` admits `0` (a dropped signal).
pub fn parse(text: &[u8], allow_zero: bool) -> Option<Signal> {
    if let Some(n) = parse_decimal(text) {
        // 32 and 33 are the C library's own (threads, cancellation).
        let valid = n <= SIGRTMAX as u64 && (n != 0 || allow_zero) && n != 32 && n != 33;
        return valid.then_some(n as Signal);
    }
    // Case-insensitive, with or without SIG.
    let starts = |text: &[u8], upper: &str| {
        text.len() >= upper.len() && text.iter().zip(upper.bytes()).all(|(&a, b)| a.to_ascii_uppercase() == b)
    };
    let name = if text.len() > 3 && starts(text, "SIG") { &text[3..] } else { text };
    let is = |upper: &str| name.len() == upper.len() && starts(name, upper);
    if let Some(pos) = NAMES.iter().position(|n| is(&n[3..])) {
        return Some(pos as Signal + 1);
    }
    // Common aliases.
    for (alias, sig) in [("IOT", 6), ("POLL", 29), ("CLD", SIGCHLD)] {
        if is(alias) {
            return Some(sig);
        }
    }
    let base = match () {
        _ if starts(name, "RTMIN") => SIGRTMIN,
        _ if starts(name, "RTMAX") => SIGRTMAX,
        _ => return None,
    };
    let Some((sign, digits)) = name[5..].split_first() else { return Some(base) };
    let n = parse_decimal(digits)?.min(SIGRTMAX as u64) as Signal;
    let sig = match sign {
        b'+' if base == SIGRTMIN => base + n,
        b'-' if base == SIGRTMAX => base - n,
        _ => return None,
    };
    (SIGRTMIN..=SIGRTMAX).contains(&sig).then_some(sig)
}

/// The name of a signal as text plus an optional number to append:
/// ("SIGTERM", None), ("SIGRTMIN+", Some(2)), ("signal ", Some(32)).
pub fn name(sig: Signal) -> (&'static str, Option<u64>) {
    if (1..=31).contains(&sig) {
        (NAMES[sig as usize - 1], None)
    } else if sig == SIGRTMIN {
        ("SIGRTMIN", None)
    } else if (SIGRTMIN + 1..=SIGRTMAX).contains(&sig) {
        ("SIGRTMIN+", Some((sig - SIGRTMIN) as u64))
    } else {
        ("signal ", Some(sig.max(0) as u64))
    }
}

impl Text {
    /// A signal's name: `SIGTERM`, `SIGRTMIN+2`.
    pub fn signal(&mut self, sig: Signal) -> &mut Text {
        let (text, number) = name(sig);
        self.text(text);
        if let Some(n) = number {
            self.num(n);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_cases() {
        for text in ["TERM", "SIGTERM", "term", "sigterm", "15"] {
            assert_eq!(parse(text.as_bytes(), false), Some(15), "{text}");
        }
        assert_eq!(parse(b"HUP", false), Some(1));
        assert_eq!(parse(b"sys", false), Some(31));
        assert_eq!(parse(b"RTMIN", false), Some(34));
        assert_eq!(parse(b"RTMIN+3", false), Some(37));
        assert_eq!(parse(b"SIGRTMIN+30", false), Some(64));
        assert_eq!(parse(b"RTMAX-2", false), Some(62));
        assert_eq!(parse(b"RTMAX", false), Some(64));
        assert_eq!(parse(b"rtmin+0", false), Some(34));
        assert_eq!(parse(b"64", false), Some(64));
    }

    #[test]
    fn rejects_nonsense() {
        for text in
            ["", "0", "32", "33", "65", "-1", "+1", "FOO", "RTMIN+31", "RTMIN-1", "RTMAX+1", "RTMIN+x", "RTMIN+", "SIG"]
        {
            assert_eq!(parse(text.as_bytes(), false), None, "{text}");
        }
        assert_eq!(parse(b"0", true), Some(0));
    }

    #[test]
    fn naming() {
        let text = |sig| {
            let (text, number) = name(sig);
            format!("{text}{}", number.map(|n| n.to_string()).unwrap_or_default())
        };
        assert_eq!(text(15), "SIGTERM");
        assert_eq!(text(34), "SIGRTMIN");
        assert_eq!(text(36), "SIGRTMIN+2");
        assert_eq!(text(32), "signal 32");
    }
}
