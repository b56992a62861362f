//! Shared by the ceremony-run tests: plans in a scratch folder with a known
//! key, the share values read back from a run's outputs (or derived from
//! the key and t-1 of them), and the scan of every file and text for the
//! key and every share value.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use keyceremony::console::ScriptedConsole;
use keyceremony::events::Discard;
use keyceremony::inputs::{self, InputOptions, Item};
use keyceremony::secret_scan;
use p256::elliptic_curve::ff::PrimeField;
use p256::Scalar;

/// The key every test plan reads (not a secret: a test vector).
pub const KEY_HEX: &str = "3a1f5e9c0b7d2468ace13579bdf02468ace13579bdf02468ace13579bdf0246a";
pub const PIN: &str = "123456";

pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub fn key_bytes() -> [u8; 32] {
    let mut k = [0u8; 32];
    hex::decode_to_slice(KEY_HEX, &mut k).unwrap();
    k
}

/// The demo plan (3 of 5: file, two QR sheets, two test tokens, an age
/// bundle and a Nexus backup) in `dir`, reading the known key from a file.
pub fn demo_plan(dir: &Path) -> PathBuf {
    for f in ["demo-nexus-identity.txt", "demo-nexus-passphrase.txt"] {
        std::fs::copy(repo("ceremony").join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("key.hex"), format!("{KEY_HEX}\n")).unwrap();
    let text = std::fs::read_to_string(repo("ceremony/demo.toml")).unwrap();
    assert!(text.contains("[key]\ngenerate = true\n"));
    let text = text.replace("[key]\ngenerate = true\n", "[key]\nfile = \"key.hex\"\n");
    let p = dir.join("demo.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// A small rehearsal, 2 of 3 (a shard file, a QR sheet, a test token) and
/// a Nexus backup: with the key and any one share every share is known.
pub fn small_plan(dir: &Path, mode: &str, custodians: &str) -> PathBuf {
    std::fs::copy(
        repo("ceremony/demo-nexus-passphrase.txt"),
        dir.join("pass.txt"),
    )
    .unwrap();
    std::fs::write(dir.join("key.hex"), format!("{KEY_HEX}\n")).unwrap();
    let text = format!(
        r#"version = 1
label = "small test ceremony"
mode = "{mode}"
lead = "Lee Lead"
threshold = 2
witnesses = ["Wanda Witness"]

[key]
file = "key.hex"
{custodians}
[[bundle]]
format = "nexus-backup"
passphrase_file = "pass.txt"
file = "root.tar.gz.enc"
"#
    );
    let p = dir.join("small.toml");
    std::fs::write(&p, text).unwrap();
    p
}

pub const SMALL_CUSTODIANS: &str = r#"
[[custodian]]
name = "Alice Archer"
transport = "file"

[[custodian]]
name = "Bob Baker"
transport = "qr"

[[custodian]]
name = "Dan Driver"
transport = "test-token"
serial = 41000001
"#;

/// The share values in the share outputs of `out` (shard files, QR
/// images, sealed shares opened on the test tokens in `tokens`).
pub fn shares_in_outputs(out: &Path, tokens: &Path) -> Vec<(u8, [u8; 32])> {
    let pin = out.parent().unwrap().join("pin-for-reading.txt");
    std::fs::write(&pin, format!("{PIN}\n")).unwrap();
    let opts = InputOptions {
        test_tokens: Some(tokens.to_path_buf()),
        pin_file: Some(pin),
        ..Default::default()
    };
    let mut unsealer = opts.unsealer();
    let mut found: Vec<(u8, [u8; 32])> = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("shard-")
                && (n.ends_with(".json") || n.ends_with(".png") || n.ends_with(".age"))
        })
        .collect();
    names.sort();
    for p in names {
        let mut console = ScriptedConsole::new();
        let loaded = inputs::load_path(&p, &mut unsealer, &mut console, &mut Discard)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        for l in loaded {
            if let Item::Shard(s) = l.item {
                let id = s.share.id().get();
                if !found.iter().any(|(i, _)| *i == id) {
                    found.push((id, *s.share.expose_value()));
                }
            }
        }
    }
    found.sort();
    found
}

fn scalar(bytes: &[u8; 32]) -> Scalar {
    Option::from(Scalar::from_repr((*bytes).into())).expect("a scalar")
}

/// Every share value 1..=n of the polynomial through (0, key) and the
/// `known` shares, when there are t points in all; `None` otherwise.
pub fn all_shares(known: &[(u8, [u8; 32])], t: usize, n: u8) -> Option<Vec<(u8, [u8; 32])>> {
    let mut points: Vec<(Scalar, Scalar)> = vec![(Scalar::ZERO, scalar(&key_bytes()))];
    points.extend(
        known
            .iter()
            .map(|(i, v)| (Scalar::from(*i as u64), scalar(v))),
    );
    if points.len() < t {
        return None;
    }
    points.truncate(t);
    let at = |x: Scalar| {
        let mut sum = Scalar::ZERO;
        for (j, (xj, yj)) in points.iter().enumerate() {
            let mut term = *yj;
            for (m, (xm, _)) in points.iter().enumerate() {
                if m != j {
                    term *= (x - xm) * Option::<Scalar>::from((*xj - xm).invert()).unwrap();
                }
            }
            sum += term;
        }
        sum
    };
    let all: Vec<(u8, [u8; 32])> = (1..=n)
        .map(|i| (i, at(Scalar::from(i as u64)).to_bytes().into()))
        .collect();
    for (i, v) in known {
        assert_eq!(&all[*i as usize - 1].1, v, "share {i} is on the polynomial");
    }
    Some(all)
}

/// The secrets a file may not hold: the key, and every share but its own.
fn secrets_for<'a>(
    file_name: &str,
    key: &'a [u8; 32],
    shares: &'a [(u8, [u8; 32])],
    names: &'a [String],
) -> Vec<(&'a str, &'a [u8])> {
    let mut s: Vec<(&str, &[u8])> = vec![("root key", key)];
    for ((id, v), name) in shares.iter().zip(names) {
        let own = file_name
            .strip_prefix(&format!("shard-{id}."))
            .is_some_and(|rest| !rest.contains('.'));
        if !own {
            s.push((name.as_str(), v));
        }
    }
    s
}

/// Scans every file below `dir` for the key and for every share value but
/// the file's own (a shard file, sheet or image holds its own share).
pub fn scan_folder(dir: &Path, shares: &[(u8, [u8; 32])]) -> usize {
    let key = key_bytes();
    let names: Vec<String> = shares.iter().map(|(i, _)| format!("share {i}")).collect();
    let mut scanned = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).unwrap();
            let secrets = secrets_for(&name, &key, shares, &names);
            secret_scan::assert_clean(&p.display().to_string(), &bytes, &secrets);
            scanned += 1;
        }
    }
    scanned
}

/// Scans a text (stdout, stderr, narration) for the key and every share.
pub fn scan_text(what: &str, text: &str, shares: &[(u8, [u8; 32])]) {
    let key = key_bytes();
    let names: Vec<String> = shares.iter().map(|(i, _)| format!("share {i}")).collect();
    let mut secrets: Vec<(&str, &[u8])> = vec![("root key", &key)];
    for ((_, v), n) in shares.iter().zip(&names) {
        secrets.push((n.as_str(), v));
    }
    secret_scan::assert_clean(what, text.as_bytes(), &secrets);
}

/// Names of the files in `dir` (not below), sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
