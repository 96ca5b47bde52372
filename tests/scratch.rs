//! The scratch-container situation without docker: the static binary under test alone in an
//! otherwise empty root (plus busybox-static as the demo command, and the emulator when the
//! binary is for another architecture), PID 1 of a new PID namespace, reloaded by
//! `kill -HUP 1` from inside the namespace, then stopped. tests/container.rs runs the image
//! in a real container runtime.

mod support;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;
use support::*;

#[test]
fn static_binary_as_pid1_in_an_empty_root_reloads_on_kill_hup_1() {
    let busybox = Path::new("/bin/busybox");
    if !is_static_elf(busybox) {
        return support::skip("/bin/busybox is missing or not static (install busybox-static)");
    }
    if !can_unshare() {
        return;
    }
    let bin = match static_build() {
        Ok(build) => &build.hupwatch,
        Err(reason) => return support::skip(&reason),
    };

    // The root: /hupwatch, /bin/busybox and the applets used, empty /proc and /tmp.
    let root = TempDir::new("scratch-root");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("proc")).unwrap();
    fs::create_dir_all(root.join("tmp")).unwrap();
    fs::copy(bin, root.join("hupwatch")).unwrap();
    fs::copy(busybox, root.join("bin/busybox")).unwrap();
    fs::set_permissions(root.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
    for applet in ["sh", "sleep", "kill", "echo"] {
        symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    // A foreign hupwatch runs under its emulator, which runs the generations natively.
    let mut entry = vec!["/hupwatch".to_string()];
    if let Some(emulator) = emulator_bin() {
        let name = emulator.file_name().unwrap().to_str().unwrap();
        fs::copy(&emulator, root.join(name)).unwrap();
        entry.insert(0, format!("/{name}"));
    }

    // Each generation writes /tmp/gen.PID once its trap is set, /tmp/term.PID when it gets TERM.
    let script = "trap 'echo TERM > /tmp/term.$$; exit 0' TERM; \
                  echo $$ > /tmp/gen.$$; \
                  while :; do sleep 0.05; done";
    let chroot = which("chroot").expect("chroot(8) not found");
    let mut cmd = Command::new(which("unshare").unwrap());
    cmd.arg("--pid")
        .arg("--fork")
        .arg(format!("--mount-proc={}", root.join("proc").display()))
        .arg("--kill-child")
        .arg(chroot)
        .arg(root.path())
        .args(&entry)
        .args(["-w", "0.2", "--", "/bin/sh", "-c", script])
        .env_clear()
        .env("PATH", "/bin");
    let mut wrapper = Running::spawn(&mut cmd);
    let tmp = root.join("tmp");
    let first = wait_for(LONG, || pids_with_prefix(&tmp, "gen").first().copied())
        .unwrap_or_else(|| panic!("generation 1 did not start; stderr:\n{}", wrapper.stderr()));
    let in_root = root.join("hupwatch");
    let hw =
        wait_for(LONG, || descendants(wrapper.pid()).into_iter().find(|&p| ns_pid(p) == Some(1) && runs(p, &in_root)))
            .expect("hupwatch as PID 1 not found");

    // Reload from inside the namespace: `kill -HUP 1` run in hupwatch's namespaces and root.
    if !on_path("nsenter") {
        support::skip("nsenter not found (Debian package: util-linux): reloading from outside instead");
        assert!(kill(hw, libc::SIGHUP));
    } else {
        let target = hw.to_string();
        let out = Command::new(which("nsenter").unwrap())
            .args(["--target", &target, "--pid", "--mount", "--root", "--"])
            .args(["/bin/busybox", "kill", "-HUP", "1"])
            .env_clear()
            .output()
            .expect("nsenter");
        assert!(out.status.success(), "kill -HUP 1: {}", String::from_utf8_lossy(&out.stderr));
    }
    let second = wait_for(LONG, || pids_with_prefix(&tmp, "gen").into_iter().find(|&p| p != first))
        .unwrap_or_else(|| panic!("kill -HUP 1 did not reload; stderr:\n{}", wrapper.stderr()));
    assert!(
        wait_until(LONG, || tmp.join(format!("term.{first}")).exists()),
        "old generation did not get TERM; stderr:\n{}",
        wrapper.stderr()
    );
    assert!(!tmp.join(format!("term.{second}")).exists());

    // Stop: TERM to PID 1 reaches the serving shell, which exits 0.
    assert!(kill(hw, libc::SIGTERM));
    assert_eq!(wrapper.wait_code(LONG), 0, "stderr:\n{}", wrapper.stderr());
    assert!(tmp.join(format!("term.{second}")).exists());
}
