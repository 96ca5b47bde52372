//! The command line: options parsed with lexopt into a `Config`, durations
//! and signal names parsed by hand, usage errors as one line each.

use crate::listen::{self, Address};
use crate::log::Level;
use crate::signals::{self, Signal};
use lexopt::prelude::*;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

pub const HELP: &str = "\
hupwatch: zero-downtime reload of any server on SIGHUP, and a correct PID 1

Usage: hupwatch [OPTIONS] [--] COMMAND [ARG]...

On the reload signal hupwatch starts a new generation of COMMAND, waits until
it is ready, then tells the old generation to stop. Other signals are passed
on to the serving generation; TERM, INT and QUIT also shut hupwatch down.

Options:
  -w, --warmup-time SECS   a new generation must stay alive this long before
                           it replaces the old one [default: 1]
      --ready-timeout SECS abandon a new generation not ready by then [default: 60]
      --reload-signal SIG  the signal that triggers a reload [default: HUP]
      --stop-signal SIG    what a replaced generation receives [default: TERM]
      --stop-timeout SECS  SIGKILL a stopped generation's process group after
                           this long; 0 waits forever [default: 0]
  -r, --rewrite FROM:TO    rewrite a signal before passing it on; TO=0 drops it
  -g, --process-group      signal each generation's whole process group
  -k, --kill-at-exit       children die with hupwatch, even if it is SIGKILLed
      --listen ADDR        bind ADDR once and hand it to every generation as
                           LISTEN_FDS (systemd socket activation); ADDR is
                           tcp:HOST:PORT, tcp:[IPV6]:PORT or unix:PATH
      --notify             a generation is ready when it sends READY=1 to
                           its NOTIFY_SOCKET (then the warmup runs)
      --watch PATH         reload when PATH changes: its content, metadata,
                           symlink target, or a directory's entries
      --watch-delay SECS   wait this long after the last change [default: 0.5]
  -v, --verbose            log debug messages too
  -q, --quiet              log errors only
  -h, --help               print this help
  -V, --version            print the version

SIG is a name or number: TERM, SIGTERM, term, 15, RTMIN+2.
SECS is a decimal number of seconds, or with a unit: 0.5, 500ms, 2s, 1m.

Exit status: the serving generation's, or 128+N if signal N killed it;
127 command not found, 126 command not executable, 2 usage error,
1 hupwatch's own failure.
";

pub const VERSION: &str = concat!("hupwatch ", env!("CARGO_PKG_VERSION"), env!("HUPWATCH_COMMIT_SUFFIX"), "\n");

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Everything the command line decides.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub warmup: u64,
    pub ready_timeout: u64,
    pub reload_signal: Signal,
    pub stop_signal: Signal,
    /// `None` waits forever.
    pub stop_timeout: Option<u64>,
    pub rewrites: Vec<(Signal, Signal)>,
    pub process_group: bool,
    pub kill_at_exit: bool,
    pub listen: Vec<Address>,
    pub notify: bool,
    pub watch: Vec<Vec<u8>>,
    pub watch_delay: u64,
    pub level: Level,
    pub command: Vec<Vec<u8>>,
}

#[derive(Debug, PartialEq)]
pub enum Parsed {
    Run(Config),
    Help,
    Version,
}

/// A usage error: rendered as `hupwatch: MESSAGE (try 'hupwatch --help')`.
#[derive(Debug, PartialEq)]
pub struct UsageError(pub String);

fn usage(parts: &[&str]) -> UsageError {
    UsageError(parts.concat())
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, UsageError> {
    let mut config = Config {
        warmup: NANOS_PER_SEC,
        ready_timeout: 60 * NANOS_PER_SEC,
        reload_signal: signals::SIGHUP,
        stop_signal: signals::SIGTERM,
        stop_timeout: None,
        rewrites: Vec::new(),
        process_group: false,
        kill_at_exit: false,
        listen: Vec::new(),
        notify: false,
        watch: Vec::new(),
        watch_delay: NANOS_PER_SEC / 2,
        level: Level::Info,
        command: Vec::new(),
    };
    let mut verbose = 0;
    let mut quiet = false;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(from_lexopt)? {
        match arg {
            Short('w') | Long("warmup-time") => config.warmup = duration(&mut parser, "--warmup-time")?,
            Long("ready-timeout") => config.ready_timeout = duration(&mut parser, "--ready-timeout")?,
            Long("reload-signal") => config.reload_signal = signal(&mut parser, "--reload-signal")?,
            Long("stop-signal") => config.stop_signal = signal(&mut parser, "--stop-signal")?,
            Long("stop-timeout") => {
                let t = duration(&mut parser, "--stop-timeout")?;
                config.stop_timeout = (t > 0).then_some(t);
            }
            Short('r') | Long("rewrite") => {
                let text = value(&mut parser, "--rewrite")?;
                config.rewrites.push(parse_rewrite(&text).ok_or_else(|| {
                    usage(&[
                        "invalid value for --rewrite: '",
                        &text,
                        "' (expected FROM:TO, such as TERM:QUIT or USR1:0)",
                    ])
                })?);
            }
            Short('g') | Long("process-group") => config.process_group = true,
            Short('k') | Long("kill-at-exit") => config.kill_at_exit = true,
            Long("listen") => {
                let text = value(&mut parser, "--listen")?;
                config.listen.push(listen::parse(&text).ok_or_else(|| {
                    usage(&[
                        "invalid value for --listen: '",
                        &text,
                        "' (expected tcp:HOST:PORT, tcp:[IPV6]:PORT or unix:PATH)",
                    ])
                })?);
            }
            Long("notify") => config.notify = true,
            Long("watch") => {
                let path = parser.value().map_err(from_lexopt)?;
                if path.is_empty() {
                    return Err(usage(&["--watch needs a path"]));
                }
                config.watch.push(path.into_vec());
            }
            Long("watch-delay") => config.watch_delay = duration(&mut parser, "--watch-delay")?,
            Short('v') | Long("verbose") => verbose += 1,
            Short('q') | Long("quiet") => quiet = true,
            Short('h') | Long("help") => return Ok(Parsed::Help),
            Short('V') | Long("version") => return Ok(Parsed::Version),
            Value(first) => {
                config.command.push(first.into_vec());
                config.command.extend(parser.raw_args().map_err(from_lexopt)?.map(OsString::into_vec));
            }
            Short(c) => {
                return Err(usage(&["unknown option '-", c.encode_utf8(&mut [0; 4]), "'"]));
            }
            Long(name) => return Err(usage(&["unknown option '--", name, "'"])),
        }
    }
    if config.command.is_empty() {
        return Err(usage(&["no command given"]));
    }
    let reload = config.reload_signal;
    if !signals::catchable(reload) || reload == signals::SIGCHLD {
        return Err(usage(&["--reload-signal cannot be SIGKILL, SIGSTOP or SIGCHLD"]));
    }
    if config.rewrites.iter().any(|&(from, _)| from == reload) {
        return Err(usage(&["--rewrite cannot rewrite the reload signal"]));
    }
    config.level = if quiet {
        Level::Error
    } else if verbose > 0 {
        Level::Debug
    } else {
        Level::Info
    };
    Ok(Parsed::Run(config))
}

fn from_lexopt(e: lexopt::Error) -> UsageError {
    match e {
        lexopt::Error::MissingValue { option: Some(o) } => usage(&["missing value for option '", &o, "'"]),
        lexopt::Error::MissingValue { option: None } => usage(&["missing value"]),
        lexopt::Error::UnexpectedOption(o) => usage(&["unknown option '", &o, "'"]),
        lexopt::Error::UnexpectedArgument(a) => usage(&["unexpected argument '", &a.to_string_lossy(), "'"]),
        lexopt::Error::UnexpectedValue { option, .. } => usage(&["option '", &option, "' takes no value"]),
        lexopt::Error::NonUnicodeValue(v) => usage(&["invalid (non-UTF-8) value '", &v.to_string_lossy(), "'"]),
        _ => usage(&["invalid arguments"]),
    }
}

fn value(parser: &mut lexopt::Parser, option: &str) -> Result<String, UsageError> {
    let v = parser.value().map_err(from_lexopt)?;
    v.into_string().map_err(|v| usage(&["invalid value for ", option, ": '", &v.to_string_lossy(), "'"]))
}

fn duration(parser: &mut lexopt::Parser, option: &str) -> Result<u64, UsageError> {
    let text = value(parser, option)?;
    parse_duration(&text).ok_or_else(|| {
        usage(&["invalid value for ", option, ": '", &text, "' (expected seconds such as 1, 0.5, 500ms, 2m)"])
    })
}

fn signal(parser: &mut lexopt::Parser, option: &str) -> Result<Signal, UsageError> {
    let text = value(parser, option)?;
    signals::parse(&text, false)
        .ok_or_else(|| usage(&["invalid value for ", option, ": '", &text, "' (expected a signal such as TERM or 15)"]))
}

/// `FROM:TO` with signal names or numbers; `TO` may be 0 (drop).
fn parse_rewrite(text: &str) -> Option<(Signal, Signal)> {
    let (from, to) = text.split_once(':')?;
    let from = signals::parse(from, false).filter(|&s| signals::catchable(s))?;
    Some((from, signals::parse(to, true)?))
}

/// Seconds as a decimal number with an optional unit `ms`, `s` or `m`, in
/// nanoseconds. At most nine fraction digits; up to about 584 years.
pub fn parse_duration(text: &str) -> Option<u64> {
    let (number, unit) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1_000_000u128)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, NANOS_PER_SEC as u128)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60 * NANOS_PER_SEC as u128)
    } else {
        (text, NANOS_PER_SEC as u128)
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    if whole.len() > 12 || fraction.len() > 9 {
        return None;
    }
    let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut scaled: u128 = if fraction.is_empty() { 0 } else { fraction.parse().ok()? };
    for _ in fraction.len()..9 {
        scaled *= 10;
    }
    let total = whole * unit + scaled * unit / 1_000_000_000;
    u64::try_from(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Parsed, UsageError> {
        parse(args.iter().map(OsString::from))
    }

    fn words(args: &[&str]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    fn config(args: &[&str]) -> Config {
        match run(args) {
            Ok(Parsed::Run(c)) => c,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    fn error(args: &[&str]) -> String {
        match run(args) {
            Err(UsageError(m)) => m,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    #[test]
    fn command_starts_at_first_positional() {
        let c = config(&["ls", "-l", "/"]);
        assert_eq!(c.command, words(&["ls", "-l", "/"]));
        let c = config(&["-w", "0.2", "--", "-weird", "--x"]);
        assert_eq!(c.command, words(&["-weird", "--x"]));
        assert_eq!(c.warmup, 200_000_000);
        let c = config(&["-k", "-g", "sh", "-c", "exit 3", "-v"]);
        assert_eq!(c.command, words(&["sh", "-c", "exit 3", "-v"]));
        assert!(c.kill_at_exit && c.process_group);
    }

    #[test]
    fn defaults() {
        let c = config(&["true"]);
        assert_eq!(c.warmup, NANOS_PER_SEC);
        assert_eq!(c.ready_timeout, 60 * NANOS_PER_SEC);
        assert_eq!((c.reload_signal, c.stop_signal, c.stop_timeout), (1, 15, None));
        assert_eq!(c.level, Level::Info);
    }

    #[test]
    fn every_option() {
        let c = config(&[
            "--warmup-time=500ms",
            "--ready-timeout",
            "2m",
            "--reload-signal",
            "usr2",
            "--stop-signal",
            "SIGQUIT",
            "--stop-timeout",
            "1.5",
            "-r",
            "TERM:QUIT",
            "--rewrite=10:0",
            "-vvv",
            "srv",
        ]);
        assert_eq!(c.warmup, 500_000_000);
        assert_eq!(c.ready_timeout, 120 * NANOS_PER_SEC);
        assert_eq!((c.reload_signal, c.stop_signal), (12, 3));
        assert_eq!(c.stop_timeout, Some(1_500_000_000));
        assert_eq!(c.rewrites, [(15, 3), (10, 0)]);
        assert_eq!(c.level, Level::Debug);
        assert_eq!(config(&["-q", "x"]).level, Level::Error);
        assert_eq!(config(&["--stop-timeout", "0", "x"]).stop_timeout, None);
    }

    #[test]
    fn help_and_version() {
        assert_eq!(run(&["-h"]), Ok(Parsed::Help));
        assert_eq!(run(&["--version", "x"]), Ok(Parsed::Version));
        assert!(VERSION.starts_with("hupwatch "));
    }

    #[test]
    fn usage_errors_are_one_line() {
        let cases: &[(&[&str], &str)] = &[
            (&[], "no command given"),
            (&["--bogus", "x"], "unknown option '--bogus'"),
            (&["-Z", "x"], "unknown option '-Z'"),
            (&["-w"], "missing value for option '-w'"),
            (&["-w", "abc", "x"], "invalid value for --warmup-time: 'abc'"),
            (&["--stop-signal", "FOO", "x"], "invalid value for --stop-signal: 'FOO'"),
            (&["--reload-signal", "KILL", "x"], "--reload-signal cannot be"),
            (&["-r", "TERM", "x"], "invalid value for --rewrite"),
            (&["-r", "KILL:TERM", "x"], "invalid value for --rewrite"),
            (&["-r", "HUP:TERM", "x"], "cannot rewrite the reload signal"),
            (&["--quiet=yes", "x"], "takes no value"),
            (&["--listen", "8080", "x"], "invalid value for --listen"),
        ];
        for (args, expected) in cases {
            let m = error(args);
            assert!(m.contains(expected), "{args:?}: {m}");
            assert!(!m.contains('\n'), "{m}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("1"), Some(NANOS_PER_SEC));
        assert_eq!(parse_duration("0.2"), Some(200_000_000));
        assert_eq!(parse_duration(".5"), Some(500_000_000));
        assert_eq!(parse_duration("3."), Some(3 * NANOS_PER_SEC));
        assert_eq!(parse_duration("250ms"), Some(250_000_000));
        assert_eq!(parse_duration("1.5ms"), Some(1_500_000));
        assert_eq!(parse_duration("2s"), Some(2 * NANOS_PER_SEC));
        assert_eq!(parse_duration("1.5m"), Some(90 * NANOS_PER_SEC));
        assert_eq!(parse_duration("0.000000001"), Some(1));
        for bad in ["", ".", "-1", "1e3", "abc", "1h", "1.2.3", "0.0000000001", " 1", "99999999999999"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
