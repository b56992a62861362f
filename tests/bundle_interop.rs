//! Interop with tools that share no code with keyceremony:
//! Debian's `age` CLI (Go) decrypts our age bundles, and an independent
//! Python implementation of the Nexus backup format (scripts/nexus_backup.py,
//! argon2-cffi + cryptography) opens ours and writes ones we open.
//!
//! The tools come from scripts/ensure-bundle-interop.sh. When one is
//! missing the test says so on stderr ("SKIPPED ...") and passes, unless
//! KEYCEREMONY_REQUIRE_INTEROP=1, when it fails (CI sets that).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{files_below, run, testdata};

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn python() -> String {
    std::env::var("KEYCEREMONY_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/nexus_backup.py")
}

/// Whether the tool is there; if not, says so loudly (or fails in CI).
fn have(what: &str, probe: &mut Command) -> bool {
    let ok = probe.output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        let msg = format!(
            "SKIPPED: {what} is not available; run scripts/ensure-bundle-interop.sh to install it"
        );
        if std::env::var("KEYCEREMONY_REQUIRE_INTEROP").as_deref() == Ok("1") {
            panic!("{msg} (KEYCEREMONY_REQUIRE_INTEROP=1)");
        }
        eprintln!("\n*** {msg} ***\n");
    }
    ok
}

fn have_age() -> bool {
    have("the age CLI", Command::new("age").arg("--version"))
}

fn have_python() -> bool {
    have(
        "python3 with argon2-cffi and cryptography",
        Command::new(python()).args(["-c", "import argon2, cryptography"]),
    )
}

fn known_key_hex() -> String {
    fs::read_to_string(testdata("known-key/key.hex")).unwrap()
}

#[test]
fn age_cli_decrypts_an_age_bundle() {
    if !have_age() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let keygen = Command::new("age-keygen")
        .args(["-o", p(&d.join("id.txt"))])
        .output()
        .unwrap();
    assert!(keygen.status.success());
    let id_text = fs::read_to_string(d.join("id.txt")).unwrap();
    let recipient = id_text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    fs::create_dir_all(d.join("data/keys")).unwrap();
    fs::write(d.join("data/keys/ring"), b"nexus keyring").unwrap();
    let bundle = d.join("b.tar.age");
    let r = common::bin()
        .current_dir(d)
        .args([
            "bundle",
            "create",
            "--key-file",
            p(&testdata("known-key/key.hex")),
            "--out",
            p(&bundle),
            "--recipient",
            &recipient,
            "--include",
            "data",
        ])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));

    let tar_file = d.join("plain.tar");
    let out = Command::new("age")
        .args([
            "-d",
            "-i",
            p(&d.join("id.txt")),
            "-o",
            p(&tar_file),
            p(&bundle),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "age -d: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let x = d.join("x");
    fs::create_dir(&x).unwrap();
    let out = Command::new("tar")
        .args(["-xf", p(&tar_file), "-C", p(&x)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tar -x: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        files_below(&x),
        ["data/keys/ring", "keys/root.key", "manifest.json"]
    );
    assert_eq!(
        fs::read_to_string(x.join("keys/root.key")).unwrap(),
        known_key_hex()
    );

    // The fixed vector too.
    let out = Command::new("age")
        .args([
            "-d",
            "-i",
            p(&testdata("bundles/nexus-age-identity.txt")),
            p(&testdata("bundles/known-key.tar.age")),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(known_key_hex().trim()));
}

#[test]
fn python_nexus_implementation_opens_ours_and_we_open_its() {
    if !have_python() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let pass = d.join("pass.txt");
    fs::write(&pass, "interop passphrase\n").unwrap();
    fs::create_dir_all(d.join("data/keys")).unwrap();
    fs::write(d.join("data/keys/ring"), vec![7u8; 100_000]).unwrap();
    // Incompressible data goes into stored blocks; Python's gzip must read those too.
    let noise: Vec<u8> = (0..700_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    fs::write(d.join("data/noise.bin"), &noise).unwrap();

    // Ours -> Python.
    let ours = d.join("ours.tar.gz.enc");
    let r = common::bin()
        .current_dir(d)
        .args([
            "bundle",
            "create",
            "--key-file",
            p(&testdata("known-key/key.hex")),
            "--out",
            p(&ours),
            "--nexus-backup",
            "--passphrase-file",
            p(&pass),
            "--include",
            "data",
        ])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let py_out = d.join("py-opened");
    let out = Command::new(python())
        .args([
            p(&script()),
            "open",
            "--passphrase-file",
            p(&pass),
            "--out",
            p(&py_out),
            p(&ours),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python open: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("manifest ok"));
    assert_eq!(
        fs::read_to_string(py_out.join("keys/root.key")).unwrap(),
        known_key_hex()
    );
    assert_eq!(
        fs::read(py_out.join("data/keys/ring")).unwrap(),
        vec![7u8; 100_000]
    );

    // Python -> ours: a full keyceremony bundle, and a plain Nexus backup.
    let theirs = d.join("theirs.tar.gz.enc");
    let out = Command::new(python())
        .args([
            p(&script()),
            "seal",
            "--passphrase-file",
            p(&pass),
            "--out",
            p(&theirs),
            "--key-file",
            p(&testdata("known-key/key.hex")),
            p(&d.join("data")),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python seal: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dest = d.join("opened");
    let r = run([
        "bundle",
        "open",
        p(&theirs),
        "--passphrase-file",
        p(&pass),
        "--out",
        p(&dest),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        files_below(&dest),
        ["keys/ring", "keys/root.key", "manifest.json", "noise.bin"]
    );
    assert_eq!(
        fs::read_to_string(dest.join("keys/root.key")).unwrap(),
        known_key_hex()
    );

    let plain = d.join("plain.tar.gz.enc");
    let out = Command::new(python())
        .args([
            p(&script()),
            "seal",
            "--passphrase-file",
            p(&pass),
            "--out",
            p(&plain),
            p(&d.join("data")),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    // Neither manifest nor key: nothing to import, refused (issue 10 point 9).
    let r = run(["bundle", "verify", p(&plain), "--passphrase-file", p(&pass)]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("holds no root key"), "{}", r.stderr);
    // A plain backup holding the key is read, with a warning.
    let with_key = d.join("plain-with-key");
    fs::create_dir_all(with_key.join("keys")).unwrap();
    fs::copy(d.join("data/keys/ring"), with_key.join("keys/ring")).unwrap();
    fs::copy(
        testdata("known-key/key.hex"),
        with_key.join("keys/root.key"),
    )
    .unwrap();
    let plain = d.join("plain-with-key.tar.gz.enc");
    let out = Command::new(python())
        .args([
            p(&script()),
            "seal",
            "--passphrase-file",
            p(&pass),
            "--out",
            p(&plain),
            p(&with_key),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let r = run(["bundle", "verify", p(&plain), "--passphrase-file", p(&pass)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("plain Nexus backup"), "{}", r.stderr);

    // And a wrong passphrase is refused by both.
    let wrong = d.join("wrong.txt");
    fs::write(&wrong, "not it\n").unwrap();
    let r = run([
        "bundle",
        "verify",
        p(&theirs),
        "--passphrase-file",
        p(&wrong),
    ]);
    assert_eq!(r.code, 1);
    let out = Command::new(python())
        .args([
            p(&script()),
            "open",
            "--passphrase-file",
            p(&wrong),
            "--out",
            p(&d.join("nope")),
            p(&ours),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
