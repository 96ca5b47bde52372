//! A seeded fuzz test of the command line: thousands of random argument lists built from the
//! real option names and hostile values (invalid UTF-8, control bytes, huge numbers, empty
//! strings, `--`, repeated options), run against the binary with `true`, `false` or the test
//! child as the command. Every run must end by itself (bounded wait), exit 0, 1, 2, 126, 127
//! or with the command's status, never by a signal, and write only well-formed lines to
//! stderr (a usage error: exactly one).
//!
//! The seed is printed; `HUPWATCH_FUZZ_SEED=N` repeats a run, `HUPWATCH_FUZZ_RUNS=N` changes
//! how many argument lists are tried (default 3000, a few seconds).

mod support;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// xorshift64*: small, seeded, good enough to pick test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const FLAGS: &[&str] = &[
    "-g",
    "--process-group",
    "-k",
    "--kill-at-exit",
    "--notify",
    "-v",
    "-vv",
    "--verbose",
    "-q",
    "--quiet",
    "-gk",
    "-kv",
];
const WITH_VALUE: &[&str] = &[
    "-w",
    "--warmup-time",
    "--ready-timeout",
    "--reload-signal",
    "--stop-signal",
    "--stop-timeout",
    "-r",
    "--rewrite",
    "-e",
    "--success-exit",
    "--listen",
    "--watch",
    "--watch-delay",
    "--restart",
    "--watchdog",
    "--env-file",
    "--envdir",
];
const ODD: &[&str] = &["--", "-", "--bogus", "-Z", "--help=x", "--notify=1", "---", "-w=1", "--warmup-time="];

/// Values meant to break parsers: numbers at and past every limit, names, specs, garbage.
fn value(rng: &mut Rng) -> Vec<u8> {
    const TEXT: &[&str] = &[
        "",
        "0",
        "1",
        "0.2",
        "-1",
        "+1",
        ".5",
        "5.",
        "1e3",
        "500ms",
        "2s",
        "1m",
        "1h",
        "18446744073",
        "18446744073.7",
        "18446744074",
        "99999999999999999999999",
        "0.0000000001",
        "TERM",
        "SIGHUP",
        "kill",
        "STOP",
        "CHLD",
        "CONT",
        "TSTP",
        "32",
        "33",
        "34",
        "64",
        "65",
        "RTMIN+30",
        "RTMAX-31",
        "RTMIN+",
        "HUP:TERM",
        "USR1:0",
        "CHLD:TERM",
        "TERM:33",
        ":",
        "0:0",
        "143",
        "255",
        "256",
        "tcp:127.0.0.1:0",
        "tcp:[::1]:0",
        "tcp::0",
        "tcp:1.2.3:80",
        "tcp:[::ffff:1.2.3.4]:0",
        "tcp:localhost:99999",
        "unix:@hupwatch-fuzz",
        "unix:/nonexistent-dir/x.sock",
        "unix:",
        "/nonexistent/watched",
        "/dev/null",
        "/proc/self/environ",
        "--",
        "-w",
        "=",
        // --restart's: each gives up in time (no unlimited restarts of a command that ends).
        "no",
        "on-failure:1",
        "always:1",
        "on-failure:4294967296",
    ];
    match rng.below(6) {
        0 => {
            // Raw bytes: control characters, invalid UTF-8, NUL-free.
            let len = rng.below(12);
            (0..len).map(|_| (rng.next() % 255 + 1) as u8).collect()
        }
        1 => {
            let mut v = rng.pick(TEXT).as_bytes().to_vec();
            v.insert(rng.below(v.len() + 1), *rng.pick(&[b'\n', 0x1b, 0xff, 0xc3, b'\t', 0x7f]));
            v
        }
        2 => vec![*rng.pick(b"9ax\xe9\n"); 1 + rng.below(1500)],
        _ => rng.pick(TEXT).as_bytes().to_vec(),
    }
}

/// One random argument list and the exit status its command would give.
fn arguments(rng: &mut Rng, child: &str) -> (Vec<OsString>, Option<i32>) {
    let mut args: Vec<Vec<u8>> = Vec::new();
    for _ in 0..rng.below(7) {
        match rng.below(10) {
            0..=2 => args.push(rng.pick(FLAGS).as_bytes().to_vec()),
            3..=7 => {
                let option = rng.pick(WITH_VALUE);
                let value = value(rng);
                if option.starts_with("--") && rng.below(3) == 0 {
                    args.push([option.as_bytes(), b"=", &value].concat());
                } else {
                    args.push(option.as_bytes().to_vec());
                    args.push(value);
                }
            }
            8 => args.push(rng.pick(ODD).as_bytes().to_vec()),
            // A stray value may end the options and become the command: never a real one.
            _ => args.push([&b"no-such-command-"[..], &value(rng)].concat()),
        }
    }
    if rng.below(2) == 0 {
        args.push(b"--".to_vec());
    }
    let status = match rng.below(5) {
        0 => None,
        1 => {
            args.push(b"true".to_vec());
            Some(0)
        }
        2 => {
            args.push(b"false".to_vec());
            Some(1)
        }
        _ => {
            let code = rng.below(256) as i32;
            args.extend([child.as_bytes().to_vec(), b"exit".to_vec(), code.to_string().into_bytes()]);
            Some(code)
        }
    };
    (args.into_iter().map(OsString::from_vec).collect(), status)
}

/// Runs one argument list in `dir`; the verdict, `None` when it is fine.
fn check(args: &[OsString], status: Option<i32>, dir: &TempDir, n: usize) -> Option<String> {
    let err_path = dir.join(format!("stderr-{n}"));
    let mut cmd = Command::new(hupwatch_bin());
    cmd.args(args).current_dir(dir.path()).stdin(Stdio::null()).stdout(Stdio::null());
    cmd.stderr(std::fs::File::create(&err_path).unwrap());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Some("did not exit within 20 s".into());
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    let raw = std::fs::read(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&err_path);
    let err = String::from_utf8_lossy(&raw);
    if let Some(sig) = exit.signal() {
        return Some(format!("killed by signal {sig}; stderr {err:?}"));
    }
    let code = exit.code().unwrap();
    if !matches!(code, 0..=2 | 126 | 127) && Some(code) != status {
        return Some(format!("exit {code} (command's: {status:?}); stderr {err:?}"));
    }
    if !err.is_empty() && !err.ends_with('\n') {
        return Some(format!("stderr does not end a line: {err:?}"));
    }
    if let Some(line) = err.lines().find(|l| !l.starts_with("hupwatch: ") && !l.starts_with("hupwatch[")) {
        return Some(format!("a stray line {line:?} in stderr {err:?}"));
    }
    let usage = err.contains("(try 'hupwatch --help')");
    if (usage && err.lines().count() != 1) || (code == 2 && status != Some(2) && !usage) {
        return Some(format!("a usage error that is not one line with the --help hint: {err:?}"));
    }
    if raw.split(|&b| b == b'\n').any(|l| l.len() > 1024) {
        return Some(format!("a line over the cap: {err:?}"));
    }
    None
}

#[test]
fn random_command_lines_never_crash_hang_or_spill_lines() {
    let seed = std::env::var("HUPWATCH_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    let runs: usize = std::env::var("HUPWATCH_FUZZ_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(3000);
    println!("cli_fuzz: seed {seed} ({runs} runs; repeat with HUPWATCH_FUZZ_SEED={seed})");
    eprintln!("cli_fuzz: seed {seed} ({runs} runs; repeat with HUPWATCH_FUZZ_SEED={seed})");
    let child = child_bin().to_string_lossy().into_owned();
    let mut rng = Rng(seed);
    let cases: Vec<(Vec<OsString>, Option<i32>)> = (0..runs).map(|_| arguments(&mut rng, &child)).collect();
    let workers = 4;
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let cases = &cases;
                scope.spawn(move || {
                    let dir = TempDir::new("fuzz");
                    let mut failures = Vec::new();
                    for (n, (args, status)) in cases.iter().enumerate().skip(w).step_by(workers) {
                        if let Some(why) = check(args, *status, &dir, n) {
                            failures.push(format!("#{n} {args:?}: {why}"));
                        }
                    }
                    failures
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {runs} runs failed:\n{}",
        failures.len(),
        failures.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}
