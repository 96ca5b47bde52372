//! hupwatch: wraps a server command, turns the reload signal into a
//! zero-downtime reload, and behaves as a correct PID 1.
//!
//! `main` here only parses, runs and turns the outcome into an exit status.
//! It is the C entry point: the crate is `no_main`, so that Rust's runtime
//! never touches the signal state the children inherit.
#![cfg_attr(not(test), no_main)]
#![deny(unsafe_code)]

mod cli;
mod envfile;
mod event_loop;
mod listen;
mod log;
mod notify;
mod path;
mod report;
mod signals;
mod spawn;
mod supervisor;
mod sys;
mod text;
mod watch;

use std::ffi::OsString;
use text::Text;

/// Exit status for a usage error.
const EXIT_USAGE: i32 = 2;
/// Exit status for hupwatch's own failure.
const EXIT_FATAL: i32 = 1;

/// The C entry point. hupwatch is built with `#![no_main]`, so Rust's runtime
/// start-up never runs: it would set SIGPIPE to ignored and install stack
/// overflow handlers, and the children must see the caller's signal state.
/// No unsafe code here: `no_mangle` only names the symbol the C runtime
/// calls, and `sys::Argv` reads the arguments.
#[cfg(not(test))]
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
extern "C" fn main(argc: core::ffi::c_int, argv: sys::Argv) -> core::ffi::c_int {
    run_main(argv.collect(argc))
}

#[cfg_attr(test, allow(dead_code))]
fn run_main(args: Vec<OsString>) -> i32 {
    match cli::parse(args.into_iter().skip(1)) {
        Ok(cli::Parsed::Help) => print(cli::HELP),
        Ok(cli::Parsed::Version) => print(cli::VERSION),
        Err(cli::UsageError(message)) => {
            log::emit(Text::new().text("hupwatch: ").bytes(&message).text(" (try 'hupwatch --help')"));
            EXIT_USAGE
        }
        Ok(cli::Parsed::Run(config)) => match event_loop::run(config) {
            Ok(code) => code as i32,
            Err(fatal) => {
                fatal.emit();
                EXIT_FATAL
            }
        },
    }
}

#[cfg_attr(test, allow(dead_code))]
fn print(text: &str) -> i32 {
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        match sys::write(1, rest) {
            Ok(n) => rest = &rest[n..],
            Err(_) => return EXIT_FATAL,
        }
    }
    0
}
