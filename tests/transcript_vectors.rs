//! The transcript's fixed vector, `testdata/ceremony/`: a small signed
//! transcript of the plan vector, written with a fixed ceremony key and
//! fixed times, reproduced byte for byte here; its final hash and words;
//! and the ceremony record carrying its public key.
//!
//! Regenerate (by hand only, after a deliberate format change):
//! `cargo test --test transcript_vectors -- --ignored regenerate`

mod common;

use std::path::{Path, PathBuf};

use common::{run, testdata, tools_or_skip};
use keyceremony::digest::Sha256Digest;
use keyceremony::plan::Plan;
use keyceremony::record::CeremonyRecord;
use keyceremony::shard::{parse_document, JsonDocument};
use keyceremony::transcript::{
    self, Header, Interruption, Outcome, TranscriptWriter, VerifyOptions, WriterOptions,
};
use serde_json::json;

/// The vector's ceremony key seed: SHA-256 of this text. Published: the
/// vector proves the format, not anything about a ceremony.
const VECTOR_KEY_TEXT: &[u8] = b"keyceremony transcript vector: not a secret";

fn vector_options() -> WriterOptions {
    let mut t = time::macros::datetime!(2026-12-01 10:00:00 UTC);
    WriterOptions {
        chain_from: None,
        clock: Box::new(move || {
            let now = t;
            t += time::Duration::seconds(37);
            now
        }),
        fixed_signing_seed: Some(Sha256Digest::of(VECTOR_KEY_TEXT).0),
    }
}

fn known_record() -> CeremonyRecord {
    let bytes = std::fs::read(testdata("known-key/ceremony.json")).unwrap();
    match parse_document(&bytes).unwrap() {
        JsonDocument::Record(r) => *r,
        _ => panic!("the known-key record"),
    }
}

/// Writes the vector transcript of the plan vector into `path`.
fn write_vector(path: &Path) -> transcript::SignedTranscript {
    let plan = Plan::load(&testdata("ceremony/plan.toml")).unwrap();
    let rec = known_record();
    let mut w =
        TranscriptWriter::create_with(path, &Header::from_plan(&plan), vector_options()).unwrap();
    w.append("plan", plan.facts()).unwrap();
    w.append(
        "preflight",
        json!({"mode": "production", "passed": true, "checks": [
            {"id": "network", "status": "pass", "summary": "no network interface is up other than loopback"},
            {"id": "swap", "status": "fail", "summary": "swap is on (1 area(s))", "allowed_by_plan": "encrypted swap, checked by the lead"},
            {"id": "random", "status": "pass", "summary": "the OS random source answers and passes the start-up health tests"}
        ]}),
    )
    .unwrap();
    w.append(
        "key",
        json!({"source": "file", "key_fingerprint": rec.info.fingerprint.to_string()}),
    )
    .unwrap();
    w.append(
        "split",
        json!({
            "ceremony_id": rec.info.ceremony_id.to_string(),
            "threshold": 3, "shares": 5,
            "commitments": rec.info.commitments_hex(),
            "key_fingerprint": rec.info.fingerprint.to_string(),
        }),
    )
    .unwrap();
    // the known-key vector's shard 5 stands for the file handed out
    let shard5 = std::fs::read(testdata("known-key/shard-5.json")).unwrap();
    w.append(
        "handout",
        json!({"share": 5, "custodian": "Erin Example", "transport": "file",
               "file": "shard-5.json", "sha256": Sha256Digest::of(&shard5).to_hex(),
               "checked": "re-read and verified", "confirmed_by": "Erin Example"}),
    )
    .unwrap();
    w.close_and_sign(json!({"note": "format vector: the steps between are abridged"}))
        .unwrap()
}

fn vector_record(public_key: &[u8; 32]) -> String {
    let mut rec = known_record();
    rec.ceremony_public_key = Some(hex::encode(public_key));
    rec.to_json()
}

fn expected_text(s: &transcript::SignedTranscript) -> String {
    format!(
        "lines {}\nfinal_seq {}\nfinal_hash {}\nfinal_words {}\nceremony_public_key {}\n",
        s.lines,
        s.final_seq,
        s.final_hash.to_hex(),
        s.final_hash.to_words(),
        hex::encode(s.public_key)
    )
}

fn vector_dir() -> PathBuf {
    testdata("ceremony")
}

#[test]
#[ignore]
fn regenerate_transcript_vector() {
    let dir = vector_dir();
    let path = dir.join("transcript.jsonl");
    let _ = std::fs::remove_file(&path);
    let s = write_vector(&path);
    std::fs::write(dir.join("transcript.expected"), expected_text(&s)).unwrap();
    std::fs::write(dir.join("ceremony.json"), vector_record(&s.public_key)).unwrap();
}

#[test]
fn the_vector_is_reproduced_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("transcript.jsonl");
    let s = write_vector(&path);
    let want = std::fs::read(vector_dir().join("transcript.jsonl")).unwrap();
    assert_eq!(
        String::from_utf8(std::fs::read(&path).unwrap()).unwrap(),
        String::from_utf8(want).unwrap()
    );
    assert_eq!(
        expected_text(&s),
        std::fs::read_to_string(vector_dir().join("transcript.expected")).unwrap()
    );
    assert_eq!(
        vector_record(&s.public_key),
        std::fs::read_to_string(vector_dir().join("ceremony.json")).unwrap()
    );
}

#[test]
fn the_vector_hashes_are_those_of_its_lines() {
    // independent of the library: the hash chain as `sed -n Kp | sha256sum` sees it
    let bytes = std::fs::read(vector_dir().join("transcript.jsonl")).unwrap();
    let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
    let mut prev = "0".repeat(64);
    for (i, line) in lines.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        assert_eq!(v["seq"], (i + 1) as u64);
        assert_eq!(v["prev"], prev.as_str(), "line {}", i + 1);
        prev = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(line));
    }
    let expected = std::fs::read_to_string(vector_dir().join("transcript.expected")).unwrap();
    let closing = lines[lines.len() - 2];
    let final_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(closing));
    assert!(expected.contains(&format!("final_hash {final_hash}\n")));
    // the signature over "keyceremony-transcript/v1 <seq> <hash>", by the key of line 1
    use ed25519_dalek::{Signature, VerifyingKey};
    let first: serde_json::Value = serde_json::from_slice(lines[0]).unwrap();
    let last: serde_json::Value = serde_json::from_slice(lines[lines.len() - 1]).unwrap();
    let pk: [u8; 32] = hex::decode(first["facts"]["ceremony_public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let sig: [u8; 64] = hex::decode(last["facts"]["signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let msg = format!("keyceremony-transcript/v1 {} {final_hash}", lines.len() - 1);
    VerifyingKey::from_bytes(&pk)
        .unwrap()
        .verify_strict(msg.as_bytes(), &Signature::from_bytes(&sig))
        .unwrap();
    // the plan hash in line 1 is the plan vector's
    let plan_hash = std::fs::read_to_string(vector_dir().join("plan.sha256")).unwrap();
    assert_eq!(
        first["facts"]["plan_sha256"].as_str().unwrap(),
        plan_hash.split_whitespace().next().unwrap()
    );
}

#[test]
fn the_vector_verifies_through_the_binary_with_its_record() {
    let r = run([
        "ceremony",
        "verify-transcript",
        vector_dir().join("transcript.jsonl").to_str().unwrap(),
        "--record",
        vector_dir().join("ceremony.json").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let expected = std::fs::read_to_string(vector_dir().join("transcript.expected")).unwrap();
    for line in expected.lines() {
        let (k, val) = line.split_once(' ').unwrap();
        match k {
            "lines" => assert_eq!(v["lines"].to_string(), val),
            "final_seq" => assert_eq!(v["final_seq"].to_string(), val),
            _ => assert_eq!(v[k], val, "{k}"),
        }
    }
    assert_eq!(v["ceremony_ids"], json!(["KC-40ZZ-FF88-WRT4"]));
    assert_eq!(v["outcome"]["completed"], true);
    assert_eq!(v["mode"], "production");
    // and as text, the final hash as words in rows of eight
    let r = run([
        "ceremony",
        "verify-transcript",
        vector_dir().join("transcript.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let words = v["final_words"].as_str().unwrap();
    let first_row: Vec<&str> = words.split(' ').take(8).collect();
    assert!(r.stdout.contains(&first_row.join(" ")), "{}", r.stdout);
    assert!(
        r.stdout.contains("OK, 8 lines, chained and signed"),
        "{}",
        r.stdout
    );
}

#[test]
fn older_records_without_the_key_still_parse_and_keep_their_checksum() {
    let rec = known_record();
    assert_eq!(rec.ceremony_public_key, None);
    let original = std::fs::read_to_string(testdata("known-key/ceremony.json")).unwrap();
    assert_eq!(rec.to_json(), original);
    // the vector record differs only by the key (and so its checksum)
    let with_key = std::fs::read(vector_dir().join("ceremony.json")).unwrap();
    match parse_document(&with_key).unwrap() {
        JsonDocument::Record(r) => {
            assert!(r.ceremony_public_key.is_some());
            assert_eq!(r.info, rec.info);
            assert_ne!(r.checksum(), rec.checksum());
        }
        _ => panic!(),
    }
    // a record whose key was altered fails its checksum
    let text = String::from_utf8(with_key).unwrap();
    let k = text.find("\"ceremony_public_key\": \"").unwrap() + 24;
    let mut altered = text.clone();
    altered.replace_range(k..k + 1, if &text[k..k + 1] == "a" { "b" } else { "a" });
    assert!(parse_document(altered.as_bytes()).is_err());
}

#[test]
fn an_interrupted_run_closes_with_what_was_and_was_not_handed_out() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("transcript.jsonl");
    let plan = Plan::load(&testdata("ceremony/plan.toml")).unwrap();
    let mut w = TranscriptWriter::create(&path, &Header::from_plan(&plan)).unwrap();
    w.append("plan", plan.facts()).unwrap();
    let s = w
        .close_interrupted(&Interruption {
            reason: "share 2: the token was removed before its share was unsealed".into(),
            handed_out: vec!["share 1 (Alice Example): sealed to YubiKey 12345678".into()],
            not_handed_out: (2..=5).map(|i| format!("share {i}")).collect(),
        })
        .unwrap();
    assert_eq!(s.lines, 4);
    let t = transcript::verify_file(&path, &VerifyOptions::default()).unwrap();
    assert_eq!(t.final_hash, s.final_hash);
    match &t.outcome {
        Outcome::Interrupted {
            reason,
            handed_out,
            not_handed_out,
        } => {
            assert!(reason.contains("token was removed"));
            assert_eq!(handed_out.len(), 1);
            assert_eq!(not_handed_out.len(), 4);
        }
        o => panic!("{o:?}"),
    }
    let r = run(["ceremony", "verify-transcript", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r
        .stdout
        .contains("INTERRUPTED: share 2: the token was removed"));
    assert!(r
        .stdout
        .contains("not handed out       share 2; share 3; share 4; share 5"));
}

#[test]
fn openssl_verifies_the_vector_signature() {
    // an independent Ed25519 implementation, given only what docs/ceremony.md
    // says is signed
    if !tools_or_skip(
        "openssl_verifies_the_vector_signature",
        &[("openssl", "version")],
        "scripts/ensure-transcript-tools.sh",
    ) {
        return;
    }
    let bytes = std::fs::read(vector_dir().join("transcript.jsonl")).unwrap();
    let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
    let first: serde_json::Value = serde_json::from_slice(lines[0]).unwrap();
    let last: serde_json::Value = serde_json::from_slice(lines[lines.len() - 1]).unwrap();
    let pk = hex::decode(first["facts"]["ceremony_public_key"].as_str().unwrap()).unwrap();
    let sig = hex::decode(last["facts"]["signature"].as_str().unwrap()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // SubjectPublicKeyInfo DER for an Ed25519 key: fixed 12-byte prefix, then the key
    let mut der = hex::decode("302a300506032b6570032100").unwrap();
    der.extend_from_slice(&pk);
    std::fs::write(tmp.path().join("pk.der"), der).unwrap();
    std::fs::write(tmp.path().join("sig.bin"), &sig).unwrap();
    let msg = format!(
        "keyceremony-transcript/v1 {} {}",
        last["facts"]["signed_seq"],
        last["facts"]["signed_hash"].as_str().unwrap()
    );
    let verify = |msg: &str| {
        std::fs::write(tmp.path().join("msg.txt"), msg).unwrap();
        std::process::Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-rawin"])
            .arg("-inkey")
            .arg(tmp.path().join("pk.der"))
            .arg("-in")
            .arg(tmp.path().join("msg.txt"))
            .arg("-sigfile")
            .arg(tmp.path().join("sig.bin"))
            .output()
            .unwrap()
    };
    let o = verify(&msg);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Signature Verified Successfully"));
    // and it refuses another message, so the check can fail
    let o = verify(&msg.replacen(" 7 ", " 6 ", 1));
    assert!(!o.status.success());
}

/// The known key and its five share values, as a runner's test would hold them.
fn known_secrets() -> Vec<(String, Vec<u8>)> {
    let mut out = vec![(
        "root key".to_string(),
        hex::decode(
            std::fs::read_to_string(testdata("known-key/key.hex"))
                .unwrap()
                .trim(),
        )
        .unwrap(),
    )];
    for i in 1..=5 {
        let v: serde_json::Value = serde_json::from_slice(
            &std::fs::read(testdata(&format!("known-key/shard-{i}.json"))).unwrap(),
        )
        .unwrap();
        out.push((
            format!("share {i}"),
            hex::decode(v["value"].as_str().unwrap()).unwrap(),
        ));
    }
    out
}

#[test]
fn the_secret_scan_finds_no_secret_in_the_vector_and_finds_a_leaked_one() {
    use keyceremony::secret_scan;
    let secrets = known_secrets();
    let refs: Vec<(&str, &[u8])> = secrets
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let text = std::fs::read(vector_dir().join("transcript.jsonl")).unwrap();
    secret_scan::assert_clean("the vector transcript", &text, &refs);
    // the printable, too
    let plan_dir = tempfile::tempdir().unwrap();
    let t = transcript::verify_file(
        &vector_dir().join("transcript.jsonl"),
        &VerifyOptions::default(),
    )
    .unwrap();
    let html = transcript::render_html(&t).unwrap();
    secret_scan::assert_clean("the printable transcript", html.as_bytes(), &refs);
    // a transcript that carries share 3 by mistake is caught, and the finding names it
    let path = plan_dir.path().join("leaky.jsonl");
    let plan = Plan::load(&testdata("ceremony/plan.toml")).unwrap();
    let mut w = TranscriptWriter::create(&path, &Header::from_plan(&plan)).unwrap();
    w.append(
        "handout",
        json!({"debug": hex::encode(&secrets[3].1).to_uppercase()}),
    )
    .unwrap();
    w.close_and_sign(json!({})).unwrap();
    let found = secret_scan::find(&std::fs::read(&path).unwrap(), &refs);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].secret, "share 3");
}

#[test]
fn the_worked_example_in_the_docs_is_the_vector() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ceremony.md"))
            .unwrap();
    let text = std::fs::read_to_string(vector_dir().join("transcript.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for k in [0, 6, 7] {
        assert!(
            doc.contains(lines[k]),
            "docs/ceremony.md lacks line {} of the vector",
            k + 1
        );
    }
    let expected = std::fs::read_to_string(vector_dir().join("transcript.expected")).unwrap();
    for line in expected.lines() {
        let (k, v) = line.split_once(' ').unwrap();
        match k {
            "final_hash" | "ceremony_public_key" => assert!(doc.contains(v), "{k}"),
            "final_words" => {
                let w: Vec<&str> = v.split(' ').collect();
                for row in w.chunks(8) {
                    assert!(doc.contains(&row.join(" ")), "words row {row:?}");
                }
            }
            _ => {}
        }
    }
    let plan_hash = std::fs::read_to_string(vector_dir().join("plan.sha256")).unwrap();
    assert!(doc.contains(plan_hash.split_whitespace().next().unwrap()));
}
