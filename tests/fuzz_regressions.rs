//! The fuzz targets without libFuzzer: every input a fuzzer found worth
//! keeping runs once through the same function its target runs.
//!
//! - `testdata/fuzz-regressions/<target>/*`: inputs that crashed a target
//!   once (a panic, an overflow, a broken round trip), kept after the fix.
//! - `fuzz/corpus/<target>/*`: the minimised corpora (see docs/fuzzing.md),
//!   a cheap check that no parser change brings back a panic on inputs that
//!   reach deep into it.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files of `dir`, sorted; none when it does not exist.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .map(|e| e.expect("read a folder entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Runs every file of `dir` through `body`; returns how many ran and the
/// files that panicked, with the panic message.
fn run_all(dir: &Path, body: targets::Body) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let files = files_in(dir);
    for file in &files {
        let data = std::fs::read(file).expect("read an input");
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| body(&data))) {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", file.display()));
        }
    }
    (files.len(), failures)
}

#[test]
fn every_saved_crash_input_is_handled() {
    let root = repo().join("testdata/fuzz-regressions");
    let mut ran = 0;
    let mut failures = Vec::new();
    for dir in std::fs::read_dir(&root).expect("testdata/fuzz-regressions exists") {
        let dir = dir.expect("read a folder entry").path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let body = targets::target(&name)
            .unwrap_or_else(|| panic!("{}: no fuzz target of that name", dir.display()));
        let (n, mut f) = run_all(&dir, body);
        ran += n;
        failures.append(&mut f);
    }
    assert!(ran > 0, "no saved crash input under {}", root.display());
    assert!(
        failures.is_empty(),
        "inputs that still crash:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_corpus_file_runs_through_its_target() {
    let mut failures = Vec::new();
    for (name, body) in targets::TARGETS {
        let dir = repo().join("fuzz/corpus").join(name);
        let (n, mut f) = run_all(&dir, *body);
        assert!(
            n > 0,
            "{}: the corpus of target {name} is empty",
            dir.display()
        );
        failures.append(&mut f);
    }
    assert!(
        failures.is_empty(),
        "corpus inputs that crash:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_corpus_folder_has_a_target() {
    for dir in std::fs::read_dir(repo().join("fuzz/corpus")).expect("fuzz/corpus exists") {
        let name = dir.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            targets::target(&name).is_some(),
            "fuzz/corpus/{name} has no target"
        );
    }
}

/// The harness reports a panicking input (and names the file).
#[test]
fn a_panicking_input_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("boom"), b"boom").unwrap();
    std::fs::write(dir.path().join("fine"), b"fine").unwrap();
    let (n, failures) = run_all(dir.path(), |d| assert!(d != b"boom", "found it"));
    assert_eq!(n, 2);
    assert_eq!(failures.len(), 1);
    assert!(failures[0].contains("boom: found it"), "{failures:?}");
}

/// Each corpus holds at least one input its parser accepts, so the round
/// trip checks of the targets run, not only the error paths.
#[test]
fn every_corpus_reaches_the_accepting_path() {
    use keyceremony::bundle::{self, Kind, Manifest};
    use keyceremony::{qr, seal, shard, spike};
    let name = Path::new("corpus input");
    type Accepts = fn(&[u8]) -> bool;
    let accepts: &[(&str, Accepts)] = &[
        ("shard_file", |d| shard::ShardFile::parse(d).is_ok()),
        ("ceremony_record", |d| {
            matches!(shard::parse_document(d), Ok(shard::JsonDocument::Record(_)))
        }),
        ("json_document", |d| shard::parse_document(d).is_ok()),
        ("qr_payload", |d| {
            std::str::from_utf8(d).is_ok_and(|t| qr::payload::decode(t).is_ok())
        }),
        ("qr_typed", |d| {
            qr::read_typed_share(std::io::Cursor::new(d), &mut std::io::sink()).is_ok()
        }),
        ("spike_shard", |d| {
            std::str::from_utf8(d).is_ok_and(|t| spike::SpikeShard::parse(t).is_ok())
        }),
        ("sealed_header", |d| seal::SealedHeader::parse(d).is_ok()),
        ("passphrase_header", |d| {
            keyceremony::passphrase_shard::ScryptHeader::parse(d).is_ok()
        }),
        ("manifest", |d| Manifest::parse(d).is_ok()),
        ("plan_file", |d| {
            keyceremony::plan::Plan::parse(std::path::Path::new("p.toml"), d).is_ok()
        }),
        ("transcript", |d| {
            keyceremony::transcript::verify_bytes(
                std::path::Path::new("t.jsonl"),
                d,
                &Default::default(),
            )
            .is_ok()
        }),
    ];
    for (target, accepts) in accepts {
        let files = files_in(&repo().join("fuzz/corpus").join(target));
        assert!(
            files.iter().any(|f| accepts(&std::fs::read(f).unwrap())),
            "no input of fuzz/corpus/{target} is accepted by its parser"
        );
    }
    for (target, kind) in [
        ("tar_reader", Kind::Age),
        ("gzip_reader", Kind::NexusBackup),
    ] {
        let files = files_in(&repo().join("fuzz/corpus").join(target));
        assert!(
            files
                .iter()
                .any(|f| bundle::check_plaintext(kind, &std::fs::read(f).unwrap(), name).is_ok()),
            "no input of fuzz/corpus/{target} is accepted as bundle content"
        );
    }
}
