//! A forged majority (issue 10, point 6): shards that carry the real
//! ceremony id but come from another split of another key. Each forged file
//! is self-consistent (its share matches its own commitments, its
//! fingerprint is its key's, its checksum is recomputed), so it passes every
//! check a file can pass alone. Without the ceremony record no count of
//! shards may decide: `assemble` and `verify` refuse and show the groups;
//! with the record, the honest shards win and the forged ones are named.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{run, testdata};
use keyceremony::secret::RootKey;
use keyceremony::shamir;
use keyceremony::shard::ShardFile;
use rand_core::OsRng;

/// The known-key ceremony (3 of 5) copied into a scratch folder, and shards
/// 1..=forged replaced by forgeries of another key under the same id.
struct Scene {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    honest_fp: String,
    forged_fp: String,
    forged_key: String,
}

fn scene(forged: u8) -> Scene {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("k");
    fs::create_dir(&dir).unwrap();
    for f in [
        "ceremony.json",
        "shard-1.json",
        "shard-2.json",
        "shard-3.json",
        "shard-4.json",
        "shard-5.json",
    ] {
        fs::copy(testdata(&format!("known-key/{f}")), dir.join(f)).unwrap();
    }
    let honest = ShardFile::parse(&fs::read(dir.join("shard-1.json")).unwrap()).unwrap();
    let other = RootKey::generate();
    let (shares, commitments) = shamir::split(&other, honest.info.params, OsRng);
    for share in shares.into_iter().take(forged as usize) {
        let path = dir.join(format!("shard-{}.json", share.id()));
        let real = ShardFile::parse(&fs::read(&path).unwrap()).unwrap();
        let mut info = real.info.clone();
        info.fingerprint = commitments.fingerprint();
        info.commitments = commitments.clone();
        let fake = ShardFile {
            info,
            share,
            custodian: real.custodian.clone(),
        };
        fs::write(&path, fake.to_json().as_bytes()).unwrap();
        // The forgery is good enough to pass alone.
        let alone = run(["verify", path.to_str().unwrap()]);
        assert_eq!(
            alone.code, 0,
            "a forged shard passes alone: {}",
            alone.stdout
        );
    }
    Scene {
        _tmp: tmp,
        honest_fp: honest.info.fingerprint.to_string(),
        forged_fp: commitments.fingerprint().to_string(),
        forged_key: other.to_hex().to_string(),
        dir,
    }
}

fn shard(dir: &Path, id: u8) -> String {
    dir.join(format!("shard-{id}.json")).display().to_string()
}

fn shards(dir: &Path) -> Vec<String> {
    (1..=5).map(|i| shard(dir, i)).collect()
}

fn record(dir: &Path) -> String {
    dir.join("ceremony.json").display().to_string()
}

fn known_key_hex() -> String {
    fs::read_to_string(testdata("known-key/key.hex")).unwrap()
}

/// The refusal names both fingerprints, which files are in which group,
/// and asks for the record.
fn assert_shows_groups(text: &str, s: &Scene, forged: &[u8], honest: &[u8]) {
    assert!(text.contains("FORGERY"), "{text}");
    assert!(
        text.contains("ceremony.json"),
        "asks for the record: {text}"
    );
    let group_of = |fp: &str| -> String {
        let at = text
            .find(&format!("(key fingerprint {fp}, "))
            .unwrap_or_else(|| panic!("{fp} shown: {text}"));
        let rest = &text[at..];
        rest[..rest
            .find(';')
            .or_else(|| rest.find(". "))
            .unwrap_or(rest.len())]
            .to_string()
    };
    let forged_group = group_of(&s.forged_fp);
    let honest_group = group_of(&s.honest_fp);
    for &id in forged {
        assert!(forged_group.contains(&shard(&s.dir, id)), "{forged_group}");
        assert!(!honest_group.contains(&shard(&s.dir, id)), "{honest_group}");
    }
    for &id in honest {
        assert!(honest_group.contains(&shard(&s.dir, id)), "{honest_group}");
        assert!(!forged_group.contains(&shard(&s.dir, id)), "{forged_group}");
    }
}

#[test]
fn a_forged_majority_without_the_record_is_refused_not_assembled() {
    let s = scene(3);
    let mut args = vec!["assemble".to_string(), "--reveal".to_string()];
    args.extend(shards(&s.dir));
    let r = run(&args);
    assert_ne!(r.code, 0, "refused, not assembled: {}", r.stderr);
    assert!(
        !r.stdout.contains(&s.forged_key),
        "the forged key is not handed out"
    );
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        !r.stderr.contains("damaged"),
        "forgery is not called damage: {}",
        r.stderr
    );
    assert_shows_groups(&r.stderr, &s, &[1, 2, 3], &[4, 5]);
}

#[test]
fn a_forged_minority_without_the_record_is_refused_too() {
    // Three honest shards would be enough, but a forger may hold a majority
    // as easily: counting decides nothing, either way.
    let s = scene(2);
    let mut args = vec!["assemble".to_string(), "--reveal".to_string()];
    args.extend(shards(&s.dir));
    let r = run(&args);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.is_empty());
    assert_shows_groups(&r.stderr, &s, &[1, 2], &[3, 4, 5]);
}

#[test]
fn with_the_record_the_honest_shards_win_and_the_forged_are_named() {
    let s = scene(2);
    let mut args = vec![
        "assemble".to_string(),
        "--reveal".to_string(),
        record(&s.dir),
    ];
    args.extend(shards(&s.dir));
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, known_key_hex());
    for id in [1, 2] {
        let line = r
            .stderr
            .lines()
            .find(|l| l.contains(&shard(&s.dir, id)))
            .unwrap_or_else(|| panic!("shard {id} named: {}", r.stderr));
        assert!(
            line.contains("FORGED") && line.contains(&s.forged_fp),
            "{line}"
        );
    }
    for id in [3, 4, 5] {
        assert!(
            !r.stderr.contains(&format!("{}:", shard(&s.dir, id))),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn with_the_record_a_forged_majority_leaves_too_few_and_is_named() {
    let s = scene(3);
    let mut args = vec![
        "assemble".to_string(),
        "--reveal".to_string(),
        record(&s.dir),
    ];
    args.extend(shards(&s.dir));
    let r = run(&args);
    assert_ne!(r.code, 0);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("need 3 good shards") && r.stderr.contains("have 2"),
        "{}",
        r.stderr
    );
    for id in [1, 2, 3] {
        assert!(
            r.stderr
                .lines()
                .any(|l| l.contains(&shard(&s.dir, id)) && l.contains("FORGED")),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn verify_of_the_set_refuses_a_split_ceremony_and_names_the_forged_with_the_record() {
    let s = scene(3);
    let r = run(["verify"]
        .into_iter()
        .map(String::from)
        .chain(shards(&s.dir)));
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("verify: FAILED"), "{}", r.stdout);
    assert_shows_groups(&r.stdout, &s, &[1, 2, 3], &[4, 5]);

    let r = run(["verify".to_string(), record(&s.dir)]
        .into_iter()
        .chain(shards(&s.dir)));
    assert_eq!(r.code, 1, "{}", r.stdout);
    for id in [1, 2, 3] {
        assert!(
            r.stdout
                .lines()
                .any(|l| l.starts_with(&format!("BAD  {}", shard(&s.dir, id)))
                    && l.contains("FORGED")),
            "{}",
            r.stdout
        );
    }
    for id in [4, 5] {
        assert!(
            !r.stdout.contains(&format!("BAD  {}", shard(&s.dir, id))),
            "{}",
            r.stdout
        );
    }
}
