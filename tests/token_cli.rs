//! End-to-end tests of test tokens and sealed shares: the binary, run in
//! test mode (`--test-tokens DIR`), no YubiKey needed.

mod common;

use std::path::{Path, PathBuf};

use common::{testdata, Run};

const VECTOR_SERIAL: &str = "20260001";

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    tokens: PathBuf,
    pin: PathBuf,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let tokens = root.join("tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let pin = root.join("pin");
        std::fs::write(&pin, "123456\n").unwrap();
        Env {
            _tmp: tmp,
            root,
            tokens,
            pin,
        }
    }

    /// With the fixed vector's token copied in.
    fn with_vector_token() -> Env {
        let env = Env::new();
        let name = format!("token-{VECTOR_SERIAL}.json");
        std::fs::copy(
            testdata(&format!("sealed/tokens/{name}")),
            env.tokens.join(&name),
        )
        .unwrap();
        env
    }

    fn run(&self, args: &[&str]) -> Run {
        common::bin()
            .arg("--test-tokens")
            .arg(&self.tokens)
            .args(args)
            .output()
            .expect("runs")
            .into()
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.root.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn state(&self, serial: &str) -> PathBuf {
        self.tokens.join(format!("token-{serial}.json"))
    }

    fn edit_state(&self, serial: &str, f: impl FnOnce(&mut serde_json::Value)) {
        let p = self.state(serial);
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    }

    fn init(&self, serial: &str) {
        let r = self.run(&[
            "token",
            "init",
            "--serial",
            serial,
            "--pin-file",
            s(&self.pin),
        ]);
        assert_eq!(r.code, 0, "init: {}", r.stderr);
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn sealed_vector() -> String {
    testdata("sealed/shard-1.age").display().to_string()
}

fn assert_every_line_says_test(r: &Run) {
    let mut previous = "";
    for line in r.stdout.lines().chain(r.stderr.lines()) {
        if line.trim().is_empty() {
            continue;
        }
        // a recipients file's recipient line is data: its comment line says it
        let recipient_under_test_comment = line.starts_with("age1yubikey1")
            && !line.contains(' ')
            && previous.starts_with("# TEST TOKEN");
        previous = line;
        if recipient_under_test_comment {
            continue;
        }
        assert!(
            line.contains("TEST TOKEN") || line.contains("TEST MODE"),
            "a line about a test token does not say so: {line:?}"
        );
    }
}

#[test]
fn token_lifecycle_in_test_mode() {
    let env = Env::new();
    let r = env.run(&["token", "list"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("TEST MODE: no test tokens"));

    let r = env.run(&[
        "token",
        "init",
        "--serial",
        "10000001",
        "--pin-file",
        s(&env.pin),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("created"));
    assert!(r.stdout.contains("slot 82"));
    assert!(r.stdout.contains("PIN policy once, touch policy always"));
    assert_every_line_says_test(&r);

    // A second init takes the next free retired slot.
    let r = env.run(&[
        "token",
        "init",
        "--serial",
        "10000001",
        "--pin-file",
        s(&env.pin),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("slot 83"), "{}", r.stdout);
    // Asking for an occupied slot is refused.
    let r = env.run(&[
        "token",
        "init",
        "--serial",
        "10000001",
        "--pin-file",
        s(&env.pin),
        "--slot",
        "82",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("already holds a key"), "{}", r.stderr);

    for args in [
        vec!["token", "list"],
        vec!["token", "status", "--serial", "10000001"],
        vec!["token", "recipient", "--serial", "10000001"],
    ] {
        let r = env.run(&args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert_every_line_says_test(&r);
    }

    let r = env.run(&["--json", "token", "status", "--serial", "10000001"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["test_token"], true);
    assert_eq!(v["pin_tries_left"], 3);
    assert_eq!(v["puk_tries_left"], 3);
    assert_eq!(v["slots"][0]["slot"], "82");
    assert_eq!(v["slots"][0]["touch_policy"], "always");
    assert_eq!(v["slots"][0]["pin_policy"], "once");

    let r = env.run(&["--json", "token", "recipient", "--serial", "10000001"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v["recipient"].as_str().unwrap().starts_with("age1yubikey1"));

    // Unknown serial.
    let r = env.run(&["token", "status", "--serial", "999"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("TEST TOKEN 999"), "{}", r.stderr);
    assert!(r.stderr.contains("not connected"), "{}", r.stderr);
}

#[test]
fn split_seals_to_tokens_and_verify_assemble_open_them() {
    let env = Env::new();
    env.init("10000001");
    env.init("10000002");
    let out = env.root.join("out");
    let r = env.run(&[
        "split",
        "-t",
        "2",
        "-n",
        "3",
        "--generate",
        "--out",
        s(&out),
        "--seal-to",
        "10000001",
        "--seal-to",
        "10000002",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        common::files_below(&out),
        [
            "ceremony.json",
            "shard-1.age",
            "shard-2.age",
            "shard-3.json"
        ]
    );
    assert!(r
        .stdout
        .contains("share 1 is sealed to TEST TOKEN 10000001"));
    let sealed = std::fs::read(out.join("shard-1.age")).unwrap();
    assert!(sealed.starts_with(b"age-encryption.org/v1\n-> piv-p256 "));

    // Two sealed shares alone reach the threshold.
    let r = env.run(&[
        "assemble",
        "--dry-run",
        "--pin-file",
        s(&env.pin),
        s(&out.join("shard-1.age")),
        s(&out.join("shard-2.age")),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("touch your YubiKey now"), "{}", r.stderr);
    assert!(r
        .stderr
        .contains("touch confirmed automatically (test token)"));

    let r = env.run(&[
        "verify",
        "--pin-file",
        s(&env.pin),
        s(&out.join("ceremony.json")),
        s(&out.join("shard-1.age")),
        s(&out.join("shard-2.age")),
        s(&out.join("shard-3.json")),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("(sealed to TEST TOKEN 10000001"),
        "{}",
        r.stdout
    );
}

#[test]
fn sealing_by_recipient_needs_no_token() {
    let env = Env::new();
    let recipient = std::fs::read_to_string(testdata("sealed/recipient.txt")).unwrap();
    let out = env.root.join("out");
    // No test tokens at all in the folder: sealing needs only the public key.
    let r = env.run(&[
        "split",
        "-t",
        "2",
        "-n",
        "2",
        "--generate",
        "--out",
        s(&out),
        "--seal-to-recipient",
        recipient.trim(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        common::files_below(&out),
        ["ceremony.json", "shard-1.age", "shard-2.json"]
    );
    // And the vector's token opens it.
    let env2 = Env::with_vector_token();
    let r = env2.run(&[
        "verify",
        "--pin-file",
        s(&env2.pin),
        s(&out.join("shard-1.age")),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}

#[test]
fn two_shares_to_one_token_need_explicit_consent() {
    let env = Env::new();
    env.init("10000001");
    let out = env.root.join("out");
    let args = [
        "split",
        "-t",
        "2",
        "-n",
        "3",
        "--generate",
        "--out",
        s(&out),
        "--seal-to",
        "10000001",
        "--seal-to",
        "10000001",
    ];
    let r = env.run(&args);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--allow-same-token"), "{}", r.stderr);
    assert!(!out.exists(), "nothing written");
    let mut allowed = args.to_vec();
    allowed.push("--allow-same-token");
    let r = env.run(&allowed);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // More targets than shares.
    let out2 = env.root.join("out2");
    let r = env.run(&[
        "split",
        "-t",
        "1",
        "-n",
        "1",
        "--generate",
        "--out",
        s(&out2),
        "--seal-to",
        "10000001",
        "--seal-to",
        "10000001",
        "--allow-same-token",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn split_to_a_missing_token_writes_nothing() {
    let env = Env::new();
    env.init("10000001");
    let out = env.root.join("out");
    let r = env.run(&[
        "split",
        "-t",
        "2",
        "-n",
        "2",
        "--generate",
        "--out",
        s(&out),
        "--seal-to",
        "10000009",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("TEST TOKEN 10000009"), "{}", r.stderr);
    assert!(!out.exists());
}

#[test]
fn fixed_vector_opens_and_assembles_with_known_key_shards() {
    let env = Env::with_vector_token();
    let r = env.run(&["verify", "--pin-file", s(&env.pin), &sealed_vector()]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let r = env.run(&[
        "assemble",
        "--reveal",
        "--pin-file",
        s(&env.pin),
        &sealed_vector(),
        s(&testdata("known-key/shard-2.json")),
        s(&testdata("known-key/shard-3.json")),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let key = std::fs::read_to_string(testdata("known-key/key.hex")).unwrap();
    assert_eq!(r.stdout.trim(), key.trim());
}

#[test]
fn wrong_token_is_named() {
    let env = Env::new();
    env.init("10000005");
    let r = env.run(&["verify", "--pin-file", s(&env.pin), &sealed_vector()]);
    assert_eq!(r.code, 1);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("no connected token holds the key"), "{all}");
    assert!(all.contains("TEST TOKEN 10000005"), "{all}");
}

#[test]
fn wrong_pins_count_down_last_try_is_guarded_and_puk_unblocks() {
    let env = Env::with_vector_token();
    let wrong = env.file("wrong", "654321\n");
    let r = env.run(&["verify", "--pin-file", s(&wrong), &sealed_vector()]);
    assert_eq!(r.code, 1);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("wrong PIN for TEST TOKEN 20260001"), "{all}");
    assert!(all.contains("2 tries left"), "{all}");

    // A right PIN restores the counter.
    let r = env.run(&["verify", "--pin-file", s(&env.pin), &sealed_vector()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = env.run(&["--json", "token", "status", "--serial", VECTOR_SERIAL]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["pin_tries_left"], 3);

    env.run(&["verify", "--pin-file", s(&wrong), &sealed_vector()]);
    let r = env.run(&["verify", "--pin-file", s(&wrong), &sealed_vector()]);
    assert!(format!("{}{}", r.stdout, r.stderr).contains("1 try left"));
    // One try left: refused without --last-pin-try, and no try is spent.
    let r = env.run(&["verify", "--pin-file", s(&env.pin), &sealed_vector()]);
    assert_eq!(r.code, 1);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("only ONE PIN try left"), "{all}");
    assert!(all.contains("--last-pin-try"), "{all}");
    let r = env.run(&["--json", "token", "status", "--serial", VECTOR_SERIAL]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["pin_tries_left"], 1);

    // Spending it wrongly blocks the token.
    let r = env.run(&[
        "verify",
        "--last-pin-try",
        "--pin-file",
        s(&wrong),
        &sealed_vector(),
    ]);
    assert!(format!("{}{}", r.stdout, r.stderr).contains("blocked"));
    // Blocked: even the right PIN does not open it, and the message says how to unblock.
    let r = env.run(&[
        "verify",
        "--last-pin-try",
        "--pin-file",
        s(&env.pin),
        &sealed_vector(),
    ]);
    assert_eq!(r.code, 1);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("is blocked"), "{all}");
    assert!(all.contains("token unblock"), "{all}");

    // PUK unblock with a new PIN.
    let bad_puk = env.file("badpuk", "11111111\n");
    let new_pin = env.file("newpin", "24682468\n");
    let r = env.run(&[
        "token",
        "unblock",
        "--serial",
        VECTOR_SERIAL,
        "--puk-file",
        s(&bad_puk),
        "--new-pin-file",
        s(&new_pin),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("wrong PUK"), "{}", r.stderr);
    assert!(r.stderr.contains("2 tries left"), "{}", r.stderr);
    let puk = env.file("puk", "12345678\n");
    let r = env.run(&[
        "token",
        "unblock",
        "--serial",
        VECTOR_SERIAL,
        "--puk-file",
        s(&puk),
        "--new-pin-file",
        s(&new_pin),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_every_line_says_test(&r);
    let r = env.run(&["verify", "--pin-file", s(&new_pin), &sealed_vector()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn touch_that_never_comes_times_out() {
    let env = Env::with_vector_token();
    env.edit_state(VECTOR_SERIAL, |v| v["touch"] = "never".into());
    let r = env.run(&["verify", "--pin-file", s(&env.pin), &sealed_vector()]);
    assert_eq!(r.code, 1);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("touch your YubiKey now"), "{all}");
    assert!(all.contains("touch was not given"), "{all}");
}

#[test]
fn token_removed_mid_operation() {
    let env = Env::with_vector_token();
    // The custodian pulls the token out at the touch prompt.
    env.edit_state(VECTOR_SERIAL, |v| v["touch"] = "unplug".into());
    let out = env.root.join("key.hex");
    let r = env.run(&[
        "assemble",
        "--key-out",
        s(&out),
        "--pin-file",
        s(&env.pin),
        &sealed_vector(),
        s(&testdata("known-key/shard-2.json")),
        s(&testdata("known-key/shard-3.json")),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("was removed during the operation"), "{all}");
    assert!(!env.state(VECTOR_SERIAL).exists());
    assert!(!out.exists(), "nothing written");
}

#[test]
fn sealed_share_of_another_ceremony_is_named() {
    let env = Env::new();
    env.init("10000001");
    let out = env.root.join("other");
    let r = env.run(&[
        "split",
        "-t",
        "2",
        "-n",
        "2",
        "--generate",
        "--out",
        s(&out),
        "--seal-to",
        "10000001",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let foreign = out.join("shard-1.age");
    let r = env.run(&[
        "verify",
        "--pin-file",
        s(&env.pin),
        s(&testdata("known-key/ceremony.json")),
        s(&testdata("known-key/shard-2.json")),
        s(&testdata("known-key/shard-3.json")),
        s(&foreign),
    ]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let bad = r
        .stdout
        .lines()
        .find(|l| l.starts_with("BAD") && l.contains(s(&foreign)))
        .unwrap_or_else(|| panic!("the foreign sealed share is not named BAD: {}", r.stdout));
    assert!(bad.contains("not to ceremony KC-40ZZ-FF88-WRT4"), "{bad}");
}

#[test]
fn damaged_test_token_state_is_reported_with_its_path() {
    let env = Env::with_vector_token();
    env.edit_state(VECTOR_SERIAL, |v| {
        v["slots"][0]["public_key"] = "02abcd".into()
    });
    let r = env.run(&["token", "status", "--serial", VECTOR_SERIAL]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("token-20260001.json"), "{}", r.stderr);
    assert!(r.stderr.contains("TEST TOKEN"), "{}", r.stderr);
}

#[test]
fn one_wrong_pin_costs_one_try_per_run() {
    let env = Env::new();
    env.init("10000001");
    let out = env.root.join("out");
    let r = env.run(&[
        "split",
        "-t",
        "2",
        "-n",
        "3",
        "--generate",
        "--out",
        s(&out),
        "--seal-to",
        "10000001",
        "--seal-to",
        "10000001",
        "--allow-same-token",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let wrong = env.file("wrong", "654321\n");
    let r = env.run(&[
        "verify",
        "--pin-file",
        s(&wrong),
        s(&out.join("shard-1.age")),
        s(&out.join("shard-2.age")),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("2 tries left"), "{}", r.stdout);
    assert!(
        r.stdout.contains("refused earlier in this run"),
        "{}",
        r.stdout
    );
    let r = env.run(&["--json", "token", "status", "--serial", "10000001"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["pin_tries_left"], 2);
    // With the right PIN, policy "once" asks once for both shares.
    let r = env.run(&[
        "assemble",
        "--dry-run",
        "--pin-file",
        s(&env.pin),
        s(&out.join("shard-1.age")),
        s(&out.join("shard-2.age")),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn blocked_token_is_refused_with_the_way_out() {
    let env = Env::with_vector_token();
    env.edit_state(VECTOR_SERIAL, |v| v["pin_tries_left"] = 0.into());
    let r = env.run(&["verify", "--pin-file", s(&env.pin), &sealed_vector()]);
    assert_eq!(r.code, 1);
    let bad = r
        .stdout
        .lines()
        .find(|l| l.starts_with("BAD"))
        .unwrap_or("");
    assert!(bad.contains("PIN of TEST TOKEN 20260001"), "{}", r.stdout);
    assert!(bad.contains("is blocked"), "{bad}");
    // the way out names this token, not a placeholder
    let way_out = format!("keyceremony token unblock --serial {VECTOR_SERIAL}");
    assert!(bad.contains(&way_out), "{bad}");
    assert!(!bad.contains("<serial>"), "{bad}");
    let r = env.run(&["token", "status", "--serial", VECTOR_SERIAL]);
    assert!(
        r.stdout.contains("PIN tries left: 0 (BLOCKED"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(&way_out), "{}", r.stdout);
    // init refuses too, before asking for anything.
    let r = env.run(&[
        "token",
        "init",
        "--serial",
        VECTOR_SERIAL,
        "--pin-file",
        s(&env.pin),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is blocked"), "{}", r.stderr);
}
