//! The command line: options parsed by hand into a `Config` (lexopt's
//! parser and its formatting machinery were 4 KB of a 60 KB binary), durations
//! and signal names parsed by hand, usage errors as one line each.

use crate::envfile::Source;
use crate::listen::{self, Address};
use crate::log::Level;
use crate::signals::{self, Signal};
use crate::supervisor::{Policy, Restart};
use crate::text::{Text, parse_decimal, split, words};
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
  -e, --success-exit CODE  exit 0 when the service ends with CODE (repeatable;
                           143 is TERM: 128 + the signal's number)
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
      --restart POLICY     restart the service: no, on-failure[:N], always[:N]
      --watchdog SECS      replace a generation silent this long (with --notify)
      --env-file PATH      set KEY=VALUE lines in each generation, read afresh
      --envdir DIR         set one variable per file in each generation
  -v, --verbose            log debug messages too
  -q, --quiet              log errors only
  -h, --help               print this help
  -V, --version            print the version

SIG is a name or number: TERM, SIGTERM, term, 15, RTMIN+2 (not 32 or 33).
SECS is a decimal number of seconds, or with a unit: 0.5, 500ms, 2s, 1m;
the warmup must be shorter than the ready timeout.

Exit status: the serving generation's, or 128+N if signal N killed it;
127 command not found, 126 command not executable, 2 usage error,
1 hupwatch's own failure (or the first generation never became ready).
";

pub const VERSION: &str = concat!("hupwatch ", env!("CARGO_PKG_VERSION"), env!("HUPWATCH_COMMIT_SUFFIX"), "\n");

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Everything the command line decides: the supervisor's policy, and what
/// the event loop sets up around it.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub policy: Policy,
    pub reload_signal: Signal,
    pub kill_at_exit: bool,
    pub listen: Vec<Address>,
    pub watch: Vec<Vec<u8>>,
    pub watch_delay: u64,
    /// `--env-file` and `--envdir`, in order.
    pub env: Vec<Source>,
    pub level: Level,
    pub command: Vec<Vec<u8>>,
}

#[derive(Debug, PartialEq)]
#[cfg_attr(
    target_pointer_width = "64",
    expect(clippy::large_enum_variant, reason = "made once; a Box would only add an allocation")
)]
pub enum Parsed {
    Run(Config),
    Help,
    Version,
}

/// A usage error: rendered as `hupwatch: MESSAGE (try 'hupwatch --help')`.
/// The message is one line: values from the command line are quoted.
#[derive(Debug, PartialEq)]
pub struct UsageError(pub Vec<u8>);

fn usage(message: &[u8]) -> UsageError {
    UsageError(message.to_vec())
}

/// How much of a value a usage error shows.
const SHOWN: usize = 64;

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, UsageError> {
    let policy = Policy {
        warmup: NANOS_PER_SEC,
        ready_timeout: 60 * NANOS_PER_SEC,
        stop_signal: signals::SIGTERM,
        stop_timeout: None,
        rewrites: Vec::new(),
        success_exits: Vec::new(),
        process_group: false,
        notify: false,
        restart: Restart::No,
        restart_limit: 0,
        watchdog: None,
    };
    let mut config = Config {
        policy,
        reload_signal: signals::SIGHUP,
        kill_at_exit: false,
        listen: Vec::new(),
        watch: Vec::new(),
        watch_delay: NANOS_PER_SEC / 2,
        env: Vec::new(),
        level: Level::Info,
        command: Vec::new(),
    };
    let mut verbose = false;
    let mut quiet = false;
    // A usage error's message, once there is one.
    let mut m = Text::new();
    // Collected first: taking from and extending with a vec::IntoIter is
    // less code than with the caller's iterator.
    let mut args = args.into_iter().map(OsString::into_vec).collect::<Vec<_>>().into_iter();
    'failed: {
        while let Some(arg) = args.next() {
            // One argument: `--name`, `--name=value`, or short options `-gk`,
            // `-w0.5` (a value takes the rest), `-w=0.5`. `typed` is the
            // option's name as typed: `--name`, or `-w` (of a group too).
            let mut pair = *b"-?";
            let (found, value, typed) = if arg == b"--" {
                config.command.extend(args);
                break;
            } else if let Some(long) = arg.strip_prefix(b"--") {
                let (name, value) = split(long, b'=').map_or((long, None), |(n, v)| (n, Some(v)));
                let Some(found) = words(LONG).position(|w| w == name) else {
                    m.text("unknown option '--").quoted(name, SHOWN).text("'");
                    break 'failed;
                };
                (found, value, &arg[..2 + name.len()])
            } else if arg.len() > 1 && arg[0] == b'-' {
                // Flags first, then one option that may take the rest as its value.
                let mut at = 1;
                loop {
                    let c = arg[at];
                    let Some(found) = SHORT.iter().position(|&s| s != 0 && s == c) else {
                        m.text("unknown option '-").quoted(&[c], SHOWN).text("'");
                        break 'failed;
                    };
                    at += 1;
                    if at == arg.len() || !OPTS[found].is_flag() {
                        let rest = &arg[at..];
                        pair[1] = c;
                        break (found, (!rest.is_empty()).then(|| rest.strip_prefix(b"=").unwrap_or(rest)), &pair[..]);
                    }
                    set_flag(&mut config, OPTS[found], &mut verbose, &mut quiet);
                }
            } else {
                // The first argument that is not an option starts the command.
                config.command.push(arg);
                config.command.extend(args);
                break;
            };
            let opt = OPTS[found];
            if opt.is_flag() {
                if value.is_some() {
                    m.text("option '").bytes(typed).text("' takes no value");
                    break 'failed;
                }
                match opt {
                    Opt::Help => return Ok(Parsed::Help),
                    Opt::Version => return Ok(Parsed::Version),
                    _ => set_flag(&mut config, opt, &mut verbose, &mut quiet),
                }
                continue;
            }
            let Some(value) = value.map(<[u8]>::to_vec).or_else(|| args.next()) else {
                m.text("missing value for option '").bytes(typed).text("'");
                break 'failed;
            };
            m.text("invalid value for --").bytes(long_name(found)).text(": '").quoted(&value, SHOWN);
            if set(&mut config, opt, value).is_none() {
                m.text("' (expected ").text(expected(opt)).text(")");
                break 'failed;
            }
            m = Text::new();
        }
        check(&config)?;
        config.level = if quiet {
            Level::Error
        } else if verbose {
            Level::Debug
        } else {
            Level::Info
        };
        return Ok(Parsed::Run(config));
    }
    // Every usage error of an argument ends here, its message in `m`.
    Err(usage(m.as_bytes()))
}

/// Options that are each valid but cannot work together, or would leave a
/// generation that never stops.
fn check(config: &Config) -> Result<(), UsageError> {
    use signals::*;
    if config.command.is_empty() {
        return Err(usage(b"no command given"));
    }
    let reload = config.reload_signal;
    if !catchable(reload) || reload == SIGCHLD {
        return Err(usage(b"--reload-signal cannot be SIGKILL, SIGSTOP or SIGCHLD"));
    }
    // STOP and the terminal's stops only pause; CONT and CHLD do nothing.
    if matches!(config.policy.stop_signal, SIGCHLD | SIGCONT | SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU) {
        return Err(usage(b"--stop-signal cannot be SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGCONT or SIGCHLD"));
    }
    if config.policy.rewrites.iter().any(|&(from, _)| from == reload || from == SIGCHLD) {
        return Err(usage(b"--rewrite cannot rewrite the reload signal or SIGCHLD: hupwatch never forwards them"));
    }
    if config.policy.warmup >= config.policy.ready_timeout {
        return Err(usage(b"--warmup-time must be shorter than --ready-timeout"));
    }
    if config.policy.watchdog.is_some() && !config.policy.notify {
        return Err(usage(b"--watchdog needs --notify"));
    }
    Ok(())
}

/// Sets a flag's effect (help and version excepted).
fn set_flag(config: &mut Config, opt: Opt, verbose: &mut bool, quiet: &mut bool) {
    match opt {
        Opt::ProcessGroup => config.policy.process_group = true,
        Opt::KillAtExit => config.kill_at_exit = true,
        Opt::Notify => config.policy.notify = true,
        Opt::Verbose => *verbose = true,
        Opt::Quiet => *quiet = true,
        _ => {}
    }
}

/// What each option does; those with a value are parsed by `set`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Opt {
    Warmup,
    ReadyTimeout,
    ReloadSignal,
    StopSignal,
    StopTimeout,
    Rewrite,
    SuccessExit,
    ProcessGroup,
    KillAtExit,
    Listen,
    Notify,
    Watch,
    WatchDelay,
    Restart,
    Watchdog,
    EnvFile,
    EnvDir,
    Verbose,
    Quiet,
    Help,
    Version,
}

impl Opt {
    /// Whether the option takes no value.
    fn is_flag(self) -> bool {
        matches!(
            self,
            Opt::ProcessGroup | Opt::KillAtExit | Opt::Notify | Opt::Verbose | Opt::Quiet | Opt::Help | Opt::Version
        )
    }
}

/// The options' long names in the order of `OPTS`, each ended by a NUL:
/// one string, where a table of names and pointers was 500 bytes.
const LONG: &[u8] = b"warmup-time\0ready-timeout\0reload-signal\0stop-signal\0stop-timeout\0rewrite\0\
success-exit\0process-group\0kill-at-exit\0listen\0notify\0watch\0watch-delay\0restart\0watchdog\0env-file\0\
envdir\0verbose\0quiet\0help\0version\0";

/// Their short names, at the same places (NUL for none).
const SHORT: &[u8; 21] = b"w\0\0\0\0regk\0\0\0\0\0\0\0\0vqhV";

/// What each option does, at the places of its names.
const OPTS: [Opt; 21] = [
    Opt::Warmup,
    Opt::ReadyTimeout,
    Opt::ReloadSignal,
    Opt::StopSignal,
    Opt::StopTimeout,
    Opt::Rewrite,
    Opt::SuccessExit,
    Opt::ProcessGroup,
    Opt::KillAtExit,
    Opt::Listen,
    Opt::Notify,
    Opt::Watch,
    Opt::WatchDelay,
    Opt::Restart,
    Opt::Watchdog,
    Opt::EnvFile,
    Opt::EnvDir,
    Opt::Verbose,
    Opt::Quiet,
    Opt::Help,
    Opt::Version,
];

/// Option `i`'s long name.
fn long_name(i: usize) -> &'static [u8] {
    words(LONG).nth(i).unwrap_or_default()
}

/// What a value should look like, for the error message.
fn expected(opt: Opt) -> &'static str {
    match opt {
        Opt::ReloadSignal | Opt::StopSignal => "a signal such as TERM or 15",
        Opt::Rewrite => "FROM:TO, such as TERM:QUIT or USR1:0",
        Opt::Listen => "tcp:HOST:PORT, tcp:[IPV6]:PORT or unix:PATH",
        Opt::Watch | Opt::EnvFile | Opt::EnvDir => "a path",
        Opt::SuccessExit => "an exit code from 0 to 255",
        Opt::Restart => "no, on-failure[:N] or always[:N]",
        _ => "seconds such as 1, 0.5, 500ms, 2m",
    }
}

/// Applies one option's value; `None` when the value is invalid.
fn set(config: &mut Config, opt: Opt, value: Vec<u8>) -> Option<()> {
    // Paths in whatever encoding the file system uses.
    if matches!(opt, Opt::Watch | Opt::EnvFile | Opt::EnvDir) {
        if value.is_empty() {
            return None;
        }
        match opt {
            Opt::Watch => config.watch.push(value),
            _ => config.env.push(Source { dir: opt == Opt::EnvDir, path: value }),
        }
        return Some(());
    }
    if opt == Opt::Listen {
        return listen::parse(&value).map(|address| config.listen.push(address));
    }
    let text = &value[..];
    match opt {
        Opt::Warmup => config.policy.warmup = parse_duration(text)?,
        Opt::ReadyTimeout => config.policy.ready_timeout = parse_duration(text)?,
        Opt::StopTimeout => config.policy.stop_timeout = Some(parse_duration(text)?).filter(|&t| t > 0),
        Opt::WatchDelay => config.watch_delay = parse_duration(text)?,
        Opt::ReloadSignal => config.reload_signal = signals::parse(text, false)?,
        Opt::StopSignal => config.policy.stop_signal = signals::parse(text, false)?,
        Opt::Rewrite => config.policy.rewrites.push(parse_rewrite(text)?),
        Opt::SuccessExit => config.policy.success_exits.push(u8::try_from(parse_decimal(text)?).ok()?),
        Opt::Restart => (config.policy.restart, config.policy.restart_limit) = parse_restart(text)?,
        // Under a microsecond, WATCHDOG_USEC would say 0: off.
        Opt::Watchdog => config.policy.watchdog = Some(parse_duration(text)?).filter(|&t| t >= 1000),
        _ => return None,
    }
    Some(())
}

/// `FROM:TO` with signal names or numbers; `TO` may be 0 (drop).
fn parse_rewrite(text: &[u8]) -> Option<(Signal, Signal)> {
    let (from, to) = split(text, b':')?;
    let from = signals::parse(from, false).filter(|&s| signals::catchable(s))?;
    Some((from, signals::parse(to, true)?))
}

/// `no`, `on-failure`, `always`, the last two with `:N` (`:0`, as in
/// Docker, never gives up).
fn parse_restart(text: &[u8]) -> Option<(Restart, u32)> {
    let (name, limit) = split(text, b':').unwrap_or((text, b"0"));
    let i = [&b"no"[..], b"on-failure", b"always"].iter().position(|&n| n == name)?;
    if i == 0 && name != text {
        return None;
    }
    let restart = [Restart::No, Restart::OnFailure, Restart::Always][i];
    Some((restart, u32::try_from(parse_decimal(limit)?).ok()?))
}

/// Seconds as a decimal number with an optional unit `ms`, `s` or `m`, in
/// nanoseconds. At most nine fraction digits; up to about 584 years.
pub fn parse_duration(text: &[u8]) -> Option<u64> {
    // The unit in nanoseconds: a fraction digit string scaled to nine
    // digits counts billionths of it.
    let (number, unit) = match text {
        [n @ .., b'm', b's'] => (n, 1_000_000),
        [n @ .., b's'] => (n, NANOS_PER_SEC),
        [n @ .., b'm'] => (n, 60 * NANOS_PER_SEC),
        n => (n, NANOS_PER_SEC),
    };
    let (whole, fraction) = split(number, b'.').unwrap_or((number, b""));
    if whole.is_empty() && fraction.is_empty() || whole.len() > 12 || fraction.len() > 9 {
        return None;
    }
    let digits = |s: &[u8]| if s.is_empty() { Some(0) } else { parse_decimal(s) };
    let mut billionths = digits(fraction)?;
    for _ in fraction.len()..9 {
        billionths *= 10;
    }
    // Exact for every unit (a multiple of a millisecond), and no overflow:
    // at most 999,999,999 * 60,000.
    let fraction_ns = billionths * (unit / 1_000_000) / 1000;
    digits(whole)?.checked_mul(unit)?.checked_add(fraction_ns)
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
            Err(UsageError(m)) => String::from_utf8(m).unwrap(),
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    #[test]
    fn command_starts_at_first_positional() {
        let c = config(&["ls", "-l", "/"]);
        assert_eq!(c.command, words(&["ls", "-l", "/"]));
        let c = config(&["-w", "0.2", "--", "-weird", "--x"]);
        assert_eq!(c.command, words(&["-weird", "--x"]));
        assert_eq!(c.policy.warmup, 200_000_000);
        let c = config(&["-k", "-g", "sh", "-c", "exit 3", "-v"]);
        assert_eq!(c.command, words(&["sh", "-c", "exit 3", "-v"]));
        assert!(c.kill_at_exit && c.policy.process_group);
    }

    #[test]
    fn short_options_cluster_and_take_the_rest_as_a_value() {
        let c = config(&["-gkw0.5", "-w=0.25", "-vq", "-"]);
        assert!(c.policy.process_group && c.kill_at_exit);
        assert_eq!((c.policy.warmup, c.level), (250_000_000, Level::Error));
        assert_eq!(c.command, words(&["-"]));
        assert_eq!(config(&["-gw", "2", "x"]).policy.warmup, 2 * NANOS_PER_SEC);
    }

    #[test]
    fn defaults() {
        let c = config(&["true"]);
        assert_eq!(c.policy.warmup, NANOS_PER_SEC);
        assert_eq!(c.policy.ready_timeout, 60 * NANOS_PER_SEC);
        assert_eq!((c.reload_signal, c.policy.stop_signal, c.policy.stop_timeout), (1, 15, None));
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
        assert_eq!(c.policy.warmup, 500_000_000);
        assert_eq!(c.policy.ready_timeout, 120 * NANOS_PER_SEC);
        assert_eq!((c.reload_signal, c.policy.stop_signal), (12, 3));
        assert_eq!(c.policy.stop_timeout, Some(1_500_000_000));
        assert_eq!(c.policy.rewrites, [(15, 3), (10, 0)]);
        assert_eq!(config(&["-e", "143", "--success-exit=0", "-e", "255", "x"]).policy.success_exits, [143, 0, 255]);
        assert_eq!(c.level, Level::Debug);
        assert_eq!(config(&["-q", "x"]).level, Level::Error);
        assert_eq!(config(&["--stop-timeout", "0", "x"]).policy.stop_timeout, None);
        let env = config(&["--envdir", "d", "--env-file=a.env", "--env-file", "/b.env", "x"]).env;
        let source = |dir, path: &str| Source { dir, path: path.as_bytes().to_vec() };
        assert_eq!(env, [source(true, "d"), source(false, "a.env"), source(false, "/b.env")], "in order");
    }

    #[test]
    fn restart_policies_and_the_watchdog() {
        let restart = |value: &str| {
            let c = config(&["--restart", value, "x"]);
            (c.policy.restart, c.policy.restart_limit)
        };
        assert_eq!(config(&["x"]).policy.restart, Restart::No);
        assert_eq!(restart("no"), (Restart::No, 0));
        assert_eq!(restart("on-failure"), (Restart::OnFailure, 0));
        assert_eq!(restart("on-failure:3"), (Restart::OnFailure, 3));
        assert_eq!(restart("always:0"), (Restart::Always, 0), "Docker's :0: no limit");
        assert_eq!(restart("always:4294967295"), (Restart::Always, u32::MAX));
        for bad in
            ["no:1", "", "sometimes", "On-failure", "on-failure:", "on-failure:x", "always:-1", "always:4294967296"]
        {
            let m = error(&["--restart", bad, "x"]);
            assert!(m.contains("(expected no, on-failure[:N] or always[:N])"), "{bad}: {m}");
        }
        let c = config(&["--notify", "--watchdog", "1.5", "x"]);
        assert_eq!(c.policy.watchdog, Some(1_500_000_000));
        assert_eq!(config(&["--watchdog=0", "x"]).policy.watchdog, None, "0 is off, and needs no --notify");
        assert!(error(&["--watchdog", "2", "x"]).contains("--watchdog needs --notify"));
        assert!(error(&["--notify", "--watchdog", "2h", "x"]).contains("invalid value for --watchdog"));
    }

    #[test]
    fn names_line_up_with_what_the_options_do() {
        assert_eq!(crate::text::words(LONG).count(), OPTS.len());
        for (i, &short) in SHORT.iter().enumerate() {
            let long = String::from_utf8(long_name(i).to_vec()).unwrap();
            // As the help shows it: `-w, --warmup-time SECS   a new ...`.
            let shown =
                if short == 0 { format!("      --{long} ") } else { format!("  -{}, --{long} ", short as char) };
            let line = HELP.lines().find(|l| l.starts_with(&shown)).unwrap_or_else(|| panic!("{shown}"));
            let next = line.split_whitespace().nth(if short == 0 { 1 } else { 2 }).unwrap();
            let takes_value = !next.chars().any(|c| c.is_ascii_lowercase());
            assert_eq!(OPTS[i].is_flag(), !takes_value, "{long}");
        }
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
            (&["-r", "CHLD:TERM", "x"], "cannot rewrite the reload signal or SIGCHLD"),
            (&["--reload-signal", "USR1", "-r", "USR1:0", "x"], "cannot rewrite the reload signal"),
            (&["--reload-signal", "CHLD", "x"], "--reload-signal cannot be"),
            (&["--stop-signal", "TSTP", "x"], "--stop-signal cannot be"),
            (&["--stop-signal", "18", "x"], "--stop-signal cannot be"),
            (&["--stop-signal", "32", "x"], "invalid value for --stop-signal: '32'"),
            (&["-r", "1:33", "x"], "invalid value for --rewrite: '1:33'"),
            (&["-w", "5", "--ready-timeout", "1", "x"], "--warmup-time must be shorter than --ready-timeout"),
            (&["-w", "2", "--ready-timeout", "2", "x"], "--warmup-time must be shorter"),
            (&["-e", "256", "x"], "invalid value for --success-exit: '256'"),
            (&["-w", "a\nb", "x"], "'a\\x0ab'"),
            (&["--quiet=yes", "x"], "takes no value"),
            (&["--listen", "8080", "x"], "invalid value for --listen"),
            (&["--watch", "", "x"], "invalid value for --watch: '' (expected a path)"),
            (&["--env-file", "", "x"], "invalid value for --env-file: '' (expected a path)"),
            (&["--envdir="], "invalid value for --envdir: '' (expected a path)"),
            (&["--env-file"], "missing value for option '--env-file'"),
            (&["--stop-timeout=1h", "x"], "(expected seconds such as"),
        ];
        for (args, expected) in cases {
            let m = error(args);
            assert!(m.contains(expected), "{args:?}: {m}");
            assert!(!m.contains('\n'), "{m}");
        }
        let long = "9".repeat(2000);
        let m = error(&["--stop-timeout", &long, "x"]);
        assert!(m.len() < 200 && m.contains(&format!("'{}...'", &long[..SHOWN])), "{m}");
    }

    /// parse_duration as it was written before it was made smaller.
    fn reference_duration(text: &[u8]) -> Option<u64> {
        let (number, unit) = if let Some(n) = text.strip_suffix(b"ms") {
            (n, 1_000_000)
        } else if let Some(n) = text.strip_suffix(b"s") {
            (n, NANOS_PER_SEC)
        } else if let Some(n) = text.strip_suffix(b"m") {
            (n, 60 * NANOS_PER_SEC)
        } else {
            (text, NANOS_PER_SEC)
        };
        let (whole, fraction) = split(number, b'.').unwrap_or((number, b""));
        if whole.is_empty() && fraction.is_empty() || whole.len() > 12 || fraction.len() > 9 {
            return None;
        }
        let digits = |s: &[u8]| if s.is_empty() { Some(0) } else { parse_decimal(s) };
        let billionths = digits(fraction)? * 10u64.pow(9 - fraction.len() as u32);
        let fraction_ns = if unit >= NANOS_PER_SEC {
            billionths * (unit / NANOS_PER_SEC)
        } else {
            billionths / (NANOS_PER_SEC / unit)
        };
        digits(whole)?.checked_mul(unit)?.checked_add(fraction_ns)
    }

    #[test]
    fn durations_as_before() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 16) as usize;
            let text: Vec<u8> = (0..len)
                .map(|i| {
                    let pick = (seed >> (4 + 3 * i)) % 16;
                    [b'0', b'1', b'5', b'9', b'9', b'4', b'.', b'm', b's', b'0', b'7', b'3', b'x', b' ', b'9', b'2']
                        [pick as usize]
                })
                .collect();
            assert_eq!(parse_duration(&text), reference_duration(&text), "{:?}", String::from_utf8_lossy(&text));
        }
    }

    #[test]
    fn durations() {
        let parse_duration = |text: &str| parse_duration(text.as_bytes());
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
        assert_eq!(parse_duration("0.5ms"), Some(500_000));
        assert_eq!(parse_duration("18446744073"), Some(18_446_744_073 * NANOS_PER_SEC));
        assert_eq!(parse_duration("18446744074"), None, "past u64 nanoseconds");
        for bad in
            ["", ".", "-1", "+1", "1e3", "abc", "1h", "1.2.3", "0.0000000001", " 1", "99999999999999", "999999999999m"]
        {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
