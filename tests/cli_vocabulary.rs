//! One meaning per option name and one JSON vocabulary (issue 13 §2, §3):
//! the new spellings (`--output FILE`, `--key-output`, ...), every old
//! spelling still working as a hidden alias, `-i` repeatable, the JSON keys
//! that were renamed, and the JSON Schemas of docs/schema/ (every document
//! the tests see is checked in tests/common; here: that they reject what
//! they must, and that every command has one).

mod common;

use std::path::{Path, PathBuf};

use common::schema;
use common::{run, run_in, testdata, Run};
use serde_json::{json, Value};

const RECIPIENT: &str = "age16rjanwrx2n6dsm55m56vhaa2vn84xctyqvdwuqpvkvc7dl6n6f6qu0slef";

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn json_of(r: &Run) -> Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {:?} {}", r.stdout, r.stderr))
}

fn known_shards() -> Vec<PathBuf> {
    (1..=3)
        .map(|i| testdata(&format!("known-key/shard-{i}.json")))
        .collect()
}

/// `bundle create` with `out_option` FILE writes the bundle there.
fn bundle_create_with(d: &Path, out_option: &str) {
    let out = d.join(format!("b{out_option}.tar.age"));
    let r = run([
        "--json",
        "bundle",
        "create",
        "--key-file",
        p(&testdata("known-key/key.hex")),
        out_option,
        p(&out),
        "-r",
        RECIPIENT,
    ]);
    assert_eq!(r.code, 0, "{out_option}: {}", r.stderr);
    assert!(out.is_file(), "{out_option}: no bundle written");
    assert_eq!(json_of(&r)["bundle"]["path"], p(&out));
}

#[test]
fn bundle_create_takes_output_and_the_old_out() {
    let tmp = tempfile::tempdir().unwrap();
    for option in ["--output", "-o", "--out"] {
        bundle_create_with(tmp.path(), option);
    }
}

#[test]
fn print_transcript_takes_output_and_the_old_out() {
    let tmp = tempfile::tempdir().unwrap();
    for option in ["--output", "-o", "--out"] {
        let html = tmp.path().join(format!("t{option}.html"));
        let r = run([
            "ceremony",
            "print-transcript",
            p(&testdata("ceremony/transcript.jsonl")),
            option,
            p(&html),
        ]);
        assert_eq!(r.code, 0, "{option}: {}", r.stderr);
        assert!(html.is_file(), "{option}: nothing written");
    }
}

#[test]
fn assemble_takes_key_output_and_the_old_key_out() {
    let tmp = tempfile::tempdir().unwrap();
    let want = std::fs::read_to_string(testdata("known-key/key.hex")).unwrap();
    for option in ["--key-output", "--key-out"] {
        let out = tmp.path().join(format!("key{option}.hex"));
        let mut args: Vec<String> = known_shards().iter().map(|s| p(s).to_string()).collect();
        args.insert(0, "assemble".into());
        args.extend([option.to_string(), p(&out).to_string()]);
        let r = run(&args);
        assert_eq!(r.code, 0, "{option}: {}", r.stderr);
        assert_eq!(std::fs::read_to_string(&out).unwrap().trim(), want.trim());
    }
}

#[test]
fn assemble_takes_bundle_output_and_the_old_bundle_out() {
    let tmp = tempfile::tempdir().unwrap();
    for option in ["--bundle-output", "--bundle-out"] {
        let out = tmp.path().join(format!("b{option}.tar.age"));
        let mut args: Vec<String> = vec!["--json".into(), "assemble".into()];
        args.extend(known_shards().iter().map(|s| p(s).to_string()));
        args.extend([option.into(), p(&out).into(), "-r".into(), RECIPIENT.into()]);
        let r = run(&args);
        assert_eq!(r.code, 0, "{option}: {}", r.stderr);
        let v = json_of(&r);
        assert_eq!(v["output"]["kind"], "bundle", "{v}");
        assert_eq!(v["output"]["format"], "age", "{v}");
        assert_eq!(v["output"]["path"], p(&out), "{v}");
        // opened with the identity again
        let r = run([
            "bundle",
            "verify",
            p(&out),
            "-i",
            p(&testdata("bundles/nexus-age-identity.txt")),
        ]);
        assert_eq!(r.code, 0, "{option}: {}", r.stderr);
    }
}

#[test]
fn assemble_takes_secret_output_and_the_old_secret_out() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("secret.bin"), b"the secret of issue 13\n").unwrap();
    let r = run_in(
        d,
        &[
            "split",
            "-t",
            "2",
            "-n",
            "2",
            "--secret-file",
            "secret.bin",
            "--out",
            "c",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    for option in ["--secret-output", "--secret-out"] {
        let out = format!("got{option}.bin");
        let r = run_in(
            d,
            &[
                "--json",
                "assemble",
                "c/shard-1.json",
                "c/shard-2.json",
                "c/ceremony.json",
                option,
                &out,
            ],
        );
        assert_eq!(r.code, 0, "{option}: {}", r.stderr);
        assert_eq!(
            std::fs::read(d.join(&out)).unwrap(),
            b"the secret of issue 13\n"
        );
        let v = json_of(&r);
        assert_eq!(v["output"]["kind"], "secret", "{v}");
        assert_eq!(v["output"]["source"], "c/secret.age", "{v}");
    }
}

#[test]
fn token_attest_takes_output_and_the_old_out() {
    // a test token has no attestation: the same refusal either way, after
    // the option was taken (exit 1, not a usage error)
    let tmp = tempfile::tempdir().unwrap();
    let tokens = tmp.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let pin = tmp.path().join("pin.txt");
    std::fs::write(&pin, "123456\n").unwrap();
    let r = run([
        "token",
        "init",
        "--serial",
        "7",
        "--pin-file",
        p(&pin),
        "--test-tokens",
        p(&tokens),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut errors = Vec::new();
    for option in ["--output", "-o", "--out"] {
        let der = tmp.path().join(format!("a{option}.der"));
        let r = run([
            "--json",
            "token",
            "attest",
            "--serial",
            "7",
            option,
            p(&der),
            "--test-tokens",
            p(&tokens),
        ]);
        assert_eq!(r.code, 1, "{option}: {}", r.stderr);
        errors.push(json_of(&r)["error"].clone());
    }
    assert!(errors.iter().all(|e| *e == errors[0]), "{errors:?}");
    // and a misspelt option is still a usage error
    let r = run(["token", "attest", "--outt", "x.der"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn extend_takes_o_for_its_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let shards = known_shards();
    let r = run_in(
        d,
        &[
            "extend",
            p(&shards[0]),
            p(&shards[1]),
            p(&shards[2]),
            "--record",
            p(&testdata("known-key/ceremony.json")),
            "--add",
            "1",
            "-o",
            "more",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(d.join("more/shard-6.json").is_file());
}

#[test]
fn the_old_spellings_are_hidden_from_help() {
    for (args, new, old) in [
        (
            vec!["bundle", "create", "--help"],
            "--output <FILE>",
            "--out <",
        ),
        (
            vec!["token", "attest", "--help"],
            "--output <FILE>",
            "--out <",
        ),
        (
            vec!["ceremony", "print-transcript", "--help"],
            "--output <FILE.html>",
            "--out <",
        ),
        (
            vec!["assemble", "--help"],
            "--key-output <FILE>",
            "--key-out <",
        ),
        (
            vec!["assemble", "--help"],
            "--bundle-output <FILE>",
            "--bundle-out <",
        ),
        (
            vec!["assemble", "--help"],
            "--secret-output <FILE>",
            "--secret-out <",
        ),
        (
            vec!["split", "--help"],
            "--new-shard-passphrase-file <N=FILE>",
            "--shard-passphrase-file <",
        ),
    ] {
        let r = run(&args);
        assert_eq!(r.code, 0, "{args:?}");
        assert!(r.stdout.contains(new), "{args:?}: no {new} in {}", r.stdout);
        assert!(
            !r.stdout.contains(old),
            "{args:?}: {old} shown in {}",
            r.stdout
        );
    }
}

#[test]
fn identity_is_repeatable_as_in_age() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // an identity that does not open the bundle, then one that does
    let other = testdata("secret/identity.txt");
    let right = testdata("bundles/nexus-age-identity.txt");
    let bundle = testdata("bundles/known-key.tar.age");
    let r = run(["bundle", "verify", p(&bundle), "-i", p(&other)]);
    assert_eq!(r.code, 1, "the other identity opens it: {}", r.stderr);
    let r = run([
        "bundle",
        "open",
        p(&bundle),
        "-i",
        p(&other),
        "--identity",
        p(&right),
        "-o",
        p(&d.join("opened")),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(d.join("opened/keys/root.key").is_file());
    // a missing identity file among them is named
    let missing = d.join("no-such.key");
    let r = run([
        "bundle",
        "verify",
        p(&bundle),
        "-i",
        p(&right),
        "-i",
        p(&missing),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no-such.key"), "{}", r.stderr);
}

// ---------------------------------------------------------------------------
// The JSON vocabulary
// ---------------------------------------------------------------------------

#[test]
fn inputs_are_source_and_a_bundle_type_is_format_everywhere() {
    let qr = testdata("qr/shard-2-of-3.png");
    let r = run(["--json", "qr", "decode", p(&qr)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json_of(&r);
    assert_eq!(v["shards"][0]["source"], p(&qr), "{v}");
    assert!(v["shards"][0].get("file").is_none(), "{v}");
    let r = run(["--json", "qr", "decode", "--raw", p(&qr)]);
    assert_eq!(json_of(&r)["codes"][0]["source"], p(&qr));

    let age = testdata("bundles/known-key.tar.age");
    let id = testdata("bundles/nexus-age-identity.txt");
    let r = run(["--json", "bundle", "inspect", p(&age)]);
    let v = json_of(&r);
    assert_eq!(
        (&v["source"], &v["format"]),
        (&json!(p(&age)), &json!("age")),
        "{v}"
    );
    assert!(v.get("path").is_none() && v.get("kind").is_none(), "{v}");
    let r = run(["--json", "bundle", "verify", p(&age), "-i", p(&id)]);
    let v = json_of(&r);
    assert_eq!(
        (&v["source"], &v["format"]),
        (&json!(p(&age)), &json!("age")),
        "{v}"
    );
    let nexus = testdata("bundles/known-key.tar.gz.enc");
    let r = run(["--json", "bundle", "inspect", p(&nexus)]);
    assert_eq!(json_of(&r)["format"], "nexus-backup");

    let transcript = testdata("ceremony/transcript.jsonl");
    let r = run(["--json", "ceremony", "verify-transcript", p(&transcript)]);
    assert_eq!(json_of(&r)["source"], p(&transcript));

    let record = testdata("known-key/ceremony.json");
    let shard = testdata("known-key/shard-1.json");
    let r = run(["--json", "verify", p(&shard), "--record", p(&record)]);
    let v = json_of(&r);
    assert_eq!(v["record"]["source"], p(&record), "{v}");
    // the record given with --record comes first
    assert_eq!(v["inputs"][0]["source"], p(&record), "{v}");
    assert_eq!(v["inputs"][1]["source"], p(&shard), "{v}");
    assert_eq!(v["inputs"][1]["sealed_to"], Value::Null, "{v}");
}

#[test]
fn a_sealed_share_has_its_path_as_source_and_the_token_as_sealed_to() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir(d.join("tokens")).unwrap();
    std::fs::write(d.join("pin.txt"), "123456\n").unwrap();
    let with_tokens = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--test-tokens", "tokens"]);
        run_in(d, &all)
    };
    let r = with_tokens(&["token", "init", "--serial", "7", "--pin-file", "pin.txt"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = with_tokens(&[
        "split",
        "-t",
        "2",
        "-n",
        "2",
        "--generate",
        "--out",
        "s",
        "--seal-to",
        "7",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = with_tokens(&[
        "--json",
        "verify",
        "s/shard-1.age",
        "s/shard-2.json",
        "--pin-file",
        "pin.txt",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json_of(&r);
    assert_eq!(v["inputs"][0]["source"], "s/shard-1.age", "{v}");
    let by = v["inputs"][0]["sealed_to"].as_str().unwrap_or_default();
    assert!(by.starts_with("TEST TOKEN 7 "), "{v}");
    assert!(
        !v["inputs"][0]["source"]
            .as_str()
            .unwrap()
            .contains("sealed"),
        "{v}"
    );
    assert_eq!(v["inputs"][1]["sealed_to"], Value::Null, "{v}");
    // people still read who opened it
    let r = with_tokens(&["verify", "s/shard-1.age", "--pin-file", "pin.txt"]);
    assert!(
        r.stdout
            .contains("OK   s/shard-1.age (sealed to TEST TOKEN 7 "),
        "{}",
        r.stdout
    );
}

// ---------------------------------------------------------------------------
// The schemas
// ---------------------------------------------------------------------------

/// The commands, as `Command::name` spells them, from the clap definitions.
fn every_command() -> Vec<String> {
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            let name = format!("{prefix}{}", sub.get_name());
            if sub.has_subcommands() {
                walk(sub, &format!("{name} "), out);
            } else {
                out.push(name);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &<keyceremony::cli::Cli as clap::CommandFactory>::command(),
        "",
        &mut out,
    );
    out
}

#[test]
fn every_command_has_a_schema_and_docs_json_points_to_them() {
    let dir = schema::schema_dir();
    let page = std::fs::read_to_string(dir.join("../json.md")).unwrap();
    let commands = every_command();
    assert!(
        commands.contains(&"token status".to_string()),
        "{commands:?}"
    );
    let mut expected = vec![
        "common.schema.json".to_string(),
        "error.schema.json".to_string(),
    ];
    for c in &commands {
        let file = format!("{}.schema.json", c.replace(' ', "-"));
        let text = std::fs::read_to_string(dir.join(&file))
            .unwrap_or_else(|e| panic!("{c}: docs/schema/{file}: {e}"));
        let s: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            s["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{file}"
        );
        assert_eq!(s["properties"]["command"]["const"], c.as_str(), "{file}");
        assert_eq!(s["additionalProperties"], false, "{file}: open to any key");
        assert!(page.contains(&format!("`{c}`")), "{c} not in docs/json.md");
        expected.push(file);
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    expected.sort();
    assert_eq!(present, expected, "a schema for no command, or one missing");
    assert!(page.contains("docs/schema/") || page.contains("(schema/)"));
}

#[test]
fn the_schemas_reject_altered_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s");
    let v = common::split_generated(&out, 2, 3);
    schema::validate(&v).expect("a real split document passes");
    let broken = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut w = v.clone();
        f(w.as_object_mut().unwrap());
        schema::validate(&w)
    };
    assert!(broken(&|o| {
        o.remove("ok");
    })
    .is_err());
    assert!(broken(&|o| {
        o.remove("key_fingerprint");
    })
    .is_err());
    assert!(broken(&|o| {
        o.insert("extra".into(), json!(1));
    })
    .is_err());
    assert!(broken(&|o| {
        o.insert("threshold".into(), json!("2"));
    })
    .is_err());
    assert!(broken(&|o| {
        o.insert("ceremony_id".into(), json!("KC-nope"));
    })
    .is_err());
    assert!(broken(&|o| {
        o.insert("command".into(), json!("verify"));
    })
    .is_err());
    // an error document: exactly command, ok false and a one-line error
    let r = run(["--json", "verify", p(&tmp.path().join("missing.json"))]);
    let e = json_of(&r);
    schema::validate(&e).expect("a real verify document passes");
    let err = json!({"command": "split", "ok": false, "error": "no"});
    schema::validate(&err).expect("an error document");
    for bad in [
        json!({"command": "split", "ok": true, "error": "no"}),
        json!({"command": "split", "ok": false, "error": ""}),
        json!({"command": "split", "ok": false, "error": "two\nlines"}),
        json!({"command": 1, "ok": false, "error": "no"}),
    ] {
        assert!(schema::validate(&bad).is_err(), "{bad}");
    }
    // and the check on every run catches a document that breaks its schema
    let caught = std::panic::catch_unwind(|| {
        schema::check_stdout(r#"{"command": "version", "ok": true, "nonsense": 1}"#)
    });
    assert!(caught.is_err());
}

/// The documents the other tests do not produce with `--json`, each checked
/// against its schema as it is read (tests/common): token init and
/// unblock, extend, every output of assemble, split of a secret, a ceremony
/// run and its rehearsal. (A successful `token attest` needs the virtual
/// card: a test token has no attestation.)
#[test]
fn documents_of_every_kind_pass_their_schemas() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir(d.join("tokens")).unwrap();
    std::fs::write(d.join("pin.txt"), "123456\n").unwrap();
    std::fs::write(d.join("puk.txt"), "12345678\n").unwrap();
    std::fs::write(d.join("new-pin.txt"), "24682468\n").unwrap();
    let json_run = |args: &[&str]| -> Value {
        let mut all = vec!["--json"];
        all.extend(args);
        let r = run_in(d, &all);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        let v = json_of(&r);
        schema::validate(&v).unwrap();
        v
    };
    let tokens = ["--test-tokens", "tokens"];
    let with = |args: &[&'static str], more: &[&'static str]| -> Vec<&'static str> {
        args.iter().chain(more).copied().collect()
    };
    json_run(&with(
        &["token", "init", "--serial", "7", "--pin-file", "pin.txt"],
        &tokens,
    ));
    let v = json_run(&with(
        &[
            "token",
            "unblock",
            "--serial",
            "7",
            "--puk-file",
            "puk.txt",
            "--new-pin-file",
            "new-pin.txt",
        ],
        &tokens,
    ));
    assert_eq!(v["command"], "token unblock");

    let shards: Vec<String> = known_shards().iter().map(|s| p(s).to_string()).collect();
    let record = testdata("known-key/ceremony.json");
    let v = json_run(&[
        "extend",
        &shards[0],
        &shards[1],
        &shards[2],
        "--record",
        p(&record),
        "--add",
        "1",
        "-o",
        "more",
    ]);
    assert_eq!(v["new_shares"][0]["id"], 6, "{v}");

    let three = [shards[0].as_str(), shards[1].as_str(), shards[2].as_str()];
    for (extra, kind) in [
        (vec!["--key-output", "k.hex"], "key-file"),
        (
            vec![
                "--spike-out",
                "spike",
                "--spike-threshold",
                "2",
                "--spike-shares",
                "3",
            ],
            "spike",
        ),
        (vec!["--dry-run"], "dry-run"),
    ] {
        let mut args = vec!["assemble"];
        args.extend(three);
        args.extend(extra);
        let v = json_run(&args);
        assert_eq!(v["output"]["kind"], kind, "{v}");
    }

    std::fs::write(d.join("secret.bin"), b"a secret").unwrap();
    let v = json_run(&[
        "split",
        "-t",
        "2",
        "-n",
        "2",
        "--secret-file",
        "secret.bin",
        "-o",
        "c",
    ]);
    assert_eq!(v["secret"]["plaintext_size"], 8, "{v}");
    let v = json_run(&[
        "assemble",
        "c/shard-1.json",
        "c/shard-2.json",
        "c/ceremony.json",
        "--reveal-age-identity",
    ]);
    assert_eq!(v["output"]["kind"], "reveal-age-identity", "{v}");

    // a rehearsal ceremony from the demo plan, then its rehearsal
    for f in ["demo-nexus-identity.txt", "demo-nexus-passphrase.txt"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("ceremony")
                .join(f),
            d.join(f),
        )
        .unwrap();
    }
    let plan =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremony/demo.toml"))
            .unwrap();
    std::fs::write(d.join("demo.toml"), plan).unwrap();
    let v = json_run(&[
        "ceremony",
        "run",
        "demo.toml",
        "--out",
        "ran",
        "--yes",
        "--pin-file",
        "pin.txt",
    ]);
    assert_eq!(v["outcome"]["completed"], true, "{v}");
    assert!(v["bundles"][0]["path"].is_string(), "{v}");
    let v = json_run(&[
        "ceremony",
        "rehearse",
        "ran",
        "--yes",
        "--pin-file",
        "pin.txt",
        "--test-tokens",
        "ran/test-tokens",
    ]);
    assert_eq!(v["subsets_tried"], v["subsets_reconstructed"], "{v}");
}

/// split names a new share's passphrase file as extend and reshare do,
/// `--new-shard-passphrase-file N=FILE`; its first spelling still works.
#[test]
fn split_new_shard_passphrase_file_and_its_old_spelling() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("p3.txt"), "a passphrase long enough\n").unwrap();
    for (option, out) in [
        ("--new-shard-passphrase-file", "new"),
        ("--shard-passphrase-file", "old"),
    ] {
        let r = run_in(
            d,
            &[
                "split",
                "--generate",
                "-t",
                "2",
                "-n",
                "3",
                "--protect-with-passphrase",
                "3",
                option,
                "3=p3.txt",
                "--out",
                out,
            ],
        );
        assert_eq!(r.code, 0, "{option}: {}", r.stderr);
        assert!(d.join(out).join("shard-3.json.age").is_file(), "{option}");
        let v = run_in(
            d,
            &[
                "verify",
                &format!("{out}/shard-3.json.age"),
                "--shard-passphrase-file",
                "p3.txt",
            ],
        );
        assert_eq!(v.code, 0, "{option}: {}", v.stderr);
    }
}
