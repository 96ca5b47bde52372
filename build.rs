//! Embeds the git commit (when built from a git checkout) for `--version`.
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let suffix = commit.map(|c| format!(" (commit {c})")).unwrap_or_default();
    println!("cargo:rustc-env=HUPWATCH_COMMIT_SUFFIX={suffix}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    println!("cargo:rerun-if-env-changed=HUPWATCH_COMMIT_SUFFIX");
}
