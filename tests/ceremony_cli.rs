//! `keyceremony ceremony run` through the binary: the demo plan end to end
//! with `--yes`; the refusals (non-empty output folder, a production plan
//! with test tokens, no terminal without `--yes`); and on a terminal, a
//! run stopped by Ctrl-C, by SIGTERM, and killed with SIGKILL: each leaves
//! no secret outside the shares handed out, and verify-transcript's verdict
//! says what happened (interrupted and signed, or unsigned).

mod ceremony_support;
mod common;

use std::path::Path;

use ceremony_support::*;
use common::{bin, have_script, on_terminal_doing, run_ceremony_with_yes, run_in, Do, Run};

#[test]
fn the_demo_plan_runs_end_to_end_with_yes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let plan = demo_plan(dir);
    let r = run_ceremony_with_yes(dir, &plan, PIN);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for step in [
        "Step 1: the plan",
        "Step 6: share 1 of 5: Alice Archer (file)",
        "Step 13: the key and the shares are wiped",
    ] {
        assert!(r.stdout.contains(step), "{step} not in {}", r.stdout);
    }
    assert!(r
        .stdout
        .contains("ceremony completed (REHEARSAL: not a real ceremony)"));
    assert!(r
        .stderr
        .contains("touch confirmed automatically (test token)"));
    let out = dir.join("out");
    // the transcript, against the record
    let v = run_in(
        dir,
        &[
            "ceremony",
            "verify-transcript",
            "out/transcript.jsonl",
            "--record",
            "out/ceremony.json",
        ],
    );
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stdout.contains("outcome              completed"),
        "{}",
        v.stdout
    );
    // a recovery rehearsal from the outputs: a QR image, a sealed share, a shard file
    let a = run_in(
        dir,
        &[
            "--test-tokens",
            "out/test-tokens",
            "assemble",
            "--pin-file",
            "pin.txt",
            "out/shard-2.png",
            "out/shard-4.age",
            "out/shard-1.json",
            "--dry-run",
        ],
    );
    assert_eq!(a.code, 0, "{}", a.stderr);
    let shares = shares_in_outputs(&out, &out.join("test-tokens"));
    assert_eq!(all_shares(&shares, 3, 5).unwrap(), shares);
    scan_folder(&out, &shares);
    scan_text("stdout", &r.stdout, &shares);
    scan_text("stderr", &r.stderr, &shares);

    // the same plan into the same folder: refused, nothing touched
    let before = std::fs::read(out.join("transcript.jsonl")).unwrap();
    let again = run_in(
        dir,
        &[
            "ceremony",
            "run",
            plan.to_str().unwrap(),
            "--out",
            "out",
            "--yes",
        ],
    );
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("the output folder is not empty"),
        "{}",
        again.stderr
    );
    assert!(!again.stdout.contains("Step 1"), "{}", again.stdout);
    assert_eq!(std::fs::read(out.join("transcript.jsonl")).unwrap(), before);
}

#[test]
fn refusals_through_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let prod = small_plan(
        dir,
        "production",
        "[[custodian]]\nname = \"A\"\ntransport = \"file\"\n[[custodian]]\nname = \"B\"\ntransport = \"file\"\n",
    );
    let r = run_in(
        dir,
        &[
            "--test-tokens",
            "tokens",
            "ceremony",
            "run",
            prod.to_str().unwrap(),
            "--out",
            "p",
            "--yes",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("a production plan cannot run with test tokens"),
        "{}",
        r.stderr
    );
    assert!(!dir.join("p").exists());
    // the environment variable counts as well
    let r: Run = bin()
        .current_dir(dir)
        .env("KEYCEREMONY_TEST_TOKENS", dir.join("tokens"))
        .args([
            "ceremony",
            "run",
            prod.to_str().unwrap(),
            "--out",
            "p",
            "--yes",
        ])
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("cannot run with test tokens"));

    // no terminal to confirm on, and no --yes
    let small = small_plan(dir, "rehearsal", SMALL_CUSTODIANS);
    let r = run_in(
        dir,
        &["ceremony", "run", small.to_str().unwrap(), "--out", "s"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("run it at a terminal, or pass --yes"),
        "{}",
        r.stderr
    );
    assert!(!dir.join("s").exists());

    // a plan with a mistake: FILE:LINE:COLUMN
    std::fs::write(dir.join("bad.toml"), "version = 1\ncolour = \"red\"\n").unwrap();
    let r = run_in(dir, &["ceremony", "run", "bad.toml", "--yes"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("bad.toml:2:1: unknown field `colour`"),
        "{}",
        r.stderr
    );
    assert!(!dir.join("bad-ceremony").exists());
}

#[test]
fn a_short_backup_passphrase_stops_the_run_before_the_key_exists() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let small = small_plan(dir, "rehearsal", SMALL_CUSTODIANS);
    std::fs::write(dir.join("pass.txt"), "hunter2\n").unwrap();
    let r = run_in(
        dir,
        &[
            "--test-tokens",
            "tokens",
            "ceremony",
            "run",
            small.to_str().unwrap(),
            "--out",
            "s",
            "--yes",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("pass.txt"), "{}", r.stderr);
    assert!(r.stderr.contains("only 7 characters"), "{}", r.stderr);
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
    assert!(!dir.join("s").exists(), "the run wrote something");
}

/// The small plan (2 of 3: file, QR sheet, test token) on a terminal, with
/// `steps` after the usual answers up to the prompt `until`.
fn small_on_terminal(dir: &Path, until: &str, then: &[(&str, Do)]) -> (i32, String) {
    let plan = small_plan(dir, "rehearsal", SMALL_CUSTODIANS);
    let out = dir.join("out");
    let mut steps: Vec<(&str, Do)> = Vec::new();
    let answers: [(&str, Do); 11] = [
        ("Plan: was its SHA-256", Do::Type("y")),
        ("Preflight: go on", Do::Type("y")),
        ("PIN for TEST TOKEN 41000001", Do::Type(PIN)),
        ("Tokens: is every token holder", Do::Type("y")),
        ("Key: was its fingerprint", Do::Type("y")),
        ("Split: was the ceremony id", Do::Type("y")),
        ("Alice Archer: have you received", Do::Type("y")),
        ("Path of a scan", Do::Type("")),
        ("Bob Baker: have you received", Do::Type("y")),
        ("PIN for TEST TOKEN 41000001", Do::Type(PIN)),
        ("Dan Driver: have you received", Do::Type("y")),
    ];
    for (p, d) in answers {
        if p == until {
            break;
        }
        steps.push((p, d));
    }
    steps.extend_from_slice(then);
    on_terminal_doing(
        &[
            "ceremony",
            "run",
            plan.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
        &steps,
    )
}

fn verify(dir: &Path) -> Run {
    let mut args = vec!["ceremony", "verify-transcript", "out/transcript.jsonl"];
    if dir.join("out/ceremony.json").exists() {
        args.extend(["--record", "out/ceremony.json"]);
    }
    run_in(dir, &args)
}

/// No file holds the key, nor a share other than its own.
fn no_secret_left(dir: &Path, shown: &str) {
    let out = dir.join("out");
    let known = shares_in_outputs(&out, &out.join("test-tokens"));
    let shares = all_shares(&known, 2, 3).unwrap_or_default();
    scan_folder(&out, &shares);
    scan_text("terminal", shown, &shares);
    let names = names_in(&out);
    assert!(
        names.iter().all(|n| !n.starts_with(".keyceremony-")),
        "{names:?}"
    );
}

#[test]
fn ctrl_c_on_the_terminal_stops_at_the_next_safe_point() {
    if !have_script() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Ctrl-C while the receipt of share 2 is asked; the answer comes after it
    let (code, shown) = small_on_terminal(
        dir,
        "Bob Baker: have you received",
        &[
            ("Bob Baker: have you received", Do::Keys(b"\x03")),
            ("", Do::Type("y")),
        ],
    );
    assert_eq!(code, 1, "{shown}");
    assert!(
        shown.contains("ceremony INTERRUPTED: stopped by Ctrl-C (SIGINT) at step share"),
        "{shown}"
    );
    let v = verify(dir);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stdout
            .contains("INTERRUPTED: stopped by Ctrl-C (SIGINT) at step share"),
        "{}",
        v.stdout
    );
    assert!(
        v.stdout
            .contains("handed out           share 1 (Alice Archer): shard-1.json"),
        "{}",
        v.stdout
    );
    assert!(
        v.stdout
            .contains("share 2 (Bob Baker): written but not handed out; removed: shard-2.png"),
        "{}",
        v.stdout
    );
    assert!(!dir.join("out/shard-2.png").exists());
    assert!(dir.join("out/transcript.html").exists());
    no_secret_left(dir, &shown);
}

#[test]
fn sigterm_stops_at_the_next_safe_point() {
    if !have_script() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (code, shown) = small_on_terminal(
        dir,
        "Split: was the ceremony id",
        &[
            ("Split: was the ceremony id", Do::Signal(libc::SIGTERM)),
            ("", Do::Type("y")),
        ],
    );
    assert_eq!(code, 1, "{shown}");
    let v = verify(dir);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stdout
            .contains("INTERRUPTED: stopped by SIGTERM at step split"),
        "{}",
        v.stdout
    );
    assert!(
        v.stdout.contains("handed out           none"),
        "{}",
        v.stdout
    );
    assert!(names_in(&dir.join("out"))
        .iter()
        .all(|n| !n.starts_with("shard-")));
    no_secret_left(dir, &shown);
}

#[test]
fn a_kill_leaves_an_unsigned_transcript_and_no_stray_secret() {
    if !have_script() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (code, shown) = small_on_terminal(
        dir,
        "Dan Driver: have you received",
        &[("Dan Driver: have you received", Do::Signal(libc::SIGKILL))],
    );
    assert_ne!(code, 0, "{shown}");
    let v = verify(dir);
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(v.stderr.contains("not signed"), "{}", v.stderr);
    assert!(!dir.join("out/transcript.html").exists());
    // share 3 was written before the kill: an output, sealed; no other file holds a secret
    assert!(dir.join("out/shard-3.age").exists());
    no_secret_left(dir, &shown);
}
