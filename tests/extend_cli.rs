//! `keyceremony extend` through the binary (issue 11, point 2): new shares
//! at ids n+1.. on the same polynomial from t shares of any transport
//! (shard file, QR image, sealed share), as shard files, QR sheets or sealed
//! to a test token; they mix with the old shares under the old and the new
//! record; the old record is untouched; the transcript segment is signed and
//! chained. Refusals: an id in use (a share of a later extension), fewer
//! than t shares, a bad or foreign share, a non-empty folder, too many
//! shares.

mod ceremony_support;
mod common;

use std::fs;
use std::path::Path;

use ceremony_support::*;
use common::{run_ceremony_with_yes, run_in, split_generated, Run};

fn json_of(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

#[test]
fn new_shares_from_the_demo_ceremony_join_the_old_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let plan = demo_plan(dir);
    let r = run_ceremony_with_yes(dir, &plan, PIN);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let old_record = fs::read(dir.join("out/ceremony.json")).unwrap();
    // a third test token for a sealed new share
    let t = run_in(
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
    assert_eq!(t.code, 0, "{}", t.stderr);

    // from a shard file, a QR image and a sealed share: share 6 sealed, share 7 a QR sheet
    let e = run_in(
        dir,
        &[
            "--json",
            "--test-tokens",
            "out/test-tokens",
            "extend",
            "out/shard-1.json",
            "out/shard-2.png",
            "out/shard-5.age",
            "--record",
            "out/ceremony.json",
            "--add",
            "2",
            "--custodian",
            "Dora Dean",
            "--custodian",
            "Ed Eagle",
            "--seal-to",
            "41000003",
            "--qr",
            "--out",
            "more",
            "--pin-file",
            "pin.txt",
        ],
    );
    assert_eq!(e.code, 0, "{}\n{}", e.stdout, e.stderr);
    let j = json_of(&e);
    assert_eq!(j["shares"], 7);
    assert_eq!(j["previous_shares"], 5);
    assert_eq!(j["used"].as_array().unwrap().len(), 3);
    assert_eq!(
        names_in(&dir.join("more")),
        [
            "ceremony.json",
            "shard-6.age",
            "shard-7.html",
            "shard-7.json",
            "shard-7.png",
            "shard-7.svg",
            "transcript-extend.jsonl"
        ]
    );
    // the old record is untouched; the new one names every id
    assert_eq!(fs::read(dir.join("out/ceremony.json")).unwrap(), old_record);
    let rec: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("more/ceremony.json")).unwrap()).unwrap();
    assert_eq!(rec["shares"], 7);
    assert_eq!(rec["custodians"][5]["name"], "Dora Dean");
    assert_eq!(rec["custodians"][6]["id"], 7);
    let old: serde_json::Value = serde_json::from_slice(&old_record).unwrap();
    assert_eq!(rec["commitments"], old["commitments"]);
    assert_eq!(rec["key_fingerprint"], old["key_fingerprint"]);

    // old and new shares reconstruct the same key, under either record
    for record in ["out/ceremony.json", "more/ceremony.json"] {
        let a = run_in(
            dir,
            &[
                "--test-tokens",
                "out/test-tokens",
                "assemble",
                record,
                "out/shard-3.png",
                "more/shard-6.age",
                "more/shard-7.json",
                "--pin-file",
                "pin.txt",
                "--reveal",
            ],
        );
        assert_eq!(a.code, 0, "{record}: {}", a.stderr);
        assert_eq!(a.stdout.trim(), KEY_HEX, "{record}");
    }
    // the custodian's check with the new record, for a new share
    let v = run_in(
        dir,
        &[
            "verify",
            "--record",
            "more/ceremony.json",
            "more/shard-7.png",
        ],
    );
    assert_eq!(v.code, 0, "{}", v.stdout);
    assert!(
        v.stdout
            .contains("share 7 of 7, held by Ed Eagle per the record"),
        "{}",
        v.stdout
    );

    // ...and with the old record: of the ceremony, but added after it
    let v = run_in(
        dir,
        &[
            "verify",
            "--record",
            "out/ceremony.json",
            "more/shard-7.json",
        ],
    );
    assert_eq!(v.code, 0, "{}", v.stdout);
    assert!(
        v.stdout.contains(
            "share 7 is not among the record's 5 ids: it was added later (keyceremony extend)"
        ),
        "{}",
        v.stdout
    );

    // the segment: signed, chained to the ceremony transcript, the record's key still vouches for that
    let t = run_in(
        dir,
        &[
            "--json",
            "ceremony",
            "verify-transcript",
            "out/transcript.jsonl",
            "--record",
            "more/ceremony.json",
        ],
    );
    assert_eq!(t.code, 0, "{}", t.stderr);
    let final_hash = json_of(&t)["final_hash"].as_str().unwrap().to_string();
    assert_eq!(j["chained_to"], final_hash.as_str());
    let s = run_in(
        dir,
        &[
            "ceremony",
            "verify-transcript",
            "more/transcript-extend.jsonl",
            "--chain-from",
            &final_hash,
        ],
    );
    assert_eq!(s.code, 0, "{}", s.stderr);
    let seg = fs::read_to_string(dir.join("more/transcript-extend.jsonl")).unwrap();
    assert!(seg.contains("\"new_ids\":[6,7]"), "{seg}");
    assert!(seg.contains("\"step\":\"share-added\""), "{seg}");

    // nothing secret in what was printed or in the segment and record
    let shares = shares_in_outputs(&out_dir(dir), &dir.join("out/test-tokens"));
    scan_text("stdout", &e.stdout, &shares);
    scan_text("stderr", &e.stderr, &shares);
    scan_text("segment", &seg, &shares);

    // an id in use: extending from the old record again with a new share among the inputs
    let again = run_in(
        dir,
        &[
            "extend",
            "out/shard-1.json",
            "more/shard-7.json",
            "out/shard-3.png",
            "--record",
            "out/ceremony.json",
            "--add",
            "1",
            "--out",
            "again",
        ],
    );
    assert_eq!(again.code, 1, "{}", again.stdout);
    assert!(
        again.stderr.contains(
            "more/shard-7.json holds share 7, beyond the 5 shares of the record out/ceremony.json"
        ) && again.stderr.contains("ids from 6 on are in use"),
        "{}",
        again.stderr
    );
    assert!(!dir.join("again").exists());
}

fn out_dir(dir: &Path) -> std::path::PathBuf {
    dir.join("out")
}

#[test]
fn refusals_leave_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    split_generated(&dir.join("c"), 2, 3);
    split_generated(&dir.join("other"), 2, 3);
    let ext = |extra: &[&str]| {
        let mut args = vec!["extend"];
        args.extend_from_slice(extra);
        run_in(dir, &args)
    };
    // fewer than t
    let r = ext(&[
        "c/shard-1.json",
        "--record",
        "c/ceremony.json",
        "--add",
        "1",
        "--out",
        "x",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("need 2 good shards"), "{}", r.stderr);
    // a foreign share among them
    let r = ext(&[
        "c/shard-1.json",
        "c/shard-2.json",
        "other/shard-3.json",
        "--record",
        "c/ceremony.json",
        "--add",
        "1",
        "--out",
        "x",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("other/shard-3.json: belongs to ceremony"),
        "{}",
        r.stderr
    );
    // a damaged share among them
    let text = fs::read_to_string(dir.join("c/shard-3.json")).unwrap();
    fs::write(
        dir.join("bad.json"),
        text.replacen("\"id\": 3", "\"id\": 2", 1),
    )
    .unwrap();
    let r = ext(&[
        "c/shard-1.json",
        "c/shard-2.json",
        "bad.json",
        "--record",
        "c/ceremony.json",
        "--add",
        "1",
        "--out",
        "x",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("bad.json"), "{}", r.stderr);
    // the record given is a shard
    let r = ext(&[
        "c/shard-1.json",
        "c/shard-2.json",
        "--record",
        "c/shard-3.json",
        "--add",
        "1",
        "--out",
        "x",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("c/shard-3.json: is a shard file, not the ceremony record"),
        "{}",
        r.stderr
    );
    // more than 255 shares
    let r = ext(&[
        "c/shard-1.json",
        "c/shard-2.json",
        "--record",
        "c/ceremony.json",
        "--add",
        "253",
        "--out",
        "x",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--add 253"), "{}", r.stderr);
    // no share added
    let r = ext(&[
        "c/shard-1.json",
        "c/shard-2.json",
        "--record",
        "c/ceremony.json",
        "--add",
        "0",
        "--out",
        "x",
    ]);
    assert_eq!(r.code, 2);
    assert!(!dir.join("x").exists());
    // into a folder that is not empty (the old one): refused, nothing replaced
    let before = fs::read(dir.join("c/ceremony.json")).unwrap();
    let r = ext(&[
        "c/shard-1.json",
        "c/shard-2.json",
        "--record",
        "c/ceremony.json",
        "--add",
        "1",
        "--out",
        "c",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not empty"), "{}", r.stderr);
    assert_eq!(fs::read(dir.join("c/ceremony.json")).unwrap(), before);
    assert!(!dir.join("c/shard-4.json").exists());

    // a plain split (no transcript): the segment continues nothing
    let r = ext(&[
        "c/shard-2.json",
        "c/shard-3.json",
        "--record",
        "c/ceremony.json",
        "--add",
        "2",
        "--out",
        "y",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = run_in(
        dir,
        &[
            "verify",
            "y/ceremony.json",
            "y/shard-4.json",
            "y/shard-5.json",
            "c/shard-1.json",
        ],
    );
    assert_eq!(v.code, 0, "{}", v.stdout);
    assert!(
        v.stdout
            .contains("3 good shares of 5 present (ids [1, 4, 5])"),
        "{}",
        v.stdout
    );
    let s = run_in(
        dir,
        &[
            "ceremony",
            "verify-transcript",
            "y/transcript-extend.jsonl",
            "--chain-from",
            &"0".repeat(64),
        ],
    );
    assert_eq!(s.code, 0, "{}", s.stderr);
}

/// `extend --protect-with-passphrase N` writes new share N as
/// shard-<N>.json.age under its passphrase (from `--new-shard-passphrase-file
/// N=FILE`; the bare `--shard-passphrase-file FILE` opens the input shards),
/// and that share assembles the key with an old one. Refused with nothing
/// written: an id that is not a new share's, a sealed one, N=FILE without
/// the N named, a bare FILE, a short passphrase.
#[test]
fn extend_writes_new_shares_under_a_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(dir.join("key.hex"), format!("{KEY_HEX}\n")).unwrap();
    fs::write(dir.join("old.pass"), "the old share two passphrase\n").unwrap();
    fs::write(dir.join("new.pass"), "the new share five passphrase\n").unwrap();
    fs::write(dir.join("short.pass"), "short\n").unwrap();
    let s = run_in(
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
            "c",
            "--protect-with-passphrase",
            "2",
            "--shard-passphrase-file",
            "2=old.pass",
        ],
    );
    assert_eq!(s.code, 0, "{}", s.stderr);
    fs::write(dir.join("pin.txt"), format!("{PIN}\n")).unwrap();
    let t = run_in(
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
    assert_eq!(t.code, 0, "{}", t.stderr);
    let ext = |extra: &[&str]| {
        let mut args = vec![
            "--json",
            "extend",
            "c/shard-1.json",
            "c/shard-2.json.age",
            "--shard-passphrase-file",
            "old.pass",
            "--record",
            "c/ceremony.json",
            "--add",
            "2",
        ];
        args.extend_from_slice(extra);
        run_in(dir, &args)
    };
    let e = ext(&[
        "--protect-with-passphrase",
        "5",
        "--new-shard-passphrase-file",
        "5=new.pass",
        "--out",
        "more",
    ]);
    assert_eq!(e.code, 0, "{}\n{}", e.stdout, e.stderr);
    assert_eq!(
        common::files_below(&dir.join("more")),
        [
            "ceremony.json",
            "shard-4.json",
            "shard-5.json.age",
            "transcript-extend.jsonl"
        ]
    );
    let j = json_of(&e);
    assert_eq!(j["new_shares"][1]["id"], 5);
    assert!(j["new_shares"][1]["files"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("shard-5.json.age"));
    assert_eq!(j["passphrase_protected"], serde_json::json!([5]));
    // the new passphrase share and an old share give back the key
    let key = run_in(
        dir,
        &[
            "assemble",
            "more/ceremony.json",
            "c/shard-3.json",
            "more/shard-5.json.age",
            "--shard-passphrase-file",
            "new.pass",
            "--reveal",
        ],
    );
    assert_eq!(key.code, 0, "{}", key.stderr);
    assert_eq!(key.stdout.trim(), KEY_HEX);
    // not the old share's passphrase
    let v = run_in(
        dir,
        &[
            "verify",
            "more/shard-5.json.age",
            "--shard-passphrase-file",
            "old.pass",
        ],
    );
    assert_eq!(v.code, 1, "{}", v.stderr);
    assert!(
        v.stdout.contains("the passphrase does not open this file"),
        "{}",
        v.stdout
    );

    // refusals, each before anything is written
    for (extra, problem) in [
        (
            &["--protect-with-passphrase", "3"][..],
            "the new shares are numbered 4 to 5",
        ),
        (
            &[
                "--test-tokens",
                "tokens",
                "--seal-to",
                "41000001",
                "--protect-with-passphrase",
                "4",
            ][..],
            "share 4 is sealed to a token",
        ),
        (
            &["--new-shard-passphrase-file", "4=new.pass"][..],
            "share 4 is not named by --protect-with-passphrase 4",
        ),
        (
            &[
                "--protect-with-passphrase",
                "4",
                "--new-shard-passphrase-file",
                "new.pass",
            ][..],
            "--new-shard-passphrase-file \"new.pass\": give N=FILE",
        ),
        (
            &[
                "--protect-with-passphrase",
                "4",
                "--new-shard-passphrase-file",
                "4=short.pass",
            ][..],
            "has only 5 characters",
        ),
    ] {
        let mut args = extra.to_vec();
        args.extend(["--out", "x"]);
        let r = ext(&args);
        assert_ne!(r.code, 0, "{extra:?}: {}", r.stderr);
        assert!(r.stderr.contains(problem), "{extra:?}: {}", r.stderr);
        assert!(!dir.join("x").exists(), "{extra:?}");
    }
    // a short one is taken when asked for
    let r = ext(&[
        "--protect-with-passphrase",
        "4",
        "--new-shard-passphrase-file",
        "4=short.pass",
        "--allow-short-passphrase",
        "--out",
        "y",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(dir.join("y/shard-4.json.age").is_file());
}

/// Typed at the terminal: the new share's passphrase is asked (twice) before
/// any input share is read, then the old passphrase shard's.
#[test]
fn extend_asks_the_new_passphrase_before_reading_the_shares() {
    if !common::have_script() {
        eprintln!("skipped: script(1) is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let p = |rel: &str| dir.join(rel).to_str().unwrap().to_string();
    fs::write(dir.join("key.hex"), format!("{KEY_HEX}\n")).unwrap();
    fs::write(dir.join("old.pass"), "the old share two passphrase\n").unwrap();
    let s = run_in(
        dir,
        &[
            "split",
            "-t",
            "2",
            "-n",
            "2",
            "--key-file",
            "key.hex",
            "--out",
            "c",
            "--protect-with-passphrase",
            "2",
            "--shard-passphrase-file",
            "2=old.pass",
        ],
    );
    assert_eq!(s.code, 0, "{}", s.stderr);
    const NEW: &str = "typed new share three passphrase";
    let (shard1, shard2, record, out) = (
        p("c/shard-1.json"),
        p("c/shard-2.json.age"),
        p("c/ceremony.json"),
        p("more"),
    );
    let (code, shown) = common::on_terminal(
        &[
            "extend",
            &shard1,
            &shard2,
            "--record",
            &record,
            "--add",
            "1",
            "--protect-with-passphrase",
            "3",
            "--out",
            &out,
        ],
        &[],
        &[
            ("Passphrase for share 3", NEW),
            ("The same passphrase again", NEW),
            ("Passphrase for", "the old share two passphrase"),
        ],
    );
    assert_eq!(code, 0, "{shown}");
    assert!(!shown.contains(NEW), "the passphrase was echoed: {shown}");
    // the old shard's prompt names its file, and comes last
    let first_new = shown.find("Passphrase for share 3").unwrap();
    let old = shown.rfind("Passphrase for").unwrap();
    assert!(first_new < old, "{shown}");
    assert!(shown[old..].contains("shard-2.json.age"), "{shown}");
    fs::write(dir.join("new.pass"), format!("{NEW}\n")).unwrap();
    let key = run_in(
        dir,
        &[
            "assemble",
            "more/ceremony.json",
            "c/shard-1.json",
            "more/shard-3.json.age",
            "--shard-passphrase-file",
            "new.pass",
            "--reveal",
        ],
    );
    assert_eq!(key.code, 0, "{}", key.stderr);
    assert_eq!(key.stdout.trim(), KEY_HEX);
}
