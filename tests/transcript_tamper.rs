//! Transcript tampering, one test per class, each through the binary
//! (`ceremony verify-transcript`): the check fails with exit status 1 and
//! names the line. Plus the writer's own refusals.

mod common;

use std::path::{Path, PathBuf};

use common::{run, testdata};
use keyceremony::digest::Sha256Digest;
use keyceremony::plan::Mode;
use keyceremony::record::CeremonyRecord;
use keyceremony::shard::{parse_document, JsonDocument};
use keyceremony::transcript::{
    self, Header, TranscriptProblem, TranscriptWriter, VerifyOptions, WriterOptions,
};
use serde_json::{json, Value};

fn header() -> Header {
    Header {
        label: "tamper test".into(),
        mode: Mode::Rehearsal,
        plan_sha256: Some(Sha256Digest::of(b"plan")),
        lead: "Lee".into(),
        custodians: vec!["Ann".into(), "Bo".into()],
        witnesses: vec!["Wes".into()],
    }
}

/// A signed transcript of 7 lines (start, 4 steps, close, signature).
fn signed(dir: &Path) -> (PathBuf, transcript::SignedTranscript) {
    let path = dir.join("transcript.jsonl");
    let mut w = TranscriptWriter::create(&path, &header()).unwrap();
    w.append(
        "plan",
        json!({"plan_sha256": Sha256Digest::of(b"plan").to_hex()}),
    )
    .unwrap();
    w.append(
        "key",
        json!({"key_fingerprint": "8a4e-51b1-0bda-fee7-4aa2"}),
    )
    .unwrap();
    w.append(
        "split",
        json!({"ceremony_id": "KC-40ZZ-FF88-WRT4", "threshold": 2}),
    )
    .unwrap();
    w.append("handout", json!({"share": 1, "custodian": "Ann"}))
        .unwrap();
    let s = w.close_and_sign(json!({"handed_out": 2})).unwrap();
    assert_eq!(s.lines, 7);
    (path, s)
}

fn lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.split_inclusive('\n').map(str::to_string).collect()
}

fn save(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.concat()).unwrap();
}

fn hash(line: &str) -> String {
    Sha256Digest::of(line.as_bytes()).to_hex()
}

/// Rewrites `prev` of every line after the first to chain again (what a
/// forger who edits a line would do next).
fn rechain(lines: &mut [String]) {
    for i in 1..lines.len() {
        let mut v: Value = serde_json::from_str(&lines[i]).unwrap();
        v["prev"] = json!(hash(&lines[i - 1]));
        lines[i] = canonical_line(&v);
    }
}

fn canonical_line(v: &Value) -> String {
    let e = transcript::Entry {
        seq: v["seq"].as_u64().unwrap(),
        time: v["time"].as_str().unwrap().into(),
        step: v["step"].as_str().unwrap().into(),
        facts: v["facts"].as_object().unwrap().clone(),
        prev: Sha256Digest::parse_hex(v["prev"].as_str().unwrap()).unwrap(),
    };
    e.to_line()
}

fn edit_facts(line: &str, f: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(line).unwrap();
    f(&mut v["facts"]);
    canonical_line(&v)
}

/// Runs verify-transcript and checks the refusal names `line` and says `needle`.
fn refused(path: &Path, extra: &[&str], line: Option<u64>, needle: &str) {
    let mut args = vec!["ceremony", "verify-transcript", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let r = run(&args);
    assert_eq!(r.code, 1, "accepted: {}", r.stdout);
    let want = match line {
        Some(n) => format!("error: {}: line {n}: ", path.display()),
        None => format!("error: {}: ", path.display()),
    };
    assert!(
        r.stderr.starts_with(&want),
        "expected {want:?}, got: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains(needle),
        "expected {needle:?} in: {}",
        r.stderr
    );
}

fn problem(path: &Path) -> (Option<u64>, TranscriptProblem) {
    let bytes = std::fs::read(path).unwrap();
    let e = transcript::verify_bytes(path, &bytes, &VerifyOptions::default()).unwrap_err();
    (e.line, e.problem)
}

#[test]
fn an_untouched_transcript_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (path, s) = signed(dir.path());
    let t = transcript::verify_file(&path, &VerifyOptions::default()).unwrap();
    assert_eq!(t.final_hash, s.final_hash);
    assert_eq!(t.final_seq, 6);
    assert_eq!(t.public_key, s.public_key);
    assert_eq!(t.ceremony_ids, vec!["KC-40ZZ-FF88-WRT4"]);
    let r = run(["ceremony", "verify-transcript", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&s.final_hash.to_hex()));
    assert!(r.stdout.contains("REHEARSAL"));
}

#[test]
fn edited_line() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = signed(dir.path());
    let mut l = lines(&path);
    l[2] = edit_facts(&l[2], |f| {
        f["key_fingerprint"] = json!("0000-51b1-0bda-fee7-4aa2")
    });
    save(&path, &l);
    refused(
        &path,
        &[],
        Some(4),
        "prev does not match the hash of line 3: line 3 was altered",
    );
    assert_eq!(
        problem(&path),
        (Some(4), TranscriptProblem::Chain { previous: 3 })
    );
}

#[test]
fn edited_line_out_of_canonical_form() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = signed(dir.path());
    let mut l = lines(&path);
    l[1] = l[1].replacen("{\"seq\":2,", "{\"seq\": 2,", 1);
    save(&path, &l);
    refused(
        &path,
        &[],
        Some(2),
        "not in the exact form keyceremony writes",
    );
    // a key given twice reads two ways: refused as not canonical
    let mut l = lines(&path);
    l[1] = l[1].replacen("\"facts\":{", "\"facts\":{\"plan_sha256\":\"x\",", 1);
    l[1] = l[1].replacen("{\"seq\": 2,", "{\"seq\":2,", 1);
    save(&path, &l);
    refused(&path, &[], Some(2), "not in the exact form");
    // CRLF line ends
    let (path, _) = signed(&dir.path().join("crlf").tap_mkdir());
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace('\n', "\r\n");
    std::fs::write(&path, text).unwrap();
    refused(&path, &[], Some(1), "not in the exact form");
}

trait Mkdir {
    fn tap_mkdir(self) -> Self;
}
impl Mkdir for PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}

#[test]
fn edited_closing_line() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = signed(dir.path());
    let mut l = lines(&path);
    l[5] = edit_facts(&l[5], |f| f["handed_out"] = json!(1));
    save(&path, &l);
    refused(
        &path,
        &[],
        Some(7),
        "prev does not match the hash of line 6",
    );
}

#[test]
fn edited_and_rechained() {
    // the forger recomputes every prev: the signature no longer holds
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = signed(dir.path());
    let mut l = lines(&path);
    l[3] = edit_facts(&l[3], |f| f["ceremony_id"] = json!("KC-0000-0000-0000"));
    rechain(&mut l);
    save(&path, &l);
    refused(
        &path,
        &[],
        Some(7),
        "signed_hash is not the hash of the closing line",
    );
    // ... and also fixes signed_hash: the signature itself fails
    let mut l = lines(&path);
    let closing = hash(&l[5]);
    l[6] = edit_facts(&l[6], |f| f["signed_hash"] = json!(closing));
    save(&path, &l);
    refused(&path, &[], Some(7), "the signature does not verify");
}

#[test]
fn deleted_line() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = signed(dir.path());
    let mut l = lines(&path);
    l.remove(3);
    save(&path, &l);
    refused(
        &path,
        &[],
        Some(4),
        "seq is 5 where 4 was expected: a line was deleted, inserted or moved here",
    );
    // deleted, renumbered and rechained: the signature catches it
    let mut l = lines(&path);
    for (i, line) in l.iter_mut().enumerate() {
        let mut v: Value = serde_json::from_str(line).unwrap();
        v["seq"] = json!(i + 1);
        if v["step"] == "signature" {
            v["facts"]["signed_seq"] = json!(i);
        }
        *line = canonical_line(&v);
    }
    rechain(&mut l);
    save(&path, &l);
    refused(&path, &[], Some(6), "");
    assert_eq!(problem(&path).0, Some(6));
}

#[test]
fn deleted_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = signed(dir.path());
    let mut l = lines(&path);
    l.remove(0);
    save(&path, &l);
    refused(&path, &[], Some(1), "seq is 2 where 1 was expected");
}

#[test]
fn inserted_line() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = signed(dir.path());
    let mut l = lines(&path);
    let extra = l[2].clone();
    l.insert(3, extra);
    save(&path, &l);
    refused(&path, &[], Some(4), "seq is 3 where 4 was expected");
}

#[test]
fn reordered_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = signed(dir.path());
    let mut l = lines(&path);
    l.swap(2, 3);
    save(&path, &l);
    refused(&path, &[], Some(3), "seq is 4 where 3 was expected");
}

#[test]
fn appended_line() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = signed(dir.path());
    let mut l = lines(&path);
    let last = l.last().unwrap().clone();
    let mut v: Value = serde_json::from_str(&last).unwrap();
    v["seq"] = json!(8);
    v["step"] = json!("handout");
    v["prev"] = json!(hash(&last));
    l.push(canonical_line(&v));
    save(&path, &l);
    refused(&path, &[], Some(8), "a line follows the signature line");
    // even a blank line
    let mut l = lines(&path);
    l.pop();
    l.push("\n".into());
    save(&path, &l);
    refused(&path, &[], Some(8), "a line follows the signature line");
}

#[test]
fn truncated_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = signed(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 40]).unwrap();
    refused(
        &path,
        &[],
        Some(7),
        "truncated: the last line has no line end",
    );
    // only the final newline missing
    std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    refused(&path, &[], Some(7), "truncated");
}

#[test]
fn missing_signature() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = signed(dir.path());
    let mut l = lines(&path);
    l.pop();
    save(&path, &l);
    refused(
        &path,
        &[],
        Some(6),
        "not signed: the last line (step \"close\") is not a signature line",
    );
}

#[test]
fn a_killed_run_is_unsigned() {
    // the writer dropped without closing, as when the process dies
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("transcript.jsonl");
    let mut w = TranscriptWriter::create(&path, &header()).unwrap();
    w.append("plan", json!({})).unwrap();
    drop(w);
    refused(
        &path,
        &[],
        Some(2),
        "not signed: the last line (step \"plan\")",
    );
}

#[test]
fn altered_signature() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = signed(dir.path());
    let mut l = lines(&path);
    l[6] = edit_facts(&l[6], |f| {
        let s = f["signature"].as_str().unwrap().to_string();
        let flipped = if s.starts_with('0') { "1" } else { "0" };
        f["signature"] = json!(format!("{flipped}{}", &s[1..]));
    });
    save(&path, &l);
    refused(&path, &[], Some(7), "the signature does not verify");
}

#[test]
fn another_key_signed_it() {
    // a forger rewrites everything under a key of their own: the record catches it
    let dir = tempfile::tempdir().unwrap();
    let (path, s) = signed(dir.path());
    let forged = dir.path().join("forged.jsonl");
    let mut w = TranscriptWriter::create(&forged, &header()).unwrap();
    w.append("split", json!({"ceremony_id": "KC-40ZZ-FF88-WRT4"}))
        .unwrap();
    w.close_and_sign(json!({})).unwrap();
    let record = record_with_key(dir.path(), Some(hex::encode(s.public_key)));
    // the genuine one passes with the record
    let r = run([
        "ceremony",
        "verify-transcript",
        path.to_str().unwrap(),
        "--record",
        record.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    refused(
        &forged,
        &["--record", record.to_str().unwrap()],
        Some(1),
        "is not the one in the record",
    );
}

fn record_with_key(dir: &Path, key: Option<String>) -> PathBuf {
    let bytes = std::fs::read(testdata("known-key/ceremony.json")).unwrap();
    let mut rec: CeremonyRecord = match parse_document(&bytes).unwrap() {
        JsonDocument::Record(r) => *r,
        _ => panic!(),
    };
    rec.ceremony_public_key = key;
    let path = dir.join("ceremony.json");
    std::fs::write(&path, rec.to_json()).unwrap();
    path
}

#[test]
fn record_without_a_key_or_of_another_ceremony() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = signed(dir.path());
    let record = record_with_key(dir.path(), None);
    refused(
        &path,
        &["--record", record.to_str().unwrap()],
        None,
        "the record carries no ceremony public key",
    );
    // right key, but the transcript's split names another ceremony
    let other = dir.path().join("other.jsonl");
    let mut w = TranscriptWriter::create_with(&other, &header(), WriterOptions::default()).unwrap();
    w.append("split", json!({"ceremony_id": "KC-1111-2222-3333"}))
        .unwrap();
    let s2 = w.close_and_sign(json!({})).unwrap();
    let record = record_with_key(dir.path(), Some(hex::encode(s2.public_key)));
    refused(
        &other,
        &["--record", record.to_str().unwrap()],
        Some(2),
        "the transcript names ceremony KC-1111-2222-3333, the record is of ceremony KC-40ZZ-FF88-WRT4",
    );
    // a shard file given as the record is named as such
    let r = run([
        "ceremony",
        "verify-transcript",
        path.to_str().unwrap(),
        "--record",
        testdata("known-key/shard-1.json").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("is a shard file, not the ceremony record"),
        "{}",
        r.stderr
    );
}

#[test]
fn chain_start() {
    let dir = tempfile::tempdir().unwrap();
    let earlier = Sha256Digest::of(b"the rehearsal's final line");
    let path = dir.path().join("t.jsonl");
    let w = TranscriptWriter::create_with(
        &path,
        &header(),
        WriterOptions {
            chain_from: Some(earlier),
            ..WriterOptions::default()
        },
    )
    .unwrap();
    w.close_and_sign(json!({})).unwrap();
    let r = run([
        "ceremony",
        "verify-transcript",
        path.to_str().unwrap(),
        "--chain-from",
        &earlier.to_hex(),
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["chained_to"], earlier.to_hex());
    refused(
        &path,
        &["--chain-from", &Sha256Digest::ZERO.to_hex()],
        Some(1),
        "but this transcript should continue",
    );
    let r = run([
        "ceremony",
        "verify-transcript",
        path.to_str().unwrap(),
        "--chain-from",
        "xyz",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn not_a_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    std::fs::write(&path, b"").unwrap();
    refused(&path, &[], None, "the file is empty");
    std::fs::write(&path, b"hello\n").unwrap();
    refused(&path, &[], Some(1), "not a transcript line");
    std::fs::write(&path, "{\"seq\":1,\"time\":\"x\"}\n").unwrap();
    refused(&path, &[], Some(1), "not a transcript line");
    std::fs::write(&path, "\u{e9}\n").unwrap();
    refused(&path, &[], Some(1), "not in the exact form");
    // a first line that is not the start
    let (good, _) = signed(&dir.path().join("g").tap_mkdir());
    let mut l = lines(&good);
    l[0] = edit_facts(&l[0], |f| f["format"] = json!("something-else"));
    rechain(&mut l);
    save(&good, &l);
    refused(&good, &[], Some(1), "facts.format is not");
    let (good, _) = signed(&dir.path().join("h").tap_mkdir());
    let mut l = lines(&good);
    l.remove(0);
    for (i, line) in l.iter_mut().enumerate() {
        let mut v: Value = serde_json::from_str(line).unwrap();
        v["seq"] = json!(i + 1);
        *line = canonical_line(&v);
    }
    save(&good, &l);
    refused(
        &good,
        &[],
        Some(1),
        "the first line must be step \"start\", found \"plan\"",
    );
    // a line longer than any transcript line
    let long = format!(
        "{{\"seq\":1,\"x\":\"{}\"}}\n",
        "a".repeat(transcript::MAX_LINE_BYTES)
    );
    std::fs::write(&path, long).unwrap();
    refused(&path, &[], Some(1), "longer than any transcript line");
}

#[test]
fn hostile_facts_reach_the_terminal_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    let mut h = header();
    h.label = "evil\u{1b}[2J\u{202e}label".into();
    let w = TranscriptWriter::create(&path, &h).unwrap();
    w.close_and_sign(json!({})).unwrap();
    let text = std::fs::read(&path).unwrap();
    assert!(text.is_ascii());
    let r = run(["ceremony", "verify-transcript", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains('\u{1b}') && !r.stdout.contains('\u{202e}'));
    assert!(
        r.stdout.contains("evil\\u{1b}[2J\\u{202e}label"),
        "{}",
        r.stdout
    );
}

#[test]
fn the_writer_refuses_what_it_must() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = signed(dir.path());
    // never over an existing transcript
    let e = TranscriptWriter::create(&path, &header()).unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    let path = dir.path().join("new.jsonl");
    let mut w = TranscriptWriter::create(&path, &header()).unwrap();
    for reserved in ["start", "close", "interrupted", "signature"] {
        assert!(w.append(reserved, json!({})).is_err());
    }
    assert!(w.append("Bad Step", json!({})).is_err());
    assert!(w.append("step", json!(["not", "an", "object"])).is_err());
    let big = "x".repeat(transcript::MAX_LINE_BYTES);
    assert!(w.append("step", json!({ "big": big })).is_err());
    // refusals wrote nothing
    assert_eq!(lines(&path).len(), 1);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}
