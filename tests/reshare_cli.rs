//! `keyceremony reshare` through the binary (issue 11, point 3): the same
//! key under a new ceremony (new id, threshold, count, custodians, same
//! fingerprint), a version 2 record naming the old ceremony by id and hash,
//! a signed transcript segment recording the retirement; the old files
//! untouched. Then what a retired share does: `verify --record NEW` says it
//! was retired, `assemble` refuses it mixed with new shares, naming it.
//! Refusals: fewer than t shares, a bad share (named), shares of two
//! ceremonies, a non-empty folder: each with nothing written.
//! (Interruption: tests/crash_safety.rs.)

mod ceremony_support;
mod common;

use std::fs;
use std::path::Path;

use ceremony_support::*;
use common::{files_below, run_ceremony_with_yes, run_in, Run};
use keyceremony::digest::Sha256Digest;

fn json_of(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn ok(dir: &Path, args: &[&str]) -> Run {
    let r = run_in(dir, args);
    assert_eq!(r.code, 0, "{args:?}:\n{}\n{}", r.stdout, r.stderr);
    r
}

/// A 2-of-3 split of the known key into `dir/a`, with QR sheets.
fn split_a(dir: &Path) {
    fs::write(dir.join("key.hex"), format!("{KEY_HEX}\n")).unwrap();
    ok(
        dir,
        &[
            "split",
            "-t",
            "2",
            "-n",
            "3",
            "--key-file",
            "key.hex",
            "--qr",
            "--label",
            "vault 2026",
            "--out",
            "a",
        ],
    );
}

fn record(dir: &Path, rel: &str) -> serde_json::Value {
    serde_json::from_slice(&fs::read(dir.join(rel)).unwrap()).unwrap()
}

/// Every file below `dir` with its bytes, to show nothing changed.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    files_below(dir)
        .into_iter()
        .map(|f| {
            let b = fs::read(dir.join(&f)).unwrap();
            (f, b)
        })
        .collect()
}

fn reshare_2_of_3_to_3_of_5(dir: &Path) -> Run {
    run_in(
        dir,
        &[
            "--json",
            "reshare",
            "a/shard-1.json",
            "a/shard-3.png",
            "--record",
            "a/ceremony.json",
            "-t",
            "3",
            "-n",
            "5",
            "--custodian",
            "Erin East",
            "--custodian",
            "Frank Fox",
            "--out",
            "b",
        ],
    )
}

#[test]
fn reshare_keeps_the_key_under_a_new_ceremony_and_retires_the_old_shares() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    split_a(dir);
    let a_before = snapshot(&dir.join("a"));
    let a_record_bytes = fs::read(dir.join("a/ceremony.json")).unwrap();

    let r = reshare_2_of_3_to_3_of_5(dir);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j = json_of(&r);
    let a = record(dir, "a/ceremony.json");
    let b = record(dir, "b/ceremony.json");

    // A untouched; B: new id, new split, same key
    assert_eq!(snapshot(&dir.join("a")), a_before);
    assert_ne!(b["ceremony_id"], a["ceremony_id"]);
    assert_eq!(b["key_fingerprint"], a["key_fingerprint"]);
    assert_eq!(b["commitments"][0], a["commitments"][0], "same C_0");
    assert_ne!(b["commitments"][1], a["commitments"][1], "a new polynomial");
    assert_eq!(
        (b["threshold"].as_u64(), b["shares"].as_u64()),
        (Some(3), Some(5))
    );
    assert_eq!(b["label"], "vault 2026");
    assert_eq!(b["custodians"][1]["name"], "Frank Fox");
    assert_eq!(b["custodians"][2]["name"], serde_json::Value::Null);
    // the v2 record names A by id and by the hash of its exact bytes
    assert_eq!(b["version"], 2);
    assert_eq!(a["version"], 1);
    assert_eq!(b["supersedes"]["ceremony_id"], a["ceremony_id"]);
    assert_eq!(
        b["supersedes"]["record_sha256"],
        Sha256Digest::of(&a_record_bytes).to_hex().as_str()
    );
    assert_eq!(b["supersedes"]["retired_ids"], serde_json::json!([1, 2, 3]));
    assert_eq!(j["supersedes"], b["supersedes"]);
    assert_eq!(j["ceremony_id"], b["ceremony_id"]);
    assert_eq!(
        files_below(&dir.join("b")),
        [
            "ceremony.json",
            "shard-1.json",
            "shard-2.json",
            "shard-3.json",
            "shard-4.json",
            "shard-5.json",
            "transcript-reshare.jsonl"
        ]
    );
    // the key never printed
    assert!(!r.stdout.contains(KEY_HEX) && !r.stderr.contains(KEY_HEX));

    // B's shares give the same key; any 3 of them
    let key = ok(
        dir,
        &[
            "assemble",
            "b/ceremony.json",
            "b/shard-2.json",
            "b/shard-4.json",
            "b/shard-5.json",
            "--reveal",
        ],
    );
    assert_eq!(key.stdout.trim(), KEY_HEX);
    // two are not enough any more
    let two = run_in(
        dir,
        &["assemble", "b/shard-2.json", "b/shard-4.json", "--dry-run"],
    );
    assert_eq!(two.code, 1, "{}", two.stdout);
    // A still assembles on its own (nothing there was touched)
    let old = ok(
        dir,
        &["assemble", "a/shard-2.json", "a/shard-3.json", "--reveal"],
    );
    assert_eq!(old.stdout.trim(), KEY_HEX);

    // the transcript segment: signed, and says what was retired
    let t = ok(
        dir,
        &[
            "ceremony",
            "verify-transcript",
            "b/transcript-reshare.jsonl",
        ],
    );
    assert!(t.stdout.contains("OK") || !t.stdout.is_empty());
    let seg = fs::read_to_string(dir.join("b/transcript-reshare.jsonl")).unwrap();
    assert!(seg.contains("\"step\":\"retire\""), "{seg}");
    assert!(seg.contains(&format!(
        "\"retired_by\":\"{}\"",
        b["ceremony_id"].as_str().unwrap()
    )));
    assert!(seg.contains(&format!(
        "\"record_sha256\":\"{}\"",
        Sha256Digest::of(&fs::read(dir.join("b/ceremony.json")).unwrap()).to_hex()
    )));
    assert!(!seg.contains(KEY_HEX));

    // the custodian's check with B's record: an old share is retired by B
    let v = run_in(
        dir,
        &[
            "--json",
            "verify",
            "--record",
            "b/ceremony.json",
            "a/shard-2.json",
        ],
    );
    assert_eq!(v.code, 1, "{}", v.stdout);
    let vj = json_of(&v);
    assert_eq!(vj["record"]["retired"][0]["source"], "a/shard-2.json");
    assert_eq!(vj["record"]["retired"][0]["retired_by"], b["ceremony_id"]);
    assert_eq!(vj["record"]["retired"][0]["ceremony_id"], a["ceremony_id"]);
    assert_eq!(vj["record"]["supersedes"], b["supersedes"]);
    let v = run_in(
        dir,
        &["verify", "--record", "b/ceremony.json", "a/shard-2.png"],
    );
    assert_eq!(v.code, 1, "{}", v.stdout);
    let said = format!(
        "a/shard-2.png: RETIRED: share 2 of ceremony {}, retired by ceremony {}",
        a["ceremony_id"].as_str().unwrap(),
        b["ceremony_id"].as_str().unwrap()
    );
    assert!(v.stdout.contains(&said), "{}", v.stdout);
    // a new share checks out against B's record
    ok(
        dir,
        &["verify", "--record", "b/ceremony.json", "b/shard-4.json"],
    );
    // ...while A's record alone cannot know about B (documented: the yearly check gives the newest record)
    ok(
        dir,
        &["verify", "--record", "a/ceremony.json", "a/shard-2.json"],
    );

    // a retired share mixed with new ones: refused, named, with B's record
    let mixed = run_in(
        dir,
        &[
            "assemble",
            "b/ceremony.json",
            "b/shard-1.json",
            "b/shard-2.json",
            "b/shard-3.json",
            "a/shard-1.json",
            "--reveal",
        ],
    );
    assert_eq!(mixed.code, 1, "{}", mixed.stdout);
    assert!(!mixed.stdout.contains(KEY_HEX));
    assert!(
        mixed
            .stderr
            .contains("a/shard-1.json: RETIRED: share 1 of ceremony"),
        "{}",
        mixed.stderr
    );
    // ...and without any record: the majority's ceremony, the other named as the same key re-shared
    let mixed = run_in(
        dir,
        &[
            "assemble",
            "b/shard-1.json",
            "b/shard-2.json",
            "b/shard-3.json",
            "a/shard-1.json",
            "--reveal",
        ],
    );
    assert_eq!(mixed.code, 1, "{}", mixed.stdout);
    assert!(!mixed.stdout.contains(KEY_HEX));
    assert!(
        mixed.stderr.contains("a/shard-1.json: belongs to ceremony")
            && mixed.stderr.contains(
                "it holds the same key, so one of the two ceremonies re-shared the other"
            ),
        "{}",
        mixed.stderr
    );

    // re-sharing B again (a v2 record as the old one) works and names B
    ok(
        dir,
        &[
            "reshare",
            "b/shard-1.json",
            "b/shard-2.json",
            "b/shard-5.json",
            "--record",
            "b/ceremony.json",
            "-t",
            "2",
            "-n",
            "2",
            "--out",
            "c",
        ],
    );
    let c = record(dir, "c/ceremony.json");
    assert_eq!(c["supersedes"]["ceremony_id"], b["ceremony_id"]);
    assert_eq!(c["key_fingerprint"], a["key_fingerprint"]);
}

#[test]
fn reshare_from_sealed_shares_to_sealed_shares_unseals_each_to_check_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let plan = demo_plan(dir);
    let r = run_ceremony_with_yes(dir, &plan, PIN);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let t = ok(
        dir,
        &[
            "--test-tokens",
            "out/test-tokens",
            "token",
            "init",
            "--serial",
            "41000003",
            "--pin-file",
            "pin.txt",
        ],
    );
    drop(t);
    let r = ok(
        dir,
        &[
            "--json",
            "--test-tokens",
            "out/test-tokens",
            "reshare",
            "out/shard-1.json",
            "out/shard-2.png",
            "out/shard-5.age",
            "--record",
            "out/ceremony.json",
            "-t",
            "2",
            "-n",
            "3",
            "--seal-to",
            "41000003",
            "--out",
            "new",
            "--pin-file",
            "pin.txt",
        ],
    );
    let j = json_of(&r);
    assert_eq!(j["new_shares"][0]["files"][0]["path"], "new/shard-1.age");
    // chained to the ceremony's transcript
    let chained = j["chained_to"]
        .as_str()
        .expect("chained to out/transcript.jsonl");
    ok(
        dir,
        &[
            "ceremony",
            "verify-transcript",
            "new/transcript-reshare.jsonl",
            "--chain-from",
            chained,
        ],
    );
    let key = ok(
        dir,
        &[
            "--test-tokens",
            "out/test-tokens",
            "assemble",
            "new/ceremony.json",
            "new/shard-1.age",
            "new/shard-3.json",
            "--pin-file",
            "pin.txt",
            "--reveal",
        ],
    );
    assert_eq!(key.stdout.trim(), KEY_HEX);
    let shares = shares_in_outputs(&dir.join("out"), &dir.join("out/test-tokens"));
    scan_text("stdout", &r.stdout, &shares);
    scan_text(
        "segment",
        &fs::read_to_string(dir.join("new/transcript-reshare.jsonl")).unwrap(),
        &shares,
    );
}

#[test]
fn refusals_name_the_problem_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    split_a(dir);
    // another ceremony, and a damaged share
    ok(
        dir,
        &[
            "split",
            "-t",
            "2",
            "-n",
            "3",
            "--generate",
            "--out",
            "other",
        ],
    );
    let mut bad = fs::read_to_string(dir.join("a/shard-2.json")).unwrap();
    bad = bad.replacen("\"id\": 2", "\"id\": 3", 1);
    fs::write(dir.join("bad-2.json"), bad).unwrap();
    fs::create_dir(dir.join("full")).unwrap();
    fs::write(dir.join("full/note.txt"), "keep me").unwrap();

    let base = |shards: &[&str], out: &str| -> Run {
        let mut args = vec!["reshare"];
        args.extend_from_slice(shards);
        args.extend_from_slice(&[
            "--record",
            "a/ceremony.json",
            "-t",
            "3",
            "-n",
            "5",
            "--out",
            out,
        ]);
        run_in(dir, &args)
    };
    let cases: [(&[&str], &str, &str); 5] = [
        (&["a/shard-1.json"], "b", "need 2 good shards of ceremony"),
        (&["a/shard-1.json", "bad-2.json"], "b", "bad-2.json"),
        (
            &["a/shard-1.json", "a/shard-2.json", "other/shard-1.json"],
            "b",
            "other/shard-1.json: belongs to ceremony",
        ),
        (
            &["a/shard-1.json", "a/shard-1.json"],
            "b",
            "both hold share 1",
        ),
        (
            &["a/shard-1.json", "a/shard-2.json"],
            "full",
            "output folder is not empty",
        ),
    ];
    for (shards, out, said) in cases {
        let r = base(shards, out);
        assert_eq!(r.code, 1, "{shards:?}: {}", r.stdout);
        assert!(
            r.stderr.contains(said),
            "{shards:?}: want {said:?} in:\n{}",
            r.stderr
        );
        assert!(!dir.join("b").exists(), "{shards:?}: b written");
        assert!(!r.stderr.contains(KEY_HEX));
        // reshare has no --force: no error may suggest one
        assert!(!r.stderr.contains("--force"), "{shards:?}: {}", r.stderr);
    }
    assert_eq!(files_below(&dir.join("full")), ["note.txt"]);
    // the record is required, and must be a record
    let r = run_in(
        dir,
        &[
            "reshare",
            "a/shard-1.json",
            "a/shard-2.json",
            "-t",
            "2",
            "-n",
            "3",
            "--out",
            "b",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = run_in(
        dir,
        &[
            "reshare",
            "a/shard-1.json",
            "a/shard-2.json",
            "--record",
            "a/shard-3.json",
            "-t",
            "2",
            "-n",
            "3",
            "--out",
            "b",
        ],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("a/shard-3.json") && r.stderr.contains("not the ceremony record"),
        "{}",
        r.stderr
    );
    // a record of another ceremony: the shares are not of it
    let r = run_in(
        dir,
        &[
            "reshare",
            "a/shard-1.json",
            "a/shard-2.json",
            "--record",
            "other/ceremony.json",
            "-t",
            "2",
            "-n",
            "3",
            "--out",
            "b",
        ],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("a/shard-1.json: belongs to ceremony"),
        "{}",
        r.stderr
    );
    // a bad threshold
    let r = run_in(
        dir,
        &[
            "reshare",
            "a/shard-1.json",
            "a/shard-2.json",
            "--record",
            "a/ceremony.json",
            "-t",
            "4",
            "-n",
            "3",
            "--out",
            "b",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!dir.join("b").exists());
}

/// The documented canonical text of a version 2 record (docs/formats.md),
/// built here from the JSON fields, independently of the library.
fn canonical_v2(r: &serde_json::Value) -> String {
    let mut s = String::from("keyceremony-record v2\n");
    for k in ["ceremony_id", "label"] {
        s += &format!("{k}={}\n", r[k].as_str().unwrap());
    }
    s += &format!("threshold={}\nshares={}\n", r["threshold"], r["shares"]);
    let c: Vec<&str> = r["commitments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    s += &format!("commitments={}\n", c.join(","));
    for k in ["key_fingerprint", "created"] {
        s += &format!("{k}={}\n", r[k].as_str().unwrap());
    }
    for c in r["custodians"].as_array().unwrap() {
        s += &format!(
            "custodian.{}={}\n",
            c["id"],
            c["name"].as_str().unwrap_or("")
        );
    }
    let sup = &r["supersedes"];
    s += &format!(
        "supersedes.ceremony_id={}\nsupersedes.record_sha256={}\n",
        sup["ceremony_id"].as_str().unwrap(),
        sup["record_sha256"].as_str().unwrap()
    );
    let ids: Vec<String> = sup["retired_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.to_string())
        .collect();
    s += &format!("supersedes.retired_ids={}\n", ids.join(","));
    s
}

#[test]
fn the_version_2_vector_reads_and_its_checksum_covers_supersedes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let vector = common::testdata("reshare/ceremony.json");
    let old = common::testdata("known-key/ceremony.json");
    let r: serde_json::Value = serde_json::from_slice(&fs::read(&vector).unwrap()).unwrap();
    let a: serde_json::Value = serde_json::from_slice(&fs::read(&old).unwrap()).unwrap();
    assert_eq!(r["version"], 2);
    // the checksum as documented
    let digest = Sha256Digest::of(canonical_v2(&r).as_bytes()).to_hex();
    assert_eq!(r["checksum"].as_str().unwrap(), &digest[..16]);
    // it names the known-key ceremony by the hash of its exact bytes; same C_0
    assert_eq!(r["supersedes"]["ceremony_id"], a["ceremony_id"]);
    assert_eq!(
        r["supersedes"]["record_sha256"],
        Sha256Digest::of(&fs::read(&old).unwrap()).to_hex().as_str()
    );
    assert_eq!(r["commitments"][0], a["commitments"][0]);
    // its shares give the known key; a known-key share is retired by it
    let v = common::testdata("reshare");
    let key = ok(
        dir,
        &[
            "assemble",
            vector.to_str().unwrap(),
            v.join("shard-1.json").to_str().unwrap(),
            v.join("shard-3.json").to_str().unwrap(),
            "--reveal",
        ],
    );
    let known = fs::read_to_string(common::testdata("known-key/key.hex")).unwrap();
    assert_eq!(key.stdout.trim(), known.trim());
    let retired = common::testdata("known-key/shard-4.json");
    let out = run_in(
        dir,
        &[
            "verify",
            "--record",
            vector.to_str().unwrap(),
            retired.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains(
            "RETIRED: share 4 of ceremony KC-40ZZ-FF88-WRT4, retired by ceremony KC-2MY2-PV8Y-F4AX"
        ),
        "{}",
        out.stdout
    );

    // altered: each refused naming the file
    let text = fs::read_to_string(&vector).unwrap();
    let cases = [
        (
            text.replace("\"version\": 2", "\"version\": 1"),
            "a version 1 record has no supersedes",
        ),
        (text.replace("      4,\n", ""), "checksum does not match"),
        (
            text.replace("\"version\": 2", "\"version\": 3"),
            "versions 1 to 2",
        ),
        (
            text.replace("b054a258", "c054a258"),
            "checksum does not match",
        ),
        (
            text.replace("      1,\n      2,", "      2,\n      1,"),
            "retired_ids must be share ids 1..255, ascending",
        ),
    ];
    for (i, (bad, said)) in cases.iter().enumerate() {
        assert_ne!(bad, &text, "case {i} changed nothing");
        let p = dir.join(format!("bad-{i}.json"));
        fs::write(&p, bad).unwrap();
        let r = run_in(dir, &["verify", p.to_str().unwrap()]);
        assert_eq!(r.code, 1, "case {i}");
        assert!(
            r.stdout.contains(&format!("bad-{i}.json")) && r.stdout.contains(said),
            "case {i}: want {said:?}: {}",
            r.stdout
        );
    }
    // a version 2 record without supersedes
    let mut j = r.clone();
    j.as_object_mut().unwrap().remove("supersedes");
    let p = dir.join("no-supersedes.json");
    fs::write(&p, serde_json::to_string_pretty(&j).unwrap()).unwrap();
    let out = run_in(dir, &["verify", p.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("supersedes is missing"),
        "{}",
        out.stdout
    );
}

fn reshare_plan(dir: &Path, key: &str, extra: &str) -> std::path::PathBuf {
    let text = format!(
        r#"version = 1
label = "vault 2027"
mode = "rehearsal"
lead = "Lee Lead"
threshold = 2
witnesses = ["Wanda Witness"]

[key]
{key}
{SMALL_CUSTODIANS}{extra}"#
    );
    let p = dir.join("reshare.toml");
    fs::write(&p, text).unwrap();
    p
}

/// A plan custodian with transport = "passphrase" (its passphrase from the
/// plan's file) gets shard-<i>.json.age, which opens with that passphrase
/// and, with another share of B, gives back A's key.
#[test]
fn reshare_with_a_plan_writes_a_passphrase_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    split_a(dir);
    fs::write(dir.join("bob-pass.txt"), "bob's long reshare passphrase\n").unwrap();
    let text = r#"version = 1
label = "vault 2027"
mode = "rehearsal"
lead = "Lee Lead"
threshold = 2

[key]
from_shares = true

[[custodian]]
name = "Ann Archer"
transport = "file"

[[custodian]]
name = "Bob Baker"
transport = "passphrase"
passphrase_file = "bob-pass.txt"
"#;
    fs::write(dir.join("reshare.toml"), text).unwrap();
    ok(
        dir,
        &[
            "reshare",
            "a/shard-1.json",
            "a/shard-2.json",
            "--record",
            "a/ceremony.json",
            "--plan",
            "reshare.toml",
            "--out",
            "b",
        ],
    );
    assert_eq!(
        files_below(&dir.join("b")),
        [
            "ceremony.json",
            "shard-1.json",
            "shard-2.json.age",
            "transcript-reshare.jsonl"
        ]
    );
    let key = ok(
        dir,
        &[
            "assemble",
            "b/ceremony.json",
            "b/shard-1.json",
            "b/shard-2.json.age",
            "--shard-passphrase-file",
            "bob-pass.txt",
            "--reveal",
        ],
    );
    assert_eq!(key.stdout.trim(), KEY_HEX);
    // a passphrase too short for a new shard is refused before anything is written
    fs::write(dir.join("bob-pass.txt"), "short\n").unwrap();
    let r = run_in(
        dir,
        &[
            "reshare",
            "a/shard-1.json",
            "a/shard-2.json",
            "--record",
            "a/ceremony.json",
            "--plan",
            "reshare.toml",
            "--out",
            "c",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("bob-pass.txt"), "{}", r.stderr);
    assert!(r.stderr.contains("has only 5 characters"), "{}", r.stderr);
    assert!(!dir.join("c").exists());
}

#[test]
fn reshare_with_a_plan_takes_the_new_split_from_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    split_a(dir);
    fs::write(dir.join("pin.txt"), format!("{PIN}\n")).unwrap();
    ok(
        dir,
        &[
            "--test-tokens",
            "tokens",
            "token",
            "init",
            "--serial",
            "41000001",
            "--pin-file",
            "pin.txt",
        ],
    );
    reshare_plan(dir, "from_shares = true", "");
    let r = ok(
        dir,
        &[
            "--json",
            "--test-tokens",
            "tokens",
            "reshare",
            "a/shard-2.json",
            "a/shard-3.png",
            "--record",
            "a/ceremony.json",
            "--plan",
            "reshare.toml",
            "--out",
            "b",
            "--pin-file",
            "pin.txt",
        ],
    );
    let j = json_of(&r);
    let b = record(dir, "b/ceremony.json");
    assert_eq!(
        (b["threshold"].as_u64(), b["shares"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(b["label"], "vault 2027");
    assert_eq!(b["custodians"][2]["name"], "Dan Driver");
    assert_eq!(b["version"], 2);
    assert_eq!(
        j["key_fingerprint"],
        record(dir, "a/ceremony.json")["key_fingerprint"]
    );
    assert_eq!(
        files_below(&dir.join("b")),
        [
            "ceremony.json",
            "shard-1.json",
            "shard-2.html",
            "shard-2.png",
            "shard-2.svg",
            "shard-3.age",
            "transcript-reshare.jsonl"
        ]
    );
    let seg = fs::read_to_string(dir.join("b/transcript-reshare.jsonl")).unwrap();
    assert!(
        seg.contains("\"lead\":\"Lee Lead\"") && seg.contains("Wanda Witness"),
        "{seg}"
    );
    assert!(seg.contains("\"step\":\"plan\""), "{seg}");
    ok(
        dir,
        &[
            "ceremony",
            "verify-transcript",
            "b/transcript-reshare.jsonl",
        ],
    );
    let key = ok(
        dir,
        &[
            "--test-tokens",
            "tokens",
            "assemble",
            "b/ceremony.json",
            "b/shard-2.png",
            "b/shard-3.age",
            "--pin-file",
            "pin.txt",
            "--reveal",
        ],
    );
    assert_eq!(key.stdout.trim(), KEY_HEX);

    // refusals, each naming the plan, nothing written
    let run_plan = |extra: &[&str]| {
        let mut args = vec![
            "--test-tokens",
            "tokens",
            "reshare",
            "a/shard-2.json",
            "a/shard-3.png",
            "--record",
            "a/ceremony.json",
            "--plan",
            "reshare.toml",
            "--out",
            "c",
            "--pin-file",
            "pin.txt",
        ];
        args.extend_from_slice(extra);
        run_in(dir, &args)
    };
    reshare_plan(dir, "generate = true", "");
    let r = run_plan(&[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("reshare.toml")
            && r.stderr
                .contains("[key] is generate: a reshare keeps the key"),
        "{}",
        r.stderr
    );
    reshare_plan(
        dir,
        "from_shares = true",
        "\n[[bundle]]\nformat = \"nexus-backup\"\nfile = \"x.enc\"\n",
    );
    let r = run_plan(&[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("a reshare writes no bundle"),
        "{}",
        r.stderr
    );
    reshare_plan(dir, "from_shares = false", "");
    let r = run_plan(&[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("from_shares = false names no key source"),
        "{}",
        r.stderr
    );
    reshare_plan(dir, "from_shares = true", "");
    let r = run_plan(&["-t", "2", "-n", "3"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!dir.join("c").exists());
    // ceremony run does not run a from_shares plan
    let r = run_in(
        dir,
        &["ceremony", "run", "reshare.toml", "--out", "run", "--yes"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("run it with keyceremony reshare"),
        "{}",
        r.stderr
    );
    assert!(!dir.join("run").exists());
}

/// `reshare -t/-n --protect-with-passphrase N` writes new share N as
/// shard-<N>.json.age under the passphrase of `--new-shard-passphrase-file
/// N=FILE`, while `--shard-passphrase-file FILE` opens an old passphrase
/// shard among the inputs; the new shares give back A's key. Refused with
/// nothing written: an id beyond -n, a bare FILE for the new form, a short
/// passphrase, the options with --plan.
#[test]
fn reshare_writes_new_shares_under_a_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(dir.join("key.hex"), format!("{KEY_HEX}\n")).unwrap();
    fs::write(dir.join("old.pass"), "the old share two passphrase\n").unwrap();
    fs::write(dir.join("new1.pass"), "erin's new share one passphrase\n").unwrap();
    fs::write(dir.join("new3.pass"), "gus's new share three passphrase\n").unwrap();
    fs::write(dir.join("short.pass"), "short\n").unwrap();
    ok(
        dir,
        &[
            "split",
            "-t",
            "2",
            "-n",
            "3",
            "--key-file",
            "key.hex",
            "--out",
            "a",
            "--protect-with-passphrase",
            "2",
            "--shard-passphrase-file",
            "2=old.pass",
        ],
    );
    let reshare = |extra: &[&str]| {
        let mut args = vec![
            "--json",
            "reshare",
            "a/shard-1.json",
            "a/shard-2.json.age",
            "--shard-passphrase-file",
            "old.pass",
            "--record",
            "a/ceremony.json",
        ];
        args.extend_from_slice(extra);
        run_in(dir, &args)
    };
    let r = reshare(&[
        "-t",
        "2",
        "-n",
        "3",
        "--protect-with-passphrase",
        "1",
        "--protect-with-passphrase",
        "3",
        "--new-shard-passphrase-file",
        "1=new1.pass",
        "--new-shard-passphrase-file",
        "3=new3.pass",
        "--out",
        "b",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        files_below(&dir.join("b")),
        [
            "ceremony.json",
            "shard-1.json.age",
            "shard-2.json",
            "shard-3.json.age",
            "transcript-reshare.jsonl"
        ]
    );
    let j = json_of(&r);
    assert_eq!(j["passphrase_protected"], serde_json::json!([1, 3]));
    // each passphrase share, with the plain one, gives back A's key
    for (shard, pass) in [
        ("b/shard-1.json.age", "new1.pass"),
        ("b/shard-3.json.age", "new3.pass"),
    ] {
        let key = ok(
            dir,
            &[
                "assemble",
                "b/ceremony.json",
                "b/shard-2.json",
                shard,
                "--shard-passphrase-file",
                pass,
                "--reveal",
            ],
        );
        assert_eq!(key.stdout.trim(), KEY_HEX, "{shard}");
    }
    // share 3 does not open with share 1's passphrase
    let v = run_in(
        dir,
        &[
            "verify",
            "b/shard-3.json.age",
            "--shard-passphrase-file",
            "new1.pass",
        ],
    );
    assert_eq!(v.code, 1, "{}", v.stderr);
    assert!(
        v.stdout.contains("the passphrase does not open this file"),
        "{}",
        v.stdout
    );

    // refusals, each before anything is written
    fs::write(dir.join("plan.toml"), "not read").unwrap();
    for (extra, problem) in [
        (
            &["-t", "2", "-n", "3", "--protect-with-passphrase", "4"][..],
            "the shares are numbered 1 to 3",
        ),
        (
            &[
                "-t",
                "2",
                "-n",
                "3",
                "--protect-with-passphrase",
                "1",
                "--new-shard-passphrase-file",
                "new1.pass",
            ][..],
            "--new-shard-passphrase-file \"new1.pass\": give N=FILE",
        ),
        (
            &[
                "-t",
                "2",
                "-n",
                "3",
                "--protect-with-passphrase",
                "2",
                "--new-shard-passphrase-file",
                "2=short.pass",
            ][..],
            "has only 5 characters",
        ),
        (
            &["--plan", "plan.toml", "--protect-with-passphrase", "1"][..],
            "cannot be used with",
        ),
    ] {
        let mut args = extra.to_vec();
        args.extend(["--out", "x"]);
        let r = reshare(&args);
        assert_ne!(r.code, 0, "{extra:?}: {}", r.stderr);
        assert!(r.stderr.contains(problem), "{extra:?}: {}", r.stderr);
        assert!(!dir.join("x").exists(), "{extra:?}");
    }
}
