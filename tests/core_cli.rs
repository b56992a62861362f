//! End-to-end tests of split / verify / assemble, run through the binary,
//! plus the fixed vectors in testdata/.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{files_below, run, split_generated, testdata};
use keyceremony::secret::RootKey;
use keyceremony::shard::ShardFile;
use serde_json::Value;

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn known_key_hex() -> String {
    fs::read_to_string(testdata("known-key/key.hex")).unwrap()
}

// ---------------------------------------------------------------- vectors

#[test]
fn known_key_vector_assembles_to_the_known_key() {
    let r = run([
        "assemble",
        p(&testdata("known-key/shard-1.json")),
        p(&testdata("known-key/shard-3.json")),
        p(&testdata("known-key/shard-5.json")),
        "--reveal",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, known_key_hex());
}

#[test]
fn known_key_vector_verifies_as_a_set_with_its_record() {
    let mut args = vec!["verify".to_string()];
    for f in [
        "ceremony.json",
        "shard-1.json",
        "shard-2.json",
        "shard-3.json",
        "shard-4.json",
        "shard-5.json",
    ] {
        args.push(testdata(&format!("known-key/{f}")).display().to_string());
    }
    let r = run(&args);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("verify: all good"));
    assert!(r.stdout.contains("5 good shares of 5"));
}

#[test]
fn known_key_record_matches_the_key() {
    let key = RootKey::from_hex(&known_key_hex()).unwrap();
    let rec: Value =
        serde_json::from_str(&fs::read_to_string(testdata("known-key/ceremony.json")).unwrap())
            .unwrap();
    assert_eq!(rec["key_fingerprint"], key.fingerprint().to_string());
    // C_0 = k·G
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let c0 = hex::encode(
        key.public_point()
            .to_affine()
            .to_encoded_point(true)
            .as_bytes(),
    );
    assert_eq!(rec["commitments"][0], c0);
    assert_eq!(rec["threshold"], 3);
    assert_eq!(rec["shares"], 5);
}

#[test]
fn shard_files_reserialise_byte_for_byte() {
    for i in 1..=5 {
        let bytes = fs::read(testdata(&format!("known-key/shard-{i}.json"))).unwrap();
        let shard = ShardFile::parse(&bytes).unwrap();
        assert_eq!(shard.to_json().as_bytes(), &bytes[..], "shard-{i}.json");
    }
}

#[test]
fn spike_vectors_are_reproduced_byte_for_byte() {
    // The reference lines, as SPIKE's own code wrote them (copied from shared/vectors).
    let reference = fs::read_to_string(testdata("spike-shards-reference.txt")).unwrap();
    let reference: Vec<&str> = reference
        .lines()
        .filter(|l| l.starts_with("spike:"))
        .collect();
    assert_eq!(reference.len(), 7);
    let tmp = tempfile::tempdir().unwrap();
    let rk = testdata("spike/rootkey.hex");
    let split_dir = tmp.path().join("split");
    let r = run([
        "split",
        "-t",
        "2",
        "-n",
        "2",
        "--key-file",
        p(&rk),
        "--out",
        p(&split_dir),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (t, n) in [(2u16, 3u16), (3, 5)] {
        let out = tmp.path().join(format!("spike-{t}-{n}"));
        let r = run([
            "assemble",
            p(&split_dir.join("shard-1.json")),
            p(&split_dir.join("shard-2.json")),
            "--spike-out",
            p(&out),
            "--spike-threshold",
            &t.to_string(),
            "--spike-shares",
            &n.to_string(),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        for i in 1..=n {
            let name = format!("spike.recovery.{i}.txt");
            let ours = fs::read(out.join(&name)).unwrap();
            let fixed = fs::read(testdata(&format!("spike/{t}-of-{n}/{name}"))).unwrap();
            assert_eq!(ours, fixed, "{t}-of-{n} {name}");
            assert!(!ours.ends_with(b"\n"));
            let mode = fs::metadata(out.join(&name)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
    // every reference line is one of our fixed files, in the right set
    let sets = [("2-of-3", &reference[..3]), ("3-of-5", &reference[3..])];
    for (set, lines) in sets {
        for (i, line) in lines.iter().enumerate() {
            let ours = fs::read_to_string(testdata(&format!(
                "spike/{set}/spike.recovery.{}.txt",
                i + 1
            )))
            .unwrap();
            assert_eq!(&ours, line, "{set} shard {}", i + 1);
        }
    }
}

#[test]
fn split_from_spike_recovers_spikes_root_key() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let d = testdata("spike/3-of-5");
    let r = run([
        "split",
        "-t",
        "2",
        "-n",
        "3",
        "--out",
        p(&out),
        "--spike-threshold",
        "3",
        "--from-spike",
        p(&d.join("spike.recovery.2.txt")),
        p(&d.join("spike.recovery.4.txt")),
        p(&d.join("spike.recovery.5.txt")),
        p(&d.join("spike.recovery.1.txt")),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run([
        "assemble",
        p(&out.join("shard-1.json")),
        p(&out.join("shard-3.json")),
        "--reveal",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rk = fs::read_to_string(testdata("spike/rootkey.hex")).unwrap();
    assert_eq!(r.stdout, format!("{rk}\n"));
}

// ---------------------------------------------------------------- flows

#[test]
fn split_writes_private_files_and_every_t_subset_assembles() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let rep = split_generated(&out, 3, 5);
    assert_eq!(
        files_below(&out),
        vec![
            "ceremony.json",
            "shard-1.json",
            "shard-2.json",
            "shard-3.json",
            "shard-4.json",
            "shard-5.json"
        ]
    );
    for f in files_below(&out) {
        let mode = fs::metadata(out.join(&f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let dir_mode = fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    let fp = rep["key_fingerprint"].as_str().unwrap().to_string();
    let mut keys = Vec::new();
    for a in 1..=5 {
        for b in a + 1..=5 {
            for c in b + 1..=5 {
                let r = run([
                    "assemble",
                    p(&out.join(format!("shard-{a}.json"))),
                    p(&out.join(format!("shard-{b}.json"))),
                    p(&out.join(format!("shard-{c}.json"))),
                    "--reveal",
                ]);
                assert_eq!(r.code, 0, "{a}{b}{c}: {}", r.stderr);
                keys.push(r.stdout.clone());
                let k = RootKey::from_hex(&r.stdout).unwrap();
                assert_eq!(k.fingerprint().to_string(), fp);
            }
        }
    }
    assert_eq!(keys.len(), 10);
    assert!(keys.iter().all(|k| *k == keys[0]));
    assert_eq!(keys[0].len(), 65);
    assert!(keys[0][..64]
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
}

#[test]
fn reveal_prints_only_the_key_on_stdout() {
    let r = run([
        "assemble",
        p(&testdata("known-key/shard-2.json")),
        p(&testdata("known-key/shard-4.json")),
        p(&testdata("known-key/shard-5.json")),
        "--reveal",
    ]);
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout, known_key_hex());
    assert!(!r.stderr.contains(known_key_hex().trim()));
}

#[test]
fn key_out_is_private_and_never_overwritten_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let key_out = tmp.path().join("root.key");
    let shards = [
        testdata("known-key/shard-1.json"),
        testdata("known-key/shard-2.json"),
        testdata("known-key/shard-3.json"),
    ];
    let mut args: Vec<String> = vec!["assemble".into()];
    args.extend(shards.iter().map(|s| s.display().to_string()));
    args.extend(["--key-out".into(), key_out.display().to_string()]);
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(fs::read_to_string(&key_out).unwrap(), known_key_hex());
    assert_eq!(
        fs::metadata(&key_out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    fs::write(&key_out, "keep me").unwrap();
    let r = run(&args);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("already exists") && r.stderr.contains("--force"),
        "{}",
        r.stderr
    );
    assert_eq!(fs::read_to_string(&key_out).unwrap(), "keep me");
    args.push("--force".into());
    assert_eq!(run(&args).code, 0);
    assert_eq!(fs::read_to_string(&key_out).unwrap(), known_key_hex());
}

#[test]
fn dry_run_writes_nothing_and_shows_no_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let r = common::bin()
        .current_dir(tmp.path())
        .args([
            "assemble",
            p(&testdata("known-key/shard-1.json")),
            p(&testdata("known-key/shard-2.json")),
            p(&testdata("known-key/shard-3.json")),
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert!(r.status.success());
    assert!(files_below(tmp.path()).is_empty());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(!all.contains(known_key_hex().trim()));
}

#[test]
fn json_flag_works_anywhere_and_hides_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let r = run([
        "--json",
        "split",
        "-t",
        "2",
        "-n",
        "3",
        "--generate",
        "--out",
        p(&out),
    ]);
    assert_eq!(r.code, 0);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["files"].as_array().unwrap().len(), 4);
    let r = run([
        "verify",
        p(&out.join("shard-1.json")),
        p(&out.join("shard-2.json")),
        "--json",
    ]);
    assert_eq!(r.code, 0);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["set"]["reconstructed_matches_fingerprint"], true);
    let value1: Value =
        serde_json::from_str(&fs::read_to_string(out.join("shard-1.json")).unwrap()).unwrap();
    assert!(!r.stdout.contains(value1["value"].as_str().unwrap()));
    let r = run([
        "assemble",
        "--json",
        p(&out.join("shard-1.json")),
        p(&out.join("shard-3.json")),
        "--dry-run",
    ]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert!(v.get("key").is_none());
    let r = run([
        "assemble",
        "--json",
        p(&out.join("shard-1.json")),
        p(&out.join("shard-3.json")),
        "--reveal",
    ]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["key"].as_str().unwrap().len(), 64);
    // errors are JSON too
    let r = run([
        "assemble",
        "--json",
        p(&out.join("shard-1.json")),
        "--dry-run",
    ]);
    assert_eq!(r.code, 1);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("need 2"));
}

#[test]
fn split_refuses_a_non_empty_folder_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("notes.txt"), "x").unwrap();
    let r = run([
        "split",
        "-t",
        "2",
        "-n",
        "2",
        "--generate",
        "--out",
        p(tmp.path()),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not empty"), "{}", r.stderr);
    assert_eq!(files_below(tmp.path()), vec!["notes.txt"]);
    let r = run([
        "split",
        "-t",
        "2",
        "-n",
        "2",
        "--generate",
        "--out",
        p(tmp.path()),
        "--force",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(files_below(tmp.path()).len(), 4);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(
        run([
            "split",
            "-t",
            "1",
            "-n",
            "3",
            "--generate",
            "--out",
            "/tmp/x-never"
        ])
        .code,
        2
    );
    assert_eq!(
        run([
            "split",
            "-t",
            "4",
            "-n",
            "3",
            "--generate",
            "--out",
            "/tmp/x-never"
        ])
        .code,
        2
    );
    assert_eq!(
        run([
            "split",
            "-t",
            "2",
            "-n",
            "256",
            "--generate",
            "--out",
            "/tmp/x-never"
        ])
        .code,
        2
    );
    assert_eq!(
        run(["split", "-t", "2", "-n", "3", "--out", "/tmp/x-never"]).code,
        2
    );
    assert_eq!(run(["assemble", "x.json"]).code, 2);
    assert_eq!(run(["assemble", "x.json", "--reveal", "--dry-run"]).code, 2);
    assert!(!Path::new("/tmp/x-never").exists());
}

// ---------------------------------------------------------------- bad input

/// A scratch copy of the known-key ceremony to damage.
fn scratch() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("k");
    fs::create_dir(&d).unwrap();
    for f in [
        "ceremony.json",
        "shard-1.json",
        "shard-2.json",
        "shard-3.json",
        "shard-4.json",
        "shard-5.json",
    ] {
        fs::copy(testdata(&format!("known-key/{f}")), d.join(f)).unwrap();
    }
    (tmp, d)
}

fn edit_json(path: &Path, f: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    f(&mut v);
    fs::write(path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// verify on one damaged file fails, naming the file and the problem.
fn assert_bad(path: &Path, expect: &str) {
    let r = run(["verify", p(path)]);
    assert_eq!(
        r.code,
        1,
        "verify accepted {}: {}",
        path.display(),
        r.stdout
    );
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("BAD"))
        .unwrap_or_else(|| panic!("no BAD line: {}", r.stdout));
    assert!(line.contains(p(path)), "file not named: {line}");
    assert!(
        line.to_lowercase().contains(&expect.to_lowercase()),
        "expected {expect:?} in {line}"
    );
    // never any share value in the messages
    let v: Value =
        serde_json::from_str(&fs::read_to_string(testdata("known-key/shard-1.json")).unwrap())
            .unwrap();
    assert!(!r.stdout.contains(v["value"].as_str().unwrap()));
}

#[test]
fn bad_empty_file() {
    let (_t, d) = scratch();
    fs::write(d.join("shard-1.json"), "").unwrap();
    assert_bad(&d.join("shard-1.json"), "empty");
}

#[test]
fn bad_truncated_file() {
    let (_t, d) = scratch();
    let f = d.join("shard-1.json");
    let bytes = fs::read(&f).unwrap();
    fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    assert_bad(&f, "truncated");
}

#[test]
fn bad_not_json() {
    let (_t, d) = scratch();
    let f = d.join("shard-1.json");
    fs::write(&f, "{ this is not json").unwrap();
    assert_bad(&f, "not json");
    fs::write(&f, "hello, I am a text file").unwrap();
    assert_bad(&f, "not a shard file");
}

#[test]
fn bad_unknown_format_or_version() {
    let (_t, d) = scratch();
    let f = d.join("shard-1.json");
    edit_json(&f, |v| v["format"] = "someone-elses-shard".into());
    assert_bad(&f, "unknown format");
    let f = d.join("shard-2.json");
    edit_json(&f, |v| v["version"] = 2.into());
    assert_bad(&f, "version 2 is not supported");
    let f = d.join("shard-3.json");
    edit_json(&f, |v| {
        v.as_object_mut().unwrap().remove("format");
    });
    assert_bad(&f, "without a \"format\" field");
}

#[test]
fn bad_values() {
    let (_t, d) = scratch();
    let cases: [(&str, Value, &str); 5] = [
        ("shard-1.json", "zz".repeat(32).into(), "hex"),
        ("shard-2.json", "ab".repeat(31).into(), "hex"),
        (
            "shard-3.json",
            "ff".repeat(32).into(),
            "not below the p-256 group order",
        ),
        ("shard-4.json", "00".repeat(32).into(), "zero"),
        ("shard-5.json", "AB".repeat(32).into(), "lowercase hex"),
    ];
    for (file, value, expect) in cases {
        let f = d.join(file);
        edit_json(&f, |v| v["value"] = value);
        assert_bad(&f, expect);
    }
}

#[test]
fn bad_ids() {
    let (_t, d) = scratch();
    let f = d.join("shard-1.json");
    edit_json(&f, |v| v["id"] = 0.into());
    assert_bad(&f, "out of range");
    let f = d.join("shard-2.json");
    edit_json(&f, |v| v["id"] = 6.into());
    assert_bad(&f, "out of range");
    // a valid id that is not the share's: caught by the commitments
    let f = d.join("shard-3.json");
    edit_json(&f, |v| v["id"] = 4.into());
    assert_bad(&f, "commitments");
}

#[test]
fn bad_one_flipped_bit_in_a_value_is_caught_by_the_commitments() {
    let (_t, d) = scratch();
    for bit in [0usize, 77, 255] {
        let f = d.join("shard-2.json");
        fs::copy(testdata("known-key/shard-2.json"), &f).unwrap();
        edit_json(&f, |v| {
            let mut bytes = hex::decode(v["value"].as_str().unwrap()).unwrap();
            bytes[bit / 8] ^= 1 << (bit % 8);
            v["value"] = hex::encode(bytes).into();
        });
        assert_bad(&f, "feldman commitments");
    }
}

#[test]
fn bad_altered_commitments() {
    let (_t, d) = scratch();
    // a commitment that is not a point
    let f = d.join("shard-1.json");
    edit_json(&f, |v| {
        v["commitments"][1] = format!("02{}", "ff".repeat(32)).into()
    });
    assert_bad(&f, "commitment 1 is not a valid compressed p-256 point");
    // a valid point, from elsewhere: the share no longer matches
    let f = d.join("shard-2.json");
    let other = fs::read_to_string(testdata("known-key/shard-3.json")).unwrap();
    let other: Value = serde_json::from_str(&other).unwrap();
    let c0 = other["commitments"][0].clone();
    edit_json(&f, |v| v["commitments"][2] = c0);
    assert_bad(&f, "commitments");
    // the first commitment changed: the fingerprint no longer matches
    let f = d.join("shard-3.json");
    let c1 = other["commitments"][1].clone();
    edit_json(&f, |v| v["commitments"][0] = c1);
    assert_bad(&f, "does not match the commitments");
    // metadata changed: caught by the checksum
    let f = d.join("shard-4.json");
    edit_json(&f, |v| v["custodian"] = "Mallory".into());
    assert_bad(&f, "checksum");
}

#[test]
fn bad_consistent_forgery_is_caught_by_the_set() {
    // A forger who knows d can move C_1 by d·G and the value by d·id: the shard
    // then passes alone, but it no longer agrees with the record or the others.
    use p256::elliptic_curve::PrimeField;
    use p256::{ProjectivePoint, Scalar};
    let (_t, d) = scratch();
    let f = d.join("shard-2.json");
    let shard = ShardFile::parse(&fs::read(&f).unwrap()).unwrap();
    let mut pts: Vec<Vec<u8>> = shard
        .info
        .commitments
        .to_compressed()
        .iter()
        .map(|c| c.to_vec())
        .collect();
    let delta = Scalar::from(12345u64);
    {
        use p256::elliptic_curve::group::GroupEncoding;
        let enc =
            p256::AffinePoint::from_bytes(p256::CompressedPoint::from_slice(&pts[1])).unwrap();
        let moved = (ProjectivePoint::from(enc) + ProjectivePoint::GENERATOR * delta).to_affine();
        pts[1] = moved.to_bytes().to_vec();
    }
    let value =
        Scalar::from_repr(*p256::FieldBytes::from_slice(shard.share.expose_value())).unwrap();
    let forged_value = value + delta * Scalar::from(2u64);
    let mut forged = shard.clone();
    forged.info.commitments = keyceremony::shamir::Commitments::from_compressed(&pts).unwrap();
    forged.share =
        keyceremony::shamir::Share::new(shard.share.id(), forged_value.to_repr().as_slice())
            .unwrap();
    fs::write(&f, forged.to_json().as_bytes()).unwrap();
    // alone it passes (that is the limit of a lone check)...
    assert_eq!(run(["verify", p(&f)]).code, 0);
    // ...but with the record it is named as forged
    let r = run(["verify", p(&d.join("ceremony.json")), p(&f)]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains(&format!("BAD  {}: FORGED", p(&f))),
        "{}",
        r.stdout
    );
    // with the other shards and no record, the set is refused as forgery:
    // counting shards cannot tell the real split from a made one
    let r = run([
        "verify",
        p(&d.join("shard-1.json")),
        p(&f),
        p(&d.join("shard-3.json")),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("BAD  FORGERY") && r.stdout.contains(p(&f)),
        "{}",
        r.stdout
    );
    let honest_and_forged = [
        d.join("shard-1.json"),
        f.clone(),
        d.join("shard-3.json"),
        d.join("shard-4.json"),
    ];
    let honest_and_forged = honest_and_forged.iter().map(|x| p(x));
    let r = run(["assemble", "--reveal"]
        .into_iter()
        .chain(honest_and_forged.clone()));
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("FORGERY"), "{}", r.stderr);
    // with the record, assemble leaves it out and still returns the right key
    let r = run(["assemble", "--reveal", p(&d.join("ceremony.json"))]
        .into_iter()
        .chain(honest_and_forged));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, known_key_hex());
    assert!(
        r.stderr.contains("left out") && r.stderr.contains(p(&f)),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_duplicate_ids() {
    let (_t, d) = scratch();
    fs::copy(d.join("shard-2.json"), d.join("copy-of-2.json")).unwrap();
    let r = run([
        "verify",
        p(&d.join("shard-2.json")),
        p(&d.join("copy-of-2.json")),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("both hold share 2"), "{}", r.stdout);
    assert!(r.stdout.contains("copy-of-2.json"));
    // assemble counts a share once: two copies of one plus one other is not three
    let r = run([
        "assemble",
        p(&d.join("shard-2.json")),
        p(&d.join("copy-of-2.json")),
        p(&d.join("shard-3.json")),
        "--dry-run",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("need 3 good shards") && r.stderr.contains("have 2"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_shards_of_two_ceremonies() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    split_generated(&a, 2, 3);
    split_generated(&b, 2, 3);
    let r = run([
        "verify",
        p(&a.join("shard-1.json")),
        p(&a.join("shard-2.json")),
        p(&b.join("shard-3.json")),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains(&format!(
            "BAD  {}: belongs to ceremony",
            p(&b.join("shard-3.json"))
        )),
        "{}",
        r.stdout
    );
    let r = run([
        "assemble",
        p(&a.join("shard-1.json")),
        p(&b.join("shard-2.json")),
        "--dry-run",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("do not all come from one split"),
        "{}",
        r.stderr
    );
    let r = run([
        "assemble",
        p(&a.join("shard-1.json")),
        p(&a.join("shard-2.json")),
        p(&b.join("shard-2.json")),
        "--reveal",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("more than one ceremony")
            && r.stderr.contains(p(&b.join("shard-2.json"))),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_t_minus_one_shards() {
    let r = run([
        "assemble",
        p(&testdata("known-key/shard-1.json")),
        p(&testdata("known-key/shard-4.json")),
        "--reveal",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("need 3 good shards") && r.stderr.contains("have 2"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_unreadable_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let dangling = tmp.path().join("gone.json");
    std::os::unix::fs::symlink(tmp.path().join("nowhere"), &dangling).unwrap();
    assert_bad(&dangling, "cannot read");
    assert_bad(tmp.path(), "is a folder");
    let locked = tmp.path().join("locked.json");
    fs::copy(testdata("known-key/shard-1.json"), &locked).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::read(&locked).is_ok() {
        eprintln!(
            "SKIPPED part of bad_unreadable_inputs: running as root, mode 000 does not stop reads"
        );
    } else {
        assert_bad(&locked, "cannot open");
    }
}

#[test]
fn bad_output_folder_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    fs::write(&file, "x").unwrap();
    let r = run([
        "split",
        "-t",
        "2",
        "-n",
        "3",
        "--generate",
        "--out",
        p(&file.join("out")),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("a-file/out"), "{}", r.stderr);
    assert_eq!(files_below(tmp.path()), vec!["a-file"]);
    // --spike-out into an unusable place: nothing half-written
    let r = run([
        "assemble",
        p(&testdata("known-key/shard-1.json")),
        p(&testdata("known-key/shard-2.json")),
        p(&testdata("known-key/shard-3.json")),
        "--spike-out",
        p(&file.join("spike")),
        "--spike-threshold",
        "2",
        "--spike-shares",
        "3",
    ]);
    assert_eq!(r.code, 1);
    assert_eq!(files_below(tmp.path()), vec!["a-file"]);
    // a read-only folder (when not root)
    let ro = tmp.path().join("ro");
    fs::create_dir(&ro).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o500)).unwrap();
    let r = run(["split", "-t", "2", "-n", "3", "--generate", "--out", p(&ro)]);
    if r.code == 0 {
        eprintln!("SKIPPED part of bad_output_folder_leaves_nothing_behind: running as root, mode 500 does not stop writes");
    } else {
        assert!(r.stderr.contains("ro"), "{}", r.stderr);
        assert!(files_below(&ro).is_empty());
    }
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn bad_spike_files() {
    let tmp = tempfile::tempdir().unwrap();
    let good = fs::read_to_string(testdata("spike/2-of-3/spike.recovery.1.txt")).unwrap();
    let cases = [
        (
            "prefix.txt",
            good.replace("spike:", "spoke:"),
            "does not start with 'spike:'",
        ),
        (
            "short.txt",
            good[..good.len() - 1].to_string(),
            "63 characters",
        ),
        ("long.txt", format!("{good}0"), "65 characters"),
        (
            "upper.txt",
            good.to_uppercase().replace("SPIKE", "spike"),
            "lowercase",
        ),
        ("empty.txt", String::new(), "empty"),
        (
            "twolines.txt",
            format!("{good}\n{good}"),
            "more than one line",
        ),
    ];
    let other = testdata("spike/2-of-3/spike.recovery.2.txt");
    for (name, content, expect) in cases {
        let f = tmp.path().join(name);
        fs::write(&f, content).unwrap();
        let out = tmp.path().join(format!("out-{name}"));
        let r = run([
            "split",
            "-t",
            "2",
            "-n",
            "2",
            "--out",
            p(&out),
            "--spike-threshold",
            "2",
            "--from-spike",
            p(&f),
            p(&other),
        ]);
        assert_eq!(r.code, 1, "{name}");
        assert!(
            r.stderr.contains(p(&f)) && r.stderr.contains(expect),
            "{name}: {}",
            r.stderr
        );
        assert!(!out.exists());
    }
    // a SPIKE shard given to verify is recognised and redirected
    let r = run(["verify", p(&testdata("spike/2-of-3/spike.recovery.1.txt"))]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("SPIKE recovery shard"), "{}", r.stdout);
}

#[test]
fn bad_spike_shard_that_disagrees_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = testdata("spike/3-of-5");
    let wrong = tmp.path().join("spike.recovery.4.txt");
    // shard 4 of the 2-of-3 split of the same key: right format, wrong polynomial
    let v = fs::read_to_string(d.join("spike.recovery.4.txt")).unwrap();
    let mut bytes = hex::decode(&v[8..]).unwrap();
    bytes[5] ^= 0x10;
    fs::write(&wrong, format!("spike:4:{}", hex::encode(bytes))).unwrap();
    let out = tmp.path().join("out");
    let r = run([
        "split",
        "-t",
        "2",
        "-n",
        "2",
        "--out",
        p(&out),
        "--spike-threshold",
        "3",
        "--from-spike",
        p(&d.join("spike.recovery.1.txt")),
        p(&d.join("spike.recovery.2.txt")),
        p(&d.join("spike.recovery.3.txt")),
        p(&wrong),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(p(&wrong)) && r.stderr.contains("do not belong"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
    // with exactly the threshold, the inconsistency is still caught
    let r = run([
        "split",
        "-t",
        "2",
        "-n",
        "2",
        "--out",
        p(&out),
        "--spike-threshold",
        "3",
        "--from-spike",
        p(&d.join("spike.recovery.1.txt")),
        p(&d.join("spike.recovery.2.txt")),
        p(&wrong),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("inconsistent"), "{}", r.stderr);
    // too few for SPIKE's threshold
    let r = run([
        "split",
        "-t",
        "2",
        "-n",
        "2",
        "--out",
        p(&out),
        "--spike-threshold",
        "3",
        "--from-spike",
        p(&d.join("spike.recovery.1.txt")),
        p(&d.join("spike.recovery.2.txt")),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("only 2"), "{}", r.stderr);
}

#[test]
fn bad_key_files() {
    let tmp = tempfile::tempdir().unwrap();
    let n = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
    let cases = [
        ("nothex", "xyz".repeat(21) + "x", "non-hex"),
        ("short", "ab".repeat(31), "31 bytes"),
        ("zero", "00".repeat(32), "zero"),
        ("order", n.to_string(), "not below the p-256 group order"),
        ("twonewlines", "ab".repeat(32) + "\n\n", "non-hex"),
    ];
    for (name, content, expect) in cases {
        let f = tmp.path().join(name);
        fs::write(&f, &content).unwrap();
        let out = tmp.path().join(format!("out-{name}"));
        let r = run([
            "split",
            "-t",
            "2",
            "-n",
            "2",
            "--out",
            p(&out),
            "--key-file",
            p(&f),
        ]);
        assert_eq!(r.code, 1, "{name}");
        assert!(r.stderr.contains(p(&f)), "{name}: {}", r.stderr);
        assert!(
            r.stderr.to_lowercase().contains(expect),
            "{name}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains(&content[..16.min(content.len())]) || name == "zero",
            "{name} leaked: {}",
            r.stderr
        );
        assert!(!out.exists());
    }
}

#[test]
fn bad_ceremony_record_is_named() {
    let (_t, d) = scratch();
    let f = d.join("ceremony.json");
    edit_json(&f, |v| v["threshold"] = 2.into());
    let r = run(["verify", p(&f)]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains(p(&f)) && r.stdout.contains("ceremony record"),
        "{}",
        r.stdout
    );
}
