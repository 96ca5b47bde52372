//! Listening sockets that outlive generations: bound once by hupwatch (or
//! taken over from systemd's socket activation) and handed to every
//! generation as descriptors 3, 4, ... with LISTEN_FDS, LISTEN_PID,
//! LISTEN_FDNAMES and Server::Starter's SERVER_STARTER_PORT. hupwatch itself
//! never accepts a connection.

use crate::log::{self, Fatal};
use crate::path;
use crate::sys::{self, Errno, Fd, SockName};
use crate::text::{Text, fields, parse_decimal};

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
    let port = u16::try_from(parse_decimal(port)?).ok()?;
    let socket = match host.strip_prefix(b"[").and_then(|h| h.strip_suffix(b"]")) {
        _ if host.is_empty() => SockName::Inet([0; 4], port),
        _ if host == b"localhost" => SockName::Inet([127, 0, 0, 1], port),
        Some(h) => SockName::Inet6(parse_ipv6(h)?, port),
        None => SockName::Inet(parse_ipv4(host)?, port),
    };
    Some(Address { socket, text: text.to_vec() })
}

/// Dotted decimal: four numbers 0-255 without leading zeros, as inet_pton
/// reads them.
fn parse_ipv4(text: &[u8]) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = fields(text, b'.');
    for slot in &mut out {
        let part = parts.next()?;
        if part.len() > 1 && part[0] == b'0' {
            return None;
        }
        *slot = u8::try_from(parse_decimal(part)?).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// The groups of one side of an IPv6 address's `::`, as bytes into `out`
/// from `*n` on: up to four hex digits each, and, when `last`, a dotted
/// IPv4 address as the final 32 bits.
fn ipv6_groups(part: &[u8], out: &mut [u8; 16], n: &mut usize, last: bool) -> Option<()> {
    if part.is_empty() {
        return Some(());
    }
    let mut fields = fields(part, b':').peekable();
    while let Some(field) = fields.next() {
        let hex = |f: &[u8]| f.iter().try_fold(0u16, |v, &b| Some(v << 4 | (b as char).to_digit(16)? as u16));
        let value = if (1..=4).contains(&field.len()) { hex(field) } else { None };
        let mut bytes = [0u8; 4];
        let len = match value {
            Some(v) => {
                bytes[..2].copy_from_slice(&v.to_be_bytes());
                2
            }
            None if last && fields.peek().is_none() => {
                bytes = parse_ipv4(field)?;
                4
            }
            None => return None,
        };
        out.get_mut(*n..*n + len)?.copy_from_slice(&bytes[..len]);
        *n += len;
    }
    Some(())
}

/// An IPv6 address in RFC 4291's text forms, as inet_pton reads them:
/// eight groups, or fewer around one `::`, the last 32 bits maybe dotted.
fn parse_ipv6(text: &[u8]) -> Option<[u8; 16]> {
    let gap = text.windows(2).position(|w| w == b"::");
    let (head, tail) = match gap {
        Some(at) => (&text[..at], Some(&text[at + 2..])),
        None => (text, None),
    };
    let (mut first, mut second) = ([0u8; 16], [0u8; 16]);
    let (mut n, mut m) = (0, 0);
    ipv6_groups(head, &mut first, &mut n, tail.is_none())?;
    ipv6_groups(tail.unwrap_or_default(), &mut second, &mut m, true)?;
    // Without `::` all eight groups; with it, it stands for one or more
    // (of two bytes each).
    if (gap.is_none() && n != 16) || (gap.is_some() && n + m > 14) {
        return None;
    }
    first[16 - m..].copy_from_slice(&second[..m]);
    Some(first)
}

/// One socket handed to the generations.
struct Socket {
    fd: Fd,
    /// A unix socket (else TCP).
    unix: bool,
    /// Its LISTEN_FDNAMES entry.
    name: Vec<u8>,
    /// Its SERVER_STARTER_PORT key.
    starter_key: Vec<u8>,
    /// A unix socket path hupwatch created and removes at exit, with the
    /// file's device and inode (so that only that file goes).
    created: Option<(Vec<u8>, (u64, u64))>,
}

pub struct Sockets {
    list: Vec<Socket>,
}

impl Sockets {
    /// Takes over sockets passed to hupwatch by socket activation, then binds
    /// every `--listen` address, and logs each with its descriptor number in
    /// the generations.
    pub fn open(addresses: &[Address]) -> Result<Sockets, Fatal> {
        let mut sockets = Sockets { list: inherited() };
        for address in addresses {
            // On an error, dropping `sockets` removes the socket files already created.
            if let Err((why, errno)) = bind(address, &mut sockets.list) {
                let mut what = Text::new();
                what.text("cannot listen on ").text(kind(address.socket.is_unix())).quoted(&address.text, 256);
                return Err(Fatal { what: what.text(why).as_bytes().to_vec(), errno });
            }
        }
        for (i, socket) in sockets.list.iter().enumerate() {
            log::info(|l| {
                l.text("listening on ").text(kind(socket.unix)).quoted(&socket.starter_key, 4096);
                l.text(" (fd ").num(3 + i as u64).text(")")
            });
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
            starter.extend_from_slice(Text::new().text("=").num(3 + i as u64).as_bytes());
        }
        vec![
            (b"LISTEN_FDS", Text::new().num(self.list.len() as u64).as_bytes().to_vec()),
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
            if sys::stat(path, false).is_ok_and(|now| (now.dev, now.ino) == *created) {
                let _ = sys::unlink(path);
            }
        }
    }
}

/// Sockets from systemd (or any socket activator) meant for hupwatch:
/// LISTEN_PID names hupwatch and LISTEN_FDS counts descriptors from 3.
fn inherited() -> Vec<Socket> {
    let number = |key| parse_decimal(sys::getenv(key)?);
    let count = number(b"LISTEN_FDS").unwrap_or(0).min(1 << 16) as Fd;
    if number(b"LISTEN_PID") != Some(sys::getpid() as u64) || count == 0 {
        return Vec::new();
    }
    let mut names = fields(sys::getenv(b"LISTEN_FDNAMES").unwrap_or_default(), b':');
    let mut list = Vec::new();
    for fd in 3..3 + count {
        let name = names.next().filter(|n| !n.is_empty()).unwrap_or(b"unknown").to_vec();
        // Not passed on to hupwatch's own exec'd children unless handed over.
        if sys::set_cloexec(fd, true).is_err() {
            continue;
        }
        let address = sys::getsockname(fd);
        let unix = address.as_ref().is_some_and(SockName::is_unix);
        let starter_key = address.map_or_else(|| name.clone(), address_text);
        list.push(Socket { fd, unix, starter_key, name, created: None });
    }
    list
}

/// An address as Server::Starter writes it: `127.0.0.1:8000`, `[::1]:80`, a
/// path. IPv6 groups are not compressed.
fn address_text(name: SockName) -> Vec<u8> {
    let (ip, port, v6): (&[u8], u16, bool) = match &name {
        SockName::Inet(ip, port) => (ip, *port, false),
        SockName::Inet6(ip, port) => (ip, *port, true),
        SockName::Unix(path) => return path.clone(),
    };
    let mut text = Text::new();
    // Bytes in decimal joined by dots, or pairs of bytes in hex joined by colons.
    let (open, size, base, separator, close) = if v6 { ("[", 2, 16, ":", "]:") } else { ("", 1, 10, ".", ":") };
    text.text(open);
    for (i, part) in ip.chunks(size).enumerate() {
        text.text(if i == 0 { "" } else { separator });
        text.radix(part.iter().fold(0, |v, &b| v << 8 | b as u64), base);
    }
    text.text(close).num(port as u64);
    text.as_bytes().to_vec()
}

/// A LISTEN_FDNAMES entry: names are separated by colons, so none may hold one.
fn fd_name(text: &[u8]) -> Vec<u8> {
    text.iter().map(|&b| if b == b':' { b'-' } else { b }).collect()
}

/// The prefix of an address's kind, as `--listen` takes it.
fn kind(unix: bool) -> &'static str {
    if unix { "unix:" } else { "tcp:" }
}

/// Why an address could not be bound, after "cannot listen on ADDR": a
/// text to add (empty, or starting with ": ") and the system's reason.
type Failed = (&'static str, Option<Errno>);

/// Binds `address` and adds its socket to `list`.
fn bind(address: &Address, list: &mut Vec<Socket>) -> Result<(), Failed> {
    let Address { socket, text } = address;
    let unix = socket.is_unix();
    let fail = |e| ("", Some(e));
    // A unix socket's file; `@name` is an abstract socket (as in systemd's
    // ListenStream=@name), with no file.
    let file = (unix && !text.starts_with(b"@")).then_some(text);
    if unix && text.len() > 107 {
        return Err((": the path is longer than the 107 bytes a socket address holds", None));
    }
    if let Some(path) = file {
        remove_stale(path)?;
    }
    let fd = sys::socket(socket, libc::SOCK_STREAM).map_err(fail)?;
    if !unix {
        sys::enable_socket_option(fd.0, libc::SO_REUSEADDR).map_err(fail)?;
    }
    sys::bind(fd.0, socket).map_err(fail)?;
    // The file is hupwatch's from here on: it goes when set-up fails now,
    // or with `Sockets` at exit. Its path is kept absolute: hupwatch leaves
    // its start directory once set up.
    let created = file.map(|path| match sys::getcwd() {
        Ok(cwd) => path::join(&cwd, path),
        Err(_) => path.clone(),
    });
    let listening = sys::listen(fd.0, BACKLOG)
        .and_then(|()| created.as_ref().map(|p| sys::stat(p, false).map(|s| (s.dev, s.ino))).transpose());
    let stat = listening.map_err(|e| {
        if let Some(path) = file {
            let _ = sys::unlink(path);
        }
        fail(e)
    })?;
    // Port 0: the kernel chose one, which the generations must know.
    let mut text = text.clone();
    if let SockName::Inet(_, 0) | SockName::Inet6(_, 0) = socket {
        if let Some(SockName::Inet(_, port) | SockName::Inet6(_, port)) = sys::getsockname(fd.0) {
            text.truncate(text.iter().rposition(|&b| b == b':').map_or(0, |i| i + 1));
            text.extend_from_slice(Text::new().num(port as u64).as_bytes());
        }
    }
    let name = match (unix, text.strip_prefix(b"@")) {
        (false, _) => [b"tcp-", &text[..]].concat(),
        (true, Some(abstract_name)) => abstract_name.to_vec(),
        (true, None) => path::file_name(&text).unwrap_or(b"unix").to_vec(),
    };
    list.push(Socket { fd: fd.into_raw(), unix, name: fd_name(&name), starter_key: text, created: created.zip(stat) });
    Ok(())
}

/// A socket file left behind by a crash is replaced; a live socket or a file
/// that is not a socket is an error.
fn remove_stale(path: &[u8]) -> Result<(), Failed> {
    let Ok(stat) = sys::stat(path, false) else { return Ok(()) };
    if !stat.is_socket() {
        return Err((": the path exists and is not a socket", None));
    }
    let address = SockName::Unix(path.to_vec());
    let cannot_check = |e| (": cannot check the existing socket", Some(e));
    let probe = sys::socket(&address, libc::SOCK_STREAM).map_err(cannot_check)?;
    match sys::connect(probe.0, &address) {
        Ok(()) => Err((": a process is listening on it", None)),
        Err(Errno(libc::ECONNREFUSED)) => sys::unlink(path).map_err(|e| (": cannot remove the stale socket", Some(e))),
        Err(e) => Err(cannot_check(e)),
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
    fn parses_ip_addresses_as_inet_pton_does() {
        assert_eq!(parse_ipv4(b"255.0.10.1"), Some([255, 0, 10, 1]));
        for bad in [&b""[..], b"1.2.3", b"1.2.3.4.5", b"256.1.1.1", b"01.1.1.1", b"1..2.3", b"1.2.3.4 ", b"a.b.c.d"] {
            assert_eq!(parse_ipv4(bad), None, "{bad:?}");
        }
        let v6 = |text: &str| {
            parse_ipv6(text.as_bytes())
                .map(|a| a.chunks(2).map(|p| p[0] as u16 * 256 + p[1] as u16).collect::<Vec<_>>())
        };
        assert_eq!(v6("::"), Some(vec![0; 8]));
        assert_eq!(v6("::1"), Some(vec![0, 0, 0, 0, 0, 0, 0, 1]));
        assert_eq!(v6("1::"), Some(vec![1, 0, 0, 0, 0, 0, 0, 0]));
        assert_eq!(v6("2001:DB8::8:800:200c:417a"), Some(vec![0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a]));
        assert_eq!(v6("1:2:3:4:5:6:7:8"), Some(vec![1, 2, 3, 4, 5, 6, 7, 8]));
        assert_eq!(v6("::ffff:1.2.3.4"), Some(vec![0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]));
        assert_eq!(v6("1:2:3:4:5:6:1.2.3.4"), Some(vec![1, 2, 3, 4, 5, 6, 0x0102, 0x0304]));
        for bad in [
            "",
            ":",
            ":::",
            "1:::2",
            "1::2::3",
            ":1",
            "1:",
            "1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4::5:6:7:8",
            "12345::",
            "g::",
            "1.2.3.4::",
            "::1.2.3",
            "::1.2.3.4:5",
            "1:2:3:4:5:6:7:1.2.3.4",
        ] {
            assert_eq!(v6(bad), None, "{bad}");
        }
    }

    #[test]
    fn ipv6_as_the_c_library_reads_it() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut valid = 0;
        for _ in 0..300_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 24) as usize;
            let mut pick = seed;
            let text: Vec<u8> = (0..len)
                .map(|_| {
                    pick = pick.rotate_left(5) ^ 0x5851_f42d;
                    b"0123456789abcdefF:::::......1"[(pick % 29) as usize]
                })
                .collect();
            let expected = crate::sys::inet_pton6(&text);
            valid += expected.is_some() as u32;
            assert_eq!(parse_ipv6(&text), expected, "{:?}", String::from_utf8_lossy(&text));
        }
        assert!(valid > 1000, "only {valid} valid addresses generated");
    }

    #[test]
    fn fd_names_hold_no_colon() {
        assert_eq!(fd_name(b"127.0.0.1:80"), b"127.0.0.1-80");
    }
}
