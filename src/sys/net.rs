//! Sockets: the addresses hupwatch binds, connects and sends to, listening,
//! and notify messages with their sender's credentials. Raw system calls
//! throughout: musl's wrappers add cancellation points (connect, sendto)
//! and a call each to its syscall shim, 260 bytes for nothing here.
#![allow(unsafe_code)]

use super::*;
use core::ffi::c_int;

/// send(2) without blocking and without SIGPIPE, the flags given per call
/// so that the descriptor's shared open file description stays as it is.
pub fn send_nonblocking(fd: Fd, buf: &[u8]) -> Result<usize, Errno> {
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    // SAFETY: buf is readable for its length; no address.
    cvt_long(unsafe {
        libc::syscall(libc::SYS_sendto, fd, buf.as_ptr(), buf.len(), flags, core::ptr::null::<u8>(), 0usize)
    })
    .map(|n| n as usize)
}

/// listen(2) again on a bound socket: raises the backlog to `backlog`.
pub fn listen(fd: Fd, backlog: c_int) -> Result<(), Errno> {
    // SAFETY: plain system call on integers.
    cvt_long(unsafe { libc::syscall(libc::SYS_listen, fd, backlog) }).map(drop)
}

/// Turns on a boolean SOL_SOCKET option (SO_REUSEADDR, SO_PASSCRED).
pub fn enable_socket_option(fd: Fd, option: c_int) -> Result<(), Errno> {
    let on: c_int = 1;
    let len = core::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: on is a valid int of the given length.
    cvt_long(unsafe { libc::syscall(libc::SYS_setsockopt, fd, libc::SOL_SOCKET, option, &on as *const c_int, len) })
        .map(drop)
}

/// A close-on-exec socket of the address's family.
pub fn socket(address: &SockName, kind: c_int) -> Result<OwnedFd, Errno> {
    let family = match address {
        SockName::Inet(..) => libc::AF_INET,
        SockName::Inet6(..) => libc::AF_INET6,
        SockName::Unix(_) => libc::AF_UNIX,
    };
    // SAFETY: plain system call on integers.
    cvt_long(unsafe { libc::syscall(libc::SYS_socket, family, kind | libc::SOCK_CLOEXEC, 0) })
        .map(|fd| OwnedFd(fd as Fd))
}

/// A socket address in the kernel's layout, as bytes: the family, then for
/// IP the port (big-endian) and the address (at 4 for IPv4, 8 for IPv6),
/// for unix the path. Aligned like sockaddr_storage, whose size it has.
#[repr(C, align(8))]
struct RawAddress([u8; 128]);

/// The sizes of sockaddr_in, sockaddr_in6 and sockaddr_un.
const INET_LEN: usize = 16;
const INET6_LEN: usize = 28;
const UNIX_LEN: usize = 110;

impl RawAddress {
    fn ptr(&self) -> *const libc::sockaddr {
        self.0.as_ptr() as *const libc::sockaddr
    }
}

/// An address in the kernel's layout, and its length.
fn raw_address(address: &SockName) -> Result<(RawAddress, libc::socklen_t), Errno> {
    let mut raw = RawAddress([0; 128]);
    let b = &mut raw.0;
    let (family, len) = match address {
        SockName::Inet(ip, port) => {
            b[2..4].copy_from_slice(&port.to_be_bytes());
            b[4..8].copy_from_slice(ip);
            (libc::AF_INET, INET_LEN)
        }
        SockName::Inet6(ip, port) => {
            b[2..4].copy_from_slice(&port.to_be_bytes());
            b[8..24].copy_from_slice(ip);
            (libc::AF_INET6, INET6_LEN)
        }
        SockName::Unix(path) => {
            // `@name` is abstract: a leading NUL and no terminating one.
            let (bytes, start, nul) = match path.strip_prefix(b"@") {
                Some(name) => (name, 3, 0),
                None => (&path[..], 2, 1),
            };
            let end = start + bytes.len();
            if end + nul > UNIX_LEN {
                return Err(Errno(libc::ENAMETOOLONG));
            }
            if nul == 1 && has_nul(bytes) {
                return Err(Errno(libc::EINVAL));
            }
            b[start..end].copy_from_slice(bytes);
            (libc::AF_UNIX, end + nul)
        }
    };
    b[..2].copy_from_slice(&(family as libc::sa_family_t).to_ne_bytes());
    Ok((raw, len as libc::socklen_t))
}

pub fn bind(fd: Fd, address: &SockName) -> Result<(), Errno> {
    let (raw, len) = raw_address(address)?;
    // SAFETY: raw holds a valid address of length len.
    cvt_long(unsafe { libc::syscall(libc::SYS_bind, fd, raw.ptr(), len) }).map(drop)
}

pub fn connect(fd: Fd, address: &SockName) -> Result<(), Errno> {
    let (raw, len) = raw_address(address)?;
    // SAFETY: raw holds a valid address of length len.
    cvt_r(|| cvt_long(unsafe { libc::syscall(libc::SYS_connect, fd, raw.ptr(), len) })).map(drop)
}

/// Sends one datagram without blocking and without SIGPIPE.
pub fn send_to(fd: Fd, buf: &[u8], address: &SockName) -> Result<usize, Errno> {
    let (raw, len) = raw_address(address)?;
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    // SAFETY: buf is readable for its length; raw holds a valid address of length len.
    cvt_long(unsafe { libc::syscall(libc::SYS_sendto, fd, buf.as_ptr(), buf.len(), flags, raw.ptr(), len) })
        .map(|n| n as usize)
}

/// Receives one datagram without blocking, with the sender's pid from
/// SCM_CREDENTIALS (`None` when the kernel attached none).
pub fn recv_with_sender(fd: Fd, buf: &mut [u8]) -> Result<Option<(usize, Option<Pid>)>, Errno> {
    // Room for one ucred control message, aligned for cmsghdr.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() };
    // SAFETY: msghdr is plain old data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = core::mem::size_of_val(&control) as _;
    // SAFETY: msg points at valid buffers that outlive the call.
    let flags = libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC;
    let n = match cvt_long(unsafe { libc::syscall(libc::SYS_recvmsg, fd, &mut msg as *mut libc::msghdr, flags) }) {
        Ok(n) => n,
        Err(EAGAIN) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut sender = None;
    // SAFETY: msg was filled in by recvmsg; CMSG_FIRSTHDR walks its control buffer.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: cmsg points into `control`, inside msg_controllen.
        let header = unsafe { &*cmsg };
        if header.cmsg_level == libc::SOL_SOCKET && header.cmsg_type == libc::SCM_CREDENTIALS {
            // SAFETY: an SCM_CREDENTIALS message carries one ucred; read unaligned to be safe.
            let cred: libc::ucred = unsafe { core::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::ucred) };
            sender = Some(cred.pid);
        } else if header.cmsg_level == libc::SOL_SOCKET && header.cmsg_type == libc::SCM_RIGHTS {
            // Descriptors sent to us are not wanted: close them.
            // SAFETY: CMSG_LEN is arithmetic on its argument.
            let empty = unsafe { libc::CMSG_LEN(0) } as usize;
            let count = (header.cmsg_len as usize).saturating_sub(empty) / core::mem::size_of::<c_int>();
            for i in 0..count {
                // SAFETY: SCM_RIGHTS data holds `count` ints inside the control buffer.
                let fd = unsafe { core::ptr::read_unaligned((libc::CMSG_DATA(cmsg) as *const c_int).add(i)) };
                close(fd);
            }
        }
        // SAFETY: as above; returns NULL after the last header.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok(Some((n as usize, sender)))
}

/// A socket address: what getsockname(2) reports, and what hupwatch binds,
/// connects and sends to.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SockName {
    Inet([u8; 4], u16),
    Inet6([u8; 16], u16),
    /// A path, or `@name` for an abstract socket.
    Unix(Vec<u8>),
}

impl SockName {
    pub fn is_unix(&self) -> bool {
        matches!(self, SockName::Unix(_))
    }
}

pub fn getsockname(fd: Fd) -> Option<SockName> {
    let mut raw = RawAddress([0; 128]);
    let mut len = raw.0.len() as libc::socklen_t;
    // SAFETY: raw is as large as sockaddr_storage; len says how large.
    let ret = unsafe { libc::syscall(libc::SYS_getsockname, fd, raw.0.as_mut_ptr(), &mut len as *mut libc::socklen_t) };
    if ret != 0 {
        return None;
    }
    let b = &raw.0;
    let port = u16::from_be_bytes([b[2], b[3]]);
    match libc::sa_family_t::from_ne_bytes([b[0], b[1]]) as c_int {
        libc::AF_INET => Some(SockName::Inet([b[4], b[5], b[6], b[7]], port)),
        libc::AF_INET6 => Some(SockName::Inet6(b[8..24].try_into().ok()?, port)),
        libc::AF_UNIX => {
            let path = &b[2..(len as usize).clamp(2, UNIX_LEN)];
            Some(SockName::Unix(match path.split_first() {
                Some((0, name)) => [b"@", name].concat(),
                _ => crate::text::fields(path, 0).next().unwrap_or_default().to_vec(),
            }))
        }
        _ => None,
    }
}

/// The C library's inet_pton for IPv6: the oracle of listen's own parser.
#[cfg(test)]
pub fn inet_pton6(text: &[u8]) -> Option<[u8; 16]> {
    let mut buf = CText::uninit();
    let text = buf.fill(&[text]).ok()?;
    unsafe extern "C" {
        // POSIX; the libc crate does not declare it for Linux.
        fn inet_pton(af: c_int, src: *const c_char, dst: *mut libc::c_void) -> c_int;
    }
    let mut out = [0u8; 16];
    // SAFETY: text is NUL-terminated; out has room for an in6_addr.
    let ok = unsafe { inet_pton(libc::AF_INET6, text.ptr(), out.as_mut_ptr() as *mut libc::c_void) };
    (ok == 1).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_in_the_kernel_layout() {
        assert_eq!(
            [INET_LEN, INET6_LEN, UNIX_LEN],
            [
                core::mem::size_of::<libc::sockaddr_in>(),
                core::mem::size_of::<libc::sockaddr_in6>(),
                core::mem::size_of::<libc::sockaddr_un>()
            ]
        );
        assert_eq!(core::mem::size_of::<RawAddress>(), core::mem::size_of::<libc::sockaddr_storage>());
        let (_, len) = raw_address(&SockName::Unix(b"/run/x.sock".to_vec())).unwrap();
        assert_eq!(len as usize, 2 + 11 + 1);
        let (raw, len) = raw_address(&SockName::Unix(b"@name".to_vec())).unwrap();
        assert_eq!(len as usize, 2 + 1 + 4, "abstract: a leading NUL, no trailing one");
        // SAFETY: raw_address wrote a sockaddr_un into an 8-aligned buffer.
        let un = unsafe { &*(raw.ptr() as *const libc::sockaddr_un) };
        assert_eq!(un.sun_family as i32, libc::AF_UNIX);
        // c_char is i8 on x86 and u8 on ARM.
        #[allow(clippy::unnecessary_cast)]
        let path: Vec<u8> = un.sun_path[..5].iter().map(|&c| c as u8).collect();
        assert_eq!(path, b"\0name");
        assert_eq!(raw_address(&SockName::Unix(vec![b'a'; 108])).err(), Some(Errno(libc::ENAMETOOLONG)));
        assert!(raw_address(&SockName::Unix(vec![b'a'; 107])).is_ok());
        assert!(raw_address(&SockName::Unix([b"@", &[b'a'; 107][..]].concat())).is_ok());
        assert_eq!(
            raw_address(&SockName::Unix([b"@", &[b'a'; 108][..]].concat())).err(),
            Some(Errno(libc::ENAMETOOLONG))
        );
        assert_eq!(raw_address(&SockName::Unix(b"a\0b".to_vec())).err(), Some(Errno(libc::EINVAL)));
        let (raw, len) = raw_address(&SockName::Inet([127, 0, 0, 1], 8000)).unwrap();
        assert_eq!(len as usize, INET_LEN);
        // SAFETY: raw_address wrote a sockaddr_in.
        let v4 = unsafe { &*(raw.ptr() as *const libc::sockaddr_in) };
        assert_eq!(v4.sin_family as i32, libc::AF_INET);
        assert_eq!((u16::from_be(v4.sin_port), v4.sin_addr.s_addr.to_ne_bytes()), (8000, [127, 0, 0, 1]));
        let ip6 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
        let (raw, len) = raw_address(&SockName::Inet6(ip6, 443)).unwrap();
        assert_eq!(len as usize, INET6_LEN);
        // SAFETY: raw_address wrote a sockaddr_in6.
        let v6 = unsafe { &*(raw.ptr() as *const libc::sockaddr_in6) };
        assert_eq!(v6.sin6_family as i32, libc::AF_INET6);
        assert_eq!((u16::from_be(v6.sin6_port), v6.sin6_addr.s6_addr), (443, ip6));
    }

    #[test]
    fn bound_addresses_read_back() {
        for address in [
            SockName::Inet([127, 0, 0, 1], 0),
            SockName::Inet6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 0),
            SockName::Unix(format!("@hupwatch-test-{}", getpid()).into_bytes()),
            SockName::Unix(
                std::env::temp_dir()
                    .join(format!("hupwatch-test-{}.sock", getpid()))
                    .into_os_string()
                    .into_encoded_bytes(),
            ),
        ] {
            let Ok(fd) = socket(&address, libc::SOCK_STREAM) else { continue };
            if bind(fd.0, &address).is_err() {
                continue; // no IPv6 here
            }
            let found = getsockname(fd.0).unwrap();
            match (&address, found) {
                (SockName::Inet(ip, _), SockName::Inet(found, port)) => assert!(*ip == found && port > 0),
                (SockName::Inet6(ip, _), SockName::Inet6(found, port)) => assert!(*ip == found && port > 0),
                (SockName::Unix(path), found) => {
                    assert_eq!(found, SockName::Unix(path.clone()));
                    if !path.starts_with(b"@") {
                        let _ = unlink(path);
                    }
                }
                (address, found) => panic!("{address:?} read back as {found:?}"),
            }
        }
    }
}
