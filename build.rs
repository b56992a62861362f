//! Embeds what `keyceremony version` reports about the build: the source
//! commit and the compiler. Nothing that changes from one build of the same
//! source to the next (no time, no path, no host name), so two builds of one
//! commit stay byte for byte identical.
//!
//! The commit comes from, in order:
//! 1. `KEYCEREMONY_SOURCE_COMMIT` in the environment;
//! 2. the file `SOURCE_COMMIT` beside `Cargo.toml`, which `scripts/release.sh`
//!    writes into the source archive (it has no `.git`);
//! 3. `git`, when this folder is a git checkout: `HEAD`, with `dirty` set when
//!    a tracked file that goes into the binary differs from it;
//! 4. otherwise `unknown`.

use std::path::Path;
use std::process::Command;

/// What goes into the binary: a change here (committed or not) changes it.
const BUILD_INPUTS: [&str; 6] = [
    "src",
    "templates",
    "build.rs",
    "Cargo.toml",
    "Cargo.lock",
    ".cargo",
];

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
    let root = Path::new(&manifest_dir);

    println!("cargo:rerun-if-env-changed=KEYCEREMONY_SOURCE_COMMIT");
    watch(&root.join("SOURCE_COMMIT"));
    // Watching the inputs (not git's index) reruns this script exactly when
    // the crate is rebuilt anyway, so the dirty flag cannot go stale.
    for input in BUILD_INPUTS {
        watch(&root.join(input));
    }

    let (commit, dirty) = source_commit(root);
    println!("cargo:rustc-env=KEYCEREMONY_COMMIT={commit}");
    println!("cargo:rustc-env=KEYCEREMONY_COMMIT_DIRTY={dirty}");
    let label = if dirty {
        format!("{commit} with uncommitted changes")
    } else {
        commit.clone()
    };
    println!("cargo:rustc-env=KEYCEREMONY_COMMIT_LABEL={label}");
    println!("cargo:rustc-env=KEYCEREMONY_RUSTC={}", rustc_version());
    println!(
        "cargo:rustc-env=KEYCEREMONY_TARGET={}",
        std::env::var("TARGET").expect("set by cargo")
    );
}

fn source_commit(root: &Path) -> (String, bool) {
    if let Ok(commit) = std::env::var("KEYCEREMONY_SOURCE_COMMIT") {
        return (
            checked_commit(commit.trim(), "KEYCEREMONY_SOURCE_COMMIT"),
            false,
        );
    }
    let file = root.join("SOURCE_COMMIT");
    if file.exists() {
        let text = std::fs::read_to_string(&file).expect("SOURCE_COMMIT is readable text");
        return (checked_commit(text.trim(), "SOURCE_COMMIT"), false);
    }
    // Only this folder's own repository: an unpacked source archive inside
    // some other checkout must not take that checkout's commit.
    if root.join(".git").exists() {
        if let Some(commit) = git(root, &["rev-parse", "HEAD"]) {
            watch_git_head(root);
            let mut args = vec!["status", "--porcelain", "--untracked-files=no", "--"];
            args.extend(BUILD_INPUTS);
            let dirty = git(root, &args).is_none_or(|changes| !changes.is_empty());
            return (checked_commit(&commit, "git rev-parse HEAD"), dirty);
        }
    }
    ("unknown".to_string(), false)
}

/// A commit id is 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
fn checked_commit(commit: &str, from: &str) -> String {
    let ok = matches!(commit.len(), 40 | 64)
        && commit
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    assert!(ok, "{from}: not a commit id: {commit:?}");
    commit.to_string()
}

/// Reruns this script when HEAD moves: its own file, and the branch it names.
fn watch_git_head(root: &Path) {
    for what in ["HEAD", "packed-refs"] {
        if let Some(path) = git(root, &["rev-parse", "--git-path", what]) {
            watch(&root.join(path));
        }
    }
    if let Some(branch) = git(root, &["symbolic-ref", "-q", "HEAD"]) {
        if let Some(path) = git(root, &["rev-parse", "--git-path", &branch]) {
            watch(&root.join(path));
        }
    }
}

/// Cargo reruns a script on every build while a watched path is missing:
/// watch only what exists.
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}

fn rustc_version() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{rustc} --version: {e}"));
    assert!(out.status.success(), "{rustc} --version failed");
    String::from_utf8(out.stdout)
        .expect("rustc --version prints UTF-8")
        .trim()
        .to_string()
}
