//! Bundles built to hurt the reader, run through the binary: many entries
//! (open files, time, the file limit), sizes at the edge of u64, archives
//! without their end, Nexus backups that hold nothing, and output folders
//! reached through someone else's symbolic link.

mod bundle_support;
mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use bundle_support::{entry, finish, seal_age, seal_nexus, ustar};
use common::{files_below, run, testdata, Run};

const PASSPHRASE: &str = "hostile archives passphrase";

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

struct Scene {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    identity: age::x25519::Identity,
    id_file: PathBuf,
    pass_file: PathBuf,
    key_file: PathBuf,
}

fn scene() -> Scene {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let identity = age::x25519::Identity::generate();
    let id_file = dir.join("nexus-age.key");
    fs::write(
        &id_file,
        format!(
            "{}\n",
            secrecy::ExposeSecret::expose_secret(&identity.to_string())
        ),
    )
    .unwrap();
    let pass_file = dir.join("pass.txt");
    fs::write(&pass_file, format!("{PASSPHRASE}\n")).unwrap();
    let key_file = dir.join("key.hex");
    fs::copy(testdata("known-key/key.hex"), &key_file).unwrap();
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
    fn key_hex(&self) -> String {
        fs::read_to_string(&self.key_file).unwrap()
    }

    fn write_age(&self, name: &str, tar: &[u8]) -> PathBuf {
        let f = self.dir.join(name);
        fs::write(&f, seal_age(tar, &self.identity.to_public())).unwrap();
        f
    }

    fn write_nexus(&self, name: &str, tar: &[u8]) -> PathBuf {
        let f = self.dir.join(name);
        fs::write(&f, seal_nexus(tar, PASSPHRASE.as_bytes())).unwrap();
        f
    }

    fn verify_age(&self, bundle: &Path) -> Run {
        run([
            "bundle",
            "verify",
            p(bundle),
            "--identity",
            p(&self.id_file),
        ])
    }

    fn verify_nexus(&self, bundle: &Path) -> Run {
        run([
            "bundle",
            "verify",
            p(bundle),
            "--passphrase-file",
            p(&self.pass_file),
        ])
    }

    fn open_age(&self, bundle: &Path, out: &Path) -> Run {
        run([
            "bundle",
            "open",
            p(bundle),
            "--identity",
            p(&self.id_file),
            "--out",
            p(out),
        ])
    }

    /// A bundle made by the binary, holding every file of `include` (a
    /// folder relative to the scene).
    fn create_age_including(&self, include: &str) -> PathBuf {
        let out = self.dir.join("made.tar.age");
        let r = common::bin()
            .current_dir(&self.dir)
            .args([
                "bundle",
                "create",
                "--key-file",
                p(&self.key_file),
                "--include",
                include,
                "--out",
                p(&out),
                "--recipient",
                &self.identity.to_public().to_string(),
            ])
            .output()
            .unwrap();
        let r = Run::from(r);
        assert_eq!(r.code, 0, "{}", r.stderr);
        out
    }
}

fn refused(r: &Run, bundle: &Path, expect: &str) {
    assert_eq!(r.code, 1, "expected a refusal: {}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(p(bundle)), "names the file: {}", r.stderr);
    assert!(r.stderr.contains(expect), "says {expect:?}: {}", r.stderr);
}

fn sha256_hex(d: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(d))
}

/// A well-formed keyceremony archive: the key, `files`, and a manifest
/// listing both, without the end-of-archive blocks.
fn archive_body(key_hex: &str, files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let fp = keyceremony::secret::RootKey::from_hex(key_hex)
        .unwrap()
        .fingerprint()
        .to_string();
    let mut tar = entry("keys/root.key", key_hex.as_bytes());
    let mut listed = vec![serde_json::json!({
        "path": "keys/root.key", "size": key_hex.len(), "sha256": sha256_hex(key_hex.as_bytes()),
    })];
    for (path, data) in files {
        tar.extend(entry(path, data));
        listed.push(serde_json::json!({
            "path": path, "size": data.len(), "sha256": sha256_hex(data),
        }));
    }
    let manifest = serde_json::to_vec(&serde_json::json!({
        "format": "keyceremony-bundle", "version": 1, "ceremony_id": null,
        "label": "many files", "key_fingerprint": fp, "created": "2026-01-01T00:00:00Z",
        "files": listed,
    }))
    .unwrap();
    tar.extend(entry("manifest.json", &manifest));
    tar
}

// ------------------------------------------------------------ open files

/// Issue 10 point 3: every staged file used to stay open until the end, so
/// 1,100 files failed with "Too many open files" under `ulimit -n 1024`.
#[test]
fn open_releases_1100_files_under_an_open_file_limit_of_256() {
    let s = scene();
    let data = s.dir.join("data");
    fs::create_dir(&data).unwrap();
    for i in 0..1100 {
        fs::write(data.join(format!("f{i:04}")), format!("file {i}\n")).unwrap();
    }
    let bundle = s.create_age_including("data");
    let out = s.dir.join("opened");
    let bin = assert_cmd::cargo::cargo_bin("keyceremony");
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(r#"ulimit -n 256 && exec "$@""#)
        .arg("bash")
        .arg(&bin)
        .args(["bundle", "open", p(&bundle), "--identity", p(&s.id_file)])
        .args(["--out", p(&out)])
        .env_remove("KEYCEREMONY_TEST_TOKENS")
        .output()
        .unwrap();
    let r = Run::from(o);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let files = files_below(&out);
    // 1,100 files, the key and the manifest.
    assert_eq!(files.len(), 1102, "{:?}", &files[..5.min(files.len())]);
    assert_eq!(
        fs::read_to_string(out.join("data/f1099")).unwrap(),
        "file 1099\n"
    );
    assert_eq!(
        fs::read_to_string(out.join("keys/root.key")).unwrap(),
        s.key_hex()
    );
}

// ------------------------------------------------------------ the file limit

/// Issue 10 point 4: the limit is 100,000 listed files (99,999 included
/// files and the key); the manifest does not count. Empty files keep the
/// archive small (one header each).
#[test]
fn a_bundle_holds_99999_files_and_the_key_and_not_one_more() {
    let s = scene();
    let key = s.key_hex();
    let files = |n: usize| -> Vec<(String, Vec<u8>)> {
        (0..n).map(|i| (format!("d/{i:06}"), Vec::new())).collect()
    };
    let at_limit = s.write_age(
        "at-limit.tar.age",
        &finish(archive_body(&key, &files(99_999))),
    );
    let r = s.verify_age(&at_limit);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("100001"), "{}", r.stdout);

    let over = s.write_age("over.tar.age", &finish(archive_body(&key, &files(100_000))));
    refused(&s.verify_age(&over), &over, "more than 100000 files");
}

/// Names that clash, in every order: each is refused with what clashes.
/// (Checked through a tree of names, one walk per entry.)
#[test]
fn names_that_are_both_file_and_folder_are_refused() {
    let s = scene();
    let key = s.key_hex();
    let dir = |name: &str| ustar(name, b'5', 0, "");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "file-then-below",
            [entry("d/a", b"1"), entry("d/a/b", b"2")].concat(),
            "\"d/a/b\" is inside \"d/a\", which is a file",
        ),
        (
            "below-then-file",
            [entry("d/a/b", b"2"), entry("d/a", b"1")].concat(),
            "\"d/a\" is both a file and a folder",
        ),
        (
            "dir-then-file",
            [dir("d/x/"), entry("d/x", b"1")].concat(),
            "\"d/x\" is both a file and a folder",
        ),
        (
            "file-then-dir",
            [entry("d/x", b"1"), dir("d/x/")].concat(),
            "\"d/x\" is both a file and a folder",
        ),
        (
            "dir-inside-file",
            [entry("d/x", b"1"), dir("d/x/y/")].concat(),
            "\"d/x/y\" is inside \"d/x\", which is a file",
        ),
        (
            "twice-deep",
            [entry("d/e/f", b"1"), entry("d/./e//f", b"1")].concat(),
            "\"d/e/f\" appears twice",
        ),
    ];
    for (what, files, expect) in cases {
        let mut tar = entry("keys/root.key", key.as_bytes());
        tar.extend(files);
        let f = s.write_age(&format!("{what}.tar.age"), &finish(tar));
        refused(&s.verify_age(&f), &f, expect);
    }
    // Folders named again, before and after their files, are fine.
    let mut tar = Vec::new();
    tar.extend(dir("data/"));
    tar.extend(archive_body(&key, &[("data/k/a".into(), b"a".to_vec())]));
    tar.extend(dir("data/k/"));
    let f = s.write_age("folders-again.tar.age", &finish(tar));
    let r = s.verify_age(&f);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

// ------------------------------------------------------------ sizes

/// A PAX `size` of u64::MAX used to overflow `skip(remaining + padding)`
/// (issue 10 point 8; fixed in the tar reader by 0731ceb3). Near the edge
/// without overflowing it is a truncated archive.
#[test]
fn pax_sizes_at_the_edge_of_u64_are_refused() {
    let s = scene();
    for (size, expect) in [
        (u64::MAX, "unreadable size"),
        (u64::MAX - 1, "unreadable size"),
        (u64::MAX - 511, "truncated"),
    ] {
        let record = format!("size={size}\n");
        let mut len = record.len() + 3;
        if format!("{len} {record}").len() != len {
            len += 1;
        }
        let pax = format!("{len} {record}");
        assert_eq!(pax.len(), len);
        let mut tar = ustar("PaxHeader/big", b'x', pax.len() as u64, "");
        tar.extend(pax.as_bytes());
        tar.resize(1024, 0);
        tar.extend(entry("data/big", b"tiny"));
        let tar = finish(tar);
        let age = s.write_age(&format!("pax-{size}.tar.age"), &tar);
        refused(&s.verify_age(&age), &age, expect);
        let nexus = s.write_nexus(&format!("pax-{size}.tar.gz.enc"), &tar);
        refused(&s.verify_nexus(&nexus), &nexus, expect);
    }
}

// ------------------------------------------------------------ the archive's end

/// Issue 10 point 9: an archive must end with its two zero blocks; one cut
/// right after an entry, or after one zero block, is truncated.
#[test]
fn archives_without_their_end_blocks_are_refused() {
    let s = scene();
    let body = archive_body(&s.key_hex(), &[("data/a".into(), b"a".to_vec())]);
    let good = finish(body.clone());
    let ok = s.write_age("good.tar.age", &good);
    assert_eq!(s.verify_age(&ok).code, 0);
    let mut one_block = body.clone();
    one_block.extend([0u8; 512]);
    for (what, tar) in [("no-end", body.clone()), ("one-zero-block", one_block)] {
        let age = s.write_age(&format!("{what}.tar.age"), &tar);
        refused(&s.verify_age(&age), &age, "truncated");
        let nexus = s.write_nexus(&format!("{what}.tar.gz.enc"), &tar);
        refused(&s.verify_nexus(&nexus), &nexus, "truncated");
    }
}

/// After the end marker only zero padding may follow (a tar writer pads to
/// its record size); anything else is refused, in both formats.
#[test]
fn data_after_the_end_of_the_archive_is_refused() {
    let s = scene();
    let body = archive_body(&s.key_hex(), &[("data/a".into(), b"a".to_vec())]);
    let mut padded = finish(body.clone());
    padded.extend([0u8; 8192]);
    let ok = s.write_age("padded.tar.age", &padded);
    let r = s.verify_age(&ok);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut tail = finish(body);
    tail.extend([0u8; 3000]);
    tail.extend(entry("data/hidden", b"smuggled"));
    let age = s.write_age("tail.tar.age", &tail);
    refused(&s.verify_age(&age), &age, "data after the end");
    let nexus = s.write_nexus("tail.tar.gz.enc", &tail);
    refused(&s.verify_nexus(&nexus), &nexus, "data after the end");
}

// ------------------------------------------------------------ empty Nexus backups

/// Issue 10 point 9: a Nexus backup with neither manifest nor key was
/// "verified" although it carries nothing to import.
#[test]
fn a_nexus_backup_without_manifest_and_key_is_refused() {
    let s = scene();
    let tar = finish([entry("data/notes", b"hello"), entry("data/more", b"x")].concat());
    let nexus = s.write_nexus("empty.tar.gz.enc", &tar);
    refused(&s.verify_nexus(&nexus), &nexus, "keys/root.key");
    // A plain Nexus backup holding the key (no manifest) is still fine.
    let tar = finish([entry("keys/root.key", s.key_hex().as_bytes())].concat());
    let nexus = s.write_nexus("key-only.tar.gz.enc", &tar);
    let r = s.verify_nexus(&nexus);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

// ------------------------------------------------------------ symbolic links

fn good_bundle(s: &Scene) -> PathBuf {
    let body = archive_body(&s.key_hex(), &[("data/a".into(), b"a".to_vec())]);
    s.write_age("good.tar.age", &finish(body))
}

/// Issue 10 point 9: `--out` that is itself a symbolic link (to a folder
/// elsewhere, or dangling) is refused; nothing lands where it points.
#[test]
fn open_refuses_an_output_folder_that_is_a_symbolic_link() {
    let s = scene();
    let bundle = good_bundle(&s);
    let elsewhere = s.dir.join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let link = s.dir.join("out-link");
    symlink(&elsewhere, &link).unwrap();
    let r = s.open_age(&bundle, &link);
    refused(&r, &link, "symbolic link");
    assert!(files_below(&elsewhere).is_empty());

    let dangling = s.dir.join("dangling");
    symlink(s.dir.join("nowhere"), &dangling).unwrap();
    let r = s.open_age(&bundle, &dangling);
    refused(&r, &dangling, "symbolic link");
    assert!(!s.dir.join("nowhere").exists());
}

/// A folder on the way to `--out` that is a link owned by another user (not
/// root, not us) is refused; a link we or root own (like /var/run) is
/// followed.
#[test]
fn open_refuses_a_path_through_someone_elses_symbolic_link() {
    let s = scene();
    let bundle = good_bundle(&s);
    let real = s.dir.join("real");
    fs::create_dir(&real).unwrap();
    let hop = s.dir.join("hop");
    symlink(&real, &hop).unwrap();

    let ours = s.open_age(&bundle, &hop.join("ours"));
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    assert!(real.join("ours/keys/root.key").exists());

    if !nix_is_root() {
        eprintln!("SKIPPED part: lchown to another user needs root");
        return;
    }
    std::os::unix::fs::lchown(&hop, Some(4242), Some(4242)).unwrap();
    let out = hop.join("theirs");
    let r = s.open_age(&bundle, &out);
    refused(&r, &hop, "symbolic link");
    assert!(!real.join("theirs").exists());
}

fn nix_is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    let probe = tempfile::NamedTempFile::new().unwrap();
    fs::metadata(probe.path()).unwrap().uid() == 0
}
