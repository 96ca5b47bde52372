//! Signal numbers and their names: parsing `TERM`, `SIGTERM`, `term`, `15`,
//! `RTMIN+3`, and naming a signal in a log line. Numbers are Linux's.

use crate::text::{Text, parse_decimal, words};

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

/// Names of signals 1..=31 without their `SIG`, in order, each ended by a
/// NUL, then the common aliases (`ALIAS_NUMBERS`): one string instead of a
/// table of pointers.
const NAMES: &[u8] = b"HUP\0INT\0QUIT\0ILL\0TRAP\0ABRT\0BUS\0FPE\0KILL\0USR1\0SEGV\0USR2\0PIPE\0ALRM\0TERM\0\
STKFLT\0CHLD\0CONT\0STOP\0TSTP\0TTIN\0TTOU\0URG\0XCPU\0XFSZ\0VTALRM\0PROF\0WINCH\0IO\0PWR\0SYS\0IOT\0POLL\0CLD\0";

/// The numbers of the aliases after the 31 names.
const ALIAS_NUMBERS: [Signal; 3] = [6, 29, SIGCHLD];

/// Whether a process can catch (and so hupwatch can receive) this signal.
pub fn catchable(sig: Signal) -> bool {
    (1..=SIGRTMAX).contains(&sig) && sig != SIGKILL && sig != SIGSTOP
}

/// TERM, INT and QUIT end hupwatch after they have been passed on.
pub fn is_shutdown(sig: Signal) -> bool {
    matches!(sig, SIGTERM | SIGINT | SIGQUIT)
}

/// Whether `text` starts with `upper`, ignoring the case of `text`.
fn starts(text: &[u8], upper: &[u8]) -> bool {
    text.len() >= upper.len() && text.iter().zip(upper).all(|(&a, &b)| a.to_ascii_uppercase() == b)
}

/// Parses a signal name or number. `allow_zero` admits `0` (a dropped signal).
pub fn parse(text: &[u8], allow_zero: bool) -> Option<Signal> {
    if let Some(n) = parse_decimal(text) {
        // 32 and 33 are the C library's own (threads, cancellation).
        let valid = n <= SIGRTMAX as u64 && (n != 0 || allow_zero) && n != 32 && n != 33;
        return valid.then_some(n as Signal);
    }
    // Case-insensitive, with or without SIG.
    let name = if text.len() > 3 && starts(text, b"SIG") { &text[3..] } else { text };
    for (i, word) in words(NAMES).enumerate() {
        if name.len() == word.len() && starts(name, word) {
            return Some(ALIAS_NUMBERS.get(i.wrapping_sub(31)).map_or(i as Signal + 1, |&sig| sig));
        }
    }
    let base = match () {
        _ if starts(name, b"RTMIN") => SIGRTMIN,
        _ if starts(name, b"RTMAX") => SIGRTMAX,
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

impl Text {
    /// A signal's name: `SIGTERM`, `SIGRTMIN`, `SIGRTMIN+2`, `signal 32`.
    pub fn signal(&mut self, sig: Signal) -> &mut Text {
        match sig {
            1..=31 => self.text("SIG").bytes(words(NAMES).nth(sig as usize - 1).unwrap_or_default()),
            SIGRTMIN => self.text("SIGRTMIN"),
            35..=SIGRTMAX => self.text("SIGRTMIN+").num((sig - SIGRTMIN) as u64),
            _ => self.text("signal ").num(sig.max(0) as u64),
        }
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
        let text = |sig| String::from_utf8(Text::new().signal(sig).as_bytes().to_vec()).unwrap();
        assert_eq!(text(1), "SIGHUP");
        assert_eq!(text(15), "SIGTERM");
        assert_eq!(text(31), "SIGSYS");
        assert_eq!(text(34), "SIGRTMIN");
        assert_eq!(text(36), "SIGRTMIN+2");
        assert_eq!(text(64), "SIGRTMIN+30");
        assert_eq!(text(32), "signal 32");
        assert_eq!(text(0), "signal 0");
        assert_eq!(text(65), "signal 65");
    }

    #[test]
    fn names_and_aliases_round_trip() {
        for sig in 1..=31 {
            let mut t = Text::new();
            t.signal(sig);
            assert_eq!(parse(t.as_bytes(), false), Some(sig));
        }
        assert_eq!(words(NAMES).count(), 31 + ALIAS_NUMBERS.len());
        assert_eq!(parse(b"iot", false), Some(6));
        assert_eq!(parse(b"SIGPOLL", false), Some(29));
        assert_eq!(parse(b"cld", false), Some(17));
    }
}
