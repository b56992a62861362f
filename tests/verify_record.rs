//! The custodian's yearly check (issue 11, point 4): `verify --record
//! ceremony.json SHARD` through the binary, for a shard file, a QR image
//! and a sealed share; and the refusals: a shard of another ceremony, a
//! forgery under the record's ceremony id, a shard given as the record, a
//! damaged record.

mod ceremony_support;
mod common;

use std::fs;
use std::path::Path;

use ceremony_support::*;
use common::{run, run_ceremony_with_yes, run_in, split_generated, testdata};
use keyceremony::secret::RootKey;
use keyceremony::shamir;
use keyceremony::shard::ShardFile;
use rand_core::OsRng;

fn known(dir: &Path) {
    for f in ["ceremony.json", "shard-1.json", "shard-2.json"] {
        fs::copy(testdata(&format!("known-key/{f}")), dir.join(f)).unwrap();
    }
}

#[test]
fn a_shard_file_of_the_record_passes_and_others_are_refused_naming_why() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    known(dir);
    let rec = ShardFile::parse(&fs::read(dir.join("shard-1.json")).unwrap()).unwrap();
    let id = rec.info.ceremony_id.to_string();
    let r = run_in(
        dir,
        &["verify", "--record", "ceremony.json", "shard-2.json"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "OK   shard-2.json: belongs to ceremony {id} of the record ceremony.json: share 2 of 5"
        )),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("verify: all good"));
    let j = run_in(
        dir,
        &[
            "--json",
            "verify",
            "--record",
            "ceremony.json",
            "shard-2.json",
        ],
    );
    let jj: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(jj["record"]["belong"][0]["id"], 2);

    // another ceremony's shard
    split_generated(&dir.join("other"), 2, 3);
    let r = run_in(
        dir,
        &["verify", "--record", "ceremony.json", "other/shard-1.json"],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("BAD  other/shard-1.json: belongs to ceremony KC-"),
        "{}",
        r.stdout
    );
    assert!(r
        .stdout
        .contains(&format!("not to ceremony {id} of the ceremony record")));
    assert!(
        !r.stdout.contains("OK   other/shard-1.json: belongs"),
        "{}",
        r.stdout
    );

    // a forgery under the record's id: passes alone, refused against the record
    let other = RootKey::generate();
    let (shares, commitments) = shamir::split(&other, rec.info.params, OsRng);
    let mut info = rec.info.clone();
    info.fingerprint = commitments.fingerprint();
    info.commitments = commitments;
    let fake = ShardFile {
        info,
        share: shares.into_iter().next().unwrap(),
        custodian: rec.custodian.clone(),
    };
    fs::write(dir.join("forged.json"), fake.to_json().as_bytes()).unwrap();
    assert_eq!(run_in(dir, &["verify", "forged.json"]).code, 0);
    let r = run_in(dir, &["verify", "--record", "ceremony.json", "forged.json"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("BAD  forged.json: FORGED"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("forged.json: belongs to"),
        "{}",
        r.stdout
    );

    // a shard as the record
    let r = run_in(dir, &["verify", "--record", "shard-1.json", "shard-2.json"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("shard-1.json: is a shard file, not a ceremony record"),
        "{}",
        r.stderr
    );
    // a damaged record
    let text = fs::read_to_string(dir.join("ceremony.json")).unwrap();
    fs::write(
        dir.join("bad.json"),
        text.replacen("\"threshold\": 3", "\"threshold\": 2", 1),
    )
    .unwrap();
    let r = run_in(dir, &["verify", "--record", "bad.json", "shard-2.json"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("bad.json"), "{}", r.stderr);
    // a missing record
    let r = run(["verify", "--record", "/nonexistent/ceremony.json", "x.json"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("/nonexistent/ceremony.json"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_qr_image_and_a_sealed_share_are_checked_against_the_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let plan = demo_plan(dir);
    let r = run_ceremony_with_yes(dir, &plan, PIN);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run_in(
        dir,
        &[
            "--test-tokens",
            "out/test-tokens",
            "verify",
            "--record",
            "out/ceremony.json",
            "out/shard-3.png",
            "out/shard-5.age",
            "--pin-file",
            "pin.txt",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("OK   out/shard-3.png: belongs to ceremony"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("share 3 of 5, held by Carol Cooper per the record"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("share 5 of 5, held by Erin Evans per the record"),
        "{}",
        r.stdout
    );
    // the demo's QR image against another ceremony's record: refused
    split_generated(&dir.join("other"), 2, 3);
    let r = run_in(
        dir,
        &[
            "verify",
            "--record",
            "other/ceremony.json",
            "out/shard-3.png",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("BAD  out/shard-3.png: belongs to ceremony"),
        "{}",
        r.stdout
    );
}
