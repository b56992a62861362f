//! The interactive PIN path: the PIN is read from the terminal without
//! echo (rpassword), and the last try is only spent after a "y". Runs the
//! binary under `script` to give it a terminal; skipped where `script`
//! (util-linux) is missing.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

fn script_available() -> bool {
    Command::new("script")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Runs `keyceremony <args>` on a pseudo-terminal; each answer is typed
/// once its prompt has appeared (so the program waits, with echo off).
fn on_terminal(tokens: &std::path::Path, args: &str, answers: &[(&str, &str)]) -> (i32, String) {
    use std::io::Read;
    use std::sync::{Arc, Mutex};
    let bin = assert_cmd::cargo::cargo_bin("keyceremony");
    let cmd = format!("{} {args}", bin.display());
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("KEYCEREMONY_TEST_TOKENS", tokens)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let seen = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = Arc::clone(&seen);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    for (prompt, answer) in answers {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !seen.lock().unwrap().contains(prompt) {
            assert!(
                std::time::Instant::now() < deadline,
                "no prompt {prompt:?}: {}",
                seen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // A moment for the program to turn echo off after printing.
        std::thread::sleep(Duration::from_millis(200));
        let _ = writeln!(stdin, "{answer}");
        let _ = stdin.flush();
    }
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    let out = seen.lock().unwrap().clone();
    (status.code().unwrap_or(-1), out)
}

#[test]
fn pin_typed_on_the_terminal_and_last_try_confirmed() {
    if !script_available() {
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tokens = tmp.path().join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let state = tokens.join("token-20260001.json");
    std::fs::copy(
        common::testdata("sealed/tokens/token-20260001.json"),
        &state,
    )
    .unwrap();
    let sealed = common::testdata("sealed/shard-1.age");
    let args = format!("verify {}", sealed.display());

    let (code, out) = on_terminal(&tokens, &args, &[("PIN for", "123456")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("PIN for TEST TOKEN 20260001"), "{out}");
    assert!(!out.contains("123456"), "the PIN was echoed: {out}");

    // One try left: "n" leaves the try unspent, "y" spends it.
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    v["pin_tries_left"] = 1.into();
    std::fs::write(&state, v.to_string()).unwrap();
    let (code, out) = on_terminal(&tokens, &args, &[("[y/N]", "n")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("only ONE PIN try left"), "{out}");
    let (code, out) = on_terminal(&tokens, &args, &[("[y/N]", "y"), ("PIN for", "123456")]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(v["pin_tries_left"], 3, "a right PIN restores the counter");
}
