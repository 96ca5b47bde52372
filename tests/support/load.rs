//! Client load for the hand-off tests: TCP ports and connections to the test server, and a
//! client thread that keeps connecting while generations change.

use super::{LONG, answer};
use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked it, we let it go).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

/// Connects to 127.0.0.1:port; returns the pid of the generation that answered.
pub fn ask_tcp(port: u16) -> io::Result<i32> {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(LONG))?;
    answer(stream)
}

/// A client that connects again and again until told to stop, keeping every outcome.
pub struct Client {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<io::Result<i32>>>,
    /// The pid that answered last.
    pub last: Arc<AtomicI32>,
    /// How many connections were made so far.
    made: Arc<AtomicUsize>,
}

impl Client {
    pub fn start(ask: impl Fn() -> io::Result<i32> + Send + 'static) -> Client {
        let stop = Arc::new(AtomicBool::new(false));
        let last = Arc::new(AtomicI32::new(0));
        let made = Arc::new(AtomicUsize::new(0));
        let (s, l, m) = (stop.clone(), last.clone(), made.clone());
        let thread = std::thread::spawn(move || {
            let mut outcomes = Vec::new();
            while !s.load(Ordering::SeqCst) {
                let outcome = ask();
                if let Ok(pid) = outcome {
                    l.store(pid, Ordering::SeqCst);
                }
                outcomes.push(outcome);
                m.store(outcomes.len(), Ordering::SeqCst);
                // Pacing, not waiting: at full speed the TIME_WAIT connections of a few
                // seconds would use up the ephemeral ports.
                std::thread::sleep(Duration::from_millis(1));
            }
            outcomes
        });
        Client { stop, thread, last, made }
    }

    /// The pid that answered last (0 before any answer).
    pub fn last(&self) -> i32 {
        self.last.load(Ordering::SeqCst)
    }

    /// How many connections were made (and answered or failed) so far.
    pub fn made(&self) -> usize {
        self.made.load(Ordering::SeqCst)
    }

    /// Stops the client; every outcome, in order.
    pub fn finish(self) -> Vec<io::Result<i32>> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// The failed outcomes of a client, as text.
pub fn failures(outcomes: &[io::Result<i32>]) -> Vec<String> {
    outcomes.iter().filter_map(|o| o.as_ref().err()).map(|e| e.to_string()).collect()
}
