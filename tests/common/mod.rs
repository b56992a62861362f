//! Helpers shared by the end-to-end tests: run the real binary in a scratch folder.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

pub mod schema;

pub fn bin() -> Command {
    let mut c = Command::cargo_bin("keyceremony").expect("binary built");
    c.env_remove("KEYCEREMONY_TEST_TOKENS");
    c
}

pub fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    /// Every `--json` document on stdout is checked against its schema
    /// (docs/schema/) here, where the tests take in what the binary printed.
    fn from(o: Output) -> Self {
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        schema::check_stdout(&stdout);
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout,
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A `--json` document printed on stdout, checked against its schema.
pub fn json_document(stdout: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(stdout);
    schema::check_stdout(&text);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not one JSON document ({e}): {text:?}"))
}

pub fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    bin().args(args).output().expect("runs").into()
}

/// Runs the binary in `dir` (relative paths in `args` start there).
pub fn run_in(dir: &Path, args: &[&str]) -> Run {
    bin()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs")
        .into()
}

/// `ceremony run PLAN --out out --yes --pin-file pin.txt` in `dir`, with
/// `pin` (the test tokens' PIN) written to `dir/pin.txt` first.
pub fn run_ceremony_with_yes(dir: &Path, plan: &Path, pin: &str) -> Run {
    std::fs::write(dir.join("pin.txt"), format!("{pin}\n")).unwrap();
    let plan = plan.to_str().unwrap();
    run_in(
        dir,
        &[
            "ceremony",
            "run",
            plan,
            "--out",
            "out",
            "--yes",
            "--pin-file",
            "pin.txt",
        ],
    )
}

/// Lists every file below `dir`, relative names, sorted.
pub fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                for f in files_below(&p) {
                    out.push(format!("{}/{}", e.file_name().to_string_lossy(), f));
                }
            } else {
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// Splits a fresh key t-of-n into `dir`, returning the parsed JSON report.
pub fn split_generated(dir: &Path, t: u16, n: u16) -> serde_json::Value {
    let r = run([
        "split",
        "--json",
        "-t",
        &t.to_string(),
        "-n",
        &n.to_string(),
        "--generate",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "split failed: {}", r.stderr);
    serde_json::from_str(&r.stdout).expect("split --json prints JSON")
}

/// Whether `script` (util-linux) is there to give a test a pseudo-terminal;
/// says so visibly when it is not.
pub fn have_script() -> bool {
    let ok = std::process::Command::new("script")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("\n*** SKIPPED: `script` (util-linux) is not installed; no terminal to test the prompt on ***\n");
    }
    ok
}

/// Runs the binary with `args` (and extra environment) on a pseudo-terminal,
/// typing each answer once its prompt has shown (so the program waits, with
/// echo off). Returns the exit status and everything the terminal showed.
pub fn on_terminal(
    args: &[&str],
    envs: &[(&str, &std::path::Path)],
    answers: &[(&str, &str)],
) -> (i32, String) {
    let bin = assert_cmd::cargo::cargo_bin("keyceremony");
    program_on_terminal(&bin, args, envs, answers)
}

/// [`on_terminal`] for any program (for example Go `age`, which reads a
/// plugin's PIN request only from a terminal).
pub fn program_on_terminal(
    program: &Path,
    args: &[&str],
    envs: &[(&str, &std::path::Path)],
    answers: &[(&str, &str)],
) -> (i32, String) {
    let steps: Vec<(&str, Do)> = answers.iter().map(|(p, a)| (*p, Do::Type(a))).collect();
    program_on_terminal_doing(program, args, envs, &steps)
}

/// What to do on the terminal once a text has shown.
#[derive(Clone, Copy, Debug)]
pub enum Do<'a> {
    /// Type this and Enter.
    Type(&'a str),
    /// Send these bytes as typed, without Enter (`b"\x03"` is Ctrl-C).
    Keys(&'a [u8]),
    /// Send this signal to the program's process itself (not the terminal).
    Signal(i32),
}

/// The process of this test: its executable is `program` and its command
/// line holds `marker` (a path unique to the test).
fn pid_of(program: &Path, marker: &str) -> Option<i32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let exe = std::fs::read_link(e.path().join("exe")).ok();
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if exe.as_deref() == Some(program) && String::from_utf8_lossy(&cmdline).contains(marker) {
            return Some(pid);
        }
    }
    None
}

/// [`on_terminal`] with each step one of [`Do`]. A [`Do::Signal`] goes to
/// the process whose command line holds the last argument of `args`.
pub fn on_terminal_doing(
    args: &[&str],
    envs: &[(&str, &std::path::Path)],
    steps: &[(&str, Do)],
) -> (i32, String) {
    let bin = assert_cmd::cargo::cargo_bin("keyceremony");
    program_on_terminal_doing(&bin, args, envs, steps)
}

/// [`program_on_terminal`] with each step one of [`Do`].
pub fn program_on_terminal_doing(
    program: &Path,
    args: &[&str],
    envs: &[(&str, &std::path::Path)],
    steps: &[(&str, Do)],
) -> (i32, String) {
    use std::io::{Read, Write};
    use std::process::Stdio;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    // `script` runs the command line through the shell: quote every word.
    let quote = |w: &str| format!("'{}'", w.replace('\'', "'\\''"));
    let words: Vec<String> = std::iter::once(program.to_string_lossy().into_owned())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|w| quote(&w))
        .collect();
    // `exec`: a shell that stays as the parent (dash, when CI leaves SHELL
    // unset) would also get the terminal's Ctrl-C and die of it, status 130.
    let cmd = format!("exec {}", words.join(" "));
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .envs(envs.iter().map(|(k, v)| (*k, *v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let shown = Arc::new(Mutex::new(String::new()));
    let mut out = child.stdout.take().unwrap();
    let sink = Arc::clone(&shown);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut seen_upto = 0;
    for (prompt, action) in steps {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = shown.lock().unwrap().clone();
            if let Some(i) = text[seen_upto..].find(prompt) {
                seen_upto += i + prompt.len();
                break;
            }
            // A program that ended will show no more prompts (wait for its last output).
            let ended = matches!(child.try_wait(), Ok(Some(_)));
            if ended {
                std::thread::sleep(Duration::from_millis(200));
            }
            let text = shown.lock().unwrap().clone();
            assert!(
                !ended && Instant::now() < deadline,
                "no prompt {prompt:?} in {text:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(200)); // echo goes off after the prompt
        match action {
            Do::Type(answer) => writeln!(stdin, "{answer}").unwrap(),
            Do::Keys(bytes) => stdin.write_all(bytes).unwrap(),
            Do::Signal(sig) => {
                let marker = args.last().expect("a marker argument");
                let pid = pid_of(program, marker).expect("the program's process");
                assert_eq!(unsafe { libc::kill(pid, *sig) }, 0);
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        stdin.flush().unwrap();
    }
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    let text = shown.lock().unwrap().clone();
    (status.code().unwrap_or(-1), text)
}

/// Whether `tool arg` runs and succeeds (the program is installed).
pub fn have_tool(tool: &str, arg: &str) -> bool {
    std::process::Command::new(tool)
        .arg(arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// For a test that needs outside programs (`(tool, version arg)`): true when
/// all are there; otherwise says SKIPPED on the terminal and returns false,
/// or, when KEYCEREMONY_REQUIRE_INTEROP is set (the test command), fails.
pub fn tools_or_skip(test: &str, tools: &[(&str, &str)], install: &str) -> bool {
    use std::io::Write;
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(t, a)| !have_tool(t, a))
        .map(|(t, _)| *t)
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os("KEYCEREMONY_REQUIRE_INTEROP").is_some() {
        panic!(
            "{test}: {} not installed and KEYCEREMONY_REQUIRE_INTEROP is set: run {install}",
            missing.join(", ")
        );
    }
    // straight to stderr: the harness does not capture it, so the skip shows
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {} not installed (run {install})",
        missing.join(", ")
    );
    false
}

/// Waits for `child` at most `secs` seconds, killing it then; panics naming
/// `what` when it fails or takes too long.
pub fn wait_or_kill(mut child: std::process::Child, secs: u64, what: &str) {
    use std::time::{Duration, Instant};
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{what} exited with {status}");
            return;
        }
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
