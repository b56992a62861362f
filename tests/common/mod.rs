//! Helpers shared by the end-to-end tests: run the real binary in a scratch folder.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

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
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

pub fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    bin().args(args).output().expect("runs").into()
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
