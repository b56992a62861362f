//! `keyceremony ceremony rehearse DIR` through the binary: the demo
//! ceremony's folder rehearsed (a shard file, two QR images, two sealed
//! shares on test tokens, every 3-subset of 5), its rehearsal record
//! verified chained to the transcript; a damaged, a missing and a foreign
//! share each named with the subsets they spoil; and every refusal.

mod ceremony_support;
mod common;

use std::path::Path;

use ceremony_support::*;
use common::{run_ceremony_with_yes, run_in, split_generated, Run};

fn json_of(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn rehearsal_records(dir: &Path) -> Vec<String> {
    names_in(dir)
        .into_iter()
        .filter(|n| n.starts_with("rehearsal-") && n.ends_with(".jsonl"))
        .collect()
}

#[test]
fn the_demo_ceremony_rehearses_every_subset_and_the_record_chains_to_its_transcript() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let plan = demo_plan(dir);
    let r = run_ceremony_with_yes(dir, &plan, PIN);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = dir.join("out");

    // the folder's own test-tokens/ is used: the transcript says rehearsal
    let h = run_in(
        dir,
        &[
            "ceremony",
            "rehearse",
            "out",
            "--yes",
            "--pin-file",
            "pin.txt",
        ],
    );
    assert_eq!(h.code, 0, "{}\n{}", h.stdout, h.stderr);
    for line in [
        "OK   out/shard-1.json: share 1",
        "OK   out/shard-2.png: share 2",
        "OK   out/shard-3.png: share 3",
        "share 4 (Dan Driver): good (1 output)",
        "subsets of 3: 10 of 10 reconstructed the key with the recorded fingerprint",
        "REHEARSAL OK",
        "test tokens from out/test-tokens (TEST MODE)",
    ] {
        assert!(h.stdout.contains(line), "{line} not in {}", h.stdout);
    }
    assert!(
        h.stdout
            .contains("out/shard-4.age (sealed to TEST TOKEN 41000001"),
        "{}",
        h.stdout
    );
    // each sealed share unsealed exactly once
    assert_eq!(
        h.stderr.matches("touch confirmed automatically").count(),
        2,
        "{}",
        h.stderr
    );

    // the record: its own signed file, chained to the transcript's final hash
    let records = rehearsal_records(&out);
    assert_eq!(records.len(), 1, "{records:?}");
    let record = format!("out/{}", records[0]);
    let t = run_in(
        dir,
        &[
            "--json",
            "ceremony",
            "verify-transcript",
            "out/transcript.jsonl",
        ],
    );
    assert_eq!(t.code, 0, "{}", t.stderr);
    let final_hash = json_of(&t)["final_hash"].as_str().unwrap().to_string();
    let v = run_in(
        dir,
        &[
            "--json",
            "ceremony",
            "verify-transcript",
            &record,
            "--chain-from",
            &final_hash,
        ],
    );
    assert_eq!(v.code, 0, "{}", v.stderr);
    let vj = json_of(&v);
    assert_eq!(vj["chained_to"], final_hash.as_str());
    assert_eq!(vj["outcome"]["completed"], true);
    let text = std::fs::read_to_string(out.join(&records[0])).unwrap();
    assert!(text.contains("\"step\":\"subsets\""), "{text}");
    assert!(text.contains("\"reconstructed\":10"), "{text}");
    assert!(text.contains(&format!("\"transcript_final_hash\":\"{final_hash}\"")));
    // chained to anything else: refused
    let wrong = "0".repeat(63) + "1";
    let v = run_in(
        dir,
        &[
            "ceremony",
            "verify-transcript",
            &record,
            "--chain-from",
            &wrong,
        ],
    );
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(v.stderr.contains("line 1: prev is"), "{}", v.stderr);
    // an edited record line: refused, naming the line
    let edited = text.replacen("\"reconstructed\":10", "\"reconstructed\":11", 1);
    std::fs::write(out.join("edited.jsonl"), edited).unwrap();
    let v = run_in(dir, &["ceremony", "verify-transcript", "out/edited.jsonl"]);
    assert_eq!(v.code, 1);
    assert!(v.stderr.contains("out/edited.jsonl: line "), "{}", v.stderr);
    std::fs::remove_file(out.join("edited.jsonl")).unwrap();

    // JSON: every subset listed
    let j = run_in(
        dir,
        &[
            "--json",
            "ceremony",
            "rehearse",
            "out",
            "--yes",
            "--pin-file",
            "pin.txt",
        ],
    );
    // a second rehearsal, at once: its own record, the first left as it was
    assert_eq!(j.code, 0, "{}", j.stderr);
    let jj = json_of(&j);
    assert_eq!(jj["subsets_tried"], 10);
    assert_eq!(jj["subsets"].as_array().unwrap().len(), 10);
    assert_eq!(jj["subsets"][0]["ids"], serde_json::json!([1, 2, 3]));
    assert_eq!(rehearsal_records(&out).len(), 2);
    assert_eq!(
        std::fs::read_to_string(out.join(&records[0])).unwrap(),
        text
    );

    // nothing secret in the outputs or what was printed
    let shares = shares_in_outputs(&out, &out.join("test-tokens"));
    scan_folder(&out, &shares);
    scan_text("stdout", &h.stdout, &shares);
    scan_text("stderr", &h.stderr, &shares);
}

#[test]
fn a_bad_a_missing_and_a_foreign_share_are_named_with_the_subsets_they_spoil() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    split_generated(&dir.join("c"), 2, 4);
    split_generated(&dir.join("other"), 2, 4);
    // share 2 damaged, share 3 gone, share 4 from another ceremony
    let p = dir.join("c/shard-2.json");
    let text = std::fs::read_to_string(&p).unwrap();
    let i = text.find("\"value\": \"").unwrap() + 10;
    let mut bytes = text.into_bytes();
    bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
    std::fs::write(&p, bytes).unwrap();
    std::fs::remove_file(dir.join("c/shard-3.json")).unwrap();
    std::fs::copy(dir.join("other/shard-4.json"), dir.join("c/shard-4.json")).unwrap();

    let r = run_in(dir, &["ceremony", "rehearse", "c", "--yes"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    for line in [
        "OK   c/shard-1.json: share 1",
        "BAD  c/shard-2.json: ",
        "BAD  c/shard-4.json: belongs to another ceremony, KC-",
        "share 1: good (1 output)",
        "share 2: BAD (no usable output: c/shard-2.json), spoils 3 of 6 subsets",
        "  spoiled subset 1,2",
        "  spoiled subset 2,3",
        "  spoiled subset 2,4",
        "share 3: MISSING (no output of it in the folder), spoils 3 of 6 subsets",
        "share 4: BAD (no usable output: c/shard-4.json), spoils 3 of 6 subsets",
        "subsets of 2: 0 of 6 reconstructed",
        "not chained: the folder has no transcript.jsonl",
        "REHEARSAL FAILED",
    ] {
        assert!(r.stdout.contains(line), "{line} not in {}", r.stdout);
    }
    // the failure is recorded too
    let records = rehearsal_records(&dir.join("c"));
    assert_eq!(records.len(), 1);
    let text = std::fs::read_to_string(dir.join("c").join(&records[0])).unwrap();
    assert!(text.contains("\"status\":\"missing\""), "{text}");
    assert!(
        text.contains("\"spoiled_by_share\":{\"2\":3,\"3\":3,\"4\":3}"),
        "{text}"
    );
    assert!(text.contains("\"ok\":false"), "{text}");
    let v = run_in(
        dir,
        &[
            "ceremony",
            "verify-transcript",
            &format!("c/{}", records[0]),
            "--chain-from",
            &"0".repeat(64),
        ],
    );
    assert_eq!(v.code, 0, "{}", v.stderr);

    // a file not named shard-<id>.* is not an output of the folder
    std::fs::remove_file(dir.join("c").join(&records[0])).unwrap();
    std::fs::copy(dir.join("c/shard-1.json"), dir.join("c/spare.json")).unwrap();
    let j = run_in(dir, &["--json", "ceremony", "rehearse", "c", "--yes"]);
    assert_eq!(j.code, 1);
    let jj = json_of(&j);
    assert_eq!(jj["subsets_reconstructed"], 0);
    assert_eq!(jj["outputs"].as_array().unwrap().len(), 3, "{}", j.stdout);
    assert_eq!(
        jj["share_checks"][1]["spoils"],
        serde_json::json!([[1, 2], [2, 3], [2, 4]])
    );
}

#[test]
fn a_share_held_twice_is_checked_in_every_output() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let r = run_in(
        dir,
        &[
            "split",
            "-t",
            "2",
            "-n",
            "3",
            "--generate",
            "--qr",
            "--out",
            "c",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let h = run_in(dir, &["ceremony", "rehearse", "c", "--yes"]);
    assert_eq!(h.code, 0, "{}\n{}", h.stdout, h.stderr);
    assert!(
        h.stdout.contains("OK   c/shard-2.png: share 2"),
        "{}",
        h.stdout
    );
    assert!(
        h.stdout.contains("share 2: good (2 outputs)"),
        "{}",
        h.stdout
    );
    assert!(h.stdout.contains("3 of 3 reconstructed"), "{}", h.stdout);
    // a QR image of another share under share 2's name
    std::fs::copy(dir.join("c/shard-3.png"), dir.join("c/shard-2.png")).unwrap();
    let h = run_in(dir, &["ceremony", "rehearse", "c", "--yes"]);
    assert_eq!(h.code, 1, "{}", h.stdout);
    assert!(
        h.stdout
            .contains("BAD  c/shard-2.png: its name says share 2, but it holds share 3"),
        "{}",
        h.stdout
    );
}

#[test]
fn refusals() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // not a folder
    let r = run_in(dir, &["ceremony", "rehearse", "nowhere", "--yes"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("nowhere: is not a folder"),
        "{}",
        r.stderr
    );
    // no record
    std::fs::create_dir(dir.join("empty")).unwrap();
    let r = run_in(dir, &["ceremony", "rehearse", "empty", "--yes"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("empty/ceremony.json"), "{}", r.stderr);
    split_generated(&dir.join("c"), 2, 3);
    // no terminal and no --yes
    let r = run_in(dir, &["ceremony", "rehearse", "c"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("pass --yes"), "{}", r.stderr);
    // a damaged record
    let rec = std::fs::read_to_string(dir.join("c/ceremony.json")).unwrap();
    std::fs::write(
        dir.join("c/ceremony.json"),
        rec.replacen("\"threshold\": 2", "\"threshold\": 3", 1),
    )
    .unwrap();
    let r = run_in(dir, &["ceremony", "rehearse", "c", "--yes"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("c/ceremony.json"), "{}", r.stderr);
    std::fs::write(dir.join("c/ceremony.json"), &rec).unwrap();
    // a transcript that does not verify
    std::fs::write(dir.join("c/transcript.jsonl"), "{\"seq\":1}\n").unwrap();
    let r = run_in(dir, &["ceremony", "rehearse", "c", "--yes"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("c/transcript.jsonl: line 1:"),
        "{}",
        r.stderr
    );
    std::fs::remove_file(dir.join("c/transcript.jsonl")).unwrap();
    // none of the refusals wrote a record
    assert!(rehearsal_records(&dir.join("c")).is_empty());
    // too many subsets: refused before anything is opened
    split_generated(&dir.join("big"), 13, 26);
    let r = run_in(dir, &["ceremony", "rehearse", "big", "--yes"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("13 of 26 makes 10400600 subsets, more than the 200000"),
        "{}",
        r.stderr
    );
    assert!(rehearsal_records(&dir.join("big")).is_empty());
}

#[test]
fn a_ceremony_folder_without_its_transcript_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let plan = demo_plan(dir);
    let r = run_ceremony_with_yes(dir, &plan, PIN);
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::rename(dir.join("out/transcript.jsonl"), dir.join("t.jsonl")).unwrap();
    let r = run_in(
        dir,
        &[
            "ceremony",
            "rehearse",
            "out",
            "--yes",
            "--pin-file",
            "pin.txt",
        ],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("out/transcript.jsonl: is missing"),
        "{}",
        r.stderr
    );
    // a wrong PIN: the sealed shares are named bad, the others still rehearsed
    std::fs::rename(dir.join("t.jsonl"), dir.join("out/transcript.jsonl")).unwrap();
    std::fs::write(dir.join("bad-pin.txt"), "654321\n").unwrap();
    let r = run_in(
        dir,
        &[
            "ceremony",
            "rehearse",
            "out",
            "--yes",
            "--pin-file",
            "bad-pin.txt",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("BAD  out/shard-4.age"), "{}", r.stdout);
    assert!(
        r.stdout.contains("share 4 (Dan Driver): BAD"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("subsets of 3: 1 of 10 reconstructed"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_forgery_under_the_ceremony_id_is_named_forged() {
    use keyceremony::secret::RootKey;
    use keyceremony::shamir;
    use keyceremony::shard::ShardFile;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    split_generated(&dir.join("c"), 2, 3);
    let path = dir.join("c/shard-2.json");
    let real = ShardFile::parse(&std::fs::read(&path).unwrap()).unwrap();
    let (shares, commitments) =
        shamir::split(&RootKey::generate(), real.info.params, rand_core::OsRng);
    let mut info = real.info.clone();
    info.fingerprint = commitments.fingerprint();
    info.commitments = commitments;
    let fake = ShardFile {
        info,
        share: shares.into_iter().nth(1).unwrap(),
        custodian: None,
    };
    std::fs::write(&path, fake.to_json().as_bytes()).unwrap();
    let r = run_in(dir, &["ceremony", "rehearse", "c", "--yes"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("BAD  c/shard-2.json: FORGED"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("share 2: BAD (no usable output: c/shard-2.json), spoils 2 of 3 subsets"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("1 of 3 reconstructed"), "{}", r.stdout);
}

/// Without --yes the library asks once, on the console, before it opens
/// anything: "no" opens and writes nothing; "yes" goes on.
#[test]
fn the_library_asks_before_it_opens_anything() {
    use keyceremony::console::ScriptedConsole;
    use keyceremony::inputs::InputOptions;
    use keyceremony::rehearse::{rehearse, RehearseRequest};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    split_generated(&dir, 2, 3);
    let request = RehearseRequest {
        dir: dir.clone(),
        yes: false,
        inputs: InputOptions::default(),
        lead: None,
        witnesses: Vec::new(),
    };
    let mut events: Vec<keyceremony::events::Event> = Vec::new();
    let mut no =
        ScriptedConsole::new().expect_confirm("reconstruct from all 3 subsets of 2", false);
    let refused = rehearse(&request, &mut no, &mut events).unwrap_err();
    assert!(refused.to_string().contains("not confirmed"), "{refused}");
    no.finish();
    assert!(rehearsal_records(&dir).is_empty());

    let mut yes = ScriptedConsole::new().expect_confirm("open 3 outputs (0 sealed", true);
    let report = rehearse(&request, &mut yes, &mut events).unwrap();
    yes.finish();
    assert!(report.ok);
    assert_eq!(report.reconstructed(), 3);
    assert_eq!(report.subsets.len(), 3);
    assert_eq!(rehearsal_records(&dir).len(), 1);
    assert!(report.chained_to.is_none());
}

#[test]
fn the_lead_and_witnesses_named_are_in_the_signed_rehearsal_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    split_generated(&dir.join("c"), 2, 3);
    let h = run_in(
        dir,
        &[
            "ceremony",
            "rehearse",
            "c",
            "--yes",
            "--lead",
            "Lena Lead",
            "--witness",
            "Wim Witness",
            "--witness",
            "Wu Witness",
        ],
    );
    assert_eq!(h.code, 0, "{}\n{}", h.stdout, h.stderr);
    let records = rehearsal_records(&dir.join("c"));
    assert_eq!(records.len(), 1, "{records:?}");
    let path = dir.join("c").join(&records[0]);
    let text = std::fs::read_to_string(&path).unwrap();
    let line = |step: &str| -> serde_json::Value {
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["step"] == step)
            .unwrap_or_else(|| panic!("no {step} line: {text}"))
    };
    let r = line("rehearsal");
    assert_eq!(r["facts"]["lead"], "Lena Lead", "{r}");
    assert_eq!(
        r["facts"]["witnesses"],
        serde_json::json!(["Wim Witness", "Wu Witness"])
    );
    assert!(text.contains("\"lead\":\"Lena Lead\""), "header: {text}");
    let v = run_in(
        dir,
        &["ceremony", "verify-transcript", path.to_str().unwrap()],
    );
    assert_eq!(v.code, 0, "{}", v.stderr);
    // without them: recorded as not named
    let h = run_in(dir, &["ceremony", "rehearse", "c", "--yes"]);
    assert_eq!(h.code, 0, "{}", h.stderr);
    // a name with a control character is refused before anything is opened
    let h = run_in(
        dir,
        &["ceremony", "rehearse", "c", "--yes", "--lead", "Lena\nLead"],
    );
    assert_eq!(h.code, 2, "{}", h.stderr);
    assert_eq!(rehearsal_records(&dir.join("c")).len(), 2);
}
