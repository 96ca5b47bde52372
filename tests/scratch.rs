//! The scratch-container situation without docker: the static release binary alone in an
//! otherwise empty root (plus busybox-static as the demo command), PID 1 of a new PID
//! namespace, reloaded by `kill -HUP 1` from inside the namespace, then stopped.

mod support;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

const MUSL: &str = "x86_64-unknown-linux-musl";

/// Whether the ELF file at `path` is statically linked (has no PT_INTERP program header).
fn is_static_elf(path: &Path) -> bool {
    let Ok(bytes) = fs::read(path) else { return false };
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).all(|i| {
        let at = phoff + i * phentsize;
        at + 4 <= bytes.len() && u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) != 3
    })
}

fn musl_target_installed() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else { return false };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Path::new(&sysroot).join("lib/rustlib").join(MUSL).join("lib").is_dir()
}

/// Builds the static release binary into its own target directory (so it never waits for
/// the lock of the `cargo test` that runs us) and returns its path.
fn build_static_binary() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target_dir = manifest.join("target").join("scratch-test");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
    let log = TempDir::new("cargo-build");
    let log_path = log.join("log");
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--target", MUSL])
        .current_dir(&manifest)
        .env("CARGO_TARGET_DIR", &target_dir)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&log_path).unwrap())
        .stderr(fs::File::create(&log_path).unwrap());
    let mut build = Running::spawn_raw(&mut cmd);
    let status = build.wait_exit(Duration::from_secs(600));
    assert!(status.success(), "static build failed:\n{}", read(&log_path));
    let bin = target_dir.join(MUSL).join("release").join("hupwatch");
    assert!(is_static_elf(&bin), "{} is not a static executable", bin.display());
    bin
}

fn comm(pid: i32) -> String {
    read(format!("/proc/{pid}/comm")).trim().to_string()
}

#[test]
fn static_binary_as_pid1_in_an_empty_root_reloads_on_kill_hup_1() {
    if !musl_target_installed() {
        return support::skip(&format!("the {MUSL} target is not installed (rustup target add {MUSL})"));
    }
    let busybox = Path::new("/bin/busybox");
    if !is_static_elf(busybox) {
        return support::skip("/bin/busybox is missing or not static (install busybox-static)");
    }
    if !can_unshare() {
        return;
    }
    let bin = build_static_binary();

    // The root: /hupwatch, /bin/busybox and the applets used, empty /proc and /tmp.
    let root = TempDir::new("scratch-root");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("proc")).unwrap();
    fs::create_dir_all(root.join("tmp")).unwrap();
    fs::copy(&bin, root.join("hupwatch")).unwrap();
    fs::copy(busybox, root.join("bin/busybox")).unwrap();
    fs::set_permissions(root.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
    for applet in ["sh", "sleep", "kill", "echo"] {
        symlink("busybox", root.join("bin").join(applet)).unwrap();
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
        .args(["/hupwatch", "-w", "0.2", "--", "/bin/sh", "-c", script])
        .env_clear()
        .env("PATH", "/bin");
    let mut wrapper = Running::spawn(&mut cmd);
    let tmp = root.join("tmp");
    let first = wait_for(LONG, || pids_with_prefix(&tmp, "gen").first().copied())
        .unwrap_or_else(|| panic!("generation 1 did not start; stderr:\n{}", wrapper.stderr()));
    let hw = wait_for(LONG, || {
        descendants(wrapper.pid()).into_iter().find(|&p| ns_pid(p) == Some(1) && comm(p) == "hupwatch")
    })
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
