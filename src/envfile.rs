//! `--env-file` and `--envdir`: variables read afresh for every generation,
//! by hupwatch before the fork, into settings that `sys::Exec` puts on top
//! of hupwatch's own environment. Reading allocates; the child never does.
//!
//! An env file is read as `docker run --env-file` reads it: one `KEY=VALUE`
//! per line, the value taken literally to the end of the line (no quotes,
//! escapes or `$` expansion; a CR before the newline dropped), leading
//! blanks, blank lines and lines starting with `#` ignored, and a leading
//! `export ` skipped. A line without `=` is an error (Docker would copy the
//! variable from its own environment, which hupwatch's generations inherit
//! anyway).
//!
//! An envdir is read by daemontools' rules: each file is the variable it is
//! named after, whose value is the file's first line with trailing spaces
//! and tabs removed and NUL bytes turned into newlines; an empty file
//! removes the variable. Names starting with `.` are skipped (as envdir
//! does, and as a Kubernetes ConfigMap's `..data` needs).
//!
//! A name is printable ASCII without `=`. A file larger than `LIMIT` is an
//! error: it would not fit an environment anyway (execve takes 128 KiB per
//! variable at most). What makes a source unusable is logged compiler
//! style, `/etc/app.env:3: a line without '='`, and fails the spawn.

use crate::log;
use crate::path;
use crate::sys::{self, Errno};
use crate::text::split;

/// The largest file read, env file or envdir file.
pub const LIMIT: usize = 64 << 10;

/// One `--env-file` or (`dir`) `--envdir`, in command-line order.
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    pub dir: bool,
    pub path: Vec<u8>,
}

/// Reads every source afresh, adding what they say to `out` as `sys::Exec`
/// takes it: in order, each entry ended by a NUL, `KEY` alone to remove.
/// Relative paths are taken from `base`. False, with the reason logged (the
/// file, and the line), when a source is unusable.
pub fn read(sources: &[Source], base: &[u8], out: &mut Vec<u8>) -> bool {
    sources.is_empty() || read_sources(sources, base, out)
}

/// `read` with sources. Never inlined: its 64 KiB buffer would make the
/// caller's frame that large, and every call of it touch (probe) that much
/// stack, sources or not: 44 KiB of hupwatch's peak RSS.
#[inline(never)]
fn read_sources(sources: &[Source], base: &[u8], out: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; LIMIT + 1];
    sources.iter().all(|source| {
        let path = path::join(base, &source.path);
        if !source.dir {
            return from_file(&path, None, &mut buf, out);
        }
        let mut read = true;
        let listed = sys::each_entry(&path, &mut |name| {
            read = read && (name[0] == b'.' || from_file(&path::join(&path, name), Some(name), &mut buf, out));
        });
        listed.map_or_else(|e| unusable(&path, 0, Err(e)), |()| read)
    })
}

/// Reads the file at `path` into `buf` and adds its settings to `out`: an
/// env file's, or those of the envdir file `name`.
fn from_file(path: &[u8], name: Option<&[u8]>, buf: &mut [u8], out: &mut Vec<u8>) -> bool {
    let settings = match sys::read_file(path, buf) {
        Err(e) => return unusable(path, 0, Err(e)),
        Ok(n) if n > LIMIT => Err((0, "larger than 64 KiB")),
        Ok(n) => match name {
            Some(name) => envdir_setting(name, &buf[..n], out),
            None => parse_file(&buf[..n], out),
        },
    };
    settings.map_or_else(|(line, what)| unusable(path, line, Ok(what)), |()| true)
}

/// Logs what is wrong with the file at `path`, compiler style (the line
/// unless 0); false.
fn unusable(path: &[u8], line: u32, why: Result<&str, Errno>) -> bool {
    log::error(|l| {
        l.quoted(path, 4096);
        if line > 0 {
            l.text(":").num(line as u64);
        }
        l.text(": ");
        match why {
            Ok(what) => l.text(what),
            Err(e) => l.errno(e),
        }
    });
    false
}

/// What is wrong with a file: the line (1 on, or 0 for the whole file).
type Bad = (u32, &'static str);

const BAD_NAME: &str = "invalid variable name";

fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| b.is_ascii_graphic() && b != b'=')
}

fn trim_start(line: &[u8]) -> &[u8] {
    let start = line.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(line.len());
    &line[start..]
}

/// The lines of an env file as settings into `out`.
#[expect(clippy::manual_contains, reason = "contains() links a 200-byte memchr")]
fn parse_file(text: &[u8], out: &mut Vec<u8>) -> Result<(), Bad> {
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let mut line = trim_start(line);
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if let [] | [b'#', ..] = line {
            continue;
        }
        if let [b'e', b'x', b'p', b'o', b'r', b't', b' ' | b'\t', rest @ ..] = line {
            line = trim_start(rest);
        }
        let what = match split(line, b'=') {
            None => "a line without '='",
            Some((name, _)) if !valid_name(name) => BAD_NAME,
            _ if line.iter().any(|&b| b == 0) => "a NUL byte",
            _ => {
                out.extend_from_slice(line);
                out.push(0);
                continue;
            }
        };
        return Err((i as u32 + 1, what));
    }
    Ok(())
}

/// The envdir file `name` holding `content` as a setting into `out`, by
/// daemontools' rules: `NAME=` its first line, or `NAME` alone (remove)
/// when it is empty.
fn envdir_setting(name: &[u8], content: &[u8], out: &mut Vec<u8>) -> Result<(), Bad> {
    if !valid_name(name) {
        return Err((0, BAD_NAME));
    }
    out.extend_from_slice(name);
    if !content.is_empty() {
        let line = split(content, b'\n').map_or(content, |(line, _)| line);
        let end = line.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(0, |i| i + 1);
        out.push(b'=');
        let start = out.len();
        out.extend_from_slice(&line[..end]);
        for b in &mut out[start..] {
            if *b == 0 {
                *b = b'\n';
            }
        }
    }
    out.push(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings as strings, one per entry.
    fn entries(settings: &[u8]) -> Vec<String> {
        let text = String::from_utf8(settings.to_vec()).unwrap();
        text.strip_suffix('\0').map_or(vec![], |t| t.split('\0').map(str::to_string).collect())
    }

    fn parse(text: &str) -> Result<Vec<String>, Bad> {
        let mut out = Vec::new();
        parse_file(text.as_bytes(), &mut out)?;
        Ok(entries(&out))
    }

    #[test]
    fn env_file_lines_as_docker_reads_them() {
        let text = "# comment\n\n A=1\n  B= spaced \nexport C=\"quoted\" # kept\nD=\r\nE=x=y\n\texport\tF=2\n#X\n";
        assert_eq!(parse(text).unwrap(), ["A=1", "B= spaced ", "C=\"quoted\" # kept", "D=", "E=x=y", "F=2"]);
        assert_eq!(parse("export=1\nexported=2").unwrap(), ["export=1", "exported=2"], "variables named so");
        assert_eq!(parse("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn env_file_errors_name_the_line() {
        assert_eq!(parse("A=1\n\nJUSTNAME\n"), Err((3, "a line without '='")));
        assert_eq!(parse("export \n"), Err((1, "a line without '='")));
        assert_eq!(parse("=1"), Err((1, "invalid variable name")));
        assert_eq!(parse("A B=1"), Err((1, "invalid variable name")));
        assert_eq!(parse("A =1"), Err((1, "invalid variable name")), "Docker refuses blanks in names too");
        assert_eq!(parse("A\x01=1"), Err((1, "invalid variable name")));
        assert_eq!(parse("\u{e9}=1"), Err((1, "invalid variable name")));
        assert_eq!(parse("A=1\0"), Err((1, "a NUL byte")));
    }

    #[test]
    fn envdir_settings_by_daemontools_rules() {
        let setting = |content: &[u8]| {
            let mut out = Vec::new();
            envdir_setting(b"K", content, &mut out).unwrap();
            entries(&out)
        };
        assert_eq!(setting(b"value\nsecond line\n"), ["K=value"]);
        assert_eq!(setting(b" lead, trailing \t \n"), ["K= lead, trailing"]);
        assert_eq!(setting(b"a\0b"), ["K=a\nb"]);
        assert_eq!(setting(b"\n"), ["K="], "a blank first line sets an empty value");
        assert_eq!(setting(b""), ["K"], "an empty file removes the variable");
    }

    #[test]
    fn reads_files_and_directories_in_order() {
        let dir = std::env::temp_dir().join(format!("hupwatch-unit-envfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("envdir/..data")).unwrap();
        std::fs::write(dir.join("app.env"), "A=1\nB=2\n").unwrap();
        std::fs::write(dir.join("envdir/B"), "3\n").unwrap();
        std::fs::write(dir.join("envdir/GONE"), "").unwrap();
        std::fs::write(dir.join("envdir/.hidden"), "x").unwrap();
        let bytes = |p: std::path::PathBuf| p.into_os_string().into_encoded_bytes();
        let file = |name: &str| Source { dir: false, path: bytes(dir.join(name)) };
        let envdir = Source { dir: true, path: bytes(dir.join("envdir")) };
        let mut out = b"X=inherited\0".to_vec();
        assert!(read(&[file("app.env"), envdir.clone()], b"/", &mut out));
        let mut got = entries(&out);
        got[3..].sort();
        assert_eq!(got, ["X=inherited", "A=1", "B=2", "B=3", "GONE"], "added in order");
        let mut relative = Vec::new();
        assert!(read(&[Source { dir: false, path: b"app.env".to_vec() }], &bytes(dir.clone()), &mut relative));
        assert_eq!(entries(&relative), ["A=1", "B=2"], "taken from the base");

        // What each failure says is checked against the real binary (tests/env.rs).
        let fails = |sources: &[Source]| !read(sources, b"/", &mut Vec::new());
        assert!(fails(&[file("missing.env")]));
        std::fs::write(dir.join("big.env"), vec![b'#'; LIMIT + 1]).unwrap();
        assert!(fails(&[file("big.env")]));
        std::fs::write(dir.join("limit.env"), vec![b'#'; LIMIT]).unwrap();
        let mut out = Vec::new();
        assert!(read(&[file("limit.env")], b"/", &mut out) && out.is_empty(), "64 KiB exactly is read");
        std::fs::write(dir.join("bad.env"), "A=1\nB\n").unwrap();
        assert!(fails(&[envdir.clone(), file("bad.env")]));
        std::fs::write(dir.join("envdir/A=B"), "1").unwrap();
        assert!(fails(std::slice::from_ref(&envdir)));
        std::fs::remove_file(dir.join("envdir/A=B")).unwrap();
        std::fs::create_dir(dir.join("envdir/SUB")).unwrap();
        assert!(fails(std::slice::from_ref(&envdir)));
        assert!(fails(&[file("envdir")]));
        assert!(fails(&[Source { dir: true, path: bytes(dir.join("app.env")) }]));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
