//! The command line as people and programs expect it (issue 13): exit
//! status 1 for failures that are no usage error, a JSON document with
//! `command` and `ok` for every outcome (a command line that does not
//! parse included), `verify` in the order given, and `token recipient`
//! output that `age -R` reads.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bin, run, testdata, Run};
use serde_json::Value;

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn json_of(r: &Run) -> Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {:?}", r.stdout))
}

/// The run printed exactly one JSON object saying `command` and `ok`.
fn assert_document(r: &Run, command: Option<&str>, ok: bool) -> Value {
    let v = json_of(r);
    assert_eq!(v["ok"], Value::Bool(ok), "{v}");
    assert_eq!(
        v["command"],
        command.map_or(Value::Null, Value::from),
        "{v}"
    );
    v
}

/// An error document: `ok: false` and the message in `error`.
fn assert_error_document(r: &Run, command: Option<&str>) -> Value {
    let v = assert_document(r, command, false);
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    v
}

struct Tokens {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    dir: PathBuf,
    pin: PathBuf,
}

impl Tokens {
    fn new() -> Tokens {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let dir = root.join("tokens");
        std::fs::create_dir_all(&dir).unwrap();
        let pin = root.join("pin");
        std::fs::write(&pin, "123456\n").unwrap();
        Tokens {
            _tmp: tmp,
            root,
            dir,
            pin,
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        bin()
            .arg("--test-tokens")
            .arg(&self.dir)
            .args(args)
            .output()
            .expect("runs")
            .into()
    }

    fn init(&self, serial: &str) {
        let r = self.run(&[
            "token",
            "init",
            "--serial",
            serial,
            "--pin-file",
            p(&self.pin),
        ]);
        assert_eq!(r.code, 0, "init: {}", r.stderr);
    }
}

// ---------------------------------------------------------------------------
// Exit status
// ---------------------------------------------------------------------------

/// Runs the binary in a session of its own (`setsid`), so that it has no
/// controlling terminal even when the tests run at one.
fn without_terminal(args: &[&str]) -> Option<Run> {
    let bin = assert_cmd::cargo::cargo_bin("keyceremony");
    match Command::new("setsid")
        .arg("--wait")
        .arg(bin)
        .args(args)
        .env_remove("KEYCEREMONY_TEST_TOKENS")
        .stdin(std::process::Stdio::null())
        .output()
    {
        Ok(o) => Some(o.into()),
        Err(e) => {
            eprintln!("\n*** SKIPPED: setsid (util-linux) cannot run ({e}) ***\n");
            None
        }
    }
}

#[test]
fn no_terminal_for_the_pin_of_token_init_is_a_failure_not_a_usage_error() {
    let t = Tokens::new();
    let dir = t.dir.display().to_string();
    let Some(r) = without_terminal(&["--test-tokens", &dir, "token", "init", "--serial", "5"])
    else {
        return;
    };
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("cannot read the PIN"), "{}", r.stderr);
    // and the same failure as a JSON document
    let args = [
        "--json",
        "--test-tokens",
        &dir,
        "token",
        "init",
        "--serial",
        "5",
    ];
    let r = without_terminal(&args).unwrap();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_error_document(&r, Some("token init"));
}

#[test]
fn usage_errors_still_exit_2() {
    for args in [
        vec!["verify"],
        vec!["split", "--bogus"],
        vec!["token", "status", "--serial", "x"],
    ] {
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.starts_with("error: "), "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }
}

// ---------------------------------------------------------------------------
// JSON documents
// ---------------------------------------------------------------------------

#[test]
fn a_command_line_that_does_not_parse_still_gives_a_json_error_document() {
    let cases: [(&[&str], Option<&str>, &str); 6] = [
        (&["--json", "verify"], Some("verify"), "required arguments"),
        (
            &["verify", "--json", "--bogus", "x"],
            Some("verify"),
            "--bogus",
        ),
        (
            &["--json", "token", "status", "--serial", "abc"],
            Some("token status"),
            "abc",
        ),
        (
            &["--json", "--test-tokens", "d", "token"],
            Some("token"),
            "subcommand",
        ),
        (
            &["--json", "bundle", "create"],
            Some("bundle create"),
            "--key-file",
        ),
        (&["--json"], None, "subcommand"),
    ];
    for (args, command, says) in cases {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        let v = assert_error_document(&r, command);
        let error = v["error"].as_str().unwrap();
        assert!(error.contains(says), "{args:?}: {error}");
        assert!(!error.starts_with("error:"), "{args:?}: {error}");
        assert!(!error.contains('\n'), "{args:?}: {error}");
        // the person still reads clap's message on standard error
        assert!(
            r.stderr.contains("error:") || r.stderr.contains("Usage:"),
            "{}",
            r.stderr
        );
    }
    // help and version are no errors, and no JSON
    let r = run(["--json", "verify", "--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Usage:"), "{}", r.stdout);
    // what is typed is escaped on the terminal
    let r = run(["--json", "split", "--label\x1b[31m"]);
    assert_eq!(r.code, 2);
    assert!(!r.stderr.contains('\x1b'), "{:?}", r.stderr);
    assert!(!r.stdout.contains('\x1b'), "{:?}", r.stdout);
    assert_error_document(&r, Some("split"));
}

#[test]
fn every_json_document_has_command_and_ok() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let known = testdata("known-key");
    let shards: Vec<PathBuf> = (1..=3)
        .map(|i| known.join(format!("shard-{i}.json")))
        .collect();
    let shard = |i: usize| shards[i - 1].as_path();
    let record = known.join("ceremony.json");
    let key = known.join("key.hex");
    let age_bundle = testdata("bundles/known-key.tar.age");
    let identity = testdata("bundles/nexus-age-identity.txt");
    let plan = testdata("ceremony/plan.toml");
    let transcript = testdata("ceremony/transcript.jsonl");
    let transcript_record = testdata("ceremony/ceremony.json");
    let qr_image = testdata("qr/shard-2-of-3.png");
    let elsewhere = d.join("x");
    let out = d.join("split");
    let reshared = d.join("reshared");
    let bundle_out = d.join("b.tar.age");
    let opened = d.join("opened");
    let html = d.join("t.html");
    let missing = d.join("missing.json");
    let recipient = "age16rjanwrx2n6dsm55m56vhaa2vn84xctyqvdwuqpvkvc7dl6n6f6qu0slef";

    let successes: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "split",
                "-t",
                "2",
                "-n",
                "3",
                "--generate",
                "--out",
                p(&out),
            ],
            "split",
        ),
        (vec!["verify", p(shard(1)), p(&record)], "verify"),
        (
            vec![
                "assemble",
                p(shard(1)),
                p(shard(2)),
                p(shard(3)),
                "--dry-run",
            ],
            "assemble",
        ),
        (vec!["qr", "decode", p(&qr_image)], "qr decode"),
        (
            vec![
                "bundle",
                "create",
                "--key-file",
                p(&key),
                "--out",
                p(&bundle_out),
                "--recipient",
                recipient,
            ],
            "bundle create",
        ),
        (vec!["bundle", "inspect", p(&age_bundle)], "bundle inspect"),
        (
            vec![
                "bundle",
                "verify",
                p(&age_bundle),
                "--identity",
                p(&identity),
            ],
            "bundle verify",
        ),
        (
            vec![
                "bundle",
                "open",
                p(&age_bundle),
                "--identity",
                p(&identity),
                "--out",
                p(&opened),
            ],
            "bundle open",
        ),
        (
            vec!["ceremony", "check-plan", p(&plan)],
            "ceremony check-plan",
        ),
        (
            vec![
                "ceremony",
                "verify-transcript",
                p(&transcript),
                "--record",
                p(&transcript_record),
            ],
            "ceremony verify-transcript",
        ),
        (
            vec![
                "ceremony",
                "print-transcript",
                p(&transcript),
                "--out",
                p(&html),
            ],
            "ceremony print-transcript",
        ),
        (
            vec![
                "reshare",
                p(shard(1)),
                p(shard(2)),
                p(shard(3)),
                "--record",
                p(&record),
                "-t",
                "2",
                "-n",
                "3",
                "--out",
                p(&reshared),
            ],
            "reshare",
        ),
        (vec!["version"], "version"),
        (vec!["completions", "bash"], "completions"),
        (vec!["man"], "man"),
    ];
    let documented = documented_keys();
    let mut seen = std::collections::BTreeSet::new();
    for (args, command) in successes {
        let r = bin().arg("--json").args(&args).output().unwrap().into();
        let r: Run = r;
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        let v = assert_document(&r, Some(command), true);
        assert_keys_documented(&documented, command, &v);
        seen.insert(command);
    }
    // the same commands with the options that change their documents
    let nexus = testdata("bundles/known-key.tar.gz.enc");
    let pages = d.join("man");
    for (args, command) in [
        (vec!["qr", "decode", "--raw", p(&qr_image)], "qr decode"),
        (vec!["bundle", "inspect", p(&nexus)], "bundle inspect"),
        (
            vec![
                "assemble",
                p(shard(1)),
                p(shard(2)),
                p(shard(3)),
                "--reveal",
            ],
            "assemble",
        ),
        (vec!["man", "--out", p(&pages)], "man"),
    ] {
        let r: Run = bin().arg("--json").args(&args).output().unwrap().into();
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        let v = assert_document(&r, Some(command), true);
        assert_keys_documented(&documented, command, &v);
    }

    // preflight may find this machine unfit; its document says so either way
    let r = run(["--json", "preflight", "--rehearsal"]);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    assert_document(&r, Some("preflight"), r.code == 0);

    // a failed check: a document with ok false and the command
    let r = run(["--json", "verify", p(shard(1)), p(&missing)]);
    assert_eq!(r.code, 1);
    assert_document(&r, Some("verify"), false);

    // an error before anything ran: the command named too
    let failures: Vec<(Vec<&str>, &str)> = vec![
        (vec!["assemble", p(&missing), "--dry-run"], "assemble"),
        (vec!["bundle", "inspect", p(&missing)], "bundle inspect"),
        (
            vec!["ceremony", "check-plan", p(&missing)],
            "ceremony check-plan",
        ),
        (
            vec![
                "split",
                "-t",
                "2",
                "-n",
                "3",
                "--key-file",
                p(&missing),
                "--out",
                p(&elsewhere),
            ],
            "split",
        ),
    ];
    for (args, command) in failures {
        let r: Run = bin().arg("--json").args(&args).output().unwrap().into();
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        let v = assert_error_document(&r, Some(command));
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["command", "error", "ok"], "{v}");
    }

    // the token commands, in test mode
    let t = Tokens::new();
    t.init("7");
    for (args, command) in [
        (vec!["token", "list"], "token list"),
        (vec!["token", "status", "--serial", "7"], "token status"),
        (
            vec!["token", "recipient", "--serial", "7"],
            "token recipient",
        ),
    ] {
        let mut all = vec!["--json"];
        all.extend(args);
        let r = t.run(&all);
        assert_eq!(r.code, 0, "{all:?}: {}", r.stderr);
        let v = assert_document(&r, Some(command), true);
        assert_keys_documented(&documented, command, &v);
    }
    let r = run(["--json", "preflight", "--rehearsal"]);
    assert_keys_documented(&documented, "preflight", &json_of(&r));
    // every command the tests produced a document for is on the page
    for command in seen {
        assert!(
            documented.contains_key(command),
            "{command} is not in docs/json.md"
        );
    }
    let r = t.run(&[
        "--json",
        "token",
        "attest",
        "--serial",
        "7",
        "--out",
        p(&t.root.join("a.der")),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_error_document(&r, Some("token attest"));
}

/// docs/json.md: for each command (a `### ` heading naming commands in
/// backticks), the top-level keys its table lists.
fn documented_keys() -> std::collections::BTreeMap<String, Vec<String>> {
    let page = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json.md"))
        .expect("docs/json.md");
    let mut out = std::collections::BTreeMap::new();
    let mut current: Vec<String> = Vec::new();
    for line in page.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            current = heading
                .split('`')
                .skip(1)
                .step_by(2)
                .map(String::from)
                .collect();
            for c in &current {
                out.insert(c.clone(), Vec::new());
            }
        } else if let Some(row) = line.strip_prefix("| `") {
            let key = row.split('`').next().unwrap().to_string();
            for c in &current {
                out.get_mut(c).unwrap().push(key.clone());
            }
        }
    }
    out
}

/// Every top-level key of the document is on docs/json.md for its command.
fn assert_keys_documented(
    documented: &std::collections::BTreeMap<String, Vec<String>>,
    command: &str,
    doc: &Value,
) {
    let keys = documented
        .get(command)
        .unwrap_or_else(|| panic!("{command} is not in docs/json.md"));
    for key in doc.as_object().unwrap().keys() {
        if ["command", "ok", "error"].contains(&key.as_str()) {
            continue;
        }
        assert!(
            keys.contains(key),
            "{command}: key {key:?} is not in docs/json.md"
        );
    }
}

// ---------------------------------------------------------------------------
// verify
// ---------------------------------------------------------------------------

#[test]
fn verify_reports_its_inputs_in_the_order_given() {
    let tmp = tempfile::tempdir().unwrap();
    let known = testdata("known-key");
    let missing = tmp.path().join("missing.json");
    let empty = tmp.path().join("empty.json");
    std::fs::write(&empty, "").unwrap();
    let inputs = [
        known.join("shard-2.json"),
        missing.clone(),
        known.join("ceremony.json"),
        empty.clone(),
        known.join("shard-1.json"),
    ];
    let mut args = vec!["--json".to_string(), "verify".to_string()];
    args.extend(inputs.iter().map(|i| i.display().to_string()));
    let r = run(&args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = json_of(&r);
    let sources: Vec<&str> = v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["source"].as_str().unwrap())
        .collect();
    let given: Vec<String> = inputs.iter().map(|i| i.display().to_string()).collect();
    assert_eq!(sources, given);
    let oks: Vec<bool> = v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ok"].as_bool().unwrap())
        .collect();
    assert_eq!(oks, [true, false, true, false, true]);

    // the text says them in the same order
    let r = run(&args[1..]);
    let lines: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("OK ") || l.starts_with("BAD "))
        .take(inputs.len())
        .collect();
    for (line, input) in lines.iter().zip(&given) {
        assert!(
            line.contains(input.as_str()),
            "{line} is not about {input}:\n{}",
            r.stdout
        );
    }
}

// ---------------------------------------------------------------------------
// token recipient as an age recipients file
// ---------------------------------------------------------------------------

const PLUGIN: &str = "age-plugin-yubikey";

/// The folder holding age-plugin-yubikey, where
/// scripts/ensure-age-plugin-yubikey.sh puts it or on PATH.
fn plugin_dir() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(d) = std::env::var_os("KEYCEREMONY_AGE_PLUGIN_YUBIKEY") {
        candidates.push(PathBuf::from(d));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    if let Some(c) = cache {
        candidates.push(c.join(format!("keyceremony/tools/{PLUGIN}-0.5.1/bin")));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates.into_iter().find(|d| d.join(PLUGIN).is_file())
}

fn skipped(what: &str) {
    let msg = format!("SKIPPED: {what}; run scripts/ensure-bundle-interop.sh and scripts/ensure-age-plugin-yubikey.sh");
    if std::env::var("KEYCEREMONY_REQUIRE_INTEROP").as_deref() == Ok("1") {
        panic!("{msg} (KEYCEREMONY_REQUIRE_INTEROP=1)");
    }
    eprintln!("\n*** {msg} ***\n");
}

#[test]
fn token_recipient_prints_a_recipients_file_that_age_reads() {
    let t = Tokens::new();
    t.init("8");
    let r = t.run(&["token", "recipient", "--serial", "8"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    assert!(lines[0].starts_with("# TEST TOKEN 8"), "{}", r.stdout);
    assert!(lines[1].starts_with("age1yubikey1"), "{}", r.stdout);
    assert!(
        !lines[1].contains(|c: char| c.is_whitespace() || c == '#'),
        "{}",
        r.stdout
    );
    let file = t.root.join("recipients.txt");
    std::fs::write(&file, &r.stdout).unwrap();

    if !Command::new("age")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return skipped("the age CLI is not installed");
    }
    let sealed = t.root.join("shard-1.age");
    let shard = testdata("known-key/shard-1.json");
    let mut age = Command::new("age");
    age.arg("-R").arg(&file).arg("-o").arg(&sealed).arg(&shard);
    let plugin = plugin_dir();
    if let Some(dir) = &plugin {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![dir.clone()];
        dirs.extend(std::env::split_paths(&path));
        age.env("PATH", std::env::join_paths(dirs).unwrap());
    }
    let out = age.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // age read the file: whatever else happens, no line of it is refused
    assert!(!stderr.contains("malformed"), "{stderr}");
    assert!(!stderr.contains("parse recipient"), "{stderr}");
    if plugin.is_none() {
        return skipped("age-plugin-yubikey is not installed, so age cannot seal to the recipient");
    }
    assert!(out.status.success(), "age -R: {stderr}");
    // and the test token opens what age sealed to it
    let r = t.run(&["verify", p(&sealed), "--pin-file", p(&t.pin)]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("share 1 of 5"), "{}", r.stdout);
}

// ---------------------------------------------------------------------------
// The one token connected needs no --serial
// ---------------------------------------------------------------------------

#[test]
fn with_exactly_one_token_the_serial_may_be_left_out() {
    let t = Tokens::new();
    // none yet: said so, and nothing is guessed
    let r = t.run(&["token", "status"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("no test tokens"), "{}", r.stderr);

    t.init("31");
    for args in [
        vec!["token", "status"],
        vec!["token", "recipient"],
        vec![
            "token",
            "unblock",
            "--puk-file",
            "PUK",
            "--new-pin-file",
            "PIN",
        ],
    ] {
        let args: Vec<String> = args
            .into_iter()
            .map(|a| match a {
                "PUK" => {
                    let f = t.root.join("puk");
                    std::fs::write(&f, "12345678\n").unwrap();
                    f.display().to_string()
                }
                "PIN" => t.pin.display().to_string(),
                other => other.to_string(),
            })
            .collect();
        let mut all = vec!["--json".to_string()];
        all.extend(args.iter().cloned());
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let r = t.run(&all);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert_eq!(json_of(&r)["serial"], 31, "{args:?}: {}", r.stdout);
    }

    // two: which one is asked, and both are named
    t.init("32");
    let r = t.run(&["token", "status"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("--serial"), "{}", r.stderr);
    assert!(r.stderr.contains("TEST TOKEN 31"), "{}", r.stderr);
    assert!(r.stderr.contains("TEST TOKEN 32"), "{}", r.stderr);
    // and --serial still chooses
    let r = t.run(&["--json", "token", "status", "--serial", "32"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json_of(&r)["serial"], 32);
    // --test-tokens after the command works as before it
    let dir = t.dir.display().to_string();
    let r = run(["token", "status", "--serial", "32", "--test-tokens", &dir]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

// ---------------------------------------------------------------------------
// Messages with the real values
// ---------------------------------------------------------------------------

#[test]
fn token_hints_name_the_real_serial_and_no_test_mode_option() {
    let t = Tokens::new();
    // no test token yet: the way to make one, without --test-tokens (given already)
    let r = t.run(&["token", "status", "--serial", "44"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let r = t.run(&["token", "list", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = t.run(&["token", "recipient"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("keyceremony token init --serial"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("--test-tokens"), "{}", r.stderr);
    assert!(!r.stderr.contains("<serial>"), "{}", r.stderr);

    // an empty slot: the init to run names this token
    t.init("44");
    let r = t.run(&["token", "recipient", "--serial", "44", "--slot", "83"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Create one with: keyceremony token init --serial 44"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("<serial>"), "{}", r.stderr);
}

// ---------------------------------------------------------------------------
// A very short passphrase for a new Nexus backup
// ---------------------------------------------------------------------------

#[test]
fn a_short_passphrase_is_refused_unless_allowed_and_a_generated_one_is_offered() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let key = testdata("known-key/key.hex");
    let short = d.join("short.txt");
    std::fs::write(&short, "hunter2\n").unwrap();
    let out = d.join("b.tar.gz.enc");
    let create = |extra: &[&str]| -> Run {
        let mut args = vec![
            "bundle",
            "create",
            "--key-file",
            p(&key),
            "--out",
            p(&out),
            "--nexus-backup",
            "--passphrase-file",
            p(&short),
        ];
        args.extend(extra);
        run(&args)
    };
    let r = create(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains(p(&short)), "{}", r.stderr);
    assert!(r.stderr.contains("7 characters"), "{}", r.stderr);
    assert!(
        r.stderr.contains("--allow-short-passphrase"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
    assert!(!out.exists());
    // the generated offer: ten words, and a different one each time
    let offer = |r: &Run| -> String {
        r.stderr
            .lines()
            .find_map(|l| l.strip_prefix("A generated passphrase you may use instead: "))
            .unwrap_or_else(|| panic!("no offer: {}", r.stderr))
            .to_string()
    };
    let first = offer(&r);
    assert_eq!(first.split('-').count(), 10, "{first}");
    assert_ne!(first, offer(&create(&[])));
    // the offer is a good passphrase: accepted as it is
    std::fs::write(&short, format!("{first}\n")).unwrap();
    let r = create(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::remove_file(&out).unwrap();

    // with --json the offer stays off the document
    std::fs::write(&short, "hunter2\n").unwrap();
    let r = run([
        "--json",
        "bundle",
        "create",
        "--key-file",
        p(&key),
        "--out",
        p(&out),
        "--nexus-backup",
        "--passphrase-file",
        p(&short),
    ]);
    assert_eq!(r.code, 1);
    let v = assert_error_document(&r, Some("bundle create"));
    assert!(!v.to_string().contains("generated"), "{v}");

    // asked for explicitly: accepted, and it opens
    let r = create(&["--allow-short-passphrase"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(["bundle", "verify", p(&out), "--passphrase-file", p(&short)]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // assemble --bundle-out follows the same rule
    let known = testdata("known-key");
    let mut args = vec!["assemble".to_string()];
    for i in 1..=3 {
        args.push(known.join(format!("shard-{i}.json")).display().to_string());
    }
    let out2 = d.join("c.tar.gz.enc").display().to_string();
    args.extend(
        [
            "--bundle-out",
            &out2,
            "--nexus-backup",
            "--passphrase-file",
            p(&short),
        ]
        .map(String::from),
    );
    let r = run(&args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("--allow-short-passphrase"),
        "{}",
        r.stderr
    );
}

// ---------------------------------------------------------------------------
// Short options as in age
// ---------------------------------------------------------------------------

#[test]
fn short_options_as_in_age() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let key = testdata("known-key/key.hex");
    let identity = testdata("bundles/nexus-age-identity.txt");
    let recipient = "age16rjanwrx2n6dsm55m56vhaa2vn84xctyqvdwuqpvkvc7dl6n6f6qu0slef";

    let shards = d.join("shards");
    let r = run([
        "split",
        "-t",
        "2",
        "-n",
        "2",
        "--generate",
        "-o",
        p(&shards),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(shards.join("shard-2.json").exists());

    let b1 = d.join("one.tar.age");
    let r = run([
        "bundle",
        "create",
        "--key-file",
        p(&key),
        "-o",
        p(&b1),
        "-r",
        recipient,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let list = d.join("recipients.txt");
    std::fs::write(&list, format!("# the Nexus\n{recipient}\n")).unwrap();
    let b2 = d.join("two.tar.age");
    let r = run([
        "bundle",
        "create",
        "--key-file",
        p(&key),
        "-o",
        p(&b2),
        "-R",
        p(&list),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let opened = d.join("opened");
    let r = run([
        "bundle",
        "open",
        p(&b2),
        "-i",
        p(&identity),
        "-o",
        p(&opened),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = std::fs::read_to_string(opened.join("keys/root.key")).unwrap();
    assert_eq!(got.trim(), std::fs::read_to_string(&key).unwrap().trim());

    // assemble seals with -r as bundle create does
    let b3 = d.join("three.tar.age");
    let r = run([
        "assemble",
        p(&testdata("known-key/shard-1.json")),
        p(&testdata("known-key/shard-2.json")),
        p(&testdata("known-key/shard-3.json")),
        "--bundle-out",
        p(&b3),
        "-r",
        recipient,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(["bundle", "verify", p(&b3), "-i", p(&identity)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

// ---------------------------------------------------------------------------
// verify: what is wrong with an input, and what to give instead
// ---------------------------------------------------------------------------

#[test]
fn verify_says_what_to_give_instead_of_a_wrong_input() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let missing = d.join("shard-9.json");
    let empty = d.join("empty.json");
    std::fs::write(&empty, "").unwrap();
    let unrelated = d.join("package.json");
    std::fs::write(&unrelated, "{\"name\": \"left-pad\"}\n").unwrap();
    let identity = testdata("bundles/nexus-age-identity.txt");
    let cases = [
        (&missing, "no such file; check its name and folder"),
        (
            &empty,
            "use another copy of this share, or its printed sheet",
        ),
        (&unrelated, "give a shard-<i>.json or the ceremony.json"),
        (&identity, "is an age identity (a secret key), not a share"),
    ];
    for (input, says) in cases {
        let r = run(["verify", p(input)]);
        assert_eq!(r.code, 1, "{}", r.stdout);
        let bad = r
            .stdout
            .lines()
            .find(|l| l.starts_with("BAD"))
            .unwrap_or_default();
        assert!(bad.contains(says), "{input:?}: {bad}");
        // the file is named once, at the start
        assert_eq!(bad.matches(p(input)).count(), 1, "{bad}");
        assert!(!r.stdout.contains("AGE-SECRET-KEY"), "{}", r.stdout);
    }
}
