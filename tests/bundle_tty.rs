//! The passphrase prompt of `bundle create --nexus-backup` (asked twice, no
//! echo) and of `bundle open`, on a real pseudo-terminal from `script`
//! (util-linux). Skipped, visibly, where `script` is missing.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{run, testdata};

fn have_script() -> bool {
    let ok = Command::new("script")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("\n*** SKIPPED: `script` (util-linux) is not installed; no terminal to test the prompt on ***\n");
    }
    ok
}

/// Runs the binary with `args` on a terminal, typing each answer after its
/// prompt shows. Returns the exit status and everything the terminal showed.
fn on_terminal(args: &[&str], answers: &[(&str, &str)]) -> (i32, String) {
    let bin = assert_cmd::cargo::cargo_bin("keyceremony");
    let cmd = format!("{} {}", bin.display(), args.join(" "));
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let shown = Arc::new(Mutex::new(String::new()));
    let mut out = child.stdout.take().unwrap();
    let sink = Arc::clone(&shown);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut seen_upto = 0;
    for (prompt, answer) in answers {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = shown.lock().unwrap().clone();
            if let Some(i) = text[seen_upto..].find(prompt) {
                seen_upto += i + prompt.len();
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no prompt {prompt:?} in {text:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(200)); // echo goes off after the prompt
        writeln!(stdin, "{answer}").unwrap();
        stdin.flush().unwrap();
    }
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    let text = shown.lock().unwrap().clone();
    (status.code().unwrap_or(-1), text)
}

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

    // Two different answers: refused, nothing written.
    let (code, shown) = on_terminal(
        &create,
        &[
            ("Passphrase for the Nexus backup:", secret),
            ("The same passphrase again:", "something else"),
        ],
    );
    assert_eq!(code, 2, "{shown}");
    assert!(shown.contains("differ"), "{shown}");
    assert!(!out.exists());

    let (code, shown) = on_terminal(
        &create,
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
    let (code, shown) = on_terminal(
        &["bundle", "open", p(&out), "--out", p(&dest)],
        &[("Passphrase of the Nexus backup:", secret)],
    );
    assert_eq!(code, 0, "{shown}");
    assert!(dest.join("keys/root.key").exists());
}
