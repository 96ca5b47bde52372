//! Listening sockets that outlive generations: bound once by hupwatch (or
//! taken over from systemd's socket activation) and handed to every
//! generation as descriptors 3, 4, ... with LISTEN_FDS, LISTEN_PID,
//! LISTEN_FDNAMES and Server::Starter's SERVER_STARTER_PORT. hupwatch itself
//! never accepts a connection.

use crate::log::decimal;
use crate::sys::{self, Fd};
use std::ffi::OsString;
use std::io;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::io::IntoRawFd;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Linux caps the backlog at net.core.somaxconn; ask for the most. A reload
/// under load queues connections while the new generation's workers boot.
const BACKLOG: i32 = 4096;

/// Where to listen, as given to `--listen`. A TCP address keeps the text the
/// user gave (`127.0.0.1:8000`) for names and messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    Tcp(std::net::SocketAddr, String),
    Unix(PathBuf),
}

/// Parses `tcp:HOST:PORT` (HOST an IPv4 address, `[IPv6]`, `localhost`, or
/// empty for all IPv4 addresses) and `unix:PATH`.
pub fn parse(spec: &str) -> Option<Address> {
    if let Some(path) = spec.strip_prefix("unix:") {
        return (!path.is_empty()).then(|| Address::Unix(PathBuf::from(path)));
    }
    let rest = spec.strip_prefix("tcp:")?;
    let (host, port) = rest.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let ip = match host {
        "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        _ => match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => IpAddr::V6(v6.parse().ok()?),
            None => IpAddr::V4(host.parse().ok()?),
        },
    };
    Some(Address::Tcp(std::net::SocketAddr::new(ip, port), rest.to_owned()))
}

/// One socket handed to the generations.
struct Socket {
    fd: Fd,
    /// Its LISTEN_FDNAMES entry.
    name: String,
    /// Its SERVER_STARTER_PORT key.
    starter_key: String,
    /// A unix socket path hupwatch created and removes at exit (dev, inode).
    created: Option<(PathBuf, u64, u64)>,
}

pub struct Sockets {
    list: Vec<Socket>,
}

/// Why a socket could not be set up: a one-line message for the fatal error.
pub type SetupError = String;

impl Sockets {
    /// Takes over sockets passed to hupwatch by socket activation, then binds
    /// every `--listen` address.
    pub fn open(addresses: &[Address]) -> Result<Sockets, SetupError> {
        let mut sockets = Sockets { list: inherited() };
        for address in addresses {
            match bind(address) {
                Ok(socket) => sockets.list.push(socket),
                // Dropping `sockets` removes the socket files already created.
                Err(e) => return Err(e),
            }
        }
        // Move every socket above the range 3..3+n it is handed over in, so
        // that placing one in a child never overwrites another.
        let first_free = 3 + sockets.list.len() as Fd;
        for i in 0..sockets.list.len() {
            let fd = sockets.list[i].fd;
            if fd < first_free {
                match sys::dup_above(fd, first_free) {
                    Ok(moved) => {
                        sys::close(fd);
                        sockets.list[i].fd = moved;
                    }
                    Err(e) => return Err(errno_message("cannot move a socket", e)),
                }
            }
        }
        Ok(sockets)
    }

    pub fn fds(&self) -> Vec<Fd> {
        self.list.iter().map(|s| s.fd).collect()
    }

    /// The variables every generation gets besides LISTEN_PID (its own pid,
    /// filled in by the child).
    pub fn environment(&self) -> Vec<(String, OsString)> {
        if self.list.is_empty() {
            return Vec::new();
        }
        let names: Vec<&str> = self.list.iter().map(|s| s.name.as_str()).collect();
        let starter: Vec<String> = self
            .list
            .iter()
            .enumerate()
            .map(|(i, s)| [s.starter_key.as_str(), "=", &decimal(3 + i as u64)].concat())
            .collect();
        vec![
            ("LISTEN_FDS".into(), decimal(self.list.len() as u64).into()),
            ("LISTEN_FDNAMES".into(), names.join(":").into()),
            ("SERVER_STARTER_PORT".into(), starter.join(";").into()),
        ]
    }

    /// Removes the unix socket paths hupwatch created, if they are still its own.
    fn remove_paths(&self) {
        for (path, dev, ino) in self.list.iter().filter_map(|s| s.created.as_ref()) {
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.dev() == *dev && m.ino() == *ino) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

impl Drop for Sockets {
    /// However hupwatch ends (an error during set-up included), the socket
    /// files it created go. Never runs in a child: it execs or _exits.
    fn drop(&mut self) {
        self.remove_paths();
    }
}

fn errno_message(what: &str, e: sys::Errno) -> String {
    [what, ": ", &String::from_utf8_lossy(sys::strerror(e))].concat()
}

fn io_message(what: &str, e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => errno_message(what, sys::Errno(n)),
        None => [what, ": failed"].concat(),
    }
}

/// Sockets from systemd (or any socket activator) meant for hupwatch:
/// LISTEN_PID names hupwatch and LISTEN_FDS counts descriptors from 3.
fn inherited() -> Vec<Socket> {
    let var = |name| std::env::var(name).ok();
    let ours = var("LISTEN_PID").and_then(|p| p.parse::<i32>().ok()) == Some(sys::getpid());
    let count = var("LISTEN_FDS").and_then(|n| n.parse::<i32>().ok()).unwrap_or(0);
    if !ours || count <= 0 {
        return Vec::new();
    }
    let names = var("LISTEN_FDNAMES").unwrap_or_default();
    let mut names = names.split(':');
    (0..count)
        .filter_map(|i| {
            let fd = 3 + i;
            let name = names.next().filter(|n| !n.is_empty()).unwrap_or("unknown").to_string();
            // Not passed on to hupwatch's own exec'd children unless handed over.
            sys::set_cloexec(fd, true).ok()?;
            let starter_key = sys::getsockname(fd).map_or_else(|| name.clone(), address_text);
            Some(Socket { fd, starter_key, name, created: None })
        })
        .collect()
}

/// An address as Server::Starter writes it: `127.0.0.1:8000`, `[::1]:80`, a path.
/// Written by hand: the Display impls of the address types would bring the
/// formatting machinery into the binary. IPv6 groups are not compressed.
fn address_text(name: sys::SockName) -> String {
    let mut text = String::new();
    match name {
        sys::SockName::Inet(ip, port) => {
            for (i, octet) in ip.iter().enumerate() {
                text.push_str(if i == 0 { "" } else { "." });
                text.push_str(&decimal(*octet as u64));
            }
            text.push(':');
            text.push_str(&decimal(port as u64));
        }
        sys::SockName::Inet6(ip, port) => {
            text.push('[');
            for (i, group) in ip.chunks(2).enumerate() {
                text.push_str(if i == 0 { "" } else { ":" });
                let group = u16::from_be_bytes([group[0], group[1]]);
                let digits = [group >> 12, group >> 8 & 0xf, group >> 4 & 0xf, group & 0xf];
                let first = digits.iter().position(|&d| d != 0).unwrap_or(3);
                text.extend(digits[first..].iter().map(|&d| char::from(b"0123456789abcdef"[d as usize])));
            }
            text.push_str("]:");
            text.push_str(&decimal(port as u64));
        }
        sys::SockName::Unix(path) => text.push_str(&String::from_utf8_lossy(&path)),
    }
    text
}

/// The longest path a unix socket address holds (sun_path less its NUL).
const MAX_UNIX_PATH: usize = 107;

fn bind(address: &Address) -> Result<Socket, SetupError> {
    match address {
        Address::Tcp(addr, text) => {
            let what = ["cannot listen on tcp:", text].concat();
            let listener = TcpListener::bind(addr).map_err(|e| io_message(&what, &e))?;
            let fd = listener.into_raw_fd();
            sys::listen(fd, BACKLOG).map_err(|e| errno_message(&what, e))?;
            let name = ["tcp-", &text.replace(':', "-")].concat();
            Ok(Socket { fd, name, starter_key: text.clone(), created: None })
        }
        Address::Unix(path) => {
            let what = ["cannot listen on unix:", &path.to_string_lossy()].concat();
            let bytes = path.as_os_str().as_bytes();
            if bytes.len() > MAX_UNIX_PATH {
                return Err([what.as_str(), ": the path is longer than the 107 bytes a socket address holds"].concat());
            }
            // `@name`: an abstract socket, as in systemd's ListenStream=@name.
            if let Some(abstract_name) = bytes.strip_prefix(b"@") {
                let addr = SocketAddr::from_abstract_name(abstract_name).map_err(|e| io_message(&what, &e))?;
                let listener = UnixListener::bind_addr(&addr).map_err(|e| io_message(&what, &e))?;
                let fd = listener.into_raw_fd();
                sys::listen(fd, BACKLOG).map_err(|e| errno_message(&what, e))?;
                let name = String::from_utf8_lossy(abstract_name).replace(':', "-");
                let starter_key = String::from_utf8_lossy(bytes).into_owned();
                return Ok(Socket { fd, name, starter_key, created: None });
            }
            remove_stale(path).map_err(|m| [what.as_str(), ": ", &m].concat())?;
            let listener = UnixListener::bind(path).map_err(|e| io_message(&what, &e))?;
            let meta = std::fs::symlink_metadata(path).map_err(|e| io_message(&what, &e))?;
            let fd = listener.into_raw_fd();
            sys::listen(fd, BACKLOG).map_err(|e| errno_message(&what, e))?;
            let name = path.file_name().map_or("unix".into(), |n| n.to_string_lossy().replace(':', "-"));
            let starter_key = path.to_string_lossy().into_owned();
            Ok(Socket { fd, name, starter_key, created: Some((path.clone(), meta.dev(), meta.ino())) })
        }
    }
}

/// A socket file left behind by a crash is replaced; a live socket or a file
/// that is not a socket is an error.
fn remove_stale(path: &Path) -> Result<(), String> {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return Ok(()) };
    if !meta.file_type().is_socket() {
        return Err("the path exists and is not a socket".into());
    }
    match UnixStream::connect(path) {
        Ok(_) => Err("a process is listening on it".into()),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            std::fs::remove_file(path).map_err(|e| io_message("cannot remove the stale socket", &e))
        }
        Err(e) => Err(io_message("cannot check the existing socket", &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_socket_addresses_without_display() {
        assert_eq!(address_text(sys::SockName::Inet([127, 0, 0, 1], 8000)), "127.0.0.1:8000");
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        v6[0] = 0x20;
        v6[1] = 0x01;
        v6[2] = 0x0d;
        v6[3] = 0xb8;
        assert_eq!(address_text(sys::SockName::Inet6(v6, 80)), "[2001:db8:0:0:0:0:0:1]:80");
        assert_eq!(address_text(sys::SockName::Unix(b"@name".to_vec())), "@name");
    }

    #[test]
    fn parses_addresses() {
        let tcp = |s: &str, text: &str| Address::Tcp(s.parse().unwrap(), text.into());
        assert_eq!(parse("tcp:127.0.0.1:8000"), Some(tcp("127.0.0.1:8000", "127.0.0.1:8000")));
        assert_eq!(parse("tcp:[::1]:80"), Some(tcp("[::1]:80", "[::1]:80")));
        assert_eq!(parse("tcp::8080"), Some(tcp("0.0.0.0:8080", ":8080")));
        assert_eq!(parse("tcp:localhost:1"), Some(tcp("127.0.0.1:1", "localhost:1")));
        assert_eq!(parse("unix:/run/app.sock"), Some(Address::Unix("/run/app.sock".into())));
        for bad in [
            "",
            "tcp:",
            "tcp:1.2.3.4",
            "tcp:1.2.3.4:99999",
            "tcp:::1:80",
            "tcp:host.example:80",
            "unix:",
            "udp:1.2.3.4:5",
            "8080",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
