//! Passphrase-protected shards (issue 12 point 2), end to end through the
//! binary: `split --protect-with-passphrase`, `verify` and `assemble` of
//! `shard-<i>.json.age`, the vector in testdata/passphrase/, Go `age`
//! opening what split wrote (and keyceremony opening what `age -p` wrote),
//! and every bad input the issue names.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::prelude::{Engine, BASE64_STANDARD_NO_PAD};
use common::{run, run_in, testdata, tools_or_skip};

const VECTOR_PASSPHRASE: &str = "keyceremony passphrase vector: not a secret";
const PASS: &str = "a long enough test passphrase";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn vector(name: &str) -> PathBuf {
    testdata("passphrase").join(name)
}

/// Splits a fresh key 2-of-3 into `dir/c`, share 3 under `PASS` from a file.
fn split_protected(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("pass.txt"), format!("{PASS}\n")).unwrap();
    let r = run_in(
        dir,
        &[
            "split",
            "-t",
            "2",
            "-n",
            "3",
            "--generate",
            "--out",
            "c",
            "--protect-with-passphrase",
            "3",
            "--shard-passphrase-file",
            "3=pass.txt",
        ],
    );
    assert_eq!(r.code, 0, "split failed: {}", r.stderr);
    dir.join("c")
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

// ------------------------------------------------------------------ vector

#[test]
fn the_vector_opens_and_assembles_to_its_key() {
    let d = tmp();
    std::fs::write(d.path().join("pass.txt"), format!("{VECTOR_PASSPHRASE}\n")).unwrap();
    let r = run([
        "verify",
        s(&vector("shard-2.json.age")),
        "--record",
        s(&vector("ceremony.json")),
        "--shard-passphrase-file",
        s(&d.path().join("pass.txt")),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("(passphrase-protected): share 2 of 3"),
        "{}",
        r.stdout
    );

    let key_out = d.path().join("key.hex");
    let r = run([
        "assemble",
        s(&vector("shard-1.json")),
        s(&vector("shard-2.json.age")),
        s(&vector("ceremony.json")),
        "--shard-passphrase-file",
        s(&d.path().join("pass.txt")),
        "--key-out",
        s(&key_out),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(&key_out).unwrap(),
        std::fs::read_to_string(vector("key.hex")).unwrap()
    );
}

/// The header's bytes, against the age spec (c2sp.org/age): the version
/// line, one `-> scrypt <salt> <log2 N>` stanza with a 16-byte salt and a
/// 32-byte body, the MAC line; and the age crate (our own decryption is
/// the same crate, so the Go age test below is the independent one)
/// decrypting it to exactly the shard file Go age gave.
#[test]
fn the_vector_header_is_an_age_scrypt_header() {
    let bytes = std::fs::read(vector("shard-2.json.age")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.splitn(5, '\n').collect();
    assert_eq!(lines[0], "age-encryption.org/v1");
    let args: Vec<&str> = lines[1].split(' ').collect();
    assert_eq!(args[..2], ["->", "scrypt"], "{}", lines[1]);
    assert_eq!(args.len(), 4);
    assert_eq!(BASE64_STANDARD_NO_PAD.decode(args[2]).unwrap().len(), 16);
    assert_eq!(args[3], "18", "work factor log2 N");
    assert_eq!(BASE64_STANDARD_NO_PAD.decode(lines[2]).unwrap().len(), 32);
    let mac = lines[3].strip_prefix("--- ").expect("MAC line");
    assert_eq!(BASE64_STANDARD_NO_PAD.decode(mac).unwrap().len(), 32);

    let identity =
        age::scrypt::Identity::new(secrecy::SecretString::from(VECTOR_PASSPHRASE.to_string()));
    let plain = age::decrypt(&identity, &bytes).expect("age opens the vector");
    assert_eq!(
        plain,
        std::fs::read(vector("shard-2.decrypted-by-age.json")).unwrap()
    );
}

// ------------------------------------------------------------- round trip

#[test]
fn split_writes_the_protected_share_instead_of_its_shard_file() {
    let d = tmp();
    let c = split_protected(d.path());
    assert_eq!(
        common::files_below(&c),
        [
            "ceremony.json",
            "shard-1.json",
            "shard-2.json",
            "shard-3.json.age"
        ]
    );
    let mode = std::fs::metadata(c.join("shard-3.json.age"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let r = run_in(
        d.path(),
        &[
            "assemble",
            "c/shard-1.json",
            "c/shard-3.json.age",
            "c/ceremony.json",
            "--dry-run",
            "--shard-passphrase-file",
            "pass.txt",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // the JSON report says which shares are protected
    let r = run_in(
        d.path(),
        &[
            "split",
            "--json",
            "-t",
            "2",
            "-n",
            "2",
            "--generate",
            "--out",
            "j",
            "--protect-with-passphrase",
            "1",
            "--shard-passphrase-file",
            "1=pass.txt",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["passphrase_protected"], serde_json::json!([1]));
}

#[test]
fn prompts_ask_twice_on_split_and_once_on_verify_without_echo() {
    if !common::have_script() {
        return;
    }
    let d = tmp();
    let out = d.path().join("c");
    let (code, shown) = common::on_terminal(
        &[
            "split",
            "-t",
            "2",
            "-n",
            "2",
            "--generate",
            "--out",
            s(&out),
            "--protect-with-passphrase",
            "2",
        ],
        &[],
        &[
            ("Passphrase for share 2", PASS),
            ("The same passphrase again", PASS),
        ],
    );
    assert_eq!(code, 0, "{shown}");
    assert!(!shown.contains(PASS), "the passphrase was echoed: {shown}");
    let shard = out.join("shard-2.json.age");
    let (code, shown) =
        common::on_terminal(&["verify", s(&shard)], &[], &[("Passphrase for", PASS)]);
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("passphrase-protected"), "{shown}");
    assert!(!shown.contains(PASS), "the passphrase was echoed: {shown}");
    // two different answers: nothing written
    let other = d.path().join("o");
    let (code, shown) = common::on_terminal(
        &[
            "split",
            "-t",
            "2",
            "-n",
            "2",
            "--generate",
            "--out",
            s(&other),
            "--protect-with-passphrase",
            "1",
        ],
        &[],
        &[
            ("Passphrase for share 1", PASS),
            ("The same passphrase again", "something else entirely"),
        ],
    );
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("the two passphrases differ"), "{shown}");
    assert!(!other.exists());
}

// ------------------------------------------------------------------ Go age

/// Go `age -d` opens what split wrote (it reads the passphrase only from a
/// terminal: driven through `script`), and a shard file encrypted with
/// `age -p` opens with keyceremony verify.
#[test]
fn go_age_opens_a_passphrase_shard_and_keyceremony_opens_age_p() {
    if !tools_or_skip(
        "passphrase shard interop",
        &[("age", "--version"), ("script", "--version")],
        "scripts/ensure-bundle-interop.sh",
    ) {
        return;
    }
    let d = tmp();
    let c = split_protected(d.path());
    let age = PathBuf::from("/usr/bin/age");
    let age = if age.exists() {
        age
    } else {
        PathBuf::from("age")
    };
    let opened = d.path().join("opened.json");
    let (code, shown) = common::program_on_terminal(
        &age,
        &["-d", "-o", s(&opened), s(&c.join("shard-3.json.age"))],
        &[],
        &[("passphrase", PASS)],
    );
    assert_eq!(code, 0, "{shown}");
    let r = run([
        "verify",
        s(&opened),
        "--record",
        s(&c.join("ceremony.json")),
    ]);
    assert_eq!(r.code, 0, "what age -d gave is not the shard: {}", r.stderr);
    assert!(r.stdout.contains("share 3 of 3"), "{}", r.stdout);

    // the other way: age -p on shard-2.json
    let made = d.path().join("shard-2.json.age");
    let (code, shown) = common::program_on_terminal(
        &age,
        &["-p", "-o", s(&made), s(&c.join("shard-2.json"))],
        &[],
        &[("Enter passphrase", PASS), ("Confirm passphrase", PASS)],
    );
    assert_eq!(code, 0, "{shown}");
    let r = run_in(
        d.path(),
        &[
            "verify",
            "shard-2.json.age",
            "--record",
            "c/ceremony.json",
            "--shard-passphrase-file",
            "pass.txt",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

// ------------------------------------------------------------- bad inputs

fn verify_with(dir: &Path, file: &Path, pass: &str) -> common::Run {
    std::fs::write(dir.join("given.txt"), pass).unwrap();
    run([
        "verify",
        s(file),
        "--shard-passphrase-file",
        s(&dir.join("given.txt")),
    ])
}

#[test]
fn a_wrong_passphrase_names_the_file() {
    let d = tmp();
    let r = verify_with(
        d.path(),
        &vector("shard-2.json.age"),
        "not the passphrase at all\n",
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("shard-2.json.age: the passphrase does not open this file"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("not the passphrase at all"));
}

#[test]
fn truncated_and_tampered_files_are_refused() {
    let d = tmp();
    let good = std::fs::read(vector("shard-2.json.age")).unwrap();
    let header_end = good.windows(4).position(|w| w == b"--- ").unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "cut-payload",
            good[..good.len() - 20].to_vec(),
            "fails its integrity check",
        ),
        ("cut-header", good[..header_end + 10].to_vec(), "header"),
        (
            "payload-flip",
            {
                let mut b = good.clone();
                let i = b.len() - 30;
                b[i] ^= 1;
                b
            },
            "fails its integrity check",
        ),
        (
            "mac-flip",
            {
                let mut b = good.clone();
                let i = header_end + 6;
                b[i] = if b[i] == b'A' { b'B' } else { b'A' };
                b
            },
            "MAC does not match",
        ),
    ];
    for (name, bytes, says) in cases {
        let f = d.path().join(format!("{name}.json.age"));
        std::fs::write(&f, bytes).unwrap();
        let r = verify_with(d.path(), &f, VECTOR_PASSPHRASE);
        assert_eq!(r.code, 1, "{name}: {}", r.stdout);
        assert!(
            r.stdout.contains(&format!("{name}.json.age: ")) && r.stdout.contains(says),
            "{name}: {}",
            r.stdout
        );
    }
}

/// A header asking for log2 N = 40 (128 TiB for scrypt) is refused from
/// the header alone, at once: no KDF runs, no passphrase is asked.
#[test]
fn an_absurd_work_factor_is_refused_before_any_work() {
    let d = tmp();
    let good =
        String::from_utf8_lossy(&std::fs::read(vector("shard-2.json.age")).unwrap()).into_owned();
    let crafted = good.replacen(" 18\n", " 40\n", 1);
    assert_ne!(crafted, good);
    let f = d.path().join("absurd.json.age");
    std::fs::write(&f, crafted.as_bytes()).unwrap();
    let start = Instant::now();
    // no passphrase file and no terminal: refused before anything is asked
    let r = run(["verify", s(&f)]);
    let took = start.elapsed();
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("absurd.json.age: the file asks for scrypt work factor 2^40"),
        "{}",
        r.stdout
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let r = verify_with(d.path(), &f, VECTOR_PASSPHRASE);
    assert!(r.stdout.contains("work factor 2^40"), "{}", r.stdout);
}

#[test]
fn two_stanzas_are_refused() {
    let d = tmp();
    let good =
        String::from_utf8_lossy(&std::fs::read(vector("shard-2.json.age")).unwrap()).into_owned();
    let (first, rest) = good.split_at(good.find("--- ").unwrap());
    let stanza = &first["age-encryption.org/v1\n".len()..];
    let doubled = format!("{first}{stanza}{rest}");
    let f = d.path().join("two.json.age");
    std::fs::write(&f, doubled).unwrap();
    let r = verify_with(d.path(), &f, VECTOR_PASSPHRASE);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("two.json.age: this age file has 2 recipient stanzas"),
        "{}",
        r.stdout
    );
}

#[test]
fn an_empty_or_missing_passphrase_file_is_named() {
    let d = tmp();
    std::fs::write(d.path().join("empty.txt"), "").unwrap();
    let r = run_in(
        d.path(),
        &[
            "verify",
            s(&vector("shard-2.json.age")),
            "--shard-passphrase-file",
            "empty.txt",
        ],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("empty.txt: the passphrase is empty"),
        "{}",
        r.stdout
    );
    let r = run_in(
        d.path(),
        &[
            "verify",
            s(&vector("shard-2.json.age")),
            "--shard-passphrase-file",
            "missing.txt",
        ],
    );
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("missing.txt"), "{}", r.stdout);
    // no file and no terminal: says which option to use
    let r = run(["verify", s(&vector("shard-2.json.age"))]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("--shard-passphrase-file"), "{}", r.stdout);
}

#[test]
fn a_passphrase_shard_of_another_ceremony_is_refused() {
    let d = tmp();
    std::fs::write(d.path().join("pass.txt"), VECTOR_PASSPHRASE).unwrap();
    // same key, another ceremony: known-key's shard 1 with the vector's shard 2
    let r = run([
        "assemble",
        s(&testdata("known-key/shard-1.json")),
        s(&vector("shard-2.json.age")),
        "--shard-passphrase-file",
        s(&d.path().join("pass.txt")),
        "--dry-run",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let said = format!("{}{}", r.stdout, r.stderr);
    assert!(said.contains("shard-2.json.age"), "{said}");
    assert!(said.contains("KC-WS3V-3VJ0-7SK7"), "{said}");
    let r = run([
        "verify",
        s(&vector("shard-2.json.age")),
        "--record",
        s(&testdata("known-key/ceremony.json")),
        "--shard-passphrase-file",
        s(&d.path().join("pass.txt")),
    ]);
    assert_eq!(r.code, 1, "{}", r.stdout);
}

// ------------------------------------------------------- split refusals

#[test]
fn a_short_passphrase_is_refused_unless_allowed_and_a_generated_one_offered() {
    let d = tmp();
    std::fs::write(d.path().join("short.txt"), "short\n").unwrap();
    let r = run_in(
        d.path(),
        &[
            "split",
            "-t",
            "2",
            "-n",
            "2",
            "--generate",
            "--out",
            "c",
            "--protect-with-passphrase",
            "1",
            "--shard-passphrase-file",
            "1=short.txt",
        ],
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("short.txt: the passphrase has only 5 characters; a passphrase-protected shard needs at least 12"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("A generated passphrase you may use instead: "),
        "{}",
        r.stderr
    );
    assert!(!d.path().join("c").exists());
    let r = run_in(
        d.path(),
        &[
            "split",
            "-t",
            "2",
            "-n",
            "2",
            "--generate",
            "--out",
            "c",
            "--protect-with-passphrase",
            "1",
            "--shard-passphrase-file",
            "1=short.txt",
            "--allow-short-passphrase",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(d.path().join("c/shard-1.json.age").exists());
}

#[test]
fn contradictory_passphrase_options_are_usage_errors() {
    let d = tmp();
    std::fs::write(d.path().join("pass.txt"), PASS).unwrap();
    let base = ["split", "-t", "2", "-n", "3", "--generate", "--out", "c"];
    let cases: &[(&[&str], &str)] = &[
        (
            &["--protect-with-passphrase", "4"],
            "shares are numbered 1 to 3",
        ),
        (
            &[
                "--protect-with-passphrase",
                "2",
                "--protect-with-passphrase",
                "2",
                "--shard-passphrase-file",
                "2=pass.txt",
            ],
            "given twice",
        ),
        (
            &[
                "--protect-with-passphrase",
                "1",
                "--shard-passphrase-file",
                "2=pass.txt",
            ],
            "share 2 is not named by --protect-with-passphrase",
        ),
        (
            &[
                "--protect-with-passphrase",
                "1",
                "--shard-passphrase-file",
                "pass.txt",
            ],
            "give N=FILE",
        ),
        (
            &[
                "--protect-with-passphrase",
                "1",
                "--seal-to-recipient",
                "age1yubikey1qw4jdmpph6zm0hvncgfan6yu4wp9jf6eh8haz3vkjysku99hag6jg5ejjyw",
                "--shard-passphrase-file",
                "1=pass.txt",
            ],
            "sealed to a token",
        ),
    ];
    for (extra, says) in cases {
        let args: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
        let r = run_in(d.path(), &args);
        assert_eq!(r.code, 2, "{extra:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{extra:?}: {}", r.stderr);
        assert!(!d.path().join("c").exists());
    }
}
