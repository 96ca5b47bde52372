//! The clock the tests, the test server (tests/support/server.rs, which includes this file)
//! and hupwatch share: CLOCK_MONOTONIC, so that a time one of them wrote down can be compared
//! with a time another one measured.

/// CLOCK_MONOTONIC now, in nanoseconds.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
