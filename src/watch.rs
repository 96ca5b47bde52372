//! `--watch`: reload when a path changes. Events only say "look again":
//! after any inotify event hupwatch compares what each path names now (the
//! identity, size and times of the file it resolves to) with the last look,
//! so a symlink switch, an atomic `mv -T`, a Kubernetes `..data` swap or a
//! rewrite all count, and unrelated activity in the same directory does
//! not; nor does a symlink rewritten to name the same file. Watches are on
//! the parent directory (or the nearest existing ancestor), on the path
//! itself and on the directory of every symlink on the way, re-added after
//! every change, so replaced and re-created paths stay watched. A burst of
//! changes is debounced into one reload. No polling: zero cost at rest.

use crate::log;
use crate::path;
use crate::sys::{self, Fd, Stat};

/// Everything that changes a path's content, metadata, entries or identity.
const MASK: u32 = libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_CLOSE_WRITE
    | libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF;

/// What `path` names now, symlinks followed; `None` when nothing.
fn look(path: &[u8]) -> Option<Stat> {
    sys::stat(path, true).ok()
}

struct Watched {
    path: Vec<u8>,
    last: Option<Stat>,
    /// Changed during the current burst.
    changed: bool,
}

pub struct Watcher {
    fd: Fd,
    delay: u64,
    paths: Vec<Watched>,
    /// Watch descriptors in use (a directory watched for two paths is one).
    wds: Vec<i32>,
    /// When the debounced reload is due.
    due: Option<u64>,
}

impl Watcher {
    /// Starts watching `paths`, relative ones taken from `base`. Fails only
    /// if inotify is unavailable.
    pub fn new(paths: &[Vec<u8>], base: &[u8], delay: u64) -> Result<Watcher, sys::Errno> {
        let fd = sys::inotify_init()?;
        let mut w = Watcher { fd, delay, paths: Vec::new(), wds: Vec::new(), due: None };
        for path in paths {
            let path = path::join(base, path);
            let last = look(&path);
            if last.is_none() {
                log::warn(|l| l.text("watched path does not exist yet: ").quoted(&path, 4096));
            }
            w.paths.push(Watched { path, last, changed: false });
        }
        w.rewatch();
        Ok(w)
    }

    pub fn fd(&self) -> Fd {
        self.fd
    }

    /// When the pending reload is due, if one is.
    pub fn deadline(&self) -> Option<u64> {
        self.due
    }

    /// Drains the inotify queue and compares every path with its last look.
    pub fn on_events(&mut self, now: u64) {
        let mut buf = [0u8; 4096];
        while matches!(sys::read(self.fd, &mut buf), Ok(n) if n > 0) {}
        // Watch first, look second: a change in between still raises an event.
        self.rewatch();
        for w in &mut self.paths {
            let seen = look(&w.path);
            if seen == w.last {
                continue;
            }
            if seen.is_none() {
                log::warn(|l| l.text("watched path disappeared: ").quoted(&w.path, 4096));
            }
            w.last = seen;
            w.changed = true;
            // Restart the delay on every change: one reload per burst.
            self.due = Some(now + self.delay);
        }
    }

    /// Once the debounced reload is due: the first path that changed in the
    /// burst and still exists (`None` when every changed path is gone).
    pub fn take_due(&mut self, now: u64) -> Option<&[u8]> {
        if self.due? > now {
            return None;
        }
        self.due = None;
        let mut reload = None;
        for (i, w) in self.paths.iter_mut().enumerate() {
            if std::mem::take(&mut w.changed) && w.last.is_some() && reload.is_none() {
                reload = Some(i);
            }
        }
        reload.map(|i| &self.paths[i].path[..])
    }

    /// (Re-)adds watches so that every path's current parent and inode are
    /// watched, and drops the ones no longer needed.
    fn rewatch(&mut self) {
        let old = core::mem::take(&mut self.wds);
        let fd = self.fd;
        let mut watch = |dir: &[u8]| {
            let wd = sys::inotify_add_watch(fd, dir, MASK);
            if let Ok(wd) = wd {
                self.wds.push(wd);
            }
            wd.is_ok()
        };
        for w in &self.paths {
            // A symlink higher up (`current/config/app.conf`) can switch too:
            // watch the directory holding each one.
            let mut prefix = path::parent(&w.path);
            while let Some(p) = prefix {
                prefix = path::parent(p);
                if let (true, Some(parent)) = (sys::stat(p, false).is_ok_and(|s| s.is_symlink()), prefix) {
                    watch(parent);
                }
            }
            // The parent, or the nearest ancestor that exists, and the path.
            let mut dir = path::parent(&w.path);
            while let Some(d) = dir {
                dir = if watch(d) { None } else { path::parent(d) };
            }
            watch(&w.path);
        }
        for wd in old {
            if !self.wds.contains(&wd) {
                sys::inotify_rm_watch(self.fd, wd);
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        sys::close(self.fd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn temp(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("hupwatch-unit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn bytes(p: &std::path::Path) -> Vec<u8> {
        p.as_os_str().as_bytes().to_vec()
    }

    #[test]
    fn a_look_sees_symlink_switch_and_content() {
        let d = temp("fp");
        std::fs::create_dir(d.0.join("r1")).unwrap();
        std::fs::create_dir(d.0.join("r2")).unwrap();
        let current = d.0.join("current");
        assert_eq!(look(&bytes(&current)), None);
        symlink("r1", &current).unwrap();
        let one = look(&bytes(&current));
        assert!(one.is_some());
        assert_eq!(look(&bytes(&current)), one, "stable when nothing changed");
        std::fs::write(d.0.join("r1/app.log"), b"x").unwrap();
        // A new entry changes the directory's times.
        assert_ne!(look(&bytes(&current)), one);
        let two = look(&bytes(&current));
        std::fs::remove_file(&current).unwrap();
        symlink("r2", &current).unwrap();
        assert_ne!(look(&bytes(&current)), two);
        std::fs::remove_file(&current).unwrap();
        symlink(d.0.join("r1"), &current).unwrap();
        assert_eq!(look(&bytes(&current)), two, "another link to the same directory is no change");
    }

    #[test]
    fn unrelated_files_do_not_count() {
        let d = temp("unrelated");
        let file = d.0.join("app.conf");
        std::fs::write(&file, b"a").unwrap();
        let mut w = Watcher::new(&[b"app.conf".to_vec()], &bytes(&d.0), 0).unwrap();
        std::fs::write(d.0.join("other"), b"b").unwrap();
        w.on_events(1);
        assert_eq!(w.deadline(), None);
        std::fs::write(&file, b"changed").unwrap();
        w.on_events(2);
        assert_eq!(w.take_due(2), Some(&bytes(&file)[..]));
        assert_eq!(w.take_due(3), None, "one reload per change");
    }
}
