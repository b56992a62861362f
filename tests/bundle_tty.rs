//! The passphrase prompt of `bundle create --nexus-backup` (asked twice, no
//! echo) and of `bundle open`, on a real pseudo-terminal from `script`
//! (util-linux). Skipped, visibly, where `script` is missing.

mod common;

use std::path::Path;

use common::{have_script, run, testdata};

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn passphrase_is_asked_twice_without_echo_and_opens_the_backup() {
    if !have_script() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let out = d.join("b.tar.gz.enc");
    let key = testdata("known-key/key.hex");
    let secret = "typed-at-the-terminal-42";
    let create = [
        "bundle",
        "create",
        "--key-file",
        p(&key),
        "--out",
        p(&out),
        "--nexus-backup",
    ];

    // Two different answers: refused, nothing written; a failure (1), not
    // a usage error: the command line was right.
    let (code, shown) = common::on_terminal(
        &create,
        &[],
        &[
            ("Passphrase for the Nexus backup:", secret),
            ("The same passphrase again:", "something else"),
        ],
    );
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("differ"), "{shown}");
    assert!(!out.exists());

    let (code, shown) = common::on_terminal(
        &create,
        &[],
        &[
            ("Passphrase for the Nexus backup:", secret),
            ("The same passphrase again:", secret),
        ],
    );
    assert_eq!(code, 0, "{shown}");
    assert!(
        !shown.contains(secret),
        "the passphrase was echoed: {shown}"
    );

    // The typed passphrase is the one a file gives (minus its newline).
    let pass = d.join("pass.txt");
    std::fs::write(&pass, format!("{secret}\n")).unwrap();
    let r = run(["bundle", "verify", p(&out), "--passphrase-file", p(&pass)]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // open asks once.
    let dest = d.join("import");
    let (code, shown) = common::on_terminal(
        &["bundle", "open", p(&out), "--out", p(&dest)],
        &[],
        &[("Passphrase of the Nexus backup:", secret)],
    );
    assert_eq!(code, 0, "{shown}");
    assert!(dest.join("keys/root.key").exists());
}
