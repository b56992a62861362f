//! The release-facing commands, through the binary: `version` (and
//! `--version`), `completions` loaded into a real bash, `man` pages rendered
//! by `man -l`, and start-up on a machine without the PC/SC library.
//!
//! `man`, `readelf` and `unshare` come from the test command's set-up
//! (`scripts/ensure-release-tools.sh`); where they are missing (or `unshare
//! --mount` is refused: it needs root) the tests that need them say SKIPPED,
//! and fail instead when `KEYCEREMONY_REQUIRE_INTEROP` says everything must
//! be there (`common::tools_or_skip`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bin, run, tools_or_skip};
use serde_json::Value;
use sha2::{Digest, Sha256};

const INSTALL: &str = "scripts/ensure-release-tools.sh";

fn binary_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keyceremony"))
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

// ---------------------------------------------------------------- version

#[test]
fn version_json_names_the_build_and_hashes_the_binary_that_runs() {
    let r = run(["--json", "version"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["command"], "version");
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["version"], env!("CARGO_PKG_VERSION"));

    let bytes = std::fs::read(binary_path()).unwrap();
    assert_eq!(
        doc["binary_sha256"].as_str().unwrap(),
        hex::encode(Sha256::digest(&bytes))
    );
    assert_eq!(
        Path::new(doc["binary_path"].as_str().unwrap()),
        binary_path().canonicalize().unwrap()
    );

    let rustc = Command::new("rustc").arg("--version").output().unwrap();
    assert_eq!(
        doc["rustc"].as_str().unwrap(),
        String::from_utf8_lossy(&rustc.stdout).trim()
    );
    assert!(doc["target"].as_str().unwrap().contains("linux"));
    assert!(doc["dirty"].is_boolean());

    let commit = doc["commit"].as_str().unwrap();
    let head = Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
        .output();
    match head {
        Ok(o) if o.status.success() => {
            assert_eq!(commit, String::from_utf8_lossy(&o.stdout).trim())
        }
        // Built from the source archive: SOURCE_COMMIT names it.
        _ => assert!(commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
    }
}

#[test]
fn version_text_and_dash_dash_version_agree() {
    let json: Value = serde_json::from_str(&run(["--json", "version"]).stdout).unwrap();
    let commit = json["commit"].as_str().unwrap();

    let text = run(["version"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text
        .stdout
        .starts_with(&format!("keyceremony {}\n", env!("CARGO_PKG_VERSION"))));
    assert!(text.stdout.contains(&format!("commit:        {commit}")));
    assert!(text.stdout.contains(&format!(
        "binary sha256: {}",
        json["binary_sha256"].as_str().unwrap()
    )));

    let long = run(["--version"]);
    assert_eq!(long.code, 0, "{}", long.stderr);
    assert!(long
        .stdout
        .starts_with(&format!("keyceremony {}\n", env!("CARGO_PKG_VERSION"))));
    assert!(long.stdout.contains(&format!("commit: {commit}")));
    assert!(long.stdout.contains(json["rustc"].as_str().unwrap()));

    let short = run(["-V"]);
    assert_eq!(short.code, 0);
    assert!(short.stdout.contains(commit), "{}", short.stdout);
}

// ------------------------------------------------------------ completions

/// What bash's programmable completion offers for the words typed so far
/// (the last one being completed), with the script loaded from the binary.
fn bash_complete(words: &[&str]) -> Vec<String> {
    let script = format!(
        r#"source <("$KC" completions bash) || exit 3
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
cur="${{COMP_WORDS[COMP_CWORD]}}"
prev="${{COMP_WORDS[COMP_CWORD-1]}}"
_keyceremony keyceremony "$cur" "$prev" || exit 4
printf '%s\n' "${{COMPREPLY[@]}}""#,
        words = words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &script])
        .env("KC", binary_path())
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "bash completion failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completion_completes_subcommands_options_and_values() {
    assert_eq!(bash_complete(&["keyceremony", "spl"]), ["split"]);
    assert_eq!(
        bash_complete(&["keyceremony", "split", "--thr"]),
        ["--threshold"]
    );
    assert_eq!(bash_complete(&["keyceremony", "bundle", "op"]), ["open"]);
    let shells = bash_complete(&["keyceremony", "completions", ""]);
    for shell in ["bash", "zsh", "fish"] {
        assert!(shells.iter().any(|s| s == shell), "{shells:?}");
    }
    assert!(bash_complete(&["keyceremony", "nosuchcommand"]).is_empty());
}

#[test]
fn completion_scripts_for_zsh_and_fish_are_written_and_parse_where_the_shell_is() {
    for (shell, first) in [("zsh", "#compdef keyceremony"), ("fish", "")] {
        let r = run(["completions", shell]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.starts_with(first), "{shell}: {}", &r.stdout[..80]);
        assert!(r.stdout.contains("assemble"));
        // Only checked where that shell is installed (not in the test set-up).
        if Command::new(shell).arg("--version").output().is_ok() {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("script");
            std::fs::write(&file, &r.stdout).unwrap();
            let check = Command::new(shell).arg("-n").arg(&file).output().unwrap();
            assert!(check.status.success(), "{shell} -n: {check:?}");
        }
    }
    let bad = run(["completions", "tcsh"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("possible values: bash, zsh, fish"),
        "{}",
        bad.stderr
    );
}

// -------------------------------------------------------------- man pages

#[test]
fn man_pages_are_written_for_every_subcommand_and_render() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man");
    let r = run(["man", "--out", p(&out)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for page in [
        "keyceremony.1",
        "keyceremony-split.1",
        "keyceremony-bundle-create.1",
        "keyceremony-token-attest.1",
        "keyceremony-man.1",
    ] {
        assert!(names.iter().any(|n| n == page), "{page} in {names:?}");
    }

    // Refused over existing pages without --force, replaced with it.
    let again = run(["man", "--out", p(&out)]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    assert_eq!(run(["man", "--out", p(&out), "--force"]).code, 0);

    // The top page on stdout is the same as the file.
    let top = run(["man"]);
    assert_eq!(top.code, 0);
    assert_eq!(
        top.stdout,
        std::fs::read_to_string(out.join("keyceremony.1")).unwrap()
    );

    if !tools_or_skip("man -l", &[("man", "--version")], INSTALL) {
        return;
    }
    for (page, expect) in [
        ("keyceremony.1", "SUBCOMMANDS"),
        ("keyceremony-split.1", "--threshold"),
        ("keyceremony-bundle-open.1", "--identity"),
    ] {
        let rendered = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(out.join(page))
            .env("MANWIDTH", "100")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&rendered.stdout);
        let warnings = String::from_utf8_lossy(&rendered.stderr);
        assert!(rendered.status.success(), "man -l {page}: {warnings}");
        assert!(
            warnings.trim().is_empty(),
            "man -l {page} warns: {warnings}"
        );
        assert!(text.contains("NAME") && text.contains("SYNOPSIS"), "{text}");
        assert!(text.contains(expect), "{page} lacks {expect}: {text}");
    }
}

// ------------------------------------------------ start-up without PC/SC

/// The installed files of libpcsclite.so.1, symlinks resolved.
fn pcsclite_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [
        "/usr/lib/x86_64-linux-gnu",
        "/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
    ] {
        for name in ["libpcsclite.so.1", "libpcsclite.so"] {
            if let Ok(real) = Path::new(dir).join(name).canonicalize() {
                if !files.contains(&real) {
                    files.push(real);
                }
            }
        }
    }
    files
}

/// Runs the binary with every copy of the PC/SC library hidden (bound over by
/// /dev/null in a private mount namespace), as on a machine without it.
fn run_without_pcsclite(args: &[&str], dir: &Path) -> common::Run {
    let mut script = String::from("set -e\n");
    for f in pcsclite_files() {
        script.push_str(&format!("mount --bind /dev/null '{}'\n", f.display()));
    }
    script.push_str("exec \"$@\"\n");
    Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            "sh",
        ])
        .arg(binary_path())
        .args(args)
        .current_dir(dir)
        .env_remove("KEYCEREMONY_TEST_TOKENS")
        .output()
        .expect("unshare runs")
        .into()
}

#[test]
fn the_binary_does_not_link_the_pcsc_library() {
    if !tools_or_skip("readelf -d", &[("readelf", "--version")], INSTALL) {
        return;
    }
    let out = Command::new("readelf")
        .args(["-d"])
        .arg(binary_path())
        .output()
        .unwrap();
    let dynamic = String::from_utf8_lossy(&out.stdout);
    assert!(dynamic.contains("(NEEDED)"), "{dynamic}");
    assert!(!dynamic.contains("pcsc"), "{dynamic}");
}

#[test]
fn without_the_pcsc_library_everything_but_tokens_runs_and_tokens_say_what_to_install() {
    if !tools_or_skip("unshare --mount", &[("unshare", "--version")], INSTALL) {
        return;
    }
    let works = Command::new("unshare")
        .args(["--mount", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !works {
        // A mount namespace needs root (the test command runs as root).
        assert!(
            std::env::var_os("KEYCEREMONY_REQUIRE_INTEROP").is_none(),
            "unshare --mount is refused here: run the tests as root"
        );
        eprintln!("SKIPPED: unshare --mount is refused here (needs root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();

    let version = run_without_pcsclite(&["--version"], dir.path());
    assert_eq!(version.code, 0, "{}", version.stderr);
    assert!(version.stdout.starts_with("keyceremony "));
    assert_eq!(run_without_pcsclite(&["version"], dir.path()).code, 0);

    let split = run_without_pcsclite(
        &["split", "--generate", "-t", "2", "-n", "3", "--out", "c"],
        dir.path(),
    );
    assert_eq!(split.code, 0, "{}", split.stderr);
    let verify = run_without_pcsclite(
        &[
            "verify",
            "c/ceremony.json",
            "c/shard-1.json",
            "c/shard-3.json",
        ],
        dir.path(),
    );
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    let assemble = run_without_pcsclite(
        &["assemble", "c/shard-2.json", "c/shard-3.json", "--dry-run"],
        dir.path(),
    );
    assert_eq!(assemble.code, 0, "{}", assemble.stderr);

    for args in [
        &["token", "list"][..],
        &["token", "status", "--serial", "12345678"][..],
    ] {
        let token = run_without_pcsclite(args, dir.path());
        assert_eq!(token.code, 1, "{args:?}: {}", token.stdout);
        assert!(
            token.stderr.contains("libpcsclite.so.1")
                && token.stderr.contains("apt-get install libpcsclite1 pcscd"),
            "{args:?}: {}",
            token.stderr
        );
    }

    // A sealed share names the same fix instead of failing obscurely.
    let sealed = common::testdata("sealed");
    if let Some(age) = std::fs::read_dir(&sealed)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "age"))
    {
        let r = run_without_pcsclite(&["verify", p(&age)], dir.path());
        assert_eq!(r.code, 1);
        // verify reports each input on a BAD line (stdout)
        assert!(
            r.stdout.contains("BAD") && r.stdout.contains("apt-get install libpcsclite1 pcscd"),
            "{}{}",
            r.stdout,
            r.stderr
        );
    }

    // Test tokens need no PC/SC at all.
    let tokens = dir.path().join("tokens");
    let r = run_without_pcsclite(
        &[
            "--test-tokens",
            p(&tokens),
            "token",
            "init",
            "--serial",
            "4242",
            "--pin-file",
            p(&write_pin(dir.path())),
        ],
        dir.path(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn with_the_pcsc_library_token_commands_do_not_ask_for_it() {
    let r = bin().args(["token", "list"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    if pcsclite_files().is_empty() {
        assert!(stderr.contains("apt-get install libpcsclite1"), "{stderr}");
    } else {
        assert!(!stderr.contains("could not be loaded"), "{stderr}");
    }
}

fn write_pin(dir: &Path) -> PathBuf {
    let f = dir.join("pin");
    std::fs::write(&f, "123456\n").unwrap();
    f
}
