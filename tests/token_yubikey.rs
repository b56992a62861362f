//! The real YubiKey backend (PC/SC). Without hardware it must fail cleanly
//! and say what to do; with a key (or the virtual PIV card of issue 5) the
//! gated round trip runs.
//!
//! Hardware round trip, opt-in: set `KEYCEREMONY_HW_SERIAL` to the serial
//! of a YubiKey (or virtual card) and `KEYCEREMONY_HW_PIN_FILE` to a file
//! holding its PIN. `KEYCEREMONY_HW_ALLOW_INIT=1` also lets the test create
//! a key in the first free retired slot when none is there (it never
//! overwrites a slot). The touch policy of an existing key applies: be ready
//! to touch.

mod common;

use common::run;

#[test]
fn real_backend_without_hardware_fails_cleanly() {
    if std::env::var_os("KEYCEREMONY_HW_SERIAL").is_some() {
        eprintln!("skipped: KEYCEREMONY_HW_SERIAL is set, hardware is expected");
        return;
    }
    let r = run(["token", "list"]);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    match r.code {
        // pcscd running: either no key, or some card that is listed by serial.
        0 => assert!(
            r.stdout.contains("no YubiKey connected") || r.stdout.contains("YubiKey "),
            "{}",
            r.stdout
        ),
        1 => assert!(
            r.stderr.contains("pcscd") || r.stderr.contains("smart-card"),
            "{}",
            r.stderr
        ),
        other => panic!("exit status {other}: {}", r.stderr),
    }
    // Nothing in a real-token message pretends to be a test token, and vice versa.
    assert!(!r.stdout.contains("TEST TOKEN") && !r.stderr.contains("TEST TOKEN"));

    let r = run(["token", "status", "--serial", "4294967295"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(
        r.stderr.contains("pcscd") || r.stderr.contains("YubiKey 4294967295 is not connected"),
        "{}",
        r.stderr
    );
}

#[test]
fn hardware_round_trip() {
    let (Some(serial), Some(pin_file)) = (
        std::env::var_os("KEYCEREMONY_HW_SERIAL"),
        std::env::var_os("KEYCEREMONY_HW_PIN_FILE"),
    ) else {
        eprintln!(
            "skipped: set KEYCEREMONY_HW_SERIAL and KEYCEREMONY_HW_PIN_FILE to run against a YubiKey or virtual PIV card"
        );
        return;
    };
    let serial = serial.to_str().unwrap().to_string();
    let pin_file = pin_file.to_str().unwrap().to_string();
    let status = run(["--json", "token", "status", "--serial", &serial]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["test_token"], false);
    if v["slots"].as_array().unwrap().is_empty() {
        assert_eq!(
            std::env::var("KEYCEREMONY_HW_ALLOW_INIT").as_deref(),
            Ok("1"),
            "the token has no key; set KEYCEREMONY_HW_ALLOW_INIT=1 to let the test create one"
        );
        let r = run([
            "token",
            "init",
            "--serial",
            &serial,
            "--pin-file",
            &pin_file,
            "--touch-policy",
            "never",
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let r = run(["token", "recipient", "--serial", &serial]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // a recipients file: the comment line, then the recipient alone
    let last = r.stdout.lines().last().unwrap_or_default();
    assert!(r.stdout.starts_with("# "), "{}", r.stdout);
    assert!(last.starts_with("age1yubikey1"), "{}", r.stdout);

    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("split");
    let r = run([
        "split",
        "-t",
        "2",
        "-n",
        "2",
        "--generate",
        "--out",
        dir.to_str().unwrap(),
        "--seal-to",
        &serial,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run([
        "assemble",
        "--dry-run",
        "--pin-file",
        &pin_file,
        dir.join("shard-1.age").to_str().unwrap(),
        dir.join("shard-2.json").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}

/// pcsc-lite's client library reads its socket path from
/// PCSCLITE_CSOCK_NAME: pointing it nowhere is "pcscd is not running",
/// whatever this machine runs.
#[test]
fn no_pcsc_service_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("no-pcscd.sock");
    for args in [
        vec!["token", "list"],
        vec!["token", "status", "--serial", "123"],
    ] {
        let r: common::Run = common::bin()
            .env("PCSCLITE_CSOCK_NAME", &nowhere)
            .args(&args)
            .output()
            .unwrap()
            .into();
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("pcscd is not running"), "{}", r.stderr);
    }
    let r: common::Run = common::bin()
        .env("PCSCLITE_CSOCK_NAME", &nowhere)
        .args([
            "verify",
            common::testdata("sealed/shard-1.age").to_str().unwrap(),
        ])
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("pcscd is not running"), "{}", r.stdout);
}
