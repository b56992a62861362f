//! The cheap parts of the release, in the test command: the licence check
//! and SBOM (`packaging/sbom.py`) and the Debian package
//! (`packaging/build-deb.sh`, on this build's binary). The full release (two
//! offline builds compared, runtime dependencies, install into a fresh root)
//! is `scripts/release.sh` and `packaging/install-test.sh`, run by hand
//! (docs/install.md): too slow for every test run.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{have_tool, tools_or_skip};
use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn sbom(args: &[&str]) -> Output {
    Command::new("python3")
        .arg(repo().join("packaging/sbom.py"))
        .args(args)
        .output()
        .expect("python3 runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// -------------------------------------------------------------- licences

#[test]
fn every_crate_is_under_an_allowed_licence() {
    let allow = repo().join("packaging/licenses-allowed.txt");
    let out = sbom(&["--check-licenses", allow.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("licence check: all"));
}

#[test]
fn the_licence_check_fails_and_names_the_crates_when_a_licence_is_not_allowed() {
    let dir = tempfile::tempdir().unwrap();
    // Without MIT, every crate that is MIT only (e.g. bytes-like small crates) fails.
    let list = dir.path().join("allowed.txt");
    let full = std::fs::read_to_string(repo().join("packaging/licenses-allowed.txt")).unwrap();
    let without_mit: String = full
        .lines()
        .filter(|l| l.trim() != "MIT")
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&list, without_mit).unwrap();
    let out = sbom(&["--check-licenses", list.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("licence check FAILED"), "{err}");
    assert!(err.contains("licence 'MIT' is not covered"), "{err}");
    // Crates that offer MIT OR Apache-2.0 still pass on Apache-2.0.
    assert!(!err.contains("clap "), "{err}");
}

#[test]
fn licence_expressions_are_evaluated_as_spdx_says() {
    let script = r#"
import sys
sys.path.insert(0, sys.argv[1])
from sbom import licence_satisfied as ok
allowed = {"MIT", "Apache-2.0", "BSD-3-Clause", "Apache-2.0 WITH LLVM-exception"}
cases = [
    ("MIT", True), ("GPL-3.0-only", False),
    ("MIT OR GPL-3.0-only", True), ("GPL-3.0-only OR MIT", True),
    ("MIT AND GPL-3.0-only", False), ("MIT AND Apache-2.0", True),
    ("(Apache-2.0 OR MIT) AND BSD-3-Clause", True),
    ("(Apache-2.0 OR MIT) AND ISC", False),
    ("Apache-2.0/MIT", True), ("GPL-2.0/LGPL-2.1", False),
    ("Apache-2.0 WITH LLVM-exception", True), ("MIT WITH LLVM-exception", False),
    ("Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT", True),
    ("MIT OR Apache-2.0 AND GPL-3.0-only", True),
]
for expr, want in cases:
    got = ok(expr, allowed)
    assert got == want, f"{expr}: {got}, expected {want}"
for bad in ["MIT OR", "(MIT", "MIT)", "AND MIT", "", "MIT WITH", "MIT MIT"]:
    try:
        ok(bad, allowed)
    except ValueError:
        continue
    raise AssertionError(f"{bad!r} was accepted")
print("ok", len(cases))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(repo().join("packaging"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("ok 14"));
}

// ------------------------------------------------------------------ SBOM

fn lock_versions() -> HashMap<String, Vec<(String, Option<String>)>> {
    let lock: toml::Value =
        toml::from_str(&std::fs::read_to_string(repo().join("Cargo.lock")).unwrap()).unwrap();
    let mut map: HashMap<String, Vec<(String, Option<String>)>> = HashMap::new();
    for p in lock["package"].as_array().unwrap() {
        map.entry(p["name"].as_str().unwrap().to_string())
            .or_default()
            .push((
                p["version"].as_str().unwrap().to_string(),
                p.get("checksum").map(|c| c.as_str().unwrap().to_string()),
            ));
    }
    map
}

#[test]
fn the_sbom_lists_every_shipped_crate_with_version_licence_and_hash() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sbom.cdx.json");
    let out = sbom(&["--sbom", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(doc["bomFormat"], "CycloneDX");
    assert_eq!(doc["specVersion"], "1.5");
    assert_eq!(doc["metadata"]["component"]["name"], "keyceremony");

    let lock = lock_versions();
    let components = doc["components"].as_array().unwrap();
    assert!(components.len() > 200, "{}", components.len());
    for c in components {
        let name = c["name"].as_str().unwrap();
        let version = c["version"].as_str().unwrap();
        let locked = &lock[name];
        let (_, checksum) = locked
            .iter()
            .find(|(v, _)| v == version)
            .unwrap_or_else(|| panic!("{name} {version} not in Cargo.lock"));
        assert_eq!(
            c["hashes"][0]["content"].as_str(),
            checksum.as_deref(),
            "{name}"
        );
        assert!(
            !c["licenses"][0]["expression"].as_str().unwrap().is_empty(),
            "{name}"
        );
        assert_eq!(c["purl"], format!("pkg:cargo/{name}@{version}"));
        let role = c["properties"][0]["value"].as_str().unwrap();
        assert!(role == "runtime" || role == "build", "{name}: {role}");
    }
    let role_of = |name: &str| {
        components
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["properties"][0]["value"].as_str().unwrap().to_string())
    };
    assert_eq!(role_of("p256").as_deref(), Some("runtime"));
    assert_eq!(role_of("libloading").as_deref(), Some("runtime"));
    assert_eq!(
        role_of("clap_derive").as_deref(),
        Some("build"),
        "a proc macro"
    );
    // Test-only crates are in no release artefact.
    for dev in ["proptest", "assert_cmd", "predicates", "rusty-fork"] {
        assert!(role_of(dev).is_none(), "{dev} is a dev-dependency");
    }
    // Deterministic: the same lock gives the same file.
    let again = dir.path().join("again.json");
    assert!(sbom(&["--sbom", again.to_str().unwrap()]).status.success());
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(&again).unwrap()
    );
}

// --------------------------------------------------------------- package

fn build_deb(binary: &Path, out: &Path, tmp: &Path) -> PathBuf {
    let o = Command::new(repo().join("packaging/build-deb.sh"))
        .arg("--binary")
        .arg(binary)
        .arg("--out")
        .arg(out)
        .env("TMPDIR", tmp)
        .output()
        .unwrap();
    assert!(o.status.success(), "build-deb: {}", text(&o.stderr));
    PathBuf::from(text(&o.stdout).trim())
}

#[test]
fn the_debian_package_holds_binary_pages_completions_docs_and_is_reproducible() {
    let tools = [("dpkg-deb", "--version"), ("dpkg-shlibdeps", "--version")];
    if !tools_or_skip("build-deb", &tools, "scripts/ensure-release-tools.sh") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A stripped copy of this build's binary keeps the test quick; the
    // release packages its release binary the same way.
    let binary = dir.path().join("keyceremony");
    std::fs::copy(env!("CARGO_BIN_EXE_keyceremony"), &binary).unwrap();
    if have_tool("strip", "--version") {
        assert!(Command::new("strip")
            .arg(&binary)
            .status()
            .unwrap()
            .success());
    }
    let tmp_a = dir.path().join("tmp-a");
    let tmp_b = dir.path().join("tmp/b");
    std::fs::create_dir_all(&tmp_a).unwrap();
    std::fs::create_dir_all(&tmp_b).unwrap();
    let deb_a = build_deb(&binary, &dir.path().join("out-a"), &tmp_a);
    let deb_b = build_deb(&binary, &dir.path().join("out-b"), &tmp_b);
    assert_eq!(
        deb_a.file_name().unwrap().to_str().unwrap(),
        format!("keyceremony_{}_amd64.deb", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        std::fs::read(&deb_a).unwrap(),
        std::fs::read(&deb_b).unwrap(),
        "two builds of the package differ"
    );

    let field = |name: &str| {
        let o = Command::new("dpkg-deb")
            .arg("-f")
            .arg(&deb_a)
            .arg(name)
            .output()
            .unwrap();
        text(&o.stdout).trim().to_string()
    };
    assert_eq!(field("Package"), "keyceremony");
    assert_eq!(field("Version"), env!("CARGO_PKG_VERSION"));
    let depends = field("Depends");
    for dep in ["libc6 (>= ", "libgcc-s1", "libpcsclite1"] {
        assert!(depends.contains(dep), "Depends: {depends}");
    }
    assert_eq!(field("Recommends"), "pcscd");

    let o = Command::new("dpkg-deb")
        .arg("-c")
        .arg(&deb_a)
        .output()
        .unwrap();
    let listing = text(&o.stdout);
    let files: Vec<&str> = listing
        .lines()
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    for line in listing.lines() {
        assert!(line.contains(" root/root "), "{line}");
    }
    let pages: Vec<String> = keyceremony::cli_docs::man_pages()
        .into_iter()
        .map(|p| format!("./usr/share/man/man1/{}.gz", p.file_name))
        .collect();
    for page in &pages {
        assert!(files.contains(&page.as_str()), "{page} missing");
    }
    for expected in [
        "./usr/bin/keyceremony",
        "./usr/share/bash-completion/completions/keyceremony",
        "./usr/share/zsh/vendor-completions/_keyceremony",
        "./usr/share/fish/vendor_completions.d/keyceremony.fish",
        "./usr/share/doc/keyceremony/README.md",
        "./usr/share/doc/keyceremony/copyright",
        "./usr/share/doc/keyceremony/docs/install.md",
        "./usr/share/doc/keyceremony/docs/formats.md",
    ] {
        assert!(files.contains(&expected), "{expected} missing: {listing}");
    }
    let binary_line = listing
        .lines()
        .find(|l| l.ends_with(" ./usr/bin/keyceremony"))
        .unwrap();
    assert!(binary_line.starts_with("-rwxr-xr-x"), "{binary_line}");

    // What is packaged is what the packaged binary generates.
    let unpacked = dir.path().join("unpacked");
    assert!(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb_a)
        .arg(&unpacked)
        .status()
        .unwrap()
        .success());
    let bash =
        std::fs::read_to_string(unpacked.join("usr/share/bash-completion/completions/keyceremony"))
            .unwrap();
    assert_eq!(
        bash,
        keyceremony::cli_docs::completion_script(keyceremony::cli_docs::Shell::Bash)
    );
}
