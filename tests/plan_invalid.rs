//! The plan parser's invalid-input suite: one test per kind of mistake,
//! each run through the binary (`ceremony check-plan`), each asserting the
//! exact FILE:LINE:COLUMN and the problem, exit status 1. Plus the plans
//! that must parse: the shipped demo and template, and the fixed vector.

mod common;

use std::path::Path;

use common::{run, testdata};
use keyceremony::plan::{BundlePlan, KeySource, Mode, Plan, Transport};

const BASE: &str = r#"version = 1
label = "test key"
mode = "rehearsal"
lead = "Lee"
threshold = 2
witnesses = ["Wes"]

[key]
generate = true

[[custodian]]
name = "Alice"
transport = "file"

[[custodian]]
name = "Bob"
transport = "qr"
"#;

/// Writes `text` as a plan and checks it is refused at `line:column` with `needle`.
fn refused(text: &str, line: usize, column: usize, needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.toml");
    std::fs::write(&path, text).unwrap();
    let r = run(["ceremony", "check-plan", path.to_str().unwrap()]);
    assert_eq!(r.code, 1, "accepted:\n{text}\nstdout: {}", r.stdout);
    let want = format!("error: {}:{line}:{column}: ", path.display());
    assert!(
        r.stderr.starts_with(&want),
        "expected {want:?}...\ngot: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains(needle),
        "expected {needle:?} in: {}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
}

fn with(replace: &str, by: &str) -> String {
    assert!(BASE.contains(replace), "{replace}");
    BASE.replacen(replace, by, 1)
}

#[test]
fn the_base_plan_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.toml");
    std::fs::write(&path, BASE).unwrap();
    let r = run(["ceremony", "check-plan", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("any 2 of 2 shares"));
}

#[test]
fn unknown_top_level_key() {
    refused(
        &with("threshold = 2\n", "threshold = 2\ncolour = \"red\"\n"),
        6,
        1,
        "unknown field `colour`",
    );
}

#[test]
fn unknown_key_in_a_custodian() {
    refused(
        &with(
            "transport = \"qr\"\n",
            "transport = \"qr\"\nemail = \"b@x\"\n",
        ),
        18,
        1,
        "unknown field `email`",
    );
}

#[test]
fn unknown_key_in_key_table() {
    refused(
        &with("generate = true\n", "generate = true\nbits = 256\n"),
        10,
        1,
        "unknown field `bits`",
    );
}

#[test]
fn wrong_type() {
    refused(
        &with("threshold = 2", "threshold = \"2\""),
        5,
        13,
        "invalid type: string \"2\", expected a whole number",
    );
    refused(
        &with("generate = true", "generate = \"yes\""),
        9,
        12,
        "expected true or false",
    );
    refused(
        &with("witnesses = [\"Wes\"]", "witnesses = \"Wes\""),
        6,
        13,
        "invalid type",
    );
}

#[test]
fn missing_field() {
    refused(&with("lead = \"Lee\"\n", ""), 1, 1, "missing field `lead`");
    refused(
        &with("label = \"test key\"\n", ""),
        1,
        1,
        "missing field `label`",
    );
    refused(&with("name = \"Bob\"\n", ""), 15, 1, "missing field `name`");
}

#[test]
fn duplicate_custodian() {
    refused(
        &with("name = \"Bob\"", "name = \"alice\""),
        16,
        8,
        "duplicate custodian \"alice\" (already at line 12)",
    );
}

#[test]
fn no_custodian() {
    let text = BASE.split("[[custodian]]").next().unwrap().to_string();
    refused(&text, 5, 13, "no [[custodian]]");
}

#[test]
fn threshold_out_of_range() {
    refused(
        &with("threshold = 2", "threshold = 3"),
        5,
        13,
        "threshold 3 is out of range: it must be at least 2 and at most the number of custodians (2)",
    );
    refused(
        &with("threshold = 2", "threshold = 1"),
        5,
        13,
        "threshold 1 is out of range",
    );
    refused(
        &with("threshold = 2", "threshold = -4"),
        5,
        13,
        "threshold -4 is out of range",
    );
}

#[test]
fn test_token_in_production() {
    let text = with("mode = \"rehearsal\"", "mode = \"production\"").replacen(
        "transport = \"qr\"",
        "transport = \"test-token\"\nserial = 41000001",
        1,
    );
    refused(
        &text,
        17,
        13,
        "a test token is not allowed in a production plan",
    );
}

#[test]
fn bad_recipient() {
    let good = std::fs::read_to_string(testdata("sealed/recipient.txt")).unwrap();
    let good = good.split_whitespace().next().unwrap();
    // one character changed: the Bech32 checksum no longer holds
    let mut bad: Vec<char> = good.chars().collect();
    let i = bad.len() - 3;
    bad[i] = if bad[i] == 'q' { 'p' } else { 'q' };
    let bad: String = bad.into_iter().collect();
    refused(
        &with(
            "transport = \"qr\"",
            &format!("transport = \"recipient\"\nrecipient = \"{bad}\""),
        ),
        18,
        13,
        "Bech32 checksum does not match",
    );
    refused(
        &with(
            "transport = \"qr\"",
            "transport = \"recipient\"\nrecipient = \"age1tmph22qc8p249lcjnrfg87pvfrjh979tthd802z54qx0ejewj4ms7ldu3l\"",
        ),
        18,
        13,
        "not a YubiKey recipient",
    );
    refused(
        &with("transport = \"qr\"", "transport = \"recipient\""),
        17,
        13,
        "needs `recipient = \"age1yubikey1...\"`",
    );
    // and a good one is accepted
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.toml");
    let text = with(
        "transport = \"qr\"",
        &format!("transport = \"recipient\"\nrecipient = \"{good}\""),
    );
    std::fs::write(&path, &text).unwrap();
    let plan = Plan::load(&path).unwrap();
    assert!(
        matches!(&plan.custodians[1].transport, Transport::Recipient { recipient, serial: None } if recipient == good)
    );
}

#[test]
fn token_needs_a_serial_and_fields_must_fit_the_transport() {
    refused(
        &with("transport = \"qr\"", "transport = \"token\""),
        17,
        13,
        "needs the token's `serial`",
    );
    refused(
        &with("transport = \"qr\"", "transport = \"qr\"\nserial = 5"),
        18,
        10,
        "`serial` does not apply to transport = \"qr\"",
    );
    refused(
        &with("transport = \"qr\"", "transport = \"token\"\nserial = 0"),
        18,
        10,
        "serial 0 is not a token serial number",
    );
    refused(
        &with("transport = \"qr\"", "transport = \"carrier-pigeon\""),
        17,
        13,
        "unknown variant `carrier-pigeon`",
    );
}

#[test]
fn one_token_for_two_custodians() {
    let text = BASE
        .replacen(
            "transport = \"file\"",
            "transport = \"test-token\"\nserial = 7",
            1,
        )
        .replacen(
            "transport = \"qr\"",
            "transport = \"test-token\"\nserial = 7",
            1,
        );
    refused(&text, 19, 10, "token 7 is already used at line 14");
}

#[test]
fn missing_key_source() {
    refused(
        &with("[key]\ngenerate = true\n", "[key]\n"),
        8,
        1,
        "[key] names no key source",
    );
    refused(
        &with("[key]\ngenerate = true\n", ""),
        1,
        1,
        "missing field `key`",
    );
    refused(
        &with("generate = true", "generate = false"),
        9,
        12,
        "generate = false names no key source",
    );
}

#[test]
fn two_key_sources() {
    refused(
        &with(
            "generate = true\n",
            "generate = true\nfile = \"root.key\"\n",
        ),
        10,
        8,
        "[key] names two key sources (generate and file)",
    );
    refused(
        &with(
            "generate = true\n",
            "file = \"root.key\"\nspike = { files = [\"s1.txt\"], threshold = 1 }\n",
        ),
        10,
        9,
        "two key sources (file and spike)",
    );
}

#[test]
fn spike_source_is_checked() {
    refused(
        &with(
            "generate = true\n",
            "spike = { files = [\"s1.txt\", \"s2.txt\"], threshold = 3 }\n",
        ),
        9,
        53,
        "spike threshold 3 is out of range",
    );
    refused(
        &with(
            "generate = true\n",
            "spike = { files = [\"s1.txt\", \"s1.txt\"], threshold = 2 }\n",
        ),
        9,
        30,
        "spike file listed twice",
    );
}

#[test]
fn bad_version() {
    refused(
        &with("version = 1", "version = 2"),
        1,
        11,
        "plan version 2 is not supported: this keyceremony reads version 1",
    );
    refused(
        &with("version = 1", "version = \"1\""),
        1,
        11,
        "plan version \"1\" is not supported",
    );
    refused(&with("version = 1\n", ""), 1, 1, "missing `version = 1`");
    // a later version is refused as such, not for keys this build does not know
    refused(
        &with("version = 1\n", "version = 2\nceremony_style = \"new\"\n"),
        1,
        11,
        "plan version 2 is not supported",
    );
}

#[test]
fn bad_mode() {
    refused(
        &with("mode = \"rehearsal\"", "mode = \"test\""),
        3,
        8,
        "unknown variant `test`, expected `production` or `rehearsal`",
    );
}

#[test]
fn bad_names() {
    refused(
        &with("name = \"Bob\"", "name = \"Bo\\u202Eb\""),
        16,
        8,
        "custodian name contains the invisible character U+202E",
    );
    refused(
        &with("name = \"Bob\"", "name = \"B\\u200Bob\""),
        16,
        8,
        "U+200B",
    );
    refused(
        &with("label = \"test key\"", "label = \"test\\u001b[2Jkey\""),
        2,
        9,
        "label contains a control character",
    );
    refused(
        &with("lead = \"Lee\"", "lead = \"\""),
        4,
        8,
        "lead is empty",
    );
    refused(
        &with("name = \"Bob\"", &format!("name = \"{}\"", "b".repeat(201))),
        16,
        8,
        "longer than 200 characters",
    );
}

#[test]
fn witnesses_are_distinct_people() {
    refused(
        &with("witnesses = [\"Wes\"]", "witnesses = [\"Wes\", \"wes\"]"),
        6,
        21,
        "duplicate witness \"wes\"",
    );
    refused(
        &with("witnesses = [\"Wes\"]", "witnesses = [\"Bob\"]"),
        6,
        14,
        "\"Bob\" is the lead or a custodian",
    );
    refused(
        &with("witnesses = [\"Wes\"]", "witnesses = [\"Lee\"]"),
        6,
        14,
        "is the lead or a custodian",
    );
}

#[test]
fn passphrase_in_the_plan() {
    refused(
        &format!("{BASE}\n[[bundle]]\nformat = \"nexus-backup\"\npassphrase = \"hunter2\"\n"),
        21,
        14,
        "a passphrase never goes into a plan",
    );
}

#[test]
fn bad_bundles() {
    refused(
        &format!("{BASE}\n[[bundle]]\nformat = \"age\"\nrecipients = [\"age1notarecipient\"]\n"),
        21,
        15,
        "not an age X25519 recipient",
    );
    refused(
        &format!("{BASE}\n[[bundle]]\nformat = \"age\"\n"),
        20,
        10,
        "an age bundle needs `recipients",
    );
    refused(
        &format!("{BASE}\n[[bundle]]\nformat = \"nexus-backup\"\nrecipients = []\n"),
        21,
        14,
        "`recipients` does not apply to format = \"nexus-backup\"",
    );
    refused(
        &format!("{BASE}\n[[bundle]]\nformat = \"nexus-backup\"\nfile = \"../out.enc\"\n"),
        21,
        8,
        "file must be a plain file name",
    );
    refused(
        &format!("{BASE}\n[[bundle]]\nformat = \"zip\"\n"),
        20,
        10,
        "unknown variant `zip`",
    );
}

#[test]
fn bad_preflight_exceptions() {
    refused(
        &format!("{BASE}\n[preflight]\nallow = [{{ check = \"vibes\", reason = \"r\" }}]\n"),
        20,
        20,
        "unknown preflight check \"vibes\"",
    );
    refused(
        &format!("{BASE}\n[preflight]\nallow = [{{ check = \"random\", reason = \"r\" }}]\n"),
        20,
        20,
        "the random check cannot be allowed to fail",
    );
    refused(
        &format!("{BASE}\n[preflight]\nallow = [{{ check = \"test-tokens\", reason = \"r\" }}]\n"),
        20,
        20,
        "cannot be allowed to fail",
    );
    refused(
        &format!(
            "{BASE}\n[preflight]\nallow = [{{ check = \"swap\", reason = \"a\" }}, {{ check = \"swap\", reason = \"b\" }}]\n"
        ),
        20,
        54,
        "the swap check is allowed twice",
    );
    refused(
        &format!("{BASE}\n[preflight]\nallow = [{{ check = \"swap\" }}]\n"),
        20,
        10,
        "missing field `reason`",
    );
}

#[test]
fn not_toml() {
    refused(
        &with("threshold = 2", "threshold = "),
        5,
        13,
        "invalid string",
    );
    refused(
        &with("threshold = 2", "threshold = 2\nthreshold = 3"),
        6,
        1,
        "duplicate key",
    );
    refused("", 1, 1, "missing `version = 1`");
}

#[test]
fn not_utf8_and_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.toml");
    std::fs::write(&path, b"version = 1\nlabel = \"\xff\"\n").unwrap();
    let r = run(["ceremony", "check-plan", path.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains(":1:1: not UTF-8 text"), "{}", r.stderr);

    std::fs::write(&path, format!("{BASE}\n# {}\n", "x".repeat(300 * 1024))).unwrap();
    let r = run(["ceremony", "check-plan", path.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("larger than any ceremony plan"),
        "{}",
        r.stderr
    );

    let r = run([
        "ceremony",
        "check-plan",
        dir.path().join("absent.toml").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("absent.toml"), "{}", r.stderr);
}

// ------------------------------------------------------------ valid plans

fn repo(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn the_demo_plan_is_the_rehearsal_the_issue_asks_for() {
    let plan = Plan::load(&repo("ceremony/demo.toml")).unwrap();
    assert_eq!(plan.mode, Mode::Rehearsal);
    assert_eq!((plan.params.threshold(), plan.params.shares()), (3, 5));
    let kinds: Vec<&str> = plan.custodians.iter().map(|c| c.transport.kind()).collect();
    assert_eq!(kinds, ["file", "qr", "qr", "test-token", "test-token"]);
    assert_eq!(plan.key, KeySource::Generate);
    assert!(matches!(plan.bundles[0], BundlePlan::Age { .. }));
    assert!(matches!(
        plan.bundles[1],
        BundlePlan::NexusBackup {
            passphrase_file: Some(_),
            ..
        }
    ));
    assert_eq!(plan.witnesses.len(), 2);
    // the files it names are there, relative to the plan
    if let BundlePlan::Age {
        check_identity: Some(p),
        ..
    } = &plan.bundles[0]
    {
        assert!(plan.resolve(p).is_file());
    } else {
        panic!("the demo's age bundle names its check identity");
    }
    if let BundlePlan::NexusBackup {
        passphrase_file: Some(p),
        ..
    } = &plan.bundles[1]
    {
        assert!(plan.resolve(p).is_file());
    }
}

#[test]
fn the_template_is_a_valid_production_plan() {
    let plan = Plan::load(&repo("ceremony/template.toml")).unwrap();
    assert_eq!(plan.mode, Mode::Production);
    assert!(!plan.uses_test_tokens());
    let kinds: Vec<&str> = plan.custodians.iter().map(|c| c.transport.kind()).collect();
    assert_eq!(kinds, ["token", "recipient", "qr", "qr", "file"]);
    // every key the parser knows is shown in the template, set or commented
    let text = std::fs::read_to_string(repo("ceremony/template.toml")).unwrap();
    for key in [
        "version",
        "label",
        "mode",
        "lead",
        "threshold",
        "witnesses",
        "[key]",
        "generate",
        "file",
        "spike",
        "[[custodian]]",
        "name",
        "transport",
        "serial",
        "recipient",
        "[[bundle]]",
        "format",
        "recipients",
        "include",
        "check_identity",
        "passphrase_file",
        "[preflight]",
        "allow",
        "check",
        "reason",
    ] {
        assert!(text.contains(key), "template does not show {key}");
    }
}

#[test]
fn the_plan_vector_parses_to_its_recorded_hash() {
    let path = testdata("ceremony/plan.toml");
    let plan = Plan::load(&path).unwrap();
    let want = std::fs::read_to_string(testdata("ceremony/plan.sha256")).unwrap();
    let (hex, name) = want.trim().split_once("  ").unwrap();
    assert_eq!(name, "plan.toml");
    assert_eq!(plan.sha256.to_hex(), hex);
    let r = run(["ceremony", "check-plan", "--json", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["plan_sha256"], hex);
    assert_eq!(v["plan_words"], plan.sha256.to_words());
    assert_eq!(v["ok"], true);
    // the files it names are listed, found or not (they may come on a stick)
    assert_eq!(v["files"][0]["for"], "key file");
    assert_eq!(v["files"][0]["present"], true);
    let dir = tempfile::tempdir().unwrap();
    let moved = dir.path().join("plan.toml");
    std::fs::copy(&path, &moved).unwrap();
    let r = run(["ceremony", "check-plan", moved.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("not found here: bring it to the ceremony"),
        "{}",
        r.stdout
    );
}
