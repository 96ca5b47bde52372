//! Embeds the git commit (when built from a git checkout) for `--version`.
use std::process::Command;

/// What `git ARGS` prints, trimmed; `None` outside a checkout or without git.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok().filter(|o| o.status.success())?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn main() {
    let suffix = git(&["rev-parse", "--short=12", "HEAD"]).map(|c| format!(" (commit {c})")).unwrap_or_default();
    println!("cargo:rustc-env=HUPWATCH_COMMIT_SUFFIX={suffix}");
    // Where HEAD and the branches live: `.git/...` in a checkout, elsewhere in
    // a worktree (where `.git` is a file, and a missing path would make cargo
    // rebuild every time).
    for path in ["HEAD", "refs/heads"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    println!("cargo:rerun-if-env-changed=HUPWATCH_COMMIT_SUFFIX");
}
