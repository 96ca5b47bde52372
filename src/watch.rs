//! `--watch`: reload when a path changes. Events only say "look again":
//! hupwatch then compares what the path names now (the identity, size and
//! times of the file it resolves to, symlinks followed) with the last look,
//! so a symlink switch, an atomic `mv -T`, a Kubernetes `..data` swap or a
//! rewrite all count, and unrelated activity in the same directory does
//! not; nor does a symlink rewritten to name the same file. A path is watched where it can change: in the directory holding it
//! (or the nearest existing ancestor), in the directory of every symlink on
//! the way, and itself. Each watch remembers which paths it serves and for
//! which entry name, so an event makes hupwatch look again only at the paths
//! it concerns, however many are watched; after a look the path's watches
//! are set anew, so replaced and re-created paths stay watched. A burst of
//! changes is debounced into one reload. No polling: zero cost at rest.

use crate::log;
use crate::path;
use crate::sys::{self, Fd, Stat};

/// Entries created, removed or renamed in a watched directory.
const ENTRIES: u32 = libc::IN_CREATE | libc::IN_DELETE | libc::IN_MOVED_FROM | libc::IN_MOVED_TO;
/// The watched object itself removed or renamed.
const GONE: u32 = libc::IN_DELETE_SELF | libc::IN_MOVE_SELF;
/// A directory, whatever it is watched for (as a path, as the holder of one,
/// or of a symlink on the way): its entries and its own metadata. Not
/// IN_MODIFY or IN_CLOSE_WRITE, which a directory watch reports for every
/// write to every file in it, and which change neither the directory's
/// fingerprint nor its entries: rewriting a file inside a watched directory
/// does not count, and must not cost a wake-up either. IN_ONLYDIR: the
/// kernel checks the type as it adds the watch, so a file never gets this
/// mask, and each inode gets the one mask its type calls for.
const DIR: u32 = ENTRIES | GONE | libc::IN_ATTRIB | libc::IN_ONLYDIR;
/// Any other path (a file, a socket, ...): its content and metadata.
const FILE: u32 = libc::IN_MODIFY | libc::IN_CLOSE_WRITE | libc::IN_ATTRIB | GONE;

/// How many symlinks a path may go through (as the kernel's ELOOP limit).
const MAX_LINKS: usize = 40;

/// A dependency's entry name for "the watched object itself, or any entry
/// of it": name hashes are never 0.
const ANY: u64 = 0;

/// FNV-1a of an entry name, never 0. A collision only costs a needless look.
fn name_hash(name: &[u8]) -> u64 {
    name.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3)) | 1
}

/// The name `path` has in its directory, as a dependency sees it.
fn entry(path: &[u8]) -> u64 {
    path::file_name(path).map_or(ANY, name_hash)
}

/// Why a watch matters to a path: an event of watch `wd` about the entry
/// whose name hashes to `name`, or with `ANY`, about the watched object or
/// any of its entries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Dep {
    wd: i32,
    path: u32,
    name: u64,
}

/// Whether an event (of watch `wd`, with `mask`, about the entry whose name
/// hashes to `name`, or `ANY` about the watched object) can change the path
/// of `dep`. An event about a directory's own metadata, its removal or its
/// watch going concerns every path depending on it; the attributes of an
/// entry concern only the path of that name.
fn concerns(dep: &Dep, wd: i32, mask: u32, name: u64) -> bool {
    dep.wd == wd && (name == ANY || dep.name == name || dep.name == ANY && mask & ENTRIES != 0)
}

/// Looks at `path`, having first watched everything that can change what it
/// names: `watch(place, mask, name)` adds one watch, before the look it
/// guards, and says whether it could. Every symlink in the chain that starts
/// at `path` is watched in its directory, as is every symlink higher up in
/// each of them and, for the last one, the nearest existing directory.
fn look(path: &[u8], watch: &mut impl FnMut(&[u8], u32, u64) -> bool) -> Option<Stat> {
    let mut count = 0;
    let mut current = path.to_vec();
    let mut walks = 0;
    loop {
        // Up from it: the nearest existing directory, for the entry on the
        // way down (watched before the link is read), and above that the
        // directory of every symlink higher up (`current/config/app.conf`).
        let (mut below, mut held): (&[u8], bool) = (&current, false);
        // The missing directory the nearest existing one is watched for.
        let mut missing: Option<&[u8]> = None;
        while let Some(dir) = path::parent(below) {
            if !held || sys::stat(below, false).is_ok_and(|s| s.is_symlink()) {
                let watched = watch(dir, DIR, entry(below));
                if watched && !held && below.len() < current.len() {
                    missing = Some(below);
                }
                held |= watched;
            }
            below = dir;
        }
        // Created after it was found missing and before its directory was
        // watched, it raised no event: walk again (`mkdir -p a/b` racing the
        // walk up from a/b/file would otherwise go unseen for good).
        walks += 1;
        if missing.is_some_and(|m| sys::stat(m, false).is_ok()) && walks <= MAX_LINKS {
            continue;
        }
        if count == MAX_LINKS {
            break;
        }
        match sys::readlink(&current) {
            Ok(target) => {
                current = path::join(path::parent(&current).unwrap_or(b"/"), &target);
                count += 1;
            }
            Err(_) => break,
        }
    }
    // What it names (the kernel follows the symlinks): a directory for its
    // entries and metadata, anything else for its content and metadata.
    let _ = watch(path, DIR, ANY) || watch(path, FILE, ANY);
    sys::stat(path, true).ok()
}

struct Watched {
    path: Vec<u8>,
    last: Option<Stat>,
    /// Changed during the current burst.
    changed: bool,
    /// An event of this batch concerns it: look again.
    stale: bool,
}

pub struct Watcher {
    fd: Fd,
    delay: u64,
    paths: Vec<Watched>,
    /// What each watch is for, in no order. An event is matched against all
    /// of them (a few integer comparisons each, no system call): only the
    /// paths it concerns are looked at again.
    deps: Vec<Dep>,
    /// When the debounced reload is due.
    due: Option<u64>,
}

impl Watcher {
    /// Starts watching `paths`, relative ones taken from `base`. Fails only
    /// if inotify is unavailable.
    pub fn new(paths: &[Vec<u8>], base: &[u8], delay: u64) -> Result<Watcher, sys::Errno> {
        let fd = sys::inotify_init()?;
        let paths = paths
            .iter()
            .map(|path| Watched { path: path::join(base, path), last: None, changed: false, stale: false })
            .collect();
        let mut w = Watcher { fd, delay, paths, deps: Vec::new(), due: None };
        for i in 0..w.paths.len() {
            let last = w.look_at(i);
            if last.is_none() {
                log::warn(|l| l.text("watched path does not exist yet: ").quoted(&w.paths[i].path, 4096));
            }
            w.paths[i].last = last;
        }
        Ok(w)
    }

    pub fn fd(&self) -> Fd {
        self.fd
    }

    /// When the pending reload is due, if one is.
    pub fn deadline(&self) -> Option<u64> {
        self.due
    }

    /// Sets path `i`'s watches anew and looks at it.
    fn look_at(&mut self, i: usize) -> Option<Stat> {
        let Watcher { fd, paths, deps, .. } = self;
        look(&paths[i].path, &mut |place, mask, name| match sys::inotify_add_watch(*fd, place, mask) {
            Ok(wd) => {
                deps.push(Dep { wd, path: i as u32, name });
                true
            }
            Err(_) => false,
        })
    }

    /// Drains the inotify queue and looks again at the paths the events
    /// concern; returns how many it looked at.
    pub fn on_events(&mut self, now: u64) -> usize {
        let mut buf = [0u8; 4096];
        // The event before, which concerned the same paths if it had the
        // same watch, entry and kind (a write's IN_MODIFY, IN_CLOSE_WRITE).
        let (mut last, mut any) = (None, false);
        while let Ok(n @ 1..) = sys::read(self.fd, &mut buf) {
            // struct inotify_event: wd, mask, cookie, len, and a name of
            // len bytes padded with NULs.
            let mut rest = &buf[..n];
            while let Some((&[a, b, c, d, e, f, g, h, _, _, _, _, i, j, k, l], tail)) = rest.split_first_chunk() {
                let (wd, mask) = (i32::from_ne_bytes([a, b, c, d]), u32::from_ne_bytes([e, f, g, h]));
                let len = u32::from_ne_bytes([i, j, k, l]) as usize;
                let (name, next) = tail.split_at(len.min(tail.len()));
                rest = next;
                let name = name.split(|&b| b == 0).next().unwrap_or_default();
                let name = if name.is_empty() { ANY } else { name_hash(name) };
                if last.replace((wd, name, mask & ENTRIES != 0)) == Some((wd, name, mask & ENTRIES != 0)) {
                    continue;
                }
                let overflow = mask & libc::IN_Q_OVERFLOW != 0;
                let mut used = false;
                for dep in &self.deps {
                    if dep.wd == wd || overflow {
                        used = true;
                        if overflow || concerns(dep, wd, mask, name) {
                            self.paths[dep.path as usize].stale = true;
                            any = true;
                        }
                    }
                }
                // A watch that no path needs any more (a symlink switched
                // away from it, say) goes the first time it reports.
                if !used {
                    sys::inotify_rm_watch(self.fd, wd);
                }
            }
        }
        // Most events concern no path (an unrelated entry of a watched
        // directory): then there is nothing more to go through.
        if !any {
            return 0;
        }
        let paths = &self.paths;
        self.deps.retain(|dep| !paths[dep.path as usize].stale);
        // Watch first, look second: a change in between still raises an event.
        let mut looked = 0;
        for i in 0..self.paths.len() {
            if !self.paths[i].stale {
                continue;
            }
            looked += 1;
            let seen = self.look_at(i);
            let w = &mut self.paths[i];
            w.stale = false;
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
        looked
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

    /// A look without watches.
    fn fingerprint(path: &[u8]) -> Option<Stat> {
        look(path, &mut |_, _, _| true)
    }

    /// Whether the kernel queued any event for the watcher (read from its
    /// descriptor without taking them).
    fn queued(w: &Watcher) -> bool {
        let mut fds = [sys::PollFd { fd: w.fd, events: sys::POLLIN, revents: 0 }];
        sys::poll(&mut fds, Some(0)).unwrap();
        fds[0].revents != 0
    }

    fn dep(wd: i32, name: u64) -> Dep {
        Dep { wd, path: 0, name }
    }

    #[test]
    fn a_directory_created_during_the_walk_up_is_walked_again() {
        // `mkdir -p etc/app` racing the walk: etc/app is missing when
        // looked for, and exists once its nearest existing directory is
        // watched, so no event will ever say so. The walk must go again.
        let d = temp("walk-race");
        let path = bytes(&d.0.join("etc/app/app.conf"));
        let root = bytes(&d.0);
        let mut watched: Vec<Vec<u8>> = Vec::new();
        look(&path, &mut |place: &[u8], _mask, _name| {
            if place == &root[..] && watched.is_empty() {
                std::fs::create_dir_all(d.0.join("etc/app")).unwrap();
            }
            let there = sys::stat(place, true).is_ok();
            if there {
                watched.push(place.to_vec());
            }
            there
        });
        let app = bytes(&d.0.join("etc/app"));
        assert!(watched.contains(&app), "etc/app, created during the walk, is not watched: {watched:?}");
    }

    #[test]
    fn an_event_concerns_the_paths_of_its_watch_and_entry() {
        let (conf, other) = (name_hash(b"app.conf"), name_hash(b"other"));
        assert_ne!(conf, ANY);
        // The entry app.conf of watch 1 (the directory holding a watched path).
        let entry = dep(1, conf);
        assert!(concerns(&entry, 1, libc::IN_MOVED_TO, conf), "renamed onto the path");
        assert!(concerns(&entry, 1, libc::IN_DELETE, conf), "the path removed");
        assert!(concerns(&entry, 1, libc::IN_ATTRIB, conf), "the path's metadata");
        assert!(!concerns(&entry, 1, libc::IN_CREATE, other), "another entry");
        assert!(!concerns(&entry, 2, libc::IN_CREATE, conf), "another watch");
        assert!(concerns(&entry, 1, libc::IN_MOVE_SELF, ANY), "the directory itself moved");
        assert!(concerns(&entry, 1, libc::IN_IGNORED, ANY), "the directory's watch gone");
        // Watch 2 on a watched directory itself: any entry changes it, the
        // attributes of an entry do not.
        let itself = dep(2, ANY);
        assert!(concerns(&itself, 2, libc::IN_CREATE, other));
        assert!(concerns(&itself, 2, libc::IN_MOVED_FROM, conf));
        assert!(!concerns(&itself, 2, libc::IN_ATTRIB, other), "an entry's metadata");
        assert!(concerns(&itself, 2, libc::IN_ATTRIB, ANY), "its own metadata");
        assert!(concerns(&itself, 2, libc::IN_MODIFY, ANY), "a watched file's content");
    }

    #[test]
    fn a_watched_directory_hears_nothing_of_rewrites_inside_it() {
        let d = temp("dir-rewrites");
        let conf_d = d.0.join("conf.d");
        std::fs::create_dir(&conf_d).unwrap();
        std::fs::write(conf_d.join("a.conf"), b"1").unwrap();
        let mut w = Watcher::new(&[bytes(&conf_d)], b"/", 0).unwrap();
        for i in 0..100 {
            std::fs::write(conf_d.join("a.conf"), format!("{i}")).unwrap();
        }
        assert!(!queued(&w), "rewrites inside a watched directory reached hupwatch");
        std::fs::write(conf_d.join("b.conf"), b"new").unwrap();
        assert!(queued(&w));
        assert_eq!(w.on_events(1), 1);
        assert_eq!(w.take_due(1), Some(&bytes(&conf_d)[..]), "a new entry is a change");
    }

    #[test]
    fn an_entry_removed_right_after_its_metadata_changed_still_counts() {
        use std::os::unix::fs::PermissionsExt;
        let d = temp("attrib-then-delete");
        let conf_d = d.0.join("conf.d");
        std::fs::create_dir(&conf_d).unwrap();
        let x = conf_d.join("x.conf");
        std::fs::write(&x, b"1").unwrap();
        let mut w = Watcher::new(&[bytes(&conf_d)], b"/", 0).unwrap();
        // IN_ATTRIB about x.conf (no concern of the directory's own path),
        // then IN_DELETE about the same name (a change of its entries).
        std::fs::set_permissions(&x, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::remove_file(&x).unwrap();
        assert_eq!(w.on_events(1), 1);
        assert_eq!(w.take_due(1), Some(&bytes(&conf_d)[..]));
    }

    #[test]
    fn the_directory_of_a_watched_file_hears_nothing_of_its_other_files_rewritten() {
        let d = temp("parent-rewrites");
        let file = d.0.join("app.conf");
        std::fs::write(&file, b"1").unwrap();
        std::fs::write(d.0.join("other.log"), b"1").unwrap();
        let mut w = Watcher::new(&[bytes(&file)], b"/", 0).unwrap();
        for i in 0..100 {
            std::fs::write(d.0.join("other.log"), format!("{i}")).unwrap();
        }
        assert!(!queued(&w), "rewrites of another file reached hupwatch");
        // A new entry of another name is heard, and concerns no path.
        std::fs::write(d.0.join("new.log"), b"1").unwrap();
        assert!(queued(&w));
        assert_eq!(w.on_events(1), 0, "looked at a path the event does not concern");
        assert_eq!(w.deadline(), None);
    }

    #[test]
    fn one_change_among_many_paths_looks_at_that_path_only() {
        let d = temp("many");
        let paths: Vec<Vec<u8>> = (0..1000)
            .map(|i| {
                let p = d.0.join(format!("f{i}"));
                std::fs::write(&p, b"0").unwrap();
                bytes(&p)
            })
            .collect();
        let mut w = Watcher::new(&paths, b"/", 0).unwrap();
        std::fs::write(d.0.join("f500"), b"1").unwrap();
        assert_eq!(w.on_events(1), 1);
        assert_eq!(w.take_due(1), Some(&paths[500][..]));
        // Replaced by a rename, as editors save: the entry's name concerns it.
        std::fs::write(d.0.join("tmp"), b"2").unwrap();
        std::fs::rename(d.0.join("tmp"), d.0.join("f7")).unwrap();
        assert_eq!(w.on_events(2), 1);
        assert_eq!(w.take_due(2), Some(&paths[7][..]));
        // Still watched after the replacement.
        std::fs::write(d.0.join("f7"), b"3").unwrap();
        assert_eq!(w.on_events(3), 1);
        assert_eq!(w.take_due(3), Some(&paths[7][..]));
    }

    #[test]
    fn a_watch_no_path_needs_goes_when_it_first_reports() {
        let d = temp("unneeded");
        let targets = d.0.join("targets");
        std::fs::create_dir(&targets).unwrap();
        std::fs::write(targets.join("a.conf"), b"a").unwrap();
        std::fs::write(targets.join("b.conf"), b"b").unwrap();
        let link = d.0.join("app.conf");
        symlink(targets.join("a.conf"), &link).unwrap();
        let mut w = Watcher::new(&[bytes(&link)], b"/", 0).unwrap();
        symlink(targets.join("b.conf"), d.0.join("tmp")).unwrap();
        std::fs::rename(d.0.join("tmp"), &link).unwrap();
        assert_eq!(w.on_events(1), 1);
        assert_eq!(w.take_due(1), Some(&bytes(&link)[..]));
        // The old target: one event, which concerns no path and removes the watch.
        std::fs::write(targets.join("a.conf"), b"a2").unwrap();
        assert_eq!(w.on_events(2), 0);
        std::fs::write(targets.join("a.conf"), b"a3").unwrap();
        assert!(!queued(&w), "the old target is still watched");
        assert_eq!(w.deadline(), None);
        // The new target is.
        std::fs::write(targets.join("b.conf"), b"b2").unwrap();
        assert_eq!(w.on_events(4), 1);
        assert_eq!(w.take_due(4), Some(&bytes(&link)[..]));
    }

    #[test]
    fn a_configmap_key_sees_the_data_swap_itself() {
        // The kubelet swaps `..data` and removes the old directory later: the
        // swap alone changes what `app.conf -> ..data/app.conf` names.
        let d = temp("configmap");
        std::fs::create_dir(d.0.join("..v1")).unwrap();
        std::fs::write(d.0.join("..v1/app.conf"), b"1").unwrap();
        symlink("..v1", d.0.join("..data")).unwrap();
        symlink("..data/app.conf", d.0.join("app.conf")).unwrap();
        let key = bytes(&d.0.join("app.conf"));
        let mut w = Watcher::new(std::slice::from_ref(&key), b"/", 0).unwrap();
        std::fs::create_dir(d.0.join("..v2")).unwrap();
        std::fs::write(d.0.join("..v2/app.conf"), b"2").unwrap();
        symlink("..v2", d.0.join("..data_tmp")).unwrap();
        std::fs::rename(d.0.join("..data_tmp"), d.0.join("..data")).unwrap();
        assert_eq!(w.on_events(1), 1);
        assert_eq!(w.take_due(1), Some(&key[..]));
        std::fs::write(d.0.join("..v2/app.conf"), b"3").unwrap();
        assert_eq!(w.on_events(2), 1, "the new data is watched");
        assert_eq!(w.take_due(2), Some(&key[..]));
    }

    #[test]
    fn a_path_under_missing_directories_is_watched_from_the_nearest_one() {
        let d = temp("missing");
        let conf = d.0.join("etc/app/app.conf");
        let mut w = Watcher::new(&[bytes(&conf)], b"/", 0).unwrap();
        std::fs::create_dir(d.0.join("etc")).unwrap();
        assert_eq!(w.on_events(1), 1);
        std::fs::create_dir(d.0.join("etc/app")).unwrap();
        assert_eq!(w.on_events(2), 1);
        assert_eq!(w.deadline(), None, "directories alone are not the path");
        std::fs::write(&conf, b"1").unwrap();
        w.on_events(3);
        assert_eq!(w.take_due(3), Some(&bytes(&conf)[..]));
    }

    #[test]
    fn a_look_sees_symlink_switch_and_content() {
        let d = temp("fp");
        std::fs::create_dir(d.0.join("r1")).unwrap();
        std::fs::create_dir(d.0.join("r2")).unwrap();
        let current = d.0.join("current");
        assert_eq!(fingerprint(&bytes(&current)), None);
        symlink("r1", &current).unwrap();
        let one = fingerprint(&bytes(&current));
        assert!(one.is_some());
        assert_eq!(fingerprint(&bytes(&current)), one, "stable when nothing changed");
        std::fs::write(d.0.join("r1/app.log"), b"x").unwrap();
        // A new entry changes the directory's times.
        assert_ne!(fingerprint(&bytes(&current)), one);
        let two = fingerprint(&bytes(&current));
        std::fs::remove_file(&current).unwrap();
        symlink("r2", &current).unwrap();
        assert_ne!(fingerprint(&bytes(&current)), two);
        std::fs::remove_file(&current).unwrap();
        symlink(d.0.join("r1"), &current).unwrap();
        assert_eq!(fingerprint(&bytes(&current)), two, "another link to the same directory is no change");
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
