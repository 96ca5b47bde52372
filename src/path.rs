//! Paths as bytes, as the kernel sees them: the few operations hupwatch
//! needs (parent, last component, join), without std's path machinery.

/// The path without trailing slashes ("/" stays "/").
fn trimmed(path: &[u8]) -> &[u8] {
    let end = path.iter().rposition(|&b| b != b'/').map_or(path.len().min(1), |i| i + 1);
    &path[..end]
}

/// The directory holding `path`'s last component: `None` for "/" and for a
/// path of one relative component.
pub fn parent(path: &[u8]) -> Option<&[u8]> {
    let path = trimmed(path);
    let cut = path.iter().rposition(|&b| b == b'/')?;
    if path.len() == 1 {
        return None;
    }
    let parent = trimmed(&path[..cut]);
    Some(if parent.is_empty() { b"/" } else { parent })
}

/// The last component, `None` for "/", "" and "..".
pub fn file_name(path: &[u8]) -> Option<&[u8]> {
    let path = trimmed(path);
    let name = path.rsplit(|&b| b == b'/').next()?;
    (!name.is_empty() && name != b".." && name != b".").then_some(name)
}

/// `rel` taken from `base`; an absolute `rel` stands alone.
pub fn join(base: &[u8], rel: &[u8]) -> Vec<u8> {
    if rel.starts_with(b"/") || base.is_empty() {
        return rel.to_vec();
    }
    let slash: &[u8] = if base.ends_with(b"/") { b"" } else { b"/" };
    [base, slash, rel].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents() {
        let p = |s: &str| parent(s.as_bytes()).map(|p| String::from_utf8(p.to_vec()).unwrap());
        assert_eq!(p("/a/b/c").as_deref(), Some("/a/b"));
        assert_eq!(p("/a/b/").as_deref(), Some("/a"));
        assert_eq!(p("/a//b").as_deref(), Some("/a"));
        assert_eq!(p("/a").as_deref(), Some("/"));
        assert_eq!(p("a/b").as_deref(), Some("a"));
        assert_eq!(p("/"), None);
        assert_eq!(p("//"), None);
        assert_eq!(p("a"), None);
    }

    #[test]
    fn file_names() {
        assert_eq!(file_name(b"/run/app.sock"), Some(&b"app.sock"[..]));
        assert_eq!(file_name(b"dir/"), Some(&b"dir"[..]));
        assert_eq!(file_name(b"x"), Some(&b"x"[..]));
        assert_eq!(file_name(b"/"), None);
        assert_eq!(file_name(b"a/.."), None);
    }

    #[test]
    fn joins() {
        assert_eq!(join(b"/srv", b"app.conf"), b"/srv/app.conf");
        assert_eq!(join(b"/", b"etc"), b"/etc");
        assert_eq!(join(b"/srv", b"/etc/x"), b"/etc/x");
        assert_eq!(join(b"/srv/", b"a/b"), b"/srv/a/b");
    }
}
