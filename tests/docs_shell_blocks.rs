//! The README and `docs/` say what to type: this runs it.
//!
//! Every fenced block names its language. A shell block (`sh`, `bash`,
//! `shell`) is run, unless the line above it (blank lines aside) is
//! `<!-- not run: REASON -->` with a reason. The runnable blocks of one file
//! run in order, each with `bash -euo pipefail`, in one scratch folder per
//! file, as a reader following the page would, with the `keyceremony` this
//! test builds first on PATH. `<!-- run with: PATH... -->` above a block copies
//! those files of the checkout into the scratch folder first.
//!
//! Also here: `scripts/demo.sh`, the README's main command, runs with this
//! build and says where the outputs are.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const SHELLS: [&str; 3] = ["sh", "bash", "shell"];
const NOT_RUN: &str = "<!-- not run:";
const RUN_WITH: &str = "<!-- run with:";

#[derive(Debug)]
struct Block {
    file: PathBuf,
    /// 1-based line of the opening fence
    line: usize,
    info: String,
    body: String,
    /// The comment just above the fence, if any.
    marker: Option<String>,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn documents() -> Vec<PathBuf> {
    let mut files = vec![repo().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The fenced blocks of one Markdown file; panics on an unclosed fence.
fn blocks(file: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].strip_prefix("```") else {
            i += 1;
            continue;
        };
        let start = i;
        let mut body = String::new();
        i += 1;
        while i < lines.len() && lines[i].trim_end() != "```" {
            body.push_str(lines[i]);
            body.push('\n');
            i += 1;
        }
        assert!(
            i < lines.len(),
            "{}:{}: the block is never closed",
            file.display(),
            start + 1
        );
        let marker = lines[..start]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .filter(|l| l.trim_start().starts_with("<!--"))
            .map(|l| l.trim().to_string());
        out.push(Block {
            file: file.to_path_buf(),
            line: start + 1,
            info: info.trim().to_string(),
            body,
            marker,
        });
        i += 1;
    }
    out
}

fn is_shell(b: &Block) -> bool {
    SHELLS.contains(&b.info.as_str())
}

fn not_run_reason(b: &Block) -> Option<&str> {
    let m = b.marker.as_deref()?;
    let reason = m.strip_prefix(NOT_RUN)?.strip_suffix("-->")?.trim();
    Some(reason)
}

fn run_with(b: &Block) -> Vec<String> {
    b.marker
        .as_deref()
        .and_then(|m| m.strip_prefix(RUN_WITH))
        .and_then(|m| m.strip_suffix("-->"))
        .map(|m| m.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

fn bin_dir() -> PathBuf {
    let bin = assert_cmd::cargo::cargo_bin("keyceremony");
    bin.parent().unwrap().to_path_buf()
}

fn path_with_bin() -> String {
    format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Runs `script` with bash in `dir`; (status, stdout, stderr). coreutils'
/// `timeout` gives up (status 124) after `limit`; the output is read as it
/// comes, so a block that prints much cannot stall on a full pipe.
fn bash_in(dir: &Path, script: &str, limit: Duration) -> (Option<i32>, String, String) {
    let out = Command::new("timeout")
        .args(["--kill-after=5", &format!("{}s", limit.as_secs())])
        .args(["bash", "-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path_with_bin())
        .env_remove("KEYCEREMONY_TEST_TOKENS")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_block_names_its_language_and_every_shell_block_runs_or_says_why_not() {
    let mut problems = Vec::new();
    for file in documents() {
        for b in blocks(&file) {
            let at = format!("{}:{}", b.file.display(), b.line);
            if b.info.is_empty() {
                problems.push(format!(
                    "{at}: the block names no language (sh to run it, text for output or a synopsis)"
                ));
            }
            if let Some(m) = &b.marker {
                if m.starts_with(NOT_RUN) && not_run_reason(&b).is_none_or(str::is_empty) {
                    problems.push(format!("{at}: `not run` without a reason"));
                }
                if (m.starts_with(NOT_RUN) || m.starts_with(RUN_WITH)) && !is_shell(&b) {
                    problems.push(format!("{at}: a run marker on a block that is not shell"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_shell_blocks_of_the_readme_and_docs_run() {
    let mut ran = 0;
    let mut failures = Vec::new();
    for file in documents() {
        let scratch = tempfile::tempdir().unwrap();
        for b in blocks(&file).into_iter().filter(is_shell) {
            if not_run_reason(&b).is_some() {
                continue;
            }
            for f in run_with(&b) {
                let from = repo().join(&f);
                let to = scratch.path().join(Path::new(&f).file_name().unwrap());
                std::fs::copy(&from, &to)
                    .unwrap_or_else(|e| panic!("run with {}: {e}", from.display()));
            }
            let (code, stdout, stderr) = bash_in(scratch.path(), &b.body, Duration::from_secs(300));
            ran += 1;
            if code != Some(0) {
                failures.push(format!(
                    "{}:{}: exit {code:?}\n--- block\n{}--- stdout\n{stdout}--- stderr\n{stderr}",
                    b.file.display(),
                    b.line,
                    b.body
                ));
                // the later blocks of this file build on this one
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // the README's quick start, tokens and bundles, and the transcript check at least
    assert!(ran >= 4, "only {ran} blocks ran");
}

#[test]
fn a_block_that_fails_is_reported_with_its_place() {
    // the runner itself: a failing script is seen as failing, and parsing finds fences
    let dir = tempfile::tempdir().unwrap();
    let (code, _, _) = bash_in(dir.path(), "false\necho never\n", Duration::from_secs(10));
    assert_eq!(code, Some(1));
    let (code, _, _) = bash_in(
        dir.path(),
        "keyceremony --version\n",
        Duration::from_secs(10),
    );
    assert_eq!(code, Some(0), "keyceremony is on PATH");
    let md = dir.path().join("x.md");
    std::fs::write(
        &md,
        "text\n\n<!-- not run: because -->\n\n```sh\nfalse\n```\n```\nplain\n```\n",
    )
    .unwrap();
    let found = blocks(&md);
    assert_eq!(found.len(), 2);
    assert_eq!((found[0].line, found[0].info.as_str()), (5, "sh"));
    assert_eq!(not_run_reason(&found[0]), Some("because"));
    assert_eq!(
        (found[1].info.as_str(), found[1].marker.as_deref()),
        ("", None)
    );
}

#[test]
fn the_readme_main_command_runs_the_demo_ceremony() {
    let base = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = {
        let mut c = Command::new("bash");
        c.env("KEYCEREMONY_DEMO_BASE", base.path());
        c.arg(repo().join("scripts/demo.sh"))
            .current_dir(repo())
            .env(
                "KEYCEREMONY_BIN",
                assert_cmd::cargo::cargo_bin("keyceremony"),
            )
            .env_remove("KEYCEREMONY_TEST_TOKENS")
            .stdin(Stdio::null());
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let shown = format!("{stdout}{stderr}");
    for expected in ["transcript", "REHEARSAL"] {
        assert!(
            shown.contains(expected),
            "demo output lacks {expected:?}:\n{shown}"
        );
    }
    // the outputs are where it says, and the scratch folder (the PIN file) is gone
    let left: Vec<PathBuf> = std::fs::read_dir(base.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    let outputs = &left[0];
    assert!(
        shown.contains(&format!("are in {}", outputs.display())),
        "{shown}"
    );
    for f in [
        "transcript.jsonl",
        "transcript.html",
        "ceremony.json",
        "shard-1.json",
    ] {
        assert!(outputs.join(f).is_file(), "no {f} in {}", outputs.display());
    }
}
