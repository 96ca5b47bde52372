//! Listening sockets that outlive generations: bound once by hupwatch (or
//! taken over from systemd's socket activation) and handed to every
//! generation as descriptors 3, 4, ... with LISTEN_FDS, LISTEN_PID,
//! LISTEN_FDNAMES and Server::Starter's SERVER_STARTER_PORT. hupwatch itself
//! never accepts a connection.

use crate::cli;
use crate::log::{Fatal, Line};
use crate::path;
use crate::sys::{self, Errno, Fd, SockName, Stat};

/// Linux caps the backlog at net.core.somaxconn; ask for the most. A reload
/// under load queues connections while the new generation's workers boot.
const BACKLOG: i32 = 4096;

/// Where to listen, as given to `--listen`: the socket address, and the
/// text after `tcp:` or `unix:` (`127.0.0.1:8000`, a path, `@name` for an
/// abstract socket) for names and messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    pub socket: SockName,
    pub text: Vec<u8>,
}

/// Parses `tcp:HOST:PORT` (HOST an IPv4 address, `[IPv6]`, `localhost`, or
/// empty for all IPv4 addresses) and `unix:PATH`.
pub fn parse(spec: &[u8]) -> Option<Address> {
    if let Some(path) = spec.strip_prefix(b"unix:") {
        let text = path.to_vec();
        return (!path.is_empty()).then(|| Address { socket: SockName::Unix(text.clone()), text });
    }
    let text = spec.strip_prefix(b"tcp:")?;
    let colon = text.iter().rposition(|&b| b == b':')?;
    let (host, port) = (&text[..colon], &text[colon + 1..]);
    let port = u16::try_from(cli::parse_decimal(port)?).ok()?;
    let mut v4 = [0; 4];
    let mut v6 = [0; 16];
    let socket = match host.strip_prefix(b"[").and_then(|h| h.strip_suffix(b"]")) {
        _ if host.is_empty() => SockName::Inet(v4, port),
        _ if host == b"localhost" => SockName::Inet([127, 0, 0, 1], port),
        Some(h) => sys::parse_ip(h, &mut v6).then_some(SockName::Inet6(v6, port))?,
        None => sys::parse_ip(host, &mut v4).then_some(SockName::Inet(v4, port))?,
    };
    Some(Address { socket, text: text.to_vec() })
}

/// One socket handed to the generations.
struct Socket {
    fd: Fd,
    /// Its LISTEN_FDNAMES entry.
    name: Vec<u8>,
    /// Its SERVER_STARTER_PORT key.
    starter_key: Vec<u8>,
    /// A unix socket path hupwatch created and removes at exit.
    created: Option<(Vec<u8>, Stat)>,
}

pub struct Sockets {
    list: Vec<Socket>,
}

impl Sockets {
    /// Takes over sockets passed to hupwatch by socket activation, then binds
    /// every `--listen` address.
    pub fn open(addresses: &[Address]) -> Result<Sockets, Fatal> {
        let mut sockets = Sockets { list: inherited() };
        for address in addresses {
            // On an error, dropping `sockets` removes the socket files already created.
            sockets.list.push(bind(address)?);
        }
        // Move every socket above the range 3..3+n it is handed over in, so
        // that placing one in a child never overwrites another.
        let first_free = 3 + sockets.list.len() as Fd;
        for socket in &mut sockets.list {
            if socket.fd < first_free {
                let moved = sys::dup_above(socket.fd, first_free).map_err(Fatal::with(b"cannot move a socket"))?;
                sys::close(socket.fd);
                socket.fd = moved;
            }
        }
        Ok(sockets)
    }

    pub fn fds(&self) -> Vec<Fd> {
        self.list.iter().map(|s| s.fd).collect()
    }

    /// The variables every generation gets besides LISTEN_PID (its own pid,
    /// filled in by the child).
    pub fn environment(&self) -> Vec<(&'static [u8], Vec<u8>)> {
        if self.list.is_empty() {
            return Vec::new();
        }
        let mut names = Vec::new();
        let mut starter = Vec::new();
        for (i, s) in self.list.iter().enumerate() {
            if i > 0 {
                names.push(b':');
                starter.push(b';');
            }
            names.extend_from_slice(&s.name);
            starter.extend_from_slice(&s.starter_key);
            starter.extend_from_slice(Line::bare().text("=").num(3 + i as u64).as_bytes());
        }
        vec![
            (b"LISTEN_FDS", Line::bare().num(self.list.len() as u64).as_bytes().to_vec()),
            (b"LISTEN_FDNAMES", names),
            (b"SERVER_STARTER_PORT", starter),
        ]
    }
}

impl Drop for Sockets {
    /// However hupwatch ends (an error during set-up included), the socket
    /// files it created go, if they are still its own. Never runs in a
    /// child: it execs or _exits.
    fn drop(&mut self) {
        for (path, created) in self.list.iter().filter_map(|s| s.created.as_ref()) {
            if sys::stat(path, false).is_ok_and(|now| now.same_file(created)) {
                let _ = sys::unlink(path);
            }
        }
    }
}

/// Sockets from systemd (or any socket activator) meant for hupwatch:
/// LISTEN_PID names hupwatch and LISTEN_FDS counts descriptors from 3.
fn inherited() -> Vec<Socket> {
    let number = |key| cli::parse_decimal(sys::getenv(key)?);
    let count = number(b"LISTEN_FDS").unwrap_or(0).min(1 << 16) as Fd;
    if number(b"LISTEN_PID") != Some(sys::getpid() as u64) || count == 0 {
        return Vec::new();
    }
    let mut names = sys::getenv(b"LISTEN_FDNAMES").unwrap_or_default().split(|&b| b == b':');
    let mut list = Vec::new();
    for fd in 3..3 + count {
        let name = names.next().filter(|n| !n.is_empty()).unwrap_or(b"unknown").to_vec();
        // Not passed on to hupwatch's own exec'd children unless handed over.
        if sys::set_cloexec(fd, true).is_err() {
            continue;
        }
        let starter_key = sys::getsockname(fd).map_or_else(|| name.clone(), address_text);
        list.push(Socket { fd, starter_key, name, created: None });
    }
    list
}

/// An address as Server::Starter writes it: `127.0.0.1:8000`, `[::1]:80`, a
/// path. IPv6 groups are not compressed.
fn address_text(name: SockName) -> Vec<u8> {
    let mut text = Line::bare();
    match name {
        SockName::Inet(ip, port) => {
            for (i, octet) in ip.iter().enumerate() {
                text.text(if i == 0 { "" } else { "." }).num(*octet as u64);
            }
            text.text(":").num(port as u64);
        }
        SockName::Inet6(ip, port) => {
            text.text("[");
            for (i, group) in ip.chunks(2).enumerate() {
                text.text(if i == 0 { "" } else { ":" });
                let group = u16::from_be_bytes([group[0], group[1]]);
                let digits = [group >> 12, group >> 8 & 0xf, group >> 4 & 0xf, group & 0xf];
                let first = digits.iter().position(|&d| d != 0).unwrap_or(3);
                for &d in &digits[first..] {
                    text.bytes(&[b"0123456789abcdef"[d as usize]]);
                }
            }
            text.text("]:").num(port as u64);
        }
        SockName::Unix(path) => return path,
    }
    text.as_bytes().to_vec()
}

/// A LISTEN_FDNAMES entry: names are separated by colons, so none may hold one.
fn fd_name(text: &[u8]) -> Vec<u8> {
    text.iter().map(|&b| if b == b':' { b'-' } else { b }).collect()
}

fn bind(address: &Address) -> Result<Socket, Fatal> {
    let Address { socket, text } = address;
    let unix = matches!(socket, SockName::Unix(_));
    let prefix: &[u8] = if unix { b"unix:" } else { b"tcp:" };
    let what = [b"cannot listen on ", prefix, text].concat();
    let fail = |e: Errno| Fatal { what: what.clone(), errno: Some(e) };
    // A unix socket's file; `@name` is an abstract socket (as in systemd's
    // ListenStream=@name), with no file.
    let file = (unix && !text.starts_with(b"@")).then_some(text);
    if unix && text.len() > 107 {
        return Err(Fatal::message(&[&what, b": the path is longer than the 107 bytes a socket address holds"]));
    }
    if let Some(path) = file {
        remove_stale(path).map_err(|why| Fatal::message(&[&what, b": ", &why.what]).errno(why.errno))?;
    }
    let fd = sys::socket(socket, libc::SOCK_STREAM).map_err(fail)?;
    if !unix {
        sys::enable_socket_option(fd.0, libc::SO_REUSEADDR).map_err(fail)?;
    }
    sys::bind(fd.0, socket).map_err(fail)?;
    // The file is hupwatch's from here on: it goes when set-up fails now,
    // or with `Sockets` at exit.
    let listening = sys::listen(fd.0, BACKLOG).and_then(|()| file.map(|path| sys::stat(path, false)).transpose());
    let stat = listening.map_err(|e| {
        if let Some(path) = file {
            let _ = sys::unlink(path);
        }
        fail(e)
    })?;
    let name = match (unix, text.strip_prefix(b"@")) {
        (false, _) => [b"tcp-", &text[..]].concat(),
        (true, Some(abstract_name)) => abstract_name.to_vec(),
        (true, None) => path::file_name(text).unwrap_or(b"unix").to_vec(),
    };
    Ok(Socket {
        fd: fd.into_raw(),
        name: fd_name(&name),
        starter_key: text.clone(),
        created: file.zip(stat).map(|(path, stat)| (path.clone(), stat)),
    })
}

/// A socket file left behind by a crash is replaced; a live socket or a file
/// that is not a socket is an error.
fn remove_stale(path: &[u8]) -> Result<(), Fatal> {
    let Ok(stat) = sys::stat(path, false) else { return Ok(()) };
    if !stat.is_socket() {
        return Err(Fatal::message(&[b"the path exists and is not a socket"]));
    }
    let address = SockName::Unix(path.to_vec());
    let probe = sys::socket(&address, libc::SOCK_STREAM).map_err(Fatal::with(b"cannot check the existing socket"))?;
    match sys::connect(probe.0, &address) {
        Ok(()) => Err(Fatal::message(&[b"a process is listening on it"])),
        Err(Errno(libc::ECONNREFUSED)) => sys::unlink(path).map_err(Fatal::with(b"cannot remove the stale socket")),
        Err(e) => Err(Fatal::with(b"cannot check the existing socket")(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: SockName) -> String {
        String::from_utf8(address_text(name)).unwrap()
    }

    #[test]
    fn formats_socket_addresses_without_display() {
        assert_eq!(text(SockName::Inet([127, 0, 0, 1], 8000)), "127.0.0.1:8000");
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        v6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        assert_eq!(text(SockName::Inet6(v6, 80)), "[2001:db8:0:0:0:0:0:1]:80");
        assert_eq!(text(SockName::Unix(b"@name".to_vec())), "@name");
    }

    #[test]
    fn parses_addresses() {
        let tcp = |socket: SockName, text: &str| Some(Address { socket, text: text.as_bytes().to_vec() });
        let parse = |spec: &str| parse(spec.as_bytes());
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        assert_eq!(parse("tcp:127.0.0.1:8000"), tcp(SockName::Inet([127, 0, 0, 1], 8000), "127.0.0.1:8000"));
        assert_eq!(parse("tcp:[::1]:80"), tcp(SockName::Inet6(v6, 80), "[::1]:80"));
        assert_eq!(parse("tcp::8080"), tcp(SockName::Inet([0; 4], 8080), ":8080"));
        assert_eq!(parse("tcp:localhost:1"), tcp(SockName::Inet([127, 0, 0, 1], 1), "localhost:1"));
        let unix = SockName::Unix(b"/run/app.sock".to_vec());
        assert_eq!(parse("unix:/run/app.sock"), Some(Address { socket: unix, text: b"/run/app.sock".to_vec() }));
        for bad in [
            "",
            "tcp:",
            "tcp:1.2.3.4",
            "tcp:1.2.3.4:99999",
            "tcp:01.2.3.4:80",
            "tcp:1.2.3:80",
            "tcp:::1:80",
            "tcp:[1.2.3.4]:80",
            "tcp:host.example:80",
            "unix:",
            "udp:1.2.3.4:5",
            "8080",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn fd_names_hold_no_colon() {
        assert_eq!(fd_name(b"127.0.0.1:80"), b"127.0.0.1-80");
    }
}
