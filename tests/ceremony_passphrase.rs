//! Issue 12 point 3: a plan that names a secret file instead of a root key,
//! and `passphrase` as a custodian's transport. Through the library with a
//! scripted console (the passphrase asked twice, typed again by the
//! custodian for the check-back, a wrong one retried or stopping the run),
//! with `--yes` from the plan's passphrase file, the refusals before
//! anything is written, and the recovery of the secret through the binary.

mod ceremony_support;
mod common;

use std::path::{Path, PathBuf};

use keyceremony::ceremony::{self, CheckBack, RunOptions, RunOutcome, Said};
use keyceremony::console::ScriptedConsole;
use keyceremony::plan::{KeySource, Plan, Transport};

const SECRET: &[u8] = b"the KMS master key file, any bytes \x00\x01\xfe\xff\n";
const PASS: &str = "bob's long passphrase, typed twice";

fn plan_text(bob: &str) -> String {
    format!(
        r#"version = 1
label = "kms master key"
mode = "rehearsal"
lead = "Lee Lead"
threshold = 2

[key]
secret_file = "kms.key"

[[custodian]]
name = "Alice Archer"
transport = "file"

[[custodian]]
name = "Bob Baker"
transport = "passphrase"
{bob}
"#
    )
}

struct Room {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    out: PathBuf,
}

fn room(bob: &str) -> (Room, Plan) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    std::fs::write(dir.join("kms.key"), SECRET).unwrap();
    std::fs::write(dir.join("bob-pass.txt"), format!("{PASS}\n")).unwrap();
    std::fs::write(dir.join("plan.toml"), plan_text(bob)).unwrap();
    let plan = Plan::load(&dir.join("plan.toml")).unwrap();
    (
        Room {
            out: dir.join("out"),
            dir,
            _tmp: tmp,
        },
        plan,
    )
}

fn start() -> ScriptedConsole {
    ScriptedConsole::new()
        .expect_confirm("Plan:", true)
        .expect_confirm("Preflight:", true)
        .expect_confirm("Key:", true)
        .expect_confirm("Split:", true)
        .expect_confirm("Alice Archer: have you received share 1", true)
        .expect_secret("Passphrase for share 2 (Bob Baker)", PASS)
        .expect_secret("The same passphrase again", PASS)
}

/// The secret comes back from Alice's shard and Bob's passphrase shard.
fn recovers_the_secret(r: &Room) {
    let r2 = common::run_in(
        &r.dir,
        &[
            "assemble",
            "out/shard-1.json",
            "out/shard-2.json.age",
            "out/ceremony.json",
            "--shard-passphrase-file",
            "bob-pass.txt",
            "--secret-out",
            "recovered.key",
        ],
    );
    assert_eq!(r2.code, 0, "{}", r2.stderr);
    assert_eq!(std::fs::read(r.dir.join("recovered.key")).unwrap(), SECRET);
}

#[test]
fn a_secret_file_plan_with_a_passphrase_custodian_checked_back_by_retyping() {
    let (r, plan) = room("");
    assert!(matches!(plan.key, KeySource::SecretFile(_)));
    assert_eq!(
        plan.custodians[1].transport,
        Transport::Passphrase {
            passphrase_file: None
        }
    );
    let mut console = start()
        .expect_secret("Bob Baker: type the passphrase of share 2 again", PASS)
        .expect_confirm(
            "Bob Baker: have you received share 2 (shard-2.json.age)",
            true,
        );
    let mut said: Vec<Said> = Vec::new();
    let report = ceremony::run(&plan, RunOptions::new(&r.out), &mut console, &mut said).unwrap();
    console.finish();
    assert!(report.completed(), "{:?}", report.outcome);
    assert_eq!(
        report.shares[1].checks,
        [
            CheckBack::SealedFileCompared,
            CheckBack::PassphraseOpened { from_file: false }
        ]
    );
    let names = ceremony_support::names_in(&r.out);
    for want in [
        "ceremony.json",
        "secret.age",
        "shard-1.json",
        "shard-2.json.age",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    assert!(!names.iter().any(|n| n == "shard-2.json"), "{names:?}");
    // the record binds secret.age; the transcript says how share 2 was checked
    let record = std::fs::read_to_string(r.out.join("ceremony.json")).unwrap();
    assert!(record.contains("\"secret\""), "{record}");
    let transcript = std::fs::read_to_string(r.out.join("transcript.jsonl")).unwrap();
    assert!(transcript.contains("opened with the passphrase typed again by the custodian"));
    assert!(
        transcript.contains("\"source\":\"secret-file\""),
        "{transcript}"
    );
    assert!(!transcript.contains(PASS));
    let narration: String = said.iter().map(|s| format!("{s:?}")).collect();
    assert!(!narration.contains(PASS));
    recovers_the_secret(&r);
}

#[test]
fn a_short_typed_passphrase_is_asked_again_without_naming_a_flag_the_ceremony_lacks() {
    let (r, plan) = room("");
    let mut console = ScriptedConsole::new()
        .expect_confirm("Plan:", true)
        .expect_confirm("Preflight:", true)
        .expect_confirm("Key:", true)
        .expect_confirm("Split:", true)
        .expect_confirm("Alice Archer: have you received share 1", true)
        .expect_secret("Passphrase for share 2 (Bob Baker)", "short")
        .expect_secret("The same passphrase again", "short")
        .expect_secret("Passphrase for share 2 (Bob Baker)", PASS)
        .expect_secret("The same passphrase again", PASS)
        .expect_secret("type the passphrase of share 2 again", PASS)
        .expect_confirm("Bob Baker: have you received share 2", true);
    let mut said: Vec<Said> = Vec::new();
    let report = ceremony::run(&plan, RunOptions::new(&r.out), &mut console, &mut said).unwrap();
    console.finish();
    assert!(report.completed(), "{:?}", report.outcome);
    let warning = said
        .iter()
        .map(|s| format!("{s:?}"))
        .find(|s| s.contains("has only 5 characters"))
        .expect("the short passphrase is named");
    assert!(warning.contains("Type a longer one"), "{warning}");
    assert!(!warning.contains("--allow-short-passphrase"), "{warning}");
}

#[test]
fn a_wrong_retyped_passphrase_is_tried_again_when_the_lead_says_so() {
    let (r, plan) = room("");
    let mut console = start()
        .expect_secret(
            "type the passphrase of share 2 again",
            "not what bob typed before",
        )
        .expect_confirm("Let Bob Baker type the passphrase again?", true)
        .expect_secret("type the passphrase of share 2 again", PASS)
        .expect_confirm("Bob Baker: have you received share 2", true);
    let mut said: Vec<Said> = Vec::new();
    let report = ceremony::run(&plan, RunOptions::new(&r.out), &mut console, &mut said).unwrap();
    console.finish();
    assert!(report.completed(), "{:?}", report.outcome);
    assert!(said
        .iter()
        .any(|s| format!("{s:?}").contains("the passphrase does not open this file")));
}

#[test]
fn a_wrong_retyped_passphrase_stops_the_run_and_scrubs_the_share() {
    let (r, plan) = room("");
    let mut console = start()
        .expect_secret(
            "type the passphrase of share 2 again",
            "not what bob typed before",
        )
        .expect_confirm("Let Bob Baker type the passphrase again?", false);
    let mut said: Vec<Said> = Vec::new();
    let report = ceremony::run(&plan, RunOptions::new(&r.out), &mut console, &mut said).unwrap();
    console.finish();
    let RunOutcome::Interrupted { not_handed_out, .. } = &report.outcome else {
        panic!("the run completed")
    };
    assert!(
        not_handed_out.iter().any(|s| s.contains("share 2")),
        "{not_handed_out:?}"
    );
    assert!(!r.out.join("shard-2.json.age").exists());
}

#[test]
fn with_yes_the_passphrase_comes_from_the_plans_file() {
    let (r, plan) = room("passphrase_file = \"bob-pass.txt\"");
    let mut opts = RunOptions::new(&r.out);
    opts.yes = true;
    let mut console = ScriptedConsole::new();
    let mut said: Vec<Said> = Vec::new();
    let report = ceremony::run(&plan, opts, &mut console, &mut said).unwrap();
    console.finish();
    assert!(report.completed(), "{:?}", report.outcome);
    assert_eq!(
        report.shares[1].checks,
        [
            CheckBack::SealedFileCompared,
            CheckBack::PassphraseOpened { from_file: true }
        ]
    );
    recovers_the_secret(&r);
    // a recovery rehearsal opens the passphrase shard among the outputs
    let rehearsal = common::run_in(
        &r.dir,
        &[
            "ceremony",
            "rehearse",
            "out",
            "--yes",
            "--shard-passphrase-file",
            "bob-pass.txt",
        ],
    );
    assert_eq!(
        rehearsal.code, 0,
        "{}{}",
        rehearsal.stdout, rehearsal.stderr
    );
    assert!(
        rehearsal.stdout.contains("share 2 (Bob Baker): good"),
        "{}",
        rehearsal.stdout
    );
}

/// The error of a run that must be refused before anything is written.
fn refused(got: keyceremony::Result<ceremony::CeremonyReport>) -> keyceremony::Error {
    match got {
        Ok(report) => panic!("the run was not refused: {:?}", report.outcome),
        Err(e) => e,
    }
}

#[test]
fn refusals_before_anything_is_written() {
    // --yes with no passphrase file: no one to type it
    let (r, plan) = room("");
    let mut opts = RunOptions::new(&r.out);
    opts.yes = true;
    let e = refused(ceremony::run(
        &plan,
        opts,
        &mut ScriptedConsole::new(),
        &mut Vec::new(),
    ));
    assert!(
        e.to_string()
            .contains("share 2 is protected by a passphrase typed at the console"),
        "{e}"
    );
    assert!(!r.out.exists());

    // a passphrase file too short
    let (r, plan) = room("passphrase_file = \"short.txt\"");
    std::fs::write(r.dir.join("short.txt"), "short\n").unwrap();
    let e = refused(ceremony::run(
        &plan,
        RunOptions::new(&r.out),
        &mut ScriptedConsole::new(),
        &mut Vec::new(),
    ));
    assert!(
        e.to_string()
            .contains("short.txt: the passphrase has only 5 characters"),
        "{e}"
    );
    assert!(!r.out.exists());

    // the secret file is missing
    let (r, plan) = room("");
    std::fs::remove_file(r.dir.join("kms.key")).unwrap();
    let e = refused(ceremony::run(
        &plan,
        RunOptions::new(&r.out),
        &mut ScriptedConsole::new(),
        &mut Vec::new(),
    ));
    assert!(e.to_string().contains("kms.key"), "{e}");
    assert!(!r.out.exists());
}

fn plan_refused(text: &str, needle: &str) {
    let e = Plan::parse(Path::new("p.toml"), text.as_bytes())
        .err()
        .unwrap_or_else(|| panic!("accepted:\n{text}"));
    assert!(e.to_string().contains(needle), "{e}");
}

#[test]
fn plan_mistakes_about_passphrases_and_secret_files() {
    plan_refused(
        &plan_text("passphrase = \"hunter2 in the plan\""),
        "a passphrase never goes into a plan",
    );
    plan_refused(
        &plan_text("").replace(
            "transport = \"file\"",
            "transport = \"file\"\npassphrase_file = \"a.txt\"",
        ),
        "`passphrase_file` does not apply to transport = \"file\"",
    );
    plan_refused(
        &plan_text("serial = 41000001"),
        "`serial` does not apply to transport = \"passphrase\"",
    );
    plan_refused(
        &plan_text("").replace(
            "secret_file = \"kms.key\"",
            "secret_file = \"kms.key\"\ngenerate = true",
        ),
        "[key] names two key sources",
    );
    plan_refused(
        &format!(
            "{}\n[[bundle]]\nformat = \"nexus-backup\"\npassphrase_file = \"p.txt\"\n",
            plan_text("")
        ),
        "a plan that splits a secret file makes no bundle",
    );
}

/// ceremony/secret-demo.toml, the example plan, runs with --yes through the
/// binary, and its secret comes back from a shard file and the passphrase shard.
#[test]
fn the_secret_demo_plan_runs_and_its_secret_comes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = ceremony_support::repo("ceremony/secret-demo.toml");
    let r = common::run_in(
        tmp.path(),
        &[
            "ceremony",
            "run",
            plan.to_str().unwrap(),
            "--out",
            "out",
            "--yes",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let pass = ceremony_support::repo("ceremony/demo-shard-passphrase.txt");
    let r = common::run_in(
        tmp.path(),
        &[
            "assemble",
            "out/shard-1.json",
            "out/shard-3.json.age",
            "out/ceremony.json",
            "--shard-passphrase-file",
            pass.to_str().unwrap(),
            "--secret-out",
            "secret.txt",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read(tmp.path().join("secret.txt")).unwrap(),
        std::fs::read(ceremony_support::repo("ceremony/demo-secret.txt")).unwrap()
    );
}
