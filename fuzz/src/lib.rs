//! The bodies of the fuzz targets, one function per parser.
//!
//! Each takes the fuzzer's bytes, feeds them to keyceremony's public parser,
//! and panics only when an invariant breaks: a parser that panics, or a
//! document that parses but does not survive its own writer (write it back,
//! parse again, compare). Errors are the expected outcome for almost every
//! input and are not a finding.
//!
//! This file is compiled twice: by the fuzz crate (one thin binary per
//! target in `fuzz_targets/`) and by the normal test suite
//! (`tests/fuzz_regressions.rs`, via `#[path]`), which runs every corpus
//! file and every saved crash through the same functions. So it may use only
//! keyceremony and the crates keyceremony itself depends on.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use keyceremony::bundle::{self, Kind, Manifest, Unsealing};
use keyceremony::passphrase_shard::{self, ScryptHeader};
use keyceremony::qr::{self, payload, typed};
use keyceremony::seal::{self, PivRecipient, SealedHeader};
use keyceremony::shard::{self, JsonDocument, ShardFile};
use keyceremony::spike::SpikeShard;

/// The body of a target: takes the fuzzer's bytes, panics on a finding.
pub type Body = fn(&[u8]);

/// Every target: its name (the folder of its corpus) and its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("shard_file", shard_file),
    ("ceremony_record", ceremony_record),
    ("json_document", json_document),
    ("qr_payload", qr_payload),
    ("qr_typed", qr_typed),
    ("spike_shard", spike_shard),
    ("sealed_header", sealed_header),
    ("age_header", age_header),
    ("nexus_header", nexus_header),
    ("gzip_reader", gzip_reader),
    ("tar_reader", tar_reader),
    ("plan_file", plan_file),
    ("transcript", transcript),
    ("manifest", manifest),
    ("passphrase_header", passphrase_header),
];

/// The body of the target called `name`.
pub fn target(name: &str) -> Option<Body> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

const INPUT: &str = "fuzz-input";

/// A shard file (`ShardFile::parse`); a parsed shard must read back the same.
pub fn shard_file(data: &[u8]) {
    if let Ok(s) = ShardFile::parse(data) {
        let json = s.to_json();
        let again = ShardFile::parse(json.as_bytes()).expect("a written shard parses again");
        assert_eq!(again.to_json(), json, "shard round trip differs");
        assert!(qr::same_share(&s, &again));
    }
}

/// `ceremony.json` as `verify --record` reads it (`shard::parse_document`).
pub fn ceremony_record(data: &[u8]) {
    if let Ok(JsonDocument::Record(r)) = shard::parse_document(data) {
        let json = r.to_json();
        match shard::parse_document(json.as_bytes()) {
            Ok(JsonDocument::Record(again)) => assert_eq!(*again, *r, "record round trip differs"),
            other => panic!("a written record does not parse again: {other:?}"),
        }
    }
}

/// Content sniffing of any JSON input (shard or record, told apart by `format`).
pub fn json_document(data: &[u8]) {
    match shard::parse_document(data) {
        Ok(JsonDocument::Shard(s)) => {
            assert!(
                ShardFile::parse(data).is_ok(),
                "parse_document and ShardFile::parse disagree"
            );
            shard_file(s.to_json().as_bytes());
        }
        Ok(JsonDocument::Record(r)) => ceremony_record(r.to_json().as_bytes()),
        Err(e) => {
            // The message is shown to the user: bounded whatever the input.
            assert!(
                e.to_string().len() < 1024,
                "error message of {} bytes",
                e.to_string().len()
            );
        }
    }
}

/// A scanned QR code's text (`qr::payload::decode`).
pub fn qr_payload(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = payload::decode(text) {
        let again = payload::decode(&payload::encode(&s)).expect("an encoded payload decodes");
        assert!(qr::same_share(&s, &again), "payload round trip differs");
    }
}

/// Typed fallback lines (`qr::read_typed_share`), as a person types them.
pub fn qr_typed(data: &[u8]) {
    let mut prompts = Vec::new();
    if let Ok(s) = qr::read_typed_share(Cursor::new(data), &mut prompts) {
        let lines = typed::fallback_lines(&s).join("\n");
        let again = qr::read_typed_share(Cursor::new(lines.as_bytes()), &mut std::io::sink())
            .expect("printed fallback lines read back");
        assert!(qr::same_share(&s, &again), "typed round trip differs");
    }
}

/// A SPIKE recovery shard line (`SpikeShard::parse`).
pub fn spike_shard(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = SpikeShard::parse(text) {
        let line = s.to_line();
        let again = SpikeShard::parse(&line).expect("a written SPIKE line parses");
        assert_eq!(again.to_line(), line, "SPIKE round trip differs");
    }
}

/// The fixed test token of `testdata/sealed` (its key is published there).
fn test_token() -> &'static (p256::SecretKey, PivRecipient) {
    static TOKEN: OnceLock<(p256::SecretKey, PivRecipient)> = OnceLock::new();
    TOKEN.get_or_init(|| {
        use sha2::Digest;
        let d = sha2::Sha256::digest(b"keyceremony sealed-share vector: token key");
        let sk = p256::SecretKey::from_slice(&d).expect("a valid scalar");
        let r = PivRecipient::from_public_key(sk.public_key());
        (sk, r)
    })
}

/// A sealed share: `SealedHeader::parse`, then (as the token would) the
/// ECDH with the test token's key and age's decryption and the shard parse.
pub fn sealed_header(data: &[u8]) {
    if !seal::is_sealed(data) {
        assert!(SealedHeader::parse(data).is_err());
        return;
    }
    let Ok(header) = SealedHeader::parse(data) else {
        return;
    };
    let (sk, recipient) = test_token();
    let shared = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), header.epk.as_affine());
    let mut x = [0u8; 32];
    x.copy_from_slice(shared.raw_secret_bytes());
    if let Ok(plain) = seal::open_with_shared_secret(data, &header, recipient, &x) {
        let _ = seal::shard_from_plaintext(&plain);
    }
}

struct Scratch {
    _dir: tempfile::TempDir,
    input: PathBuf,
    identity: Unsealing,
}

/// One temporary folder per process: the bundle readers take a path.
fn scratch() -> &'static Scratch {
    static SCRATCH: OnceLock<Scratch> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let id_path = dir.path().join("identity.txt");
        // testdata/bundles/nexus-age-identity.txt, which opens known-key.tar.age
        std::fs::write(
            &id_path,
            "AGE-SECRET-KEY-1NRTY9YASPV2WY9JPWZV9550LJA4N5RX5RCQ9DM6C3LCQMGWRM68QWWT2HP\n",
        )
        .expect("write the identity");
        let identity = Unsealing::identity_file(&id_path).expect("the test identity parses");
        Scratch {
            input: dir.path().join("bundle"),
            _dir: dir,
            identity,
        }
    })
}

fn bundle_file(data: &[u8]) -> &'static Path {
    let s = scratch();
    std::fs::write(&s.input, data).expect("write the input");
    &s.input
}

fn quiet() -> bundle::Options {
    bundle::Options::default()
}

/// An age bundle: `bundle::inspect` (the bounded header read) and
/// `bundle::verify` with the identity of `testdata/bundles`.
pub fn age_header(data: &[u8]) {
    let path = bundle_file(data);
    let kind = bundle::detect(path);
    let inspected = bundle::inspect(path);
    if let (Ok(Kind::Age), Ok(i)) = (&kind, &inspected) {
        assert!(!i.stanzas.is_empty());
        assert!(i.payload_size <= i.size);
    }
    if matches!(kind, Ok(Kind::Age)) {
        let _ = bundle::verify(path, &scratch().identity, &quiet());
    }
}

/// A Nexus backup's header and layout (`bundle::inspect`). Opening one costs
/// an Argon2id of 64 MiB, so the archive inside is fuzzed by `gzip_reader`.
pub fn nexus_header(data: &[u8]) {
    let path = bundle_file(data);
    if let (Ok(Kind::NexusBackup), Ok(i)) = (bundle::detect(path), bundle::inspect(path)) {
        let kdf = i.kdf.expect("a Nexus backup has KDF facts");
        assert_eq!(kdf.salt.len(), 32);
        assert_eq!(kdf.nonce.len(), 24);
        assert_eq!(i.size, data.len() as u64);
    }
}

/// The decrypted content of a Nexus backup: gzip, then the tar, manifest and
/// key checks (`bundle::check_plaintext`).
pub fn gzip_reader(data: &[u8]) {
    if let Ok(c) = bundle::check_plaintext(Kind::NexusBackup, data, Path::new(INPUT)) {
        check_contents(&c);
    }
}

/// The tar reader alone (`bundle::tar::TarReader`), then the decrypted
/// content of an age bundle (tar, manifest and key checks); on the bytes as
/// given, and again with the checksum of every ustar header block set right,
/// since a fuzzer rarely gets a header checksum right by mutation.
pub fn tar_reader(data: &[u8]) {
    tar_reader_once(data);
    let mut fixed = data.to_vec();
    let mut changed = false;
    for block in fixed.chunks_exact_mut(512) {
        if &block[257..262] == b"ustar" {
            let sum: u64 = block
                .iter()
                .enumerate()
                .map(|(i, &b)| {
                    if (148..156).contains(&i) {
                        32
                    } else {
                        b as u64
                    }
                })
                .sum();
            let field = format!("{sum:06o}\0 ");
            changed |= block[148..156] != *field.as_bytes();
            block[148..156].copy_from_slice(field.as_bytes());
        }
    }
    if changed {
        tar_reader_once(&fixed);
    }
}

fn tar_reader_once(data: &[u8]) {
    // Entries whose data is never read: next_entry skips it.
    let mut tar = bundle::tar::TarReader::new(data);
    let mut entries = 0usize;
    while let Ok(Some(_)) = tar.next_entry() {
        entries += 1;
        assert!(
            entries * 512 <= data.len(),
            "{entries} entries from {} bytes",
            data.len()
        );
    }
    // Entries read to the end of their data.
    let mut tar = bundle::tar::TarReader::new(data);
    let mut buf = [0u8; 4096];
    let mut entries = 0usize;
    while let Ok(Some(entry)) = tar.next_entry() {
        entries += 1;
        // Every entry needs its own 512-byte header at least.
        assert!(
            entries * 512 <= data.len(),
            "{entries} entries from {} bytes",
            data.len()
        );
        let (bundle::tar::Entry::File { path, .. } | bundle::tar::Entry::Dir { path }) = &entry;
        let clean = bundle::tar::clean_path(path.as_bytes());
        assert_eq!(
            clean.ok().as_deref(),
            Some(path.as_str()),
            "a handed-out path is not clean"
        );
        let mut total = 0u64;
        while let Ok(n) = tar.read_data(&mut buf) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        assert!(total <= data.len() as u64);
    }
    if let Ok(c) = bundle::check_plaintext(Kind::Age, data, Path::new(INPUT)) {
        check_contents(&c);
    }
}

fn check_contents(c: &bundle::Contents) {
    if let Some(m) = &c.manifest {
        assert_eq!(
            Some(m.key_fingerprint),
            c.key_fingerprint,
            "manifest key mismatch accepted"
        );
        assert_eq!(
            m.files.len() + 1,
            c.files.len(),
            "manifest lists other files than the archive"
        );
    }
}

/// `manifest.json` (`Manifest::parse`); a parsed manifest must read back the same.
pub fn manifest(data: &[u8]) {
    if let Ok(m) = Manifest::parse(data) {
        let again = Manifest::parse(m.to_json().as_bytes()).expect("a written manifest parses");
        assert_eq!(again, m, "manifest round trip differs");
    }
}

/// A ceremony plan (`ceremony/*.toml`): parsing never panics, and a plan
/// that parses parses again the same way from the same bytes.
pub fn plan_file(data: &[u8]) {
    let at = Path::new("fuzz-plan.toml");
    let first = keyceremony::plan::Plan::parse(at, data);
    let again = keyceremony::plan::Plan::parse(at, data);
    assert_eq!(
        first.is_ok(),
        again.is_ok(),
        "the same plan bytes parsed differently"
    );
}

/// A transcript (`transcript.jsonl`): verifying never panics, and a
/// transcript that verifies stops verifying when its last byte is cut off
/// (a truncated last line) or a line is dropped.
pub fn transcript(data: &[u8]) {
    use keyceremony::transcript::{verify_bytes, VerifyOptions};
    let at = Path::new("fuzz-transcript.jsonl");
    let opts = VerifyOptions::default();
    if verify_bytes(at, data, &opts).is_ok() {
        assert!(
            verify_bytes(at, &data[..data.len() - 1], &opts).is_err(),
            "a transcript without its last byte verified"
        );
        if let Some(first_end) = data.iter().position(|&b| b == b'\n') {
            assert!(
                verify_bytes(at, &data[first_end + 1..], &opts).is_err(),
                "a transcript without its first line verified"
            );
        }
    }
}

/// The published passphrase of `testdata/passphrase` (not a secret).
const TEST_PASSPHRASE: &[u8] = b"keyceremony passphrase vector: not a secret";

/// A passphrase-protected shard (`shard-<i>.json.age`): its header read
/// without any KDF work (`ScryptHeader::parse` over `seal::read_stanzas`,
/// and `is_passphrase_file`, the test that tells it from a sealed share);
/// with a work factor of at most 4 (cheap), opened with the published test
/// passphrase (the age crate's header, MAC and payload) and the shard
/// inside. An accepted header has the age magic, one scrypt stanza and a
/// work factor within bounds, and is never also read as a sealed share's.
pub fn passphrase_header(data: &[u8]) {
    let header = ScryptHeader::parse(data);
    let is_passphrase = passphrase_shard::is_passphrase_file(data);
    if !data.starts_with(b"age-encryption.org/v1\n") {
        assert!(header.is_err(), "a header without the age magic parsed");
        assert!(!is_passphrase);
        return;
    }
    let Ok(header) = header else {
        return;
    };
    assert!(
        is_passphrase,
        "a parsed scrypt header is not a passphrase file"
    );
    assert!((1..=passphrase_shard::MAX_WORK_FACTOR).contains(&header.work_factor));
    assert!(
        SealedHeader::parse(data).is_err(),
        "a passphrase shard's header also reads as a sealed share's"
    );
    if header.work_factor <= 4 {
        let pass = bundle::Passphrase::new(TEST_PASSPHRASE.to_vec()).expect("a passphrase");
        let _ = passphrase_shard::open_shard(
            Path::new(INPUT),
            data,
            &pass,
            &keyceremony::progress::Progress::silent(),
        );
    }
}
