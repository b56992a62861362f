//! End-to-end tests of `bundle create|inspect|verify|open` and
//! `assemble --bundle-out`, run through the binary, with an invalid-input
//! suite: truncation, flipped bytes, wrong secrets, hostile archives, huge
//! headers. Every refusal must leave nothing in the output folder.

mod bundle_support;
mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use bundle_support::{entry, finish, seal_age, seal_nexus, ustar};
use common::{files_below, run, run_in, testdata};

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn known_key_hex() -> String {
    fs::read_to_string(testdata("known-key/key.hex")).unwrap()
}

struct Scene {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    identity: age::x25519::Identity,
    id_file: PathBuf,
    pass_file: PathBuf,
    key_file: PathBuf,
}

const PASSPHRASE: &str = "correct horse battery staple";

fn scene() -> Scene {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let identity = age::x25519::Identity::generate();
    let id_file = dir.join("nexus-age.key");
    fs::write(
        &id_file,
        format!(
            "# a comment\n{}\n",
            secrecy::ExposeSecret::expose_secret(&identity.to_string())
        ),
    )
    .unwrap();
    let pass_file = dir.join("pass.txt");
    fs::write(&pass_file, format!("{PASSPHRASE}\n")).unwrap();
    let key_file = dir.join("key.hex");
    fs::write(&key_file, known_key_hex()).unwrap();
    Scene {
        _tmp: tmp,
        dir,
        identity,
        id_file,
        pass_file,
        key_file,
    }
}

impl Scene {
    fn recipient(&self) -> String {
        self.identity.to_public().to_string()
    }

    fn create_age(&self, name: &str) -> PathBuf {
        let out = self.dir.join(name);
        let r = run([
            "bundle",
            "create",
            "--key-file",
            p(&self.key_file),
            "--out",
            p(&out),
            "--recipient",
            &self.recipient(),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        out
    }

    fn create_nexus(&self, name: &str) -> PathBuf {
        self.create_nexus_including(name, &[])
    }

    /// A Nexus backup of the key and `includes` (paths relative to the
    /// scene's folder, which the command runs in).
    fn create_nexus_including(&self, name: &str, includes: &[&str]) -> PathBuf {
        let out = self.dir.join(name);
        let mut args = vec![
            "bundle",
            "create",
            "--key-file",
            p(&self.key_file),
            "--out",
            p(&out),
            "--nexus-backup",
            "--passphrase-file",
            p(&self.pass_file),
        ];
        for include in includes {
            args.extend(["--include", include]);
        }
        let r = run_in(&self.dir, &args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        out
    }

    /// `bundle open` into a fresh folder that must not exist afterwards.
    fn open_fails(&self, bundle: &Path, secret: &[&str]) -> String {
        let out = self.dir.join("must-stay-absent");
        let mut args = vec!["bundle", "open", p(bundle), "--out", p(&out)];
        args.extend_from_slice(secret);
        let r = run(&args);
        assert_eq!(
            r.code, 1,
            "expected a refusal, got {}: {}",
            r.code, r.stdout
        );
        assert!(
            !out.exists(),
            "output folder left behind after: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains(p(bundle)),
            "error names the file: {}",
            r.stderr
        );
        r.stderr
    }

    fn id_args(&self) -> [&str; 2] {
        ["--identity", p(&self.id_file)]
    }

    fn pass_args(&self) -> [&str; 2] {
        ["--passphrase-file", p(&self.pass_file)]
    }
}

// ---------------------------------------------------------------- round trips

#[test]
fn age_bundle_round_trip_with_included_files() {
    let s = scene();
    let data = s.dir.join("data/keys");
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("k1"), b"keyring one").unwrap();
    fs::write(data.join("k2"), vec![0xA5u8; 300_000]).unwrap();
    let out = s.dir.join("b.tar.age");
    let r = common::bin()
        .current_dir(&s.dir)
        .args([
            "bundle",
            "create",
            "--key-file",
            p(&s.key_file),
            "--out",
            p(&out),
            "--recipient",
            &s.recipient(),
            "--include",
            "data",
            "--label",
            "prod root",
            "--ceremony-id",
            "KC-0123-4567-89AB",
        ])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(
        fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let r = run(["bundle", "inspect", p(&out)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("age bundle"), "{}", r.stdout);
    assert!(r.stdout.contains("X25519"), "{}", r.stdout);

    let r = run(["bundle", "verify", p(&out), "--identity", p(&s.id_file)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("data/keys/k2"), "{}", r.stdout);
    assert!(r.stdout.contains("KC-0123-4567-89AB"), "{}", r.stdout);
    assert!(
        !r.stdout.contains(known_key_hex().trim()),
        "verify must not print the key"
    );

    let dest = s.dir.join("import");
    let r = run([
        "bundle",
        "open",
        p(&out),
        "--identity",
        p(&s.id_file),
        "--out",
        p(&dest),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        files_below(&dest),
        [
            "data/keys/k1",
            "data/keys/k2",
            "keys/root.key",
            "manifest.json"
        ]
    );
    assert_eq!(
        fs::read_to_string(dest.join("keys/root.key")).unwrap(),
        known_key_hex()
    );
    assert_eq!(
        fs::read(dest.join("data/keys/k2")).unwrap(),
        vec![0xA5u8; 300_000]
    );
    for f in files_below(&dest) {
        let mode = fs::metadata(dest.join(&f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(dest.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "keyceremony-bundle");
    assert_eq!(manifest["label"], "prod root");
    assert_eq!(manifest["files"].as_array().unwrap().len(), 3);

    // A second open into the same folder is refused; --force replaces.
    let r = run([
        "bundle",
        "open",
        p(&out),
        "--identity",
        p(&s.id_file),
        "--out",
        p(&dest),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    let r = run([
        "bundle",
        "open",
        p(&out),
        "--identity",
        p(&s.id_file),
        "--out",
        p(&dest),
        "--force",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn nexus_backup_round_trip_with_default_name_in_a_folder() {
    let s = scene();
    let folder = s.dir.join("out");
    fs::create_dir(&folder).unwrap();
    let r = run([
        "--json",
        "bundle",
        "create",
        "--key-file",
        p(&s.key_file),
        "--out",
        p(&folder),
        "--nexus-backup",
        "--passphrase-file",
        p(&s.pass_file),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let path = PathBuf::from(doc["bundle"]["path"].as_str().unwrap());
    let name = path.file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.starts_with("nexus-backup-"), "{name}");
    assert!(name.ends_with(".tar.gz.enc"), "{name}");
    // nexus-backup-YYYY-MM-DD-HHMMSS.tar.gz.enc
    assert_eq!(
        name.len(),
        "nexus-backup-2026-01-01-000000.tar.gz.enc".len()
    );

    let r = run(["--json", "bundle", "inspect", p(&path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["format"], "nexus-backup");
    assert_eq!(doc["kdf"]["algorithm"], "argon2id");
    assert_eq!(doc["kdf"]["t"], 1);
    assert_eq!(doc["kdf"]["m_kib"], 65536);
    assert_eq!(doc["kdf"]["p"], 4);

    let dest = s.dir.join("import");
    let r = run([
        "bundle",
        "open",
        p(&path),
        "--passphrase-file",
        p(&s.pass_file),
        "--out",
        p(&dest),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(files_below(&dest), ["keys/root.key", "manifest.json"]);
    assert_eq!(
        fs::read_to_string(dest.join("keys/root.key")).unwrap(),
        known_key_hex()
    );
}

#[test]
fn includes_may_not_take_the_bundles_own_names_or_leave_the_folder() {
    let s = scene();
    fs::create_dir_all(s.dir.join("keys")).unwrap();
    fs::write(s.dir.join("keys/root.key"), "x").unwrap();
    fs::write(s.dir.join("manifest.json"), "{}").unwrap();
    for (include, expect) in [
        ("keys", "keys/root.key"),
        ("manifest.json", "manifest.json"),
        ("../etc", "relative"),
        ("/etc/hostname", "relative"),
    ] {
        let out = s.dir.join("b.tar.age");
        let r = common::bin()
            .current_dir(&s.dir)
            .args([
                "bundle",
                "create",
                "--key-file",
                p(&s.key_file),
                "--out",
                p(&out),
                "--recipient",
                &s.recipient(),
                "--include",
                include,
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{include}: {stderr}");
        assert!(stderr.contains(expect), "{include}: {stderr}");
        assert!(!out.exists());
    }
}

#[test]
fn create_refuses_to_overwrite_without_force() {
    let s = scene();
    let out = s.create_age("b.tar.age");
    let before = fs::read(&out).unwrap();
    let r = run([
        "bundle",
        "create",
        "--key-file",
        p(&s.key_file),
        "--out",
        p(&out),
        "--recipient",
        &s.recipient(),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    assert_eq!(fs::read(&out).unwrap(), before);
}

#[test]
fn sealing_options_must_name_exactly_one_way() {
    let s = scene();
    let out = s.dir.join("x");
    let base = [
        "bundle",
        "create",
        "--key-file",
        p(&s.key_file),
        "--out",
        p(&out),
    ];
    let r = run(base);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let rec = s.recipient();
    let mut both = base.to_vec();
    both.extend(["--recipient", &rec, "--nexus-backup"]);
    let r = run(&both);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let mut bad = base.to_vec();
    bad.extend(["--recipient", "age1notarecipient"]);
    let r = run(&bad);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // named by its place and first characters only: it may be a pasted secret
    assert!(
        r.stderr
            .contains("--recipient #1 (\"age1n...\", 17 characters)"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("age1notarecipient"), "{}", r.stderr);
    assert!(!out.exists());
}

#[test]
fn assemble_seals_the_key_into_a_bundle_and_nowhere_else() {
    let s = scene();
    let shards = [1, 3, 5].map(|i| testdata(&format!("known-key/shard-{i}.json")));
    let age_out = s.dir.join("ceremony.tar.age");
    let mut args = vec!["assemble".to_string()];
    args.extend(shards.iter().map(|x| p(x).to_string()));
    args.extend([
        "--bundle-out".into(),
        p(&age_out).into(),
        "--recipient".into(),
        s.recipient(),
    ]);
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Only the bundle appeared: no plaintext key anywhere in the folder.
    let key = known_key_hex();
    for f in files_below(&s.dir) {
        let bytes = fs::read(s.dir.join(&f)).unwrap();
        if f != "key.hex" {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(key.trim()),
                "{f} holds the key in the clear"
            );
        }
    }
    let dest = s.dir.join("imp");
    let r = run([
        "bundle",
        "open",
        p(&age_out),
        "--identity",
        p(&s.id_file),
        "--out",
        p(&dest),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(fs::read_to_string(dest.join("keys/root.key")).unwrap(), key);
    let manifest = fs::read_to_string(dest.join("manifest.json")).unwrap();
    let record: serde_json::Value =
        serde_json::from_slice(&fs::read(testdata("known-key/ceremony.json")).unwrap()).unwrap();
    assert!(
        manifest.contains(record["ceremony_id"].as_str().unwrap()),
        "manifest carries the ceremony id: {manifest}"
    );

    let nexus_out = s.dir.join("ceremony.tar.gz.enc");
    let mut args = vec!["--json".to_string(), "assemble".to_string()];
    args.extend(shards.iter().map(|x| p(x).to_string()));
    args.extend([
        "--bundle-out".into(),
        p(&nexus_out).into(),
        "--nexus-backup".into(),
        "--passphrase-file".into(),
        p(&s.pass_file).into(),
    ]);
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["output"]["kind"], "bundle");
    assert_eq!(doc["output"]["format"], "nexus-backup");
    assert!(doc.get("key").is_none());
    let r = run([
        "bundle",
        "verify",
        p(&nexus_out),
        "--passphrase-file",
        p(&s.pass_file),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn assemble_sealing_options_need_bundle_out() {
    let s = scene();
    let r = run([
        "assemble",
        p(&testdata("known-key/shard-1.json")),
        "--dry-run",
        "--recipient",
        &s.recipient(),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--bundle-out"), "{}", r.stderr);
}

// ---------------------------------------------------------------- fixed vectors

#[test]
fn fixed_vectors_open_to_the_known_key() {
    let v = |n: &str| testdata(&format!("bundles/{n}"));
    let cases: [(&str, [String; 2]); 3] = [
        (
            "known-key.tar.age",
            ["--identity".into(), p(&v("nexus-age-identity.txt")).into()],
        ),
        (
            "known-key.tar.gz.enc",
            ["--passphrase-file".into(), p(&v("passphrase.txt")).into()],
        ),
        (
            "known-key-python.tar.gz.enc",
            ["--passphrase-file".into(), p(&v("passphrase.txt")).into()],
        ),
    ];
    let fingerprint = keyceremony::secret::RootKey::from_hex(&known_key_hex())
        .unwrap()
        .fingerprint()
        .to_string();
    for (name, secret) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("o");
        let mut args = vec![
            "--json".to_string(),
            "bundle".into(),
            "open".into(),
            p(&v(name)).into(),
            "--out".into(),
            p(&dest).into(),
        ];
        args.extend(secret);
        let r = run(&args);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(doc["key_fingerprint"], fingerprint.as_str(), "{name}");
        assert_eq!(
            fs::read_to_string(dest.join("keys/root.key")).unwrap(),
            known_key_hex(),
            "{name}"
        );
    }
}

// ---------------------------------------------------------------- bad input

#[test]
fn wrong_passphrase_is_refused_and_leaves_nothing() {
    let s = scene();
    let b = s.create_nexus("b.tar.gz.enc");
    let wrong = s.dir.join("wrong.txt");
    fs::write(&wrong, "correct horse battery stapler\n").unwrap();
    let e = s.open_fails(&b, &["--passphrase-file", p(&wrong)]);
    assert!(e.contains("wrong passphrase"), "{e}");
    let r = run(["bundle", "verify", p(&b), "--passphrase-file", p(&wrong)]);
    assert_eq!(r.code, 1);
}

#[test]
fn wrong_identity_is_refused_and_leaves_nothing() {
    let s = scene();
    let b = s.create_age("b.tar.age");
    let other = s.dir.join("other.key");
    fs::write(
        &other,
        secrecy::ExposeSecret::expose_secret(&age::x25519::Identity::generate().to_string()),
    )
    .unwrap();
    let e = s.open_fails(&b, &["--identity", p(&other)]);
    assert!(e.contains("wrong identity"), "{e}");
    // The wrong kind of secret for the format is named too.
    let e = s.open_fails(&b, &s.pass_args());
    assert!(e.contains("--identity"), "{e}");
    let n = s.create_nexus("b.tar.gz.enc");
    let e = s.open_fails(&n, &s.id_args());
    assert!(e.contains("passphrase"), "{e}");
}

#[test]
fn truncated_bundles_are_refused_and_leave_nothing() {
    let s = scene();
    for (b, secret) in [
        (s.create_age("b.tar.age"), s.id_args()),
        (s.create_nexus("b.tar.gz.enc"), s.pass_args()),
    ] {
        let full = fs::read(&b).unwrap();
        let cut_file = s.dir.join("cut");
        for len in [
            0,
            10,
            30,
            43,
            44,
            100,
            full.len() / 2,
            full.len() - 17,
            full.len() - 1,
        ] {
            fs::write(&cut_file, &full[..len]).unwrap();
            let e = s.open_fails(&cut_file, &secret);
            assert!(!e.is_empty());
        }
    }
}

#[test]
fn flipped_bytes_are_refused_and_leave_nothing() {
    let s = scene();
    for (b, secret, step) in [
        (s.create_age("b.tar.age"), s.id_args(), 23),
        (s.create_nexus("b.tar.gz.enc"), s.pass_args(), 29),
    ] {
        let full = fs::read(&b).unwrap();
        let bad = s.dir.join("bad");
        let mut positions: Vec<usize> = (0..full.len()).step_by(step).collect();
        positions.extend([full.len() - 1, full.len() - 16, full.len() - 17]);
        for i in positions {
            let mut bytes = full.clone();
            bytes[i] ^= 0x01;
            fs::write(&bad, &bytes).unwrap();
            s.open_fails(&bad, &secret);
        }
    }
}

#[test]
fn hostile_archive_entries_are_refused_before_anything_is_released() {
    let s = scene();
    let recipient = s.identity.to_public();
    let harmless = entry("data/harmless", b"fine");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("absolute", entry("/etc/evil", b"x"), "absolute path"),
        ("dotdot", entry("data/../../evil", b"x"), "'..'"),
        (
            "symlink",
            ustar("link", b'2', 0, "/etc/passwd"),
            "symbolic link",
        ),
        (
            "hardlink",
            ustar("hard", b'1', 0, "/etc/passwd"),
            "hard link",
        ),
        ("chardev", ustar("tty", b'3', 0, ""), "device"),
        ("blockdev", ustar("sda", b'4', 0, ""), "device"),
        ("fifo", ustar("pipe", b'6', 0, ""), "named pipe"),
        (
            "huge-pax",
            ustar("PaxHeader", b'x', 1 << 40, ""),
            "larger than",
        ),
        (
            "bad-checksum",
            {
                let mut h = entry("data/x", b"x");
                h[0] ^= 1;
                h
            },
            "checksum",
        ),
    ];
    for (what, hostile, expect) in cases {
        // A harmless file first, so something was already staged.
        let tar = finish([harmless.clone(), hostile].concat());
        let age_file = s.dir.join(format!("{what}.tar.age"));
        fs::write(&age_file, seal_age(&tar, &recipient)).unwrap();
        let e = s.open_fails(&age_file, &s.id_args());
        assert!(e.contains(expect), "{what} (age): {e}");
        let nexus_file = s.dir.join(format!("{what}.tar.gz.enc"));
        fs::write(&nexus_file, seal_nexus(&tar, PASSPHRASE.as_bytes())).unwrap();
        let e = s.open_fails(&nexus_file, &s.pass_args());
        assert!(e.contains(expect), "{what} (nexus): {e}");

        // Into a folder that already exists (empty): it stays empty.
        let existing = s.dir.join("existing-empty");
        fs::create_dir_all(&existing).unwrap();
        let r = run([
            "bundle",
            "open",
            p(&age_file),
            "--identity",
            p(&s.id_file),
            "--out",
            p(&existing),
        ]);
        assert_eq!(r.code, 1, "{what}");
        assert!(
            fs::read_dir(&existing).unwrap().next().is_none(),
            "{what}: left {:?}",
            files_below(&existing)
        );
    }
}

#[test]
fn archives_that_disagree_with_their_manifest_are_refused() {
    let s = scene();
    let recipient = s.identity.to_public();
    let key = known_key_hex();
    let fp = keyceremony::secret::RootKey::from_hex(&key)
        .unwrap()
        .fingerprint()
        .to_string();
    let other_fp = keyceremony::secret::RootKey::generate()
        .fingerprint()
        .to_string();
    let sha = |d: &[u8]| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(d))
    };
    let manifest = |fp: &str, files: &[(&str, &[u8])]| {
        let files: Vec<_> = files
            .iter()
            .map(|(p, d)| serde_json::json!({"path": p, "size": d.len(), "sha256": sha(d)}))
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "format": "keyceremony-bundle", "version": 1, "ceremony_id": null,
            "label": "x", "key_fingerprint": fp, "created": "2026-01-01T00:00:00Z",
            "files": files,
        }))
        .unwrap()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "wrong-fingerprint",
            finish(
                [
                    entry("keys/root.key", key.as_bytes()),
                    entry(
                        "manifest.json",
                        &manifest(&other_fp, &[("keys/root.key", key.as_bytes())]),
                    ),
                ]
                .concat(),
            ),
            "fingerprint",
        ),
        (
            "changed-file",
            finish(
                [
                    entry("keys/root.key", key.as_bytes()),
                    entry("data/a", b"change"),
                    entry(
                        "manifest.json",
                        &manifest(
                            &fp,
                            &[("keys/root.key", key.as_bytes()), ("data/a", b"origin")],
                        ),
                    ),
                ]
                .concat(),
            ),
            "SHA-256",
        ),
        (
            "unlisted-file",
            finish(
                [
                    entry("keys/root.key", key.as_bytes()),
                    entry("data/extra", b"x"),
                    entry(
                        "manifest.json",
                        &manifest(&fp, &[("keys/root.key", key.as_bytes())]),
                    ),
                ]
                .concat(),
            ),
            "not in the manifest",
        ),
        (
            "no-manifest-in-age",
            finish(entry("keys/root.key", key.as_bytes())),
            "no manifest.json",
        ),
        (
            "uppercase-key",
            finish(
                [
                    entry("keys/root.key", key.to_uppercase().as_bytes()),
                    entry(
                        "manifest.json",
                        &manifest(&fp, &[("keys/root.key", key.to_uppercase().as_bytes())]),
                    ),
                ]
                .concat(),
            ),
            "lowercase",
        ),
        (
            "duplicate",
            finish(
                [
                    entry("keys/root.key", key.as_bytes()),
                    entry("keys/root.key", key.as_bytes()),
                ]
                .concat(),
            ),
            "twice",
        ),
    ];
    for (what, tar, expect) in cases {
        let f = s.dir.join(format!("{what}.tar.age"));
        fs::write(&f, seal_age(&tar, &recipient)).unwrap();
        let e = s.open_fails(&f, &s.id_args());
        assert!(e.contains(expect), "{what}: {e}");
    }
}

#[test]
fn huge_or_invalid_headers_are_refused_without_big_allocations() {
    let s = scene();
    // An age header that never ends: a million stanza lines.
    let mut huge = b"age-encryption.org/v1\n".to_vec();
    for _ in 0..40_000 {
        huge.extend_from_slice(b"-> X25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\nAAAA\n");
    }
    let f = s.dir.join("huge.tar.age");
    fs::write(&f, &huge).unwrap();
    let e = s.open_fails(&f, &s.id_args());
    assert!(e.contains("larger than 1 MiB"), "{e}");
    let r = run(["bundle", "inspect", p(&f)]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("larger than 1 MiB"), "{}", r.stderr);

    // A garbage age header.
    let f = s.dir.join("garbage.tar.age");
    fs::write(&f, b"age-encryption.org/v1\n-> \x00\x01\n--- zz\n").unwrap();
    s.open_fails(&f, &s.id_args());

    // A Nexus backup too short to hold salt, nonce and tag.
    let f = s.dir.join("short.tar.gz.enc");
    fs::write(&f, [0u8; 43]).unwrap();
    let e = s.open_fails(&f, &s.pass_args());
    assert!(e.contains("too short"), "{e}");
    let r = run(["bundle", "inspect", p(&f)]);
    assert_eq!(r.code, 1);

    // A tar entry claiming a size far beyond the data.
    let tar = ustar("data/big", b'0', 0o77777777777, "");
    let f = s.dir.join("bigsize.tar.gz.enc");
    fs::write(&f, seal_nexus(&tar, PASSPHRASE.as_bytes())).unwrap();
    let e = s.open_fails(&f, &s.pass_args());
    assert!(e.contains("truncated"), "{e}");

    // Oversized secret files are not read into memory.
    let big = s.dir.join("big-identity");
    fs::write(&big, vec![b'A'; 2 * 1024 * 1024]).unwrap();
    let b = s.create_age("b.tar.age");
    let out = s.dir.join("absent");
    let r = run([
        "bundle",
        "open",
        p(&b),
        "--identity",
        p(&big),
        "--out",
        p(&out),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("big-identity") && r.stderr.contains("1 MiB"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
}

#[test]
fn library_hands_the_key_to_a_rust_nexus() {
    let s = scene();
    let b = s.create_age("b.tar.age");
    let unsealing = keyceremony::bundle::Unsealing::identity_file(&s.id_file).unwrap();
    let (key, manifest) =
        keyceremony::bundle::read_root_key(&b, &unsealing, &Default::default()).unwrap();
    assert_eq!(key.to_hex().as_str(), known_key_hex().trim());
    assert_eq!(manifest.unwrap().key_fingerprint, key.fingerprint());
    let _ = age::x25519::Recipient::from_str(&s.recipient()).unwrap();
}

/// `bundle open` under `umask`, through `sh`; returns the exit code and stderr.
fn open_under_umask(umask: &str, bundle: &Path, pass: &Path, out: &Path) -> (i32, String) {
    let o = std::process::Command::new("sh")
        .args(["-c", "umask \"$1\"; shift; exec \"$@\"", "sh", umask])
        .arg(assert_cmd::cargo::cargo_bin("keyceremony"))
        .args(["bundle", "open", p(bundle), "--passphrase-file", p(pass)])
        .arg("--out")
        .arg(out)
        .env_remove("KEYCEREMONY_TEST_TOKENS")
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn every_opened_file_is_0600_whatever_the_umask() {
    // Over 64 files, so both ways a staged file is made are used (unnamed
    // first, then named inside the staging folder); the mode is set once
    // by open(2) where the umask cannot take bits away, else by fchmod.
    let s = scene();
    let data = s.dir.join("data");
    fs::create_dir_all(data.join("sub")).unwrap();
    for i in 0..90 {
        let at = if i % 3 == 0 {
            data.join("sub")
        } else {
            data.clone()
        };
        fs::write(at.join(format!("f{i:03}")), format!("{i}\n")).unwrap();
    }
    let bundle = s.create_nexus_including("b.tar.gz.enc", &["data"]);
    for umask in ["0", "022", "077", "177", "277", "577"] {
        let out = s.dir.join(format!("open-{umask}"));
        let (code, stderr) = open_under_umask(umask, &bundle, &s.pass_file, &out);
        assert_eq!(code, 0, "umask {umask}: {stderr}");
        let files = files_below(&out);
        assert_eq!(files.len(), 92, "umask {umask}: {files:?}");
        for f in files {
            let mode = fs::metadata(out.join(&f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "umask {umask}: {f} is {mode:o}");
        }
    }
}
